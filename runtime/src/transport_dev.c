/* SPDX-License-Identifier: MIT */
/*
 * transport_dev.c - /dev/fuse on the ring: requests read from the fd into pooled slots
 * (chan.c), replies written back as ring writes. The socket transport (transport_sock.c)
 * frames messages the same way and reuses these reads and writes.
 *
 * One read is in flight per channel at any time. The fd is O_NONBLOCK from the start and
 * never toggled: a read that races another reader then ends -EAGAIN and is simply
 * re-posted, instead of sleeping inside the loop thread's task_work
 * (docs/kernel-notes.md §2.4).
 *
 * Beside the kernel's io_uring queues, /dev/fuse carries only FORGET, BATCH_FORGET and
 * INTERRUPT (kernel-notes §4.7): none is answered in a hurry (INTERRUPT's own reply goes
 * nowhere in ring mode), yet each FORGET read alone wakes the loop, once per unlink. So
 * when FORGETs come faster than one per RF_SIDE_READ_MS, the next read after one waits
 * that long: the FORGETs of that time arrive as one BATCH_FORGET, and the first one after
 * a quiet spell still comes at once.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define RF_SIDE_READ_MS 1

void rf__fd_post_read(struct rf_chan *ch)
{
	struct io_uring_sqe *sqe;
	struct rf_req *req;

	if (ch->reading || ch->ended || ch->stopping || ch->read_held)
		return;
	req = rf__fd_slot_get(ch);
	if (!req)
		return;         /* every slot is in service: a recycled slot posts the read */
	req->state = RF_REQ_READING;
	ch->reading = req;
	sqe = rf__loop_sqe(ch->loop, &ch->read_c);
	/* Never into the reply room: a request that filled the whole slot would leave its
	 * reply no place but the next slot (the kernel fails a longer one: E2BIG, EIO). */
	io_uring_prep_read(sqe, ch->fd, req->buf, ch->bufsize - RF_REPLY_ROOM, 0);
}

void rf__fd_recycle(struct rf_req *req)
{
	struct rf_chan *ch = req->ch;

	rf__fd_slot_put(req);
	rf__fd_post_read(ch);
}

static void reread(struct rf_loop *loop, void *data)
{
	struct rf_chan *ch = data;

	ch->read_held = false;
	rf__fd_post_read(ch);
}

/* After a FORGET on /dev/fuse beside the kernel queues (ring mode, the REGISTERs did not
 * fail) that came less than RF_SIDE_READ_MS after the one before: hold the next read back
 * a little. Other messages never hold it, so a connection that fell back to /dev/fuse, or
 * the INIT, is read at full speed; and FORGETs that come slower than the hold would batch
 * them are read as they come, without a timer's wake-up each. */
static void hold_side_read(struct rf_chan *ch, const struct rf_req *req, int len)
{
	const struct fuse_in_header *h = (const void *)req->buf;
	uint64_t now, last;

	if (ch->ops != &rf__transport_dev || !ch->se->nr_uq || ch->se->uring_failed ||
	    ch->read_held || len < (int)sizeof(*h) ||
	    (h->opcode != FUSE_FORGET && h->opcode != FUSE_BATCH_FORGET))
		return;
	now = rf__now_ns();
	last = ch->last_forget_ns;
	ch->last_forget_ns = now;
	if (now - last >= RF_SIDE_READ_MS * 1000000ull)
		return;
	if (rf_timer_start(ch->loop, &ch->reread, RF_SIDE_READ_MS, reread, ch) == 0)
		ch->read_held = true;
}

void rf__fd_read_done(struct rf_chan *ch, int res, bool eof)
{
	struct rf_req *req = ch->reading;

	ch->reading = NULL;
	if (res > 0) {
		hold_side_read(ch, req, res);
		req->in_len = (uint32_t)res;
		req->state = RF_REQ_HANDLER;
		rf__fd_place_reply(req);
		rf__fd_post_read(ch);   /* the next read goes out with this request's reply */
		ch->se->up->received(req);
		return;
	}
	req->state = RF_REQ_FREE;
	switch (res) {
	case -EAGAIN:
	case -EINTR:
	case -ENOENT:   /* the request we were handed was interrupted away: read again */
		rf__fd_recycle(req);
		return;
	case -ECANCELED:
		ch->stopping = true;
		rf__fd_direct_off(ch);
		rf__fd_recycle(req);
		return;
	case 0:
		if (!eof) {
			rf__fd_recycle(req);
			return;
		}
		rf__info("channel: peer closed the connection");
		break;
	case -ENODEV:
		rf__info("channel: the kernel ended the connection (unmounted)");
		break;
	default:
		rf__err("channel: read failed: %s", strerror(-res));
		break;
	}
	ch->ended = true;
	rf__fd_direct_off(ch);
	rf__fd_recycle(req);
}

static void on_read(struct rf_loop *loop, struct rf_completion *c, int res, uint32_t flags)
{
	rf__fd_read_done(rf_container_of(c, struct rf_chan, read_c), res, false);
}

void rf__fd_on_write(struct rf_loop *loop, struct rf_completion *c, int res, uint32_t flags)
{
	struct rf_req *req = rf_container_of(c, struct rf_req, write_c);

	if (res < 0) {
		/* ENOENT: the kernel forgot the request (interrupted and finished, or
		 * aborted); ENODEV/ENOTCONN: the connection is gone. Nothing to do. */
		if (res == -ENOENT || res == -ENODEV || res == -ENOTCONN || res == -ECONNABORTED)
			rf__dbg("reply to %llu dropped by the kernel: %s",
				(unsigned long long)req->in.unique, strerror(-res));
		else
			rf__err("reply to %llu (%s) refused: %s", (unsigned long long)req->in.unique,
				rf__opname(req->in.opcode), strerror(-res));
	} else if ((uint32_t)res != req->out_len) {
		rf__err("reply to %llu: short write %d of %u", (unsigned long long)req->in.unique,
			res, req->out_len);
	}
	req->write_busy = false;
	req->se->up->sent(req, res);
}

void rf__fd_send(struct rf_req *req)
{
	struct rf_chan *ch = req->ch;
	struct io_uring_sqe *sqe;

	if (ch->ended) {
		/* Nobody to answer; the request is done once its backing I/O is. */
		req->se->up->sent(req, -ENOTCONN);
		return;
	}
	req->write_busy = true;
	sqe = rf__loop_sqe(ch->loop, &req->write_c);
	io_uring_prep_write(sqe, ch->fd, req->out_hdr, req->out_len, 0);
}

/*
 * Replies made off the loop (the libfuse binding's workers, an application's own threads)
 * are written by the replying thread, as libfuse's workers do: the reply reaches the kernel
 * without waiting for the loop's thread to wake, and only the end of the send (the chains,
 * the slot) is posted to the loop. Writes to /dev/fuse do not block. While the channel
 * stops, replies go through the loop again, and the fd is closed only after every write
 * that started here has returned (rf__fd_direct_off).
 */
static void direct_sent(struct rf_loop *loop, struct rf_post *p)
{
	struct rf_req *req = rf_container_of(p, struct rf_req, post);

	rf__fd_on_write(loop, &req->write_c, req->direct_res, 0);
}

int rf__fd_send_direct(struct rf_req *req)
{
	struct rf_chan *ch = req->ch;
	ssize_t n;

	/* seq_cst with rf__fd_direct_off: either it sees this writer or we see it off. */
	atomic_fetch_add(&ch->direct_writers, 1);
	if (!atomic_load(&ch->direct_ok)) {
		atomic_fetch_sub(&ch->direct_writers, 1);
		return -EAGAIN;
	}
	req->write_busy = true;
	n = write(ch->fd, req->out_hdr, req->out_len);
	req->direct_res = n < 0 ? -errno : (int)n;
	atomic_fetch_sub(&ch->direct_writers, 1);
	req->post.fn = direct_sent;
	rf__loop_post(ch->loop, &req->post);
	return 0;
}

void rf__fd_start(struct rf_chan *ch)
{
	atomic_store(&ch->direct_ok, true);
	rf__fd_post_read(ch);
}

void rf__fd_stop(struct rf_chan *ch)
{
	struct io_uring_sqe *sqe;

	rf__fd_direct_off(ch);
	rf__fd_read_unhold(ch);
	if (ch->stopping)
		return;
	ch->stopping = true;
	if (ch->reading) {
		sqe = rf__loop_sqe(ch->loop, NULL);
		io_uring_prep_cancel(sqe, &ch->read_c, 0);
	}
}

static int dev_init(struct rf_chan *ch)
{
	ch->read_c.fn = on_read;
	return rf__fd_chan_init(ch, rf__fd_on_write);
}

const struct rf_transport_ops rf__transport_dev = {
	.name = "/dev/fuse",
	.kernel = true,
	.init = dev_init,
	.start = rf__fd_start,
	.send = rf__fd_send,
	.send_direct = rf__fd_send_direct,
	.recycle = rf__fd_recycle,
	.stop = rf__fd_stop,
	.inject = rf__fd_inject,
	.destroy = rf__fd_chan_destroy,
};
