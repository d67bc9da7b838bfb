/* SPDX-License-Identifier: MIT */
/*
 * fake_kernel.c - see fake_kernel.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "fake_kernel.h"

#define FK_RBUF_SIZE (4u << 20)
#define FK_SOCKBUF   (8 << 20)

/* ---- log capture ------------------------------------------------------------------ */

#define FK_LOG_LINES 256

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	enum rf_log_level level;
	char text[200];
} log_lines[FK_LOG_LINES];
static int log_n;
static bool log_verbose;

static void log_cb(enum rf_log_level level, const char *msg, void *data)
{
	if (log_verbose)
		fprintf(stderr, "ringfuse[%d]: %s\n", (int)level, msg);
	pthread_mutex_lock(&log_lock);
	if (log_n < FK_LOG_LINES) {
		log_lines[log_n].level = level;
		snprintf(log_lines[log_n].text, sizeof(log_lines[log_n].text), "%s", msg);
		log_n++;
	}
	pthread_mutex_unlock(&log_lock);
}

int fk_log_count(enum rf_log_level level, const char *needle)
{
	int i, n = 0;

	pthread_mutex_lock(&log_lock);
	for (i = 0; i < log_n; i++)
		if (log_lines[i].level == level && (!needle || strstr(log_lines[i].text, needle)))
			n++;
	pthread_mutex_unlock(&log_lock);
	return n;
}

/* ---- time ----------------------------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- setup and teardown ---------------------------------------------------------------- */

static void setup_with(struct fk *fk, const struct rf_ops *ops, void *userdata,
		       const struct rf_opts *opts, const struct rf_cuse_info *ci, int blocking);

void fk_setup(struct fk *fk, const struct rf_ops *ops, void *userdata,
	      const struct rf_opts *opts)
{
	setup_with(fk, ops, userdata, opts, NULL, 0);
}

void fk_setup_blocking(struct fk *fk, const struct rf_ops *ops, void *userdata,
		       const struct rf_opts *opts, int threads)
{
	setup_with(fk, ops, userdata, opts, NULL, threads);
}

void fk_setup_cuse(struct fk *fk, const struct rf_ops *ops, void *userdata,
		   const struct rf_opts *opts, const struct rf_cuse_info *ci)
{
	setup_with(fk, ops, userdata, opts, ci, 0);
}

static void setup_with(struct fk *fk, const struct rf_ops *ops, void *userdata,
		       const struct rf_opts *opts, const struct rf_cuse_info *ci, int blocking)
{
	int sv[2], ret, sz = FK_SOCKBUF;

	memset(fk, 0, sizeof(*fk));
	fk->kfd = -1;
	/* A peer gone mid-write must fail the write, not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	log_verbose = getenv("FK_VERBOSE") != NULL;
	pthread_mutex_lock(&log_lock);
	log_n = 0;
	pthread_mutex_unlock(&log_lock);
	rf_log_set(log_cb, NULL);
	rf_log_set_level(RF_LOG_DEBUG);      /* every level is captured, as before levels */

	fk->rbuf_size = FK_RBUF_SIZE;
	fk->rbuf = malloc(fk->rbuf_size);
	cr_assert_not_null(fk->rbuf);

	ret = rf_loop_new(&fk->loop);
	cr_assert_eq(ret, 0, "rf_loop_new: %s", strerror(-ret));
	ret = rf_session_new(ops, sizeof(*ops), userdata, opts, &fk->se);
	cr_assert_eq(ret, 0, "rf_session_new: %s", strerror(-ret));

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0,
		     "socketpair: %s", strerror(errno));
	/* Large messages (1 MiB replies) must fit: a datagram is bounded by the sender's
	 * buffer. FORCE works as root; otherwise the plain limit is what we get. */
	for (int i = 0; i < 2; i++) {
		if (setsockopt(sv[i], SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
			setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		if (setsockopt(sv[i], SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
			setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
	fk->kfd = sv[0];
	cr_assert_eq(fcntl(fk->kfd, F_SETFL, O_NONBLOCK), 0);

	if (ci) {
		ret = rf_session_set_cuse(fk->se, ci);
		cr_assert_eq(ret, 0, "rf_session_set_cuse: %s", strerror(-ret));
	}
	if (blocking) {
		ret = rf_session_set_blocking(fk->se, blocking);
		cr_assert_eq(ret, 0, "rf_session_set_blocking: %s", strerror(-ret));
	}
	ret = rf_session_set_fd(fk->se, sv[1]);
	cr_assert_eq(ret, 0, "rf_session_set_fd: %s", strerror(-ret));
	cr_assert_eq(rf_session_fd(fk->se), sv[1]);
	ret = rf_session_attach(fk->se, fk->loop);
	cr_assert_eq(ret, 0, "rf_session_attach: %s", strerror(-ret));
	/* Let the first read reach the socket. */
	rf_loop_run_once(fk->loop, 0);
}

static void free_msgs(struct fk_msg *m)
{
	while (m) {
		struct fk_msg *next = m->next;
		free(m);
		m = next;
	}
}

void fk_teardown(struct fk *fk)
{
	struct pollfd pfd;
	int64_t deadline;
	int left_over = 0;
	struct fk_msg *m;

	/* Anything the server wrote that no test claimed is a failure (an extra reply). */
	for (m = fk->stash; m; m = m->next)
		left_over++;
	pfd.fd = fk->kfd;
	pfd.events = POLLIN;
	/* A readable socket may just be the server's end closing (session ended): only a
	 * message counts. */
	if (fk->kfd >= 0 && poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN) &&
	    recv(fk->kfd, fk->rbuf, fk->rbuf_size, MSG_DONTWAIT | MSG_PEEK) > 0)
		left_over++;
	if (left_over)
		cr_log_error("%d unclaimed message(s) from the server; first: unique %llu error %d",
			     left_over, fk->stash ? (unsigned long long)fk->stash->oh.unique : 0ull,
			     fk->stash ? fk->stash->oh.error : 0);

	if (fk->kfd >= 0)
		close(fk->kfd);
	fk->kfd = -1;
	deadline = now_ms() + 3000;
	while (!rf_session_ended(fk->se) && now_ms() < deadline)
		rf_loop_run_once(fk->loop, 5);
	cr_assert(rf_session_ended(fk->se), "the session did not end after the kernel left");
	rf_session_free(fk->se);
	fk->se = NULL;
	rf_loop_free(fk->loop);
	fk->loop = NULL;
	free_msgs(fk->stash);
	free_msgs(fk->seen);
	fk->stash = fk->seen = NULL;
	free(fk->rbuf);
	fk->rbuf = NULL;
	rf_log_set(NULL, NULL);
	cr_assert_eq(left_over, 0, "unclaimed messages from the server");
}

/* ---- requests -------------------------------------------------------------------------- */

uint64_t fk_next_unique(struct fk *fk)
{
	fk->unique += 2;
	return fk->unique;
}

void fk_send_raw(struct fk *fk, const void *buf, size_t len)
{
	int64_t deadline = now_ms() + FK_WAIT_MS;
	ssize_t n;

	for (;;) {
		n = send(fk->kfd, buf, len, MSG_DONTWAIT);
		if (n >= 0)
			break;
		cr_assert(errno == EAGAIN || errno == EINTR, "send: %s", strerror(errno));
		/* The server's queue is full: let it read. */
		cr_assert(now_ms() < deadline, "the server does not read its requests");
		rf_loop_run_once(fk->loop, 1);
	}
	cr_assert_eq((size_t)n, len);
}

static void hdr_as(struct fuse_in_header *h, uint64_t unique, uint32_t opcode, uint64_t nodeid,
		   size_t len)
{
	memset(h, 0, sizeof(*h));
	h->len = (uint32_t)len;
	h->opcode = opcode;
	h->unique = unique;
	h->nodeid = nodeid;
	h->uid = 1000;
	h->gid = 100;
	h->pid = 4242;
}

void fk_hdr(struct fk *fk, struct fuse_in_header *h, uint32_t opcode, uint64_t nodeid,
	    size_t len)
{
	hdr_as(h, fk_next_unique(fk), opcode, nodeid, len);
}

/* Header with @unique (len and total_extlen as fk_send_pieces takes them) + the pieces of
 * @iov. */
static uint64_t send_iov(struct fk *fk, uint64_t unique, uint32_t opcode, uint64_t nodeid,
			 const struct iovec *iov, int n, long hdr_len, int extlen)
{
	struct fuse_in_header h;
	size_t len = sizeof(h), off;
	char *buf;
	int i;

	for (i = 0; i < n; i++)
		len += iov[i].iov_len;
	buf = malloc(len);
	cr_assert_not_null(buf);
	hdr_as(&h, unique, opcode, nodeid, len);
	if (hdr_len >= 0)
		h.len = (uint32_t)hdr_len;
	if (extlen >= 0)
		h.total_extlen = (uint16_t)extlen;
	memcpy(buf, &h, sizeof(h));
	off = sizeof(h);
	for (i = 0; i < n; i++) {
		if (iov[i].iov_len)
			memcpy(buf + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	fk_send_raw(fk, buf, len);
	free(buf);
	return h.unique;
}

uint64_t fk_sendv(struct fk *fk, uint32_t opcode, uint64_t nodeid, const struct iovec *iov,
		  int n)
{
	return send_iov(fk, fk_next_unique(fk), opcode, nodeid, iov, n, -1, -1);
}

uint64_t fk_sendv_as(struct fk *fk, uint64_t unique, uint32_t opcode, uint64_t nodeid,
		     const struct iovec *iov, int n)
{
	return send_iov(fk, unique, opcode, nodeid, iov, n, -1, -1);
}

uint64_t fk_send_pieces(struct fk *fk, uint32_t opcode, uint64_t nodeid,
			const struct fk_piece *pieces, long hdr_len, int extlen)
{
	struct iovec iov[FK_PIECES];
	int i, n = 0;

	for (i = 0; i < FK_PIECES; i++)
		if (pieces[i].len)
			iov[n++] = (struct iovec){ (void *)pieces[i].p, pieces[i].len };
	return send_iov(fk, fk_next_unique(fk), opcode, nodeid, iov, n, hdr_len, extlen);
}

uint64_t fk_send(struct fk *fk, uint32_t opcode, uint64_t nodeid, const void *arg, size_t len)
{
	struct iovec iov = { (void *)arg, len };

	return fk_sendv(fk, opcode, nodeid, &iov, arg ? 1 : 0);
}

uint64_t fk_send_interrupt(struct fk *fk, uint64_t target)
{
	struct fuse_interrupt_in in = { .unique = target };
	struct iovec iov = { &in, sizeof(in) };

	return fk_sendv_as(fk, target | FUSE_INT_REQ_BIT, FUSE_INTERRUPT, 0, &iov, 1);
}

uint64_t fk_send_name(struct fk *fk, uint32_t opcode, uint64_t nodeid, const void *arg,
		      size_t len, const char *name)
{
	struct iovec iov[2] = { { (void *)arg, arg ? len : 0 },
				{ (void *)name, strlen(name) + 1 } };

	return fk_sendv(fk, opcode, nodeid, iov, 2);
}

uint64_t fk_send_names(struct fk *fk, uint32_t opcode, uint64_t nodeid, const void *arg,
		       size_t len, const char *name1, const char *name2)
{
	struct iovec iov[3] = { { (void *)arg, arg ? len : 0 },
				{ (void *)name1, strlen(name1) + 1 },
				{ (void *)name2, strlen(name2) + 1 } };

	return fk_sendv(fk, opcode, nodeid, iov, 3);
}

void fk_check_wants(const char *row, const char *where, const void *base,
		    const struct fk_want *wants)
{
	const struct fk_want *w;

	for (w = wants; w->what; w++) {
		uint64_t got = 0, want = w->val;

		cr_assert_leq(w->width, sizeof(got), "%s: %s %s: %zu bytes", row, where, w->what,
			      w->width);
		memcpy(&got, (const char *)base + w->off, w->width);
		if (w->width < sizeof(want))
			want &= (1ull << (8 * w->width)) - 1;
		cr_assert_eq(got, want, "%s: %s %s is %#llx, expected %#llx", row, where, w->what,
			     (unsigned long long)got, (unsigned long long)want);
	}
}

/* ---- the loop and replies ----------------------------------------------------------------- */

void fk_pump(struct fk *fk, int ms)
{
	int64_t deadline = now_ms() + ms;

	do
		rf_loop_run_once(fk->loop, 1);
	while (now_ms() < deadline);
}

bool fk_pump_until(struct fk *fk, bool (*cond)(void *arg), void *arg, int ms)
{
	int64_t deadline = now_ms() + ms;

	while (!cond(arg)) {
		if (now_ms() >= deadline)
			return false;
		rf_loop_run_once(fk->loop, 1);
	}
	return true;
}

static bool session_ended(void *arg)
{
	return rf_session_ended(((struct fk *)arg)->se);
}

bool fk_pump_until_ended(struct fk *fk, int ms)
{
	return fk_pump_until(fk, session_ended, fk, ms);
}

/* One message from the socket without waiting, or NULL. */
static struct fk_msg *read_one(struct fk *fk)
{
	struct fk_msg *m;
	ssize_t n;

	n = recv(fk->kfd, fk->rbuf, fk->rbuf_size, MSG_DONTWAIT | MSG_TRUNC);
	if (n < 0) {
		cr_assert(errno == EAGAIN || errno == EINTR, "recv: %s", strerror(errno));
		return NULL;
	}
	cr_assert((size_t)n <= fk->rbuf_size, "message of %zd bytes truncated", n);
	cr_assert((size_t)n >= sizeof(struct fuse_out_header),
		  "message of %zd bytes is shorter than fuse_out_header", n);
	m = calloc(1, sizeof(*m) + (size_t)n + 8);
	cr_assert_not_null(m);
	memcpy(m->data, fk->rbuf, (size_t)n);
	memcpy(&m->oh, m->data, sizeof(m->oh));
	m->len = (size_t)n;
	m->size = (size_t)n - sizeof(m->oh);
	m->payload = m->data + sizeof(m->oh);
	cr_assert_eq(m->oh.len, (uint32_t)n, "out header len %u but message of %zd bytes",
		     m->oh.len, n);
	return m;
}

static void stash_append(struct fk *fk, struct fk_msg *m)
{
	struct fk_msg **pp = &fk->stash;

	while (*pp)
		pp = &(*pp)->next;
	m->next = NULL;
	*pp = m;
}

static const struct fk_msg *claim(struct fk *fk, struct fk_msg **pp)
{
	struct fk_msg *m = *pp;

	*pp = m->next;
	m->next = fk->seen;
	fk->seen = m;
	return m;
}

/* First stashed or new message that @match accepts, waiting up to @ms. */
static const struct fk_msg *wait_msg(struct fk *fk, bool (*match)(const struct fk_msg *, const void *),
				     const void *arg, int ms)
{
	int64_t deadline = now_ms() + ms;
	struct fk_msg **pp, *m;

	for (;;) {
		for (pp = &fk->stash; *pp; pp = &(*pp)->next)
			if (!match || match(*pp, arg))
				return claim(fk, pp);
		while ((m = read_one(fk)))
			stash_append(fk, m);
		for (pp = &fk->stash; *pp; pp = &(*pp)->next)
			if (!match || match(*pp, arg))
				return claim(fk, pp);
		if (now_ms() >= deadline)
			return NULL;
		rf_loop_run_once(fk->loop, 1);
	}
}

const struct fk_msg *fk_recv(struct fk *fk, int ms)
{
	return wait_msg(fk, NULL, NULL, ms);
}

static bool match_unique(const struct fk_msg *m, const void *arg)
{
	return m->oh.unique == *(const uint64_t *)arg;
}

const struct fk_msg *fk_expect_reply(struct fk *fk, uint64_t unique, int error, long size)
{
	const struct fk_msg *m = wait_msg(fk, match_unique, &unique, FK_WAIT_MS);

	cr_assert_not_null(m, "no reply to request %llu", (unsigned long long)unique);
	cr_assert_eq(m->oh.error, error, "reply to %llu: error %d (%s), expected %d (%s)",
		     (unsigned long long)unique, m->oh.error, strerror(-m->oh.error), error,
		     strerror(-error));
	if (size >= 0)
		cr_assert_eq(m->size, (size_t)size, "reply to %llu: %zu payload bytes, expected %ld",
			     (unsigned long long)unique, m->size, size);
	return m;
}

const struct fk_msg *fk_wait_reply(struct fk *fk, uint64_t unique)
{
	const struct fk_msg *m = wait_msg(fk, match_unique, &unique, FK_WAIT_MS);

	cr_assert_not_null(m, "no reply to request %llu", (unsigned long long)unique);
	return m;
}

void fk_expect_no_reply(struct fk *fk, int ms)
{
	const struct fk_msg *m = wait_msg(fk, NULL, NULL, ms);

	cr_assert_null(m, "unexpected message: unique %llu error %d len %zu",
		       m ? (unsigned long long)m->oh.unique : 0ull, m ? m->oh.error : 0,
		       m ? m->len : 0);
}

static bool match_notify(const struct fk_msg *m, const void *arg)
{
	return m->oh.unique == 0 && m->oh.error == (int32_t)*(const uint32_t *)arg;
}

const struct fk_msg *fk_expect_notify(struct fk *fk, uint32_t code, long size)
{
	const struct fk_msg *m = wait_msg(fk, match_notify, &code, FK_WAIT_MS);

	cr_assert_not_null(m, "no notification %u", code);
	if (size >= 0)
		cr_assert_eq(m->size, (size_t)size, "notification %u: %zu payload bytes, expected %ld",
			     code, m->size, size);
	return m;
}

/* ---- INIT ------------------------------------------------------------------------------------ */

uint64_t fk_send_init(struct fk *fk, uint32_t major, uint32_t minor, uint32_t flags,
		      uint32_t flags2, uint32_t max_readahead)
{
	struct fuse_init_in in;

	memset(&in, 0, sizeof(in));
	in.major = major;
	in.minor = minor;
	in.max_readahead = max_readahead;
	in.flags = flags;
	in.flags2 = flags2;
	return fk_send(fk, FUSE_INIT, 0, &in, sizeof(in));
}

void fk_init(struct fk *fk)
{
	const struct fk_msg *m;
	const struct fuse_init_out *o;
	uint64_t u, accepted;

	u = fk_send_init(fk, FK_MAJOR, FK_MINOR, FK_FLAGS, FK_FLAGS2, FK_MAX_READAHEAD);
	m = fk_expect_reply(fk, u, 0, sizeof(struct fuse_init_out));
	o = (const struct fuse_init_out *)m->payload;
	fk->init_out = *o;
	fk->init_out_size = m->size;
	cr_assert_eq(o->major, FK_MAJOR);
	cr_assert_eq(o->minor, FK_MINOR);
	accepted = (uint64_t)o->flags | (uint64_t)o->flags2 << 32;
	cr_assert_eq(accepted & ~FK_OFFERED, 0, "INIT accepted 0x%llx, never offered",
		     (unsigned long long)(accepted & ~FK_OFFERED));
	cr_assert_geq(o->max_write, 4096u);
	cr_assert_geq(o->max_pages, 1);
	cr_assert_geq((uint64_t)o->max_pages * 4096, o->max_write);
	cr_assert_leq(o->max_readahead, FK_MAX_READAHEAD);
}
