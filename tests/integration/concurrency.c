/* SPDX-License-Identifier: MIT */
/*
 * concurrency.c - many processes open/read/close one file on a mount while others unlink,
 * recreate and rename over it.
 *
 * Usage: concurrency [-p PROCS] [-t SECONDS] DIR
 *
 * Works in DIR/concurrency.XXXXXX (removed afterwards). Of PROCS processes (default 8):
 * every fourth replaces the file by unlink + O_CREAT|O_EXCL + write, every fourth (offset
 * by one) writes a private temporary file and renames it over, the rest open the file,
 * read it to the end, fstat and close it. Every file version is written by one process
 * with one byte value, so a reader must see a single value throughout one open (whatever
 * the writer got to). Expected and ignored: ENOENT on open/unlink, EEXIST on an O_EXCL
 * create. Anything else (EIO, EBADF, ESTALE, ENOTCONN on an open fd, a short close, mixed
 * contents) counts as unexpected. After SECONDS (default 5) the processes stop; a process
 * that does not exit within 30 s more is reported as hung and killed.
 *
 * Output: the first unexpected errors of each process, then
 * "concurrency: P procs, T s: N opens (N ENOENT), N reads, N bytes, N replaces,
 *  N renames, N unexpected". Exit status 0 only if nothing unexpected happened.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FILE_SIZE  (64 * 1024)
#define CHUNK      4096
#define MAX_PROCS  256
#define MAX_REPORT 5               /* unexpected errors printed per process */

struct counters {
	atomic_ulong opens, enoent, reads, bytes, replaces, renames, unexpected;
};

static struct counters *ctr;       /* shared (MAP_SHARED) between the processes */
static char target[4096];
static unsigned long reported;
static int me;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void unexpected(const char *what, int err)
{
	atomic_fetch_add(&ctr->unexpected, 1);
	if (reported++ < MAX_REPORT)
		printf("proc %d: unexpected: %s%s%s\n", me, what, err ? ": " : "",
		       err ? strerror(err) : "");
	fflush(stdout);
}

static void reader(void)
{
	unsigned char buf[CHUNK];
	struct stat st;
	int fd, first;
	ssize_t n;
	size_t i;

	fd = open(target, O_RDONLY);
	if (fd < 0) {
		if (errno == ENOENT)
			atomic_fetch_add(&ctr->enoent, 1);
		else
			unexpected("open", errno);
		return;
	}
	atomic_fetch_add(&ctr->opens, 1);
	first = -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		atomic_fetch_add(&ctr->reads, 1);
		atomic_fetch_add(&ctr->bytes, (unsigned long)n);
		for (i = 0; i < (size_t)n; i++) {
			if (first < 0)
				first = buf[i];
			if (buf[i] != first) {
				char msg[96];

				snprintf(msg, sizeof(msg), "mixed contents in one file: %#x then %#x",
					 first, buf[i]);
				unexpected(msg, 0);
				break;
			}
		}
	}
	if (n < 0)
		unexpected("read of an open fd", errno);
	if (fstat(fd, &st) < 0)
		unexpected("fstat of an open fd", errno);
	if (close(fd) < 0)
		unexpected("close", errno);
}

/* Write FILE_SIZE bytes of @val to @fd. */
static void fill(int fd, int val)
{
	unsigned char buf[CHUNK];
	size_t done;
	ssize_t n;

	memset(buf, val, sizeof(buf));
	for (done = 0; done < FILE_SIZE; done += (size_t)n) {
		n = write(fd, buf, sizeof(buf));
		if (n <= 0) {
			unexpected("write", n < 0 ? errno : EIO);
			return;
		}
	}
}

static void replacer(int val)
{
	int fd;

	if (unlink(target) < 0 && errno != ENOENT)
		unexpected("unlink", errno);
	fd = open(target, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0) {
		if (errno != EEXIST)
			unexpected("create", errno);
		return;
	}
	fill(fd, val);
	if (close(fd) < 0)
		unexpected("close after write", errno);
	atomic_fetch_add(&ctr->replaces, 1);
}

static void renamer(const char *tmp, int val)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		return unexpected("create temporary", errno);
	fill(fd, val);
	if (close(fd) < 0)
		unexpected("close after write", errno);
	if (rename(tmp, target) < 0)
		return unexpected("rename over", errno);
	atomic_fetch_add(&ctr->renames, 1);
}

static int run(const char *dir, int procs, double end)
{
	char tmp[4096];
	unsigned iter = 0;

	snprintf(tmp, sizeof(tmp), "%s/tmp.%d", dir, me);
	while (now_s() < end) {
		/* A distinct byte value per version: process and iteration. */
		int val = (me * 31 + (int)iter++ * 7) & 0xff;

		if (procs >= 4 && me % 4 == 0)
			replacer(val);
		else if (procs >= 4 && me % 4 == 1)
			renamer(tmp, val);
		else
			reader();
	}
	unlink(tmp);
	return atomic_load(&ctr->unexpected) ? 1 : 0;
}

int main(int argc, char **argv)
{
	int procs = 8, opt, i, hung = 0, bad = 0, status;
	double secs = 5, end;
	char dir[3072];
	pid_t pids[MAX_PROCS];

	while ((opt = getopt(argc, argv, "p:t:")) != -1) {
		switch (opt) {
		case 'p': procs = atoi(optarg); break;
		case 't': secs = atof(optarg); break;
		default: goto usage;
		}
	}
	if (argc - optind != 1 || procs < 1 || procs > MAX_PROCS || secs <= 0)
		goto usage;
	snprintf(dir, sizeof(dir), "%s/concurrency.XXXXXX", argv[optind]);
	if (!mkdtemp(dir)) {
		fprintf(stderr, "concurrency: mkdtemp %s: %s\n", dir, strerror(errno));
		return 1;
	}
	snprintf(target, sizeof(target), "%s/file", dir);
	ctr = mmap(NULL, sizeof(*ctr), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ctr == MAP_FAILED) {
		perror("concurrency: mmap");
		return 1;
	}
	memset(ctr, 0, sizeof(*ctr));
	setvbuf(stdout, NULL, _IOLBF, 0);
	end = now_s() + secs;
	for (i = 0; i < procs; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			perror("concurrency: fork");
			procs = i;
			bad = 1;
			break;
		}
		if (pids[i] == 0) {
			me = i;
			_exit(run(dir, procs, end));
		}
	}
	/* Reap; whoever is still there 30 s after the end is hung: kill it, and give up on
	 * those a dead filesystem holds (a killed process stuck in a request the server
	 * never answers exits only once the connection ends, e.g. when the server is
	 * killed): they are reported, not waited for. */
	{
		bool done[MAX_PROCS] = { false }, killed = false;
		int left = procs;

		while (left > 0) {
			for (i = 0; i < procs; i++) {
				if (done[i] || waitpid(pids[i], &status, WNOHANG) != pids[i])
					continue;
				done[i] = true;
				left--;
				if (WIFSIGNALED(status) && !killed)
					printf("proc %d: killed by signal %d\n", i, WTERMSIG(status));
				if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
					bad = 1;
			}
			if (left && !killed && now_s() > end + 30) {
				for (i = 0; i < procs; i++) {
					if (done[i])
						continue;
					printf("proc %d (pid %ld): hung 30 s past the end; killed\n",
					       i, (long)pids[i]);
					kill(pids[i], SIGKILL);
					hung++;
				}
				killed = true;
			}
			if (left && killed && now_s() > end + 35) {
				printf("concurrency: %d process(es) stuck in the filesystem even after "
				       "SIGKILL; not waiting for them\n", left);
				break;
			}
			if (left)
				usleep(20000);
		}
		if (left) {
			fflush(stdout);
			/* The directory cannot be cleaned while they are stuck in it. */
			printf("concurrency: %d procs, %.0f s: %lu opens (%lu ENOENT), %lu reads, "
			       "%lu unexpected, %d hung\n", procs, secs, atomic_load(&ctr->opens),
			       atomic_load(&ctr->enoent), atomic_load(&ctr->reads),
			       atomic_load(&ctr->unexpected), hung);
			return 1;
		}
	}
	unlink(target);
	for (i = 0; i < procs; i++) {
		char tmp[4200];

		snprintf(tmp, sizeof(tmp), "%s/tmp.%d", dir, i);
		unlink(tmp);
	}
	if (rmdir(dir) < 0) {
		printf("concurrency: rmdir %s: %s\n", dir, strerror(errno));
		bad = 1;
	}
	printf("concurrency: %d procs, %.0f s: %lu opens (%lu ENOENT), %lu reads, %lu bytes, "
	       "%lu replaces, %lu renames, %lu unexpected%s\n",
	       procs, secs, atomic_load(&ctr->opens), atomic_load(&ctr->enoent),
	       atomic_load(&ctr->reads), atomic_load(&ctr->bytes), atomic_load(&ctr->replaces),
	       atomic_load(&ctr->renames), atomic_load(&ctr->unexpected),
	       hung ? ", some hung" : "");
	return bad || hung || atomic_load(&ctr->unexpected) ? 1 : 0;
usage:
	fprintf(stderr, "usage: concurrency [-p PROCS] [-t SECONDS] DIR\n");
	return 2;
}
