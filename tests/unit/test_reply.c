/* SPDX-License-Identifier: MIT */
/*
 * test_reply.c - what each rf_reply_* puts on the wire, checked against the kernel's
 * structs; replies from other threads and after the handler returned; errors out of
 * range; directory buffers. The encoding of each reply is a row of reply_cases, run by
 * run_case.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "fake_kernel.h"

/* Each test sets what the handler does; the handler gets the request. */
static void (*act)(struct rf_req *req);
static struct rf_req *held;          /* a request kept for a late reply */
static int ret;                      /* what the last rf_reply_* returned */
static int acts;
static size_t req_size;              /* READ/READDIR size as the handler got it */

static void run(struct rf_req *req)
{
	acts++;
	act(req);
}

static void h_lookup(struct rf_req *req, uint64_t parent, const char *name) { run(req); }
static void h_getattr(struct rf_req *req, uint64_t ino, struct rf_file *fi) { run(req); }
static void h_readlink(struct rf_req *req, uint64_t ino) { run(req); }
static void h_open(struct rf_req *req, uint64_t ino, struct rf_file *fi) { run(req); }
static void h_read(struct rf_req *req, uint64_t ino, size_t size, off_t off,
		   struct rf_file *fi)
{
	req_size = size;
	run(req);
}
static void h_write(struct rf_req *req, uint64_t ino, const void *buf, size_t size, off_t off,
		    struct rf_file *fi) { run(req); }
static void h_statfs(struct rf_req *req, uint64_t ino) { run(req); }
static void h_getxattr(struct rf_req *req, uint64_t ino, const char *name, size_t size)
{
	run(req);
}
static void h_create(struct rf_req *req, uint64_t parent, const char *name, mode_t mode,
		     struct rf_file *fi) { run(req); }
static void h_getlk(struct rf_req *req, uint64_t ino, struct rf_file *fi, struct flock *lock)
{
	run(req);
}
static void h_bmap(struct rf_req *req, uint64_t ino, size_t blocksize, uint64_t idx)
{
	run(req);
}
static void h_ioctl(struct rf_req *req, uint64_t ino, unsigned int cmd, void *arg,
		    struct rf_file *fi, unsigned int flags, const void *in_buf, size_t in_size,
		    size_t out_size) { run(req); }
static void h_poll(struct rf_req *req, uint64_t ino, struct rf_file *fi, uint64_t ph)
{
	run(req);
}
static void h_lseek(struct rf_req *req, uint64_t ino, off_t off, int whence,
		    struct rf_file *fi) { run(req); }
static void h_statx(struct rf_req *req, uint64_t ino, int flags, int mask, struct rf_file *fi)
{
	run(req);
}

static const struct rf_ops ops = {
	.lookup = h_lookup,
	.getattr = h_getattr,
	.readlink = h_readlink,
	.open = h_open,
	.opendir = h_open,
	.read = h_read,
	.write = h_write,
	.readdir = h_read,
	.readdirplus = h_read,
	.statfs = h_statfs,
	.getxattr = h_getxattr,
	.listxattr = NULL,
	.create = h_create,
	.getlk = h_getlk,
	.bmap = h_bmap,
	.ioctl = h_ioctl,
	.poll = h_poll,
	.lseek = h_lseek,
	.statx = h_statx,
};

static struct fk fk;

static void start_minor(uint32_t minor)
{
	act = NULL;
	held = NULL;
	ret = 12345;
	acts = 0;
	fk_setup(&fk, &ops, NULL, NULL);
	if (minor == FK_MINOR) {
		fk_init(&fk);
	} else {
		fk_wait_reply(&fk, fk_send_init(&fk, 7, minor, FUSE_ASYNC_READ | FUSE_BIG_WRITES, 0,
						FK_MAX_READAHEAD));
	}
}

static void start(void)
{
	start_minor(FK_MINOR);
}

static const struct fk_msg *lookup(const char *name, int error, long size)
{
	return fk_expect_reply(&fk, fk_send_name(&fk, FUSE_LOOKUP, 1, NULL, 0, name), error, size);
}

static const struct fk_msg *getattr(int error, long size)
{
	struct fuse_getattr_in in = { 0 };

	return fk_expect_reply(&fk, fk_send(&fk, FUSE_GETATTR, 2, &in, sizeof(in)), error, size);
}

/* OPEN of ino 2, which the test's act answers: fh 1 unless it says otherwise. */
static void act_open_fh1(struct rf_req *req)
{
	struct rf_file fi = { .fh = 1 };

	rf_reply_open(req, &fi);
}

static void open_fh1(uint32_t opcode)
{
	void (*saved)(struct rf_req *) = act;

	act = act_open_fh1;
	fk_expect_reply(&fk, fk_send(&fk, opcode, 2, &(struct fuse_open_in){ 0 },
				     sizeof(struct fuse_open_in)),
			0, sizeof(struct fuse_open_out));
	act = saved;
}

static const struct fk_msg *read_req(uint32_t opcode, uint32_t size, int error, long rsize)
{
	struct fuse_read_in in = { .fh = 1, .size = size };

	return fk_expect_reply(&fk, fk_send(&fk, opcode, 2, &in, sizeof(in)), error, rsize);
}

static struct stat sample_stat(void)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_ino = 42;
	st.st_mode = S_IFREG | 0640;
	st.st_nlink = 3;
	st.st_uid = 1001;
	st.st_gid = 1002;
	st.st_rdev = 0x0801;
	st.st_size = 123456789012ll;
	st.st_blksize = 4096;
	st.st_blocks = 241136;
	st.st_atim.tv_sec = 1700000001;
	st.st_atim.tv_nsec = 11;
	st.st_mtim.tv_sec = 1700000002;
	st.st_mtim.tv_nsec = 22;
	st.st_ctim.tv_sec = 1700000003;
	st.st_ctim.tv_nsec = 999999999;
	return st;
}

static void check_attr(const char *row, const struct fuse_attr *a, const struct stat *st)
{
	cr_assert_eq(a->ino, (uint64_t)st->st_ino, "%s: attr.ino", row);
	cr_assert_eq(a->size, (uint64_t)st->st_size, "%s: attr.size", row);
	cr_assert_eq(a->blocks, (uint64_t)st->st_blocks, "%s: attr.blocks", row);
	cr_assert_eq(a->atime, (uint64_t)st->st_atim.tv_sec, "%s: attr.atime", row);
	cr_assert_eq(a->mtime, (uint64_t)st->st_mtim.tv_sec, "%s: attr.mtime", row);
	cr_assert_eq(a->ctime, (uint64_t)st->st_ctim.tv_sec, "%s: attr.ctime", row);
	cr_assert_eq(a->atimensec, (uint32_t)st->st_atim.tv_nsec, "%s: attr.atimensec", row);
	cr_assert_eq(a->mtimensec, (uint32_t)st->st_mtim.tv_nsec, "%s: attr.mtimensec", row);
	cr_assert_eq(a->ctimensec, (uint32_t)st->st_ctim.tv_nsec, "%s: attr.ctimensec", row);
	cr_assert_eq(a->mode, st->st_mode, "%s: attr.mode", row);
	cr_assert_eq(a->nlink, (uint32_t)st->st_nlink, "%s: attr.nlink", row);
	cr_assert_eq(a->uid, st->st_uid, "%s: attr.uid", row);
	cr_assert_eq(a->gid, st->st_gid, "%s: attr.gid", row);
	cr_assert_eq(a->rdev, (uint32_t)st->st_rdev, "%s: attr.rdev", row);
	cr_assert_eq(a->blksize, (uint32_t)st->st_blksize, "%s: attr.blksize", row);
	cr_assert_eq(a->flags, 0, "%s: attr.flags", row);
}

/* ---- entries and attributes ------------------------------------------------------------ */

static void act_entry(struct rf_req *req)
{
	struct rf_entry e = { .ino = 42, .generation = 7, .attr = sample_stat(),
			      .attr_timeout = 2.25, .entry_timeout = 1.5 };

	ret = rf_reply_entry(req, &e);
}

static void act_entry_no_st_ino(struct rf_req *req)
{
	struct rf_entry e = { .ino = 99, .attr = sample_stat(), .entry_timeout = 1 };

	e.attr.st_ino = 0;
	ret = rf_reply_entry(req, &e);
}

static void act_negative_cached(struct rf_req *req)
{
	struct rf_entry e = { .ino = 0, .entry_timeout = 3 };

	ret = rf_reply_entry(req, &e);
}

static void act_negative_uncached(struct rf_req *req)
{
	struct rf_entry e = { .ino = 0, .entry_timeout = 0 };

	ret = rf_reply_entry(req, &e);
}

static double timeout_in;

static void act_attr_timeout(struct rf_req *req)
{
	struct stat st = sample_stat();

	ret = rf_reply_attr(req, &st, timeout_in);
}

Test(reply, attr_fields_and_odd_timeouts, .timeout = 10)
{
	static const struct { double t; uint64_t sec; uint32_t nsec; } cases[] = {
		{ 0, 0, 0 },
		{ -5, 0, 0 },
		{ 0.000000001, 0, 1 },
		{ 86400.75, 86400, 750000000 },
	};
	const struct fk_msg *m;
	struct fuse_attr_out ao;
	struct stat st = sample_stat();
	size_t i;

	start();
	act = act_attr_timeout;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		timeout_in = cases[i].t;
		m = getattr(0, sizeof(ao));
		memcpy(&ao, m->payload, sizeof(ao));
		cr_assert_eq(ao.attr_valid, cases[i].sec, "timeout %g", cases[i].t);
		cr_assert(ao.attr_valid_nsec == cases[i].nsec ||
			  ao.attr_valid_nsec + 1 == cases[i].nsec, "timeout %g: nsec %u", cases[i].t,
			  ao.attr_valid_nsec);
		cr_assert_eq(ao.dummy, 0);
		check_attr("getattr", &ao.attr, &st);
	}
	/* NaN and absurd values: no garbage, nothing negative. */
	timeout_in = NAN;
	m = getattr(0, sizeof(ao));
	memcpy(&ao, m->payload, sizeof(ao));
	cr_assert_eq(ao.attr_valid, 0);
	cr_assert_eq(ao.attr_valid_nsec, 0);
	timeout_in = 1e300;
	m = getattr(0, sizeof(ao));
	memcpy(&ao, m->payload, sizeof(ao));
	cr_assert_gt(ao.attr_valid, 1000000000ull);
	cr_assert_lt(ao.attr_valid_nsec, 1000000000u);
	fk_teardown(&fk);
}

/* ---- open, create, write --------------------------------------------------------------- */

static void act_open_flags(struct rf_req *req)
{
	struct rf_file fi = { .fh = 0x0102030405060708ull, .direct_io = 1, .keep_cache = 1,
			      .nonseekable = 1, .cache_readdir = 1, .noflush = 1,
			      .parallel_direct_writes = 1 };

	ret = rf_reply_open(req, &fi);
}

static void act_open_passthrough(struct rf_req *req)
{
	struct rf_file fi = { .fh = 5, .passthrough = 1, .backing_id = 17 };

	ret = rf_reply_open(req, &fi);
}

static void act_create(struct rf_req *req)
{
	struct rf_entry e = { .ino = 50, .generation = 2, .attr = sample_stat(),
			      .attr_timeout = 1, .entry_timeout = 2 };
	struct rf_file fi = { .fh = 0xf00d, .direct_io = 1 };

	ret = rf_reply_create(req, &e, &fi);
}

static void act_write_count(struct rf_req *req)
{
	ret = rf_reply_write(req, 3);
}

/* ---- data: buf, iov, readlink, xattr ------------------------------------------------------ */

static void act_buf(struct rf_req *req)
{
	char data[1000];
	size_t i;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7);
	ret = rf_reply_buf(req, data, sizeof(data));
}

static void act_buf_empty(struct rf_req *req)
{
	ret = rf_reply_buf(req, NULL, 0);
}

static void act_buf_in_place(struct rf_req *req)
{
	size_t cap;
	char *p = rf_req_payload(req, &cap);

	cr_assert_geq(cap, req_size, "payload capacity %zu below the READ size %zu", cap,
		      req_size);
	memset(p, 'z', req_size);
	ret = rf_reply_buf(req, p, req_size);
}

static void act_buf_too_big(struct rf_req *req)
{
	size_t cap;
	char *big;

	rf_req_payload(req, &cap);
	big = calloc(1, cap + 1);
	ret = rf_reply_buf(req, big, cap + 1);
	free(big);
}

Test(reply, buf_from_the_payload_area_is_zero_copy_up_to_max_write, .timeout = 10)
{
	const struct fk_msg *m;
	uint32_t size;
	size_t i;

	start();
	open_fh1(FUSE_OPEN);
	act = act_buf_in_place;
	size = fk.init_out.max_write;
	m = read_req(FUSE_READ, size, 0, size);
	cr_assert_eq(ret, 0);
	for (i = 0; i < size; i += 4093)
		cr_assert_eq(m->payload[i], 'z');
	fk_teardown(&fk);
}

static char iov_mid[] = "-middle-";

static void act_iov(struct rf_req *req)
{
	size_t cap;
	char *p = rf_req_payload(req, &cap);
	struct iovec iov[3];

	/* The first piece is already in place; the others are copied behind it. */
	memcpy(p, "first", 5);
	iov[0].iov_base = p;
	iov[0].iov_len = 5;
	iov[1].iov_base = iov_mid;
	iov[1].iov_len = 8;
	iov[2].iov_base = "last";
	iov[2].iov_len = 4;
	ret = rf_reply_iov(req, iov, 3);
}

static void act_iov_empty(struct rf_req *req)
{
	ret = rf_reply_iov(req, NULL, 0);
}

static void act_readlink(struct rf_req *req)
{
	ret = rf_reply_readlink(req, "../target/file");
}

static void act_xattr_size(struct rf_req *req)
{
	ret = rf_reply_xattr_size(req, 777);
}

/* ---- statfs, lock, lseek, bmap, poll, ioctl, statx ------------------------------------------ */

static void act_statfs(struct rf_req *req)
{
	struct statvfs st = { .f_bsize = 4096, .f_frsize = 1024, .f_blocks = 1000000,
			      .f_bfree = 500000, .f_bavail = 400000, .f_files = 3000,
			      .f_ffree = 2000, .f_namemax = 1024 };

	ret = rf_reply_statfs(req, &st);
}

static struct flock lock_out;

static void act_lock(struct rf_req *req)
{
	ret = rf_reply_lock(req, &lock_out);
}

static void act_lseek(struct rf_req *req)
{
	ret = rf_reply_lseek(req, (off_t)1 << 45);
}

static void act_bmap(struct rf_req *req)
{
	ret = rf_reply_bmap(req, 0xabcdef0123ull);
}

static void act_poll(struct rf_req *req)
{
	ret = rf_reply_poll(req, POLLIN | POLLOUT | POLLHUP);
}

static void act_ioctl(struct rf_req *req)
{
	ret = rf_reply_ioctl(req, -3, "0123456789", 10);
}

static void act_statx(struct rf_req *req)
{
	struct statx stx;

	memset(&stx, 0, sizeof(stx));
	stx.stx_mask = STATX_BASIC_STATS | STATX_BTIME;
	stx.stx_blksize = 4096;
	stx.stx_attributes = STATX_ATTR_IMMUTABLE;
	stx.stx_nlink = 2;
	stx.stx_uid = 11;
	stx.stx_gid = 12;
	stx.stx_mode = S_IFDIR | 0700;
	stx.stx_ino = 1234;
	stx.stx_size = 8192;
	stx.stx_blocks = 16;
	stx.stx_attributes_mask = STATX_ATTR_IMMUTABLE | STATX_ATTR_APPEND;
	stx.stx_atime.tv_sec = 1;
	stx.stx_atime.tv_nsec = 2;
	stx.stx_btime.tv_sec = -3;
	stx.stx_btime.tv_nsec = 4;
	stx.stx_ctime.tv_sec = 5;
	stx.stx_ctime.tv_nsec = 6;
	stx.stx_mtime.tv_sec = 7;
	stx.stx_mtime.tv_nsec = 8;
	stx.stx_rdev_major = 9;
	stx.stx_rdev_minor = 10;
	stx.stx_dev_major = 11;
	stx.stx_dev_minor = 12;
	ret = rf_reply_statx(req, &stx, 0.5);
}

/* ---- errors ------------------------------------------------------------------------------------ */

static int err_in;

static void act_err(struct rf_req *req)
{
	ret = rf_reply_err(req, err_in);
}

/* ---- one reply each: the table ---------------------------------------------------------------
 *
 * Each row is one request on a fresh session (after an OPEN of ino 2 with fh 1 when it
 * names a handle) whose handler replies with .act, and what the kernel must then read:
 * the reply's error and size, its fields (R(), by offset in the payload), its bytes, a
 * struct fuse_attr filled from sample_stat(), and what rf_reply_* returned.
 */

#define R(type, field, v) FK_WANT(struct type, 0, field, v)
#define R_AT(base, type, field, v) FK_WANT(struct type, base, field, v)
#define IN(type, ...) .args[0] = FK_IN(type, __VA_ARGS__)

enum ret_want {
	RET_ANY,                    /* not checked */
	RET_ZERO,                   /* rf_reply_* returned 0 */
	RET_NEGATIVE,               /* rf_reply_* returned -errno */
};

struct reply_case {
	const char *name;           /* the behaviour, named in every failure message */
	void (*act)(struct rf_req *req);
	uint32_t opcode;
	uint64_t nodeid;
	struct fk_piece args[FK_PIECES];
	bool open;                  /* OPEN ino 2 (fh 1) first */
	uint32_t minor;             /* INIT as this 7.x kernel (0: 7.45) */
	int err;                    /* what act_err replies */
	struct flock lock;          /* what act_lock replies */
	int error;                  /* the reply's error */
	long reply_size;            /* the reply's payload size */
	enum ret_want ret;
	bool attr;                  /* a fuse_attr of sample_stat() at attr_off */
	size_t attr_off;
	const void *data;           /* these bytes at data_off of the payload */
	size_t data_off, dlen;
	void (*check)(const char *row, const struct fk_msg *m);   /* anything else */
	int invalid_logged;         /* "invalid error" lines logged, at least */
	struct fk_want reply[28];   /* fields of the payload */
};

/* act_buf's 1000 bytes, each as it wrote them. */
static void check_buf_pattern(const char *row, const struct fk_msg *m)
{
	size_t i;

	for (i = 0; i < 1000; i++)
		cr_assert_eq(m->payload[i], (char)(i * 7), "%s: byte %zu", row, i);
}

#define ENTRY_OUT sizeof(struct fuse_entry_out)
#define LK_IN IN(fuse_lk_in, .fh = 1, .lk = { .start = 0, .end = 10, .type = F_WRLCK })
#define READ_IN IN(fuse_read_in, .fh = 1, .size = 4096)
#define GETATTR_IN IN(fuse_getattr_in, 0)
/* rf_reply_err(@e): in range, it reaches the kernel as is. */
#define ERR_ROW(what, e) \
	{ "error_" what "_passes_through", act_err, FUSE_GETATTR, 2, GETATTR_IN, .err = (e), \
	  .error = (e), .ret = RET_ZERO }
/* Out of range: EIO on the wire, logged, and -errno to the caller. */
#define BAD_ERR_ROW(what, e) \
	{ "error_" what "_becomes_eio_logged_and_reported", act_err, FUSE_GETATTR, 2, \
	  GETATTR_IN, .err = (e), .error = -EIO, .ret = RET_NEGATIVE, .invalid_logged = 1 }

static const struct reply_case reply_cases[] = {
	/* ---- entries and attributes ---- */
	{ "entry_fields_and_timeouts", act_entry, FUSE_LOOKUP, 1, .args[1] = FK_NAME("a"),
	  .reply_size = ENTRY_OUT, .ret = RET_ZERO, .attr = true,
	  .attr_off = offsetof(struct fuse_entry_out, attr),
	  .reply = { R(fuse_entry_out, nodeid, 42), R(fuse_entry_out, generation, 7),
		     R(fuse_entry_out, entry_valid, 1), R(fuse_entry_out, entry_valid_nsec, 500000000),
		     R(fuse_entry_out, attr_valid, 2), R(fuse_entry_out, attr_valid_nsec, 250000000) } },
	{ "entry_attr_ino_defaults_to_the_node_id", act_entry_no_st_ino, FUSE_LOOKUP, 1,
	  .args[1] = FK_NAME("a"), .reply_size = ENTRY_OUT,
	  .reply = { R(fuse_entry_out, nodeid, 99), R(fuse_entry_out, attr.ino, 99) } },
	{ "negative_entry_with_a_timeout_is_cached", act_negative_cached, FUSE_LOOKUP, 1,
	  .args[1] = FK_NAME("a"), .reply_size = ENTRY_OUT,
	  .reply = { R(fuse_entry_out, nodeid, 0), R(fuse_entry_out, entry_valid, 3) } },
	{ "negative_entry_without_a_timeout_is_enoent", act_negative_uncached, FUSE_LOOKUP, 1,
	  .args[1] = FK_NAME("b"), .error = -ENOENT },
	{ "old_kernels_get_the_compat_entry_size", act_entry, FUSE_LOOKUP, 1,
	  .args[1] = FK_NAME("a"), .minor = 8, .reply_size = FUSE_COMPAT_ENTRY_OUT_SIZE },
	{ "old_kernels_get_the_compat_attr_size", act_attr_timeout, FUSE_GETATTR, 2, GETATTR_IN,
	  .minor = 8, .reply_size = FUSE_COMPAT_ATTR_OUT_SIZE },

	/* ---- open, create, write ---- */
	{ "open_fh_and_every_open_flag", act_open_flags, FUSE_OPEN, 2, IN(fuse_open_in, 0),
	  .reply_size = sizeof(struct fuse_open_out), .ret = RET_ZERO,
	  .reply = { R(fuse_open_out, fh, 0x0102030405060708ull),
		     R(fuse_open_out, open_flags, FOPEN_DIRECT_IO | FOPEN_KEEP_CACHE |
						  FOPEN_NONSEEKABLE | FOPEN_CACHE_DIR |
						  FOPEN_NOFLUSH | FOPEN_PARALLEL_DIRECT_WRITES),
		     R(fuse_open_out, backing_id, 0) } },
	{ "open_passthrough_carries_its_backing_id", act_open_passthrough, FUSE_OPEN, 3,
	  IN(fuse_open_in, 0), .reply_size = sizeof(struct fuse_open_out),
	  .reply = { R(fuse_open_out, fh, 5), R(fuse_open_out, open_flags, FOPEN_PASSTHROUGH),
		     R(fuse_open_out, backing_id, 17) } },
	{ "create_is_an_entry_then_an_open", act_create, FUSE_CREATE, 1,
	  IN(fuse_create_in, .flags = O_CREAT | O_RDWR, .mode = S_IFREG | 0644),
	  .args[1] = FK_NAME("f"), .reply_size = ENTRY_OUT + sizeof(struct fuse_open_out),
	  .ret = RET_ZERO, .attr = true, .attr_off = offsetof(struct fuse_entry_out, attr),
	  .reply = { R(fuse_entry_out, nodeid, 50), R(fuse_entry_out, generation, 2),
		     R(fuse_entry_out, entry_valid, 2), R(fuse_entry_out, attr_valid, 1),
		     R_AT(ENTRY_OUT, fuse_open_out, fh, 0xf00d),
		     R_AT(ENTRY_OUT, fuse_open_out, open_flags, FOPEN_DIRECT_IO) } },
	{ "write_count", act_write_count, FUSE_WRITE, 2, IN(fuse_write_in, .fh = 1, .size = 3),
	  .args[1] = FK_DATA("xyz", 3), .open = true, .reply_size = sizeof(struct fuse_write_out),
	  .reply = { R(fuse_write_out, size, 3), R(fuse_write_out, padding, 0) } },

	/* ---- data: buf, iov, readlink, xattr ---- */
	{ "buf_copies_exactly_the_bytes", act_buf, FUSE_READ, 2, READ_IN, .open = true,
	  .reply_size = 1000, .ret = RET_ZERO, .check = check_buf_pattern },
	{ "buf_empty_is_an_empty_reply", act_buf_empty, FUSE_READ, 2, READ_IN, .open = true,
	  .ret = RET_ZERO },
	{ "buf_larger_than_the_buffer_is_eio_and_reported", act_buf_too_big, FUSE_READ, 2,
	  READ_IN, .open = true, .error = -EIO, .ret = RET_NEGATIVE },
	/* The first piece is already in the payload area; the others are copied behind it. */
	{ "iov_concatenates_its_pieces", act_iov, FUSE_READ, 2, READ_IN, .open = true,
	  .reply_size = 17, .ret = RET_ZERO, .data = "first-middle-last", .dlen = 17 },
	{ "iov_empty_is_an_empty_reply", act_iov_empty, FUSE_READ, 2, READ_IN, .open = true },
	{ "readlink_is_the_target_without_nul", act_readlink, FUSE_READLINK, 2,
	  .reply_size = 14, .data = "../target/file", .dlen = 14 },
	{ "xattr_size", act_xattr_size, FUSE_GETXATTR, 2, IN(fuse_getxattr_in, .size = 0),
	  .args[1] = FK_NAME("user.x"), .reply_size = sizeof(struct fuse_getxattr_out),
	  .reply = { R(fuse_getxattr_out, size, 777), R(fuse_getxattr_out, padding, 0) } },

	/* ---- statfs, lock, lseek, bmap, poll, ioctl, statx ---- */
	{ "statfs_fields", act_statfs, FUSE_STATFS, 1, .reply_size = sizeof(struct fuse_statfs_out),
	  .reply = { R(fuse_statfs_out, st.blocks, 1000000), R(fuse_statfs_out, st.bfree, 500000),
		     R(fuse_statfs_out, st.bavail, 400000), R(fuse_statfs_out, st.files, 3000),
		     R(fuse_statfs_out, st.ffree, 2000), R(fuse_statfs_out, st.bsize, 4096),
		     R(fuse_statfs_out, st.frsize, 1024), R(fuse_statfs_out, st.namelen, 1024),
		     R(fuse_statfs_out, st.padding, 0) } },
	{ "lock_range_type_and_pid", act_lock, FUSE_GETLK, 2, LK_IN, .open = true,
	  .lock = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 10, .l_len = 5,
		    .l_pid = 77 },
	  .reply_size = sizeof(struct fuse_lk_out),
	  .reply = { R(fuse_lk_out, lk.type, F_RDLCK), R(fuse_lk_out, lk.start, 10),
		     R(fuse_lk_out, lk.end, 14), R(fuse_lk_out, lk.pid, 77) } },
	{ "lock_of_length_0_runs_to_the_end", act_lock, FUSE_GETLK, 2, LK_IN, .open = true,
	  .lock = { .l_type = F_WRLCK, .l_start = 100, .l_len = 0, .l_pid = 5 },
	  .reply_size = sizeof(struct fuse_lk_out),
	  .reply = { R(fuse_lk_out, lk.start, 100), R(fuse_lk_out, lk.end, (uint64_t)INT64_MAX) } },
	/* No conflicting lock: F_UNLCK, and nothing else. */
	{ "lock_unlck_carries_nothing_else", act_lock, FUSE_GETLK, 2, LK_IN, .open = true,
	  .lock = { .l_type = F_UNLCK, .l_start = 3, .l_len = 3, .l_pid = 9 },
	  .reply_size = sizeof(struct fuse_lk_out),
	  .reply = { R(fuse_lk_out, lk.type, F_UNLCK), R(fuse_lk_out, lk.start, 0),
		     R(fuse_lk_out, lk.end, 0), R(fuse_lk_out, lk.pid, 0) } },
	{ "lseek_offset", act_lseek, FUSE_LSEEK, 2,
	  IN(fuse_lseek_in, .fh = 1, .offset = 0, .whence = SEEK_HOLE), .open = true,
	  .reply_size = sizeof(struct fuse_lseek_out),
	  .reply = { R(fuse_lseek_out, offset, 1ull << 45) } },
	{ "bmap_block", act_bmap, FUSE_BMAP, 2, IN(fuse_bmap_in, .block = 1, .blocksize = 512),
	  .open = true, .reply_size = sizeof(struct fuse_bmap_out),
	  .reply = { R(fuse_bmap_out, block, 0xabcdef0123ull) } },
	{ "poll_revents", act_poll, FUSE_POLL, 2, IN(fuse_poll_in, .fh = 1), .open = true,
	  .reply_size = sizeof(struct fuse_poll_out),
	  .reply = { R(fuse_poll_out, revents, POLLIN | POLLOUT | POLLHUP),
		     R(fuse_poll_out, padding, 0) } },
	{ "ioctl_result_then_data", act_ioctl, FUSE_IOCTL, 2,
	  IN(fuse_ioctl_in, .fh = 1, .cmd = 7, .out_size = 10), .open = true,
	  .reply_size = sizeof(struct fuse_ioctl_out) + 10, .data = "0123456789",
	  .data_off = sizeof(struct fuse_ioctl_out), .dlen = 10,
	  .reply = { R(fuse_ioctl_out, result, -3), R(fuse_ioctl_out, flags, 0),
		     R(fuse_ioctl_out, in_iovs, 0), R(fuse_ioctl_out, out_iovs, 0) } },
	{ "statx_fields", act_statx, FUSE_STATX, 2, IN(fuse_statx_in, .sx_mask = STATX_BASIC_STATS),
	  .reply_size = sizeof(struct fuse_statx_out),
	  .reply = { R(fuse_statx_out, attr_valid, 0), R(fuse_statx_out, attr_valid_nsec, 500000000),
		     R(fuse_statx_out, flags, 0),
		     R(fuse_statx_out, stat.mask, STATX_BASIC_STATS | STATX_BTIME),
		     R(fuse_statx_out, stat.blksize, 4096),
		     R(fuse_statx_out, stat.attributes, STATX_ATTR_IMMUTABLE),
		     R(fuse_statx_out, stat.nlink, 2), R(fuse_statx_out, stat.uid, 11),
		     R(fuse_statx_out, stat.gid, 12), R(fuse_statx_out, stat.mode, S_IFDIR | 0700),
		     R(fuse_statx_out, stat.ino, 1234), R(fuse_statx_out, stat.size, 8192),
		     R(fuse_statx_out, stat.blocks, 16),
		     R(fuse_statx_out, stat.attributes_mask, STATX_ATTR_IMMUTABLE | STATX_ATTR_APPEND),
		     R(fuse_statx_out, stat.atime.tv_sec, 1), R(fuse_statx_out, stat.atime.tv_nsec, 2),
		     R(fuse_statx_out, stat.btime.tv_sec, -3),
		     R(fuse_statx_out, stat.btime.tv_nsec, 4),
		     R(fuse_statx_out, stat.ctime.tv_sec, 5), R(fuse_statx_out, stat.ctime.tv_nsec, 6),
		     R(fuse_statx_out, stat.mtime.tv_sec, 7), R(fuse_statx_out, stat.mtime.tv_nsec, 8),
		     R(fuse_statx_out, stat.rdev_major, 9), R(fuse_statx_out, stat.rdev_minor, 10),
		     R(fuse_statx_out, stat.dev_major, 11), R(fuse_statx_out, stat.dev_minor, 12) } },

	/* ---- errors ---- */
	ERR_ROW("enoent", -ENOENT),
	ERR_ROW("511", -511),
	ERR_ROW("0", 0),
	BAD_ERR_ROW("minus_600", -600),
	BAD_ERR_ROW("minus_512", -512),
	BAD_ERR_ROW("5", 5),
	BAD_ERR_ROW("int_min", -2147483647 - 1),
};

static void run_case(const struct reply_case *row)
{
	struct stat st = sample_stat();
	const struct fk_msg *m;

	start_minor(row->minor ? row->minor : FK_MINOR);
	if (row->open)
		open_fh1(FUSE_OPEN);
	acts = 0;
	act = row->act;
	err_in = row->err;
	lock_out = row->lock;
	timeout_in = 0;
	m = fk_wait_reply(&fk, fk_send_pieces(&fk, row->opcode, row->nodeid, row->args, -1, -1));
	cr_assert_eq(acts, 1, "%s: %d handler calls", row->name, acts);
	cr_assert_eq(m->oh.error, row->error, "%s: reply error %d, expected %d", row->name,
		     m->oh.error, row->error);
	cr_assert_eq(m->size, (size_t)row->reply_size, "%s: reply of %zu bytes, expected %ld",
		     row->name, m->size, row->reply_size);
	if (row->ret == RET_ZERO)
		cr_assert_eq(ret, 0, "%s: rf_reply_* returned %d", row->name, ret);
	else if (row->ret == RET_NEGATIVE)
		cr_assert_lt(ret, 0, "%s: rf_reply_* returned %d, the kernel got %d", row->name,
			     ret, m->oh.error);
	fk_check_wants(row->name, "reply's", m->payload, row->reply);
	if (row->attr)
		check_attr(row->name, (const struct fuse_attr *)(m->payload + row->attr_off), &st);
	if (row->data)
		cr_assert_eq(memcmp(m->payload + row->data_off, row->data, row->dlen), 0,
			     "%s: reply bytes at %zu", row->name, row->data_off);
	if (row->check)
		row->check(row->name, m);
	if (row->invalid_logged)
		cr_assert_geq(fk_log_count(RF_LOG_ERR, "invalid error"), row->invalid_logged,
			      "%s: not logged", row->name);
	fk_teardown(&fk);
}

FK_TABLE_TEST(reply, encodes, reply_cases, run_case)

#ifndef RF_DEBUG
static void act_double(struct rf_req *req)
{
	rf_reply_err(req, -ENOENT);
	ret = rf_reply_err(req, -EIO);
}

/* A second reply is the filesystem's bug: logged and dropped (release builds). */
Test(reply, second_reply_is_logged_and_dropped, .timeout = 10)
{
	start();
	act = act_double;
	getattr(-ENOENT, 0);
	cr_assert_lt(ret, 0);
	fk_expect_no_reply(&fk, 20);
	cr_assert_eq(fk_log_count(RF_LOG_ERR, "second reply"), 1);
	/* The slot is fine afterwards. */
	act = act_err;
	err_in = -EPERM;
	getattr(-EPERM, 0);
	fk_teardown(&fk);
}

static int second_ret[4];

static void act_double_data(struct rf_req *req)
{
	struct iovec iov = { "iov!", 4 };
	struct rf_file fi = { .fh = 9 };
	struct rf_entry e = { .ino = 9, .entry_timeout = 1 };

	ret = rf_reply_buf(req, "one", 3);
	/* Each of these would encode into the slot whose write may be in flight. */
	second_ret[0] = rf_reply_buf(req, "two!", 4);
	second_ret[1] = rf_reply_iov(req, &iov, 1);
	second_ret[2] = rf_reply_ioctl(req, 1, "ioctl", 5);
	second_ret[3] = rf_reply_create(req, &e, &fi);
}

/* A second reply with data must leave the first one's bytes alone. */
Test(reply, second_reply_with_data_does_not_touch_the_first, .timeout = 10)
{
	const struct fk_msg *m;
	int i;

	start();
	open_fh1(FUSE_OPEN);
	act = act_double_data;
	m = read_req(FUSE_READ, 4096, 0, 3);
	cr_assert_eq(ret, 0);
	cr_assert_eq(memcmp(m->payload, "one", 3), 0, "first reply's data overwritten: \"%.3s\"",
		     m->payload);
	for (i = 0; i < 4; i++)
		cr_assert_lt(second_ret[i], 0, "second reply %d accepted", i);
	cr_assert_eq(fk_log_count(RF_LOG_ERR, "second reply"), 4);
	fk_expect_no_reply(&fk, 20);
	fk_teardown(&fk);
}
#endif

/* ---- replies from other threads and after the handler returned ---------------------------------- */

static bool is_held(void *arg)
{
	return held != NULL;
}

static void act_hold(struct rf_req *req)
{
	cr_assert_null(held);
	held = req;
}

static void *thread_reply_buf(void *arg)
{
	struct rf_req *req = arg;

	usleep(5000);   /* the loop is in its wait by now */
	ret = rf_reply_buf(req, "from a thread", 13);
	return NULL;
}

static void *thread_reply_entry(void *arg)
{
	struct rf_req *req = arg;
	struct rf_entry e = { .ino = 31, .attr = sample_stat(), .entry_timeout = 1 };

	ret = rf_reply_entry(req, &e);
	return NULL;
}

static pthread_t buf_thread;

static void act_thread(struct rf_req *req)
{
	cr_assert_eq(pthread_create(&buf_thread, NULL, thread_reply_buf, req), 0);
}

static pthread_t entry_thread;

static void act_thread_entry(struct rf_req *req)
{
	cr_assert_eq(pthread_create(&entry_thread, NULL, thread_reply_entry, req), 0);
}

Test(reply, reply_from_another_thread_arrives, .timeout = 10)
{
	const struct fk_msg *m;
	struct fuse_entry_out eo;

	start();
	open_fh1(FUSE_OPEN);
	act = act_thread;
	m = read_req(FUSE_READ, 4096, 0, 13);
	pthread_join(buf_thread, NULL);
	cr_assert_eq(memcmp(m->payload, "from a thread", 13), 0);
	cr_assert_eq(ret, 0);

	act = act_thread_entry;
	m = lookup("t", 0, sizeof(eo));
	pthread_join(entry_thread, NULL);
	memcpy(&eo, m->payload, sizeof(eo));
	cr_assert_eq(eo.nodeid, 31);
	cr_assert_eq(ret, 0);
	fk_teardown(&fk);
}

/* Many threads replying at once, with the loop busy: every reply arrives once. */
#define NTHREADS 16

static struct rf_req *many[NTHREADS];
static int nmany;

static void act_collect(struct rf_req *req)
{
	many[nmany++] = req;
}

static void *thread_reply_err(void *arg)
{
	rf_reply_err(arg, -EAGAIN);
	return NULL;
}

Test(reply, concurrent_replies_from_threads_all_arrive, .timeout = 10)
{
	pthread_t t[NTHREADS];
	uint64_t u[NTHREADS];
	int i;

	start();
	act = act_collect;
	for (i = 0; i < NTHREADS; i++)
		u[i] = fk_send(&fk, FUSE_GETATTR, 2, &(struct fuse_getattr_in){ 0 },
			       sizeof(struct fuse_getattr_in));
	for (i = 0; i < 200 && nmany < NTHREADS; i++)
		fk_pump(&fk, 1);
	cr_assert_eq(nmany, NTHREADS);
	for (i = 0; i < NTHREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, thread_reply_err, many[i]), 0);
	for (i = 0; i < NTHREADS; i++)
		fk_expect_reply(&fk, u[i], -EAGAIN, 0);
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	fk_expect_no_reply(&fk, 10);
	fk_teardown(&fk);
}

Test(reply, late_reply_after_the_handler_returned, .timeout = 10)
{
	struct stat st = sample_stat();
	const struct fk_msg *m;
	struct fuse_attr_out ao;
	uint64_t u;

	start();
	act = act_hold;
	u = fk_send(&fk, FUSE_GETATTR, 2, &(struct fuse_getattr_in){ 0 },
		    sizeof(struct fuse_getattr_in));
	cr_assert(fk_pump_until(&fk, is_held, NULL, FK_WAIT_MS), "the handler did not run");
	fk_expect_no_reply(&fk, 20);
	cr_assert_eq(rf_req_unique(held), u);
	/* Other requests are served meanwhile. */
	act = act_err;
	err_in = -EACCES;
	lookup("other", -EACCES, 0);
	/* Now the held one, from the loop thread outside any handler. */
	ret = rf_reply_attr(held, &st, 1.0);
	cr_assert_eq(ret, 0);
	m = fk_expect_reply(&fk, u, 0, sizeof(ao));
	memcpy(&ao, m->payload, sizeof(ao));
	check_attr("late reply", &ao.attr, &st);
	fk_teardown(&fk);
}

/* ---- directory buffers ---------------------------------------------------------------------- */

struct dirent_want {
	const char *name;
	uint64_t ino;
	mode_t mode;
	off_t off;
};

static const struct dirent_want dir_entries[] = {
	{ ".", 1, S_IFDIR, 1 },
	{ "..", 1, S_IFDIR, 2 },
	{ "file.txt", 10, S_IFREG, 3 },
	{ "a-much-longer-name-than-eight-bytes", 11, S_IFLNK, 4 },
	{ "sock", 12, S_IFSOCK, 5 },
	{ "1234567", 13, S_IFIFO, 6 },       /* 24 + 7 = 31: one byte of padding */
	{ "12345678", 14, S_IFCHR, 7 },      /* 24 + 8 = 32: none */
};
#define NDIR (sizeof(dir_entries) / sizeof(dir_entries[0]))

static size_t dir_size;              /* dirbuf size the handler uses */
static int dir_added;
static int dir_full_ret;

static void act_readdir(struct rf_req *req)
{
	struct rf_dirbuf db;
	size_t i;

	rf_dirbuf_init(&db, req, dir_size ? dir_size : req_size);
	dir_added = 0;
	dir_full_ret = -1;
	for (i = 0; i < NDIR; i++) {
		struct stat st;

		memset(&st, 0, sizeof(st));
		st.st_ino = dir_entries[i].ino;
		st.st_mode = dir_entries[i].mode | 0644;
		if (!rf_dirbuf_add(&db, dir_entries[i].name, &st, dir_entries[i].off)) {
			dir_full_ret = 0;
			break;
		}
		dir_added++;
	}
	ret = rf_reply_dirbuf(req, &db);
}

/* Walk the entries of a READDIR reply; returns how many, checking each. */
static int check_dirents(const char *p, size_t len)
{
	size_t off = 0;
	int n = 0;

	while (off < len) {
		struct fuse_dirent de;
		const struct dirent_want *w = &dir_entries[n];
		size_t rec;

		cr_assert_leq(off + FUSE_NAME_OFFSET, len);
		memcpy(&de, p + off, sizeof(de));
		rec = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + de.namelen);
		cr_assert_eq(off % 8, 0, "entry %d at offset %zu is not 8-byte aligned", n, off);
		cr_assert_leq(off + rec, len);
		cr_assert_eq(de.namelen, strlen(w->name));
		cr_assert_eq(memcmp(p + off + FUSE_NAME_OFFSET, w->name, de.namelen), 0);
		for (size_t k = FUSE_NAME_OFFSET + de.namelen; k < rec; k++)
			cr_assert_eq(p[off + k], 0, "padding of entry %d not zeroed", n);
		cr_assert_eq(de.ino, w->ino);
		cr_assert_eq(de.off, (uint64_t)w->off);
		cr_assert_eq(de.type, (uint32_t)(w->mode >> 12), "entry %d type %u", n, de.type);
		off += rec;
		n++;
	}
	cr_assert_eq(off, len);
	return n;
}

Test(reply, readdir_entries_are_aligned_named_and_offset, .timeout = 10)
{
	const struct fk_msg *m;
	int n;

	start();
	open_fh1(FUSE_OPENDIR);
	act = act_readdir;
	m = read_req(FUSE_READDIR, 4096, 0, -1);
	n = check_dirents(m->payload, m->size);
	cr_assert_eq(n, (int)NDIR);
	cr_assert_eq(dir_added, (int)NDIR);
	cr_assert_eq(m->size % 8, 0);
	fk_teardown(&fk);
}

Test(reply, dirbuf_add_returns_0_when_full, .timeout = 10)
{
	const struct fk_msg *m;
	size_t two = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + 1) + FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + 2);

	start();
	open_fh1(FUSE_OPENDIR);
	act = act_readdir;
	/* Room for "." and ".." and 7 bytes more: the third does not fit. */
	m = read_req(FUSE_READDIR, (uint32_t)two + 7, 0, (long)two);
	cr_assert_eq(dir_added, 2);
	cr_assert_eq(dir_full_ret, 0);
	cr_assert_eq(check_dirents(m->payload, m->size), 2);

	/* Exactly two entries' worth. */
	m = read_req(FUSE_READDIR, (uint32_t)two, 0, (long)two);
	cr_assert_eq(dir_added, 2);

	/* Less than one entry: an empty reply (end of directory for the kernel). */
	read_req(FUSE_READDIR, 16, 0, 0);
	cr_assert_eq(dir_added, 0);
	cr_assert_eq(dir_full_ret, 0);

	/* The handler asking for more than the READ size still gets at most the buffer. */
	dir_size = (size_t)1 << 40;
	m = read_req(FUSE_READDIR, 4096, 0, -1);
	cr_assert_eq(dir_added, (int)NDIR);
	fk_teardown(&fk);
}

static void act_readdirplus(struct rf_req *req)
{
	struct rf_dirbuf db;
	struct rf_entry e;

	rf_dirbuf_init(&db, req, req_size);
	dir_added = 0;
	memset(&e, 0, sizeof(e));
	e.ino = 1;
	e.attr.st_ino = 1;
	e.attr.st_mode = S_IFDIR | 0755;
	dir_added += rf_dirbuf_add_plus(&db, ".", &e, 1);
	memset(&e, 0, sizeof(e));
	e.ino = 40;
	e.generation = 3;
	e.attr = sample_stat();
	e.attr.st_ino = 40;
	e.attr_timeout = 1.5;
	e.entry_timeout = 2;
	dir_added += rf_dirbuf_add_plus(&db, "plus-entry", &e, 2);
	/* A node id without st_ino: the attributes still carry the inode number. */
	memset(&e, 0, sizeof(e));
	e.ino = 41;
	e.attr.st_mode = S_IFREG | 0600;
	dir_added += rf_dirbuf_add_plus(&db, "x", &e, 3);
	/* No node id: the kernel makes no dentry and counts no lookup. */
	memset(&e, 0, sizeof(e));
	e.attr.st_ino = 50;
	e.attr.st_mode = S_IFREG;
	dir_added += rf_dirbuf_add_plus(&db, "nolookup", &e, 4);
	ret = rf_reply_dirbuf(req, &db);
}

static const char *plus_at(const char *p, size_t *off, struct fuse_direntplus *dp)
{
	const char *name;

	cr_assert_eq(*off % 8, 0);
	memcpy(dp, p + *off, sizeof(*dp));
	name = p + *off + FUSE_NAME_OFFSET_DIRENTPLUS;
	*off += FUSE_DIRENTPLUS_SIZE(dp);
	return name;
}

Test(reply, readdirplus_entries_carry_entry_out_and_dirent, .timeout = 10)
{
	struct stat st = sample_stat();
	struct fuse_direntplus dp;
	const struct fk_msg *m;
	const char *name;
	size_t off = 0, want;

	start();
	open_fh1(FUSE_OPENDIR);
	act = act_readdirplus;
	want = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET_DIRENTPLUS + 1) +
	       FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET_DIRENTPLUS + 10) +
	       FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET_DIRENTPLUS + 1) +
	       FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET_DIRENTPLUS + 8);
	m = read_req(FUSE_READDIRPLUS, 4096, 0, (long)want);
	cr_assert_eq(dir_added, 4);

	name = plus_at(m->payload, &off, &dp);
	cr_assert_eq(dp.dirent.namelen, 1);
	cr_assert_eq(memcmp(name, ".", 1), 0);
	cr_assert_eq(dp.entry_out.nodeid, 1);
	cr_assert_eq(dp.dirent.type, S_IFDIR >> 12);
	cr_assert_eq(dp.dirent.off, 1);

	name = plus_at(m->payload, &off, &dp);
	cr_assert_eq(dp.dirent.namelen, 10);
	cr_assert_eq(memcmp(name, "plus-entry", 10), 0);
	cr_assert_eq(dp.entry_out.nodeid, 40);
	cr_assert_eq(dp.entry_out.generation, 3);
	cr_assert_eq(dp.entry_out.entry_valid, 2);
	cr_assert_eq(dp.entry_out.attr_valid, 1);
	cr_assert_eq(dp.entry_out.attr_valid_nsec, 500000000);
	st.st_ino = 40;
	check_attr("readdirplus", &dp.entry_out.attr, &st);
	cr_assert_eq(dp.dirent.ino, 40);
	cr_assert_eq(dp.dirent.off, 2);
	cr_assert_eq(dp.dirent.type, S_IFREG >> 12);

	name = plus_at(m->payload, &off, &dp);
	cr_assert_eq(memcmp(name, "x", 1), 0);
	cr_assert_eq(dp.entry_out.nodeid, 41);
	cr_assert_eq(dp.dirent.ino, 41);
	cr_assert_eq(dp.entry_out.attr.ino, 41,
		     "readdirplus attr.ino %llu: rf_reply_entry fills it from the node id",
		     (unsigned long long)dp.entry_out.attr.ino);

	name = plus_at(m->payload, &off, &dp);
	cr_assert_eq(memcmp(name, "nolookup", 8), 0);
	cr_assert_eq(dp.entry_out.nodeid, 0);
	cr_assert_eq(dp.dirent.ino, 50);
	cr_assert_eq(off, m->size);
	fk_teardown(&fk);
}

/* ---- the queue and the loop's wake-up ------------------------------------------------------- */

static bool nmany_reach(void *arg)
{
	return nmany >= *(int *)arg;
}

/* With every slot held by the filesystem, the next request waits in the kernel; a late
 * reply frees a slot and it comes in. */
Test(reply, full_queue_waits_for_a_late_reply, .timeout = 10)
{
	struct rf_opts opts;
	uint64_t u[3];
	int i, want;

	rf_opts_init(&opts);
	opts.queue_depth = 2;
	opts.max_write = 65536;
	act = act_collect;
	fk_setup(&fk, &ops, NULL, &opts);
	fk_init(&fk);
	for (i = 0; i < 3; i++)
		u[i] = fk_send(&fk, FUSE_GETATTR, 2, &(struct fuse_getattr_in){ 0 },
			       sizeof(struct fuse_getattr_in));
	want = 2;
	cr_assert(fk_pump_until(&fk, nmany_reach, &want, FK_WAIT_MS));
	fk_expect_no_reply(&fk, 30);
	cr_assert_eq(nmany, 2, "a request was read with every slot in service");
	rf_reply_err(many[0], -ENOENT);
	fk_expect_reply(&fk, u[0], -ENOENT, 0);
	want = 3;
	cr_assert(fk_pump_until(&fk, nmany_reach, &want, FK_WAIT_MS),
		  "the waiting request never came in");
	cr_assert_eq(rf_req_unique(many[2]), u[2]);
	rf_reply_err(many[2], -EPERM);
	rf_reply_err(many[1], -EACCES);
	fk_expect_reply(&fk, u[1], -EACCES, 0);
	fk_expect_reply(&fk, u[2], -EPERM, 0);
	fk_teardown(&fk);
}

static void *thread_late_reply(void *arg)
{
	usleep(20000);
	rf_reply_buf(arg, "woke", 4);
	return NULL;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A loop blocked in a long wait is woken by a reply from another thread. */
Test(reply, reply_from_a_thread_wakes_a_waiting_loop, .timeout = 10)
{
	struct pollfd pfd;
	pthread_t t;
	int64_t t0;
	uint64_t u;

	start();
	act = act_hold;
	u = fk_send(&fk, FUSE_GETATTR, 2, &(struct fuse_getattr_in){ 0 },
		    sizeof(struct fuse_getattr_in));
	cr_assert(fk_pump_until(&fk, is_held, NULL, FK_WAIT_MS));
	cr_assert_eq(pthread_create(&t, NULL, thread_late_reply, held), 0);
	t0 = mono_ms();
	pfd.fd = fk.kfd;
	pfd.events = POLLIN;
	/* Each round may wait 3 s; the reply must come long before that. */
	while (poll(&pfd, 1, 0) == 0 && mono_ms() - t0 < 2000)
		rf_loop_run_once(fk.loop, 3000);
	cr_assert_lt(mono_ms() - t0, 1000, "the loop slept through a reply from a thread");
	pthread_join(t, NULL);
	fk_expect_reply(&fk, u, 0, 4);
	fk_teardown(&fk);
}
