/* SPDX-License-Identifier: MIT */
/*
 * order.c - per-file ordered chains: what a request must wait for before the filesystem
 * sees it, and what its completion lets go. Decoders say what a request names (fh holds
 * with a role, inodes); this file parks, resumes, answers EBADF and defers FORGET.
 *
 * The rules (docs/architecture.md §3), for requests on one fh, "earlier" meaning
 * arrived before:
 *  - RELEASE/RELEASEDIR run after every earlier request on the fh has finished;
 *  - FLUSH/FSYNC run after every earlier WRITE; a WRITE after every earlier overlapping
 *    WRITE; a READ after every earlier overlapping WRITE; all else runs at once;
 *  - and across the fhs of one inode (its data chain, one more hold per request): a READ
 *    or WRITE after every earlier overlapping WRITE, since they share one page cache
 *    (docs/kernel-notes.md §13); COPY_FILE_RANGE is a READ of its source's range and a
 *    WRITE of its destination's, in both inodes' chains;
 *  - a request naming an fh that is not open (released, or never opened) gets EBADF;
 *  - the filesystem's forget runs once no request in service names the inode.
 * "Finished" is rf__req_finish: the reply was written and the last backing CQE reaped.
 * The session's unique hash and the INTERRUPTs waiting for their request live here too, so
 * interrupt.c finds a request (or holds an INTERRUPT) in one step under the lock.
 *
 * State is per session, cut in RF_ORDER_SHARDS shards by the hash of the fh, node id or
 * unique it is about, each under its own spin lock; no lock covers the session. A request
 * that conflicts with nothing takes only the shards of what it names, each for a few
 * dozen instructions, so loops serving different files never meet and loops serving one
 * file meet only there. Locks are held only inside these functions: never across a
 * handler, a reply or a forget, and never two at once except (a) the shards of one
 * request's holds (its fhs', its node's for a READ/WRITE's data chain, and the second
 * node's for COPY_FILE_RANGE's destination), taken in shard order, and (b) a shard, then
 * forget_lock or intr_lock, which are leaves. Waking
 * a request parked in chains of different shards is decided by its park_wait counter
 * (one count per blocked hold), which whichever shard sees the last hold unblock brings
 * to zero; an INTERRUPT cancels a parked request by setting RF_PARK_CANCELLED in the
 * same counter, so exactly one of the two wins.
 * Entries come from per-shard slab pools (slab.c), so a request in steady state maps
 * nothing (a pool keeps its last slab) and a burst goes back to the kernel once it
 * drained; every step is O(1) except the overlap scans, which walk a chain's in-flight
 * list (bounded by the queue depth) and only while a WRITE is in it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#include "order_shard.h"

int rf__order_init(struct rf_session *se)
{
	int i;

	/* aligned_alloc: the shards are cache-line aligned. */
	se->order = aligned_alloc(64, RF_ALIGN(sizeof(*se->order), 64));
	if (!se->order)
		return -ENOMEM;
	memset(se->order, 0, sizeof(*se->order));
	for (i = 0; i < RF_ORDER_SHARDS; i++) {
		struct rf_order_shard *s = &se->order->shard[i];

		if (rf_slab_new(&s->fh_pool, sizeof(struct rf_fh_entry)) < 0 ||
		    rf_slab_new(&s->ino_pool, sizeof(struct rf_ino_entry)) < 0) {
			rf__order_free(se);
			return -ENOMEM;
		}
	}
	return 0;
}

void rf__order_free(struct rf_session *se)
{
	int i;

	if (!se->order)
		return;
	for (i = 0; i < RF_ORDER_SHARDS; i++) {
		rf_slab_destroy(se->order->shard[i].fh_pool);
		rf_slab_destroy(se->order->shard[i].ino_pool);
	}
	free(se->order);
	se->order = NULL;
}

/* A new entry for @fh in shard @si (locked), or NULL without memory. */
static struct rf_fh_entry *fh_create(struct rf_order *o, uint32_t si, uint64_t fh)
{
	struct rf_order_shard *s = &o->shard[si];
	struct rf_fh_entry **pp = &s->fh_hash[bucket_of(fh)], *e;

	e = rf_slab_alloc(s->fh_pool);
	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->fh = fh;
	e->shard = si;
	e->hnext = *pp;
	*pp = e;
	return e;
}

/* The fh's entry in shard @si (locked) and hash @h; created if @create. */
static inline struct rf_fh_entry *fh_find_h(struct rf_order *o, uint32_t si, uint32_t h,
					    uint64_t fh, bool create)
{
	struct rf_fh_entry *e;

	for (e = o->shard[si].fh_hash[hbucket(h)]; e; e = e->hnext)
		if (e->fh == fh)
			return e;
	return create ? fh_create(o, si, fh) : NULL;
}

static struct rf_fh_entry *fh_find(struct rf_order *o, uint32_t si, uint64_t fh, bool create)
{
	return fh_find_h(o, si, hash64(fh), fh, create);
}

static void fh_put_if_unused(struct rf_order *o, struct rf_fh_entry *e)
{
	struct rf_order_shard *s = &o->shard[e->shard];
	struct rf_fh_entry **pp;

	if (e->opens || e->chain.head)
		return;
	for (pp = &s->fh_hash[bucket_of(e->fh)]; *pp != e; pp = &(*pp)->hnext)
		;
	*pp = e->hnext;
	rf_slab_free(s->fh_pool, e);
}

/* A new entry for @nodeid in shard @si (locked), or NULL without memory. */
static struct rf_ino_entry *ino_create(struct rf_order *o, uint32_t si, uint64_t nodeid)
{
	struct rf_order_shard *s = &o->shard[si];
	struct rf_ino_entry **pp = &s->ino_hash[bucket_of(nodeid)], *e;

	e = rf_slab_alloc(s->ino_pool);
	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->nodeid = nodeid;
	e->shard = si;
	e->hnext = *pp;
	*pp = e;
	return e;
}

static void ino_put_if_unused(struct rf_order *o, struct rf_ino_entry *e)
{
	struct rf_order_shard *s = &o->shard[e->shard];
	struct rf_ino_entry **pp;

	if (e->users || e->forget_nlookup || e->queued)
		return;
	for (pp = &s->ino_hash[bucket_of(e->nodeid)]; *pp != e; pp = &(*pp)->hnext)
		;
	*pp = e->hnext;
	rf_slab_free(s->ino_pool, e);
}

/* One more request in service names @nodeid. */
static inline struct rf_ino_entry *ino_use(struct rf_order *o, uint64_t nodeid)
{
	uint32_t h = hash64(nodeid), si = h & (RF_ORDER_SHARDS - 1);
	struct rf_order_shard *s = lock_shard(o, si);
	struct rf_ino_entry *e;

	for (e = s->ino_hash[hbucket(h)]; e; e = e->hnext)
		if (e->nodeid == nodeid)
			break;
	if (!e)
		e = ino_create(o, si, nodeid);
	if (e)
		e->users++;
	unlock_shard(o, si);
	return e;
}

static bool ranges_overlap(const struct rf_hold *a, const struct rf_hold *b)
{
	return a->off < b->end && b->off < a->end;
}

/* Must @h wait for something that arrived before it in its chain? Its shard is locked. */
static bool hold_blocked_scan(const struct rf_hold *h)
{
	const struct rf_hold *x;

	for (x = h->chain->head; x && x != h; x = x->next) {
		if (x->req == h->req)
			continue;        /* COPY_FILE_RANGE holding one fh twice */
		switch (h->role) {
		case RF_HOLD_RELEASE:
			return true;
		case RF_HOLD_BARRIER:
			if (x->role == RF_HOLD_WRITE)
				return true;
			break;
		case RF_HOLD_READ:
		case RF_HOLD_WRITE:
			if (x->role == RF_HOLD_WRITE && ranges_overlap(x, h))
				return true;
			break;
		default:
			break;
		}
	}
	return false;
}

/* The common cases inline: nothing before it in its chain, or no WRITE but its own
 * where only WRITEs could hold it back (QD16 reads of one file never scan). */
static inline bool hold_blocked(const struct rf_hold *h)
{
	const struct rf_chain *c = h->chain;

	if (c->head == h || h->role == RF_HOLD_PLAIN)
		return false;
	if (h->role != RF_HOLD_RELEASE &&
	    atomic_load_explicit(&c->writes, memory_order_relaxed) == (h->role == RF_HOLD_WRITE))
		return false;
	return hold_blocked_scan(h);
}

/* @c->writes += @d; its shard is locked, so no read-modify-write is needed: the count is
 * atomic only for the READs that read it without the lock (rf__order_admit). */
static inline void writes_add(struct rf_chain *c, int d)
{
	atomic_store_explicit(&c->writes,
			      atomic_load_explicit(&c->writes, memory_order_relaxed) + (unsigned)d,
			      memory_order_relaxed);
}

static inline struct rf_fh_entry *fh_of(const struct rf_hold *h)
{
	return rf_container_of(h->chain, struct rf_fh_entry, chain);
}

/* Append @h to @c (its shard locked). */
static inline void hold_link(struct rf_chain *c, struct rf_hold *h, struct rf_req *req,
			     int role, uint64_t off, uint64_t len)
{
	h->chain = c;
	h->req = req;
	h->role = (uint8_t)role;
	h->blocked = false;
	h->off = off;
	h->end = len > UINT64_MAX - off ? UINT64_MAX : off + len;
	h->next = NULL;
	h->prev = c->tail;
	if (c->tail)
		c->tail->next = h;
	else
		c->head = h;
	c->tail = h;
	if (role == RF_HOLD_WRITE)
		writes_add(c, 1);
}

static inline void hold_unlink(struct rf_hold *h)
{
	struct rf_chain *c = h->chain;

	if (h->blocked)
		c->parked--;
	if (h->role == RF_HOLD_WRITE)
		writes_add(c, -1);
	h->blocked = false;
	if (h->prev)
		h->prev->next = h->next;
	else
		c->head = h->next;
	if (h->next)
		h->next->prev = h->prev;
	else
		c->tail = h->prev;
	h->prev = h->next = NULL;
	h->chain = NULL;
}

struct rf_req *rf__order_enter(struct rf_req *req)
{
	struct rf_order *o = req->se->order;
	struct rf_order_shard *s;
	struct rf_ino_entry *e;
	struct rf_req *early = NULL;
	uint32_t h, si, b;

	if (!RF_CHAINS)
		return NULL;
	req->admitted = false;
	req->nodeid2 = 0;
	req->hold[0].chain = req->hold[1].chain = req->data.chain = req->data2.chain = NULL;
	req->ino[0] = req->ino[1] = NULL;
	atomic_store_explicit(&req->park_wait, 0, memory_order_relaxed);
	/* One shard, the node's, for both the unique and the node (a request names its node
	 * far more often than an INTERRUPT looks for it). The unique first, then the held
	 * INTERRUPTs: rf__order_find_or_hold holds every shard while it looks and while it
	 * holds, so either it finds the request or its INTERRUPT is counted in early_count
	 * before this shard lock is ours. */
	h = hash64(req->in.nodeid);
	si = h & (RF_ORDER_SHARDS - 1);
	b = ubucket(req->in.unique);
	s = lock_shard(o, si);
	req->ushard = si;
	req->uhnext = s->uniq_hash[b];
	s->uniq_hash[b] = req;
	req->entered = true;
	if (req->in.nodeid) {
		for (e = s->ino_hash[hbucket(h)]; e; e = e->hnext)
			if (e->nodeid == req->in.nodeid)
				break;
		if (!e)
			e = ino_create(o, si, req->in.nodeid);
		if (e)
			e->users++;
		req->ino[0] = e;
	}
	unlock_shard(o, si);
	if (atomic_load_explicit(&o->early_count, memory_order_relaxed)) {
		spin_lock(&o->intr_lock);
		early = rf__order_take_early(o, req->in.unique);
		spin_unlock(&o->intr_lock);
	}
	return early;
}

/* Set up a hold; its shard is locked. Returns false if the fh is not open. */
static inline bool hold_add(struct rf_order *o, struct rf_req *req, int i, uint32_t hash,
			    uint64_t fh, int role, uint64_t off, uint64_t len, bool no_open)
{
	struct rf_fh_entry *e = fh_find_h(o, hash & (RF_ORDER_SHARDS - 1), hash, fh,
					  no_open && fh == 0);

	if (!e || (e->opens == 0 && !(no_open && fh == 0)))
		return false;
	hold_link(&e->chain, &req->hold[i], req, role, off, len);
	return true;
}

/* Locks @n shards in @sh in ascending order, once each; returns how many were taken. */
static int lock_shards(struct rf_order *o, uint32_t *sh, int n)
{
	int i, j, k = 0;

	for (i = 1; i < n; i++)          /* at most four: insertion sort */
		for (j = i; j > 0 && sh[j - 1] > sh[j]; j--) {
			uint32_t t = sh[j];

			sh[j] = sh[j - 1];
			sh[j - 1] = t;
		}
	for (i = 0; i < n; i++)
		if (!k || sh[k - 1] != sh[i])
			sh[k++] = sh[i];
	for (i = 0; i < k; i++)
		lock_shard(o, sh[i]);
	return k;
}

int rf__order_admit(struct rf_req *req, const struct rf_order_spec *spec)
{
	struct rf_session *se = req->se;
	struct rf_order *o = se->order;
	bool bad = false, intr = false, no_open, data;
	uint32_t sh[4], hh[2] = { 0, 0 }, nblocked = 0;
	struct rf_hold *all[4] = { &req->hold[0], &req->hold[1], &req->data, &req->data2 };
	struct rf_ino_entry *out = NULL;
	int i, nsh = 0;

	if (!RF_CHAINS || req->admitted)
		return 1;               /* resumed after parking: checks already passed */
	if (spec->nodeid2 && spec->nodeid2 != req->in.nodeid)
		req->ino[1] = ino_use(o, spec->nodeid2);    /* in its own shard */
	if (spec->role[0] == RF_HOLD_NONE && spec->role[1] == RF_HOLD_NONE) {
		req->admitted = true;   /* names no fh: nothing to wait for */
		return 1;
	}
	no_open = !!(se->conn.want & (RF_CAP_NO_OPEN_SUPPORT | RF_CAP_NO_OPENDIR_SUPPORT));
	/* A WRITE through one fh is also a range in its inode's data chain, and so is a READ
	 * while that chain holds a WRITE (a READ holds nothing back there, so one that finds
	 * no WRITE stays out: no third lock on the hot path). The chain's shard, the node's
	 * (ushard), is locked with the fhs': all in shard order. A WRITE that another loop
	 * is admitting at this moment is simply later than this READ. */
	data = req->ino[0] &&
	       (spec->role[0] == RF_HOLD_WRITE ||
		(spec->role[0] == RF_HOLD_READ &&
		 atomic_load_explicit(&req->ino[0]->data.writes, memory_order_acquire)));
	/* COPY_FILE_RANGE writes through its second fh: a WRITE in its destination's data
	 * chain, the second node's (its own shard), or the first's for a copy within one
	 * file (two holds of one request in a chain never wait for each other). */
	if (spec->role[1] == RF_HOLD_WRITE)
		out = req->ino[1] ? req->ino[1] :
		      spec->nodeid2 == req->in.nodeid ? req->ino[0] : NULL;
	for (i = 0; i < 2; i++) {
		if (spec->role[i] != RF_HOLD_NONE) {
			hh[i] = hash64(spec->fh[i]);
			sh[nsh++] = hh[i] & (RF_ORDER_SHARDS - 1);
		}
	}
	if (data)
		sh[nsh++] = req->ushard;
	if (out)
		sh[nsh++] = out->shard;
	nsh = lock_shards(o, sh, nsh);
	for (i = 0; i < 2 && !bad; i++) {
		if (spec->role[i] != RF_HOLD_NONE)
			bad = !hold_add(o, req, i, hh[i], spec->fh[i], spec->role[i],
					spec->off[i], spec->len[i], no_open);
	}
	if (!bad && data)
		hold_link(&req->ino[0]->data, &req->data, req, spec->role[0], spec->off[0],
			  spec->len[0]);
	if (!bad && out)
		hold_link(&out->data, &req->data2, req, RF_HOLD_WRITE, spec->off[1],
			  spec->len[1]);
	if (!bad && spec->role[0] == RF_HOLD_RELEASE) {
		/* From now on the fh is gone for new requests; earlier ones still finish. */
		struct rf_fh_entry *e = fh_of(&req->hold[0]);

		e->opens--;
		if (req->in.opcode == FUSE_RELEASEDIR && e->dir_opens)
			e->dir_opens--;
	}
	for (i = 0; i < 4 && !bad; i++)
		if (all[i]->chain && hold_blocked(all[i]))
			all[i]->blocked = true, nblocked++;
	/* Interrupted before it arrived (rf__order_enter) and about to wait in the chain:
	 * answered EINTR instead, as a parked request is (a RELEASE still runs). */
	intr = nblocked && atomic_load(&req->interrupted) && spec->role[0] != RF_HOLD_RELEASE;
	if (intr) {
		for (i = 0; i < 4; i++)
			all[i]->blocked = false;
		nblocked = 0;
		req->admitted = true;   /* never runs; its holds go when its EINTR is finished */
	} else if (nblocked) {
		req->state = RF_REQ_PARKED;
		rf__stats_parked(req, true);
		for (i = 0; i < 4; i++)
			if (all[i]->blocked)
				all[i]->chain->parked++;
		/* Before any shard is unlocked: from then on a waker may count it down. */
		atomic_store_explicit(&req->park_wait, nblocked, memory_order_relaxed);
	} else if (!bad) {
		req->admitted = true;
	}
	for (i = nsh - 1; i >= 0; i--)
		unlock_shard(o, sh[i]);
	if (bad) {
		if (se->debug)
			rf__info("%s unique %llu names fh %llu, which is not open: EBADF",
				 rf__opname(req->in.opcode), (unsigned long long)req->in.unique,
				 (unsigned long long)spec->fh[0]);
		/* A RELEASE has nothing to report to; it simply is done. */
		rf_reply_err(req, spec->role[0] == RF_HOLD_RELEASE ? 0 : -EBADF);
		return 0;
	}
	if (intr) {
		rf_reply_err(req, -EINTR);
		return 0;
	}
	if (nblocked && se->debug)
		rf__info("%s unique %llu parked behind earlier requests on fh %llu or its inode",
			 rf__opname(req->in.opcode), (unsigned long long)req->in.unique,
			 (unsigned long long)spec->fh[0]);
	return nblocked ? 0 : 1;
}

void rf__order_opened(struct rf_req *req, uint64_t fh, uint64_t nodeid)
{
	struct rf_order *o = req->se->order;
	uint32_t si = shard_of(fh);
	struct rf_fh_entry *e;

	if (!RF_CHAINS)
		return;
	lock_shard(o, si);
	e = fh_find(o, si, fh, true);
	if (e) {
		e->opens++;
		e->nodeid = nodeid;
		if (req->in.opcode == FUSE_OPENDIR)
			e->dir_opens++;
	}
	unlock_shard(o, si);
	if (!e)
		rf__err("out of memory tracking fh %llu: its requests will get EBADF",
			(unsigned long long)fh);
}

/* Holds in @c (its shard locked) that no longer wait for anything: unblock them. A
 * request whose last blocked hold this was is ours to resume: appended to @ready. */
static void wake_parked(struct rf_chain *c, struct rf_req **ready)
{
	struct rf_hold *h;

	while (*ready)
		ready = &(*ready)->next;
	for (h = c->head; h && c->parked; h = h->next) {
		struct rf_req *r = h->req;

		if (!h->blocked || hold_blocked(h))
			continue;
		h->blocked = false;
		c->parked--;
		/* Zero and not cancelled: no other hold of @r waits, no INTERRUPT took it. */
		if (atomic_fetch_sub_explicit(&r->park_wait, 1, memory_order_acq_rel) != 1)
			continue;
		r->admitted = true;
		rf__stats_parked(r, false);
		r->next = NULL;
		*ready = r;          /* in arrival order */
		ready = &r->next;
	}
}

/* A request naming @e finished. When it was the last: a FORGET held back for it may run
 * now (by the loop, rf__order_run_deferred, never inside the reply call that got us
 * here); without one the entry goes at once, so the table holds only the nodes requests
 * in service name (at most twice the queue depth), not every node the kernel remembers:
 * the buckets are fixed, and kept entries made their chains grow with the tree (a walk
 * of 10,000 files spent 3.5% of the server's time in this walk of a chain). @e's shard
 * is locked. */
static void ino_release(struct rf_order *o, struct rf_ino_entry *e)
{
	if (--e->users)
		return;
	if (e->forget_nlookup && !e->queued) {
		e->queued = true;
		spin_lock(&o->forget_lock);
		e->rnext = o->forget_ready;
		o->forget_ready = e;
		atomic_store_explicit(&o->forget_pending, true, memory_order_release);
		spin_unlock(&o->forget_lock);
	} else {
		ino_put_if_unused(o, e);
	}
}

bool rf__order_take_forget(struct rf_session *se, uint64_t *nodeid, uint64_t *nlookup)
{
	struct rf_order *o = se->order;

	while (atomic_load_explicit(&o->forget_pending, memory_order_acquire)) {
		struct rf_ino_entry *e;
		uint32_t si;

		spin_lock(&o->forget_lock);
		e = o->forget_ready;
		if (e)
			o->forget_ready = e->rnext;
		if (!o->forget_ready)
			atomic_store_explicit(&o->forget_pending, false, memory_order_relaxed);
		spin_unlock(&o->forget_lock);
		if (!e)
			break;
		/* Still ours: an entry on the list (queued) is never put back. Its shard is
		 * read once: after the put, @e may be free (and its slab page zeroed). */
		si = e->shard;
		lock_shard(o, si);
		e->queued = false;
		*nodeid = 0;
		if (!e->users) {
			/* A request that named it meanwhile takes it back otherwise. */
			*nodeid = e->nodeid;
			*nlookup = e->forget_nlookup;
			e->forget_nlookup = 0;
		}
		ino_put_if_unused(o, e);
		unlock_shard(o, si);
		if (*nodeid)
			return true;
	}
	return false;
}

void rf__order_run_deferred(struct rf_session *se)
{
	uint64_t nodeid, nlookup;

	while (rf__order_take_forget(se, &nodeid, &nlookup))
		rf__fs_forget(se, nodeid, nlookup);
}

/* On the request's loop: it passed its chain; decode and run it again (dispatch). */
static void resume_posted(struct rf_loop *loop, struct rf_post *p)
{
	struct rf_req *req = rf_container_of(p, struct rf_req, post);

	req->se->up->resume(req);
}

void rf__order_leave(struct rf_req *req)
{
	struct rf_order *o = req->se->order;
	struct rf_order_shard *s;
	struct rf_req *ready = NULL, *r, **pp;
	uint32_t si;
	int i;

	if (!RF_CHAINS || !req->entered)
		return;
	si = req->ushard;
	s = lock_shard(o, si);
	for (pp = &s->uniq_hash[ubucket(req->in.unique)]; *pp; pp = &(*pp)->uhnext) {
		if (*pp == req) {
			*pp = req->uhnext;
			break;
		}
	}
	req->uhnext = NULL;
	req->entered = false;
	if (req->ino[0] && (req->data.chain || req->data2.chain == &req->ino[0]->data)) {
		/* ino[0]'s data chain, in this same shard; ino[0] outlives it (users). */
		struct rf_chain *c = &req->ino[0]->data;

		if (req->data.chain)
			hold_unlink(&req->data);
		if (req->data2.chain == c)
			hold_unlink(&req->data2);
		wake_parked(c, &ready);
	}
	if (req->ino[0])
		ino_release(o, req->ino[0]);    /* in this shard: rf__order_enter put it there */
	req->ino[0] = NULL;
	unlock_shard(o, si);
	for (i = 0; i < 2; i++) {
		struct rf_fh_entry *e;

		if (!req->hold[i].chain)
			continue;
		e = fh_of(&req->hold[i]);
		si = e->shard;          /* once: after the put, @e may be free */
		lock_shard(o, si);
		hold_unlink(&req->hold[i]);
		if (i == 0 && req->hold[1].chain == &e->chain)
			hold_unlink(&req->hold[1]);     /* one fh held twice: both go at once */
		wake_parked(&e->chain, &ready);
		fh_put_if_unused(o, e);
		unlock_shard(o, si);
	}
	if (req->ino[1]) {
		si = req->ino[1]->shard;
		lock_shard(o, si);
		if (req->data2.chain) {
			/* COPY_FILE_RANGE's destination range, in ino[1]'s chain. */
			struct rf_chain *c = req->data2.chain;

			hold_unlink(&req->data2);
			wake_parked(c, &ready);
		}
		ino_release(o, req->ino[1]);
		unlock_shard(o, si);
		req->ino[1] = NULL;
	}

	/* Unblocked requests start from their loop's next round, not from inside the reply
	 * call that finished this one: a filesystem may hold its own lock across a reply. */
	while ((r = ready)) {
		struct rf_chan *ch = r->ch;
		uint64_t nodeid = r->in.nodeid;  /* once posted, @r may be run and reused */

		ready = r->next;
		r->next = NULL;
		r->post.fn = resume_posted;
		rf__loop_post(ch->loop, &r->post);
		if (ch->ops && ch->ops->resumed)   /* (unit tests make bare channels) */
			ch->ops->resumed(ch, nodeid);
	}
}

void rf__order_forget(struct rf_session *se, uint64_t nodeid, uint64_t nlookup)
{
	struct rf_order *o = se->order;
	uint32_t si = shard_of(nodeid);
	struct rf_order_shard *s;
	struct rf_ino_entry *e;
	bool now = true;

	s = lock_shard(o, si);
	for (e = s->ino_hash[bucket_of(nodeid)]; e; e = e->hnext) {
		if (e->nodeid == nodeid) {
			if (e->users) {
				/* Requests in service still name it: the last one runs it. */
				e->forget_nlookup += nlookup;
				now = false;
			} else {
				ino_put_if_unused(o, e);
			}
			break;
		}
	}
	unlock_shard(o, si);
	if (now)
		rf__fs_forget(se, nodeid, nlookup);
	else if (se->debug)
		rf__info("FORGET of %llu deferred: requests in service name it",
			 (unsigned long long)nodeid);
}
