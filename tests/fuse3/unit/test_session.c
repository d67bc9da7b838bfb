/*
 * Description: the session core of the libfuse3 binding without a mount
 * (bindings/fuse3/{session,loop,ops,reply,conn,cuse}.c): fuse_session_new's options,
 * the loop configuration, the FUSE_CAP_* <-> kernel bit mapping, the directory entry
 * formats, the conn info options, and the clear failures of what is not available.
 * Real mounts are in scripts/run-tests.sh ("libfuse3 binding").
 */
#include "fuse3_int.h"
#include <cuse_lowlevel.h>
#include <linux/fuse.h>

#include <criterion/criterion.h>
#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>

static char logbuf[4096];

static void capture_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
	size_t used = strlen(logbuf);

	(void)level;
	vsnprintf(logbuf + used, sizeof(logbuf) - used, fmt, ap);
}

static void setup(void)
{
	logbuf[0] = '\0';
	fuse_set_log_func(capture_log);
}

static void teardown(void)
{
	fuse_set_log_func(NULL);
}

TestSuite(session, .init = setup, .fini = teardown, .timeout = 10);

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, ENOENT);
}

static const struct fuse_lowlevel_ops ops = { .lookup = ll_lookup };

/* fuse_session_new on argv (NULL-terminated); the caller destroys it. */
static struct fuse_session *session(const char *const *argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se;

	for (; *argv; argv++)
		cr_assert_eq(fuse_opt_add_arg(&args, *argv), 0);
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	fuse_opt_free_args(&args);
	return se;
}

Test(session, mount_options_reach_the_runtime_options)
{
	const char *argv[] = { "fs", "-o", "allow_other,default_permissions,ro,noexec",
			       "-o", "fsname=src,subtype=t,max_read=65536,transport=dev", "-d",
			       NULL };
	struct fuse_session *se = session(argv);

	cr_assert_not_null(se, "log: %s", logbuf);
	cr_expect_eq(se->opts.allow_other, 1);
	cr_expect_eq(se->opts.default_permissions, 1);
	cr_expect_eq(se->opts.read_only, 1);
	cr_expect(se->opts.mount_flags & MS_RDONLY);
	cr_expect(se->opts.mount_flags & MS_NOEXEC);
	cr_expect(se->opts.mount_flags & MS_NOSUID, "libfuse's default nosuid stays");
	cr_expect_str_eq(se->opts.fsname, "src");
	cr_expect_str_eq(se->opts.subtype, "t");
	cr_expect_eq(se->opts.max_read, 65536);
	cr_expect_eq(se->opts.transport, RF_TRANSPORT_DEV);
	cr_expect_eq(se->debug, 1);
	cr_expect_eq(fuse_session_fd(se), -1, "no device before the mount");
	fuse_session_destroy(se);
}

/* libfuse's mount: type "fuse" and source "/dev/fuse" when the program named no subtype
 * (qemu-storage-daemon, nbdfuse: fuse_session_new without fuse_parse_cmdline); source the
 * subtype when it named only that. The runtime's defaults (the program's name for both)
 * made /proc/mounts say "qemu-storage-daemon on ... type fuse.qemu-storage-daemon". */
Test(session, mount_type_and_source_default_as_in_libfuse)
{
	const char *bare[] = { "", "-o", "max_read=65536", NULL };
	const char *sub[] = { "fs", "-o", "subtype=t", NULL };
	struct fuse_session *se = session(bare);

	cr_assert_not_null(se, "log: %s", logbuf);
	cr_expect_str_eq(se->opts.subtype, "", "no subtype: the runtime mounts type \"fuse\"");
	cr_expect_str_eq(se->opts.fsname, "/dev/fuse");
	fuse_session_destroy(se);
	se = session(sub);
	cr_assert_not_null(se, "log: %s", logbuf);
	cr_expect_str_eq(se->opts.subtype, "t");
	cr_expect_str_eq(se->opts.fsname, "t");
	fuse_session_destroy(se);
}

Test(session, unknown_option_fails_like_libfuse)
{
	const char *argv[] = { "fs", "-o", "allow_other,bogus=1", NULL };

	cr_assert_null(session(argv));
	cr_expect(strstr(logbuf, "fuse: unknown option(s): `-o bogus=1'"), "log: %s", logbuf);
}

Test(session, unsupported_mount_option_says_so)
{
	const char *argv[] = { "fs", "-o", "blkdev", NULL };

	cr_assert_null(session(argv));
	cr_expect(strstr(logbuf, "`blkdev' is not supported by ringfuse"), "log: %s", logbuf);
}

Test(session, allow_root_and_allow_other_exclude_each_other)
{
	const char *both[] = { "fs", "-o", "allow_root,allow_other", NULL };
	const char *root[] = { "fs", "-o", "allow_root", NULL };
	struct fuse_session *se;

	cr_assert_null(session(both));
	cr_expect(strstr(logbuf, "mutually exclusive"), "log: %s", logbuf);
	se = session(root);
	cr_assert_not_null(se);
	cr_expect_eq(se->deny_others, 1);
	cr_expect_eq(se->opts.allow_other, 1, "the kernel lets all in; the binding filters");
	fuse_session_destroy(se);
}

Test(session, bad_transport_value_fails)
{
	const char *argv[] = { "fs", "-o", "transport=carrier-pigeon", NULL };

	cr_assert_null(session(argv));
	cr_expect(strstr(logbuf, "transport must be auto, dev or uring"), "log: %s", logbuf);
}

/* ringfuse's own options, as the runtime's examples take them; out of range fails. */
Test(session, poll_us_reaches_the_runtime_and_is_bounded)
{
	const char *ok[] = { "fs", "-o", "poll_us=25,grace_ms=700", NULL };
	const char *big[] = { "fs", "-o", "poll_us=1000001", NULL };
	const char *neg[] = { "fs", "-o", "poll_us=-1", NULL };
	struct fuse_session *se = session(ok);

	cr_assert_not_null(se, "log: %s", logbuf);
	cr_expect_eq(se->opts.poll_us, 25);
	cr_expect_eq(se->opts.grace_ms, 700);
	fuse_session_destroy(se);
	cr_expect_null(session(big));
	cr_expect(strstr(logbuf, "poll_us is at most 1000000"), "log: %s", logbuf);
	cr_expect_null(session(neg));
	cr_expect(strstr(logbuf, "invalid value in option `poll_us=-1'"), "log: %s", logbuf);
}

Test(session, loop_without_mount_fails_clearly)
{
	const char *argv[] = { "fs", NULL };
	struct fuse_session *se = session(argv);

	cr_assert_not_null(se);
	cr_expect_eq(fuse_session_loop(se), -EINVAL);
	cr_expect(strstr(logbuf, "fuse_session_loop: the session is not mounted"), "log: %s",
		  logbuf);
	cr_expect_eq(fuse_session_loop_mt(se, NULL), -EINVAL);
	cr_expect_eq(fuse_session_loop(NULL), -EINVAL);
	fuse_session_destroy(se);
}

Test(session, exit_reset_exited)
{
	const char *argv[] = { "fs", NULL };
	struct fuse_session *se = session(argv);

	cr_assert_not_null(se);
	cr_expect_eq(fuse_session_exited(se), 0);
	fuse_session_exit(se);
	cr_expect_eq(fuse_session_exited(se), 1);
	fuse_session_reset(se);
	cr_expect_eq(fuse_session_exited(se), 0);
	fuse_session_destroy(se);
}

Test(session, unavailable_functions_name_themselves_and_fail)
{
	const char *argv[] = { "fs", NULL };
	struct fuse_session *se = session(argv);
	struct fuse_buf buf = { 0 };
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct cuse_info ci = { 0 };
	struct cuse_lowlevel_ops clop = { 0 };

	cr_assert_not_null(se);
	/* Custom loops work on a mounted session only (scripts/run-tests.sh runs one). */
	cr_expect_eq(fuse_session_receive_buf(se, &buf), -EINVAL);
	cr_expect(strstr(logbuf, "fuse_session_receive_buf: the session is not mounted"),
		  "log: %s", logbuf);
	cr_expect_null(buf.mem);
	fuse_session_process_buf(se, &buf);
	cr_expect(strstr(logbuf, "fuse_session_process_buf: the session is not mounted"),
		  "log: %s", logbuf);
	cr_expect_eq(fuse_session_custom_io(se, NULL, 3), -ENOSYS);
	cr_expect(strstr(logbuf, "fuse_session_custom_io is not supported"), "log: %s", logbuf);
	/* CUSE: an empty argv fails as fuse_session_new does; a device without DEVNAME
	 * fails before any channel is opened, saying why. */
	cr_expect_null(cuse_lowlevel_new(&args, &ci, &clop, NULL));
	cr_expect(strstr(logbuf, "empty argv"), "log: %s", logbuf);
	cr_expect_eq(cuse_lowlevel_main(2, (char *[]){ "x", "-f", NULL }, &ci, &clop, NULL), 1);
	fuse_session_destroy(se);
}

TestSuite(loopcfg, .init = setup, .fini = teardown, .timeout = 10);

Test(loopcfg, create_set_convert)
{
	struct fuse_loop_config *c = fuse_loop_cfg_create();
	struct fuse_loop_config_v1 v1 = { .clone_fd = 1, .max_idle_threads = 5 };

	cr_assert_not_null(c);
	cr_expect_eq(c->version_id, RF_FUSE3_LOOP_CFG_V2);
	cr_expect_eq(c->max_threads, 10, "libfuse's default");
	cr_expect_eq(c->max_idle_threads, -1, "idle workers kept by default");
	fuse_loop_cfg_set_max_threads(c, 3);
	fuse_loop_cfg_set_idle_threads(c, UINT_MAX);
	cr_expect_eq(c->max_threads, 3);
	cr_expect_eq(c->max_idle_threads, -1, "UINT_MAX (fuse_parse_cmdline's default) = never");
	fuse_loop_cfg_convert(c, &v1);
	cr_expect_eq(c->max_idle_threads, 5);
	cr_expect_eq(c->clone_fd, 1);
	fuse_loop_cfg_destroy(c);
}

Test(loopcfg, a_v1_struct_in_place_of_the_opaque_one_is_refused)
{
	struct fuse_loop_config_v1 v1 = { .clone_fd = 0, .max_idle_threads = 10 };
	const char *argv[] = { "fs", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(1, (char **)argv);
	struct fuse_session *se = fuse_session_new(&args, &ops, sizeof(ops), NULL);

	fuse_opt_free_args(&args);     /* fuse_opt_parse made it the caller's, as in libfuse */
	cr_assert_not_null(se);
	cr_expect_eq(fuse_session_loop_mt(se, (struct fuse_loop_config *)&v1), -EINVAL);
	cr_expect(strstr(logbuf, "invalid loop config"), "log: %s", logbuf);
	fuse_session_destroy(se);
}

TestSuite(caps, .timeout = 10);

Test(caps, fuse_caps_map_to_kernel_bits_and_back)
{
	/* The three that are not at the kernel's bit position. */
	cr_expect_eq(rf_fuse3_caps_to_rf(FUSE_CAP_POSIX_ACL), RF_CAP_POSIX_ACL);
	cr_expect_eq(rf_fuse3_caps_to_rf(FUSE_CAP_HANDLE_KILLPRIV), RF_CAP_HANDLE_KILLPRIV);
	cr_expect_eq(rf_fuse3_caps_to_rf(FUSE_CAP_EXPIRE_ONLY), RF_CAP_HAS_EXPIRE_ONLY);
	cr_expect_eq(rf_fuse3_caps_from_rf(RF_CAP_POSIX_ACL), FUSE_CAP_POSIX_ACL);
	cr_expect_eq(rf_fuse3_caps_from_rf(RF_CAP_HANDLE_KILLPRIV), FUSE_CAP_HANDLE_KILLPRIV);
	cr_expect_eq(rf_fuse3_caps_from_rf(RF_CAP_WRITEBACK_CACHE | RF_CAP_ASYNC_READ),
		     FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_ASYNC_READ);
	/* Kernel bits libfuse 3.14 has no name for are not offered to the filesystem. */
	cr_expect_eq(rf_fuse3_caps_from_rf(RF_CAP_PASSTHROUGH | RF_CAP_OVER_IO_URING |
					   RF_CAP_HANDLE_KILLPRIV_V2), 0);
	/* libfuse's splice bits have no kernel counterpart here. */
	cr_expect_eq(rf_fuse3_caps_to_rf(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE), 0);
}

Test(caps, conn_info_opts_apply_like_libfuse)
{
	const char *argv[] = { "fs", "-o", "max_write=65536,writeback_cache,no_remote_lock",
			       "-o", "readdirplus=no,time_gran=1000,sync_read,other", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_conn_info_opts *o;
	struct fuse_conn_info conn = { 0 };
	const char **a;

	for (a = argv; *a; a++)
		cr_assert_eq(fuse_opt_add_arg(&args, *a), 0);
	o = fuse_parse_conn_info_opts(&args);
	cr_assert_not_null(o);
	cr_expect_eq(args.argc, 3, "unknown options stay for the next parser");
	cr_expect_str_eq(args.argv[2], "other");
	conn.capable = ~0u;
	conn.want = FUSE_CAP_ASYNC_READ | FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS |
		    FUSE_CAP_READDIRPLUS;
	conn.max_write = 1 << 20;
	fuse_apply_conn_info_opts(o, &conn);
	cr_expect_eq(conn.max_write, 65536);
	cr_expect_eq(conn.time_gran, 1000);
	cr_expect(conn.want & FUSE_CAP_WRITEBACK_CACHE);
	cr_expect_not(conn.want & (FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS));
	cr_expect_not(conn.want & FUSE_CAP_READDIRPLUS);
	cr_expect_not(conn.want & FUSE_CAP_ASYNC_READ, "sync_read");
	free(o);
	fuse_opt_free_args(&args);
}

TestSuite(dirent, .timeout = 10);

Test(dirent, add_direntry_writes_the_kernel_format_only_when_it_fits)
{
	char buf[256];
	struct stat st = { .st_ino = 42, .st_mode = S_IFDIR | 0755 };
	struct fuse_dirent *de = (struct fuse_dirent *)buf;
	size_t need = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + 5);

	memset(buf, 0xaa, sizeof(buf));
	cr_expect_eq(fuse_add_direntry(NULL, NULL, 0, "hello", &st, 7), need, "size query");
	cr_expect_eq(fuse_add_direntry(NULL, buf, need - 1, "hello", &st, 7), need);
	cr_expect_eq((unsigned char)buf[0], 0xaa, "nothing written when it does not fit");
	cr_expect_eq(fuse_add_direntry(NULL, buf, sizeof(buf), "hello", &st, 7), need);
	cr_expect_eq(de->ino, 42);
	cr_expect_eq(de->off, 7);
	cr_expect_eq(de->namelen, 5);
	cr_expect_eq(de->type, DT_DIR);
	cr_expect_eq(memcmp(de->name, "hello", 5), 0);
	cr_expect_eq(buf[FUSE_NAME_OFFSET + 5], 0, "padding zeroed");
}

Test(dirent, add_direntry_plus_fills_the_entry)
{
	char buf[512];
	struct fuse_entry_param e = { .ino = 9, .generation = 3, .attr_timeout = 1.5,
				      .entry_timeout = 2.25 };
	struct fuse_direntplus *dp = (struct fuse_direntplus *)buf;
	size_t need = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET_DIRENTPLUS + 1);

	e.attr.st_ino = 9;
	e.attr.st_mode = S_IFREG | 0644;
	e.attr.st_size = 1234;
	cr_expect_eq(fuse_add_direntry_plus(NULL, buf, sizeof(buf), "f", &e, 99), need);
	cr_expect_eq(dp->entry_out.nodeid, 9);
	cr_expect_eq(dp->entry_out.generation, 3);
	cr_expect_eq(dp->entry_out.attr_valid, 1);
	cr_expect_eq(dp->entry_out.attr_valid_nsec, 500000000);
	cr_expect_eq(dp->entry_out.entry_valid, 2);
	cr_expect_eq(dp->entry_out.entry_valid_nsec, 250000000);
	cr_expect_eq(dp->entry_out.attr.size, 1234);
	cr_expect_eq(dp->dirent.off, 99);
	cr_expect_eq(dp->dirent.type, DT_REG);
	cr_expect_eq(dp->dirent.name[0], 'f');
}
