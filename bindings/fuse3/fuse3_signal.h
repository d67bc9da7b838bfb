/*
 * The one contract between misc.c (fuse_set_signal_handlers) and the session core: how a
 * signal ends a session's loop. Private to bindings/fuse3, never installed.
 */
#ifndef RF_FUSE3_SIGNAL_H
#define RF_FUSE3_SIGNAL_H

struct fuse_session;

/* Ends @se's loop from a SIGHUP/SIGINT/SIGTERM handler, as fuse_session_exit does, and
 * records @sig (> 0) as what the loop function returns, as libfuse 3.14's loops return the
 * signal that ended them. Defined by the session core. Called in signal context on any
 * thread, so it must be async-signal-safe: atomics and write(2) to wake the loop, no locks,
 * no allocation, no logging. */
void rf_fuse3_exit_from_signal(struct fuse_session *se, int sig);

/* SIGUSR1 (sigstats.c): the handler calls rf_fuse3_stats_signal (async-signal-safe); the
 * thread that logs @se's statistics is started and stopped with the handlers. */
void rf_fuse3_stats_signal(void);
int rf_fuse3_stats_start(struct fuse_session *se);
void rf_fuse3_stats_stop(void);
/* In the child of fuse_daemonize's fork: the parent's statistics thread did not come
 * along; start this process's own. */
void rf_fuse3_stats_after_fork(void);

#endif
