/* SPDX-License-Identifier: MIT */
/*
 * loop.c - fuse_session_loop (handlers on the ring's thread), fuse_session_loop_mt
 * (max_threads ring loops that each receive, run and answer one request at a time:
 * rf_session_set_blocking; or, with -o mt_pool, one ring thread for all kernel I/O and
 * the handlers on a worker pool sized by fuse_loop_config) with every versioned variant
 * libfuse exports, and fuse_loop_cfg_*. The threading model is described in
 * bindings/fuse3/README.md.
 */
#include <errno.h>
#include <linux/futex.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fuse3_int.h"

/* ---- the worker pool --------------------------------------------------------------------- */

/*
 * The hand-off costs what libfuse's own does per request at most: one futex wake by the
 * submitter and one futex wait by the worker, and neither when the worker is caught before
 * it slept. A job goes straight to the worker that went idle last (its stack and caches are
 * warm), not through a condition variable that wakes any waiter, which then queues on the
 * lock the submitter still holds. The queue only holds jobs while no worker is idle.
 */
static void futex_wait_word(atomic_uint *word, unsigned int val)
{
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake_word(atomic_uint *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Any thread, lock not held: give @w (taken off the idle stack) @job, NULL to stop. */
static void hand_over(struct rf_fuse3_worker *w, struct fuse_req *job)
{
	w->job = job;
	if (atomic_exchange(&w->word, RF3_W_JOB) == RF3_W_SLEEPING)
		futex_wake_word(&w->word);
}

/* Worker, lock held: wait on the idle stack for a job; NULL when the pool stops. */
static struct fuse_req *wait_job(struct rf_fuse3_pool *pool, struct rf_fuse3_worker *w)
{
	unsigned int v;

	atomic_store(&w->word, RF3_W_AWAKE);
	w->job = NULL;
	w->next = pool->idle;
	pool->idle = w;
	pool->nidle++;
	pthread_mutex_unlock(&pool->lock);
	v = RF3_W_AWAKE;
	if (atomic_compare_exchange_strong(&w->word, &v, RF3_W_SLEEPING)) {
		while (atomic_load(&w->word) == RF3_W_SLEEPING)
			futex_wait_word(&w->word, RF3_W_SLEEPING);
	}
	pthread_mutex_lock(&pool->lock);
	return w->job;
}

static void *worker_main(void *arg)
{
	struct rf_fuse3_worker *w = arg;
	struct rf_fuse3_pool *pool = w->pool;
	struct fuse_req *req;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		req = pool->head;
		if (req) {
			pool->head = req->next;
			if (!pool->head)
				pool->tail = NULL;
		} else {
			if (pool->stop)
				break;
			/* Too many idle workers: this one goes (max_idle_threads). */
			if (pool->max_idle >= 0 && pool->nidle >= (unsigned int)pool->max_idle)
				break;
			req = wait_job(pool, w);
			if (!req)
				continue;       /* stopping: finish what is queued, then go */
		}
		req->next = NULL;
		pthread_mutex_unlock(&pool->lock);
		rf_fuse3_run_job(req);
		pthread_mutex_lock(&pool->lock);
	}
	pool->nthreads--;
	w->next = pool->spare;
	pool->spare = w;
	pthread_cond_broadcast(&pool->idle_cv);
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

/* Lock held. Workers take no signals: they go to the thread that runs the loop, where
 * fuse_set_signal_handlers' handlers expect them (as in libfuse). */
static int start_worker(struct rf_fuse3_pool *pool)
{
	struct rf_fuse3_worker *w = pool->spare;
	sigset_t all, old;
	pthread_attr_t attr;
	pthread_t th;
	int ret;

	if (w) {
		pool->spare = w->next;
	} else {
		w = calloc(1, sizeof(*w));
		if (!w)
			return -ENOMEM;
		w->pool = pool;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	ret = pthread_create(&th, &attr, worker_main, w);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret == 0) {
		pool->nthreads++;
	} else {
		w->next = pool->spare;
		pool->spare = w;
	}
	return -ret;
}

/* Loop thread (or a worker, for a RELEASE/FORGET its handler let go): run @req on a worker,
 * the idle one if there is one, else a new one, else the first that becomes free. */
void rf_fuse3_pool_submit(struct rf_fuse3_pool *pool, struct fuse_req *req)
{
	struct rf_fuse3_worker *w;

	req->next = NULL;
	pthread_mutex_lock(&pool->lock);
	w = pool->idle;
	if (w) {
		pool->idle = w->next;
		pool->nidle--;
		pthread_mutex_unlock(&pool->lock);
		hand_over(w, req);
		return;
	}
	if (pool->tail)
		pool->tail->next = req;
	else
		pool->head = req;
	pool->tail = req;
	if (pool->nthreads < pool->max_threads) {
		int ret = start_worker(pool);

		if (ret < 0 && pool->nthreads == 0) {
			/* Not even one worker: run it here rather than never. */
			pool->head = pool->tail = NULL;
			pthread_mutex_unlock(&pool->lock);
			fuse_log(FUSE_LOG_ERR, "fuse: cannot start a worker thread: %s\n",
				 strerror(-ret));
			rf_fuse3_run_job(req);
			return;
		}
	}
	pthread_mutex_unlock(&pool->lock);
}

static int pool_init(struct rf_fuse3_pool *pool, const struct fuse_loop_config *cfg)
{
	pthread_mutexattr_t ma;

	memset(pool, 0, sizeof(*pool));
	/* Held for a few instructions at a time: spin a little before sleeping on it. */
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(&pool->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	pthread_cond_init(&pool->idle_cv, NULL);
	pool->max_threads = cfg->max_threads ? cfg->max_threads : RF_FUSE3_DEF_MAX_THREADS;
	pool->max_idle = cfg->max_idle_threads;
	return 0;
}

/* Let the workers finish what is queued and running, and wait until every one is gone. */
static void pool_stop(struct rf_fuse3_pool *pool)
{
	struct rf_fuse3_worker *w;

	pthread_mutex_lock(&pool->lock);
	pool->stop = true;
	while (pool->nthreads > 0 || pool->head) {
		while ((w = pool->idle)) {
			pool->idle = w->next;
			pool->nidle--;
			hand_over(w, NULL);     /* it takes the lock after us: safe here */
		}
		if (pool->head && pool->nthreads == 0 && start_worker(pool) < 0) {
			/* Queued work and no thread for it: run it here. */
			struct fuse_req *req = pool->head;

			pool->head = req->next;
			if (!pool->head)
				pool->tail = NULL;
			pthread_mutex_unlock(&pool->lock);
			rf_fuse3_run_job(req);
			pthread_mutex_lock(&pool->lock);
			continue;
		}
		pthread_cond_wait(&pool->idle_cv, &pool->lock);
	}
	pthread_mutex_unlock(&pool->lock);
}

static void pool_destroy(struct rf_fuse3_pool *pool)
{
	struct rf_fuse3_worker *w;

	while ((w = pool->spare)) {
		pool->spare = w->next;
		free(w);
	}
	pthread_cond_destroy(&pool->idle_cv);
	pthread_mutex_destroy(&pool->lock);
}

/* ---- the loops -------------------------------------------------------------------------- */

/* The loops other than this thread's take no signals: they go to the thread that runs the
 * first loop, where fuse_set_signal_handlers' handlers expect them (as in libfuse). */
static int start_loops(struct fuse_session *se)
{
	sigset_t all, old;
	int ret;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = rf_session_start_loops(se->rs);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}

/*
 * Run the first loop on this thread until the session ends (with @threads > 0, the other
 * loops on threads of their own). The session ends on unmount, a signal handled by
 * fuse_set_signal_handlers (fuse_session_exit) or a fatal error; the runtime then answers
 * what is in flight, releases what the kernel left open, forgets what it still remembers
 * (through the filesystem's handlers) and unmounts.
 */
static int run_loop(struct fuse_session *se, int threads, struct rf_fuse3_pool *pool,
		    const char *func)
{
	int ret;

	if (!se) {
		fuse_log(FUSE_LOG_ERR, "fuse: %s: NULL session\n", func);
		return -EINVAL;
	}
	if (!se->rs) {
		fuse_log(FUSE_LOG_ERR, "fuse: %s: the session is not mounted "
			 "(call fuse_session_mount first)\n", func);
		return -EINVAL;
	}
	if (atomic_load(&se->in_loop) || se->custom) {
		fuse_log(FUSE_LOG_ERR, "fuse: %s: a %s already runs on this session\n", func,
			 se->custom ? "custom loop (fuse_session_receive_buf)" : "loop");
		return -EBUSY;
	}
	if (atomic_load(&se->exited) || rf_session_ended(se->rs))
		return se->error;
	if (!se->loop) {
		ret = threads ? rf_session_set_blocking(se->rs, threads) : 0;
		if (ret == 0)
			ret = rf_loop_new(&se->loop);
		if (ret < 0) {
			fuse_log(FUSE_LOG_ERR, "fuse: %s: cannot create the ring: %s\n", func,
				 strerror(-ret));
			return ret;
		}
		ret = rf_session_attach(se->rs, se->loop);
		if (ret < 0) {
			fuse_log(FUSE_LOG_ERR, "fuse: %s: %s\n", func, strerror(-ret));
			return ret;
		}
		se->mt = threads > 0;
	}
	se->loop_thread = pthread_self();
	se->pool = se->mt ? NULL : pool;
	se->parallel = se->mt ? threads > 1 : pool && pool->max_threads > 1;
	atomic_store(&se->in_loop, true);
	ret = se->mt ? start_loops(se) : 0;
	if (ret < 0)
		fuse_log(FUSE_LOG_ERR, "fuse: %s: cannot start the loop threads: %s\n", func,
			 strerror(-ret));
	/* Even after a failure: the first loop drains and ends what was started. */
	ret = rf_loop_run(se->loop) ?: ret;
	if (se->mt)
		rf_session_stop_loops(se->rs);
	if (se->pool) {
		pool_stop(se->pool);
		/* Replies the workers made last are posted to the ring: write them now,
		 * while the session still exists. */
		while (rf_loop_run_once(se->loop, 0) > 0)
			;
	}
	atomic_store(&se->in_loop, false);
	se->pool = NULL;
	if (ret < 0)
		fuse_log(FUSE_LOG_ERR, "fuse: %s: the ring failed: %s\n", func, strerror(-ret));
	else if (se->error)
		ret = se->error;
	else
		ret = atomic_load(&se->signal);   /* as libfuse 3.14: the signal that ended it */
	return ret;
}

int fuse_session_loop(struct fuse_session *se)
{
	return run_loop(se, 0, NULL, "fuse_session_loop");
}

int fuse_session_loop_mt_312(struct fuse_session *se, struct fuse_loop_config *config);
int fuse_session_loop_mt_32(struct fuse_session *se, struct fuse_loop_config_v1 *config);
int fuse_session_loop_mt_31(struct fuse_session *se, int clone_fd);

/* The versions libfuse 3.14 exports: the default takes the opaque config (3.12), the
 * older ones the v1 struct (3.2) or just clone_fd (3.0); each is also exported under its
 * own name, which the header's macros call for FUSE_USE_VERSION < 3.12. */
__asm__(".symver fuse_session_loop_mt_312,fuse_session_loop_mt@@FUSE_3.12");
__asm__(".symver fuse_session_loop_mt_32,fuse_session_loop_mt@FUSE_3.2");
__asm__(".symver fuse_session_loop_mt_31,fuse_session_loop_mt@FUSE_3.0");

/* max_threads loops that serve requests one at a time each (at least one per kernel
 * queue), started with the session and kept; or, with -o mt_pool, the pool. */
int fuse_session_loop_mt_312(struct fuse_session *se, struct fuse_loop_config *config)
{
	struct fuse_loop_config defaults;
	unsigned int threads;
	int ret;

	if (config && config->version_id != RF_FUSE3_LOOP_CFG_V2) {
		fuse_log(FUSE_LOG_ERR, "fuse: fuse_session_loop_mt: invalid loop config (not from "
			 "fuse_loop_cfg_create)\n");
		return -EINVAL;
	}
	if (!config) {
		memset(&defaults, 0, sizeof(defaults));
		defaults.version_id = RF_FUSE3_LOOP_CFG_V2;
		defaults.max_idle_threads = -1;
		defaults.max_threads = RF_FUSE3_DEF_MAX_THREADS;
		config = &defaults;
	}
	if (!se)
		return run_loop(se, 0, NULL, "fuse_session_loop_mt");
	if (se->mt_loops) {
		threads = config->max_threads ? config->max_threads : RF_FUSE3_DEF_MAX_THREADS;
		if (threads > RF_FUSE3_MAX_LOOPS) {
			fuse_log(FUSE_LOG_WARNING, "fuse: fuse_session_loop_mt: max_threads %u: "
				 "%u loop threads\n", threads, RF_FUSE3_MAX_LOOPS);
			threads = RF_FUSE3_MAX_LOOPS;
		}
		return run_loop(se, (int)threads, NULL, "fuse_session_loop_mt");
	}
	if (!se->pool_mem) {
		se->pool_mem = calloc(1, sizeof(*se->pool_mem));
		if (!se->pool_mem)
			return -ENOMEM;
	}
	pool_init(se->pool_mem, config);
	ret = run_loop(se, 0, se->pool_mem, "fuse_session_loop_mt");
	pool_destroy(se->pool_mem);
	return ret;
}

int fuse_session_loop_mt_32(struct fuse_session *se, struct fuse_loop_config_v1 *config)
{
	struct fuse_loop_config cfg = {
		.version_id = RF_FUSE3_LOOP_CFG_V2,
		.max_idle_threads = -1,
		.max_threads = RF_FUSE3_DEF_MAX_THREADS,
	};

	if (config)
		fuse_loop_cfg_convert(&cfg, config);
	return fuse_session_loop_mt_312(se, &cfg);
}

int fuse_session_loop_mt_31(struct fuse_session *se, int clone_fd)
{
	struct fuse_loop_config cfg = {
		.version_id = RF_FUSE3_LOOP_CFG_V2,
		.clone_fd = clone_fd,
		.max_idle_threads = -1,
		.max_threads = RF_FUSE3_DEF_MAX_THREADS,
	};

	return fuse_session_loop_mt_312(se, &cfg);
}

/* ---- fuse_loop_cfg_* --------------------------------------------------------------------- */

struct fuse_loop_config *fuse_loop_cfg_create(void)
{
	struct fuse_loop_config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return NULL;
	cfg->version_id = RF_FUSE3_LOOP_CFG_V2;
	cfg->max_idle_threads = -1;
	cfg->max_threads = RF_FUSE3_DEF_MAX_THREADS;
	return cfg;
}

void fuse_loop_cfg_destroy(struct fuse_loop_config *config)
{
	free(config);
}

/* UINT_MAX (what fuse_parse_cmdline leaves by default) means "never stop idle ones". */
void fuse_loop_cfg_set_idle_threads(struct fuse_loop_config *config, unsigned int value)
{
	if (config)
		config->max_idle_threads = value > INT_MAX ? -1 : (int)value;
}

void fuse_loop_cfg_set_max_threads(struct fuse_loop_config *config, unsigned int value)
{
	if (config)
		config->max_threads = value;
}

/* Accepted and kept: the ring does all kernel I/O on one fd, so there is nothing to clone
 * (README.md). */
void fuse_loop_cfg_set_clone_fd(struct fuse_loop_config *config, unsigned int value)
{
	if (config)
		config->clone_fd = (int)value;
}

void fuse_loop_cfg_convert(struct fuse_loop_config *config, struct fuse_loop_config_v1 *v1_conf)
{
	if (!config || !v1_conf)
		return;
	fuse_loop_cfg_set_idle_threads(config, v1_conf->max_idle_threads);
	fuse_loop_cfg_set_clone_fd(config, (unsigned int)v1_conf->clone_fd);
}
