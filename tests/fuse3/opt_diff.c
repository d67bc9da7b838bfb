/*
 * Description: differential test of the session-independent libfuse3 API (fuse_opt_*,
 * fuse_parse_cmdline in both versions, fuse_buf_copy/size). It runs fixed tables of inputs
 * and prints a transcript of every observable result: return values, rebuilt argument
 * vectors, stored values, processing-function calls, log messages, copied bytes and bufvec
 * positions. tests/fuse3/opt-diff.sh builds it against Debian's libfuse3 and runs it there,
 * on the binding's libfuse3.so.3 (LD_LIBRARY_PATH) and linked with the binding's static
 * library, and requires identical transcripts.
 *
 * Only inputs where libfuse 3.14 neither crashes nor asserts are here; the binding's better
 * answers for the others are in tests/fuse3/unit/.
 *
 * Usage: opt_diff [--static]   (--static: skip what needs dlvsym, i.e. the FUSE_3.0 symbol)
 */
#define _GNU_SOURCE
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <fuse_opt.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fuse_parse_cmdline_30(struct fuse_args *args, struct fuse_cmdline_opts *opts);
int fuse_parse_cmdline_312(struct fuse_args *args, struct fuse_cmdline_opts *opts);

static void put_str(const char *s)
{
	if (!s) {
		fputs("(null)", stdout);
		return;
	}
	putchar('\'');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c >= 0x7f || c == '\'' || c == '\\')
			printf("\\x%02x", c);
		else
			putchar(c);
	}
	putchar('\'');
}

static void log_to_transcript(enum fuse_log_level level, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	printf("  log[%d] ", (int)level);
	put_str(msg);
	putchar('\n');
}

static void put_args(const char *label, const struct fuse_args *a)
{
	printf("  %s argc=%d allocated=%d:", label, a->argc, a->allocated);
	for (int i = 0; a->argv && i < a->argc; i++) {
		putchar(' ');
		put_str(a->argv[i]);
	}
	if (a->argv && a->argv[a->argc] != NULL)
		fputs(" NOT-NULL-TERMINATED", stdout);
	putchar('\n');
}

/* ---- fuse_opt_parse --------------------------------------------------------------------- */

struct data {
	int a, bee, flag, both, y, eq, dash, lf, minus;
	unsigned u;
	unsigned long lu;
	unsigned long long llu;
	int oct, hex, i, d, x;
	unsigned short hu;
	char *s, *s2, *z, *zz, *g;
};

#define O(t, f, v) { t, offsetof(struct data, f), v }

static const struct fuse_opt table_main[] = {
	O("-a", a, 1),
	O("--bee", bee, 7),
	O("flag", flag, 3),
	O("uint=%u", u, 0),
	O("ulong=%lu", lu, 0),
	O("ull=%llu", llu, 0),
	O("mode=%o", oct, 0),
	O("hex=%x", hex, 0),
	O("int=%i", i, 0),
	O("short=%hu", hu, 0),
	O("str=%s", s, 0),
	O("--str=%s", s2, 0),
	O("-x %d", x, 0),
	O("-y ", y, 5),
	O("eq=x", eq, 9),
	O("-", minus, 4),
	O("--long-flag", lf, 11),
	O("both", both, 2),
	FUSE_OPT_KEY("both", 102),
	O("-z %s", z, 0),
	FUSE_OPT_KEY("-z ", 103),
	O("-Z %s", zz, 0),
	FUSE_OPT_KEY("-k", 100),
	FUSE_OPT_KEY("key=", 101),
	FUSE_OPT_KEY("--kk=", 104),
	FUSE_OPT_KEY("-j ", 105),
	FUSE_OPT_KEY("keep", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("discard", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("-K", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("-D", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("--", 106),
	O("g=", g, 0),
	O("dash-opt", dash, 8),
	FUSE_OPT_END
};

static const struct fuse_opt table_keys[] = {
	FUSE_OPT_KEY("-k", 1),
	FUSE_OPT_KEY("opt", 2),
	FUSE_OPT_KEY("val=%s", 3),
	FUSE_OPT_END
};

enum { T_MAIN, T_KEYS, T_NULL, T_EMPTY };
enum { P_SCRIPT, P_NULL, P_DROP_ALL };

static const struct fuse_opt table_empty[] = { FUSE_OPT_END };

/* The processing function's answer depends on the argument: "ERR" -1, "DROP" 0, "TWO" 2,
 * "NEG" -2, "ADD" appends "added" to outargs and keeps; anything else 1 (keep). */
static int proc_script(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	printf("  proc key=%d arg=", key);
	put_str(arg);
	printf(" outargc=%d data=%s\n", outargs->argc, data ? "set" : "NULL");
	if (strstr(arg, "ERR"))
		return -1;
	if (strstr(arg, "DROP"))
		return 0;
	if (strstr(arg, "TWO"))
		return 2;
	if (strstr(arg, "NEG"))
		return -2;
	if (strstr(arg, "ADD"))
		return fuse_opt_add_arg(outargs, "added") == -1 ? -1 : 1;
	return 1;
}

static int proc_drop_all(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	(void)data;
	(void)outargs;
	printf("  proc(drop) key=%d arg=", key);
	put_str(arg);
	putchar('\n');
	return 0;
}

struct parse_case {
	const char *argv[12];
	int table, proc, null_data;
};

#define CASE(t, p, nd, ...) { .table = t, .proc = p, .null_data = nd, .argv = { __VA_ARGS__ } }
#define A(...) CASE(T_MAIN, P_SCRIPT, 0, __VA_ARGS__)

static const struct parse_case parse_cases[] = {
	A("prog"),
	A("prog", "-a"),
	A("prog", "--bee", "-a", "mnt"),
	A("prog", "-oflag"),
	A("prog", "-o", "flag"),
	A("prog", "-o"),
	A("prog", "-o", "uint=42,ulong=18446744073709551615,ull=123456789012"),
	A("prog", "-o", "uint=-1"),
	A("prog", "-o", "uint=12abc"),
	A("prog", "-o", "uint=abc"),
	A("prog", "-o", "uint="),
	A("prog", "-o", "mode=0755,hex=ff,int=0x10,short=65535"),
	A("prog", "-o", "mode=9"),
	A("prog", "-o", "int=-7"),
	A("prog", "-o", "str=hello", "-o", "str=again"),
	A("prog", "-ostr=", "--str=x y"),
	A("prog", "--str="),
	A("prog", "--str"),
	A("prog", "-x", "17"),
	A("prog", "-x17"),
	A("prog", "-x"),
	A("prog", "-xabc"),
	A("prog", "-y", "ignored"),
	A("prog", "-yfoo"),
	A("prog", "-y"),
	A("prog", "-oeq=x"),
	A("prog", "-oeq=y"),
	A("prog", "-oeq"),
	A("prog", "-"),
	A("prog", "--long-flag", "--long-flagX", "--long"),
	A("prog", "-o", "both"),
	A("prog", "-z", "one", "two"),
	A("prog", "-z", "one"),
	A("prog", "-zone"),
	A("prog", "-Z", "a", "-Z", "b"),
	A("prog", "-k", "-kx"),
	A("prog", "-o", "key=v,key=,keyx"),
	A("prog", "--kk=1", "--kk"),
	A("prog", "-j", "arg", "-jarg2"),
	A("prog", "-o", "keep,discard,keep=1"),
	A("prog", "-K", "-D", "-KD"),
	A("prog", "-o", "g=anything"),
	A("prog", "-o", "dash-opt,unknown,flag"),
	A("prog", "-o", "a,b", "-oc", "-o", "d\\,e,f\\\\g"),
	A("prog", "-o", "a\\,b\\"),
	A("prog", "-o", "x\\101\\0609\\477,y\\8"),
	A("prog", "-o", "a,,b"),
	A("prog", "-o", ",a"),
	A("prog", "-o", "a,"),
	A("prog", "-o", ""),
	A("prog", "-o", ",", "-o", "x"),
	A("prog", "mnt", "extra"),
	A("prog", "--", "-a", "-ofoo"),
	A("prog", "-a", "--"),
	A("prog", "-o", "opt1", "--"),
	A("prog", "--", "--"),
	A("prog", "--", "x", "--"),
	A("prog", "-oflag", "--", "-oflag"),
	A("prog", "-oERRx"),
	A("prog", "-ERR"),
	A("prog", "ERRnonopt"),
	A("prog", "-oDROPx,keepme", "-DROP", "DROPnonopt", "kept"),
	A("prog", "-oTWO,NEG", "-TWO", "-NEG"),
	A("prog", "-ADD", "-oADD", "ADD"),
	A("prog", "-oADD", "--"),
	CASE(T_KEYS, P_SCRIPT, 0, "prog", "-o", "opt,val=3,other", "-k", "x"),
	CASE(T_KEYS, P_NULL, 0, "prog", "-o", "opt,val=3,other", "-k", "x"),
	CASE(T_KEYS, P_DROP_ALL, 0, "prog", "-o", "opt,val=3,other", "-k", "x"),
	CASE(T_KEYS, P_SCRIPT, 1, "prog", "-o", "opt,val=3", "-k", "x"),
	CASE(T_NULL, P_SCRIPT, 0, "prog", "-a", "-ofoo", "x"),
	CASE(T_EMPTY, P_NULL, 0, "prog", "-a", "-ofoo", "x"),
	CASE(T_NULL, P_NULL, 0, "prog", "-a", "-ofoo", "x", "--"),
	A("" , "-a"),
	A("prog", "-o", "str=\\,comma,uint=1"),
	A("prog", "-oflag,-a"),
	A("prog", "-o-a"),
	A("prog", "-o", "-x 5"),
	A("prog", "-o", "--str=v"),
	A("prog", "-z", ""),
	A("prog", "-o", "str=,str"),
	A("prog", "-okey", "-okey=", "-o", "key=a=b"),
	A("prog", "-q", "--quiet", "-", "-o", "unknown=1"),
	CASE(T_MAIN, P_NULL, 0, "prog", "-q", "-a", "plain", "-oflag,x=1", "--", "-b"),
	A("prog", "-oflag", "-o", "flag", "-o", "flag,flag"),
	A("prog", "-o", "uint=1", "-o", "uint=2", "-x", "1", "-x2"),
	A("prog", "-o", "ulong=99999999999999999999999"),
	A("prog", "-o", "short=70000,hex=zz"),
};

static const struct fuse_opt *table(int t)
{
	switch (t) {
	case T_MAIN:
		return table_main;
	case T_KEYS:
		return table_keys;
	case T_EMPTY:
		return table_empty;
	default:
		return NULL;
	}
}

static void run_parse_case(size_t n, const struct parse_case *c)
{
	struct data d;
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	fuse_opt_proc_t proc = c->proc == P_SCRIPT ? proc_script :
			       c->proc == P_DROP_ALL ? proc_drop_all : NULL;
	int res;

	memset(&d, 0, sizeof(d));
	for (int i = 0; c->argv[i]; i++)
		fuse_opt_add_arg(&args, c->argv[i]);
	printf("parse #%zu table=%d proc=%d nulldata=%d\n", n, c->table, c->proc, c->null_data);
	put_args("in ", &args);
	res = fuse_opt_parse(&args, c->null_data ? NULL : &d, table(c->table), proc);
	printf("  res=%d\n", res);
	put_args("out", &args);
	printf("  a=%d bee=%d flag=%d both=%d y=%d eq=%d dash=%d lf=%d minus=%d u=%u lu=%lu "
	       "llu=%llu oct=%d hex=%d i=%d x=%d hu=%hu\n",
	       d.a, d.bee, d.flag, d.both, d.y, d.eq, d.dash, d.lf, d.minus, d.u, d.lu, d.llu,
	       d.oct, d.hex, d.i, d.x, d.hu);
	printf("  s=");
	put_str(d.s);
	printf(" s2=");
	put_str(d.s2);
	printf(" z=");
	put_str(d.z);
	printf(" zz=");
	put_str(d.zz);
	printf(" g=");
	put_str(d.g);
	putchar('\n');
	free(d.s);
	free(d.s2);
	free(d.z);
	free(d.zz);
	free(d.g);
	fuse_opt_free_args(&args);
}

/* fuse_opt_parse on vectors it does not own (argv from main) and on empty ones. */
static void parse_special(void)
{
	char a0[] = "prog", a1[] = "-o", a2[] = "foo,bar", a3[] = "mnt";
	char *argv[] = { a0, a1, a2, a3, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(4, argv);
	struct fuse_args empty = FUSE_ARGS_INIT(0, NULL);
	struct fuse_args zero = FUSE_ARGS_INIT(0, argv);

	printf("parse-special main-argv\n");
	printf("  res=%d\n", fuse_opt_parse(&args, NULL, NULL, NULL));
	put_args("out", &args);
	printf("  caller's argv intact: %s %s %s %s\n", argv[0], argv[1], argv[2], argv[3]);
	fuse_opt_free_args(&args);
	printf("parse-special empty\n");
	printf("  res=%d\n", fuse_opt_parse(&empty, NULL, table_main, proc_script));
	put_args("out", &empty);
	printf("  res(NULL args)=%d\n", fuse_opt_parse(NULL, NULL, table_main, proc_script));
	printf("  res(argc 0)=%d\n", fuse_opt_parse(&zero, NULL, table_main, proc_script));
	put_args("out", &zero);
}

/* ---- the vector and option-list helpers ------------------------------------------------ */

static void helpers(void)
{
	struct fuse_args a = FUSE_ARGS_INIT(0, NULL);
	char *opts = NULL;
	static const char *const adds[] = { "a", "", "b,c", "d\\e", "", "f" };

	printf("helpers\n");
	printf("  add=%d", fuse_opt_add_arg(&a, "one"));
	printf(" add=%d", fuse_opt_add_arg(&a, "two"));
	printf(" ins0=%d", fuse_opt_insert_arg(&a, 0, "zero"));
	printf(" ins3=%d", fuse_opt_insert_arg(&a, 3, "end"));
	printf(" ins2=%d\n", fuse_opt_insert_arg(&a, 2, "mid"));
	put_args("vec", &a);
	fuse_opt_free_args(&a);
	put_args("freed", &a);
	fuse_opt_free_args(NULL);
	printf("  ins-empty=%d\n", fuse_opt_insert_arg(&a, 0, "only"));
	put_args("vec", &a);
	fuse_opt_free_args(&a);

	for (size_t i = 0; i < sizeof(adds) / sizeof(adds[0]); i++) {
		printf("  add_opt(");
		put_str(adds[i]);
		printf(")=%d -> ", fuse_opt_add_opt(&opts, adds[i]));
		put_str(opts);
		putchar('\n');
	}
	free(opts);
	opts = NULL;
	for (size_t i = 0; i < sizeof(adds) / sizeof(adds[0]); i++) {
		printf("  add_opt_escaped(");
		put_str(adds[i]);
		printf(")=%d -> ", fuse_opt_add_opt_escaped(&opts, adds[i]));
		put_str(opts);
		putchar('\n');
	}
	free(opts);

	static const char *const probes[] = { "-a", "-ab", "flag", "-oflag", "uint=", "uint=5",
		"uint", "-x", "-x5", "-x 5", "str=", "--str=a", "--str", "eq=x", "eq=y", "both",
		"-z", "key=", "-", "--", "", "unknown" };
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		printf("  match(");
		put_str(probes[i]);
		printf(")=%d\n", fuse_opt_match(table_main, probes[i]));
	}
	printf("  match(NULL table)=%d\n", fuse_opt_match(NULL, "-a"));
}

/* ---- fuse_parse_cmdline ---------------------------------------------------------------- */

static const char *const cmdline_cases[][10] = {
	{ "prog" },
	{ "/usr/bin/hello_ll", "/tmp" },
	{ "/usr/bin/", "/" },
	{ "prog", "-f", "-s", "/tmp" },
	{ "prog", "-d", "/tmp" },
	{ "prog", "-o", "debug", "/tmp" },
	{ "prog", "-h" },
	{ "prog", "--help", "-V", "--version" },
	{ "prog", "-o", "clone_fd,max_idle_threads=5,max_threads=3", "/tmp" },
	{ "prog", "-o", "max_threads=x" },
	{ "prog", "-o", "fsname=foo", "/tmp" },
	{ "prog", "-o", "subtype=bar,ro,allow_other", "/tmp" },
	{ "prog", "/tmp", "/var" },
	{ "prog", "/nonexistent/dir" },
	{ "prog", "/dev/fd/7" },
	{ "prog", "/dev/fd/x" },
	{ "prog", "-o", "ro", "--", "/tmp" },
	{ "prog", "--unknown", "-x", "/tmp", "-o", "a\\,b" },
	{ "prog", "-o" },
	{ "" },
	{ "prog", "-o", "max_idle_threads=-1", "-ofsname=x,subtype=y" },
	{ "prog", "-odebug", "-d", "-f" },
	{ "prog", "-o", "allow_other", "-o", "default_permissions,fsname=a\\,b", "/" },
	{ "prog", "mnt-does-not-exist" },
	{ "prog", "-s", "-o", "max_threads=0", "." },
};

static void put_cmdline(const struct fuse_cmdline_opts *o)
{
	printf("  single=%d fg=%d debug=%d nodefsub=%d mp=", o->singlethread, o->foreground,
	       o->debug, o->nodefault_subtype);
	put_str(o->mountpoint);
	printf(" ver=%d help=%d clone=%d idle=%u max=%u\n", o->show_version, o->show_help,
	       o->clone_fd, o->max_idle_threads, o->max_threads);
}

typedef int (*parse_cmdline_fn)(struct fuse_args *, struct fuse_cmdline_opts *);

static void cmdline(const char *label, parse_cmdline_fn fn)
{
	for (size_t n = 0; n < sizeof(cmdline_cases) / sizeof(cmdline_cases[0]); n++) {
		struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
		struct fuse_cmdline_opts o;
		int res;

		for (int i = 0; cmdline_cases[n][i]; i++)
			fuse_opt_add_arg(&args, cmdline_cases[n][i]);
		/* Sentinels: the FUSE_3.0 variant must leave max_threads alone. */
		memset(&o, 0xa5, sizeof(o));
		o.mountpoint = NULL;
		printf("%s #%zu\n", label, n);
		put_args("in ", &args);
		res = fn(&args, &o);
		printf("  res=%d\n", res);
		put_args("out", &args);
		if (res == 0) {
			put_cmdline(&o);
			free(o.mountpoint);
		}
		fuse_opt_free_args(&args);
	}
}

/* ---- fuse_buf_copy ---------------------------------------------------------------------- */

static char dir[] = "/tmp/rf3-optdiff-XXXXXX";

static int tmpfile_with(const char *name, const char *content)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || (content && write(fd, content, strlen(content)) != (ssize_t)strlen(content))) {
		perror(path);
		exit(2);
	}
	lseek(fd, 0, SEEK_SET);
	return fd;
}

static void put_file(const char *label, int fd)
{
	unsigned char buf[64];
	ssize_t n = pread(fd, buf, sizeof(buf), 0);

	printf("  %s bytes=%zd:", label, n);
	for (ssize_t i = 0; i < n; i++)
		printf(" %02x", buf[i]);
	printf(" pos=%lld\n", (long long)lseek(fd, 0, SEEK_CUR));
}

static void put_vec(const char *label, const struct fuse_bufvec *v)
{
	printf("  %s idx=%zu off=%zu size=%zu\n", label, v->idx, v->off, fuse_buf_size(v));
}

/* More than one buffer: allocated, as fuse_common.h says to. */
static struct fuse_bufvec *vec_new(size_t count)
{
	struct fuse_bufvec *v = calloc(1, sizeof(*v) + (count - 1) * sizeof(v->buf[0]));

	if (!v)
		exit(2);
	v->count = count;
	return v;
}

static void buf_mem(void)
{
	char a[] = "0123456789", b[] = "abcdef", dst[32];
	struct fuse_bufvec *src = vec_new(3), *dv = vec_new(2);

	printf("buf mem->mem\n");
	memset(dst, '.', sizeof(dst));
	dst[31] = '\0';
	src->buf[0] = (struct fuse_buf){ .size = 4, .mem = a };
	src->buf[1] = (struct fuse_buf){ .size = 0, .mem = NULL };
	src->buf[2] = (struct fuse_buf){ .size = 6, .mem = b };
	dv->buf[0] = (struct fuse_buf){ .size = 3, .mem = dst };
	dv->buf[1] = (struct fuse_buf){ .size = 20, .mem = dst + 5 };
	printf("  res=%zd\n", fuse_buf_copy(dv, src, 0));
	put_vec("src", src);
	put_vec("dst", dv);
	free(src);
	free(dv);
	printf("  dst=");
	put_str(dst);
	putchar('\n');

	/* Destination smaller than the source; then copy again from where both stopped. */
	struct fuse_bufvec s1 = FUSE_BUFVEC_INIT(10), d1 = FUSE_BUFVEC_INIT(4);
	char small[5] = "";

	s1.buf[0].mem = a;
	d1.buf[0].mem = small;
	printf("  res=%zd", fuse_buf_copy(&d1, &s1, 0));
	small[4] = '\0';
	printf(" small=%s", small);
	put_vec("src", &s1);
	put_vec("dst", &d1);
	printf("  again=%zd\n", fuse_buf_copy(&d1, &s1, 0));
	printf("  self=%zd\n", fuse_buf_copy(&s1, &s1, 0));

	/* Start offsets inside the vectors. */
	struct fuse_bufvec s2 = FUSE_BUFVEC_INIT(10), d2 = FUSE_BUFVEC_INIT(10);
	char out[11] = "----------";

	s2.buf[0].mem = a;
	s2.off = 7;
	d2.buf[0].mem = out;
	d2.off = 2;
	printf("  res=%zd out=%s\n", fuse_buf_copy(&d2, &s2, 0), out);
	put_vec("src", &s2);
	put_vec("dst", &d2);

	/* Overlapping memory, both directions. */
	char ov[] = "abcdefghij";
	struct fuse_bufvec so = FUSE_BUFVEC_INIT(6), dov = FUSE_BUFVEC_INIT(6);

	so.buf[0].mem = ov;
	dov.buf[0].mem = ov + 2;
	printf("  overlap-up=%zd", fuse_buf_copy(&dov, &so, 0));
	printf(" %s", ov);
	so = FUSE_BUFVEC_INIT(6);
	dov = FUSE_BUFVEC_INIT(6);
	so.buf[0].mem = ov + 3;
	dov.buf[0].mem = ov;
	printf(" overlap-down=%zd %s\n", fuse_buf_copy(&dov, &so, 0), ov);
}

static void buf_fd(void)
{
	char mem[64];
	int f = tmpfile_with("f", "hello world");
	int g = tmpfile_with("g", NULL);
	int p[2];

	printf("buf fd\n");
	/* fd -> mem, at the file's position, then with SEEK at pos 6. */
	struct fuse_bufvec s = FUSE_BUFVEC_INIT(5), d = FUSE_BUFVEC_INIT(5);

	memset(mem, 0, sizeof(mem));
	s.buf[0].flags = FUSE_BUF_IS_FD;
	s.buf[0].fd = f;
	d.buf[0].mem = mem;
	printf("  read=%zd mem=%s\n", fuse_buf_copy(&d, &s, 0), mem);
	put_file("f", f);
	s = FUSE_BUFVEC_INIT(20);
	d = FUSE_BUFVEC_INIT(20);
	memset(mem, 0, sizeof(mem));
	s.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	s.buf[0].fd = f;
	s.buf[0].pos = 6;
	d.buf[0].mem = mem;
	printf("  pread-eof=%zd mem=%s\n", fuse_buf_copy(&d, &s, 0), mem);
	put_vec("src", &s);
	put_vec("dst", &d);
	put_file("f", f);

	/* Source of two fd pieces where the first hits EOF early: the copy stops there. */
	struct fuse_bufvec *s2 = vec_new(2);

	memset(mem, 0, sizeof(mem));
	s2->buf[0] = (struct fuse_buf){ .size = 30, .flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK,
					 .fd = f, .pos = 0 };
	s2->buf[1] = (struct fuse_buf){ .size = 3, .flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK,
					 .fd = f, .pos = 0 };
	d = FUSE_BUFVEC_INIT(60);
	d.buf[0].mem = mem;
	printf("  eof-stops=%zd mem=%s\n", fuse_buf_copy(&d, s2, 0), mem);
	put_vec("src", s2);
	put_vec("dst", &d);
	free(s2);

	/* mem -> fd, plain and with SEEK beyond the end. */
	char text[] = "ABCDEFGH";

	s = FUSE_BUFVEC_INIT(4);
	d = FUSE_BUFVEC_INIT(4);
	s.buf[0].mem = text;
	d.buf[0].flags = FUSE_BUF_IS_FD;
	d.buf[0].fd = g;
	printf("  write=%zd\n", fuse_buf_copy(&d, &s, 0));
	s = FUSE_BUFVEC_INIT(8);
	d = FUSE_BUFVEC_INIT(8);
	s.buf[0].mem = text;
	d.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY;
	d.buf[0].fd = g;
	d.buf[0].pos = 6;
	printf("  pwrite=%zd\n", fuse_buf_copy(&d, &s, 0));
	put_file("g", g);

	/* Errors: a bad fd, with nothing copied, and after a first piece was copied. */
	s = FUSE_BUFVEC_INIT(4);
	d = FUSE_BUFVEC_INIT(4);
	s.buf[0].flags = FUSE_BUF_IS_FD;
	s.buf[0].fd = 999;
	d.buf[0].mem = mem;
	printf("  ebadf=%zd\n", fuse_buf_copy(&d, &s, 0));
	struct fuse_bufvec *s3 = vec_new(2);

	s3->buf[0] = (struct fuse_buf){ .size = 2, .mem = text };
	s3->buf[1] = (struct fuse_buf){ .size = 2, .flags = FUSE_BUF_IS_FD, .fd = 999 };
	d = FUSE_BUFVEC_INIT(10);
	d.buf[0].mem = mem;
	printf("  ebadf-after=%zd\n", fuse_buf_copy(&d, s3, 0));
	put_vec("src", s3);
	put_vec("dst", &d);
	free(s3);

	/* fd -> fd: read/write (NO_SPLICE), splice default (falls back for two files), forced
	 * splice between two files (EINVAL), and through a pipe. */
	for (int mode = 0; mode < 3; mode++) {
		static const int flags[] = { FUSE_BUF_NO_SPLICE, 0, FUSE_BUF_FORCE_SPLICE };
		int h = tmpfile_with("h", NULL);

		s = FUSE_BUFVEC_INIT(11);
		d = FUSE_BUFVEC_INIT(11);
		s.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		s.buf[0].fd = f;
		d.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		d.buf[0].fd = h;
		d.buf[0].pos = 1;
		printf("  fd2fd[%d]=%zd\n", mode, fuse_buf_copy(&d, &s, flags[mode]));
		put_file("h", h);
		close(h);
	}
	if (pipe(p) == 0) {
		int h = tmpfile_with("h", NULL);

		s = FUSE_BUFVEC_INIT(11);
		d = FUSE_BUFVEC_INIT(11);
		s.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		s.buf[0].fd = f;
		d.buf[0].flags = FUSE_BUF_IS_FD;
		d.buf[0].fd = p[1];
		printf("  file2pipe=%zd\n", fuse_buf_copy(&d, &s, FUSE_BUF_SPLICE_MOVE));
		s = FUSE_BUFVEC_INIT(20);
		d = FUSE_BUFVEC_INIT(20);
		s.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_RETRY;
		s.buf[0].fd = p[0];
		d.buf[0].flags = FUSE_BUF_IS_FD;
		d.buf[0].fd = h;
		close(p[1]);
		printf("  pipe2file=%zd\n", fuse_buf_copy(&d, &s, 0));
		put_file("h", h);
		s = FUSE_BUFVEC_INIT(20);
		s.buf[0].flags = FUSE_BUF_IS_FD;
		s.buf[0].fd = p[0];
		d = FUSE_BUFVEC_INIT(20);
		d.buf[0].flags = FUSE_BUF_IS_FD;
		d.buf[0].fd = h;
		printf("  pipe-eof=%zd\n", fuse_buf_copy(&d, &s, FUSE_BUF_SPLICE_NONBLOCK));
		close(p[0]);
		close(h);
	}
	if (pipe(p) == 0) {
		s = FUSE_BUFVEC_INIT(5);
		d = FUSE_BUFVEC_INIT(5);
		s.buf[0].flags = FUSE_BUF_IS_FD;
		s.buf[0].fd = p[0];
		d.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		d.buf[0].fd = g;
		printf("  empty-pipe-nonblock=%d\n",
		       fuse_buf_copy(&d, &s, FUSE_BUF_SPLICE_NONBLOCK) == -EAGAIN ? -1 : 0);
		close(p[0]);
		close(p[1]);
	}
	close(f);
	close(g);
}

int main(int argc, char **argv)
{
	int dynamic = !(argc > 1 && strcmp(argv[1], "--static") == 0);

	setvbuf(stdout, NULL, _IOLBF, 0);
	fuse_set_log_func(log_to_transcript);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	for (size_t n = 0; n < sizeof(parse_cases) / sizeof(parse_cases[0]); n++)
		run_parse_case(n, &parse_cases[n]);
	parse_special();
	helpers();
	cmdline("cmdline", fuse_parse_cmdline);
	cmdline("cmdline_312", fuse_parse_cmdline_312);
	cmdline("cmdline_30", fuse_parse_cmdline_30);
	if (dynamic) {
		parse_cmdline_fn v30 = (parse_cmdline_fn)dlvsym(RTLD_DEFAULT, "fuse_parse_cmdline",
								 "FUSE_3.0");
		parse_cmdline_fn v312 = (parse_cmdline_fn)dlvsym(RTLD_DEFAULT, "fuse_parse_cmdline",
								  "FUSE_3.12");

		if (!v30 || !v312) {
			printf("dlvsym: fuse_parse_cmdline@FUSE_3.0 %s, @FUSE_3.12 %s\n",
			       v30 ? "found" : "MISSING", v312 ? "found" : "MISSING");
		} else {
			cmdline("cmdline@FUSE_3.0", v30);
			cmdline("cmdline@FUSE_3.12", v312);
		}
	}
	buf_mem();
	buf_fd();
	{
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/f", dir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/g", dir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/h", dir);
		unlink(path);
		rmdir(dir);
	}
	return 0;
}
