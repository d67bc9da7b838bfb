/* SPDX-License-Identifier: MIT */
/*
 * abortfs.c - a connection abort while requests are stuck: backing reads blocked on a
 * pipe that never gets data, a backing write blocked on a full pipe, and a READ parked in
 * the file's chain behind that WRITE (docs/architecture.md §5, README "How a server stops"). The
 * server must end within grace_ms + 1 s, answer or cancel everything, release every
 * handle the kernel will never release now and forget every inode it still remembers.
 *
 * Server: abortfs [-f] [-d] [-o log=PATH,<ringfuse options>] mountpoint
 *   The root holds f (1 MiB, read-write), g (1 MiB, read-only) and the directory d.
 *   Opens of f and g are FOPEN_DIRECT_IO, so every read(2)/write(2) is a request.
 *   READ of f below 4096: rf_backing_read on a pipe nobody writes to (blocks until
 *     cancelled); any other READ replies zeros at once;
 *   WRITE of f: rf_backing_write on a pipe that is full (blocks until cancelled).
 *   Events are appended to the log: "read-blocked", "write-blocked", "read-done RES",
 *   "write-done RES", "read OFF" (an immediate READ), "release", "forget".
 *   A READ overlapping a WRITE still in service is an ordering bug: logged "ORDER".
 *   At exit it prints "abortfs: opens N releases N lookups N forgets N bad N" and exits
 *   0 if every open was released once, every lookup forgotten and nothing was bad, else 4.
 *
 * Client: abortfs client MOUNTPOINT LOG
 *   Opens g and d and leaves them open, opens f, then on that one open file: a thread
 *   reads at 0 (blocks in the pipe; waits for "read-blocked"), a thread writes at 8192
 *   (waits for "write-blocked"), a thread reads at 8192 (parks behind the write). Prints
 *   "client: ready", waits for the three threads (they end when the connection is
 *   aborted) and prints their results.
 *
 * Public API only, like any filesystem built on ringfuse.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ringfuse.h>

#define ROOT_INO 1
#define F_INO    2
#define G_INO    3
#define D_INO    4
#define NINO     5
#define FSIZE    (1024 * 1024)
#define BLOCK_BELOW 4096           /* READs of f below this block in the pipe */
#define MAX_FH   1024

static int log_fd = -1;
static int read_pipe[2] = { -1, -1 };   /* nobody ever writes to [1] */
static int write_pipe[2] = { -1, -1 };  /* full: writes to [1] block */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t nlookup[NINO];           /* under lock */
static unsigned char fh_state[MAX_FH];   /* 0 unused, 1 open, 2 released; under lock */
static uint64_t next_fh = 1;             /* under lock */
static atomic_ulong opens, releases, lookups, forgets, bad;
/* The WRITE in service on f (one at a time in this test): its byte range. */
static atomic_long w_off = -1, w_end = -1;

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	char line[128];
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
		fprintf(stderr, "abortfs: log write: %s\n", strerror(errno));
}

static void set_bad(const char *what)
{
	atomic_fetch_add(&bad, 1);
	fprintf(stderr, "abortfs: BAD: %s\n", what);
}

static int fill_stat(uint64_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_nlink = 1;
	switch (ino) {
	case ROOT_INO:
	case D_INO:
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	case F_INO:
		st->st_mode = S_IFREG | 0644;
		st->st_size = FSIZE;
		return 0;
	case G_INO:
		st->st_mode = S_IFREG | 0444;
		st->st_size = FSIZE;
		return 0;
	}
	return -ENOENT;
}

static void af_lookup(struct rf_req *req, uint64_t parent, const char *name)
{
	struct rf_entry e = { .attr_timeout = 1, .entry_timeout = 1 };

	if (parent == ROOT_INO && !strcmp(name, "f"))
		e.ino = F_INO;
	else if (parent == ROOT_INO && !strcmp(name, "g"))
		e.ino = G_INO;
	else if (parent == ROOT_INO && !strcmp(name, "d"))
		e.ino = D_INO;
	else
		return (void)rf_reply_err(req, -ENOENT);
	fill_stat(e.ino, &e.attr);
	pthread_mutex_lock(&lock);
	nlookup[e.ino]++;
	pthread_mutex_unlock(&lock);
	atomic_fetch_add(&lookups, 1);
	rf_reply_entry(req, &e);
}

static void af_forget(void *userdata, uint64_t ino, uint64_t n)
{
	logf_("forget %llu %llu", (unsigned long long)ino, (unsigned long long)n);
	atomic_fetch_add(&forgets, n);
	pthread_mutex_lock(&lock);
	if (ino >= NINO || nlookup[ino] < n) {
		pthread_mutex_unlock(&lock);
		return set_bad("forget of more than was looked up");
	}
	nlookup[ino] -= n;
	pthread_mutex_unlock(&lock);
}

static void af_getattr(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct stat st;

	if (fill_stat(ino, &st) < 0)
		return (void)rf_reply_err(req, -ENOENT);
	rf_reply_attr(req, &st, 1.0);
}

static int new_fh(void)
{
	int fh;

	pthread_mutex_lock(&lock);
	fh = next_fh < MAX_FH ? (int)next_fh++ : -1;
	if (fh > 0)
		fh_state[fh] = 1;
	pthread_mutex_unlock(&lock);
	return fh;
}

static void af_open(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	int fh;

	if (ino != F_INO && ino != G_INO)
		return (void)rf_reply_err(req, -EISDIR);
	fh = new_fh();
	if (fh < 0)
		return (void)rf_reply_err(req, -ENFILE);
	fi->fh = (uint64_t)fh;
	fi->direct_io = 1;
	atomic_fetch_add(&opens, 1);
	logf_("open fh=%d ino=%llu", fh, (unsigned long long)ino);
	rf_reply_open(req, fi);
}

static void af_opendir(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	int fh = new_fh();

	if (fh < 0)
		return (void)rf_reply_err(req, -ENFILE);
	fi->fh = (uint64_t)fh;
	atomic_fetch_add(&opens, 1);
	logf_("opendir fh=%d ino=%llu", fh, (unsigned long long)ino);
	rf_reply_open(req, fi);
}

static void af_release(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	int st;

	pthread_mutex_lock(&lock);
	st = fi->fh < MAX_FH ? fh_state[fi->fh] : 0;
	if (st == 1)
		fh_state[fi->fh] = 2;
	pthread_mutex_unlock(&lock);
	if (st != 1)
		set_bad(st == 2 ? "a handle released twice" : "release of an unknown handle");
	atomic_fetch_add(&releases, 1);
	logf_("release fh=%llu", (unsigned long long)fi->fh);
	rf_reply_err(req, 0);
}

static void read_done(struct rf_req *req, int res, void *data)
{
	logf_("read-done %d", res);
	if (res < 0)
		rf_reply_err(req, res == -ECANCELED ? -EINTR : res);
	else
		rf_reply_buf(req, rf_req_payload(req, NULL), (size_t)res);
}

static void af_read(struct rf_req *req, uint64_t ino, size_t size, off_t off, struct rf_file *fi)
{
	long ws = atomic_load(&w_off), we = atomic_load(&w_end);
	void *buf;
	int r;

	if (ino == F_INO && off < BLOCK_BELOW) {
		r = rf_backing_read(req, read_pipe[0], size, 0, read_done, NULL);
		if (r < 0)
			return (void)rf_reply_err(req, r);
		logf_("read-blocked");
		return;
	}
	if (ino == F_INO && ws >= 0 && off < we && (long)(off + (off_t)size) > ws) {
		logf_("ORDER read %lld+%zu overlaps a write in service", (long long)off, size);
		set_bad("a READ ran while an overlapping WRITE was in service");
	}
	logf_("read %lld", (long long)off);
	if (off >= FSIZE)
		return (void)rf_reply_buf(req, NULL, 0);
	if ((size_t)(FSIZE - off) < size)
		size = (size_t)(FSIZE - off);
	buf = rf_req_payload(req, NULL);
	memset(buf, 0, size);
	rf_reply_buf(req, buf, size);
}

static void write_done(struct rf_req *req, int res, void *data)
{
	size_t size = (size_t)(uintptr_t)data;

	atomic_store(&w_off, -1);
	atomic_store(&w_end, -1);
	logf_("write-done %d", res);
	if (res < 0)
		rf_reply_err(req, res == -ECANCELED ? -EINTR : res);
	else
		rf_reply_write(req, size);
}

static void af_write(struct rf_req *req, uint64_t ino, const void *buf, size_t size, off_t off,
		     struct rf_file *fi)
{
	int r;

	if (ino != F_INO)
		return (void)rf_reply_err(req, -EBADF);
	atomic_store(&w_off, (long)off);
	atomic_store(&w_end, (long)(off + (off_t)size));
	r = rf_backing_write(req, write_pipe[1], buf, size, 0, write_done,
			     (void *)(uintptr_t)size);
	if (r < 0) {
		atomic_store(&w_off, -1);
		atomic_store(&w_end, -1);
		return (void)rf_reply_err(req, r);
	}
	logf_("write-blocked");
}

static void af_destroy(void *userdata)
{
	logf_("destroy");
}

static const struct rf_ops af_ops = {
	.destroy = af_destroy,
	.lookup = af_lookup,
	.forget = af_forget,
	.getattr = af_getattr,
	.open = af_open,
	.read = af_read,
	.write = af_write,
	.release = af_release,
	.opendir = af_opendir,
	.releasedir = af_release,
};

/* ---- the client --------------------------------------------------------------------- */

struct op {
	pthread_t th;
	int fd;
	off_t off;
	bool write;
	ssize_t res;
	int err;
};

static void *client_op(void *arg)
{
	struct op *o = arg;
	static char buf[3][4096];
	char *b = buf[o->write ? 0 : o->off ? 1 : 2];

	o->res = o->write ? pwrite(o->fd, b, 4096, o->off) : pread(o->fd, b, 4096, o->off);
	o->err = o->res < 0 ? errno : 0;
	return NULL;
}

/* Wait until @log holds a line starting with @what (10 s at most). */
static int wait_log(const char *log, const char *what)
{
	int i;

	for (i = 0; i < 2000; i++) {
		char line[256];
		FILE *f = fopen(log, "re");

		while (f && fgets(line, sizeof(line), f)) {
			if (!strncmp(line, what, strlen(what))) {
				fclose(f);
				return 0;
			}
		}
		if (f)
			fclose(f);
		usleep(5000);
	}
	fprintf(stderr, "client: no \"%s\" in %s after 10 s\n", what, log);
	return -1;
}

static int client(const char *mnt, const char *log)
{
	struct op ops[3] = {
		{ .off = 0 }, { .off = 8192, .write = true }, { .off = 8192 },
	};
	static const char *what[3] = { "read-blocked", "write-blocked", NULL };
	char path[4096];
	int fd, fdg, fdd, i;

	snprintf(path, sizeof(path), "%s/g", mnt);
	fdg = open(path, O_RDONLY);
	snprintf(path, sizeof(path), "%s/d", mnt);
	fdd = open(path, O_RDONLY | O_DIRECTORY);
	snprintf(path, sizeof(path), "%s/f", mnt);
	fd = open(path, O_RDWR);
	if (fd < 0 || fdg < 0 || fdd < 0) {
		fprintf(stderr, "client: open: %s\n", strerror(errno));
		return 1;
	}
	for (i = 0; i < 3; i++) {
		ops[i].fd = fd;
		if (pthread_create(&ops[i].th, NULL, client_op, &ops[i])) {
			fprintf(stderr, "client: pthread_create failed\n");
			return 1;
		}
		if (what[i] && wait_log(log, what[i]) < 0)
			return 1;
	}
	printf("client: ready\n");
	fflush(stdout);
	for (i = 0; i < 3; i++) {
		pthread_join(ops[i].th, NULL);
		printf("client: %s at %lld: %zd%s%s\n", ops[i].write ? "write" : "read",
		       (long long)ops[i].off, ops[i].res, ops[i].err ? " " : "",
		       ops[i].err ? strerror(ops[i].err) : "");
	}
	fflush(stdout);
	return 0;
}

/* ---- main ------------------------------------------------------------------------------- */

static int make_pipes(void)
{
	char junk[4096];

	memset(junk, 'x', sizeof(junk));
	/* Blocking pipes: io_uring then waits on them (a poll), cancellably; on an O_NONBLOCK
	 * pipe it would complete -EAGAIN at once. */
	if (pipe2(read_pipe, O_CLOEXEC) < 0 || pipe2(write_pipe, O_CLOEXEC) < 0)
		return -errno;
	fcntl(write_pipe[1], F_SETPIPE_SZ, 4096);
	fcntl(write_pipe[1], F_SETFL, O_NONBLOCK);
	while (write(write_pipe[1], junk, sizeof(junk)) > 0)
		;
	fcntl(write_pipe[1], F_SETFL, 0);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct rf_opt_spec spec[] = {
		{ "log", "PATH", "append events to PATH (or: abortfs client MNT LOG)" },
		{ NULL, NULL, NULL },
	};
	struct rf_session *se;
	struct rf_opts opts;
	const char *logpath = NULL;
	unsigned long o, r, l, f, b;
	int ret, i;

	if (argc == 4 && !strcmp(argv[1], "client"))
		return client(argv[2], argv[3]);

	rf_opts_init(&opts);
	opts.fs_spec = spec;
	ret = rf_opts_parse(&opts, argc, argv);
	if (ret != 0) {
		rf_opts_free(&opts);
		return ret > 0 ? 0 : 2;
	}
	if (rf_opts_get(&opts, "log", &logpath) && *logpath) {
		log_fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (log_fd < 0) {
			fprintf(stderr, "abortfs: %s: %s\n", logpath, strerror(errno));
			return 2;
		}
	}
	ret = make_pipes();
	if (ret == 0)
		ret = rf_session_new(&af_ops, sizeof(af_ops), NULL, &opts, &se);
	rf_opts_free(&opts);
	if (ret < 0) {
		fprintf(stderr, "abortfs: %s\n", strerror(-ret));
		return 1;
	}
	ret = rf_session_mount(se);
	if (ret == 0)
		ret = rf_session_run(se);
	rf_session_free(se);
	for (i = 0; i < 2; i++) {
		close(read_pipe[i]);
		close(write_pipe[i]);
	}
	o = atomic_load(&opens);
	r = atomic_load(&releases);
	l = atomic_load(&lookups);
	f = atomic_load(&forgets);
	b = atomic_load(&bad);
	for (i = 1; i < (int)next_fh; i++)
		if (fh_state[i] != 2)
			fprintf(stderr, "abortfs: handle %d was never released\n", i);
	fprintf(stderr, "abortfs: opens %lu releases %lu lookups %lu forgets %lu bad %lu\n", o, r,
		l, f, b);
	if (log_fd >= 0)
		close(log_fd);
	/* It is always aborted: teardown.sh checks that the session said so. */
	if (ret == -ECONNABORTED)
		fprintf(stderr, "abortfs: rf_session_run: connection aborted\n");
	else if (ret < 0)
		return 1;
	return o == r && l == f && !b ? 0 : 4;
}
