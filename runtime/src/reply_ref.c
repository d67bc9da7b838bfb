/* SPDX-License-Identifier: MIT */
/*
 * reply_ref.c - the replies that hand the kernel a reference: an entry (the kernel counts
 * a lookup of the node id), an open file handle (from now on requests may name it), both
 * (CREATE), and READDIRPLUS entries. Each records what it handed out, in the chains
 * (order.c) and the lookup counts (lookups.c), before the reply can reach the kernel, then
 * encodes it like any other reply (reply.c).
 */
#include <string.h>

#include "internal.h"

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
		rf__lookup_count(req->se, e->ino);
	fill_entry(req, &eo, e);
	return rf__reply_struct(req, &eo, entry_out_size(req));
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
		rf__lookup_count(req->se, e->ino);
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

int rf_reply_open(struct rf_req *req, const struct rf_file *fi)
{
	struct fuse_open_out oo;

	/* From now on the kernel may name fi->fh: the chains must know it is open. */
	if (req->state == RF_REQ_HANDLER &&
	    (req->in.opcode == FUSE_OPEN || req->in.opcode == FUSE_OPENDIR))
		rf__order_opened(req, fi->fh, req->in.nodeid);
	fill_open(&oo, fi);
	return rf__reply_struct(req, &oo, sizeof(oo));
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
		rf__lookup_count(db->req->se, e->ino);
	rf__fill_dirent(&dp->dirent, name, namelen, e->attr.st_ino ? e->attr.st_ino : e->ino,
		    e->attr.st_mode, off);
	db->len += padded;
	return 1;
}

