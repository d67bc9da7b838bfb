/* SPDX-License-Identifier: MIT */
/*
 * custom.c - custom loops: the application's thread reads each request from the device
 * (rf_session_receive) and hands it back for dispatch (rf_session_process), as libfuse's
 * fuse_session_receive_buf/fuse_session_process_buf let pyfuse3 and others drive a
 * session from their own event loop. The session is attached to a loop that does no
 * reads (transport_manual.c); the application's thread runs that loop's rounds here, for
 * what the runtime defers to it: requests resumed by the ordering chains, posts from
 * other threads, teardown. Replies are written by the thread that makes them.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

int rf_session_attach_manual(struct rf_session *se, struct rf_loop *loop)
{
	if (!se || !loop)
		return -EINVAL;
	if (se->fd < 0)
		return -EBADF;
	if (se->loop)
		return -EBUSY;
	/* The channel is made by rf_session_attach from the session's transport. */
	se->tp = &rf__transport_manual;
	return rf_session_attach(se, loop);
}

size_t rf_session_bufsize(const struct rf_session *se)
{
	return se->bufsize;
}

static bool is_manual(const struct rf_session *se)
{
	return se->loop && se->chan.ops == &rf__transport_manual;
}

/* Run the loop's ready work (posts, completions, timers, teardown), without waiting. */
static void run_ready(struct rf_session *se)
{
	struct rf_chan *ch = &se->chan;
	bool was = ch->driving;
	int i;

	ch->driving = true;
	for (i = 0; i < 64 && rf_loop_run_once(se->loop, 0) > 0; i++)
		;
	ch->driving = was;
}

ssize_t rf_session_receive(struct rf_session *se, void *buf, size_t size)
{
	struct rf_chan *ch;
	struct pollfd p[2];
	ssize_t n;

	if (!se || !buf || !is_manual(se))
		return -EINVAL;
	ch = &se->chan;
	if (size < se->bufsize)
		return -EINVAL;
	for (;;) {
		run_ready(se);
		if (se->ended || ch->ended || ch->finished)
			return 0;
		if (atomic_load(&se->exit_requested))
			return -EINTR;
		/* The device, and the ring, which has a completion when another thread
		 * posts work (a reply to send, a request to resume) or a timer is due. */
		p[0] = (struct pollfd){ .fd = ch->fd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = se->loop->ring.ring_fd, .events = POLLIN };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				return -EINTR;
			return -errno;
		}
		if (p[0].revents & (POLLERR | POLLHUP)) {
			ch->ended = true;
			continue;
		}
		if (!(p[0].revents & POLLIN))
			continue;
		/* As the loop reads (transport_dev.c): rf_session_process needs the room. */
		n = read(ch->fd, buf, se->bufsize - RF_REPLY_ROOM);
		if (n > 0)
			return n;
		if (n == 0 || errno == ENODEV) {
			rf__info("channel: the kernel ended the connection (unmounted)");
			ch->ended = true;
			continue;
		}
		if (errno == EINTR)
			return -EINTR;
		/* ENOENT: the request was interrupted away; EAGAIN: another reader took it. */
		if (errno != ENOENT && errno != EAGAIN) {
			n = -errno;
			rf__err("channel: read failed: %s", strerror(errno));
			ch->ended = true;
			return n;
		}
	}
}

int rf_session_process(struct rf_session *se, const void *msg, size_t len)
{
	struct rf_chan *ch;
	struct rf_req *req;
	bool was;

	if (!se || !msg || !is_manual(se))
		return -EINVAL;
	ch = &se->chan;
	if (len < sizeof(struct fuse_in_header) || len > se->bufsize)
		return -EINVAL;
	if (ch->ended || ch->stopping)
		return -ENOTCONN;
	req = ch->ops->inject(ch, msg, (uint32_t)len);
	if (!req)
		return len > ch->bufsize - RF_REPLY_ROOM ? -E2BIG : -EBUSY;
	was = ch->driving;
	ch->driving = true;
	se->up->received(req);
	ch->driving = was;
	run_ready(se);
	return 0;
}
