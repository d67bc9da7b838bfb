/* SPDX-License-Identifier: MIT */
/*
 * copyrange.c - copy_file_range(2) the first bytes of SRC over DST (opened O_WRONLY, no
 * O_TRUNC), as the tests' other user would: access.sh checks what it does to set-id bits.
 *
 * Usage: copyrange SRC DST
 * Exit status 0 if at least one byte was copied, 1 otherwise (the error on stderr).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int in, out;
	ssize_t n;

	if (argc != 3) {
		fprintf(stderr, "usage: copyrange SRC DST\n");
		return 2;
	}
	in = open(argv[1], O_RDONLY);
	out = open(argv[2], O_WRONLY);
	if (in < 0 || out < 0) {
		fprintf(stderr, "copyrange: open %s: %s\n", in < 0 ? argv[1] : argv[2],
			strerror(errno));
		return 1;
	}
	n = copy_file_range(in, NULL, out, NULL, 4096, 0);
	if (n <= 0) {
		fprintf(stderr, "copyrange: copy_file_range: %s\n", n < 0 ? strerror(errno) : "0 bytes");
		return 1;
	}
	close(in);
	return close(out) < 0 ? 1 : 0;
}
