/* SPDX-License-Identifier: MIT */
/*
 * slowfs.c - a test filesystem for ordering tests on a real mount: a slow READ and the
 * RELEASE of its handle (the MooseFS/FreeBSD bug: a RELEASE processed before a slow READ
 * on the same handle frees the handle's data under the READ).
 *
 * Usage: slowfs [-f] [-d] [-o delay_ms=N,log=PATH,backing,<ringfuse options>] mountpoint
 *
 * The root directory holds two read-only files:
 *   slow  1 MiB; a READ does not reply at once: it arms a timer (delay_ms, default 500)
 *         and replies when it fires, with data copied from the handle's buffer; an
 *         INTERRUPT cancels the timer and replies EINTR;
 *   fast  64 KiB; a READ replies at once from the handle's buffer.
 * With -o backing, a READ of `slow` is instead backing work (rf_backing_call): a worker
 * thread sleeps delay_ms, then copies from the handle's buffer. An INTERRUPT replies EINTR
 * at once while the worker goes on using the handle: the kernel then sends RELEASE right
 * away, and only the runtime's chain (docs/architecture.md §4: a request holds its fh until its last
 * backing operation completed) keeps the handle alive. The kernel's own ordering (RELEASE
 * after the READ's reply) cannot help there, so this mode tests ringfuse, not Linux.
 * OPEN mallocs a per-handle struct (its address is fi->fh), RELEASE frees it: a RELEASE
 * that ran before a READ of its handle finished makes the READ a use-after-free, which
 * ASan reports (and a non-ASan build usually sees as a wrong magic: "read-bad").
 * Opening with O_DIRECT sets FOPEN_DIRECT_IO, so the kernel sends the READ synchronously
 * and interrupts it when the reader is killed; without it reads go through the page
 * cache (asynchronous readahead, not interrupted).
 *
 * With -o log=PATH every event is appended to PATH, one line each, written with one
 * write(2) on an O_APPEND descriptor from the loop thread:
 *   open fh=N pid=P      read-start fh=N off=O size=S
 *   read-done fh=N       read-intr fh=N       read-bad fh=N       release fh=N
 *   read-reply-eintr fh=N   (-o backing: the early EINTR reply; the work goes on)
 * N is the handle's serial number (1, 2, ...), P the opener's pid. read-done/read-intr
 * mean the READ no longer uses the handle (in backing mode: its work has ended).
 * Public API only: this is what any filesystem built on ringfuse would write.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ringfuse.h>

#define ROOT_INO   1
#define SLOW_INO   2
#define FAST_INO   3
#define SLOW_SIZE  (1024 * 1024)
#define FAST_SIZE  (64 * 1024)
#define HBUF_SIZE  (64 * 1024)		/* the handle's data; file contents repeat it */
#define H_MAGIC    0x5e1f0a11c0ffee00ull

/* One open file. */
struct handle {
	uint64_t magic;
	uint64_t serial;
	uint64_t ino;
	unsigned char buf[HBUF_SIZE];
};

/* One READ of `slow` waiting for its timer (or its backing work). */
struct slow_read {
	struct rf_timer timer;
	struct rf_req *req;
	struct handle *h;
	size_t size;
	off_t off;
	/* -o backing: */
	unsigned char *data;        /* what the worker copied out of the handle */
	size_t len;
	int replied;                /* the EINTR reply went out early (loop thread only) */
};

static unsigned delay_ms = 500;
static int backing_mode;
static int log_fd = -1;
static atomic_uint_fast64_t next_serial = 1;

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	char line[160];
	va_list ap;
	int n;

	if (log_fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(log_fd, line, (size_t)n) != n)
		fprintf(stderr, "slowfs: log write: %s\n", strerror(errno));
}

/* Byte @o of either file. */
static unsigned char content_at(uint64_t o)
{
	return (unsigned char)(o * 7 + 13);
}

static int fill_stat(uint64_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = getuid();
	st->st_gid = getgid();
	switch (ino) {
	case ROOT_INO:
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	case SLOW_INO:
	case FAST_INO:
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = ino == SLOW_INO ? SLOW_SIZE : FAST_SIZE;
		st->st_blocks = st->st_size / 512;
		return 0;
	default:
		return -ENOENT;
	}
}

static void slow_lookup(struct rf_req *req, uint64_t parent, const char *name)
{
	struct rf_entry e = { .attr_timeout = 1, .entry_timeout = 1 };

	if (parent != ROOT_INO)
		return (void)rf_reply_err(req, -ENOTDIR);
	if (!strcmp(name, "slow"))
		e.ino = SLOW_INO;
	else if (!strcmp(name, "fast"))
		e.ino = FAST_INO;
	else
		return (void)rf_reply_err(req, -ENOENT);
	fill_stat(e.ino, &e.attr);
	rf_reply_entry(req, &e);
}

static void slow_getattr(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct stat st;
	int ret = fill_stat(ino, &st);

	if (ret < 0)
		return (void)rf_reply_err(req, ret);
	rf_reply_attr(req, &st, 1.0);
}

static void slow_readdir(struct rf_req *req, uint64_t ino, size_t size, off_t off,
			 struct rf_file *fi)
{
	static const char *const names[] = { ".", "..", "slow", "fast" };
	static const uint64_t inos[] = { ROOT_INO, ROOT_INO, SLOW_INO, FAST_INO };
	struct rf_dirbuf db;
	struct stat st;

	if (ino != ROOT_INO)
		return (void)rf_reply_err(req, -ENOTDIR);
	rf_dirbuf_init(&db, req, size);
	for (; off >= 0 && off < 4; off++) {
		fill_stat(inos[off], &st);
		if (!rf_dirbuf_add(&db, names[off], &st, off + 1))
			break;
	}
	rf_reply_dirbuf(req, &db);
}

static void slow_open(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct handle *h;
	uint64_t i;

	if (ino == ROOT_INO)
		return (void)rf_reply_err(req, -EISDIR);
	if (ino != SLOW_INO && ino != FAST_INO)
		return (void)rf_reply_err(req, -ENOENT);
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return (void)rf_reply_err(req, -EACCES);
	h = malloc(sizeof(*h));
	if (!h)
		return (void)rf_reply_err(req, -ENOMEM);
	h->magic = H_MAGIC;
	h->serial = atomic_fetch_add(&next_serial, 1);
	h->ino = ino;
	for (i = 0; i < HBUF_SIZE; i++)
		h->buf[i] = content_at(i);
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = (fi->flags & O_DIRECT) != 0;
	logf_("open fh=%llu pid=%ld", (unsigned long long)h->serial,
	      (long)rf_req_ctx(req)->pid);
	if (rf_reply_open(req, fi) < 0)
		fprintf(stderr, "slowfs: open reply failed\n");
}

/* Reply to a READ with @size bytes at @off, copied from the handle's buffer. */
static void reply_data(struct rf_req *req, struct handle *h, size_t size, off_t off)
{
	uint64_t fsize = h->ino == SLOW_INO ? SLOW_SIZE : FAST_SIZE;
	unsigned char *p;
	size_t cap, n, i;

	if (off < 0 || (uint64_t)off >= fsize)
		return (void)rf_reply_buf(req, NULL, 0);
	n = size < fsize - (uint64_t)off ? size : (size_t)(fsize - (uint64_t)off);
	p = rf_req_payload(req, &cap);
	if (n > cap)
		n = cap;
	for (i = 0; i < n; i++)
		p[i] = h->buf[((uint64_t)off + i) % HBUF_SIZE];
	rf_reply_buf(req, p, n);
}

/* The timer of a slow READ fired: the handle must still be there. */
static void slow_read_fire(struct rf_loop *loop, void *data)
{
	struct slow_read *sr = data;
	struct handle *h = sr->h;

	if (h->magic != H_MAGIC) {	/* without ASan, a freed handle usually shows here */
		logf_("read-bad fh=%llu", (unsigned long long)h->serial);
		rf_reply_err(sr->req, -EIO);
	} else {
		logf_("read-done fh=%llu", (unsigned long long)h->serial);
		reply_data(sr->req, h, sr->size, sr->off);
	}
	free(sr);
}

static void slow_read_intr(struct rf_req *req, void *data)
{
	struct slow_read *sr = data;

	rf_timer_cancel(&sr->timer);
	logf_("read-intr fh=%llu", (unsigned long long)sr->h->serial);
	rf_reply_err(req, -EINTR);
	free(sr);
}

/* -o backing, on a worker thread: the slow part, then read the handle. */
static int backing_work(void *arg)
{
	struct slow_read *sr = arg;
	struct handle *h = sr->h;
	uint64_t fsize = SLOW_SIZE;
	struct timespec ts = { .tv_sec = delay_ms / 1000,
			       .tv_nsec = (long)(delay_ms % 1000) * 1000000 };
	size_t i;

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	if (h->magic != H_MAGIC)	/* freed under us (ASan reports it right here) */
		return -EIO;
	if (sr->off < 0 || (uint64_t)sr->off >= fsize)
		return 0;
	sr->len = sr->size < fsize - (uint64_t)sr->off ? sr->size :
							(size_t)(fsize - (uint64_t)sr->off);
	sr->data = malloc(sr->len ? sr->len : 1);
	if (!sr->data)
		return -ENOMEM;
	for (i = 0; i < sr->len; i++)
		sr->data[i] = h->buf[((uint64_t)sr->off + i) % HBUF_SIZE];
	return (int)sr->len;
}

/* -o backing, loop thread: the work ended; reply unless the interrupt already did. */
static void backing_done(struct rf_req *req, int res, void *data)
{
	struct slow_read *sr = data;

	if (res == -EIO) {
		logf_("read-bad fh=%llu", (unsigned long long)sr->h->serial);
	} else {
		logf_("%s fh=%llu", sr->replied ? "read-intr" : "read-done",
		      (unsigned long long)sr->h->serial);
	}
	if (!sr->replied) {
		rf_req_on_interrupt(req, NULL, NULL);
		if (res < 0)
			rf_reply_err(req, res);
		else
			rf_reply_buf(req, sr->data, (size_t)res);
	}
	free(sr->data);
	free(sr);
}

/* -o backing: reply EINTR now; the worker still runs and still uses the handle. */
static void backing_intr(struct rf_req *req, void *data)
{
	struct slow_read *sr = data;

	if (sr->replied)
		return;
	sr->replied = 1;
	logf_("read-reply-eintr fh=%llu", (unsigned long long)sr->h->serial);
	rf_reply_err(req, -EINTR);
}

static void slow_read(struct rf_req *req, uint64_t ino, size_t size, off_t off,
		      struct rf_file *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	struct slow_read *sr;
	int ret;

	if (!h || h->magic != H_MAGIC)
		return (void)rf_reply_err(req, -EBADF);
	logf_("read-start fh=%llu off=%lld size=%zu", (unsigned long long)h->serial,
	      (long long)off, size);
	if (h->ino != SLOW_INO) {
		logf_("read-done fh=%llu", (unsigned long long)h->serial);
		return reply_data(req, h, size, off);
	}
	sr = calloc(1, sizeof(*sr));	/* zeroed: rf_timer_start reads the armed flag */
	if (!sr) {
		logf_("read-done fh=%llu", (unsigned long long)h->serial);
		return (void)rf_reply_err(req, -ENOMEM);
	}
	sr->req = req;
	sr->h = h;
	sr->size = size;
	sr->off = off;
	if (backing_mode) {
		ret = rf_backing_call(req, backing_work, sr, backing_done, sr);
		if (ret < 0) {
			free(sr);
			logf_("read-done fh=%llu", (unsigned long long)h->serial);
			return (void)rf_reply_err(req, ret);
		}
		rf_req_on_interrupt(req, backing_intr, sr);
		return;
	}
	ret = rf_timer_start(rf_req_loop(req), &sr->timer, delay_ms, slow_read_fire, sr);
	if (ret < 0) {
		free(sr);
		logf_("read-done fh=%llu", (unsigned long long)h->serial);
		return (void)rf_reply_err(req, ret);
	}
	/* Last: if the request was already interrupted, slow_read_intr runs right here. */
	rf_req_on_interrupt(req, slow_read_intr, sr);
}

static void slow_release(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	if (!h || h->magic != H_MAGIC) {
		fprintf(stderr, "slowfs: RELEASE of a bad handle %#llx\n",
			(unsigned long long)fi->fh);
		return (void)rf_reply_err(req, 0);
	}
	logf_("release fh=%llu", (unsigned long long)h->serial);
	h->magic = 0;
	free(h);
	rf_reply_err(req, 0);
}

static const struct rf_ops slow_ops = {
	.lookup = slow_lookup,
	.getattr = slow_getattr,
	.readdir = slow_readdir,
	.open = slow_open,
	.read = slow_read,
	.release = slow_release,
};

int main(int argc, char **argv)
{
	struct rf_session *se;
	struct rf_opts opts;
	const char *v;
	char *end;
	int ret;

	rf_opts_init(&opts);
	ret = rf_opts_parse(&opts, argc, argv);
	if (ret != 0) {
		if (ret > 0)
			printf("slowfs options:\n    -o delay_ms=N   slow READ delay (500)\n"
			       "    -o log=PATH     append events to PATH\n"
			       "    -o backing      slow READs run on a worker (rf_backing_call)\n");
		rf_opts_free(&opts);
		return ret > 0 ? 0 : 2;
	}
	if (rf_opts_get(&opts, "delay_ms", &v)) {
		unsigned long d = strtoul(v, &end, 10);

		if (!*v || *end || d > 600000) {
			fprintf(stderr, "slowfs: bad delay_ms=%s\n", v);
			rf_opts_free(&opts);
			return 2;
		}
		delay_ms = (unsigned)d;
	}
	backing_mode = rf_opts_get(&opts, "backing", NULL);
	if (rf_opts_get(&opts, "log", &v)) {
		log_fd = open(v, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (log_fd < 0) {
			fprintf(stderr, "slowfs: %s: %s\n", v, strerror(errno));
			rf_opts_free(&opts);
			return 2;
		}
	}
	ret = rf_session_new(&slow_ops, sizeof(slow_ops), NULL, &opts, &se);
	rf_opts_free(&opts);
	if (ret < 0) {
		fprintf(stderr, "slowfs: cannot create session: %s\n", strerror(-ret));
		return 1;
	}
	ret = rf_session_mount(se);
	if (ret == 0)
		ret = rf_session_run(se);
	rf_session_free(se);
	if (log_fd >= 0)
		close(log_fd);
	return ret < 0 ? 1 : 0;
}
