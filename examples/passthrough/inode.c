/* SPDX-License-Identifier: MIT */
/*
 * inode.c - passthrough's inodes on the runtime's inode table: how each reaches its source
 * file (an O_PATH fd or a file handle), references while a request uses one, the entry
 * replies that give the kernel a lookup, and who owns a file the caller creates.
 */
#include "passthrough.h"

#include <sched.h>

struct pt_inode *inode_of(struct rf_inode *b)
{
	return rf_inode_entry(b, struct pt_inode, base);
}

/* Count a user of @in's fd. If another loop thread is closing it right now (a few
 * microseconds: fstat and close), wait until it is done and the fd is -1. */
void busy_get(struct pt_inode *in)
{
	if (atomic_fetch_add(&in->busy, 1) < 0)
		while (atomic_load(&in->busy) < 0)
			sched_yield();
}

/* The inode of node id @nodeid with a request reference, or NULL. */
struct pt_inode *iget(struct pt_fs *fs, uint64_t nodeid)
{
	struct rf_inode *b = rf_itable_get(fs->table, nodeid);
	struct pt_inode *in;

	if (!b)
		return NULL;
	in = inode_of(b);
	busy_get(in);
	return in;
}

void iput(struct pt_fs *fs, struct pt_inode *in)
{
	if (!in)
		return;
	atomic_fetch_sub(&in->busy, 1);
	rf_itable_unref(fs->table, &in->base);
}

/* The table is done with @b: close its fd and free it. Any thread. */
void inode_free(struct rf_inode *b, void *data)
{
	struct pt_inode *in = inode_of(b);
	int fd = atomic_exchange(&in->fd, -1);

	if (fd >= 0)
		fd_close(fd);
	free(in->gone);
	free(in->handle);
	free(in);
}

/*
 * An O_PATH fd for @in, or -errno: its own fd, or one opened from its file handle (then
 * closed by ifd_put). The caller holds a request reference (iget), which keeps the fd open.
 */
int ifd_get(struct pt_fs *fs, struct pt_inode *in)
{
	int fd = atomic_load(&in->fd);

	if (fd >= 0)
		return fd;
	if (in->handle) {
		fd = open_by_handle_at(fs->root_dirfd, in->handle, O_PATH | O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	return -ESTALE;              /* closed on unlink */
}

void ifd_put(struct pt_inode *in, int fd)
{
	if (fd >= 0 && fd != atomic_load(&in->fd))
		fd_close(fd);
}

int fstat_fd(int fd, struct stat *st)
{
	return fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

/* A file handle for @fd on the source's mount, or NULL (then the inode keeps its fd). */
static struct file_handle *handle_of(struct pt_fs *fs, int fd)
{
	struct file_handle *fh = malloc(sizeof(*fh) + PT_HANDLE_MAX);
	int mnt;

	if (!fh)
		return NULL;
	fh->handle_bytes = PT_HANDLE_MAX;
	if (name_to_handle_at(fd, "", fh, &mnt, AT_EMPTY_PATH) < 0 || mnt != fs->mount_id) {
		free(fh);
		return NULL;
	}
	return fh;
}

static bool same_handle(const struct file_handle *a, const struct file_handle *b)
{
	return a->handle_type == b->handle_type && a->handle_bytes == b->handle_bytes &&
	       memcmp(a->f_handle, b->f_handle, a->handle_bytes) == 0;
}

/*
 * Find or create the inode for the O_PATH fd @fd (with attributes @st), counting one
 * kernel lookup. Takes ownership of @fd. On success *out holds a request reference.
 */
int inode_from_fd(struct pt_fs *fs, int fd, const struct stat *st, struct pt_inode **out)
{
	struct pt_inode *fresh = calloc(1, sizeof(*fresh));
	struct rf_inode *b;
	struct pt_inode *in;
	int r, tries;

	if (!fresh) {
		fd_close(fd);
		return -ENOMEM;
	}
	fresh->type = st->st_mode & S_IFMT;
	/* Directories are parents all the time, and a file without a name (O_TMPFILE) may
	 * not be found by its handle: both keep their fd. */
	if (fs->handles && !S_ISDIR(st->st_mode) && st->st_nlink > 0)
		fresh->handle = handle_of(fs, fd);
	if (fresh->handle) {
		/* Reached through its handle: no fd kept (decided before anyone can see it). */
		fd_close(fd);
		fd = -1;
	}
	atomic_init(&fresh->fd, fd);
	for (tries = 0;; tries++) {
		r = rf_itable_lookup_or_insert(fs->table, st->st_dev, st->st_ino, &fresh->base, &b);
		if (r < 0) {
			inode_free(&fresh->base, fs);
			return r;
		}
		in = inode_of(b);
		if (r == 1 || tries > 0 || !in->handle || !fresh->handle ||
		    same_handle(in->handle, fresh->handle))
			break;
		/* Handle mode: the file behind the old inode is gone and its number reused. */
		rf_itable_unhash(fs->table, b);
		rf_itable_forget(fs->table, in->base.nodeid, 1);
		rf_itable_unref(fs->table, b);
	}
	if (r == 0)
		inode_free(&fresh->base, fs);    /* never entered the table */
	else if (fd >= 0)
		maybe_prune(fs, fd, false);
	busy_get(in);
	*out = in;
	return 0;
}

/*
 * Every inode the kernel remembers keeps an O_PATH fd here, and the kernel remembers as
 * many as its dentry cache holds: `ls -l` of a directory with more files than
 * RLIMIT_NOFILE, or a find over a big tree, would run out of fds (EMFILE on LOOKUP). Past
 * fd number prune_at (3/4 of the limit; the kernel hands out the lowest free number, so at
 * least that many are open), ask the kernel to let go of the inodes looked up least
 * recently that nothing uses, down to prune_to (1/2): it evicts them and their FORGETs
 * close the fds. At most once per 2 ms, or at once when a call just got EMFILE
 * (@out_of_fds). Kernels before 6.18 have no prune (ENOSYS): then LOOKUPs past the
 * limit get EMFILE, as before, and -o inode_handles is the way out. Returns false if
 * pruning cannot help here (no prune, limit unknown or below 64, inode_handles mode), so
 * that nothing waits for it. Any thread.
 */
bool maybe_prune(struct pt_fs *fs, int fd, bool out_of_fds)
{
	uint64_t ids[RF_NOTIFY_PRUNE_MAX], last, now;
	size_t want, n;
	struct timespec ts;
	int r;

	if (fs->prune_at == INT_MAX || fs->handles || atomic_load(&fs->prune_off) || !fs->se)
		return false;
	if (fd < fs->prune_at && !out_of_fds)
		return true;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	last = atomic_load(&fs->prune_ns);
	if ((now - last < 2000000 && !out_of_fds) ||
	    !atomic_compare_exchange_strong(&fs->prune_ns, &last, now))
		return true;                     /* recent, or another thread is at it */
	/* Out of fds: a quarter of the limit, as from prune_at down to prune_to. */
	want = (size_t)(out_of_fds ? fs->prune_at - fs->prune_to :
		fd > fs->prune_to ? fd - fs->prune_to : 1);
	while (want > 0) {
		n = rf_itable_prune_candidates(fs->table, ids, want < RF_NOTIFY_PRUNE_MAX ?
							       want : RF_NOTIFY_PRUNE_MAX);
		if (n == 0)
			break;
		r = rf_notify_prune(fs->se, ids, n);
		if (r == -ENOSYS) {
			atomic_store(&fs->prune_off, true);
			fprintf(stderr, "passthrough: past 3/4 of RLIMIT_NOFILE (%d fds) and this "
				"kernel has no FUSE_NOTIFY_PRUNE (6.18): lookups past the limit get "
				"EMFILE; -o inode_handles keeps no fd per file\n", fs->prune_to * 2);
		}
		if (r < 0 || n < RF_NOTIFY_PRUNE_MAX)
			break;
		want -= n;
	}
	return !atomic_load(&fs->prune_off);
}

#define PT_FD_TRIES 5                 /* after 1, 2, 4, 8 and 16 ms */

static void fd_retry_fire(struct rf_loop *loop, void *data)
{
	struct pt_fd_retry *r = data;

	r->again(r->req, r->data);
}

/*
 * A call that needed an fd failed for want of one (@res EMFILE or ENFILE): have the kernel
 * prune (maybe_prune) and call @again(@req, @data) once the FORGETs had time to close
 * fds, after 1, 2, 4, 8 and 16 ms; then the error stands (at once if pruning cannot
 * help). True if a try is armed: the caller keeps its state and returns. Loop thread (a
 * backing callback or the handler).
 */
bool fd_retry(struct pt_fs *fs, struct rf_req *req, struct pt_fd_retry *r, int res,
	      void (*again)(struct rf_req *req, void *data), void *data)
{
	if ((res != -EMFILE && res != -ENFILE) || r->tries >= PT_FD_TRIES ||
	    !maybe_prune(fs, INT_MAX, true))
		return false;
	r->req = req;
	r->again = again;
	r->data = data;
	return rf_timer_start(rf_req_loop(req), &r->timer, 1u << r->tries++, fd_retry_fire,
			      r) == 0;
}

void fill_entry(const struct pt_fs *fs, struct rf_entry *e, const struct pt_inode *in,
		const struct stat *st)
{
	memset(e, 0, sizeof(*e));
	e->ino = in->base.nodeid;
	e->generation = in->base.generation;
	e->attr = *st;
	e->attr_timeout = fs->timeout;
	e->entry_timeout = fs->timeout;
}

/* Reply with @in's entry (a lookup is counted already) and drop the request reference. */
void reply_entry_put(struct rf_req *req, struct pt_fs *fs, struct pt_inode *in,
		     const struct stat *st)
{
	struct rf_entry e;

	fill_entry(fs, &e, in, st);
	if (rf_reply_entry(req, &e) < 0)
		rf_itable_forget(fs->table, in->base.nodeid, 1);
	iput(fs, in);
}

/* Reply with the entry for O_PATH fd @fd (taken over). */
void reply_fd_entry(struct rf_req *req, struct pt_fs *fs, int fd)
{
	struct pt_inode *in;
	struct stat st;
	int r = fstat_fd(fd, &st);

	if (r < 0) {
		fd_close(fd);
		rf_reply_err(req, r);
		return;
	}
	r = inode_from_fd(fs, fd, &st, &in);
	if (r < 0) {
		rf_reply_err(req, r);
		return;
	}
	reply_entry_put(req, fs, in, &st);
}

/*
 * Close-on-unlink: once the source file has no name left and nothing uses the inode
 * (no open handle, no other request), its O_PATH fd is the last thing pinning the file:
 * close it so the space is freed now, not at FORGET. Later requests on the node id get
 * the last attributes (GETATTR) or ESTALE. Directories keep their fd (a process may sit
 * in a removed directory; it costs no space). Called with one request reference held:
 * the drop happens only if that is the only one, and new users wait until it is done.
 * @known: the file's attributes with st_nlink 0 if the caller just read them (a file
 * whose link count reached 0 never gets a name back: linkat refuses it), else NULL.
 */
void maybe_drop_fd(struct pt_inode *in, const struct stat *known)
{
	int one = 1;
	struct stat st;
	int fd;

	if (!atomic_load(&in->unlinked) || S_ISDIR(in->type) || atomic_load(&in->nopen) ||
	    atomic_load(&in->fd) < 0 || in->gone)
		return;
	if (!atomic_compare_exchange_strong(&in->busy, &one, 1 + PT_DROPPING))
		return;
	fd = atomic_load(&in->fd);
	if (known)
		st = *known;
	if (known || (fstat_fd(fd, &st) == 0 && st.st_nlink == 0)) {
		in->gone = malloc(sizeof(st));
		if (in->gone) {
			*in->gone = st;
			atomic_store(&in->fd, -1);
			fd_close(fd);
		}
	}
	atomic_fetch_sub(&in->busy, PT_DROPPING);
}

/* A name of the source file with key (@dev, @ino) went away: is it the last one? */
void check_unlinked(struct pt_fs *fs, dev_t dev, ino_t ino)
{
	struct rf_inode *b = rf_itable_find(fs->table, dev, ino);
	struct pt_inode *in;
	struct stat st;
	bool gone = false;
	int fd;

	if (!b)
		return;
	in = inode_of(b);
	busy_get(in);
	fd = ifd_get(fs, in);
	if (fd >= 0 && fstat_fd(fd, &st) == 0 && st.st_nlink == 0) {
		/* A new file may get this inode number once nothing pins the old one. */
		rf_itable_unhash(fs->table, b);
		atomic_store(&in->unlinked, true);
		gone = true;
	}
	ifd_put(in, fd);
	maybe_drop_fd(in, gone ? &st : NULL);
	iput(fs, in);
}

/* ---- ownership of new files ------------------------------------------------------------- */

int owner_for(struct rf_req *req, struct pt_inode *parent, mode_t mode,
	      struct pt_owner *o)
{
	const struct rf_ctx *ctx = rf_req_ctx(req);
	struct stat pst;
	int r = fstat_fd(atomic_load(&parent->fd), &pst);

	if (r < 0)
		return r;
	o->uid = ctx->uid;
	o->gid = ctx->gid;
	o->mode = mode & ~(ctx->umask & 0777);
	o->dir_mtime = pst.st_mtim;
	if (pst.st_mode & S_ISGID) {
		/* The setgid-directory rule: the group is the directory's, and so is the bit. */
		o->gid = pst.st_gid;
		if (S_ISDIR(mode))
			o->mode |= S_ISGID;
	}
	return 0;
}

/*
 * Give the new file behind @fd (any kind of fd, O_PATH included) to its owner, and
 * restore set-id bits that chown(2) cleared. @st, fresh from the caller, is refreshed if
 * anything changed (no system call at all when the file is already right).
 */
int give_to_owner(int fd, const struct pt_owner *o, struct stat *st)
{
	char path[PT_PROC_PATH];
	mode_t want = o->mode & 07777;
	bool changed = false;
	int r;

	if (st->st_uid != o->uid || st->st_gid != o->gid) {
		if (fchownat(fd, "", o->uid, o->gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		changed = true;
	}
	if (!S_ISLNK(st->st_mode)) {
		if (changed) {
			r = fstat_fd(fd, st);       /* chown may have cleared set-id bits */
			if (r < 0)
				return r;
		}
		if ((st->st_mode & 07777) != want) {
			proc_path(path, fd);
			if (chmod(path, want) < 0)
				return -errno;
			changed = true;
		}
	}
	return changed ? fstat_fd(fd, st) : 0;
}
