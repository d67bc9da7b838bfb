/* SPDX-License-Identifier: MIT */
/*
 * inline.c - where a backing call runs: in place on the loop thread, or on the ring
 * (ringfuse.h, "Backing I/O: where the call runs"; README "Inline backing calls").
 *
 * What matters is the backing filesystem: a syscall on tmpfs or on a warm local disk
 * filesystem costs a microsecond or two, less than handing it to an io-wq worker, while
 * one on NFS or another FUSE mount may wait for a server for seconds and must not stop
 * the loop. The filesystem is learned with one fstatfs(2) per fd, the first time the fd
 * is used, and kept in two tables: fd number -> filesystem slot (one byte per fd, sized
 * once from RLIMIT_NOFILE) and slot -> class and timing (one per (f_type, f_fsid)). The
 * hot path reads one byte and one slot, without a lock; slots are added under a mutex and
 * never removed. In-place calls on disk filesystems are timed with two clock reads (vDSO,
 * no system call); a slot whose calls get slow is demoted to the ring for a while.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/resource.h>
#include <sys/vfs.h>
#include <time.h>

#include "internal.h"

#ifndef F2FS_SUPER_MAGIC
#define F2FS_SUPER_MAGIC 0xF2F52010
#endif

#define SRC_SLOTS 255                  /* filesystems told apart; more share "unknown" */
#define FD_TABLE_MAX (1u << 20)         /* fds with a cached slot (1 MiB of table) */

struct src_fs {
	long type;
	fsid_t fsid;
	int cls;                        /* RF_SRC_*, fixed once the slot is published */
	_Atomic uint32_t calls, slow;   /* in-place calls in this window, and the slow ones */
	_Atomic uint64_t demoted_until; /* rf__now_ns() before which the ring is used */
	_Atomic uint32_t demotions;     /* times demoted (the next period doubles) */
};

static struct src_fs srcs[SRC_SLOTS];
static _Atomic int nsrcs;
static pthread_mutex_t src_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint8_t *fd_slot;        /* fd -> slot + 1 (0: not known) */
static unsigned int fd_cap;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
	struct rlimit rl;
	rlim_t n = 4096;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		n = rl.rlim_max > rl.rlim_cur ? rl.rlim_max : rl.rlim_cur;
	if (n > FD_TABLE_MAX || n == RLIM_INFINITY)
		n = FD_TABLE_MAX;
	fd_slot = calloc((size_t)n, 1);
	fd_cap = fd_slot ? (unsigned int)n : 0;
}

void rf__inline_init(void)
{
	pthread_once(&table_once, table_init);
}

int rf__inline_class_of_magic(long type)
{
	switch ((unsigned long)type & 0xffffffffu) {
	case TMPFS_MAGIC:
	case RAMFS_MAGIC:
		return RF_SRC_MEMORY;
	case EXT4_SUPER_MAGIC:          /* ext2, ext3 and ext4 */
	case XFS_SUPER_MAGIC:
	case BTRFS_SUPER_MAGIC:
	case F2FS_SUPER_MAGIC:
		return RF_SRC_LOCAL;
	default:                        /* NFS, CIFS, FUSE, overlay, ...: may wait for anyone */
		return RF_SRC_REMOTE;
	}
}

/* The slot of filesystem (@type, @fsid), added if new; -1 when the table is full. */
int rf__inline_slot_of_fs(long type, const fsid_t *fsid)
{
	int i, n = atomic_load_explicit(&nsrcs, memory_order_acquire);

	for (i = 0; i < n; i++)
		if (srcs[i].type == type && !memcmp(&srcs[i].fsid, fsid, sizeof(fsid_t)))
			return i;
	pthread_mutex_lock(&src_lock);
	n = atomic_load_explicit(&nsrcs, memory_order_relaxed);
	for (i = 0; i < n; i++)
		if (srcs[i].type == type && !memcmp(&srcs[i].fsid, fsid, sizeof(fsid_t)))
			break;
	if (i == n && n < SRC_SLOTS) {
		srcs[i].type = type;
		srcs[i].fsid = *fsid;
		srcs[i].cls = rf__inline_class_of_magic(type);
		atomic_store_explicit(&nsrcs, n + 1, memory_order_release);
	}
	pthread_mutex_unlock(&src_lock);
	return i < SRC_SLOTS ? i : -1;
}

int rf__inline_slot(int fd)
{
	struct statfs sf;
	int slot;

	rf__inline_init();
	if (fd >= 0 && (unsigned int)fd < fd_cap) {
		unsigned int v = atomic_load_explicit(&fd_slot[fd], memory_order_relaxed);

		if (v)
			return (int)v - 1;
	}
	if (fd < 0 || fstatfs(fd, &sf) < 0)
		return -1;
	slot = rf__inline_slot_of_fs(sf.f_type, &sf.f_fsid);
	rf__inline_bind(fd, slot);
	return slot;
}

void rf__inline_bind(int fd, int slot)
{
	rf__inline_init();
	if (slot >= 0 && fd >= 0 && (unsigned int)fd < fd_cap)
		atomic_store_explicit(&fd_slot[fd], (uint8_t)(slot + 1), memory_order_relaxed);
}

void rf_backing_forget_fd(int fd)
{
	rf__inline_init();
	if (fd >= 0 && (unsigned int)fd < fd_cap)
		atomic_store_explicit(&fd_slot[fd], 0, memory_order_relaxed);
}

void rf_backing_fd_inherit(int fd, int from)
{
	int slot;

	rf__inline_init();
	if (fd < 0 || (unsigned int)fd >= fd_cap || from < 0 || (unsigned int)from >= fd_cap)
		return;
	/* @from is classified once (one fstatfs) if nothing is known of it yet. */
	slot = rf__inline_slot(from);
	atomic_store_explicit(&fd_slot[fd], slot >= 0 ? (uint8_t)(slot + 1) : 0,
			      memory_order_relaxed);
}

int rf__inline_slot_class(int slot)
{
	return slot >= 0 && slot < atomic_load_explicit(&nsrcs, memory_order_acquire) ?
	       srcs[slot].cls : RF_SRC_REMOTE;
}

/* Demoted right now? The clock is read only for a slot that was demoted once. */
static bool demoted(struct src_fs *f)
{
	uint64_t until = atomic_load_explicit(&f->demoted_until, memory_order_relaxed);

	return until && rf__now_ns() < until;
}

int rf__inline_how(int mode, int fd, enum rf_inline_kind kind, struct rf_inline_ticket *t)
{
	int slot, cls;

	t->slot = -1;
	if (mode == RF_INLINE_NEVER)
		return RF_RUN_RING;
	if (mode == RF_INLINE_ALWAYS)
		return RF_RUN_INLINE;
	slot = rf__inline_slot(fd);
	cls = rf__inline_slot_class(slot);
	if (cls == RF_SRC_REMOTE || demoted(&srcs[slot]))
		return RF_RUN_RING;
	if (cls == RF_SRC_LOCAL) {
		/* io_uring already reads and writes such files without blocking, and a close
		 * or fsync may write back: those stay on the ring. */
		if (kind == RF_IK_DATA || kind == RF_IK_SYNC)
			return RF_RUN_RING;
		t->slot = slot;
		t->t0 = rf__now_ns();
		return kind == RF_IK_LOOKUP ? RF_RUN_CACHED : RF_RUN_INLINE;
	}
	/* Memory: everything in place, untimed. Nothing there waits for a device; a slow call
	 * is this thread losing its CPU, which the ring would not give back (and a strace or a
	 * busy machine must not send a tmpfs source to the workers). */
	return RF_RUN_INLINE;
}

void rf__inline_note(int slot, uint64_t ns)
{
	struct src_fs *f;
	uint32_t calls, slow = 0, d;

	if (slot < 0 || slot >= atomic_load_explicit(&nsrcs, memory_order_acquire))
		return;
	f = &srcs[slot];
	calls = atomic_fetch_add_explicit(&f->calls, 1, memory_order_relaxed) + 1;
	if (ns > RF_INLINE_SLOW_NS)
		slow = atomic_fetch_add_explicit(&f->slow, 1, memory_order_relaxed) + 1;
	if (slow >= RF_INLINE_SLOW_MAX) {
		/* Too many slow calls in this window: the ring for a while, doubling each time
		 * (a source that is slow for good is then tried again only once a minute). */
		d = atomic_fetch_add_explicit(&f->demotions, 1, memory_order_relaxed);
		atomic_store_explicit(&f->demoted_until, rf__now_ns() +
				      (RF_INLINE_DEMOTE_NS << (d < 6 ? d : 6)), memory_order_relaxed);
		atomic_store_explicit(&f->calls, 0, memory_order_relaxed);
		atomic_store_explicit(&f->slow, 0, memory_order_relaxed);
		rf__info("backing filesystem 0x%lx: %u in-place calls over %llu us; on the ring "
			 "for %llu ms", (unsigned long)f->type, slow,
			 (unsigned long long)(RF_INLINE_SLOW_NS / 1000),
			 (unsigned long long)((RF_INLINE_DEMOTE_NS << (d < 6 ? d : 6)) / 1000000));
	} else if (calls >= RF_INLINE_WINDOW) {
		atomic_store_explicit(&f->calls, 0, memory_order_relaxed);
		atomic_store_explicit(&f->slow, 0, memory_order_relaxed);
	}
}

void rf__inline_done(struct rf_inline_ticket *t)
{
	if (t->slot >= 0)
		rf__inline_note(t->slot, rf__now_ns() - t->t0);
}

bool rf__inline_demoted(int slot)
{
	return slot >= 0 && slot < atomic_load_explicit(&nsrcs, memory_order_acquire) &&
	       demoted(&srcs[slot]);
}
