/* SPDX-License-Identifier: MIT */
/*
 * init.c - INIT and DESTROY for a libfuse session: the fuse_conn_info a filesystem's init
 * sees and changes, mapped between libfuse's FUSE_CAP_* bits and the runtime's RF_CAP_*.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuse3_int.h"

/* FUSE_CAP_* (libfuse 3.14) and the kernel's INIT bits (RF_CAP_*): most share a bit,
 * POSIX_ACL and HANDLE_KILLPRIV are swapped, EXPIRE_ONLY moved to the second word. */
static const struct { unsigned int fuse; uint64_t rf; } cap_map[] = {
	{ FUSE_CAP_ASYNC_READ, RF_CAP_ASYNC_READ },
	{ FUSE_CAP_POSIX_LOCKS, RF_CAP_POSIX_LOCKS },
	{ FUSE_CAP_ATOMIC_O_TRUNC, RF_CAP_ATOMIC_O_TRUNC },
	{ FUSE_CAP_EXPORT_SUPPORT, RF_CAP_EXPORT_SUPPORT },
	{ FUSE_CAP_DONT_MASK, RF_CAP_DONT_MASK },
	{ FUSE_CAP_FLOCK_LOCKS, RF_CAP_FLOCK_LOCKS },
	{ FUSE_CAP_IOCTL_DIR, RF_CAP_IOCTL_DIR },
	{ FUSE_CAP_AUTO_INVAL_DATA, RF_CAP_AUTO_INVAL_DATA },
	{ FUSE_CAP_READDIRPLUS, RF_CAP_READDIRPLUS },
	{ FUSE_CAP_READDIRPLUS_AUTO, RF_CAP_READDIRPLUS_AUTO },
	{ FUSE_CAP_ASYNC_DIO, RF_CAP_ASYNC_DIO },
	{ FUSE_CAP_WRITEBACK_CACHE, RF_CAP_WRITEBACK_CACHE },
	{ FUSE_CAP_NO_OPEN_SUPPORT, RF_CAP_NO_OPEN_SUPPORT },
	{ FUSE_CAP_PARALLEL_DIROPS, RF_CAP_PARALLEL_DIROPS },
	{ FUSE_CAP_POSIX_ACL, RF_CAP_POSIX_ACL },
	{ FUSE_CAP_HANDLE_KILLPRIV, RF_CAP_HANDLE_KILLPRIV },
	{ FUSE_CAP_CACHE_SYMLINKS, RF_CAP_CACHE_SYMLINKS },
	{ FUSE_CAP_NO_OPENDIR_SUPPORT, RF_CAP_NO_OPENDIR_SUPPORT },
	{ FUSE_CAP_EXPLICIT_INVAL_DATA, RF_CAP_EXPLICIT_INVAL_DATA },
	{ FUSE_CAP_EXPIRE_ONLY, RF_CAP_HAS_EXPIRE_ONLY },
};

/* libfuse's own capabilities (splicing /dev/fuse): offered, as libfuse offers them, and
 * accepted without effect: the ring moves the data instead. */
#define SPLICE_CAPS (FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE | FUSE_CAP_SPLICE_READ)

unsigned int rf_fuse3_caps_from_rf(uint64_t rf)
{
	unsigned int caps = 0;
	size_t i;

	for (i = 0; i < sizeof(cap_map) / sizeof(cap_map[0]); i++)
		if (rf & cap_map[i].rf)
			caps |= cap_map[i].fuse;
	return caps;
}

uint64_t rf_fuse3_caps_to_rf(unsigned int caps)
{
	uint64_t rf = 0;
	size_t i;

	for (i = 0; i < sizeof(cap_map) / sizeof(cap_map[0]); i++)
		if (caps & cap_map[i].fuse)
			rf |= cap_map[i].rf;
	return rf;
}

void rf_fuse3_on_init(void *userdata, struct rf_conn *c)
{
	struct fuse_session *se = userdata;
	struct fuse_conn_info *conn = &se->conn;
	unsigned int want;

	memset(conn, 0, sizeof(*conn));
	conn->proto_major = c->proto_major;
	conn->proto_minor = c->proto_minor;
	conn->capable = rf_fuse3_caps_from_rf(c->capable) | SPLICE_CAPS;
	conn->max_write = c->max_write;
	conn->max_read = c->max_read;
	conn->max_readahead = c->max_readahead;
	/* 0 as in libfuse: left so, the runtime's defaults apply (see README.md). */
	conn->max_background = 0;
	conn->congestion_threshold = 0;
	conn->time_gran = 0;

	/* libfuse 3.14's defaults: what every modern filesystem gets, plus what its
	 * operations imply. */
#define DEFAULT_CAP(cond, cap)                                 \
	do {                                                   \
		if ((cond) && (conn->capable & (cap)))         \
			conn->want |= (cap);                   \
	} while (0)
	DEFAULT_CAP(1, FUSE_CAP_ASYNC_READ);
	DEFAULT_CAP(1, FUSE_CAP_PARALLEL_DIROPS);
	DEFAULT_CAP(1, FUSE_CAP_AUTO_INVAL_DATA);
	DEFAULT_CAP(1, FUSE_CAP_HANDLE_KILLPRIV);
	DEFAULT_CAP(1, FUSE_CAP_ASYNC_DIO);
	DEFAULT_CAP(1, FUSE_CAP_IOCTL_DIR);
	DEFAULT_CAP(1, FUSE_CAP_ATOMIC_O_TRUNC);
	DEFAULT_CAP(se->op.write_buf, FUSE_CAP_SPLICE_READ);
	DEFAULT_CAP(se->op.getlk && se->op.setlk, FUSE_CAP_POSIX_LOCKS);
	DEFAULT_CAP(se->op.flock, FUSE_CAP_FLOCK_LOCKS);
	DEFAULT_CAP(se->op.readdirplus, FUSE_CAP_READDIRPLUS);
	DEFAULT_CAP(se->op.readdirplus, FUSE_CAP_READDIRPLUS_AUTO);
#undef DEFAULT_CAP

	if (se->op.init)
		se->op.init(se->userdata, conn);
	se->got_init = true;
	rf_fuse3_cuse_inited(se);

	if (conn->want & ~conn->capable) {
		fuse_log(FUSE_LOG_ERR, "fuse: error: filesystem requested capabilities 0x%x that "
			 "are not supported by kernel, aborting.\n", conn->want & ~conn->capable);
		se->error = -EPROTO;
		fuse_session_exit(se);
		conn->want &= conn->capable;
	}
	want = conn->want & ~SPLICE_CAPS;
	/* The runtime's protocol-level extras that change nothing a filesystem sees stay:
	 * the extended SETXATTR header (the runtime decodes it) and EXPIRE_ONLY (which
	 * libfuse treats as the kernel's offer alone, while the runtime's
	 * rf_notify_expire_entry wants it accepted). Everything else is what the filesystem
	 * wants, and nothing it did not. */
	c->want = rf_fuse3_caps_to_rf(want) |
		  (c->want & (RF_CAP_SETXATTR_EXT | RF_CAP_HAS_EXPIRE_ONLY));
	if (conn->max_write && conn->max_write < c->max_write)
		c->max_write = conn->max_write;
	c->max_read = conn->max_read;
	c->max_readahead = conn->max_readahead;
	if (conn->max_background)
		c->max_background = conn->max_background;
	if (conn->congestion_threshold)
		c->congestion_threshold = conn->congestion_threshold;
	else if (c->congestion_threshold > c->max_background)
		c->congestion_threshold = c->max_background * 3 / 4;
	if (conn->time_gran)
		c->time_gran = conn->time_gran;
	/* What was negotiated, as libfuse leaves it in se->conn. */
	conn->max_write = c->max_write;
	if (se->debug)
		fuse_log(FUSE_LOG_DEBUG, "INIT: %u.%u\nflags=0x%08x\nmax_readahead=0x%08x\n"
			 "   INIT: capable=0x%08x want=0x%08x max_write=0x%08x\n",
			 conn->proto_major, conn->proto_minor, conn->capable,
			 conn->max_readahead, conn->capable, conn->want, conn->max_write);
}

/* The runtime ends the session (unmount, DESTROY, exit): the filesystem's destroy runs
 * later, in fuse_session_destroy, after the workers are gone and the mount is, as in
 * libfuse. */
void rf_fuse3_on_destroy(void *userdata)
{
}
