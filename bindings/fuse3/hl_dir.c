/* SPDX-License-Identifier: MIT */
/*
 * hl_dir.c - directories of the high-level API: OPENDIR's handle, READDIR and READDIRPLUS
 * through the filesystem's readdir and its filler, RELEASEDIR, FSYNCDIR.
 *
 * As in libfuse, a filesystem's readdir works in one of two modes, chosen by the offsets it
 * gives the filler: all 0 ("full": the whole listing is read at offset 0 and kept in the
 * handle; the binding numbers the entries and serves later READDIRs from it), or the
 * entries' own offsets ("offset": each READDIR calls readdir again at the kernel's offset,
 * and the filler says "full" once the reply is). Entries are kept as they came; a
 * READDIRPLUS entry with FUSE_FILL_DIR_PLUS attributes gets its node (one lookup counted)
 * only when it goes into a reply, so an entry that does not fit costs nothing.
 */
#include "fuse3_hl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct hl_dent {
	off_t off;
	size_t name;                /* offset in names */
	bool plus;                  /* FUSE_FILL_DIR_PLUS with attributes */
	bool has_stat;
	struct stat st;
};

struct hl_dh {
	pthread_mutex_t lock;
	uint64_t fh;                /* the filesystem's */
	struct hl_dent *ents;
	size_t n, cap;
	char *names;
	size_t nlen, ncap;
	bool filled;                /* full mode: the listing is complete */
	bool offset_mode;
	int error;
	/* while the filesystem's readdir runs */
	fuse_req_t req;
	size_t budget, used;
	bool plus;
	bool full;                  /* offset mode: the filler said "full" */
};

static struct hl_dh *get_dh(struct fuse_file_info *fi)
{
	return (struct hl_dh *)(uintptr_t)fi->fh;
}

uint64_t rf_hl_dir_fh(const struct fuse_file_info *fi)
{
	return ((const struct hl_dh *)(uintptr_t)fi->fh)->fh;
}

static int filler(void *buf, const char *name, const struct stat *st, off_t off,
		  enum fuse_fill_dir_flags flags)
{
	struct hl_dh *dh = buf;
	size_t len = strlen(name) + 1;
	struct hl_dent *e;

	if (off) {
		struct fuse_entry_param ep;
		size_t sz;

		if (dh->n && !dh->offset_mode) {
			dh->error = -EIO;   /* mixed modes: libfuse fails the same way */
			return 1;
		}
		dh->offset_mode = true;
		memset(&ep, 0, sizeof(ep));
		sz = dh->plus ? fuse_add_direntry_plus(dh->req, NULL, 0, name, &ep, off)
			      : fuse_add_direntry(dh->req, NULL, 0, name, NULL, off);
		/* Full stays full: a later, smaller entry that went in would be listed ahead of
		 * this one, which the kernel's next offset would then skip for ever (for a
		 * filesystem that goes on filling after "full"). */
		if (dh->full || dh->used + sz > dh->budget) {
			dh->full = true;
			return 1;
		}
		dh->used += sz;
	} else if (dh->offset_mode) {
		dh->error = -EIO;
		return 1;
	}
	if (dh->n == dh->cap) {
		size_t cap = dh->cap ? dh->cap * 2 : 32;
		struct hl_dent *ne = realloc(dh->ents, cap * sizeof(*ne));

		if (!ne)
			goto nomem;
		dh->ents = ne;
		dh->cap = cap;
	}
	if (dh->nlen + len > dh->ncap) {
		size_t cap = dh->ncap ? dh->ncap * 2 : 1024;
		char *nn;

		while (cap < dh->nlen + len)
			cap *= 2;
		nn = realloc(dh->names, cap);
		if (!nn)
			goto nomem;
		dh->names = nn;
		dh->ncap = cap;
	}
	e = &dh->ents[dh->n++];
	memcpy(dh->names + dh->nlen, name, len);
	e->name = dh->nlen;
	dh->nlen += len;
	e->off = off ? off : (off_t)dh->n;
	e->has_stat = st != NULL;
	e->plus = st && (flags & FUSE_FILL_DIR_PLUS);
	if (st)
		e->st = *st;
	else
		memset(&e->st, 0, sizeof(e->st));
	return 0;
nomem:
	dh->error = -ENOMEM;
	return 1;
}

void rf_hl_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *llfi)
{
	struct fuse *f = rf_hl_req(req);
	struct fuse_file_info fi = *llfi;
	struct hl_node *n = rf_hl_get(f, ino);
	struct hl_dh *dh;
	char *path;
	int err = n ? rf_hl_path(f, n, NULL, 0, &path) : -ENOENT;

	if (err) {
		rf_hl_put(f, n);
		fuse_reply_err(req, -err);
		return;
	}
	dh = calloc(1, sizeof(*dh));
	if (!dh) {
		rf_hl_put(f, n);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_init(&dh->lock, NULL);
	rf_hl_prepare_intr(f, req);
	err = fuse_fs_opendir(f->fs, path, &fi);
	rf_hl_finish_intr(f, req);
	/* ENOSYS would make the kernel stop sending OPENDIR and name no handle (fh 0) in
	 * READDIR, RELEASEDIR, FSYNCDIR, which need ours: taken as "no opendir", which
	 * succeeds. */
	if (err == -ENOSYS)
		err = 0;
	if (err) {
		pthread_mutex_destroy(&dh->lock);
		free(dh);
		rf_hl_put(f, n);
		fuse_reply_err(req, -err);
		return;
	}
	dh->fh = fi.fh;
	llfi->keep_cache = fi.keep_cache;
	llfi->cache_readdir = fi.cache_readdir;
	llfi->fh = (uintptr_t)dh;
	if (fuse_reply_open(req, llfi) != 0) {
		/* the open was interrupted: the filesystem's handle goes now */
		fuse_fs_releasedir(f->fs, path, &fi);
		pthread_mutex_destroy(&dh->lock);
		free(dh);
	}
	rf_hl_put(f, n);
}

/* The inode number a non-plus entry shows, as libfuse: the filesystem's with use_ino, the
 * node id with readdir_ino when the name is known, else "unknown". */
static void entry_ino(struct fuse *f, struct hl_node *dir, const char *name, struct stat *st,
		      bool has_stat)
{
	if (!has_stat)
		st->st_ino = RF_HL_UNKNOWN_INO;
	if (!f->conf.use_ino) {
		fuse_ino_t ino = f->conf.readdir_ino ? rf_hl_find_ino(f, dir, name) : 0;

		st->st_ino = ino ? ino : RF_HL_UNKNOWN_INO;
	}
}

static bool is_dot(const char *n)
{
	return n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'));
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *llfi, bool plus)
{
	struct fuse *f = rf_hl_req(req);
	struct hl_dh *dh = get_dh(llfi);
	struct fuse_file_info fi = *llfi;
	struct hl_node *dir = rf_hl_get(f, ino);
	/* no per-thread buffer as big as the kernel's READDIR size (32 KiB for find) */
	char *buf = rf_hl_reply_buf(req, size), *path = NULL;
	size_t len = 0, i;
	int err = 0;

	if (!dir || !buf) {
		rf_hl_put(f, dir);
		fuse_reply_err(req, dir ? ENOMEM : ENOENT);
		return;
	}
	fi.fh = dh->fh;
	pthread_mutex_lock(&dh->lock);
	if (off == 0 || !dh->filled) {
		err = rf_hl_path(f, dir, NULL, 0, &path);
		if (err == -ESTALE && f->conf.nullpath_ok) {
			path = NULL;
			err = 0;
		}
		if (!err) {
			dh->n = dh->nlen = 0;
			dh->filled = dh->offset_mode = false;
			dh->error = 0;
			dh->req = req;
			dh->budget = size;
			dh->used = 0;
			dh->plus = plus;
			dh->full = false;
			rf_hl_prepare_intr(f, req);
			err = fuse_fs_readdir(f->fs, path, dh, filler, off, &fi,
					      plus ? FUSE_READDIR_PLUS : 0);
			rf_hl_finish_intr(f, req);
			if (!err)
				err = dh->error;
			if (!err && !dh->offset_mode)
				dh->filled = true;
		}
	}
	/* Full mode: entry i has offset i + 1, so the kernel's offset is where to start. */
	for (i = dh->offset_mode ? 0 : (size_t)off; !err && i < dh->n; i++) {
		struct hl_dent *e = &dh->ents[i];
		const char *name = dh->names + e->name;
		struct fuse_entry_param ep;
		struct hl_node *n = NULL;
		size_t sz;

		if (!plus) {
			struct stat st = e->st;

			entry_ino(f, dir, name, &st, e->has_stat);
			sz = fuse_add_direntry(req, buf + len, size - len, name, &st, e->off);
			if (sz > size - len)
				break;
			len += sz;
			continue;
		}
		memset(&ep, 0, sizeof(ep));
		ep.attr = e->st;
		if (e->plus && !is_dot(name)) {
			sz = fuse_add_direntry_plus(req, NULL, 0, name, &ep, e->off);
			if (sz > size - len)
				break;
			if (rf_hl_lookup(f, dir, name, &n) == 0) {
				ep.ino = n->base.nodeid;
				ep.generation = n->base.generation;
				ep.entry_timeout = f->conf.entry_timeout;
				ep.attr_timeout = f->conf.attr_timeout;
				rf_hl_set_stat(f, ep.ino, &ep.attr);
				rf_hl_put(f, n);
			}
		} else {
			entry_ino(f, dir, name, &ep.attr, e->has_stat);
		}
		sz = fuse_add_direntry_plus(req, buf + len, size - len, name, &ep, e->off);
		if (sz > size - len) {
			if (ep.ino)
				rf_hl_forget(f, ep.ino, 1);
			break;
		}
		len += sz;
	}
	pthread_mutex_unlock(&dh->lock);
	rf_hl_put(f, dir);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_buf(req, buf, len);
}

void rf_hl_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

void rf_hl_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

void rf_hl_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *llfi)
{
	struct fuse *f = rf_hl_req(req);
	struct hl_dh *dh = get_dh(llfi);
	struct fuse_file_info fi = *llfi;
	struct hl_node *n = rf_hl_get(f, ino);
	char *path = NULL;

	if (!n || rf_hl_path(f, n, NULL, 0, &path) != 0)
		path = NULL;
	fi.fh = dh->fh;
	fuse_fs_releasedir(f->fs, path, &fi);
	rf_hl_put(f, n);
	pthread_mutex_destroy(&dh->lock);
	free(dh->ents);
	free(dh->names);
	free(dh);
	fuse_reply_err(req, 0);
}

void rf_hl_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *llfi)
{
	struct fuse *f = rf_hl_req(req);
	struct fuse_file_info fi = *llfi;
	struct hl_node *n = rf_hl_get(f, ino);
	char *path = NULL;
	int err = n ? rf_hl_path(f, n, NULL, 0, &path) : -ENOENT;

	if (err == -ESTALE && n && f->conf.nullpath_ok)
		err = 0;
	if (!err) {
		fi.fh = get_dh(llfi)->fh;
		rf_hl_prepare_intr(f, req);
		err = fuse_fs_fsyncdir(f->fs, path, datasync, &fi);
		rf_hl_finish_intr(f, req);
	}
	rf_hl_put(f, n);
	fuse_reply_err(req, -err);
}
