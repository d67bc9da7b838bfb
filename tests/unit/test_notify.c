/* SPDX-License-Identifier: MIT */
/*
 * test_notify.c - notifications on the wire (unique 0, error = the code), sent from the
 * loop thread (in a handler: through the ring) and from other threads (a plain write);
 * RETRIEVE and its NOTIFY_REPLY coming back to retrieve_reply with the cookie.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "fake_kernel.h"

/* What the handler (loop thread) or a thread sends: one of these, with ret set. */
enum what { N_INVAL_INODE, N_INVAL_ENTRY, N_EXPIRE_ENTRY, N_DELETE, N_STORE, N_POLL,
	    N_RETRIEVE, N_PRUNE, N_INC_EPOCH };

static const uint64_t prune_ids[3] = { 5, 70000, 1ull << 40 };

static int ret;
static char cookie_a, cookie_b;

static struct {
	int calls;
	void *cookie;
	uint64_t ino;
	off_t off;
	size_t size;
	char data[64];
} rr;

static int notify(struct rf_session *se, enum what w)
{
	static const char store_data[] = "stored bytes";

	switch (w) {
	case N_INVAL_INODE:
		return rf_notify_inval_inode(se, 42, 4096, -1);
	case N_INVAL_ENTRY:
		return rf_notify_inval_entry(se, 1, "name.txt", 8);
	case N_EXPIRE_ENTRY:
		return rf_notify_expire_entry(se, 1, "expire", 6);
	case N_DELETE:
		return rf_notify_delete(se, 1, 43, "gone", 4);
	case N_STORE:
		return rf_notify_store(se, 44, 8192, store_data, sizeof(store_data) - 1);
	case N_POLL:
		return rf_notify_poll(se, 0x9999);
	case N_RETRIEVE:
		return rf_notify_retrieve(se, 45, 100, 4000, &cookie_a);
	case N_PRUNE:
		return rf_notify_prune(se, prune_ids, 3);
	case N_INC_EPOCH:
		return rf_notify_inc_epoch(se);
	}
	return -1;
}

static enum what in_handler;

static void h_getattr(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	ret = notify(rf_req_session(req), in_handler);
	rf_reply_err(req, -ENOENT);
}

static void h_retrieve_reply(void *userdata, void *cookie, uint64_t ino, off_t off,
			     const void *buf, size_t size)
{
	rr.calls++;
	rr.cookie = cookie;
	rr.ino = ino;
	rr.off = off;
	rr.size = size;
	memcpy(rr.data, buf, size < sizeof(rr.data) ? size : sizeof(rr.data));
}

static const struct rf_ops ops = {
	.getattr = h_getattr,
	.retrieve_reply = h_retrieve_reply,
};

static struct fk fk;

static void start(void)
{
	ret = 12345;
	memset(&rr, 0, sizeof(rr));
	fk_setup(&fk, &ops, NULL, NULL);
	fk_init(&fk);
}

/* Send from the loop thread: inside a GETATTR handler. */
static void from_handler(enum what w)
{
	in_handler = w;
	fk_expect_reply(&fk, fk_send(&fk, FUSE_GETATTR, 2, &(struct fuse_getattr_in){ 0 },
				     sizeof(struct fuse_getattr_in)),
			-ENOENT, 0);
	cr_assert_eq(ret, 0, "notification %d from the loop thread: %d", (int)w, ret);
}

struct thread_arg {
	struct rf_session *se;
	enum what w;
	int ret;
};

static void *thread_notify(void *p)
{
	struct thread_arg *a = p;

	a->ret = notify(a->se, a->w);
	return NULL;
}

/* Send from another thread (the loop is not running meanwhile: a plain write). */
static void from_thread(enum what w)
{
	struct thread_arg a = { fk.se, w, 12345 };
	pthread_t t;

	cr_assert_eq(pthread_create(&t, NULL, thread_notify, &a), 0);
	pthread_join(t, NULL);
	cr_assert_eq(a.ret, 0, "notification %d from a thread: %d", (int)w, a.ret);
}

static void check_inval_inode(void)
{
	const struct fk_msg *m;
	struct fuse_notify_inval_inode_out o;

	m = fk_expect_notify(&fk, FUSE_NOTIFY_INVAL_INODE, sizeof(o));
	memcpy(&o, m->payload, sizeof(o));
	cr_assert_eq(o.ino, 42);
	cr_assert_eq(o.off, 4096);
	cr_assert_eq(o.len, -1);
}

static void check_entry(uint32_t code, const char *name, uint32_t flags)
{
	const struct fk_msg *m;
	struct fuse_notify_inval_entry_out o;
	size_t n = strlen(name);

	m = fk_expect_notify(&fk, code, (long)(sizeof(o) + n + 1));
	memcpy(&o, m->payload, sizeof(o));
	cr_assert_eq(o.parent, 1);
	cr_assert_eq(o.namelen, n);
	cr_assert_eq(o.flags, flags);
	cr_assert_eq(memcmp(m->payload + sizeof(o), name, n), 0);
	cr_assert_eq(m->payload[sizeof(o) + n], 0, "name not NUL-terminated");
}

static void check_delete(void)
{
	const struct fk_msg *m;
	struct fuse_notify_delete_out o;

	m = fk_expect_notify(&fk, FUSE_NOTIFY_DELETE, sizeof(o) + 5);
	memcpy(&o, m->payload, sizeof(o));
	cr_assert_eq(o.parent, 1);
	cr_assert_eq(o.child, 43);
	cr_assert_eq(o.namelen, 4);
	cr_assert_eq(o.padding, 0);
	cr_assert_eq(memcmp(m->payload + sizeof(o), "gone", 5), 0);
}

static void check_store(void)
{
	const struct fk_msg *m;
	struct fuse_notify_store_out o;

	m = fk_expect_notify(&fk, FUSE_NOTIFY_STORE, sizeof(o) + 12);
	memcpy(&o, m->payload, sizeof(o));
	cr_assert_eq(o.nodeid, 44);
	cr_assert_eq(o.offset, 8192);
	cr_assert_eq(o.size, 12);
	cr_assert_eq(memcmp(m->payload + sizeof(o), "stored bytes", 12), 0);
}

static void check_poll(void)
{
	const struct fk_msg *m;
	struct fuse_notify_poll_wakeup_out o;

	m = fk_expect_notify(&fk, FUSE_NOTIFY_POLL, sizeof(o));
	memcpy(&o, m->payload, sizeof(o));
	cr_assert_eq(o.kh, 0x9999);
}

/* PRUNE: the count, then the node ids, nothing else. */
static void check_prune(void)
{
	const struct fk_msg *m;
	struct fuse_notify_prune_out o;
	uint64_t ids[3];

	m = fk_expect_notify(&fk, FUSE_NOTIFY_PRUNE, sizeof(o) + sizeof(ids));
	memcpy(&o, m->payload, sizeof(o));
	memcpy(ids, m->payload + sizeof(o), sizeof(ids));
	cr_assert_eq(o.count, 3);
	cr_assert_eq(o.padding, 0);
	cr_assert_eq(o.spare, 0);
	cr_assert_eq(memcmp(ids, prune_ids, sizeof(ids)), 0);
}

static uint64_t check_retrieve_of(uint64_t nodeid, uint64_t off, uint32_t size)
{
	const struct fk_msg *m;
	struct fuse_notify_retrieve_out o;

	m = fk_expect_notify(&fk, FUSE_NOTIFY_RETRIEVE, sizeof(o));
	memcpy(&o, m->payload, sizeof(o));
	cr_assert_neq(o.notify_unique, 0);
	cr_assert_eq(o.nodeid, nodeid);
	cr_assert_eq(o.offset, off);
	cr_assert_eq(o.size, size);
	cr_assert_eq(o.padding, 0);
	return o.notify_unique;
}

static uint64_t check_retrieve(void)
{
	return check_retrieve_of(45, 100, 4000);
}

Test(notify, inval_inode_from_the_loop_and_from_a_thread, .timeout = 10)
{
	start();
	from_handler(N_INVAL_INODE);
	check_inval_inode();
	from_thread(N_INVAL_INODE);
	check_inval_inode();
	fk_teardown(&fk);
}

Test(notify, inval_entry_and_expire_entry, .timeout = 10)
{
	start();
	from_handler(N_INVAL_ENTRY);
	check_entry(FUSE_NOTIFY_INVAL_ENTRY, "name.txt", 0);
	from_thread(N_INVAL_ENTRY);
	check_entry(FUSE_NOTIFY_INVAL_ENTRY, "name.txt", 0);
	from_handler(N_EXPIRE_ENTRY);
	check_entry(FUSE_NOTIFY_INVAL_ENTRY, "expire", FUSE_EXPIRE_ONLY);
	from_thread(N_EXPIRE_ENTRY);
	check_entry(FUSE_NOTIFY_INVAL_ENTRY, "expire", FUSE_EXPIRE_ONLY);
	fk_teardown(&fk);
}

Test(notify, delete_from_the_loop_and_from_a_thread, .timeout = 10)
{
	start();
	from_handler(N_DELETE);
	check_delete();
	from_thread(N_DELETE);
	check_delete();
	fk_teardown(&fk);
}

Test(notify, store_from_the_loop_and_from_a_thread, .timeout = 10)
{
	start();
	from_handler(N_STORE);
	check_store();
	from_thread(N_STORE);
	check_store();
	fk_teardown(&fk);
}

Test(notify, poll_from_the_loop_and_from_a_thread, .timeout = 10)
{
	start();
	from_handler(N_POLL);
	check_poll();
	from_thread(N_POLL);
	check_poll();
	fk_teardown(&fk);
}

Test(notify, prune_from_the_loop_and_from_a_thread, .timeout = 10)
{
	start();
	from_handler(N_PRUNE);
	check_prune();
	from_thread(N_PRUNE);
	check_prune();
	fk_teardown(&fk);
}

Test(notify, inc_epoch_is_a_bare_header, .timeout = 10)
{
	start();
	from_handler(N_INC_EPOCH);
	fk_expect_notify(&fk, FUSE_NOTIFY_INC_EPOCH, 0);
	from_thread(N_INC_EPOCH);
	fk_expect_notify(&fk, FUSE_NOTIFY_INC_EPOCH, 0);
	fk_teardown(&fk);
}

Test(notify, from_the_loop_thread_outside_a_handler, .timeout = 10)
{
	start();
	/* The test thread runs the loop: this goes through the ring too. */
	cr_assert_eq(notify(fk.se, N_POLL), 0);
	cr_assert_eq(notify(fk.se, N_INVAL_INODE), 0);
	check_poll();
	check_inval_inode();
	fk_teardown(&fk);
}

static void send_notify_reply(uint64_t unique, uint64_t nodeid, uint64_t off, const char *data,
			      uint32_t size)
{
	struct fuse_notify_retrieve_in in = { .offset = off, .size = size };
	struct iovec iov[2] = { { &in, sizeof(in) }, { (void *)data, size } };
	struct fuse_in_header hd;
	char buf[256];

	/* The kernel sends NOTIFY_REPLY with the retrieve's notify_unique as its unique. */
	cr_assert_leq(sizeof(hd) + sizeof(in) + size, sizeof(buf));
	fk_hdr(&fk, &hd, FUSE_NOTIFY_REPLY, nodeid, sizeof(hd) + sizeof(in) + size);
	hd.unique = unique;
	memcpy(buf, &hd, sizeof(hd));
	memcpy(buf + sizeof(hd), iov[0].iov_base, iov[0].iov_len);
	memcpy(buf + sizeof(hd) + sizeof(in), iov[1].iov_base, iov[1].iov_len);
	fk_send_raw(&fk, buf, hd.len);
}

static bool retrieve_done(void *arg)
{
	return rr.calls > 0;
}

Test(notify, retrieve_data_comes_back_with_the_cookie, .timeout = 10)
{
	uint64_t nu;

	start();
	from_handler(N_RETRIEVE);
	nu = check_retrieve();
	send_notify_reply(nu, 45, 100, "cached!", 7);
	cr_assert(fk_pump_until(&fk, retrieve_done, NULL, FK_WAIT_MS));
	fk_expect_no_reply(&fk, 10);   /* NOTIFY_REPLY is not answered */
	cr_assert_eq(rr.calls, 1);
	cr_assert_eq(rr.cookie, &cookie_a);
	cr_assert_eq(rr.ino, 45);
	cr_assert_eq(rr.off, 100);
	cr_assert_eq(rr.size, 7);
	cr_assert_eq(memcmp(rr.data, "cached!", 7), 0);

	/* The same unique again: already consumed, dropped. */
	send_notify_reply(nu, 45, 100, "again", 5);
	fk_expect_no_reply(&fk, 20);
	cr_assert_eq(rr.calls, 1);
	fk_teardown(&fk);
}

Test(notify, two_retrieves_each_get_their_cookie, .timeout = 10)
{
	uint64_t nu1, nu2;

	start();
	cr_assert_eq(rf_notify_retrieve(fk.se, 45, 0, 10, &cookie_a), 0);
	nu1 = check_retrieve_of(45, 0, 10);
	cr_assert_eq(rf_notify_retrieve(fk.se, 46, 0, 10, &cookie_b), 0);
	nu2 = check_retrieve_of(46, 0, 10);
	cr_assert_neq(nu1, nu2);
	/* Answered in the other order. */
	send_notify_reply(nu2, 46, 0, "bbb", 3);
	cr_assert(fk_pump_until(&fk, retrieve_done, NULL, FK_WAIT_MS));
	cr_assert_eq(rr.cookie, &cookie_b);
	cr_assert_eq(rr.ino, 46);
	rr.calls = 0;
	send_notify_reply(nu1, 45, 0, "", 0);
	cr_assert(fk_pump_until(&fk, retrieve_done, NULL, FK_WAIT_MS));
	cr_assert_eq(rr.cookie, &cookie_a);
	cr_assert_eq(rr.size, 0, "nothing was cached: an empty reply");
	fk_teardown(&fk);
}

Test(notify, unknown_notify_reply_is_dropped, .timeout = 10)
{
	start();
	send_notify_reply(12345, 45, 0, "zzz", 3);
	fk_expect_no_reply(&fk, 20);
	cr_assert_eq(rr.calls, 0);
	fk_teardown(&fk);
}

Test(notify, bad_arguments_are_refused, .timeout = 10)
{
	start();
	cr_assert_eq(rf_notify_inval_entry(fk.se, 1, "", 0), -EINVAL);
	cr_assert_eq(rf_notify_inval_entry(fk.se, 1, "a\0b", 3), -EINVAL);
	cr_assert_eq(rf_notify_inval_entry(fk.se, 1, NULL, 3), -EINVAL);
	cr_assert_eq(rf_notify_delete(fk.se, 1, 2, "", 0), -EINVAL);
	cr_assert_eq(rf_notify_store(fk.se, 1, -1, "x", 1), -EINVAL);
	cr_assert_eq(rf_notify_store(fk.se, 1, 0, NULL, 1), -EINVAL);
	cr_assert_eq(rf_notify_retrieve(fk.se, 1, -1, 1, NULL), -EINVAL);
	cr_assert_eq(rf_notify_prune(fk.se, prune_ids, 0), -EINVAL);
	cr_assert_eq(rf_notify_prune(fk.se, NULL, 1), -EINVAL);
	cr_assert_eq(rf_notify_prune(fk.se, prune_ids, RF_NOTIFY_PRUNE_MAX + 1), -EINVAL);
	fk_expect_no_reply(&fk, 10);
	fk_teardown(&fk);
}

Test(notify, before_init_or_on_an_old_kernel_enosys, .timeout = 10)
{
	const struct fk_msg *m;

	ret = 0;
	fk_setup(&fk, &ops, NULL, NULL);
	cr_assert_eq(rf_notify_inval_inode(fk.se, 1, 0, 0), -ENOSYS);
	cr_assert_eq(rf_notify_poll(fk.se, 1), -ENOSYS);
	/* 7.11: poll, but no invalidations (7.12), store/retrieve (7.15) or delete (7.18). */
	m = fk_wait_reply(&fk, fk_send_init(&fk, 7, 11, FUSE_ASYNC_READ, 0, FK_MAX_READAHEAD));
	cr_assert_eq(m->oh.error, 0);
	cr_assert_eq(rf_notify_inval_inode(fk.se, 1, 0, 0), -ENOSYS);
	cr_assert_eq(rf_notify_inval_entry(fk.se, 1, "a", 1), -ENOSYS);
	cr_assert_eq(rf_notify_delete(fk.se, 1, 2, "a", 1), -ENOSYS);
	cr_assert_eq(rf_notify_store(fk.se, 1, 0, "a", 1), -ENOSYS);
	cr_assert_eq(rf_notify_retrieve(fk.se, 1, 0, 1, NULL), -ENOSYS);
	cr_assert_eq(rf_notify_expire_entry(fk.se, 1, "a", 1), -ENOSYS);
	cr_assert_eq(rf_notify_prune(fk.se, prune_ids, 3), -ENOSYS);
	cr_assert_eq(rf_notify_inc_epoch(fk.se), -ENOSYS);
	cr_assert_eq(rf_notify_poll(fk.se, 7), 0);
	fk_expect_notify(&fk, FUSE_NOTIFY_POLL, sizeof(struct fuse_notify_poll_wakeup_out));
	fk_teardown(&fk);
}

Test(notify, expire_entry_needs_the_capability, .timeout = 10)
{
	fk_setup(&fk, &ops, NULL, NULL);
	fk_wait_reply(&fk, fk_send_init(&fk, 7, 45, FK_FLAGS,
					FK_FLAGS2 & ~(uint32_t)(FUSE_HAS_EXPIRE_ONLY >> 32),
					FK_MAX_READAHEAD));
	cr_assert_eq(rf_notify_expire_entry(fk.se, 1, "a", 1), -ENOSYS);
	cr_assert_eq(rf_notify_inval_entry(fk.se, 1, "a", 1), 0);
	check_entry(FUSE_NOTIFY_INVAL_ENTRY, "a", 0);
	fk_teardown(&fk);
}

Test(notify, after_the_session_ended_enotconn, .timeout = 10)
{
	start();
	fk_expect_reply(&fk, fk_send(&fk, FUSE_DESTROY, 0, NULL, 0), 0, 0);
	cr_assert(fk_pump_until_ended(&fk, FK_WAIT_MS));
	cr_assert_eq(rf_notify_poll(fk.se, 1), -ENOTCONN);
	cr_assert_eq(rf_notify_inval_inode(fk.se, 1, 0, 0), -ENOTCONN);
	fk_teardown(&fk);
}
