/* SPDX-License-Identifier: MIT */
/*
 * pagemap.c - a file's pages: a radix tree of RT_FAN-way nodes indexed by page number,
 * grown in height as the file grows. Absent pages are holes and read as zeros; every page
 * counts against the capacity (memfs.used_pages, max_pages).
 */
#include "memfs.h"

#include <errno.h>
#include <stdlib.h>

static uint64_t rt_span(unsigned int h)
{
	return (uint64_t)1 << (RT_BITS * h);
}

char *pmap_find(const struct pmap *pm, uint64_t idx)
{
	void *p = pm->root;
	unsigned int h;

	if (!p || idx >= rt_span(pm->height))
		return NULL;
	for (h = pm->height; h > 0 && p; h--)
		p = ((struct rtnode *)p)->slot[(idx >> (RT_BITS * (h - 1))) & (RT_FAN - 1)];
	return p;
}

/* The page at @idx, allocated (zeroed) if absent. NULL with *err on ENOSPC/ENOMEM. */
char *pmap_get(struct memfs *fs, struct pmap *pm, uint64_t idx, int *err)
{
	void **slot;
	unsigned int h;

	while (!pm->root || idx >= rt_span(pm->height)) {
		struct rtnode *top = calloc(1, sizeof(*top));

		if (!top) {
			*err = -ENOMEM;
			return NULL;
		}
		top->slot[0] = pm->root;
		pm->root = top;
		pm->height++;
	}
	slot = &pm->root;
	for (h = pm->height; h > 0; h--) {
		struct rtnode *node = *slot;

		slot = &node->slot[(idx >> (RT_BITS * (h - 1))) & (RT_FAN - 1)];
		if (h > 1 && !*slot) {
			*slot = calloc(1, sizeof(struct rtnode));
			if (!*slot) {
				*err = -ENOMEM;
				return NULL;
			}
		}
	}
	if (!*slot) {
		if (fs->used_pages >= fs->max_pages) {
			*err = -ENOSPC;
			return NULL;
		}
		*slot = calloc(1, PG_SIZE);
		if (!*slot) {
			*err = -ENOMEM;
			return NULL;
		}
		pm->npages++;
		fs->used_pages++;
	}
	return *slot;
}

/* Free pages [first, last] below the node in *slotp (height h, first page @base);
 * the node itself goes when nothing is left under it. */
static void rt_free_range(struct memfs *fs, struct pmap *pm, void **slotp, unsigned int h,
			  uint64_t base, uint64_t first, uint64_t last)
{
	struct rtnode *node = *slotp;
	uint64_t cspan = rt_span(h - 1);
	unsigned int i, lo, hi;

	lo = first > base ? (unsigned int)((first - base) / cspan) : 0;
	hi = last - base >= rt_span(h) - 1 ? RT_FAN - 1 : (unsigned int)((last - base) / cspan);
	for (i = lo; i <= hi; i++) {
		if (!node->slot[i])
			continue;
		if (h == 1) {
			free(node->slot[i]);
			node->slot[i] = NULL;
			pm->npages--;
			fs->used_pages--;
		} else {
			rt_free_range(fs, pm, &node->slot[i], h - 1, base + i * cspan, first, last);
		}
	}
	for (i = 0; i < RT_FAN; i++)
		if (node->slot[i])
			return;
	free(node);
	*slotp = NULL;
}

void pmap_punch(struct memfs *fs, struct pmap *pm, uint64_t first, uint64_t last)
{
	if (!pm->root || first > last || first >= rt_span(pm->height))
		return;
	rt_free_range(fs, pm, &pm->root, pm->height, 0, first, last);
	if (!pm->root)
		pm->height = 0;
}

/* First page index >= @from that is present (@data) or absent (!@data), or UINT64_MAX. */
static uint64_t rt_next(const void *p, unsigned int h, uint64_t base, uint64_t from, bool data)
{
	const struct rtnode *node = p;
	uint64_t cspan = rt_span(h - 1);
	unsigned int i = from > base ? (unsigned int)((from - base) / cspan) : 0;

	for (; i < RT_FAN; i++) {
		uint64_t cb = base + i * cspan, start = from > cb ? from : cb, r;

		if (!node->slot[i]) {
			if (!data)
				return start;
			continue;
		}
		if (h == 1) {
			if (data)
				return start;
			continue;
		}
		r = rt_next(node->slot[i], h - 1, cb, start, data);
		if (r != UINT64_MAX)
			return r;
	}
	return UINT64_MAX;
}

uint64_t pmap_next(const struct pmap *pm, uint64_t from, bool data)
{
	uint64_t r;

	if (!pm->root || from >= rt_span(pm->height))
		return data ? UINT64_MAX : from;
	r = rt_next(pm->root, pm->height, 0, from, data);
	if (r == UINT64_MAX && !data)
		r = rt_span(pm->height);
	return r;
}
