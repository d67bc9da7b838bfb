/*
 * Description: a custom loop (fuse_session_receive_buf/process_buf) after the kernel ended
 * the connection, as qemu-storage-daemon drives it: its fd handler calls receive_buf again
 * while that returns -EINTR, and passes whatever it got to process_buf without looking at
 * a 0. The test plays the kernel on one end of a socket pair (kernel_end.h).
 */
#include "fuse3_int.h"
#include <linux/fuse.h>

#include "kernel_end.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void setup(void)
{
	ke_log_start();
}

static void teardown(void)
{
	ke_log_stop();
}

TestSuite(custom_end, .init = setup, .fini = teardown, .timeout = 10);

static int lookups;

static void lookup_enoent(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	lookups++;
	fuse_reply_err(req, ENOENT);
}

/* qemu-storage-daemon's read_from_fuse_export: receive until not -EINTR, then process. */
static int qemu_round(struct fuse_session *se, struct fuse_buf *buf)
{
	int ret, tries = 0;

	do {
		ret = fuse_session_receive_buf(se, buf);
	} while (ret == -EINTR && ++tries < 1000);
	if (ret >= 0)
		fuse_session_process_buf(se, buf);
	return ret;
}

/*
 * After an unmount every receive_buf returns 0, as libfuse's read gets ENODEV each time.
 * It returned -EINTR from the second call on: qemu-storage-daemon then never left its fd
 * handler, so it never handled the SIGTERM that ends it. The stale buffer it passes on to
 * process_buf reaches no handler and logs nothing.
 */
Test(custom_end, receive_buf_keeps_returning_0_after_the_end)
{
	static const struct fuse_lowlevel_ops ops = { .lookup = lookup_enoent };
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_buf buf = { .mem = NULL };
	struct fuse_session *se;
	struct fuse_init_in in;
	uint64_t unique = 0;
	char mp[32], reply[4096];
	int kfd, i;

	cr_assert_eq(fuse_opt_add_arg(&args, "qsd"), 0);
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	fuse_opt_free_args(&args);
	cr_assert_not_null(se, "log: %s", ke_log);
	kfd = ke_socketpair(mp, 1 << 20);
	cr_assert_eq(fuse_session_mount(se, mp), 0, "log: %s", ke_log);
	ke_init_in(&in, FUSE_ASYNC_READ | FUSE_INIT_EXT | FUSE_MAX_PAGES | FUSE_BIG_WRITES);
	ke_send(kfd, &unique, FUSE_INIT, 0, &in, sizeof(in), NULL);
	cr_assert_gt(qemu_round(se, &buf), 0);
	cr_assert_gt(read(kfd, reply, sizeof(reply)), 0);
	ke_send(kfd, &unique, FUSE_LOOKUP, 1, NULL, 0, "a");
	cr_assert_gt(qemu_round(se, &buf), 0);
	cr_assert_gt(read(kfd, reply, sizeof(reply)), 0);
	cr_assert_eq(lookups, 1);

	close(kfd);
	ke_log[0] = '\0';
	for (i = 0; i < 3; i++)
		cr_assert_eq(qemu_round(se, &buf), 0, "round %d after the end", i);
	cr_expect(fuse_session_exited(se));
	cr_expect_eq(lookups, 1, "the stale LOOKUP reached the filesystem again");
	cr_expect_eq(ke_log[0], '\0', "logged after the end: %s", ke_log);

	/* qemu's shutdown: exit, unmount (the mount is gone), destroy. */
	fuse_session_exit(se);
	cr_expect_eq(fuse_session_receive_buf(se, &buf), 0);
	fuse_session_unmount(se);
	fuse_session_destroy(se);
	free(buf.mem);
}
