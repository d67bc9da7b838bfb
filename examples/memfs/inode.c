/* SPDX-License-Identifier: MIT */
/*
 * inode.c - the inode table (ino -> inode) and the lifetime of an inode: it lives while it
 * has a name (nlink), a kernel reference (nlookup: entries replied, minus FORGET) or an
 * open handle (nopen), and is freed when the last of the three goes.
 */
#include "memfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

static void itab_grow(struct memfs *fs)
{
	size_t nsize = (fs->itab_mask + 1) * 2, i;
	struct inode **nt = calloc(nsize, sizeof(*nt));

	if (!nt)
		return;		/* longer chains, still correct */
	for (i = 0; i <= fs->itab_mask; i++) {
		struct inode *n, *next;

		for (n = fs->itab[i]; n; n = next) {
			size_t b = mix64(n->ino) & (nsize - 1);

			next = n->hnext;
			n->hnext = nt[b];
			nt[b] = n;
		}
	}
	free(fs->itab);
	fs->itab = nt;
	fs->itab_mask = nsize - 1;
}

struct inode *inode_new(struct memfs *fs, mode_t mode, int *err)
{
	struct inode *n;
	size_t b;

	if (fs->ninodes >= fs->max_inodes) {
		*err = -ENOSPC;
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		*err = -ENOMEM;
		return NULL;
	}
	n->ino = fs->next_ino++;
	n->mode = mode;
	n->atime = n->mtime = n->ctime = n->btime = now_ts();
	if (S_ISDIR(mode))
		n->u.dir.next_cookie = FIRST_COOKIE;
	b = mix64(n->ino) & fs->itab_mask;
	n->hnext = fs->itab[b];
	fs->itab[b] = n;
	if (++fs->ninodes > fs->itab_mask + 1)
		itab_grow(fs);
	return n;
}

void inode_release_data(struct memfs *fs, struct inode *n)
{
	struct xattr *x, *next;

	if (S_ISREG(n->mode))
		pmap_punch(fs, &n->u.data, 0, UINT64_MAX);
	else if (S_ISLNK(n->mode))
		free(n->u.target);
	else if (S_ISDIR(n->mode))
		free(n->u.dir.slots);
	for (x = n->xattrs; x; x = next) {
		next = x->next;
		free(x);
	}
}

void inode_free(struct memfs *fs, struct inode *n)
{
	struct inode **pp;

	for (pp = &fs->itab[mix64(n->ino) & fs->itab_mask]; *pp; pp = &(*pp)->hnext) {
		if (*pp == n) {
			*pp = n->hnext;
			break;
		}
	}
	fs->ninodes--;
	inode_release_data(fs, n);
	free(n);
}

/* Free @n once no name, no kernel reference and no open file is left. */
void inode_maybe_free(struct memfs *fs, struct inode *n)
{
	if (n && n != fs->root && n->nlink == 0 && n->nlookup == 0 && n->nopen == 0)
		inode_free(fs, n);
}

struct inode *get_dir(const struct memfs *fs, uint64_t ino, int *err)
{
	struct inode *n = inode_get(fs, ino);

	if (!n)
		*err = -ESTALE;
	else if (!S_ISDIR(n->mode))
		*err = -ENOTDIR;
	else
		return n;
	return NULL;
}

/* An entry for @n; counts the lookup the kernel will hold once it gets it. Locked. */
void entry_fill(struct memfs *fs, struct inode *n, struct rf_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->generation = 0;
	stat_fill(n, &e->attr);
	e->attr_timeout = fs->attr_timeout;
	e->entry_timeout = fs->entry_timeout;
	n->nlookup++;
}

/* Drop @nlookup kernel references (FORGET, or a reply that never reached the kernel). */
void forget_locked(struct memfs *fs, uint64_t ino, uint64_t nlookup)
{
	struct inode *n = inode_get(fs, ino);

	if (n) {
		n->nlookup = n->nlookup > nlookup ? n->nlookup - nlookup : 0;
		inode_maybe_free(fs, n);
	}
}

/* Drop one open handle (RELEASE, RELEASEDIR, or an OPEN reply the kernel never got). */
void close_locked(struct memfs *fs, uint64_t ino)
{
	struct inode *n = inode_get(fs, ino);

	if (n && n->nopen) {
		n->nopen--;
		inode_maybe_free(fs, n);
	}
}

/*
 * Replies are sent with the lock dropped: a reply may run other handlers before it
 * returns (a RELEASE it unparks, a FORGET deferred until this request finished).
 */
void reply_entry(struct memfs *fs, struct rf_req *req, const struct rf_entry *e)
{
	if (rf_reply_entry(req, e) < 0 && e->ino) {
		/* The kernel got an error instead: it holds no reference. */
		fs_lock(fs);
		forget_locked(fs, e->ino, 1);
		fs_unlock(fs);
	}
}

/* A fresh handle per open: the runtime orders requests per fh value. */
uint64_t new_fh(struct memfs *fs)
{
	return fs->next_fh++;
}

/* A regular file opened (OPEN, CREATE, TMPFILE): its handle, and no FLUSH at close, as
 * mf_flush has nothing to do; except for an open that may map the file writable
 * (O_RDWR): the kernel writes a shared mmap's dirty pages back at close only with one. */
void file_opened(struct memfs *fs, struct rf_file *fi)
{
	fi->fh = new_fh(fs);
	fi->noflush = (fi->flags & O_ACCMODE) != O_RDWR;
}

/* OPEN and OPENDIR: count the open, reply the handle; undo if the reply failed. */
void reply_open(struct memfs *fs, struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	if (rf_reply_open(req, fi) < 0) {
		fs_lock(fs);
		close_locked(fs, ino);
		fs_unlock(fs);
	}
}

void mf_forget(void *userdata, uint64_t ino, uint64_t nlookup)
{
	struct memfs *fs = userdata;

	fs_lock(fs);
	forget_locked(fs, ino, nlookup);
	fs_unlock(fs);
}
