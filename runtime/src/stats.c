/* SPDX-License-Identifier: MIT */
/*
 * stats.c - the session's live counters (struct rf_stats in ringfuse.h): requests per
 * opcode, errors per errno, in flight and peak, parked requests and their wait, interrupts,
 * backing operations by where they ran, the loops' kernel entries and SQEs, latency per opcode in log2 buckets. Relaxed atomic
 * increments from every loop thread, cheap enough to be always on; rf_session_stats copies
 * them out and rf_stats_json formats a snapshot.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

static inline void add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static unsigned int op_index(uint32_t opcode)
{
	return opcode < RF_STATS_OPCODES ? opcode : 0;
}

void rf__stats_received(struct rf_req *req)
{
	struct rf_stats_state *st = &req->se->stats;
	uint64_t now, peak;

	req->t_in = rf__now_ns();
	req->counted = true;
	add(&st->requests[op_index(req->in.opcode)], 1);
	now = atomic_fetch_add_explicit(&st->in_flight, 1, memory_order_relaxed) + 1;
	peak = atomic_load_explicit(&st->in_flight_peak, memory_order_relaxed);
	while (now > peak && !atomic_compare_exchange_weak_explicit(&st->in_flight_peak, &peak,
								     now, memory_order_relaxed,
								     memory_order_relaxed))
		;
}

/* Bucket 0: < 1 us; bucket b: [2^(b-1), 2^b) us; the last one takes the rest. */
static unsigned int lat_bucket(uint64_t ns)
{
	uint64_t us = ns / 1000;
	unsigned int b = us ? 64 - (unsigned int)__builtin_clzll(us) : 0;

	return b < RF_STATS_LAT_BUCKETS ? b : RF_STATS_LAT_BUCKETS - 1;
}

void rf__stats_replied(struct rf_req *req, int err)
{
	struct rf_stats_state *st = &req->se->stats;

	if (!req->counted)
		return;
	add(&st->replies, 1);
	if (err < 0)
		add(&st->errors[-err < RF_STATS_ERRNOS ? -err : 0], 1);
	add(&st->latency[op_index(req->in.opcode)][lat_bucket(rf__now_ns() - req->t_in)], 1);
}

void rf__stats_finished(struct rf_req *req)
{
	if (!req->counted)
		return;
	req->counted = false;
	atomic_fetch_sub_explicit(&req->se->stats.in_flight, 1, memory_order_relaxed);
}

void rf__stats_parked(struct rf_req *req, bool parked)
{
	struct rf_stats_state *st = &req->se->stats;

	if (parked) {
		req->t_park = rf__now_ns();
		add(&st->parked, 1);
		add(&st->parked_total, 1);
	} else {
		atomic_fetch_sub_explicit(&st->parked, 1, memory_order_relaxed);
		add(&st->parked_wait_us, (rf__now_ns() - req->t_park) / 1000);
	}
}

void rf__stats_count(struct rf_session *se, enum rf_stat what)
{
	switch (what) {
	case RF_STAT_INTERRUPT:
		add(&se->stats.interrupts, 1);
		break;
	case RF_STAT_BACKING_RING:
		add(&se->stats.backing_ring, 1);
		break;
	case RF_STAT_BACKING_INLINE:
		add(&se->stats.backing_inline, 1);
		break;
	case RF_STAT_BACKING_WORKER:
		add(&se->stats.backing_worker, 1);
		break;
	}
}

#define LOAD(c) atomic_load_explicit(&(c), memory_order_relaxed)

int rf_session_stats(const struct rf_session *se, struct rf_stats *out)
{
	struct rf_session *mse = (struct rf_session *)se;  /* the walk is counted in it */
	struct rf_stats_state *st;
	struct rf_extra *ex;
	int i, j, n;

	if (!se || !out)
		return -EINVAL;
	st = (struct rf_stats_state *)&se->stats;
	memset(out, 0, sizeof(*out));
	for (i = 0; i < RF_STATS_OPCODES; i++) {
		out->requests[i] = LOAD(st->requests[i]);
		for (j = 0; j < RF_STATS_LAT_BUCKETS; j++)
			out->latency[i][j] = LOAD(st->latency[i][j]);
	}
	for (i = 0; i < RF_STATS_ERRNOS; i++)
		out->errors[i] = LOAD(st->errors[i]);
	out->replies = LOAD(st->replies);
	out->in_flight = LOAD(st->in_flight);
	out->in_flight_peak = LOAD(st->in_flight_peak);
	out->parked = LOAD(st->parked);
	out->parked_total = LOAD(st->parked_total);
	out->parked_wait_us = LOAD(st->parked_wait_us);
	out->interrupts = LOAD(st->interrupts);
	out->backing_ring = LOAD(st->backing_ring);
	out->backing_inline = LOAD(st->backing_inline);
	out->backing_worker = LOAD(st->backing_worker);
	out->nodes = LOAD(st->nodes) ? LOAD(st->nodes) : 1;   /* the root, before any lookup */
	/* The loops count their own kernel entries and SQEs (loop.c): the session's share is
	 * the sum over its loops. */
	if (se->loop) {
		out->loop_enters += LOAD(se->loop->enters);
		out->loop_sqes += LOAD(se->loop->sqes);
	}
	ex = rf__extra_begin(mse, &n);
	for (i = 0; ex && i < n; i++) {
		struct rf_loop *l = rf__extra_loop(&ex[i]);

		if (!l)
			continue;
		out->loop_enters += LOAD(l->enters);
		out->loop_sqes += LOAD(l->sqes);
	}
	rf__extra_end(mse);
	return 0;
}

/* snprintf that keeps counting past the end of the buffer. */
struct out {
	char *buf;
	size_t size, len;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->len < o->size ? o->buf + o->len : NULL,
		      o->len < o->size ? o->size - o->len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

int rf_stats_json(const struct rf_stats *st, char *buf, size_t size)
{
	struct out o = { buf, size, 0 };
	const char *sep = "";
	int i, j;

	if (!st || (!buf && size))
		return -EINVAL;
	if (size)
		buf[0] = '\0';
	put(&o, "{\"replies\":%llu,\"in_flight\":%llu,\"in_flight_peak\":%llu,\"parked\":%llu,"
		"\"parked_total\":%llu,\"parked_wait_us\":%llu,\"interrupts\":%llu,"
		"\"backing\":{\"ring\":%llu,\"inline\":%llu,\"worker\":%llu},\"nodes\":%llu,"
		"\"loop_enters\":%llu,\"loop_sqes\":%llu,\"requests\":{",
	    (unsigned long long)st->replies, (unsigned long long)st->in_flight,
	    (unsigned long long)st->in_flight_peak, (unsigned long long)st->parked,
	    (unsigned long long)st->parked_total, (unsigned long long)st->parked_wait_us,
	    (unsigned long long)st->interrupts, (unsigned long long)st->backing_ring,
	    (unsigned long long)st->backing_inline, (unsigned long long)st->backing_worker,
	    (unsigned long long)st->nodes, (unsigned long long)st->loop_enters,
	    (unsigned long long)st->loop_sqes);
	for (i = 0; i < RF_STATS_OPCODES; i++) {
		if (!st->requests[i])
			continue;
		put(&o, "%s\"%s\":%llu", sep, i ? rf__opname((uint32_t)i) : "OTHER",
		    (unsigned long long)st->requests[i]);
		sep = ",";
	}
	put(&o, "},\"errors\":{");
	for (sep = "", i = 0; i < RF_STATS_ERRNOS; i++) {
		const char *name = i ? strerrorname_np(i) : NULL;

		if (!st->errors[i])
			continue;
		put(&o, "%s\"%s\":%llu", sep, name ? name : "OTHER",
		    (unsigned long long)st->errors[i]);
		sep = ",";
	}
	put(&o, "},\"latency_us_log2\":{");
	for (sep = "", i = 0; i < RF_STATS_OPCODES; i++) {
		const char *s2 = "";

		if (!st->requests[i])
			continue;
		put(&o, "%s\"%s\":[", sep, i ? rf__opname((uint32_t)i) : "OTHER");
		for (j = 0; j < RF_STATS_LAT_BUCKETS; j++, s2 = ",")
			put(&o, "%s%llu", s2, (unsigned long long)st->latency[i][j]);
		put(&o, "]");
		sep = ",";
	}
	put(&o, "}}");
	return o.len > INT32_MAX ? INT32_MAX : (int)o.len;
}
