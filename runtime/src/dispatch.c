/* SPDX-License-Identifier: MIT */
/*
 * dispatch.c - where a request enters the layers above the transport: the header is
 * checked, the request takes its place in the session's arrival order (order.c), and its
 * opcode's decoder runs (READ and WRITE here, the hot path; dispatch_names.c,
 * dispatch_files.c and init.c for the rest), which checks every length, count and name,
 * passes the ordering chains and calls the filesystem. What each opcode gets when its
 * operation is NULL, and the fewest argument bytes it may have, are protocol facts
 * (proto.c). docs/architecture.md §2 follows one READ through these files.
 * A malformed request is answered EIO (or dropped) here and never reaches the filesystem.
 */
#include <errno.h>
#include <string.h>

#include "decode.h"

/* ---- READ and WRITE: the hot path, decoded here ------------------------------------- */

static void do_read(struct rf_req *req, struct args *a)
{
	struct fuse_read_in in;
	size_t cap;

	DECODE("read_in", take_read_in(req, a, &in));
	rf__reply_payload(req, &cap);
	DECODE("read size beyond the negotiated maximum", in.size <= cap);
	ADMIT(.fh = { in.fh }, .role = { RF_HOLD_READ }, .off = { in.offset }, .len = { in.size });
	CALL(read, req, req->in.nodeid, in.size, (off_t)in.offset, &req->fi);
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
	CALL(write, req, req->in.nodeid, data, in.size, (off_t)in.offset, &req->fi);
}

/* ---- the opcode table and the way in --------------------------------------------------- */

typedef void (*rf_decoder)(struct rf_req *req, struct args *a);

static const rf_decoder decoders[] = {
	[FUSE_LOOKUP] = rf__do_lookup,
	[FUSE_FORGET] = rf__do_forget,
	[FUSE_GETATTR] = rf__do_getattr,
	[FUSE_SETATTR] = rf__do_setattr,
	[FUSE_READLINK] = rf__do_readlink,
	[FUSE_SYMLINK] = rf__do_symlink,
	[FUSE_MKNOD] = rf__do_mknod,
	[FUSE_MKDIR] = rf__do_mkdir,
	[FUSE_UNLINK] = rf__do_unlink,
	[FUSE_RMDIR] = rf__do_rmdir,
	[FUSE_RENAME] = rf__do_rename,
	[FUSE_LINK] = rf__do_link,
	[FUSE_OPEN] = rf__do_open,
	[FUSE_READ] = do_read,
	[FUSE_WRITE] = do_write,
	[FUSE_STATFS] = rf__do_statfs,
	[FUSE_RELEASE] = rf__do_release,
	[FUSE_FSYNC] = rf__do_fsync,
	[FUSE_SETXATTR] = rf__do_setxattr,
	[FUSE_GETXATTR] = rf__do_getxattr,
	[FUSE_LISTXATTR] = rf__do_listxattr,
	[FUSE_REMOVEXATTR] = rf__do_removexattr,
	[FUSE_FLUSH] = rf__do_flush,
	[FUSE_INIT] = rf__do_init,
	[FUSE_OPENDIR] = rf__do_opendir,
	[FUSE_READDIR] = rf__do_readdir,
	[FUSE_RELEASEDIR] = rf__do_releasedir,
	[FUSE_FSYNCDIR] = rf__do_fsyncdir,
	[FUSE_GETLK] = rf__do_getlk,
	[FUSE_SETLK] = rf__do_setlk,
	[FUSE_SETLKW] = rf__do_setlkw,
	[FUSE_ACCESS] = rf__do_access,
	[FUSE_CREATE] = rf__do_create,
	[FUSE_INTERRUPT] = rf__do_interrupt,
	[FUSE_BMAP] = rf__do_bmap,
	[FUSE_DESTROY] = rf__do_destroy,
	[FUSE_IOCTL] = rf__do_ioctl,
	[FUSE_POLL] = rf__do_poll,
	[FUSE_NOTIFY_REPLY] = rf__do_notify_reply,
	[FUSE_BATCH_FORGET] = rf__do_batch_forget,
	[FUSE_FALLOCATE] = rf__do_fallocate,
	[FUSE_READDIRPLUS] = rf__do_readdirplus,
	[FUSE_RENAME2] = rf__do_rename2,
	[FUSE_LSEEK] = rf__do_lseek,
	[FUSE_COPY_FILE_RANGE] = rf__do_copy_file_range,
	[FUSE_SYNCFS] = rf__do_syncfs,
	[FUSE_TMPFILE] = rf__do_tmpfile,
	[FUSE_STATX] = rf__do_statx,
};

/* Messages that name no file, or that are bookkeeping of their own. */
static bool no_order(uint32_t opcode)
{
	return opcode == FUSE_INIT || opcode == CUSE_INIT || opcode == FUSE_FORGET || opcode == FUSE_BATCH_FORGET ||
	       opcode == FUSE_INTERRUPT || opcode == FUSE_NOTIFY_REPLY || opcode == FUSE_DESTROY;
}

/* The argument view of a request whose header was validated by rf__dispatch. */
static void args_of(const struct rf_req *req, struct args *a)
{
	a->p = req->buf + sizeof(struct fuse_in_header);
	a->left = req->in_len - sizeof(struct fuse_in_header) - (size_t)req->in.total_extlen * 8;
}

static rf_decoder decoder_of(uint32_t opcode)
{
	if (opcode == CUSE_INIT)
		return rf__do_cuse_init;
	return opcode < RF_ARRAY_SIZE(decoders) ? decoders[opcode] : NULL;
}

void rf__dispatch(struct rf_req *req)
{
	struct rf_session *se = req->se;
	rf_decoder decode;
	struct rf_req *early;
	struct args a;
	uint32_t extlen;

	if (req->in_len < sizeof(struct fuse_in_header)) {
		/* Without a whole header there is no unique to answer to. */
		rf__warn("request of %u bytes is shorter than the FUSE header; dropped",
			 req->in_len);
		rf__req_drop(req);
		return;
	}
	memcpy(&req->in, req->buf, sizeof(req->in));
	rf__stats_received(req);
	req->ctx.uid = req->in.uid;
	req->ctx.gid = req->in.gid;
	req->ctx.pid = (pid_t)req->in.pid;
	req->ctx.umask = 0;
	memset(&req->fi, 0, sizeof(req->fi));
	memset(&req->fi2, 0, sizeof(req->fi2));
	req->after_send = NULL;
	if (req->in.len != req->in_len) {
		/* The header must describe exactly the message we got. */
		return rf__bad_request(req, "header length differs from the message length");
	}
	extlen = (uint32_t)req->in.total_extlen * 8;
	if (extlen > req->in_len - sizeof(struct fuse_in_header))
		return rf__bad_request(req, "extension length past the end of the message");
	args_of(req, &a);
	if (se->debug)
		rf__trace_request(req, &a);

	if (!atomic_load_explicit(&se->initialized, memory_order_acquire) &&
	    req->in.opcode != (se->cuse ? CUSE_INIT : FUSE_INIT)) {
		rf__warn("%s before INIT; answered EIO", rf__opname(req->in.opcode));
		rf_reply_err(req, -EIO);
		return;
	}
	/* destroy is the filesystem's last call (ringfuse.h): what the kernel sends after its
	 * DESTROY, the teardown's RELEASEs included, must not reach a filesystem that is gone. */
	if (se->destroyed)
		return rf__bad_request(req, "after DESTROY");
	if (rf__access_refused(req))
		return;
	decode = decoder_of(req->in.opcode);
	if (!decode) {
		if (se->debug || !rf__opinfo(req->in.opcode)->name)
			rf__info("opcode %u (%s) not implemented: ENOSYS", req->in.opcode,
				 rf__opname(req->in.opcode));
		rf_reply_err(req, -ENOSYS);
		return;
	}
	if (a.left < rf__opinfo(req->in.opcode)->min_in)
		return rf__bad_request(req, "shorter than the opcode's arguments");
	if (!no_order(req->in.opcode) && (early = rf__order_enter(req)))
		rf__interrupt_early(req, early);
	decode(req, &a);
}

void rf__dispatch_resume(struct rf_req *req)
{
	struct args a;

	/* Parked requests come back with their bytes untouched in the slot. */
	req->state = RF_REQ_HANDLER;
	args_of(req, &a);
	decoder_of(req->in.opcode)(req, &a);
}
