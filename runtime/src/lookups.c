/* SPDX-License-Identifier: MIT */
/*
 * lookups.c - how many lookups of each node id the kernel holds: every entry reply (and
 * READDIRPLUS entry) counts one, every FORGET takes its nlookup back. At teardown the
 * kernel will never send the FORGETs for what it still holds, so the runtime gives them to
 * the filesystem itself and its inode table empties (README, "How a server stops").
 *
 * A hash table under its own lock, grown by doubling; entries come from chunks kept on a
 * free list, so steady state allocates nothing. The lock is never held across a call into
 * the filesystem.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "internal.h"

#define RF_LOOKUP_CHUNK 256

struct rf_lookup_entry {
	struct rf_lookup_entry *hnext;
	uint64_t nodeid;
	uint64_t nlookup;
};

struct rf_lookups {
	pthread_mutex_t lock;
	struct rf_lookup_entry **hash;
	uint32_t buckets, count;         /* buckets: a power of two, or 0 before the first */
	struct rf_lookup_entry *free;
	void *chunks;                    /* allocations behind the free list */
};

static inline uint32_t hash64(uint64_t v)
{
	v ^= v >> 33;
	v *= 0xff51afd7ed558ccdull;
	v ^= v >> 33;
	return (uint32_t)v;
}

int rf__lookup_init(struct rf_session *se)
{
	se->lookups = calloc(1, sizeof(*se->lookups));
	if (!se->lookups)
		return -ENOMEM;
	pthread_mutex_init(&se->lookups->lock, NULL);
	return 0;
}

void rf__lookup_free(struct rf_session *se)
{
	struct rf_lookups *lk = se->lookups;
	void *c, *next;

	if (!lk)
		return;
	for (c = lk->chunks; c; c = next) {
		next = *(void **)c;
		free(c);
	}
	free(lk->hash);
	pthread_mutex_destroy(&lk->lock);
	free(lk);
	se->lookups = NULL;
}

static struct rf_lookup_entry **slot(struct rf_lookups *lk, uint64_t nodeid)
{
	struct rf_lookup_entry **pp = &lk->hash[hash64(nodeid) & (lk->buckets - 1)];

	while (*pp && (*pp)->nodeid != nodeid)
		pp = &(*pp)->hnext;
	return pp;
}

/* Double the buckets when the table gets crowded (amortized; lookups of new inodes only). */
static void grow_table(struct rf_lookups *lk)
{
	uint32_t nb = lk->buckets ? lk->buckets * 2 : 1024, i;
	struct rf_lookup_entry **nh = calloc(nb, sizeof(*nh)), *e, *next;

	if (!nh)
		return;
	for (i = 0; i < lk->buckets; i++) {
		for (e = lk->hash[i]; e; e = next) {
			uint32_t b = hash64(e->nodeid) & (nb - 1);

			next = e->hnext;
			e->hnext = nh[b];
			nh[b] = e;
		}
	}
	free(lk->hash);
	lk->hash = nh;
	lk->buckets = nb;
}

/* Grow the free list by one chunk. Rare: only when more entries are live than ever. */
static bool grow_free(struct rf_lookups *lk)
{
	char *chunk = malloc(sizeof(void *) + sizeof(struct rf_lookup_entry) * RF_LOOKUP_CHUNK);
	struct rf_lookup_entry *c;
	size_t i;

	if (!chunk)
		return false;
	*(void **)chunk = lk->chunks;
	lk->chunks = chunk;
	c = (struct rf_lookup_entry *)(chunk + sizeof(void *));
	for (i = 0; i < RF_LOOKUP_CHUNK; i++) {
		c[i].hnext = lk->free;
		lk->free = &c[i];
	}
	return true;
}

void rf__lookup_count(struct rf_session *se, uint64_t nodeid)
{
	struct rf_lookups *lk = se->lookups;
	struct rf_lookup_entry **pp, *e;

	if (!nodeid)
		return;
	pthread_mutex_lock(&lk->lock);
	if (lk->count >= lk->buckets)
		grow_table(lk);
	if (!lk->buckets)
		goto out;
	pp = slot(lk, nodeid);
	if (!*pp) {
		if (!lk->free && !grow_free(lk))
			goto out;
		e = lk->free;
		lk->free = e->hnext;
		e->nodeid = nodeid;
		e->nlookup = 0;
		e->hnext = NULL;
		*pp = e;
		lk->count++;
	}
	(*pp)->nlookup++;
out:
	pthread_mutex_unlock(&lk->lock);
}

/* The kernel dropped @nlookup of its lookups of @nodeid. Lock held. */
static void forget_locked(struct rf_lookups *lk, uint64_t nodeid, uint64_t nlookup)
{
	struct rf_lookup_entry **pp, *e;

	if (!lk->buckets)
		return;
	pp = slot(lk, nodeid);
	if (!(e = *pp))
		return;
	e->nlookup = nlookup >= e->nlookup ? 0 : e->nlookup - nlookup;
	if (e->nlookup == 0) {
		*pp = e->hnext;
		e->hnext = lk->free;
		lk->free = e;
		lk->count--;
	}
}

void rf__lookup_forget(struct rf_session *se, uint64_t nodeid, uint64_t nlookup)
{
	pthread_mutex_lock(&se->lookups->lock);
	forget_locked(se->lookups, nodeid, nlookup);
	pthread_mutex_unlock(&se->lookups->lock);
}

void rf__lookup_teardown_forgets(struct rf_session *se)
{
	struct rf_lookups *lk = se->lookups;
	uint32_t b;

	for (;;) {
		struct rf_lookup_entry *e = NULL;
		uint64_t nodeid = 0, nlookup = 0;

		pthread_mutex_lock(&lk->lock);
		for (b = 0; b < lk->buckets && !e; b++)
			e = lk->hash[b];
		if (e) {
			nodeid = e->nodeid;
			nlookup = e->nlookup;
			forget_locked(lk, nodeid, nlookup);
		}
		pthread_mutex_unlock(&lk->lock);
		if (!e)
			break;
		if (se->ops.forget)
			se->ops.forget(se->userdata, nodeid, nlookup);
	}
}
