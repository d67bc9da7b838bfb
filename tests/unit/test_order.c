/* SPDX-License-Identifier: MIT */
/*
 * test_order.c - the per-file ordering chains (docs/architecture.md §3, README "Ordering
 * guarantees"): RELEASE after every earlier request on its fh, EBADF for handles that are
 * not open, FORGET after the inode's requests in service, overlapping WRITEs (and READs
 * behind them) in arrival order, FLUSH/FSYNC behind earlier WRITEs, INTERRUPT of running,
 * parked and not-yet-arrived requests, backing I/O that keeps its request outstanding
 * after an early reply, exactly one reply per request, replies from other threads.
 *
 * The filesystem below records every call in an event log, in order, and keeps the
 * requests it is told to hold; the test answers those later from the test body (a "late
 * reply"), which is logged too, so a log index says what happened before what.
 *
 * Most cases are tables of steps (SCENARIO; "Scenarios" below explains the language),
 * some a row of a table of cases of one shape (RELEASE_CASE, PAIR_CASE); the few that
 * check something no step says (timing, threads, the log) are plain tests.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "fake_kernel.h"

#define NODE     2u          /* the file every test opens */
#define NODE2    3u          /* a second file (COPY_FILE_RANGE destination) */
#define DIRNODE  4u
#define FH       7u          /* what OPEN of NODE hands out */
#define FH2      8u
#define FH3      9u
#define FH4      10u
#define DIR_FH   9u
#define HELD_MAX 64
#define EV_MAX   512
#define QUIET_MS 40          /* how long "nothing happens" is watched */

/* ---- the filesystem: an event log and the requests it holds ------------------------ */

enum ev_kind {
	EV_NONE, EV_OPEN, EV_OPENDIR, EV_READ, EV_WRITE, EV_FLUSH, EV_FSYNC, EV_RELEASE,
	EV_RELEASEDIR, EV_READDIR, EV_CFR, EV_GETATTR, EV_SETATTR, EV_FALLOCATE, EV_LSEEK,
	EV_LOOKUP, EV_RENAME, EV_FORGET, EV_INTR_CB, EV_BACKING_CB, EV_REPLIED, EV_KINDS
};

static const char *const ev_name[EV_KINDS] = {
	"none", "open", "opendir", "read", "write", "flush", "fsync", "release",
	"releasedir", "readdir", "copy_file_range", "getattr", "setattr", "fallocate", "lseek",
	"lookup", "rename", "forget", "interrupt hook", "backing callback", "late reply",
};

struct ev {
	enum ev_kind kind;
	uint64_t unique;             /* the request's (0: forget) */
	uint64_t a, b;               /* fh and offset; ino and nlookup (forget); res (backing) */
	int interrupted;             /* rf_req_interrupted() when the handler was called */
	pthread_t thread;
	char data0;                  /* WRITE: first data byte */
	bool has_fi;
};

struct held {
	struct rf_req *req;
	uint64_t unique;
	size_t size;                 /* WRITE/COPY_FILE_RANGE: bytes to report */
};

/* What the READ handler does besides logging. */
enum read_mode {
	RM_NORMAL,                   /* reply, or hold when told to */
	RM_BACKING_DEFAULT,          /* rf_backing_read on the pipe, default reply */
	RM_EARLY_REPLY,              /* reply at once, then a backing read with a callback */
	RM_HOOK_REPLIES,             /* backing read with a callback; the interrupt hook
	                              * replies -EINTR before it ends */
	RM_DOUBLE_REPLY,             /* reply twice */
};

static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ev evs[EV_MAX];
static int nev;
static struct held held[HELD_MAX];
static int nheld;
static uint32_t hold_mask;           /* bit per ev_kind: the handler holds the request */
static bool register_intr_cb;        /* held requests get the logging interrupt hook */
static enum read_mode read_mode;
static uint64_t next_fh;
static int pfd[2] = { -1, -1 };      /* the backing "file": a pipe */
static int double_ret[2];
static pthread_t loop_thread;
static bool want_no_open;            /* INIT asks for RF_CAP_NO_OPEN_SUPPORT */
static struct fk fk;
/* Which case and step is running (set by the scenario runner), for failure messages. */
static char where[256];

#define HOLD(k) (1u << (k))

static int log_ev_fi(enum ev_kind kind, struct rf_req *req, uint64_t a, uint64_t b,
		     bool has_fi, char data0)
{
	int i;

	pthread_mutex_lock(&ev_lock);
	i = nev;
	if (nev < EV_MAX) {
		memset(&evs[i], 0, sizeof(evs[i]));
		evs[i].kind = kind;
		evs[i].unique = req ? rf_req_unique(req) : 0;
		evs[i].a = a;
		evs[i].b = b;
		evs[i].interrupted = req ? rf_req_interrupted(req) : 0;
		evs[i].thread = pthread_self();
		evs[i].has_fi = has_fi;
		evs[i].data0 = data0;
		nev++;
	}
	pthread_mutex_unlock(&ev_lock);
	return i;
}

static int log_ev(enum ev_kind kind, struct rf_req *req, uint64_t a, uint64_t b)
{
	return log_ev_fi(kind, req, a, b, false, 0);
}

/* Index of the first @kind event for @unique (0: any request), or -1. */
static int ev_find(enum ev_kind kind, uint64_t unique)
{
	int i, found = -1;

	pthread_mutex_lock(&ev_lock);
	for (i = 0; i < nev && found < 0; i++)
		if (evs[i].kind == kind && (!unique || evs[i].unique == unique))
			found = i;
	pthread_mutex_unlock(&ev_lock);
	return found;
}

static int ev_count(enum ev_kind kind)
{
	int i, n = 0;

	pthread_mutex_lock(&ev_lock);
	for (i = 0; i < nev; i++)
		n += evs[i].kind == kind;
	pthread_mutex_unlock(&ev_lock);
	return n;
}

/* The @kind event of @unique, asserting it happened. */
static const struct ev *ev_get(enum ev_kind kind, uint64_t unique)
{
	int i = ev_find(kind, unique);

	cr_assert_geq(i, 0, "%sno %s event for request %llu", where, ev_name[kind],
		      (unsigned long long)unique);
	return &evs[i];
}

/* Event (@k1, @u1) was logged, and before (@k2, @u2). */
static void ev_before(enum ev_kind k1, uint64_t u1, enum ev_kind k2, uint64_t u2)
{
	int i1 = ev_find(k1, u1), i2 = ev_find(k2, u2);

	cr_assert_geq(i1, 0, "%sno %s event (%llu)", where, ev_name[k1], (unsigned long long)u1);
	cr_assert_geq(i2, 0, "%sno %s event (%llu)", where, ev_name[k2], (unsigned long long)u2);
	cr_assert_lt(i1, i2, "%s%s (%llu) happened after %s (%llu)", where, ev_name[k1],
		     (unsigned long long)u1, ev_name[k2], (unsigned long long)u2);
}

static void hold(struct rf_req *req, size_t size)
{
	pthread_mutex_lock(&ev_lock);
	cr_assert_lt(nheld, HELD_MAX);
	held[nheld].req = req;
	held[nheld].unique = rf_req_unique(req);
	held[nheld].size = size;
	nheld++;
	pthread_mutex_unlock(&ev_lock);
}

static bool is_held(uint64_t unique)
{
	bool found = false;
	int i;

	pthread_mutex_lock(&ev_lock);
	for (i = 0; i < nheld; i++)
		found |= held[i].unique == unique;
	pthread_mutex_unlock(&ev_lock);
	return found;
}

/* Take request @unique out of the held set (asserting the filesystem holds it). */
static struct held unhold(uint64_t unique)
{
	struct held h = { NULL, 0, 0 };
	int i;

	pthread_mutex_lock(&ev_lock);
	for (i = 0; i < nheld; i++) {
		if (held[i].unique == unique) {
			h = held[i];
			held[i] = held[--nheld];
			break;
		}
	}
	pthread_mutex_unlock(&ev_lock);
	cr_assert_not_null(h.req, "%sthe filesystem does not hold request %llu", where,
			   (unsigned long long)unique);
	return h;
}

/* The reply a handler sends when it does not hold its request. */
static void answer(struct rf_req *req, size_t size)
{
	struct stat st;

	switch (rf_req_opcode(req)) {
	case FUSE_READ:
		rf_reply_buf(req, "data", 4);
		break;
	case FUSE_WRITE:
	case FUSE_COPY_FILE_RANGE:
		rf_reply_write(req, size);
		break;
	case FUSE_READDIR:
		rf_reply_buf(req, NULL, 0);
		break;
	case FUSE_GETATTR:
	case FUSE_SETATTR:
		memset(&st, 0, sizeof(st));
		st.st_ino = 2;
		st.st_mode = S_IFREG | 0644;
		st.st_nlink = 1;
		rf_reply_attr(req, &st, 1.0);
		break;
	case FUSE_LSEEK:
		rf_reply_lseek(req, 0);
		break;
	case FUSE_LOOKUP:
		rf_reply_err(req, -ENOENT);
		break;
	default:
		rf_reply_err(req, 0);
		break;
	}
}

/* The test's late reply to a held request; logged before it is sent. */
static void reply_held(uint64_t unique)
{
	struct held h = unhold(unique);

	log_ev(EV_REPLIED, h.req, 0, 0);
	answer(h.req, h.size);
}

static void reply_held_err(uint64_t unique, int err)
{
	struct held h = unhold(unique);

	log_ev(EV_REPLIED, h.req, 0, 0);
	cr_assert_eq(rf_reply_err(h.req, err), 0, "%srf_reply_err(%d) failed", where, err);
}

static void on_intr(struct rf_req *req, void *data)
{
	log_ev(EV_INTR_CB, req, 0, 0);
}

static void on_intr_reply(struct rf_req *req, void *data)
{
	log_ev(EV_INTR_CB, req, 0, 0);
	rf_reply_err(req, -EINTR);
}

static void on_backing(struct rf_req *req, int res, void *data)
{
	log_ev(EV_BACKING_CB, req, (uint64_t)(int64_t)res, 0);
}

/* Log the call; hold the request if told to (true), else the caller replies. */
static bool called_data(struct rf_req *req, enum ev_kind kind, uint64_t a, uint64_t b,
			size_t size, const struct rf_file *fi, char data0)
{
	log_ev_fi(kind, req, a, b, fi != NULL, data0);
	if (!(hold_mask & HOLD(kind)))
		return false;
	if (register_intr_cb)
		rf_req_on_interrupt(req, on_intr, NULL);
	hold(req, size);
	return true;
}

static bool called(struct rf_req *req, enum ev_kind kind, uint64_t a, uint64_t b, size_t size,
		   const struct rf_file *fi)
{
	return called_data(req, kind, a, b, size, fi, 0);
}

static void h_init(void *userdata, struct rf_conn *conn)
{
	if (want_no_open)
		conn->want |= RF_CAP_NO_OPEN_SUPPORT;
}

static void h_open(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	log_ev(EV_OPEN, req, next_fh, ino);
	fi->fh = next_fh;
	rf_reply_open(req, fi);
}

static void h_opendir(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	log_ev(EV_OPENDIR, req, next_fh, ino);
	fi->fh = next_fh;
	rf_reply_open(req, fi);
}

static void h_read(struct rf_req *req, uint64_t ino, size_t size, off_t off,
		   struct rf_file *fi)
{
	int ret;

	switch (read_mode) {
	case RM_NORMAL:
		if (!called(req, EV_READ, fi->fh, (uint64_t)off, size, fi))
			answer(req, size);
		return;
	case RM_BACKING_DEFAULT:
		log_ev(EV_READ, req, fi->fh, (uint64_t)off);
		ret = rf_backing_read(req, pfd[0], size, 0, NULL, NULL);
		cr_assert_eq(ret, 0, "rf_backing_read: %s", strerror(-ret));
		return;
	case RM_EARLY_REPLY:
		log_ev(EV_READ, req, fi->fh, (uint64_t)off);
		cr_assert_eq(rf_reply_buf(req, "early", 5), 0);
		/* Replied, and still in service: the request keeps its fh until this ends. */
		ret = rf_backing_read(req, pfd[0], 5, 0, on_backing, NULL);
		cr_assert_eq(ret, 0, "rf_backing_read after the reply: %s", strerror(-ret));
		return;
	case RM_HOOK_REPLIES:
		log_ev(EV_READ, req, fi->fh, (uint64_t)off);
		rf_req_on_interrupt(req, on_intr_reply, NULL);
		ret = rf_backing_read(req, pfd[0], 5, 0, on_backing, NULL);
		cr_assert_eq(ret, 0, "rf_backing_read: %s", strerror(-ret));
		return;
	case RM_DOUBLE_REPLY:
		log_ev(EV_READ, req, fi->fh, (uint64_t)off);
		double_ret[0] = rf_reply_buf(req, "one", 3);
		double_ret[1] = rf_reply_buf(req, "two!", 4);
		return;
	}
}

static void h_write(struct rf_req *req, uint64_t ino, const void *buf, size_t size, off_t off,
		    struct rf_file *fi)
{
	if (!called_data(req, EV_WRITE, fi->fh, (uint64_t)off, size, fi,
			 size ? *(const char *)buf : 0))
		answer(req, size);
}

static void h_flush(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	if (!called(req, EV_FLUSH, fi->fh, 0, 0, fi))
		answer(req, 0);
}

static void h_fsync(struct rf_req *req, uint64_t ino, int datasync, struct rf_file *fi)
{
	if (!called(req, EV_FSYNC, fi->fh, 0, 0, fi))
		answer(req, 0);
}

static void h_release(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	/* Never held: the release is what the tests wait for. */
	log_ev(EV_RELEASE, req, fi->fh, ino);
	rf_reply_err(req, 0);
}

static void h_releasedir(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	log_ev(EV_RELEASEDIR, req, fi->fh, ino);
	rf_reply_err(req, 0);
}

static void h_readdir(struct rf_req *req, uint64_t ino, size_t size, off_t off,
		      struct rf_file *fi)
{
	if (!called(req, EV_READDIR, fi->fh, (uint64_t)off, 0, fi))
		answer(req, 0);
}

static void h_cfr(struct rf_req *req, uint64_t ino_in, off_t off_in, struct rf_file *fi_in,
		  uint64_t ino_out, off_t off_out, struct rf_file *fi_out, size_t len, int flags)
{
	if (!called(req, EV_CFR, fi_in->fh, fi_out->fh, len, fi_in))
		answer(req, len);
}

static void h_getattr(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	if (!called(req, EV_GETATTR, fi ? fi->fh : 0, ino, 0, fi))
		answer(req, 0);
}

static void h_setattr(struct rf_req *req, uint64_t ino, const struct stat *attr, int to_set,
		      struct rf_file *fi)
{
	if (!called(req, EV_SETATTR, fi ? fi->fh : 0, ino, 0, fi))
		answer(req, 0);
}

static void h_fallocate(struct rf_req *req, uint64_t ino, int mode, off_t off, off_t len,
			struct rf_file *fi)
{
	if (!called(req, EV_FALLOCATE, fi->fh, (uint64_t)off, 0, fi))
		answer(req, 0);
}

static void h_lseek(struct rf_req *req, uint64_t ino, off_t off, int whence, struct rf_file *fi)
{
	if (!called(req, EV_LSEEK, fi->fh, (uint64_t)off, 0, fi))
		answer(req, 0);
}

static void h_lookup(struct rf_req *req, uint64_t parent, const char *name)
{
	if (!called(req, EV_LOOKUP, 0, parent, 0, NULL))
		answer(req, 0);
}

static void h_rename(struct rf_req *req, uint64_t parent, const char *name, uint64_t newparent,
		     const char *newname, unsigned int flags)
{
	if (!called(req, EV_RENAME, parent, newparent, 0, NULL))
		answer(req, 0);
}

static void h_forget(void *userdata, uint64_t ino, uint64_t nlookup)
{
	log_ev(EV_FORGET, NULL, ino, nlookup);
}

static const struct rf_ops ops = {
	.init = h_init,
	.open = h_open,
	.opendir = h_opendir,
	.read = h_read,
	.write = h_write,
	.flush = h_flush,
	.fsync = h_fsync,
	.release = h_release,
	.releasedir = h_releasedir,
	.readdir = h_readdir,
	.copy_file_range = h_cfr,
	.getattr = h_getattr,
	.setattr = h_setattr,
	.fallocate = h_fallocate,
	.lseek = h_lseek,
	.lookup = h_lookup,
	.rename = h_rename,
	.forget = h_forget,
};

/* ---- the kernel's side ------------------------------------------------------------------ */

static uint64_t open_file(uint32_t opcode, uint64_t nodeid, uint64_t fh)
{
	struct fuse_open_in in = { .flags = opcode == FUSE_OPENDIR ? O_RDONLY : O_RDWR };
	const struct fk_msg *m;
	struct fuse_open_out oo;
	uint64_t u;

	next_fh = fh;
	u = fk_send(&fk, opcode, nodeid, &in, sizeof(in));
	m = fk_expect_reply(&fk, u, 0, sizeof(oo));
	memcpy(&oo, m->payload, sizeof(oo));
	cr_assert_eq(oo.fh, fh);
	return u;
}

/* A READ of @node carrying @unique (the next one, or one reserved earlier). */
static uint64_t send_read_of(uint64_t unique, uint64_t node, uint64_t fh, uint64_t off,
			     uint32_t size)
{
	struct fuse_read_in in = { .fh = fh, .offset = off, .size = size };
	struct iovec iov = { &in, sizeof(in) };

	return fk_sendv_as(&fk, unique, FUSE_READ, node, &iov, 1);
}

static uint64_t send_read_as(uint64_t unique, uint64_t fh, uint64_t off, uint32_t size)
{
	return send_read_of(unique, NODE, fh, off, size);
}

static uint64_t send_read(uint64_t fh, uint64_t off, uint32_t size)
{
	return send_read_as(fk_next_unique(&fk), fh, off, size);
}

static uint64_t send_write_of(uint64_t node, uint64_t fh, uint64_t off, uint32_t size,
			      char fill)
{
	struct fuse_write_in in = { .fh = fh, .offset = off, .size = size };
	char *data = malloc(size);
	struct iovec iov[2] = { { &in, sizeof(in) }, { data, size } };
	uint64_t u;

	cr_assert_not_null(data);
	memset(data, fill, size);
	u = fk_sendv(&fk, FUSE_WRITE, node, iov, 2);
	free(data);
	return u;
}

static uint64_t send_write(uint64_t fh, uint64_t off, uint32_t size, char fill)
{
	return send_write_of(NODE, fh, off, size, fill);
}

static uint64_t send_release(uint32_t opcode, uint64_t nodeid, uint64_t fh)
{
	struct fuse_release_in in = { .fh = fh, .flags = O_RDWR };

	return fk_send(&fk, opcode, nodeid, &in, sizeof(in));
}

/* ---- waiting and checking ----------------------------------------------------------------- */

struct want {
	enum ev_kind kind;
	uint64_t unique;
	int count;
};

static bool want_ev(void *arg)
{
	const struct want *w = arg;

	return ev_find(w->kind, w->unique) >= 0;
}

static bool want_count(void *arg)
{
	const struct want *w = arg;

	return ev_count(w->kind) >= w->count;
}

static bool want_held(void *arg)
{
	return is_held(*(const uint64_t *)arg);
}

/* The handler of @kind ran for request @unique (pumping until it does). */
static void wait_called(enum ev_kind kind, uint64_t unique)
{
	struct want w = { kind, unique, 0 };

	cr_assert(fk_pump_until(&fk, want_ev, &w, FK_WAIT_MS),
		  "%s%s of request %llu never reached the filesystem", where, ev_name[kind],
		  (unsigned long long)unique);
}

/* At least @n forgets ran (a deferred forget runs when the last request naming the inode
 * is finished: after its reply's write completed, which may be reaped after the reply was
 * already received). */
static void wait_forgets(int n)
{
	struct want w = { EV_FORGET, 0, n };

	cr_assert(fk_pump_until(&fk, want_count, &w, FK_WAIT_MS),
		  "%s%d forget(s) ran, expected %d", where, ev_count(EV_FORGET), n);
}

/* The filesystem got request @unique and holds it, and nothing was answered. */
static void wait_held(uint64_t unique)
{
	cr_assert(fk_pump_until(&fk, want_held, &unique, FK_WAIT_MS),
		  "%srequest %llu never reached the filesystem", where, (unsigned long long)unique);
}

/* For @ms: no message from the server. */
static void quiet(int ms)
{
	const struct fk_msg *m = fk_recv(&fk, ms);

	if (m)
		cr_assert_fail("%sunexpected message: unique %llu error %d len %zu", where,
			       (unsigned long long)m->oh.unique, m->oh.error, m->len);
}

/* For QUIET_MS: no message from the server, and the @kind handler not called for @u. */
static void expect_waiting(enum ev_kind kind, uint64_t u)
{
	quiet(QUIET_MS);
	cr_assert_eq(ev_find(kind, u), -1, "%s%s of request %llu ran while it had to wait",
		     where, ev_name[kind], (unsigned long long)u);
}

/* The next message the server writes is the reply to @unique with @error. */
static const struct fk_msg *expect_next(uint64_t unique, int error)
{
	const struct fk_msg *m = fk_recv(&fk, FK_WAIT_MS);

	cr_assert_not_null(m, "%sno reply to request %llu", where, (unsigned long long)unique);
	cr_assert_eq(m->oh.unique, unique, "%snext reply is to %llu (error %d), expected %llu",
		     where, (unsigned long long)m->oh.unique, m->oh.error,
		     (unsigned long long)unique);
	cr_assert_eq(m->oh.error, error, "%sreply to %llu: error %d, expected %d", where,
		     (unsigned long long)unique, m->oh.error, error);
	return m;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- setup ---------------------------------------------------------------------------------- */

/* A session (with @opts, NULL: defaults) after INIT, with NODE open as FH unless
 * @no_open (then INIT asks for RF_CAP_NO_OPEN_SUPPORT and nothing is open). */
static void start_with(const struct rf_opts *opts, bool no_open)
{
	pthread_mutex_lock(&ev_lock);
	nev = 0;
	nheld = 0;
	pthread_mutex_unlock(&ev_lock);
	hold_mask = 0;
	register_intr_cb = false;
	read_mode = RM_NORMAL;
	pfd[0] = pfd[1] = -1;
	double_ret[0] = double_ret[1] = 0;
	loop_thread = pthread_self();
	want_no_open = no_open;
	fk_setup(&fk, &ops, NULL, opts);
	fk_init(&fk);
	if (!no_open)
		open_file(FUSE_OPEN, NODE, FH);
}

static void start(void)
{
	start_with(NULL, false);
}

static void make_pipe(void)
{
	/* Blocking on purpose: a read of the empty pipe waits on the ring. */
	cr_assert_eq(pipe2(pfd, O_CLOEXEC), 0, "pipe2: %s", strerror(errno));
}

static void finish(void)
{
	cr_assert_eq(nheld, 0, "the test left %d request(s) unanswered", nheld);
	hold_mask = 0;
	read_mode = RM_NORMAL;
	fk_teardown(&fk);
	for (int i = 0; i < 2; i++) {
		if (pfd[i] >= 0)
			close(pfd[i]);
		pfd[i] = -1;
	}
}

/* ======================================================================================
 * Scenarios: most cases below are a table of steps with one runner
 * ======================================================================================
 *
 * A scenario runs its steps in order on a fresh session in which NODE is open as FH, then
 * checks that the filesystem holds nothing and tears the session down. A request is named
 * by a label, one character ('r' for a READ, 'R' for a RELEASE...): SEND gives it its
 * unique and later steps name it by the label. The handler a label's request reaches
 * (EV_READ for a READ) is its kind; HANDLER stands for it where a step takes a kind.
 * A step that fails says which case, which step and which table line it is.
 */

/* The label's own handler, where a step takes an event kind. */
#define HANDLER EV_NONE

/* What the kernel sends (what SEND takes). */
struct msg {
	uint32_t opcode;
	uint64_t node;               /* OPEN, RELEASE, GETATTR, LOOKUP, RENAME, FORGET; READ and
	                              * WRITE: 0 means NODE; COPY_FILE_RANGE: the destination's
	                              * node, 0 meaning NODE2 */
	uint64_t fh, off, len;       /* len: the size; FORGET: nlookup */
	uint64_t fh2, off2;          /* COPY_FILE_RANGE: the destination; RENAME: newdir */
	char fill;                   /* WRITE: every data byte */
	bool with_fh;                /* GETATTR: FUSE_GETATTR_FH */
	const char *name, *name2;    /* LOOKUP, RENAME */
	char target;                 /* INTERRUPT: the label of the request it interrupts */
	struct fuse_forget_one forget[4];  /* BATCH_FORGET: up to a zero nodeid */
};

#define READ(fh_, off_, len_)  { .opcode = FUSE_READ, .fh = fh_, .off = off_, .len = len_ }
#define WRITE(fh_, off_, len_, c) \
	{ .opcode = FUSE_WRITE, .fh = fh_, .off = off_, .len = len_, .fill = c }
/* The same, of inode @node_ (the others name NODE). */
#define READ_OF(node_, fh_, off_, len_) \
	{ .opcode = FUSE_READ, .node = node_, .fh = fh_, .off = off_, .len = len_ }
#define WRITE_OF(node_, fh_, off_, len_, c) \
	{ .opcode = FUSE_WRITE, .node = node_, .fh = fh_, .off = off_, .len = len_, .fill = c }
#define FLUSH(fh_)             { .opcode = FUSE_FLUSH, .fh = fh_ }
#define FSYNC(fh_)             { .opcode = FUSE_FSYNC, .fh = fh_ }
#define RELEASE(node_, fh_)    { .opcode = FUSE_RELEASE, .node = node_, .fh = fh_ }
#define RELEASEDIR(node_, fh_) { .opcode = FUSE_RELEASEDIR, .node = node_, .fh = fh_ }
#define READDIR(fh_)           { .opcode = FUSE_READDIR, .fh = fh_ }
/* From @fh_in at @off_in of NODE to @fh_out at @off_out of NODE2. */
#define COPY_FILE_RANGE(fh_in, off_in, fh_out, off_out, len_) \
	{ .opcode = FUSE_COPY_FILE_RANGE, .fh = fh_in, .off = off_in, .fh2 = fh_out, \
	  .off2 = off_out, .len = len_ }
/* The same, from NODE into @node_. */
#define COPY_FILE_RANGE_TO(node_, fh_in, off_in, fh_out, off_out, len_) \
	{ .opcode = FUSE_COPY_FILE_RANGE, .node = node_, .fh = fh_in, .off = off_in, \
	  .fh2 = fh_out, .off2 = off_out, .len = len_ }
#define GETATTR(node_)         { .opcode = FUSE_GETATTR, .node = node_ }
#define GETATTR_FH(node_, fh_) { .opcode = FUSE_GETATTR, .node = node_, .with_fh = true, .fh = fh_ }
#define SETATTR_FH(fh_)        { .opcode = FUSE_SETATTR, .fh = fh_ }
#define FALLOCATE(fh_, off_, len_) \
	{ .opcode = FUSE_FALLOCATE, .fh = fh_, .off = off_, .len = len_ }
#define LSEEK(fh_)             { .opcode = FUSE_LSEEK, .fh = fh_ }
#define LOOKUP(dir, name_)     { .opcode = FUSE_LOOKUP, .node = dir, .name = name_ }
#define RENAME(dir, name_, newdir, newname) \
	{ .opcode = FUSE_RENAME, .node = dir, .name = name_, .fh2 = newdir, .name2 = newname }
#define FORGET(node_, nlookup) { .opcode = FUSE_FORGET, .node = node_, .len = nlookup }
#define BATCH_FORGET(...)      { .opcode = FUSE_BATCH_FORGET, .forget = { __VA_ARGS__ } }
#define INTERRUPT(label)       { .opcode = FUSE_INTERRUPT, .target = label }

enum step_op {
	S_END,
	/* what the filesystem does */
	S_FS_HOLDS,          /* the handlers of these kinds hold their requests */
	S_FS_HOLDS_ALL,      /* every handler that can hold its request does */
	S_INTR_HOOK,         /* held requests get the logging interrupt hook */
	S_READ_MODE,         /* the READ handler works as @v (enum read_mode) */
	S_PIPE,              /* the backing "file" (a pipe) for the backing read modes */
	S_LATE_REPLY,        /* the test answers held request @l as its handler would */
	S_LATE_REPLY_ERR,    /* ... with error @v */
	/* what the kernel does */
	S_OPEN,              /* OPEN (or OPENDIR) of @msg.node; the filesystem hands out @msg.fh */
	S_RESERVE,           /* @l takes the next unique now; a later SEND sends it */
	S_SEND,              /* @l is @msg */
	S_PIPE_PUT,          /* @str is written into the pipe */
	S_PUMP,              /* run the loop for @v ms */
	S_FINISH,            /* the kernel goes away: tear the session down now */
	/* what the server writes */
	S_NEXT,              /* the next message is the reply to @l with error @v */
	S_NEXT_DATA,         /* ... and payload @str */
	S_ANSWERED,          /* the reply to @l (in any order) has error @v and @v2 bytes */
	S_QUIET,             /* no message for @v ms */
	/* what the filesystem saw */
	S_HELD,              /* @l reached its handler, which holds it */
	S_STILL_HELD,        /* @l is held (no waiting) */
	S_CALLED,            /* @l reached its handler (pumping until it does) */
	S_HOOK_RAN,          /* the interrupt hook of @l ran (pumping until it does) */
	S_WAITING,           /* QUIET_MS without a message, and @l not at its handler */
	S_NOT_CALLED,        /* @l has not reached its handler */
	S_COUNT,             /* @v events of kind @k */
	S_CALLS,             /* @v calls of the handler of @l */
	S_BEFORE,            /* (@k, @l) happened, and before (@k2, @l2) */
	S_EV_FIELD,          /* the first (@k, @l) event's @field is @v */
	S_REQ_INTERRUPTED,   /* rf_req_interrupted() of held @l is @v */
	S_FORGETS,           /* at least @v forgets ran (pumping until they did) */
	S_FORGOTTEN,         /* the forgets of inode @v2 add up to nlookup @v */
	S_NOT_FORGOTTEN,     /* no forget of inode @v2 ran */
	S_LAST_IS_FORGET,    /* the last event is the forget of inode @v2, nlookup @v */
	S_PIPE_GET,          /* the pipe is readable and holds exactly @str */
	S_INIT_ACCEPTED,     /* the INIT reply accepted flag @v */
	S_IS_INTERRUPT_OF,   /* @l's unique is that of @l2 with FUSE_INT_REQ_BIT */
	S_OPS
};

enum ev_field {
	F_A,                 /* fh; ino (forget); res (backing callback) */
	F_B,                 /* offset; fh_out; ino (GETATTR, SETATTR); nlookup (forget) */
	F_DATA0,             /* WRITE: the first data byte */
	F_HAS_FI,            /* the handler got an rf_file */
	F_INTERRUPTED,       /* rf_req_interrupted() when the handler was called */
	F_A_NEGATIVE,        /* (int64_t)a < 0: a failed backing read */
	F_A_IS_SENT_FH,      /* a is the fh that @l's message carried */
	F_ON_LOOP_THREAD,    /* logged on the loop's thread */
};

static const char *const step_name[S_OPS] = {
	[S_END] = "END", [S_FS_HOLDS] = "FS_HOLDS",
	[S_FS_HOLDS_ALL] = "FS_HOLDS_ALL", [S_INTR_HOOK] = "INTR_HOOK",
	[S_READ_MODE] = "READ_MODE", [S_PIPE] = "PIPE", [S_LATE_REPLY] = "LATE_REPLY",
	[S_LATE_REPLY_ERR] = "LATE_REPLY_ERR", [S_OPEN] = "OPEN", [S_RESERVE] = "RESERVE",
	[S_SEND] = "SEND", [S_PIPE_PUT] = "PIPE_PUT", [S_PUMP] = "PUMP", [S_FINISH] = "FINISH",
	[S_NEXT] = "NEXT", [S_NEXT_DATA] = "NEXT_DATA", [S_ANSWERED] = "ANSWERED",
	[S_QUIET] = "QUIET", [S_HELD] = "HELD", [S_STILL_HELD] = "STILL_HELD",
	[S_CALLED] = "CALLED", [S_HOOK_RAN] = "HOOK_RAN", [S_WAITING] = "WAITING",
	[S_NOT_CALLED] = "NOT_CALLED", [S_COUNT] = "COUNT", [S_CALLS] = "CALLS",
	[S_BEFORE] = "BEFORE", [S_EV_FIELD] = "EV_IS", [S_REQ_INTERRUPTED] = "REQ_INTERRUPTED",
	[S_FORGETS] = "FORGETS", [S_FORGOTTEN] = "FORGOTTEN", [S_NOT_FORGOTTEN] = "NOT_FORGOTTEN",
	[S_LAST_IS_FORGET] = "LAST_IS_FORGET", [S_PIPE_GET] = "PIPE_GET",
	[S_INIT_ACCEPTED] = "INIT_ACCEPTED", [S_IS_INTERRUPT_OF] = "IS_INTERRUPT_OF",
};

struct step {
	enum step_op op;
	const char *args;            /* the step's arguments as written in the table */
	int line;                    /* where it is written */
	char l, l2;                  /* labels (0: none) */
	enum ev_kind k, k2;
	enum ev_field field;
	int64_t v, v2;
	const char *str;
	enum ev_kind kinds[6];       /* FS_HOLDS, up to EV_NONE */
	struct msg msg;
};

/* How the session starts, when not as every other scenario. */
struct setup {
	int grace_ms;                /* rf_opts.grace_ms (0: the default) */
	bool no_open;                /* ask for RF_CAP_NO_OPEN_SUPPORT; open nothing */
};

#define ST(op_, args_, ...)     { .op = op_, .args = args_, .line = __LINE__, __VA_ARGS__ }

#define FS_HOLDS(...)           ST(S_FS_HOLDS, #__VA_ARGS__, .kinds = { __VA_ARGS__ })
#define FS_HOLDS_ALL()          ST(S_FS_HOLDS_ALL, "")
#define INTR_HOOK()             ST(S_INTR_HOOK, "")
#define READ_MODE(m)            ST(S_READ_MODE, #m, .v = m)
#define PIPE()                  ST(S_PIPE, "")
#define LATE_REPLY(l_)          ST(S_LATE_REPLY, #l_, .l = l_)
#define LATE_REPLY_ERR(l_, e)   ST(S_LATE_REPLY_ERR, #l_ ", " #e, .l = l_, .v = e)
#define OPEN(node_, fh_) \
	ST(S_OPEN, #node_ ", " #fh_, .msg = { .opcode = FUSE_OPEN, .node = node_, .fh = fh_ })
#define OPENDIR(node_, fh_) \
	ST(S_OPEN, #node_ ", " #fh_, .msg = { .opcode = FUSE_OPENDIR, .node = node_, .fh = fh_ })
#define RESERVE(l_)             ST(S_RESERVE, #l_, .l = l_)
/* Variadic: @m is a brace initializer (READ(...) expands to one), commas and all. */
#define SEND(l_, ...)           ST(S_SEND, #l_ ", " #__VA_ARGS__, .l = l_, .msg = __VA_ARGS__)
#define PIPE_PUT(s)             ST(S_PIPE_PUT, #s, .str = s)
#define PUMP(ms)                ST(S_PUMP, #ms, .v = ms)
#define FINISH()                ST(S_FINISH, "")
#define NEXT(l_, e)             ST(S_NEXT, #l_ ", " #e, .l = l_, .v = e)
#define NEXT_DATA(l_, e, s)     ST(S_NEXT_DATA, #l_ ", " #e ", " #s, .l = l_, .v = e, .str = s)
#define ANSWERED(l_, e, size)   ST(S_ANSWERED, #l_ ", " #e ", " #size, .l = l_, .v = e, .v2 = size)
#define QUIET(ms)               ST(S_QUIET, #ms, .v = ms)
#define HELD(l_)                ST(S_HELD, #l_, .l = l_)
#define STILL_HELD(l_)          ST(S_STILL_HELD, #l_, .l = l_)
#define CALLED(l_)              ST(S_CALLED, #l_, .l = l_)
#define HOOK_RAN(l_)            ST(S_HOOK_RAN, #l_, .l = l_)
#define WAITING(l_)             ST(S_WAITING, #l_, .l = l_)
#define NOT_CALLED(l_)          ST(S_NOT_CALLED, #l_, .l = l_)
#define COUNT(kind, n)          ST(S_COUNT, #kind ", " #n, .k = kind, .v = n)
#define CALLS(l_, n)            ST(S_CALLS, #l_ ", " #n, .l = l_, .v = n)
#define BEFORE(kind1, l1, kind2, l2_) \
	ST(S_BEFORE, #kind1 ", " #l1 ", " #kind2 ", " #l2_, .k = kind1, .l = l1, .k2 = kind2, \
	   .l2 = l2_)
#define EV_IS(kind, l_, f, val) \
	ST(S_EV_FIELD, #kind ", " #l_ ", " #f ", " #val, .k = kind, .l = l_, .field = f, \
	   .v = (int64_t)(val))
#define EV_A(kind, l_, val)     EV_IS(kind, l_, F_A, val)
#define EV_B(kind, l_, val)     EV_IS(kind, l_, F_B, val)
#define REQ_INTERRUPTED(l_, val) ST(S_REQ_INTERRUPTED, #l_ ", " #val, .l = l_, .v = val)
#define FORGETS(n)              ST(S_FORGETS, #n, .v = n)
#define FORGOTTEN(ino, total)   ST(S_FORGOTTEN, #ino ", " #total, .v2 = ino, .v = total)
#define NOT_FORGOTTEN(ino)      ST(S_NOT_FORGOTTEN, #ino, .v2 = ino)
#define LAST_IS_FORGET(ino, n)  ST(S_LAST_IS_FORGET, #ino ", " #n, .v2 = ino, .v = n)
#define PIPE_GET(s)             ST(S_PIPE_GET, #s, .str = s)
#define INIT_ACCEPTED(flag)     ST(S_INIT_ACCEPTED, #flag, .v = flag)
#define IS_INTERRUPT_OF(li, l_) ST(S_IS_INTERRUPT_OF, #li ", " #l_, .l = li, .l2 = l_)

/* The first forget that ran was of @ino, @n lookups. */
#define FIRST_FORGET(ino, n)    EV_A(EV_FORGET, 0, ino), EV_B(EV_FORGET, 0, n)
/* A forget is deferred: nothing is answered (FORGET has no reply) and nothing forgotten. */
#define NO_FORGET_YET()         QUIET(QUIET_MS), COUNT(EV_FORGET, 0)

/*
 * The core RELEASE check: request @p is held by the filesystem; a RELEASE (or RELEASEDIR),
 * labelled 'R', of its fh arrives and must not reach the filesystem until the test answered
 * @p; then it runs, on the right fh, once, and its reply follows @p's.
 */
#define RELEASE_WAITS_FOR(p, ...)							\
	HELD(p),									\
	ST(S_SEND, "'R', " #__VA_ARGS__, .l = 'R', .msg = __VA_ARGS__),			\
	WAITING('R'),									\
	WAITING('R'),			/* still: it is parked, not merely slow */	\
	LATE_REPLY(p), NEXT(p, 0),							\
	NEXT('R', 0),									\
	BEFORE(HANDLER, p, EV_REPLIED, p),						\
	BEFORE(EV_REPLIED, p, HANDLER, 'R'),						\
	EV_IS(HANDLER, 'R', F_A_IS_SENT_FH, 0),						\
	CALLS('R', 1),									\
	QUIET(10)

/*
 * @b is parked behind @a, which the filesystem holds: @b waits, and reaches its handler
 * (which holds it too) only after the test answered @a.
 */
#define PARKED_BEHIND(b, a)								\
	WAITING(b),									\
	LATE_REPLY(a), NEXT(a, 0),							\
	HELD(b),									\
	BEFORE(EV_REPLIED, a, HANDLER, b)

/* Neither of @a and @b orders the other: the filesystem holds both at once, and the later
 * one, @b, can be answered first. */
#define NOT_ORDERED(a, b)								\
	HELD(a), HELD(b),								\
	LATE_REPLY(b), NEXT(b, 0),							\
	LATE_REPLY(a), NEXT(a, 0)

/* READ @r holds FH in the filesystem; RELEASE @rel of FH arrives and is parked. */
#define RELEASE_PARKED_BEHIND_READ(r, rel)						\
	FS_HOLDS(EV_READ),								\
	SEND(r, READ(FH, 0, 4096)),							\
	HELD(r),									\
	SEND(rel, RELEASE(NODE, FH)),							\
	WAITING(rel)

/* READ @r is answered at once ("early") and stays in service: its backing read waits on
 * the empty pipe until a PIPE_PUT. */
#define READ_REPLIED_EARLY(r)								\
	PIPE(),										\
	READ_MODE(RM_EARLY_REPLY),							\
	SEND(r, READ(FH, 0, 4096)),							\
	NEXT_DATA(r, 0, "early")

/* Every request's label: what SEND (or RESERVE) gave it. */
static struct label {
	uint64_t unique;
	enum ev_kind kind;           /* the handler its request reaches */
	uint64_t fh;                 /* the fh its message carried */
	bool reserved, sent;
} labels[128];

static bool scenario_done;

static struct label *label_of(char l)
{
	struct label *x = &labels[(unsigned char)l & 127];

	cr_assert(l && (x->sent || x->reserved), "%slabel '%c' names no request sent before",
		  where, l ? l : '0');
	return x;
}

/* The unique of @l; 0 (no label) matches any event in ev_find (forgets have none). */
static uint64_t unique_of(char l)
{
	return l ? label_of(l)->unique : 0;
}

static enum ev_kind kind_of(enum ev_kind kind, char l)
{
	return kind == HANDLER ? label_of(l)->kind : kind;
}

static enum ev_kind handler_of(uint32_t opcode)
{
	switch (opcode) {
	case FUSE_READ:            return EV_READ;
	case FUSE_WRITE:           return EV_WRITE;
	case FUSE_FLUSH:           return EV_FLUSH;
	case FUSE_FSYNC:           return EV_FSYNC;
	case FUSE_RELEASE:         return EV_RELEASE;
	case FUSE_RELEASEDIR:      return EV_RELEASEDIR;
	case FUSE_READDIR:         return EV_READDIR;
	case FUSE_COPY_FILE_RANGE: return EV_CFR;
	case FUSE_GETATTR:         return EV_GETATTR;
	case FUSE_SETATTR:         return EV_SETATTR;
	case FUSE_FALLOCATE:       return EV_FALLOCATE;
	case FUSE_LSEEK:           return EV_LSEEK;
	case FUSE_LOOKUP:          return EV_LOOKUP;
	case FUSE_RENAME:          return EV_RENAME;
	case FUSE_INTERRUPT:       return EV_INTR_CB;
	default:                   return EV_NONE;
	}
}

/* Send @m as the kernel would; a READ on a reserved label carries the unique reserved for
 * it. Returns the unique (0 for FORGET and BATCH_FORGET, which get no reply). */
static uint64_t send_msg(const struct msg *m, const struct label *x)
{
	union {
		struct fuse_flush_in flush;
		struct fuse_fsync_in fsync;
		struct fuse_read_in readdir;
		struct fuse_copy_file_range_in cfr;
		struct fuse_getattr_in getattr;
		struct fuse_setattr_in setattr;
		struct fuse_fallocate_in fallocate;
		struct fuse_lseek_in lseek;
		struct fuse_rename_in rename;
		struct fuse_forget_in forget;
		struct fuse_batch_forget_in batch;
	} in;
	struct iovec iov[2];
	uint32_t n = 0;

	cr_assert(!x || !x->reserved || m->opcode == FUSE_READ,
		  "%sonly a READ can be sent on a reserved unique", where);
	memset(&in, 0, sizeof(in));
	switch (m->opcode) {
	case FUSE_READ:
		return send_read_of(x && x->reserved ? x->unique : fk_next_unique(&fk),
				    m->node ? m->node : NODE, m->fh, m->off, (uint32_t)m->len);
	case FUSE_WRITE:
		return send_write_of(m->node ? m->node : NODE, m->fh, m->off, (uint32_t)m->len,
				     m->fill);
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR:
		return send_release(m->opcode, m->node, m->fh);
	case FUSE_FLUSH:
		in.flush.fh = m->fh;
		in.flush.lock_owner = 0x77;
		return fk_send(&fk, FUSE_FLUSH, NODE, &in.flush, sizeof(in.flush));
	case FUSE_FSYNC:
		in.fsync.fh = m->fh;
		return fk_send(&fk, FUSE_FSYNC, NODE, &in.fsync, sizeof(in.fsync));
	case FUSE_READDIR:
		in.readdir.fh = m->fh;
		in.readdir.size = 4096;
		return fk_send(&fk, FUSE_READDIR, DIRNODE, &in.readdir, sizeof(in.readdir));
	case FUSE_COPY_FILE_RANGE:
		in.cfr.fh_in = m->fh;
		in.cfr.off_in = m->off;
		in.cfr.nodeid_out = m->node ? m->node : NODE2;
		in.cfr.fh_out = m->fh2;
		in.cfr.off_out = m->off2;
		in.cfr.len = m->len;
		return fk_send(&fk, FUSE_COPY_FILE_RANGE, NODE, &in.cfr, sizeof(in.cfr));
	case FUSE_GETATTR:
		in.getattr.getattr_flags = m->with_fh ? FUSE_GETATTR_FH : 0;
		in.getattr.fh = m->fh;
		return fk_send(&fk, FUSE_GETATTR, m->node, &in.getattr, sizeof(in.getattr));
	case FUSE_SETATTR:
		in.setattr.valid = FATTR_FH | FATTR_SIZE;
		in.setattr.fh = m->fh;
		in.setattr.size = 100;
		return fk_send(&fk, FUSE_SETATTR, NODE, &in.setattr, sizeof(in.setattr));
	case FUSE_FALLOCATE:
		in.fallocate.fh = m->fh;
		in.fallocate.offset = m->off;
		in.fallocate.length = m->len;
		return fk_send(&fk, FUSE_FALLOCATE, NODE, &in.fallocate, sizeof(in.fallocate));
	case FUSE_LSEEK:
		in.lseek.fh = m->fh;
		in.lseek.whence = SEEK_DATA;
		return fk_send(&fk, FUSE_LSEEK, NODE, &in.lseek, sizeof(in.lseek));
	case FUSE_LOOKUP:
		return fk_send_name(&fk, FUSE_LOOKUP, m->node, NULL, 0, m->name);
	case FUSE_RENAME:
		in.rename.newdir = m->fh2;
		return fk_send_names(&fk, FUSE_RENAME, m->node, &in.rename, sizeof(in.rename),
				     m->name, m->name2);
	case FUSE_FORGET:
		in.forget.nlookup = m->len;
		fk_send(&fk, FUSE_FORGET, m->node, &in.forget, sizeof(in.forget));
		return 0;
	case FUSE_BATCH_FORGET:
		while (n < 4 && m->forget[n].nodeid)
			n++;
		in.batch.count = n;
		iov[0] = (struct iovec){ &in.batch, sizeof(in.batch) };
		iov[1] = (struct iovec){ (void *)m->forget, n * sizeof(m->forget[0]) };
		fk_sendv(&fk, FUSE_BATCH_FORGET, 0, iov, 2);
		return 0;
	case FUSE_INTERRUPT:
		return fk_send_interrupt(&fk, unique_of(m->target));
	}
	cr_assert_fail("%sno SEND for opcode %u", where, m->opcode);
	return 0;
}

static void step_send(const struct step *s)
{
	struct label *x = s->l ? &labels[(unsigned char)s->l & 127] : NULL;
	uint64_t u;

	cr_assert(!x || !x->sent, "%slabel '%c' is used twice", where, s->l);
	u = send_msg(&s->msg, x);
	if (!x)
		return;
	x->unique = u;
	x->kind = handler_of(s->msg.opcode);
	x->fh = s->msg.fh;
	x->sent = true;
}

static struct rf_req *held_req(char l)
{
	uint64_t u = unique_of(l);
	struct rf_req *req = NULL;
	int i;

	pthread_mutex_lock(&ev_lock);
	for (i = 0; i < nheld; i++)
		if (held[i].unique == u)
			req = held[i].req;
	pthread_mutex_unlock(&ev_lock);
	cr_assert_not_null(req, "%sthe filesystem does not hold '%c'", where, l);
	return req;
}

static void step_ev_field(const struct step *s)
{
	enum ev_kind k = kind_of(s->k, s->l);
	const struct ev *e = ev_get(k, unique_of(s->l));
	const char *what = ev_name[k];

	switch (s->field) {
	case F_A:
		cr_assert_eq(e->a, (uint64_t)s->v, "%s%s: a = %lld, expected %lld", where, what,
			     (long long)e->a, (long long)s->v);
		break;
	case F_B:
		cr_assert_eq(e->b, (uint64_t)s->v, "%s%s: b = %lld, expected %lld", where, what,
			     (long long)e->b, (long long)s->v);
		break;
	case F_DATA0:
		cr_assert_eq(e->data0, (char)s->v, "%s%s: data '%c', expected '%c'", where, what,
			     e->data0, (char)s->v);
		break;
	case F_HAS_FI:
		cr_assert_eq(e->has_fi, s->v != 0, "%s%s: %s rf_file", where, what,
			     e->has_fi ? "an unexpected" : "no");
		break;
	case F_INTERRUPTED:
		cr_assert_eq(e->interrupted, s->v, "%s%s: interrupted %d, expected %lld", where,
			     what, e->interrupted, (long long)s->v);
		break;
	case F_A_NEGATIVE:
		cr_assert_lt((int64_t)e->a, 0, "%s%s: %lld, expected an error", where, what,
			     (long long)e->a);
		break;
	case F_A_IS_SENT_FH:
		cr_assert_eq(e->a, label_of(s->l)->fh, "%s%s got fh %llu, sent %llu", where, what,
			     (unsigned long long)e->a, (unsigned long long)label_of(s->l)->fh);
		break;
	case F_ON_LOOP_THREAD:
		cr_assert(pthread_equal(e->thread, loop_thread), "%s%s ran off the loop thread",
			  where, what);
		break;
	}
}

/* The forgets of @ino: how many events, and their nlookups added up. */
static int forgets_of(uint64_t ino, uint64_t *total)
{
	int i, n = 0;

	*total = 0;
	pthread_mutex_lock(&ev_lock);
	for (i = 0; i < nev; i++) {
		if (evs[i].kind == EV_FORGET && evs[i].a == ino) {
			n++;
			*total += evs[i].b;
		}
	}
	pthread_mutex_unlock(&ev_lock);
	return n;
}

static void step_pipe_get(const char *want)
{
	size_t len = strlen(want);
	struct pollfd p = { .fd = pfd[0], .events = POLLIN };
	char buf[16];

	cr_assert_eq(poll(&p, 1, 1000), 1, "%sthe pipe is not readable", where);
	cr_assert_eq(read(pfd[0], buf, sizeof(buf)), (ssize_t)len, "%sthe pipe holds other bytes",
		     where);
	cr_assert_eq(memcmp(buf, want, len), 0, "%sthe pipe holds other bytes", where);
}

static void step_run(const struct step *s)
{
	const struct fk_msg *m;
	struct label *x;
	struct want w;
	uint64_t total;
	uint32_t mask = 0;
	int i, n;

	switch (s->op) {
	case S_END:
	case S_OPS:
		break;
	case S_FS_HOLDS:
		for (i = 0; i < 6 && s->kinds[i] != EV_NONE; i++)
			mask |= HOLD(s->kinds[i]);
		hold_mask = mask;
		break;
	case S_FS_HOLDS_ALL:
		hold_mask = ~0u;
		break;
	case S_INTR_HOOK:
		register_intr_cb = true;
		break;
	case S_READ_MODE:
		read_mode = (enum read_mode)s->v;
		break;
	case S_PIPE:
		make_pipe();
		break;
	case S_LATE_REPLY:
		reply_held(unique_of(s->l));
		break;
	case S_LATE_REPLY_ERR:
		reply_held_err(unique_of(s->l), (int)s->v);
		break;
	case S_OPEN:
		open_file(s->msg.opcode, s->msg.node, s->msg.fh);
		break;
	case S_RESERVE:
		x = &labels[(unsigned char)s->l & 127];
		cr_assert(!x->sent && !x->reserved, "%slabel '%c' is used twice", where, s->l);
		x->unique = fk_next_unique(&fk);
		x->reserved = true;
		break;
	case S_SEND:
		step_send(s);
		break;
	case S_PIPE_PUT:
		n = (int)strlen(s->str);
		cr_assert_eq(write(pfd[1], s->str, n), n, "%swrite to the pipe: %s", where,
			     strerror(errno));
		break;
	case S_PUMP:
		fk_pump(&fk, (int)s->v);
		break;
	case S_FINISH:
		finish();
		break;
	case S_NEXT:
		expect_next(unique_of(s->l), (int)s->v);
		break;
	case S_NEXT_DATA:
		m = expect_next(unique_of(s->l), (int)s->v);
		cr_assert_eq(m->size, strlen(s->str), "%s%zu payload bytes, expected %zu", where,
			     m->size, strlen(s->str));
		cr_assert_eq(memcmp(m->payload, s->str, m->size), 0, "%sother payload", where);
		break;
	case S_ANSWERED:
		m = fk_wait_reply(&fk, unique_of(s->l));
		cr_assert_eq(m->oh.error, s->v, "%serror %d, expected %lld", where, m->oh.error,
			     (long long)s->v);
		cr_assert_eq(m->size, (size_t)s->v2, "%s%zu payload bytes, expected %lld", where,
			     m->size, (long long)s->v2);
		break;
	case S_QUIET:
		quiet((int)s->v);
		break;
	case S_HELD:
		wait_held(unique_of(s->l));
		break;
	case S_STILL_HELD:
		cr_assert(is_held(unique_of(s->l)), "%s'%c' is no longer held", where, s->l);
		break;
	case S_CALLED:
		wait_called(kind_of(HANDLER, s->l), unique_of(s->l));
		break;
	case S_HOOK_RAN:
		w = (struct want){ EV_INTR_CB, unique_of(s->l), 0 };
		cr_assert(fk_pump_until(&fk, want_ev, &w, FK_WAIT_MS),
			  "%sthe interrupt hook never ran", where);
		break;
	case S_WAITING:
		expect_waiting(kind_of(HANDLER, s->l), unique_of(s->l));
		break;
	case S_NOT_CALLED:
		cr_assert_eq(ev_find(kind_of(HANDLER, s->l), unique_of(s->l)), -1,
			     "%s'%c' reached the filesystem", where, s->l);
		break;
	case S_COUNT:
		n = ev_count(s->k);
		cr_assert_eq(n, s->v, "%s%d %s event(s), expected %lld", where, n, ev_name[s->k],
			     (long long)s->v);
		break;
	case S_CALLS:
		n = ev_count(kind_of(HANDLER, s->l));
		cr_assert_eq(n, s->v, "%s%d %s call(s), expected %lld", where, n,
			     ev_name[kind_of(HANDLER, s->l)], (long long)s->v);
		break;
	case S_BEFORE:
		ev_before(kind_of(s->k, s->l), unique_of(s->l), kind_of(s->k2, s->l2),
			  unique_of(s->l2));
		break;
	case S_EV_FIELD:
		step_ev_field(s);
		break;
	case S_REQ_INTERRUPTED:
		n = rf_req_interrupted(held_req(s->l));
		cr_assert_eq(n, s->v, "%srf_req_interrupted is %d", where, n);
		break;
	case S_FORGETS:
		wait_forgets((int)s->v);
		break;
	case S_FORGOTTEN:
		forgets_of((uint64_t)s->v2, &total);
		cr_assert_eq(total, (uint64_t)s->v, "%sforgets of %lld summed to %llu, expected %lld",
			     where, (long long)s->v2, (unsigned long long)total, (long long)s->v);
		break;
	case S_NOT_FORGOTTEN:
		n = forgets_of((uint64_t)s->v2, &total);
		cr_assert_eq(n, 0, "%s%lld was forgotten", where, (long long)s->v2);
		break;
	case S_LAST_IS_FORGET:
		cr_assert(nev > 0 && evs[nev - 1].kind == EV_FORGET &&
			  evs[nev - 1].a == (uint64_t)s->v2 && evs[nev - 1].b == (uint64_t)s->v,
			  "%sthe last event is not the forget of %lld (%lld)", where,
			  (long long)s->v2, (long long)s->v);
		break;
	case S_PIPE_GET:
		step_pipe_get(s->str);
		break;
	case S_INIT_ACCEPTED:
		cr_assert(fk.init_out.flags & (uint32_t)s->v, "%sINIT did not accept %s", where,
			  s->args);
		break;
	case S_IS_INTERRUPT_OF:
		cr_assert_eq(unique_of(s->l), unique_of(s->l2) | FUSE_INT_REQ_BIT,
			     "%s'%c' is not the INTERRUPT of '%c'", where, s->l, s->l2);
		break;
	}
}

/* Run case @name: a session started as @setup says, then @steps up to S_END. */
static void run(const char *name, const struct setup *setup, const struct step *steps)
{
	struct rf_opts opts;
	bool finished = false;
	int i;

	memset(labels, 0, sizeof(labels));
	scenario_done = false;
	rf_opts_init(&opts);
	if (setup->grace_ms)
		opts.grace_ms = setup->grace_ms;
	start_with(&opts, setup->no_open);
	for (i = 0; steps[i].op != S_END; i++) {
		snprintf(where, sizeof(where), "%s, step %d (line %d, %s(%s)): ", name, i + 1,
			 steps[i].line, step_name[steps[i].op], steps[i].args);
		step_run(&steps[i]);
		finished |= steps[i].op == S_FINISH;
	}
	snprintf(where, sizeof(where), "%s, after the last step: ", name);
	if (!finished)
		finish();
	where[0] = '\0';
	scenario_done = true;
}

/* A failure inside fake_kernel.c does not know the step: say it here. */
static void scenario_fini(void)
{
	if (!scenario_done)
		cr_log_error("%sthe scenario stopped here", where);
	where[0] = '\0';
}

/* One Test per scenario, named for the behaviour it checks. */
#define SCENARIO_WITH(name, setup_, ...)						\
	static const struct step name##_steps[] = { __VA_ARGS__, { .op = S_END } };	\
	Test(order, name, .timeout = 10, .fini = scenario_fini)				\
	{										\
		run(#name, &(const struct setup)setup_, name##_steps);			\
	}
#define SCENARIO(name, ...) SCENARIO_WITH(name, { 0 }, __VA_ARGS__)

/* ======================================================================================
 * RELEASE after all I/O on its fh
 * ====================================================================================== */

SCENARIO(release_runs_at_once_when_nothing_is_pending,
	SEND('R', RELEASE(NODE, FH)),
	ANSWERED('R', 0, 0),
	EV_A(EV_RELEASE, 'R', FH))

/*
 * One row a case: the filesystem holds the requests of a kind, one of them ('p') is sent,
 * and a RELEASE of FH arrives: RELEASE_WAITS_FOR.
 */
#define RELEASE_CASE(name, kind, pending)						\
	SCENARIO(name,									\
		 FS_HOLDS(kind),							\
		 ST(S_SEND, "'p', " #pending, .l = 'p', .msg = pending),		\
		 RELEASE_WAITS_FOR('p', RELEASE(NODE, FH)))

RELEASE_CASE(release_waits_for_pending_read,    EV_READ,      READ(FH, 0, 4096))
RELEASE_CASE(release_waits_for_pending_write,   EV_WRITE,     WRITE(FH, 0, 4096, 'w'))
RELEASE_CASE(release_waits_for_pending_fsync,   EV_FSYNC,     FSYNC(FH))
RELEASE_CASE(release_waits_for_pending_flush,   EV_FLUSH,     FLUSH(FH))
RELEASE_CASE(release_waits_for_setattr_with_fh, EV_SETATTR,   SETATTR_FH(FH))
RELEASE_CASE(release_waits_for_fallocate,       EV_FALLOCATE, FALLOCATE(FH, 0, 1 << 20))
RELEASE_CASE(release_waits_for_lseek,           EV_LSEEK,     LSEEK(FH))

SCENARIO(releasedir_waits_for_pending_readdir,
	OPENDIR(DIRNODE, DIR_FH),
	FS_HOLDS(EV_READDIR),
	SEND('d', READDIR(DIR_FH)),
	RELEASE_WAITS_FOR('d', RELEASEDIR(DIRNODE, DIR_FH)))

SCENARIO(release_of_copy_file_range_source_waits,
	OPEN(NODE2, FH2),
	FS_HOLDS(EV_CFR),
	SEND('c', COPY_FILE_RANGE(FH, 0, FH2, 0, 4096)),
	HELD('c'),
	EV_A(EV_CFR, 'c', FH),
	EV_B(EV_CFR, 'c', FH2),
	RELEASE_WAITS_FOR('c', RELEASE(NODE, FH)))

SCENARIO(release_of_copy_file_range_destination_waits,
	OPEN(NODE2, FH2),
	FS_HOLDS(EV_CFR),
	SEND('c', COPY_FILE_RANGE(FH, 0, FH2, 0, 4096)),
	RELEASE_WAITS_FOR('c', RELEASE(NODE2, FH2)))

SCENARIO(release_waits_for_getattr_with_fh,
	FS_HOLDS(EV_GETATTR),
	SEND('g', GETATTR_FH(NODE, FH)),
	HELD('g'),
	EV_IS(EV_GETATTR, 'g', F_HAS_FI, true),   /* FUSE_GETATTR_FH passes the fi */
	EV_A(EV_GETATTR, 'g', FH),
	RELEASE_WAITS_FOR('g', RELEASE(NODE, FH)))

SCENARIO(getattr_without_fh_does_not_hold_the_release,
	FS_HOLDS(EV_GETATTR),
	SEND('g', GETATTR(NODE)),
	HELD('g'),
	EV_IS(EV_GETATTR, 'g', F_HAS_FI, false),
	SEND('R', RELEASE(NODE, FH)),
	NEXT('R', 0),
	LATE_REPLY('g'), NEXT('g', 0))

SCENARIO(release_waits_for_every_earlier_request,
	FS_HOLDS(EV_READ, EV_WRITE, EV_FSYNC, EV_GETATTR),
	SEND('r', READ(FH, 0, 100)),
	SEND('w', WRITE(FH, 8192, 100, 'a')),
	SEND('s', FSYNC(FH)),                     /* parked behind the WRITE */
	SEND('g', GETATTR_FH(NODE, FH)),
	HELD('r'), HELD('w'), HELD('g'),
	SEND('R', RELEASE(NODE, FH)),
	WAITING('R'),
	NOT_CALLED('s'),                          /* not before the earlier WRITE finished */
	LATE_REPLY('g'), NEXT('g', 0),
	WAITING('R'),
	LATE_REPLY('w'), NEXT('w', 0),
	HELD('s'),                                /* the WRITE finished: the FSYNC runs now */
	WAITING('R'),
	LATE_REPLY('r'), NEXT('r', 0),
	WAITING('R'),
	LATE_REPLY('s'), NEXT('s', 0),            /* the last one */
	NEXT('R', 0),
	BEFORE(EV_REPLIED, 's', EV_RELEASE, 'R'))

SCENARIO(release_waits_for_parked_requests,
	FS_HOLDS(EV_WRITE, EV_READ),
	SEND('w', WRITE(FH, 0, 4096, 'w')),
	HELD('w'),
	SEND('r', READ(FH, 100, 100)),            /* overlaps the WRITE: parked */
	SEND('R', RELEASE(NODE, FH)),
	WAITING('r'),
	COUNT(EV_RELEASE, 0),
	LATE_REPLY('w'), NEXT('w', 0),
	HELD('r'),                                /* resumed, and now held by the filesystem */
	WAITING('R'),
	LATE_REPLY('r'), NEXT('r', 0),
	NEXT('R', 0),
	BEFORE(EV_REPLIED, 'r', EV_RELEASE, 'R'))

SCENARIO(release_of_one_fh_does_not_wait_for_another,
	OPEN(NODE2, FH2),
	FS_HOLDS(EV_READ),
	SEND('r', READ(FH2, 0, 4096)),
	HELD('r'),
	SEND('R', RELEASE(NODE, FH)),
	NEXT('R', 0),
	LATE_REPLY('r'), NEXT('r', 0))

SCENARIO(copy_file_range_within_one_fh_is_not_blocked_by_itself,
	FS_HOLDS(EV_CFR),
	SEND('c', COPY_FILE_RANGE_TO(NODE, FH, 0, FH, 100, 200)), /* reads [0,200), writes [100,300) */
	HELD('c'),
	RELEASE_WAITS_FOR('c', RELEASE(NODE, FH)))

/* ======================================================================================
 * EBADF for handles that are not open
 * ====================================================================================== */

SCENARIO(request_after_release_gets_ebadf,
	SEND('R', RELEASE(NODE, FH)),
	ANSWERED('R', 0, 0),
	COUNT(EV_RELEASE, 1),
	SEND('r', READ(FH, 0, 4096)),         ANSWERED('r', -EBADF, 0),
	SEND('w', WRITE(FH, 0, 10, 'x')),     ANSWERED('w', -EBADF, 0),
	SEND('f', FLUSH(FH)),                 ANSWERED('f', -EBADF, 0),
	SEND('g', GETATTR_FH(NODE, FH)),      ANSWERED('g', -EBADF, 0),
	/* A handle never handed out by an OPEN reply. */
	SEND('x', READ(12345, 0, 4096)),      ANSWERED('x', -EBADF, 0),
	SEND('s', FSYNC(FH2)),                ANSWERED('s', -EBADF, 0),
	/* None of them reached the filesystem. */
	COUNT(EV_READ, 0), COUNT(EV_WRITE, 0), COUNT(EV_FLUSH, 0), COUNT(EV_FSYNC, 0),
	COUNT(EV_GETATTR, 0),
	/* A second RELEASE of the same fh is done without the filesystem. */
	SEND('2', RELEASE(NODE, FH)),
	ANSWERED('2', 0, 0),
	COUNT(EV_RELEASE, 1))

SCENARIO(request_after_parked_release_gets_ebadf,
	RELEASE_PARKED_BEHIND_READ('r', 'R'),
	/* The release is not done, but the fh is gone for requests sent after it. */
	SEND('x', READ(FH, 0, 10)),
	NEXT('x', -EBADF),
	NOT_CALLED('x'),
	LATE_REPLY('r'), NEXT('r', 0),
	NEXT('R', 0))

SCENARIO(fh_opened_twice_needs_two_releases,
	OPEN(NODE, FH),                       /* the filesystem hands out FH again */
	SEND('R', RELEASE(NODE, FH)),
	ANSWERED('R', 0, 0),
	SEND('r', READ(FH, 0, 4)),            /* the other open still has it */
	ANSWERED('r', 0, 4),
	SEND('S', RELEASE(NODE, FH)),
	ANSWERED('S', 0, 0),
	COUNT(EV_RELEASE, 2),
	SEND('x', READ(FH, 0, 4)),
	ANSWERED('x', -EBADF, 0),
	COUNT(EV_READ, 1))

SCENARIO_WITH(fh_zero_without_open_when_no_open_support, { .no_open = true },
	INIT_ACCEPTED(FUSE_NO_OPEN_SUPPORT),
	FS_HOLDS(EV_WRITE, EV_READ),
	/* The kernel sends fh 0 without any OPEN; the chains still order it. */
	SEND('w', WRITE(0, 0, 100, 'w')),
	HELD('w'),
	SEND('r', READ(0, 50, 10)),
	PARKED_BEHIND('r', 'w'),
	LATE_REPLY('r'), NEXT('r', 0),
	/* Any other fh was still never opened. */
	SEND('x', READ(5, 0, 10)),
	NEXT('x', -EBADF))

SCENARIO(reopened_fh_is_usable_again,
	SEND('R', RELEASE(NODE, FH)),
	ANSWERED('R', 0, 0),
	OPEN(NODE, FH),
	SEND('r', READ(FH, 0, 4)),
	ANSWERED('r', 0, 4),
	COUNT(EV_READ, 1))

/* ======================================================================================
 * FORGET after the inode's requests in service
 * ====================================================================================== */

SCENARIO(forget_waits_for_inflight_getattr,
	FS_HOLDS(EV_GETATTR),
	SEND('g', GETATTR(5)),
	HELD('g'),
	SEND(0, FORGET(5, 1)),
	NO_FORGET_YET(),                      /* not while GETATTR of the inode is in service */
	LATE_REPLY('g'), NEXT('g', 0),
	FORGETS(1),
	PUMP(10),
	COUNT(EV_FORGET, 1),
	FIRST_FORGET(5, 1),
	BEFORE(EV_REPLIED, 'g', EV_FORGET, 0))

SCENARIO(forget_waits_for_inflight_lookup,
	FS_HOLDS(EV_LOOKUP),
	SEND('l', LOOKUP(5, "child")),
	HELD('l'),
	SEND(0, FORGET(5, 3)),
	NO_FORGET_YET(),                      /* not while LOOKUP in the directory runs */
	LATE_REPLY('l'), NEXT('l', -ENOENT),
	FORGETS(1),
	FIRST_FORGET(5, 3),
	BEFORE(EV_REPLIED, 'l', EV_FORGET, 0))

SCENARIO(forget_of_idle_inode_runs_at_once,
	SEND(0, FORGET(6, 2)),
	FORGETS(1),
	FIRST_FORGET(6, 2),
	QUIET(10))                            /* FORGET has no reply */

SCENARIO(batch_forget_waits_only_for_busy_inodes,
	FS_HOLDS(EV_GETATTR),
	SEND('g', GETATTR(5)),
	HELD('g'),
	SEND(0, BATCH_FORGET({ 5, 1 }, { 6, 2 }, { 7, 4 })),
	/* 6 and 7 have nothing in flight: forgotten at once; 5 waits. */
	FORGETS(2),
	QUIET(QUIET_MS),
	COUNT(EV_FORGET, 2),
	NOT_FORGOTTEN(5),                     /* its GETATTR is in service */
	LATE_REPLY('g'), NEXT('g', 0),
	FORGETS(3),
	PUMP(10),
	COUNT(EV_FORGET, 3),
	LAST_IS_FORGET(5, 1))

SCENARIO(deferred_forgets_add_up,
	FS_HOLDS(EV_GETATTR),
	SEND('g', GETATTR(5)),
	HELD('g'),
	SEND(0, FORGET(5, 1)),
	SEND(0, FORGET(5, 2)),
	NO_FORGET_YET(),
	LATE_REPLY('g'), NEXT('g', 0),
	FORGETS(1),
	PUMP(10),
	FORGOTTEN(5, 3))

SCENARIO(forget_waits_for_second_inode_of_copy_file_range,
	OPEN(NODE2, FH2),
	FS_HOLDS(EV_CFR),
	SEND('c', COPY_FILE_RANGE(FH, 0, FH2, 0, 100)),
	HELD('c'),
	SEND(0, FORGET(NODE2, 1)),
	NO_FORGET_YET(),                      /* the destination inode is in use too */
	LATE_REPLY('c'), NEXT('c', 0),
	FORGETS(1),
	EV_A(EV_FORGET, 0, NODE2),
	BEFORE(EV_REPLIED, 'c', EV_FORGET, 0))

SCENARIO(forget_waits_for_rename_target_directory,
	FS_HOLDS(EV_RENAME),
	SEND('n', RENAME(1, "a", 9, "b")),
	HELD('n'),
	SEND(0, FORGET(9, 1)),
	NO_FORGET_YET(),                      /* RENAME's new directory is in use */
	LATE_REPLY('n'), NEXT('n', 0),
	FORGETS(1),
	EV_A(EV_FORGET, 0, 9))

SCENARIO(forget_waits_for_parked_release,
	FS_HOLDS(EV_READ),
	SEND('r', READ(FH, 0, 10)),
	HELD('r'),
	SEND('R', RELEASE(NODE, FH)),
	SEND(0, FORGET(NODE, 1)),
	NO_FORGET_YET(),
	COUNT(EV_RELEASE, 0),
	LATE_REPLY('r'), NEXT('r', 0),
	NEXT('R', 0),
	FORGETS(1),
	/* The inode goes last: after the release that still named it. */
	BEFORE(EV_RELEASE, 'R', EV_FORGET, 0))

/* ======================================================================================
 * WRITE ranges
 * ====================================================================================== */

SCENARIO(overlapping_writes_run_in_arrival_order,
	FS_HOLDS(EV_WRITE),
	SEND('a', WRITE(FH, 0, 4096, 'A')),
	HELD('a'),
	SEND('b', WRITE(FH, 100, 100, 'B')),
	PARKED_BEHIND('b', 'a'),
	/* The parked request's data was kept intact in its slot. */
	EV_IS(EV_WRITE, 'b', F_DATA0, 'B'),
	EV_B(EV_WRITE, 'b', 100),
	LATE_REPLY('b'), NEXT('b', 0))

SCENARIO(non_overlapping_writes_run_concurrently,
	FS_HOLDS(EV_WRITE),
	SEND('a', WRITE(FH, 0, 4096, 'A')),
	SEND('b', WRITE(FH, 8192, 4096, 'B')),
	NOT_ORDERED('a', 'b'))

SCENARIO(adjacent_writes_do_not_overlap,
	FS_HOLDS(EV_WRITE),
	SEND('a', WRITE(FH, 0, 4096, 'A')),
	SEND('b', WRITE(FH, 4096, 4096, 'B')),
	HELD('a'), HELD('b'),
	LATE_REPLY('a'), LATE_REPLY('b'),
	NEXT('a', 0), NEXT('b', 0))

SCENARIO(write_waits_for_every_overlapping_write,
	FS_HOLDS(EV_WRITE),
	SEND('1', WRITE(FH, 0, 100, '1')),
	SEND('2', WRITE(FH, 200, 100, '2')),
	HELD('1'), HELD('2'),
	SEND('3', WRITE(FH, 50, 200, '3')),   /* overlaps both */
	WAITING('3'),
	LATE_REPLY('2'), NEXT('2', 0),
	PARKED_BEHIND('3', '1'),
	LATE_REPLY('3'), NEXT('3', 0))

SCENARIO(parked_write_keeps_later_overlapping_requests_behind_it,
	FS_HOLDS(EV_WRITE, EV_READ),
	SEND('1', WRITE(FH, 0, 100, '1')),
	HELD('1'),
	SEND('2', WRITE(FH, 50, 100, '2')),   /* [50,150): behind 1 */
	SEND('r', READ(FH, 120, 100)),        /* [120,220): overlaps only 2 */
	WAITING('2'),
	NOT_CALLED('r'),                      /* it must not overtake the parked WRITE */
	LATE_REPLY('1'), NEXT('1', 0),
	HELD('2'),
	PARKED_BEHIND('r', '2'),
	LATE_REPLY('r'), NEXT('r', 0))

/*
 * One row a case: NODE is open as FH and as FH2, NODE2 as FH3 (DEST_PAIR_CASE: NODE2 as
 * FH2 and FH3); the filesystem holds @first ('a'); @second ('b') arrives and then either
 * waits for it (SECOND_WAITS: parked until 'a' is answered) or not (SECOND_RUNS).
 */
#define SECOND_WAITS(a, b)      PARKED_BEHIND(b, a), LATE_REPLY(b), NEXT(b, 0)
#define SECOND_RUNS(a, b)       NOT_ORDERED(a, b)
#define PAIR_CASE(name, then, first, second)						\
	SCENARIO(name,									\
		 OPEN(NODE, FH2), OPEN(NODE2, FH3),					\
		 FS_HOLDS_ALL(),							\
		 ST(S_SEND, "'a', " #first, .l = 'a', .msg = first),			\
		 HELD('a'),								\
		 ST(S_SEND, "'b', " #second, .l = 'b', .msg = second),			\
		 then('a', 'b'))
/* (one macro each: a message expands to a braced list, which cannot pass through a
 * second macro's fixed arguments) */
#define DEST_PAIR_CASE(name, then, first, second)					\
	SCENARIO(name,									\
		 OPEN(NODE2, FH2), OPEN(NODE2, FH3),					\
		 FS_HOLDS_ALL(),							\
		 ST(S_SEND, "'a', " #first, .l = 'a', .msg = first),			\
		 HELD('a'),								\
		 ST(S_SEND, "'b', " #second, .l = 'b', .msg = second),			\
		 then('a', 'b'))

PAIR_CASE(read_overlapping_pending_write_waits, SECOND_WAITS,
	  WRITE(FH, 4096, 4096, 'w'), READ(FH, 0, 4097))    /* its last byte is the WRITE's first */
PAIR_CASE(read_not_overlapping_runs, SECOND_RUNS,
	  WRITE(FH, 4096, 4096, 'w'), READ(FH, 0, 4096))
PAIR_CASE(read_overlapping_pending_fallocate_waits, SECOND_WAITS,
	  FALLOCATE(FH, 0, 8192), READ(FH, 4096, 10))
PAIR_CASE(write_does_not_wait_for_reads, SECOND_RUNS,
	  READ(FH, 0, 4096), WRITE(FH, 0, 4096, 'w'))

SCENARIO(read_of_copy_file_range_destination_waits,
	OPEN(NODE2, FH2),
	FS_HOLDS(EV_CFR, EV_READ),
	SEND('c', COPY_FILE_RANGE(FH, 0, FH2, 1000, 100)),  /* writes [1000,1100) of FH2 */
	HELD('c'),
	SEND('r', READ(FH2, 1050, 10)),
	PARKED_BEHIND('r', 'c'),
	LATE_REPLY('r'), NEXT('r', 0))

/* COPY_FILE_RANGE in the data chains: a WRITE of its destination's range, a READ of its
 * source's, whichever fh of the inode the other request came through. */
/* the copy writes [1000,1100) of NODE2 */
DEST_PAIR_CASE(read_through_another_fh_of_copy_file_range_destination_waits, SECOND_WAITS,
	       COPY_FILE_RANGE(FH, 0, FH2, 1000, 100), READ_OF(NODE2, FH3, 1099, 10))
DEST_PAIR_CASE(write_through_another_fh_of_copy_file_range_destination_waits, SECOND_WAITS,
	       COPY_FILE_RANGE(FH, 0, FH2, 1000, 100), WRITE_OF(NODE2, FH3, 900, 101, 'w'))
DEST_PAIR_CASE(read_through_another_fh_beside_copy_file_range_destination_runs, SECOND_RUNS,
	       COPY_FILE_RANGE(FH, 0, FH2, 1000, 100), READ_OF(NODE2, FH3, 1100, 10))
DEST_PAIR_CASE(copy_file_range_waits_for_write_to_its_destination_through_another_fh,
	       SECOND_WAITS,
	       WRITE_OF(NODE2, FH3, 4096, 10, 'w'), COPY_FILE_RANGE(FH, 0, FH2, 4000, 100))
/* the copy reads [50,150) of NODE */
PAIR_CASE(copy_file_range_waits_for_write_to_its_source_through_another_fh, SECOND_WAITS,
	  WRITE(FH2, 0, 100, 'w'), COPY_FILE_RANGE(FH, 50, FH3, 0, 100))

/* Within one file through two fhs: its own READ and WRITE ranges overlap and do not hold
 * it back; a later READ of the written range through a third fh waits for it. */
SCENARIO(copy_file_range_within_one_file_orders_later_reads_of_its_destination,
	OPEN(NODE, FH2), OPEN(NODE, FH3),
	FS_HOLDS(EV_CFR, EV_READ),
	SEND('c', COPY_FILE_RANGE_TO(NODE, FH, 0, FH2, 100, 200)),
	HELD('c'),
	SEND('r', READ(FH3, 250, 10)),
	PARKED_BEHIND('r', 'c'),
	LATE_REPLY('r'), NEXT('r', 0))

/* Within one file with a WRITE already in its chain, so that both of the copy's holds
 * (its READ and its WRITE) are linked there: they do not hold each other back. */
SCENARIO(copy_file_range_within_one_file_with_both_holds_linked_runs,
	OPEN(NODE, FH2), OPEN(NODE, FH3),
	FS_HOLDS(EV_WRITE, EV_CFR, EV_READ),
	SEND('w', WRITE(FH3, 1 << 20, 10, 'w')),
	HELD('w'),
	SEND('c', COPY_FILE_RANGE_TO(NODE, FH, 0, FH2, 100, 200)),
	HELD('c'),
	SEND('r', READ(FH3, 250, 10)),
	PARKED_BEHIND('r', 'c'),
	LATE_REPLY('r'), NEXT('r', 0),
	LATE_REPLY('w'), NEXT('w', 0))

/* Both holds blocked in one chain: it runs once, when the WRITE is done. */
SCENARIO(copy_file_range_within_one_file_parked_on_both_holds_resumes_once,
	OPEN(NODE, FH2), OPEN(NODE, FH3),
	FS_HOLDS(EV_WRITE, EV_CFR, EV_READ),
	SEND('w', WRITE(FH3, 0, 400, 'w')),
	HELD('w'),
	SEND('c', COPY_FILE_RANGE_TO(NODE, FH, 0, FH2, 100, 200)),
	PARKED_BEHIND('c', 'w'),
	CALLS('c', 1),
	SEND('r', READ(FH3, 250, 10)),
	PARKED_BEHIND('r', 'c'),
	LATE_REPLY('r'), NEXT('r', 0),
	SEND('R', RELEASE(NODE, FH2)), NEXT('R', 0))

/* A copy only reads its source: a READ through another fh of the source runs. */
SCENARIO(read_through_another_fh_of_copy_file_range_source_runs,
	OPEN(NODE, FH2), OPEN(NODE2, FH3),
	FS_HOLDS(EV_WRITE, EV_CFR, EV_READ),
	SEND('w', WRITE(FH2, 1 << 20, 10, 'w')),  /* the source's chain holds a WRITE */
	HELD('w'),
	SEND('c', COPY_FILE_RANGE(FH, 0, FH3, 0, 100)),
	HELD('c'),
	SEND('r', READ(FH2, 50, 10)),
	HELD('r'),
	LATE_REPLY('r'), NEXT('r', 0),
	LATE_REPLY('c'), NEXT('c', 0),
	LATE_REPLY('w'), NEXT('w', 0))

SCENARIO(copy_file_range_waits_for_earlier_copy_to_the_same_destination,
	OPEN(NODE, FH4), OPEN(NODE2, FH2), OPEN(NODE2, FH3),
	FS_HOLDS(EV_CFR),
	SEND('a', COPY_FILE_RANGE(FH, 0, FH2, 0, 100)),
	HELD('a'),
	SEND('b', COPY_FILE_RANGE(FH4, 0, FH3, 50, 100)),
	PARKED_BEHIND('b', 'a'),
	LATE_REPLY('b'), NEXT('b', 0))

/* An INTERRUPT of a copy parked in its destination's chain: EINTR, and the chain lets
 * the next request go as if it had run. */
SCENARIO(interrupted_copy_file_range_parked_in_its_destinations_chain_is_answered_eintr,
	OPEN(NODE2, FH2), OPEN(NODE2, FH3),
	FS_HOLDS(EV_WRITE, EV_CFR),
	SEND('w', WRITE_OF(NODE2, FH3, 0, 4096, 'w')),
	HELD('w'),
	SEND('c', COPY_FILE_RANGE(FH, 0, FH2, 0, 100)),
	WAITING('c'),
	SEND('i', INTERRUPT('c')),
	NEXT('c', -EINTR),
	NOT_CALLED('c'),
	SEND('2', WRITE_OF(NODE2, FH2, 0, 10, '2')),   /* behind 'w' only */
	WAITING('2'),
	LATE_REPLY('w'), NEXT('w', 0),
	HELD('2'),
	LATE_REPLY('2'), NEXT('2', 0),
	SEND('R', RELEASE(NODE2, FH2)), NEXT('R', 0))

SCENARIO(reads_run_concurrently,
	FS_HOLDS(EV_READ),
	SEND('1', READ(FH, 0, 4096)),
	SEND('2', READ(FH, 0, 4096)),
	NOT_ORDERED('1', '2'))

/*
 * Across the fhs of one inode (its data chain): the page cache is the inode's, so a READ
 * through another open must not fetch the bytes a WRITE sent first is replacing, or the
 * old bytes end up cached after the WRITE returned (docs/kernel-notes.md §13).
 */
PAIR_CASE(read_through_another_fh_waits_for_overlapping_write, SECOND_WAITS,
	  WRITE(FH, 20480, 32, 'w'), READ(FH2, 0, 131072))
PAIR_CASE(write_through_another_fh_waits_for_overlapping_write, SECOND_WAITS,
	  WRITE(FH, 0, 4096, 'w'), WRITE(FH2, 4095, 2, 'v'))
PAIR_CASE(read_through_another_fh_waits_for_overlapping_fallocate, SECOND_WAITS,
	  FALLOCATE(FH, 0, 8192), READ(FH2, 4096, 10))
PAIR_CASE(read_through_another_fh_not_overlapping_runs, SECOND_RUNS,
	  WRITE(FH, 4096, 4096, 'w'), READ(FH2, 0, 4096))
PAIR_CASE(write_through_another_fh_does_not_wait_for_reads, SECOND_RUNS,
	  READ(FH, 0, 4096), WRITE(FH2, 0, 4096, 'w'))
PAIR_CASE(write_to_another_inode_does_not_hold_a_read, SECOND_RUNS,
	  WRITE_OF(NODE2, FH3, 0, 4096, 'w'), READ(FH, 0, 4096))

/* Parked in both chains (its fh's and its inode's): it runs once, when the last of the
 * WRITEs it waits for is done, whichever finishes first. */
SCENARIO(read_behind_writes_on_its_fh_and_another_runs_once_both_are_done,
	OPEN(NODE, FH2),
	FS_HOLDS(EV_WRITE, EV_READ),
	SEND('1', WRITE(FH, 0, 100, '1')),
	SEND('2', WRITE(FH2, 200, 100, '2')),
	HELD('1'), HELD('2'),
	SEND('r', READ(FH, 0, 4096)),         /* overlaps both: fh chain 1, data chain 1 and 2 */
	WAITING('r'),
	LATE_REPLY('1'), NEXT('1', 0),
	WAITING('r'),                         /* still behind 2, through another fh */
	LATE_REPLY('2'), NEXT('2', 0),
	HELD('r'),
	CALLS('r', 1),
	LATE_REPLY('r'), NEXT('r', 0))

/* An INTERRUPT of a READ parked in the data chain answers it EINTR, and the chain lets
 * the next request go as if it had run. */
SCENARIO(interrupted_read_parked_behind_another_fhs_write_is_answered_eintr,
	OPEN(NODE, FH2),
	FS_HOLDS(EV_WRITE, EV_READ),
	SEND('w', WRITE(FH, 0, 4096, 'w')),
	HELD('w'),
	SEND('r', READ(FH2, 0, 4096)),
	WAITING('r'),
	SEND('i', INTERRUPT('r')),
	NEXT('r', -EINTR),
	NOT_CALLED('r'),
	SEND('2', WRITE(FH2, 0, 10, '2')),    /* behind 'w' only */
	WAITING('2'),
	LATE_REPLY('w'), NEXT('w', 0),
	HELD('2'),
	LATE_REPLY('2'), NEXT('2', 0))

/* ======================================================================================
 * FLUSH and FSYNC: after every earlier WRITE, and only those
 * ====================================================================================== */

SCENARIO(flush_waits_for_earlier_writes_only,
	FS_HOLDS(EV_WRITE, EV_FLUSH, EV_READ),
	SEND('1', WRITE(FH, 0, 4096, '1')),
	HELD('1'),
	SEND('f', FLUSH(FH)),
	WAITING('f'),
	/* Sent after the FLUSH: not blocked by it (nor by the earlier, disjoint WRITE). */
	SEND('2', WRITE(FH, 8192, 4096, '2')),
	HELD('2'),
	SEND('r', READ(FH, 8192, 10)),        /* overlaps WRITE 2 only: waits for it */
	WAITING('r'),
	NOT_CALLED('f'),
	/* The FLUSH goes as soon as the WRITE before it is done; the later one is not
	 * its business. */
	LATE_REPLY('1'), NEXT('1', 0),
	HELD('f'),
	STILL_HELD('2'),
	LATE_REPLY('f'), NEXT('f', 0),
	LATE_REPLY('2'), NEXT('2', 0),
	HELD('r'),
	LATE_REPLY('r'), NEXT('r', 0))

SCENARIO(fsync_waits_for_earlier_writes,
	FS_HOLDS(EV_WRITE, EV_FSYNC),
	SEND('1', WRITE(FH, 0, 10, '1')),
	SEND('2', WRITE(FH, 1 << 20, 10, '2')),
	HELD('1'), HELD('2'),
	SEND('s', FSYNC(FH)),
	WAITING('s'),
	LATE_REPLY('1'), NEXT('1', 0),
	PARKED_BEHIND('s', '2'),
	LATE_REPLY('s'), NEXT('s', 0))

SCENARIO(flush_does_not_wait_for_reads,
	FS_HOLDS(EV_READ),
	SEND('r', READ(FH, 0, 4096)),
	HELD('r'),
	SEND('f', FLUSH(FH)),
	NEXT('f', 0),
	LATE_REPLY('r'), NEXT('r', 0))

/* ======================================================================================
 * INTERRUPT
 * ====================================================================================== */

SCENARIO(interrupt_after_request,
	FS_HOLDS(EV_READ),
	INTR_HOOK(),
	SEND('r', READ(FH, 0, 4096)),
	HELD('r'),
	EV_IS(EV_READ, 'r', F_INTERRUPTED, 0),
	REQ_INTERRUPTED('r', 0),
	SEND('i', INTERRUPT('r')),
	HOOK_RAN('r'),
	REQ_INTERRUPTED('r', 1),
	COUNT(EV_INTR_CB, 1),
	EV_IS(EV_INTR_CB, 'r', F_ON_LOOP_THREAD, 0),
	QUIET(QUIET_MS),                      /* neither the READ nor the INTERRUPT */
	LATE_REPLY_ERR('r', -EINTR), NEXT('r', -EINTR),
	/* Exactly one reply, and none to the INTERRUPT, even after the early-INTERRUPT
	 * timeout would have passed. */
	QUIET(120),
	COUNT(EV_INTR_CB, 1))

SCENARIO(interrupt_before_request,
	FS_HOLDS(EV_READ),
	RESERVE('r'),
	/* Both are queued before the loop runs: it reads the INTERRUPT, then the READ in
	 * its next round, before its timers run, so the 50 ms EAGAIN cannot interfere. */
	SEND('i', INTERRUPT('r')),
	SEND('r', READ(FH, 0, 4096)),
	HELD('r'),
	EV_IS(EV_READ, 'r', F_INTERRUPTED, 1),    /* applied when its request arrived */
	LATE_REPLY_ERR('r', -EINTR), NEXT('r', -EINTR),
	/* The INTERRUPT was consumed: no EAGAIN for it later. */
	QUIET(120),
	IS_INTERRUPT_OF('i', 'r'))

/* Timing, not order: the one INTERRUPT case that is not a scenario. */
Test(order, early_interrupt_is_answered_eagain, .timeout = 10)
{
	const struct fk_msg *m;
	uint64_t u, ui;
	int64_t t0, dt;

	start();
	u = fk_next_unique(&fk);                  /* a request the kernel never sends */
	t0 = now_ms();
	ui = fk_send_interrupt(&fk, u);
	m = fk_recv(&fk, 1000);
	dt = now_ms() - t0;
	cr_assert_not_null(m, "the INTERRUPT was never answered");
	cr_assert_eq(m->oh.unique, ui, "reply to %llu, expected the INTERRUPT's %llu",
		     (unsigned long long)m->oh.unique, (unsigned long long)ui);
	cr_assert_eq(m->oh.error, -EAGAIN);
	cr_assert_geq(dt, 45, "EAGAIN after %lld ms; the INTERRUPT should wait ~50 ms",
		      (long long)dt);
	cr_assert_lt(dt, 1000);
	/* The request coming later runs normally. */
	send_read_as(u, FH, 0, 4);
	fk_expect_reply(&fk, u, 0, 4);
	cr_assert_eq(ev_get(EV_READ, u)->interrupted, 0);
	finish();
}

SCENARIO(interrupt_of_parked_request,
	FS_HOLDS(EV_WRITE, EV_READ),
	SEND('w', WRITE(FH, 0, 4096, 'w')),
	HELD('w'),
	SEND('r', READ(FH, 0, 100)),
	WAITING('r'),
	SEND('i', INTERRUPT('r')),
	NEXT('r', -EINTR),
	QUIET(QUIET_MS),
	NOT_CALLED('r'),                      /* the parked READ never reached the filesystem */
	/* The WRITE is not disturbed, and the READ never runs afterwards either. */
	LATE_REPLY('w'), NEXT('w', 0),
	QUIET(QUIET_MS),
	COUNT(EV_READ, 0))

SCENARIO(interrupt_of_parked_request_lets_release_run,
	FS_HOLDS(EV_WRITE, EV_READ),
	SEND('w', WRITE(FH, 0, 4096, 'w')),
	HELD('w'),
	SEND('r', READ(FH, 0, 100)),
	SEND('R', RELEASE(NODE, FH)),
	WAITING('R'),
	SEND('i', INTERRUPT('r')),
	NEXT('r', -EINTR),
	WAITING('R'),                         /* the WRITE is still in service */
	LATE_REPLY('w'), NEXT('w', 0),
	NEXT('R', 0),
	COUNT(EV_READ, 0))

SCENARIO(interrupt_of_parked_release_still_releases,
	RELEASE_PARKED_BEHIND_READ('r', 'R'),
	/* A synchronous RELEASE (fuseblk) can be interrupted. Answering it EINTR without
	 * running the filesystem's release would leak the handle: nobody releases it
	 * later, the kernel has let go of it. It still runs, after the READ. */
	SEND('i', INTERRUPT('R')),
	WAITING('R'),
	LATE_REPLY('r'), NEXT('r', 0),
	CALLED('R'),
	NEXT('R', 0),
	COUNT(EV_RELEASE, 1),
	BEFORE(EV_REPLIED, 'r', EV_RELEASE, 'R'))

SCENARIO(early_interrupt_of_request_that_parks,
	FS_HOLDS(EV_WRITE, EV_READ),
	SEND('w', WRITE(FH, 0, 4096, 'w')),
	HELD('w'),
	RESERVE('r'),
	SEND('i', INTERRUPT('r')),
	SEND('r', READ(FH, 0, 100)),          /* arrives interrupted, and must wait */
	/* "A request still waiting in a chain is answered EINTR without reaching the
	 * filesystem", and an early INTERRUPT is applied when its request arrives. */
	NEXT('r', -EINTR),
	NOT_CALLED('r'),
	LATE_REPLY('w'), NEXT('w', 0),
	QUIET(120),
	COUNT(EV_READ, 0))

SCENARIO(interrupt_cancels_blocked_backing_read,
	PIPE(),
	READ_MODE(RM_BACKING_DEFAULT),
	SEND('r', READ(FH, 0, 16)),
	CALLED('r'),
	QUIET(QUIET_MS),                      /* the backing read blocks on the pipe */
	SEND('i', INTERRUPT('r')),
	NEXT('r', -EINTR),
	QUIET(QUIET_MS),                      /* exactly one reply */
	/* The cancelled read took nothing: the pipe still works and keeps what it gets. */
	PIPE_PUT("xyz"),
	PIPE_GET("xyz"),
	QUIET(QUIET_MS),
	/* And the request is finished: a RELEASE runs at once. */
	SEND('R', RELEASE(NODE, FH)),
	NEXT('R', 0))

SCENARIO(release_waits_for_backing_io_after_early_reply,
	READ_REPLIED_EARLY('r'),
	/* Replied, but its backing read is still in flight: the fh is still in use. */
	SEND('R', RELEASE(NODE, FH)),
	WAITING('R'),
	WAITING('R'),
	COUNT(EV_BACKING_CB, 0),
	PIPE_PUT("hello"),
	NEXT('R', 0),
	EV_A(EV_BACKING_CB, 'r', 5),          /* the backing read's result */
	BEFORE(EV_BACKING_CB, 'r', EV_RELEASE, 'R'))

SCENARIO(release_waits_for_cancelled_backing_io,
	PIPE(),
	READ_MODE(RM_HOOK_REPLIES),
	SEND('r', READ(FH, 0, 4096)),
	CALLED('r'),
	SEND('R', RELEASE(NODE, FH)),
	WAITING('R'),
	/* The hook answers EINTR at once; the backing read is cancelled after it. */
	SEND('i', INTERRUPT('r')),
	NEXT('r', -EINTR),
	NEXT('R', 0),
	BEFORE(EV_INTR_CB, 'r', EV_BACKING_CB, 'r'),
	BEFORE(EV_BACKING_CB, 'r', EV_RELEASE, 'R'),
	EV_IS(EV_BACKING_CB, 'r', F_A_NEGATIVE, 0),   /* the backing read was cancelled */
	COUNT(EV_BACKING_CB, 1))

SCENARIO(forget_waits_for_backing_io_after_early_reply,
	READ_REPLIED_EARLY('r'),
	SEND(0, FORGET(NODE, 1)),
	NO_FORGET_YET(),                      /* not under the request's backing read */
	PIPE_PUT("hello"),
	FORGETS(1),
	BEFORE(EV_BACKING_CB, 'r', EV_FORGET, 0),
	EV_A(EV_FORGET, 0, NODE))

SCENARIO_WITH(teardown_runs_parked_release_after_cancelling_its_io, { .grace_ms = 100 },
	READ_REPLIED_EARLY('r'),
	SEND('R', RELEASE(NODE, FH)),
	WAITING('R'),
	/* The kernel goes away. After the grace period the backing read is cancelled; the
	 * parked RELEASE then runs (its reply goes nowhere), before the session ends. */
	FINISH(),
	COUNT(EV_BACKING_CB, 1),
	EV_IS(EV_BACKING_CB, 'r', F_A_NEGATIVE, 0),   /* the backing read was cancelled */
	COUNT(EV_RELEASE, 1),                 /* the parked RELEASE ran */
	BEFORE(EV_BACKING_CB, 'r', EV_RELEASE, 'R'))

/* ======================================================================================
 * Exactly one reply
 * ====================================================================================== */

Test(order, double_reply_is_reported_not_sent, .timeout = 10)
{
	const struct fk_msg *m;
	uint64_t u;

	start();
	read_mode = RM_DOUBLE_REPLY;
	u = send_read(FH, 0, 4096);
	m = expect_next(u, 0);
	cr_assert_eq(m->size, 3);
	cr_assert_eq(memcmp(m->payload, "one", 3), 0);
	fk_expect_no_reply(&fk, QUIET_MS);
	cr_assert_eq(double_ret[0], 0);
	cr_assert_lt(double_ret[1], 0, "the second reply was accepted");
	cr_assert_eq(fk_log_count(RF_LOG_ERR, "second reply"), 1,
		     "the second reply was not reported");
	/* The session goes on: the slot was not corrupted. */
	read_mode = RM_NORMAL;
	u = send_read(FH, 0, 4096);
	fk_expect_reply(&fk, u, 0, 4);
	finish();
}

/* ======================================================================================
 * Replies from other threads
 * ====================================================================================== */

struct thread_reply {
	struct rf_req *req[16];
	size_t size[16];
	int n;
};

static void *reply_thread(void *arg)
{
	struct thread_reply *t = arg;
	int i;

	for (i = 0; i < t->n; i++) {
		log_ev(EV_REPLIED, t->req[i], 0, 0);
		answer(t->req[i], t->size[i]);
	}
	return NULL;
}

Test(order, reply_from_another_thread_resumes_release_on_loop_thread, .timeout = 10)
{
	struct thread_reply t = { .n = 1 };
	struct held h;
	pthread_t th;
	uint64_t u, ur;

	start();
	hold_mask = HOLD(EV_READ);
	u = send_read(FH, 0, 4096);
	wait_held(u);
	ur = send_release(FUSE_RELEASE, NODE, FH);
	expect_waiting(EV_RELEASE, ur);

	h = unhold(u);
	t.req[0] = h.req;
	t.size[0] = h.size;
	cr_assert_eq(pthread_create(&th, NULL, reply_thread, &t), 0);
	expect_next(u, 0);
	expect_next(ur, 0);
	pthread_join(th, NULL);
	cr_assert_not(pthread_equal(ev_get(EV_REPLIED, u)->thread, loop_thread));
	cr_assert(pthread_equal(ev_get(EV_RELEASE, ur)->thread, loop_thread),
		  "the resumed release ran off the loop thread");
	ev_before(EV_REPLIED, u, EV_RELEASE, ur);
	finish();
}

Test(order, concurrent_replies_from_threads_release_once_after_all, .timeout = 10)
{
	enum { THREADS = 4, PER = 4, N = THREADS * PER, ROUNDS = 5 };
	struct thread_reply t[THREADS];
	pthread_t th[THREADS];
	uint64_t u[N], ur;
	bool seen[N];
	int round, i, k;

	start();
	for (round = 0; round < ROUNDS; round++) {
		if (round)
			open_file(FUSE_OPEN, NODE, FH);
		hold_mask = HOLD(EV_READ) | HOLD(EV_WRITE);
		for (i = 0; i < N; i++)
			u[i] = i % 4 == 3 ? send_write(FH, (uint64_t)i << 16, 512, 'x') :
					    send_read(FH, (uint64_t)i << 12, 512);
		for (i = 0; i < N; i++)
			wait_held(u[i]);
		ur = send_release(FUSE_RELEASE, NODE, FH);
		expect_waiting(EV_RELEASE, ur);
		memset(t, 0, sizeof(t));
		for (i = 0; i < N; i++) {
			struct held h = unhold(u[i]);
			struct thread_reply *tr = &t[i % THREADS];

			tr->req[tr->n] = h.req;
			tr->size[tr->n] = h.size;
			tr->n++;
		}
		for (k = 0; k < THREADS; k++)
			cr_assert_eq(pthread_create(&th[k], NULL, reply_thread, &t[k]), 0);
		/* Every reply, in any order; the RELEASE's last. */
		memset(seen, 0, sizeof(seen));
		for (i = 0; i < N; i++) {
			const struct fk_msg *m = fk_recv(&fk, FK_WAIT_MS);

			cr_assert_not_null(m, "round %d: only %d replies", round, i);
			cr_assert_neq(m->oh.unique, ur, "round %d: RELEASE answered after %d of %d",
				      round, i, N);
			cr_assert_eq(m->oh.error, 0);
			for (k = 0; k < N && u[k] != m->oh.unique; k++)
				;
			cr_assert_lt(k, N, "reply to unknown unique %llu",
				     (unsigned long long)m->oh.unique);
			cr_assert_not(seen[k], "two replies to %llu", (unsigned long long)u[k]);
			seen[k] = true;
		}
		expect_next(ur, 0);
		for (k = 0; k < THREADS; k++)
			pthread_join(th[k], NULL);
		cr_assert_eq(ev_count(EV_RELEASE), round + 1);
		cr_assert(pthread_equal(ev_get(EV_RELEASE, ur)->thread, loop_thread));
		for (i = 0; i < N; i++)
			ev_before(EV_REPLIED, u[i], EV_RELEASE, ur);
	}
	finish();
}
