/* SPDX-License-Identifier: MIT */
/*
 * init.c - INIT and DESTROY: the negotiation of the connection (what the runtime and
 * the filesystem want of what the kernel offers, the sizes, the transport: the kernel
 * io_uring queues are taken here when offered and wanted) and its end.
 */
#include <errno.h>
#include <unistd.h>

#include "decode.h"

/* ---- INIT and DESTROY ------------------------------------------------------------- */

/* What the runtime asks for unless the filesystem says otherwise. */
static uint64_t default_want(const struct rf_ops *ops)
{
	uint64_t want = RF_CAP_ASYNC_READ | RF_CAP_ATOMIC_O_TRUNC | RF_CAP_AUTO_INVAL_DATA |
			RF_CAP_ASYNC_DIO | RF_CAP_PARALLEL_DIROPS | RF_CAP_SETXATTR_EXT |
			RF_CAP_DIRECT_IO_ALLOW_MMAP | RF_CAP_HAS_EXPIRE_ONLY;

	if (ops->getlk && ops->setlk)
		want |= RF_CAP_POSIX_LOCKS;
	if (ops->flock)
		want |= RF_CAP_FLOCK_LOCKS;
	if (ops->readdirplus)
		want |= RF_CAP_READDIRPLUS | RF_CAP_READDIRPLUS_AUTO;
	if (ops->ioctl)
		want |= RF_CAP_IOCTL_DIR;
	return want;
}

/* After INIT's reply was written: REGISTER works only once the kernel processed it. */
static void start_queues(struct rf_req *req, int res)
{
	if (res > 0)
		rf__uring_start(req->se);
}

/* Take the kernel's io_uring queues when offered and wanted, else say why not. Their
 * buffers are allocated now: once the reply accepts the flag, the kernel blocks every
 * request until all queues are registered, so nothing may fail after it. */
static uint64_t negotiate_transport(struct rf_req *req, uint64_t want)
{
	struct rf_session *se = req->se;
	const char *why = NULL;
	int ret;

	if (se->opts.transport == RF_TRANSPORT_DEV)
		why = "-o transport=dev";
	else if (!se->tp->kernel)
		why = "the channel is not the kernel's";
	else if (!(se->conn.capable & RF_CAP_OVER_IO_URING))
		why = access("/sys/module/fuse/parameters/enable_uring", F_OK) ?
			      "the kernel has no FUSE-over-io_uring (needs Linux >= 6.14)" :
			      "the kernel did not offer it (fuse module parameter enable_uring=N)";
	if (!why) {
		ret = rf__uring_prepare(se);
		if (ret < 0) {
			why = ret == -EOPNOTSUPP ? "the loop's ring has no 128-byte SQEs" :
						   "its buffers could not be set up";
		} else {
			req->after_send = start_queues;
			return want | RF_CAP_OVER_IO_URING;
		}
	}
	if (se->kq_on_extras)
		rf__warn("blocking handlers: the kernel's queues are not used (%s); the first "
			 "loop serves every request, one at a time", why);
	if (se->opts.transport == RF_TRANSPORT_URING)
		rf__err("transport: io_uring queues requested but unavailable (%s); "
			"serving /dev/fuse", why);
	else if (se->tp->kernel)
		rf__info("transport: /dev/fuse (%s)", why);
	return want & ~RF_CAP_OVER_IO_URING;
}

void rf__do_init(struct rf_req *req, struct args *a)
{
	struct rf_session *se = req->se;
	struct fuse_init_in in;
	struct fuse_init_out *out;
	struct rf_conn *conn = &se->conn;
	uint64_t capable, want;
	size_t cap, outsize;

	DECODE("INIT shorter than its 16-byte minimum",
	       take_compat(a, &in, sizeof(in), 16));
	if (se->cuse) {
		rf__warn("FUSE_INIT on a CUSE session ignored");
		rf_reply_err(req, -EPROTO);
		return;
	}
	if (se->initialized) {
		rf__warn("second INIT ignored");
		rf_reply_err(req, -EPROTO);
		return;
	}
	out = (struct fuse_init_out *)rf__reply_payload(req, &cap);
	memset(out, 0, sizeof(*out));
	out->major = FUSE_KERNEL_VERSION;
	out->minor = FUSE_KERNEL_MINOR_VERSION;
	if (in.major > FUSE_KERNEL_VERSION) {
		/* The kernel will come back with an INIT in our major version. */
		rf__reply_finish(req, 0, 8);
		return;
	}
	if (in.major < 7) {
		rf__err("kernel FUSE protocol %u.%u is unsupported", in.major, in.minor);
		rf_reply_err(req, -EPROTO);
		return;
	}
	capable = in.flags;
	if (in.flags & FUSE_INIT_EXT)
		capable |= (uint64_t)in.flags2 << 32;

	conn->proto_major = in.major;
	conn->proto_minor = RF_MIN(in.minor, (uint32_t)FUSE_KERNEL_MINOR_VERSION);
	conn->capable = capable;
	conn->want = default_want(&se->ops) & capable;
	conn->max_write = se->opts.max_write;
	conn->max_read = se->opts.max_read;
	conn->max_readahead = se->opts.max_readahead ? RF_MIN(se->opts.max_readahead,
							     in.max_readahead) :
						       in.max_readahead;
	conn->max_background = se->opts.max_background ? se->opts.max_background : 64;
	conn->congestion_threshold = se->opts.congestion_threshold ?
					     se->opts.congestion_threshold :
					     conn->max_background * 3 / 4;
	conn->time_gran = 1;
	conn->max_stack_depth = 1;
	if (se->ops.init)
		se->ops.init(se->userdata, conn);

	want = conn->want & capable;
	if ((want & RF_CAP_PASSTHROUGH) && (want & RF_CAP_WRITEBACK_CACHE)) {
		rf__warn("INIT: passthrough cannot be combined with writeback cache; "
			 "passthrough disabled");
		want &= ~RF_CAP_PASSTHROUGH;
	}
	conn->want = want;
	/* The slot size was fixed from opts.max_write: never promise more. */
	if (conn->max_write > se->opts.max_write || conn->max_write < 4096)
		conn->max_write = se->opts.max_write;
	conn->max_pages = (conn->max_write + 4095) / 4096;
	if (conn->max_readahead > in.max_readahead)
		conn->max_readahead = in.max_readahead;
	if (conn->max_background > 0xffff)
		conn->max_background = 0xffff;
	if (conn->congestion_threshold > conn->max_background)
		conn->congestion_threshold = conn->max_background;
	if (conn->time_gran == 0 || conn->time_gran > 1000000000)
		conn->time_gran = 1;

	want = negotiate_transport(req, want);
	conn->want = want;
	/* Never accept what was not offered, these included (an old kernel: no INIT_EXT). */
	want |= (FUSE_BIG_WRITES | FUSE_MAX_PAGES | FUSE_INIT_EXT) & in.flags;
	out->flags = (uint32_t)want;
	out->flags2 = (uint32_t)(want >> 32);
	out->max_readahead = conn->max_readahead;
	out->max_write = conn->max_write;
	out->max_background = (uint16_t)conn->max_background;
	out->congestion_threshold = (uint16_t)conn->congestion_threshold;
	out->time_gran = conn->time_gran;
	out->max_pages = (uint16_t)conn->max_pages;
	if (want & RF_CAP_PASSTHROUGH)
		out->max_stack_depth = conn->max_stack_depth ? conn->max_stack_depth : 1;

	outsize = in.minor < 5 ? FUSE_COMPAT_INIT_OUT_SIZE :
		  in.minor < 23 ? FUSE_COMPAT_22_INIT_OUT_SIZE : sizeof(*out);
	/* Release: a loop thread that sees it initialized sees the whole conn. */
	atomic_store_explicit(&se->initialized, true, memory_order_release);
	if (se->debug)
		rf__info("INIT: kernel %u.%u, flags 0x%llx offered, 0x%llx accepted, max_write %u, "
			 "max_readahead %u, max_pages %u", in.major, in.minor,
			 (unsigned long long)capable, (unsigned long long)want, conn->max_write,
			 conn->max_readahead, conn->max_pages);
	rf__reply_finish(req, 0, outsize);
}

void rf__do_destroy(struct rf_req *req, struct args *a)
{
	struct rf_session *se = req->se;

	if (se->ops.destroy && !se->destroyed)
		se->ops.destroy(se->userdata);
	se->destroyed = true;
	rf_reply_err(req, 0);
	rf_session_exit(se);
}

