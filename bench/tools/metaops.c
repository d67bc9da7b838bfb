/*
 * metaops.c - small metadata-operation benchmark client.
 *
 *   metaops [-n N] [-j JSON_OUT] [-r REPEAT] OP DIR
 *
 * OP:
 *   create     create+close N files DIR/f%06d (O_CREAT|O_EXCL|O_WRONLY, 0644)
 *   stat       fstatat() each of the N files (they must exist)
 *   unlink     unlink each of the N files
 *   openclose  open(O_RDONLY)+close DIR/f000000 N times
 *   statloop   fstatat() DIR/f000000 N times
 *   all        create, stat, openclose, unlink (in that order)
 *
 * All per-file syscalls are relative to an O_DIRECTORY fd of DIR (openat,
 * fstatat, unlinkat), so only the final component is resolved per op.
 * For openclose/statloop run on their own, DIR/f000000 is created first
 * (untimed) if it does not exist, and removed again afterwards.
 *
 * Each op prints "<op> <N> ops <seconds> s <ops/s> ops/s"; with -j one JSON
 * object per op and line is appended to JSON_OUT.  -r runs the whole OP
 * REPEAT times (a repeated `create` alone fails with EEXIST by design; use
 * `all`).  Timing: clock_gettime(CLOCK_MONOTONIC).  Any failed syscall is
 * reported with errno and makes metaops exit with status 1.
 *
 * Build:  gcc -std=gnu11 -O2 -Wall -Wextra -o metaops metaops.c
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *prog = "metaops";

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	int err = errno;
	va_list ap;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (err != 0)
		fprintf(stderr, ": %s (errno %d)", strerror(err), err);
	fputc('\n', stderr);
	exit(1);
}

static double now(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		die("clock_gettime");
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fname(char *buf, size_t len, long i)
{
	snprintf(buf, len, "f%06ld", i);
}

static void op_create(int dfd, long n)
{
	char name[32];
	for (long i = 0; i < n; i++) {
		fname(name, sizeof(name), i);
		int fd = openat(dfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC,
				0644);
		if (fd == -1)
			die("create: openat %s", name);
		if (close(fd) == -1)
			die("create: close %s", name);
	}
}

static void op_stat(int dfd, long n)
{
	char name[32];
	struct stat st;
	for (long i = 0; i < n; i++) {
		fname(name, sizeof(name), i);
		if (fstatat(dfd, name, &st, 0) == -1)
			die("stat: fstatat %s", name);
	}
}

static void op_unlink(int dfd, long n)
{
	char name[32];
	for (long i = 0; i < n; i++) {
		fname(name, sizeof(name), i);
		if (unlinkat(dfd, name, 0) == -1)
			die("unlink: unlinkat %s", name);
	}
}

static void op_openclose(int dfd, long n)
{
	for (long i = 0; i < n; i++) {
		int fd = openat(dfd, "f000000", O_RDONLY | O_CLOEXEC);
		if (fd == -1)
			die("openclose: openat f000000");
		if (close(fd) == -1)
			die("openclose: close f000000");
	}
}

static void op_statloop(int dfd, long n)
{
	struct stat st;
	for (long i = 0; i < n; i++) {
		if (fstatat(dfd, "f000000", &st, 0) == -1)
			die("statloop: fstatat f000000");
	}
}

struct op {
	const char *name;
	void (*fn)(int dfd, long n);
	int needs_target;  /* uses DIR/f000000 */
};

static const struct op ops[] = {
	{ "create", op_create, 0 },
	{ "stat", op_stat, 0 },
	{ "unlink", op_unlink, 0 },
	{ "openclose", op_openclose, 1 },
	{ "statloop", op_statloop, 1 },
};

static const struct op *find_op(const char *name)
{
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(ops[i].name, name) == 0)
			return &ops[i];
	return NULL;
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void run_op(const struct op *op, int dfd, long n, const char *dir,
		   int round, const char *json_path)
{
	errno = 0;
	double t0 = now();
	op->fn(dfd, n);
	double t1 = now();
	double secs = t1 - t0;
	double rate = secs > 0 ? (double)n / secs : 0.0;

	printf("%s %ld ops %.6f s %.1f ops/s\n", op->name, n, secs, rate);
	fflush(stdout);

	if (json_path != NULL) {
		FILE *f = fopen(json_path, "a");
		if (f == NULL)
			die("open %s", json_path);
		fprintf(f, "{\"op\":");
		json_string(f, op->name);
		fprintf(f, ",\"n\":%ld,\"round\":%d,\"seconds\":%.9f,"
			   "\"ops_per_sec\":%.3f,\"dir\":",
			n, round, secs, rate);
		json_string(f, dir);
		fprintf(f, "}\n");
		if (ferror(f) || fclose(f) != 0)
			die("write %s", json_path);
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: %s [-n N] [-j JSON_OUT] [-r REPEAT] OP DIR\n"
		"  OP: create | stat | unlink | openclose | statloop | all\n"
		"  -n N        operations per op (default 10000)\n"
		"  -j FILE     append one JSON object per op to FILE\n"
		"  -r REPEAT   run OP REPEAT times (default 1)\n",
		prog);
	exit(2);
}

static long parse_pos(const char *s, const char *what)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v <= 0) {
		fprintf(stderr, "%s: bad %s '%s'\n", prog, what, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	long n = 10000;
	long repeat = 1;
	const char *json_path = NULL;
	int c;

	while ((c = getopt(argc, argv, "n:j:r:h")) != -1) {
		switch (c) {
		case 'n':
			n = parse_pos(optarg, "N");
			if (n > 1000000) {
				fprintf(stderr, "%s: N must be <= 1000000\n", prog);
				exit(2);
			}
			break;
		case 'j':
			json_path = optarg;
			break;
		case 'r':
			repeat = parse_pos(optarg, "REPEAT");
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2)
		usage();
	const char *opname = argv[optind];
	const char *dir = argv[optind + 1];

	const struct op *seq[4];
	size_t nseq = 0;
	if (strcmp(opname, "all") == 0) {
		seq[nseq++] = find_op("create");
		seq[nseq++] = find_op("stat");
		seq[nseq++] = find_op("openclose");
		seq[nseq++] = find_op("unlink");
	} else {
		const struct op *op = find_op(opname);
		if (op == NULL) {
			fprintf(stderr, "%s: unknown op '%s'\n", prog, opname);
			usage();
		}
		seq[nseq++] = op;
	}

	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1)
		die("open %s", dir);

	/* openclose/statloop on their own: make sure the target exists */
	int made_target = 0;
	if (nseq == 1 && seq[0]->needs_target) {
		int fd = openat(dfd, "f000000", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC,
				0644);
		if (fd != -1) {
			made_target = 1;
			if (close(fd) == -1)
				die("close f000000");
		} else if (errno != EEXIST) {
			die("create %s/f000000", dir);
		}
	}

	for (long r = 1; r <= repeat; r++)
		for (size_t i = 0; i < nseq; i++)
			run_op(seq[i], dfd, n, dir, (int)r, json_path);

	if (made_target && unlinkat(dfd, "f000000", 0) == -1)
		die("unlink %s/f000000", dir);
	if (close(dfd) == -1)
		die("close %s", dir);
	return 0;
}
