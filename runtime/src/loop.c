/* SPDX-License-Identifier: MIT */
/*
 * loop.c - one thread's event loop: the io_uring, its submit/reap cycle, wake-ups from
 * other threads (an eventfd read kept on the ring), the post queue, timers, signals, the
 * hooks of the layers above and a bounded worker pool for blocking calls. What a CQE, a
 * post or a hook means is left to its owner: nothing here knows about FUSE.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

#define RF_RING_ENTRIES 512
#define RF_CQE_BATCH 64
#define RF_WORKERS_MAX 4

/* A timer as stored in struct rf_timer's opaque bytes; timers form a sorted list. */
struct rf_timer_impl {
	struct rf_timer_impl *next;
	struct rf_loop *loop;
	uint64_t deadline_ns;
	rf_loop_cb cb;
	void *data;
	bool armed;
};
_Static_assert(sizeof(struct rf_timer_impl) <= sizeof(struct rf_timer), "rf_timer too small");

/* The timer list lives in the loop; kept outside struct rf_loop's public fields. */
static struct rf_timer_impl **timer_head(struct rf_loop *loop)
{
	return (struct rf_timer_impl **)&loop->timers;
}

/* A counter of the loop thread that other threads read (rf_session_stats): relaxed. */
static inline void bump(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* Count the io_uring_enter that the liburing call about to run makes (liburing enters
 * when it has SQEs to submit, a flag asks it to, or it must wait for an empty CQ). */
static void count_enter(struct rf_loop *loop, bool wait)
{
	if (io_uring_sq_ready(&loop->ring) || (wait && !io_uring_cq_ready(&loop->ring)) ||
	    (IO_URING_READ_ONCE(*loop->ring.sq.kflags) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)))
		bump(&loop->enters);
}

struct io_uring_sqe *rf__loop_sqe(struct rf_loop *loop, struct rf_completion *c)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);

	while (!sqe) {
		/* SQ full: hand what we have to the kernel and take a fresh entry. */
		count_enter(loop, false);
		io_uring_submit(&loop->ring);
		sqe = io_uring_get_sqe(&loop->ring);
	}
	bump(&loop->sqes);
	io_uring_sqe_set_data(sqe, c);
	if (c)
		loop->inflight++;
	return sqe;
}

bool rf__on_loop_thread(const struct rf_loop *loop)
{
	/* pthread_self() costs no syscall: this runs for every reply. A loop no thread runs
	 * yet is anyone's, unless its own thread is on the way: touching its ring then would
	 * race that thread's first round (liburing's SQ is one thread's), which corrupted the
	 * ring (the kernel's SQ head ran past the tail and it consumed stale entries forever). */
	if (atomic_load_explicit(&loop->has_thread, memory_order_acquire))
		return pthread_equal(loop->thread, pthread_self());
	return !atomic_load_explicit(&loop->thread_coming, memory_order_acquire);
}

void rf__loop_reserve(struct rf_loop *loop)
{
	atomic_store_explicit(&loop->thread_coming, true, memory_order_release);
}

void rf__loop_wake(struct rf_loop *loop)
{
	uint64_t one = 1;
	/* eventfd writes never block short of overflow, and are async-signal-safe. */
	if (write(loop->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		rf__warn("loop wake-up failed: %s", strerror(errno));
}

static void arm_wake(struct rf_loop *loop);

static void on_wake(struct rf_loop *loop, struct rf_completion *c, int res, uint32_t flags)
{
	loop->wake_armed = false;
	if (res < 0 && res != -EAGAIN && res != -EINTR && res != -ECANCELED)
		rf__warn("eventfd read: %s", strerror(-res));
	if (res != -ECANCELED)
		arm_wake(loop);
}

static void arm_wake(struct rf_loop *loop)
{
	struct io_uring_sqe *sqe;

	if (loop->wake_armed || loop->closing)
		return;
	sqe = rf__loop_sqe(loop, &loop->wake_c);
	io_uring_prep_read(sqe, loop->wake_fd, &loop->wake_val, sizeof(loop->wake_val), 0);
	loop->wake_armed = true;
}

int rf_loop_new(struct rf_loop **out)
{
	struct io_uring_params p;
	struct rf_loop *loop;
	int ret;

	loop = calloc(1, sizeof(*loop));
	if (!loop)
		return -ENOMEM;
	memset(&p, 0, sizeof(p));
	/* SQE128 is what the kernel's FUSE-over-io_uring commands need. COOP_TASKRUN: the
	 * loop enters the kernel often enough that completions need no IPI. */
	p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
		  IORING_SETUP_SQE128;
	ret = io_uring_queue_init_params(RF_RING_ENTRIES, &loop->ring, &p);
	if (ret == -EINVAL) {
		memset(&p, 0, sizeof(p));
		ret = io_uring_queue_init_params(RF_RING_ENTRIES, &loop->ring, &p);
	}
	if (ret < 0) {
		free(loop);
		return ret;
	}
	loop->sqe128 = !!(p.flags & IORING_SETUP_SQE128);
	{
		struct io_uring_probe *probe = io_uring_get_probe_ring(&loop->ring);

		/* IORING_OP_FTRUNCATE (55) came with Linux 6.9; older kernels use a worker. */
		loop->has_ftruncate = probe && probe->last_op >= 55 &&
				      (probe->ops[55].flags & IO_URING_OP_SUPPORTED);
		io_uring_free_probe(probe);
	}
	loop->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->wake_fd < 0) {
		ret = -errno;
		io_uring_queue_exit(&loop->ring);
		free(loop);
		return ret;
	}
	loop->wake_c.fn = on_wake;
	loop->sig_fd = -1;
	pthread_mutex_init(&loop->post_lock, NULL);
	loop->posts_tail = &loop->posts;
	*out = loop;
	return 0;
}

void rf__loop_post_local(struct rf_loop *loop, struct rf_post *p)
{
	p->next = NULL;
	pthread_mutex_lock(&loop->post_lock);
	*loop->posts_tail = p;
	loop->posts_tail = &p->next;
	pthread_mutex_unlock(&loop->post_lock);
}

void rf__loop_post(struct rf_loop *loop, struct rf_post *p)
{
	rf__loop_post_local(loop, p);
	/* One wake-up per batch: a post made before run_posts takes the queue needs none
	 * of its own (run_posts clears the flag before it takes it, so a later post wakes). */
	if (!atomic_exchange(&loop->post_wake, true))
		rf__loop_wake(loop);
}

/* The application's rf_loop_post: the one post that allocates, since it has no node. */
struct user_post {
	struct rf_post p;
	rf_loop_cb cb;
	void *data;
};

static void run_user_post(struct rf_loop *loop, struct rf_post *p)
{
	struct user_post *u = rf_container_of(p, struct user_post, p);

	u->cb(loop, u->data);
	free(u);
}

int rf_loop_post(struct rf_loop *loop, rf_loop_cb cb, void *data)
{
	struct user_post *u = malloc(sizeof(*u));

	if (!u)
		return -ENOMEM;
	u->p.fn = run_user_post;
	u->cb = cb;
	u->data = data;
	rf__loop_post(loop, &u->p);
	return 0;
}

/* Run what was posted so far, in posting order; posts made meanwhile wait a round. */
static int run_posts(struct rf_loop *loop)
{
	struct rf_post *p, *next;
	int n = 0;

	atomic_store(&loop->post_wake, false);
	pthread_mutex_lock(&loop->post_lock);
	p = loop->posts;
	loop->posts = NULL;
	loop->posts_tail = &loop->posts;
	pthread_mutex_unlock(&loop->post_lock);
	for (; p; p = next, n++) {
		next = p->next;
		p->next = NULL;
		p->fn(loop, p);
	}
	return n;
}

void rf__loop_hook_add(struct rf_loop *loop, struct rf_loop_hook *h)
{
	h->next = loop->hooks;
	loop->hooks = h;
	h->live = true;
	loop->nr_live++;
}

void rf__loop_hook_end(struct rf_loop *loop, struct rf_loop_hook *h)
{
	if (!h->live)
		return;
	h->live = false;
	loop->nr_live--;
}

void rf__loop_hook_remove(struct rf_loop *loop, struct rf_loop_hook *h)
{
	struct rf_loop_hook **pp;

	for (pp = &loop->hooks; *pp; pp = &(*pp)->next) {
		if (*pp == h) {
			*pp = h->next;
			rf__loop_hook_end(loop, h);
			return;
		}
	}
}

static void run_hooks(struct rf_loop *loop)
{
	struct rf_loop_hook *h, *next;

	for (h = loop->hooks; h; h = next) {
		next = h->next;
		if (h->round)
			h->round(loop, h);
	}
}

int rf_timer_start(struct rf_loop *loop, struct rf_timer *timer, uint64_t ms, rf_loop_cb cb,
		   void *data)
{
	struct rf_timer_impl *t = (struct rf_timer_impl *)timer, **pp;

	if (!cb)
		return -EINVAL;
	if (t->armed && t->loop)
		rf_timer_cancel(timer);
	t->loop = loop;
	t->deadline_ns = rf__now_ns() + ms * 1000000ull;
	t->cb = cb;
	t->data = data;
	t->armed = true;
	for (pp = timer_head(loop); *pp && (*pp)->deadline_ns <= t->deadline_ns; pp = &(*pp)->next)
		;
	t->next = *pp;
	*pp = t;
	return 0;
}

void rf_timer_cancel(struct rf_timer *timer)
{
	struct rf_timer_impl *t = (struct rf_timer_impl *)timer, **pp;

	if (!t->armed || !t->loop)
		return;
	for (pp = timer_head(t->loop); *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	t->armed = false;
}

static int run_timers(struct rf_loop *loop)
{
	struct rf_timer_impl **head = timer_head(loop), *t;
	uint64_t now = rf__now_ns();
	int n = 0;

	while ((t = *head) && t->deadline_ns <= now) {
		*head = t->next;
		t->armed = false;
		t->cb(loop, t->data);
		n++;
	}
	return n;
}

/* Milliseconds until the first timer, capped by @timeout_ms (-1: no cap). */
static int next_timeout(struct rf_loop *loop, int timeout_ms)
{
	struct rf_timer_impl *t = *timer_head(loop);
	uint64_t now, ms;

	if (!t)
		return timeout_ms;
	now = rf__now_ns();
	ms = t->deadline_ns > now ? (t->deadline_ns - now + 999999) / 1000000 : 0;
	if (timeout_ms >= 0 && (uint64_t)timeout_ms < ms)
		return timeout_ms;
	return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

static void arm_signals(struct rf_loop *loop);

static void on_signal(struct rf_loop *loop, struct rf_completion *c, int res, uint32_t flags)
{
	struct rf_loop_hook *h, *next;

	if (res == -ECANCELED || loop->closing)
		return;
	if (res == (int)sizeof(*loop->sig_info)) {
		rf__info("signal %u received: ending the session(s) on this loop",
			 loop->sig_info->ssi_signo);
		for (h = loop->hooks; h; h = next) {
			next = h->next;
			if (h->signal)
				h->signal(loop, h, (int)loop->sig_info->ssi_signo);
		}
	}
	arm_signals(loop);
}

static void arm_signals(struct rf_loop *loop)
{
	struct io_uring_sqe *sqe = rf__loop_sqe(loop, &loop->sig_c);

	io_uring_prep_read(sqe, loop->sig_fd, loop->sig_info, sizeof(*loop->sig_info), 0);
}

int rf_loop_handle_signals(struct rf_loop *loop)
{
	sigset_t set;
	int ret;

	if (loop->sig_fd >= 0)
		return 0;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	ret = pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (ret)
		return -ret;
	/* A client killed mid-write must not kill the server through SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	loop->sig_info = calloc(1, sizeof(*loop->sig_info));
	if (!loop->sig_info)
		return -ENOMEM;
	loop->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (loop->sig_fd < 0) {
		ret = -errno;
		free(loop->sig_info);
		loop->sig_info = NULL;
		return ret;
	}
	loop->sig_c.fn = on_signal;
	arm_signals(loop);
	return 0;
}

/* Reap what is ready, in batches, without holding CQ slots while callbacks run. */
static int reap(struct rf_loop *loop)
{
	struct io_uring_cqe *cqes[RF_CQE_BATCH];
	struct { struct rf_completion *c; int res; uint32_t flags; } done[RF_CQE_BATCH];
	unsigned int i, n;
	int total = 0;

	do {
		n = io_uring_peek_batch_cqe(&loop->ring, cqes, RF_CQE_BATCH);
		for (i = 0; i < n; i++) {
			done[i].c = io_uring_cqe_get_data(cqes[i]);
			done[i].res = cqes[i]->res;
			done[i].flags = cqes[i]->flags;
		}
		io_uring_cq_advance(&loop->ring, n);
		for (i = 0; i < n; i++) {
			if (!done[i].c)
				continue;
			if (!(done[i].flags & IORING_CQE_F_MORE))
				loop->inflight--;
			done[i].c->fn(loop, done[i].c, done[i].res, done[i].flags);
		}
		total += (int)n;
	} while (n == RF_CQE_BATCH);
	return total;
}

/*
 * Busy-poll (rf_loop_set_busy_poll): submit, then spin for up to poll_ns on the completion
 * ring instead of sleeping, so that a request arriving soon finds the loop awake (no
 * wake-up latency). Completions come as task work, which runs only when the thread enters
 * the kernel: the ring's TASKRUN flag says when there is some, and only then is the kernel
 * entered (to run it) while spinning. True if a completion is ready.
 */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static bool busy_poll(struct rf_loop *loop)
{
	uint64_t deadline;
	unsigned int spins = 0;

	count_enter(loop, false);
	io_uring_submit(&loop->ring);
	if (io_uring_cq_ready(&loop->ring))
		return true;
	deadline = rf__now_ns() + loop->poll_ns;
	for (;;) {
		if (IO_URING_READ_ONCE(*loop->ring.sq.kflags) & IORING_SQ_TASKRUN) {
			bump(&loop->enters);
			io_uring_get_events(&loop->ring);
		}
		if (io_uring_cq_ready(&loop->ring))
			return true;
		/* The clock is read every 64 turns: a turn is a few nanoseconds. */
		if (++spins % 64 == 0 && rf__now_ns() >= deadline)
			return false;
		cpu_relax();
	}
}

void rf_loop_set_busy_poll(struct rf_loop *loop, unsigned int us)
{
	loop->poll_ns = (uint64_t)us * 1000;
}

/*
 * One round: posts, then submit what is queued and wait for a completion (one kernel entry),
 * reap, timers, posts, hooks. @flush: submit what this round queued before returning, for a
 * caller that may not come back soon (rf_loop_run_once); rf_loop_run comes straight back and
 * lets the next round's single io_uring_enter carry it.
 */
static int loop_round(struct rf_loop *loop, int timeout_ms, bool flush)
{
	struct __kernel_timespec ts;
	struct io_uring_cqe *cqe;
	int ret, n = 0;

	if (!atomic_load_explicit(&loop->has_thread, memory_order_relaxed) ||
	    !pthread_equal(loop->thread, pthread_self())) {
		loop->thread = pthread_self();
		atomic_store_explicit(&loop->has_thread, true, memory_order_release);
	}
	arm_wake(loop);
	n += run_posts(loop);
	timeout_ms = next_timeout(loop, n ? 0 : timeout_ms);
	if (timeout_ms != 0 && loop->poll_ns && busy_poll(loop))
		timeout_ms = 0;         /* a completion came while spinning: no sleep */
	count_enter(loop, timeout_ms != 0);
	if (timeout_ms == 0) {
		ret = io_uring_submit(&loop->ring);
	} else if (timeout_ms < 0) {
		ret = io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1, NULL, NULL);
	} else {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long long)(timeout_ms % 1000) * 1000000;
		ret = io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1, &ts, NULL);
	}
	if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
		return ret;
	n += reap(loop);
	n += run_timers(loop);
	n += run_posts(loop);
	run_hooks(loop);
	if (flush) {
		count_enter(loop, false);
		io_uring_submit(&loop->ring);
	}
	return n;
}

int rf_loop_run_once(struct rf_loop *loop, int timeout_ms)
{
	/* Replies queued by this round's callbacks go to the kernel now, not next round. */
	return loop_round(loop, timeout_ms, true);
}

int rf_loop_run(struct rf_loop *loop)
{
	int ret = 0;

	while (!atomic_load(&loop->stop)) {
		if (loop->hooks && loop->nr_live == 0)
			break;
		ret = loop_round(loop, -1, false);
		if (ret < 0)
			break;
		ret = 0;
	}
	atomic_store(&loop->stop, 0);
	return ret;
}

void rf_loop_stop(struct rf_loop *loop)
{
	atomic_store(&loop->stop, 1);
	rf__loop_wake(loop);
}

/*
 * Drain: cancel our own long-lived reads and reap until no SQE of ours is in flight, so
 * the ring is retired with nothing left for the kernel to put later. Bounded in time.
 */
static void drain_begin(struct rf_loop *loop)
{
	struct io_uring_sqe *sqe;

	loop->closing = true;
	if (loop->wake_armed) {
		sqe = rf__loop_sqe(loop, NULL);
		io_uring_prep_cancel(sqe, &loop->wake_c, 0);
	}
	if (loop->sig_fd >= 0) {
		sqe = rf__loop_sqe(loop, NULL);
		io_uring_prep_cancel(sqe, &loop->sig_c, 0);
	}
}

static void drain_until(struct rf_loop *loop, uint64_t deadline)
{
	while (loop->inflight > 0 && rf__now_ns() < deadline) {
		int left = (int)((deadline - rf__now_ns()) / 1000000) + 1;
		struct __kernel_timespec ts = { .tv_sec = left / 1000,
						.tv_nsec = (left % 1000) * 1000000ll };
		struct io_uring_cqe *cqe;

		/* Completions of calls done in place are posts: they need no kernel. */
		if (run_posts(loop))
			continue;
		io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1, &ts, NULL);
		reap(loop);
		run_posts(loop);
	}
}

static int drain_end(struct rf_loop *loop, int timeout_ms)
{
	if (loop->inflight > 0) {
		rf__warn("loop: %u operations still in flight after %d ms, abandoned",
			 loop->inflight, timeout_ms);
		return -ETIMEDOUT;
	}
	return 0;
}

int rf__loop_drain(struct rf_loop *loop, int timeout_ms)
{
	drain_begin(loop);
	drain_until(loop, rf__now_ns() + (uint64_t)timeout_ms * 1000000ull);
	return drain_end(loop, timeout_ms);
}

int rf__loop_drain_after(struct rf_loop *loop, atomic_int *held, uint32_t held_ms,
			 int timeout_ms)
{
	uint64_t end = rf__now_ns() + (uint64_t)held_ms * 1000000ull;

	drain_begin(loop);
	/* In slices, to see @held drop even when nothing completes here meanwhile. */
	while (loop->inflight > 0 && atomic_load(held) > 0 && rf__now_ns() < end)
		drain_until(loop, RF_MIN(rf__now_ns() + 100000000ull, end));
	drain_until(loop, rf__now_ns() + (uint64_t)timeout_ms * 1000000ull);
	return drain_end(loop, timeout_ms);
}

/* ---- closing fds outside a request ------------------------------------------------ */

struct close_op {
	struct rf_completion c;
	int fd;
};

static void on_closed(struct rf_loop *loop, struct rf_completion *c, int res, uint32_t flags)
{
	struct close_op *op = rf_container_of(c, struct close_op, c);

	if (res < 0)
		rf__warn("close of backing fd %d: %s", op->fd, strerror(-res));
	free(op);
}

int rf_loop_close_fd(struct rf_loop *loop, int fd)
{
	struct close_op *op = malloc(sizeof(*op));
	struct io_uring_sqe *sqe;

	if (fd < 0)
		return -EBADF;
	rf_backing_forget_fd(fd);        /* the number may come back on another filesystem */
	if (!op || loop->closing) {
		free(op);
		return close(fd) < 0 ? -errno : 0;
	}
	op->c.fn = on_closed;
	op->fd = fd;
	sqe = rf__loop_sqe(loop, &op->c);
	io_uring_prep_close(sqe, fd);
	return 0;
}

/* ---- the worker pool: blocking calls off the loop thread ---------------------------- */

struct rf_workers {
	pthread_t th[RF_WORKERS_MAX];
	int n;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct rf_work *head, **tail;    /* queued calls */
	bool stop;
	struct rf_loop *loop;
};

/* On the loop: a worker finished @p's call. */
static void work_done(struct rf_loop *loop, struct rf_post *p)
{
	struct rf_work *w = rf_container_of(p, struct rf_work, post);

	loop->inflight--;
	w->done(loop, w);
}

static void *worker_main(void *arg)
{
	struct rf_workers *ws = arg;
	struct rf_work *w;

	pthread_mutex_lock(&ws->lock);
	for (;;) {
		while (!ws->head && !ws->stop)
			pthread_cond_wait(&ws->cond, &ws->lock);
		if (!ws->head)
			break;
		w = ws->head;
		ws->head = w->wnext;
		if (!ws->head)
			ws->tail = &ws->head;
		pthread_mutex_unlock(&ws->lock);

		w->result = w->fn(w->arg);
		w->post.fn = work_done;
		rf__loop_post(ws->loop, &w->post);
		pthread_mutex_lock(&ws->lock);
	}
	pthread_mutex_unlock(&ws->lock);
	return NULL;
}

int rf__loop_work(struct rf_loop *loop, struct rf_work *w)
{
	struct rf_workers *ws = loop->workers;

	if (!ws) {
		ws = calloc(1, sizeof(*ws));
		if (!ws)
			return -ENOMEM;
		pthread_mutex_init(&ws->lock, NULL);
		pthread_cond_init(&ws->cond, NULL);
		ws->tail = &ws->head;
		ws->loop = loop;
		loop->workers = ws;
	}
	w->wnext = NULL;
	pthread_mutex_lock(&ws->lock);
	*ws->tail = w;
	ws->tail = &w->wnext;
	/* Grow the pool up to its bound; past that, calls queue. */
	if (ws->n < RF_WORKERS_MAX && pthread_create(&ws->th[ws->n], NULL, worker_main, ws) == 0)
		ws->n++;
	pthread_cond_signal(&ws->cond);
	pthread_mutex_unlock(&ws->lock);
	loop->inflight++;               /* teardown waits for it like for a CQE */
	return 0;
}

/* Join the workers; what they finished is run here, on the loop, before the pool goes. */
void rf__loop_workers_stop(struct rf_loop *loop)
{
	struct rf_workers *ws = loop->workers;
	int i;

	if (!ws)
		return;
	pthread_mutex_lock(&ws->lock);
	ws->stop = true;
	pthread_cond_broadcast(&ws->cond);
	pthread_mutex_unlock(&ws->lock);
	for (i = 0; i < ws->n; i++)
		pthread_join(ws->th[i], NULL);
	run_posts(loop);
	pthread_mutex_destroy(&ws->lock);
	pthread_cond_destroy(&ws->cond);
	free(ws);
	loop->workers = NULL;
}

void rf_loop_free(struct rf_loop *loop)
{
	if (!loop)
		return;
	rf__loop_workers_stop(loop);
	if (loop->inflight)
		rf__loop_drain(loop, 2000);
	/* Posted callbacks run exactly once, as documented, even when the loop goes away. */
	run_posts(loop);
	if (loop->sig_fd >= 0) {
		close(loop->sig_fd);
		free(loop->sig_info);
	}
	io_uring_queue_exit(&loop->ring);
	close(loop->wake_fd);
	pthread_mutex_destroy(&loop->post_lock);
	free(loop);
}
