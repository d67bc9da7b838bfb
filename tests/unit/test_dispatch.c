/* SPDX-License-Identifier: MIT */
/*
 * test_dispatch.c - every opcode reaches its rf_ops handler with its arguments decoded as
 * the kernel encoded them; with a NULL operation the runtime sends the documented default.
 *
 * Requests that name a file handle first OPEN it, as the kernel does: the handler returns
 * the fh the test chose, and later requests carry it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/xattr.h>
#include <sys/stat.h>
#include <linux/fs.h>

#include <criterion/criterion.h>

#include "fake_kernel.h"

/* What the last handler call received. */
static struct call {
	int n;                       /* handler calls */
	uint32_t opcode;
	uint64_t unique;
	struct rf_ctx ctx;
	uint64_t ino, ino2;
	char name[300], name2[300];
	size_t size, len;
	off_t off, off2;
	int flags, mode, mask, to_set, datasync, sleep, lkop, whence;
	dev_t rdev;
	bool has_fi;
	struct rf_file fi, fi2;
	struct stat st;
	struct flock fl;
	char data[256];
	size_t dlen;
	bool data_null;
	unsigned int cmd, ioflags;
	void *arg;
	size_t in_size, out_size;
	uint64_t ph;
	uint64_t idx;
	uint64_t forget[8][2];
	int nforgets;
	int destroys, inits;
} c;

/* The fh OPEN/OPENDIR/CREATE hand out. */
static uint64_t next_fh = 0x1234;

static void rec(struct rf_req *req)
{
	c.n++;
	c.opcode = rf_req_opcode(req);
	c.unique = rf_req_unique(req);
	c.ctx = *rf_req_ctx(req);
}

static void rec_fi(const struct rf_file *fi)
{
	c.has_fi = fi != NULL;
	if (fi)
		c.fi = *fi;
}

static void rec_name(char *dst, const char *name)
{
	snprintf(dst, 300, "%s", name);
}

static void h_init(void *ud, struct rf_conn *conn)
{
	c.inits++;
}

static void h_destroy(void *ud)
{
	c.destroys++;
}

static void h_lookup(struct rf_req *req, uint64_t parent, const char *name)
{
	rec(req);
	c.ino = parent;
	rec_name(c.name, name);
	rf_reply_err(req, -ENOENT);
}

static void h_forget(void *ud, uint64_t ino, uint64_t nlookup)
{
	c.n++;
	if (c.nforgets < 8) {
		c.forget[c.nforgets][0] = ino;
		c.forget[c.nforgets][1] = nlookup;
	}
	c.nforgets++;
}

static void h_getattr(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	rec(req);
	c.ino = ino;
	rec_fi(fi);
	rf_reply_err(req, 0);
}

static void h_setattr(struct rf_req *req, uint64_t ino, const struct stat *attr, int to_set,
		      struct rf_file *fi)
{
	rec(req);
	c.ino = ino;
	c.st = *attr;
	c.to_set = to_set;
	rec_fi(fi);
	rf_reply_err(req, 0);
}

static void h_readlink(struct rf_req *req, uint64_t ino)
{
	rec(req);
	c.ino = ino;
	rf_reply_err(req, 0);
}

static void h_mknod(struct rf_req *req, uint64_t parent, const char *name, mode_t mode,
		    dev_t rdev)
{
	rec(req);
	c.ino = parent;
	rec_name(c.name, name);
	c.mode = (int)mode;
	c.rdev = rdev;
	rf_reply_err(req, 0);
}

static void h_mkdir(struct rf_req *req, uint64_t parent, const char *name, mode_t mode)
{
	rec(req);
	c.ino = parent;
	rec_name(c.name, name);
	c.mode = (int)mode;
	rf_reply_err(req, 0);
}

static void h_unlink(struct rf_req *req, uint64_t parent, const char *name)
{
	rec(req);
	c.ino = parent;
	rec_name(c.name, name);
	rf_reply_err(req, 0);
}

static void h_rmdir(struct rf_req *req, uint64_t parent, const char *name)
{
	h_unlink(req, parent, name);
}

static void h_symlink(struct rf_req *req, const char *target, uint64_t parent,
		      const char *name)
{
	rec(req);
	c.ino = parent;
	rec_name(c.name, name);
	rec_name(c.name2, target);
	rf_reply_err(req, 0);
}

static void h_rename(struct rf_req *req, uint64_t parent, const char *name, uint64_t newparent,
		     const char *newname, unsigned int flags)
{
	rec(req);
	c.ino = parent;
	c.ino2 = newparent;
	rec_name(c.name, name);
	rec_name(c.name2, newname);
	c.flags = (int)flags;
	rf_reply_err(req, 0);
}

static void h_link(struct rf_req *req, uint64_t ino, uint64_t newparent, const char *newname)
{
	rec(req);
	c.ino = ino;
	c.ino2 = newparent;
	rec_name(c.name, newname);
	rf_reply_err(req, 0);
}

static void h_open(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	rec(req);
	c.ino = ino;
	rec_fi(fi);
	fi->fh = next_fh;
	rf_reply_open(req, fi);
}

static void h_read(struct rf_req *req, uint64_t ino, size_t size, off_t off,
		   struct rf_file *fi)
{
	rec(req);
	c.ino = ino;
	c.size = size;
	c.off = off;
	rec_fi(fi);
	rf_reply_buf(req, "abc", 3);
}

static void h_write(struct rf_req *req, uint64_t ino, const void *buf, size_t size, off_t off,
		    struct rf_file *fi)
{
	rec(req);
	c.ino = ino;
	c.size = size;
	c.off = off;
	c.data_null = buf == NULL;
	c.dlen = size < sizeof(c.data) ? size : sizeof(c.data);
	if (buf && c.dlen)
		memcpy(c.data, buf, c.dlen);
	rec_fi(fi);
	rf_reply_write(req, size);
}

static void h_fi_only(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	rec(req);
	c.ino = ino;
	rec_fi(fi);
	rf_reply_err(req, 0);
}

static void h_fsync(struct rf_req *req, uint64_t ino, int datasync, struct rf_file *fi)
{
	rec(req);
	c.ino = ino;
	c.datasync = datasync;
	rec_fi(fi);
	rf_reply_err(req, 0);
}

static void h_readdir(struct rf_req *req, uint64_t ino, size_t size, off_t off,
		      struct rf_file *fi)
{
	rec(req);
	c.ino = ino;
	c.size = size;
	c.off = off;
	rec_fi(fi);
	rf_reply_buf(req, NULL, 0);
}

static void h_statfs(struct rf_req *req, uint64_t ino)
{
	struct statvfs st = { .f_bsize = 4096, .f_blocks = 10, .f_namemax = 99 };

	rec(req);
	c.ino = ino;
	rf_reply_statfs(req, &st);
}

static void h_setxattr(struct rf_req *req, uint64_t ino, const char *name, const void *value,
		       size_t size, int flags)
{
	rec(req);
	c.ino = ino;
	rec_name(c.name, name);
	c.size = size;
	c.flags = flags;
	c.dlen = size < sizeof(c.data) ? size : sizeof(c.data);
	if (c.dlen)
		memcpy(c.data, value, c.dlen);
	rf_reply_err(req, 0);
}

static void h_getxattr(struct rf_req *req, uint64_t ino, const char *name, size_t size)
{
	rec(req);
	c.ino = ino;
	rec_name(c.name, name);
	c.size = size;
	if (size == 0)
		rf_reply_xattr_size(req, 5);
	else
		rf_reply_buf(req, "value", 5);
}

static void h_listxattr(struct rf_req *req, uint64_t ino, size_t size)
{
	rec(req);
	c.ino = ino;
	c.size = size;
	rf_reply_xattr_size(req, 12);
}

static void h_removexattr(struct rf_req *req, uint64_t ino, const char *name)
{
	rec(req);
	c.ino = ino;
	rec_name(c.name, name);
	rf_reply_err(req, 0);
}

static void h_access(struct rf_req *req, uint64_t ino, int mask)
{
	rec(req);
	c.ino = ino;
	c.mask = mask;
	rf_reply_err(req, 0);
}

static void h_create(struct rf_req *req, uint64_t parent, const char *name, mode_t mode,
		     struct rf_file *fi)
{
	struct rf_entry e = { .ino = 77, .attr_timeout = 1, .entry_timeout = 1 };

	rec(req);
	c.ino = parent;
	rec_name(c.name, name);
	c.mode = (int)mode;
	rec_fi(fi);
	e.attr.st_mode = S_IFREG | (mode & 07777);
	fi->fh = next_fh;
	rf_reply_create(req, &e, fi);
}

static void h_getlk(struct rf_req *req, uint64_t ino, struct rf_file *fi, struct flock *lock)
{
	rec(req);
	c.ino = ino;
	rec_fi(fi);
	c.fl = *lock;
	rf_reply_lock(req, lock);
}

static void h_setlk(struct rf_req *req, uint64_t ino, struct rf_file *fi, struct flock *lock,
		    int sleep)
{
	rec(req);
	c.ino = ino;
	rec_fi(fi);
	c.fl = *lock;
	c.sleep = sleep;
	rf_reply_err(req, 0);
}

static void h_flock(struct rf_req *req, uint64_t ino, struct rf_file *fi, int op)
{
	rec(req);
	c.ino = ino;
	rec_fi(fi);
	c.lkop = op;
	rf_reply_err(req, 0);
}

static void h_bmap(struct rf_req *req, uint64_t ino, size_t blocksize, uint64_t idx)
{
	rec(req);
	c.ino = ino;
	c.size = blocksize;
	c.idx = idx;
	rf_reply_bmap(req, idx + 1000);
}

static void h_ioctl(struct rf_req *req, uint64_t ino, unsigned int cmd, void *arg,
		    struct rf_file *fi, unsigned int flags, const void *in_buf, size_t in_size,
		    size_t out_size)
{
	rec(req);
	c.ino = ino;
	c.cmd = cmd;
	c.arg = arg;
	rec_fi(fi);
	c.ioflags = flags;
	c.in_size = in_size;
	c.out_size = out_size;
	c.data_null = in_buf == NULL;
	c.dlen = in_size < sizeof(c.data) ? in_size : sizeof(c.data);
	if (in_buf && c.dlen)
		memcpy(c.data, in_buf, c.dlen);
	rf_reply_ioctl(req, 42, "out!", out_size < 4 ? out_size : 4);
}

static void h_poll(struct rf_req *req, uint64_t ino, struct rf_file *fi, uint64_t ph)
{
	rec(req);
	c.ino = ino;
	rec_fi(fi);
	c.ph = ph;
	rf_reply_poll(req, POLLIN);
}

static void h_fallocate(struct rf_req *req, uint64_t ino, int mode, off_t off, off_t len,
			struct rf_file *fi)
{
	rec(req);
	c.ino = ino;
	c.mode = mode;
	c.off = off;
	c.len = (size_t)len;
	rec_fi(fi);
	rf_reply_err(req, 0);
}

static void h_copy_file_range(struct rf_req *req, uint64_t ino_in, off_t off_in,
			      struct rf_file *fi_in, uint64_t ino_out, off_t off_out,
			      struct rf_file *fi_out, size_t len, int flags)
{
	rec(req);
	c.ino = ino_in;
	c.off = off_in;
	rec_fi(fi_in);
	c.ino2 = ino_out;
	c.off2 = off_out;
	c.fi2 = *fi_out;
	c.len = len;
	c.flags = flags;
	rf_reply_write(req, len);
}

static void h_lseek(struct rf_req *req, uint64_t ino, off_t off, int whence, struct rf_file *fi)
{
	rec(req);
	c.ino = ino;
	c.off = off;
	c.whence = whence;
	rec_fi(fi);
	rf_reply_lseek(req, off + 1);
}

static void h_tmpfile(struct rf_req *req, uint64_t parent, mode_t mode, struct rf_file *fi)
{
	struct rf_entry e = { .ino = 78, .attr_timeout = 1, .entry_timeout = 1 };

	rec(req);
	c.ino = parent;
	c.mode = (int)mode;
	rec_fi(fi);
	fi->fh = next_fh;
	rf_reply_create(req, &e, fi);
}

static void h_statx(struct rf_req *req, uint64_t ino, int flags, int mask, struct rf_file *fi)
{
	rec(req);
	c.ino = ino;
	c.flags = flags;
	c.mask = mask;
	rec_fi(fi);
	rf_reply_err(req, 0);
}

static void h_syncfs(struct rf_req *req, uint64_t ino)
{
	rec(req);
	c.ino = ino;
	rf_reply_err(req, 0);
}

static const struct rf_ops all_ops = {
	.init = h_init,
	.destroy = h_destroy,
	.lookup = h_lookup,
	.forget = h_forget,
	.getattr = h_getattr,
	.setattr = h_setattr,
	.readlink = h_readlink,
	.mknod = h_mknod,
	.mkdir = h_mkdir,
	.unlink = h_unlink,
	.rmdir = h_rmdir,
	.symlink = h_symlink,
	.rename = h_rename,
	.link = h_link,
	.open = h_open,
	.read = h_read,
	.write = h_write,
	.flush = h_fi_only,
	.release = h_fi_only,
	.fsync = h_fsync,
	.opendir = h_open,
	.readdir = h_readdir,
	.readdirplus = h_readdir,
	.releasedir = h_fi_only,
	.fsyncdir = h_fsync,
	.statfs = h_statfs,
	.setxattr = h_setxattr,
	.getxattr = h_getxattr,
	.listxattr = h_listxattr,
	.removexattr = h_removexattr,
	.access = h_access,
	.create = h_create,
	.getlk = h_getlk,
	.setlk = h_setlk,
	.flock = h_flock,
	.bmap = h_bmap,
	.ioctl = h_ioctl,
	.poll = h_poll,
	.fallocate = h_fallocate,
	.copy_file_range = h_copy_file_range,
	.lseek = h_lseek,
	.tmpfile = h_tmpfile,
	.statx = h_statx,
	.syncfs = h_syncfs,
};

static struct fk fk;

static bool forgets_reach(void *arg)
{
	return c.nforgets >= *(int *)arg;
}

static void wait_forgets(int n)
{
	cr_assert(fk_pump_until(&fk, forgets_reach, &n, FK_WAIT_MS), "%d of %d forgets ran",
		  c.nforgets, n);
}

static void start(void)
{
	memset(&c, 0, sizeof(c));
	fk_setup(&fk, &all_ops, NULL, NULL);
	fk_init(&fk);
	cr_assert_eq(c.inits, 1);
}

/* OPEN (or OPENDIR) @ino and have the handler hand out @fh. */
static void open_fh(uint32_t opcode, uint64_t ino, uint64_t fh)
{
	struct fuse_open_in in = { .flags = O_RDWR };
	const struct fk_msg *m;
	struct fuse_open_out oo;

	next_fh = fh;
	m = fk_expect_reply(&fk, fk_send(&fk, opcode, ino, &in, sizeof(in)), 0, sizeof(oo));
	memcpy(&oo, m->payload, sizeof(oo));
	cr_assert_eq(oo.fh, fh);
	memset(&c, 0, sizeof(c));
}

static void expect_call(uint32_t opcode, uint64_t unique)
{
	cr_assert_eq(c.n, 1, "%d handler calls for opcode %u", c.n, opcode);
	cr_assert_eq(c.opcode, opcode, "handler saw opcode %u, expected %u", c.opcode, opcode);
	cr_assert_eq(c.unique, unique);
	cr_assert_eq(c.ctx.uid, 1000);
	cr_assert_eq(c.ctx.gid, 100);
	cr_assert_eq(c.ctx.pid, 4242);
}

/* ---- names and inodes ----------------------------------------------------------------- */

Test(dispatch, lookup_gets_parent_and_name, .timeout = 10)
{
	uint64_t u;

	start();
	u = fk_send_name(&fk, FUSE_LOOKUP, 5, NULL, 0, "hello.txt");
	fk_expect_reply(&fk, u, -ENOENT, 0);
	expect_call(FUSE_LOOKUP, u);
	cr_assert_eq(c.ino, 5);
	cr_assert_str_eq(c.name, "hello.txt");
	cr_assert_eq(c.ctx.umask, 0);
	fk_teardown(&fk);
}

Test(dispatch, forget_gets_inode_and_count_and_no_reply, .timeout = 10)
{
	struct fuse_forget_in in = { .nlookup = 7 };

	start();
	fk_send(&fk, FUSE_FORGET, 9, &in, sizeof(in));
	wait_forgets(1);
	fk_expect_no_reply(&fk, 30);
	cr_assert_eq(c.nforgets, 1);
	cr_assert_eq(c.forget[0][0], 9);
	cr_assert_eq(c.forget[0][1], 7);
	fk_teardown(&fk);
}

Test(dispatch, batch_forget_gets_every_entry_and_no_reply, .timeout = 10)
{
	struct {
		struct fuse_batch_forget_in in;
		struct fuse_forget_one one[3];
	} msg = { { .count = 3 }, { { 10, 1 }, { 11, 2 }, { 12, 300 } } };

	start();
	fk_send(&fk, FUSE_BATCH_FORGET, 0, &msg, sizeof(msg));
	wait_forgets(3);
	fk_expect_no_reply(&fk, 30);
	cr_assert_eq(c.nforgets, 3);
	cr_assert_eq(c.forget[0][0], 10);
	cr_assert_eq(c.forget[0][1], 1);
	cr_assert_eq(c.forget[1][0], 11);
	cr_assert_eq(c.forget[1][1], 2);
	cr_assert_eq(c.forget[2][0], 12);
	cr_assert_eq(c.forget[2][1], 300);
	/* The server is still serving. */
	fk_expect_reply(&fk, fk_send_name(&fk, FUSE_LOOKUP, 1, NULL, 0, "x"), -ENOENT, 0);
	fk_teardown(&fk);
}

Test(dispatch, getattr_without_and_with_fh, .timeout = 10)
{
	struct fuse_getattr_in in = { 0 };
	uint64_t u;

	start();
	u = fk_send(&fk, FUSE_GETATTR, 3, &in, sizeof(in));
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_GETATTR, u);
	cr_assert_eq(c.ino, 3);
	cr_assert_not(c.has_fi, "fi passed without FUSE_GETATTR_FH");

	open_fh(FUSE_OPEN, 3, 0xfeed);
	in.getattr_flags = FUSE_GETATTR_FH;
	in.fh = 0xfeed;
	u = fk_send(&fk, FUSE_GETATTR, 3, &in, sizeof(in));
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_GETATTR, u);
	cr_assert(c.has_fi);
	cr_assert_eq(c.fi.fh, 0xfeed);
	fk_teardown(&fk);
}

Test(dispatch, setattr_maps_every_valid_bit_and_value, .timeout = 10)
{
	struct fuse_setattr_in in;
	uint64_t u;

	start();
	memset(&in, 0, sizeof(in));
	in.valid = FATTR_MODE | FATTR_UID | FATTR_GID | FATTR_SIZE | FATTR_ATIME | FATTR_MTIME |
		   FATTR_CTIME | FATTR_KILL_SUIDGID;
	in.mode = S_IFREG | 0640;
	in.uid = 501;
	in.gid = 502;
	in.size = 1ull << 40;
	in.atime = 1000;
	in.atimensec = 1;
	in.mtime = 2000;
	in.mtimensec = 2;
	in.ctime = 3000;
	in.ctimensec = 3;
	u = fk_send(&fk, FUSE_SETATTR, 4, &in, sizeof(in));
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_SETATTR, u);
	cr_assert_eq(c.ino, 4);
	cr_assert_eq(c.to_set, RF_SET_MODE | RF_SET_UID | RF_SET_GID | RF_SET_SIZE | RF_SET_ATIME |
				       RF_SET_MTIME | RF_SET_CTIME | RF_SET_KILL_SUIDGID);
	cr_assert_eq(c.st.st_mode, S_IFREG | 0640);
	cr_assert_eq(c.st.st_uid, 501);
	cr_assert_eq(c.st.st_gid, 502);
	cr_assert_eq(c.st.st_size, (off_t)(1ull << 40));
	cr_assert_eq(c.st.st_atim.tv_sec, 1000);
	cr_assert_eq(c.st.st_atim.tv_nsec, 1);
	cr_assert_eq(c.st.st_mtim.tv_sec, 2000);
	cr_assert_eq(c.st.st_mtim.tv_nsec, 2);
	cr_assert_eq(c.st.st_ctim.tv_sec, 3000);
	cr_assert_eq(c.st.st_ctim.tv_nsec, 3);
	cr_assert_not(c.has_fi);

	/* *_NOW, and an fh with a lock owner (ftruncate). */
	open_fh(FUSE_OPEN, 4, 0xabc);
	memset(&in, 0, sizeof(in));
	in.valid = FATTR_ATIME_NOW | FATTR_MTIME_NOW | FATTR_FH | FATTR_LOCKOWNER;
	in.fh = 0xabc;
	in.lock_owner = 0x55aa;
	u = fk_send(&fk, FUSE_SETATTR, 4, &in, sizeof(in));
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_SETATTR, u);
	cr_assert_eq(c.to_set, RF_SET_ATIME_NOW | RF_SET_MTIME_NOW);
	cr_assert(c.has_fi);
	cr_assert_eq(c.fi.fh, 0xabc);
	cr_assert_eq(c.fi.lock_owner, 0x55aa);

	/* Nothing valid: an empty mask. */
	memset(&in, 0, sizeof(in));
	u = fk_send(&fk, FUSE_SETATTR, 4, &in, sizeof(in));
	fk_expect_reply(&fk, u, 0, 0);
	cr_assert_eq(c.to_set, 0);
	fk_teardown(&fk);
}

Test(dispatch, readlink_gets_inode, .timeout = 10)
{
	uint64_t u;

	start();
	u = fk_send(&fk, FUSE_READLINK, 8, NULL, 0);
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_READLINK, u);
	cr_assert_eq(c.ino, 8);
	fk_teardown(&fk);
}

Test(dispatch, mknod_gets_name_mode_rdev_and_umask, .timeout = 10)
{
	struct fuse_mknod_in in = { .mode = S_IFCHR | 0600, .rdev = 0x0103, .umask = 022 };
	uint64_t u;

	start();
	u = fk_send_name(&fk, FUSE_MKNOD, 2, &in, sizeof(in), "dev");
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_MKNOD, u);
	cr_assert_eq(c.ino, 2);
	cr_assert_str_eq(c.name, "dev");
	cr_assert_eq(c.mode, S_IFCHR | 0600);
	cr_assert_eq(c.rdev, 0x0103);
	cr_assert_eq(c.ctx.umask, 022);
	fk_teardown(&fk);
}

Test(dispatch, mkdir_gets_name_mode_and_umask, .timeout = 10)
{
	struct fuse_mkdir_in in = { .mode = S_IFDIR | 0755, .umask = 027 };
	uint64_t u;

	start();
	u = fk_send_name(&fk, FUSE_MKDIR, 2, &in, sizeof(in), "sub");
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_MKDIR, u);
	cr_assert_eq(c.ino, 2);
	cr_assert_str_eq(c.name, "sub");
	cr_assert_eq(c.mode, S_IFDIR | 0755);
	cr_assert_eq(c.ctx.umask, 027);
	fk_teardown(&fk);
}

Test(dispatch, unlink_and_rmdir_get_parent_and_name, .timeout = 10)
{
	uint64_t u;

	start();
	u = fk_send_name(&fk, FUSE_UNLINK, 6, NULL, 0, "file");
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_UNLINK, u);
	cr_assert_eq(c.ino, 6);
	cr_assert_str_eq(c.name, "file");

	memset(&c, 0, sizeof(c));
	u = fk_send_name(&fk, FUSE_RMDIR, 7, NULL, 0, "dir");
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_RMDIR, u);
	cr_assert_eq(c.ino, 7);
	cr_assert_str_eq(c.name, "dir");
	fk_teardown(&fk);
}

Test(dispatch, symlink_gets_name_then_target, .timeout = 10)
{
	uint64_t u;

	start();
	/* On the wire: the new entry's name, then the link's target. */
	u = fk_send_names(&fk, FUSE_SYMLINK, 2, NULL, 0, "link", "../some/target");
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_SYMLINK, u);
	cr_assert_eq(c.ino, 2);
	cr_assert_str_eq(c.name, "link");
	cr_assert_str_eq(c.name2, "../some/target");
	fk_teardown(&fk);
}

Test(dispatch, rename_gets_both_dirs_and_names_with_flags_0, .timeout = 10)
{
	struct fuse_rename_in in = { .newdir = 20 };
	uint64_t u;

	start();
	u = fk_send_names(&fk, FUSE_RENAME, 10, &in, sizeof(in), "old", "new");
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_RENAME, u);
	cr_assert_eq(c.ino, 10);
	cr_assert_eq(c.ino2, 20);
	cr_assert_str_eq(c.name, "old");
	cr_assert_str_eq(c.name2, "new");
	cr_assert_eq(c.flags, 0);
	fk_teardown(&fk);
}

Test(dispatch, rename2_passes_its_flags, .timeout = 10)
{
	struct fuse_rename2_in in = { .newdir = 21, .flags = RENAME_EXCHANGE };
	uint64_t u;

	start();
	u = fk_send_names(&fk, FUSE_RENAME2, 11, &in, sizeof(in), "a", "b");
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_RENAME2, u);
	cr_assert_eq(c.ino, 11);
	cr_assert_eq(c.ino2, 21);
	cr_assert_str_eq(c.name, "a");
	cr_assert_str_eq(c.name2, "b");
	cr_assert_eq(c.flags, RENAME_EXCHANGE);

	in.flags = RENAME_NOREPLACE;
	u = fk_send_names(&fk, FUSE_RENAME2, 11, &in, sizeof(in), "c", "d");
	fk_expect_reply(&fk, u, 0, 0);
	cr_assert_eq(c.flags, RENAME_NOREPLACE);
	fk_teardown(&fk);
}

Test(dispatch, link_gets_old_inode_new_parent_and_name, .timeout = 10)
{
	struct fuse_link_in in = { .oldnodeid = 33 };
	uint64_t u;

	start();
	u = fk_send_name(&fk, FUSE_LINK, 2, &in, sizeof(in), "hard");
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_LINK, u);
	cr_assert_eq(c.ino, 33);
	cr_assert_eq(c.ino2, 2);
	cr_assert_str_eq(c.name, "hard");
	fk_teardown(&fk);
}

/* ---- open files ------------------------------------------------------------------------ */

Test(dispatch, open_gets_flags_and_kill_priv_and_returns_the_fh, .timeout = 10)
{
	struct fuse_open_in in = { .flags = O_WRONLY | O_TRUNC, .open_flags = FUSE_OPEN_KILL_SUIDGID };
	const struct fk_msg *m;
	struct fuse_open_out oo;
	uint64_t u;

	start();
	next_fh = 0x1122334455667788ull;
	u = fk_send(&fk, FUSE_OPEN, 12, &in, sizeof(in));
	m = fk_expect_reply(&fk, u, 0, sizeof(oo));
	expect_call(FUSE_OPEN, u);
	cr_assert_eq(c.ino, 12);
	cr_assert_eq(c.fi.flags, O_WRONLY | O_TRUNC);
	cr_assert(c.fi.kill_priv);
	memcpy(&oo, m->payload, sizeof(oo));
	cr_assert_eq(oo.fh, 0x1122334455667788ull);
	fk_teardown(&fk);
}

Test(dispatch, read_gets_fh_offset_size_flags_and_lock_owner, .timeout = 10)
{
	struct fuse_read_in in = { .fh = 0x99, .offset = 1ull << 33, .size = 65536,
				   .read_flags = FUSE_READ_LOCKOWNER, .lock_owner = 0xdead,
				   .flags = O_RDONLY | O_DIRECT };
	const struct fk_msg *m;
	uint64_t u;

	start();
	open_fh(FUSE_OPEN, 12, 0x99);
	u = fk_send(&fk, FUSE_READ, 12, &in, sizeof(in));
	m = fk_expect_reply(&fk, u, 0, 3);
	cr_assert_eq(memcmp(m->payload, "abc", 3), 0);
	expect_call(FUSE_READ, u);
	cr_assert_eq(c.ino, 12);
	cr_assert_eq(c.size, 65536);
	cr_assert_eq(c.off, (off_t)(1ull << 33));
	cr_assert(c.has_fi);
	cr_assert_eq(c.fi.fh, 0x99);
	cr_assert_eq(c.fi.flags, O_RDONLY | O_DIRECT);
	cr_assert_eq(c.fi.lock_owner, 0xdead);

	/* Without FUSE_READ_LOCKOWNER the owner field is not passed on. */
	in.read_flags = 0;
	u = fk_send(&fk, FUSE_READ, 12, &in, sizeof(in));
	fk_expect_reply(&fk, u, 0, 3);
	cr_assert_eq(c.fi.lock_owner, 0);
	fk_teardown(&fk);
}

Test(dispatch, write_gets_data_and_every_flag, .timeout = 10)
{
	struct fuse_write_in in = { .fh = 0x77, .offset = 4096, .size = 11,
				    .write_flags = FUSE_WRITE_CACHE | FUSE_WRITE_LOCKOWNER |
						   FUSE_WRITE_KILL_SUIDGID,
				    .lock_owner = 0xbeef, .flags = O_WRONLY | O_APPEND };
	struct iovec iov[2] = { { &in, sizeof(in) }, { "hello world", 11 } };
	const struct fk_msg *m;
	struct fuse_write_out wo;
	uint64_t u;

	start();
	open_fh(FUSE_OPEN, 13, 0x77);
	u = fk_sendv(&fk, FUSE_WRITE, 13, iov, 2);
	m = fk_expect_reply(&fk, u, 0, sizeof(wo));
	memcpy(&wo, m->payload, sizeof(wo));
	cr_assert_eq(wo.size, 11);
	expect_call(FUSE_WRITE, u);
	cr_assert_eq(c.ino, 13);
	cr_assert_eq(c.size, 11);
	cr_assert_eq(c.off, 4096);
	cr_assert_eq(memcmp(c.data, "hello world", 11), 0);
	cr_assert_eq(c.fi.fh, 0x77);
	cr_assert_eq(c.fi.flags, O_WRONLY | O_APPEND);
	cr_assert(c.fi.writepage);
	cr_assert(c.fi.kill_priv);
	cr_assert_eq(c.fi.lock_owner, 0xbeef);

	in.write_flags = 0;
	in.size = 3;
	iov[1].iov_len = 3;
	u = fk_sendv(&fk, FUSE_WRITE, 13, iov, 2);
	fk_expect_reply(&fk, u, 0, sizeof(wo));
	cr_assert_not(c.fi.writepage);
	cr_assert_not(c.fi.kill_priv);
	cr_assert_eq(c.fi.lock_owner, 0);
	fk_teardown(&fk);
}

Test(dispatch, flush_gets_fh_and_lock_owner, .timeout = 10)
{
	struct fuse_flush_in in = { .fh = 0x66, .lock_owner = 0x1234 };
	uint64_t u;

	start();
	open_fh(FUSE_OPEN, 14, 0x66);
	u = fk_send(&fk, FUSE_FLUSH, 14, &in, sizeof(in));
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_FLUSH, u);
	cr_assert_eq(c.ino, 14);
	cr_assert_eq(c.fi.fh, 0x66);
	cr_assert_eq(c.fi.lock_owner, 0x1234);
	fk_teardown(&fk);
}

Test(dispatch, release_gets_fh_flags_and_release_flags, .timeout = 10)
{
	struct fuse_release_in in = { .fh = 0x55, .flags = O_RDWR,
				      .release_flags = FUSE_RELEASE_FLUSH | FUSE_RELEASE_FLOCK_UNLOCK,
				      .lock_owner = 0x4321 };
	uint64_t u;

	start();
	open_fh(FUSE_OPEN, 15, 0x55);
	u = fk_send(&fk, FUSE_RELEASE, 15, &in, sizeof(in));
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_RELEASE, u);
	cr_assert_eq(c.ino, 15);
	cr_assert_eq(c.fi.fh, 0x55);
	cr_assert_eq(c.fi.flags, O_RDWR);
	cr_assert(c.fi.flush);
	cr_assert(c.fi.flock_release);
	cr_assert_eq(c.fi.lock_owner, 0x4321);
	fk_teardown(&fk);
}

Test(dispatch, fsync_and_fsyncdir_get_datasync, .timeout = 10)
{
	struct fuse_fsync_in in = { .fh = 0x44, .fsync_flags = FUSE_FSYNC_FDATASYNC };
	uint64_t u;

	start();
	open_fh(FUSE_OPEN, 16, 0x44);
	u = fk_send(&fk, FUSE_FSYNC, 16, &in, sizeof(in));
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_FSYNC, u);
	cr_assert_eq(c.ino, 16);
	cr_assert_eq(c.datasync, 1);
	cr_assert_eq(c.fi.fh, 0x44);

	in.fsync_flags = 0;
	u = fk_send(&fk, FUSE_FSYNC, 16, &in, sizeof(in));
	fk_expect_reply(&fk, u, 0, 0);
	cr_assert_eq(c.datasync, 0);

	open_fh(FUSE_OPENDIR, 17, 0x45);
	in.fh = 0x45;
	in.fsync_flags = FUSE_FSYNC_FDATASYNC;
	u = fk_send(&fk, FUSE_FSYNCDIR, 17, &in, sizeof(in));
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_FSYNCDIR, u);
	cr_assert_eq(c.ino, 17);
	cr_assert_eq(c.datasync, 1);
	cr_assert_eq(c.fi.fh, 0x45);
	fk_teardown(&fk);
}

Test(dispatch, opendir_readdir_readdirplus_releasedir, .timeout = 10)
{
	struct fuse_open_in oin = { .flags = O_RDONLY | O_DIRECTORY };
	struct fuse_read_in rin = { .fh = 0x33, .offset = 5, .size = 4096 };
	struct fuse_release_in rel = { .fh = 0x33, .flags = O_RDONLY };
	uint64_t u;

	start();
	next_fh = 0x33;
	u = fk_send(&fk, FUSE_OPENDIR, 1, &oin, sizeof(oin));
	fk_expect_reply(&fk, u, 0, sizeof(struct fuse_open_out));
	expect_call(FUSE_OPENDIR, u);
	cr_assert_eq(c.fi.flags, O_RDONLY | O_DIRECTORY);

	memset(&c, 0, sizeof(c));
	u = fk_send(&fk, FUSE_READDIR, 1, &rin, sizeof(rin));
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_READDIR, u);
	cr_assert_eq(c.ino, 1);
	cr_assert_eq(c.size, 4096);
	cr_assert_eq(c.off, 5);
	cr_assert_eq(c.fi.fh, 0x33);

	memset(&c, 0, sizeof(c));
	rin.offset = 9;
	u = fk_send(&fk, FUSE_READDIRPLUS, 1, &rin, sizeof(rin));
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_READDIRPLUS, u);
	cr_assert_eq(c.off, 9);
	cr_assert_eq(c.fi.fh, 0x33);

	memset(&c, 0, sizeof(c));
	u = fk_send(&fk, FUSE_RELEASEDIR, 1, &rel, sizeof(rel));
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_RELEASEDIR, u);
	cr_assert_eq(c.fi.fh, 0x33);
	fk_teardown(&fk);
}

Test(dispatch, create_gets_name_mode_flags_umask_and_returns_entry_and_fh, .timeout = 10)
{
	struct fuse_create_in in = { .flags = O_CREAT | O_EXCL | O_RDWR, .mode = S_IFREG | 0644,
				     .umask = 022, .open_flags = FUSE_OPEN_KILL_SUIDGID };
	const struct fk_msg *m;
	struct fuse_entry_out eo;
	struct fuse_open_out oo;
	uint64_t u;

	start();
	next_fh = 0xc0ffee;
	u = fk_send_name(&fk, FUSE_CREATE, 2, &in, sizeof(in), "new.txt");
	m = fk_expect_reply(&fk, u, 0, sizeof(eo) + sizeof(oo));
	expect_call(FUSE_CREATE, u);
	cr_assert_eq(c.ino, 2);
	cr_assert_str_eq(c.name, "new.txt");
	cr_assert_eq(c.mode, S_IFREG | 0644);
	cr_assert_eq(c.fi.flags, O_CREAT | O_EXCL | O_RDWR);
	cr_assert(c.fi.kill_priv);
	cr_assert_eq(c.ctx.umask, 022);
	memcpy(&eo, m->payload, sizeof(eo));
	memcpy(&oo, m->payload + sizeof(eo), sizeof(oo));
	cr_assert_eq(eo.nodeid, 77);
	cr_assert_eq(oo.fh, 0xc0ffee);
	fk_teardown(&fk);
}

Test(dispatch, tmpfile_gets_mode_flags_and_umask, .timeout = 10)
{
	struct fuse_create_in in = { .flags = O_TMPFILE | O_RDWR, .mode = S_IFREG | 0600,
				     .umask = 077 };
	const struct fk_msg *m;
	struct fuse_entry_out eo;
	struct fuse_open_out oo;
	uint64_t u;

	start();
	next_fh = 0x7e;
	u = fk_send(&fk, FUSE_TMPFILE, 2, &in, sizeof(in));
	m = fk_expect_reply(&fk, u, 0, sizeof(eo) + sizeof(oo));
	expect_call(FUSE_TMPFILE, u);
	cr_assert_eq(c.ino, 2);
	cr_assert_eq(c.mode, S_IFREG | 0600);
	cr_assert_eq(c.fi.flags, O_TMPFILE | O_RDWR);
	cr_assert_eq(c.ctx.umask, 077);
	memcpy(&eo, m->payload, sizeof(eo));
	memcpy(&oo, m->payload + sizeof(eo), sizeof(oo));
	cr_assert_eq(eo.nodeid, 78);
	cr_assert_eq(oo.fh, 0x7e);
	fk_teardown(&fk);
}

/* ---- filesystem-wide, xattrs, access ------------------------------------------------------ */

Test(dispatch, statfs_reaches_the_handler, .timeout = 10)
{
	const struct fk_msg *m;
	struct fuse_statfs_out so;
	uint64_t u;

	start();
	u = fk_send(&fk, FUSE_STATFS, 1, NULL, 0);
	m = fk_expect_reply(&fk, u, 0, sizeof(so));
	expect_call(FUSE_STATFS, u);
	cr_assert_eq(c.ino, 1);
	memcpy(&so, m->payload, sizeof(so));
	cr_assert_eq(so.st.bsize, 4096);
	cr_assert_eq(so.st.blocks, 10);
	cr_assert_eq(so.st.namelen, 99);
	fk_teardown(&fk);
}

Test(dispatch, setxattr_gets_name_value_size_and_flags, .timeout = 10)
{
	struct fuse_setxattr_in in = { .size = 6, .flags = XATTR_CREATE };
	struct iovec iov[3] = { { &in, sizeof(in) }, { "user.k", 7 }, { "v\0alue", 6 } };
	uint64_t u;

	start();
	u = fk_sendv(&fk, FUSE_SETXATTR, 18, iov, 3);
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_SETXATTR, u);
	cr_assert_eq(c.ino, 18);
	cr_assert_str_eq(c.name, "user.k");
	cr_assert_eq(c.size, 6);
	cr_assert_eq(memcmp(c.data, "v\0alue", 6), 0, "value with a NUL inside is binary");
	cr_assert_eq(c.flags, XATTR_CREATE);
	fk_teardown(&fk);
}

Test(dispatch, getxattr_and_listxattr_get_name_and_size, .timeout = 10)
{
	struct fuse_getxattr_in in = { .size = 0 };
	const struct fk_msg *m;
	struct fuse_getxattr_out go;
	uint64_t u;

	start();
	u = fk_send_name(&fk, FUSE_GETXATTR, 19, &in, sizeof(in), "user.k");
	m = fk_expect_reply(&fk, u, 0, sizeof(go));
	expect_call(FUSE_GETXATTR, u);
	cr_assert_eq(c.ino, 19);
	cr_assert_str_eq(c.name, "user.k");
	cr_assert_eq(c.size, 0);
	memcpy(&go, m->payload, sizeof(go));
	cr_assert_eq(go.size, 5);

	in.size = 100;
	u = fk_send_name(&fk, FUSE_GETXATTR, 19, &in, sizeof(in), "user.k");
	m = fk_expect_reply(&fk, u, 0, 5);
	cr_assert_eq(c.size, 100);
	cr_assert_eq(memcmp(m->payload, "value", 5), 0);

	memset(&c, 0, sizeof(c));
	in.size = 4096;
	u = fk_send(&fk, FUSE_LISTXATTR, 19, &in, sizeof(in));
	fk_expect_reply(&fk, u, 0, sizeof(go));
	expect_call(FUSE_LISTXATTR, u);
	cr_assert_eq(c.size, 4096);
	fk_teardown(&fk);
}

Test(dispatch, removexattr_gets_name, .timeout = 10)
{
	uint64_t u;

	start();
	u = fk_send_name(&fk, FUSE_REMOVEXATTR, 20, NULL, 0, "trusted.x");
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_REMOVEXATTR, u);
	cr_assert_eq(c.ino, 20);
	cr_assert_str_eq(c.name, "trusted.x");
	fk_teardown(&fk);
}

Test(dispatch, access_gets_mask, .timeout = 10)
{
	struct fuse_access_in in = { .mask = R_OK | X_OK };
	uint64_t u;

	start();
	u = fk_send(&fk, FUSE_ACCESS, 21, &in, sizeof(in));
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_ACCESS, u);
	cr_assert_eq(c.ino, 21);
	cr_assert_eq(c.mask, R_OK | X_OK);
	fk_teardown(&fk);
}

/* ---- locks ---------------------------------------------------------------------------------- */

static uint64_t send_lk(uint32_t opcode, uint64_t ino, uint64_t fh, uint32_t type,
			uint64_t start_, uint64_t end, uint32_t lk_flags)
{
	struct fuse_lk_in in = { .fh = fh, .owner = 0x0ae, .lk = { .start = start_, .end = end,
						.type = type, .pid = 321 }, .lk_flags = lk_flags };

	return fk_send(&fk, opcode, ino, &in, sizeof(in));
}

Test(dispatch, getlk_converts_the_range_to_a_flock, .timeout = 10)
{
	const struct fk_msg *m;
	struct fuse_lk_out lo;
	uint64_t u;

	start();
	open_fh(FUSE_OPEN, 22, 0x22);
	u = send_lk(FUSE_GETLK, 22, 0x22, F_WRLCK, 100, 199, 0);
	m = fk_expect_reply(&fk, u, 0, sizeof(lo));
	expect_call(FUSE_GETLK, u);
	cr_assert_eq(c.ino, 22);
	cr_assert_eq(c.fi.fh, 0x22);
	cr_assert_eq(c.fi.lock_owner, 0x0ae);
	cr_assert_eq(c.fl.l_type, F_WRLCK);
	cr_assert_eq(c.fl.l_whence, SEEK_SET);
	cr_assert_eq(c.fl.l_start, 100);
	cr_assert_eq(c.fl.l_len, 100);
	cr_assert_eq(c.fl.l_pid, 321);
	/* The handler echoed the lock: it must come back as the same range. */
	memcpy(&lo, m->payload, sizeof(lo));
	cr_assert_eq(lo.lk.start, 100);
	cr_assert_eq(lo.lk.end, 199);
	cr_assert_eq(lo.lk.type, F_WRLCK);
	cr_assert_eq(lo.lk.pid, 321);

	/* To the end of the file (OFFSET_MAX): l_len 0, and back. */
	u = send_lk(FUSE_GETLK, 22, 0x22, F_RDLCK, 50, (uint64_t)INT64_MAX, 0);
	m = fk_expect_reply(&fk, u, 0, sizeof(lo));
	cr_assert_eq(c.fl.l_start, 50);
	cr_assert_eq(c.fl.l_len, 0);
	memcpy(&lo, m->payload, sizeof(lo));
	cr_assert_eq(lo.lk.end, (uint64_t)INT64_MAX);
	fk_teardown(&fk);
}

Test(dispatch, setlk_and_setlkw_get_sleep, .timeout = 10)
{
	uint64_t u;

	start();
	open_fh(FUSE_OPEN, 23, 0x23);
	u = send_lk(FUSE_SETLK, 23, 0x23, F_RDLCK, 0, 9, 0);
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_SETLK, u);
	cr_assert_eq(c.sleep, 0);
	cr_assert_eq(c.fl.l_type, F_RDLCK);
	cr_assert_eq(c.fl.l_start, 0);
	cr_assert_eq(c.fl.l_len, 10);
	cr_assert_eq(c.fi.lock_owner, 0x0ae);

	memset(&c, 0, sizeof(c));
	u = send_lk(FUSE_SETLKW, 23, 0x23, F_UNLCK, 0, (uint64_t)INT64_MAX, 0);
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_SETLKW, u);
	cr_assert_eq(c.sleep, 1);
	cr_assert_eq(c.fl.l_type, F_UNLCK);
	cr_assert_eq(c.fl.l_len, 0);
	fk_teardown(&fk);
}

Test(dispatch, flock_requests_reach_flock_with_the_bsd_operation, .timeout = 10)
{
	uint64_t u;

	start();
	open_fh(FUSE_OPEN, 24, 0x24);
	u = send_lk(FUSE_SETLK, 24, 0x24, F_WRLCK, 0, (uint64_t)INT64_MAX, FUSE_LK_FLOCK);
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_SETLK, u);
	cr_assert_eq(c.lkop, LOCK_EX | LOCK_NB);
	cr_assert_eq(c.fi.fh, 0x24);

	u = send_lk(FUSE_SETLKW, 24, 0x24, F_RDLCK, 0, (uint64_t)INT64_MAX, FUSE_LK_FLOCK);
	fk_expect_reply(&fk, u, 0, 0);
	cr_assert_eq(c.lkop, LOCK_SH);

	u = send_lk(FUSE_SETLK, 24, 0x24, F_UNLCK, 0, (uint64_t)INT64_MAX, FUSE_LK_FLOCK);
	fk_expect_reply(&fk, u, 0, 0);
	cr_assert_eq(c.lkop, LOCK_UN | LOCK_NB);
	cr_assert_eq(c.n, 3);
	fk_teardown(&fk);
}

/* ---- the rest --------------------------------------------------------------------------------- */

Test(dispatch, bmap_gets_blocksize_and_block, .timeout = 10)
{
	struct fuse_bmap_in in = { .block = 12345, .blocksize = 1024 };
	const struct fk_msg *m;
	struct fuse_bmap_out bo;
	uint64_t u;

	start();
	u = fk_send(&fk, FUSE_BMAP, 25, &in, sizeof(in));
	m = fk_expect_reply(&fk, u, 0, sizeof(bo));
	expect_call(FUSE_BMAP, u);
	cr_assert_eq(c.ino, 25);
	cr_assert_eq(c.size, 1024);
	cr_assert_eq(c.idx, 12345);
	memcpy(&bo, m->payload, sizeof(bo));
	cr_assert_eq(bo.block, 13345);
	fk_teardown(&fk);
}

Test(dispatch, ioctl_gets_cmd_arg_flags_input_and_sizes, .timeout = 10)
{
	struct fuse_ioctl_in in = { .fh = 0x26, .flags = FUSE_IOCTL_DIR, .cmd = 0x80045401,
				    .arg = 0x7fff1234, .in_size = 5, .out_size = 64 };
	struct iovec iov[2] = { { &in, sizeof(in) }, { "input", 5 } };
	const struct fk_msg *m;
	struct fuse_ioctl_out io;
	uint64_t u;

	start();
	open_fh(FUSE_OPENDIR, 26, 0x26);
	u = fk_sendv(&fk, FUSE_IOCTL, 26, iov, 2);
	m = fk_expect_reply(&fk, u, 0, sizeof(io) + 4);
	expect_call(FUSE_IOCTL, u);
	cr_assert_eq(c.ino, 26);
	cr_assert_eq(c.cmd, 0x80045401u);
	cr_assert_eq((uintptr_t)c.arg, 0x7fff1234u);
	cr_assert_eq(c.fi.fh, 0x26);
	cr_assert_eq(c.ioflags, FUSE_IOCTL_DIR);
	cr_assert_eq(c.in_size, 5);
	cr_assert_eq(c.out_size, 64);
	cr_assert_eq(memcmp(c.data, "input", 5), 0);
	memcpy(&io, m->payload, sizeof(io));
	cr_assert_eq(io.result, 42);
	cr_assert_eq(memcmp(m->payload + sizeof(io), "out!", 4), 0);

	/* No input: a NULL buffer. */
	in.in_size = 0;
	in.out_size = 0;
	u = fk_send(&fk, FUSE_IOCTL, 26, &in, sizeof(in));
	fk_expect_reply(&fk, u, 0, sizeof(io));
	cr_assert(c.data_null);
	cr_assert_eq(c.in_size, 0);
	cr_assert_eq(c.out_size, 0);

	/* Unrestricted ioctls (CUSE only) are refused before the handler. */
	memset(&c, 0, sizeof(c));
	in.flags = FUSE_IOCTL_UNRESTRICTED;
	u = fk_send(&fk, FUSE_IOCTL, 26, &in, sizeof(in));
	fk_expect_reply(&fk, u, -ENOSYS, 0);
	cr_assert_eq(c.n, 0);
	fk_teardown(&fk);
}

Test(dispatch, poll_passes_kh_only_when_a_notify_is_wanted, .timeout = 10)
{
	struct fuse_poll_in in = { .fh = 0x27, .kh = 0x5151, .flags = FUSE_POLL_SCHEDULE_NOTIFY,
				   .events = 1 };
	const struct fk_msg *m;
	struct fuse_poll_out po;
	uint64_t u;

	start();
	open_fh(FUSE_OPEN, 27, 0x27);
	u = fk_send(&fk, FUSE_POLL, 27, &in, sizeof(in));
	m = fk_expect_reply(&fk, u, 0, sizeof(po));
	expect_call(FUSE_POLL, u);
	cr_assert_eq(c.ino, 27);
	cr_assert_eq(c.fi.fh, 0x27);
	cr_assert_eq(c.ph, 0x5151);
	memcpy(&po, m->payload, sizeof(po));
	cr_assert_eq(po.revents, POLLIN);

	in.flags = 0;
	u = fk_send(&fk, FUSE_POLL, 27, &in, sizeof(in));
	fk_expect_reply(&fk, u, 0, sizeof(po));
	cr_assert_eq(c.ph, 0);
	fk_teardown(&fk);
}

Test(dispatch, fallocate_gets_mode_offset_and_length, .timeout = 10)
{
	struct fuse_fallocate_in in = { .fh = 0x28, .offset = 8192, .length = 1ull << 32,
					.mode = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE };
	uint64_t u;

	start();
	open_fh(FUSE_OPEN, 28, 0x28);
	u = fk_send(&fk, FUSE_FALLOCATE, 28, &in, sizeof(in));
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_FALLOCATE, u);
	cr_assert_eq(c.ino, 28);
	cr_assert_eq(c.fi.fh, 0x28);
	cr_assert_eq(c.mode, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE);
	cr_assert_eq(c.off, 8192);
	cr_assert_eq(c.len, 1ull << 32);
	fk_teardown(&fk);
}

Test(dispatch, copy_file_range_gets_both_files, .timeout = 10)
{
	struct fuse_copy_file_range_in in = { .fh_in = 0x29, .off_in = 100, .nodeid_out = 30,
					      .fh_out = 0x30, .off_out = 200, .len = 5000,
					      .flags = 0 };
	const struct fk_msg *m;
	struct fuse_write_out wo;
	uint64_t u;

	start();
	open_fh(FUSE_OPEN, 29, 0x29);
	open_fh(FUSE_OPEN, 30, 0x30);
	u = fk_send(&fk, FUSE_COPY_FILE_RANGE, 29, &in, sizeof(in));
	m = fk_expect_reply(&fk, u, 0, sizeof(wo));
	expect_call(FUSE_COPY_FILE_RANGE, u);
	cr_assert_eq(c.ino, 29);
	cr_assert_eq(c.off, 100);
	cr_assert_eq(c.fi.fh, 0x29);
	cr_assert_eq(c.ino2, 30);
	cr_assert_eq(c.off2, 200);
	cr_assert_eq(c.fi2.fh, 0x30);
	cr_assert_eq(c.len, 5000);
	cr_assert_eq(c.flags, 0);
	memcpy(&wo, m->payload, sizeof(wo));
	cr_assert_eq(wo.size, 5000);
	fk_teardown(&fk);
}

Test(dispatch, lseek_gets_offset_and_whence, .timeout = 10)
{
	struct fuse_lseek_in in = { .fh = 0x31, .offset = 777, .whence = SEEK_DATA };
	const struct fk_msg *m;
	struct fuse_lseek_out lo;
	uint64_t u;

	start();
	open_fh(FUSE_OPEN, 31, 0x31);
	u = fk_send(&fk, FUSE_LSEEK, 31, &in, sizeof(in));
	m = fk_expect_reply(&fk, u, 0, sizeof(lo));
	expect_call(FUSE_LSEEK, u);
	cr_assert_eq(c.ino, 31);
	cr_assert_eq(c.fi.fh, 0x31);
	cr_assert_eq(c.off, 777);
	cr_assert_eq(c.whence, SEEK_DATA);
	memcpy(&lo, m->payload, sizeof(lo));
	cr_assert_eq(lo.offset, 778);
	fk_teardown(&fk);
}

Test(dispatch, statx_gets_flags_mask_and_fh, .timeout = 10)
{
	struct fuse_statx_in in = { .sx_flags = AT_STATX_FORCE_SYNC,
				    .sx_mask = STATX_BASIC_STATS | STATX_BTIME };
	uint64_t u;

	start();
	u = fk_send(&fk, FUSE_STATX, 32, &in, sizeof(in));
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_STATX, u);
	cr_assert_eq(c.ino, 32);
	cr_assert_eq(c.flags, AT_STATX_FORCE_SYNC);
	cr_assert_eq(c.mask, STATX_BASIC_STATS | STATX_BTIME);
	cr_assert_not(c.has_fi);

	open_fh(FUSE_OPEN, 32, 0x32);
	in.getattr_flags = FUSE_GETATTR_FH;
	in.fh = 0x32;
	u = fk_send(&fk, FUSE_STATX, 32, &in, sizeof(in));
	fk_expect_reply(&fk, u, 0, 0);
	cr_assert(c.has_fi);
	cr_assert_eq(c.fi.fh, 0x32);
	fk_teardown(&fk);
}

Test(dispatch, syncfs_reaches_the_handler, .timeout = 10)
{
	struct fuse_syncfs_in in = { 0 };
	uint64_t u;

	start();
	u = fk_send(&fk, FUSE_SYNCFS, 1, &in, sizeof(in));
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_SYNCFS, u);
	cr_assert_eq(c.ino, 1);
	fk_teardown(&fk);
}

Test(dispatch, destroy_runs_destroy_once_and_replies, .timeout = 10)
{
	start();
	fk_expect_reply(&fk, fk_send(&fk, FUSE_DESTROY, 0, NULL, 0), 0, 0);
	cr_assert_eq(c.destroys, 1);
	fk_teardown(&fk);
	cr_assert_eq(c.destroys, 1);
}

/* ---- NULL operations: the documented defaults --------------------------------------------------- */

static const struct rf_ops no_ops = { 0 };

/* Send a well-formed @opcode request with fh 0 and return its unique. */
static uint64_t send_valid(uint32_t opcode, uint64_t nodeid)
{
	union {
		struct fuse_getattr_in getattr;
		struct fuse_setattr_in setattr;
		struct fuse_mknod_in mknod;
		struct fuse_mkdir_in mkdir;
		struct fuse_rename_in rename;
		struct fuse_rename2_in rename2;
		struct fuse_link_in link;
		struct fuse_open_in open;
		struct fuse_create_in create;
		struct fuse_read_in read;
		struct fuse_write_in write;
		struct fuse_release_in release;
		struct fuse_flush_in flush;
		struct fuse_fsync_in fsync;
		struct fuse_setxattr_in setxattr;
		struct fuse_getxattr_in getxattr;
		struct fuse_access_in access;
		struct fuse_lk_in lk;
		struct fuse_bmap_in bmap;
		struct fuse_ioctl_in ioctl;
		struct fuse_poll_in poll;
		struct fuse_fallocate_in fallocate;
		struct fuse_copy_file_range_in cfr;
		struct fuse_lseek_in lseek;
		struct fuse_syncfs_in syncfs;
		struct fuse_statx_in statx;
		struct fuse_forget_in forget;
		char raw[128];
	} a;
	struct iovec iov[3];

	memset(&a, 0, sizeof(a));
	iov[0].iov_base = &a;
	switch (opcode) {
	case FUSE_LOOKUP: case FUSE_UNLINK: case FUSE_RMDIR: case FUSE_REMOVEXATTR:
		return fk_send_name(&fk, opcode, nodeid, NULL, 0, "name");
	case FUSE_SYMLINK:
		return fk_send_names(&fk, opcode, nodeid, NULL, 0, "name", "target");
	case FUSE_READLINK: case FUSE_STATFS: case FUSE_DESTROY:
		return fk_send(&fk, opcode, nodeid, NULL, 0);
	case FUSE_FORGET:
		a.forget.nlookup = 1;
		return fk_send(&fk, opcode, nodeid, &a, sizeof(a.forget));
	case FUSE_GETATTR:
		return fk_send(&fk, opcode, nodeid, &a, sizeof(a.getattr));
	case FUSE_SETATTR:
		a.setattr.valid = FATTR_MODE;
		a.setattr.mode = 0644;
		return fk_send(&fk, opcode, nodeid, &a, sizeof(a.setattr));
	case FUSE_MKNOD:
		a.mknod.mode = S_IFIFO | 0644;
		return fk_send_name(&fk, opcode, nodeid, &a, sizeof(a.mknod), "name");
	case FUSE_MKDIR:
		a.mkdir.mode = 0755;
		return fk_send_name(&fk, opcode, nodeid, &a, sizeof(a.mkdir), "name");
	case FUSE_RENAME:
		a.rename.newdir = 1;
		return fk_send_names(&fk, opcode, nodeid, &a, sizeof(a.rename), "a", "b");
	case FUSE_RENAME2:
		a.rename2.newdir = 1;
		return fk_send_names(&fk, opcode, nodeid, &a, sizeof(a.rename2), "a", "b");
	case FUSE_LINK:
		a.link.oldnodeid = 2;
		return fk_send_name(&fk, opcode, nodeid, &a, sizeof(a.link), "name");
	case FUSE_OPEN: case FUSE_OPENDIR:
		return fk_send(&fk, opcode, nodeid, &a, sizeof(a.open));
	case FUSE_CREATE:
		a.create.mode = S_IFREG | 0644;
		return fk_send_name(&fk, opcode, nodeid, &a, sizeof(a.create), "name");
	case FUSE_TMPFILE:
		a.create.mode = S_IFREG | 0644;
		return fk_send(&fk, opcode, nodeid, &a, sizeof(a.create));
	case FUSE_READ: case FUSE_READDIR: case FUSE_READDIRPLUS:
		a.read.size = 4096;
		return fk_send(&fk, opcode, nodeid, &a, sizeof(a.read));
	case FUSE_WRITE:
		a.write.size = 4;
		iov[0].iov_len = sizeof(a.write);
		iov[1].iov_base = "data";
		iov[1].iov_len = 4;
		return fk_sendv(&fk, opcode, nodeid, iov, 2);
	case FUSE_RELEASE: case FUSE_RELEASEDIR:
		return fk_send(&fk, opcode, nodeid, &a, sizeof(a.release));
	case FUSE_FLUSH:
		return fk_send(&fk, opcode, nodeid, &a, sizeof(a.flush));
	case FUSE_FSYNC: case FUSE_FSYNCDIR:
		return fk_send(&fk, opcode, nodeid, &a, sizeof(a.fsync));
	case FUSE_SETXATTR:
		a.setxattr.size = 1;
		iov[0].iov_len = sizeof(a.setxattr);
		iov[1].iov_base = "user.a";
		iov[1].iov_len = 7;
		iov[2].iov_base = "v";
		iov[2].iov_len = 1;
		return fk_sendv(&fk, opcode, nodeid, iov, 3);
	case FUSE_GETXATTR:
		a.getxattr.size = 64;
		return fk_send_name(&fk, opcode, nodeid, &a, sizeof(a.getxattr), "user.a");
	case FUSE_LISTXATTR:
		a.getxattr.size = 64;
		return fk_send(&fk, opcode, nodeid, &a, sizeof(a.getxattr));
	case FUSE_ACCESS:
		a.access.mask = R_OK;
		return fk_send(&fk, opcode, nodeid, &a, sizeof(a.access));
	case FUSE_GETLK: case FUSE_SETLK: case FUSE_SETLKW:
		a.lk.lk.type = F_RDLCK;
		a.lk.lk.end = 10;
		return fk_send(&fk, opcode, nodeid, &a, sizeof(a.lk));
	case FUSE_BMAP:
		a.bmap.blocksize = 512;
		return fk_send(&fk, opcode, nodeid, &a, sizeof(a.bmap));
	case FUSE_IOCTL:
		a.ioctl.cmd = 1;
		return fk_send(&fk, opcode, nodeid, &a, sizeof(a.ioctl));
	case FUSE_POLL:
		return fk_send(&fk, opcode, nodeid, &a, sizeof(a.poll));
	case FUSE_FALLOCATE:
		a.fallocate.length = 10;
		return fk_send(&fk, opcode, nodeid, &a, sizeof(a.fallocate));
	case FUSE_COPY_FILE_RANGE:
		a.cfr.nodeid_out = nodeid;
		a.cfr.len = 10;
		return fk_send(&fk, opcode, nodeid, &a, sizeof(a.cfr));
	case FUSE_LSEEK:
		return fk_send(&fk, opcode, nodeid, &a, sizeof(a.lseek));
	case FUSE_SYNCFS:
		return fk_send(&fk, opcode, nodeid, &a, sizeof(a.syncfs));
	case FUSE_STATX:
		a.statx.sx_mask = STATX_BASIC_STATS;
		return fk_send(&fk, opcode, nodeid, &a, sizeof(a.statx));
	}
	cr_assert_fail("no request builder for opcode %u", opcode);
	return 0;
}

/*
 * ENOSYS on the wire. For FLUSH, FSYNC and FSYNCDIR the kernel takes ENOSYS as success and
 * stops sending them (the rf_ops comment says these "succeed"); for STATX it falls back
 * to GETATTR itself (the statx comment says the runtime does).
 */
Test(dispatch, null_operations_get_enosys, .timeout = 10)
{
	static const uint32_t enosys[] = {
		FUSE_LOOKUP, FUSE_GETATTR, FUSE_SETATTR, FUSE_READLINK, FUSE_SYMLINK, FUSE_MKNOD,
		FUSE_MKDIR, FUSE_UNLINK, FUSE_RMDIR, FUSE_RENAME, FUSE_LINK, FUSE_READ,
		FUSE_WRITE, FUSE_FSYNC, FUSE_SETXATTR, FUSE_GETXATTR, FUSE_LISTXATTR,
		FUSE_REMOVEXATTR, FUSE_FLUSH, FUSE_READDIR, FUSE_FSYNCDIR, FUSE_GETLK,
		FUSE_SETLK, FUSE_SETLKW, FUSE_ACCESS, FUSE_CREATE, FUSE_BMAP, FUSE_IOCTL,
		FUSE_POLL, FUSE_FALLOCATE, FUSE_READDIRPLUS, FUSE_RENAME2, FUSE_LSEEK,
		FUSE_COPY_FILE_RANGE, FUSE_SYNCFS, FUSE_TMPFILE, FUSE_STATX,
	};
	size_t i;

	fk_setup(&fk, &no_ops, NULL, NULL);
	fk_init(&fk);
	/* fh 0 is what the default OPEN hands out: open it as the kernel would. */
	fk_expect_reply(&fk, send_valid(FUSE_OPEN, 5), 0, sizeof(struct fuse_open_out));
	fk_expect_reply(&fk, send_valid(FUSE_OPENDIR, 5), 0, sizeof(struct fuse_open_out));
	for (i = 0; i < sizeof(enosys) / sizeof(enosys[0]); i++) {
		uint64_t u = send_valid(enosys[i], 5);
		const struct fk_msg *m = fk_wait_reply(&fk, u);

		cr_assert_eq(m->oh.error, -ENOSYS, "opcode %u: error %d, expected ENOSYS",
			     enosys[i], m->oh.error);
		cr_assert_eq(m->size, 0, "opcode %u: payload with ENOSYS", enosys[i]);
	}
	fk_teardown(&fk);
}

Test(dispatch, null_open_and_opendir_succeed_with_fh_0, .timeout = 10)
{
	const struct fk_msg *m;
	struct fuse_open_out oo;

	fk_setup(&fk, &no_ops, NULL, NULL);
	fk_init(&fk);
	m = fk_expect_reply(&fk, send_valid(FUSE_OPEN, 5), 0, sizeof(oo));
	memcpy(&oo, m->payload, sizeof(oo));
	cr_assert_eq(oo.fh, 0);
	cr_assert_eq(oo.open_flags, 0);
	m = fk_expect_reply(&fk, send_valid(FUSE_OPENDIR, 1), 0, sizeof(oo));
	memcpy(&oo, m->payload, sizeof(oo));
	cr_assert_eq(oo.fh, 0);
	cr_assert_eq(oo.open_flags, 0);
	/* ...and their RELEASEs succeed. */
	fk_expect_reply(&fk, send_valid(FUSE_RELEASE, 5), 0, 0);
	fk_expect_reply(&fk, send_valid(FUSE_RELEASEDIR, 1), 0, 0);
	fk_teardown(&fk);
}

Test(dispatch, null_statfs_reports_an_empty_filesystem, .timeout = 10)
{
	const struct fk_msg *m;
	struct fuse_statfs_out so, zero;

	fk_setup(&fk, &no_ops, NULL, NULL);
	fk_init(&fk);
	m = fk_expect_reply(&fk, send_valid(FUSE_STATFS, 1), 0, sizeof(so));
	memcpy(&so, m->payload, sizeof(so));
	cr_assert_eq(so.st.namelen, 255);
	cr_assert_eq(so.st.bsize, 512);
	cr_assert_eq(so.st.blocks, 0);
	cr_assert_eq(so.st.bfree, 0);
	cr_assert_eq(so.st.files, 0);
	memset(&zero, 0, sizeof(zero));
	cr_assert_eq(memcmp(so.st.spare, zero.st.spare, sizeof(zero.st.spare)), 0);
	fk_teardown(&fk);
}

Test(dispatch, null_forget_and_batch_forget_get_no_reply, .timeout = 10)
{
	struct {
		struct fuse_batch_forget_in in;
		struct fuse_forget_one one[2];
	} msg = { { .count = 2 }, { { 10, 1 }, { 11, 2 } } };

	fk_setup(&fk, &no_ops, NULL, NULL);
	fk_init(&fk);
	send_valid(FUSE_FORGET, 5);
	fk_send(&fk, FUSE_BATCH_FORGET, 0, &msg, sizeof(msg));
	fk_expect_no_reply(&fk, 30);
	fk_expect_reply(&fk, send_valid(FUSE_LOOKUP, 1), -ENOSYS, 0);
	fk_teardown(&fk);
}

Test(dispatch, null_destroy_replies_and_ends_the_session, .timeout = 10)
{
	fk_setup(&fk, &no_ops, NULL, NULL);
	fk_init(&fk);
	fk_expect_reply(&fk, send_valid(FUSE_DESTROY, 0), 0, 0);
	cr_assert(fk_pump_until_ended(&fk, FK_WAIT_MS));
	fk_teardown(&fk);
}

Test(dispatch, unknown_opcodes_get_enosys_and_the_loop_goes_on, .timeout = 10)
{
	static const uint32_t unknown[] = {
		0, 7, 19, FUSE_SETUPMAPPING, FUSE_REMOVEMAPPING, FUSE_COPY_FILE_RANGE_64,
		54, 999, CUSE_INIT, FUSE_INIT_BSWAP_RESERVED, 0xffffffffu,
	};
	char args[64];
	size_t i;

	start();
	memset(args, 0, sizeof(args));
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		uint64_t u = fk_send(&fk, unknown[i], 1, args, sizeof(args));
		const struct fk_msg *m = fk_wait_reply(&fk, u);

		cr_assert_eq(m->oh.error, -ENOSYS, "opcode %u: error %d", unknown[i], m->oh.error);
		cr_assert_eq(m->size, 0);
	}
	cr_assert_eq(c.n, 0);
	fk_expect_reply(&fk, fk_send_name(&fk, FUSE_LOOKUP, 1, NULL, 0, "still"), -ENOENT, 0);
	cr_assert_eq(c.n, 1);
	fk_teardown(&fk);
}

Test(dispatch, requests_carry_the_callers_credentials, .timeout = 10)
{
	struct fuse_in_header h;
	char buf[sizeof(h) + 2];

	start();
	fk_hdr(&fk, &h, FUSE_LOOKUP, 1, sizeof(buf));
	h.uid = 0;
	h.gid = 65534;
	h.pid = 1;
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), "x", 2);
	fk_send_raw(&fk, buf, sizeof(buf));
	fk_expect_reply(&fk, h.unique, -ENOENT, 0);
	cr_assert_eq(c.ctx.uid, 0);
	cr_assert_eq(c.ctx.gid, 65534);
	cr_assert_eq(c.ctx.pid, 1);
	fk_teardown(&fk);
}

/* ---- older layouts ------------------------------------------------------------------------------ */

/* A 7.8 kernel: no getattr_in, 24-byte read_in/write_in, 8-byte mknod_in/create_in. */
Test(dispatch, old_kernel_short_layouts_decode, .timeout = 10)
{
	struct fuse_read_in rin = { .fh = 0x8, .offset = 512, .size = 100 };
	struct fuse_write_in win = { .fh = 0x8, .offset = 1024, .size = 3 };
	struct fuse_mknod_in kin = { .mode = S_IFIFO | 0600, .rdev = 0 };
	struct fuse_create_in cin = { .flags = O_CREAT | O_WRONLY, .mode = S_IFREG | 0640 };
	struct iovec wiov[2] = { { &win, 24 }, { "old", 3 } };
	const struct fk_msg *m;
	uint64_t u;

	memset(&c, 0, sizeof(c));
	fk_setup(&fk, &all_ops, NULL, NULL);
	m = fk_wait_reply(&fk, fk_send_init(&fk, 7, 8, FUSE_ASYNC_READ | FUSE_BIG_WRITES, 0,
					    65536));
	cr_assert_eq(m->oh.error, 0);

	u = fk_send(&fk, FUSE_GETATTR, 3, NULL, 0);
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_GETATTR, u);
	cr_assert_not(c.has_fi);

	open_fh(FUSE_OPEN, 3, 0x8);
	u = fk_send(&fk, FUSE_READ, 3, &rin, 24);
	fk_expect_reply(&fk, u, 0, 3);
	expect_call(FUSE_READ, u);
	cr_assert_eq(c.fi.fh, 0x8);
	cr_assert_eq(c.off, 512);
	cr_assert_eq(c.size, 100);

	memset(&c, 0, sizeof(c));
	u = fk_sendv(&fk, FUSE_WRITE, 3, wiov, 2);
	fk_expect_reply(&fk, u, 0, sizeof(struct fuse_write_out));
	expect_call(FUSE_WRITE, u);
	cr_assert_eq(c.size, 3);
	cr_assert_eq(c.off, 1024);
	cr_assert_eq(memcmp(c.data, "old", 3), 0);

	memset(&c, 0, sizeof(c));
	u = fk_send_name(&fk, FUSE_MKNOD, 1, &kin, FUSE_COMPAT_MKNOD_IN_SIZE, "fifo");
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_MKNOD, u);
	cr_assert_str_eq(c.name, "fifo");
	cr_assert_eq(c.mode, S_IFIFO | 0600);
	cr_assert_eq(c.ctx.umask, 0);

	memset(&c, 0, sizeof(c));
	u = fk_send_name(&fk, FUSE_CREATE, 1, &cin, 8, "made");
	fk_expect_reply(&fk, u, 0, FUSE_COMPAT_ENTRY_OUT_SIZE + sizeof(struct fuse_open_out));
	expect_call(FUSE_CREATE, u);
	cr_assert_str_eq(c.name, "made");
	cr_assert_eq(c.mode, S_IFREG | 0640);
	cr_assert_eq(c.fi.flags, O_CREAT | O_WRONLY);
	fk_teardown(&fk);
}

static void init_no_setxattr_ext(void *ud, struct rf_conn *conn)
{
	conn->want &= ~RF_CAP_SETXATTR_EXT;
}

/* Without FUSE_SETXATTR_EXT accepted, the kernel sends the 8-byte setxattr_in. */
Test(dispatch, setxattr_without_ext_uses_the_short_header, .timeout = 10)
{
	struct rf_ops ops = all_ops;
	struct fuse_setxattr_in in = { .size = 3, .flags = XATTR_REPLACE };
	struct iovec iov[3] = { { &in, FUSE_COMPAT_SETXATTR_IN_SIZE }, { "user.s", 7 },
				{ "abc", 3 } };
	uint64_t u;

	memset(&c, 0, sizeof(c));
	ops.init = init_no_setxattr_ext;
	fk_setup(&fk, &ops, NULL, NULL);
	fk_init(&fk);
	cr_assert_eq(fk.init_out.flags & FUSE_SETXATTR_EXT, 0);
	u = fk_sendv(&fk, FUSE_SETXATTR, 9, iov, 3);
	fk_expect_reply(&fk, u, 0, 0);
	expect_call(FUSE_SETXATTR, u);
	cr_assert_str_eq(c.name, "user.s");
	cr_assert_eq(c.size, 3);
	cr_assert_eq(memcmp(c.data, "abc", 3), 0);
	cr_assert_eq(c.flags, XATTR_REPLACE);
	fk_teardown(&fk);
}
