/* SPDX-License-Identifier: MIT */
/*
 * test_inline.c - the policy of where backing calls run (runtime/src/inline.c): the class
 * of each filesystem type, the decision for every mode, class and kind of call, the
 * latency cut-off that demotes a disk filesystem, and the per-fd cache (forget, inherit);
 * through the fake kernel, which sources rf_backing_flush_needed lets an OPEN go without
 * FLUSH. Latencies are fed in, never measured: nothing here depends on timing.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <linux/magic.h>

#include <criterion/criterion.h>

#include "fake_kernel.h"
#include "internal.h"

struct magic_case {
	long type;
	int cls;
};

static const struct magic_case magics[] = {
	{ TMPFS_MAGIC, RF_SRC_MEMORY },
	{ RAMFS_MAGIC, RF_SRC_MEMORY },
	{ EXT4_SUPER_MAGIC, RF_SRC_LOCAL },
	{ XFS_SUPER_MAGIC, RF_SRC_LOCAL },
	{ BTRFS_SUPER_MAGIC, RF_SRC_LOCAL },
	{ 0xF2F52010, RF_SRC_LOCAL },          /* f2fs */
	{ NFS_SUPER_MAGIC, RF_SRC_REMOTE },
	{ 0x65735546, RF_SRC_REMOTE },         /* FUSE: another server, maybe slow */
	{ 0xFF534D42, RF_SRC_REMOTE },         /* CIFS */
	{ OVERLAYFS_SUPER_MAGIC, RF_SRC_REMOTE },
	{ PROC_SUPER_MAGIC, RF_SRC_REMOTE },
	{ 0, RF_SRC_REMOTE },                  /* unknown */
};

Test(inline, filesystem_types_map_to_their_class)
{
	size_t i;

	for (i = 0; i < sizeof(magics) / sizeof(magics[0]); i++)
		cr_expect_eq(rf__inline_class_of_magic(magics[i].type), magics[i].cls,
			     "magic 0x%lx", (unsigned long)magics[i].type);
}

/* An fd (a pipe end) bound to a made-up filesystem of @type; fsid @id keeps each test's
 * filesystem apart from the others' (the table is process-wide). */
static int fake_fd(long type, int id, int *slot)
{
	int p[2];
	fsid_t fsid;

	cr_assert_eq(pipe(p), 0);
	close(p[1]);
	memset(&fsid, 0, sizeof(fsid));
	memcpy(&fsid, &id, sizeof(id));
	*slot = rf__inline_slot_of_fs(type, &fsid);
	cr_assert_geq(*slot, 0);
	rf__inline_bind(p[0], *slot);
	return p[0];
}

struct how_case {
	int mode;
	long type;
	enum rf_inline_kind kind;
	int want;
};

static const struct how_case hows[] = {
	/* never: the ring, whatever the source */
	{ RF_INLINE_NEVER, TMPFS_MAGIC, RF_IK_NAME, RF_RUN_RING },
	{ RF_INLINE_NEVER, TMPFS_MAGIC, RF_IK_DATA, RF_RUN_RING },
	{ RF_INLINE_NEVER, EXT4_SUPER_MAGIC, RF_IK_LOOKUP, RF_RUN_RING },
	/* always: in place, whatever the source */
	{ RF_INLINE_ALWAYS, 0x65735546, RF_IK_DATA, RF_RUN_INLINE },
	{ RF_INLINE_ALWAYS, NFS_SUPER_MAGIC, RF_IK_NAME, RF_RUN_INLINE },
	{ RF_INLINE_ALWAYS, EXT4_SUPER_MAGIC, RF_IK_SYNC, RF_RUN_INLINE },
	/* auto, memory: everything in place */
	{ RF_INLINE_AUTO, TMPFS_MAGIC, RF_IK_DATA, RF_RUN_INLINE },
	{ RF_INLINE_AUTO, TMPFS_MAGIC, RF_IK_SYNC, RF_RUN_INLINE },
	{ RF_INLINE_AUTO, TMPFS_MAGIC, RF_IK_NAME, RF_RUN_INLINE },
	{ RF_INLINE_AUTO, RAMFS_MAGIC, RF_IK_LOOKUP, RF_RUN_INLINE },
	/* auto, disk: names in place (lookups dcache-only first), data and sync on the ring */
	{ RF_INLINE_AUTO, EXT4_SUPER_MAGIC, RF_IK_NAME, RF_RUN_INLINE },
	{ RF_INLINE_AUTO, XFS_SUPER_MAGIC, RF_IK_LOOKUP, RF_RUN_CACHED },
	{ RF_INLINE_AUTO, BTRFS_SUPER_MAGIC, RF_IK_DATA, RF_RUN_RING },
	{ RF_INLINE_AUTO, EXT4_SUPER_MAGIC, RF_IK_SYNC, RF_RUN_RING },
	/* auto, network or FUSE: the ring for everything */
	{ RF_INLINE_AUTO, NFS_SUPER_MAGIC, RF_IK_NAME, RF_RUN_RING },
	{ RF_INLINE_AUTO, 0x65735546, RF_IK_LOOKUP, RF_RUN_RING },
	{ RF_INLINE_AUTO, 0x65735546, RF_IK_DATA, RF_RUN_RING },
};

Test(inline, each_mode_class_and_kind_decides_as_documented)
{
	size_t i;

	for (i = 0; i < sizeof(hows) / sizeof(hows[0]); i++) {
		struct rf_inline_ticket t;
		int slot, fd = fake_fd(hows[i].type, 1000 + (int)i, &slot);

		cr_expect_eq(rf__inline_how(hows[i].mode, fd, hows[i].kind, &t), hows[i].want,
			     "case %zu: mode %d, magic 0x%lx, kind %d", i, hows[i].mode,
			     (unsigned long)hows[i].type, hows[i].kind);
		rf_backing_forget_fd(fd);
		close(fd);
	}
}

Test(inline, an_fd_nobody_can_classify_goes_to_the_ring)
{
	struct rf_inline_ticket t;

	cr_expect_eq(rf__inline_how(RF_INLINE_AUTO, -1, RF_IK_NAME, &t), RF_RUN_RING);
	cr_expect_eq(rf__inline_how(RF_INLINE_AUTO, 1 << 30, RF_IK_NAME, &t), RF_RUN_RING);
}

Test(inline, a_disk_whose_calls_get_slow_is_demoted_to_the_ring)
{
	struct rf_inline_ticket t;
	int slot, i, fd = fake_fd(EXT4_SUPER_MAGIC, 2001, &slot);

	/* Slow calls spread over more than a window never add up. */
	for (i = 0; i < 3 * RF_INLINE_WINDOW; i++)
		rf__inline_note(slot, i % (RF_INLINE_WINDOW / 4) == 0 ? 10 * RF_INLINE_SLOW_NS : 1000);
	cr_expect_not(rf__inline_demoted(slot), "a few slow calls per window demote nothing");
	cr_expect_eq(rf__inline_how(RF_INLINE_AUTO, fd, RF_IK_NAME, &t), RF_RUN_INLINE);

	/* A fresh window: SLOW_MAX - 1 slow calls are tolerated, the next one demotes. */
	for (i = 0; i < RF_INLINE_WINDOW; i++)
		rf__inline_note(slot, 1000);
	for (i = 0; i < RF_INLINE_SLOW_MAX - 1; i++)
		rf__inline_note(slot, RF_INLINE_SLOW_NS + 1);
	cr_expect_not(rf__inline_demoted(slot));
	rf__inline_note(slot, RF_INLINE_SLOW_NS + 1);
	cr_expect(rf__inline_demoted(slot));
	cr_expect_eq(rf__inline_how(RF_INLINE_AUTO, fd, RF_IK_NAME, &t), RF_RUN_RING);
	cr_expect_eq(rf__inline_how(RF_INLINE_AUTO, fd, RF_IK_LOOKUP, &t), RF_RUN_RING);
	/* always is always. */
	cr_expect_eq(rf__inline_how(RF_INLINE_ALWAYS, fd, RF_IK_NAME, &t), RF_RUN_INLINE);
	rf_backing_forget_fd(fd);
	close(fd);
}

Test(inline, memory_filesystems_are_not_timed)
{
	struct rf_inline_ticket t;
	int slot, i, fd = fake_fd(TMPFS_MAGIC, 2002, &slot);

	cr_expect_eq(rf__inline_how(RF_INLINE_AUTO, fd, RF_IK_NAME, &t), RF_RUN_INLINE);
	cr_expect_eq(t.slot, -1, "no clock read for tmpfs");
	for (i = 0; i < 2 * RF_INLINE_SLOW_MAX; i++)
		rf__inline_done(&t);
	cr_expect_not(rf__inline_demoted(slot));
	rf_backing_forget_fd(fd);
	close(fd);
}

/* The real thing: fstatfs of /proc says proc (the ring), of /dev/shm tmpfs (in place). */
Test(inline, the_cache_follows_forget_and_inherit)
{
	struct rf_inline_ticket t;
	int slot, fake = fake_fd(TMPFS_MAGIC, 2003, &slot);
	int proc = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	int num, dup_fd;

	cr_assert_geq(proc, 0);
	cr_expect_eq(rf__inline_how(RF_INLINE_AUTO, proc, RF_IK_DATA, &t), RF_RUN_RING,
		     "procfs is not a memory filesystem here");
	/* inherit: a new fd on the same filesystem as @fake, without asking the kernel. */
	dup_fd = dup(proc);
	cr_assert_geq(dup_fd, 0);
	rf_backing_fd_inherit(dup_fd, fake);
	cr_expect_eq(rf__inline_slot(dup_fd), slot);
	cr_expect_eq(rf__inline_how(RF_INLINE_AUTO, dup_fd, RF_IK_DATA, &t), RF_RUN_INLINE);
	/* Without a forget the stale entry stays (why the API asks for one before close)... */
	num = fake;
	close(fake);
	cr_assert_eq(dup2(proc, num), num);
	cr_expect_eq(rf__inline_slot(num), slot, "the number still maps to the old slot");
	/* ...and after it the fd is looked at afresh. */
	rf_backing_forget_fd(num);
	cr_expect_neq(rf__inline_slot(num), slot);
	cr_expect_eq(rf__inline_how(RF_INLINE_AUTO, num, RF_IK_DATA, &t), RF_RUN_RING);
	rf_backing_forget_fd(dup_fd);
	rf_backing_forget_fd(num);
	close(dup_fd);
	close(num);
	close(proc);
}

Test(inline, inheriting_from_an_fd_not_seen_yet_classifies_it_once)
{
	int from = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	int p[2], slot;

	cr_assert_geq(from, 0);
	cr_assert_eq(pipe(p), 0);
	rf_backing_forget_fd(from);
	rf_backing_forget_fd(p[0]);
	/* A pipe is not on procfs: only the inheritance can give it procfs's slot. */
	rf_backing_fd_inherit(p[0], from);
	slot = rf__inline_slot(p[0]);
	cr_assert_geq(slot, 0);
	cr_expect_eq(slot, rf__inline_slot(from), "the pipe got @from's filesystem");
	cr_expect_eq(rf__inline_slot_class(slot), RF_SRC_REMOTE, "procfs is no memory or disk");
	rf_backing_forget_fd(from);
	rf_backing_forget_fd(p[0]);
	close(from);
	close(p[0]);
	close(p[1]);
}

/* ---- FLUSH only where the source has something to flush ---------------------------------- */

struct noflush_case {
	int mode;
	long type;
	bool noflush;                /* FOPEN_NOFLUSH in the OPEN reply */
};

static const struct noflush_case noflushes[] = {
	{ RF_INLINE_AUTO, TMPFS_MAGIC, true },
	{ RF_INLINE_AUTO, EXT4_SUPER_MAGIC, true },
	{ RF_INLINE_ALWAYS, XFS_SUPER_MAGIC, true },
	{ RF_INLINE_AUTO, NFS_SUPER_MAGIC, false },
	{ RF_INLINE_AUTO, 0x65735546, false },          /* FUSE */
	{ RF_INLINE_ALWAYS, 0xFF534D42, false },        /* CIFS: close reports write errors */
	{ RF_INLINE_AUTO, 0, false },                   /* unknown */
	{ RF_INLINE_NEVER, TMPFS_MAGIC, false },        /* every call on the ring, FLUSH too */
};

static int noflush_fd = -1;

/* An OPEN handler as the passthrough's: noflush where a FLUSH would do nothing. */
static void nf_open(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	fi->fh = 7;
	fi->noflush = !rf_backing_flush_needed(req, noflush_fd);
	rf_reply_open(req, fi);
}

static const struct rf_ops nf_ops = { .open = nf_open };

Test(inline, an_open_on_a_source_without_flush_asks_the_kernel_for_no_flush)
{
	size_t i;

	for (i = 0; i < sizeof(noflushes) / sizeof(noflushes[0]); i++) {
		const struct noflush_case *c = &noflushes[i];
		struct fuse_open_in in = { .flags = O_RDONLY };
		struct fuse_open_out oo;
		const struct fk_msg *m;
		struct rf_opts opts;
		struct fk fk;
		int slot;
		uint64_t u;

		noflush_fd = fake_fd(c->type, 3000 + (int)i, &slot);
		rf_opts_init(&opts);
		opts.inline_mode = c->mode;
		fk_setup(&fk, &nf_ops, NULL, &opts);
		fk_init(&fk);
		u = fk_send(&fk, FUSE_OPEN, 2, &in, sizeof(in));
		m = fk_expect_reply(&fk, u, 0, sizeof(oo));
		memcpy(&oo, m->payload, sizeof(oo));
		cr_expect_eq(!!(oo.open_flags & FOPEN_NOFLUSH), c->noflush,
			     "case %zu: mode %d, magic 0x%lx: open_flags 0x%x", i, c->mode,
			     (unsigned long)c->type, oo.open_flags);
		fk_teardown(&fk);
		rf_opts_free(&opts);
		rf_backing_forget_fd(noflush_fd);
		close(noflush_fd);
	}
}
