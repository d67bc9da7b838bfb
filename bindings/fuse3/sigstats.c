/* SPDX-License-Identifier: MIT */
/*
 * sigstats.c - SIGUSR1 writes the session's statistics to the log, from outside the
 * process, as ringfuse's own servers do (rf_loop_handle_signals): one line of
 * rf_stats_json at warning level, whose "nodes" field is the node ids the kernel holds
 * (1 = the root alone), plus, for a high-level (fuse.h) session, the path layer's nodes.
 * fuse_set_signal_handlers installs the handler only where SIGUSR1 is at its default
 * action (misc.c). The handler only posts a semaphore (async-signal-safe); a thread of
 * this file does the logging.
 */
#include "fuse3_int.h"
#include "fuse3_signal.h"

#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static sem_t stats_sem;
static pthread_t stats_thread;
static bool stats_running;
static pid_t stats_pid;                 /* the process the thread runs in */
static atomic_bool stats_stop;
static _Atomic(struct fuse_session *) stats_session;

static void *stats_main(void *arg)
{
	static char json[16384];

	(void)arg;
	for (;;) {
		struct fuse_session *se;
		struct rf_stats st;

		while (sem_wait(&stats_sem) == -1 && errno == EINTR)
			;
		if (atomic_load(&stats_stop))
			break;
		se = atomic_load(&stats_session);
		if (!se || !se->rs || rf_session_stats(se->rs, &st) < 0)
			continue;
		rf_stats_json(&st, json, sizeof(json));
		if (se->node_count)
			fuse_log(FUSE_LOG_WARNING, "ringfuse-fuse3: stats: %s high-level nodes: %zu\n",
				 json, se->node_count(se->userdata));
		else
			fuse_log(FUSE_LOG_WARNING, "ringfuse-fuse3: stats: %s\n", json);
	}
	return NULL;
}

void rf_fuse3_stats_signal(void)
{
	if (stats_running)
		sem_post(&stats_sem);
}

int rf_fuse3_stats_start(struct fuse_session *se)
{
	sigset_t all, old;
	int ret;

	atomic_store(&stats_session, se);
	if (stats_running && stats_pid == getpid())
		return 0;
	/* Started in the parent of a fork (fuse_set_signal_handlers before fuse_daemonize,
	 * as sshfs does): the thread stayed there; this process needs its own. */
	stats_running = false;
	if (sem_init(&stats_sem, 0, 0) == -1)
		return -errno;
	atomic_store(&stats_stop, false);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = pthread_create(&stats_thread, NULL, stats_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		sem_destroy(&stats_sem);
		return -ret;
	}
	stats_running = true;
	stats_pid = getpid();
	return 0;
}

void rf_fuse3_stats_after_fork(void)
{
	struct fuse_session *se = atomic_load(&stats_session);

	if (stats_running && stats_pid != getpid() && se)
		rf_fuse3_stats_start(se);
}

void rf_fuse3_stats_stop(void)
{
	if (!stats_running)
		return;
	if (stats_pid != getpid()) {
		/* Forked since it started: joining the parent's thread would wait for ever
		 * (daemonized sshfs never exited after its unmount). */
		stats_running = false;
		atomic_store(&stats_session, NULL);
		return;
	}
	atomic_store(&stats_stop, true);
	sem_post(&stats_sem);
	pthread_join(stats_thread, NULL);
	sem_destroy(&stats_sem);
	stats_running = false;
	atomic_store(&stats_session, NULL);
}
