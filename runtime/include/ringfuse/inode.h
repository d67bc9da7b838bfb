/* SPDX-License-Identifier: MIT */
/*
 * ringfuse/inode.h - a reusable inode table: FUSE node ids, generations and lookup
 * counts for a filesystem's inodes, keyed by (st_dev, st_ino) or by a key of its own.
 *
 * Included at the end of ringfuse.h; also usable on its own.
 *
 * The filesystem embeds struct rf_inode in its own inode struct and gets back to that
 * struct with rf_inode_entry(). The table assigns the node id and generation the kernel
 * sees, counts the kernel's lookups (nlookup) and the references held by requests in
 * service and open handles (refs), and hands an inode back to the filesystem through
 * rf_itable_ops.free exactly once, when both counts are zero. Until then the node id
 * stays valid, whatever happens to the key: a FORGET that arrives while a handle is open
 * or a request is using the inode never frees it; the last rf_itable_unref does.
 *
 * Typical use in a passthrough filesystem (each inode keeps an O_PATH fd):
 *
 *   LOOKUP/CREATE/MKNOD/MKDIR/SYMLINK/TMPFILE, READDIRPLUS entries:
 *       fd = openat(parent_fd, name, O_PATH|O_NOFOLLOW); fstat(fd, &st);
 *       fresh = my_inode_new(fd);                    (not yet in the table)
 *       r = rf_itable_lookup_or_insert(t, st.st_dev, st.st_ino, &fresh->base, &in);
 *       if (r == 0) { close(fd); free(fresh); }      (an inode for st existed: use it)
 *       e.ino = in->nodeid; e.generation = in->generation; rf_reply_entry(req, &e);
 *       rf_itable_unref(t, in);
 *   LINK: rf_itable_get(t, ino), link, rf_itable_count_lookup(t, in), reply, unref.
 *   Any request on a node id: in = rf_itable_get(t, ino) (ENOENT/ESTALE if NULL), work,
 *       reply, rf_itable_unref(t, in).
 *   OPEN/OPENDIR/CREATE keep the reference of rf_itable_get in the handle; RELEASE and
 *       RELEASEDIR drop it with rf_itable_unref.
 *   FORGET: rf_itable_forget(t, ino, nlookup).
 *   UNLINK/RMDIR/RENAME over a file: when fstat on the kept fd shows st_nlink == 0,
 *       rf_itable_unhash(t, in) (see there).
 *   rf_ops.free: close(inode->fd); free(inode).
 *
 * Threads: every rf_itable_* call is safe from any thread. The table has one mutex, held
 * only inside each call, never across a callback or anything of the filesystem's:
 * rf_itable_ops.free runs after the lock is dropped, on the thread whose call made the
 * inode leave the table. All count transitions that can free an inode happen under the
 * lock, so no call ever returns an inode that was, or is being, freed.
 *
 * Conventions are those of ringfuse.h: int returns are >= 0 on success, -errno on error.
 */
#ifndef RINGFUSE_INODE_H
#define RINGFUSE_INODE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * One inode as the table sees it. Embed it in the filesystem's inode struct. The public
 * fields are set by the table when the inode enters it and never change afterwards, so
 * anyone holding a reference (or an uncounted lookup not yet replied) may read them
 * without a lock. The fields need not be initialized before rf_itable_lookup_or_insert
 * or rf_itable_set_root; the table fills all of them.
 */
struct rf_inode {
	/* public, read-only */
	uint64_t nodeid;            /* the FUSE node id the kernel sees (1 = root) */
	uint64_t generation;        /* with nodeid: unique over the table's lifetime */
	uint64_t dev;               /* key: st_dev, or 0 for a filesystem-chosen key */
	uint64_t ino;               /* key: st_ino, or the filesystem-chosen 64-bit key */
	/* private: the table's, touched only by rf_itable_* */
	struct rf_inode *_id_next;  /* chain in the node id hash */
	struct rf_inode *_key_next; /* chain in the key hash */
	uint64_t _nlookup;          /* lookups the kernel holds (under the table lock) */
	uint64_t _refs;             /* references of requests and handles (atomic) */
	uint32_t _flags;            /* state bits (under the table lock) */
};

/* The filesystem's struct containing @ptr (a struct rf_inode *) as member @member. */
#define rf_inode_entry(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* The table. Opaque; created by rf_itable_new, freed by rf_itable_free. */
struct rf_itable;

/* What the table calls back. Copied by rf_itable_new. */
struct rf_itable_ops {
	/*
	 * Required. @inode left the table (its nlookup and refs both reached zero, or the
	 * table is being freed): it is no longer reachable through the table and its node id
	 * will never be handed out again. The filesystem now owns it alone: typically it
	 * closes the inode's fd and frees its struct. Called exactly once per inode that
	 * entered the table, without the table lock held, on the thread whose call made the
	 * inode leave (rf_itable_forget, rf_itable_unref or rf_itable_free). It may call
	 * rf_itable_* functions on the same table, except when called from rf_itable_free
	 * (then it must not touch the table at all). @data is the pointer given to
	 * rf_itable_new.
	 */
	void (*free)(struct rf_inode *inode, void *data);
};

/*
 * Create an empty table. @ops is copied; @data is passed to @ops->free. Returns 0 and
 * sets *out, or -EINVAL (@ops or @ops->free NULL) or -ENOMEM. Any thread.
 */
int rf_itable_new(struct rf_itable **out, const struct rf_itable_ops *ops, void *data);

/*
 * Free the table. Every inode still in it (root included, whatever its counts) is
 * handed to ops->free first, one by one, on the calling thread. For teardown, once no
 * other thread uses the table and no request is in service (the session has ended):
 * pointers to inodes obtained before are dangling afterwards. NULL is a no-op.
 */
void rf_itable_free(struct rf_itable *t);

/*
 * Insert @root as the root directory: node id 1 (FUSE_ROOT_ID) with key (@dev, @ino), so
 * that a lookup reaching the root's key (".." of a top-level directory) answers node id
 * 1. The root starts with nlookup 1 (the kernel's implicit lookup at mount) and is
 * pinned: lookups and forgets on node id 1 are counted as for any inode, but the root
 * leaves the table only in rf_itable_free. The table takes ownership of @root. Returns 0,
 * -EEXIST if a root was set or the key already names another inode, -EINVAL if @root is
 * NULL. Any thread; normally once, before the session starts.
 */
int rf_itable_set_root(struct rf_itable *t, uint64_t dev, uint64_t ino, struct rf_inode *root);

/*
 * Find-or-insert, atomically, for a reply that hands the kernel an entry (LOOKUP, CREATE,
 * MKNOD, MKDIR, SYMLINK, TMPFILE, READDIRPLUS entries): the kernel will count one lookup
 * of the node id it receives, and so does the table.
 *
 * If an inode with key (@dev, @ino) is in the table (see rf_itable_unhash for when one
 * is not any more), its nlookup is incremented, *out points to it and 0 is returned: the
 * caller still owns @fresh, which never entered the table, and discards it itself (closes
 * its extra O_PATH fd, frees it; ops->free is not called for it).
 *
 * Otherwise @fresh is inserted with a new node id and generation, key (@dev, @ino) and
 * nlookup 1, *out is set to @fresh and 1 is returned; the table owns @fresh from now on
 * (it comes back through ops->free). @fresh may be NULL to find only: then 0 is returned
 * if found and -ENOENT (with *out NULL) otherwise.
 *
 * Either way *out is returned with one reference held (refs + 1): drop it with
 * rf_itable_unref once done, typically right after the reply. Other returns: -EINVAL
 * (@out NULL), -EOVERFLOW (node ids exhausted: never in practice). If the entry then
 * does not reach the kernel (the reply failed, a READDIRPLUS entry did not fit), undo
 * the counted lookup with rf_itable_forget(t, (*out)->nodeid, 1). Any thread.
 */
int rf_itable_lookup_or_insert(struct rf_itable *t, uint64_t dev, uint64_t ino,
			       struct rf_inode *fresh, struct rf_inode **out);

/*
 * Count one more kernel lookup of @inode, for a reply that names an inode the caller
 * already has (LINK, a READDIRPLUS entry or LOOKUP answered from a node id it holds).
 * The caller must hold a reference on @inode. Any thread.
 */
void rf_itable_count_lookup(struct rf_itable *t, struct rf_inode *inode);

/*
 * The kernel dropped @nlookup lookups of @nodeid (FORGET, or one entry of BATCH_FORGET).
 * The count is decreased, never reset: if @nlookup exceeds it, it is clamped to 0, a
 * warning is logged (the kernel and the filesystem disagree: a lookup was not counted)
 * and -ERANGE is returned, the forget applied all the same. When nlookup reaches 0 and no
 * reference is held, the inode leaves the table and ops->free runs on this thread before
 * the call returns; with references held, the last rf_itable_unref frees it. Returns 0,
 * -ERANGE as said, or -ENOENT for a node id the table does not know (ignored). Node id 1
 * (a root from rf_itable_set_root) is counted but never leaves. Any thread.
 */
int rf_itable_forget(struct rf_itable *t, uint64_t nodeid, uint64_t nlookup);

/* One entry of rf_itable_forget_many (the layout of the kernel's fuse_forget_one). */
struct rf_itable_forget_item {
	uint64_t nodeid;
	uint64_t nlookup;
};

/*
 * rf_itable_forget for @count entries under one lock acquisition; inodes that leave are
 * freed after the lock is dropped. Every entry is applied. Returns 0, or the error of
 * the first entry that had one (-ENOENT, -ERANGE as in rf_itable_forget). Any thread.
 */
int rf_itable_forget_many(struct rf_itable *t, const struct rf_itable_forget_item *items,
			  size_t count);

/*
 * The inode with node id @nodeid, with one reference taken, or NULL if the table does
 * not know it (never was, or already left). Inodes whose lookups were all forgotten but
 * that are still referenced (an open handle) are found. Drop the reference with
 * rf_itable_unref. Any thread.
 */
struct rf_inode *rf_itable_get(struct rf_itable *t, uint64_t nodeid);

/*
 * The inode with key (@dev, @ino), with one reference taken and no lookup counted, or
 * NULL if no inode in the table has that key (an unhashed inode is not found by key).
 * Drop the reference with rf_itable_unref. Any thread.
 */
struct rf_inode *rf_itable_find(struct rf_itable *t, uint64_t dev, uint64_t ino);

/*
 * Take one more reference on @inode. The caller must already hold one (from
 * rf_itable_get, _find, _lookup_or_insert or _ref): this one is for handing the inode to
 * another owner (an open handle, another thread). Lock-free. Any thread.
 */
void rf_itable_ref(struct rf_inode *inode);

/*
 * Drop one reference on @inode. If it was the last one and the kernel holds no lookup,
 * the inode leaves the table and ops->free runs on this thread before the call returns:
 * @inode must not be touched afterwards. NULL is a no-op. Any thread.
 */
void rf_itable_unref(struct rf_itable *t, struct rf_inode *inode);

/*
 * Remove @inode's key mapping: rf_itable_find and rf_itable_lookup_or_insert no longer
 * see it, so a new file that gets the same (st_dev, st_ino) gets a new inode with a new
 * node id and a greater generation instead of this stale one. The node id stays valid
 * (rf_itable_get, forget, unref) until the kernel forgot it and the last reference went;
 * the key fields keep their values.
 *
 * A passthrough filesystem calls this when it knows the backing inode's link count
 * dropped to 0 (fstat on the inode's kept fd after UNLINK, RMDIR or a RENAME that
 * replaced a file shows st_nlink == 0), before it closes any fd that pins the backing
 * inode (close-on-unlink, to release the space): once nothing pins it, the backing
 * filesystem may reuse the inode number. Do not call it for an O_TMPFILE inode whose
 * link count is 0 by design while LINK may still give it a name. A filesystem with its
 * own keys calls it before it recycles a key. The caller must hold a reference on @inode.
 * Returns 0, or -ENOENT if @inode was already unhashed. Any thread.
 */
int rf_itable_unhash(struct rf_itable *t, struct rf_inode *inode);

/* Number of inodes in the table (root and unhashed ones included). Any thread. */
size_t rf_itable_count(struct rf_itable *t);

/*
 * Up to @max node ids (stored in @nodeids) of inodes the kernel holds lookups on and that
 * no request or handle references, those looked up least recently first, roughly: a clock
 * sweep, where each lookup marks an inode and the sweep's hand unmarks a marked inode and
 * picks an unmarked one, so an inode looked up since the hand last passed stays for one
 * more round. Never the root. For rf_notify_prune (ringfuse.h), to make the kernel let go
 * of inodes it remembers but nothing uses: their FORGETs then come as usual. Returns how
 * many were stored. Any thread; one walk of at most twice the table under its lock.
 */
size_t rf_itable_prune_candidates(struct rf_itable *t, uint64_t *nodeids, size_t max);

/*
 * Call @cb(@inode, @data) for every inode in the table at the time of the call, in no
 * particular order, for debugging and teardown. Each inode is referenced while @cb runs
 * (the table lock is not held: @cb may call rf_itable_* on the same table, e.g. forget);
 * inodes inserted meanwhile may be missed. A non-zero return of @cb stops the walk and is
 * returned. Returns 0, the value @cb stopped with, or -ENOMEM (the snapshot could not be
 * allocated; @cb was not called). Any thread.
 */
int rf_itable_foreach(struct rf_itable *t, int (*cb)(struct rf_inode *inode, void *data),
		      void *data);

#ifdef __cplusplus
}
#endif
#endif /* RINGFUSE_INODE_H */
