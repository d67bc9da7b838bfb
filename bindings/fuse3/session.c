/* SPDX-License-Identifier: MIT */
/*
 * session.c - fuse_session_new (libfuse's session and mount options, read with fuse_opt),
 * mount, unmount, exit, destroy. A ringfuse session is made at mount time, since it is
 * created with its mountpoint; the loops are loop.c's, the operations ops.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "fuse3_int.h"
#include "fuse3_signal.h"

void rf_fuse3_unsupported(const char *func, const char *why)
{
	fuse_log(FUSE_LOG_ERR, "fuse: %s is not supported by ringfuse's libfuse3 binding: %s\n",
		 func, why);
}

enum {
	K_DEBUG, K_ALLOW_ROOT, K_ALLOW_OTHER, K_AUTO_UNMOUNT, K_DEFAULT_PERMISSIONS,
	K_FSNAME, K_SUBTYPE, K_MAX_READ, K_FLAG, K_RO_SHORT, K_IGNORE, K_UNSUPPORTED,
	K_TRANSPORT, K_URING_DEPTH, K_QUEUE_DEPTH, K_GRACE_MS, K_POLL_US, K_MT_LOOPS, K_MT_POOL,
};

/* Session options (libfuse's lowlevel and mount options) plus ringfuse's transport
 * options. Anything else is an error, as in libfuse. */
static const struct fuse_opt session_opts[] = {
	FUSE_OPT_KEY("debug", K_DEBUG),
	FUSE_OPT_KEY("-d", K_DEBUG),
	FUSE_OPT_KEY("--debug", K_DEBUG),
	FUSE_OPT_KEY("allow_root", K_ALLOW_ROOT),
	FUSE_OPT_KEY("allow_other", K_ALLOW_OTHER),
	FUSE_OPT_KEY("auto_unmount", K_AUTO_UNMOUNT),
	FUSE_OPT_KEY("default_permissions", K_DEFAULT_PERMISSIONS),
	FUSE_OPT_KEY("fsname=", K_FSNAME),
	FUSE_OPT_KEY("subtype=", K_SUBTYPE),
	FUSE_OPT_KEY("max_read=", K_MAX_READ),
	FUSE_OPT_KEY("-r", K_RO_SHORT),
	FUSE_OPT_KEY("user=", K_IGNORE),
	FUSE_OPT_KEY("-n", K_IGNORE),
	FUSE_OPT_KEY("ro", K_FLAG),
	FUSE_OPT_KEY("rw", K_FLAG),
	FUSE_OPT_KEY("suid", K_FLAG),
	FUSE_OPT_KEY("nosuid", K_FLAG),
	FUSE_OPT_KEY("dev", K_FLAG),
	FUSE_OPT_KEY("nodev", K_FLAG),
	FUSE_OPT_KEY("exec", K_FLAG),
	FUSE_OPT_KEY("noexec", K_FLAG),
	FUSE_OPT_KEY("async", K_FLAG),
	FUSE_OPT_KEY("sync", K_FLAG),
	FUSE_OPT_KEY("dirsync", K_FLAG),
	FUSE_OPT_KEY("atime", K_FLAG),
	FUSE_OPT_KEY("noatime", K_FLAG),
	FUSE_OPT_KEY("nodiratime", K_FLAG),
	FUSE_OPT_KEY("relatime", K_FLAG),
	FUSE_OPT_KEY("norelatime", K_FLAG),
	FUSE_OPT_KEY("strictatime", K_FLAG),
	FUSE_OPT_KEY("nostrictatime", K_FLAG),
	FUSE_OPT_KEY("lazytime", K_FLAG),
	FUSE_OPT_KEY("nolazytime", K_FLAG),
	FUSE_OPT_KEY("blkdev", K_UNSUPPORTED),
	FUSE_OPT_KEY("blksize=", K_UNSUPPORTED),
	FUSE_OPT_KEY("context=", K_UNSUPPORTED),
	FUSE_OPT_KEY("fscontext=", K_UNSUPPORTED),
	FUSE_OPT_KEY("defcontext=", K_UNSUPPORTED),
	FUSE_OPT_KEY("rootcontext=", K_UNSUPPORTED),
	FUSE_OPT_KEY("transport=", K_TRANSPORT),
	FUSE_OPT_KEY("uring_depth=", K_URING_DEPTH),
	FUSE_OPT_KEY("queue_depth=", K_QUEUE_DEPTH),
	FUSE_OPT_KEY("grace_ms=", K_GRACE_MS),
	FUSE_OPT_KEY("poll_us=", K_POLL_US),
	FUSE_OPT_KEY("mt_loops", K_MT_LOOPS),
	FUSE_OPT_KEY("mt_pool", K_MT_POOL),
	FUSE_OPT_END
};

static const struct { const char *name; unsigned long set, clear; } mount_flags[] = {
	{ "ro", MS_RDONLY, 0 },            { "rw", 0, MS_RDONLY },
	{ "suid", 0, MS_NOSUID },          { "nosuid", MS_NOSUID, 0 },
	{ "dev", 0, MS_NODEV },            { "nodev", MS_NODEV, 0 },
	{ "exec", 0, MS_NOEXEC },          { "noexec", MS_NOEXEC, 0 },
	{ "async", 0, MS_SYNCHRONOUS },    { "sync", MS_SYNCHRONOUS, 0 },
	{ "dirsync", MS_DIRSYNC, 0 },      { "atime", 0, MS_NOATIME },
	{ "noatime", MS_NOATIME, 0 },      { "nodiratime", MS_NODIRATIME, 0 },
	{ "relatime", MS_RELATIME, 0 },    { "norelatime", 0, MS_RELATIME },
	{ "strictatime", MS_STRICTATIME, 0 }, { "nostrictatime", 0, MS_STRICTATIME },
	{ "lazytime", MS_LAZYTIME, 0 },    { "nolazytime", 0, MS_LAZYTIME },
};

struct parse_state {
	struct fuse_session *se;
	char *fsname, *subtype;
	int allow_other;
	int failed;
	bool mt_loops;
};

static int parse_u32(const char *arg, uint32_t *out)
{
	const char *val = strchr(arg, '=') + 1;
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(val, &end, 0);
	if (!*val || *end || errno || v > UINT32_MAX || val[0] == '-') {
		fuse_log(FUSE_LOG_ERR, "fuse: invalid value in option `%s'\n", arg);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

static int set_string(char **dst, const char *arg)
{
	free(*dst);
	*dst = strdup(strchr(arg, '=') + 1);
	return *dst ? 0 : -1;
}

static int session_opt(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct parse_state *ps = data;
	struct fuse_session *se = ps->se;
	struct rf_opts *o = &se->opts;
	size_t i;

	switch (key) {
	case K_DEBUG:
		se->debug = 1;
		o->debug = 1;
		return 0;
	case K_ALLOW_ROOT:
		se->deny_others = 1;
		return 0;
	case K_ALLOW_OTHER:
		ps->allow_other = 1;
		return 0;
	case K_AUTO_UNMOUNT:
		o->auto_unmount = 1;
		return 0;
	case K_DEFAULT_PERMISSIONS:
		o->default_permissions = 1;
		return 0;
	case K_FSNAME:
		return set_string(&ps->fsname, arg);
	case K_SUBTYPE:
		return set_string(&ps->subtype, arg);
	case K_MAX_READ:
		return parse_u32(arg, &o->max_read);
	case K_RO_SHORT:
		arg = "ro";
		/* fall through */
	case K_FLAG:
		for (i = 0; i < sizeof(mount_flags) / sizeof(mount_flags[0]); i++) {
			if (strcmp(arg, mount_flags[i].name) == 0) {
				o->mount_flags |= mount_flags[i].set;
				o->mount_flags &= ~mount_flags[i].clear;
			}
		}
		o->read_only = !!(o->mount_flags & MS_RDONLY);
		return 0;
	case K_IGNORE:
		return 0;
	case K_UNSUPPORTED:
		fuse_log(FUSE_LOG_ERR, "fuse: mount option `%s' is not supported by ringfuse\n",
			 arg);
		ps->failed = 1;
		return -1;
	case K_TRANSPORT: {
		const char *v = strchr(arg, '=') + 1;

		if (!strcmp(v, "auto"))
			o->transport = RF_TRANSPORT_AUTO;
		else if (!strcmp(v, "dev"))
			o->transport = RF_TRANSPORT_DEV;
		else if (!strcmp(v, "uring"))
			o->transport = RF_TRANSPORT_URING;
		else {
			fuse_log(FUSE_LOG_ERR, "fuse: transport must be auto, dev or uring: `%s'\n",
				 arg);
			return -1;
		}
		return 0;
	}
	case K_URING_DEPTH:
		return parse_u32(arg, &o->uring_depth);
	case K_QUEUE_DEPTH:
		return parse_u32(arg, &o->queue_depth);
	case K_GRACE_MS:
		return parse_u32(arg, &o->grace_ms);
	case K_POLL_US:
		if (parse_u32(arg, &o->poll_us) < 0)
			return -1;
		if (o->poll_us > 1000000) {
			fuse_log(FUSE_LOG_ERR, "fuse: poll_us is at most 1000000: `%s'\n", arg);
			return -1;
		}
		return 0;
	case K_MT_LOOPS:
	case K_MT_POOL:
		ps->mt_loops = key == K_MT_LOOPS;
		return 0;
	default:
		/* Unknown: kept, and reported below as libfuse does. */
		return 1;
	}
}

struct fuse_session *fuse_session_new(struct fuse_args *args, const struct fuse_lowlevel_ops *op,
				      size_t op_size, void *userdata)
{
	struct parse_state ps = { .mt_loops = true };
	struct fuse_session *se;
	int i;

	if (!args || !op) {
		fuse_log(FUSE_LOG_ERR, "fuse: fuse_session_new: NULL %s\n", args ? "ops" : "args");
		return NULL;
	}
	if (sizeof(struct fuse_lowlevel_ops) < op_size) {
		fuse_log(FUSE_LOG_ERR, "fuse: warning: library too old, some operations may not "
			 "work\n");
		op_size = sizeof(struct fuse_lowlevel_ops);
	}
	if (args->argc == 0) {
		fuse_log(FUSE_LOG_ERR, "fuse: empty argv passed to fuse_session_new().\n");
		return NULL;
	}
	se = calloc(1, sizeof(*se));
	if (!se) {
		fuse_log(FUSE_LOG_ERR, "fuse: failed to allocate fuse object\n");
		return NULL;
	}
	memcpy(&se->op, op, op_size);
	se->userdata = userdata;
	pthread_mutex_init(&se->rlock, NULL);
	pthread_mutex_init(&se->hlock, NULL);
	rf_opts_init(&se->opts);
	ps.se = se;
	if (fuse_opt_parse(args, &ps, session_opts, session_opt) == -1)
		goto fail;
	if (se->deny_others && ps.allow_other) {
		fuse_log(FUSE_LOG_ERR, "fuse: 'allow_other' and 'allow_root' options are mutually "
			 "exclusive\n");
		goto fail;
	}
	/* allow_root: the kernel lets everyone in, the binding lets only root and the
	 * owner through (req.c), as libfuse does. */
	se->opts.allow_other = ps.allow_other || se->deny_others;
	if (args->argc == 1 && args->argv[0][0] == '-') {
		fuse_log(FUSE_LOG_ERR, "fuse: warning: argv[0] looks like an option, but will be "
			 "ignored\n");
	} else if (args->argc != 1) {
		fuse_log(FUSE_LOG_ERR, "fuse: unknown option(s): `");
		for (i = 1; i < args->argc - 1; i++)
			fuse_log(FUSE_LOG_ERR, "%s ", args->argv[i]);
		fuse_log(FUSE_LOG_ERR, "%s'\n", args->argv[i]);
		goto fail;
	}
	se->fsname = ps.fsname;
	se->subtype = ps.subtype;
	se->mt_loops = ps.mt_loops;
	/* As libfuse mounts: type "fuse.<subtype>", or "fuse" when the program named no
	 * subtype (qemu-storage-daemon, nbdfuse: only fuse_parse_cmdline adds one); source
	 * the fsname, else the subtype, else "/dev/fuse". Not the runtime's defaults (the
	 * program's name for both). */
	se->opts.fsname = se->fsname ? se->fsname : se->subtype ? se->subtype : "/dev/fuse";
	se->opts.subtype = se->subtype ? se->subtype : "";
	se->owner = getuid();
	rf_fuse3_fill_ops(se);
	return se;
fail:
	free(ps.fsname);
	free(ps.subtype);
	pthread_mutex_destroy(&se->rlock);
	pthread_mutex_destroy(&se->hlock);
	free(se);
	return NULL;
}

int fuse_session_custom_io(struct fuse_session *se, const struct fuse_custom_io *io, int fd)
{
	rf_fuse3_unsupported("fuse_session_custom_io",
			     "ringfuse reads and writes the FUSE device through its io_uring");
	return -ENOSYS;
}

/* "/dev/fd/N": the device fd was opened for us (mount.fuse3's drop_privileges). */
static int fd_from_path(const char *mountpoint)
{
	unsigned int fd;
	int len = 0;

	if (sscanf(mountpoint, "/dev/fd/%u%n", &fd, &len) != 1 || mountpoint[len] ||
	    fd > INT_MAX)
		return -1;
	if (fcntl((int)fd, F_GETFD) == -1) {
		fuse_log(FUSE_LOG_ERR, "fuse: Invalid file descriptor %s\n", mountpoint);
		return -2;
	}
	return (int)fd;
}

int fuse_session_mount(struct fuse_session *se, const char *mountpoint)
{
	struct rf_opts o;
	int fd, ret;

	if (!se || !mountpoint) {
		fuse_log(FUSE_LOG_ERR, "fuse: fuse_session_mount: NULL %s\n",
			 se ? "mountpoint" : "session");
		return -1;
	}
	if (se->rs) {
		fuse_log(FUSE_LOG_ERR, "fuse: fuse_session_mount: the session is mounted already\n");
		return -1;
	}
	/* Make sure fds 0, 1 and 2 are open, so the device fd is none of them (libfuse does
	 * the same: a stray write to stdout must never reach /dev/fuse). */
	do {
		fd = open("/dev/null", O_RDWR);
		if (fd > 2)
			close(fd);
	} while (fd >= 0 && fd <= 2);

	o = se->opts;
	o.mountpoint = mountpoint;
	ret = rf_session_new(&se->rops, sizeof(se->rops), se, &o, &se->rs);
	if (ret < 0) {
		fuse_log(FUSE_LOG_ERR, "fuse: cannot create the session: %s\n", strerror(-ret));
		return -1;
	}
	/* A CUSE session (cuse.c) opens /dev/cuse, or serves the /dev/fd/N given, and
	 * mounts nothing. */
	if (rf_fuse3_cuse_info(se))
		ret = rf_session_set_cuse(se->rs, rf_fuse3_cuse_info(se));
	if (ret == 0) {
		fd = fd_from_path(mountpoint);
		if (fd == -2)
			ret = -EBADF;
		else if (fd >= 0)
			ret = rf_session_set_fd(se->rs, fd);
		else
			ret = rf_session_mount(se->rs);
	}
	if (ret < 0) {
		/* rf_session_set_cuse or rf_session_mount said why on stderr. */
		rf_session_free(se->rs);
		se->rs = NULL;
		return -1;
	}
	se->mountpoint = strdup(mountpoint);
	return 0;
}

int fuse_session_fd(struct fuse_session *se)
{
	return se && se->rs ? rf_session_fd(se->rs) : -1;
}

/* Async-signal-safe: fuse_set_signal_handlers calls it from a signal handler. */
void fuse_session_exit(struct fuse_session *se)
{
	if (!se)
		return;
	atomic_store(&se->exited, 1);
	if (se->rs)
		rf_session_exit(se->rs);
}

void rf_fuse3_exit_from_signal(struct fuse_session *se, int sig)
{
	atomic_store(&se->signal, sig);
	fuse_session_exit(se);
}

void fuse_session_reset(struct fuse_session *se)
{
	if (se) {
		atomic_store(&se->exited, 0);
		atomic_store(&se->signal, 0);
		se->error = 0;
	}
}

int fuse_session_exited(struct fuse_session *se)
{
	if (!se)
		return 1;
	return atomic_load(&se->exited) || (se->rs && rf_session_ended(se->rs));
}

void fuse_session_unmount(struct fuse_session *se)
{
	if (se && se->rs)
		rf_session_unmount(se->rs);
}

void fuse_session_destroy(struct fuse_session *se)
{
	if (!se)
		return;
	if (se->rs)
		rf_session_free(se->rs);
	se->rs = NULL;
	if (se->loop)
		rf_loop_free(se->loop);
	se->loop = NULL;
	/* After the unmount and with no worker left, as libfuse calls it. */
	if (se->got_init && !se->destroyed && se->op.destroy)
		se->op.destroy(se->userdata);
	se->destroyed = true;
	rf_fuse3_free_reqs(se);
	free(se->pool_mem);
	rf_fuse3_free_holds(se);
	rf_fuse3_cuse_free(se);
	pthread_mutex_destroy(&se->rlock);
	pthread_mutex_destroy(&se->hlock);
	free(se->forgets);
	free(se->fsname);
	free(se->subtype);
	free(se->mountpoint);
	free(se);
}

/*
 * Custom loops (pyfuse3's): the caller's thread reads each request with
 * fuse_session_receive_buf and dispatches it with fuse_session_process_buf. The first
 * call attaches the session to a ring that does no reads (rf_session_attach_manual):
 * replies are written at once by the thread that makes them, and the runtime's deferred
 * work runs inside these two calls. fuse_session_loop* cannot be used on such a session.
 */
static int custom_attach(struct fuse_session *se, const char *func)
{
	int ret;

	if (!se || !se->rs) {
		fuse_log(FUSE_LOG_ERR, "fuse: %s: %s\n", func,
			 se ? "the session is not mounted (call fuse_session_mount first)" :
			      "NULL session");
		return -EINVAL;
	}
	if (se->custom)
		return 0;
	if (se->loop || atomic_load(&se->in_loop)) {
		fuse_log(FUSE_LOG_ERR, "fuse: %s: the session is served by fuse_session_loop\n",
			 func);
		return -EBUSY;
	}
	/* As many forgets as one BATCH_FORGET can carry: the most one call gives. */
	se->forgets_cap = rf_session_bufsize(se->rs) / 16 + 1;   /* 16: the kernel's fuse_forget_one */
	se->forgets = calloc(se->forgets_cap, sizeof(*se->forgets));
	ret = se->forgets ? rf_loop_new(&se->loop) : -ENOMEM;
	if (ret == 0) {
		ret = rf_session_attach_manual(se->rs, se->loop);
		if (ret < 0) {
			rf_loop_free(se->loop);
			se->loop = NULL;
		}
	}
	if (ret < 0) {
		free(se->forgets);
		se->forgets = NULL;
		fuse_log(FUSE_LOG_ERR, "fuse: %s: %s\n", func, strerror(-ret));
		return ret;
	}
	se->custom = true;
	return 0;
}

/* The custom loop's thread is the one that takes wrappers (req.c): replies on other
 * threads read loop_thread meanwhile, so it is written only when another thread takes
 * over the loop, not again on every call. */
static void set_loop_thread(struct fuse_session *se)
{
	if (!pthread_equal(se->loop_thread, pthread_self()))
		se->loop_thread = pthread_self();
}

int fuse_session_receive_buf(struct fuse_session *se, struct fuse_buf *buf)
{
	size_t need;
	ssize_t n;
	int ret;

	if (!buf)
		return -EINVAL;
	ret = custom_attach(se, "fuse_session_receive_buf");
	if (ret < 0)
		return ret;
	/* After the end, every call says so again, as libfuse's read of the device fails
	 * with ENODEV each time. Not -EINTR: qemu-storage-daemon calls again while it gets
	 * -EINTR, and stayed in that call for ever after an unmount (its SIGTERM never ran). */
	if (se->custom_ended)
		return 0;
	if (atomic_load(&se->exited))
		return -EINTR;
	need = rf_session_bufsize(se->rs);
	/* As libfuse 3.14: a buffer the caller left NULL is allocated here with the
	 * session's buffer size, the caller's to free (fuse_session_loop and pyfuse3 free
	 * buf->mem at the end); a buffer given back is the one allocated here (3.14's
	 * fuse_buf does not say its size). */
	if (!buf->mem) {
		buf->mem = malloc(need);
		if (!buf->mem) {
			fuse_log(FUSE_LOG_ERR, "fuse: failed to allocate read buffer\n");
			return -ENOMEM;
		}
	}
	set_loop_thread(se);
	n = rf_session_receive(se->rs, buf->mem, need);
	if (n == 0) {
		/* The connection ended (unmount): libfuse says so by exiting the session. */
		se->custom_ended = true;
		atomic_store(&se->exited, 1);
		return 0;
	}
	if (n < 0)
		return (int)n;
	buf->size = (size_t)n;
	buf->flags = 0;
	buf->pos = 0;
	return (int)n;
}

static void forget_batch(struct fuse_session *se);

void fuse_session_process_buf(struct fuse_session *se, const struct fuse_buf *buf)
{
	int ret;

	if (!buf || custom_attach(se, "fuse_session_process_buf") < 0)
		return;
	if ((buf->flags & FUSE_BUF_IS_FD) || !buf->mem) {
		fuse_log(FUSE_LOG_ERR, "fuse: fuse_session_process_buf: only memory buffers from "
			 "fuse_session_receive_buf are supported\n");
		return;
	}
	set_loop_thread(se);
	se->processing++;
	ret = rf_session_process(se->rs, buf->mem, buf->size);
	se->processing--;
	/* -EBUSY: answered ENOMEM and logged by the runtime. After the end, the buffer
	 * qemu-storage-daemon passes back is the last request's, its 0 from receive_buf not
	 * looked at: nothing to say (libfuse's reply fails silently then). */
	if (ret < 0 && ret != -EBUSY && !se->custom_ended)
		fuse_log(FUSE_LOG_ERR, "fuse: fuse_session_process_buf: request dropped: %s\n",
			 strerror(-ret));
	forget_batch(se);
}

/*
 * In a custom loop the runtime starts no handler outside fuse_session_process_buf: what
 * it defers (a request the ordering chains resumed, a forget held back for requests in
 * service) comes back through fuse_session_receive_buf as a request of its own. What is
 * left is the end (the receive_buf that sees the connection end, fuse_session_destroy):
 * there the forgets ringfuse makes up for the lookups the kernel still held, and the
 * releases it makes up for the handles the kernel left open (a lazy unmount whose last
 * reader was killed in a READ, an abort), are not passed on: libfuse sends none, and
 * pyfuse3 would make each a coroutine its loop never awaits ("py_retval was not awaited -
 * please report a bug") while the teardown waited a second for its reply.
 */
bool rf_fuse3_custom_end_release(struct fuse_session *se, uint64_t ino, bool dir)
{
	/* A high-level session's handlers are the binding's own path layer (hl_*.c), run
	 * at once: it frees the handle it keeps and calls the filesystem's plain C release. */
	if (!se->custom || se->processing || se->path_lock)
		return false;
	if (se->debug)
		fuse_log(FUSE_LOG_DEBUG, "fuse: custom loop: %s of %llu at the end: not passed "
			 "to the filesystem\n", dir ? "releasedir" : "release",
			 (unsigned long long)ino);
	return true;
}

void rf_fuse3_custom_forget(struct fuse_session *se, uint64_t ino, uint64_t nlookup)
{
	/* The end may also come inside fuse_session_process_buf: a handler there exited the
	 * session, and the runtime ended it in that same call (nothing else in service). */
	if (!se->processing || atomic_load(&se->exited) || se->nforgets == se->forgets_cap) {
		if (se->debug)
			fuse_log(FUSE_LOG_DEBUG, "fuse: custom loop: forget of %llu at the end: "
				 "not passed to the filesystem\n", (unsigned long long)ino);
		return;
	}
	se->forgets[se->nforgets].ino = ino;
	se->forgets[se->nforgets].nlookup = nlookup;
	se->nforgets++;
}

/* The forgets one fuse_session_process_buf gave, in one call of the filesystem, as
 * libfuse makes of a BATCH_FORGET: forget_multi, or forget for a lone one (or for each
 * when the filesystem has no forget_multi). Each call gets its own request, which the
 * filesystem ends with fuse_reply_none. */
static void forget_batch(struct fuse_session *se)
{
	size_t i, n = se->nforgets;
	struct fuse_req *req;

	se->nforgets = 0;
	if (!n)
		return;
	if (se->op.forget_multi && (n > 1 || !se->op.forget)) {
		req = rf_fuse3_req_get(se, NULL, RF3_OP_FORGET);
		if (req) {
			se->op.forget_multi(req, n, se->forgets);
			return;
		}
	} else if (se->op.forget) {
		for (i = 0; i < n; i++) {
			req = rf_fuse3_req_get(se, NULL, RF3_OP_FORGET);
			if (!req)
				break;
			se->op.forget(req, se->forgets[i].ino, se->forgets[i].nlookup);
		}
		if (i == n)
			return;
	}
	fuse_log(FUSE_LOG_ERR, "fuse: out of memory: %zu forgets dropped\n", n);
}
