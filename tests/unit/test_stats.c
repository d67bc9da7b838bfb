/* SPDX-License-Identifier: MIT */
/*
 * test_stats.c - the session's live statistics (rf_session_stats, rf_stats_json) against
 * a known workload on the fake kernel: what was sent is what is counted.
 */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>

#include "fake_kernel.h"

static void getattr(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct stat st = { .st_ino = ino, .st_mode = S_IFREG | 0644, .st_nlink = 1 };

	rf_reply_attr(req, &st, 0);
}

static void lookup(struct rf_req *req, uint64_t parent, const char *name)
{
	rf_reply_err(req, -ENOENT);
}

static const struct rf_ops ops = { .getattr = getattr, .lookup = lookup };

static uint64_t sum(const uint64_t *v, int n)
{
	uint64_t s = 0;

	while (n--)
		s += v[n];
	return s;
}

Test(stats, counts_match_a_known_workload, .timeout = 10)
{
	struct fuse_getattr_in gin = { 0 };
	struct rf_stats st;
	struct fk fk;
	char json[8192];
	int i, n;

	fk_setup(&fk, &ops, NULL, NULL);
	fk_init(&fk);
	for (i = 0; i < 50; i++)
		fk_expect_reply(&fk, fk_send(&fk, FUSE_GETATTR, 1, &gin, sizeof(gin)), 0,
				sizeof(struct fuse_attr_out));
	for (i = 0; i < 7; i++)
		fk_expect_reply(&fk, fk_send_name(&fk, FUSE_LOOKUP, 1, NULL, 0, "nope"), -ENOENT, 0);
	/* An opcode the filesystem left NULL gets ENOSYS, counted as an error too. */
	fk_expect_reply(&fk, fk_send(&fk, FUSE_READLINK, 2, NULL, 0), -ENOSYS, 0);

	/* A request is finished when its reply write completed: let the loop reap it. */
	fk_pump(&fk, 20);
	cr_assert_eq(rf_session_stats(fk.se, &st), 0);
	cr_assert_eq(st.requests[FUSE_INIT], 1);
	cr_assert_eq(st.requests[FUSE_GETATTR], 50);
	cr_assert_eq(st.requests[FUSE_LOOKUP], 7);
	cr_assert_eq(st.requests[FUSE_READLINK], 1);
	cr_assert_eq(sum(st.requests, RF_STATS_OPCODES), 59);
	cr_assert_eq(st.errors[ENOENT], 7);
	cr_assert_eq(st.errors[ENOSYS], 1);
	cr_assert_eq(sum(st.errors, RF_STATS_ERRNOS), 8);
	cr_assert_eq(st.replies, 59);
	cr_assert_eq(sum(st.latency[FUSE_GETATTR], RF_STATS_LAT_BUCKETS), 50);
	cr_assert_eq(sum(st.latency[FUSE_LOOKUP], RF_STATS_LAT_BUCKETS), 7);
	cr_assert_eq(st.in_flight, 0, "in flight after every reply: %llu",
		     (unsigned long long)st.in_flight);
	cr_assert_geq(st.in_flight_peak, 1);
	cr_assert_eq(st.parked_total, 0);
	cr_assert_eq(st.interrupts, 0);

	n = rf_stats_json(&st, json, sizeof(json));
	cr_assert(n > 0 && n < (int)sizeof(json));
	cr_assert_eq((size_t)n, strlen(json));
	cr_assert(strstr(json, "\"GETATTR\":50"), "%s", json);
	cr_assert(strstr(json, "\"ENOENT\":7"), "%s", json);
	cr_assert(strstr(json, "\"replies\":59"), "%s", json);
	/* Cut short, it says how much it needed and stays a terminated string. */
	cr_assert_eq(rf_stats_json(&st, json, 16), n);
	cr_assert_eq(strlen(json), 15);
	fk_teardown(&fk);
}

Test(stats, rejects_null_arguments)
{
	struct rf_stats st;

	cr_assert_eq(rf_session_stats(NULL, &st), -EINVAL);
	cr_assert_eq(rf_stats_json(NULL, NULL, 0), -EINVAL);
}
