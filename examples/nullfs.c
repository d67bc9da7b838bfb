/* SPDX-License-Identifier: MIT */
/*
 * nullfs.c - a filesystem whose data costs nothing: the benchmark's measure of the
 * runtime alone, with no backing I/O behind it.
 *
 * Usage: nullfs [-o size=BYTES,timeout=SEC,attr_timeout=SEC,entry_timeout=SEC,
 *                   direct_io,zero] [ringfuse options] mountpoint
 *
 * One directory (the root). It starts with one file, "data"; names can be created
 * (create/mknod of regular files), looked up, stat'ed, chmod'ed and unlinked, all in
 * memory. Every file has the same fixed size (-o size=, default 1 GiB, suffixes K M G)
 * whatever is written to it or asked of truncate.
 *
 *   read    replies with the request's own reply buffer (rf_req_payload), untouched: no
 *           copy and no memset. Its bytes are zeroes on a fresh buffer and stale reply or
 *           request bytes on a reused one; -o zero clears them (one memset per read).
 *   write   replies "size bytes written" without looking at the data.
 *   timeout=SEC, attr_timeout=SEC, entry_timeout=SEC   kernel cache lifetimes (default 1;
 *           0: every stat and lookup reaches the server). entry_timeout also caches
 *           absent names (negative entries) when > 0.
 *   direct_io  opens bypass the page cache (default: the page cache is used).
 *
 * Node ids are never reused. State is under one mutex, taken by name and attribute
 * operations only: read and write need no state at all (fh is the node id, the size is
 * fixed), so they never take it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <ringfuse.h>

#define ROOT_INO 1
#define NF_NAME_MAX 255

struct nnode {
	uint64_t ino;
	struct nnode *hnext;         /* name hash chain (while linked) */
	char *name;                  /* NULL for the root and once unlinked */
	uint64_t nlookup;            /* lookups the kernel holds */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	struct timespec atime, mtime, ctime;
};

struct nullfs {
	pthread_mutex_t lock;
	struct nnode **nodes;        /* by node id; NULL once freed */
	uint64_t nnodes_cap, next_ino;
	struct nnode **hash;         /* names of the root directory */
	size_t nbuckets, nnames;
	off_t size;
	double attr_timeout, entry_timeout;
	bool direct_io, zero;
	struct nnode root;
};

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;  /* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h ^ (h >> 29);
}

static struct timespec now_ts(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return t;
}

/* Lock held. */
static struct nnode *node_get(struct nullfs *fs, uint64_t ino)
{
	return ino < fs->nnodes_cap ? fs->nodes[ino] : NULL;
}

/* Lock held. */
static struct nnode **name_slot(struct nullfs *fs, const char *name)
{
	struct nnode **pp = &fs->hash[name_hash(name) & (fs->nbuckets - 1)];

	while (*pp && strcmp((*pp)->name, name))
		pp = &(*pp)->hnext;
	return pp;
}

/* Lock held. Doubles the buckets; on failure the chains just get longer. */
static void hash_grow(struct nullfs *fs)
{
	size_t nb = fs->nbuckets * 2, i;
	struct nnode **h = calloc(nb, sizeof(*h)), *n, *next;

	if (!h)
		return;
	for (i = 0; i < fs->nbuckets; i++) {
		for (n = fs->hash[i]; n; n = next) {
			size_t b = name_hash(n->name) & (nb - 1);

			next = n->hnext;
			n->hnext = h[b];
			h[b] = n;
		}
	}
	free(fs->hash);
	fs->hash = h;
	fs->nbuckets = nb;
}

/* Lock held. A new regular file @name (not present). Returns it or NULL (ENOMEM). */
static struct nnode *node_new(struct nullfs *fs, const char *name, mode_t mode, uid_t uid,
			      gid_t gid)
{
	struct nnode *n, **slot;

	if (fs->next_ino >= fs->nnodes_cap) {
		uint64_t cap = fs->nnodes_cap * 2;
		struct nnode **v = realloc(fs->nodes, cap * sizeof(*v));

		if (!v)
			return NULL;
		memset(v + fs->nnodes_cap, 0, (cap - fs->nnodes_cap) * sizeof(*v));
		fs->nodes = v;
		fs->nnodes_cap = cap;
	}
	n = calloc(1, sizeof(*n));
	if (!n || !(n->name = strdup(name))) {
		free(n);
		return NULL;
	}
	if (fs->nnames + 1 > fs->nbuckets)
		hash_grow(fs);
	n->ino = fs->next_ino++;
	n->mode = S_IFREG | (mode & 07777);
	n->uid = uid;
	n->gid = gid;
	n->atime = n->mtime = n->ctime = now_ts();
	fs->nodes[n->ino] = n;
	slot = name_slot(fs, name);
	n->hnext = *slot;
	*slot = n;
	fs->nnames++;
	fs->root.mtime = fs->root.ctime = n->ctime;
	return n;
}

/* Lock held. Free @n if nothing names it any more. */
static void node_maybe_free(struct nullfs *fs, struct nnode *n)
{
	if (n == &fs->root || n->name || n->nlookup)
		return;
	fs->nodes[n->ino] = NULL;
	free(n);
}

static void fill_stat(const struct nullfs *fs, const struct nnode *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_mode = n->mode;
	st->st_nlink = n == &fs->root ? 2 : (n->name ? 1 : 0);
	st->st_uid = n->uid;
	st->st_gid = n->gid;
	st->st_size = n == &fs->root ? 0 : fs->size;
	st->st_blocks = st->st_size / 512;
	st->st_blksize = 4096;
	st->st_atim = n->atime;
	st->st_mtim = n->mtime;
	st->st_ctim = n->ctime;
}

/* Lock held. Fill @e for @n and count the kernel's lookup. */
static void fill_entry(struct nullfs *fs, struct nnode *n, struct rf_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->attr_timeout = fs->attr_timeout;
	e->entry_timeout = fs->entry_timeout;
	fill_stat(fs, n, &e->attr);
	if (n != &fs->root)
		n->nlookup++;
}

static int check_name(const char *name)
{
	size_t len = strlen(name);

	if (len > NF_NAME_MAX)
		return -ENAMETOOLONG;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	return 0;
}

/* ---- operations ------------------------------------------------------------------- */

static void nf_init(void *userdata, struct rf_conn *conn)
{
	conn->want &= ~RF_CAP_WRITEBACK_CACHE;
}

static void nf_lookup(struct rf_req *req, uint64_t parent, const char *name)
{
	struct nullfs *fs = rf_req_userdata(req);
	struct nnode *n;
	struct rf_entry e;

	if (parent != ROOT_INO)
		return (void)rf_reply_err(req, -ENOTDIR);
	if (strlen(name) > NF_NAME_MAX)
		return (void)rf_reply_err(req, -ENAMETOOLONG);
	pthread_mutex_lock(&fs->lock);
	n = *name_slot(fs, name);
	if (n) {
		fill_entry(fs, n, &e);
		rf_reply_entry(req, &e);
	} else if (fs->entry_timeout > 0) {
		memset(&e, 0, sizeof(e));     /* every change goes through us: cache absence */
		e.entry_timeout = fs->entry_timeout;
		rf_reply_entry(req, &e);
	} else {
		rf_reply_err(req, -ENOENT);
	}
	pthread_mutex_unlock(&fs->lock);
}

static void nf_forget(void *userdata, uint64_t ino, uint64_t nlookup)
{
	struct nullfs *fs = userdata;
	struct nnode *n;

	pthread_mutex_lock(&fs->lock);
	n = node_get(fs, ino);
	if (n && n != &fs->root) {
		n->nlookup = n->nlookup > nlookup ? n->nlookup - nlookup : 0;
		node_maybe_free(fs, n);
	}
	pthread_mutex_unlock(&fs->lock);
}

static void nf_getattr(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct nullfs *fs = rf_req_userdata(req);
	struct nnode *n;
	struct stat st;

	pthread_mutex_lock(&fs->lock);
	n = node_get(fs, ino);
	if (n)
		fill_stat(fs, n, &st);
	pthread_mutex_unlock(&fs->lock);
	if (!n)
		rf_reply_err(req, -ESTALE);
	else
		rf_reply_attr(req, &st, fs->attr_timeout);
}

/* Modes, owners and times are kept; the size is fixed, so truncation is accepted and
 * changes nothing. */
static void nf_setattr(struct rf_req *req, uint64_t ino, const struct stat *attr, int to_set,
		       struct rf_file *fi)
{
	struct nullfs *fs = rf_req_userdata(req);
	struct timespec t = now_ts();
	struct nnode *n;
	struct stat st;

	pthread_mutex_lock(&fs->lock);
	n = node_get(fs, ino);
	if (n) {
		if (to_set & RF_SET_MODE)
			n->mode = (n->mode & S_IFMT) | (attr->st_mode & 07777);
		if (to_set & RF_SET_UID)
			n->uid = attr->st_uid;
		if (to_set & RF_SET_GID)
			n->gid = attr->st_gid;
		if (to_set & RF_SET_ATIME)
			n->atime = attr->st_atim;
		if (to_set & RF_SET_ATIME_NOW)
			n->atime = t;
		if (to_set & RF_SET_MTIME)
			n->mtime = attr->st_mtim;
		if (to_set & RF_SET_MTIME_NOW)
			n->mtime = t;
		if (to_set & RF_SET_SIZE)
			n->mtime = t;
		n->ctime = t;
		fill_stat(fs, n, &st);
	}
	pthread_mutex_unlock(&fs->lock);
	if (!n)
		rf_reply_err(req, -ESTALE);
	else
		rf_reply_attr(req, &st, fs->attr_timeout);
}

/* Lock held. The file @name, created if absent (EEXIST with @excl). */
static int make_file(struct nullfs *fs, struct rf_req *req, const char *name, mode_t mode,
		     bool excl, struct nnode **out)
{
	const struct rf_ctx *ctx = rf_req_ctx(req);
	struct nnode *n;
	int err = check_name(name);

	if (err)
		return err;
	n = *name_slot(fs, name);
	if (n && excl)
		return -EEXIST;
	if (!n)
		n = node_new(fs, name, mode & ~ctx->umask, ctx->uid, ctx->gid);
	if (!n)
		return -ENOMEM;
	*out = n;
	return 0;
}

static void nf_create(struct rf_req *req, uint64_t parent, const char *name, mode_t mode,
		      struct rf_file *fi)
{
	struct nullfs *fs = rf_req_userdata(req);
	struct nnode *n = NULL;
	struct rf_entry e;
	int err;

	if (parent != ROOT_INO)
		return (void)rf_reply_err(req, -ENOTDIR);
	pthread_mutex_lock(&fs->lock);
	err = make_file(fs, req, name, mode, fi->flags & O_EXCL, &n);
	if (!err) {
		fill_entry(fs, n, &e);
		fi->fh = n->ino;
		fi->direct_io = fs->direct_io;
		if (rf_reply_create(req, &e, fi) < 0) {
			n->nlookup--;
			node_maybe_free(fs, n);
		}
	}
	pthread_mutex_unlock(&fs->lock);
	if (err)
		rf_reply_err(req, err);
}

static void nf_mknod(struct rf_req *req, uint64_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	struct nullfs *fs = rf_req_userdata(req);
	struct nnode *n = NULL;
	struct rf_entry e;
	int err;

	if (parent != ROOT_INO)
		return (void)rf_reply_err(req, -ENOTDIR);
	if (!S_ISREG(mode))
		return (void)rf_reply_err(req, -EPERM);
	pthread_mutex_lock(&fs->lock);
	err = make_file(fs, req, name, mode, true, &n);
	if (!err) {
		fill_entry(fs, n, &e);
		if (rf_reply_entry(req, &e) < 0) {
			n->nlookup--;
			node_maybe_free(fs, n);
		}
	}
	pthread_mutex_unlock(&fs->lock);
	if (err)
		rf_reply_err(req, err);
}

static void nf_unlink(struct rf_req *req, uint64_t parent, const char *name)
{
	struct nullfs *fs = rf_req_userdata(req);
	struct nnode **slot, *n;

	if (parent != ROOT_INO)
		return (void)rf_reply_err(req, -ENOTDIR);
	pthread_mutex_lock(&fs->lock);
	slot = name_slot(fs, name);
	n = *slot;
	if (n) {
		*slot = n->hnext;
		n->hnext = NULL;
		free(n->name);
		n->name = NULL;
		fs->nnames--;
		n->ctime = fs->root.mtime = fs->root.ctime = now_ts();
		node_maybe_free(fs, n);
	}
	pthread_mutex_unlock(&fs->lock);
	rf_reply_err(req, n ? 0 : -ENOENT);
}

static void nf_open(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct nullfs *fs = rf_req_userdata(req);

	if (ino == ROOT_INO)
		return (void)rf_reply_err(req, -EISDIR);
	fi->fh = ino;
	fi->direct_io = fs->direct_io;
	rf_reply_open(req, fi);
}

static void nf_read(struct rf_req *req, uint64_t ino, size_t size, off_t off, struct rf_file *fi)
{
	struct nullfs *fs = rf_req_userdata(req);
	size_t cap, n;
	void *buf;

	if (off < 0)
		return (void)rf_reply_err(req, -EINVAL);
	n = off >= fs->size ? 0 : (size_t)(fs->size - off);
	if (n > size)
		n = size;
	buf = rf_req_payload(req, &cap);
	if (n > cap)
		n = cap;
	if (fs->zero)
		memset(buf, 0, n);
	rf_reply_buf(req, buf, n);
}

static void nf_write(struct rf_req *req, uint64_t ino, const void *buf, size_t size, off_t off,
		     struct rf_file *fi)
{
	rf_reply_write(req, size);
}

static void nf_readdir(struct rf_req *req, uint64_t ino, size_t size, off_t off,
		       struct rf_file *fi)
{
	struct nullfs *fs = rf_req_userdata(req);
	struct rf_dirbuf db;
	struct stat st;
	uint64_t k;

	if (ino != ROOT_INO)
		return (void)rf_reply_err(req, -ENOTDIR);
	rf_dirbuf_init(&db, req, size);
	memset(&st, 0, sizeof(st));
	st.st_ino = ROOT_INO;
	st.st_mode = S_IFDIR;
	/* Cookies: "." 1, ".." 2, node k (k >= 2) k + 2, so scanning resumes at k = off - 1. */
	if (off < 1 && !rf_dirbuf_add(&db, ".", &st, 1))
		goto full;
	if (off < 2 && !rf_dirbuf_add(&db, "..", &st, 2))
		goto full;
	pthread_mutex_lock(&fs->lock);
	for (k = off > 3 ? (uint64_t)off - 1 : 2; k < fs->next_ino; k++) {
		struct nnode *n = fs->nodes[k];

		if (!n || !n->name)
			continue;
		st.st_ino = n->ino;
		st.st_mode = n->mode;
		if (!rf_dirbuf_add(&db, n->name, &st, (off_t)k + 2))
			break;
	}
	pthread_mutex_unlock(&fs->lock);
full:
	rf_reply_dirbuf(req, &db);
}

static const struct rf_ops nullfs_ops = {
	.init = nf_init,
	.lookup = nf_lookup,
	.forget = nf_forget,
	.getattr = nf_getattr,
	.setattr = nf_setattr,
	.create = nf_create,
	.mknod = nf_mknod,
	.unlink = nf_unlink,
	.open = nf_open,
	.read = nf_read,
	.write = nf_write,
	.readdir = nf_readdir,
};

/* ---- setup -------------------------------------------------------------------------- */

static int parse_size(const char *s, off_t *out)
{
	char *end;
	unsigned long long v;
	unsigned int shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || !isdigit((unsigned char)*s))   /* strtoull takes " -1" as 2^64 - 1 */
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: break;
	}
	if (*end || v > ((unsigned long long)INT64_MAX >> shift))
		return -EINVAL;
	*out = (off_t)(v << shift);
	return 0;
}

static int parse_timeout(const char *key, const char *val, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(val, &end);
	if (errno || end == val || *end || !(*out >= 0) || *out > 1e9) {
		fprintf(stderr, "nullfs: bad %s '%s'\n", key, val);
		return -EINVAL;
	}
	return 0;
}

/* The -o keys nullfs accepts (rf_opts_parse refuses any other and lists these for -h). */
static const struct rf_opt_spec nullfs_spec[] = {
	{ "size", "BYTES", "size of every file (default 1G; K M G T suffixes)" },
	{ "timeout", "SEC", "attribute and entry timeout (default 1)" },
	{ "attr_timeout", "SEC", "attribute timeout" },
	{ "entry_timeout", "SEC", "entry timeout (also of negative entries)" },
	{ "direct_io", NULL, "opens bypass the page cache" },
	{ "zero", NULL, "clear read replies (one memset per read)" },
	{ NULL, NULL, NULL },
};

static int nullfs_config(struct nullfs *fs, const struct rf_opts *opts)
{
	const char *v;
	double t;

	fs->size = (off_t)1 << 30;
	fs->attr_timeout = fs->entry_timeout = 1.0;
	if (rf_opts_get(opts, "size", &v) && parse_size(v, &fs->size) < 0) {
		fprintf(stderr, "nullfs: bad size '%s'\n", v);
		return -EINVAL;
	}
	if (rf_opts_get(opts, "timeout", &v)) {
		if (parse_timeout("timeout", v, &t) < 0)
			return -EINVAL;
		fs->attr_timeout = fs->entry_timeout = t;
	}
	if (rf_opts_get(opts, "attr_timeout", &v) &&
	    parse_timeout("attr_timeout", v, &fs->attr_timeout) < 0)
		return -EINVAL;
	if (rf_opts_get(opts, "entry_timeout", &v) &&
	    parse_timeout("entry_timeout", v, &fs->entry_timeout) < 0)
		return -EINVAL;
	fs->direct_io = rf_opts_get(opts, "direct_io", NULL);
	fs->zero = rf_opts_get(opts, "zero", NULL);
	return 0;
}

static int nullfs_setup(struct nullfs *fs)
{
	pthread_mutex_init(&fs->lock, NULL);
	fs->nnodes_cap = 1024;
	fs->nodes = calloc(fs->nnodes_cap, sizeof(*fs->nodes));
	fs->nbuckets = 1024;
	fs->hash = calloc(fs->nbuckets, sizeof(*fs->hash));
	if (!fs->nodes || !fs->hash)
		return -ENOMEM;
	fs->root.ino = ROOT_INO;
	fs->root.mode = S_IFDIR | 0755;
	fs->root.uid = getuid();
	fs->root.gid = getgid();
	fs->root.atime = fs->root.mtime = fs->root.ctime = now_ts();
	fs->nodes[ROOT_INO] = &fs->root;
	fs->next_ino = ROOT_INO + 1;
	if (!node_new(fs, "data", 0644, getuid(), getgid()))
		return -ENOMEM;
	return 0;
}

static void nullfs_free(struct nullfs *fs)
{
	uint64_t k;

	for (k = ROOT_INO + 1; fs->nodes && k < fs->next_ino; k++) {
		if (fs->nodes[k]) {
			free(fs->nodes[k]->name);
			free(fs->nodes[k]);
		}
	}
	free(fs->nodes);
	free(fs->hash);
	pthread_mutex_destroy(&fs->lock);
}

int main(int argc, char **argv)
{
	struct nullfs fs;
	struct rf_opts opts;
	int ret;

	memset(&fs, 0, sizeof(fs));
	rf_opts_init(&opts);
	opts.fs_spec = nullfs_spec;
	ret = rf_opts_parse(&opts, argc, argv);
	if (ret == 0 && nullfs_config(&fs, &opts) < 0)
		ret = -EINVAL;
	if (ret != 0) {
		rf_opts_free(&opts);
		return ret > 0 ? 0 : 1;
	}
	ret = nullfs_setup(&fs);
	if (ret < 0) {
		fprintf(stderr, "nullfs: %s\n", strerror(-ret));
		nullfs_free(&fs);
		rf_opts_free(&opts);
		return 1;
	}
	ret = rf_main_opts(&opts, &nullfs_ops, sizeof(nullfs_ops), &fs);
	rf_opts_free(&opts);
	nullfs_free(&fs);
	return ret;
}
