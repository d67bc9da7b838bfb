/* SPDX-License-Identifier: MIT */
/*
 * loadgen.c - keeps I/O running on a mount, with several files open and mmapped, until it
 * is told to stop: the load under which the teardown tests (teardown.sh) stop a server.
 *
 * Usage: loadgen [-n FILES] [-s SIZE] [-p PROCS] DIR
 *
 * Creates DIR/lg.0 .. lg.FILES-1 (default 4 files of SIZE 1 MiB) if missing, then forks
 * PROCS workers (default 3). Each worker opens every file twice (buffered, and O_DIRECT
 * when the filesystem takes it), maps the buffered fd of every other file MAP_SHARED,
 * keeps DIR itself open, and loops over random 4 KiB preads, pwrites, O_DIRECT reads and
 * writes, stores into the mappings, msync(MS_ASYNC) and now and then fsync.
 * Once every worker has done a few operations, "loadgen: ready" is printed on stdout.
 *
 * The filesystem is expected to go away under the load: a worker whose I/O fails (or
 * that gets SIGBUS from a mapping) stops there and keeps its files open until killed,
 * which is what a stopping server must cope with. SIGTERM/SIGINT to loadgen kills the
 * workers, waits for them, prints "loadgen: N ops, N errors (first: ...)" and exits 0;
 * if loadgen itself is killed, the workers die with it (PR_SET_PDEATHSIG).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_FILES  32
#define MAX_PROCS  32
#define BLK        4096
#define READY_OPS  16          /* operations each worker does before "ready" */

struct shared {
	atomic_ulong ops, errors;
	atomic_int first_err;           /* errno of the first failure (0: none yet) */
	char first_what[32];
};

static struct shared *sh;
static int nfiles = 4, nprocs = 3;
static size_t fsize = 1 << 20;
static const char *dir;
static pid_t kids[MAX_PROCS];
static volatile sig_atomic_t stop_req;
static int ready_wfd = -1;      /* worker: where "ready" goes, -1 once sent */

/* The filesystem went away under a worker: keep its files open until we are killed. */
static void hold(void)
{
	for (;;)
		pause();
}

static void on_sigbus(int sig)
{
	atomic_fetch_add(&sh->errors, 1);
	hold();                         /* pause() is async-signal-safe */
}

static void failed(const char *what, int err)
{
	int zero = 0;

	atomic_fetch_add(&sh->errors, 1);
	if (atomic_compare_exchange_strong(&sh->first_err, &zero, err ? err : EIO))
		snprintf(sh->first_what, sizeof(sh->first_what), "%s", what);
	if (ready_wfd >= 0)
		close(ready_wfd);       /* never ready: do not keep the parent waiting */
	ready_wfd = -1;
	hold();
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void worker(int id)
{
	int fd[MAX_FILES], dfd[MAX_FILES], dirfd, i;
	unsigned char *map[MAX_FILES], *buf;
	uint64_t seed = 0x9e3779b97f4a7c15ull * (uint64_t)(id + 1) ^ (uint64_t)getpid();
	unsigned long n = 0;
	size_t blocks = fsize / BLK;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(0);
	signal(SIGBUS, on_sigbus);
	if (posix_memalign((void **)&buf, BLK, BLK))
		_exit(1);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dirfd < 0)
		failed("open dir", errno);
	for (i = 0; i < nfiles; i++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/lg.%d", dir, i);
		fd[i] = open(path, O_RDWR);
		if (fd[i] < 0)
			failed("open", errno);
		dfd[i] = open(path, O_RDWR | O_DIRECT);
		if (dfd[i] < 0 && errno != EINVAL)
			failed("open O_DIRECT", errno);
		map[i] = NULL;
		if (i % 2 == 0) {
			map[i] = mmap(NULL, fsize, PROT_READ | PROT_WRITE, MAP_SHARED, fd[i], 0);
			if (map[i] == MAP_FAILED)
				failed("mmap", errno);
		}
	}
	for (;;) {
		int f = (int)(rnd(&seed) % (uint64_t)nfiles);
		off_t off = (off_t)(rnd(&seed) % blocks) * BLK;
		int op = (int)(rnd(&seed) % 8);
		ssize_t r = 0;

		memset(buf, (int)(n & 0xff), BLK);
		switch (op) {
		case 0:
		case 1:
			r = pread(fd[f], buf, BLK, off);
			if (r < 0)
				failed("pread", errno);
			break;
		case 2:
			r = pwrite(fd[f], buf, BLK, off);
			if (r < 0)
				failed("pwrite", errno);
			break;
		case 3:
			if (dfd[f] >= 0 && pread(dfd[f], buf, BLK, off) < 0)
				failed("pread O_DIRECT", errno);
			break;
		case 4:
			if (dfd[f] >= 0 && pwrite(dfd[f], buf, BLK, off) < 0)
				failed("pwrite O_DIRECT", errno);
			break;
		case 5:
		case 6:
			if (map[f]) {
				map[f][off + (off_t)(n % BLK)] = (unsigned char)n;
				if (op == 6 && msync(map[f] + off, BLK, MS_ASYNC) < 0)
					failed("msync", errno);
			} else if (pread(fd[f], buf, BLK, off) < 0) {
				failed("pread", errno);
			}
			break;
		case 7:
			if (n % 64 == 7 && fdatasync(fd[f]) < 0)
				failed("fdatasync", errno);
			else if (lseek(dirfd, 0, SEEK_SET) < 0)
				failed("lseek dir", errno);
			break;
		}
		atomic_fetch_add(&sh->ops, 1);
		if (++n == READY_OPS) {
			if (write(ready_wfd, "r", 1) != 1)
				_exit(1);
			close(ready_wfd);
			ready_wfd = -1;
		}
	}
}

static void on_stop(int sig)
{
	stop_req = 1;
}

static int make_files(void)
{
	static unsigned char blk[BLK];
	int i;

	for (i = 0; i < nfiles; i++) {
		char path[4096];
		struct stat st;
		size_t o;
		int fd;

		snprintf(path, sizeof(path), "%s/lg.%d", dir, i);
		fd = open(path, O_RDWR | O_CREAT, 0644);
		if (fd < 0 || fstat(fd, &st) < 0) {
			fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno));
			return -1;
		}
		for (o = (size_t)st.st_size; o < fsize; o += BLK) {
			memset(blk, (int)(o / BLK), BLK);
			if (pwrite(fd, blk, BLK, (off_t)o) != BLK) {
				fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno));
				close(fd);
				return -1;
			}
		}
		close(fd);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	sigset_t stops, old;
	struct pollfd pfd;
	int opt, i, p[2], ready = 0, err;
	char c;

	while ((opt = getopt(argc, argv, "n:s:p:")) != -1) {
		switch (opt) {
		case 'n': nfiles = atoi(optarg); break;
		case 's': fsize = (size_t)strtoull(optarg, NULL, 0); break;
		case 'p': nprocs = atoi(optarg); break;
		default: goto usage;
		}
	}
	if (optind != argc - 1 || nfiles < 1 || nfiles > MAX_FILES || nprocs < 1 ||
	    nprocs > MAX_PROCS || fsize < BLK)
		goto usage;
	dir = argv[optind];
	fsize -= fsize % BLK;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED || pipe(p) < 0) {
		perror("loadgen");
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* Blocked except while waiting (ppoll/sigsuspend): no stop request is lost. */
	sigemptyset(&stops);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGINT);
	sigprocmask(SIG_BLOCK, &stops, &old);
	if (make_files() < 0)
		return 1;
	for (i = 0; i < nprocs; i++) {
		kids[i] = fork();
		if (kids[i] < 0) {
			perror("loadgen: fork");
			nprocs = i;
			break;
		}
		if (kids[i] == 0) {
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			sigprocmask(SIG_SETMASK, &old, NULL);
			close(p[0]);
			ready_wfd = p[1];
			worker(i);
		}
	}
	close(p[1]);
	/* Ready once every worker did its first operations (EOF: one failed first). */
	pfd.fd = p[0];
	pfd.events = POLLIN;
	while (!stop_req && ready < nprocs) {
		if (ppoll(&pfd, 1, NULL, &old) < 0)
			continue;
		if (read(p[0], &c, 1) != 1)
			break;
		ready++;
	}
	if (ready == nprocs && !stop_req) {
		printf("loadgen: ready (%d workers, %d files)\n", nprocs, nfiles);
		fflush(stdout);
	}
	while (!stop_req)
		sigsuspend(&old);
	for (i = 0; i < nprocs; i++)
		kill(kids[i], SIGKILL);
	for (i = 0; i < nprocs; i++)
		while (waitpid(kids[i], NULL, 0) < 0 && errno == EINTR)
			;
	err = atomic_load(&sh->first_err);
	printf("loadgen: %lu ops, %lu errors%s%s%s%s%s\n", atomic_load(&sh->ops),
	       atomic_load(&sh->errors), err ? " (first: " : "", err ? sh->first_what : "",
	       err ? ": " : "", err ? strerror(err) : "", err ? ")" : "");
	return 0;
usage:
	fprintf(stderr, "usage: loadgen [-n FILES] [-s SIZE] [-p PROCS] DIR\n");
	return 2;
}
