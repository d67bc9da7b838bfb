/* SPDX-License-Identifier: MIT */
/*
 * fs_slowrelease.c - the seed-000 race for a multi-threaded libfuse3 filesystem: a READ
 * still uses its handle while the RELEASE of that handle frees it. Written against
 * libfuse's fuse_lowlevel.h only: it builds unchanged with -lfuse3 or with ringfuse-fuse3.
 *
 * Usage: fs_slowrelease [-s] [-f] -o delay_ms=N,log=PATH[,async] mountpoint
 *
 * The root directory holds two read-only files of 1 MiB with the same contents: `slow`
 * and `fast` (READs of `fast` are answered at once, from the handler). OPEN mallocs a handle
 * (fi->fh is its address) and opens with direct_io, so a READ is sent synchronously and
 * interrupted when the reader is killed. A READ registers an interrupt callback that
 * answers EINTR at once (as a filesystem that cancels work does), then sleeps delay_ms on
 * its worker and copies from the handle. RELEASE poisons and frees the handle. The kernel
 * sends RELEASE as soon as the EINTR answer let the killed reader go:
 *  - on libfuse3 (fuse_session_loop_mt), RELEASE runs on another worker while the READ
 *    still sleeps, and the READ's copy is a use-after-free. Built with
 *    -fsanitize=address against Debian's libfuse3 and driven by order_seed -m direct,
 *    ASan reports "heap-use-after-free ... in fs_read" on the first iterations;
 *  - on ringfuse's binding the RELEASE waits until the READ's handler has returned.
 * With -o async, a READ of `slow` is answered later by a thread of the filesystem's own,
 * after the handler returned (no interrupt callback): `cmp slow fast` checks such replies.
 * Events go to the log in order_seed's format (tests/integration/order_seed.c):
 *   open fh=N pid=P, read-start fh=N, read-reply-eintr fh=N, read-done fh=N,
 *   read-intr fh=N, read-bad fh=N (the handle was already poisoned), release fh=N.
 */
#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SLOW_INO  2
#define FAST_INO  3
#define SLOW_SIZE (1024 * 1024)
#define HBUF_SIZE (64 * 1024)
#define H_MAGIC   0x5e1f0a11c0ffee00ull
#define H_POISON  0xdeadbeefdeadbeefull

struct handle {
	uint64_t magic;
	uint64_t serial;
	unsigned char buf[HBUF_SIZE];
};

/* One READ: whoever sets `replied` first answers it. */
struct slow_read {
	fuse_req_t req;
	atomic_int replied;
	uint64_t serial;
};

struct options {
	unsigned int delay_ms;
	char *log;
	int async;
};

static const struct fuse_opt fs_opts[] = {
	{ "delay_ms=%u", offsetof(struct options, delay_ms), 0 },
	{ "log=%s", offsetof(struct options, log), 0 },
	{ "async", offsetof(struct options, async), 1 },
	FUSE_OPT_END
};

static struct options opts = { .delay_ms = 300 };
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
		fprintf(stderr, "fs_slowrelease: log write failed\n");
}

static void fill_attr(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = SLOW_SIZE;
	}
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	fuse_ino_t ino = !strcmp(name, "slow") ? SLOW_INO : !strcmp(name, "fast") ? FAST_INO : 0;

	if (parent != FUSE_ROOT_ID || !ino) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.ino = ino;
	e.attr_timeout = e.entry_timeout = 60;
	fill_attr(ino, &e.attr);
	fuse_reply_entry(req, &e);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	if (ino != FUSE_ROOT_ID && ino != SLOW_INO && ino != FAST_INO) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_attr(ino, &st);
	fuse_reply_attr(req, &st, 60);
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	char buf[512];
	size_t len = 0;
	struct stat st;

	if (off == 0) {
		fill_attr(SLOW_INO, &st);
		len = fuse_add_direntry(req, buf, sizeof(buf), "slow", &st, 1);
	}
	if (off <= 1) {
		fill_attr(FAST_INO, &st);
		len += fuse_add_direntry(req, buf + len, sizeof(buf) - len, "fast", &st, 2);
	}
	fuse_reply_buf(req, buf, len < size ? len : 0);
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h;
	size_t i;

	if (ino != SLOW_INO && ino != FAST_INO) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	h = malloc(sizeof(*h));
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->magic = H_MAGIC;
	h->serial = atomic_fetch_add(&next_serial, 1);
	for (i = 0; i < HBUF_SIZE; i++)
		h->buf[i] = (unsigned char)(i * 7 + 13);
	fi->fh = (uintptr_t)h;
	fi->direct_io = 1;
	logf_("open fh=%llu pid=%ld", (unsigned long long)h->serial,
	      (long)fuse_req_ctx(req)->pid);
	if (fuse_reply_open(req, fi) != 0) {
		/* The opener is gone: no RELEASE will come for this handle. */
		free(h);
	}
}

static void on_interrupt(fuse_req_t req, void *data)
{
	struct slow_read *sr = data;

	if (atomic_exchange(&sr->replied, 1))
		return;
	logf_("read-reply-eintr fh=%llu", (unsigned long long)sr->serial);
	fuse_reply_err(req, EINTR);
}

static void slow_read(fuse_req_t req, struct handle *h, size_t size, off_t off);

/* Bytes of the file at @off, copied from the handle into a new buffer (*n of them). */
static unsigned char *copy_out(const struct handle *h, size_t size, off_t off, size_t *n)
{
	unsigned char *data;
	size_t i;

	*n = off >= SLOW_SIZE ? 0 : (size_t)(SLOW_SIZE - off) < size ? (size_t)(SLOW_SIZE - off) : size;
	data = malloc(*n ? *n : 1);
	if (data)
		for (i = 0; i < *n; i++)
			data[i] = h->buf[(size_t)(off + (off_t)i) % HBUF_SIZE];
	return data;
}

/* -o async: the reply comes from this thread, after the handler returned. */
struct async_read {
	fuse_req_t req;
	struct handle *h;
	size_t size;
	off_t off;
};

static void *async_reply(void *arg)
{
	struct async_read *ar = arg;
	struct timespec ts = { opts.delay_ms / 1000, (long)(opts.delay_ms % 1000) * 1000000L };
	unsigned char *data;
	size_t n;

	nanosleep(&ts, NULL);
	data = copy_out(ar->h, ar->size, ar->off, &n);
	if (data)
		fuse_reply_buf(ar->req, (const char *)data, n);
	else
		fuse_reply_err(ar->req, ENOMEM);
	free(data);
	free(ar);
	return NULL;
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	if (ino == FAST_INO) {
		size_t n;
		unsigned char *data = copy_out(h, size, off, &n);

		if (data)
			fuse_reply_buf(req, (const char *)data, n);
		else
			fuse_reply_err(req, ENOMEM);
		free(data);
		return;
	}
	if (opts.async) {
		struct async_read *ar = malloc(sizeof(*ar));
		pthread_t th;

		if (!ar) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		*ar = (struct async_read){ .req = req, .h = h, .size = size, .off = off };
		if (pthread_create(&th, NULL, async_reply, ar) != 0) {
			free(ar);
			fuse_reply_err(req, EAGAIN);
			return;
		}
		pthread_detach(th);
		return;
	}
	slow_read(req, h, size, off);
}

static void slow_read(fuse_req_t req, struct handle *h, size_t size, off_t off)
{
	struct slow_read *sr = calloc(1, sizeof(*sr));
	struct timespec ts = { 0, 10 * 1000000L };
	unsigned char *data;
	unsigned int waited;
	size_t i, n;

	n = off >= SLOW_SIZE ? 0 : (size_t)(SLOW_SIZE - off) < size ? (size_t)(SLOW_SIZE - off) : size;
	data = malloc(n ? n : 1);
	if (!sr || !data) {
		free(sr);
		free(data);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	sr->req = req;
	sr->serial = h->serial;
	logf_("read-start fh=%llu off=%lld size=%zu", (unsigned long long)h->serial,
	      (long long)off, size);
	fuse_req_interrupt_func(req, on_interrupt, sr);
	for (waited = 0; waited < opts.delay_ms; waited += 10)
		nanosleep(&ts, NULL);
	/* The work goes on after an early EINTR: it still reads the handle. */
	if (h->magic != H_MAGIC) {
		logf_("read-bad fh=%llu", (unsigned long long)sr->serial);
	} else {
		for (i = 0; i < n; i++)
			data[i] = h->buf[(size_t)(off + (off_t)i) % HBUF_SIZE];
		logf_("%s fh=%llu", atomic_load(&sr->replied) ? "read-intr" : "read-done",
		      (unsigned long long)h->serial);
	}
	if (!atomic_exchange(&sr->replied, 1))
		fuse_reply_buf(req, (const char *)data, n);
	free(data);
	free(sr);
}

static void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	logf_("release fh=%llu", (unsigned long long)h->serial);
	h->magic = H_POISON;
	free(h);
	fuse_reply_err(req, 0);
}

static const struct fuse_lowlevel_ops ops = {
	.lookup = fs_lookup,
	.getattr = fs_getattr,
	.readdir = fs_readdir,
	.open = fs_open,
	.read = fs_read,
	.release = fs_release,
};

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cl;
	struct fuse_loop_config cfg = { .clone_fd = 0, .max_idle_threads = 10 };
	struct fuse_session *se;
	int ret = 1;

	if (fuse_parse_cmdline(&args, &cl) != 0)
		return 1;
	if (!cl.mountpoint) {
		fprintf(stderr, "usage: %s [-s] [-f] -o delay_ms=N,log=PATH mountpoint\n", argv[0]);
		goto out;
	}
	if (fuse_opt_parse(&args, &opts, fs_opts, NULL) == -1)
		goto out;
	if (opts.log) {
		log_fd = open(opts.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (log_fd < 0) {
			perror(opts.log);
			goto out;
		}
	}
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se) == 0) {
		if (fuse_session_mount(se, cl.mountpoint) == 0) {
			ret = cl.singlethread ? fuse_session_loop(se) :
						fuse_session_loop_mt(se, &cfg);
			fuse_session_unmount(se);
		}
		fuse_remove_signal_handlers(se);
	}
	fuse_session_destroy(se);
out:
	free(cl.mountpoint);
	free(opts.log);
	fuse_opt_free_args(&args);
	return ret ? 1 : 0;
}
