/*
 * Description: fuse_opt_* of the libfuse3 binding (bindings/fuse3/opt.c). The tables' expected
 * results are those of Debian's libfuse 3.14 (tests/fuse3/opt-diff.sh compares the two
 * libraries on a larger table); the "better_than_libfuse" cases are inputs on which libfuse
 * asserts or crashes.
 */
#define FUSE_USE_VERSION 314
#include <fuse_log.h>
#include <fuse_opt.h>

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char logbuf[4096];

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

/* "a|b|c" -> a vector the parser owns. */
static struct fuse_args split(const char *joined)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	char *copy = strdup(joined);

	cr_assert_not_null(copy);
	if (*joined) {
		/* strtok_r would merge empty fields, and "" is a legal argument: split by hand. */
		char *s = copy;

		for (;;) {
			char *bar = strchr(s, '|');

			if (bar)
				*bar = '\0';
			cr_assert_eq(fuse_opt_add_arg(&args, s), 0);
			if (!bar)
				break;
			s = bar + 1;
		}
	}
	free(copy);
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
	cr_assert_null(args->argv ? args->argv[args->argc] : NULL, "vector not NULL-terminated");
}

struct data {
	int a, flag, y, both, keyed;
	unsigned u;
	unsigned long lu;
	int oct, x;
	char *s, *z;
};

#define O(t, f, v) { t, offsetof(struct data, f), v }

static const struct fuse_opt opts[] = {
	O("-a", a, 1),
	O("flag", flag, 3),
	O("uint=%u", u, 0),
	O("ulong=%lu", lu, 0),
	O("mode=%o", oct, 0),
	O("str=%s", s, 0),
	O("-x %d", x, 0),
	O("-y ", y, 5),
	O("both", both, 2),
	FUSE_OPT_KEY("both", 102),
	O("-z %s", z, 0),
	FUSE_OPT_KEY("-k", 100),
	FUSE_OPT_KEY("key=", 101),
	FUSE_OPT_KEY("keep", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("discard", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_END
};

static char calls[1024];

/* Logs "key:arg;" per call. "ERR" -> -1, "DROP" -> 0, "ADD" appends "added", else keep. */
static int proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	char one[128];

	(void)data;
	snprintf(one, sizeof(one), "%d:%s;", key, arg);
	strncat(calls, one, sizeof(calls) - strlen(calls) - 1);
	if (strstr(arg, "ERR"))
		return -1;
	if (strstr(arg, "DROP"))
		return 0;
	if (strstr(arg, "ADD"))
		return fuse_opt_add_arg(outargs, "added") == -1 ? -1 : 1;
	return 1;
}

static void dump(const struct data *d, char *out, size_t size)
{
	snprintf(out, size, "a=%d flag=%d y=%d both=%d u=%u lu=%lu oct=%o x=%d s=%s z=%s", d->a,
		 d->flag, d->y, d->both, d->u, d->lu, d->oct, d->x, d->s ? d->s : "-",
		 d->z ? d->z : "-");
}

#define ZERO "a=0 flag=0 y=0 both=0 u=0 lu=0 oct=0 x=0 s=- z=-"

struct parse_case {
	const char *in;    /* argv, '|'-separated */
	int res;
	const char *out;   /* the vector afterwards (unchanged input when res is -1) */
	const char *data;  /* dump() afterwards */
	const char *calls; /* the processing function's calls */
	const char *log;   /* expected in the log, or "" for nothing logged */
};

static const struct parse_case parse_cases[] = {
	{ "prog", 0, "prog", ZERO, "", "" },
	{ "prog|-a|mnt", 0, "prog|mnt", "a=1 flag=0 y=0 both=0 u=0 lu=0 oct=0 x=0 s=- z=-",
	  "-2:mnt;", "" },
	/* -o groups: -ofoo, -o foo, several groups joined into one in front. */
	{ "prog|-oflag|-o|uint=42,ulong=7|x", 0, "prog|x",
	  "a=0 flag=3 y=0 both=0 u=42 lu=7 oct=0 x=0 s=- z=-", "-2:x;", "" },
	{ "prog|-o|unknown1|-ounknown2,flag", 0, "prog|-o|unknown1,unknown2",
	  "a=0 flag=3 y=0 both=0 u=0 lu=0 oct=0 x=0 s=- z=-", "-1:unknown1;-1:unknown2;", "" },
	{ "prog|-o", -1, "prog|-o", ZERO, "", "missing argument after `-o'" },
	/* Formats go through sscanf: trailing junk is ignored, no digits is an error. */
	{ "prog|-o|uint=12abc,mode=755", 0, "prog",
	  "a=0 flag=0 y=0 both=0 u=12 lu=0 oct=755 x=0 s=- z=-", "", "" },
	{ "prog|-o|uint=abc", -1, "prog|-o|uint=abc", ZERO, "",
	  "invalid parameter in option `uint=abc'" },
	{ "prog|-o|str=one,str=two", 0, "prog",
	  "a=0 flag=0 y=0 both=0 u=0 lu=0 oct=0 x=0 s=two z=-", "", "" },
	/* "-x %d" takes "-x 17" and "-x17"; "-y " with no format stores its value. */
	{ "prog|-x|17", 0, "prog", "a=0 flag=0 y=0 both=0 u=0 lu=0 oct=0 x=17 s=- z=-", "", "" },
	{ "prog|-x17", 0, "prog", "a=0 flag=0 y=0 both=0 u=0 lu=0 oct=0 x=17 s=- z=-", "", "" },
	{ "prog|-x", -1, "prog|-x", ZERO, "", "missing argument after `-x'" },
	{ "prog|-y|anything", 0, "prog", "a=0 flag=0 y=5 both=0 u=0 lu=0 oct=0 x=0 s=- z=-", "",
	  "" },
	{ "prog|-z|val", 0, "prog", "a=0 flag=0 y=0 both=0 u=0 lu=0 oct=0 x=0 s=- z=val", "", "" },
	/* Every matching template acts: a store and a key. */
	{ "prog|-oboth", 0, "prog|-o|both", "a=0 flag=0 y=0 both=2 u=0 lu=0 oct=0 x=0 s=- z=-",
	  "102:both;", "" },
	/* Keys: the function sees -ofoo without "-o", KEEP and DISCARD skip it. */
	{ "prog|-k|-o|key=v,keep,discard", 0, "prog|-o|key=v,keep|-k", ZERO, "100:-k;101:key=v;",
	  "" },
	{ "prog|-k|-okey", 0, "prog|-o|key|-k", ZERO, "100:-k;-1:key;", "" },
	/* Escapes in -o: "\," is a comma inside an item, "\\" a backslash, \ooo an octal byte;
	 * kept items are escaped again. */
	{ "prog|-o|a\\,b,c\\\\d,\\101\\060", 0, "prog|-o|a\\,b,c\\\\d,A0", ZERO,
	  "-1:a,b;-1:c\\d;-1:A0;", "" },
	/* Empty items: the empty list swallows its first comma (as libfuse's add_opt does). */
	{ "prog|-o|,a", 0, "prog|-o|a", ZERO, "-1:;-1:a;", "" },
	{ "prog|-o|a,,b", 0, "prog|-o|a,,b", ZERO, "-1:a;-1:;-1:b;", "" },
	/* "--": the rest are non-options; a trailing "--" goes unless a -o group was put in
	 * front of it (libfuse compares positions from before the insertion). */
	{ "prog|--|-a|-ofoo", 0, "prog|--|-a|-ofoo", ZERO, "-2:-a;-2:-ofoo;", "" },
	{ "prog|-a|--", 0, "prog", "a=1 flag=0 y=0 both=0 u=0 lu=0 oct=0 x=0 s=- z=-", "", "" },
	{ "prog|-o|opt|--", 0, "prog|-o|opt|--", ZERO, "-1:opt;", "" },
	{ "prog|--|x|--", 0, "prog|--|x|--", ZERO, "-2:x;-2:--;", "" },
	/* The processing function decides: -1 fails the whole parse and leaves args alone. */
	{ "prog|-a|-oERR", -1, "prog|-a|-oERR", "a=1 flag=0 y=0 both=0 u=0 lu=0 oct=0 x=0 s=- z=-",
	  "-1:ERR;", "" },
	{ "prog|-oDROP,kept|-DROP|DROP|kept", 0, "prog|-o|kept|kept", ZERO,
	  "-1:DROP;-1:kept;-1:-DROP;-2:DROP;-2:kept;", "" },
	{ "prog|-ADD|x", 0, "prog|added|-ADD|x", ZERO, "-1:-ADD;-2:x;", "" },
	{ "|-a", 0, "", "a=1 flag=0 y=0 both=0 u=0 lu=0 oct=0 x=0 s=- z=-", "", "" },
};

static void run_parse_case(const struct parse_case *c)
{
	struct fuse_args args = split(c->in);
	struct data d = { 0 };
	char got[1024];
	int res;

	calls[0] = '\0';
	res = fuse_opt_parse(&args, &d, opts, proc);
	cr_expect_eq(res, c->res, "%s: res %d", c->in, res);
	join(&args, got, sizeof(got));
	cr_expect_str_eq(got, c->out, "%s: vector", c->in);
	cr_expect_eq(args.allocated, 1, "%s: not allocated", c->in);
	dump(&d, got, sizeof(got));
	cr_expect_str_eq(got, c->data, "%s: data", c->in);
	cr_expect_str_eq(calls, c->calls, "%s: calls", c->in);
	if (*c->log)
		cr_expect(strstr(logbuf, c->log), "%s: log has `%s', want `%s'", c->in, logbuf,
			  c->log);
	else
		cr_expect_str_eq(logbuf, "", "%s: unexpected log", c->in);
	free(d.s);
	free(d.z);
	fuse_opt_free_args(&args);
}

Test(fuse3_opt, parse_table, .init = setup, .fini = teardown, .timeout = 10)
{
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		logbuf[0] = '\0';
		run_parse_case(&parse_cases[i]);
	}
}

Test(fuse3_opt, null_proc_keeps_and_null_opts_match_nothing, .init = setup, .fini = teardown)
{
	struct fuse_args args = split("prog|-a|-ofoo,bar|mnt|--|-b");
	char got[256];

	cr_assert_eq(fuse_opt_parse(&args, NULL, NULL, NULL), 0);
	join(&args, got, sizeof(got));
	cr_expect_str_eq(got, "prog|-o|foo,bar|-a|mnt|--|-b");
	fuse_opt_free_args(&args);
}

Test(fuse3_opt, empty_or_null_args_are_nothing_to_do, .init = setup, .fini = teardown)
{
	struct fuse_args empty = FUSE_ARGS_INIT(0, NULL);

	cr_expect_eq(fuse_opt_parse(NULL, NULL, opts, proc), 0);
	cr_expect_eq(fuse_opt_parse(&empty, NULL, opts, proc), 0);
	cr_expect_eq(empty.argc, 0);
	cr_expect_null(empty.argv);
}

Test(fuse3_opt, parse_leaves_a_callers_argv_alone, .init = setup, .fini = teardown)
{
	char a0[] = "prog", a1[] = "-oflag", a2[] = "mnt";
	char *argv[] = { a0, a1, a2, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	struct data d = { 0 };
	char got[256];

	cr_assert_eq(fuse_opt_parse(&args, &d, opts, NULL), 0);
	join(&args, got, sizeof(got));
	cr_expect_str_eq(got, "prog|mnt");
	cr_expect_eq(args.allocated, 1);
	cr_expect_neq(args.argv, argv);
	cr_expect_str_eq(argv[1], "-oflag");
	cr_expect_eq(d.flag, 3);
	fuse_opt_free_args(&args);
}

struct add_opt_case {
	const char *adds[4];
	const char *plain, *escaped;
};

static const struct add_opt_case add_opt_cases[] = {
	{ { "a" }, "a", "a" },
	{ { "a", "b" }, "a,b", "a,b" },
	{ { "a,b", "c\\d" }, "a,b,c\\d", "a\\,b,c\\\\d" },
	{ { "", "x" }, "x", "x" },
	{ { "x", "", "y" }, "x,,y", "x,,y" },
	{ { "" }, "", "" },
};

Test(fuse3_opt, add_opt_table)
{
	for (size_t n = 0; n < sizeof(add_opt_cases) / sizeof(add_opt_cases[0]); n++) {
		const struct add_opt_case *c = &add_opt_cases[n];
		char *plain = NULL, *esc = NULL;

		for (int i = 0; i < 4 && c->adds[i]; i++) {
			cr_assert_eq(fuse_opt_add_opt(&plain, c->adds[i]), 0);
			cr_assert_eq(fuse_opt_add_opt_escaped(&esc, c->adds[i]), 0);
		}
		cr_expect_str_eq(plain, c->plain, "case %zu", n);
		cr_expect_str_eq(esc, c->escaped, "case %zu", n);
		free(plain);
		free(esc);
	}
}

Test(fuse3_opt, escaped_list_parses_back_to_the_same_items, .init = setup, .fini = teardown)
{
	static const char *const items[] = { "fsname=a,b", "x\\y", "\\,", "plain" };
	char *list = NULL, got[256];
	struct fuse_args args;

	for (size_t i = 0; i < 4; i++)
		cr_assert_eq(fuse_opt_add_opt_escaped(&list, items[i]), 0);
	args = split("prog|-o");
	cr_assert_eq(fuse_opt_add_arg(&args, list), 0);
	calls[0] = '\0';
	cr_assert_eq(fuse_opt_parse(&args, NULL, NULL, proc), 0);
	cr_expect_str_eq(calls, "-1:fsname=a,b;-1:x\\y;-1:\\,;-1:plain;");
	join(&args, got, sizeof(got));
	cr_expect_str_eq(got, "prog|-o|fsname=a\\,b,x\\\\y,\\\\\\,,plain");
	free(list);
	fuse_opt_free_args(&args);
}

Test(fuse3_opt, add_and_insert_build_a_terminated_vector)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	char got[256];

	cr_assert_eq(fuse_opt_insert_arg(&args, 0, "only"), 0);
	cr_assert_eq(fuse_opt_add_arg(&args, "two"), 0);
	cr_assert_eq(fuse_opt_insert_arg(&args, 0, "zero"), 0);
	cr_assert_eq(fuse_opt_insert_arg(&args, 3, "end"), 0);
	cr_assert_eq(fuse_opt_insert_arg(&args, 2, "mid"), 0);
	join(&args, got, sizeof(got));
	cr_expect_str_eq(got, "zero|only|mid|two|end");
	fuse_opt_free_args(&args);
	cr_expect_eq(args.argc, 0);
	cr_expect_null(args.argv);
	cr_expect_eq(args.allocated, 0);
	fuse_opt_free_args(&args);
	fuse_opt_free_args(NULL);
}

struct match_case {
	const char *opt;
	int want;
};

static const struct match_case match_cases[] = {
	{ "-a", 1 }, { "-ab", 0 }, { "flag", 1 }, { "-oflag", 0 }, { "uint=", 1 },
	{ "uint=5", 1 }, { "uint", 0 }, { "-x", 1 }, { "-x5", 1 }, { "-x 5", 1 },
	{ "str=", 1 }, { "-z", 1 }, { "key=", 1 }, { "key", 0 }, { "", 0 }, { "unknown", 0 },
};

Test(fuse3_opt, match_table)
{
	for (size_t n = 0; n < sizeof(match_cases) / sizeof(match_cases[0]); n++)
		cr_expect_eq(fuse_opt_match(opts, match_cases[n].opt), match_cases[n].want, "`%s'",
			     match_cases[n].opt);
}

Test(fuse3_opt, match_with_no_table_is_no_match)
{
	cr_expect_eq(fuse_opt_match(NULL, "-a"), 0);
	cr_expect_eq(fuse_opt_match(opts, NULL), 0);
}

/* ---- inputs on which libfuse 3.14 asserts or crashes ---------------------------------- */

Test(fuse3_opt, better_than_libfuse_add_to_callers_argv_copies_it, .init = setup,
     .fini = teardown)
{
	char a0[] = "prog", a1[] = "mnt";
	char *argv[] = { a0, a1, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(2, argv);
	char got[256];

	cr_assert_eq(fuse_opt_add_arg(&args, "-f"), 0);
	cr_assert_eq(fuse_opt_insert_arg(&args, 1, "-d"), 0);
	join(&args, got, sizeof(got));
	cr_expect_str_eq(got, "prog|-d|mnt|-f");
	cr_expect_eq(args.allocated, 1);
	cr_expect_eq(argv[0], a0);
	cr_expect_eq(argv[1], a1);
	cr_expect_null(argv[2]);
	fuse_opt_free_args(&args);
}

Test(fuse3_opt, better_than_libfuse_bad_arguments_are_errors, .init = setup, .fini = teardown)
{
	struct fuse_args args = split("prog|x");
	char *list = NULL;

	cr_expect_eq(fuse_opt_insert_arg(&args, 3, "far"), -1);
	cr_expect_eq(fuse_opt_insert_arg(&args, -1, "neg"), -1);
	cr_expect_eq(fuse_opt_add_arg(&args, NULL), -1);
	cr_expect_eq(fuse_opt_add_arg(NULL, "x"), -1);
	cr_expect_eq(fuse_opt_add_opt(NULL, "x"), -1);
	cr_expect_eq(fuse_opt_add_opt_escaped(&list, NULL), -1);
	cr_expect_eq(args.argc, 2);
	cr_expect(strstr(logbuf, "out of range"), "log: %s", logbuf);
	fuse_opt_free_args(&args);
}

Test(fuse3_opt, better_than_libfuse_store_into_null_data_fails, .init = setup, .fini = teardown)
{
	struct fuse_args args = split("prog|-a");

	cr_expect_eq(fuse_opt_parse(&args, NULL, opts, NULL), -1);
	cr_expect(strstr(logbuf, "stores into NULL data"), "log: %s", logbuf);
	cr_expect_eq(args.argc, 2);
	fuse_opt_free_args(&args);
}

Test(fuse3_opt, better_than_libfuse_null_inside_argv_fails, .init = setup, .fini = teardown)
{
	char a0[] = "prog", a2[] = "x";
	char *argv[] = { a0, NULL, a2, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);

	cr_expect_eq(fuse_opt_parse(&args, NULL, NULL, NULL), -1);
	cr_expect(strstr(logbuf, "NULL in argument vector"), "log: %s", logbuf);
	cr_expect_eq(args.argv, argv);
}
