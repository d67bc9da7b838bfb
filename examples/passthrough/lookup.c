/* SPDX-License-Identifier: MIT */
/*
 * lookup.c - LOOKUP (one statx when the inode is known, else an O_PATH openat) and FORGET.
 */
#include "passthrough.h"

#include <sys/sysmacros.h>

/* A LOOKUP between its calls and its reply, in the request's scratch memory. */
struct pt_lookup {
	struct statx stx;
	struct pt_inode *parent;
	const char *name;            /* in the request, valid until the reply */
	struct rf_req *req;
	struct pt_fd_retry retry;    /* the open found no fd free */
};

static void lookup_open(struct pt_lookup *lk);

static void lookup_again(struct rf_req *req, void *data)
{
	lookup_open(data);
}

static void lookup_done(struct rf_req *req, int res, void *data)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_lookup *lk = data;
	struct pt_inode *parent = lk->parent;

	/* Every fd taken, most by inodes the kernel remembers: after a prune, again. */
	if (fd_retry(fs, req, &lk->retry, res, lookup_again, lk))
		return;
	if (res >= 0) {
		reply_fd_entry(req, fs, res);
	} else if (res == -ENOENT && fs->neg_timeout > 0) {
		struct rf_entry e;

		/* Only when asked for: a name made directly in the source stays invisible
		 * through the mount until this runs out. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs->neg_timeout;
		rf_reply_entry(req, &e);
	} else {
		rf_reply_err(req, cancel_err(res));
	}
	iput(fs, parent);
}

static void stat_from_statx(struct stat *st, const struct statx *stx)
{
	memset(st, 0, sizeof(*st));
	st->st_dev = makedev(stx->stx_dev_major, stx->stx_dev_minor);
	st->st_ino = stx->stx_ino;
	st->st_mode = stx->stx_mode;
	st->st_nlink = stx->stx_nlink;
	st->st_uid = stx->stx_uid;
	st->st_gid = stx->stx_gid;
	st->st_rdev = makedev(stx->stx_rdev_major, stx->stx_rdev_minor);
	st->st_size = (off_t)stx->stx_size;
	st->st_blksize = stx->stx_blksize;
	st->st_blocks = (blkcnt_t)stx->stx_blocks;
	st->st_atim.tv_sec = stx->stx_atime.tv_sec;
	st->st_atim.tv_nsec = stx->stx_atime.tv_nsec;
	st->st_mtim.tv_sec = stx->stx_mtime.tv_sec;
	st->st_mtim.tv_nsec = stx->stx_mtime.tv_nsec;
	st->st_ctim.tv_sec = stx->stx_ctime.tv_sec;
	st->st_ctim.tv_nsec = stx->stx_ctime.tv_nsec;
}

/* Open the name and make or find its inode (a name not known yet, or handle mode). */
static void lookup_open(struct pt_lookup *lk)
{
	int r = rf_backing_openat(lk->req, atomic_load(&lk->parent->fd), lk->name,
				  O_PATH | O_NOFOLLOW, 0, lookup_done, lk);

	if (r < 0)
		lookup_done(lk->req, r, lk);
}

/*
 * The name's attributes are known. If its inode is in the table with its own O_PATH fd,
 * that fd pins the very file (its inode number cannot be reused while it is open), so
 * the name still leads to it: count the lookup and reply, one system call in all (the
 * old way, openat + fstat + close of the duplicate, took three).
 */
static void lookup_statx_done(struct rf_req *req, int res, void *data)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_lookup *lk = data;
	struct pt_inode *p = lk->parent, *in;
	struct rf_inode *b;
	struct stat st;

	if (res < 0)
		return lookup_done(req, res, lk);
	stat_from_statx(&st, &lk->stx);
	b = rf_itable_find(fs->table, st.st_dev, st.st_ino);
	if (b) {
		in = inode_of(b);
		busy_get(in);
		if (atomic_load(&in->fd) >= 0 && !in->handle && in->type == (st.st_mode & S_IFMT)) {
			rf_itable_count_lookup(fs->table, b);
			reply_entry_put(req, fs, in, &st);
			return iput(fs, p);
		}
		iput(fs, in);
	}
	lookup_open(lk);
}

void pt_lookup(struct rf_req *req, uint64_t parent, const char *name)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_inode *p = iget(fs, parent);
	struct pt_lookup *lk;
	int r;

	if (!p)
		return (void)rf_reply_err(req, -ESTALE);
	if (!S_ISDIR(p->type) || (!name_ok(name) && !is_dot(name))) {
		rf_reply_err(req, !S_ISDIR(p->type) ? -ENOTDIR :
				  strlen(name) > NAME_MAX ? -ENAMETOOLONG : -ENOENT);
		return iput(fs, p);
	}
	/* "." and ".." only come with export support; never climb out of the source. */
	if (parent == 1 && is_dot(name))
		name = ".";
	lk = REQ_STATE(req, struct pt_lookup);
	lk->parent = p;
	lk->name = name;
	lk->req = req;
	if (fs->handles)
		return lookup_open(lk);
	r = rf_backing_statx(req, atomic_load(&p->fd), name, AT_SYMLINK_NOFOLLOW,
			     STATX_BASIC_STATS, &lk->stx, lookup_statx_done, lk);
	if (r < 0)
		lookup_done(req, r, lk);
}

void pt_forget(void *userdata, uint64_t ino, uint64_t nlookup)
{
	struct pt_fs *fs = userdata;

	rf_itable_forget(fs->table, ino, nlookup);
}
