/* SPDX-License-Identifier: MIT */
/*
 * test_cuse.c - CUSE sessions through the fake kernel: the CUSE_INIT exchange (what the
 * reply carries, what is refused around it), then the device's requests on node 0 as
 * the kernel's cuse module sends them: open, write, read, an unrestricted ioctl that
 * asks for a retry, a poll that is woken, release. And rf_session_set_cuse's checks.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "fake_kernel.h"

/* What the device's handlers saw. */
struct dev {
	int inits;
	struct rf_conn seen;
	uint32_t set_max_read;       /* init lowers max_read to this when non-zero */
	char data[64];
	size_t len;
	uint64_t open_ino, poll_kh;
	uint32_t poll_events;
	unsigned int ioctl_flags;
	size_t ioctl_out_size;
	int releases;
};

static void dev_init(void *userdata, struct rf_conn *conn)
{
	struct dev *d = userdata;

	d->inits++;
	d->seen = *conn;
	if (d->set_max_read)
		conn->max_read = d->set_max_read;
}

static void dev_open(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct dev *d = rf_req_userdata(req);

	d->open_ino = ino;
	fi->fh = 7;
	fi->direct_io = 1;
	rf_reply_open(req, fi);
}

static void dev_read(struct rf_req *req, uint64_t ino, size_t size, off_t off,
		     struct rf_file *fi)
{
	struct dev *d = rf_req_userdata(req);

	cr_expect_eq(fi->fh, 7);
	if ((size_t)off >= d->len)
		size = 0;
	else if (size > d->len - (size_t)off)
		size = d->len - (size_t)off;
	rf_reply_buf(req, d->data + off, size);
}

static void dev_write(struct rf_req *req, uint64_t ino, const void *buf, size_t size,
		      off_t off, struct rf_file *fi)
{
	struct dev *d = rf_req_userdata(req);

	cr_expect_eq(fi->fh, 7);
	if (size > sizeof(d->data) || (size_t)off > sizeof(d->data) - size)
		return (void)rf_reply_err(req, -ENOSPC);
	memcpy(d->data + off, buf, size);
	if ((size_t)off + size > d->len)
		d->len = (size_t)off + size;
	rf_reply_write(req, size);
}

#define DEV_GET_LEN 0x80085401u     /* _IOR('T', 1, uint64_t) */

/* An unrestricted ioctl names its argument by address only: the first time the handler
 * asks the kernel to come back with 8 bytes to write at @arg, then answers with them. */
static void dev_ioctl(struct rf_req *req, uint64_t ino, unsigned int cmd, void *arg,
		      struct rf_file *fi, unsigned int flags, const void *in_buf,
		      size_t in_size, size_t out_size)
{
	struct dev *d = rf_req_userdata(req);
	uint64_t len = d->len;

	d->ioctl_flags = flags;
	d->ioctl_out_size = out_size;
	if (cmd != DEV_GET_LEN)
		return (void)rf_reply_err(req, -ENOTTY);
	if (out_size < sizeof(len)) {
		struct fuse_ioctl_out out = { .flags = FUSE_IOCTL_RETRY, .out_iovs = 1 };
		struct fuse_ioctl_iovec v = { .base = (uintptr_t)arg, .len = sizeof(len) };
		struct iovec iov[2] = { { &out, sizeof(out) }, { &v, sizeof(v) } };

		rf_reply_iov(req, iov, 2);
		return;
	}
	rf_reply_ioctl(req, 0, &len, sizeof(len));
}

static void dev_poll(struct rf_req *req, uint64_t ino, struct rf_file *fi, uint64_t ph)
{
	struct dev *d = rf_req_userdata(req);

	d->poll_kh = ph;
	d->poll_events = fi->poll_events;
	rf_reply_poll(req, d->len ? POLLIN : 0);
}

static void dev_release(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct dev *d = rf_req_userdata(req);

	d->releases++;
	rf_reply_err(req, 0);
}

static const struct rf_ops dev_ops = {
	.init = dev_init,
	.open = dev_open,
	.read = dev_read,
	.write = dev_write,
	.ioctl = dev_ioctl,
	.poll = dev_poll,
	.release = dev_release,
};

static const char *const info[] = { "DEVNAME=rfcuse", "MODE=0600" };
#define INFO_BYTES (sizeof("DEVNAME=rfcuse") + sizeof("MODE=0600"))

static const struct rf_cuse_info cuse_ci = {
	.dev_major = 250, .dev_minor = 3, .dev_info = info, .dev_info_argc = 2,
	.flags = RF_CUSE_UNRESTRICTED_IOCTL,
};

/* CUSE_INIT as the kernel's cuse module sends it: 7.<minor>, unrestricted ioctls offered. */
static uint64_t send_cuse_init(struct fk *fk, uint32_t major, uint32_t minor)
{
	struct cuse_init_in in = { .major = major, .minor = minor,
				   .flags = CUSE_UNRESTRICTED_IOCTL };

	return fk_send(fk, CUSE_INIT, 0, &in, sizeof(in));
}

static const struct cuse_init_out *cuse_init(struct fk *fk)
{
	const struct fk_msg *m;

	m = fk_expect_reply(fk, send_cuse_init(fk, 7, FK_MINOR), 0,
			    (long)(sizeof(struct cuse_init_out) + INFO_BYTES));
	return (const struct cuse_init_out *)m->payload;
}

/* OPEN of the device (node 0): fh 7. */
static void open_dev(struct fk *fk)
{
	struct fuse_open_in oi = { .flags = 2 /* O_RDWR */ };

	fk_expect_reply(fk, fk_send(fk, FUSE_OPEN, 0, &oi, sizeof(oi)), 0,
			sizeof(struct fuse_open_out));
}

Test(cuse, init_reply_carries_the_device_and_its_info, .timeout = 10)
{
	struct dev d = { 0 };
	const struct cuse_init_out *o;
	struct fk fk;

	fk_setup_cuse(&fk, &dev_ops, &d, NULL, &cuse_ci);
	o = cuse_init(&fk);
	cr_assert_eq(o->major, 7);
	cr_assert_eq(o->minor, FUSE_KERNEL_MINOR_VERSION);
	cr_assert_eq(o->flags, CUSE_UNRESTRICTED_IOCTL);
	cr_assert_eq(o->dev_major, 250);
	cr_assert_eq(o->dev_minor, 3);
	cr_assert_eq(o->max_write, 1u << 20);
	cr_assert_eq(o->max_read, 1u << 20);
	cr_assert_eq(memcmp(o + 1, "DEVNAME=rfcuse\0MODE=0600\0", INFO_BYTES), 0);
	cr_assert_eq(d.inits, 1);
	cr_assert_eq(d.seen.capable, 0, "a device has none of FUSE_INIT's capabilities");
	cr_assert_eq(d.seen.proto_minor, FK_MINOR);
	fk_teardown(&fk);
}

Test(cuse, init_may_lower_max_read_and_unrestricted_needs_both_sides, .timeout = 10)
{
	struct rf_cuse_info ci = cuse_ci;
	struct cuse_init_in in = { .major = 7, .minor = FK_MINOR };
	struct dev d = { .set_max_read = 65536 };
	const struct cuse_init_out *o;
	struct fk fk;

	/* The kernel did not offer it: not accepted, though the device asked. */
	fk_setup_cuse(&fk, &dev_ops, &d, NULL, &ci);
	o = (const void *)fk_expect_reply(&fk, fk_send(&fk, CUSE_INIT, 0, &in, sizeof(in)), 0,
					  -1)->payload;
	cr_assert_eq(o->flags, 0);
	cr_assert_eq(o->max_read, 65536);
	fk_teardown(&fk);

	/* Offered, not asked for: not accepted either. */
	ci.flags = 0;
	d.set_max_read = 0;
	fk_setup_cuse(&fk, &dev_ops, &d, NULL, &ci);
	cr_assert_eq(cuse_init(&fk)->flags, 0);
	fk_teardown(&fk);
}

Test(cuse, device_requests_on_node_0_reach_the_handlers, .timeout = 10)
{
	struct dev d = { 0 };
	struct fuse_open_in oi = { .flags = 2 /* O_RDWR */ };
	struct fuse_write_in wi = { .fh = 7, .size = 5 };
	struct fuse_read_in ri = { .fh = 7, .size = 4096 };
	struct fuse_poll_in pi = { .fh = 7, .kh = 0x1234, .flags = FUSE_POLL_SCHEDULE_NOTIFY,
				   .events = POLLIN | POLLRDNORM };
	struct fuse_release_in rl = { .fh = 7 };
	const struct fuse_open_out *oo;
	const struct fuse_poll_out *po;
	const struct fk_msg *m;
	struct iovec iov[2];
	struct fk fk;

	fk_setup_cuse(&fk, &dev_ops, &d, NULL, &cuse_ci);
	cuse_init(&fk);
	m = fk_expect_reply(&fk, fk_send(&fk, FUSE_OPEN, 0, &oi, sizeof(oi)), 0,
			    sizeof(struct fuse_open_out));
	oo = (const void *)m->payload;
	cr_assert_eq(oo->fh, 7);
	cr_assert(oo->open_flags & FOPEN_DIRECT_IO);
	cr_assert_eq(d.open_ino, 0);

	/* Nothing to read yet: poll says so, and takes the kernel's handle for later. */
	po = (const void *)fk_expect_reply(&fk, fk_send(&fk, FUSE_POLL, 0, &pi, sizeof(pi)), 0,
					   sizeof(*po))->payload;
	cr_assert_eq(po->revents, 0);
	cr_assert_eq(d.poll_kh, 0x1234);
	cr_assert_eq(d.poll_events, POLLIN | POLLRDNORM, "fi->poll_events: 0x%x",
		     d.poll_events);

	iov[0] = (struct iovec){ &wi, sizeof(wi) };
	iov[1] = (struct iovec){ "hello", 5 };
	m = fk_expect_reply(&fk, fk_sendv(&fk, FUSE_WRITE, 0, iov, 2), 0,
			    sizeof(struct fuse_write_out));
	cr_assert_eq(((const struct fuse_write_out *)m->payload)->size, 5);
	/* The device wakes the poller: FUSE_NOTIFY_POLL with the kernel's handle. */
	cr_assert_eq(rf_notify_poll(fk.se, d.poll_kh), 0);
	m = fk_expect_notify(&fk, FUSE_NOTIFY_POLL, sizeof(struct fuse_notify_poll_wakeup_out));
	cr_assert_eq(((const struct fuse_notify_poll_wakeup_out *)m->payload)->kh, 0x1234);

	m = fk_expect_reply(&fk, fk_send(&fk, FUSE_READ, 0, &ri, sizeof(ri)), 0, 5);
	cr_assert_eq(memcmp(m->payload, "hello", 5), 0);

	m = fk_expect_reply(&fk, fk_send(&fk, FUSE_RELEASE, 0, &rl, sizeof(rl)), 0, 0);
	cr_assert_eq(d.releases, 1);
	fk_teardown(&fk);
}

Test(cuse, unrestricted_ioctl_retries_with_the_buffer_the_device_named, .timeout = 10)
{
	struct dev d = { .len = 42 };
	struct fuse_ioctl_in in = { .fh = 7, .cmd = DEV_GET_LEN, .arg = 0x7ffd1000,
				    .flags = FUSE_IOCTL_UNRESTRICTED };
	const struct fuse_ioctl_out *out;
	const struct fuse_ioctl_iovec *v;
	const struct fk_msg *m;
	uint64_t len;
	struct fk fk;

	fk_setup_cuse(&fk, &dev_ops, &d, NULL, &cuse_ci);
	cuse_init(&fk);
	open_dev(&fk);
	m = fk_expect_reply(&fk, fk_send(&fk, FUSE_IOCTL, 0, &in, sizeof(in)), 0,
			    sizeof(*out) + sizeof(*v));
	out = (const void *)m->payload;
	v = (const void *)(out + 1);
	cr_assert_eq(out->flags, FUSE_IOCTL_RETRY);
	cr_assert_eq(out->in_iovs, 0);
	cr_assert_eq(out->out_iovs, 1);
	cr_assert_eq(v->base, 0x7ffd1000);
	cr_assert_eq(v->len, 8);
	cr_assert_eq(d.ioctl_flags, FUSE_IOCTL_UNRESTRICTED);

	/* The kernel comes back with room for the 8 bytes. */
	in.flags = FUSE_IOCTL_UNRESTRICTED | FUSE_IOCTL_RETRY;
	in.out_size = 8;
	m = fk_expect_reply(&fk, fk_send(&fk, FUSE_IOCTL, 0, &in, sizeof(in)), 0,
			    sizeof(*out) + 8);
	out = (const void *)m->payload;
	cr_assert_eq(out->result, 0);
	cr_assert_eq(out->flags, 0);
	memcpy(&len, out + 1, 8);
	cr_assert_eq(len, 42);
	cr_assert_eq(d.ioctl_out_size, 8);
	fk_teardown(&fk);
}

Test(cuse, unrestricted_ioctl_refused_unless_the_device_asked, .timeout = 10)
{
	struct rf_cuse_info ci = cuse_ci;
	struct fuse_ioctl_in in = { .fh = 7, .cmd = DEV_GET_LEN, .arg = 1,
				    .flags = FUSE_IOCTL_UNRESTRICTED };
	struct fuse_open_in oi = { .flags = 2 };
	struct dev d = { 0 };
	struct fk fk;

	ci.flags = 0;
	fk_setup_cuse(&fk, &dev_ops, &d, NULL, &ci);
	cuse_init(&fk);
	open_dev(&fk);
	fk_expect_reply(&fk, fk_send(&fk, FUSE_IOCTL, 0, &in, sizeof(in)), -ENOSYS, 0);
	cr_assert_eq(d.ioctl_flags, 0, "the handler must not have run");
	fk_teardown(&fk);

	/* A mount never takes them. */
	fk_setup(&fk, &dev_ops, &d, NULL);
	fk_init(&fk);
	fk_expect_reply(&fk, fk_send(&fk, FUSE_OPEN, 1, &oi, sizeof(oi)), 0, -1);
	fk_expect_reply(&fk, fk_send(&fk, FUSE_IOCTL, 1, &in, sizeof(in)), -ENOSYS, 0);
	cr_assert_eq(d.ioctl_flags, 0, "the handler must not have run");
	fk_teardown(&fk);
}

/* What is refused around CUSE_INIT, each answered and logged, nothing reaching init. */
struct refusal {
	const char *what;
	bool cuse;                   /* a CUSE session (else a mount's) */
	uint32_t opcode;
	uint32_t major, minor;
	size_t len;                  /* bytes of cuse_init_in sent */
	int error;
};

static const struct refusal refusals[] = {
	{ "OPEN before CUSE_INIT", true, FUSE_OPEN, 0, 0, 8, -EIO },
	{ "FUSE_INIT on a CUSE session", true, FUSE_INIT, 7, 45, 64, -EIO },
	{ "CUSE_INIT on a mount", false, CUSE_INIT, 7, 45, 16, -EIO },
	{ "CUSE_INIT of protocol 7.10", true, CUSE_INIT, 7, 10, 16, -EPROTO },
	{ "CUSE_INIT of protocol 8.45", true, CUSE_INIT, 8, 45, 16, -EPROTO },
	{ "CUSE_INIT cut to 12 bytes", true, CUSE_INIT, 7, 45, 12, -EIO },
};

static void run_refusal(const struct refusal *r)
{
	char buf[64] = { 0 };
	struct cuse_init_in *in = (void *)buf;
	struct dev d = { 0 };
	struct fk fk;

	in->major = r->major;
	in->minor = r->minor;
	if (r->cuse)
		fk_setup_cuse(&fk, &dev_ops, &d, NULL, &cuse_ci);
	else
		fk_setup(&fk, &dev_ops, &d, NULL);
	fk_expect_reply(&fk, fk_send(&fk, r->opcode, 0, buf, r->len), r->error, 0);
	cr_assert_eq(d.inits, 0, "%s: init ran", r->what);
	/* The session is still able to start properly afterwards. */
	if (r->cuse)
		cuse_init(&fk);
	else
		fk_init(&fk);
	cr_assert_eq(d.inits, 1, "%s", r->what);
	fk_teardown(&fk);
}

FK_TABLE_TEST(cuse, refused_around_cuse_init, refusals, run_refusal)

Test(cuse, second_cuse_init_refused, .timeout = 10)
{
	struct dev d = { 0 };
	struct fk fk;

	fk_setup_cuse(&fk, &dev_ops, &d, NULL, &cuse_ci);
	cuse_init(&fk);
	fk_expect_reply(&fk, send_cuse_init(&fk, 7, FK_MINOR), -EPROTO, 0);
	cr_assert_eq(d.inits, 1);
	fk_teardown(&fk);
}

/* rf_session_set_cuse's checks of the device info. */
struct bad_info {
	const char *what;
	const char *const *info;
	unsigned int argc;
};

static char long_info[CUSE_INIT_INFO_MAX];
static const char *const no_devname[] = { "MODE=0600" };
static const char *const not_kv[] = { "DEVNAME=x", "junk" };
static const char *const empty_name[] = { "DEVNAME=" };
static const char *const dotdot[] = { "DEVNAME=../sda" };
static const char *const too_long[] = { "DEVNAME=x", long_info };
static const char *const null_str[] = { "DEVNAME=x", NULL };

static const struct bad_info bad_infos[] = {
	{ "no info at all", NULL, 0 },
	{ "no DEVNAME", no_devname, 1 },
	{ "a string that is not KEY=value", not_kv, 2 },
	{ "an empty DEVNAME", empty_name, 1 },
	{ "a DEVNAME with ..", dotdot, 1 },
	{ "info past 4 KiB", too_long, 2 },
	{ "a NULL string", null_str, 2 },
};

static void count_errors(enum rf_log_level level, const char *msg, void *data)
{
	if (level == RF_LOG_ERR)
		++*(int *)data;
}

static void run_bad_info(const struct bad_info *b)
{
	struct rf_cuse_info ci = { .dev_info = b->info, .dev_info_argc = b->argc };
	struct rf_session *se;
	int errors = 0;

	rf_log_set(count_errors, &errors);

	memset(long_info, 'a', sizeof(long_info) - 1);
	memcpy(long_info, "X=", 2);
	cr_assert_eq(rf_session_new(&dev_ops, sizeof(dev_ops), NULL, NULL, &se), 0);
	cr_assert_eq(rf_session_set_cuse(se, &ci), -EINVAL, "%s", b->what);
	cr_assert_eq(errors, 1, "%s: %d messages saying why", b->what, errors);
	/* A good one still goes through afterwards, once. */
	cr_assert_eq(rf_session_set_cuse(se, &cuse_ci), 0, "%s", b->what);
	cr_assert_eq(rf_session_set_cuse(se, &cuse_ci), -EBUSY, "%s", b->what);
	rf_session_free(se);
}

FK_TABLE_TEST(cuse, set_cuse_rejects_bad_device_info, bad_infos, run_bad_info)

Test(cuse, set_cuse_after_the_channel_is_busy, .timeout = 10)
{
	struct rf_session *se;
	int fd = dup(0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(rf_session_new(&dev_ops, sizeof(dev_ops), NULL, NULL, &se), 0);
	cr_assert_eq(rf_session_set_fd(se, fd), 0);
	cr_assert_eq(rf_session_set_cuse(se, &cuse_ci), -EBUSY);
	rf_session_free(se);
}

/* Without CONFIG_CUSE there is no /dev/cuse: the mount says exactly that. */
Test(cuse, mount_without_dev_cuse_names_config_cuse, .timeout = 10)
{
	struct dev d = { 0 };
	struct fk fk;
	struct rf_session *se;

	if (access("/dev/cuse", F_OK) == 0)
		cr_skip_test("this kernel has /dev/cuse (the real device is tested in run-tests.sh)");
	/* fk_setup only to capture the log; the session under test is a second one. */
	fk_setup(&fk, &dev_ops, &d, NULL);
	cr_assert_eq(rf_session_new(&dev_ops, sizeof(dev_ops), NULL, NULL, &se), 0);
	cr_assert_eq(rf_session_set_cuse(se, &cuse_ci), 0);
	cr_assert_eq(rf_session_mount(se), -ENODEV);
	cr_assert_eq(rf_session_fd(se), -1);
	cr_assert_eq(fk_log_count(RF_LOG_ERR, "CONFIG_CUSE"), 1);
	rf_session_free(se);
	fk_init(&fk);
	fk_teardown(&fk);
}
