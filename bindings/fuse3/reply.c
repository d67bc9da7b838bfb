/* SPDX-License-Identifier: MIT */
/*
 * reply.c - fuse_reply_*, the directory entry packers and fuse_req_*: each reply converts
 * libfuse's arguments to the runtime's rf_reply_* call (which may be made from any
 * thread) and gives the request wrapper back. Packed formats (directory entries, ioctl
 * retries) are the kernel's, from <linux/fuse.h>.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuse3_int.h"
#include <linux/fuse.h>

/*
 * Every reply starts here: a reply to a request that already has one (or to no request)
 * is reported and refused, never sent. The wrappers are recycled in FIFO order, so a
 * stale fuse_req_t is caught unless hundreds of requests came in between; libfuse frees
 * the request at its first reply.
 */
static bool reply_ok(fuse_req_t req, const char *func)
{
	if (!req) {
		fuse_log(FUSE_LOG_ERR, "fuse: %s: NULL request\n", func);
		return false;
	}
	if (atomic_load(&req->state) != RF3_REQ_LIVE) {
		fuse_log(FUSE_LOG_ERR, "fuse: %s: second reply to a request (ignored)\n", func);
		return false;
	}
	return true;
}

/* The reply went to the runtime: the wrapper is free. Unhooking the interrupt callback
 * under its lock waits for a run of it on the loop thread to end, so the filesystem may
 * free what the callback uses once its reply returned. */
static int done(fuse_req_t req, int ret)
{
	pthread_mutex_lock(&req->ilock);
	req->ifunc = NULL;
	req->idata = NULL;
	pthread_mutex_unlock(&req->ilock);
	rf_fuse3_req_put(req);
	return ret;
}

/* A reply meant for a real request, made to FORGET or a retrieve reply. */
static int no_request(fuse_req_t req, const char *func)
{
	fuse_log(FUSE_LOG_ERR, "fuse: %s on a request that takes no reply "
		 "(FORGET or retrieve_reply: use fuse_reply_none)\n", func);
	return done(req, -EINVAL);
}

#define REPLY_START(req)                                   \
	do {                                               \
		if (!reply_ok((req), __func__))            \
			return -EINVAL;                    \
		if (!(req)->r)                             \
			return no_request((req), __func__); \
	} while (0)

int fuse_reply_err(fuse_req_t req, int err)
{
	REPLY_START(req);
	if (err < 0 || err >= 1000) {
		fuse_log(FUSE_LOG_ERR, "fuse: bad error value: %i\n", -err);
		err = ERANGE;
	}
	return done(req, rf_reply_err(req->r, -err));
}

void fuse_reply_none(fuse_req_t req)
{
	if (!reply_ok(req, __func__))
		return;
	if (req->r)
		rf_reply_none(req->r);
	done(req, 0);
}

static void entry_to_rf(struct rf_entry *out, const struct fuse_entry_param *e)
{
	out->ino = e->ino;
	out->generation = e->generation;
	out->attr = e->attr;
	out->attr_timeout = e->attr_timeout;
	out->entry_timeout = e->entry_timeout;
}

/* What OPEN/CREATE/OPENDIR hand back: the fh and the output flags. */
static void fi_to_rf(struct rf_file *rfi, const struct fuse_file_info *fi)
{
	rfi->fh = fi->fh;
	rfi->direct_io = fi->direct_io;
	rfi->keep_cache = fi->keep_cache;
	rfi->nonseekable = fi->nonseekable;
	rfi->cache_readdir = fi->cache_readdir;
	rfi->noflush = fi->noflush;
}

/*
 * The requests an entry answers. To any other (GETATTR, CREATE, READ...) the kernel
 * refuses the entry (or reads it as data) and takes no lookup, while the runtime would
 * count one and forget it for the filesystem at the end: such a reply is refused here.
 */
static bool takes_entry(int op)
{
	return op == RF3_OP_LOOKUP || op == RF3_OP_MKNOD || op == RF3_OP_MKDIR ||
	       op == RF3_OP_SYMLINK || op == RF3_OP_LINK;
}

int fuse_reply_entry(fuse_req_t req, const struct fuse_entry_param *e)
{
	struct rf_entry re;

	REPLY_START(req);
	if (!e || !takes_entry(req->op)) {
		fuse_log(FUSE_LOG_ERR, "fuse: fuse_reply_entry: %s\n",
			 e ? "not a LOOKUP, MKNOD, MKDIR, SYMLINK or LINK request" :
			     "NULL argument");
		return done(req, rf_reply_err(req->r, -EIO));
	}
	entry_to_rf(&re, e);
	return done(req, rf_reply_entry(req->r, &re));
}

int fuse_reply_create(fuse_req_t req, const struct fuse_entry_param *e,
		      const struct fuse_file_info *fi)
{
	struct rf_entry re;

	REPLY_START(req);
	/* Not req->rfi alone: READ, GETATTR, OPEN... have one too, and the runtime would
	 * record the entry's lookup and the fh as open (forgotten and released at the end). */
	if (!e || !fi || req->op != RF3_OP_CREATE || !req->rfi) {
		fuse_log(FUSE_LOG_ERR, "fuse: fuse_reply_create: %s\n",
			 req->op == RF3_OP_CREATE ? "NULL argument" : "not a CREATE request");
		return done(req, rf_reply_err(req->r, -EIO));
	}
	entry_to_rf(&re, e);
	fi_to_rf(req->rfi, fi);
	return done(req, rf_reply_create(req->r, &re, req->rfi));
}

int fuse_reply_attr(fuse_req_t req, const struct stat *attr, double attr_timeout)
{
	REPLY_START(req);
	if (!attr)
		return done(req, rf_reply_err(req->r, -EIO));
	return done(req, rf_reply_attr(req->r, attr, attr_timeout));
}

int fuse_reply_readlink(fuse_req_t req, const char *link)
{
	REPLY_START(req);
	if (!link)
		return done(req, rf_reply_err(req->r, -EIO));
	return done(req, rf_reply_readlink(req->r, link));
}

int fuse_reply_open(fuse_req_t req, const struct fuse_file_info *fi)
{
	REPLY_START(req);
	if (!fi || !req->rfi) {
		fuse_log(FUSE_LOG_ERR, "fuse: fuse_reply_open: %s\n",
			 req->rfi ? "NULL argument" : "not an OPEN/OPENDIR request");
		return done(req, rf_reply_err(req->r, -EIO));
	}
	fi_to_rf(req->rfi, fi);
	return done(req, rf_reply_open(req->r, req->rfi));
}

int fuse_reply_write(fuse_req_t req, size_t count)
{
	REPLY_START(req);
	return done(req, rf_reply_write(req->r, count));
}

/*
 * READDIRPLUS entries the filesystem packed with fuse_add_direntry_plus are re-added
 * through rf_dirbuf_add_plus, so the runtime counts the lookups they give the kernel
 * (it forgets them for the filesystem when the session ends, see README.md). Returns 0,
 * or -EINVAL, before anything was added, if the buffer is not a valid READDIRPLUS reply
 * (it is then sent as is). @buf may be the reply's payload itself (the high-level layer
 * packs there, rf_fuse3_reply_space): each entry is read whole before it is written
 * again, at the same place and with the same size.
 */
static int reply_direntplus(fuse_req_t req, const char *buf, size_t size)
{
	struct rf_dirbuf db;
	size_t pos = 0;
	char name[1025];

	for (pos = 0; pos < size;) {
		const struct fuse_direntplus *dp = (const void *)(buf + pos);
		size_t len;

		if (size - pos < FUSE_NAME_OFFSET_DIRENTPLUS)
			return -EINVAL;
		len = FUSE_DIRENTPLUS_SIZE(dp);
		if (dp->dirent.namelen == 0 || dp->dirent.namelen > 1024 || len > size - pos ||
		    memchr(dp->dirent.name, 0, dp->dirent.namelen))
			return -EINVAL;
		pos += len;
	}
	rf_dirbuf_init(&db, req->r, size);
	for (pos = 0; pos < size;) {
		const struct fuse_direntplus *dp = (const void *)(buf + pos);
		const struct fuse_entry_out *eo = &dp->entry_out;
		const struct fuse_attr *fa = &eo->attr;
		size_t len = FUSE_DIRENTPLUS_SIZE(dp);
		off_t off = (off_t)dp->dirent.off;
		struct rf_entry e;

		memset(&e, 0, sizeof(e));
		e.ino = eo->nodeid;
		e.generation = eo->generation;
		e.entry_timeout = (double)eo->entry_valid + eo->entry_valid_nsec / 1e9;
		e.attr_timeout = (double)eo->attr_valid + eo->attr_valid_nsec / 1e9;
		e.attr.st_ino = dp->dirent.ino;
		e.attr.st_size = (off_t)fa->size;
		e.attr.st_blocks = (blkcnt_t)fa->blocks;
		e.attr.st_atim.tv_sec = (time_t)fa->atime;
		e.attr.st_mtim.tv_sec = (time_t)fa->mtime;
		e.attr.st_ctim.tv_sec = (time_t)fa->ctime;
		e.attr.st_atim.tv_nsec = fa->atimensec;
		e.attr.st_mtim.tv_nsec = fa->mtimensec;
		e.attr.st_ctim.tv_nsec = fa->ctimensec;
		e.attr.st_mode = fa->mode ? fa->mode : (mode_t)dp->dirent.type << 12;
		e.attr.st_nlink = fa->nlink;
		e.attr.st_uid = fa->uid;
		e.attr.st_gid = fa->gid;
		e.attr.st_rdev = fa->rdev;
		e.attr.st_blksize = fa->blksize;
		memcpy(name, dp->dirent.name, dp->dirent.namelen);
		name[dp->dirent.namelen] = '\0';
		/* in place, @dp is overwritten here */
		if (!rf_dirbuf_add_plus(&db, name, &e, off))
			break;
		pos += len;
	}
	rf_reply_dirbuf(req->r, &db);
	return 0;
}

int fuse_reply_buf(fuse_req_t req, const char *buf, size_t size)
{
	REPLY_START(req);
	if (size && !buf)
		return done(req, rf_reply_err(req->r, -EIO));
	if (req->op == RF3_OP_READDIRPLUS && size && reply_direntplus(req, buf, size) == 0)
		return done(req, 0);
	return done(req, rf_reply_buf(req->r, buf, size));
}

int fuse_reply_data(fuse_req_t req, struct fuse_bufvec *bufv, enum fuse_buf_copy_flags flags)
{
	struct fuse_bufvec dst;
	size_t cap, want;
	void *mem;
	ssize_t n;

	REPLY_START(req);
	if (!bufv)
		return done(req, rf_reply_err(req->r, -EIO));
	/* Copy (or read, for fd buffers) straight into the reply: no bounce buffer. */
	mem = rf_req_payload(req->r, &cap);
	want = fuse_buf_size(bufv);
	if (want > cap)
		want = cap;
	dst = (struct fuse_bufvec)FUSE_BUFVEC_INIT(want);
	dst.buf[0].mem = mem;
	n = want ? fuse_buf_copy(&dst, bufv, flags) : 0;
	if (n < 0)
		return done(req, rf_reply_err(req->r, (int)n));
	return done(req, rf_reply_buf(req->r, mem, (size_t)n));
}

/* For the high-level layer: the reply's own payload, so that a filesystem's read (or the
 * directory entries packed for it) lands where the reply is sent from, or NULL. */
void *rf_fuse3_reply_space(fuse_req_t req, size_t size)
{
	size_t cap = 0;
	void *mem;

	if (!req || !req->r)
		return NULL;
	mem = rf_req_payload(req->r, &cap);
	return mem && cap >= size ? mem : NULL;
}

int fuse_reply_iov(fuse_req_t req, const struct iovec *iov, int count)
{
	REPLY_START(req);
	if (count < 0 || (count && !iov))
		return done(req, rf_reply_err(req->r, -EIO));
	return done(req, rf_reply_iov(req->r, iov, count));
}

int fuse_reply_statfs(fuse_req_t req, const struct statvfs *stbuf)
{
	REPLY_START(req);
	if (!stbuf)
		return done(req, rf_reply_err(req->r, -EIO));
	return done(req, rf_reply_statfs(req->r, stbuf));
}

int fuse_reply_xattr(fuse_req_t req, size_t count)
{
	REPLY_START(req);
	return done(req, rf_reply_xattr_size(req->r, count));
}

int fuse_reply_lock(fuse_req_t req, const struct flock *lock)
{
	REPLY_START(req);
	if (!lock)
		return done(req, rf_reply_err(req->r, -EIO));
	return done(req, rf_reply_lock(req->r, lock));
}

int fuse_reply_bmap(fuse_req_t req, uint64_t idx)
{
	REPLY_START(req);
	return done(req, rf_reply_bmap(req->r, idx));
}

int fuse_reply_ioctl_retry(fuse_req_t req, const struct iovec *in_iov, size_t in_count,
			   const struct iovec *out_iov, size_t out_count)
{
	struct fuse_ioctl_iovec v[2 * FUSE_IOCTL_MAX_IOV];
	struct fuse_ioctl_out out;
	struct iovec iov[2];
	size_t i, n = 0;

	REPLY_START(req);
	if (in_count > FUSE_IOCTL_MAX_IOV || out_count > FUSE_IOCTL_MAX_IOV ||
	    (in_count && !in_iov) || (out_count && !out_iov)) {
		fuse_log(FUSE_LOG_ERR, "fuse: fuse_reply_ioctl_retry: bad iovec count\n");
		return done(req, rf_reply_err(req->r, -ENOMEM));
	}
	memset(&out, 0, sizeof(out));
	out.flags = FUSE_IOCTL_RETRY;
	out.in_iovs = (uint32_t)in_count;
	out.out_iovs = (uint32_t)out_count;
	for (i = 0; i < in_count; i++, n++) {
		v[n].base = (uintptr_t)in_iov[i].iov_base;
		v[n].len = in_iov[i].iov_len;
	}
	for (i = 0; i < out_count; i++, n++) {
		v[n].base = (uintptr_t)out_iov[i].iov_base;
		v[n].len = out_iov[i].iov_len;
	}
	iov[0].iov_base = &out;
	iov[0].iov_len = sizeof(out);
	iov[1].iov_base = v;
	iov[1].iov_len = n * sizeof(v[0]);
	return done(req, rf_reply_iov(req->r, iov, 2));
}

int fuse_reply_ioctl(fuse_req_t req, int result, const void *buf, size_t size)
{
	REPLY_START(req);
	if (size && !buf)
		return done(req, rf_reply_err(req->r, -EIO));
	return done(req, rf_reply_ioctl(req->r, result, buf, size));
}

int fuse_reply_ioctl_iov(fuse_req_t req, int result, const struct iovec *iov, int count)
{
	struct fuse_ioctl_out out;
	struct iovec *v;
	int ret;

	REPLY_START(req);
	if (count < 0 || (count && !iov))
		return done(req, rf_reply_err(req->r, -EIO));
	v = malloc(sizeof(*v) * ((size_t)count + 1));
	if (!v)
		return done(req, rf_reply_err(req->r, -ENOMEM));
	memset(&out, 0, sizeof(out));
	out.result = result;
	v[0].iov_base = &out;
	v[0].iov_len = sizeof(out);
	if (count)
		memcpy(&v[1], iov, sizeof(*v) * (size_t)count);
	ret = rf_reply_iov(req->r, v, count + 1);
	free(v);
	return done(req, ret);
}

int fuse_reply_poll(fuse_req_t req, unsigned revents)
{
	REPLY_START(req);
	return done(req, rf_reply_poll(req->r, revents));
}

int fuse_reply_lseek(fuse_req_t req, off_t off)
{
	REPLY_START(req);
	return done(req, rf_reply_lseek(req->r, off));
}

/* ---- directory entries (the kernel's format, so buffers may be concatenated) ------------- */

static void fill_dirent(struct fuse_dirent *de, const char *name, size_t namelen,
			uint64_t ino, mode_t mode, off_t off)
{
	de->ino = ino;
	de->off = (uint64_t)off;
	de->namelen = (uint32_t)namelen;
	de->type = (mode & S_IFMT) >> 12;
	memcpy(de->name, name, namelen);
	memset(de->name + namelen, 0, FUSE_DIRENT_ALIGN(namelen) - namelen);
}

size_t fuse_add_direntry(fuse_req_t req, char *buf, size_t bufsize, const char *name,
			 const struct stat *stbuf, off_t off)
{
	size_t namelen = strlen(name);
	size_t len = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + namelen);

	if (buf && len <= bufsize)
		fill_dirent((struct fuse_dirent *)buf, name, namelen, stbuf->st_ino,
			    stbuf->st_mode, off);
	return len;
}

static uint64_t timeout_sec(double t, uint32_t *nsec)
{
	uint64_t sec;

	if (!(t > 0)) {
		*nsec = 0;
		return 0;
	}
	if (t >= 18446744073.0) {
		*nsec = 999999999;
		return UINT64_MAX / 1000000000ull;
	}
	sec = (uint64_t)t;
	*nsec = (uint32_t)((t - (double)sec) * 1e9);
	if (*nsec > 999999999)
		*nsec = 999999999;
	return sec;
}

size_t fuse_add_direntry_plus(fuse_req_t req, char *buf, size_t bufsize, const char *name,
			      const struct fuse_entry_param *e, off_t off)
{
	size_t namelen = strlen(name);
	size_t len = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET_DIRENTPLUS + namelen);
	struct fuse_direntplus *dp = (struct fuse_direntplus *)buf;
	struct fuse_entry_out *eo;
	const struct stat *st = &e->attr;

	if (!buf || len > bufsize)
		return len;
	eo = &dp->entry_out;
	memset(eo, 0, sizeof(*eo));
	eo->nodeid = e->ino;
	eo->generation = e->generation;
	eo->entry_valid = timeout_sec(e->entry_timeout, &eo->entry_valid_nsec);
	eo->attr_valid = timeout_sec(e->attr_timeout, &eo->attr_valid_nsec);
	eo->attr.ino = st->st_ino;
	eo->attr.mode = st->st_mode;
	eo->attr.nlink = (uint32_t)st->st_nlink;
	eo->attr.uid = st->st_uid;
	eo->attr.gid = st->st_gid;
	eo->attr.rdev = (uint32_t)st->st_rdev;
	eo->attr.size = (uint64_t)st->st_size;
	eo->attr.blksize = (uint32_t)st->st_blksize;
	eo->attr.blocks = (uint64_t)st->st_blocks;
	eo->attr.atime = (uint64_t)st->st_atim.tv_sec;
	eo->attr.mtime = (uint64_t)st->st_mtim.tv_sec;
	eo->attr.ctime = (uint64_t)st->st_ctim.tv_sec;
	eo->attr.atimensec = (uint32_t)st->st_atim.tv_nsec;
	eo->attr.mtimensec = (uint32_t)st->st_mtim.tv_nsec;
	eo->attr.ctimensec = (uint32_t)st->st_ctim.tv_nsec;
	fill_dirent(&dp->dirent, name, namelen, st->st_ino, st->st_mode, off);
	return len;
}

/* ---- the request ------------------------------------------------------------------------ */

void *fuse_req_userdata(fuse_req_t req)
{
	return req ? req->se->userdata : NULL;
}

const struct fuse_ctx *fuse_req_ctx(fuse_req_t req)
{
	return &req->ctx;
}

int fuse_req_getgroups(fuse_req_t req, int size, gid_t list[])
{
	if (!req || !req->r || size < 0)
		return -EINVAL;
	return rf_req_groups(req->r, list, size);
}

void fuse_req_interrupt_func(fuse_req_t req, fuse_interrupt_func_t func, void *data)
{
	pthread_mutex_lock(&req->ilock);
	req->ifunc = func;
	req->idata = data;
	if (req->interrupted && func)
		func(req, data);
	pthread_mutex_unlock(&req->ilock);
}

int fuse_req_interrupted(fuse_req_t req)
{
	int ret;

	pthread_mutex_lock(&req->ilock);
	ret = req->interrupted || (req->r && rf_req_interrupted(req->r));
	pthread_mutex_unlock(&req->ilock);
	return ret;
}
