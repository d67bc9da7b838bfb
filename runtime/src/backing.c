/* SPDX-License-Identifier: MIT */
/*
 * backing.c - a filesystem's own file operations, submitted on the ring of the loop that
 * serves the request and completed from their CQE, or done in place when inline.c says the
 * backing filesystem answers at once; plus a small bounded worker pool for
 * what io_uring cannot do asynchronously (the loop's worker pool). Each operation lives in
 * one of the request's RF_BACKING_MAX slots (no allocation), and the request is not
 * finished - its slot, fh and inodes stay held - until the last one completed
 * (docs/architecture.md §4).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

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

/* The post that carries a result computed in place (complete_now). */
static void on_known_result(struct rf_loop *loop, struct rf_post *p)
{
	struct rf_backing_op *op = rf_container_of(p, struct rf_backing_op, post);

	loop->inflight--;
	on_backing(loop, &op->c, op->result, 0);
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

/*
 * A call done in place (inline.c decides where; ringfuse.h "Where the call runs"): its
 * completion still comes later, on the loop, exactly once - from a post to the loop, which
 * the loop runs in the same round, before it sleeps, without a system call or an SQE.
 */
static void complete_now(struct rf_req *req, struct rf_backing_op *op, int res)
{
	struct rf_loop *loop = req->ch->loop;

	rf__stats_count(req->se, RF_STAT_BACKING_INLINE);
	if (!op->cb) {
		/* Nothing waits for a callback: reply right away. */
		op->busy = false;
		req->nbacking--;
		default_reply(req, op->kind, res);
		rf__req_finish(req);
		return;
	}
	op->result = res;
	op->post.fn = on_known_result;
	loop->inflight++;               /* a teardown drain waits for it like for an SQE */
	rf__loop_post_local(loop, &op->post);
}

/* The mode of @req's session (-o inline). */
#define MODE(req) ((req)->se->opts.inline_mode)

/*
 * Run @call in place if the policy says so for @fd and @kind, completing @op from its
 * result (>= 0, or -1 with errno), and return 0 from the enclosing function.
 */
#define TRY_INLINE(req, op, fd, kind, call)                                    \
	do {                                                                   \
		struct rf_inline_ticket t_;                                    \
		if (rf__inline_how(MODE(req), fd, kind, &t_) != RF_RUN_RING) {  \
			long r_ = (long)(call);                                \
			int res_ = r_ < 0 ? -errno : (int)r_;                  \
			rf__inline_done(&t_);                                  \
			complete_now(req, op, res_);                           \
			return 0;                                              \
		}                                                              \
	} while (0)

/* An op slot, or return its error from the enclosing function. */
#define OP_GET(req, kind, cb, data, op)                                        \
	struct rf_backing_op *op = op_get(req, kind, cb, data);                \
	if (!op)                                                               \
		return op_error(req, kind, cb)

/* ... and the ring's SQE for it. */
static struct io_uring_sqe *ring_sqe(struct rf_req *req, struct rf_backing_op *op)
{
	rf__stats_count(req->se, RF_STAT_BACKING_RING);
	return rf__loop_sqe(req->ch->loop, &op->c);
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
	TRY_INLINE(req, op, fd, RF_IK_DATA, pread(fd, dst, size, off));
	io_uring_prep_read(ring_sqe(req, op), fd, dst, (unsigned int)size, (uint64_t)off);
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
	TRY_INLINE(req, op, fd, RF_IK_DATA, pwrite(fd, buf, size, off));
	io_uring_prep_write(ring_sqe(req, op), fd, buf, (unsigned int)size, (uint64_t)off);
	return 0;
}

int rf_backing_fsync(struct rf_req *req, int fd, int datasync, rf_backing_cb cb, void *data)
{
	OP_GET(req, BK_ERR, cb, data, op);
	TRY_INLINE(req, op, fd, RF_IK_SYNC, datasync ? fdatasync(fd) : fsync(fd));
	io_uring_prep_fsync(ring_sqe(req, op), fd, datasync ? IORING_FSYNC_DATASYNC : 0);
	return 0;
}

int rf_backing_fallocate(struct rf_req *req, int fd, int mode, off_t off, off_t len,
			 rf_backing_cb cb, void *data)
{
	OP_GET(req, BK_ERR, cb, data, op);
	TRY_INLINE(req, op, fd, RF_IK_SYNC, fallocate(fd, mode, off, len));
	io_uring_prep_fallocate(ring_sqe(req, op), fd, mode, (uint64_t)off, (uint64_t)len);
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
	struct rf_inline_ticket t;

	if (rf__inline_how(MODE(req), fd, RF_IK_SYNC, &t) != RF_RUN_RING) {
		OP_GET(req, BK_ERR, cb, data, op);
		int r = ftruncate(fd, len) < 0 ? -errno : 0;

		rf__inline_done(&t);
		complete_now(req, op, r);
		return 0;
	}
	if (loop->has_ftruncate) {
		OP_GET(req, BK_ERR, cb, data, op);
		io_uring_prep_rw(RF_IORING_OP_FTRUNCATE, ring_sqe(req, op), fd, NULL, 0, (uint64_t)len);
		return 0;
	} else {
		/* The arguments live in the request's payload area, unused by this reply. */
		struct truncate_args *a = rf_req_payload(req, NULL);

		a->fd = fd;
		a->len = len;
		return rf_backing_call(req, do_ftruncate, a, cb, data);
	}
}

/* The fd whose filesystem decides for a path call: @dirfd, or N of "/proc/self/fd/N"
 * (the way to reopen an O_PATH fd), or -1 (unknown: the ring). */
static int path_fd(int dirfd, const char *path)
{
	static const char proc[] = "/proc/self/fd/";
	long n = 0;
	const char *p;

	if (path[0] != '/')
		return dirfd;
	if (strncmp(path, proc, sizeof(proc) - 1))
		return -1;
	for (p = path + sizeof(proc) - 1; *p >= '0' && *p <= '9' && n < INT32_MAX; p++)
		n = n * 10 + (*p - '0');
	return *p || p == path + sizeof(proc) - 1 || n >= INT32_MAX ? -1 : (int)n;
}

int rf_backing_openat(struct rf_req *req, int dirfd, const char *path, int flags, mode_t mode,
		      rf_backing_cb cb, void *data)
{
	struct rf_inline_ticket t;
	bool reopen = path[0] == '/';
	int kind = (flags & (O_CREAT | O_TRUNC | __O_TMPFILE)) || reopen ? RF_IK_NAME : RF_IK_LOOKUP;
	int how, r;

	OP_GET(req, BK_NEEDS_CB, cb, data, op);
	how = rf__inline_how(MODE(req), path_fd(dirfd, path), kind, &t);
	if (how == RF_RUN_CACHED) {
		/* A disk filesystem: only a lookup the dcache answers is done in place; one
		 * that would read the disk says EAGAIN and goes to the ring. */
		struct open_how oh = { .flags = (uint64_t)(flags | O_CLOEXEC),
				       .resolve = RESOLVE_CACHED };

		r = (int)syscall(SYS_openat2, dirfd, path, &oh, sizeof(oh));
		if (r >= 0 || (errno != EAGAIN && errno != ENOSYS && errno != EINVAL)) {
			r = r < 0 ? -errno : r;
			rf__inline_done(&t);
			complete_now(req, op, r);
			return 0;
		}
	} else if (how == RF_RUN_INLINE) {
		r = openat(dirfd, path, flags | O_CLOEXEC, mode);
		r = r < 0 ? -errno : r;
		rf__inline_done(&t);
		complete_now(req, op, r);
		return 0;
	}
	io_uring_prep_openat(ring_sqe(req, op), dirfd, path, flags | O_CLOEXEC, mode);
	return 0;
}

int rf_backing_close(struct rf_req *req, int fd, rf_backing_cb cb, void *data)
{
	struct rf_inline_ticket t;
	int how;

	OP_GET(req, BK_ERR, cb, data, op);
	how = rf__inline_how(MODE(req), fd, RF_IK_SYNC, &t);
	rf_backing_forget_fd(fd);       /* before the number can be reused */
	if (how != RF_RUN_RING) {
		int r = close(fd) < 0 ? -errno : 0;

		rf__inline_done(&t);
		complete_now(req, op, r);
		return 0;
	}
	io_uring_prep_close(ring_sqe(req, op), fd);
	return 0;
}

int rf_backing_flush_needed(struct rf_req *req, int fd)
{
	/* Memory and disk filesystems have no flush method: close(2) reports nothing there
	 * (our locks are OFD locks, which a close of a duplicate leaves alone). */
	return MODE(req) == RF_INLINE_NEVER ||
	       rf__inline_slot_class(rf__inline_slot(fd)) == RF_SRC_REMOTE;
}

int rf_backing_flush(struct rf_req *req, int fd, rf_backing_cb cb, void *data)
{
	struct rf_inline_ticket t;
	int how, dfd;

	OP_GET(req, BK_ERR, cb, data, op);
	if (!rf_backing_flush_needed(req, fd)) {
		complete_now(req, op, 0);
		return 0;
	}
	dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0) {
		complete_now(req, op, -errno);
		return 0;
	}
	how = rf__inline_how(MODE(req), fd, RF_IK_SYNC, &t);
	if (how != RF_RUN_RING) {
		int r = close(dfd) < 0 ? -errno : 0;

		rf__inline_done(&t);
		complete_now(req, op, r);
		return 0;
	}
	io_uring_prep_close(ring_sqe(req, op), dfd);
	return 0;
}

int rf_backing_statx(struct rf_req *req, int dirfd, const char *path, int flags,
		     unsigned int mask, struct statx *out, rf_backing_cb cb, void *data)
{
	OP_GET(req, BK_NEEDS_CB, cb, data, op);
	TRY_INLINE(req, op, path_fd(dirfd, path), RF_IK_NAME,
		   statx(dirfd, path, flags, mask, out));
	io_uring_prep_statx(ring_sqe(req, op), dirfd, path, flags, mask, out);
	return 0;
}

int rf_backing_renameat2(struct rf_req *req, int olddirfd, const char *oldpath, int newdirfd,
			 const char *newpath, unsigned int flags, rf_backing_cb cb, void *data)
{
	OP_GET(req, BK_ERR, cb, data, op);
	TRY_INLINE(req, op, path_fd(olddirfd, oldpath), RF_IK_NAME,
		   renameat2(olddirfd, oldpath, newdirfd, newpath, flags));
	io_uring_prep_renameat(ring_sqe(req, op), olddirfd, oldpath, newdirfd, newpath, flags);
	return 0;
}

int rf_backing_unlinkat(struct rf_req *req, int dirfd, const char *path, int flags,
			rf_backing_cb cb, void *data)
{
	OP_GET(req, BK_ERR, cb, data, op);
	TRY_INLINE(req, op, path_fd(dirfd, path), RF_IK_NAME, unlinkat(dirfd, path, flags));
	io_uring_prep_unlinkat(ring_sqe(req, op), dirfd, path, flags);
	return 0;
}

int rf_backing_mkdirat(struct rf_req *req, int dirfd, const char *path, mode_t mode,
		       rf_backing_cb cb, void *data)
{
	OP_GET(req, BK_ERR, cb, data, op);
	TRY_INLINE(req, op, path_fd(dirfd, path), RF_IK_NAME, mkdirat(dirfd, path, mode));
	io_uring_prep_mkdirat(ring_sqe(req, op), dirfd, path, mode);
	return 0;
}

int rf_backing_symlinkat(struct rf_req *req, const char *target, int newdirfd,
			 const char *linkpath, rf_backing_cb cb, void *data)
{
	OP_GET(req, BK_ERR, cb, data, op);
	TRY_INLINE(req, op, path_fd(newdirfd, linkpath), RF_IK_NAME,
		   symlinkat(target, newdirfd, linkpath));
	io_uring_prep_symlinkat(ring_sqe(req, op), target, newdirfd, linkpath);
	return 0;
}

int rf_backing_linkat(struct rf_req *req, int olddirfd, const char *oldpath, int newdirfd,
		      const char *newpath, int flags, rf_backing_cb cb, void *data)
{
	OP_GET(req, BK_ERR, cb, data, op);
	TRY_INLINE(req, op, path_fd(newdirfd, newpath), RF_IK_NAME,
		   linkat(olddirfd, oldpath, newdirfd, newpath, flags));
	io_uring_prep_linkat(ring_sqe(req, op), olddirfd, oldpath, newdirfd, newpath, flags);
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
