/* SPDX-License-Identifier: MIT */
/*
 * fs_customloop.c - a filesystem that drives its session as pyfuse3 does: its own loop
 * waits for the device fd to become readable (poll on fuse_session_fd), then calls
 * fuse_session_receive_buf and fuse_session_process_buf, and answers some requests
 * after process_buf returned, as pyfuse3's trio tasks do. Written against libfuse's
 * fuse_lowlevel.h only: it builds unchanged with -lfuse3 or with ringfuse-fuse3.
 *
 * Usage: fs_customloop [-o threads] [-f] mountpoint
 *
 * hello_ll's tree (one file, `hello`, "Hello World!\n") plus `big`, 1 MiB of a pattern
 * (byte i is i * 7 % 251). READs are not answered in the handler: they are queued, and
 * the loop answers them after fuse_session_process_buf returned, from the loop's thread,
 * or with -o threads from a thread of the filesystem's own (replies from another thread
 * while the loop sleeps in poll). Everything else is answered in the handler.
 * The loop ends when fuse_session_receive_buf returns 0 (unmount) or a signal exits the
 * session; the exit status is 0 after a clean end.
 */
#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BIG_SIZE (1 << 20)

static const char hello[] = "Hello World!\n";

/* READs waiting for their answer, in arrival order. */
struct pending {
	fuse_req_t req;
	fuse_ino_t ino;
	size_t size;
	off_t off;
	struct pending *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct pending *head, **tail = &head;
static int stop;
static unsigned long deferred;

static struct options {
	int threads;
} opts;

static const struct fuse_opt fs_opts[] = {
	{ "threads", offsetof(struct options, threads), 1 },
	FUSE_OPT_END
};

static int stat_of(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	switch (ino) {
	case 1:
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	case 2:
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = sizeof(hello) - 1;
		return 0;
	case 3:
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = BIG_SIZE;
		return 0;
	}
	return -1;
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	if (parent == 1 && !strcmp(name, "hello"))
		e.ino = 2;
	else if (parent == 1 && !strcmp(name, "big"))
		e.ino = 3;
	else
		return (void)fuse_reply_err(req, ENOENT);
	e.attr_timeout = e.entry_timeout = 1.0;
	stat_of(e.ino, &e.attr);
	fuse_reply_entry(req, &e);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	if (stat_of(ino, &st) < 0)
		return (void)fuse_reply_err(req, ENOENT);
	fuse_reply_attr(req, &st, 1.0);
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	static const char *const names[] = { ".", "..", "hello", "big" };
	static const fuse_ino_t inos[] = { 1, 1, 2, 3 };
	char buf[1024];
	size_t used = 0, n;
	struct stat st;
	off_t i;

	if (ino != 1)
		return (void)fuse_reply_err(req, ENOTDIR);
	if (size > sizeof(buf))
		size = sizeof(buf);
	for (i = off; i < 4; i++) {
		memset(&st, 0, sizeof(st));
		st.st_ino = inos[i];
		st.st_mode = i < 2 ? S_IFDIR : S_IFREG;
		n = fuse_add_direntry(req, buf + used, size - used, names[i], &st, i + 1);
		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino == 1)
		return (void)fuse_reply_err(req, EISDIR);
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return (void)fuse_reply_err(req, EACCES);
	fuse_reply_open(req, fi);
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct pending *p = malloc(sizeof(*p));

	if (!p)
		return (void)fuse_reply_err(req, ENOMEM);
	*p = (struct pending){ .req = req, .ino = ino, .size = size, .off = off };
	pthread_mutex_lock(&lock);
	*tail = p;
	tail = &p->next;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
}

static void answer(struct pending *p)
{
	size_t len = p->ino == 2 ? sizeof(hello) - 1 : BIG_SIZE, i;
	size_t size = p->size;
	char *buf;

	if ((size_t)p->off >= len)
		size = 0;
	else if (size > len - (size_t)p->off)
		size = len - (size_t)p->off;
	if (p->ino == 2) {
		fuse_reply_buf(p->req, hello + p->off, size);
	} else if (!(buf = malloc(size ? size : 1))) {
		fuse_reply_err(p->req, ENOMEM);
	} else {
		for (i = 0; i < size; i++)
			buf[i] = (char)(((size_t)p->off + i) * 7 % 251);
		fuse_reply_buf(p->req, buf, size);
		free(buf);
	}
	deferred++;
	free(p);
}

static struct pending *take_all(void)
{
	struct pending *p = head;

	head = NULL;
	tail = &head;
	return p;
}

/* Loop thread: answer what the handlers queued, after process_buf returned. */
static void answer_queued(void)
{
	struct pending *p, *next;

	pthread_mutex_lock(&lock);
	p = take_all();
	pthread_mutex_unlock(&lock);
	for (; p; p = next) {
		next = p->next;
		answer(p);
	}
}

/* -o threads: answer from here instead, while the loop waits in poll. */
static void *answerer(void *arg)
{
	struct pending *p, *next;

	pthread_mutex_lock(&lock);
	while (!stop) {
		if (!head) {
			pthread_cond_wait(&cond, &lock);
			continue;
		}
		p = take_all();
		pthread_mutex_unlock(&lock);
		for (; p; p = next) {
			next = p->next;
			answer(p);
		}
		pthread_mutex_lock(&lock);
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

static const struct fuse_lowlevel_ops ops = {
	.lookup = fs_lookup,
	.getattr = fs_getattr,
	.readdir = fs_readdir,
	.open = fs_open,
	.read = fs_read,
};

/* pyfuse3's _session_loop, in C: wait readable, receive, process, run the tasks. */
static int session_loop(struct fuse_session *se)
{
	struct fuse_buf buf = { .mem = NULL };
	struct pollfd p = { .fd = fuse_session_fd(se), .events = POLLIN };
	int res = 0;

	while (!fuse_session_exited(se)) {
		if (poll(&p, 1, -1) < 0)
			continue;   /* EINTR: the signal handler may have exited the session */
		res = fuse_session_receive_buf(se, &buf);
		if (res == -EINTR || res == -EAGAIN) {
			res = 0;    /* not an error: the loop's condition decides */
			continue;
		}
		if (res <= 0)
			break;
		fuse_session_process_buf(se, &buf);
		if (!opts.threads)
			answer_queued();
	}
	free(buf.mem);
	return res < 0 ? -res : 0;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cl;
	struct fuse_session *se;
	pthread_t th;
	int ret = 1, started = 0;

	if (fuse_parse_cmdline(&args, &cl) != 0)
		return 1;
	if (!cl.mountpoint) {
		fprintf(stderr, "usage: %s [-o threads] [-f] mountpoint\n", argv[0]);
		goto out;
	}
	if (fuse_opt_parse(&args, &opts, fs_opts, NULL) == -1)
		goto out;
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se) == 0) {
		if (fuse_session_mount(se, cl.mountpoint) == 0) {
			if (opts.threads)
				started = pthread_create(&th, NULL, answerer, NULL) == 0;
			if (!opts.threads || started)
				ret = session_loop(se);
			fuse_session_unmount(se);
		}
		fuse_remove_signal_handlers(se);
	}
	if (started) {
		pthread_mutex_lock(&lock);
		stop = 1;
		pthread_cond_signal(&cond);
		pthread_mutex_unlock(&lock);
		pthread_join(th, NULL);
	}
	answer_queued();   /* none should be left; answered (to a gone kernel) if so */
	fprintf(stderr, "fs_customloop: %lu reads answered after their handler returned\n",
		deferred);
	fuse_session_destroy(se);
out:
	free(cl.mountpoint);
	fuse_opt_free_args(&args);
	return ret ? 1 : 0;
}
