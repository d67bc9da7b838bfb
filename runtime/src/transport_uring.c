/* SPDX-License-Identifier: MIT */
/*
 * transport_uring.c - the kernel's FUSE-over-io_uring queues (Linux >= 6.14): one channel
 * per kernel queue, each entry a request slot whose 288-byte header and payload buffer
 * are registered with the kernel. A reply is committed and the next request fetched in
 * one IORING_OP_URING_CMD; backing I/O for the request runs on the same ring, so a
 * passthrough read is: fetch -> read into the entry's payload -> commit
 * (docs/kernel-notes.md §4.5-4.6).
 *
 * /dev/fuse stays served beside the queues (transport_dev.c): INIT, FORGET, INTERRUPT and
 * notifications use it. Queues are not threads: they are folded onto the session's loops.
 * Compared with /dev/fuse, the commit happens when the request is finished (the recycle
 * op), not at reply time, because the kernel refills the entry at once: its buffers must
 * be unused by then.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#define RF_URING_HDR_SPACE 4096     /* header buffer: 288 bytes, one page keeps it aligned */

static int possible_cpus(void)
{
	FILE *f = fopen("/sys/devices/system/cpu/possible", "re");
	int lo, hi, n = 0;
	char sep;

	if (!f)
		return -errno;
	/* "0-1" or "0" or "0-3,8-11": count every range. */
	while (fscanf(f, "%d", &lo) == 1) {
		hi = lo;
		if (fscanf(f, "%c", &sep) == 1 && sep == '-') {
			if (fscanf(f, "%d", &hi) != 1)
				break;
			if (fscanf(f, "%c", &sep) != 1)
				sep = '\n';
		}
		n += hi - lo + 1;
		if (sep != ',')
			break;
	}
	fclose(f);
	return n > 0 ? n : -EINVAL;
}

int rf__uring_nr_queues(void)
{
	return possible_cpus();
}

bool rf__uring_enabled(void)
{
	FILE *f = fopen("/sys/module/fuse/parameters/enable_uring", "re");
	int c = f ? fgetc(f) : EOF;

	if (f)
		fclose(f);
	return c == 'Y' || c == 'y' || c == '1';
}

static struct fuse_uring_req_header *ent_hdr(const struct rf_req *req)
{
	return (struct fuse_uring_req_header *)req->ent_hdr;
}

static void prep_cmd(struct rf_req *req, uint32_t cmd_op)
{
	struct rf_chan *ch = req->ch;
	struct io_uring_sqe *sqe = rf__loop_sqe(ch->loop, &req->write_c);
	struct fuse_uring_cmd_req *cmd;

	/* rf__loop_sqe cleared nothing: a 128-byte SQE is filled whole here. */
	memset(sqe, 0, 128);
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = ch->fd;
	sqe->cmd_op = cmd_op;
	io_uring_sqe_set_data(sqe, &req->write_c);
	cmd = (struct fuse_uring_cmd_req *)sqe->cmd;
	cmd->qid = ch->qid;
	if (cmd_op == FUSE_IO_URING_CMD_REGISTER) {
		sqe->addr = (uint64_t)(uintptr_t)req->ent_iov;
		sqe->len = 2;
	} else {
		cmd->commit_id = req->commit_id;
	}
	req->state = RF_REQ_READING;
	ch->in_kernel++;
}

/* Answer the request in the entry with @err, without the layers above. */
static void commit_error(struct rf_req *req, const struct fuse_in_header *in, int err)
{
	struct fuse_uring_req_header *h = ent_hdr(req);
	struct fuse_out_header *oh = (struct fuse_out_header *)h->in_out;

	req->in = *in;
	req->state = RF_REQ_REPLIED;
	memset(oh, 0, sizeof(*oh));
	oh->len = sizeof(*oh);
	oh->error = err;
	oh->unique = in->unique;
	h->ring_ent_in_out.payload_sz = 0;
	prep_cmd(req, FUSE_IO_URING_CMD_COMMIT_AND_FETCH);
}

/* A request was written into the entry: lay it out like a /dev/fuse message (header,
 * first argument, the rest) right before the payload, and hand it up. */
static void on_request(struct rf_req *req)
{
	struct rf_chan *ch = req->ch;
	struct fuse_uring_req_header *h = ent_hdr(req);
	struct fuse_in_header in;
	uint32_t psz = h->ring_ent_in_out.payload_sz;
	size_t arg0;
	char *msg;

	memcpy(&in, h->in_out, sizeof(in));
	req->commit_id = h->ring_ent_in_out.commit_id;
	/* A recycled entry starts clean, as a /dev/fuse slot does in rf__chan_free_slot. */
	atomic_store(&req->interrupted, 0);
	req->intr_cb = NULL;
	req->intr_data = NULL;
	atomic_store(&req->intr_called, false);
	if (ch->finished || ch->ended) {
		/* The queue is done: its last SQEs went out when it finished, and the first
		 * channel may close the device fd any moment now, so a command prepared here
		 * could reach the kernel naming a closed fd (EBADF). The entry and its request
		 * are the kernel's to end with the connection (the caller gets ENOTCONN). */
		req->state = RF_REQ_FREE;
		return;
	}
	if (psz > ch->payload_size || in.len < sizeof(in) + psz ||
	    in.len - sizeof(in) - psz > FUSE_URING_OP_IN_OUT_SZ) {
		/* The kernel's own framing is inconsistent: answer EIO, keep serving. */
		rf__warn("uring q%u: malformed entry (len %u, payload %u); answered EIO", ch->qid,
			 in.len, psz);
		commit_error(req, &in, -EIO);
		return;
	}
	if (ch->stopping) {
		/* The session is ending: answer without the filesystem. */
		commit_error(req, &in, -ENOTCONN);
		return;
	}
	ch->busy++;
	req->out_len = 0;
	arg0 = in.len - sizeof(in) - psz;
	msg = req->ent_payload - arg0 - sizeof(in);
	memmove(req->ent_payload - arg0, h->op_in, arg0);
	memcpy(msg, &in, sizeof(in));
	req->buf = msg;
	req->in_len = in.len;
	req->out_hdr = h->in_out;
	req->payload = req->ent_payload;
	req->payload_cap = ch->payload_size;
	req->state = RF_REQ_HANDLER;
	ch->se->up->received(req);
}

static void on_cmd(struct rf_loop *loop, struct rf_completion *c, int res, uint32_t flags)
{
	struct rf_req *req = rf_container_of(c, struct rf_req, write_c);
	struct rf_chan *ch = req->ch;

	ch->in_kernel--;
	if (res == 0) {
		ch->ever_served = true;
		on_request(req);
		return;
	}
	req->state = RF_REQ_FREE;
	switch (res) {
	case -EAGAIN:
	case -EINTR:
		if (!ch->stopping && !ch->ended) {
			prep_cmd(req, ch->ever_served || req->commit_id ?
				      FUSE_IO_URING_CMD_COMMIT_AND_FETCH :
				      FUSE_IO_URING_CMD_REGISTER);
			return;
		}
		break;
	case -ENOENT:
		/* The kernel no longer knew the request we committed (interrupted and
		 * ended meanwhile): hand the entry back as a new one. */
		if (!ch->stopping && !ch->ended) {
			req->commit_id = 0;
			prep_cmd(req, FUSE_IO_URING_CMD_REGISTER);
			return;
		}
		break;
	case -ENOTCONN:
	case -ECONNABORTED:
	case -ENODEV:
	case -ECANCELED:
		if (!ch->ended)
			rf__info("uring q%u: the kernel ended the queue (%s)", ch->qid,
				 strerror(-res));
		ch->ended = true;
		break;
	default:
		if (!ch->ever_served && !ch->se->uring_failed) {
			ch->se->uring_failed = true;
			rf__warn("uring q%u: REGISTER failed (%s): the kernel falls back to "
				 "/dev/fuse", ch->qid, strerror(-res));
		} else {
			rf__err("uring q%u: command failed: %s", ch->qid, strerror(-res));
		}
		ch->ended = true;
		break;
	}
}

/* The reply goes with the entry's recycling: nothing to write now. */
static void uring_send(struct rf_req *req)
{
	req->se->up->sent(req, 0);
}

/* The request is finished: commit its reply and fetch the next into the entry. */
static void uring_recycle(struct rf_req *req)
{
	struct fuse_uring_req_header *h = ent_hdr(req);
	struct fuse_out_header *oh = (struct fuse_out_header *)h->in_out;

	/* A finished channel's session may have closed the device fd already (and
	 * aborted the connection): the entry is the kernel's to release now. */
	if (req->ch->ended || req->ch->finished) {
		req->state = RF_REQ_FREE;
		req->ch->busy--;
		return;
	}
	if (req->out_len < sizeof(*oh)) {
		/* No reply (NOTIFY_REPLY): still hand the entry back, with an empty one. */
		memset(oh, 0, sizeof(*oh));
		oh->len = sizeof(*oh);
		oh->unique = req->in.unique;
		req->out_len = sizeof(*oh);
	}
	h->ring_ent_in_out.payload_sz = req->out_len - (uint32_t)sizeof(*oh);
	req->out_len = 0;
	req->ch->busy--;
	prep_cmd(req, FUSE_IO_URING_CMD_COMMIT_AND_FETCH);
}

static void uring_stop(struct rf_chan *ch)
{
	ch->stopping = true;
}

/* Allocate queue @ch's entries: ch->qid is its index among the session's queues. */
static int uring_init(struct rf_chan *ch)
{
	struct rf_session *se = ch->se;
	uint32_t depth = se->opts.uring_depth ? se->opts.uring_depth : 16;
	/* The kernel refuses an entry whose payload is below this (and then silently
	 * serves /dev/fuse instead). */
	uint32_t payload = RF_MAX(RF_MAX((uint32_t)FUSE_MIN_READ_BUFFER, se->conn.max_write),
				  se->conn.max_pages * 4096u);
	size_t per = RF_URING_HDR_SPACE + (size_t)RF_ALIGN(payload, 4096), i;

	ch->qid = (uint16_t)((ch - se->uq) % se->nr_kq);
	ch->payload_size = payload;
	ch->bufsize = (uint32_t)per;
	ch->nr_slots = depth;
	ch->slab = mmap(NULL, per * depth, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	if (ch->slab == MAP_FAILED) {
		ch->slab = NULL;
		return -errno;
	}
	ch->slots = calloc(depth, sizeof(*ch->slots));
	if (!ch->slots)
		return -ENOMEM;
	for (i = 0; i < depth; i++) {
		struct rf_req *req = &ch->slots[i];

		req->ch = ch;
		req->se = se;
		req->ent_hdr = ch->slab + i * per;
		req->ent_payload = req->ent_hdr + RF_URING_HDR_SPACE;
		req->ent_iov[0].iov_base = req->ent_hdr;
		req->ent_iov[0].iov_len = sizeof(struct fuse_uring_req_header);
		req->ent_iov[1].iov_base = req->ent_payload;
		req->ent_iov[1].iov_len = payload;
		req->buf = req->ent_payload;
		req->write_c.fn = on_cmd;
	}
	return 0;
}

static void uring_chan_destroy(struct rf_chan *ch)
{
	if (ch->slab)
		munmap(ch->slab, (size_t)ch->bufsize * ch->nr_slots);
	ch->slab = NULL;
	free(ch->slots);
	ch->slots = NULL;
}

/* On the queue's own loop: hook the channel to the loop and register its entries. */
static void register_queue(struct rf_chan *ch)
{
	uint32_t i;

	rf__loop_hook_add(ch->loop, &ch->hook);
	for (i = 0; i < ch->nr_slots; i++)
		prep_cmd(&ch->slots[i], FUSE_IO_URING_CMD_REGISTER);
	io_uring_submit(&ch->loop->ring);
}

/* Starting a queue from another loop's thread goes through the queue's own loop. */
static void register_posted(struct rf_loop *loop, void *data)
{
	register_queue(data);
}

static void uring_start(struct rf_chan *ch)
{
	if (rf__on_loop_thread(ch->loop))
		register_queue(ch);
	else if (rf_loop_post(ch->loop, register_posted, ch) < 0)
		rf__err("uring q%u: cannot reach its loop", ch->qid);
}

const struct rf_transport_ops rf__transport_uring = {
	.name = "FUSE-over-io_uring",
	.kernel = true,
	.init = uring_init,
	.start = uring_start,
	.send = uring_send,
	.recycle = uring_recycle,
	.stop = uring_stop,
	.inject = NULL,
	.destroy = uring_chan_destroy,
};

int rf__uring_prepare(struct rf_session *se)
{
	int nq, nch, i, ret, nloops = 1 + se->nr_extra;

	if (!se->loop->sqe128)
		return -EOPNOTSUPP;
	nq = possible_cpus();
	if (nq < 0)
		return nq;
	/* Blocking handlers (kq_on_extras): each extra loop serves one channel of one entry,
	 * queue i on loops i, i + nq, ...; every queue has at least one. */
	nch = se->kq_on_extras && se->nr_extra > nq ? se->nr_extra : nq;
	se->uq = calloc((size_t)nch, sizeof(*se->uq));
	if (!se->uq)
		return -ENOMEM;
	se->nr_uq = nch;
	se->nr_kq = nq;
	for (i = 0; i < nch; i++) {
		/* Otherwise queues fold onto the loops: queue i is served by loop i mod N. */
		struct rf_loop *loop = se->kq_on_extras ? se->extra[i % se->nr_extra].loop :
				       i % nloops == 0 ? se->loop : se->extra[i % nloops - 1].loop;

		ret = rf__chan_init(&se->uq[i], &rf__transport_uring, se, loop, se->fd, false);
		if (ret < 0) {
			rf__uring_destroy(se);
			return ret;
		}
	}
	return 0;
}

void rf__uring_start(struct rf_session *se)
{
	int i;

	rf__info("transport: FUSE-over-io_uring, %d queue(s), %d channel(s) x %u entries, "
		 "%u-byte payloads, on %d loop(s)", se->nr_kq, se->nr_uq, se->uq[0].nr_slots,
		 se->uq[0].payload_size, 1 + se->nr_extra);
	for (i = 0; i < se->nr_uq; i++) {
		/* INIT may have been served by any loop: each queue registers on its own. */
		atomic_fetch_add(&se->chans_live, 1);
		se->uq[i].ops->start(&se->uq[i]);
	}
}

void rf__uring_destroy(struct rf_session *se)
{
	int i;

	for (i = 0; i < se->nr_uq; i++)
		if (se->uq[i].in_kernel)
			break;
	if (i < se->nr_uq) {
		/* Commands were never reaped (the connection outlived us: a fusermount3
		 * mount still busy). The ring's exit cancels them from a kernel worker, which
		 * may still copy into the entries: keep the buffers rather than free them. */
		rf__warn("uring: %u queue command(s) not reaped; keeping their buffers",
			 se->uq[i].in_kernel);
		return;
	}
	for (i = 0; i < se->nr_uq; i++)
		if (se->uq[i].ops)      /* set up, perhaps only in part */
			se->uq[i].ops->destroy(&se->uq[i]);
	free(se->uq);
	se->uq = NULL;
	se->nr_uq = 0;
}

/* Remove the queue channels from their loops (their loop thread, or after it stopped). */
void rf__uring_detach(struct rf_session *se, struct rf_loop *loop)
{
	int i;

	for (i = 0; i < se->nr_uq; i++)
		if (se->uq[i].loop == loop)
			rf__loop_hook_remove(loop, &se->uq[i].hook);
}
