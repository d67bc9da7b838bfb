/* SPDX-License-Identifier: MIT */
/*
 * stressor.c - namespace concurrency stress for a mounted filesystem: processes create,
 * rename, hard-link, unlink, stat and list files in a few shared directories while others
 * hold files open (writing and reading back through the open fds) for a while.
 *
 * Usage: stressor [-p PROCS] [-t SECONDS] [-d DIRS] [-n NAMES] [-E MAXIOERR] [-H HANGSECS]
 *                 [-W MAXSTALE] [-s SEED] DIR
 *
 *   -p PROCS     worker processes (default 6)       -t SECONDS  run time (default 10)
 *   -d DIRS      shared directories (default 3)     -n NAMES    names per directory (24)
 *   -E MAXIOERR  EIO/ESTALE tolerated in all (2)    -H HANGSECS no progress for this long
 *                                                               is a hang (default 20)
 *   -s SEED      seed of the workers' choices (default: time, printed)
 *   -W MAXSTALE  stale tags tolerated in all (default 0): a held fd that reads back an
 *                older tag of its own at its own offset. In a write-through cached mode
 *                with AUTO_INVAL_DATA (the passthrough's cache=auto, libfuse's too) the
 *                kernel lets a READ put back bytes a WRITE replaced, a race no server can
 *                order (docs/kernel-notes.md §13). Each is printed; any other wrong tag is
 *                unexpected.
 *
 * Works in DIR/stress.XXXXXX with subdirectories d0..d<DIRS-1>, names f0..f<NAMES-1>.
 * Worker i has role i % 6: 0 creator (O_CREAT|O_EXCL + a 64-byte header, unlink),
 * 1 renamer (rename, renameat2 NOREPLACE/EXCHANGE, across directories), 2 linker (link,
 * unlink), 3 stater (stat, lstat, readdir, open + read the header), 4 and 5 holders (open
 * up to 8 files O_RDWR and keep them 5-500 ms; through each fd write a tag at an offset
 * of their own, read it back, fstat; unlink now and then so held files lose their names).
 * Every role does a little of the others' work too.
 *
 * Expected and counted: ENOENT and EEXIST (the races are the point). Tolerated up to
 * MAXIOERR in all: EIO and ESTALE (each printed). Anything else is unexpected: another
 * errno (ENOTCONN when the server died, EBADF, ...), a tag that does not read back, a
 * header that is neither zeros nor ours, a non-regular file, a bad readdir entry, a worker
 * killed by a signal, or one that makes no progress for HANGSECS (reported with its
 * operation and kernel wait channel, then killed; workers still there 30 s after the end
 * are killed the same way). When the workers are done: every listed name must stat, every
 * name that stats must be listed, and each inode's st_nlink must equal the number of its
 * names; then everything is removed.
 *
 * Last line: "stressor: P procs, T s: ... N unexpected". Exit 0 only if nothing unexpected
 * happened and EIO+ESTALE <= MAXIOERR.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
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

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

#define MAX_PROCS   64
#define MAX_DIRS    16
#define MAX_NAMES   1000
#define SLOTS       8            /* files a holder keeps open at once */
#define HDR_LEN     64
#define TAG_LEN     32
#define SLOT_SPACE  512          /* bytes between holders' tag offsets */
#define MAX_REPORT  8            /* unexpected errors printed per process */
#define GRACE_S     30

enum op {
	OP_CREATE, OP_UNLINK, OP_RENAME, OP_RENAME2, OP_LINK, OP_STAT, OP_READDIR, OP_READHDR,
	OP_HOLD_OPEN, OP_HOLD_IO, OP_HOLD_CLOSE, OP_N
};
static const char *const op_names[OP_N] = {
	"create", "unlink", "rename", "renameat2", "link", "stat", "readdir", "readhdr",
	"open-hold", "held-io", "close-held",
};

/* Weights of the operations per role (roles: creator, renamer, linker, stater, holder x2). */
static const unsigned role_w[6][OP_N] = {
	/* cre unl ren re2 lnk sta rdd hdr hop hio */
	{ 12, 5, 1, 0, 1, 1, 0, 0, 0, 0 },
	{ 2, 1, 10, 4, 0, 1, 0, 0, 0, 0 },
	{ 2, 4, 1, 0, 10, 1, 0, 0, 0, 0 },
	{ 1, 0, 0, 0, 0, 8, 3, 5, 0, 0 },
	{ 1, 1, 0, 0, 0, 1, 0, 0, 4, 8 },
	{ 1, 1, 1, 0, 1, 1, 0, 0, 4, 8 },
};

struct shared {
	atomic_ulong n[OP_N];           /* successful operations */
	atomic_ulong expected;          /* ENOENT / EEXIST */
	atomic_ulong ioerr;             /* EIO / ESTALE */
	atomic_ulong unexpected;
	atomic_ulong checked;           /* tags read back and compared */
	atomic_ulong stale;             /* older tags of the reader's own (-W) */
	atomic_int rename2_off;         /* renameat2 unsupported: stop trying */
	struct {
		_Atomic double beat;    /* last progress, CLOCK_MONOTONIC s */
		atomic_int op;
	} w[MAX_PROCS];
};

static struct shared *sh;
static char top[3072];
static int ndirs = 3, nnames = 24, procs = 6, me, maxstale;
static unsigned long reported;
static uint64_t rs;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rnd(void)
{
	uint64_t z = (rs += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned rndn(unsigned n)
{
	return (unsigned)(rnd() % n);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	if (reported++ >= MAX_REPORT)
		return;
	printf("proc %d: ", me);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void unexpected(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void unexpected(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	atomic_fetch_add(&sh->unexpected, 1);
	say("unexpected: %s", msg);
}

/* Classify a failed call's errno. @ok_exist: EEXIST is an expected outcome here. */
static void failed(const char *what, const char *a, const char *b, int err, bool ok_exist)
{
	if (err == ENOENT || (ok_exist && err == EEXIST)) {
		atomic_fetch_add(&sh->expected, 1);
	} else if (err == EIO || err == ESTALE) {
		atomic_fetch_add(&sh->ioerr, 1);
		say("%s %s%s%s: %s (counted against the EIO/ESTALE tolerance)", what, a,
		    b ? " -> " : "", b ? b : "", strerror(err));
	} else {
		unexpected("%s %s%s%s: %s", what, a, b ? " -> " : "", b ? b : "", strerror(err));
	}
}

static void beat(int op)
{
	atomic_store(&sh->w[me].op, op);
	atomic_store(&sh->w[me].beat, now_s());
}

static void rand_name(char *out, size_t sz, int *d, int *n)
{
	int dd = (int)rndn((unsigned)ndirs), nn = (int)rndn((unsigned)nnames);

	snprintf(out, sz, "%s/d%d/f%d", top, dd, nn);
	if (d)
		*d = dd;
	if (n)
		*n = nn;
}

/* ---- namespace operations ------------------------------------------------------------ */

static unsigned long seq;

static void make_header(char *h)
{
	int n = snprintf(h, HDR_LEN, "STRESSOR w=%02d n=%08lu pid=%ld ", me, seq++, (long)getpid());

	memset(h + n, '.', (size_t)(HDR_LEN - n - 1));
	h[HDR_LEN - 1] = '\n';
}

static bool header_ok(const char *h, ssize_t n)
{
	ssize_t i;

	if (n == 0)
		return true;
	if (n == HDR_LEN && !strncmp(h, "STRESSOR w=", 11) && h[HDR_LEN - 1] == '\n')
		return true;
	for (i = 0; i < n; i++)
		if (h[i])
			return false;
	return n == HDR_LEN;    /* all zeros: created, header not written yet, tags beyond */
}

static void op_create(void)
{
	char p[4096], h[HDR_LEN];
	int fd;
	ssize_t w;

	rand_name(p, sizeof(p), NULL, NULL);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0)
		return failed("create", p, NULL, errno, true);
	make_header(h);
	w = pwrite(fd, h, HDR_LEN, 0);
	if (w != HDR_LEN) {
		if (w < 0)
			failed("write header", p, NULL, errno, false);
		else
			unexpected("write header %s: short write %zd", p, w);
	}
	if (close(fd) < 0)
		failed("close after create", p, NULL, errno, false);
	atomic_fetch_add(&sh->n[OP_CREATE], 1);
}

static void op_unlink(void)
{
	char p[4096];

	rand_name(p, sizeof(p), NULL, NULL);
	if (unlink(p) < 0)
		return failed("unlink", p, NULL, errno, false);
	atomic_fetch_add(&sh->n[OP_UNLINK], 1);
}

static void op_rename(bool two)
{
	char a[4096], b[4096];
	unsigned flags = 0;

	rand_name(a, sizeof(a), NULL, NULL);
	rand_name(b, sizeof(b), NULL, NULL);
	if (two) {
		if (atomic_load(&sh->rename2_off))
			two = false;
		else
			flags = rndn(2) ? RENAME_NOREPLACE : RENAME_EXCHANGE;
	}
	if (two) {
		if (renameat2(AT_FDCWD, a, AT_FDCWD, b, flags) < 0) {
			if (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) {
				if (!atomic_exchange(&sh->rename2_off, 1))
					printf("proc %d: note: renameat2 %s: %s; not used any more\n",
					       me, flags == RENAME_NOREPLACE ? "NOREPLACE" : "EXCHANGE",
					       strerror(errno));
				return;
			}
			return failed(flags == RENAME_NOREPLACE ? "rename NOREPLACE" :
				      "rename EXCHANGE", a, b, errno, true);
		}
		atomic_fetch_add(&sh->n[OP_RENAME2], 1);
		return;
	}
	if (rename(a, b) < 0)
		return failed("rename", a, b, errno, false);
	atomic_fetch_add(&sh->n[OP_RENAME], 1);
}

static void op_link(void)
{
	char a[4096], b[4096];

	rand_name(a, sizeof(a), NULL, NULL);
	rand_name(b, sizeof(b), NULL, NULL);
	if (link(a, b) < 0)
		return failed("link", a, b, errno, true);
	atomic_fetch_add(&sh->n[OP_LINK], 1);
}

static off_t max_size(void)
{
	return (off_t)SLOT_SPACE * (1 + (off_t)procs * SLOTS + SLOTS) + TAG_LEN;
}

static void check_stat(const char *what, const char *p, const struct stat *st)
{
	if (!S_ISREG(st->st_mode))
		unexpected("%s %s: not a regular file (mode 0%o)", what, p, (unsigned)st->st_mode);
	else if (st->st_size < 0 || st->st_size > max_size())
		unexpected("%s %s: size %lld out of range", what, p, (long long)st->st_size);
	else if (st->st_nlink > (nlink_t)(ndirs * nnames))
		unexpected("%s %s: st_nlink %lu > %d names", what, p, (unsigned long)st->st_nlink,
			   ndirs * nnames);
}

static void op_stat(void)
{
	char p[4096];
	struct stat st;
	bool l = rndn(2);

	rand_name(p, sizeof(p), NULL, NULL);
	if ((l ? lstat(p, &st) : stat(p, &st)) < 0)
		return failed(l ? "lstat" : "stat", p, NULL, errno, false);
	check_stat(l ? "lstat" : "stat", p, &st);
	atomic_fetch_add(&sh->n[OP_STAT], 1);
}

static bool name_ok(const char *n)
{
	char *end;
	long v;

	if (n[0] != 'f' || !n[1])
		return false;
	v = strtol(n + 1, &end, 10);
	return !*end && v >= 0 && v < nnames;
}

static void op_readdir(void)
{
	char p[3200];
	struct dirent *de;
	DIR *d;

	snprintf(p, sizeof(p), "%s/d%u", top, rndn((unsigned)ndirs));
	d = opendir(p);
	if (!d) {
		unexpected("opendir %s: %s", p, strerror(errno));
		return;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de)
			break;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!name_ok(de->d_name))
			unexpected("readdir %s: unexpected name \"%s\"", p, de->d_name);
		else if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			unexpected("readdir %s: %s has d_type %d", p, de->d_name, de->d_type);
	}
	if (errno)
		failed("readdir", p, NULL, errno, false);
	if (closedir(d) < 0)
		unexpected("closedir %s: %s", p, strerror(errno));
	atomic_fetch_add(&sh->n[OP_READDIR], 1);
}

static void op_readhdr(void)
{
	char p[4096], h[HDR_LEN];
	struct stat st;
	ssize_t n;
	int fd;

	rand_name(p, sizeof(p), NULL, NULL);
	fd = open(p, O_RDONLY);
	if (fd < 0)
		return failed("open", p, NULL, errno, false);
	n = pread(fd, h, HDR_LEN, 0);
	if (n < 0)
		failed("read header", p, NULL, errno, false);
	else if (!header_ok(h, n))
		unexpected("header of %s: %zd bytes, neither zeros nor ours: \"%.*s\"", p, n,
			   (int)n, h);
	if (fstat(fd, &st) < 0)
		failed("fstat", p, NULL, errno, false);
	else
		check_stat("fstat", p, &st);
	if (close(fd) < 0)
		failed("close", p, NULL, errno, false);
	atomic_fetch_add(&sh->n[OP_READHDR], 1);
}

/* ---- held files ---------------------------------------------------------------------- */

struct held {
	int fd;
	double until;
	off_t off;
	char tag[TAG_LEN];
	char name[4096];
};
static struct held slots[SLOTS];

static void new_tag(struct held *h)
{
	int n = snprintf(h->tag, TAG_LEN, "TAG w%02d s%d %lu ", me, (int)(h - slots), seq++);

	memset(h->tag + n, '#', (size_t)(TAG_LEN - n - 1));
	h->tag[TAG_LEN - 1] = '\n';
}

static void held_write(struct held *h)
{
	ssize_t w;

	new_tag(h);
	w = pwrite(h->fd, h->tag, TAG_LEN, h->off);
	if (w != TAG_LEN) {
		if (w < 0)
			failed("pwrite to held fd of", h->name, NULL, errno, false);
		else
			unexpected("pwrite to held fd of %s: short write %zd", h->name, w);
		h->tag[0] = '\0';       /* unknown contents now */
	}
}

/* @got is a tag this process wrote through the same slot before @h's current one. */
static bool older_own_tag(const struct held *h, const char *got)
{
	char a[TAG_LEN + 1], b[TAG_LEN + 1];
	int w, slot, w2, slot2;
	unsigned long seq_got, seq_now;

	memcpy(a, got, TAG_LEN);
	memcpy(b, h->tag, TAG_LEN);
	a[TAG_LEN] = b[TAG_LEN] = '\0';
	return sscanf(a, "TAG w%d s%d %lu ", &w, &slot, &seq_got) == 3 &&
	       sscanf(b, "TAG w%d s%d %lu ", &w2, &slot2, &seq_now) == 3 &&
	       w == me && w2 == me && slot == slot2 && seq_got < seq_now;
}

static void held_check(struct held *h)
{
	char got[TAG_LEN];
	struct stat st;
	ssize_t n;

	if (!h->tag[0])
		return;
	n = pread(h->fd, got, TAG_LEN, h->off);
	if (n < 0) {
		failed("pread from held fd of", h->name, NULL, errno, false);
		return;
	}
	atomic_fetch_add(&sh->checked, 1);
	if (n == TAG_LEN && memcmp(got, h->tag, TAG_LEN) && maxstale && older_own_tag(h, got)) {
		atomic_fetch_add(&sh->stale, 1);
		printf("proc %d: stale tag (tolerated up to %d, docs/kernel-notes.md §13): held fd "
		       "of %s at %lld reads \"%.*s\", wrote \"%.*s\"\n", me, maxstale, h->name,
		       (long long)h->off, TAG_LEN - 1, got, TAG_LEN - 1, h->tag);
	} else if (n != TAG_LEN || memcmp(got, h->tag, TAG_LEN))
		unexpected("held fd of %s (opened by that name): tag at %lld reads back wrong: "
			   "%zd bytes \"%.*s\", wrote \"%.*s\"", h->name, (long long)h->off, n,
			   (int)(n > 0 ? n - 1 : 0), got, TAG_LEN - 1, h->tag);
	if (fstat(h->fd, &st) < 0)
		failed("fstat of held fd of", h->name, NULL, errno, false);
	else if (!S_ISREG(st.st_mode) || st.st_size < h->off + TAG_LEN)
		unexpected("fstat of held fd of %s: mode 0%o size %lld, wrote up to %lld", h->name,
			   (unsigned)st.st_mode, (long long)st.st_size, (long long)(h->off + TAG_LEN));
}

static void held_close(struct held *h)
{
	beat(OP_HOLD_CLOSE);
	held_check(h);
	if (close(h->fd) < 0)
		failed("close held fd of", h->name, NULL, errno, false);
	h->fd = -1;
	atomic_fetch_add(&sh->n[OP_HOLD_CLOSE], 1);
}

static void op_hold_open(void)
{
	struct held *h = NULL;
	int i;

	for (i = 0; i < SLOTS && !h; i++)
		if (slots[i].fd < 0)
			h = &slots[i];
	if (!h)
		return;
	rand_name(h->name, sizeof(h->name), NULL, NULL);
	h->fd = open(h->name, O_RDWR);
	if (h->fd < 0)
		return failed("open for holding", h->name, NULL, errno, false);
	h->until = now_s() + 0.005 + (double)rndn(496) / 1000.0;
	h->off = (off_t)SLOT_SPACE * (1 + (off_t)me * SLOTS + (h - slots));
	held_write(h);
	atomic_fetch_add(&sh->n[OP_HOLD_OPEN], 1);
}

static void op_hold_io(void)
{
	struct held *h = &slots[rndn(SLOTS)];

	if (h->fd < 0)
		return op_hold_open();
	held_check(h);
	held_write(h);
	atomic_fetch_add(&sh->n[OP_HOLD_IO], 1);
}

static void close_expired(double t, bool all)
{
	int i;

	for (i = 0; i < SLOTS; i++)
		if (slots[i].fd >= 0 && (all || t >= slots[i].until))
			held_close(&slots[i]);
}

static int run(double end)
{
	const unsigned *w = role_w[me % 6];
	unsigned total = 0, i;
	double t;

	for (i = 0; i < SLOTS; i++)
		slots[i].fd = -1;
	for (i = 0; i < OP_N; i++)
		total += w[i];
	while ((t = now_s()) < end) {
		unsigned x = rndn(total);
		int op = 0;

		close_expired(t, false);
		while (x >= w[op])
			x -= w[op++];
		beat(op);
		switch (op) {
		case OP_CREATE: op_create(); break;
		case OP_UNLINK: op_unlink(); break;
		case OP_RENAME: op_rename(false); break;
		case OP_RENAME2: op_rename(true); break;
		case OP_LINK: op_link(); break;
		case OP_STAT: op_stat(); break;
		case OP_READDIR: op_readdir(); break;
		case OP_READHDR: op_readhdr(); break;
		case OP_HOLD_OPEN: op_hold_open(); break;
		case OP_HOLD_IO: op_hold_io(); break;
		}
	}
	close_expired(0, true);
	beat(OP_N);
	return 0;
}

/* ---- after the run: the namespace must be consistent --------------------------------- */

struct inode_count {
	dev_t dev;
	ino_t ino;
	nlink_t nlink;
	int names;
	char first[64];
};

/* Messages of the final check and the cleanup: the first few, then a count. */
static unsigned long nmsg;

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	va_list ap;

	if (nmsg++ >= 10)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

static unsigned long final_checks(unsigned long *nfiles, unsigned long *nnames_seen)
{
	struct inode_count *ic = calloc((size_t)(ndirs * nnames), sizeof(*ic));
	unsigned long bad = 0;
	int nic = 0, d, n, i;

	if (!ic)
		return 1;
	for (d = 0; d < ndirs; d++) {
		char dp[3200];
		char *listed = calloc((size_t)nnames, 1);
		struct dirent *de;
		DIR *dir;

		snprintf(dp, sizeof(dp), "%s/d%d", top, d);
		dir = opendir(dp);
		if (!dir || !listed) {
			note("final: opendir %s: %s\n", dp, strerror(errno));
			free(listed);
			bad++;
			continue;
		}
		while ((de = readdir(dir))) {
			if (name_ok(de->d_name))
				listed[atoi(de->d_name + 1)]++;
		}
		closedir(dir);
		for (n = 0; n < nnames; n++) {
			char p[4096];
			struct stat st;
			int r;

			snprintf(p, sizeof(p), "%s/f%d", dp, n);
			r = lstat(p, &st);
			if (listed[n] > 1) {
				note("final: %s listed %d times\n", p, listed[n]);
				bad++;
			}
			if (r < 0 && listed[n]) {
				note("final: %s listed but lstat fails: %s\n", p, strerror(errno));
				bad++;
			} else if (r == 0 && !listed[n]) {
				note("final: %s stats but is not listed\n", p);
				bad++;
			}
			if (r < 0)
				continue;
			(*nnames_seen)++;
			for (i = 0; i < nic; i++)
				if (ic[i].dev == st.st_dev && ic[i].ino == st.st_ino)
					break;
			if (i == nic) {
				ic[nic].dev = st.st_dev;
				ic[nic].ino = st.st_ino;
				ic[nic].nlink = st.st_nlink;
				snprintf(ic[nic].first, sizeof(ic[nic].first), "d%d/f%d", d, n);
				nic++;
			} else if (ic[i].nlink != st.st_nlink) {
				note("final: d%d/f%d and %s (inode %lu) disagree on st_nlink: %lu vs %lu\n",
				       d, n, ic[i].first, (unsigned long)st.st_ino,
				       (unsigned long)st.st_nlink, (unsigned long)ic[i].nlink);
				bad++;
			}
			ic[i].names++;
		}
		free(listed);
	}
	for (i = 0; i < nic; i++) {
		if ((nlink_t)ic[i].names != ic[i].nlink) {
			note("final: inode %lu (%s): st_nlink %lu but %d names found\n",
			       (unsigned long)ic[i].ino, ic[i].first, (unsigned long)ic[i].nlink,
			       ic[i].names);
			bad++;
		}
	}
	*nfiles = (unsigned long)nic;
	free(ic);
	return bad;
}

static unsigned long remove_all(void)
{
	unsigned long bad = 0;
	int d, n;

	for (d = 0; d < ndirs; d++) {
		char dp[3200];

		snprintf(dp, sizeof(dp), "%s/d%d", top, d);
		for (n = 0; n < nnames; n++) {
			char p[4096];

			snprintf(p, sizeof(p), "%s/f%d", dp, n);
			if (unlink(p) < 0 && errno != ENOENT) {
				note("cleanup: unlink %s: %s\n", p, strerror(errno));
				bad++;
			}
		}
		if (rmdir(dp) < 0) {
			note("cleanup: rmdir %s: %s\n", dp, strerror(errno));
			bad++;
		}
	}
	if (rmdir(top) < 0) {
		note("cleanup: rmdir %s: %s\n", top, strerror(errno));
		bad++;
	}
	return bad;
}

static void show_wchan(pid_t pid)
{
	char p[64], w[128] = "?";
	FILE *f;

	snprintf(p, sizeof(p), "/proc/%ld/wchan", (long)pid);
	f = fopen(p, "r");
	if (f) {
		if (!fgets(w, sizeof(w), f))
			snprintf(w, sizeof(w), "?");
		fclose(f);
	}
	printf("  (pid %ld kernel wait channel: %s)\n", (long)pid, w);
}

int main(int argc, char **argv)
{
	int opt, i, hung = 0, crashed = 0, bad_exit = 0, maxioerr = 2, alive;
	double secs = 10, hang_s = 20, start, end;
	unsigned long long seed = 0;
	bool seed_set = false;
	unsigned long final_bad, cleanup_bad, nfiles = 0, nseen = 0, unexp;
	pid_t pids[MAX_PROCS];
	bool done_[MAX_PROCS] = { false };
	double killed_at[MAX_PROCS] = { 0 };
	int status;

	while ((opt = getopt(argc, argv, "p:t:d:n:E:H:W:s:")) != -1) {
		switch (opt) {
		case 'p': procs = atoi(optarg); break;
		case 't': secs = atof(optarg); break;
		case 'd': ndirs = atoi(optarg); break;
		case 'n': nnames = atoi(optarg); break;
		case 'E': maxioerr = atoi(optarg); break;
		case 'H': hang_s = atof(optarg); break;
		case 'W': maxstale = atoi(optarg); break;
		case 's': seed = strtoull(optarg, NULL, 0); seed_set = true; break;
		default: goto usage;
		}
	}
	if (argc - optind != 1 || procs < 1 || procs > MAX_PROCS || secs <= 0 || ndirs < 1 ||
	    ndirs > MAX_DIRS || nnames < 1 || nnames > MAX_NAMES || maxioerr < 0 || hang_s <= 0 ||
	    maxstale < 0)
		goto usage;
	if (!seed_set)
		seed = (unsigned long long)time(NULL) % 1000000;
	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(top, sizeof(top), "%s/stress.XXXXXX", argv[optind]);
	if (!mkdtemp(top)) {
		fprintf(stderr, "stressor: mkdtemp %s: %s\n", top, strerror(errno));
		return 1;
	}
	for (i = 0; i < ndirs; i++) {
		char dp[3200];

		snprintf(dp, sizeof(dp), "%s/d%d", top, i);
		if (mkdir(dp, 0755) < 0) {
			fprintf(stderr, "stressor: mkdir %s: %s\n", dp, strerror(errno));
			return 1;
		}
	}
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("stressor: mmap");
		return 1;
	}
	memset(sh, 0, sizeof(*sh));
	printf("stressor: %s: %d procs, %.0f s, %d dirs x %d names, seed %llu\n", top, procs,
	       secs, ndirs, nnames, seed);
	start = now_s();
	end = start + secs;
	for (i = 0; i < procs; i++) {
		atomic_store(&sh->w[i].beat, start);
		pids[i] = fork();
		if (pids[i] < 0) {
			perror("stressor: fork");
			procs = i;
			bad_exit = 1;
			break;
		}
		if (pids[i] == 0) {
			me = i;
			rs = seed * 1000003ULL + (unsigned long long)i;
			_exit(run(end));
		}
	}
	/*
	 * Watch: reap, and kill workers that stop making progress. A worker killed while its
	 * request sits in a stopped server cannot exit until the server answers: do not wait
	 * for it here (the caller's timeout bounds the whole run), keep watching the others.
	 */
	for (alive = procs; alive > 0;) {
		double t = now_s();

		for (i = 0; i < procs; i++) {
			pid_t r;
			double last;

			if (done_[i])
				continue;
			r = waitpid(pids[i], &status, WNOHANG);
			if (r == pids[i]) {
				done_[i] = true;
				alive--;
				if (killed_at[i] > 0)
					continue;       /* our SIGKILL, already reported as hung */
				if (WIFSIGNALED(status)) {
					printf("proc %d (pid %ld): killed by signal %d (%s)\n", i,
					       (long)pids[i], WTERMSIG(status),
					       strsignal(WTERMSIG(status)));
					crashed++;
				} else if (WEXITSTATUS(status) != 0) {
					bad_exit = 1;
				}
				continue;
			}
			if (killed_at[i] > 0) {
				if (t - killed_at[i] > GRACE_S) {
					printf("proc %d (pid %ld): still there %d s after SIGKILL; not "
					       "waited for\n", i, (long)pids[i], GRACE_S);
					show_wchan(pids[i]);
					done_[i] = true;
					alive--;
				}
				continue;
			}
			last = atomic_load(&sh->w[i].beat);
			if (t - last > hang_s || t > end + GRACE_S) {
				int op = atomic_load(&sh->w[i].op);

				printf("proc %d (pid %ld): hung: no progress for %.1f s in %s%s; killed\n",
				       i, (long)pids[i], t - last, op < OP_N ? op_names[op] : "exit",
				       t > end + GRACE_S ? " (past the end + 30 s)" : "");
				show_wchan(pids[i]);
				kill(pids[i], SIGKILL);
				killed_at[i] = t;
				hung++;
			}
		}
		if (alive)
			usleep(20000);
	}
	final_bad = final_checks(&nfiles, &nseen);
	cleanup_bad = remove_all();
	if (nmsg > 10)
		printf("(%lu more final/cleanup messages not shown)\n", nmsg - 10);
	unexp = atomic_load(&sh->unexpected);
	printf("stressor: %d procs, %.1f s: %lu creates, %lu unlinks, %lu renames, %lu renameat2, "
	       "%lu links, %lu stats, %lu readdirs, %lu header reads, %lu held opens, "
	       "%lu held I/O, %lu held closes, %lu tags checked; %lu expected ENOENT/EEXIST, "
	       "%lu EIO/ESTALE (tolerated %d), %lu stale tags (tolerated %d); final: %lu names of %lu files, %lu inconsistent; "
	       "cleanup %lu errors; %d crashed, %d hung; %lu unexpected\n",
	       procs, now_s() - start, atomic_load(&sh->n[OP_CREATE]),
	       atomic_load(&sh->n[OP_UNLINK]), atomic_load(&sh->n[OP_RENAME]),
	       atomic_load(&sh->n[OP_RENAME2]), atomic_load(&sh->n[OP_LINK]),
	       atomic_load(&sh->n[OP_STAT]), atomic_load(&sh->n[OP_READDIR]),
	       atomic_load(&sh->n[OP_READHDR]), atomic_load(&sh->n[OP_HOLD_OPEN]),
	       atomic_load(&sh->n[OP_HOLD_IO]), atomic_load(&sh->n[OP_HOLD_CLOSE]),
	       atomic_load(&sh->checked), atomic_load(&sh->expected), atomic_load(&sh->ioerr),
	       maxioerr, atomic_load(&sh->stale), maxstale, nseen, nfiles, final_bad, cleanup_bad, crashed, hung, unexp);
	return unexp || final_bad || cleanup_bad || crashed || hung || bad_exit ||
	       atomic_load(&sh->ioerr) > (unsigned long)maxioerr ||
	       atomic_load(&sh->stale) > (unsigned long)maxstale ? 1 : 0;
usage:
	fprintf(stderr, "usage: stressor [-p PROCS] [-t SECONDS] [-d DIRS] [-n NAMES] "
		"[-E MAXIOERR] [-H HANGSECS] [-W MAXSTALE] [-s SEED] DIR\n");
	return 2;
}
