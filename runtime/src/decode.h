/* SPDX-License-Identifier: MIT */
/*
 * decode.h - what the decoders of the dispatch layer share: a bounds-checked view of a
 * request's arguments, the checks that answer a malformed request EIO (DECODE), the pass
 * through the ordering chains (ADMIT) and the call into the filesystem with the protocol's
 * default when the operation is NULL (CALL). Every decoder is one rf__do_<opcode>.
 */
#ifndef RF_DECODE_H
#define RF_DECODE_H

#include <string.h>

#include "internal.h"

/* A view of the request's arguments (after the in header, before any extension). */
struct args {
	const char *p;
	size_t left;
};

static inline bool take(struct args *a, void *dst, size_t n)
{
	if (a->left < n)
		return false;
	memcpy(dst, a->p, n);
	a->p += n;
	a->left -= n;
	return true;
}

/* Copy a struct that older kernels send shorter: zero-fill what is missing. */
static inline bool take_compat(struct args *a, void *dst, size_t n, size_t min)
{
	size_t got = RF_MIN(n, a->left);

	if (got < min)
		return false;
	memset(dst, 0, n);
	memcpy(dst, a->p, got);
	a->p += got;
	a->left -= got;
	return true;
}

/* Copy a struct whose size depends on the protocol version and that a name or data
 * follows: exactly @size of its @n bytes are in the message (the rest zero-filled). */
static inline bool take_exact(struct args *a, void *dst, size_t n, size_t size)
{
	if (a->left < size)
		return false;
	memset(dst, 0, n);
	memcpy(dst, a->p, size);
	a->p += size;
	a->left -= size;
	return true;
}

/* A NUL-terminated, non-empty name wholly inside the message. */
static inline const char *take_name(struct args *a)
{
	const char *name = a->p;
	const char *nul = a->left ? memchr(a->p, '\0', a->left) : NULL;

	if (!nul || nul == name)
		return NULL;
	a->left -= (size_t)(nul - name) + 1;
	a->p = nul + 1;
	return name;
}

static inline const void *take_bytes(struct args *a, size_t n)
{
	const void *p = a->p;

	if (a->left < n)
		return NULL;
	a->p += n;
	a->left -= n;
	return p;
}

#define DECODE(what, cond)                  \
	do {                                 \
		if (!(cond)) {               \
			rf__bad_request(req, what); \
			return;              \
		}                            \
	} while (0)

/* Pass the request's ordering chain (order.c), or return: it was parked (it comes back
 * through rf__dispatch_resume and this decoder runs again) or answered EBADF. */
#define ADMIT(...)                                                   \
	do {                                                         \
		struct rf_order_spec spec_ = { __VA_ARGS__ };        \
		if (!rf__order_admit(req, &spec_))                   \
			return;                                      \
	} while (0)
#define ADMIT_FH(fh_, role_) ADMIT(.fh = { (fh_) }, .role = { (role_) })

static inline uint32_t minor(const struct rf_req *req)
{
	return req->se->conn.proto_minor;
}


static inline bool take_read_in(struct rf_req *req, struct args *a, struct fuse_read_in *in)
{
	if (!take_compat(a, in, sizeof(*in), minor(req) >= 9 ? sizeof(*in) : 24))
		return false;
	req->fi.fh = in->fh;
	req->fi.flags = (int)in->flags;
	if (in->read_flags & FUSE_READ_LOCKOWNER)
		req->fi.lock_owner = in->lock_owner;
	return true;
}

/* Call the filesystem's operation @op, or give the request the protocol's default for its
 * opcode (proto.c) when the filesystem left it NULL. */
#define CALL(op, ...)                                              \
	do {                                                       \
		if (!req->se->ops.op)                              \
			return (void)rf__reply_default(req);       \
		req->se->ops.op(__VA_ARGS__);                      \
	} while (0)

/* trace.c: the -d line of a request, with its decoded arguments. */
void rf__trace_request(struct rf_req *req, const struct args *a);

/* decode.c */
void rf__bad_request(struct rf_req *req, const char *why);
int rf__reply_default(struct rf_req *req);

/* The decoders: init.c, dispatch_names.c, dispatch_files.c. */
void rf__do_access(struct rf_req *req, struct args *a);
void rf__do_batch_forget(struct rf_req *req, struct args *a);
void rf__do_bmap(struct rf_req *req, struct args *a);
void rf__do_copy_file_range(struct rf_req *req, struct args *a);
void rf__do_create(struct rf_req *req, struct args *a);
void rf__do_destroy(struct rf_req *req, struct args *a);
void rf__do_fallocate(struct rf_req *req, struct args *a);
void rf__do_flush(struct rf_req *req, struct args *a);
void rf__do_forget(struct rf_req *req, struct args *a);
void rf__do_fsync(struct rf_req *req, struct args *a);
void rf__do_fsyncdir(struct rf_req *req, struct args *a);
void rf__do_getattr(struct rf_req *req, struct args *a);
void rf__do_getlk(struct rf_req *req, struct args *a);
void rf__do_getxattr(struct rf_req *req, struct args *a);
void rf__do_init(struct rf_req *req, struct args *a);
/* cuse.c: CUSE_INIT, and whether the device takes ioctls of any command. */
void rf__do_cuse_init(struct rf_req *req, struct args *a);
bool rf__cuse_unrestricted(const struct rf_session *se);
void rf__do_interrupt(struct rf_req *req, struct args *a);
void rf__do_ioctl(struct rf_req *req, struct args *a);
void rf__do_link(struct rf_req *req, struct args *a);
void rf__do_listxattr(struct rf_req *req, struct args *a);
void rf__do_lookup(struct rf_req *req, struct args *a);
void rf__do_lseek(struct rf_req *req, struct args *a);
void rf__do_mkdir(struct rf_req *req, struct args *a);
void rf__do_mknod(struct rf_req *req, struct args *a);
void rf__do_notify_reply(struct rf_req *req, struct args *a);
void rf__do_open(struct rf_req *req, struct args *a);
void rf__do_opendir(struct rf_req *req, struct args *a);
void rf__do_poll(struct rf_req *req, struct args *a);
void rf__do_readdir(struct rf_req *req, struct args *a);
void rf__do_readdirplus(struct rf_req *req, struct args *a);
void rf__do_readlink(struct rf_req *req, struct args *a);
void rf__do_release(struct rf_req *req, struct args *a);
void rf__do_releasedir(struct rf_req *req, struct args *a);
void rf__do_removexattr(struct rf_req *req, struct args *a);
void rf__do_rename(struct rf_req *req, struct args *a);
void rf__do_rename2(struct rf_req *req, struct args *a);
void rf__do_rmdir(struct rf_req *req, struct args *a);
void rf__do_setattr(struct rf_req *req, struct args *a);
void rf__do_setlk(struct rf_req *req, struct args *a);
void rf__do_setlkw(struct rf_req *req, struct args *a);
void rf__do_setxattr(struct rf_req *req, struct args *a);
void rf__do_statfs(struct rf_req *req, struct args *a);
void rf__do_statx(struct rf_req *req, struct args *a);
void rf__do_symlink(struct rf_req *req, struct args *a);
void rf__do_syncfs(struct rf_req *req, struct args *a);
void rf__do_tmpfile(struct rf_req *req, struct args *a);
void rf__do_unlink(struct rf_req *req, struct args *a);

#endif /* RF_DECODE_H */
