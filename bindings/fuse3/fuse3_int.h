/* SPDX-License-Identifier: MIT */
/*
 * fuse3_int.h - private to the libfuse3 binding: the session, the request wrapper and the
 * worker pool that turn libfuse3's low-level API (Debian's /usr/include/fuse3 headers)
 * into calls on ringfuse's public API. Only <ringfuse.h> is used underneath.
 */
#ifndef RF_FUSE3_INT_H
#define RF_FUSE3_INT_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 314
#endif

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <fuse_lowlevel.h>
#include <ringfuse.h>

/* The loop configuration of libfuse >= 3.12 (opaque to filesystems). version_id sits
 * where fuse_loop_config_v1 has clone_fd, so a v1 struct passed by mistake is caught. */
#define RF_FUSE3_LOOP_CFG_V2 -10
struct fuse_loop_config {
	int version_id;
	int clone_fd;
	int max_idle_threads;       /* -1: idle workers are never stopped */
	unsigned int max_threads;
};

#define RF_FUSE3_DEF_MAX_THREADS 10
/* fuse_session_loop_mt's loop threads at most: each has a ring and a request buffer */
#define RF_FUSE3_MAX_LOOPS 256

/* A worker of the pool. Heap-allocated and kept until the pool is destroyed (a waker may
 * still touch ->word after the worker left): a worker that exits leaves it for the next. */
struct rf_fuse3_worker {
	struct rf_fuse3_worker *next;   /* on the idle stack or the spare list (under lock) */
	struct fuse_req *job;           /* handed over with word = RF3_W_JOB */
	atomic_uint word;               /* RF3_W_*: the hand-off, a futex */
	struct rf_fuse3_pool *pool;
};

enum { RF3_W_AWAKE, RF3_W_SLEEPING, RF3_W_JOB };

/* The worker pool of fuse_session_loop_mt: handlers run here, the ring does the I/O. */
struct rf_fuse3_pool {
	pthread_mutex_t lock;
	pthread_cond_t idle_cv;     /* a worker exited (pool_stop waits for the last) */
	struct fuse_req *head, *tail; /* queued jobs (under lock); only while no worker is idle */
	struct rf_fuse3_worker *idle; /* idle workers, the last to go idle first (warm) */
	struct rf_fuse3_worker *spare; /* structs of exited workers, for new ones */
	unsigned int nthreads;      /* workers alive */
	unsigned int nidle;         /* workers on the idle stack */
	unsigned int max_threads;
	int max_idle;               /* -1: never stop idle workers */
	bool stop;
};

/* What a request carries to its handler (pointers are valid until the reply). */
struct rf_fuse3_args {
	fuse_ino_t ino, ino2;
	const char *name, *name2;
	const void *buf;
	size_t size;
	off_t off, off2;
	uint64_t u64;
	unsigned int flags;
	int i;
	mode_t mode;
	dev_t rdev;
	struct stat attr;
	struct flock *lock;
	struct fuse_bufvec bufv;
	struct fuse_pollhandle *ph;
	void *cookie;
	void *data;                 /* retrieve_reply: a copy of the data, freed after */
};

/* The request a libfuse filesystem sees (fuse_req_t). One per rf_req, plus synthetic
 * ones for FORGET and retrieve replies (which have no rf_req). Recycled by the session:
 * see rf_fuse3_req_get()/rf_fuse3_req_put() in req.c. */
struct fuse_req {
	struct fuse_session *se;
	struct rf_req *r;           /* NULL for FORGET and retrieve replies */
	int op;                     /* RF3_OP_* */
	atomic_int state;           /* RF3_REQ_* */
	struct fuse_ctx ctx;
	struct rf_file *rfi, *rfi2; /* the runtime's open files, for replies that set them */
	struct fuse_file_info fi, fi2;
	struct rf_fuse3_args a;
	/* interrupt: the filesystem's callback, under ilock (the loop thread calls it) */
	pthread_mutex_t ilock;
	fuse_interrupt_func_t ifunc;
	void *idata;
	bool interrupted;
	struct fuse_req *next;      /* in a free list or parked */
	/* with mt: the fhs and node ids this request keeps busy until its handler returns
	 * (see hold_* in req.c) */
	uint64_t held[4];
	uint8_t nheld_fh, nheld;
	struct fuse_req *all_next;  /* every wrapper of the session, for fuse_session_destroy */
};

enum { RF3_REQ_FREE, RF3_REQ_LIVE };

enum {
	RF3_OP_LOOKUP = 1, RF3_OP_FORGET, RF3_OP_GETATTR, RF3_OP_SETATTR, RF3_OP_READLINK,
	RF3_OP_MKNOD, RF3_OP_MKDIR, RF3_OP_UNLINK, RF3_OP_RMDIR, RF3_OP_SYMLINK,
	RF3_OP_RENAME, RF3_OP_LINK, RF3_OP_OPEN, RF3_OP_READ, RF3_OP_WRITE, RF3_OP_FLUSH,
	RF3_OP_RELEASE, RF3_OP_FSYNC, RF3_OP_OPENDIR, RF3_OP_READDIR, RF3_OP_RELEASEDIR,
	RF3_OP_FSYNCDIR, RF3_OP_STATFS, RF3_OP_SETXATTR, RF3_OP_GETXATTR,
	RF3_OP_LISTXATTR, RF3_OP_REMOVEXATTR, RF3_OP_ACCESS, RF3_OP_CREATE, RF3_OP_GETLK,
	RF3_OP_SETLK, RF3_OP_BMAP, RF3_OP_IOCTL, RF3_OP_POLL, RF3_OP_RETRIEVE_REPLY,
	RF3_OP_FLOCK, RF3_OP_FALLOCATE, RF3_OP_READDIRPLUS, RF3_OP_COPY_FILE_RANGE,
	RF3_OP_LSEEK,
};

struct fuse_pollhandle {
	uint64_t kh;
	struct fuse_session *se;
};

/* Handlers in service per fh or node id, and what waits for them (RELEASE, FORGET). */
#define RF3_HOLD_BUCKETS 256
struct rf_fuse3_hold {
	uint64_t key;
	unsigned int busy;
	struct fuse_req *parked;    /* RELEASE/RELEASEDIR or FORGET waiting for busy == 0 */
	struct rf_fuse3_hold *next;
};

/* One libfuse session. Lifetime: fuse_session_new .. fuse_session_destroy. The
 * ringfuse session is created by fuse_session_mount (it needs the mountpoint). */
struct fuse_session {
	struct fuse_lowlevel_ops op;
	void *userdata;
	struct rf_opts opts;        /* from the options given to fuse_session_new */
	char *strs;                 /* storage behind opts' strings */
	char *mountpoint;
	char *fsname, *subtype;     /* owned copies behind opts.fsname/subtype */
	uid_t owner;                /* who created the session (for allow_root) */
	int debug;
	int deny_others;            /* -o allow_root */
	struct rf_session *rs;
	struct rf_loop *loop;       /* the ring loop, once a loop function ran */
	pthread_t loop_thread;
	atomic_bool in_loop;
	atomic_int exited;
	int error;                  /* what the loop functions return (INIT refused) */
	atomic_int signal;          /* the signal that ended the loop (fuse3_signal.h), or 0 */
	bool got_init, destroyed;
	struct fuse_conn_info conn;
	struct rf_fuse3_pool *pool; /* non-NULL while fuse_session_loop_mt runs its pool */
	struct rf_fuse3_pool *pool_mem; /* its storage, kept until fuse_session_destroy */
	/* mt_loops (the default; -o mt_pool clears it): fuse_session_loop_mt runs blocking
	 * ring loops instead of the pool (rf_session_set_blocking); mt: they run, many
	 * threads take wrappers */
	bool mt_loops, mt;
	bool parallel;              /* more than one thread runs handlers (a loop runs) */
	/* request wrappers: the loop thread's FIFO of free ones, and the ones other threads
	 * finished (retired, under rlock), which the loop thread takes back in bulk; with
	 * mt, every loop thread takes and gives back under rlock */
	struct fuse_req *free_head, *free_tail;
	pthread_mutex_t rlock;
	struct fuse_req *retired;
	atomic_bool has_retired;
	struct fuse_req *all;       /* every wrapper allocated (->all_next), under rlock */
	struct rf_ops rops;         /* the runtime's table: a member per libfuse op set */
	size_t (*node_count)(void *userdata); /* a high-level session's nodes (SIGUSR1) */
	/* FORGETs run on the ring's thread, not the pool: set by the high-level layer, whose
	 * forget never blocks nor calls the filesystem. A forget storm (drop_caches) would
	 * otherwise queue one wrapper per forgotten node for the workers. */
	bool forget_inline;
	pthread_rwlock_t *path_lock;        /* a high-level session's (rf_fuse3_run) */
	pthread_mutex_t hlock;      /* the two hold tables */
	struct rf_fuse3_hold *fh_holds[RF3_HOLD_BUCKETS];   /* by fh (RELEASE waits) */
	struct rf_fuse3_hold *ino_holds[RF3_HOLD_BUCKETS];  /* by node id (FORGET waits) */
	struct rf_fuse3_hold *hold_free; /* unused holds, for the next (as many as ever live) */
	struct rf_fuse3_cuse *cuse; /* a CUSE session's device (cuse.c), else NULL */
	bool custom;                /* driven by fuse_session_receive_buf/process_buf */
	/* custom loops (session.c): the runtime starts a handler only inside
	 * fuse_session_process_buf, one per call (pyfuse3 awaits the one a call started,
	 * and loses any other); the forgets of one call reach the filesystem together at
	 * its end */
	unsigned int processing;    /* a depth: a handler may nest a call (qemu) */
	bool custom_ended;          /* receive_buf saw the connection end */
	struct fuse_forget_data *forgets;
	size_t nforgets, forgets_cap;
};

/* cuse.c */
const struct rf_cuse_info *rf_fuse3_cuse_info(const struct fuse_session *se);
void rf_fuse3_cuse_inited(struct fuse_session *se);
void rf_fuse3_cuse_free(struct fuse_session *se);

/* req.c: wrappers (taken on the loop thread, put back by the reply), holds, dispatch */
struct fuse_req *rf_fuse3_req_get(struct fuse_session *se, struct rf_req *r, int op);
void rf_fuse3_req_put(struct fuse_req *req);
void rf_fuse3_fi_from_rf(struct fuse_file_info *fi, const struct rf_file *rfi);
void rf_fuse3_fi_arg(struct fuse_req *req, struct rf_file *rfi);
void rf_fuse3_dispatch(struct fuse_req *req);
void rf_fuse3_run_job(struct fuse_req *req);
void rf_fuse3_free_holds(struct fuse_session *se);
void rf_fuse3_free_reqs(struct fuse_session *se);

/* init.c */
void rf_fuse3_on_init(void *userdata, struct rf_conn *c);
void rf_fuse3_on_destroy(void *userdata);
unsigned int rf_fuse3_caps_from_rf(uint64_t rf);
uint64_t rf_fuse3_caps_to_rf(unsigned int caps);

/* session.c: a forget in a custom loop (batched per fuse_session_process_buf); true if a
 * RELEASE(DIR) of @ino is the teardown's in a custom loop, not passed to the filesystem */
void rf_fuse3_custom_forget(struct fuse_session *se, uint64_t ino, uint64_t nlookup);
bool rf_fuse3_custom_end_release(struct fuse_session *se, uint64_t ino, bool dir);

/* ops.c: the runtime's table for the filesystem's ops; run a wrapped request's handler */
void rf_fuse3_fill_ops(struct fuse_session *se);
void rf_fuse3_run(struct fuse_req *req);

/* reply.c, for the high-level layer: the reply payload of a READ, READDIR or READDIRPLUS,
 * at least @size bytes, to fill in place (fuse_reply_buf then copies nothing), or NULL */
void *rf_fuse3_reply_space(fuse_req_t req, size_t size);

/* loop.c */
void rf_fuse3_pool_submit(struct rf_fuse3_pool *pool, struct fuse_req *req);

/* Log that a libfuse function is not available on ringfuse (once per function). */
void rf_fuse3_unsupported(const char *func, const char *why);

/* On the thread that runs the loop, or drives the custom loop (fuse_session_receive_buf). */
static inline bool rf_fuse3_on_loop(const struct fuse_session *se)
{
	return (atomic_load(&se->in_loop) || se->custom) &&
	       pthread_equal(se->loop_thread, pthread_self());
}

#endif /* RF_FUSE3_INT_H */
