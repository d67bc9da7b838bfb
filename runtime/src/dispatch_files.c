/* SPDX-License-Identifier: MIT */
/*
 * dispatch_files.c - the decoders of requests on open files: OPEN/CREATE/TMPFILE,
 * FLUSH/FSYNC/RELEASE, READDIR, locks, IOCTL, POLL, FALLOCATE, COPY_FILE_RANGE, LSEEK,
 * and the bookkeeping messages INTERRUPT and NOTIFY_REPLY. Each names its fh with a role
 * for the ordering chains (order.c) before the filesystem sees it.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>

#include "decode.h"

/* ---- open files --------------------------------------------------------------------- */

static void do_open_common(struct rf_req *req, struct args *a,
			   void (*op)(struct rf_req *, uint64_t, struct rf_file *))
{
	struct fuse_open_in in;

	DECODE("open_in", take(a, &in, sizeof(in)));
	req->fi.flags = (int)in.flags;
	req->fi.kill_priv = !!(in.open_flags & FUSE_OPEN_KILL_SUIDGID);
	if (!op)
		return (void)rf__reply_default(req);
	op(req, req->in.nodeid, &req->fi);
}

void rf__do_open(struct rf_req *req, struct args *a)
{
	do_open_common(req, a, req->se->ops.open);
}

void rf__do_opendir(struct rf_req *req, struct args *a)
{
	do_open_common(req, a, req->se->ops.opendir);
}

void rf__do_create(struct rf_req *req, struct args *a)
{
	struct fuse_create_in in;
	const char *name;

	DECODE("create_in", take_exact(a, &in, sizeof(in),
					minor(req) >= 12 ? sizeof(in) : 8));
	DECODE("name", (name = take_name(a)));
	req->ctx.umask = in.umask;
	req->fi.flags = (int)in.flags;
	req->fi.kill_priv = !!(in.open_flags & FUSE_OPEN_KILL_SUIDGID);
	CALL(create, req, req->in.nodeid, name, in.mode, &req->fi);
}

void rf__do_tmpfile(struct rf_req *req, struct args *a)
{
	struct fuse_create_in in;

	DECODE("create_in", take(a, &in, sizeof(in)));
	req->ctx.umask = in.umask;
	req->fi.flags = (int)in.flags;
	CALL(tmpfile, req, req->in.nodeid, in.mode, &req->fi);
}

void rf__do_flush(struct rf_req *req, struct args *a)
{
	struct fuse_flush_in in;

	DECODE("flush_in", take(a, &in, sizeof(in)));
	req->fi.fh = in.fh;
	req->fi.lock_owner = in.lock_owner;
	req->fi.flush = 1;
	ADMIT_FH(in.fh, RF_HOLD_BARRIER);
	CALL(flush, req, req->in.nodeid, &req->fi);
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
		return (void)rf__reply_default(req);
	op(req, req->in.nodeid, &req->fi);
}

void rf__do_release(struct rf_req *req, struct args *a)
{
	release_common(req, a, req->se->ops.release);
}

void rf__do_releasedir(struct rf_req *req, struct args *a)
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
		return (void)rf__reply_default(req);
	op(req, req->in.nodeid, !!(in.fsync_flags & FUSE_FSYNC_FDATASYNC), &req->fi);
}

void rf__do_fsync(struct rf_req *req, struct args *a)
{
	fsync_common(req, a, req->se->ops.fsync);
}

void rf__do_fsyncdir(struct rf_req *req, struct args *a)
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
		return (void)rf__reply_default(req);
	op(req, req->in.nodeid, in.size, (off_t)in.offset, &req->fi);
}

void rf__do_readdir(struct rf_req *req, struct args *a)
{
	readdir_common(req, a, req->se->ops.readdir);
}

void rf__do_readdirplus(struct rf_req *req, struct args *a)
{
	readdir_common(req, a, req->se->ops.readdirplus);
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

void rf__do_getlk(struct rf_req *req, struct args *a)
{
	struct fuse_lk_in in;
	struct flock fl;

	DECODE("lk_in", take(a, &in, sizeof(in)));
	DECODE("lock range", in.lk.end >= in.lk.start);
	req->fi.fh = in.fh;
	req->fi.lock_owner = in.owner;
	ADMIT_FH(in.fh, RF_HOLD_PLAIN);
	lk_decode(&in, &fl);
	CALL(getlk, req, req->in.nodeid, &req->fi, &fl);
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
		CALL(flock, req, req->in.nodeid, &req->fi, op);
		return;
	}
	lk_decode(&in, &fl);
	CALL(setlk, req, req->in.nodeid, &req->fi, &fl, sleep);
}

void rf__do_setlk(struct rf_req *req, struct args *a)
{
	setlk_common(req, a, 0);
}

void rf__do_setlkw(struct rf_req *req, struct args *a)
{
	setlk_common(req, a, 1);
}

/* ---- the rest -------------------------------------------------------------------------- */

void rf__do_interrupt(struct rf_req *req, struct args *a)
{
	struct fuse_interrupt_in in;

	if (!take(a, &in, sizeof(in))) {
		rf__warn("malformed INTERRUPT (len %u) dropped", req->in_len);
		rf_reply_none(req);
		return;
	}
	/* Applied now, or held until its request arrives (answered EAGAIN if it does not
	 * come soon); the interrupted request itself still gets its own, single reply. */
	rf__interrupt(req, in.unique);
}

void rf__do_bmap(struct rf_req *req, struct args *a)
{
	struct fuse_bmap_in in;

	DECODE("bmap_in", take(a, &in, sizeof(in)));
	CALL(bmap, req, req->in.nodeid, in.blocksize, in.block);
}

void rf__do_ioctl(struct rf_req *req, struct args *a)
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
	/* Only a CUSE device that asked for them gets ioctls of any command: the kernel
	 * sends them nowhere else. */
	if ((in.flags & FUSE_IOCTL_UNRESTRICTED) && !rf__cuse_unrestricted(req->se))
		return (void)rf_reply_err(req, -ENOSYS);
	CALL(ioctl, req, req->in.nodeid, in.cmd, (void *)(uintptr_t)in.arg, &req->fi,
			   in.flags, in.in_size ? in_buf : NULL, in.in_size, in.out_size);
}

void rf__do_poll(struct rf_req *req, struct args *a)
{
	struct fuse_poll_in in;

	DECODE("poll_in", take(a, &in, sizeof(in)));
	req->fi.fh = in.fh;
	req->fi.poll_events = in.events;
	ADMIT_FH(in.fh, RF_HOLD_PLAIN);
	CALL(poll, req, req->in.nodeid, &req->fi,
			  (in.flags & FUSE_POLL_SCHEDULE_NOTIFY) ? in.kh : 0);
}

void rf__do_fallocate(struct rf_req *req, struct args *a)
{
	struct fuse_fallocate_in in;

	DECODE("fallocate_in", take(a, &in, sizeof(in)));
	req->fi.fh = in.fh;
	/* It changes data like a WRITE of the range. */
	ADMIT(.fh = { in.fh }, .role = { RF_HOLD_WRITE }, .off = { in.offset },
	      .len = { in.length });
	CALL(fallocate, req, req->in.nodeid, (int)in.mode, (off_t)in.offset,
			       (off_t)in.length, &req->fi);
}

void rf__do_copy_file_range(struct rf_req *req, struct args *a)
{
	struct fuse_copy_file_range_in in;

	DECODE("copy_file_range_in", take(a, &in, sizeof(in)));
	req->fi.fh = in.fh_in;
	req->fi2.fh = in.fh_out;
	/* Reads one fh, writes the other: ordered on both. */
	ADMIT(.fh = { in.fh_in, in.fh_out }, .role = { RF_HOLD_READ, RF_HOLD_WRITE },
	      .off = { in.off_in, in.off_out }, .len = { in.len, in.len },
	      .nodeid2 = in.nodeid_out);
	CALL(copy_file_range, req, req->in.nodeid, (off_t)in.off_in, &req->fi,
				     in.nodeid_out, (off_t)in.off_out, &req->fi2, in.len,
				     (int)in.flags);
}

void rf__do_lseek(struct rf_req *req, struct args *a)
{
	struct fuse_lseek_in in;

	DECODE("lseek_in", take(a, &in, sizeof(in)));
	req->fi.fh = in.fh;
	ADMIT_FH(in.fh, RF_HOLD_PLAIN);
	CALL(lseek, req, req->in.nodeid, (off_t)in.offset, (int)in.whence, &req->fi);
}

void rf__do_syncfs(struct rf_req *req, struct args *a)
{
	struct fuse_syncfs_in in;

	DECODE("syncfs_in", take(a, &in, sizeof(in)));
	CALL(syncfs, req, req->in.nodeid);
}

void rf__do_notify_reply(struct rf_req *req, struct args *a)
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

