/* SPDX-License-Identifier: MIT */
/*
 * dispatch.c - decode and validate each request, then call the filesystem.
 *
 * The life of a request:
 *  1. transport_dev.c  on_read()        the kernel's message lands in a pooled slot
 *  2. dispatch.c       rf__dispatch()   header checks; the opcode's decoder below checks
 *                                       every length, count and name against the message
 *  3. (filesystem)     rf_ops.<op>()    now or later, on the loop thread or another
 *  4. reply.c          rf_reply_*()     the reply is encoded in the slot, behind the request
 *  5. transport_dev.c  rf__chan_send()  one ring write; its CQE frees the slot
 * A malformed request is answered EIO (or EINVAL) here and never reaches the filesystem.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "internal.h"

/* A view of the request's arguments (after the in header, before any extension). */
struct args {
	const char *p;
	size_t left;
};

static bool take(struct args *a, void *dst, size_t n)
{
	if (a->left < n)
		return false;
	memcpy(dst, a->p, n);
	a->p += n;
	a->left -= n;
	return true;
}

/* Copy a struct that older kernels send shorter: zero-fill what is missing. */
static bool take_compat(struct args *a, void *dst, size_t n, size_t min)
{
	size_t got = RF_MIN(n, a->left);

	if (got < min)
		return false;
	memset(dst, 0, n);
	memcpy(dst, a->p, got);
	a->p += got;
	a->left -= got;
	return true;
}

/* Copy a struct whose size depends on the protocol version and that a name or data
 * follows: exactly @size of its @n bytes are in the message (the rest zero-filled). */
static bool take_exact(struct args *a, void *dst, size_t n, size_t size)
{
	if (a->left < size)
		return false;
	memset(dst, 0, n);
	memcpy(dst, a->p, size);
	a->p += size;
	a->left -= size;
	return true;
}

/* A NUL-terminated, non-empty name wholly inside the message. */
static const char *take_name(struct args *a)
{
	const char *name = a->p;
	const char *nul = a->left ? memchr(a->p, '\0', a->left) : NULL;

	if (!nul || nul == name)
		return NULL;
	a->left -= (size_t)(nul - name) + 1;
	a->p = nul + 1;
	return name;
}

static const void *take_bytes(struct args *a, size_t n)
{
	const void *p = a->p;

	if (a->left < n)
		return NULL;
	a->p += n;
	a->left -= n;
	return p;
}

static void bad_request(struct rf_req *req, const char *why)
{
	uint32_t op = req->in.opcode;
	/* Opcodes the kernel expects no answer to: a malformed one is dropped. */
	bool no_reply = op == FUSE_FORGET || op == FUSE_BATCH_FORGET || op == FUSE_INTERRUPT ||
			op == FUSE_NOTIFY_REPLY;

	rf__warn("malformed %s request (unique %llu, len %u): %s; %s",
		 rf__opname(req->in.opcode), (unsigned long long)req->in.unique, req->in_len, why,
		 no_reply ? "dropped" : "answered EIO");
	if (no_reply)
		rf_reply_none(req);
	else
		rf_reply_err(req, -EIO);
}

#define DECODE(what, cond)                  \
	do {                                 \
		if (!(cond)) {               \
			bad_request(req, what); \
			return;              \
		}                            \
	} while (0)

/* Pass the request's ordering chain (order.c), or return: it was parked (it comes back
 * through rf__dispatch_resume and this decoder runs again) or answered EBADF. */
#define ADMIT(...)                                                   \
	do {                                                         \
		struct rf_order_spec spec_ = { __VA_ARGS__ };        \
		if (!rf__order_admit(req, &spec_))                   \
			return;                                      \
	} while (0)
#define ADMIT_FH(fh_, role_) ADMIT(.fh = { (fh_) }, .role = { (role_) })

static uint32_t minor(const struct rf_req *req)
{
	return req->se->conn.proto_minor;
}

/* ---- INIT and DESTROY ------------------------------------------------------------- */

/* What the runtime asks for unless the filesystem says otherwise. */
static uint64_t default_want(const struct rf_ops *ops)
{
	uint64_t want = RF_CAP_ASYNC_READ | RF_CAP_ATOMIC_O_TRUNC | RF_CAP_AUTO_INVAL_DATA |
			RF_CAP_ASYNC_DIO | RF_CAP_PARALLEL_DIROPS | RF_CAP_SETXATTR_EXT |
			RF_CAP_DIRECT_IO_ALLOW_MMAP | RF_CAP_HAS_EXPIRE_ONLY;

	if (ops->getlk && ops->setlk)
		want |= RF_CAP_POSIX_LOCKS;
	if (ops->flock)
		want |= RF_CAP_FLOCK_LOCKS;
	if (ops->readdirplus)
		want |= RF_CAP_READDIRPLUS | RF_CAP_READDIRPLUS_AUTO;
	if (ops->ioctl)
		want |= RF_CAP_IOCTL_DIR;
	return want;
}

/* Take the kernel's io_uring queues when offered and wanted, else say why not. Their
 * buffers are allocated now: once the reply accepts the flag, the kernel blocks every
 * request until all queues are registered, so nothing may fail after it. */
static uint64_t negotiate_transport(struct rf_session *se, uint64_t want)
{
	const char *why = NULL;
	int ret;

	if (se->opts.transport == RF_TRANSPORT_DEV)
		why = "-o transport=dev";
	else if (se->fd_is_sock)
		why = "the channel is a socket";
	else if (!(se->conn.capable & RF_CAP_OVER_IO_URING))
		why = access("/sys/module/fuse/parameters/enable_uring", F_OK) ?
			      "the kernel has no FUSE-over-io_uring (needs Linux >= 6.14)" :
			      "the kernel did not offer it (fuse module parameter enable_uring=N)";
	if (!why) {
		ret = rf__uring_prepare(se);
		if (ret < 0) {
			why = ret == -EOPNOTSUPP ? "the loop's ring has no 128-byte SQEs" :
						   "its buffers could not be set up";
		} else {
			se->uring_pending = true;
			return want | RF_CAP_OVER_IO_URING;
		}
	}
	if (se->opts.transport == RF_TRANSPORT_URING)
		rf__err("transport: io_uring queues requested but unavailable (%s); "
			"serving /dev/fuse", why);
	else if (!se->fd_is_sock)
		rf__info("transport: /dev/fuse (%s)", why);
	return want & ~RF_CAP_OVER_IO_URING;
}

static void do_init(struct rf_req *req, struct args *a)
{
	struct rf_session *se = req->se;
	struct fuse_init_in in;
	struct fuse_init_out *out;
	struct rf_conn *conn = &se->conn;
	uint64_t capable, want;
	size_t cap, outsize;

	DECODE("INIT shorter than its 16-byte minimum",
	       take_compat(a, &in, sizeof(in), 16));
	if (se->initialized) {
		rf__warn("second INIT ignored");
		rf_reply_err(req, -EPROTO);
		return;
	}
	out = (struct fuse_init_out *)rf__reply_payload(req, &cap);
	memset(out, 0, sizeof(*out));
	out->major = FUSE_KERNEL_VERSION;
	out->minor = FUSE_KERNEL_MINOR_VERSION;
	if (in.major > FUSE_KERNEL_VERSION) {
		/* The kernel will come back with an INIT in our major version. */
		rf__reply_finish(req, 0, 8);
		return;
	}
	if (in.major < 7) {
		rf__err("kernel FUSE protocol %u.%u is unsupported", in.major, in.minor);
		rf_reply_err(req, -EPROTO);
		return;
	}
	capable = in.flags;
	if (in.flags & FUSE_INIT_EXT)
		capable |= (uint64_t)in.flags2 << 32;

	conn->proto_major = in.major;
	conn->proto_minor = RF_MIN(in.minor, (uint32_t)FUSE_KERNEL_MINOR_VERSION);
	conn->capable = capable;
	conn->want = default_want(&se->ops) & capable;
	conn->max_write = se->opts.max_write;
	conn->max_read = se->opts.max_read;
	conn->max_readahead = se->opts.max_readahead ? RF_MIN(se->opts.max_readahead,
							     in.max_readahead) :
						       in.max_readahead;
	conn->max_background = se->opts.max_background ? se->opts.max_background : 64;
	conn->congestion_threshold = se->opts.congestion_threshold ?
					     se->opts.congestion_threshold :
					     conn->max_background * 3 / 4;
	conn->time_gran = 1;
	conn->max_stack_depth = 1;
	if (se->ops.init)
		se->ops.init(se->userdata, conn);

	want = conn->want & capable;
	if ((want & RF_CAP_PASSTHROUGH) && (want & RF_CAP_WRITEBACK_CACHE)) {
		rf__warn("INIT: passthrough cannot be combined with writeback cache; "
			 "passthrough disabled");
		want &= ~RF_CAP_PASSTHROUGH;
	}
	conn->want = want;
	/* The slot size was fixed from opts.max_write: never promise more. */
	if (conn->max_write > se->opts.max_write || conn->max_write < 4096)
		conn->max_write = se->opts.max_write;
	conn->max_pages = (conn->max_write + 4095) / 4096;
	if (conn->max_readahead > in.max_readahead)
		conn->max_readahead = in.max_readahead;
	if (conn->max_background > 0xffff)
		conn->max_background = 0xffff;
	if (conn->congestion_threshold > conn->max_background)
		conn->congestion_threshold = conn->max_background;
	if (conn->time_gran == 0 || conn->time_gran > 1000000000)
		conn->time_gran = 1;

	want = negotiate_transport(se, want);
	conn->want = want;
	/* Never accept what was not offered, these included (an old kernel: no INIT_EXT). */
	want |= (FUSE_BIG_WRITES | FUSE_MAX_PAGES | FUSE_INIT_EXT) & in.flags;
	out->flags = (uint32_t)want;
	out->flags2 = (uint32_t)(want >> 32);
	out->max_readahead = conn->max_readahead;
	out->max_write = conn->max_write;
	out->max_background = (uint16_t)conn->max_background;
	out->congestion_threshold = (uint16_t)conn->congestion_threshold;
	out->time_gran = conn->time_gran;
	out->max_pages = (uint16_t)conn->max_pages;
	if (want & RF_CAP_PASSTHROUGH)
		out->max_stack_depth = conn->max_stack_depth ? conn->max_stack_depth : 1;

	outsize = in.minor < 5 ? FUSE_COMPAT_INIT_OUT_SIZE :
		  in.minor < 23 ? FUSE_COMPAT_22_INIT_OUT_SIZE : sizeof(*out);
	/* Release: a loop thread that sees it initialized sees the whole conn. */
	atomic_store_explicit(&se->initialized, true, memory_order_release);
	if (se->debug)
		rf__info("INIT: kernel %u.%u, flags 0x%llx offered, 0x%llx accepted, max_write %u, "
			 "max_readahead %u, max_pages %u", in.major, in.minor,
			 (unsigned long long)capable, (unsigned long long)want, conn->max_write,
			 conn->max_readahead, conn->max_pages);
	rf__reply_finish(req, 0, outsize);
}

static void do_destroy(struct rf_req *req, struct args *a)
{
	struct rf_session *se = req->se;

	if (se->ops.destroy && !se->destroyed)
		se->ops.destroy(se->userdata);
	se->destroyed = true;
	rf_reply_err(req, 0);
	rf_session_exit(se);
}

/* ---- names and entries -------------------------------------------------------------- */

/* Requests whose only argument is a name in the directory @nodeid. */
static void name_op(struct rf_req *req, struct args *a,
		    void (*op)(struct rf_req *req, uint64_t parent, const char *name))
{
	const char *name = take_name(a);

	DECODE("name", name);
	if (!op)
		return (void)rf_reply_err(req, -ENOSYS);
	op(req, req->in.nodeid, name);
}

static void do_lookup(struct rf_req *req, struct args *a)
{
	name_op(req, a, req->se->ops.lookup);
}

static void do_forget(struct rf_req *req, struct args *a)
{
	struct fuse_forget_in in;
	struct rf_session *se = req->se;

	/* FORGET has no reply; a malformed one is dropped. */
	if (!take(a, &in, sizeof(in)))
		rf__warn("malformed FORGET (len %u) dropped", req->in_len);
	else
		rf__order_forget(se, req->in.nodeid, in.nlookup);
	rf_reply_none(req);
}

static void do_batch_forget(struct rf_req *req, struct args *a)
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
		rf__order_forget(se, one.nodeid, one.nlookup);
	}
	rf_reply_none(req);
}

static void do_getattr(struct rf_req *req, struct args *a)
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
	if (!req->se->ops.getattr)
		return (void)rf_reply_err(req, -ENOSYS);
	req->se->ops.getattr(req, req->in.nodeid, fi);
}

static void do_setattr(struct rf_req *req, struct args *a)
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
	if (!req->se->ops.setattr)
		return (void)rf_reply_err(req, -ENOSYS);
	req->se->ops.setattr(req, req->in.nodeid, &st, to_set, fi);
}

static void do_readlink(struct rf_req *req, struct args *a)
{
	if (!req->se->ops.readlink)
		return (void)rf_reply_err(req, -ENOSYS);
	req->se->ops.readlink(req, req->in.nodeid);
}

static void do_mknod(struct rf_req *req, struct args *a)
{
	struct fuse_mknod_in in;
	const char *name;

	DECODE("mknod_in", take_exact(a, &in, sizeof(in),
				       minor(req) >= 12 ? sizeof(in) : FUSE_COMPAT_MKNOD_IN_SIZE));
	DECODE("name", (name = take_name(a)));
	req->ctx.umask = in.umask;
	if (!req->se->ops.mknod)
		return (void)rf_reply_err(req, -ENOSYS);
	req->se->ops.mknod(req, req->in.nodeid, name, in.mode, in.rdev);
}

static void do_mkdir(struct rf_req *req, struct args *a)
{
	struct fuse_mkdir_in in;
	const char *name;

	DECODE("mkdir_in", take(a, &in, sizeof(in)));
	DECODE("name", (name = take_name(a)));
	req->ctx.umask = in.umask;
	if (!req->se->ops.mkdir)
		return (void)rf_reply_err(req, -ENOSYS);
	req->se->ops.mkdir(req, req->in.nodeid, name, in.mode);
}

static void do_unlink(struct rf_req *req, struct args *a)
{
	name_op(req, a, req->se->ops.unlink);
}

static void do_rmdir(struct rf_req *req, struct args *a)
{
	name_op(req, a, req->se->ops.rmdir);
}

static void do_symlink(struct rf_req *req, struct args *a)
{
	const char *name, *target;

	DECODE("name", (name = take_name(a)));
	DECODE("link target", (target = take_name(a)));
	if (!req->se->ops.symlink)
		return (void)rf_reply_err(req, -ENOSYS);
	req->se->ops.symlink(req, target, req->in.nodeid, name);
}

static void rename_common(struct rf_req *req, struct args *a, uint64_t newdir,
			  unsigned int flags)
{
	const char *name, *newname;

	DECODE("old name", (name = take_name(a)));
	DECODE("new name", (newname = take_name(a)));
	ADMIT(.nodeid2 = newdir);
	if (!req->se->ops.rename)
		return (void)rf_reply_err(req, -ENOSYS);
	req->se->ops.rename(req, req->in.nodeid, name, newdir, newname, flags);
}

static void do_rename(struct rf_req *req, struct args *a)
{
	struct fuse_rename_in in;

	DECODE("rename_in", take(a, &in, sizeof(in)));
	rename_common(req, a, in.newdir, 0);
}

static void do_rename2(struct rf_req *req, struct args *a)
{
	struct fuse_rename2_in in;

	DECODE("rename2_in", take(a, &in, sizeof(in)));
	rename_common(req, a, in.newdir, in.flags);
}

static void do_link(struct rf_req *req, struct args *a)
{
	struct fuse_link_in in;
	const char *name;

	DECODE("link_in", take(a, &in, sizeof(in)));
	DECODE("name", (name = take_name(a)));
	ADMIT(.nodeid2 = in.oldnodeid);
	if (!req->se->ops.link)
		return (void)rf_reply_err(req, -ENOSYS);
	req->se->ops.link(req, in.oldnodeid, req->in.nodeid, name);
}

/* ---- open files --------------------------------------------------------------------- */

static void do_open_common(struct rf_req *req, struct args *a,
			   void (*op)(struct rf_req *, uint64_t, struct rf_file *))
{
	struct fuse_open_in in;

	DECODE("open_in", take(a, &in, sizeof(in)));
	req->fi.flags = (int)in.flags;
	req->fi.kill_priv = !!(in.open_flags & FUSE_OPEN_KILL_SUIDGID);
	if (!op)
		/* The protocol's default: a stateless open with fh 0. */
		return (void)rf_reply_open(req, &req->fi);
	op(req, req->in.nodeid, &req->fi);
}

static void do_open(struct rf_req *req, struct args *a)
{
	do_open_common(req, a, req->se->ops.open);
}

static void do_opendir(struct rf_req *req, struct args *a)
{
	do_open_common(req, a, req->se->ops.opendir);
}

static void do_create(struct rf_req *req, struct args *a)
{
	struct fuse_create_in in;
	const char *name;

	DECODE("create_in", take_exact(a, &in, sizeof(in),
					minor(req) >= 12 ? sizeof(in) : 8));
	DECODE("name", (name = take_name(a)));
	req->ctx.umask = in.umask;
	req->fi.flags = (int)in.flags;
	req->fi.kill_priv = !!(in.open_flags & FUSE_OPEN_KILL_SUIDGID);
	if (!req->se->ops.create)
		return (void)rf_reply_err(req, -ENOSYS);
	req->se->ops.create(req, req->in.nodeid, name, in.mode, &req->fi);
}

static void do_tmpfile(struct rf_req *req, struct args *a)
{
	struct fuse_create_in in;

	DECODE("create_in", take(a, &in, sizeof(in)));
	req->ctx.umask = in.umask;
	req->fi.flags = (int)in.flags;
	if (!req->se->ops.tmpfile)
		return (void)rf_reply_err(req, -ENOSYS);
	req->se->ops.tmpfile(req, req->in.nodeid, in.mode, &req->fi);
}

static bool take_read_in(struct rf_req *req, struct args *a, struct fuse_read_in *in)
{
	if (!take_compat(a, in, sizeof(*in), minor(req) >= 9 ? sizeof(*in) : 24))
		return false;
	req->fi.fh = in->fh;
	req->fi.flags = (int)in->flags;
	if (in->read_flags & FUSE_READ_LOCKOWNER)
		req->fi.lock_owner = in->lock_owner;
	return true;
}

static void do_read(struct rf_req *req, struct args *a)
{
	struct fuse_read_in in;
	size_t cap;

	DECODE("read_in", take_read_in(req, a, &in));
	rf__reply_payload(req, &cap);
	DECODE("read size beyond the negotiated maximum", in.size <= cap);
	ADMIT(.fh = { in.fh }, .role = { RF_HOLD_READ }, .off = { in.offset }, .len = { in.size });
	if (!req->se->ops.read)
		return (void)rf_reply_err(req, -ENOSYS);
	req->se->ops.read(req, req->in.nodeid, in.size, (off_t)in.offset, &req->fi);
}

static void do_write(struct rf_req *req, struct args *a)
{
	struct fuse_write_in in;
	const void *data;

	DECODE("write_in", take_exact(a, &in, sizeof(in),
				       minor(req) >= 9 ? sizeof(in) : FUSE_COMPAT_WRITE_IN_SIZE));
	DECODE("write size past the end of the message", (data = take_bytes(a, in.size)));
	req->fi.fh = in.fh;
	req->fi.flags = (int)in.flags;
	req->fi.writepage = !!(in.write_flags & FUSE_WRITE_CACHE);
	req->fi.kill_priv = !!(in.write_flags & FUSE_WRITE_KILL_SUIDGID);
	if (in.write_flags & FUSE_WRITE_LOCKOWNER)
		req->fi.lock_owner = in.lock_owner;
	ADMIT(.fh = { in.fh }, .role = { RF_HOLD_WRITE }, .off = { in.offset }, .len = { in.size });
	if (!req->se->ops.write)
		return (void)rf_reply_err(req, -ENOSYS);
	req->se->ops.write(req, req->in.nodeid, data, in.size, (off_t)in.offset, &req->fi);
}

static void do_flush(struct rf_req *req, struct args *a)
{
	struct fuse_flush_in in;

	DECODE("flush_in", take(a, &in, sizeof(in)));
	req->fi.fh = in.fh;
	req->fi.lock_owner = in.lock_owner;
	req->fi.flush = 1;
	ADMIT_FH(in.fh, RF_HOLD_BARRIER);
	if (!req->se->ops.flush)
		return (void)rf_reply_err(req, -ENOSYS);
	req->se->ops.flush(req, req->in.nodeid, &req->fi);
}

static void release_common(struct rf_req *req, struct args *a,
			   void (*op)(struct rf_req *, uint64_t, struct rf_file *))
{
	struct fuse_release_in in;

	DECODE("release_in", take_compat(a, &in, sizeof(in), 16));
	req->fi.fh = in.fh;
	req->fi.flags = (int)in.flags;
	req->fi.flush = !!(in.release_flags & FUSE_RELEASE_FLUSH);
	req->fi.flock_release = !!(in.release_flags & FUSE_RELEASE_FLOCK_UNLOCK);
	req->fi.lock_owner = in.lock_owner;
	ADMIT_FH(in.fh, RF_HOLD_RELEASE);
	if (!op)
		return (void)rf_reply_err(req, 0);
	op(req, req->in.nodeid, &req->fi);
}

static void do_release(struct rf_req *req, struct args *a)
{
	release_common(req, a, req->se->ops.release);
}

static void do_releasedir(struct rf_req *req, struct args *a)
{
	release_common(req, a, req->se->ops.releasedir);
}

static void fsync_common(struct rf_req *req, struct args *a,
			 void (*op)(struct rf_req *, uint64_t, int, struct rf_file *))
{
	struct fuse_fsync_in in;

	DECODE("fsync_in", take(a, &in, sizeof(in)));
	req->fi.fh = in.fh;
	ADMIT_FH(in.fh, RF_HOLD_BARRIER);
	if (!op)
		return (void)rf_reply_err(req, -ENOSYS);
	op(req, req->in.nodeid, !!(in.fsync_flags & FUSE_FSYNC_FDATASYNC), &req->fi);
}

static void do_fsync(struct rf_req *req, struct args *a)
{
	fsync_common(req, a, req->se->ops.fsync);
}

static void do_fsyncdir(struct rf_req *req, struct args *a)
{
	fsync_common(req, a, req->se->ops.fsyncdir);
}

static void readdir_common(struct rf_req *req, struct args *a,
			   void (*op)(struct rf_req *, uint64_t, size_t, off_t, struct rf_file *))
{
	struct fuse_read_in in;
	size_t cap;

	DECODE("read_in", take_read_in(req, a, &in));
	rf__reply_payload(req, &cap);
	DECODE("readdir size beyond the buffer", in.size <= cap);
	ADMIT_FH(in.fh, RF_HOLD_PLAIN);
	if (!op)
		return (void)rf_reply_err(req, -ENOSYS);
	op(req, req->in.nodeid, in.size, (off_t)in.offset, &req->fi);
}

static void do_readdir(struct rf_req *req, struct args *a)
{
	readdir_common(req, a, req->se->ops.readdir);
}

static void do_readdirplus(struct rf_req *req, struct args *a)
{
	readdir_common(req, a, req->se->ops.readdirplus);
}

/* ---- filesystem-wide and xattrs ------------------------------------------------------ */

static void do_statfs(struct rf_req *req, struct args *a)
{
	struct statvfs st;

	if (req->se->ops.statfs)
		return req->se->ops.statfs(req, req->in.nodeid);
	/* The protocol's default: an empty filesystem with 255-byte names. */
	memset(&st, 0, sizeof(st));
	st.f_namemax = 255;
	st.f_bsize = 512;
	rf_reply_statfs(req, &st);
}

static void do_setxattr(struct rf_req *req, struct args *a)
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
	if (!req->se->ops.setxattr)
		return (void)rf_reply_err(req, -ENOSYS);
	req->se->ops.setxattr(req, req->in.nodeid, name, value, in.size, (int)in.flags);
}

static void do_getxattr(struct rf_req *req, struct args *a)
{
	struct fuse_getxattr_in in;
	const char *name;
	size_t cap;

	DECODE("getxattr_in", take(a, &in, sizeof(in)));
	DECODE("name", (name = take_name(a)));
	rf__reply_payload(req, &cap);
	if (in.size > cap)
		in.size = (uint32_t)cap;
	if (!req->se->ops.getxattr)
		return (void)rf_reply_err(req, -ENOSYS);
	req->se->ops.getxattr(req, req->in.nodeid, name, in.size);
}

static void do_listxattr(struct rf_req *req, struct args *a)
{
	struct fuse_getxattr_in in;
	size_t cap;

	DECODE("getxattr_in", take(a, &in, sizeof(in)));
	rf__reply_payload(req, &cap);
	if (in.size > cap)
		in.size = (uint32_t)cap;
	if (!req->se->ops.listxattr)
		return (void)rf_reply_err(req, -ENOSYS);
	req->se->ops.listxattr(req, req->in.nodeid, in.size);
}

static void do_removexattr(struct rf_req *req, struct args *a)
{
	name_op(req, a, req->se->ops.removexattr);
}

static void do_access(struct rf_req *req, struct args *a)
{
	struct fuse_access_in in;

	DECODE("access_in", take(a, &in, sizeof(in)));
	if (!req->se->ops.access)
		return (void)rf_reply_err(req, -ENOSYS);
	req->se->ops.access(req, req->in.nodeid, (int)in.mask);
}

/* ---- locks --------------------------------------------------------------------------- */

static void lk_decode(const struct fuse_lk_in *in, struct flock *fl)
{
	memset(fl, 0, sizeof(*fl));
	fl->l_type = (short)in->lk.type;
	fl->l_whence = SEEK_SET;
	fl->l_start = (off_t)in->lk.start;
	fl->l_len = in->lk.end == (uint64_t)INT64_MAX ? 0 : (off_t)(in->lk.end - in->lk.start + 1);
	fl->l_pid = (pid_t)in->lk.pid;
}

static void do_getlk(struct rf_req *req, struct args *a)
{
	struct fuse_lk_in in;
	struct flock fl;

	DECODE("lk_in", take(a, &in, sizeof(in)));
	DECODE("lock range", in.lk.end >= in.lk.start);
	req->fi.fh = in.fh;
	req->fi.lock_owner = in.owner;
	ADMIT_FH(in.fh, RF_HOLD_PLAIN);
	lk_decode(&in, &fl);
	if (!req->se->ops.getlk)
		return (void)rf_reply_err(req, -ENOSYS);
	req->se->ops.getlk(req, req->in.nodeid, &req->fi, &fl);
}

static void setlk_common(struct rf_req *req, struct args *a, int sleep)
{
	struct fuse_lk_in in;
	struct flock fl;

	DECODE("lk_in", take(a, &in, sizeof(in)));
	DECODE("lock range", in.lk.end >= in.lk.start);
	req->fi.fh = in.fh;
	req->fi.lock_owner = in.owner;
	ADMIT_FH(in.fh, RF_HOLD_PLAIN);
	if (in.lk_flags & FUSE_LK_FLOCK) {
		int op = in.lk.type == F_RDLCK ? LOCK_SH : in.lk.type == F_WRLCK ? LOCK_EX : LOCK_UN;

		if (!sleep)
			op |= LOCK_NB;
		if (!req->se->ops.flock)
			return (void)rf_reply_err(req, -ENOSYS);
		return req->se->ops.flock(req, req->in.nodeid, &req->fi, op);
	}
	lk_decode(&in, &fl);
	if (!req->se->ops.setlk)
		return (void)rf_reply_err(req, -ENOSYS);
	req->se->ops.setlk(req, req->in.nodeid, &req->fi, &fl, sleep);
}

static void do_setlk(struct rf_req *req, struct args *a)
{
	setlk_common(req, a, 0);
}

static void do_setlkw(struct rf_req *req, struct args *a)
{
	setlk_common(req, a, 1);
}

/* ---- the rest -------------------------------------------------------------------------- */

static void do_interrupt(struct rf_req *req, struct args *a)
{
	struct fuse_interrupt_in in;

	if (!take(a, &in, sizeof(in))) {
		rf__warn("malformed INTERRUPT (len %u) dropped", req->in_len);
		rf_reply_none(req);
		return;
	}
	/* Applied now, or held until its request arrives (answered EAGAIN if it does not
	 * come soon); the interrupted request itself still gets its own, single reply. */
	rf__order_interrupt(req, in.unique);
}

static void do_bmap(struct rf_req *req, struct args *a)
{
	struct fuse_bmap_in in;

	DECODE("bmap_in", take(a, &in, sizeof(in)));
	if (!req->se->ops.bmap)
		return (void)rf_reply_err(req, -ENOSYS);
	req->se->ops.bmap(req, req->in.nodeid, in.blocksize, in.block);
}

static void do_ioctl(struct rf_req *req, struct args *a)
{
	struct fuse_ioctl_in in;
	const void *in_buf;
	size_t cap;

	DECODE("ioctl_in", take(a, &in, sizeof(in)));
	DECODE("ioctl input past the end of the message", (in_buf = take_bytes(a, in.in_size)));
	rf__reply_payload(req, &cap);
	DECODE("ioctl output larger than the buffer",
	       in.out_size <= cap - sizeof(struct fuse_ioctl_out));
	req->fi.fh = in.fh;
	ADMIT_FH(in.fh, RF_HOLD_PLAIN);
	if (in.flags & FUSE_IOCTL_UNRESTRICTED)
		return (void)rf_reply_err(req, -ENOSYS);
	if (!req->se->ops.ioctl)
		return (void)rf_reply_err(req, -ENOSYS);
	req->se->ops.ioctl(req, req->in.nodeid, in.cmd, (void *)(uintptr_t)in.arg, &req->fi,
			   in.flags, in.in_size ? in_buf : NULL, in.in_size, in.out_size);
}

static void do_poll(struct rf_req *req, struct args *a)
{
	struct fuse_poll_in in;

	DECODE("poll_in", take(a, &in, sizeof(in)));
	req->fi.fh = in.fh;
	ADMIT_FH(in.fh, RF_HOLD_PLAIN);
	if (!req->se->ops.poll)
		return (void)rf_reply_err(req, -ENOSYS);
	req->se->ops.poll(req, req->in.nodeid, &req->fi,
			  (in.flags & FUSE_POLL_SCHEDULE_NOTIFY) ? in.kh : 0);
}

static void do_fallocate(struct rf_req *req, struct args *a)
{
	struct fuse_fallocate_in in;

	DECODE("fallocate_in", take(a, &in, sizeof(in)));
	req->fi.fh = in.fh;
	/* It changes data like a WRITE of the range. */
	ADMIT(.fh = { in.fh }, .role = { RF_HOLD_WRITE }, .off = { in.offset },
	      .len = { in.length });
	if (!req->se->ops.fallocate)
		return (void)rf_reply_err(req, -ENOSYS);
	req->se->ops.fallocate(req, req->in.nodeid, (int)in.mode, (off_t)in.offset,
			       (off_t)in.length, &req->fi);
}

static void do_copy_file_range(struct rf_req *req, struct args *a)
{
	struct fuse_copy_file_range_in in;

	DECODE("copy_file_range_in", take(a, &in, sizeof(in)));
	req->fi.fh = in.fh_in;
	req->fi2.fh = in.fh_out;
	/* Reads one fh, writes the other: ordered on both. */
	ADMIT(.fh = { in.fh_in, in.fh_out }, .role = { RF_HOLD_READ, RF_HOLD_WRITE },
	      .off = { in.off_in, in.off_out }, .len = { in.len, in.len },
	      .nodeid2 = in.nodeid_out);
	if (!req->se->ops.copy_file_range)
		return (void)rf_reply_err(req, -ENOSYS);
	req->se->ops.copy_file_range(req, req->in.nodeid, (off_t)in.off_in, &req->fi,
				     in.nodeid_out, (off_t)in.off_out, &req->fi2, in.len,
				     (int)in.flags);
}

static void do_lseek(struct rf_req *req, struct args *a)
{
	struct fuse_lseek_in in;

	DECODE("lseek_in", take(a, &in, sizeof(in)));
	req->fi.fh = in.fh;
	ADMIT_FH(in.fh, RF_HOLD_PLAIN);
	if (!req->se->ops.lseek)
		return (void)rf_reply_err(req, -ENOSYS);
	req->se->ops.lseek(req, req->in.nodeid, (off_t)in.offset, (int)in.whence, &req->fi);
}

static void do_syncfs(struct rf_req *req, struct args *a)
{
	struct fuse_syncfs_in in;

	DECODE("syncfs_in", take(a, &in, sizeof(in)));
	if (!req->se->ops.syncfs)
		return (void)rf_reply_err(req, -ENOSYS);
	req->se->ops.syncfs(req, req->in.nodeid);
}

static void do_statx(struct rf_req *req, struct args *a)
{
	struct fuse_statx_in in;
	struct rf_file *fi = NULL;

	DECODE("statx_in", take(a, &in, sizeof(in)));
	if (in.getattr_flags & FUSE_GETATTR_FH) {
		fi = &req->fi;
		fi->fh = in.fh;
		ADMIT_FH(in.fh, RF_HOLD_PLAIN);
	}
	if (!req->se->ops.statx)
		return (void)rf_reply_err(req, -ENOSYS);
	req->se->ops.statx(req, req->in.nodeid, (int)in.sx_flags, (int)in.sx_mask, fi);
}

static void do_notify_reply(struct rf_req *req, struct args *a)
{
	struct fuse_notify_retrieve_in in;
	const void *data;

	if (!take(a, &in, sizeof(in)) || !(data = take_bytes(a, in.size))) {
		rf__warn("malformed NOTIFY_REPLY (len %u) dropped", req->in_len);
		rf_reply_none(req);
		return;
	}
	rf__notify_retrieve_reply(req, req->in.unique, req->in.nodeid, (off_t)in.offset, data,
				  in.size);
	rf_reply_none(req);
}

/* ---- the opcode table -------------------------------------------------------------------- */

struct opdesc {
	const char *name;
	void (*fn)(struct rf_req *req, struct args *a);
};

static const struct opdesc ops_table[] = {
	[FUSE_LOOKUP] = { "LOOKUP", do_lookup },
	[FUSE_FORGET] = { "FORGET", do_forget },
	[FUSE_GETATTR] = { "GETATTR", do_getattr },
	[FUSE_SETATTR] = { "SETATTR", do_setattr },
	[FUSE_READLINK] = { "READLINK", do_readlink },
	[FUSE_SYMLINK] = { "SYMLINK", do_symlink },
	[FUSE_MKNOD] = { "MKNOD", do_mknod },
	[FUSE_MKDIR] = { "MKDIR", do_mkdir },
	[FUSE_UNLINK] = { "UNLINK", do_unlink },
	[FUSE_RMDIR] = { "RMDIR", do_rmdir },
	[FUSE_RENAME] = { "RENAME", do_rename },
	[FUSE_LINK] = { "LINK", do_link },
	[FUSE_OPEN] = { "OPEN", do_open },
	[FUSE_READ] = { "READ", do_read },
	[FUSE_WRITE] = { "WRITE", do_write },
	[FUSE_STATFS] = { "STATFS", do_statfs },
	[FUSE_RELEASE] = { "RELEASE", do_release },
	[FUSE_FSYNC] = { "FSYNC", do_fsync },
	[FUSE_SETXATTR] = { "SETXATTR", do_setxattr },
	[FUSE_GETXATTR] = { "GETXATTR", do_getxattr },
	[FUSE_LISTXATTR] = { "LISTXATTR", do_listxattr },
	[FUSE_REMOVEXATTR] = { "REMOVEXATTR", do_removexattr },
	[FUSE_FLUSH] = { "FLUSH", do_flush },
	[FUSE_INIT] = { "INIT", do_init },
	[FUSE_OPENDIR] = { "OPENDIR", do_opendir },
	[FUSE_READDIR] = { "READDIR", do_readdir },
	[FUSE_RELEASEDIR] = { "RELEASEDIR", do_releasedir },
	[FUSE_FSYNCDIR] = { "FSYNCDIR", do_fsyncdir },
	[FUSE_GETLK] = { "GETLK", do_getlk },
	[FUSE_SETLK] = { "SETLK", do_setlk },
	[FUSE_SETLKW] = { "SETLKW", do_setlkw },
	[FUSE_ACCESS] = { "ACCESS", do_access },
	[FUSE_CREATE] = { "CREATE", do_create },
	[FUSE_INTERRUPT] = { "INTERRUPT", do_interrupt },
	[FUSE_BMAP] = { "BMAP", do_bmap },
	[FUSE_DESTROY] = { "DESTROY", do_destroy },
	[FUSE_IOCTL] = { "IOCTL", do_ioctl },
	[FUSE_POLL] = { "POLL", do_poll },
	[FUSE_NOTIFY_REPLY] = { "NOTIFY_REPLY", do_notify_reply },
	[FUSE_BATCH_FORGET] = { "BATCH_FORGET", do_batch_forget },
	[FUSE_FALLOCATE] = { "FALLOCATE", do_fallocate },
	[FUSE_READDIRPLUS] = { "READDIRPLUS", do_readdirplus },
	[FUSE_RENAME2] = { "RENAME2", do_rename2 },
	[FUSE_LSEEK] = { "LSEEK", do_lseek },
	[FUSE_COPY_FILE_RANGE] = { "COPY_FILE_RANGE", do_copy_file_range },
	[FUSE_SETUPMAPPING] = { "SETUPMAPPING", NULL },
	[FUSE_REMOVEMAPPING] = { "REMOVEMAPPING", NULL },
	[FUSE_SYNCFS] = { "SYNCFS", do_syncfs },
	[FUSE_TMPFILE] = { "TMPFILE", do_tmpfile },
	[FUSE_STATX] = { "STATX", do_statx },
	[FUSE_COPY_FILE_RANGE_64] = { "COPY_FILE_RANGE_64", NULL },
};

const char *rf__opname(uint32_t opcode)
{
	if (opcode < RF_ARRAY_SIZE(ops_table) && ops_table[opcode].name)
		return ops_table[opcode].name;
	return opcode == CUSE_INIT ? "CUSE_INIT" : "UNKNOWN";
}

static void args_of(const struct rf_req *req, struct args *a);

/* Messages that name no file, or that are bookkeeping of their own. */
static bool no_order(uint32_t opcode)
{
	return opcode == FUSE_INIT || opcode == FUSE_FORGET || opcode == FUSE_BATCH_FORGET ||
	       opcode == FUSE_INTERRUPT || opcode == FUSE_NOTIFY_REPLY || opcode == FUSE_DESTROY;
}

void rf__dispatch(struct rf_req *req)
{
	struct rf_session *se = req->se;
	const struct opdesc *op;
	struct args a;
	uint32_t extlen;

	if (req->in_len < sizeof(struct fuse_in_header)) {
		/* Without a whole header there is no unique to answer to. */
		rf__warn("request of %u bytes is shorter than the FUSE header; dropped",
			 req->in_len);
		rf__chan_free_slot(req);
		return;
	}
	memcpy(&req->in, req->buf, sizeof(req->in));
	if (!req->ch->uring) {
		/* /dev/fuse: the reply is encoded behind the request in the same slot. */
		req->out_off = (uint32_t)RF_ALIGN(req->in_len, 16);
		req->out_hdr = req->buf + req->out_off;
		req->payload = req->out_hdr + sizeof(struct fuse_out_header);
		req->payload_cap = req->ch->bufsize - req->out_off -
				   (uint32_t)sizeof(struct fuse_out_header);
	}
	req->ctx.uid = req->in.uid;
	req->ctx.gid = req->in.gid;
	req->ctx.pid = (pid_t)req->in.pid;
	req->ctx.umask = 0;
	memset(&req->fi, 0, sizeof(req->fi));
	memset(&req->fi2, 0, sizeof(req->fi2));
	if (se->debug)
		rf__info("<- %s unique %llu nodeid %llu len %u uid %u pid %u",
			 rf__opname(req->in.opcode), (unsigned long long)req->in.unique,
			 (unsigned long long)req->in.nodeid, req->in.len, req->in.uid, req->in.pid);

	if (req->in.len != req->in_len) {
		/* The header must describe exactly the message we got. */
		return bad_request(req, "header length differs from the message length");
	}
	extlen = (uint32_t)req->in.total_extlen * 8;
	if (extlen > req->in_len - sizeof(struct fuse_in_header))
		return bad_request(req, "extension length past the end of the message");
	args_of(req, &a);

	if (!atomic_load_explicit(&se->initialized, memory_order_acquire) &&
	    req->in.opcode != FUSE_INIT) {
		rf__warn("%s before INIT; answered EIO", rf__opname(req->in.opcode));
		rf_reply_err(req, -EIO);
		return;
	}
	if (rf__access_refused(req))
		return;
	op = req->in.opcode < RF_ARRAY_SIZE(ops_table) ? &ops_table[req->in.opcode] : NULL;
	if (!op || !op->fn) {
		if (se->debug || !op || !op->name)
			rf__info("opcode %u (%s) not implemented: ENOSYS", req->in.opcode,
				 rf__opname(req->in.opcode));
		rf_reply_err(req, -ENOSYS);
		return;
	}
	if (!no_order(req->in.opcode))
		rf__order_enter(req);
	op->fn(req, &a);
}

/* The argument view of a request whose header was validated by rf__dispatch. */
static void args_of(const struct rf_req *req, struct args *a)
{
	a->p = req->buf + sizeof(struct fuse_in_header);
	a->left = req->in_len - sizeof(struct fuse_in_header) - (size_t)req->in.total_extlen * 8;
}

void rf__dispatch_resume(struct rf_req *req)
{
	struct args a;

	/* Parked requests come back with their bytes untouched in the slot. */
	req->state = RF_REQ_HANDLER;
	args_of(req, &a);
	ops_table[req->in.opcode].fn(req, &a);
}
