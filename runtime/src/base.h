/* SPDX-License-Identifier: MIT */
/*
 * base.h - the ground floor every file of runtime/src may use: small macros, the log
 * (log.c) and the protocol helpers (proto.c: opcode names and defaults, attribute and
 * timeout encoding). Nothing here calls any other file of the runtime.
 */
#ifndef RF_BASE_H
#define RF_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "ringfuse.h"
#include "fuse_kernel.h"

#define RF_ALIGN(x, a) (((x) + (a) - 1) & ~((size_t)(a) - 1))
#define RF_MIN(a, b) ((a) < (b) ? (a) : (b))
#define RF_MAX(a, b) ((a) > (b) ? (a) : (b))
#define RF_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define rf_container_of(ptr, type, member) \
	((type *)((char *)(ptr) - __builtin_offsetof(type, member)))

/* CLOCK_MONOTONIC in nanoseconds (timers, latencies, rates); inline: any layer's. */
static inline uint64_t rf__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- log.c ------------------------------------------------------------------------- */

void rf__log(enum rf_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define rf__err(...)  rf__log(RF_LOG_ERR, __VA_ARGS__)
#define rf__warn(...) rf__log(RF_LOG_WARNING, __VA_ARGS__)
#define rf__info(...) rf__log(RF_LOG_INFO, __VA_ARGS__)
#define rf__dbg(...)  rf__log(RF_LOG_DEBUG, __VA_ARGS__)

/* ---- proto.c: facts of the protocol, per opcode ------------------------------------ */

/* What a request gets when the filesystem left its operation NULL. */
enum rf_op_default {
	RF_DFLT_ENOSYS = 0,  /* "not implemented": the kernel stops sending most of them */
	RF_DFLT_OK,          /* success with no payload (RELEASE, RELEASEDIR) */
	RF_DFLT_OPEN,        /* a stateless open with fh 0 (OPEN, OPENDIR) */
	RF_DFLT_STATFS,      /* an empty filesystem with 255-byte names */
};

/* One opcode as the protocol defines it. */
struct rf_opinfo {
	const char *name;
	uint16_t min_in;     /* fewest argument bytes any protocol minor sends (after the header) */
	uint8_t dflt;        /* enum rf_op_default */
	bool no_reply;       /* the kernel expects no answer (FORGET, INTERRUPT's own, ...) */
};

/* The opcode's description; a zeroed one (name NULL) for opcodes the protocol lacks. */
const struct rf_opinfo *rf__opinfo(uint32_t opcode);
const char *rf__opname(uint32_t opcode);
void rf__fill_attr(struct fuse_attr *fa, const struct stat *st);
uint64_t rf__timeout_sec(double t, uint32_t *nsec);

#endif /* RF_BASE_H */
