/*
 * syscalls.c - real-kernel syscall conformance tests for a mounted filesystem
 *
 * Usage: syscalls [-v] [-k] [-l] [-t SECONDS] [-x name,name...] DIR
 *
 *   -v  verbose: show the test directory, per-case timing and details
 *   -k  keep the test directory (DIR/syscalls.XXXXXX) for debugging
 *   -l  list the cases and exit
 *   -t  per-case timeout in seconds (default 30)
 *   -x  exclude the named cases (for filesystems lacking a feature);
 *       may be given more than once, excluded cases count as skipped
 *
 * The program knows nothing about ringfuse.  It creates DIR/syscalls.XXXXXX,
 * runs every case in a fresh subdirectory of it and removes it afterwards.
 * DIR is normally a FUSE mount (memfs, a passthrough fs), but every case must
 * also pass on a local filesystem such as tmpfs: that is how the expectations
 * themselves are validated.
 *
 * Each case runs in a forked child, in its own process group and with an
 * alarm, so a hang or crash fails that one case and not the run.  Output is
 * one line per case
 *
 *   ok  NAME
 *   FAIL NAME: FILE:LINE: WHAT (errno N ENAME)
 *   skip NAME: REASON
 *
 * and a final "syscalls: N passed, N failed, N skipped".  Exit status is 0
 * only if nothing failed (2 for usage errors).
 *
 * The perm_* cases need root: they fork a child that drops to 65534:65534
 * and expect the kernel (on FUSE: -o default_permissions) to enforce access
 * checks; on FUSE they also need -o allow_other.
 *
 * Writing checks: CHECK() clears errno before evaluating its condition, so
 * put the syscall inside the condition and the reported errno is the one it
 * set.  Helpers return 0, -1 (failed, already reported) or 1 (skip); TRY()
 * propagates that and notes the caller's line.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <linux/falloc.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef ENOATTR
#define ENOATTR ENODATA
#endif

#define KiB 1024
#define MiB (1024 * 1024)
#define NOBODY 65534		/* uid and gid the perm_* cases drop to */
#define ZEROS (-1)		/* "seed" meaning: expect zero bytes */
#define SKIP_STATUS 77		/* exit status of a child that skipped */

/*
 * Shared (MAP_SHARED) between the runner and everything a case forks, so
 * grandchildren running as another uid can still report.  The first report
 * wins: later ones are usually consequences of it.
 */
struct report {
	int claimed;		/* 0, CLAIM_FAIL or CLAIM_SKIP */
	int last_line;		/* last passed check, for timeouts and crashes */
	char msg[1024];
};
enum { CLAIM_NONE, CLAIM_FAIL, CLAIM_SKIP };

static struct report *g_rep;
static int g_verbose;
static struct timespec g_case_start;	/* realtime when the case started */

static const char *errname(int e)
{
	const char *s = e ? strerrorname_np(e) : NULL;

	return s ? s : "?";
}

static bool claim(int kind)
{
	int expected = CLAIM_NONE;

	return __atomic_compare_exchange_n(&g_rep->claimed, &expected, kind, false,
					   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

__attribute__((format(printf, 4, 5)))
static void fail_at(const char *file, int line, int err, const char *fmt, ...)
{
	char what[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (!claim(CLAIM_FAIL))
		return;
	if (err)
		snprintf(g_rep->msg, sizeof(g_rep->msg), "%s:%d: %s (errno %d %s)",
			 file, line, what, err, errname(err));
	else
		snprintf(g_rep->msg, sizeof(g_rep->msg), "%s:%d: %s (errno 0)",
			 file, line, what);
}

__attribute__((format(printf, 1, 2)))
static void skip_with(const char *fmt, ...)
{
	va_list ap;

	if (!claim(CLAIM_SKIP))
		return;
	va_start(ap, fmt);
	vsnprintf(g_rep->msg, sizeof(g_rep->msg), fmt, ap);
	va_end(ap);
}

/* A helper failed: say where it was called from, helpers are shared. */
static void note_caller(int line)
{
	size_t n = strlen(g_rep->msg);

	if (g_rep->claimed == CLAIM_FAIL && n + 24 < sizeof(g_rep->msg))
		snprintf(g_rep->msg + n, sizeof(g_rep->msg) - n, " [from line %d]", line);
}

__attribute__((format(printf, 1, 2)))
static void info(const char *fmt, ...)
{
	va_list ap;

	if (!g_verbose)
		return;
	va_start(ap, fmt);
	printf("#   ");
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
}

#define CHECK(cond, ...)						\
	do {								\
		errno = 0;						\
		if (!(cond)) {						\
			int chk_err_ = errno;				\
			fail_at(__FILE__, __LINE__, chk_err_, __VA_ARGS__); \
			return -1;					\
		}							\
		g_rep->last_line = __LINE__;				\
	} while (0)

/* Fail with the current errno (the syscall was outside a CHECK). */
#define FAIL(...)							\
	do {								\
		int fail_err_ = errno;					\
		fail_at(__FILE__, __LINE__, fail_err_, __VA_ARGS__);	\
		return -1;						\
	} while (0)

#define SKIP(...)							\
	do {								\
		skip_with(__VA_ARGS__);					\
		return 1;						\
	} while (0)

#define TRY(call)							\
	do {								\
		int try_r_ = (call);					\
		if (try_r_ != 0) {					\
			if (try_r_ < 0)					\
				note_caller(__LINE__);			\
			return try_r_;					\
		}							\
	} while (0)

/*
 * EXPR must fail with errno E1 or E2.  The text is taken before expansion
 * so messages show O_RDONLY rather than 00.
 */
#define EXPECT_ERR_(expr, text, e1, e2)					\
	do {								\
		long xr_;						\
		int xe_;						\
		errno = 0;						\
		xr_ = (long)(expr);					\
		xe_ = errno;						\
		if (xr_ != -1 || (xe_ != (e1) && xe_ != (e2))) {	\
			if ((e1) == (e2))				\
				fail_at(__FILE__, __LINE__, xe_,	\
					"%s = %ld, expected -1 with %s", \
					text, xr_, errname(e1));	\
			else						\
				fail_at(__FILE__, __LINE__, xe_,	\
					"%s = %ld, expected -1 with %s or %s", \
					text, xr_, errname(e1), errname(e2)); \
			return -1;					\
		}							\
		g_rep->last_line = __LINE__;				\
	} while (0)
#define EXPECT_ERR2(expr, e1, e2) EXPECT_ERR_(expr, #expr, e1, e2)
#define EXPECT_ERR(expr, e) EXPECT_ERR_(expr, #expr, e, e)

/* ---- data helpers -------------------------------------------------------- */

/* Deterministic, never-zero byte for (seed, offset): zeros mean "hole". */
static uint8_t pat(unsigned seed, uint64_t off)
{
	uint64_t x = off * 0x9e3779b97f4a7c15ull + (seed + 1) * 0xc2b2ae3d27d4eb4full;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 29;
	return (uint8_t)(x | 1);
}

static void fill(uint8_t *buf, size_t len, uint64_t off, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pat(seed, off + i);
}

/* Printable rendering of a short buffer for messages. */
static const char *show(const void *data, size_t len)
{
	static char out[4][100];
	static int slot;
	const unsigned char *p = data;
	char *o = out[slot++ & 3];
	size_t j = 0;

	for (size_t i = 0; i < len && j < sizeof(out[0]) - 8; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			o[j++] = (char)p[i];
		else
			j += (size_t)sprintf(o + j, "\\x%02x", p[i]);
	}
	if (len && j >= sizeof(out[0]) - 8)
		j += (size_t)sprintf(o + j, "...");
	o[j] = '\0';
	return o;
}

static int write_at(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;
	ssize_t n = 0;

	while (len > 0) {
		CHECK((n = pwrite(fd, p, len, off)) > 0,
		      "pwrite(%zu bytes at %lld) = %zd", len, (long long)off, n);
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_pat(int fd, off_t off, size_t len, unsigned seed)
{
	uint8_t *buf = malloc(len ? len : 1);

	CHECK(buf != NULL, "malloc(%zu)", len);
	fill(buf, len, (uint64_t)off, seed);
	TRY(write_at(fd, buf, len, off));
	free(buf);
	return 0;
}

/*
 * LEN bytes at file offset OFF must be pat(seed, src + i), or zero when seed
 * is ZEROS.  Short reads count as mismatches: these ranges are inside EOF.
 */
static int expect_range(int fd, off_t off, size_t len, int seed, uint64_t src)
{
	static uint8_t buf[64 * KiB];
	ssize_t n = 0;

	while (len > 0) {
		size_t want = len < sizeof(buf) ? len : sizeof(buf);
		size_t i;

		CHECK((n = pread(fd, buf, want, off)) == (ssize_t)want,
		      "pread(%zu bytes at %lld) = %zd", want, (long long)off, n);
		for (i = 0; i < want; i++)
			if (buf[i] != (seed == ZEROS ? 0 : pat((unsigned)seed, src + i)))
				break;
		CHECK(i == want, "byte at offset %lld is 0x%02x, expected 0x%02x",
		      (long long)off + (long long)i, buf[i],
		      seed == ZEROS ? 0 : pat((unsigned)seed, src + i));
		off += (off_t)want;
		src += want;
		len -= want;
	}
	return 0;
}

static int expect_pat(int fd, off_t off, size_t len, unsigned seed)
{
	return expect_range(fd, off, len, (int)seed, (uint64_t)off);
}

static int expect_zero(int fd, off_t off, size_t len)
{
	return expect_range(fd, off, len, ZEROS, 0);
}

/* LEN bytes at OFF equal EXP (binary-safe). */
static int expect_buf(int fd, off_t off, const void *exp, size_t len)
{
	char *buf = NULL;
	ssize_t n = 0;

	CHECK((buf = malloc(len + 1)) != NULL, "malloc(%zu)", len);
	CHECK((n = pread(fd, buf, len, off)) == (ssize_t)len,
	      "pread(%zu bytes at %lld) = %zd", len, (long long)off, n);
	CHECK(memcmp(buf, exp, len) == 0, "read \"%s\" at %lld, expected \"%s\"",
	      show(buf, len), (long long)off, show(exp, len));
	free(buf);
	return 0;
}

static int expect_eof(int fd, off_t off)
{
	char c;
	ssize_t n = 0;

	CHECK((n = pread(fd, &c, 1, off)) == 0,
	      "pread at %lld = %zd, expected 0 (EOF)", (long long)off, n);
	return 0;
}

static int expect_size(int fd, off_t size)
{
	struct stat st;

	CHECK(fstat(fd, &st) == 0, "fstat");
	CHECK(st.st_size == size, "st_size %lld, expected %lld",
	      (long long)st.st_size, (long long)size);
	return 0;
}

static int put_file(const char *path, const char *content, mode_t mode)
{
	int fd = -1;

	CHECK((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode)) >= 0,
	      "create %s", path);
	TRY(write_at(fd, content, strlen(content), 0));
	CHECK(close(fd) == 0, "close %s", path);
	return 0;
}

/* PATH contains exactly CONTENT, both by st_size and by read(2). */
static int file_is(const char *path, const char *content)
{
	size_t len = strlen(content);
	char buf[4096];
	struct stat st;
	ssize_t n = 0;
	int fd = -1;

	CHECK((fd = open(path, O_RDONLY)) >= 0, "open %s", path);
	CHECK(fstat(fd, &st) == 0, "fstat %s", path);
	CHECK(st.st_size == (off_t)len, "%s: st_size %lld, expected %zu",
	      path, (long long)st.st_size, len);
	CHECK((n = read(fd, buf, sizeof(buf))) >= 0, "read %s", path);
	CHECK((size_t)n == len && memcmp(buf, content, len) == 0,
	      "%s contains \"%s\" (%zd bytes), expected \"%s\"",
	      path, show(buf, n > 0 ? (size_t)n : 0), n, content);
	CHECK(close(fd) == 0, "close %s", path);
	return 0;
}

static int set_times(const char *path, time_t sec, long nsec, int flags)
{
	struct timespec ts[2] = { { sec, nsec }, { sec, nsec } };

	CHECK(utimensat(AT_FDCWD, path, ts, flags) == 0,
	      "utimensat(%s, %lld.%09ld)", path, (long long)sec, nsec);
	return 0;
}

/* ts is "now" as the kernel sees it, with slack for coarse clocks. */
static int expect_recent(const char *what, const struct timespec *ts)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	CHECK(ts->tv_sec >= g_case_start.tv_sec - 2 && ts->tv_sec <= now.tv_sec + 2,
	      "%s is %lld.%09ld, expected about now (%lld)", what,
	      (long long)ts->tv_sec, ts->tv_nsec, (long long)now.tv_sec);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted, comma-joined names in PATH (no "." and "..") must be EXP. */
static int expect_names(const char *path, const char *exp)
{
	char *names[64], joined[1024] = "";
	struct dirent *de;
	size_t n = 0, j = 0;
	DIR *d = NULL;

	CHECK((d = opendir(path)) != NULL, "opendir %s", path);
	for (;;) {
		errno = 0;
		if (!(de = readdir(d)))
			break;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		CHECK(n < 64, "%s: too many entries", path);
		names[n++] = strdup(de->d_name);
	}
	if (errno)
		FAIL("readdir %s", path);
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_str);
	for (size_t i = 0; i < n; i++) {
		j += (size_t)snprintf(joined + j, sizeof(joined) - j, "%s%s",
				      i ? "," : "", names[i]);
		if (j >= sizeof(joined))
			j = sizeof(joined) - 1;
		free(names[i]);
	}
	CHECK(strcmp(joined, exp) == 0, "%s lists {%s}, expected {%s}", path, joined, exp);
	return 0;
}

static const char *describe_status(int st)
{
	static char buf[96];

	if (WIFEXITED(st))
		snprintf(buf, sizeof(buf), "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, sizeof(buf), "killed by signal %d (SIG%s)", WTERMSIG(st),
			 sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) : "?");
	else
		snprintf(buf, sizeof(buf), "wait status 0x%x", st);
	return buf;
}

/* Reap a worker: 0 it passed, 1 it skipped, -1 it failed. */
static int wait_worker(pid_t pid, const char *what)
{
	int st = 0;
	pid_t r = 0;

	CHECK((r = waitpid(pid, &st, 0)) == pid, "waitpid(%s)", what);
	if (WIFEXITED(st) && WEXITSTATUS(st) == SKIP_STATUS)
		return 1;
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s %s", what, describe_status(st));
	return 0;
}

static void worker_exit(int r)
{
	_exit(r == 0 ? 0 : r > 0 ? SKIP_STATUS : 1);
}

/* ---- file data --------------------------------------------------------- */

static int case_create_excl(const char *dir)
{
	struct stat st, st2;
	int fd = -1, fd2 = -1;

	CHECK((fd = open("f", O_RDWR | O_CREAT | O_EXCL, 0640)) >= 0, "open(f, O_CREAT|O_EXCL)");
	CHECK(fstat(fd, &st) == 0, "fstat");
	CHECK(S_ISREG(st.st_mode), "st_mode 0%o is not a regular file", st.st_mode);
	CHECK((st.st_mode & 07777) == 0640, "mode %04o, expected 0640", st.st_mode & 07777);
	CHECK(st.st_size == 0 && st.st_nlink == 1, "new file: size %lld nlink %lu",
	      (long long)st.st_size, (unsigned long)st.st_nlink);
	CHECK(st.st_uid == geteuid(), "owner %u, expected %u", st.st_uid, geteuid());
	CHECK(stat("f", &st2) == 0, "stat f");
	CHECK(st2.st_ino == st.st_ino, "stat and fstat disagree on st_ino");
	TRY(write_at(fd, "abc", 3, 0));

	EXPECT_ERR(open("f", O_RDWR | O_CREAT | O_EXCL, 0644), EEXIST);
	/* Without O_EXCL the existing file is opened: no truncation, mode kept. */
	CHECK((fd2 = open("f", O_RDWR | O_CREAT, 0600)) >= 0, "open(f, O_CREAT) of existing file");
	TRY(expect_size(fd2, 3));
	TRY(expect_buf(fd2, 0, "abc", 3));
	CHECK(fstat(fd2, &st2) == 0 && (st2.st_mode & 07777) == 0640,
	      "mode after reopen %04o, expected 0640", st2.st_mode & 07777);
	close(fd2);
	close(fd);

	EXPECT_ERR(open("missing", O_RDONLY), ENOENT);
	EXPECT_ERR(open("nodir/x", O_RDWR | O_CREAT, 0644), ENOENT);
	EXPECT_ERR(open("f/x", O_RDWR | O_CREAT, 0644), ENOTDIR);
	EXPECT_ERR(open("f", O_RDONLY | O_DIRECTORY), ENOTDIR);
	CHECK(mkdir("d", 0755) == 0, "mkdir d");
	EXPECT_ERR(open("d", O_RDWR | O_CREAT | O_EXCL, 0644), EEXIST);
	EXPECT_ERR(open("d", O_WRONLY), EISDIR);
	TRY(expect_names(".", "d,f"));
	return 0;
}

/* Names up to f_namelen work, longer ones fail with ENAMETOOLONG. */
static int case_name_max(const char *dir)
{
	struct statfs sfs;
	char name[4100];
	size_t max;
	int fd = -1;

	CHECK(statfs(".", &sfs) == 0, "statfs");
	max = (size_t)sfs.f_namelen;
	CHECK(max >= 14, "f_namelen %zu is below _POSIX_NAME_MAX", max);
	if (max + 1 >= sizeof(name))
		SKIP("f_namelen %zu is too large to probe", max);
	memset(name, 'n', max);
	name[max] = '\0';
	CHECK((fd = open(name, O_RDWR | O_CREAT | O_EXCL, 0644)) >= 0,
	      "create a %zu-byte name (f_namelen)", max);
	close(fd);
	CHECK(access(name, F_OK) == 0, "access of a %zu-byte name", max);
	TRY(expect_names(".", name));
	CHECK(unlink(name) == 0, "unlink a %zu-byte name", max);
	memset(name, 'm', max + 1);
	name[max + 1] = '\0';
	EXPECT_ERR(open(name, O_RDWR | O_CREAT | O_EXCL, 0644), ENAMETOOLONG);
	EXPECT_ERR(mkdir(name, 0755), ENAMETOOLONG);
	EXPECT_ERR2(access(name, F_OK), ENAMETOOLONG, ENOENT);
	TRY(expect_names(".", ""));
	return 0;
}

static int case_pread_pwrite(const char *dir)
{
	const off_t far = (off_t)16 * MiB + 123;	/* sparse, but modest for in-memory fs */
	const off_t big = 4095;				/* unaligned start of a multi-page write */
	const size_t bigsz = 300 * KiB;
	char buf[16];
	ssize_t n = 0;
	int fd = -1;

	CHECK((fd = open("f", O_RDWR | O_CREAT | O_EXCL, 0644)) >= 0, "create f");
	TRY(write_at(fd, "hello", 5, 0));
	TRY(write_at(fd, "world", 5, 100));
	TRY(expect_size(fd, 105));
	TRY(expect_buf(fd, 0, "hello", 5));
	TRY(expect_zero(fd, 5, 95));
	TRY(expect_buf(fd, 100, "world", 5));
	TRY(expect_eof(fd, 105));
	TRY(expect_eof(fd, 1000));
	CHECK((n = pread(fd, buf, 10, 100)) == 5, "pread across EOF returned %zd, expected 5", n);

	/* overwrite inside existing data */
	TRY(write_at(fd, "XY", 2, 2));
	TRY(expect_buf(fd, 0, "heXYo", 5));
	TRY(expect_size(fd, 105));

	/* multi-page write at an unaligned offset, past EOF */
	TRY(write_pat(fd, big, bigsz, 1));
	TRY(expect_size(fd, big + (off_t)bigsz));
	TRY(expect_zero(fd, 105, (size_t)(big - 105)));
	TRY(expect_pat(fd, big, bigsz, 1));

	/* far past EOF: everything in between reads as zeros */
	TRY(write_at(fd, "tail", 4, far));
	TRY(expect_size(fd, far + 4));
	TRY(expect_zero(fd, big + (off_t)bigsz, 64 * KiB));
	TRY(expect_zero(fd, 8 * MiB - 3, 64 * KiB));
	TRY(expect_zero(fd, far - 5000, 5000));
	TRY(expect_buf(fd, far, "tail", 4));

	/* the file offset is separate from pread/pwrite */
	CHECK(lseek(fd, 0, SEEK_CUR) == 0, "pwrite/pread moved the file offset");
	CHECK((n = read(fd, buf, 5)) == 5 && memcmp(buf, "heXYo", 5) == 0,
	      "read(2) at 0 = %zd \"%s\"", n, show(buf, n > 0 ? (size_t)n : 0));
	CHECK(lseek(fd, 0, SEEK_CUR) == 5, "offset after read(5) is not 5");
	CHECK(write(fd, "!", 1) == 1, "write(2) at offset 5");
	CHECK(lseek(fd, 0, SEEK_END) == far + 4, "SEEK_END is not the size");
	EXPECT_ERR(pwrite(fd, "x", 1, -1), EINVAL);
	EXPECT_ERR(pread(fd, buf, 1, -1), EINVAL);
	CHECK(close(fd) == 0, "close");

	/* and it all survives close and reopen */
	CHECK((fd = open("f", O_RDONLY)) >= 0, "reopen f");
	TRY(expect_size(fd, far + 4));
	TRY(expect_buf(fd, 0, "heXYo!", 6));
	TRY(expect_zero(fd, 6, 94));
	TRY(expect_pat(fd, big, bigsz, 1));
	TRY(expect_buf(fd, far, "tail", 4));
	EXPECT_ERR(write(fd, "x", 1), EBADF);
	close(fd);
	return 0;
}

#define APPEND_RECS 500
#define APPEND_RECLEN 64

static int append_worker(int id)
{
	char rec[APPEND_RECLEN + 32];
	int fd = -1;

	CHECK((fd = open("log", O_WRONLY | O_APPEND)) >= 0, "open log O_APPEND");
	for (int i = 0; i < APPEND_RECS; i++) {
		snprintf(rec, sizeof(rec), "P%d %05d %-54s\n", id, i, "record");
		CHECK(write(fd, rec, APPEND_RECLEN) == APPEND_RECLEN, "append record %d", i);
	}
	close(fd);
	return 0;
}

static int case_append(const char *dir)
{
	static char data[2 * APPEND_RECS * APPEND_RECLEN + 1];
	int next[2] = { 0, 0 }, res[2];
	int fa = -1, fb = -1;
	pid_t pid[2];
	ssize_t n = 0;

	CHECK((fa = open("f", O_WRONLY | O_APPEND | O_CREAT | O_EXCL, 0644)) >= 0, "create f O_APPEND");
	CHECK(write(fa, "abc", 3) == 3, "append abc");
	CHECK(lseek(fa, 0, SEEK_CUR) == 3, "offset after append is not 3");
	CHECK((fb = open("f", O_RDWR)) >= 0, "open f O_RDWR");
	TRY(write_at(fb, "Z", 1, 0));
	TRY(write_at(fb, "xyz", 3, 3));
	/* the append fd's offset is stale (3) and set to 0: writes still go to EOF */
	CHECK(lseek(fa, 0, SEEK_SET) == 0, "lseek append fd to 0");
	CHECK(write(fa, "def", 3) == 3, "append def");
	CHECK(lseek(fa, 0, SEEK_CUR) == 9, "offset after second append is not 9");
	TRY(file_is("f", "Zbcxyzdef"));
	/* shrink through the other fd: the next append follows the new EOF */
	CHECK(ftruncate(fb, 2) == 0, "ftruncate to 2");
	CHECK(write(fa, "!", 1) == 1, "append after truncate");
	TRY(file_is("f", "Zb!"));
	close(fa);
	close(fb);

	/* Two processes appending: records must neither overlap nor tear. */
	CHECK((fa = open("log", O_WRONLY | O_CREAT | O_EXCL, 0644)) >= 0, "create log");
	close(fa);
	for (int p = 0; p < 2; p++) {
		CHECK((pid[p] = fork()) >= 0, "fork");
		if (pid[p] == 0)
			worker_exit(append_worker(p));
	}
	res[0] = wait_worker(pid[0], "append worker");
	res[1] = wait_worker(pid[1], "append worker");
	TRY(res[0]);
	TRY(res[1]);
	CHECK((fa = open("log", O_RDONLY)) >= 0, "open log");
	TRY(expect_size(fa, (off_t)sizeof(data) - 1));
	CHECK((n = pread(fa, data, sizeof(data), 0)) == (ssize_t)sizeof(data) - 1,
	      "read log = %zd", n);
	close(fa);
	for (size_t off = 0; off < sizeof(data) - 1; off += APPEND_RECLEN) {
		char exp[APPEND_RECLEN + 32];
		int p = data[off + 1] - '0';

		CHECK(data[off] == 'P' && (p == 0 || p == 1),
		      "torn record at %zu: \"%s\"", off, show(data + off, 16));
		snprintf(exp, sizeof(exp), "P%d %05d %-54s\n", p, next[p], "record");
		CHECK(memcmp(data + off, exp, APPEND_RECLEN) == 0,
		      "record at %zu is \"%s\", expected \"%s\"", off,
		      show(data + off, 16), show(exp, 16));
		next[p]++;
	}
	CHECK(next[0] == APPEND_RECS && next[1] == APPEND_RECS,
	      "records per process %d/%d", next[0], next[1]);
	return 0;
}

static int case_o_trunc(const char *dir)
{
	struct stat st;
	int fd = -1, old = -1;

	CHECK((fd = open("f", O_RDWR | O_CREAT | O_EXCL, 0644)) >= 0, "create f");
	TRY(write_pat(fd, 0, 10000, 2));
	close(fd);
	CHECK((old = open("f", O_RDONLY)) >= 0, "open f");
	TRY(set_times("f", 1000000000, 0, 0));
	CHECK((fd = open("f", O_WRONLY | O_TRUNC)) >= 0, "open f O_TRUNC");
	TRY(expect_size(fd, 0));
	CHECK(stat("f", &st) == 0 && st.st_size == 0, "stat size %lld after O_TRUNC",
	      (long long)st.st_size);
	/* POSIX: O_TRUNC of an existing file marks mtime and ctime for update */
	TRY(expect_recent("mtime after O_TRUNC", &st.st_mtim));
	TRY(expect_eof(old, 0));
	CHECK(write(fd, "new", 3) == 3, "write after O_TRUNC");
	TRY(file_is("f", "new"));
	TRY(expect_buf(old, 0, "new", 3));
	close(fd);
	/* O_TRUNC of an empty file, and O_CREAT|O_TRUNC of an existing one */
	CHECK((fd = open("f", O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0, "open O_CREAT|O_TRUNC");
	TRY(expect_size(fd, 0));
	close(fd);
	CHECK((fd = open("f", O_WRONLY | O_TRUNC)) >= 0, "open O_TRUNC of empty file");
	TRY(expect_size(fd, 0));
	close(fd);
	TRY(expect_size(old, 0));
	close(old);
	return 0;
}

static int case_ftruncate(const char *dir)
{
	int fd = -1, ro = -1;
	struct stat st;

	CHECK((fd = open("f", O_RDWR | O_CREAT | O_EXCL, 0644)) >= 0, "create f");
	TRY(write_pat(fd, 0, 8192, 3));
	/* down to mid-page: the cached tail of that page must be cut too */
	CHECK(ftruncate(fd, 100) == 0, "ftruncate to 100");
	TRY(expect_size(fd, 100));
	TRY(expect_pat(fd, 0, 100, 3));
	TRY(expect_eof(fd, 100));
	/* and regrown: what was beyond 100 must now read as zeros */
	CHECK(ftruncate(fd, 8192) == 0, "ftruncate to 8192");
	TRY(expect_size(fd, 8192));
	TRY(expect_pat(fd, 0, 100, 3));
	TRY(expect_zero(fd, 100, 8092));
	/* grow far: sparse */
	CHECK(ftruncate(fd, 4 * MiB) == 0, "ftruncate to 4 MiB");
	TRY(expect_size(fd, 4 * MiB));
	TRY(expect_zero(fd, 4 * MiB - 64 * KiB, 64 * KiB));
	TRY(write_at(fd, "end", 3, 4 * MiB));
	TRY(expect_size(fd, 4 * MiB + 3));
	/* truncate(2) by path */
	CHECK(truncate("f", 50) == 0, "truncate(f, 50)");
	CHECK(stat("f", &st) == 0 && st.st_size == 50, "size after truncate(50) is %lld",
	      (long long)st.st_size);
	TRY(expect_size(fd, 50));
	TRY(expect_pat(fd, 0, 50, 3));
	CHECK(ftruncate(fd, 0) == 0, "ftruncate to 0");
	TRY(expect_eof(fd, 0));
	EXPECT_ERR(ftruncate(fd, -1), EINVAL);
	CHECK((ro = open("f", O_RDONLY)) >= 0, "open f O_RDONLY");
	EXPECT_ERR2(ftruncate(ro, 10), EINVAL, EBADF);
	TRY(expect_size(fd, 0));
	close(ro);
	close(fd);
	return 0;
}

static int case_mmap(const char *dir)
{
	const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	const size_t len = 3 * pg + 100;	/* partial last page */
	uint8_t *exp = NULL, *back = NULL, *m = NULL, *w = NULL, *p = NULL;
	int fd = -1, fd2 = -1;
	size_t i;

	CHECK((exp = malloc(4 * pg)) != NULL && (back = malloc(4 * pg)) != NULL, "malloc");
	fill(exp, len, 0, 4);
	CHECK((fd = open("f", O_RDWR | O_CREAT | O_EXCL, 0644)) >= 0, "create f");
	TRY(write_at(fd, exp, len, 0));

	/* read through a mapping */
	CHECK((m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0)) != MAP_FAILED,
	      "mmap PROT_READ MAP_SHARED");
	CHECK(memcmp(m, exp, len) == 0, "read-only mapping differs from the written data");
	for (i = len; i < 4 * pg && m[i] == 0; i++)
		;
	CHECK(i == 4 * pg, "byte %zu beyond EOF in the last page is 0x%02x, not 0", i, m[i]);

	/* write through a shared mapping, msync, read back with read(2) */
	CHECK((w = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) != MAP_FAILED,
	      "mmap PROT_READ|PROT_WRITE MAP_SHARED");
	fill(exp + pg / 2, pg, 1000, 5);	/* straddles pages 0 and 1 */
	memcpy(w + pg / 2, exp + pg / 2, pg);
	exp[len - 1] = w[len - 1] = 0x5a;	/* last byte of the file */
	CHECK(msync(w, len, MS_SYNC) == 0, "msync");
	CHECK((fd2 = open("f", O_RDONLY)) >= 0, "open f again");
	CHECK(read(fd2, back, len) == (ssize_t)len, "read(2) of the whole file");
	CHECK(memcmp(back, exp, len) == 0, "read(2) misses the msync'ed mapping writes");
	TRY(expect_buf(fd2, (off_t)(pg / 2), exp + pg / 2, pg));
	TRY(expect_buf(fd2, (off_t)(len - 1), exp + len - 1, 1));
	TRY(expect_size(fd2, (off_t)len));	/* a mapping never extends the file */
	CHECK(memcmp(m, exp, len) == 0, "read-only mapping misses the shared-mapping write");

	/* write(2), then the existing mappings see it */
	CHECK(lseek(fd, (off_t)(2 * pg + 7), SEEK_SET) == (off_t)(2 * pg + 7), "lseek");
	CHECK(write(fd, "XYZ", 3) == 3, "write(2) XYZ");
	memcpy(exp + 2 * pg + 7, "XYZ", 3);
	CHECK(memcmp(m + 2 * pg + 7, "XYZ", 3) == 0, "mapping reads \"%s\" after pwrite of XYZ",
	      show(m + 2 * pg + 7, 3));
	CHECK(memcmp(w, exp, len) == 0, "writable mapping misses the pwrite");

	/* MAP_PRIVATE writes stay private */
	CHECK((p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)) != MAP_FAILED,
	      "mmap MAP_PRIVATE");
	CHECK(memcmp(p, exp, len) == 0, "private mapping differs from the file");
	p[0] ^= 0xff;
	p[pg] ^= 0xff;
	CHECK(m[0] == exp[0] && m[pg] == exp[pg], "MAP_PRIVATE write is visible in a shared mapping");
	TRY(expect_buf(fd2, 0, exp, 1));
	TRY(expect_buf(fd2, (off_t)pg, exp + pg, 1));

	/* grow the file, map the new part: zeros, and writable */
	CHECK(ftruncate(fd, (off_t)(4 * pg)) == 0, "ftruncate to 4 pages");
	memset(exp + len, 0, 4 * pg - len);
	CHECK(munmap(w, len) == 0, "munmap");
	CHECK((w = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) != MAP_FAILED,
	      "mmap 4 pages after growing");
	CHECK(memcmp(w, exp, 4 * pg) == 0, "mapping of the grown file differs");
	w[4 * pg - 1] = exp[4 * pg - 1] = 0x77;
	CHECK(munmap(w, 4 * pg) == 0 && munmap(m, len) == 0 && munmap(p, len) == 0, "munmap");
	CHECK(fsync(fd) == 0, "fsync");
	CHECK(close(fd) == 0 && close(fd2) == 0, "close");

	/* everything persisted */
	CHECK((fd = open("f", O_RDONLY)) >= 0, "reopen f");
	TRY(expect_size(fd, (off_t)(4 * pg)));
	for (i = 0; i < 4 * pg; i += pg)
		TRY(expect_buf(fd, (off_t)i, exp + i, pg));
	close(fd);
	free(exp);
	free(back);
	return 0;
}

static int count_name(const char *path, const char *name, int *count)
{
	struct dirent *de;
	DIR *d = NULL;

	*count = 0;
	CHECK((d = opendir(path)) != NULL, "opendir %s", path);
	while ((de = readdir(d)))
		if (!strcmp(de->d_name, name))
			(*count)++;
	closedir(d);
	return 0;
}

static int case_unlink_open(const char *dir)
{
	struct stat st, st2;
	int fd = -1, n = 0;

	CHECK((fd = open("f", O_RDWR | O_CREAT | O_EXCL, 0644)) >= 0, "create f");
	TRY(write_at(fd, "still here", 10, 0));
	CHECK(unlink("f") == 0, "unlink f");
	EXPECT_ERR(stat("f", &st), ENOENT);
	EXPECT_ERR(open("f", O_RDONLY), ENOENT);
	TRY(count_name(".", "f", &n));
	CHECK(n == 0, "readdir still lists the unlinked f");
	CHECK(fstat(fd, &st) == 0, "fstat of the unlinked file");
	CHECK(st.st_nlink == 0, "st_nlink %lu after unlink, expected 0", (unsigned long)st.st_nlink);
	CHECK(st.st_size == 10, "st_size %lld after unlink", (long long)st.st_size);
	TRY(expect_buf(fd, 0, "still here", 10));
	/* still fully usable */
	TRY(write_at(fd, " and more", 9, 10));
	TRY(expect_size(fd, 19));
	TRY(expect_buf(fd, 0, "still here and more", 19));
	/* a new file of the same name is a different file */
	TRY(put_file("f", "new", 0644));
	CHECK(stat("f", &st2) == 0, "stat new f");
	CHECK(st2.st_ino != st.st_ino, "new f has the unlinked file's st_ino %llu",
	      (unsigned long long)st.st_ino);
	TRY(file_is("f", "new"));
	TRY(expect_buf(fd, 0, "still here and more", 19));
	CHECK(ftruncate(fd, 5) == 0, "ftruncate the unlinked file");
	TRY(expect_size(fd, 5));
	TRY(file_is("f", "new"));
	CHECK(close(fd) == 0, "close the unlinked file");
	EXPECT_ERR(unlink("missing"), ENOENT);
	TRY(expect_names(".", "f"));
	return 0;
}

/* ---- namespace ------------------------------------------------------------ */

static int renameat2_(const char *from, const char *to, unsigned flags)
{
	return (int)syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, flags);
}

static int ino_of(const char *path, ino_t *ino)
{
	struct stat st;

	CHECK(lstat(path, &st) == 0, "lstat %s", path);
	*ino = st.st_ino;
	return 0;
}

static int case_rename(const char *dir)
{
	ino_t ia = 0, ib = 0;
	struct stat st;
	int fd = -1;

	TRY(put_file("a", "AAA", 0644));
	TRY(ino_of("a", &ia));
	CHECK(rename("a", "b") == 0, "rename a b");
	EXPECT_ERR(stat("a", &st), ENOENT);
	TRY(file_is("b", "AAA"));
	TRY(ino_of("b", &ib));
	CHECK(ia == ib, "rename changed st_ino %llu -> %llu",
	      (unsigned long long)ia, (unsigned long long)ib);
	CHECK(rename("b", "b") == 0, "rename b b");
	TRY(file_is("b", "AAA"));

	/* over an existing file that is still open */
	TRY(put_file("c", "CCCC", 0644));
	CHECK((fd = open("b", O_RDONLY)) >= 0, "open b");
	CHECK(rename("c", "b") == 0, "rename c over b");
	EXPECT_ERR(stat("c", &st), ENOENT);
	TRY(file_is("b", "CCCC"));
	CHECK(fstat(fd, &st) == 0 && st.st_nlink == 0,
	      "replaced file has st_nlink %lu, expected 0", (unsigned long)st.st_nlink);
	TRY(expect_buf(fd, 0, "AAA", 3));
	close(fd);
	TRY(expect_names(".", "b"));

	/* between directories */
	CHECK(mkdir("d1", 0755) == 0 && mkdir("d2", 0755) == 0, "mkdir d1 d2");
	CHECK(rename("b", "d1/x") == 0, "rename b d1/x");
	CHECK(rename("d1/x", "d2/y") == 0, "rename d1/x d2/y");
	TRY(file_is("d2/y", "CCCC"));
	TRY(expect_names("d1", ""));
	TRY(expect_names("d2", "y"));

	/* two names of one inode: rename does nothing */
	CHECK(link("d2/y", "d2/z") == 0, "link d2/y d2/z");
	CHECK(rename("d2/y", "d2/z") == 0, "rename between hard links");
	TRY(expect_names("d2", "y,z"));

	EXPECT_ERR(rename("d2/y", "d1"), EISDIR);
	EXPECT_ERR(rename("d1", "d2/y"), ENOTDIR);
	EXPECT_ERR(rename("missing", "z"), ENOENT);
	EXPECT_ERR(rename("d2/y", "nodir/y"), ENOENT);
	TRY(file_is("d2/y", "CCCC"));
	return 0;
}

static int case_rename_noreplace(const char *dir)
{
	struct stat st;

	TRY(put_file("a", "AAA", 0644));
	TRY(put_file("b", "BB", 0644));
	/*
	 * Probe with a free target: a taken one is refused by the VFS before
	 * the filesystem sees the flag, so that would not reveal support.
	 */
	errno = 0;
	if (renameat2_("a", "c", RENAME_NOREPLACE) != 0) {
		if (errno == EINVAL)
			SKIP("renameat2 flags not supported (EINVAL)");
		FAIL("renameat2(a, c, RENAME_NOREPLACE) to a free name");
	}
	EXPECT_ERR(stat("a", &st), ENOENT);
	TRY(file_is("c", "AAA"));
	EXPECT_ERR(renameat2_("c", "b", RENAME_NOREPLACE), EEXIST);
	TRY(file_is("c", "AAA"));
	TRY(file_is("b", "BB"));
	CHECK(mkdir("d", 0755) == 0, "mkdir d");
	EXPECT_ERR(renameat2_("c", "d", RENAME_NOREPLACE), EEXIST);
	EXPECT_ERR(renameat2_("d", "b", RENAME_NOREPLACE), EEXIST);
	EXPECT_ERR(renameat2_("missing", "e", RENAME_NOREPLACE), ENOENT);
	CHECK(renameat2_("d", "e", RENAME_NOREPLACE) == 0, "renameat2(d, e, RENAME_NOREPLACE)");
	TRY(expect_names(".", "b,c,e"));
	return 0;
}

static int case_rename_exchange(const char *dir)
{
	ino_t ia = 0, ib = 0, ia2 = 0, ib2 = 0;

	TRY(put_file("a", "AAA", 0644));
	TRY(put_file("b", "BBBBB", 0644));
	TRY(ino_of("a", &ia));
	TRY(ino_of("b", &ib));
	errno = 0;
	if (renameat2_("a", "b", RENAME_EXCHANGE) != 0) {
		if (errno == EINVAL)
			SKIP("renameat2 flags not supported (EINVAL)");
		FAIL("renameat2(a, b, RENAME_EXCHANGE)");
	}
	TRY(file_is("a", "BBBBB"));
	TRY(file_is("b", "AAA"));
	TRY(ino_of("a", &ia2));
	TRY(ino_of("b", &ib2));
	CHECK(ia2 == ib && ib2 == ia, "st_ino not swapped");

	/* a file and a directory swap too */
	CHECK(mkdir("d", 0755) == 0, "mkdir d");
	TRY(put_file("d/inner", "in", 0644));
	CHECK(renameat2_("a", "d", RENAME_EXCHANGE) == 0, "renameat2(a, d, RENAME_EXCHANGE)");
	TRY(file_is("d", "BBBBB"));
	TRY(file_is("a/inner", "in"));

	/* across directories */
	CHECK(renameat2_("b", "a/inner", RENAME_EXCHANGE) == 0, "renameat2(b, a/inner, EXCHANGE)");
	TRY(file_is("b", "in"));
	TRY(file_is("a/inner", "AAA"));

	EXPECT_ERR(renameat2_("b", "missing", RENAME_EXCHANGE), ENOENT);
	EXPECT_ERR(renameat2_("b", "d", RENAME_EXCHANGE | RENAME_NOREPLACE), EINVAL);
	TRY(expect_names(".", "a,b,d"));
	return 0;
}

static int case_rename_dir(const char *dir)
{
	struct stat st, st2;

	CHECK(mkdir("d1", 0755) == 0, "mkdir d1");
	TRY(put_file("d1/f", "F", 0644));
	CHECK(rename("d1", "d2") == 0, "rename d1 d2");
	EXPECT_ERR(stat("d1", &st), ENOENT);
	TRY(file_is("d2/f", "F"));

	/* over an empty directory: allowed */
	CHECK(mkdir("empty", 0755) == 0, "mkdir empty");
	CHECK(rename("d2", "empty") == 0, "rename d2 over empty dir");
	EXPECT_ERR(stat("d2", &st), ENOENT);
	TRY(file_is("empty/f", "F"));

	/* over a non-empty directory: refused, nothing changes */
	CHECK(mkdir("full", 0755) == 0, "mkdir full");
	TRY(put_file("full/g", "G", 0644));
	CHECK(mkdir("src", 0755) == 0, "mkdir src");
	EXPECT_ERR2(rename("src", "full"), ENOTEMPTY, EEXIST);
	CHECK(stat("src", &st) == 0 && S_ISDIR(st.st_mode), "src is gone after failed rename");
	TRY(file_is("full/g", "G"));

	/* into its own subtree */
	CHECK(mkdir("empty/sub", 0755) == 0, "mkdir empty/sub");
	EXPECT_ERR(rename("empty", "empty/sub/x"), EINVAL);

	/* to another parent: ".." follows */
	CHECK(mkdir("p", 0755) == 0, "mkdir p");
	CHECK(rename("empty", "p/moved") == 0, "rename empty p/moved");
	TRY(file_is("p/moved/f", "F"));
	CHECK(stat("p/moved/sub/..", &st) == 0 && stat("p/moved", &st2) == 0,
	      "stat p/moved/sub/..");
	CHECK(st.st_ino == st2.st_ino, "p/moved/sub/.. is not p/moved");
	CHECK(stat("p/moved/..", &st) == 0 && stat("p", &st2) == 0, "stat p/moved/..");
	CHECK(st.st_ino == st2.st_ino, "p/moved/.. is not p after the move");
	TRY(expect_names(".", "full,p,src"));
	return 0;
}

static int case_link(const char *dir)
{
	struct stat sa, sb;
	int fd = -1;

	TRY(put_file("a", "shared", 0644));
	CHECK((fd = open("a", O_RDWR)) >= 0, "open a");
	CHECK(link("a", "b") == 0, "link a b");
	CHECK(stat("a", &sa) == 0 && stat("b", &sb) == 0, "stat a b");
	CHECK(sa.st_ino == sb.st_ino, "hard links have different st_ino");
	CHECK(sa.st_nlink == 2 && sb.st_nlink == 2, "st_nlink %lu/%lu, expected 2",
	      (unsigned long)sa.st_nlink, (unsigned long)sb.st_nlink);
	CHECK(fstat(fd, &sa) == 0 && sa.st_nlink == 2, "fstat st_nlink %lu, expected 2",
	      (unsigned long)sa.st_nlink);

	/* one file, two names: writes through either are seen through both */
	TRY(write_at(fd, "SH", 2, 0));
	TRY(file_is("b", "SHared"));
	CHECK(mkdir("sub", 0755) == 0, "mkdir sub");
	CHECK(link("b", "sub/c") == 0, "link b sub/c");
	CHECK(stat("a", &sa) == 0 && sa.st_nlink == 3, "st_nlink %lu, expected 3",
	      (unsigned long)sa.st_nlink);

	EXPECT_ERR(link("a", "b"), EEXIST);
	EXPECT_ERR(link("missing", "x"), ENOENT);
	EXPECT_ERR(link("sub", "sub2"), EPERM);

	CHECK(unlink("a") == 0, "unlink a");
	CHECK(stat("b", &sb) == 0 && sb.st_nlink == 2, "st_nlink %lu after unlink, expected 2",
	      (unsigned long)sb.st_nlink);
	TRY(file_is("sub/c", "SHared"));
	CHECK(unlink("sub/c") == 0, "unlink sub/c");
	CHECK(stat("b", &sb) == 0 && sb.st_nlink == 1, "st_nlink %lu, expected 1",
	      (unsigned long)sb.st_nlink);
	TRY(file_is("b", "SHared"));
	TRY(write_at(fd, "!", 1, 6));
	TRY(file_is("b", "SHared!"));
	close(fd);
	TRY(expect_names(".", "b,sub"));
	return 0;
}

static int case_symlink(const char *dir)
{
	char buf[2048], target[1001];
	struct stat st, st2;
	ssize_t n = 0;
	int fd = -1;

	TRY(put_file("target", "hello", 0644));
	CHECK(symlink("target", "l") == 0, "symlink target l");
	CHECK((n = readlink("l", buf, sizeof(buf))) == 6 && memcmp(buf, "target", 6) == 0,
	      "readlink l = %zd \"%s\"", n, show(buf, n > 0 ? (size_t)n : 0));
	/* too small a buffer truncates silently */
	CHECK((n = readlink("l", buf, 3)) == 3 && memcmp(buf, "tar", 3) == 0,
	      "readlink l with 3-byte buffer = %zd", n);
	CHECK(lstat("l", &st) == 0, "lstat l");
	CHECK(S_ISLNK(st.st_mode), "lstat l: mode 0%o is not a symlink", st.st_mode);
	CHECK(st.st_size == 6, "lstat l: st_size %lld, expected strlen(target) 6",
	      (long long)st.st_size);
	CHECK(stat("l", &st) == 0 && stat("target", &st2) == 0, "stat l, target");
	CHECK(S_ISREG(st.st_mode) && st.st_size == 5 && st.st_ino == st2.st_ino,
	      "stat l does not describe target");
	TRY(file_is("l", "hello"));
	CHECK(symlink("l", "l2") == 0, "symlink l l2");
	TRY(file_is("l2", "hello"));
	EXPECT_ERR(symlink("x", "l"), EEXIST);
	EXPECT_ERR(readlink("target", buf, sizeof(buf)), EINVAL);
	EXPECT_ERR(open("l", O_RDONLY | O_NOFOLLOW), ELOOP);

	/* dangling */
	CHECK(symlink("nonexistent", "dl") == 0, "symlink nonexistent dl");
	CHECK(lstat("dl", &st) == 0 && S_ISLNK(st.st_mode), "lstat dangling link");
	EXPECT_ERR(stat("dl", &st), ENOENT);
	EXPECT_ERR(open("dl", O_RDONLY), ENOENT);
	EXPECT_ERR(open("dl", O_WRONLY | O_CREAT | O_EXCL, 0644), EEXIST);
	/* O_CREAT without O_EXCL follows it and creates the target */
	CHECK((fd = open("dl", O_WRONLY | O_CREAT, 0644)) >= 0, "open(dl, O_CREAT)");
	close(fd);
	CHECK(stat("nonexistent", &st) == 0 && S_ISREG(st.st_mode),
	      "O_CREAT through a dangling link did not create its target");

	/* long target */
	memset(target, 'a', 1000);
	for (int i = 1; i < 1000; i += 2)
		target[i] = '/';
	target[1000] = '\0';
	CHECK(symlink(target, "long") == 0, "symlink with a 1000-byte target");
	CHECK((n = readlink("long", buf, sizeof(buf))) == 1000 && memcmp(buf, target, 1000) == 0,
	      "readlink of the 1000-byte target = %zd", n);

	/* to a directory; the link is removed, not the directory */
	CHECK(mkdir("d", 0755) == 0, "mkdir d");
	CHECK(symlink("d", "ld") == 0, "symlink d ld");
	CHECK(stat("ld", &st) == 0 && S_ISDIR(st.st_mode), "stat ld is not a directory");
	TRY(put_file("ld/f", "via link", 0644));
	TRY(file_is("d/f", "via link"));
	EXPECT_ERR(rmdir("ld"), ENOTDIR);
	CHECK(unlink("ld") == 0, "unlink ld");
	CHECK(stat("d", &st) == 0 && S_ISDIR(st.st_mode), "unlink of a link removed its target");

	/* loops */
	CHECK(symlink("loop1", "loop2") == 0 && symlink("loop2", "loop1") == 0, "symlink loop");
	EXPECT_ERR(open("loop1", O_RDONLY), ELOOP);
	TRY(expect_names(".", "d,dl,l,l2,long,loop1,loop2,nonexistent,target"));
	return 0;
}

static int case_mkdir_rmdir(const char *dir)
{
	char path[256] = "n";
	struct stat st;

	CHECK(mkdir("d", 0750) == 0, "mkdir d");
	CHECK(stat("d", &st) == 0 && S_ISDIR(st.st_mode), "stat d is not a directory");
	CHECK((st.st_mode & 07777) == 0750, "mode %04o, expected 0750", st.st_mode & 07777);
	EXPECT_ERR(mkdir("d", 0755), EEXIST);
	TRY(expect_names("d", ""));
	TRY(put_file("d/f", "x", 0644));
	EXPECT_ERR2(rmdir("d"), ENOTEMPTY, EEXIST);
	EXPECT_ERR(rmdir("d/f"), ENOTDIR);
	EXPECT_ERR2(unlink("d"), EISDIR, EPERM);
	EXPECT_ERR(rmdir("d/."), EINVAL);
	EXPECT_ERR(rmdir("missing"), ENOENT);
	EXPECT_ERR(mkdir("nodir/x", 0755), ENOENT);
	EXPECT_ERR(mkdir("d/f/x", 0755), ENOTDIR);
	TRY(put_file("file", "x", 0644));
	EXPECT_ERR(mkdir("file", 0755), EEXIST);
	CHECK(unlink("d/f") == 0, "unlink d/f");
	CHECK(rmdir("d") == 0, "rmdir d");
	EXPECT_ERR(stat("d", &st), ENOENT);

	/* a nested chain, removed bottom-up */
	for (int i = 0; i < 10; i++) {
		CHECK(mkdir(path, 0755) == 0, "mkdir %s", path);
		strcat(path, "/n");
	}
	TRY(put_file(path, "deep", 0644));
	TRY(file_is("n/n/n/n/n/n/n/n/n/n/n", "deep"));
	CHECK(unlink(path) == 0, "unlink %s", path);
	for (int i = 0; i < 10; i++) {
		path[strlen(path) - 2] = '\0';
		CHECK(rmdir(path) == 0, "rmdir %s", path);
	}
	TRY(expect_names(".", "file"));
	return 0;
}

static int case_mknod(const char *dir)
{
	int rd = -1, wr = -1;
	struct stat st;
	char buf[8];
	ssize_t n = 0;

	CHECK(mknod("fifo", S_IFIFO | 0640, 0) == 0, "mknod S_IFIFO");
	CHECK(stat("fifo", &st) == 0 && S_ISFIFO(st.st_mode), "fifo: mode 0%o", st.st_mode);
	CHECK((st.st_mode & 07777) == 0640, "fifo mode %04o, expected 0640", st.st_mode & 07777);
	EXPECT_ERR(mkfifo("fifo", 0644), EEXIST);
	/* no reader yet: a non-blocking writer is refused */
	EXPECT_ERR(open("fifo", O_WRONLY | O_NONBLOCK), ENXIO);
	CHECK((rd = open("fifo", O_RDONLY | O_NONBLOCK)) >= 0, "open fifo for reading");
	CHECK((wr = open("fifo", O_WRONLY | O_NONBLOCK)) >= 0, "open fifo for writing");
	CHECK(write(wr, "ping", 4) == 4, "write to fifo");
	CHECK((n = read(rd, buf, sizeof(buf))) == 4 && memcmp(buf, "ping", 4) == 0,
	      "read from fifo = %zd", n);
	EXPECT_ERR(read(rd, buf, sizeof(buf)), EAGAIN);
	close(rd);
	close(wr);
	/* a fifo has no data of its own */
	CHECK(stat("fifo", &st) == 0 && st.st_size == 0, "fifo st_size %lld", (long long)st.st_size);

	CHECK(mknod("reg", S_IFREG | 0600, 0) == 0, "mknod S_IFREG");
	CHECK(stat("reg", &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0,
	      "mknod S_IFREG made mode 0%o size %lld", st.st_mode, (long long)st.st_size);
	CHECK((st.st_mode & 07777) == 0600, "reg mode %04o, expected 0600", st.st_mode & 07777);
	CHECK(unlink("fifo") == 0, "unlink fifo");
	TRY(expect_names(".", "reg"));
	return 0;
}

/* ---- metadata --------------------------------------------------------------- */

static int list_has(const char *list, ssize_t len, const char *name)
{
	int count = 0;

	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(list + i) + 1)
		if (!strcmp(list + i, name))
			count++;
	return count;
}

static int case_xattr(const char *dir)
{
	char buf[8192], val[4000], names[4096];
	ssize_t n = 0;
	int fd = -1;

	TRY(put_file("f", "data", 0644));
	errno = 0;
	if (setxattr("f", "user.test", "value", 5, 0) != 0) {
		if (errno == ENOTSUP || errno == EOPNOTSUPP)
			SKIP("user xattrs not supported (%s)", errname(errno));
		FAIL("setxattr(f, user.test)");
	}
	CHECK((n = getxattr("f", "user.test", NULL, 0)) == 5, "size query = %zd, expected 5", n);
	CHECK((n = getxattr("f", "user.test", buf, sizeof(buf))) == 5 && !memcmp(buf, "value", 5),
	      "getxattr = %zd \"%s\"", n, show(buf, n > 0 ? (size_t)n : 0));
	CHECK((n = getxattr("f", "user.test", buf, 5)) == 5, "getxattr with exact size = %zd", n);
	EXPECT_ERR(getxattr("f", "user.test", buf, 2), ERANGE);
	EXPECT_ERR(getxattr("f", "user.missing", buf, sizeof(buf)), ENOATTR);

	EXPECT_ERR(setxattr("f", "user.test", "x", 1, XATTR_CREATE), EEXIST);
	EXPECT_ERR(setxattr("f", "user.new", "x", 1, XATTR_REPLACE), ENOATTR);
	CHECK(setxattr("f", "user.test", "replaced!", 9, XATTR_REPLACE) == 0, "XATTR_REPLACE");
	CHECK((n = getxattr("f", "user.test", buf, sizeof(buf))) == 9 && !memcmp(buf, "replaced!", 9),
	      "after replace getxattr = %zd \"%s\"", n, show(buf, n > 0 ? (size_t)n : 0));
	CHECK(setxattr("f", "user.new", "x", 1, XATTR_CREATE) == 0, "XATTR_CREATE of a new name");

	/* empty and binary values */
	CHECK(setxattr("f", "user.empty", "", 0, 0) == 0, "setxattr empty value");
	CHECK((n = getxattr("f", "user.empty", buf, sizeof(buf))) == 0, "empty value size %zd", n);
	for (size_t i = 0; i < sizeof(val); i++)
		val[i] = (char)pat(7, i) ^ (char)(i % 3 == 0 ? 0xff : 0);
	val[17] = '\0';
	CHECK(setxattr("f", "user.big", val, sizeof(val), 0) == 0, "setxattr of %zu bytes", sizeof(val));
	CHECK((n = getxattr("f", "user.big", buf, sizeof(buf))) == (ssize_t)sizeof(val) &&
	      !memcmp(buf, val, sizeof(val)), "4000-byte value reads back as %zd bytes", n);

	/* list: size query, small buffer, each name exactly once */
	CHECK((n = listxattr("f", NULL, 0)) > 0, "listxattr size query = %zd", n);
	CHECK((size_t)n >= sizeof("user.test") + sizeof("user.new") + sizeof("user.empty") +
	      sizeof("user.big"), "listxattr size %zd is too small for four names", n);
	EXPECT_ERR(listxattr("f", names, 1), ERANGE);
	CHECK((n = listxattr("f", names, sizeof(names))) > 0, "listxattr");
	CHECK(names[n - 1] == '\0', "listxattr list is not NUL-terminated");
	CHECK(list_has(names, n, "user.test") == 1 && list_has(names, n, "user.new") == 1 &&
	      list_has(names, n, "user.empty") == 1 && list_has(names, n, "user.big") == 1,
	      "listxattr misses or repeats a name: \"%s\"", show(names, (size_t)n));

	/* remove */
	CHECK(removexattr("f", "user.test") == 0, "removexattr user.test");
	EXPECT_ERR(getxattr("f", "user.test", buf, sizeof(buf)), ENOATTR);
	EXPECT_ERR(removexattr("f", "user.test"), ENOATTR);
	CHECK((n = listxattr("f", names, sizeof(names))) >= 0 && list_has(names, n, "user.test") == 0,
	      "removed name still listed");

	/* through an fd, and on a directory */
	CHECK((fd = open("f", O_RDONLY)) >= 0, "open f");
	CHECK(fsetxattr(fd, "user.fd", "viafd", 5, 0) == 0, "fsetxattr");
	CHECK((n = fgetxattr(fd, "user.fd", buf, sizeof(buf))) == 5 && !memcmp(buf, "viafd", 5),
	      "fgetxattr = %zd", n);
	CHECK((n = getxattr("f", "user.fd", buf, sizeof(buf))) == 5, "getxattr of fsetxattr value");
	CHECK(fremovexattr(fd, "user.fd") == 0, "fremovexattr");
	close(fd);
	CHECK(mkdir("d", 0755) == 0, "mkdir d");
	CHECK(setxattr("d", "user.dir", "D", 1, 0) == 0, "setxattr on a directory");
	CHECK((n = getxattr("d", "user.dir", buf, sizeof(buf))) == 1 && buf[0] == 'D',
	      "getxattr on a directory = %zd", n);
	/* xattrs belong to the inode: visible through a hard link, gone with it */
	CHECK(link("f", "g") == 0, "link f g");
	CHECK((n = getxattr("g", "user.new", buf, sizeof(buf))) == 1 && buf[0] == 'x',
	      "xattr not visible through a hard link (%zd)", n);
	TRY(file_is("f", "data"));
	return 0;
}

static int case_chmod_chown(const char *dir)
{
	struct stat st;
	int fd = -1;

	TRY(put_file("f", "x", 0644));
	CHECK(chmod("f", 0600) == 0, "chmod 0600");
	CHECK(stat("f", &st) == 0 && (st.st_mode & 07777) == 0600,
	      "mode %04o after chmod 0600", st.st_mode & 07777);
	CHECK((fd = open("f", O_RDONLY)) >= 0, "open f");
	CHECK(fchmod(fd, 0604) == 0, "fchmod 0604");
	CHECK(stat("f", &st) == 0 && (st.st_mode & 07777) == 0604,
	      "mode %04o after fchmod 0604", st.st_mode & 07777);
	CHECK(S_ISREG(st.st_mode), "chmod changed the file type");
	CHECK(chmod("f", 06755) == 0, "chmod 06755");
	CHECK(stat("f", &st) == 0 && (st.st_mode & 07777) == 06755,
	      "mode %04o after chmod 06755", st.st_mode & 07777);
	CHECK(symlink("f", "l") == 0, "symlink f l");
	CHECK(chmod("l", 0700) == 0, "chmod through a symlink");
	CHECK(stat("f", &st) == 0 && (st.st_mode & 07777) == 0700,
	      "chmod through a symlink left mode %04o", st.st_mode & 07777);
	CHECK(mkdir("d", 0755) == 0 && chmod("d", 01770) == 0, "chmod a directory");
	CHECK(stat("d", &st) == 0 && (st.st_mode & 07777) == 01770 && S_ISDIR(st.st_mode),
	      "directory mode 0%o after chmod 01770", st.st_mode);
	EXPECT_ERR(chmod("missing", 0644), ENOENT);

	if (geteuid() != 0) {
		/* unprivileged: only "chown" to what it already is */
		CHECK(chown("f", geteuid(), getegid()) == 0, "chown to own ids");
		info("not root: chown to other ids not tested");
		close(fd);
		return 0;
	}
	CHECK(chown("f", 1234, 5678) == 0, "chown f 1234:5678");
	CHECK(stat("f", &st) == 0 && st.st_uid == 1234 && st.st_gid == 5678,
	      "owner %u:%u after chown 1234:5678", st.st_uid, st.st_gid);
	CHECK(fchown(fd, (uid_t)-1, 4321) == 0, "fchown -1:4321");
	CHECK(fstat(fd, &st) == 0 && st.st_uid == 1234 && st.st_gid == 4321,
	      "owner %u:%u after fchown -1:4321", st.st_uid, st.st_gid);
	CHECK(chown("f", 42, (gid_t)-1) == 0, "chown 42:-1");
	CHECK(stat("f", &st) == 0 && st.st_uid == 42 && st.st_gid == 4321,
	      "owner %u:%u after chown 42:-1", st.st_uid, st.st_gid);
	/* chown of an executable clears set-user-ID and set-group-ID, even by root */
	CHECK(chmod("f", 06755) == 0, "chmod 06755");
	CHECK(chown("f", 1235, 5679) == 0, "chown 1235:5679");
	CHECK(stat("f", &st) == 0 && (st.st_mode & 07777) == 0755,
	      "mode %04o after chown of a 06755 file, expected 0755", st.st_mode & 07777);
	/* lchown changes the link, not the target */
	CHECK(lchown("l", 7, 8) == 0, "lchown l 7:8");
	CHECK(lstat("l", &st) == 0 && st.st_uid == 7 && st.st_gid == 8,
	      "link owner %u:%u after lchown 7:8", st.st_uid, st.st_gid);
	CHECK(stat("f", &st) == 0 && st.st_uid == 1235 && st.st_gid == 5679,
	      "lchown changed the target to %u:%u", st.st_uid, st.st_gid);
	CHECK(chown("d", 99, 98) == 0, "chown a directory");
	CHECK(stat("d", &st) == 0 && st.st_uid == 99 && st.st_gid == 98 &&
	      (st.st_mode & 07777) == 01770, "directory %u:%u mode %04o after chown",
	      st.st_uid, st.st_gid, st.st_mode & 07777);
	close(fd);
	return 0;
}

static int same_ts(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static int case_utimes(const char *dir)
{
	struct timespec ts[2] = { { 1000000000, 123456789 }, { 1500000000, 987654321 } };
	struct timespec before, after;
	struct stat st, lst;
	int fd = -1;

	TRY(put_file("f", "x", 0644));
	CHECK(utimensat(AT_FDCWD, "f", ts, 0) == 0, "utimensat explicit");
	CHECK(stat("f", &st) == 0, "stat f");
	CHECK(same_ts(&st.st_atim, &ts[0]), "atime %lld.%09ld, expected 1000000000.123456789",
	      (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec);
	CHECK(same_ts(&st.st_mtim, &ts[1]), "mtime %lld.%09ld, expected 1500000000.987654321",
	      (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	/* ctime cannot be set: it becomes "now" */
	TRY(expect_recent("ctime after utimensat", &st.st_ctim));

	/* UTIME_OMIT leaves one alone */
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1] = (struct timespec){ 1600000000, 1 };
	CHECK(utimensat(AT_FDCWD, "f", ts, 0) == 0, "utimensat UTIME_OMIT atime");
	CHECK(stat("f", &st) == 0, "stat f");
	CHECK(st.st_atim.tv_sec == 1000000000 && st.st_atim.tv_nsec == 123456789,
	      "UTIME_OMIT changed atime to %lld.%09ld", (long long)st.st_atim.tv_sec,
	      st.st_atim.tv_nsec);
	CHECK(st.st_mtim.tv_sec == 1600000000 && st.st_mtim.tv_nsec == 1,
	      "mtime %lld.%09ld, expected 1600000000.000000001",
	      (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);

	/* UTIME_NOW */
	clock_gettime(CLOCK_REALTIME, &before);
	ts[0] = (struct timespec){ 0, UTIME_NOW };
	ts[1] = (struct timespec){ 0, UTIME_NOW };
	CHECK(utimensat(AT_FDCWD, "f", ts, 0) == 0, "utimensat UTIME_NOW");
	clock_gettime(CLOCK_REALTIME, &after);
	CHECK(stat("f", &st) == 0, "stat f");
	/* coarse kernel clocks may lag the realtime clock by a tick */
	CHECK(st.st_mtim.tv_sec >= before.tv_sec - 1 && st.st_mtim.tv_sec <= after.tv_sec,
	      "UTIME_NOW mtime %lld, expected %lld..%lld", (long long)st.st_mtim.tv_sec,
	      (long long)before.tv_sec, (long long)after.tv_sec);
	CHECK(st.st_atim.tv_sec >= before.tv_sec - 1 && st.st_atim.tv_sec <= after.tv_sec,
	      "UTIME_NOW atime %lld, expected %lld..%lld", (long long)st.st_atim.tv_sec,
	      (long long)before.tv_sec, (long long)after.tv_sec);

	/* futimens, and a time past 2038 (needs 64-bit seconds everywhere) */
	ts[0] = (struct timespec){ 4102444800, 5 };	/* 2100-01-01 */
	ts[1] = (struct timespec){ 2147483648, 999999999 };
	CHECK((fd = open("f", O_RDONLY)) >= 0, "open f");
	CHECK(futimens(fd, ts) == 0, "futimens");
	CHECK(fstat(fd, &st) == 0, "fstat");
	CHECK(same_ts(&st.st_atim, &ts[0]), "atime %lld.%09ld, expected 4102444800.000000005",
	      (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec);
	CHECK(same_ts(&st.st_mtim, &ts[1]), "mtime %lld.%09ld, expected 2147483648.999999999",
	      (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	close(fd);

	/* NULL times means now */
	CHECK(utimensat(AT_FDCWD, "f", NULL, 0) == 0, "utimensat NULL");
	CHECK(stat("f", &st) == 0, "stat f");
	TRY(expect_recent("mtime after utimensat(NULL)", &st.st_mtim));

	/* AT_SYMLINK_NOFOLLOW sets the link's own times */
	CHECK(symlink("f", "l") == 0, "symlink f l");
	ts[0] = (struct timespec){ 1200000000, 0 };
	ts[1] = (struct timespec){ 1300000000, 500 };
	CHECK(utimensat(AT_FDCWD, "l", ts, AT_SYMLINK_NOFOLLOW) == 0,
	      "utimensat AT_SYMLINK_NOFOLLOW");
	CHECK(lstat("l", &lst) == 0 && same_ts(&lst.st_mtim, &ts[1]),
	      "link mtime %lld.%09ld, expected 1300000000.000000500",
	      (long long)lst.st_mtim.tv_sec, lst.st_mtim.tv_nsec);
	CHECK(stat("f", &st) == 0 && st.st_mtim.tv_sec != 1300000000,
	      "AT_SYMLINK_NOFOLLOW changed the target's mtime");
	EXPECT_ERR(utimensat(AT_FDCWD, "missing", NULL, 0), ENOENT);
	return 0;
}

/* Operations that must move mtime forward from an old value. */
static int case_mtime(const char *dir)
{
	struct stat st;
	char c;
	int fd = -1;

#define AGE(p) TRY(set_times(p, 1000000000, 0, 0))
#define RECENT(p, what)							\
	do {								\
		CHECK(stat(p, &st) == 0, "stat %s", p);			\
		TRY(expect_recent(what, &st.st_mtim));			\
	} while (0)

	TRY(put_file("f", "x", 0644));
	AGE("f");
	CHECK((fd = open("f", O_WRONLY)) >= 0 && write(fd, "y", 1) == 1, "write f");
	close(fd);
	RECENT("f", "mtime of f after write(2)");
	AGE("f");
	CHECK((fd = open("f", O_RDWR)) >= 0 && ftruncate(fd, 10) == 0, "ftruncate f");
	RECENT("f", "mtime of f after ftruncate");
	AGE("f");
	CHECK(truncate("f", 3) == 0, "truncate f");
	RECENT("f", "mtime of f after truncate");
	/* reading and chmod leave mtime alone */
	AGE("f");
	CHECK(pread(fd, &c, 1, 0) == 1, "pread f");
	CHECK(chmod("f", 0640) == 0, "chmod f");
	CHECK(stat("f", &st) == 0 && st.st_mtim.tv_sec == 1000000000 && st.st_mtim.tv_nsec == 0,
	      "read or chmod changed mtime to %lld", (long long)st.st_mtim.tv_sec);
	close(fd);

	/* directory mtime follows changes of its entries */
	AGE(".");
	TRY(put_file("g", "", 0644));
	RECENT(".", "directory mtime after create");
	AGE(".");
	CHECK(mkdir("sd", 0755) == 0, "mkdir sd");
	RECENT(".", "directory mtime after mkdir");
	AGE(".");
	CHECK(rename("g", "h") == 0, "rename g h");
	RECENT(".", "directory mtime after rename");
	AGE(".");
	CHECK(link("h", "i") == 0, "link h i");
	RECENT(".", "directory mtime after link");
	AGE(".");
	CHECK(symlink("h", "s") == 0, "symlink h s");
	RECENT(".", "directory mtime after symlink");
	AGE(".");
	CHECK(unlink("h") == 0, "unlink h");
	RECENT(".", "directory mtime after unlink");
	AGE(".");
	CHECK(rmdir("sd") == 0, "rmdir sd");
	RECENT(".", "directory mtime after rmdir");
#undef AGE
#undef RECENT
	return 0;
}

static int case_statfs(const char *dir)
{
	struct statfs sfs, fsfs, ffs;
	struct statvfs svfs;
	int fd = -1;

	CHECK(statfs(".", &sfs) == 0, "statfs");
	CHECK(statvfs(".", &svfs) == 0, "statvfs");
	CHECK(sfs.f_bsize > 0, "f_bsize %ld", (long)sfs.f_bsize);
	CHECK(sfs.f_blocks >= sfs.f_bfree && sfs.f_bfree >= sfs.f_bavail,
	      "blocks %llu, free %llu, avail %llu are not ordered",
	      (unsigned long long)sfs.f_blocks, (unsigned long long)sfs.f_bfree,
	      (unsigned long long)sfs.f_bavail);
	CHECK(sfs.f_files >= sfs.f_ffree, "f_files %llu < f_ffree %llu",
	      (unsigned long long)sfs.f_files, (unsigned long long)sfs.f_ffree);
	CHECK(sfs.f_namelen >= 14, "f_namelen %ld", (long)sfs.f_namelen);
	CHECK(svfs.f_bsize > 0 && svfs.f_frsize > 0, "statvfs f_bsize %lu f_frsize %lu",
	      svfs.f_bsize, svfs.f_frsize);
	CHECK(svfs.f_blocks == (fsblkcnt_t)sfs.f_blocks && svfs.f_files == (fsfilcnt_t)sfs.f_files &&
	      svfs.f_namemax == (unsigned long)sfs.f_namelen, "statvfs disagrees with statfs");
	CHECK(!(svfs.f_flag & ST_RDONLY), "statvfs says read-only");
	/* the same filesystem through an fd and through a file in it */
	TRY(put_file("f", "x", 0644));
	CHECK((fd = open("f", O_RDONLY)) >= 0 && fstatfs(fd, &fsfs) == 0, "fstatfs");
	CHECK(statfs("f", &ffs) == 0, "statfs f");
	CHECK(fsfs.f_type == sfs.f_type && ffs.f_type == sfs.f_type &&
	      fsfs.f_bsize == sfs.f_bsize && fsfs.f_blocks == sfs.f_blocks,
	      "fstatfs/statfs of a file disagree with statfs of its directory");
	close(fd);
	EXPECT_ERR(statfs("missing", &sfs), ENOENT);
	info("f_type 0x%lx bsize %ld blocks %llu files %llu namelen %ld", (long)sfs.f_type,
	     (long)sfs.f_bsize, (unsigned long long)sfs.f_blocks,
	     (unsigned long long)sfs.f_files, (long)sfs.f_namelen);
	return 0;
}

/* ---- ranges: fallocate, SEEK_DATA/SEEK_HOLE, copy_file_range ------------------ */

static int case_fallocate(const char *dir)
{
	int fd = -1, ro = -1;

	CHECK((fd = open("f", O_RDWR | O_CREAT | O_EXCL, 0644)) >= 0, "create f");
	errno = 0;
	if (fallocate(fd, 0, 0, MiB) != 0) {
		if (errno == EOPNOTSUPP)
			SKIP("fallocate not supported (EOPNOTSUPP)");
		FAIL("fallocate(mode 0, 0, 1 MiB)");
	}
	TRY(expect_size(fd, MiB));
	TRY(expect_zero(fd, 0, MiB));
	TRY(write_pat(fd, 0, 64 * KiB, 6));
	/* over existing data: nothing changes */
	CHECK(fallocate(fd, 0, 0, 64 * KiB) == 0, "fallocate over data");
	TRY(expect_size(fd, MiB));
	TRY(expect_pat(fd, 0, 64 * KiB, 6));
	/* mode 0 past EOF extends */
	CHECK(fallocate(fd, 0, 2 * MiB, 4096) == 0, "fallocate(0, 2 MiB, 4096)");
	TRY(expect_size(fd, 2 * MiB + 4096));
	TRY(expect_zero(fd, MiB, MiB + 4096));

	errno = 0;
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 2 * MiB + 4096, MiB) != 0) {
		if (errno == EOPNOTSUPP)
			SKIP("FALLOC_FL_KEEP_SIZE not supported (EOPNOTSUPP)");
		FAIL("fallocate(KEEP_SIZE, 2 MiB + 4096, 1 MiB)");
	}
	TRY(expect_size(fd, 2 * MiB + 4096));
	TRY(expect_eof(fd, 2 * MiB + 4096));
	/* growing over the preallocated range reads zeros */
	CHECK(ftruncate(fd, 3 * MiB) == 0, "ftruncate over the preallocation");
	TRY(expect_zero(fd, 2 * MiB, MiB));

	errno = 0;
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 8192) != 0) {
		if (errno == EOPNOTSUPP)
			SKIP("FALLOC_FL_PUNCH_HOLE not supported (EOPNOTSUPP)");
		FAIL("fallocate(PUNCH_HOLE, 4096, 8192)");
	}
	TRY(expect_size(fd, 3 * MiB));
	TRY(expect_pat(fd, 0, 4096, 6));
	TRY(expect_zero(fd, 4096, 8192));
	TRY(expect_pat(fd, 12288, 64 * KiB - 12288, 6));
	/* unaligned: exactly the range is zeroed */
	CHECK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 50) == 0,
	      "fallocate(PUNCH_HOLE, 100, 50)");
	TRY(expect_pat(fd, 0, 100, 6));
	TRY(expect_zero(fd, 100, 50));
	TRY(expect_pat(fd, 150, 4096 - 150, 6));
	/* punching past EOF does not extend */
	CHECK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 3 * MiB - 10, MiB) == 0,
	      "fallocate(PUNCH_HOLE) across EOF");
	TRY(expect_size(fd, 3 * MiB));

	EXPECT_ERR(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 4096), EOPNOTSUPP);
	EXPECT_ERR(fallocate(fd, 0, 0, 0), EINVAL);
	CHECK((ro = open("f", O_RDONLY)) >= 0, "open f O_RDONLY");
	EXPECT_ERR(fallocate(ro, 0, 0, 4096), EBADF);
	close(ro);
	close(fd);
	return 0;
}

static int case_seek_data_hole(const char *dir)
{
	const off_t size = MiB + 4096;
	off_t r = 0;
	int fd = -1;

	CHECK((fd = open("f", O_RDWR | O_CREAT | O_EXCL, 0644)) >= 0, "create f");
	errno = 0;
	if ((r = lseek(fd, 0, SEEK_DATA)) != -1)
		FAIL("SEEK_DATA in an empty file = %lld, expected ENXIO", (long long)r);
	if (errno == EINVAL)
		SKIP("lseek SEEK_DATA not supported (EINVAL)");
	if (errno != ENXIO)
		FAIL("SEEK_DATA in an empty file: expected ENXIO");
	EXPECT_ERR(lseek(fd, 0, SEEK_HOLE), ENXIO);

	/* dense: data everywhere, the only hole is the virtual one at EOF */
	TRY(write_pat(fd, 0, 10000, 8));
	CHECK((r = lseek(fd, 0, SEEK_DATA)) == 0, "SEEK_DATA(0) = %lld, expected 0", (long long)r);
	CHECK((r = lseek(fd, 5000, SEEK_DATA)) == 5000, "SEEK_DATA(5000) = %lld", (long long)r);
	CHECK((r = lseek(fd, 0, SEEK_HOLE)) == 10000, "SEEK_HOLE(0) = %lld, expected 10000",
	      (long long)r);
	CHECK((r = lseek(fd, 5000, SEEK_HOLE)) == 10000, "SEEK_HOLE(5000) = %lld", (long long)r);
	CHECK(lseek(fd, 0, SEEK_CUR) == 10000, "SEEK_HOLE did not set the file offset");
	EXPECT_ERR(lseek(fd, 10000, SEEK_DATA), ENXIO);
	EXPECT_ERR(lseek(fd, 10000, SEEK_HOLE), ENXIO);
	EXPECT_ERR(lseek(fd, 20000, SEEK_DATA), ENXIO);
	CHECK(lseek(fd, 0, SEEK_CUR) == 10000, "failed SEEK_DATA moved the file offset");

	/* sparse: a filesystem may report the gap as a hole or as data */
	CHECK(ftruncate(fd, 0) == 0, "ftruncate 0");
	TRY(write_pat(fd, 0, 4096, 8));
	TRY(write_pat(fd, MiB, 4096, 8));
	CHECK((r = lseek(fd, 0, SEEK_HOLE)) >= 4096 && r <= size,
	      "SEEK_HOLE(0) = %lld, expected 4096..%lld", (long long)r, (long long)size);
	CHECK((r = lseek(fd, 8192, SEEK_DATA)) >= 8192 && r <= MiB,
	      "SEEK_DATA(8192) = %lld, expected 8192..%d", (long long)r, MiB);
	CHECK((r = lseek(fd, MiB + 100, SEEK_DATA)) == MiB + 100,
	      "SEEK_DATA inside the last block = %lld", (long long)r);
	CHECK((r = lseek(fd, MiB + 100, SEEK_HOLE)) == size, "SEEK_HOLE in the last block = %lld",
	      (long long)r);
	CHECK((r = lseek(fd, 4095, SEEK_DATA)) == 4095, "SEEK_DATA(4095) = %lld", (long long)r);
	EXPECT_ERR(lseek(fd, size, SEEK_DATA), ENXIO);
	close(fd);
	return 0;
}

static int copy_range(int in, loff_t *off_in, int out, loff_t *off_out, size_t len)
{
	ssize_t n = 0;

	while (len > 0) {
		CHECK((n = copy_file_range(in, off_in, out, off_out, len, 0)) > 0,
		      "copy_file_range(%zu bytes) = %zd", len, n);
		len -= (size_t)n;
	}
	return 0;
}

static int case_copy_file_range(const char *dir)
{
	const size_t srcsz = 200 * KiB;
	loff_t in = 1000, out = 0;
	int src = -1, dst = -1, ro = -1;
	ssize_t n = 0;

	CHECK((src = open("src", O_RDWR | O_CREAT | O_EXCL, 0644)) >= 0, "create src");
	CHECK((dst = open("dst", O_RDWR | O_CREAT | O_EXCL, 0644)) >= 0, "create dst");
	TRY(write_pat(src, 0, srcsz, 9));

	/* explicit offsets: they advance, the file offsets do not move */
	TRY(copy_range(src, &in, dst, &out, 100000));
	CHECK(in == 101000 && out == 100000, "offsets after copy: in %lld out %lld",
	      (long long)in, (long long)out);
	CHECK(lseek(src, 0, SEEK_CUR) == 0 && lseek(dst, 0, SEEK_CUR) == 0,
	      "copy_file_range with offsets moved a file offset");
	TRY(expect_size(dst, 100000));
	TRY(expect_range(dst, 0, 100000, 9, 1000));

	/* NULL offsets: the file offsets are used and advanced */
	CHECK(lseek(src, 150000, SEEK_SET) == 150000, "lseek src");
	CHECK(lseek(dst, 100000, SEEK_SET) == 100000, "lseek dst");
	TRY(copy_range(src, NULL, dst, NULL, 50000));
	CHECK(lseek(src, 0, SEEK_CUR) == 200000 && lseek(dst, 0, SEEK_CUR) == 150000,
	      "file offsets after copy_file_range(NULL, NULL) are wrong");
	TRY(expect_size(dst, 150000));
	TRY(expect_range(dst, 100000, 50000, 9, 150000));

	/* into the middle: neighbours untouched */
	in = 0;
	out = 50000;
	TRY(copy_range(src, &in, dst, &out, 4096));
	TRY(expect_range(dst, 49000, 1000, 9, 50000));
	TRY(expect_range(dst, 50000, 4096, 9, 0));
	TRY(expect_range(dst, 54096, 1000, 9, 55096));
	TRY(expect_size(dst, 150000));

	/* at or past the source EOF: nothing to copy */
	in = (loff_t)srcsz;
	out = 0;
	CHECK((n = copy_file_range(src, &in, dst, &out, 100, 0)) == 0,
	      "copy_file_range at source EOF = %zd", n);
	/* short at EOF */
	in = (loff_t)srcsz - 10;
	out = 150000;
	CHECK((n = copy_file_range(src, &in, dst, &out, 100, 0)) == 10,
	      "copy_file_range across source EOF = %zd, expected 10", n);
	TRY(expect_size(dst, 150010));

	in = 0;
	out = 100;
	EXPECT_ERR(copy_file_range(src, &in, src, &out, 1000, 0), EINVAL);
	CHECK((ro = open("dst", O_RDONLY)) >= 0, "open dst O_RDONLY");
	in = 0;
	EXPECT_ERR(copy_file_range(src, &in, ro, NULL, 100, 0), EBADF);
	close(ro);
	TRY(expect_pat(src, 0, srcsz, 9));
	close(src);
	close(dst);
	return 0;
}

/* ---- readdir ------------------------------------------------------------------ */

#define NFILES 2000

struct scan {
	int seen[NFILES];
	int dots, dotdots, unknown, wrong_type;
	char unknown_name[NAME_MAX + 1];
	int (*index)(const char *name);
};

static void scan_entry(struct scan *sc, const char *name, unsigned char type)
{
	int i;

	if (!strcmp(name, ".")) {
		sc->dots++;
		return;
	}
	if (!strcmp(name, "..")) {
		sc->dotdots++;
		return;
	}
	i = sc->index(name);
	if (i < 0 || i >= NFILES) {
		if (!sc->unknown++)
			snprintf(sc->unknown_name, sizeof(sc->unknown_name), "%s", name);
		return;
	}
	sc->seen[i]++;
	if (type != DT_UNKNOWN && type != DT_REG)
		sc->wrong_type++;
}

struct linux_dirent64_ {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/*
 * One pass over PATH.  bufsz 0 uses readdir(3) (32 KiB getdents64 calls);
 * otherwise raw getdents64 with that buffer, so a pass spans many calls and
 * the filesystem has to resume from a cookie often.
 */
static int scan_dir(const char *path, size_t bufsz, struct scan *sc)
{
	int (*index)(const char *) = sc->index;

	memset(sc, 0, sizeof(*sc));
	sc->index = index;
	if (bufsz == 0) {
		struct dirent *de;
		DIR *d = NULL;

		CHECK((d = opendir(path)) != NULL, "opendir %s", path);
		for (;;) {
			errno = 0;
			if (!(de = readdir(d)))
				break;
			scan_entry(sc, de->d_name, de->d_type);
		}
		if (errno)
			FAIL("readdir %s", path);
		closedir(d);
	} else {
		char *buf = NULL;
		long n = 0;
		int fd = -1;

		CHECK((buf = malloc(bufsz)) != NULL, "malloc");
		CHECK((fd = open(path, O_RDONLY | O_DIRECTORY)) >= 0, "open %s", path);
		for (;;) {
			CHECK((n = syscall(SYS_getdents64, fd, buf, bufsz)) >= 0,
			      "getdents64(%zu) on %s", bufsz, path);
			if (n == 0)
				break;
			for (long off = 0; off < n;) {
				struct linux_dirent64_ *de = (void *)(buf + off);

				scan_entry(sc, de->d_name, de->d_type);
				off += de->d_reclen;
			}
		}
		close(fd);
		free(buf);
	}
	return 0;
}

/* Common sanity of a pass: no strangers, "." and ".." at most once. */
static int scan_sane(const struct scan *sc, int pass)
{
	CHECK(sc->unknown == 0, "pass %d: %d unexpected entries, e.g. \"%s\"", pass,
	      sc->unknown, sc->unknown_name);
	CHECK(sc->dots <= 1 && sc->dotdots <= 1, "pass %d: \".\" listed %d times, \"..\" %d times",
	      pass, sc->dots, sc->dotdots);
	CHECK(sc->wrong_type == 0, "pass %d: %d entries with a d_type other than DT_REG",
	      pass, sc->wrong_type);
	for (int i = 0; i < NFILES; i++)
		CHECK(sc->seen[i] <= 1, "pass %d: entry %d listed %d times", pass, i, sc->seen[i]);
	return 0;
}

/* Varied lengths (5..204 bytes) so entries straddle buffer boundaries. */
static void large_name(char *buf, size_t sz, int i)
{
	int pad = (i * 37) % 200;

	snprintf(buf, sz, "%04d-%.*s", i, pad,
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
}

static int large_index(const char *name)
{
	char exp[NAME_MAX + 1];
	int i;

	if (strlen(name) < 5 || name[4] != '-' || sscanf(name, "%4d", &i) != 1 || i < 0 ||
	    i >= NFILES)
		return -1;
	large_name(exp, sizeof(exp), i);
	return strcmp(name, exp) ? -1 : i;
}

static int case_readdir_large(const char *dir)
{
	static struct scan sc;
	const size_t bufsizes[] = { 0, 512, 4096 };
	char name[NAME_MAX + 1];
	int fd = -1;

	CHECK(mkdir("big", 0755) == 0, "mkdir big");
	for (int i = 0; i < NFILES; i++) {
		char path[NAME_MAX + 8];

		large_name(name, sizeof(name), i);
		snprintf(path, sizeof(path), "big/%s", name);
		CHECK((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644)) >= 0, "create %s", path);
		close(fd);
	}
	sc.index = large_index;
	for (size_t b = 0; b < sizeof(bufsizes) / sizeof(bufsizes[0]); b++) {
		TRY(scan_dir("big", bufsizes[b], &sc));
		TRY(scan_sane(&sc, (int)b));
		for (int i = 0; i < NFILES; i++)
			CHECK(sc.seen[i] == 1, "buffer %zu: entry %d listed %d times, expected once",
			      bufsizes[b], i, sc.seen[i]);
	}
	/* rewinddir gives the same set again */
	{
		struct dirent *de;
		DIR *d = NULL;
		int count = 0, again = 0;

		CHECK((d = opendir("big")) != NULL, "opendir big");
		while ((de = readdir(d)))
			count++;
		rewinddir(d);
		while ((de = readdir(d)))
			again++;
		closedir(d);
		CHECK(count == again && count >= NFILES && count <= NFILES + 2,
		      "readdir counted %d entries, %d after rewinddir", count, again);
	}
	return 0;
}

static int unlink_index(const char *name)
{
	int i;
	char tail;

	if (name[0] != 'u' || sscanf(name + 1, "%4d%c", &i, &tail) != 1 || strlen(name) != 5)
		return -1;
	return i;
}

static int unlinker(int go)
{
	char path[32], c;

	/* start only once the reader has its first pass going */
	CHECK(read(go, &c, 1) == 1, "unlinker: wait for start");
	/* an order that is neither sorted nor reverse: (1999 k + 1) mod 2000 */
	for (int k = 0; k < NFILES; k++) {
		int i = (int)(((long)k * 1999 + 1) % NFILES);

		if (!(i & 1))
			continue;
		snprintf(path, sizeof(path), "ud/u%04d", i);
		CHECK(unlink(path) == 0, "unlink %s", path);
		if (k % 64 == 0)
			sched_yield();
	}
	return 0;
}

static int case_readdir_unlink(const char *dir)
{
	static struct scan sc;
	const size_t bufsizes[] = { 0, 512, 2048 };
	int go[2] = { -1, -1 }, pass = 0, concurrent = 0, fd = -1, st = 0;
	pid_t pid, r = 0;
	char path[32];

	CHECK(mkdir("ud", 0755) == 0, "mkdir ud");
	for (int i = 0; i < NFILES; i++) {
		snprintf(path, sizeof(path), "ud/u%04d", i);
		CHECK((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644)) >= 0, "create %s", path);
		close(fd);
	}
	CHECK(pipe(go) == 0, "pipe");
	CHECK((pid = fork()) >= 0, "fork");
	if (pid == 0) {
		close(go[1]);
		worker_exit(unlinker(go[0]));
	}
	close(go[0]);
	sc.index = unlink_index;
	for (;;) {
		/* decide before the pass whether the unlinker may still be running */
		bool running = r != pid;

		if (pass == 1)
			CHECK(write(go[1], "g", 1) == 1, "start the unlinker");
		TRY(scan_dir("ud", bufsizes[pass % 3], &sc));
		TRY(scan_sane(&sc, pass));
		for (int i = 0; i < NFILES; i += 2)
			CHECK(sc.seen[i] == 1, "pass %d: u%04d (never unlinked) is missing",
			      pass, i);
		if (!running) {
			/* the unlinker is done: this pass must show exactly the survivors */
			for (int i = 1; i < NFILES; i += 2)
				CHECK(sc.seen[i] == 0, "final pass: unlinked u%04d still listed", i);
			break;
		}
		concurrent += pass >= 1;
		pass++;
		if (pass >= 2) {
			CHECK((r = waitpid(pid, &st, WNOHANG)) >= 0, "waitpid unlinker");
			CHECK(r != pid || (WIFEXITED(st) && WEXITSTATUS(st) == 0),
			      "unlinker %s", describe_status(st));
		}
	}
	close(go[1]);
	info("%d passes overlapped the unlinks", concurrent);
	return 0;
}

/* ---- permissions as another user --------------------------------------------- */

static int require_root(void)
{
	if (geteuid() != 0)
		SKIP("not running as root (euid %u): cannot switch to uid %d", geteuid(), NOBODY);
	return 0;
}

/* In a forked child: become 65534:65534 with no supplementary groups. */
static int drop_privs(void)
{
	struct stat st;

	CHECK(setgroups(0, NULL) == 0, "setgroups(0)");
	CHECK(setresgid(NOBODY, NOBODY, NOBODY) == 0, "setresgid(%d)", NOBODY);
	CHECK(setresuid(NOBODY, NOBODY, NOBODY) == 0, "setresuid(%d)", NOBODY);
	CHECK(geteuid() == NOBODY && getegid() == NOBODY, "still euid %u egid %u",
	      geteuid(), getegid());
	/*
	 * A FUSE mount without allow_other refuses every other uid with EACCES,
	 * which would make the expected-EACCES checks pass for the wrong reason.
	 */
	errno = 0;
	if (stat(".", &st) != 0) {
		if (errno == EACCES)
			SKIP("uid %d cannot stat the test directory (FUSE mount without allow_other?)",
			     NOBODY);
		FAIL("stat(\".\") as uid %d", NOBODY);
	}
	return 0;
}

static int as_nobody(int (*fn)(void))
{
	pid_t pid = 0;

	CHECK((pid = fork()) >= 0, "fork");
	if (pid == 0) {
		int r = drop_privs();

		worker_exit(r ? r : fn());
	}
	return wait_worker(pid, "unprivileged child");
}

static const struct timespec explicit_ts[2] = { { 1000000000, 0 }, { 1000000000, 0 } };

static int perm_read_child(void)
{
	char buf[16];
	int fd = -1;

	EXPECT_ERR(open("secret", O_RDONLY), EACCES);
	EXPECT_ERR(open("secret", O_WRONLY), EACCES);
	EXPECT_ERR(access("secret", R_OK), EACCES);
	CHECK(access("secret", F_OK) == 0, "access(secret, F_OK)");
	TRY(file_is("public", "hello"));
	EXPECT_ERR(open("public", O_WRONLY), EACCES);
	EXPECT_ERR(open("public", O_RDWR | O_TRUNC), EACCES);
	EXPECT_ERR(truncate("public", 0), EACCES);
	EXPECT_ERR(chmod("public", 0666), EPERM);
	EXPECT_ERR(chown("public", NOBODY, NOBODY), EPERM);
	EXPECT_ERR(utimensat(AT_FDCWD, "public", explicit_ts, 0), EPERM);
	EXPECT_ERR(utimensat(AT_FDCWD, "public", NULL, 0), EACCES);
	/* permission was checked at open: the read-only fd cannot write */
	CHECK((fd = open("public", O_RDONLY)) >= 0, "open public");
	EXPECT_ERR(write(fd, "x", 1), EBADF);
	CHECK(read(fd, buf, sizeof(buf)) == 5, "read public");
	close(fd);
	return 0;
}

static int case_perm_read(const char *dir)
{
	struct stat st;

	TRY(require_root());
	TRY(put_file("secret", "top secret", 0600));
	TRY(put_file("public", "hello", 0644));
	TRY(as_nobody(perm_read_child));
	TRY(file_is("public", "hello"));
	TRY(file_is("secret", "top secret"));
	CHECK(stat("public", &st) == 0 && (st.st_mode & 07777) == 0644 && st.st_uid == 0,
	      "public changed to mode %04o owner %u", st.st_mode & 07777, st.st_uid);
	CHECK(stat("public", &st) == 0 && st.st_mtim.tv_sec != 1000000000,
	      "the unprivileged utimensat took effect");
	return 0;
}

static int perm_dir_child(void)
{
	struct stat st;
	int fd = -1;

	EXPECT_ERR(open("d/new", O_WRONLY | O_CREAT | O_EXCL, 0644), EACCES);
	EXPECT_ERR(mkdir("d/sub", 0755), EACCES);
	EXPECT_ERR(mknod("d/fifo", S_IFIFO | 0644, 0), EACCES);
	EXPECT_ERR(symlink("x", "d/l"), EACCES);
	EXPECT_ERR(unlink("d/f"), EACCES);
	EXPECT_ERR(rename("d/f", "d/g"), EACCES);
	EXPECT_ERR(rmdir("d/e"), EACCES);
	/* the file itself is world-writable: that is a different permission */
	CHECK((fd = open("d/f", O_WRONLY | O_TRUNC)) >= 0, "open 0666 file in a 0755 dir");
	CHECK(write(fd, "changed", 7) == 7, "write 0666 file");
	close(fd);
	/* no search permission: nothing below is reachable */
	EXPECT_ERR(stat("priv/f", &st), EACCES);
	EXPECT_ERR(open("priv", O_RDONLY | O_DIRECTORY), EACCES);
	/* search but no read permission: known names work, listing does not */
	EXPECT_ERR(open("xonly", O_RDONLY | O_DIRECTORY), EACCES);
	TRY(file_is("xonly/known", "k"));
	return 0;
}

static int case_perm_dir(const char *dir)
{
	struct stat st;

	TRY(require_root());
	CHECK(mkdir("d", 0755) == 0 && mkdir("d/e", 0755) == 0, "mkdir d d/e");
	TRY(put_file("d/f", "root file", 0666));
	CHECK(chmod("d/f", 0666) == 0, "chmod d/f");
	CHECK(mkdir("priv", 0700) == 0, "mkdir priv");
	TRY(put_file("priv/f", "x", 0644));
	CHECK(mkdir("xonly", 0711) == 0, "mkdir xonly");
	TRY(put_file("xonly/known", "k", 0644));
	TRY(as_nobody(perm_dir_child));
	TRY(expect_names("d", "e,f"));
	TRY(file_is("d/f", "changed"));
	CHECK(stat("d/e", &st) == 0 && S_ISDIR(st.st_mode), "d/e is gone");
	return 0;
}

static int perm_sticky_child(void)
{
	struct stat st;

	EXPECT_ERR2(unlink("t/rootf"), EPERM, EACCES);
	EXPECT_ERR2(rename("t/rootf", "t/moved"), EPERM, EACCES);
	EXPECT_ERR2(rmdir("t/rootd"), EPERM, EACCES);
	/* own files: create, rename, unlink all allowed */
	TRY(put_file("t/mine", "mine", 0644));
	TRY(file_is("t/mine", "mine"));
	/* but not renamed over someone else's file */
	EXPECT_ERR2(rename("t/mine", "t/rootf"), EPERM, EACCES);
	CHECK(rename("t/mine", "t/mine2") == 0, "rename own file in sticky dir");
	CHECK(unlink("t/mine2") == 0, "unlink own file in sticky dir");
	EXPECT_ERR(stat("t/mine2", &st), ENOENT);
	CHECK(mkdir("t/mydir", 0755) == 0 && rmdir("t/mydir") == 0, "mkdir/rmdir own dir");
	return 0;
}

static int case_perm_sticky(const char *dir)
{
	struct stat st;

	TRY(require_root());
	CHECK(mkdir("t", 0777) == 0 && chmod("t", 01777) == 0, "mkdir t 01777");
	CHECK(stat("t", &st) == 0 && (st.st_mode & 07777) == 01777, "t mode %04o, expected 01777",
	      st.st_mode & 07777);
	TRY(put_file("t/rootf", "root", 0666));
	CHECK(chmod("t/rootf", 0666) == 0, "chmod t/rootf 0666");
	CHECK(mkdir("t/rootd", 0777) == 0, "mkdir t/rootd");
	TRY(as_nobody(perm_sticky_child));
	TRY(file_is("t/rootf", "root"));
	TRY(expect_names("t", "rootd,rootf"));
	return 0;
}

static int check_owner(const char *path, uid_t uid, gid_t gid, bool follow)
{
	struct stat st;

	CHECK((follow ? stat(path, &st) : lstat(path, &st)) == 0, "stat %s", path);
	CHECK(st.st_uid == uid && st.st_gid == gid, "%s is owned by %u:%u, expected %u:%u",
	      path, st.st_uid, st.st_gid, uid, gid);
	return 0;
}

static gid_t g_new_gid;		/* gid new files in the case directory get */

static int perm_owner_child(void)
{
	struct stat st;
	int fd = -1;

	CHECK((fd = open("mine", O_RDWR | O_CREAT | O_EXCL, 0640)) >= 0, "create mine");
	CHECK(fstat(fd, &st) == 0, "fstat mine");
	CHECK(st.st_uid == NOBODY && st.st_gid == g_new_gid,
	      "new file owned by %u:%u, expected %d:%u", st.st_uid, st.st_gid, NOBODY, g_new_gid);
	CHECK((st.st_mode & 07777) == 0640, "new file mode %04o", st.st_mode & 07777);
	close(fd);
	CHECK(mkdir("mydir", 0750) == 0, "mkdir mydir");
	TRY(check_owner("mydir", NOBODY, g_new_gid, true));
	CHECK(symlink("mine", "mylink") == 0, "symlink");
	TRY(check_owner("mylink", NOBODY, g_new_gid, false));
	CHECK(mknod("myfifo", S_IFIFO | 0600, 0) == 0, "mknod fifo");
	TRY(check_owner("myfifo", NOBODY, g_new_gid, true));
	/* the owner may chmod and set times, but not give the file away */
	CHECK(chmod("mine", 0600) == 0, "chmod own file");
	CHECK(utimensat(AT_FDCWD, "mine", explicit_ts, 0) == 0, "utimensat own file");
	CHECK(chown("mine", NOBODY, (gid_t)-1) == 0, "chown own file to self");
	EXPECT_ERR(chown("mine", 0, (gid_t)-1), EPERM);
	EXPECT_ERR(chown("mine", (uid_t)-1, 0), EPERM);
	return 0;
}

static int case_perm_owner(const char *dir)
{
	struct stat st;

	TRY(require_root());
	/* let the other user create entries right here */
	CHECK(chmod(".", 0777) == 0, "chmod test dir 0777");
	CHECK(stat(".", &st) == 0, "stat test dir");
	g_new_gid = (st.st_mode & S_ISGID) ? st.st_gid : NOBODY;
	TRY(as_nobody(perm_owner_child));
	TRY(check_owner("mine", NOBODY, g_new_gid, true));
	TRY(check_owner("mydir", NOBODY, g_new_gid, true));
	CHECK(stat("mine", &st) == 0 && (st.st_mode & 07777) == 0600 &&
	      st.st_mtim.tv_sec == 1000000000, "mine: mode %04o mtime %lld after the owner's changes",
	      st.st_mode & 07777, (long long)st.st_mtim.tv_sec);
	return 0;
}

static int perm_setgid_child(void)
{
	struct stat st;
	int fd = -1;

	CHECK((fd = open("sg/f", O_RDWR | O_CREAT | O_EXCL, 0644)) >= 0, "create sg/f");
	CHECK(fstat(fd, &st) == 0 && st.st_uid == NOBODY && st.st_gid == 4242,
	      "file in setgid dir owned by %u:%u, expected %d:4242", st.st_uid, st.st_gid, NOBODY);
	CHECK(!(st.st_mode & S_ISGID), "file in setgid dir got S_ISGID");
	close(fd);
	CHECK(mkdir("sg/d", 0755) == 0, "mkdir sg/d");
	CHECK(stat("sg/d", &st) == 0 && st.st_gid == 4242 && (st.st_mode & S_ISGID),
	      "subdir of setgid dir: gid %u mode %04o, expected 4242 and S_ISGID",
	      st.st_gid, st.st_mode & 07777);
	/* not a member of 4242: requesting S_ISGID on an executable is dropped */
	CHECK((fd = open("sg/x", O_RDWR | O_CREAT | O_EXCL, 02755)) >= 0, "create sg/x 02755");
	CHECK(fstat(fd, &st) == 0 && (st.st_mode & 07777) == 0755,
	      "sg/x mode %04o, expected 0755 (S_ISGID stripped)", st.st_mode & 07777);
	close(fd);
	CHECK(chmod("sg/f", 02755) == 0, "chmod own file 02755");
	CHECK(stat("sg/f", &st) == 0 && (st.st_mode & 07777) == 0755,
	      "chmod 02755 by a non-member gave mode %04o, expected 0755", st.st_mode & 07777);
	return 0;
}

static int case_perm_setgid_dir(const char *dir)
{
	TRY(require_root());
	CHECK(mkdir("sg", 0777) == 0 && chown("sg", 0, 4242) == 0 && chmod("sg", 02777) == 0,
	      "make setgid dir sg");
	TRY(as_nobody(perm_setgid_child));
	TRY(check_owner("sg/f", NOBODY, 4242, true));
	TRY(check_owner("sg/d", NOBODY, 4242, true));
	return 0;
}

/* ---- concurrency -------------------------------------------------------------- */

#define CONC_WORKERS 4
#define CONC_FILES 200

static size_t conc_size(int w, int i)
{
	return 1 + (size_t)((w * CONC_FILES + i) * 97) % 20000;
}

static int conc_worker(int w, int go)
{
	char path[32], c;
	int fd = -1;

	CHECK(read(go, &c, 1) == 0, "worker %d: wait for start", w);
	for (int i = 0; i < CONC_FILES; i++) {
		snprintf(path, sizeof(path), "w%d-%03d", w, i);
		CHECK((fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644)) >= 0, "create %s", path);
		TRY(write_pat(fd, 0, conc_size(w, i), (unsigned)(w * 1000 + i)));
		CHECK(close(fd) == 0, "close %s", path);
		/* read an earlier one back while the others keep creating */
		if (i >= 10) {
			snprintf(path, sizeof(path), "w%d-%03d", w, i - 10);
			CHECK((fd = open(path, O_RDONLY)) >= 0, "open %s", path);
			TRY(expect_size(fd, (off_t)conc_size(w, i - 10)));
			TRY(expect_pat(fd, 0, conc_size(w, i - 10), (unsigned)(w * 1000 + i - 10)));
			close(fd);
		}
	}
	for (int i = 0; i < CONC_FILES; i++) {
		snprintf(path, sizeof(path), "w%d-%03d", w, i);
		CHECK((fd = open(path, O_RDONLY)) >= 0, "open %s", path);
		TRY(expect_size(fd, (off_t)conc_size(w, i)));
		TRY(expect_pat(fd, 0, conc_size(w, i), (unsigned)(w * 1000 + i)));
		TRY(expect_eof(fd, (off_t)conc_size(w, i)));
		close(fd);
		CHECK(unlink(path) == 0, "unlink %s", path);
		CHECK(access(path, F_OK) == -1 && errno == ENOENT, "%s exists after unlink", path);
	}
	return 0;
}

static int case_concurrent(const char *dir)
{
	int go[2] = { -1, -1 }, res[CONC_WORKERS];
	pid_t pid[CONC_WORKERS];

	/* all workers start together when the pipe's write end closes */
	CHECK(pipe(go) == 0, "pipe");
	for (int w = 0; w < CONC_WORKERS; w++) {
		CHECK((pid[w] = fork()) >= 0, "fork");
		if (pid[w] == 0) {
			close(go[1]);
			worker_exit(conc_worker(w, go[0]));
		}
	}
	close(go[0]);
	close(go[1]);
	/* reap all before judging: the first failure is already on record */
	for (int w = 0; w < CONC_WORKERS; w++)
		res[w] = wait_worker(pid[w], "worker");
	for (int w = 0; w < CONC_WORKERS; w++)
		TRY(res[w]);
	TRY(expect_names(".", ""));
	return 0;
}

/* ---- runner ---------------------------------------------------------------- */

struct tcase {
	const char *name;
	int (*fn)(const char *dir);
	const char *what;
};

static const struct tcase cases[] = {
	{ "create_excl", case_create_excl, "O_CREAT|O_EXCL, reopen, open errors" },
	{ "name_max", case_name_max, "names of f_namelen bytes work, longer fail" },
	{ "pread_pwrite", case_pread_pwrite, "offsets, holes, far past EOF, persistence" },
	{ "append", case_append, "O_APPEND lands at EOF, concurrent appenders" },
	{ "o_trunc", case_o_trunc, "O_TRUNC empties the file and updates mtime" },
	{ "ftruncate", case_ftruncate, "shrink/grow, regrown data is zero" },
	{ "mmap", case_mmap, "shared/private mappings vs read(2)/write(2)" },
	{ "unlink_open", case_unlink_open, "unlinked open file stays usable" },
	{ "rename", case_rename, "plain, over existing, across dirs, errors" },
	{ "rename_noreplace", case_rename_noreplace, "renameat2 RENAME_NOREPLACE" },
	{ "rename_exchange", case_rename_exchange, "renameat2 RENAME_EXCHANGE" },
	{ "rename_dir", case_rename_dir, "directory renames, ENOTEMPTY, own subtree" },
	{ "link", case_link, "hard links: nlink, shared data" },
	{ "symlink", case_symlink, "readlink, lstat vs stat, dangling, loops" },
	{ "mkdir_rmdir", case_mkdir_rmdir, "mkdir/rmdir and their errors" },
	{ "mknod", case_mknod, "FIFO and regular mknod" },
	{ "xattr", case_xattr, "user.* xattrs and their errors" },
	{ "chmod_chown", case_chmod_chown, "chmod, chown, suid clearing, lchown" },
	{ "utimes", case_utimes, "utimensat/futimens with nanoseconds, UTIME_NOW/OMIT" },
	{ "mtime", case_mtime, "file and directory mtime updates" },
	{ "statfs", case_statfs, "statfs/statvfs sanity" },
	{ "fallocate", case_fallocate, "mode 0, KEEP_SIZE, PUNCH_HOLE" },
	{ "seek_data_hole", case_seek_data_hole, "lseek SEEK_DATA/SEEK_HOLE" },
	{ "copy_file_range", case_copy_file_range, "copy_file_range offsets and data" },
	{ "readdir_large", case_readdir_large, "2000 entries, each listed once" },
	{ "readdir_unlink", case_readdir_unlink, "readdir passes during concurrent unlinks" },
	{ "perm_read", case_perm_read, "uid 65534 vs root's 0600/0644 files" },
	{ "perm_dir", case_perm_dir, "uid 65534 vs root's 0755/0700/0711 dirs" },
	{ "perm_sticky", case_perm_sticky, "sticky 01777 directory" },
	{ "perm_owner", case_perm_owner, "ownership of files made by uid 65534" },
	{ "perm_setgid_dir", case_perm_setgid_dir, "group inheritance in a setgid dir" },
	{ "concurrent", case_concurrent, "4 processes x 200 files in one directory" },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static double elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	int r = (type == FTW_DP) ? rmdir(path) : unlink(path);

	if (r)
		fprintf(stderr, "syscalls: cannot remove %s: %s\n", path, strerror(errno));
	return 0;
}

enum { R_PASS, R_FAIL, R_SKIP };

/*
 * Run one case in a child and classify it.  The child arms its own alarm;
 * the parent waits a little longer and then kills the whole process group,
 * for children stuck where SIGALRM cannot reach them.
 */
static int run_case(const struct tcase *tc, const char *casedir, unsigned timeout,
		    const sigset_t *oldmask)
{
	sigset_t chld;
	int st = 0, timed_out = 0;
	struct timespec t0;
	pid_t pid;

	memset(g_rep, 0, sizeof(*g_rep));
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		snprintf(g_rep->msg, sizeof(g_rep->msg), "fork: %s", strerror(errno));
		return R_FAIL;
	}
	if (pid == 0) {
		int r;

		setpgid(0, 0);
		sigprocmask(SIG_SETMASK, oldmask, NULL);
		alarm(timeout);
		clock_gettime(CLOCK_REALTIME, &g_case_start);
		if (chdir(casedir) != 0) {
			fail_at(__FILE__, __LINE__, errno, "chdir %s", casedir);
			_exit(1);
		}
		r = tc->fn(casedir);
		fflush(stdout);
		worker_exit(r);
	}
	setpgid(pid, pid);	/* also here: no race with the kill below */
	for (;;) {
		struct timespec ts = { 0, 200 * 1000 * 1000 };
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			snprintf(g_rep->msg, sizeof(g_rep->msg), "waitpid: %s", strerror(errno));
			return R_FAIL;
		}
		if (elapsed_ms(&t0) > (timeout + 10) * 1e3) {
			kill(-pid, SIGKILL);
			for (int i = 0; i < 50 && waitpid(pid, &st, WNOHANG) == 0; i++)
				nanosleep(&ts, NULL);
			timed_out = 1;
			st = 0;
			break;
		}
		sigtimedwait(&chld, NULL, &ts);
	}
	/*
	 * Take down whatever the case forked and left behind; as subreaper we
	 * inherited those orphans, so reap them too (bounded: a process stuck
	 * in an unkillable FUSE wait would otherwise block the run).
	 */
	kill(-pid, SIGKILL);
	for (int i = 0; i < 100; i++) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		int dummy;
		pid_t r = waitpid(-pid, &dummy, WNOHANG);

		if (r < 0)
			break;
		if (r == 0)
			nanosleep(&ts, NULL);
	}
	if (g_verbose)
		printf("#   %s: %.0f ms in %s\n", tc->name, elapsed_ms(&t0), casedir);

	if (timed_out || (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)) {
		snprintf(g_rep->msg, sizeof(g_rep->msg), "timed out after %u s (last passed check: line %d)",
			 timeout, g_rep->last_line);
		return R_FAIL;
	}
	if (g_rep->claimed == CLAIM_FAIL)
		return R_FAIL;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return R_PASS;
	if (WIFEXITED(st) && WEXITSTATUS(st) == SKIP_STATUS && g_rep->claimed == CLAIM_SKIP)
		return R_SKIP;
	{
		char what[96];

		snprintf(what, sizeof(what), "%s", describe_status(st));
		snprintf(g_rep->msg, sizeof(g_rep->msg), "child %s (last passed check: line %d)",
			 what, g_rep->last_line);
	}
	return R_FAIL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: syscalls [-v] [-k] [-l] [-t SECONDS] [-x name,name...] DIR\n");
}

int main(int argc, char **argv)
{
	bool excluded[NCASES] = { false };
	int counts[3] = { 0, 0, 0 }, opt, keep = 0;
	unsigned timeout = 30;
	char top[PATH_MAX], casedir[PATH_MAX + 64];
	sigset_t chld, oldmask;

	while ((opt = getopt(argc, argv, "vklt:x:h")) != -1) {
		switch (opt) {
		case 'v':
			g_verbose = 1;
			break;
		case 'k':
			keep = 1;
			break;
		case 'l':
			for (size_t i = 0; i < NCASES; i++)
				printf("%-18s %s\n", cases[i].name, cases[i].what);
			return 0;
		case 't':
			timeout = (unsigned)strtoul(optarg, NULL, 10);
			if (timeout == 0) {
				fprintf(stderr, "syscalls: bad timeout '%s'\n", optarg);
				return 2;
			}
			break;
		case 'x': {
			char *list = strdup(optarg), *save = NULL;

			for (char *tok = strtok_r(list, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save)) {
				size_t i;

				for (i = 0; i < NCASES && strcmp(cases[i].name, tok); i++)
					;
				if (i == NCASES) {
					fprintf(stderr, "syscalls: unknown case '%s' (see -l)\n", tok);
					return 2;
				}
				excluded[i] = true;
			}
			free(list);
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	umask(0);	/* modes in the checks are exactly what was asked for */

	g_rep = mmap(NULL, sizeof(*g_rep), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		     -1, 0);
	if (g_rep == MAP_FAILED) {
		perror("syscalls: mmap");
		return 2;
	}
	snprintf(top, sizeof(top), "%s/syscalls.XXXXXX", argv[optind]);
	if (!mkdtemp(top)) {
		fprintf(stderr, "syscalls: cannot create a test directory in %s: %s\n",
			argv[optind], strerror(errno));
		return 2;
	}
	/* mkdtemp makes it 0700; the perm_* cases run as another uid below it */
	if (chmod(top, 0755) != 0) {
		fprintf(stderr, "syscalls: chmod %s: %s\n", top, strerror(errno));
		return 2;
	}
	if (g_verbose)
		printf("# testing in %s\n", top);

	/* orphans of a case (its workers, if it died first) come to us */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	/* SIGCHLD stays blocked in the runner so sigtimedwait can wait for it */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &oldmask);

	for (size_t i = 0; i < NCASES; i++) {
		const struct tcase *tc = &cases[i];
		int res;

		if (excluded[i]) {
			printf("skip %s: excluded (-x)\n", tc->name);
			counts[R_SKIP]++;
			continue;
		}
		snprintf(casedir, sizeof(casedir), "%s/%s", top, tc->name);
		if (mkdir(casedir, 0755) != 0) {
			printf("FAIL %s: mkdir %s: %s\n", tc->name, casedir, strerror(errno));
			counts[R_FAIL]++;
			continue;
		}
		res = run_case(tc, casedir, timeout, &oldmask);
		counts[res]++;
		if (res == R_PASS)
			printf("ok  %s\n", tc->name);
		else if (res == R_SKIP)
			printf("skip %s: %s\n", tc->name, g_rep->msg[0] ? g_rep->msg : "(no reason)");
		else
			printf("FAIL %s: %s\n", tc->name, g_rep->msg[0] ? g_rep->msg : "(no message)");
	}

	if (keep)
		printf("# kept %s\n", top);
	else
		nftw(top, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	printf("syscalls: %d passed, %d failed, %d skipped\n",
	       counts[R_PASS], counts[R_FAIL], counts[R_SKIP]);
	return counts[R_FAIL] ? 1 : 0;
}
