/* SPDX-License-Identifier: MIT */
/*
 * hl_ops.c - the low-level operations of a high-level (struct fuse) session: each turns
 * node ids into paths (hl_path.c), calls the filesystem through fuse_fs_* and replies, with
 * libfuse 3.14's semantics (hidden files unless hard_remove, nullpath_ok, use_ino,
 * set_mode/uid/gid, timeouts, kernel_cache/auto_cache, direct_io, intr).
 * Directory operations are in hl_dir.c.
 */
#include "fuse3_hl.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)   /* <linux/fs.h>, renameat2(2) */
#endif

void rf_hl_set_stat(struct fuse *f, fuse_ino_t nodeid, struct stat *st)
{
	if (!f->conf.use_ino)
		st->st_ino = nodeid;
	if (f->conf.set_mode)
		st->st_mode = (st->st_mode & S_IFMT) | (0777 & ~f->conf.umask);
	if (f->conf.set_uid)
		st->st_uid = f->conf.uid;
	if (f->conf.set_gid)
		st->st_gid = f->conf.gid;
}

/* ---- intr: a signal to the handler's thread on INTERRUPT ------------------------------ */

static void intr_cb(fuse_req_t req, void *data)
{
	struct fuse *f = fuse_req_userdata(req);
	pthread_t *t = data;

	/* Runs under the request's interrupt lock; rf_hl_finish_intr takes it to clear the
	 * callback, so the thread is still in the filesystem's handler here. */
	pthread_kill(*t, f->conf.intr_signal);
}

static __thread pthread_t intr_self;
static __thread bool intr_unblocked;

static void intr_handler(int sig)
{
	(void)sig;    /* nothing: the signal is there to interrupt a blocking system call */
}

/* intr: libfuse's empty handler on intr_signal, where the program left the default. */
static void intr_install(struct fuse *f)
{
	struct sigaction sa, old;

	if (sigaction(f->conf.intr_signal, NULL, &old) == -1 || old.sa_handler != SIG_DFL ||
	    (old.sa_flags & SA_SIGINFO))
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = intr_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(f->conf.intr_signal, &sa, NULL) == 0)
		f->intr_installed = 1;
}

void rf_hl_prepare_intr(struct fuse *f, fuse_req_t req)
{
	if (f->conf.intr) {
		intr_self = pthread_self();
		/* The binding's workers block every signal: let this one through. */
		if (!intr_unblocked) {
			sigset_t s;

			sigemptyset(&s);
			sigaddset(&s, f->conf.intr_signal);
			pthread_sigmask(SIG_UNBLOCK, &s, NULL);
			intr_unblocked = true;
		}
		fuse_req_interrupt_func(req, intr_cb, &intr_self);
	}
}

void rf_hl_finish_intr(struct fuse *f, fuse_req_t req)
{
	if (f->conf.intr)
		fuse_req_interrupt_func(req, NULL, NULL);
}

/* ---- helpers -------------------------------------------------------------------------- */


/* The node and path of @ino (slot 0). With @nullok (an operation that has a file handle:
 * the filesystem can work through fi->fh), a node without a path (unlinked while open with
 * hard_remove) gets a NULL path and no error, as libfuse 3.14's get_path_nullok does; the
 * nullpath_ok flag only tells the filesystem that this may happen. */
int rf_hl_node_path(struct fuse *f, fuse_ino_t ino, bool nullok, struct hl_node **n,
		     char **path)
{
	int ret;

	*path = NULL;
	*n = rf_hl_get(f, ino);
	if (!*n)
		return -ENOENT;
	ret = rf_hl_path(f, *n, NULL, 0, path);
	if (ret == -ESTALE && nullok) {
		*path = NULL;
		ret = 0;
	}
	if (ret) {
		rf_hl_put(f, *n);
		*n = NULL;
	}
	return ret;
}

void rf_hl_update_stat(struct fuse *f, struct hl_node *n, const struct stat *st)
{
	pthread_mutex_lock(&f->lock);
	if (n->cache_valid && (n->mtime.tv_sec != st->st_mtim.tv_sec ||
			       n->mtime.tv_nsec != st->st_mtim.tv_nsec ||
			       n->size != st->st_size))
		n->cache_valid = false;
	n->mtime = st->st_mtim;
	n->size = st->st_size;
	pthread_mutex_unlock(&f->lock);
}

/* getattr, then the node of (@parent, @name) with one lookup counted. */
int rf_hl_lookup_path(struct fuse *f, struct hl_node *parent, const char *name,
		       const char *path, struct fuse_entry_param *e, struct fuse_file_info *fi)
{
	struct hl_node *n;
	int ret;

	memset(e, 0, sizeof(*e));
	ret = fuse_fs_getattr(f->fs, path, &e->attr, fi);
	if (ret)
		return ret;
	ret = rf_hl_lookup(f, parent, name, &n);
	if (ret)
		return ret;
	e->ino = n->base.nodeid;
	e->generation = n->base.generation;
	e->entry_timeout = f->conf.entry_timeout;
	e->attr_timeout = f->conf.attr_timeout;
	if (f->conf.auto_cache)
		rf_hl_update_stat(f, n, &e->attr);
	rf_hl_set_stat(f, e->ino, &e->attr);
	rf_hl_put(f, n);
	return 0;
}

/* Reply an entry; if the kernel did not get it, take back the lookup it would hold. */
static void reply_entry(struct fuse *f, fuse_req_t req, const struct fuse_entry_param *e,
			int err)
{
	if (err) {
		rf_hl_reply_err(req, err);
		return;
	}
	if (fuse_reply_entry(req, e) != 0 && e->ino)
		rf_hl_forget(f, e->ino, 1);
}

/* ---- the operations ------------------------------------------------------------------- */

static void hl_init(void *data, struct fuse_conn_info *conn)
{
	struct fuse *f = data;

	rf_hl_set_ctx(f, NULL);
	fuse_fs_init(f->fs, conn, &f->conf);
	f->inited = true;
	if (f->conf.intr)
		intr_install(f);
	if (!f->conf.ac_attr_timeout_set)
		f->conf.ac_attr_timeout = f->conf.attr_timeout;
}

static void hl_destroy(void *data)
{
	struct fuse *f = data;

	rf_hl_set_ctx(f, NULL);
	fuse_fs_destroy(f->fs);
	f->fs = NULL;
}

static void hl_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse *f = rf_hl_req(req);
	struct fuse_entry_param e;
	struct hl_node *dir, *dot = NULL;
	char *path;
	int err;

	memset(&e, 0, sizeof(e));
	err = rf_hl_node_path(f, parent, false, &dir, &path);
	if (err) {
		rf_hl_reply_err(req, err);
		return;
	}
	/* "." and ".." (NFS export): the directory itself or its parent. */
	if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) {
		if (name[1] == '.' && dir != f->root) {
			pthread_rwlock_rdlock(&f->tree);
			dot = dir->parent;
			if (dot)
				rf_itable_ref(&dot->base);
			pthread_rwlock_unlock(&f->tree);
			if (!dot) {
				rf_hl_put(f, dir);
				rf_hl_reply_err(req, ESTALE);
				return;
			}
		} else {
			dot = dir;
			rf_itable_ref(&dot->base);
		}
		err = rf_hl_path(f, dot, NULL, 0, &path);
		if (!err) {
			rf_hl_prepare_intr(f, req);
			err = fuse_fs_getattr(f->fs, path, &e.attr, NULL);
			rf_hl_finish_intr(f, req);
			if (!err) {
				rf_hl_count_lookup(f, dot);
				e.ino = dot->base.nodeid;
				e.generation = dot->base.generation;
				e.entry_timeout = f->conf.entry_timeout;
				e.attr_timeout = f->conf.attr_timeout;
				rf_hl_set_stat(f, e.ino, &e.attr);
			}
		}
		rf_hl_put(f, dot);
		rf_hl_put(f, dir);
		reply_entry(f, req, &e, err);
		return;
	}
	err = rf_hl_path(f, dir, name, 0, &path);
	if (!err) {
		if (f->conf.debug)
			fuse_log(FUSE_LOG_DEBUG, "LOOKUP %s\n", path);
		rf_hl_prepare_intr(f, req);
		err = rf_hl_lookup_path(f, dir, name, path, &e, NULL);
		if (err == -ENOENT && f->conf.negative_timeout != 0.0) {
			memset(&e, 0, sizeof(e));
			e.entry_timeout = f->conf.negative_timeout;
			err = 0;
		}
		rf_hl_finish_intr(f, req);
	}
	rf_hl_put(f, dir);
	reply_entry(f, req, &e, err);
}

static void hl_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fuse *f = fuse_req_userdata(req);

	rf_hl_forget(f, ino, nlookup);
	fuse_reply_none(req);
}

static void hl_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *fd)
{
	struct fuse *f = fuse_req_userdata(req);

	rf_hl_forget_many(f, count, fd);
	fuse_reply_none(req);
}

static void hl_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuse *f = rf_hl_req(req);
	struct hl_node *n;
	struct stat st;
	char *path;
	int err;

	memset(&st, 0, sizeof(st));
	err = rf_hl_node_path(f, ino, fi != NULL, &n, &path);
	if (!err) {
		rf_hl_prepare_intr(f, req);
		err = fuse_fs_getattr(f->fs, path, &st, fi);
		rf_hl_finish_intr(f, req);
	}
	if (!err) {
		/* As libfuse: a hidden file shows the link count it had before the unlink. */
		if (n->hidden && st.st_nlink > 0)
			st.st_nlink--;
		if (f->conf.auto_cache)
			rf_hl_update_stat(f, n, &st);
		rf_hl_set_stat(f, ino, &st);
		fuse_reply_attr(req, &st, f->conf.attr_timeout);
	} else {
		rf_hl_reply_err(req, err);
	}
	rf_hl_put(f, n);
}

static void hl_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
		       struct fuse_file_info *fi)
{
	struct fuse *f = rf_hl_req(req);
	struct hl_node *n;
	struct stat st;
	char *path;
	int err;

	memset(&st, 0, sizeof(st));
	err = rf_hl_node_path(f, ino, fi != NULL, &n, &path);
	if (err) {
		rf_hl_reply_err(req, err);
		return;
	}
	rf_hl_prepare_intr(f, req);
	if (!err && (valid & FUSE_SET_ATTR_MODE))
		err = fuse_fs_chmod(f->fs, path, attr->st_mode, fi);
	if (!err && (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		err = fuse_fs_chown(f->fs, path,
				    (valid & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1,
				    (valid & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1, fi);
	if (!err && (valid & FUSE_SET_ATTR_SIZE))
		err = fuse_fs_truncate(f->fs, path, attr->st_size, fi);
	if (!err && (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
		struct timespec tv[2];

		tv[0].tv_sec = tv[1].tv_sec = 0;
		tv[0].tv_nsec = tv[1].tv_nsec = UTIME_OMIT;
		if (valid & FUSE_SET_ATTR_ATIME_NOW)
			tv[0].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_ATIME)
			tv[0] = attr->st_atim;
		if (valid & FUSE_SET_ATTR_MTIME_NOW)
			tv[1].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_MTIME)
			tv[1] = attr->st_mtim;
		err = fuse_fs_utimens(f->fs, path, tv, fi);
	}
	if (!err)
		err = fuse_fs_getattr(f->fs, path, &st, fi);
	rf_hl_finish_intr(f, req);
	if (!err) {
		if (f->conf.auto_cache)
			rf_hl_update_stat(f, n, &st);
		rf_hl_set_stat(f, ino, &st);
		fuse_reply_attr(req, &st, f->conf.attr_timeout);
	} else {
		rf_hl_reply_err(req, err);
	}
	rf_hl_put(f, n);
}

static void hl_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct fuse *f = rf_hl_req(req);
	struct hl_node *n;
	char *path;
	int err = rf_hl_node_path(f, ino, false, &n, &path);

	if (!err) {
		err = fuse_fs_access(f->fs, path, mask);
		rf_hl_put(f, n);
	}
	rf_hl_reply_err(req, err);
}

static void hl_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fuse *f = rf_hl_req(req);
	char *buf = rf_hl_tls_buf(3, PATH_MAX + 1), *path;
	struct hl_node *n;
	int err = rf_hl_node_path(f, ino, false, &n, &path);

	if (!err) {
		err = buf ? fuse_fs_readlink(f->fs, path, buf, PATH_MAX + 1) : -ENOMEM;
		rf_hl_put(f, n);
	}
	if (!err) {
		buf[PATH_MAX] = '\0';
		fuse_reply_readlink(req, buf);
	} else {
		rf_hl_reply_err(req, err);
	}
}

/* MKNOD, MKDIR, SYMLINK and LINK: the operation, then a lookup of the new name. */
enum { MK_NOD, MK_DIR, MK_SYMLINK, MK_LINK };

static void make_entry(fuse_req_t req, int kind, fuse_ino_t parent, const char *name,
		       mode_t mode, dev_t rdev, const char *link, fuse_ino_t old)
{
	struct fuse *f = rf_hl_req(req);
	struct fuse_entry_param e;
	struct hl_node *dir = rf_hl_get(f, parent), *on = NULL;
	char *path = NULL, *opath = NULL;
	int err;

	memset(&e, 0, sizeof(e));
	if (!dir) {
		rf_hl_reply_err(req, ENOENT);
		return;
	}
	if (kind == MK_LINK) {
		on = rf_hl_get(f, old);
		err = on ? rf_hl_path2(f, on, NULL, dir, name, &opath, &path) : -ENOENT;
		/* rf_hl_path2 uses slots 0 and 1: path is in 1 */
	} else {
		err = rf_hl_path(f, dir, name, 0, &path);
	}
	if (!err) {
		rf_hl_prepare_intr(f, req);
		switch (kind) {
		case MK_NOD:
			if (S_ISREG(mode) && !f->fs->op.mknod && f->fs->op.create) {
				struct fuse_file_info fi;

				memset(&fi, 0, sizeof(fi));
				fi.flags = O_CREAT | O_EXCL | O_WRONLY;
				err = fuse_fs_create(f->fs, path, mode, &fi);
				if (!err)
					fuse_fs_release(f->fs, path, &fi);
			} else {
				err = fuse_fs_mknod(f->fs, path, mode, rdev);
			}
			break;
		case MK_DIR:
			err = fuse_fs_mkdir(f->fs, path, mode);
			break;
		case MK_SYMLINK:
			err = fuse_fs_symlink(f->fs, link, path);
			break;
		default:
			err = fuse_fs_link(f->fs, opath, path);
			break;
		}
		if (!err)
			err = rf_hl_lookup_path(f, dir, name, path, &e, NULL);
		rf_hl_finish_intr(f, req);
	}
	rf_hl_put(f, on);
	rf_hl_put(f, dir);
	reply_entry(f, req, &e, err);
}

static void hl_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	make_entry(req, MK_NOD, parent, name, mode, rdev, NULL, 0);
}

static void hl_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	make_entry(req, MK_DIR, parent, name, mode, 0, NULL, 0);
}

static void hl_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	make_entry(req, MK_SYMLINK, parent, name, 0, 0, link, 0);
}

static void hl_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	make_entry(req, MK_LINK, newparent, newname, 0, 0, NULL, ino);
}

static void hl_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse *f = rf_hl_req(req);
	struct hl_node *dir = rf_hl_get(f, parent);
	char *path;
	int err = dir ? rf_hl_path(f, dir, name, 0, &path) : -ENOENT;

	if (!err) {
		rf_hl_prepare_intr(f, req);
		if (!f->conf.hard_remove && rf_hl_is_open(f, dir, name)) {
			err = rf_hl_hide(f, dir, name, path);
		} else {
			err = fuse_fs_unlink(f->fs, path);
			if (!err)
				rf_hl_remove(f, dir, name);
		}
		rf_hl_finish_intr(f, req);
	}
	rf_hl_put(f, dir);
	rf_hl_reply_err(req, err);
}

static void hl_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse *f = rf_hl_req(req);
	struct hl_node *dir = rf_hl_get(f, parent);
	char *path;
	int err = dir ? rf_hl_path(f, dir, name, 0, &path) : -ENOENT;
	uint64_t start, deadline = 0;

	if (!err) {
		rf_hl_prepare_intr(f, req);
		start = rf_hl_now_ns();
		err = fuse_fs_rmdir(f->fs, path);
		/* Not empty maybe only for a file whose RELEASE is on its way (hl_path.c) */
		for (int tries = 0; tries < 4 && (err == -ENOTEMPTY || err == -EEXIST) &&
				    rf_hl_wait_hidden(f, dir, name, start, &deadline); tries++) {
			start = rf_hl_now_ns();
			err = fuse_fs_rmdir(f->fs, path);
		}
		rf_hl_finish_intr(f, req);
		if (!err)
			rf_hl_remove(f, dir, name);
	}
	rf_hl_put(f, dir);
	rf_hl_reply_err(req, err);
}

static void hl_rename(fuse_req_t req, fuse_ino_t olddir, const char *oldname,
		      fuse_ino_t newdir, const char *newname, unsigned int flags)
{
	struct fuse *f = rf_hl_req(req);
	struct hl_node *od = rf_hl_get(f, olddir), *nd = rf_hl_get(f, newdir);
	char *opath, *npath;
	int err = od && nd ? rf_hl_path2(f, od, oldname, nd, newname, &opath, &npath) : -ENOENT;

	if (!err) {
		rf_hl_prepare_intr(f, req);
		if (!f->conf.hard_remove && !(flags & RENAME_EXCHANGE) &&
		    rf_hl_is_open(f, nd, newname))
			err = rf_hl_hide(f, nd, newname, npath);
		if (!err) {
			/* rf_hl_hide used slot 2 only: both paths are intact */
			err = fuse_fs_rename(f->fs, opath, npath, flags);
			if (!err) {
				if (flags & RENAME_EXCHANGE)
					err = rf_hl_exchange(f, od, oldname, nd, newname);
				else
					err = rf_hl_rename(f, od, oldname, nd, newname, false);
			}
		}
		rf_hl_finish_intr(f, req);
	}
	rf_hl_put(f, od);
	rf_hl_put(f, nd);
	rf_hl_reply_err(req, err);
}

void rf_hl_fill_ops(struct fuse_lowlevel_ops *op)
{
	memset(op, 0, sizeof(*op));
	op->init = hl_init;
	op->destroy = hl_destroy;
	op->lookup = hl_lookup;
	op->forget = hl_forget;
	op->forget_multi = hl_forget_multi;
	op->getattr = hl_getattr;
	op->setattr = hl_setattr;
	op->access = hl_access;
	op->readlink = hl_readlink;
	op->mknod = hl_mknod;
	op->mkdir = hl_mkdir;
	op->unlink = hl_unlink;
	op->rmdir = hl_rmdir;
	op->symlink = hl_symlink;
	op->link = hl_link;
	op->rename = hl_rename;
	op->create = rf_hl_create;
	op->open = rf_hl_open;
	op->read = rf_hl_read;
	op->write = rf_hl_write;
	op->flush = rf_hl_flush;
	op->release = rf_hl_release;
	op->fsync = rf_hl_fsync;
	op->opendir = rf_hl_opendir;
	op->readdir = rf_hl_readdir;
	op->readdirplus = rf_hl_readdirplus;
	op->releasedir = rf_hl_releasedir;
	op->fsyncdir = rf_hl_fsyncdir;
	op->statfs = rf_hl_statfs;
	op->setxattr = rf_hl_setxattr;
	op->getxattr = rf_hl_getxattr;
	op->listxattr = rf_hl_listxattr;
	op->removexattr = rf_hl_removexattr;
	op->getlk = rf_hl_getlk;
	op->setlk = rf_hl_setlk;
	op->flock = rf_hl_flock;
	op->bmap = rf_hl_bmap;
	op->ioctl = rf_hl_ioctl;
	op->poll = rf_hl_poll;
	op->fallocate = rf_hl_fallocate;
	op->copy_file_range = rf_hl_copy_file_range;
	op->lseek = rf_hl_lseek;
}
