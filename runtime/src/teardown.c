/* SPDX-License-Identifier: MIT */
/*
 * teardown.c - how a session ends, whatever the trigger (unmount, DESTROY, a signal, an
 * abort, rf_session_exit): each channel stops taking requests, its requests in service get
 * the grace period and then their backing I/O cancelled, and when the last channel is idle
 * the first one ends the connection: handles the kernel left open are released through the
 * filesystem, every lookup it still holds is forgotten, then destroy, unmount, close. Runs
 * as each channel's loop hook, once per loop round (README, "How a server stops").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
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
	/* After a DESTROY from the kernel the filesystem is gone (destroy is its last call):
	 * rf__dispatch would refuse these, and the handles would stay open for ever. */
	if (se->destroyed)
		return;
	while ((n = rf__order_teardown_releases(se, rel, RF_ARRAY_SIZE(rel))) > 0) {
		for (i = 0; i < n; i++) {
			struct rf_req *req;
			struct {
				struct fuse_in_header in;
				struct fuse_release_in rin;
			} msg;

			memset(&msg, 0, sizeof(msg));
			msg.in.len = sizeof(msg);
			msg.in.opcode = rel[i].dir ? FUSE_RELEASEDIR : FUSE_RELEASE;
			msg.in.nodeid = rel[i].nodeid;
			msg.rin.fh = rel[i].fh;
			req = ch->ops->inject(ch, &msg, sizeof(msg));
			while (!req && mono_ms() < deadline) {
				rf_loop_run_once(ch->loop, 10);
				req = ch->ops->inject(ch, &msg, sizeof(msg));
			}
			if (!req)
				goto out;
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
	 * ENOTCONN instead of hanging on a server that is gone. Another thread may be
	 * writing a notification to se->fd right now (notify.c takes no lock): the number
	 * is pointed at /dev/null instead of closed, so that such a write cannot land in a
	 * file opened meanwhile under the same number; rf_session_free closes it. */
	if (se->fd >= 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (null < 0 || dup3(null, se->fd, O_CLOEXEC) < 0) {
			close(se->fd);
			se->fd = -1;
		}
		if (null >= 0)
			close(null);
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

			if (rf__req_state(r) < RF_REQ_PARKED)
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
			enum rf_req_state st = rf__req_state(r);

			if (st >= RF_REQ_PARKED)
				rf__warn("teardown: abandoned %s unique %llu (state %d, %u backing)",
					 rf__opname(r->in.opcode), (unsigned long long)r->in.unique,
					 st, r->nbacking);
		}
		return true;
	}
	rf_timer_start(ch->loop, &ch->tick, 100, drain_tick, ch);
	return false;
}

void rf__teardown_round(struct rf_loop *loop, struct rf_loop_hook *h)
{
	struct rf_chan *ch = rf_container_of(h, struct rf_chan, hook);
	struct rf_session *se = ch->se;

	if (se->up->round)
		se->up->round(ch);
	else
		rf__order_run_deferred(se);
	if (ch->finished)
		return;
	if ((atomic_load(&se->exit_requested) || atomic_load(&se->conn_gone)) && !ch->stopping) {
		ch->ops->stop(ch);
		if (!ch->stop_ms)
			ch->stop_ms = mono_ms();
	}
	if (ch->ended && !ch->stop_ms) {
		ch->stop_ms = mono_ms();
		/* The device said the connection is over: every channel stops now. A queue
		 * channel whose entry the kernel still holds need not wait for the kernel to
		 * hand it back (it may not: kernel-notes §4.8); its loop's drain waits a
		 * bounded time, and rf__uring_destroy keeps the buffers of what is left. */
		if (ch == &se->chan && se->nr_extra)
			rf__session_conn_gone(se);
	}
	if (!ch->stopping && !ch->ended)
		return;
	if (!chan_drained(se, ch))
		return;
	if (ch == &se->chan && atomic_load(&se->chans_live) > 1) {
		/* The first channel ends the session, so it ends last: the extra loops drain
		 * on their own threads meanwhile. */
		rf_timer_start(loop, &ch->tick, 10, drain_tick, ch);
		return;
	}
	rf_timer_cancel(&ch->tick);
	rf__interrupt_flush(se, loop);
	/* What this channel queued last (on a kernel queue, the COMMIT_AND_FETCH that carries
	 * a reply) goes to the kernel now: once chans_live says so, the first channel may
	 * close the device fd those SQEs name. */
	io_uring_submit(&loop->ring);
	ch->finished = true;
	rf__loop_hook_end(loop, &ch->hook);
	atomic_fetch_sub(&se->chans_live, 1);
	if (ch == &se->chan) {
		/* The connection ends (if we are the ones ending it), what the kernel left
		 * open is released, what it still remembers is forgotten, then destroy,
		 * unmount, close. */
		abort_queues(se);
		release_leftovers(se, ch, 1000);
		rf__order_run_deferred(se);
		rf__lookup_teardown_forgets(se);
		session_finish(se);
	}
}

void rf__teardown_detach(struct rf_loop *loop, struct rf_chan *ch)
{
	if (!loop)
		return;
	if (!ch->finished)
		atomic_fetch_sub(&ch->se->chans_live, 1);
	rf__loop_hook_remove(loop, &ch->hook);
	rf_timer_cancel(&ch->tick);
	if (ch->ops)
		ch->ops->destroy(ch);
}
