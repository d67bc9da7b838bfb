/* SPDX-License-Identifier: MIT */
/*
 * test_dispatch.c - every opcode reaches its rf_ops handler with its arguments decoded as
 * the kernel encoded them; with a NULL operation the runtime sends the documented default.
 *
 * Most cases are rows of two tables (op_cases: every handler; null_cases: no handlers),
 * each run by run_case on a fresh session. Requests that name a file handle first OPEN it,
 * as the kernel does: the handler returns the fh the row chose, and the request carries it.
 */
#include <errno.h>
#include <stddef.h>
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
	int kill_priv, writepage, flush, flock_release;   /* fi's bit-fields, for W() */
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

/* A handler call on node @ino. */
static void rec(struct rf_req *req, uint64_t ino)
{
	c.n++;
	c.ino = ino;
	c.opcode = rf_req_opcode(req);
	c.unique = rf_req_unique(req);
	c.ctx = *rf_req_ctx(req);
}

static void rec_fi(const struct rf_file *fi)
{
	c.has_fi = fi != NULL;
	if (!fi)
		return;
	c.fi = *fi;
	c.kill_priv = fi->kill_priv;
	c.writepage = fi->writepage;
	c.flush = fi->flush;
	c.flock_release = fi->flock_release;
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
	rec(req, parent);
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
	rec(req, ino);
	rec_fi(fi);
	rf_reply_err(req, 0);
}

static void h_setattr(struct rf_req *req, uint64_t ino, const struct stat *attr, int to_set,
		      struct rf_file *fi)
{
	rec(req, ino);
	c.st = *attr;
	c.to_set = to_set;
	rec_fi(fi);
	rf_reply_err(req, 0);
}

/* READLINK, SYNCFS: the node id only. */
static void h_ino(struct rf_req *req, uint64_t ino)
{
	rec(req, ino);
	rf_reply_err(req, 0);
}

static void h_mknod(struct rf_req *req, uint64_t parent, const char *name, mode_t mode,
		    dev_t rdev)
{
	rec(req, parent);
	rec_name(c.name, name);
	c.mode = (int)mode;
	c.rdev = rdev;
	rf_reply_err(req, 0);
}

static void h_mkdir(struct rf_req *req, uint64_t parent, const char *name, mode_t mode)
{
	rec(req, parent);
	rec_name(c.name, name);
	c.mode = (int)mode;
	rf_reply_err(req, 0);
}

/* UNLINK, RMDIR, REMOVEXATTR: a node id and a name. */
static void h_ino_name(struct rf_req *req, uint64_t parent, const char *name)
{
	rec(req, parent);
	rec_name(c.name, name);
	rf_reply_err(req, 0);
}

static void h_symlink(struct rf_req *req, const char *target, uint64_t parent,
		      const char *name)
{
	rec(req, parent);
	rec_name(c.name, name);
	rec_name(c.name2, target);
	rf_reply_err(req, 0);
}

static void h_rename(struct rf_req *req, uint64_t parent, const char *name, uint64_t newparent,
		     const char *newname, unsigned int flags)
{
	rec(req, parent);
	c.ino2 = newparent;
	rec_name(c.name, name);
	rec_name(c.name2, newname);
	c.flags = (int)flags;
	rf_reply_err(req, 0);
}

static void h_link(struct rf_req *req, uint64_t ino, uint64_t newparent, const char *newname)
{
	rec(req, ino);
	c.ino2 = newparent;
	rec_name(c.name, newname);
	rf_reply_err(req, 0);
}

static void h_open(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	rec(req, ino);
	rec_fi(fi);
	fi->fh = next_fh;
	rf_reply_open(req, fi);
}

/* What READ, READDIR(PLUS) and WRITE have in common. */
static void rec_io(struct rf_req *req, uint64_t ino, size_t size, off_t off,
		   const struct rf_file *fi)
{
	rec(req, ino);
	c.size = size;
	c.off = off;
	rec_fi(fi);
}

/* The first bytes of a buffer the handler got (WRITE data, an xattr value, ioctl input). */
static void rec_data(const void *buf, size_t size)
{
	c.data_null = buf == NULL;
	c.dlen = size < sizeof(c.data) ? size : sizeof(c.data);
	if (buf && c.dlen)
		memcpy(c.data, buf, c.dlen);
}

static void h_read(struct rf_req *req, uint64_t ino, size_t size, off_t off,
		   struct rf_file *fi)
{
	rec_io(req, ino, size, off, fi);
	rf_reply_buf(req, "abc", 3);
}

static void h_write(struct rf_req *req, uint64_t ino, const void *buf, size_t size, off_t off,
		    struct rf_file *fi)
{
	rec_io(req, ino, size, off, fi);
	rec_data(buf, size);
	rf_reply_write(req, size);
}

static void h_fi_only(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	rec(req, ino);
	rec_fi(fi);
	rf_reply_err(req, 0);
}

static void h_fsync(struct rf_req *req, uint64_t ino, int datasync, struct rf_file *fi)
{
	rec(req, ino);
	c.datasync = datasync;
	rec_fi(fi);
	rf_reply_err(req, 0);
}

static void h_readdir(struct rf_req *req, uint64_t ino, size_t size, off_t off,
		      struct rf_file *fi)
{
	rec_io(req, ino, size, off, fi);
	rf_reply_buf(req, NULL, 0);
}

static void h_statfs(struct rf_req *req, uint64_t ino)
{
	struct statvfs st = { .f_bsize = 4096, .f_blocks = 10, .f_namemax = 99 };

	rec(req, ino);
	rf_reply_statfs(req, &st);
}

static void h_setxattr(struct rf_req *req, uint64_t ino, const char *name, const void *value,
		       size_t size, int flags)
{
	rec(req, ino);
	rec_name(c.name, name);
	c.size = size;
	c.flags = flags;
	rec_data(value, size);
	rf_reply_err(req, 0);
}

static void h_getxattr(struct rf_req *req, uint64_t ino, const char *name, size_t size)
{
	rec(req, ino);
	rec_name(c.name, name);
	c.size = size;
	if (size == 0)
		rf_reply_xattr_size(req, 5);
	else
		rf_reply_buf(req, "value", 5);
}

static void h_listxattr(struct rf_req *req, uint64_t ino, size_t size)
{
	rec(req, ino);
	c.size = size;
	rf_reply_xattr_size(req, 12);
}

static void h_access(struct rf_req *req, uint64_t ino, int mask)
{
	rec(req, ino);
	c.mask = mask;
	rf_reply_err(req, 0);
}

static void h_create(struct rf_req *req, uint64_t parent, const char *name, mode_t mode,
		     struct rf_file *fi)
{
	struct rf_entry e = { .ino = 77, .attr_timeout = 1, .entry_timeout = 1 };

	rec(req, parent);
	rec_name(c.name, name);
	c.mode = (int)mode;
	rec_fi(fi);
	e.attr.st_mode = S_IFREG | (mode & 07777);
	fi->fh = next_fh;
	rf_reply_create(req, &e, fi);
}

static void h_getlk(struct rf_req *req, uint64_t ino, struct rf_file *fi, struct flock *lock)
{
	rec(req, ino);
	rec_fi(fi);
	c.fl = *lock;
	rf_reply_lock(req, lock);
}

static void h_setlk(struct rf_req *req, uint64_t ino, struct rf_file *fi, struct flock *lock,
		    int sleep)
{
	rec(req, ino);
	rec_fi(fi);
	c.fl = *lock;
	c.sleep = sleep;
	rf_reply_err(req, 0);
}

static void h_flock(struct rf_req *req, uint64_t ino, struct rf_file *fi, int op)
{
	rec(req, ino);
	rec_fi(fi);
	c.lkop = op;
	rf_reply_err(req, 0);
}

static void h_bmap(struct rf_req *req, uint64_t ino, size_t blocksize, uint64_t idx)
{
	rec(req, ino);
	c.size = blocksize;
	c.idx = idx;
	rf_reply_bmap(req, idx + 1000);
}

static void h_ioctl(struct rf_req *req, uint64_t ino, unsigned int cmd, void *arg,
		    struct rf_file *fi, unsigned int flags, const void *in_buf, size_t in_size,
		    size_t out_size)
{
	rec(req, ino);
	c.cmd = cmd;
	c.arg = arg;
	rec_fi(fi);
	c.ioflags = flags;
	c.in_size = in_size;
	c.out_size = out_size;
	rec_data(in_buf, in_size);
	rf_reply_ioctl(req, 42, "out!", out_size < 4 ? out_size : 4);
}

static void h_poll(struct rf_req *req, uint64_t ino, struct rf_file *fi, uint64_t ph)
{
	rec(req, ino);
	rec_fi(fi);
	c.ph = ph;
	rf_reply_poll(req, POLLIN);
}

static void h_fallocate(struct rf_req *req, uint64_t ino, int mode, off_t off, off_t len,
			struct rf_file *fi)
{
	rec(req, ino);
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
	rec(req, ino_in);
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
	rec(req, ino);
	c.off = off;
	c.whence = whence;
	rec_fi(fi);
	rf_reply_lseek(req, off + 1);
}

static void h_tmpfile(struct rf_req *req, uint64_t parent, mode_t mode, struct rf_file *fi)
{
	struct rf_entry e = { .ino = 78, .attr_timeout = 1, .entry_timeout = 1 };

	rec(req, parent);
	c.mode = (int)mode;
	rec_fi(fi);
	fi->fh = next_fh;
	rf_reply_create(req, &e, fi);
}

static void h_statx(struct rf_req *req, uint64_t ino, int flags, int mask, struct rf_file *fi)
{
	rec(req, ino);
	c.flags = flags;
	c.mask = mask;
	rec_fi(fi);
	rf_reply_err(req, 0);
}

static const struct rf_ops all_ops = {
	.init = h_init,
	.destroy = h_destroy,
	.lookup = h_lookup,
	.forget = h_forget,
	.getattr = h_getattr,
	.setattr = h_setattr,
	.readlink = h_ino,
	.mknod = h_mknod,
	.mkdir = h_mkdir,
	.unlink = h_ino_name,
	.rmdir = h_ino_name,
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
	.removexattr = h_ino_name,
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
	.syncfs = h_ino,
};

static struct fk fk;
static const struct rf_ops no_ops = { 0 };

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

static void expect_call(const char *row, uint32_t opcode, uint64_t unique)
{
	cr_assert_eq(c.n, 1, "%s: %d handler calls", row, c.n);
	cr_assert_eq(c.opcode, opcode, "%s: handler saw opcode %u, expected %u", row, c.opcode,
		     opcode);
	cr_assert_eq(c.unique, unique, "%s: unique", row);
	cr_assert_eq(c.ctx.uid, 1000, "%s: ctx.uid", row);
	cr_assert_eq(c.ctx.gid, 100, "%s: ctx.gid", row);
	cr_assert_eq(c.ctx.pid, 4242, "%s: ctx.pid", row);
}

/* ---- one request, one handler call: the table ------------------------------------------
 *
 * Each row is one request, sent on a fresh session after the OPENs it needs, with what the
 * handler must have received (fields of struct call) and what the reply must carry. The
 * runner also checks the caller's credentials, that the handler ran exactly once (or not
 * at all, .no_call), and that the session still answers a LOOKUP afterwards.
 */

/* Expected values (fake_kernel.h: struct fk_want): of struct call, of the reply payload. */
#define W(field, v) FK_WANT(struct call, 0, field, v)
#define R(type, field, v) FK_WANT(struct type, 0, field, v)
#define R_AT(base, type, field, v) FK_WANT(struct type, base, field, v)

/* The request's fixed arguments (.args[0]): a struct, whole or cut to @len. Names and data
 * after them are .args[1] and on. */
#define IN(type, ...) .args[0] = FK_IN(type, __VA_ARGS__)
#define IN_LEN(type, len, ...) .args[0] = FK_IN_LEN(type, len, __VA_ARGS__)
/* A lock request as the kernel sends it for fcntl/flock (owner 0x0ae, pid 321). */
#define LK(fh_, type_, start_, end_, lk_flags_)                                                  \
	IN(fuse_lk_in, .fh = (fh_), .owner = 0x0ae,                                              \
	   .lk = { .start = (start_), .end = (end_), .type = (type_), .pid = 321 },              \
	   .lk_flags = (lk_flags_))

struct open_step {
	uint32_t opcode;            /* FUSE_OPEN or FUSE_OPENDIR; 0 ends the list */
	uint64_t ino, fh;
};

struct op_case {
	const char *name;           /* the behaviour, named in every failure message */
	uint32_t opcode;
	uint64_t nodeid;
	struct fk_piece args[FK_PIECES];  /* what follows the header (fk_send_pieces) */
	struct open_step open[2];   /* done first, so the request's fh is open */
	uint64_t next_fh;           /* what OPEN/OPENDIR/CREATE/TMPFILE handlers hand out */
	uint32_t minor;             /* INIT as this 7.x kernel (0: fk_init, 7.45) */
	bool no_setxattr_ext;       /* the filesystem declines FUSE_SETXATTR_EXT at INIT */
	int error;                  /* the reply's error */
	long reply_size;            /* the reply's payload size */
	bool no_call;               /* answered without calling the handler */
	const char *name1, *name2;  /* the names the handler got */
	const void *data;           /* bytes the handler got (write, setxattr, ioctl input) */
	size_t dlen;
	const void *reply_data;     /* bytes at reply_off in the reply's payload */
	size_t reply_off, reply_dlen;
	struct fk_want call[16];      /* fields of struct call after the handler ran */
	struct fk_want reply[8];      /* fields of the reply's payload */
};

static const char zero64[64];

static const struct op_case op_cases[] = {
	/* ---- names and inodes ---- */
	{ "lookup_gets_parent_and_name", FUSE_LOOKUP, 5, .args[1] = FK_NAME("hello.txt"),
	  .error = -ENOENT, .name1 = "hello.txt", .call = { W(ino, 5), W(ctx.umask, 0) } },
	{ "getattr_without_fh_passes_no_file", FUSE_GETATTR, 3, IN(fuse_getattr_in, 0),
	  .call = { W(ino, 3), W(has_fi, false) } },
	{ "getattr_with_fh_passes_the_file", FUSE_GETATTR, 3,
	  IN(fuse_getattr_in, .getattr_flags = FUSE_GETATTR_FH, .fh = 0xfeed),
	  .open = { { FUSE_OPEN, 3, 0xfeed } },
	  .call = { W(ino, 3), W(has_fi, true), W(fi.fh, 0xfeed) } },
	{ "setattr_maps_every_valid_bit_and_value", FUSE_SETATTR, 4,
	  IN(fuse_setattr_in, .valid = FATTR_MODE | FATTR_UID | FATTR_GID | FATTR_SIZE |
				       FATTR_ATIME | FATTR_MTIME | FATTR_CTIME | FATTR_KILL_SUIDGID,
	     .mode = S_IFREG | 0640, .uid = 501, .gid = 502, .size = 1ull << 40,
	     .atime = 1000, .atimensec = 1, .mtime = 2000, .mtimensec = 2,
	     .ctime = 3000, .ctimensec = 3),
	  .call = { W(ino, 4),
		    W(to_set, RF_SET_MODE | RF_SET_UID | RF_SET_GID | RF_SET_SIZE | RF_SET_ATIME |
				      RF_SET_MTIME | RF_SET_CTIME | RF_SET_KILL_SUIDGID),
		    W(st.st_mode, S_IFREG | 0640), W(st.st_uid, 501), W(st.st_gid, 502),
		    W(st.st_size, 1ull << 40), W(st.st_atim.tv_sec, 1000),
		    W(st.st_atim.tv_nsec, 1), W(st.st_mtim.tv_sec, 2000),
		    W(st.st_mtim.tv_nsec, 2), W(st.st_ctim.tv_sec, 3000),
		    W(st.st_ctim.tv_nsec, 3), W(has_fi, false) } },
	{ "setattr_now_bits_and_an_fh_with_lock_owner", FUSE_SETATTR, 4,
	  IN(fuse_setattr_in, .valid = FATTR_ATIME_NOW | FATTR_MTIME_NOW | FATTR_FH |
				       FATTR_LOCKOWNER,
	     .fh = 0xabc, .lock_owner = 0x55aa),
	  .open = { { FUSE_OPEN, 4, 0xabc } },
	  .call = { W(to_set, RF_SET_ATIME_NOW | RF_SET_MTIME_NOW), W(has_fi, true),
		    W(fi.fh, 0xabc), W(fi.lock_owner, 0x55aa) } },
	{ "setattr_with_nothing_valid_is_an_empty_mask", FUSE_SETATTR, 4,
	  IN(fuse_setattr_in, .valid = 0), .call = { W(to_set, 0) } },
	{ "readlink_gets_inode", FUSE_READLINK, 8, .call = { W(ino, 8) } },
	{ "mknod_gets_name_mode_rdev_and_umask", FUSE_MKNOD, 2,
	  IN(fuse_mknod_in, .mode = S_IFCHR | 0600, .rdev = 0x0103, .umask = 022),
	  .args[1] = FK_NAME("dev"), .name1 = "dev",
	  .call = { W(ino, 2), W(mode, S_IFCHR | 0600), W(rdev, 0x0103), W(ctx.umask, 022) } },
	{ "mkdir_gets_name_mode_and_umask", FUSE_MKDIR, 2,
	  IN(fuse_mkdir_in, .mode = S_IFDIR | 0755, .umask = 027), .args[1] = FK_NAME("sub"),
	  .name1 = "sub", .call = { W(ino, 2), W(mode, S_IFDIR | 0755), W(ctx.umask, 027) } },
	{ "unlink_gets_parent_and_name", FUSE_UNLINK, 6, .args[1] = FK_NAME("file"),
	  .name1 = "file", .call = { W(ino, 6) } },
	{ "rmdir_gets_parent_and_name", FUSE_RMDIR, 7, .args[1] = FK_NAME("dir"),
	  .name1 = "dir", .call = { W(ino, 7) } },
	/* On the wire: the new entry's name, then the link's target. */
	{ "symlink_gets_name_then_target", FUSE_SYMLINK, 2,
	  .args[1] = FK_NAME("link"), .args[2] = FK_NAME("../some/target"), .name1 = "link",
	  .name2 = "../some/target", .call = { W(ino, 2) } },
	{ "rename_gets_both_dirs_and_names_with_flags_0", FUSE_RENAME, 10,
	  IN(fuse_rename_in, .newdir = 20), .args[1] = FK_NAME("old"), .args[2] = FK_NAME("new"),
	  .name1 = "old", .name2 = "new", .call = { W(ino, 10), W(ino2, 20), W(flags, 0) } },
	{ "rename2_passes_exchange", FUSE_RENAME2, 11,
	  IN(fuse_rename2_in, .newdir = 21, .flags = RENAME_EXCHANGE),
	  .args[1] = FK_NAME("a"), .args[2] = FK_NAME("b"), .name1 = "a", .name2 = "b",
	  .call = { W(ino, 11), W(ino2, 21), W(flags, RENAME_EXCHANGE) } },
	{ "rename2_passes_noreplace", FUSE_RENAME2, 11,
	  IN(fuse_rename2_in, .newdir = 21, .flags = RENAME_NOREPLACE),
	  .args[1] = FK_NAME("c"), .args[2] = FK_NAME("d"), .name1 = "c", .name2 = "d",
	  .call = { W(flags, RENAME_NOREPLACE) } },
	{ "link_gets_old_inode_new_parent_and_name", FUSE_LINK, 2,
	  IN(fuse_link_in, .oldnodeid = 33), .args[1] = FK_NAME("hard"), .name1 = "hard",
	  .call = { W(ino, 33), W(ino2, 2) } },

	/* ---- open files ---- */
	{ "open_gets_flags_and_kill_priv_and_returns_the_fh", FUSE_OPEN, 12,
	  IN(fuse_open_in, .flags = O_WRONLY | O_TRUNC, .open_flags = FUSE_OPEN_KILL_SUIDGID),
	  .next_fh = 0x1122334455667788ull, .reply_size = sizeof(struct fuse_open_out),
	  .call = { W(ino, 12), W(fi.flags, O_WRONLY | O_TRUNC), W(kill_priv, 1) },
	  .reply = { R(fuse_open_out, fh, 0x1122334455667788ull) } },
	{ "read_gets_fh_offset_size_flags_and_lock_owner", FUSE_READ, 12,
	  IN(fuse_read_in, .fh = 0x99, .offset = 1ull << 33, .size = 65536,
	     .read_flags = FUSE_READ_LOCKOWNER, .lock_owner = 0xdead, .flags = O_RDONLY | O_DIRECT),
	  .open = { { FUSE_OPEN, 12, 0x99 } }, .reply_size = 3, .reply_data = "abc",
	  .reply_dlen = 3,
	  .call = { W(ino, 12), W(size, 65536), W(off, 1ull << 33), W(has_fi, true),
		    W(fi.fh, 0x99), W(fi.flags, O_RDONLY | O_DIRECT), W(fi.lock_owner, 0xdead) } },
	/* Without FUSE_READ_LOCKOWNER the owner field is not passed on. */
	{ "read_without_lockowner_flag_passes_no_owner", FUSE_READ, 12,
	  IN(fuse_read_in, .fh = 0x99, .offset = 1ull << 33, .size = 65536,
	     .lock_owner = 0xdead, .flags = O_RDONLY | O_DIRECT),
	  .open = { { FUSE_OPEN, 12, 0x99 } }, .reply_size = 3,
	  .call = { W(fi.fh, 0x99), W(fi.lock_owner, 0) } },
	{ "write_gets_data_and_every_flag", FUSE_WRITE, 13,
	  IN(fuse_write_in, .fh = 0x77, .offset = 4096, .size = 11,
	     .write_flags = FUSE_WRITE_CACHE | FUSE_WRITE_LOCKOWNER | FUSE_WRITE_KILL_SUIDGID,
	     .lock_owner = 0xbeef, .flags = O_WRONLY | O_APPEND),
	  .args[1] = FK_DATA("hello world", 11), .open = { { FUSE_OPEN, 13, 0x77 } },
	  .reply_size = sizeof(struct fuse_write_out), .data = "hello world", .dlen = 11,
	  .call = { W(ino, 13), W(size, 11), W(off, 4096), W(fi.fh, 0x77),
		    W(fi.flags, O_WRONLY | O_APPEND), W(writepage, 1), W(kill_priv, 1),
		    W(fi.lock_owner, 0xbeef) },
	  .reply = { R(fuse_write_out, size, 11) } },
	{ "write_without_flags_passes_none", FUSE_WRITE, 13,
	  IN(fuse_write_in, .fh = 0x77, .offset = 4096, .size = 3, .lock_owner = 0xbeef,
	     .flags = O_WRONLY | O_APPEND),
	  .args[1] = FK_DATA("hel", 3), .open = { { FUSE_OPEN, 13, 0x77 } },
	  .reply_size = sizeof(struct fuse_write_out), .data = "hel", .dlen = 3,
	  .call = { W(size, 3), W(writepage, 0), W(kill_priv, 0), W(fi.lock_owner, 0) },
	  .reply = { R(fuse_write_out, size, 3) } },
	{ "flush_gets_fh_and_lock_owner", FUSE_FLUSH, 14,
	  IN(fuse_flush_in, .fh = 0x66, .lock_owner = 0x1234), .open = { { FUSE_OPEN, 14, 0x66 } },
	  .call = { W(ino, 14), W(fi.fh, 0x66), W(fi.lock_owner, 0x1234) } },
	{ "release_gets_fh_flags_and_release_flags", FUSE_RELEASE, 15,
	  IN(fuse_release_in, .fh = 0x55, .flags = O_RDWR,
	     .release_flags = FUSE_RELEASE_FLUSH | FUSE_RELEASE_FLOCK_UNLOCK, .lock_owner = 0x4321),
	  .open = { { FUSE_OPEN, 15, 0x55 } },
	  .call = { W(ino, 15), W(fi.fh, 0x55), W(fi.flags, O_RDWR), W(flush, 1),
		    W(flock_release, 1), W(fi.lock_owner, 0x4321) } },
	{ "fsync_gets_datasync", FUSE_FSYNC, 16,
	  IN(fuse_fsync_in, .fh = 0x44, .fsync_flags = FUSE_FSYNC_FDATASYNC),
	  .open = { { FUSE_OPEN, 16, 0x44 } },
	  .call = { W(ino, 16), W(datasync, 1), W(fi.fh, 0x44) } },
	{ "fsync_without_fdatasync_gets_datasync_0", FUSE_FSYNC, 16,
	  IN(fuse_fsync_in, .fh = 0x44, .fsync_flags = 0), .open = { { FUSE_OPEN, 16, 0x44 } },
	  .call = { W(datasync, 0) } },
	{ "fsyncdir_gets_datasync", FUSE_FSYNCDIR, 17,
	  IN(fuse_fsync_in, .fh = 0x45, .fsync_flags = FUSE_FSYNC_FDATASYNC),
	  .open = { { FUSE_OPENDIR, 17, 0x45 } },
	  .call = { W(ino, 17), W(datasync, 1), W(fi.fh, 0x45) } },
	{ "opendir_gets_flags_and_returns_the_fh", FUSE_OPENDIR, 1,
	  IN(fuse_open_in, .flags = O_RDONLY | O_DIRECTORY), .next_fh = 0x33,
	  .reply_size = sizeof(struct fuse_open_out),
	  .call = { W(fi.flags, O_RDONLY | O_DIRECTORY) }, .reply = { R(fuse_open_out, fh, 0x33) } },
	{ "readdir_gets_fh_offset_and_size", FUSE_READDIR, 1,
	  IN(fuse_read_in, .fh = 0x33, .offset = 5, .size = 4096),
	  .open = { { FUSE_OPENDIR, 1, 0x33 } },
	  .call = { W(ino, 1), W(size, 4096), W(off, 5), W(fi.fh, 0x33) } },
	{ "readdirplus_gets_fh_and_offset", FUSE_READDIRPLUS, 1,
	  IN(fuse_read_in, .fh = 0x33, .offset = 9, .size = 4096),
	  .open = { { FUSE_OPENDIR, 1, 0x33 } }, .call = { W(off, 9), W(fi.fh, 0x33) } },
	{ "releasedir_gets_fh", FUSE_RELEASEDIR, 1,
	  IN(fuse_release_in, .fh = 0x33, .flags = O_RDONLY),
	  .open = { { FUSE_OPENDIR, 1, 0x33 } }, .call = { W(fi.fh, 0x33) } },
	{ "create_gets_name_mode_flags_umask_and_returns_entry_and_fh", FUSE_CREATE, 2,
	  IN(fuse_create_in, .flags = O_CREAT | O_EXCL | O_RDWR, .mode = S_IFREG | 0644,
	     .umask = 022, .open_flags = FUSE_OPEN_KILL_SUIDGID),
	  .args[1] = FK_NAME("new.txt"), .next_fh = 0xc0ffee, .name1 = "new.txt",
	  .reply_size = sizeof(struct fuse_entry_out) + sizeof(struct fuse_open_out),
	  .call = { W(ino, 2), W(mode, S_IFREG | 0644), W(fi.flags, O_CREAT | O_EXCL | O_RDWR),
		    W(kill_priv, 1), W(ctx.umask, 022) },
	  .reply = { R(fuse_entry_out, nodeid, 77),
		     R_AT(sizeof(struct fuse_entry_out), fuse_open_out, fh, 0xc0ffee) } },
	{ "tmpfile_gets_mode_flags_and_umask", FUSE_TMPFILE, 2,
	  IN(fuse_create_in, .flags = O_TMPFILE | O_RDWR, .mode = S_IFREG | 0600, .umask = 077),
	  .next_fh = 0x7e,
	  .reply_size = sizeof(struct fuse_entry_out) + sizeof(struct fuse_open_out),
	  .call = { W(ino, 2), W(mode, S_IFREG | 0600), W(fi.flags, O_TMPFILE | O_RDWR),
		    W(ctx.umask, 077) },
	  .reply = { R(fuse_entry_out, nodeid, 78),
		     R_AT(sizeof(struct fuse_entry_out), fuse_open_out, fh, 0x7e) } },

	/* ---- filesystem-wide, xattrs, access ---- */
	{ "statfs_reaches_the_handler", FUSE_STATFS, 1,
	  .reply_size = sizeof(struct fuse_statfs_out), .call = { W(ino, 1) },
	  .reply = { R(fuse_statfs_out, st.bsize, 4096), R(fuse_statfs_out, st.blocks, 10),
		     R(fuse_statfs_out, st.namelen, 99) } },
	/* The value has a NUL inside: it is binary, passed by size. */
	{ "setxattr_gets_name_value_size_and_flags", FUSE_SETXATTR, 18,
	  IN(fuse_setxattr_in, .size = 6, .flags = XATTR_CREATE),
	  .args[1] = FK_NAME("user.k"), .args[2] = FK_DATA("v\0alue", 6), .name1 = "user.k",
	  .data = "v\0alue", .dlen = 6,
	  .call = { W(ino, 18), W(size, 6), W(flags, XATTR_CREATE) } },
	{ "getxattr_size_0_gets_the_value_size", FUSE_GETXATTR, 19,
	  IN(fuse_getxattr_in, .size = 0), .args[1] = FK_NAME("user.k"), .name1 = "user.k",
	  .reply_size = sizeof(struct fuse_getxattr_out), .call = { W(ino, 19), W(size, 0) },
	  .reply = { R(fuse_getxattr_out, size, 5) } },
	{ "getxattr_gets_the_value", FUSE_GETXATTR, 19,
	  IN(fuse_getxattr_in, .size = 100), .args[1] = FK_NAME("user.k"), .name1 = "user.k",
	  .reply_size = 5, .reply_data = "value", .reply_dlen = 5, .call = { W(size, 100) } },
	{ "listxattr_gets_size", FUSE_LISTXATTR, 19, IN(fuse_getxattr_in, .size = 4096),
	  .reply_size = sizeof(struct fuse_getxattr_out), .call = { W(size, 4096) } },
	{ "removexattr_gets_name", FUSE_REMOVEXATTR, 20, .args[1] = FK_NAME("trusted.x"),
	  .name1 = "trusted.x", .call = { W(ino, 20) } },
	{ "access_gets_mask", FUSE_ACCESS, 21, IN(fuse_access_in, .mask = R_OK | X_OK),
	  .call = { W(ino, 21), W(mask, R_OK | X_OK) } },

	/* ---- locks ---- */
	/* The handler echoes the lock: it must come back as the same range. */
	{ "getlk_converts_the_range_to_a_flock", FUSE_GETLK, 22, LK(0x22, F_WRLCK, 100, 199, 0),
	  .open = { { FUSE_OPEN, 22, 0x22 } }, .reply_size = sizeof(struct fuse_lk_out),
	  .call = { W(ino, 22), W(fi.fh, 0x22), W(fi.lock_owner, 0x0ae), W(fl.l_type, F_WRLCK),
		    W(fl.l_whence, SEEK_SET), W(fl.l_start, 100), W(fl.l_len, 100),
		    W(fl.l_pid, 321) },
	  .reply = { R(fuse_lk_out, lk.start, 100), R(fuse_lk_out, lk.end, 199),
		     R(fuse_lk_out, lk.type, F_WRLCK), R(fuse_lk_out, lk.pid, 321) } },
	/* To the end of the file (OFFSET_MAX): l_len 0, and back. */
	{ "getlk_to_the_end_of_the_file_is_l_len_0", FUSE_GETLK, 22,
	  LK(0x22, F_RDLCK, 50, (uint64_t)INT64_MAX, 0), .open = { { FUSE_OPEN, 22, 0x22 } },
	  .reply_size = sizeof(struct fuse_lk_out),
	  .call = { W(fl.l_start, 50), W(fl.l_len, 0) },
	  .reply = { R(fuse_lk_out, lk.end, (uint64_t)INT64_MAX) } },
	{ "setlk_gets_sleep_0", FUSE_SETLK, 23, LK(0x23, F_RDLCK, 0, 9, 0),
	  .open = { { FUSE_OPEN, 23, 0x23 } },
	  .call = { W(sleep, 0), W(fl.l_type, F_RDLCK), W(fl.l_start, 0), W(fl.l_len, 10),
		    W(fi.lock_owner, 0x0ae) } },
	{ "setlkw_gets_sleep_1", FUSE_SETLKW, 23, LK(0x23, F_UNLCK, 0, (uint64_t)INT64_MAX, 0),
	  .open = { { FUSE_OPEN, 23, 0x23 } },
	  .call = { W(sleep, 1), W(fl.l_type, F_UNLCK), W(fl.l_len, 0) } },
	{ "flock_setlk_write_is_lock_ex_nb", FUSE_SETLK, 24,
	  LK(0x24, F_WRLCK, 0, (uint64_t)INT64_MAX, FUSE_LK_FLOCK),
	  .open = { { FUSE_OPEN, 24, 0x24 } },
	  .call = { W(lkop, LOCK_EX | LOCK_NB), W(fi.fh, 0x24) } },
	{ "flock_setlkw_read_is_lock_sh", FUSE_SETLKW, 24,
	  LK(0x24, F_RDLCK, 0, (uint64_t)INT64_MAX, FUSE_LK_FLOCK),
	  .open = { { FUSE_OPEN, 24, 0x24 } }, .call = { W(lkop, LOCK_SH) } },
	{ "flock_setlk_unlock_is_lock_un_nb", FUSE_SETLK, 24,
	  LK(0x24, F_UNLCK, 0, (uint64_t)INT64_MAX, FUSE_LK_FLOCK),
	  .open = { { FUSE_OPEN, 24, 0x24 } }, .call = { W(lkop, LOCK_UN | LOCK_NB) } },

	/* ---- the rest ---- */
	{ "bmap_gets_blocksize_and_block", FUSE_BMAP, 25,
	  IN(fuse_bmap_in, .block = 12345, .blocksize = 1024),
	  .reply_size = sizeof(struct fuse_bmap_out),
	  .call = { W(ino, 25), W(size, 1024), W(idx, 12345) },
	  .reply = { R(fuse_bmap_out, block, 13345) } },
	{ "ioctl_gets_cmd_arg_flags_input_and_sizes", FUSE_IOCTL, 26,
	  IN(fuse_ioctl_in, .fh = 0x26, .flags = FUSE_IOCTL_DIR, .cmd = 0x80045401,
	     .arg = 0x7fff1234, .in_size = 5, .out_size = 64),
	  .args[1] = FK_DATA("input", 5), .open = { { FUSE_OPENDIR, 26, 0x26 } },
	  .reply_size = sizeof(struct fuse_ioctl_out) + 4, .data = "input", .dlen = 5,
	  .reply_data = "out!", .reply_off = sizeof(struct fuse_ioctl_out), .reply_dlen = 4,
	  .call = { W(ino, 26), W(cmd, 0x80045401u), W(arg, 0x7fff1234u), W(fi.fh, 0x26),
		    W(ioflags, FUSE_IOCTL_DIR), W(in_size, 5), W(out_size, 64) },
	  .reply = { R(fuse_ioctl_out, result, 42) } },
	{ "ioctl_without_input_gets_a_null_buffer", FUSE_IOCTL, 26,
	  IN(fuse_ioctl_in, .fh = 0x26, .flags = FUSE_IOCTL_DIR, .cmd = 0x80045401,
	     .arg = 0x7fff1234),
	  .open = { { FUSE_OPENDIR, 26, 0x26 } }, .reply_size = sizeof(struct fuse_ioctl_out),
	  .call = { W(data_null, true), W(in_size, 0), W(out_size, 0) } },
	/* Unrestricted ioctls (CUSE only) are refused before the handler. */
	{ "ioctl_unrestricted_is_refused", FUSE_IOCTL, 26,
	  IN(fuse_ioctl_in, .fh = 0x26, .flags = FUSE_IOCTL_UNRESTRICTED, .cmd = 0x80045401,
	     .arg = 0x7fff1234),
	  .open = { { FUSE_OPENDIR, 26, 0x26 } }, .error = -ENOSYS, .no_call = true },
	{ "poll_passes_kh_when_a_notify_is_wanted", FUSE_POLL, 27,
	  IN(fuse_poll_in, .fh = 0x27, .kh = 0x5151, .flags = FUSE_POLL_SCHEDULE_NOTIFY,
	     .events = 1),
	  .open = { { FUSE_OPEN, 27, 0x27 } }, .reply_size = sizeof(struct fuse_poll_out),
	  .call = { W(ino, 27), W(fi.fh, 0x27), W(ph, 0x5151) },
	  .reply = { R(fuse_poll_out, revents, POLLIN) } },
	{ "poll_passes_no_kh_without_a_notify", FUSE_POLL, 27,
	  IN(fuse_poll_in, .fh = 0x27, .kh = 0x5151, .flags = 0, .events = 1),
	  .open = { { FUSE_OPEN, 27, 0x27 } }, .reply_size = sizeof(struct fuse_poll_out),
	  .call = { W(ph, 0) } },
	{ "fallocate_gets_mode_offset_and_length", FUSE_FALLOCATE, 28,
	  IN(fuse_fallocate_in, .fh = 0x28, .offset = 8192, .length = 1ull << 32,
	     .mode = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE),
	  .open = { { FUSE_OPEN, 28, 0x28 } },
	  .call = { W(ino, 28), W(fi.fh, 0x28), W(mode, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE),
		    W(off, 8192), W(len, 1ull << 32) } },
	{ "copy_file_range_gets_both_files", FUSE_COPY_FILE_RANGE, 29,
	  IN(fuse_copy_file_range_in, .fh_in = 0x29, .off_in = 100, .nodeid_out = 30,
	     .fh_out = 0x30, .off_out = 200, .len = 5000, .flags = 0),
	  .open = { { FUSE_OPEN, 29, 0x29 }, { FUSE_OPEN, 30, 0x30 } },
	  .reply_size = sizeof(struct fuse_write_out),
	  .call = { W(ino, 29), W(off, 100), W(fi.fh, 0x29), W(ino2, 30), W(off2, 200),
		    W(fi2.fh, 0x30), W(len, 5000), W(flags, 0) },
	  .reply = { R(fuse_write_out, size, 5000) } },
	{ "lseek_gets_offset_and_whence", FUSE_LSEEK, 31,
	  IN(fuse_lseek_in, .fh = 0x31, .offset = 777, .whence = SEEK_DATA),
	  .open = { { FUSE_OPEN, 31, 0x31 } }, .reply_size = sizeof(struct fuse_lseek_out),
	  .call = { W(ino, 31), W(fi.fh, 0x31), W(off, 777), W(whence, SEEK_DATA) },
	  .reply = { R(fuse_lseek_out, offset, 778) } },
	{ "statx_gets_flags_and_mask", FUSE_STATX, 32,
	  IN(fuse_statx_in, .sx_flags = AT_STATX_FORCE_SYNC,
	     .sx_mask = STATX_BASIC_STATS | STATX_BTIME),
	  .call = { W(ino, 32), W(flags, AT_STATX_FORCE_SYNC),
		    W(mask, STATX_BASIC_STATS | STATX_BTIME), W(has_fi, false) } },
	{ "statx_with_fh_passes_the_file", FUSE_STATX, 32,
	  IN(fuse_statx_in, .getattr_flags = FUSE_GETATTR_FH, .fh = 0x32,
	     .sx_flags = AT_STATX_FORCE_SYNC, .sx_mask = STATX_BASIC_STATS | STATX_BTIME),
	  .open = { { FUSE_OPEN, 32, 0x32 } }, .call = { W(has_fi, true), W(fi.fh, 0x32) } },
	{ "syncfs_reaches_the_handler", FUSE_SYNCFS, 1, IN(fuse_syncfs_in, 0),
	  .call = { W(ino, 1) } },

	/* ---- opcodes the runtime does not serve: ENOSYS, and the loop goes on ---- */
#define UNKNOWN_ROW(what, opcode) \
	{ "unknown_opcode_" what, opcode, 1, .args[0] = FK_DATA(zero64, 64), .error = -ENOSYS, \
	  .no_call = true }
	UNKNOWN_ROW("0", 0),
	UNKNOWN_ROW("7", 7),
	UNKNOWN_ROW("19", 19),
	UNKNOWN_ROW("setupmapping", FUSE_SETUPMAPPING),
	UNKNOWN_ROW("removemapping", FUSE_REMOVEMAPPING),
	UNKNOWN_ROW("copy_file_range_64", FUSE_COPY_FILE_RANGE_64),
	UNKNOWN_ROW("54", 54),
	UNKNOWN_ROW("999", 999),
	UNKNOWN_ROW("cuse_init", CUSE_INIT),
	UNKNOWN_ROW("init_bswap_reserved", FUSE_INIT_BSWAP_RESERVED),
	UNKNOWN_ROW("0xffffffff", 0xffffffffu),

	/* ---- a 7.8 kernel: no getattr_in, 24-byte read_in/write_in, 8-byte mknod_in and
	 * create_in ---- */
	{ "old_kernel_getattr_without_arguments", FUSE_GETATTR, 3, .minor = 8,
	  .call = { W(has_fi, false) } },
	{ "old_kernel_24_byte_read_in", FUSE_READ, 3,
	  IN_LEN(fuse_read_in, 24, .fh = 0x8, .offset = 512, .size = 100), .minor = 8,
	  .open = { { FUSE_OPEN, 3, 0x8 } }, .reply_size = 3,
	  .call = { W(fi.fh, 0x8), W(off, 512), W(size, 100) } },
	{ "old_kernel_24_byte_write_in", FUSE_WRITE, 3,
	  IN_LEN(fuse_write_in, 24, .fh = 0x8, .offset = 1024, .size = 3), .minor = 8,
	  .args[1] = FK_DATA("old", 3), .open = { { FUSE_OPEN, 3, 0x8 } },
	  .reply_size = sizeof(struct fuse_write_out), .data = "old", .dlen = 3,
	  .call = { W(size, 3), W(off, 1024) } },
	{ "old_kernel_compat_mknod_in", FUSE_MKNOD, 1,
	  IN_LEN(fuse_mknod_in, FUSE_COMPAT_MKNOD_IN_SIZE, .mode = S_IFIFO | 0600, .rdev = 0),
	  .minor = 8, .args[1] = FK_NAME("fifo"), .name1 = "fifo",
	  .call = { W(mode, S_IFIFO | 0600), W(ctx.umask, 0) } },
	{ "old_kernel_8_byte_create_in", FUSE_CREATE, 1,
	  IN_LEN(fuse_create_in, 8, .flags = O_CREAT | O_WRONLY, .mode = S_IFREG | 0640),
	  .minor = 8, .args[1] = FK_NAME("made"), .name1 = "made",
	  .reply_size = FUSE_COMPAT_ENTRY_OUT_SIZE + sizeof(struct fuse_open_out),
	  .call = { W(mode, S_IFREG | 0640), W(fi.flags, O_CREAT | O_WRONLY) } },

	/* Without FUSE_SETXATTR_EXT accepted, the kernel sends the 8-byte setxattr_in. */
	{ "setxattr_without_ext_uses_the_short_header", FUSE_SETXATTR, 9,
	  IN_LEN(fuse_setxattr_in, FUSE_COMPAT_SETXATTR_IN_SIZE, .size = 3,
		 .flags = XATTR_REPLACE),
	  .no_setxattr_ext = true, .args[1] = FK_NAME("user.s"), .args[2] = FK_DATA("abc", 3),
	  .name1 = "user.s",
	  .data = "abc", .dlen = 3, .call = { W(size, 3), W(flags, XATTR_REPLACE) } },
};

static void init_no_setxattr_ext(void *ud, struct rf_conn *conn)
{
	conn->want &= ~RF_CAP_SETXATTR_EXT;
}

/* Set up a session for @row (ops, INIT), do its OPENs, send it, check everything. */
static void run_case(const struct op_case *row, const struct rf_ops *base_ops,
		     const struct open_step *pre)
{
	struct rf_ops ops = *base_ops;
	const struct fk_msg *m;
	uint64_t u;
	int n, i;

	memset(&c, 0, sizeof(c));
	if (row->no_setxattr_ext)
		ops.init = init_no_setxattr_ext;
	fk_setup(&fk, &ops, NULL, NULL);
	if (row->minor) {
		m = fk_wait_reply(&fk, fk_send_init(&fk, 7, row->minor,
						    FUSE_ASYNC_READ | FUSE_BIG_WRITES, 0, 65536));
		cr_assert_eq(m->oh.error, 0, "%s: INIT as 7.%u: error %d", row->name, row->minor,
			     m->oh.error);
	} else {
		fk_init(&fk);
	}
	if (row->no_setxattr_ext)
		cr_assert_eq(fk.init_out.flags & FUSE_SETXATTR_EXT, 0, "%s: SETXATTR_EXT accepted",
			     row->name);
	if (ops.init == h_init)
		cr_assert_eq(c.inits, 1, "%s: %d init calls", row->name, c.inits);
	for (; pre && pre->opcode; pre++)
		open_fh(pre->opcode, pre->ino, pre->fh);
	for (i = 0; i < 2 && row->open[i].opcode; i++)
		open_fh(row->open[i].opcode, row->open[i].ino, row->open[i].fh);
	memset(&c, 0, sizeof(c));

	next_fh = row->next_fh;
	u = fk_send_pieces(&fk, row->opcode, row->nodeid, row->args, -1, -1);
	m = fk_wait_reply(&fk, u);
	cr_assert_eq(m->oh.error, row->error, "%s: reply error %d, expected %d", row->name,
		     m->oh.error, row->error);
	cr_assert_eq(m->size, (size_t)row->reply_size, "%s: reply of %zu bytes, expected %ld",
		     row->name, m->size, row->reply_size);

	if (row->no_call) {
		cr_assert_eq(c.n, 0, "%s: the handler ran", row->name);
	} else {
		expect_call(row->name, row->opcode, u);
	}
	if (row->name1)
		cr_assert_str_eq(c.name, row->name1, "%s: name \"%s\", expected \"%s\"", row->name,
				 c.name, row->name1);
	if (row->name2)
		cr_assert_str_eq(c.name2, row->name2, "%s: second name \"%s\", expected \"%s\"",
				 row->name, c.name2, row->name2);
	if (row->data)
		cr_assert_eq(memcmp(c.data, row->data, row->dlen), 0, "%s: data", row->name);
	fk_check_wants(row->name, "handler's", &c, row->call);
	if (row->reply_data)
		cr_assert_eq(memcmp(m->payload + row->reply_off, row->reply_data, row->reply_dlen),
			     0, "%s: reply bytes at %zu", row->name, row->reply_off);
	fk_check_wants(row->name, "reply's", m->payload, row->reply);

	/* The session goes on serving. */
	n = c.n;
	fk_expect_reply(&fk, fk_send_name(&fk, FUSE_LOOKUP, 1, NULL, 0, "still"),
			base_ops->lookup ? -ENOENT : -ENOSYS, 0);
	cr_assert_eq(c.n, base_ops->lookup ? n + 1 : n, "%s: LOOKUP after it", row->name);
	fk_teardown(&fk);
}

static void run_op(const struct op_case *row)
{
	run_case(row, &all_ops, NULL);
}

FK_TABLE_TEST(dispatch, op, op_cases, run_op)

/* ---- NULL operations: the documented defaults, one row per opcode ---------------------- */

/*
 * ENOSYS on the wire. For FLUSH, FSYNC and FSYNCDIR the kernel takes ENOSYS as success and
 * stops sending them (the rf_ops comment says these "succeed"); for STATX it falls back
 * to GETATTR itself (the statx comment says the runtime does).
 */
#define ENOSYS_ROW(op, opcode, ...) \
	{ "null_" op "_gets_enosys", opcode, 5, .error = -ENOSYS, .no_call = true, __VA_ARGS__ }

static const struct op_case null_cases[] = {
	ENOSYS_ROW("lookup", FUSE_LOOKUP, .args[1] = FK_NAME("name")),
	ENOSYS_ROW("getattr", FUSE_GETATTR, IN(fuse_getattr_in, 0)),
	ENOSYS_ROW("setattr", FUSE_SETATTR, IN(fuse_setattr_in, .valid = FATTR_MODE, .mode = 0644)),
	ENOSYS_ROW("readlink", FUSE_READLINK),
	ENOSYS_ROW("symlink", FUSE_SYMLINK, .args[1] = FK_NAME("name"), .args[2] = FK_NAME("target")),
	ENOSYS_ROW("mknod", FUSE_MKNOD, IN(fuse_mknod_in, .mode = S_IFIFO | 0644),
		   .args[1] = FK_NAME("name")),
	ENOSYS_ROW("mkdir", FUSE_MKDIR, IN(fuse_mkdir_in, .mode = 0755), .args[1] = FK_NAME("name")),
	ENOSYS_ROW("unlink", FUSE_UNLINK, .args[1] = FK_NAME("name")),
	ENOSYS_ROW("rmdir", FUSE_RMDIR, .args[1] = FK_NAME("name")),
	ENOSYS_ROW("rename", FUSE_RENAME, IN(fuse_rename_in, .newdir = 1),
		   .args[1] = FK_NAME("a"), .args[2] = FK_NAME("b")),
	ENOSYS_ROW("link", FUSE_LINK, IN(fuse_link_in, .oldnodeid = 2), .args[1] = FK_NAME("name")),
	ENOSYS_ROW("read", FUSE_READ, IN(fuse_read_in, .size = 4096)),
	ENOSYS_ROW("write", FUSE_WRITE, IN(fuse_write_in, .size = 4), .args[1] = FK_DATA("data", 4)),
	ENOSYS_ROW("fsync", FUSE_FSYNC, IN(fuse_fsync_in, 0)),
	ENOSYS_ROW("setxattr", FUSE_SETXATTR, IN(fuse_setxattr_in, .size = 1),
		   .args[1] = FK_NAME("user.a"), .args[2] = FK_DATA("v", 1)),
	ENOSYS_ROW("getxattr", FUSE_GETXATTR, IN(fuse_getxattr_in, .size = 64),
		   .args[1] = FK_NAME("user.a")),
	ENOSYS_ROW("listxattr", FUSE_LISTXATTR, IN(fuse_getxattr_in, .size = 64)),
	ENOSYS_ROW("removexattr", FUSE_REMOVEXATTR, .args[1] = FK_NAME("name")),
	ENOSYS_ROW("flush", FUSE_FLUSH, IN(fuse_flush_in, 0)),
	ENOSYS_ROW("readdir", FUSE_READDIR, IN(fuse_read_in, .size = 4096)),
	ENOSYS_ROW("fsyncdir", FUSE_FSYNCDIR, IN(fuse_fsync_in, 0)),
	ENOSYS_ROW("getlk", FUSE_GETLK, IN(fuse_lk_in, .lk = { .type = F_RDLCK, .end = 10 })),
	ENOSYS_ROW("setlk", FUSE_SETLK, IN(fuse_lk_in, .lk = { .type = F_RDLCK, .end = 10 })),
	ENOSYS_ROW("setlkw", FUSE_SETLKW, IN(fuse_lk_in, .lk = { .type = F_RDLCK, .end = 10 })),
	ENOSYS_ROW("access", FUSE_ACCESS, IN(fuse_access_in, .mask = R_OK)),
	ENOSYS_ROW("create", FUSE_CREATE, IN(fuse_create_in, .mode = S_IFREG | 0644),
		   .args[1] = FK_NAME("name")),
	ENOSYS_ROW("bmap", FUSE_BMAP, IN(fuse_bmap_in, .blocksize = 512)),
	ENOSYS_ROW("ioctl", FUSE_IOCTL, IN(fuse_ioctl_in, .cmd = 1)),
	ENOSYS_ROW("poll", FUSE_POLL, IN(fuse_poll_in, 0)),
	ENOSYS_ROW("fallocate", FUSE_FALLOCATE, IN(fuse_fallocate_in, .length = 10)),
	ENOSYS_ROW("readdirplus", FUSE_READDIRPLUS, IN(fuse_read_in, .size = 4096)),
	ENOSYS_ROW("rename2", FUSE_RENAME2, IN(fuse_rename2_in, .newdir = 1),
		   .args[1] = FK_NAME("a"), .args[2] = FK_NAME("b")),
	ENOSYS_ROW("lseek", FUSE_LSEEK, IN(fuse_lseek_in, 0)),
	ENOSYS_ROW("copy_file_range", FUSE_COPY_FILE_RANGE,
		   IN(fuse_copy_file_range_in, .nodeid_out = 5, .len = 10)),
	ENOSYS_ROW("syncfs", FUSE_SYNCFS, IN(fuse_syncfs_in, 0)),
	ENOSYS_ROW("tmpfile", FUSE_TMPFILE, IN(fuse_create_in, .mode = S_IFREG | 0644)),
	ENOSYS_ROW("statx", FUSE_STATX, IN(fuse_statx_in, .sx_mask = STATX_BASIC_STATS)),

	{ "null_open_succeeds_with_fh_0", FUSE_OPEN, 5, IN(fuse_open_in, 0), .no_call = true,
	  .reply_size = sizeof(struct fuse_open_out),
	  .reply = { R(fuse_open_out, fh, 0), R(fuse_open_out, open_flags, 0) } },
	{ "null_opendir_succeeds_with_fh_0", FUSE_OPENDIR, 1, IN(fuse_open_in, 0),
	  .no_call = true, .reply_size = sizeof(struct fuse_open_out),
	  .reply = { R(fuse_open_out, fh, 0), R(fuse_open_out, open_flags, 0) } },
	{ "null_release_succeeds", FUSE_RELEASE, 5, IN(fuse_release_in, 0), .no_call = true },
	{ "null_releasedir_succeeds", FUSE_RELEASEDIR, 1, IN(fuse_release_in, 0),
	  .open = { { FUSE_OPENDIR, 1, 0 } }, .no_call = true },
	{ "null_statfs_reports_an_empty_filesystem", FUSE_STATFS, 1, .no_call = true,
	  .reply_size = sizeof(struct fuse_statfs_out),
	  .reply = { R(fuse_statfs_out, st.namelen, 255), R(fuse_statfs_out, st.bsize, 512),
		     R(fuse_statfs_out, st.blocks, 0), R(fuse_statfs_out, st.bfree, 0),
		     R(fuse_statfs_out, st.files, 0) },
	  .reply_data = zero64, .reply_off = offsetof(struct fuse_statfs_out, st.spare),
	  .reply_dlen = sizeof(((struct fuse_statfs_out *)0)->st.spare) },
};

/* fh 0 is what the default OPEN hands out: open it as the kernel would. */
static const struct open_step null_opens[] = {
	{ FUSE_OPEN, 5, 0 }, { FUSE_OPENDIR, 5, 0 }, { 0 },
};

static void run_null_op(const struct op_case *row)
{
	run_case(row, &no_ops, null_opens);
}

FK_TABLE_TEST(dispatch, null_op, null_cases, run_null_op)

/* ---- requests of other shapes ------------------------------------------------------------ */

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
	int i;

	start();
	fk_send(&fk, FUSE_BATCH_FORGET, 0, &msg, sizeof(msg));
	wait_forgets(3);
	fk_expect_no_reply(&fk, 30);
	cr_assert_eq(c.nforgets, 3);
	for (i = 0; i < 3; i++) {
		cr_assert_eq(c.forget[i][0], msg.one[i].nodeid, "forget %d: node id", i);
		cr_assert_eq(c.forget[i][1], msg.one[i].nlookup, "forget %d: count", i);
	}
	/* The server is still serving. */
	fk_expect_reply(&fk, fk_send_name(&fk, FUSE_LOOKUP, 1, NULL, 0, "x"), -ENOENT, 0);
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

Test(dispatch, null_forget_and_batch_forget_get_no_reply, .timeout = 10)
{
	struct fuse_forget_in one = { .nlookup = 1 };
	struct {
		struct fuse_batch_forget_in in;
		struct fuse_forget_one one[2];
	} msg = { { .count = 2 }, { { 10, 1 }, { 11, 2 } } };

	fk_setup(&fk, &no_ops, NULL, NULL);
	fk_init(&fk);
	fk_send(&fk, FUSE_FORGET, 5, &one, sizeof(one));
	fk_send(&fk, FUSE_BATCH_FORGET, 0, &msg, sizeof(msg));
	fk_expect_no_reply(&fk, 30);
	fk_expect_reply(&fk, fk_send_name(&fk, FUSE_LOOKUP, 1, NULL, 0, "name"), -ENOSYS, 0);
	fk_teardown(&fk);
}

Test(dispatch, null_destroy_replies_and_ends_the_session, .timeout = 10)
{
	fk_setup(&fk, &no_ops, NULL, NULL);
	fk_init(&fk);
	fk_expect_reply(&fk, fk_send(&fk, FUSE_DESTROY, 0, NULL, 0), 0, 0);
	cr_assert(fk_pump_until_ended(&fk, FK_WAIT_MS));
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

/* ---- nothing reaches the filesystem after its destroy ---------------------------------- */

static struct {
	bool destroyed;
	int after;                   /* calls made after destroy */
	int releases, forgets;
} d;

static void d_destroy(void *ud)
{
	d.destroyed = true;
}

static void d_lookup(struct rf_req *req, uint64_t parent, const char *name)
{
	struct rf_entry e = { .ino = 2, .entry_timeout = 1, .attr_timeout = 1,
			      .attr = { .st_mode = S_IFREG | 0644, .st_ino = 2 } };

	d.after += d.destroyed;
	rf_reply_entry(req, &e);
}

static void d_open(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	d.after += d.destroyed;
	fi->fh = 7;
	rf_reply_open(req, fi);
}

static void d_release(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	d.after += d.destroyed;
	d.releases++;
	rf_reply_err(req, 0);
}

static void d_forget(void *ud, uint64_t ino, uint64_t nlookup)
{
	d.after += d.destroyed;
	d.forgets++;
}

/* rf_ops.destroy is "called once, last": a DESTROY from the kernel while it still holds a
 * lookup and an open file, and a request after it, must not reach the filesystem after
 * its destroy ran (its state may be gone). */
Test(dispatch, nothing_reaches_the_filesystem_after_a_kernel_destroy, .timeout = 10)
{
	static const struct rf_ops d_ops = { .destroy = d_destroy, .lookup = d_lookup,
					     .open = d_open, .release = d_release,
					     .forget = d_forget };
	struct fuse_open_in oin = { .flags = O_RDONLY };
	const struct fk_msg *m;
	uint64_t u, u2;

	memset(&d, 0, sizeof(d));
	fk_setup(&fk, &d_ops, NULL, NULL);
	fk_init(&fk);
	fk_expect_reply(&fk, fk_send_name(&fk, FUSE_LOOKUP, 1, NULL, 0, "f"), 0, -1);
	fk_expect_reply(&fk, fk_send(&fk, FUSE_OPEN, 2, &oin, sizeof(oin)), 0, -1);
	u = fk_send(&fk, FUSE_DESTROY, 0, NULL, 0);
	u2 = fk_send_name(&fk, FUSE_LOOKUP, 1, NULL, 0, "g");
	fk_expect_reply(&fk, u, 0, 0);
	cr_assert(d.destroyed);
	/* The request after DESTROY: answered without the filesystem, or not at all. */
	if ((m = fk_recv(&fk, 50)))
		cr_assert_eq(m->oh.unique, u2);
	fk_teardown(&fk);
	cr_assert_eq(d.after, 0, "%d filesystem call(s) after destroy (%d releases, %d forgets)",
		     d.after, d.releases, d.forgets);
}
