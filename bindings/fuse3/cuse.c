/* SPDX-License-Identifier: MIT */
/*
 * cuse.c - CUSE (character devices in userspace) on the runtime's CUSE sessions
 * (rf_session_set_cuse): cuse_lowlevel_new makes a libfuse session whose low-level
 * operations call the cuse_lowlevel_ops without the inode (the kernel sends everything
 * on node 0), and fuse_session_mount (session.c) then opens /dev/cuse instead of
 * mounting. The runtime answers CUSE_INIT with the device's numbers and info; init runs
 * there as for a mount, init_done on the loop thread once the reply is queued.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuse3_int.h"
#include <cuse_lowlevel.h>

/* What a CUSE session keeps: the device's description and the device's operations. */
struct rf_fuse3_cuse {
	struct cuse_lowlevel_ops clop;
	struct rf_cuse_info ci;
	char **info;                 /* copies of ci's strings */
};

static const struct cuse_lowlevel_ops *clop_of(fuse_req_t req)
{
	return &req->se->cuse->clop;
}

static void c_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	clop_of(req)->open(req, fi);
}

static void c_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	clop_of(req)->read(req, size, off, fi);
}

static void c_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	clop_of(req)->write(req, buf, size, off, fi);
}

static void c_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	clop_of(req)->flush(req, fi);
}

static void c_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	clop_of(req)->release(req, fi);
}

static void c_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	clop_of(req)->fsync(req, datasync, fi);
}

static void c_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		    struct fuse_file_info *fi, unsigned int flags, const void *in_buf,
		    size_t in_bufsz, size_t out_bufsz)
{
	clop_of(req)->ioctl(req, (int)cmd, arg, fi, flags, in_buf, in_bufsz, out_bufsz);
}

static void c_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		   struct fuse_pollhandle *ph)
{
	clop_of(req)->poll(req, fi, ph);
}

static void free_cuse(struct rf_fuse3_cuse *c)
{
	unsigned int i;

	if (!c)
		return;
	for (i = 0; c->info && i < c->ci.dev_info_argc; i++)
		free(c->info[i]);
	free(c->info);
	free(c);
}

void rf_fuse3_cuse_free(struct fuse_session *se)
{
	free_cuse(se->cuse);
	se->cuse = NULL;
}

const struct rf_cuse_info *rf_fuse3_cuse_info(const struct fuse_session *se)
{
	return se->cuse ? &se->cuse->ci : NULL;
}

static void init_done(struct rf_loop *loop, void *data)
{
	struct fuse_session *se = data;

	se->cuse->clop.init_done(se->userdata);
}

void rf_fuse3_cuse_inited(struct fuse_session *se)
{
	/* After the CUSE_INIT reply, as libfuse calls it: the reply is queued on this
	 * loop, and a posted callback runs after it. */
	if (se->cuse && se->cuse->clop.init_done && se->loop &&
	    rf_loop_post(se->loop, init_done, se) < 0)
		init_done(se->loop, se);
}

struct fuse_session *cuse_lowlevel_new(struct fuse_args *args, const struct cuse_info *ci,
				       const struct cuse_lowlevel_ops *clop, void *userdata)
{
	struct fuse_lowlevel_ops lop;
	struct rf_fuse3_cuse *c;
	struct fuse_session *se;
	unsigned int i;

	if (!ci || !clop || (ci->dev_info_argc && !ci->dev_info_argv)) {
		fuse_log(FUSE_LOG_ERR, "cuse: cuse_lowlevel_new: NULL %s\n",
			 !ci ? "cuse_info" : !clop ? "operations" : "dev_info_argv");
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c)
		c->info = calloc(ci->dev_info_argc + 1, sizeof(*c->info));
	if (!c || !c->info)
		goto nomem;
	c->clop = *clop;
	c->ci.dev_major = ci->dev_major;
	c->ci.dev_minor = ci->dev_minor;
	c->ci.flags = ci->flags & CUSE_UNRESTRICTED_IOCTL ? RF_CUSE_UNRESTRICTED_IOCTL : 0;
	c->ci.dev_info_argc = ci->dev_info_argc;
	c->ci.dev_info = (const char *const *)c->info;
	for (i = 0; i < ci->dev_info_argc; i++) {
		if (!ci->dev_info_argv[i]) {
			fuse_log(FUSE_LOG_ERR, "cuse: dev_info_argv[%u] is NULL\n", i);
			free_cuse(c);
			return NULL;
		}
		c->info[i] = strdup(ci->dev_info_argv[i]);
		if (!c->info[i])
			goto nomem;
	}

	memset(&lop, 0, sizeof(lop));
	/* init and destroy take the userdata alone, as for a mount. */
	lop.init = clop->init;
	lop.destroy = clop->destroy;
	lop.open = clop->open ? c_open : NULL;
	lop.read = clop->read ? c_read : NULL;
	lop.write = clop->write ? c_write : NULL;
	lop.flush = clop->flush ? c_flush : NULL;
	lop.release = clop->release ? c_release : NULL;
	lop.fsync = clop->fsync ? c_fsync : NULL;
	lop.ioctl = clop->ioctl ? c_ioctl : NULL;
	lop.poll = clop->poll ? c_poll : NULL;
	se = fuse_session_new(args, &lop, sizeof(lop), userdata);
	if (!se) {
		free_cuse(c);
		return NULL;
	}
	se->cuse = c;
	return se;
nomem:
	fuse_log(FUSE_LOG_ERR, "cuse: failed to allocate cuse data\n");
	free_cuse(c);
	return NULL;
}

/* The channel: /dev/cuse, or RINGFUSE_CUSE_DEVICE=/dev/fd/N, a channel opened for us
 * (a privileged helper's /dev/cuse fd, or a test speaking CUSE on a socket). */
static const char *cuse_device(void)
{
	const char *dev = getenv("RINGFUSE_CUSE_DEVICE");

	return dev && *dev ? dev : "/dev/cuse";
}

struct fuse_session *cuse_lowlevel_setup(int argc, char *argv[], const struct cuse_info *ci,
					 const struct cuse_lowlevel_ops *clop, int *multithreaded,
					 void *userdata)
{
	static const struct fuse_opt kill_subtype[] = {
		FUSE_OPT_KEY("subtype=", FUSE_OPT_KEY_DISCARD),
		FUSE_OPT_END
	};
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts;
	struct fuse_session *se = NULL;

	if (fuse_parse_cmdline(&args, &opts) == -1)
		return NULL;
	free(opts.mountpoint);   /* a device has none */
	if (opts.show_help || opts.show_version) {
		if (opts.show_help) {
			printf("usage: %s [options]\n\n", argv[0]);
			fuse_cmdline_help();
		} else {
			printf("FUSE library version %s\n", fuse_pkgversion());
			fuse_lowlevel_version();
		}
		goto out;
	}
	if (multithreaded)
		*multithreaded = !opts.singlethread;
	if (fuse_opt_parse(&args, NULL, kill_subtype, NULL) == -1)
		goto out;
	se = cuse_lowlevel_new(&args, ci, clop, userdata);
	if (!se)
		goto out;
	/* fuse_session_mount said why (no /dev/cuse: the kernel lacks CONFIG_CUSE). */
	if (fuse_session_mount(se, cuse_device()) != 0 || fuse_set_signal_handlers(se) != 0)
		goto fail;
	if (fuse_daemonize(opts.foreground) != 0) {
		fuse_remove_signal_handlers(se);
		goto fail;
	}
	goto out;
fail:
	fuse_session_destroy(se);
	se = NULL;
out:
	fuse_opt_free_args(&args);
	return se;
}

void cuse_lowlevel_teardown(struct fuse_session *se)
{
	if (!se)
		return;
	fuse_remove_signal_handlers(se);
	fuse_session_destroy(se);
}

int cuse_lowlevel_main(int argc, char *argv[], const struct cuse_info *ci,
		       const struct cuse_lowlevel_ops *clop, void *userdata)
{
	struct fuse_loop_config *config;
	struct fuse_session *se;
	int mt = 0, res;

	se = cuse_lowlevel_setup(argc, argv, ci, clop, &mt, userdata);
	if (!se)
		return 1;
	if (mt) {
		config = fuse_loop_cfg_create();
		res = config ? fuse_session_loop_mt(se, config) : -1;
		fuse_loop_cfg_destroy(config);
	} else {
		res = fuse_session_loop(se);
	}
	cuse_lowlevel_teardown(se);
	return res == -1 ? 1 : 0;
}
