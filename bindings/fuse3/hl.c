/* SPDX-License-Identifier: MIT */
/*
 * hl.c - struct fuse, libfuse's high-level handle: fuse_new and its options, mount and
 * loops (on the binding's low-level session), fuse_get_context, fuse_main_real, the
 * cleanup ("remember") and memory housekeeping thread, fuse_invalidate_path,
 * fuse_open_channel and fuse_lib_help.
 */
#include "fuse3_hl.h"
#include "fuse3_int.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

__thread struct hl_ctx rf_hl_tls;

uint64_t rf_hl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void rf_hl_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &attr);
	pthread_condattr_destroy(&attr);
}

void rf_hl_set_ctx(struct fuse *f, fuse_req_t req)
{
	struct fuse_context *c = &rf_hl_tls.ctx;

	c->fuse = f;
	c->private_data = f->fs ? f->fs->user_data : NULL;
	rf_hl_tls.req = req;
	if (req) {
		const struct fuse_ctx *rc = fuse_req_ctx(req);

		c->uid = rc->uid;
		c->gid = rc->gid;
		c->pid = rc->pid;
		c->umask = rc->umask;
	} else {
		c->uid = 0;
		c->gid = 0;
		c->pid = 0;
		c->umask = 0;
	}
}

struct fuse_context *fuse_get_context(void)
{
	return &rf_hl_tls.ctx;
}

int fuse_getgroups(int size, gid_t list[])
{
	if (!rf_hl_tls.req)
		return -EINVAL;
	return fuse_req_getgroups(rf_hl_tls.req, size, list);
}

int fuse_interrupted(void)
{
	return rf_hl_tls.req ? fuse_req_interrupted(rf_hl_tls.req) : 0;
}

struct fuse_session *fuse_get_session(struct fuse *f)
{
	return f ? f->se : NULL;
}

int fuse_notify_poll(struct fuse_pollhandle *ph)
{
	return fuse_lowlevel_notify_poll(ph);
}

/* ---- options ---------------------------------------------------------------------------- */

/* libfuse 3.14's fuse_new options, exactly: the rest (hard_remove, use_ino, nullpath_ok,
 * ...) are fuse_config fields the filesystem sets in init, and fuse_new refuses them. */
#define HL_OPT(t, p, v) { t, offsetof(struct fuse_config, p), v }
static const struct fuse_opt hl_opts[] = {
	FUSE_OPT_KEY("debug", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("-d", FUSE_OPT_KEY_KEEP),
	HL_OPT("debug", debug, 1),
	HL_OPT("-d", debug, 1),
	HL_OPT("kernel_cache", kernel_cache, 1),
	HL_OPT("auto_cache", auto_cache, 1),
	HL_OPT("noauto_cache", auto_cache, 0),
	HL_OPT("no_rofd_flush", no_rofd_flush, 1),
	HL_OPT("umask=", set_mode, 1),
	HL_OPT("umask=%o", umask, 0),
	HL_OPT("uid=", set_uid, 1),
	HL_OPT("uid=%d", uid, 0),
	HL_OPT("gid=", set_gid, 1),
	HL_OPT("gid=%d", gid, 0),
	HL_OPT("entry_timeout=%lf", entry_timeout, 0),
	HL_OPT("attr_timeout=%lf", attr_timeout, 0),
	HL_OPT("ac_attr_timeout=%lf", ac_attr_timeout, 0),
	HL_OPT("ac_attr_timeout=", ac_attr_timeout_set, 1),
	HL_OPT("negative_timeout=%lf", negative_timeout, 0),
	HL_OPT("noforget", remember, -1),
	HL_OPT("remember=%u", remember, 0),
	HL_OPT("modules=%s", modules, 0),
	FUSE_OPT_END
};

static int hl_opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	(void)data;
	(void)arg;
	(void)key;
	(void)outargs;
	return 1;
}

void fuse_lib_help(struct fuse_args *args)
{
	(void)args;
	printf("    -o kernel_cache        cache files in kernel\n"
	       "    -o [no]auto_cache      enable caching based on modification times (off)\n"
	       "    -o no_rofd_flush       disable flushing of read-only fd on close (off)\n"
	       "    -o umask=M             set file permissions (octal)\n"
	       "    -o uid=N               set file owner\n"
	       "    -o gid=N               set file group\n"
	       "    -o entry_timeout=T     cache timeout for names (1.0s)\n"
	       "    -o negative_timeout=T  cache timeout for deleted names (0.0s)\n"
	       "    -o attr_timeout=T      cache timeout for attributes (1.0s)\n"
	       "    -o ac_attr_timeout=T   auto cache timeout for attributes (attr_timeout)\n"
	       "    -o noforget            never forget cached inodes\n"
	       "    -o remember=T          remember cached inodes for T seconds (0s)\n"
	       "    -o modules=M1[:M2...]  names of modules to push onto filesystem stack\n");
	fuse_lowlevel_help();
}

/*
 * The path layer's memory must go back once the kernel forgets (issue 15's test: RSS within
 * 10% after a walk of 200,000 files). glibc's malloc_trim trims the main arena's top but
 * not a thread arena's: each arena a loop thread used keeps its top pad (128 KiB) and up to
 * its trim threshold resident. One arena for the whole process (M_ARENA_MAX=1, set before
 * the loop threads start) lets the housekeeping thread's malloc_trim give everything back,
 * and leaves glibc's dynamic mmap and trim thresholds alone: fixing a threshold
 * (M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD all switch the dynamic adjustment off)
 * made every block of 128 KiB or more a filesystem allocates per request an mmap/munmap
 * pair (squashfuse read 5x slower than on Debian's libfuse3). Small blocks come from each
 * thread's tcache without the arena's lock. Not done if the user tuned malloc
 * (MALLOC_ARENA_MAX, GLIBC_TUNABLES).
 */
static pthread_once_t malloc_once = PTHREAD_ONCE_INIT;

static void tune_malloc_arenas(void)
{
	if (!getenv("GLIBC_TUNABLES") && !getenv("MALLOC_ARENA_MAX"))
		mallopt(M_ARENA_MAX, 1);
}

static size_t hl_node_count(void *userdata)
{
	return rf_hl_node_count(userdata);
}

struct fuse *fuse_new_31(struct fuse_args *args, const struct fuse_operations *op,
			 size_t op_size, void *user_data);
struct fuse *fuse_new_30(struct fuse_args *args, const struct fuse_operations *op,
			 size_t op_size, void *user_data);
__asm__(".symver fuse_new_31,fuse_new@@FUSE_3.1");
__asm__(".symver fuse_new_30,fuse_new@FUSE_3.0");

struct fuse *fuse_new_31(struct fuse_args *args, const struct fuse_operations *op,
			 size_t op_size, void *user_data)
{
	struct fuse *f;

	if (!args || !op) {
		fuse_log(FUSE_LOG_ERR, "fuse: fuse_new: NULL %s\n", args ? "operations" : "args");
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		fuse_log(FUSE_LOG_ERR, "fuse: failed to allocate fuse object\n");
		return NULL;
	}
	f->conf.entry_timeout = 1.0;
	f->conf.attr_timeout = 1.0;
	f->conf.negative_timeout = 0.0;
	f->conf.intr_signal = SIGUSR1;
	if (fuse_opt_parse(args, &f->conf, hl_opts, hl_opt_proc) == -1)
		goto fail_free;
	if (f->conf.modules) {
		/* Debian's libfuse3 has the subdir and iconv modules built in; they are
		 * filesystems of their own, not part of this binding. */
		fuse_log(FUSE_LOG_ERR, "fuse: modules=%s: stacking modules are not available "
			 "on ringfuse\n", f->conf.modules);
		goto fail_free;
	}
	if (f->conf.debug)
		fuse_log(FUSE_LOG_DEBUG, "ringfuse-fuse3: high-level API, libfuse 3.14\n");
	f->fs = fuse_fs_new(op, op_size, user_data);
	if (!f->fs)
		goto fail_free;
	f->fs->debug = f->conf.debug;
	pthread_rwlock_init(&f->tree, NULL);
	pthread_rwlock_init(&f->ops, NULL);
	pthread_mutex_init(&f->lock, NULL);
	pthread_mutex_init(&f->hk_lock, NULL);
	pthread_cond_init(&f->hk_cv, NULL);
	rf_hl_cond_init(&f->unhide_cv);
	pthread_once(&malloc_once, tune_malloc_arenas);
	if (rf_hl_tree_init(f) < 0) {
		fuse_log(FUSE_LOG_ERR, "fuse: memory allocation failed\n");
		goto fail_locks;
	}
	rf_hl_fill_ops(&f->llop);
	/* fuse_session_new parses what is left: the session and mount options. */
	f->se = fuse_session_new(args, &f->llop, sizeof(f->llop), f);
	if (!f->se)
		goto fail_tree;
	f->se->node_count = hl_node_count;
	f->se->forget_inline = true;
	f->se->path_lock = &f->ops;
	rf_hl_set_ctx(f, NULL);
	return f;
fail_tree:
	rf_hl_tree_free(f);
fail_locks:
	pthread_rwlock_destroy(&f->tree);
	pthread_rwlock_destroy(&f->ops);
	pthread_mutex_destroy(&f->lock);
	pthread_mutex_destroy(&f->hk_lock);
	pthread_cond_destroy(&f->hk_cv);
	pthread_cond_destroy(&f->unhide_cv);
	free(f->fs);
fail_free:
	free(f->conf.modules);
	free(f);
	return NULL;
}

/* libfuse 3.0's fuse_new: the same, except that -h/--help printed the help and returned
 * NULL there; both refuse them now as unknown options of fuse_session_new. */
struct fuse *fuse_new_30(struct fuse_args *args, const struct fuse_operations *op,
			 size_t op_size, void *user_data)
{
	return fuse_new_31(args, op, op_size, user_data);
}

int fuse_mount(struct fuse *f, const char *mountpoint)
{
	if (!f)
		return -1;
	if (fuse_session_mount(f->se, mountpoint) != 0)
		return -1;
	f->mounted = true;
	return 0;
}

void fuse_unmount(struct fuse *f)
{
	if (f)
		fuse_session_unmount(f->se);
}

void fuse_destroy(struct fuse *f)
{
	if (!f)
		return;
	/* As libfuse: the empty handler intr installed goes, or the program's signal would
	 * stay swallowed after the filesystem is gone. */
	if (f->conf.intr && f->intr_installed) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigaction(f->conf.intr_signal, &sa, NULL);
	}
	rf_hl_hk_stop(f);
	if (f->fs && f->inited) {
		rf_hl_set_ctx(f, NULL);
		rf_hl_unlink_hidden_all(f);
	}
	fuse_session_destroy(f->se);   /* destroy() of the filesystem runs here */
	if (f->fs) {                   /* never initialized: no destroy, as in libfuse */
		free(f->fs);
		f->fs = NULL;
	}
	rf_hl_tree_free(f);
	pthread_rwlock_destroy(&f->tree);
	pthread_rwlock_destroy(&f->ops);
	pthread_mutex_destroy(&f->lock);
	pthread_mutex_destroy(&f->hk_lock);
	pthread_cond_destroy(&f->hk_cv);
	pthread_cond_destroy(&f->unhide_cv);
	free(f->conf.modules);
	if (rf_hl_tls.ctx.fuse == f)
		memset(&rf_hl_tls, 0, sizeof(rf_hl_tls));
	free(f);
}

void fuse_exit(struct fuse *f)
{
	if (f)
		fuse_session_exit(f->se);
}

/* ---- the housekeeping thread --------------------------------------------------------------
 * Off the request path: gives memory back once a burst of forgets is over (malloc_trim,
 * after half a second without a node freed, and only if many were), and, with remember=T
 * (or fuse_start_cleanup_thread), expires remembered nodes. */

#define HK_TRIM_MIN_FREED 1024
#define HK_QUIET_NS 500000000ull

static void *hk_main(void *arg)
{
	struct fuse *f = arg;
	uint64_t next_clean = 0;

	pthread_mutex_lock(&f->hk_lock);
	while (!f->hk_stop) {
		struct timespec ts;
		uint64_t now;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&f->hk_cv, &f->hk_lock, &ts);
		if (f->hk_stop)
			break;
		pthread_mutex_unlock(&f->hk_lock);
		now = rf_hl_now_ns();
		if (f->hk_clean && now >= next_clean)
			next_clean = now + (uint64_t)fuse_clean_cache(f) * 1000000000ull;
		if (atomic_load(&f->freed_since_trim) >= HK_TRIM_MIN_FREED &&
		    now - atomic_load(&f->last_free_ns) >= HK_QUIET_NS)
			rf_hl_trim(f);
		pthread_mutex_lock(&f->hk_lock);
	}
	pthread_mutex_unlock(&f->hk_lock);
	return NULL;
}

int rf_hl_hk_start(struct fuse *f, bool clean)
{
	sigset_t all, old;
	int ret = 0;

	pthread_mutex_lock(&f->hk_lock);
	if (clean)
		f->hk_clean = true;
	if (!f->hk_running) {
		f->hk_stop = false;
		/* Signals stay with the loop's thread. */
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		ret = -pthread_create(&f->hk_thread, NULL, hk_main, f);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		f->hk_running = ret == 0;
	}
	pthread_mutex_unlock(&f->hk_lock);
	return ret;
}

void rf_hl_hk_stop(struct fuse *f)
{
	pthread_mutex_lock(&f->hk_lock);
	if (!f->hk_running) {
		pthread_mutex_unlock(&f->hk_lock);
		return;
	}
	f->hk_stop = true;
	f->hk_running = false;
	pthread_cond_signal(&f->hk_cv);
	pthread_mutex_unlock(&f->hk_lock);
	pthread_join(f->hk_thread, NULL);
}

int fuse_clean_cache(struct fuse *f)
{
	return f ? rf_hl_clean(f) : -EINVAL;
}

int fuse_start_cleanup_thread(struct fuse *f)
{
	if (!f)
		return -EINVAL;
	return f->conf.remember > 0 ? rf_hl_hk_start(f, true) : 0;
}

void fuse_stop_cleanup_thread(struct fuse *f)
{
	if (f && f->conf.remember > 0) {
		pthread_mutex_lock(&f->hk_lock);
		f->hk_clean = false;
		pthread_mutex_unlock(&f->hk_lock);
	}
}

/* ---- loops --------------------------------------------------------------------------------- */

static int loop_prepare(struct fuse *f)
{
	if (!f)
		return -EINVAL;
	/* Failure to start only costs the memory trimming; the loop runs all the same. */
	if (rf_hl_hk_start(f, f->conf.remember > 0) < 0)
		fuse_log(FUSE_LOG_ERR, "fuse: cannot start the housekeeping thread\n");
	return 0;
}

int fuse_loop(struct fuse *f)
{
	if (loop_prepare(f))
		return -1;
	return fuse_session_loop(f->se);
}

int fuse_loop_mt_312(struct fuse *f, struct fuse_loop_config *config);
int fuse_loop_mt_32(struct fuse *f, struct fuse_loop_config_v1 *config);
int fuse_loop_mt_31(struct fuse *f, int clone_fd);
int fuse_session_loop_mt_312(struct fuse_session *se, struct fuse_loop_config *config);
int fuse_session_loop_mt_32(struct fuse_session *se, struct fuse_loop_config_v1 *config);
int fuse_session_loop_mt_31(struct fuse_session *se, int clone_fd);
__asm__(".symver fuse_loop_mt_312,fuse_loop_mt@@FUSE_3.12");
__asm__(".symver fuse_loop_mt_32,fuse_loop_mt@FUSE_3.2");
__asm__(".symver fuse_loop_mt_31,fuse_loop_mt@FUSE_3.0");

int fuse_loop_mt_312(struct fuse *f, struct fuse_loop_config *config)
{
	if (loop_prepare(f))
		return -1;
	return fuse_session_loop_mt_312(f->se, config);
}

int fuse_loop_mt_32(struct fuse *f, struct fuse_loop_config_v1 *config)
{
	if (loop_prepare(f))
		return -1;
	return fuse_session_loop_mt_32(f->se, config);
}

int fuse_loop_mt_31(struct fuse *f, int clone_fd)
{
	if (loop_prepare(f))
		return -1;
	return fuse_session_loop_mt_31(f->se, clone_fd);
}

/* ---- fuse_main ------------------------------------------------------------------------------ */

int fuse_main_real(int argc, char *argv[], const struct fuse_operations *op, size_t op_size,
		   void *user_data)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts;
	struct fuse *f;
	int res;

	if (fuse_parse_cmdline(&args, &opts) != 0)
		return 1;
	if (opts.show_version) {
		printf("FUSE library version %s\n", fuse_pkgversion());
		fuse_lowlevel_version();
		res = 0;
		goto out1;
	}
	if (opts.show_help) {
		if (args.argv[0][0] != '\0')
			printf("usage: %s [options] <mountpoint>\n\n", args.argv[0]);
		printf("FUSE options:\n");
		fuse_cmdline_help();
		fuse_lib_help(&args);
		res = 0;
		goto out1;
	}
	if (!opts.mountpoint) {
		fuse_log(FUSE_LOG_ERR, "error: no mountpoint specified\n");
		res = 2;
		goto out1;
	}
	f = fuse_new_31(&args, op, op_size, user_data);
	if (!f) {
		res = 3;
		goto out1;
	}
	if (fuse_mount(f, opts.mountpoint) != 0) {
		res = 4;
		goto out2;
	}
	if (fuse_daemonize(opts.foreground) != 0) {
		res = 5;
		goto out3;
	}
	if (fuse_set_signal_handlers(f->se) != 0) {
		res = 6;
		goto out3;
	}
	if (opts.singlethread) {
		res = fuse_loop(f);
	} else {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();

		if (!cfg) {
			res = 7;
			goto out4;
		}
		fuse_loop_cfg_set_clone_fd(cfg, opts.clone_fd);
		fuse_loop_cfg_set_idle_threads(cfg, opts.max_idle_threads);
		fuse_loop_cfg_set_max_threads(cfg, opts.max_threads);
		res = fuse_loop_mt_312(f, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	if (res)
		res = 7;
out4:
	fuse_remove_signal_handlers(f->se);
out3:
	fuse_unmount(f);
out2:
	fuse_destroy(f);
out1:
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	return res;
}

/* ---- fuse_invalidate_path, fuse_open_channel -------------------------------------------------- */

int fuse_invalidate_path(struct fuse *f, const char *path)
{
	fuse_ino_t ino;
	int ret;

	if (!f)
		return -EINVAL;
	ret = rf_hl_resolve(f, path, &ino);
	if (ret)
		return ret;
	return fuse_lowlevel_notify_inval_inode(f->se, ino, 0, 0);
}

static void noop_init(void *data, struct fuse_conn_info *conn)
{
	(void)data;
	(void)conn;
}

/* Mount with @options and return the device fd, which the caller serves (e.g. through
 * fuse_session_mount("/dev/fd/N")). The mount stays when the fd is handed over. */
int fuse_open_channel(const char *mountpoint, const char *options)
{
	struct fuse_lowlevel_ops op = { .init = noop_init };
	char *argv[] = { (char *)"", NULL, NULL, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(1, argv);
	struct fuse_session *se;
	int fd = -1;

	if (!mountpoint)
		return -1;
	if (options && *options) {
		argv[1] = (char *)"-o";
		argv[2] = (char *)options;
		args.argc = 3;
	}
	se = fuse_session_new(&args, &op, sizeof(op), NULL);
	fuse_opt_free_args(&args);
	if (!se)
		return -1;
	if (fuse_session_mount(se, mountpoint) == 0) {
		fd = rf_session_take_fd(se->rs);
		if (fd < 0) {
			fuse_log(FUSE_LOG_ERR, "fuse: fuse_open_channel: %s\n", strerror(-fd));
			fd = -1;
		}
	}
	fuse_session_destroy(se);
	return fd;
}
