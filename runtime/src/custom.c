/* SPDX-License-Identifier: MIT */
/*
 * custom.c - custom loops: the application's thread reads each request from the device
 * (rf_session_receive) and hands it back for dispatch (rf_session_process), as libfuse's
 * fuse_session_receive_buf/fuse_session_process_buf let pyfuse3 and others drive a
 * session from their own event loop. The session is attached to a loop that does no
 * reads (transport_manual.c); the application's thread runs that loop's rounds here, for
 * what the runtime defers to it: posts from other threads, timers, teardown. Replies are
 * written by the thread that makes them.
 *
 * A filesystem handler starts only inside rf_session_process, one per call, for the
 * request it was given: pyfuse3 turns each handler into a coroutine it awaits after
 * process_buf returns, and loses one started anywhere else. So the work the runtime
 * defers (a request the ordering chains resumed, the forgets held back for requests in
 * service) is handed out by rf_session_receive as a message of its own: the resumed
 * request's bytes, or a BATCH_FORGET of unique 0; rf_session_process recognises both
 * and runs them. An application that waits for the fd in its own event loop learns of
 * such work through a nudge (rf__manual_nudge): the device becomes readable.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* The upcalls of a custom loop's session: as the session's own (session.c), but a
 * resumed request waits to be handed out. */
static void hold_resumed(struct rf_req *req);
static void custom_round(struct rf_chan *ch);
static void run_handed_forgets(struct rf_session *se);
static void custom_finish(struct rf_session *se);

static const struct rf_upcalls manual_upcalls = {
	.received = rf__dispatch,
	.sent = rf__req_sent,
	.leave = rf__order_leave,
	.resume = hold_resumed,
	.round = custom_round,
	.finish = custom_finish,
};

int rf_session_attach_manual(struct rf_session *se, struct rf_loop *loop)
{
	int ret;

	if (!se || !loop)
		return -EINVAL;
	if (se->fd < 0)
		return -EBADF;
	if (se->loop)
		return -EBUSY;
	/* The channel is made by rf_session_attach from the session's transport. */
	se->tp = &rf__transport_manual;
	se->up = &manual_upcalls;
	ret = rf_session_attach(se, loop);
	se->chan.held_tail = &se->chan.held;    /* the channel is set up by now */
	return ret;
}

size_t rf_session_bufsize(const struct rf_session *se)
{
	return se->bufsize;
}

static bool is_manual(const struct rf_session *se)
{
	return se->loop && se->chan.ops == &rf__transport_manual;
}

/* On the driving thread (a loop round). While the session ends, nobody will ask for it:
 * it runs now, as on any loop. */
static void hold_resumed(struct rf_req *req)
{
	struct rf_chan *ch = req->ch;

	if (ch->stopping || ch->ended) {
		rf__dispatch_resume(req);
		return;
	}
	req->next = NULL;
	*ch->held_tail = req;
	ch->held_tail = &req->next;
}

/* Requests held for the application wake it (the kernel retrieves only from regular
 * files: the first held request on one does). Forgets held back do not: they need no
 * hurry and go out with the next request the application reads. */
static void nudge_for_held(struct rf_chan *ch)
{
	struct rf_req *r;

	for (r = ch->held; r; r = r->next)
		if (rf__manual_nudge(ch, r->in.nodeid) == 0)
			return;
}

/* At the end: each request of @list runs now, in order. */
static void run_list(struct rf_req **list)
{
	struct rf_req *req;

	while ((req = *list)) {
		*list = req->next;
		req->next = NULL;
		rf__dispatch_resume(req);
	}
}

/* A loop round of a custom loop's session (teardown.c): work to hand out wakes an
 * application that is not inside our calls; at the end, what was held runs. */
static void custom_round(struct rf_chan *ch)
{
	struct rf_session *se = ch->se;

	/* Also the round that is about to stop the channel (teardown.c): with nothing in
	 * service the session finishes in that same round, and the filesystem's destroy
	 * must come after the forgets handed out. */
	if (ch->stopping || ch->ended || atomic_load(&se->exit_requested) ||
	    atomic_load(&se->conn_gone)) {
		run_list(&ch->held);
		ch->held_tail = &ch->held;
		run_list(&ch->handed);
		run_handed_forgets(se);
		rf__order_run_deferred(se);
		return;
	}
	if (!atomic_load(&ch->in_call))
		nudge_for_held(ch);
}

/* rf_session_free (session.c): the application no longer calls us (it stopped after
 * rf_session_exit, as pyfuse3 does, or after the end of the connection with requests
 * still in service), so nobody runs the loop's rounds: the teardown (requests held or
 * handed out, releases, forgets, destroy) runs here, on the caller's thread, as a loop
 * would run it. Bounded by the teardown's own grace period, plus a margin. */
static void custom_finish(struct rf_session *se)
{
	struct rf_chan *ch = &se->chan;
	uint64_t deadline = rf__now_ns() + ((uint64_t)se->opts.grace_ms + 2000) * 1000000ull;
	bool was = ch->driving;

	if (ch->finished)
		return;
	atomic_store(&se->exit_requested, 1);
	ch->driving = true;
	while (!ch->finished && rf__now_ns() < deadline)
		rf_loop_run_once(se->loop, 100);
	ch->driving = was;
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

/* True if the application was already inside one of our calls (a nested call). */
static bool enter_call(struct rf_chan *ch)
{
	return atomic_fetch_add(&ch->in_call, 1) > 0;
}

/* Leaving for the application's own event loop: requests still held must make the fd
 * readable. */
static void leave_call(struct rf_session *se)
{
	struct rf_chan *ch = &se->chan;

	if (atomic_fetch_sub(&ch->in_call, 1) > 1)
		return;         /* nested: the outer call goes on watching the ring */
	/* A resume another thread posted while in_call said we would see it. */
	if (atomic_load(&se->loop->post_wake))
		run_ready(se);
	if (!ch->stopping && !ch->ended)
		nudge_for_held(ch);
}

/* The next held request's bytes into @buf, as read; it waits in ch->handed for its
 * rf_session_process. 0 if none is held. */
static size_t hand_out_request(struct rf_chan *ch, void *buf)
{
	struct rf_req *req = ch->held, **pp;

	if (!req)
		return 0;
	ch->held = req->next;
	if (!ch->held)
		ch->held_tail = &ch->held;
	req->next = NULL;
	for (pp = &ch->handed; *pp; pp = &(*pp)->next)
		;
	*pp = req;
	memcpy(buf, req->buf, req->in_len);
	return req->in_len;
}

/* At most this many forgets in one BATCH_FORGET handed out (the next receive hands out
 * the rest): what the channel keeps of it stays small. */
#define RF_FORGETS_OUT 1024u

/* The forgets held back for requests that are now finished, as one BATCH_FORGET of
 * unique 0 (which the kernel never uses), also kept in ch->forgets_out until it comes back.
 * One at a time. 0 if none is owed. */
static size_t hand_out_forgets(struct rf_session *se, void *buf)
{
	struct rf_chan *ch = &se->chan;
	struct fuse_in_header h = { .opcode = FUSE_BATCH_FORGET };
	struct fuse_batch_forget_in in = { 0 };
	struct fuse_forget_one one;
	size_t room = (se->bufsize - RF_REPLY_ROOM - sizeof(h) - sizeof(in)) / sizeof(one);
	uint64_t nodeid, nlookup;

	if (ch->nforgets_out)
		return 0;
	if (room > RF_FORGETS_OUT)
		room = RF_FORGETS_OUT;
	/* Without memory they stay held back, and run at the end. */
	if (!ch->forgets_out && !(ch->forgets_out = malloc(RF_FORGETS_OUT * sizeof(one))))
		return 0;
	while (in.count < room && rf__order_take_forget(se, &nodeid, &nlookup))
		ch->forgets_out[in.count++] = (struct fuse_forget_one){ .nodeid = nodeid,
									 .nlookup = nlookup };
	if (!in.count)
		return 0;
	ch->nforgets_out = in.count;
	h.len = (uint32_t)(sizeof(h) + sizeof(in) + in.count * sizeof(one));
	memcpy(buf, &h, sizeof(h));
	memcpy((char *)buf + sizeof(h), &in, sizeof(in));
	memcpy((char *)buf + sizeof(h) + sizeof(in), ch->forgets_out, in.count * sizeof(one));
	return h.len;
}

/* A NOTIFY_REPLY to our own nudge: it only had to wake the application. */
static bool is_nudge(struct rf_chan *ch, const void *buf, ssize_t n)
{
	struct fuse_in_header h;

	if (n < (ssize_t)sizeof(h))
		return false;
	memcpy(&h, buf, sizeof(h));
	if (h.opcode != FUSE_NOTIFY_REPLY || h.unique != RF_NUDGE_UNIQUE)
		return false;
	atomic_store(&ch->nudging, false);
	return true;
}

/* @nested: called from inside rf_session_process (a handler running the application's
 * event loop, which saw the fd readable): never wait there, as the request in service
 * below may be what everything waits for. */
static ssize_t receive(struct rf_session *se, void *buf, bool nested)
{
	struct rf_chan *ch = &se->chan;
	struct pollfd p[2];
	bool woken = false;
	ssize_t n;
	int ready;

	for (;;) {
		run_ready(se);
		if (se->ended || ch->ended || ch->finished)
			return 0;
		if (atomic_load(&se->exit_requested))
			return -EINTR;
		if ((n = (ssize_t)hand_out_request(ch, buf)) || (n = (ssize_t)hand_out_forgets(se, buf)))
			return n;
		/* The device, and the ring, which has a completion when another thread
		 * posts work (a reply to send, a request to resume) or a timer is due. */
		p[0] = (struct pollfd){ .fd = ch->fd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = se->loop->ring.ring_fd, .events = POLLIN };
		/* After a nudge's reply, no wait: the application may have come only because
		 * the fd was readable (pyfuse3 does), its held work handed out meanwhile by an
		 * earlier call; blocking here would stop its own loop. */
		ready = poll(p, 2, woken || nested ? 0 : -1);
		if (ready < 0) {
			if (errno == EINTR)
				return -EINTR;
			return -errno;
		}
		if (ready == 0)
			return woken ? -EINTR : -EAGAIN;
		if (p[0].revents & (POLLERR | POLLHUP)) {
			ch->ended = true;
			continue;
		}
		if (!(p[0].revents & POLLIN))
			continue;
		/* As the loop reads (transport_dev.c): rf_session_process needs the room. */
		n = read(ch->fd, buf, se->bufsize - RF_REPLY_ROOM);
		if (n > 0) {
			if (is_nudge(ch, buf, n)) {
				woken = true;
				continue;
			}
			return n;
		}
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

ssize_t rf_session_receive(struct rf_session *se, void *buf, size_t size)
{
	ssize_t n;

	if (!se || !buf || !is_manual(se))
		return -EINVAL;
	if (size < se->bufsize)
		return -EINVAL;
	n = receive(se, buf, enter_call(&se->chan));
	leave_call(se);
	return n;
}

/* A handed-out request coming back: the one with that unique (the application may take
 * several before processing them). */
static struct rf_req *take_handed(struct rf_chan *ch, const struct fuse_in_header *h)
{
	struct rf_req **pp, *req;

	for (pp = &ch->handed; (req = *pp); pp = &req->next) {
		if (req->in.unique == h->unique && req->in.opcode == h->opcode) {
			*pp = req->next;
			req->next = NULL;
			return req;
		}
	}
	return NULL;
}

/* The BATCH_FORGET hand_out_forgets handed out, from what the channel kept of it:
 * forgotten now unless a request names the node again (then the last one does it). The
 * kernel's count was taken when it sent them. */
static void run_handed_forgets(struct rf_session *se)
{
	struct rf_chan *ch = &se->chan;
	uint32_t i, n = ch->nforgets_out;

	ch->nforgets_out = 0;
	for (i = 0; i < n; i++)
		rf__order_forget(se, ch->forgets_out[i].nodeid, ch->forgets_out[i].nlookup);
}

static int process(struct rf_session *se, const void *msg, size_t len)
{
	struct rf_chan *ch = &se->chan;
	struct fuse_in_header h;
	struct rf_req *req;
	bool was;

	if (ch->ended || ch->stopping)
		return -ENOTCONN;
	memcpy(&h, msg, sizeof(h));
	was = ch->driving;
	ch->driving = true;
	if (h.opcode == FUSE_BATCH_FORGET && h.unique == 0) {
		/* Ours (the kernel's uniques are never 0); one that is not outstanding (passed
		 * twice, or made up) is dropped: its nodes were forgotten, or never were. */
		run_handed_forgets(se);
	} else if ((req = take_handed(ch, &h))) {
		rf__dispatch_resume(req);
	} else {
		req = ch->ops->inject(ch, msg, (uint32_t)len);
		if (!req && len <= ch->bufsize - RF_REPLY_ROOM) {
			/* Every slot may be waiting only for the loop to see its reply (made
			 * on another thread): let it, then try once more. */
			run_ready(se);
			req = ch->ops->inject(ch, msg, (uint32_t)len);
		}
		if (!req) {
			ch->driving = was;
			if (len > ch->bufsize - RF_REPLY_ROOM)
				return -E2BIG;
			/* Dropped unanswered, the kernel's caller would wait for ever (an
			 * application can have more requests in service than there are
			 * slots: pyfuse3 runs up to 99 tasks). */
			if (!rf__opinfo(h.opcode)->no_reply)
				rf__manual_answer(ch, h.unique, -ENOMEM);
			rf__warn("custom loop: all %u request slots are in service: %s %llu "
				 "answered ENOMEM (raise -o queue_depth)", ch->nr_slots,
				 rf__opname(h.opcode), (unsigned long long)h.unique);
			return -EBUSY;
		}
		se->up->received(req);
	}
	ch->driving = was;
	run_ready(se);
	return 0;
}

int rf_session_process(struct rf_session *se, const void *msg, size_t len)
{
	int ret;

	if (!se || !msg || !is_manual(se))
		return -EINVAL;
	if (len < sizeof(struct fuse_in_header) || len > se->bufsize)
		return -EINVAL;
	enter_call(&se->chan);
	ret = process(se, msg, len);
	leave_call(se);
	return ret;
}
