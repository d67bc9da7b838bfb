/* SPDX-License-Identifier: MIT */
/*
 * dir.c - directories: the entry table ((dir, name) -> dent), each directory's slots in
 * cookie order, and the requests that list them (OPENDIR, READDIR, READDIRPLUS).
 */
#include "memfs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

/* A component name: length in bytes or -errno. The kernel checks too; trust nothing. */
int check_name(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || strchr(name, '/'))
		return -EINVAL;
	if (len > MF_NAME_MAX)
		return -ENAMETOOLONG;
	return (int)len;
}

/* The directory @parent (in *dir) and the length of @name, a component to look for or to
 * make in it; or -errno: ESTALE, ENOTDIR, then those of check_name(). */
int dir_and_name(const struct memfs *fs, uint64_t parent, const char *name, struct inode **dir)
{
	int err = 0;

	*dir = get_dir(fs, parent, &err);
	return *dir ? check_name(name) : err;
}

bool is_dot(const char *name)
{
	return name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2]));
}

struct dent *dent_find(const struct memfs *fs, const struct inode *dir, const char *name,
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

struct dent *dent_add(struct memfs *fs, struct inode *dir, const char *name, size_t len,
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

void dent_del(struct memfs *fs, struct dent *d)
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
bool in_subtree(const struct memfs *fs, const struct inode *top, const struct inode *dir)
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

void mf_opendir(struct rf_req *req, uint64_t ino, struct rf_file *fi)
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

void mf_readdir(struct rf_req *req, uint64_t ino, size_t size, off_t off,
		       struct rf_file *fi)
{
	do_readdir(req, ino, size, off, false);
}

void mf_readdirplus(struct rf_req *req, uint64_t ino, size_t size, off_t off,
			   struct rf_file *fi)
{
	do_readdir(req, ino, size, off, true);
}

void mf_releasedir(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	mf_release(req, ino, fi);
}
