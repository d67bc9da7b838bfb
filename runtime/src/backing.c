/* SPDX-License-Identifier: MIT */
/*
 * backing.c - a filesystem's own file operations, submitted on the ring of the loop that
 * serves the request and completed from their CQE; plus a small bounded worker pool for
 * what io_uring cannot do asynchronously (the loop's worker pool). Each operation lives in
 * one of the request's RF_BACKING_MAX slots (no allocation), and the request is not
 * finished - its slot, fh and inodes stay held - until the last one completed
 * (docs/architecture.md §4).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/magic.h>
#include <sys/vfs.h>

#include "internal.h"

#define RF_IORING_OP_FTRUNCATE 55   /* Linux 6.9; liburing 2.3 does not know it yet */

/* What the runtime replies when the filesystem passed no callback. */
enum { BK_ERR, BK_READ, BK_WRITE, BK_NEEDS_CB, BK_CALL };

static void default_reply(struct rf_req *req, int kind, int res)
{
	if (req->state != RF_REQ_HANDLER)
		return;                 /* answered already (e.g. EINTR from the interrupt hook) */
	if (res == -ECANCELED)
		res = -EINTR;
	if (res < 0) {
		rf_reply_err(req, res);
		return;
	}
	switch (kind) {
	case BK_READ:
		rf_reply_buf(req, rf_req_payload(req, NULL), (size_t)res);
		break;
	case BK_WRITE:
		rf_reply_write(req, (size_t)res);
		break;
	default:
		rf_reply_err(req, 0);
		break;
	}
}

static void on_backing(struct rf_loop *loop, struct rf_completion *c, int res, uint32_t flags)
{
	struct rf_backing_op *op = rf_container_of(c, struct rf_backing_op, c);
	struct rf_req *req = op->req;

	op->busy = false;
	req->nbacking--;
	if (op->cb)
		op->cb(req, res, op->data);
	else
		default_reply(req, op->kind, res);
	rf__req_finish(req);
}

/* The NOP that carries a result computed in place (complete_now). */
static void on_known_result(struct rf_loop *loop, struct rf_completion *c, int res,
			    uint32_t flags)
{
	struct rf_backing_op *op = rf_container_of(c, struct rf_backing_op, c);

	op->c.fn = on_backing;
	on_backing(loop, c, op->result, flags);
}

/* A free operation slot of @req, or NULL. */
static struct rf_backing_op *op_get(struct rf_req *req, int kind, rf_backing_cb cb, void *data)
{
	int i;

	if (req->state != RF_REQ_HANDLER && req->state != RF_REQ_REPLIED)
		return NULL;
	if (kind == BK_NEEDS_CB && !cb)
		return NULL;
	for (i = 0; i < RF_REQ_MAX_BACKING; i++) {
		struct rf_backing_op *op = &req->backing[i];

		if (op->busy)
			continue;
		op->c.fn = on_backing;
		op->req = req;
		op->cb = cb;
		op->data = data;
		op->kind = (uint8_t)kind;
		op->busy = true;
		req->nbacking++;
		return op;
	}
	return NULL;
}

static int op_error(struct rf_req *req, int kind, rf_backing_cb cb)
{
	if (req->state != RF_REQ_HANDLER && req->state != RF_REQ_REPLIED)
		return -EINVAL;
	if (kind == BK_NEEDS_CB && !cb)
		return -EINVAL;
	return -EBUSY;
}

#define BACKING_SQE(req, kind, cb, data, op, sqe)                             \
	struct rf_backing_op *op = op_get(req, kind, cb, data);               \
	struct io_uring_sqe *sqe;                                             \
	if (!op)                                                              \
		return op_error(req, kind, cb);                               \
	rf__stats_count((req)->se, RF_STAT_BACKING_RING);                     \
	sqe = rf__loop_sqe((req)->ch->loop, &op->c)

/*
 * Memory filesystems (tmpfs, ramfs) have no FMODE_NOWAIT: io_uring hands every read or
 * write on them to an io-wq worker thread, a context switch each way for a copy that
 * never waits for a device (measured: ~3x the CPU of pread(2) per 4 KiB read). Such I/O
 * is done in place instead, and its completion still comes from the ring (a NOP carrying
 * the result), so callbacks keep running later, on the loop, exactly once.
 */
static bool memory_fs(int fd)
{
	struct statfs sf;

	return fstatfs(fd, &sf) == 0 &&
	       (sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC);
}

/* Complete @op from the ring with a result already known. */
static void complete_now(struct rf_req *req, struct rf_backing_op *op, int res)
{
	struct io_uring_sqe *sqe;

	rf__stats_count(req->se, RF_STAT_BACKING_INLINE);
	if (!op->cb) {
		/* Nothing waits for a callback: reply right away, no ring trip. */
		op->busy = false;
		req->nbacking--;
		default_reply(req, op->kind, res);
		rf__req_finish(req);
		return;
	}
	op->result = res;
	op->c.fn = on_known_result;
	sqe = rf__loop_sqe(req->ch->loop, &op->c);
	io_uring_prep_nop(sqe);
}

int rf_backing_read(struct rf_req *req, int fd, size_t size, off_t off, rf_backing_cb cb,
		    void *data)
{
	size_t cap;
	void *dst = rf_req_payload(req, &cap);
	struct rf_backing_op *op;

	if (size > cap)
		return -EINVAL;
	op = op_get(req, BK_READ, cb, data);
	if (!op)
		return op_error(req, BK_READ, cb);
	if (memory_fs(fd)) {
		ssize_t n = pread(fd, dst, size, off);

		complete_now(req, op, n < 0 ? -errno : (int)n);
		return 0;
	}
	rf__stats_count(req->se, RF_STAT_BACKING_RING);
	io_uring_prep_read(rf__loop_sqe(req->ch->loop, &op->c), fd, dst, (unsigned int)size,
			   (uint64_t)off);
	return 0;
}

int rf_backing_write(struct rf_req *req, int fd, const void *buf, size_t size, off_t off,
		     rf_backing_cb cb, void *data)
{
	struct rf_backing_op *op;

	if (size > UINT32_MAX)
		return -EINVAL;
	op = op_get(req, BK_WRITE, cb, data);
	if (!op)
		return op_error(req, BK_WRITE, cb);
	if (memory_fs(fd)) {
		ssize_t n = pwrite(fd, buf, size, off);

		complete_now(req, op, n < 0 ? -errno : (int)n);
		return 0;
	}
	rf__stats_count(req->se, RF_STAT_BACKING_RING);
	io_uring_prep_write(rf__loop_sqe(req->ch->loop, &op->c), fd, buf, (unsigned int)size,
			    (uint64_t)off);
	return 0;
}

int rf_backing_fsync(struct rf_req *req, int fd, int datasync, rf_backing_cb cb, void *data)
{
	BACKING_SQE(req, BK_ERR, cb, data, op, sqe);
	io_uring_prep_fsync(sqe, fd, datasync ? IORING_FSYNC_DATASYNC : 0);
	return 0;
}

int rf_backing_fallocate(struct rf_req *req, int fd, int mode, off_t off, off_t len,
			 rf_backing_cb cb, void *data)
{
	BACKING_SQE(req, BK_ERR, cb, data, op, sqe);
	io_uring_prep_fallocate(sqe, fd, mode, (uint64_t)off, (uint64_t)len);
	return 0;
}

struct truncate_args {
	int fd;
	off_t len;
};

static int do_ftruncate(void *arg)
{
	struct truncate_args *a = arg;

	return ftruncate(a->fd, a->len) < 0 ? -errno : 0;
}

int rf_backing_ftruncate(struct rf_req *req, int fd, off_t len, rf_backing_cb cb, void *data)
{
	struct rf_loop *loop = req->ch->loop;

	if (loop->has_ftruncate) {
		BACKING_SQE(req, BK_ERR, cb, data, op, sqe);
		io_uring_prep_rw(RF_IORING_OP_FTRUNCATE, sqe, fd, NULL, 0, (uint64_t)len);
		return 0;
	} else {
		/* The arguments live in the request's payload area, unused by this reply. */
		struct truncate_args *a = rf_req_payload(req, NULL);

		a->fd = fd;
		a->len = len;
		return rf_backing_call(req, do_ftruncate, a, cb, data);
	}
}

int rf_backing_openat(struct rf_req *req, int dirfd, const char *path, int flags, mode_t mode,
		      rf_backing_cb cb, void *data)
{
	BACKING_SQE(req, BK_NEEDS_CB, cb, data, op, sqe);
	io_uring_prep_openat(sqe, dirfd, path, flags | O_CLOEXEC, mode);
	return 0;
}

int rf_backing_close(struct rf_req *req, int fd, rf_backing_cb cb, void *data)
{
	BACKING_SQE(req, BK_ERR, cb, data, op, sqe);
	io_uring_prep_close(sqe, fd);
	return 0;
}

int rf_backing_statx(struct rf_req *req, int dirfd, const char *path, int flags,
		     unsigned int mask, struct statx *out, rf_backing_cb cb, void *data)
{
	BACKING_SQE(req, BK_NEEDS_CB, cb, data, op, sqe);
	io_uring_prep_statx(sqe, dirfd, path, flags, mask, out);
	return 0;
}

int rf_backing_renameat2(struct rf_req *req, int olddirfd, const char *oldpath, int newdirfd,
			 const char *newpath, unsigned int flags, rf_backing_cb cb, void *data)
{
	BACKING_SQE(req, BK_ERR, cb, data, op, sqe);
	io_uring_prep_renameat(sqe, olddirfd, oldpath, newdirfd, newpath, flags);
	return 0;
}

int rf_backing_unlinkat(struct rf_req *req, int dirfd, const char *path, int flags,
			rf_backing_cb cb, void *data)
{
	BACKING_SQE(req, BK_ERR, cb, data, op, sqe);
	io_uring_prep_unlinkat(sqe, dirfd, path, flags);
	return 0;
}

int rf_backing_mkdirat(struct rf_req *req, int dirfd, const char *path, mode_t mode,
		       rf_backing_cb cb, void *data)
{
	BACKING_SQE(req, BK_ERR, cb, data, op, sqe);
	io_uring_prep_mkdirat(sqe, dirfd, path, mode);
	return 0;
}

int rf_backing_symlinkat(struct rf_req *req, const char *target, int newdirfd,
			 const char *linkpath, rf_backing_cb cb, void *data)
{
	BACKING_SQE(req, BK_ERR, cb, data, op, sqe);
	io_uring_prep_symlinkat(sqe, target, newdirfd, linkpath);
	return 0;
}

int rf_backing_linkat(struct rf_req *req, int olddirfd, const char *oldpath, int newdirfd,
		      const char *newpath, int flags, rf_backing_cb cb, void *data)
{
	BACKING_SQE(req, BK_ERR, cb, data, op, sqe);
	io_uring_prep_linkat(sqe, olddirfd, oldpath, newdirfd, newpath, flags);
	return 0;
}

void rf__backing_cancel(struct rf_req *req)
{
	int i;

	for (i = 0; i < RF_REQ_MAX_BACKING; i++) {
		struct rf_backing_op *op = &req->backing[i];
		struct io_uring_sqe *sqe;

		/* A worker call cannot be stopped; its callback still comes. */
		if (!op->busy || op->kind == BK_CALL)
			continue;
		sqe = rf__loop_sqe(req->ch->loop, NULL);
		io_uring_prep_cancel(sqe, &op->c, 0);
	}
}

/* ---- blocking calls on the loop's worker pool ------------------------------------------ */

/* On the loop: the worker finished the call. */
static void on_call_done(struct rf_loop *loop, struct rf_work *w)
{
	struct rf_backing_op *op = rf_container_of(w, struct rf_backing_op, work);

	on_backing(loop, &op->c, w->result, 0);
}

int rf_backing_call(struct rf_req *req, int (*fn)(void *arg), void *arg, rf_backing_cb cb,
		    void *data)
{
	struct rf_backing_op *op;
	int ret;

	if (!fn)
		return -EINVAL;
	op = op_get(req, BK_CALL, cb, data);
	if (!op)
		return op_error(req, BK_CALL, cb);
	op->work.fn = fn;
	op->work.arg = arg;
	op->work.done = on_call_done;
	rf__stats_count(req->se, RF_STAT_BACKING_WORKER);
	ret = rf__loop_work(req->ch->loop, &op->work);
	if (ret < 0) {
		op->busy = false;
		req->nbacking--;
	}
	return ret;
}
