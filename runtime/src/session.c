/* SPDX-License-Identifier: MIT */
/*
 * session.c - one FUSE connection put together: its options and sizes, the calls that go
 * up the layers (struct rf_upcalls), its channels on the loops (the first loop's, one per
 * extra loop thread with a cloned fd, the kernel's queues once INIT took them), and its
 * run. How it ends is teardown.c's; mounting is mount.c's; requests are dispatch.c's.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
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

static const struct rf_upcalls upcalls = {
	.received = rf__dispatch,
	.sent = rf__req_sent,
	.leave = rf__order_leave,
	.resume = rf__dispatch_resume,
};

/* A handled signal ends every session on the loop; SIGUSR1 logs their statistics (from
 * the session's first channel only, once per session). */
static void on_signal(struct rf_loop *loop, struct rf_loop_hook *h, int signo)
{
	struct rf_chan *ch = rf_container_of(h, struct rf_chan, hook);
	struct rf_stats st;
	char buf[16384];

	if (signo != SIGUSR1) {
		rf_session_exit(ch->se);
		return;
	}
	if (ch != &ch->se->chan || rf_session_stats(ch->se, &st) < 0)
		return;
	if (rf_stats_json(&st, buf, sizeof(buf)) >= (int)sizeof(buf))
		rf__warn("stats: (cut to %zu bytes)", sizeof(buf));
	rf__warn("stats: %s", buf);
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
	rf__inline_init();               /* the fd table of the inline policy, sized once */
	if (!opts) {
		rf_opts_init(&defaults);
		opts = &defaults;
	}
	se = calloc(1, sizeof(*se));
	if (!se)
		return -ENOMEM;
	memcpy(&se->ops, ops, RF_MIN(ops_size, sizeof(se->ops)));
	se->userdata = userdata;
	se->up = &upcalls;
	se->tp = &rf__transport_dev;
	/* Every channel of the session gets these (rf__chan_init copies them). */
	se->chan.hook.round = rf__teardown_round;
	se->chan.hook.signal = on_signal;
	ret = copy_opts(se, opts);
	if (ret < 0) {
		free(se);
		return ret;
	}
	se->fd = -1;
	se->fusermount_sock = -1;
	pthread_mutex_init(&se->notify_lock, NULL);
	ret = rf__order_init(se);
	if (ret == 0)
		ret = rf__lookup_init(se);
	if (ret < 0) {
		rf__order_free(se);
		free(se->opts_store);
		free(se);
		return ret;
	}
	se->debug = se->opts.debug;
	if (se->opts.queue_depth < 2)
		se->opts.queue_depth = 64;
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
	/* Room for a WRITE of max_write, and behind a READ request its whole reply; the last
	 * RF_REPLY_ROOM bytes are never read into (transport.h). */
	se->bufsize = (uint32_t)RF_ALIGN(RF_MAX((size_t)FUSE_MIN_READ_BUFFER,
						sizeof(struct fuse_in_header) +
						sizeof(struct fuse_write_in) + max_write) + RF_REPLY_ROOM,
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
	/* A socket is a test playing the kernel; anything else is served as /dev/fuse. */
	se->tp = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 ? &rf__transport_sock :
									&rf__transport_dev;
	return 0;
}

/* Add channel @ch of @se, reading @fd, to @loop and start reading. */
static int chan_add(struct rf_session *se, struct rf_chan *ch, struct rf_loop *loop, int fd,
		    bool owns_fd)
{
	int ret = rf__chan_init(ch, se->tp, se, loop, fd, owns_fd);

	if (ret < 0)
		return ret;
	rf__loop_hook_add(loop, &ch->hook);
	atomic_fetch_add(&se->chans_live, 1);
	ch->ops->start(ch);
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
	if (se->opts.poll_us)
		rf_loop_set_busy_poll(loop, se->opts.poll_us);
	return 0;
}

int rf_session_unmount(struct rf_session *se)
{
	return se->mounted ? rf__unmount(se) : 0;
}

/* ---- extra loop threads ------------------------------------------------------------------- */

/* A /dev/fuse fd of its own for an extra loop: replies must go to the fd a request came
 * from, and each clone has its own processing queue (docs/kernel-notes.md §2.6). */
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
	/* Everything this loop submitted is reaped here, in its own thread. A kernel queue's
	 * commands end only when the first channel, the last to finish, aborts the
	 * connection: after its requests in service (grace_ms, then 1 s). A fixed 2 s here
	 * gave up on them whenever a request outlived it (a slow READ at SIGTERM). */
	if (x->chan.ops)
		x->chan.ops->stop(&x->chan);
	rf__loop_drain_after(x->loop, &x->se->chans_live,
			     (uint32_t)RF_MIN((uint64_t)x->se->opts.grace_ms + 1000, UINT32_MAX),
			     2000);
	return NULL;
}

/*
 * How many loops, and whether each is pinned. The kernel makes one FUSE-over-io_uring
 * queue per CPU and puts a request on the queue of the CPU its caller runs on; queues fold
 * onto loops (queue i on loop i mod N). With one loop per queue, pinned to that queue's
 * CPU, a request is served on the CPU that sent it: no cross-CPU wake-up, the caller's
 * data warm in that CPU's cache, and loops never contend for one CPU (bench/README.md,
 * "One loop per kernel queue"). Not when the process may not run on every queue's CPU
 * (taskset, a cpuset): whoever placed us decided, so one loop and no pinning.
 */
static void plan_loops(struct rf_session *se)
{
	cpu_set_t mask;
	bool all = sched_getaffinity(0, sizeof(mask), &mask) == 0;
	int nq = 0, i;

	se->pin_loops = false;
	if (se->tp->kernel && se->opts.transport != RF_TRANSPORT_DEV && rf__uring_enabled())
		nq = rf__uring_nr_queues();
	if (se->blocking) {
		/* One request per loop: as many loops as handlers may run at once, at least
		 * one per kernel queue, plus the first for /dev/fuse alone; unpinned (more
		 * loops than CPUs, each mostly asleep in its handler or the kernel). */
		se->kq_on_extras = nq >= 1;
		se->opts.threads = se->kq_on_extras ? RF_MAX(se->blocking_threads, nq) + 1 :
						      se->blocking_threads;
		return;
	}
	if (nq < 2 || nq > CPU_SETSIZE) {
		if (se->opts.threads < 1)
			se->opts.threads = 1;
		return;
	}
	for (i = 0; i < nq && all; i++)
		all = CPU_ISSET(i, &mask);
	if (se->opts.threads < 1)
		se->opts.threads = all ? nq : 1;
	se->pin_loops = all && !se->opts.no_pin && se->opts.threads == nq;
}

/* Loop @i (0: the first, rf_session_run's) serves queue i: run it on CPU i. */
static int pin_to(pthread_attr_t *attr, int cpu)
{
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	return attr ? pthread_attr_setaffinity_np(attr, sizeof(one), &one) :
		      (sched_setaffinity(0, sizeof(one), &one) < 0 ? errno : 0);
}

static int start_extras(struct rf_session *se)
{
	int i, n, ret;

	plan_loops(se);
	n = se->opts.threads - 1;
	if (n <= 0)
		return 0;
	if (!se->tp->kernel) {
		rf__warn("threads=%d ignored: a %s channel cannot be cloned", n + 1, se->tp->name);
		return 0;
	}
	se->extra = calloc((size_t)n, sizeof(*se->extra));
	if (!se->extra)
		return -ENOMEM;
	/* Every loop and channel exists before any thread starts: INIT may be read by any
	 * of them (clones share the connection), and it sizes the queues for all loops. */
	for (i = 0; i < n; i++) {
		struct rf_extra *x = &se->extra[i];
		int fd;

		x->se = se;
		if (se->kq_on_extras) {
			/* Kernel queues only, from INIT on: a read of /dev/fuse here could take
			 * an INTERRUPT (or a FORGET) while this loop is in a blocking handler,
			 * and hold it there. */
			ret = rf_loop_new(&x->loop);
			if (ret < 0)
				return ret;
			if (se->opts.poll_us)
				rf_loop_set_busy_poll(x->loop, se->opts.poll_us);
			se->nr_extra++;
			continue;
		}
		fd = clone_dev_fd(se->fd);
		if (fd < 0) {
			rf__warn("extra loop thread: cannot clone /dev/fuse: %s", strerror(-fd));
			return fd;
		}
		ret = rf_loop_new(&x->loop);
		if (ret == 0 && se->opts.poll_us)
			rf_loop_set_busy_poll(x->loop, se->opts.poll_us);
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
	/* The first loop is the caller's to run once these threads are started
	 * (rf_session_run, fuse_session_loop_mt, an application after rf_session_start_loops),
	 * and INIT may reach an extra loop before its first round: what that loop then does on
	 * the first one (register a kernel queue there) must be posted to it, not done on its
	 * ring and hook list from here while its own thread starts using them. */
	rf__loop_reserve(se->loop);
	for (i = 0; i < n; i++) {
		struct rf_extra *x = &se->extra[i];
		pthread_attr_t attr;

		pthread_attr_init(&attr);
		if (se->pin_loops && (ret = pin_to(&attr, i + 1)) != 0)
			rf__warn("loop %d: cannot pin to CPU %d: %s", i + 1, i + 1, strerror(ret));
		/* Signals stay blocked here (inherited): the first loop's signalfd gets them. */
		rf__loop_reserve(x->loop);
		ret = pthread_create(&x->th, &attr, extra_main, x);
		pthread_attr_destroy(&attr);
		if (ret)
			return -ret;
		x->started = true;
	}
	return 0;
}

/* A loop without a channel of its own ends when its queue channels have (its hooks), or
 * here if it never got any (the kernel's queues were not granted). */
static void stop_if_no_queue(struct rf_loop *loop, void *data)
{
	(void)data;
	if (loop->nr_live == 0)
		rf_loop_stop(loop);
}

/* Wait out the walks of extra[] that may have seen what stop_extras just unpublished
 * (rf__extra_begin): a few instructions each. */
static void extra_quiesce(struct rf_session *se)
{
	while (atomic_load(&se->extra_walkers))
		sched_yield();
}

static void stop_extras(struct rf_session *se)
{
	struct rf_extra *ex;
	struct rf_loop *loop;
	int i;

	if (se->nr_extra)
		rf_session_exit(se);
	for (i = 0; i < se->nr_extra; i++) {
		struct rf_extra *x = &se->extra[i];

		if (x->started && !x->chan.ops && rf_loop_post(x->loop, stop_if_no_queue, NULL) < 0)
			rf_loop_stop(x->loop);
		if (x->started)
			pthread_join(x->th, NULL);
		/* A worker call the drain gave up on still writes into its request's slot:
		 * let it end before the slots go. */
		rf__loop_workers_stop(x->loop);
		if (x->chan.ops)
			rf__teardown_detach(x->loop, &x->chan);
		rf__uring_detach(se, x->loop);
		loop = x->loop;
		__atomic_store_n(&x->loop, NULL, __ATOMIC_SEQ_CST);
		extra_quiesce(se);
		rf_loop_free(loop);
	}
	ex = se->extra;
	__atomic_store_n(&se->nr_extra, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&se->extra, NULL, __ATOMIC_SEQ_CST);
	extra_quiesce(se);
	free(ex);
}

/*
 * Take the session off its first loop: stop reading, reap what is in flight on the ring
 * (it points into our slots) for at most @drain_ms, unlink our channels. The loop stays
 * usable (an embedding application may go on with it).
 */
static void detach_first_loop(struct rf_session *se, int drain_ms)
{
	struct rf_loop *loop = se->loop;

	se->chan.ops->stop(&se->chan);
	rf__loop_drain(loop, drain_ms);
	rf__loop_workers_stop(loop);    /* its calls write into our slots, as in stop_extras */
	loop->closing = false;
	rf__teardown_detach(loop, &se->chan);
	rf__uring_detach(se, loop);
	se->loop = NULL;
}

void rf_session_free(struct rf_session *se)
{
	if (!se)
		return;
	stop_extras(se);
	if (se->loop && se->up->finish)
		se->up->finish(se);
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
	rf__lookup_free(se);
	pthread_mutex_destroy(&se->notify_lock);
	free(se->mountpoint);
	free(se->opts_store);
	free(se->cuse);
	free(se);
}

int rf_session_set_blocking(struct rf_session *se, int threads)
{
	if (!se || threads < 1)
		return -EINVAL;
	if (se->loop)
		return -EBUSY;
	se->blocking = true;
	se->blocking_threads = threads;
	/* One slot per /dev/fuse channel and one entry per queue channel: a loop asks the
	 * kernel for its next request only once its request is finished. */
	se->opts.queue_depth = 1;
	se->opts.uring_depth = 1;
	return 0;
}

int rf_session_start_loops(struct rf_session *se)
{
	int ret;

	if (!se || !se->loop)
		return -EINVAL;
	if (se->extra)
		return -EBUSY;
	ret = start_extras(se);
	if (ret < 0)
		stop_extras(se);
	return ret;
}

void rf_session_stop_loops(struct rf_session *se)
{
	if (se)
		stop_extras(se);
}

int rf_session_run(struct rf_session *se)
{
	struct rf_loop *loop;
	cpu_set_t saved;
	bool pinned;
	int ret, err;

	ret = rf_loop_new(&loop);
	if (ret < 0)
		return ret;
	ret = rf_loop_handle_signals(loop);
	if (ret < 0)
		rf__warn("signals will not end the session: %s", strerror(-ret));
	ret = rf_session_attach(se, loop);
	if (ret == 0)
		ret = start_extras(se);
	/* The first loop serves queue 0: this thread runs on CPU 0 while it serves, and
	 * gets its own affinity back after (it is the application's). */
	pinned = ret == 0 && se->pin_loops && sched_getaffinity(0, sizeof(saved), &saved) == 0;
	if (pinned && (err = pin_to(NULL, 0)) != 0) {
		rf__warn("loop 0: cannot pin to CPU 0: %s", strerror(err));
		pinned = false;
	}
	if (ret == 0) {
		rf__info("loops: %d%s", se->opts.threads,
			 se->pin_loops ? ", loop i pinned to CPU i (one per kernel queue)" : "");
		ret = rf_loop_run(loop);
	} else {
		rf_session_exit(se);
	}
	if (pinned)
		sched_setaffinity(0, sizeof(saved), &saved);
	/* The other loops end too (they saw the same unmount, or are told to), and only
	 * then is the ring retired: every completion reaped, nothing left to the kernel. */
	stop_extras(se);
	detach_first_loop(se, 2000);
	/* Ring exit reaps (or cancels) every queue command; only then may the entries'
	 * buffers go. */
	rf_loop_free(loop);
	rf__uring_destroy(se);
	/* An abort ends the loop as an unmount would; the caller must still learn that the
	 * file system was cut off (mount.c logged it). */
	if (ret == 0 && se->aborted)
		ret = -ECONNABORTED;
	return ret;
}
