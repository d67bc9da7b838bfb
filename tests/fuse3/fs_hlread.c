/*
 * fs_hlread - a high-level (fuse_main) filesystem for the binding's READ path without
 * read_buf: the filesystem's read fills the reply's payload in place.
 *   /data  3 MiB + 123 bytes: the line LINE repeated (`yes` makes the expected bytes)
 *   /liar  the same, but its read claims one byte more than it was asked for: the
 *          binding must answer EIO (libfuse would send bytes past the buffer), and serve
 *          on
 * scripts/run-tests.sh ("fuse3 high-level read") reads both through the mount.
 */
#define FUSE_USE_VERSION 31
#include <fuse.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#define LINE "ringfuse high-level read, in place\n"
#define DATA_SIZE (3 * 1024 * 1024 + 123)

static int hr_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	memset(st, 0, sizeof(*st));
	if (strcmp(path, "/") == 0) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else if (strcmp(path, "/data") == 0 || strcmp(path, "/liar") == 0) {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = DATA_SIZE;
	} else {
		return -ENOENT;
	}
	return 0;
}

static int hr_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	(void)off, (void)fi, (void)flags;
	if (strcmp(path, "/") != 0)
		return -ENOENT;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	fill(buf, "data", NULL, 0, 0);
	fill(buf, "liar", NULL, 0, 0);
	return 0;
}

static int hr_open(const char *path, struct fuse_file_info *fi)
{
	if (strcmp(path, "/data") != 0 && strcmp(path, "/liar") != 0)
		return -ENOENT;
	return (fi->flags & O_ACCMODE) == O_RDONLY ? 0 : -EACCES;
}

static int hr_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	const size_t len = sizeof(LINE) - 1;
	size_t n, i;

	(void)fi;
	if (off >= DATA_SIZE)
		return 0;
	n = (size_t)(DATA_SIZE - off) < size ? (size_t)(DATA_SIZE - off) : size;
	for (i = 0; i < n; i++)
		buf[i] = LINE[(off + i) % len];
	return strcmp(path, "/liar") == 0 ? (int)size + 1 : (int)n;
}

static const struct fuse_operations hr_ops = {
	.getattr = hr_getattr,
	.readdir = hr_readdir,
	.open = hr_open,
	.read = hr_read,
};

int main(int argc, char *argv[])
{
	return fuse_main(argc, argv, &hr_ops, NULL);
}
