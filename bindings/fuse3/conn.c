/* SPDX-License-Identifier: MIT */
/*
 * conn.c - fuse_parse_conn_info_opts/fuse_apply_conn_info_opts (the -o options that tune
 * the INIT negotiation, applied by a filesystem's init to its fuse_conn_info) and
 * fuse_lowlevel_help/fuse_lowlevel_version.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuse3_int.h"
#include <linux/fuse.h>

struct fuse_conn_info_opts {
	int async_read, set_async_read;
	int no_remote_posix_lock, no_remote_flock;
	int splice_write, set_splice_write;
	int splice_move, set_splice_move;
	int splice_read, set_splice_read;
	int auto_inval_data, set_auto_inval_data;
	int no_readdirplus, no_readdirplus_auto;
	int async_dio, set_async_dio;
	int writeback_cache, set_writeback_cache;
	unsigned int max_write, set_max_write;
	unsigned int max_readahead, set_max_readahead;
	unsigned int max_background, set_max_background;
	unsigned int congestion_threshold, set_congestion_threshold;
	unsigned int time_gran, set_time_gran;
};

#define CONN_OPT(t, p, v) { t, offsetof(struct fuse_conn_info_opts, p), v }
static const struct fuse_opt conn_info_opts[] = {
	CONN_OPT("max_write=%u", max_write, 0),
	CONN_OPT("max_write=", set_max_write, 1),
	CONN_OPT("max_readahead=%u", max_readahead, 0),
	CONN_OPT("max_readahead=", set_max_readahead, 1),
	CONN_OPT("max_background=%u", max_background, 0),
	CONN_OPT("max_background=", set_max_background, 1),
	CONN_OPT("congestion_threshold=%u", congestion_threshold, 0),
	CONN_OPT("congestion_threshold=", set_congestion_threshold, 1),
	CONN_OPT("time_gran=%u", time_gran, 0),
	CONN_OPT("time_gran=", set_time_gran, 1),
	CONN_OPT("sync_read", async_read, 0),
	CONN_OPT("sync_read", set_async_read, 1),
	CONN_OPT("async_read", async_read, 1),
	CONN_OPT("async_read", set_async_read, 1),
	CONN_OPT("no_remote_lock", no_remote_posix_lock, 1),
	CONN_OPT("no_remote_lock", no_remote_flock, 1),
	CONN_OPT("no_remote_flock", no_remote_flock, 1),
	CONN_OPT("no_remote_posix_lock", no_remote_posix_lock, 1),
	CONN_OPT("splice_write", splice_write, 1),
	CONN_OPT("splice_write", set_splice_write, 1),
	CONN_OPT("no_splice_write", splice_write, 0),
	CONN_OPT("no_splice_write", set_splice_write, 1),
	CONN_OPT("splice_move", splice_move, 1),
	CONN_OPT("splice_move", set_splice_move, 1),
	CONN_OPT("no_splice_move", splice_move, 0),
	CONN_OPT("no_splice_move", set_splice_move, 1),
	CONN_OPT("splice_read", splice_read, 1),
	CONN_OPT("splice_read", set_splice_read, 1),
	CONN_OPT("no_splice_read", splice_read, 0),
	CONN_OPT("no_splice_read", set_splice_read, 1),
	CONN_OPT("auto_inval_data", auto_inval_data, 1),
	CONN_OPT("auto_inval_data", set_auto_inval_data, 1),
	CONN_OPT("no_auto_inval_data", auto_inval_data, 0),
	CONN_OPT("no_auto_inval_data", set_auto_inval_data, 1),
	CONN_OPT("readdirplus=no", no_readdirplus, 1),
	CONN_OPT("readdirplus=yes", no_readdirplus, 0),
	CONN_OPT("readdirplus=yes", no_readdirplus_auto, 1),
	CONN_OPT("readdirplus=auto", no_readdirplus, 0),
	CONN_OPT("readdirplus=auto", no_readdirplus_auto, 0),
	CONN_OPT("async_dio", async_dio, 1),
	CONN_OPT("async_dio", set_async_dio, 1),
	CONN_OPT("no_async_dio", async_dio, 0),
	CONN_OPT("no_async_dio", set_async_dio, 1),
	CONN_OPT("writeback_cache", writeback_cache, 1),
	CONN_OPT("writeback_cache", set_writeback_cache, 1),
	CONN_OPT("no_writeback_cache", writeback_cache, 0),
	CONN_OPT("no_writeback_cache", set_writeback_cache, 1),
	FUSE_OPT_END
};

struct fuse_conn_info_opts *fuse_parse_conn_info_opts(struct fuse_args *args)
{
	struct fuse_conn_info_opts *opts = calloc(1, sizeof(*opts));

	if (!opts) {
		fuse_log(FUSE_LOG_ERR, "fuse: fuse_parse_conn_info_opts: out of memory\n");
		return NULL;
	}
	if (fuse_opt_parse(args, opts, conn_info_opts, NULL) == -1) {
		free(opts);
		return NULL;
	}
	return opts;
}

/* Set or clear @cap in conn->want as an option asked, if it did. */
static void set_cap(struct fuse_conn_info *conn, int set, int on, unsigned int cap)
{
	if (!set)
		return;
	if (on)
		conn->want |= cap;
	else
		conn->want &= ~cap;
}

void fuse_apply_conn_info_opts(struct fuse_conn_info_opts *opts, struct fuse_conn_info *conn)
{
	if (!opts || !conn)
		return;
	if (opts->set_max_write)
		conn->max_write = opts->max_write;
	if (opts->set_max_background)
		conn->max_background = opts->max_background;
	if (opts->set_congestion_threshold)
		conn->congestion_threshold = opts->congestion_threshold;
	if (opts->set_time_gran)
		conn->time_gran = opts->time_gran;
	if (opts->set_max_readahead)
		conn->max_readahead = opts->max_readahead;
	set_cap(conn, opts->set_async_read, opts->async_read, FUSE_CAP_ASYNC_READ);
	set_cap(conn, opts->set_splice_read, opts->splice_read, FUSE_CAP_SPLICE_READ);
	set_cap(conn, opts->set_splice_write, opts->splice_write, FUSE_CAP_SPLICE_WRITE);
	set_cap(conn, opts->set_splice_move, opts->splice_move, FUSE_CAP_SPLICE_MOVE);
	set_cap(conn, opts->set_auto_inval_data, opts->auto_inval_data,
		FUSE_CAP_AUTO_INVAL_DATA);
	set_cap(conn, opts->set_async_dio, opts->async_dio, FUSE_CAP_ASYNC_DIO);
	set_cap(conn, opts->set_writeback_cache, opts->writeback_cache,
		FUSE_CAP_WRITEBACK_CACHE);
	if (opts->no_remote_posix_lock)
		conn->want &= ~FUSE_CAP_POSIX_LOCKS;
	if (opts->no_remote_flock)
		conn->want &= ~FUSE_CAP_FLOCK_LOCKS;
	if (opts->no_readdirplus)
		conn->want &= ~FUSE_CAP_READDIRPLUS;
	if (opts->no_readdirplus_auto)
		conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
}

void fuse_lowlevel_version(void)
{
	printf("using FUSE kernel interface version %i.%i\n", FUSE_KERNEL_VERSION,
	       FUSE_KERNEL_MINOR_VERSION);
	printf("ringfuse %d.%d (the libfuse %d.%d low-level API on io_uring)\n",
	       RF_VERSION_MAJOR, RF_VERSION_MINOR, FUSE_MAJOR_VERSION, FUSE_MINOR_VERSION);
}

void fuse_lowlevel_help(void)
{
	printf("    -o allow_other         allow access by all users\n"
	       "    -o allow_root          allow access by root\n"
	       "    -o auto_unmount        auto unmount on process termination\n"
	       "    -o transport=MODE      auto|dev|uring: the kernel's io_uring queues or "
	       "/dev/fuse (ringfuse)\n"
	       "    -o uring_depth=N       entries per kernel io_uring queue (ringfuse)\n"
	       "    -o queue_depth=N       requests in service at once (ringfuse)\n"
	       "    -o grace_ms=N          at shutdown, time given to requests in service "
	       "(ringfuse)\n");
}
