/* SPDX-License-Identifier: MIT */
/*
 * test_order.c - the per-file ordering chains (docs/architecture.md §3, README "Ordering guarantees"):
 * RELEASE after every earlier request on its fh, EBADF for handles that are not open,
 * FORGET after the inode's requests in service, overlapping WRITEs (and READs behind
 * them) in arrival order, FLUSH/FSYNC behind earlier WRITEs, INTERRUPT of running,
 * parked and not-yet-arrived requests, backing I/O that keeps its request outstanding
 * after an early reply, exactly one reply per request, replies from other threads.
 *
 * The filesystem below records every call in an event log, in order, and keeps the
 * requests it is told to hold; the test answers those later from the test body (a "late
 * reply"), which is logged too, so a log index says what happened before what.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
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

	cr_assert_geq(i, 0, "no %s event for request %llu", ev_name[kind],
		      (unsigned long long)unique);
	return &evs[i];
}

/* Event (@k1, @u1) was logged, and before (@k2, @u2). */
static void ev_before(enum ev_kind k1, uint64_t u1, enum ev_kind k2, uint64_t u2)
{
	int i1 = ev_find(k1, u1), i2 = ev_find(k2, u2);

	cr_assert_geq(i1, 0, "no %s event (%llu)", ev_name[k1], (unsigned long long)u1);
	cr_assert_geq(i2, 0, "no %s event (%llu)", ev_name[k2], (unsigned long long)u2);
	cr_assert_lt(i1, i2, "%s (%llu) happened after %s (%llu)", ev_name[k1],
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
	cr_assert_not_null(h.req, "the filesystem does not hold request %llu",
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
	cr_assert_eq(rf_reply_err(h.req, err), 0);
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

static uint64_t send_read(uint64_t fh, uint64_t off, uint32_t size)
{
	struct fuse_read_in in = { .fh = fh, .offset = off, .size = size };

	return fk_send(&fk, FUSE_READ, NODE, &in, sizeof(in));
}

static uint64_t send_write(uint64_t fh, uint64_t off, uint32_t size, char fill)
{
	struct fuse_write_in in = { .fh = fh, .offset = off, .size = size };
	char *data = malloc(size);
	struct iovec iov[2] = { { &in, sizeof(in) }, { data, size } };
	uint64_t u;

	cr_assert_not_null(data);
	memset(data, fill, size);
	u = fk_sendv(&fk, FUSE_WRITE, NODE, iov, 2);
	free(data);
	return u;
}

static uint64_t send_release(uint32_t opcode, uint64_t nodeid, uint64_t fh)
{
	struct fuse_release_in in = { .fh = fh, .flags = O_RDWR };

	return fk_send(&fk, opcode, nodeid, &in, sizeof(in));
}

static uint64_t send_flush(uint64_t fh)
{
	struct fuse_flush_in in = { .fh = fh, .lock_owner = 0x77 };

	return fk_send(&fk, FUSE_FLUSH, NODE, &in, sizeof(in));
}

static uint64_t send_fsync(uint64_t fh)
{
	struct fuse_fsync_in in = { .fh = fh };

	return fk_send(&fk, FUSE_FSYNC, NODE, &in, sizeof(in));
}

static uint64_t send_readdir(uint64_t fh)
{
	struct fuse_read_in in = { .fh = fh, .size = 4096 };

	return fk_send(&fk, FUSE_READDIR, DIRNODE, &in, sizeof(in));
}

static uint64_t send_cfr(uint64_t fh_in, uint64_t off_in, uint64_t fh_out, uint64_t off_out,
			 uint64_t len)
{
	struct fuse_copy_file_range_in in = { .fh_in = fh_in, .off_in = off_in,
					      .nodeid_out = NODE2, .fh_out = fh_out,
					      .off_out = off_out, .len = len };

	return fk_send(&fk, FUSE_COPY_FILE_RANGE, NODE, &in, sizeof(in));
}

static uint64_t send_getattr(uint64_t nodeid, bool with_fh, uint64_t fh)
{
	struct fuse_getattr_in in = { .getattr_flags = with_fh ? FUSE_GETATTR_FH : 0, .fh = fh };

	return fk_send(&fk, FUSE_GETATTR, nodeid, &in, sizeof(in));
}

static uint64_t send_setattr_fh(uint64_t fh)
{
	struct fuse_setattr_in in;

	memset(&in, 0, sizeof(in));
	in.valid = FATTR_FH | FATTR_SIZE;
	in.fh = fh;
	in.size = 100;
	return fk_send(&fk, FUSE_SETATTR, NODE, &in, sizeof(in));
}

static uint64_t send_fallocate(uint64_t fh, uint64_t off, uint64_t len)
{
	struct fuse_fallocate_in in = { .fh = fh, .offset = off, .length = len };

	return fk_send(&fk, FUSE_FALLOCATE, NODE, &in, sizeof(in));
}

static uint64_t send_lseek(uint64_t fh)
{
	struct fuse_lseek_in in = { .fh = fh, .offset = 0, .whence = SEEK_DATA };

	return fk_send(&fk, FUSE_LSEEK, NODE, &in, sizeof(in));
}

static void send_forget(uint64_t nodeid, uint64_t nlookup)
{
	struct fuse_forget_in in = { .nlookup = nlookup };

	fk_send(&fk, FUSE_FORGET, nodeid, &in, sizeof(in));
}

static void send_batch_forget(const struct fuse_forget_one *one, uint32_t count)
{
	struct fuse_batch_forget_in in = { .count = count };
	struct iovec iov[2] = { { &in, sizeof(in) },
				{ (void *)one, count * sizeof(*one) } };

	fk_sendv(&fk, FUSE_BATCH_FORGET, 0, iov, 2);
}

/* What the kernel sends: unique = target's | FUSE_INT_REQ_BIT, nodeid 0. Returns it. */
static uint64_t send_interrupt(uint64_t target)
{
	struct fuse_interrupt_in in = { .unique = target };
	struct fuse_in_header hd;
	char buf[sizeof(hd) + sizeof(in)];

	fk_hdr(&fk, &hd, FUSE_INTERRUPT, 0, sizeof(buf));
	hd.unique = target | FUSE_INT_REQ_BIT;
	memcpy(buf, &hd, sizeof(hd));
	memcpy(buf + sizeof(hd), &in, sizeof(in));
	fk_send_raw(&fk, buf, sizeof(buf));
	return hd.unique;
}

/* A READ carrying @unique, reserved earlier with fk_next_unique. */
static void send_read_as(uint64_t unique, uint64_t fh, uint64_t off, uint32_t size)
{
	struct fuse_read_in in = { .fh = fh, .offset = off, .size = size };
	struct fuse_in_header hd;
	char buf[sizeof(hd) + sizeof(in)];

	fk_hdr(&fk, &hd, FUSE_READ, NODE, sizeof(buf));
	hd.unique = unique;
	memcpy(buf, &hd, sizeof(hd));
	memcpy(buf + sizeof(hd), &in, sizeof(in));
	fk_send_raw(&fk, buf, sizeof(buf));
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
		  "%s of request %llu never reached the filesystem", ev_name[kind],
		  (unsigned long long)unique);
}

/* At least @n forgets ran (a deferred forget runs when the last request naming the inode
 * is finished: after its reply's write completed, which may be reaped after the reply was
 * already received). */
static void wait_forgets(int n)
{
	struct want w = { EV_FORGET, 0, n };

	cr_assert(fk_pump_until(&fk, want_count, &w, FK_WAIT_MS), "%d forget(s) ran, expected %d",
		  ev_count(EV_FORGET), n);
}

/* The filesystem got request @unique and holds it, and nothing was answered. */
static void wait_held(uint64_t unique)
{
	cr_assert(fk_pump_until(&fk, want_held, &unique, FK_WAIT_MS),
		  "request %llu never reached the filesystem", (unsigned long long)unique);
}

/* For QUIET_MS: no message from the server, and the @kind handler not called for @u. */
static void expect_waiting(enum ev_kind kind, uint64_t u)
{
	fk_expect_no_reply(&fk, QUIET_MS);
	cr_assert_eq(ev_find(kind, u), -1, "%s of request %llu ran while it had to wait",
		     ev_name[kind], (unsigned long long)u);
}

/* The next message the server writes is the reply to @unique with @error. */
static const struct fk_msg *expect_next(uint64_t unique, int error)
{
	const struct fk_msg *m = fk_recv(&fk, FK_WAIT_MS);

	cr_assert_not_null(m, "no reply to request %llu", (unsigned long long)unique);
	cr_assert_eq(m->oh.unique, unique, "next reply is to %llu (error %d), expected %llu",
		     (unsigned long long)m->oh.unique, m->oh.error, (unsigned long long)unique);
	cr_assert_eq(m->oh.error, error, "reply to %llu: error %d, expected %d",
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

/* A session (with @opts, NULL: defaults) after INIT, with NODE open as FH. */
static void start_opts(const struct rf_opts *opts)
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
	want_no_open = false;
	fk_setup(&fk, &ops, NULL, opts);
	fk_init(&fk);
	open_file(FUSE_OPEN, NODE, FH);
}

static void start(void)
{
	start_opts(NULL);
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

/*
 * The core RELEASE check: request @pending (logged as @kind) is held by the filesystem;
 * a RELEASE (or RELEASEDIR) of @fh arrives and must not reach the filesystem until the
 * test answered @pending; then it runs, and its reply follows @pending's.
 */
static void release_waits_for(uint64_t pending, enum ev_kind kind, uint32_t rel_opcode,
			      uint64_t nodeid, uint64_t fh, int pending_error)
{
	enum ev_kind rel = rel_opcode == FUSE_RELEASEDIR ? EV_RELEASEDIR : EV_RELEASE;
	uint64_t ur;

	wait_held(pending);
	ur = send_release(rel_opcode, nodeid, fh);
	expect_waiting(rel, ur);
	/* Still waiting after more pumping: it is parked, not merely slow. */
	expect_waiting(rel, ur);

	reply_held(pending);
	expect_next(pending, pending_error);
	expect_next(ur, 0);
	ev_before(kind, pending, EV_REPLIED, pending);
	ev_before(EV_REPLIED, pending, rel, ur);
	cr_assert_eq(ev_get(rel, ur)->a, fh, "release got the wrong fh");
	cr_assert_eq(ev_count(rel), 1);
	fk_expect_no_reply(&fk, 10);
}

/* ======================================================================================
 * RELEASE after all I/O on its fh
 * ====================================================================================== */

Test(order, release_runs_at_once_when_nothing_is_pending, .timeout = 10)
{
	uint64_t u;

	start();
	u = send_release(FUSE_RELEASE, NODE, FH);
	fk_expect_reply(&fk, u, 0, 0);
	cr_assert_eq(ev_get(EV_RELEASE, u)->a, FH);
	finish();
}

Test(order, release_waits_for_pending_read, .timeout = 10)
{
	uint64_t u;

	start();
	hold_mask = HOLD(EV_READ);
	u = send_read(FH, 0, 4096);
	release_waits_for(u, EV_READ, FUSE_RELEASE, NODE, FH, 0);
	finish();
}

Test(order, release_waits_for_pending_write, .timeout = 10)
{
	uint64_t u;

	start();
	hold_mask = HOLD(EV_WRITE);
	u = send_write(FH, 0, 4096, 'w');
	release_waits_for(u, EV_WRITE, FUSE_RELEASE, NODE, FH, 0);
	finish();
}

Test(order, release_waits_for_pending_fsync, .timeout = 10)
{
	uint64_t u;

	start();
	hold_mask = HOLD(EV_FSYNC);
	u = send_fsync(FH);
	release_waits_for(u, EV_FSYNC, FUSE_RELEASE, NODE, FH, 0);
	finish();
}

Test(order, release_waits_for_pending_flush, .timeout = 10)
{
	uint64_t u;

	start();
	hold_mask = HOLD(EV_FLUSH);
	u = send_flush(FH);
	release_waits_for(u, EV_FLUSH, FUSE_RELEASE, NODE, FH, 0);
	finish();
}

Test(order, releasedir_waits_for_pending_readdir, .timeout = 10)
{
	uint64_t u;

	start();
	open_file(FUSE_OPENDIR, DIRNODE, DIR_FH);
	hold_mask = HOLD(EV_READDIR);
	u = send_readdir(DIR_FH);
	release_waits_for(u, EV_READDIR, FUSE_RELEASEDIR, DIRNODE, DIR_FH, 0);
	finish();
}

Test(order, release_of_copy_file_range_source_waits, .timeout = 10)
{
	uint64_t u;

	start();
	open_file(FUSE_OPEN, NODE2, FH2);
	hold_mask = HOLD(EV_CFR);
	u = send_cfr(FH, 0, FH2, 0, 4096);
	wait_held(u);
	cr_assert_eq(ev_get(EV_CFR, u)->a, FH);
	cr_assert_eq(ev_get(EV_CFR, u)->b, FH2);
	release_waits_for(u, EV_CFR, FUSE_RELEASE, NODE, FH, 0);
	finish();
}

Test(order, release_of_copy_file_range_destination_waits, .timeout = 10)
{
	uint64_t u;

	start();
	open_file(FUSE_OPEN, NODE2, FH2);
	hold_mask = HOLD(EV_CFR);
	u = send_cfr(FH, 0, FH2, 0, 4096);
	release_waits_for(u, EV_CFR, FUSE_RELEASE, NODE2, FH2, 0);
	finish();
}

Test(order, release_waits_for_getattr_with_fh, .timeout = 10)
{
	uint64_t u;

	start();
	hold_mask = HOLD(EV_GETATTR);
	u = send_getattr(NODE, true, FH);
	wait_held(u);
	cr_assert(ev_get(EV_GETATTR, u)->has_fi, "GETATTR with FUSE_GETATTR_FH passed no fi");
	cr_assert_eq(ev_get(EV_GETATTR, u)->a, FH);
	release_waits_for(u, EV_GETATTR, FUSE_RELEASE, NODE, FH, 0);
	finish();
}

Test(order, release_waits_for_setattr_with_fh, .timeout = 10)
{
	uint64_t u;

	start();
	hold_mask = HOLD(EV_SETATTR);
	u = send_setattr_fh(FH);
	release_waits_for(u, EV_SETATTR, FUSE_RELEASE, NODE, FH, 0);
	finish();
}

Test(order, release_waits_for_fallocate, .timeout = 10)
{
	uint64_t u;

	start();
	hold_mask = HOLD(EV_FALLOCATE);
	u = send_fallocate(FH, 0, 1 << 20);
	release_waits_for(u, EV_FALLOCATE, FUSE_RELEASE, NODE, FH, 0);
	finish();
}

Test(order, release_waits_for_lseek, .timeout = 10)
{
	uint64_t u;

	start();
	hold_mask = HOLD(EV_LSEEK);
	u = send_lseek(FH);
	release_waits_for(u, EV_LSEEK, FUSE_RELEASE, NODE, FH, 0);
	finish();
}

Test(order, getattr_without_fh_does_not_hold_the_release, .timeout = 10)
{
	uint64_t ug, ur;

	start();
	hold_mask = HOLD(EV_GETATTR);
	ug = send_getattr(NODE, false, 0);
	wait_held(ug);
	cr_assert_not(ev_get(EV_GETATTR, ug)->has_fi);
	ur = send_release(FUSE_RELEASE, NODE, FH);
	expect_next(ur, 0);
	reply_held(ug);
	expect_next(ug, 0);
	finish();
}

Test(order, release_waits_for_every_earlier_request, .timeout = 10)
{
	uint64_t ur, ur1, uw, uf, ug;

	start();
	hold_mask = HOLD(EV_READ) | HOLD(EV_WRITE) | HOLD(EV_FSYNC) | HOLD(EV_GETATTR);
	ur1 = send_read(FH, 0, 100);
	uw = send_write(FH, 8192, 100, 'a');
	uf = send_fsync(FH);              /* parked behind the WRITE */
	ug = send_getattr(NODE, true, FH);
	wait_held(ur1);
	wait_held(uw);
	wait_held(ug);
	ur = send_release(FUSE_RELEASE, NODE, FH);
	expect_waiting(EV_RELEASE, ur);
	cr_assert_eq(ev_find(EV_FSYNC, uf), -1, "FSYNC ran before the earlier WRITE finished");

	reply_held(ug);
	expect_next(ug, 0);
	expect_waiting(EV_RELEASE, ur);
	reply_held(uw);
	expect_next(uw, 0);
	wait_held(uf);                    /* the WRITE finished: the FSYNC runs now */
	expect_waiting(EV_RELEASE, ur);
	reply_held(ur1);
	expect_next(ur1, 0);
	expect_waiting(EV_RELEASE, ur);
	reply_held(uf);                   /* the last one */
	expect_next(uf, 0);
	expect_next(ur, 0);
	ev_before(EV_REPLIED, uf, EV_RELEASE, ur);
	finish();
}

Test(order, release_waits_for_parked_requests, .timeout = 10)
{
	uint64_t uw, urd, ur;

	start();
	hold_mask = HOLD(EV_WRITE) | HOLD(EV_READ);
	uw = send_write(FH, 0, 4096, 'w');
	wait_held(uw);
	urd = send_read(FH, 100, 100);    /* overlaps the WRITE: parked */
	ur = send_release(FUSE_RELEASE, NODE, FH);
	expect_waiting(EV_READ, urd);
	cr_assert_eq(ev_count(EV_RELEASE), 0);

	reply_held(uw);
	expect_next(uw, 0);
	wait_held(urd);                   /* resumed, and now held by the filesystem */
	expect_waiting(EV_RELEASE, ur);
	reply_held(urd);
	expect_next(urd, 0);
	expect_next(ur, 0);
	ev_before(EV_REPLIED, urd, EV_RELEASE, ur);
	finish();
}

Test(order, release_of_one_fh_does_not_wait_for_another, .timeout = 10)
{
	uint64_t u, ur;

	start();
	open_file(FUSE_OPEN, NODE2, FH2);
	hold_mask = HOLD(EV_READ);
	u = send_read(FH2, 0, 4096);
	wait_held(u);
	ur = send_release(FUSE_RELEASE, NODE, FH);
	expect_next(ur, 0);
	reply_held(u);
	expect_next(u, 0);
	finish();
}

Test(order, copy_file_range_within_one_fh_is_not_blocked_by_itself, .timeout = 10)
{
	uint64_t u;

	start();
	hold_mask = HOLD(EV_CFR);
	u = send_cfr(FH, 0, FH, 100, 200);        /* reads [0,200), writes [100,300) of FH */
	wait_held(u);
	release_waits_for(u, EV_CFR, FUSE_RELEASE, NODE, FH, 0);
	finish();
}

/* ======================================================================================
 * EBADF for handles that are not open
 * ====================================================================================== */

Test(order, request_after_release_gets_ebadf, .timeout = 10)
{
	uint64_t u;

	start();
	u = send_release(FUSE_RELEASE, NODE, FH);
	fk_expect_reply(&fk, u, 0, 0);
	cr_assert_eq(ev_count(EV_RELEASE), 1);

	u = send_read(FH, 0, 4096);
	fk_expect_reply(&fk, u, -EBADF, 0);
	u = send_write(FH, 0, 10, 'x');
	fk_expect_reply(&fk, u, -EBADF, 0);
	u = send_flush(FH);
	fk_expect_reply(&fk, u, -EBADF, 0);
	u = send_getattr(NODE, true, FH);
	fk_expect_reply(&fk, u, -EBADF, 0);
	/* A handle never handed out by an OPEN reply. */
	u = send_read(12345, 0, 4096);
	fk_expect_reply(&fk, u, -EBADF, 0);
	u = send_fsync(FH2);
	fk_expect_reply(&fk, u, -EBADF, 0);
	cr_assert_eq(ev_count(EV_READ), 0, "the filesystem's read was called for a closed fh");
	cr_assert_eq(ev_count(EV_WRITE), 0);
	cr_assert_eq(ev_count(EV_FLUSH), 0);
	cr_assert_eq(ev_count(EV_FSYNC), 0);
	cr_assert_eq(ev_count(EV_GETATTR), 0);
	/* A second RELEASE of the same fh is done without the filesystem. */
	u = send_release(FUSE_RELEASE, NODE, FH);
	fk_expect_reply(&fk, u, 0, 0);
	cr_assert_eq(ev_count(EV_RELEASE), 1);
	finish();
}

Test(order, request_after_parked_release_gets_ebadf, .timeout = 10)
{
	uint64_t u, ur, u2;

	start();
	hold_mask = HOLD(EV_READ);
	u = send_read(FH, 0, 4096);
	wait_held(u);
	ur = send_release(FUSE_RELEASE, NODE, FH);
	expect_waiting(EV_RELEASE, ur);
	/* The release is not done, but the fh is gone for requests sent after it. */
	u2 = send_read(FH, 0, 10);
	expect_next(u2, -EBADF);
	cr_assert_eq(ev_find(EV_READ, u2), -1);
	reply_held(u);
	expect_next(u, 0);
	expect_next(ur, 0);
	finish();
}

Test(order, fh_opened_twice_needs_two_releases, .timeout = 10)
{
	uint64_t u;

	start();
	open_file(FUSE_OPEN, NODE, FH);           /* the filesystem hands out FH again */
	u = send_release(FUSE_RELEASE, NODE, FH);
	fk_expect_reply(&fk, u, 0, 0);
	u = send_read(FH, 0, 4);                  /* the other open still has it */
	fk_expect_reply(&fk, u, 0, 4);
	u = send_release(FUSE_RELEASE, NODE, FH);
	fk_expect_reply(&fk, u, 0, 0);
	cr_assert_eq(ev_count(EV_RELEASE), 2);
	u = send_read(FH, 0, 4);
	fk_expect_reply(&fk, u, -EBADF, 0);
	cr_assert_eq(ev_count(EV_READ), 1);
	finish();
}

Test(order, fh_zero_without_open_when_no_open_support, .timeout = 10)
{
	uint64_t uw, ur;

	pthread_mutex_lock(&ev_lock);
	nev = 0;
	nheld = 0;
	pthread_mutex_unlock(&ev_lock);
	hold_mask = HOLD(EV_WRITE) | HOLD(EV_READ);
	register_intr_cb = false;
	read_mode = RM_NORMAL;
	loop_thread = pthread_self();
	want_no_open = true;
	fk_setup(&fk, &ops, NULL, NULL);
	fk_init(&fk);
	cr_assert(fk.init_out.flags & FUSE_NO_OPEN_SUPPORT, "NO_OPEN_SUPPORT not accepted");
	/* The kernel sends fh 0 without any OPEN; the chains still order it. */
	uw = send_write(0, 0, 100, 'w');
	wait_held(uw);
	ur = send_read(0, 50, 10);
	expect_waiting(EV_READ, ur);
	reply_held(uw);
	expect_next(uw, 0);
	wait_held(ur);
	reply_held(ur);
	expect_next(ur, 0);
	/* Any other fh was still never opened. */
	ur = send_read(5, 0, 10);
	expect_next(ur, -EBADF);
	finish();
}

Test(order, reopened_fh_is_usable_again, .timeout = 10)
{
	uint64_t u;

	start();
	u = send_release(FUSE_RELEASE, NODE, FH);
	fk_expect_reply(&fk, u, 0, 0);
	open_file(FUSE_OPEN, NODE, FH);
	u = send_read(FH, 0, 4);
	fk_expect_reply(&fk, u, 0, 4);
	cr_assert_eq(ev_count(EV_READ), 1);
	finish();
}

/* ======================================================================================
 * FORGET after the inode's requests in service
 * ====================================================================================== */

Test(order, forget_waits_for_inflight_getattr, .timeout = 10)
{
	const struct ev *e;
	uint64_t u;

	start();
	hold_mask = HOLD(EV_GETATTR);
	u = send_getattr(5, false, 0);
	wait_held(u);
	send_forget(5, 1);
	fk_expect_no_reply(&fk, QUIET_MS);
	cr_assert_eq(ev_count(EV_FORGET), 0, "forget ran while GETATTR of the inode was in service");
	reply_held(u);
	expect_next(u, 0);
	wait_forgets(1);
	fk_pump(&fk, 10);
	cr_assert_eq(ev_count(EV_FORGET), 1);
	e = ev_get(EV_FORGET, 0);
	cr_assert_eq(e->a, 5);
	cr_assert_eq(e->b, 1);
	ev_before(EV_REPLIED, u, EV_FORGET, 0);
	finish();
}

Test(order, forget_waits_for_inflight_lookup, .timeout = 10)
{
	const struct ev *e;
	uint64_t u;

	start();
	hold_mask = HOLD(EV_LOOKUP);
	u = fk_send_name(&fk, FUSE_LOOKUP, 5, NULL, 0, "child");
	wait_held(u);
	send_forget(5, 3);
	fk_expect_no_reply(&fk, QUIET_MS);
	cr_assert_eq(ev_count(EV_FORGET), 0, "forget ran while LOOKUP in the directory ran");
	reply_held(u);
	expect_next(u, -ENOENT);
	wait_forgets(1);
	e = ev_get(EV_FORGET, 0);
	cr_assert_eq(e->a, 5);
	cr_assert_eq(e->b, 3);
	ev_before(EV_REPLIED, u, EV_FORGET, 0);
	finish();
}

Test(order, forget_of_idle_inode_runs_at_once, .timeout = 10)
{
	struct want w = { EV_FORGET, 0, 1 };
	const struct ev *e;

	start();
	send_forget(6, 2);
	cr_assert(fk_pump_until(&fk, want_count, &w, FK_WAIT_MS), "forget never ran");
	e = ev_get(EV_FORGET, 0);
	cr_assert_eq(e->a, 6);
	cr_assert_eq(e->b, 2);
	fk_expect_no_reply(&fk, 10);      /* FORGET has no reply */
	finish();
}

Test(order, batch_forget_waits_only_for_busy_inodes, .timeout = 10)
{
	struct fuse_forget_one one[3] = { { 5, 1 }, { 6, 2 }, { 7, 4 } };
	struct want w = { EV_FORGET, 0, 2 };
	uint64_t u;
	int i;

	start();
	hold_mask = HOLD(EV_GETATTR);
	u = send_getattr(5, false, 0);
	wait_held(u);
	send_batch_forget(one, 3);
	/* 6 and 7 have nothing in flight: forgotten at once; 5 waits. */
	cr_assert(fk_pump_until(&fk, want_count, &w, FK_WAIT_MS), "idle inodes not forgotten");
	fk_expect_no_reply(&fk, QUIET_MS);
	cr_assert_eq(ev_count(EV_FORGET), 2);
	for (i = 0; i < nev; i++)
		cr_assert(evs[i].kind != EV_FORGET || evs[i].a != 5,
			  "forget of 5 ran while its GETATTR was in service");
	reply_held(u);
	expect_next(u, 0);
	wait_forgets(3);
	fk_pump(&fk, 10);
	cr_assert_eq(ev_count(EV_FORGET), 3);
	cr_assert_eq(evs[nev - 1].kind, EV_FORGET);
	cr_assert_eq(evs[nev - 1].a, 5);
	cr_assert_eq(evs[nev - 1].b, 1);
	finish();
}

Test(order, deferred_forgets_add_up, .timeout = 10)
{
	uint64_t u, total = 0;
	int i;

	start();
	hold_mask = HOLD(EV_GETATTR);
	u = send_getattr(5, false, 0);
	wait_held(u);
	send_forget(5, 1);
	send_forget(5, 2);
	fk_expect_no_reply(&fk, QUIET_MS);
	cr_assert_eq(ev_count(EV_FORGET), 0);
	reply_held(u);
	expect_next(u, 0);
	wait_forgets(1);
	fk_pump(&fk, 10);
	for (i = 0; i < nev; i++)
		if (evs[i].kind == EV_FORGET && evs[i].a == 5)
			total += evs[i].b;
	cr_assert_eq(total, 3, "deferred forgets of 5 summed to %llu, expected 3",
		     (unsigned long long)total);
	finish();
}

Test(order, forget_waits_for_second_inode_of_copy_file_range, .timeout = 10)
{
	uint64_t u;

	start();
	open_file(FUSE_OPEN, NODE2, FH2);
	hold_mask = HOLD(EV_CFR);
	u = send_cfr(FH, 0, FH2, 0, 100);
	wait_held(u);
	send_forget(NODE2, 1);
	fk_expect_no_reply(&fk, QUIET_MS);
	cr_assert_eq(ev_count(EV_FORGET), 0, "forget of COPY_FILE_RANGE's destination inode ran");
	reply_held(u);
	expect_next(u, 0);
	wait_forgets(1);
	cr_assert_eq(ev_get(EV_FORGET, 0)->a, NODE2);
	ev_before(EV_REPLIED, u, EV_FORGET, 0);
	finish();
}

Test(order, forget_waits_for_rename_target_directory, .timeout = 10)
{
	struct fuse_rename_in in = { .newdir = 9 };
	uint64_t u;

	start();
	hold_mask = HOLD(EV_RENAME);
	u = fk_send_names(&fk, FUSE_RENAME, 1, &in, sizeof(in), "a", "b");
	wait_held(u);
	send_forget(9, 1);
	fk_expect_no_reply(&fk, QUIET_MS);
	cr_assert_eq(ev_count(EV_FORGET), 0, "forget of RENAME's new directory ran");
	reply_held(u);
	expect_next(u, 0);
	wait_forgets(1);
	cr_assert_eq(ev_get(EV_FORGET, 0)->a, 9);
	finish();
}

Test(order, forget_waits_for_parked_release, .timeout = 10)
{
	uint64_t u, ur;

	start();
	hold_mask = HOLD(EV_READ);
	u = send_read(FH, 0, 10);
	wait_held(u);
	ur = send_release(FUSE_RELEASE, NODE, FH);
	send_forget(NODE, 1);
	fk_expect_no_reply(&fk, QUIET_MS);
	cr_assert_eq(ev_count(EV_FORGET), 0);
	cr_assert_eq(ev_count(EV_RELEASE), 0);
	reply_held(u);
	expect_next(u, 0);
	expect_next(ur, 0);
	wait_forgets(1);
	/* The inode goes last: after the release that still named it. */
	ev_before(EV_RELEASE, ur, EV_FORGET, 0);
	finish();
}

/* ======================================================================================
 * WRITE ranges
 * ====================================================================================== */

Test(order, overlapping_writes_run_in_arrival_order, .timeout = 10)
{
	uint64_t ua, ub;

	start();
	hold_mask = HOLD(EV_WRITE);
	ua = send_write(FH, 0, 4096, 'A');
	wait_held(ua);
	ub = send_write(FH, 100, 100, 'B');
	expect_waiting(EV_WRITE, ub);
	reply_held(ua);
	expect_next(ua, 0);
	wait_held(ub);
	ev_before(EV_REPLIED, ua, EV_WRITE, ub);
	/* The parked request's data was kept intact in its slot. */
	cr_assert_eq(ev_get(EV_WRITE, ub)->data0, 'B');
	cr_assert_eq(ev_get(EV_WRITE, ub)->b, 100);
	reply_held(ub);
	expect_next(ub, 0);
	finish();
}

Test(order, non_overlapping_writes_run_concurrently, .timeout = 10)
{
	uint64_t ua, ub;

	start();
	hold_mask = HOLD(EV_WRITE);
	ua = send_write(FH, 0, 4096, 'A');
	ub = send_write(FH, 8192, 4096, 'B');
	wait_held(ua);
	wait_held(ub);
	reply_held(ub);
	expect_next(ub, 0);
	reply_held(ua);
	expect_next(ua, 0);
	finish();
}

Test(order, adjacent_writes_do_not_overlap, .timeout = 10)
{
	uint64_t ua, ub;

	start();
	hold_mask = HOLD(EV_WRITE);
	ua = send_write(FH, 0, 4096, 'A');
	ub = send_write(FH, 4096, 4096, 'B');
	wait_held(ua);
	wait_held(ub);
	reply_held(ua);
	reply_held(ub);
	expect_next(ua, 0);
	expect_next(ub, 0);
	finish();
}

Test(order, write_waits_for_every_overlapping_write, .timeout = 10)
{
	uint64_t u1, u2, u3;

	start();
	hold_mask = HOLD(EV_WRITE);
	u1 = send_write(FH, 0, 100, '1');
	u2 = send_write(FH, 200, 100, '2');
	wait_held(u1);
	wait_held(u2);
	u3 = send_write(FH, 50, 200, '3');        /* overlaps both */
	expect_waiting(EV_WRITE, u3);
	reply_held(u2);
	expect_next(u2, 0);
	expect_waiting(EV_WRITE, u3);
	reply_held(u1);
	expect_next(u1, 0);
	wait_held(u3);
	reply_held(u3);
	expect_next(u3, 0);
	finish();
}

Test(order, parked_write_keeps_later_overlapping_requests_behind_it, .timeout = 10)
{
	uint64_t u1, u2, u3;

	start();
	hold_mask = HOLD(EV_WRITE) | HOLD(EV_READ);
	u1 = send_write(FH, 0, 100, '1');
	wait_held(u1);
	u2 = send_write(FH, 50, 100, '2');        /* [50,150): behind 1 */
	u3 = send_read(FH, 120, 100);             /* [120,220): overlaps only 2 */
	expect_waiting(EV_WRITE, u2);
	cr_assert_eq(ev_find(EV_READ, u3), -1, "READ overtook the parked WRITE it overlaps");
	reply_held(u1);
	expect_next(u1, 0);
	wait_held(u2);
	expect_waiting(EV_READ, u3);
	reply_held(u2);
	expect_next(u2, 0);
	wait_held(u3);
	ev_before(EV_REPLIED, u2, EV_READ, u3);
	reply_held(u3);
	expect_next(u3, 0);
	finish();
}

Test(order, read_overlapping_pending_write_waits, .timeout = 10)
{
	uint64_t uw, ur;

	start();
	hold_mask = HOLD(EV_WRITE) | HOLD(EV_READ);
	uw = send_write(FH, 4096, 4096, 'w');
	wait_held(uw);
	ur = send_read(FH, 0, 4097);              /* its last byte is the WRITE's first */
	expect_waiting(EV_READ, ur);
	reply_held(uw);
	expect_next(uw, 0);
	wait_held(ur);
	ev_before(EV_REPLIED, uw, EV_READ, ur);
	reply_held(ur);
	expect_next(ur, 0);
	finish();
}

Test(order, read_not_overlapping_runs, .timeout = 10)
{
	uint64_t uw, ur;

	start();
	hold_mask = HOLD(EV_WRITE) | HOLD(EV_READ);
	uw = send_write(FH, 4096, 4096, 'w');
	wait_held(uw);
	ur = send_read(FH, 0, 4096);
	wait_held(ur);
	reply_held(ur);
	expect_next(ur, 0);
	reply_held(uw);
	expect_next(uw, 0);
	finish();
}

Test(order, read_overlapping_pending_fallocate_waits, .timeout = 10)
{
	uint64_t ufa, ur;

	start();
	hold_mask = HOLD(EV_FALLOCATE) | HOLD(EV_READ);
	ufa = send_fallocate(FH, 0, 8192);
	wait_held(ufa);
	ur = send_read(FH, 4096, 10);
	expect_waiting(EV_READ, ur);
	reply_held(ufa);
	expect_next(ufa, 0);
	wait_held(ur);
	reply_held(ur);
	expect_next(ur, 0);
	finish();
}

Test(order, read_of_copy_file_range_destination_waits, .timeout = 10)
{
	uint64_t uc, ur;

	start();
	open_file(FUSE_OPEN, NODE2, FH2);
	hold_mask = HOLD(EV_CFR) | HOLD(EV_READ);
	uc = send_cfr(FH, 0, FH2, 1000, 100);     /* writes [1000,1100) of FH2 */
	wait_held(uc);
	ur = send_read(FH2, 1050, 10);
	expect_waiting(EV_READ, ur);
	reply_held(uc);
	expect_next(uc, 0);
	wait_held(ur);
	reply_held(ur);
	expect_next(ur, 0);
	finish();
}

Test(order, reads_run_concurrently, .timeout = 10)
{
	uint64_t u1, u2;

	start();
	hold_mask = HOLD(EV_READ);
	u1 = send_read(FH, 0, 4096);
	u2 = send_read(FH, 0, 4096);
	wait_held(u1);
	wait_held(u2);
	reply_held(u2);
	expect_next(u2, 0);
	reply_held(u1);
	expect_next(u1, 0);
	finish();
}

Test(order, write_does_not_wait_for_reads, .timeout = 10)
{
	uint64_t ur, uw;

	start();
	hold_mask = HOLD(EV_WRITE) | HOLD(EV_READ);
	ur = send_read(FH, 0, 4096);
	wait_held(ur);
	uw = send_write(FH, 0, 4096, 'w');
	wait_held(uw);
	reply_held(uw);
	expect_next(uw, 0);
	reply_held(ur);
	expect_next(ur, 0);
	finish();
}

/* ======================================================================================
 * FLUSH and FSYNC: after every earlier WRITE, and only those
 * ====================================================================================== */

Test(order, flush_waits_for_earlier_writes_only, .timeout = 10)
{
	uint64_t uw1, uf, uw2, ur;

	start();
	hold_mask = HOLD(EV_WRITE) | HOLD(EV_FLUSH) | HOLD(EV_READ);
	uw1 = send_write(FH, 0, 4096, '1');
	wait_held(uw1);
	uf = send_flush(FH);
	expect_waiting(EV_FLUSH, uf);
	/* Sent after the FLUSH: not blocked by it (nor by the earlier, disjoint WRITE). */
	uw2 = send_write(FH, 8192, 4096, '2');
	wait_held(uw2);
	ur = send_read(FH, 8192, 10);             /* overlaps WRITE 2 only: waits for it */
	expect_waiting(EV_READ, ur);
	cr_assert_eq(ev_find(EV_FLUSH, uf), -1);

	/* The FLUSH goes as soon as the WRITE before it is done; the later one is not
	 * its business. */
	reply_held(uw1);
	expect_next(uw1, 0);
	wait_held(uf);
	cr_assert(is_held(uw2));
	reply_held(uf);
	expect_next(uf, 0);
	reply_held(uw2);
	expect_next(uw2, 0);
	wait_held(ur);
	reply_held(ur);
	expect_next(ur, 0);
	finish();
}

Test(order, fsync_waits_for_earlier_writes, .timeout = 10)
{
	uint64_t uw1, uw2, us;

	start();
	hold_mask = HOLD(EV_WRITE) | HOLD(EV_FSYNC);
	uw1 = send_write(FH, 0, 10, '1');
	uw2 = send_write(FH, 1 << 20, 10, '2');
	wait_held(uw1);
	wait_held(uw2);
	us = send_fsync(FH);
	expect_waiting(EV_FSYNC, us);
	reply_held(uw1);
	expect_next(uw1, 0);
	expect_waiting(EV_FSYNC, us);
	reply_held(uw2);
	expect_next(uw2, 0);
	wait_held(us);
	ev_before(EV_REPLIED, uw2, EV_FSYNC, us);
	reply_held(us);
	expect_next(us, 0);
	finish();
}

Test(order, flush_does_not_wait_for_reads, .timeout = 10)
{
	uint64_t ur, uf;

	start();
	hold_mask = HOLD(EV_READ);
	ur = send_read(FH, 0, 4096);
	wait_held(ur);
	uf = send_flush(FH);
	expect_next(uf, 0);
	reply_held(ur);
	expect_next(ur, 0);
	finish();
}

/* ======================================================================================
 * INTERRUPT
 * ====================================================================================== */

Test(order, interrupt_after_request, .timeout = 10)
{
	struct want w = { EV_INTR_CB, 0, 0 };
	uint64_t u;

	start();
	hold_mask = HOLD(EV_READ);
	register_intr_cb = true;
	u = send_read(FH, 0, 4096);
	wait_held(u);
	cr_assert_eq(ev_get(EV_READ, u)->interrupted, 0);
	cr_assert_eq(rf_req_interrupted(held[0].req), 0);
	send_interrupt(u);
	w.unique = u;
	cr_assert(fk_pump_until(&fk, want_ev, &w, FK_WAIT_MS), "the interrupt hook never ran");
	cr_assert_eq(rf_req_interrupted(held[0].req), 1);
	cr_assert_eq(ev_count(EV_INTR_CB), 1);
	cr_assert(pthread_equal(ev_get(EV_INTR_CB, u)->thread, loop_thread));
	fk_expect_no_reply(&fk, QUIET_MS);        /* neither the READ nor the INTERRUPT */
	reply_held_err(u, -EINTR);
	expect_next(u, -EINTR);
	/* Exactly one reply, and none to the INTERRUPT, even after the early-INTERRUPT
	 * timeout would have passed. */
	fk_expect_no_reply(&fk, 120);
	cr_assert_eq(ev_count(EV_INTR_CB), 1);
	finish();
}

Test(order, interrupt_before_request, .timeout = 10)
{
	uint64_t u, ui;

	start();
	hold_mask = HOLD(EV_READ);
	u = fk_next_unique(&fk);
	/* Both are queued before the loop runs: it reads the INTERRUPT, then the READ in
	 * its next round, before its timers run, so the 50 ms EAGAIN cannot interfere. */
	ui = send_interrupt(u);
	send_read_as(u, FH, 0, 4096);
	wait_held(u);
	cr_assert_eq(ev_get(EV_READ, u)->interrupted, 1,
		     "the early INTERRUPT was not applied when its request arrived");
	reply_held_err(u, -EINTR);
	expect_next(u, -EINTR);
	/* The INTERRUPT was consumed: no EAGAIN for it later. */
	fk_expect_no_reply(&fk, 120);
	cr_assert_eq(ui, u | FUSE_INT_REQ_BIT);
	finish();
}

Test(order, early_interrupt_is_answered_eagain, .timeout = 10)
{
	const struct fk_msg *m;
	uint64_t u, ui;
	int64_t t0, dt;

	start();
	u = fk_next_unique(&fk);                  /* a request the kernel never sends */
	t0 = now_ms();
	ui = send_interrupt(u);
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

Test(order, interrupt_of_parked_request, .timeout = 10)
{
	uint64_t uw, ur;

	start();
	hold_mask = HOLD(EV_WRITE) | HOLD(EV_READ);
	uw = send_write(FH, 0, 4096, 'w');
	wait_held(uw);
	ur = send_read(FH, 0, 100);
	expect_waiting(EV_READ, ur);
	send_interrupt(ur);
	expect_next(ur, -EINTR);
	fk_expect_no_reply(&fk, QUIET_MS);
	cr_assert_eq(ev_find(EV_READ, ur), -1, "the parked READ reached the filesystem");
	/* The WRITE is not disturbed, and the READ never runs afterwards either. */
	reply_held(uw);
	expect_next(uw, 0);
	fk_expect_no_reply(&fk, QUIET_MS);
	cr_assert_eq(ev_count(EV_READ), 0);
	finish();
}

Test(order, interrupt_of_parked_request_lets_release_run, .timeout = 10)
{
	uint64_t uw, ur, urel;

	start();
	hold_mask = HOLD(EV_WRITE) | HOLD(EV_READ);
	uw = send_write(FH, 0, 4096, 'w');
	wait_held(uw);
	ur = send_read(FH, 0, 100);
	urel = send_release(FUSE_RELEASE, NODE, FH);
	expect_waiting(EV_RELEASE, urel);
	send_interrupt(ur);
	expect_next(ur, -EINTR);
	expect_waiting(EV_RELEASE, urel);         /* the WRITE is still in service */
	reply_held(uw);
	expect_next(uw, 0);
	expect_next(urel, 0);
	cr_assert_eq(ev_count(EV_READ), 0);
	finish();
}

Test(order, interrupt_of_parked_release_still_releases, .timeout = 10)
{
	uint64_t u, ur;

	start();
	hold_mask = HOLD(EV_READ);
	u = send_read(FH, 0, 4096);
	wait_held(u);
	ur = send_release(FUSE_RELEASE, NODE, FH);
	expect_waiting(EV_RELEASE, ur);
	/* A synchronous RELEASE (fuseblk) can be interrupted. Answering it EINTR without
	 * running the filesystem's release would leak the handle: nobody releases it
	 * later, the kernel has let go of it. It still runs, after the READ. */
	send_interrupt(ur);
	expect_waiting(EV_RELEASE, ur);
	reply_held(u);
	expect_next(u, 0);
	wait_called(EV_RELEASE, ur);
	expect_next(ur, 0);
	cr_assert_eq(ev_count(EV_RELEASE), 1);
	ev_before(EV_REPLIED, u, EV_RELEASE, ur);
	finish();
}

Test(order, early_interrupt_of_request_that_parks, .timeout = 10)
{
	uint64_t uw, ur;

	start();
	hold_mask = HOLD(EV_WRITE) | HOLD(EV_READ);
	uw = send_write(FH, 0, 4096, 'w');
	wait_held(uw);
	ur = fk_next_unique(&fk);
	send_interrupt(ur);
	send_read_as(ur, FH, 0, 100);             /* arrives interrupted, and must wait */
	/* "A request still waiting in a chain is answered EINTR without reaching the
	 * filesystem", and an early INTERRUPT is applied when its request arrives. */
	expect_next(ur, -EINTR);
	cr_assert_eq(ev_find(EV_READ, ur), -1, "the interrupted READ reached the filesystem");
	reply_held(uw);
	expect_next(uw, 0);
	fk_expect_no_reply(&fk, 120);
	cr_assert_eq(ev_count(EV_READ), 0);
	finish();
}

Test(order, interrupt_cancels_blocked_backing_read, .timeout = 10)
{
	struct pollfd p;
	char buf[16];
	uint64_t u, urel;

	start();
	make_pipe();
	read_mode = RM_BACKING_DEFAULT;
	u = send_read(FH, 0, 16);
	wait_called(EV_READ, u);
	fk_expect_no_reply(&fk, QUIET_MS);        /* the backing read blocks on the pipe */
	send_interrupt(u);
	expect_next(u, -EINTR);
	fk_expect_no_reply(&fk, QUIET_MS);        /* exactly one reply */

	/* The cancelled read took nothing: the pipe still works and keeps what it gets. */
	cr_assert_eq(write(pfd[1], "xyz", 3), 3);
	p.fd = pfd[0];
	p.events = POLLIN;
	cr_assert_eq(poll(&p, 1, 1000), 1, "the pipe is not readable after the cancel");
	cr_assert_eq(read(pfd[0], buf, sizeof(buf)), 3);
	cr_assert_eq(memcmp(buf, "xyz", 3), 0);
	fk_expect_no_reply(&fk, QUIET_MS);

	/* And the request is finished: a RELEASE runs at once. */
	urel = send_release(FUSE_RELEASE, NODE, FH);
	expect_next(urel, 0);
	finish();
}

Test(order, release_waits_for_backing_io_after_early_reply, .timeout = 10)
{
	const struct fk_msg *m;
	uint64_t u, ur;

	start();
	make_pipe();
	read_mode = RM_EARLY_REPLY;
	u = send_read(FH, 0, 4096);
	m = expect_next(u, 0);
	cr_assert_eq(m->size, 5);
	cr_assert_eq(memcmp(m->payload, "early", 5), 0);

	/* Replied, but its backing read is still in flight: the fh is still in use. */
	ur = send_release(FUSE_RELEASE, NODE, FH);
	expect_waiting(EV_RELEASE, ur);
	expect_waiting(EV_RELEASE, ur);
	cr_assert_eq(ev_count(EV_BACKING_CB), 0);

	cr_assert_eq(write(pfd[1], "hello", 5), 5);
	expect_next(ur, 0);
	cr_assert_eq((int64_t)ev_get(EV_BACKING_CB, u)->a, 5);
	ev_before(EV_BACKING_CB, u, EV_RELEASE, ur);
	finish();
}

Test(order, release_waits_for_cancelled_backing_io, .timeout = 10)
{
	uint64_t u, ur;

	start();
	make_pipe();
	read_mode = RM_HOOK_REPLIES;
	u = send_read(FH, 0, 4096);
	wait_called(EV_READ, u);
	ur = send_release(FUSE_RELEASE, NODE, FH);
	expect_waiting(EV_RELEASE, ur);
	/* The hook answers EINTR at once; the backing read is cancelled after it. */
	send_interrupt(u);
	expect_next(u, -EINTR);
	expect_next(ur, 0);
	ev_before(EV_INTR_CB, u, EV_BACKING_CB, u);
	ev_before(EV_BACKING_CB, u, EV_RELEASE, ur);
	cr_assert_lt((int64_t)ev_get(EV_BACKING_CB, u)->a, 0, "the backing read was not cancelled");
	cr_assert_eq(ev_count(EV_BACKING_CB), 1);
	finish();
}

Test(order, forget_waits_for_backing_io_after_early_reply, .timeout = 10)
{
	uint64_t u;

	start();
	make_pipe();
	read_mode = RM_EARLY_REPLY;
	u = send_read(FH, 0, 4096);
	expect_next(u, 0);
	send_forget(NODE, 1);
	fk_expect_no_reply(&fk, QUIET_MS);
	cr_assert_eq(ev_count(EV_FORGET), 0, "forget ran under the request's backing read");
	cr_assert_eq(write(pfd[1], "hello", 5), 5);
	wait_forgets(1);
	ev_before(EV_BACKING_CB, u, EV_FORGET, 0);
	cr_assert_eq(ev_get(EV_FORGET, 0)->a, NODE);
	finish();
}

Test(order, teardown_runs_parked_release_after_cancelling_its_io, .timeout = 10)
{
	struct rf_opts opts;
	uint64_t u, ur;

	rf_opts_init(&opts);
	opts.grace_ms = 100;
	start_opts(&opts);
	make_pipe();
	read_mode = RM_EARLY_REPLY;
	u = send_read(FH, 0, 4096);
	expect_next(u, 0);
	ur = send_release(FUSE_RELEASE, NODE, FH);
	expect_waiting(EV_RELEASE, ur);
	/* The kernel goes away. After the grace period the backing read is cancelled; the
	 * parked RELEASE then runs (its reply goes nowhere), before the session ends. */
	finish();
	cr_assert_eq(ev_count(EV_BACKING_CB), 1);
	cr_assert_lt((int64_t)ev_get(EV_BACKING_CB, u)->a, 0, "the backing read was not cancelled");
	cr_assert_eq(ev_count(EV_RELEASE), 1, "the parked RELEASE never ran");
	ev_before(EV_BACKING_CB, u, EV_RELEASE, ur);
}

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
