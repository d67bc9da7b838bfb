/* SPDX-License-Identifier: MIT */
/*
 * ops.c - the table of memfs's handlers, and the requests about the whole filesystem:
 * INIT (the capabilities memfs wants), STATFS, SYNCFS.
 */
#include "memfs.h"

#include <string.h>
#include <sys/statvfs.h>

static void mf_init(void *userdata, struct rf_conn *conn)
{
	conn->want |= RF_CAP_READDIRPLUS;
	/* Set-id bits are dropped here, with the caller's groups at hand (kill_privs). */
	conn->want |= RF_CAP_HANDLE_KILLPRIV_V2;
	/* Without writeback cache every write reaches us at the kernel's offset. */
	conn->want &= ~RF_CAP_WRITEBACK_CACHE;
	conn->time_gran = 1;
}

/* Nothing is cached between us and the kernel: a sync has nothing to do. */
static void mf_syncfs(struct rf_req *req, uint64_t ino)
{
	rf_reply_err(req, 0);
}

static void mf_statfs(struct rf_req *req, uint64_t ino)
{
	struct memfs *fs = rf_req_userdata(req);
	struct statvfs st;

	memset(&st, 0, sizeof(st));
	fs_lock(fs);
	st.f_bsize = PG_SIZE;
	st.f_frsize = PG_SIZE;
	st.f_blocks = fs->max_pages;
	st.f_bfree = st.f_bavail = fs->max_pages > fs->used_pages ?
					   fs->max_pages - fs->used_pages : 0;
	st.f_files = fs->max_inodes;
	st.f_ffree = st.f_favail = fs->max_inodes > fs->ninodes ? fs->max_inodes - fs->ninodes : 0;
	st.f_namemax = MF_NAME_MAX;
	fs_unlock(fs);
	rf_reply_statfs(req, &st);
}

const struct rf_ops memfs_ops = {
	.init = mf_init,
	.lookup = mf_lookup,
	.forget = mf_forget,
	.getattr = mf_getattr,
	.setattr = mf_setattr,
	.readlink = mf_readlink,
	.mknod = mf_mknod,
	.mkdir = mf_mkdir,
	.unlink = mf_unlink,
	.rmdir = mf_rmdir,
	.symlink = mf_symlink,
	.rename = mf_rename,
	.link = mf_link,
	.open = mf_open,
	.read = mf_read,
	.write = mf_write,
	.flush = mf_flush,
	.release = mf_release,
	.fsync = mf_fsync,
	.opendir = mf_opendir,
	.readdir = mf_readdir,
	.readdirplus = mf_readdirplus,
	.releasedir = mf_releasedir,
	.fsyncdir = mf_fsync,
	.statfs = mf_statfs,
	.setxattr = mf_setxattr,
	.getxattr = mf_getxattr,
	.listxattr = mf_listxattr,
	.removexattr = mf_removexattr,
	/* .access stays NULL: default_permissions makes the kernel check modes. */
	.create = mf_create,
	.fallocate = mf_fallocate,
	.copy_file_range = mf_copy_file_range,
	.lseek = mf_lseek,
	.tmpfile = mf_tmpfile,
	.statx = mf_statx,
	.syncfs = mf_syncfs,
};
