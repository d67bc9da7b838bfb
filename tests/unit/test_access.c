/* SPDX-License-Identifier: MIT */
/*
 * test_access.c - allow_root: requests from a uid other than the owner's and root's get
 * EACCES before reaching the filesystem, except the bookkeeping and open-file requests
 * that libfuse lets through too (FORGET, READ on an open fh, RELEASE...). A session on
 * a given fd counts root as its owner.
 */
#include <errno.h>
#include <string.h>

#include <criterion/criterion.h>

#include "fake_kernel.h"

static int calls, forgets;

static void a_lookup(struct rf_req *req, uint64_t parent, const char *name)
{
	struct rf_entry e = { .ino = 2, .attr = { .st_ino = 2, .st_mode = S_IFREG | 0644 } };

	calls++;
	rf_reply_entry(req, &e);
}

static void a_getattr(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct stat st = { .st_ino = ino, .st_mode = S_IFREG | 0644 };

	calls++;
	rf_reply_attr(req, &st, 0);
}

static void a_open(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	calls++;
	fi->fh = 7;
	rf_reply_open(req, fi);
}

static void a_read(struct rf_req *req, uint64_t ino, size_t size, off_t off,
		   struct rf_file *fi)
{
	calls++;
	rf_reply_buf(req, "data", 4);
}

static void a_flush(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	calls++;
	rf_reply_err(req, 0);
}

static void a_forget(void *ud, uint64_t ino, uint64_t nlookup)
{
	forgets++;
}

static const struct rf_ops a_ops = {
	.lookup = a_lookup,
	.getattr = a_getattr,
	.open = a_open,
	.read = a_read,
	.flush = a_flush,
	.forget = a_forget,
};

/* One request from @uid: header, @arg, then @name with its NUL if any. */
static uint64_t send_as(struct fk *fk, uint32_t uid, uint32_t opcode, uint64_t nodeid,
			const void *arg, size_t len, const char *name)
{
	char buf[512];
	struct fuse_in_header h;
	size_t n = sizeof(h) + len + (name ? strlen(name) + 1 : 0);

	cr_assert_leq(n, sizeof(buf));
	fk_hdr(fk, &h, opcode, nodeid, n);
	h.uid = uid;
	memcpy(buf, &h, sizeof(h));
	if (len)
		memcpy(buf + sizeof(h), arg, len);
	if (name)
		strcpy(buf + sizeof(h) + len, name);
	fk_send_raw(fk, buf, n);
	return h.unique;
}

struct access_case {
	uint32_t uid;
	uint32_t opcode;
	int error;                  /* the reply's; the handler ran iff 0 */
};

/* In order, on one session: root looks up and opens node 2, then others try. */
static const struct access_case cases[] = {
	{ 0, FUSE_LOOKUP, 0 },
	{ 0, FUSE_OPEN, 0 },
	{ 65534, FUSE_LOOKUP, -EACCES },
	{ 1000, FUSE_GETATTR, -EACCES },
	{ 65534, FUSE_OPEN, -EACCES },
	{ 65534, FUSE_STATFS, -EACCES },
	{ 0, FUSE_GETATTR, 0 },
	{ 65534, FUSE_READ, 0 },          /* on root's open fh: as a passed fd */
	{ 65534, FUSE_FLUSH, 0 },
	{ 65534, FUSE_RELEASE, 0 },
};

static uint64_t send_case(struct fk *fk, const struct access_case *k)
{
	struct fuse_getattr_in ga = { 0 };
	struct fuse_open_in op = { .flags = O_RDONLY };
	struct fuse_read_in rd = { .fh = 7, .size = 4096 };
	struct fuse_flush_in fl = { .fh = 7 };
	struct fuse_release_in rel = { .fh = 7, .flags = O_RDONLY };

	switch (k->opcode) {
	case FUSE_LOOKUP:
		return send_as(fk, k->uid, k->opcode, 1, NULL, 0, "f");
	case FUSE_GETATTR:
		return send_as(fk, k->uid, k->opcode, 2, &ga, sizeof(ga), NULL);
	case FUSE_OPEN:
		return send_as(fk, k->uid, k->opcode, 2, &op, sizeof(op), NULL);
	case FUSE_READ:
		return send_as(fk, k->uid, k->opcode, 2, &rd, sizeof(rd), NULL);
	case FUSE_FLUSH:
		return send_as(fk, k->uid, k->opcode, 2, &fl, sizeof(fl), NULL);
	case FUSE_RELEASE:
		return send_as(fk, k->uid, k->opcode, 2, &rel, sizeof(rel), NULL);
	default:
		return send_as(fk, k->uid, k->opcode, 1, NULL, 0, NULL);
	}
}

Test(access, allow_root_refuses_other_uids_but_lets_open_file_work_through,
     .timeout = 10)
{
	struct rf_opts opts;
	struct fk fk;
	size_t i;

	rf_opts_init(&opts);
	opts.allow_root = 1;
	fk_setup(&fk, &a_ops, NULL, &opts);
	fk_init(&fk);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct access_case *k = &cases[i];
		int before = calls;
		uint64_t u = send_case(&fk, k);

		fk_expect_reply(&fk, u, k->error, -1);
		/* STATFS and RELEASE have no handler here: the runtime's default answers. */
		if (k->opcode != FUSE_STATFS && k->opcode != FUSE_RELEASE)
			cr_expect_eq(calls - before, k->error ? 0 : 1, "case %zu (uid %u, op %u)", i,
				     k->uid, k->opcode);
	}
	/* FORGET from anyone: bookkeeping, never refused (and never answered). */
	{
		struct fuse_forget_in fin = { .nlookup = 1 };

		send_as(&fk, 65534, FUSE_FORGET, 2, &fin, sizeof(fin), NULL);
		fk_pump(&fk, 50);
		cr_expect_eq(forgets, 1);
		fk_expect_no_reply(&fk, 20);
	}
	fk_teardown(&fk);
}

Test(access, without_allow_root_every_uid_reaches_the_filesystem, .timeout = 10)
{
	struct fk fk;
	uint64_t u;

	fk_setup(&fk, &a_ops, NULL, NULL);
	fk_init(&fk);
	u = send_as(&fk, 65534, FUSE_LOOKUP, 1, NULL, 0, "f");
	fk_expect_reply(&fk, u, 0, -1);
	cr_expect_eq(calls, 1);
	fk_teardown(&fk);
}
