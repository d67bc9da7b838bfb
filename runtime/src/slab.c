/* SPDX-License-Identifier: MIT */
/*
 * slab.c - fixed-size objects in 64 KiB slabs mapped straight from the kernel, and unmapped
 * again once empty (ringfuse.h, "Object pools"). For per-inode state: a walk over a big tree
 * allocates hundreds of thousands of objects on whatever threads serve it, and glibc keeps
 * what a thread's arena once held resident even after malloc_trim; a slab that empties goes
 * back to the kernel at once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

/* Under AddressSanitizer a free object is poisoned (but its first word, the free list's
 * link, which is ours): a use after free inside a slab is reported like one of malloc's. */
#if defined(__SANITIZE_ADDRESS__)
#define RF_SLAB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RF_SLAB_ASAN 1
#endif
#endif
#ifdef RF_SLAB_ASAN
#include <sanitizer/asan_interface.h>
#define poison(a, n)   ASAN_POISON_MEMORY_REGION((a), (n))
#define unpoison(a, n) ASAN_UNPOISON_MEMORY_REGION((a), (n))
#else
#define poison(a, n)   ((void)(a), (void)(n))
#define unpoison(a, n) ((void)(a), (void)(n))
#endif

#define SLAB_SIZE ((size_t)64 * 1024)
#define SLAB_PAGE ((size_t)4096)        /* the header's page, kept resident */
#define SLAB_MAX_OBJS (SLAB_SIZE / 16)  /* objects are 16-byte multiples */

struct slab {
	struct slab *next, *prev;   /* in the pool's list of slabs with free objects */
	struct slab *anext, *aprev; /* in the list of all slabs */
	void *free;                 /* freed objects (first word: next) */
	uint32_t used, total;
	uint32_t fresh;             /* objects [fresh, total) were never handed out: their
	                             * pages need not be resident */
	uint32_t shrink_used;       /* used at the last slab_shrink since fresh last grew */
	bool listed;
};

struct rf_slab {
	pthread_mutex_t lock;
	size_t objsize, first;      /* first: offset of object 0 in a slab */
	struct slab *partial;       /* slabs with at least one free object */
	struct slab *all;
	size_t nslabs;
};

int rf_slab_new(struct rf_slab **out, size_t objsize)
{
	struct rf_slab *p;

	if (!out || objsize == 0 || objsize > SLAB_SIZE / 8)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	p->objsize = (objsize + 15) & ~(size_t)15;
	p->first = (sizeof(struct slab) + 15) & ~(size_t)15;
	*out = p;
	return 0;
}

/* A SLAB_SIZE-aligned mapping: map twice the size, unmap the ends. */
static struct slab *slab_map(struct rf_slab *p)
{
	char *m = mmap(NULL, 2 * SLAB_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0), *a;
	struct slab *s;

	if (m == MAP_FAILED)
		return NULL;
	a = (char *)(((uintptr_t)m + SLAB_SIZE - 1) & ~(uintptr_t)(SLAB_SIZE - 1));
	if (a > m)
		munmap(m, (size_t)(a - m));
	if (a + SLAB_SIZE < m + 2 * SLAB_SIZE)
		munmap(a + SLAB_SIZE, (size_t)(m + 2 * SLAB_SIZE - (a + SLAB_SIZE)));
	s = (struct slab *)(void *)a;
	s->total = (uint32_t)((SLAB_SIZE - p->first) / p->objsize);
	/* Objects are handed out from the start (fresh), so a slab's pages become resident
	 * only as they are used. */
	s->aprev = NULL;
	s->anext = p->all;
	if (p->all)
		p->all->aprev = s;
	p->all = s;
	p->nslabs++;
	return s;
}

/* Object @i of slab @s, and the offset in a slab just past its first @n objects. */
static void **obj_at(const struct rf_slab *p, struct slab *s, uint32_t i)
{
	return (void **)(void *)((char *)s + p->first + (size_t)i * p->objsize);
}

static size_t objs_end(const struct rf_slab *p, uint32_t n)
{
	return p->first + (size_t)n * p->objsize;
}

static size_t page_up(size_t off)
{
	return (off + SLAB_PAGE - 1) & ~(SLAB_PAGE - 1);
}

static void list_add(struct rf_slab *p, struct slab *s)
{
	s->prev = NULL;
	s->next = p->partial;
	if (p->partial)
		p->partial->prev = s;
	p->partial = s;
	s->listed = true;
}

static void list_del(struct rf_slab *p, struct slab *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		p->partial = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
	s->listed = false;
}

void *rf_slab_alloc(struct rf_slab *p)
{
	struct slab *s;
	void **o;

	pthread_mutex_lock(&p->lock);
	s = p->partial;
	if (!s) {
		s = slab_map(p);
		if (!s) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		list_add(p, s);
	}
	o = s->free;
	if (o) {
		s->free = *o;
	} else {
		o = obj_at(p, s, s->fresh++);
		s->shrink_used = UINT32_MAX;
	}
	if (++s->used == s->total)
		list_del(p, s);
	pthread_mutex_unlock(&p->lock);
	unpoison(o, p->objsize);
	return o;
}

/*
 * After a burst most of a slab's objects are free again, but a few long-lived ones (the
 * root's entry, say) keep it from emptying, and every page the burst touched would stay
 * resident. Cut the slab back to just past its last live object: the free objects beyond
 * it become never-handed-out again, their pages go back to the kernel, and the free list
 * keeps only the objects below, lowest first. Lock held. Runs when used falls to 1/8 of
 * fresh, then at each halving: a few scans of at most 4096 objects per burst, none in a
 * steady state.
 */
static void slab_shrink(struct rf_slab *p, struct slab *s)
{
	uint64_t isfree[SLAB_MAX_OBJS / 64];
	uint32_t last = s->fresh, i, n = 0;
	size_t keep, had;
	void **o;

	s->shrink_used = s->used;
	memset(isfree, 0, sizeof(isfree));
	/* The list holds fresh - used objects: a longer one (a double free made a cycle) or
	 * a foreign object leaves the slab as it is rather than loop or write out of bounds. */
	for (o = s->free; o; o = *o) {
		if ((char *)o < (char *)s + p->first || ++n > s->fresh - s->used)
			return;
		i = (uint32_t)(((char *)o - (char *)s - p->first) / p->objsize);
		if (i >= s->fresh)
			return;
		isfree[i / 64] |= (uint64_t)1 << (i % 64);
	}
	while (last > 0 && (isfree[(last - 1) / 64] >> ((last - 1) % 64) & 1))
		last--;
	keep = page_up(objs_end(p, last));
	had = page_up(objs_end(p, s->fresh));
	if (keep >= had)
		return;                 /* a live object near the end: nothing to give back */
	s->free = NULL;
	for (i = last; i-- > 0;) {
		if (isfree[i / 64] >> (i % 64) & 1) {
			o = obj_at(p, s, i);
			*o = s->free;
			s->free = o;
		}
	}
	s->fresh = last;
	madvise((char *)s + keep, had - keep, MADV_DONTNEED);
}

void rf_slab_free(struct rf_slab *p, void *obj)
{
	struct slab *s;

	if (!obj)
		return;
	s = (struct slab *)(void *)((uintptr_t)obj & ~(uintptr_t)(SLAB_SIZE - 1));
	pthread_mutex_lock(&p->lock);
	*(void **)obj = s->free;
	s->free = obj;
	poison((char *)obj + sizeof(void *), p->objsize - sizeof(void *));
	if (!s->listed)
		list_add(p, s);
	/* An empty slab goes back to the kernel, unless it is the only one with room (so
	 * that one object coming and going does not map and unmap every time). */
	if (--s->used == 0 && (s->next || s->prev)) {
		list_del(p, s);
		if (s->aprev)
			s->aprev->anext = s->anext;
		else
			p->all = s->anext;
		if (s->anext)
			s->anext->aprev = s->aprev;
		unpoison(s, SLAB_SIZE);     /* what is mapped here next is not ours */
		munmap(s, SLAB_SIZE);
		p->nslabs--;
	} else if (s->used == 0) {
		/* The slab kept: start it afresh, and if a burst had spread it past its first
		 * page, give those pages back (one madvise per burst, none in steady state). */
		if (objs_end(p, s->fresh) > SLAB_PAGE)
			madvise((char *)s + SLAB_PAGE, SLAB_SIZE - SLAB_PAGE, MADV_DONTNEED);
		s->free = NULL;
		s->fresh = 0;
	} else if (s->used * (size_t)8 <= s->fresh && s->used <= s->shrink_used / 2 &&
		   objs_end(p, s->fresh) > 2 * SLAB_PAGE) {
		slab_shrink(p, s);
	}
	pthread_mutex_unlock(&p->lock);
}

size_t rf_slab_size(const struct rf_slab *p)
{
	return p ? p->nslabs * SLAB_SIZE : 0;
}

void rf_slab_destroy(struct rf_slab *p)
{
	struct slab *s, *next;

	if (!p)
		return;
	for (s = p->all; s; s = next) {
		next = s->anext;
		unpoison(s, SLAB_SIZE);
		munmap(s, SLAB_SIZE);
	}
	pthread_mutex_destroy(&p->lock);
	free(p);
}
