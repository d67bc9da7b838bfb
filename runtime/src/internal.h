/* SPDX-License-Identifier: MIT */
/*
 * internal.h - the private types shared by the files of runtime/src above the loop: the
 * request (one slot of a channel), the channel and its transport (transport.h), the
 * session, and each layer's functions, lowest layer first. Not installed.
 *
 * Layers call downwards only (scripts/check-layers.sh checks it); where a lower layer must
 * reach a higher one, it goes through struct rf_upcalls, wired once by the session.
 * docs/architecture.md tells the layers and the life of a request.
 */
#ifndef RF_INTERNAL_H
#define RF_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/vfs.h>

#include "base.h"
#include "loop.h"

struct rf_chan;

/* ==== request layer: the request object ============================================ */

/* Each state is checked at every hop; a reply in any state but HANDLER is a bug. */
enum rf_req_state {
	RF_REQ_FREE = 0,     /* in the slot pool */
	RF_REQ_READING,      /* the transport's receive targets this slot */
	RF_REQ_PARKED,       /* decoded, waiting in an ordering chain (order.c) */
	RF_REQ_HANDLER,      /* handed to the filesystem; a reply is owed */
	RF_REQ_REPLIED,      /* reply encoded; its write or its backing I/O still running */
};

#define RF_REQ_MAX_BACKING RF_BACKING_MAX

/* One backing operation of a request: on the ring, or a worker call (backing.c). */
struct rf_backing_op {
	struct rf_completion c;
	struct rf_work work;             /* rf_backing_call: the worker pool's item */
	struct rf_req *req;
	rf_backing_cb cb;                /* NULL: the runtime replies from the result */
	void *data;
	uint8_t kind;                    /* enum in backing.c: what the default reply is */
	bool busy;
	int result;                      /* a result computed in place... */
	struct rf_post post;             /* ...delivered by a post to the loop (no syscall) */
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

struct rf_chain;
struct rf_ino_entry;

/* A request's place in one chain: a node of an fh's in-flight list, or of an inode's
 * list of READ/WRITE ranges in flight on any of its fhs. */
struct rf_hold {
	struct rf_chain *chain;          /* an fh's or an inode's data chain; NULL: unused */
	struct rf_hold *prev, *next;     /* the chain's list, in arrival order */
	struct rf_req *req;
	uint8_t role;                    /* enum rf_hold_role */
	bool blocked;                    /* waits for an earlier hold in its chain (parked) */
	uint64_t off, end;               /* byte range for READ/WRITE */
};

/*
 * One request slot, owned by its channel (allocated once, recycled; nothing is allocated
 * per request). The transport fills the first group and says where the reply goes; the
 * request layer owns the state; the layers above keep their bookkeeping in theirs. A slot
 * goes back to its transport only when its reply is sent AND its last backing operation
 * completed (rf__req_finish): until then it holds its fh and inodes in the chains.
 */
struct rf_req {
	/* transport: where the request is and where its reply goes */
	struct rf_completion write_c;    /* the reply write (or, on a kernel queue, the command) */
	struct rf_chan *ch;
	struct rf_session *se;
	char *buf;                       /* the request's bytes */
	uint32_t in_len;                 /* bytes of the request in buf */
	char *out_hdr;                   /* where the reply's fuse_out_header goes */
	char *payload;                   /* where the reply's arguments go */
	uint32_t payload_cap;            /* and how many bytes fit there */
	uint32_t out_len;                /* reply bytes (header included) */
	bool write_busy;                 /* the reply write is in flight */
	int direct_res;                  /* the write(2) result of a reply written off the loop */
	char *ent_hdr, *ent_payload;     /* kernel queue entry: the registered buffers */
	struct iovec ent_iov[2];
	uint64_t commit_id;
	struct rf_req *next;             /* free list; order.c's lists while in service */

	/* request: state, caller, interrupt */
	enum rf_req_state state;
	struct fuse_in_header in;        /* copy of the request header */
	struct rf_ctx ctx;
	struct rf_file fi, fi2;          /* passed to handlers; fi2 for COPY_FILE_RANGE's out */
	struct rf_post post;             /* to its loop: a reply made on another thread, or a
	                                  * resume after parking (never both at once) */
	struct rf_post intr_post;        /* to its loop: an interrupt to act on */
	_Atomic uint64_t intr_posted;    /* the unique intr_post is for; 0: not posted */
	/* set by the layer handling it: runs once the reply is out (res as written) */
	void (*after_send)(struct rf_req *req, int res);
	atomic_int interrupted;
	bool counted;                    /* stats.c: counted in flight (received, not finished) */
	uint64_t t_in;                   /* stats.c: when it arrived (ns, CLOCK_MONOTONIC) */
	uint64_t t_park;                 /* stats.c: when it was parked */
	rf_interrupt_cb intr_cb;         /* release-stored: another thread may call it */
	void *intr_data;
	atomic_bool intr_called;         /* the hook ran (at most once per request) */
	atomic_uint intr_refs;           /* an INTERRUPT's thread is calling the hook: the
	                                  * slot is not recycled until it is done (interrupt.c) */

	/* order.c; under the lock of the shard of what each names (order.c) */
	bool entered;                    /* registered in the chains */
	bool admitted;                   /* passed its chain (resumes skip the checks) */
	atomic_uint park_wait;           /* holds still blocked, | RF_PARK_CANCELLED */
	uint64_t nodeid2;                /* second inode named (LINK, RENAME, CFR), or 0 */
	struct rf_hold hold[2];          /* fh holds (two for COPY_FILE_RANGE) */
	struct rf_hold data;             /* READ/WRITE: its range in ino[0]'s data chain */
	struct rf_hold data2;            /* COPY_FILE_RANGE: the range it writes, in its
	                                  * destination's data chain (ino[1]'s, or ino[0]'s) */
	struct rf_ino_entry *ino[2];
	struct rf_req *uhnext;           /* the session's unique hash */
	uint32_t ushard;                 /* the shard of uhnext and ino[0]: in.nodeid's */
	struct rf_timer intr_timer;      /* interrupt.c: an INTERRUPT waiting for its request */
	uint64_t intr_target;            /* that request's unique */

	/* backing.c */
	uint8_t nbacking;                /* backing ops in flight */
	struct rf_backing_op backing[RF_REQ_MAX_BACKING];

	/* the filesystem's, through rf_req_scratch */
	_Alignas(max_align_t) unsigned char scratch[RF_REQ_SCRATCH];
};

/*
 * req->state goes from HANDLER to REPLIED on whatever thread replies, while the request's
 * loop (an INTERRUPT, the teardown's grace period) or another loop (an INTERRUPT of a
 * blocking handler) may look at it: those two sides go through these atomics. The other
 * transitions are made by the request's loop itself.
 */
static inline enum rf_req_state rf__req_state(const struct rf_req *req)
{
	return __atomic_load_n(&req->state, __ATOMIC_ACQUIRE);
}

static inline void rf__req_set_replied(struct rf_req *req)
{
	__atomic_store_n(&req->state, RF_REQ_REPLIED, __ATOMIC_RELEASE);
}

#include "transport.h"

/* ==== the session ================================================================== */

/* The live counters of a session (stats.c); struct rf_stats is their public snapshot. */
struct rf_stats_state {
	_Atomic uint64_t requests[RF_STATS_OPCODES];
	_Atomic uint64_t errors[RF_STATS_ERRNOS];
	_Atomic uint64_t replies, in_flight, in_flight_peak;
	_Atomic uint64_t parked, parked_total, parked_wait_us, interrupts;
	_Atomic uint64_t backing_ring, backing_inline, backing_worker;
	_Atomic uint64_t nodes;          /* written by lookups.c under its lock */
	_Atomic uint64_t latency[RF_STATS_OPCODES][RF_STATS_LAT_BUCKETS];
};

/*
 * The calls that go up a layer, wired once by rf_session_new (session.c) so that no
 * lower file names a higher one.
 */
struct rf_upcalls {
	void (*received)(struct rf_req *req);       /* transport: a request arrived (dispatch) */
	void (*sent)(struct rf_req *req, int res);  /* transport: the reply is out (reply.c) */
	void (*leave)(struct rf_req *req);          /* request: finished; let go (order) */
	void (*resume)(struct rf_req *req);         /* order: a parked request may run (dispatch) */
	/* session: a loop round's deferred work on @ch; NULL: run the held-back forgets
	 * (a custom loop hands them to its application instead: custom.c) */
	void (*round)(struct rf_chan *ch);
	/* rf_session_free: bring the session's end about on the caller's thread first, for a
	 * loop nobody runs any more (a custom loop: custom.c); NULL: nothing to do */
	void (*finish)(struct rf_session *se);
};

/*
 * One FUSE connection. Created by rf_session_new, freed by rf_session_free. INIT state
 * and the negotiated sizes are written once on the first loop and read-only after.
 */
struct rf_session {
	struct rf_ops ops;
	void *userdata;
	const struct rf_upcalls *up;
	struct rf_opts opts;             /* private copy; strings owned by opts_store */
	char *opts_store;
	int fd;                          /* main device fd or test socket, -1 if none */
	const struct rf_transport_ops *tp; /* how fd is served: /dev/fuse or a socket */
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
	atomic_bool conn_gone;           /* the device said the connection ended: every
	                                  * channel stops (rf__session_conn_gone) */
	atomic_bool ended;               /* any thread reads it (notify.c, rf_session_ended) */
	struct rf_chan chan;             /* the first loop's channel on fd */
	struct rf_extra *extra;          /* extra loop threads (opts.threads - 1) */
	bool pin_loops;                  /* loop i runs on CPU i, queue i's (session.c) */
	int nr_extra;
	atomic_int extra_walkers;        /* threads walking extra[] (rf__extra_begin) */
	/* rf_session_set_blocking: every loop holds one request at a time (threads: how many
	 * serve requests); with the kernel's queues the extra loops serve them, one entry
	 * each, and the first loop serves /dev/fuse alone (kq_on_extras) */
	bool blocking;
	int blocking_threads;
	bool kq_on_extras;
	atomic_int chans_live;           /* channels not finished; the last one ends us */
	struct rf_chan *uq;              /* FUSE-over-io_uring queue channels: one per possible
	                                  * CPU, or (kq_on_extras) one per extra loop if more */
	int nr_uq;
	int nr_kq;                       /* the kernel's queues: channel i serves queue i % nr_kq */
	bool uring_failed;               /* REGISTER failed: the kernel serves /dev/fuse */
	struct rf_loop *loop;            /* the first loop */
	struct rf_order *order;          /* the ordering chains (order.c), sharded locks */
	struct rf_lookups *lookups;      /* lookup counts (lookups.c), own lock */
	pthread_mutex_t notify_lock;     /* protects retrieves */
	struct rf_retrieve *retrieves;   /* outstanding rf_notify_retrieve cookies */
	uint64_t notify_unique;          /* last unique used for a retrieve */
	struct rf_stats_state stats;     /* any thread, relaxed atomics (stats.c) */
	struct rf_cuse *cuse;            /* a CUSE session's device (cuse.c), else NULL */
};

/* What a CUSE session tells the kernel at CUSE_INIT (rf_session_set_cuse). */
struct rf_cuse {
	uint32_t dev_major, dev_minor, flags;
	uint32_t info_len;               /* bytes of info, NULs included */
	char info[];                     /* "KEY=value\0" strings, as the reply carries them */
};

/* An extra loop thread of a session, with its own cloned device fd (none when it serves
 * only kernel queues: kq_on_extras; chan.ops is NULL then). */
struct rf_extra {
	struct rf_session *se;
	struct rf_loop *loop;
	struct rf_chan chan;
	pthread_t th;
	bool started;
};

/*
 * Any thread may walk the extra loops (rf_session_exit's wake-up, rf_session_stats) while
 * the session stops them, a signal handler even on the stopping thread itself: a walk is
 * counted, and stop_extras frees a loop or the array only after it unpublished it and no
 * walk is in progress. Returns the array (NULL once freed) and its length in @n.
 */
static inline struct rf_extra *rf__extra_begin(struct rf_session *se, int *n)
{
	atomic_fetch_add(&se->extra_walkers, 1);
	*n = __atomic_load_n(&se->nr_extra, __ATOMIC_SEQ_CST);
	return __atomic_load_n(&se->extra, __ATOMIC_SEQ_CST);
}

static inline struct rf_loop *rf__extra_loop(struct rf_extra *x)
{
	return __atomic_load_n(&x->loop, __ATOMIC_SEQ_CST);
}

static inline void rf__extra_end(struct rf_session *se)
{
	atomic_fetch_sub(&se->extra_walkers, 1);
}

/* ==== util layer: mount.c ============================================================ */

int rf__mount(struct rf_session *se);
int rf__unmount(struct rf_session *se);

/* ==== request layer: reply.c (encoding, the request's end), req.c, conn.c, stats.c =============================================== */

/* The filesystem's forget, where the runtime calls it (FORGET, a deferred one, the
 * teardown's): never after destroy, its last call (a DESTROY from the kernel). */
static inline void rf__fs_forget(struct rf_session *se, uint64_t nodeid, uint64_t nlookup)
{
	if (se->ops.forget && !se->destroyed)
		se->ops.forget(se->userdata, nodeid, nlookup);
}

/* The request's reply is encoded: send it from its loop (posted there from elsewhere). */
void rf__req_send(struct rf_req *req);
/* The transport wrote the reply (or had nothing to write): run after_send, then finish. */
void rf__req_sent(struct rf_req *req, int res);
/* Finish the request if its reply is out and its backing I/O done: the chains let go,
 * and the slot goes back to its transport. */
void rf__req_finish(struct rf_req *req);
/* Give back a slot that carried no request worth answering (a short read). */
void rf__req_drop(struct rf_req *req);
/* Encode an out header with @err and @payload bytes already placed; send it. */
int rf__reply_finish(struct rf_req *req, int err, size_t payload);
/* Where the reply payload goes in the slot, and how much fits. */
static inline char *rf__reply_payload(struct rf_req *req, size_t *cap)
{
	if (cap)
		*cap = req->payload_cap;
	return req->payload;
}
/* Copy @size bytes of @s to the payload and finish the reply (or EIO if too big). */
int rf__reply_struct(struct rf_req *req, const void *s, size_t size);
/* The reply does not fit: the kernel gets EIO, the caller -E2BIG. */
int rf__reply_too_big(struct rf_req *req);
/* A reply to a request that already has one: report it (rf__reply_finish does) without
 * touching the slot, whose first reply may still be on its way to the kernel. */
#define REPLY_GUARD(req)                                      \
	do {                                                  \
		if ((req)->state != RF_REQ_HANDLER)           \
			return rf__reply_finish((req), 0, 0); \
	} while (0)
void rf__fill_dirent(struct fuse_dirent *de, const char *name, size_t namelen, uint64_t ino,
		     mode_t mode, off_t off);
/* Wrong use of the API by the filesystem: loud in debug builds, logged otherwise. */
void rf__api_bug(const struct rf_req *req, const char *what);
/* stats.c: a request arrived / got its reply (@err) / finished / was parked or resumed. */
void rf__stats_received(struct rf_req *req);
void rf__stats_replied(struct rf_req *req, int err);
void rf__stats_finished(struct rf_req *req);
void rf__stats_parked(struct rf_req *req, bool parked);
enum rf_stat { RF_STAT_INTERRUPT, RF_STAT_BACKING_RING, RF_STAT_BACKING_INLINE,
	       RF_STAT_BACKING_WORKER };
void rf__stats_count(struct rf_session *se, enum rf_stat what);

/* ==== util layer: inline.c (where backing calls run) ================================= */

/* The class of a backing filesystem (inline.c, ringfuse.h "Where the call runs"). */
enum { RF_SRC_REMOTE, RF_SRC_LOCAL, RF_SRC_MEMORY };
/* What a backing call does, for the policy. */
enum rf_inline_kind {
	RF_IK_DATA,          /* read, write */
	RF_IK_SYNC,          /* fsync, fallocate, ftruncate, close */
	RF_IK_NAME,          /* unlinkat, mkdirat, renameat2, linkat, symlinkat, statx, openat
	                      * that creates or reopens */
	RF_IK_LOOKUP,        /* openat of an existing name: RESOLVE_CACHED first on disks */
};
enum { RF_RUN_RING, RF_RUN_INLINE, RF_RUN_CACHED };
#define RF_INLINE_SLOW_NS   2000000ull       /* an in-place call slower than this... */
#define RF_INLINE_SLOW_MAX  8                /* ...this often in a window... */
#define RF_INLINE_WINDOW    256              /* ...of this many calls demotes the source */
#define RF_INLINE_DEMOTE_NS 1000000000ull    /* for 1 s, doubling up to 64 s */
struct rf_inline_ticket {
	int slot;            /* the filesystem timed, or -1 */
	uint64_t t0;
};
/* Size the fd table (once per process; later calls do nothing). Any thread. */
void rf__inline_init(void);
int rf__inline_class_of_magic(long type);
/* The filesystem slot of @fd (one fstatfs the first time), or -1 if unknown. */
int rf__inline_slot(int fd);
int rf__inline_slot_class(int slot);
/* The slot of the filesystem with f_type @type and f_fsid @fsid (added if new), or -1;
 * and say that @fd is on slot @slot (what one fstatfs of @fd would have found). */
int rf__inline_slot_of_fs(long type, const fsid_t *fsid);
void rf__inline_bind(int fd, int slot);
/* Where a call of @kind on @fd runs under @mode (RF_INLINE_*): RF_RUN_*. For an in-place
 * run, call rf__inline_done(t) after the system call (it times it). */
int rf__inline_how(int mode, int fd, enum rf_inline_kind kind, struct rf_inline_ticket *t);
void rf__inline_done(struct rf_inline_ticket *t);
/* Feed one in-place call of @ns to @slot's cut-off (rf__inline_done does it). */
void rf__inline_note(int slot, uint64_t ns);
bool rf__inline_demoted(int slot);

/* ==== io layer: backing.c, notify.c, lookups.c ====================================== */

/* Cancel the request's backing operations on the ring (INTERRUPT, teardown). */
void rf__backing_cancel(struct rf_req *req);
void rf__notify_retrieve_reply(struct rf_req *req, uint64_t unique, uint64_t ino, off_t off,
			       const void *data, size_t size);
/* Drop outstanding retrieve cookies (session end). */
void rf__notify_free(struct rf_session *se);
/*
 * lookups.c: how many lookups of each node id the kernel holds (entry replies minus
 * FORGETs), so that teardown can give the filesystem the forgets the kernel will never
 * send. Its own lock; never held across a filesystem call.
 */
int rf__lookup_init(struct rf_session *se);
void rf__lookup_count(struct rf_session *se, uint64_t nodeid);
void rf__lookup_forget(struct rf_session *se, uint64_t nodeid, uint64_t nlookup);
void rf__lookup_teardown_forgets(struct rf_session *se);
void rf__lookup_free(struct rf_session *se);

/* ==== order layer: order.c, reply_ref.c =============================================== */

/* What a request names, filled by its decoder before rf__order_admit. */
struct rf_order_spec {
	uint64_t fh[2];
	uint8_t role[2];                 /* enum rf_hold_role; NONE: no fh */
	uint64_t off[2], len[2];         /* READ/WRITE ranges */
	uint64_t nodeid2;                /* a second inode, or 0 */
};

int rf__order_init(struct rf_session *se);
void rf__order_free(struct rf_session *se);
/* Every request but FORGET/INTERRUPT/INIT: arrival order, unique and inode bookkeeping.
 * Returns an INTERRUPT that arrived before @req and now applies to it, or NULL. */
struct rf_req *rf__order_enter(struct rf_req *req);
/* 1: run the handler now. 0: parked (resumed later through upcall resume) or already
 * answered (EBADF, or EINTR when interrupted before it could run). */
int rf__order_admit(struct rf_req *req, const struct rf_order_spec *spec);
/* An OPEN/CREATE/OPENDIR/TMPFILE reply handed out @fh for inode @nodeid. */
void rf__order_opened(struct rf_req *req, uint64_t fh, uint64_t nodeid);
/* The request is finished: release its holds, resume what waited, defer forgets. */
void rf__order_leave(struct rf_req *req);
void rf__order_forget(struct rf_session *se, uint64_t nodeid, uint64_t nlookup);
/* Run the forgets that finished requests let go (loop thread, between callbacks). */
void rf__order_run_deferred(struct rf_session *se);
/* The same one at a time, for a custom loop that hands them to its application
 * (custom.c): true and the next forget the filesystem is owed, or false when none is. */
bool rf__order_take_forget(struct rf_session *se, uint64_t *nodeid, uint64_t *nlookup);
/* INTERRUPT @ir for @target: the request in service with that unique, marked
 * interrupted; or NULL, and @ir is held until the request arrives (rf__order_enter hands
 * it back). One step under the lock, so an arriving request cannot slip between. */
struct rf_req *rf__order_find_or_hold(struct rf_req *ir, uint64_t target);
/* Take back a held INTERRUPT (its wait expired): 1 if it was still held. */
int rf__order_unhold_interrupt(struct rf_req *ir);
/* The held INTERRUPTs of @loop's channels, taken off the list (teardown). */
struct rf_req *rf__order_take_interrupts(struct rf_session *se, struct rf_loop *loop);
/* A parked request was interrupted: 1 if it will never run now (answer it EINTR). A
 * RELEASE is never cancelled this way: it must still run after its I/O. */
int rf__order_cancel_parked(struct rf_req *req);
/* Teardown: the handles still open (the kernel will never release them now)... */
struct rf_teardown_release {
	uint64_t fh, nodeid;
	bool dir;
};
int rf__order_teardown_releases(struct rf_session *se, struct rf_teardown_release *out,
				int max);

/* ==== interrupt layer: interrupt.c ==================================================== */

/* INTERRUPT @ir for request @target: apply now, or hold it until the request arrives. */
void rf__interrupt(struct rf_req *ir, uint64_t target);
/* An INTERRUPT that arrived before @req applies to it now (from rf__order_enter). */
void rf__interrupt_early(struct rf_req *req, struct rf_req *ir);
/* Loop thread of @req: act on an interrupt that was marked. */
void rf__req_interrupt(struct rf_req *req);
/* Call @req's interrupt hook if it has one and it has not run yet; any thread. */
void rf__interrupt_hook(struct rf_req *req);
/* Teardown: answer every INTERRUPT still waiting on @loop. */
void rf__interrupt_flush(struct rf_session *se, struct rf_loop *loop);

/* conn.c: the connection ended (the first channel saw it): every loop's channels stop. */
void rf__session_conn_gone(struct rf_session *se);

/* ==== dispatch layer: dispatch.c, dispatch_*.c, init.c ================================= */

/* Decode and validate the request in @req (in_len bytes) and run it. */
void rf__dispatch(struct rf_req *req);
/* Re-run the decoder and handler of a request that was parked. */
void rf__dispatch_resume(struct rf_req *req);
/* allow_root: EACCES to callers but the owner and root; true if it replied. access.c */
bool rf__access_refused(struct rf_req *req);

/* ==== session layer: session.c, teardown.c =========================================== */

/* Loop hook of a session's channel: progress of its ending, once per loop round. */
void rf__teardown_round(struct rf_loop *loop, struct rf_loop_hook *h);
/* Remove @ch from its loop and free it. */
void rf__teardown_detach(struct rf_loop *loop, struct rf_chan *ch);

#endif /* RF_INTERNAL_H */
