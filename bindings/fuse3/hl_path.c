/* SPDX-License-Identifier: MIT */
/*
 * hl_path.c - the high-level API's node tree on the runtime's inode table.
 *
 * The inode table (<ringfuse/inode.h>) owns every node's id, generation, kernel lookup
 * count and references; a node leaves through node_free() exactly once, when the kernel
 * forgot it and nothing references it. This file adds what a path filesystem needs: each
 * node's (parent, name) and a hash from (parent, name) to node.
 *
 * Locking (README.md, "High-level API"): f->tree, a rwlock, guards the hash and every
 * node's parent/name. Paths are built under the read lock; renames, unlinks and node
 * creation take the write lock, so a path is a snapshot of one instant of the tree, never
 * half-old, half-new. Lock order: f->tree, then f->lock, then the table's own lock (inside
 * rf_itable_*). rf_itable_forget/unref are never called with f->tree held: they may run
 * node_free, which takes it.
 *
 * Memory: a node's name is freed when it leaves the tree or the table, the hash shrinks
 * as it empties, and the housekeeping thread (hl.c) calls malloc_trim once a burst of
 * forgets is over, so the process gives the memory back (issue 15, item 3).
 */
#include "fuse3_hl.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HL_MIN_BUCKETS 256

/* ---- nodes and names ------------------------------------------------------------------ */

static void name_free(struct hl_node *n)
{
	if (n->name != n->iname)
		free(n->name);
	n->name = NULL;
}

/* Give @n the name @copy (malloc'd; taken over): inline when it fits. */
static void name_set(struct hl_node *n, char *copy)
{
	size_t len = strlen(copy);

	if (len < sizeof(n->iname)) {
		memcpy(n->iname, copy, len + 1);
		free(copy);
		n->name = n->iname;
	} else {
		n->name = copy;
	}
}

static struct hl_node *node_new(struct fuse *f, const char *name)
{
	struct hl_node *n = rf_slab_alloc(f->pool);
	size_t len = strlen(name);

	if (!n)
		return NULL;
	memset(n, 0, sizeof(*n));
	if (len < sizeof(n->iname)) {
		memcpy(n->iname, name, len + 1);
		n->name = n->iname;
	} else if (!(n->name = strdup(name))) {
		rf_slab_free(f->pool, n);
		return NULL;
	}
	return n;
}

static void node_del(struct fuse *f, struct hl_node *n)
{
	name_free(n);
	if (n == f->root)
		free(n);
	else
		rf_slab_free(f->pool, n);
}

/* ---- the hash --------------------------------------------------------------------- */

static uint32_t name_hash(const struct hl_node *parent, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull ^ parent->base.nodeid;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 0x100000001b3ull;
	h ^= h >> 29;
	return (uint32_t)h;
}

static struct hl_node *find_locked(struct fuse *f, const struct hl_node *parent,
				   const char *name, uint32_t hash)
{
	struct hl_node *n;

	for (n = f->names[hash & (f->nbuckets - 1)]; n; n = n->name_next)
		if (n->hash == hash && n->parent == parent && strcmp(n->name, name) == 0)
			return n;
	return NULL;
}

/* Rehash into @nb buckets; on allocation failure the table stays as it is. */
static void rehash_locked(struct fuse *f, size_t nb)
{
	struct hl_node **nh = calloc(nb, sizeof(*nh)), *n, *next;

	if (!nh)
		return;
	for (size_t i = 0; i < f->nbuckets; i++) {
		for (n = f->names[i]; n; n = next) {
			next = n->name_next;
			n->name_next = nh[n->hash & (nb - 1)];
			nh[n->hash & (nb - 1)] = n;
		}
	}
	free(f->names);
	f->names = nh;
	f->nbuckets = nb;
}

static void hash_locked(struct fuse *f, struct hl_node *n)
{
	struct hl_node **b = &f->names[n->hash & (f->nbuckets - 1)];

	n->name_next = *b;
	*b = n;
	if (++f->nnamed > f->nbuckets)
		rehash_locked(f, f->nbuckets * 2);
}

/* Take @n out of the hash (its name stays). */
static void unhash_locked(struct fuse *f, struct hl_node *n)
{
	struct hl_node **pp = &f->names[n->hash & (f->nbuckets - 1)];

	while (*pp && *pp != n)
		pp = &(*pp)->name_next;
	if (*pp)
		*pp = n->name_next;
	n->name_next = NULL;
	f->nnamed--;
	/* Shrink when mostly empty, so a big walk's buckets go back after the forgets. */
	if (f->nbuckets > HL_MIN_BUCKETS && f->nnamed < f->nbuckets / 8)
		rehash_locked(f, f->nbuckets / 4 < HL_MIN_BUCKETS ? HL_MIN_BUCKETS
								  : f->nbuckets / 4);
}

/* Take @n off remember's LRU list if it is on it. f->lock held. */
static void lru_remove(struct fuse *f, struct hl_node *n)
{
	if (!n->on_lru)
		return;
	if (n->lru_prev)
		n->lru_prev->lru_next = n->lru_next;
	else
		f->lru_head = n->lru_next;
	if (n->lru_next)
		n->lru_next->lru_prev = n->lru_prev;
	else
		f->lru_tail = n->lru_prev;
	n->on_lru = false;
	n->lru_next = n->lru_prev = NULL;
}

/* @n leaves the tree (unlinked, replaced, or gone from the table). Returns true if the
 * caller must drop remember's reference (after unlocking). */
static bool detach_locked(struct fuse *f, struct hl_node *n)
{
	bool drop = false;

	if (!n->name)
		return false;
	unhash_locked(f, n);
	name_free(n);
	pthread_mutex_lock(&f->lock);
	if (n->rem_ref) {
		n->rem_ref = false;
		drop = true;
		lru_remove(f, n);
	}
	pthread_mutex_unlock(&f->lock);
	return drop;
}

/* ---- the table's callback ------------------------------------------------------------ */

static void node_free(struct rf_inode *inode, void *data)
{
	struct fuse *f = data;
	struct hl_node *n = rf_inode_entry(inode, struct hl_node, base), *parent;

	if (f->freeing) {      /* rf_itable_free: touch nothing of the table */
		node_del(f, n);
		return;
	}
	pthread_rwlock_wrlock(&f->tree);
	detach_locked(f, n);   /* no remember reference: it would have kept n */
	parent = n->parent;
	n->parent = NULL;
	pthread_rwlock_unlock(&f->tree);
	node_del(f, n);
	atomic_fetch_sub(&f->nodes, 1);
	atomic_fetch_add(&f->freed_since_trim, 1);
	atomic_store(&f->last_free_ns, rf_hl_now_ns());
	if (parent)
		rf_itable_unref(f->itable, &parent->base);
}

int rf_hl_tree_init(struct fuse *f)
{
	static const struct rf_itable_ops ops = { .free = node_free };
	int ret;

	f->names = calloc(HL_MIN_BUCKETS, sizeof(*f->names));
	f->root = calloc(1, sizeof(*f->root));
	if (!f->names || !f->root || rf_slab_new(&f->pool, sizeof(struct hl_node)) < 0)
		goto nomem;
	f->nbuckets = HL_MIN_BUCKETS;
	ret = rf_itable_new(&f->itable, &ops, f);
	if (ret < 0)
		goto nomem;
	ret = rf_itable_set_root(f->itable, 0, 0, &f->root->base);
	if (ret < 0) {
		rf_itable_free(f->itable);
		f->itable = NULL;
		goto nomem;
	}
	atomic_store(&f->serial, 1);
	atomic_store(&f->nodes, 1);
	return 0;
nomem:
	rf_slab_destroy(f->pool);
	free(f->names);
	free(f->root);
	f->pool = NULL;
	f->names = NULL;
	f->root = NULL;
	return -ENOMEM;
}

void rf_hl_tree_free(struct fuse *f)
{
	if (f->itable) {
		f->freeing = true;
		rf_itable_free(f->itable);   /* the root included */
		f->itable = NULL;
	}
	rf_slab_destroy(f->pool);
	f->pool = NULL;
	free(f->names);
	f->names = NULL;
}

struct hl_node *rf_hl_get(struct fuse *f, fuse_ino_t nodeid)
{
	struct rf_inode *i = rf_itable_get(f->itable, nodeid);

	return i ? rf_inode_entry(i, struct hl_node, base) : NULL;
}

void rf_hl_put(struct fuse *f, struct hl_node *n)
{
	if (n)
		rf_itable_unref(f->itable, &n->base);
}

size_t rf_hl_node_count(struct fuse *f)
{
	return atomic_load(&f->nodes);
}

/* ---- paths --------------------------------------------------------------------------- */

/* Tree lock held (read or write). */
static int path_locked(struct fuse *f, struct hl_node *n, const char *name, int slot,
		       char **out)
{
	size_t len = name ? strlen(name) + 1 : 0, l;
	struct hl_node *p;
	char *buf, *s;

	/* A node out of the tree (unlinked with hard_remove, replaced, or below such a
	 * directory) has no path: ESTALE, as libfuse 3.14 answers. */
	for (p = n; p != f->root; p = p->parent) {
		if (!p->name || !p->parent)
			return -ESTALE;
		len += strlen(p->name) + 1;
	}
	buf = rf_hl_tls_buf(slot, len + 2);
	if (!buf)
		return -ENOMEM;
	if (len == 0) {
		strcpy(buf, "/");
		*out = buf;
		return 0;
	}
	s = buf + len;
	*s = '\0';
	if (name) {
		l = strlen(name);
		s -= l;
		memcpy(s, name, l);
		*--s = '/';
	}
	for (p = n; p != f->root; p = p->parent) {
		l = strlen(p->name);
		s -= l;
		memcpy(s, p->name, l);
		*--s = '/';
	}
	*out = buf;
	return 0;
}

int rf_hl_path(struct fuse *f, struct hl_node *n, const char *name, int slot, char **out)
{
	int ret;

	pthread_rwlock_rdlock(&f->tree);
	ret = path_locked(f, n, name, slot, out);
	pthread_rwlock_unlock(&f->tree);
	return ret;
}

/* Both paths from one snapshot of the tree (RENAME, LINK). */
int rf_hl_path2(struct fuse *f, struct hl_node *n1, const char *name1, struct hl_node *n2,
		const char *name2, char **out1, char **out2)
{
	int ret;

	pthread_rwlock_rdlock(&f->tree);
	ret = path_locked(f, n1, name1, 0, out1);
	if (ret == 0)
		ret = path_locked(f, n2, name2, 1, out2);
	pthread_rwlock_unlock(&f->tree);
	return ret;
}

/* ---- lookups and forgets ----------------------------------------------------------- */

/* remember: one more kernel lookup of @n (f->lock taken here). */
static void remember_lookup(struct fuse *f, struct hl_node *n)
{
	pthread_mutex_lock(&f->lock);
	n->nlookup++;
	lru_remove(f, n);
	pthread_mutex_unlock(&f->lock);
}

/* Count a lookup of @n, found in the hash, if it is still in the table. Tree lock held. */
static bool revive(struct fuse *f, struct hl_node *n)
{
	struct rf_inode *out;

	return rf_itable_lookup_or_insert(f->itable, 0, n->base.ino, NULL, &out) == 0;
}

int rf_hl_lookup(struct fuse *f, struct hl_node *parent, const char *name,
		 struct hl_node **out)
{
	uint32_t hash = name_hash(parent, name);
	struct hl_node *n, *fresh;
	struct rf_inode *in;
	int ret;

	pthread_rwlock_rdlock(&f->tree);
	n = find_locked(f, parent, name, hash);
	if (n && !revive(f, n))
		n = NULL;
	pthread_rwlock_unlock(&f->tree);
	if (n)
		goto found;

	fresh = node_new(f, name);
	if (!fresh)
		return -ENOMEM;
	fresh->hash = hash;
	pthread_rwlock_wrlock(&f->tree);
	n = find_locked(f, parent, name, hash);
	if (n && revive(f, n)) {
		pthread_rwlock_unlock(&f->tree);
		node_del(f, fresh);
		goto found;
	}
	/* A node found but leaving the table (no lookup, no reference, so no remember
	 * reference either): out of the hash now; node_free will find it detached. */
	if (n)
		(void)detach_locked(f, n);
	ret = rf_itable_lookup_or_insert(f->itable, 0, atomic_fetch_add(&f->serial, 1),
					 &fresh->base, &in);
	if (ret < 0) {
		pthread_rwlock_unlock(&f->tree);
		node_del(f, fresh);
		return ret;
	}
	n = fresh;
	n->parent = parent;
	rf_itable_ref(&parent->base);
	hash_locked(f, n);
	atomic_fetch_add(&f->nodes, 1);
	if (f->conf.remember) {
		pthread_mutex_lock(&f->lock);
		n->rem_ref = true;
		pthread_mutex_unlock(&f->lock);
		rf_itable_ref(&n->base);
	}
	pthread_rwlock_unlock(&f->tree);
found:
	if (f->conf.remember)
		remember_lookup(f, n);
	*out = n;
	return 0;
}

void rf_hl_count_lookup(struct fuse *f, struct hl_node *n)
{
	rf_itable_count_lookup(f->itable, &n->base);
	/* remember's count too, or the kernel's forget of it would look like its last */
	if (f->conf.remember)
		remember_lookup(f, n);
}

/* remember: the kernel dropped @nlookup lookups of @nodeid; a node it no longer knows
 * goes on the LRU with its reference, which rf_hl_clean drops after remember seconds. */
static void remember_forget(struct fuse *f, fuse_ino_t nodeid, uint64_t nlookup)
{
	struct hl_node *n = rf_hl_get(f, nodeid);

	if (!n)
		return;
	pthread_mutex_lock(&f->lock);
	n->nlookup = nlookup >= n->nlookup ? 0 : n->nlookup - nlookup;
	if (n->nlookup == 0 && n->rem_ref && f->conf.remember > 0 && !n->on_lru) {
		n->forget_ns = rf_hl_now_ns();
		n->on_lru = true;
		n->lru_prev = f->lru_tail;
		n->lru_next = NULL;
		if (f->lru_tail)
			f->lru_tail->lru_next = n;
		else
			f->lru_head = n;
		f->lru_tail = n;
	}
	pthread_mutex_unlock(&f->lock);
	rf_itable_forget(f->itable, nodeid, nlookup);
	rf_hl_put(f, n);
}

void rf_hl_forget(struct fuse *f, fuse_ino_t nodeid, uint64_t nlookup)
{
	if (f->conf.remember)
		remember_forget(f, nodeid, nlookup);
	else
		rf_itable_forget(f->itable, nodeid, nlookup);
}

_Static_assert(sizeof(struct fuse_forget_data) == sizeof(struct rf_itable_forget_item),
	       "fuse_forget_data is the table's forget item");

void rf_hl_forget_many(struct fuse *f, size_t count, struct fuse_forget_data *fd)
{
	if (f->conf.remember) {
		for (size_t i = 0; i < count; i++)
			remember_forget(f, fd[i].ino, fd[i].nlookup);
		return;
	}
	rf_itable_forget_many(f->itable, (const struct rf_itable_forget_item *)(void *)fd, count);
}

/* ---- finding, removing, renaming ---------------------------------------------------- */

struct hl_node *rf_hl_find(struct fuse *f, struct hl_node *parent, const char *name)
{
	uint32_t hash = name_hash(parent, name);
	struct hl_node *n;
	struct rf_inode *in = NULL;

	pthread_rwlock_rdlock(&f->tree);
	n = find_locked(f, parent, name, hash);
	if (n)
		in = rf_itable_get(f->itable, n->base.nodeid);
	pthread_rwlock_unlock(&f->tree);
	return in ? n : NULL;
}

fuse_ino_t rf_hl_find_ino(struct fuse *f, struct hl_node *parent, const char *name)
{
	uint32_t hash = name_hash(parent, name);
	struct hl_node *n;
	fuse_ino_t ino = 0;

	pthread_rwlock_rdlock(&f->tree);
	n = find_locked(f, parent, name, hash);
	if (n)
		ino = n->base.nodeid;
	pthread_rwlock_unlock(&f->tree);
	return ino;
}

bool rf_hl_is_open(struct fuse *f, struct hl_node *parent, const char *name)
{
	uint32_t hash = name_hash(parent, name);
	struct hl_node *n;
	bool open;

	pthread_rwlock_rdlock(&f->tree);
	n = find_locked(f, parent, name, hash);
	/* A RELEASE in service closes its handle whatever we do: the file need not hide. */
	open = n && atomic_load(&n->unreleased) > 0;
	pthread_rwlock_unlock(&f->tree);
	return open;
}

/* UNLINK/RMDIR succeeded: the name is gone; the node lives on while the kernel or an open
 * handle knows it, without a path. */
void rf_hl_remove(struct fuse *f, struct hl_node *parent, const char *name)
{
	uint32_t hash = name_hash(parent, name);
	struct hl_node *n;
	bool drop = false;

	pthread_rwlock_wrlock(&f->tree);
	n = find_locked(f, parent, name, hash);
	if (n)
		drop = detach_locked(f, n);
	pthread_rwlock_unlock(&f->tree);
	if (drop)
		rf_hl_put(f, n);
}

/* Move @n to (@np, @name, @hash); returns its old parent, whose reference the caller drops
 * after unlocking. @np must be referenced by the caller. Tree write lock held. */
static struct hl_node *move_locked(struct fuse *f, struct hl_node *n, struct hl_node *np,
				   char *name, uint32_t hash)
{
	struct hl_node *old = n->parent;

	unhash_locked(f, n);
	name_free(n);
	name_set(n, name);
	n->hash = hash;
	rf_itable_ref(&np->base);
	n->parent = np;
	hash_locked(f, n);
	return old;
}

int rf_hl_rename(struct fuse *f, struct hl_node *od, const char *on, struct hl_node *nd,
		 const char *nn, bool hide)
{
	uint32_t oh = name_hash(od, on), nh = name_hash(nd, nn);
	struct hl_node *n, *victim, *oldp = NULL;
	char *copy = strdup(nn);
	bool drop = false;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	pthread_rwlock_wrlock(&f->tree);
	n = find_locked(f, od, on, oh);
	victim = find_locked(f, nd, nn, nh);
	if (!n)
		goto out;
	if (victim == n)          /* rename to itself (hard links to one node) */
		goto out;
	if (victim) {
		if (hide) {
			fuse_log(FUSE_LOG_ERR, "fuse: hidden file got created during hiding\n");
			ret = -EBUSY;
			goto out;
		}
		drop = detach_locked(f, victim);
	}
	oldp = move_locked(f, n, nd, copy, nh);
	copy = NULL;
	if (hide && atomic_load(&n->open_count) == 0) {
		/* Its last RELEASE ran while the file was being hidden and found it not hidden
		 * (do_release looks under f->tree too): the caller unlinks it. A file hidden
		 * before (its .fuse_hidden name unlinked) is unhidden so that RELEASE does not
		 * unlink the new name too. */
		n->hidden = false;
		ret = 1;
	} else if (hide) {
		n->hidden = true;
		rf_hl_note_hide(f, nd, n);
	}
out:
	pthread_rwlock_unlock(&f->tree);
	free(copy);
	if (drop)
		rf_hl_put(f, victim);
	rf_hl_put(f, oldp);
	return ret;
}

int rf_hl_exchange(struct fuse *f, struct hl_node *od, const char *on, struct hl_node *nd,
		   const char *nn)
{
	uint32_t oh = name_hash(od, on), nh = name_hash(nd, nn);
	char *c1 = strdup(nn), *c2 = strdup(on);
	struct hl_node *n1, *n2, *p1 = NULL, *p2 = NULL;

	if (!c1 || !c2) {
		free(c1);
		free(c2);
		return -ENOMEM;
	}
	pthread_rwlock_wrlock(&f->tree);
	n1 = find_locked(f, od, on, oh);
	n2 = find_locked(f, nd, nn, nh);
	/* Out of the hash first, so neither finds the other under its new name. */
	if (n1) {
		p1 = move_locked(f, n1, nd, c1, nh);
		c1 = NULL;
	}
	if (n2) {
		p2 = move_locked(f, n2, od, c2, oh);
		c2 = NULL;
	}
	pthread_rwlock_unlock(&f->tree);
	free(c1);
	free(c2);
	rf_hl_put(f, p1);
	rf_hl_put(f, p2);
	return 0;
}

/* Rename the open file (@parent, @name) at @path to a free .fuse_hiddenXXXXXXXXYYYYYYYY
 * name in the same directory, as libfuse does unless hard_remove. */
int rf_hl_hide(struct fuse *f, struct hl_node *parent, const char *name, const char *path)
{
	char hname[64], *hpath = NULL;
	struct hl_node *n = rf_hl_find(f, parent, name);
	struct stat st;
	int ret = -EBUSY, tries;

	if (!n)
		return -ENOENT;
	for (tries = 0; tries < 10; tries++) {
		pthread_rwlock_wrlock(&f->tree);
		do {
			f->hidectr++;
			snprintf(hname, sizeof(hname), ".fuse_hidden%08x%08x",
				 (unsigned int)n->base.nodeid, f->hidectr);
		} while (find_locked(f, parent, hname, name_hash(parent, hname)));
		ret = path_locked(f, parent, hname, 2, &hpath);
		pthread_rwlock_unlock(&f->tree);
		if (ret < 0)
			break;
		ret = fuse_fs_getattr(f->fs, hpath, &st, NULL);
		if (ret == -ENOENT)
			break;
		ret = -EBUSY;
	}
	if (ret == -ENOENT) {
		ret = fuse_fs_rename(f->fs, path, hpath, 0);
		if (ret == 0)
			ret = rf_hl_rename(f, parent, name, parent, hname, true);
		if (ret == 1) {   /* closed meanwhile: nobody else will unlink it */
			ret = fuse_fs_unlink(f->fs, hpath);
			if (ret == 0 || ret == -ENOENT) {   /* ENOENT: gone already */
				rf_hl_remove(f, parent, hname);
				rf_hl_unhidden(f, n);   /* if it was hidden before */
				ret = 0;
			} else {
				fuse_log(FUSE_LOG_ERR, "fuse: cannot unlink %s: %s (left to "
					 "unmount)\n", hpath, strerror(-ret));
				pthread_rwlock_wrlock(&f->tree);
				n->hidden = true;    /* fuse_destroy unlinks it */
				pthread_rwlock_unlock(&f->tree);
				ret = 0;             /* the name the caller unlinked is gone */
			}
		}
	}
	rf_hl_put(f, n);
	return ret;
}

bool rf_hl_take_hidden(struct fuse *f, struct hl_node *n, char **path)
{
	bool take;

	*path = NULL;
	pthread_rwlock_wrlock(&f->tree);
	/* A handle opened since the count reached 0 keeps it hidden: its RELEASE unlinks. */
	take = n->hidden && atomic_load(&n->open_count) == 0;
	if (take) {
		n->hidden = false;
		if (path_locked(f, n, NULL, 1, path) < 0)
			*path = NULL;
	}
	pthread_rwlock_unlock(&f->tree);
	return take;
}

/* ---- remember, fuse_invalidate_path, teardown ------------------------------------- */

int rf_hl_resolve(struct fuse *f, const char *path, fuse_ino_t *ino)
{
	struct hl_node *n;
	char comp[256];
	int ret = 0;

	if (!path || path[0] != '/')
		return -EINVAL;
	pthread_rwlock_rdlock(&f->tree);
	n = f->root;
	while (*path) {
		size_t len;

		while (*path == '/')
			path++;
		len = strcspn(path, "/");
		if (!len)
			break;
		if (len >= sizeof(comp)) {
			ret = -ENAMETOOLONG;
			break;
		}
		memcpy(comp, path, len);
		comp[len] = '\0';
		path += len;
		n = find_locked(f, n, comp, name_hash(n, comp));
		if (!n) {
			ret = -ENOENT;
			break;
		}
	}
	if (ret == 0)
		*ino = n->base.nodeid;
	pthread_rwlock_unlock(&f->tree);
	return ret;
}
