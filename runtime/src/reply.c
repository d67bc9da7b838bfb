/* SPDX-License-Identifier: MIT */
/*
 * reply.c - encode replies into the request's slot, behind the request itself, and hand
 * them to the channel. Exactly one reply per request: the slot's state is checked here.
 * Also the directory buffers of READDIR/READDIRPLUS, which pack straight into the reply.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Wrong use of the API by the filesystem: loud in debug builds, logged otherwise. */
static void api_bug(const struct rf_req *req, const char *what)
{
	rf__err("BUG: %s (request %llu, %s)", what, (unsigned long long)req->in.unique,
		rf__opname(req->in.opcode));
#ifdef RF_DEBUG
	abort();
#endif
}

uint64_t rf__timeout_sec(double t, uint32_t *nsec)
{
	uint64_t sec;

	if (!(t > 0)) {             /* also catches NaN */
		*nsec = 0;
		return 0;
	}
	if (t >= 18446744073.0) {   /* ~584 years: treat as "forever" without overflow */
		*nsec = 999999999;
		return UINT64_MAX / 1000000000ull;
	}
	sec = (uint64_t)t;
	*nsec = (uint32_t)((t - (double)sec) * 1e9);
	if (*nsec > 999999999)
		*nsec = 999999999;
	return sec;
}

void rf__fill_attr(struct fuse_attr *fa, const struct stat *st)
{
	memset(fa, 0, sizeof(*fa));
	fa->ino = st->st_ino;
	fa->size = (uint64_t)st->st_size;
	fa->blocks = (uint64_t)st->st_blocks;
	fa->atime = (uint64_t)st->st_atim.tv_sec;
	fa->mtime = (uint64_t)st->st_mtim.tv_sec;
	fa->ctime = (uint64_t)st->st_ctim.tv_sec;
	fa->atimensec = (uint32_t)st->st_atim.tv_nsec;
	fa->mtimensec = (uint32_t)st->st_mtim.tv_nsec;
	fa->ctimensec = (uint32_t)st->st_ctim.tv_nsec;
	fa->mode = st->st_mode;
	fa->nlink = (uint32_t)st->st_nlink;
	fa->uid = st->st_uid;
	fa->gid = st->st_gid;
	fa->rdev = (uint32_t)st->st_rdev;
	fa->blksize = (uint32_t)st->st_blksize;
}

int rf__reply_finish(struct rf_req *req, int err, size_t payload)
{
	struct fuse_out_header oh;
	size_t cap;
	int ret = 0;

	if (req->state != RF_REQ_HANDLER) {
		api_bug(req, req->state == RF_REQ_REPLIED ? "second reply to a request" :
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
	req->state = RF_REQ_REPLIED;
	if (req->se->debug)
		rf__info("-> %s unique %llu error %d len %u", rf__opname(req->in.opcode),
			 (unsigned long long)req->in.unique, err, oh.len);
	if (rf__on_loop_thread(req->ch->loop))
		rf__chan_send(req);
	else
		rf__loop_post_req(req->ch->loop, req, RF_REMOTE_REPLY);
	return ret;
}

/* The reply does not fit: the kernel gets EIO, the caller -E2BIG. */
static int reply_too_big(struct rf_req *req)
{
	int r = rf__reply_finish(req, -EIO, 0);

	return r < 0 ? r : -E2BIG;
}

/* A reply to a request that already has one: report it (rf__reply_finish does) without
 * touching the slot, whose first reply may still be on its way to the kernel. */
#define REPLY_GUARD(req)                                      \
	do {                                                  \
		if ((req)->state != RF_REQ_HANDLER)           \
			return rf__reply_finish((req), 0, 0); \
	} while (0)

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

static int reply_struct(struct rf_req *req, const void *s, size_t size)
{
	REPLY_GUARD(req);
	if (put(req, s, size) < 0)
		return reply_too_big(req);
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
		api_bug(req, "rf_reply_none on a request not in service");
		return;
	}
	req->state = RF_REQ_REPLIED;
	rf__req_finish(req);
}

static void fill_entry(struct rf_req *req, struct fuse_entry_out *eo, const struct rf_entry *e)
{
	memset(eo, 0, sizeof(*eo));
	eo->nodeid = e->ino;
	eo->generation = e->generation;
	eo->entry_valid = rf__timeout_sec(e->entry_timeout, &eo->entry_valid_nsec);
	eo->attr_valid = rf__timeout_sec(e->attr_timeout, &eo->attr_valid_nsec);
	rf__fill_attr(&eo->attr, &e->attr);
	if (e->ino)
		eo->attr.ino = e->attr.st_ino ? e->attr.st_ino : e->ino;
}

static size_t entry_out_size(const struct rf_req *req)
{
	return req->se->conn.proto_minor < 9 ? FUSE_COMPAT_ENTRY_OUT_SIZE :
					       sizeof(struct fuse_entry_out);
}

int rf_reply_entry(struct rf_req *req, const struct rf_entry *e)
{
	struct fuse_entry_out eo;

	/* A negative entry is only cached when it may be; otherwise it is plain ENOENT. */
	if (!e->ino && !(e->entry_timeout > 0))
		return rf_reply_err(req, -ENOENT);
	if (e->ino && req->state == RF_REQ_HANDLER)
		rf__order_count_lookup(req->se, e->ino);
	fill_entry(req, &eo, e);
	return reply_struct(req, &eo, entry_out_size(req));
}

static void fill_open(struct fuse_open_out *oo, const struct rf_file *fi)
{
	memset(oo, 0, sizeof(*oo));
	oo->fh = fi->fh;
	if (fi->direct_io)
		oo->open_flags |= FOPEN_DIRECT_IO;
	if (fi->keep_cache)
		oo->open_flags |= FOPEN_KEEP_CACHE;
	if (fi->nonseekable)
		oo->open_flags |= FOPEN_NONSEEKABLE;
	if (fi->cache_readdir)
		oo->open_flags |= FOPEN_CACHE_DIR;
	if (fi->noflush)
		oo->open_flags |= FOPEN_NOFLUSH;
	if (fi->parallel_direct_writes)
		oo->open_flags |= FOPEN_PARALLEL_DIRECT_WRITES;
	if (fi->passthrough) {
		oo->open_flags |= FOPEN_PASSTHROUGH;
		oo->backing_id = fi->backing_id;
	}
}

int rf_reply_create(struct rf_req *req, const struct rf_entry *e, const struct rf_file *fi)
{
	REPLY_GUARD(req);
	if (req->state == RF_REQ_HANDLER) {
		rf__order_opened(req, fi->fh, e->ino);
		rf__order_count_lookup(req->se, e->ino);
	}
	struct {
		struct fuse_entry_out eo;
		struct fuse_open_out oo;
	} out;
	size_t esz = entry_out_size(req);
	char *dst;
	size_t cap;

	fill_entry(req, &out.eo, e);
	fill_open(&out.oo, fi);
	dst = rf__reply_payload(req, &cap);
	memcpy(dst, &out.eo, esz);
	memcpy(dst + esz, &out.oo, sizeof(out.oo));
	return rf__reply_finish(req, 0, esz + sizeof(out.oo));
}

int rf_reply_attr(struct rf_req *req, const struct stat *attr, double timeout)
{
	struct fuse_attr_out ao;

	memset(&ao, 0, sizeof(ao));
	ao.attr_valid = rf__timeout_sec(timeout, &ao.attr_valid_nsec);
	rf__fill_attr(&ao.attr, attr);
	return reply_struct(req, &ao, req->se->conn.proto_minor < 9 ? FUSE_COMPAT_ATTR_OUT_SIZE :
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
	return reply_struct(req, &so, sizeof(so));
}

int rf_reply_readlink(struct rf_req *req, const char *target)
{
	return rf_reply_buf(req, target, strlen(target));
}

int rf_reply_open(struct rf_req *req, const struct rf_file *fi)
{
	struct fuse_open_out oo;

	/* From now on the kernel may name fi->fh: the chains must know it is open. */
	if (req->state == RF_REQ_HANDLER &&
	    (req->in.opcode == FUSE_OPEN || req->in.opcode == FUSE_OPENDIR))
		rf__order_opened(req, fi->fh, req->in.nodeid);
	fill_open(&oo, fi);
	return reply_struct(req, &oo, sizeof(oo));
}

int rf_reply_write(struct rf_req *req, size_t count)
{
	struct fuse_write_out wo = { .size = (uint32_t)RF_MIN(count, (size_t)UINT32_MAX) };

	return reply_struct(req, &wo, sizeof(wo));
}

int rf_reply_buf(struct rf_req *req, const void *buf, size_t size)
{
	REPLY_GUARD(req);
	if (put(req, buf, size) < 0) {
		rf__err("reply of %zu bytes to %llu is larger than the buffer", size,
			(unsigned long long)req->in.unique);
		return reply_too_big(req);
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
			return reply_too_big(req);
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
	return reply_struct(req, &so, req->se->conn.proto_minor < 4 ? FUSE_COMPAT_STATFS_SIZE :
									sizeof(so));
}

int rf_reply_xattr_size(struct rf_req *req, size_t size)
{
	struct fuse_getxattr_out go = { .size = (uint32_t)size };

	return reply_struct(req, &go, sizeof(go));
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
	return reply_struct(req, &lo, sizeof(lo));
}

int rf_reply_bmap(struct rf_req *req, uint64_t idx)
{
	struct fuse_bmap_out bo = { .block = idx };

	return reply_struct(req, &bo, sizeof(bo));
}

int rf_reply_lseek(struct rf_req *req, off_t off)
{
	struct fuse_lseek_out lo = { .offset = (uint64_t)off };

	return reply_struct(req, &lo, sizeof(lo));
}

int rf_reply_poll(struct rf_req *req, unsigned int revents)
{
	struct fuse_poll_out po = { .revents = revents };

	return reply_struct(req, &po, sizeof(po));
}

int rf_reply_ioctl(struct rf_req *req, int result, const void *buf, size_t size)
{
	struct fuse_ioctl_out io = { .result = result };
	size_t cap;
	char *dst = rf__reply_payload(req, &cap);

	REPLY_GUARD(req);

	if (size > cap - sizeof(io))
		return reply_too_big(req);
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

static void fill_dirent(struct fuse_dirent *de, const char *name, size_t namelen,
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
	fill_dirent((struct fuse_dirent *)(db->buf + db->len), name, namelen, st->st_ino,
		    st->st_mode, off);
	db->len += padded;
	return 1;
}

int rf_dirbuf_add_plus(struct rf_dirbuf *db, const char *name, const struct rf_entry *e,
		       off_t off)
{
	size_t namelen = strlen(name);
	size_t entsize = FUSE_NAME_OFFSET_DIRENTPLUS + namelen;
	size_t padded = FUSE_DIRENT_ALIGN(entsize);
	struct fuse_direntplus *dp = (struct fuse_direntplus *)(db->buf + db->len);
	struct fuse_entry_out eo;

	if (namelen == 0 || namelen > 1024 || padded > db->size - db->len)
		return 0;
	memset(&eo, 0, sizeof(eo));
	eo.nodeid = e->ino;
	eo.generation = e->generation;
	eo.entry_valid = rf__timeout_sec(e->entry_timeout, &eo.entry_valid_nsec);
	eo.attr_valid = rf__timeout_sec(e->attr_timeout, &eo.attr_valid_nsec);
	rf__fill_attr(&eo.attr, &e->attr);
	if (e->ino && !e->attr.st_ino)
		eo.attr.ino = e->ino;   /* as rf_reply_entry: the kernel takes i_ino from here */
	memcpy(&dp->entry_out, &eo, sizeof(eo));
	/* The kernel counts a lookup for every entry but "." and "..". */
	if (e->ino && strcmp(name, ".") && strcmp(name, ".."))
		rf__order_count_lookup(db->req->se, e->ino);
	fill_dirent(&dp->dirent, name, namelen, e->attr.st_ino ? e->attr.st_ino : e->ino,
		    e->attr.st_mode, off);
	db->len += padded;
	return 1;
}

int rf_reply_dirbuf(struct rf_req *req, const struct rf_dirbuf *db)
{
	return rf__reply_finish(req, 0, db->len);
}
