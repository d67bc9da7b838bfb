/* SPDX-License-Identifier: MIT */
/*
 * fs_pollioctl.c - libfuse's poll.c and ioctl.c examples as one low-level filesystem, so
 * their unchanged clients (poll_client.c, ioctl_client.c) exercise the low-level poll and
 * ioctl paths: fuse_reply_poll, fuse_lowlevel_notify_poll, fuse_pollhandle_destroy,
 * fi->poll_events, fuse_reply_ioctl. Written against libfuse's fuse_lowlevel.h only: it
 * builds unchanged with -lfuse3 or with ringfuse-fuse3.
 *
 * Usage: fs_pollioctl [-s] [-f] [-o log=PATH] mountpoint
 *
 * The root holds 16 files named 0..F, as poll.c's: a producer thread adds one byte to one
 * of them every 50 ms (in turn), and wakes that file's poller, if one asked, with
 * fuse_lowlevel_notify_poll; a READ takes (and consumes) what is there; POLL answers
 * POLLIN when there is something and keeps the poll handle (destroying the one it
 * replaces). And `fioc`, ioctl.c's file: its data is read and written as usual, and the
 * restricted ioctls FIOC_GET_SIZE/FIOC_SET_SIZE of ioctl.h get and set its size.
 * The log gets "poll IDX events 0xE" per POLL (the events the poller waits for, from
 * fi->poll_events), "notify IDX" per wakeup sent, "ioctl CMD" per ioctl.
 */
#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ioctl.h of libfuse's examples, whose numbers ioctl_client.c uses. */
enum {
	FIOC_GET_SIZE = _IOR('E', 0, size_t),
	FIOC_SET_SIZE = _IOW('E', 1, size_t),
};

#define NFILES   16
#define CNT_MAX  10
#define FIOC_INO (NFILES + 2)     /* poll files are inodes 2..17 */
#define FIOC_MAX (1 << 20)

static const char hex[NFILES + 1] = "0123456789ABCDEF";
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned int cnt[NFILES];
static struct fuse_pollhandle *ph_of[NFILES];
static char *fioc_buf;
static size_t fioc_size;
static FILE *logfp;
static volatile int stop;

static struct options {
	char *log;
} opts;

static const struct fuse_opt fs_opts[] = {
	{ "log=%s", offsetof(struct options, log), 0 },
	FUSE_OPT_END
};

static void logline(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logline(const char *fmt, ...)
{
	va_list ap;

	if (!logfp)
		return;
	va_start(ap, fmt);
	vfprintf(logfp, fmt, ap);
	va_end(ap);
	fputc('\n', logfp);
	fflush(logfp);
}

static int stat_of(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = getuid();
	st->st_gid = getgid();
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else if (ino >= 2 && ino < 2 + NFILES) {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		pthread_mutex_lock(&lock);
		st->st_size = cnt[ino - 2];
		pthread_mutex_unlock(&lock);
	} else if (ino == FIOC_INO) {
		st->st_mode = S_IFREG | 0644;
		st->st_nlink = 1;
		pthread_mutex_lock(&lock);
		st->st_size = (off_t)fioc_size;
		pthread_mutex_unlock(&lock);
	} else {
		return -1;
	}
	return 0;
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	const char *p;

	memset(&e, 0, sizeof(e));
	if (parent != FUSE_ROOT_ID)
		return (void)fuse_reply_err(req, ENOENT);
	if (!strcmp(name, "fioc"))
		e.ino = FIOC_INO;
	else if (strlen(name) == 1 && (p = strchr(hex, name[0])) && *p)
		e.ino = 2 + (fuse_ino_t)(p - hex);
	else
		return (void)fuse_reply_err(req, ENOENT);
	stat_of(e.ino, &e.attr);
	fuse_reply_entry(req, &e);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	if (stat_of(ino, &st) < 0)
		return (void)fuse_reply_err(req, ENOENT);
	fuse_reply_attr(req, &st, 0);
}

static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct stat st;

	if (ino != FIOC_INO || (to_set & ~(FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME |
					    FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_CTIME)))
		return (void)fuse_reply_err(req, EPERM);
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (attr->st_size < 0 || attr->st_size > FIOC_MAX)
			return (void)fuse_reply_err(req, EFBIG);
		pthread_mutex_lock(&lock);
		if ((size_t)attr->st_size > fioc_size)
			memset(fioc_buf + fioc_size, 0, (size_t)attr->st_size - fioc_size);
		fioc_size = (size_t)attr->st_size;
		pthread_mutex_unlock(&lock);
	}
	stat_of(ino, &st);
	fuse_reply_attr(req, &st, 0);
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	char buf[4096];
	size_t used = 0, n;
	struct stat st;
	off_t i;

	if (ino != FUSE_ROOT_ID)
		return (void)fuse_reply_err(req, ENOTDIR);
	if (size > sizeof(buf))
		size = sizeof(buf);
	/* entries: ".", "..", the 16 files, "fioc": offset i+1 follows entry i */
	for (i = off; i < NFILES + 3; i++) {
		char name[8];

		memset(&st, 0, sizeof(st));
		if (i == 0) {
			strcpy(name, ".");
			st.st_ino = FUSE_ROOT_ID;
		} else if (i == 1) {
			strcpy(name, "..");
			st.st_ino = FUSE_ROOT_ID;
		} else if (i < NFILES + 2) {
			name[0] = hex[i - 2];
			name[1] = '\0';
			st.st_ino = (ino_t)i;
		} else {
			strcpy(name, "fioc");
			st.st_ino = FIOC_INO;
		}
		st.st_mode = i < 2 ? S_IFDIR : S_IFREG;
		n = fuse_add_direntry(req, buf + used, size - used, name, &st, i + 1);
		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino >= 2 && ino < 2 + NFILES) {
		if ((fi->flags & O_ACCMODE) != O_RDONLY)
			return (void)fuse_reply_err(req, EACCES);
		/* As poll.c: reads consume, so no page cache and no seeking. */
		fi->direct_io = 1;
		fi->nonseekable = 1;
	} else if (ino != FIOC_INO) {
		return (void)fuse_reply_err(req, EISDIR);
	} else if (fi->flags & O_TRUNC) {
		/* FUSE_CAP_ATOMIC_O_TRUNC (libfuse's default): the truncation is ours. */
		pthread_mutex_lock(&lock);
		fioc_size = 0;
		pthread_mutex_unlock(&lock);
	}
	fuse_reply_open(req, fi);
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	char buf[CNT_MAX];

	pthread_mutex_lock(&lock);
	if (ino == FIOC_INO) {
		if ((size_t)off >= fioc_size)
			size = 0;
		else if (size > fioc_size - (size_t)off)
			size = fioc_size - (size_t)off;
		fuse_reply_buf(req, fioc_buf + off, size);
	} else {
		unsigned int idx = (unsigned int)(ino - 2);

		if (size > cnt[idx])
			size = cnt[idx];
		cnt[idx] -= (unsigned int)size;
		memset(buf, hex[idx], size);
		fuse_reply_buf(req, buf, size);
	}
	pthread_mutex_unlock(&lock);
}

static void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
		     off_t off, struct fuse_file_info *fi)
{
	if (ino != FIOC_INO)
		return (void)fuse_reply_err(req, EACCES);
	if (off < 0 || (size_t)off > FIOC_MAX || size > FIOC_MAX - (size_t)off)
		return (void)fuse_reply_err(req, EFBIG);
	pthread_mutex_lock(&lock);
	if ((size_t)off > fioc_size)
		memset(fioc_buf + fioc_size, 0, (size_t)off - fioc_size);
	memcpy(fioc_buf + off, buf, size);
	if ((size_t)off + size > fioc_size)
		fioc_size = (size_t)off + size;
	pthread_mutex_unlock(&lock);
	fuse_reply_write(req, size);
}

static void fs_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph)
{
	unsigned int revents = 0, idx;

	if (ino < 2 || ino >= 2 + NFILES) {
		if (ph)
			fuse_pollhandle_destroy(ph);
		return (void)fuse_reply_poll(req, POLLIN | POLLOUT);
	}
	idx = (unsigned int)(ino - 2);
	pthread_mutex_lock(&lock);
	logline("poll %X events 0x%x%s", idx, fi->poll_events, ph ? " handle" : "");
	if (ph) {
		if (ph_of[idx])
			fuse_pollhandle_destroy(ph_of[idx]);
		ph_of[idx] = ph;
	}
	if (cnt[idx])
		revents |= POLLIN;
	pthread_mutex_unlock(&lock);
	fuse_reply_poll(req, revents);
}

static void fs_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		     struct fuse_file_info *fi, unsigned flags, const void *in_buf,
		     size_t in_bufsz, size_t out_bufsz)
{
	size_t size;

	logline("ioctl 0x%x in %zu out %zu", cmd, in_bufsz, out_bufsz);
	if (ino != FIOC_INO)
		return (void)fuse_reply_err(req, ENOTTY);
	if (flags & FUSE_IOCTL_COMPAT)
		return (void)fuse_reply_err(req, ENOSYS);
	switch (cmd) {
	case FIOC_GET_SIZE:
		/* Restricted: the kernel prepared _IOC_SIZE bytes of output. */
		if (out_bufsz < sizeof(size))
			return (void)fuse_reply_err(req, EINVAL);
		pthread_mutex_lock(&lock);
		size = fioc_size;
		pthread_mutex_unlock(&lock);
		fuse_reply_ioctl(req, 0, &size, sizeof(size));
		return;
	case FIOC_SET_SIZE:
		if (in_bufsz < sizeof(size))
			return (void)fuse_reply_err(req, EINVAL);
		memcpy(&size, in_buf, sizeof(size));
		if (size > FIOC_MAX)
			return (void)fuse_reply_err(req, EFBIG);
		pthread_mutex_lock(&lock);
		if (size > fioc_size)
			memset(fioc_buf + fioc_size, 0, size - fioc_size);
		fioc_size = size;
		pthread_mutex_unlock(&lock);
		fuse_reply_ioctl(req, 0, NULL, 0);
		return;
	}
	fuse_reply_err(req, EINVAL);
}

static struct fuse_session *session;

/* poll.c's producer, faster: one byte to one file every 50 ms, its poller woken. */
static void *producer(void *data)
{
	const struct timespec interval = { 0, 50 * 1000 * 1000 };
	unsigned int idx = 0;

	while (!stop) {
		pthread_mutex_lock(&lock);
		if (cnt[idx] < CNT_MAX) {
			cnt[idx]++;
			if (ph_of[idx]) {
				int ret = fuse_lowlevel_notify_poll(ph_of[idx]);

				logline("notify %X%s", idx, ret ? " failed" : "");
				fuse_pollhandle_destroy(ph_of[idx]);
				ph_of[idx] = NULL;
			}
		}
		idx = (idx + 1) % NFILES;
		pthread_mutex_unlock(&lock);
		nanosleep(&interval, NULL);
	}
	return NULL;
}

static const struct fuse_lowlevel_ops ops = {
	.lookup = fs_lookup,
	.getattr = fs_getattr,
	.setattr = fs_setattr,
	.readdir = fs_readdir,
	.open = fs_open,
	.read = fs_read,
	.write = fs_write,
	.poll = fs_poll,
	.ioctl = fs_ioctl,
};

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cl;
	struct fuse_loop_config *cfg;
	pthread_t th;
	int ret = 1, i;

	if (fuse_parse_cmdline(&args, &cl) != 0)
		return 1;
	if (!cl.mountpoint) {
		fprintf(stderr, "usage: %s [-s] [-f] [-o log=PATH] mountpoint\n", argv[0]);
		goto out;
	}
	if (fuse_opt_parse(&args, &opts, fs_opts, NULL) == -1)
		goto out;
	if (opts.log && !(logfp = fopen(opts.log, "ae"))) {
		perror(opts.log);
		goto out;
	}
	fioc_buf = calloc(1, FIOC_MAX);
	if (!fioc_buf)
		goto out;
	session = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!session)
		goto out;
	if (fuse_set_signal_handlers(session) == 0) {
		if (fuse_session_mount(session, cl.mountpoint) == 0 &&
		    pthread_create(&th, NULL, producer, NULL) == 0) {
			if (cl.singlethread) {
				ret = fuse_session_loop(session);
			} else {
				cfg = fuse_loop_cfg_create();
				ret = fuse_session_loop_mt(session, cfg);
				fuse_loop_cfg_destroy(cfg);
			}
			stop = 1;
			pthread_join(th, NULL);
			fuse_session_unmount(session);
		}
		fuse_remove_signal_handlers(session);
	}
	fuse_session_destroy(session);
out:
	for (i = 0; i < NFILES; i++)
		if (ph_of[i])
			fuse_pollhandle_destroy(ph_of[i]);
	if (logfp)
		fclose(logfp);
	free(fioc_buf);
	free(cl.mountpoint);
	free(opts.log);
	fuse_opt_free_args(&args);
	return ret ? 1 : 0;
}
