/* SPDX-License-Identifier: MIT */
/*
 * attr.c - an inode's attributes: GETATTR, SETATTR, STATX (with the birth time), and the
 * relatime rule for atime.
 */
#include "memfs.h"

#include <errno.h>
#include <string.h>
#include <sys/sysmacros.h>

static int ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	if (a->tv_nsec != b->tv_nsec)
		return a->tv_nsec < b->tv_nsec ? -1 : 1;
	return 0;
}

static bool ts_valid(const struct timespec *t)
{
	return t->tv_nsec >= 0 && t->tv_nsec < 1000000000L;
}

/* relatime: enough for "was it read since it was written" without a write per read. */
void touch_atime(struct inode *n)
{
	struct timespec t = now_ts();

	if (ts_cmp(&n->atime, &n->mtime) <= 0 || ts_cmp(&n->atime, &n->ctime) <= 0 ||
	    t.tv_sec - n->atime.tv_sec >= 24 * 3600)
		n->atime = t;
}

void stat_fill(const struct inode *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_mode = n->mode;
	st->st_nlink = n->nlink;
	st->st_uid = n->uid;
	st->st_gid = n->gid;
	st->st_rdev = n->rdev;
	st->st_blksize = PG_SIZE;
	if (S_ISDIR(n->mode))
		st->st_size = (off_t)((n->u.dir.live + 2) * BOGO_DIRENT);
	else
		st->st_size = (off_t)n->size;
	if (S_ISREG(n->mode))
		st->st_blocks = (blkcnt_t)(n->u.data.npages * (PG_SIZE / 512));
	st->st_atim = n->atime;
	st->st_mtim = n->mtime;
	st->st_ctim = n->ctime;
}

void mf_getattr(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct memfs *fs = rf_req_userdata(req);
	struct inode *n;
	struct stat st;

	fs_lock(fs);
	n = inode_get(fs, ino);
	if (n)
		stat_fill(n, &st);
	fs_unlock(fs);
	if (!n)
		rf_reply_err(req, -ESTALE);
	else
		rf_reply_attr(req, &st, fs->attr_timeout);
}

static int do_setattr(struct memfs *fs, struct rf_req *req, uint64_t ino,
		      const struct stat *attr, int to_set, struct stat *out)
{
	const int changes = RF_SET_MODE | RF_SET_UID | RF_SET_GID | RF_SET_SIZE | RF_SET_ATIME |
			    RF_SET_MTIME | RF_SET_ATIME_NOW | RF_SET_MTIME_NOW | RF_SET_CTIME |
			    RF_SET_KILL_SUIDGID;
	struct inode *n = inode_get(fs, ino);
	struct timespec t;

	if (!n)
		return -ESTALE;
	/* Validate everything first: a failed SETATTR changes nothing. */
	if (to_set & RF_SET_SIZE) {
		if (S_ISDIR(n->mode))
			return -EISDIR;
		if (!S_ISREG(n->mode) || attr->st_size < 0)
			return -EINVAL;
		if ((uint64_t)attr->st_size > MF_MAX_FILE)
			return -EFBIG;
	}
	if (((to_set & RF_SET_ATIME) && !(to_set & RF_SET_ATIME_NOW) &&
	     !ts_valid(&attr->st_atim)) ||
	    ((to_set & RF_SET_MTIME) && !(to_set & RF_SET_MTIME_NOW) &&
	     !ts_valid(&attr->st_mtim)) ||
	    ((to_set & RF_SET_CTIME) && !ts_valid(&attr->st_ctim)))
		return -EINVAL;

	t = now_ts();
	if (to_set & (RF_SET_UID | RF_SET_GID)) {
		bool changed = ((to_set & RF_SET_UID) && attr->st_uid != n->uid) ||
			       ((to_set & RF_SET_GID) && attr->st_gid != n->gid);

		if (to_set & RF_SET_UID)
			n->uid = attr->st_uid;
		if (to_set & RF_SET_GID)
			n->gid = attr->st_gid;
		/* A new owner must not inherit set-id power; an explicit mode wins. */
		if (changed && !(to_set & RF_SET_MODE) && !S_ISDIR(n->mode))
			kill_suid(n);
	}
	if (to_set & RF_SET_MODE)
		n->mode = (n->mode & S_IFMT) | (attr->st_mode & 07777);
	if (to_set & RF_SET_KILL_SUIDGID)
		kill_privs(req, n);
	if ((to_set & RF_SET_SIZE) && (uint64_t)attr->st_size != n->size) {
		file_resize(fs, n, (uint64_t)attr->st_size);
		n->mtime = t;
	}
	if (to_set & RF_SET_ATIME_NOW)
		n->atime = t;
	else if (to_set & RF_SET_ATIME)
		n->atime = attr->st_atim;
	if (to_set & RF_SET_MTIME_NOW)
		n->mtime = t;
	else if (to_set & RF_SET_MTIME)
		n->mtime = attr->st_mtim;
	if (to_set & RF_SET_CTIME)
		n->ctime = attr->st_ctim;
	else if (to_set & changes)
		n->ctime = t;
	stat_fill(n, out);
	return 0;
}

void mf_setattr(struct rf_req *req, uint64_t ino, const struct stat *attr, int to_set,
		       struct rf_file *fi)
{
	struct memfs *fs = rf_req_userdata(req);
	struct stat st;
	int err;

	fs_lock(fs);
	err = do_setattr(fs, req, ino, attr, to_set, &st);
	fs_unlock(fs);
	if (err)
		rf_reply_err(req, err);
	else
		rf_reply_attr(req, &st, fs->attr_timeout);
}

static void sx_ts(struct statx_timestamp *d, const struct timespec *s)
{
	d->tv_sec = s->tv_sec;
	d->tv_nsec = (uint32_t)s->tv_nsec;
}

/* Like getattr, plus the birth time. */
void mf_statx(struct rf_req *req, uint64_t ino, int flags, int mask, struct rf_file *fi)
{
	struct memfs *fs = rf_req_userdata(req);
	struct statx stx;
	struct inode *n;
	struct stat st;

	memset(&stx, 0, sizeof(stx));
	fs_lock(fs);
	n = inode_get(fs, ino);
	if (n) {
		stat_fill(n, &st);
		stx.stx_mask = STATX_BASIC_STATS | STATX_BTIME;
		stx.stx_blksize = (uint32_t)st.st_blksize;
		stx.stx_nlink = (uint32_t)st.st_nlink;
		stx.stx_uid = st.st_uid;
		stx.stx_gid = st.st_gid;
		stx.stx_mode = (uint16_t)st.st_mode;
		stx.stx_ino = st.st_ino;
		stx.stx_size = (uint64_t)st.st_size;
		stx.stx_blocks = (uint64_t)st.st_blocks;
		sx_ts(&stx.stx_atime, &n->atime);
		sx_ts(&stx.stx_btime, &n->btime);
		sx_ts(&stx.stx_ctime, &n->ctime);
		sx_ts(&stx.stx_mtime, &n->mtime);
		stx.stx_rdev_major = major(n->rdev);
		stx.stx_rdev_minor = minor(n->rdev);
	}
	fs_unlock(fs);
	if (!n)
		rf_reply_err(req, -ESTALE);
	else
		rf_reply_statx(req, &stx, fs->attr_timeout);
}
