/* SPDX-License-Identifier: MIT */
/*
 * transport_dev.c - a channel: requests read from a /dev/fuse fd (or a test's
 * SOCK_SEQPACKET socket, which frames messages the same way) into pooled slots through
 * the loop's ring, and replies written back as ring writes. Decoding is dispatch.c's.
 *
 * One read is in flight per channel at any time. The fd is O_NONBLOCK from the start and
 * never toggled: a read that races another reader then ends -EAGAIN and is simply
 * re-posted, instead of sleeping inside the loop thread's task_work.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

static void post_read(struct rf_chan *ch);

static struct rf_req *slot_get(struct rf_chan *ch)
{
	struct rf_req *req = ch->free;

	if (!req)
		return NULL;
	ch->free = req->next;
	req->next = NULL;
	ch->busy++;
	return req;
}

struct rf_req *rf__chan_take_slot(struct rf_chan *ch)
{
	struct rf_req *req = slot_get(ch);

	if (req) {
		memset(&req->ctx, 0, sizeof(req->ctx));
		req->in_len = 0;
	}
	return req;
}

void rf__req_finish(struct rf_req *req)
{
	if (req->state != RF_REQ_REPLIED || req->write_busy || req->nbacking)
		return;
	rf__order_leave(req);
	if (req->ch->uring)
		rf__uring_commit(req);     /* the entry goes back to the kernel only now */
	else
		rf__chan_free_slot(req);
}

void rf__chan_free_slot(struct rf_req *req)
{
	struct rf_chan *ch = req->ch;

	req->state = RF_REQ_FREE;
	req->intr_cb = NULL;
	req->intr_data = NULL;
	atomic_store(&req->interrupted, 0);
	req->next = ch->free;
	ch->free = req;
	ch->busy--;
	post_read(ch);
}

static void on_read(struct rf_loop *loop, struct rf_completion *c, int res, uint32_t flags)
{
	struct rf_chan *ch = rf_container_of(c, struct rf_chan, read_c);
	struct rf_req *req = ch->reading;

	ch->reading = NULL;
	if (res > 0) {
		req->in_len = (uint32_t)res;
		req->state = RF_REQ_HANDLER;
		post_read(ch);          /* the next read goes out with this request's reply */
		rf__dispatch(req);
		return;
	}
	req->state = RF_REQ_FREE;
	switch (res) {
	case -EAGAIN:
	case -EINTR:
	case -ENOENT:   /* the request we were handed was interrupted away: read again */
		rf__chan_free_slot(req);
		return;
	case -ECANCELED:
		ch->stopping = true;
		rf__chan_free_slot(req);
		return;
	case 0:
		if (!ch->is_sock) {
			rf__chan_free_slot(req);
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
	rf__chan_free_slot(req);
}

static void post_read(struct rf_chan *ch)
{
	struct io_uring_sqe *sqe;
	struct rf_req *req;

	if (ch->reading || ch->ended || ch->stopping)
		return;
	req = slot_get(ch);
	if (!req)
		return;         /* every slot is in service: a freed slot posts the read */
	req->state = RF_REQ_READING;
	ch->reading = req;
	sqe = rf__loop_sqe(ch->loop, &ch->read_c);
	io_uring_prep_read(sqe, ch->fd, req->buf, ch->bufsize, 0);
}

static void on_write(struct rf_loop *loop, struct rf_completion *c, int res, uint32_t flags)
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
	if (req->in.opcode == FUSE_INIT && req->se->uring_pending) {
		/* REGISTER works only once the kernel has processed the INIT reply. */
		req->se->uring_pending = false;
		if (res > 0)
			rf__uring_start(req->se);
	}
	rf__req_finish(req);
}

void rf__chan_send(struct rf_req *req)
{
	struct rf_chan *ch = req->ch;
	struct io_uring_sqe *sqe;

	if (ch->uring) {
		/* Committed with the next fetch once the request is finished. */
		rf__req_finish(req);
		return;
	}
	if (ch->ended) {
		/* Nobody to answer; the request is done once its backing I/O is. */
		rf__req_finish(req);
		return;
	}
	req->write_busy = true;
	sqe = rf__loop_sqe(ch->loop, &req->write_c);
	io_uring_prep_write(sqe, ch->fd, req->out_hdr, req->out_len, 0);
}

int rf__chan_init(struct rf_chan *ch, struct rf_session *se, struct rf_loop *loop, int fd,
		  bool owns_fd)
{
	size_t slab_size;
	uint32_t i;

	memset(ch, 0, sizeof(*ch));
	ch->se = se;
	ch->loop = loop;
	ch->fd = fd;
	ch->owns_fd = owns_fd;
	ch->is_sock = se->fd_is_sock;
	ch->bufsize = se->bufsize;
	ch->nr_slots = se->opts.queue_depth;
	slab_size = (size_t)ch->bufsize * ch->nr_slots;
	/* One mapping for every slot; pages are touched only as requests use them. */
	ch->slab = mmap(NULL, slab_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	if (ch->slab == MAP_FAILED)
		return -errno;
	ch->slots = calloc(ch->nr_slots, sizeof(*ch->slots));
	if (!ch->slots) {
		munmap(ch->slab, slab_size);
		return -ENOMEM;
	}
	for (i = ch->nr_slots; i-- > 0;) {
		struct rf_req *req = &ch->slots[i];

		req->ch = ch;
		req->se = se;
		req->buf = ch->slab + (size_t)i * ch->bufsize;
		req->write_c.fn = on_write;
		req->next = ch->free;
		ch->free = req;
	}
	ch->read_c.fn = on_read;
	return 0;
}

void rf__chan_start(struct rf_chan *ch)
{
	post_read(ch);
}

void rf__chan_stop(struct rf_chan *ch)
{
	struct io_uring_sqe *sqe;

	if (ch->stopping)
		return;
	ch->stopping = true;
	if (ch->reading) {
		sqe = rf__loop_sqe(ch->loop, NULL);
		io_uring_prep_cancel(sqe, &ch->read_c, 0);
	}
}

bool rf__chan_idle(const struct rf_chan *ch)
{
	return ch->busy == 0 && !ch->reading;
}

void rf__chan_destroy(struct rf_chan *ch)
{
	if (ch->slab && ch->slab != MAP_FAILED)
		munmap(ch->slab, (size_t)ch->bufsize * ch->nr_slots);
	ch->slab = NULL;
	free(ch->slots);
	ch->slots = NULL;
	if (ch->owns_fd && ch->fd >= 0)
		close(ch->fd);
	ch->fd = -1;
}
