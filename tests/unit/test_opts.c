/* SPDX-License-Identifier: MIT */
/*
 * test_opts.c - the command line as rf_opts_parse reads it: what each accepted line sets,
 * that every malformed or unknown option is refused with its name in the message (before
 * anything could mount), -h and -V, the filesystem's declared keys (rf_opt_spec), and log
 * levels. Public API only.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>

#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include "ringfuse.h"

#define MAX_ARGS 12

/* Split @line at spaces into argv (argv[0] = "prog"); @buf holds the words. */
static int split(const char *line, char *buf, size_t cap, char **argv)
{
	int argc = 0;
	char *save = NULL, *w;

	snprintf(buf, cap, "prog %s", line);
	for (w = strtok_r(buf, " ", &save); w && argc < MAX_ARGS; w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	argv[argc] = NULL;
	return argc;
}

/* The log, captured: the messages of the last parse. */
static char logged[4096];
static int logged_n;

static void capture(enum rf_log_level level, const char *msg, void *data)
{
	size_t len = strlen(logged);

	logged_n++;
	snprintf(logged + len, sizeof(logged) - len, "[%d] %s\n", (int)level, msg);
}

static void log_setup(void)
{
	logged[0] = '\0';
	logged_n = 0;
	rf_log_set(capture, NULL);
}

static void log_teardown(void)
{
	rf_log_set(NULL, NULL);
}

static const struct rf_opt_spec fs_spec[] = {
	{ "size", "BYTES", "capacity" },
	{ "zero", NULL, "clear reads" },
	{ "hidden", NULL, NULL },
	{ NULL, NULL, NULL },
};

/* Parse @line (with fs_spec if @with_spec). */
static int parse(struct rf_opts *opts, const char *line, bool with_spec)
{
	char buf[512], *argv[MAX_ARGS + 1];
	int argc = split(line, buf, sizeof(buf), argv);

	rf_opts_init(opts);
	if (with_spec)
		opts->fs_spec = fs_spec;
	return rf_opts_parse(opts, argc, argv);
}

/* ---- lines that parse ---------------------------------------------------------------- */

struct good {
	const char *line;
	const char *mountpoint, *source, *fsname, *subtype;
	int foreground, debug, allow_other, allow_root, threads, transport, no_pin, inline_mode;
	unsigned long flags_set, flags_clear;
	uint32_t max_write, queue_depth;
	const char *fs_opts;
};

static const struct good goods[] = {
	{ .line = "/mnt", .mountpoint = "/mnt", .threads = 0, .queue_depth = 64,
	  .flags_set = MS_NOSUID | MS_NODEV },
	{ .line = "-f /mnt", .mountpoint = "/mnt", .foreground = 1, .threads = 0,
	  .queue_depth = 64 },
	{ .line = "-d /mnt", .mountpoint = "/mnt", .foreground = 1, .debug = 1, .threads = 0,
	  .queue_depth = 64 },
	/* mount(8) / mount.fuse3: PROG SOURCE MOUNTPOINT -o opts; the source is the fsname. */
	{ .line = "src /mnt -o rw,dev,suid", .mountpoint = "/mnt", .source = "src",
	  .fsname = "src", .threads = 0, .queue_depth = 64,
	  .flags_clear = MS_NOSUID | MS_NODEV | MS_RDONLY },
	{ .line = "src /mnt -o fsname=other", .mountpoint = "/mnt", .source = "src",
	  .fsname = "other", .threads = 0, .queue_depth = 64 },
	{ .line = "-o allow_root /mnt", .mountpoint = "/mnt", .allow_root = 1, .threads = 0,
	  .queue_depth = 64 },
	{ .line = "-oallow_other,threads=4 /mnt", .mountpoint = "/mnt", .allow_other = 1,
	  .threads = 4, .queue_depth = 64 },
	{ .line = "-o ro,sync,dirsync,noexec,noatime /mnt", .mountpoint = "/mnt", .threads = 0,
	  .queue_depth = 64,
	  .flags_set = MS_RDONLY | MS_SYNCHRONOUS | MS_DIRSYNC | MS_NOEXEC | MS_NOATIME },
	{ .line = "-o transport=uring,max_write=0x20000,queue_depth=8 /mnt",
	  .mountpoint = "/mnt", .threads = 0, .transport = RF_TRANSPORT_URING,
	  .max_write = 0x20000, .queue_depth = 8 },
	{ .line = "-o subtype=x /mnt", .mountpoint = "/mnt", .subtype = "x", .threads = 0,
	  .queue_depth = 64 },
	{ .line = "-o inline=never /mnt", .mountpoint = "/mnt", .threads = 0, .queue_depth = 64,
	  .inline_mode = RF_INLINE_NEVER },
	{ .line = "-o inline=always /mnt", .mountpoint = "/mnt", .threads = 0, .queue_depth = 64,
	  .inline_mode = RF_INLINE_ALWAYS },
	{ .line = "-o inline=never,inline=auto /mnt", .mountpoint = "/mnt", .threads = 0,
	  .queue_depth = 64, .inline_mode = RF_INLINE_AUTO },
	/* What fstab adds and mount.fuse3 passes through. */
	{ .line = "-o defaults,x-systemd.automount,x-foo=1 /mnt", .mountpoint = "/mnt",
	  .threads = 0, .queue_depth = 64 },
	{ .line = "-- -odd", .mountpoint = "-odd", .threads = 0, .queue_depth = 64 },
	{ .line = "-o size=1g,zero,hidden /mnt", .mountpoint = "/mnt", .threads = 0,
	  .queue_depth = 64, .fs_opts = "size=1g,zero,hidden" },
	/* threads 0: one loop per kernel queue (session.c); -s and single mean one. */
	{ .line = "-s /mnt", .mountpoint = "/mnt", .threads = 1, .queue_depth = 64 },
	{ .line = "-o single,pin=0 /mnt", .mountpoint = "/mnt", .threads = 1, .no_pin = 1,
	  .queue_depth = 64 },
	{ .line = "-o pin=1 /mnt", .mountpoint = "/mnt", .queue_depth = 64 },
};

Test(opts, accepted_lines_set_what_they_say, .init = log_setup, .fini = log_teardown)
{
	size_t i;

	for (i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		const struct good *g = &goods[i];
		struct rf_opts o;
		int ret = parse(&o, g->line, true);

		cr_assert_eq(ret, 0, "'%s': %d, log: %s", g->line, ret, logged);
		cr_expect_str_eq(o.mountpoint, g->mountpoint, "'%s'", g->line);
#define STR_EQ(field)                                                                  \
	if (g->field)                                                                      \
		cr_expect(o.field && !strcmp(o.field, g->field), "'%s': " #field " '%s'",    \
			  g->line, o.field ? o.field : "(null)");                              \
	else                                                                                \
		cr_expect_null(o.field, "'%s': " #field, g->line)
		STR_EQ(source);
		STR_EQ(fsname);
		STR_EQ(subtype);
		STR_EQ(fs_opts);
#undef STR_EQ
		cr_expect_eq(o.foreground, g->foreground, "'%s': foreground", g->line);
		cr_expect_eq(o.debug, g->debug, "'%s': debug", g->line);
		cr_expect_eq(o.allow_other, g->allow_other, "'%s': allow_other", g->line);
		cr_expect_eq(o.allow_root, g->allow_root, "'%s': allow_root", g->line);
		cr_expect_eq(o.threads, g->threads, "'%s': threads", g->line);
		cr_expect_eq(o.no_pin, g->no_pin, "'%s': no_pin", g->line);
		cr_expect_eq(o.transport, g->transport, "'%s': transport", g->line);
		cr_expect_eq(o.inline_mode, g->inline_mode, "'%s': inline", g->line);
		cr_expect_eq(o.mount_flags & g->flags_set, g->flags_set, "'%s': flags", g->line);
		cr_expect_eq(o.mount_flags & g->flags_clear, 0, "'%s': flags", g->line);
		cr_expect_eq(o.read_only, !!(o.mount_flags & MS_RDONLY), "'%s'", g->line);
		cr_expect_eq(o.max_write, g->max_write, "'%s': max_write", g->line);
		cr_expect_eq(o.queue_depth, g->queue_depth, "'%s': queue_depth", g->line);
		cr_expect_eq(logged_n, 0, "'%s' logged: %s", g->line, logged);
		rf_opts_free(&o);
	}
}

/* ---- lines that are refused ----------------------------------------------------------- */

struct bad {
	const char *line;
	bool with_spec;
	const char *named;          /* the message must contain this */
};

static const struct bad bads[] = {
	{ "-o alow_other /mnt", false, "'alow_other'" },
	{ "-o alow_other /mnt", true, "'alow_other'" },
	{ "-o size=1g /mnt", false, "'size'" },           /* a key nobody declared */
	{ "-o allow_other=1 /mnt", false, "'allow_other'" },
	{ "-o ro=yes /mnt", false, "'ro'" },
	{ "-o fsname /mnt", false, "'fsname'" },
	{ "-o size /mnt", true, "'size'" },
	{ "-o zero=1 /mnt", true, "'zero'" },
	{ "-o threads=0 /mnt", false, "'threads'" },
	{ "-o threads=65 /mnt", false, "'threads'" },
	{ "-o pin=2 /mnt", false, "'pin'" },
	{ "-o threads=2x /mnt", false, "'threads'" },
	{ "-o queue_depth=-1 /mnt", false, "'queue_depth'" },
	/* strtoull skips the blank and negates: 4 and 1, in range, were once accepted */
	{ "-o queue_depth=\t-18446744073709551612 /mnt", false, "'queue_depth'" },
	{ "-o threads=\t-18446744073709551614 /mnt", false, "'threads'" },
	{ "-o max_write=99999999999 /mnt", false, "'max_write'" },
	{ "-o transport=tcp /mnt", false, "'transport'" },
	{ "-o inline=sometimes /mnt", false, "'inline'" },
	{ "-o inline /mnt", false, "'inline'" },
	{ "-o log_level=loud /mnt", false, "'log_level'" },
	{ "-o allow_other,allow_root /mnt", false, "allow_root" },
	{ "-x /mnt", false, "'-x'" },
	{ "-o", false, "-o needs" },
	{ "", false, "no mount point" },
	{ "-f", false, "no mount point" },
	{ "a b c", false, "'c'" },
};

Test(opts, unknown_or_malformed_options_are_refused_by_name, .init = log_setup,
     .fini = log_teardown)
{
	size_t i;

	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		const struct bad *b = &bads[i];
		struct rf_opts o;
		int ret;

		logged[0] = '\0';
		logged_n = 0;
		ret = parse(&o, b->line, b->with_spec);
		cr_expect_eq(ret, -EINVAL, "'%s': %d", b->line, ret);
		cr_expect(strstr(logged, b->named) != NULL, "'%s': log '%s' lacks %s", b->line,
			  logged, b->named);
		cr_expect(strstr(logged, "[3] ") != NULL, "'%s': not an error: %s", b->line, logged);
		rf_opts_free(&o);
	}
}

/* ---- the filesystem's keys ------------------------------------------------------------- */

Test(opts, declared_keys_reach_the_filesystem_with_their_values)
{
	struct rf_opts o;
	const char *v = NULL;

	cr_assert_eq(parse(&o, "-o size=4k,allow_other -o zero /mnt", true), 0);
	cr_expect(o.allow_other);
	cr_assert_eq(rf_opts_get(&o, "size", &v), 1);
	cr_expect_str_eq(v, "4k");
	cr_assert_eq(rf_opts_get(&o, "zero", &v), 1);
	cr_expect_str_eq(v, "");
	cr_expect_eq(rf_opts_get(&o, "hidden", NULL), 0);
	cr_expect_eq(rf_opts_get(&o, "allow_other", NULL), 0, "runtime keys stay ours");
	cr_expect_eq(rf_opts_get(&o, "siz", NULL), 0, "no prefix match");
	rf_opts_free(&o);
}

/* ---- -h and -V ------------------------------------------------------------------------- */

static void redirect(void)
{
	cr_redirect_stdout();
	log_setup();
}

static const char *help_lines[] = { "-h --help", "/mnt --help", "-o bogus -h /mnt" };

Test(opts, help_lists_the_filesystem_keys_on_stdout_and_returns_1, .init = redirect,
     .fini = log_teardown)
{
	size_t i;

	for (i = 0; i < sizeof(help_lines) / sizeof(help_lines[0]); i++) {
		struct rf_opts o;

		cr_expect_eq(parse(&o, help_lines[i], true), 1, "'%s'", help_lines[i]);
		rf_opts_free(&o);
	}
	fflush(stdout);
	cr_expect_eq(logged_n, 0, "help logged: %s", logged);
	{
		char out[16384];
		size_t n = fread(out, 1, sizeof(out) - 1, cr_get_redirected_stdout());

		out[n] = '\0';
		cr_expect(strstr(out, "usage: prog") != NULL, "%s", out);
		cr_expect(strstr(out, "-o size=BYTES") != NULL, "%s", out);
		cr_expect(strstr(out, "-o zero ") != NULL, "%s", out);
		cr_expect(strstr(out, "hidden") == NULL, "an entry without help stays unlisted");
		cr_expect(strstr(out, "-o allow_root") != NULL, "%s", out);
		/* -s is not the default: threads=0 is one loop per kernel queue */
		cr_expect(strstr(out, "one loop thread (the default)") == NULL, "%s", out);
	}
}

Test(opts, version_prints_ours_on_stdout_and_returns_1, .init = redirect, .fini = log_teardown)
{
	struct rf_opts o;
	char want[64];

	cr_expect_eq(parse(&o, "-V", false), 1);
	rf_opts_free(&o);
	cr_expect_eq(parse(&o, "--version /mnt", false), 1);
	rf_opts_free(&o);
	fflush(stdout);
	snprintf(want, sizeof(want), "prog: ringfuse %s, FUSE kernel protocol 7.", rf_version());
	{
		char out[1024];
		size_t n = fread(out, 1, sizeof(out) - 1, cr_get_redirected_stdout());

		out[n] = '\0';
		cr_expect(strstr(out, want) != NULL, "'%s' lacks '%s'", out, want);
	}
}

/* ---- log levels ------------------------------------------------------------------------ */

struct level_case {
	const char *line;
	enum rf_log_level level;
};

static const struct level_case levels[] = {
	{ "/mnt", RF_LOG_WARNING },
	{ "-o log_level=error /mnt", RF_LOG_ERR },
	{ "-o log_level=info /mnt", RF_LOG_INFO },
	{ "-o log_level=debug /mnt", RF_LOG_DEBUG },
	{ "-d /mnt", RF_LOG_DEBUG },
	{ "-o debug /mnt", RF_LOG_DEBUG },
};

Test(opts, log_level_follows_the_command_line, .init = log_setup, .fini = log_teardown)
{
	size_t i;

	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		struct rf_opts o;

		rf_log_set_level(RF_LOG_WARNING);
		cr_assert_eq(parse(&o, levels[i].line, false), 0, "'%s'", levels[i].line);
		cr_expect_eq(rf_log_get_level(), levels[i].level, "'%s'", levels[i].line);
		rf_opts_free(&o);
	}
}

Test(opts, messages_above_the_level_are_dropped, .init = log_setup, .fini = log_teardown)
{
	rf_log_set_level(RF_LOG_WARNING);
	rf_log(RF_LOG_INFO, "quiet %d", 1);
	rf_log(RF_LOG_DEBUG, "quiet %d", 2);
	rf_log(RF_LOG_WARNING, "loud %d", 3);
	rf_log(RF_LOG_ERR, "loud %d", 4);
	cr_expect_eq(logged_n, 2, "%s", logged);
	cr_expect(strstr(logged, "[4] loud 3") && strstr(logged, "[3] loud 4"), "%s", logged);
	rf_log_set_level(RF_LOG_DEBUG);
	rf_log(RF_LOG_DEBUG, "now %s", "heard");
	cr_expect(strstr(logged, "[7] now heard") != NULL, "%s", logged);
}

/* rf_opts_parse frees the storage of an earlier parse of the same options (it is written
 * to allow that): strings the new line does not set must not keep pointing into it. */
static int reparse(struct rf_opts *opts, const char *line)
{
	char buf[512], *argv[MAX_ARGS + 1];

	return rf_opts_parse(opts, split(line, buf, sizeof(buf), argv), argv);
}

Test(opts, a_second_parse_leaves_no_string_in_the_first_ones_storage)
{
	static const char fsname_set_by_hand[] = "byhand";
	struct rf_opts o;

	rf_opts_init(&o);
	cr_assert_eq(reparse(&o, "-o fsname=first,subtype=sub src /mnt/a"), 0);
	cr_assert_eq(reparse(&o, "/mnt/b"), 0);
	cr_assert_str_eq(o.mountpoint, "/mnt/b");
	cr_assert_null(o.source);
	/* Read them: ASan reports a read of the freed first storage. */
	cr_assert(!o.fsname || strlen(o.fsname) < 64);
	cr_assert(!o.subtype || strlen(o.subtype) < 64);
	/* A string the application set itself stays. */
	o.fsname = fsname_set_by_hand;
	cr_assert_eq(reparse(&o, "/mnt/c"), 0);
	cr_assert_eq(o.fsname, fsname_set_by_hand);
	rf_opts_free(&o);
}
