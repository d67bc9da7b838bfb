/* SPDX-License-Identifier: MIT */
/*
 * test_blocking.c - rf_session_set_blocking: a loop holds one request at a time, so a
 * request the filesystem has not answered keeps the next one in the kernel (where
 * another loop would take it), rather than queued behind a handler that may block; the
 * next is read once the first is answered. The default serves both at once.
 */
#include <errno.h>

#include <criterion/criterion.h>

#include "fake_kernel.h"

static struct rf_req *held[4];
static int calls;

/* A handler that has not answered yet (it would be blocking, on a real loop). */
static void h_getattr(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	(void)ino;
	(void)fi;
	cr_assert_lt(calls, 4);
	held[calls++] = req;
}

static const struct rf_ops ops = { .getattr = h_getattr };

static struct fk fk;

static void answer(int i)
{
	struct stat st = { .st_ino = 1, .st_mode = S_IFDIR | 0755, .st_nlink = 2 };

	rf_reply_attr(held[i], &st, 1.0);
}

static void send_two(uint64_t *u)
{
	struct fuse_getattr_in in = { 0 };

	calls = 0;
	fk_init(&fk);
	u[0] = fk_send(&fk, FUSE_GETATTR, 1, &in, sizeof(in));
	u[1] = fk_send(&fk, FUSE_GETATTR, 1, &in, sizeof(in));
	fk_pump(&fk, 50);
}

Test(blocking, next_request_waits_until_the_first_is_answered)
{
	uint64_t u[2];

	fk_setup_blocking(&fk, &ops, NULL, NULL, 4);
	send_two(u);
	cr_assert_eq(calls, 1, "a blocking loop took %d requests at once", calls);
	answer(0);
	fk_expect_reply(&fk, u[0], 0, -1);
	fk_pump(&fk, 50);
	cr_assert_eq(calls, 2, "the second request was not read after the first's reply");
	answer(1);
	fk_expect_reply(&fk, u[1], 0, -1);
	fk_teardown(&fk);
}

Test(blocking, default_loop_reads_on_while_a_handler_holds_a_request)
{
	uint64_t u[2];

	fk_setup(&fk, &ops, NULL, NULL);
	send_two(u);
	cr_assert_eq(calls, 2);
	answer(1);
	answer(0);
	fk_expect_reply(&fk, u[1], 0, -1);
	fk_expect_reply(&fk, u[0], 0, -1);
	fk_teardown(&fk);
}

Test(blocking, bad_arguments_and_late_calls_are_refused)
{
	struct rf_session *se;

	cr_assert_eq(rf_session_set_blocking(NULL, 1), -EINVAL);
	cr_assert_eq(rf_session_new(&ops, sizeof(ops), NULL, NULL, &se), 0);
	cr_assert_eq(rf_session_set_blocking(se, 0), -EINVAL);
	cr_assert_eq(rf_session_start_loops(se), -EINVAL);    /* not attached */
	rf_session_free(se);
	fk_setup(&fk, &ops, NULL, NULL);
	cr_assert_eq(rf_session_set_blocking(fk.se, 2), -EBUSY);
	fk_teardown(&fk);
}
