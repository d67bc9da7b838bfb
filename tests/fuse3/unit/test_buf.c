/*
 * Description: fuse_buf_size and fuse_buf_copy of the libfuse3 binding (bindings/fuse3/buf.c):
 * memory and fd buffers, offsets, EOF and errors, splice and its read/write fallback. The
 * positions left in the vectors are libfuse 3.14's (tests/fuse3/opt-diff.sh compares them).
 */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A vector of @count buffers, allocated as fuse_common.h says ("Allocate dynamically to add
 * more than one buffer"): struct fuse_bufvec declares one. */
static struct fuse_bufvec *vec_new(size_t count)
{
	struct fuse_bufvec *v = calloc(1, sizeof(*v) + (count - 1) * sizeof(v->buf[0]));

	cr_assert_not_null(v);
	v->count = count;
	return v;
}

static struct fuse_buf mem(void *p, size_t size)
{
	return (struct fuse_buf){ .size = size, .mem = p, .fd = -1 };
}

static struct fuse_buf fdbuf(int fd, size_t size, int flags, off_t pos)
{
	return (struct fuse_buf){ .size = size, .flags = FUSE_BUF_IS_FD | flags, .fd = fd,
				  .pos = pos };
}

static int tmpfile_with(const char *content)
{
	char path[] = "/tmp/rf3-buf-XXXXXX";
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	unlink(path);
	if (content)
		cr_assert_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

Test(fuse3_buf, size_sums_every_buffer_and_saturates)
{
	struct fuse_bufvec *v = vec_new(3);

	v->idx = 2;
	v->off = 5;
	v->buf[0] = mem(NULL, 10);
	v->buf[1] = mem(NULL, 0);
	v->buf[2] = mem(NULL, 7);
	cr_expect_eq(fuse_buf_size(v), 17); /* idx and off do not count */
	v->buf[1].size = SIZE_MAX;
	cr_expect_eq(fuse_buf_size(v), SIZE_MAX);
	v->buf[1].size = SIZE_MAX - 12;
	cr_expect_eq(fuse_buf_size(v), SIZE_MAX);
	v->count = 0;
	cr_expect_eq(fuse_buf_size(v), 0);
	free(v);
}

struct mem_case {
	size_t nsrc, src_sizes[3], ndst, dst_sizes[3];
	size_t src_off, dst_off;
	ssize_t res;
	const char *dst; /* the destination memory afterwards ('.' untouched) */
	size_t src_idx, src_pos, dst_idx, dst_pos;
};

/* The source memory is "0123456789abcdef..." laid out buffer after buffer; so is the
 * destination, over 32 bytes of '.'. */
static const struct mem_case mem_cases[] = {
	/* one to one: the piece that ends the source does not advance the destination (as
	 * in libfuse) */
	{ 1, { 5 }, 1, { 5 }, 0, 0, 5, "01234...........", 1, 5, 0, 0 },
	/* destination shorter: stops when it is full */
	{ 1, { 8 }, 1, { 3 }, 0, 0, 3, "012.............", 0, 3, 1, 3 },
	/* source shorter */
	{ 1, { 3 }, 1, { 8 }, 0, 0, 3, "012.............", 1, 3, 0, 0 },
	/* scattered over several buffers, a zero-size one in between */
	{ 3, { 4, 0, 6 }, 2, { 3, 20 }, 0, 0, 10, "0123456789......", 3, 6, 1, 1 },
	/* start offsets within the first buffers */
	{ 1, { 10 }, 1, { 10 }, 7, 2, 3, "..789...........", 1, 10, 0, 2 },
};

Test(fuse3_buf, memory_to_memory_table)
{
	for (size_t n = 0; n < sizeof(mem_cases) / sizeof(mem_cases[0]); n++) {
		const struct mem_case *c = &mem_cases[n];
		char src[64], dst[33];
		struct fuse_bufvec *sv = vec_new(c->nsrc), *dv = vec_new(c->ndst);
		size_t at = 0;
		ssize_t res;

		for (size_t i = 0; i < sizeof(src); i++)
			src[i] = "0123456789abcdefghijklmnopqrstuvwxyz"[i % 36];
		memset(dst, '.', 32);
		dst[32] = '\0';
		for (size_t i = 0; i < c->nsrc; i++) {
			sv->buf[i] = mem(src + at, c->src_sizes[i]);
			at += c->src_sizes[i];
		}
		at = 0;
		for (size_t i = 0; i < c->ndst; i++) {
			dv->buf[i] = mem(dst + at, c->dst_sizes[i]);
			at += c->dst_sizes[i];
		}
		sv->off = c->src_off;
		dv->off = c->dst_off;
		res = fuse_buf_copy(dv, sv, 0);
		cr_expect_eq(res, c->res, "case %zu: res %zd", n, res);
		cr_expect_eq(strncmp(dst, c->dst, strlen(c->dst)), 0, "case %zu: dst %s", n, dst);
		cr_expect_eq(sv->idx, c->src_idx, "case %zu: src idx %zu", n, sv->idx);
		cr_expect_eq(sv->off, c->src_pos, "case %zu: src off %zu", n, sv->off);
		cr_expect_eq(dv->idx, c->dst_idx, "case %zu: dst idx %zu", n, dv->idx);
		cr_expect_eq(dv->off, c->dst_pos, "case %zu: dst off %zu", n, dv->off);
		free(sv);
		free(dv);
	}
}

Test(fuse3_buf, overlapping_memory_moves_and_self_copy_is_a_no_op)
{
	char ov[] = "abcdefghij";
	struct fuse_bufvec s = FUSE_BUFVEC_INIT(6), d = FUSE_BUFVEC_INIT(6);

	s.buf[0].mem = ov;
	d.buf[0].mem = ov + 2;
	cr_expect_eq(fuse_buf_copy(&d, &s, 0), 6);
	cr_expect_str_eq(ov, "ababcdefij");
	s = FUSE_BUFVEC_INIT(6);
	s.buf[0].mem = ov;
	cr_expect_eq(fuse_buf_copy(&s, &s, 0), 6);
	cr_expect_eq(s.idx, 0);
}

Test(fuse3_buf, fd_read_stops_at_eof_and_seek_uses_pos)
{
	int f = tmpfile_with("hello world");
	char out[32] = "";
	struct fuse_bufvec s = FUSE_BUFVEC_INIT(5), d = FUSE_BUFVEC_INIT(5);

	s.buf[0] = fdbuf(f, 5, 0, 0);
	d.buf[0].mem = out;
	cr_expect_eq(fuse_buf_copy(&d, &s, 0), 5);
	cr_expect_eq(memcmp(out, "hello", 5), 0);
	cr_expect_eq(lseek(f, 0, SEEK_CUR), 5, "a plain fd advances its file position");

	memset(out, 0, sizeof(out));
	s = FUSE_BUFVEC_INIT(20);
	d = FUSE_BUFVEC_INIT(20);
	s.buf[0] = fdbuf(f, 20, FUSE_BUF_FD_SEEK, 6);
	d.buf[0].mem = out;
	cr_expect_eq(fuse_buf_copy(&d, &s, 0), 5, "EOF after 5 bytes");
	cr_expect_str_eq(out, "world");
	cr_expect_eq(lseek(f, 0, SEEK_CUR), 5, "pread leaves the position alone");
	cr_expect_eq(s.off, 5);
	cr_expect_eq(d.off, 5);
	close(f);
}

Test(fuse3_buf, write_with_retry_and_seek_past_the_end)
{
	int g = tmpfile_with(NULL);
	char text[] = "ABCDEFGH", back[16];
	struct fuse_bufvec s = FUSE_BUFVEC_INIT(8), d = FUSE_BUFVEC_INIT(8);

	s.buf[0].mem = text;
	d.buf[0] = fdbuf(g, 8, FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY, 6);
	cr_expect_eq(fuse_buf_copy(&d, &s, 0), 8);
	cr_expect_eq(pread(g, back, sizeof(back), 0), 14);
	cr_expect_eq(memcmp(back, "\0\0\0\0\0\0ABCDEFGH", 14), 0);
	close(g);
}

Test(fuse3_buf, errors_are_negative_errno_unless_something_was_copied)
{
	char text[] = "AB", out[8];
	struct fuse_bufvec s = FUSE_BUFVEC_INIT(4), d = FUSE_BUFVEC_INIT(4);
	struct fuse_bufvec *s2 = vec_new(2);

	s.buf[0] = fdbuf(999, 4, 0, 0);
	d.buf[0].mem = out;
	cr_expect_eq(fuse_buf_copy(&d, &s, 0), -EBADF);

	s2->buf[0] = mem(text, 2);
	s2->buf[1] = fdbuf(999, 2, 0, 0);
	d = FUSE_BUFVEC_INIT(8);
	d.buf[0].mem = out;
	cr_expect_eq(fuse_buf_copy(&d, s2, 0), 2);
	cr_expect_eq(s2->idx, 1);
	cr_expect_eq(d.off, 2);
	free(s2);
}

Test(fuse3_buf, better_than_libfuse_bad_vectors_are_einval)
{
	char out[4];
	struct fuse_bufvec s = FUSE_BUFVEC_INIT(4), d = FUSE_BUFVEC_INIT(4);

	s.buf[0].mem = out;
	d.buf[0].mem = out;
	cr_expect_eq(fuse_buf_copy(NULL, &s, 0), -EINVAL);
	cr_expect_eq(fuse_buf_copy(&d, NULL, 0), -EINVAL);
	s.off = 5; /* past the end of its buffer */
	cr_expect_eq(fuse_buf_copy(&d, &s, 0), -EINVAL);
	cr_expect_eq(fuse_buf_size(NULL), 0);
}

/* fd to fd with each copy mode: read/write, splice with fallback, forced splice. */
Test(fuse3_buf, fd_to_fd_modes)
{
	static const struct {
		int flags;
		ssize_t res;
	} modes[] = {
		{ FUSE_BUF_NO_SPLICE, 11 },
		{ 0, 11 },                      /* splice refuses two files: read/write */
		{ FUSE_BUF_FORCE_SPLICE, -EINVAL },
	};
	int f = tmpfile_with("hello world");

	for (size_t n = 0; n < sizeof(modes) / sizeof(modes[0]); n++) {
		int h = tmpfile_with(NULL);
		char back[16] = "";
		struct fuse_bufvec s = FUSE_BUFVEC_INIT(11), d = FUSE_BUFVEC_INIT(11);

		s.buf[0] = fdbuf(f, 11, FUSE_BUF_FD_SEEK, 0);
		d.buf[0] = fdbuf(h, 11, FUSE_BUF_FD_SEEK, 1);
		cr_expect_eq(fuse_buf_copy(&d, &s, modes[n].flags), modes[n].res, "mode %zu", n);
		if (modes[n].res > 0) {
			cr_expect_eq(pread(h, back, sizeof(back), 0), 12, "mode %zu", n);
			cr_expect_eq(memcmp(back, "\0hello world", 12), 0, "mode %zu", n);
		}
		close(h);
	}
	close(f);
}

Test(fuse3_buf, splice_through_a_pipe)
{
	int f = tmpfile_with("hello world"), h = tmpfile_with(NULL), p[2];
	char back[16] = "";
	struct fuse_bufvec s = FUSE_BUFVEC_INIT(11), d = FUSE_BUFVEC_INIT(11);

	cr_assert_eq(pipe(p), 0);
	s.buf[0] = fdbuf(f, 11, FUSE_BUF_FD_SEEK, 0);
	d.buf[0] = fdbuf(p[1], 11, 0, 0);
	cr_expect_eq(fuse_buf_copy(&d, &s, FUSE_BUF_SPLICE_MOVE), 11);
	close(p[1]);
	s = FUSE_BUFVEC_INIT(20);
	d = FUSE_BUFVEC_INIT(20);
	s.buf[0] = fdbuf(p[0], 20, FUSE_BUF_FD_RETRY, 0);
	d.buf[0] = fdbuf(h, 20, 0, 0);
	cr_expect_eq(fuse_buf_copy(&d, &s, 0), 11, "retry reads until EOF");
	cr_expect_eq(pread(h, back, sizeof(back), 0), 11);
	cr_expect_eq(memcmp(back, "hello world", 11), 0);
	close(p[0]);

	/* An empty pipe with SPLICE_NONBLOCK: EAGAIN, not a hang. */
	cr_assert_eq(pipe(p), 0);
	s = FUSE_BUFVEC_INIT(5);
	d = FUSE_BUFVEC_INIT(5);
	s.buf[0] = fdbuf(p[0], 5, 0, 0);
	d.buf[0] = fdbuf(h, 5, FUSE_BUF_FD_SEEK, 0);
	cr_expect_eq(fuse_buf_copy(&d, &s, FUSE_BUF_SPLICE_NONBLOCK), -EAGAIN);
	close(p[0]);
	close(p[1]);
	close(f);
	close(h);
}

/* Without RETRY one read(2) per piece: a pipe holding less than asked gives a short copy. */
Test(fuse3_buf, short_read_without_retry_stops)
{
	int p[2];
	char out[16] = "";
	struct fuse_bufvec s = FUSE_BUFVEC_INIT(10), d = FUSE_BUFVEC_INIT(10);

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(write(p[1], "abc", 3), 3);
	s.buf[0] = fdbuf(p[0], 10, 0, 0);
	d.buf[0].mem = out;
	cr_expect_eq(fuse_buf_copy(&d, &s, 0), 3);
	cr_expect_str_eq(out, "abc");
	cr_expect_eq(s.off, 3);
	close(p[0]);
	close(p[1]);
}
