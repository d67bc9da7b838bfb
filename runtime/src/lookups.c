/* SPDX-License-Identifier: MIT */
/*
 * lookups.c - how many lookups of each node id the kernel holds: every entry reply (and
 * READDIRPLUS entry) counts one, every FORGET takes its nlookup back. At teardown the
 * kernel will never send the FORGETs for what it still holds, so the runtime gives them to
 * the filesystem itself and its inode table empties (README, "How a server stops").
 *
 * A hash table under its own lock, grown by doubling and shrunk by four when it is mostly
 * empty; entries come from a slab pool (slab.c), so steady state allocates nothing, and
 * what a big walk took goes back to the kernel once it forgot (the memory of a server that
 * served a million names must come back down: issue 15, item 3). The lock is never held across a call into the filesystem.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "internal.h"

#define RF_LOOKUP_MIN_BUCKETS 1024

struct rf_lookup_entry {
	struct rf_lookup_entry *hnext;
	uint64_t nodeid;
	uint64_t nlookup;
};

struct rf_lookups {
	pthread_mutex_t lock;
	struct rf_lookup_entry **hash;
	uint32_t buckets, count;         /* buckets: a power of two, or 0 before the first */
	struct rf_slab *pool;            /* the entries */
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
	if (rf_slab_new(&se->lookups->pool, sizeof(struct rf_lookup_entry)) < 0) {
		free(se->lookups);
		se->lookups = NULL;
		return -ENOMEM;
	}
	pthread_mutex_init(&se->lookups->lock, NULL);
	return 0;
}

void rf__lookup_free(struct rf_session *se)
{
	struct rf_lookups *lk = se->lookups;

	if (!lk)
		return;
	rf_slab_destroy(lk->pool);   /* the entries still in the hash with it */
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

/* Rehash into @nb buckets (amortized: lookups of new inodes, forgets of many). On
 * allocation failure the table stays as it is. */
static void resize_table(struct rf_lookups *lk, uint32_t nb)
{
	struct rf_lookup_entry **nh = calloc(nb, sizeof(*nh)), *e, *next;
	uint32_t i;

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

/* Publish the node count for rf_session_stats: the node ids the kernel holds lookups of,
 * the root counted once whether or not a reply ever named node id 1. Lock held. */
static void publish_nodes(struct rf_session *se, struct rf_lookups *lk)
{
	uint64_t n = lk->count + (!lk->buckets || !*slot(lk, 1) ? 1 : 0);

	atomic_store_explicit(&se->stats.nodes, n, memory_order_relaxed);
}

static struct rf_lookup_entry *entry_get(struct rf_lookups *lk)
{
	return rf_slab_alloc(lk->pool);
}

static void entry_put(struct rf_lookups *lk, struct rf_lookup_entry *e)
{
	rf_slab_free(lk->pool, e);
}

void rf__lookup_count(struct rf_session *se, uint64_t nodeid)
{
	struct rf_lookups *lk = se->lookups;
	struct rf_lookup_entry **pp, *e;

	if (!nodeid)
		return;
	pthread_mutex_lock(&lk->lock);
	if (lk->count >= lk->buckets)
		resize_table(lk, lk->buckets ? lk->buckets * 2 : RF_LOOKUP_MIN_BUCKETS);
	if (!lk->buckets)
		goto out;
	pp = slot(lk, nodeid);
	if (!*pp) {
		e = entry_get(lk);
		if (!e)
			goto out;
		e->nodeid = nodeid;
		e->nlookup = 0;
		e->hnext = NULL;
		*pp = e;
		lk->count++;
		publish_nodes(se, lk);
	}
	(*pp)->nlookup++;
out:
	pthread_mutex_unlock(&lk->lock);
}

/* The kernel dropped @nlookup of its lookups of @nodeid. Lock held. */
static void forget_locked(struct rf_session *se, struct rf_lookups *lk, uint64_t nodeid,
			  uint64_t nlookup)
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
		entry_put(lk, e);
		lk->count--;
		if (lk->buckets > RF_LOOKUP_MIN_BUCKETS && lk->count < lk->buckets / 8)
			resize_table(lk, lk->buckets / 4 < RF_LOOKUP_MIN_BUCKETS
					 ? RF_LOOKUP_MIN_BUCKETS : lk->buckets / 4);
		publish_nodes(se, lk);
	}
}

void rf__lookup_forget(struct rf_session *se, uint64_t nodeid, uint64_t nlookup)
{
	pthread_mutex_lock(&se->lookups->lock);
	forget_locked(se, se->lookups, nodeid, nlookup);
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
			forget_locked(se, lk, nodeid, nlookup);
		}
		pthread_mutex_unlock(&lk->lock);
		if (!e)
			break;
		rf__fs_forget(se, nodeid, nlookup);    /* after destroy: the table only empties */
	}
}
