/* SPDX-License-Identifier: MIT */
/*
 * notify.c - fuse_lowlevel_notify_* and poll handles: the runtime's rf_notify_* calls,
 * which may be made from any thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuse3_int.h"

/* The runtime session behind @se, or NULL (then the notification fails as libfuse's
 * would on a session that is not connected). */
static struct rf_session *connected(struct fuse_session *se)
{
	return se && se->rs && !rf_session_ended(se->rs) ? se->rs : NULL;
}

/* libfuse reports a connection that ended as its write to /dev/fuse does: ENODEV (the
 * examples stop their notifying threads on it); the runtime says ENOTCONN. */
static int result(int ret)
{
	return ret == -ENOTCONN ? -ENODEV : ret;
}

int fuse_lowlevel_notify_poll(struct fuse_pollhandle *ph)
{
	struct rf_session *rs;

	if (!ph)
		return -EINVAL;
	rs = connected(ph->se);
	return rs ? result(rf_notify_poll(rs, ph->kh)) : -ENODEV;
}

void fuse_pollhandle_destroy(struct fuse_pollhandle *ph)
{
	free(ph);
}

int fuse_lowlevel_notify_inval_inode(struct fuse_session *se, fuse_ino_t ino, off_t off,
				     off_t len)
{
	struct rf_session *rs = connected(se);

	if (!se)
		return -EINVAL;
	return rs ? result(rf_notify_inval_inode(rs, ino, off, len)) : -ENODEV;
}

int fuse_lowlevel_notify_inval_entry(struct fuse_session *se, fuse_ino_t parent,
				     const char *name, size_t namelen)
{
	struct rf_session *rs = connected(se);

	if (!se || !name)
		return -EINVAL;
	return rs ? result(rf_notify_inval_entry(rs, parent, name, namelen)) : -ENODEV;
}

int fuse_lowlevel_notify_expire_entry(struct fuse_session *se, fuse_ino_t parent,
				      const char *name, size_t namelen,
				      enum fuse_expire_flags flags)
{
	struct rf_session *rs = connected(se);

	if (!se || !name)
		return -EINVAL;
	if (!rs)
		return -ENODEV;
	if (!(flags & FUSE_LL_EXPIRE_ONLY))
		return result(rf_notify_inval_entry(rs, parent, name, namelen));
	/* As libfuse: only where the kernel said it can expire without invalidating. */
	if (!(se->conn.capable & FUSE_CAP_EXPIRE_ONLY))
		return -ENOSYS;
	return result(rf_notify_expire_entry(rs, parent, name, namelen));
}

int fuse_lowlevel_notify_delete(struct fuse_session *se, fuse_ino_t parent, fuse_ino_t child,
				const char *name, size_t namelen)
{
	struct rf_session *rs = connected(se);

	if (!se || !name)
		return -EINVAL;
	return rs ? result(rf_notify_delete(rs, parent, child, name, namelen)) : -ENODEV;
}

int fuse_lowlevel_notify_store(struct fuse_session *se, fuse_ino_t ino, off_t offset,
			       struct fuse_bufvec *bufv, enum fuse_buf_copy_flags flags)
{
	struct rf_session *rs = connected(se);
	struct fuse_bufvec dst;
	size_t size;
	ssize_t n;
	void *mem;
	int ret;

	if (!se || !bufv)
		return -EINVAL;
	if (!rs)
		return -ENODEV;
	size = fuse_buf_size(bufv);
	if (bufv->count == 1 && !(bufv->buf[0].flags & FUSE_BUF_IS_FD) && bufv->idx == 0 &&
	    bufv->off == 0)
		return result(rf_notify_store(rs, ino, offset, bufv->buf[0].mem, size));
	/* Data spread over buffers or in a file: gather it first. */
	mem = malloc(size ? size : 1);
	if (!mem)
		return -ENOMEM;
	dst = (struct fuse_bufvec)FUSE_BUFVEC_INIT(size);
	dst.buf[0].mem = mem;
	n = size ? fuse_buf_copy(&dst, bufv, flags) : 0;
	ret = n < 0 ? (int)n : result(rf_notify_store(rs, ino, offset, mem, (size_t)n));
	free(mem);
	return ret;
}

int fuse_lowlevel_notify_retrieve(struct fuse_session *se, fuse_ino_t ino, size_t size,
				  off_t offset, void *cookie)
{
	struct rf_session *rs = connected(se);

	if (!se)
		return -EINVAL;
	return rs ? result(rf_notify_retrieve(rs, ino, offset, size, cookie)) : -ENODEV;
}
