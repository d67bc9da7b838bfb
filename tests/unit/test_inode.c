/* SPDX-License-Identifier: MIT */
/*
 * test_inode.c - the inode table (runtime/src/inode.c): node ids, generations, lookup
 * counts, deferred frees, unhash and key reuse, teardown, and a multi-thread stress run.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringfuse.h"
#include "ringfuse/inode.h"

#define LIVE 0x11fe11u
#define DEAD 0xdeadu

/* The filesystem's inode: the table's struct embedded, not first on purpose. */
struct tnode {
	uint32_t magic;
	int frees;              /* ops->free calls seen (single-thread tests keep the memory) */
	struct rf_inode base;
	uint64_t payload;
};

struct tctx {
	bool release_memory;    /* free() the node in ops->free (stress) or keep it (counting) */
	atomic_long frees;
	atomic_long errors;     /* invariant violations seen in ops->free */
	bool teardown;          /* in rf_itable_free: leftovers may still have counts */
};

static void tfree(struct rf_inode *in, void *data)
{
	struct tctx *c = data;
	struct tnode *n = rf_inode_entry(in, struct tnode, base);

	if (n->magic != LIVE || (!c->teardown && (in->_nlookup != 0 || in->_refs != 0)))
		atomic_fetch_add(&c->errors, 1);
	n->frees++;
	atomic_fetch_add(&c->frees, 1);
	if (c->release_memory) {
		n->magic = DEAD;
		free(n);
	}
}

static const struct rf_itable_ops tops = { .free = tfree };

static struct tnode *tnode_new(void)
{
	struct tnode *n = calloc(1, sizeof(*n));

	cr_assert(n);
	n->magic = LIVE;
	return n;
}

/* For threads other than the test's: no criterion assertion there. */
static struct tnode *tnode_new_nocr(void)
{
	struct tnode *n = calloc(1, sizeof(*n));

	if (!n)
		abort();
	n->magic = LIVE;
	return n;
}

static struct rf_itable *table_new(struct tctx *c)
{
	struct rf_itable *t = NULL;

	cr_assert_eq(rf_itable_new(&t, &tops, c), 0);
	cr_assert(t);
	return t;
}

static void table_free(struct rf_itable *t, struct tctx *c)
{
	c->teardown = true;
	rf_itable_free(t);
}

static uint64_t nl(const struct tnode *n) { return n->base._nlookup; }
static uint64_t refs(const struct tnode *n) { return n->base._refs; }

/* Insert @n under (0, @key) as a LOOKUP reply would, dropping the returned reference. */
static struct rf_inode *lookup(struct rf_itable *t, uint64_t key, struct tnode *n, int want)
{
	struct rf_inode *out = NULL;

	cr_assert_eq(rf_itable_lookup_or_insert(t, 0, key, n ? &n->base : NULL, &out), want);
	cr_assert(out);
	rf_itable_unref(t, out);
	return out;
}

Test(inode, new_rejects_bad_args, .timeout = 10)
{
	struct rf_itable *t = NULL;
	struct rf_itable_ops none = { 0 };

	cr_assert_eq(rf_itable_new(&t, NULL, NULL), -EINVAL);
	cr_assert_eq(rf_itable_new(&t, &none, NULL), -EINVAL);
	cr_assert_null(t);
	rf_itable_free(NULL);
}

Test(inode, insert_and_lookup_counts, .timeout = 10)
{
	struct tctx c = { 0 };
	struct rf_itable *t = table_new(&c);
	struct tnode *a = tnode_new(), *dup = tnode_new();
	struct rf_inode *out = NULL;

	cr_assert_eq(rf_itable_count(t), 0);
	cr_assert_eq(rf_itable_lookup_or_insert(t, 7, 10, &a->base, &out), 1);
	cr_assert_eq(out, &a->base);
	cr_assert_eq(a->base.nodeid, 2, "first node id is 2 (1 is the root)");
	cr_assert_eq(a->base.dev, 7);
	cr_assert_eq(a->base.ino, 10);
	cr_assert_eq(nl(a), 1);
	cr_assert_eq(refs(a), 1, "the returned inode carries a reference");
	rf_itable_unref(t, out);
	cr_assert_eq(refs(a), 0);
	cr_assert_eq(rf_itable_count(t), 1);

	/* same key: the existing inode, one more lookup; the candidate stays ours */
	cr_assert_eq(rf_itable_lookup_or_insert(t, 7, 10, &dup->base, &out), 0);
	cr_assert_eq(out, &a->base);
	cr_assert_eq(nl(a), 2);
	rf_itable_unref(t, out);
	free(dup);

	/* count_lookup on a held inode */
	out = rf_itable_get(t, a->base.nodeid);
	cr_assert_eq(out, &a->base);
	rf_itable_count_lookup(t, out);
	cr_assert_eq(nl(a), 3);
	rf_itable_unref(t, out);

	/* find-only with a NULL candidate also counts */
	cr_assert_eq(rf_itable_lookup_or_insert(t, 7, 10, NULL, &out), 0);
	cr_assert_eq(out, &a->base);
	cr_assert_eq(nl(a), 4);
	rf_itable_unref(t, out);
	cr_assert_eq(rf_itable_lookup_or_insert(t, 7, 11, NULL, &out), -ENOENT);
	cr_assert_null(out);

	/* find and get do not count lookups */
	out = rf_itable_find(t, 7, 10);
	cr_assert_eq(out, &a->base);
	cr_assert_eq(refs(a), 1);
	rf_itable_unref(t, out);
	cr_assert_null(rf_itable_find(t, 7, 11));
	cr_assert_null(rf_itable_find(t, 8, 10));
	cr_assert_null(rf_itable_get(t, 99));
	cr_assert_null(rf_itable_get(t, 0));
	cr_assert_eq(nl(a), 4);
	cr_assert_eq(rf_itable_count(t), 1);
	cr_assert_eq(a->frees, 0);

	cr_assert_eq(rf_itable_forget(t, a->base.nodeid, 4), 0);
	cr_assert_eq(a->frees, 1);
	cr_assert_eq(rf_itable_count(t), 0);
	cr_assert_eq(c.errors, 0);
	table_free(t, &c);
	free(a);
}

Test(inode, lookup_or_insert_returns_existing_for_same_key, .timeout = 10)
{
	struct tctx c = { 0 };
	struct rf_itable *t = table_new(&c);
	struct tnode *n[4];
	struct rf_inode *out;

	for (int i = 0; i < 4; i++)
		n[i] = tnode_new();
	lookup(t, 5, n[0], 1);
	lookup(t, 6, n[1], 1);                  /* another key: another inode */
	cr_assert_neq(n[0]->base.nodeid, n[1]->base.nodeid);
	cr_assert_eq(rf_itable_lookup_or_insert(t, 1, 5, &n[2]->base, &out), 1,
		     "same ino on another dev is another inode");
	rf_itable_unref(t, out);
	out = lookup(t, 5, n[3], 0);
	cr_assert_eq(out, &n[0]->base);
	cr_assert_eq(rf_itable_count(t), 3);
	cr_assert_eq(n[3]->frees, 0, "a discarded candidate never reaches ops->free");
	free(n[3]);
	table_free(t, &c);
	cr_assert_eq(c.frees, 3);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(n[i]->frees, 1);
		free(n[i]);
	}
}

Test(inode, forget_to_zero_frees_exactly_once, .timeout = 10)
{
	struct tctx c = { 0 };
	struct rf_itable *t = table_new(&c);
	struct tnode *a = tnode_new();
	uint64_t id;

	lookup(t, 1, a, 1);
	lookup(t, 1, NULL, 0);
	lookup(t, 1, NULL, 0);
	id = a->base.nodeid;
	cr_assert_eq(nl(a), 3);
	cr_assert_eq(rf_itable_forget(t, id, 1), 0);
	cr_assert_eq(nl(a), 2);
	cr_assert_eq(a->frees, 0);
	cr_assert_eq(rf_itable_forget(t, id, 2), 0);
	cr_assert_eq(a->frees, 1);
	cr_assert_eq(rf_itable_count(t), 0);
	cr_assert_null(rf_itable_get(t, id));
	cr_assert_null(rf_itable_find(t, 0, 1));
	cr_assert_eq(rf_itable_forget(t, id, 1), -ENOENT, "unknown node id is ignored");
	cr_assert_eq(rf_itable_forget(t, 12345, 1), -ENOENT);
	cr_assert_eq(a->frees, 1);
	table_free(t, &c);
	cr_assert_eq(a->frees, 1);
	cr_assert_eq(c.frees, 1);
	cr_assert_eq(c.errors, 0);
	free(a);
}

Test(inode, forget_while_referenced_defers_free_to_last_unref, .timeout = 10)
{
	struct tctx c = { 0 };
	struct rf_itable *t = table_new(&c);
	struct tnode *a = tnode_new();
	struct rf_inode *req, *handle, *again;
	uint64_t id;

	lookup(t, 3, a, 1);
	id = a->base.nodeid;
	handle = rf_itable_get(t, id);          /* OPEN keeps this until RELEASE */
	req = rf_itable_get(t, id);             /* a request in service */
	rf_itable_ref(req);                     /* handed to another thread */
	cr_assert_eq(refs(a), 3);

	cr_assert_eq(rf_itable_forget(t, id, 1), 0);
	cr_assert_eq(nl(a), 0);
	cr_assert_eq(a->frees, 0, "FORGET must not free a referenced inode");
	cr_assert_eq(rf_itable_count(t), 1);
	again = rf_itable_get(t, id);
	cr_assert_eq(again, &a->base, "still reachable by node id while referenced");
	rf_itable_unref(t, again);

	rf_itable_unref(t, req);
	rf_itable_unref(t, req);
	cr_assert_eq(a->frees, 0);
	cr_assert_eq(refs(a), 1);
	rf_itable_unref(t, handle);             /* RELEASE: the last reference */
	cr_assert_eq(a->frees, 1);
	cr_assert_eq(rf_itable_count(t), 0);
	cr_assert_null(rf_itable_get(t, id));
	rf_itable_unref(t, NULL);

	/* a forgotten-but-open inode is found again by key and revived with its node id */
	struct tnode *b = tnode_new();
	lookup(t, 4, b, 1);
	handle = rf_itable_get(t, b->base.nodeid);
	cr_assert_eq(rf_itable_forget(t, b->base.nodeid, 1), 0);
	cr_assert_eq(lookup(t, 4, NULL, 0), &b->base);
	cr_assert_eq(nl(b), 1);
	rf_itable_unref(t, handle);
	cr_assert_eq(b->frees, 0);
	cr_assert_eq(rf_itable_forget(t, b->base.nodeid, 1), 0);
	cr_assert_eq(b->frees, 1);
	cr_assert_eq(c.errors, 0);
	table_free(t, &c);
	free(a);
	free(b);
}

static char last_log[1024];
static int log_lines;

static void capture_log(enum rf_log_level level, const char *msg, void *data)
{
	snprintf(last_log, sizeof(last_log), "%s", msg);
	log_lines++;
}

Test(inode, forget_larger_than_nlookup_clamps, .timeout = 10)
{
	struct tctx c = { 0 };
	struct rf_itable *t = table_new(&c);
	struct tnode *a = tnode_new(), *b = tnode_new();
	struct rf_inode *h;

	rf_log_set(capture_log, NULL);
	lookup(t, 1, a, 1);
	lookup(t, 1, NULL, 0);
	h = rf_itable_get(t, a->base.nodeid);
	cr_assert_eq(rf_itable_forget(t, a->base.nodeid, 5), -ERANGE);
	cr_assert_eq(nl(a), 0, "clamped to zero, not wrapped");
	cr_assert_eq(log_lines, 1);
	cr_assert(strstr(last_log, "clamped"), "logged: %s", last_log);
	cr_assert_eq(a->frees, 0, "still referenced");
	/* the count restarts from 0, it carries no debt */
	rf_itable_count_lookup(t, h);
	cr_assert_eq(nl(a), 1);
	cr_assert_eq(rf_itable_forget(t, a->base.nodeid, 1), 0);
	cr_assert_eq(log_lines, 1);
	rf_itable_unref(t, h);
	cr_assert_eq(a->frees, 1);

	/* unreferenced: the clamped forget frees at once */
	lookup(t, 2, b, 1);
	cr_assert_eq(rf_itable_forget(t, b->base.nodeid, UINT64_MAX), -ERANGE);
	cr_assert_eq(b->frees, 1);
	cr_assert_eq(log_lines, 2);
	cr_assert_eq(rf_itable_count(t), 0);
	cr_assert_eq(c.errors, 0);
	rf_log_set(NULL, NULL);
	table_free(t, &c);
	free(a);
	free(b);
}

Test(inode, key_reused_after_unhash_gets_new_nodeid_and_generation, .timeout = 10)
{
	struct tctx c = { 0 };
	struct rf_itable *t = table_new(&c);
	struct tnode *old = tnode_new(), *neu = tnode_new();
	struct rf_inode *h, *g;
	uint64_t old_id;

	lookup(t, 42, old, 1);
	old_id = old->base.nodeid;
	/* UNLINK: the fs saw st_nlink == 0 */
	h = rf_itable_find(t, 0, 42);
	cr_assert_eq(h, &old->base);
	cr_assert_eq(rf_itable_unhash(t, h), 0);
	cr_assert_eq(rf_itable_unhash(t, h), -ENOENT, "already unhashed");
	rf_itable_unref(t, h);
	cr_assert_eq(old->frees, 0, "unhash alone does not free: the kernel holds a lookup");
	cr_assert_null(rf_itable_find(t, 0, 42));

	/* a new file got the same st_ino */
	lookup(t, 42, neu, 1);
	cr_assert_neq(neu->base.nodeid, old_id);
	cr_assert_neq(neu->base.generation, old->base.generation);
	cr_assert_gt(neu->base.generation, old->base.generation);
	cr_assert_eq(old->base.ino, 42, "key fields keep their values");
	cr_assert_eq(rf_itable_count(t), 2);

	/* the old node id stays reachable until forgotten */
	g = rf_itable_get(t, old_id);
	cr_assert_eq(g, &old->base);
	rf_itable_unref(t, g);
	cr_assert_eq(lookup(t, 42, NULL, 0), &neu->base);
	cr_assert_eq(nl(old), 1);
	cr_assert_eq(rf_itable_forget(t, old_id, 1), 0);
	cr_assert_eq(old->frees, 1);
	cr_assert_null(rf_itable_get(t, old_id));
	/* freeing the unhashed one left the new key mapping alone */
	h = rf_itable_find(t, 0, 42);
	cr_assert_eq(h, &neu->base);
	rf_itable_unref(t, h);
	cr_assert_eq(nl(neu), 2);
	cr_assert_eq(rf_itable_forget(t, neu->base.nodeid, 2), 0);
	cr_assert_eq(neu->frees, 1);
	cr_assert_eq(rf_itable_count(t), 0);
	cr_assert_eq(c.errors, 0);
	table_free(t, &c);
	free(old);
	free(neu);
}

Test(inode, nodeids_never_reused_across_insert_forget_cycles, .timeout = 10)
{
	struct tctx c = { .release_memory = true };
	struct rf_itable *t = table_new(&c);
	uint64_t last_id = 1, last_gen[3] = { 0 };
	bool seen[3] = { false };

	for (int i = 0; i < 5000; i++) {
		uint64_t key = (uint64_t)i % 3;
		struct rf_inode *in = lookup(t, key, tnode_new(), 1);
		uint64_t id = in->nodeid, gen = in->generation;

		cr_assert_gt(id, last_id, "cycle %d: node id %llu after %llu", i,
			     (unsigned long long)id, (unsigned long long)last_id);
		if (seen[key])
			cr_assert_gt(gen, last_gen[key], "cycle %d: generation must change", i);
		last_id = id;
		last_gen[key] = gen;
		seen[key] = true;
		if (i % 2)
			cr_assert_eq(rf_itable_unhash(t, in), 0); /* sometimes unhashed first */
		cr_assert_eq(rf_itable_forget(t, id, 1), 0);
		cr_assert_null(rf_itable_get(t, id));
	}
	cr_assert_eq(c.frees, 5000);
	cr_assert_eq(rf_itable_count(t), 0);
	cr_assert_eq(c.errors, 0);
	table_free(t, &c);
	cr_assert_eq(c.frees, 5000);
}

Test(inode, root_is_nodeid_1_and_pinned, .timeout = 10)
{
	struct tctx c = { 0 };
	struct rf_itable *t = table_new(&c);
	struct tnode *root = tnode_new(), *other = tnode_new(), *sub = tnode_new();
	struct rf_inode *g;

	rf_log_set(capture_log, NULL);          /* the clamped forget below warns */
	cr_assert_eq(rf_itable_set_root(t, 9, 2, NULL), -EINVAL);
	cr_assert_eq(rf_itable_set_root(t, 9, 2, &root->base), 0);
	cr_assert_eq(root->base.nodeid, 1);
	cr_assert_eq(rf_itable_set_root(t, 9, 3, &other->base), -EEXIST);
	free(other);
	g = rf_itable_get(t, 1);
	cr_assert_eq(g, &root->base);
	rf_itable_unref(t, g);
	cr_assert_eq(root->frees, 0);

	/* ".." of a top-level directory reaches the root's key: node id 1 */
	cr_assert_eq(rf_itable_lookup_or_insert(t, 9, 2, NULL, &g), 0);
	cr_assert_eq(g, &root->base);
	rf_itable_unref(t, g);
	cr_assert_eq(nl(root), 2);
	cr_assert_eq(rf_itable_forget(t, 1, 2), 0);
	cr_assert_eq(rf_itable_forget(t, 1, 1), -ERANGE);
	cr_assert_eq(root->frees, 0, "the root never leaves through forget");
	cr_assert_eq(log_lines, 1);
	rf_log_set(NULL, NULL);

	/* others start at 2 */
	cr_assert_eq(rf_itable_lookup_or_insert(t, 9, 3, &sub->base, &g), 1);
	cr_assert_eq(g->nodeid, 2);
	rf_itable_unref(t, g);
	cr_assert_eq(rf_itable_count(t), 2);
	table_free(t, &c);
	cr_assert_eq(root->frees, 1);
	cr_assert_eq(sub->frees, 1);
	free(root);
	free(sub);
}

Test(inode, itable_free_releases_all_remaining, .timeout = 10)
{
	struct tctx c = { 0 };
	struct rf_itable *t = table_new(&c);
	struct tnode *root = tnode_new(), *n[200];
	struct rf_inode *h;

	cr_assert_eq(rf_itable_set_root(t, 0, 1, &root->base), 0);
	for (int i = 0; i < 200; i++) {
		n[i] = tnode_new();
		lookup(t, 100 + (uint64_t)i, n[i], 1);
	}
	for (int i = 0; i < 200; i += 3) {     /* some with an open handle */
		h = rf_itable_get(t, n[i]->base.nodeid);
		cr_assert(h);
	}
	for (int i = 0; i < 200; i += 7) {     /* some unhashed */
		h = rf_itable_get(t, n[i]->base.nodeid);
		cr_assert_eq(rf_itable_unhash(t, h), 0);
		rf_itable_unref(t, h);
	}
	for (int i = 1; i < 200; i += 5)       /* some forgotten but open or gone */
		rf_itable_forget(t, n[i]->base.nodeid, 1);
	size_t left = rf_itable_count(t);
	long before = c.frees;
	cr_assert_eq(left + (size_t)before, 201);
	table_free(t, &c);
	cr_assert_eq(c.frees, 201);
	cr_assert_eq(root->frees, 1);
	for (int i = 0; i < 200; i++) {
		cr_assert_eq(n[i]->frees, 1, "inode %d freed %d times", i, n[i]->frees);
		free(n[i]);
	}
	free(root);
}

Test(inode, forget_many_applies_every_entry, .timeout = 10)
{
	struct tctx c = { 0 };
	struct rf_itable *t = table_new(&c);
	struct tnode *a = tnode_new(), *b = tnode_new(), *d = tnode_new();

	lookup(t, 1, a, 1);
	lookup(t, 1, NULL, 0);
	lookup(t, 2, b, 1);
	lookup(t, 3, d, 1);
	struct rf_itable_forget_item items[] = {
		{ a->base.nodeid, 1 },
		{ 999, 1 },                     /* unknown: ignored */
		{ b->base.nodeid, 1 },
		{ a->base.nodeid, 1 },
	};
	cr_assert_eq(rf_itable_forget_many(t, items, 4), -ENOENT);
	cr_assert_eq(a->frees, 1);
	cr_assert_eq(b->frees, 1);
	cr_assert_eq(d->frees, 0);
	cr_assert_eq(rf_itable_count(t), 1);
	cr_assert_eq(rf_itable_forget_many(t, NULL, 0), 0);
	table_free(t, &c);
	cr_assert_eq(d->frees, 1);
	cr_assert_eq(c.errors, 0);
	free(a);
	free(b);
	free(d);
}

struct walk {
	struct rf_itable *t;
	int seen;
	bool forget;
};

static int walk_cb(struct rf_inode *in, void *data)
{
	struct walk *w = data;

	w->seen++;
	if (w->forget && in->nodeid != 1)
		rf_itable_forget(w->t, in->nodeid, 1);   /* allowed: no lock held in cb */
	return 0;
}

static int stop_cb(struct rf_inode *in, void *data)
{
	return ++*(int *)data == 3 ? 77 : 0;
}

Test(inode, foreach_visits_each_inode_without_the_lock, .timeout = 10)
{
	struct tctx c = { .release_memory = true };
	struct rf_itable *t = table_new(&c);
	struct walk w = { .t = t };
	int calls = 0;

	cr_assert_eq(rf_itable_foreach(t, walk_cb, &w), 0);
	cr_assert_eq(w.seen, 0);
	cr_assert_eq(rf_itable_set_root(t, 0, 1, &tnode_new()->base), 0);
	for (uint64_t k = 10; k < 20; k++)
		lookup(t, k, tnode_new(), 1);
	cr_assert_eq(rf_itable_foreach(t, stop_cb, &calls), 77);
	cr_assert_eq(calls, 3);
	w.forget = true;
	cr_assert_eq(rf_itable_foreach(t, walk_cb, &w), 0);
	cr_assert_eq(w.seen, 11);
	cr_assert_eq(c.frees, 10, "freed by the walk's own unref after the callbacks");
	cr_assert_eq(rf_itable_count(t), 1);
	table_free(t, &c);
	cr_assert_eq(c.frees, 11);
	cr_assert_eq(c.errors, 0);
}

Test(inode, grows_and_finds_many, .timeout = 10)
{
	struct tctx c = { .release_memory = true };
	struct rf_itable *t = table_new(&c);
	const uint64_t n = 20000;
	uint64_t first = 0;

	for (uint64_t k = 0; k < n; k++) {
		struct rf_inode *in = lookup(t, k * 4096 + 3, tnode_new(), 1);
		if (k == 0)
			first = in->nodeid;
		cr_assert_eq(in->nodeid, first + k);
	}
	cr_assert_eq(rf_itable_count(t), n);
	for (uint64_t k = 0; k < n; k++) {
		struct rf_inode *a = rf_itable_get(t, first + k), *b = rf_itable_find(t, 0, k * 4096 + 3);
		cr_assert(a);
		cr_assert_eq(a, b);
		rf_itable_unref(t, a);
		rf_itable_unref(t, b);
	}
	for (uint64_t k = 0; k < n; k += 2)
		cr_assert_eq(rf_itable_forget(t, first + k, 1), 0);
	cr_assert_eq(rf_itable_count(t), n / 2);
	table_free(t, &c);
	cr_assert_eq(c.frees, (long)n);
	cr_assert_eq(c.errors, 0);
}

/* ---- concurrent stress ----------------------------------------------------------- */

#define S_THREADS 4
#define S_KEYS 8
#define S_HELD 64
#define S_SEEN_BITS (1u << 24)

struct stress {
	struct rf_itable *t;
	struct tctx *c;
	atomic_bool stop;
	atomic_long inserted, discarded, ops, errors, reused_ids;
	_Atomic uint64_t *seen;                 /* bitmap of node ids handed out by inserts */
	_Atomic uint64_t max_id;
};

struct held { uint64_t nodeid, count; };

struct sthread {
	struct stress *s;
	unsigned int seed;
	struct held held[S_HELD];               /* lookups this "kernel" holds */
	int nheld;
	struct rf_inode *handle;                /* an "open file" reference, kept a while */
};

static void s_check(struct stress *s, struct rf_inode *in)
{
	struct tnode *n = rf_inode_entry(in, struct tnode, base);

	if (n->magic != LIVE || in->dev != 0 || in->ino >= S_KEYS || in->nodeid < 2)
		atomic_fetch_add(&s->errors, 1);
}

static void s_hold(struct sthread *th, uint64_t nodeid)
{
	for (int i = 0; i < th->nheld; i++)
		if (th->held[i].nodeid == nodeid) {
			th->held[i].count++;
			return;
		}
	if (th->nheld == S_HELD) {              /* full: give this lookup back at once */
		if (rf_itable_forget(th->s->t, nodeid, 1) != 0)
			atomic_fetch_add(&th->s->errors, 1);
		return;
	}
	th->held[th->nheld].nodeid = nodeid;
	th->held[th->nheld].count = 1;
	th->nheld++;
}

static void s_forget(struct sthread *th, int i, uint64_t n)
{
	if (rf_itable_forget(th->s->t, th->held[i].nodeid, n) != 0)
		atomic_fetch_add(&th->s->errors, 1);
	th->held[i].count -= n;
	if (th->held[i].count == 0)
		th->held[i] = th->held[--th->nheld];
}

static void *s_run(void *arg)
{
	struct sthread *th = arg;
	struct stress *s = th->s;
	struct rf_itable *t = s->t;

	while (!atomic_load(&s->stop)) {
		unsigned int r = (unsigned int)rand_r(&th->seed);
		uint64_t key = r % S_KEYS;
		struct rf_inode *in;

		atomic_fetch_add(&s->ops, 1);
		switch ((r >> 8) % 10) {
		case 0: case 1: case 2: {          /* LOOKUP reply */
			struct tnode *fresh = tnode_new_nocr();
			int ret = rf_itable_lookup_or_insert(t, 0, key, &fresh->base, &in);

			if (ret == 1) {
				uint64_t id = in->nodeid;

				atomic_fetch_add(&s->inserted, 1);
				if (id < S_SEEN_BITS) {
					uint64_t bit = 1ull << (id % 64);
					if (atomic_fetch_or(&s->seen[id / 64], bit) & bit)
						atomic_fetch_add(&s->reused_ids, 1);
				}
			} else if (ret == 0) {
				atomic_fetch_add(&s->discarded, 1);
				free(fresh);
			} else {
				atomic_fetch_add(&s->errors, 1);
				free(fresh);
				break;
			}
			if (in->ino != key)
				atomic_fetch_add(&s->errors, 1);
			s_check(s, in);
			s_hold(th, in->nodeid);
			rf_itable_unref(t, in);
			break;
		}
		case 3: case 4:                    /* FORGET part or all of what we hold */
			if (th->nheld) {
				int i = (int)((r >> 12) % (unsigned int)th->nheld);
				uint64_t n = 1 + (r >> 20) % th->held[i].count;
				s_forget(th, i, n);
			}
			break;
		case 5:                            /* a request on a node id we hold */
			if (th->nheld) {
				int i = (int)((r >> 12) % (unsigned int)th->nheld);
				in = rf_itable_get(t, th->held[i].nodeid);
				if (!in) {
					atomic_fetch_add(&s->errors, 1);
					break;
				}
				s_check(s, in);
				rf_itable_unref(t, in);
			}
			break;
		case 6: {                          /* a request on any node id: maybe gone */
			uint64_t max = atomic_load(&s->max_id);
			in = rf_itable_get(t, (uint64_t)rand_r(&th->seed) % (max + 1));
			if (in) {
				s_check(s, in);
				rf_itable_unref(t, in);
			}
			break;
		}
		case 7:                            /* OPEN / RELEASE */
			if (th->handle) {
				rf_itable_unref(t, th->handle);
				th->handle = NULL;
			} else if (th->nheld) {
				int i = (int)((r >> 12) % (unsigned int)th->nheld);
				th->handle = rf_itable_get(t, th->held[i].nodeid);
				if (!th->handle) {
					atomic_fetch_add(&s->errors, 1);
				} else {
					rf_itable_ref(th->handle);      /* handed on ... */
					rf_itable_unref(t, th->handle); /* ... and the get dropped */
				}
			}
			break;
		case 8:                            /* find by key, no lookup counted */
			in = rf_itable_find(t, 0, key);
			if (in) {
				s_check(s, in);
				if (in->ino != key)
					atomic_fetch_add(&s->errors, 1);
				rf_itable_unref(t, in);
			}
			break;
		case 9:                            /* UNLINK of the last name */
			if ((r >> 16) % 4 == 0) {
				in = rf_itable_find(t, 0, key);
				if (in) {
					rf_itable_unhash(t, in);   /* may race another unhash */
					rf_itable_unref(t, in);
				}
			}
			break;
		}
		/* track the highest node id for case 6 */
		uint64_t m = atomic_load(&s->max_id), cand = atomic_load(&s->inserted) + 2;
		while (cand > m && !atomic_compare_exchange_weak(&s->max_id, &m, cand))
			;
	}
	/* unmount: the kernel forgets everything, handles are released */
	if (th->handle)
		rf_itable_unref(t, th->handle);
	while (th->nheld)
		s_forget(th, 0, th->held[0].count);
	return NULL;
}

Test(inode, concurrent_stress_drains_and_frees_each_once, .timeout = 10)
{
	struct tctx c = { .release_memory = true };
	struct stress s = { .c = &c };
	struct sthread th[S_THREADS];
	pthread_t tid[S_THREADS];
	struct timespec ts = { .tv_sec = 1 };

	s.t = table_new(&c);
	s.seen = calloc(S_SEEN_BITS / 64, sizeof(*s.seen));
	cr_assert(s.seen);
	for (int i = 0; i < S_THREADS; i++) {
		memset(&th[i], 0, sizeof(th[i]));
		th[i].s = &s;
		th[i].seed = 0x5eed0u + (unsigned int)i * 7919u;
		cr_assert_eq(pthread_create(&tid[i], NULL, s_run, &th[i]), 0);
	}
	nanosleep(&ts, NULL);
	atomic_store(&s.stop, true);
	for (int i = 0; i < S_THREADS; i++)
		pthread_join(tid[i], NULL);

	cr_log_info("inode stress: %ld ops, %ld inserted, %ld discarded", (long)s.ops,
		    (long)s.inserted, (long)s.discarded);
	cr_assert_eq(s.errors, 0, "%ld invariant violations", (long)s.errors);
	cr_assert_eq(c.errors, 0, "%ld bad inodes reached ops->free", (long)c.errors);
	cr_assert_eq(s.reused_ids, 0, "node ids were reused");
	cr_assert_gt(s.inserted, 1000, "the run did too little (%ld inserts)", (long)s.inserted);
	cr_assert_gt(s.discarded, 1000, "lookups never hit an existing inode");
	cr_assert_eq(rf_itable_count(s.t), 0, "the table did not drain");
	cr_assert_eq(c.frees, s.inserted, "free calls %ld != inserted %ld", (long)c.frees,
		     (long)s.inserted);
	table_free(s.t, &c);
	cr_assert_eq(c.frees, s.inserted, "rf_itable_free found leftovers");
	free(s.seen);
}

static bool has_id(const uint64_t *ids, size_t n, uint64_t id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* The prune sweep: never the root, an inode referenced (open, in a request) or one the
 * kernel already forgot; an inode looked up again since the last sweep is kept for one
 * more, the others are picked. */
Test(inode, prune_candidates_are_unused_and_least_recently_looked_up, .timeout = 10)
{
	struct tctx c = { 0 };
	struct rf_itable *t = table_new(&c);
	struct tnode *root = tnode_new(), *n[6];
	struct rf_inode *held = NULL;
	uint64_t ids[16];
	size_t got, i;

	cr_assert_eq(rf_itable_set_root(t, 0, 1, &root->base), 0);
	for (i = 0; i < 6; i++)
		lookup(t, 100 + i, n[i] = tnode_new(), 1);
	/* n[0] stays referenced (an open handle, say) */
	cr_assert_eq(rf_itable_lookup_or_insert(t, 0, 100, NULL, &held), 0);
	cr_assert_eq(rf_itable_prune_candidates(t, ids, 0), 0);
	cr_assert_eq(rf_itable_prune_candidates(t, NULL, 4), 0);

	/* All were just looked up: the first sweep unmarks, the second picks. */
	got = rf_itable_prune_candidates(t, ids, 16);
	cr_assert_eq(got, 5, "all but the referenced one and the root: %zu", got);
	cr_assert(!has_id(ids, got, 1));
	cr_assert(!has_id(ids, got, n[0]->base.nodeid));

	/* n[1] looked up again: the three others go first; n[2] forgotten by the kernel:
	 * gone. Asked for more, the sweep goes round again and takes n[1] too. */
	lookup(t, 101, NULL, 0);
	cr_assert_eq(rf_itable_forget(t, n[2]->base.nodeid, 1), 0);
	got = rf_itable_prune_candidates(t, ids, 3);
	cr_assert_eq(got, 3);
	cr_assert(!has_id(ids, got, n[1]->base.nodeid), "the fresh lookup must come last");
	for (i = 3; i < 6; i++)
		cr_assert(has_id(ids, got, n[i]->base.nodeid));
	lookup(t, 101, NULL, 0);
	got = rf_itable_prune_candidates(t, ids, 16);
	cr_assert_eq(got, 4, "got %zu", got);
	cr_assert(has_id(ids, got, n[1]->base.nodeid));
	cr_assert(!has_id(ids, got, n[2]->base.nodeid));

	/* @max is honoured. */
	cr_assert_eq(rf_itable_prune_candidates(t, ids, 2), 2);
	rf_itable_unref(t, held);
	table_free(t, &c);
	for (i = 0; i < 6; i++)
		free(n[i]);
	free(root);
}

/* Two sweeps in a row with nothing looked up in between take different inodes (the hand
 * goes on from where it stopped): a caller pruning a big table in chunks does not ask for
 * the same inodes twice. */
Test(inode, prune_candidates_in_chunks_are_disjoint, .timeout = 10)
{
	enum { N = 2048, CHUNK = N / 4 };
	struct tctx c = { 0 };
	struct rf_itable *t = table_new(&c);
	static struct tnode nodes[N];
	static uint64_t a[N];
	uint8_t *seen = calloc(N + 2, 1);
	size_t i, k;

	cr_assert(seen);
	for (i = 0; i < N; i++) {
		nodes[i].magic = LIVE;
		lookup(t, 1000 + i, &nodes[i], 1);
	}
	cr_assert_eq(rf_itable_prune_candidates(t, a, N), N, "the first sweep unmarks, then picks");
	for (k = 0; k < 3; k++) {
		cr_assert_eq(rf_itable_prune_candidates(t, a, CHUNK), CHUNK);
		for (i = 0; i < CHUNK; i++) {
			cr_assert(a[i] >= 2 && a[i] <= N + 1);
			cr_assert_eq(seen[a[i]]++, 0, "node %llu picked again by chunk %zu",
				     (unsigned long long)a[i], k + 1);
		}
	}
	table_free(t, &c);
	free(seen);
}
