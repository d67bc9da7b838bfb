/* SPDX-License-Identifier: MIT */
/*
 * memfs.c - an in-memory POSIX filesystem on ringfuse, the default filesystem of demos and
 * tests: sparse files, directories, symlinks, hard links, special files and xattrs.
 * Usage: memfs [-f] [-d] [-o size=BYTES,inodes=N,timeout=SECONDS,...] mountpoint
 * With -o allow_other, default_permissions is switched on: the kernel checks modes, and
 * memfs drops set-id bits on writes and truncates by others (HANDLE_KILLPRIV_V2).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>

#include <ringfuse.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif
#ifndef SEEK_DATA
#define SEEK_DATA 3
#endif
#ifndef SEEK_HOLE
#define SEEK_HOLE 4
#endif
#ifndef XATTR_NAME_MAX
#define XATTR_NAME_MAX 255
#endif
#ifndef XATTR_SIZE_MAX
#define XATTR_SIZE_MAX 65536
#endif
#ifndef XATTR_LIST_MAX
#define XATTR_LIST_MAX 65536
#endif

#define ROOT_INO	1
#define MF_NAME_MAX	255
#define MF_SYMLINK_MAX	4095			/* PATH_MAX minus the NUL */
#define MF_MAX_FILE	((uint64_t)1 << 40)	/* 1 TiB logical: beyond it, EFBIG */
#define MF_NLINK_MAX	((uint32_t)INT32_MAX)
#define MF_CFR_MAX	((uint64_t)64 << 20)	/* per COPY_FILE_RANGE: keep the loop responsive */
#define BOGO_DIRENT	20			/* st_size per directory entry, as tmpfs */
#define FIRST_COOKIE	3			/* readdir offsets 1 and 2 are "." and ".." */

/* File data lives in 4 KiB pages hung off a radix tree: holes cost nothing. */
#define PG_SHIFT	12
#define PG_SIZE		((uint64_t)1 << PG_SHIFT)
#define PG_MASK		(PG_SIZE - 1)
#define RT_BITS		9
#define RT_FAN		(1u << RT_BITS)

#define MIN(a, b)	((a) < (b) ? (a) : (b))

struct rtnode {
	void *slot[RT_FAN];
};

struct pmap {
	void *root;			/* rtnode of height @height, or NULL (then height 0) */
	unsigned int height;
	uint64_t npages;
};

struct dent;

/* One directory slot; removed entries leave a tombstone so cookies stay sorted. */
struct dslot {
	uint64_t cookie;
	struct dent *d;
};

struct dirdata {
	struct dslot *slots;		/* sorted by cookie */
	size_t n, cap, live;
	uint64_t next_cookie;
	uint64_t parent;		/* ino of "..": a number, never a pointer, so an
					 * unlinked directory cannot dangle */
};

struct xattr {
	struct xattr *next;
	size_t namelen, vlen;
	char data[];			/* name, NUL, value */
};

struct inode {
	struct inode *hnext;		/* in memfs.itab */
	uint64_t ino;
	uint64_t nlookup;		/* the kernel's references (entries replied, minus FORGET) */
	uint64_t nopen;			/* OPEN/CREATE/OPENDIR minus RELEASE/RELEASEDIR */
	uint32_t nlink;
	bool linkable;			/* O_TMPFILE without O_EXCL: link(2) may give it a name */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	dev_t rdev;
	uint64_t size;			/* regular: bytes; symlink: target length */
	struct timespec atime, mtime, ctime, btime;
	struct xattr *xattrs;
	size_t xattr_list;		/* bytes listxattr needs */
	union {
		struct pmap data;	/* S_IFREG */
		char *target;		/* S_IFLNK */
		struct dirdata dir;	/* S_IFDIR */
	} u;
};

struct dent {
	struct dent *hnext;		/* in memfs.dtab */
	struct inode *dir;		/* cannot go away: a directory with entries is never freed */
	struct inode *node;
	uint64_t hash;
	uint64_t cookie;
	size_t slot;			/* index in dir->u.dir.slots */
	size_t namelen;
	char name[];
};

struct memfs {
	/* Handlers run on loop threads; with threads=N there are several, so every handler
	 * holds this while it looks at or changes the tree, and drops it before replying. */
	pthread_mutex_t lock;
	struct inode **itab;		/* ino -> inode */
	size_t itab_mask, ninodes;
	struct dent **dtab;		/* (dir, name) -> dent */
	size_t dtab_mask, ndents;
	uint64_t next_ino;		/* never reused: the kernel may still know old ids */
	uint64_t next_fh;		/* open file handles, never reused either */
	uint64_t max_pages, used_pages, max_inodes;
	double entry_timeout, attr_timeout, neg_timeout;
	struct inode *root;
};

/* ---- small helpers ---------------------------------------------------------------- */

static struct timespec now_ts(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return t;
}

static int ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	if (a->tv_nsec != b->tv_nsec)
		return a->tv_nsec < b->tv_nsec ? -1 : 1;
	return 0;
}

static bool ts_valid(const struct timespec *t)
{
	return t->tv_nsec >= 0 && t->tv_nsec < 1000000000L;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static uint64_t name_hash(uint64_t dir, const char *name, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)name[i];
		h *= 0x100000001b3ULL;
	}
	return mix64(h ^ (dir * 0x9e3779b97f4a7c15ULL));
}

static void fs_lock(struct memfs *fs)
{
	pthread_mutex_lock(&fs->lock);
}

static void fs_unlock(struct memfs *fs)
{
	pthread_mutex_unlock(&fs->lock);
}

/* Linux semantics: S_ISGID without group exec marks mandatory locking, keep it. */
static void kill_suid(struct inode *n)
{
	n->mode &= ~(mode_t)S_ISUID;
	if (n->mode & S_IXGRP)
		n->mode &= ~(mode_t)S_ISGID;
}

/* Whether the caller of @req is in group @gid (primary or supplementary). */
static bool caller_in_group(struct rf_req *req, gid_t gid)
{
	gid_t small[32], *list = small;
	int n, i, size = 32;
	bool in = false;

	if (rf_req_ctx(req)->gid == gid)
		return true;
	n = rf_req_groups(req, list, size);
	if (n > size) {
		list = malloc((size_t)n * sizeof(*list));
		size = n;
		n = list ? rf_req_groups(req, list, size) : -ENOMEM;
	}
	for (i = 0; i < n && i < size && !in; i++)
		in = list[i] == gid;
	if (list != small)
		free(list);
	return in;
}

/*
 * HANDLE_KILLPRIV_V2: the kernel flags a write, truncate or open(O_TRUNC) by a caller
 * without CAP_FSETID, and the set-id bits are ours to drop. The kernel's rule for local
 * filesystems (should_remove_suid, setattr_should_drop_sgid): set-user-ID always;
 * set-group-ID when group-executable or when the caller is not in the file's group.
 */
static bool kill_privs(struct rf_req *req, struct inode *n)
{
	mode_t old = n->mode;

	if (!S_ISREG(n->mode))
		return false;
	n->mode &= ~(mode_t)S_ISUID;
	if ((n->mode & S_ISGID) && ((n->mode & S_IXGRP) || !caller_in_group(req, n->gid)))
		n->mode &= ~(mode_t)S_ISGID;
	return n->mode != old;
}

/* relatime: enough for "was it read since it was written" without a write per read. */
static void touch_atime(struct inode *n)
{
	struct timespec t = now_ts();

	if (ts_cmp(&n->atime, &n->mtime) <= 0 || ts_cmp(&n->atime, &n->ctime) <= 0 ||
	    t.tv_sec - n->atime.tv_sec >= 24 * 3600)
		n->atime = t;
}

/* A component name: length in bytes or -errno. The kernel checks too; trust nothing. */
static int check_name(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || strchr(name, '/'))
		return -EINVAL;
	if (len > MF_NAME_MAX)
		return -ENAMETOOLONG;
	return (int)len;
}

static bool is_dot(const char *name)
{
	return name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2]));
}

/* ---- page map ------------------------------------------------------------------------ */

static uint64_t rt_span(unsigned int h)
{
	return (uint64_t)1 << (RT_BITS * h);
}

static char *pmap_find(const struct pmap *pm, uint64_t idx)
{
	void *p = pm->root;
	unsigned int h;

	if (!p || idx >= rt_span(pm->height))
		return NULL;
	for (h = pm->height; h > 0 && p; h--)
		p = ((struct rtnode *)p)->slot[(idx >> (RT_BITS * (h - 1))) & (RT_FAN - 1)];
	return p;
}

/* The page at @idx, allocated (zeroed) if absent. NULL with *err on ENOSPC/ENOMEM. */
static char *pmap_get(struct memfs *fs, struct pmap *pm, uint64_t idx, int *err)
{
	void **slot;
	unsigned int h;

	while (!pm->root || idx >= rt_span(pm->height)) {
		struct rtnode *top = calloc(1, sizeof(*top));

		if (!top) {
			*err = -ENOMEM;
			return NULL;
		}
		top->slot[0] = pm->root;
		pm->root = top;
		pm->height++;
	}
	slot = &pm->root;
	for (h = pm->height; h > 0; h--) {
		struct rtnode *node = *slot;

		slot = &node->slot[(idx >> (RT_BITS * (h - 1))) & (RT_FAN - 1)];
		if (h > 1 && !*slot) {
			*slot = calloc(1, sizeof(struct rtnode));
			if (!*slot) {
				*err = -ENOMEM;
				return NULL;
			}
		}
	}
	if (!*slot) {
		if (fs->used_pages >= fs->max_pages) {
			*err = -ENOSPC;
			return NULL;
		}
		*slot = calloc(1, PG_SIZE);
		if (!*slot) {
			*err = -ENOMEM;
			return NULL;
		}
		pm->npages++;
		fs->used_pages++;
	}
	return *slot;
}

/* Free pages [first, last] below the node in *slotp (height h, first page @base);
 * the node itself goes when nothing is left under it. */
static void rt_free_range(struct memfs *fs, struct pmap *pm, void **slotp, unsigned int h,
			  uint64_t base, uint64_t first, uint64_t last)
{
	struct rtnode *node = *slotp;
	uint64_t cspan = rt_span(h - 1);
	unsigned int i, lo, hi;

	lo = first > base ? (unsigned int)((first - base) / cspan) : 0;
	hi = last - base >= rt_span(h) - 1 ? RT_FAN - 1 : (unsigned int)((last - base) / cspan);
	for (i = lo; i <= hi; i++) {
		if (!node->slot[i])
			continue;
		if (h == 1) {
			free(node->slot[i]);
			node->slot[i] = NULL;
			pm->npages--;
			fs->used_pages--;
		} else {
			rt_free_range(fs, pm, &node->slot[i], h - 1, base + i * cspan, first, last);
		}
	}
	for (i = 0; i < RT_FAN; i++)
		if (node->slot[i])
			return;
	free(node);
	*slotp = NULL;
}

static void pmap_punch(struct memfs *fs, struct pmap *pm, uint64_t first, uint64_t last)
{
	if (!pm->root || first > last || first >= rt_span(pm->height))
		return;
	rt_free_range(fs, pm, &pm->root, pm->height, 0, first, last);
	if (!pm->root)
		pm->height = 0;
}

/* First page index >= @from that is present (@data) or absent (!@data), or UINT64_MAX. */
static uint64_t rt_next(const void *p, unsigned int h, uint64_t base, uint64_t from, bool data)
{
	const struct rtnode *node = p;
	uint64_t cspan = rt_span(h - 1);
	unsigned int i = from > base ? (unsigned int)((from - base) / cspan) : 0;

	for (; i < RT_FAN; i++) {
		uint64_t cb = base + i * cspan, start = from > cb ? from : cb, r;

		if (!node->slot[i]) {
			if (!data)
				return start;
			continue;
		}
		if (h == 1) {
			if (data)
				return start;
			continue;
		}
		r = rt_next(node->slot[i], h - 1, cb, start, data);
		if (r != UINT64_MAX)
			return r;
	}
	return UINT64_MAX;
}

static uint64_t pmap_next(const struct pmap *pm, uint64_t from, bool data)
{
	uint64_t r;

	if (!pm->root || from >= rt_span(pm->height))
		return data ? UINT64_MAX : from;
	r = rt_next(pm->root, pm->height, 0, from, data);
	if (r == UINT64_MAX && !data)
		r = rt_span(pm->height);
	return r;
}

/* ---- file data ----------------------------------------------------------------------- */

/* Invariant: every byte at or past i_size in a present page is zero. */

static size_t file_read(const struct inode *n, char *dst, size_t size, uint64_t off)
{
	size_t done = 0;

	if (off >= n->size)
		return 0;
	if (size > n->size - off)
		size = (size_t)(n->size - off);
	while (done < size) {
		uint64_t pos = off + done;
		size_t pgoff = (size_t)(pos & PG_MASK);
		size_t chunk = MIN((size_t)PG_SIZE - pgoff, size - done);
		const char *pg = pmap_find(&n->u.data, pos >> PG_SHIFT);

		if (pg)
			memcpy(dst + done, pg + pgoff, chunk);
		else
			memset(dst + done, 0, chunk);
		done += chunk;
	}
	return done;
}

/* Bytes written (short on ENOSPC after some progress) or -errno. */
static int64_t file_write(struct memfs *fs, struct inode *n, const char *src, size_t size,
			  uint64_t off)
{
	size_t done = 0;
	int err = 0;

	if (off >= MF_MAX_FILE)
		return size ? -EFBIG : 0;
	if (size > MF_MAX_FILE - off)
		size = (size_t)(MF_MAX_FILE - off);
	while (done < size) {
		uint64_t pos = off + done;
		size_t pgoff = (size_t)(pos & PG_MASK);
		size_t chunk = MIN((size_t)PG_SIZE - pgoff, size - done);
		char *pg = pmap_get(fs, &n->u.data, pos >> PG_SHIFT, &err);

		if (!pg)
			break;
		memcpy(pg + pgoff, src + done, chunk);
		done += chunk;
	}
	if (!done && err)
		return err;
	if (off + done > n->size)
		n->size = off + done;
	return (int64_t)done;
}

/* Make [start, end) read as zeros: whole pages are freed, partial ones cleared. */
static void file_zero(struct memfs *fs, struct inode *n, uint64_t start, uint64_t end)
{
	if (end > MF_MAX_FILE)
		end = MF_MAX_FILE;
	while (start < end) {
		uint64_t pgoff = start & PG_MASK;
		uint64_t chunk = MIN(PG_SIZE - pgoff, end - start);
		char *pg;

		if (pgoff == 0 && chunk == PG_SIZE) {
			uint64_t last = (end >> PG_SHIFT) - 1;

			pmap_punch(fs, &n->u.data, start >> PG_SHIFT, last);
			start = (last + 1) << PG_SHIFT;
			continue;
		}
		pg = pmap_find(&n->u.data, start >> PG_SHIFT);
		if (pg)
			memset(pg + pgoff, 0, (size_t)chunk);
		start += chunk;
	}
}

static void file_resize(struct memfs *fs, struct inode *n, uint64_t size)
{
	if (size < n->size) {
		uint64_t pgoff = size & PG_MASK;

		if (pgoff) {
			char *pg = pmap_find(&n->u.data, size >> PG_SHIFT);

			if (pg)
				memset(pg + pgoff, 0, (size_t)(PG_SIZE - pgoff));
		}
		pmap_punch(fs, &n->u.data, (size + PG_SIZE - 1) >> PG_SHIFT, UINT64_MAX);
	}
	n->size = size;
}

/* ---- inodes ---------------------------------------------------------------------------- */

static struct inode *inode_get(const struct memfs *fs, uint64_t ino)
{
	struct inode *n;

	for (n = fs->itab[mix64(ino) & fs->itab_mask]; n; n = n->hnext)
		if (n->ino == ino)
			return n;
	return NULL;
}

static void itab_grow(struct memfs *fs)
{
	size_t nsize = (fs->itab_mask + 1) * 2, i;
	struct inode **nt = calloc(nsize, sizeof(*nt));

	if (!nt)
		return;		/* longer chains, still correct */
	for (i = 0; i <= fs->itab_mask; i++) {
		struct inode *n, *next;

		for (n = fs->itab[i]; n; n = next) {
			size_t b = mix64(n->ino) & (nsize - 1);

			next = n->hnext;
			n->hnext = nt[b];
			nt[b] = n;
		}
	}
	free(fs->itab);
	fs->itab = nt;
	fs->itab_mask = nsize - 1;
}

static struct inode *inode_new(struct memfs *fs, mode_t mode, int *err)
{
	struct inode *n;
	size_t b;

	if (fs->ninodes >= fs->max_inodes) {
		*err = -ENOSPC;
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		*err = -ENOMEM;
		return NULL;
	}
	n->ino = fs->next_ino++;
	n->mode = mode;
	n->atime = n->mtime = n->ctime = n->btime = now_ts();
	if (S_ISDIR(mode))
		n->u.dir.next_cookie = FIRST_COOKIE;
	b = mix64(n->ino) & fs->itab_mask;
	n->hnext = fs->itab[b];
	fs->itab[b] = n;
	if (++fs->ninodes > fs->itab_mask + 1)
		itab_grow(fs);
	return n;
}

static void inode_release_data(struct memfs *fs, struct inode *n)
{
	struct xattr *x, *next;

	if (S_ISREG(n->mode))
		pmap_punch(fs, &n->u.data, 0, UINT64_MAX);
	else if (S_ISLNK(n->mode))
		free(n->u.target);
	else if (S_ISDIR(n->mode))
		free(n->u.dir.slots);
	for (x = n->xattrs; x; x = next) {
		next = x->next;
		free(x);
	}
}

static void inode_free(struct memfs *fs, struct inode *n)
{
	struct inode **pp;

	for (pp = &fs->itab[mix64(n->ino) & fs->itab_mask]; *pp; pp = &(*pp)->hnext) {
		if (*pp == n) {
			*pp = n->hnext;
			break;
		}
	}
	fs->ninodes--;
	inode_release_data(fs, n);
	free(n);
}

/* Free @n once no name, no kernel reference and no open file is left. */
static void inode_maybe_free(struct memfs *fs, struct inode *n)
{
	if (n && n != fs->root && n->nlink == 0 && n->nlookup == 0 && n->nopen == 0)
		inode_free(fs, n);
}

static struct inode *get_dir(const struct memfs *fs, uint64_t ino, int *err)
{
	struct inode *n = inode_get(fs, ino);

	if (!n)
		*err = -ESTALE;
	else if (!S_ISDIR(n->mode))
		*err = -ENOTDIR;
	else
		return n;
	return NULL;
}

static void stat_fill(const struct inode *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_mode = n->mode;
	st->st_nlink = n->nlink;
	st->st_uid = n->uid;
	st->st_gid = n->gid;
	st->st_rdev = n->rdev;
	st->st_blksize = PG_SIZE;
	if (S_ISDIR(n->mode))
		st->st_size = (off_t)((n->u.dir.live + 2) * BOGO_DIRENT);
	else
		st->st_size = (off_t)n->size;
	if (S_ISREG(n->mode))
		st->st_blocks = (blkcnt_t)(n->u.data.npages * (PG_SIZE / 512));
	st->st_atim = n->atime;
	st->st_mtim = n->mtime;
	st->st_ctim = n->ctime;
}

/* An entry for @n; counts the lookup the kernel will hold once it gets it. Locked. */
static void entry_fill(struct memfs *fs, struct inode *n, struct rf_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->generation = 0;
	stat_fill(n, &e->attr);
	e->attr_timeout = fs->attr_timeout;
	e->entry_timeout = fs->entry_timeout;
	n->nlookup++;
}

/* Drop @nlookup kernel references (FORGET, or a reply that never reached the kernel). */
static void forget_locked(struct memfs *fs, uint64_t ino, uint64_t nlookup)
{
	struct inode *n = inode_get(fs, ino);

	if (n) {
		n->nlookup = n->nlookup > nlookup ? n->nlookup - nlookup : 0;
		inode_maybe_free(fs, n);
	}
}

/*
 * Replies are sent with the lock dropped: a reply may run other handlers before it
 * returns (a RELEASE it unparks, a FORGET deferred until this request finished).
 */
static void reply_entry(struct memfs *fs, struct rf_req *req, const struct rf_entry *e)
{
	if (rf_reply_entry(req, e) < 0 && e->ino) {
		/* The kernel got an error instead: it holds no reference. */
		fs_lock(fs);
		forget_locked(fs, e->ino, 1);
		fs_unlock(fs);
	}
}

/* A fresh handle per open: the runtime orders requests per fh value. */
static uint64_t new_fh(struct memfs *fs)
{
	return fs->next_fh++;
}

/* ---- directory entries ----------------------------------------------------------------- */

static struct dent *dent_find(const struct memfs *fs, const struct inode *dir, const char *name,
			      size_t len)
{
	uint64_t h = name_hash(dir->ino, name, len);
	struct dent *d;

	for (d = fs->dtab[h & fs->dtab_mask]; d; d = d->hnext)
		if (d->hash == h && d->dir == dir && d->namelen == len && !memcmp(d->name, name, len))
			return d;
	return NULL;
}

static void dtab_grow(struct memfs *fs)
{
	size_t nsize = (fs->dtab_mask + 1) * 2, i;
	struct dent **nt = calloc(nsize, sizeof(*nt));

	if (!nt)
		return;
	for (i = 0; i <= fs->dtab_mask; i++) {
		struct dent *d, *next;

		for (d = fs->dtab[i]; d; d = next) {
			next = d->hnext;
			d->hnext = nt[d->hash & (nsize - 1)];
			nt[d->hash & (nsize - 1)] = d;
		}
	}
	free(fs->dtab);
	fs->dtab = nt;
	fs->dtab_mask = nsize - 1;
}

static void dir_compact(struct inode *dir)
{
	struct dirdata *dd = &dir->u.dir;
	size_t i, j = 0;

	for (i = 0; i < dd->n; i++) {
		if (!dd->slots[i].d)
			continue;
		dd->slots[j] = dd->slots[i];
		dd->slots[j].d->slot = j;
		j++;
	}
	dd->n = j;
}

/* Room for one more slot, so that adding an entry cannot fail half way. */
static int dir_reserve(struct inode *dir)
{
	struct dirdata *dd = &dir->u.dir;
	struct dslot *ns;
	size_t ncap;

	if (dd->n < dd->cap)
		return 0;
	if (dd->live < dd->n / 2) {
		dir_compact(dir);
		return 0;
	}
	ncap = dd->cap ? dd->cap * 2 : 8;
	ns = realloc(dd->slots, ncap * sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	dd->slots = ns;
	dd->cap = ncap;
	return 0;
}

static struct dent *dent_add(struct memfs *fs, struct inode *dir, const char *name, size_t len,
			     struct inode *node, int *err)
{
	struct dirdata *dd = &dir->u.dir;
	struct dent *d = malloc(sizeof(*d) + len + 1);
	size_t b;

	if (!d || dir_reserve(dir) < 0) {
		free(d);
		*err = -ENOMEM;
		return NULL;
	}
	memcpy(d->name, name, len);
	d->name[len] = '\0';
	d->namelen = len;
	d->dir = dir;
	d->node = node;
	d->hash = name_hash(dir->ino, name, len);
	d->cookie = dd->next_cookie++;
	d->slot = dd->n;
	dd->slots[dd->n].cookie = d->cookie;
	dd->slots[dd->n].d = d;
	dd->n++;
	dd->live++;
	b = d->hash & fs->dtab_mask;
	d->hnext = fs->dtab[b];
	fs->dtab[b] = d;
	if (++fs->ndents > fs->dtab_mask + 1)
		dtab_grow(fs);
	return d;
}

static void dent_del(struct memfs *fs, struct dent *d)
{
	struct dirdata *dd = &d->dir->u.dir;
	struct dent **pp;

	dd->slots[d->slot].d = NULL;
	dd->live--;
	for (pp = &fs->dtab[d->hash & fs->dtab_mask]; *pp; pp = &(*pp)->hnext) {
		if (*pp == d) {
			*pp = d->hnext;
			break;
		}
	}
	fs->ndents--;
	/* Cookies only grow, so dropping tombstones never moves a readdir position. */
	if (dd->live == 0)
		dd->n = 0;
	else if (dd->n >= 32 && dd->live < dd->n / 4)
		dir_compact(d->dir);
	free(d);
}

/* Index of the first slot whose cookie is greater than @off. */
static size_t dir_seek(const struct dirdata *dd, uint64_t off)
{
	size_t lo = 0, hi = dd->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (dd->slots[mid].cookie <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Whether @dir is @top or below it, walking ".." up to the root. */
static bool in_subtree(const struct memfs *fs, const struct inode *top, const struct inode *dir)
{
	size_t guard = fs->ninodes + 1;

	while (dir && guard--) {
		if (dir == top)
			return true;
		if (dir->ino == ROOT_INO)
			return false;
		dir = inode_get(fs, dir->u.dir.parent);
	}
	return false;
}

/* ---- creating nodes ----------------------------------------------------------------------- */

static void init_owner(struct inode *n, const struct rf_ctx *ctx, const struct inode *parent)
{
	n->uid = ctx->uid;
	n->gid = ctx->gid;
	if (parent && (parent->mode & S_ISGID)) {
		/* BSD group semantics below a setgid directory, inherited by subdirectories. */
		n->gid = parent->gid;
		if (S_ISDIR(n->mode))
			n->mode |= S_ISGID;
	}
}

static mode_t apply_umask(mode_t mode, const struct rf_ctx *ctx)
{
	return (mode & S_IFMT) | (mode & 07777 & ~(ctx->umask & 0777));
}

/* Create @name in @parent: an inode of @mode (umask applied by the caller), linked. */
static int new_node(struct memfs *fs, struct rf_req *req, uint64_t parent, const char *name,
		    mode_t mode, dev_t rdev, const char *target, struct inode **out)
{
	const struct rf_ctx *ctx = rf_req_ctx(req);
	struct inode *dir, *n;
	struct timespec t;
	char *tcopy = NULL;
	int err = 0, len;

	dir = get_dir(fs, parent, &err);
	if (!dir)
		return err;
	len = check_name(name);
	if (len < 0)
		return len;
	if (dir->nlink == 0)
		return -ENOENT;		/* removed directory: nothing may be created in it */
	if (is_dot(name) || dent_find(fs, dir, name, (size_t)len))
		return -EEXIST;
	if (S_ISDIR(mode) && dir->nlink >= MF_NLINK_MAX)
		return -EMLINK;
	if (target) {
		size_t tlen = strlen(target);

		if (tlen == 0)
			return -ENOENT;
		if (tlen > MF_SYMLINK_MAX)
			return -ENAMETOOLONG;
		tcopy = strdup(target);
		if (!tcopy)
			return -ENOMEM;
	}
	n = inode_new(fs, mode, &err);
	if (!n) {
		free(tcopy);
		return err;
	}
	init_owner(n, ctx, dir);
	if (S_ISDIR(mode)) {
		n->nlink = 2;
		n->u.dir.parent = dir->ino;
	} else {
		n->nlink = 1;
	}
	if (S_ISCHR(mode) || S_ISBLK(mode))
		n->rdev = rdev;
	if (tcopy) {
		n->u.target = tcopy;
		n->size = strlen(tcopy);
	}
	if (!dent_add(fs, dir, name, (size_t)len, n, &err)) {
		n->nlink = 0;
		inode_free(fs, n);
		return err;
	}
	if (S_ISDIR(mode))
		dir->nlink++;
	t = now_ts();
	dir->mtime = dir->ctime = t;
	*out = n;
	return 0;
}

/* ---- operations --------------------------------------------------------------------------- */

/*
 * Every handler works the same way: take the lock, look and change, put what the reply
 * needs in locals or in the request's own payload buffer, drop the lock, reply.
 */

static void mf_init(void *userdata, struct rf_conn *conn)
{
	conn->want |= RF_CAP_READDIRPLUS;
	/* Set-id bits are dropped here, with the caller's groups at hand (kill_privs). */
	conn->want |= RF_CAP_HANDLE_KILLPRIV_V2;
	/* Without writeback cache every write reaches us at the kernel's offset. */
	conn->want &= ~RF_CAP_WRITEBACK_CACHE;
	conn->time_gran = 1;
}

static void mf_lookup(struct rf_req *req, uint64_t parent, const char *name)
{
	struct memfs *fs = rf_req_userdata(req);
	struct inode *dir, *n = NULL;
	struct rf_entry e;
	int err = 0, len;

	memset(&e, 0, sizeof(e));
	fs_lock(fs);
	dir = get_dir(fs, parent, &err);
	if (!dir)
		goto out;
	len = check_name(name);
	if (len < 0) {
		err = len;
	} else if (!strcmp(name, ".")) {
		n = dir;
	} else if (!strcmp(name, "..")) {
		n = inode_get(fs, dir->u.dir.parent);
		if (!n)
			err = -ENOENT;
	} else {
		struct dent *d = dent_find(fs, dir, name, (size_t)len);

		if (d)
			n = d->node;
	}
	if (n) {
		entry_fill(fs, n, &e);
	} else if (!err) {
		/* Every change goes through this mount, so the kernel may cache absence. */
		if (fs->neg_timeout > 0 && dir->nlink)
			e.entry_timeout = fs->neg_timeout;
		else
			err = -ENOENT;
	}
out:
	fs_unlock(fs);
	if (err)
		rf_reply_err(req, err);
	else
		reply_entry(fs, req, &e);
}

static void mf_forget(void *userdata, uint64_t ino, uint64_t nlookup)
{
	struct memfs *fs = userdata;

	fs_lock(fs);
	forget_locked(fs, ino, nlookup);
	fs_unlock(fs);
}

static void mf_getattr(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct memfs *fs = rf_req_userdata(req);
	struct inode *n;
	struct stat st;

	fs_lock(fs);
	n = inode_get(fs, ino);
	if (n)
		stat_fill(n, &st);
	fs_unlock(fs);
	if (!n)
		rf_reply_err(req, -ESTALE);
	else
		rf_reply_attr(req, &st, fs->attr_timeout);
}

static int do_setattr(struct memfs *fs, struct rf_req *req, uint64_t ino,
		      const struct stat *attr, int to_set, struct stat *out)
{
	const int changes = RF_SET_MODE | RF_SET_UID | RF_SET_GID | RF_SET_SIZE | RF_SET_ATIME |
			    RF_SET_MTIME | RF_SET_ATIME_NOW | RF_SET_MTIME_NOW | RF_SET_CTIME |
			    RF_SET_KILL_SUIDGID;
	struct inode *n = inode_get(fs, ino);
	struct timespec t;

	if (!n)
		return -ESTALE;
	/* Validate everything first: a failed SETATTR changes nothing. */
	if (to_set & RF_SET_SIZE) {
		if (S_ISDIR(n->mode))
			return -EISDIR;
		if (!S_ISREG(n->mode) || attr->st_size < 0)
			return -EINVAL;
		if ((uint64_t)attr->st_size > MF_MAX_FILE)
			return -EFBIG;
	}
	if (((to_set & RF_SET_ATIME) && !(to_set & RF_SET_ATIME_NOW) &&
	     !ts_valid(&attr->st_atim)) ||
	    ((to_set & RF_SET_MTIME) && !(to_set & RF_SET_MTIME_NOW) &&
	     !ts_valid(&attr->st_mtim)) ||
	    ((to_set & RF_SET_CTIME) && !ts_valid(&attr->st_ctim)))
		return -EINVAL;

	t = now_ts();
	if (to_set & (RF_SET_UID | RF_SET_GID)) {
		bool changed = ((to_set & RF_SET_UID) && attr->st_uid != n->uid) ||
			       ((to_set & RF_SET_GID) && attr->st_gid != n->gid);

		if (to_set & RF_SET_UID)
			n->uid = attr->st_uid;
		if (to_set & RF_SET_GID)
			n->gid = attr->st_gid;
		/* A new owner must not inherit set-id power; an explicit mode wins. */
		if (changed && !(to_set & RF_SET_MODE) && !S_ISDIR(n->mode))
			kill_suid(n);
	}
	if (to_set & RF_SET_MODE)
		n->mode = (n->mode & S_IFMT) | (attr->st_mode & 07777);
	if (to_set & RF_SET_KILL_SUIDGID)
		kill_privs(req, n);
	if ((to_set & RF_SET_SIZE) && (uint64_t)attr->st_size != n->size) {
		file_resize(fs, n, (uint64_t)attr->st_size);
		n->mtime = t;
	}
	if (to_set & RF_SET_ATIME_NOW)
		n->atime = t;
	else if (to_set & RF_SET_ATIME)
		n->atime = attr->st_atim;
	if (to_set & RF_SET_MTIME_NOW)
		n->mtime = t;
	else if (to_set & RF_SET_MTIME)
		n->mtime = attr->st_mtim;
	if (to_set & RF_SET_CTIME)
		n->ctime = attr->st_ctim;
	else if (to_set & changes)
		n->ctime = t;
	stat_fill(n, out);
	return 0;
}

static void mf_setattr(struct rf_req *req, uint64_t ino, const struct stat *attr, int to_set,
		       struct rf_file *fi)
{
	struct memfs *fs = rf_req_userdata(req);
	struct stat st;
	int err;

	fs_lock(fs);
	err = do_setattr(fs, req, ino, attr, to_set, &st);
	fs_unlock(fs);
	if (err)
		rf_reply_err(req, err);
	else
		rf_reply_attr(req, &st, fs->attr_timeout);
}

static void mf_readlink(struct rf_req *req, uint64_t ino)
{
	struct memfs *fs = rf_req_userdata(req);
	char *buf = NULL;
	struct inode *n;
	size_t cap, len = 0;
	int err = 0;

	fs_lock(fs);
	n = inode_get(fs, ino);
	if (!n) {
		err = -ESTALE;
	} else if (!S_ISLNK(n->mode)) {
		err = -EINVAL;
	} else {
		/* Copied into the reply now: the link may be gone once the lock is dropped. */
		buf = rf_req_payload(req, &cap);
		len = (size_t)n->size;
		if (len > cap)
			err = -ENAMETOOLONG;
		else
			memcpy(buf, n->u.target, len);
	}
	fs_unlock(fs);
	if (err)
		rf_reply_err(req, err);
	else
		rf_reply_buf(req, buf, len);
}

/* MKNOD, MKDIR and SYMLINK: create, count the lookup, reply the entry. */
static void make_and_reply(struct rf_req *req, uint64_t parent, const char *name, mode_t mode,
			   dev_t rdev, const char *target)
{
	struct memfs *fs = rf_req_userdata(req);
	struct inode *n = NULL;
	struct rf_entry e;
	int err;

	fs_lock(fs);
	err = new_node(fs, req, parent, name, mode, rdev, target, &n);
	if (!err)
		entry_fill(fs, n, &e);
	fs_unlock(fs);
	if (err)
		rf_reply_err(req, err);
	else
		reply_entry(fs, req, &e);
}

static void mf_mknod(struct rf_req *req, uint64_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	if ((mode & S_IFMT) == 0)
		mode |= S_IFREG;
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		make_and_reply(req, parent, name, apply_umask(mode, rf_req_ctx(req)), rdev, NULL);
		break;
	case S_IFDIR:
		rf_reply_err(req, -EPERM);	/* mkdir's job */
		break;
	default:
		rf_reply_err(req, -EINVAL);
		break;
	}
}

static void mf_mkdir(struct rf_req *req, uint64_t parent, const char *name, mode_t mode)
{
	make_and_reply(req, parent, name, apply_umask(S_IFDIR | (mode & 07777), rf_req_ctx(req)),
		       0, NULL);
}

static void mf_symlink(struct rf_req *req, const char *target, uint64_t parent,
		       const char *name)
{
	make_and_reply(req, parent, name, S_IFLNK | 0777, 0, target);
}

/* CREATE and TMPFILE: the reply carries an entry (a lookup) and an open handle. */
static void reply_create(struct memfs *fs, struct rf_req *req, const struct rf_entry *e,
			 struct rf_file *fi)
{
	struct inode *n;

	if (rf_reply_create(req, e, fi) < 0) {
		fs_lock(fs);
		n = inode_get(fs, e->ino);
		if (n && n->nopen)
			n->nopen--;
		forget_locked(fs, e->ino, 1);
		fs_unlock(fs);
	}
}

static void mf_create(struct rf_req *req, uint64_t parent, const char *name, mode_t mode,
		      struct rf_file *fi)
{
	struct memfs *fs = rf_req_userdata(req);
	struct inode *n = NULL;
	struct rf_entry e;
	int err;

	if ((mode & S_IFMT) == 0)
		mode |= S_IFREG;
	if (!S_ISREG(mode)) {
		rf_reply_err(req, -EINVAL);
		return;
	}
	fs_lock(fs);
	err = new_node(fs, req, parent, name, apply_umask(mode, rf_req_ctx(req)), 0, NULL, &n);
	if (!err) {
		n->nopen++;
		fi->fh = new_fh(fs);
		entry_fill(fs, n, &e);
	}
	fs_unlock(fs);
	if (err)
		rf_reply_err(req, err);
	else
		reply_create(fs, req, &e, fi);
}

static void mf_tmpfile(struct rf_req *req, uint64_t parent, mode_t mode, struct rf_file *fi)
{
	struct memfs *fs = rf_req_userdata(req);
	struct inode *dir, *n = NULL;
	struct rf_entry e;
	int err = 0;

	if ((mode & S_IFMT) == 0)
		mode |= S_IFREG;
	if (!S_ISREG(mode)) {
		rf_reply_err(req, -EINVAL);
		return;
	}
	fs_lock(fs);
	dir = get_dir(fs, parent, &err);
	if (dir && dir->nlink == 0)
		err = -ENOENT;
	if (!err)
		n = inode_new(fs, apply_umask(mode, rf_req_ctx(req)), &err);
	if (n) {
		/* No name: lives while the kernel holds it open, unless linked later. */
		init_owner(n, rf_req_ctx(req), dir);
		n->linkable = !(fi->flags & O_EXCL);
		n->nopen = 1;
		fi->fh = new_fh(fs);
		entry_fill(fs, n, &e);
	}
	fs_unlock(fs);
	if (err)
		rf_reply_err(req, err);
	else
		reply_create(fs, req, &e, fi);
}

static int do_unlink(struct memfs *fs, uint64_t parent, const char *name)
{
	struct inode *dir, *n;
	struct timespec t;
	struct dent *d;
	int err = 0, len;

	dir = get_dir(fs, parent, &err);
	if (!dir)
		return err;
	len = check_name(name);
	if (len < 0)
		return len;
	if (is_dot(name))
		return -EISDIR;
	d = dent_find(fs, dir, name, (size_t)len);
	if (!d)
		return -ENOENT;
	n = d->node;
	if (S_ISDIR(n->mode))
		return -EISDIR;
	dent_del(fs, d);
	t = now_ts();
	n->nlink--;
	n->ctime = t;
	dir->mtime = dir->ctime = t;
	inode_maybe_free(fs, n);
	return 0;
}

static void mf_unlink(struct rf_req *req, uint64_t parent, const char *name)
{
	struct memfs *fs = rf_req_userdata(req);
	int err;

	fs_lock(fs);
	err = do_unlink(fs, parent, name);
	fs_unlock(fs);
	rf_reply_err(req, err);
}

static int do_rmdir(struct memfs *fs, uint64_t parent, const char *name)
{
	struct inode *dir, *n;
	struct timespec t;
	struct dent *d;
	int err = 0, len;

	dir = get_dir(fs, parent, &err);
	if (!dir)
		return err;
	len = check_name(name);
	if (len < 0)
		return len;
	if (is_dot(name))
		return name[1] ? -ENOTEMPTY : -EINVAL;
	d = dent_find(fs, dir, name, (size_t)len);
	if (!d)
		return -ENOENT;
	n = d->node;
	if (!S_ISDIR(n->mode))
		return -ENOTDIR;
	if (n->u.dir.live)
		return -ENOTEMPTY;
	dent_del(fs, d);
	t = now_ts();
	n->nlink = 0;
	n->ctime = t;
	dir->nlink--;
	dir->mtime = dir->ctime = t;
	inode_maybe_free(fs, n);
	return 0;
}

static void mf_rmdir(struct rf_req *req, uint64_t parent, const char *name)
{
	struct memfs *fs = rf_req_userdata(req);
	int err;

	fs_lock(fs);
	err = do_rmdir(fs, parent, name);
	fs_unlock(fs);
	rf_reply_err(req, err);
}

static int do_rename(struct memfs *fs, uint64_t parent, const char *name, uint64_t newparent,
		     const char *newname, unsigned int flags)
{
	struct inode *op, *np, *src, *dst = NULL;
	struct dent *sd, *dd;
	struct timespec t;
	int err = 0, len, newlen;
	bool sdir;

	if (flags & ~(unsigned int)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;		/* RENAME_WHITEOUT and anything newer */
	if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE))
		return -EINVAL;
	op = get_dir(fs, parent, &err);
	if (!op)
		return err;
	np = get_dir(fs, newparent, &err);
	if (!np)
		return err;
	len = check_name(name);
	if (len < 0)
		return len;
	newlen = check_name(newname);
	if (newlen < 0)
		return newlen;
	if (is_dot(name) || is_dot(newname))
		return -EBUSY;
	sd = dent_find(fs, op, name, (size_t)len);
	if (!sd)
		return -ENOENT;
	dd = dent_find(fs, np, newname, (size_t)newlen);
	src = sd->node;
	sdir = S_ISDIR(src->mode);
	t = now_ts();

	if (flags & RENAME_EXCHANGE) {
		bool ddir;

		if (!dd)
			return -ENOENT;
		if (sd == dd)
			return 0;
		dst = dd->node;
		ddir = S_ISDIR(dst->mode);
		/* Neither may end up inside itself. */
		if (op != np && ((sdir && in_subtree(fs, src, np)) ||
				 (ddir && in_subtree(fs, dst, op))))
			return -EINVAL;
		if (op != np && sdir != ddir &&
		    (sdir ? np->nlink : op->nlink) >= MF_NLINK_MAX)
			return -EMLINK;
		sd->node = dst;
		dd->node = src;
		if (op != np) {
			if (sdir)
				src->u.dir.parent = np->ino;
			if (ddir)
				dst->u.dir.parent = op->ino;
			if (sdir && !ddir) {
				op->nlink--;
				np->nlink++;
			} else if (!sdir && ddir) {
				np->nlink--;
				op->nlink++;
			}
		}
		src->ctime = dst->ctime = t;
		op->mtime = op->ctime = np->mtime = np->ctime = t;
		return 0;
	}

	if (dd) {
		if (flags & RENAME_NOREPLACE)
			return -EEXIST;
		dst = dd->node;
		if (dst == src)
			return 0;	/* two links to one file: POSIX says do nothing */
		if (sdir && !S_ISDIR(dst->mode))
			return -ENOTDIR;
		if (!sdir && S_ISDIR(dst->mode))
			return -EISDIR;
		if (S_ISDIR(dst->mode) && dst->u.dir.live)
			return -ENOTEMPTY;
	}
	if (sdir && op != np) {
		if (in_subtree(fs, src, np))
			return -EINVAL;
		if (!dd && np->nlink >= MF_NLINK_MAX)
			return -EMLINK;
	}

	if (dd) {
		/* Reuse the target's entry: its readdir position survives the rename. */
		dd->node = src;
		dent_del(fs, sd);
		if (S_ISDIR(dst->mode)) {
			dst->nlink = 0;
			np->nlink--;
		} else {
			dst->nlink--;
		}
		dst->ctime = t;
	} else {
		if (!dent_add(fs, np, newname, (size_t)newlen, src, &err))
			return err;
		dent_del(fs, sd);
	}
	if (sdir && op != np) {
		op->nlink--;
		np->nlink++;
		src->u.dir.parent = np->ino;
	}
	src->ctime = t;
	op->mtime = op->ctime = np->mtime = np->ctime = t;
	inode_maybe_free(fs, dst);
	return 0;
}

static void mf_rename(struct rf_req *req, uint64_t parent, const char *name, uint64_t newparent,
		      const char *newname, unsigned int flags)
{
	struct memfs *fs = rf_req_userdata(req);
	int err;

	fs_lock(fs);
	err = do_rename(fs, parent, name, newparent, newname, flags);
	fs_unlock(fs);
	rf_reply_err(req, err);
}

static int do_link(struct memfs *fs, uint64_t ino, uint64_t newparent, const char *newname,
		   struct rf_entry *e)
{
	struct inode *n, *dir;
	struct timespec t;
	int err = 0, len;

	n = inode_get(fs, ino);
	if (!n)
		return -ESTALE;
	dir = get_dir(fs, newparent, &err);
	if (!dir)
		return err;
	len = check_name(newname);
	if (len < 0)
		return len;
	if (S_ISDIR(n->mode))
		return -EPERM;
	if (dir->nlink == 0)
		return -ENOENT;
	if (is_dot(newname) || dent_find(fs, dir, newname, (size_t)len))
		return -EEXIST;
	if (n->nlink == 0 && !n->linkable)
		return -ENOENT;		/* unlinked files stay unlinked */
	if (n->nlink >= MF_NLINK_MAX)
		return -EMLINK;
	if (!dent_add(fs, dir, newname, (size_t)len, n, &err))
		return err;
	n->nlink++;
	n->linkable = false;
	t = now_ts();
	n->ctime = t;
	dir->mtime = dir->ctime = t;
	entry_fill(fs, n, e);
	return 0;
}

static void mf_link(struct rf_req *req, uint64_t ino, uint64_t newparent, const char *newname)
{
	struct memfs *fs = rf_req_userdata(req);
	struct rf_entry e;
	int err;

	fs_lock(fs);
	err = do_link(fs, ino, newparent, newname, &e);
	fs_unlock(fs);
	if (err)
		rf_reply_err(req, err);
	else
		reply_entry(fs, req, &e);
}

/* OPEN and OPENDIR: count the open, reply the handle; undo if the reply failed. */
static void reply_open(struct memfs *fs, struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct inode *n;

	if (rf_reply_open(req, fi) < 0) {
		fs_lock(fs);
		n = inode_get(fs, ino);
		if (n && n->nopen) {
			n->nopen--;
			inode_maybe_free(fs, n);
		}
		fs_unlock(fs);
	}
}

/*
 * A WRITE or OPEN reply carries no attributes, and the kernel keeps the mode it cached
 * (with the set-id bits) until attr_timeout runs out: exec would still honour them. When
 * kill_privs took bits away, invalidate the kernel's attributes before replying. From a
 * worker thread the notification is written synchronously, so it lands before the reply.
 */
enum mf_reply { MF_REPLY_WRITE, MF_REPLY_OPEN, MF_REPLY_NONE };

struct mf_killed {
	struct memfs *fs;
	struct rf_session *se;
	uint64_t ino;
	enum mf_reply kind;          /* what the reply is */
	size_t written;              /* MF_REPLY_WRITE: the count */
	struct rf_file *fi;          /* MF_REPLY_OPEN: the file */
};

static int killed_notify(void *arg)
{
	struct mf_killed *k = arg;

	rf_notify_inval_inode(k->se, k->ino, -1, 0);    /* offset -1: attributes only */
	return 0;
}

static void killed_send(struct mf_killed *k, struct rf_req *req)
{
	if (k->kind == MF_REPLY_OPEN)
		reply_open(k->fs, req, k->ino, k->fi);
	else if (k->kind == MF_REPLY_WRITE)
		rf_reply_write(req, k->written);
	else
		rf_reply_err(req, 0);
}

static void killed_reply(struct rf_req *req, int res, void *data)
{
	struct mf_killed *k = data;

	killed_send(k, req);
	free(k);
}

/* Reply (@kind, with @written or @fi) after the invalidation; best effort: without a
 * worker the notification is queued and the reply goes out at once. */
static void reply_killed(struct memfs *fs, struct rf_req *req, uint64_t ino,
			 enum mf_reply kind, size_t written, struct rf_file *fi)
{
	struct mf_killed *k = malloc(sizeof(*k));
	struct mf_killed now = { fs, rf_req_session(req), ino, kind, written, fi };

	if (k) {
		*k = now;
		if (rf_backing_call(req, killed_notify, k, killed_reply, k) == 0)
			return;
		free(k);
	}
	rf_notify_inval_inode(now.se, ino, -1, 0);
	killed_send(&now, req);
}

/*
 * FALLOCATE and COPY_FILE_RANGE carry no kill flag: with HANDLE_KILLPRIV_V2 the kernel
 * leaves the set-id bits to us without saying whether the caller has CAP_FSETID. Take
 * uid 0 for having it. Called with the lock held; true if bits were dropped.
 */
static bool kill_privs_unflagged(struct memfs *fs, struct rf_req *req, uint64_t ino)
{
	struct inode *n = inode_get(fs, ino);

	return n && rf_req_ctx(req)->uid != 0 && kill_privs(req, n);
}

static void mf_open(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct memfs *fs = rf_req_userdata(req);
	struct inode *n;
	bool killed = false;
	int err = 0;

	fs_lock(fs);
	n = inode_get(fs, ino);
	if (!n) {
		err = -ESTALE;
	} else if (S_ISDIR(n->mode)) {
		err = -EISDIR;
	} else {
		/* With ATOMIC_O_TRUNC the truncation of open(O_TRUNC) is ours. */
		if ((fi->flags & O_TRUNC) && S_ISREG(n->mode)) {
			file_resize(fs, n, 0);
			n->mtime = n->ctime = now_ts();
			if (fi->kill_priv)
				killed = kill_privs(req, n);
		}
		n->nopen++;
		fi->fh = new_fh(fs);
	}
	fs_unlock(fs);
	if (err)
		rf_reply_err(req, err);
	else if (killed)
		reply_killed(fs, req, ino, MF_REPLY_OPEN, 0, fi);
	else
		reply_open(fs, req, ino, fi);
}

static void mf_read(struct rf_req *req, uint64_t ino, size_t size, off_t off, struct rf_file *fi)
{
	struct memfs *fs = rf_req_userdata(req);
	struct inode *n;
	size_t cap, got = 0;
	char *buf = NULL;
	int err = 0;

	fs_lock(fs);
	n = inode_get(fs, ino);
	if (!n) {
		err = -ESTALE;
	} else if (!S_ISREG(n->mode)) {
		err = S_ISDIR(n->mode) ? -EISDIR : -EINVAL;
	} else if (off < 0) {
		err = -EINVAL;
	} else {
		/* Straight into the reply buffer: no copy in the runtime. */
		buf = rf_req_payload(req, &cap);
		got = file_read(n, buf, MIN(size, cap), (uint64_t)off);
		touch_atime(n);
	}
	fs_unlock(fs);
	if (err)
		rf_reply_err(req, err);
	else
		rf_reply_buf(req, buf, got);
}

static void mf_write(struct rf_req *req, uint64_t ino, const void *buf, size_t size, off_t off,
		     struct rf_file *fi)
{
	struct memfs *fs = rf_req_userdata(req);
	struct inode *n;
	bool killed = false;
	int64_t ret;

	fs_lock(fs);
	n = inode_get(fs, ino);
	if (!n)
		ret = -ESTALE;
	else if (!S_ISREG(n->mode))
		ret = S_ISDIR(n->mode) ? -EISDIR : -EINVAL;
	else if (off < 0)
		ret = -EINVAL;
	else
		ret = file_write(fs, n, buf, size, (uint64_t)off);
	if (ret > 0) {
		n->mtime = n->ctime = now_ts();
		if (fi && fi->kill_priv)
			killed = kill_privs(req, n);
	}
	fs_unlock(fs);
	if (ret < 0)
		rf_reply_err(req, (int)ret);
	else if (killed)
		reply_killed(fs, req, ino, MF_REPLY_WRITE, (size_t)ret, NULL);
	else
		rf_reply_write(req, (size_t)ret);
}

/* Nothing is cached between us and the kernel: flush and fsync have nothing to do. */
static void mf_flush(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	rf_reply_err(req, 0);
}

static void mf_fsync(struct rf_req *req, uint64_t ino, int datasync, struct rf_file *fi)
{
	rf_reply_err(req, 0);
}

static void mf_syncfs(struct rf_req *req, uint64_t ino)
{
	rf_reply_err(req, 0);
}

static void mf_release(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct memfs *fs = rf_req_userdata(req);
	struct inode *n;

	fs_lock(fs);
	n = inode_get(fs, ino);
	if (n && n->nopen) {
		n->nopen--;
		inode_maybe_free(fs, n);
	}
	fs_unlock(fs);
	rf_reply_err(req, 0);
}

static void mf_opendir(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct memfs *fs = rf_req_userdata(req);
	struct inode *n;
	int err = 0;

	fs_lock(fs);
	n = get_dir(fs, ino, &err);
	if (n) {
		n->nopen++;
		fi->fh = new_fh(fs);
	}
	fs_unlock(fs);
	if (err)
		rf_reply_err(req, err);
	else
		reply_open(fs, req, ino, fi);
}

/*
 * Offsets are cookies: 1 and 2 for "." and "..", then one per entry, increasing in creation
 * order and never reused. Resuming at the first cookie > off never skips or repeats an
 * entry that survived, whatever was added or removed in between.
 */
static void do_readdir(struct rf_req *req, uint64_t ino, size_t size, off_t off, bool plus)
{
	struct memfs *fs = rf_req_userdata(req);
	uint64_t pos = (uint64_t)off;
	struct rf_dirbuf db;
	struct rf_entry e;
	struct inode *dir;
	struct dirdata *dd;
	struct stat st;
	int err = 0;
	size_t i;

	fs_lock(fs);
	dir = get_dir(fs, ino, &err);
	if (!dir)
		goto out;
	dd = &dir->u.dir;
	/* The entries are packed into the request's reply buffer, under the lock. */
	rf_dirbuf_init(&db, req, size);
	for (; pos < FIRST_COOKIE - 1; pos++) {
		const char *dot = pos == 0 ? "." : "..";

		/* No lookup is counted for "." and "..": the kernel takes none. */
		memset(&e, 0, sizeof(e));
		e.attr.st_ino = pos == 0 ? dir->ino : dd->parent;
		e.attr.st_mode = S_IFDIR;
		st = e.attr;
		if (!(plus ? rf_dirbuf_add_plus(&db, dot, &e, (off_t)pos + 1) :
			     rf_dirbuf_add(&db, dot, &st, (off_t)pos + 1)))
			goto full;
	}
	for (i = dir_seek(dd, pos); i < dd->n; i++) {
		struct dent *d = dd->slots[i].d;

		if (!d)
			continue;
		if (plus) {
			entry_fill(fs, d->node, &e);
			if (!rf_dirbuf_add_plus(&db, d->name, &e, (off_t)d->cookie)) {
				d->node->nlookup--;
				break;
			}
		} else {
			memset(&st, 0, sizeof(st));
			st.st_ino = d->node->ino;
			st.st_mode = d->node->mode;
			if (!rf_dirbuf_add(&db, d->name, &st, (off_t)d->cookie))
				break;
		}
	}
full:
	if (off == 0)
		touch_atime(dir);
out:
	fs_unlock(fs);
	if (err)
		rf_reply_err(req, err);
	else
		rf_reply_dirbuf(req, &db);
}

static void mf_readdir(struct rf_req *req, uint64_t ino, size_t size, off_t off,
		       struct rf_file *fi)
{
	do_readdir(req, ino, size, off, false);
}

static void mf_readdirplus(struct rf_req *req, uint64_t ino, size_t size, off_t off,
			   struct rf_file *fi)
{
	do_readdir(req, ino, size, off, true);
}

static void mf_releasedir(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	mf_release(req, ino, fi);
}

static void mf_statfs(struct rf_req *req, uint64_t ino)
{
	struct memfs *fs = rf_req_userdata(req);
	struct statvfs st;

	memset(&st, 0, sizeof(st));
	fs_lock(fs);
	st.f_bsize = PG_SIZE;
	st.f_frsize = PG_SIZE;
	st.f_blocks = fs->max_pages;
	st.f_bfree = st.f_bavail = fs->max_pages > fs->used_pages ?
					   fs->max_pages - fs->used_pages : 0;
	st.f_files = fs->max_inodes;
	st.f_ffree = st.f_favail = fs->max_inodes > fs->ninodes ? fs->max_inodes - fs->ninodes : 0;
	st.f_namemax = MF_NAME_MAX;
	fs_unlock(fs);
	rf_reply_statfs(req, &st);
}

/* ---- xattrs ----------------------------------------------------------------------------- */

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

static void mf_setxattr(struct rf_req *req, uint64_t ino, const char *name, const void *value,
			size_t size, int flags)
{
	struct memfs *fs = rf_req_userdata(req);
	int err;

	fs_lock(fs);
	err = do_setxattr(fs, ino, name, value, size, flags);
	fs_unlock(fs);
	rf_reply_err(req, err);
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
		*need = n->xattr_list;
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

static void mf_getxattr(struct rf_req *req, uint64_t ino, const char *name, size_t size)
{
	reply_xattr(rf_req_userdata(req), req, ino, name, size);
}

static void mf_listxattr(struct rf_req *req, uint64_t ino, size_t size)
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

static void mf_removexattr(struct rf_req *req, uint64_t ino, const char *name)
{
	struct memfs *fs = rf_req_userdata(req);
	int err;

	fs_lock(fs);
	err = do_removexattr(fs, ino, name);
	fs_unlock(fs);
	rf_reply_err(req, err);
}

/* ---- fallocate, copy_file_range, lseek, statx --------------------------------------------- */

static int do_fallocate(struct memfs *fs, uint64_t ino, int mode, off_t off, off_t len)
{
	struct inode *n = inode_get(fs, ino);
	uint64_t start, end, first, last, idx, missing = 0;
	int err = 0;

	if (!n)
		return -ESTALE;
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE))
		return -EOPNOTSUPP;
	if ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE))
		return -EOPNOTSUPP;
	if (off < 0 || len <= 0)
		return -EINVAL;
	if (S_ISDIR(n->mode))
		return -EISDIR;
	if (!S_ISREG(n->mode))
		return -ENODEV;
	if ((uint64_t)len > (uint64_t)INT64_MAX - (uint64_t)off)
		return -EFBIG;
	start = (uint64_t)off;
	end = start + (uint64_t)len;
	if (mode & FALLOC_FL_PUNCH_HOLE) {
		file_zero(fs, n, start, end);
	} else {
		if (end > MF_MAX_FILE)
			return -EFBIG;
		first = start >> PG_SHIFT;
		last = (end - 1) >> PG_SHIFT;
		/* All or nothing as far as space goes: count before allocating. */
		if (last - first + 1 > fs->max_pages)
			return -ENOSPC;
		for (idx = first; idx <= last; idx++)
			if (!pmap_find(&n->u.data, idx))
				missing++;
		if (missing > fs->max_pages - MIN(fs->used_pages, fs->max_pages))
			return -ENOSPC;
		for (idx = first; idx <= last; idx++)
			if (!pmap_get(fs, &n->u.data, idx, &err))
				return err;
		if (!(mode & FALLOC_FL_KEEP_SIZE) && end > n->size)
			n->size = end;
	}
	n->mtime = n->ctime = now_ts();
	return 0;
}

static void mf_fallocate(struct rf_req *req, uint64_t ino, int mode, off_t off, off_t len,
			 struct rf_file *fi)
{
	struct memfs *fs = rf_req_userdata(req);
	bool killed = false;
	int err;

	fs_lock(fs);
	err = do_fallocate(fs, ino, mode, off, len);
	if (!err)
		killed = kill_privs_unflagged(fs, req, ino);
	fs_unlock(fs);
	if (killed)
		reply_killed(fs, req, ino, MF_REPLY_NONE, 0, NULL);
	else
		rf_reply_err(req, err);
}

/* Bytes copied or -errno; holes in the source stay holes in the destination. */
static int64_t do_copy(struct memfs *fs, uint64_t ino_in, off_t off_in, uint64_t ino_out,
		       off_t off_out, size_t len, int flags)
{
	struct inode *in = inode_get(fs, ino_in), *out = inode_get(fs, ino_out);
	uint64_t pin, pout, count, done = 0;
	int err = 0;

	if (!in || !out)
		return -ESTALE;
	if (flags)
		return -EINVAL;
	if (S_ISDIR(in->mode) || S_ISDIR(out->mode))
		return -EISDIR;
	if (!S_ISREG(in->mode) || !S_ISREG(out->mode))
		return -EINVAL;
	if (off_in < 0 || off_out < 0)
		return -EINVAL;
	pin = (uint64_t)off_in;
	pout = (uint64_t)off_out;
	if (pin >= in->size || len == 0)
		return 0;
	count = MIN((uint64_t)len, in->size - pin);
	count = MIN(count, MF_CFR_MAX);
	if (pout >= MF_MAX_FILE)
		return -EFBIG;
	count = MIN(count, MF_MAX_FILE - pout);
	if (in == out && pin < pout + count && pout < pin + count)
		return -EINVAL;
	while (done < count) {
		uint64_t a = pin + done, b = pout + done;
		uint64_t chunk = MIN(PG_SIZE - (a & PG_MASK), PG_SIZE - (b & PG_MASK));
		const char *src;
		char *dst;

		chunk = MIN(chunk, count - done);
		src = pmap_find(&in->u.data, a >> PG_SHIFT);
		if (!src) {
			file_zero(fs, out, b, b + chunk);
		} else {
			dst = pmap_get(fs, &out->u.data, b >> PG_SHIFT, &err);
			if (!dst)
				break;
			memcpy(dst + (b & PG_MASK), src + (a & PG_MASK), (size_t)chunk);
		}
		done += chunk;
	}
	if (!done && err)
		return err;
	if (pout + done > out->size)
		out->size = pout + done;
	if (done)
		out->mtime = out->ctime = now_ts();
	return (int64_t)done;
}

static void mf_copy_file_range(struct rf_req *req, uint64_t ino_in, off_t off_in,
			       struct rf_file *fi_in, uint64_t ino_out, off_t off_out,
			       struct rf_file *fi_out, size_t len, int flags)
{
	struct memfs *fs = rf_req_userdata(req);
	bool killed = false;
	int64_t ret;

	fs_lock(fs);
	ret = do_copy(fs, ino_in, off_in, ino_out, off_out, len, flags);
	if (ret > 0)
		killed = kill_privs_unflagged(fs, req, ino_out);
	fs_unlock(fs);
	if (ret < 0)
		rf_reply_err(req, (int)ret);
	else if (killed)
		reply_killed(fs, req, ino_out, MF_REPLY_WRITE, (size_t)ret, NULL);
	else
		rf_reply_write(req, (size_t)ret);
}

static int64_t do_lseek(struct memfs *fs, uint64_t ino, off_t off, int whence)
{
	struct inode *n = inode_get(fs, ino);
	uint64_t pos, pg;

	if (!n)
		return -ESTALE;
	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;		/* the kernel does SET/CUR/END itself */
	if (!S_ISREG(n->mode))
		return -EINVAL;
	if (off < 0 || (uint64_t)off >= n->size)
		return -ENXIO;
	pos = (uint64_t)off;
	pg = pmap_next(&n->u.data, pos >> PG_SHIFT, whence == SEEK_DATA);
	if (whence == SEEK_DATA) {
		if (pg == UINT64_MAX || (pg << PG_SHIFT) >= n->size)
			return -ENXIO;
		return (int64_t)(pos > pg << PG_SHIFT ? pos : pg << PG_SHIFT);
	}
	/* There is always a hole at EOF. */
	if (pg >= (n->size + PG_SIZE - 1) >> PG_SHIFT)
		return (int64_t)n->size;
	return (int64_t)(pos > pg << PG_SHIFT ? pos : pg << PG_SHIFT);
}

static void mf_lseek(struct rf_req *req, uint64_t ino, off_t off, int whence, struct rf_file *fi)
{
	struct memfs *fs = rf_req_userdata(req);
	int64_t ret;

	fs_lock(fs);
	ret = do_lseek(fs, ino, off, whence);
	fs_unlock(fs);
	if (ret < 0)
		rf_reply_err(req, (int)ret);
	else
		rf_reply_lseek(req, (off_t)ret);
}

static void sx_ts(struct statx_timestamp *d, const struct timespec *s)
{
	d->tv_sec = s->tv_sec;
	d->tv_nsec = (uint32_t)s->tv_nsec;
}

/* Like getattr, plus the birth time. */
static void mf_statx(struct rf_req *req, uint64_t ino, int flags, int mask, struct rf_file *fi)
{
	struct memfs *fs = rf_req_userdata(req);
	struct statx stx;
	struct inode *n;
	struct stat st;

	memset(&stx, 0, sizeof(stx));
	fs_lock(fs);
	n = inode_get(fs, ino);
	if (n) {
		stat_fill(n, &st);
		stx.stx_mask = STATX_BASIC_STATS | STATX_BTIME;
		stx.stx_blksize = (uint32_t)st.st_blksize;
		stx.stx_nlink = (uint32_t)st.st_nlink;
		stx.stx_uid = st.st_uid;
		stx.stx_gid = st.st_gid;
		stx.stx_mode = (uint16_t)st.st_mode;
		stx.stx_ino = st.st_ino;
		stx.stx_size = (uint64_t)st.st_size;
		stx.stx_blocks = (uint64_t)st.st_blocks;
		sx_ts(&stx.stx_atime, &n->atime);
		sx_ts(&stx.stx_btime, &n->btime);
		sx_ts(&stx.stx_ctime, &n->ctime);
		sx_ts(&stx.stx_mtime, &n->mtime);
		stx.stx_rdev_major = major(n->rdev);
		stx.stx_rdev_minor = minor(n->rdev);
	}
	fs_unlock(fs);
	if (!n)
		rf_reply_err(req, -ESTALE);
	else
		rf_reply_statx(req, &stx, fs->attr_timeout);
}

static const struct rf_ops memfs_ops = {
	.init = mf_init,
	.lookup = mf_lookup,
	.forget = mf_forget,
	.getattr = mf_getattr,
	.setattr = mf_setattr,
	.readlink = mf_readlink,
	.mknod = mf_mknod,
	.mkdir = mf_mkdir,
	.unlink = mf_unlink,
	.rmdir = mf_rmdir,
	.symlink = mf_symlink,
	.rename = mf_rename,
	.link = mf_link,
	.open = mf_open,
	.read = mf_read,
	.write = mf_write,
	.flush = mf_flush,
	.release = mf_release,
	.fsync = mf_fsync,
	.opendir = mf_opendir,
	.readdir = mf_readdir,
	.readdirplus = mf_readdirplus,
	.releasedir = mf_releasedir,
	.fsyncdir = mf_fsync,
	.statfs = mf_statfs,
	.setxattr = mf_setxattr,
	.getxattr = mf_getxattr,
	.listxattr = mf_listxattr,
	.removexattr = mf_removexattr,
	/* .access stays NULL: default_permissions makes the kernel check modes. */
	.create = mf_create,
	.fallocate = mf_fallocate,
	.copy_file_range = mf_copy_file_range,
	.lseek = mf_lseek,
	.tmpfile = mf_tmpfile,
	.statx = mf_statx,
	.syncfs = mf_syncfs,
};

/* ---- setup and teardown --------------------------------------------------------------------- */

static void memfs_free(struct memfs *fs)
{
	size_t i;

	if (fs->dtab) {
		for (i = 0; i <= fs->dtab_mask; i++) {
			struct dent *d, *next;

			for (d = fs->dtab[i]; d; d = next) {
				next = d->hnext;
				free(d);
			}
		}
	}
	if (fs->itab) {
		for (i = 0; i <= fs->itab_mask; i++) {
			struct inode *n, *next;

			for (n = fs->itab[i]; n; n = next) {
				next = n->hnext;
				inode_release_data(fs, n);
				free(n);
			}
		}
	}
	free(fs->dtab);
	free(fs->itab);
	fs->dtab = NULL;
	fs->itab = NULL;
	pthread_mutex_destroy(&fs->lock);
}

static int memfs_setup(struct memfs *fs)
{
	int err = 0;

	pthread_mutex_init(&fs->lock, NULL);
	fs->itab_mask = 1023;
	fs->dtab_mask = 1023;
	fs->itab = calloc(fs->itab_mask + 1, sizeof(*fs->itab));
	fs->dtab = calloc(fs->dtab_mask + 1, sizeof(*fs->dtab));
	if (!fs->itab || !fs->dtab)
		return -ENOMEM;
	fs->next_ino = ROOT_INO;
	fs->next_fh = 1;
	fs->root = inode_new(fs, S_IFDIR | 0755, &err);
	if (!fs->root)
		return err;
	fs->root->uid = getuid();
	fs->root->gid = getgid();
	fs->root->nlink = 2;
	fs->root->nlookup = 1;	/* the kernel never forgets the root */
	fs->root->u.dir.parent = ROOT_INO;
	return 0;
}

/* "64M", "2g", "1T", "50%" (of RAM) or plain bytes. 0 on success. */
static int parse_size(const char *s, uint64_t ram, uint64_t *out)
{
	unsigned long long v;
	char *end;
	int shift = 0;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case '%':
		if (end[1] || v == 0 || v > 100)
			return -EINVAL;
		*out = ram / 100 * v;
		return 0;
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	case '\0': break;
	default: return -EINVAL;
	}
	if (shift && end[1])
		return -EINVAL;
	if (v == 0 || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_timeout(const char *key, const char *val, double *out)
{
	char *end;
	double d;

	errno = 0;
	d = val && *val ? strtod(val, &end) : NAN;
	if (errno || isnan(d) || !isfinite(d) || d < 0 || *end) {
		fprintf(stderr, "memfs: option '%s' needs a number of seconds >= 0, got '%s'\n",
			key, val ? val : "");
		return -EINVAL;
	}
	*out = d;
	return 0;
}

static void memfs_help(void)
{
	fprintf(stderr,
		"memfs options:\n"
		"    -o size=BYTES          capacity (k/m/g/t suffix or N%% of RAM; default 50%%)\n"
		"    -o inodes=N            most files (default: one per 4 KiB of capacity)\n"
		"    -o timeout=SECONDS     attribute, entry and negative entry timeout (1.0)\n"
		"    -o attr_timeout=S, entry_timeout=S, negative_timeout=S\n");
}

static int memfs_config(struct memfs *fs, const struct rf_opts *opts)
{
	static const char *const known[] = { "size", "inodes", "timeout", "attr_timeout",
					     "entry_timeout", "negative_timeout" };
	long phys = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
	uint64_t ram = phys > 0 && psz > 0 ? (uint64_t)phys * (uint64_t)psz : (uint64_t)1 << 32;
	uint64_t bytes = ram / 2, inodes;
	const char *v;
	double t;

	fs->entry_timeout = fs->attr_timeout = fs->neg_timeout = 1.0;
	if (rf_opts_get(opts, "size", &v) && parse_size(v, ram, &bytes) < 0) {
		fprintf(stderr, "memfs: bad size '%s'\n", v);
		return -EINVAL;
	}
	fs->max_pages = bytes / PG_SIZE ? bytes / PG_SIZE : 1;
	inodes = fs->max_pages < 1024 ? 1024 : fs->max_pages;
	if (rf_opts_get(opts, "inodes", &v)) {
		char *end;
		unsigned long long n;

		errno = 0;
		n = strtoull(v, &end, 10);
		if (errno || end == v || *end || n < 2 || *v == '-') {
			fprintf(stderr, "memfs: bad inodes '%s'\n", v);
			return -EINVAL;
		}
		inodes = n;
	}
	fs->max_inodes = inodes;
	if (rf_opts_get(opts, "timeout", &v)) {
		if (parse_timeout("timeout", v, &t) < 0)
			return -EINVAL;
		fs->entry_timeout = fs->attr_timeout = fs->neg_timeout = t;
	}
	if (rf_opts_get(opts, "attr_timeout", &v) &&
	    parse_timeout("attr_timeout", v, &fs->attr_timeout) < 0)
		return -EINVAL;
	if (rf_opts_get(opts, "entry_timeout", &v) &&
	    parse_timeout("entry_timeout", v, &fs->entry_timeout) < 0)
		return -EINVAL;
	if (rf_opts_get(opts, "negative_timeout", &v) &&
	    parse_timeout("negative_timeout", v, &fs->neg_timeout) < 0)
		return -EINVAL;

	/* Unknown keys are not fatal (a harness may pass generic ones) but worth a word. */
	if (opts->fs_opts) {
		char *copy = strdup(opts->fs_opts), *save = NULL, *key;
		size_t i;

		for (key = copy ? strtok_r(copy, ",", &save) : NULL; key;
		     key = strtok_r(NULL, ",", &save)) {
			key[strcspn(key, "=")] = '\0';
			for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
				if (!strcmp(key, known[i]))
					break;
			if (i == sizeof(known) / sizeof(known[0]))
				fprintf(stderr, "memfs: unknown option '%s' ignored\n", key);
		}
		free(copy);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct memfs fs;
	struct rf_opts opts;
	char **args = argv;
	bool add_perms;
	int ret, i;

	memset(&fs, 0, sizeof(fs));
	/* Parse once for our own -o keys; rf_main parses again for the runtime's. */
	rf_opts_init(&opts);
	ret = rf_opts_parse(&opts, argc, argv);
	if (ret != 0) {
		if (ret > 0)
			memfs_help();
		rf_opts_free(&opts);
		return ret > 0 ? 0 : 2;
	}
	ret = memfs_config(&fs, &opts);
	/* memfs checks no modes itself: a mount other users reach has the kernel check them
	 * (owner, group, others, sticky directories), or anyone could change anything. */
	add_perms = opts.allow_other && !opts.default_permissions;
	rf_opts_free(&opts);
	if (ret < 0)
		return 2;
	if (add_perms) {
		args = calloc((size_t)argc + 3, sizeof(*args));
		if (!args) {
			fprintf(stderr, "memfs: out of memory\n");
			return 1;
		}
		for (i = 0; i < argc; i++)
			args[i] = argv[i];
		args[argc++] = "-o";
		args[argc++] = "default_permissions";
	}
	ret = memfs_setup(&fs);
	if (ret < 0) {
		fprintf(stderr, "memfs: %s\n", strerror(-ret));
		memfs_free(&fs);
		if (args != argv)
			free(args);
		return 1;
	}
	ret = rf_main(argc, args, &memfs_ops, sizeof(memfs_ops), &fs);
	memfs_free(&fs);
	if (args != argv)
		free(args);
	return ret;
}
