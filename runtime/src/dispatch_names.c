/* SPDX-License-Identifier: MIT */
/*
 * dispatch_names.c - the decoders of requests about names and attributes: LOOKUP, FORGET,
 * GETATTR/SETATTR/STATX, creation and removal of names, RENAME, LINK, STATFS, xattrs,
 * ACCESS. Each checks every length and name against the message, passes the ordering
 * chains where it names a second inode or an fh, and calls the filesystem.
 */
#include <errno.h>

#include <sys/mman.h>

#include "decode.h"

/* ---- names and entries -------------------------------------------------------------- */

/* Requests whose only argument is a name in the directory @nodeid. */
static void name_op(struct rf_req *req, struct args *a,
		    void (*op)(struct rf_req *req, uint64_t parent, const char *name))
{
	const char *name = take_name(a);

	DECODE("name", name);
	if (!op)
		return (void)rf__reply_default(req);
	op(req, req->in.nodeid, name);
}

void rf__do_lookup(struct rf_req *req, struct args *a)
{
	name_op(req, a, req->se->ops.lookup);
}

void rf__do_forget(struct rf_req *req, struct args *a)
{
	struct fuse_forget_in in;
	struct rf_session *se = req->se;

	/* FORGET has no reply; a malformed one is dropped. */
	if (!take(a, &in, sizeof(in))) {
		rf__warn("malformed FORGET (len %u) dropped", req->in_len);
	} else {
		rf__lookup_forget(se, req->in.nodeid, in.nlookup);
		rf__order_forget(se, req->in.nodeid, in.nlookup);
	}
	rf_reply_none(req);
}

/*
 * A forget storm (drop_caches after a walk of a big tree) arrives as BATCH_FORGETs of up to
 * the whole request buffer (65,000 entries in 1 MiB). They come through read(2) on
 * /dev/fuse, never through the io_uring entries, so the slot's pages are ours alone: give
 * the whole pages of a big one back to the kernel once the entries were read, so that the
 * slab's resident size goes back to what normal requests touch (the memory of a server
 * must come back down after the kernel forgot: issue 15). Zero-filled on the next read.
 */
#define RF_RELEASE_MIN (64 * 1024)
static void release_pages(const char *from, const char *to)
{
	uintptr_t a = ((uintptr_t)from + 4095) & ~(uintptr_t)4095;
	uintptr_t b = (uintptr_t)to & ~(uintptr_t)4095;

	if (to - from >= RF_RELEASE_MIN && b > a)
		madvise((void *)a, b - a, MADV_DONTNEED);
}

void rf__do_batch_forget(struct rf_req *req, struct args *a)
{
	struct rf_session *se = req->se;
	struct fuse_batch_forget_in in;
	struct fuse_forget_one one;
	uint32_t i;

	if (!take(a, &in, sizeof(in)) || a->left / sizeof(one) < in.count) {
		rf__warn("malformed BATCH_FORGET (len %u) dropped", req->in_len);
		rf_reply_none(req);
		return;
	}
	for (i = 0; i < in.count; i++) {
		take(a, &one, sizeof(one));
		rf__lookup_forget(se, one.nodeid, one.nlookup);
		rf__order_forget(se, one.nodeid, one.nlookup);
	}
	release_pages(a->p - (size_t)in.count * sizeof(one), a->p);
	rf_reply_none(req);
}

void rf__do_getattr(struct rf_req *req, struct args *a)
{
	struct fuse_getattr_in in = { 0 };
	struct rf_file *fi = NULL;

	if (minor(req) >= 9)
		DECODE("getattr_in", take(a, &in, sizeof(in)));
	if (in.getattr_flags & FUSE_GETATTR_FH) {
		fi = &req->fi;
		fi->fh = in.fh;
		ADMIT_FH(in.fh, RF_HOLD_PLAIN);
	}
	CALL(getattr, req, req->in.nodeid, fi);
}

void rf__do_setattr(struct rf_req *req, struct args *a)
{
	struct fuse_setattr_in in;
	struct rf_file *fi = NULL;
	struct stat st;
	int to_set = 0;

	DECODE("setattr_in", take(a, &in, sizeof(in)));
	memset(&st, 0, sizeof(st));
	if (in.valid & FATTR_MODE) {
		to_set |= RF_SET_MODE;
		st.st_mode = in.mode;
	}
	if (in.valid & FATTR_UID) {
		to_set |= RF_SET_UID;
		st.st_uid = in.uid;
	}
	if (in.valid & FATTR_GID) {
		to_set |= RF_SET_GID;
		st.st_gid = in.gid;
	}
	if (in.valid & FATTR_SIZE) {
		to_set |= RF_SET_SIZE;
		st.st_size = (off_t)in.size;
	}
	if (in.valid & FATTR_ATIME) {
		to_set |= RF_SET_ATIME;
		st.st_atim.tv_sec = (time_t)in.atime;
		st.st_atim.tv_nsec = in.atimensec;
	}
	if (in.valid & FATTR_MTIME) {
		to_set |= RF_SET_MTIME;
		st.st_mtim.tv_sec = (time_t)in.mtime;
		st.st_mtim.tv_nsec = in.mtimensec;
	}
	if (in.valid & FATTR_CTIME) {
		to_set |= RF_SET_CTIME;
		st.st_ctim.tv_sec = (time_t)in.ctime;
		st.st_ctim.tv_nsec = in.ctimensec;
	}
	if (in.valid & FATTR_ATIME_NOW)
		to_set |= RF_SET_ATIME_NOW;
	if (in.valid & FATTR_MTIME_NOW)
		to_set |= RF_SET_MTIME_NOW;
	if (in.valid & FATTR_KILL_SUIDGID)
		to_set |= RF_SET_KILL_SUIDGID;
	if (in.valid & FATTR_FH) {
		fi = &req->fi;
		fi->fh = in.fh;
		if (in.valid & FATTR_LOCKOWNER)
			fi->lock_owner = in.lock_owner;
		ADMIT_FH(in.fh, RF_HOLD_PLAIN);
	}
	CALL(setattr, req, req->in.nodeid, &st, to_set, fi);
}

void rf__do_readlink(struct rf_req *req, struct args *a)
{
	CALL(readlink, req, req->in.nodeid);
}

void rf__do_mknod(struct rf_req *req, struct args *a)
{
	struct fuse_mknod_in in;
	const char *name;

	DECODE("mknod_in", take_exact(a, &in, sizeof(in),
				       minor(req) >= 12 ? sizeof(in) : FUSE_COMPAT_MKNOD_IN_SIZE));
	DECODE("name", (name = take_name(a)));
	req->ctx.umask = in.umask;
	CALL(mknod, req, req->in.nodeid, name, in.mode, in.rdev);
}

void rf__do_mkdir(struct rf_req *req, struct args *a)
{
	struct fuse_mkdir_in in;
	const char *name;

	DECODE("mkdir_in", take(a, &in, sizeof(in)));
	DECODE("name", (name = take_name(a)));
	req->ctx.umask = in.umask;
	CALL(mkdir, req, req->in.nodeid, name, in.mode);
}

void rf__do_unlink(struct rf_req *req, struct args *a)
{
	name_op(req, a, req->se->ops.unlink);
}

void rf__do_rmdir(struct rf_req *req, struct args *a)
{
	name_op(req, a, req->se->ops.rmdir);
}

void rf__do_symlink(struct rf_req *req, struct args *a)
{
	const char *name, *target;

	DECODE("name", (name = take_name(a)));
	DECODE("link target", (target = take_name(a)));
	CALL(symlink, req, target, req->in.nodeid, name);
}

static void rename_common(struct rf_req *req, struct args *a, uint64_t newdir,
			  unsigned int flags)
{
	const char *name, *newname;

	DECODE("old name", (name = take_name(a)));
	DECODE("new name", (newname = take_name(a)));
	ADMIT(.nodeid2 = newdir);
	CALL(rename, req, req->in.nodeid, name, newdir, newname, flags);
}

void rf__do_rename(struct rf_req *req, struct args *a)
{
	struct fuse_rename_in in;

	DECODE("rename_in", take(a, &in, sizeof(in)));
	rename_common(req, a, in.newdir, 0);
}

void rf__do_rename2(struct rf_req *req, struct args *a)
{
	struct fuse_rename2_in in;

	DECODE("rename2_in", take(a, &in, sizeof(in)));
	rename_common(req, a, in.newdir, in.flags);
}

void rf__do_link(struct rf_req *req, struct args *a)
{
	struct fuse_link_in in;
	const char *name;

	DECODE("link_in", take(a, &in, sizeof(in)));
	DECODE("name", (name = take_name(a)));
	ADMIT(.nodeid2 = in.oldnodeid);
	CALL(link, req, in.oldnodeid, req->in.nodeid, name);
}

/* ---- filesystem-wide and xattrs ------------------------------------------------------ */

void rf__do_statfs(struct rf_req *req, struct args *a)
{
	CALL(statfs, req, req->in.nodeid);
}

void rf__do_setxattr(struct rf_req *req, struct args *a)
{
	struct fuse_setxattr_in in;
	const char *name;
	const void *value;
	bool ext = req->se->conn.want & RF_CAP_SETXATTR_EXT;

	DECODE("setxattr_in", take_exact(a, &in, sizeof(in),
					  ext ? sizeof(in) : FUSE_COMPAT_SETXATTR_IN_SIZE));
	if (!ext)
		in.setxattr_flags = 0;
	DECODE("name", (name = take_name(a)));
	DECODE("value size past the end of the message", (value = take_bytes(a, in.size)));
	CALL(setxattr, req, req->in.nodeid, name, value, in.size, (int)in.flags);
}

void rf__do_getxattr(struct rf_req *req, struct args *a)
{
	struct fuse_getxattr_in in;
	const char *name;
	size_t cap;

	DECODE("getxattr_in", take(a, &in, sizeof(in)));
	DECODE("name", (name = take_name(a)));
	rf__reply_payload(req, &cap);
	if (in.size > cap)
		in.size = (uint32_t)cap;
	CALL(getxattr, req, req->in.nodeid, name, in.size);
}

void rf__do_listxattr(struct rf_req *req, struct args *a)
{
	struct fuse_getxattr_in in;
	size_t cap;

	DECODE("getxattr_in", take(a, &in, sizeof(in)));
	rf__reply_payload(req, &cap);
	if (in.size > cap)
		in.size = (uint32_t)cap;
	CALL(listxattr, req, req->in.nodeid, in.size);
}

void rf__do_removexattr(struct rf_req *req, struct args *a)
{
	name_op(req, a, req->se->ops.removexattr);
}

void rf__do_access(struct rf_req *req, struct args *a)
{
	struct fuse_access_in in;

	DECODE("access_in", take(a, &in, sizeof(in)));
	CALL(access, req, req->in.nodeid, (int)in.mask);
}

void rf__do_statx(struct rf_req *req, struct args *a)
{
	struct fuse_statx_in in;
	struct rf_file *fi = NULL;

	DECODE("statx_in", take(a, &in, sizeof(in)));
	if (in.getattr_flags & FUSE_GETATTR_FH) {
		fi = &req->fi;
		fi->fh = in.fh;
		ADMIT_FH(in.fh, RF_HOLD_PLAIN);
	}
	CALL(statx, req, req->in.nodeid, (int)in.sx_flags, (int)in.sx_mask, fi);
}

