/*
 * Private contracts between the files of bindings/fuse3 (never installed). The session-independent
 * files (opt.c, cmdline.c, buf.c, log.c, misc.c) include only libfuse3 headers and this one.
 */
#ifndef RF_FUSE3_INTERNAL_H
#define RF_FUSE3_INTERNAL_H

struct fuse_session;

/* Ends @se's loop from a signal handler: defined by the session core (session.c), called by
 * misc.c's SIGHUP/SIGINT/SIGTERM handler. Must be async-signal-safe (no locks, no malloc), and
 * records @sig so the loop can return it as libfuse 3.14's fuse_session_loop does. */
void rf3__session_exit_from_signal(struct fuse_session *se, int sig);

#endif
