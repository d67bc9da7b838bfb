/* SPDX-License-Identifier: MIT */
/*
 * transport_manual.c - the channel of a custom loop (custom.c): the application's thread
 * reads each request itself and hands it back (inject), and replies are written to the
 * fd at once by whichever thread makes them, without the ring: a custom loop's thread
 * may be blocked anywhere (in its own event loop), so a reply cannot wait for the ring.
 * Slots are the fd transports' (chan.c), taken and given back under slot_lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static int manual_init(struct rf_chan *ch)
{
	int ret = rf__fd_chan_init(ch, NULL);

	if (ret == 0)
		pthread_mutex_init(&ch->slot_lock, NULL);
	return ret;
}

/* The application reads: nothing to start. */
static void manual_start(struct rf_chan *ch)
{
}

/* Work a reply let go (a request the ordering chains parked, a forget held back for it)
 * is the application's to run, inside rf_session_process (custom.c hands it out through
 * rf_session_receive): a framework such as pyfuse3 expects each handler to start inside
 * process_buf, one per call. A reply on the driving thread outside custom.c's calls runs
 * the loop's rounds here, which hold such work for the application (custom.c). */
static void run_deferred(struct rf_chan *ch)
{
	int i;

	/* The loop's thread first: driving and stopping are that thread's, and a reply
	 * from any other thread must not read them while it writes them (custom.c). */
	if (!rf__on_loop_thread(ch->loop) || ch->driving || ch->stopping)
		return;
	ch->driving = true;
	for (i = 0; i < 64 && rf_loop_run_once(ch->loop, 0) > 0; i++)
		;
	ch->driving = false;
}

/* Any thread: a request of @ch (on @nodeid) the chains parked may run. An application
 * waiting for the fd in its own event loop must learn that it has work. */
static void manual_resumed(struct rf_chan *ch, uint64_t nodeid)
{
	if (!atomic_load(&ch->in_call))
		rf__manual_nudge(ch, nodeid);
}

void rf__manual_answer(struct rf_chan *ch, uint64_t unique, int err)
{
	struct fuse_out_header oh = { .len = sizeof(oh), .error = err, .unique = unique };
	ssize_t w;

	do
		w = write(ch->fd, &oh, sizeof(oh));
	while (w < 0 && errno == EINTR);
	if (w != (ssize_t)sizeof(oh))
		rf__dbg("answer to %llu dropped: %s", (unsigned long long)unique,
			w < 0 ? strerror(errno) : "short write");
}

int rf__manual_nudge(struct rf_chan *ch, uint64_t nodeid)
{
	struct {
		struct fuse_out_header h;
		struct fuse_notify_retrieve_out r;
	} m = {
		.h = { .len = sizeof(m), .error = FUSE_NOTIFY_RETRIEVE },
		.r = { .notify_unique = RF_NUDGE_UNIQUE, .nodeid = nodeid },
	};
	ssize_t w;

	if (ch->ended || !atomic_load_explicit(&ch->se->initialized, memory_order_acquire))
		return -ENOTCONN;
	if (atomic_exchange(&ch->nudging, true))
		return 0;
	do
		w = write(ch->fd, &m, sizeof(m));
	while (w < 0 && errno == EINTR);
	if (w == (ssize_t)sizeof(m))
		return 0;
	/* EINVAL: not a regular file (the kernel retrieves only from those); ENOENT: the
	 * kernel no longer knows it. */
	atomic_store(&ch->nudging, false);
	return w < 0 ? -errno : -EIO;
}

static void manual_send(struct rf_req *req)
{
	struct rf_chan *ch = req->ch;
	ssize_t w;
	int res;

	if (ch->ended) {
		req->se->up->sent(req, -ENOTCONN);
		return;
	}
	do
		w = write(ch->fd, req->out_hdr, req->out_len);
	while (w < 0 && errno == EINTR);
	res = w < 0 ? -errno : (int)w;
	if (res == -ENOENT || res == -ENODEV || res == -ENOTCONN || res == -ECONNABORTED)
		rf__dbg("reply to %llu dropped by the kernel: %s",
			(unsigned long long)req->in.unique, strerror(-res));
	else if (res < 0)
		rf__err("reply to %llu (%s) refused: %s", (unsigned long long)req->in.unique,
			rf__opname(req->in.opcode), strerror(-res));
	else if ((uint32_t)res != req->out_len)
		rf__err("reply to %llu: short write %d of %u", (unsigned long long)req->in.unique,
			res, req->out_len);
	req->se->up->sent(req, res);
	run_deferred(ch);
}

static void manual_recycle(struct rf_req *req)
{
	struct rf_chan *ch = req->ch;

	pthread_mutex_lock(&ch->slot_lock);
	rf__fd_slot_put(req);
	pthread_mutex_unlock(&ch->slot_lock);
}

static void manual_stop(struct rf_chan *ch)
{
	ch->stopping = true;
}

/* A request the application read (or one the runtime makes up at teardown), copied into a
 * free slot as if received. The reply goes behind it, as on /dev/fuse: the room the
 * session's buffer size keeps for a READ's reply is there for any request but a WRITE
 * (whose reply is a few bytes). */
static struct rf_req *manual_inject(struct rf_chan *ch, const void *msg, uint32_t len)
{
	struct rf_req *req;

	if (len > ch->bufsize - RF_REPLY_ROOM)
		return NULL;
	pthread_mutex_lock(&ch->slot_lock);
	req = rf__fd_slot_get(ch);
	pthread_mutex_unlock(&ch->slot_lock);
	if (!req)
		return NULL;
	memset(&req->ctx, 0, sizeof(req->ctx));
	memcpy(req->buf, msg, len);
	req->in_len = len;
	req->state = RF_REQ_HANDLER;
	rf__fd_place_reply(req);
	return req;
}

static void manual_destroy(struct rf_chan *ch)
{
	bool had_slots = ch->slots != NULL;

	rf__fd_chan_destroy(ch);
	free(ch->forgets_out);
	ch->forgets_out = NULL;
	if (had_slots)
		pthread_mutex_destroy(&ch->slot_lock);
}

const struct rf_transport_ops rf__transport_manual = {
	.name = "custom loop",
	/* No FUSE-over-io_uring: the application reads the fd, and the queues would take
	 * every request away from it. */
	.kernel = false,
	.any_thread = true,
	.init = manual_init,
	.start = manual_start,
	.send = manual_send,
	.recycle = manual_recycle,
	.stop = manual_stop,
	.inject = manual_inject,
	.resumed = manual_resumed,
	.destroy = manual_destroy,
};
