/* SPDX-License-Identifier: MIT */
/*
 * loop.c - one thread's event loop: the io_uring, its submit/reap cycle, wake-ups from
 * other threads (an eventfd read kept on the ring), posted callbacks, timers and
 * signals. What a CQE means is left to the owner of its struct rf_completion.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define RF_RING_ENTRIES 512
#define RF_CQE_BATCH 64

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

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The timer list lives in the loop; kept outside struct rf_loop's public fields. */
static struct rf_timer_impl **timer_head(struct rf_loop *loop)
{
	return (struct rf_timer_impl **)&loop->timers;
}

struct io_uring_sqe *rf__loop_sqe(struct rf_loop *loop, struct rf_completion *c)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);

	while (!sqe) {
		/* SQ full: hand what we have to the kernel and take a fresh entry. */
		io_uring_submit(&loop->ring);
		sqe = io_uring_get_sqe(&loop->ring);
	}
	io_uring_sqe_set_data(sqe, c);
	if (c)
		loop->inflight++;
	return sqe;
}

bool rf__on_loop_thread(const struct rf_loop *loop)
{
	/* pthread_self() costs no syscall: this runs for every reply. */
	return !atomic_load_explicit(&loop->has_thread, memory_order_acquire) ||
	       pthread_equal(loop->thread, pthread_self());
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
	p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SQE128;
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

int rf_loop_post(struct rf_loop *loop, rf_loop_cb cb, void *data)
{
	struct rf_post *p = malloc(sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->next = NULL;
	p->cb = cb;
	p->data = data;
	pthread_mutex_lock(&loop->post_lock);
	*loop->posts_tail = p;
	loop->posts_tail = &p->next;
	pthread_mutex_unlock(&loop->post_lock);
	rf__loop_wake(loop);
	return 0;
}

/* Requests handed over by other threads, and posted callbacks, run here. */
static int run_posts(struct rf_loop *loop)
{
	struct rf_post *p, *next;
	struct rf_req *r, *rnext, *intr;
	int n = 0;

	pthread_mutex_lock(&loop->post_lock);
	p = loop->posts;
	loop->posts = NULL;
	loop->posts_tail = &loop->posts;
	r = loop->remote;
	loop->remote = NULL;
	intr = loop->remote_intr;
	loop->remote_intr = NULL;
	pthread_mutex_unlock(&loop->post_lock);

	for (; r; r = rnext, n++) {
		int kind = r->remote_kind;

		rnext = r->next;
		r->next = NULL;
		if (kind == RF_REMOTE_REPLY)
			rf__chan_send(r);
		else
			rf__dispatch_resume(r);
	}
	for (; intr; intr = rnext, n++) {
		rnext = intr->intr_next;
		intr->intr_next = NULL;
		rf__req_interrupt(intr);
	}
	for (; p; p = next, n++) {
		next = p->next;
		p->cb(loop, p->data);
		free(p);
	}
	return n + rf__workers_reap(loop);
}

void rf__loop_post_req(struct rf_loop *loop, struct rf_req *req, int kind)
{
	pthread_mutex_lock(&loop->post_lock);
	if (kind == RF_REMOTE_INTERRUPT) {
		req->intr_next = loop->remote_intr;
		loop->remote_intr = req;
	} else {
		req->remote_kind = (uint8_t)kind;
		req->next = loop->remote;
		loop->remote = req;
	}
	pthread_mutex_unlock(&loop->post_lock);
	rf__loop_wake(loop);
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
	t->deadline_ns = now_ns() + ms * 1000000ull;
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
	uint64_t now = now_ns();
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
	now = now_ns();
	ms = t->deadline_ns > now ? (t->deadline_ns - now + 999999) / 1000000 : 0;
	if (timeout_ms >= 0 && (uint64_t)timeout_ms < ms)
		return timeout_ms;
	return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

static void arm_signals(struct rf_loop *loop);

static void on_signal(struct rf_loop *loop, struct rf_completion *c, int res, uint32_t flags)
{
	struct rf_chan *ch;

	if (res == -ECANCELED || loop->closing)
		return;
	if (res == (int)sizeof(*loop->sig_info)) {
		rf__info("signal %u received: ending the session(s) on this loop",
			 loop->sig_info->ssi_signo);
		for (ch = loop->chans; ch; ch = ch->next)
			rf_session_exit(ch->se);
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

int rf_loop_run_once(struct rf_loop *loop, int timeout_ms)
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
	rf__loop_sessions_poll(loop);
	/* Hand replies queued by this round's callbacks to the kernel now, not next round. */
	io_uring_submit(&loop->ring);
	return n;
}

int rf_loop_run(struct rf_loop *loop)
{
	int ret = 0;

	while (!atomic_load(&loop->stop)) {
		if (loop->chans && loop->nr_chans_live == 0)
			break;
		ret = rf_loop_run_once(loop, -1);
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
int rf__loop_drain(struct rf_loop *loop, int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;
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
	while (loop->inflight > 0 && now_ns() < deadline) {
		int left = (int)((deadline - now_ns()) / 1000000) + 1;
		struct __kernel_timespec ts = { .tv_sec = left / 1000,
						.tv_nsec = (left % 1000) * 1000000ll };
		struct io_uring_cqe *cqe;

		io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1, &ts, NULL);
		reap(loop);
		run_posts(loop);
	}
	if (loop->inflight > 0) {
		rf__warn("loop: %u operations still in flight after %d ms, abandoned",
			 loop->inflight, timeout_ms);
		return -ETIMEDOUT;
	}
	return 0;
}

void rf_loop_free(struct rf_loop *loop)
{
	if (!loop)
		return;
	rf__workers_stop(loop);
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
