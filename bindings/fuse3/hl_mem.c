/* SPDX-License-Identifier: MIT */
/*
 * hl_mem.c - the high-level layer's per-thread buffers (paths, read and readdir data: grown,
 * never allocated per request, freed when the thread exits), remember's expiry, the memory
 * trim.
 */
#include "fuse3_hl.h"
#include "fuse3_int.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

/* ---- per-thread buffers ------------------------------------------------------------ */

struct hl_tls {
	char *buf[RF_HL_TLS_SLOTS];
	size_t cap[RF_HL_TLS_SLOTS];
};

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_free(void *p)
{
	struct hl_tls *t = p;

	for (int i = 0; i < RF_HL_TLS_SLOTS; i++)
		free(t->buf[i]);
	free(t);
}

static void tls_init(void)
{
	pthread_key_create(&tls_key, tls_free);
}

/* Grows only: steady state allocates nothing. Freed when the thread exits. */
char *rf_hl_tls_buf(int slot, size_t size)
{
	struct hl_tls *t;

	pthread_once(&tls_once, tls_init);
	t = pthread_getspecific(tls_key);
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t || pthread_setspecific(tls_key, t) != 0) {
			free(t);
			return NULL;
		}
	}
	if (t->cap[slot] < size) {
		size_t cap = t->cap[slot] ? t->cap[slot] : 256;
		char *nb;

		while (cap < size)
			cap *= 2;
		nb = realloc(t->buf[slot], cap);
		if (!nb)
			return NULL;
		t->buf[slot] = nb;
		t->cap[slot] = cap;
	}
	return t->buf[slot];
}

char *rf_hl_reply_buf(fuse_req_t req, size_t size)
{
	char *buf = rf_fuse3_reply_space(req, size);

	return buf ? buf : rf_hl_tls_buf(3, size ? size : 1);
}

int rf_hl_clean(struct fuse *f)
{
	uint64_t now = rf_hl_now_ns(), age = (uint64_t)f->conf.remember * 1000000000ull;
	struct hl_node *expired = NULL, *n;
	int delay;

	if (f->conf.remember <= 0)
		return 3600;
	pthread_mutex_lock(&f->lock);
	while ((n = f->lru_head) && now - n->forget_ns >= age) {
		f->lru_head = n->lru_next;
		if (f->lru_head)
			f->lru_head->lru_prev = NULL;
		else
			f->lru_tail = NULL;
		n->on_lru = false;
		n->rem_ref = false;
		n->lru_prev = NULL;
		n->lru_next = expired;
		expired = n;
	}
	pthread_mutex_unlock(&f->lock);
	while ((n = expired)) {
		expired = n->lru_next;
		n->lru_next = NULL;
		rf_hl_put(f, n);
	}
	delay = f->conf.remember / 10;
	return delay < 1 ? 1 : delay > 3600 ? 3600 : delay;
}

void rf_hl_trim(struct fuse *f)
{
	atomic_store(&f->freed_since_trim, 0);
	malloc_trim(0);
}
