/* SPDX-License-Identifier: MIT */
/*
 * passthrough.c - mirrors a source directory under the mount point, on ringfuse.
 *
 * Usage: passthrough -o source=DIR [-o cache=never|auto|always] [-o writeback]
 *                    [-o passthrough] [-o timeout=SEC] [-o negative_timeout=SEC]
 *                    [-o inode_handles]
 *                    [ringfuse options] mountpoint
 *
 *   source=DIR      the directory to mirror (required)
 *   cache=auto      default: attributes and names cached 1 s, data cache dropped on open
 *   cache=always    long timeouts, data kept in the page cache across opens; the source
 *                   must change only through the mount (no AUTO_INVAL_DATA)
 *   cache=never     timeouts 0 and direct I/O on every open (shared mmap still works)
 *   writeback       kernel writeback cache (O_WRONLY opens become O_RDWR, no O_APPEND)
 *   passthrough     kernel passthrough of read/write/mmap to the source files (needs
 *                   CAP_SYS_ADMIN and a kernel >= 6.9; falls back with one log line)
 *   timeout=SEC     entry and attribute timeouts, overriding the cache mode's
 *   negative_timeout=SEC  how long the kernel may cache a missing name (default 0: a
 *                   name made directly in the source is visible through the mount at once)
 *   inode_handles   keep a file handle instead of an O_PATH fd per non-directory inode
 *                   (fewer open fds on big trees; needs a source with file handles)
 * With -o allow_other, default_permissions is switched on: the kernel checks modes.
 *
 * Every inode keeps an O_PATH fd on its source file, in the ringfuse inode table keyed by
 * (st_dev, st_ino), so hard links share one inode. Data I/O (read, write, fsync, fallocate,
 * truncate, close) and most directory changes are rf_backing_* calls, which the runtime
 * runs in place on a memory or local source and on the ring otherwise (-o inline). A
 * LOOKUP of a name whose inode is known costs one statx; what io_uring cannot
 * do (readdir, copy_file_range, syncfs) runs on the runtime's worker pool; short metadata
 * calls on open fds (fstat, fchown, xattrs) run inline. Waiting locks are polled on a
 * timer, so neither the loop nor a worker ever sleeps on a lock and a signal ends the wait.
 * New files are created as root and then given to the caller (uid, gid or the setgid
 * directory's group); the process umask is 0 and the caller's umask is applied here.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>

#include <ringfuse.h>
#include <ringfuse/inode.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

/* Kernel passthrough ABI (include/uapi/linux/fuse.h), which ringfuse.h does not export. */
struct pt_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
#define PT_DEV_IOC_BACKING_OPEN  0x4010E501u   /* _IOW(229, 1, struct fuse_backing_map) */
#define PT_DEV_IOC_BACKING_CLOSE 0x4004E502u   /* _IOW(229, 2, uint32_t) */

/* Sizes of one READDIR / READDIRPLUS entry on the wire (fuse_dirent, fuse_direntplus). */
#define PT_DIRENT_LEN(n)     ((24 + (size_t)(n) + 7) & ~(size_t)7)
#define PT_DIRENTPLUS_LEN(n) ((152 + (size_t)(n) + 7) & ~(size_t)7)

#define PT_LONG_TIMEOUT 86400.0
#define PT_LOCK_POLL_MAX_MS 50
#define PT_HANDLE_MAX 128                      /* MAX_HANDLE_SZ */
#define PT_PROC_PATH 32                        /* "/proc/self/fd/" + an int */
#define PT_DROPPING (INT_MIN / 2)              /* busy bias while the fd is being closed */

enum pt_cache { CACHE_NEVER, CACHE_AUTO, CACHE_ALWAYS };

struct pt_fs {
	const char *source;
	struct rf_itable *table;
	struct rf_session *se;
	int root_dirfd;              /* the source opened O_RDONLY: syncfs, open_by_handle_at */
	enum pt_cache cache;
	double timeout;              /* entry and attribute timeout */
	double neg_timeout;          /* -o negative_timeout: how long a missing name is
	                              * cached; 0 (default): not at all, reply ENOENT */
	bool writeback;              /* asked for, then: negotiated */
	bool want_passthrough;       /* -o passthrough */
	atomic_bool passthrough;     /* negotiated and not failed yet */
	bool handles;                /* -o inode_handles, usable on this source */
	int mount_id;                /* the source's mount, for file handles */
	pthread_mutex_t lock;        /* the backing ids of inodes */
};

/* One inode: the table's part plus how to reach the source file. */
struct pt_inode {
	struct rf_inode base;
	atomic_int fd;               /* O_PATH|O_NOFOLLOW on the source file; -1 once dropped
	                              * or when the inode is reached through @handle */
	mode_t type;                 /* S_IFMT bits, fixed at creation */
	atomic_int busy;             /* requests using the fd now (busy_get/iput); negative
	                              * while maybe_drop_fd closes it */
	atomic_int nopen;            /* open file handles */
	atomic_bool unlinked;        /* its link count reached 0 through this mount */
	struct stat *gone;           /* last attributes, once the fd was closed on unlink */
	struct file_handle *handle;  /* inode_handles mode (non-directories) */
	int32_t backing_id;          /* kernel passthrough id while passthrough opens exist */
	int backing_users;           /* open handles using backing_id (under fs->lock) */
	int plain_users;             /* open handles not passed through (under fs->lock) */
};

#define PT_FILE 0x46494c45u
#define PT_DIR  0x44495220u

/* An open file (fh). Holds a table reference on its inode. */
struct pt_handle {
	uint32_t kind;               /* PT_FILE or PT_DIR */
	int fd;
	int flags;                   /* the flags the source file was opened with */
	int tmpfd;                   /* OPEN in progress: fd to close when it completed */
	bool passthrough;            /* counted in in->backing_users */
	bool plain;                  /* counted in in->plain_users */
	struct pt_inode *in;
	struct rf_file *fi;          /* OPEN/CREATE in progress: the request's file */
	char path[PT_PROC_PATH];
};

/* An open directory. One READDIR at a time: the kernel serializes them per file. */
struct pt_dir {
	struct pt_handle h;
	DIR *dp;
	off_t pos;                   /* offset of the entry the stream returns next */
	bool has_pend;               /* an entry was read but did not fit: it comes next */
	struct dirent pend;
	/* the READDIR in progress, filled in by a worker */
	struct pt_fs *fs;
	struct rf_dirbuf db;
	off_t off;
	size_t size;
	bool plus;
};

static struct pt_fs *fs_of(struct rf_req *req)
{
	return rf_req_userdata(req);
}

static int cancel_err(int res)
{
	return res == -ECANCELED ? -EINTR : res;
}

static void proc_path(char *buf, int fd)
{
	snprintf(buf, PT_PROC_PATH, "/proc/self/fd/%d", fd);
}

/* close(2) an fd the runtime may have seen in an rf_backing_* call: it keeps what it
 * learned about the fd's filesystem by fd number (rf_backing_forget_fd). */
static void fd_close(int fd)
{
	rf_backing_forget_fd(fd);
	close(fd);
}

static bool is_dot(const char *name)
{
	return name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2]));
}

/* A name to create or remove: one path component, not "." or "..", not past NAME_MAX
 * (the kernel never sends others; nothing may reach outside the source either). */
static bool name_ok(const char *name)
{
	size_t len = strlen(name);

	return len > 0 && len <= NAME_MAX && !strchr(name, '/') && !is_dot(name);
}

/* ---- inodes ----------------------------------------------------------------------------- */

static struct pt_inode *inode_of(struct rf_inode *b)
{
	return rf_inode_entry(b, struct pt_inode, base);
}

/* Count a user of @in's fd. If another loop thread is closing it right now (a few
 * microseconds: fstat and close), wait until it is done and the fd is -1. */
static void busy_get(struct pt_inode *in)
{
	if (atomic_fetch_add(&in->busy, 1) < 0)
		while (atomic_load(&in->busy) < 0)
			sched_yield();
}

/* The inode of node id @nodeid with a request reference, or NULL. */
static struct pt_inode *iget(struct pt_fs *fs, uint64_t nodeid)
{
	struct rf_inode *b = rf_itable_get(fs->table, nodeid);
	struct pt_inode *in;

	if (!b)
		return NULL;
	in = inode_of(b);
	busy_get(in);
	return in;
}

static void iput(struct pt_fs *fs, struct pt_inode *in)
{
	if (!in)
		return;
	atomic_fetch_sub(&in->busy, 1);
	rf_itable_unref(fs->table, &in->base);
}

/* The table is done with @b: close its fd and free it. Any thread. */
static void inode_free(struct rf_inode *b, void *data)
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
static int ifd_get(struct pt_fs *fs, struct pt_inode *in)
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

static void ifd_put(struct pt_inode *in, int fd)
{
	if (fd >= 0 && fd != atomic_load(&in->fd))
		fd_close(fd);
}

static int fstat_fd(int fd, struct stat *st)
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
static int inode_from_fd(struct pt_fs *fs, int fd, const struct stat *st, struct pt_inode **out)
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
	busy_get(in);
	*out = in;
	return 0;
}

static void fill_entry(const struct pt_fs *fs, struct rf_entry *e, const struct pt_inode *in,
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
static void reply_entry_put(struct rf_req *req, struct pt_fs *fs, struct pt_inode *in,
			    const struct stat *st)
{
	struct rf_entry e;

	fill_entry(fs, &e, in, st);
	if (rf_reply_entry(req, &e) < 0)
		rf_itable_forget(fs->table, in->base.nodeid, 1);
	iput(fs, in);
}

/* Reply with the entry for O_PATH fd @fd (taken over). */
static void reply_fd_entry(struct rf_req *req, struct pt_fs *fs, int fd)
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
static void maybe_drop_fd(struct pt_inode *in, const struct stat *known)
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
static void check_unlinked(struct pt_fs *fs, dev_t dev, ino_t ino)
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

/* Who owns what the caller creates in @parent, and with which mode. */
struct pt_owner {
	uid_t uid;
	gid_t gid;
	mode_t mode;                 /* type and permission bits, umask applied */
};

static int owner_for(struct rf_req *req, struct pt_inode *parent, mode_t mode,
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
static int give_to_owner(int fd, const struct pt_owner *o, struct stat *st)
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

/* ---- lookup and forget ------------------------------------------------------------------ */

static void lookup_done(struct rf_req *req, int res, void *data)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_inode *parent = data;

	if (res >= 0) {
		reply_fd_entry(req, fs, res);
	} else if (res == -ENOENT && fs->neg_timeout > 0) {
		struct rf_entry e;

		/* Only when asked for: a name made directly in the source stays invisible
		 * through the mount until this runs out. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs->neg_timeout;
		rf_reply_entry(req, &e);
	} else {
		rf_reply_err(req, cancel_err(res));
	}
	iput(fs, parent);
}

static void stat_from_statx(struct stat *st, const struct statx *stx)
{
	memset(st, 0, sizeof(*st));
	st->st_dev = makedev(stx->stx_dev_major, stx->stx_dev_minor);
	st->st_ino = stx->stx_ino;
	st->st_mode = stx->stx_mode;
	st->st_nlink = stx->stx_nlink;
	st->st_uid = stx->stx_uid;
	st->st_gid = stx->stx_gid;
	st->st_rdev = makedev(stx->stx_rdev_major, stx->stx_rdev_minor);
	st->st_size = (off_t)stx->stx_size;
	st->st_blksize = stx->stx_blksize;
	st->st_blocks = (blkcnt_t)stx->stx_blocks;
	st->st_atim.tv_sec = stx->stx_atime.tv_sec;
	st->st_atim.tv_nsec = stx->stx_atime.tv_nsec;
	st->st_mtim.tv_sec = stx->stx_mtime.tv_sec;
	st->st_mtim.tv_nsec = stx->stx_mtime.tv_nsec;
	st->st_ctim.tv_sec = stx->stx_ctime.tv_sec;
	st->st_ctim.tv_nsec = stx->stx_ctime.tv_nsec;
}

/* A LOOKUP between its statx and its reply, in the request's payload area: nothing to
 * allocate. The reply is encoded there only after everything was copied out. */
struct pt_lookup {
	struct statx stx;
	struct pt_inode *parent;
	const char *name;            /* in the request, valid until the reply */
};

/* Room for a struct pt_lookup in @req's payload area, past @name: on the kernel's
 * io_uring queues the request's own arguments arrive in that same buffer. NULL if none. */
static struct pt_lookup *lookup_area(struct rf_req *req, const char *name)
{
	size_t cap;
	char *pay = rf_req_payload(req, &cap), *at = pay;
	uintptr_t a;

	if (name >= pay && name < pay + cap)
		at = (char *)name + strlen(name) + 1;
	a = ((uintptr_t)at + 15) & ~(uintptr_t)15;
	if (a + sizeof(struct pt_lookup) > (uintptr_t)pay + cap)
		return NULL;
	return (struct pt_lookup *)a;
}

/* Open the name and make or find its inode (a name not known yet, or handle mode). */
static void lookup_open(struct rf_req *req, struct pt_inode *p, const char *name)
{
	int r = rf_backing_openat(req, atomic_load(&p->fd), name, O_PATH | O_NOFOLLOW, 0,
				  lookup_done, p);

	if (r < 0) {
		rf_reply_err(req, r);
		iput(fs_of(req), p);
	}
}

/*
 * The name's attributes are known. If its inode is in the table with its own O_PATH fd,
 * that fd pins the very file (its inode number cannot be reused while it is open), so
 * the name still leads to it: count the lookup and reply, one system call in all (the
 * old way, openat + fstat + close of the duplicate, took three).
 */
static void lookup_statx_done(struct rf_req *req, int res, void *data)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_lookup *lk = data;
	struct pt_inode *p = lk->parent, *in;
	const char *name = lk->name;
	struct rf_inode *b;
	struct stat st;

	if (res < 0)
		return lookup_done(req, res, p);
	stat_from_statx(&st, &lk->stx);
	b = rf_itable_find(fs->table, st.st_dev, st.st_ino);
	if (b) {
		in = inode_of(b);
		busy_get(in);
		if (atomic_load(&in->fd) >= 0 && !in->handle && in->type == (st.st_mode & S_IFMT)) {
			rf_itable_count_lookup(fs->table, b);
			reply_entry_put(req, fs, in, &st);
			return iput(fs, p);
		}
		iput(fs, in);
	}
	lookup_open(req, p, name);
}

static void pt_lookup(struct rf_req *req, uint64_t parent, const char *name)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_inode *p = iget(fs, parent);
	struct pt_lookup *lk;
	int r;

	if (!p)
		return (void)rf_reply_err(req, -ESTALE);
	if (!S_ISDIR(p->type) || (!name_ok(name) && !is_dot(name))) {
		rf_reply_err(req, !S_ISDIR(p->type) ? -ENOTDIR :
				  strlen(name) > NAME_MAX ? -ENAMETOOLONG : -ENOENT);
		return iput(fs, p);
	}
	/* "." and ".." only come with export support; never climb out of the source. */
	if (parent == 1 && is_dot(name))
		name = ".";
	lk = lookup_area(req, name);
	if (fs->handles || !lk)
		return lookup_open(req, p, name);
	lk->parent = p;
	lk->name = name;
	r = rf_backing_statx(req, atomic_load(&p->fd), name, AT_SYMLINK_NOFOLLOW,
			     STATX_BASIC_STATS, &lk->stx, lookup_statx_done, lk);
	if (r < 0) {
		rf_reply_err(req, r);
		iput(fs, p);
	}
}

static void pt_forget(void *userdata, uint64_t ino, uint64_t nlookup)
{
	struct pt_fs *fs = userdata;

	rf_itable_forget(fs->table, ino, nlookup);
}

/* ---- attributes ------------------------------------------------------------------------- */

static struct pt_handle *handle_of_fi(const struct rf_file *fi, uint32_t kind)
{
	struct pt_handle *h;

	if (!fi || !fi->fh)
		return NULL;
	h = (struct pt_handle *)(uintptr_t)fi->fh;
	return h->kind == kind ? h : NULL;
}

static void pt_getattr(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_handle *h = handle_of_fi(fi, PT_FILE);
	struct pt_inode *in;
	struct stat st;
	int fd, r;

	if (h) {
		r = fstat(h->fd, &st) < 0 ? -errno : 0;
		if (r < 0)
			return (void)rf_reply_err(req, r);
		rf_reply_attr(req, &st, fs->timeout);
		return;
	}
	in = iget(fs, ino);
	if (!in)
		return (void)rf_reply_err(req, -ESTALE);
	fd = ifd_get(fs, in);
	if (fd < 0 && in->gone) {
		rf_reply_attr(req, in->gone, fs->timeout);
		return iput(fs, in);
	}
	r = fd < 0 ? fd : fstat_fd(fd, &st);
	ifd_put(in, fd);
	if (r < 0)
		rf_reply_err(req, r);
	else
		rf_reply_attr(req, &st, fs->timeout);
	iput(fs, in);
}

/* Whether the caller of @req is in group @gid (primary or supplementary). */
static bool caller_in_group(struct rf_req *req, gid_t gid)
{
	gid_t small[32], *list = small;
	int n, i, size = 32;
	bool in = false;

	if (rf_req_ctx(req)->gid == gid)
		return true;
	n = rf_req_groups(req, list, size);
	if (n > size) {
		list = malloc((size_t)n * sizeof(*list));
		size = n;
		n = list ? rf_req_groups(req, list, size) : -ENOMEM;
	}
	for (i = 0; i < n && i < size && !in; i++)
		in = list[i] == gid;
	if (list != small)
		free(list);
	return in;
}

/*
 * HANDLE_KILLPRIV_V2: the kernel flags a write, truncate or open(O_TRUNC) by a caller
 * without CAP_FSETID; we write as root, so the source filesystem keeps the bits and they
 * are ours to drop, by the kernel's rule (should_remove_suid, setattr_should_drop_sgid):
 * set-user-ID always, set-group-ID when group-executable or when the caller is not in
 * the file's group. Returns 1 if bits were dropped, 0 if there were none, or -errno.
 */
static int kill_suidgid(struct rf_req *req, int fd, bool opath)
{
	char path[PT_PROC_PATH];
	struct stat st;
	mode_t mode;
	int r = fstat_fd(fd, &st);

	if (r < 0)
		return r;
	mode = st.st_mode & 07777;
	if (!S_ISREG(st.st_mode))
		return 0;
	mode &= ~S_ISUID;
	if ((st.st_mode & S_ISGID) && ((st.st_mode & S_IXGRP) || !caller_in_group(req, st.st_gid)))
		mode &= ~S_ISGID;
	if (mode == (st.st_mode & 07777))
		return 0;
	if (!opath)
		return fchmod(fd, mode) < 0 ? -errno : 1;
	proc_path(path, fd);
	return chmod(path, mode) < 0 ? -errno : 1;
}

/*
 * A WRITE or OPEN reply carries no attributes, and the kernel keeps the mode it cached
 * (with the set-id bits) until the attribute timeout: exec would still honour them.
 * When kill_suidgid dropped bits, the request goes on (@then) only after the kernel's
 * attributes were invalidated, written from a worker thread (synchronously there, so it
 * lands before the reply).
 */
struct pt_killed {
	struct rf_session *se;
	uint64_t ino;
	rf_backing_cb then;
	void *data;
	/* WRITE and FALLOCATE: what to do once invalidated */
	const void *buf;
	size_t size;
	off_t off;
	off_t len;
	int mode;
};

static int killed_notify(void *arg)
{
	struct pt_killed *k = arg;

	rf_notify_inval_inode(k->se, k->ino, -1, 0);    /* offset -1: attributes only */
	return 0;
}

static void killed_done(struct rf_req *req, int res, void *data)
{
	struct pt_killed *k = data;

	k->then(req, res, k);
	free(k);
}

/* Invalidate, then call @then(req, res, k) on the loop with @k a copy of @args (freed
 * after it). Returns 0, or -errno and never calls @then. */
static int after_killed(struct rf_req *req, uint64_t ino, rf_backing_cb then,
			const struct pt_killed *args)
{
	struct pt_killed *k = malloc(sizeof(*k));
	int r;

	if (!k)
		return -ENOMEM;
	*k = *args;
	k->se = rf_req_session(req);
	k->ino = ino;
	k->then = then;
	r = rf_backing_call(req, killed_notify, k, killed_done, k);
	if (r < 0)
		free(k);
	return r;
}

/*
 * FALLOCATE and COPY_FILE_RANGE carry no kill flag: with HANDLE_KILLPRIV_V2 the kernel
 * leaves the set-id bits to us without saying whether the caller has CAP_FSETID. Take
 * uid 0 for having it. Same returns as kill_suidgid.
 */
static int kill_unflagged(struct rf_req *req, int fd)
{
	return rf_req_ctx(req)->uid != 0 ? kill_suidgid(req, fd, false) : 0;
}

struct pt_setattr {
	struct pt_inode *in;
	struct pt_handle *h;         /* the open file named by the request, or NULL */
	int fd;                      /* O_PATH fd of @in (when no @h) */
	struct stat attr;
	int to_set;
	char path[PT_PROC_PATH];
};

static int do_truncate(void *arg)
{
	struct pt_setattr *sa = arg;

	return truncate(sa->path, sa->attr.st_size) < 0 ? -errno : 0;
}

static void setattr_finish(struct rf_req *req, struct pt_setattr *sa, int r)
{
	struct pt_fs *fs = fs_of(req);
	struct stat st;

	if (r == 0) {
		r = sa->h ? (fstat(sa->h->fd, &st) < 0 ? -errno : 0) : fstat_fd(sa->fd, &st);
	}
	if (r < 0)
		rf_reply_err(req, cancel_err(r));
	else
		rf_reply_attr(req, &st, fs->timeout);
	if (sa->fd >= 0)
		ifd_put(sa->in, sa->fd);
	iput(fs, sa->in);
	free(sa);
}

/* After the size: times, then the set-id bits. */
static void setattr_size_done(struct rf_req *req, int res, void *data)
{
	struct pt_setattr *sa = data;
	int set = sa->to_set;

	if (res < 0)
		return setattr_finish(req, sa, res);
	if (set & (RF_SET_ATIME | RF_SET_MTIME | RF_SET_ATIME_NOW | RF_SET_MTIME_NOW)) {
		struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };

		if (set & RF_SET_ATIME_NOW)
			ts[0].tv_nsec = UTIME_NOW;
		else if (set & RF_SET_ATIME)
			ts[0] = sa->attr.st_atim;
		if (set & RF_SET_MTIME_NOW)
			ts[1].tv_nsec = UTIME_NOW;
		else if (set & RF_SET_MTIME)
			ts[1] = sa->attr.st_mtim;
		if (sa->h)
			res = futimens(sa->h->fd, ts);
		else
			res = utimensat(sa->fd, "", ts, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
		if (res < 0)
			return setattr_finish(req, sa, -errno);
	}
	if (set & RF_SET_KILL_SUIDGID) {
		res = sa->h ? kill_suidgid(req, sa->h->fd, false) :
			      kill_suidgid(req, sa->fd, true);
		if (res < 0)
			return setattr_finish(req, sa, res);
	}
	setattr_finish(req, sa, 0);
}

static void pt_setattr(struct rf_req *req, uint64_t ino, const struct stat *attr, int to_set,
		       struct rf_file *fi)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_setattr *sa;
	int r = 0;

	sa = calloc(1, sizeof(*sa));
	if (!sa)
		return (void)rf_reply_err(req, -ENOMEM);
	sa->fd = -1;
	sa->attr = *attr;
	sa->to_set = to_set;
	sa->h = handle_of_fi(fi, PT_FILE);
	sa->in = iget(fs, ino);
	if (!sa->in) {
		free(sa);
		return (void)rf_reply_err(req, -ESTALE);
	}
	if (!sa->h) {
		sa->fd = ifd_get(fs, sa->in);
		if (sa->fd < 0) {
			r = sa->fd;
			sa->fd = -1;
			return setattr_finish(req, sa, r);
		}
	}
	proc_path(sa->path, sa->h ? sa->h->fd : sa->fd);

	if (to_set & RF_SET_MODE) {
		if (S_ISLNK(sa->in->type))
			r = -EOPNOTSUPP;
		else if (sa->h)
			r = fchmod(sa->h->fd, attr->st_mode & 07777) < 0 ? -errno : 0;
		else
			r = chmod(sa->path, attr->st_mode & 07777) < 0 ? -errno : 0;
		if (r < 0)
			return setattr_finish(req, sa, r);
	}
	if (to_set & (RF_SET_UID | RF_SET_GID)) {
		uid_t uid = (to_set & RF_SET_UID) ? attr->st_uid : (uid_t)-1;
		gid_t gid = (to_set & RF_SET_GID) ? attr->st_gid : (gid_t)-1;

		if (fchownat(sa->h ? sa->h->fd : sa->fd, "", uid, gid,
			     AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return setattr_finish(req, sa, -errno);
	}
	if (to_set & RF_SET_SIZE) {
		if (!S_ISREG(sa->in->type))
			return setattr_finish(req, sa, S_ISDIR(sa->in->type) ? -EISDIR : -EINVAL);
		if (sa->h && (sa->h->flags & O_ACCMODE) != O_RDONLY)
			r = rf_backing_ftruncate(req, sa->h->fd, attr->st_size, setattr_size_done,
						 sa);
		else
			r = rf_backing_call(req, do_truncate, sa, setattr_size_done, sa);
		if (r < 0)
			setattr_finish(req, sa, r);
		return;
	}
	setattr_size_done(req, 0, sa);
}

static void pt_readlink(struct rf_req *req, uint64_t ino)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_inode *in = iget(fs, ino);
	size_t cap;
	char *buf = rf_req_payload(req, &cap);
	ssize_t n;
	int fd;

	if (!in)
		return (void)rf_reply_err(req, -ESTALE);
	fd = ifd_get(fs, in);
	if (fd < 0) {
		rf_reply_err(req, fd);
		return iput(fs, in);
	}
	n = readlinkat(fd, "", buf, cap);
	if (n < 0)
		rf_reply_err(req, -errno);
	else
		rf_reply_buf(req, buf, (size_t)n);
	ifd_put(in, fd);
	iput(fs, in);
}

/* ---- creating names --------------------------------------------------------------------- */

struct pt_mk {
	struct pt_inode *parent;
	const char *name;            /* in the request: valid until the reply */
	struct pt_owner own;
};

/* Whether @st is what we just made with @mode: of that kind, and still the server's. */
static bool made_by_us(const struct stat *st, mode_t mode)
{
	return (st->st_mode & S_IFMT) == (mode & S_IFMT) && st->st_uid == geteuid();
}

/* The name @mk->name now exists in the parent: make it the caller's and reply its entry. */
static void mk_finish(struct rf_req *req, struct pt_mk *mk, int res)
{
	struct pt_fs *fs = fs_of(req);
	int pfd = atomic_load(&mk->parent->fd);
	struct pt_inode *in;
	struct stat st;
	int fd, r;

	if (res < 0) {
		rf_reply_err(req, cancel_err(res));
		goto out;
	}
	fd = openat(pfd, mk->name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	r = fd < 0 ? -errno : fstat_fd(fd, &st);
	if (r == 0 && !made_by_us(&st, mk->own.mode)) {
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
				made_by_us(&st, mk->own.mode)))
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
	iput(fs, mk->parent);
	free(mk);
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
	mk = calloc(1, sizeof(*mk));
	if (!mk) {
		rf_reply_err(req, -ENOMEM);
		return NULL;
	}
	mk->name = name;
	mk->parent = iget(fs, parent);
	r = !mk->parent ? -ESTALE : !S_ISDIR(mk->parent->type) ? -ENOTDIR :
				     owner_for(req, mk->parent, mode, &mk->own);
	if (r < 0) {
		rf_reply_err(req, r);
		iput(fs, mk->parent);
		free(mk);
		return NULL;
	}
	return mk;
}

static void pt_mknod(struct rf_req *req, uint64_t parent, const char *name, mode_t mode,
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

static void pt_mkdir(struct rf_req *req, uint64_t parent, const char *name, mode_t mode)
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

static void pt_symlink(struct rf_req *req, const char *target, uint64_t parent,
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
	struct pt_link *l = data;
	struct stat st;
	int r = cancel_err(res);

	if (r == 0)
		r = fstat_fd(l->fd, &st);
	if (r < 0) {
		rf_reply_err(req, r);
	} else {
		rf_itable_count_lookup(fs->table, &l->in->base);
		rf_itable_ref(&l->in->base);
		busy_get(l->in);
		reply_entry_put(req, fs, l->in, &st);
	}
	ifd_put(l->in, l->fd);
	iput(fs, l->in);
	iput(fs, l->parent);
	free(l);
}

static void pt_link(struct rf_req *req, uint64_t ino, uint64_t newparent, const char *newname)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_link *l;
	int r;

	if (!name_ok(newname))
		return (void)rf_reply_err(req, -EINVAL);
	l = calloc(1, sizeof(*l));
	if (!l)
		return (void)rf_reply_err(req, -ENOMEM);
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
		rf_reply_err(req, r);
		if (l->in)
			ifd_put(l->in, l->fd);
		iput(fs, l->in);
		iput(fs, l->parent);
		free(l);
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
	struct pt_rm *rm = data;

	if (res == 0 && rm->victim)
		check_unlinked(fs, rm->dev, rm->ino);
	rf_reply_err(req, cancel_err(res));
	iput(fs, rm->parent);
	iput(fs, rm->newparent);
	free(rm);
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
	rm = calloc(1, sizeof(*rm));
	if (!rm) {
		rf_reply_err(req, -ENOMEM);
		return NULL;
	}
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
		}
	}
	if (r < 0) {
		rf_reply_err(req, r);
		iput(fs, rm->parent);
		free(rm);
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

static void pt_unlink(struct rf_req *req, uint64_t parent, const char *name)
{
	unlink_common(req, parent, name, 0);
}

static void pt_rmdir(struct rf_req *req, uint64_t parent, const char *name)
{
	unlink_common(req, parent, name, AT_REMOVEDIR);
}

static void pt_rename(struct rf_req *req, uint64_t parent, const char *name, uint64_t newparent,
		      const char *newname, unsigned int flags)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_rm *rm;
	struct stat st;
	int r;

	if (!name_ok(name) || !name_ok(newname))
		return (void)rf_reply_err(req, -EINVAL);
	rm = calloc(1, sizeof(*rm));
	if (!rm)
		return (void)rf_reply_err(req, -ENOMEM);
	rm->parent = iget(fs, parent);
	rm->newparent = iget(fs, newparent);
	r = !rm->parent || !rm->newparent ? -ESTALE :
	    !S_ISDIR(rm->parent->type) || !S_ISDIR(rm->newparent->type) ? -ENOTDIR : 0;
	if (r < 0)
		return rm_done(req, r, rm);
	/* A rename over an existing name may take the replaced file's last link. */
	if (!(flags & RENAME_EXCHANGE) &&
	    fstatat(atomic_load(&rm->newparent->fd), newname, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		rm->victim = true;
		rm->dev = st.st_dev;
		rm->ino = st.st_ino;
	}
	r = rf_backing_renameat2(req, atomic_load(&rm->parent->fd), name,
				 atomic_load(&rm->newparent->fd), newname, flags, rm_done, rm);
	if (r < 0)
		rm_done(req, r, rm);
}

/* ---- open files ------------------------------------------------------------------------- */

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

static void set_cache_flags(const struct pt_fs *fs, struct rf_file *fi)
{
	/* An O_DIRECT open asks for no page cache whatever the mode: with direct_io the
	 * kernel sends its reads as they are, instead of a GETATTR before each one to check
	 * the cached attributes. */
	bool direct = fs->cache == CACHE_NEVER || (fi->flags & O_DIRECT);

	fi->direct_io = direct;
	fi->parallel_direct_writes = direct;
	fi->keep_cache = fs->cache == CACHE_ALWAYS;
}

static void handle_free(struct pt_fs *fs, struct pt_handle *h)
{
	if (h->in) {
		atomic_fetch_sub(&h->in->nopen, 1);
		rf_itable_unref(fs->table, &h->in->base);
	}
	free(h);
}

/* The source file is open as @h->fd: finish OPEN/CREATE/TMPFILE bookkeeping. */
static void handle_ready(struct pt_fs *fs, struct pt_handle *h, struct rf_file *fi)
{
	h->kind = PT_FILE;
	rf_itable_ref(&h->in->base);
	atomic_fetch_add(&h->in->nopen, 1);
	set_cache_flags(fs, fi);
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

	handle_ready(fs, h, h->fi);
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

static void open_done(struct rf_req *req, int res, void *data)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_handle *h = data;
	struct pt_inode *in = h->in;
	struct rf_file *fi = h->fi;

	if (h->tmpfd >= 0)
		fd_close(h->tmpfd);
	if (res < 0) {
		rf_reply_err(req, cancel_err(res));
		free(h);
		iput(fs, in);
		return;
	}
	h->fd = res;
	/* The same file as the inode's fd: the same filesystem, no fstatfs on the first read. */
	if (h->tmpfd < 0)
		rf_backing_fd_inherit(h->fd, atomic_load(&in->fd));
	if (fi->kill_priv && (fi->flags & O_TRUNC) && kill_suidgid(req, h->fd, false) > 0 &&
	    after_killed(req, in->base.nodeid, open_killed, &(struct pt_killed){ .data = h }) == 0)
		return;
	open_finish(req, h);
}

static void pt_open(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_handle *h;
	int fd, r;

	h = calloc(1, sizeof(*h));
	if (!h)
		return (void)rf_reply_err(req, -ENOMEM);
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
};

static void create_free(struct pt_fs *fs, struct pt_create *c)
{
	iput(fs, c->parent);
	free(c->h);
	free(c);
}

static void create_done(struct rf_req *req, int res, void *data)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_create *c = data;
	int pfd = atomic_load(&c->parent->fd);
	char path[PT_PROC_PATH];
	struct pt_handle *h = c->h;
	struct pt_inode *in;
	struct rf_entry e;
	struct stat st;
	int fd = res, opath, r;

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
		rf_reply_err(req, cancel_err(res));
		return create_free(fs, c);
	}
	/* Always a new file (O_CREAT|O_EXCL or O_TMPFILE): the caller's. */
	r = fstat(fd, &st) < 0 ? -errno : 0;
	if (r == 0)
		r = give_to_owner(fd, &c->own, &st);
	if (r == 0) {
		/* The inode's own O_PATH fd, on the very file we opened. */
		proc_path(path, fd);
		opath = open(path, O_PATH | O_CLOEXEC);
		if (opath >= 0) {
			/* Both are on the parent's filesystem: no fstatfs for either. */
			rf_backing_fd_inherit(fd, pfd);
			rf_backing_fd_inherit(opath, pfd);
		}
		r = opath < 0 ? -errno : inode_from_fd(fs, opath, &st, &in);
	}
	if (r < 0) {
		if (c->name)
			unlinkat(pfd, c->name, 0);
		fd_close(fd);
		rf_reply_err(req, r);
		return create_free(fs, c);
	}
	h->fd = fd;
	h->in = in;
	handle_ready(fs, h, c->fi);
	fill_entry(fs, &e, in, &st);
	if (rf_reply_create(req, &e, c->fi) < 0) {
		rf_itable_forget(fs->table, in->base.nodeid, 1);
		handle_abandon(fs, h);
	}
	c->h = NULL;
	iput(fs, in);
	create_free(fs, c);
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
	c = calloc(1, sizeof(*c));
	if (c)
		c->h = calloc(1, sizeof(*c->h));
	if (!c || !c->h) {
		free(c);
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
		rf_reply_err(req, r);
		create_free(fs, c);
		return NULL;
	}
	return c;
}

static void pt_create(struct rf_req *req, uint64_t parent, const char *name, mode_t mode,
		      struct rf_file *fi)
{
	struct pt_create *c = create_start(req, parent, name, mode, fi);
	int r;

	if (!c)
		return;
	r = rf_backing_openat(req, atomic_load(&c->parent->fd), name,
			      c->flags | O_CREAT | O_EXCL, c->own.mode & 07777, create_done, c);
	if (r < 0)
		create_done(req, r, c);
}

static void pt_tmpfile(struct rf_req *req, uint64_t parent, mode_t mode, struct rf_file *fi)
{
	struct pt_create *c = create_start(req, parent, NULL, mode, fi);
	int r;

	if (!c)
		return;
	if ((c->flags & O_ACCMODE) == O_RDONLY)
		c->flags = (c->flags & ~O_ACCMODE) | O_RDWR;
	c->h->flags = c->flags;
	r = rf_backing_openat(req, atomic_load(&c->parent->fd), ".", c->flags | O_TMPFILE,
			      c->own.mode & 07777, create_done, c);
	if (r < 0)
		create_done(req, r, c);
}

static void pt_read(struct rf_req *req, uint64_t ino, size_t size, off_t off, struct rf_file *fi)
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

static void pt_write(struct rf_req *req, uint64_t ino, const void *buf, size_t size, off_t off,
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
static void pt_flush(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct pt_handle *h = handle_of_fi(fi, PT_FILE);
	int r;

	if (!h)
		return (void)rf_reply_err(req, -EBADF);
	r = rf_backing_flush(req, h->fd, NULL, NULL);
	if (r < 0)
		rf_reply_err(req, 0);
}

static void pt_release(struct rf_req *req, uint64_t ino, struct rf_file *fi)
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

static void pt_fsync(struct rf_req *req, uint64_t ino, int datasync, struct rf_file *fi)
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

static void pt_fallocate(struct rf_req *req, uint64_t ino, int mode, off_t off, off_t len,
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
	free(data);
}

static void pt_copy_file_range(struct rf_req *req, uint64_t ino_in, off_t off_in,
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
	a = calloc(1, sizeof(*a));
	if (!a)
		return (void)rf_reply_err(req, -ENOMEM);
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

static void pt_lseek(struct rf_req *req, uint64_t ino, off_t off, int whence, struct rf_file *fi)
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

/* ---- locks ------------------------------------------------------------------------------ */

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

static void pt_getlk(struct rf_req *req, uint64_t ino, struct rf_file *fi, struct flock *lock)
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

static void pt_setlk(struct rf_req *req, uint64_t ino, struct rf_file *fi, struct flock *lock,
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

static void pt_flock(struct rf_req *req, uint64_t ino, struct rf_file *fi, int op)
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

/* ---- directories ------------------------------------------------------------------------ */

static struct pt_dir *dir_of_fi(const struct rf_file *fi)
{
	struct pt_handle *h = handle_of_fi(fi, PT_DIR);

	return h ? (struct pt_dir *)h : NULL;
}

static void opendir_done(struct rf_req *req, int res, void *data)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_dir *d = data;
	struct pt_inode *in = d->h.in;
	struct rf_file *fi = d->h.fi;

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
		closedir(d->dp);
		handle_free(fs, &d->h);
	}
	iput(fs, in);
}

static void pt_opendir(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_dir *d = calloc(1, sizeof(*d));
	int r;

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
	r = rf_backing_openat(req, atomic_load(&d->h.in->fd), ".", O_RDONLY | O_DIRECTORY, 0,
			      opendir_done, d);
	if (r < 0)
		opendir_done(req, r, d);
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

static void pt_readdir(struct rf_req *req, uint64_t ino, size_t size, off_t off,
		       struct rf_file *fi)
{
	readdir_common(req, size, off, fi, false);
}

static void pt_readdirplus(struct rf_req *req, uint64_t ino, size_t size, off_t off,
			   struct rf_file *fi)
{
	readdir_common(req, size, off, fi, true);
}

static void pt_releasedir(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct pt_dir *d = dir_of_fi(fi);

	if (!d)
		return (void)rf_reply_err(req, -EBADF);
	closedir(d->dp);             /* closing a directory writes nothing back */
	handle_free(fs_of(req), &d->h);
	rf_reply_err(req, 0);
}

static void pt_fsyncdir(struct rf_req *req, uint64_t ino, int datasync, struct rf_file *fi)
{
	struct pt_dir *d = dir_of_fi(fi);
	int r;

	if (!d)
		return (void)rf_reply_err(req, -EBADF);
	r = rf_backing_fsync(req, d->h.fd, datasync, NULL, NULL);
	if (r < 0)
		rf_reply_err(req, r);
}

/* ---- filesystem-wide -------------------------------------------------------------------- */

static void pt_statfs(struct rf_req *req, uint64_t ino)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_inode *in = iget(fs, ino);
	struct statvfs sv;
	int fd, r;

	if (!in)
		in = iget(fs, 1);
	if (!in)
		return (void)rf_reply_err(req, -ESTALE);
	fd = ifd_get(fs, in);
	/* A file closed on unlink still lives on the source's filesystem, as a rule. */
	r = fstatvfs(fd >= 0 ? fd : fs->root_dirfd, &sv) < 0 ? -errno : 0;
	ifd_put(in, fd);
	if (r < 0)
		rf_reply_err(req, r);
	else
		rf_reply_statfs(req, &sv);
	iput(fs, in);
}

static int do_syncfs(void *arg)
{
	struct pt_fs *fs = arg;

	return syncfs(fs->root_dirfd) < 0 ? -errno : 0;
}

static void pt_syncfs(struct rf_req *req, uint64_t ino)
{
	int r = rf_backing_call(req, do_syncfs, fs_of(req), NULL, NULL);

	if (r < 0)
		rf_reply_err(req, r);
}

/* The attributes kept for a file closed on unlink, as statx gives them. */
static void statx_from_stat(struct statx *stx, const struct stat *st)
{
	memset(stx, 0, sizeof(*stx));
	stx->stx_mask = STATX_BASIC_STATS;
	stx->stx_blksize = (uint32_t)st->st_blksize;
	stx->stx_nlink = (uint32_t)st->st_nlink;
	stx->stx_uid = st->st_uid;
	stx->stx_gid = st->st_gid;
	stx->stx_mode = (uint16_t)st->st_mode;
	stx->stx_ino = st->st_ino;
	stx->stx_size = (uint64_t)st->st_size;
	stx->stx_blocks = (uint64_t)st->st_blocks;
	stx->stx_atime.tv_sec = st->st_atim.tv_sec;
	stx->stx_atime.tv_nsec = (uint32_t)st->st_atim.tv_nsec;
	stx->stx_mtime.tv_sec = st->st_mtim.tv_sec;
	stx->stx_mtime.tv_nsec = (uint32_t)st->st_mtim.tv_nsec;
	stx->stx_ctime.tv_sec = st->st_ctim.tv_sec;
	stx->stx_ctime.tv_nsec = (uint32_t)st->st_ctim.tv_nsec;
	stx->stx_rdev_major = major(st->st_rdev);
	stx->stx_rdev_minor = minor(st->st_rdev);
	stx->stx_dev_major = major(st->st_dev);
	stx->stx_dev_minor = minor(st->st_dev);
}

static void pt_statx(struct rf_req *req, uint64_t ino, int flags, int mask, struct rf_file *fi)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_handle *h = handle_of_fi(fi, PT_FILE);
	struct pt_inode *in = NULL;
	struct statx stx;
	int fd, r;

	if (h) {
		fd = h->fd;
	} else {
		in = iget(fs, ino);
		if (!in)
			return (void)rf_reply_err(req, -ESTALE);
		fd = ifd_get(fs, in);
	}
	if (fd < 0 && in && in->gone) {
		statx_from_stat(&stx, in->gone);
		r = 0;
	} else {
		r = fd < 0 ? fd :
		    statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW |
				  (flags & AT_STATX_SYNC_TYPE),
			  mask ? (unsigned int)mask : STATX_BASIC_STATS, &stx) < 0 ? -errno : 0;
	}
	if (in)
		ifd_put(in, fd);
	if (r < 0)
		rf_reply_err(req, r);
	else
		rf_reply_statx(req, &stx, fs->timeout);
	iput(fs, in);
}

/* ---- extended attributes ---------------------------------------------------------------- */

/*
 * xattr calls have no fd variant for O_PATH fds: they go through /proc/self/fd/N, which
 * reaches the file itself (a symlink too: the magic link is not followed further).
 */
static struct pt_inode *xattr_start(struct rf_req *req, uint64_t ino, char *path, int *fd)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_inode *in = iget(fs, ino);

	if (!in) {
		rf_reply_err(req, -ESTALE);
		return NULL;
	}
	*fd = ifd_get(fs, in);
	if (*fd < 0) {
		rf_reply_err(req, *fd);
		iput(fs, in);
		return NULL;
	}
	proc_path(path, *fd);
	return in;
}

static void xattr_end(struct rf_req *req, struct pt_inode *in, int fd)
{
	ifd_put(in, fd);
	iput(fs_of(req), in);
}

static void pt_setxattr(struct rf_req *req, uint64_t ino, const char *name, const void *value,
			size_t size, int flags)
{
	char path[PT_PROC_PATH];
	int fd;
	struct pt_inode *in = xattr_start(req, ino, path, &fd);

	if (!in)
		return;
	rf_reply_err(req, setxattr(path, name, value, size, flags) < 0 ? -errno : 0);
	xattr_end(req, in, fd);
}

static void pt_getxattr(struct rf_req *req, uint64_t ino, const char *name, size_t size)
{
	char path[PT_PROC_PATH];
	int fd;
	struct pt_inode *in = xattr_start(req, ino, path, &fd);
	size_t cap;
	char *buf;
	ssize_t n;

	if (!in)
		return;
	buf = rf_req_payload(req, &cap);
	n = getxattr(path, name, size ? buf : NULL, size < cap ? size : cap);
	if (n < 0)
		rf_reply_err(req, -errno);
	else if (!size)
		rf_reply_xattr_size(req, (size_t)n);
	else
		rf_reply_buf(req, buf, (size_t)n);
	xattr_end(req, in, fd);
}

static void pt_listxattr(struct rf_req *req, uint64_t ino, size_t size)
{
	char path[PT_PROC_PATH];
	int fd;
	struct pt_inode *in = xattr_start(req, ino, path, &fd);
	size_t cap;
	char *buf;
	ssize_t n;

	if (!in)
		return;
	buf = rf_req_payload(req, &cap);
	n = listxattr(path, size ? buf : NULL, size < cap ? size : cap);
	if (n < 0)
		rf_reply_err(req, -errno);
	else if (!size)
		rf_reply_xattr_size(req, (size_t)n);
	else
		rf_reply_buf(req, buf, (size_t)n);
	xattr_end(req, in, fd);
}

static void pt_removexattr(struct rf_req *req, uint64_t ino, const char *name)
{
	char path[PT_PROC_PATH];
	int fd;
	struct pt_inode *in = xattr_start(req, ino, path, &fd);

	if (!in)
		return;
	rf_reply_err(req, removexattr(path, name) < 0 ? -errno : 0);
	xattr_end(req, in, fd);
}

/* ---- session ---------------------------------------------------------------------------- */

static void pt_init(void *userdata, struct rf_conn *conn)
{
	struct pt_fs *fs = userdata;

	conn->want |= RF_CAP_HANDLE_KILLPRIV_V2;
	if (fs->cache == CACHE_NEVER)
		conn->want |= RF_CAP_DIRECT_IO_ALLOW_MMAP;
	if (fs->cache == CACHE_ALWAYS) {
		conn->want |= RF_CAP_CACHE_SYMLINKS;
		/* The source changes only through this mount (the mode's promise), so a
		 * changed mtime in an attribute reply is our own write's doing: with
		 * AUTO_INVAL_DATA the kernel would drop the cache for it, and a READ that
		 * overtakes the write refills it with the old bytes for good
		 * (docs/kernel-notes.md §13). */
		conn->want &= ~RF_CAP_AUTO_INVAL_DATA;
	}
	if (fs->writeback && fs->cache == CACHE_NEVER) {
		/* Every open is direct: the kernel would keep mtime to itself and never
		 * update it on those writes. */
		fprintf(stderr, "passthrough: writeback ignored: cache=never opens are direct\n");
		fs->writeback = false;
	}
	if (fs->writeback) {
		if (conn->capable & RF_CAP_WRITEBACK_CACHE) {
			conn->want |= RF_CAP_WRITEBACK_CACHE;
		} else {
			fprintf(stderr, "passthrough: writeback: the kernel does not offer it\n");
			fs->writeback = false;
		}
	}
	if (!fs->want_passthrough)
		return;
	if (fs->writeback)
		fprintf(stderr, "passthrough: kernel passthrough not used: the kernel refuses it "
			"together with -o writeback\n");
	else if (!(conn->capable & RF_CAP_PASSTHROUGH))
		fprintf(stderr, "passthrough: kernel passthrough not used: the kernel does not "
			"offer it (needs Linux >= 6.9 with CONFIG_FUSE_PASSTHROUGH)\n");
	else {
		conn->want |= RF_CAP_PASSTHROUGH;
		conn->max_stack_depth = 1;
		atomic_store(&fs->passthrough, true);
	}
}

static const struct rf_ops pt_ops = {
	.init = pt_init,
	.lookup = pt_lookup,
	.forget = pt_forget,
	.getattr = pt_getattr,
	.setattr = pt_setattr,
	.readlink = pt_readlink,
	.mknod = pt_mknod,
	.mkdir = pt_mkdir,
	.unlink = pt_unlink,
	.rmdir = pt_rmdir,
	.symlink = pt_symlink,
	.rename = pt_rename,
	.link = pt_link,
	.open = pt_open,
	.read = pt_read,
	.write = pt_write,
	.flush = pt_flush,
	.release = pt_release,
	.fsync = pt_fsync,
	.opendir = pt_opendir,
	.readdir = pt_readdir,
	.readdirplus = pt_readdirplus,
	.releasedir = pt_releasedir,
	.fsyncdir = pt_fsyncdir,
	.statfs = pt_statfs,
	.setxattr = pt_setxattr,
	.getxattr = pt_getxattr,
	.listxattr = pt_listxattr,
	.removexattr = pt_removexattr,
	.create = pt_create,
	.getlk = pt_getlk,
	.setlk = pt_setlk,
	.flock = pt_flock,
	.fallocate = pt_fallocate,
	.copy_file_range = pt_copy_file_range,
	.lseek = pt_lseek,
	.tmpfile = pt_tmpfile,
	.statx = pt_statx,
	.syncfs = pt_syncfs,
};

/* ---- main ------------------------------------------------------------------------------- */

/* The -o keys passthrough accepts (rf_opts_parse refuses any other and lists these for -h). */
static const struct rf_opt_spec pt_spec[] = {
	{ "source", "DIR", "directory to mirror (required; or: passthrough DIR MOUNTPOINT)" },
	{ "cache", "MODE", "never | auto (default) | always" },
	{ "writeback", NULL, "kernel writeback cache" },
	{ "passthrough", NULL, "kernel passthrough of read/write/mmap (CAP_SYS_ADMIN)" },
	{ "timeout", "SEC", "entry and attribute timeout (default per cache mode)" },
	{ "negative_timeout", "SEC", "cache missing names (default 0: not cached)" },
	{ "inode_handles", NULL, "file handles instead of O_PATH fds for non-directories" },
	{ NULL, NULL, NULL },
};

/* The filesystem's own -o keys (rf_opts_parse left them in opts->fs_opts). */
static int parse_fs_opts(struct pt_fs *fs, const struct rf_opts *opts, bool *timeout_set)
{
	char *copy, *save = NULL, *opt;
	int ret = 0;

	if (!opts->fs_opts)
		return 0;
	copy = strdup(opts->fs_opts);
	if (!copy)
		return -ENOMEM;
	for (opt = strtok_r(copy, ",", &save); opt && !ret; opt = strtok_r(NULL, ",", &save)) {
		char *val = strchr(opt, '=');

		if (val)
			*val++ = '\0';
		if (!strcmp(opt, "source") && val && *val) {
			continue;        /* read in place below: its storage outlives the copy */
		} else if (!strcmp(opt, "cache") && val) {
			if (!strcmp(val, "never"))
				fs->cache = CACHE_NEVER;
			else if (!strcmp(val, "auto"))
				fs->cache = CACHE_AUTO;
			else if (!strcmp(val, "always"))
				fs->cache = CACHE_ALWAYS;
			else
				ret = -EINVAL;
		} else if (!strcmp(opt, "timeout") && val) {
			char *end;

			errno = 0;
			fs->timeout = strtod(val, &end);
			if (errno || end == val || *end || !(fs->timeout >= 0) ||
			    fs->timeout > 1e9)
				ret = -EINVAL;
			*timeout_set = true;
		} else if (!strcmp(opt, "negative_timeout") && val) {
			char *end;

			errno = 0;
			fs->neg_timeout = strtod(val, &end);
			if (errno || end == val || *end || !(fs->neg_timeout >= 0) ||
			    fs->neg_timeout > 1e9)
				ret = -EINVAL;
		} else if (!strcmp(opt, "writeback") && !val) {
			fs->writeback = true;
		} else if (!strcmp(opt, "passthrough") && !val) {
			fs->want_passthrough = true;
		} else if (!strcmp(opt, "inode_handles") && !val) {
			fs->handles = true;
		} else {
			ret = -EINVAL;
		}
		if (ret)
			fprintf(stderr, "passthrough: bad option '%s%s%s'\n", opt, val ? "=" : "",
				val ? val : "");
	}
	free(copy);
	if (!ret && rf_opts_get(opts, "source", &fs->source) && !*fs->source)
		fs->source = NULL;
	return ret;
}

/* Refuse a mount point inside the source: looking it up would call back into this
 * very server from its own loop thread (a mount over the source itself is fine). */
static int check_mountpoint(const char *source, const char *mnt)
{
	char *s = realpath(source, NULL), *m = realpath(mnt, NULL);
	size_t n;
	int ret = 0;

	if (s && m) {
		n = strlen(s);
		if (n == 1)
			n = 0;           /* source "/" */
		if (strcmp(s, m) && !strncmp(s, m, n) && m[n] == '/') {
			fprintf(stderr, "passthrough: mount point %s is inside the source %s; "
				"it would be mirrored into itself\n", m, s);
			ret = -EINVAL;
		}
	}
	free(s);
	free(m);
	return ret;
}

/* Teardown self-check (tests/integration/teardown.sh): once the session has ended and the
 * inodes are closed, no fd of this process may still point into the source, or the
 * backing filesystem would stay busy. Prints each one left over; returns how many. */
static int source_fds_left(const char *source)
{
	char *real = realpath(source, NULL), link[PATH_MAX + 32];
	const char *src = real ? real : source;
	size_t n = strlen(src);
	struct dirent *de;
	DIR *d;
	int left = 0;

	d = n > 1 ? opendir("/proc/self/fd") : NULL;     /* source "/": nothing to tell */
	while (d && (de = readdir(d))) {
		ssize_t len;

		if (de->d_name[0] == '.' || atoi(de->d_name) == dirfd(d))
			continue;
		len = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
		if (len < 0)
			continue;
		link[len] = '\0';
		if (!strncmp(link, src, n) && (link[n] == '\0' || link[n] == '/' || link[n] == ' ')) {
			fprintf(stderr, "passthrough: at exit, fd %s is still open on %s\n",
				de->d_name, link);
			left++;
		}
	}
	if (d)
		closedir(d);
	free(real);
	return left;
}

/* Each inode keeps an fd: let the process have as many as it may. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int setup_root(struct pt_fs *fs)
{
	static const struct rf_itable_ops iops = { .free = inode_free };
	struct pt_inode *root;
	struct stat st;
	int fd, r;

	fd = open(fs->source, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "passthrough: source %s: %s\n", fs->source, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fs->root_dirfd = open(fs->source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->root_dirfd < 0) {
		fprintf(stderr, "passthrough: source %s: %s\n", fs->source, strerror(errno));
		close(fd);
		return -1;
	}
	if (fs->handles) {
		struct file_handle *fh = malloc(sizeof(*fh) + PT_HANDLE_MAX);

		if (fh)
			fh->handle_bytes = PT_HANDLE_MAX;
		if (!fh || name_to_handle_at(fs->root_dirfd, "", fh, &fs->mount_id,
					     AT_EMPTY_PATH) < 0) {
			fprintf(stderr, "passthrough: inode_handles: the source has no file "
				"handles (%s); keeping O_PATH fds\n", strerror(fh ? errno : ENOMEM));
			fs->handles = false;
		}
		free(fh);
	}
	r = rf_itable_new(&fs->table, &iops, fs);
	root = calloc(1, sizeof(*root));
	if (r < 0 || !root) {
		fprintf(stderr, "passthrough: out of memory\n");
		free(root);
		close(fd);
		return -1;
	}
	atomic_init(&root->fd, fd);
	root->type = S_IFDIR;
	r = rf_itable_set_root(fs->table, st.st_dev, st.st_ino, &root->base);
	if (r < 0) {
		fprintf(stderr, "passthrough: inode table: %s\n", strerror(-r));
		inode_free(&root->base, fs);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct pt_fs fs;
	struct rf_opts opts;
	struct rf_session *se = NULL;
	bool timeout_set = false;
	size_t leaked;
	int ret;

	memset(&fs, 0, sizeof(fs));
	fs.cache = CACHE_AUTO;
	fs.root_dirfd = -1;
	pthread_mutex_init(&fs.lock, NULL);
	/* Modes are the caller's: the kernel sends them with the caller's umask applied. */
	umask(0);

	rf_opts_init(&opts);
	opts.fs_spec = pt_spec;
	ret = rf_opts_parse(&opts, argc, argv);
	if (ret != 0) {
		rf_opts_free(&opts);
		return ret > 0 ? 0 : 1;
	}
	if (parse_fs_opts(&fs, &opts, &timeout_set) < 0) {
		rf_opts_free(&opts);
		return 1;
	}
	if (!fs.source)
		fs.source = opts.source;      /* mount(8)'s form: passthrough DIR MOUNTPOINT */
	if (!fs.source) {
		fprintf(stderr, "passthrough: missing -o source=DIR, the directory to mirror "
			"(see --help)\n");
		rf_opts_free(&opts);
		return 1;
	}
	if (!timeout_set)
		fs.timeout = fs.cache == CACHE_NEVER ? 0 : fs.cache == CACHE_AUTO ? 1.0 :
									      PT_LONG_TIMEOUT;
	if (check_mountpoint(fs.source, opts.mountpoint) < 0 || setup_root(&fs) < 0) {
		rf_itable_free(fs.table);
		if (fs.root_dirfd >= 0)
			close(fs.root_dirfd);
		rf_opts_free(&opts);
		return 1;
	}
	raise_nofile();
	/* Many users: the kernel checks permissions against the mirrored modes. */
	if (opts.allow_other)
		opts.default_permissions = 1;
	if (!opts.fsname)
		opts.fsname = fs.source;
	if (!opts.subtype)
		opts.subtype = "passthrough";

	ret = rf_session_new(&pt_ops, sizeof(pt_ops), &fs, &opts, &se);
	if (ret < 0) {
		fprintf(stderr, "passthrough: cannot create session: %s\n", strerror(-ret));
	} else {
		fs.se = se;
		ret = rf_session_mount(se);
		if (ret == 0)
			ret = rf_session_daemonize(se);
		if (ret == 0)
			ret = rf_session_run(se);
		rf_session_free(se);
	}
	/* Every request is answered, every handle released and every lookup forgotten (the
	 * runtime's teardown gives back what the kernel still held): only the root is left
	 * in the table, or an inode leaked. */
	leaked = rf_itable_count(fs.table) > 1 ? rf_itable_count(fs.table) - 1 : 0;
	if (leaked)
		fprintf(stderr, "passthrough: %zu inode(s) still in the table at exit\n", leaked);
	/* The loop is gone: close the inodes' fds. */
	rf_itable_free(fs.table);
	close(fs.root_dirfd);
	pthread_mutex_destroy(&fs.lock);
	ret = source_fds_left(fs.source) ? 3 : leaked ? 4 : ret < 0 ? 1 : 0;
	rf_opts_free(&opts);
	return ret;
}
