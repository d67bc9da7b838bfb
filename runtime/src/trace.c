/* SPDX-License-Identifier: MIT */
/*
 * trace.c - the -d log of each request: its opcode, unique, node id and caller, and the
 * arguments that say what it is about (fh, offsets, sizes, flags, names), read from the
 * message with the same bounds checks as the decoders. Only built into the log when the
 * session runs with debug; the reply's line is reply.c's (errno name and latency).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "decode.h"

/* Append to a fixed line; a full line is simply cut. */
struct line {
	char buf[512];
	size_t len;
};

static void add(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (l->len >= sizeof(l->buf))
		return;
	va_start(ap, fmt);
	n = vsnprintf(l->buf + l->len, sizeof(l->buf) - l->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len += (size_t)n;
}

/* A name argument, printed with its length bounded (it may be anything). */
static void add_name(struct line *l, const char *what, struct args *a)
{
	const char *name = take_name(a);

	if (name)
		add(l, " %s \"%.200s\"", what, name);
}

/* The leading fixed-size struct of the arguments, zero-filled if the message is shorter
 * (a malformed request is reported by its decoder, not here). */
#define ARG(type, v) struct type v; take_compat(a, &v, sizeof(v), 0)

static void describe(struct line *l, uint32_t opcode, struct args *a)
{
	switch (opcode) {
	case FUSE_LOOKUP: case FUSE_UNLINK: case FUSE_RMDIR: case FUSE_REMOVEXATTR:
		add_name(l, "name", a);
		break;
	case FUSE_FORGET: {
		ARG(fuse_forget_in, in);
		add(l, " nlookup %" PRIu64, (uint64_t)in.nlookup);
		break;
	}
	case FUSE_BATCH_FORGET: {
		ARG(fuse_batch_forget_in, in);
		add(l, " count %u", in.count);
		break;
	}
	case FUSE_GETATTR: case FUSE_STATX: {
		ARG(fuse_getattr_in, in);
		add(l, " flags 0x%x fh %" PRIu64, in.getattr_flags, (uint64_t)in.fh);
		break;
	}
	case FUSE_SETATTR: {
		ARG(fuse_setattr_in, in);
		add(l, " valid 0x%x fh %" PRIu64 " size %" PRIu64 " mode 0%o uid %u gid %u", in.valid,
		    (uint64_t)in.fh, (uint64_t)in.size, in.mode, in.uid, in.gid);
		break;
	}
	case FUSE_MKNOD: {
		ARG(fuse_mknod_in, in);
		add(l, " mode 0%o rdev %u umask 0%o", in.mode, in.rdev, in.umask);
		add_name(l, "name", a);
		break;
	}
	case FUSE_MKDIR: {
		ARG(fuse_mkdir_in, in);
		add(l, " mode 0%o umask 0%o", in.mode, in.umask);
		add_name(l, "name", a);
		break;
	}
	case FUSE_SYMLINK:
		add_name(l, "name", a);
		add_name(l, "target", a);
		break;
	case FUSE_RENAME: case FUSE_RENAME2: {
		uint64_t newdir = 0;
		uint32_t flags = 0;

		if (opcode == FUSE_RENAME) {
			ARG(fuse_rename_in, in);
			newdir = in.newdir;
		} else {
			ARG(fuse_rename2_in, in);
			newdir = in.newdir;
			flags = in.flags;
		}
		add(l, " newdir %" PRIu64 " flags 0x%x", newdir, flags);
		add_name(l, "name", a);
		add_name(l, "newname", a);
		break;
	}
	case FUSE_LINK: {
		ARG(fuse_link_in, in);
		add(l, " oldnodeid %" PRIu64, (uint64_t)in.oldnodeid);
		add_name(l, "name", a);
		break;
	}
	case FUSE_OPEN: case FUSE_OPENDIR: {
		ARG(fuse_open_in, in);
		add(l, " flags 0%o", in.flags);
		break;
	}
	case FUSE_CREATE: case FUSE_TMPFILE: {
		ARG(fuse_create_in, in);
		add(l, " flags 0%o mode 0%o umask 0%o", in.flags, in.mode, in.umask);
		add_name(l, "name", a);
		break;
	}
	case FUSE_READ: case FUSE_READDIR: case FUSE_READDIRPLUS: {
		ARG(fuse_read_in, in);
		add(l, " fh %" PRIu64 " off %" PRIu64 " size %u", (uint64_t)in.fh,
		    (uint64_t)in.offset, in.size);
		break;
	}
	case FUSE_WRITE: {
		ARG(fuse_write_in, in);
		add(l, " fh %" PRIu64 " off %" PRIu64 " size %u flags 0x%x", (uint64_t)in.fh,
		    (uint64_t)in.offset, in.size, in.write_flags);
		break;
	}
	case FUSE_RELEASE: case FUSE_RELEASEDIR: {
		ARG(fuse_release_in, in);
		add(l, " fh %" PRIu64 " flags 0%o release_flags 0x%x", (uint64_t)in.fh, in.flags,
		    in.release_flags);
		break;
	}
	case FUSE_FLUSH: {
		ARG(fuse_flush_in, in);
		add(l, " fh %" PRIu64, (uint64_t)in.fh);
		break;
	}
	case FUSE_FSYNC: case FUSE_FSYNCDIR: {
		ARG(fuse_fsync_in, in);
		add(l, " fh %" PRIu64 " flags 0x%x", (uint64_t)in.fh, in.fsync_flags);
		break;
	}
	case FUSE_SETXATTR: case FUSE_GETXATTR: case FUSE_LISTXATTR: {
		ARG(fuse_getxattr_in, in);
		add(l, " size %u", in.size);
		if (opcode == FUSE_GETXATTR)
			add_name(l, "name", a);
		break;
	}
	case FUSE_ACCESS: {
		ARG(fuse_access_in, in);
		add(l, " mask 0%o", in.mask);
		break;
	}
	case FUSE_GETLK: case FUSE_SETLK: case FUSE_SETLKW: {
		ARG(fuse_lk_in, in);
		add(l, " fh %" PRIu64 " type %u start %" PRIu64 " end %" PRIu64 " flags 0x%x",
		    (uint64_t)in.fh, in.lk.type, (uint64_t)in.lk.start, (uint64_t)in.lk.end,
		    in.lk_flags);
		break;
	}
	case FUSE_INTERRUPT: {
		ARG(fuse_interrupt_in, in);
		add(l, " of unique %" PRIu64, (uint64_t)in.unique);
		break;
	}
	case FUSE_IOCTL: {
		ARG(fuse_ioctl_in, in);
		add(l, " fh %" PRIu64 " cmd 0x%x in %u out %u", (uint64_t)in.fh, in.cmd, in.in_size,
		    in.out_size);
		break;
	}
	case FUSE_POLL: {
		ARG(fuse_poll_in, in);
		add(l, " fh %" PRIu64 " kh %" PRIu64, (uint64_t)in.fh, (uint64_t)in.kh);
		break;
	}
	case FUSE_FALLOCATE: {
		ARG(fuse_fallocate_in, in);
		add(l, " fh %" PRIu64 " off %" PRIu64 " len %" PRIu64 " mode 0x%x", (uint64_t)in.fh,
		    (uint64_t)in.offset, (uint64_t)in.length, in.mode);
		break;
	}
	case FUSE_LSEEK: {
		ARG(fuse_lseek_in, in);
		add(l, " fh %" PRIu64 " off %" PRIu64 " whence %u", (uint64_t)in.fh,
		    (uint64_t)in.offset, in.whence);
		break;
	}
	case FUSE_COPY_FILE_RANGE: {
		ARG(fuse_copy_file_range_in, in);
		add(l, " fh %" PRIu64 " off %" PRIu64 " -> node %" PRIu64 " fh %" PRIu64
		    " off %" PRIu64 " len %" PRIu64, (uint64_t)in.fh_in, (uint64_t)in.off_in,
		    (uint64_t)in.nodeid_out, (uint64_t)in.fh_out, (uint64_t)in.off_out,
		    (uint64_t)in.len);
		break;
	}
	case FUSE_INIT: {
		ARG(fuse_init_in, in);
		add(l, " kernel %u.%u flags 0x%x max_readahead %u", in.major, in.minor, in.flags,
		    in.max_readahead);
		break;
	}
	default:
		break;
	}
}

void rf__trace_request(struct rf_req *req, const struct args *args)
{
	struct args a = *args;
	struct line l = { .len = 0 };

	add(&l, "<- %s unique %" PRIu64 " node %" PRIu64 " uid %u gid %u pid %u",
	    rf__opname(req->in.opcode), (uint64_t)req->in.unique, (uint64_t)req->in.nodeid,
	    req->in.uid, req->in.gid, req->in.pid);
	describe(&l, req->in.opcode, &a);
	rf__dbg("%s", l.buf);
}
