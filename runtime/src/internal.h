/* SPDX-License-Identifier: MIT */
/*
 * internal.h - private types shared by the files of runtime/src: the loop, the session, the channel
 * (one device fd served by one loop) and the request slot. Not installed.
 */
#ifndef RF_INTERNAL_H
#define RF_INTERNAL_H

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/signalfd.h>

#include "ringfuse.h"
#include "fuse_kernel.h"

#define RF_ALIGN(x, a) (((x) + (a) - 1) & ~((size_t)(a) - 1))
#define RF_MIN(a, b) ((a) < (b) ? (a) : (b))
#define RF_MAX(a, b) ((a) > (b) ? (a) : (b))
#define RF_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define rf_container_of(ptr, type, member) \
	((type *)((char *)(ptr) - __builtin_offsetof(type, member)))

/* ---- completions ------------------------------------------------------------------ */

/*
 * Everything with an SQE in flight embeds one of these; its address is the SQE's
 * user_data, and the loop calls ->fn with the CQE's result when it completes. The owner
 * must stay allocated until then (teardown counts them: rf_loop.inflight).
 */
struct rf_completion {
	void (*fn)(struct rf_loop *loop, struct rf_completion *c, int res, uint32_t cqe_flags);
};

/* ---- log.c ------------------------------------------------------------------------- */

void rf__log(enum rf_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define rf__err(...)  rf__log(RF_LOG_ERR, __VA_ARGS__)
#define rf__warn(...) rf__log(RF_LOG_WARNING, __VA_ARGS__)
#define rf__info(...) rf__log(RF_LOG_INFO, __VA_ARGS__)
#define rf__dbg(...)  rf__log(RF_LOG_DEBUG, __VA_ARGS__)

/* ---- loop.c ------------------------------------------------------------------------ */

struct rf_post {
	struct rf_post *next;
	rf_loop_cb cb;
	void *data;
};

/*
 * One thread's event loop. Created by rf_loop_new, freed by rf_loop_free; everything in
 * it is touched only by the loop thread except the fields marked "any thread".
 */
struct rf_loop {
	struct io_uring ring;
	pthread_t thread;                /* thread running the loop (valid once has_thread) */
	atomic_bool has_thread;
	atomic_int stop;                 /* any thread: rf_loop_stop() was called */
	unsigned int inflight;           /* SQEs submitted whose CQE was not reaped yet */

	int wake_fd;                     /* eventfd: other threads wake the loop through it */
	bool wake_armed;                 /* a read on wake_fd is in flight */
	uint64_t wake_val;               /* read target for wake_fd */
	struct rf_completion wake_c;

	pthread_mutex_t post_lock;       /* protects posts (any thread) */
	struct rf_post *posts, **posts_tail;
	struct rf_req *remote;           /* requests handed over by other threads; post_lock */
	struct rf_req *remote_intr;      /* interrupts for our requests (via intr_next); post_lock */
	struct rf_backing_op *worker_done; /* finished worker calls (backing.c); post_lock */
	struct rf_workers *workers;      /* the bounded worker pool, created on first use */

	int sig_fd;                      /* signalfd, -1 if signals are not handled here */
	struct signalfd_siginfo *sig_info;
	struct rf_completion sig_c;

	void *timers;                    /* armed timers, sorted by deadline (loop.c) */
	bool closing;                    /* draining: re-arm nothing */
	bool sqe128;                     /* the ring has 128-byte SQEs (uring transport) */
	bool has_ftruncate;              /* the kernel has IORING_OP_FTRUNCATE */

	struct rf_chan *chans;           /* channels served by this loop (list via next) */
	unsigned int nr_chans_live;      /* channels not yet ended */
};

/* An SQE to fill; submits the queue first if it is full. Never NULL. Loop thread. */
struct io_uring_sqe *rf__loop_sqe(struct rf_loop *loop, struct rf_completion *c);
bool rf__on_loop_thread(const struct rf_loop *loop);
void rf__loop_wake(struct rf_loop *loop);
/* What rf__loop_post_req asks the loop to do with a request. */
enum { RF_REMOTE_REPLY = 1, RF_REMOTE_RESUME, RF_REMOTE_INTERRUPT };
/* Hand a request to its loop: write its reply (encoded on another thread), resume it
 * (unparked by another thread) or deliver its interrupt. Any thread. */
void rf__loop_post_req(struct rf_loop *loop, struct rf_req *req, int kind);
/* Cancel the loop's own reads and reap until nothing is in flight (bounded). */
int rf__loop_drain(struct rf_loop *loop, int timeout_ms);
/* Advance the sessions served by @loop (exit requests, teardown). session.c */
void rf__loop_sessions_poll(struct rf_loop *loop);

/* ---- requests ---------------------------------------------------------------------- */

/* Each state is checked at every hop; a reply in any state but HANDLER is a bug. */
enum rf_req_state {
	RF_REQ_FREE = 0,     /* in the slot pool */
	RF_REQ_READING,      /* the channel's read in flight targets this slot */
	RF_REQ_PARKED,       /* decoded, waiting in an ordering chain (order.c) */
	RF_REQ_HANDLER,      /* handed to the filesystem; a reply is owed */
	RF_REQ_REPLIED,      /* reply encoded; its write or its backing I/O still running */
};

#define RF_REQ_MAX_BACKING RF_BACKING_MAX

/* One backing operation of a request on the ring (backing.c). */
struct rf_backing_op {
	struct rf_completion c;
	struct rf_req *req;
	rf_backing_cb cb;                /* NULL: the runtime replies from the result */
	void *data;
	uint8_t kind;                    /* enum in backing.c: what the default reply is */
	bool busy;
	/* worker path (rf_backing_call) */
	int (*fn)(void *arg);
	void *arg;
	int result;
	struct rf_backing_op *wnext;
};

/* What a request names, for the ordering chains (order.c). */
enum rf_hold_role {
	RF_HOLD_NONE = 0,
	RF_HOLD_PLAIN,       /* uses the fh; ordered only against RELEASE */
	RF_HOLD_READ,        /* READ of [off, end): after earlier overlapping WRITEs */
	RF_HOLD_WRITE,       /* WRITE of [off, end): after earlier overlapping WRITEs */
	RF_HOLD_BARRIER,     /* FLUSH/FSYNC: after every earlier WRITE */
	RF_HOLD_RELEASE,     /* RELEASE/RELEASEDIR: after every earlier request */
};

struct rf_fh_entry;
struct rf_ino_entry;

/* A request's place in one fh's chain: a node of the fh's in-flight list. */
struct rf_hold {
	struct rf_fh_entry *fh;          /* NULL: unused */
	struct rf_hold *prev, *next;     /* the fh's list, in arrival order */
	struct rf_req *req;
	uint8_t role;                    /* enum rf_hold_role */
	uint64_t off, end;               /* byte range for READ/WRITE */
};

/*
 * One request slot: a buffer the kernel's request is read into, and into which the reply
 * is encoded behind it (never over it: names and data the handler holds stay valid).
 * Slots are allocated once per channel and recycled; nothing is allocated per request.
 * A slot returns to the pool only when its reply is written AND its last backing CQE is
 * reaped (rf__req_finish): until then it holds its fh and inodes in the chains.
 */
struct rf_req {
	struct rf_completion write_c;    /* the reply write */
	struct rf_chan *ch;
	struct rf_session *se;
	char *buf;                       /* slot buffer of ch->bufsize bytes */
	uint32_t in_len;                 /* bytes of the request in buf */
	enum rf_req_state state;
	struct fuse_in_header in;        /* copy of the request header */
	struct rf_ctx ctx;
	struct rf_file fi, fi2;          /* passed to handlers; fi2 for COPY_FILE_RANGE's out */
	uint32_t out_off;                /* /dev/fuse: the reply starts at buf + out_off */
	char *out_hdr;                   /* where the reply's fuse_out_header goes */
	char *payload;                   /* where the reply's arguments go */
	uint32_t payload_cap;            /* and how many bytes fit there */
	/* FUSE-over-io_uring entry (transport_uring.c) */
	char *ent_hdr, *ent_payload;     /* the buffers registered with the kernel */
	struct iovec ent_iov[2];
	uint64_t commit_id;
	uint32_t out_len;                /* reply bytes (header included) */
	bool write_busy;                 /* the reply write is in flight */
	atomic_int interrupted;
	rf_interrupt_cb intr_cb;
	void *intr_data;
	struct rf_req *next;             /* free list / remote lists of the loop */
	uint8_t remote_kind;             /* what the loop does with it when posted */

	/* order.c; protected by the session's order_lock */
	uint64_t seq;                    /* arrival order in the session */
	bool entered;                    /* registered in the chains */
	bool admitted;                   /* passed its chain (resumes skip the checks) */
	uint64_t nodeid2;                /* second inode named (LINK, RENAME, CFR), or 0 */
	struct rf_hold hold[2];          /* fh holds (two for COPY_FILE_RANGE) */
	struct rf_ino_entry *ino[2];
	struct rf_req *uhnext;           /* the session's unique hash */
	struct rf_req *intr_next;        /* the loop's list of interrupts to deliver */
	struct rf_timer intr_timer;      /* an INTERRUPT waiting for its request */
	uint64_t intr_target;            /* that request's unique */

	/* backing.c */
	uint8_t nbacking;                /* backing ops in flight */
	struct rf_backing_op backing[RF_REQ_MAX_BACKING];
};

/* Called when a request's reply went out (or was not needed) and may be the last
 * thing holding the slot. transport_dev.c */
void rf__req_finish(struct rf_req *req);

/* ---- channel (transport_dev.c) ----------------------------------------------------- */

/*
 * A device fd served by one loop: the session's main fd, or a FUSE_DEV_IOC_CLONE of it for
 * an extra loop thread, or a socket for tests. One read is in flight at a time (more reads
 * on one /dev/fuse fd only feed io-wq threads, see kernel-abi.md 3.2).
 */
struct rf_chan {
	struct rf_chan *next;            /* in loop->chans */
	struct rf_session *se;
	struct rf_loop *loop;
	int fd;
	bool owns_fd;                    /* a clone: closed with the channel */
	bool is_sock;                    /* a test socket: a 0-byte read means the peer left */
	uint32_t bufsize;
	uint32_t nr_slots;
	char *slab;                      /* all slot buffers, mmap'd once */
	struct rf_req *slots;
	struct rf_req *free;             /* free slots */
	unsigned int busy;               /* slots not free */
	struct rf_req *reading;          /* slot the in-flight read targets, or NULL */
	struct rf_completion read_c;
	bool ended;                      /* the kernel side is gone: nothing more to write */
	bool stopping;                   /* no more reads: the session is ending */
	bool finished;                   /* idle after ending; the session was told */
	uint64_t stop_ms;                /* when stopping/ended was first seen (grace period) */
	bool cancelled;                  /* the grace period ran out: backing I/O cancelled */
	/* FUSE-over-io_uring queue (transport_uring.c) */
	bool uring;                      /* this channel is a kernel ring queue */
	uint16_t qid;
	uint32_t payload_size;
	uint32_t in_kernel;              /* entries registered and waiting for a request */
	bool ever_served;
	struct rf_timer tick;            /* re-checks the grace period while draining */
};

int rf__chan_init(struct rf_chan *ch, struct rf_session *se, struct rf_loop *loop, int fd,
		  bool owns_fd);
void rf__chan_start(struct rf_chan *ch);
void rf__chan_stop(struct rf_chan *ch);
void rf__chan_destroy(struct rf_chan *ch);
/* Queue the reply encoded in @req for writing (loop thread). */
void rf__chan_send(struct rf_req *req);
void rf__chan_free_slot(struct rf_req *req);
/* A free slot for a request the runtime makes up itself (teardown), or NULL. */
struct rf_req *rf__chan_take_slot(struct rf_chan *ch);
/* No read in flight and no slot in service. */
bool rf__chan_idle(const struct rf_chan *ch);

/* An extra loop thread of a session, with its own cloned device fd. */
struct rf_extra {
	struct rf_loop *loop;
	struct rf_chan chan;
	pthread_t th;
	bool started;
};

/* ---- transport_uring.c --------------------------------------------------------------- */

/* At INIT, before the reply: allocate the queues' entries (0 or -errno). */
int rf__uring_prepare(struct rf_session *se);
/* After the INIT reply was written: register every entry on every queue. */
void rf__uring_start(struct rf_session *se);
/* The request is finished: commit its reply and fetch the next into the entry. */
void rf__uring_commit(struct rf_req *req);
void rf__uring_detach(struct rf_session *se, struct rf_loop *loop);
/* Free the entries; only once no ring can write into them any more. */
void rf__uring_destroy(struct rf_session *se);

/* ---- session.c --------------------------------------------------------------------- */

/*
 * One FUSE connection. Created by rf_session_new, freed by rf_session_free. INIT state
 * and the negotiated sizes are written once on the first loop and read-only after.
 */
struct rf_session {
	struct rf_ops ops;
	void *userdata;
	struct rf_opts opts;             /* private copy; strings owned by opts_store */
	char *opts_store;
	int fd;                          /* main device fd or test socket, -1 if none */
	bool fd_is_sock;
	bool mounted;                    /* we mounted it (and must unmount) */
	bool fusermount;                 /* mounted through fusermount3 */
	int fusermount_sock;             /* kept open for auto_unmount, else -1 */
	char *mountpoint;                /* realpath of the mount point */
	uid_t owner;                     /* who mounted (mount.c): allow_root's user */
	bool aborted;                    /* the kernel ended it with the mount in place (mount.c) */
	bool debug;

	struct rf_conn conn;
	atomic_bool initialized;         /* INIT replied; conn is read-only once it is set */
	bool destroyed;                  /* ops.destroy ran */
	uint32_t bufsize;                /* slot buffer size, fixed before INIT */
	atomic_int exit_requested;       /* any thread: rf_session_exit */
	bool ended;
	struct rf_chan chan;             /* the first loop's channel on fd */
	struct rf_extra *extra;          /* extra loop threads (opts.threads - 1) */
	int nr_extra;
	atomic_int chans_live;           /* channels not finished; the last one ends us */
	struct rf_chan *uq;              /* FUSE-over-io_uring queues, one per possible CPU */
	int nr_uq;
	bool uring_pending;              /* INIT accepted the ring: register after its reply */
	bool uring_failed;               /* REGISTER failed: the kernel serves /dev/fuse */
	struct rf_loop *loop;            /* the first loop */
	struct rf_order *order;          /* the ordering chains (order.c); order_lock */
	pthread_mutex_t order_lock;
	pthread_mutex_t notify_lock;     /* protects retrieves */
	struct rf_retrieve *retrieves;   /* outstanding rf_notify_retrieve cookies */
	uint64_t notify_unique;          /* last unique used for a retrieve */
};


/* ---- dispatch.c / reply.c ------------------------------------------------------------ */

/* Decode and validate the request in @req (in_len bytes) and run it. */
void rf__dispatch(struct rf_req *req);
const char *rf__opname(uint32_t opcode);
/* Encode an out header with @err and @payload bytes already placed; queue it. */
int rf__reply_finish(struct rf_req *req, int err, size_t payload);
/* Where the reply payload goes in the slot, and how much fits. */
static inline char *rf__reply_payload(struct rf_req *req, size_t *cap)
{
	if (cap)
		*cap = req->payload_cap;
	return req->payload;
}
void rf__fill_attr(struct fuse_attr *fa, const struct stat *st);
uint64_t rf__timeout_sec(double t, uint32_t *nsec);


/* ---- order.c ------------------------------------------------------------------------- */

/* What a request names, filled by its decoder before rf__order_admit. */
struct rf_order_spec {
	uint64_t fh[2];
	uint8_t role[2];                 /* enum rf_hold_role; NONE: no fh */
	uint64_t off[2], len[2];         /* READ/WRITE ranges */
	uint64_t nodeid2;                /* a second inode, or 0 */
};

int rf__order_init(struct rf_session *se);
void rf__order_free(struct rf_session *se);
/* Every request but FORGET/INTERRUPT/INIT: arrival order, unique and inode bookkeeping. */
void rf__order_enter(struct rf_req *req);
/* 1: run the handler now. 0: parked (resumed later through rf__dispatch_resume) or
 * already answered (EBADF). */
int rf__order_admit(struct rf_req *req, const struct rf_order_spec *spec);
/* An OPEN/CREATE/OPENDIR/TMPFILE reply handed out @fh for inode @nodeid. */
void rf__order_opened(struct rf_req *req, uint64_t fh, uint64_t nodeid);
/* The request is finished: release its holds, resume what waited, run deferred forgets. */
void rf__order_leave(struct rf_req *req);
void rf__order_forget(struct rf_session *se, uint64_t nodeid, uint64_t nlookup);
/* Run the forgets that finished requests let go (loop thread, between callbacks). */
void rf__order_run_deferred(struct rf_session *se);
/* INTERRUPT @ir for request @target: apply now, or hold it until the request arrives. */
void rf__order_interrupt(struct rf_req *ir, uint64_t target);
void rf__req_interrupt(struct rf_req *req);
void rf__order_flush_interrupts(struct rf_session *se, struct rf_loop *loop);
/* An entry reply (or readdirplus entry) made the kernel count one lookup of @nodeid. */
void rf__order_count_lookup(struct rf_session *se, uint64_t nodeid);
/* Teardown: the handles still open (the kernel will never release them now)... */
struct rf_teardown_release {
	uint64_t fh, nodeid;
	bool dir;
};
int rf__order_teardown_releases(struct rf_session *se, struct rf_teardown_release *out,
				int max);
/* ...and a forget for every lookup the kernel still holds. */
void rf__order_teardown_forgets(struct rf_session *se);
/* Re-run the decoder and handler of a request that was parked. dispatch.c */
void rf__dispatch_resume(struct rf_req *req);

/* ---- backing.c ----------------------------------------------------------------------- */

/* Cancel the request's backing operations on the ring (INTERRUPT, teardown). */
void rf__backing_cancel(struct rf_req *req);
/* Run finished worker calls; stop the pool (loop.c). */
int rf__workers_reap(struct rf_loop *loop);
void rf__workers_stop(struct rf_loop *loop);

/* ---- notify.c ------------------------------------------------------------------------ */

void rf__notify_retrieve_reply(struct rf_req *req, uint64_t unique, uint64_t ino, off_t off,
			       const void *data, size_t size);
/* Drop outstanding retrieve cookies (session end). */
void rf__notify_free(struct rf_session *se);

/* allow_root: EACCES to callers but the owner and root; true if it replied. access.c */
bool rf__access_refused(struct rf_req *req);

/* ---- mount.c ------------------------------------------------------------------------- */

int rf__mount(struct rf_session *se);
int rf__unmount(struct rf_session *se);

#endif /* RF_INTERNAL_H */
