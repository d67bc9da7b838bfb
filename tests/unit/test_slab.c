/* SPDX-License-Identifier: MIT */
/*
 * test_slab.c - rf_slab: objects are distinct and aligned; empty slabs go back to the
 * kernel except the last one with room, whose pages past the first are given back after a
 * burst (mincore shows what stays resident), and which serves again afterwards.
 */
#include <errno.h>
#include <stdint.h>
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
