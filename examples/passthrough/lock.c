/* SPDX-License-Identifier: MIT */
/*
 * lock.c - POSIX record locks (as OFD locks on the handle's fd) and flock(2) locks.
 */
#include "passthrough.h"

#include <sys/file.h>

/*
 * POSIX locks are open-file-description (OFD) locks on the handle's fd, flock(2) locks
 * are flock(2) on it. A lock that must wait is retried on a timer (1 ms doubling to
 * 50 ms) instead of sleeping in a thread: the loop and the workers stay free, and an
 * INTERRUPT (the caller got a signal) ends the wait with EINTR.
 */
struct pt_lock {
	struct rf_timer timer;
	struct rf_req *req;
	int fd;
	bool is_flock;
	int op;                      /* flock operation */
	struct flock fl;             /* OFD lock */
	unsigned int delay_ms;
};

static int lock_try(struct pt_lock *lk)
{
	struct flock fl = lk->fl;

	if (lk->is_flock)
		return flock(lk->fd, lk->op | LOCK_NB) < 0 ? -errno : 0;
	fl.l_pid = 0;                /* OFD locks insist */
	return fcntl(lk->fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

static bool lock_busy(int r)
{
	return r == -EAGAIN || r == -EACCES || r == -EWOULDBLOCK;
}

static void lock_finish(struct pt_lock *lk, int err)
{
	rf_req_on_interrupt(lk->req, NULL, NULL);
	rf_reply_err(lk->req, err);
	free(lk);
}

static void lock_retry(struct rf_loop *loop, void *data)
{
	struct pt_lock *lk = data;
	int r = lock_try(lk);

	if (lock_busy(r)) {
		lk->delay_ms = lk->delay_ms * 2 > PT_LOCK_POLL_MAX_MS ? PT_LOCK_POLL_MAX_MS :
									lk->delay_ms * 2;
		r = rf_timer_start(loop, &lk->timer, lk->delay_ms, lock_retry, lk);
		if (r == 0)
			return;
	}
	lock_finish(lk, r);
}

static void lock_interrupted(struct rf_req *req, void *data)
{
	struct pt_lock *lk = data;

	rf_timer_cancel(&lk->timer);
	lock_finish(lk, -EINTR);
}

static void lock_common(struct rf_req *req, struct pt_lock *proto, int sleep)
{
	struct pt_lock *lk;
	int r = lock_try(proto);

	if (!lock_busy(r) || !sleep)
		return (void)rf_reply_err(req, r == -EACCES ? -EAGAIN : r);
	lk = malloc(sizeof(*lk));
	if (!lk)
		return (void)rf_reply_err(req, -ENOLCK);
	*lk = *proto;
	memset(&lk->timer, 0, sizeof(lk->timer));
	lk->req = req;
	lk->delay_ms = 1;
	r = rf_timer_start(rf_req_loop(req), &lk->timer, lk->delay_ms, lock_retry, lk);
	if (r < 0) {
		free(lk);
		return (void)rf_reply_err(req, r);
	}
	/* May run lock_interrupted at once: @lk is not ours after this. */
	rf_req_on_interrupt(req, lock_interrupted, lk);
}

void pt_getlk(struct rf_req *req, uint64_t ino, struct rf_file *fi, struct flock *lock)
{
	struct pt_handle *h = handle_of_fi(fi, PT_FILE);
	struct flock fl;

	if (!h)
		return (void)rf_reply_err(req, -EBADF);
	fl = *lock;
	fl.l_pid = 0;
	if (fcntl(h->fd, F_OFD_GETLK, &fl) < 0)
		return (void)rf_reply_err(req, -errno);
	if (fl.l_pid < 0)
		fl.l_pid = 0;        /* an OFD lock has no owning process */
	rf_reply_lock(req, &fl);
}

void pt_setlk(struct rf_req *req, uint64_t ino, struct rf_file *fi, struct flock *lock,
	      int sleep)
{
	struct pt_handle *h = handle_of_fi(fi, PT_FILE);
	struct pt_lock lk;

	if (!h)
		return (void)rf_reply_err(req, -EBADF);
	memset(&lk, 0, sizeof(lk));
	lk.fd = h->fd;
	lk.fl = *lock;
	lock_common(req, &lk, sleep);
}

void pt_flock(struct rf_req *req, uint64_t ino, struct rf_file *fi, int op)
{
	struct pt_handle *h = handle_of_fi(fi, PT_FILE);
	struct pt_lock lk;

	if (!h)
		return (void)rf_reply_err(req, -EBADF);
	memset(&lk, 0, sizeof(lk));
	lk.fd = h->fd;
	lk.is_flock = true;
	lk.op = op & ~LOCK_NB;
	lock_common(req, &lk, !(op & LOCK_NB));
}
