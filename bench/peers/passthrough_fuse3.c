/*
 * passthrough_fuse3.c - benchmark peer: a passthrough filesystem on the
 * libfuse3 LOW-LEVEL API (libfuse 3.14 as shipped by Debian 12).
 *
 * Mirrors the directory given with -o source=DIR under the mount point.
 * Written for the ringfuse benchmarks as "the peer users have today"; it is
 * not derived from libfuse's example/passthrough_ll.c but implements the
 * same semantics:
 *
 *   - inode table keyed by (st_dev, st_ino); every known inode holds one
 *     O_PATH fd and a lookup count (nlookup) that forget/forget_multi drop;
 *     the fuse_ino_t handed to the kernel is the address of the table entry
 *     (FUSE_ROOT_ID maps to the source directory).
 *   - files are opened through /proc/self/fd/N of the O_PATH fd; fi->fh is
 *     the real fd.
 *   - read replies with fuse_reply_data() on a FUSE_BUF_FD_SEEK buffer (as
 *     libfuse does); without -o splice libfuse turns that into pread() into
 *     a heap buffer + writev() to /dev/fuse.
 *   - write is the plain `write` op (pwrite of the request's in-memory
 *     buffer + fuse_reply_write).  With -o splice the `write_buf` op
 *     (fuse_buf_copy) is registered instead, which makes libfuse receive
 *     requests through a pipe (FUSE_CAP_SPLICE_READ), and splice write /
 *     move are requested for read replies.
 *
 * Options (besides the standard libfuse ones: -f -d -s -o allow_other ...):
 *   -o source=DIR           directory to mirror (required)
 *   -o timeout=SEC          entry and attribute timeout (default 1.0)
 *   -o cache=never|auto|always
 *                           never: direct_io on every open; always:
 *                           keep_cache on every open; auto (default):
 *                           neither
 *   -o single               fuse_session_loop (one thread); otherwise
 *                           fuse_session_loop_mt (clone_fd=0 unless
 *                           -o clone_fd, max_idle_threads libfuse default)
 *   -o splice               see above (default off)
 *
 * Build:
 *   gcc -std=gnu11 -O2 -Wall -Wextra -Wno-unused-parameter -o passthrough_fuse3 passthrough_fuse3.c \
 *       $(pkg-config --cflags --libs fuse3) -lpthread
 */
#define _GNU_SOURCE
#define FUSE_USE_VERSION 34

#include <fuse_lowlevel.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Inode table                                                          */
/* ------------------------------------------------------------------ */

struct pt_inode {
	struct pt_inode *hnext;   /* hash chain */
	int fd;                   /* O_PATH | O_NOFOLLOW */
	dev_t dev;
	ino_t ino;
	uint64_t nlookup;         /* protected by table lock */
	mode_t type;              /* S_IFMT bits */
};

enum pt_cache { PT_CACHE_NEVER, PT_CACHE_AUTO, PT_CACHE_ALWAYS };

struct pt_fs {
	pthread_mutex_t lock;
	struct pt_inode **buckets;
	size_t nbuckets;          /* power of two */
	size_t count;
	struct pt_inode root;

	/* options */
	char *source;
	double timeout;
	int cache;
	int single;
	int splice;
	int debug;
};

static struct pt_fs *pt_fs_of(fuse_req_t req)
{
	return (struct pt_fs *)fuse_req_userdata(req);
}

static size_t pt_hash(dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ULL;
	h ^= (uint64_t)dev * 0xC2B2AE3D27D4EB4FULL;
	h ^= h >> 29;
	return (size_t)h;
}

static struct pt_inode *pt_inode_of(fuse_req_t req, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &pt_fs_of(req)->root;
	return (struct pt_inode *)(uintptr_t)ino;
}

static int pt_fd_of(fuse_req_t req, fuse_ino_t ino)
{
	return pt_inode_of(req, ino)->fd;
}

static fuse_ino_t pt_ino_of(struct pt_fs *fs, struct pt_inode *in)
{
	return in == &fs->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)in;
}

/* Called with fs->lock held. */
static void pt_table_grow(struct pt_fs *fs)
{
	size_t nb = fs->nbuckets * 2;
	struct pt_inode **b = calloc(nb, sizeof(*b));
	if (b == NULL)
		return; /* keep the old, longer chains */
	for (size_t i = 0; i < fs->nbuckets; i++) {
		struct pt_inode *in = fs->buckets[i];
		while (in != NULL) {
			struct pt_inode *next = in->hnext;
			size_t h = pt_hash(in->dev, in->ino) & (nb - 1);
			in->hnext = b[h];
			b[h] = in;
			in = next;
		}
	}
	free(fs->buckets);
	fs->buckets = b;
	fs->nbuckets = nb;
}

/* Called with fs->lock held. */
static struct pt_inode *pt_table_find(struct pt_fs *fs, dev_t dev, ino_t ino)
{
	struct pt_inode *in = fs->buckets[pt_hash(dev, ino) & (fs->nbuckets - 1)];
	while (in != NULL && !(in->ino == ino && in->dev == dev))
		in = in->hnext;
	return in;
}

/* Called with fs->lock held. */
static void pt_table_insert(struct pt_fs *fs, struct pt_inode *in)
{
	if (fs->count + 1 > fs->nbuckets)
		pt_table_grow(fs);
	size_t h = pt_hash(in->dev, in->ino) & (fs->nbuckets - 1);
	in->hnext = fs->buckets[h];
	fs->buckets[h] = in;
	fs->count++;
}

/* Called with fs->lock held. */
static void pt_table_remove(struct pt_fs *fs, struct pt_inode *in)
{
	struct pt_inode **pp =
		&fs->buckets[pt_hash(in->dev, in->ino) & (fs->nbuckets - 1)];
	while (*pp != NULL && *pp != in)
		pp = &(*pp)->hnext;
	if (*pp == in) {
		*pp = in->hnext;
		fs->count--;
	}
}

static void pt_unref(struct pt_fs *fs, struct pt_inode *in, uint64_t n)
{
	if (in == &fs->root)
		return;
	pthread_mutex_lock(&fs->lock);
	if (n > in->nlookup) {
		fprintf(stderr, "passthrough_fuse3: forget(%" PRIu64
			") > nlookup(%" PRIu64 ") on inode %ju\n",
			n, in->nlookup, (uintmax_t)in->ino);
		n = in->nlookup;
	}
	in->nlookup -= n;
	if (in->nlookup == 0) {
		pt_table_remove(fs, in);
		pthread_mutex_unlock(&fs->lock);
		close(in->fd);
		free(in);
		return;
	}
	pthread_mutex_unlock(&fs->lock);
}

static void pt_procpath(char *buf, size_t len, int fd)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
}

static double pt_timeout(struct pt_fs *fs)
{
	return fs->timeout;
}

/*
 * Look up @name in directory @parent_fd, take one lookup reference on the
 * resulting inode (creating the table entry if needed) and fill @e.
 * Returns 0 or an errno value.
 */
static int pt_do_lookup(struct pt_fs *fs, int parent_fd, const char *name,
			struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->attr_timeout = pt_timeout(fs);
	e->entry_timeout = pt_timeout(fs);

	int fd = openat(parent_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return errno;
	if (fstatat(fd, "", &e->attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == -1) {
		int err = errno;
		close(fd);
		return err;
	}

	pthread_mutex_lock(&fs->lock);
	struct pt_inode *in = pt_table_find(fs, e->attr.st_dev, e->attr.st_ino);
	if (in != NULL) {
		if (in != &fs->root)
			in->nlookup++;
		pthread_mutex_unlock(&fs->lock);
		close(fd);
	} else {
		in = calloc(1, sizeof(*in));
		if (in == NULL) {
			pthread_mutex_unlock(&fs->lock);
			close(fd);
			return ENOMEM;
		}
		in->fd = fd;
		in->dev = e->attr.st_dev;
		in->ino = e->attr.st_ino;
		in->type = e->attr.st_mode & S_IFMT;
		in->nlookup = 1;
		pt_table_insert(fs, in);
		pthread_mutex_unlock(&fs->lock);
	}
	e->ino = pt_ino_of(fs, in);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Operations                                                           */
/* ------------------------------------------------------------------ */

static void pt_init(void *userdata, struct fuse_conn_info *conn)
{
	struct pt_fs *fs = userdata;
	if (fs->splice) {
		if (conn->capable & FUSE_CAP_SPLICE_WRITE)
			conn->want |= FUSE_CAP_SPLICE_WRITE;
		if (conn->capable & FUSE_CAP_SPLICE_MOVE)
			conn->want |= FUSE_CAP_SPLICE_MOVE;
	} else {
		conn->want &= ~(unsigned)(FUSE_CAP_SPLICE_WRITE |
					  FUSE_CAP_SPLICE_MOVE |
					  FUSE_CAP_SPLICE_READ);
	}
}

static void pt_destroy(void *userdata)
{
	struct pt_fs *fs = userdata;
	pthread_mutex_lock(&fs->lock);
	for (size_t i = 0; i < fs->nbuckets; i++) {
		struct pt_inode *in = fs->buckets[i];
		while (in != NULL) {
			struct pt_inode *next = in->hnext;
			if (in != &fs->root) {
				close(in->fd);
				free(in);
			}
			in = next;
		}
		fs->buckets[i] = NULL;
	}
	fs->count = 0;
	/* keep the root reachable for a possible re-init */
	pt_table_insert(fs, &fs->root);
	pthread_mutex_unlock(&fs->lock);
}

static void pt_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int err = pt_do_lookup(pt_fs_of(req), pt_fd_of(req, parent), name, &e);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

static void pt_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	pt_unref(pt_fs_of(req), pt_inode_of(req, ino), nlookup);
	fuse_reply_none(req);
}

static void pt_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	struct pt_fs *fs = pt_fs_of(req);
	for (size_t i = 0; i < count; i++)
		pt_unref(fs, pt_inode_of(req, forgets[i].ino), forgets[i].nlookup);
	fuse_reply_none(req);
}

static void pt_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	int res;
	if (fi != NULL)
		res = fstat((int)fi->fh, &st);
	else
		res = fstatat(pt_fd_of(req, ino), "", &st,
			      AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
	if (res == -1)
		fuse_reply_err(req, errno);
	else
		fuse_reply_attr(req, &st, pt_timeout(pt_fs_of(req)));
}

static int pt_utimens(struct pt_inode *in, struct fuse_file_info *fi,
		      const struct timespec tv[2])
{
	if (fi != NULL)
		return futimens((int)fi->fh, tv);
	/* Linux accepts AT_EMPTY_PATH with an O_PATH fd (incl. symlinks). */
	if (utimensat(in->fd, "", tv, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno != EINVAL || in->type == S_IFLNK)
		return -1;
	char path[64];
	pt_procpath(path, sizeof(path), in->fd);
	return utimensat(AT_FDCWD, path, tv, 0);
}

static void pt_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct pt_inode *in = pt_inode_of(req, ino);
	char path[64];
	int res;

	pt_procpath(path, sizeof(path), in->fd);

	if (to_set & FUSE_SET_ATTR_MODE) {
		if (fi != NULL)
			res = fchmod((int)fi->fh, attr->st_mode);
		else
			res = chmod(path, attr->st_mode);
		if (res == -1)
			goto fail;
	}
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
		gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;
		res = fchownat(in->fd, "", uid, gid,
			       AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
		if (res == -1)
			goto fail;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (fi != NULL)
			res = ftruncate((int)fi->fh, attr->st_size);
		else
			res = truncate(path, attr->st_size);
		if (res == -1)
			goto fail;
	}
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		struct timespec tv[2];
		tv[0].tv_sec = 0;
		tv[0].tv_nsec = UTIME_OMIT;
		tv[1].tv_sec = 0;
		tv[1].tv_nsec = UTIME_OMIT;
		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			tv[0].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_ATIME)
			tv[0] = attr->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			tv[1].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_MTIME)
			tv[1] = attr->st_mtim;
		if (pt_utimens(in, fi, tv) == -1)
			goto fail;
	}
	pt_getattr(req, ino, fi);
	return;
fail:
	fuse_reply_err(req, errno);
}

static void pt_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[PATH_MAX + 1];
	ssize_t n = readlinkat(pt_fd_of(req, ino), "", buf, sizeof(buf));
	if (n == -1) {
		fuse_reply_err(req, errno);
		return;
	}
	if ((size_t)n >= sizeof(buf)) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	buf[n] = '\0';
	fuse_reply_readlink(req, buf);
}

/* Common tail of mknod/mkdir/symlink: look the new name up and reply. */
static void pt_reply_new_entry(fuse_req_t req, int parent_fd, const char *name)
{
	struct fuse_entry_param e;
	int err = pt_do_lookup(pt_fs_of(req), parent_fd, name, &e);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

static void pt_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	int pfd = pt_fd_of(req, parent);
	if (mknodat(pfd, name, mode, rdev) == -1) {
		fuse_reply_err(req, errno);
		return;
	}
	pt_reply_new_entry(req, pfd, name);
}

static void pt_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	int pfd = pt_fd_of(req, parent);
	if (mkdirat(pfd, name, mode) == -1) {
		fuse_reply_err(req, errno);
		return;
	}
	pt_reply_new_entry(req, pfd, name);
}

static void pt_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	int pfd = pt_fd_of(req, parent);
	if (symlinkat(link, pfd, name) == -1) {
		fuse_reply_err(req, errno);
		return;
	}
	pt_reply_new_entry(req, pfd, name);
}

static void pt_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	struct pt_fs *fs = pt_fs_of(req);
	struct pt_inode *in = pt_inode_of(req, ino);
	int pfd = pt_fd_of(req, newparent);
	int res = linkat(in->fd, "", pfd, newname, AT_EMPTY_PATH);
	if (res == -1 && (errno == ENOENT || errno == EPERM || errno == EINVAL)) {
		/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; go via /proc */
		char path[64];
		pt_procpath(path, sizeof(path), in->fd);
		res = linkat(AT_FDCWD, path, pfd, newname, AT_SYMLINK_FOLLOW);
	}
	if (res == -1) {
		fuse_reply_err(req, errno);
		return;
	}

	struct fuse_entry_param e;
	memset(&e, 0, sizeof(e));
	e.attr_timeout = pt_timeout(fs);
	e.entry_timeout = pt_timeout(fs);
	if (fstatat(in->fd, "", &e.attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == -1) {
		fuse_reply_err(req, errno);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	if (in != &fs->root)
		in->nlookup++;
	pthread_mutex_unlock(&fs->lock);
	e.ino = ino;
	fuse_reply_entry(req, &e);
}

static void pt_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (unlinkat(pt_fd_of(req, parent), name, 0) == -1)
		fuse_reply_err(req, errno);
	else
		fuse_reply_err(req, 0);
}

static void pt_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (unlinkat(pt_fd_of(req, parent), name, AT_REMOVEDIR) == -1)
		fuse_reply_err(req, errno);
	else
		fuse_reply_err(req, 0);
}

static void pt_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	if (renameat2(pt_fd_of(req, parent), name, pt_fd_of(req, newparent),
		      newname, flags) == -1)
		fuse_reply_err(req, errno);
	else
		fuse_reply_err(req, 0);
}

static void pt_apply_cache(struct pt_fs *fs, struct fuse_file_info *fi)
{
	switch (fs->cache) {
	case PT_CACHE_NEVER:
		fi->direct_io = 1;
		break;
	case PT_CACHE_ALWAYS:
		fi->keep_cache = 1;
		break;
	default:
		break;
	}
}

static void pt_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	char path[64];
	pt_procpath(path, sizeof(path), pt_fd_of(req, ino));
	int fd = open(path, (fi->flags & ~O_NOFOLLOW) | O_CLOEXEC);
	if (fd == -1) {
		fuse_reply_err(req, errno);
		return;
	}
	fi->fh = (uint64_t)fd;
	pt_apply_cache(pt_fs_of(req), fi);
	if (fuse_reply_open(req, fi) != 0)
		close(fd); /* request was interrupted; no release will follow */
}

static void pt_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct pt_fs *fs = pt_fs_of(req);
	int pfd = pt_fd_of(req, parent);
	int fd = openat(pfd, name, (fi->flags | O_CREAT | O_CLOEXEC) & ~O_NOFOLLOW,
			mode);
	if (fd == -1) {
		fuse_reply_err(req, errno);
		return;
	}
	struct fuse_entry_param e;
	int err = pt_do_lookup(fs, pfd, name, &e);
	if (err) {
		close(fd);
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uint64_t)fd;
	pt_apply_cache(fs, fi);
	if (fuse_reply_create(req, &e, fi) != 0) {
		close(fd);
		pt_unref(fs, pt_inode_of(req, e.ino), 1);
	}
}

static void pt_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
	buf.buf[0].flags = (enum fuse_buf_flags)(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
	buf.buf[0].fd = (int)fi->fh;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf,
			pt_fs_of(req)->splice ? FUSE_BUF_SPLICE_MOVE
					      : FUSE_BUF_NO_SPLICE);
}

static void pt_write(fuse_req_t req, fuse_ino_t ino, const char *data,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	ssize_t n = pwrite((int)fi->fh, data, size, off);
	if (n == -1)
		fuse_reply_err(req, errno);
	else
		fuse_reply_write(req, (size_t)n);
}

static void pt_write_buf(fuse_req_t req, fuse_ino_t ino,
			 struct fuse_bufvec *in_buf, off_t off,
			 struct fuse_file_info *fi)
{
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in_buf));
	out.buf[0].flags = (enum fuse_buf_flags)(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
	out.buf[0].fd = (int)fi->fh;
	out.buf[0].pos = off;
	ssize_t n = fuse_buf_copy(&out, in_buf, 0);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

static void pt_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	/* close a duplicate so that close-time errors (e.g. NFS) propagate */
	int fd = dup((int)fi->fh);
	if (fd == -1 || close(fd) == -1)
		fuse_reply_err(req, errno);
	else
		fuse_reply_err(req, 0);
}

static void pt_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	close((int)fi->fh);
	fuse_reply_err(req, 0);
}

static void pt_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	int res = datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh);
	fuse_reply_err(req, res == -1 ? errno : 0);
}

static void pt_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
			 off_t length, struct fuse_file_info *fi)
{
	int res = fallocate((int)fi->fh, mode, offset, length);
	fuse_reply_err(req, res == -1 ? errno : 0);
}

/* ---- directories ---- */

struct pt_dir {
	DIR *dp;
	struct dirent *pending;   /* entry read but not yet returned */
	off_t offset;             /* offset the next entry would be read at */
};

static struct pt_dir *pt_dir_of(struct fuse_file_info *fi)
{
	return (struct pt_dir *)(uintptr_t)fi->fh;
}

static void pt_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pt_dir *d = calloc(1, sizeof(*d));
	if (d == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	int fd = openat(pt_fd_of(req, ino), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		goto fail;
	d->dp = fdopendir(fd);
	if (d->dp == NULL) {
		int err = errno;
		close(fd);
		errno = err;
		goto fail;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	if (pt_fs_of(req)->cache == PT_CACHE_ALWAYS)
		fi->keep_cache = 1;
	if (fuse_reply_open(req, fi) != 0) {
		closedir(d->dp);
		free(d);
	}
	return;
fail:;
	int err = errno;
	free(d);
	fuse_reply_err(req, err);
}

static int pt_is_dot(const char *n)
{
	return n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'));
}

static void pt_do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			  off_t off, struct fuse_file_info *fi, int plus)
{
	struct pt_fs *fs = pt_fs_of(req);
	struct pt_dir *d = pt_dir_of(fi);
	int dfd = pt_fd_of(req, ino);
	char *buf = malloc(size);
	size_t used = 0;
	int err = 0;

	if (buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (off != d->offset) {
		seekdir(d->dp, off);
		d->pending = NULL;
		d->offset = off;
	}

	for (;;) {
		struct dirent *de = d->pending;
		if (de == NULL) {
			errno = 0;
			de = readdir(d->dp);
			if (de == NULL) {
				if (errno != 0)
					err = errno;
				break;
			}
			d->pending = de;
		}
		off_t next = de->d_off;
		size_t rem = size - used;
		size_t len;

		if (plus) {
			struct fuse_entry_param e;
			int counted = 0;
			if (pt_is_dot(de->d_name)) {
				memset(&e, 0, sizeof(e));
				e.attr.st_ino = de->d_ino;
				e.attr.st_mode = (mode_t)de->d_type << 12;
			} else {
				int lerr = pt_do_lookup(fs, dfd, de->d_name, &e);
				if (lerr == ENOENT) {
					/* removed since readdir(): skip it */
					d->pending = NULL;
					d->offset = next;
					continue;
				}
				if (lerr) {
					err = lerr;
					break;
				}
				counted = 1;
			}
			len = fuse_add_direntry_plus(req, buf + used, rem,
						     de->d_name, &e, next);
			if (len > rem) {
				/* did not fit: undo the lookup reference */
				if (counted)
					pt_unref(fs, pt_inode_of(req, e.ino), 1);
				break;
			}
		} else {
			struct stat st;
			memset(&st, 0, sizeof(st));
			st.st_ino = de->d_ino;
			st.st_mode = (mode_t)de->d_type << 12;
			len = fuse_add_direntry(req, buf + used, rem,
						de->d_name, &st, next);
			if (len > rem)
				break;
		}
		used += len;
		d->pending = NULL;
		d->offset = next;
	}

	/* An error after some entries were produced is reported next time. */
	if (err && used == 0)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

static void pt_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	pt_do_readdir(req, ino, size, off, fi, 0);
}

static void pt_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	pt_do_readdir(req, ino, size, off, fi, 1);
}

static void pt_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct pt_dir *d = pt_dir_of(fi);
	closedir(d->dp);
	free(d);
	fuse_reply_err(req, 0);
}

static void pt_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	int fd = dirfd(pt_dir_of(fi)->dp);
	int res = datasync ? fdatasync(fd) : fsync(fd);
	fuse_reply_err(req, res == -1 ? errno : 0);
}

static void pt_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;
	if (fstatvfs(pt_fd_of(req, ino), &sv) == -1)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

/* ---- extended attributes (through /proc/self/fd: O_PATH fds refuse f*xattr) ---- */

static void pt_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	char path[64];
	pt_procpath(path, sizeof(path), pt_fd_of(req, ino));
	if (size == 0) {
		ssize_t n = getxattr(path, name, NULL, 0);
		if (n == -1)
			fuse_reply_err(req, errno);
		else
			fuse_reply_xattr(req, (size_t)n);
		return;
	}
	char *buf = malloc(size);
	if (buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ssize_t n = getxattr(path, name, buf, size);
	if (n == -1)
		fuse_reply_err(req, errno);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void pt_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char path[64];
	pt_procpath(path, sizeof(path), pt_fd_of(req, ino));
	if (size == 0) {
		ssize_t n = listxattr(path, NULL, 0);
		if (n == -1)
			fuse_reply_err(req, errno);
		else
			fuse_reply_xattr(req, (size_t)n);
		return;
	}
	char *buf = malloc(size);
	if (buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ssize_t n = listxattr(path, buf, size);
	if (n == -1)
		fuse_reply_err(req, errno);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void pt_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	char path[64];
	pt_procpath(path, sizeof(path), pt_fd_of(req, ino));
	int res = setxattr(path, name, value, size, flags);
	fuse_reply_err(req, res == -1 ? errno : 0);
}

static void pt_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	char path[64];
	pt_procpath(path, sizeof(path), pt_fd_of(req, ino));
	int res = removexattr(path, name);
	fuse_reply_err(req, res == -1 ? errno : 0);
}

static struct fuse_lowlevel_ops pt_ops = {
	.init = pt_init,
	.destroy = pt_destroy,
	.lookup = pt_lookup,
	.forget = pt_forget,
	.forget_multi = pt_forget_multi,
	.getattr = pt_getattr,
	.setattr = pt_setattr,
	.readlink = pt_readlink,
	.mknod = pt_mknod,
	.mkdir = pt_mkdir,
	.symlink = pt_symlink,
	.link = pt_link,
	.unlink = pt_unlink,
	.rmdir = pt_rmdir,
	.rename = pt_rename,
	.open = pt_open,
	.create = pt_create,
	.read = pt_read,
	.write = pt_write,
	.flush = pt_flush,
	.release = pt_release,
	.fsync = pt_fsync,
	.fallocate = pt_fallocate,
	.opendir = pt_opendir,
	.readdir = pt_readdir,
	.readdirplus = pt_readdirplus,
	.releasedir = pt_releasedir,
	.fsyncdir = pt_fsyncdir,
	.statfs = pt_statfs,
	.getxattr = pt_getxattr,
	.listxattr = pt_listxattr,
	.setxattr = pt_setxattr,
	.removexattr = pt_removexattr,
};

/* ------------------------------------------------------------------ */
/* Option parsing and main                                              */
/* ------------------------------------------------------------------ */

struct pt_opts {
	char *source;
	char *timeout;
	char *cache;
	int single;
	int splice;
};

#define PT_OPT(t, p) { t, offsetof(struct pt_opts, p), 1 }
static const struct fuse_opt pt_opt_spec[] = {
	{ "source=%s", offsetof(struct pt_opts, source), 0 },
	{ "timeout=%s", offsetof(struct pt_opts, timeout), 0 },
	{ "cache=%s", offsetof(struct pt_opts, cache), 0 },
	PT_OPT("single", single),
	PT_OPT("splice", splice),
	FUSE_OPT_END
};

static void pt_usage(const char *prog)
{
	printf("usage: %s [options] <mountpoint>\n\n"
	       "passthrough_fuse3 options:\n"
	       "    -o source=DIR          directory to mirror (required)\n"
	       "    -o timeout=SEC         entry/attr timeout (default 1.0)\n"
	       "    -o cache=never|auto|always  (default auto)\n"
	       "    -o single              single-threaded fuse_session_loop\n"
	       "    -o splice              register write_buf and request splice\n\n",
	       prog);
}

static void pt_raise_nofile(void)
{
	/* every live inode holds an O_PATH fd; the default soft limit is small */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	struct rlimit want = rl;
	want.rlim_cur = want.rlim_max = 1048576;
	if (want.rlim_max > rl.rlim_max || want.rlim_cur > rl.rlim_cur) {
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 1048576)
		fprintf(stderr, "passthrough_fuse3: note: RLIMIT_NOFILE is %ju "
			"(no CAP_SYS_RESOURCE?); every inode the kernel caches "
			"holds one fd here\n", (uintmax_t)rl.rlim_cur);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts copts;
	struct pt_opts popts;
	struct pt_fs fs;
	struct fuse_session *se = NULL;
	int ret = 1;

	memset(&popts, 0, sizeof(popts));
	memset(&fs, 0, sizeof(fs));
	fs.root.fd = -1;

	if (fuse_parse_cmdline(&args, &copts) != 0)
		return 1;
	if (copts.show_help) {
		pt_usage(argv[0]);
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = 0;
		goto out_args;
	}
	if (copts.show_version) {
		printf("FUSE library version %s\n", fuse_pkgversion());
		fuse_lowlevel_version();
		ret = 0;
		goto out_args;
	}
	if (copts.mountpoint == NULL) {
		fprintf(stderr, "usage: %s [options] <mountpoint>  (see --help)\n",
			argv[0]);
		goto out_args;
	}
	if (fuse_opt_parse(&args, &popts, pt_opt_spec, NULL) == -1)
		goto out_args;

	if (popts.source == NULL) {
		fprintf(stderr, "%s: -o source=DIR is required\n", argv[0]);
		goto out_args;
	}
	fs.source = realpath(popts.source, NULL);
	if (fs.source == NULL) {
		fprintf(stderr, "%s: source %s: %s\n", argv[0], popts.source,
			strerror(errno));
		goto out_args;
	}
	fs.timeout = 1.0;
	if (popts.timeout != NULL) {
		char *end;
		errno = 0;
		fs.timeout = strtod(popts.timeout, &end);
		if (errno != 0 || end == popts.timeout || *end != '\0' ||
		    fs.timeout < 0) {
			fprintf(stderr, "%s: bad timeout '%s'\n", argv[0],
				popts.timeout);
			goto out_args;
		}
	}
	fs.cache = PT_CACHE_AUTO;
	if (popts.cache != NULL) {
		if (strcmp(popts.cache, "never") == 0)
			fs.cache = PT_CACHE_NEVER;
		else if (strcmp(popts.cache, "auto") == 0)
			fs.cache = PT_CACHE_AUTO;
		else if (strcmp(popts.cache, "always") == 0)
			fs.cache = PT_CACHE_ALWAYS;
		else {
			fprintf(stderr, "%s: bad cache mode '%s'\n", argv[0],
				popts.cache);
			goto out_args;
		}
	}
	fs.single = popts.single || copts.singlethread;
	fs.splice = popts.splice;
	fs.debug = copts.debug;
	if (fs.splice)
		pt_ops.write_buf = pt_write_buf;

	pt_raise_nofile();
	umask(0); /* the kernel already applied the caller's umask */

	fs.root.fd = open(fs.source, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fs.root.fd == -1) {
		fprintf(stderr, "%s: open %s: %s\n", argv[0], fs.source,
			strerror(errno));
		goto out_args;
	}
	struct stat st;
	if (fstat(fs.root.fd, &st) == -1) {
		fprintf(stderr, "%s: stat %s: %s\n", argv[0], fs.source,
			strerror(errno));
		goto out_args;
	}
	fs.root.dev = st.st_dev;
	fs.root.ino = st.st_ino;
	fs.root.type = S_IFDIR;
	fs.root.nlookup = 2; /* never dropped */

	pthread_mutex_init(&fs.lock, NULL);
	fs.nbuckets = 1024;
	fs.buckets = calloc(fs.nbuckets, sizeof(*fs.buckets));
	if (fs.buckets == NULL) {
		fprintf(stderr, "%s: out of memory\n", argv[0]);
		goto out_args;
	}
	pt_table_insert(&fs, &fs.root);

	se = fuse_session_new(&args, &pt_ops, sizeof(pt_ops), &fs);
	if (se == NULL)
		goto out_table;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, copts.mountpoint) != 0)
		goto out_signals;

	fuse_daemonize(copts.foreground);

	if (fs.single) {
		ret = fuse_session_loop(se);
	} else {
		struct fuse_loop_config cfg;
		memset(&cfg, 0, sizeof(cfg));
		cfg.clone_fd = copts.clone_fd;  /* 0 unless -o clone_fd */
		cfg.max_idle_threads = copts.max_idle_threads; /* default */
		ret = fuse_session_loop_mt(se, &cfg);
	}

	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_table:
	pt_destroy(&fs);
	free(fs.buckets);
	pthread_mutex_destroy(&fs.lock);
out_args:
	if (fs.root.fd != -1)
		close(fs.root.fd);
	free(fs.source);
	free(popts.source);
	free(popts.timeout);
	free(popts.cache);
	free(copts.mountpoint);
	fuse_opt_free_args(&args);
	return ret ? 1 : 0;
}
