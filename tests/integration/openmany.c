/* SPDX-License-Identifier: MIT */
/*
 * openmany.c - open more files through a mount than its server has file descriptors
 * for, and check that the server says so cleanly and keeps serving.
 *
 * Usage: openmany DIR N
 *
 * Opens DIR/f0 ... DIR/f<N-1> read-only and keeps every one open. Each open must succeed
 * or fail with EMFILE or ENFILE (the server ran out of descriptors); any other error is a
 * failure. Then reads a byte from every open file (the server still answers), closes
 * them all, and stats, opens and reads DIR/f0 and DIR/f<N-1> again (with its descriptors
 * back, the server serves what it refused before). A request that never comes back ends
 * the program through alarm() after 60 s.
 *
 * Output: "openmany: N opened, N EMFILE, N ENFILE". Exit status 0 if everything above
 * held and at least one open got EMFILE or ENFILE; 1 on a failure; 2 on usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>

static int check_one(const char *dir, int i)
{
	char path[4096], c;
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/f%d", dir, i);
	if (stat(path, &st) < 0) {
		fprintf(stderr, "openmany: stat %s after closing: %s\n", path, strerror(errno));
		return -1;
	}
	fd = open(path, O_RDONLY);
	if (fd < 0 || read(fd, &c, 1) != 1) {
		fprintf(stderr, "openmany: open/read %s after closing: %s\n", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	int n, i, opened = 0, emfile = 0, enfile = 0, bad = 0;
	struct rlimit rl;
	char path[4096], c;
	int *fds;

	if (argc != 3 || (n = atoi(argv[2])) < 1) {
		fprintf(stderr, "usage: openmany DIR N\n");
		return 2;
	}
	/* Our own limit must not be what runs out. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 64) {
		rl.rlim_cur = rl.rlim_max < (rlim_t)n + 64 ? rl.rlim_max : (rlim_t)n + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	fds = calloc((size_t)n, sizeof(*fds));
	if (!fds)
		return 1;
	alarm(60);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/f%d", argv[1], i);
		fds[i] = open(path, O_RDONLY);
		if (fds[i] >= 0) {
			opened++;
		} else if (errno == EMFILE) {
			emfile++;
		} else if (errno == ENFILE) {
			enfile++;
		} else {
			fprintf(stderr, "openmany: open %s: %s\n", path, strerror(errno));
			bad++;
		}
	}
	for (i = 0; i < n; i++) {
		if (fds[i] < 0)
			continue;
		if (read(fds[i], &c, 1) != 1) {
			fprintf(stderr, "openmany: read f%d: %s\n", i, strerror(errno));
			bad++;
		}
		close(fds[i]);
	}
	free(fds);
	if (check_one(argv[1], 0) < 0 || check_one(argv[1], n - 1) < 0)
		bad++;
	printf("openmany: %d opened, %d EMFILE, %d ENFILE\n", opened, emfile, enfile);
	if (!emfile && !enfile) {
		fprintf(stderr, "openmany: no open ran into the server's limit\n");
		bad++;
	}
	return bad ? 1 : 0;
}
