/* SPDX-License-Identifier: MIT */
/*
 * hl_fs.c - fuse_fs_*: one filesystem object of the high-level API (struct fuse_fs), the
 * calls a stacking module makes on the filesystem below it, and what the binding itself
 * calls. Each sets fuse_get_context()->private_data to the object's user data first, and
 * a missing operation answers as in libfuse 3.14: 0 for open/opendir/release/releasedir
 * (nothing to do), default figures for statfs, -ENOSYS for the rest.
 */
#include "fuse3_hl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

static inline void enter(struct fuse_fs *fs)
{
	rf_hl_tls.ctx.private_data = fs->user_data;
}

struct fuse_fs *fuse_fs_new(const struct fuse_operations *op, size_t op_size, void *user_data)
{
	struct fuse_fs *fs;

	if (!op)
		return NULL;
	if (op_size > sizeof(struct fuse_operations)) {
		fuse_log(FUSE_LOG_ERR, "fuse: warning: library too old, some operations may "
			 "not work\n");
		op_size = sizeof(struct fuse_operations);
	}
	fs = calloc(1, sizeof(*fs));
	if (!fs) {
		fuse_log(FUSE_LOG_ERR, "fuse: failed to allocate fuse_fs object\n");
		return NULL;
	}
	fs->user_data = user_data;
	memcpy(&fs->op, op, op_size);
	return fs;
}

int fuse_fs_getattr(struct fuse_fs *fs, const char *path, struct stat *buf, struct fuse_file_info *fi)
{
	enter(fs);
	return fs->op.getattr ? fs->op.getattr(path, buf, fi) : -ENOSYS;
}

int fuse_fs_rename(struct fuse_fs *fs, const char *oldpath, const char *newpath, unsigned int flags)
{
	enter(fs);
	return fs->op.rename ? fs->op.rename(oldpath, newpath, flags) : -ENOSYS;
}

int fuse_fs_unlink(struct fuse_fs *fs, const char *path)
{
	enter(fs);
	return fs->op.unlink ? fs->op.unlink(path) : -ENOSYS;
}

int fuse_fs_rmdir(struct fuse_fs *fs, const char *path)
{
	enter(fs);
	return fs->op.rmdir ? fs->op.rmdir(path) : -ENOSYS;
}

int fuse_fs_symlink(struct fuse_fs *fs, const char *linkname, const char *path)
{
	enter(fs);
	return fs->op.symlink ? fs->op.symlink(linkname, path) : -ENOSYS;
}

int fuse_fs_link(struct fuse_fs *fs, const char *oldpath, const char *newpath)
{
	enter(fs);
	return fs->op.link ? fs->op.link(oldpath, newpath) : -ENOSYS;
}

int fuse_fs_release(struct fuse_fs *fs, const char *path, struct fuse_file_info *fi)
{
	enter(fs);
	return fs->op.release ? fs->op.release(path, fi) : 0;
}

int fuse_fs_open(struct fuse_fs *fs, const char *path, struct fuse_file_info *fi)
{
	enter(fs);
	return fs->op.open ? fs->op.open(path, fi) : 0;
}

/* As libfuse: through fuse_fs_write_buf, so that a filesystem with write_buf (alone or with
 * write) gets the data there, not ENOSYS. */
int fuse_fs_write(struct fuse_fs *fs, const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);

	bv.buf[0].mem = (void *)buf;
	return fuse_fs_write_buf(fs, path, &bv, off, fi);
}

int fuse_fs_fsync(struct fuse_fs *fs, const char *path, int datasync, struct fuse_file_info *fi)
{
	enter(fs);
	return fs->op.fsync ? fs->op.fsync(path, datasync, fi) : -ENOSYS;
}

int fuse_fs_flush(struct fuse_fs *fs, const char *path, struct fuse_file_info *fi)
{
	enter(fs);
	return fs->op.flush ? fs->op.flush(path, fi) : -ENOSYS;
}

int fuse_fs_opendir(struct fuse_fs *fs, const char *path, struct fuse_file_info *fi)
{
	enter(fs);
	return fs->op.opendir ? fs->op.opendir(path, fi) : 0;
}

int fuse_fs_readdir(struct fuse_fs *fs, const char *path, void *buf, fuse_fill_dir_t filler, off_t off, struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	enter(fs);
	return fs->op.readdir ? fs->op.readdir(path, buf, filler, off, fi, flags) : -ENOSYS;
}

int fuse_fs_fsyncdir(struct fuse_fs *fs, const char *path, int datasync, struct fuse_file_info *fi)
{
	enter(fs);
	return fs->op.fsyncdir ? fs->op.fsyncdir(path, datasync, fi) : -ENOSYS;
}

int fuse_fs_releasedir(struct fuse_fs *fs, const char *path, struct fuse_file_info *fi)
{
	enter(fs);
	return fs->op.releasedir ? fs->op.releasedir(path, fi) : 0;
}

int fuse_fs_create(struct fuse_fs *fs, const char *path, mode_t mode, struct fuse_file_info *fi)
{
	enter(fs);
	return fs->op.create ? fs->op.create(path, mode, fi) : -ENOSYS;
}

int fuse_fs_lock(struct fuse_fs *fs, const char *path, struct fuse_file_info *fi, int cmd, struct flock *lock)
{
	enter(fs);
	return fs->op.lock ? fs->op.lock(path, fi, cmd, lock) : -ENOSYS;
}

int fuse_fs_flock(struct fuse_fs *fs, const char *path, struct fuse_file_info *fi, int op)
{
	enter(fs);
	return fs->op.flock ? fs->op.flock(path, fi, op) : -ENOSYS;
}

int fuse_fs_chmod(struct fuse_fs *fs, const char *path, mode_t mode, struct fuse_file_info *fi)
{
	enter(fs);
	return fs->op.chmod ? fs->op.chmod(path, mode, fi) : -ENOSYS;
}

int fuse_fs_chown(struct fuse_fs *fs, const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	enter(fs);
	return fs->op.chown ? fs->op.chown(path, uid, gid, fi) : -ENOSYS;
}

int fuse_fs_truncate(struct fuse_fs *fs, const char *path, off_t size, struct fuse_file_info *fi)
{
	enter(fs);
	return fs->op.truncate ? fs->op.truncate(path, size, fi) : -ENOSYS;
}

int fuse_fs_utimens(struct fuse_fs *fs, const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	enter(fs);
	return fs->op.utimens ? fs->op.utimens(path, tv, fi) : -ENOSYS;
}

int fuse_fs_access(struct fuse_fs *fs, const char *path, int mask)
{
	enter(fs);
	return fs->op.access ? fs->op.access(path, mask) : -ENOSYS;
}

int fuse_fs_readlink(struct fuse_fs *fs, const char *path, char *buf, size_t len)
{
	enter(fs);
	return fs->op.readlink ? fs->op.readlink(path, buf, len) : -ENOSYS;
}

int fuse_fs_mknod(struct fuse_fs *fs, const char *path, mode_t mode, dev_t rdev)
{
	enter(fs);
	return fs->op.mknod ? fs->op.mknod(path, mode, rdev) : -ENOSYS;
}

int fuse_fs_mkdir(struct fuse_fs *fs, const char *path, mode_t mode)
{
	enter(fs);
	return fs->op.mkdir ? fs->op.mkdir(path, mode) : -ENOSYS;
}

int fuse_fs_setxattr(struct fuse_fs *fs, const char *path, const char *name, const char *value, size_t size, int flags)
{
	enter(fs);
	return fs->op.setxattr ? fs->op.setxattr(path, name, value, size, flags) : -ENOSYS;
}

int fuse_fs_getxattr(struct fuse_fs *fs, const char *path, const char *name, char *value, size_t size)
{
	enter(fs);
	return fs->op.getxattr ? fs->op.getxattr(path, name, value, size) : -ENOSYS;
}

int fuse_fs_listxattr(struct fuse_fs *fs, const char *path, char *list, size_t size)
{
	enter(fs);
	return fs->op.listxattr ? fs->op.listxattr(path, list, size) : -ENOSYS;
}

int fuse_fs_removexattr(struct fuse_fs *fs, const char *path, const char *name)
{
	enter(fs);
	return fs->op.removexattr ? fs->op.removexattr(path, name) : -ENOSYS;
}

int fuse_fs_bmap(struct fuse_fs *fs, const char *path, size_t blocksize, uint64_t *idx)
{
	enter(fs);
	return fs->op.bmap ? fs->op.bmap(path, blocksize, idx) : -ENOSYS;
}

int fuse_fs_ioctl(struct fuse_fs *fs, const char *path, unsigned int cmd, void *arg, struct fuse_file_info *fi, unsigned int flags, void *data)
{
	enter(fs);
	return fs->op.ioctl ? fs->op.ioctl(path, cmd, arg, fi, flags, data) : -ENOSYS;
}

int fuse_fs_poll(struct fuse_fs *fs, const char *path, struct fuse_file_info *fi, struct fuse_pollhandle *ph, unsigned *reventsp)
{
	enter(fs);
	return fs->op.poll ? fs->op.poll(path, fi, ph, reventsp) : -ENOSYS;
}

int fuse_fs_fallocate(struct fuse_fs *fs, const char *path, int mode, off_t offset, off_t length, struct fuse_file_info *fi)
{
	enter(fs);
	return fs->op.fallocate ? fs->op.fallocate(path, mode, offset, length, fi) : -ENOSYS;
}

int fuse_fs_read(struct fuse_fs *fs, const char *path, char *buf, size_t size, off_t off,
		 struct fuse_file_info *fi)
{
	enter(fs);
	if (fs->op.read)
		return fs->op.read(path, buf, size, off, fi);
	if (fs->op.read_buf) {
		struct fuse_bufvec *bv = NULL, dst = FUSE_BUFVEC_INIT(size);
		int res = fs->op.read_buf(path, &bv, size, off, fi);

		if (res == 0 && bv) {
			dst.buf[0].mem = buf;
			res = (int)fuse_buf_copy(&dst, bv, 0);
		}
		rf_hl_free_bufvec(bv);
		return res;
	}
	return -ENOSYS;
}

/* Frees what fuse_fs_read_buf (or a filesystem's read_buf) returned: memory buffers and the
 * vector; fd buffers stay the filesystem's. */
void rf_hl_free_bufvec(struct fuse_bufvec *bv)
{
	if (!bv)
		return;
	for (size_t i = 0; i < bv->count; i++)
		if (!(bv->buf[i].flags & FUSE_BUF_IS_FD))
			free(bv->buf[i].mem);
	free(bv);
}

int fuse_fs_read_buf(struct fuse_fs *fs, const char *path, struct fuse_bufvec **bufp,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fuse_bufvec *bv;
	int res;

	enter(fs);
	if (fs->op.read_buf)
		return fs->op.read_buf(path, bufp, size, off, fi);
	if (!fs->op.read)
		return -ENOSYS;
	bv = malloc(sizeof(*bv));
	if (!bv)
		return -ENOMEM;
	*bv = (struct fuse_bufvec)FUSE_BUFVEC_INIT(size);
	bv->buf[0].mem = malloc(size ? size : 1);
	if (!bv->buf[0].mem) {
		free(bv);
		return -ENOMEM;
	}
	res = fs->op.read(path, bv->buf[0].mem, size, off, fi);
	if (res < 0) {
		rf_hl_free_bufvec(bv);
		return res;
	}
	bv->buf[0].size = (size_t)res;
	*bufp = bv;
	return 0;
}

int fuse_fs_write_buf(struct fuse_fs *fs, const char *path, struct fuse_bufvec *buf, off_t off,
		      struct fuse_file_info *fi)
{
	size_t size;
	void *mem;
	int res;

	enter(fs);
	if (fs->op.write_buf)
		return fs->op.write_buf(path, buf, off, fi);
	if (!fs->op.write)
		return -ENOSYS;
	size = fuse_buf_size(buf);
	if (buf->count == 1 && buf->idx == 0 && buf->off == 0 &&
	    !(buf->buf[0].flags & FUSE_BUF_IS_FD))
		return fs->op.write(path, buf->buf[0].mem, size, off, fi);
	mem = malloc(size ? size : 1);
	if (!mem)
		return -ENOMEM;
	{
		struct fuse_bufvec dst = FUSE_BUFVEC_INIT(size);

		dst.buf[0].mem = mem;
		res = (int)fuse_buf_copy(&dst, buf, 0);
	}
	if (res >= 0)
		res = fs->op.write(path, mem, (size_t)res, off, fi);
	free(mem);
	return res;
}

int fuse_fs_statfs(struct fuse_fs *fs, const char *path, struct statvfs *buf)
{
	enter(fs);
	if (fs->op.statfs)
		return fs->op.statfs(path, buf);
	buf->f_namemax = 255;
	buf->f_bsize = 512;
	return 0;
}

ssize_t fuse_fs_copy_file_range(struct fuse_fs *fs, const char *path_in,
				struct fuse_file_info *fi_in, off_t off_in, const char *path_out,
				struct fuse_file_info *fi_out, off_t off_out, size_t len, int flags)
{
	enter(fs);
	if (!fs->op.copy_file_range)
		return -ENOSYS;
	return fs->op.copy_file_range(path_in, fi_in, off_in, path_out, fi_out, off_out, len,
				      flags);
}

off_t fuse_fs_lseek(struct fuse_fs *fs, const char *path, off_t off, int whence,
		    struct fuse_file_info *fi)
{
	enter(fs);
	return fs->op.lseek ? fs->op.lseek(path, off, whence, fi) : -ENOSYS;
}

/* As libfuse: capabilities the filesystem cannot use are taken out of want first. */
void fuse_fs_init(struct fuse_fs *fs, struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	enter(fs);
	if (!fs->op.write_buf)
		conn->want &= ~FUSE_CAP_SPLICE_READ;
	if (!fs->op.lock)
		conn->want &= ~FUSE_CAP_POSIX_LOCKS;
	if (!fs->op.flock)
		conn->want &= ~FUSE_CAP_FLOCK_LOCKS;
	if (fs->op.init)
		fs->user_data = fs->op.init(conn, cfg);
}

void fuse_fs_destroy(struct fuse_fs *fs)
{
	if (!fs)
		return;
	enter(fs);
	if (fs->op.destroy)
		fs->op.destroy(fs->user_data);
	free(fs);
}
