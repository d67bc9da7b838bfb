/* SPDX-License-Identifier: MIT */
/*
 * test_scratch.c - rf_req_scratch: each request's own memory, from its handler to its last
 * backing callback, zeroed as asked, never shared with another request in flight.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "fake_kernel.h"

struct state {
	uint64_t unique;
	unsigned char tail[64];
};

static struct fk fk;
static atomic_int mismatches, not_zeroed, too_big_ok;

static int slow_call(void *arg)
{
	(void)arg;
	usleep(20 * 1000);
	return 0;
}

/* The backing callback: the request's scratch still holds what its handler put there. */
static void check_state(struct rf_req *req, int res, void *data)
{
	struct state *st = data;
	unsigned char want[sizeof(st->tail)];

	memset(want, (int)(rf_req_unique(req) & 0xff), sizeof(want));
	if (res != 0 || st != rf_req_scratch(req, 0) || st->unique != rf_req_unique(req) ||
	    memcmp(st->tail, want, sizeof(want)))
		atomic_fetch_add(&mismatches, 1);
	rf_reply_err(req, -ENOENT);
}

/* GETATTR: state in the scratch area, then a 20 ms call on the worker pool. */
static void h_getattr(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct state *st = rf_req_scratch(req, sizeof(*st));
	size_t i;
	int r;

	(void)ino;
	(void)fi;
	for (i = 0; i < sizeof(*st); i++)
		if (((unsigned char *)st)[i])
			atomic_fetch_add(&not_zeroed, 1);
	st->unique = rf_req_unique(req);
	memset(st->tail, (int)(st->unique & 0xff), sizeof(st->tail));
	r = rf_backing_call(req, slow_call, NULL, check_state, st);
	if (r < 0)
		rf_reply_err(req, r);
}

/* LOOKUP: dirties the whole area (the next request on the slot must get it zeroed). */
static void h_lookup(struct rf_req *req, uint64_t parent, const char *name)
{
	unsigned char *p = rf_req_scratch(req, RF_REQ_SCRATCH);

	(void)parent;
	(void)name;
	if (rf_req_scratch(req, RF_REQ_SCRATCH + 1) == NULL)
		atomic_fetch_add(&too_big_ok, 1);
	memset(p, 0xab, RF_REQ_SCRATCH);
	rf_reply_err(req, -ENOENT);
}

static const struct rf_ops ops = {
	.lookup = h_lookup,
	.getattr = h_getattr,
};

static void start(void)
{
	atomic_store(&mismatches, 0);
	atomic_store(&not_zeroed, 0);
	atomic_store(&too_big_ok, 0);
	fk_setup(&fk, &ops, NULL, NULL);
	fk_init(&fk);
}

static void stop(void)
{
	fk_teardown(&fk);
}

TestSuite(scratch, .init = start, .fini = stop, .timeout = 10);

static uint64_t send_getattr(void)
{
	struct fuse_getattr_in in = { 0 };

	return fk_send(&fk, FUSE_GETATTR, 2, &in, sizeof(in));
}

Test(scratch, lasts_until_the_backing_callback_and_is_not_shared)
{
	uint64_t u[4];
	int i;

	for (i = 0; i < 4; i++)         /* all four in flight at once, each in its own slot */
		u[i] = send_getattr();
	for (i = 0; i < 4; i++)
		fk_expect_reply(&fk, u[i], -ENOENT, 0);
	cr_expect_eq(atomic_load(&mismatches), 0, "a callback found another request's state");
	cr_expect_eq(atomic_load(&not_zeroed), 0);
}

Test(scratch, is_zeroed_for_the_next_request_and_bounded)
{
	int i;

	/* Every slot the next requests may get was dirtied by a LOOKUP before. */
	for (i = 0; i < 8; i++)
		fk_expect_reply(&fk, fk_send_name(&fk, FUSE_LOOKUP, 1, NULL, 0, "x"), -ENOENT, 0);
	cr_expect_eq(atomic_load(&too_big_ok), 8, "more than RF_REQ_SCRATCH must give NULL");
	for (i = 0; i < 8; i++)
		fk_expect_reply(&fk, send_getattr(), -ENOENT, 0);
	cr_expect_eq(atomic_load(&not_zeroed), 0, "the handler got a dirty scratch area");
	cr_expect_eq(atomic_load(&mismatches), 0);
}

/* ---- a worker call that outlives the teardown's drains ------------------------------- */

static atomic_int stuck_started, stuck_ended, stuck_callbacks;

static int stuck_call(void *arg)
{
	struct state *st = arg;

	atomic_store(&stuck_started, 1);
	/* Past the teardown's grace (50 ms) + 1 s, its abandon and the session's own 1 s
	 * drain: the slots would be freed by now. */
	usleep(4000 * 1000);
	st->unique = 42;                /* into the request's scratch, in its slot */
	atomic_store(&stuck_ended, 1);
	return 0;
}

static void stuck_done(struct rf_req *req, int res, void *data)
{
	atomic_fetch_add(&stuck_callbacks, 1);
	rf_reply_err(req, -EIO);        /* the kernel is gone: goes nowhere */
}

static void h_getattr_stuck(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct state *st = rf_req_scratch(req, sizeof(*st));

	(void)ino;
	(void)fi;
	if (rf_backing_call(req, stuck_call, st, stuck_done, st) < 0)
		rf_reply_err(req, -EIO);
}

static bool stuck_running(void *arg)
{
	(void)arg;
	return atomic_load(&stuck_started);
}

/*
 * The kernel leaves while a backing call runs on a worker (it cannot be stopped) and
 * outlasts every drain. Its slot (the runtime's work item, the request's scratch) must
 * still be there when it ends, and its callback runs once, before the session is gone.
 * Before the fix the session freed the slots first: ASan reported the worker's write of
 * its result (loop.c worker_main) as a heap use after free.
 */
Test(scratch_teardown, worker_call_outliving_the_drains_ends_before_its_slot_goes,
     .timeout = 10)
{
	static const struct rf_ops stuck_ops = { .getattr = h_getattr_stuck };
	struct fuse_getattr_in in = { 0 };
	struct rf_opts opts = { 0 };
	struct fk k;

	opts.grace_ms = 50;
	fk_setup(&k, &stuck_ops, NULL, &opts);
	fk_init(&k);
	fk_send(&k, FUSE_GETATTR, 2, &in, sizeof(in));
	cr_assert(fk_pump_until(&k, stuck_running, NULL, 2000), "the worker call did not start");
	fk_teardown(&k);
	cr_expect_eq(atomic_load(&stuck_ended), 1, "the session was freed before the call ended");
	cr_expect_eq(atomic_load(&stuck_callbacks), 1);
}
