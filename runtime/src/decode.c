/* SPDX-License-Identifier: MIT */
/*
 * decode.c - the two answers every decoder may give without the filesystem: EIO for a
 * malformed request (dropped, for the opcodes the kernel expects no answer to), and the
 * protocol's default for an operation the filesystem left NULL (proto.c says which).
 */
#include <errno.h>
#include <string.h>
#include <sys/statvfs.h>

#include "decode.h"

void rf__bad_request(struct rf_req *req, const char *why)
{
	/* Opcodes the kernel expects no answer to: a malformed one is dropped. */
	bool no_reply = rf__opinfo(req->in.opcode)->no_reply;

	rf__warn("malformed %s request (unique %llu, len %u): %s; %s",
		 rf__opname(req->in.opcode), (unsigned long long)req->in.unique, req->in_len, why,
		 no_reply ? "dropped" : "answered EIO");
	if (no_reply)
		rf_reply_none(req);
	else
		rf_reply_err(req, -EIO);
}


int rf__reply_default(struct rf_req *req)
{
	struct statvfs st;

	switch (rf__opinfo(req->in.opcode)->dflt) {
	case RF_DFLT_OK:
		return rf_reply_err(req, 0);
	case RF_DFLT_OPEN:
		/* A stateless open with fh 0. */
		return rf_reply_open(req, &req->fi);
	case RF_DFLT_STATFS:
		/* An empty filesystem with 255-byte names. */
		memset(&st, 0, sizeof(st));
		st.f_namemax = 255;
		st.f_bsize = 512;
		return rf_reply_statfs(req, &st);
	default:
		return rf_reply_err(req, -ENOSYS);
	}
}
