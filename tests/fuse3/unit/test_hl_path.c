/*
 * Description: the high-level API's path layer (bindings/fuse3/hl_path.c) on the runtime's
 * inode table: lookups find or create nodes with one lookup counted, paths follow renames
 * and exchanges, a replaced or removed name has no path (ESTALE), forgets free the nodes
 * down to the root alone (children before parents), remember keeps forgotten nodes, and a
 * path built while another thread renames a directory is always all-old or all-new. Hide
 * mode: a file whose RELEASEs have all come is not hidden, a hide that finds the file
 * closed leaves it to its caller, and an RMDIR waits for a fresh hide once, briefly.
 */
#include "fuse3_hl.h"
#include "fuse3_int.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct fuse *tree_new(int remember)
{
	struct fuse *f = calloc(1, sizeof(*f));

	cr_assert_not_null(f);
	f->conf.remember = remember;
	pthread_rwlock_init(&f->tree, NULL);
	pthread_mutex_init(&f->lock, NULL);
	rf_hl_cond_init(&f->unhide_cv);
	cr_assert_eq(rf_hl_tree_init(f), 0);
	return f;
}

static void tree_free(struct fuse *f)
{
	rf_hl_tree_free(f);
	pthread_rwlock_destroy(&f->tree);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->unhide_cv);
	free(f->se);
	free(f);
}

/* Look @name up under @parent (one kernel lookup) and drop the request's reference. */
static struct hl_node *lookup(struct fuse *f, struct hl_node *parent, const char *name)
{
	struct hl_node *n;

	cr_assert_eq(rf_hl_lookup(f, parent, name, &n), 0, "lookup %s", name);
	rf_hl_put(f, n);
	return n;
}

static void expect_path(struct fuse *f, struct hl_node *n, const char *want)
{
	char *p;

	cr_assert_eq(rf_hl_path(f, n, NULL, 0, &p), 0);
	cr_assert_str_eq(p, want);
}

Test(hl_path, lookups_build_paths_and_find_the_same_node)
{
	struct fuse *f = tree_new(0);
	struct hl_node *a = lookup(f, f->root, "a"), *b = lookup(f, a, "b");
	char *p;

	expect_path(f, f->root, "/");
	expect_path(f, b, "/a/b");
	cr_assert_eq(rf_hl_path(f, b, "c", 1, &p), 0);
	cr_assert_str_eq(p, "/a/b/c");
	cr_assert_eq(lookup(f, a, "b"), b, "a second lookup finds the node");
	cr_assert_eq(rf_hl_node_count(f), 3);
	tree_free(f);
}

Test(hl_path, long_names_and_deep_paths)
{
	struct fuse *f = tree_new(0);
	char name[300], want[4096] = "";
	struct hl_node *n = f->root;

	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	for (int i = 0; i < 10; i++) {
		n = lookup(f, n, name);
		strcat(want, "/");
		strcat(want, name);
	}
	expect_path(f, n, want);
	tree_free(f);
}

Test(hl_path, rename_moves_the_subtree_and_replaces_the_target)
{
	struct fuse *f = tree_new(0);
	struct hl_node *a = lookup(f, f->root, "a"), *b = lookup(f, a, "b");
	struct hl_node *d = lookup(f, f->root, "d"), *victim = lookup(f, d, "e");
	char *p;

	cr_assert_eq(rf_hl_rename(f, f->root, "a", d, "e", false), 0);
	expect_path(f, b, "/d/e/b");
	expect_path(f, a, "/d/e");
	cr_assert_eq(rf_hl_path(f, victim, NULL, 0, &p), -ESTALE, "the replaced node has no path");
	cr_assert_eq(rf_hl_find_ino(f, d, "e"), a->base.nodeid);
	cr_assert_eq(rf_hl_find_ino(f, f->root, "a"), 0);
	tree_free(f);
}

Test(hl_path, exchange_swaps_both_names)
{
	struct fuse *f = tree_new(0);
	struct hl_node *x = lookup(f, f->root, "x"), *y = lookup(f, f->root, "y");

	cr_assert_eq(rf_hl_exchange(f, f->root, "x", f->root, "y"), 0);
	expect_path(f, x, "/y");
	expect_path(f, y, "/x");
	tree_free(f);
}

Test(hl_path, remove_leaves_the_node_without_a_path)
{
	struct fuse *f = tree_new(0);
	struct hl_node *a = lookup(f, f->root, "a"), *b = lookup(f, a, "b");
	fuse_ino_t ino;
	char *p;

	cr_assert_eq(rf_hl_resolve(f, "/a/b", &ino), 0);
	cr_assert_eq(ino, b->base.nodeid);
	rf_hl_remove(f, f->root, "a");
	cr_assert_eq(rf_hl_path(f, b, NULL, 0, &p), -ESTALE, "below a removed directory");
	cr_assert_eq(rf_hl_resolve(f, "/a/b", &ino), -ENOENT);
	cr_assert_eq(rf_hl_node_count(f), 3, "still known to the kernel");
	tree_free(f);
}

Test(hl_path, forgets_free_everything_but_the_root)
{
	struct fuse *f = tree_new(0);
	struct hl_node *a = lookup(f, f->root, "a"), *b = lookup(f, a, "b");
	fuse_ino_t ia = a->base.nodeid, ib = b->base.nodeid;

	lookup(f, a, "b");                       /* b: 2 lookups */
	rf_hl_forget(f, ia, 1);
	cr_assert_eq(rf_hl_node_count(f), 3, "a stays while its child lives");
	rf_hl_forget(f, ib, 1);
	cr_assert_eq(rf_hl_node_count(f), 3);
	rf_hl_forget(f, ib, 1);
	cr_assert_eq(rf_hl_node_count(f), 1, "b, then a, freed");
	cr_assert_null(rf_hl_get(f, ia));
	cr_assert_eq(rf_hl_find_ino(f, f->root, "a"), 0);
	/* A name looked up again gets a new node id. */
	cr_assert_neq(lookup(f, f->root, "a")->base.nodeid, ia);
	tree_free(f);
}

Test(hl_path, many_nodes_come_and_go)
{
	struct fuse *f = tree_new(0);
	struct fuse_forget_data *fd = calloc(20000, sizeof(*fd));
	char name[32];

	cr_assert_not_null(fd);
	for (int i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		fd[i].ino = lookup(f, f->root, name)->base.nodeid;
		fd[i].nlookup = 1;
	}
	cr_assert_eq(rf_hl_node_count(f), 20001);
	rf_hl_forget_many(f, 20000, fd);
	cr_assert_eq(rf_hl_node_count(f), 1);
	cr_assert_eq(f->nnamed, 0);
	cr_assert_leq(f->nbuckets, 256, "the hash shrank back (%zu buckets)", f->nbuckets);
	free(fd);
	tree_free(f);
}

Test(hl_path, noforget_keeps_forgotten_nodes_until_removed)
{
	struct fuse *f = tree_new(-1);
	struct hl_node *a = lookup(f, f->root, "a");
	fuse_ino_t ia = a->base.nodeid;

	rf_hl_forget(f, ia, 1);
	cr_assert_eq(rf_hl_node_count(f), 2, "remembered");
	cr_assert_eq(lookup(f, f->root, "a")->base.nodeid, ia, "same node id again");
	rf_hl_forget(f, ia, 1);
	rf_hl_remove(f, f->root, "a");
	cr_assert_eq(rf_hl_node_count(f), 1, "gone with its name");
	tree_free(f);
}

Test(hl_path, remember_expires)
{
	struct fuse *f = tree_new(1);
	struct hl_node *a = lookup(f, f->root, "a");

	rf_hl_forget(f, a->base.nodeid, 1);
	cr_assert_eq(rf_hl_node_count(f), 2);
	a->forget_ns -= 2000000000ull;           /* as if forgotten two seconds ago */
	rf_hl_clean(f);
	cr_assert_eq(rf_hl_node_count(f), 1);
	tree_free(f);
}

/* ---- concurrency: a path is never half-old, half-new ------------------------------- */

struct race {
	struct fuse *f;
	struct hl_node *p1, *p2, *leaf;
	atomic_bool stop;
	long bad, built;
};

/* /p1/dA <-> /p2/dB: one rename changes the parent and the name at once, so a torn path
 * would read /p1/dB/leaf or /p2/dA/leaf. */
static void *renamer(void *arg)
{
	struct race *r = arg;

	for (int i = 0; i < 50000; i++) {
		if (i % 2 == 0)
			rf_hl_rename(r->f, r->p1, "dA", r->p2, "dB", false);
		else
			rf_hl_rename(r->f, r->p2, "dB", r->p1, "dA", false);
	}
	atomic_store(&r->stop, true);
	return NULL;
}

static void *builder(void *arg)
{
	struct race *r = arg;
	char *p;

	while (!atomic_load(&r->stop)) {
		if (rf_hl_path(r->f, r->leaf, NULL, 0, &p) != 0) {
			r->bad++;
			continue;
		}
		r->built++;
		if (strcmp(p, "/p1/dA/leaf") && strcmp(p, "/p2/dB/leaf"))
			r->bad++;
	}
	return NULL;
}

Test(hl_path, paths_under_concurrent_renames_are_whole)
{
	struct race r = { .f = tree_new(0) };
	struct hl_node *d;
	pthread_t t1, t2;

	r.p1 = lookup(r.f, r.f->root, "p1");
	r.p2 = lookup(r.f, r.f->root, "p2");
	d = lookup(r.f, r.p1, "dA");
	r.leaf = lookup(r.f, d, "leaf");
	pthread_create(&t2, NULL, builder, &r);
	pthread_create(&t1, NULL, renamer, &r);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	cr_assert_eq(r.bad, 0, "%ld of %ld paths were torn or missing", r.bad, r.built);
	expect_path(r.f, r.leaf, "/p1/dA/leaf");
	tree_free(r.f);
}

/* ---- hide mode ------------------------------------------------------------------------ */

/* An open handle of @n whose RELEASE has not come (as rf_hl_open counts it). */
static void open_handle(struct hl_node *n)
{
	atomic_fetch_add(&n->open_count, 1);
	atomic_fetch_add(&n->unreleased, 1);
}

Test(hl_path, a_file_whose_releases_all_came_is_not_open)
{
	struct fuse *f = tree_new(0);
	struct hl_node *n = lookup(f, f->root, "f");

	open_handle(n);
	open_handle(n);
	cr_assert(rf_hl_is_open(f, f->root, "f"));
	atomic_fetch_sub(&n->unreleased, 1);          /* one RELEASE came */
	cr_assert(rf_hl_is_open(f, f->root, "f"), "one handle is still open");
	atomic_fetch_sub(&n->unreleased, 1);          /* the other is in service */
	cr_assert_not(rf_hl_is_open(f, f->root, "f"), "both RELEASEs came: unlink, no hide");
	tree_free(f);
}

Test(hl_path, a_hide_that_finds_the_file_closed_leaves_it_to_the_caller)
{
	struct fuse *f = tree_new(0);
	struct hl_node *n = lookup(f, f->root, "f");

	/* Its last RELEASE ran between the UNLINK's is_open and the rename: before the fix
	 * the node was marked hidden with no handle left to unlink it, for good. */
	cr_assert_eq(rf_hl_rename(f, f->root, "f", f->root, ".fuse_hidden1", true), 1);
	cr_assert_not(n->hidden);
	expect_path(f, n, "/.fuse_hidden1");
	/* Still open: hidden, for the last RELEASE to unlink. */
	open_handle(n);
	cr_assert_eq(rf_hl_rename(f, f->root, ".fuse_hidden1", f->root, ".fuse_hidden2", true), 0);
	cr_assert(n->hidden);
	/* Hidden again while its last RELEASE runs: not hidden, or both would unlink it. */
	atomic_store(&n->open_count, 0);
	cr_assert_eq(rf_hl_rename(f, f->root, ".fuse_hidden2", f->root, ".fuse_hidden3", true), 1);
	cr_assert_not(n->hidden);
	tree_free(f);
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1e3 + (t.tv_nsec - t0->tv_nsec) / 1e6;
}

struct unhide_later {
	struct fuse *f;
	struct hl_node *node;
};

static void *unhide_soon(void *arg)
{
	struct unhide_later *u = arg;

	usleep(1000);
	rf_hl_unhidden(u->f, u->node);
	return NULL;
}

/* A tree of a session served by several threads, whose RMDIRs wait up to @window_ms,
 * with directory /d holding @nfiles files f0.., all hidden now. */
static struct fuse *hidden_in_d(int window_ms, int nfiles, struct hl_node **d,
				struct hl_node **files)
{
	struct fuse *f = tree_new(0);
	char name[16], hname[32];

	f->se = calloc(1, sizeof(*f->se));
	cr_assert_not_null(f->se);
	f->se->parallel = true;
	f->hide_wait_ns = (uint64_t)window_ms * 1000000;
	*d = lookup(f, f->root, "d");
	for (int i = 0; i < nfiles; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		snprintf(hname, sizeof(hname), ".fuse_hidden%d", i);
		files[i] = lookup(f, *d, name);
		open_handle(files[i]);
		cr_assert_eq(rf_hl_rename(f, *d, name, *d, hname, true), 0);
		cr_assert(files[i]->hidden);
	}
	return f;
}

Test(hl_path, rmdir_waits_for_the_hidden_files_of_a_fresh_hide_once)
{
	struct hl_node *d, *n[1];
	/* A long window: what ends the wait here is the unlink, never the clock. */
	struct fuse *f = hidden_in_d(10000, 1, &d, n);
	struct unhide_later u = { f, n[0] };
	uint64_t start = rf_hl_now_ns(), deadline = 0;
	struct timespec t0;
	pthread_t t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(pthread_create(&t, NULL, unhide_soon, &u), 0);
	cr_assert(rf_hl_wait_hidden(f, f->root, "d", start, &deadline),
		  "the hidden file went: the RMDIR is worth a retry");
	pthread_join(t, NULL);
	cr_assert_geq(ms_since(&t0), 0.9, "it waited for the unlink");
	cr_assert_lt(ms_since(&t0), 5000.0, "it did not wait for the clock");
	cr_assert_eq(d->hides_pending, 0);
	tree_free(f);
}

struct unhide_many {
	struct fuse *f;
	struct hl_node **nodes;
	int count;
};

static void *unhide_each_soon(void *arg)
{
	struct unhide_many *u = arg;

	for (int i = 0; i < u->count; i++) {
		usleep(1000);
		rf_hl_unhidden(u->f, u->nodes[i]);
	}
	return NULL;
}

Test(hl_path, rmdir_waits_until_every_hidden_file_of_the_directory_went)
{
	struct hl_node *d, *n[3];
	struct fuse *f = hidden_in_d(10000, 3, &d, n);
	struct unhide_many u = { f, n, 3 };
	uint64_t start = rf_hl_now_ns(), deadline = 0;
	pthread_t t;

	cr_assert_eq(d->hides_pending, 3);
	cr_assert_eq(pthread_create(&t, NULL, unhide_each_soon, &u), 0);
	cr_assert(rf_hl_wait_hidden(f, f->root, "d", start, &deadline));
	cr_assert_eq(d->hides_pending, 0, "returned before the last one went");
	pthread_join(t, NULL);
	tree_free(f);
}

Test(hl_path, rmdir_of_a_file_really_held_open_waits_once_and_briefly)
{
	struct hl_node *d, *n[1];
	struct fuse *f = hidden_in_d(10000, 1, &d, n);
	uint64_t deadline = 0;
	struct timespec t0;

	/* The window is 10 s, the deadline given 20 ms. */
	deadline = rf_hl_now_ns() + 20 * 1000000ull;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_not(rf_hl_wait_hidden(f, f->root, "d", rf_hl_now_ns(), &deadline));
	cr_assert_geq(ms_since(&t0), 15.0, "it waited up to its deadline");
	/* The same hide is not waited for twice. */
	deadline = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_not(rf_hl_wait_hidden(f, f->root, "d", rf_hl_now_ns(), &deadline));
	cr_assert_lt(ms_since(&t0), 1000.0, "no second wait");
	/* Another directory costs nothing. */
	lookup(f, f->root, "e");
	deadline = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_not(rf_hl_wait_hidden(f, f->root, "e", rf_hl_now_ns(), &deadline));
	cr_assert_lt(ms_since(&t0), 1000.0, "no wait");
	tree_free(f);
}

Test(hl_path, an_old_hide_is_not_waited_for)
{
	struct hl_node *d, *n[1];
	struct fuse *f = hidden_in_d(1, 1, &d, n);   /* a 1 ms window */
	uint64_t deadline = 0;

	usleep(5000);
	cr_assert_not(rf_hl_wait_hidden(f, f->root, "d", rf_hl_now_ns(), &deadline));
	cr_assert_neq(d->waited_hide_ns, d->last_hide_ns, "no wait began");
	tree_free(f);
}

Test(hl_path, rmdir_retries_when_the_hidden_file_went_during_it)
{
	struct hl_node *d, *n[1];
	struct fuse *f = hidden_in_d(10000, 1, &d, n);
	uint64_t start = rf_hl_now_ns(), deadline = 0;

	rf_hl_unhidden(f, n[0]);   /* between the RMDIR and its wait */
	cr_assert(rf_hl_wait_hidden(f, f->root, "d", start, &deadline));
	tree_free(f);
}

Test(hl_path, rmdir_never_waits_with_one_thread_or_hard_remove)
{
	struct hl_node *d, *n[1];
	struct fuse *f = hidden_in_d(10000, 1, &d, n);
	uint64_t deadline = 0;

	f->se->parallel = false;
	cr_assert_not(rf_hl_wait_hidden(f, f->root, "d", rf_hl_now_ns(), &deadline));
	f->se->parallel = true;
	f->conf.hard_remove = 1;
	cr_assert_not(rf_hl_wait_hidden(f, f->root, "d", rf_hl_now_ns(), &deadline));
	cr_assert_eq(deadline, 0, "no wait was started");
	cr_assert_eq(d->waited_hide_ns, 0);
	tree_free(f);
}

Test(hl_path, the_last_release_takes_a_hidden_file_once)
{
	struct hl_node *d, *n[1];
	struct fuse *f = hidden_in_d(10000, 1, &d, n);
	char *p;

	cr_assert_not(rf_hl_take_hidden(f, n[0], &p), "a handle is still open");
	atomic_store(&n[0]->open_count, 0);
	cr_assert(rf_hl_take_hidden(f, n[0], &p));
	cr_assert_str_eq(p, "/d/.fuse_hidden0", "the path of the moment it was taken");
	cr_assert_not(n[0]->hidden);
	cr_assert_not(rf_hl_take_hidden(f, n[0], &p), "taken once");
	tree_free(f);
}
