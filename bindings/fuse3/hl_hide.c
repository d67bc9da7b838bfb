/* SPDX-License-Identifier: MIT */
/*
 * hl_hide.c - hide mode's bookkeeping (libfuse's default, without hard_remove): each
 * directory's hidden files not yet unlinked, which an RMDIR that finds it not empty waits
 * for, and the hidden files left at teardown. The hide itself (the rename to
 * .fuse_hidden*) is in hl_path.c, the last RELEASE's unlink in hl_file.c.
 */
#include "fuse3_hl.h"
#include "fuse3_int.h"

#include <errno.h>
#include <time.h>

/*
 * The kernel sends RELEASE without waiting for it, so with more than one thread serving
 * requests a close(2) then unlink(2) can have the UNLINK served first: the file hides
 * although its last handle is going, and an rmdir(2) of its directory right after finds it
 * not empty until that RELEASE unlinks it. Each directory counts its hidden files not yet
 * unlinked and remembers its latest hide. An RMDIR that finds it not empty, less than
 * hide_wait_ns (20 ms) after a hide there, waits for the count to reach zero, at most that
 * long, and tries again. Only one RMDIR waits per latest hide, so a file really held open
 * costs at most one wait per UNLINK that hid it; with a single thread nothing could serve
 * the RELEASE, so nothing waits.
 */
#define RF_HL_HIDE_WAIT_NS (20 * 1000000ull)

void rf_hl_note_hide(struct fuse *f, struct hl_node *dir, struct hl_node *n)
{
	pthread_mutex_lock(&f->lock);
	if (!n->hide_counted) {
		n->hide_counted = true;
		n->hidden_in = dir->base.nodeid;
		dir->hides_pending++;
	}
	dir->last_hide_ns = rf_hl_now_ns();
	pthread_mutex_unlock(&f->lock);
}

void rf_hl_unhidden(struct fuse *f, struct hl_node *n)
{
	fuse_ino_t in = 0;
	struct hl_node *dir;

	pthread_mutex_lock(&f->lock);
	if (n->hide_counted) {
		n->hide_counted = false;
		in = n->hidden_in;
	}
	pthread_mutex_unlock(&f->lock);
	dir = in ? rf_hl_get(f, in) : NULL;   /* NULL: the kernel forgot the directory */
	if (!dir)
		return;
	pthread_mutex_lock(&f->lock);
	dir->hides_pending--;
	dir->last_unhide_ns = rf_hl_now_ns();
	pthread_cond_broadcast(&f->unhide_cv);
	pthread_mutex_unlock(&f->lock);
	rf_hl_put(f, dir);
}

bool rf_hl_wait_hidden(struct fuse *f, struct hl_node *parent, const char *name,
		       uint64_t start_ns, uint64_t *deadline)
{
	uint64_t now = rf_hl_now_ns(), window = f->hide_wait_ns ? f->hide_wait_ns :
						 RF_HL_HIDE_WAIT_NS;
	struct hl_node *dir;
	struct timespec ts;
	bool went;

	if (f->conf.hard_remove || !f->se || !f->se->parallel)
		return false;
	dir = rf_hl_find(f, parent, name);
	if (!dir)
		return false;
	if (!*deadline)
		*deadline = now + window;
	ts.tv_sec = (time_t)(*deadline / 1000000000ull);
	ts.tv_nsec = (long)(*deadline % 1000000000ull);
	pthread_mutex_lock(&f->lock);
	if (dir->hides_pending && dir->waited_hide_ns != dir->last_hide_ns &&
	    now < dir->last_hide_ns + window) {
		dir->waited_hide_ns = dir->last_hide_ns;
		while (dir->hides_pending && rf_hl_now_ns() < *deadline &&
		       pthread_cond_timedwait(&f->unhide_cv, &f->lock, &ts) != ETIMEDOUT)
			;
	}
	went = dir->last_unhide_ns >= start_ns;   /* also: went while the RMDIR ran */
	pthread_mutex_unlock(&f->lock);
	rf_hl_put(f, dir);
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
