/*
 * Description: the process-level helpers of the libfuse3 binding (bindings/fuse3/misc.c):
 * fuse_set_signal_handlers / fuse_remove_signal_handlers (installed only over the default
 * action, a signal ends the session, removal restores the default), fuse_daemonize (a new
 * session in /, stdio on /dev/null, the caller's process exits 0), fuse_version and
 * fuse_pkgversion.
 */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char logbuf[1024];

static void capture_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
	size_t used = strlen(logbuf);

	(void)level;
	vsnprintf(logbuf + used, sizeof(logbuf) - used, fmt, ap);
}

static struct fuse_session *new_session(void)
{
	static const struct fuse_lowlevel_ops ops;
	char *argv[] = { (char *)"prog", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(1, argv);
	struct fuse_session *se = fuse_session_new(&args, &ops, sizeof(ops), NULL);

	cr_assert_not_null(se);
	fuse_opt_free_args(&args);
	return se;
}

static void (*handler_of(int sig))(int)
{
	struct sigaction sa;

	cr_assert_eq(sigaction(sig, NULL, &sa), 0);
	return sa.sa_handler;
}

static void own_handler(int sig)
{
	(void)sig;
}

Test(fuse3_misc, signal_handlers_install_over_defaults_only, .timeout = 10)
{
	struct fuse_session *se = new_session();
	struct sigaction sa = { .sa_handler = own_handler };
	void (*ours)(int);

	signal(SIGHUP, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	cr_assert_eq(sigaction(SIGINT, &sa, NULL), 0);
	cr_assert_eq(fuse_set_signal_handlers(se), 0);
	ours = handler_of(SIGTERM);
	cr_expect(ours != SIG_DFL && ours != SIG_IGN);
	cr_expect_eq(handler_of(SIGHUP), ours);
	cr_expect_eq(handler_of(SIGINT), own_handler, "the program's own handler stays");
	/* SIGPIPE: a handler, not SIG_IGN, so exec'd children do not inherit "ignore". */
	cr_expect(handler_of(SIGPIPE) != SIG_DFL && handler_of(SIGPIPE) != SIG_IGN);
	cr_assert_eq(sigaction(SIGTERM, NULL, &sa), 0);
	cr_expect_eq(sa.sa_flags & SA_RESTART, 0, "blocked calls must see EINTR");

	fuse_remove_signal_handlers(se);
	cr_expect_eq(handler_of(SIGTERM), SIG_DFL);
	cr_expect_eq(handler_of(SIGHUP), SIG_DFL);
	cr_expect_eq(handler_of(SIGPIPE), SIG_DFL);
	cr_expect_eq(handler_of(SIGINT), own_handler);
	fuse_session_destroy(se);
}

Test(fuse3_misc, signal_ends_the_session, .timeout = 10)
{
	static const int sigs[] = { SIGHUP, SIGINT, SIGTERM };

	for (size_t i = 0; i < 3; i++) {
		struct fuse_session *se = new_session();

		signal(sigs[i], SIG_DFL);
		cr_assert_eq(fuse_set_signal_handlers(se), 0);
		cr_expect_eq(fuse_session_exited(se), 0);
		raise(sigs[i]);
		cr_expect_neq(fuse_session_exited(se), 0, "signal %d", sigs[i]);
		raise(SIGPIPE); /* must not kill us */
		fuse_remove_signal_handlers(se);
		fuse_session_destroy(se);
	}
}

Test(fuse3_misc, remove_for_another_session_logs_and_still_restores, .timeout = 10)
{
	struct fuse_session *se = new_session();

	logbuf[0] = '\0';
	fuse_set_log_func(capture_log);
	signal(SIGTERM, SIG_DFL);
	cr_assert_eq(fuse_set_signal_handlers(se), 0);
	fuse_remove_signal_handlers(se);
	cr_expect_str_eq(logbuf, "");
	fuse_remove_signal_handlers(se);
	cr_expect(strstr(logbuf, "unknown session"), "log: %s", logbuf);
	cr_expect_eq(handler_of(SIGTERM), SIG_DFL);
	fuse_set_log_func(NULL);
	fuse_session_destroy(se);
}

Test(fuse3_misc, better_than_libfuse_null_session_is_refused)
{
	logbuf[0] = '\0';
	fuse_set_log_func(capture_log);
	signal(SIGTERM, SIG_DFL);
	cr_expect_eq(fuse_set_signal_handlers(NULL), -1);
	cr_expect_eq(handler_of(SIGTERM), SIG_DFL, "nothing installed");
	cr_expect(strstr(logbuf, "NULL session"), "log: %s", logbuf);
	fuse_set_log_func(NULL);
}

/* What the daemon reports about itself, written to the test through a pipe. */
struct daemon_report {
	pid_t pid;
	int ret;
	int own_session; /* getsid(0) == getpid() */
	int in_root;
	int stdio_null;  /* fds 0, 1, 2 are /dev/null */
};

static int is_dev_null(int fd)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && stat("/dev/null", &b) == 0 && a.st_rdev == b.st_rdev &&
	       S_ISCHR(a.st_mode);
}

static void report_self(int ret, int fd)
{
	struct daemon_report r = { .pid = getpid(), .ret = ret };
	char cwd[PATH_MAX];

	r.own_session = getsid(0) == getpid();
	r.in_root = getcwd(cwd, sizeof(cwd)) && strcmp(cwd, "/") == 0;
	r.stdio_null = is_dev_null(0) && is_dev_null(1) && is_dev_null(2);
	if (write(fd, &r, sizeof(r)) != sizeof(r))
		_exit(3);
}

/* A forked child of a test must not talk to criterion's runner (no cr_* calls) nor keep its
 * channels open: keep only @keep, and start from /tmp so the chdir("/") is visible. */
static void detach_from_runner(int keep)
{
	for (int fd = 3; fd < 1024; fd++)
		if (fd != keep)
			close(fd);
	if (chdir("/tmp") == -1)
		_exit(4);
}

/* The daemonize tests bound themselves with alarm() instead of criterion's .timeout:
 * criterion 2.4.1's runner leaks a timeout record (LeakSanitizer, 48 bytes, in
 * criterion_run_all_tests) when such a forking test overlaps other timed tests, which fails
 * the ASan run. SIGALRM's default action kills a hung test all the same. */
Test(fuse3_misc, daemonize_detaches_and_the_caller_exits_zero)
{
	struct daemon_report r = { 0 };
	int p[2], status;
	pid_t pid;

	alarm(20);
	/* The daemon is orphaned by design; make this test its reaper, so it can wait for it
	 * (and the test runner never meets a stranger among its children). */
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		int ret;

		detach_from_runner(p[1]);
		ret = fuse_daemonize(0);
		/* Only the daemon gets here; fuse_daemonize's caller exited 0 inside. */
		report_self(ret, p[1]);
		_exit(0);
	}
	close(p[1]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "caller status %#x", status);
	cr_assert_eq(read(p[0], &r, sizeof(r)), (ssize_t)sizeof(r), "no report from the daemon");
	close(p[0]);
	cr_expect_eq(r.ret, 0);
	cr_expect(r.own_session, "daemon not in its own session");
	cr_expect(r.in_root, "daemon not in /");
	cr_expect(r.stdio_null, "daemon's stdio not /dev/null");
	cr_expect_neq(r.pid, pid, "the daemon is a new process");
	cr_assert_eq(waitpid(r.pid, &status, 0), r.pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "daemon status %#x", status);
}

Test(fuse3_misc, daemonize_foreground_only_changes_to_root)
{
	struct daemon_report r = { 0 };
	int p[2], status;
	pid_t pid;

	alarm(20);
	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		detach_from_runner(p[1]);
		report_self(fuse_daemonize(1), p[1]);
		_exit(0);
	}
	close(p[1]);
	cr_assert_eq(read(p[0], &r, sizeof(r)), (ssize_t)sizeof(r));
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	close(p[0]);
	cr_expect_eq(r.ret, 0);
	cr_expect(r.in_root);
	cr_expect_eq(r.own_session, 0, "foreground must not setsid");
	cr_expect(!r.stdio_null || is_dev_null(1), "foreground must not touch stdio");
}

Test(fuse3_misc, versions)
{
	cr_expect_eq(fuse_version(), FUSE_VERSION);
	cr_expect_eq(fuse_version(), 314);
	cr_expect_eq(strncmp(fuse_pkgversion(), "3.14.0", 6), 0, "%s", fuse_pkgversion());
	cr_expect_str_eq(fuse_pkgversion(), "3.14.0+ringfuse");
}
