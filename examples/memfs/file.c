/* SPDX-License-Identifier: MIT */
/*
 * file.c - the requests on an open file: OPEN (with O_TRUNC), READ, WRITE, FLUSH, FSYNC,
 * RELEASE, FALLOCATE, COPY_FILE_RANGE, LSEEK. The data work is in data.c.
 */
#include "memfs.h"

#include <errno.h>
#include <fcntl.h>

void mf_open(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct memfs *fs = rf_req_userdata(req);
	struct inode *n;
	bool killed = false;
	int err = 0;

	fs_lock(fs);
	n = inode_get(fs, ino);
	if (!n) {
		err = -ESTALE;
	} else if (S_ISDIR(n->mode)) {
		err = -EISDIR;
	} else {
		/* With ATOMIC_O_TRUNC the truncation of open(O_TRUNC) is ours. */
		if ((fi->flags & O_TRUNC) && S_ISREG(n->mode)) {
			file_resize(fs, n, 0);
			n->mtime = n->ctime = now_ts();
			if (fi->kill_priv)
				killed = kill_privs(req, n);
		}
		n->nopen++;
		file_opened(fs, fi);
	}
	fs_unlock(fs);
	if (err)
		rf_reply_err(req, err);
	else if (killed)
		reply_killed(fs, req, ino, MF_REPLY_OPEN, 0, fi);
	else
		reply_open(fs, req, ino, fi);
}

void mf_read(struct rf_req *req, uint64_t ino, size_t size, off_t off, struct rf_file *fi)
{
	struct memfs *fs = rf_req_userdata(req);
	struct inode *n;
	size_t cap, got = 0;
	char *buf = NULL;
	int err = 0;

	fs_lock(fs);
	n = inode_get(fs, ino);
	if (!n) {
		err = -ESTALE;
	} else if (!S_ISREG(n->mode)) {
		err = S_ISDIR(n->mode) ? -EISDIR : -EINVAL;
	} else if (off < 0) {
		err = -EINVAL;
	} else {
		/* Straight into the reply buffer: no copy in the runtime. */
		buf = rf_req_payload(req, &cap);
		got = file_read(n, buf, MIN(size, cap), (uint64_t)off);
		touch_atime(n);
	}
	fs_unlock(fs);
	if (err)
		rf_reply_err(req, err);
	else
		rf_reply_buf(req, buf, got);
}

void mf_write(struct rf_req *req, uint64_t ino, const void *buf, size_t size, off_t off,
		     struct rf_file *fi)
{
	struct memfs *fs = rf_req_userdata(req);
	struct inode *n;
	bool killed = false;
	int64_t ret;

	fs_lock(fs);
	n = inode_get(fs, ino);
	if (!n)
		ret = -ESTALE;
	else if (!S_ISREG(n->mode))
		ret = S_ISDIR(n->mode) ? -EISDIR : -EINVAL;
	else if (off < 0)
		ret = -EINVAL;
	else
		ret = file_write(fs, n, buf, size, (uint64_t)off);
	if (ret > 0) {
		n->mtime = n->ctime = now_ts();
		if (fi && fi->kill_priv)
			killed = kill_privs(req, n);
	}
	fs_unlock(fs);
	if (ret < 0)
		rf_reply_err(req, (int)ret);
	else if (killed)
		reply_killed(fs, req, ino, MF_REPLY_WRITE, (size_t)ret, NULL);
	else
		rf_reply_write(req, (size_t)ret);
}

/* Nothing is cached between us and the kernel: flush and fsync have nothing to do. Opens
 * and creates that are not O_RDWR set noflush (file_opened): no FLUSH comes for them. */
void mf_flush(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	rf_reply_err(req, 0);
}

void mf_fsync(struct rf_req *req, uint64_t ino, int datasync, struct rf_file *fi)
{
	rf_reply_err(req, 0);
}

void mf_release(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct memfs *fs = rf_req_userdata(req);

	fs_lock(fs);
	close_locked(fs, ino);
	fs_unlock(fs);
	rf_reply_err(req, 0);
}

void mf_fallocate(struct rf_req *req, uint64_t ino, int mode, off_t off, off_t len,
			 struct rf_file *fi)
{
	struct memfs *fs = rf_req_userdata(req);
	bool killed = false;
	int err;

	fs_lock(fs);
	err = do_fallocate(fs, ino, mode, off, len);
	if (!err)
		killed = kill_privs_unflagged(fs, req, ino);
	fs_unlock(fs);
	if (killed)
		reply_killed(fs, req, ino, MF_REPLY_NONE, 0, NULL);
	else
		rf_reply_err(req, err);
}

void mf_copy_file_range(struct rf_req *req, uint64_t ino_in, off_t off_in,
			       struct rf_file *fi_in, uint64_t ino_out, off_t off_out,
			       struct rf_file *fi_out, size_t len, int flags)
{
	struct memfs *fs = rf_req_userdata(req);
	bool killed = false;
	int64_t ret;

	fs_lock(fs);
	ret = do_copy(fs, ino_in, off_in, ino_out, off_out, len, flags);
	if (ret > 0)
		killed = kill_privs_unflagged(fs, req, ino_out);
	fs_unlock(fs);
	if (ret < 0)
		rf_reply_err(req, (int)ret);
	else if (killed)
		reply_killed(fs, req, ino_out, MF_REPLY_WRITE, (size_t)ret, NULL);
	else
		rf_reply_write(req, (size_t)ret);
}

void mf_lseek(struct rf_req *req, uint64_t ino, off_t off, int whence, struct rf_file *fi)
{
	struct memfs *fs = rf_req_userdata(req);
	int64_t ret;

	fs_lock(fs);
	ret = do_lseek(fs, ino, off, whence);
	fs_unlock(fs);
	if (ret < 0)
		rf_reply_err(req, (int)ret);
	else
		rf_reply_lseek(req, (off_t)ret);
}
