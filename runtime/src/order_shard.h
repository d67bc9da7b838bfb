/* SPDX-License-Identifier: MIT */
/*
 * order_shard.h - the ordering chains' state, shared by order.c (the chains) and
 * order_intr.c (INTERRUPT bookkeeping, teardown's view): shards, their spin locks and
 * hashes. Private to those two files; order.c's header comment tells the locking rules.
 */
#ifndef RF_ORDER_SHARD_H
#define RF_ORDER_SHARD_H

#include <sched.h>

#include "internal.h"

#define RF_ORDER_SHARDS  16         /* power of two: more than loops on any machine we serve */
#define RF_ORDER_BUCKETS 64         /* per shard and table, power of two: short chains */
#define RF_PARK_CANCELLED 0x100u    /* park_wait: an INTERRUPT answered it; never resume */

/* -DRF_NO_CHAINS (the benchmark's build/nochains): measure what the chains cost. Requests
 * are neither registered nor ordered (enter, admit, leave and opened do nothing), so none
 * of the guarantees above hold, not even EBADF or the teardown's releases: never ship it. */
#ifdef RF_NO_CHAINS
#define RF_CHAINS 0
#else
#define RF_CHAINS 1
#endif

/* Holds in arrival order, under the lock of the shard of the entry it is in. */
struct rf_chain {
	struct rf_hold *head, *tail;
	uint32_t parked;                 /* holds in the list still blocked (h->blocked) */
	/* WRITE holds in the list: with none, no READ waits. Written under the lock only;
	 * atomic because a READ reads an inode's without it (rf__order_admit). */
	atomic_uint writes;
};

/* An open file handle value, with every request in service that names it. */
struct rf_fh_entry {
	struct rf_fh_entry *hnext;
	uint64_t fh;
	uint32_t opens;                  /* OPEN replies not yet matched by a RELEASE */
	uint32_t dir_opens;              /* how many of them were OPENDIRs */
	uint64_t nodeid;                 /* the inode of the last open (teardown releases) */
	uint32_t shard;                  /* its shard (the fh's hash) */
	struct rf_chain chain;
};

/* An inode named by requests in service, and the forgets waiting for them. */
struct rf_ino_entry {
	struct rf_ino_entry *hnext;
	uint64_t nodeid;
	uint32_t users;                  /* requests in service naming it */
	bool queued;                     /* on forget_ready (forget_lock) */
	uint32_t shard;
	uint64_t forget_nlookup;         /* deferred FORGETs, summed */
	struct rf_ino_entry *rnext;      /* forget_ready list */
	/* WRITEs in flight on the inode, whatever fh they came through, and READs admitted
	 * while one was: the page cache is the inode's, so a READ must not overtake a WRITE
	 * another fh sent first (docs/kernel-notes.md §13); COPY_FILE_RANGE's source range
	 * (a READ) and destination range (a WRITE, in the destination node's chain). */
	struct rf_chain data;
};

/* One shard: the entries whose key hashes to it, under its lock. Aligned so that two
 * loops working on different shards do not share a cache line. */
struct rf_order_shard {
	atomic_int lock;
	struct rf_fh_entry *fh_hash[RF_ORDER_BUCKETS];
	struct rf_ino_entry *ino_hash[RF_ORDER_BUCKETS];
	struct rf_req *uniq_hash[RF_ORDER_BUCKETS];
	/* the entries (slab.c): only ever touched under this shard's lock, so their own
	 * locks never wait; a burst (a BATCH_FORGET enters one entry per inode) goes back
	 * to the kernel as it drains, where free lists would keep it for good */
	struct rf_slab *fh_pool;
	struct rf_slab *ino_pool;
} __attribute__((aligned(64)));

struct rf_order {
	struct rf_order_shard shard[RF_ORDER_SHARDS];
	/* INTERRUPTs whose request has not arrived, under intr_lock; early_count lets
	 * rf__order_enter skip the lock when there are none (nearly always). */
	atomic_int intr_lock __attribute__((aligned(64)));
	atomic_uint early_count;
	struct rf_req *early_intr;
	/* deferred forgets free to run (by the loop), under forget_lock */
	atomic_int forget_lock __attribute__((aligned(64)));
	atomic_bool forget_pending;      /* forget_ready is not empty (read without the lock) */
	struct rf_ino_entry *forget_ready;
};

/* A spin lock: every critical section here is a few dozen instructions with no call out,
 * cheaper than a mutex's two calls; a holder preempted on a busy machine is waited for
 * with sched_yield rather than burned against. */
static inline void spin_wait(atomic_int *l)
{
	do {
		int n = 0;

		while (atomic_load_explicit(l, memory_order_relaxed)) {
			if (++n < 128) {
#if defined(__x86_64__) || defined(__i386__)
				__builtin_ia32_pause();
#endif
			} else {
				sched_yield();
				n = 0;
			}
		}
	} while (atomic_exchange_explicit(l, 1, memory_order_acquire));
}

static inline void spin_lock(atomic_int *l)
{
	if (__builtin_expect(atomic_exchange_explicit(l, 1, memory_order_acquire), 0))
		spin_wait(l);
}

static inline void spin_unlock(atomic_int *l)
{
	atomic_store_explicit(l, 0, memory_order_release);
}

static inline uint32_t hash64(uint64_t v)
{
	v ^= v >> 33;
	v *= 0xff51afd7ed558ccdull;
	v ^= v >> 33;
	return (uint32_t)v;
}

/* The low bits of a key's hash pick the shard, the next ones the bucket in it. */
static inline uint32_t shard_of(uint64_t key)
{
	return hash64(key) & (RF_ORDER_SHARDS - 1);
}

static inline uint32_t hbucket(uint32_t h)
{
	return (h / RF_ORDER_SHARDS) & (RF_ORDER_BUCKETS - 1);
}

static inline uint32_t bucket_of(uint64_t key)
{
	return hbucket(hash64(key));
}

/* A unique's bucket in its shard's uniq_hash. The kernel counts uniques up in steps of
 * two (the low bit marks interrupts), so these bits spread them with no multiply. */
static inline uint32_t ubucket(uint64_t unique)
{
	return (uint32_t)((unique >> 1) ^ (unique >> 7)) & (RF_ORDER_BUCKETS - 1);
}

static inline struct rf_order_shard *lock_shard(struct rf_order *o, uint32_t i)
{
	spin_lock(&o->shard[i].lock);
	return &o->shard[i];
}

static inline void unlock_shard(struct rf_order *o, uint32_t i)
{
	spin_unlock(&o->shard[i].lock);
}

/* An INTERRUPT that arrived before the request with @unique: taken off the list, or
 * NULL. intr_lock held. (order_intr.c) */
struct rf_req *rf__order_take_early(struct rf_order *o, uint64_t unique);

#endif /* RF_ORDER_SHARD_H */
