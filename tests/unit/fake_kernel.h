/* SPDX-License-Identifier: MIT */
/*
 * fake_kernel.h - the unit tests' FUSE kernel: a session served over one end of a
 * SOCK_SEQPACKET socket pair (rf_session_set_fd), with the test playing the kernel on the
 * other end. Every message is one request or one reply, exactly as on /dev/fuse, and the
 * test drives the loop itself (rf_loop_run_once), so orderings are deterministic.
 *
 *	struct fk fk;
 *	fk_setup(&fk, &ops, NULL, NULL);
 *	fk_init(&fk);
 *	u = fk_send_name(&fk, FUSE_LOOKUP, 1, NULL, 0, "a");
 *	m = fk_expect_reply(&fk, u, -ENOENT, 0);
 *	fk_teardown(&fk);
 *
 * Every helper asserts with criterion: a failure ends the test.
 */
#ifndef FAKE_KERNEL_H
#define FAKE_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "ringfuse.h"
#include "fuse_kernel.h"

/* What a 6.18 kernel offers at INIT (protocol 7.45). */
#define FK_MAJOR            7u
#define FK_MINOR            45u
#define FK_FLAGS            0x73fffffbu
#define FK_FLAGS2           0x000007fdu
#define FK_OFFERED          ((uint64_t)FK_FLAGS | (uint64_t)FK_FLAGS2 << 32)
#define FK_MAX_READAHEAD    131072u

/* How long helpers wait for something that should come (ms). */
#define FK_WAIT_MS          2000

/* One message the server wrote: a reply or a notification. */
struct fk_msg {
	struct fk_msg *next;
	size_t len;                  /* bytes received, header included */
	struct fuse_out_header oh;
	size_t size;                 /* payload bytes (len - header) */
	char *payload;               /* points into data */
	char data[];                 /* the whole message, 8-byte aligned */
};

struct fk {
	struct rf_loop *loop;
	struct rf_session *se;
	int kfd;                     /* the kernel's end */
	uint64_t unique;             /* last unique sent; the kernel steps by 2 */
	struct fk_msg *stash;        /* received, not yet claimed by an expect */
	struct fk_msg *seen;         /* claimed: freed at teardown */
	char *rbuf;
	size_t rbuf_size;
	struct fuse_init_out init_out;  /* the server's INIT reply (fk_init) */
	size_t init_out_size;
};

/* Loop + session(@ops, @userdata, @opts or defaults) + socket pair, attached. */
void fk_setup(struct fk *fk, const struct rf_ops *ops, void *userdata,
	      const struct rf_opts *opts);
/* fk_setup with rf_session_set_blocking(@threads) before the channel. */
void fk_setup_blocking(struct fk *fk, const struct rf_ops *ops, void *userdata,
		       const struct rf_opts *opts, int threads);
/* fk_setup for a CUSE session (rf_session_set_cuse(@ci) before the channel): the first
 * message is then CUSE_INIT, which the test sends itself (fk_send). */
void fk_setup_cuse(struct fk *fk, const struct rf_ops *ops, void *userdata,
		   const struct rf_opts *opts, const struct rf_cuse_info *ci);
/* Close the kernel end, pump until the session ended, free everything. Asserts that
 * no message was left unclaimed. */
void fk_teardown(struct fk *fk);

/* ---- requests ------------------------------------------------------------------- */

/* The unique the next request will carry (and reserve it). */
uint64_t fk_next_unique(struct fk *fk);
/* Send one raw message (any bytes, any length). */
void fk_send_raw(struct fk *fk, const void *buf, size_t len);
/* A header for @opcode/@nodeid with @len total bytes and the next unique. */
void fk_hdr(struct fk *fk, struct fuse_in_header *h, uint32_t opcode, uint64_t nodeid,
	    size_t len);
/* Header + the pieces of @iov, as one message. Returns the unique. */
uint64_t fk_sendv(struct fk *fk, uint32_t opcode, uint64_t nodeid, const struct iovec *iov,
		  int n);
/* fk_sendv with @unique (reserved earlier with fk_next_unique, or chosen) in the header. */
uint64_t fk_sendv_as(struct fk *fk, uint64_t unique, uint32_t opcode, uint64_t nodeid,
		     const struct iovec *iov, int n);
/* An INTERRUPT of @target as the kernel sends it: unique = @target | FUSE_INT_REQ_BIT,
 * nodeid 0. Returns that unique. */
uint64_t fk_send_interrupt(struct fk *fk, uint64_t target);
/* Header + @arg. */
uint64_t fk_send(struct fk *fk, uint32_t opcode, uint64_t nodeid, const void *arg,
		 size_t len);
/* Header + @arg + @name with its NUL. */
uint64_t fk_send_name(struct fk *fk, uint32_t opcode, uint64_t nodeid, const void *arg,
		      size_t len, const char *name);
/* Header + @arg + @name1 NUL + @name2 NUL. */
uint64_t fk_send_names(struct fk *fk, uint32_t opcode, uint64_t nodeid, const void *arg,
		       size_t len, const char *name1, const char *name2);

/* ---- requests from tables ----------------------------------------------------------- */

/* One piece of a request after its header: fixed arguments, a name with its NUL, data. */
struct fk_piece {
	const void *p;
	size_t len;                  /* 0: no piece */
};
#define FK_PIECES 4
#define FK_NAME(s) { s, sizeof(s) }
#define FK_DATA(p_, n) { p_, n }
/* The fixed arguments @type with these designated fields, whole or cut to @len bytes. */
#define FK_IN(type, ...) { &(const struct type){ __VA_ARGS__ }, sizeof(struct type) }
#define FK_IN_LEN(type, len, ...) { &(const struct type){ __VA_ARGS__ }, (len) }

/* One expected value: @width bytes at byte offset @off of a struct (what a handler got,
 * a reply's payload), compared as a little-endian number with @val cut to @width. */
struct fk_want {
	size_t off, width;
	uint64_t val;
	const char *what;            /* the field's name; NULL ends a list */
};
/* @field of @type (which sits at byte @base of what is checked) is @v. */
#define FK_WANT(type, base, field, v) \
	{ (base) + offsetof(type, field), sizeof(((type *)0)->field), (uint64_t)(v), #field }

/*
 * A table of cases as one criterion ParameterizedTest @suite/@name: @run_row(&@table[i])
 * for each row, each in its own test process with a 10 s timeout. The parameter is the
 * row's index, so rows may point at static data (names, compound literals).
 */
#define FK_TABLE_TEST(suite, name, table, run_row)                                            \
	ParameterizedTestParameters(suite, name)                                               \
	{                                                                                      \
		static size_t idx[sizeof(table) / sizeof((table)[0])];                         \
		size_t i;                                                                      \
												       \
		for (i = 0; i < sizeof(idx) / sizeof(idx[0]); i++)                            \
			idx[i] = i;                                                            \
		return cr_make_param_array(size_t, idx, sizeof(idx) / sizeof(idx[0]));        \
	}                                                                                      \
	ParameterizedTest(size_t *i, suite, name, .timeout = 10)                               \
	{                                                                                      \
		run_row(&(table)[*i]);                                                         \
	}

/* Assert each want of @wants (up to the one with what == NULL) against @base; failures
 * name @row and "@where <field>". */
void fk_check_wants(const char *row, const char *where, const void *base,
		    const struct fk_want *wants);

/* Header + the non-empty pieces of @pieces (FK_PIECES of them), as one message. To send a
 * malformed header, @hdr_len >= 0 replaces its len (else the true length) and
 * @extlen >= 0 its total_extlen (else 0). Returns the unique. */
uint64_t fk_send_pieces(struct fk *fk, uint32_t opcode, uint64_t nodeid,
			const struct fk_piece *pieces, long hdr_len, int extlen);

/* ---- the loop and replies --------------------------------------------------------- */

/* Run the loop for about @ms milliseconds (at least one round). */
void fk_pump(struct fk *fk, int ms);
/* Run the loop until @cond(@arg) holds or @ms passed; returns whether it holds. */
bool fk_pump_until(struct fk *fk, bool (*cond)(void *arg), void *arg, int ms);
/* Run the loop until the session ended (DESTROY, exit) or @ms passed; returns whether. */
bool fk_pump_until_ended(struct fk *fk, int ms);
/* The next message the server wrote (stashed ones first), pumping the loop while
 * waiting up to @ms; NULL on timeout. The message stays owned by @fk. */
const struct fk_msg *fk_recv(struct fk *fk, int ms);
/* The reply to @unique; asserts its error and, if @size >= 0, its payload size. */
const struct fk_msg *fk_expect_reply(struct fk *fk, uint64_t unique, int error, long size);
/* The reply to @unique, whatever its error (asserts that it comes). */
const struct fk_msg *fk_wait_reply(struct fk *fk, uint64_t unique);
/* Asserts that the server writes nothing within @ms. */
void fk_expect_no_reply(struct fk *fk, int ms);
/* The next notification (unique 0) with @code; asserts the payload size if >= 0. */
const struct fk_msg *fk_expect_notify(struct fk *fk, uint32_t code, long size);

/* ---- INIT --------------------------------------------------------------------------- */

/* INIT as a 6.18 kernel sends it (7.45, FK_FLAGS/FK_FLAGS2, readahead 128 KiB); checks
 * the reply (7.45, sizes sane, nothing accepted that was not offered). */
void fk_init(struct fk *fk);
/* Send an INIT with these values (64-byte fuse_init_in); returns its unique. */
uint64_t fk_send_init(struct fk *fk, uint32_t major, uint32_t minor, uint32_t flags,
		      uint32_t flags2, uint32_t max_readahead);

/* ---- the runtime's log ---------------------------------------------------------------- */

/* Lines logged since setup at @level (RF_LOG_ERR...) whose text contains @needle (NULL:
 * any). Logging is captured, not printed, unless FK_VERBOSE is set in the environment. */
int fk_log_count(enum rf_log_level level, const char *needle);

#endif /* FAKE_KERNEL_H */
