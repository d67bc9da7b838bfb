/* SPDX-License-Identifier: MIT */
/*
 * cuse.c - CUSE sessions: a character device served from userspace. The session is set
 * up as CUSE here (rf_session_set_cuse: the device's numbers and info strings, checked
 * and packed once, as CUSE_INIT's reply carries them), /dev/cuse is opened by
 * rf_session_mount (mount.c), and CUSE_INIT, the first message on the channel, is
 * answered here instead of FUSE_INIT. What follows are ordinary FUSE requests on node 0
 * (OPEN, READ, WRITE, IOCTL, POLL, FLUSH, FSYNC, RELEASE), decoded as for a mount.
 * docs/kernel-notes.md, "CUSE", has the protocol facts.
 */
#include <errno.h>
#include <stdlib.h>

#include "decode.h"

int rf_session_set_cuse(struct rf_session *se, const struct rf_cuse_info *ci)
{
	struct rf_cuse *c;
	size_t total = 0, n;
	bool devname = false;
	unsigned int i;
	char *p;

	if (!se || !ci || (ci->dev_info_argc && !ci->dev_info))
		return -EINVAL;
	if (se->fd >= 0 || se->cuse)
		return -EBUSY;
	for (i = 0; i < ci->dev_info_argc; i++) {
		const char *s = ci->dev_info[i];

		if (!s || !*s || !strchr(s, '=')) {
			rf__err("CUSE: device info %u is not KEY=value", i);
			return -EINVAL;
		}
		if (!strncmp(s, "DEVNAME=", 8)) {
			/* The kernel makes /dev/<name>: a path of its own below /dev only. */
			if (!s[8] || strstr(s + 8, "..")) {
				rf__err("CUSE: bad device name \"%s\"", s + 8);
				return -EINVAL;
			}
			devname = true;
		}
		total += strlen(s) + 1;
	}
	if (!devname) {
		rf__err("CUSE: no DEVNAME=name in the device info (the kernel requires it)");
		return -EINVAL;
	}
	/* The kernel reads at most CUSE_INIT_INFO_MAX bytes of info and needs its NULs. */
	if (total > CUSE_INIT_INFO_MAX) {
		rf__err("CUSE: device info of %zu bytes is past the kernel's %d", total,
			CUSE_INIT_INFO_MAX);
		return -EINVAL;
	}
	c = malloc(sizeof(*c) + total);
	if (!c)
		return -ENOMEM;
	c->dev_major = ci->dev_major;
	c->dev_minor = ci->dev_minor;
	c->flags = ci->flags & RF_CUSE_UNRESTRICTED_IOCTL;
	c->info_len = (uint32_t)total;
	for (i = 0, p = c->info; i < ci->dev_info_argc; i++, p += n) {
		n = strlen(ci->dev_info[i]) + 1;
		memcpy(p, ci->dev_info[i], n);
	}
	se->cuse = c;
	return 0;
}

void rf__do_cuse_init(struct rf_req *req, struct args *a)
{
	struct rf_session *se = req->se;
	struct rf_conn *conn = &se->conn;
	struct cuse_init_in in;
	struct cuse_init_out *out;
	size_t cap;

	/* On a mount it is an opcode like any unknown one. */
	if (!se->cuse) {
		rf__info("opcode %u (CUSE_INIT) on a mount: ENOSYS", CUSE_INIT);
		rf_reply_err(req, -ENOSYS);
		return;
	}
	DECODE("cuse_init_in", take(a, &in, sizeof(in)));
	if (se->initialized) {
		rf__warn("second CUSE_INIT ignored");
		rf_reply_err(req, -EPROTO);
		return;
	}
	/* The kernel takes nothing but 7.x with x >= 11 (cuse_process_init_reply). */
	if (in.major != FUSE_KERNEL_VERSION || in.minor < 11) {
		rf__err("CUSE: kernel protocol %u.%u is unsupported", in.major, in.minor);
		rf_reply_err(req, -EPROTO);
		return;
	}
	out = (struct cuse_init_out *)rf__reply_payload(req, &cap);
	if (cap < sizeof(*out) + se->cuse->info_len)
		return (void)rf__reply_too_big(req);

	memset(conn, 0, sizeof(*conn));
	conn->proto_major = in.major;
	conn->proto_minor = RF_MIN(in.minor, (uint32_t)FUSE_KERNEL_MINOR_VERSION);
	/* None of FUSE_INIT's capabilities exist for a device. */
	conn->max_write = se->opts.max_write;
	conn->max_read = se->opts.max_read && se->opts.max_read < se->opts.max_write ?
				 se->opts.max_read : se->opts.max_write;
	conn->time_gran = 1;
	if (se->ops.init)
		se->ops.init(se->userdata, conn);
	/* The slots were sized from opts.max_write: never promise more, in either
	 * direction (a READ's reply lands in the same slot). */
	if (conn->max_write > se->opts.max_write || conn->max_write < 4096)
		conn->max_write = se->opts.max_write;
	if (conn->max_read > se->opts.max_write || conn->max_read < 4096)
		conn->max_read = se->opts.max_write;
	conn->want = 0;

	memset(out, 0, sizeof(*out));
	out->major = FUSE_KERNEL_VERSION;
	out->minor = FUSE_KERNEL_MINOR_VERSION;
	out->flags = se->cuse->flags & in.flags & CUSE_UNRESTRICTED_IOCTL;
	out->max_read = conn->max_read;
	out->max_write = conn->max_write;
	out->dev_major = se->cuse->dev_major;
	out->dev_minor = se->cuse->dev_minor;
	memcpy((char *)(out + 1), se->cuse->info, se->cuse->info_len);
	atomic_store_explicit(&se->initialized, true, memory_order_release);
	if (se->debug)
		rf__info("CUSE_INIT: kernel %u.%u, flags 0x%x offered, 0x%x accepted, device "
			 "%u:%u, max_read %u, max_write %u", in.major, in.minor, in.flags,
			 out->flags, out->dev_major, out->dev_minor, out->max_read,
			 out->max_write);
	rf__reply_finish(req, 0, sizeof(*out) + se->cuse->info_len);
}

bool rf__cuse_unrestricted(const struct rf_session *se)
{
	return se->cuse && (se->cuse->flags & RF_CUSE_UNRESTRICTED_IOCTL);
}
