/*
 * fuse_log.h of libfuse 3.14: one process-wide log function, stderr by default.
 * Every other file of the binding reports through fuse_log(), so a filesystem that installs its
 * own function with fuse_set_log_func() sees the binding's messages as it saw libfuse's.
 */
#define FUSE_USE_VERSION 314
#include <fuse_log.h>

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

static void default_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
	(void)level;
	vfprintf(stderr, fmt, ap);
}

/* Atomic because the header requires the log function to be callable from any thread, and a
 * filesystem may swap it while worker threads log. NULL means the default. */
static _Atomic(fuse_log_func_t) log_func;

void fuse_set_log_func(fuse_log_func_t func)
{
	atomic_store(&log_func, func);
}

void fuse_log(enum fuse_log_level level, const char *fmt, ...)
{
	fuse_log_func_t func = atomic_load(&log_func);
	va_list ap;

	if (!fmt)
		return;
	va_start(ap, fmt);
	(func ? func : default_log)(level, fmt, ap);
	va_end(ap);
}
