/* SPDX-License-Identifier: MIT */
/*
 * test_loop_thread.c - whose thread a loop is: a loop no thread runs yet is anyone's,
 * unless a thread of its own is on the way (rf__loop_reserve, as for the session's extra
 * loops). Work for it is then posted and runs on that thread's first round, never on the
 * caller's: two threads filling one ring's SQ corrupted it (an extra loop's queue was
 * registered from the INIT thread before the loop's thread had run).
 */
#include <pthread.h>
#include <stdbool.h>

#include <criterion/criterion.h>

#include "internal.h"

static pthread_t ran_on;
static bool ran;
static bool own_inside;

static void record(struct rf_loop *loop, void *data)
{
	(void)data;
	ran_on = pthread_self();
	ran = true;
	own_inside = rf__on_loop_thread(loop);
}

static void *run_one_round(void *arg)
{
	cr_assert_geq(rf_loop_run_once(arg, 0), 0);
	return NULL;
}

Test(loop_thread, an_unclaimed_loop_is_anyones)
{
	struct rf_loop *loop;

	cr_assert_eq(rf_loop_new(&loop), 0);
	cr_assert(rf__on_loop_thread(loop), "no thread runs it and none is coming");
	rf_loop_free(loop);
}

Test(loop_thread, a_reserved_loop_is_its_threads_alone_and_runs_what_was_posted_there)
{
	struct rf_loop *loop;
	pthread_t th;

	cr_assert_eq(rf_loop_new(&loop), 0);
	rf__loop_reserve(loop);
	cr_assert_not(rf__on_loop_thread(loop), "its thread is coming: not the caller's");
	cr_assert_eq(rf_loop_post(loop, record, NULL), 0);
	cr_assert_not(ran, "posted work waits for the loop's thread");
	cr_assert_eq(pthread_create(&th, NULL, run_one_round, loop), 0);
	cr_assert_eq(pthread_join(th, NULL), 0);
	cr_assert(ran, "the loop's first round runs what was posted");
	cr_assert(pthread_equal(ran_on, th), "on the loop's own thread");
	cr_assert(own_inside, "where rf__on_loop_thread is true");
	cr_assert_not(rf__on_loop_thread(loop), "still not the creator's");
	rf_loop_free(loop);
}
