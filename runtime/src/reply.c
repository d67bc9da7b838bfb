/* SPDX-License-Identifier: MIT */
/*
 * reply.c - encode replies where the transport said they go (in a /dev/fuse slot, behind
 * the request itself; in a kernel queue entry, its header and payload), send them from the
 * request's own loop, and end the request: once its reply is out and its last backing
 * operation completed, the chains let go of it and its slot goes back to the transport.
 * Exactly one reply per request: the request's state is checked here. Also the directory
 * buffers of READDIR, which pack straight into the reply. Replies that hand the kernel a
 * reference (an entry, an open file) are reply_ref.c's: the chains must record them.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void rf__api_bug(const struct rf_req *req, const char *what)
{
	rf__err("BUG: %s (request %llu, %s)", what, (unsigned long long)req->in.unique,
		rf__opname(req->in.opcode));
#ifdef RF_DEBUG
	abort();
#endif
}

/* ---- the end of a request ------------------------------------------------------------- */

/* On the request's loop: a reply encoded on another thread goes out now. */
static void send_posted(struct rf_loop *loop, struct rf_post *p)
{
	struct rf_req *req = rf_container_of(p, struct rf_req, post);

	req->ch->ops->send(req);
}

void rf__req_send(struct rf_req *req)
{
	/* Only the loop thread touches its ring: replies from elsewhere are posted to it. */
	if (req->ch->ops->any_thread || rf__on_loop_thread(req->ch->loop)) {
		req->ch->ops->send(req);
		return;
	}
	/* Unless the transport can write them from here (a write(2) on /dev/fuse): then the
	 * kernel has the reply without waiting for the loop's thread to wake, and the loop
	 * only learns that it was sent. */
	if (req->ch->ops->send_direct && req->ch->ops->send_direct(req) == 0)
		return;
	req->post.fn = send_posted;
	rf__loop_post(req->ch->loop, &req->post);
}

void rf__req_sent(struct rf_req *req, int res)
{
	void (*after)(struct rf_req *, int) = req->after_send;

	if (after) {
		req->after_send = NULL;
		after(req, res);
	}
	rf__req_finish(req);
}

void rf__req_finish(struct rf_req *req)
{
	if (req->state != RF_REQ_REPLIED || req->write_busy || req->nbacking)
		return;
	rf__stats_finished(req);
	req->se->up->leave(req);
	/* Out of the chains, no INTERRUPT can find it any more; one that did may still be
	 * calling its hook from another thread (blocking handlers): a few instructions. */
	while (atomic_load_explicit(&req->intr_refs, memory_order_acquire))
		sched_yield();
	req->ch->ops->recycle(req);
}

void rf__req_drop(struct rf_req *req)
{
	req->state = RF_REQ_REPLIED;
	req->out_len = 0;
	req->ch->ops->recycle(req);
}

/* ---- encoding ------------------------------------------------------------------------ */

int rf__reply_finish(struct rf_req *req, int err, size_t payload)
{
	struct fuse_out_header oh;
	size_t cap;
	int ret = 0;

	if (req->state != RF_REQ_HANDLER) {
		rf__api_bug(req, req->state == RF_REQ_REPLIED ? "second reply to a request" :
							    "reply to a request not in service");
		return -EINVAL;
	}
	if (err > 0 || err <= -512) {
		/* The kernel refuses errors outside (-512, 0]; keep the caller informed. */
		rf__err("reply to %llu with invalid error %d; sending EIO",
			(unsigned long long)req->in.unique, err);
		err = -EIO;
		ret = -EINVAL;
	}
	rf__reply_payload(req, &cap);
	if (payload > cap) {
		rf__err("reply to %llu: %zu bytes do not fit the %zu-byte buffer; sending EIO",
			(unsigned long long)req->in.unique, payload, cap);
		err = -EIO;
		ret = -E2BIG;
	}
	if (err)
		payload = 0;
	oh.len = (uint32_t)(sizeof(oh) + payload);
	oh.error = err;
	oh.unique = req->in.unique;
	memcpy(req->out_hdr, &oh, sizeof(oh));
	req->out_len = oh.len;
	rf__req_set_replied(req);
	rf__stats_replied(req, err);
	if (req->se->debug)
		rf__dbg("-> %s unique %llu: %s, %u bytes, %llu us", rf__opname(req->in.opcode),
			(unsigned long long)req->in.unique, err ? strerrorname_np(-err) : "OK",
			oh.len, req->counted ? (unsigned long long)(rf__now_ns() - req->t_in) / 1000 : 0);
	rf__req_send(req);
	return ret;
}

/* The reply does not fit: the kernel gets EIO, the caller -E2BIG. */
int rf__reply_too_big(struct rf_req *req)
{
	int r = rf__reply_finish(req, -EIO, 0);

	return r < 0 ? r : -E2BIG;
}

/* A reply to a request that already has one: report it (rf__reply_finish does) without
 * touching the slot, whose first reply may still be on its way to the kernel. */
/* Copy @size bytes to the payload area unless they are already there. */
static int put(struct rf_req *req, const void *buf, size_t size)
{
	size_t cap;
	char *dst = rf__reply_payload(req, &cap);

	if (size > cap)
		return -E2BIG;
	if (size && buf != dst)
		memmove(dst, buf, size);
	return 0;
}

int rf__reply_struct(struct rf_req *req, const void *s, size_t size)
{
	REPLY_GUARD(req);
	if (put(req, s, size) < 0)
		return rf__reply_too_big(req);
	return rf__reply_finish(req, 0, size);
}

void *rf_req_payload(struct rf_req *req, size_t *cap)
{
	return rf__reply_payload(req, cap);
}

int rf_reply_err(struct rf_req *req, int err)
{
	return rf__reply_finish(req, err, 0);
}

void rf_reply_none(struct rf_req *req)
{
	if (req->state != RF_REQ_HANDLER) {
		rf__api_bug(req, "rf_reply_none on a request not in service");
		return;
	}
	rf__req_set_replied(req);
	rf__req_finish(req);
}

int rf_reply_attr(struct rf_req *req, const struct stat *attr, double timeout)
{
	struct fuse_attr_out ao;

	memset(&ao, 0, sizeof(ao));
	ao.attr_valid = rf__timeout_sec(timeout, &ao.attr_valid_nsec);
	rf__fill_attr(&ao.attr, attr);
	return rf__reply_struct(req, &ao, req->se->conn.proto_minor < 9 ? FUSE_COMPAT_ATTR_OUT_SIZE :
									sizeof(ao));
}

static void sx_time(struct fuse_sx_time *t, const struct statx_timestamp *s)
{
	t->tv_sec = s->tv_sec;
	t->tv_nsec = s->tv_nsec;
}

int rf_reply_statx(struct rf_req *req, const struct statx *stx, double timeout)
{
	struct fuse_statx_out so;

	memset(&so, 0, sizeof(so));
	so.attr_valid = rf__timeout_sec(timeout, &so.attr_valid_nsec);
	so.stat.mask = stx->stx_mask;
	so.stat.blksize = stx->stx_blksize;
	so.stat.attributes = stx->stx_attributes;
	so.stat.nlink = stx->stx_nlink;
	so.stat.uid = stx->stx_uid;
	so.stat.gid = stx->stx_gid;
	so.stat.mode = stx->stx_mode;
	so.stat.ino = stx->stx_ino;
	so.stat.size = stx->stx_size;
	so.stat.blocks = stx->stx_blocks;
	so.stat.attributes_mask = stx->stx_attributes_mask;
	sx_time(&so.stat.atime, &stx->stx_atime);
	sx_time(&so.stat.btime, &stx->stx_btime);
	sx_time(&so.stat.ctime, &stx->stx_ctime);
	sx_time(&so.stat.mtime, &stx->stx_mtime);
	so.stat.rdev_major = stx->stx_rdev_major;
	so.stat.rdev_minor = stx->stx_rdev_minor;
	so.stat.dev_major = stx->stx_dev_major;
	so.stat.dev_minor = stx->stx_dev_minor;
	return rf__reply_struct(req, &so, sizeof(so));
}

int rf_reply_readlink(struct rf_req *req, const char *target)
{
	return rf_reply_buf(req, target, strlen(target));
}

int rf_reply_write(struct rf_req *req, size_t count)
{
	struct fuse_write_out wo = { .size = (uint32_t)RF_MIN(count, (size_t)UINT32_MAX) };

	return rf__reply_struct(req, &wo, sizeof(wo));
}

int rf_reply_buf(struct rf_req *req, const void *buf, size_t size)
{
	REPLY_GUARD(req);
	if (put(req, buf, size) < 0) {
		rf__err("reply of %zu bytes to %llu is larger than the buffer", size,
			(unsigned long long)req->in.unique);
		return rf__reply_too_big(req);
	}
	return rf__reply_finish(req, 0, size);
}

int rf_reply_iov(struct rf_req *req, const struct iovec *iov, int count)
{
	size_t cap, total = 0;
	char *dst = rf__reply_payload(req, &cap);
	int i;

	REPLY_GUARD(req);

	for (i = 0; i < count; i++) {
		if (iov[i].iov_len > cap - total) {
			rf__err("reply iovec to %llu is larger than the buffer",
				(unsigned long long)req->in.unique);
			return rf__reply_too_big(req);
		}
		if (iov[i].iov_base != dst + total)
			memmove(dst + total, iov[i].iov_base, iov[i].iov_len);
		total += iov[i].iov_len;
	}
	return rf__reply_finish(req, 0, total);
}

int rf_reply_statfs(struct rf_req *req, const struct statvfs *st)
{
	struct fuse_statfs_out so;

	memset(&so, 0, sizeof(so));
	so.st.blocks = st->f_blocks;
	so.st.bfree = st->f_bfree;
	so.st.bavail = st->f_bavail;
	so.st.files = st->f_files;
	so.st.ffree = st->f_ffree;
	so.st.bsize = (uint32_t)st->f_bsize;
	so.st.namelen = (uint32_t)st->f_namemax;
	so.st.frsize = (uint32_t)st->f_frsize;
	return rf__reply_struct(req, &so, req->se->conn.proto_minor < 4 ? FUSE_COMPAT_STATFS_SIZE :
									sizeof(so));
}

int rf_reply_xattr_size(struct rf_req *req, size_t size)
{
	struct fuse_getxattr_out go = { .size = (uint32_t)size };

	return rf__reply_struct(req, &go, sizeof(go));
}

int rf_reply_lock(struct rf_req *req, const struct flock *lock)
{
	struct fuse_lk_out lo;

	memset(&lo, 0, sizeof(lo));
	lo.lk.type = (uint32_t)lock->l_type;
	if (lock->l_type != F_UNLCK) {
		lo.lk.start = (uint64_t)lock->l_start;
		lo.lk.end = lock->l_len == 0 ? (uint64_t)INT64_MAX :
					       (uint64_t)(lock->l_start + lock->l_len - 1);
		lo.lk.pid = (uint32_t)lock->l_pid;
	}
	return rf__reply_struct(req, &lo, sizeof(lo));
}

int rf_reply_bmap(struct rf_req *req, uint64_t idx)
{
	struct fuse_bmap_out bo = { .block = idx };

	return rf__reply_struct(req, &bo, sizeof(bo));
}

int rf_reply_lseek(struct rf_req *req, off_t off)
{
	struct fuse_lseek_out lo = { .offset = (uint64_t)off };

	return rf__reply_struct(req, &lo, sizeof(lo));
}

int rf_reply_poll(struct rf_req *req, unsigned int revents)
{
	struct fuse_poll_out po = { .revents = revents };

	return rf__reply_struct(req, &po, sizeof(po));
}

int rf_reply_ioctl(struct rf_req *req, int result, const void *buf, size_t size)
{
	struct fuse_ioctl_out io = { .result = result };
	size_t cap;
	char *dst = rf__reply_payload(req, &cap);

	REPLY_GUARD(req);

	if (size > cap - sizeof(io))
		return rf__reply_too_big(req);
	if (size)
		memmove(dst + sizeof(io), buf, size);
	memcpy(dst, &io, sizeof(io));
	return rf__reply_finish(req, 0, sizeof(io) + size);
}

/* ---- directory buffers ---------------------------------------------------------------- */

void rf_dirbuf_init(struct rf_dirbuf *db, struct rf_req *req, size_t size)
{
	size_t cap;

	db->buf = rf__reply_payload(req, &cap);
	db->size = RF_MIN(size, cap);
	db->len = 0;
	db->req = req;
}

void rf__fill_dirent(struct fuse_dirent *de, const char *name, size_t namelen,
			uint64_t ino, mode_t mode, off_t off)
{
	de->ino = ino;
	de->off = (uint64_t)off;
	de->namelen = (uint32_t)namelen;
	de->type = (mode & S_IFMT) >> 12;
	memcpy(de->name, name, namelen);
	/* Padding bytes go to the kernel: never leak old buffer contents. */
	memset(de->name + namelen, 0, FUSE_DIRENT_ALIGN(namelen) - namelen);
}

int rf_dirbuf_add(struct rf_dirbuf *db, const char *name, const struct stat *st, off_t off)
{
	size_t namelen = strlen(name);
	size_t entsize = FUSE_NAME_OFFSET + namelen;
	size_t padded = FUSE_DIRENT_ALIGN(entsize);

	if (namelen == 0 || namelen > 1024 || padded > db->size - db->len)
		return 0;
	rf__fill_dirent((struct fuse_dirent *)(db->buf + db->len), name, namelen, st->st_ino,
		    st->st_mode, off);
	db->len += padded;
	return 1;
}

int rf_reply_dirbuf(struct rf_req *req, const struct rf_dirbuf *db)
{
	return rf__reply_finish(req, 0, db->len);
}
