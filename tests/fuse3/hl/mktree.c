/*
 * mktree.c - create a tree of empty files quickly (for the high-level memory test)
 *
 * Usage: mktree DIR NFILES [PER_DIR]
 *
 * Creates DIR/dNNNN/fNNNNNN: NFILES empty files, PER_DIR (default 1000) to a directory.
 * Meant to run on the backing directory of a passthrough mount, not through the mount:
 * the test measures what walking the tree through the mount costs, not creating it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: mktree DIR NFILES [PER_DIR]\n");
		return 2;
	}
	long n = atol(argv[2]), per = argc == 4 ? atol(argv[3]) : 1000;
	if (n < 1 || per < 1) {
		fprintf(stderr, "mktree: NFILES and PER_DIR must be positive\n");
		return 2;
	}
	int top = open(argv[1], O_RDONLY | O_DIRECTORY);
	if (top < 0) {
		perror(argv[1]);
		return 1;
	}
	int dfd = -1;
	for (long i = 0; i < n; i++) {
		char name[32];
		if (i % per == 0) {
			if (dfd >= 0)
				close(dfd);
			snprintf(name, sizeof(name), "d%04ld", i / per);
			if (mkdirat(top, name, 0755) != 0 && errno != EEXIST) {
				perror(name);
				return 1;
			}
			dfd = openat(top, name, O_RDONLY | O_DIRECTORY);
			if (dfd < 0) {
				perror(name);
				return 1;
			}
		}
		snprintf(name, sizeof(name), "f%06ld", i);
		int fd = openat(dfd, name, O_WRONLY | O_CREAT, 0644);
		if (fd < 0) {
			perror(name);
			return 1;
		}
		close(fd);
	}
	close(dfd);
	close(top);
	return 0;
}
