/*
 * rename_stress.c - directory renames racing lookups, stats and reads below them
 *
 * Usage: rename_stress [-n SLOTS] [-r RENAMERS] [-s READERS] [-t SECONDS] [-v] DIR
 *
 * For a path-based (high-level) FUSE filesystem: the library turns node ids back into
 * path names, and a rename of a directory while requests below it are in service must
 * never hand the filesystem a half-old, half-new (or stale) path.
 *
 * Layout, under DIR/rs.XXXXXX: containers A and B; slot i is a directory at
 * {A,B}/{n,m}<i>/{x,y}/ holding files f0..f3 whose contents name them:
 * "slot I file K\n" padded with '.' to 64 + 16*I + K bytes, so a file also has a size of
 * its own. The inner names (x, y, f0..f3) are the same in every slot: a path built with
 * another slot's prefix names another slot's file, and the content says so.
 *
 * RENAMERS threads each own the slots i with i % RENAMERS == thread and move them at
 * random: across containers (A/n3 -> B/n3), to the other slot name (A/n3 -> A/m3), or
 * the inner directory (A/n3/x -> A/n3/y). Every rename must succeed.
 *
 * READERS threads pick a slot and guess its current path (8 possibilities): a wrong or
 * overtaken guess is ENOENT, expected and counted. When the guess opens the slot's inner
 * directory, the reader keeps that directory open and, relative to it (openat, fstatat),
 * stats and reads the files 8 times while the renames go on. Through a held directory
 * nothing may fail: every file is there, with its own size and contents. The opened
 * directory must also be the slot's own (its f0 says which slot it is).
 *
 * Prints "rename_stress: S s, N renames, N opens, N stats, N reads, N expected ENOENT,
 * N errors"; exit 0 only with no error and some work done on both sides.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NFILES 4
#define MAX_SLOTS 256
#define MAX_REPORTS 20

/* Where a slot is: bit 0 container (A/B), bit 1 slot name (n/m), bit 2 inner (x/y). */
static atomic_uint slot_state[MAX_SLOTS];
static int nslots = 16, nrenamers = 4, nreaders = 8, seconds = 5, verbose;
static char top[4096];
static atomic_bool stop;
static atomic_ulong n_renames, n_opens, n_stats, n_reads, n_enoent, n_errors;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

static void error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void error(const char *fmt, ...)
{
	va_list ap;
	if (atomic_fetch_add(&n_errors, 1) >= MAX_REPORTS)
		return;
	pthread_mutex_lock(&report_lock);
	va_start(ap, fmt);
	fputs("ERROR: ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	fflush(stdout);
	va_end(ap);
	pthread_mutex_unlock(&report_lock);
}

static void slot_dir(char *buf, size_t sz, int slot, unsigned st)
{
	snprintf(buf, sz, "%s/%c/%c%d", top, st & 1 ? 'B' : 'A', st & 2 ? 'm' : 'n', slot);
}

static void inner_dir(char *buf, size_t sz, int slot, unsigned st)
{
	char d[4200];
	slot_dir(d, sizeof(d), slot, st);
	snprintf(buf, sz, "%s/%c", d, st & 4 ? 'y' : 'x');
}

static size_t file_size(int slot, int k) { return 64 + 16 * (size_t)slot + (size_t)k; }

static void file_content(char *buf, int slot, int k)
{
	size_t n = file_size(slot, k);
	int len = snprintf(buf, n + 1, "slot %d file %d\n", slot, k);
	memset(buf + len, '.', n - (size_t)len);
}

static unsigned rnd(unsigned *seed) { return (unsigned)rand_r(seed); }

static void *renamer(void *arg)
{
	int id = (int)(long)arg;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)id * 7919u;
	int mine[MAX_SLOTS], n = 0;
	char from[4300], to[4300];

	for (int i = id; i < nslots; i += nrenamers)
		mine[n++] = i;
	while (n > 0 && !atomic_load(&stop)) {
		int slot = mine[rnd(&seed) % (unsigned)n];
		unsigned st = atomic_load(&slot_state[slot]);
		unsigned flip = 1u << (rnd(&seed) % 3);
		unsigned nst = st ^ flip;
		if (flip == 4) {
			inner_dir(from, sizeof(from), slot, st);
			inner_dir(to, sizeof(to), slot, nst);
		} else {
			slot_dir(from, sizeof(from), slot, st);
			slot_dir(to, sizeof(to), slot, nst);
		}
		if (rename(from, to) != 0) {
			error("rename %s -> %s: %s", from, to, strerror(errno));
			continue;
		}
		/* Published after the rename: readers only use it as a likely guess. */
		atomic_store(&slot_state[slot], nst);
		atomic_fetch_add(&n_renames, 1);
	}
	return NULL;
}

/* Stat and read the slot's files relative to the held directory dfd, 8 times (fewer
 * if the run ends, unless at_rest). */
static void work_in(int dfd, int slot, const char *dpath, unsigned *seed, bool at_rest)
{
	char exp[4200], got[4200], name[8];

	for (int round = 0; round < 8 && (at_rest || !atomic_load(&stop)); round++) {
		int k = (int)(rnd(seed) % NFILES);
		size_t sz = file_size(slot, k);
		struct stat sb;
		snprintf(name, sizeof(name), "f%d", k);
		if (fstatat(dfd, name, &sb, 0) != 0) {
			error("fstatat(<%s>, %s) through a held directory: %s", dpath, name,
			      strerror(errno));
			continue;
		}
		atomic_fetch_add(&n_stats, 1);
		if (!S_ISREG(sb.st_mode) || (size_t)sb.st_size != sz) {
			error("fstatat(<%s>, %s): mode %o size %lld, expected a file of %zu bytes "
			      "(slot %d file %d)", dpath, name, (unsigned)sb.st_mode,
			      (long long)sb.st_size, sz, slot, k);
			continue;
		}
		int fd = openat(dfd, name, O_RDONLY);
		if (fd < 0) {
			error("openat(<%s>, %s) through a held directory: %s", dpath, name,
			      strerror(errno));
			continue;
		}
		ssize_t r = pread(fd, got, sizeof(got), 0);
		int e = errno;
		close(fd);
		if (r < 0) {
			error("read <%s>/%s: %s", dpath, name, strerror(e));
			continue;
		}
		atomic_fetch_add(&n_reads, 1);
		file_content(exp, slot, k);
		if ((size_t)r != sz || memcmp(got, exp, sz) != 0) {
			int l = (int)(r > 40 ? 40 : r);
			error("read <%s>/%s: %zd bytes \"%.*s...\", expected %zu bytes \"slot %d file %d\"",
			      dpath, name, r, l, got, sz, slot, k);
		}
	}
}

static void *reader(void *arg)
{
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)(long)arg * 104729u;
	char path[4300];

	while (!atomic_load(&stop)) {
		int slot = (int)(rnd(&seed) % (unsigned)nslots);
		/* Mostly the published state (likely right), sometimes any of the 8. */
		unsigned st = rnd(&seed) % 4 ? atomic_load(&slot_state[slot]) : rnd(&seed) % 8;
		inner_dir(path, sizeof(path), slot, st);
		if (rnd(&seed) % 2) {
			/* A path lookup of a file from the top, no directory held. */
			char f[4400], exp[4200], got[4200];
			int k = (int)(rnd(&seed) % NFILES);
			snprintf(f, sizeof(f), "%s/f%d", path, k);
			int fd = open(f, O_RDONLY);
			if (fd < 0) {
				if (errno == ENOENT)
					atomic_fetch_add(&n_enoent, 1);
				else
					error("open %s: %s", f, strerror(errno));
				continue;
			}
			ssize_t r = pread(fd, got, sizeof(got), 0);
			int e = errno;
			close(fd);
			if (r < 0) {
				error("read %s: %s", f, strerror(e));
				continue;
			}
			atomic_fetch_add(&n_reads, 1);
			file_content(exp, slot, k);
			if ((size_t)r != file_size(slot, k) || memcmp(got, exp, (size_t)r) != 0)
				error("read %s: %zd bytes \"%.*s...\", expected slot %d file %d", f, r,
				      (int)(r > 40 ? 40 : r), got, slot, k);
			continue;
		}
		int dfd = open(path, O_RDONLY | O_DIRECTORY);
		if (dfd < 0) {
			if (errno == ENOENT)
				atomic_fetch_add(&n_enoent, 1);
			else
				error("open %s: %s", path, strerror(errno));
			continue;
		}
		atomic_fetch_add(&n_opens, 1);
		work_in(dfd, slot, path, &seed, false);
		close(dfd);
	}
	return NULL;
}

static int mkdirs_and_files(void)
{
	char p[4400], buf[4200];
	for (int c = 0; c < 2; c++) {
		snprintf(p, sizeof(p), "%s/%c", top, c ? 'B' : 'A');
		if (mkdir(p, 0755) != 0) { perror(p); return -1; }
	}
	for (int i = 0; i < nslots; i++) {
		slot_dir(p, sizeof(p), i, 0);
		if (mkdir(p, 0755) != 0) { perror(p); return -1; }
		inner_dir(p, sizeof(p), i, 0);
		if (mkdir(p, 0755) != 0) { perror(p); return -1; }
		for (int k = 0; k < NFILES; k++) {
			char f[4500];
			snprintf(f, sizeof(f), "%s/f%d", p, k);
			int fd = open(f, O_WRONLY | O_CREAT | O_EXCL, 0644);
			file_content(buf, i, k);
			if (fd < 0 || write(fd, buf, file_size(i, k)) != (ssize_t)file_size(i, k)) {
				perror(f);
				if (fd >= 0) close(fd);
				return -1;
			}
			close(fd);
		}
	}
	return 0;
}

static void cleanup(void)
{
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	if (system(cmd) != 0)
		fprintf(stderr, "rename_stress: could not remove %s\n", top);
}

static void usage(void)
{
	fprintf(stderr, "usage: rename_stress [-n SLOTS] [-r RENAMERS] [-s READERS] "
		"[-t SECONDS] [-v] DIR\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int c;
	while ((c = getopt(argc, argv, "n:r:s:t:v")) != -1) {
		switch (c) {
		case 'n': nslots = atoi(optarg); break;
		case 'r': nrenamers = atoi(optarg); break;
		case 's': nreaders = atoi(optarg); break;
		case 't': seconds = atoi(optarg); break;
		case 'v': verbose = 1; break;
		default: usage();
		}
	}
	if (optind != argc - 1 || nslots < 1 || nslots > MAX_SLOTS || nrenamers < 1 ||
	    nrenamers > 64 || nreaders < 1 || nreaders > 256 || seconds < 1)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(top, sizeof(top), "%s/rs.XXXXXX", argv[optind]);
	if (!mkdtemp(top)) { perror(top); return 1; }
	if (mkdirs_and_files() != 0) { cleanup(); return 1; }
	if (verbose)
		printf("rename_stress: %d slots in %s, %d renamers, %d readers, %d s\n", nslots, top,
		       nrenamers, nreaders, seconds);

	pthread_t th[64 + 256];
	int n = 0;
	for (long i = 0; i < nrenamers; i++)
		if (pthread_create(&th[n++], NULL, renamer, (void *)i) != 0) { perror("pthread_create"); return 1; }
	for (long i = 0; i < nreaders; i++)
		if (pthread_create(&th[n++], NULL, reader, (void *)i) != 0) { perror("pthread_create"); return 1; }
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	sleep((unsigned)seconds);
	atomic_store(&stop, true);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);

	/* At rest: every slot is where its renamer last put it, with all its files. */
	for (int i = 0; i < nslots; i++) {
		char p[4300];
		inner_dir(p, sizeof(p), i, atomic_load(&slot_state[i]));
		int dfd = open(p, O_RDONLY | O_DIRECTORY);
		unsigned s = 1;
		if (dfd < 0) { error("at rest: open %s: %s", p, strerror(errno)); continue; }
		work_in(dfd, i, p, &s, true);
		close(dfd);
	}
	cleanup();
	unsigned long errs = atomic_load(&n_errors);
	if (errs > MAX_REPORTS)
		printf("(%lu more errors not shown)\n", errs - MAX_REPORTS);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("rename_stress: %.1f s, %lu renames, %lu directory opens, %lu stats, %lu reads, "
	       "%lu expected ENOENT, %lu errors\n", secs, atomic_load(&n_renames),
	       atomic_load(&n_opens), atomic_load(&n_stats), atomic_load(&n_reads),
	       atomic_load(&n_enoent), errs);
	if (errs == 0 && (atomic_load(&n_renames) == 0 || atomic_load(&n_stats) == 0)) {
		printf("rename_stress: no work done on one side\n");
		return 1;
	}
	return errs == 0 ? 0 : 1;
}
