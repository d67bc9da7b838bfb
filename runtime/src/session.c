/* SPDX-License-Identifier: MIT */
/*
 * session.c - one FUSE connection: its options, its channel on a loop, and the order in
 * which it ends (stop reading, let in-flight requests reply, destroy, unmount, close the
 * device). Mounting is mount.c's; requests are dispatch.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

#define RF_DEFAULT_MAX_WRITE (1u << 20)
#define RF_GRACE_MS 5000

static uint32_t kernel_max_pages(void)
{
	FILE *f = fopen("/proc/sys/fs/fuse/max_pages_limit", "re");
	unsigned int v = 256;

	if (f) {
		if (fscanf(f, "%u", &v) != 1)
			v = 256;
		fclose(f);
	}
	return v ? v : 256;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Copy the option strings into one allocation owned by the session. */
static int copy_opts(struct rf_session *se, const struct rf_opts *in)
{
	const char **strs[] = { &se->opts.mountpoint, &se->opts.fsname, &se->opts.subtype,
				&se->opts.fs_opts };
	size_t total = 0, i;
	char *p;

	se->opts = *in;
	se->opts._owned = NULL;
	for (i = 0; i < RF_ARRAY_SIZE(strs); i++)
		if (*strs[i])
			total += strlen(*strs[i]) + 1;
	se->opts_store = p = malloc(total + 1);
	if (!p)
		return -ENOMEM;
	for (i = 0; i < RF_ARRAY_SIZE(strs); i++) {
		if (*strs[i]) {
			size_t n = strlen(*strs[i]) + 1;
			memcpy(p, *strs[i], n);
			*strs[i] = p;
			p += n;
		}
	}
	return 0;
}

int rf_session_new(const struct rf_ops *ops, size_t ops_size, void *userdata,
		   const struct rf_opts *opts, struct rf_session **out)
{
	struct rf_opts defaults;
	struct rf_session *se;
	uint32_t max_write, limit;
	int ret;

	if (!ops || !out)
		return -EINVAL;
	if (!opts) {
		rf_opts_init(&defaults);
		opts = &defaults;
	}
	se = calloc(1, sizeof(*se));
	if (!se)
		return -ENOMEM;
	memcpy(&se->ops, ops, RF_MIN(ops_size, sizeof(se->ops)));
	se->userdata = userdata;
	ret = copy_opts(se, opts);
	if (ret < 0) {
		free(se);
		return ret;
	}
	se->fd = -1;
	se->fusermount_sock = -1;
	pthread_mutex_init(&se->notify_lock, NULL);
	ret = rf__order_init(se);
	if (ret < 0) {
		free(se->opts_store);
		free(se);
		return ret;
	}
	se->debug = se->opts.debug;
	if (se->opts.queue_depth < 2)
		se->opts.queue_depth = 64;
	if (se->opts.threads < 1)
		se->opts.threads = 1;
	if (se->opts.grace_ms == 0)
		se->opts.grace_ms = RF_GRACE_MS;

	/* Sizes are fixed before INIT, since the first read already needs its buffer. */
	max_write = se->opts.max_write ? se->opts.max_write : RF_DEFAULT_MAX_WRITE;
	limit = kernel_max_pages() * 4096u;
	if (max_write > limit)
		max_write = limit;
	if (max_write < 4096)
		max_write = 4096;
	se->opts.max_write = max_write;
	/* Room for a WRITE of max_write, and behind a READ request its whole reply. */
	se->bufsize = (uint32_t)RF_ALIGN(RF_MAX((size_t)FUSE_MIN_READ_BUFFER,
						sizeof(struct fuse_in_header) +
						sizeof(struct fuse_write_in) + max_write) + 4096,
					 4096);
	*out = se;
	return 0;
}

int rf_session_set_fd(struct rf_session *se, int fd)
{
	int type = 0;
	socklen_t len = sizeof(type);

	if (fd < 0 || se->fd >= 0)
		return -EINVAL;
	se->fd = fd;
	se->fd_is_sock = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
	return 0;
}

int rf_session_fd(const struct rf_session *se)
{
	return se->fd;
}

void *rf_session_userdata(const struct rf_session *se)
{
	return se->userdata;
}

/* Add channel @ch of @se, reading @fd, to @loop and start reading. */
static int chan_add(struct rf_session *se, struct rf_chan *ch, struct rf_loop *loop, int fd,
		    bool owns_fd)
{
	int ret = rf__chan_init(ch, se, loop, fd, owns_fd);

	if (ret < 0)
		return ret;
	ch->next = loop->chans;
	loop->chans = ch;
	loop->nr_chans_live++;
	atomic_fetch_add(&se->chans_live, 1);
	rf__chan_start(ch);
	return 0;
}

int rf_session_attach(struct rf_session *se, struct rf_loop *loop)
{
	int ret;

	if (se->fd < 0)
		return -EBADF;
	if (se->loop)
		return -EBUSY;
	ret = chan_add(se, &se->chan, loop, se->fd, false);
	if (ret < 0)
		return ret;
	se->loop = loop;
	return 0;
}

void rf_session_exit(struct rf_session *se)
{
	int i;

	atomic_store(&se->exit_requested, 1);
	if (se->loop)
		rf__loop_wake(se->loop);
	for (i = 0; i < se->nr_extra; i++)
		if (se->extra[i].loop)
			rf__loop_wake(se->extra[i].loop);
}

int rf_session_ended(const struct rf_session *se)
{
	return se->ended;
}

/*
 * Give the filesystem the RELEASEs the kernel will never send now (the connection ended
 * with files still open: abort, lazy unmount, or we stopped reading), through the normal
 * dispatch path with the replies dropped, so its release handlers close their files in
 * order. Bounded: the loop is pumped at most @ms for asynchronous releases.
 */
static void release_leftovers(struct rf_session *se, struct rf_chan *ch, int ms)
{
	struct rf_teardown_release rel[64];
	uint64_t deadline = mono_ms() + (uint64_t)ms;
	int n, i, rounds = 0;

	ch->ended = true;      /* nothing goes to the kernel any more */
	while ((n = rf__order_teardown_releases(se, rel, RF_ARRAY_SIZE(rel))) > 0) {
		for (i = 0; i < n; i++) {
			struct rf_req *req = rf__chan_take_slot(ch);
			struct {
				struct fuse_in_header in;
				struct fuse_release_in rin;
			} msg;

			while (!req && mono_ms() < deadline) {
				rf_loop_run_once(ch->loop, 10);
				req = rf__chan_take_slot(ch);
			}
			if (!req)
				goto out;
			memset(&msg, 0, sizeof(msg));
			msg.in.len = sizeof(msg);
			msg.in.opcode = rel[i].dir ? FUSE_RELEASEDIR : FUSE_RELEASE;
			msg.in.nodeid = rel[i].nodeid;
			msg.rin.fh = rel[i].fh;
			memcpy(req->buf, &msg, sizeof(msg));
			req->in_len = sizeof(msg);
			req->state = RF_REQ_HANDLER;
			if (se->debug)
				rf__info("teardown: releasing fh %llu the kernel left open",
					 (unsigned long long)rel[i].fh);
			rf__dispatch(req);
		}
		if (++rounds > 1000 || mono_ms() >= deadline)
			break;
	}
out:
	while (ch->busy && mono_ms() < deadline)
		rf_loop_run_once(ch->loop, 10);
	if (n > 0)
		rf__warn("teardown: gave up releasing %d open handle(s)", n);
}

/*
 * FUSE-over-io_uring: the queue commands we registered stay in the kernel until the
 * connection ends, and each pins the device file, so closing our fd ends nothing. When we
 * stop on our own (signal, rf_session_exit) and the mount is busy, our unmount is only a
 * detach: the connection would live on until the ring is retired, its commands never
 * reaped (the loop waits for them in vain, and the kernel may still copy a request into
 * entry buffers we are about to unmap). So abort it first, as closing /dev/fuse does in
 * /dev/fuse mode: umount -f aborts the connection even when the mount stays busy, and every
 * command then completes with -ENOTCONN. Only for mount(2) mounts: fusermount3 cannot force.
 */
/* The fuse connection number of our mount: the minor of its st_dev, from mountinfo (a
 * stat of the mount point would ask this very server). 0 if not found. */
static unsigned int conn_number(const struct rf_session *se)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096], mnt[4096];
	unsigned int major, minor, found = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &major, &minor, mnt) == 3 &&
		    !strcmp(mnt, se->mountpoint) && strstr(line, " - fuse"))
			found = minor;   /* the last one: mounts stack */
	}
	fclose(f);
	return found;
}

static void abort_queues(struct rf_session *se)
{
	char path[96];
	unsigned int n;
	int fd;

	/* Not when the kernel ended the connection (unmount, abort): nothing to abort, and
	 * the mount point may be someone else's by now. */
	if (!se->uq || !se->mounted || se->chan.ended)
		return;
	if (!se->fusermount) {
		if (umount2(se->mountpoint, MNT_FORCE | UMOUNT_NOFOLLOW) == 0)
			se->mounted = false;    /* it was not busy after all: it is gone */
		return;
	}
	/* fusermount3 cannot force: abort through the fuse control filesystem if we may
	 * (root with fusectl mounted). Otherwise the ring's exit cancels the commands. */
	n = conn_number(se);
	snprintf(path, sizeof(path), "/sys/fs/fuse/connections/%u/abort", n);
	if (n && (fd = open(path, O_WRONLY | O_CLOEXEC)) >= 0) {
		if (write(fd, "1", 1) < 0)
			rf__warn("abort through %s: %s", path, strerror(errno));
		close(fd);
	}
}

/* The last step of every ending: destroy, unmount, close. */
static void session_finish(struct rf_session *se)
{
	if (se->initialized && !se->destroyed && se->ops.destroy) {
		se->destroyed = true;
		se->ops.destroy(se->userdata);
	}
	se->destroyed = true;
	se->ended = true;
	if (se->mounted)
		rf__unmount(se);
	/* Closing the last device fd aborts the connection: callers still waiting get
	 * ENOTCONN instead of hanging on a server that is gone. */
	if (se->fd >= 0) {
		close(se->fd);
		se->fd = -1;
	}
}

/* Wake the loop now and then while a channel drains, so the grace period is checked
 * even when nothing completes. */
static void drain_tick(struct rf_loop *loop, void *data)
{
}

/* Loop thread: a stopping or ended channel that still has requests in service. */
static bool chan_drained(struct rf_session *se, struct rf_chan *ch)
{
	uint64_t waited = mono_ms() - ch->stop_ms;
	uint32_t grace = se->opts.grace_ms;
	uint32_t i;

	if (rf__chan_idle(ch))
		return true;
	if (waited >= grace && !ch->cancelled) {
		/* Past the grace period: cancel backing I/O and answer what is parked (but
		 * never a RELEASE: it must still run, once the I/O before it is gone). */
		ch->cancelled = true;
		rf__warn("teardown: %u request(s) still in service after %u ms; cancelling",
			 ch->busy, grace);
		for (i = 0; i < ch->nr_slots; i++) {
			struct rf_req *r = &ch->slots[i];
			uint32_t op = r->in.opcode;

			if (r->state < RF_REQ_PARKED)
				continue;
			if (op == FUSE_RELEASE || op == FUSE_RELEASEDIR)
				continue;
			atomic_store(&r->interrupted, 1);
			rf__req_interrupt(r);
		}
	}
	if (waited >= (uint64_t)grace + 1000) {
		for (i = 0; i < ch->nr_slots; i++) {
			struct rf_req *r = &ch->slots[i];

			if (r->state >= RF_REQ_PARKED)
				rf__warn("teardown: abandoned %s unique %llu (state %d, %u backing)",
					 rf__opname(r->in.opcode), (unsigned long long)r->in.unique,
					 r->state, r->nbacking);
		}
		return true;
	}
	rf_timer_start(ch->loop, &ch->tick, 100, drain_tick, ch);
	return false;
}

void rf__loop_sessions_poll(struct rf_loop *loop)
{
	struct rf_chan *ch;

	for (ch = loop->chans; ch; ch = ch->next) {
		struct rf_session *se = ch->se;

		rf__order_run_deferred(se);
		if (ch->finished)
			continue;
		if (atomic_load(&se->exit_requested) && !ch->stopping) {
			rf__chan_stop(ch);
			ch->stop_ms = mono_ms();
		}
		if (ch->ended && !ch->stop_ms)
			ch->stop_ms = mono_ms();
		if (!ch->stopping && !ch->ended)
			continue;
		if (!chan_drained(se, ch))
			continue;
		if (ch == &se->chan && atomic_load(&se->chans_live) > 1) {
			/* The first channel ends the session, so it ends last: the extra
			 * loops drain on their own threads meanwhile. */
			rf_timer_start(loop, &ch->tick, 10, drain_tick, ch);
			continue;
		}
		rf_timer_cancel(&ch->tick);
		rf__order_flush_interrupts(se, loop);
		/* What this channel queued last (on a kernel queue, the COMMIT_AND_FETCH that
		 * carries a reply) goes to the kernel now: once chans_live says so, the first
		 * channel may close the device fd those SQEs name. */
		io_uring_submit(&loop->ring);
		ch->finished = true;
		loop->nr_chans_live--;
		atomic_fetch_sub(&se->chans_live, 1);
		if (ch == &se->chan) {
			/* The connection ends (if we are the ones ending it), what the kernel
			 * left open is released, what it still remembers is forgotten, then
			 * destroy, unmount, close. */
			abort_queues(se);
			release_leftovers(se, ch, 1000);
			rf__order_run_deferred(se);
			rf__order_teardown_forgets(se);
			session_finish(se);
		}
	}
}

static void loop_detach(struct rf_loop *loop, struct rf_chan *ch)
{
	struct rf_chan **pp;

	if (!loop)
		return;
	for (pp = &loop->chans; *pp; pp = &(*pp)->next) {
		if (*pp == ch) {
			*pp = ch->next;
			break;
		}
	}
	if (!ch->finished) {
		loop->nr_chans_live--;
		atomic_fetch_sub(&ch->se->chans_live, 1);
	}
	rf_timer_cancel(&ch->tick);
	rf__chan_destroy(ch);
}

int rf_session_unmount(struct rf_session *se)
{
	return se->mounted ? rf__unmount(se) : 0;
}

/* ---- extra loop threads ------------------------------------------------------------------- */

/* A /dev/fuse fd of its own for an extra loop: replies must go to the fd a request came
 * from, and each clone has its own processing queue (kernel-abi.md 3.4). */
static int clone_dev_fd(int main_fd)
{
	uint32_t src = (uint32_t)main_fd;
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, FUSE_DEV_IOC_CLONE, &src) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

static void *extra_main(void *arg)
{
	struct rf_extra *x = arg;
	int ret = rf_loop_run(x->loop);

	if (ret < 0)
		rf__err("loop thread: %s", strerror(-ret));
	/* Everything this loop submitted is reaped here, in its own thread. */
	rf__chan_stop(&x->chan);
	rf__loop_drain(x->loop, 2000);
	return NULL;
}

static int start_extras(struct rf_session *se)
{
	int i, n = se->opts.threads - 1, ret;

	if (n <= 0)
		return 0;
	if (se->fd_is_sock) {
		rf__warn("threads=%d ignored: a socket channel cannot be cloned", n + 1);
		return 0;
	}
	se->extra = calloc((size_t)n, sizeof(*se->extra));
	if (!se->extra)
		return -ENOMEM;
	/* Every loop and channel exists before any thread starts: INIT may be read by any
	 * of them (clones share the connection), and it sizes the queues for all loops. */
	for (i = 0; i < n; i++) {
		struct rf_extra *x = &se->extra[i];
		int fd = clone_dev_fd(se->fd);

		if (fd < 0) {
			rf__warn("extra loop thread: cannot clone /dev/fuse: %s", strerror(-fd));
			return fd;
		}
		ret = rf_loop_new(&x->loop);
		if (ret < 0) {
			close(fd);
			return ret;
		}
		se->nr_extra++;
		ret = chan_add(se, &x->chan, x->loop, fd, true);
		if (ret < 0) {
			close(fd);
			return ret;
		}
	}
	for (i = 0; i < n; i++) {
		struct rf_extra *x = &se->extra[i];

		/* Signals stay blocked here (inherited): the first loop's signalfd gets them. */
		ret = pthread_create(&x->th, NULL, extra_main, x);
		if (ret)
			return -ret;
		x->started = true;
	}
	return 0;
}

static void stop_extras(struct rf_session *se)
{
	int i;

	if (se->nr_extra)
		rf_session_exit(se);
	for (i = 0; i < se->nr_extra; i++) {
		struct rf_extra *x = &se->extra[i];

		if (x->started)
			pthread_join(x->th, NULL);
		loop_detach(x->loop, &x->chan);
		rf__uring_detach(se, x->loop);
		rf_loop_free(x->loop);
		x->loop = NULL;
	}
	free(se->extra);
	se->extra = NULL;
	se->nr_extra = 0;
}

/*
 * Take the session off its first loop: stop reading, reap what is in flight on the ring
 * (it points into our slots) for at most @drain_ms, unlink our channels. The loop stays
 * usable (an embedding application may go on with it).
 */
static void detach_first_loop(struct rf_session *se, int drain_ms)
{
	struct rf_loop *loop = se->loop;

	rf__chan_stop(&se->chan);
	rf__loop_drain(loop, drain_ms);
	loop->closing = false;
	loop_detach(loop, &se->chan);
	rf__uring_detach(se, loop);
	se->loop = NULL;
}

void rf_session_free(struct rf_session *se)
{
	if (!se)
		return;
	stop_extras(se);
	if (se->loop)
		detach_first_loop(se, 1000);
	/* An embedding application frees its loop after the session: if queue commands
	 * may still be pending there, keep their buffers (a bounded leak beats a kernel
	 * write into freed memory). */
	if (se->uq && se->chans_live == 0)
		rf__uring_destroy(se);
	if (se->mounted)
		rf__unmount(se);
	if (se->fd >= 0)
		close(se->fd);
	if (se->fusermount_sock >= 0)
		close(se->fusermount_sock);
	rf__notify_free(se);
	rf__order_free(se);
	pthread_mutex_destroy(&se->notify_lock);
	free(se->mountpoint);
	free(se->opts_store);
	free(se);
}

int rf_session_run(struct rf_session *se)
{
	struct rf_loop *loop;
	int ret;

	ret = rf_loop_new(&loop);
	if (ret < 0)
		return ret;
	ret = rf_loop_handle_signals(loop);
	if (ret < 0)
		rf__warn("signals will not end the session: %s", strerror(-ret));
	ret = rf_session_attach(se, loop);
	if (ret == 0)
		ret = start_extras(se);
	if (ret == 0)
		ret = rf_loop_run(loop);
	else
		rf_session_exit(se);
	/* The other loops end too (they saw the same unmount, or are told to), and only
	 * then is the ring retired: every completion reaped, nothing left to the kernel. */
	stop_extras(se);
	detach_first_loop(se, 2000);
	/* Ring exit reaps (or cancels) every queue command; only then may the entries'
	 * buffers go. */
	rf_loop_free(loop);
	rf__uring_destroy(se);
	return ret;
}
