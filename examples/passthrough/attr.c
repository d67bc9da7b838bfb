/* SPDX-License-Identifier: MIT */
/*
 * attr.c - attributes: GETATTR, SETATTR (a truncate goes through the backing I/O),
 * READLINK and STATX.
 */
#include "passthrough.h"

#include <sys/sysmacros.h>

struct pt_handle *handle_of_fi(const struct rf_file *fi, uint32_t kind)
{
	struct pt_handle *h;

	if (!fi || !fi->fh)
		return NULL;
	h = (struct pt_handle *)(uintptr_t)fi->fh;
	return h->kind == kind ? h : NULL;
}

void pt_getattr(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_handle *h = handle_of_fi(fi, PT_FILE);
	struct pt_inode *in;
	struct stat st;
	int fd, r;

	if (h) {
		r = fstat(h->fd, &st) < 0 ? -errno : 0;
		if (r < 0)
			return (void)rf_reply_err(req, r);
		rf_reply_attr(req, &st, fs->timeout);
		return;
	}
	in = iget(fs, ino);
	if (!in)
		return (void)rf_reply_err(req, -ESTALE);
	fd = ifd_get(fs, in);
	if (fd < 0 && in->gone) {
		rf_reply_attr(req, in->gone, fs->timeout);
		return iput(fs, in);
	}
	r = fd < 0 ? fd : fstat_fd(fd, &st);
	ifd_put(in, fd);
	if (r < 0)
		rf_reply_err(req, r);
	else
		rf_reply_attr(req, &st, fs->timeout);
	iput(fs, in);
}

struct pt_setattr {
	struct pt_inode *in;
	struct pt_handle *h;         /* the open file named by the request, or NULL */
	int fd;                      /* O_PATH fd of @in (when no @h) */
	struct stat attr;
	int to_set;
	char path[PT_PROC_PATH];
};

static int do_truncate(void *arg)
{
	struct pt_setattr *sa = arg;

	return truncate(sa->path, sa->attr.st_size) < 0 ? -errno : 0;
}

static void setattr_finish(struct rf_req *req, struct pt_setattr *sa, int r)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_inode *in = sa->in;   /* @sa goes with the reply */
	int fd = sa->fd;
	struct stat st;

	if (r == 0) {
		r = sa->h ? (fstat(sa->h->fd, &st) < 0 ? -errno : 0) : fstat_fd(fd, &st);
	}
	if (r < 0)
		rf_reply_err(req, cancel_err(r));
	else
		rf_reply_attr(req, &st, fs->timeout);
	if (fd >= 0)
		ifd_put(in, fd);
	iput(fs, in);
}

/* After the size: times, then the set-id bits. */
static void setattr_size_done(struct rf_req *req, int res, void *data)
{
	struct pt_setattr *sa = data;
	int set = sa->to_set;

	if (res < 0)
		return setattr_finish(req, sa, res);
	if (set & (RF_SET_ATIME | RF_SET_MTIME | RF_SET_ATIME_NOW | RF_SET_MTIME_NOW)) {
		struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };

		if (set & RF_SET_ATIME_NOW)
			ts[0].tv_nsec = UTIME_NOW;
		else if (set & RF_SET_ATIME)
			ts[0] = sa->attr.st_atim;
		if (set & RF_SET_MTIME_NOW)
			ts[1].tv_nsec = UTIME_NOW;
		else if (set & RF_SET_MTIME)
			ts[1] = sa->attr.st_mtim;
		if (sa->h)
			res = futimens(sa->h->fd, ts);
		else
			res = utimensat(sa->fd, "", ts, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
		if (res < 0)
			return setattr_finish(req, sa, -errno);
	}
	if (set & RF_SET_KILL_SUIDGID) {
		res = sa->h ? kill_suidgid(req, sa->h->fd, false) :
			      kill_suidgid(req, sa->fd, true);
		if (res < 0)
			return setattr_finish(req, sa, res);
	}
	setattr_finish(req, sa, 0);
}

void pt_setattr(struct rf_req *req, uint64_t ino, const struct stat *attr, int to_set,
		struct rf_file *fi)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_setattr *sa;
	int r = 0;

	sa = REQ_STATE(req, struct pt_setattr);
	sa->fd = -1;
	sa->attr = *attr;
	sa->to_set = to_set;
	sa->h = handle_of_fi(fi, PT_FILE);
	sa->in = iget(fs, ino);
	if (!sa->in)
		return (void)rf_reply_err(req, -ESTALE);
	if (!sa->h) {
		sa->fd = ifd_get(fs, sa->in);
		if (sa->fd < 0) {
			r = sa->fd;
			sa->fd = -1;
			return setattr_finish(req, sa, r);
		}
	}
	proc_path(sa->path, sa->h ? sa->h->fd : sa->fd);

	if (to_set & RF_SET_MODE) {
		if (S_ISLNK(sa->in->type))
			r = -EOPNOTSUPP;
		else if (sa->h)
			r = fchmod(sa->h->fd, attr->st_mode & 07777) < 0 ? -errno : 0;
		else
			r = chmod(sa->path, attr->st_mode & 07777) < 0 ? -errno : 0;
		if (r < 0)
			return setattr_finish(req, sa, r);
	}
	if (to_set & (RF_SET_UID | RF_SET_GID)) {
		uid_t uid = (to_set & RF_SET_UID) ? attr->st_uid : (uid_t)-1;
		gid_t gid = (to_set & RF_SET_GID) ? attr->st_gid : (gid_t)-1;

		if (fchownat(sa->h ? sa->h->fd : sa->fd, "", uid, gid,
			     AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return setattr_finish(req, sa, -errno);
	}
	if (to_set & RF_SET_SIZE) {
		if (!S_ISREG(sa->in->type))
			return setattr_finish(req, sa, S_ISDIR(sa->in->type) ? -EISDIR : -EINVAL);
		if (sa->h && (sa->h->flags & O_ACCMODE) != O_RDONLY)
			r = rf_backing_ftruncate(req, sa->h->fd, attr->st_size, setattr_size_done,
						 sa);
		else
			r = rf_backing_call(req, do_truncate, sa, setattr_size_done, sa);
		if (r < 0)
			setattr_finish(req, sa, r);
		return;
	}
	setattr_size_done(req, 0, sa);
}

void pt_readlink(struct rf_req *req, uint64_t ino)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_inode *in = iget(fs, ino);
	size_t cap;
	char *buf = rf_req_payload(req, &cap);
	ssize_t n;
	int fd;

	if (!in)
		return (void)rf_reply_err(req, -ESTALE);
	fd = ifd_get(fs, in);
	if (fd < 0) {
		rf_reply_err(req, fd);
		return iput(fs, in);
	}
	n = readlinkat(fd, "", buf, cap);
	if (n < 0)
		rf_reply_err(req, -errno);
	else
		rf_reply_buf(req, buf, (size_t)n);
	ifd_put(in, fd);
	iput(fs, in);
}

/* The attributes kept for a file closed on unlink, as statx gives them. */
static void statx_from_stat(struct statx *stx, const struct stat *st)
{
	memset(stx, 0, sizeof(*stx));
	stx->stx_mask = STATX_BASIC_STATS;
	stx->stx_blksize = (uint32_t)st->st_blksize;
	stx->stx_nlink = (uint32_t)st->st_nlink;
	stx->stx_uid = st->st_uid;
	stx->stx_gid = st->st_gid;
	stx->stx_mode = (uint16_t)st->st_mode;
	stx->stx_ino = st->st_ino;
	stx->stx_size = (uint64_t)st->st_size;
	stx->stx_blocks = (uint64_t)st->st_blocks;
	stx->stx_atime.tv_sec = st->st_atim.tv_sec;
	stx->stx_atime.tv_nsec = (uint32_t)st->st_atim.tv_nsec;
	stx->stx_mtime.tv_sec = st->st_mtim.tv_sec;
	stx->stx_mtime.tv_nsec = (uint32_t)st->st_mtim.tv_nsec;
	stx->stx_ctime.tv_sec = st->st_ctim.tv_sec;
	stx->stx_ctime.tv_nsec = (uint32_t)st->st_ctim.tv_nsec;
	stx->stx_rdev_major = major(st->st_rdev);
	stx->stx_rdev_minor = minor(st->st_rdev);
	stx->stx_dev_major = major(st->st_dev);
	stx->stx_dev_minor = minor(st->st_dev);
}

void pt_statx(struct rf_req *req, uint64_t ino, int flags, int mask, struct rf_file *fi)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_handle *h = handle_of_fi(fi, PT_FILE);
	struct pt_inode *in = NULL;
	struct statx stx;
	int fd, r;

	if (h) {
		fd = h->fd;
	} else {
		in = iget(fs, ino);
		if (!in)
			return (void)rf_reply_err(req, -ESTALE);
		fd = ifd_get(fs, in);
	}
	if (fd < 0 && in && in->gone) {
		statx_from_stat(&stx, in->gone);
		r = 0;
	} else {
		r = fd < 0 ? fd :
		    statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW |
				  (flags & AT_STATX_SYNC_TYPE),
			  mask ? (unsigned int)mask : STATX_BASIC_STATS, &stx) < 0 ? -errno : 0;
	}
	if (in)
		ifd_put(in, fd);
	if (r < 0)
		rf_reply_err(req, r);
	else
		rf_reply_statx(req, &stx, fs->timeout);
	iput(fs, in);
}
