/* SPDX-License-Identifier: MIT */
/*
 * interrupt.c - INTERRUPT: the kernel asks to abandon a request. The request is marked
 * (rf_req_interrupted) and acted on by its own loop: a request still parked in a chain is
 * answered EINTR without reaching the filesystem (a RELEASE still runs), a running one
 * gets the filesystem's interrupt hook and its backing I/O cancelled; either way it gets
 * exactly one reply. An INTERRUPT that arrives before its request is held until the
 * request arrives, or answered EAGAIN after RF_PENDING_INTR_MS (docs/kernel-notes.md
 * §5.2). Finding the request and holding the INTERRUPT are order.c's bookkeeping.
 */
#include <errno.h>

#include "internal.h"

#define RF_PENDING_INTR_MS 50       /* how long an early INTERRUPT waits for its request */

static void early_interrupt_expired(struct rf_loop *loop, void *data)
{
	struct rf_req *ir = data;
	struct rf_session *se = ir->se;

	if (!rf__order_unhold_interrupt(ir))
		return;
	/* The protocol's answer for "not (yet) known": the kernel queues the interrupt again
	 * if its request is still pending, and drops it otherwise. */
	if (se->debug)
		rf__info("INTERRUPT of %llu: request not seen within %d ms, EAGAIN",
			 (unsigned long long)ir->intr_target, RF_PENDING_INTR_MS);
	rf_reply_err(ir, -EAGAIN);
}

/*
 * On the interrupted request's loop. The INTERRUPT dropped its hold on the slot when it
 * posted this (the loop itself may finish the request first, and rf__req_finish waits for
 * the hold on this thread), so the slot may since have been recycled, even given to a
 * new request: act only if it still serves the request the INTERRUPT named.
 */
static void interrupt_posted(struct rf_loop *loop, struct rf_post *p)
{
	struct rf_req *r = rf_container_of(p, struct rf_req, intr_post);
	uint64_t unique = atomic_exchange(&r->intr_posted, 0);

	(void)loop;
	if (unique == r->in.unique && rf__req_state(r) >= RF_REQ_PARKED)
		rf__req_interrupt(r);
}

/* The INTERRUPT of @unique, for @r's loop; one post at a time (the node is in the slot). */
static void interrupt_post(struct rf_req *r, uint64_t unique)
{
	if (atomic_exchange(&r->intr_posted, unique) != 0)
		return;                 /* still queued: it will read the newer unique */
	r->intr_post.fn = interrupt_posted;
	rf__loop_post(r->ch->loop, &r->intr_post);
}

/* After an early INTERRUPT was taken by its request: on the INTERRUPT's own loop. */
static void early_interrupt_done(struct rf_loop *loop, struct rf_post *p)
{
	struct rf_req *ir = rf_container_of(p, struct rf_req, intr_post);

	(void)loop;
	rf_timer_cancel(&ir->intr_timer);
	rf_reply_none(ir);
}

void rf__interrupt(struct rf_req *ir, uint64_t target)
{
	struct rf_session *se = ir->se;
	struct rf_req *r = rf__order_find_or_hold(ir, target);

	rf__stats_count(se, RF_STAT_INTERRUPT);
	if (!r) {
		rf_timer_start(ir->ch->loop, &ir->intr_timer, RF_PENDING_INTR_MS,
			       early_interrupt_expired, ir);
		return;
	}
	if (se->debug)
		rf__info("INTERRUPT of %llu (%s)", (unsigned long long)target,
			 rf__opname(r->in.opcode));
	/* The interrupted request is acted on by its own loop: a parked one is answered
	 * EINTR, a running one gets its hook called and its backing I/O cancelled. With
	 * blocking handlers its loop may be inside that very handler: the hook is called
	 * from here, while the hold keeps the request's slot from being recycled. */
	if (rf__on_loop_thread(r->ch->loop)) {
		atomic_fetch_sub(&r->intr_refs, 1);
		rf__req_interrupt(r);
	} else if (se->blocking && rf__req_state(r) == RF_REQ_HANDLER) {
		rf__interrupt_hook(r);
		atomic_fetch_sub(&r->intr_refs, 1);
	} else {
		interrupt_post(r, target);
		atomic_fetch_sub(&r->intr_refs, 1);
	}
	rf_reply_none(ir);
}

void rf__interrupt_hook(struct rf_req *req)
{
	rf_interrupt_cb cb;

	atomic_thread_fence(memory_order_seq_cst);
	cb = __atomic_load_n(&req->intr_cb, __ATOMIC_ACQUIRE);
	if (cb && !atomic_exchange(&req->intr_called, true))
		cb(req, req->intr_data);
}

void rf__interrupt_early(struct rf_req *req, struct rf_req *ir)
{
	/* The kernel asked to interrupt this request before we read it. The INTERRUPT may
	 * have come on another loop (/dev/fuse, the request on a kernel queue): its timer
	 * and its slot are that loop's. */
	atomic_store(&req->interrupted, 1);
	if (!rf__on_loop_thread(ir->ch->loop)) {
		ir->intr_post.fn = early_interrupt_done;
		rf__loop_post(ir->ch->loop, &ir->intr_post);
		return;
	}
	rf_timer_cancel(&ir->intr_timer);
	rf_reply_none(ir);
}

void rf__req_interrupt(struct rf_req *req)
{
	enum rf_req_state st;

	if (rf__order_cancel_parked(req)) {
		req->state = RF_REQ_HANDLER;
		rf_reply_err(req, -EINTR);
		return;
	}
	st = rf__req_state(req);        /* a handler on another thread may be replying */
	if (st == RF_REQ_HANDLER)
		rf__interrupt_hook(req);
	if (st == RF_REQ_HANDLER || st == RF_REQ_REPLIED)
		rf__backing_cancel(req);
}

void rf__interrupt_flush(struct rf_session *se, struct rf_loop *loop)
{
	struct rf_req *ir, *list = rf__order_take_interrupts(se, loop);

	while ((ir = list)) {
		list = ir->next;
		ir->next = NULL;
		rf_timer_cancel(&ir->intr_timer);
		rf_reply_none(ir);
	}
}
