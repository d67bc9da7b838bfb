/* SPDX-License-Identifier: MIT */
/*
 * loop.c - fuse_session_loop (handlers on the ring's thread), fuse_session_loop_mt
 * (max_threads ring loops that each receive, run the handler of and answer one request at
 * a time: rf_session_set_blocking) with every versioned variant libfuse exports, and
 * fuse_loop_cfg_*. The threading model is described in bindings/fuse3/README.md.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuse3_int.h"

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
static int run_loop(struct fuse_session *se, int threads, const char *func)
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
	atomic_store(&se->in_loop, true);
	ret = se->mt ? start_loops(se) : 0;
	if (ret < 0)
		fuse_log(FUSE_LOG_ERR, "fuse: %s: cannot start the loop threads: %s\n", func,
			 strerror(-ret));
	/* Even after a failure: the first loop drains and ends what was started. */
	ret = rf_loop_run(se->loop) ?: ret;
	if (se->mt)
		rf_session_stop_loops(se->rs);
	atomic_store(&se->in_loop, false);
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
	return run_loop(se, 0, "fuse_session_loop");
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

/* max_threads loops serve requests, each one at a time (at least one per kernel queue);
 * they are started with the session and kept, so max_idle_threads has nothing to stop. */
int fuse_session_loop_mt_312(struct fuse_session *se, struct fuse_loop_config *config)
{
	unsigned int threads = RF_FUSE3_DEF_MAX_THREADS;

	if (config && config->version_id != RF_FUSE3_LOOP_CFG_V2) {
		fuse_log(FUSE_LOG_ERR, "fuse: fuse_session_loop_mt: invalid loop config (not from "
			 "fuse_loop_cfg_create)\n");
		return -EINVAL;
	}
	if (config && config->max_threads)
		threads = config->max_threads;
	if (threads > RF_FUSE3_MAX_LOOPS) {
		fuse_log(FUSE_LOG_WARNING, "fuse: fuse_session_loop_mt: max_threads %u: %u loop "
			 "threads\n", threads, RF_FUSE3_MAX_LOOPS);
		threads = RF_FUSE3_MAX_LOOPS;
	}
	return run_loop(se, (int)threads, "fuse_session_loop_mt");
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
