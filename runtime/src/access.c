/* SPDX-License-Identifier: MIT */
/*
 * access.c - allow_root, which the kernel cannot enforce: the mount has allow_other, and
 * the runtime refuses requests from any uid but the mounting user's and root's, before
 * they reach the filesystem (as libfuse does).
 */
#include <errno.h>

#include "internal.h"

/*
 * Requests every caller may send. Bookkeeping first: they carry no caller's intent
 * (FORGET, INTERRUPT, DESTROY, NOTIFY_REPLY) or refusing them would leak (RELEASE*).
 * Then work on a file that is already open: the open was checked, and the kernel sends
 * these with the credentials of whoever holds the descriptor now (a passed fd, writeback
 * of dirty pages, close in another process), as libfuse lets them through.
 */
static bool exempt(uint32_t opcode)
{
	switch (opcode) {
	case FUSE_INIT:
	case FUSE_DESTROY:
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
	case FUSE_NOTIFY_REPLY:
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR:
	case FUSE_READ:
	case FUSE_WRITE:
	case FUSE_FLUSH:
	case FUSE_FSYNC:
	case FUSE_READDIR:
	case FUSE_READDIRPLUS:
	case FUSE_FSYNCDIR:
		return true;
	default:
		return false;
	}
}

bool rf__access_refused(struct rf_req *req)
{
	const struct rf_session *se = req->se;
	uint32_t uid = req->in.uid;

	if (!se->opts.allow_root || uid == 0 || uid == (uint32_t)se->owner ||
	    exempt(req->in.opcode))
		return false;
	rf_reply_err(req, -EACCES);
	return true;
}
