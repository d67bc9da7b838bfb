/* SPDX-License-Identifier: MIT */
/*
 * req.c - what a handler may ask of its request: the caller, the session, whether it was
 * interrupted. Replies, and the end of a request's life, are reply.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const struct rf_ctx *rf_req_ctx(const struct rf_req *req)
{
	return &req->ctx;
}

void *rf_req_userdata(const struct rf_req *req)
{
	return req->se->userdata;
}

struct rf_session *rf_req_session(const struct rf_req *req)
{
	return req->se;
}

struct rf_loop *rf_req_loop(const struct rf_req *req)
{
	return req->ch->loop;
}

uint64_t rf_req_unique(const struct rf_req *req)
{
	return req->in.unique;
}

uint32_t rf_req_opcode(const struct rf_req *req)
{
	return req->in.opcode;
}

void *rf_req_scratch(struct rf_req *req, size_t size)
{
	if (size > sizeof(req->scratch))
		return NULL;
	memset(req->scratch, 0, size);
	return req->scratch;
}

int rf_req_interrupted(const struct rf_req *req)
{
	return atomic_load(&((struct rf_req *)req)->interrupted);
}

void rf_req_on_interrupt(struct rf_req *req, rf_interrupt_cb cb, void *data)
{
	req->intr_data = data;
	__atomic_store_n(&req->intr_cb, cb, __ATOMIC_RELEASE);
	/* Against an INTERRUPT read on another thread at this moment (rf__interrupt_hook):
	 * one of us sees the other's store, and the exchange lets only one call. */
	atomic_thread_fence(memory_order_seq_cst);
	if (cb && atomic_load(&req->interrupted) && !atomic_exchange(&req->intr_called, true))
		cb(req, data);
}

int rf_req_groups(const struct rf_req *req, gid_t *list, int size)
{
	char path[64], line[4096];
	FILE *f;
	int n = -ENOENT;

	snprintf(path, sizeof(path), "/proc/%u/status", (unsigned int)req->ctx.pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *p, *end;

		if (strncmp(line, "Groups:", 7) != 0)
			continue;
		n = 0;
		for (p = line + 7;; p = end) {
			unsigned long g = strtoul(p, &end, 10);

			if (end == p)
				break;
			if (n < size)
				list[n] = (gid_t)g;
			n++;
		}
		break;
	}
	fclose(f);
	return n;
}
