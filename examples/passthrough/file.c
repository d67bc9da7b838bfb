/* SPDX-License-Identifier: MIT */
/*
 * file.c - open files: OPEN, CREATE, TMPFILE, READ, WRITE, FLUSH, RELEASE, FSYNC, FALLOCATE,
 * COPY_FILE_RANGE and LSEEK, with kernel passthrough backing ids shared per inode.
 */
#include "passthrough.h"

#include <sys/ioctl.h>

/* The flags to open the source file with, for a kernel open with @flags. */
static int source_flags(const struct pt_fs *fs, int flags)
{
	/* O_NOFOLLOW would stop at the /proc magic link; O_DIRECT needs aligned buffers we
	 * do not promise (the page cache question is the kernel's, per cache mode). */
	flags &= ~(O_CREAT | O_EXCL | O_NOCTTY | O_NOFOLLOW | O_DIRECT | O_PATH);
	if (fs->writeback) {
		/* The kernel reads around partial pages and appends by itself. */
		if ((flags & O_ACCMODE) == O_WRONLY)
			flags = (flags & ~O_ACCMODE) | O_RDWR;
		flags &= ~O_APPEND;
	}
	return flags | O_CLOEXEC;
}

/* Writes must reach us to drop these bits (kernel passthrough writes as root). */
static bool has_setid(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID));
}

/*
 * Hand a regular file to the kernel through passthrough if we can. All open handles of
 * an inode must agree (the kernel refuses a passthrough open next to cached ones, a
 * plain open next to passthrough ones, and a second backing file for an inode), so the
 * first open decides until the last one is released: one backing id per inode, shared
 * by its handles and closed with the last of them. Set-id files stay plain: the kernel
 * writes passthrough files with the server's credentials, which would keep the bits a
 * write by another user must drop.
 */
static void backing_attach(struct pt_fs *fs, struct pt_handle *h, struct rf_file *fi)
{
	struct pt_inode *in = h->in;
	int id;

	if (!S_ISREG(in->type) || !fs->want_passthrough)
		return;
	pthread_mutex_lock(&fs->lock);
	if (!in->backing_id && !in->plain_users && atomic_load(&fs->passthrough) &&
	    !has_setid(h->fd)) {
		struct pt_backing_map map = { .fd = h->fd };

		id = ioctl(rf_session_fd(fs->se), PT_DEV_IOC_BACKING_OPEN, &map);
		if (id > 0) {
			in->backing_id = id;
		} else if (atomic_exchange(&fs->passthrough, false)) {
			fprintf(stderr, "passthrough: kernel passthrough disabled: "
				"FUSE_DEV_IOC_BACKING_OPEN failed: %s; using normal I/O\n",
				strerror(id < 0 ? errno : EINVAL));
		}
	}
	if (in->backing_id) {
		in->backing_users++;
		h->passthrough = true;
		fi->passthrough = 1;
		fi->backing_id = in->backing_id;
		/* Only DIRECT_IO, PARALLEL_DIRECT_WRITES and NOFLUSH go with passthrough. */
		fi->direct_io = 0;
		fi->keep_cache = 0;
		fi->parallel_direct_writes = 0;
	} else {
		in->plain_users++;
		h->plain = true;
	}
	pthread_mutex_unlock(&fs->lock);
}

static void backing_detach(struct pt_fs *fs, struct pt_handle *h)
{
	struct pt_inode *in = h->in;

	if (!h->passthrough && !h->plain)
		return;
	pthread_mutex_lock(&fs->lock);
	if (h->plain) {
		in->plain_users--;
	} else if (--in->backing_users == 0) {
		uint32_t id = (uint32_t)in->backing_id;

		if (ioctl(rf_session_fd(fs->se), PT_DEV_IOC_BACKING_CLOSE, &id) < 0)
			fprintf(stderr, "passthrough: FUSE_DEV_IOC_BACKING_CLOSE %u: %s\n", id,
				strerror(errno));
		in->backing_id = 0;
	}
	pthread_mutex_unlock(&fs->lock);
	h->passthrough = false;
	h->plain = false;
}

static void set_cache_flags(struct rf_req *req, const struct pt_fs *fs, int fd,
			    struct rf_file *fi)
{
	/* An O_DIRECT open asks for no page cache whatever the mode: with direct_io the
	 * kernel sends its reads as they are, instead of a GETATTR before each one to check
	 * the cached attributes. */
	bool direct = fs->cache == CACHE_NEVER || (fi->flags & O_DIRECT);

	fi->direct_io = direct;
	fi->parallel_direct_writes = direct;
	fi->keep_cache = fs->cache == CACHE_ALWAYS;
	/* A FLUSH would do nothing on a memory or disk source: the kernel need not send one
	 * on every close(2). Not for O_RDWR opens: with noflush the kernel would not write
	 * back at close what a shared mmap of the file dirtied (only such an open can map it
	 * writable). Locks are unaffected: ours are OFD locks, which FLUSH leaves alone. */
	fi->noflush = (fi->flags & O_ACCMODE) != O_RDWR && !rf_backing_flush_needed(req, fd);
}

void handle_free(struct pt_fs *fs, struct pt_handle *h)
{
	if (h->in) {
		atomic_fetch_sub(&h->in->nopen, 1);
		rf_itable_unref(fs->table, &h->in->base);
	}
	free(h);
}

/* The source file is open as @h->fd: finish OPEN/CREATE/TMPFILE bookkeeping. */
static void handle_ready(struct rf_req *req, struct pt_fs *fs, struct pt_handle *h,
			 struct rf_file *fi)
{
	h->kind = PT_FILE;
	rf_itable_ref(&h->in->base);
	atomic_fetch_add(&h->in->nopen, 1);
	set_cache_flags(req, fs, h->fd, fi);
	backing_attach(fs, h, fi);
	fi->fh = (uint64_t)(uintptr_t)h;
}

/* The reply did not reach the kernel: no RELEASE will come for @h. */
static void handle_abandon(struct pt_fs *fs, struct pt_handle *h)
{
	backing_detach(fs, h);
	fd_close(h->fd);
	handle_free(fs, h);
}

/* The source file is open as @h->fd: reply, and drop the request's inode reference. */
static void open_finish(struct rf_req *req, struct pt_handle *h)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_inode *in = h->in;

	handle_ready(req, fs, h, h->fi);
	if (rf_reply_open(req, h->fi) < 0)
		handle_abandon(fs, h);
	iput(fs, in);
}

/* The invalidation is best effort: the open goes on whatever it returned. */
static void open_killed(struct rf_req *req, int res, void *data)
{
	struct pt_killed *k = data;

	open_finish(req, k->data);
}

static void open_done(struct rf_req *req, int res, void *data);

static void open_again(struct rf_req *req, void *data)
{
	struct pt_handle *h = data;
	int r = rf_backing_openat(req, AT_FDCWD, h->path, h->flags, 0, open_done, h);

	if (r < 0)
		open_done(req, r, h);
}

static void open_done(struct rf_req *req, int res, void *data)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_handle *h = data;
	struct pt_inode *in = h->in;
	struct rf_file *fi = h->fi;

	/* No fd free: after a prune, again (the retry state is the request's, pt_open). */
	if (fd_retry(fs, req, rf_req_scratch(req, 0), res, open_again, h))
		return;
	if (h->tmpfd >= 0)
		fd_close(h->tmpfd);
	if (res < 0) {
		rf_reply_err(req, cancel_err(res));
		free(h);
		iput(fs, in);
		return;
	}
	h->fd = res;
	/* The same file as the inode's fd: the same filesystem, no fstatfs on the first read.
	 * A file reached by its handle is on the source's own mount (handle_of). */
	rf_backing_fd_inherit(h->fd, h->tmpfd < 0 ? atomic_load(&in->fd) : fs->root_dirfd);
	if (fi->kill_priv && (fi->flags & O_TRUNC) && kill_suidgid(req, h->fd, false) > 0 &&
	    after_killed(req, in->base.nodeid, open_killed, &(struct pt_killed){ .data = h }) == 0)
		return;
	open_finish(req, h);
}

void pt_open(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_handle *h;
	int fd, r;

	h = calloc(1, sizeof(*h));
	if (!h)
		return (void)rf_reply_err(req, -ENOMEM);
	REQ_STATE(req, struct pt_fd_retry);
	h->in = iget(fs, ino);
	if (!h->in) {
		free(h);
		return (void)rf_reply_err(req, -ESTALE);
	}
	r = S_ISDIR(h->in->type) ? -EISDIR : S_ISLNK(h->in->type) ? -ELOOP : 0;
	fd = r ? r : ifd_get(fs, h->in);
	if (fd < 0) {
		rf_reply_err(req, fd);
		iput(fs, h->in);
		free(h);
		return;
	}
	/* A temporary fd from a file handle must outlive the asynchronous open. */
	h->tmpfd = fd != atomic_load(&h->in->fd) ? fd : -1;
	/*
	 * Reopen the inode's own O_PATH fd through its /proc magic link. That reaches the
	 * very inode the fd pins, whatever has become of its names since: no path is walked,
	 * so there is no symlink or rename for another user to slip in (symlinks themselves
	 * were refused above). The kernel checked the caller's right to open it.
	 */
	proc_path(h->path, fd);
	h->fi = fi;
	h->flags = source_flags(fs, fi->flags);
	r = rf_backing_openat(req, AT_FDCWD, h->path, h->flags, 0, open_done, h);
	if (r < 0)
		open_done(req, r, h);
}

/* CREATE and TMPFILE: open (creating), then give the file to the caller. */
struct pt_create {
	struct pt_inode *parent;
	const char *name;            /* NULL for TMPFILE */
	struct pt_owner own;
	struct pt_handle *h;
	struct rf_file *fi;
	int flags;                   /* source_flags(), without O_CREAT/O_EXCL */
	bool excl;                   /* the caller asked for O_EXCL */
	struct pt_fd_retry retry;    /* an open found no fd free */
	int fd;                      /* the new file, open (create_opened) */
};

static void create_done(struct rf_req *req, int res, void *data);
static void create_opened(struct rf_req *req, void *data);

/* The open that creates: the name, or an unnamed file in the parent (TMPFILE). */
static void create_submit(struct rf_req *req, void *data)
{
	struct pt_create *c = data;
	int r = rf_backing_openat(req, atomic_load(&c->parent->fd), c->name ? c->name : ".",
				  c->flags | (c->name ? O_CREAT | O_EXCL : O_TMPFILE),
				  c->own.mode & 07777, create_done, c);

	if (r < 0)
		create_done(req, r, c);
}

/* After the reply (which ends @c's life): what it held. */
static void create_free(struct pt_fs *fs, struct pt_inode *parent, struct pt_handle *h)
{
	iput(fs, parent);
	free(h);
}

static void create_done(struct rf_req *req, int res, void *data)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_create *c = data;

	if (fd_retry(fs, req, &c->retry, res, create_submit, c))
		return;
	if (res == -EEXIST && !c->excl && c->name) {
		/*
		 * The kernel believed the name free (a stale negative entry, or someone made it
		 * in the source since our LOOKUP). Opening it here, as root, would follow a
		 * symlink anyone who can write to the directory may have planted, and skip the
		 * permission check on the existing file. ESTALE makes the VFS redo the whole
		 * open once with LOOKUP_REVAL: a fresh LOOKUP finds what is there, and the
		 * kernel opens or follows it with the caller's own rights.
		 */
		res = -ESTALE;
	}
	if (res < 0) {
		struct pt_inode *parent = c->parent;
		struct pt_handle *h = c->h;

		rf_reply_err(req, cancel_err(res));
		return create_free(fs, parent, h);
	}
	c->fd = res;
	create_opened(req, c);
}

/* The new file is open (@c->fd): make it the caller's, give it an inode, reply. Again
 * (the same steps) if its O_PATH fd found no fd free. */
static void create_opened(struct rf_req *req, void *data)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_create *c = data;
	struct pt_inode *parent = c->parent;
	int pfd = atomic_load(&parent->fd);
	char path[PT_PROC_PATH];
	struct pt_handle *h = c->h;
	struct pt_inode *in;
	struct rf_entry e;
	struct stat st;
	int fd = c->fd, opath, r;

	/* Always a new file (O_CREAT|O_EXCL or O_TMPFILE): the caller's. */
	r = fstat(fd, &st) < 0 ? -errno : 0;
	if (r == 0)
		r = give_to_owner(fd, &c->own, &st);
	if (r == 0) {
		/* The inode's own O_PATH fd, on the very file we opened. */
		proc_path(path, fd);
		opath = open(path, O_PATH | O_CLOEXEC);
		r = opath < 0 ? -errno : 0;  /* before fd_retry, whose calls may change errno */
		if (r < 0 && fd_retry(fs, req, &c->retry, r, create_opened, c))
			return;
		if (opath >= 0) {
			/* Both are on the parent's filesystem: no fstatfs for either. */
			rf_backing_fd_inherit(fd, pfd);
			rf_backing_fd_inherit(opath, pfd);
			r = inode_from_fd(fs, opath, &st, &in);
		}
	}
	if (r < 0) {
		if (c->name)
			unlinkat(pfd, c->name, 0);
		fd_close(fd);
		rf_reply_err(req, r);
		return create_free(fs, parent, h);
	}
	h->fd = fd;
	h->in = in;
	handle_ready(req, fs, h, c->fi);
	fill_entry(fs, &e, in, &st);
	if (rf_reply_create(req, &e, c->fi) < 0) {
		rf_itable_forget(fs->table, in->base.nodeid, 1);
		handle_abandon(fs, h);
	}
	iput(fs, in);
	create_free(fs, parent, NULL);
}

static struct pt_create *create_start(struct rf_req *req, uint64_t parent, const char *name,
				      mode_t mode, struct rf_file *fi)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_create *c;
	int r = 0;

	if (name && !name_ok(name)) {
		rf_reply_err(req, strlen(name) > NAME_MAX ? -ENAMETOOLONG : -EINVAL);
		return NULL;
	}
	c = REQ_STATE(req, struct pt_create);
	c->h = calloc(1, sizeof(*c->h));             /* the open file's: it outlives us */
	if (!c->h) {
		rf_reply_err(req, -ENOMEM);
		return NULL;
	}
	c->name = name;
	c->fi = fi;
	c->h->tmpfd = -1;
	c->excl = !!(fi->flags & O_EXCL);
	c->flags = source_flags(fs, fi->flags & ~O_TMPFILE);
	c->h->flags = c->flags;
	c->parent = iget(fs, parent);
	r = !c->parent ? -ESTALE : !S_ISDIR(c->parent->type) ? -ENOTDIR :
				    owner_for(req, c->parent, S_IFREG | (mode & 07777), &c->own);
	if (r < 0) {
		struct pt_inode *p = c->parent;
		struct pt_handle *h = c->h;

		rf_reply_err(req, r);
		create_free(fs, p, h);
		return NULL;
	}
	return c;
}

void pt_create(struct rf_req *req, uint64_t parent, const char *name, mode_t mode,
	       struct rf_file *fi)
{
	struct pt_create *c = create_start(req, parent, name, mode, fi);

	if (!c)
		return;
	create_submit(req, c);
}

void pt_tmpfile(struct rf_req *req, uint64_t parent, mode_t mode, struct rf_file *fi)
{
	struct pt_create *c = create_start(req, parent, NULL, mode, fi);

	if (!c)
		return;
	if ((c->flags & O_ACCMODE) == O_RDONLY)
		c->flags = (c->flags & ~O_ACCMODE) | O_RDWR;
	c->h->flags = c->flags;
	create_submit(req, c);
}

void pt_read(struct rf_req *req, uint64_t ino, size_t size, off_t off, struct rf_file *fi)
{
	struct pt_handle *h = handle_of_fi(fi, PT_FILE);
	int r;

	if (!h)
		return (void)rf_reply_err(req, -EBADF);
	r = rf_backing_read(req, h->fd, size, off, NULL, NULL);
	if (r < 0)
		rf_reply_err(req, r);
}

/* The invalidation is best effort: the write goes on whatever it returned. */
static void write_killed(struct rf_req *req, int res, void *data)
{
	struct pt_killed *k = data;
	struct pt_handle *h = k->data;
	int r = rf_backing_write(req, h->fd, k->buf, k->size, k->off, NULL, NULL);

	if (r < 0)
		rf_reply_err(req, r);
}

void pt_write(struct rf_req *req, uint64_t ino, const void *buf, size_t size, off_t off,
	      struct rf_file *fi)
{
	struct pt_handle *h = handle_of_fi(fi, PT_FILE);
	int r;

	if (!h)
		return (void)rf_reply_err(req, -EBADF);
	/* HANDLE_KILLPRIV_V2: a write by someone without CAP_FSETID drops the set-id bits. */
	if (fi->kill_priv) {
		r = kill_suidgid(req, h->fd, false);
		if (r < 0)
			return (void)rf_reply_err(req, r);
		if (r > 0 && after_killed(req, ino, write_killed, &(struct pt_killed){
					.data = h, .buf = buf, .size = size, .off = off }) == 0)
			return;
	}
	r = rf_backing_write(req, h->fd, buf, size, off, NULL, NULL);
	if (r < 0)
		rf_reply_err(req, r);
}

/* What close(2) would report (network filesystems report errors here); nothing to do on
 * a local source (rf_backing_flush). Our locks are OFD locks: a close leaves them alone. */
void pt_flush(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct pt_handle *h = handle_of_fi(fi, PT_FILE);
	int r;

	if (!h)
		return (void)rf_reply_err(req, -EBADF);
	r = rf_backing_flush(req, h->fd, NULL, NULL);
	if (r < 0)
		rf_reply_err(req, 0);
}

void pt_release(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_handle *h = handle_of_fi(fi, PT_FILE);
	struct pt_inode *in;
	int r;

	if (!h)
		return (void)rf_reply_err(req, -EBADF);
	in = h->in;
	backing_detach(fs, h);
	/* The runtime runs RELEASE after every request on this fh finished (also their
	 * backing I/O), so the fd is closed under nobody. */
	r = rf_backing_close(req, h->fd, NULL, NULL);
	if (r < 0) {
		fd_close(h->fd);
		rf_reply_err(req, 0);
	}
	busy_get(in);
	atomic_fetch_sub(&in->nopen, 1);
	maybe_drop_fd(in, NULL);
	atomic_fetch_sub(&in->busy, 1);
	h->in = NULL;
	rf_itable_unref(fs->table, &in->base);
	free(h);
}

void pt_fsync(struct rf_req *req, uint64_t ino, int datasync, struct rf_file *fi)
{
	struct pt_handle *h = handle_of_fi(fi, PT_FILE);
	int r;

	if (!h)
		return (void)rf_reply_err(req, -EBADF);
	r = rf_backing_fsync(req, h->fd, datasync, NULL, NULL);
	if (r < 0)
		rf_reply_err(req, r);
}

/* The invalidation is best effort: the fallocate goes on whatever it returned. */
static void falloc_killed(struct rf_req *req, int res, void *data)
{
	struct pt_killed *k = data;
	struct pt_handle *h = k->data;
	int r = rf_backing_fallocate(req, h->fd, k->mode, k->off, k->len, NULL, NULL);

	if (r < 0)
		rf_reply_err(req, r);
}

void pt_fallocate(struct rf_req *req, uint64_t ino, int mode, off_t off, off_t len,
		  struct rf_file *fi)
{
	struct pt_handle *h = handle_of_fi(fi, PT_FILE);
	int r;

	if (!h)
		return (void)rf_reply_err(req, -EBADF);
	r = kill_unflagged(req, h->fd);
	if (r < 0)
		return (void)rf_reply_err(req, r);
	if (r > 0 && after_killed(req, ino, falloc_killed, &(struct pt_killed){
				.data = h, .mode = mode, .off = off, .len = len }) == 0)
		return;
	r = rf_backing_fallocate(req, h->fd, mode, off, len, NULL, NULL);
	if (r < 0)
		rf_reply_err(req, r);
}

struct pt_cfr {
	int fd_in, fd_out;
	off_t off_in, off_out;
	size_t len;
	struct rf_session *se;       /* set-id bits of the destination were dropped: */
	uint64_t ino_out;            /* invalidate its attributes before the reply */
};

static int do_copy_file_range(void *arg)
{
	struct pt_cfr *a = arg;
	ssize_t n = copy_file_range(a->fd_in, &a->off_in, a->fd_out, &a->off_out, a->len, 0);

	if (n < 0)
		return -errno;
	if (a->se)
		rf_notify_inval_inode(a->se, a->ino_out, -1, 0);   /* a worker: synchronous */
	return (int)n;
}

static void cfr_done(struct rf_req *req, int res, void *data)
{
	if (res < 0)
		rf_reply_err(req, cancel_err(res));
	else
		rf_reply_write(req, (size_t)res);
}

void pt_copy_file_range(struct rf_req *req, uint64_t ino_in, off_t off_in,
			struct rf_file *fi_in, uint64_t ino_out, off_t off_out,
			struct rf_file *fi_out, size_t len, int flags)
{
	struct pt_handle *hi = handle_of_fi(fi_in, PT_FILE);
	struct pt_handle *ho = handle_of_fi(fi_out, PT_FILE);
	struct pt_cfr *a;
	int r;

	if (!hi || !ho)
		return (void)rf_reply_err(req, -EBADF);
	if (flags)
		return (void)rf_reply_err(req, -EINVAL);
	r = kill_unflagged(req, ho->fd);
	if (r < 0)
		return (void)rf_reply_err(req, r);
	a = REQ_STATE(req, struct pt_cfr);
	if (r > 0) {
		a->se = rf_req_session(req);
		a->ino_out = ino_out;
	}
	a->fd_in = hi->fd;
	a->fd_out = ho->fd;
	a->off_in = off_in;
	a->off_out = off_out;
	/* The result travels as an int; the caller loops over short copies. */
	a->len = len > (1u << 30) ? (1u << 30) : len;
	r = rf_backing_call(req, do_copy_file_range, a, cfr_done, a);
	if (r < 0)
		cfr_done(req, r, a);
}

void pt_lseek(struct rf_req *req, uint64_t ino, off_t off, int whence, struct rf_file *fi)
{
	struct pt_handle *h = handle_of_fi(fi, PT_FILE);
	off_t res;

	if (!h)
		return (void)rf_reply_err(req, -EBADF);
	/* With a writeback cache the kernel holds data the source has not seen yet, and it
	 * does not write it back before LSEEK: ENOSYS makes it answer from its own size
	 * (all data up to EOF), which is right, if less precise about holes. */
	if (fs_of(req)->writeback)
		return (void)rf_reply_err(req, -ENOSYS);
	/* SEEK_DATA/SEEK_HOLE only reach us; the fd's own position is not used for I/O. */
	res = lseek(h->fd, off, whence);
	if (res < 0)
		rf_reply_err(req, -errno);
	else
		rf_reply_lseek(req, res);
}
