/* SPDX-License-Identifier: MIT */
/*
 * test_init.c - INIT negotiation: versions, sizes, capabilities, and what happens around
 * INIT (requests before it, a second one, malformed ones).
 */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>

#include "fake_kernel.h"

/* What rf_ops.init saw, and an optional change it makes. */
struct probe {
	int calls;
	struct rf_conn seen;
	void (*adjust)(struct rf_conn *conn);
	int lookups;
	int destroys;
};

static void probe_init(void *userdata, struct rf_conn *conn)
{
	struct probe *p = userdata;

	p->calls++;
	p->seen = *conn;
	if (p->adjust)
		p->adjust(conn);
}

static void probe_destroy(void *userdata)
{
	struct probe *p = userdata;

	p->destroys++;
}

static void probe_lookup(struct rf_req *req, uint64_t parent, const char *name)
{
	struct probe *p = rf_req_userdata(req);

	p->lookups++;
	rf_reply_err(req, -ENOENT);
}

static void noop_readdirplus(struct rf_req *req, uint64_t ino, size_t size, off_t off,
			     struct rf_file *fi)
{
	rf_reply_buf(req, NULL, 0);
}

static const struct rf_ops probe_ops = {
	.init = probe_init,
	.destroy = probe_destroy,
	.lookup = probe_lookup,
};

static uint64_t accepted(const struct fuse_init_out *o)
{
	return (uint64_t)o->flags | (uint64_t)o->flags2 << 32;
}

static const struct fuse_init_out *init_reply(const struct fk_msg *m)
{
	return (const struct fuse_init_out *)m->payload;
}

Test(init, reply_carries_our_version_and_conn_gets_the_lower_minor, .timeout = 10)
{
	struct probe p = { 0 };
	struct fk fk;
	const struct fk_msg *m;

	/* A kernel newer than us: we speak 7.45. */
	fk_setup(&fk, &probe_ops, &p, NULL);
	m = fk_expect_reply(&fk, fk_send_init(&fk, 7, 60, FK_FLAGS, FK_FLAGS2, FK_MAX_READAHEAD),
			    0, sizeof(struct fuse_init_out));
	cr_assert_eq(init_reply(m)->major, 7);
	cr_assert_eq(init_reply(m)->minor, FUSE_KERNEL_MINOR_VERSION);
	cr_assert_eq(p.calls, 1);
	cr_assert_eq(p.seen.proto_major, 7);
	cr_assert_eq(p.seen.proto_minor, FUSE_KERNEL_MINOR_VERSION);
	fk_teardown(&fk);

	/* A kernel older than us: the connection runs at its minor. */
	memset(&p, 0, sizeof(p));
	fk_setup(&fk, &probe_ops, &p, NULL);
	m = fk_expect_reply(&fk, fk_send_init(&fk, 7, 31, FK_FLAGS, 0, FK_MAX_READAHEAD), 0,
			    sizeof(struct fuse_init_out));
	cr_assert_eq(init_reply(m)->minor, FUSE_KERNEL_MINOR_VERSION);
	cr_assert_eq(p.seen.proto_minor, 31);
	fk_teardown(&fk);
}

Test(init, reply_size_follows_the_kernel_minor, .timeout = 10)
{
	static const struct { uint32_t minor; long size; } cases[] = {
		{ 4, FUSE_COMPAT_INIT_OUT_SIZE },
		{ 5, FUSE_COMPAT_22_INIT_OUT_SIZE },
		{ 22, FUSE_COMPAT_22_INIT_OUT_SIZE },
		{ 23, sizeof(struct fuse_init_out) },
		{ 45, sizeof(struct fuse_init_out) },
	};
	struct fk fk;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct probe p = { 0 };
		const struct fk_msg *m;

		fk_setup(&fk, &probe_ops, &p, NULL);
		m = fk_expect_reply(&fk, fk_send_init(&fk, 7, cases[i].minor, FUSE_ASYNC_READ, 0,
						      FK_MAX_READAHEAD),
				    0, cases[i].size);
		cr_assert_eq(init_reply(m)->major, 7);
		cr_assert_eq(init_reply(m)->minor, FUSE_KERNEL_MINOR_VERSION);
		fk_teardown(&fk);
	}
}

Test(init, default_sizes_are_sane, .timeout = 10)
{
	struct probe p = { 0 };
	struct fk fk;
	const struct fuse_init_out *o;

	fk_setup(&fk, &probe_ops, &p, NULL);
	fk_init(&fk);
	o = &fk.init_out;
	cr_assert_eq(o->max_write, 1u << 20, "max_write %u", o->max_write);
	cr_assert_eq(o->max_pages, 256);
	cr_assert_eq(o->max_readahead, FK_MAX_READAHEAD);
	cr_assert_eq(o->max_background, 64);
	cr_assert_eq(o->congestion_threshold, 48);
	cr_assert_eq(o->time_gran, 1);
	cr_assert(o->flags & FUSE_MAX_PAGES);
	cr_assert(o->flags & FUSE_BIG_WRITES);
	cr_assert(o->flags & FUSE_INIT_EXT);
	cr_assert_eq(o->max_stack_depth, 0, "max_stack_depth without passthrough");
	/* What init saw matches what was sent. */
	cr_assert_eq(p.seen.capable, FK_OFFERED);
	cr_assert_eq(p.seen.want & ~FK_OFFERED, 0);
	cr_assert_eq(p.seen.max_readahead, FK_MAX_READAHEAD);
	fk_teardown(&fk);
}

static void ask_max_write_huge(struct rf_conn *conn)
{
	conn->max_write = 64u << 20;
	conn->max_readahead = 1u << 30;
	conn->max_background = 100000;
	conn->congestion_threshold = 200000;
	conn->time_gran = 0;
}

static void ask_max_write_tiny(struct rf_conn *conn)
{
	conn->max_write = 100;
	conn->time_gran = 2000000000;
}

static void ask_max_write_smaller(struct rf_conn *conn)
{
	conn->max_write = 8192;
	conn->max_readahead = 4096;
}

Test(init, max_write_and_max_pages_follow_options_and_limits, .timeout = 10)
{
	struct rf_opts opts;
	struct probe p = { 0 };
	struct fk fk;
	const struct fuse_init_out *o = &fk.init_out;

	/* -o max_write=64k: 16 pages. */
	rf_opts_init(&opts);
	opts.max_write = 65536;
	fk_setup(&fk, &probe_ops, &p, &opts);
	fk_init(&fk);
	cr_assert_eq(o->max_write, 65536);
	cr_assert_eq(o->max_pages, 16);
	cr_assert_eq(p.seen.max_write, 65536);
	fk_teardown(&fk);

	/* Not a multiple of the page size: pages round up. */
	opts.max_write = 5000;
	fk_setup(&fk, &probe_ops, &p, &opts);
	fk_init(&fk);
	cr_assert_eq(o->max_write, 5000);
	cr_assert_eq(o->max_pages, 2);
	fk_teardown(&fk);

	/* Below a page: raised to one page (the buffer never gets smaller). */
	opts.max_write = 10;
	fk_setup(&fk, &probe_ops, &p, &opts);
	fk_init(&fk);
	cr_assert_eq(o->max_write, 4096);
	cr_assert_eq(o->max_pages, 1);
	fk_teardown(&fk);

	/* init asking beyond the buffer, and for silly limits: all capped. */
	opts.max_write = 65536;
	p.adjust = ask_max_write_huge;
	fk_setup(&fk, &probe_ops, &p, &opts);
	fk_init(&fk);
	cr_assert_eq(o->max_write, 65536);
	cr_assert_eq(o->max_pages, 16);
	cr_assert_eq(o->max_readahead, FK_MAX_READAHEAD);
	cr_assert_eq(o->max_background, 0xffff);
	cr_assert_eq(o->congestion_threshold, 0xffff);
	cr_assert_eq(o->time_gran, 1);
	fk_teardown(&fk);

	/* init asking for less than a page: ignored. */
	p.adjust = ask_max_write_tiny;
	fk_setup(&fk, &probe_ops, &p, &opts);
	fk_init(&fk);
	cr_assert_eq(o->max_write, 65536);
	cr_assert_eq(o->time_gran, 1);
	fk_teardown(&fk);

	/* init asking for less: granted. */
	p.adjust = ask_max_write_smaller;
	fk_setup(&fk, &probe_ops, &p, &opts);
	fk_init(&fk);
	cr_assert_eq(o->max_write, 8192);
	cr_assert_eq(o->max_pages, 2);
	cr_assert_eq(o->max_readahead, 4096);
	fk_teardown(&fk);
}

Test(init, max_readahead_option_is_capped_by_the_offer, .timeout = 10)
{
	struct rf_opts opts;
	struct probe p = { 0 };
	struct fk fk;

	rf_opts_init(&opts);
	opts.max_readahead = 1u << 20;
	fk_setup(&fk, &probe_ops, &p, &opts);
	fk_init(&fk);
	cr_assert_eq(fk.init_out.max_readahead, FK_MAX_READAHEAD);
	fk_teardown(&fk);

	opts.max_readahead = 32768;
	fk_setup(&fk, &probe_ops, &p, &opts);
	fk_init(&fk);
	cr_assert_eq(fk.init_out.max_readahead, 32768);
	fk_teardown(&fk);
}

static void want_everything(struct rf_conn *conn)
{
	conn->want = ~0ULL;
}

Test(init, accepted_flags_are_a_subset_of_the_offer, .timeout = 10)
{
	struct probe p = { .adjust = want_everything };
	struct fk fk;
	uint64_t acc;

	fk_setup(&fk, &probe_ops, &p, NULL);
	fk_init(&fk);   /* asserts accepted ⊆ offered */
	acc = accepted(&fk.init_out);
	cr_assert_eq(acc & ~FK_OFFERED, 0);
	/* Asked for everything: got the offered capabilities... */
	cr_assert(acc & RF_CAP_WRITEBACK_CACHE);
	cr_assert(acc & RF_CAP_POSIX_ACL);
	/* ...but never the kernel ring transport on a socket channel (it needs /dev/fuse),
	 * nor passthrough together with writeback cache. */
	cr_assert_eq(acc & RF_CAP_OVER_IO_URING, 0);
	cr_assert_eq(acc & RF_CAP_PASSTHROUGH, 0);
	fk_teardown(&fk);
}

Test(init, capability_not_offered_is_never_accepted, .timeout = 10)
{
	struct probe p = { .adjust = want_everything };
	struct fk fk;
	const struct fk_msg *m;
	uint32_t flags = FK_FLAGS & ~(uint32_t)(FUSE_WRITEBACK_CACHE | FUSE_POSIX_ACL |
						FUSE_ASYNC_DIO | FUSE_PARALLEL_DIROPS);
	uint32_t flags2 = FK_FLAGS2 & ~(uint32_t)((FUSE_PASSTHROUGH | FUSE_HAS_EXPIRE_ONLY) >> 32);
	uint64_t offered = (uint64_t)flags | (uint64_t)flags2 << 32, acc;

	fk_setup(&fk, &probe_ops, &p, NULL);
	m = fk_expect_reply(&fk, fk_send_init(&fk, 7, 45, flags, flags2, FK_MAX_READAHEAD), 0,
			    sizeof(struct fuse_init_out));
	acc = accepted(init_reply(m));
	cr_assert_eq(p.seen.capable, offered);
	cr_assert_eq(acc & ~offered, 0, "accepted 0x%llx beyond the offer",
		     (unsigned long long)(acc & ~offered));
	cr_assert_eq(acc & FUSE_WRITEBACK_CACHE, 0);
	cr_assert_eq(acc & FUSE_POSIX_ACL, 0);
	cr_assert_eq(acc & FUSE_PASSTHROUGH, 0);
	cr_assert_eq(acc & FUSE_HAS_EXPIRE_ONLY, 0);
	fk_teardown(&fk);
}

/*
 * An older kernel (7.31: no FUSE_INIT_EXT, no flags2) must not get back bits it did not
 * offer either: nothing beyond its 32-bit offer, flags2 zero.
 */
Test(init, old_kernel_without_init_ext_gets_nothing_it_did_not_offer, .timeout = 10)
{
	struct probe p = { .adjust = want_everything };
	struct fk fk;
	const struct fk_msg *m;
	uint32_t flags = FK_FLAGS & ~(uint32_t)(FUSE_INIT_EXT | FUSE_SETXATTR_EXT |
						FUSE_HANDLE_KILLPRIV_V2);
	const struct fuse_init_out *o;

	fk_setup(&fk, &probe_ops, &p, NULL);
	m = fk_expect_reply(&fk, fk_send_init(&fk, 7, 31, flags, 0xffffffffu, FK_MAX_READAHEAD),
			    0, sizeof(struct fuse_init_out));
	o = init_reply(m);
	/* flags2 of a kernel without INIT_EXT is garbage and must be ignored. */
	cr_assert_eq(p.seen.capable, flags);
	cr_assert_eq(o->flags2, 0, "flags2 0x%x sent to a kernel without INIT_EXT", o->flags2);
	cr_assert_eq(o->flags & ~flags, 0, "accepted 0x%x beyond the offer 0x%x",
		     o->flags & ~flags, flags);
	fk_teardown(&fk);
}

static void want_writeback(struct rf_conn *conn)
{
	conn->want |= RF_CAP_WRITEBACK_CACHE;
}

Test(init, writeback_cache_only_when_offered_and_asked, .timeout = 10)
{
	struct probe p = { 0 };
	struct fk fk;
	const struct fk_msg *m;

	/* Offered, not asked: off (not a default). */
	fk_setup(&fk, &probe_ops, &p, NULL);
	fk_init(&fk);
	cr_assert_eq(accepted(&fk.init_out) & RF_CAP_WRITEBACK_CACHE, 0);
	cr_assert(p.seen.capable & RF_CAP_WRITEBACK_CACHE);
	cr_assert_eq(p.seen.want & RF_CAP_WRITEBACK_CACHE, 0);
	fk_teardown(&fk);

	/* Offered and asked: on. */
	p.adjust = want_writeback;
	fk_setup(&fk, &probe_ops, &p, NULL);
	fk_init(&fk);
	cr_assert(accepted(&fk.init_out) & RF_CAP_WRITEBACK_CACHE);
	fk_teardown(&fk);

	/* Asked, not offered: off. */
	fk_setup(&fk, &probe_ops, &p, NULL);
	m = fk_expect_reply(&fk, fk_send_init(&fk, 7, 45, FK_FLAGS & ~(uint32_t)FUSE_WRITEBACK_CACHE,
					      FK_FLAGS2, FK_MAX_READAHEAD),
			    0, sizeof(struct fuse_init_out));
	cr_assert_eq(accepted(init_reply(m)) & RF_CAP_WRITEBACK_CACHE, 0);
	fk_teardown(&fk);
}

Test(init, readdirplus_only_if_the_filesystem_implements_it, .timeout = 10)
{
	struct rf_ops ops = probe_ops;
	struct probe p = { 0 };
	struct fk fk;

	fk_setup(&fk, &ops, &p, NULL);
	fk_init(&fk);
	cr_assert_eq(accepted(&fk.init_out) & (FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO), 0);
	fk_teardown(&fk);

	ops.readdirplus = noop_readdirplus;
	fk_setup(&fk, &ops, &p, NULL);
	fk_init(&fk);
	cr_assert(accepted(&fk.init_out) & FUSE_DO_READDIRPLUS);
	cr_assert(accepted(&fk.init_out) & FUSE_READDIRPLUS_AUTO);
	fk_teardown(&fk);
}

Test(init, major_above_ours_gets_the_8_byte_major_only_reply, .timeout = 10)
{
	struct probe p = { 0 };
	struct fk fk;
	const struct fk_msg *m;
	uint32_t v[2];

	fk_setup(&fk, &probe_ops, &p, NULL);
	m = fk_expect_reply(&fk, fk_send_init(&fk, 8, 3, FK_FLAGS, FK_FLAGS2, FK_MAX_READAHEAD),
			    0, 8);
	memcpy(v, m->payload, sizeof(v));
	cr_assert_eq(v[0], 7);
	cr_assert_eq(v[1], FUSE_KERNEL_MINOR_VERSION);
	cr_assert_eq(p.calls, 0, "init ran for a major we do not speak");
	/* The kernel then comes back in our major. */
	fk_init(&fk);
	cr_assert_eq(p.calls, 1);
	fk_teardown(&fk);
	cr_assert_eq(p.destroys, 1);
}

Test(init, major_below_7_is_refused, .timeout = 10)
{
	struct probe p = { 0 };
	struct fk fk;
	const struct fk_msg *m;

	fk_setup(&fk, &probe_ops, &p, NULL);
	m = fk_expect_reply(&fk, fk_send_init(&fk, 6, 9, FK_FLAGS, 0, FK_MAX_READAHEAD), -EPROTO,
			    0);
	(void)m;
	cr_assert_eq(p.calls, 0);
	fk_teardown(&fk);
	cr_assert_eq(p.destroys, 0, "destroy without a successful INIT");
}

Test(init, oversized_init_still_works, .timeout = 10)
{
	struct probe p = { 0 };
	struct fk fk;
	struct {
		struct fuse_init_in in;
		char extra[40];
	} big;
	const struct fk_msg *m;

	memset(&big, 0xa5, sizeof(big));
	memset(&big.in, 0, sizeof(big.in));
	big.in.major = 7;
	big.in.minor = 45;
	big.in.max_readahead = FK_MAX_READAHEAD;
	big.in.flags = FK_FLAGS;
	big.in.flags2 = FK_FLAGS2;
	fk_setup(&fk, &probe_ops, &p, NULL);
	m = fk_expect_reply(&fk, fk_send(&fk, FUSE_INIT, 0, &big, sizeof(big)), 0,
			    sizeof(struct fuse_init_out));
	cr_assert_eq(init_reply(m)->minor, 45);
	cr_assert_eq(p.seen.capable, FK_OFFERED);
	fk_teardown(&fk);
}

Test(init, old_16_byte_init_is_accepted, .timeout = 10)
{
	struct probe p = { 0 };
	struct fk fk;
	struct fuse_init_in in = { .major = 7, .minor = 8, .max_readahead = 65536,
				   .flags = FUSE_ASYNC_READ | FUSE_POSIX_LOCKS };
	const struct fk_msg *m;

	fk_setup(&fk, &probe_ops, &p, NULL);
	m = fk_expect_reply(&fk, fk_send(&fk, FUSE_INIT, 0, &in, 16), 0,
			    FUSE_COMPAT_22_INIT_OUT_SIZE);
	cr_assert_eq(init_reply(m)->max_readahead, 65536);
	cr_assert_eq(p.seen.proto_minor, 8);
	cr_assert_eq(p.seen.capable, FUSE_ASYNC_READ | FUSE_POSIX_LOCKS);
	fk_teardown(&fk);
}

Test(init, short_init_gets_an_error_and_a_good_one_still_works, .timeout = 10)
{
	struct probe p = { 0 };
	struct fk fk;
	struct fuse_init_in in = { .major = 7, .minor = 45 };

	fk_setup(&fk, &probe_ops, &p, NULL);
	fk_expect_reply(&fk, fk_send(&fk, FUSE_INIT, 0, &in, 12), -EIO, 0);
	fk_expect_reply(&fk, fk_send(&fk, FUSE_INIT, 0, NULL, 0), -EIO, 0);
	cr_assert_eq(p.calls, 0);
	fk_init(&fk);
	cr_assert_eq(p.calls, 1);
	fk_teardown(&fk);
}

Test(init, request_before_init_gets_eio, .timeout = 10)
{
	struct probe p = { 0 };
	struct fk fk;

	fk_setup(&fk, &probe_ops, &p, NULL);
	fk_expect_reply(&fk, fk_send_name(&fk, FUSE_LOOKUP, 1, NULL, 0, "x"), -EIO, 0);
	cr_assert_eq(p.lookups, 0);
	fk_init(&fk);
	fk_expect_reply(&fk, fk_send_name(&fk, FUSE_LOOKUP, 1, NULL, 0, "x"), -ENOENT, 0);
	cr_assert_eq(p.lookups, 1);
	fk_teardown(&fk);
}

Test(init, second_init_gets_an_error_and_changes_nothing, .timeout = 10)
{
	struct probe p = { 0 };
	struct fk fk;
	const struct fk_msg *m;

	fk_setup(&fk, &probe_ops, &p, NULL);
	fk_init(&fk);
	m = fk_expect_reply(&fk, fk_send_init(&fk, 7, 20, FUSE_ASYNC_READ, 0, 4096), -EPROTO, 0);
	cr_assert_lt(m->oh.error, 0);
	cr_assert_eq(p.calls, 1);
	/* Still serving, at the first INIT's minor. */
	fk_expect_reply(&fk, fk_send_name(&fk, FUSE_LOOKUP, 1, NULL, 0, "x"), -ENOENT, 0);
	fk_teardown(&fk);
	cr_assert_eq(p.destroys, 1);
}

Test(init, destroy_runs_once_on_destroy_request_and_session_ends, .timeout = 10)
{
	struct probe p = { 0 };
	struct fk fk;

	fk_setup(&fk, &probe_ops, &p, NULL);
	fk_init(&fk);
	fk_expect_reply(&fk, fk_send(&fk, FUSE_DESTROY, 0, NULL, 0), 0, 0);
	cr_assert_eq(p.destroys, 1);
	cr_assert(fk_pump_until_ended(&fk, FK_WAIT_MS));
	fk_teardown(&fk);
	cr_assert_eq(p.destroys, 1);
}
