/* SPDX-License-Identifier: MIT */
/*
 * test_order_shards.c - the ordering chains under real concurrency: two loops, each on its
 * own thread, drive requests straight through order.c (enter, admit, leave, forget) on
 * shared fhs and nodes, the way two loop threads serving two kernel queues do. The chain
 * state is cut in shards with a spin lock each (order.c); what must hold whatever the
 * interleaving:
 *  - overlapping WRITEs never run at once, and the WRITEs of one loop run in the order
 *    that loop admitted them;
 *  - a RELEASE runs after every request on its fh, from either loop, has finished;
 *  - a FORGET of a node never runs while a request naming the node is in service;
 *  - every request runs exactly once; a request parked by one loop's chain is resumed on
 *    its own loop when the other loop finishes what it waited for.
 * The test plays the dispatch layer: its resume upcall is what rf__order_leave posts to
 * the parked request's loop. test_order.c covers each rule one step at a time through the
 * fake kernel (one loop); this file covers them under contention.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "internal.h"

#define LOOPS     2
#define ROUNDS    1000
#define PER_LOOP  12          /* requests each loop sends on the round's fh */
#define NODES     5           /* rounds reuse nodes: forgets meet later requests */
#define SLOTS     (PER_LOOP + 2)

struct node_state {
	atomic_int in_service;       /* requests naming the node between enter and leave */
};

struct fh_state {
	atomic_int running;          /* requests on the fh admitted or resumed, not finished */
	atomic_int writes_running;
	atomic_int ran;              /* how many ran in this round */
};

struct tloop;

struct treq {
	struct rf_req req;           /* first: the resume upcall gets &req */
	struct tloop *tl;
	bool busy, running;
	uint32_t write_seq;          /* this loop's order among its WRITEs (0: not a WRITE) */
};

struct tloop {
	int id;
	struct rf_loop *loop;
	struct rf_chan ch;
	struct treq slot[SLOTS];
	uint32_t last_write_run;     /* write_seq of the last WRITE that ran */
	unsigned int seed;
};

static struct rf_session *se;
static struct node_state nodes[NODES + 1];
static struct fh_state fhs;      /* the round's fh */
static pthread_barrier_t barrier;
static atomic_int failures, forgets_run, resumes;
static atomic_ullong unique_ctr;
static char failure[256];
static const struct rf_upcalls *real_up;

static void fail(const char *what)
{
	if (atomic_fetch_add(&failures, 1) == 0)
		snprintf(failure, sizeof(failure), "%s", what);
}

static void forget_cb(void *userdata, uint64_t nodeid, uint64_t nlookup)
{
	(void)userdata;
	(void)nlookup;
	if (nodeid > NODES)
		return fail("forget of a node never named");
	if (atomic_load(&nodes[nodeid].in_service) != 0)
		fail("FORGET ran while a request naming its node was in service");
	atomic_fetch_add(&forgets_run, 1);
}

/* A request passed its chain (admit said 1, or it was resumed): check and mark it. */
static void run(struct treq *t)
{
	struct rf_req *req = &t->req;

	if (t->running)
		return fail("a request ran twice");
	t->running = true;
	if (req->in.opcode == FUSE_RELEASE && atomic_load(&fhs.running) != 0)
		fail("RELEASE ran while requests on its fh were running");
	if (req->in.opcode == FUSE_WRITE) {
		if (atomic_fetch_add(&fhs.writes_running, 1) != 0)
			fail("overlapping WRITEs ran at once");
		if (t->write_seq <= t->tl->last_write_run)
			fail("a loop's WRITEs ran out of their arrival order");
		t->tl->last_write_run = t->write_seq;
	}
	atomic_fetch_add(&fhs.running, 1);
	atomic_fetch_add(&fhs.ran, 1);
}

/* What dispatch's resume would do: on the request's own loop, run it. */
static void resume_cb(struct rf_req *req)
{
	struct treq *t = (struct treq *)req;

	if (t->tl->loop != req->ch->loop)
		fail("resumed on another loop");
	req->state = RF_REQ_HANDLER;
	atomic_fetch_add(&resumes, 1);
	if (rf__order_admit(req, NULL) != 1)    /* resumed: the checks already passed */
		fail("a resumed request was not admitted");
	run(t);
}

static struct rf_upcalls test_up;

static void finish(struct treq *t)
{
	struct rf_req *req = &t->req;

	if (req->in.opcode == FUSE_WRITE)
		atomic_fetch_sub(&fhs.writes_running, 1);
	atomic_fetch_sub(&fhs.running, 1);
	/* Before leave: a FORGET the leave lets go must find the node idle. */
	atomic_fetch_sub(&nodes[req->in.nodeid].in_service, 1);
	req->state = RF_REQ_REPLIED;
	rf__order_leave(req);
	req->state = RF_REQ_FREE;
	t->busy = t->running = false;
}

/* Enter and admit one request; it runs now or is parked until resumed. */
static void issue(struct tloop *tl, struct treq *t, uint32_t opcode, uint64_t fh,
		  uint64_t node, uint32_t write_seq)
{
	struct rf_req *req = &t->req;
	struct rf_order_spec spec;

	memset(&spec, 0, sizeof(spec));
	memset(&req->in, 0, sizeof(req->in));
	req->in.opcode = opcode;
	req->in.nodeid = node;
	req->in.unique = atomic_fetch_add(&unique_ctr, 2) + 2;
	req->state = RF_REQ_HANDLER;
	atomic_store(&req->interrupted, 0);
	t->busy = true;
	t->running = false;
	t->write_seq = write_seq;
	atomic_fetch_add(&nodes[node].in_service, 1);
	if (rf__order_enter(req))
		fail("an INTERRUPT appeared from nowhere");
	spec.fh[0] = fh;
	spec.role[0] = opcode == FUSE_RELEASE ? RF_HOLD_RELEASE :
		       opcode == FUSE_WRITE ? RF_HOLD_WRITE : RF_HOLD_READ;
	spec.off[0] = 0;
	spec.len[0] = 4096;
	if (rf__order_admit(req, &spec) == 1)
		run(t);
	else if (req->state != RF_REQ_PARKED)
		fail("admit neither ran nor parked (EBADF on an open fh?)");
	(void)tl;
}

/* One step of a loop: its posted resumes, the forgets let go, and now and then the
 * finish of a running request (so that requests overlap across the loops). */
static void step(struct tloop *tl)
{
	int i;

	rf_loop_run_once(tl->loop, 0);
	rf__order_run_deferred(se);
	for (i = 0; i < SLOTS; i++) {
		struct treq *t = &tl->slot[i];

		if (t->busy && t->running && rand_r(&tl->seed) % 3 == 0)
			finish(t);
	}
	if (rand_r(&tl->seed) % 4 == 0)
		sched_yield();
}

static int busy_count(struct tloop *tl)
{
	int i, n = 0;

	for (i = 0; i < SLOTS; i++)
		n += tl->slot[i].busy;
	return n;
}

static void drain(struct tloop *tl)
{
	long spins = 0;

	while (busy_count(tl) && spins++ < 50000000L)
		step(tl);
	if (busy_count(tl))
		fail("requests never finished (a parked one was not resumed)");
}

static void *loop_main(void *arg)
{
	struct tloop *tl = arg;
	uint32_t write_seq = 0;
	int r, i;

	for (r = 0; r < ROUNDS; r++) {
		uint64_t fh = 1000 + (uint64_t)r * 7;      /* a new fh, so a new shard */
		uint64_t node = 1 + (uint64_t)r % NODES;

		if (tl->id == 0) {
			struct rf_req opener;

			memset(&opener, 0, sizeof(opener));
			opener.se = se;
			opener.in.opcode = FUSE_OPEN;
			rf__order_opened(&opener, fh, node);
			atomic_store(&fhs.ran, 0);
		}
		pthread_barrier_wait(&barrier);
		for (i = 0; i < PER_LOOP; i++) {
			bool w = rand_r(&tl->seed) % 2;

			issue(tl, &tl->slot[i], w ? FUSE_WRITE : FUSE_READ, fh, node,
			      w ? ++write_seq : 0);
			step(tl);
		}
		/* Loop 1 forgets the node while requests on it may be in service. */
		if (tl->id == 1)
			rf__order_forget(se, node, 1);
		pthread_barrier_wait(&barrier);
		/* Every request on the fh has arrived: the RELEASE goes last, from loop 0,
		 * while loop 1's requests may still run or wait. */
		if (tl->id == 0)
			issue(tl, &tl->slot[PER_LOOP], FUSE_RELEASE, fh, node, 0);
		drain(tl);
		pthread_barrier_wait(&barrier);
		if (tl->id == 0 && atomic_load(&fhs.ran) != LOOPS * PER_LOOP + 1)
			fail("not every request of the round ran exactly once");
		if (atomic_load(&failures))
			break;
		pthread_barrier_wait(&barrier);
	}
	return NULL;
}

Test(order_shards, two_loops_keep_release_forget_and_write_order, .timeout = 10)
{
	static struct tloop tls[LOOPS];
	struct rf_ops ops;
	pthread_t th[LOOPS];
	int i, j;

	memset(&ops, 0, sizeof(ops));
	ops.forget = forget_cb;
	cr_assert_eq(rf_session_new(&ops, sizeof(ops), NULL, NULL, &se), 0);
	real_up = se->up;
	test_up = *real_up;
	test_up.resume = resume_cb;
	se->up = &test_up;
	pthread_barrier_init(&barrier, NULL, LOOPS);
	for (i = 0; i < LOOPS; i++) {
		struct tloop *tl = &tls[i];

		tl->id = i;
		tl->seed = 12345u + (unsigned)i;
		cr_assert_eq(rf_loop_new(&tl->loop), 0);
		tl->ch.se = se;
		tl->ch.loop = tl->loop;
		for (j = 0; j < SLOTS; j++) {
			tl->slot[j].tl = tl;
			tl->slot[j].req.se = se;
			tl->slot[j].req.ch = &tl->ch;
		}
	}
	for (i = 0; i < LOOPS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, loop_main, &tls[i]), 0);
	for (i = 0; i < LOOPS; i++)
		pthread_join(th[i], NULL);
	cr_expect_eq(atomic_load(&failures), 0, "%s", failure);
	cr_expect_gt(atomic_load(&forgets_run), 0, "no FORGET ever ran");
	cr_expect_gt(atomic_load(&resumes), 0, "no request was ever parked and resumed");
	se->up = real_up;
	rf_session_free(se);
	for (i = 0; i < LOOPS; i++)
		rf_loop_free(tls[i].loop);
	pthread_barrier_destroy(&barrier);
}
