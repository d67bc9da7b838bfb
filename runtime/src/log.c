/* SPDX-License-Identifier: MIT */
/*
 * log.c - where ringfuse's messages go: stderr by default, or the application's sink.
 */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

static rf_log_cb log_cb;
static void *log_data;

void rf_log_set(rf_log_cb cb, void *data)
{
	log_cb = cb;
	log_data = data;
}

void rf__log(enum rf_log_level level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_cb)
		log_cb(level, msg, log_data);
	else
		fprintf(stderr, "ringfuse: %s\n", msg);
}
