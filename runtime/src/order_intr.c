/* SPDX-License-Identifier: MIT */
/*
 * order_intr.c - the ordering chains' INTERRUPT bookkeeping (acted on by interrupt.c):
 * finding a request in service by its unique, holding an INTERRUPT that came before its
 * request, cancelling a parked request; and the handles teardown must release. The state
 * is order.c's (order_shard.h); its locking rules are in order.c's header comment.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "order_shard.h"

struct rf_req *rf__order_take_early(struct rf_order *o, uint64_t unique)
{
	struct rf_req **pp, *ir;

	for (pp = &o->early_intr; (ir = *pp); pp = &ir->next) {
		if (ir->intr_target == unique) {
			*pp = ir->next;
			ir->next = NULL;
			atomic_fetch_sub_explicit(&o->early_count, 1, memory_order_relaxed);
			return ir;
		}
	}
	return NULL;
}

/* ---- INTERRUPT bookkeeping (acted on by interrupt.c) ----------------------------------- */

struct rf_req *rf__order_find_or_hold(struct rf_req *ir, uint64_t target)
{
	struct rf_order *o = ir->se->order;
	uint32_t si, b = ubucket(target);
	struct rf_req *r = NULL;

	/* A request's unique is in its node's shard, which an INTERRUPT does not name: every
	 * shard is locked (in order; INTERRUPTs are rare) until the INTERRUPT is held, so the
	 * request cannot enter (rf__order_enter) between the look and the hold. */
	for (si = 0; si < RF_ORDER_SHARDS; si++)
		lock_shard(o, si);
	for (si = 0; si < RF_ORDER_SHARDS && !r; si++)
		for (r = o->shard[si].uniq_hash[b]; r; r = r->uhnext)
			if (r->in.unique == target)
				break;
	if (r) {
		atomic_store(&r->interrupted, 1);
		atomic_fetch_add(&r->intr_refs, 1);     /* the caller drops it */
	} else {
		spin_lock(&o->intr_lock);
		ir->intr_target = target;
		ir->next = o->early_intr;
		o->early_intr = ir;
		atomic_fetch_add_explicit(&o->early_count, 1, memory_order_relaxed);
		spin_unlock(&o->intr_lock);
	}
	for (si = RF_ORDER_SHARDS; si-- > 0;)
		unlock_shard(o, si);
	return r;
}

int rf__order_unhold_interrupt(struct rf_req *ir)
{
	struct rf_order *o = ir->se->order;
	struct rf_req **pp;
	int found = 0;

	spin_lock(&o->intr_lock);
	for (pp = &o->early_intr; *pp; pp = &(*pp)->next) {
		if (*pp == ir) {
			*pp = ir->next;
			ir->next = NULL;
			atomic_fetch_sub_explicit(&o->early_count, 1, memory_order_relaxed);
			found = 1;
			break;
		}
	}
	spin_unlock(&o->intr_lock);
	return found;
}

struct rf_req *rf__order_take_interrupts(struct rf_session *se, struct rf_loop *loop)
{
	struct rf_order *o = se->order;
	struct rf_req **pp, *ir, *list = NULL;

	spin_lock(&o->intr_lock);
	for (pp = &o->early_intr; (ir = *pp);) {
		if (ir->ch->loop == loop) {
			*pp = ir->next;
			ir->next = list;
			list = ir;
			atomic_fetch_sub_explicit(&o->early_count, 1, memory_order_relaxed);
		} else {
			pp = &ir->next;
		}
	}
	spin_unlock(&o->intr_lock);
	return list;
}

/* On @req's loop, which alone moves it out of PARKED (resume, or this). */
int rf__order_cancel_parked(struct rf_req *req)
{
	unsigned v;

	/* A parked RELEASE is not cancelled: it must still run after its I/O, or the
	 * filesystem's handle is never released (the kernel has let go of it). */
	if (rf__req_state(req) != RF_REQ_PARKED || req->in.opcode == FUSE_RELEASE ||
	    req->in.opcode == FUSE_RELEASEDIR)
		return 0;
	/* Cancelled only while a hold still waits: the waker that counts park_wait down
	 * to zero resumes it instead, and the two are decided by this one word. */
	v = atomic_load_explicit(&req->park_wait, memory_order_acquire);
	do {
		if (!v || (v & RF_PARK_CANCELLED))
			return 0;
	} while (!atomic_compare_exchange_weak_explicit(&req->park_wait, &v,
							v | RF_PARK_CANCELLED,
							memory_order_acq_rel,
							memory_order_acquire));
	/* It never runs now; its holds go when its EINTR reply is finished. */
	req->admitted = true;
	rf__stats_parked(req, false);
	return 1;
}

/* ---- teardown -------------------------------------------------------------------------- */

int rf__order_teardown_releases(struct rf_session *se, struct rf_teardown_release *out,
				int max)
{
	struct rf_order *o = se->order;
	int n = 0;
	uint32_t si, b;

	for (si = 0; si < RF_ORDER_SHARDS && n < max; si++) {
		struct rf_order_shard *s = lock_shard(o, si);

		for (b = 0; b < RF_ORDER_BUCKETS && n < max; b++) {
			struct rf_fh_entry *e;

			for (e = s->fh_hash[b]; e && n < max; e = e->hnext) {
				if (!e->opens)
					continue;
				out[n].fh = e->fh;
				out[n].nodeid = e->nodeid;
				out[n].dir = e->dir_opens > 0;
				n++;
			}
		}
		unlock_shard(o, si);
	}
	return n;
}
