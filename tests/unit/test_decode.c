/* SPDX-License-Identifier: MIT */
/*
 * test_decode.c - malformed requests: each gets EIO (or is dropped when its opcode has no
 * reply), never reaches the filesystem, and the server goes on serving.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "fake_kernel.h"

static struct {
	int calls;                   /* any handler */
	int forgets;
	size_t size;
	bool buf_null;
	char name[64];
	uint32_t groups;
} h;

static void h_lookup(struct rf_req *req, uint64_t parent, const char *name)
{
	h.calls++;
	snprintf(h.name, sizeof(h.name), "%s", name);
	rf_reply_err(req, -ENOENT);
}

static void h_forget(void *ud, uint64_t ino, uint64_t nlookup)
{
	h.forgets++;
}

static void h_mkdir(struct rf_req *req, uint64_t parent, const char *name, mode_t mode)
{
	h.calls++;
	snprintf(h.name, sizeof(h.name), "%s", name);
	rf_reply_err(req, -EEXIST);
}

static void h_open(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	fi->fh = 1;
	rf_reply_open(req, fi);
}

static void h_read(struct rf_req *req, uint64_t ino, size_t size, off_t off,
		   struct rf_file *fi)
{
	h.calls++;
	h.size = size;
	rf_reply_buf(req, "r", 1);
}

static void h_write(struct rf_req *req, uint64_t ino, const void *buf, size_t size, off_t off,
		    struct rf_file *fi)
{
	h.calls++;
	h.size = size;
	h.buf_null = buf == NULL;
	rf_reply_write(req, size);
}

static void h_setxattr(struct rf_req *req, uint64_t ino, const char *name, const void *value,
		       size_t size, int flags)
{
	h.calls++;
	h.size = size;
	rf_reply_err(req, 0);
}

static void h_getxattr(struct rf_req *req, uint64_t ino, const char *name, size_t size)
{
	size_t cap;

	h.calls++;
	h.size = size;
	rf_req_payload(req, &cap);
	cr_assert_leq(size, cap, "getxattr size %zu beyond the reply buffer %zu", size, cap);
	rf_reply_err(req, -ERANGE);
}

static void h_any(struct rf_req *req)
{
	h.calls++;
	rf_reply_err(req, 0);
}

static void h_rename(struct rf_req *req, uint64_t parent, const char *name, uint64_t newparent,
		     const char *newname, unsigned int flags)
{
	h_any(req);
}

static void h_symlink(struct rf_req *req, const char *target, uint64_t parent,
		      const char *name)
{
	h_any(req);
}

static void h_getattr(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	h_any(req);
}

static void h_setattr(struct rf_req *req, uint64_t ino, const struct stat *attr, int to_set,
		      struct rf_file *fi)
{
	h_any(req);
}

static void h_ioctl(struct rf_req *req, uint64_t ino, unsigned int cmd, void *arg,
		    struct rf_file *fi, unsigned int flags, const void *in_buf, size_t in_size,
		    size_t out_size)
{
	h.calls++;
	rf_reply_ioctl(req, 0, NULL, 0);
}

static void h_getlk(struct rf_req *req, uint64_t ino, struct rf_file *fi, struct flock *lock)
{
	h.calls++;
	rf_reply_lock(req, lock);
}

static const struct rf_ops ops = {
	.lookup = h_lookup,
	.forget = h_forget,
	.getattr = h_getattr,
	.setattr = h_setattr,
	.mkdir = h_mkdir,
	.symlink = h_symlink,
	.rename = h_rename,
	.open = h_open,
	.read = h_read,
	.write = h_write,
	.setxattr = h_setxattr,
	.getxattr = h_getxattr,
	.ioctl = h_ioctl,
	.getlk = h_getlk,
};

static struct fk fk;

static void start_opts(const struct rf_opts *opts)
{
	memset(&h, 0, sizeof(h));
	fk_setup(&fk, &ops, NULL, opts);
	fk_init(&fk);
}

static void start(void)
{
	start_opts(NULL);
}

/* The server still answers a good request. */
static void still_serving(void)
{
	int before = h.calls;

	fk_expect_reply(&fk, fk_send_name(&fk, FUSE_LOOKUP, 1, NULL, 0, "ok"), -ENOENT, 0);
	cr_assert_eq(h.calls, before + 1);
	cr_assert_str_eq(h.name, "ok");
}

/* Header + @args (@len bytes) with header fields as given. */
static uint64_t send_hdr(uint32_t opcode, uint64_t nodeid, uint32_t hdr_len, uint16_t extlen,
			 const void *args, size_t len)
{
	struct fuse_in_header hd;
	char *buf = calloc(1, sizeof(hd) + len);

	cr_assert_not_null(buf);
	fk_hdr(&fk, &hd, opcode, nodeid, sizeof(hd) + len);
	hd.len = hdr_len;
	hd.total_extlen = extlen;
	memcpy(buf, &hd, sizeof(hd));
	if (len)
		memcpy(buf + sizeof(hd), args, len);
	fk_send_raw(&fk, buf, sizeof(hd) + len);
	free(buf);
	return hd.unique;
}

static uint64_t open_fh(uint64_t ino)
{
	struct fuse_open_in in = { .flags = O_RDWR };

	fk_expect_reply(&fk, fk_send(&fk, FUSE_OPEN, ino, &in, sizeof(in)), 0,
			sizeof(struct fuse_open_out));
	return 1;
}

/* ---- headers -------------------------------------------------------------------------- */

Test(decode, short_header_is_dropped_and_the_next_request_answered, .timeout = 10)
{
	struct fuse_in_header hd;
	char junk[sizeof(hd) - 1];

	start();
	fk_hdr(&fk, &hd, FUSE_LOOKUP, 1, sizeof(hd));
	memcpy(junk, &hd, sizeof(junk));
	fk_send_raw(&fk, junk, sizeof(junk));
	fk_send_raw(&fk, junk, 1);
	fk_send_raw(&fk, junk, 8);
	fk_expect_no_reply(&fk, 30);
	still_serving();
	fk_teardown(&fk);
}

Test(decode, short_header_before_init_is_dropped_too, .timeout = 10)
{
	char junk[16] = { 0 };

	memset(&h, 0, sizeof(h));
	fk_setup(&fk, &ops, NULL, NULL);
	fk_send_raw(&fk, junk, sizeof(junk));
	fk_expect_no_reply(&fk, 20);
	fk_init(&fk);
	still_serving();
	fk_teardown(&fk);
}

Test(decode, header_len_larger_than_the_message_gets_eio, .timeout = 10)
{
	uint64_t u;

	start();
	u = send_hdr(FUSE_LOOKUP, 1, sizeof(struct fuse_in_header) + 100, 0, "name", 5);
	fk_expect_reply(&fk, u, -EIO, 0);
	cr_assert_eq(h.calls, 0);
	still_serving();
	fk_teardown(&fk);
}

Test(decode, header_len_smaller_than_the_message_gets_eio, .timeout = 10)
{
	uint64_t u;

	start();
	u = send_hdr(FUSE_LOOKUP, 1, sizeof(struct fuse_in_header) + 2, 0, "name", 5);
	fk_expect_reply(&fk, u, -EIO, 0);
	u = send_hdr(FUSE_LOOKUP, 1, 0, 0, "name", 5);
	fk_expect_reply(&fk, u, -EIO, 0);
	cr_assert_eq(h.calls, 0);
	still_serving();
	fk_teardown(&fk);
}

Test(decode, total_extlen_past_the_end_gets_eio, .timeout = 10)
{
	struct fuse_mkdir_in in = { .mode = 0755 };
	char args[sizeof(in) + 8];
	uint64_t u;

	start();
	memcpy(args, &in, sizeof(in));
	memcpy(args + sizeof(in), "dirname", 8);
	/* 16 bytes of arguments, extension claims 24. */
	u = send_hdr(FUSE_MKDIR, 1, sizeof(struct fuse_in_header) + sizeof(args), 3, args,
		     sizeof(args));
	fk_expect_reply(&fk, u, -EIO, 0);
	u = send_hdr(FUSE_MKDIR, 1, sizeof(struct fuse_in_header) + sizeof(args), 0xffff, args,
		     sizeof(args));
	fk_expect_reply(&fk, u, -EIO, 0);
	cr_assert_eq(h.calls, 0);
	still_serving();
	fk_teardown(&fk);
}

/* A supplementary-groups extension (FUSE_CREATE_SUPP_GROUP), 16 bytes. */
struct groups_ext {
	struct fuse_ext_header eh;
	uint32_t nr_groups;
	uint32_t group;
};

Test(decode, extension_is_not_read_as_arguments, .timeout = 10)
{
	struct fuse_mkdir_in in = { .mode = 0755 };
	struct groups_ext ext = { { sizeof(ext), FUSE_EXT_GROUPS }, 1, 4321 };
	struct iovec iov[3] = { { &in, sizeof(in) }, { "sub", 4 }, { &ext, sizeof(ext) } };
	char buf[256];
	struct fuse_in_header hd;
	size_t len = sizeof(hd) + sizeof(in) + 4 + sizeof(ext);
	uint64_t u;

	start();
	/* A well-formed one: the name is "sub", the extension is skipped. */
	fk_hdr(&fk, &hd, FUSE_MKDIR, 1, len);
	hd.total_extlen = sizeof(ext) / 8;
	memcpy(buf, &hd, sizeof(hd));
	memcpy(buf + sizeof(hd), iov[0].iov_base, iov[0].iov_len);
	memcpy(buf + sizeof(hd) + sizeof(in), iov[1].iov_base, iov[1].iov_len);
	memcpy(buf + sizeof(hd) + sizeof(in) + 4, &ext, sizeof(ext));
	fk_send_raw(&fk, buf, len);
	fk_expect_reply(&fk, hd.unique, -EEXIST, 0);
	cr_assert_eq(h.calls, 1);
	cr_assert_str_eq(h.name, "sub");

	/* The name's NUL missing: a NUL inside the extension must not complete it. */
	fk_hdr(&fk, &hd, FUSE_MKDIR, 1, len);
	hd.total_extlen = sizeof(ext) / 8;
	memcpy(buf, &hd, sizeof(hd));
	memcpy(buf + sizeof(hd) + sizeof(in), "subX", 4);
	fk_send_raw(&fk, buf, len);
	u = hd.unique;
	fk_expect_reply(&fk, u, -EIO, 0);
	cr_assert_eq(h.calls, 1);
	still_serving();
	fk_teardown(&fk);
}

/* ---- names ------------------------------------------------------------------------------ */

Test(decode, name_without_nul_gets_eio, .timeout = 10)
{
	struct fuse_mkdir_in in = { .mode = 0755 };
	struct iovec iov[2] = { { &in, sizeof(in) }, { "noterm", 6 } };

	start();
	fk_expect_reply(&fk, fk_send(&fk, FUSE_LOOKUP, 1, "abc", 3), -EIO, 0);
	fk_expect_reply(&fk, fk_sendv(&fk, FUSE_MKDIR, 1, iov, 2), -EIO, 0);
	cr_assert_eq(h.calls, 0);
	still_serving();
	fk_teardown(&fk);
}

Test(decode, empty_or_missing_name_gets_eio, .timeout = 10)
{
	struct fuse_mkdir_in in = { .mode = 0755 };

	start();
	fk_expect_reply(&fk, fk_send(&fk, FUSE_LOOKUP, 1, "", 1), -EIO, 0);
	fk_expect_reply(&fk, fk_send(&fk, FUSE_LOOKUP, 1, NULL, 0), -EIO, 0);
	fk_expect_reply(&fk, fk_send(&fk, FUSE_UNLINK, 1, "", 1), -EIO, 0);
	fk_expect_reply(&fk, fk_send(&fk, FUSE_MKDIR, 1, &in, sizeof(in)), -EIO, 0);
	fk_expect_reply(&fk, fk_send_name(&fk, FUSE_MKDIR, 1, &in, sizeof(in), ""), -EIO, 0);
	cr_assert_eq(h.calls, 0);
	still_serving();
	fk_teardown(&fk);
}

Test(decode, second_name_missing_or_unterminated_gets_eio, .timeout = 10)
{
	struct fuse_rename_in in = { .newdir = 1 };
	struct iovec iov[3] = { { &in, sizeof(in) }, { "old", 4 }, { "new", 3 } };

	start();
	/* RENAME: new name without NUL, then missing, then empty. */
	fk_expect_reply(&fk, fk_sendv(&fk, FUSE_RENAME, 1, iov, 3), -EIO, 0);
	fk_expect_reply(&fk, fk_sendv(&fk, FUSE_RENAME, 1, iov, 2), -EIO, 0);
	fk_expect_reply(&fk, fk_send_names(&fk, FUSE_RENAME, 1, &in, sizeof(in), "old", ""), -EIO,
			0);
	/* SYMLINK: the target without NUL, or empty. */
	fk_expect_reply(&fk, fk_send_name(&fk, FUSE_SYMLINK, 1, NULL, 0, "link"), -EIO, 0);
	fk_expect_reply(&fk, fk_send_names(&fk, FUSE_SYMLINK, 1, NULL, 0, "link", ""), -EIO, 0);
	cr_assert_eq(h.calls, 0);
	/* A good one passes. */
	fk_expect_reply(&fk, fk_send_names(&fk, FUSE_RENAME, 1, &in, sizeof(in), "old", "new"), 0,
			0);
	cr_assert_eq(h.calls, 1);
	fk_teardown(&fk);
}

/* ---- fixed arguments too short ----------------------------------------------------------- */

Test(decode, arguments_shorter_than_their_struct_get_eio, .timeout = 10)
{
	static const struct { uint32_t opcode; size_t size; } cases[] = {
		{ FUSE_GETATTR, sizeof(struct fuse_getattr_in) },
		{ FUSE_SETATTR, sizeof(struct fuse_setattr_in) },
		{ FUSE_MKNOD, sizeof(struct fuse_mknod_in) },
		{ FUSE_MKDIR, sizeof(struct fuse_mkdir_in) },
		{ FUSE_RENAME, sizeof(struct fuse_rename_in) },
		{ FUSE_RENAME2, sizeof(struct fuse_rename2_in) },
		{ FUSE_LINK, sizeof(struct fuse_link_in) },
		{ FUSE_OPEN, sizeof(struct fuse_open_in) },
		{ FUSE_OPENDIR, sizeof(struct fuse_open_in) },
		{ FUSE_CREATE, sizeof(struct fuse_create_in) },
		{ FUSE_TMPFILE, sizeof(struct fuse_create_in) },
		{ FUSE_READ, sizeof(struct fuse_read_in) },
		{ FUSE_READDIR, sizeof(struct fuse_read_in) },
		{ FUSE_WRITE, sizeof(struct fuse_write_in) },
		{ FUSE_FLUSH, sizeof(struct fuse_flush_in) },
		{ FUSE_RELEASE, 16 },
		{ FUSE_FSYNC, sizeof(struct fuse_fsync_in) },
		{ FUSE_SETXATTR, sizeof(struct fuse_setxattr_in) },
		{ FUSE_GETXATTR, sizeof(struct fuse_getxattr_in) },
		{ FUSE_LISTXATTR, sizeof(struct fuse_getxattr_in) },
		{ FUSE_ACCESS, sizeof(struct fuse_access_in) },
		{ FUSE_GETLK, sizeof(struct fuse_lk_in) },
		{ FUSE_SETLK, sizeof(struct fuse_lk_in) },
		{ FUSE_SETLKW, sizeof(struct fuse_lk_in) },
		{ FUSE_BMAP, sizeof(struct fuse_bmap_in) },
		{ FUSE_IOCTL, sizeof(struct fuse_ioctl_in) },
		{ FUSE_POLL, sizeof(struct fuse_poll_in) },
		{ FUSE_FALLOCATE, sizeof(struct fuse_fallocate_in) },
		{ FUSE_LSEEK, sizeof(struct fuse_lseek_in) },
		{ FUSE_COPY_FILE_RANGE, sizeof(struct fuse_copy_file_range_in) },
		{ FUSE_SYNCFS, sizeof(struct fuse_syncfs_in) },
		{ FUSE_STATX, sizeof(struct fuse_statx_in) },
	};
	char args[256];
	size_t i;

	start();
	memset(args, 0, sizeof(args));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t u = fk_send(&fk, cases[i].opcode, 1, args, cases[i].size - 1);
		const struct fk_msg *m = fk_wait_reply(&fk, u);

		cr_assert_eq(m->oh.error, -EIO, "opcode %u with %zu of %zu bytes: error %d",
			     cases[i].opcode, cases[i].size - 1, cases[i].size, m->oh.error);
		cr_assert_eq(m->size, 0);
	}
	cr_assert_eq(h.calls, 0);
	still_serving();
	fk_teardown(&fk);
}

/* ---- counts and sizes past the end ----------------------------------------------------------- */

Test(decode, batch_forget_count_past_the_end_is_dropped_whole, .timeout = 10)
{
	struct {
		struct fuse_batch_forget_in in;
		struct fuse_forget_one one[2];
	} msg = { { .count = 3 }, { { 10, 1 }, { 11, 1 } } };

	start();
	fk_send(&fk, FUSE_BATCH_FORGET, 0, &msg, sizeof(msg));
	msg.in.count = 0xffffffffu;
	fk_send(&fk, FUSE_BATCH_FORGET, 0, &msg, sizeof(msg));
	/* Not even the header. */
	fk_send(&fk, FUSE_BATCH_FORGET, 0, &msg, 4);
	fk_expect_no_reply(&fk, 30);
	cr_assert_eq(h.forgets, 0, "a forget ran from a malformed batch");
	/* count 0 is valid and does nothing. */
	msg.in.count = 0;
	fk_send(&fk, FUSE_BATCH_FORGET, 0, &msg, sizeof(msg.in));
	fk_expect_no_reply(&fk, 20);
	still_serving();
	fk_teardown(&fk);
}

Test(decode, short_forget_is_dropped, .timeout = 10)
{
	uint32_t half = 1;

	start();
	fk_send(&fk, FUSE_FORGET, 5, &half, sizeof(half));
	fk_send(&fk, FUSE_FORGET, 5, NULL, 0);
	fk_expect_no_reply(&fk, 30);
	cr_assert_eq(h.forgets, 0);
	still_serving();
	fk_teardown(&fk);
}

/* A no-reply opcode with a broken header is dropped: there is nobody to answer. */
Test(decode, forget_with_bad_header_or_extlen_is_dropped, .timeout = 10)
{
	struct fuse_forget_in in = { .nlookup = 1 };
	struct {
		struct fuse_batch_forget_in in;
		struct fuse_forget_one one[1];
	} msg = { { .count = 1 }, { { 10, 1 } } };

	start();
	send_hdr(FUSE_FORGET, 5, sizeof(struct fuse_in_header) + 100, 0, &in, sizeof(in));
	send_hdr(FUSE_FORGET, 5, sizeof(struct fuse_in_header) + sizeof(in), 9, &in, sizeof(in));
	send_hdr(FUSE_BATCH_FORGET, 0, 7, 0, &msg, sizeof(msg));
	fk_expect_no_reply(&fk, 30);
	cr_assert_eq(h.forgets, 0);
	still_serving();
	fk_teardown(&fk);
}

Test(decode, short_interrupt_is_dropped, .timeout = 10)
{
	uint32_t half = 2;

	start();
	fk_send(&fk, FUSE_INTERRUPT, 0, &half, sizeof(half));
	fk_send(&fk, FUSE_INTERRUPT, 0, NULL, 0);
	fk_expect_no_reply(&fk, 30);
	still_serving();
	fk_teardown(&fk);
}

Test(decode, write_size_past_the_end_gets_eio, .timeout = 10)
{
	struct fuse_write_in in = { .fh = 1, .size = 100 };
	struct iovec iov[2] = { { &in, sizeof(in) }, { "only ten b", 10 } };

	start();
	open_fh(2);
	fk_expect_reply(&fk, fk_sendv(&fk, FUSE_WRITE, 2, iov, 2), -EIO, 0);
	in.size = 0xffffffffu;
	fk_expect_reply(&fk, fk_sendv(&fk, FUSE_WRITE, 2, iov, 2), -EIO, 0);
	in.size = 11;
	fk_expect_reply(&fk, fk_sendv(&fk, FUSE_WRITE, 2, iov, 2), -EIO, 0);
	cr_assert_eq(h.calls, 0);
	/* Exactly the bytes there: fine. */
	in.size = 10;
	fk_expect_reply(&fk, fk_sendv(&fk, FUSE_WRITE, 2, iov, 2), 0,
			sizeof(struct fuse_write_out));
	cr_assert_eq(h.calls, 1);
	cr_assert_eq(h.size, 10);
	fk_teardown(&fk);
}

Test(decode, zero_length_write_is_valid, .timeout = 10)
{
	struct fuse_write_in in = { .fh = 1, .offset = 4096, .size = 0 };
	const struct fk_msg *m;
	struct fuse_write_out wo;

	start();
	open_fh(2);
	m = fk_expect_reply(&fk, fk_send(&fk, FUSE_WRITE, 2, &in, sizeof(in)), 0, sizeof(wo));
	memcpy(&wo, m->payload, sizeof(wo));
	cr_assert_eq(wo.size, 0);
	cr_assert_eq(h.calls, 1);
	cr_assert_eq(h.size, 0);
	fk_teardown(&fk);
}

Test(decode, setxattr_size_past_the_end_gets_eio, .timeout = 10)
{
	struct fuse_setxattr_in in = { .size = 50 };
	struct iovec iov[3] = { { &in, sizeof(in) }, { "user.a", 7 }, { "short", 5 } };

	start();
	fk_expect_reply(&fk, fk_sendv(&fk, FUSE_SETXATTR, 2, iov, 3), -EIO, 0);
	in.size = 0x80000000u;
	fk_expect_reply(&fk, fk_sendv(&fk, FUSE_SETXATTR, 2, iov, 3), -EIO, 0);
	cr_assert_eq(h.calls, 0);
	in.size = 5;
	fk_expect_reply(&fk, fk_sendv(&fk, FUSE_SETXATTR, 2, iov, 3), 0, 0);
	cr_assert_eq(h.calls, 1);
	cr_assert_eq(h.size, 5);
	fk_teardown(&fk);
}

Test(decode, read_size_beyond_the_buffer_gets_eio, .timeout = 10)
{
	struct fuse_read_in in = { .fh = 1, .size = 0xffffffffu };

	start();
	open_fh(2);
	fk_expect_reply(&fk, fk_send(&fk, FUSE_READ, 2, &in, sizeof(in)), -EIO, 0);
	in.size = 64u << 20;
	fk_expect_reply(&fk, fk_send(&fk, FUSE_READ, 2, &in, sizeof(in)), -EIO, 0);
	cr_assert_eq(h.calls, 0);
	/* max_write (what max_pages allows the kernel to ask) fits. */
	in.size = fk.init_out.max_write;
	fk_expect_reply(&fk, fk_send(&fk, FUSE_READ, 2, &in, sizeof(in)), 0, 1);
	cr_assert_eq(h.calls, 1);
	cr_assert_eq(h.size, fk.init_out.max_write);
	fk_teardown(&fk);
}

Test(decode, readdir_size_beyond_the_buffer_gets_eio, .timeout = 10)
{
	struct fuse_read_in in = { .fh = 0, .size = 0xffffffffu };

	start();
	fk_expect_reply(&fk, fk_send(&fk, FUSE_OPENDIR, 1, &(struct fuse_open_in){ 0 },
				     sizeof(struct fuse_open_in)),
			0, sizeof(struct fuse_open_out));
	fk_expect_reply(&fk, fk_send(&fk, FUSE_READDIR, 1, &in, sizeof(in)), -EIO, 0);
	still_serving();
	fk_teardown(&fk);
}

Test(decode, getxattr_size_beyond_the_buffer_is_clamped, .timeout = 10)
{
	struct fuse_getxattr_in in = { .size = 0xffffffffu };

	start();
	fk_expect_reply(&fk, fk_send_name(&fk, FUSE_GETXATTR, 2, &in, sizeof(in), "user.a"),
			-ERANGE, 0);
	cr_assert_eq(h.calls, 1);
	cr_assert_lt(h.size, 0xffffffffu);
	fk_teardown(&fk);
}

Test(decode, ioctl_sizes_past_the_end_or_the_buffer_get_eio, .timeout = 10)
{
	struct fuse_ioctl_in in = { .fh = 1, .cmd = 1, .in_size = 100 };
	struct iovec iov[2] = { { &in, sizeof(in) }, { "abc", 3 } };

	start();
	open_fh(2);
	fk_expect_reply(&fk, fk_sendv(&fk, FUSE_IOCTL, 2, iov, 2), -EIO, 0);
	in.in_size = 3;
	in.out_size = 0xffffffffu;
	fk_expect_reply(&fk, fk_sendv(&fk, FUSE_IOCTL, 2, iov, 2), -EIO, 0);
	cr_assert_eq(h.calls, 0);
	in.out_size = 16;
	fk_expect_reply(&fk, fk_sendv(&fk, FUSE_IOCTL, 2, iov, 2), 0,
			sizeof(struct fuse_ioctl_out));
	cr_assert_eq(h.calls, 1);
	fk_teardown(&fk);
}

Test(decode, lock_range_ending_before_its_start_gets_eio, .timeout = 10)
{
	struct fuse_lk_in in = { .fh = 1, .lk = { .start = 100, .end = 99, .type = F_RDLCK } };

	start();
	open_fh(2);
	fk_expect_reply(&fk, fk_send(&fk, FUSE_GETLK, 2, &in, sizeof(in)), -EIO, 0);
	cr_assert_eq(h.calls, 0);
	in.lk.end = 100;
	fk_expect_reply(&fk, fk_send(&fk, FUSE_GETLK, 2, &in, sizeof(in)), 0,
			sizeof(struct fuse_lk_out));
	cr_assert_eq(h.calls, 1);
	fk_teardown(&fk);
}

Test(decode, malformed_notify_reply_is_dropped, .timeout = 10)
{
	struct fuse_notify_retrieve_in in = { .offset = 0, .size = 100 };

	start();
	fk_send(&fk, FUSE_NOTIFY_REPLY, 2, &in, sizeof(in));
	fk_send(&fk, FUSE_NOTIFY_REPLY, 2, &in, 8);
	fk_expect_no_reply(&fk, 30);
	still_serving();
	fk_teardown(&fk);
}

/* Malformed requests must give their slot back: more of them than there are slots,
 * then a good request, still answered. */
Test(decode, malformed_requests_do_not_leak_slots, .timeout = 10)
{
	struct rf_opts opts;
	struct fuse_in_header hd;
	char junk[20];
	struct fuse_forget_in fin = { .nlookup = 1 };
	int i;

	rf_opts_init(&opts);
	opts.queue_depth = 4;
	opts.max_write = 65536;
	start_opts(&opts);
	memset(junk, 0, sizeof(junk));
	for (i = 0; i < 12; i++) {
		fk_hdr(&fk, &hd, FUSE_LOOKUP, 1, sizeof(hd));
		memcpy(junk, &hd, sizeof(junk));
		fk_send_raw(&fk, junk, sizeof(junk));                   /* short header */
		fk_expect_reply(&fk, fk_send(&fk, FUSE_LOOKUP, 1, "x", 1), -EIO, 0);
		fk_expect_reply(&fk, send_hdr(FUSE_LOOKUP, 1, 1, 0, "x", 2), -EIO, 0);
		fk_send(&fk, FUSE_FORGET, 5, &fin, 4);                  /* short forget */
	}
	fk_pump(&fk, 10);
	still_serving();
	fk_teardown(&fk);
}

/* A message larger than the slot buffer arrives truncated: its header no longer matches
 * what was read, so it gets EIO (never a handler with half its data). */
Test(decode, message_larger_than_the_buffer_gets_eio, .timeout = 10)
{
	struct rf_opts opts;
	struct fuse_write_in in = { .fh = 1 };
	size_t big = 128u << 10;   /* twice the 64 KiB max_write: past the slot */
	char *data = calloc(1, big);
	struct iovec iov[2] = { { &in, sizeof(in) }, { data, big } };

	cr_assert_not_null(data);
	rf_opts_init(&opts);
	opts.max_write = 65536;
	start_opts(&opts);
	open_fh(2);
	in.size = (uint32_t)big;
	fk_expect_reply(&fk, fk_sendv(&fk, FUSE_WRITE, 2, iov, 2), -EIO, 0);
	cr_assert_eq(h.calls, 0);
	free(data);
	still_serving();
	fk_teardown(&fk);
}
