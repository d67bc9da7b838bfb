/* SPDX-License-Identifier: MIT */
/*
 * hl_hide.c - hide mode's bookkeeping (libfuse's default, without hard_remove): the
 * latest hides, which an RMDIR that finds its directory not empty waits on, and the hidden
 * files left at teardown. The hide itself (the rename to .fuse_hidden*) is in hl_path.c;
 * the last RELEASE's unlink in hl_file.c.
 */
#include "fuse3_hl.h"
#include "fuse3_int.h"

#include <errno.h>
#include <time.h>

/*
 * The kernel sends RELEASE without waiting for it, so with more than one loop a close(2)
 * then unlink(2) can have the UNLINK served first: the file hides although its last handle
 * is going, and an rmdir(2) of its directory right after finds it not empty until that
 * RELEASE unlinks it. f->hides remembers the last RF_HL_HIDES hides; an RMDIR that finds
 * its directory not empty waits for the ones in it less than RF_HL_HIDE_RACE_NS old, and
 * at most that long. Each hide is waited on once, by one RMDIR, so a file really held open
 * costs at most one wait per UNLINK that hid it; with one loop nothing could run the
 * RELEASE, so nothing waits.
 */
#define RF_HL_HIDE_RACE_NS (20 * 1000000ull)

void rf_hl_note_hide(struct fuse *f, const struct hl_node *dir, const struct hl_node *n)
{
	struct hl_hide *h;

	pthread_mutex_lock(&f->lock);
	h = &f->hides[f->hides_next++ % RF_HL_HIDES];
	*h = (struct hl_hide){ .dir = dir->base.nodeid, .node = n->base.nodeid,
			       .hide_ns = rf_hl_now_ns() };
	pthread_mutex_unlock(&f->lock);
}

void rf_hl_unhidden(struct fuse *f, fuse_ino_t node)
{
	uint64_t now = rf_hl_now_ns();

	pthread_mutex_lock(&f->lock);
	for (int i = 0; i < RF_HL_HIDES; i++)
		if (f->hides[i].node == node && !f->hides[i].gone_ns)
			f->hides[i].gone_ns = now;
	pthread_cond_broadcast(&f->unhide_cv);
	pthread_mutex_unlock(&f->lock);
}

bool rf_hl_wait_hidden(struct fuse *f, struct hl_node *parent, const char *name,
		       uint64_t start_ns, uint64_t *deadline)
{
	fuse_ino_t dir, waiting[RF_HL_HIDES];
	uint64_t now = rf_hl_now_ns();
	struct timespec ts;
	int nwait = 0;
	bool went = false;

	if (f->conf.hard_remove || !(f->se->mt || f->se->pool))
		return false;
	dir = rf_hl_find_ino(f, parent, name);
	if (!dir)
		return false;
	if (!*deadline)
		*deadline = now + RF_HL_HIDE_RACE_NS;
	ts.tv_sec = (time_t)(*deadline / 1000000000ull);
	ts.tv_nsec = (long)(*deadline % 1000000000ull);
	pthread_mutex_lock(&f->lock);
	for (int i = 0; i < RF_HL_HIDES; i++) {
		struct hl_hide *h = &f->hides[i];

		if (h->dir != dir || h->waited || now >= h->hide_ns + RF_HL_HIDE_RACE_NS)
			continue;
		h->waited = true;
		if (h->gone_ns)                  /* went while the RMDIR ran */
			went |= h->gone_ns >= start_ns;
		else
			waiting[nwait++] = h->node;
	}
	while (!went && nwait && rf_hl_now_ns() < *deadline) {
		if (pthread_cond_timedwait(&f->unhide_cv, &f->lock, &ts) == ETIMEDOUT)
			break;
		for (int i = 0; i < RF_HL_HIDES; i++)
			for (int j = 0; j < nwait; j++)
				if (f->hides[i].node == waiting[j] && f->hides[i].gone_ns)
					went = true;
	}
	pthread_mutex_unlock(&f->lock);
	return went;
}

static int unlink_hidden(struct rf_inode *inode, void *data)
{
	struct fuse *f = data;
	struct hl_node *n = rf_inode_entry(inode, struct hl_node, base);
	char *path;

	if (n->hidden && rf_hl_path(f, n, NULL, 0, &path) == 0)
		fuse_fs_unlink(f->fs, path);
	return 0;
}

/* fuse_destroy: hidden files whose handles the kernel never released go now. */
void rf_hl_unlink_hidden_all(struct fuse *f)
{
	if (f->itable)
		rf_itable_foreach(f->itable, unlink_hidden, f);
}
