/* SPDX-License-Identifier: MIT */
/*
 * hl_file.c - the file operations of a high-level session: OPEN/CREATE (with the
 * configuration's cache and direct_io options), READ/WRITE (read_buf/write_buf when the
 * filesystem has them), FLUSH, RELEASE (and the hidden file's unlink at the last one),
 * FSYNC, STATFS, xattrs, locks, BMAP, IOCTL, POLL, FALLOCATE, COPY_FILE_RANGE, LSEEK.
 * Shared helpers are in hl_ops.c.
 */
#include "fuse3_hl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

/* OPEN and CREATE done: the handle's options from the configuration. */
static void open_flags(struct fuse *f, struct hl_node *n, const char *path,
		       struct fuse_file_info *fi)
{
	if (f->conf.direct_io)
		fi->direct_io = 1;
	if (f->conf.kernel_cache)
		fi->keep_cache = 1;
	if (f->conf.auto_cache && path) {
		struct stat st;

		pthread_mutex_lock(&f->lock);
		bool valid = n->cache_valid;
		pthread_mutex_unlock(&f->lock);
		/* Keep the page cache if the file did not change since it was cached; attributes
		 * that cannot be read say nothing of the kind: the cache goes, as in libfuse. */
		if (valid && fuse_fs_getattr(f->fs, path, &st, fi) == 0)
			rf_hl_update_stat(f, n, &st);
		else
			valid = false;
		pthread_mutex_lock(&f->lock);
		if (!valid)
			n->cache_valid = false;
		if (n->cache_valid)
			fi->keep_cache = 1;
		n->cache_valid = true;
		pthread_mutex_unlock(&f->lock);
	}
}

static void file_opened(struct hl_node *n)
{
	atomic_fetch_add(&n->open_count, 1);
	atomic_fetch_add(&n->unreleased, 1);
}

/* The handle's RELEASE has come (n->unreleased counted down): release it, and unlink the
 * hidden file at the last one. */
static void do_release(struct fuse *f, struct hl_node *n, const char *path,
		       struct fuse_file_info *fi)
{
	char *hpath;

	fuse_fs_release(f->fs, path, fi);
	/* Not @path: the file may have been hidden after it was built. */
	if (atomic_fetch_sub(&n->open_count, 1) == 1 && rf_hl_take_hidden(f, n, &hpath)) {
		if (hpath)
			fuse_fs_unlink(f->fs, hpath);
		rf_hl_unhidden(f, n);
	}
}

void rf_hl_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuse *f = rf_hl_req(req);
	struct hl_node *n;
	char *path;
	int err = rf_hl_node_path(f, ino, false, &n, &path);

	if (err) {
		rf_hl_reply_err(req, err);
		return;
	}
	rf_hl_prepare_intr(f, req);
	err = fuse_fs_open(f->fs, path, fi);
	if (!err)
		open_flags(f, n, path, fi);
	rf_hl_finish_intr(f, req);
	if (!err) {
		file_opened(n);
		if (fuse_reply_open(req, fi) != 0) {   /* the open was interrupted */
			atomic_fetch_sub(&n->unreleased, 1);
			do_release(f, n, path, fi);
		}
	} else {
		rf_hl_reply_err(req, err);
	}
	rf_hl_put(f, n);
}

void rf_hl_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct fuse *f = rf_hl_req(req);
	struct hl_node *dir = rf_hl_get(f, parent), *n = NULL;
	struct fuse_entry_param e;
	char *path;
	int err = dir ? rf_hl_path(f, dir, name, 0, &path) : -ENOENT;

	if (!err) {
		rf_hl_prepare_intr(f, req);
		err = fuse_fs_create(f->fs, path, mode, fi);
		if (!err) {
			err = rf_hl_lookup_path(f, dir, name, path, &e, fi);
			if (err)
				fuse_fs_release(f->fs, path, fi);
			else if (!S_ISREG(e.attr.st_mode)) {
				err = -EIO;
				fuse_fs_release(f->fs, path, fi);
				rf_hl_forget(f, e.ino, 1);
			}
		}
		rf_hl_finish_intr(f, req);
	}
	if (!err)
		n = rf_hl_get(f, e.ino);
	if (n) {
		open_flags(f, n, NULL, fi);
		file_opened(n);
		if (fuse_reply_create(req, &e, fi) != 0) {
			atomic_fetch_sub(&n->unreleased, 1);
			do_release(f, n, path, fi);
			rf_hl_forget(f, e.ino, 1);
		}
		rf_hl_put(f, n);
	} else {
		rf_hl_reply_err(req, err ? err : -ENOENT);
	}
	rf_hl_put(f, dir);
}

void rf_hl_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fuse *f = rf_hl_req(req);
	struct hl_node *n;
	char *path;
	int err = rf_hl_node_path(f, ino, true, &n, &path);

	if (err) {
		rf_hl_reply_err(req, err);
		return;
	}
	rf_hl_prepare_intr(f, req);
	if (f->fs->op.read_buf) {
		struct fuse_bufvec *bv = NULL;

		err = fuse_fs_read_buf(f->fs, path, &bv, size, off, fi);
		rf_hl_finish_intr(f, req);
		if (!err)
			fuse_reply_data(req, bv, FUSE_BUF_SPLICE_MOVE);
		rf_hl_free_bufvec(bv);
	} else {
		char *buf = rf_hl_reply_buf(req, size);

		err = buf ? fuse_fs_read(f->fs, path, buf, size, off, fi) : -ENOMEM;
		rf_hl_finish_intr(f, req);
		if (err > 0 && (size_t)err > size) {
			fuse_log(FUSE_LOG_ERR, "fuse: read of %s returned %d bytes, more than the "
				 "%zu asked for\n", path ? path : "-", err, size);
			err = -EIO;
		}
		if (err >= 0) {
			fuse_reply_buf(req, buf, (size_t)err);
			err = 0;
		}
	}
	if (err)
		rf_hl_reply_err(req, err);
	rf_hl_put(f, n);
}

void rf_hl_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct fuse *f = rf_hl_req(req);
	struct hl_node *n;
	char *path;
	int err = rf_hl_node_path(f, ino, true, &n, &path);

	if (err) {
		rf_hl_reply_err(req, err);
		return;
	}
	rf_hl_prepare_intr(f, req);
	if (f->fs->op.write_buf) {
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);

		bv.buf[0].mem = (void *)buf;
		err = fuse_fs_write_buf(f->fs, path, &bv, off, fi);
	} else {
		err = fuse_fs_write(f->fs, path, buf, size, off, fi);
	}
	rf_hl_finish_intr(f, req);
	if (err >= 0)
		fuse_reply_write(req, (size_t)err);
	else
		rf_hl_reply_err(req, err);
	rf_hl_put(f, n);
}

void rf_hl_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuse *f = rf_hl_req(req);
	struct hl_node *n;
	char *path;
	int err = rf_hl_node_path(f, ino, true, &n, &path);

	if (!err) {
		rf_hl_prepare_intr(f, req);
		err = fuse_fs_flush(f->fs, path, fi);
		/* As libfuse: the closing owner's POSIX locks go with the flush. */
		if (f->fs->op.lock) {
			struct flock l;
			int e2;

			memset(&l, 0, sizeof(l));
			l.l_type = F_UNLCK;
			l.l_whence = SEEK_SET;
			e2 = fuse_fs_lock(f->fs, path, fi, F_SETLK, &l);
			if (err == -ENOSYS)
				err = e2 == -ENOSYS ? err : 0;
		}
		rf_hl_finish_intr(f, req);
		rf_hl_put(f, n);
	}
	rf_hl_reply_err(req, err);
}

void rf_hl_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuse *f = rf_hl_req(req);
	struct hl_node *n = rf_hl_get(f, ino);
	char *path = NULL;

	if (!n) {
		rf_hl_reply_err(req, ENOENT);
		return;
	}
	if (rf_hl_path(f, n, NULL, 0, &path) != 0 && !f->conf.nullpath_ok)
		path = NULL;   /* as libfuse: release runs anyway, with no path */
	atomic_fetch_sub(&n->unreleased, 1);
	if (fi->flush) {
		fuse_fs_flush(f->fs, path, fi);
	}
	do_release(f, n, path, fi);
	rf_hl_put(f, n);
	rf_hl_reply_err(req, 0);
}

void rf_hl_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fuse *f = rf_hl_req(req);
	struct hl_node *n;
	char *path;
	int err = rf_hl_node_path(f, ino, true, &n, &path);

	if (!err) {
		rf_hl_prepare_intr(f, req);
		err = fuse_fs_fsync(f->fs, path, datasync, fi);
		rf_hl_finish_intr(f, req);
		rf_hl_put(f, n);
	}
	rf_hl_reply_err(req, err);
}

void rf_hl_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fuse *f = rf_hl_req(req);
	struct statvfs buf;
	struct hl_node *n;
	char *path;
	int err;

	memset(&buf, 0, sizeof(buf));
	err = rf_hl_node_path(f, ino ? ino : FUSE_ROOT_ID, false, &n, &path);
	if (!err) {
		rf_hl_prepare_intr(f, req);
		err = fuse_fs_statfs(f->fs, path, &buf);
		rf_hl_finish_intr(f, req);
		rf_hl_put(f, n);
	}
	if (!err)
		fuse_reply_statfs(req, &buf);
	else
		rf_hl_reply_err(req, err);
}

void rf_hl_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	struct fuse *f = rf_hl_req(req);
	struct hl_node *n;
	char *path;
	int err = rf_hl_node_path(f, ino, false, &n, &path);

	if (!err) {
		err = fuse_fs_setxattr(f->fs, path, name, value, size, flags);
		rf_hl_put(f, n);
	}
	rf_hl_reply_err(req, err);
}

/* GETXATTR (@name) and LISTXATTR (@name NULL): size 0 asks for the size. */
static void xattr_get(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fuse *f = rf_hl_req(req);
	char *buf = size ? rf_hl_tls_buf(3, size) : NULL, *path;
	struct hl_node *n;
	int res = rf_hl_node_path(f, ino, false, &n, &path);

	if (!res) {
		if (size && !buf)
			res = -ENOMEM;
		else if (name)
			res = fuse_fs_getxattr(f->fs, path, name, buf, size);
		else
			res = fuse_fs_listxattr(f->fs, path, buf, size);
		rf_hl_put(f, n);
	}
	/* A value larger than the buffer (a filesystem that ignores @size) is not read past
	 * the buffer's end: ERANGE, as getxattr(2) answers. */
	if (res > 0 && size && (size_t)res > size)
		res = -ERANGE;
	if (res < 0)
		rf_hl_reply_err(req, res);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)res);
	else
		fuse_reply_buf(req, buf, (size_t)res);
}

void rf_hl_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	xattr_get(req, ino, name, size);
}

void rf_hl_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	xattr_get(req, ino, NULL, size);
}

void rf_hl_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct fuse *f = rf_hl_req(req);
	struct hl_node *n;
	char *path;
	int err = rf_hl_node_path(f, ino, false, &n, &path);

	if (!err) {
		err = fuse_fs_removexattr(f->fs, path, name);
		rf_hl_put(f, n);
	}
	rf_hl_reply_err(req, err);
}

void rf_hl_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		     struct flock *lock)
{
	struct fuse *f = rf_hl_req(req);
	struct hl_node *n;
	char *path;
	int err = rf_hl_node_path(f, ino, true, &n, &path);

	if (!err) {
		rf_hl_prepare_intr(f, req);
		err = fuse_fs_lock(f->fs, path, fi, F_GETLK, lock);
		rf_hl_finish_intr(f, req);
		rf_hl_put(f, n);
	}
	if (!err)
		fuse_reply_lock(req, lock);
	else
		rf_hl_reply_err(req, err);
}

void rf_hl_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		     struct flock *lock, int sleep)
{
	struct fuse *f = rf_hl_req(req);
	struct hl_node *n;
	char *path;
	int err = rf_hl_node_path(f, ino, true, &n, &path);

	if (!err) {
		rf_hl_prepare_intr(f, req);
		err = fuse_fs_lock(f->fs, path, fi, sleep ? F_SETLKW : F_SETLK, lock);
		rf_hl_finish_intr(f, req);
		rf_hl_put(f, n);
	}
	rf_hl_reply_err(req, err);
}

void rf_hl_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op)
{
	struct fuse *f = rf_hl_req(req);
	struct hl_node *n;
	char *path;
	int err = rf_hl_node_path(f, ino, true, &n, &path);

	if (!err) {
		rf_hl_prepare_intr(f, req);
		err = fuse_fs_flock(f->fs, path, fi, op);
		rf_hl_finish_intr(f, req);
		rf_hl_put(f, n);
	}
	rf_hl_reply_err(req, err);
}

void rf_hl_bmap(fuse_req_t req, fuse_ino_t ino, size_t blocksize, uint64_t idx)
{
	struct fuse *f = rf_hl_req(req);
	struct hl_node *n;
	char *path;
	int err = rf_hl_node_path(f, ino, false, &n, &path);

	if (!err) {
		err = fuse_fs_bmap(f->fs, path, blocksize, &idx);
		rf_hl_put(f, n);
	}
	if (!err)
		fuse_reply_bmap(req, idx);
	else
		rf_hl_reply_err(req, err);
}

void rf_hl_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		     struct fuse_file_info *fi, unsigned int flags, const void *in_buf,
		     size_t in_bufsz, size_t out_bufsz)
{
	struct fuse *f = rf_hl_req(req);
	size_t sz = in_bufsz > out_bufsz ? in_bufsz : out_bufsz;
	char *buf = NULL, *path;
	struct fuse_file_info dfi;
	struct hl_node *n;
	int err;

	if (flags & FUSE_IOCTL_UNRESTRICTED) {
		rf_hl_reply_err(req, EPERM);
		return;
	}
	/* On a directory the kernel names the binding's handle (hl_dir.c): the filesystem
	 * gets the fh its opendir set, as from libfuse's get_dirhandle. */
	if (flags & FUSE_IOCTL_DIR) {
		dfi = *fi;
		dfi.fh = rf_hl_dir_fh(fi);
		fi = &dfi;
	}
	if (sz) {
		buf = rf_hl_tls_buf(3, sz);
		if (!buf) {
			rf_hl_reply_err(req, ENOMEM);
			return;
		}
		if (in_bufsz)
			memcpy(buf, in_buf, in_bufsz);
	}
	err = rf_hl_node_path(f, ino, true, &n, &path);
	if (!err) {
		rf_hl_prepare_intr(f, req);
		err = fuse_fs_ioctl(f->fs, path, cmd, arg, fi, flags, buf);
		rf_hl_finish_intr(f, req);
		rf_hl_put(f, n);
	}
	if (err < 0)
		rf_hl_reply_err(req, err);
	else
		fuse_reply_ioctl(req, err, buf, out_bufsz);
}

void rf_hl_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph)
{
	struct fuse *f = rf_hl_req(req);
	unsigned int revents = 0;
	struct hl_node *n;
	char *path;
	int err = rf_hl_node_path(f, ino, true, &n, &path);

	if (!err) {
		err = fuse_fs_poll(f->fs, path, fi, ph, &revents);
		rf_hl_put(f, n);
	} else if (ph) {
		fuse_pollhandle_destroy(ph);
	}
	if (!err)
		fuse_reply_poll(req, revents);
	else
		rf_hl_reply_err(req, err);
}

void rf_hl_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
			 off_t length, struct fuse_file_info *fi)
{
	struct fuse *f = rf_hl_req(req);
	struct hl_node *n;
	char *path;
	int err = rf_hl_node_path(f, ino, true, &n, &path);

	if (!err) {
		rf_hl_prepare_intr(f, req);
		err = fuse_fs_fallocate(f->fs, path, mode, offset, length, fi);
		rf_hl_finish_intr(f, req);
		rf_hl_put(f, n);
	}
	rf_hl_reply_err(req, err);
}

void rf_hl_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			       struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			       struct fuse_file_info *fi_out, size_t len, int flags)
{
	struct fuse *f = rf_hl_req(req);
	struct hl_node *ni = rf_hl_get(f, ino_in), *no = rf_hl_get(f, ino_out);
	char *pin = NULL, *pout = NULL;
	ssize_t res = -ENOENT;

	if (ni && no) {
		res = rf_hl_path2(f, ni, NULL, no, NULL, &pin, &pout);
		if (res == -ESTALE && f->conf.nullpath_ok) {
			/* either may be unlinked: each path on its own */
			if (rf_hl_path(f, ni, NULL, 0, &pin) != 0)
				pin = NULL;
			if (rf_hl_path(f, no, NULL, 1, &pout) != 0)
				pout = NULL;
			res = 0;
		}
	}
	if (res == 0) {
		rf_hl_prepare_intr(f, req);
		res = fuse_fs_copy_file_range(f->fs, pin, fi_in, off_in, pout, fi_out, off_out,
					      len, flags);
		rf_hl_finish_intr(f, req);
	}
	rf_hl_put(f, ni);
	rf_hl_put(f, no);
	if (res >= 0)
		fuse_reply_write(req, (size_t)res);
	else
		rf_hl_reply_err(req, (int)res);
}

void rf_hl_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	struct fuse *f = rf_hl_req(req);
	struct hl_node *n;
	char *path;
	off_t res;
	int err = rf_hl_node_path(f, ino, true, &n, &path);

	if (err) {
		rf_hl_reply_err(req, err);
		return;
	}
	res = fuse_fs_lseek(f->fs, path, off, whence, fi);
	rf_hl_put(f, n);
	if (res >= 0)
		fuse_reply_lseek(req, res);
	else
		rf_hl_reply_err(req, (int)res);
}

