/* SPDX-License-Identifier: MIT */
/*
 * opts.c - the FUSE-style command line: "prog [-f] [-d] [-s] [-o opt,...] mountpoint".
 * Keys ringfuse knows fill struct rf_opts; the rest is kept for the filesystem in
 * opts->fs_opts. Mounting with these options is mount.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "internal.h"

void rf_opts_init(struct rf_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->threads = 1;
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

/* A decimal, octal or hex number that fits in uint32_t; -EINVAL otherwise. */
static int parse_u32(const char *key, const char *val, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (!val || !*val)
		goto bad;
	errno = 0;
	v = strtoull(val, &end, 0);
	if (errno || *end || v > UINT32_MAX)
		goto bad;
	*out = (uint32_t)v;
	return 0;
bad:
	fprintf(stderr, "ringfuse: option '%s' needs a number, got '%s'\n", key, val ? val : "");
	return -EINVAL;
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
	{ "lazytime", MS_LAZYTIME, 0 },
};

/* Append "key[=val]" to the filesystem's option string (in @fs, of size @cap). */
static void add_fs_opt(char *fs, size_t cap, const char *opt)
{
	size_t len = strlen(fs);

	snprintf(fs + len, cap - len, "%s%s", len ? "," : "", opt);
}

/* One -o item, split in place at '='. Strings point into @owned storage. */
static int parse_one(struct rf_opts *opts, char *opt, char *fs, size_t fs_cap)
{
	char *val = strchr(opt, '=');
	size_t i;

	if (val)
		*val++ = '\0';
	for (i = 0; i < RF_ARRAY_SIZE(flag_opts); i++) {
		if (!val && !strcmp(opt, flag_opts[i].name)) {
			opts->mount_flags |= flag_opts[i].set;
			opts->mount_flags &= ~flag_opts[i].clear;
			opts->read_only = !!(opts->mount_flags & MS_RDONLY);
			return 0;
		}
	}
	if (!val) {
		if (!strcmp(opt, "allow_other"))
			return opts->allow_other = 1, 0;
		if (!strcmp(opt, "allow_root"))
			return opts->allow_other = 1, 0;  /* enforced by the filesystem, if at all */
		if (!strcmp(opt, "default_permissions"))
			return opts->default_permissions = 1, 0;
		if (!strcmp(opt, "auto_unmount"))
			return opts->auto_unmount = 1, 0;
		if (!strcmp(opt, "debug"))
			return opts->debug = opts->foreground = 1, 0;
		if (!strcmp(opt, "single"))
			return opts->threads = 1, 0;
	} else {
		if (!strcmp(opt, "fsname"))
			return opts->fsname = val, 0;
		if (!strcmp(opt, "subtype"))
			return opts->subtype = val, 0;
		if (!strcmp(opt, "max_read"))
			return parse_u32(opt, val, &opts->max_read);
		if (!strcmp(opt, "max_write"))
			return parse_u32(opt, val, &opts->max_write);
		if (!strcmp(opt, "max_readahead"))
			return parse_u32(opt, val, &opts->max_readahead);
		if (!strcmp(opt, "max_background"))
			return parse_u32(opt, val, &opts->max_background);
		if (!strcmp(opt, "congestion_threshold"))
			return parse_u32(opt, val, &opts->congestion_threshold);
		if (!strcmp(opt, "queue_depth")) {
			int ret = parse_u32(opt, val, &opts->queue_depth);

			if (!ret && (opts->queue_depth < 2 || opts->queue_depth > 4096)) {
				fprintf(stderr, "ringfuse: queue_depth must be 2..4096\n");
				return -EINVAL;
			}
			return ret;
		}
		if (!strcmp(opt, "transport")) {
			if (!strcmp(val, "auto"))
				opts->transport = RF_TRANSPORT_AUTO;
			else if (!strcmp(val, "dev"))
				opts->transport = RF_TRANSPORT_DEV;
			else if (!strcmp(val, "uring"))
				opts->transport = RF_TRANSPORT_URING;
			else {
				fprintf(stderr, "ringfuse: transport must be auto, dev or uring\n");
				return -EINVAL;
			}
			return 0;
		}
		if (!strcmp(opt, "uring_depth")) {
			int ret = parse_u32(opt, val, &opts->uring_depth);

			if (!ret && (opts->uring_depth < 1 || opts->uring_depth > 1024)) {
				fprintf(stderr, "ringfuse: uring_depth must be 1..1024\n");
				return -EINVAL;
			}
			return ret;
		}
		if (!strcmp(opt, "grace_ms"))
			return parse_u32(opt, val, &opts->grace_ms);
		if (!strcmp(opt, "threads")) {
			uint32_t n;
			int ret = parse_u32(opt, val, &n);

			if (!ret && (n < 1 || n > 64)) {
				fprintf(stderr, "ringfuse: threads must be 1..64\n");
				return -EINVAL;
			}
			opts->threads = (int)n;
			return ret;
		}
	}
	/* Not ours: the filesystem's (rf_opts_get). */
	if (val)
		val[-1] = '=';
	add_fs_opt(fs, fs_cap, opt);
	return 0;
}

static int parse_o(struct rf_opts *opts, char *list, char *fs, size_t fs_cap)
{
	char *save = NULL, *opt;
	int ret;

	for (opt = strtok_r(list, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
		ret = parse_one(opts, opt, fs, fs_cap);
		if (ret < 0)
			return ret;
	}
	return 0;
}

void rf_opts_help(void)
{
	fprintf(stderr,
		"ringfuse options:\n"
		"    -f                     stay in the foreground (ringfuse never daemonizes)\n"
		"    -d, -o debug           log every request and reply to stderr\n"
		"    -s                     one loop thread (the default)\n"
		"    -o threads=N           N loop threads, each with a cloned /dev/fuse fd\n"
		"    -o allow_other         let other users use the mount\n"
		"    -o default_permissions the kernel checks file modes\n"
		"    -o ro|rw, nosuid|suid, nodev|dev, noexec, noatime, sync, dirsync\n"
		"    -o fsname=NAME         source shown in /proc/mounts\n"
		"    -o subtype=NAME        type shown as fuse.NAME\n"
		"    -o max_read=N, max_write=N, max_readahead=N, max_background=N,\n"
		"       congestion_threshold=N   sizes negotiated with the kernel\n"
		"    -o queue_depth=N       requests in service per loop (default 64)\n"
		"    -o transport=auto|dev|uring  kernel io_uring queues or /dev/fuse (auto)\n"
		"    -o uring_depth=N       entries per kernel io_uring queue (16)\n"
		"    -o grace_ms=N          at shutdown, time given to requests in service (5000)\n"
		"    -o auto_unmount        unmount when the server dies (through fusermount3)\n");
}

int rf_opts_parse(struct rf_opts *opts, int argc, char **argv)
{
	size_t total = 0, fs_cap;
	char *store, *fs;
	int i, ret;

	/* One allocation holds copies of every argument plus the filesystem's options. */
	for (i = 1; i < argc; i++)
		total += strlen(argv[i]) + 1;
	fs_cap = total + 1;
	free(opts->_owned);
	/* Arguments, then fs_opts, then fs_opts split at commas (see rf_opts_get). */
	opts->_owned = store = calloc(1, total + 2 * fs_cap + 1);
	if (!store)
		return -ENOMEM;
	fs = store + total + 1;
	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];
		char *copy = store;

		store += strlen(arg) + 1;
		strcpy(copy, arg);
		if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
			fprintf(stderr, "usage: %s [options] mountpoint\n", argv[0]);
			rf_opts_help();
			return 1;
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
					fprintf(stderr, "ringfuse: -o needs an argument\n");
					return -EINVAL;
				}
				list = store;
				strcpy(list, argv[i]);
				store += strlen(argv[i]) + 1;
			}
			ret = parse_o(opts, list, fs, fs_cap);
			if (ret < 0)
				return ret;
		} else if (arg[0] == '-' && arg[1]) {
			fprintf(stderr, "ringfuse: unknown option '%s' (see --help)\n", arg);
			return -EINVAL;
		} else if (!opts->mountpoint) {
			opts->mountpoint = copy;
		} else {
			fprintf(stderr, "ringfuse: unexpected argument '%s'\n", arg);
			return -EINVAL;
		}
	}
	if (!opts->mountpoint) {
		fprintf(stderr, "ringfuse: no mount point given (usage: %s [options] mountpoint)\n",
			argv[0]);
		return -EINVAL;
	}
	if (*fs) {
		size_t n = strlen(fs) + 1;
		char *split = fs + n, *c;

		memcpy(split, fs, n);
		for (c = split; *c; c++)
			if (*c == ',')
				*c = '\0';
		opts->fs_opts = fs;
	}
	return 0;
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
