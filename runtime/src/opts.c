/* SPDX-License-Identifier: MIT */
/*
 * opts.c - the FUSE-style command line: "prog [-f] [-d] [-s] [-o opt,...] [source]
 * mountpoint". Keys ringfuse knows fill struct rf_opts; keys the filesystem declared
 * (opts->fs_spec) are kept for it in opts->fs_opts; any other key is an error, so that a
 * typo never mounts with defaults. Mounting with these options is mount.c's.
 */
#include <ctype.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "internal.h"

void rf_opts_init(struct rf_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->threads = 0;          /* one loop per kernel queue, else 1 (session.c) */
	opts->queue_depth = 64;
	/* What fusermount3 and libfuse do by default: a FUSE mount never honours set-id
	 * bits or device nodes unless asked to. */
	opts->mount_flags = MS_NOSUID | MS_NODEV;
}

void rf_opts_free(struct rf_opts *opts)
{
	free(opts->_owned);
	opts->_owned = NULL;
}

struct flagopt {
	const char *name;
	unsigned long set, clear;
};

/* Mount flags, as mount(8) spells them. */
static const struct flagopt flag_opts[] = {
	{ "ro", MS_RDONLY, 0 },           { "rw", 0, MS_RDONLY },
	{ "nosuid", MS_NOSUID, 0 },       { "suid", 0, MS_NOSUID },
	{ "nodev", MS_NODEV, 0 },         { "dev", 0, MS_NODEV },
	{ "noexec", MS_NOEXEC, 0 },       { "exec", 0, MS_NOEXEC },
	{ "noatime", MS_NOATIME, 0 },     { "atime", 0, MS_NOATIME },
	{ "nodiratime", MS_NODIRATIME, 0 }, { "diratime", 0, MS_NODIRATIME },
	{ "relatime", MS_RELATIME, 0 },   { "norelatime", 0, MS_RELATIME },
	{ "strictatime", MS_STRICTATIME, 0 },
	{ "sync", MS_SYNCHRONOUS, 0 },    { "async", 0, MS_SYNCHRONOUS },
	{ "dirsync", MS_DIRSYNC, 0 },
	{ "lazytime", MS_LAZYTIME, 0 },   { "nolazytime", 0, MS_LAZYTIME },
};

/* ringfuse's own keys (besides the mount flags above): what -h lists, and whether each
 * takes a value. parse_runtime() gives each its meaning. */
static const struct rf_opt_spec runtime_spec[] = {
	{ "allow_other", NULL, "let every user use the mount" },
	{ "allow_root", NULL, "only the mounting user and root (others: EACCES)" },
	{ "default_permissions", NULL, "the kernel checks file modes" },
	{ "auto_unmount", NULL, "unmount when the server dies (fusermount3)" },
	{ "fsname", "NAME", "/proc/mounts source (default: source, else program)" },
	{ "subtype", "NAME", "type fuse.NAME (default: the program's name)" },
	{ "threads", "N", "loop threads, each with a cloned /dev/fuse fd (one per io_uring queue)" },
	{ "pin", "0|1", "pin each loop thread to its io_uring queue's CPU (1)" },
	{ "single", NULL, "one loop thread (as -s)" },
	{ "transport", "MODE", "auto|dev|uring: io_uring queues or /dev/fuse (auto)" },
	{ "queue_depth", "N", "requests in service per loop (64)" },
	{ "uring_depth", "N", "entries per kernel io_uring queue (16)" },
	{ "max_read", "N", "largest READ the kernel sends (no limit)" },
	{ "max_write", "N", "largest WRITE the kernel sends (1 MiB)" },
	{ "max_readahead", "N", "readahead asked of the kernel" },
	{ "max_background", "N", "background requests the kernel queues (64)" },
	{ "congestion_threshold", "N", "where the kernel sees congestion (3/4 of that)" },
	{ "grace_ms", "N", "at shutdown, ms given to requests in service (5000)" },
	{ "poll_us", "N", "busy-poll N us before sleeping: lower QD1 latency, CPU spent (0)" },
	{ "inline", "MODE", "auto|always|never: backing calls in place on fast local sources (auto)" },
	{ "log_level", "LEVEL", "error|warn|info|debug: what is logged (warn)" },
	{ "debug", NULL, "as -d" },
	{ NULL, NULL, NULL },
};

static const struct rf_opt_spec *spec_find(const struct rf_opt_spec *spec, const char *key)
{
	for (; spec && spec->key; spec++)
		if (!strcmp(spec->key, key))
			return spec;
	return NULL;
}

/* A decimal, octal or hex number within [min, max]; -EINVAL otherwise. It must start
 * with a digit: strtoull skips blanks and negates after a '-', so " -4294967295" would
 * be read as 1. */
static int parse_u32(const char *key, const char *val, uint32_t min, uint32_t max,
		     uint32_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(val, &end, 0);
	if (!isdigit((unsigned char)*val) || errno || *end || v < min || v > max) {
		rf__err("option '%s' needs a number from %u to %u, got '%s'", key, min, max, val);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

static int parse_log_level(const char *val, int *out)
{
	static const struct { const char *name; int level; } names[] = {
		{ "error", RF_LOG_ERR }, { "err", RF_LOG_ERR }, { "warn", RF_LOG_WARNING },
		{ "warning", RF_LOG_WARNING }, { "info", RF_LOG_INFO }, { "debug", RF_LOG_DEBUG },
	};
	size_t i;

	for (i = 0; i < RF_ARRAY_SIZE(names); i++) {
		if (!strcmp(val, names[i].name)) {
			*out = names[i].level;
			return 0;
		}
	}
	rf__err("option 'log_level' must be error, warn, info or debug, got '%s'", val);
	return -EINVAL;
}

/* A key of runtime_spec (value presence already checked): apply it. */
static int parse_runtime(struct rf_opts *opts, const char *key, char *val)
{
	uint32_t n;
	int ret;

	if (!strcmp(key, "allow_other"))
		return opts->allow_other = 1, 0;
	if (!strcmp(key, "allow_root"))
		return opts->allow_root = 1, 0;
	if (!strcmp(key, "default_permissions"))
		return opts->default_permissions = 1, 0;
	if (!strcmp(key, "auto_unmount"))
		return opts->auto_unmount = 1, 0;
	if (!strcmp(key, "debug"))
		return opts->debug = opts->foreground = 1, 0;
	if (!strcmp(key, "single"))
		return opts->threads = 1, 0;
	if (!strcmp(key, "fsname"))
		return opts->fsname = val, 0;
	if (!strcmp(key, "subtype"))
		return opts->subtype = val, 0;
	if (!strcmp(key, "log_level"))
		return parse_log_level(val, &opts->log_level);
	if (!strcmp(key, "max_read"))
		return parse_u32(key, val, 0, UINT32_MAX, &opts->max_read);
	if (!strcmp(key, "max_write"))
		return parse_u32(key, val, 0, UINT32_MAX, &opts->max_write);
	if (!strcmp(key, "max_readahead"))
		return parse_u32(key, val, 0, UINT32_MAX, &opts->max_readahead);
	if (!strcmp(key, "max_background"))
		return parse_u32(key, val, 0, UINT32_MAX, &opts->max_background);
	if (!strcmp(key, "congestion_threshold"))
		return parse_u32(key, val, 0, UINT32_MAX, &opts->congestion_threshold);
	if (!strcmp(key, "poll_us"))
		return parse_u32(key, val, 0, 1000000, &opts->poll_us);
	if (!strcmp(key, "grace_ms"))
		return parse_u32(key, val, 0, UINT32_MAX, &opts->grace_ms);
	if (!strcmp(key, "queue_depth"))
		return parse_u32(key, val, 2, 4096, &opts->queue_depth);
	if (!strcmp(key, "uring_depth"))
		return parse_u32(key, val, 1, 1024, &opts->uring_depth);
	if (!strcmp(key, "pin")) {
		ret = parse_u32(key, val, 0, 1, &n);
		if (!ret)
			opts->no_pin = !n;
		return ret;
	}
	if (!strcmp(key, "threads")) {
		ret = parse_u32(key, val, 1, 64, &n);
		if (!ret)
			opts->threads = (int)n;
		return ret;
	}
	if (!strcmp(key, "transport")) {
		if (!strcmp(val, "auto"))
			opts->transport = RF_TRANSPORT_AUTO;
		else if (!strcmp(val, "dev"))
			opts->transport = RF_TRANSPORT_DEV;
		else if (!strcmp(val, "uring"))
			opts->transport = RF_TRANSPORT_URING;
		else {
			rf__err("option 'transport' must be auto, dev or uring, got '%s'", val);
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(key, "inline")) {
		if (!strcmp(val, "auto"))
			opts->inline_mode = RF_INLINE_AUTO;
		else if (!strcmp(val, "always"))
			opts->inline_mode = RF_INLINE_ALWAYS;
		else if (!strcmp(val, "never"))
			opts->inline_mode = RF_INLINE_NEVER;
		else {
			rf__err("option 'inline' must be auto, always or never, got '%s'", val);
			return -EINVAL;
		}
		return 0;
	}
	/* runtime_spec and this function list the same keys. */
	rf__err("BUG: option '%s' declared but not handled", key);
	return -EINVAL;
}

/* The state of one rf_opts_parse call. */
struct parser {
	struct rf_opts *opts;
	const char *prog;
	char *fs;                   /* the filesystem's keys, comma separated */
	size_t fs_cap;
};

static int check_value(const struct rf_opt_spec *sp, const char *val)
{
	if (!sp->value && val) {
		rf__err("option '%s' takes no value (got '%s=%s')", sp->key, sp->key, val);
		return -EINVAL;
	}
	if (sp->value && !val) {
		rf__err("option '%s' needs a value (-o %s=%s)", sp->key, sp->key, sp->value);
		return -EINVAL;
	}
	return 0;
}

/* One -o item, split in place at '='. Strings point into the parser's storage. */
static int parse_one(struct parser *p, char *opt)
{
	struct rf_opts *opts = p->opts;
	const struct rf_opt_spec *sp;
	char *val = strchr(opt, '=');
	size_t i, len;
	int ret;

	if (val)
		*val++ = '\0';
	/* mount(8) passes "defaults" along, and "x-*" keys are comments for userspace
	 * (systemd, fstab tools) that a mount helper must let through. */
	if (!strcmp(opt, "defaults") || !strncmp(opt, "x-", 2))
		return 0;
	for (i = 0; i < RF_ARRAY_SIZE(flag_opts); i++) {
		if (strcmp(opt, flag_opts[i].name))
			continue;
		if (val) {
			rf__err("option '%s' takes no value (got '%s=%s')", opt, opt, val);
			return -EINVAL;
		}
		opts->mount_flags |= flag_opts[i].set;
		opts->mount_flags &= ~flag_opts[i].clear;
		opts->read_only = !!(opts->mount_flags & MS_RDONLY);
		return 0;
	}
	sp = spec_find(runtime_spec, opt);
	if (sp) {
		ret = check_value(sp, val);
		return ret < 0 ? ret : parse_runtime(opts, opt, val);
	}
	sp = spec_find(opts->fs_spec, opt);
	if (!sp) {
		rf__err("unknown option '%s' (see %s --help)", opt, p->prog);
		return -EINVAL;
	}
	ret = check_value(sp, val);
	if (ret < 0)
		return ret;
	/* The filesystem's: kept for rf_opts_get. */
	if (val)
		val[-1] = '=';
	len = strlen(p->fs);
	snprintf(p->fs + len, p->fs_cap - len, "%s%s", len ? "," : "", opt);
	return 0;
}

static int parse_o(struct parser *p, char *list)
{
	char *save = NULL, *opt;
	int ret;

	for (opt = strtok_r(list, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
		ret = parse_one(p, opt);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* "    -o key=VALUE        help", the help in a column when the key leaves room. */
static void print_spec(const struct rf_opt_spec *spec)
{
	char lhs[64];

	for (; spec && spec->key; spec++) {
		if (!spec->help)
			continue;
		snprintf(lhs, sizeof(lhs), "-o %s%s%s", spec->key, spec->value ? "=" : "",
			 spec->value ? spec->value : "");
		if (strlen(lhs) <= 26)
			printf("    %-26s %s\n", lhs, spec->help);
		else
			printf("    %s\n    %-26s %s\n", lhs, "", spec->help);
	}
}

void rf_opts_help(void)
{
	printf("ringfuse options:\n"
	       "    -h, --help                 print this help and exit\n"
	       "    -V, --version              print ringfuse's version and exit\n"
	       "    -f                         stay in the foreground (default: detach once\n"
	       "                               the mount is live)\n"
	       "    -d                         -f, and log every request (log_level=debug)\n"
	       "    -s                         one loop thread (default: one per kernel\n"
	       "                               io_uring queue when offered, else one)\n");
	print_spec(runtime_spec);
	printf("    -o ro|rw, nosuid|suid, nodev|dev, noexec|exec, noatime|atime,\n"
	       "       nodiratime|diratime, relatime|norelatime, strictatime, sync|async,\n"
	       "       dirsync, lazytime|nolazytime   mount flags (default nosuid,nodev)\n"
	       "    -o defaults, x-*           accepted and ignored (mount(8), fstab)\n");
}

static void print_help(const struct rf_opts *opts, const char *prog)
{
	printf("usage: %s [options] [source] mountpoint\n\n", prog);
	if (opts->fs_spec && opts->fs_spec->key) {
		printf("%s options:\n", prog);
		print_spec(opts->fs_spec);
		printf("\n");
	}
	rf_opts_help();
}

static const char *base_name(const char *path)
{
	const char *slash = path ? strrchr(path, '/') : NULL;

	if (!path || !*path)
		return "ringfuse";
	return slash && slash[1] ? slash + 1 : path;
}

/* -h and -V win over everything else on the line, wherever they are. */
static int wants_info(const struct rf_opts *opts, int argc, char **argv, const char *prog)
{
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			print_help(opts, prog);
			return 1;
		}
		if (!strcmp(argv[i], "-V") || !strcmp(argv[i], "--version")) {
			printf("%s: ringfuse %s, FUSE kernel protocol %u.%u\n", prog, rf_version(),
			       FUSE_KERNEL_VERSION, FUSE_KERNEL_MINOR_VERSION);
			return 1;
		}
	}
	return 0;
}

/* Checks that need the whole line, and the defaults that follow from it. */
static int finish(struct parser *p, char **pos, int npos)
{
	struct rf_opts *opts = p->opts;

	if (npos == 0) {
		rf__err("no mount point given (usage: %s [options] [source] mountpoint)", p->prog);
		return -EINVAL;
	}
	if (npos > 2) {
		rf__err("unexpected argument '%s' (usage: %s [options] [source] mountpoint)",
			pos[2], p->prog);
		return -EINVAL;
	}
	opts->mountpoint = pos[npos - 1];
	opts->source = npos == 2 ? pos[0] : NULL;
	if (opts->allow_other && opts->allow_root) {
		rf__err("options 'allow_other' and 'allow_root' exclude each other");
		return -EINVAL;
	}
	if (!opts->fsname && opts->source)
		opts->fsname = opts->source;
	if (opts->debug)
		opts->log_level = RF_LOG_DEBUG;
	if (opts->log_level)
		rf_log_set_level((enum rf_log_level)opts->log_level);
	if (*p->fs) {
		size_t n = strlen(p->fs) + 1;
		char *split = p->fs + n, *c;

		/* rf_opts_get reads this copy, split at commas, in place. */
		memcpy(split, p->fs, n);
		for (c = split; *c; c++)
			if (*c == ',')
				*c = '\0';
		opts->fs_opts = p->fs;
	}
	return 0;
}

/* A second parse frees the first one's storage: the strings that point into it go (this
 * line sets them again or leaves them unset); those the application set itself stay. */
static void drop_owned_strings(struct rf_opts *opts)
{
	const char **str[] = { &opts->mountpoint, &opts->fsname, &opts->subtype, &opts->source };
	uintptr_t lo = (uintptr_t)opts->_owned, hi = lo + malloc_usable_size(opts->_owned);
	size_t i;

	for (i = 0; i < RF_ARRAY_SIZE(str); i++)
		if ((uintptr_t)*str[i] >= lo && (uintptr_t)*str[i] < hi)
			*str[i] = NULL;
}

int rf_opts_parse(struct rf_opts *opts, int argc, char **argv)
{
	struct parser p = { .opts = opts };
	size_t total = 0;
	char *store, *pos[3];
	int i, npos = 0, ret, dashdash = 0;

	p.prog = base_name(argc > 0 ? argv[0] : NULL);
	if (wants_info(opts, argc, argv, p.prog))
		return 1;
	/* One allocation holds copies of every argument plus the filesystem's options. */
	for (i = 1; i < argc; i++)
		total += strlen(argv[i]) + 1;
	p.fs_cap = total + 1;
	if (opts->_owned)
		drop_owned_strings(opts);
	free(opts->_owned);
	opts->fs_opts = NULL;
	/* Arguments, then fs_opts, then fs_opts split at commas (see rf_opts_get). */
	opts->_owned = store = calloc(1, total + 2 * p.fs_cap + 1);
	if (!store)
		return -ENOMEM;
	p.fs = store + total + 1;
	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];
		char *copy = store;

		store += strlen(arg) + 1;
		strcpy(copy, arg);
		if (dashdash || arg[0] != '-' || !arg[1]) {
			if (!*arg) {
				rf__err("empty argument (usage: %s [options] [source] mountpoint)",
					p.prog);
				return -EINVAL;
			}
			if (npos < 3)
				pos[npos++] = copy;
		} else if (!strcmp(arg, "--")) {
			dashdash = 1;
		} else if (!strcmp(arg, "-f")) {
			opts->foreground = 1;
		} else if (!strcmp(arg, "-d")) {
			opts->debug = opts->foreground = 1;
		} else if (!strcmp(arg, "-s")) {
			opts->threads = 1;
		} else if (!strncmp(arg, "-o", 2)) {
			char *list = copy + 2;

			if (!*list) {
				if (++i >= argc) {
					rf__err("-o needs an argument (-o key[=value][,...])");
					return -EINVAL;
				}
				list = store;
				strcpy(list, argv[i]);
				store += strlen(argv[i]) + 1;
			}
			ret = parse_o(&p, list);
			if (ret < 0)
				return ret;
		} else {
			rf__err("unknown option '%s' (see %s --help)", arg, p.prog);
			return -EINVAL;
		}
	}
	return finish(&p, pos, npos);
}

int rf_opts_get(const struct rf_opts *opts, const char *key, const char **value)
{
	const char *p, *end;
	size_t klen = strlen(key);

	if (!opts->fs_opts)
		return 0;
	/* rf_opts_parse stored a copy right after fs_opts with every ',' turned into a NUL,
	 * so a value can be handed out in place and lives as long as the options. */
	end = opts->fs_opts + strlen(opts->fs_opts);
	for (p = end + 1; p < end + 1 + (end - opts->fs_opts); p += strlen(p) + 1) {
		if (strncmp(p, key, klen) || (p[klen] != '\0' && p[klen] != '='))
			continue;
		if (value)
			*value = p[klen] == '=' ? p + klen + 1 : p + klen;
		return 1;
	}
	return 0;
}
