/* SPDX-License-Identifier: MIT */
/*
 * remove.c - the requests that take a name away or move it: UNLINK, RMDIR, RENAME (with
 * RENAME_NOREPLACE and RENAME_EXCHANGE).
 */
#include "memfs.h"

#include <errno.h>
#include <stdio.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static int do_unlink(struct memfs *fs, uint64_t parent, const char *name)
{
	struct inode *dir, *n;
	struct timespec t;
	struct dent *d;
	int len;

	len = dir_and_name(fs, parent, name, &dir);
	if (len < 0)
		return len;
	if (is_dot(name))
		return -EISDIR;
	d = dent_find(fs, dir, name, (size_t)len);
	if (!d)
		return -ENOENT;
	n = d->node;
	if (S_ISDIR(n->mode))
		return -EISDIR;
	dent_del(fs, d);
	t = now_ts();
	n->nlink--;
	n->ctime = t;
	dir->mtime = dir->ctime = t;
	inode_maybe_free(fs, n);
	return 0;
}

void mf_unlink(struct rf_req *req, uint64_t parent, const char *name)
{
	struct memfs *fs = rf_req_userdata(req);
	int err;

	fs_lock(fs);
	err = do_unlink(fs, parent, name);
	fs_unlock(fs);
	rf_reply_err(req, err);
}

static int do_rmdir(struct memfs *fs, uint64_t parent, const char *name)
{
	struct inode *dir, *n;
	struct timespec t;
	struct dent *d;
	int len;

	len = dir_and_name(fs, parent, name, &dir);
	if (len < 0)
		return len;
	if (is_dot(name))
		return name[1] ? -ENOTEMPTY : -EINVAL;
	d = dent_find(fs, dir, name, (size_t)len);
	if (!d)
		return -ENOENT;
	n = d->node;
	if (!S_ISDIR(n->mode))
		return -ENOTDIR;
	if (n->u.dir.live)
		return -ENOTEMPTY;
	dent_del(fs, d);
	t = now_ts();
	n->nlink = 0;
	n->ctime = t;
	dir->nlink--;
	dir->mtime = dir->ctime = t;
	inode_maybe_free(fs, n);
	return 0;
}

void mf_rmdir(struct rf_req *req, uint64_t parent, const char *name)
{
	struct memfs *fs = rf_req_userdata(req);
	int err;

	fs_lock(fs);
	err = do_rmdir(fs, parent, name);
	fs_unlock(fs);
	rf_reply_err(req, err);
}

static int do_rename(struct memfs *fs, uint64_t parent, const char *name, uint64_t newparent,
		     const char *newname, unsigned int flags)
{
	struct inode *op, *np, *src, *dst = NULL;
	struct dent *sd, *dd;
	struct timespec t;
	int err = 0, len, newlen;
	bool sdir;

	if (flags & ~(unsigned int)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;		/* RENAME_WHITEOUT and anything newer */
	if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE))
		return -EINVAL;
	op = get_dir(fs, parent, &err);
	if (!op)
		return err;
	np = get_dir(fs, newparent, &err);
	if (!np)
		return err;
	len = check_name(name);
	if (len < 0)
		return len;
	newlen = check_name(newname);
	if (newlen < 0)
		return newlen;
	if (is_dot(name) || is_dot(newname))
		return -EBUSY;
	sd = dent_find(fs, op, name, (size_t)len);
	if (!sd)
		return -ENOENT;
	dd = dent_find(fs, np, newname, (size_t)newlen);
	src = sd->node;
	sdir = S_ISDIR(src->mode);
	t = now_ts();

	if (flags & RENAME_EXCHANGE) {
		bool ddir;

		if (!dd)
			return -ENOENT;
		if (sd == dd)
			return 0;
		dst = dd->node;
		ddir = S_ISDIR(dst->mode);
		/* Neither may end up inside itself. */
		if (op != np && ((sdir && in_subtree(fs, src, np)) ||
				 (ddir && in_subtree(fs, dst, op))))
			return -EINVAL;
		if (op != np && sdir != ddir &&
		    (sdir ? np->nlink : op->nlink) >= MF_NLINK_MAX)
			return -EMLINK;
		sd->node = dst;
		dd->node = src;
		if (op != np) {
			if (sdir)
				src->u.dir.parent = np->ino;
			if (ddir)
				dst->u.dir.parent = op->ino;
			if (sdir && !ddir) {
				op->nlink--;
				np->nlink++;
			} else if (!sdir && ddir) {
				np->nlink--;
				op->nlink++;
			}
		}
		src->ctime = dst->ctime = t;
		op->mtime = op->ctime = np->mtime = np->ctime = t;
		return 0;
	}

	if (dd) {
		if (flags & RENAME_NOREPLACE)
			return -EEXIST;
		dst = dd->node;
		if (dst == src)
			return 0;	/* two links to one file: POSIX says do nothing */
		if (sdir && !S_ISDIR(dst->mode))
			return -ENOTDIR;
		if (!sdir && S_ISDIR(dst->mode))
			return -EISDIR;
		if (S_ISDIR(dst->mode) && dst->u.dir.live)
			return -ENOTEMPTY;
	}
	if (sdir && op != np) {
		if (in_subtree(fs, src, np))
			return -EINVAL;
		if (!dd && np->nlink >= MF_NLINK_MAX)
			return -EMLINK;
	}

	if (dd) {
		/* Reuse the target's entry: its readdir position survives the rename. */
		dd->node = src;
		dent_del(fs, sd);
		if (S_ISDIR(dst->mode)) {
			dst->nlink = 0;
			np->nlink--;
		} else {
			dst->nlink--;
		}
		dst->ctime = t;
	} else {
		if (!dent_add(fs, np, newname, (size_t)newlen, src, &err))
			return err;
		dent_del(fs, sd);
	}
	if (sdir && op != np) {
		op->nlink--;
		np->nlink++;
		src->u.dir.parent = np->ino;
	}
	src->ctime = t;
	op->mtime = op->ctime = np->mtime = np->ctime = t;
	inode_maybe_free(fs, dst);
	return 0;
}

void mf_rename(struct rf_req *req, uint64_t parent, const char *name, uint64_t newparent,
		      const char *newname, unsigned int flags)
{
	struct memfs *fs = rf_req_userdata(req);
	int err;

	fs_lock(fs);
	err = do_rename(fs, parent, name, newparent, newname, flags);
	fs_unlock(fs);
	rf_reply_err(req, err);
}
