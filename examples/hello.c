/* hello.c - the smallest ringfuse filesystem: one read-only file, /hello.
 * Build: cc hello.c $(pkg-config --cflags --libs ringfuse)   Run: ./hello -f /mnt */
#include <errno.h>
#include <string.h>
#include <ringfuse.h>

static const char text[] = "Hello from ringfuse!\n";

static void hello_stat(uint64_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = ino == 1 ? S_IFDIR | 0755 : S_IFREG | 0444;
	st->st_nlink = ino == 1 ? 2 : 1;
	st->st_size = ino == 1 ? 0 : (off_t)strlen(text);
}

static void hello_lookup(struct rf_req *req, uint64_t parent, const char *name)
{
	struct rf_entry e = { .ino = 2, .attr_timeout = 1, .entry_timeout = 1 };

	if (parent != 1 || strcmp(name, "hello"))
		return (void)rf_reply_err(req, -ENOENT);
	hello_stat(2, &e.attr);
	rf_reply_entry(req, &e);
}

static void hello_getattr(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct stat st;

	hello_stat(ino, &st);
	rf_reply_attr(req, &st, 1.0);
}

static void hello_read(struct rf_req *req, uint64_t ino, size_t size, off_t off,
		       struct rf_file *fi)
{
	size_t len = strlen(text);

	if ((size_t)off >= len)
		return (void)rf_reply_buf(req, NULL, 0);
	rf_reply_buf(req, text + off, size < len - (size_t)off ? size : len - (size_t)off);
}

static void hello_readdir(struct rf_req *req, uint64_t ino, size_t size, off_t off,
			  struct rf_file *fi)
{
	static const char *names[] = { ".", "..", "hello" };
	struct rf_dirbuf db;
	struct stat st;

	rf_dirbuf_init(&db, req, size);
	for (; off < 3; off++) {
		hello_stat(off == 2 ? 2 : 1, &st);
		if (!rf_dirbuf_add(&db, names[off], &st, off + 1))
			break;
	}
	rf_reply_dirbuf(req, &db);
}

static const struct rf_ops hello_ops = {
	.lookup = hello_lookup,
	.getattr = hello_getattr,
	.read = hello_read,
	.readdir = hello_readdir,
};

int main(int argc, char **argv)
{
	return rf_main(argc, argv, &hello_ops, sizeof(hello_ops), NULL);
}
