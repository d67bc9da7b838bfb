/* SPDX-License-Identifier: MIT */
/*
 * dir.c - directories: OPENDIR, READDIR and READDIRPLUS (read on a worker), RELEASEDIR,
 * FSYNCDIR.
 */
#include "passthrough.h"

static struct pt_dir *dir_of_fi(const struct rf_file *fi)
{
	struct pt_handle *h = handle_of_fi(fi, PT_DIR);

	return h ? (struct pt_dir *)h : NULL;
}

/* closedir, and the runtime forgets what it knew of the fd's number (FSYNCDIR gave it
 * to rf_backing_fsync), as fd_close does for other fds. */
static void dir_close(struct pt_dir *d)
{
	rf_backing_forget_fd(dirfd(d->dp));
	closedir(d->dp);
}

static void opendir_done(struct rf_req *req, int res, void *data);

static void opendir_again(struct rf_req *req, void *data)
{
	struct pt_dir *d = data;
	int r = rf_backing_openat(req, atomic_load(&d->h.in->fd), ".", O_RDONLY | O_DIRECTORY,
				  0, opendir_done, d);

	if (r < 0)
		opendir_done(req, r, d);
}

static void opendir_done(struct rf_req *req, int res, void *data)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_dir *d = data;
	struct pt_inode *in = d->h.in;
	struct rf_file *fi = d->h.fi;

	/* No fd free: after a prune, again (the retry state is the request's, pt_opendir). */
	if (fd_retry(fs, req, rf_req_scratch(req, 0), res, opendir_again, d))
		return;
	if (res >= 0) {
		d->dp = fdopendir(res);
		if (!d->dp) {
			fd_close(res);
			res = -ENOMEM;
		}
	}
	if (res < 0) {
		rf_reply_err(req, cancel_err(res));
		free(d);
		return iput(fs, in);
	}
	d->h.kind = PT_DIR;
	d->h.fd = dirfd(d->dp);
	d->fs = fs;
	rf_itable_ref(&in->base);
	atomic_fetch_add(&in->nopen, 1);
	fi->fh = (uint64_t)(uintptr_t)d;
	if (fs->cache == CACHE_ALWAYS) {
		fi->keep_cache = 1;
		fi->cache_readdir = 1;
	}
	if (rf_reply_open(req, fi) < 0) {
		dir_close(d);
		handle_free(fs, &d->h);
	}
	iput(fs, in);
}

void pt_opendir(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_dir *d = calloc(1, sizeof(*d));

	if (!d)
		return (void)rf_reply_err(req, -ENOMEM);
	d->h.in = iget(fs, ino);
	if (!d->h.in || !S_ISDIR(d->h.in->type)) {
		rf_reply_err(req, d->h.in ? -ENOTDIR : -ESTALE);
		iput(fs, d->h.in);
		free(d);
		return;
	}
	d->h.fi = fi;
	d->h.fd = -1;
	REQ_STATE(req, struct pt_fd_retry);
	opendir_again(req, d);
}

static void dir_stash(struct pt_dir *d, const struct dirent *de)
{
	if (de == &d->pend)
		return;
	d->pend.d_ino = de->d_ino;
	d->pend.d_off = de->d_off;
	d->pend.d_type = de->d_type;
	snprintf(d->pend.d_name, sizeof(d->pend.d_name), "%s", de->d_name);
	d->has_pend = true;
}

/* One READDIRPLUS entry: 1 added, 0 no room, -1 skipped (the name went away). */
static int add_plus(struct pt_dir *d, const struct dirent *de)
{
	struct pt_fs *fs = d->fs;
	struct pt_inode *in;
	struct rf_entry e;
	struct stat st;
	int fd, r, added;

	memset(&e, 0, sizeof(e));
	if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) {
		/* No lookup for these: the kernel knows its parents. */
		e.attr.st_ino = de->d_ino;
		e.attr.st_mode = DTTOIF(de->d_type);
		return rf_dirbuf_add_plus(&d->db, de->d_name, &e, de->d_off);
	}
	fd = openat(d->h.fd, de->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	r = fd < 0 ? -errno : fstat_fd(fd, &st);
	if (r < 0 && fd >= 0)
		fd_close(fd);
	if (r == 0)
		r = inode_from_fd(fs, fd, &st, &in);    /* takes the fd */
	if (r < 0) {
		if (r == -ENOENT)
			return -1;      /* gone since readdir saw it */
		if (r == -EMFILE || r == -ENFILE)
			maybe_prune(fs, INT_MAX, true);
		/* Still list the name, without attributes (no lookup counted). */
		e.attr.st_ino = de->d_ino;
		e.attr.st_mode = DTTOIF(de->d_type);
		return rf_dirbuf_add_plus(&d->db, de->d_name, &e, de->d_off);
	}
	fill_entry(fs, &e, in, &st);
	added = rf_dirbuf_add_plus(&d->db, de->d_name, &e, de->d_off);
	if (!added)
		rf_itable_forget(fs->table, in->base.nodeid, 1);
	iput(fs, in);
	return added;
}

/*
 * Worker: fill the reply with entries from offset d->off on. Offsets are the source
 * filesystem's own (telldir cookies); an entry that did not fit is kept for the next call.
 */
static int readdir_work(void *arg)
{
	struct pt_dir *d = arg;
	size_t used = 0;
	int n = 0, err = 0;

	if (d->off != d->pos) {
		if (d->off == 0)
			rewinddir(d->dp);
		else
			seekdir(d->dp, d->off);
		d->pos = d->off;
		d->has_pend = false;
	}
	for (;;) {
		struct dirent *de;
		size_t need;
		int added;

		if (d->has_pend) {
			de = &d->pend;
		} else {
			errno = 0;
			de = readdir(d->dp);
			if (!de) {
				err = errno ? -errno : 0;
				break;
			}
		}
		need = d->plus ? PT_DIRENTPLUS_LEN(strlen(de->d_name)) :
				 PT_DIRENT_LEN(strlen(de->d_name));
		if (used + need > d->size) {
			dir_stash(d, de);
			break;
		}
		if (d->plus) {
			added = add_plus(d, de);
		} else {
			struct stat st;

			memset(&st, 0, sizeof(st));
			st.st_ino = de->d_ino;
			st.st_mode = DTTOIF(de->d_type);
			added = rf_dirbuf_add(&d->db, de->d_name, &st, de->d_off);
		}
		if (added == 0) {
			dir_stash(d, de);
			break;
		}
		d->has_pend = false;
		d->pos = de->d_off;
		if (added > 0) {
			used += need;
			n++;
		}
	}
	return n > 0 ? n : err;
}

static void readdir_done(struct rf_req *req, int res, void *data)
{
	struct pt_dir *d = data;

	if (res < 0)
		rf_reply_err(req, cancel_err(res));
	else
		rf_reply_dirbuf(req, &d->db);
}

static void readdir_common(struct rf_req *req, size_t size, off_t off, struct rf_file *fi,
			   bool plus)
{
	struct pt_dir *d = dir_of_fi(fi);
	int r;

	if (!d)
		return (void)rf_reply_err(req, -EBADF);
	d->off = off;
	d->size = size;
	d->plus = plus;
	rf_dirbuf_init(&d->db, req, size);
	/* readdir(3) may read the disk: a worker does it, packing the reply in place. */
	r = rf_backing_call(req, readdir_work, d, readdir_done, d);
	if (r < 0)
		rf_reply_err(req, r);
}

void pt_readdir(struct rf_req *req, uint64_t ino, size_t size, off_t off,
		struct rf_file *fi)
{
	readdir_common(req, size, off, fi, false);
}

void pt_readdirplus(struct rf_req *req, uint64_t ino, size_t size, off_t off,
		    struct rf_file *fi)
{
	readdir_common(req, size, off, fi, true);
}

void pt_releasedir(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct pt_dir *d = dir_of_fi(fi);

	if (!d)
		return (void)rf_reply_err(req, -EBADF);
	dir_close(d);                /* closing a directory writes nothing back */
	handle_free(fs_of(req), &d->h);
	rf_reply_err(req, 0);
}

void pt_fsyncdir(struct rf_req *req, uint64_t ino, int datasync, struct rf_file *fi)
{
	struct pt_dir *d = dir_of_fi(fi);
	int r;

	if (!d)
		return (void)rf_reply_err(req, -EBADF);
	r = rf_backing_fsync(req, d->h.fd, datasync, NULL, NULL);
	if (r < 0)
		rf_reply_err(req, r);
}
