/* SPDX-License-Identifier: MIT */
/*
 * test_interrupt.c - INTERRUPT of a request the filesystem holds: rf_req_interrupted()
 * turns 1, the rf_req_on_interrupt callback runs on the loop thread, the request then
 * gets exactly one reply (-EINTR), and the INTERRUPT itself gets none.
 */
#include <errno.h>
#include <pthread.h>
#include <sys/types.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "fake_kernel.h"

#define HELD_MAX 4

static struct rf_req *held[HELD_MAX];
static int nheld;
static bool register_cb;             /* the handler registers on_intr itself */
static bool reply_in_cb;             /* on_intr replies -EINTR */
static int cb_calls;
static struct rf_req *cb_req;
static void *cb_data;
static pid_t cb_tid;
static int cb_saw_interrupted;
static char cb_token;

static void on_intr(struct rf_req *req, void *data)
{
	cb_calls++;
	cb_req = req;
	cb_data = data;
	cb_tid = gettid();
	cb_saw_interrupted = rf_req_interrupted(req);
	if (reply_in_cb)
		rf_reply_err(req, -EINTR);
}

/* A slow operation: keeps the request and does not reply. */
static void h_read(struct rf_req *req, uint64_t ino, size_t size, off_t off,
		   struct rf_file *fi)
{
	cr_assert_lt(nheld, HELD_MAX);
	cr_assert_eq(rf_req_interrupted(req), 0);
	held[nheld++] = req;
	if (register_cb)
		rf_req_on_interrupt(req, on_intr, &cb_token);
}

static void h_open(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	fi->fh = 1;
	rf_reply_open(req, fi);
}

static void h_setlk(struct rf_req *req, uint64_t ino, struct rf_file *fi, struct flock *lock,
		    int sleep)
{
	h_read(req, ino, 0, 0, fi);
}

static const struct rf_ops ops = {
	.open = h_open,
	.read = h_read,
	.setlk = h_setlk,
	.getlk = NULL,
};

static struct fk fk;

static void start(void)
{
	nheld = 0;
	register_cb = true;
	reply_in_cb = false;
	cb_calls = 0;
	cb_req = NULL;
	cb_data = NULL;
	cb_saw_interrupted = 0;
	fk_setup(&fk, &ops, NULL, NULL);
	fk_init(&fk);
	fk_expect_reply(&fk, fk_send(&fk, FUSE_OPEN, 2, &(struct fuse_open_in){ 0 },
				     sizeof(struct fuse_open_in)),
			0, sizeof(struct fuse_open_out));
}

static bool nheld_reach(void *arg)
{
	return nheld >= *(int *)arg;
}

/* Pump until the handler holds @n requests; then nothing must have been answered. */
static void wait_held(int n)
{
	cr_assert(fk_pump_until(&fk, nheld_reach, &n, FK_WAIT_MS), "%d of %d requests held",
		  nheld, n);
	fk_expect_no_reply(&fk, 10);
}

static bool is_interrupted(void *arg)
{
	return rf_req_interrupted(arg);
}

/* A READ the handler holds; returns its unique once the handler has it. */
static uint64_t held_read(void)
{
	struct fuse_read_in in = { .fh = 1, .size = 4096 };
	int before = nheld;
	uint64_t u = fk_send(&fk, FUSE_READ, 2, &in, sizeof(in));

	wait_held(before + 1);
	cr_assert_eq(nheld, before + 1, "the READ did not reach its handler");
	cr_assert_eq(rf_req_unique(held[before]), u);
	return u;
}

/* After the request's -EINTR reply: nothing more comes, neither a second reply nor an
 * answer to the INTERRUPT (not even after the 50 ms an early INTERRUPT waits), and the
 * callback ran exactly once. Ends the session. */
static void end_quiet(void)
{
	fk_expect_no_reply(&fk, 100);
	cr_assert_eq(cb_calls, 1, "on_interrupt ran %d times", cb_calls);
	fk_teardown(&fk);
}

static bool cb_ran(void *arg)
{
	return cb_calls > 0;
}

Test(interrupt, sets_the_flag_runs_the_callback_then_one_eintr_reply, .timeout = 10)
{
	uint64_t u;

	start();
	u = held_read();
	cr_assert_eq(rf_req_interrupted(held[0]), 0);
	fk_send_interrupt(&fk, u);
	cr_assert(fk_pump_until(&fk, cb_ran, NULL, FK_WAIT_MS), "on_interrupt never ran");
	cr_assert_eq(cb_calls, 1);
	cr_assert_eq(cb_req, held[0]);
	cr_assert_eq(cb_data, &cb_token);
	cr_assert_eq(cb_tid, gettid(), "callback not on the loop thread");
	cr_assert_eq(cb_saw_interrupted, 1);
	cr_assert_eq(rf_req_interrupted(held[0]), 1);
	/* Nothing was answered yet: neither the READ nor the INTERRUPT. */
	fk_expect_no_reply(&fk, 20);

	cr_assert_eq(rf_reply_err(held[0], -EINTR), 0);
	fk_expect_reply(&fk, u, -EINTR, 0);
	end_quiet();
}

Test(interrupt, callback_may_reply_eintr_itself, .timeout = 10)
{
	uint64_t u;

	start();
	reply_in_cb = true;
	u = held_read();
	fk_send_interrupt(&fk, u);
	fk_expect_reply(&fk, u, -EINTR, 0);
	end_quiet();
}

Test(interrupt, callback_registered_after_the_interrupt_runs_at_once, .timeout = 10)
{
	uint64_t u;

	start();
	register_cb = false;
	u = held_read();
	fk_send_interrupt(&fk, u);
	cr_assert(fk_pump_until(&fk, is_interrupted, held[0], FK_WAIT_MS));
	fk_pump(&fk, 5);
	cr_assert_eq(rf_req_interrupted(held[0]), 1);
	cr_assert_eq(cb_calls, 0);
	rf_req_on_interrupt(held[0], on_intr, &cb_token);
	cr_assert_eq(cb_calls, 1, "registering on an interrupted request must call back");
	cr_assert_eq(cb_data, &cb_token);
	rf_reply_err(held[0], -EINTR);
	fk_expect_reply(&fk, u, -EINTR, 0);
	end_quiet();
}

Test(interrupt, only_the_target_is_interrupted, .timeout = 10)
{
	uint64_t u1, u2;

	start();
	u1 = held_read();
	u2 = held_read();
	fk_send_interrupt(&fk, u2);
	cr_assert(fk_pump_until(&fk, cb_ran, NULL, FK_WAIT_MS));
	cr_assert_eq(cb_req, held[1]);
	cr_assert_eq(rf_req_interrupted(held[0]), 0);
	cr_assert_eq(rf_req_interrupted(held[1]), 1);
	rf_reply_err(held[1], -EINTR);
	rf_reply_buf(held[0], "ok", 2);
	fk_expect_reply(&fk, u2, -EINTR, 0);
	fk_expect_reply(&fk, u1, 0, 2);
	end_quiet();
}

static void *thread_reply_eintr(void *arg)
{
	struct rf_req *req = arg;

	/* Documented: clear the callback before replying from another thread. */
	rf_req_on_interrupt(req, NULL, NULL);
	rf_reply_err(req, -EINTR);
	return NULL;
}

Test(interrupt, interrupted_request_replied_from_another_thread, .timeout = 10)
{
	pthread_t t;
	uint64_t u;

	start();
	u = held_read();
	fk_send_interrupt(&fk, u);
	cr_assert(fk_pump_until(&fk, cb_ran, NULL, FK_WAIT_MS));
	cr_assert_eq(pthread_create(&t, NULL, thread_reply_eintr, held[0]), 0);
	fk_expect_reply(&fk, u, -EINTR, 0);
	pthread_join(t, NULL);
	end_quiet();
}

Test(interrupt, waiting_lock_is_interrupted, .timeout = 10)
{
	struct fuse_lk_in in = { .fh = 1, .owner = 9, .lk = { .start = 0, .end = 0,
							      .type = F_WRLCK, .pid = 1 } };
	uint64_t u;

	start();
	reply_in_cb = true;
	u = fk_send(&fk, FUSE_SETLKW, 2, &in, sizeof(in));
	wait_held(1);
	cr_assert_eq(nheld, 1);
	fk_send_interrupt(&fk, u);
	fk_expect_reply(&fk, u, -EINTR, 0);
	end_quiet();
}
