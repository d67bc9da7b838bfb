/*
 * hard_remove_shim.c - run an unchanged fuse_main filesystem with fuse_config.hard_remove
 *
 * libfuse 3 has no command-line option for hard_remove: only the filesystem's init can
 * set it in struct fuse_config, and libfuse's examples never do. This shim wraps
 * fuse_main_real, copies the filesystem's operations with init replaced by one that calls
 * the filesystem's init (if any) and then sets cfg->hard_remove = 1, and prints
 * "hard_remove shim: on" to stderr from that init, so a test can see it took effect.
 *
 * Two builds (tests/fuse3/hl/hl.mk):
 *   - hard_remove_shim.so, for LD_PRELOAD in front of a dynamically linked libfuse3.so.3
 *     (Debian's or the binding's drop-in): fuse_main_real here, the real one found with
 *     dlsym(RTLD_NEXT);
 *   - hard_remove_wrap.o (-DSHIM_WRAP), linked with -Wl,--wrap=fuse_main_real into an
 *     example built against the static ringfuse-fuse3, where no preload can interpose.
 */
#define FUSE_USE_VERSION 31
#include <dlfcn.h>
#include <fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct fuse_operations shim_ops;
static void *(*fs_init)(struct fuse_conn_info *, struct fuse_config *);

static void *shim_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* Without an init of its own, the filesystem's private data is fuse_main's user
	 * data, which the context carries during init. */
	void *data = fs_init ? fs_init(conn, cfg) : fuse_get_context()->private_data;
	cfg->hard_remove = 1;
	fprintf(stderr, "hard_remove shim: on\n");
	return data;
}

static const struct fuse_operations *shim(const struct fuse_operations *op, size_t *op_size)
{
	size_t n = *op_size < sizeof(shim_ops) ? *op_size : sizeof(shim_ops);
	memcpy(&shim_ops, op, n);
	fs_init = shim_ops.init;
	shim_ops.init = shim_init;
	*op_size = sizeof(shim_ops);
	return &shim_ops;
}

#ifdef SHIM_WRAP
int __real_fuse_main_real(int argc, char *argv[], const struct fuse_operations *op,
			  size_t op_size, void *user_data);
int __wrap_fuse_main_real(int argc, char *argv[], const struct fuse_operations *op,
			  size_t op_size, void *user_data);
int __wrap_fuse_main_real(int argc, char *argv[], const struct fuse_operations *op,
			  size_t op_size, void *user_data)
{
	op = shim(op, &op_size);
	return __real_fuse_main_real(argc, argv, op, op_size, user_data);
}
#else
int fuse_main_real(int argc, char *argv[], const struct fuse_operations *op, size_t op_size,
		   void *user_data)
{
	int (*real)(int, char **, const struct fuse_operations *, size_t, void *);
	*(void **)&real = dlsym(RTLD_NEXT, "fuse_main_real");
	if (!real) {
		fprintf(stderr, "hard_remove shim: no fuse_main_real after the shim: %s\n", dlerror());
		return 1;
	}
	op = shim(op, &op_size);
	return real(argc, argv, op, op_size, user_data);
}
#endif
