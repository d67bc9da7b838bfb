/* SPDX-License-Identifier: MIT */
/*
 * ringfuse.h - the public API of libringfuse, a FUSE server runtime on io_uring.
 *
 * A filesystem fills a struct rf_ops (low-level style: inode numbers and file handles),
 * creates a session, mounts it and runs it on a loop. Each loop is one thread with one
 * io_uring; requests are read from the kernel and replies written back through that ring.
 *
 * Conventions, used by every call below:
 *  - Functions returning int return >= 0 on success and -errno on failure. errno is never
 *    the error channel.
 *  - Reply calls take negative errno (rf_reply_err(req, -ENOENT)).
 *  - "Loop thread" means the thread running rf_loop_run()/rf_loop_run_once() for the loop
 *    the object belongs to. Calls documented "any thread" are safe from other threads.
 *  - Objects created by rf_*_new() are freed by the matching rf_*_free().
 *
 * Sections: options and arguments · loop · session · operations · requests and replies ·
 * directory buffers · notifications.
 */
#ifndef RINGFUSE_H
#define RINGFUSE_H

#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The version of this header, kept equal to VERSION in the Makefile (checked by
 * scripts/check-exports.sh). RF_VERSION is one number for #if comparisons:
 * 0x00MMmmpp, e.g. 0x000100 for 0.1.0.
 */
#define RF_VERSION_MAJOR 0
#define RF_VERSION_MINOR 1
#define RF_VERSION_PATCH 0
#define RF_VERSION 0x000100
#define RF_VERSION_STRING "0.1.0"

/*
 * The version of the library the program runs with, as "MAJOR.MINOR.PATCH". It may differ
 * from RF_VERSION_STRING, the header the program was compiled with, when the shared
 * library was upgraded since (same soname: see the ABI policy in README.md). The string
 * is static; any thread.
 */
const char *rf_version(void);

struct rf_loop;
struct rf_session;
struct rf_req;
struct statx;               /* <sys/stat.h> declares it only with _GNU_SOURCE */

/* ===================================================================================
 * Options and arguments
 * =================================================================================== */

/*
 * One -o key a filesystem accepts, for rf_opts_parse (as fuse_opt's templates): declared
 * in a table that ends with an entry whose key is NULL, and given in opts->fs_spec.
 */
struct rf_opt_spec {
	const char *key;            /* the key, e.g. "size" */
	const char *value;          /* NULL: a bare flag ("-o zero"); else the name of its value
	                             * for -h ("BYTES"): the key then needs "key=VALUE" */
	const char *help;           /* one line for -h (NULL: not listed) */
};

/*
 * What a session needs to mount and negotiate. Fill with rf_opts_init() and then
 * rf_opts_parse() (command line) or by hand. Strings are copied by rf_session_new(),
 * except source, which is for the filesystem to read before rf_opts_free().
 */
struct rf_opts {
	/* public */
	const char *mountpoint;     /* where to mount (required for rf_session_mount) */
	const char *fsname;         /* -o fsname=  (source column of /proc/mounts; default:
	                             * the source argument, else the program's name) */
	const char *subtype;        /* -o subtype= (fuse.<subtype>; default: the program's
	                             * name, as program_invocation_short_name has it; ""
	                             * mounts plain "fuse", as libfuse without a subtype) */
	int foreground;             /* -f: stay in the foreground (rf_session_daemonize does
	                             * nothing); rf_opts_parse leaves it 0 without -f or -d */
	int debug;                  /* -d: log every request and reply (implies -f and
	                             * log_level=debug) */
	int allow_other;            /* -o allow_other */
	int default_permissions;    /* -o default_permissions (kernel checks modes) */
	int read_only;              /* -o ro */
	int auto_unmount;           /* -o auto_unmount (only through fusermount3) */
	unsigned long mount_flags;  /* MS_* for mount(2): -o ro,nosuid,nodev,noexec,noatime,
	                             * sync,dirsync...; default MS_NOSUID|MS_NODEV */
	int threads;                /* -o threads=N: loop threads. 0 (the default): one per
	                             * FUSE-over-io_uring queue (one per CPU) when the kernel
	                             * offers queues and the process may run on every CPU, else 1;
	                             * -s / -o single: 1 */
	uint32_t max_read;          /* -o max_read= (0: no limit) */
	uint32_t max_write;         /* -o max_write= (default 1 MiB, capped by the kernel) */
	uint32_t max_readahead;     /* -o max_readahead= (default: what the kernel offers) */
	uint32_t max_background;    /* -o max_background= (default 64) */
	uint32_t congestion_threshold; /* -o congestion_threshold= (default 3/4 of max_background) */
	uint32_t queue_depth;       /* -o queue_depth=N: requests in service per loop (default 64) */
	int transport;              /* -o transport=auto|dev|uring (RF_TRANSPORT_*) */
	uint32_t uring_depth;       /* -o uring_depth=N: entries per kernel queue (16) */
	uint32_t grace_ms;          /* -o grace_ms=N: at teardown, how long requests in service
	                             * may take before their backing I/O is cancelled (5000) */
	uint32_t poll_us;           /* -o poll_us=N: each loop busy-polls N us before sleeping
	                             * (0, the default: never; rf_loop_set_busy_poll) */
	int inline_mode;            /* -o inline=auto|always|never (RF_INLINE_*): where the
	                             * rf_backing_* calls run, see "Backing I/O" (default auto) */
	const char *fs_opts;        /* the filesystem's -o keys (declared in fs_spec), comma
	                             * separated (see rf_opts_get); NULL if none */
	int allow_root;             /* -o allow_root: the mounting user and root only. The
	                             * kernel has no such flag: the mount gets allow_other and
	                             * the runtime answers EACCES to every other uid */
	int log_level;              /* -o log_level=error|warn|info|debug (RF_LOG_*; -d: debug);
	                             * 0: not given. rf_opts_parse applies it (rf_log_set_level) */
	const char *source;         /* the first of two positional arguments, as mount(8) and
	                             * mount.fuse3 call a filesystem: "PROG SOURCE MOUNTPOINT
	                             * -o opts". Also the default fsname. NULL if not given */
	const struct rf_opt_spec *fs_spec; /* in: the filesystem's -o keys (NULL: none). Any
	                             * other key that ringfuse does not know is an error */
	int no_pin;                 /* -o pin=0: rf_session_run does not pin its loop threads.
	                             * By default, when there is one loop per kernel queue, loop i
	                             * runs on CPU i, the CPU whose requests queue i carries
	                             * (never when the process's affinity excludes a queue's CPU) */
	/* private */
	char *_owned;               /* storage behind the strings above, from rf_opts_parse */
};

/* How requests travel. AUTO: the kernel's FUSE-over-io_uring queues when it grants them
 * (Linux >= 6.14 with /sys/module/fuse/parameters/enable_uring = Y), else /dev/fuse. */
#define RF_TRANSPORT_AUTO  0
#define RF_TRANSPORT_DEV   1
#define RF_TRANSPORT_URING 2

/* Where backing calls run (rf_opts.inline_mode; "Backing I/O" below). AUTO: in place on
 * the loop thread when the backing filesystem cannot make the call wait for a device or a
 * network, else on the ring; ALWAYS: in place, whatever the filesystem; NEVER: always on the
 * ring (or the worker pool), as io_uring decides. */
#define RF_INLINE_AUTO   0
#define RF_INLINE_ALWAYS 1
#define RF_INLINE_NEVER  2

/* Defaults: one thread, 1 MiB max_write, queue depth 64, everything else off. */
void rf_opts_init(struct rf_opts *opts);

/*
 * Parse a FUSE-style command line:
 *	prog [-f] [-d] [-s] [-o opt[,opt...]] [source] mountpoint
 * -f stays in the foreground, -d is -f plus log_level=debug, -s means one thread. Every -o
 * key must be one of ringfuse's (rf_opts_help) or declared in opts->fs_spec (set it before
 * the call), with a value exactly when its declaration has one; those of fs_spec are kept
 * in opts->fs_opts. mount(8)'s "defaults" and "x-*" keys are accepted and ignored.
 * Returns 0; or -EINVAL (an unknown or malformed option, named in the message, a missing
 * mountpoint) with a message through the log (rf_log_set); or 1 when the command line
 * asked for -h/--help or -V/--version, which was printed on stdout (the program should
 * then exit 0 without mounting). Free with rf_opts_free() in every case.
 */
int rf_opts_parse(struct rf_opts *opts, int argc, char **argv);
void rf_opts_free(struct rf_opts *opts);

/*
 * Find filesystem option @key in opts->fs_opts. Returns 1 and points *value at its value
 * ("" for a bare key) or 0 if absent. *value points into static storage of @opts and
 * is valid until rf_opts_free(). @value may be NULL.
 */
int rf_opts_get(const struct rf_opts *opts, const char *key, const char **value);

/* Print ringfuse's options on stdout (rf_opts_parse does it for -h, after @spec's). */
void rf_opts_help(void);


/* ===================================================================================
 * Loop: one thread, one io_uring
 * =================================================================================== */

/*
 * Create a loop. It belongs to the thread that runs it; all its callbacks run there.
 * Returns 0 and sets *out, or -errno. Free with rf_loop_free() once it stopped running.
 */
int rf_loop_new(struct rf_loop **out);

/*
 * Run until rf_loop_stop() or until every session on the loop has ended. Returns 0, or
 * -errno if the ring failed. Loop thread.
 */
int rf_loop_run(struct rf_loop *loop);

/*
 * Process what is ready, waiting at most @timeout_ms (-1: until something happens, 0: do
 * not wait). Returns the number of completions handled, 0 on timeout, or -errno. Lets an
 * application with its own main loop drive ringfuse. Loop thread.
 */
int rf_loop_run_once(struct rf_loop *loop, int timeout_ms);

/* Ask the loop to return from rf_loop_run(). Any thread; async-signal-safe. */
void rf_loop_stop(struct rf_loop *loop);

/* Free a loop that is not running. Sessions still attached must be freed first. */
void rf_loop_free(struct rf_loop *loop);

/* Callback run on the loop thread by rf_loop_post() and timers. */
typedef void (*rf_loop_cb)(struct rf_loop *loop, void *data);

/*
 * Run @cb(@loop, @data) on the loop thread soon. Any thread: the way other threads hand
 * work to a loop (it wakes the loop through an eventfd read on its ring). Returns 0 or
 * -ENOMEM. @cb runs exactly once, also if the loop is freed first (during rf_loop_free).
 */
int rf_loop_post(struct rf_loop *loop, rf_loop_cb cb, void *data);

/* A one-shot timer. Embed it; it must stay valid until it fired or was cancelled. */
struct rf_timer {
	/* private (uint64_t: the timer behind it holds pointers, it must be 8-byte aligned) */
	uint64_t _opaque[8];
};

/* Arm @timer to call @cb(@loop, @data) after @ms milliseconds. Loop thread. 0 or -errno. */
int rf_timer_start(struct rf_loop *loop, struct rf_timer *timer, uint64_t ms, rf_loop_cb cb,
		   void *data);

/* Cancel an armed timer; its callback will not run. No-op if it already fired. Loop thread. */
void rf_timer_cancel(struct rf_timer *timer);

/*
 * Deliver SIGINT, SIGTERM, SIGHUP and SIGUSR1 to the loop through a signalfd on its ring
 * (blocking them in the calling thread, which should be the loop thread, before others are
 * created): the first three end the sessions on the loop cleanly (see rf_session_exit);
 * SIGUSR1 writes each session's statistics (rf_stats_json) to the log at warning level.
 * Returns 0 or -errno.
 */
int rf_loop_handle_signals(struct rf_loop *loop);

/*
 * Busy-poll: before each sleep, spin on the completion ring for up to @us microseconds
 * (0: never, the default), so that a request arriving meanwhile is served without the
 * wake-up of a sleeping thread — lower latency at queue depth 1, paid with a CPU that
 * spins while idle (bench/README.md has both figures). Loop thread, or before the loop
 * runs. The ringfuse option -o poll_us=N sets it on every loop of a session.
 */
void rf_loop_set_busy_poll(struct rf_loop *loop, unsigned int us);

/* ===================================================================================
 * Connection parameters negotiated at INIT
 * =================================================================================== */

/* Capability bits; each equals the kernel's FUSE_* INIT flag bit of the same name. */
#define RF_CAP_ASYNC_READ           (1ULL << 0)
#define RF_CAP_POSIX_LOCKS          (1ULL << 1)
#define RF_CAP_ATOMIC_O_TRUNC       (1ULL << 3)
#define RF_CAP_EXPORT_SUPPORT       (1ULL << 4)
#define RF_CAP_DONT_MASK            (1ULL << 6)
#define RF_CAP_SPLICE_WRITE         (1ULL << 7)
#define RF_CAP_SPLICE_MOVE          (1ULL << 8)
#define RF_CAP_SPLICE_READ          (1ULL << 9)
#define RF_CAP_FLOCK_LOCKS          (1ULL << 10)
#define RF_CAP_IOCTL_DIR            (1ULL << 11)
#define RF_CAP_AUTO_INVAL_DATA      (1ULL << 12)
#define RF_CAP_READDIRPLUS          (1ULL << 13)
#define RF_CAP_READDIRPLUS_AUTO     (1ULL << 14)
#define RF_CAP_ASYNC_DIO            (1ULL << 15)
#define RF_CAP_WRITEBACK_CACHE      (1ULL << 16)
#define RF_CAP_NO_OPEN_SUPPORT      (1ULL << 17)
#define RF_CAP_PARALLEL_DIROPS      (1ULL << 18)
#define RF_CAP_HANDLE_KILLPRIV      (1ULL << 19)
#define RF_CAP_POSIX_ACL            (1ULL << 20)
#define RF_CAP_ABORT_ERROR          (1ULL << 21)
#define RF_CAP_CACHE_SYMLINKS       (1ULL << 23)
#define RF_CAP_NO_OPENDIR_SUPPORT   (1ULL << 24)
#define RF_CAP_EXPLICIT_INVAL_DATA  (1ULL << 25)
#define RF_CAP_HANDLE_KILLPRIV_V2   (1ULL << 28)
#define RF_CAP_SETXATTR_EXT         (1ULL << 29)
#define RF_CAP_SECURITY_CTX         (1ULL << 32)
#define RF_CAP_CREATE_SUPP_GROUP    (1ULL << 34)
#define RF_CAP_HAS_EXPIRE_ONLY      (1ULL << 35)
#define RF_CAP_DIRECT_IO_ALLOW_MMAP (1ULL << 36)
#define RF_CAP_PASSTHROUGH          (1ULL << 37)
#define RF_CAP_NO_EXPORT_SUPPORT    (1ULL << 38)
#define RF_CAP_OVER_IO_URING        (1ULL << 41)

/*
 * The connection as negotiated. Passed to rf_ops.init, where the filesystem may change
 * the fields marked "in/out"; what it asks beyond what the kernel offers is dropped.
 */
struct rf_conn {
	uint32_t proto_major;       /* kernel's protocol version (read-only) */
	uint32_t proto_minor;
	uint64_t capable;           /* RF_CAP_* the kernel offers (read-only) */
	uint64_t want;              /* in/out: RF_CAP_* to enable; preset to sane defaults */
	uint32_t max_write;         /* in/out */
	uint32_t max_read;          /* in/out (0: unlimited) */
	uint32_t max_readahead;     /* in/out: at most what the kernel offered */
	uint32_t max_background;    /* in/out */
	uint32_t congestion_threshold; /* in/out */
	uint32_t time_gran;         /* in/out: timestamp granularity in ns (1..1e9, power of 10) */
	uint32_t max_pages;         /* read-only: pages per request derived from max_write */
	uint32_t max_stack_depth;   /* in/out: for RF_CAP_PASSTHROUGH (1 or 2) */
};

/* ===================================================================================
 * Ordering guarantees (what the runtime promises every handler)
 * ===================================================================================
 *
 * Terms: a request "names" an fh when it carries one (READ, WRITE, FLUSH, RELEASE[DIR],
 * FSYNC[DIR], READDIR[PLUS], GETLK/SETLK/SETLKW, IOCTL, POLL, FALLOCATE, LSEEK,
 * COPY_FILE_RANGE (two), GETATTR/SETATTR/STATX with an fh), and names its node id(s)
 * (RENAME and LINK name two, COPY_FILE_RANGE two). "Earlier" means it arrived first in
 * the session, whatever loop thread or kernel queue brought it: the order the kernel sent
 * them in, except for two requests read by two loops (two kernel queues, or two clones
 * of /dev/fuse).
 * A request is "finished" when its reply was written AND its last rf_backing_* operation
 * completed: a request answered early (EINTR) still holds its fh and node ids until then.
 *
 * Ordered, per fh:
 *  - RELEASE/RELEASEDIR: the handler runs only after every earlier request naming the fh
 *    has finished. From its arrival on, a request naming that fh value (with no other open
 *    of the same value outstanding) is answered EBADF without reaching the filesystem; so
 *    is a request naming an fh no OPEN/CREATE/OPENDIR/TMPFILE reply handed out.
 *  - FLUSH, FSYNC, FSYNCDIR: start after every earlier WRITE (and FALLOCATE) on the fh.
 *  - WRITE and FALLOCATE: start after every earlier WRITE/FALLOCATE whose byte range
 *    overlaps theirs; READ likewise waits for earlier overlapping WRITE/FALLOCATE.
 *  - COPY_FILE_RANGE: a READ of its source range on fh_in and a WRITE of its destination
 *    range on fh_out.
 * Ordered, per node id:
 *  - READ, WRITE and FALLOCATE through one fh also wait for every earlier overlapping
 *    WRITE/FALLOCATE through any other fh of the same node id: the page cache is the
 *    inode's, so a READ served first would leave the bytes the WRITE replaced cached.
 *    COPY_FILE_RANGE is there too, as a READ of its source node's range and a WRITE of
 *    its destination node's (one file's two ranges, for a copy within one file): a
 *    WRITE through any fh of the destination waits for an earlier overlapping copy, and
 *    a copy for an earlier overlapping WRITE to its source or destination.
 *  - rf_ops.forget runs only once no request naming the node id is in service; FORGETs
 *    that arrive meanwhile are summed and delivered once.
 * Concurrent (no ordering at all): non-overlapping READs and WRITEs, reads with reads,
 * other requests on different fhs or node ids, and every request that names no fh; OPEN
 * is not ordered against an earlier RELEASE of another fh of the same inode (nor does
 * the kernel order it). A request waiting for its turn is "parked": it has not reached the handler.
 * INTERRUPT: the interrupted request is marked (rf_req_interrupted), its rf_req_on_interrupt
 * hook runs on its loop, its backing I/O is cancelled (those operations end -ECANCELED);
 * a parked request is answered EINTR without reaching the filesystem (a parked RELEASE
 * still runs). An INTERRUPT that arrives before its request is applied when the request
 * arrives, or answered EAGAIN after 50 ms. Exactly one reply per request is enforced.
 * Threads: the state is per session; a request unparked by another thread is resumed on
 * its own loop thread; no lock of the runtime is held while a handler, a reply or a
 * forget runs, and a reply never runs filesystem code.
 */

/* ===================================================================================
 * Operations
 * =================================================================================== */

/*
 * An open file as the kernel and the filesystem see it. For OPEN, CREATE and OPENDIR the
 * handler sets fh and the output flags before replying; on later requests the runtime
 * passes it back filled from the request. Owned by the runtime; valid until the reply.
 */
struct rf_file {
	int flags;                  /* open(2) flags (OPEN, CREATE, OPENDIR) */
	uint64_t fh;                /* the filesystem's handle, set on open */
	uint64_t lock_owner;        /* for FLUSH, RELEASE with flock, READ/WRITE with owner */
	/* output flags of OPEN/CREATE/OPENDIR: */
	unsigned int direct_io : 1;          /* bypass the page cache for this open */
	unsigned int keep_cache : 1;         /* do not invalidate cached data on open */
	unsigned int nonseekable : 1;
	unsigned int cache_readdir : 1;      /* OPENDIR: kernel may cache directory contents */
	unsigned int noflush : 1;            /* no FLUSH on close */
	unsigned int parallel_direct_writes : 1;
	unsigned int passthrough : 1;        /* kernel passthrough to backing_id */
	/* input flags: */
	unsigned int flush : 1;              /* RELEASE: flush as well */
	unsigned int flock_release : 1;      /* RELEASE: drop flock locks of lock_owner */
	unsigned int writepage : 1;          /* WRITE: from the page cache (writeback) */
	unsigned int kill_priv : 1;          /* OPEN/CREATE with O_TRUNC, WRITE: clear suid/sgid */
	int32_t backing_id;         /* with passthrough: from rf_backing_open() */
	uint32_t poll_events;       /* POLL: the events the poller waits for (POLLIN...) */
};

/* Attributes to change in SETATTR (the to_set mask). */
#define RF_SET_MODE       (1 << 0)
#define RF_SET_UID        (1 << 1)
#define RF_SET_GID        (1 << 2)
#define RF_SET_SIZE       (1 << 3)
#define RF_SET_ATIME      (1 << 4)
#define RF_SET_MTIME      (1 << 5)
#define RF_SET_ATIME_NOW  (1 << 7)
#define RF_SET_MTIME_NOW  (1 << 8)
#define RF_SET_CTIME      (1 << 10)
#define RF_SET_KILL_SUIDGID (1 << 11)

/*
 * The operations a filesystem implements. Every member is optional: a NULL operation is
 * answered by the runtime with the protocol's default: OPEN and OPENDIR succeed with fh 0,
 * RELEASE/RELEASEDIR succeed, FORGET is a no-op, STATFS reports an empty filesystem, and
 * everything else gets ENOSYS, which the kernel remembers for FLUSH, FSYNC, ACCESS, STATX
 * and others (it then treats them as successful, or falls back, and stops sending them).
 * INTERRUPT is always handled by the runtime (see "Ordering guarantees" in README.md).
 *
 * Every request handler is called on the loop thread and must reply exactly once through
 * one of the rf_reply_* calls, either before returning or later (see "Requests and
 * replies"). A handler must not block: slow work goes to backing I/O or another thread.
 * Pointers passed in (names, buffers, struct rf_file) are valid until the reply.
 */
struct rf_ops {
	/* Connection set up; adjust conn->want and sizes. Called before any request. */
	void (*init)(void *userdata, struct rf_conn *conn);
	/* The session ends (unmount, DESTROY, exit). Called once, last. */
	void (*destroy)(void *userdata);

	void (*lookup)(struct rf_req *req, uint64_t parent, const char *name);
	/* The kernel dropped @nlookup references to @ino. No reply. */
	void (*forget)(void *userdata, uint64_t ino, uint64_t nlookup);
	void (*getattr)(struct rf_req *req, uint64_t ino, struct rf_file *fi /* NULL if none */);
	/* @to_set: RF_SET_* bits naming the fields of @attr to apply. */
	void (*setattr)(struct rf_req *req, uint64_t ino, const struct stat *attr, int to_set,
			struct rf_file *fi /* NULL if none */);
	void (*readlink)(struct rf_req *req, uint64_t ino);
	void (*mknod)(struct rf_req *req, uint64_t parent, const char *name, mode_t mode,
		      dev_t rdev);
	void (*mkdir)(struct rf_req *req, uint64_t parent, const char *name, mode_t mode);
	void (*unlink)(struct rf_req *req, uint64_t parent, const char *name);
	void (*rmdir)(struct rf_req *req, uint64_t parent, const char *name);
	void (*symlink)(struct rf_req *req, const char *target, uint64_t parent, const char *name);
	/* @flags: 0, RENAME_NOREPLACE, RENAME_EXCHANGE or RENAME_WHITEOUT. */
	void (*rename)(struct rf_req *req, uint64_t parent, const char *name, uint64_t newparent,
		       const char *newname, unsigned int flags);
	void (*link)(struct rf_req *req, uint64_t ino, uint64_t newparent, const char *newname);
	void (*open)(struct rf_req *req, uint64_t ino, struct rf_file *fi);
	/* Reply with rf_reply_buf/rf_reply_iov; rf_req_payload gives a zero-copy buffer. */
	void (*read)(struct rf_req *req, uint64_t ino, size_t size, off_t off, struct rf_file *fi);
	/* @buf holds @size bytes of data, valid until the reply. */
	void (*write)(struct rf_req *req, uint64_t ino, const void *buf, size_t size, off_t off,
		      struct rf_file *fi);
	void (*flush)(struct rf_req *req, uint64_t ino, struct rf_file *fi);
	void (*release)(struct rf_req *req, uint64_t ino, struct rf_file *fi);
	void (*fsync)(struct rf_req *req, uint64_t ino, int datasync, struct rf_file *fi);
	void (*opendir)(struct rf_req *req, uint64_t ino, struct rf_file *fi);
	/* Reply with an rf_dirbuf (rf_reply_dirbuf) or rf_reply_buf of packed entries. */
	void (*readdir)(struct rf_req *req, uint64_t ino, size_t size, off_t off,
			struct rf_file *fi);
	/* Like readdir, with rf_dirbuf_add_plus entries; each counts as a lookup. */
	void (*readdirplus)(struct rf_req *req, uint64_t ino, size_t size, off_t off,
			    struct rf_file *fi);
	void (*releasedir)(struct rf_req *req, uint64_t ino, struct rf_file *fi);
	void (*fsyncdir)(struct rf_req *req, uint64_t ino, int datasync, struct rf_file *fi);
	void (*statfs)(struct rf_req *req, uint64_t ino);
	/* @flags: XATTR_CREATE/XATTR_REPLACE. */
	void (*setxattr)(struct rf_req *req, uint64_t ino, const char *name, const void *value,
			 size_t size, int flags);
	/* @size 0: reply rf_reply_xattr_size with the needed size; else rf_reply_buf or ERANGE. */
	void (*getxattr)(struct rf_req *req, uint64_t ino, const char *name, size_t size);
	void (*listxattr)(struct rf_req *req, uint64_t ino, size_t size);
	void (*removexattr)(struct rf_req *req, uint64_t ino, const char *name);
	void (*access)(struct rf_req *req, uint64_t ino, int mask);
	/* Create and open; reply with rf_reply_create. */
	void (*create)(struct rf_req *req, uint64_t parent, const char *name, mode_t mode,
		       struct rf_file *fi);
	void (*getlk)(struct rf_req *req, uint64_t ino, struct rf_file *fi, struct flock *lock);
	/* @sleep: SETLKW. A waiting lock must not block the loop: reply when granted. */
	void (*setlk)(struct rf_req *req, uint64_t ino, struct rf_file *fi, struct flock *lock,
		      int sleep);
	/* BSD flock(2) (with RF_CAP_FLOCK_LOCKS): @op is LOCK_SH/LOCK_EX/LOCK_UN [|LOCK_NB]. */
	void (*flock)(struct rf_req *req, uint64_t ino, struct rf_file *fi, int op);
	void (*bmap)(struct rf_req *req, uint64_t ino, size_t blocksize, uint64_t idx);
	void (*ioctl)(struct rf_req *req, uint64_t ino, unsigned int cmd, void *arg,
		      struct rf_file *fi, unsigned int flags, const void *in_buf, size_t in_size,
		      size_t out_size);
	/* @ph: non-NULL when the kernel wants a wakeup; pass to rf_notify_poll later. */
	void (*poll)(struct rf_req *req, uint64_t ino, struct rf_file *fi, uint64_t ph);
	void (*fallocate)(struct rf_req *req, uint64_t ino, int mode, off_t off, off_t len,
			  struct rf_file *fi);
	/* Reply with rf_reply_write (bytes copied). */
	void (*copy_file_range)(struct rf_req *req, uint64_t ino_in, off_t off_in,
				struct rf_file *fi_in, uint64_t ino_out, off_t off_out,
				struct rf_file *fi_out, size_t len, int flags);
	void (*lseek)(struct rf_req *req, uint64_t ino, off_t off, int whence, struct rf_file *fi);
	/* O_TMPFILE: create an unnamed file and open it; reply with rf_reply_create. */
	void (*tmpfile)(struct rf_req *req, uint64_t parent, mode_t mode, struct rf_file *fi);
	/* @mask: STATX_* wanted; reply with rf_reply_statx. When NULL the runtime answers
	 * ENOSYS and the kernel falls back to GETATTR from then on. */
	void (*statx)(struct rf_req *req, uint64_t ino, int flags, int mask, struct rf_file *fi);
	void (*syncfs)(struct rf_req *req, uint64_t ino);
	/* Data the filesystem asked for with rf_notify_retrieve. No reply. */
	void (*retrieve_reply)(void *userdata, void *cookie, uint64_t ino, off_t off,
			       const void *buf, size_t size);
};

/* ===================================================================================
 * Session: one FUSE connection
 * =================================================================================== */

/*
 * Create a session serving @ops with @userdata. @opts is copied. Returns 0 and sets *out,
 * or -errno. The session is idle until rf_session_mount (or rf_session_set_fd) and
 * rf_session_attach. Free with rf_session_free().
 */
int rf_session_new(const struct rf_ops *ops, size_t ops_size, void *userdata,
		   const struct rf_opts *opts, struct rf_session **out);

/*
 * Mount at opts->mountpoint: with mount(2), or through fusermount3 when mount(2) is not
 * permitted (no CAP_SYS_ADMIN; fusermount3 passes the device fd back) and for
 * auto_unmount. The type is fuse.<subtype> ("fuse" for an empty subtype), the source
 * fsname (see struct rf_opts).
 * Returns 0 or -errno with a message through the log (missing mountpoint, no /dev/fuse,
 * permission...).
 */
int rf_session_mount(struct rf_session *se);

/*
 * Serve an already open channel instead of mounting: @fd is a /dev/fuse fd or, in tests,
 * one end of a SOCK_SEQPACKET pair where the peer speaks the FUSE protocol. The session
 * takes ownership of @fd. Returns 0 or -errno.
 */
int rf_session_set_fd(struct rf_session *se, int fd);

/* The device fd (or -1 before mount/set_fd). The session owns it. Once the session ended,
 * the number stays open on /dev/null until rf_session_free (so another thread still using
 * it never writes into a file that reused the number). */
int rf_session_fd(const struct rf_session *se);

/*
 * Custom loops (as libfuse's fuse_session_receive_buf/fuse_session_process_buf): the
 * application's thread reads each request and hands it back, instead of the loop reading
 * the channel. rf_session_attach_manual attaches @se (mounted or given an fd) to @loop in
 * that mode: the loop never reads the device, replies are written to it at once by the
 * thread that makes them (plain writes: no ring batching and no FUSE-over-io_uring), and
 * the loop's other work (posts from other threads, timers, teardown) runs inside
 * rf_session_receive/rf_session_process and right after a reply made on the driving
 * thread. One thread drives the session (receive and process, never concurrently) and
 * does not run @loop otherwise; replies may come from any thread.
 * Handlers run only inside rf_session_process, one request per call (frameworks such as
 * pyfuse3 rely on it): the work the runtime defers comes back through rf_session_receive
 * as a message of its own, to be passed to rf_session_process like any other: a request
 * the ordering chains parked, once it may run (its bytes as the kernel sent them), and
 * the forgets held back for requests in service (a BATCH_FORGET of unique 0, one out at a
 * time: rf_session_process runs the forgets it carried as handed out, whatever the bytes
 * passed back, and drops any other of unique 0). When such work appears while the
 * application waits for the device in its own event loop, the runtime makes the device
 * readable (it asks the kernel for a NOTIFY_REPLY of 0 bytes of the parked request's file,
 * which rf_session_receive reads and drops). A reply made on another thread
 * while the application is in neither call, if it resumed work, does the same.
 * The end is as for a running loop: after an unmount or rf_session_exit, rf_session_free
 * drains, releases and forgets through the filesystem's operations (from the thread that
 * calls it).
 */
int rf_session_attach_manual(struct rf_session *se, struct rf_loop *loop);
/* The buffer size rf_session_receive needs (a WRITE of max_write and its headers). */
size_t rf_session_bufsize(const struct rf_session *se);
/*
 * Wait for the next request and copy it, whole, into @buf (@size >= rf_session_bufsize).
 * Driving thread. Returns its length; 0 once the connection ended (unmounted or aborted,
 * or the session ended); -EINTR when a signal interrupted the wait or rf_session_exit was
 * called (the session then ends on the next call), or when the device was readable only
 * with the runtime's own wake-up (call again: an application that waits for the fd in its
 * own event loop is not held in this call); -EAGAIN when called from inside
 * rf_session_process (a handler that runs the application's event loop, as
 * qemu-storage-daemon's do) and nothing is ready: such a call never waits, as the
 * request in service below it may be what the rest waits for; other -errno on a read
 * error.
 */
ssize_t rf_session_receive(struct rf_session *se, void *buf, size_t size);
/*
 * Dispatch one request as rf_session_receive returned it (@msg is copied; the caller
 * may reuse it at once). Handlers run on this thread, as on a loop thread. Returns 0
 * (a malformed request is answered EIO as always), -EINVAL (not attached manually, or
 * shorter than a header), -E2BIG (longer than the session's buffer allows), -EBUSY
 * (every request slot, opts.queue_depth of them, is in service: the request was answered
 * ENOMEM, as libfuse answers one it cannot allocate, and logged), -ENOTCONN (the
 * session is ending).
 */
int rf_session_process(struct rf_session *se, const void *msg, size_t len);

/*
 * CUSE: a character device served from userspace instead of a mounted filesystem
 * (docs/kernel-notes.md, "CUSE"). The kernel creates /dev/<DEVNAME> once the session
 * answers CUSE_INIT; its opens, reads, writes, ioctls, polls, flushes, fsyncs and
 * releases come to the session's rf_ops (open, read, write, ioctl, poll, flush, fsync,
 * release) with ino 0 and nothing else. rf_ops.init runs at CUSE_INIT with a conn whose
 * capable is 0 and whose max_read/max_write the filesystem may lower.
 */
#define RF_CUSE_UNRESTRICTED_IOCTL (1u << 0)  /* ioctls of any command: the handler sees
					       * FUSE_IOCTL_UNRESTRICTED and may answer
					       * with a retry (the kernel's FUSE_IOCTL_RETRY) */
struct rf_cuse_info {
	uint32_t dev_major;          /* 0: the kernel picks a free major (and minor) */
	uint32_t dev_minor;
	/* "KEY=value" strings for the kernel; "DEVNAME=name" is required (the device's
	 * name under /dev, at most 4 KiB in all). Copied: the caller keeps them. */
	const char *const *dev_info;
	unsigned int dev_info_argc;
	unsigned int flags;          /* RF_CUSE_* */
};

/*
 * Make @se a CUSE session: rf_session_mount then opens /dev/cuse (no mountpoint; it
 * fails with -ENODEV and a message naming CONFIG_CUSE when the kernel has no CUSE) and
 * rf_session_set_fd serves a channel that speaks CUSE (a test's fake kernel). Call
 * before either, on the thread that set the session up. Returns 0, -EINVAL for a
 * missing or malformed DEVNAME or info past 4 KiB (logged), -EBUSY once the session has
 * a channel, -ENOMEM.
 */
int rf_session_set_cuse(struct rf_session *se, const struct rf_cuse_info *ci);

/*
 * Hand the mounted channel over to the caller, for a session that will never be served
 * (libfuse's fuse_open_channel: mount and return the fd): returns the device fd, which the
 * caller now owns, and the session forgets the mount (rf_session_free neither unmounts nor
 * closes it). -EBADF if the session has no fd, -EBUSY once attached to a loop. Any thread,
 * before rf_session_attach.
 */
int rf_session_take_fd(struct rf_session *se);

/*
 * Start serving on @loop (the session's first loop; INIT is handled there). Loop thread,
 * or before the loop runs. Returns 0 or -errno.
 */
int rf_session_attach(struct rf_session *se, struct rf_loop *loop);

/*
 * Handlers that may block, as on libfuse's multi-threaded loop: serve @se on loops that
 * each hold one request at a time, @threads of them for requests, so a handler that
 * blocks (a lock wait, a slow backend) delays no other request: a loop asks the kernel
 * for its next request only once its request is finished, so nothing queues behind a
 * busy one. With the kernel's queues, max(@threads, queues) extra loops serve them (queue
 * i on loops i, i + queues, ...) and the first loop serves /dev/fuse alone (INIT, FORGET,
 * INTERRUPT, notification replies); on /dev/fuse every loop reads its own clone of the
 * fd. An INTERRUPT reaches a handler blocked on its loop: the hook set with
 * rf_req_on_interrupt is then called on the thread that read the INTERRUPT (at most once
 * per request, as always). The loops are not pinned. Call before rf_session_attach;
 * rf_session_run then starts the loops (or rf_session_start_loops, for an application
 * that runs the first loop itself). Returns 0, -EINVAL (@threads < 1), -EBUSY once attached.
 */
int rf_session_set_blocking(struct rf_session *se, int threads);

/*
 * For an application that runs the first loop itself (rf_session_attach, then
 * rf_loop_run): start the session's other loop threads (opts.threads - 1, or those of
 * rf_session_set_blocking) after rf_session_attach and before running the first loop.
 * They inherit the calling thread's signal mask: block the signals first if the first
 * loop's thread is to get them. Returns 0 or -errno (the session is then told to end).
 */
int rf_session_start_loops(struct rf_session *se);

/* After the first loop returned: end the other loops (they drain their requests on their
 * own threads), join and free them. Also done by rf_session_free. */
void rf_session_stop_loops(struct rf_session *se);

/*
 * Ask the session to end: it stops taking requests, answers what is in flight, runs
 * destroy and releases the loop. Any thread; async-signal-safe.
 */
void rf_session_exit(struct rf_session *se);

/* 1 once the session has ended (unmounted, aborted or exited), else 0. */
int rf_session_ended(const struct rf_session *se);

/* Unmount if this session mounted and is still mounted. Returns 0 or -errno. */
int rf_session_unmount(struct rf_session *se);

/* Free a session that has ended or was never attached; unmounts first if needed. */
void rf_session_free(struct rf_session *se);

/* The userdata given to rf_session_new. */
void *rf_session_userdata(const struct rf_session *se);

/*
 * Convenience for main(): create loops (opts->threads), attach, handle signals, run until
 * unmount or a signal, unmount and return 0 or -errno: -ECONNABORTED when the connection
 * was aborted (fusectl's abort, or the kernel ending it with the mount in place; the
 * runtime logged it). Blocks the calling thread.
 */
int rf_session_run(struct rf_session *se);

/*
 * Daemon mode, between rf_session_mount() and rf_session_run(), for a session whose
 * options were not -f (opts.foreground; with -f it does nothing and returns 0). Forks:
 * the child detaches (setsid, chdir "/", stdin/stdout/stderr to /dev/null once it is
 * serving) and returns 0, to go on with rf_session_run(); the parent never returns: it
 * exits 0 once the child serves the kernel's INIT (the mount is live and answered; the
 * kernel holds other requests until the INIT reply), or exits non-zero if the child ended
 * before that, unmounting what it left. Until INIT the child's messages still reach the
 * terminal; after it, the default log goes to syslog. It wraps the session's rf_ops.init
 * to know that moment, so one session per process detaches. Call it before any thread
 * is created (before rf_session_run). Returns -errno if it could not fork.
 */
int rf_session_daemonize(struct rf_session *se);

/*
 * Everything main() of a simple filesystem needs: parse argv (no filesystem options:
 * every -o key must be ringfuse's), create, mount, detach unless -f, run, free.
 * Returns a process exit status: 0 after a clean unmount or a signal (or -h, -V), 1 on
 * any error, an abort of the connection (fusectl) included.
 */
int rf_main(int argc, char **argv, const struct rf_ops *ops, size_t ops_size,
	    void *userdata);

/*
 * rf_main for options already parsed by rf_opts_parse (with the filesystem's fs_spec):
 * create, mount, detach unless -f, run, free. @opts stays the caller's (rf_opts_free).
 * Returns a process exit status, as rf_main.
 */
int rf_main_opts(const struct rf_opts *opts, const struct rf_ops *ops, size_t ops_size,
		 void *userdata);

/* ===================================================================================
 * Requests and replies
 * =================================================================================== */

/* The caller of a request. */
struct rf_ctx {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	mode_t umask;               /* for CREATE/MKNOD/MKDIR/TMPFILE, else 0 */
};

/* The caller's credentials. Valid until the reply. */
const struct rf_ctx *rf_req_ctx(const struct rf_req *req);

/*
 * The caller's supplementary groups, read from /proc/<pid>/status (the protocol carries
 * only one group). Returns the number of groups (which may exceed @size; only @size are
 * stored) or -errno. This reads a file: call it only where it matters, not per request.
 */
int rf_req_groups(const struct rf_req *req, gid_t *list, int size);

/* The userdata of the request's session. */
void *rf_req_userdata(const struct rf_req *req);
struct rf_session *rf_req_session(const struct rf_req *req);
/* The loop the request arrived on (where its reply and backing I/O run). */
struct rf_loop *rf_req_loop(const struct rf_req *req);
/* The kernel's request id and opcode, for logs. */
uint64_t rf_req_unique(const struct rf_req *req);
uint32_t rf_req_opcode(const struct rf_req *req);

/* 1 if the kernel interrupted this request (the caller got a signal), else 0. Any thread. */
int rf_req_interrupted(const struct rf_req *req);

/*
 * Call @cb(@req, @data) on the loop thread when the request is interrupted (at once if it
 * already was). Pass NULL to clear it before replying from another thread.
 */
typedef void (*rf_interrupt_cb)(struct rf_req *req, void *data);
void rf_req_on_interrupt(struct rf_req *req, rf_interrupt_cb cb, void *data);

/*
 * A buffer inside the request's reply where data can be produced in place: fill it and
 * reply with rf_reply_buf(req, the same pointer, n) and nothing is copied. *cap receives
 * its size (at least the READ size asked for). Valid until the reply.
 */
void *rf_req_payload(struct rf_req *req, size_t *cap);

/*
 * The request's own scratch memory: RF_REQ_SCRATCH bytes in its slot, for the state a
 * handler carries from its call to its backing callbacks (what it would otherwise malloc
 * per request and free in the last callback). Returns the area with its first @size bytes
 * zeroed, or NULL if @size > RF_REQ_SCRATCH. Every call returns the same area, zeroing it
 * again: one user per request. Valid for as long as @req is: in the handler until the
 * reply, and in each backing callback of the request until it returns (even after an
 * early reply); aligned for any type. Any thread; nothing to free.
 */
#define RF_REQ_SCRATCH 512
void *rf_req_scratch(struct rf_req *req, size_t size);

/*
 * Replies. Each request gets exactly one, from the loop thread or from any other thread
 * (the reply is then handed to the loop, which writes it). After the call the request is
 * gone: do not touch @req or the arguments it carried. Data passed by pointer is copied
 * (unless it is already in rf_req_payload), so it may be freed when the call returns.
 * Each returns 0, or -errno if the reply could not be encoded (the kernel then gets EIO;
 * the request is finished either way). A second reply is a bug: it aborts in debug builds
 * and is logged and dropped otherwise. A reply call never runs filesystem code: requests
 * it unblocks (a parked RELEASE) and FORGETs it lets go run later, from the loop, so a
 * filesystem may hold its own lock across rf_reply_*().
 */

/* An error (negative errno, -1..-511) or success with no data for @err == 0. */
int rf_reply_err(struct rf_req *req, int err);
/* For FORGET-like requests that get no reply; frees the request. */
void rf_reply_none(struct rf_req *req);

/* Timeouts are in seconds; 0 means the kernel asks again on every use. */
struct rf_entry {
	uint64_t ino;               /* node id; 0 = negative entry (cached ENOENT) */
	uint64_t generation;        /* with ino, unique over the filesystem's lifetime */
	struct stat attr;
	double attr_timeout;
	double entry_timeout;
};

/* LOOKUP, MKNOD, MKDIR, SYMLINK, LINK: the kernel counts one lookup of e->ino. */
int rf_reply_entry(struct rf_req *req, const struct rf_entry *e);
/* CREATE and TMPFILE: an entry plus the open file (fi as passed to the handler). */
int rf_reply_create(struct rf_req *req, const struct rf_entry *e, const struct rf_file *fi);
int rf_reply_attr(struct rf_req *req, const struct stat *attr, double timeout);
int rf_reply_statx(struct rf_req *req, const struct statx *stx, double timeout);
int rf_reply_readlink(struct rf_req *req, const char *target);
/* OPEN, OPENDIR. */
int rf_reply_open(struct rf_req *req, const struct rf_file *fi);
/* WRITE, COPY_FILE_RANGE: bytes written. */
int rf_reply_write(struct rf_req *req, size_t count);
/* READ, READDIR, GETXATTR, LISTXATTR, IOCTL without output args: the data. */
int rf_reply_buf(struct rf_req *req, const void *buf, size_t size);
int rf_reply_iov(struct rf_req *req, const struct iovec *iov, int count);
int rf_reply_statfs(struct rf_req *req, const struct statvfs *st);
/* GETXATTR/LISTXATTR with size 0: the size needed. */
int rf_reply_xattr_size(struct rf_req *req, size_t size);
int rf_reply_lock(struct rf_req *req, const struct flock *lock);
int rf_reply_bmap(struct rf_req *req, uint64_t idx);
int rf_reply_lseek(struct rf_req *req, off_t off);
int rf_reply_poll(struct rf_req *req, unsigned int revents);
int rf_reply_ioctl(struct rf_req *req, int result, const void *buf, size_t size);

/* ===================================================================================
 * Backing I/O: the filesystem's own file operations, on the request's ring
 * =================================================================================== */

/*
 * A handler that works on real files (a passthrough, a cache) submits the work here
 * instead of calling read(2)/fsync(2)/openat(2) on the loop thread. Each call queues one
 * io_uring operation on the loop the request arrived on, attached to @req; the request
 * completes from its CQE. Rules, for every rf_backing_* call:
 *  - Loop thread of @req. Start them before the reply (from the handler or from the
 *    callback of an earlier backing operation of the same request). The request may be
 *    answered while some are still running (e.g. EINTR from the interrupt hook): it then
 *    keeps its fh and inodes until the last one completed, so RELEASE/FORGET never run
 *    under a backing read (see "Ordering guarantees"). On /dev/fuse such a reply goes out
 *    at once; on the kernel's io_uring queues it is committed when they complete. Never
 *    leave a read into rf_req_payload() running behind a reply that uses the payload.
 *  - At most RF_BACKING_MAX operations per request at once; one more returns -EBUSY.
 *  - Returns 0 and later calls @cb(@req, res, @data) exactly once on the loop thread, with
 *    res = the operation's result (>= 0) or -errno; or returns -errno and never calls @cb.
 *  - @cb NULL means "reply for me" from the result: the documented default reply of each
 *    call below. An operation cancelled by an INTERRUPT ends with -ECANCELED, and the
 *    default reply is then -EINTR.
 *  - Buffers and paths passed in must stay valid until @cb runs (or the default reply).
 *
 * Where the call runs (-o inline=, rf_opts.inline_mode). A call on a file of a local
 * filesystem that never waits for a device (its dentries, inodes and pages are in memory)
 * costs one system call on the loop thread, against a hand-off to an io_uring worker
 * thread (two context switches) when io_uring cannot do it without blocking: openat with a
 * path, unlinkat, mkdirat, renameat2, linkat, symlinkat and statx always go to a worker,
 * and so does every read and write on tmpfs. So each call is run either in place or on
 * the ring, decided from the filesystem of the fd it works on (@dirfd for path calls, fd
 * N for AT_FDCWD with "/proc/self/fd/N"), which the runtime learns with one fstatfs(2)
 * the first time it sees an fd and then keeps per fd and per filesystem:
 *  - tmpfs, ramfs: every call in place (nothing there waits for a device);
 *  - ext2/3/4, xfs, btrfs, f2fs: path calls in place, openat first with RESOLVE_CACHED (a
 *    lookup that would read the disk falls back to the ring); read, write, fsync and
 *    close on the ring, where io_uring does them without blocking or in a worker;
 *  - anything else (NFS, CIFS, FUSE, overlay, unknown): the ring.
 * In-place calls on a disk filesystem are timed (two clock reads); one whose calls took
 * more than 2 ms 8 times in a window of 256 (the disk was read) is demoted to the ring for
 * 1 s, then 2, 4... up to 64 s, and tried again. Memory filesystems are not timed: a slow
 * call there is the thread losing its CPU, which a worker thread would not give back. With inline=always every call runs in place (a slow source then
 * stalls the loop: for measurements); with inline=never none does.
 * A call done in place still reports like one on the ring: @cb runs later, on the loop
 * thread, after the call returned; with @cb NULL the default reply is sent before the call
 * returns (the request may then be finished: do not touch @req after a 0 return).
 * rf_stats counts the calls by where they ran (backing_ring, backing_inline,
 * backing_worker).
 */
#define RF_BACKING_MAX 4
typedef void (*rf_backing_cb)(struct rf_req *req, int res, void *data);

/* pread @size bytes at @off from @fd straight into the request's reply buffer
 * (rf_req_payload): no copy. Default reply: the bytes read, or the error.
 * On memory filesystems (tmpfs, ramfs), which io_uring can only serve from a worker
 * thread, the copy is done in place (see "Where the call runs" above). */
int rf_backing_read(struct rf_req *req, int fd, size_t size, off_t off, rf_backing_cb cb,
		    void *data);
/* pwrite. Default reply: rf_reply_write(res), or the error. */
int rf_backing_write(struct rf_req *req, int fd, const void *buf, size_t size, off_t off,
		     rf_backing_cb cb, void *data);
/* fsync/fdatasync. Default reply: rf_reply_err(res). */
int rf_backing_fsync(struct rf_req *req, int fd, int datasync, rf_backing_cb cb, void *data);
/* fallocate. Default reply: rf_reply_err(res). */
int rf_backing_fallocate(struct rf_req *req, int fd, int mode, off_t off, off_t len,
			 rf_backing_cb cb, void *data);
/* ftruncate (IORING_OP_FTRUNCATE, kernel >= 6.9; else the worker path). Default reply:
 * rf_reply_err(res). */
int rf_backing_ftruncate(struct rf_req *req, int fd, off_t len, rf_backing_cb cb, void *data);
/* openat: res is the new fd (owned by the caller, O_CLOEXEC added). @cb required. */
int rf_backing_openat(struct rf_req *req, int dirfd, const char *path, int flags, mode_t mode,
		      rf_backing_cb cb, void *data);
/* close. Default reply: rf_reply_err(res). */
int rf_backing_close(struct rf_req *req, int fd, rf_backing_cb cb, void *data);
/* FLUSH: what close(2) of a duplicate of @fd would report (network filesystems report
 * delayed write errors there). On a memory or disk filesystem (the classes of "Where the
 * call runs"), which has no flush method, it completes with 0 without any system call,
 * except with -o inline=never. It leaves POSIX (process) locks of the server on @fd in
 * place there, where a real close would drop them: use OFD or flock locks. Default
 * reply: rf_reply_err(res). */
int rf_backing_flush(struct rf_req *req, int fd, rf_backing_cb cb, void *data);
/* Whether rf_backing_flush(@fd) has anything to do: 0 exactly where it would complete with
 * 0 without a system call (a memory or disk filesystem, and not -o inline=never), 1
 * otherwise (a network filesystem, or one the runtime cannot tell). At most one fstatfs
 * per fd number (remembered until rf_backing_forget_fd). On the thread of @req's handler.
 * An OPEN or CREATE handler may use it to set rf_file.noflush: the kernel then sends no
 * FLUSH on close(2), a round trip saved per close. noflush gives up more than the
 * backing flush, though (the kernel keeps to it only without the writeback cache):
 *  - at close the kernel neither writes back the pages a shared writable mmap dirtied
 *    nor reports their writeback errors (munmap, msync and fsync still do): set it only
 *    on opens that cannot map the file writable (not O_RDWR);
 *  - FLUSH is the only close notice of a filesystem that keeps POSIX locks itself
 *    (getlk/setlk): one that releases a lock owner's locks at FLUSH must not set it. */
int rf_backing_flush_needed(struct rf_req *req, int fd);
/* statx into @out. @cb required. */
int rf_backing_statx(struct rf_req *req, int dirfd, const char *path, int flags,
		     unsigned int mask, struct statx *out, rf_backing_cb cb, void *data);
/* Directory operations; default reply: rf_reply_err(res). */
int rf_backing_renameat2(struct rf_req *req, int olddirfd, const char *oldpath, int newdirfd,
			 const char *newpath, unsigned int flags, rf_backing_cb cb, void *data);
int rf_backing_unlinkat(struct rf_req *req, int dirfd, const char *path, int flags,
			rf_backing_cb cb, void *data);
int rf_backing_mkdirat(struct rf_req *req, int dirfd, const char *path, mode_t mode,
		       rf_backing_cb cb, void *data);
int rf_backing_symlinkat(struct rf_req *req, const char *target, int newdirfd,
			 const char *linkpath, rf_backing_cb cb, void *data);
int rf_backing_linkat(struct rf_req *req, int olddirfd, const char *oldpath, int newdirfd,
		      const char *newpath, int flags, rf_backing_cb cb, void *data);

/*
 * The runtime keeps what it learned about an fd's filesystem by fd number. Before closing
 * an fd that was given to rf_backing_* with close(2) (rf_backing_close and
 * rf_loop_close_fd forget it themselves), call rf_backing_forget_fd(fd), so that a later
 * fd with the same number on another filesystem is looked at afresh; forgetting is cheap
 * and never wrong. rf_backing_fd_inherit(fd, from) says @fd is on the same filesystem as
 * @from (a file reopened or created through @from), which saves @fd's fstatfs (@from gets
 * one the first time, if nothing is known of it yet). Any thread.
 */
void rf_backing_forget_fd(int fd);
void rf_backing_fd_inherit(int fd, int from);

/*
 * Anything io_uring cannot do asynchronously (copy_file_range, name_to_handle_at, a lock
 * that may wait...): run @fn(@arg) on a small bounded pool of worker threads owned by the
 * loop; @cb(@req, @fn's return, @data) then runs on the loop thread. @fn must return >= 0
 * or -errno and must not touch @req. Default reply: rf_reply_err(min(res, 0)). An
 * INTERRUPT cannot stop @fn; @cb still runs when it returns.
 */
int rf_backing_call(struct rf_req *req, int (*fn)(void *arg), void *arg, rf_backing_cb cb,
		    void *data);

/*
 * Close @fd through @loop's ring, outside any request (e.g. in forget, which has none).
 * The loop waits for it at teardown, so the file is closed before the loop is gone.
 * Loop thread; returns 0 or -errno (then the fd was closed synchronously).
 */
int rf_loop_close_fd(struct rf_loop *loop, int fd);

/* ===================================================================================
 * Directory buffers (READDIR / READDIRPLUS)
 * =================================================================================== */

/*
 * Packs directory entries into the request's reply buffer, without allocating.
 * Start with rf_dirbuf_init(&db, req, size) in the readdir handler, add entries until an
 * add returns 0 (full), then rf_reply_dirbuf(req, &db).
 */
struct rf_dirbuf {
	/* private */
	struct rf_req *req;
	char *buf;
	size_t size;
	size_t len;
};

void rf_dirbuf_init(struct rf_dirbuf *db, struct rf_req *req, size_t size);
/*
 * Add one READDIR entry. @off is the offset of the *next* entry (what a later readdir
 * will pass to resume after this one). Only st_ino and the S_IFMT bits of st_mode are
 * used. Returns 1 if added, 0 if the buffer is full (the entry was not added).
 */
int rf_dirbuf_add(struct rf_dirbuf *db, const char *name, const struct stat *st, off_t off);
/* Add one READDIRPLUS entry: like a LOOKUP reply (e->ino 0: no lookup counted). */
int rf_dirbuf_add_plus(struct rf_dirbuf *db, const char *name, const struct rf_entry *e,
		       off_t off);
int rf_reply_dirbuf(struct rf_req *req, const struct rf_dirbuf *db);

/* ===================================================================================
 * Notifications (filesystem -> kernel)
 * =================================================================================== */

/*
 * Each may be called from any thread. From the loop thread the write is queued on the
 * ring and runs in an io_uring worker, so the loop never waits for the kernel (an inode
 * invalidation may wait for pending writeback that this very loop must serve). From other
 * threads the write is done in the calling thread. Returns 0, or -errno (-ENOENT: the
 * kernel does not know the inode/entry; -ENOTCONN: the connection ended; -ENOSYS: the
 * kernel is too old for this notification).
 */
int rf_notify_inval_inode(struct rf_session *se, uint64_t ino, off_t off, off_t len);
int rf_notify_inval_entry(struct rf_session *se, uint64_t parent, const char *name,
			  size_t namelen);
int rf_notify_expire_entry(struct rf_session *se, uint64_t parent, const char *name,
			   size_t namelen);
int rf_notify_delete(struct rf_session *se, uint64_t parent, uint64_t child,
		     const char *name, size_t namelen);
int rf_notify_store(struct rf_session *se, uint64_t ino, off_t off, const void *buf,
		    size_t size);
/* Ask the kernel for cached data; it arrives in rf_ops.retrieve_reply with @cookie. */
int rf_notify_retrieve(struct rf_session *se, uint64_t ino, off_t off, size_t size,
		       void *cookie);
/* Wake a poller: @ph from rf_ops.poll. */
int rf_notify_poll(struct rf_session *se, uint64_t ph);
/*
 * Ask the kernel to let go of these inodes: it drops the cached names (dentries) of each
 * that nothing uses, so an inode no process has open, mapped or as its directory is
 * evicted and its FORGET comes (later, like any FORGET); inodes in use stay, silently.
 * For a filesystem whose remembered inodes cost it something (an fd, memory) to shrink
 * what it holds. At most RF_NOTIFY_PRUNE_MAX node ids per call (-EINVAL beyond, or for
 * none); -ENOSYS before kernel 6.18 (protocol 7.45).
 */
#define RF_NOTIFY_PRUNE_MAX 1024
int rf_notify_prune(struct rf_session *se, const uint64_t *nodeids, size_t count);
/*
 * Make every name the kernel caches for this mount stale at once (its next use LOOKUPs
 * again, whatever its entry timeout), e.g. after the backing store changed behind the
 * kernel's back. -ENOSYS before kernel 6.16 (protocol 7.44).
 */
int rf_notify_inc_epoch(struct rf_session *se);

/* ===================================================================================
 * Live statistics
 * =================================================================================== */

#define RF_STATS_OPCODES 64         /* FUSE opcodes 0..63; others are counted in [0] */
#define RF_STATS_ERRNOS 134         /* errno 1..133; [0] counts the errors beyond */
#define RF_STATS_LAT_BUCKETS 24     /* request latency, log2 buckets from 1 us */

/*
 * A snapshot of one session's counters since it was created. Always on: each request
 * costs a few relaxed atomic increments and two clock reads (measured in bench/README.md).
 * Latency is from the request's arrival to its reply being encoded; bucket 0 is < 1 us,
 * bucket b (1..22) is [2^(b-1), 2^b) us, bucket 23 is >= 4.19 s.
 */
struct rf_stats {
	uint64_t requests[RF_STATS_OPCODES];   /* received, by opcode */
	uint64_t errors[RF_STATS_ERRNOS];      /* replies with -errno, by errno */
	uint64_t replies;                      /* replies encoded (errors included) */
	uint64_t in_flight;                    /* requests received and not finished, now */
	uint64_t in_flight_peak;
	uint64_t parked;                       /* waiting in an ordering chain, now */
	uint64_t parked_total;                 /* ever parked */
	uint64_t parked_wait_us;               /* total time spent parked */
	uint64_t interrupts;                   /* INTERRUPTs received */
	uint64_t backing_ring;                 /* backing operations submitted on the ring */
	uint64_t backing_inline;               /* ... done in place (-o inline) */
	uint64_t backing_worker;               /* ... run by the worker pool (rf_backing_call) */
	uint64_t nodes;                        /* node ids the kernel holds lookups of, now:
						* entry replies minus FORGETs, the root
						* counted once (1 = the root alone) */
	uint64_t loop_enters;                  /* io_uring_enter calls of the session's loops */
	uint64_t loop_sqes;                    /* SQEs they queued (requests, replies, backing) */
	uint64_t latency[RF_STATS_OPCODES][RF_STATS_LAT_BUCKETS];
};

/* Copy @se's counters into @out. Any thread; the counters keep moving meanwhile, so the
 * snapshot is consistent per counter, not across them. 0, or -EINVAL. */
int rf_session_stats(const struct rf_session *se, struct rf_stats *out);

/*
 * Write @st as one line of JSON into @buf (NUL-terminated; opcodes and errnos with a
 * zero count are left out, names as in the protocol: "READ", "ENOENT"). Returns the
 * length it needed (as snprintf: a result >= @size means it was cut), or -EINVAL.
 */
int rf_stats_json(const struct rf_stats *st, char *buf, size_t size);

/* ===================================================================================
 * Object pools
 * =================================================================================== */

/*
 * A pool of fixed-size objects for per-inode state, in 64 KiB slabs mapped from the kernel
 * and unmapped as soon as they are empty (one empty slab is kept). Unlike malloc, whose
 * per-thread arenas keep freed memory resident, the memory of a pool follows the number of
 * live objects: after the kernel forgot a walk of a million names, it is gone. Objects are
 * 16-byte aligned and not zeroed. Every call is safe from any thread (one mutex per pool).
 */
struct rf_slab;

/* A pool of objects of @objsize bytes (1 .. 8192). 0, -EINVAL or -ENOMEM. */
int rf_slab_new(struct rf_slab **out, size_t objsize);
/* An object, or NULL (out of memory). Maps a new slab only when no slab has room. */
void *rf_slab_alloc(struct rf_slab *pool);
/* Give @obj (from rf_slab_alloc of the same pool) back. NULL is a no-op. */
void rf_slab_free(struct rf_slab *pool, void *obj);
/* Bytes mapped by the pool now (slabs times 64 KiB). */
size_t rf_slab_size(const struct rf_slab *pool);
/* Free the pool and every object still in it. NULL is a no-op. */
void rf_slab_destroy(struct rf_slab *pool);

/* ===================================================================================
 * Logging
 * =================================================================================== */

/*
 * Every message of the runtime goes through one sink: stderr ("ringfuse: ...") by default,
 * syslog once rf_session_daemonize() detached, or the application's rf_log_set callback.
 * A message above the level (default RF_LOG_WARNING) is dropped before it is formatted.
 * What each level means: ERR, the runtime or a session failed; WARNING, something went
 * wrong that it coped with; INFO, events of a normal life (transport, signals, a clean
 * unmount); DEBUG, per request detail (-d).
 */
enum rf_log_level { RF_LOG_ERR = 3, RF_LOG_WARNING = 4, RF_LOG_INFO = 6, RF_LOG_DEBUG = 7 };
typedef void (*rf_log_cb)(enum rf_log_level level, const char *msg, void *data);
/* Send ringfuse's log lines to @cb (NULL: back to the default sink). Process-wide. */
void rf_log_set(rf_log_cb cb, void *data);
/* Drop messages above @level from now on. Process-wide; any thread. */
void rf_log_set_level(enum rf_log_level level);
enum rf_log_level rf_log_get_level(void);
/* Log one line through the same sink and level (for filesystems; no trailing newline). */
void rf_log(enum rf_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif

/* The reusable inode table. */
#include <ringfuse/inode.h>

#endif /* RINGFUSE_H */
