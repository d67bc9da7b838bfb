/*
 * Description: fuse_parse_cmdline (both versioned variants) and fuse_cmdline_help of the
 * libfuse3 binding (bindings/fuse3/cmdline.c). Expected results are libfuse 3.14's
 * (tests/fuse3/opt-diff.sh compares the two libraries, including the FUSE_3.0 symbol).
 */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fuse_parse_cmdline_30(struct fuse_args *args, struct fuse_cmdline_opts *opts);
int fuse_parse_cmdline_312(struct fuse_args *args, struct fuse_cmdline_opts *opts);

static char logbuf[2048];

static void capture_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
	size_t used = strlen(logbuf);

	(void)level;
	vsnprintf(logbuf + used, sizeof(logbuf) - used, fmt, ap);
}

static void setup(void)
{
	logbuf[0] = '\0';
	fuse_set_log_func(capture_log);
}

static void teardown(void)
{
	fuse_set_log_func(NULL);
}

static struct fuse_args vec(const char *const *argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);

	for (; *argv; argv++)
		cr_assert_eq(fuse_opt_add_arg(&args, *argv), 0);
	return args;
}

static void join(const struct fuse_args *args, char *out, size_t size)
{
	out[0] = '\0';
	for (int i = 0; i < args->argc; i++) {
		if (i)
			strncat(out, "|", size - strlen(out) - 1);
		strncat(out, args->argv[i], size - strlen(out) - 1);
	}
}

struct cmdline_case {
	const char *argv[8];
	int res;
	const char *out;  /* the vector afterwards */
	const char *opts; /* single fg debug nodefsub mountpoint ver help clone idle max */
	const char *log;
};

static const struct cmdline_case cases[] = {
	{ { "prog" }, 0, "prog|-osubtype=prog", "0 0 0 0 - 0 0 0 4294967295 10", "" },
	{ { "/usr/bin/hello_ll", "/tmp" }, 0, "/usr/bin/hello_ll|-osubtype=hello_ll",
	  "0 0 0 0 /tmp 0 0 0 4294967295 10", "" },
	/* A program name ending in '/' keeps its slash as the subtype, as libfuse does. */
	{ { "/usr/bin/", "/" }, 0, "/usr/bin/|-osubtype=/", "0 0 0 0 / 0 0 0 4294967295 10", "" },
	{ { "prog", "-f", "-s", "/tmp/" }, 0, "prog|-osubtype=prog",
	  "1 1 0 0 /tmp 0 0 0 4294967295 10", "" },
	/* -d and -o debug imply -f and stay for fuse_session_new. */
	{ { "prog", "-d", "/tmp" }, 0, "prog|-d|-osubtype=prog", "0 1 1 0 /tmp 0 0 0 4294967295 10",
	  "" },
	{ { "prog", "-o", "debug" }, 0, "prog|-o|debug|-osubtype=prog",
	  "0 1 1 0 - 0 0 0 4294967295 10", "" },
	{ { "prog", "--help", "-V" }, 0, "prog|-osubtype=prog", "0 0 0 0 - 1 1 0 4294967295 10", "" },
	{ { "prog", "-h", "--version" }, 0, "prog|-osubtype=prog", "0 0 0 0 - 1 1 0 4294967295 10",
	  "" },
	{ { "prog", "-o", "clone_fd,max_idle_threads=5,max_threads=3" }, 0, "prog|-osubtype=prog",
	  "0 0 0 0 - 0 0 1 5 3", "" },
	{ { "prog", "-o", "max_threads=x" }, -1, "prog|-o|max_threads=x",
	  "", "invalid parameter in option `max_threads=x'" },
	/* fsname= or subtype= turn the default subtype off and stay. */
	{ { "prog", "-o", "fsname=foo", "/tmp" }, 0, "prog|-o|fsname=foo",
	  "0 0 0 1 /tmp 0 0 0 4294967295 10", "" },
	{ { "prog", "-o", "subtype=bar,ro,allow_other" }, 0, "prog|-o|subtype=bar,ro,allow_other",
	  "0 0 0 1 - 0 0 0 4294967295 10", "" },
	{ { "prog", "/tmp", "/var" }, -1, "prog|/tmp|/var", "", "fuse: invalid argument `/var'" },
	{ { "prog", "/nonexistent/dir" }, -1, "prog|/nonexistent/dir", "",
	  "fuse: bad mount point `/nonexistent/dir': No such file or directory" },
	/* /dev/fd/N is a /dev/fuse descriptor handed over by a mount helper: taken as is. */
	{ { "prog", "/dev/fd/7" }, 0, "prog|-osubtype=prog", "0 0 0 0 /dev/fd/7 0 0 0 4294967295 10",
	  "" },
	{ { "prog", "--unknown", "-o", "a\\,b", "-x" }, 0, "prog|-o|a\\,b|--unknown|-x|-osubtype=prog",
	  "0 0 0 0 - 0 0 0 4294967295 10", "" },
	{ { "prog", "-o" }, -1, "prog|-o", "", "missing argument after `-o'" },
};

static void describe(const struct fuse_cmdline_opts *o, char *out, size_t size)
{
	snprintf(out, size, "%d %d %d %d %s %d %d %d %u %u", o->singlethread, o->foreground,
		 o->debug, o->nodefault_subtype, o->mountpoint ? o->mountpoint : "-",
		 o->show_version, o->show_help, o->clone_fd, o->max_idle_threads, o->max_threads);
}

typedef int (*parse_fn)(struct fuse_args *, struct fuse_cmdline_opts *);

static void run_table(parse_fn parse, int v30)
{
	for (size_t n = 0; n < sizeof(cases) / sizeof(cases[0]); n++) {
		const struct cmdline_case *c = &cases[n];
		struct fuse_args args = vec(c->argv);
		struct fuse_cmdline_opts o;
		char got[512];
		int res;

		logbuf[0] = '\0';
		memset(&o, 0xa5, sizeof(o));
		o.mountpoint = NULL;
		res = parse(&args, &o);
		cr_expect_eq(res, c->res, "case %zu: res %d", n, res);
		join(&args, got, sizeof(got));
		cr_expect_str_eq(got, c->out, "case %zu: vector", n);
		if (res == 0) {
			char want[256];

			describe(&o, got, sizeof(got));
			strcpy(want, c->opts);
			if (v30) /* max_threads is past the 3.0 struct: untouched */
				strcpy(strrchr(want, ' ') + 1, "2779096485");
			cr_expect_str_eq(got, want, "case %zu: opts", n);
		} else {
			cr_expect_null(o.mountpoint, "case %zu: mountpoint left allocated", n);
		}
		if (*c->log)
			cr_expect(strstr(logbuf, c->log), "case %zu: log `%s'", n, logbuf);
		else
			cr_expect_str_eq(logbuf, "", "case %zu", n);
		free(o.mountpoint);
		fuse_opt_free_args(&args);
	}
}

Test(fuse3_cmdline, default_version_table, .init = setup, .fini = teardown)
{
	run_table(fuse_parse_cmdline, 0);
}

Test(fuse3_cmdline, v312_table, .init = setup, .fini = teardown)
{
	run_table(fuse_parse_cmdline_312, 0);
}

Test(fuse3_cmdline, v30_never_writes_max_threads, .init = setup, .fini = teardown)
{
	run_table(fuse_parse_cmdline_30, 1);
}

Test(fuse3_cmdline, relative_mountpoint_becomes_absolute, .init = setup, .fini = teardown)
{
	static const char *const argv[] = { "prog", ".", NULL };
	struct fuse_args args = vec(argv);
	struct fuse_cmdline_opts o;
	char cwd[PATH_MAX];

	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
	cr_assert_eq(fuse_parse_cmdline(&args, &o), 0);
	cr_expect_str_eq(o.mountpoint, cwd);
	free(o.mountpoint);
	fuse_opt_free_args(&args);
}

Test(fuse3_cmdline, better_than_libfuse_empty_vector_is_an_error, .init = setup,
     .fini = teardown)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_cmdline_opts o;

	cr_expect_eq(fuse_parse_cmdline(&args, &o), -1);
	cr_expect_eq(fuse_parse_cmdline(NULL, &o), -1);
	cr_expect_eq(fuse_parse_cmdline(&args, NULL), -1);
	cr_expect_eq(fuse_parse_cmdline_30(&args, NULL), -1);
	cr_expect(strstr(logbuf, "empty argument vector"), "log: %s", logbuf);
}

Test(fuse3_cmdline, help_lists_every_option, .init = cr_redirect_stdout)
{
	static const char *const names[] = { "--help", "--version", "-o debug", "-f", "-s",
		"-o clone_fd", "-o max_idle_threads", "-o max_threads", "default: 10" };
	char text[4096];
	size_t n;
	FILE *f;

	fuse_cmdline_help();
	fflush(stdout);
	f = cr_get_redirected_stdout();
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		cr_expect(strstr(text, names[i]), "help lacks `%s':\n%s", names[i], text);
}
