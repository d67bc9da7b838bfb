/* SPDX-License-Identifier: MIT */
/*
 * main.c - passthrough's options (-o source=, cache=, writeback, passthrough, timeout=,
 * negative_timeout=, inode_handles), the root inode, and main(): parse, check the
 * mount point, mount, run, and count what was left at exit.
 */
#include "passthrough.h"

#include <sys/resource.h>

/* The -o keys passthrough accepts (rf_opts_parse refuses any other and lists these for -h). */
static const struct rf_opt_spec pt_spec[] = {
	{ "source", "DIR", "directory to mirror (required; or: passthrough DIR MOUNTPOINT)" },
	{ "cache", "MODE", "never | auto (default) | always" },
	{ "writeback", NULL, "kernel writeback cache" },
	{ "passthrough", NULL, "kernel passthrough of read/write/mmap (CAP_SYS_ADMIN)" },
	{ "timeout", "SEC", "entry and attribute timeout (default per cache mode)" },
	{ "negative_timeout", "SEC", "cache missing names (default 0: not cached)" },
	{ "inode_handles", NULL, "file handles instead of O_PATH fds for non-directories" },
	{ NULL, NULL, NULL },
};

/* The filesystem's own -o keys (rf_opts_parse left them in opts->fs_opts). */
static int parse_fs_opts(struct pt_fs *fs, const struct rf_opts *opts, bool *timeout_set)
{
	char *copy, *save = NULL, *opt;
	int ret = 0;

	if (!opts->fs_opts)
		return 0;
	copy = strdup(opts->fs_opts);
	if (!copy)
		return -ENOMEM;
	for (opt = strtok_r(copy, ",", &save); opt && !ret; opt = strtok_r(NULL, ",", &save)) {
		char *val = strchr(opt, '=');

		if (val)
			*val++ = '\0';
		if (!strcmp(opt, "source") && val && *val) {
			continue;        /* read in place below: its storage outlives the copy */
		} else if (!strcmp(opt, "cache") && val) {
			if (!strcmp(val, "never"))
				fs->cache = CACHE_NEVER;
			else if (!strcmp(val, "auto"))
				fs->cache = CACHE_AUTO;
			else if (!strcmp(val, "always"))
				fs->cache = CACHE_ALWAYS;
			else
				ret = -EINVAL;
		} else if (!strcmp(opt, "timeout") && val) {
			char *end;

			errno = 0;
			fs->timeout = strtod(val, &end);
			if (errno || end == val || *end || !(fs->timeout >= 0) ||
			    fs->timeout > 1e9)
				ret = -EINVAL;
			*timeout_set = true;
		} else if (!strcmp(opt, "negative_timeout") && val) {
			char *end;

			errno = 0;
			fs->neg_timeout = strtod(val, &end);
			if (errno || end == val || *end || !(fs->neg_timeout >= 0) ||
			    fs->neg_timeout > 1e9)
				ret = -EINVAL;
		} else if (!strcmp(opt, "writeback") && !val) {
			fs->writeback = true;
		} else if (!strcmp(opt, "passthrough") && !val) {
			fs->want_passthrough = true;
		} else if (!strcmp(opt, "inode_handles") && !val) {
			fs->handles = true;
		} else {
			ret = -EINVAL;
		}
		if (ret)
			fprintf(stderr, "passthrough: bad option '%s%s%s'\n", opt, val ? "=" : "",
				val ? val : "");
	}
	free(copy);
	if (!ret && rf_opts_get(opts, "source", &fs->source) && !*fs->source)
		fs->source = NULL;
	return ret;
}

/* Refuse a mount point inside the source: looking it up would call back into this
 * very server from its own loop thread (a mount over the source itself is fine). */
static int check_mountpoint(const char *source, const char *mnt)
{
	char *s = realpath(source, NULL), *m = realpath(mnt, NULL);
	size_t n;
	int ret = 0;

	if (s && m) {
		n = strlen(s);
		if (n == 1)
			n = 0;           /* source "/" */
		if (strcmp(s, m) && !strncmp(s, m, n) && m[n] == '/') {
			fprintf(stderr, "passthrough: mount point %s is inside the source %s; "
				"it would be mirrored into itself\n", m, s);
			ret = -EINVAL;
		}
	}
	free(s);
	free(m);
	return ret;
}

/* Teardown self-check (tests/integration/teardown.sh): once the session has ended and the
 * inodes are closed, no fd of this process may still point into the source, or the
 * backing filesystem would stay busy. Prints each one left over; returns how many. */
static int source_fds_left(const char *source)
{
	char *real = realpath(source, NULL), link[PATH_MAX + 32];
	const char *src = real ? real : source;
	size_t n = strlen(src);
	struct dirent *de;
	DIR *d;
	int left = 0;

	d = n > 1 ? opendir("/proc/self/fd") : NULL;     /* source "/": nothing to tell */
	while (d && (de = readdir(d))) {
		ssize_t len;

		if (de->d_name[0] == '.' || atoi(de->d_name) == dirfd(d))
			continue;
		len = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
		if (len < 0)
			continue;
		link[len] = '\0';
		if (!strncmp(link, src, n) && (link[n] == '\0' || link[n] == '/' || link[n] == ' ')) {
			fprintf(stderr, "passthrough: at exit, fd %s is still open on %s\n",
				de->d_name, link);
			left++;
		}
	}
	if (d)
		closedir(d);
	free(real);
	return left;
}

/* Each inode keeps an fd: let the process have as many as it may, and prune the kernel's
 * inodes past 3/4 of them (maybe_prune). */
static void raise_nofile(struct pt_fs *fs)
{
	struct rlimit rl;

	fs->prune_at = fs->prune_to = INT_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur >= 64 && rl.rlim_cur <= INT_MAX) {
		fs->prune_at = (int)(rl.rlim_cur / 4 * 3);
		fs->prune_to = (int)(rl.rlim_cur / 2);
	}
}

static int setup_root(struct pt_fs *fs)
{
	static const struct rf_itable_ops iops = { .free = inode_free };
	struct pt_inode *root;
	struct stat st;
	int fd, r;

	fd = open(fs->source, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "passthrough: source %s: %s\n", fs->source, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fs->root_dirfd = open(fs->source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->root_dirfd < 0) {
		fprintf(stderr, "passthrough: source %s: %s\n", fs->source, strerror(errno));
		close(fd);
		return -1;
	}
	if (fs->handles) {
		struct file_handle *fh = malloc(sizeof(*fh) + PT_HANDLE_MAX);

		if (fh)
			fh->handle_bytes = PT_HANDLE_MAX;
		if (!fh || name_to_handle_at(fs->root_dirfd, "", fh, &fs->mount_id,
					     AT_EMPTY_PATH) < 0) {
			fprintf(stderr, "passthrough: inode_handles: the source has no file "
				"handles (%s); keeping O_PATH fds\n", strerror(fh ? errno : ENOMEM));
			fs->handles = false;
		}
		free(fh);
	}
	r = rf_itable_new(&fs->table, &iops, fs);
	root = calloc(1, sizeof(*root));
	if (r < 0 || !root) {
		fprintf(stderr, "passthrough: out of memory\n");
		free(root);
		close(fd);
		return -1;
	}
	atomic_init(&root->fd, fd);
	root->type = S_IFDIR;
	r = rf_itable_set_root(fs->table, st.st_dev, st.st_ino, &root->base);
	if (r < 0) {
		fprintf(stderr, "passthrough: inode table: %s\n", strerror(-r));
		inode_free(&root->base, fs);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct pt_fs fs;
	struct rf_opts opts;
	struct rf_session *se = NULL;
	bool timeout_set = false;
	size_t leaked;
	int ret;

	memset(&fs, 0, sizeof(fs));
	fs.cache = CACHE_AUTO;
	fs.root_dirfd = -1;
	pthread_mutex_init(&fs.lock, NULL);
	/* Modes are the caller's: the kernel sends them with the caller's umask applied. */
	umask(0);

	rf_opts_init(&opts);
	opts.fs_spec = pt_spec;
	ret = rf_opts_parse(&opts, argc, argv);
	if (ret != 0) {
		rf_opts_free(&opts);
		return ret > 0 ? 0 : 1;
	}
	if (parse_fs_opts(&fs, &opts, &timeout_set) < 0) {
		rf_opts_free(&opts);
		return 1;
	}
	if (!fs.source)
		fs.source = opts.source;      /* mount(8)'s form: passthrough DIR MOUNTPOINT */
	if (!fs.source) {
		fprintf(stderr, "passthrough: missing -o source=DIR, the directory to mirror "
			"(see --help)\n");
		rf_opts_free(&opts);
		return 1;
	}
	if (!timeout_set)
		fs.timeout = fs.cache == CACHE_NEVER ? 0 : fs.cache == CACHE_AUTO ? 1.0 :
									      PT_LONG_TIMEOUT;
	if (check_mountpoint(fs.source, opts.mountpoint) < 0 || setup_root(&fs) < 0) {
		rf_itable_free(fs.table);
		if (fs.root_dirfd >= 0)
			close(fs.root_dirfd);
		rf_opts_free(&opts);
		return 1;
	}
	raise_nofile(&fs);
	/* Many users: the kernel checks permissions against the mirrored modes. */
	if (opts.allow_other)
		opts.default_permissions = 1;
	fs.acl = opts.default_permissions;
	if (!opts.fsname)
		opts.fsname = fs.source;
	if (!opts.subtype)
		opts.subtype = "passthrough";

	ret = rf_session_new(&pt_ops, sizeof(pt_ops), &fs, &opts, &se);
	if (ret < 0) {
		fprintf(stderr, "passthrough: cannot create session: %s\n", strerror(-ret));
	} else {
		fs.se = se;
		ret = rf_session_mount(se);
		if (ret == 0)
			ret = rf_session_daemonize(se);
		if (ret == 0)
			ret = rf_session_run(se);
		rf_session_free(se);
	}
	/* Every request is answered, every handle released and every lookup forgotten (the
	 * runtime's teardown gives back what the kernel still held): only the root is left
	 * in the table, or an inode leaked. */
	leaked = rf_itable_count(fs.table) > 1 ? rf_itable_count(fs.table) - 1 : 0;
	if (leaked)
		fprintf(stderr, "passthrough: %zu inode(s) still in the table at exit\n", leaked);
	/* The loop is gone: close the inodes' fds. */
	rf_itable_free(fs.table);
	close(fs.root_dirfd);
	pthread_mutex_destroy(&fs.lock);
	ret = source_fds_left(fs.source) ? 3 : leaked ? 4 : ret < 0 ? 1 : 0;
	rf_opts_free(&opts);
	return ret;
}
