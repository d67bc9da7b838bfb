/* SPDX-License-Identifier: MIT */
/*
 * fuse3_hl.h - private to the libfuse3 binding: libfuse's high-level API (fuse.h), a path
 * layer on top of the binding's own low-level API, with its nodes in the runtime's inode
 * table (<ringfuse/inode.h>). README.md, "High-level API", has the design and the locking.
 *
 *   hl.c       struct fuse: fuse_new (options), mount, loops, context, fuse_main_real,
 *              cleanup thread, fuse_invalidate_path, fuse_open_channel
 *   hl_path.c  the node tree: (parent, name) -> node, paths, hide/rename/unlink, forget,
 *              remember, memory trimming
 *   hl_mem.c   per-thread buffers, remember's expiry, malloc_trim
 *   hl_hide.c  hide mode: hidden files per directory (RMDIR waits), hidden files at the end
 *   hl_ops.c   the fuse_lowlevel_ops that call struct fuse_operations (names, attributes)
 *   hl_file.c  the file operations
 *   hl_dir.c   directory handles and readdir(plus)
 *   hl_fs.c    fuse_fs_* (the stackable-module calls)
 */
#ifndef RF_FUSE3_HL_H
#define RF_FUSE3_HL_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 314
#endif

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <ringfuse.h>

#define RF_HL_UNKNOWN_INO 0xffffffffu
#define RF_HL_INAME 48

struct fuse_fs {
	struct fuse_operations op;
	void *user_data;
	int debug;
};

/*
 * One node of the tree: a name the kernel knows (or an open-but-unlinked file). Lives in
 * the runtime's inode table under key (0, serial); the table owns its node id, its kernel
 * lookup count and its references. Each node holds one table reference on its parent, so a
 * parent outlives its children. @name/@parent/@name_next change only under f->tree (write).
 */
struct hl_node {
	struct rf_inode base;
	struct hl_node *parent;     /* NULL only for the root */
	struct hl_node *name_next;  /* chain in f->names */
	char *name;                 /* NULL: no longer in the tree (unlinked, replaced) */
	uint32_t hash;
	atomic_int open_count;      /* open handles (OPEN/CREATE .. end of their RELEASE) */
	atomic_int unreleased;      /* open handles whose RELEASE has not yet come */
	bool hidden;                /* renamed to .fuse_hiddenXXXX while open (f->tree) */
	/* hide mode's waits (hl_hide.c, f->lock): a file's hide counted in directory
	 * @hidden_in; a directory's hidden files not yet unlinked, its latest hide, the hide
	 * an RMDIR last waited for, and when one of its hidden files last went */
	bool hide_counted;
	fuse_ino_t hidden_in;
	unsigned int hides_pending;
	uint64_t last_hide_ns, waited_hide_ns, last_unhide_ns;
	/* remember=T: a reference kept by the path layer (f->lock) */
	bool rem_ref;
	bool on_lru;
	uint64_t nlookup;           /* shadow of the kernel's count, only with remember */
	uint64_t forget_ns;
	struct hl_node *lru_next, *lru_prev;
	/* auto_cache (f->lock) */
	bool cache_valid;
	struct timespec mtime;
	off_t size;
	char iname[RF_HL_INAME];    /* @name when it fits (most names): no malloc */
};

struct fuse {
	struct fuse_session *se;
	struct fuse_fs *fs;
	struct fuse_config conf;
	struct fuse_lowlevel_ops llop;
	struct rf_itable *itable;
	struct hl_node *root;
	struct rf_slab *pool;       /* the nodes (not the root): memory follows the count */
	bool freeing;               /* rf_itable_free runs: free callbacks touch nothing */
	/* the tree: (parent, name) hash, and every node's parent/name */
	pthread_rwlock_t tree;
	pthread_rwlock_t ops;              /* held by each operation, RENAME exclusive */
	struct hl_node **names;
	size_t nbuckets, nnamed;
	uint32_t hidectr;
	/* hide mode (hl_hide.c): how long an RMDIR waits for fresh hides (0: the default),
	 * and the condition a hidden file's unlink signals (f->lock) */
	uint64_t hide_wait_ns;
	pthread_cond_t unhide_cv;
	atomic_uint_fast64_t serial;
	/* f->lock: open counts' companions (auto_cache), remember's LRU */
	pthread_mutex_t lock;
	struct hl_node *lru_head, *lru_tail;
	/* memory: nodes alive, nodes freed since the last malloc_trim */
	atomic_size_t nodes;
	atomic_size_t freed_since_trim;
	atomic_uint_fast64_t last_free_ns;
	/* the housekeeping thread: malloc_trim after forget storms, remember's expiry */
	pthread_t hk_thread;
	pthread_mutex_t hk_lock;
	pthread_cond_t hk_cv;
	bool hk_running, hk_stop, hk_clean;
	bool mounted, inited;
	int intr_installed;
};

/* The per-thread context of fuse_get_context. */
struct hl_ctx {
	struct fuse_context ctx;
	fuse_req_t req;
};
extern __thread struct hl_ctx rf_hl_tls;

/* hl.c */
void rf_hl_fill_llops(struct fuse_lowlevel_ops *op);
void rf_hl_set_ctx(struct fuse *f, fuse_req_t req);
uint64_t rf_hl_now_ns(void);
/* A condition variable whose timed waits count CLOCK_MONOTONIC, as rf_hl_now_ns. */
void rf_hl_cond_init(pthread_cond_t *cv);
int rf_hl_hk_start(struct fuse *f, bool clean);
void rf_hl_hk_stop(struct fuse *f);

/* hl_path.c, hl_mem.c: every function is safe from any thread. */
int rf_hl_tree_init(struct fuse *f);
void rf_hl_tree_free(struct fuse *f);
struct hl_node *rf_hl_get(struct fuse *f, fuse_ino_t nodeid);   /* +ref, NULL if unknown */
void rf_hl_put(struct fuse *f, struct hl_node *n);              /* -ref (never under tree) */
/* The path of @n (plus "/@name" if @name), in a buffer of the calling thread (@slot 0/1,
 * valid until that thread's next call with the same slot). -ESTALE: @n is not in the
 * tree. Built under the tree's read lock: never half-old, half-new. */
int rf_hl_path(struct fuse *f, struct hl_node *n, const char *name, int slot, char **out);
#define RF_HL_TLS_SLOTS 4
int rf_hl_path2(struct fuse *f, struct hl_node *n1, const char *name1, struct hl_node *n2,
		const char *name2, char **out1, char **out2);
/* Find or create the node (@parent, @name), counting one kernel lookup: +ref. */
int rf_hl_lookup(struct fuse *f, struct hl_node *parent, const char *name,
		 struct hl_node **out);
/* One more kernel lookup of @n, referenced by the caller, given without a name of its
 * own (LOOKUP of "." or ".."). */
void rf_hl_count_lookup(struct fuse *f, struct hl_node *n);
void rf_hl_forget(struct fuse *f, fuse_ino_t nodeid, uint64_t nlookup);
void rf_hl_forget_many(struct fuse *f, size_t count, struct fuse_forget_data *fd);
/* The node (@parent, @name) if in the tree, +ref, no lookup counted. */
struct hl_node *rf_hl_find(struct fuse *f, struct hl_node *parent, const char *name);
fuse_ino_t rf_hl_find_ino(struct fuse *f, struct hl_node *parent, const char *name);
void rf_hl_remove(struct fuse *f, struct hl_node *parent, const char *name);
/* With @hide: 1 if the file has no open handle left (the caller unlinks the new name);
 * else the hide is noted (rf_hl_note_hide). */
int rf_hl_rename(struct fuse *f, struct hl_node *od, const char *on, struct hl_node *nd,
		 const char *nn, bool hide);
int rf_hl_exchange(struct fuse *f, struct hl_node *od, const char *on, struct hl_node *nd,
		   const char *nn);
/* (@parent, @name) has open handles whose RELEASE has not yet come. */
bool rf_hl_is_open(struct fuse *f, struct hl_node *parent, const char *name);
/* RMDIR of (@parent, @name), started at @start_ns, found it not empty: wait (until
 * *@deadline, set at the first call) for the files hidden in it, if one was hidden just
 * before (its RELEASE may be on its way). true: one went since @start_ns, the RMDIR is
 * worth a retry. */
bool rf_hl_wait_hidden(struct fuse *f, struct hl_node *parent, const char *name,
		       uint64_t start_ns, uint64_t *deadline);
/* Hidden @n was unlinked: count it out of its directory, wake the RMDIRs waiting. */
void rf_hl_unhidden(struct fuse *f, struct hl_node *n);
/* @n was hidden in @dir (under f->tree, written; f->lock comes after it). */
void rf_hl_note_hide(struct fuse *f, struct hl_node *dir, struct hl_node *n);
/* The last RELEASE of @n (open count 0): if it is hidden, unhide it and give the path to
 * unlink (slot 1; NULL if it has none), built under the same lock. */
bool rf_hl_take_hidden(struct fuse *f, struct hl_node *n, char **path);
int rf_hl_hide(struct fuse *f, struct hl_node *parent, const char *name, const char *path);
int rf_hl_clean(struct fuse *f);    /* remember's expiry; seconds to the next one */
void rf_hl_trim(struct fuse *f);
int rf_hl_resolve(struct fuse *f, const char *path, fuse_ino_t *ino);
void rf_hl_unlink_hidden_all(struct fuse *f);
size_t rf_hl_node_count(struct fuse *f);
/* A buffer of the calling thread of at least @size bytes (@slot 0..3), or NULL. Slots
 * 0-2 are paths (rf_hl_path, the hidden name), 3 data (read, readlink, xattrs). */
char *rf_hl_tls_buf(int slot, size_t size);
/* Where a READ's data or a READDIR's entries are produced: the reply's own payload
 * (fuse_reply_buf then copies nothing), else the data buffer of the calling thread. */
char *rf_hl_reply_buf(fuse_req_t req, size_t size);

/* hl_fs.c */
void rf_hl_free_bufvec(struct fuse_bufvec *bv);

/* hl_dir.c */
void rf_hl_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void rf_hl_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi);
void rf_hl_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi);
void rf_hl_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
/* The filesystem's own fh of the directory handle the kernel names in @fi. */
uint64_t rf_hl_dir_fh(const struct fuse_file_info *fi);
void rf_hl_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);

/* hl_ops.c */
void rf_hl_set_stat(struct fuse *f, fuse_ino_t nodeid, struct stat *st);
void rf_hl_fill_ops(struct fuse_lowlevel_ops *op);
void rf_hl_prepare_intr(struct fuse *f, fuse_req_t req);
int rf_hl_node_path(struct fuse *f, fuse_ino_t ino, bool nullok, struct hl_node **n,
		    char **path);
void rf_hl_update_stat(struct fuse *f, struct hl_node *n, const struct stat *st);
int rf_hl_lookup_path(struct fuse *f, struct hl_node *parent, const char *name,
		      const char *path, struct fuse_entry_param *e, struct fuse_file_info *fi);

static inline void rf_hl_reply_err(fuse_req_t req, int err)
{
	fuse_reply_err(req, err < 0 ? -err : err);
}

/* hl_file.c */
void rf_hl_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void rf_hl_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		  struct fuse_file_info *fi);
void rf_hl_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi);
void rf_hl_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		 struct fuse_file_info *fi);
void rf_hl_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void rf_hl_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void rf_hl_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void rf_hl_statfs(fuse_req_t req, fuse_ino_t ino);
void rf_hl_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		    size_t size, int flags);
void rf_hl_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void rf_hl_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void rf_hl_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);
void rf_hl_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		 struct flock *lock);
void rf_hl_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		 struct flock *lock, int sleep);
void rf_hl_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op);
void rf_hl_bmap(fuse_req_t req, fuse_ino_t ino, size_t blocksize, uint64_t idx);
void rf_hl_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		 struct fuse_file_info *fi, unsigned int flags, const void *in_buf,
		 size_t in_bufsz, size_t out_bufsz);
void rf_hl_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		struct fuse_pollhandle *ph);
void rf_hl_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
		     struct fuse_file_info *fi);
void rf_hl_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			   struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			   struct fuse_file_info *fi_out, size_t len, int flags);
void rf_hl_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		 struct fuse_file_info *fi);
void rf_hl_finish_intr(struct fuse *f, fuse_req_t req);

static inline struct fuse *rf_hl_req(fuse_req_t req)
{
	struct fuse *f = fuse_req_userdata(req);

	rf_hl_set_ctx(f, req);
	return f;
}

#endif /* RF_FUSE3_HL_H */
