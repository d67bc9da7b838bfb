/* SPDX-License-Identifier: MIT */
/*
 * fsx.c - file-operation exerciser: a seeded random sequence of operations on one file,
 * every byte checked against an in-memory model (in the spirit of the BSD/xfstests fsx,
 * written for ringfuse; cf. FreeBSD bug 237588, data lost when mmap writes and write(2)
 * are mixed on a FUSE file).
 *
 * Usage: fsx [-N ops] [-S seed] [-l maxlen] [-o maxop] [-W] [-R] [-M] [-F] [-P] [-C] [-v]
 *            FILE
 *
 *   -N ops     number of steps (default 20000)
 *   -S seed    seed of the operation sequence (default: time and pid, printed)
 *   -l maxlen  largest file length (default 256 KiB)
 *   -o maxop   largest length of one operation (default 64 KiB)
 *   -W         no mmap writes            -R   no mmap reads
 *   -M         no mmap at all (-W -R)    -F   no fallocate and no punch hole
 *   -P         no punch hole             -C   no copy_file_range
 *   -v         print every operation
 *
 * Operations: read (pread, compared), write (pwrite), mapread (MAP_SHARED window,
 * compared, and the rest of the page past EOF must read zero), mapwrite (stores through a
 * MAP_SHARED window, extending the file with ftruncate first; msync(MS_SYNC) or not at
 * random), truncate (ftruncate up or down), fallocate (mode 0 or KEEP_SIZE), punch
 * (PUNCH_HOLE|KEEP_SIZE), copy (copy_file_range from FILE.src, a second file whose contents
 * are modelled too, or between non-overlapping ranges of FILE), reopen (close both files,
 * open them again, check them whole: RELEASE/OPEN and cache invalidation) and fsync
 * (fsync or fdatasync). After every step fstat(FILE).st_size must equal the model's size.
 *
 * Every step draws the same number of random values whatever its operation, and written
 * data comes from a generator seeded by (seed, step): the same seed and flags give the same
 * sequence. Written bytes are never zero, so a hole or lost write shows as a difference.
 * An operation kind that fails with EOPNOTSUPP/ENOTSUP/EINVAL/ENOSYS (mmap also ENODEV,
 * copy also EXDEV) on its first use is disabled with a note and reported as skipped; the
 * same error later, any other error, and every difference of data or size are failures.
 *
 * On failure: the seed, the step, the operation, the first differing offset with expected
 * and actual bytes (and the step that wrote the expected byte), the last 20 operations;
 * exit status 1, FILE and FILE.src are kept. On success both are removed. Last line:
 * "fsx: N ops, seed S, passed" (with the skipped kinds in parentheses) or "... failed".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <linux/falloc.h>

enum op_kind {
	OP_READ, OP_WRITE, OP_MAPREAD, OP_MAPWRITE, OP_TRUNCATE, OP_FALLOCATE, OP_PUNCH,
	OP_COPY, OP_REOPEN, OP_FSYNC, OP_NKINDS
};

static const char *const op_names[OP_NKINDS] = {
	"read", "write", "mapread", "mapwrite", "truncate", "fallocate", "punch", "copy",
	"reopen", "fsync",
};
static const unsigned op_weight[OP_NKINDS] = { 10, 10, 6, 6, 3, 3, 2, 4, 1, 1 };

#define LOG_SIZE  20
#define DESC_LEN  200
#define NDRAWS    6            /* random values drawn by every step */

struct logent {
	unsigned long step;
	char desc[DESC_LEN];
};

/* ---- state ------------------------------------------------------------------------------ */

static const char *path;
static char srcpath[4096];
static int fd = -1, sfd = -1;
static uint64_t seed;
static unsigned long nops = 20000, step;
static long long maxlen = 256 * 1024, maxop = 64 * 1024;
static long pagesize;
static bool verbose;

static uint8_t *good;           /* model of FILE, maxlen bytes; zero past size */
static uint32_t *owner;         /* step that last set each byte of good (0: none) */
static long long size;          /* model of FILE's size */
static uint8_t *sgood;          /* model of FILE.src */
static long long ssize;
static uint8_t *buf;            /* scratch for reads and write data */

static bool disabled[OP_NKINDS];
static const char *why_disabled[OP_NKINDS];
static unsigned long auto_step[OP_NKINDS];
static int auto_err[OP_NKINDS];
static bool used[OP_NKINDS];
static unsigned long done[OP_NKINDS];
static char flagstr[64];

static struct logent ring[LOG_SIZE];
static unsigned long nlogged;
static char cur[DESC_LEN];      /* description of the step in progress */
static int cur_kind = -1;

static sigjmp_buf bus_jmp;
static volatile sig_atomic_t bus_armed;

/* ---- random numbers: splitmix64 ---------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd(void)
{
	rng_state += 0x9e3779b97f4a7c15ULL;
	return mix64(rng_state);
}

/* Uniform in [lo, hi] (hi >= lo). */
static long long rrange(uint64_t r, long long lo, long long hi)
{
	return lo + (long long)(r % (uint64_t)(hi - lo + 1));
}

/* Bytes 1..255 for (seed, step): never zero, so a hole never passes for data. */
static void fill_data(uint8_t *p, long long n)
{
	uint64_t s = mix64(seed ^ mix64(step + 0x51ed270b27ULL)), x = 0;
	long long i;

	for (i = 0; i < n; i++) {
		if ((i & 7) == 0) {
			s += 0x9e3779b97f4a7c15ULL;
			x = mix64(s);
		}
		p[i] = (uint8_t)(1 + (x & 0xff) % 255);
		x >>= 8;
	}
}

/* ---- reporting --------------------------------------------------------------------------- */

static void describe(int kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void describe(int kind, const char *fmt, ...)
{
	va_list ap;
	struct logent *e = &ring[nlogged++ % LOG_SIZE];

	va_start(ap, fmt);
	vsnprintf(cur, sizeof(cur), fmt, ap);
	va_end(ap);
	cur_kind = kind;
	e->step = step;
	snprintf(e->desc, sizeof(e->desc), "%s", cur);
	if (verbose)
		printf("%lu: %s\n", step, cur);
}

static void print_log(void)
{
	unsigned long i, first = nlogged > LOG_SIZE ? nlogged - LOG_SIZE : 0;

	printf("fsx: last %lu operations (oldest first):\n", nlogged - first);
	for (i = first; i < nlogged; i++)
		printf("  %6lu: %s\n", ring[i % LOG_SIZE].step, ring[i % LOG_SIZE].desc);
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	va_list ap;

	bus_armed = 0;
	fflush(stdout);
	printf("fsx: FAILURE at step %lu, seed %" PRIu64 "%s%s\n", step, seed,
	       flagstr[0] ? ", flags " : "", flagstr);
	printf("fsx: operation: %s\n", cur[0] ? cur : "(setup)");
	printf("fsx: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	printf("fsx: model size %lld (0x%llx)\n", size, size);
	print_log();
	printf("fsx: files kept: %s %s\n", path, srcpath);
	printf("fsx: rerun: fsx -N %lu -S %" PRIu64 " -l %lld -o %lld%s%s %s\n", step, seed,
	       maxlen, maxop, flagstr[0] ? " " : "", flagstr, path);
	printf("fsx: %lu ops, seed %" PRIu64 ", failed\n", step, seed);
	fflush(stdout);
	exit(1);
}

static void hexbytes(char *out, size_t outsz, const uint8_t *p, long long n)
{
	size_t used_ = 0;
	long long i;

	out[0] = '\0';
	for (i = 0; i < n && used_ + 4 < outsz; i++)
		used_ += (size_t)snprintf(out + used_, outsz - used_, "%s%02x", i ? " " : "", p[i]);
}

/*
 * Compare @n bytes read from file offset @off (@actual) with model @model (nullable
 * @own: step that wrote each expected byte). Fails with a report on the first difference.
 */
static void compare(const char *what, const uint8_t *model, const uint32_t *own,
		    const uint8_t *actual, long long off, long long n)
{
	long long i, first = -1, last = -1, ndiff = 0;
	char exp[80], act[80], who[64];
	long long show;

	for (i = 0; i < n; i++) {
		if (model[off + i] != actual[i]) {
			if (first < 0)
				first = i;
			last = i;
			ndiff++;
		}
	}
	if (first < 0)
		return;
	show = n - first < 16 ? n - first : 16;
	hexbytes(exp, sizeof(exp), model + off + first, show);
	hexbytes(act, sizeof(act), actual + first, show);
	if (!own)
		snprintf(who, sizeof(who), "setup");
	else if (own[off + first])
		snprintf(who, sizeof(who), "step %lu", (unsigned long)own[off + first]);
	else
		snprintf(who, sizeof(who), "nobody (never written: zero)");
	fail("%s: data mismatch in [0x%llx, 0x%llx): first differing offset 0x%llx (%lld), "
	     "%lld bytes differ, last at 0x%llx\n"
	     "fsx:   expected at 0x%llx: %s\n"
	     "fsx:   actual   at 0x%llx: %s\n"
	     "fsx:   expected byte set by %s",
	     what, off, off + n, off + first, off + first, ndiff, off + last,
	     off + first, exp, off + first, act, who);
}

static void check_size(void)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		fail("fstat: %s", strerror(errno));
	if (st.st_size != size)
		fail("size mismatch: fstat says %lld (0x%llx), model %lld (0x%llx)",
		     (long long)st.st_size, (long long)st.st_size, size, size);
}

/* pread until @n bytes or EOF; returns the count (fails on error). */
static long long pread_full(int f, uint8_t *p, long long n, long long off, const char *what)
{
	long long got = 0;

	while (got < n) {
		ssize_t r = pread(f, p + got, (size_t)(n - got), off + got);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			fail("%s: pread(0x%llx, %lld): %s", what, off + got, n - got, strerror(errno));
		}
		if (r == 0)
			break;
		got += r;
	}
	return got;
}

static void pwrite_full(int f, const uint8_t *p, long long n, long long off, const char *what)
{
	long long put = 0;

	while (put < n) {
		ssize_t r = pwrite(f, p + put, (size_t)(n - put), off + put);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			fail("%s: pwrite(0x%llx, %lld): %s", what, off + put, n - put,
			     strerror(errno));
		}
		if (r == 0)
			fail("%s: pwrite(0x%llx, %lld) wrote nothing", what, off + put, n - put);
		put += r;
	}
}

/* Whole-file check of FILE and FILE.src against the model. */
static void check_all(const char *what)
{
	char w[64];
	long long got;

	snprintf(w, sizeof(w), "%s: whole FILE", what);
	got = pread_full(fd, buf, maxlen + 1, 0, w);
	if (got != size)
		fail("%s: read %lld bytes, model size %lld", w, got, size);
	compare(w, good, owner, buf, 0, got);
	snprintf(w, sizeof(w), "%s: whole FILE.src", what);
	got = pread_full(sfd, buf, maxlen + 1, 0, w);
	if (got != ssize)
		fail("%s: read %lld bytes, model size %lld", w, got, ssize);
	compare(w, sgood, NULL, buf, 0, got);
}

/*
 * The first use of an operation kind may find the filesystem lacks it: disable the kind
 * and return true. Otherwise the error is a failure.
 */
static bool unsupported(int kind, int err, bool extra)
{
	if (!used[kind] && (err == EOPNOTSUPP || err == ENOTSUP || err == EINVAL ||
			    err == ENOSYS || extra)) {
		disabled[kind] = true;
		why_disabled[kind] = "auto";
		auto_step[kind] = step;
		auto_err[kind] = err;
		printf("fsx: note: %s not supported here (%s at step %lu, first use): disabled\n",
		       op_names[kind], strerror(err), step);
		return true;
	}
	return false;
}

static void on_sigbus(int sig)
{
	if (bus_armed)
		siglongjmp(bus_jmp, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

static long long page_down(long long x)
{
	return x & ~(long long)(pagesize - 1);
}

static long long page_up(long long x)
{
	return (x + pagesize - 1) & ~(long long)(pagesize - 1);
}

/* ---- operations -------------------------------------------------------------------------- */

/* A range [off, off+len) inside [0, limit), len in [1, maxop]; page-aligned if @align. */
static void pick_range(const uint64_t *r, long long limit, bool align, long long *off,
		       long long *len)
{
	long long o = rrange(r[0], 0, limit - 1), l;

	if (align)
		o = page_down(o);
	l = rrange(r[1], 1, (limit - o) < maxop ? (limit - o) : maxop);
	if (align && page_up(l) <= limit - o && page_up(l) <= maxop)
		l = page_up(l);
	*off = o;
	*len = l;
}

static void model_write(const uint8_t *data, long long off, long long len)
{
	long long i;

	memcpy(good + off, data, (size_t)len);
	for (i = 0; i < len; i++)
		owner[off + i] = (uint32_t)step;
	if (off + len > size)
		size = off + len;
}

static void model_zero(long long from, long long to)
{
	long long i;

	if (to > from) {
		memset(good + from, 0, (size_t)(to - from));
		for (i = from; i < to; i++)
			owner[i] = (uint32_t)step;
	}
}

static void do_read(const uint64_t *r, bool align)
{
	long long off, len, expect, got;

	if (size == 0) {
		describe(OP_READ, "read 0x0 len 1 (empty file, expect EOF)");
		got = pread_full(fd, buf, 1, 0, "read");
		if (got != 0)
			fail("read of an empty file returned %lld bytes", got);
		return;
	}
	off = rrange(r[0], 0, size - 1);
	if (align)
		off = page_down(off);
	len = rrange(r[1], 1, maxop);           /* may run past EOF */
	expect = size - off < len ? size - off : len;
	describe(OP_READ, "read 0x%llx len 0x%llx (size 0x%llx, expect %lld bytes)", off, len,
		 size, expect);
	got = pread_full(fd, buf, len, off, "read");
	if (got != expect)
		fail("read: short or long read: %lld bytes, expected %lld", got, expect);
	compare("read", good, owner, buf, off, got);
}

static void do_write(const uint64_t *r, bool align)
{
	long long off, len, old = size;

	pick_range(r, maxlen, align, &off, &len);
	describe(OP_WRITE, "write 0x%llx len 0x%llx (size 0x%llx -> 0x%llx)", off, len, old,
		 off + len > old ? off + len : old);
	fill_data(buf, len);
	pwrite_full(fd, buf, len, off, "write");
	model_write(buf, off, len);
}

static void do_mapread(const uint64_t *r, bool align)
{
	long long off, len, pg, mend, i;
	uint8_t *map;

	if (size == 0) {
		describe(OP_MAPREAD, "mapread skipped: empty file");
		return;
	}
	pick_range(r, size, align, &off, &len);
	pg = page_down(off);
	mend = page_up(off + len);      /* within the page holding EOF: no SIGBUS */
	describe(OP_MAPREAD, "mapread 0x%llx len 0x%llx (map 0x%llx..0x%llx, size 0x%llx)",
		 off, len, pg, mend, size);
	map = mmap(NULL, (size_t)(mend - pg), PROT_READ, MAP_SHARED, fd, pg);
	if (map == MAP_FAILED) {
		int err = errno;

		if (unsupported(OP_MAPREAD, err, err == ENODEV))
			return;
		fail("mapread: mmap: %s", strerror(err));
	}
	if (sigsetjmp(bus_jmp, 1)) {
		fail("mapread: SIGBUS reading the mapping");
	}
	bus_armed = 1;
	memcpy(buf, map + (off - pg), (size_t)len);
	bus_armed = 0;
	compare("mapread", good, owner, buf, off, len);
	/* The rest of the page holding EOF must read as zeros. */
	if (size < mend) {
		bus_armed = 1;
		memcpy(buf, map + (size - pg), (size_t)(mend - size));
		bus_armed = 0;
		for (i = 0; i < mend - size; i++)
			if (buf[i])
				fail("mapread: non-zero byte 0x%02x past EOF at 0x%llx (page tail "
				     "0x%llx..0x%llx must read zero)", buf[i], size + i, size, mend);
	}
	if (munmap(map, (size_t)(mend - pg)) < 0)
		fail("mapread: munmap: %s", strerror(errno));
	used[OP_MAPREAD] = true;
}

static void do_mapwrite(const uint64_t *r, bool align)
{
	long long off, len, pg, mend, old = size;
	bool sync = r[3] & 1;
	uint8_t *map;

	pick_range(r, maxlen, align, &off, &len);
	pg = page_down(off);
	mend = page_up(off + len);
	describe(OP_MAPWRITE, "mapwrite 0x%llx len 0x%llx (map 0x%llx..0x%llx, size 0x%llx%s)%s",
		 off, len, pg, mend, old, off + len > old ? ", ftruncate up first" : "",
		 sync ? " msync" : " no msync");
	fill_data(buf, len);
	if (off + len > size) {
		if (ftruncate(fd, off + len) < 0)
			fail("mapwrite: ftruncate(0x%llx): %s", off + len, strerror(errno));
		size = off + len;       /* bytes past the old size are zero in the model */
		check_size();
	}
	map = mmap(NULL, (size_t)(mend - pg), PROT_READ | PROT_WRITE, MAP_SHARED, fd, pg);
	if (map == MAP_FAILED) {
		int err = errno;

		if (unsupported(OP_MAPWRITE, err, err == ENODEV)) {
			/* The extension by ftruncate stands: the model already has it. */
			return;
		}
		fail("mapwrite: mmap: %s", strerror(err));
	}
	if (sigsetjmp(bus_jmp, 1)) {
		fail("mapwrite: SIGBUS writing the mapping");
	}
	bus_armed = 1;
	memcpy(map + (off - pg), buf, (size_t)len);
	bus_armed = 0;
	if (sync && msync(map, (size_t)(mend - pg), MS_SYNC) < 0)
		fail("mapwrite: msync: %s", strerror(errno));
	if (munmap(map, (size_t)(mend - pg)) < 0)
		fail("mapwrite: munmap: %s", strerror(errno));
	model_write(buf, off, len);
	used[OP_MAPWRITE] = true;
}

static void do_truncate(const uint64_t *r)
{
	long long newsize = rrange(r[0], 0, maxlen), old = size;

	/* Half the time stay near the current size, where partial pages are. */
	if (r[3] & 1) {
		long long d = rrange(r[1], -2 * pagesize, 2 * pagesize);

		newsize = old + d < 0 ? 0 : old + d > maxlen ? maxlen : old + d;
	}
	describe(OP_TRUNCATE, "truncate 0x%llx -> 0x%llx (%s)", old, newsize,
		 newsize < old ? "down" : newsize > old ? "up" : "same");
	if (ftruncate(fd, newsize) < 0)
		fail("truncate: ftruncate(0x%llx): %s", newsize, strerror(errno));
	if (newsize < old)
		model_zero(newsize, old);
	size = newsize;
}

static void do_fallocate(const uint64_t *r, bool align)
{
	long long off, len, old = size;
	bool keep = r[3] & 1;

	pick_range(r, maxlen, align, &off, &len);
	describe(OP_FALLOCATE, "fallocate 0x%llx len 0x%llx mode %s (size 0x%llx -> 0x%llx)",
		 off, len, keep ? "KEEP_SIZE" : "0", old,
		 !keep && off + len > old ? off + len : old);
	if (fallocate(fd, keep ? FALLOC_FL_KEEP_SIZE : 0, off, len) < 0) {
		int err = errno;

		if (unsupported(OP_FALLOCATE, err, false))
			return;
		fail("fallocate: %s", strerror(err));
	}
	used[OP_FALLOCATE] = true;
	if (!keep && off + len > size)
		size = off + len;       /* allocated bytes read as zeros: already in the model */
}

static void do_punch(const uint64_t *r, bool align)
{
	long long off, len;

	pick_range(r, maxlen, align, &off, &len);
	describe(OP_PUNCH, "punch 0x%llx len 0x%llx (size 0x%llx)", off, len, size);
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) < 0) {
		int err = errno;

		if (unsupported(OP_PUNCH, err, false))
			return;
		fail("punch: %s", strerror(err));
	}
	used[OP_PUNCH] = true;
	model_zero(off, off + len < size ? off + len : size);
}

static void do_copy(const uint64_t *r)
{
	bool same = (r[3] & 1) && size > 0;
	long long off_in, off_out, len, left, old = size, i;
	loff_t oi, oo;
	int in;

	if (same) {
		/* Within FILE: [off_in, +len) inside the file, [off_out, +len) not overlapping. */
		long long a, b;

		off_in = rrange(r[0], 0, size - 1);
		len = rrange(r[1], 1, (size - off_in) < maxop ? (size - off_in) : maxop);
		a = off_in >= len ? off_in - len + 1 : 0;                    /* [0, off_in-len] */
		b = off_in + len <= maxlen - len ? maxlen - len - (off_in + len) + 1 : 0;
		if (a + b == 0) {
			same = false;
		} else {
			long long x = rrange(r[2], 0, a + b - 1);

			off_out = x < a ? x : off_in + len + (x - a);
		}
	}
	if (!same) {
		off_in = rrange(r[0], 0, ssize - 1);
		len = rrange(r[1], 1, (ssize - off_in) < maxop ? (ssize - off_in) : maxop);
		off_out = rrange(r[2], 0, maxlen - len);
	}
	describe(OP_COPY, "copy %s 0x%llx -> 0x%llx len 0x%llx (size 0x%llx -> 0x%llx)",
		 same ? "FILE" : "FILE.src", off_in, off_out, len, old,
		 off_out + len > old ? off_out + len : old);
	in = same ? fd : sfd;
	oi = off_in;
	oo = off_out;
	for (left = len; left > 0;) {
		ssize_t n = copy_file_range(in, &oi, fd, &oo, (size_t)left, 0);

		if (n < 0) {
			int err = errno;

			if (err == EINTR)
				continue;
			if (left == len && unsupported(OP_COPY, err, err == EXDEV))
				return;
			fail("copy: copy_file_range(in 0x%llx, out 0x%llx, %lld): %s",
			     (long long)oi, (long long)oo, left, strerror(err));
		}
		if (n == 0)
			fail("copy: copy_file_range returned 0 with %lld of %lld bytes left "
			     "(source range is inside the file)", left, len);
		left -= n;
	}
	used[OP_COPY] = true;
	if (same)
		memmove(good + off_out, good + off_in, (size_t)len);
	else
		memcpy(good + off_out, sgood + off_in, (size_t)len);
	for (i = 0; i < len; i++)
		owner[off_out + i] = (uint32_t)step;
	if (off_out + len > size)
		size = off_out + len;
}

static void open_files(void)
{
	fd = open(path, O_RDWR);
	if (fd < 0)
		fail("open %s: %s", path, strerror(errno));
	sfd = open(srcpath, O_RDWR);
	if (sfd < 0)
		fail("open %s: %s", srcpath, strerror(errno));
}

static void do_reopen(void)
{
	describe(OP_REOPEN, "reopen (close, open, check FILE 0x%llx and FILE.src 0x%llx whole)",
		 size, ssize);
	if (close(fd) < 0)
		fail("reopen: close FILE: %s", strerror(errno));
	if (close(sfd) < 0)
		fail("reopen: close FILE.src: %s", strerror(errno));
	fd = sfd = -1;
	open_files();
	check_all("reopen");
}

static void do_fsync(const uint64_t *r)
{
	bool data = r[3] & 1;

	describe(OP_FSYNC, "%s", data ? "fdatasync" : "fsync");
	if ((data ? fdatasync(fd) : fsync(fd)) < 0)
		fail("%s: %s", data ? "fdatasync" : "fsync", strerror(errno));
}

/* ---- main -------------------------------------------------------------------------------- */

static int pick_kind(uint64_t r)
{
	unsigned total = 0, k;
	uint64_t x;

	for (k = 0; k < OP_NKINDS; k++)
		if (!disabled[k])
			total += op_weight[k];
	x = r % total;
	for (k = 0; k < OP_NKINDS; k++) {
		if (disabled[k])
			continue;
		if (x < op_weight[k])
			return (int)k;
		x -= op_weight[k];
	}
	return OP_READ;
}

static void setup(void)
{
	int f;

	f = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (f < 0)
		fail("create %s: %s", path, strerror(errno));
	close(f);
	f = open(srcpath, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (f < 0)
		fail("create %s: %s", srcpath, strerror(errno));
	/* FILE.src: maxlen bytes of data written by "step 0". */
	ssize = maxlen;
	fill_data(sgood, ssize);
	pwrite_full(f, sgood, ssize, 0, "setup FILE.src");
	if (close(f) < 0)
		fail("close %s: %s", srcpath, strerror(errno));
	open_files();
	check_size();
	check_all("setup");
}

static bool parse_num(const char *s, long long *out, long long min)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || end == s || v < min)
		return false;
	if (*end == 'k' || *end == 'K') {
		v *= 1024;
		end++;
	} else if (*end == 'm' || *end == 'M') {
		v *= 1024 * 1024;
		end++;
	}
	if (*end)
		return false;
	*out = v;
	return true;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: fsx [-N ops] [-S seed] [-l maxlen] [-o maxop] [-W] [-R] [-M] [-F] [-P] [-C] "
		"[-v] FILE\n"
		"  -N ops     steps (default 20000)       -S seed   seed (default: random, printed)\n"
		"  -l maxlen  max file length (256k)      -o maxop  max op length (64k)\n"
		"  -W no mmap write  -R no mmap read  -M no mmap  -F no fallocate/punch\n"
		"  -P no punch hole  -C no copy_file_range  -v print every operation\n");
	exit(2);
}

int main(int argc, char **argv)
{
	bool seed_set = false;
	long long v;
	char skipped[512];
	size_t sl = 0;
	int opt, k;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "N:S:l:o:WRMFPCv")) != -1) {
		switch (opt) {
		case 'N':
			if (!parse_num(optarg, &v, 0))
				usage();
			nops = (unsigned long)v;
			break;
		case 'S':
			errno = 0;
			seed = strtoull(optarg, NULL, 0);
			if (errno)
				usage();
			seed_set = true;
			break;
		case 'l':
			if (!parse_num(optarg, &maxlen, 1) || maxlen > (1LL << 30))
				usage();
			break;
		case 'o':
			if (!parse_num(optarg, &maxop, 1))
				usage();
			break;
		case 'W': disabled[OP_MAPWRITE] = true; why_disabled[OP_MAPWRITE] = "-W"; break;
		case 'R': disabled[OP_MAPREAD] = true; why_disabled[OP_MAPREAD] = "-R"; break;
		case 'M':
			disabled[OP_MAPWRITE] = disabled[OP_MAPREAD] = true;
			why_disabled[OP_MAPWRITE] = why_disabled[OP_MAPREAD] = "-M";
			break;
		case 'F':
			disabled[OP_FALLOCATE] = disabled[OP_PUNCH] = true;
			why_disabled[OP_FALLOCATE] = why_disabled[OP_PUNCH] = "-F";
			break;
		case 'P': disabled[OP_PUNCH] = true; why_disabled[OP_PUNCH] = "-P"; break;
		case 'C': disabled[OP_COPY] = true; why_disabled[OP_COPY] = "-C"; break;
		case 'v': verbose = true; break;
		default: usage();
		}
		if (strchr("WRMFPC", opt) && strlen(flagstr) + 3 < sizeof(flagstr)) {
			size_t fl = strlen(flagstr);

			if (!fl)
				flagstr[fl++] = '-';
			flagstr[fl++] = (char)opt;
			flagstr[fl] = '\0';
		}
	}
	if (argc - optind != 1)
		usage();
	path = argv[optind];
	if (snprintf(srcpath, sizeof(srcpath), "%s.src", path) >= (int)sizeof(srcpath))
		usage();
	if (maxop > maxlen)
		maxop = maxlen;
	if (!seed_set)
		seed = mix64((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32)) % 1000000000;
	pagesize = sysconf(_SC_PAGESIZE);
	good = calloc((size_t)maxlen, 1);
	owner = calloc((size_t)maxlen, sizeof(*owner));
	sgood = calloc((size_t)maxlen, 1);
	buf = calloc((size_t)(maxlen + pagesize + 1), 1);     /* + the page tail past EOF */
	if (!good || !owner || !sgood || !buf) {
		fprintf(stderr, "fsx: out of memory\n");
		return 1;
	}
	signal(SIGBUS, on_sigbus);
	rng_state = seed;
	printf("fsx: %s: %lu ops, seed %" PRIu64 ", maxlen %lld, maxop %lld%s%s\n", path, nops,
	       seed, maxlen, maxop, flagstr[0] ? ", flags " : "", flagstr);
	setup();

	for (step = 1; step <= nops; step++) {
		uint64_t r[NDRAWS];
		bool align;
		int i;

		for (i = 0; i < NDRAWS; i++)
			r[i] = rnd();
		align = r[4] % 4 == 0;
		k = pick_kind(r[5]);
		cur[0] = '\0';
		switch (k) {
		case OP_READ: do_read(r, align); break;
		case OP_WRITE: do_write(r, align); break;
		case OP_MAPREAD: do_mapread(r, align); break;
		case OP_MAPWRITE: do_mapwrite(r, align); break;
		case OP_TRUNCATE: do_truncate(r); break;
		case OP_FALLOCATE: do_fallocate(r, align); break;
		case OP_PUNCH: do_punch(r, align); break;
		case OP_COPY: do_copy(r); break;
		case OP_REOPEN: do_reopen(); break;
		case OP_FSYNC: do_fsync(r); break;
		}
		if (!(disabled[k] && auto_step[k] == step))
			done[k]++;
		check_size();
	}
	step = nops;
	cur[0] = '\0';
	snprintf(cur, sizeof(cur), "final check (close, open, whole files)");
	if (close(fd) < 0 || close(sfd) < 0)
		fail("close: %s", strerror(errno));
	open_files();
	check_size();
	check_all("final");
	close(fd);
	close(sfd);
	unlink(path);
	unlink(srcpath);

	printf("fsx: done:");
	for (k = 0; k < OP_NKINDS; k++)
		printf(" %s %lu", op_names[k], done[k]);
	printf("\n");
	skipped[0] = '\0';
	for (k = 0; k < OP_NKINDS; k++) {
		if (!disabled[k])
			continue;
		if (why_disabled[k] && !strcmp(why_disabled[k], "auto"))
			sl += (size_t)snprintf(skipped + sl, sizeof(skipped) - sl,
					       "%s%s (auto at step %lu: %s)", sl ? ", " : "",
					       op_names[k], auto_step[k], strerror(auto_err[k]));
		else
			sl += (size_t)snprintf(skipped + sl, sizeof(skipped) - sl, "%s%s (%s)",
					       sl ? ", " : "", op_names[k], why_disabled[k]);
		if (sl >= sizeof(skipped))
			sl = sizeof(skipped) - 1;
	}
	printf("fsx: %lu ops, seed %" PRIu64 ", passed%s%s%s\n", nops, seed,
	       sl ? " (skipped: " : "", skipped, sl ? ")" : "");
	return 0;
}
