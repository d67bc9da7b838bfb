/* SPDX-License-Identifier: MIT */
/*
 * fuzz_decode.c - libFuzzer harness for the request decoder: every input is sent as one
 * kernel message over the socket-pair channel (the same path as /dev/fuse) to a session
 * whose operations reply at once, and the loop runs until it has nothing left to do. The
 * server must never crash, read out of bounds or leak, whatever the bytes. Inputs whose
 * first byte is odd get a well-formed 40-byte header patched in (right len, a unique),
 * so the fuzzer reaches the per-opcode decoders instead of dying at the length check.
 *
 * Build and run: make fuzz && build/fuzz/fuzz_decode -max_total_time=60
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ringfuse.h"
#include "fuse_kernel.h"

static struct rf_loop *loop;
static struct rf_session *se;
static int kfd = -1;
static uint64_t unique = 2;
static unsigned long inputs;

static volatile char sink;

static void touch(const void *p, size_t n)
{
	char x = 0;
	size_t i;

	for (i = 0; i < n; i++)
		x ^= ((const char *)p)[i];
	sink = x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ok(struct rf_req *req)
{
	rf_reply_err(req, 0);
}

static void f_lookup(struct rf_req *req, uint64_t parent, const char *name)
{
	struct rf_entry e = { .ino = 2, .attr_timeout = 1, .entry_timeout = 1 };

	e.attr.st_mode = S_IFREG | 0644;
	rf_reply_entry(req, &e);
}
static void f_getattr(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct stat st = { .st_ino = ino, .st_mode = S_IFDIR | 0755 };

	rf_reply_attr(req, &st, 1);
}
static void f_setattr(struct rf_req *req, uint64_t ino, const struct stat *a, int to_set,
		      struct rf_file *fi)
{
	f_getattr(req, ino, fi);
}
static void f_open(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	fi->fh = 7;
	rf_reply_open(req, fi);
}
static void f_read(struct rf_req *req, uint64_t ino, size_t size, off_t off, struct rf_file *fi)
{
	size_t cap;
	char *p = rf_req_payload(req, &cap);

	memset(p, 'x', size < cap ? size : cap);
	rf_reply_buf(req, p, size < cap ? size : cap);
}
static void f_write(struct rf_req *req, uint64_t ino, const void *buf, size_t size, off_t off,
		    struct rf_file *fi)
{
	touch(buf, size);              /* every byte the decoder promised must be readable */
	rf_reply_write(req, size);
}
static void f_name(struct rf_req *req, uint64_t parent, const char *name)
{
	if (strlen(name) > 4096)
		abort();
	ok(req);
}
static void f_rename(struct rf_req *req, uint64_t p, const char *n, uint64_t np,
		     const char *nn, unsigned int flags)
{
	f_name(req, p, n);
}
static void f_setxattr(struct rf_req *req, uint64_t ino, const char *name, const void *value,
		       size_t size, int flags)
{
	touch(value, size);
	ok(req);
}
static void f_readdir(struct rf_req *req, uint64_t ino, size_t size, off_t off,
		      struct rf_file *fi)
{
	struct rf_dirbuf db;
	struct stat st = { .st_ino = 1, .st_mode = S_IFDIR };

	rf_dirbuf_init(&db, req, size);
	rf_dirbuf_add(&db, ".", &st, 1);
	rf_reply_dirbuf(req, &db);
}
static void f_fh(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	ok(req);
}

static const struct rf_ops ops = {
	.lookup = f_lookup, .getattr = f_getattr, .setattr = f_setattr, .open = f_open,
	.opendir = f_open, .read = f_read, .write = f_write, .unlink = f_name,
	.rmdir = f_name, .rename = f_rename, .setxattr = f_setxattr, .readdir = f_readdir,
	.release = f_fh, .releasedir = f_fh, .flush = f_fh, .removexattr = f_name,
};

static void drain(void)
{
	char buf[1 << 16];
	int i;

	for (i = 0; i < 8; i++) {
		rf_loop_run_once(loop, 0);
		while (recv(kfd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
	}
}

static void setup(void)
{
	struct rf_opts opts;
	int sv[2];
	struct {
		struct fuse_in_header h;
		struct fuse_init_in i;
	} init = { { .len = sizeof(init), .opcode = FUSE_INIT, .unique = 2 },
		   { .major = 7, .minor = 45, .max_readahead = 65536,
		     .flags = 0x73fffffb, .flags2 = 0x7fd } };

	rf_opts_init(&opts);
	opts.max_write = 65536;
	opts.queue_depth = 4;
	if (rf_loop_new(&loop) || socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) ||
	    rf_session_new(&ops, sizeof(ops), NULL, &opts, &se) || rf_session_set_fd(se, sv[1]) ||
	    rf_session_attach(se, loop))
		abort();
	kfd = sv[0];
	send(kfd, &init, sizeof(init), 0);
	drain();
}

static void teardown(void)
{
	close(kfd);
	while (!rf_session_ended(se) && rf_loop_run_once(loop, 10) >= 0)
		;
	rf_session_free(se);
	rf_loop_free(loop);
	se = NULL;
}

static void log_quiet(enum rf_log_level level, const char *msg, void *data)
{
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t msg[70000];

	if (!se) {
		rf_log_set(log_quiet, NULL);
		setup();
	}
	if (size > sizeof(msg))
		size = sizeof(msg);
	memcpy(msg, data, size);
	if (size >= sizeof(struct fuse_in_header) && (msg[0] & 1)) {
		struct fuse_in_header *h = (struct fuse_in_header *)msg;

		h->len = (uint32_t)size;
		unique += 2;
		h->unique = unique;
		h->total_extlen = 0;
		/* DESTROY/INIT would end or confuse the session; an INTERRUPT for nobody
		 * holds a slot for 50 ms: keep the run fast. */
		if (h->opcode == FUSE_DESTROY || h->opcode == FUSE_INIT ||
		    h->opcode == FUSE_INTERRUPT)
			h->opcode = FUSE_GETATTR;
	}
	if (send(kfd, msg, size, MSG_DONTWAIT) < 0) {
		/* Every slot is busy (held INTERRUPTs): start over with a fresh session. */
		teardown();
		setup();
		return 0;
	}
	drain();
	if (rf_session_ended(se) || ++inputs % 5000 == 0)
		teardown();
	return 0;
}
