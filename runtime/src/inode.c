/* SPDX-License-Identifier: MIT */
/*
 * inode.c - the inode table: node ids, generations, kernel lookup counts and references
 * for a filesystem's embedded struct rf_inode, in two chained hash tables (by node id and
 * by key) under one mutex. Inodes leave through ops->free, called with the lock dropped.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "internal.h"
#include "ringfuse/inode.h"

#define RF_ITABLE_MIN_BUCKETS 64

/* rf_inode._flags */
#define RF_INODE_IN_TABLE (1u << 0) /* in the node id hash (and counted) */
#define RF_INODE_HASHED   (1u << 1) /* in the key hash */
#define RF_INODE_ROOT     (1u << 2) /* node id 1: leaves only in rf_itable_free */
#define RF_INODE_RECENT   (1u << 3) /* looked up since the prune sweep last passed it */
#define RF_INODE_PICKED   (1u << 4) /* picked by the prune sweep under way */

/*
 * Invariants, all under @lock: an inode is in by_id iff IN_TABLE; in by_key iff HASHED
 * (HASHED implies IN_TABLE); at most one HASHED inode per key; no inode in the table has
 * nlookup == 0 and refs == 0 unless it is the root (the transition that reaches that
 * state removes it, under the lock). refs goes from 0 to 1 only under the lock; without
 * the lock it only moves between values >= 1 (rf_itable_ref, fast path of unref).
 */
struct rf_itable {
	pthread_mutex_t lock;
	struct rf_itable_ops ops;
	void *data;
	struct rf_inode **by_id;     /* nbuckets chains through _id_next */
	struct rf_inode **by_key;    /* nbuckets chains through _key_next */
	size_t nbuckets;             /* power of two; both tables */
	size_t count;                /* inodes IN_TABLE */
	uint64_t next_nodeid;        /* next node id to hand out; never reused */
	uint64_t key_epoch;          /* key mappings removed so far: generation of new inodes */
	size_t hand;                 /* the prune sweep's next bucket */
	bool have_root;
};

/* ---- hashing --------------------------------------------------------------------- */

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static inline size_t id_bucket(const struct rf_itable *t, uint64_t nodeid)
{
	return (size_t)mix64(nodeid) & (t->nbuckets - 1);
}

static inline size_t key_bucket(const struct rf_itable *t, uint64_t dev, uint64_t ino)
{
	return (size_t)mix64(ino ^ mix64(dev + 0x9e3779b97f4a7c15ULL)) & (t->nbuckets - 1);
}

static struct rf_inode *id_lookup(const struct rf_itable *t, uint64_t nodeid)
{
	struct rf_inode *i;

	for (i = t->by_id[id_bucket(t, nodeid)]; i; i = i->_id_next)
		if (i->nodeid == nodeid)
			return i;
	return NULL;
}

static struct rf_inode *key_lookup(const struct rf_itable *t, uint64_t dev, uint64_t ino)
{
	struct rf_inode *i;

	for (i = t->by_key[key_bucket(t, dev, ino)]; i; i = i->_key_next)
		if (i->ino == ino && i->dev == dev)
			return i;
	return NULL;
}

static void id_link(struct rf_itable *t, struct rf_inode *inode)
{
	struct rf_inode **head = &t->by_id[id_bucket(t, inode->nodeid)];

	inode->_id_next = *head;
	*head = inode;
}

static void key_link(struct rf_itable *t, struct rf_inode *inode)
{
	struct rf_inode **head = &t->by_key[key_bucket(t, inode->dev, inode->ino)];

	inode->_key_next = *head;
	*head = inode;
}

static void key_unlink(struct rf_itable *t, struct rf_inode *inode)
{
	struct rf_inode **pp = &t->by_key[key_bucket(t, inode->dev, inode->ino)];

	while (*pp != inode)
		pp = &(*pp)->_key_next;
	*pp = inode->_key_next;
	inode->_key_next = NULL;
	inode->_flags &= ~RF_INODE_HASHED;
	t->key_epoch++;
}

/*
 * Take @inode out of both hashes (lock held) and push it on *@gone, a list through
 * _id_next of inodes to hand to ops->free once the lock is dropped.
 */
static void detach(struct rf_itable *t, struct rf_inode *inode, struct rf_inode **gone)
{
	struct rf_inode **pp = &t->by_id[id_bucket(t, inode->nodeid)];

	while (*pp != inode)
		pp = &(*pp)->_id_next;
	*pp = inode->_id_next;
	if (inode->_flags & RF_INODE_HASHED)
		key_unlink(t, inode);
	inode->_flags = 0;
	t->count--;
	inode->_id_next = *gone;
	*gone = inode;
}

static void resize(struct rf_itable *t, bool shrink);

/* Hand the detached inodes to the filesystem, then shrink the table if it is mostly
 * empty. Lock not held. */
static void release_gone(struct rf_itable *t, struct rf_inode *gone)
{
	bool shrink;

	if (!gone)
		return;
	pthread_mutex_lock(&t->lock);
	shrink = t->nbuckets > RF_ITABLE_MIN_BUCKETS && t->count < t->nbuckets / 8;
	pthread_mutex_unlock(&t->lock);
	if (shrink)
		resize(t, true);
	while (gone) {
		struct rf_inode *next = gone->_id_next;

		gone->_id_next = NULL;
		t->ops.free(gone, t->data);
		gone = next;
	}
}

/* Leave the table if nothing holds @inode any more (lock held). */
static void maybe_detach(struct rf_itable *t, struct rf_inode *inode, struct rf_inode **gone)
{
	if (inode->_nlookup == 0 && !(inode->_flags & RF_INODE_ROOT) &&
	    __atomic_load_n(&inode->_refs, __ATOMIC_ACQUIRE) == 0)
		detach(t, inode, gone);
}

/*
 * Double the buckets once the load passed 1, or (@shrink) divide them by four once it fell
 * under 1/8, so the arrays of a table that held a million inodes go back to malloc after
 * the kernel forgot them. The arrays are allocated without the lock held; if that fails
 * the table keeps working as it is and tries again later.
 */
static void resize(struct rf_itable *t, bool shrink)
{
	struct rf_inode **by_id, **by_key, **old_id, **old_key;
	size_t want, old_n, b;

	pthread_mutex_lock(&t->lock);
	want = shrink ? t->nbuckets / 4 : t->nbuckets * 2;
	pthread_mutex_unlock(&t->lock);
	if (want < RF_ITABLE_MIN_BUCKETS)
		want = RF_ITABLE_MIN_BUCKETS;

	by_id = calloc(want, sizeof(*by_id));
	by_key = calloc(want, sizeof(*by_key));
	if (!by_id || !by_key) {
		free(by_id);
		free(by_key);
		return;
	}

	pthread_mutex_lock(&t->lock);
	if (shrink ? (t->nbuckets <= want || t->count > want / 2)
		   : (t->nbuckets >= want || t->count <= t->nbuckets)) {
		/* another thread resized it meanwhile, or the count moved */
		pthread_mutex_unlock(&t->lock);
		free(by_id);
		free(by_key);
		return;
	}
	old_id = t->by_id;
	old_key = t->by_key;
	old_n = t->nbuckets;
	t->by_id = by_id;
	t->by_key = by_key;
	t->nbuckets = want;
	for (b = 0; b < old_n; b++) {
		struct rf_inode *i, *next;

		for (i = old_id[b]; i; i = next) {
			next = i->_id_next;
			id_link(t, i);
		}
		for (i = old_key[b]; i; i = next) {
			next = i->_key_next;
			key_link(t, i);
		}
	}
	pthread_mutex_unlock(&t->lock);
	free(old_id);
	free(old_key);
}

static void grow(struct rf_itable *t)
{
	resize(t, false);
}

/* ---- API ------------------------------------------------------------------------- */

int rf_itable_new(struct rf_itable **out, const struct rf_itable_ops *ops, void *data)
{
	struct rf_itable *t;
	int err;

	if (!out || !ops || !ops->free)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->nbuckets = RF_ITABLE_MIN_BUCKETS;
	t->by_id = calloc(t->nbuckets, sizeof(*t->by_id));
	t->by_key = calloc(t->nbuckets, sizeof(*t->by_key));
	if (!t->by_id || !t->by_key) {
		err = -ENOMEM;
		goto fail;
	}
	err = -pthread_mutex_init(&t->lock, NULL);
	if (err)
		goto fail;
	t->ops = *ops;
	t->data = data;
	t->next_nodeid = 2; /* 1 is FUSE_ROOT_ID */
	*out = t;
	return 0;
fail:
	free(t->by_id);
	free(t->by_key);
	free(t);
	return err;
}

void rf_itable_free(struct rf_itable *t)
{
	size_t b;

	if (!t)
		return;
	for (b = 0; b < t->nbuckets; b++) {
		struct rf_inode *i = t->by_id[b], *next;

		t->by_id[b] = NULL;
		for (; i; i = next) {
			next = i->_id_next;
			i->_id_next = NULL;
			i->_key_next = NULL;
			i->_flags = 0;
			t->ops.free(i, t->data);
		}
	}
	pthread_mutex_destroy(&t->lock);
	free(t->by_id);
	free(t->by_key);
	free(t);
}

int rf_itable_set_root(struct rf_itable *t, uint64_t dev, uint64_t ino, struct rf_inode *root)
{
	bool need_grow;

	if (!root)
		return -EINVAL;
	pthread_mutex_lock(&t->lock);
	if (t->have_root || key_lookup(t, dev, ino)) {
		pthread_mutex_unlock(&t->lock);
		return -EEXIST;
	}
	root->nodeid = 1;
	root->generation = t->key_epoch;
	root->dev = dev;
	root->ino = ino;
	root->_nlookup = 1;
	root->_refs = 0;
	root->_flags = RF_INODE_IN_TABLE | RF_INODE_HASHED | RF_INODE_ROOT;
	id_link(t, root);
	key_link(t, root);
	t->count++;
	t->have_root = true;
	need_grow = t->count > t->nbuckets;
	pthread_mutex_unlock(&t->lock);
	if (need_grow)
		grow(t);
	return 0;
}

int rf_itable_lookup_or_insert(struct rf_itable *t, uint64_t dev, uint64_t ino,
			       struct rf_inode *fresh, struct rf_inode **out)
{
	struct rf_inode *found;
	bool need_grow;

	if (!out)
		return -EINVAL;
	pthread_mutex_lock(&t->lock);
	found = key_lookup(t, dev, ino);
	if (found) {
		found->_nlookup++;
		found->_flags |= RF_INODE_RECENT;
		__atomic_add_fetch(&found->_refs, 1, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&t->lock);
		*out = found;
		return 0;
	}
	if (!fresh || t->next_nodeid == 0) {
		pthread_mutex_unlock(&t->lock);
		*out = NULL;
		return fresh ? -EOVERFLOW : -ENOENT;
	}
	fresh->nodeid = t->next_nodeid++;
	fresh->generation = t->key_epoch;
	fresh->dev = dev;
	fresh->ino = ino;
	fresh->_nlookup = 1;
	fresh->_refs = 1;
	fresh->_flags = RF_INODE_IN_TABLE | RF_INODE_HASHED | RF_INODE_RECENT;
	id_link(t, fresh);
	key_link(t, fresh);
	t->count++;
	need_grow = t->count > t->nbuckets;
	pthread_mutex_unlock(&t->lock);
	if (need_grow)
		grow(t);
	*out = fresh;
	return 1;
}

void rf_itable_count_lookup(struct rf_itable *t, struct rf_inode *inode)
{
	pthread_mutex_lock(&t->lock);
	inode->_nlookup++;
	inode->_flags |= RF_INODE_RECENT;
	pthread_mutex_unlock(&t->lock);
}

/* One forget, lock held. Returns 0, -ENOENT or -ERANGE; *had is the count before. */
static int forget_locked(struct rf_itable *t, uint64_t nodeid, uint64_t nlookup,
			 uint64_t *had, struct rf_inode **gone)
{
	struct rf_inode *inode = id_lookup(t, nodeid);
	int ret = 0;

	if (!inode)
		return -ENOENT;
	*had = inode->_nlookup;
	if (nlookup > inode->_nlookup) {
		inode->_nlookup = 0;
		ret = -ERANGE;
	} else {
		inode->_nlookup -= nlookup;
	}
	maybe_detach(t, inode, gone);
	return ret;
}

static void warn_clamped(uint64_t nodeid, uint64_t nlookup, uint64_t had)
{
	rf__warn("inode table: FORGET of %llu lookups on node %llu which has %llu: clamped to "
		 "0 (the kernel and the filesystem disagree on lookup counts)",
		 (unsigned long long)nlookup, (unsigned long long)nodeid,
		 (unsigned long long)had);
}

int rf_itable_forget(struct rf_itable *t, uint64_t nodeid, uint64_t nlookup)
{
	struct rf_inode *gone = NULL;
	uint64_t had = 0;
	int ret;

	pthread_mutex_lock(&t->lock);
	ret = forget_locked(t, nodeid, nlookup, &had, &gone);
	pthread_mutex_unlock(&t->lock);
	if (ret == -ERANGE)
		warn_clamped(nodeid, nlookup, had);
	release_gone(t, gone);
	return ret;
}

int rf_itable_forget_many(struct rf_itable *t, const struct rf_itable_forget_item *items,
			  size_t count)
{
	struct rf_inode *gone = NULL;
	size_t n, clamped = 0, first = 0;
	uint64_t had = 0, first_had = 0;
	int ret = 0, r;

	pthread_mutex_lock(&t->lock);
	for (n = 0; n < count; n++) {
		r = forget_locked(t, items[n].nodeid, items[n].nlookup, &had, &gone);
		if (r == -ERANGE && clamped++ == 0) {
			first = n;
			first_had = had;
		}
		if (r && !ret)
			ret = r;
	}
	pthread_mutex_unlock(&t->lock);
	/* logged outside the lock: the log sink is the application's */
	if (clamped)
		warn_clamped(items[first].nodeid, items[first].nlookup, first_had);
	if (clamped > 1)
		rf__warn("inode table: %zu more clamped FORGET entries in the same batch",
			 clamped - 1);
	release_gone(t, gone);
	return ret;
}

struct rf_inode *rf_itable_get(struct rf_itable *t, uint64_t nodeid)
{
	struct rf_inode *inode;

	pthread_mutex_lock(&t->lock);
	inode = id_lookup(t, nodeid);
	if (inode)
		__atomic_add_fetch(&inode->_refs, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&t->lock);
	return inode;
}

struct rf_inode *rf_itable_find(struct rf_itable *t, uint64_t dev, uint64_t ino)
{
	struct rf_inode *inode;

	pthread_mutex_lock(&t->lock);
	inode = key_lookup(t, dev, ino);
	if (inode)
		__atomic_add_fetch(&inode->_refs, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&t->lock);
	return inode;
}

void rf_itable_ref(struct rf_inode *inode)
{
	/* the caller holds a reference: refs >= 1, no decision can race with this */
	__atomic_add_fetch(&inode->_refs, 1, __ATOMIC_RELAXED);
}

void rf_itable_unref(struct rf_itable *t, struct rf_inode *inode)
{
	struct rf_inode *gone = NULL;
	uint64_t old;

	if (!inode)
		return;
	/* Fast path: not the last reference, nothing to decide. */
	old = __atomic_load_n(&inode->_refs, __ATOMIC_RELAXED);
	while (old > 1)
		if (__atomic_compare_exchange_n(&inode->_refs, &old, old - 1, true,
						__ATOMIC_RELEASE, __ATOMIC_RELAXED))
			return;

	/* Maybe the last: decide under the lock, where refs 0 -> 1 happens. */
	pthread_mutex_lock(&t->lock);
	old = __atomic_fetch_sub(&inode->_refs, 1, __ATOMIC_ACQ_REL);
	if (old == 0) {
		__atomic_add_fetch(&inode->_refs, 1, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&t->lock);
		rf__err("inode table: unbalanced unref of node %llu ignored",
			(unsigned long long)inode->nodeid);
		return;
	}
	if (old == 1)
		maybe_detach(t, inode, &gone);
	pthread_mutex_unlock(&t->lock);
	release_gone(t, gone);
}

int rf_itable_unhash(struct rf_itable *t, struct rf_inode *inode)
{
	int ret = 0;

	pthread_mutex_lock(&t->lock);
	if (inode->_flags & RF_INODE_HASHED)
		key_unlink(t, inode);
	else
		ret = -ENOENT;
	pthread_mutex_unlock(&t->lock);
	return ret;
}

size_t rf_itable_count(struct rf_itable *t)
{
	size_t n;

	pthread_mutex_lock(&t->lock);
	n = t->count;
	pthread_mutex_unlock(&t->lock);
	return n;
}

int rf_itable_foreach(struct rf_itable *t, int (*cb)(struct rf_inode *inode, void *data),
		      void *data)
{
	struct rf_inode **snap;
	size_t n = 0, i, b;
	int ret = 0;

	pthread_mutex_lock(&t->lock);
	if (t->count == 0) {
		pthread_mutex_unlock(&t->lock);
		return 0;
	}
	snap = malloc(t->count * sizeof(*snap));
	if (!snap) {
		pthread_mutex_unlock(&t->lock);
		return -ENOMEM;
	}
	for (b = 0; b < t->nbuckets; b++)
		for (struct rf_inode *in = t->by_id[b]; in; in = in->_id_next) {
			__atomic_add_fetch(&in->_refs, 1, __ATOMIC_RELAXED);
			snap[n++] = in;
		}
	pthread_mutex_unlock(&t->lock);

	for (i = 0; i < n && !ret; i++)
		ret = cb(snap[i], data);
	for (i = 0; i < n; i++)
		rf_itable_unref(t, snap[i]);
	free(snap);
	return ret;
}

/*
 * A clock sweep over the node id buckets: an inode marked RECENT (looked up since the hand
 * last passed) is unmarked and kept, an unmarked one is picked. Two rounds at most, so
 * that a table looked up entirely since the last sweep still gives candidates.
 */
size_t rf_itable_prune_candidates(struct rf_itable *t, uint64_t *nodeids, size_t max)
{
	size_t n = 0, visited;

	if (!nodeids || max == 0)
		return 0;
	pthread_mutex_lock(&t->lock);
	for (visited = 0; visited < 2 * t->nbuckets && n < max; visited++) {
		struct rf_inode *in = t->by_id[t->hand++ & (t->nbuckets - 1)];

		for (; in && n < max; in = in->_id_next) {
			if ((in->_flags & (RF_INODE_ROOT | RF_INODE_PICKED)) || in->_nlookup == 0 ||
			    __atomic_load_n(&in->_refs, __ATOMIC_RELAXED) != 0)
				continue;
			if (in->_flags & RF_INODE_RECENT) {
				in->_flags &= ~RF_INODE_RECENT;
			} else {
				in->_flags |= RF_INODE_PICKED;     /* once per call */
				nodeids[n++] = in->nodeid;
			}
		}
	}
	for (visited = 0; visited < n; visited++)
		id_lookup(t, nodeids[visited])->_flags &= ~RF_INODE_PICKED;
	pthread_mutex_unlock(&t->lock);
	return n;
}
