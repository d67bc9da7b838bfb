/* SPDX-License-Identifier: MIT */
/*
 * mount.c - getting a /dev/fuse fd attached to a mount point, and letting go of it.
 * First open /dev/fuse and mount(2); when that needs a privilege we lack (EPERM), or with
 * auto_unmount: fusermount3, which mounts for us and passes the fd back over a socket
 * (and, with auto_unmount, stays to unmount when we die). The fd is O_NONBLOCK from the
 * start and never toggled (docs/kernel-notes.md §2.4: clearing it under queued ring reads
 * deadlocks the loop).
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
/* Where fusermount3 is looked for after PATH. */
static const char *const fusermount_dirs[] = { "/usr/bin", "/bin", "/usr/local/bin" };
static const char not_found = 127;     /* spawn_fusermount's child found no fusermount3 */

/* The options both mount paths share, comma separated, into @buf. allow_root mounts with
 * allow_other: the kernel has no allow_root, the runtime enforces it (access.c). */
static int common_opts(const struct rf_session *se, char *buf, size_t cap)
{
	const struct rf_opts *o = &se->opts;
	int n;

	n = snprintf(buf, cap, "%s%s", o->allow_other || o->allow_root ? ",allow_other" : "",
		     o->default_permissions ? ",default_permissions" : "");
	if (o->max_read)
		n += snprintf(buf + n, cap > (size_t)n ? cap - (size_t)n : 0, ",max_read=%u",
			      o->max_read);
	return (size_t)n < cap ? 0 : -E2BIG;
}

/* The program's name, as mount(8) users expect in the type (fuse.NAME) and source. */
static const char *prog_name(void)
{
	return *program_invocation_short_name ? program_invocation_short_name : "ringfuse";
}

static const char *fs_source(const struct rf_session *se)
{
	return se->opts.fsname && *se->opts.fsname ? se->opts.fsname : prog_name();
}

static const char *fs_subtype(const struct rf_session *se)
{
	return se->opts.subtype ? se->opts.subtype : prog_name();
}

/* "fuse.<subtype>", or "fuse" for an empty subtype: the libfuse3 binding's, for a
 * program that named none (libfuse mounts those as plain "fuse"). */
static void fs_type(const struct rf_session *se, char *type, size_t cap)
{
	const char *sub = fs_subtype(se);

	snprintf(type, cap, "fuse%s%s", *sub ? "." : "", sub);
}

/* The kernel's answer when mounting needs a privilege we lack; fusermount3 (set-uid root)
 * may still do it. */
static bool needs_privilege(int err)
{
	return err == -EPERM || err == -EACCES;
}

static int mount_direct(struct rf_session *se, const struct stat *st)
{
	char data[1024], type[128], extra[512];
	int fd, ret;

	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		if (!needs_privilege(ret))
			rf__err("cannot open /dev/fuse: %s (is the fuse module loaded?)",
				strerror(errno));
		return ret;
	}
	ret = common_opts(se, extra, sizeof(extra));
	if (ret < 0)
		goto fail;
	snprintf(data, sizeof(data), "fd=%d,rootmode=%o,user_id=%u,group_id=%u%s", fd,
		 st->st_mode & S_IFMT, getuid(), getgid(), extra);
	fs_type(se, type, sizeof(type));
	if (mount(fs_source(se), se->mountpoint, type, se->opts.mount_flags, data) < 0) {
		ret = -errno;
		if (!needs_privilege(ret))
			rf__err("mount of %s on %s failed: %s", type, se->mountpoint,
				strerror(errno));
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
	if (!cmsg && byte == not_found)
		return -ENOENT;       /* no fusermount3 to run (spawn_fusermount) */
	if (!cmsg || cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
		return -EPROTO;
	memcpy(&fd, CMSG_DATA(cmsg), sizeof(fd));
	return fd;
}

/* Run fusermount3 with @argv (NULL-terminated, argv[0] ignored); optionally hand it
 * @commfd. Double fork with auto_unmount so the long-lived helper is not our child.
 * @quiet: its stdout and stderr go to /dev/null. */
static pid_t spawn_fusermount(char **argv, int commfd, bool detach, bool quiet)
{
	pid_t pid = fork();
	size_t i;

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
		if (quiet) {
			int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

			if (null >= 0) {
				dup2(null, STDOUT_FILENO);
				dup2(null, STDERR_FILENO);
			}
		}
		if (commfd >= 0) {
			int flags = fcntl(commfd, F_GETFD);

			fcntl(commfd, F_SETFD, flags & ~FD_CLOEXEC);
			snprintf(env, sizeof(env), "%d", commfd);
			setenv("_FUSE_COMMFD", env, 1);
		}
		argv[0] = (char *)FUSERMOUNT;
		execvp(FUSERMOUNT, argv);
		/* Not in PATH (a service's or sudo's short PATH): where packages install it,
		 * as libfuse also looks (its FUSERMOUNT_DIR). */
		for (i = 0; i < RF_ARRAY_SIZE(fusermount_dirs); i++) {
			char path[64];

			snprintf(path, sizeof(path), "%s/" FUSERMOUNT, fusermount_dirs[i]);
			execv(path, argv);
		}
		/* The parent tells: by wait_child's 127, or, detached (the parent waits for
		 * the middle child only), by this byte sent without an fd (receive_fd). */
		if (commfd >= 0)
			(void)!write(commfd, &not_found, 1);
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

/* Append ",key=value" to @buf with ',' and '\\' escaped, as fusermount3 unescapes them: a
 * name must not smuggle options into a set-uid program's command line. */
static size_t add_escaped(char *buf, size_t len, size_t cap, const char *key, const char *val)
{
	len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, ",%s=", key);
	for (; *val && len + 2 < cap; val++) {
		if (*val == ',' || *val == '\\')
			buf[len++] = '\\';
		buf[len++] = *val;
	}
	if (len < cap)
		buf[len] = '\0';
	return *val ? cap : len;
}

/* Mount flags as fusermount3 reads them: every MS_* flag ringfuse parses survives this
 * path too (sync and dirsync were once dropped here). */
static size_t add_flags(char *buf, size_t cap, unsigned long flags)
{
	/* fusermount3 refuses "suid" and "dev" from users (off_root): only root asks. */
	static const struct {
		unsigned long flag;
		const char *on, *off;
		bool off_root;
	} names[] = {
		{ MS_RDONLY, "ro", "rw", false },         { MS_NOSUID, "nosuid", "suid", true },
		{ MS_NODEV, "nodev", "dev", true },       { MS_NOEXEC, "noexec", NULL, false },
		{ MS_NOATIME, "noatime", NULL, false },   { MS_NODIRATIME, "nodiratime", NULL, false },
		{ MS_RELATIME, "relatime", NULL, false }, { MS_STRICTATIME, "strictatime", NULL, false },
		{ MS_SYNCHRONOUS, "sync", NULL, false },  { MS_DIRSYNC, "dirsync", NULL, false },
		{ MS_LAZYTIME, "lazytime", NULL, false },
	};
	size_t len = 0, i;
	const char *name;

	for (i = 0; i < RF_ARRAY_SIZE(names); i++) {
		bool on = flags & names[i].flag;

		name = on ? names[i].on : names[i].off;
		if (!name || (!on && names[i].off_root && geteuid() != 0))
			continue;
		len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, "%s%s",
					len ? "," : "", name);
	}
	return len;
}

/* One run of fusermount3 to mount: the fd it sends back, or -errno; its socket in @sv[0]
 * (closed on failure) and its exit status (or the middle child's) in @status. */
static int try_fusermount(char **argv, bool detach, bool quiet, int sv[2], int *status)
{
	pid_t pid;
	int fd;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = spawn_fusermount(argv, sv[1], detach, quiet);
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return (int)pid;
	}
	fd = receive_fd(sv[0]);
	*status = wait_child(pid);
	if (fd < 0)
		close(sv[0]);
	return fd;
}

static int mount_fusermount(struct rf_session *se)
{
	char opts[1536], extra[512];
	char *argv[] = { NULL, "-o", opts, "--", se->mountpoint, NULL };
	const struct rf_opts *o = &se->opts;
	int sv[2], fd, ret, flags;
	size_t len;

	ret = common_opts(se, extra, sizeof(extra));
	if (ret < 0)
		return ret;
	len = add_flags(opts, sizeof(opts), o->mount_flags);
	len = add_escaped(opts, len, sizeof(opts), "fsname", fs_source(se));
	if (*fs_subtype(se))    /* none: fusermount3 mounts type "fuse" */
		len = add_escaped(opts, len, sizeof(opts), "subtype", fs_subtype(se));
	len += (size_t)snprintf(opts + len, len < sizeof(opts) ? sizeof(opts) - len : 0, "%s%s",
				extra, o->auto_unmount ? ",auto_unmount" : "");
	if (len >= sizeof(opts))
		return -E2BIG;
	/* The helper that stays for auto_unmount keeps the stderr it is given, and once the
	 * mount is gone by an ordinary umount it prints "M not mounted" there when we exit
	 * (on the terminal, long after a detached start returned). So it gets none; and as
	 * libfuse does, a quiet try that fails is made again aloud, to show why. */
	fd = try_fusermount(argv, o->auto_unmount, o->auto_unmount, sv, &ret);
	if (fd < 0 && fd != -ENOENT && o->auto_unmount)
		fd = try_fusermount(argv, true, false, sv, &ret);
	if (fd < 0) {
		if (ret == 127 || fd == -ENOENT)
			rf__err("cannot run " FUSERMOUNT " to mount %s: not found in PATH, /usr/bin, "
				"/bin or /usr/local/bin (Debian: apt-get install fuse3)",
				se->mountpoint);
		else if (o->auto_unmount)   /* ret is the middle child's: it says nothing */
			rf__err(FUSERMOUNT " did not mount %s: %s", se->mountpoint,
				fd == -ECONNRESET ? "see its message above" : strerror(-fd));
		else
			rf__err(FUSERMOUNT " did not mount %s (exit %d): %s", se->mountpoint,
				ret, fd == -ECONNRESET ? "see its message above" : strerror(-fd));
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

/* ENOTCONN on the way to @mnt: a FUSE mount whose server died (kill -9) is still there,
 * on @mnt itself or above it. Name the first such directory and how to remove it: the
 * bare errno ("Transport endpoint is not connected") tells a user nothing. */
static void say_dead_mount(const char *mnt)
{
	char path[PATH_MAX], *slash;
	struct stat st;
	int n;

	if (mnt[0] == '/')
		n = snprintf(path, sizeof(path), "%s", mnt);
	else if (getcwd(path, sizeof(path)))
		n = snprintf(path + strlen(path), sizeof(path) - strlen(path), "/%s", mnt);
	else
		n = -1;
	/* The shortest prefix that fails with ENOTCONN is the dead mount's root. */
	for (slash = path + 1; n >= 0 && (size_t)n < sizeof(path); slash++) {
		char c = *slash;

		if (c && c != '/')
			continue;
		*slash = '\0';
		if (stat(path, &st) < 0 && errno == ENOTCONN)
			break;
		*slash = c;
		if (!c)
			break;
	}
	if (n < 0 || (size_t)n >= sizeof(path))
		snprintf(path, sizeof(path), "%s", mnt);
	rf__err("bad mount point %s: %s: a FUSE filesystem whose server has gone is still "
		"mounted on %s; unmount it first (fusermount3 -u %s, or as root umount %s)",
		mnt, strerror(ENOTCONN), path, path, path);
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

		if (ret == -ENOTCONN)
			say_dead_mount(se->opts.mountpoint);
		else
			rf__err("bad mount point %s: %s", se->opts.mountpoint, strerror(-ret));
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
	se->owner = getuid();
	/* mount(2) first, as libfuse does: it needs CAP_SYS_ADMIN (root, or a user namespace
	 * that owns the mount namespace); without it, fusermount3 mounts for us. auto_unmount
	 * needs fusermount3 in any case: it stays behind to unmount. */
	if (!se->opts.auto_unmount) {
		int ret = mount_direct(se, &st);

		if (!needs_privilege(ret))
			return ret;
		rf__info("mount(2) of %s: %s; mounting through " FUSERMOUNT, path, strerror(-ret));
	}
	return mount_fusermount(se);
}

/* A CUSE session's channel: /dev/cuse, where no mount follows (cuse.c, CUSE_INIT). */
static int open_cuse(struct rf_session *se)
{
	int fd;

	if (se->fd >= 0)
		return -EBUSY;
	fd = open("/dev/cuse", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int ret = -errno;

		if (errno == ENOENT || errno == ENODEV || errno == ENXIO) {
			rf__err("no /dev/cuse: this kernel has no CUSE (CONFIG_CUSE)");
			return -ENODEV;
		}
		rf__err("cannot open /dev/cuse: %s", strerror(errno));
		return ret;
	}
	se->fd = fd;
	se->owner = getuid();
	return 0;
}

int rf_session_mount(struct rf_session *se)
{
	return se->cuse ? open_cuse(se) : rf__mount(se);
}

int rf_session_take_fd(struct rf_session *se)
{
	int fd;

	if (!se || se->fd < 0)
		return -EBADF;
	if (se->loop)
		return -EBUSY;
	fd = se->fd;
	se->fd = -1;
	se->mounted = false;
	return fd;
}

/* Whether a FUSE filesystem is mounted at @path in our namespace: /proc/self/mountinfo's
 * 5th field (space, tab, newline and backslash octal-escaped), type after " - ". */
static bool fuse_mounted_at(const char *path)
{
	char line[4096], mp[PATH_MAX + 1];
	bool found = false;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	while (f && !found && fgets(line, sizeof(line), f)) {
		const char *p = line, *type;
		size_t n = 0;
		int field;

		for (field = 0; field < 4 && p; field++) {
			p = strchr(p, ' ');
			p = p ? p + 1 : NULL;
		}
		for (; p && *p && *p != ' ' && n < PATH_MAX; p++) {
			if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] && p[3]) {
				mp[n++] = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
				p += 3;
			} else {
				mp[n++] = *p;
			}
		}
		mp[n] = '\0';
		type = p ? strstr(p, " - ") : NULL;
		found = type && !strcmp(mp, path) && !strncmp(type + 3, "fuse", 4);
	}
	if (f)
		fclose(f);
	return found;
}

int rf__unmount(struct rf_session *se)
{
	int ret = 0;

	if (!se->mounted)
		return 0;
	se->mounted = false;
	/* Once served, the connection ends without our asking for two reasons: an unmount,
	 * which takes the mount away first, or an abort (fusectl, a forced shutdown), which
	 * leaves a dead mount behind. The second is not a normal end: say so. */
	if (atomic_load(&se->initialized) && !atomic_load(&se->exit_requested) &&
	    fuse_mounted_at(se->mountpoint)) {
		se->aborted = true;
		rf__err("the connection to %s was aborted with the mount in place; unmounting it",
			se->mountpoint);
	}
	if (se->fusermount) {
		char *argv[] = { NULL, "-u", "-q", "-z", "--", se->mountpoint, NULL };
		pid_t pid = spawn_fusermount(argv, -1, false, false);

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
