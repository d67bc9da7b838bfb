/* SPDX-License-Identifier: MIT */
/*
 * ops.c - the runtime's operations table for a libfuse session: each rf_ops member wraps
 * its rf_req in a fuse_req, converts the arguments and runs the filesystem's
 * fuse_lowlevel_ops handler, on the loop thread (fuse_session_loop), on one of the
 * blocking loops or on the worker pool (fuse_session_loop_mt, -o mt_pool). INIT is
 * mapped here between FUSE_CAP_* and the runtime's bits. Replies are reply.c's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

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

static struct fuse_req *req_get(struct fuse_session *se, struct rf_req *r, int op)
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
	if (rf_fuse3_on_loop(se) || !atomic_load(&se->in_loop)) {
		/* On the loop thread, or no loop runs (teardown): nothing can race. */
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

static void fi_from_rf(struct fuse_file_info *fi, const struct rf_file *rfi)
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
 * this thread with the loops. The wrapper may be recycled once the handler replied: keep copies. */
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
static void dispatch(struct fuse_req *req)
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

/* Wrap @r for @op, or answer ENOMEM when no wrapper can be had. */
#define WRAP(req, r, op)                                   \
	struct fuse_req *req = req_get(rf_req_userdata(r), (r), (op)); \
	if (!req) {                                        \
		rf_reply_err((r), -ENOMEM);                \
		return;                                    \
	}

static void fi_arg(struct fuse_req *req, struct rf_file *rfi)
{
	req->rfi = rfi;
	fi_from_rf(&req->fi, rfi);
}

/* ---- the runtime's callbacks ----------------------------------------------------------- */

static void t_lookup(struct rf_req *r, uint64_t parent, const char *name)
{
	WRAP(req, r, RF3_OP_LOOKUP);
	req->a.ino = parent;
	req->a.name = name;
	dispatch(req);
}

static void t_forget(void *userdata, uint64_t ino, uint64_t nlookup)
{
	struct fuse_req *req = req_get(userdata, NULL, RF3_OP_FORGET);

	if (!req) {
		fuse_log(FUSE_LOG_ERR, "fuse: out of memory: FORGET of inode %llu dropped\n",
			 (unsigned long long)ino);
		return;
	}
	req->a.ino = ino;
	req->a.u64 = nlookup;
	dispatch(req);
}

static void t_getattr(struct rf_req *r, uint64_t ino, struct rf_file *fi)
{
	WRAP(req, r, RF3_OP_GETATTR);
	req->a.ino = ino;
	fi_arg(req, fi);
	dispatch(req);
}

static void t_setattr(struct rf_req *r, uint64_t ino, const struct stat *attr, int to_set,
		      struct rf_file *fi)
{
	/* The FUSE_SET_ATTR_* bits libfuse 3.14 passes on; the kernel's one "kill suid and
	 * sgid" bit becomes libfuse's two. */
	int mask = FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |
		   FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
		   FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;
	WRAP(req, r, RF3_OP_SETATTR);
	req->a.ino = ino;
	req->a.attr = *attr;
	req->a.i = to_set & mask;
	if (to_set & RF_SET_KILL_SUIDGID)
		req->a.i |= FUSE_SET_ATTR_KILL_SUID | FUSE_SET_ATTR_KILL_SGID;
	fi_arg(req, fi);
	dispatch(req);
}

static void t_readlink(struct rf_req *r, uint64_t ino)
{
	WRAP(req, r, RF3_OP_READLINK);
	req->a.ino = ino;
	dispatch(req);
}

static void t_mknod(struct rf_req *r, uint64_t parent, const char *name, mode_t mode,
		    dev_t rdev)
{
	WRAP(req, r, RF3_OP_MKNOD);
	req->a.ino = parent;
	req->a.name = name;
	req->a.mode = mode;
	req->a.rdev = rdev;
	dispatch(req);
}

static void t_mkdir(struct rf_req *r, uint64_t parent, const char *name, mode_t mode)
{
	WRAP(req, r, RF3_OP_MKDIR);
	req->a.ino = parent;
	req->a.name = name;
	req->a.mode = mode;
	dispatch(req);
}

static void t_unlink(struct rf_req *r, uint64_t parent, const char *name)
{
	WRAP(req, r, RF3_OP_UNLINK);
	req->a.ino = parent;
	req->a.name = name;
	dispatch(req);
}

static void t_rmdir(struct rf_req *r, uint64_t parent, const char *name)
{
	WRAP(req, r, RF3_OP_RMDIR);
	req->a.ino = parent;
	req->a.name = name;
	dispatch(req);
}

static void t_symlink(struct rf_req *r, const char *target, uint64_t parent, const char *name)
{
	WRAP(req, r, RF3_OP_SYMLINK);
	req->a.name2 = target;
	req->a.ino = parent;
	req->a.name = name;
	dispatch(req);
}

static void t_rename(struct rf_req *r, uint64_t parent, const char *name, uint64_t newparent,
		     const char *newname, unsigned int flags)
{
	WRAP(req, r, RF3_OP_RENAME);
	req->a.ino = parent;
	req->a.name = name;
	req->a.ino2 = newparent;
	req->a.name2 = newname;
	req->a.flags = flags;
	dispatch(req);
}

static void t_link(struct rf_req *r, uint64_t ino, uint64_t newparent, const char *newname)
{
	WRAP(req, r, RF3_OP_LINK);
	req->a.ino = ino;
	req->a.ino2 = newparent;
	req->a.name = newname;
	dispatch(req);
}

static void t_open(struct rf_req *r, uint64_t ino, struct rf_file *fi)
{
	WRAP(req, r, RF3_OP_OPEN);
	req->a.ino = ino;
	fi_arg(req, fi);
	dispatch(req);
}

static void t_read(struct rf_req *r, uint64_t ino, size_t size, off_t off, struct rf_file *fi)
{
	WRAP(req, r, RF3_OP_READ);
	req->a.ino = ino;
	req->a.size = size;
	req->a.off = off;
	fi_arg(req, fi);
	dispatch(req);
}

static void t_write(struct rf_req *r, uint64_t ino, const void *buf, size_t size, off_t off,
		    struct rf_file *fi)
{
	WRAP(req, r, RF3_OP_WRITE);
	req->a.ino = ino;
	req->a.buf = buf;
	req->a.size = size;
	req->a.off = off;
	fi_arg(req, fi);
	dispatch(req);
}

#define FH_OP(fn, OP)                                                  \
	static void fn(struct rf_req *r, uint64_t ino, struct rf_file *fi) \
	{                                                              \
		WRAP(req, r, OP);                                      \
		req->a.ino = ino;                                      \
		fi_arg(req, fi);                                       \
		dispatch(req);                                         \
	}
FH_OP(t_flush, RF3_OP_FLUSH)
FH_OP(t_release, RF3_OP_RELEASE)
FH_OP(t_opendir, RF3_OP_OPENDIR)
FH_OP(t_releasedir, RF3_OP_RELEASEDIR)

static void t_fsync(struct rf_req *r, uint64_t ino, int datasync, struct rf_file *fi)
{
	WRAP(req, r, RF3_OP_FSYNC);
	req->a.ino = ino;
	req->a.i = datasync;
	fi_arg(req, fi);
	dispatch(req);
}

static void t_fsyncdir(struct rf_req *r, uint64_t ino, int datasync, struct rf_file *fi)
{
	WRAP(req, r, RF3_OP_FSYNCDIR);
	req->a.ino = ino;
	req->a.i = datasync;
	fi_arg(req, fi);
	dispatch(req);
}

static void t_readdir(struct rf_req *r, uint64_t ino, size_t size, off_t off,
		      struct rf_file *fi)
{
	WRAP(req, r, RF3_OP_READDIR);
	req->a.ino = ino;
	req->a.size = size;
	req->a.off = off;
	fi_arg(req, fi);
	dispatch(req);
}

static void t_readdirplus(struct rf_req *r, uint64_t ino, size_t size, off_t off,
			  struct rf_file *fi)
{
	WRAP(req, r, RF3_OP_READDIRPLUS);
	req->a.ino = ino;
	req->a.size = size;
	req->a.off = off;
	fi_arg(req, fi);
	dispatch(req);
}

static void t_statfs(struct rf_req *r, uint64_t ino)
{
	WRAP(req, r, RF3_OP_STATFS);
	req->a.ino = ino;
	dispatch(req);
}

static void t_setxattr(struct rf_req *r, uint64_t ino, const char *name, const void *value,
		       size_t size, int flags)
{
	WRAP(req, r, RF3_OP_SETXATTR);
	req->a.ino = ino;
	req->a.name = name;
	req->a.buf = value;
	req->a.size = size;
	req->a.i = flags;
	dispatch(req);
}

static void t_getxattr(struct rf_req *r, uint64_t ino, const char *name, size_t size)
{
	WRAP(req, r, RF3_OP_GETXATTR);
	req->a.ino = ino;
	req->a.name = name;
	req->a.size = size;
	dispatch(req);
}

static void t_listxattr(struct rf_req *r, uint64_t ino, size_t size)
{
	WRAP(req, r, RF3_OP_LISTXATTR);
	req->a.ino = ino;
	req->a.size = size;
	dispatch(req);
}

static void t_removexattr(struct rf_req *r, uint64_t ino, const char *name)
{
	WRAP(req, r, RF3_OP_REMOVEXATTR);
	req->a.ino = ino;
	req->a.name = name;
	dispatch(req);
}

static void t_access(struct rf_req *r, uint64_t ino, int mask)
{
	WRAP(req, r, RF3_OP_ACCESS);
	req->a.ino = ino;
	req->a.i = mask;
	dispatch(req);
}

static void t_create(struct rf_req *r, uint64_t parent, const char *name, mode_t mode,
		     struct rf_file *fi)
{
	WRAP(req, r, RF3_OP_CREATE);
	req->a.ino = parent;
	req->a.name = name;
	req->a.mode = mode;
	fi_arg(req, fi);
	dispatch(req);
}

static void t_getlk(struct rf_req *r, uint64_t ino, struct rf_file *fi, struct flock *lock)
{
	WRAP(req, r, RF3_OP_GETLK);
	req->a.ino = ino;
	req->a.lock = lock;
	fi_arg(req, fi);
	dispatch(req);
}

static void t_setlk(struct rf_req *r, uint64_t ino, struct rf_file *fi, struct flock *lock,
		    int sleep)
{
	WRAP(req, r, RF3_OP_SETLK);
	req->a.ino = ino;
	req->a.lock = lock;
	req->a.i = sleep;
	fi_arg(req, fi);
	dispatch(req);
}

static void t_flock(struct rf_req *r, uint64_t ino, struct rf_file *fi, int op)
{
	WRAP(req, r, RF3_OP_FLOCK);
	req->a.ino = ino;
	req->a.i = op;
	fi_arg(req, fi);
	dispatch(req);
}

static void t_bmap(struct rf_req *r, uint64_t ino, size_t blocksize, uint64_t idx)
{
	WRAP(req, r, RF3_OP_BMAP);
	req->a.ino = ino;
	req->a.size = blocksize;
	req->a.u64 = idx;
	dispatch(req);
}

static void t_ioctl(struct rf_req *r, uint64_t ino, unsigned int cmd, void *arg,
		    struct rf_file *fi, unsigned int flags, const void *in_buf, size_t in_size,
		    size_t out_size)
{
	struct fuse_session *se = rf_req_userdata(r);

	/* As libfuse: directory ioctls only when the filesystem asked for them. */
	if ((flags & FUSE_IOCTL_DIR) && !(se->conn.want & FUSE_CAP_IOCTL_DIR)) {
		rf_reply_err(r, -ENOTTY);
		return;
	}
	WRAP(req, r, RF3_OP_IOCTL);
	req->a.ino = ino;
	req->a.i = (int)cmd;
	req->a.cookie = arg;
	req->a.flags = flags;
	req->a.buf = in_buf;
	req->a.size = in_size;
	req->a.u64 = out_size;
	fi_arg(req, fi);
	dispatch(req);
}

static void t_poll(struct rf_req *r, uint64_t ino, struct rf_file *fi, uint64_t ph)
{
	WRAP(req, r, RF3_OP_POLL);
	req->a.ino = ino;
	fi_arg(req, fi);
	if (ph) {
		req->a.ph = malloc(sizeof(*req->a.ph));
		if (!req->a.ph) {
			rf_reply_err(r, -ENOMEM);
			rf_fuse3_req_put(req);
			return;
		}
		req->a.ph->kh = ph;
		req->a.ph->se = req->se;
	}
	dispatch(req);
}

static void t_fallocate(struct rf_req *r, uint64_t ino, int mode, off_t off, off_t len,
			struct rf_file *fi)
{
	WRAP(req, r, RF3_OP_FALLOCATE);
	req->a.ino = ino;
	req->a.i = mode;
	req->a.off = off;
	req->a.off2 = len;
	fi_arg(req, fi);
	dispatch(req);
}

static void t_copy_file_range(struct rf_req *r, uint64_t ino_in, off_t off_in,
			      struct rf_file *fi_in, uint64_t ino_out, off_t off_out,
			      struct rf_file *fi_out, size_t len, int flags)
{
	WRAP(req, r, RF3_OP_COPY_FILE_RANGE);
	req->a.ino = ino_in;
	req->a.off = off_in;
	fi_arg(req, fi_in);
	req->a.ino2 = ino_out;
	req->a.off2 = off_out;
	req->rfi2 = fi_out;
	fi_from_rf(&req->fi2, fi_out);
	req->a.size = len;
	req->a.i = flags;
	dispatch(req);
}

static void t_lseek(struct rf_req *r, uint64_t ino, off_t off, int whence, struct rf_file *fi)
{
	WRAP(req, r, RF3_OP_LSEEK);
	req->a.ino = ino;
	req->a.off = off;
	req->a.i = whence;
	fi_arg(req, fi);
	dispatch(req);
}

static void t_retrieve_reply(void *userdata, void *cookie, uint64_t ino, off_t off,
			     const void *buf, size_t size)
{
	struct fuse_session *se = userdata;
	struct fuse_req *req = req_get(se, NULL, RF3_OP_RETRIEVE_REPLY);

	if (!req) {
		fuse_log(FUSE_LOG_ERR, "fuse: out of memory: retrieve reply dropped\n");
		return;
	}
	req->a.ino = ino;
	req->a.off = off;
	req->a.cookie = cookie;
	req->a.size = size;
	req->a.buf = buf;
	if (se->pool) {
		/* The runtime's buffer is only valid during this call. */
		req->a.data = malloc(size ? size : 1);
		if (!req->a.data) {
			fuse_log(FUSE_LOG_ERR, "fuse: out of memory: retrieve reply dropped\n");
			rf_fuse3_req_put(req);
			return;
		}
		memcpy(req->a.data, buf, size);
		req->a.buf = req->a.data;
	}
	dispatch(req);
}

/* ---- INIT ------------------------------------------------------------------------------- */

/* FUSE_CAP_* (libfuse 3.14) and the kernel's INIT bits (RF_CAP_*): most share a bit,
 * POSIX_ACL and HANDLE_KILLPRIV are swapped, EXPIRE_ONLY moved to the second word. */
static const struct { unsigned int fuse; uint64_t rf; } cap_map[] = {
	{ FUSE_CAP_ASYNC_READ, RF_CAP_ASYNC_READ },
	{ FUSE_CAP_POSIX_LOCKS, RF_CAP_POSIX_LOCKS },
	{ FUSE_CAP_ATOMIC_O_TRUNC, RF_CAP_ATOMIC_O_TRUNC },
	{ FUSE_CAP_EXPORT_SUPPORT, RF_CAP_EXPORT_SUPPORT },
	{ FUSE_CAP_DONT_MASK, RF_CAP_DONT_MASK },
	{ FUSE_CAP_FLOCK_LOCKS, RF_CAP_FLOCK_LOCKS },
	{ FUSE_CAP_IOCTL_DIR, RF_CAP_IOCTL_DIR },
	{ FUSE_CAP_AUTO_INVAL_DATA, RF_CAP_AUTO_INVAL_DATA },
	{ FUSE_CAP_READDIRPLUS, RF_CAP_READDIRPLUS },
	{ FUSE_CAP_READDIRPLUS_AUTO, RF_CAP_READDIRPLUS_AUTO },
	{ FUSE_CAP_ASYNC_DIO, RF_CAP_ASYNC_DIO },
	{ FUSE_CAP_WRITEBACK_CACHE, RF_CAP_WRITEBACK_CACHE },
	{ FUSE_CAP_NO_OPEN_SUPPORT, RF_CAP_NO_OPEN_SUPPORT },
	{ FUSE_CAP_PARALLEL_DIROPS, RF_CAP_PARALLEL_DIROPS },
	{ FUSE_CAP_POSIX_ACL, RF_CAP_POSIX_ACL },
	{ FUSE_CAP_HANDLE_KILLPRIV, RF_CAP_HANDLE_KILLPRIV },
	{ FUSE_CAP_CACHE_SYMLINKS, RF_CAP_CACHE_SYMLINKS },
	{ FUSE_CAP_NO_OPENDIR_SUPPORT, RF_CAP_NO_OPENDIR_SUPPORT },
	{ FUSE_CAP_EXPLICIT_INVAL_DATA, RF_CAP_EXPLICIT_INVAL_DATA },
	{ FUSE_CAP_EXPIRE_ONLY, RF_CAP_HAS_EXPIRE_ONLY },
};

/* libfuse's own capabilities (splicing /dev/fuse): offered, as libfuse offers them, and
 * accepted without effect: the ring moves the data instead. */
#define SPLICE_CAPS (FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE | FUSE_CAP_SPLICE_READ)

unsigned int rf_fuse3_caps_from_rf(uint64_t rf)
{
	unsigned int caps = 0;
	size_t i;

	for (i = 0; i < sizeof(cap_map) / sizeof(cap_map[0]); i++)
		if (rf & cap_map[i].rf)
			caps |= cap_map[i].fuse;
	return caps;
}

uint64_t rf_fuse3_caps_to_rf(unsigned int caps)
{
	uint64_t rf = 0;
	size_t i;

	for (i = 0; i < sizeof(cap_map) / sizeof(cap_map[0]); i++)
		if (caps & cap_map[i].fuse)
			rf |= cap_map[i].rf;
	return rf;
}

static void t_init(void *userdata, struct rf_conn *c)
{
	struct fuse_session *se = userdata;
	struct fuse_conn_info *conn = &se->conn;
	unsigned int want;

	memset(conn, 0, sizeof(*conn));
	conn->proto_major = c->proto_major;
	conn->proto_minor = c->proto_minor;
	conn->capable = rf_fuse3_caps_from_rf(c->capable) | SPLICE_CAPS;
	conn->max_write = c->max_write;
	conn->max_read = c->max_read;
	conn->max_readahead = c->max_readahead;
	/* 0 as in libfuse: left so, the runtime's defaults apply (see README.md). */
	conn->max_background = 0;
	conn->congestion_threshold = 0;
	conn->time_gran = 0;

	/* libfuse 3.14's defaults: what every modern filesystem gets, plus what its
	 * operations imply. */
#define DEFAULT_CAP(cond, cap)                                 \
	do {                                                   \
		if ((cond) && (conn->capable & (cap)))         \
			conn->want |= (cap);                   \
	} while (0)
	DEFAULT_CAP(1, FUSE_CAP_ASYNC_READ);
	DEFAULT_CAP(1, FUSE_CAP_PARALLEL_DIROPS);
	DEFAULT_CAP(1, FUSE_CAP_AUTO_INVAL_DATA);
	DEFAULT_CAP(1, FUSE_CAP_HANDLE_KILLPRIV);
	DEFAULT_CAP(1, FUSE_CAP_ASYNC_DIO);
	DEFAULT_CAP(1, FUSE_CAP_IOCTL_DIR);
	DEFAULT_CAP(1, FUSE_CAP_ATOMIC_O_TRUNC);
	DEFAULT_CAP(se->op.write_buf, FUSE_CAP_SPLICE_READ);
	DEFAULT_CAP(se->op.getlk && se->op.setlk, FUSE_CAP_POSIX_LOCKS);
	DEFAULT_CAP(se->op.flock, FUSE_CAP_FLOCK_LOCKS);
	DEFAULT_CAP(se->op.readdirplus, FUSE_CAP_READDIRPLUS);
	DEFAULT_CAP(se->op.readdirplus, FUSE_CAP_READDIRPLUS_AUTO);
#undef DEFAULT_CAP

	if (se->op.init)
		se->op.init(se->userdata, conn);
	se->got_init = true;
	rf_fuse3_cuse_inited(se);

	if (conn->want & ~conn->capable) {
		fuse_log(FUSE_LOG_ERR, "fuse: error: filesystem requested capabilities 0x%x that "
			 "are not supported by kernel, aborting.\n", conn->want & ~conn->capable);
		se->error = -EPROTO;
		fuse_session_exit(se);
		conn->want &= conn->capable;
	}
	want = conn->want & ~SPLICE_CAPS;
	/* The runtime's protocol-level extras that change nothing a filesystem sees stay:
	 * the extended SETXATTR header (the runtime decodes it) and EXPIRE_ONLY (which
	 * libfuse treats as the kernel's offer alone, while the runtime's
	 * rf_notify_expire_entry wants it accepted). Everything else is what the filesystem
	 * wants, and nothing it did not. */
	c->want = rf_fuse3_caps_to_rf(want) |
		  (c->want & (RF_CAP_SETXATTR_EXT | RF_CAP_HAS_EXPIRE_ONLY));
	if (conn->max_write && conn->max_write < c->max_write)
		c->max_write = conn->max_write;
	c->max_read = conn->max_read;
	c->max_readahead = conn->max_readahead;
	if (conn->max_background)
		c->max_background = conn->max_background;
	if (conn->congestion_threshold)
		c->congestion_threshold = conn->congestion_threshold;
	else if (c->congestion_threshold > c->max_background)
		c->congestion_threshold = c->max_background * 3 / 4;
	if (conn->time_gran)
		c->time_gran = conn->time_gran;
	/* What was negotiated, as libfuse leaves it in se->conn. */
	conn->max_write = c->max_write;
	if (se->debug)
		fuse_log(FUSE_LOG_DEBUG, "INIT: %u.%u\nflags=0x%08x\nmax_readahead=0x%08x\n"
			 "   INIT: capable=0x%08x want=0x%08x max_write=0x%08x\n",
			 conn->proto_major, conn->proto_minor, conn->capable,
			 conn->max_readahead, conn->capable, conn->want, conn->max_write);
}

/* The runtime ends the session (unmount, DESTROY, exit): the filesystem's destroy runs
 * later, in fuse_session_destroy, after the workers are gone and the mount is, as in
 * libfuse. */
static void t_destroy(void *userdata)
{
}

/* ---- running a handler ----------------------------------------------------------------- */

static void run_op(struct fuse_req *req)
{
	const struct fuse_lowlevel_ops *op = &req->se->op;
	struct rf_fuse3_args *a = &req->a;
	struct fuse_file_info *fi = req->rfi ? &req->fi : NULL;

	switch (req->op) {
	case RF3_OP_LOOKUP:
		op->lookup(req, a->ino, a->name);
		break;
	case RF3_OP_FORGET:
		if (op->forget) {
			op->forget(req, a->ino, a->u64);
		} else {
			struct fuse_forget_data fd = { .ino = a->ino, .nlookup = a->u64 };

			op->forget_multi(req, 1, &fd);
		}
		break;
	case RF3_OP_GETATTR:
		op->getattr(req, a->ino, fi);
		break;
	case RF3_OP_SETATTR:
		op->setattr(req, a->ino, &a->attr, a->i, fi);
		break;
	case RF3_OP_READLINK:
		op->readlink(req, a->ino);
		break;
	case RF3_OP_MKNOD:
		op->mknod(req, a->ino, a->name, a->mode, a->rdev);
		break;
	case RF3_OP_MKDIR:
		op->mkdir(req, a->ino, a->name, a->mode);
		break;
	case RF3_OP_UNLINK:
		op->unlink(req, a->ino, a->name);
		break;
	case RF3_OP_RMDIR:
		op->rmdir(req, a->ino, a->name);
		break;
	case RF3_OP_SYMLINK:
		op->symlink(req, a->name2, a->ino, a->name);
		break;
	case RF3_OP_RENAME:
		op->rename(req, a->ino, a->name, a->ino2, a->name2, a->flags);
		break;
	case RF3_OP_LINK:
		op->link(req, a->ino, a->ino2, a->name);
		break;
	case RF3_OP_OPEN:
		op->open(req, a->ino, fi);
		break;
	case RF3_OP_READ:
		op->read(req, a->ino, a->size, a->off, fi);
		break;
	case RF3_OP_WRITE:
		if (op->write_buf) {
			a->bufv = (struct fuse_bufvec)FUSE_BUFVEC_INIT(a->size);
			a->bufv.buf[0].mem = (void *)a->buf;
			op->write_buf(req, a->ino, &a->bufv, a->off, fi);
		} else {
			op->write(req, a->ino, a->buf, a->size, a->off, fi);
		}
		break;
	case RF3_OP_FLUSH:
		op->flush(req, a->ino, fi);
		break;
	case RF3_OP_RELEASE:
		op->release(req, a->ino, fi);
		break;
	case RF3_OP_FSYNC:
		op->fsync(req, a->ino, a->i, fi);
		break;
	case RF3_OP_OPENDIR:
		op->opendir(req, a->ino, fi);
		break;
	case RF3_OP_READDIR:
		op->readdir(req, a->ino, a->size, a->off, fi);
		break;
	case RF3_OP_READDIRPLUS:
		op->readdirplus(req, a->ino, a->size, a->off, fi);
		break;
	case RF3_OP_RELEASEDIR:
		op->releasedir(req, a->ino, fi);
		break;
	case RF3_OP_FSYNCDIR:
		op->fsyncdir(req, a->ino, a->i, fi);
		break;
	case RF3_OP_STATFS:
		op->statfs(req, a->ino);
		break;
	case RF3_OP_SETXATTR:
		op->setxattr(req, a->ino, a->name, a->buf, a->size, a->i);
		break;
	case RF3_OP_GETXATTR:
		op->getxattr(req, a->ino, a->name, a->size);
		break;
	case RF3_OP_LISTXATTR:
		op->listxattr(req, a->ino, a->size);
		break;
	case RF3_OP_REMOVEXATTR:
		op->removexattr(req, a->ino, a->name);
		break;
	case RF3_OP_ACCESS:
		op->access(req, a->ino, a->i);
		break;
	case RF3_OP_CREATE:
		op->create(req, a->ino, a->name, a->mode, fi);
		break;
	case RF3_OP_GETLK:
		op->getlk(req, a->ino, fi, a->lock);
		break;
	case RF3_OP_SETLK:
		op->setlk(req, a->ino, fi, a->lock, a->i);
		break;
	case RF3_OP_FLOCK:
		op->flock(req, a->ino, fi, a->i);
		break;
	case RF3_OP_BMAP:
		op->bmap(req, a->ino, a->size, a->u64);
		break;
	case RF3_OP_IOCTL:
		op->ioctl(req, a->ino, (unsigned int)a->i, a->cookie, fi, a->flags, a->buf,
			  a->size, (size_t)a->u64);
		break;
	case RF3_OP_POLL:
		op->poll(req, a->ino, fi, a->ph);
		break;
	case RF3_OP_FALLOCATE:
		op->fallocate(req, a->ino, a->i, a->off, a->off2, fi);
		break;
	case RF3_OP_COPY_FILE_RANGE:
		op->copy_file_range(req, a->ino, a->off, fi, a->ino2, a->off2,
				    req->rfi2 ? &req->fi2 : NULL, a->size, a->i);
		break;
	case RF3_OP_LSEEK:
		op->lseek(req, a->ino, a->off, a->i, fi);
		break;
	case RF3_OP_RETRIEVE_REPLY: {
		void *data = a->data;
		struct fuse_bufvec bufv = FUSE_BUFVEC_INIT(a->size);

		bufv.buf[0].mem = (void *)a->buf;
		/* The filesystem replies (fuse_reply_none), which recycles the wrapper. */
		op->retrieve_reply(req, a->cookie, a->ino, a->off, &bufv);
		free(data);
		break;
	}
	default:
		fuse_log(FUSE_LOG_ERR, "fuse: internal error: unknown operation %d\n", req->op);
		if (req->r)
			fuse_reply_err(req, ENOSYS);
		else
			fuse_reply_none(req);
	}
}

/*
 * Run @req's handler. A high-level session (fuse.h) gives its path lock: every operation
 * holds it shared from building its path to the end of its call into the filesystem, and
 * RENAME holds it exclusive, so a rename never changes a directory's path under an
 * operation that is using the old one (libfuse's per-node tree locks give the same). The
 * lock prefers readers: a handler that blocks for long delays renames only.
 */
void rf_fuse3_run(struct fuse_req *req)
{
	pthread_rwlock_t *pl = req->se->path_lock;   /* @req may be recycled by its reply */
	int opc = req->op;

	if (!pl || opc == RF3_OP_FORGET || opc == RF3_OP_RETRIEVE_REPLY) {
		run_op(req);
		return;
	}
	if (opc == RF3_OP_RENAME)
		pthread_rwlock_wrlock(pl);
	else
		pthread_rwlock_rdlock(pl);
	run_op(req);
	pthread_rwlock_unlock(pl);
}

/* The runtime's table: a member for each operation the filesystem has, so that a missing
 * one gets the protocol's default from the runtime, as from libfuse. */
void rf_fuse3_fill_ops(struct fuse_session *se)
{
	const struct fuse_lowlevel_ops *op = &se->op;
	struct rf_ops *o = &se->rops;

	memset(o, 0, sizeof(*o));
	o->init = t_init;
	o->destroy = t_destroy;
#define SET(member, fn)                 \
	do {                            \
		if (op->member)         \
			o->member = fn; \
	} while (0)
	SET(lookup, t_lookup);
	if (op->forget || op->forget_multi)
		o->forget = t_forget;
	SET(getattr, t_getattr);
	SET(setattr, t_setattr);
	SET(readlink, t_readlink);
	SET(mknod, t_mknod);
	SET(mkdir, t_mkdir);
	SET(unlink, t_unlink);
	SET(rmdir, t_rmdir);
	SET(symlink, t_symlink);
	SET(rename, t_rename);
	SET(link, t_link);
	SET(open, t_open);
	SET(read, t_read);
	if (op->write || op->write_buf)
		o->write = t_write;
	SET(flush, t_flush);
	SET(release, t_release);
	SET(fsync, t_fsync);
	SET(opendir, t_opendir);
	SET(readdir, t_readdir);
	SET(readdirplus, t_readdirplus);
	SET(releasedir, t_releasedir);
	SET(fsyncdir, t_fsyncdir);
	SET(statfs, t_statfs);
	SET(setxattr, t_setxattr);
	SET(getxattr, t_getxattr);
	SET(listxattr, t_listxattr);
	SET(removexattr, t_removexattr);
	SET(access, t_access);
	SET(create, t_create);
	SET(getlk, t_getlk);
	SET(setlk, t_setlk);
	SET(flock, t_flock);
	SET(bmap, t_bmap);
	SET(ioctl, t_ioctl);
	SET(poll, t_poll);
	SET(fallocate, t_fallocate);
	SET(copy_file_range, t_copy_file_range);
	SET(lseek, t_lseek);
	SET(retrieve_reply, t_retrieve_reply);
#undef SET
}
