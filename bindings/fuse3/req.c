/* SPDX-License-Identifier: MIT */
/*
 * req.c - the fuse_req wrappers of a libfuse session: taken for each request the runtime
 * hands over, given back by the reply; the holds with which, under fuse_session_loop_mt,
 * RELEASE and FORGET wait for handlers that have not returned yet; and the dispatch of a
 * wrapped request to its handler's thread (ops.c runs the handler).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuse3_int.h"

/* ---- request wrappers ---------------------------------------------------------------- */

/*
 * A wrapper is taken on the loop thread (every rf_ops callback runs there) and given back
 * by its reply, on whatever thread replied. Only the loop thread recycles: the runtime may
 * call the interrupt hook of a request (on the loop thread) until its reply is seen, and
 * that hook names the wrapper, so a wrapper must not be reused before the loop thread
 * knows of the reply. Free wrappers are reused in FIFO order, which keeps a second reply
 * through a stale fuse_req_t detectable for a while (reply.c reports it).
 */
/* Append @req to the free FIFO. With mt, rlock held. */
static void free_push(struct fuse_session *se, struct fuse_req *req)
{
	req->next = NULL;
	if (se->free_tail)
		se->free_tail->next = req;
	else
		se->free_head = req;
	se->free_tail = req;
}

/* The next free wrapper, or NULL. With mt, rlock held. */
static struct fuse_req *free_pop(struct fuse_session *se)
{
	struct fuse_req *req = se->free_head;

	if (req) {
		se->free_head = req->next;
		if (!se->free_head)
			se->free_tail = NULL;
	}
	return req;
}

struct fuse_req *rf_fuse3_req_get(struct fuse_session *se, struct rf_req *r, int op)
{
	struct fuse_req *req;

	if (se->mt) {
		pthread_mutex_lock(&se->rlock);
		req = free_pop(se);
		pthread_mutex_unlock(&se->rlock);
	} else {
		if (!se->free_head &&
		    atomic_load_explicit(&se->has_retired, memory_order_relaxed)) {
			pthread_mutex_lock(&se->rlock);
			while ((req = se->retired)) {
				se->retired = req->next;
				free_push(se, req);
			}
			atomic_store(&se->has_retired, false);
			pthread_mutex_unlock(&se->rlock);
		}
		req = free_pop(se);
	}
	if (!req) {
		pthread_mutexattr_t ma;

		req = calloc(1, sizeof(*req));
		if (!req)
			return NULL;
		/* Recursive: an interrupt callback (run under it) may reply, and a reply takes
		 * it to unhook the callback. */
		pthread_mutexattr_init(&ma);
		pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
		pthread_mutex_init(&req->ilock, &ma);
		pthread_mutexattr_destroy(&ma);
		pthread_mutex_lock(&se->rlock);
		req->all_next = se->all;
		se->all = req;
		pthread_mutex_unlock(&se->rlock);
	}
	/* With mt, a late interrupt hook of the wrapper's last request (another thread)
	 * checks r and state under ilock: the wrapper changes hands under it. */
	if (se->mt)
		pthread_mutex_lock(&req->ilock);
	req->se = se;
	req->r = r;
	req->op = op;
	req->next = NULL;
	req->rfi = req->rfi2 = NULL;
	req->ifunc = NULL;
	req->idata = NULL;
	req->interrupted = false;
	memset(&req->a, 0, sizeof(req->a));
	memset(&req->ctx, 0, sizeof(req->ctx));
	if (r) {
		const struct rf_ctx *c = rf_req_ctx(r);

		req->ctx.uid = c->uid;
		req->ctx.gid = c->gid;
		req->ctx.pid = c->pid;
		req->ctx.umask = c->umask;
	}
	atomic_store(&req->state, RF3_REQ_LIVE);
	if (se->mt)
		pthread_mutex_unlock(&req->ilock);
	return req;
}

void rf_fuse3_req_put(struct fuse_req *req)
{
	struct fuse_session *se = req->se;

	req->r = NULL;
	atomic_store(&req->state, RF3_REQ_FREE);
	if (se->mt) {
		pthread_mutex_lock(&se->rlock);
		free_push(se, req);
		pthread_mutex_unlock(&se->rlock);
		return;
	}
	if (rf_fuse3_on_loop(se)) {
		/* On the thread that takes wrappers: nothing can race. Elsewhere even when no
		 * loop runs: a custom loop's driving thread, or the teardown's drain, takes
		 * wrappers while other threads answer. */
		free_push(se, req);
		return;
	}
	pthread_mutex_lock(&se->rlock);
	req->next = se->retired;
	se->retired = req;
	atomic_store(&se->has_retired, true);
	pthread_mutex_unlock(&se->rlock);
}

void rf_fuse3_free_reqs(struct fuse_session *se)
{
	struct fuse_req *req, *next;

	for (req = se->all; req; req = next) {
		next = req->all_next;
		pthread_mutex_destroy(&req->ilock);
		free(req);
	}
	se->all = NULL;
	se->free_head = se->free_tail = se->retired = NULL;
}

/* The runtime's interrupt hook (loop thread): mark the wrapper, run the filesystem's
 * callback under the wrapper's lock, as libfuse does. */
static void on_interrupt(struct rf_req *r, void *data)
{
	struct fuse_req *req = data;

	pthread_mutex_lock(&req->ilock);
	/* With mt the wrapper may have been given to another request meanwhile. */
	if (req->r != r || atomic_load(&req->state) != RF3_REQ_LIVE) {
		pthread_mutex_unlock(&req->ilock);
		return;
	}
	req->interrupted = true;
	if (req->ifunc)
		req->ifunc(req, req->idata);
	pthread_mutex_unlock(&req->ilock);
}

void rf_fuse3_fi_from_rf(struct fuse_file_info *fi, const struct rf_file *rfi)
{
	memset(fi, 0, sizeof(*fi));
	if (!rfi)
		return;
	fi->flags = rfi->flags;
	fi->fh = rfi->fh;
	fi->lock_owner = rfi->lock_owner;
	fi->writepage = rfi->writepage;
	fi->flush = rfi->flush;
	fi->flock_release = rfi->flock_release;
	fi->direct_io = rfi->direct_io;
	fi->keep_cache = rfi->keep_cache;
	fi->nonseekable = rfi->nonseekable;
	fi->cache_readdir = rfi->cache_readdir;
	fi->noflush = rfi->noflush;
	fi->poll_events = rfi->poll_events;
}

/* -o allow_root: what others may still do on handles root or the owner opened
 * (libfuse's list). */
static bool allowed_to_others(int op)
{
	switch (op) {
	case RF3_OP_READ: case RF3_OP_WRITE: case RF3_OP_FSYNC: case RF3_OP_RELEASE:
	case RF3_OP_READDIR: case RF3_OP_FSYNCDIR: case RF3_OP_RELEASEDIR:
	case RF3_OP_READDIRPLUS:
		return true;
	default:
		return false;
	}
}

/* ---- holds: RELEASE and FORGET wait for handlers still running --------------------------- */

/*
 * The runtime runs RELEASE after every earlier request on the fh has *finished*, which
 * for it means: replied. With many threads a handler may go on after its reply (an
 * interrupt callback answered EINTR early, or it replied first and cleans up after), and
 * a libfuse filesystem frees its handle in release: so with mt the binding also
 * counts, per fh and per node id, the handlers that have not returned yet, and parks a
 * RELEASE/RELEASEDIR (a FORGET) until the count of its fh (node id) is zero.
 */
static struct rf_fuse3_hold **hold_slot(struct rf_fuse3_hold **table, uint64_t key)
{
	uint64_t h = key * 0x9e3779b97f4a7c15ull;
	struct rf_fuse3_hold **pp = &table[(h >> 40) % RF3_HOLD_BUCKETS];

	while (*pp && (*pp)->key != key)
		pp = &(*pp)->next;
	return pp;
}

/* hlock held. Count one more handler on @key; false if out of memory. A request takes a
 * hold from the session's free list: nothing is allocated once as many were live. */
static bool hold_get(struct fuse_session *se, struct rf_fuse3_hold **table, uint64_t key)
{
	struct rf_fuse3_hold **pp = hold_slot(table, key), *h;

	if (!*pp) {
		h = se->hold_free;
		if (h)
			se->hold_free = h->next;
		else if (!(h = malloc(sizeof(*h))))
			return false;
		memset(h, 0, sizeof(*h));
		h->key = key;
		*pp = h;
	}
	(*pp)->busy++;
	return true;
}

/* hlock held. One handler on @key returned: hand back what may now run. */
static struct fuse_req *hold_put(struct fuse_session *se, struct rf_fuse3_hold **table,
				 uint64_t key)
{
	struct rf_fuse3_hold **pp = hold_slot(table, key), *h = *pp;
	struct fuse_req *parked = NULL;

	if (!h)
		return NULL;
	if (--h->busy == 0) {
		parked = h->parked;
		*pp = h->next;
		h->next = se->hold_free;
		se->hold_free = h;
	}
	return parked;
}

/* hlock held. Park @req behind the handlers on @key; false if there are none. */
static bool hold_park(struct rf_fuse3_hold **table, uint64_t key, struct fuse_req *req)
{
	struct rf_fuse3_hold *h = *hold_slot(table, key);

	if (!h)
		return false;
	req->next = h->parked;
	h->parked = req;
	return true;
}

void rf_fuse3_free_holds(struct fuse_session *se)
{
	struct rf_fuse3_hold *h, *next;
	int i;

	for (i = 0; i < RF3_HOLD_BUCKETS; i++) {
		for (h = se->fh_holds[i]; h; h = next) {
			next = h->next;
			free(h);
		}
		for (h = se->ino_holds[i]; h; h = next) {
			next = h->next;
			free(h);
		}
		se->fh_holds[i] = se->ino_holds[i] = NULL;
	}
	while ((h = se->hold_free)) {
		se->hold_free = h->next;
		free(h);
	}
}

/* mt: record what @req keeps busy, or park it. True if parked. */
static bool hold_or_park(struct fuse_session *se, struct fuse_req *req)
{
	bool parked = false;

	req->nheld_fh = req->nheld = 0;
	pthread_mutex_lock(&se->hlock);
	switch (req->op) {
	case RF3_OP_RELEASE:
	case RF3_OP_RELEASEDIR:
		parked = hold_park(se->fh_holds, req->fi.fh, req);
		break;
	case RF3_OP_FORGET:
		parked = hold_park(se->ino_holds, req->a.ino, req);
		break;
	default:
		/* OPEN, CREATE and OPENDIR make their fh; nothing names it yet. */
		if (req->rfi && req->op != RF3_OP_OPEN && req->op != RF3_OP_CREATE &&
		    req->op != RF3_OP_OPENDIR && hold_get(se, se->fh_holds, req->fi.fh))
			req->held[req->nheld++] = req->fi.fh;
		if (req->rfi2 && hold_get(se, se->fh_holds, req->fi2.fh))
			req->held[req->nheld++] = req->fi2.fh;
		req->nheld_fh = req->nheld;
		if (req->r && hold_get(se, se->ino_holds, req->a.ino))
			req->held[req->nheld++] = req->a.ino;
		if (req->r && req->a.ino2 && hold_get(se, se->ino_holds, req->a.ino2))
			req->held[req->nheld++] = req->a.ino2;
	}
	pthread_mutex_unlock(&se->hlock);
	return parked;
}

/* Loops or pool (fuse_session_loop_mt): run @req's handler, then let its holds go; what
 * waited for them (a RELEASE or FORGET, which holds nothing) goes to the pool, or runs on
 * this thread with the loops. The wrapper may be recycled once the handler replied: keep
 * copies. */
void rf_fuse3_run_job(struct fuse_req *req)
{
	struct fuse_session *se = req->se;
	uint64_t held[4];
	int i, n = req->nheld, nfh = req->nheld_fh;
	struct fuse_req *ready = NULL, *p, *next;

	memcpy(held, req->held, sizeof(held));
	rf_fuse3_run(req);
	if (!n)
		return;
	pthread_mutex_lock(&se->hlock);
	for (i = 0; i < n; i++) {
		p = hold_put(se, i < nfh ? se->fh_holds : se->ino_holds, held[i]);
		for (; p; p = next) {
			next = p->next;
			p->next = ready;
			ready = p;
		}
	}
	pthread_mutex_unlock(&se->hlock);
	for (p = ready; p; p = next) {
		next = p->next;
		p->next = NULL;
		if (se->pool)
			rf_fuse3_pool_submit(se->pool, p);
		else
			rf_fuse3_run(p);
	}
}

/* Hand a wrapped request to its handler: on this thread (the loop's that received it), or
 * the pool's when fuse_session_loop_mt runs one. */
void rf_fuse3_dispatch(struct fuse_req *req)
{
	struct fuse_session *se = req->se;

	if (se->deny_others && req->r && req->ctx.uid != se->owner && req->ctx.uid != 0 &&
	    !allowed_to_others(req->op)) {
		rf_reply_err(req->r, -EACCES);
		free(req->a.ph);
		rf_fuse3_req_put(req);
		return;
	}
	if (req->r)
		rf_req_on_interrupt(req->r, on_interrupt, req);
	if (!se->pool && !se->mt) {
		rf_fuse3_run(req);
		return;
	}
	if (hold_or_park(se, req))
		return;
	if (se->mt || (req->op == RF3_OP_FORGET && se->forget_inline))
		rf_fuse3_run_job(req);
	else
		rf_fuse3_pool_submit(se->pool, req);
}

void rf_fuse3_fi_arg(struct fuse_req *req, struct rf_file *rfi)
{
	req->rfi = rfi;
	rf_fuse3_fi_from_rf(&req->fi, rfi);
}
