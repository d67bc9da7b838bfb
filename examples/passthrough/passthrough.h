/* SPDX-License-Identifier: MIT */
/*
 * passthrough.h - what the files of passthrough share. passthrough mirrors a source
 * directory under the mount point, on ringfuse.
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
 * With -o allow_other, default_permissions is switched on: the kernel checks modes and
 * (POSIX_ACL) the source's ACLs.
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
 *
 * The files, one concept each:
 *   main.c    options (-o source=, cache=, ...), the root inode, main()
 *   ops.c     the ops table, INIT, STATFS, SYNCFS
 *   inode.c   inodes: the source fd or file handle, lookups and FORGET-driven lifetime,
 *             entry replies, who owns a new file
 *   lookup.c  LOOKUP and FORGET
 *   attr.c    GETATTR, SETATTR (truncate on the ring), READLINK, STATX
 *   setid.c   set-id bits dropped for unprivileged writers (HANDLE_KILLPRIV_V2)
 *   names.c   the calls that make a name (MKNOD, MKDIR, SYMLINK, LINK) or take it away
 *             or move it (UNLINK, RMDIR, RENAME)
 *   file.c    open files: OPEN, CREATE, TMPFILE, READ, WRITE, FLUSH, RELEASE, FSYNC,
 *             FALLOCATE, COPY_FILE_RANGE, LSEEK; kernel passthrough backing ids
 *   lock.c    POSIX (OFD) and flock locks, waits polled on a timer
 *   dir.c     OPENDIR, READDIR[PLUS] on a worker, RELEASEDIR, FSYNCDIR
 *   xattr.c   extended attributes through /proc/self/fd
 */
#ifndef PASSTHROUGH_H
#define PASSTHROUGH_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/types.h>

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
	bool acl;                    /* default_permissions: the kernel checks POSIX ACLs too */
	bool want_passthrough;       /* -o passthrough */
	atomic_bool passthrough;     /* negotiated and not failed yet */
	bool handles;                /* -o inode_handles, usable on this source */
	int mount_id;                /* the source's mount, for file handles */
	pthread_mutex_t lock;        /* the backing ids of inodes */
	/* maybe_prune: past fd number prune_at, ask the kernel to let go of inodes */
	int prune_at, prune_to;      /* 3/4 and 1/2 of RLIMIT_NOFILE; INT_MAX: never */
	_Atomic uint64_t prune_ns;   /* when the last prune was sent (CLOCK_MONOTONIC) */
	atomic_bool prune_off;       /* the kernel has no FUSE_NOTIFY_PRUNE */
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

/* Who owns what the caller creates in @parent, and with which mode. */
struct pt_owner {
	uid_t uid;
	gid_t gid;
	mode_t mode;                 /* type and permission bits, umask applied */
	struct timespec dir_mtime;   /* the parent's mtime when owner_for looked (born_since) */
};

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

static inline struct pt_fs *fs_of(struct rf_req *req)
{
	return rf_req_userdata(req);
}

/* A request's continuation state in its own scratch memory (ringfuse.h rf_req_scratch):
 * zeroed, valid until the reply (and in its backing callbacks), nothing to free. */
#define REQ_STATE(req, type)                                                          \
	((void)sizeof(char[sizeof(type) <= RF_REQ_SCRATCH ? 1 : -1]),                  \
	 (type *)rf_req_scratch(req, sizeof(type)))

static inline int cancel_err(int res)
{
	return res == -ECANCELED ? -EINTR : res;
}

static inline void proc_path(char *buf, int fd)
{
	snprintf(buf, PT_PROC_PATH, "/proc/self/fd/%d", fd);
}

/* close(2) an fd the runtime may have seen in an rf_backing_* call: it keeps what it
 * learned about the fd's filesystem by fd number (rf_backing_forget_fd). */
static inline void fd_close(int fd)
{
	rf_backing_forget_fd(fd);
	close(fd);
}

static inline bool is_dot(const char *name)
{
	return name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2]));
}

/* A name to create or remove: one path component, not "." or "..", not past NAME_MAX
 * (the kernel never sends others; nothing may reach outside the source either). */
static inline bool name_ok(const char *name)
{
	size_t len = strlen(name);

	return len > 0 && len <= NAME_MAX && !strchr(name, '/') && !is_dot(name);
}

/* ---- ops.c ------------------------------------------------------------------------------- */

/* Every request passthrough serves, and INIT. */
extern const struct rf_ops pt_ops;

/* ---- inode.c ----------------------------------------------------------------------------- */

/* Inode references: iget/iput around a request's use; ifd_get/ifd_put around the use of
 * the source fd (reopened from the file handle in inode_handles mode). The entry replies
 * hand the kernel one lookup of the inode. Comments at the definitions. */
struct pt_inode *inode_of(struct rf_inode *b);
void busy_get(struct pt_inode *in);
struct pt_inode *iget(struct pt_fs *fs, uint64_t nodeid);
void iput(struct pt_fs *fs, struct pt_inode *in);
void inode_free(struct rf_inode *b, void *data);
int ifd_get(struct pt_fs *fs, struct pt_inode *in);
void ifd_put(struct pt_inode *in, int fd);
int fstat_fd(int fd, struct stat *st);
int inode_from_fd(struct pt_fs *fs, int fd, const struct stat *st, struct pt_inode **out);
bool maybe_prune(struct pt_fs *fs, int fd, bool out_of_fds);

/* A call that found no fd free, tried again after a prune (fd_retry); in the request's
 * scratch memory, zeroed before the first try. */
struct pt_fd_retry {
	struct rf_timer timer;
	struct rf_req *req;
	void (*again)(struct rf_req *req, void *data);
	void *data;
	unsigned int tries;
};
bool fd_retry(struct pt_fs *fs, struct rf_req *req, struct pt_fd_retry *r, int res,
	      void (*again)(struct rf_req *req, void *data), void *data);
void fill_entry(const struct pt_fs *fs, struct rf_entry *e, const struct pt_inode *in,
		const struct stat *st);
void reply_entry_put(struct rf_req *req, struct pt_fs *fs, struct pt_inode *in,
		     const struct stat *st);
void reply_fd_entry(struct rf_req *req, struct pt_fs *fs, int fd);
void maybe_drop_fd(struct pt_inode *in, const struct stat *known);
void check_unlinked(struct pt_fs *fs, dev_t dev, ino_t ino);
int owner_for(struct rf_req *req, struct pt_inode *parent, mode_t mode,
	      struct pt_owner *o);
int give_to_owner(int fd, const struct pt_owner *o, struct stat *st);

/* ---- lookup.c ---------------------------------------------------------------------------- */

void pt_lookup(struct rf_req *req, uint64_t parent, const char *name);
void pt_forget(void *userdata, uint64_t ino, uint64_t nlookup);

/* ---- attr.c ------------------------------------------------------------------------------ */

/* The open file of @fi if it is of @kind (PT_FILE or PT_DIR), else NULL. */
struct pt_handle *handle_of_fi(const struct rf_file *fi, uint32_t kind);
void pt_getattr(struct rf_req *req, uint64_t ino, struct rf_file *fi);
void pt_setattr(struct rf_req *req, uint64_t ino, const struct stat *attr, int to_set,
		struct rf_file *fi);
void pt_readlink(struct rf_req *req, uint64_t ino);
void pt_statx(struct rf_req *req, uint64_t ino, int flags, int mask, struct rf_file *fi);

/* ---- setid.c ----------------------------------------------------------------------------- */

/* kill_suidgid drops set-id bits as the kernel would (1 if dropped, 0 if none, -errno);
 * after_killed invalidates the kernel's attributes on a worker, then runs @then. */
int kill_suidgid(struct rf_req *req, int fd, bool opath);
int after_killed(struct rf_req *req, uint64_t ino, rf_backing_cb then,
		 const struct pt_killed *args);
int kill_unflagged(struct rf_req *req, int fd);

/* ---- names.c ----------------------------------------------------------------------------- */

void pt_mknod(struct rf_req *req, uint64_t parent, const char *name, mode_t mode,
	      dev_t rdev);
void pt_mkdir(struct rf_req *req, uint64_t parent, const char *name, mode_t mode);
void pt_symlink(struct rf_req *req, const char *target, uint64_t parent,
		const char *name);
void pt_link(struct rf_req *req, uint64_t ino, uint64_t newparent, const char *newname);
void pt_unlink(struct rf_req *req, uint64_t parent, const char *name);
void pt_rmdir(struct rf_req *req, uint64_t parent, const char *name);
void pt_rename(struct rf_req *req, uint64_t parent, const char *name, uint64_t newparent,
	       const char *newname, unsigned int flags);

/* ---- file.c ------------------------------------------------------------------------------ */

/* Frees an open file or directory: the inode's open count and table reference go back
 * (the fd is the caller's to close). */
void handle_free(struct pt_fs *fs, struct pt_handle *h);
void pt_open(struct rf_req *req, uint64_t ino, struct rf_file *fi);
void pt_create(struct rf_req *req, uint64_t parent, const char *name, mode_t mode,
	       struct rf_file *fi);
void pt_tmpfile(struct rf_req *req, uint64_t parent, mode_t mode, struct rf_file *fi);
void pt_read(struct rf_req *req, uint64_t ino, size_t size, off_t off, struct rf_file *fi);
void pt_write(struct rf_req *req, uint64_t ino, const void *buf, size_t size, off_t off,
	      struct rf_file *fi);
void pt_flush(struct rf_req *req, uint64_t ino, struct rf_file *fi);
void pt_release(struct rf_req *req, uint64_t ino, struct rf_file *fi);
void pt_fsync(struct rf_req *req, uint64_t ino, int datasync, struct rf_file *fi);
void pt_fallocate(struct rf_req *req, uint64_t ino, int mode, off_t off, off_t len,
		  struct rf_file *fi);
void pt_copy_file_range(struct rf_req *req, uint64_t ino_in, off_t off_in,
			struct rf_file *fi_in, uint64_t ino_out, off_t off_out,
			struct rf_file *fi_out, size_t len, int flags);
void pt_lseek(struct rf_req *req, uint64_t ino, off_t off, int whence, struct rf_file *fi);

/* ---- lock.c ------------------------------------------------------------------------------ */

void pt_getlk(struct rf_req *req, uint64_t ino, struct rf_file *fi, struct flock *lock);
void pt_setlk(struct rf_req *req, uint64_t ino, struct rf_file *fi, struct flock *lock,
	      int sleep);
void pt_flock(struct rf_req *req, uint64_t ino, struct rf_file *fi, int op);

/* ---- dir.c ------------------------------------------------------------------------------- */

void pt_opendir(struct rf_req *req, uint64_t ino, struct rf_file *fi);
void pt_readdir(struct rf_req *req, uint64_t ino, size_t size, off_t off,
		struct rf_file *fi);
void pt_readdirplus(struct rf_req *req, uint64_t ino, size_t size, off_t off,
		    struct rf_file *fi);
void pt_releasedir(struct rf_req *req, uint64_t ino, struct rf_file *fi);
void pt_fsyncdir(struct rf_req *req, uint64_t ino, int datasync, struct rf_file *fi);

/* ---- xattr.c ----------------------------------------------------------------------------- */

void pt_setxattr(struct rf_req *req, uint64_t ino, const char *name, const void *value,
		 size_t size, int flags);
void pt_getxattr(struct rf_req *req, uint64_t ino, const char *name, size_t size);
void pt_listxattr(struct rf_req *req, uint64_t ino, size_t size);
void pt_removexattr(struct rf_req *req, uint64_t ino, const char *name);

#endif
