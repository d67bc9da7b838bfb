/* SPDX-License-Identifier: MIT */
/*
 * data.c - a regular file's contents on its page map: read, write, zero, resize, and the
 * work of FALLOCATE, COPY_FILE_RANGE and LSEEK (SEEK_DATA, SEEK_HOLE). Lock held.
 */
#include "memfs.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif
#ifndef SEEK_DATA
#define SEEK_DATA 3
#endif
#ifndef SEEK_HOLE
#define SEEK_HOLE 4
#endif

/* Invariant: every byte at or past i_size in a present page is zero. */

size_t file_read(const struct inode *n, char *dst, size_t size, uint64_t off)
{
	size_t done = 0;

	if (off >= n->size)
		return 0;
	if (size > n->size - off)
		size = (size_t)(n->size - off);
	while (done < size) {
		uint64_t pos = off + done;
		size_t pgoff = (size_t)(pos & PG_MASK);
		size_t chunk = MIN((size_t)PG_SIZE - pgoff, size - done);
		const char *pg = pmap_find(&n->u.data, pos >> PG_SHIFT);

		if (pg)
			memcpy(dst + done, pg + pgoff, chunk);
		else
			memset(dst + done, 0, chunk);
		done += chunk;
	}
	return done;
}

/* Bytes written (short on ENOSPC after some progress) or -errno. */
int64_t file_write(struct memfs *fs, struct inode *n, const char *src, size_t size,
			  uint64_t off)
{
	size_t done = 0;
	int err = 0;

	if (off >= MF_MAX_FILE)
		return size ? -EFBIG : 0;
	if (size > MF_MAX_FILE - off)
		size = (size_t)(MF_MAX_FILE - off);
	while (done < size) {
		uint64_t pos = off + done;
		size_t pgoff = (size_t)(pos & PG_MASK);
		size_t chunk = MIN((size_t)PG_SIZE - pgoff, size - done);
		char *pg = pmap_get(fs, &n->u.data, pos >> PG_SHIFT, &err);

		if (!pg)
			break;
		memcpy(pg + pgoff, src + done, chunk);
		done += chunk;
	}
	if (!done && err)
		return err;
	if (off + done > n->size)
		n->size = off + done;
	return (int64_t)done;
}

/* Make [start, end) read as zeros: whole pages are freed, partial ones cleared. */
static void file_zero(struct memfs *fs, struct inode *n, uint64_t start, uint64_t end)
{
	if (end > MF_MAX_FILE)
		end = MF_MAX_FILE;
	while (start < end) {
		uint64_t pgoff = start & PG_MASK;
		uint64_t chunk = MIN(PG_SIZE - pgoff, end - start);
		char *pg;

		if (pgoff == 0 && chunk == PG_SIZE) {
			uint64_t last = (end >> PG_SHIFT) - 1;

			pmap_punch(fs, &n->u.data, start >> PG_SHIFT, last);
			start = (last + 1) << PG_SHIFT;
			continue;
		}
		pg = pmap_find(&n->u.data, start >> PG_SHIFT);
		if (pg)
			memset(pg + pgoff, 0, (size_t)chunk);
		start += chunk;
	}
}

void file_resize(struct memfs *fs, struct inode *n, uint64_t size)
{
	if (size < n->size) {
		uint64_t pgoff = size & PG_MASK;

		if (pgoff) {
			char *pg = pmap_find(&n->u.data, size >> PG_SHIFT);

			if (pg)
				memset(pg + pgoff, 0, (size_t)(PG_SIZE - pgoff));
		}
		pmap_punch(fs, &n->u.data, (size + PG_SIZE - 1) >> PG_SHIFT, UINT64_MAX);
	}
	n->size = size;
}

int do_fallocate(struct memfs *fs, uint64_t ino, int mode, off_t off, off_t len)
{
	struct inode *n = inode_get(fs, ino);
	uint64_t start, end, first, last, idx, missing = 0;
	int err = 0;

	if (!n)
		return -ESTALE;
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE))
		return -EOPNOTSUPP;
	if ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE))
		return -EOPNOTSUPP;
	if (off < 0 || len <= 0)
		return -EINVAL;
	if (S_ISDIR(n->mode))
		return -EISDIR;
	if (!S_ISREG(n->mode))
		return -ENODEV;
	if ((uint64_t)len > (uint64_t)INT64_MAX - (uint64_t)off)
		return -EFBIG;
	start = (uint64_t)off;
	end = start + (uint64_t)len;
	if (mode & FALLOC_FL_PUNCH_HOLE) {
		file_zero(fs, n, start, end);
	} else {
		if (end > MF_MAX_FILE)
			return -EFBIG;
		first = start >> PG_SHIFT;
		last = (end - 1) >> PG_SHIFT;
		/* All or nothing as far as space goes: count before allocating. */
		if (last - first + 1 > fs->max_pages)
			return -ENOSPC;
		for (idx = first; idx <= last; idx++)
			if (!pmap_find(&n->u.data, idx))
				missing++;
		if (missing > fs->max_pages - MIN(fs->used_pages, fs->max_pages))
			return -ENOSPC;
		for (idx = first; idx <= last; idx++)
			if (!pmap_get(fs, &n->u.data, idx, &err))
				return err;
		if (!(mode & FALLOC_FL_KEEP_SIZE) && end > n->size)
			n->size = end;
	}
	n->mtime = n->ctime = now_ts();
	return 0;
}

/* Bytes copied or -errno; holes in the source stay holes in the destination. */
int64_t do_copy(struct memfs *fs, uint64_t ino_in, off_t off_in, uint64_t ino_out,
		       off_t off_out, size_t len, int flags)
{
	struct inode *in = inode_get(fs, ino_in), *out = inode_get(fs, ino_out);
	uint64_t pin, pout, count, done = 0;
	int err = 0;

	if (!in || !out)
		return -ESTALE;
	if (flags)
		return -EINVAL;
	if (S_ISDIR(in->mode) || S_ISDIR(out->mode))
		return -EISDIR;
	if (!S_ISREG(in->mode) || !S_ISREG(out->mode))
		return -EINVAL;
	if (off_in < 0 || off_out < 0)
		return -EINVAL;
	pin = (uint64_t)off_in;
	pout = (uint64_t)off_out;
	if (pin >= in->size || len == 0)
		return 0;
	count = MIN((uint64_t)len, in->size - pin);
	count = MIN(count, MF_CFR_MAX);
	if (pout >= MF_MAX_FILE)
		return -EFBIG;
	count = MIN(count, MF_MAX_FILE - pout);
	if (in == out && pin < pout + count && pout < pin + count)
		return -EINVAL;
	while (done < count) {
		uint64_t a = pin + done, b = pout + done;
		uint64_t chunk = MIN(PG_SIZE - (a & PG_MASK), PG_SIZE - (b & PG_MASK));
		const char *src;
		char *dst;

		chunk = MIN(chunk, count - done);
		src = pmap_find(&in->u.data, a >> PG_SHIFT);
		if (!src) {
			file_zero(fs, out, b, b + chunk);
		} else {
			dst = pmap_get(fs, &out->u.data, b >> PG_SHIFT, &err);
			if (!dst)
				break;
			memcpy(dst + (b & PG_MASK), src + (a & PG_MASK), (size_t)chunk);
		}
		done += chunk;
	}
	if (!done && err)
		return err;
	if (pout + done > out->size)
		out->size = pout + done;
	if (done)
		out->mtime = out->ctime = now_ts();
	return (int64_t)done;
}

int64_t do_lseek(struct memfs *fs, uint64_t ino, off_t off, int whence)
{
	struct inode *n = inode_get(fs, ino);
	uint64_t pos, pg;

	if (!n)
		return -ESTALE;
	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;		/* the kernel does SET/CUR/END itself */
	if (!S_ISREG(n->mode))
		return -EINVAL;
	if (off < 0 || (uint64_t)off >= n->size)
		return -ENXIO;
	pos = (uint64_t)off;
	pg = pmap_next(&n->u.data, pos >> PG_SHIFT, whence == SEEK_DATA);
	if (whence == SEEK_DATA) {
		if (pg == UINT64_MAX || (pg << PG_SHIFT) >= n->size)
			return -ENXIO;
		return (int64_t)(pos > pg << PG_SHIFT ? pos : pg << PG_SHIFT);
	}
	/* There is always a hole at EOF. */
	if (pg >= (n->size + PG_SIZE - 1) >> PG_SHIFT)
		return (int64_t)n->size;
	return (int64_t)(pos > pg << PG_SHIFT ? pos : pg << PG_SHIFT);
}
