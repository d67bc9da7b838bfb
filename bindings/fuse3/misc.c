/*
 * The process-level helpers of libfuse 3.14: fuse_set_signal_handlers and
 * fuse_remove_signal_handlers (HUP/INT/TERM end the session's loop), fuse_daemonize, and
 * fuse_version/fuse_pkgversion. Ending the loop itself is the session core's business
 * (rf_fuse3_exit_from_signal, fuse3_signal.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2 */
#endif
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include "fuse3_signal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The session the handlers end; one per process, as in libfuse. Atomic because the handler
 * reads it at any time on any thread. */
static _Atomic(struct fuse_session *) signal_session;

static void exit_on_signal(int sig)
{
	struct fuse_session *se = atomic_load(&signal_session);

	if (se)
		rf_fuse3_exit_from_signal(se, sig);
}

/* SIGPIPE gets a handler that does nothing rather than SIG_IGN: the effect is the same for
 * this process (a write to a closed pipe returns EPIPE), but unlike SIG_IGN it is not
 * inherited by programs the filesystem executes. */
static void ignore_signal(int sig)
{
	(void)sig;
}

/* Installs @handler for @sig only where the program left the default action, so a handler
 * of its own is never replaced. With @remove, restores the default where @handler is set. */
static int set_one(int sig, void (*handler)(int), int remove)
{
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = remove ? SIG_DFL : handler;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a loop blocked in a system call must wake up and see the exit. */
	sa.sa_flags = 0;
	if (sigaction(sig, NULL, &old) == -1) {
		fuse_log(FUSE_LOG_ERR, "fuse: cannot get signal handler: %s\n", strerror(errno));
		return -1;
	}
	if (old.sa_handler != (remove ? handler : SIG_DFL))
		return 0;
	if (sigaction(sig, &sa, NULL) == -1) {
		fuse_log(FUSE_LOG_ERR, "fuse: cannot set signal handler: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static const int exit_signals[] = { SIGHUP, SIGINT, SIGTERM };

static void stats_on_signal(int sig)
{
	(void)sig;
	rf_fuse3_stats_signal();
}

/* Whether SIGUSR1 is at its default action (then it is ours to take for the statistics). */
static bool usr1_default(void)
{
	struct sigaction old;

	return sigaction(SIGUSR1, NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
	       old.sa_handler == SIG_DFL;
}

int fuse_set_signal_handlers(struct fuse_session *se)
{
	if (!se) {
		fuse_log(FUSE_LOG_ERR, "fuse: fuse_set_signal_handlers: NULL session\n");
		return -1;
	}
	/* Publish the session before any handler can run. */
	atomic_store(&signal_session, se);
	for (size_t i = 0; i < sizeof(exit_signals) / sizeof(exit_signals[0]); i++)
		if (set_one(exit_signals[i], exit_on_signal, 0) == -1)
			return -1;
	if (set_one(SIGPIPE, ignore_signal, 0) == -1)
		return -1;
	/* SIGUSR1: the statistics, where the program left it alone (sigstats.c). */
	if (usr1_default() && rf_fuse3_stats_start(se) == 0)
		set_one(SIGUSR1, stats_on_signal, 0);
	return 0;
}

void fuse_remove_signal_handlers(struct fuse_session *se)
{
	struct fuse_session *expected = se;

	if (!atomic_compare_exchange_strong(&signal_session, &expected, NULL))
		fuse_log(FUSE_LOG_ERR, "fuse: fuse_remove_signal_handlers: unknown session\n");
	for (size_t i = 0; i < sizeof(exit_signals) / sizeof(exit_signals[0]); i++)
		set_one(exit_signals[i], exit_on_signal, 1);
	set_one(SIGPIPE, ignore_signal, 1);
	set_one(SIGUSR1, stats_on_signal, 1);
	rf_fuse3_stats_stop();
}

static void to_root(void)
{
	/* As in libfuse, staying in the old directory is not an error. */
	if (chdir("/") == -1)
		return;
}

/*
 * Without @foreground: fork; the parent waits on a pipe until the child has started its own
 * session, moved to / and pointed stdin/out/err at /dev/null, then exits 0, so a shell or
 * init sees the filesystem start only once it is detached. The child returns 0. With
 * @foreground, only the chdir("/"). Returns -1 (with a message on stderr) if a step fails.
 */
int fuse_daemonize(int foreground)
{
	int ready[2], nullfd;
	char done = 0;
	ssize_t n;
	pid_t pid;

	if (foreground) {
		to_root();
		return 0;
	}
	if (pipe2(ready, O_CLOEXEC) == -1) {
		perror("fuse_daemonize: pipe");
		return -1;
	}
	pid = fork();
	if (pid == -1) {
		perror("fuse_daemonize: fork");
		close(ready[0]);
		close(ready[1]);
		return -1;
	}
	if (pid > 0) {
		close(ready[1]);
		do
			n = read(ready[0], &done, 1);
		while (n == -1 && errno == EINTR);
		/* The child's early death (n == 0) is reported by the child, not here. */
		_exit(0);
	}
	close(ready[0]);
	rf_fuse3_stats_after_fork();
	if (setsid() == -1) {
		perror("fuse_daemonize: setsid");
		close(ready[1]);
		return -1;
	}
	to_root();
	nullfd = open("/dev/null", O_RDWR);
	if (nullfd != -1) {
		dup2(nullfd, STDIN_FILENO);
		dup2(nullfd, STDOUT_FILENO);
		dup2(nullfd, STDERR_FILENO);
		if (nullfd > STDERR_FILENO)
			close(nullfd);
	}
	/* If this write fails the parent sees EOF instead, and exits all the same. */
	done = 1;
	n = write(ready[1], &done, 1);
	(void)n;
	close(ready[1]);
	return 0;
}

int fuse_version(void)
{
	return FUSE_VERSION;
}

/* The libfuse release whose API this is, with ringfuse as semver build metadata: version
 * comparisons still see 3.14.0, and -V output shows what is really running. */
const char *fuse_pkgversion(void)
{
	return "3.14.0+ringfuse";
}
