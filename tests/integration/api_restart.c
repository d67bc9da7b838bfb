/* SPDX-License-Identifier: MIT */
/*
 * api_restart.c - one process, several filesystems in a row: mount through the API, serve
 * a small passthrough of a directory on a loop-mounted ext4 under load, stop it with
 * rf_session_exit from another thread, and check that nothing is left: the ext4 unmounts
 * at once (no EBUSY), no fd of the process points into it, the filesystem saw a release
 * for every open and a forget for every lookup. Then mount again. (docs/architecture.md §5; README
 * "An application can stop one filesystem and mount another in the same process".)
 *
 * Usage: api_restart [-n CYCLES] [-u] [-l LOADGEN] EXT4_DEV EXT4_MNT MNT
 *
 * EXT4_DEV is mounted on EXT4_MNT (it may already be), the filesystem mirrors
 * EXT4_MNT/api (flat: regular files only) at MNT. Cycle i serves with
 *   rf_session_run on a thread (threads=1 or 2), or, every other cycle, a loop of our own
 *   (rf_loop_new, rf_session_attach, rf_loop_run on a thread, rf_loop_free);
 *   transport=dev, or with -u every other pair of cycles transport=uring;
 * while LOADGEN (default: loadgen next to this program) keeps files open, mmapped and
 * busy on MNT. The ext4 is unmounted (umount2, no MNT_DETACH) right after the session is
 * freed, while the load still holds its files on the dead FUSE mount, and mounted again
 * for the next cycle. The filesystem is the application's: its own directory fd is
 * closed by the application after the session; every file it opened for the kernel is
 * opened and closed through the ring (rf_backing_openat / rf_backing_close).
 *
 * Output: one line per cycle, then "api_restart: N/N cycles clean". Exit 0 if all were.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <ringfuse.h>

#define NFILES     4
#define FILE_SIZE  (256 * 1024)
#define MAX_NODES  64
#define NODE_BASE  1000000ull         /* node id = backing st_ino + NODE_BASE (never 1) */

extern char **environ;

/* A name the kernel has looked up: the flat table of this filesystem's inodes. */
struct node {
	uint64_t nodeid;
	uint64_t nlookup;
	char name[NAME_MAX + 1];
};

/* An open file: the backing fd, opened and closed on the ring. */
struct handle {
	int fd;
	struct rf_file *fi;          /* OPEN in progress */
	char name[NAME_MAX + 1];     /* OPEN in progress: the path the ring opens */
};

struct fs {
	int dirfd;                   /* EXT4_MNT/api, the application's own */
	pthread_mutex_t lock;        /* nodes (requests run on up to two loop threads) */
	struct node nodes[MAX_NODES];
	atomic_ulong opens, releases, lookups, forgets, bad;
};

static struct fs fs;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int node_name(uint64_t nodeid, char *name)
{
	int i, r = -ESTALE;

	pthread_mutex_lock(&fs.lock);
	for (i = 0; i < MAX_NODES; i++) {
		if (fs.nodes[i].nodeid == nodeid) {
			strcpy(name, fs.nodes[i].name);
			r = 0;
			break;
		}
	}
	pthread_mutex_unlock(&fs.lock);
	return r;
}

static int node_stat(uint64_t nodeid, struct stat *st)
{
	char name[NAME_MAX + 1];
	int r;

	if (nodeid == 1)
		r = fstat(fs.dirfd, st) < 0 ? -errno : 0;
	else if ((r = node_name(nodeid, name)) == 0)
		r = fstatat(fs.dirfd, name, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	if (r == 0)
		st->st_ino = nodeid;
	return r;
}

static void api_lookup(struct rf_req *req, uint64_t parent, const char *name)
{
	struct rf_entry e = { .attr_timeout = 1, .entry_timeout = 1 };
	int i, free_slot = -1, r = 0;

	if (parent != 1 || strlen(name) > NAME_MAX)
		return (void)rf_reply_err(req, -ENOENT);
	if (fstatat(fs.dirfd, name, &e.attr, AT_SYMLINK_NOFOLLOW) < 0)
		return (void)rf_reply_err(req, -errno);
	if (!S_ISREG(e.attr.st_mode))
		return (void)rf_reply_err(req, -ENOENT);     /* flat: regular files only */
	e.ino = (uint64_t)e.attr.st_ino + NODE_BASE;
	e.attr.st_ino = e.ino;
	pthread_mutex_lock(&fs.lock);
	for (i = 0; i < MAX_NODES; i++) {
		if (fs.nodes[i].nodeid == e.ino)
			break;
		if (!fs.nodes[i].nodeid && free_slot < 0)
			free_slot = i;
	}
	if (i == MAX_NODES && free_slot < 0) {
		r = -ENOSPC;
	} else {
		if (i == MAX_NODES) {
			i = free_slot;
			fs.nodes[i].nodeid = e.ino;
			fs.nodes[i].nlookup = 0;
			strcpy(fs.nodes[i].name, name);
		}
		/* Counted before the reply: the kernel may forget it at once. */
		fs.nodes[i].nlookup++;
		atomic_fetch_add(&fs.lookups, 1);
	}
	pthread_mutex_unlock(&fs.lock);
	if (r < 0)
		return (void)rf_reply_err(req, r);
	if (rf_reply_entry(req, &e) < 0)
		fprintf(stderr, "api_restart: entry reply failed\n");
}

static void api_forget(void *userdata, uint64_t ino, uint64_t nlookup)
{
	int i;

	atomic_fetch_add(&fs.forgets, nlookup);
	pthread_mutex_lock(&fs.lock);
	for (i = 0; i < MAX_NODES; i++) {
		if (fs.nodes[i].nodeid != ino)
			continue;
		if (nlookup > fs.nodes[i].nlookup) {
			fprintf(stderr, "api_restart: forget %llu of %llu, only %llu looked up\n",
				(unsigned long long)nlookup, (unsigned long long)ino,
				(unsigned long long)fs.nodes[i].nlookup);
			atomic_fetch_add(&fs.bad, 1);
			nlookup = fs.nodes[i].nlookup;
		}
		fs.nodes[i].nlookup -= nlookup;
		if (!fs.nodes[i].nlookup)
			fs.nodes[i].nodeid = 0;
		break;
	}
	if (i == MAX_NODES) {
		fprintf(stderr, "api_restart: forget of unknown node %llu\n",
			(unsigned long long)ino);
		atomic_fetch_add(&fs.bad, 1);
	}
	pthread_mutex_unlock(&fs.lock);
}

static void api_getattr(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct stat st;
	int r = node_stat(ino, &st);

	if (r < 0)
		return (void)rf_reply_err(req, r);
	rf_reply_attr(req, &st, 1.0);
}

static void open_done(struct rf_req *req, int res, void *data)
{
	struct handle *h = data;
	struct rf_file *fi = h->fi;

	if (res < 0) {
		free(h);
		return (void)rf_reply_err(req, res == -ECANCELED ? -EINTR : res);
	}
	h->fd = res;
	h->fi = NULL;
	fi->fh = (uint64_t)(uintptr_t)h;
	atomic_fetch_add(&fs.opens, 1);
	if (rf_reply_open(req, fi) < 0)
		fprintf(stderr, "api_restart: open reply failed\n");
}

static void api_open(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct handle *h = calloc(1, sizeof(*h));
	int r;

	if (!h)
		return (void)rf_reply_err(req, -ENOMEM);
	r = node_name(ino, h->name);
	if (r < 0) {
		free(h);
		return (void)rf_reply_err(req, r);
	}
	h->fd = -1;
	h->fi = fi;
	/* The path must stay valid until the open completes: it lives in the handle.
	 * O_DIRECT would need aligned buffers, which the request's are not. */
	r = rf_backing_openat(req, fs.dirfd, h->name,
			      fi->flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_DIRECT | O_TRUNC), 0,
			      open_done, h);
	if (r < 0)
		open_done(req, r, h);
}

static struct handle *handle_of(const struct rf_file *fi)
{
	return (struct handle *)(uintptr_t)fi->fh;
}

static void api_read(struct rf_req *req, uint64_t ino, size_t size, off_t off,
		     struct rf_file *fi)
{
	int r = rf_backing_read(req, handle_of(fi)->fd, size, off, NULL, NULL);

	if (r < 0)
		rf_reply_err(req, r);
}

static void api_write(struct rf_req *req, uint64_t ino, const void *buf, size_t size, off_t off,
		      struct rf_file *fi)
{
	int r = rf_backing_write(req, handle_of(fi)->fd, buf, size, off, NULL, NULL);

	if (r < 0)
		rf_reply_err(req, r);
}

static void api_fsync(struct rf_req *req, uint64_t ino, int datasync, struct rf_file *fi)
{
	int r = rf_backing_fsync(req, handle_of(fi)->fd, datasync, NULL, NULL);

	if (r < 0)
		rf_reply_err(req, r);
}

static void api_release(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct handle *h = handle_of(fi);
	int r;

	atomic_fetch_add(&fs.releases, 1);
	r = rf_backing_close(req, h->fd, NULL, NULL);
	if (r < 0) {
		close(h->fd);
		rf_reply_err(req, 0);
	}
	free(h);
}

static const struct rf_ops api_ops = {
	.lookup = api_lookup,
	.forget = api_forget,
	.getattr = api_getattr,
	.open = api_open,
	.read = api_read,
	.write = api_write,
	.fsync = api_fsync,
	.release = api_release,
};

/* ---- the application around it ------------------------------------------------------ */

static const char *ext4_dev, *ext4_mnt, *mnt;
static char loadgen[PATH_MAX], srcdir[PATH_MAX];

struct server {
	struct rf_session *se;
	struct rf_loop *loop;        /* own loop (attach mode), else NULL */
	int ret;
	atomic_bool done;
};

static void *serve(void *arg)
{
	struct server *sv = arg;

	sv->ret = sv->loop ? rf_loop_run(sv->loop) : rf_session_run(sv->se);
	atomic_store(&sv->done, true);
	return NULL;
}

static bool is_mounted(const char *path, const char *fstype)
{
	char line[8192], want[PATH_MAX + 2];
	bool found = false;
	FILE *f = fopen("/proc/self/mounts", "re");

	if (!f)
		return false;
	snprintf(want, sizeof(want), " %s ", path);
	while (!found && fgets(line, sizeof(line), f)) {
		char *p = strstr(line, want);

		found = p && !strncmp(p + strlen(want), fstype, strlen(fstype));
	}
	fclose(f);
	return found;
}

static int setup_ext4(void)
{
	static char buf[FILE_SIZE];
	int i;

	if (!is_mounted(ext4_mnt, "ext4") && mount(ext4_dev, ext4_mnt, "ext4", 0, NULL) < 0) {
		fprintf(stderr, "api_restart: mount %s on %s: %s\n", ext4_dev, ext4_mnt,
			strerror(errno));
		return -1;
	}
	if (mkdir(srcdir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "api_restart: mkdir %s: %s\n", srcdir, strerror(errno));
		return -1;
	}
	/* loadgen's files, full size already: through the mount it only opens them. */
	for (i = 0; i < NFILES; i++) {
		char path[PATH_MAX + 16];
		struct stat st;
		int fd;

		snprintf(path, sizeof(path), "%s/lg.%d", srcdir, i);
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0 || fstat(fd, &st) < 0) {
			fprintf(stderr, "api_restart: %s: %s\n", path, strerror(errno));
			return -1;
		}
		if (st.st_size < FILE_SIZE && pwrite(fd, buf, FILE_SIZE, 0) != FILE_SIZE) {
			fprintf(stderr, "api_restart: %s: %s\n", path, strerror(errno));
			close(fd);
			return -1;
		}
		close(fd);
	}
	return 0;
}

/* Fds of this process on the ext4 (by device, or by path): each is printed. */
static int fds_on_ext4(dev_t dev)
{
	size_t n = strlen(ext4_mnt);
	struct dirent *de;
	int left = 0;
	DIR *d = opendir("/proc/self/fd");

	while (d && (de = readdir(d))) {
		char link[PATH_MAX + 32];
		struct stat st;
		ssize_t len;
		int fd = atoi(de->d_name);

		if (de->d_name[0] == '.' || fd == dirfd(d))
			continue;
		len = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
		link[len < 0 ? 0 : len] = '\0';
		if ((fstat(fd, &st) == 0 && st.st_dev == dev) ||
		    (!strncmp(link, ext4_mnt, n) && (link[n] == '/' || link[n] == '\0'))) {
			printf("  fd %d still open on %s\n", fd, link);
			left++;
		}
	}
	if (d)
		closedir(d);
	return left;
}

/* Unmount the ext4 now; if it is busy, say for how long (the delayed-fput signature). */
static int umount_ext4(void)
{
	double t0 = now_s();
	int first;

	if (umount2(ext4_mnt, 0) == 0)
		return 0;
	first = errno;
	while (now_s() - t0 < 5.0) {
		usleep(10000);
		if (umount2(ext4_mnt, 0) == 0) {
			printf("  umount %s: %s at once, succeeded %.0f ms later\n", ext4_mnt,
			       strerror(first), (now_s() - t0) * 1e3);
			return -1;
		}
	}
	printf("  umount %s: %s, still busy after 5 s; detaching it\n", ext4_mnt,
	       strerror(first));
	umount2(ext4_mnt, MNT_DETACH);
	return -1;
}

/* Start loadgen on MNT and wait for its "ready" line. Returns its pid or -1. */
static pid_t start_load(void)
{
	char *argv[] = { loadgen, "-n", "4", "-s", "262144", "-p", "2", (char *)mnt, NULL };
	posix_spawn_file_actions_t fa;
	struct pollfd pfd;
	char buf[256];
	size_t len = 0;
	double t0 = now_s();
	int p[2], r;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	r = posix_spawn(&pid, loadgen, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (r) {
		fprintf(stderr, "api_restart: %s: %s\n", loadgen, strerror(r));
		close(p[0]);
		return -1;
	}
	pfd.fd = p[0];
	pfd.events = POLLIN;
	while (len < sizeof(buf) - 1 && now_s() - t0 < 10.0) {
		ssize_t n;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = read(p[0], buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "ready")) {
			close(p[0]);     /* loadgen's last line goes to a closed pipe: ignored */
			return pid;
		}
	}
	close(p[0]);
	fprintf(stderr, "api_restart: loadgen did not get ready: %s\n", buf);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

static void stop_load(pid_t pid)
{
	int i;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (i = 0; i < 1000; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		usleep(10000);
	}
	printf("  loadgen did not stop within 10 s: killed\n");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static int cycle(int i, bool uring)
{
	struct server sv = { 0 };
	struct rf_opts opts;
	struct stat ext;
	pthread_t th;
	pid_t load = -1;
	double t0, t_stop = 0;
	int fail = 0, r, k, threads = 1 + (i / 2) % 2;
	bool own_loop = i % 2 == 1;
	bool use_uring = uring && (i / 4) % 2 == 1;

	if (setup_ext4() < 0 || stat(ext4_mnt, &ext) < 0)
		return -1;
	memset(&fs.nodes, 0, sizeof(fs.nodes));
	atomic_store(&fs.opens, 0);
	atomic_store(&fs.releases, 0);
	atomic_store(&fs.lookups, 0);
	atomic_store(&fs.forgets, 0);
	atomic_store(&fs.bad, 0);
	fs.dirfd = open(srcdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs.dirfd < 0) {
		fprintf(stderr, "api_restart: %s: %s\n", srcdir, strerror(errno));
		return -1;
	}

	rf_opts_init(&opts);
	opts.mountpoint = mnt;
	opts.fsname = "api_restart";
	opts.threads = own_loop ? 1 : threads;
	opts.transport = use_uring ? RF_TRANSPORT_URING : RF_TRANSPORT_DEV;
	opts.grace_ms = 1000;
	r = rf_session_new(&api_ops, sizeof(api_ops), &fs, &opts, &sv.se);
	if (r == 0)
		r = rf_session_mount(sv.se);
	if (r == 0 && own_loop) {
		r = rf_loop_new(&sv.loop);
		if (r == 0)
			r = rf_session_attach(sv.se, sv.loop);
	}
	if (r == 0)
		r = -pthread_create(&th, NULL, serve, &sv);
	if (r < 0) {
		fprintf(stderr, "api_restart: cycle %d: cannot start: %s\n", i, strerror(-r));
		rf_session_free(sv.se);
		rf_loop_free(sv.loop);
		close(fs.dirfd);
		return -1;
	}
	load = start_load();
	if (load < 0)
		fail++;
	usleep(50000 + (useconds_t)(rand() % 100) * 1000);

	/* The trigger: the application asks, from another thread. */
	t0 = now_s();
	rf_session_exit(sv.se);
	for (k = 0; k < 1000 && !atomic_load(&sv.done); k++)
		usleep(k < 100 ? 1000 : 10000);
	if (!atomic_load(&sv.done)) {
		printf("  cycle %d: the session did not end within 10 s\n", i);
		fflush(stdout);
		_exit(3);        /* the server thread still uses everything: nothing to free */
	}
	pthread_join(th, NULL);
	rf_session_free(sv.se);
	rf_loop_free(sv.loop);
	t_stop = now_s() - t0;
	close(fs.dirfd);
	fs.dirfd = -1;
	if (sv.ret < 0) {
		printf("  cycle %d: run returned %s\n", i, strerror(-sv.ret));
		fail++;
	}
	/* Nothing here is slow (backing I/O on a local ext4): the grace period never needs
	 * to run out, let alone the teardown's own timeouts. */
	if (t_stop * 1e3 > opts.grace_ms + 1000.0) {
		printf("  cycle %d: the session took %.0f ms to end (grace_ms %u)\n", i,
		       t_stop * 1e3, opts.grace_ms);
		fail++;
	}
	/* What must hold the moment the session is gone (the load still holds its files
	 * on the dead FUSE mount): */
	if (is_mounted(mnt, "fuse")) {
		printf("  cycle %d: %s is still mounted\n", i, mnt);
		umount2(mnt, MNT_DETACH);
		fail++;
	}
	k = fds_on_ext4(ext.st_dev);
	if (k) {
		printf("  cycle %d: %d fd(s) left on the ext4\n", i, k);
		fail++;
	}
	if (umount_ext4() < 0) {
		printf("  cycle %d: the ext4 was busy after the session ended\n", i);
		fail++;
	}
	stop_load(load);
	if (atomic_load(&fs.opens) != atomic_load(&fs.releases) ||
	    atomic_load(&fs.lookups) != atomic_load(&fs.forgets) || atomic_load(&fs.bad)) {
		printf("  cycle %d: opens %lu releases %lu, lookups %lu forgets %lu, %lu bad\n",
		       i, atomic_load(&fs.opens), atomic_load(&fs.releases),
		       atomic_load(&fs.lookups), atomic_load(&fs.forgets), atomic_load(&fs.bad));
		fail++;
	}
	printf("cycle %d: %s, %s, threads=%d: stop %.0f ms, %lu opens/releases, "
	       "%lu lookups/forgets: %s\n", i, own_loop ? "own loop" : "rf_session_run",
	       use_uring ? "uring" : "dev", opts.threads, t_stop * 1e3, atomic_load(&fs.opens),
	       atomic_load(&fs.lookups), fail ? "FAILED" : "clean");
	fflush(stdout);
	return fail ? -1 : 0;
}

int main(int argc, char **argv)
{
	int opt, cycles = 10, i, clean = 0;
	bool uring = false;
	char *slash;

	loadgen[0] = '\0';
	while ((opt = getopt(argc, argv, "n:ul:")) != -1) {
		switch (opt) {
		case 'n': cycles = atoi(optarg); break;
		case 'u': uring = true; break;
		case 'l': snprintf(loadgen, sizeof(loadgen), "%s", optarg); break;
		default: goto usage;
		}
	}
	if (optind != argc - 3 || cycles < 1)
		goto usage;
	ext4_dev = argv[optind];
	ext4_mnt = argv[optind + 1];
	mnt = argv[optind + 2];
	if (!loadgen[0]) {
		snprintf(loadgen, sizeof(loadgen), "%s", argv[0]);
		slash = strrchr(loadgen, '/');
		snprintf(slash ? slash + 1 : loadgen,
			 sizeof(loadgen) - (size_t)(slash ? slash + 1 - loadgen : 0), "loadgen");
	}
	snprintf(srcdir, sizeof(srcdir), "%s/api", ext4_mnt);
	pthread_mutex_init(&fs.lock, NULL);
	signal(SIGPIPE, SIG_IGN);
	srand((unsigned)getpid());
	for (i = 0; i < cycles; i++)
		if (cycle(i, uring) == 0)
			clean++;
	printf("api_restart: %d/%d cycles clean\n", clean, cycles);
	pthread_mutex_destroy(&fs.lock);
	return clean == cycles ? 0 : 1;
usage:
	fprintf(stderr, "usage: api_restart [-n CYCLES] [-u] [-l LOADGEN] EXT4_DEV EXT4_MNT MNT\n");
	return 2;
}
