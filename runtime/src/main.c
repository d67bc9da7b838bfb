/* SPDX-License-Identifier: MIT */
/*
 * main.c - rf_main: the whole life of a filesystem program (parse the command line, create
 * the session, mount, serve, free) for filesystems that need nothing more.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

int rf_main(int argc, char **argv, const struct rf_ops *ops, size_t ops_size, void *userdata)
{
	struct rf_session *se;
	struct rf_opts opts;
	int ret;

	rf_opts_init(&opts);
	ret = rf_opts_parse(&opts, argc, argv);
	if (ret != 0) {
		rf_opts_free(&opts);
		return ret > 0 ? 0 : 2;
	}
	ret = rf_session_new(ops, ops_size, userdata, &opts, &se);
	rf_opts_free(&opts);
	if (ret < 0) {
		fprintf(stderr, "ringfuse: cannot create session: %s\n", strerror(-ret));
		return 1;
	}
	ret = rf_session_mount(se);
	if (ret == 0)
		ret = rf_session_run(se);
	rf_session_free(se);
	return ret < 0 ? 1 : 0;
}
