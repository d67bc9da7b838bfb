/* SPDX-License-Identifier: MIT */
/*
 * xattr.c - extended attributes in the user., trusted. and security. namespaces, kept as a
 * list per inode ("system.", ACLs and the like, is not ours to store).
 */
#include "memfs.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#ifndef XATTR_NAME_MAX
#define XATTR_NAME_MAX 255
#endif
#ifndef XATTR_SIZE_MAX
#define XATTR_SIZE_MAX 65536
#endif
#ifndef XATTR_LIST_MAX
#define XATTR_LIST_MAX 65536
#endif

/* Length of a valid name, or -errno. "system." (ACLs, ...) is not ours to store. */
static int xattr_name(const char *name)
{
	static const char *const prefixes[] = { "user.", "trusted.", "security." };
	size_t len = strlen(name), i;

	if (len == 0 || len > XATTR_NAME_MAX)
		return -ERANGE;
	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t plen = strlen(prefixes[i]);

		if (!strncmp(name, prefixes[i], plen))
			return len > plen ? (int)len : -EINVAL;
	}
	return -EOPNOTSUPP;
}

static struct xattr **xattr_find(struct inode *n, const char *name, size_t len)
{
	struct xattr **pp;

	for (pp = &n->xattrs; *pp; pp = &(*pp)->next)
		if ((*pp)->namelen == len && !memcmp((*pp)->data, name, len))
			return pp;
	return NULL;
}

static int do_setxattr(struct memfs *fs, uint64_t ino, const char *name, const void *value,
		       size_t size, int flags)
{
	struct xattr **pp, *x;
	struct inode *n = inode_get(fs, ino);
	int len = xattr_name(name);

	if (!n)
		return -ESTALE;
	if (len < 0)
		return len;
	if (flags & ~(XATTR_CREATE | XATTR_REPLACE))
		return -EINVAL;
	if (size > XATTR_SIZE_MAX)
		return -E2BIG;
	pp = xattr_find(n, name, (size_t)len);
	if (pp && (flags & XATTR_CREATE))
		return -EEXIST;
	if (!pp && (flags & XATTR_REPLACE))
		return -ENODATA;
	if (!pp && n->xattr_list + (size_t)len + 1 > XATTR_LIST_MAX)
		return -ENOSPC;
	/* A new record first, so a failure leaves the old value in place. */
	x = malloc(sizeof(*x) + (size_t)len + 1 + size);
	if (!x)
		return -ENOMEM;
	x->namelen = (size_t)len;
	x->vlen = size;
	memcpy(x->data, name, (size_t)len + 1);
	if (size)
		memcpy(x->data + len + 1, value, size);
	if (pp) {
		x->next = (*pp)->next;
		free(*pp);
		*pp = x;
	} else {
		x->next = n->xattrs;
		n->xattrs = x;
		n->xattr_list += (size_t)len + 1;
	}
	n->ctime = now_ts();
	return 0;
}

void mf_setxattr(struct rf_req *req, uint64_t ino, const char *name, const void *value,
			size_t size, int flags)
{
	struct memfs *fs = rf_req_userdata(req);
	int err;

	fs_lock(fs);
	err = do_setxattr(fs, ino, name, value, size, flags);
	fs_unlock(fs);
	rf_reply_err(req, err);
}

/* Whether LISTXATTR shows @x to the caller of @req: trusted.* names only to those with
 * CAP_SYS_ADMIN (uid 0 stands for it), as tmpfs lists them; the kernel guards only their
 * values (GETXATTR), not the list. */
static bool xattr_listed(struct rf_req *req, const struct xattr *x)
{
	return rf_req_ctx(req)->uid == 0 || strncmp(x->data, "trusted.", 8);
}

/* GETXATTR with @name, LISTXATTR without: 0 and the bytes in the payload (or only their
 * count when @size is 0, in *need), or -errno. */
static int do_getxattr(struct memfs *fs, struct rf_req *req, uint64_t ino, const char *name,
		       size_t size, size_t *need, char **buf)
{
	struct inode *n = inode_get(fs, ino);
	struct xattr **pp, *x;
	const char *src;
	size_t cap, off = 0;
	int len;

	if (!n)
		return -ESTALE;
	if (name) {
		len = xattr_name(name);
		if (len < 0)
			return len;
		pp = xattr_find(n, name, (size_t)len);
		if (!pp)
			return -ENODATA;
		*need = (*pp)->vlen;
		src = (*pp)->data + (*pp)->namelen + 1;
	} else {
		*need = 0;
		for (x = n->xattrs; x; x = x->next)
			if (xattr_listed(req, x))
				*need += x->namelen + 1;
		src = NULL;
	}
	if (size == 0)
		return 0;
	if (size < *need)
		return -ERANGE;
	*buf = rf_req_payload(req, &cap);
	if (cap < *need)
		return -E2BIG;
	if (src) {
		memcpy(*buf, src, *need);
		return 0;
	}
	for (x = n->xattrs; x; x = x->next) {
		if (!xattr_listed(req, x))
			continue;
		memcpy(*buf + off, x->data, x->namelen + 1);
		off += x->namelen + 1;
	}
	return 0;
}

static void reply_xattr(struct memfs *fs, struct rf_req *req, uint64_t ino, const char *name,
			size_t size)
{
	char *buf = NULL;
	size_t need = 0;
	int err;

	fs_lock(fs);
	err = do_getxattr(fs, req, ino, name, size, &need, &buf);
	fs_unlock(fs);
	if (err)
		rf_reply_err(req, err);
	else if (size == 0)
		rf_reply_xattr_size(req, need);
	else
		rf_reply_buf(req, buf, need);
}

void mf_getxattr(struct rf_req *req, uint64_t ino, const char *name, size_t size)
{
	reply_xattr(rf_req_userdata(req), req, ino, name, size);
}

void mf_listxattr(struct rf_req *req, uint64_t ino, size_t size)
{
	reply_xattr(rf_req_userdata(req), req, ino, NULL, size);
}

static int do_removexattr(struct memfs *fs, uint64_t ino, const char *name)
{
	struct inode *n = inode_get(fs, ino);
	struct xattr **pp, *x;
	int len = xattr_name(name);

	if (!n)
		return -ESTALE;
	if (len < 0)
		return len;
	pp = xattr_find(n, name, (size_t)len);
	if (!pp)
		return -ENODATA;
	x = *pp;
	*pp = x->next;
	n->xattr_list -= x->namelen + 1;
	free(x);
	n->ctime = now_ts();
	return 0;
}

void mf_removexattr(struct rf_req *req, uint64_t ino, const char *name)
{
	struct memfs *fs = rf_req_userdata(req);
	int err;

	fs_lock(fs);
	err = do_removexattr(fs, ino, name);
	fs_unlock(fs);
	rf_reply_err(req, err);
}
