/* SPDX-License-Identifier: MIT */
/*
 * loop.h - the loop layer (loop.c): one thread's io_uring with completions, timers, one
 * cross-thread post queue, hooks, signals and a worker pool for blocking calls. It knows
 * nothing about FUSE: what a completion, a post or a hook means is its owner's business,
 * and the layers above register what they need here (docs/architecture.md §1).
 */
#ifndef RF_LOOP_H
#define RF_LOOP_H

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/signalfd.h>

#include "ringfuse.h"
#include "base.h"

/*
 * Everything with an SQE in flight embeds one of these; its address is the SQE's
 * user_data, and the loop calls ->fn with the CQE's result when it completes. The owner
 * must stay allocated until then (teardown counts them: rf_loop.inflight).
 */
struct rf_completion {
	void (*fn)(struct rf_loop *loop, struct rf_completion *c, int res, uint32_t cqe_flags);
};

/*
 * A call deferred to the loop thread, embedded in its owner so that posting allocates
 * nothing. A node is on at most one queue at a time; ->fn runs once per post.
 */
struct rf_post {
	struct rf_post *next;
	void (*fn)(struct rf_loop *loop, struct rf_post *p);
};

/*
 * What a layer above asks of every loop round: ->round runs after each round's completions,
 * timers and posts; ->signal when a handled signal arrives. A loop with hooks runs until
 * none of them is live (rf__loop_hook_end), so the owner decides when its work is over.
 */
struct rf_loop_hook {
	struct rf_loop_hook *next;
	void (*round)(struct rf_loop *loop, struct rf_loop_hook *h);
	void (*signal)(struct rf_loop *loop, struct rf_loop_hook *h, int signo);
	bool live;
};

/* A blocking call for the worker pool: ->fn(arg) runs on a worker, then ->done on the loop
 * with ->result set. Counted in rf_loop.inflight until ->done ran. */
struct rf_work {
	struct rf_post post;             /* private: how the worker hands it back */
	int (*fn)(void *arg);
	void *arg;
	int result;
	void (*done)(struct rf_loop *loop, struct rf_work *w);
	struct rf_work *wnext;           /* private: the pool's queue */
};

struct rf_workers;

/*
 * One thread's event loop. Created by rf_loop_new, freed by rf_loop_free; everything in
 * it is touched only by the loop thread except the fields marked "any thread".
 */
struct rf_loop {
	struct io_uring ring;
	pthread_t thread;                /* thread running the loop (valid once has_thread) */
	atomic_bool has_thread;
	atomic_bool thread_coming;       /* a thread of its own will run it (rf__loop_reserve) */
	atomic_int stop;                 /* any thread: rf_loop_stop() was called */
	unsigned int inflight;           /* SQEs and worker calls whose completion is not run */

	int wake_fd;                     /* eventfd: other threads wake the loop through it */
	bool wake_armed;                 /* a read on wake_fd is in flight */
	uint64_t wake_val;               /* read target for wake_fd */
	struct rf_completion wake_c;

	pthread_mutex_t post_lock;       /* protects the post queue (any thread) */
	struct rf_post *posts, **posts_tail;
	atomic_bool post_wake;           /* any thread: a wake-up for the posts is on its way */
	struct rf_workers *workers;      /* the bounded worker pool, created on first use */

	int sig_fd;                      /* signalfd, -1 if signals are not handled here */
	struct signalfd_siginfo *sig_info;
	struct rf_completion sig_c;

	void *timers;                    /* armed timers, sorted by deadline (loop.c) */
	struct rf_loop_hook *hooks;      /* registered by the layers above */
	unsigned int nr_live;            /* hooks still live: the loop runs while any is */
	bool closing;                    /* draining: re-arm nothing */
	bool sqe128;                     /* the ring has 128-byte SQEs (uring transport) */
	bool has_ftruncate;              /* the kernel has IORING_OP_FTRUNCATE */
	uint64_t poll_ns;                /* busy-poll this long before sleeping (0: never) */
	_Atomic uint64_t enters;         /* io_uring_enter calls (rf_stats.loop_enters) */
	_Atomic uint64_t sqes;           /* SQEs queued (rf_stats.loop_sqes) */
};

/* An SQE to fill; submits the queue first if it is full. Never NULL. Loop thread. */
struct io_uring_sqe *rf__loop_sqe(struct rf_loop *loop, struct rf_completion *c);
bool rf__on_loop_thread(const struct rf_loop *loop);
/* Before starting the thread that will run @loop: until that thread's first round, no
 * other thread counts as the loop's (rf__on_loop_thread), so work for it is posted. */
void rf__loop_reserve(struct rf_loop *loop);
void rf__loop_wake(struct rf_loop *loop);
/* Queue @p to run on @loop's thread, in posting order. Any thread. */
void rf__loop_post(struct rf_loop *loop, struct rf_post *p);
/* The same without the wake-up (a write(2), and a read on the ring): only from the loop
 * thread, in a round or in work a round is sure to follow (every round runs the posts
 * before it may sleep; a custom loop's rf_session_process runs rounds after a request). */
void rf__loop_post_local(struct rf_loop *loop, struct rf_post *p);
/* Register @h (live) / mark it done (no longer keeps the loop running) / remove it. */
void rf__loop_hook_add(struct rf_loop *loop, struct rf_loop_hook *h);
void rf__loop_hook_end(struct rf_loop *loop, struct rf_loop_hook *h);
void rf__loop_hook_remove(struct rf_loop *loop, struct rf_loop_hook *h);
/* Hand @w to the worker pool (grown on demand up to its bound). Loop thread. 0 or -errno. */
int rf__loop_work(struct rf_loop *loop, struct rf_work *w);
/* Cancel the loop's own reads and reap until nothing is in flight (bounded). */
int rf__loop_drain(struct rf_loop *loop, int timeout_ms);
/* The same, but @timeout_ms counts only from when *@held is 0 (another thread's work that
 * ends what is in flight here is done), which is waited for at most @held_ms. */
int rf__loop_drain_after(struct rf_loop *loop, atomic_int *held, uint32_t held_ms,
			 int timeout_ms);
/* Wait for the worker pool's calls (they cannot be stopped) and run their completions
 * here; the pool is made again on its next use. Before a session frees the slots those
 * calls belong to. */
void rf__loop_workers_stop(struct rf_loop *loop);

#endif /* RF_LOOP_H */
