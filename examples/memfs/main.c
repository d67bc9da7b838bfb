/* SPDX-License-Identifier: MIT */
/*
 * main.c - memfs's program: its -o keys, the tree's setup and teardown, main().
 * Usage: memfs [-f] [-d] [-o size=BYTES,inodes=N,timeout=SECONDS,...] mountpoint
 * With -o allow_other, default_permissions is switched on: the kernel checks modes, and
 * memfs drops set-id bits on writes and truncates by others (HANDLE_KILLPRIV_V2).
 */
#include "memfs.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void memfs_free(struct memfs *fs)
{
	size_t i;

	if (fs->dtab) {
		for (i = 0; i <= fs->dtab_mask; i++) {
			struct dent *d, *next;

			for (d = fs->dtab[i]; d; d = next) {
				next = d->hnext;
				free(d);
			}
		}
	}
	if (fs->itab) {
		for (i = 0; i <= fs->itab_mask; i++) {
			struct inode *n, *next;

			for (n = fs->itab[i]; n; n = next) {
				next = n->hnext;
				inode_release_data(fs, n);
				free(n);
			}
		}
	}
	free(fs->dtab);
	free(fs->itab);
	fs->dtab = NULL;
	fs->itab = NULL;
	pthread_mutex_destroy(&fs->lock);
}

static int memfs_setup(struct memfs *fs)
{
	int err = 0;

	pthread_mutex_init(&fs->lock, NULL);
	fs->itab_mask = 1023;
	fs->dtab_mask = 1023;
	fs->itab = calloc(fs->itab_mask + 1, sizeof(*fs->itab));
	fs->dtab = calloc(fs->dtab_mask + 1, sizeof(*fs->dtab));
	if (!fs->itab || !fs->dtab)
		return -ENOMEM;
	fs->next_ino = ROOT_INO;
	fs->next_fh = 1;
	fs->root = inode_new(fs, S_IFDIR | 0755, &err);
	if (!fs->root)
		return err;
	fs->root->uid = getuid();
	fs->root->gid = getgid();
	fs->root->nlink = 2;
	fs->root->nlookup = 1;	/* the kernel never forgets the root */
	fs->root->u.dir.parent = ROOT_INO;
	return 0;
}

/* "64M", "2g", "1T", "50%" (of RAM) or plain bytes. 0 on success. */
static int parse_size(const char *s, uint64_t ram, uint64_t *out)
{
	unsigned long long v;
	char *end;
	int shift = 0;

	if (!s || !isdigit((unsigned char)*s))   /* strtoull takes " -1" as 2^64 - 1 */
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case '%':
		if (end[1] || v == 0 || v > 100)
			return -EINVAL;
		*out = ram / 100 * v;
		return 0;
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	case '\0': break;
	default: return -EINVAL;
	}
	if (shift && end[1])
		return -EINVAL;
	if (v == 0 || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_timeout(const char *key, const char *val, double *out)
{
	char *end;
	double d;

	errno = 0;
	d = val && *val ? strtod(val, &end) : NAN;
	if (errno || isnan(d) || !isfinite(d) || d < 0 || *end) {
		fprintf(stderr, "memfs: option '%s' needs a number of seconds >= 0, got '%s'\n",
			key, val ? val : "");
		return -EINVAL;
	}
	*out = d;
	return 0;
}

/* The -o keys memfs accepts (rf_opts_parse refuses any other and lists these for -h). */
static const struct rf_opt_spec memfs_spec[] = {
	{ "size", "BYTES", "capacity (k/m/g/t suffix or N% of RAM; default 50%)" },
	{ "inodes", "N", "most files (default: one per 4 KiB of capacity)" },
	{ "timeout", "SECONDS", "attribute, entry and negative entry timeout (1.0)" },
	{ "attr_timeout", "SECONDS", "attribute timeout" },
	{ "entry_timeout", "SECONDS", "entry timeout" },
	{ "negative_timeout", "SECONDS", "negative entry timeout" },
	{ NULL, NULL, NULL },
};

static int memfs_config(struct memfs *fs, const struct rf_opts *opts)
{
	long phys = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
	uint64_t ram = phys > 0 && psz > 0 ? (uint64_t)phys * (uint64_t)psz : (uint64_t)1 << 32;
	uint64_t bytes = ram / 2, inodes;
	const char *v;
	double t;

	fs->entry_timeout = fs->attr_timeout = fs->neg_timeout = 1.0;
	if (rf_opts_get(opts, "size", &v) && parse_size(v, ram, &bytes) < 0) {
		fprintf(stderr, "memfs: bad size '%s'\n", v);
		return -EINVAL;
	}
	fs->max_pages = bytes / PG_SIZE ? bytes / PG_SIZE : 1;
	inodes = fs->max_pages < 1024 ? 1024 : fs->max_pages;
	if (rf_opts_get(opts, "inodes", &v)) {
		char *end;
		unsigned long long n;

		errno = 0;
		n = strtoull(v, &end, 10);
		if (errno || !isdigit((unsigned char)*v) || *end || n < 2) {
			fprintf(stderr, "memfs: bad inodes '%s'\n", v);
			return -EINVAL;
		}
		inodes = n;
	}
	fs->max_inodes = inodes;
	if (rf_opts_get(opts, "timeout", &v)) {
		if (parse_timeout("timeout", v, &t) < 0)
			return -EINVAL;
		fs->entry_timeout = fs->attr_timeout = fs->neg_timeout = t;
	}
	if (rf_opts_get(opts, "attr_timeout", &v) &&
	    parse_timeout("attr_timeout", v, &fs->attr_timeout) < 0)
		return -EINVAL;
	if (rf_opts_get(opts, "entry_timeout", &v) &&
	    parse_timeout("entry_timeout", v, &fs->entry_timeout) < 0)
		return -EINVAL;
	if (rf_opts_get(opts, "negative_timeout", &v) &&
	    parse_timeout("negative_timeout", v, &fs->neg_timeout) < 0)
		return -EINVAL;

	return 0;
}

int main(int argc, char **argv)
{
	struct memfs fs;
	struct rf_opts opts;
	int ret;

	memset(&fs, 0, sizeof(fs));
	rf_opts_init(&opts);
	opts.fs_spec = memfs_spec;
	ret = rf_opts_parse(&opts, argc, argv);
	if (ret == 0 && memfs_config(&fs, &opts) < 0)
		ret = -EINVAL;
	if (ret != 0) {
		rf_opts_free(&opts);
		return ret > 0 ? 0 : 1;
	}
	/* memfs checks no modes itself: a mount other users reach has the kernel check them
	 * (owner, group, others, sticky directories), or anyone could change anything. */
	if (opts.allow_other)
		opts.default_permissions = 1;
	ret = memfs_setup(&fs);
	if (ret < 0) {
		fprintf(stderr, "memfs: %s\n", strerror(-ret));
		memfs_free(&fs);
		rf_opts_free(&opts);
		return 1;
	}
	ret = rf_main_opts(&opts, &memfs_ops, sizeof(memfs_ops), &fs);
	rf_opts_free(&opts);
	memfs_free(&fs);
	return ret;
}
