/* SPDX-License-Identifier: MIT */
/*
 * test_slab.c - rf_slab: objects are distinct and aligned; empty slabs go back to the
 * kernel except the last one with room, whose pages past the first are given back after a
 * burst (mincore shows what stays resident), and which serves again afterwards; a slab
 * that a few survivors keep gives back the pages past them.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "ringfuse.h"

#define SLAB (64 * 1024)
#define N 5000                  /* several slabs of 64-byte objects */

/* Resident pages of the 64 KiB slab holding @obj. */
static int resident_pages(void *obj)
{
	unsigned char vec[SLAB / 4096];
	void *base = (void *)((uintptr_t)obj & ~(uintptr_t)(SLAB - 1));
	int i, n = 0;

	cr_assert_eq(mincore(base, SLAB, vec), 0);
	for (i = 0; i < (int)sizeof(vec); i++)
		n += vec[i] & 1;
	return n;
}

Test(slab, a_burst_goes_back_to_the_kernel_but_one_slab)
{
	static void *objs[N];
	struct rf_slab *p;
	void *again;
	int i;

	cr_assert_eq(rf_slab_new(&p, 64), 0);
	for (i = 0; i < N; i++) {
		objs[i] = rf_slab_alloc(p);
		cr_assert_not_null(objs[i]);
		cr_assert_eq((uintptr_t)objs[i] % 16, 0);
		memset(objs[i], 0xa5, 64);
	}
	cr_assert_gt(rf_slab_size(p), 4 * SLAB, "%d objects of 64 bytes in %zu bytes", N,
		     rf_slab_size(p));
	for (i = 0; i < N; i++)
		rf_slab_free(p, objs[i]);
	cr_assert_eq(rf_slab_size(p), SLAB, "one slab is kept, not %zu bytes", rf_slab_size(p));
	again = rf_slab_alloc(p);
	cr_assert_not_null(again);
	cr_assert_leq(resident_pages(again), 1, "the kept slab still has %d pages resident",
		      resident_pages(again));
	memset(again, 0, 64);
	rf_slab_free(p, again);
	rf_slab_destroy(p);
}

Test(slab, steady_state_reuses_one_slab)
{
	struct rf_slab *p;
	void *a, *b;
	int i;

	cr_assert_eq(rf_slab_new(&p, 40), 0);
	for (i = 0; i < 1000; i++) {
		a = rf_slab_alloc(p);
		b = rf_slab_alloc(p);
		cr_assert(a && b && a != b);
		rf_slab_free(p, a);
		rf_slab_free(p, b);
	}
	cr_assert_eq(rf_slab_size(p), SLAB);
	cr_assert_eq(rf_slab_new(&p, 0), -EINVAL);
	rf_slab_destroy(p);
}

static int ptr_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;

	return x < y ? -1 : x > y;
}

/* A few objects outlive a burst (the root's entry): the pages past the last of them go
 * back, the objects below stay intact, and the slab hands out every free object again. */
Test(slab, a_burst_with_survivors_gives_back_the_pages_past_them)
{
	enum { n = 900 };               /* one slab of 64-byte objects, ~14 pages */
	static void *objs[n];
	static bool live[n];
	struct rf_slab *p;
	int i, got = 0;

	cr_assert_eq(rf_slab_new(&p, 64), 0);
	for (i = 0; i < n; i++) {
		objs[i] = rf_slab_alloc(p);
		cr_assert_not_null(objs[i]);
		memset(objs[i], 0x5a, 64);
	}
	cr_assert_eq(rf_slab_size(p), SLAB, "a test of one slab");
	cr_assert_geq(resident_pages(objs[0]), 14);
	/* Survivors: the first two objects and one in the third page; the rest freed in an
	 * interleaved order, as a forget storm does. */
	live[0] = live[1] = live[130] = true;
	for (i = 0; i < n; i += 2)
		if (!live[i])
			rf_slab_free(p, objs[i]);
	for (i = n - 1; i > 0; i -= 2)
		if (!live[i])
			rf_slab_free(p, objs[i]);
	cr_assert_leq(resident_pages(objs[0]), 4, "%d pages still resident for 3 objects",
		      resident_pages(objs[0]));
	for (i = 0; i < n; i++) {
		if (!live[i])
			continue;
		for (int b = 0; b < 64; b++)
			cr_assert_eq(((unsigned char *)objs[i])[b], 0x5a, "survivor %d damaged", i);
	}
	/* Every object comes back exactly once: n - 3 of them before a second slab is needed. */
	for (i = 0; i < n; i++)
		if (!live[i]) {
			void *o = rf_slab_alloc(p);

			cr_assert_not_null(o);
			cr_assert(o != objs[0] && o != objs[1] && o != objs[130],
				  "a survivor handed out again");
			memset(o, 0x11, 64);
			objs[i] = o;
			got++;
		}
	cr_assert_eq(got, n - 3);
	cr_assert_eq(rf_slab_size(p), SLAB, "the shrunk slab served them all");
	qsort(objs, n, sizeof(objs[0]), ptr_cmp);
	for (i = 1; i < n; i++)
		cr_assert_neq(objs[i - 1], objs[i], "one object handed out twice");
	for (i = 0; i < n; i++)
		rf_slab_free(p, objs[i]);
	rf_slab_destroy(p);
}
