/* SPDX-License-Identifier: MIT */
/*
 * ops.c - the runtime's operations table for a libfuse session: each rf_ops member wraps
 * its rf_req in a fuse_req (req.c), converts the arguments and runs the filesystem's
 * fuse_lowlevel_ops handler, on the loop thread (fuse_session_loop), on one of the
 * blocking loops or on the worker pool (fuse_session_loop_mt, -o mt_pool). INIT is
 * init.c's; replies are reply.c's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

#include "fuse3_int.h"

/* Wrap @r for @op, or answer ENOMEM when no wrapper can be had. */
#define WRAP(req, r, op)                                                         \
	struct fuse_req *req = rf_fuse3_req_get(rf_req_userdata(r), (r), (op));  \
	if (!req) {                                                              \
		rf_reply_err((r), -ENOMEM);                                      \
		return;                                                          \
	}

/* ---- the runtime's callbacks ----------------------------------------------------------- */

static void t_lookup(struct rf_req *r, uint64_t parent, const char *name)
{
	WRAP(req, r, RF3_OP_LOOKUP);
	req->a.ino = parent;
	req->a.name = name;
	rf_fuse3_dispatch(req);
}

static void t_forget(void *userdata, uint64_t ino, uint64_t nlookup)
{
	struct fuse_session *se = userdata;
	struct fuse_req *req;

	if (se->custom) {
		rf_fuse3_custom_forget(se, ino, nlookup);
		return;
	}
	req = rf_fuse3_req_get(se, NULL, RF3_OP_FORGET);

	if (!req) {
		fuse_log(FUSE_LOG_ERR, "fuse: out of memory: FORGET of inode %llu dropped\n",
			 (unsigned long long)ino);
		return;
	}
	req->a.ino = ino;
	req->a.u64 = nlookup;
	rf_fuse3_dispatch(req);
}

static void t_getattr(struct rf_req *r, uint64_t ino, struct rf_file *fi)
{
	WRAP(req, r, RF3_OP_GETATTR);
	req->a.ino = ino;
	rf_fuse3_fi_arg(req, fi);
	rf_fuse3_dispatch(req);
}

static void t_setattr(struct rf_req *r, uint64_t ino, const struct stat *attr, int to_set,
		      struct rf_file *fi)
{
	/* The FUSE_SET_ATTR_* bits libfuse 3.14 passes on; the kernel's one "kill suid and
	 * sgid" bit becomes libfuse's two. */
	int mask = FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |
		   FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
		   FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;
	WRAP(req, r, RF3_OP_SETATTR);
	req->a.ino = ino;
	req->a.attr = *attr;
	req->a.i = to_set & mask;
	if (to_set & RF_SET_KILL_SUIDGID)
		req->a.i |= FUSE_SET_ATTR_KILL_SUID | FUSE_SET_ATTR_KILL_SGID;
	rf_fuse3_fi_arg(req, fi);
	rf_fuse3_dispatch(req);
}

static void t_readlink(struct rf_req *r, uint64_t ino)
{
	WRAP(req, r, RF3_OP_READLINK);
	req->a.ino = ino;
	rf_fuse3_dispatch(req);
}

static void t_mknod(struct rf_req *r, uint64_t parent, const char *name, mode_t mode,
		    dev_t rdev)
{
	WRAP(req, r, RF3_OP_MKNOD);
	req->a.ino = parent;
	req->a.name = name;
	req->a.mode = mode;
	req->a.rdev = rdev;
	rf_fuse3_dispatch(req);
}

static void t_mkdir(struct rf_req *r, uint64_t parent, const char *name, mode_t mode)
{
	WRAP(req, r, RF3_OP_MKDIR);
	req->a.ino = parent;
	req->a.name = name;
	req->a.mode = mode;
	rf_fuse3_dispatch(req);
}

static void t_unlink(struct rf_req *r, uint64_t parent, const char *name)
{
	WRAP(req, r, RF3_OP_UNLINK);
	req->a.ino = parent;
	req->a.name = name;
	rf_fuse3_dispatch(req);
}

static void t_rmdir(struct rf_req *r, uint64_t parent, const char *name)
{
	WRAP(req, r, RF3_OP_RMDIR);
	req->a.ino = parent;
	req->a.name = name;
	rf_fuse3_dispatch(req);
}

static void t_symlink(struct rf_req *r, const char *target, uint64_t parent, const char *name)
{
	WRAP(req, r, RF3_OP_SYMLINK);
	req->a.name2 = target;
	req->a.ino = parent;
	req->a.name = name;
	rf_fuse3_dispatch(req);
}

static void t_rename(struct rf_req *r, uint64_t parent, const char *name, uint64_t newparent,
		     const char *newname, unsigned int flags)
{
	WRAP(req, r, RF3_OP_RENAME);
	req->a.ino = parent;
	req->a.name = name;
	req->a.ino2 = newparent;
	req->a.name2 = newname;
	req->a.flags = flags;
	rf_fuse3_dispatch(req);
}

static void t_link(struct rf_req *r, uint64_t ino, uint64_t newparent, const char *newname)
{
	WRAP(req, r, RF3_OP_LINK);
	req->a.ino = ino;
	req->a.ino2 = newparent;
	req->a.name = newname;
	rf_fuse3_dispatch(req);
}

static void t_open(struct rf_req *r, uint64_t ino, struct rf_file *fi)
{
	WRAP(req, r, RF3_OP_OPEN);
	req->a.ino = ino;
	rf_fuse3_fi_arg(req, fi);
	rf_fuse3_dispatch(req);
}

static void t_read(struct rf_req *r, uint64_t ino, size_t size, off_t off, struct rf_file *fi)
{
	WRAP(req, r, RF3_OP_READ);
	req->a.ino = ino;
	req->a.size = size;
	req->a.off = off;
	rf_fuse3_fi_arg(req, fi);
	rf_fuse3_dispatch(req);
}

static void t_write(struct rf_req *r, uint64_t ino, const void *buf, size_t size, off_t off,
		    struct rf_file *fi)
{
	WRAP(req, r, RF3_OP_WRITE);
	req->a.ino = ino;
	req->a.buf = buf;
	req->a.size = size;
	req->a.off = off;
	rf_fuse3_fi_arg(req, fi);
	rf_fuse3_dispatch(req);
}

/* The requests that carry only a node and an open file. */
static void fh_op(struct rf_req *r, uint64_t ino, struct rf_file *fi, int op)
{
	WRAP(req, r, op);
	req->a.ino = ino;
	rf_fuse3_fi_arg(req, fi);
	rf_fuse3_dispatch(req);
}

#define FH_OP(fn, OP)                                                  \
	static void fn(struct rf_req *r, uint64_t ino, struct rf_file *fi) \
	{                                                              \
		fh_op(r, ino, fi, OP);                                 \
	}
FH_OP(t_flush, RF3_OP_FLUSH)
FH_OP(t_opendir, RF3_OP_OPENDIR)

/* A RELEASE outside fuse_session_process_buf in a custom loop is the teardown's, for a
 * handle the kernel left open (session.c, rf_fuse3_custom_end_release): answered here. */
#define RELEASE_OP(fn, OP)                                                     \
	static void fn(struct rf_req *r, uint64_t ino, struct rf_file *fi)     \
	{                                                                      \
		if (rf_fuse3_custom_end_release(rf_req_userdata(r), ino,       \
						OP == RF3_OP_RELEASEDIR))      \
			rf_reply_err(r, 0);                                    \
		else                                                           \
			fh_op(r, ino, fi, OP);                                 \
	}
RELEASE_OP(t_release, RF3_OP_RELEASE)
RELEASE_OP(t_releasedir, RF3_OP_RELEASEDIR)

static void t_fsync(struct rf_req *r, uint64_t ino, int datasync, struct rf_file *fi)
{
	WRAP(req, r, RF3_OP_FSYNC);
	req->a.ino = ino;
	req->a.i = datasync;
	rf_fuse3_fi_arg(req, fi);
	rf_fuse3_dispatch(req);
}

static void t_fsyncdir(struct rf_req *r, uint64_t ino, int datasync, struct rf_file *fi)
{
	WRAP(req, r, RF3_OP_FSYNCDIR);
	req->a.ino = ino;
	req->a.i = datasync;
	rf_fuse3_fi_arg(req, fi);
	rf_fuse3_dispatch(req);
}

static void t_readdir(struct rf_req *r, uint64_t ino, size_t size, off_t off,
		      struct rf_file *fi)
{
	WRAP(req, r, RF3_OP_READDIR);
	req->a.ino = ino;
	req->a.size = size;
	req->a.off = off;
	rf_fuse3_fi_arg(req, fi);
	rf_fuse3_dispatch(req);
}

static void t_readdirplus(struct rf_req *r, uint64_t ino, size_t size, off_t off,
			  struct rf_file *fi)
{
	WRAP(req, r, RF3_OP_READDIRPLUS);
	req->a.ino = ino;
	req->a.size = size;
	req->a.off = off;
	rf_fuse3_fi_arg(req, fi);
	rf_fuse3_dispatch(req);
}

static void t_statfs(struct rf_req *r, uint64_t ino)
{
	WRAP(req, r, RF3_OP_STATFS);
	req->a.ino = ino;
	rf_fuse3_dispatch(req);
}

static void t_setxattr(struct rf_req *r, uint64_t ino, const char *name, const void *value,
		       size_t size, int flags)
{
	WRAP(req, r, RF3_OP_SETXATTR);
	req->a.ino = ino;
	req->a.name = name;
	req->a.buf = value;
	req->a.size = size;
	req->a.i = flags;
	rf_fuse3_dispatch(req);
}

static void t_getxattr(struct rf_req *r, uint64_t ino, const char *name, size_t size)
{
	WRAP(req, r, RF3_OP_GETXATTR);
	req->a.ino = ino;
	req->a.name = name;
	req->a.size = size;
	rf_fuse3_dispatch(req);
}

static void t_listxattr(struct rf_req *r, uint64_t ino, size_t size)
{
	WRAP(req, r, RF3_OP_LISTXATTR);
	req->a.ino = ino;
	req->a.size = size;
	rf_fuse3_dispatch(req);
}

static void t_removexattr(struct rf_req *r, uint64_t ino, const char *name)
{
	WRAP(req, r, RF3_OP_REMOVEXATTR);
	req->a.ino = ino;
	req->a.name = name;
	rf_fuse3_dispatch(req);
}

static void t_access(struct rf_req *r, uint64_t ino, int mask)
{
	WRAP(req, r, RF3_OP_ACCESS);
	req->a.ino = ino;
	req->a.i = mask;
	rf_fuse3_dispatch(req);
}

static void t_create(struct rf_req *r, uint64_t parent, const char *name, mode_t mode,
		     struct rf_file *fi)
{
	WRAP(req, r, RF3_OP_CREATE);
	req->a.ino = parent;
	req->a.name = name;
	req->a.mode = mode;
	rf_fuse3_fi_arg(req, fi);
	rf_fuse3_dispatch(req);
}

static void t_getlk(struct rf_req *r, uint64_t ino, struct rf_file *fi, struct flock *lock)
{
	WRAP(req, r, RF3_OP_GETLK);
	req->a.ino = ino;
	req->a.lock = lock;
	rf_fuse3_fi_arg(req, fi);
	rf_fuse3_dispatch(req);
}

static void t_setlk(struct rf_req *r, uint64_t ino, struct rf_file *fi, struct flock *lock,
		    int sleep)
{
	WRAP(req, r, RF3_OP_SETLK);
	req->a.ino = ino;
	req->a.lock = lock;
	req->a.i = sleep;
	rf_fuse3_fi_arg(req, fi);
	rf_fuse3_dispatch(req);
}

static void t_flock(struct rf_req *r, uint64_t ino, struct rf_file *fi, int op)
{
	WRAP(req, r, RF3_OP_FLOCK);
	req->a.ino = ino;
	req->a.i = op;
	rf_fuse3_fi_arg(req, fi);
	rf_fuse3_dispatch(req);
}

static void t_bmap(struct rf_req *r, uint64_t ino, size_t blocksize, uint64_t idx)
{
	WRAP(req, r, RF3_OP_BMAP);
	req->a.ino = ino;
	req->a.size = blocksize;
	req->a.u64 = idx;
	rf_fuse3_dispatch(req);
}

static void t_ioctl(struct rf_req *r, uint64_t ino, unsigned int cmd, void *arg,
		    struct rf_file *fi, unsigned int flags, const void *in_buf, size_t in_size,
		    size_t out_size)
{
	struct fuse_session *se = rf_req_userdata(r);

	/* As libfuse: directory ioctls only when the filesystem asked for them. */
	if ((flags & FUSE_IOCTL_DIR) && !(se->conn.want & FUSE_CAP_IOCTL_DIR)) {
		rf_reply_err(r, -ENOTTY);
		return;
	}
	WRAP(req, r, RF3_OP_IOCTL);
	req->a.ino = ino;
	req->a.i = (int)cmd;
	req->a.cookie = arg;
	req->a.flags = flags;
	req->a.buf = in_buf;
	req->a.size = in_size;
	req->a.u64 = out_size;
	rf_fuse3_fi_arg(req, fi);
	rf_fuse3_dispatch(req);
}

static void t_poll(struct rf_req *r, uint64_t ino, struct rf_file *fi, uint64_t ph)
{
	WRAP(req, r, RF3_OP_POLL);
	req->a.ino = ino;
	rf_fuse3_fi_arg(req, fi);
	if (ph) {
		req->a.ph = malloc(sizeof(*req->a.ph));
		if (!req->a.ph) {
			rf_reply_err(r, -ENOMEM);
			rf_fuse3_req_put(req);
			return;
		}
		req->a.ph->kh = ph;
		req->a.ph->se = req->se;
	}
	rf_fuse3_dispatch(req);
}

static void t_fallocate(struct rf_req *r, uint64_t ino, int mode, off_t off, off_t len,
			struct rf_file *fi)
{
	WRAP(req, r, RF3_OP_FALLOCATE);
	req->a.ino = ino;
	req->a.i = mode;
	req->a.off = off;
	req->a.off2 = len;
	rf_fuse3_fi_arg(req, fi);
	rf_fuse3_dispatch(req);
}

static void t_copy_file_range(struct rf_req *r, uint64_t ino_in, off_t off_in,
			      struct rf_file *fi_in, uint64_t ino_out, off_t off_out,
			      struct rf_file *fi_out, size_t len, int flags)
{
	WRAP(req, r, RF3_OP_COPY_FILE_RANGE);
	req->a.ino = ino_in;
	req->a.off = off_in;
	rf_fuse3_fi_arg(req, fi_in);
	req->a.ino2 = ino_out;
	req->a.off2 = off_out;
	req->rfi2 = fi_out;
	rf_fuse3_fi_from_rf(&req->fi2, fi_out);
	req->a.size = len;
	req->a.i = flags;
	rf_fuse3_dispatch(req);
}

static void t_lseek(struct rf_req *r, uint64_t ino, off_t off, int whence, struct rf_file *fi)
{
	WRAP(req, r, RF3_OP_LSEEK);
	req->a.ino = ino;
	req->a.off = off;
	req->a.i = whence;
	rf_fuse3_fi_arg(req, fi);
	rf_fuse3_dispatch(req);
}

static void t_retrieve_reply(void *userdata, void *cookie, uint64_t ino, off_t off,
			     const void *buf, size_t size)
{
	struct fuse_session *se = userdata;
	struct fuse_req *req = rf_fuse3_req_get(se, NULL, RF3_OP_RETRIEVE_REPLY);

	if (!req) {
		fuse_log(FUSE_LOG_ERR, "fuse: out of memory: retrieve reply dropped\n");
		return;
	}
	req->a.ino = ino;
	req->a.off = off;
	req->a.cookie = cookie;
	req->a.size = size;
	req->a.buf = buf;
	if (se->pool) {
		/* The runtime's buffer is only valid during this call. */
		req->a.data = malloc(size ? size : 1);
		if (!req->a.data) {
			fuse_log(FUSE_LOG_ERR, "fuse: out of memory: retrieve reply dropped\n");
			rf_fuse3_req_put(req);
			return;
		}
		memcpy(req->a.data, buf, size);
		req->a.buf = req->a.data;
	}
	rf_fuse3_dispatch(req);
}

/* ---- running a handler ----------------------------------------------------------------- */

static void run_op(struct fuse_req *req)
{
	const struct fuse_lowlevel_ops *op = &req->se->op;
	struct rf_fuse3_args *a = &req->a;
	struct fuse_file_info *fi = req->rfi ? &req->fi : NULL;

	switch (req->op) {
	case RF3_OP_LOOKUP:
		op->lookup(req, a->ino, a->name);
		break;
	case RF3_OP_FORGET:
		if (op->forget) {
			op->forget(req, a->ino, a->u64);
		} else {
			struct fuse_forget_data fd = { .ino = a->ino, .nlookup = a->u64 };

			op->forget_multi(req, 1, &fd);
		}
		break;
	case RF3_OP_GETATTR:
		op->getattr(req, a->ino, fi);
		break;
	case RF3_OP_SETATTR:
		op->setattr(req, a->ino, &a->attr, a->i, fi);
		break;
	case RF3_OP_READLINK:
		op->readlink(req, a->ino);
		break;
	case RF3_OP_MKNOD:
		op->mknod(req, a->ino, a->name, a->mode, a->rdev);
		break;
	case RF3_OP_MKDIR:
		op->mkdir(req, a->ino, a->name, a->mode);
		break;
	case RF3_OP_UNLINK:
		op->unlink(req, a->ino, a->name);
		break;
	case RF3_OP_RMDIR:
		op->rmdir(req, a->ino, a->name);
		break;
	case RF3_OP_SYMLINK:
		op->symlink(req, a->name2, a->ino, a->name);
		break;
	case RF3_OP_RENAME:
		op->rename(req, a->ino, a->name, a->ino2, a->name2, a->flags);
		break;
	case RF3_OP_LINK:
		op->link(req, a->ino, a->ino2, a->name);
		break;
	case RF3_OP_OPEN:
		op->open(req, a->ino, fi);
		break;
	case RF3_OP_READ:
		op->read(req, a->ino, a->size, a->off, fi);
		break;
	case RF3_OP_WRITE:
		if (op->write_buf) {
			a->bufv = (struct fuse_bufvec)FUSE_BUFVEC_INIT(a->size);
			a->bufv.buf[0].mem = (void *)a->buf;
			op->write_buf(req, a->ino, &a->bufv, a->off, fi);
		} else {
			op->write(req, a->ino, a->buf, a->size, a->off, fi);
		}
		break;
	case RF3_OP_FLUSH:
		op->flush(req, a->ino, fi);
		break;
	case RF3_OP_RELEASE:
		op->release(req, a->ino, fi);
		break;
	case RF3_OP_FSYNC:
		op->fsync(req, a->ino, a->i, fi);
		break;
	case RF3_OP_OPENDIR:
		op->opendir(req, a->ino, fi);
		break;
	case RF3_OP_READDIR:
		op->readdir(req, a->ino, a->size, a->off, fi);
		break;
	case RF3_OP_READDIRPLUS:
		op->readdirplus(req, a->ino, a->size, a->off, fi);
		break;
	case RF3_OP_RELEASEDIR:
		op->releasedir(req, a->ino, fi);
		break;
	case RF3_OP_FSYNCDIR:
		op->fsyncdir(req, a->ino, a->i, fi);
		break;
	case RF3_OP_STATFS:
		op->statfs(req, a->ino);
		break;
	case RF3_OP_SETXATTR:
		op->setxattr(req, a->ino, a->name, a->buf, a->size, a->i);
		break;
	case RF3_OP_GETXATTR:
		op->getxattr(req, a->ino, a->name, a->size);
		break;
	case RF3_OP_LISTXATTR:
		op->listxattr(req, a->ino, a->size);
		break;
	case RF3_OP_REMOVEXATTR:
		op->removexattr(req, a->ino, a->name);
		break;
	case RF3_OP_ACCESS:
		op->access(req, a->ino, a->i);
		break;
	case RF3_OP_CREATE:
		op->create(req, a->ino, a->name, a->mode, fi);
		break;
	case RF3_OP_GETLK:
		op->getlk(req, a->ino, fi, a->lock);
		break;
	case RF3_OP_SETLK:
		op->setlk(req, a->ino, fi, a->lock, a->i);
		break;
	case RF3_OP_FLOCK:
		op->flock(req, a->ino, fi, a->i);
		break;
	case RF3_OP_BMAP:
		op->bmap(req, a->ino, a->size, a->u64);
		break;
	case RF3_OP_IOCTL:
		op->ioctl(req, a->ino, (unsigned int)a->i, a->cookie, fi, a->flags, a->buf,
			  a->size, (size_t)a->u64);
		break;
	case RF3_OP_POLL:
		op->poll(req, a->ino, fi, a->ph);
		break;
	case RF3_OP_FALLOCATE:
		op->fallocate(req, a->ino, a->i, a->off, a->off2, fi);
		break;
	case RF3_OP_COPY_FILE_RANGE:
		op->copy_file_range(req, a->ino, a->off, fi, a->ino2, a->off2,
				    req->rfi2 ? &req->fi2 : NULL, a->size, a->i);
		break;
	case RF3_OP_LSEEK:
		op->lseek(req, a->ino, a->off, a->i, fi);
		break;
	case RF3_OP_RETRIEVE_REPLY: {
		void *data = a->data;
		struct fuse_bufvec bufv = FUSE_BUFVEC_INIT(a->size);

		bufv.buf[0].mem = (void *)a->buf;
		/* The filesystem replies (fuse_reply_none), which recycles the wrapper. */
		op->retrieve_reply(req, a->cookie, a->ino, a->off, &bufv);
		free(data);
		break;
	}
	default:
		fuse_log(FUSE_LOG_ERR, "fuse: internal error: unknown operation %d\n", req->op);
		if (req->r)
			fuse_reply_err(req, ENOSYS);
		else
			fuse_reply_none(req);
	}
}

/*
 * Run @req's handler. A high-level session (fuse.h) gives its path lock: every operation
 * holds it shared from building its path to the end of its call into the filesystem, and
 * RENAME holds it exclusive, so a rename never changes a directory's path under an
 * operation that is using the old one (libfuse's per-node tree locks give the same). The
 * lock prefers readers: a handler that blocks for long delays renames only.
 */
void rf_fuse3_run(struct fuse_req *req)
{
	pthread_rwlock_t *pl = req->se->path_lock;   /* @req may be recycled by its reply */
	int opc = req->op;

	if (!pl || opc == RF3_OP_FORGET || opc == RF3_OP_RETRIEVE_REPLY) {
		run_op(req);
		return;
	}
	if (opc == RF3_OP_RENAME)
		pthread_rwlock_wrlock(pl);
	else
		pthread_rwlock_rdlock(pl);
	run_op(req);
	pthread_rwlock_unlock(pl);
}

/* The runtime's table: a member for each operation the filesystem has, so that a missing
 * one gets the protocol's default from the runtime, as from libfuse. */
void rf_fuse3_fill_ops(struct fuse_session *se)
{
	const struct fuse_lowlevel_ops *op = &se->op;
	struct rf_ops *o = &se->rops;

	memset(o, 0, sizeof(*o));
	o->init = rf_fuse3_on_init;
	o->destroy = rf_fuse3_on_destroy;
#define SET(member, fn)                 \
	do {                            \
		if (op->member)         \
			o->member = fn; \
	} while (0)
	SET(lookup, t_lookup);
	if (op->forget || op->forget_multi)
		o->forget = t_forget;
	SET(getattr, t_getattr);
	SET(setattr, t_setattr);
	SET(readlink, t_readlink);
	SET(mknod, t_mknod);
	SET(mkdir, t_mkdir);
	SET(unlink, t_unlink);
	SET(rmdir, t_rmdir);
	SET(symlink, t_symlink);
	SET(rename, t_rename);
	SET(link, t_link);
	SET(open, t_open);
	SET(read, t_read);
	if (op->write || op->write_buf)
		o->write = t_write;
	SET(flush, t_flush);
	SET(release, t_release);
	SET(fsync, t_fsync);
	SET(opendir, t_opendir);
	SET(readdir, t_readdir);
	SET(readdirplus, t_readdirplus);
	SET(releasedir, t_releasedir);
	SET(fsyncdir, t_fsyncdir);
	SET(statfs, t_statfs);
	SET(setxattr, t_setxattr);
	SET(getxattr, t_getxattr);
	SET(listxattr, t_listxattr);
	SET(removexattr, t_removexattr);
	SET(access, t_access);
	SET(create, t_create);
	SET(getlk, t_getlk);
	SET(setlk, t_setlk);
	SET(flock, t_flock);
	SET(bmap, t_bmap);
	SET(ioctl, t_ioctl);
	SET(poll, t_poll);
	SET(fallocate, t_fallocate);
	SET(copy_file_range, t_copy_file_range);
	SET(lseek, t_lseek);
	SET(retrieve_reply, t_retrieve_reply);
#undef SET
}
