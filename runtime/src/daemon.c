/* SPDX-License-Identifier: MIT */
/*
 * daemon.c - daemon mode: after the mount, the process forks; the parent waits on a pipe
 * and exits 0 only once the child is serving (it reached the kernel's INIT), or 1 when
 * the child ended first. This is what mount(8), mount.fuse3 and systemd units wait for.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "cli.h"

/* A process detaches once: the state of that one child. */
static int ready_fd = -1;                           /* the pipe's write end */
static void (*fs_init)(void *userdata, struct rf_conn *conn);

static void stdio_to_null(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

/* Takes the place of the filesystem's init in the child: INIT reached us, so the mount
 * is live and this process serves it. The INIT reply follows as soon as we return, and
 * the kernel holds every request until then. */
static void init_then_ready(void *userdata, struct rf_conn *conn)
{
	char ok = 0;

	if (fs_init)
		fs_init(userdata, conn);
	if (ready_fd < 0)
		return;
	rf__log_to_syslog(program_invocation_short_name);
	stdio_to_null();
	if (write(ready_fd, &ok, 1) != 1)
		rf__warn("daemon: cannot tell the parent we are ready: %s", strerror(errno));
	close(ready_fd);
	ready_fd = -1;
}

/* The parent: wait for the child's word; never returns. */
static void __attribute__((noreturn)) parent_wait(struct rf_session *se, int rfd, pid_t pid)
{
	int status = 0, code = 1;
	ssize_t n;
	char c;

	do
		n = read(rfd, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1 && c == 0)
		_exit(0);
	/* The child ended before serving: it said why on our stderr. Whatever it left
	 * mounted (it died without its teardown) is unmounted here. */
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status))
		code = WEXITSTATUS(status);
	if (se->fd >= 0)
		close(se->fd);
	se->fd = -1;
	rf__unmount(se);
	if (WIFSIGNALED(status))
		rf__err("the filesystem died of signal %d before the mount was live",
			WTERMSIG(status));
	else
		rf__err("the filesystem exited (status %d) before the mount was live",
			WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	_exit(code);
}

int rf_session_daemonize(struct rf_session *se)
{
	int fds[2];
	pid_t pid;

	if (se->opts.foreground)
		return 0;
	if (ready_fd >= 0 || se->loop)
		return -EBUSY;           /* detached already, or threads may be running */
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);                    /* nothing buffered is written twice */
	pid = fork();
	if (pid < 0) {
		int ret = -errno;

		close(fds[0]);
		close(fds[1]);
		rf__err("daemon: fork failed: %s", strerror(-ret));
		return ret;
	}
	if (pid > 0) {
		close(fds[1]);
		parent_wait(se, fds[0], pid);
	}
	close(fds[0]);
	ready_fd = fds[1];
	/* A session of our own, no controlling terminal; and no directory kept busy. The
	 * mount point was resolved to an absolute path at mount time. */
	if (setsid() < 0)
		rf__warn("daemon: setsid: %s", strerror(errno));
	if (chdir("/") < 0)
		rf__warn("daemon: chdir /: %s", strerror(errno));
	fs_init = se->ops.init;
	se->ops.init = init_then_ready;
	return 0;
}
