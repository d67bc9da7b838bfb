/* SPDX-License-Identifier: MIT */
/*
 * cuse.c - CUSE (character devices in userspace) is not available on ringfuse: the
 * runtime serves /dev/fuse mounts only; it has no /dev/cuse session and no CUSE_INIT.
 * Each entry point says so and fails, as bindings/fuse3/README.md documents.
 */
#include <errno.h>

#include "fuse3_int.h"
#include <cuse_lowlevel.h>

static const char why[] = "the ringfuse runtime has no CUSE sessions (/dev/cuse, CUSE_INIT)";

struct fuse_session *cuse_lowlevel_new(struct fuse_args *args, const struct cuse_info *ci,
				       const struct cuse_lowlevel_ops *clop, void *userdata)
{
	rf_fuse3_unsupported("cuse_lowlevel_new", why);
	errno = ENOSYS;
	return NULL;
}

struct fuse_session *cuse_lowlevel_setup(int argc, char *argv[], const struct cuse_info *ci,
					 const struct cuse_lowlevel_ops *clop, int *multithreaded,
					 void *userdata)
{
	rf_fuse3_unsupported("cuse_lowlevel_setup", why);
	errno = ENOSYS;
	return NULL;
}

void cuse_lowlevel_teardown(struct fuse_session *se)
{
	/* Only sessions cuse_lowlevel_setup made can come here, and it makes none. */
	if (se)
		rf_fuse3_unsupported("cuse_lowlevel_teardown", why);
}

int cuse_lowlevel_main(int argc, char *argv[], const struct cuse_info *ci,
		       const struct cuse_lowlevel_ops *clop, void *userdata)
{
	rf_fuse3_unsupported("cuse_lowlevel_main", why);
	return 1;
}
