/* SPDX-License-Identifier: MIT */
/*
 * log.c - where ringfuse's messages go: stderr by default, syslog once the program
 * detached (daemon.c), or the application's sink; and which levels pass.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>

#include "internal.h"
#include "cli.h"

static rf_log_cb log_cb;
static void *log_data;
static atomic_int log_level = RF_LOG_WARNING;
static bool log_syslog;

void rf_log_set(rf_log_cb cb, void *data)
{
	log_cb = cb;
	log_data = data;
}

void rf_log_set_level(enum rf_log_level level)
{
	atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

enum rf_log_level rf_log_get_level(void)
{
	return (enum rf_log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

void rf__log_to_syslog(const char *ident)
{
	openlog(ident, LOG_PID, LOG_DAEMON);
	log_syslog = true;
}

static void vlog(enum rf_log_level level, const char *fmt, va_list ap)
{
	char buf[1024], *msg = buf;
	va_list ap2;
	int n;

	if ((int)level > atomic_load_explicit(&log_level, memory_order_relaxed))
		return;
	va_copy(ap2, ap);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	/* A long line (the statistics' JSON) is written whole, not cut: it must parse. */
	if (n >= (int)sizeof(buf) && (msg = malloc((size_t)n + 1)))
		vsnprintf(msg, (size_t)n + 1, fmt, ap2);
	else
		msg = buf;
	va_end(ap2);
	if (log_cb)
		log_cb(level, msg, log_data);
	else if (log_syslog)
		syslog((int)level, "%s", msg);   /* RF_LOG_* are syslog's numbers */
	else
		fprintf(stderr, "ringfuse: %s\n", msg);
	if (msg != buf)
		free(msg);
}

void rf__log(enum rf_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

void rf_log(enum rf_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}
