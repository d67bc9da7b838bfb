/* SPDX-License-Identifier: MIT */
/*
 * test_decode.c - malformed requests: each gets EIO (or is dropped when its opcode has no
 * reply), never reaches the filesystem, and the server goes on serving. Most cases are
 * rows of decode_cases, one request each, run by run_case.
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

/* OPEN (or OPENDIR) @ino: the handle the malformed request then names. */
static void open_fh(uint32_t opcode, uint64_t ino)
{
	struct fuse_open_in in = { .flags = O_RDWR };

	fk_expect_reply(&fk, fk_send(&fk, opcode, ino, &in, sizeof(in)), 0,
			sizeof(struct fuse_open_out));
}

/* ---- one request each: the table ----------------------------------------------------------
 *
 * Each row is one request on a fresh session (after an OPEN or OPENDIR of its node when
 * it names a handle) with its reply: EIO and no handler call for the malformed ones, the
 * handler's answer for the well-formed limits next to them. Requests that have no reply
 * (FORGET, BATCH_FORGET, INTERRUPT, NOTIFY_REPLY) are dropped: nothing comes back, no
 * forget runs. After every row the server still answers a LOOKUP.
 */

/* A supplementary-groups extension (FUSE_CREATE_SUPP_GROUP), 16 bytes. */
struct groups_ext {
	struct fuse_ext_header eh;
	uint32_t nr_groups;
	uint32_t group;
};
#define GROUPS_EXT FK_IN(groups_ext, { sizeof(struct groups_ext), FUSE_EXT_GROUPS }, 1, 4321)

#define HDR sizeof(struct fuse_in_header)
#define HDR_LEN(len) .set_len = true, .hdr_len = (len)

struct decode_case {
	const char *name;           /* the behaviour, named in every failure message */
	uint32_t opcode;
	uint64_t nodeid;
	struct fk_piece args[FK_PIECES];
	bool set_len;               /* the header's len is hdr_len, not the true length */
	uint32_t hdr_len;
	uint16_t extlen;            /* the header's total_extlen */
	uint32_t open;              /* FUSE_OPEN/FUSE_OPENDIR of nodeid first, or 0 */
	bool dropped;               /* no reply at all */
	int error;                  /* the reply's error */
	long reply_size;            /* the reply's payload size */
	int calls;                  /* handler calls it makes (0 or 1) */
	const char *hname;          /* the name the handler got */
	bool check_size;            /* the size the handler got is .size */
	size_t size;
	const void *reply_data;     /* the reply payload starts with these bytes */
	size_t reply_dlen;
};

/* A malformed request: EIO, no payload, no handler. */
#define EIO_ROW(what, op, node, ...) \
	{ what, op, node, .error = -EIO, __VA_ARGS__ }
/* A request with no reply, dropped. */
#define DROP_ROW(what, op, node, ...) \
	{ what, op, node, .dropped = true, __VA_ARGS__ }
/* A well-formed request: the handler's answer. */
#define OK_ROW(what, op, node, ...) \
	{ what, op, node, .calls = 1, __VA_ARGS__ }
/* Fixed arguments one byte short of their struct (all zero). */
#define SHORT_ROW(op, type) \
	EIO_ROW("short_" #op "_arguments_get_eio", FUSE_##op, 1, \
		.args[0] = FK_DATA(zero256, sizeof(struct type) - 1))

static const char zero256[256];

static const struct decode_case decode_cases[] = {
	/* ---- headers ---- */
	EIO_ROW("header_len_larger_than_the_message_gets_eio", FUSE_LOOKUP, 1,
		.args[0] = FK_NAME("name"), HDR_LEN(HDR + 100)),
	EIO_ROW("header_len_smaller_than_the_message_gets_eio", FUSE_LOOKUP, 1,
		.args[0] = FK_NAME("name"), HDR_LEN(HDR + 2)),
	EIO_ROW("header_len_0_gets_eio", FUSE_LOOKUP, 1, .args[0] = FK_NAME("name"),
		HDR_LEN(0)),
	/* 16 bytes of arguments, extension claims 24. */
	EIO_ROW("total_extlen_past_the_end_gets_eio", FUSE_MKDIR, 1,
		.args = { FK_IN(fuse_mkdir_in, .mode = 0755), FK_NAME("dirname") }, .extlen = 3),
	EIO_ROW("total_extlen_0xffff_gets_eio", FUSE_MKDIR, 1,
		.args = { FK_IN(fuse_mkdir_in, .mode = 0755), FK_NAME("dirname") },
		.extlen = 0xffff),
	/* A well-formed one: the name is "sub", the extension is skipped. */
	OK_ROW("extension_is_not_read_as_arguments", FUSE_MKDIR, 1,
	       .args = { FK_IN(fuse_mkdir_in, .mode = 0755), FK_NAME("sub"), GROUPS_EXT },
	       .extlen = sizeof(struct groups_ext) / 8, .error = -EEXIST, .hname = "sub"),
	/* The name's NUL missing: a NUL inside the extension must not complete it. */
	EIO_ROW("extension_does_not_terminate_a_name", FUSE_MKDIR, 1,
		.args = { FK_IN(fuse_mkdir_in, .mode = 0755), FK_DATA("subX", 4), GROUPS_EXT },
		.extlen = sizeof(struct groups_ext) / 8),

	/* ---- names ---- */
	EIO_ROW("lookup_name_without_nul_gets_eio", FUSE_LOOKUP, 1, .args[0] = FK_DATA("abc", 3)),
	EIO_ROW("mkdir_name_without_nul_gets_eio", FUSE_MKDIR, 1,
		.args = { FK_IN(fuse_mkdir_in, .mode = 0755), FK_DATA("noterm", 6) }),
	EIO_ROW("lookup_empty_name_gets_eio", FUSE_LOOKUP, 1, .args[0] = FK_DATA("", 1)),
	EIO_ROW("lookup_missing_name_gets_eio", FUSE_LOOKUP, 1),
	EIO_ROW("unlink_empty_name_gets_eio", FUSE_UNLINK, 1, .args[0] = FK_DATA("", 1)),
	EIO_ROW("mkdir_missing_name_gets_eio", FUSE_MKDIR, 1,
		.args[0] = FK_IN(fuse_mkdir_in, .mode = 0755)),
	EIO_ROW("mkdir_empty_name_gets_eio", FUSE_MKDIR, 1,
		.args = { FK_IN(fuse_mkdir_in, .mode = 0755), FK_NAME("") }),
	EIO_ROW("rename_new_name_without_nul_gets_eio", FUSE_RENAME, 1,
		.args = { FK_IN(fuse_rename_in, .newdir = 1), FK_NAME("old"), FK_DATA("new", 3) }),
	EIO_ROW("rename_new_name_missing_gets_eio", FUSE_RENAME, 1,
		.args = { FK_IN(fuse_rename_in, .newdir = 1), FK_NAME("old") }),
	EIO_ROW("rename_new_name_empty_gets_eio", FUSE_RENAME, 1,
		.args = { FK_IN(fuse_rename_in, .newdir = 1), FK_NAME("old"), FK_NAME("") }),
	EIO_ROW("symlink_target_missing_gets_eio", FUSE_SYMLINK, 1,
		.args[1] = FK_NAME("link")),
	EIO_ROW("symlink_target_empty_gets_eio", FUSE_SYMLINK, 1,
		.args = { { 0 }, FK_NAME("link"), FK_NAME("") }),
	OK_ROW("rename_with_both_names_passes", FUSE_RENAME, 1,
	       .args = { FK_IN(fuse_rename_in, .newdir = 1), FK_NAME("old"), FK_NAME("new") }),

	/* ---- fixed arguments too short ---- */
	SHORT_ROW(GETATTR, fuse_getattr_in),
	SHORT_ROW(SETATTR, fuse_setattr_in),
	SHORT_ROW(MKNOD, fuse_mknod_in),
	SHORT_ROW(MKDIR, fuse_mkdir_in),
	SHORT_ROW(RENAME, fuse_rename_in),
	SHORT_ROW(RENAME2, fuse_rename2_in),
	SHORT_ROW(LINK, fuse_link_in),
	SHORT_ROW(OPEN, fuse_open_in),
	SHORT_ROW(OPENDIR, fuse_open_in),
	SHORT_ROW(CREATE, fuse_create_in),
	SHORT_ROW(TMPFILE, fuse_create_in),
	SHORT_ROW(READ, fuse_read_in),
	SHORT_ROW(READDIR, fuse_read_in),
	SHORT_ROW(WRITE, fuse_write_in),
	SHORT_ROW(FLUSH, fuse_flush_in),
	/* RELEASE: 16 bytes (fh, flags, release_flags) are what the runtime needs. */
	EIO_ROW("short_RELEASE_arguments_get_eio", FUSE_RELEASE, 1,
		.args[0] = FK_DATA(zero256, 15)),
	SHORT_ROW(FSYNC, fuse_fsync_in),
	SHORT_ROW(SETXATTR, fuse_setxattr_in),
	SHORT_ROW(GETXATTR, fuse_getxattr_in),
	SHORT_ROW(LISTXATTR, fuse_getxattr_in),
	SHORT_ROW(ACCESS, fuse_access_in),
	SHORT_ROW(GETLK, fuse_lk_in),
	SHORT_ROW(SETLK, fuse_lk_in),
	SHORT_ROW(SETLKW, fuse_lk_in),
	SHORT_ROW(BMAP, fuse_bmap_in),
	SHORT_ROW(IOCTL, fuse_ioctl_in),
	SHORT_ROW(POLL, fuse_poll_in),
	SHORT_ROW(FALLOCATE, fuse_fallocate_in),
	SHORT_ROW(LSEEK, fuse_lseek_in),
	SHORT_ROW(COPY_FILE_RANGE, fuse_copy_file_range_in),
	SHORT_ROW(SYNCFS, fuse_syncfs_in),
	SHORT_ROW(STATX, fuse_statx_in),

	/* ---- counts and sizes past the end ---- */
	EIO_ROW("write_size_past_the_end_gets_eio", FUSE_WRITE, 2, .open = FUSE_OPEN,
		.args = { FK_IN(fuse_write_in, .fh = 1, .size = 100), FK_DATA("only ten b", 10) }),
	EIO_ROW("write_size_0xffffffff_gets_eio", FUSE_WRITE, 2, .open = FUSE_OPEN,
		.args = { FK_IN(fuse_write_in, .fh = 1, .size = 0xffffffffu),
			  FK_DATA("only ten b", 10) }),
	EIO_ROW("write_size_one_past_the_end_gets_eio", FUSE_WRITE, 2, .open = FUSE_OPEN,
		.args = { FK_IN(fuse_write_in, .fh = 1, .size = 11), FK_DATA("only ten b", 10) }),
	/* Exactly the bytes there: fine. */
	OK_ROW("write_size_of_exactly_the_data_passes", FUSE_WRITE, 2, .open = FUSE_OPEN,
	       .args = { FK_IN(fuse_write_in, .fh = 1, .size = 10), FK_DATA("only ten b", 10) },
	       .reply_size = sizeof(struct fuse_write_out), .check_size = true, .size = 10),
	OK_ROW("zero_length_write_is_valid", FUSE_WRITE, 2, .open = FUSE_OPEN,
	       .args[0] = FK_IN(fuse_write_in, .fh = 1, .offset = 4096, .size = 0),
	       .reply_size = sizeof(struct fuse_write_out), .check_size = true, .size = 0,
	       /* fuse_write_out.size: 0 */
	       .reply_data = zero256, .reply_dlen = sizeof(uint32_t)),
	EIO_ROW("setxattr_size_past_the_end_gets_eio", FUSE_SETXATTR, 2,
		.args = { FK_IN(fuse_setxattr_in, .size = 50), FK_NAME("user.a"),
			  FK_DATA("short", 5) }),
	EIO_ROW("setxattr_size_0x80000000_gets_eio", FUSE_SETXATTR, 2,
		.args = { FK_IN(fuse_setxattr_in, .size = 0x80000000u), FK_NAME("user.a"),
			  FK_DATA("short", 5) }),
	OK_ROW("setxattr_size_of_exactly_the_value_passes", FUSE_SETXATTR, 2,
	       .args = { FK_IN(fuse_setxattr_in, .size = 5), FK_NAME("user.a"),
			 FK_DATA("short", 5) },
	       .check_size = true, .size = 5),
	EIO_ROW("read_size_0xffffffff_gets_eio", FUSE_READ, 2, .open = FUSE_OPEN,
		.args[0] = FK_IN(fuse_read_in, .fh = 1, .size = 0xffffffffu)),
	EIO_ROW("read_size_64_mib_gets_eio", FUSE_READ, 2, .open = FUSE_OPEN,
		.args[0] = FK_IN(fuse_read_in, .fh = 1, .size = 64u << 20)),
	EIO_ROW("readdir_size_beyond_the_buffer_gets_eio", FUSE_READDIR, 1, .open = FUSE_OPENDIR,
		.args[0] = FK_IN(fuse_read_in, .fh = 0, .size = 0xffffffffu)),
	EIO_ROW("ioctl_in_size_past_the_end_gets_eio", FUSE_IOCTL, 2, .open = FUSE_OPEN,
		.args = { FK_IN(fuse_ioctl_in, .fh = 1, .cmd = 1, .in_size = 100),
			  FK_DATA("abc", 3) }),
	EIO_ROW("ioctl_out_size_beyond_the_buffer_gets_eio", FUSE_IOCTL, 2, .open = FUSE_OPEN,
		.args = { FK_IN(fuse_ioctl_in, .fh = 1, .cmd = 1, .in_size = 3,
				.out_size = 0xffffffffu),
			  FK_DATA("abc", 3) }),
	OK_ROW("ioctl_sizes_within_the_message_and_buffer_pass", FUSE_IOCTL, 2, .open = FUSE_OPEN,
	       .args = { FK_IN(fuse_ioctl_in, .fh = 1, .cmd = 1, .in_size = 3, .out_size = 16),
			 FK_DATA("abc", 3) },
	       .reply_size = sizeof(struct fuse_ioctl_out)),
	EIO_ROW("lock_range_ending_before_its_start_gets_eio", FUSE_GETLK, 2, .open = FUSE_OPEN,
		.args[0] = FK_IN(fuse_lk_in, .fh = 1,
				 .lk = { .start = 100, .end = 99, .type = F_RDLCK })),
	OK_ROW("lock_range_of_one_byte_passes", FUSE_GETLK, 2, .open = FUSE_OPEN,
	       .args[0] = FK_IN(fuse_lk_in, .fh = 1,
				.lk = { .start = 100, .end = 100, .type = F_RDLCK }),
	       .reply_size = sizeof(struct fuse_lk_out)),

	/* ---- requests without a reply: dropped, nobody to answer ---- */
	DROP_ROW("batch_forget_count_past_the_end_is_dropped_whole", FUSE_BATCH_FORGET, 0,
		 .args = { FK_IN(fuse_batch_forget_in, .count = 3),
			   FK_DATA(((struct fuse_forget_one[2]){ { 10, 1 }, { 11, 1 } }),
				   2 * sizeof(struct fuse_forget_one)) }),
	DROP_ROW("batch_forget_count_0xffffffff_is_dropped_whole", FUSE_BATCH_FORGET, 0,
		 .args = { FK_IN(fuse_batch_forget_in, .count = 0xffffffffu),
			   FK_DATA(((struct fuse_forget_one[2]){ { 10, 1 }, { 11, 1 } }),
				   2 * sizeof(struct fuse_forget_one)) }),
	/* Not even the header. */
	DROP_ROW("batch_forget_shorter_than_its_header_is_dropped", FUSE_BATCH_FORGET, 0,
		 .args[0] = FK_IN_LEN(fuse_batch_forget_in, 4, .count = 3)),
	/* count 0 is valid and does nothing. */
	DROP_ROW("batch_forget_of_0_does_nothing", FUSE_BATCH_FORGET, 0,
		 .args[0] = FK_IN(fuse_batch_forget_in, .count = 0)),
	DROP_ROW("short_forget_is_dropped", FUSE_FORGET, 5,
		 .args[0] = FK_IN_LEN(fuse_forget_in, 4, .nlookup = 1)),
	DROP_ROW("forget_without_arguments_is_dropped", FUSE_FORGET, 5),
	DROP_ROW("forget_with_header_len_past_the_end_is_dropped", FUSE_FORGET, 5,
		 .args[0] = FK_IN(fuse_forget_in, .nlookup = 1),
		 HDR_LEN(HDR + 100)),
	DROP_ROW("forget_with_extlen_past_the_end_is_dropped", FUSE_FORGET, 5,
		 .args[0] = FK_IN(fuse_forget_in, .nlookup = 1), .extlen = 9),
	DROP_ROW("batch_forget_with_header_len_7_is_dropped", FUSE_BATCH_FORGET, 0,
		 .args = { FK_IN(fuse_batch_forget_in, .count = 1),
			   FK_DATA(((struct fuse_forget_one[1]){ { 10, 1 } }),
				   sizeof(struct fuse_forget_one)) },
		 HDR_LEN(7)),
	DROP_ROW("short_interrupt_is_dropped", FUSE_INTERRUPT, 0,
		 .args[0] = FK_IN_LEN(fuse_interrupt_in, 4, .unique = 2)),
	DROP_ROW("interrupt_without_arguments_is_dropped", FUSE_INTERRUPT, 0),
	DROP_ROW("notify_reply_to_no_retrieve_is_dropped", FUSE_NOTIFY_REPLY, 2,
		 .args[0] = FK_IN(fuse_notify_retrieve_in, .offset = 0, .size = 100)),
	DROP_ROW("short_notify_reply_is_dropped", FUSE_NOTIFY_REPLY, 2,
		 .args[0] = FK_IN_LEN(fuse_notify_retrieve_in, 8, .offset = 0, .size = 100)),
};

static void run_case(const struct decode_case *row)
{
	const struct fk_msg *m;
	uint64_t u;

	start();
	if (row->open)
		open_fh(row->open, row->nodeid);
	u = fk_send_pieces(&fk, row->opcode, row->nodeid, row->args,
			   row->set_len ? (long)row->hdr_len : -1, row->extlen);
	if (row->dropped) {
		fk_expect_no_reply(&fk, 30);
		cr_assert_eq(h.forgets, 0, "%s: %d forgets ran", row->name, h.forgets);
	} else {
		m = fk_wait_reply(&fk, u);
		cr_assert_eq(m->oh.error, row->error, "%s: reply error %d, expected %d", row->name,
			     m->oh.error, row->error);
		cr_assert_eq(m->size, (size_t)row->reply_size,
			     "%s: reply of %zu bytes, expected %ld", row->name, m->size,
			     row->reply_size);
		if (row->reply_data)
			cr_assert_eq(memcmp(m->payload, row->reply_data, row->reply_dlen), 0,
				     "%s: reply payload", row->name);
	}
	cr_assert_eq(h.calls, row->calls, "%s: %d handler calls, expected %d", row->name,
		     h.calls, row->calls);
	if (row->hname)
		cr_assert_str_eq(h.name, row->hname, "%s: name \"%s\", expected \"%s\"",
				 row->name, h.name, row->hname);
	if (row->check_size)
		cr_assert_eq(h.size, row->size, "%s: size %zu, expected %zu", row->name, h.size,
			     row->size);
	still_serving();
	fk_teardown(&fk);
}

FK_TABLE_TEST(decode, request, decode_cases, run_case)

/* ---- raw bytes, limits known only at run time, options ------------------------------------ */

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

/* max_write (what max_pages allows the kernel to ask) fits. */
Test(decode, read_of_max_write_fits_the_buffer, .timeout = 10)
{
	struct fuse_read_in in = { .fh = 1 };

	start();
	open_fh(FUSE_OPEN, 2);
	in.size = fk.init_out.max_write;
	fk_expect_reply(&fk, fk_send(&fk, FUSE_READ, 2, &in, sizeof(in)), 0, 1);
	cr_assert_eq(h.calls, 1);
	cr_assert_eq(h.size, fk.init_out.max_write);
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
	open_fh(FUSE_OPEN, 2);
	in.size = (uint32_t)big;
	fk_expect_reply(&fk, fk_sendv(&fk, FUSE_WRITE, 2, iov, 2), -EIO, 0);
	cr_assert_eq(h.calls, 0);
	free(data);
	still_serving();
	fk_teardown(&fk);
}

/* ---- the reply's room behind a request that fills the slot ---------------------------------- */

static bool room_ok;

/* Where the reply goes must lie inside the request's slot: the slot starts a header before
 * the name and is the session's buffer size long. */
static void h_lookup_room(struct rf_req *req, uint64_t parent, const char *name)
{
	const char *slot_end = name - sizeof(struct fuse_in_header) +
			       rf_session_bufsize(rf_req_session(req));
	size_t cap;
	const char *p = rf_req_payload(req, &cap);

	h.calls++;
	room_ok = p > name && p <= slot_end && cap <= (size_t)(slot_end - p);
	rf_reply_err(req, -ENOENT);
}

/* A request as long as the slot buffer (a LOOKUP of a very long name, or a legitimate
 * SETXATTR of a big value with a small max_write) left no room behind it: the reply area
 * started at or past the slot's end and its capacity wrapped around to ~4 GiB, so every
 * reply (even EIO) was written into the next slot or past the slab. Each length up to the
 * buffer's gets an answer, and a handler that runs has its reply area inside the slot. */
Test(decode, request_filling_the_buffer_keeps_its_reply_inside_the_slot, .timeout = 10)
{
	static const struct rf_ops room_ops = { .lookup = h_lookup_room };
	static const size_t back[] = { 0, 1, 8, 16, 24, 40, 4096, 4097, 4200 };
	static char name[128 << 10];
	struct rf_opts opts;
	size_t bufsize, i, len;
	uint64_t u;

	rf_opts_init(&opts);
	opts.max_write = 65536;
	opts.queue_depth = 2;
	memset(&h, 0, sizeof(h));
	fk_setup(&fk, &room_ops, NULL, &opts);
	fk_init(&fk);
	bufsize = rf_session_bufsize(fk.se);
	cr_assert_leq(bufsize, sizeof(name));
	for (i = 0; i < sizeof(back) / sizeof(back[0]); i++) {
		len = bufsize - back[i];
		/* Header, then the name and its NUL: len bytes in all. */
		memset(name, 'n', len - HDR - 1);
		name[len - HDR - 1] = '\0';
		h.calls = 0;
		room_ok = false;
		u = fk_send_name(&fk, FUSE_LOOKUP, 1, NULL, 0, name);
		fk_wait_reply(&fk, u);
		cr_assert(!h.calls || room_ok,
			  "a %zu-byte request in a %zu-byte slot: reply area outside the slot",
			  len, bufsize);
	}
	fk_expect_reply(&fk, fk_send_name(&fk, FUSE_LOOKUP, 1, NULL, 0, "ok"), -ENOENT, 0);
	fk_teardown(&fk);
}
