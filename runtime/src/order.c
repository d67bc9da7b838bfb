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
 *  - a request naming an fh that is not open (released, or never opened) gets EBADF;
 *  - the filesystem's forget runs once no request in service names the inode.
 * "Finished" is rf__req_finish: the reply was written and the last backing CQE reaped.
 * The session's unique hash and the INTERRUPTs waiting for their request live here too, so
 * interrupt.c finds a request (or holds an INTERRUPT) in one step under the lock.
 *
 * State is per session, under se->order_lock, which is held only inside these functions:
 * never across a handler, a reply or a forget. Entries come from free lists that grow in
 * chunks, so a request in steady state allocates nothing; every step is O(1) except the
 * overlap scans, which walk the fh's in-flight list (bounded by the queue depth).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define RF_ORDER_BUCKETS 1024       /* power of two; chains stay short at any queue depth */

/* -DRF_NO_CHAINS (the benchmark's build/nochains): measure what the chains cost. Requests
 * are neither registered nor ordered (enter, admit, leave and opened do nothing), so none
 * of the guarantees above hold, not even EBADF or the teardown's releases: never ship it. */
#ifdef RF_NO_CHAINS
#define RF_CHAINS 0
#else
#define RF_CHAINS 1
#endif

/* An open file handle value, with every request in service that names it. */
struct rf_fh_entry {
	struct rf_fh_entry *hnext;
	uint64_t fh;
	uint32_t opens;                  /* OPEN replies not yet matched by a RELEASE */
	uint32_t dir_opens;              /* how many of them were OPENDIRs */
	uint64_t nodeid;                 /* the inode of the last open (teardown releases) */
	uint32_t parked;                 /* holds in the list whose request is PARKED */
	struct rf_hold *head, *tail;     /* in arrival order */
};

/* An inode named by requests in service, and the forgets waiting for them. */
struct rf_ino_entry {
	struct rf_ino_entry *hnext;
	uint64_t nodeid;
	uint32_t users;                  /* requests in service naming it */
	bool queued;                     /* on forget_ready */
	uint64_t forget_nlookup;         /* deferred FORGETs, summed */
	struct rf_ino_entry *rnext;      /* forget_ready list */
};

struct rf_order {
	struct rf_fh_entry *fh_hash[RF_ORDER_BUCKETS];
	struct rf_ino_entry *ino_hash[RF_ORDER_BUCKETS];
	struct rf_req *uniq_hash[RF_ORDER_BUCKETS];
	struct rf_fh_entry *fh_free;
	struct rf_ino_entry *ino_free;
	void *chunks;                    /* allocations behind the free lists */
	uint64_t seq;
	struct rf_req *early_intr;       /* INTERRUPTs whose request has not arrived */
	struct rf_ino_entry *forget_ready; /* deferred forgets free to run (by the loop) */
	atomic_bool forget_pending;      /* forget_ready is not empty (read without the lock) */
	bool no_open;                    /* fh 0 without OPEN is legal (NO_OPEN_SUPPORT) */
};

static inline uint32_t hash64(uint64_t v)
{
	v ^= v >> 33;
	v *= 0xff51afd7ed558ccdull;
	v ^= v >> 33;
	return (uint32_t)v & (RF_ORDER_BUCKETS - 1);
}

int rf__order_init(struct rf_session *se)
{
	se->order = calloc(1, sizeof(*se->order));
	if (!se->order)
		return -ENOMEM;
	pthread_mutex_init(&se->order_lock, NULL);
	return 0;
}

void rf__order_free(struct rf_session *se)
{
	void *c, *next;

	if (!se->order)
		return;
	for (c = se->order->chunks; c; c = next) {
		next = *(void **)c;
		free(c);
	}
	free(se->order);
	se->order = NULL;
	pthread_mutex_destroy(&se->order_lock);
}

/* Grow a free list by one chunk. Rare: only when more entries are live than ever before. */
static void *grow(struct rf_order *o, size_t size, size_t n)
{
	char *chunk = malloc(sizeof(void *) + size * n);

	if (!chunk)
		return NULL;
	*(void **)chunk = o->chunks;
	o->chunks = chunk;
	return chunk + sizeof(void *);
}

static struct rf_fh_entry *fh_find(struct rf_order *o, uint64_t fh, bool create)
{
	struct rf_fh_entry **pp = &o->fh_hash[hash64(fh)], *e;

	for (e = *pp; e; e = e->hnext)
		if (e->fh == fh)
			return e;
	if (!create)
		return NULL;
	if (!o->fh_free) {
		struct rf_fh_entry *c = grow(o, sizeof(*c), 64);
		size_t i;

		if (!c)
			return NULL;
		for (i = 0; i < 64; i++) {
			c[i].hnext = o->fh_free;
			o->fh_free = &c[i];
		}
	}
	e = o->fh_free;
	o->fh_free = e->hnext;
	memset(e, 0, sizeof(*e));
	e->fh = fh;
	e->hnext = *pp;
	*pp = e;
	return e;
}

static void fh_put_if_unused(struct rf_order *o, struct rf_fh_entry *e)
{
	struct rf_fh_entry **pp;

	if (e->opens || e->head)
		return;
	for (pp = &o->fh_hash[hash64(e->fh)]; *pp != e; pp = &(*pp)->hnext)
		;
	*pp = e->hnext;
	e->hnext = o->fh_free;
	o->fh_free = e;
}

static struct rf_ino_entry *ino_get(struct rf_order *o, uint64_t nodeid)
{
	struct rf_ino_entry **pp = &o->ino_hash[hash64(nodeid)], *e;

	for (e = *pp; e; e = e->hnext)
		if (e->nodeid == nodeid)
			return e;
	if (!o->ino_free) {
		struct rf_ino_entry *c = grow(o, sizeof(*c), 64);
		size_t i;

		if (!c)
			return NULL;
		for (i = 0; i < 64; i++) {
			c[i].hnext = o->ino_free;
			o->ino_free = &c[i];
		}
	}
	e = o->ino_free;
	o->ino_free = e->hnext;
	memset(e, 0, sizeof(*e));
	e->nodeid = nodeid;
	e->hnext = *pp;
	*pp = e;
	return e;
}

static void ino_put_if_unused(struct rf_order *o, struct rf_ino_entry *e)
{
	struct rf_ino_entry **pp;

	if (e->users || e->forget_nlookup)
		return;
	for (pp = &o->ino_hash[hash64(e->nodeid)]; *pp != e; pp = &(*pp)->hnext)
		;
	*pp = e->hnext;
	e->hnext = o->ino_free;
	o->ino_free = e;
}

static bool ranges_overlap(const struct rf_hold *a, const struct rf_hold *b)
{
	return a->off < b->end && b->off < a->end;
}

/* Must @h wait for something that arrived before it on its fh? */
static bool hold_blocked(const struct rf_hold *h)
{
	const struct rf_hold *x;

	for (x = h->fh->head; x && x != h; x = x->next) {
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

static bool req_blocked(const struct rf_req *req)
{
	return (req->hold[0].fh && hold_blocked(&req->hold[0])) ||
	       (req->hold[1].fh && hold_blocked(&req->hold[1]));
}

static void hold_unlink(struct rf_hold *h)
{
	struct rf_fh_entry *e = h->fh;

	if (h->prev)
		h->prev->next = h->next;
	else
		e->head = h->next;
	if (h->next)
		h->next->prev = h->prev;
	else
		e->tail = h->prev;
	h->prev = h->next = NULL;
	h->fh = NULL;
}

static void uniq_remove(struct rf_order *o, struct rf_req *req)
{
	struct rf_req **pp;

	for (pp = &o->uniq_hash[hash64(req->in.unique)]; *pp; pp = &(*pp)->uhnext) {
		if (*pp == req) {
			*pp = req->uhnext;
			break;
		}
	}
	req->uhnext = NULL;
}

/* An INTERRUPT that arrived before @req: take it. Lock held. */
static struct rf_req *take_early_interrupt(struct rf_order *o, uint64_t unique)
{
	struct rf_req **pp, *ir;

	for (pp = &o->early_intr; (ir = *pp); pp = &ir->next) {
		if (ir->intr_target == unique) {
			*pp = ir->next;
			ir->next = NULL;
			return ir;
		}
	}
	return NULL;
}

struct rf_req *rf__order_enter(struct rf_req *req)
{
	struct rf_session *se = req->se;
	struct rf_order *o = se->order;
	struct rf_req *early = NULL;
	uint32_t b;

	if (!RF_CHAINS)
		return NULL;
	req->admitted = false;
	req->nodeid2 = 0;
	memset(req->hold, 0, sizeof(req->hold));
	req->ino[0] = req->ino[1] = NULL;
	pthread_mutex_lock(&se->order_lock);
	req->seq = ++o->seq;
	b = hash64(req->in.unique);
	req->uhnext = o->uniq_hash[b];
	o->uniq_hash[b] = req;
	if (req->in.nodeid) {
		req->ino[0] = ino_get(o, req->in.nodeid);
		if (req->ino[0])
			req->ino[0]->users++;
	}
	if (o->early_intr)
		early = take_early_interrupt(o, req->in.unique);
	req->entered = true;
	pthread_mutex_unlock(&se->order_lock);
	return early;
}

/* Set up a hold; the caller holds the lock. Returns false if the fh is not open. */
static bool hold_add(struct rf_order *o, struct rf_req *req, int i, uint64_t fh, int role,
		     uint64_t off, uint64_t len)
{
	struct rf_fh_entry *e = fh_find(o, fh, o->no_open && fh == 0);
	struct rf_hold *h = &req->hold[i];

	if (!e || (e->opens == 0 && !(o->no_open && fh == 0)))
		return false;
	h->fh = e;
	h->req = req;
	h->role = (uint8_t)role;
	h->off = off;
	h->end = len > UINT64_MAX - off ? UINT64_MAX : off + len;
	h->next = NULL;
	h->prev = e->tail;
	if (e->tail)
		e->tail->next = h;
	else
		e->head = h;
	e->tail = h;
	return true;
}

int rf__order_admit(struct rf_req *req, const struct rf_order_spec *spec)
{
	struct rf_session *se = req->se;
	struct rf_order *o = se->order;
	bool bad = false, blocked, intr;
	int i;

	if (!RF_CHAINS || req->admitted)
		return 1;               /* resumed after parking: checks already passed */
	pthread_mutex_lock(&se->order_lock);
	o->no_open = !!(se->conn.want & (RF_CAP_NO_OPEN_SUPPORT | RF_CAP_NO_OPENDIR_SUPPORT));
	if (spec->nodeid2 && spec->nodeid2 != req->in.nodeid) {
		req->ino[1] = ino_get(o, spec->nodeid2);
		if (req->ino[1])
			req->ino[1]->users++;
	}
	for (i = 0; i < 2 && !bad; i++) {
		if (spec->role[i] != RF_HOLD_NONE)
			bad = !hold_add(o, req, i, spec->fh[i], spec->role[i], spec->off[i],
					spec->len[i]);
	}
	if (!bad && spec->role[0] == RF_HOLD_RELEASE) {
		/* From now on the fh is gone for new requests; earlier ones still finish. */
		req->hold[0].fh->opens--;
		if (req->in.opcode == FUSE_RELEASEDIR && req->hold[0].fh->dir_opens)
			req->hold[0].fh->dir_opens--;
	}
	blocked = !bad && req_blocked(req);
	/* Interrupted before it arrived (rf__order_enter) and about to wait in the chain:
	 * answered EINTR instead, as a parked request is (a RELEASE still runs). */
	intr = blocked && atomic_load(&req->interrupted) && spec->role[0] != RF_HOLD_RELEASE;
	if (intr) {
		blocked = false;
		req->admitted = true;   /* never runs; its holds go when its EINTR is finished */
	} else if (blocked) {
		req->state = RF_REQ_PARKED;
		rf__stats_parked(req, true);
		for (i = 0; i < 2; i++)
			if (req->hold[i].fh)
				req->hold[i].fh->parked++;
	} else if (!bad) {
		req->admitted = true;
	}
	pthread_mutex_unlock(&se->order_lock);
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
	if (blocked && se->debug)
		rf__info("%s unique %llu parked behind earlier requests on fh %llu",
			 rf__opname(req->in.opcode), (unsigned long long)req->in.unique,
			 (unsigned long long)spec->fh[0]);
	return blocked ? 0 : 1;
}

void rf__order_opened(struct rf_req *req, uint64_t fh, uint64_t nodeid)
{
	struct rf_session *se = req->se;
	struct rf_fh_entry *e;

	if (!RF_CHAINS)
		return;
	pthread_mutex_lock(&se->order_lock);
	e = fh_find(se->order, fh, true);
	if (e) {
		e->opens++;
		e->nodeid = nodeid;
		if (req->in.opcode == FUSE_OPENDIR)
			e->dir_opens++;
	}
	pthread_mutex_unlock(&se->order_lock);
	if (!e)
		rf__err("out of memory tracking fh %llu: its requests will get EBADF",
			(unsigned long long)fh);
}

/* Make parked requests on @e that may go now runnable; append them to @ready. */
static void wake_parked(struct rf_fh_entry *e, struct rf_req **ready)
{
	struct rf_hold *h;

	while (*ready)
		ready = &(*ready)->next;
	if (!e->parked)
		return;
	for (h = e->head; h; h = h->next) {
		struct rf_req *r = h->req;
		int i;

		if (r->state != RF_REQ_PARKED || r->admitted || req_blocked(r))
			continue;
		r->admitted = true;
		rf__stats_parked(r, false);
		for (i = 0; i < 2; i++)
			if (r->hold[i].fh)
				r->hold[i].fh->parked--;
		r->next = NULL;
		*ready = r;          /* in arrival order */
		ready = &r->next;
	}
}

/* The last request naming @e finished: a FORGET held back for it may run now. It is run
 * by the loop (rf__order_run_deferred), never inside the reply call that got us here. */
static void ino_release(struct rf_order *o, struct rf_ino_entry *e)
{
	if (--e->users == 0 && e->forget_nlookup && !e->queued) {
		e->queued = true;
		e->rnext = o->forget_ready;
		o->forget_ready = e;
		atomic_store_explicit(&o->forget_pending, true, memory_order_release);
	}
	ino_put_if_unused(o, e);
}

void rf__order_run_deferred(struct rf_session *se)
{
	struct rf_order *o = se->order;

	while (atomic_load_explicit(&o->forget_pending, memory_order_acquire)) {
		struct rf_ino_entry *e;
		uint64_t nodeid = 0, nlookup = 0;

		pthread_mutex_lock(&se->order_lock);
		e = o->forget_ready;
		if (e) {
			o->forget_ready = e->rnext;
			e->queued = false;
			if (!e->users) {
				/* A request that named it meanwhile takes it back otherwise. */
				nodeid = e->nodeid;
				nlookup = e->forget_nlookup;
				e->forget_nlookup = 0;
			}
			ino_put_if_unused(o, e);
		}
		if (!o->forget_ready)
			atomic_store_explicit(&o->forget_pending, false, memory_order_relaxed);
		pthread_mutex_unlock(&se->order_lock);
		if (nodeid && se->ops.forget)
			se->ops.forget(se->userdata, nodeid, nlookup);
	}
}

/* On the request's loop: it passed its chain; decode and run it again (dispatch). */
static void resume_posted(struct rf_loop *loop, struct rf_post *p)
{
	struct rf_req *req = rf_container_of(p, struct rf_req, post);

	req->se->up->resume(req);
}

void rf__order_leave(struct rf_req *req)
{
	struct rf_session *se = req->se;
	struct rf_order *o = se->order;
	struct rf_req *ready = NULL, *r;
	struct rf_fh_entry *fhs[2] = { NULL, NULL };
	int i;

	if (!RF_CHAINS || !req->entered)
		return;
	pthread_mutex_lock(&se->order_lock);
	req->entered = false;
	uniq_remove(o, req);
	for (i = 0; i < 2; i++) {
		struct rf_hold *h = &req->hold[i];

		if (!h->fh)
			continue;
		fhs[i] = h->fh;
		if (req->state == RF_REQ_PARKED && !req->admitted)
			h->fh->parked--;
		hold_unlink(h);
	}
	for (i = 0; i < 2; i++) {
		if (!fhs[i] || (i == 1 && fhs[1] == fhs[0]))
			continue;
		wake_parked(fhs[i], &ready);
		fh_put_if_unused(o, fhs[i]);
	}
	for (i = 0; i < 2; i++) {
		if (req->ino[i])
			ino_release(o, req->ino[i]);
		req->ino[i] = NULL;
	}
	pthread_mutex_unlock(&se->order_lock);

	/* Unblocked requests start from their loop's next round, not from inside the reply
	 * call that finished this one: a filesystem may hold its own lock across a reply. */
	while ((r = ready)) {
		ready = r->next;
		r->next = NULL;
		r->post.fn = resume_posted;
		rf__loop_post(r->ch->loop, &r->post);
	}
}

void rf__order_forget(struct rf_session *se, uint64_t nodeid, uint64_t nlookup)
{
	struct rf_order *o = se->order;
	struct rf_ino_entry **pp, *e;
	bool now = true;

	pthread_mutex_lock(&se->order_lock);
	for (pp = &o->ino_hash[hash64(nodeid)]; (e = *pp); pp = &e->hnext) {
		if (e->nodeid == nodeid) {
			if (e->users) {
				/* Requests in service still name it: the last one runs it. */
				e->forget_nlookup += nlookup;
				now = false;
			}
			break;
		}
	}
	pthread_mutex_unlock(&se->order_lock);
	if (now && se->ops.forget)
		se->ops.forget(se->userdata, nodeid, nlookup);
	else if (!now && se->debug)
		rf__info("FORGET of %llu deferred: requests in service name it",
			 (unsigned long long)nodeid);
}

/* ---- INTERRUPT bookkeeping (acted on by interrupt.c) ----------------------------------- */

struct rf_req *rf__order_find_or_hold(struct rf_req *ir, uint64_t target)
{
	struct rf_session *se = ir->se;
	struct rf_order *o = se->order;
	struct rf_req *r;

	pthread_mutex_lock(&se->order_lock);
	for (r = o->uniq_hash[hash64(target)]; r; r = r->uhnext)
		if (r->in.unique == target)
			break;
	if (r) {
		atomic_store(&r->interrupted, 1);
	} else {
		ir->intr_target = target;
		ir->next = o->early_intr;
		o->early_intr = ir;
	}
	pthread_mutex_unlock(&se->order_lock);
	return r;
}

int rf__order_unhold_interrupt(struct rf_req *ir)
{
	struct rf_session *se = ir->se;
	struct rf_req **pp;
	int found = 0;

	pthread_mutex_lock(&se->order_lock);
	for (pp = &se->order->early_intr; *pp; pp = &(*pp)->next) {
		if (*pp == ir) {
			*pp = ir->next;
			ir->next = NULL;
			found = 1;
			break;
		}
	}
	pthread_mutex_unlock(&se->order_lock);
	return found;
}

struct rf_req *rf__order_take_interrupts(struct rf_session *se, struct rf_loop *loop)
{
	struct rf_req **pp, *ir, *list = NULL;

	pthread_mutex_lock(&se->order_lock);
	for (pp = &se->order->early_intr; (ir = *pp);) {
		if (ir->ch->loop == loop) {
			*pp = ir->next;
			ir->next = list;
			list = ir;
		} else {
			pp = &ir->next;
		}
	}
	pthread_mutex_unlock(&se->order_lock);
	return list;
}

int rf__order_cancel_parked(struct rf_req *req)
{
	struct rf_session *se = req->se;
	int parked, i;

	pthread_mutex_lock(&se->order_lock);
	/* A parked RELEASE is not cancelled: it must still run after its I/O, or the
	 * filesystem's handle is never released (the kernel has let go of it). */
	parked = req->state == RF_REQ_PARKED && !req->admitted &&
		 req->in.opcode != FUSE_RELEASE && req->in.opcode != FUSE_RELEASEDIR;
	if (parked) {
		/* It never runs now; its holds go when its EINTR reply is finished. */
		req->admitted = true;
		rf__stats_parked(req, false);
		for (i = 0; i < 2; i++)
			if (req->hold[i].fh)
				req->hold[i].fh->parked--;
	}
	pthread_mutex_unlock(&se->order_lock);
	return parked;
}

/* ---- teardown -------------------------------------------------------------------------- */

int rf__order_teardown_releases(struct rf_session *se, struct rf_teardown_release *out,
				int max)
{
	struct rf_order *o = se->order;
	int n = 0;
	uint32_t b;

	pthread_mutex_lock(&se->order_lock);
	for (b = 0; b < RF_ORDER_BUCKETS && n < max; b++) {
		struct rf_fh_entry *e;

		for (e = o->fh_hash[b]; e && n < max; e = e->hnext) {
			if (!e->opens)
				continue;
			out[n].fh = e->fh;
			out[n].nodeid = e->nodeid;
			out[n].dir = e->dir_opens > 0;
			n++;
		}
	}
	pthread_mutex_unlock(&se->order_lock);
	return n;
}

