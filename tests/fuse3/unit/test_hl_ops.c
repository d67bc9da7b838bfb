/*
 * Description: the high-level API's operations (bindings/fuse3/hl_ops.c, hl_file.c,
 * hl_dir.c, hl_fs.c) end to end without a mount: a struct fuse made by fuse_new, served by
 * the custom loop (fuse_session_receive_buf/process_buf) on the test's thread over one end
 * of a SOCK_SEQPACKET pair, with the test playing the kernel on the other end (as
 * test_lowlevel.c does for the low level); and fuse_fs_* called directly, as a stacking
 * module would.
 */
#include "fuse3_hl.h"
#include "fuse3_int.h"
#include <linux/fuse.h>

#include "kernel_end.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

struct fuse *fuse_new_31(struct fuse_args *args, const struct fuse_operations *op,
			 size_t op_size, void *user_data);

static void setup(void)
{
	ke_log_start();
}

static void teardown(void)
{
	ke_log_stop();
}

TestSuite(hl_ops, .init = setup, .fini = teardown, .timeout = 10);

/* ---- the kernel's end ------------------------------------------------------------------ */

struct hlk {
	struct fuse *f;
	struct fuse_session *se;
	int kfd;
	uint64_t unique;
	struct fuse_buf buf;
	char reply[1 << 20];
	size_t reply_len;
};

static uint64_t hlk_send(struct hlk *k, uint32_t opcode, uint64_t nodeid, const void *arg,
			 size_t len, const char *name)
{
	return ke_send(k->kfd, &k->unique, opcode, nodeid, arg, len, name);
}

static void hlk_serve(struct hlk *k)
{
	ke_serve(k->se, &k->buf);
}

/* Send, serve, and return the reply's payload after checking its error. */
static const void *hlk_call(struct hlk *k, uint32_t opcode, uint64_t nodeid, const void *arg,
			    size_t len, const char *name, int error)
{
	const struct fuse_out_header *oh = (const void *)k->reply;
	uint64_t u = hlk_send(k, opcode, nodeid, arg, len, name);
	struct pollfd p = { .fd = k->kfd, .events = POLLIN };
	ssize_t n;

	hlk_serve(k);
	if (opcode == FUSE_FORGET)
		return NULL;
	cr_assert_eq(poll(&p, 1, 2000), 1, "no reply to opcode %u", opcode);
	n = read(k->kfd, k->reply, sizeof(k->reply));
	cr_assert_geq(n, (ssize_t)sizeof(*oh));
	k->reply_len = (size_t)n;
	cr_assert_eq(oh->unique, u);
	cr_assert_eq(oh->error, error, "opcode %u: error %d, expected %d (log: %s)", opcode,
		     oh->error, error, ke_log);
	return k->reply + sizeof(*oh);
}

static void hlk_setup(struct hlk *k, const struct fuse_operations *ops, const char *opt)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_init_in in;
	char mp[32];

	memset(k, 0, sizeof(*k));
	cr_assert_eq(fuse_opt_add_arg(&args, "hlk"), 0);
	if (opt) {
		cr_assert_eq(fuse_opt_add_arg(&args, "-o"), 0);
		cr_assert_eq(fuse_opt_add_arg(&args, opt), 0);
	}
	k->f = fuse_new_31(&args, ops, sizeof(*ops), NULL);
	fuse_opt_free_args(&args);
	cr_assert_not_null(k->f, "log: %s", ke_log);
	k->se = fuse_get_session(k->f);
	k->kfd = ke_socketpair(mp, 2 << 20);
	cr_assert_eq(fuse_mount(k->f, mp), 0, "log: %s", ke_log);

	ke_init_in(&in, FUSE_ASYNC_READ | FUSE_DO_READDIRPLUS | FUSE_INIT_EXT | FUSE_MAX_PAGES |
		   FUSE_BIG_WRITES | FUSE_PARALLEL_DIROPS | FUSE_HAS_IOCTL_DIR | FUSE_EXPORT_SUPPORT);
	hlk_call(k, FUSE_INIT, 0, &in, sizeof(in), NULL, 0);
}

static void hlk_teardown(struct hlk *k)
{
	close(k->kfd);
	while (fuse_session_receive_buf(k->se, &k->buf) > 0)
		fuse_session_process_buf(k->se, &k->buf);
	fuse_destroy(k->f);
	free(k->buf.mem);
}

static uint64_t hlk_lookup(struct hlk *k, uint64_t parent, const char *name)
{
	const struct fuse_entry_out *eo = hlk_call(k, FUSE_LOOKUP, parent, NULL, 0, name, 0);

	cr_assert_neq(eo->nodeid, 0, "lookup %s", name);
	return eo->nodeid;
}

static void hlk_forget(struct hlk *k, uint64_t nodeid, uint64_t nlookup)
{
	struct fuse_forget_in in = { .nlookup = nlookup };

	hlk_call(k, FUSE_FORGET, nodeid, &in, sizeof(in), NULL, 0);
}

/* ---- a small filesystem: "/" and "/d" are directories, anything else a file ---------- */

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	memset(st, 0, sizeof(*st));
	if (strcmp(path, "/") == 0 || strcmp(path, "/d") == 0) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0644;
		st->st_nlink = 1;
	}
	return 0;
}

/* ---- ioctl on a directory ------------------------------------------------------------- */

static uint64_t ioctl_fh;
static unsigned int ioctl_flags;

static int fs_opendir(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	fi->fh = 77;
	return 0;
}

static int fs_ioctl(const char *path, unsigned int cmd, void *arg, struct fuse_file_info *fi,
		    unsigned int flags, void *data)
{
	(void)path, (void)cmd, (void)arg, (void)data;
	ioctl_fh = fi->fh;
	ioctl_flags = flags;
	return 0;
}

/* The kernel names the directory's handle (the binding's own) in an IOCTL on a directory:
 * the filesystem must see the fh its opendir set, as on libfuse (get_dirhandle). */
Test(hl_ops, ioctl_on_a_directory_gets_the_filesystems_dir_handle)
{
	static const struct fuse_operations ops = { .getattr = fs_getattr,
						    .opendir = fs_opendir,
						    .ioctl = fs_ioctl };
	static struct hlk k;
	struct fuse_open_in oin = { .flags = O_RDONLY };
	struct fuse_ioctl_in iin;
	const struct fuse_open_out *oo;

	hlk_setup(&k, &ops, NULL);
	oo = hlk_call(&k, FUSE_OPENDIR, 1, &oin, sizeof(oin), NULL, 0);
	memset(&iin, 0, sizeof(iin));
	iin.fh = oo->fh;
	iin.flags = FUSE_IOCTL_DIR;
	iin.cmd = 0x1234;
	hlk_call(&k, FUSE_IOCTL, 1, &iin, sizeof(iin), NULL, 0);
	cr_assert_eq(ioctl_flags & FUSE_IOCTL_DIR, FUSE_IOCTL_DIR);
	cr_assert_eq(ioctl_fh, 77, "the filesystem got fh %#llx, not its own 77",
		     (unsigned long long)ioctl_fh);
	hlk_teardown(&k);
}

/* ---- remember and "." / ".." lookups (NFS export) --------------------------------------- */

/* With remember=T, a node the kernel forgot stays T seconds. A LOOKUP of "." (or "..")
 * gives the kernel one more lookup of the directory: forgetting it must not count as the
 * kernel having forgotten the node while it still holds it, or remember's reference goes
 * early and the node is freed at the kernel's real last forget. */
Test(hl_ops, dot_lookups_count_for_remember)
{
	static const struct fuse_operations ops = { .getattr = fs_getattr };
	static struct hlk k;
	uint64_t d, dot;
	struct timespec ts = { 1, 200000000 };

	hlk_setup(&k, &ops, "remember=1");
	d = hlk_lookup(&k, 1, "d");
	dot = hlk_lookup(&k, d, ".");
	cr_assert_eq(dot, d);
	hlk_forget(&k, d, 1);            /* the kernel still holds one lookup */
	nanosleep(&ts, NULL);
	fuse_clean_cache(k.f);           /* nothing the kernel knows may expire */
	hlk_forget(&k, d, 1);            /* now it forgot: remembered for 1 s */
	cr_assert_eq(rf_hl_node_count(k.f), 2, "the node went at the kernel's last forget");
	hlk_teardown(&k);
}

/* ---- a filesystem answering getxattr with more than the buffer -------------------------- */

static int fs_getxattr(const char *path, const char *name, char *value, size_t size)
{
	(void)path, (void)name, (void)value, (void)size;
	return 1000;   /* nonsense: the value's size, whatever the buffer */
}

static int fs_listxattr(const char *path, char *list, size_t size)
{
	(void)path, (void)list, (void)size;
	return 1000;
}

Test(hl_ops, xattr_larger_than_the_buffer_is_erange)
{
	static const struct fuse_operations ops = { .getattr = fs_getattr,
						    .getxattr = fs_getxattr,
						    .listxattr = fs_listxattr };
	static struct hlk k;
	struct {
		struct fuse_getxattr_in in;
		char name[8];
	} gx;
	struct fuse_getxattr_in lx = { .size = 16 };
	const struct fuse_getxattr_out *go;

	hlk_setup(&k, &ops, NULL);
	memset(&gx, 0, sizeof(gx));
	gx.in.size = 16;
	strcpy(gx.name, "user.a");
	hlk_call(&k, FUSE_GETXATTR, 1, &gx, sizeof(gx.in) + strlen(gx.name) + 1, NULL, -ERANGE);
	hlk_call(&k, FUSE_LISTXATTR, 1, &lx, sizeof(lx), NULL, -ERANGE);
	/* size 0 asks for the size: that is what the filesystem said */
	gx.in.size = 0;
	go = hlk_call(&k, FUSE_GETXATTR, 1, &gx, sizeof(gx.in) + strlen(gx.name) + 1, NULL, 0);
	cr_assert_eq(go->size, 1000);
	hlk_teardown(&k);
}

/* ---- fuse_fs_* as a stacking module calls them ------------------------------------------ */

static char wb_data[16];
static size_t wb_size;

static int fs_write_buf(const char *path, struct fuse_bufvec *buf, off_t off,
			struct fuse_file_info *fi)
{
	struct fuse_bufvec dst = FUSE_BUFVEC_INIT(sizeof(wb_data));

	(void)path, (void)off, (void)fi;
	dst.buf[0].mem = wb_data;
	wb_size = (size_t)fuse_buf_copy(&dst, buf, 0);
	return (int)wb_size;
}

/* libfuse's fuse_fs_write goes through fuse_fs_write_buf: a filesystem with write_buf
 * alone gets the data. */
Test(hl_ops, fuse_fs_write_reaches_a_write_buf_only_filesystem)
{
	static const struct fuse_operations ops = { .write_buf = fs_write_buf };
	struct fuse_fs *fs = fuse_fs_new(&ops, sizeof(ops), NULL);
	struct fuse_file_info fi;
	int res;

	cr_assert_not_null(fs);
	memset(&fi, 0, sizeof(fi));
	res = fuse_fs_write(fs, "/x", "abc", 3, 0, &fi);
	free(fs);
	cr_assert_eq(res, 3, "fuse_fs_write: %d", res);
	cr_assert_eq(wb_size, 3);
	cr_assert_eq(memcmp(wb_data, "abc", 3), 0);
}

/* ---- an opendir answering ENOSYS --------------------------------------------------------- */

static int fs_opendir_enosys(const char *path, struct fuse_file_info *fi)
{
	(void)path, (void)fi;
	return -ENOSYS;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	(void)path, (void)off, (void)fi, (void)flags;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	fill(buf, "a", NULL, 0, 0);
	return 0;
}

/* The kernel takes ENOSYS to OPENDIR as "no opendir": it sends no more OPENDIRs and names
 * fh 0 in READDIR. The kernel played here does the same; the READDIR must be served. */
Test(hl_ops, opendir_enosys_leaves_readdir_working)
{
	static const struct fuse_operations ops = { .getattr = fs_getattr,
						    .opendir = fs_opendir_enosys,
						    .readdir = fs_readdir };
	static struct hlk k;
	const struct fuse_out_header *oh = (const void *)k.reply;
	struct fuse_open_in oin = { .flags = O_RDONLY };
	struct fuse_read_in rin = { .size = 4096 };
	struct pollfd p = { .fd = 0, .events = POLLIN };
	const struct fuse_dirent *de;
	uint64_t u;

	hlk_setup(&k, &ops, NULL);
	u = hlk_send(&k, FUSE_OPENDIR, 1, &oin, sizeof(oin), NULL);
	hlk_serve(&k);
	p.fd = k.kfd;
	cr_assert_eq(poll(&p, 1, 2000), 1);
	cr_assert_gt(read(k.kfd, k.reply, sizeof(k.reply)), 0);
	cr_assert_eq(oh->unique, u);
	if (oh->error == 0)
		rin.fh = ((const struct fuse_open_out *)(oh + 1))->fh;
	else
		cr_assert_eq(oh->error, -ENOSYS);   /* the kernel then sends fh 0 */
	de = hlk_call(&k, FUSE_READDIR, 1, &rin, sizeof(rin), NULL, 0);
	cr_assert_eq(de->namelen, 1);
	cr_assert_eq(de->name[0], '.');
	hlk_teardown(&k);
}

/* ---- a filesystem with getattr and readdir only ----------------------------------------- */

/* Every other operation is missing: each request gets libfuse's answer (ENOSYS, or 0 where
 * nothing is to be done), and nothing crashes. */
Test(hl_ops, getattr_and_readdir_only)
{
	static const struct fuse_operations ops = { .getattr = fs_getattr,
						    .readdir = fs_readdir };
	static struct hlk k;
	struct fuse_open_in oin = { .flags = O_RDWR };
	struct fuse_read_in rin = { .size = 4096 };
	struct {
		struct fuse_write_in in;
		char data[3];
	} win = { .in = { .size = 3 }, .data = "abc" };
	struct fuse_flush_in fin;
	struct fuse_release_in relin;
	struct fuse_setattr_in sin = { .valid = FATTR_MODE, .mode = 0600 };
	struct fuse_lseek_in lin = { .whence = SEEK_DATA };
	struct {
		struct fuse_mknod_in in;
		char name[4];
	} mk = { .in = { .mode = S_IFREG | 0644 }, .name = "new" };
	struct {
		struct fuse_rename_in in;
		char names[8];
	} rn = { .in = { .newdir = 1 }, .names = "a\0b" };
	const struct fuse_open_out *oo;
	const struct fuse_statfs_out *so;
	uint64_t a, fh;

	hlk_setup(&k, &ops, NULL);
	a = hlk_lookup(&k, 1, "a");
	hlk_call(&k, FUSE_GETATTR, a, &(struct fuse_getattr_in){ 0 },
		 sizeof(struct fuse_getattr_in), NULL, 0);
	oo = hlk_call(&k, FUSE_OPEN, a, &oin, sizeof(oin), NULL, 0);
	fh = oo->fh;
	rin.fh = fh;
	win.in.fh = fh;
	hlk_call(&k, FUSE_READ, a, &rin, sizeof(rin), NULL, -ENOSYS);
	hlk_call(&k, FUSE_WRITE, a, &win, sizeof(win), NULL, -ENOSYS);
	lin.fh = fh;
	hlk_call(&k, FUSE_LSEEK, a, &lin, sizeof(lin), NULL, -ENOSYS);
	memset(&fin, 0, sizeof(fin));
	fin.fh = fh;
	hlk_call(&k, FUSE_FLUSH, a, &fin, sizeof(fin), NULL, -ENOSYS);
	memset(&relin, 0, sizeof(relin));
	relin.fh = fh;
	hlk_call(&k, FUSE_RELEASE, a, &relin, sizeof(relin), NULL, 0);
	hlk_call(&k, FUSE_SETATTR, a, &sin, sizeof(sin), NULL, -ENOSYS);
	hlk_call(&k, FUSE_MKNOD, 1, &mk, sizeof(mk.in) + sizeof(mk.name), NULL, -ENOSYS);
	hlk_call(&k, FUSE_RENAME, 1, &rn, sizeof(rn.in) + 4, NULL, -ENOSYS);
	hlk_call(&k, FUSE_UNLINK, 1, NULL, 0, "a", -ENOSYS);
	hlk_call(&k, FUSE_READLINK, a, NULL, 0, NULL, -ENOSYS);
	so = hlk_call(&k, FUSE_STATFS, 1, NULL, 0, NULL, 0);
	cr_assert_eq(so->st.namelen, 255);
	oo = hlk_call(&k, FUSE_OPENDIR, 1, &(struct fuse_open_in){ .flags = O_RDONLY },
		      sizeof(struct fuse_open_in), NULL, 0);
	rin.fh = oo->fh;
	hlk_call(&k, FUSE_READDIR, 1, &rin, sizeof(rin), NULL, 0);
	hlk_call(&k, FUSE_READDIRPLUS, 1, &rin, sizeof(rin), NULL, 0);
	hlk_forget(&k, a, 1);
	cr_assert_eq(rf_hl_node_count(k.f), 1);
	hlk_teardown(&k);
}

/* ---- intr: the handler goes with the struct fuse ----------------------------------------- */

static void *fs_init_intr(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	cfg->intr = 1;
	cfg->intr_signal = SIGUSR2;
	return NULL;
}

/* intr installs an empty handler on intr_signal where the program left the default;
 * fuse_destroy puts the default back, as libfuse's does, or the program's signal stays
 * swallowed after the filesystem is gone. */
Test(hl_ops, intr_handler_is_restored_at_destroy)
{
	static const struct fuse_operations ops = { .getattr = fs_getattr,
						    .init = fs_init_intr };
	static struct hlk k;
	struct sigaction sa;

	signal(SIGUSR2, SIG_DFL);
	hlk_setup(&k, &ops, NULL);
	cr_assert_eq(sigaction(SIGUSR2, NULL, &sa), 0);
	cr_assert_neq(sa.sa_handler, SIG_DFL, "intr installed no handler");
	hlk_teardown(&k);
	cr_assert_eq(sigaction(SIGUSR2, NULL, &sa), 0);
	cr_assert_eq(sa.sa_handler, SIG_DFL, "the handler stayed after fuse_destroy");
}

/* ---- auto_cache: a file whose attributes cannot be read is not kept cached --------------- */

static bool attr_fail;

static int fs_getattr_flaky(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	if (attr_fail && strcmp(path, "/a") == 0)
		return -EIO;
	return fs_getattr(path, st, fi);
}

static uint32_t open_flags_of(struct hlk *k, uint64_t nodeid)
{
	struct fuse_open_in oin = { .flags = O_RDONLY };
	const struct fuse_open_out *oo = hlk_call(k, FUSE_OPEN, nodeid, &oin, sizeof(oin), NULL, 0);
	struct fuse_release_in rin = { .fh = oo->fh };
	uint32_t flags = oo->open_flags;

	hlk_call(k, FUSE_RELEASE, nodeid, &rin, sizeof(rin), NULL, 0);
	return flags;
}

/* With auto_cache an OPEN keeps the page cache only if the file's attributes show it did
 * not change since it was cached; attributes that cannot be read (getattr fails) say
 * nothing of the kind: libfuse drops the cache then (open_auto_cache), and so must we. */
Test(hl_ops, auto_cache_drops_the_cache_when_getattr_fails)
{
	static const struct fuse_operations ops = { .getattr = fs_getattr_flaky };
	static struct hlk k;
	uint64_t a;

	hlk_setup(&k, &ops, "auto_cache,ac_attr_timeout=0");
	a = hlk_lookup(&k, 1, "a");
	cr_assert_eq(open_flags_of(&k, a) & FOPEN_KEEP_CACHE, 0, "first open: nothing cached");
	cr_assert_neq(open_flags_of(&k, a) & FOPEN_KEEP_CACHE, 0, "unchanged: kept");
	attr_fail = true;
	cr_assert_eq(open_flags_of(&k, a) & FOPEN_KEEP_CACHE, 0, "getattr failed: kept");
	hlk_teardown(&k);
}

/* ---- READDIRPLUS: lookups only for the entries that go out -------------------------------- */

static bool rdp_offsets;   /* offset mode (each entry's own offset) or full mode (0) */

static int fs_readdir_plus(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
			   struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	static const char *names[] = { ".", "..", "a", "b", "c" };
	struct stat st;

	(void)path, (void)fi, (void)flags;
	for (int i = rdp_offsets ? (int)off : 0; i < 5; i++) {
		memset(&st, 0, sizeof(st));
		st.st_mode = (i < 2 ? S_IFDIR : S_IFREG) | 0644;
		st.st_ino = 1000 + (ino_t)i;
		if (fill(buf, names[i], &st, rdp_offsets ? i + 1 : 0, FUSE_FILL_DIR_PLUS))
			break;
	}
	return 0;
}

/* READDIRPLUS with room for one entry at a time: each name comes once, in order, with a
 * node (one lookup) for every name but "." and ".."; forgetting those leaves the root. */
static void readdirplus_one_by_one(bool offsets)
{
	static const struct fuse_operations ops = { .getattr = fs_getattr,
						    .readdir = fs_readdir_plus };
	static const char *want[] = { ".", "..", "a", "b", "c" };
	static struct hlk k;
	struct fuse_open_in oin = { .flags = O_RDONLY };
	struct fuse_read_in rin = { .size = 200 };
	const struct fuse_open_out *oo;
	uint64_t ids[5];

	rdp_offsets = offsets;
	hlk_setup(&k, &ops, NULL);
	oo = hlk_call(&k, FUSE_OPENDIR, 1, &oin, sizeof(oin), NULL, 0);
	rin.fh = oo->fh;
	for (int i = 0; i <= 5; i++) {
		const struct fuse_direntplus *dp;

		rin.offset = (uint64_t)i;
		dp = hlk_call(&k, FUSE_READDIRPLUS, 1, &rin, sizeof(rin), NULL, 0);
		if (i == 5) {
			cr_assert_eq(k.reply_len, sizeof(struct fuse_out_header), "past the end");
			break;
		}
		cr_assert_eq(k.reply_len - sizeof(struct fuse_out_header),
			     FUSE_DIRENTPLUS_SIZE(dp), "one entry at offset %d", i);
		cr_assert_eq(dp->dirent.namelen, strlen(want[i]));
		cr_assert_eq(memcmp(dp->dirent.name, want[i], dp->dirent.namelen), 0);
		cr_assert_eq(dp->dirent.off, (uint64_t)i + 1);
		ids[i] = dp->entry_out.nodeid;
		cr_assert_eq(ids[i] != 0, i >= 2, "entry %s: node %llu", want[i],
			     (unsigned long long)ids[i]);
	}
	cr_assert_eq(rf_hl_node_count(k.f), 4);
	for (int i = 2; i < 5; i++)
		hlk_forget(&k, ids[i], 1);
	cr_assert_eq(rf_hl_node_count(k.f), 1);
	hlk_teardown(&k);
}

Test(hl_ops, readdirplus_full_mode_one_by_one)
{
	readdirplus_one_by_one(false);
}

Test(hl_ops, readdirplus_offset_mode_one_by_one)
{
	readdirplus_one_by_one(true);
}

/* ---- offset mode: a filesystem that goes on filling after "full" -------------------------- */

static char long_name[201];

static int fs_readdir_ignores_full(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
				   struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	const char *names[] = { "x1", "x2", "x3", long_name, "y" };

	(void)path, (void)fi, (void)flags;
	for (int i = (int)off; i < 5; i++)
		fill(buf, names[i], NULL, i + 1, 0);   /* the "full" answer ignored */
	return 0;
}

/* Once the filler said the reply is full, a later entry small enough to fit must not go in
 * ahead of the one refused: the kernel would go on after it, and the refused entry would
 * never be listed. */
Test(hl_ops, offset_mode_filling_on_after_full_loses_no_entry)
{
	static const struct fuse_operations ops = { .getattr = fs_getattr,
						    .readdir = fs_readdir_ignores_full };
	static struct hlk k;
	struct fuse_open_in oin = { .flags = O_RDONLY };
	struct fuse_read_in rin = { .size = 256 };
	const struct fuse_open_out *oo;
	char got[1024] = "";

	memset(long_name, 'l', sizeof(long_name) - 1);
	hlk_setup(&k, &ops, NULL);
	oo = hlk_call(&k, FUSE_OPENDIR, 1, &oin, sizeof(oin), NULL, 0);
	rin.fh = oo->fh;
	for (int calls = 0; calls < 10; calls++) {
		const char *p = hlk_call(&k, FUSE_READDIR, 1, &rin, sizeof(rin), NULL, 0);
		size_t len = k.reply_len - sizeof(struct fuse_out_header), pos = 0;

		if (!len)
			break;
		while (pos < len) {
			const struct fuse_dirent *de = (const void *)(p + pos);

			strncat(got, de->name, de->namelen < 4 ? de->namelen : 4);
			strcat(got, " ");
			rin.offset = de->off;
			pos += FUSE_DIRENT_SIZE(de);
		}
	}
	cr_assert_str_eq(got, "x1 x2 x3 llll y ");
	hlk_teardown(&k);
}

/* ---- malloc: the binding keeps glibc's dynamic mmap threshold ----------------------------
 * A filesystem that allocates a big block per request (squashfuse: one 128 KiB data block
 * per READ) relies on glibc raising its mmap threshold once such a block was freed, so that
 * the next one comes from the heap instead of an mmap/munmap pair and fresh page faults.
 * fuse_new tuning a fixed threshold switched that off (squashfuse read 5x slower than on
 * Debian's libfuse3). Under a sanitizer malloc is the sanitizer's: nothing to observe. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HL_SANITIZED_MALLOC 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define HL_SANITIZED_MALLOC 1
#endif
#ifndef HL_SANITIZED_MALLOC
#include <malloc.h>

Test(hl_ops, fuse_new_leaves_glibcs_dynamic_mmap_threshold_on)
{
	static const struct fuse_operations ops = { .getattr = fs_getattr };
	static struct hlk k;
	const size_t big = 600 << 10;   /* above glibc's initial 128 KiB threshold */
	struct mallinfo2 before, after;
	char *p;

	hlk_setup(&k, &ops, NULL);
	p = malloc(big);
	cr_assert_not_null(p);
	memset(p, 1, big);
	__asm__ volatile("" : : "r"(p) : "memory");   /* no compiler elides the pair */
	free(p);                        /* a dynamic threshold rises to this block's size */
	before = mallinfo2();
	p = malloc(big);
	__asm__ volatile("" : : "r"(p) : "memory");
	after = mallinfo2();
	cr_assert_not_null(p);
	cr_expect_eq(after.hblks, before.hblks,
		     "a %zu KiB block, after one was freed, was mmap'd again (%zu -> %zu mapped "
		     "blocks): glibc's dynamic mmap threshold is off", big >> 10,
		     before.hblks, after.hblks);
	free(p);
	hlk_teardown(&k);
}
#endif
