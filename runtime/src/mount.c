/* SPDX-License-Identifier: MIT */
/*
 * mount.c - getting a /dev/fuse fd attached to a mount point, and letting go of it.
 * As root without auto_unmount: open /dev/fuse and mount(2). Otherwise: fusermount3, which
 * mounts for us and passes the fd back over a socket (and, with auto_unmount, stays to
 * unmount when we die). The fd is O_NONBLOCK from the start and never toggled
 * (docs/kernel-notes.md §2.4: clearing it under queued ring reads deadlocks the loop).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

#define FUSERMOUNT "fusermount3"

/* The options both mount paths share, comma separated, into @buf. */
static int common_opts(const struct rf_session *se, char *buf, size_t cap)
{
	const struct rf_opts *o = &se->opts;
	int n;

	n = snprintf(buf, cap, "%s%s%s", o->allow_other ? ",allow_other" : "",
		     o->default_permissions ? ",default_permissions" : "", "");
	if (o->max_read)
		n += snprintf(buf + n, cap > (size_t)n ? cap - (size_t)n : 0, ",max_read=%u",
			      o->max_read);
	return (size_t)n < cap ? 0 : -E2BIG;
}

static const char *fs_source(const struct rf_session *se)
{
	if (se->opts.fsname)
		return se->opts.fsname;
	return se->opts.subtype ? se->opts.subtype : "ringfuse";
}

static int mount_direct(struct rf_session *se, const struct stat *st)
{
	char data[1024], type[128], extra[512];
	int fd, ret;

	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		rf__err("cannot open /dev/fuse: %s (is the fuse module loaded?)", strerror(errno));
		return ret;
	}
	ret = common_opts(se, extra, sizeof(extra));
	if (ret < 0)
		goto fail;
	snprintf(data, sizeof(data), "fd=%d,rootmode=%o,user_id=%u,group_id=%u%s", fd,
		 st->st_mode & S_IFMT, getuid(), getgid(), extra);
	snprintf(type, sizeof(type), "fuse%s%s", se->opts.subtype ? "." : "",
		 se->opts.subtype ? se->opts.subtype : "");
	if (mount(fs_source(se), se->mountpoint, type, se->opts.mount_flags, data) < 0) {
		ret = -errno;
		rf__err("mount of %s on %s failed: %s", type, se->mountpoint, strerror(errno));
		goto fail;
	}
	se->fd = fd;
	se->mounted = true;
	return 0;
fail:
	close(fd);
	return ret;
}

/* Receive the fd fusermount3 sends over @sock (one byte of data, SCM_RIGHTS). */
static int receive_fd(int sock)
{
	char ccmsg[CMSG_SPACE(sizeof(int))], byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ccmsg,
			      .msg_controllen = sizeof(ccmsg) };
	struct cmsghdr *cmsg;
	ssize_t n;
	int fd;

	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ECONNRESET;   /* fusermount3 failed; it said why on stderr */
	cmsg = CMSG_FIRSTHDR(&msg);
	if (!cmsg || cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
		return -EPROTO;
	memcpy(&fd, CMSG_DATA(cmsg), sizeof(fd));
	return fd;
}

/* Run fusermount3 with @argv (NULL-terminated, argv[0] ignored); optionally hand it
 * @commfd. Double fork with auto_unmount so the long-lived helper is not our child. */
static pid_t spawn_fusermount(char **argv, int commfd, bool detach)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char env[32];

		if (detach) {
			pid_t grand = fork();

			if (grand != 0)
				_exit(grand < 0 ? 1 : 0);
			setsid();
		}
		if (commfd >= 0) {
			int flags = fcntl(commfd, F_GETFD);

			fcntl(commfd, F_SETFD, flags & ~FD_CLOEXEC);
			snprintf(env, sizeof(env), "%d", commfd);
			setenv("_FUSE_COMMFD", env, 1);
		}
		argv[0] = (char *)FUSERMOUNT;
		execvp(FUSERMOUNT, argv);
		fprintf(stderr, "ringfuse: cannot run " FUSERMOUNT ": %s\n", strerror(errno));
		_exit(127);
	}
	return pid;
}

static int wait_child(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int mount_fusermount(struct rf_session *se)
{
	char opts[1536], extra[512];
	char *argv[] = { NULL, "-o", opts, "--", se->mountpoint, NULL };
	const struct rf_opts *o = &se->opts;
	int sv[2], fd, ret, flags;
	pid_t pid;

	ret = common_opts(se, extra, sizeof(extra));
	if (ret < 0)
		return ret;
	snprintf(opts, sizeof(opts), "%s%s%s%s%s,fsname=%s%s%s%s%s", o->read_only ? "ro" : "rw",
		 (o->mount_flags & MS_NOSUID) ? ",nosuid" : "",
		 (o->mount_flags & MS_NODEV) ? ",nodev" : "",
		 (o->mount_flags & MS_NOEXEC) ? ",noexec" : "",
		 (o->mount_flags & MS_NOATIME) ? ",noatime" : "", fs_source(se),
		 o->subtype ? ",subtype=" : "", o->subtype ? o->subtype : "", extra,
		 o->auto_unmount ? ",auto_unmount" : "");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = spawn_fusermount(argv, sv[1], o->auto_unmount);
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return (int)pid;
	}
	fd = receive_fd(sv[0]);
	ret = wait_child(pid);
	if (fd < 0) {
		rf__err(FUSERMOUNT " did not mount %s (exit %d): %s", se->mountpoint, ret,
			strerror(-fd));
		close(sv[0]);
		return fd == -ECONNRESET ? -EIO : fd;
	}
	/* Before the first read, never after: see the note at the top of the file. */
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		ret = -errno;
		close(fd);
		close(sv[0]);
		return ret;
	}
	if (o->auto_unmount) {
		se->fusermount_sock = sv[0];   /* fusermount3 unmounts when this closes */
	} else {
		close(sv[0]);
	}
	se->fd = fd;
	se->mounted = true;
	se->fusermount = true;
	return 0;
}

int rf__mount(struct rf_session *se)
{
	char path[PATH_MAX];
	struct stat st;

	if (!se->opts.mountpoint || !*se->opts.mountpoint) {
		rf__err("no mount point given");
		return -EINVAL;
	}
	if (se->fd >= 0 || se->mounted)
		return -EBUSY;
	if (!realpath(se->opts.mountpoint, path) || stat(path, &st) < 0) {
		int ret = -errno;

		rf__err("bad mount point %s: %s", se->opts.mountpoint, strerror(errno));
		return ret;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		rf__err("bad mount point %s: not a directory or regular file", path);
		return -ENOTDIR;
	}
	free(se->mountpoint);
	se->mountpoint = strdup(path);
	if (!se->mountpoint)
		return -ENOMEM;
	if (geteuid() == 0 && !se->opts.auto_unmount)
		return mount_direct(se, &st);
	return mount_fusermount(se);
}

int rf_session_mount(struct rf_session *se)
{
	return rf__mount(se);
}

int rf__unmount(struct rf_session *se)
{
	int ret = 0;

	if (!se->mounted)
		return 0;
	se->mounted = false;
	if (se->fusermount) {
		char *argv[] = { NULL, "-u", "-q", "-z", "--", se->mountpoint, NULL };
		pid_t pid = spawn_fusermount(argv, -1, false);

		ret = pid < 0 ? (int)pid : wait_child(pid);
		if (ret > 0)
			ret = -EIO;   /* fusermount3 already said why */
	} else if (umount2(se->mountpoint, UMOUNT_NOFOLLOW) < 0) {
		ret = -errno;
		if (errno == EBUSY) {
			/* Still in use: detach it now; the kernel finishes when it is free. */
			ret = umount2(se->mountpoint, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 ? -errno : 0;
		} else if (errno == EINVAL) {
			ret = 0;      /* already unmounted (that is how we were told to stop) */
		}
		if (ret < 0)
			rf__warn("unmount of %s failed: %s", se->mountpoint, strerror(-ret));
	}
	if (se->fusermount_sock >= 0) {
		close(se->fusermount_sock);
		se->fusermount_sock = -1;
	}
	return ret;
}
