/* SPDX-License-Identifier: MIT */
/*
 * chan.c - what every transport's channel shares: its setup before the transport takes
 * over (transport.h), and the slot pool of the fd transports (/dev/fuse and the test
 * socket), whose requests are read into one mmap'd slab of equal slots.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

int rf__chan_init(struct rf_chan *ch, const struct rf_transport_ops *ops, struct rf_session *se,
		  struct rf_loop *loop, int fd, bool owns_fd)
{
	/* The session's per-round work comes with every channel it owns (rf_session_new set
	 * it on its first channel, which may be @ch itself). */
	struct rf_loop_hook hook = se->chan.hook;

	memset(ch, 0, sizeof(*ch));
	ch->hook.round = hook.round;
	ch->hook.signal = hook.signal;
	ch->ops = ops;
	ch->se = se;
	ch->loop = loop;
	ch->fd = fd;
	ch->owns_fd = owns_fd;
	return ops->init(ch);
}

int rf__fd_chan_init(struct rf_chan *ch, void (*on_write)(struct rf_loop *, struct rf_completion *,
							  int, uint32_t))
{
	size_t slab_size;
	uint32_t i;

	ch->bufsize = ch->se->bufsize;
	ch->nr_slots = ch->se->opts.queue_depth;
	slab_size = (size_t)ch->bufsize * ch->nr_slots;
	/* One mapping for every slot; pages are touched only as requests use them. */
	ch->slab = mmap(NULL, slab_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	if (ch->slab == MAP_FAILED) {
		ch->slab = NULL;
		return -errno;
	}
	ch->slots = calloc(ch->nr_slots, sizeof(*ch->slots));
	if (!ch->slots) {
		munmap(ch->slab, slab_size);
		ch->slab = NULL;
		return -ENOMEM;
	}
	for (i = ch->nr_slots; i-- > 0;) {
		struct rf_req *req = &ch->slots[i];

		req->ch = ch;
		req->se = ch->se;
		req->buf = ch->slab + (size_t)i * ch->bufsize;
		req->write_c.fn = on_write;
		req->next = ch->free;
		ch->free = req;
	}
	return 0;
}

struct rf_req *rf__fd_slot_get(struct rf_chan *ch)
{
	struct rf_req *req = ch->free;

	if (!req)
		return NULL;
	ch->free = req->next;
	req->next = NULL;
	ch->busy++;
	return req;
}

void rf__fd_slot_put(struct rf_req *req)
{
	struct rf_chan *ch = req->ch;

	req->state = RF_REQ_FREE;
	req->intr_cb = NULL;
	req->intr_data = NULL;
	atomic_store(&req->intr_called, false);
	atomic_store(&req->interrupted, 0);
	req->next = ch->free;
	ch->free = req;
	ch->busy--;
}

struct rf_req *rf__fd_inject(struct rf_chan *ch, const void *msg, uint32_t len)
{
	struct rf_req *req;

	if (len > ch->bufsize / 2 || !(req = rf__fd_slot_get(ch)))
		return NULL;
	memset(&req->ctx, 0, sizeof(req->ctx));
	memcpy(req->buf, msg, len);
	req->in_len = len;
	req->state = RF_REQ_HANDLER;
	rf__fd_place_reply(req);
	return req;
}

/* /dev/fuse framing: the reply is encoded behind the request, in the same slot, so names
 * and data the handler holds stay valid while it replies. */
void rf__fd_place_reply(struct rf_req *req)
{
	uint32_t out_off = (uint32_t)RF_ALIGN(req->in_len, 16);

	req->out_hdr = req->buf + out_off;
	req->payload = req->out_hdr + sizeof(struct fuse_out_header);
	req->payload_cap = req->ch->bufsize - out_off - (uint32_t)sizeof(struct fuse_out_header);
	req->out_len = 0;
}

/* No more replies written off the loop (transport_dev.c, rf__fd_send_direct); returns
 * once none is being written, so the fd may be closed. */
void rf__fd_direct_off(struct rf_chan *ch)
{
	atomic_store(&ch->direct_ok, false);
	while (atomic_load(&ch->direct_writers))
		sched_yield();          /* a write(2) on the device in progress: short */
}

void rf__fd_chan_destroy(struct rf_chan *ch)
{
	rf__fd_read_unhold(ch);
	rf__fd_direct_off(ch);
	if (ch->slab)
		munmap(ch->slab, (size_t)ch->bufsize * ch->nr_slots);
	ch->slab = NULL;
	free(ch->slots);
	ch->slots = NULL;
	if (ch->owns_fd && ch->fd >= 0)
		close(ch->fd);
	ch->fd = -1;
}
