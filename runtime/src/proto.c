/* SPDX-License-Identifier: MIT */
/*
 * proto.c - facts of the FUSE protocol that do not depend on any state: each opcode's
 * name, the fewest argument bytes any protocol minor sends with it, and what it gets when
 * a filesystem leaves its operation NULL; attribute and timeout encoding for replies.
 */
#include <string.h>

#include "base.h"

/* A name argument: at least one byte and its NUL. */
#define NAME 2

/* "FUSE_LOOKUP" -> "LOOKUP" */
#define OP(code, min, ...) [code] = { .name = &#code[5], .min_in = (uint16_t)(min), __VA_ARGS__ }

static const struct rf_opinfo opinfo[] = {
	OP(FUSE_LOOKUP, NAME),
	OP(FUSE_FORGET, sizeof(struct fuse_forget_in), .no_reply = true),
	OP(FUSE_GETATTR, 0),        /* minors < 9 send no getattr_in */
	OP(FUSE_SETATTR, sizeof(struct fuse_setattr_in)),
	OP(FUSE_READLINK, 0),
	OP(FUSE_SYMLINK, 2 * NAME),
	OP(FUSE_MKNOD, FUSE_COMPAT_MKNOD_IN_SIZE + NAME),
	OP(FUSE_MKDIR, sizeof(struct fuse_mkdir_in) + NAME),
	OP(FUSE_UNLINK, NAME),
	OP(FUSE_RMDIR, NAME),
	OP(FUSE_RENAME, sizeof(struct fuse_rename_in) + 2 * NAME),
	OP(FUSE_LINK, sizeof(struct fuse_link_in) + NAME),
	OP(FUSE_OPEN, sizeof(struct fuse_open_in), .dflt = RF_DFLT_OPEN),
	OP(FUSE_READ, 24),          /* read_in before 7.9 */
	OP(FUSE_WRITE, FUSE_COMPAT_WRITE_IN_SIZE),
	OP(FUSE_STATFS, 0, .dflt = RF_DFLT_STATFS),
	OP(FUSE_RELEASE, 16, .dflt = RF_DFLT_OK),
	OP(FUSE_FSYNC, sizeof(struct fuse_fsync_in)),
	OP(FUSE_SETXATTR, FUSE_COMPAT_SETXATTR_IN_SIZE + NAME),
	OP(FUSE_GETXATTR, sizeof(struct fuse_getxattr_in) + NAME),
	OP(FUSE_LISTXATTR, sizeof(struct fuse_getxattr_in)),
	OP(FUSE_REMOVEXATTR, NAME),
	OP(FUSE_FLUSH, sizeof(struct fuse_flush_in)),
	OP(FUSE_INIT, 16),
	OP(FUSE_OPENDIR, sizeof(struct fuse_open_in), .dflt = RF_DFLT_OPEN),
	OP(FUSE_READDIR, 24),
	OP(FUSE_RELEASEDIR, 16, .dflt = RF_DFLT_OK),
	OP(FUSE_FSYNCDIR, sizeof(struct fuse_fsync_in)),
	OP(FUSE_GETLK, sizeof(struct fuse_lk_in)),
	OP(FUSE_SETLK, sizeof(struct fuse_lk_in)),
	OP(FUSE_SETLKW, sizeof(struct fuse_lk_in)),
	OP(FUSE_ACCESS, sizeof(struct fuse_access_in)),
	OP(FUSE_CREATE, 8 + NAME),  /* create_in before 7.12 */
	OP(FUSE_INTERRUPT, sizeof(struct fuse_interrupt_in), .no_reply = true),
	OP(FUSE_BMAP, sizeof(struct fuse_bmap_in)),
	OP(FUSE_DESTROY, 0),
	OP(FUSE_IOCTL, sizeof(struct fuse_ioctl_in)),
	OP(FUSE_POLL, sizeof(struct fuse_poll_in)),
	OP(FUSE_NOTIFY_REPLY, sizeof(struct fuse_notify_retrieve_in), .no_reply = true),
	OP(FUSE_BATCH_FORGET, sizeof(struct fuse_batch_forget_in), .no_reply = true),
	OP(FUSE_FALLOCATE, sizeof(struct fuse_fallocate_in)),
	OP(FUSE_READDIRPLUS, 24),
	OP(FUSE_RENAME2, sizeof(struct fuse_rename2_in) + 2 * NAME),
	OP(FUSE_LSEEK, sizeof(struct fuse_lseek_in)),
	OP(FUSE_COPY_FILE_RANGE, sizeof(struct fuse_copy_file_range_in)),
	OP(FUSE_SETUPMAPPING, 0),
	OP(FUSE_REMOVEMAPPING, 0),
	OP(FUSE_SYNCFS, sizeof(struct fuse_syncfs_in)),
	OP(FUSE_TMPFILE, sizeof(struct fuse_create_in)),
	OP(FUSE_STATX, sizeof(struct fuse_statx_in)),
	OP(FUSE_COPY_FILE_RANGE_64, 0),
};

const struct rf_opinfo *rf__opinfo(uint32_t opcode)
{
	static const struct rf_opinfo none;

	return opcode < RF_ARRAY_SIZE(opinfo) ? &opinfo[opcode] : &none;
}

const char *rf__opname(uint32_t opcode)
{
	const struct rf_opinfo *op = rf__opinfo(opcode);

	if (op->name)
		return op->name;
	return opcode == CUSE_INIT ? "CUSE_INIT" : "UNKNOWN";
}

uint64_t rf__timeout_sec(double t, uint32_t *nsec)
{
	uint64_t sec;

	if (!(t > 0)) {             /* also catches NaN */
		*nsec = 0;
		return 0;
	}
	if (t >= 18446744073.0) {   /* ~584 years: treat as "forever" without overflow */
		*nsec = 999999999;
		return UINT64_MAX / 1000000000ull;
	}
	sec = (uint64_t)t;
	*nsec = (uint32_t)((t - (double)sec) * 1e9);
	if (*nsec > 999999999)
		*nsec = 999999999;
	return sec;
}

void rf__fill_attr(struct fuse_attr *fa, const struct stat *st)
{
	memset(fa, 0, sizeof(*fa));
	fa->ino = st->st_ino;
	fa->size = (uint64_t)st->st_size;
	fa->blocks = (uint64_t)st->st_blocks;
	fa->atime = (uint64_t)st->st_atim.tv_sec;
	fa->mtime = (uint64_t)st->st_mtim.tv_sec;
	fa->ctime = (uint64_t)st->st_ctim.tv_sec;
	fa->atimensec = (uint32_t)st->st_atim.tv_nsec;
	fa->mtimensec = (uint32_t)st->st_mtim.tv_nsec;
	fa->ctimensec = (uint32_t)st->st_ctim.tv_nsec;
	fa->mode = st->st_mode;
	fa->nlink = (uint32_t)st->st_nlink;
	fa->uid = st->st_uid;
	fa->gid = st->st_gid;
	fa->rdev = (uint32_t)st->st_rdev;
	fa->blksize = (uint32_t)st->st_blksize;
}
