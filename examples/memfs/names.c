/* SPDX-License-Identifier: MIT */
/*
 * names.c - LOOKUP, and the requests that give an inode a name: MKNOD, MKDIR, SYMLINK,
 * CREATE, LINK; TMPFILE (an inode without a name, which LINK may name later); READLINK.
 */
#include "memfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

static void init_owner(struct inode *n, const struct rf_ctx *ctx, const struct inode *parent)
{
	n->uid = ctx->uid;
	n->gid = ctx->gid;
	if (parent && (parent->mode & S_ISGID)) {
		/* BSD group semantics below a setgid directory, inherited by subdirectories. */
		n->gid = parent->gid;
		if (S_ISDIR(n->mode))
			n->mode |= S_ISGID;
	}
}

static mode_t apply_umask(mode_t mode, const struct rf_ctx *ctx)
{
	return (mode & S_IFMT) | (mode & 07777 & ~(ctx->umask & 0777));
}

/* Create @name in @parent: an inode of @mode (umask applied by the caller), linked. */
static int new_node(struct memfs *fs, struct rf_req *req, uint64_t parent, const char *name,
		    mode_t mode, dev_t rdev, const char *target, struct inode **out)
{
	const struct rf_ctx *ctx = rf_req_ctx(req);
	struct inode *dir, *n;
	struct timespec t;
	char *tcopy = NULL;
	int err = 0, len;

	len = dir_and_name(fs, parent, name, &dir);
	if (len < 0)
		return len;
	if (dir->nlink == 0)
		return -ENOENT;		/* removed directory: nothing may be created in it */
	if (is_dot(name) || dent_find(fs, dir, name, (size_t)len))
		return -EEXIST;
	if (S_ISDIR(mode) && dir->nlink >= MF_NLINK_MAX)
		return -EMLINK;
	if (target) {
		size_t tlen = strlen(target);

		if (tlen == 0)
			return -ENOENT;
		if (tlen > MF_SYMLINK_MAX)
			return -ENAMETOOLONG;
		tcopy = strdup(target);
		if (!tcopy)
			return -ENOMEM;
	}
	n = inode_new(fs, mode, &err);
	if (!n) {
		free(tcopy);
		return err;
	}
	init_owner(n, ctx, dir);
	if (S_ISDIR(mode)) {
		n->nlink = 2;
		n->u.dir.parent = dir->ino;
	} else {
		n->nlink = 1;
	}
	if (S_ISCHR(mode) || S_ISBLK(mode))
		n->rdev = rdev;
	if (tcopy) {
		n->u.target = tcopy;
		n->size = strlen(tcopy);
	}
	if (!dent_add(fs, dir, name, (size_t)len, n, &err)) {
		n->nlink = 0;
		inode_free(fs, n);
		return err;
	}
	if (S_ISDIR(mode))
		dir->nlink++;
	t = now_ts();
	dir->mtime = dir->ctime = t;
	*out = n;
	return 0;
}

void mf_lookup(struct rf_req *req, uint64_t parent, const char *name)
{
	struct memfs *fs = rf_req_userdata(req);
	struct inode *dir, *n = NULL;
	struct rf_entry e;
	int err = 0, len;

	memset(&e, 0, sizeof(e));
	fs_lock(fs);
	len = dir_and_name(fs, parent, name, &dir);
	if (len < 0) {
		err = len;
		goto out;
	}
	if (!strcmp(name, ".")) {
		n = dir;
	} else if (!strcmp(name, "..")) {
		n = inode_get(fs, dir->u.dir.parent);
		if (!n)
			err = -ENOENT;
	} else {
		struct dent *d = dent_find(fs, dir, name, (size_t)len);

		if (d)
			n = d->node;
	}
	if (n) {
		entry_fill(fs, n, &e);
	} else if (!err) {
		/* Every change goes through this mount, so the kernel may cache absence. */
		if (fs->neg_timeout > 0 && dir->nlink)
			e.entry_timeout = fs->neg_timeout;
		else
			err = -ENOENT;
	}
out:
	fs_unlock(fs);
	if (err)
		rf_reply_err(req, err);
	else
		reply_entry(fs, req, &e);
}

void mf_readlink(struct rf_req *req, uint64_t ino)
{
	struct memfs *fs = rf_req_userdata(req);
	char *buf = NULL;
	struct inode *n;
	size_t cap, len = 0;
	int err = 0;

	fs_lock(fs);
	n = inode_get(fs, ino);
	if (!n) {
		err = -ESTALE;
	} else if (!S_ISLNK(n->mode)) {
		err = -EINVAL;
	} else {
		/* Copied into the reply now: the link may be gone once the lock is dropped. */
		buf = rf_req_payload(req, &cap);
		len = (size_t)n->size;
		if (len > cap)
			err = -ENAMETOOLONG;
		else
			memcpy(buf, n->u.target, len);
	}
	fs_unlock(fs);
	if (err)
		rf_reply_err(req, err);
	else
		rf_reply_buf(req, buf, len);
}

/* MKNOD, MKDIR and SYMLINK: create, count the lookup, reply the entry. */
static void make_and_reply(struct rf_req *req, uint64_t parent, const char *name, mode_t mode,
			   dev_t rdev, const char *target)
{
	struct memfs *fs = rf_req_userdata(req);
	struct inode *n = NULL;
	struct rf_entry e;
	int err;

	fs_lock(fs);
	err = new_node(fs, req, parent, name, mode, rdev, target, &n);
	if (!err)
		entry_fill(fs, n, &e);
	fs_unlock(fs);
	if (err)
		rf_reply_err(req, err);
	else
		reply_entry(fs, req, &e);
}

void mf_mknod(struct rf_req *req, uint64_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	if ((mode & S_IFMT) == 0)
		mode |= S_IFREG;
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		make_and_reply(req, parent, name, apply_umask(mode, rf_req_ctx(req)), rdev, NULL);
		break;
	case S_IFDIR:
		rf_reply_err(req, -EPERM);	/* mkdir's job */
		break;
	default:
		rf_reply_err(req, -EINVAL);
		break;
	}
}

void mf_mkdir(struct rf_req *req, uint64_t parent, const char *name, mode_t mode)
{
	make_and_reply(req, parent, name, apply_umask(S_IFDIR | (mode & 07777), rf_req_ctx(req)),
		       0, NULL);
}

void mf_symlink(struct rf_req *req, const char *target, uint64_t parent,
		       const char *name)
{
	make_and_reply(req, parent, name, S_IFLNK | 0777, 0, target);
}

/* CREATE and TMPFILE: the reply carries an entry (a lookup) and an open handle. */
static void reply_create(struct memfs *fs, struct rf_req *req, const struct rf_entry *e,
			 struct rf_file *fi)
{
	struct inode *n;

	if (rf_reply_create(req, e, fi) < 0) {
		fs_lock(fs);
		n = inode_get(fs, e->ino);
		if (n && n->nopen)
			n->nopen--;
		forget_locked(fs, e->ino, 1);
		fs_unlock(fs);
	}
}

void mf_create(struct rf_req *req, uint64_t parent, const char *name, mode_t mode,
		      struct rf_file *fi)
{
	struct memfs *fs = rf_req_userdata(req);
	struct inode *n = NULL;
	struct rf_entry e;
	int err;

	if ((mode & S_IFMT) == 0)
		mode |= S_IFREG;
	if (!S_ISREG(mode)) {
		rf_reply_err(req, -EINVAL);
		return;
	}
	fs_lock(fs);
	err = new_node(fs, req, parent, name, apply_umask(mode, rf_req_ctx(req)), 0, NULL, &n);
	if (!err) {
		n->nopen++;
		file_opened(fs, fi);
		entry_fill(fs, n, &e);
	}
	fs_unlock(fs);
	if (err)
		rf_reply_err(req, err);
	else
		reply_create(fs, req, &e, fi);
}

void mf_tmpfile(struct rf_req *req, uint64_t parent, mode_t mode, struct rf_file *fi)
{
	struct memfs *fs = rf_req_userdata(req);
	struct inode *dir, *n = NULL;
	struct rf_entry e;
	int err = 0;

	if ((mode & S_IFMT) == 0)
		mode |= S_IFREG;
	if (!S_ISREG(mode)) {
		rf_reply_err(req, -EINVAL);
		return;
	}
	fs_lock(fs);
	dir = get_dir(fs, parent, &err);
	if (dir && dir->nlink == 0)
		err = -ENOENT;
	if (!err)
		n = inode_new(fs, apply_umask(mode, rf_req_ctx(req)), &err);
	if (n) {
		/* No name: lives while the kernel holds it open, unless linked later. */
		init_owner(n, rf_req_ctx(req), dir);
		n->linkable = !(fi->flags & O_EXCL);
		n->nopen = 1;
		file_opened(fs, fi);
		entry_fill(fs, n, &e);
	}
	fs_unlock(fs);
	if (err)
		rf_reply_err(req, err);
	else
		reply_create(fs, req, &e, fi);
}

static int do_link(struct memfs *fs, uint64_t ino, uint64_t newparent, const char *newname,
		   struct rf_entry *e)
{
	struct inode *n, *dir;
	struct timespec t;
	int err = 0, len;

	n = inode_get(fs, ino);
	if (!n)
		return -ESTALE;
	len = dir_and_name(fs, newparent, newname, &dir);
	if (len < 0)
		return len;
	if (S_ISDIR(n->mode))
		return -EPERM;
	if (dir->nlink == 0)
		return -ENOENT;
	if (is_dot(newname) || dent_find(fs, dir, newname, (size_t)len))
		return -EEXIST;
	if (n->nlink == 0 && !n->linkable)
		return -ENOENT;		/* unlinked files stay unlinked */
	if (n->nlink >= MF_NLINK_MAX)
		return -EMLINK;
	if (!dent_add(fs, dir, newname, (size_t)len, n, &err))
		return err;
	n->nlink++;
	n->linkable = false;
	t = now_ts();
	n->ctime = t;
	dir->mtime = dir->ctime = t;
	entry_fill(fs, n, e);
	return 0;
}

void mf_link(struct rf_req *req, uint64_t ino, uint64_t newparent, const char *newname)
{
	struct memfs *fs = rf_req_userdata(req);
	struct rf_entry e;
	int err;

	fs_lock(fs);
	err = do_link(fs, ino, newparent, newname, &e);
	fs_unlock(fs);
	if (err)
		rf_reply_err(req, err);
	else
		reply_entry(fs, req, &e);
}
