/* SPDX-License-Identifier: MIT */
/*
 * memfs.h - what the files of memfs share: the tree's data structures, the limits, and the
 * functions one file offers the others. memfs is an in-memory POSIX filesystem on ringfuse,
 * the default filesystem of demos and tests: sparse files, directories, symlinks, hard
 * links, special files and xattrs.
 *
 * The files, one concept each:
 *   main.c    options (-o size=, inodes=, timeouts), setup and teardown, main()
 *   ops.c     the ops table, INIT, STATFS, SYNCFS
 *   inode.c   the inode table; lifetimes (names, kernel lookups, open handles)
 *   attr.c    attributes: GETATTR, SETATTR, STATX, atime
 *   setid.c   set-id bits dropped for unprivileged writers (HANDLE_KILLPRIV_V2)
 *   dir.c     directory entries (name hash, readdir cookies), OPENDIR, READDIR[PLUS]
 *   names.c   LOOKUP and the calls that make a name: MKNOD, MKDIR, SYMLINK, CREATE,
 *             TMPFILE, LINK; READLINK
 *   remove.c  the calls that take a name away or move it: UNLINK, RMDIR, RENAME
 *   pagemap.c file pages in a radix tree (holes cost nothing)
 *   data.c    file contents on the page map: read, write, zero, resize, fallocate,
 *             copy, SEEK_DATA/SEEK_HOLE
 *   file.c    the file requests: OPEN, READ, WRITE, FLUSH, FSYNC, RELEASE, FALLOCATE,
 *             COPY_FILE_RANGE, LSEEK
 *   xattr.c   extended attributes
 *
 * Locking: handlers run on loop threads; with threads=N there are several. Every handler
 * takes memfs.lock, looks and changes, puts what the reply needs in locals or in the
 * request's own payload buffer, drops the lock, then replies. Functions below that take a
 * struct memfs and no request run with the lock held unless they say otherwise.
 */
#ifndef MEMFS_H
#define MEMFS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <ringfuse.h>

#define ROOT_INO	1
#define MF_NAME_MAX	255
#define MF_SYMLINK_MAX	4095			/* PATH_MAX minus the NUL */
#define MF_MAX_FILE	((uint64_t)1 << 40)	/* 1 TiB logical: beyond it, EFBIG */
#define MF_NLINK_MAX	((uint32_t)INT32_MAX)
#define MF_CFR_MAX	((uint64_t)64 << 20)	/* per COPY_FILE_RANGE: keep the loop responsive */
#define BOGO_DIRENT	20			/* st_size per directory entry, as tmpfs */
#define FIRST_COOKIE	3			/* readdir offsets 1 and 2 are "." and ".." */

/* File data lives in 4 KiB pages hung off a radix tree: holes cost nothing. */
#define PG_SHIFT	12
#define PG_SIZE		((uint64_t)1 << PG_SHIFT)
#define PG_MASK		(PG_SIZE - 1)
#define RT_BITS		9
#define RT_FAN		(1u << RT_BITS)

#define MIN(a, b)	((a) < (b) ? (a) : (b))

struct rtnode {
	void *slot[RT_FAN];
};

struct pmap {
	void *root;			/* rtnode of height @height, or NULL (then height 0) */
	unsigned int height;
	uint64_t npages;
};

struct dent;

/* One directory slot; removed entries leave a tombstone so cookies stay sorted. */
struct dslot {
	uint64_t cookie;
	struct dent *d;
};

struct dirdata {
	struct dslot *slots;		/* sorted by cookie */
	size_t n, cap, live;
	uint64_t next_cookie;
	uint64_t parent;		/* ino of "..": a number, never a pointer, so an
					 * unlinked directory cannot dangle */
};

struct xattr {
	struct xattr *next;
	size_t namelen, vlen;
	char data[];			/* name, NUL, value */
};

struct inode {
	struct inode *hnext;		/* in memfs.itab */
	uint64_t ino;
	uint64_t nlookup;		/* the kernel's references (entries replied, minus FORGET) */
	uint64_t nopen;			/* OPEN/CREATE/OPENDIR minus RELEASE/RELEASEDIR */
	uint32_t nlink;
	bool linkable;			/* O_TMPFILE without O_EXCL: link(2) may give it a name */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	dev_t rdev;
	uint64_t size;			/* regular: bytes; symlink: target length */
	struct timespec atime, mtime, ctime, btime;
	struct xattr *xattrs;
	size_t xattr_list;		/* bytes listxattr needs */
	union {
		struct pmap data;	/* S_IFREG */
		char *target;		/* S_IFLNK */
		struct dirdata dir;	/* S_IFDIR */
	} u;
};

struct dent {
	struct dent *hnext;		/* in memfs.dtab */
	struct inode *dir;		/* cannot go away: a directory with entries is never freed */
	struct inode *node;
	uint64_t hash;
	uint64_t cookie;
	size_t slot;			/* index in dir->u.dir.slots */
	size_t namelen;
	char name[];
};

struct memfs {
	/* Handlers run on loop threads; with threads=N there are several, so every handler
	 * holds this while it looks at or changes the tree, and drops it before replying. */
	pthread_mutex_t lock;
	struct inode **itab;		/* ino -> inode */
	size_t itab_mask, ninodes;
	struct dent **dtab;		/* (dir, name) -> dent */
	size_t dtab_mask, ndents;
	uint64_t next_ino;		/* never reused: the kernel may still know old ids */
	uint64_t next_fh;		/* open file handles, never reused either */
	uint64_t max_pages, used_pages, max_inodes;
	double entry_timeout, attr_timeout, neg_timeout;
	struct inode *root;
};

/* ---- small helpers, inline: every request uses them ------------------------------------ */

static inline struct timespec now_ts(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return t;
}

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static inline void fs_lock(struct memfs *fs)
{
	pthread_mutex_lock(&fs->lock);
}

static inline void fs_unlock(struct memfs *fs)
{
	pthread_mutex_unlock(&fs->lock);
}

static inline struct inode *inode_get(const struct memfs *fs, uint64_t ino)
{
	struct inode *n;

	for (n = fs->itab[mix64(ino) & fs->itab_mask]; n; n = n->hnext)
		if (n->ino == ino)
			return n;
	return NULL;
}

/* ---- ops.c ------------------------------------------------------------------------------- */

extern const struct rf_ops memfs_ops;

/* ---- inode.c: the inode table and lifetimes ---------------------------------------------- */

/* A new inode of @mode, unlinked (nlink 0), in the table; NULL with *err (ENOSPC, ENOMEM). */
struct inode *inode_new(struct memfs *fs, mode_t mode, int *err);
/* Free what @n owns (pages, target, slots, xattrs), not @n itself. */
void inode_release_data(struct memfs *fs, struct inode *n);
void inode_free(struct memfs *fs, struct inode *n);
void inode_maybe_free(struct memfs *fs, struct inode *n);
/* The directory @ino, or NULL with *err: -ESTALE (no such inode) or -ENOTDIR. */
struct inode *get_dir(const struct memfs *fs, uint64_t ino, int *err);
void entry_fill(struct memfs *fs, struct inode *n, struct rf_entry *e);
void forget_locked(struct memfs *fs, uint64_t ino, uint64_t nlookup);
void close_locked(struct memfs *fs, uint64_t ino);
uint64_t new_fh(struct memfs *fs);
void file_opened(struct memfs *fs, struct rf_file *fi);
/* Replies that hand the kernel a reference; unlocked. A failed reply undoes the count. */
void reply_entry(struct memfs *fs, struct rf_req *req, const struct rf_entry *e);
void reply_open(struct memfs *fs, struct rf_req *req, uint64_t ino, struct rf_file *fi);
void mf_forget(void *userdata, uint64_t ino, uint64_t nlookup);

/* ---- attr.c ------------------------------------------------------------------------------ */

void stat_fill(const struct inode *n, struct stat *st);
void touch_atime(struct inode *n);
void mf_getattr(struct rf_req *req, uint64_t ino, struct rf_file *fi);
void mf_setattr(struct rf_req *req, uint64_t ino, const struct stat *attr, int to_set,
		struct rf_file *fi);
void mf_statx(struct rf_req *req, uint64_t ino, int flags, int mask, struct rf_file *fi);

/* ---- setid.c ----------------------------------------------------------------------------- */

/* What a reply_killed() reply is. */
enum mf_reply { MF_REPLY_WRITE, MF_REPLY_OPEN, MF_REPLY_NONE };

void kill_suid(struct inode *n);
bool kill_privs(struct rf_req *req, struct inode *n);
bool kill_privs_unflagged(struct memfs *fs, struct rf_req *req, uint64_t ino);
void reply_killed(struct memfs *fs, struct rf_req *req, uint64_t ino, enum mf_reply kind,
		  size_t written, struct rf_file *fi);

/* ---- dir.c: directory entries and readdir ------------------------------------------------ */

int check_name(const char *name);
bool is_dot(const char *name);
int dir_and_name(const struct memfs *fs, uint64_t parent, const char *name,
		 struct inode **dir);
struct dent *dent_find(const struct memfs *fs, const struct inode *dir, const char *name,
		       size_t len);
struct dent *dent_add(struct memfs *fs, struct inode *dir, const char *name, size_t len,
		      struct inode *node, int *err);
void dent_del(struct memfs *fs, struct dent *d);
bool in_subtree(const struct memfs *fs, const struct inode *top, const struct inode *dir);
void mf_opendir(struct rf_req *req, uint64_t ino, struct rf_file *fi);
void mf_readdir(struct rf_req *req, uint64_t ino, size_t size, off_t off, struct rf_file *fi);
void mf_readdirplus(struct rf_req *req, uint64_t ino, size_t size, off_t off,
		    struct rf_file *fi);
void mf_releasedir(struct rf_req *req, uint64_t ino, struct rf_file *fi);

/* ---- names.c ----------------------------------------------------------------------------- */

void mf_lookup(struct rf_req *req, uint64_t parent, const char *name);
void mf_readlink(struct rf_req *req, uint64_t ino);
void mf_mknod(struct rf_req *req, uint64_t parent, const char *name, mode_t mode, dev_t rdev);
void mf_mkdir(struct rf_req *req, uint64_t parent, const char *name, mode_t mode);
void mf_symlink(struct rf_req *req, const char *target, uint64_t parent, const char *name);
void mf_create(struct rf_req *req, uint64_t parent, const char *name, mode_t mode,
	       struct rf_file *fi);
void mf_tmpfile(struct rf_req *req, uint64_t parent, mode_t mode, struct rf_file *fi);
void mf_link(struct rf_req *req, uint64_t ino, uint64_t newparent, const char *newname);

/* ---- remove.c ---------------------------------------------------------------------------- */

void mf_unlink(struct rf_req *req, uint64_t parent, const char *name);
void mf_rmdir(struct rf_req *req, uint64_t parent, const char *name);
void mf_rename(struct rf_req *req, uint64_t parent, const char *name, uint64_t newparent,
	       const char *newname, unsigned int flags);

/* ---- pagemap.c --------------------------------------------------------------------------- */

char *pmap_find(const struct pmap *pm, uint64_t idx);
char *pmap_get(struct memfs *fs, struct pmap *pm, uint64_t idx, int *err);
void pmap_punch(struct memfs *fs, struct pmap *pm, uint64_t first, uint64_t last);
uint64_t pmap_next(const struct pmap *pm, uint64_t from, bool data);

/* ---- data.c: a regular file's contents ---------------------------------------------------- */

size_t file_read(const struct inode *n, char *dst, size_t size, uint64_t off);
int64_t file_write(struct memfs *fs, struct inode *n, const char *src, size_t size,
		   uint64_t off);
void file_resize(struct memfs *fs, struct inode *n, uint64_t size);
int do_fallocate(struct memfs *fs, uint64_t ino, int mode, off_t off, off_t len);
int64_t do_copy(struct memfs *fs, uint64_t ino_in, off_t off_in, uint64_t ino_out,
		off_t off_out, size_t len, int flags);
int64_t do_lseek(struct memfs *fs, uint64_t ino, off_t off, int whence);

/* ---- file.c ------------------------------------------------------------------------------ */

void mf_open(struct rf_req *req, uint64_t ino, struct rf_file *fi);
void mf_read(struct rf_req *req, uint64_t ino, size_t size, off_t off, struct rf_file *fi);
void mf_write(struct rf_req *req, uint64_t ino, const void *buf, size_t size, off_t off,
	      struct rf_file *fi);
void mf_flush(struct rf_req *req, uint64_t ino, struct rf_file *fi);
void mf_fsync(struct rf_req *req, uint64_t ino, int datasync, struct rf_file *fi);
void mf_release(struct rf_req *req, uint64_t ino, struct rf_file *fi);
void mf_fallocate(struct rf_req *req, uint64_t ino, int mode, off_t off, off_t len,
		  struct rf_file *fi);
void mf_copy_file_range(struct rf_req *req, uint64_t ino_in, off_t off_in,
			struct rf_file *fi_in, uint64_t ino_out, off_t off_out,
			struct rf_file *fi_out, size_t len, int flags);
void mf_lseek(struct rf_req *req, uint64_t ino, off_t off, int whence, struct rf_file *fi);

/* ---- xattr.c ----------------------------------------------------------------------------- */

void mf_setxattr(struct rf_req *req, uint64_t ino, const char *name, const void *value,
		 size_t size, int flags);
void mf_getxattr(struct rf_req *req, uint64_t ino, const char *name, size_t size);
void mf_listxattr(struct rf_req *req, uint64_t ino, size_t size);
void mf_removexattr(struct rf_req *req, uint64_t ino, const char *name);

#endif
