/* SPDX-License-Identifier: MIT */
/*
 * names.c - the requests that make a name (MKNOD, MKDIR, SYMLINK, LINK) and those that
 * take one away or move it (UNLINK, RMDIR, RENAME).
 */
#include "passthrough.h"

struct pt_mk {
	struct pt_inode *parent;
	const char *name;            /* in the request: valid until the reply */
	struct pt_owner own;
	struct pt_fd_retry retry;    /* made, but no fd free to open it */
};

static void mk_finish(struct rf_req *req, struct pt_mk *mk, int res);

static void mk_again(struct rf_req *req, void *data)
{
	mk_finish(req, data, 0);
}

/* Whether @st is what we just made with @mode: of that kind, and still the server's. */
static bool made_by_us(const struct stat *st, mode_t mode)
{
	return (st->st_mode & S_IFMT) == (mode & S_IFMT) && st->st_uid == geteuid();
}

/*
 * Whether the file at @path in @dfd (statx flags @flags) was born no earlier than @since,
 * the parent directory's mtime just before the call that made it. Between our
 * mknodat/mkdirat/symlinkat and the open of the name, anyone who may write to the
 * directory can swap another root-owned file of that kind in under it (a root 0700
 * directory, with RENAME_EXCHANGE), which made_by_us cannot tell from ours and
 * give_to_owner would hand to the caller. That file was born before its directory last
 * changed; ours after. Both times come from the source filesystem's own clock, so a
 * remote source whose clock is off ours cannot fail every mkdir. Left: a root file born
 * in the same clock tick as the directory's last change, with nothing changed since. A
 * source that keeps no birth times passes (made_by_us alone).
 */
static bool born_since(int dfd, const char *path, int flags, const struct timespec *since)
{
	struct statx stx;

	if (statx(dfd, path, flags | AT_SYMLINK_NOFOLLOW, STATX_BTIME, &stx) < 0)
		return false;
	if (!(stx.stx_mask & STATX_BTIME))
		return true;
	return stx.stx_btime.tv_sec > since->tv_sec ||
	       (stx.stx_btime.tv_sec == since->tv_sec &&
		stx.stx_btime.tv_nsec >= (uint32_t)since->tv_nsec);
}

/* The name @mk->name now exists in the parent: make it the caller's and reply its entry. */
static void mk_finish(struct rf_req *req, struct pt_mk *mk, int res)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_inode *parent = mk->parent;   /* @mk goes with the reply */
	int pfd = atomic_load(&parent->fd);
	struct pt_inode *in;
	struct stat st;
	int fd, r;

	if (res < 0) {
		rf_reply_err(req, cancel_err(res));
		goto out;
	}
	fd = openat(pfd, mk->name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	r = fd < 0 ? -errno : 0;     /* before fd_retry, whose calls may change errno */
	if (r < 0 && fd_retry(fs, req, &mk->retry, r, mk_again, mk))
		return;                          /* the same name, once fds were pruned */
	if (r == 0)
		r = fstat_fd(fd, &st);
	if (r == 0 && (!made_by_us(&st, mk->own.mode) ||
		       !born_since(fd, "", AT_EMPTY_PATH, &mk->own.dir_mtime))) {
		/* Someone who can write to the directory put something else under the name
		 * since we made it: never give that to the caller. */
		fd_close(fd);
		rf_reply_err(req, -EEXIST);
		goto out;
	}
	if (r == 0)
		r = give_to_owner(fd, &mk->own, &st);
	if (r < 0) {
		/* Do not leave a root-owned file behind (EMFILE on the open, say). */
		if (fd >= 0 || (fstatat(pfd, mk->name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
				made_by_us(&st, mk->own.mode) &&
				born_since(pfd, mk->name, 0, &mk->own.dir_mtime)))
			unlinkat(pfd, mk->name, S_ISDIR(mk->own.mode) ? AT_REMOVEDIR : 0);
		if (fd >= 0)
			fd_close(fd);
		rf_reply_err(req, r);
		goto out;
	}
	r = inode_from_fd(fs, fd, &st, &in);
	if (r < 0)
		rf_reply_err(req, r);
	else
		reply_entry_put(req, fs, in, &st);
out:
	iput(fs, parent);
}

static void mk_done(struct rf_req *req, int res, void *data)
{
	mk_finish(req, data, res);
}

/* Common start of MKNOD, MKDIR, SYMLINK: the parent, the name, the owner. */
static struct pt_mk *mk_start(struct rf_req *req, uint64_t parent, const char *name,
			      mode_t mode)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_mk *mk;
	int r;

	if (!name_ok(name)) {
		rf_reply_err(req, strlen(name) > NAME_MAX ? -ENAMETOOLONG : -EINVAL);
		return NULL;
	}
	mk = REQ_STATE(req, struct pt_mk);
	clock_gettime(CLOCK_REALTIME_COARSE, &mk->own.dir_mtime);    /* the clock of file times */
	mk->name = name;
	mk->parent = iget(fs, parent);
	r = !mk->parent ? -ESTALE : !S_ISDIR(mk->parent->type) ? -ENOTDIR :
				     owner_for(req, mk->parent, mode, &mk->own);
	if (r < 0) {
		struct pt_inode *p = mk->parent;

		rf_reply_err(req, r);
		iput(fs, p);
		return NULL;
	}
	return mk;
}

void pt_mknod(struct rf_req *req, uint64_t parent, const char *name, mode_t mode,
	      dev_t rdev)
{
	struct pt_mk *mk = mk_start(req, parent, name, mode);

	if (!mk)
		return;
	/* No io_uring mknod: a short metadata call. */
	if (mknodat(atomic_load(&mk->parent->fd), name, mk->own.mode, rdev) < 0)
		return mk_finish(req, mk, -errno);
	mk_finish(req, mk, 0);
}

void pt_mkdir(struct rf_req *req, uint64_t parent, const char *name, mode_t mode)
{
	struct pt_mk *mk = mk_start(req, parent, name, S_IFDIR | (mode & 07777));
	int r;

	if (!mk)
		return;
	r = rf_backing_mkdirat(req, atomic_load(&mk->parent->fd), name, mk->own.mode & 07777,
			       mk_done, mk);
	if (r < 0)
		mk_finish(req, mk, r);
}

void pt_symlink(struct rf_req *req, const char *target, uint64_t parent,
		const char *name)
{
	struct pt_mk *mk = mk_start(req, parent, name, S_IFLNK | 0777);
	int r;

	if (!mk)
		return;
	r = rf_backing_symlinkat(req, target, atomic_load(&mk->parent->fd), name, mk_done, mk);
	if (r < 0)
		mk_finish(req, mk, r);
}

struct pt_link {
	struct pt_inode *in, *parent;
	int fd;
};

static void link_done(struct rf_req *req, int res, void *data)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_link l = *(struct pt_link *)data;     /* *data goes with the reply */
	struct stat st;
	int r = cancel_err(res);

	if (r == 0)
		r = fstat_fd(l.fd, &st);
	if (r < 0) {
		rf_reply_err(req, r);
	} else {
		rf_itable_count_lookup(fs->table, &l.in->base);
		rf_itable_ref(&l.in->base);
		busy_get(l.in);
		reply_entry_put(req, fs, l.in, &st);
	}
	ifd_put(l.in, l.fd);
	iput(fs, l.in);
	iput(fs, l.parent);
}

void pt_link(struct rf_req *req, uint64_t ino, uint64_t newparent, const char *newname)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_link *l;
	int r;

	if (!name_ok(newname))
		return (void)rf_reply_err(req, -EINVAL);
	l = REQ_STATE(req, struct pt_link);
	l->fd = -1;
	l->in = iget(fs, ino);
	l->parent = iget(fs, newparent);
	r = !l->in || !l->parent ? -ESTALE : !S_ISDIR(l->parent->type) ? -ENOTDIR : 0;
	if (r == 0) {
		l->fd = ifd_get(fs, l->in);
		r = l->fd < 0 ? l->fd : 0;
	}
	/* AT_EMPTY_PATH links the O_PATH fd's file itself (we have CAP_DAC_READ_SEARCH). */
	if (r == 0)
		r = rf_backing_linkat(req, l->fd, "", atomic_load(&l->parent->fd), newname,
				      AT_EMPTY_PATH, link_done, l);
	if (r < 0) {
		/* Our own call (nothing was submitted): as if it had failed. */
		link_done(req, r, l);
	}
}

/* ---- removing names --------------------------------------------------------------------- */

struct pt_rm {
	struct pt_inode *parent, *newparent;
	bool victim;                 /* a file lost a name: check its link count */
	dev_t dev;
	ino_t ino;
};

static void rm_done(struct rf_req *req, int res, void *data)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_rm rm = *(struct pt_rm *)data;        /* *data goes with the reply */

	if (res == 0 && rm.victim)
		check_unlinked(fs, rm.dev, rm.ino);
	rf_reply_err(req, cancel_err(res));
	iput(fs, rm.parent);
	iput(fs, rm.newparent);
}

/*
 * The sticky-directory rule, on the file the name in @pfd leads to now (@st). The kernel
 * checked it against the file it had cached for the name, and another user may since
 * have replaced that in the source (removed their own file, the victim made one):
 * unlinking or renaming as root would then take a name the caller may not. Uid 0 stands
 * for CAP_FOWNER, as in kill_unflagged.
 */
static int sticky_ok(struct rf_req *req, int pfd, const struct stat *st)
{
	uid_t uid = rf_req_ctx(req)->uid;
	struct stat pst;
	int r;

	if (uid == 0 || uid == st->st_uid)
		return 0;
	r = fstat_fd(pfd, &pst);
	if (r < 0)
		return r;
	return !(pst.st_mode & S_ISVTX) || uid == pst.st_uid ? 0 : -EPERM;
}

static struct pt_rm *rm_start(struct rf_req *req, uint64_t parent, const char *name)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_rm *rm;
	struct stat st;
	int r;

	if (!name_ok(name)) {
		rf_reply_err(req, -EINVAL);
		return NULL;
	}
	rm = REQ_STATE(req, struct pt_rm);
	rm->parent = iget(fs, parent);
	r = !rm->parent ? -ESTALE : !S_ISDIR(rm->parent->type) ? -ENOTDIR : 0;
	if (r == 0) {
		/* Who is losing a name, to look at its link count afterwards. */
		if (fstatat(atomic_load(&rm->parent->fd), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = -errno;
		} else {
			rm->victim = true;
			rm->dev = st.st_dev;
			rm->ino = st.st_ino;
			r = sticky_ok(req, atomic_load(&rm->parent->fd), &st);
		}
	}
	if (r < 0) {
		rm_done(req, r, rm);
		return NULL;
	}
	return rm;
}

static void unlink_common(struct rf_req *req, uint64_t parent, const char *name, int flags)
{
	struct pt_rm *rm = rm_start(req, parent, name);
	int r;

	if (!rm)
		return;
	r = rf_backing_unlinkat(req, atomic_load(&rm->parent->fd), name, flags, rm_done, rm);
	if (r < 0)
		rm_done(req, r, rm);
}

void pt_unlink(struct rf_req *req, uint64_t parent, const char *name)
{
	unlink_common(req, parent, name, 0);
}

void pt_rmdir(struct rf_req *req, uint64_t parent, const char *name)
{
	unlink_common(req, parent, name, AT_REMOVEDIR);
}

void pt_rename(struct rf_req *req, uint64_t parent, const char *name, uint64_t newparent,
	       const char *newname, unsigned int flags)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_rm *rm;
	struct stat st;
	int r;

	if (!name_ok(name) || !name_ok(newname))
		return (void)rf_reply_err(req, -EINVAL);
	rm = REQ_STATE(req, struct pt_rm);
	rm->parent = iget(fs, parent);
	rm->newparent = iget(fs, newparent);
	r = !rm->parent || !rm->newparent ? -ESTALE :
	    !S_ISDIR(rm->parent->type) || !S_ISDIR(rm->newparent->type) ? -ENOTDIR : 0;
	if (r < 0)
		return rm_done(req, r, rm);
	/* Both names as they are now in the source (sticky_ok): the one moved... */
	if (fstatat(atomic_load(&rm->parent->fd), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return rm_done(req, -errno, rm);
	r = sticky_ok(req, atomic_load(&rm->parent->fd), &st);
	if (r < 0)
		return rm_done(req, r, rm);
	/* ...and the one replaced, which may take the replaced file's last link (none with
	 * NOREPLACE: EEXIST comes first). */
	if (!(flags & RENAME_NOREPLACE) &&
	    fstatat(atomic_load(&rm->newparent->fd), newname, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		r = sticky_ok(req, atomic_load(&rm->newparent->fd), &st);
		if (r < 0)
			return rm_done(req, r, rm);
		if (!(flags & RENAME_EXCHANGE)) {
			rm->victim = true;
			rm->dev = st.st_dev;
			rm->ino = st.st_ino;
		}
	}
	r = rf_backing_renameat2(req, atomic_load(&rm->parent->fd), name,
				 atomic_load(&rm->newparent->fd), newname, flags, rm_done, rm);
	if (r < 0)
		rm_done(req, r, rm);
}
