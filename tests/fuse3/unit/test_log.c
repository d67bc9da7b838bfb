/*
 * Description: fuse_log and fuse_set_log_func of the libfuse3 binding (bindings/fuse3/log.c):
 * stderr by default, a custom function gets every level and the formatted arguments, NULL
 * restores the default, and concurrent loggers never see a torn function pointer.
 */
#define FUSE_USE_VERSION 314
#include <fuse_log.h>

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static char seen[1024];
static int levels_seen[8];

static void capture(enum fuse_log_level level, const char *fmt, va_list ap)
{
	size_t used = strlen(seen);

	if ((unsigned)level < 8)
		levels_seen[level]++;
	vsnprintf(seen + used, sizeof(seen) - used, fmt, ap);
}

Test(fuse3_log, default_goes_to_stderr_at_every_level, .init = cr_redirect_stderr)
{
	fuse_set_log_func(NULL);
	fuse_log(FUSE_LOG_ERR, "err %d\n", 1);
	fuse_log(FUSE_LOG_DEBUG, "debug %s\n", "two");
	fflush(stderr);
	cr_expect_stderr_eq_str("err 1\ndebug two\n");
}

Test(fuse3_log, custom_function_gets_level_and_arguments)
{
	static const enum fuse_log_level all[] = { FUSE_LOG_EMERG, FUSE_LOG_ALERT, FUSE_LOG_CRIT,
		FUSE_LOG_ERR, FUSE_LOG_WARNING, FUSE_LOG_NOTICE, FUSE_LOG_INFO, FUSE_LOG_DEBUG };

	seen[0] = '\0';
	memset(levels_seen, 0, sizeof(levels_seen));
	fuse_set_log_func(capture);
	for (size_t i = 0; i < 8; i++)
		fuse_log(all[i], "%zu:%s;", i, "x");
	fuse_set_log_func(NULL);
	cr_expect_str_eq(seen, "0:x;1:x;2:x;3:x;4:x;5:x;6:x;7:x;");
	for (int i = 0; i < 8; i++)
		cr_expect_eq(levels_seen[i], 1, "level %d", i);
}

Test(fuse3_log, null_restores_the_default, .init = cr_redirect_stderr)
{
	seen[0] = '\0';
	fuse_set_log_func(capture);
	fuse_log(FUSE_LOG_INFO, "to capture\n");
	fuse_set_log_func(NULL);
	fuse_log(FUSE_LOG_INFO, "to stderr\n");
	fflush(stderr);
	cr_expect_str_eq(seen, "to capture\n");
	cr_expect_stderr_eq_str("to stderr\n");
}

static atomic_int calls_a, calls_b;

static void count_a(enum fuse_log_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	atomic_fetch_add(&calls_a, 1);
}

static void count_b(enum fuse_log_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	atomic_fetch_add(&calls_b, 1);
}

static void *log_many(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20000; i++)
		fuse_log(FUSE_LOG_DEBUG, "%d\n", i);
	return NULL;
}

/* The header requires the log path to be thread-safe; a swap while others log must land
 * every message in one of the two functions (TSan-free by construction: an atomic). */
Test(fuse3_log, swapping_while_threads_log_loses_nothing, .timeout = 30)
{
	pthread_t t[3];

	fuse_set_log_func(count_a);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, log_many, NULL), 0);
	for (int i = 0; i < 2000; i++)
		fuse_set_log_func(i % 2 ? count_a : count_b);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	fuse_set_log_func(NULL);
	cr_expect_eq(atomic_load(&calls_a) + atomic_load(&calls_b), 60000);
}

Test(fuse3_log, null_format_is_ignored)
{
	seen[0] = '\0';
	fuse_set_log_func(capture);
	fuse_log(FUSE_LOG_ERR, NULL);
	fuse_set_log_func(NULL);
	cr_expect_str_eq(seen, "");
}
