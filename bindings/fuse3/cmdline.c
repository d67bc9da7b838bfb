/*
 * fuse_parse_cmdline and fuse_cmdline_help of libfuse 3.14's fuse_lowlevel.h: the common
 * command line of a low-level filesystem (-h, -V, -d, -f, -s, -o clone_fd, max_idle_threads,
 * max_threads, one mount point), parsed with fuse_opt_parse (opt.c).
 *
 * libfuse exports fuse_parse_cmdline twice. Programs built against 3.0-3.11 call
 * fuse_parse_cmdline@FUSE_3.0 with the shorter struct fuse_cmdline_opts (no max_threads);
 * programs built since call fuse_parse_cmdline@@FUSE_3.12 with the full one. Both exist here
 * too, as aliases of fuse_parse_cmdline_30 and fuse_parse_cmdline_312, which libfuse exports
 * under their own names as well (the headers call them directly when libfuse is built
 * without symbol versions).
 */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fuse_parse_cmdline_30(struct fuse_args *args, struct fuse_cmdline_opts *opts);
int fuse_parse_cmdline_312(struct fuse_args *args, struct fuse_cmdline_opts *opts);

__asm__(".symver fuse_parse_cmdline_30, fuse_parse_cmdline@FUSE_3.0");
__asm__(".symver fuse_parse_cmdline_312, fuse_parse_cmdline@@FUSE_3.12");

#define FLAG(t, field) { t, offsetof(struct fuse_cmdline_opts, field), 1 }

/* Several templates may match one argument and each acts: "-d" sets debug and foreground and
 * stays in the vector for fuse_session_new, which turns it into debug output. */
static const struct fuse_opt cmdline_opts[] = {
	FLAG("-h", show_help),
	FLAG("--help", show_help),
	FLAG("-V", show_version),
	FLAG("--version", show_version),
	FLAG("-d", debug),
	FLAG("debug", debug),
	FLAG("-d", foreground),
	FLAG("debug", foreground),
	FUSE_OPT_KEY("-d", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("debug", FUSE_OPT_KEY_KEEP),
	FLAG("-f", foreground),
	FLAG("-s", singlethread),
	/* An explicit fsname or subtype turns off the default subtype, and stays for the mount. */
	FLAG("fsname=", nodefault_subtype),
	FUSE_OPT_KEY("fsname=", FUSE_OPT_KEY_KEEP),
	FLAG("subtype=", nodefault_subtype),
	FUSE_OPT_KEY("subtype=", FUSE_OPT_KEY_KEEP),
	FLAG("clone_fd", clone_fd),
	{ "max_idle_threads=%u", offsetof(struct fuse_cmdline_opts, max_idle_threads), 0 },
	{ "max_threads=%u", offsetof(struct fuse_cmdline_opts, max_threads), 0 },
	FUSE_OPT_END
};

/* "/dev/fd/N" names an already open /dev/fuse descriptor (fusermount3's and mount.fuse3's
 * way to hand over a mount, see fuse_session_mount): it is taken verbatim, not resolved. */
static int is_fd_mountpoint(const char *arg)
{
	const char *p = arg + strlen("/dev/fd/");
	char *end;
	long fd;

	if (strncmp(arg, "/dev/fd/", strlen("/dev/fd/")) != 0 || *p < '0' || *p > '9')
		return 0;
	errno = 0;
	fd = strtol(p, &end, 10);
	return *end == '\0' && errno == 0 && fd <= INT_MAX;
}

static int cmdline_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct fuse_cmdline_opts *opts = data;
	char path[PATH_MAX];

	(void)outargs;
	if (key != FUSE_OPT_KEY_NONOPT)
		return 1; /* not ours: leave it for fuse_session_new and the filesystem */
	if (opts->mountpoint) {
		fuse_log(FUSE_LOG_ERR, "fuse: invalid argument `%s'\n", arg);
		return -1;
	}
	if (is_fd_mountpoint(arg))
		return fuse_opt_add_opt(&opts->mountpoint, arg);
	if (!realpath(arg, path)) {
		fuse_log(FUSE_LOG_ERR, "fuse: bad mount point `%s': %s\n", arg, strerror(errno));
		return -1;
	}
	return fuse_opt_add_opt(&opts->mountpoint, path);
}

/* Without -o fsname= or -o subtype=, the mount's subtype is the program's base name, so
 * /proc/mounts shows "fuse.<program>" as with libfuse. */
static int add_default_subtype(struct fuse_args *args)
{
	const char *prog = args->argv[0], *base = strrchr(prog, '/');
	char *opt;
	int res;

	if (!base)
		base = prog;
	else if (base[1] != '\0')
		base++;
	opt = malloc(strlen("-osubtype=") + strlen(base) + 1);
	if (!opt) {
		fuse_log(FUSE_LOG_ERR, "fuse: memory allocation failed\n");
		return -1;
	}
	strcpy(opt, "-osubtype=");
	strcat(opt, base);
	res = fuse_opt_add_arg(args, opt);
	free(opt);
	return res;
}

int fuse_parse_cmdline_312(struct fuse_args *args, struct fuse_cmdline_opts *opts)
{
	if (!args || !opts) {
		fuse_log(FUSE_LOG_ERR, "fuse: fuse_parse_cmdline: NULL %s\n", args ? "opts" : "args");
		return -1;
	}
	memset(opts, 0, sizeof(*opts));
	opts->max_idle_threads = UINT_MAX; /* 3.12's default: idle workers are never reaped */
	opts->max_threads = 10;
	if (!args->argv || args->argc < 1) {
		/* fuse_opt_parse would take an empty vector as nothing to do, but the default
		 * subtype needs argv[0], which the header requires to be present. */
		fuse_log(FUSE_LOG_ERR, "fuse: fuse_parse_cmdline: empty argument vector\n");
		return -1;
	}
	if (fuse_opt_parse(args, opts, cmdline_opts, cmdline_proc) == -1)
		goto err;
	if (!opts->nodefault_subtype && add_default_subtype(args) == -1)
		goto err;
	return 0;
err:
	/* libfuse leaves a half-parsed mount point for the caller to leak; free it here. */
	free(opts->mountpoint);
	opts->mountpoint = NULL;
	return -1;
}

/* The 3.0 struct ends after max_idle_threads: never write max_threads, which an old binary's
 * struct does not have. */
int fuse_parse_cmdline_30(struct fuse_args *args, struct fuse_cmdline_opts *opts)
{
	struct fuse_cmdline_opts full;
	int res;

	if (!opts) {
		fuse_log(FUSE_LOG_ERR, "fuse: fuse_parse_cmdline: NULL opts\n");
		return -1;
	}
	res = fuse_parse_cmdline_312(args, &full);
	if (res == 0)
		memcpy(opts, &full, offsetof(struct fuse_cmdline_opts, max_threads));
	return res;
}

void fuse_cmdline_help(void)
{
	printf("    -h   --help            print this help\n"
	       "    -V   --version         print the library version\n"
	       "    -d   -o debug          debug output on stderr (implies -f)\n"
	       "    -f                     stay in the foreground\n"
	       "    -s                     run the handlers on a single thread\n"
	       "    -o clone_fd            accepted for compatibility (ringfuse's ring\n"
	       "                           does all /dev/fuse I/O)\n"
	       "    -o max_idle_threads    idle worker threads to keep\n"
	       "                           (default: -1, no limit)\n"
	       "    -o max_threads         maximum number of worker threads\n"
	       "                           (default: 10)\n");
}
