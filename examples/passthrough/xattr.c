/* SPDX-License-Identifier: MIT */
/*
 * xattr.c - extended attributes: SETXATTR, GETXATTR, LISTXATTR, REMOVEXATTR.
 */
#include "passthrough.h"

#include <sys/xattr.h>

/*
 * xattr calls have no fd variant for O_PATH fds: they go through /proc/self/fd/N, which
 * reaches the file itself (a symlink too: the magic link is not followed further).
 */
static struct pt_inode *xattr_start(struct rf_req *req, uint64_t ino, char *path, int *fd)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_inode *in = iget(fs, ino);

	if (!in) {
		rf_reply_err(req, -ESTALE);
		return NULL;
	}
	*fd = ifd_get(fs, in);
	if (*fd < 0) {
		rf_reply_err(req, *fd);
		iput(fs, in);
		return NULL;
	}
	proc_path(path, *fd);
	return in;
}

static void xattr_end(struct rf_req *req, struct pt_inode *in, int fd)
{
	ifd_put(in, fd);
	iput(fs_of(req), in);
}

/* GETXATTR/LISTXATTR: @n bytes (or -errno) read into @buf, the request's payload; a
 * caller that asked with size 0 wants the size alone. */
static void xattr_reply(struct rf_req *req, ssize_t n, size_t size, const char *buf)
{
	if (n < 0)
		rf_reply_err(req, (int)n);
	else if (!size)
		rf_reply_xattr_size(req, (size_t)n);
	else
		rf_reply_buf(req, buf, (size_t)n);
}

void pt_setxattr(struct rf_req *req, uint64_t ino, const char *name, const void *value,
		 size_t size, int flags)
{
	char path[PT_PROC_PATH];
	int fd;
	struct pt_inode *in = xattr_start(req, ino, path, &fd);

	if (!in)
		return;
	rf_reply_err(req, setxattr(path, name, value, size, flags) < 0 ? -errno : 0);
	xattr_end(req, in, fd);
}

void pt_getxattr(struct rf_req *req, uint64_t ino, const char *name, size_t size)
{
	char path[PT_PROC_PATH];
	int fd;
	struct pt_inode *in = xattr_start(req, ino, path, &fd);
	size_t cap;
	char *buf;
	ssize_t n;

	if (!in)
		return;
	buf = rf_req_payload(req, &cap);
	n = getxattr(path, name, size ? buf : NULL, size < cap ? size : cap);
	xattr_reply(req, n < 0 ? -errno : n, size, buf);
	xattr_end(req, in, fd);
}

/*
 * Drop the trusted.* names from the list @buf of @n bytes; returns the new length. The
 * source lists them to us, root; to anyone else without CAP_SYS_ADMIN it does not (the
 * trusted handler's list), and the kernel only guards their values, not LISTXATTR.
 */
static ssize_t drop_trusted(char *buf, ssize_t n)
{
	ssize_t in = 0, out = 0, len;

	while (in < n) {
		len = (ssize_t)strnlen(buf + in, (size_t)(n - in)) + 1;
		if (strncmp(buf + in, "trusted.", 8)) {
			memmove(buf + out, buf + in, (size_t)len);
			out += len;
		}
		in += len;
	}
	return out;
}

void pt_listxattr(struct rf_req *req, uint64_t ino, size_t size)
{
	char path[PT_PROC_PATH];
	int fd;
	struct pt_inode *in = xattr_start(req, ino, path, &fd);
	bool all = rf_req_ctx(req)->uid == 0;   /* uid 0 stands for CAP_SYS_ADMIN */
	size_t cap;
	char *buf;
	ssize_t n;

	if (!in)
		return;
	buf = rf_req_payload(req, &cap);
	if (all) {
		n = listxattr(path, size ? buf : NULL, size < cap ? size : cap);
		n = n < 0 ? -errno : n;
	} else {
		/* The whole list, even for its size alone: what is left after the filter. */
		n = listxattr(path, buf, cap);
		n = n < 0 ? (errno == ERANGE ? -E2BIG : -errno) : drop_trusted(buf, n);
		if (n >= 0 && size && (size_t)n > size)
			n = -ERANGE;
	}
	xattr_reply(req, n, size, buf);
	xattr_end(req, in, fd);
}

void pt_removexattr(struct rf_req *req, uint64_t ino, const char *name)
{
	char path[PT_PROC_PATH];
	int fd;
	struct pt_inode *in = xattr_start(req, ino, path, &fd);

	if (!in)
		return;
	rf_reply_err(req, removexattr(path, name) < 0 ? -errno : 0);
	xattr_end(req, in, fd);
}
