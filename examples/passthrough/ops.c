/* SPDX-License-Identifier: MIT */
/*
 * ops.c - the ops table, INIT (what passthrough asks of the kernel per cache mode), and the
 * filesystem-wide requests STATFS and SYNCFS.
 */
#include "passthrough.h"

#include <sys/statvfs.h>

static void pt_statfs(struct rf_req *req, uint64_t ino)
{
	struct pt_fs *fs = fs_of(req);
	struct pt_inode *in = iget(fs, ino);
	struct statvfs sv;
	int fd, r;

	if (!in)
		in = iget(fs, 1);
	if (!in)
		return (void)rf_reply_err(req, -ESTALE);
	fd = ifd_get(fs, in);
	/* A file closed on unlink still lives on the source's filesystem, as a rule. */
	r = fstatvfs(fd >= 0 ? fd : fs->root_dirfd, &sv) < 0 ? -errno : 0;
	ifd_put(in, fd);
	if (r < 0)
		rf_reply_err(req, r);
	else
		rf_reply_statfs(req, &sv);
	iput(fs, in);
}

static int do_syncfs(void *arg)
{
	struct pt_fs *fs = arg;

	return syncfs(fs->root_dirfd) < 0 ? -errno : 0;
}

static void pt_syncfs(struct rf_req *req, uint64_t ino)
{
	int r = rf_backing_call(req, do_syncfs, fs_of(req), NULL, NULL);

	if (r < 0)
		rf_reply_err(req, r);
}

/* ---- session ---------------------------------------------------------------------------- */

static void pt_init(void *userdata, struct rf_conn *conn)
{
	struct pt_fs *fs = userdata;

	conn->want |= RF_CAP_HANDLE_KILLPRIV_V2;
	/* Without POSIX_ACL the kernel checks the mode bits alone: a source ACL that denies
	 * one user (user:bob:---) or the owning group would be ignored, and we open as root. */
	if (fs->acl) {
		if (conn->capable & RF_CAP_POSIX_ACL)
			conn->want |= RF_CAP_POSIX_ACL;
		else
			fprintf(stderr, "passthrough: the kernel offers no POSIX_ACL: source ACLs "
				"are not enforced through the mount\n");
	}
	if (fs->cache == CACHE_NEVER)
		conn->want |= RF_CAP_DIRECT_IO_ALLOW_MMAP;
	if (fs->cache == CACHE_ALWAYS) {
		conn->want |= RF_CAP_CACHE_SYMLINKS;
		/* The source changes only through this mount (the mode's promise), so a
		 * changed mtime in an attribute reply is our own write's doing: with
		 * AUTO_INVAL_DATA the kernel would drop the cache for it, and a READ that
		 * overtakes the write refills it with the old bytes for good
		 * (docs/kernel-notes.md §13). */
		conn->want &= ~RF_CAP_AUTO_INVAL_DATA;
	}
	if (fs->writeback && fs->cache == CACHE_NEVER) {
		/* Every open is direct: the kernel would keep mtime to itself and never
		 * update it on those writes. */
		fprintf(stderr, "passthrough: writeback ignored: cache=never opens are direct\n");
		fs->writeback = false;
	}
	if (fs->writeback) {
		if (conn->capable & RF_CAP_WRITEBACK_CACHE) {
			conn->want |= RF_CAP_WRITEBACK_CACHE;
		} else {
			fprintf(stderr, "passthrough: writeback: the kernel does not offer it\n");
			fs->writeback = false;
		}
	}
	if (!fs->want_passthrough)
		return;
	if (fs->writeback)
		fprintf(stderr, "passthrough: kernel passthrough not used: the kernel refuses it "
			"together with -o writeback\n");
	else if (!(conn->capable & RF_CAP_PASSTHROUGH))
		fprintf(stderr, "passthrough: kernel passthrough not used: the kernel does not "
			"offer it (needs Linux >= 6.9 with CONFIG_FUSE_PASSTHROUGH)\n");
	else {
		conn->want |= RF_CAP_PASSTHROUGH;
		conn->max_stack_depth = 1;
		atomic_store(&fs->passthrough, true);
	}
}

const struct rf_ops pt_ops = {
	.init = pt_init,
	.lookup = pt_lookup,
	.forget = pt_forget,
	.getattr = pt_getattr,
	.setattr = pt_setattr,
	.readlink = pt_readlink,
	.mknod = pt_mknod,
	.mkdir = pt_mkdir,
	.unlink = pt_unlink,
	.rmdir = pt_rmdir,
	.symlink = pt_symlink,
	.rename = pt_rename,
	.link = pt_link,
	.open = pt_open,
	.read = pt_read,
	.write = pt_write,
	.flush = pt_flush,
	.release = pt_release,
	.fsync = pt_fsync,
	.opendir = pt_opendir,
	.readdir = pt_readdir,
	.readdirplus = pt_readdirplus,
	.releasedir = pt_releasedir,
	.fsyncdir = pt_fsyncdir,
	.statfs = pt_statfs,
	.setxattr = pt_setxattr,
	.getxattr = pt_getxattr,
	.listxattr = pt_listxattr,
	.removexattr = pt_removexattr,
	.create = pt_create,
	.getlk = pt_getlk,
	.setlk = pt_setlk,
	.flock = pt_flock,
	.fallocate = pt_fallocate,
	.copy_file_range = pt_copy_file_range,
	.lseek = pt_lseek,
	.tmpfile = pt_tmpfile,
	.statx = pt_statx,
	.syncfs = pt_syncfs,
};
