/*
 * fuse_buf_size and fuse_buf_copy of libfuse 3.14's fuse_common.h: copying between vectors of
 * memory and file-descriptor buffers. The copy is synchronous (read/write/pread/pwrite, or
 * splice(2) when one side is a pipe); the session core uses it for fuse_reply_data and for
 * write_buf requests, and filesystems call it directly.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* splice */
#endif
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

/* Sums every buffer from the first (idx and off are ignored, as in libfuse). A buffer of
 * SIZE_MAX means "unbounded"; the sum saturates there instead of wrapping. */
size_t fuse_buf_size(const struct fuse_bufvec *bufv)
{
	size_t size = 0;

	if (!bufv)
		return 0;
	for (size_t i = 0; i < bufv->count; i++) {
		if (bufv->buf[i].size > SIZE_MAX - size)
			return SIZE_MAX;
		size += bufv->buf[i].size;
	}
	return size;
}

/* Moves @len bytes between the fd buffer @fb (at offset @off into it when it seeks) and
 * memory @mem. One system call unless @fb has FUSE_BUF_FD_RETRY, which loops until @len
 * bytes, EOF (0) or an error. Returns the bytes moved, or -errno if the first call failed. */
static ssize_t fd_io(const struct fuse_buf *fb, size_t off, char *mem, size_t len, int writing)
{
	size_t done = 0;

	while (done < len) {
		size_t n = len - done;
		off_t at = fb->pos + (off_t)(off + done);
		ssize_t res;

		if (fb->flags & FUSE_BUF_FD_SEEK)
			res = writing ? pwrite(fb->fd, mem + done, n, at) : pread(fb->fd, mem + done, n, at);
		else
			res = writing ? write(fb->fd, mem + done, n) : read(fb->fd, mem + done, n);
		if (res < 0) {
			if (done == 0)
				return -errno;
			break;
		}
		if (res == 0)
			break;
		done += (size_t)res;
		if (!(fb->flags & FUSE_BUF_FD_RETRY))
			break;
	}
	return (ssize_t)done;
}

/* fd to fd through a bounce buffer: each chunk is read with the source's flags and written
 * with the destination's; a short chunk ends the copy. */
static ssize_t fd_to_fd(const struct fuse_buf *dst, size_t dst_off, const struct fuse_buf *src,
			size_t src_off, size_t len)
{
	char chunk[16384];
	size_t done = 0;

	while (done < len) {
		size_t want = len - done < sizeof(chunk) ? len - done : sizeof(chunk);
		ssize_t got, put;

		got = fd_io(src, src_off + done, chunk, want, 0);
		if (got <= 0) {
			if (got < 0 && done == 0)
				return got;
			break;
		}
		put = fd_io(dst, dst_off + done, chunk, (size_t)got, 1);
		if (put <= 0) {
			if (put < 0 && done == 0)
				return put;
			break;
		}
		done += (size_t)put;
		if ((size_t)put < want)
			break;
	}
	return (ssize_t)done;
}

/* fd to fd with splice(2), which the kernel allows only when one side is a pipe. EINVAL means
 * this pair cannot splice: fall back to read/write unless FUSE_BUF_FORCE_SPLICE. */
static ssize_t fd_splice(const struct fuse_buf *dst, size_t dst_off, const struct fuse_buf *src,
			 size_t src_off, size_t len, enum fuse_buf_copy_flags flags)
{
	unsigned int sflags = 0;
	loff_t spos = src->pos + (loff_t)src_off, dpos = dst->pos + (loff_t)dst_off;
	loff_t *sp = (src->flags & FUSE_BUF_FD_SEEK) ? &spos : NULL;
	loff_t *dp = (dst->flags & FUSE_BUF_FD_SEEK) ? &dpos : NULL;
	int retry = (src->flags | dst->flags) & FUSE_BUF_FD_RETRY;
	size_t done = 0;

	if (flags & FUSE_BUF_SPLICE_MOVE)
		sflags |= SPLICE_F_MOVE;
	if (flags & FUSE_BUF_SPLICE_NONBLOCK)
		sflags |= SPLICE_F_NONBLOCK;
	while (done < len) {
		ssize_t res = splice(src->fd, sp, dst->fd, dp, len - done, sflags);

		if (res < 0) {
			if (done)
				break;
			if (errno != EINVAL || (flags & FUSE_BUF_FORCE_SPLICE))
				return -errno;
			return fd_to_fd(dst, dst_off, src, src_off, len);
		}
		if (res == 0)
			break;
		done += (size_t)res;
		if (!retry)
			break;
	}
	return (ssize_t)done;
}

static ssize_t copy_one(const struct fuse_buf *dst, size_t dst_off, const struct fuse_buf *src,
			size_t src_off, size_t len, enum fuse_buf_copy_flags flags)
{
	int src_fd = src->flags & FUSE_BUF_IS_FD, dst_fd = dst->flags & FUSE_BUF_IS_FD;

	if (!src_fd && !dst_fd) {
		char *d = (char *)dst->mem + dst_off, *s = (char *)src->mem + src_off;

		/* Buffers of one vector may overlap another's (a filesystem shifting data in place). */
		if (d != s && len)
			memmove(d, s, len);
		return (ssize_t)len;
	}
	if (!src_fd)
		return fd_io(dst, dst_off, (char *)src->mem + src_off, len, 1);
	if (!dst_fd)
		return fd_io(src, src_off, (char *)dst->mem + dst_off, len, 0);
	if (flags & FUSE_BUF_NO_SPLICE)
		return fd_to_fd(dst, dst_off, src, src_off, len);
	return fd_splice(dst, dst_off, src, src_off, len, flags);
}

static const struct fuse_buf *current(const struct fuse_bufvec *v)
{
	return v->idx < v->count ? &v->buf[v->idx] : NULL;
}

/* Advances @v by @len bytes within its current buffer, stepping to the next buffer when this
 * one is used up. Returns 0 once the vector is exhausted. */
static int advance(struct fuse_bufvec *v, size_t len)
{
	const struct fuse_buf *b = current(v);

	if (!b)
		return 0;
	v->off += len;
	if (v->off < b->size)
		return 1;
	v->idx++;
	if (v->idx == v->count)
		return 0;
	v->off = 0;
	return 1;
}

/*
 * Copies from @srcv to @dstv, each from its current (idx, off), piece by piece, until either
 * vector ends or a piece comes up short (EOF or a short read/write on an fd). Both positions
 * are advanced by what was copied, except that, as in libfuse, the destination is not
 * advanced by the piece that exhausts the source. Returns the bytes copied, or -errno if
 * nothing was copied before an error.
 */
ssize_t fuse_buf_copy(struct fuse_bufvec *dstv, struct fuse_bufvec *srcv,
		      enum fuse_buf_copy_flags flags)
{
	size_t copied = 0;

	if (!dstv || !srcv)
		return -EINVAL;
	if (dstv == srcv)
		return (ssize_t)fuse_buf_size(dstv);
	for (;;) {
		const struct fuse_buf *src = current(srcv), *dst = current(dstv);
		size_t len, src_left, dst_left;
		ssize_t res;

		if (!src || !dst)
			break;
		if (srcv->off > src->size || dstv->off > dst->size)
			return copied ? (ssize_t)copied : -EINVAL;
		src_left = src->size - srcv->off;
		dst_left = dst->size - dstv->off;
		len = src_left < dst_left ? src_left : dst_left;
		res = copy_one(dst, dstv->off, src, srcv->off, len, flags);
		if (res < 0)
			return copied ? (ssize_t)copied : res;
		copied += (size_t)res;
		if (!advance(srcv, (size_t)res) || !advance(dstv, (size_t)res))
			break;
		if ((size_t)res < len)
			break;
	}
	return (ssize_t)copied;
}
