/* SPDX-License-Identifier: MIT */
/*
 * main.c - rf_main: the whole life of a filesystem program (parse the command line, create
 * the session, mount, detach, serve, free) for filesystems that need nothing more.
 * Exit statuses: 0 after a clean unmount (or -h, -V), 1 on any error, said in the log.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

int rf_main_opts(const struct rf_opts *opts, const struct rf_ops *ops, size_t ops_size,
		 void *userdata)
{
	struct rf_session *se;
	int ret;

	ret = rf_session_new(ops, ops_size, userdata, opts, &se);
	if (ret < 0) {
		rf__err("cannot create the session: %s", strerror(-ret));
		return 1;
	}
	/* Mounting and detaching say what went wrong themselves. */
	ret = rf_session_mount(se);
	if (ret == 0)
		ret = rf_session_daemonize(se);
	if (ret == 0) {
		ret = rf_session_run(se);
		/* An abort was logged where it was seen (mount.c). */
		if (ret < 0 && ret != -ECONNABORTED)
			rf__err("serving %s failed: %s", opts->mountpoint, strerror(-ret));
	}
	rf_session_free(se);
	return ret < 0 ? 1 : 0;
}

int rf_main(int argc, char **argv, const struct rf_ops *ops, size_t ops_size, void *userdata)
{
	struct rf_opts opts;
	int ret;

	rf_opts_init(&opts);
	ret = rf_opts_parse(&opts, argc, argv);
	if (ret == 0)
		ret = rf_main_opts(&opts, ops, ops_size, userdata);
	else
		ret = ret > 0 ? 0 : 1;
	rf_opts_free(&opts);
	return ret;
}
