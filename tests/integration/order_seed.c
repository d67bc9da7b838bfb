/* SPDX-License-Identifier: MIT */
/*
 * order_seed.c - drive slowfs into the MooseFS/FreeBSD race and check the order it logs:
 * a reader is killed in the middle of a slow READ, and the RELEASE of its handle must
 * come after that READ finished (read-done or read-intr).
 *
 * Usage: order_seed [-n ITER] [-m buffered|direct|mixed] [-t TIMEOUT_S] [-s SEED]
 *                   MOUNTPOINT LOGFILE
 *        order_seed -c LOGFILE        check a whole event log offline, every handle
 *
 * Each iteration forks a child that opens MOUNTPOINT/slow (with O_DIRECT every other
 * iteration in "mixed" mode, the default: then the READ is synchronous and the kill
 * interrupts it; without, it is asynchronous readahead that the kill does not stop),
 * tells the parent it is about to read, and reads 128 KiB. The parent waits 50-150 ms
 * (random), SIGKILLs it and reaps it, then waits (TIMEOUT_S, default 10) until slowfs's
 * event log LOGFILE shows the RELEASE of the child's handle (found by the child's pid in
 * the "open" line), and checks the handle's events: every read-start is matched by a
 * read-done or read-intr before the release, nothing follows the release, one release.
 *
 * Output: one line per failed iteration, a summary of what the iterations saw, and
 * "order_seed: N passed, N failed". Exit status 0 only if nothing failed (2: usage).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READ_SIZE (128 * 1024)
#define SLOW_SIZE (1024 * 1024)

/* What the events of one handle add up to. */
struct fh_state {
	unsigned long long fh;
	long pid;
	bool opened, released;
	unsigned starts, dones, intrs;
	char why[256];             /* first violation, "" if none */
};

static void violation(struct fh_state *s, const char *fmt, unsigned long long a)
{
	if (!s->why[0])
		snprintf(s->why, sizeof(s->why), fmt, a);
}

/*
 * Feed one log line to the state of handle @s (lines of other handles are ignored).
 * Returns true if the line was about @s.
 */
static bool feed(struct fh_state *s, const char *line)
{
	char ev[32];
	unsigned long long fh;
	long pid = 0;

	if (sscanf(line, "%31s fh=%llu pid=%ld", ev, &fh, &pid) < 2 || fh != s->fh)
		return false;
	if (!strcmp(ev, "open")) {
		if (s->opened)
			violation(s, "handle %llu opened twice", fh);
		s->opened = true;
		s->pid = pid;
	} else if (!strcmp(ev, "read-start")) {
		if (s->released)
			violation(s, "read-start of handle %llu after its release", fh);
		s->starts++;
	} else if (!strcmp(ev, "read-done") || !strcmp(ev, "read-intr")) {
		if (s->released)
			violation(s, "READ of handle %llu finished after its release", fh);
		if (ev[5] == 'd')
			s->dones++;
		else
			s->intrs++;
		if (s->dones + s->intrs > s->starts)
			violation(s, "handle %llu: a READ finished that never started", fh);
	} else if (!strcmp(ev, "read-bad")) {
		violation(s, "handle %llu: READ found the handle freed (read-bad)", fh);
	} else if (!strcmp(ev, "release")) {
		if (s->released)
			violation(s, "handle %llu released twice", fh);
		else if (s->dones + s->intrs < s->starts)
			snprintf(s->why, sizeof(s->why),
				 "release of handle %llu came before %u of its %u READ(s) finished",
				 fh, s->starts - s->dones - s->intrs, s->starts);
		s->released = true;
	}
	return true;
}

/* The log from byte @from on, NUL-terminated (malloc'd), or NULL. */
static char *read_log(const char *path, off_t from)
{
	struct stat st;
	char *buf;
	ssize_t n;
	size_t len, got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || st.st_size < from) {
		close(fd);
		return NULL;
	}
	len = (size_t)(st.st_size - from);
	buf = malloc(len + 1);
	if (!buf) {
		close(fd);
		return NULL;
	}
	while (got < len && (n = pread(fd, buf + got, len - got, from + (off_t)got)) > 0)
		got += (size_t)n;
	close(fd);
	/* A line still being written (no newline yet) is left for the next look. */
	while (got > 0 && buf[got - 1] != '\n')
		got--;
	buf[got] = '\0';
	return buf;
}

/* Find the handle opened by @pid in @log; 0 if none yet. */
static unsigned long long find_open(const char *log, long pid)
{
	const char *p;
	unsigned long long fh;
	long lpid;

	for (p = log; *p;) {
		if (sscanf(p, "open fh=%llu pid=%ld", &fh, &lpid) == 2 && lpid == pid)
			return fh;
		p = strchr(p, '\n');
		if (!p)
			break;
		p++;
	}
	return 0;
}

static void check_log(struct fh_state *s, const char *log)
{
	const char *p;
	unsigned long long fh = s->fh;
	long pid = s->pid;

	memset(s, 0, sizeof(*s));
	s->fh = fh;
	s->pid = pid;
	for (p = log; *p;) {
		feed(s, p);
		p = strchr(p, '\n');
		if (!p)
			break;
		p++;
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Reap @pid within @timeout_s seconds. A killed child stuck in a request the server never
 * answers cannot be reaped (until the connection ends): returns false then. */
static bool reap(pid_t pid, int *status, unsigned timeout_s)
{
	double deadline = now_s() + timeout_s;
	pid_t r;

	for (;;) {
		r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return true;
		if (r < 0 && errno != EINTR)
			return false;
		if (now_s() > deadline)
			return false;
		sleep_ms(5);
	}
}

/* The child: open, say so on @wfd, read until killed. Exit codes: 2 open, 3 read. */
static void child(const char *path, bool direct, off_t off, int wfd)
{
	void *buf;
	int fd;
	ssize_t n;

	if (posix_memalign(&buf, 4096, READ_SIZE))
		_exit(4);
	fd = open(path, O_RDONLY | (direct ? O_DIRECT : 0));
	if (fd < 0) {
		dprintf(2, "order_seed: child: open %s: %s\n", path, strerror(errno));
		_exit(2);
	}
	if (write(wfd, "r", 1) != 1)
		_exit(4);
	n = pread(fd, buf, READ_SIZE, off);
	if (n < 0) {
		dprintf(2, "order_seed: child: read: %s\n", strerror(errno));
		_exit(3);
	}
	_exit(0);
}

/* Check a whole log offline: every handle in it. */
static int check_file(const char *path)
{
	char *log = read_log(path, 0), *p;
	unsigned long long seen[4096];
	unsigned nseen = 0, passed = 0, failed = 0, i;

	if (!log) {
		fprintf(stderr, "order_seed: cannot read %s\n", path);
		return 2;
	}
	for (p = log; *p;) {
		char ev[32];
		unsigned long long fh;

		if (sscanf(p, "%31s fh=%llu", ev, &fh) == 2) {
			for (i = 0; i < nseen && seen[i] != fh; i++)
				;
			if (i == nseen && nseen < sizeof(seen) / sizeof(seen[0])) {
				struct fh_state s = { .fh = fh };

				seen[nseen++] = fh;
				check_log(&s, log);
				if (!s.released && !s.why[0])
					violation(&s, "handle %llu never released", fh);
				if (s.why[0]) {
					printf("FAIL  %s\n", s.why);
					failed++;
				} else {
					passed++;
				}
			}
		}
		p = strchr(p, '\n');
		if (!p)
			break;
		p++;
	}
	free(log);
	printf("order_seed: %u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: order_seed [-n ITER] [-m buffered|direct|mixed] [-t TIMEOUT_S] "
			"[-s SEED] MOUNTPOINT LOGFILE\n       order_seed -c LOGFILE\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned long iters = 30, it, passed = 0, failed = 0;
	unsigned long n_intr = 0, n_done = 0, n_noread = 0, n_finished = 0;
	unsigned timeout_s = 10, seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	const char *mode = "mixed", *check = NULL, *mnt, *logpath;
	char path[4096];
	double t0;
	int opt;

	while ((opt = getopt(argc, argv, "n:m:t:s:c:")) != -1) {
		switch (opt) {
		case 'n': iters = strtoul(optarg, NULL, 10); break;
		case 'm': mode = optarg; break;
		case 't': timeout_s = (unsigned)strtoul(optarg, NULL, 10); break;
		case 's': seed = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'c': check = optarg; break;
		default: usage();
		}
	}
	if (check)
		return check_file(check);
	if (argc - optind != 2 || (strcmp(mode, "buffered") && strcmp(mode, "direct") &&
				   strcmp(mode, "mixed")))
		usage();
	mnt = argv[optind];
	logpath = argv[optind + 1];
	snprintf(path, sizeof(path), "%s/slow", mnt);
	srand(seed);
	printf("order_seed: %lu iterations, mode %s, seed %u\n", iters, mode, seed);
	fflush(stdout);
	signal(SIGPIPE, SIG_IGN);
	t0 = now_s();

	for (it = 0; it < iters; it++) {
		bool direct = !strcmp(mode, "direct") || (!strcmp(mode, "mixed") && (it & 1));
		off_t off = (off_t)(rand() % (SLOW_SIZE / READ_SIZE)) * READ_SIZE;
		unsigned wait_ms = 50 + (unsigned)(rand() % 101);
		struct fh_state s = { 0 };
		struct stat st;
		off_t from = stat(logpath, &st) == 0 ? st.st_size : 0;
		struct pollfd pfd;
		int p[2], status = 0;
		bool ready = false;
		char c, *log = NULL;
		double deadline;
		pid_t pid;

		if (pipe2(p, O_CLOEXEC) < 0) {
			perror("order_seed: pipe");
			return 2;
		}
		fflush(stdout);
		pid = fork();
		if (pid < 0) {
			perror("order_seed: fork");
			return 2;
		}
		if (pid == 0) {
			close(p[0]);
			child(path, direct, off, p[1]);
		}
		close(p[1]);
		/* The child is about to read once it opened the file; then the timing starts. */
		pfd = (struct pollfd){ .fd = p[0], .events = POLLIN };
		if (poll(&pfd, 1, (int)timeout_s * 1000) == 1 && read(p[0], &c, 1) == 1)
			ready = true;
		close(p[0]);
		if (ready)
			sleep_ms(wait_ms);
		kill(pid, SIGKILL);
		if (!reap(pid, &status, timeout_s)) {
			printf("FAIL  iteration %lu: child %ld stuck in the filesystem %u s after "
			       "SIGKILL (server hung?); stopping\n", it, (long)pid, timeout_s);
			failed += iters - it;
			break;
		}
		if (!ready) {
			printf("FAIL  iteration %lu: child %ld did not open %s (%s %d)\n", it,
			       (long)pid, path, WIFEXITED(status) ? "exit" : "signal",
			       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
			failed++;
			continue;
		}
		if (WIFEXITED(status)) {
			if (WEXITSTATUS(status) != 0) {
				printf("FAIL  iteration %lu: child exit %d\n", it, WEXITSTATUS(status));
				failed++;
				continue;
			}
			n_finished++;  /* the read beat the kill: still a valid ordering check */
		}

		/* Wait for the handle's release, then check its events. */
		deadline = now_s() + timeout_s;
		s.pid = pid;
		for (;;) {
			free(log);
			log = read_log(logpath, from);
			if (log) {
				if (!s.fh)
					s.fh = find_open(log, pid);
				if (s.fh) {
					check_log(&s, log);
					if (s.released)
						break;
				}
			}
			if (now_s() > deadline)
				break;
			sleep_ms(5);
		}
		if (!s.fh)
			violation(&s, "no open by the child (pid %llu) in the log",
				  (unsigned long long)pid);
		else if (!s.released)
			violation(&s, "handle %llu not released in time", s.fh);
		if (s.fh && s.released && !s.why[0]) {
			/* Anything logged after the release arrives a little later, if at all. */
			sleep_ms(2);
			free(log);
			log = read_log(logpath, from);
			if (log)
				check_log(&s, log);
		}
		free(log);
		if (s.why[0]) {
			printf("FAIL  iteration %lu (%s, pid %ld, fh %llu): %s\n", it,
			       direct ? "direct" : "buffered", (long)pid, s.fh, s.why);
			failed++;
			continue;
		}
		if (s.starts == 0)
			n_noread++;
		n_intr += s.intrs;
		n_done += s.dones;
		passed++;
	}
	printf("order_seed: %.1f s; READs finished before release: %lu read-done, %lu read-intr; "
	       "%lu iteration(s) without a READ, %lu where the read beat the kill\n",
	       now_s() - t0, n_done, n_intr, n_noread, n_finished);
	printf("order_seed: %lu passed, %lu failed\n", passed, failed);
	return failed ? 1 : 0;
}
