/*
 * fuse_opt.h of libfuse 3.14: argument vectors and the template-driven option parser.
 * The parser walks argv once, matches each argument (or each comma-separated item of a -o group)
 * against the templates, stores values or calls the filesystem's processing function, and
 * rebuilds the vector from what is kept. Behaviour follows libfuse 3.14 case by case; the
 * differential test (tests/fuse3/opt_diff.c) runs the same tables through both libraries.
 */
#define FUSE_USE_VERSION 314
#include <fuse_log.h>
#include <fuse_opt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One fuse_opt_parse() call. */
struct parser {
	void *data;                  /* the filesystem's struct the offsets point into */
	const struct fuse_opt *opts; /* template table, NULL-terminated (or NULL) */
	fuse_opt_proc_t proc;        /* processing function, NULL = keep everything */
	int argc;                    /* the input vector, read-only */
	char **argv;
	int pos;                     /* index of the argument being processed */
	struct fuse_args out;        /* the vector being rebuilt */
	char *group;                 /* kept -o items, comma-joined and escaped */
	int nonopt;                  /* out.argc just after "--", 0 before it */
};

static int nomem(void)
{
	fuse_log(FUSE_LOG_ERR, "fuse: memory allocation failed\n");
	return -1;
}

void fuse_opt_free_args(struct fuse_args *args)
{
	if (!args)
		return;
	if (args->argv && args->allocated) {
		for (int i = 0; i < args->argc; i++)
			free(args->argv[i]);
		free(args->argv);
	}
	args->argc = 0;
	args->argv = NULL;
	args->allocated = 0;
}

/* libfuse asserts that a vector it appends to is its own allocation. A vector made with
 * FUSE_ARGS_INIT(argc, argv) from main() is not; instead of aborting, copy it first (the
 * caller's strings stay the caller's). */
static int own_vector(struct fuse_args *args)
{
	char **v;

	if (!args->argv || args->allocated)
		return 0;
	if (args->argc < 0) {
		fuse_log(FUSE_LOG_ERR, "fuse: invalid argument vector (argc %d)\n", args->argc);
		return -1;
	}
	v = calloc((size_t)args->argc + 1, sizeof(*v));
	if (!v)
		return nomem();
	for (int i = 0; i < args->argc; i++) {
		v[i] = strdup(args->argv[i] ? args->argv[i] : "");
		if (!v[i]) {
			while (i--)
				free(v[i]);
			free(v);
			return nomem();
		}
	}
	args->argv = v;
	args->allocated = 1;
	return 0;
}

int fuse_opt_add_arg(struct fuse_args *args, const char *arg)
{
	char *copy, **v;

	if (!args || !arg) {
		fuse_log(FUSE_LOG_ERR, "fuse: fuse_opt_add_arg: NULL %s\n", args ? "argument" : "args");
		return -1;
	}
	if (own_vector(args) == -1)
		return -1;
	if (!args->argv)
		args->argc = 0;
	copy = strdup(arg);
	if (!copy)
		return nomem();
	v = realloc(args->argv, ((size_t)args->argc + 2) * sizeof(*v));
	if (!v) {
		free(copy);
		return nomem();
	}
	v[args->argc++] = copy;
	v[args->argc] = NULL;
	args->argv = v;
	args->allocated = 1;
	return 0;
}

int fuse_opt_insert_arg(struct fuse_args *args, int pos, const char *arg)
{
	char *added;

	if (!args || pos < 0 || pos > (args->argv ? args->argc : 0)) {
		fuse_log(FUSE_LOG_ERR, "fuse: fuse_opt_insert_arg: position %d out of range\n", pos);
		return -1;
	}
	if (fuse_opt_add_arg(args, arg) == -1)
		return -1;
	added = args->argv[args->argc - 1];
	memmove(&args->argv[pos + 1], &args->argv[pos],
		(size_t)(args->argc - 1 - pos) * sizeof(*args->argv));
	args->argv[pos] = added;
	return 0;
}

/* Appends @opt to the comma-separated list *@opts. An empty list gets no leading comma, so
 * adding "" to an empty list leaves it empty-but-allocated, as in libfuse. With @escape, ','
 * and '\' in @opt are backslash-escaped so the list splits back into the same items. */
static int add_opt(char **opts, const char *opt, int escape)
{
	size_t old, need = 1;
	char *s, *d;

	if (!opts || !opt) {
		fuse_log(FUSE_LOG_ERR, "fuse: fuse_opt_add_opt: NULL argument\n");
		return -1;
	}
	old = *opts ? strlen(*opts) : 0;
	for (const char *p = opt; *p; p++)
		need += (escape && (*p == ',' || *p == '\\')) ? 2 : 1;
	s = realloc(*opts, old + 1 + need);
	if (!s)
		return nomem();
	*opts = s;
	d = s + old;
	if (old)
		*d++ = ',';
	for (const char *p = opt; *p; p++) {
		if (escape && (*p == ',' || *p == '\\'))
			*d++ = '\\';
		*d++ = *p;
	}
	*d = '\0';
	return 0;
}

int fuse_opt_add_opt(char **opts, const char *opt)
{
	return add_opt(opts, opt, 0);
}

int fuse_opt_add_opt_escaped(char **opts, const char *opt)
{
	return add_opt(opts, opt, 1);
}

/*
 * Does template @t match @arg? A template whose first '=' (or, failing that, first ' ') ends it
 * or is followed by a '%' format takes a parameter: it matches any @arg starting with the part
 * before the separator ('=' included, ' ' not), and *@sep is the separator's index. Any template
 * also matches itself exactly, with *@sep = 0.
 */
static int match(const char *t, const char *arg, size_t *sep)
{
	const char *s = strchr(t, '=');

	if (!s)
		s = strchr(t, ' ');
	if (s && (s[1] == '\0' || s[1] == '%')) {
		size_t plen = (size_t)(s - t) + (*s == '=');

		if (strncmp(arg, t, plen) == 0) {
			*sep = (size_t)(s - t);
			return 1;
		}
	}
	if (strcmp(t, arg) == 0) {
		*sep = 0;
		return 1;
	}
	return 0;
}

static const struct fuse_opt *find(const struct fuse_opt *o, const char *arg, size_t *sep)
{
	for (; o && o->templ; o++)
		if (match(o->templ, arg, sep))
			return o;
	return NULL;
}

int fuse_opt_match(const struct fuse_opt opts[], const char *opt)
{
	size_t sep;

	return opt && find(opts, opt, &sep) ? 1 : 0;
}

/* Passes @arg to the processing function under @key and keeps it (in the -o group when
 * @in_group) if the function says so: -1 error, 0 discard, anything else keep. */
static int call_proc(struct parser *p, const char *arg, int key, int in_group)
{
	if (key == FUSE_OPT_KEY_DISCARD)
		return 0;
	if (key != FUSE_OPT_KEY_KEEP && p->proc) {
		int res = p->proc(p->data, arg, key, &p->out);

		if (res == -1 || res == 0)
			return res;
	}
	if (in_group)
		return fuse_opt_add_opt_escaped(&p->group, arg);
	return fuse_opt_add_arg(&p->out, arg);
}

/* Stores @param converted by @format ("%s" duplicates the string, freeing the old one; any
 * other format goes through sscanf, as the header documents for templates like "%lu"). */
static int store_param(void *var, const char *format, const char *param, const char *arg)
{
	if (strcmp(format, "%s") == 0) {
		char **s = var;
		char *copy = strdup(param);

		if (!copy)
			return nomem();
		free(*s);
		*s = copy;
		return 0;
	}
	if (sscanf(param, format, var) != 1) {
		fuse_log(FUSE_LOG_ERR, "fuse: invalid parameter in option `%s'\n", arg);
		return -1;
	}
	return 0;
}

/* Carries out template @o's action for @arg, whose parameter (if any) starts at @sep. */
static int apply(struct parser *p, const struct fuse_opt *o, size_t sep, const char *arg,
		 int in_group)
{
	void *var;

	if (o->offset == -1U)
		return call_proc(p, arg, o->value, in_group) == -1 ? -1 : 0;
	if (!p->data) {
		fuse_log(FUSE_LOG_ERR, "fuse: option `%s' stores into NULL data\n", arg);
		return -1;
	}
	var = (char *)p->data + o->offset;
	if (sep && o->templ[sep + 1]) {
		/* match() let only a '%' format follow the separator here. */
		const char *param = arg + sep + (o->templ[sep] == '=');

		return store_param(var, o->templ + sep + 1, param, arg);
	}
	*(int *)var = o->value;
	return 0;
}

/* Moves to the next input argument, which the current one takes as its parameter. */
static int take_next(struct parser *p, const char *arg)
{
	if (p->pos + 1 >= p->argc) {
		fuse_log(FUSE_LOG_ERR, "fuse: missing argument after `%s'\n", arg);
		return -1;
	}
	p->pos++;
	return 0;
}

/* "-x foo" as two arguments: glue them into "-xfoo", which is what the template's action and
 * the processing function see. */
static int apply_split(struct parser *p, const struct fuse_opt *o, size_t sep, const char *arg,
		       int in_group)
{
	const char *param;
	char *joined;
	int res;

	if (take_next(p, arg) == -1)
		return -1;
	param = p->argv[p->pos];
	joined = malloc(sep + strlen(param) + 1);
	if (!joined)
		return nomem();
	memcpy(joined, arg, sep);
	strcpy(joined + sep, param);
	res = apply(p, o, sep, joined, in_group);
	free(joined);
	return res;
}

/* One option, standalone (-x, --foo) or from a -o group: every matching template acts, in
 * table order; with none, the processing function gets it as FUSE_OPT_KEY_OPT. */
static int one_option(struct parser *p, const char *arg, int in_group)
{
	size_t sep;
	const struct fuse_opt *o = find(p->opts, arg, &sep);

	if (!o)
		return call_proc(p, arg, FUSE_OPT_KEY_OPT, in_group);
	for (; o; o = find(o + 1, arg, &sep)) {
		int res;

		if (sep && o->templ[sep] == ' ' && arg[sep] == '\0')
			res = apply_split(p, o, sep, arg, in_group);
		else
			res = apply(p, o, sep, arg, in_group);
		if (res == -1)
			return -1;
	}
	return 0;
}

/* Splits the -o argument @group (modified in place) at unescaped commas. A backslash takes the
 * next character literally, or three octal digits \ooo (first digit 0-3) as one byte. */
static int option_group(struct parser *p, char *group)
{
	char *s = group, *d = group;

	for (;;) {
		if (*s == ',' || *s == '\0') {
			int last = *s == '\0';

			*d = '\0';
			if (one_option(p, group, 1) == -1)
				return -1;
			if (last)
				return 0;
			d = group;
		} else if (s[0] == '\\' && s[1] != '\0') {
			s++;
			if (s[0] >= '0' && s[0] <= '3' && s[1] >= '0' && s[1] <= '7' &&
			    s[2] >= '0' && s[2] <= '7') {
				*d++ = (char)((s[0] - '0') * 64 + (s[1] - '0') * 8 + (s[2] - '0'));
				s += 2;
			} else {
				*d++ = *s;
			}
		} else {
			*d++ = *s;
		}
		s++;
	}
}

static int one_arg(struct parser *p, const char *arg)
{
	if (p->nonopt || arg[0] != '-')
		return call_proc(p, arg, FUSE_OPT_KEY_NONOPT, 0);
	if (arg[1] == 'o') {
		char *group;
		int res;

		if (arg[2] == '\0') {
			if (take_next(p, arg) == -1)
				return -1;
			arg = p->argv[p->pos];
		} else {
			arg += 2;
		}
		group = strdup(arg);
		if (!group)
			return nomem();
		res = option_group(p, group);
		free(group);
		return res;
	}
	if (arg[1] == '-' && arg[2] == '\0') {
		if (fuse_opt_add_arg(&p->out, arg) == -1)
			return -1;
		p->nonopt = p->out.argc;
		return 0;
	}
	return one_option(p, arg, 0);
}

static int parse(struct parser *p)
{
	if (fuse_opt_add_arg(&p->out, p->argv[0]) == -1)
		return -1;
	for (p->pos = 1; p->pos < p->argc; p->pos++) {
		if (!p->argv[p->pos]) {
			fuse_log(FUSE_LOG_ERR, "fuse: NULL in argument vector at %d\n", p->pos);
			return -1;
		}
		if (one_arg(p, p->argv[p->pos]) == -1)
			return -1;
	}
	/* The kept -o items go back as one "-o a,b,c" right after argv[0], ahead of any "--". */
	if (p->group && (fuse_opt_insert_arg(&p->out, 1, "-o") == -1 ||
			 fuse_opt_insert_arg(&p->out, 2, p->group) == -1))
		return -1;
	/* A "--" that ended up last separates nothing: drop it. (As in libfuse, this is only
	 * noticed when no -o group was inserted before it.) */
	if (p->nonopt && p->nonopt == p->out.argc &&
	    strcmp(p->out.argv[p->out.argc - 1], "--") == 0) {
		free(p->out.argv[--p->out.argc]);
		p->out.argv[p->out.argc] = NULL;
	}
	return 0;
}

int fuse_opt_parse(struct fuse_args *args, void *data, const struct fuse_opt opts[],
		   fuse_opt_proc_t proc)
{
	struct parser p = { .data = data, .opts = opts, .proc = proc };
	int res;

	if (!args || !args->argv || args->argc <= 0)
		return 0;
	p.argc = args->argc;
	p.argv = args->argv;
	if (!p.argv[0]) {
		fuse_log(FUSE_LOG_ERR, "fuse: NULL in argument vector at 0\n");
		return -1;
	}
	res = parse(&p);
	if (res != -1) {
		/* The input is read until here, so it can only be freed now. */
		struct fuse_args in = *args;

		*args = p.out;
		p.out = in;
	}
	free(p.group);
	fuse_opt_free_args(&p.out);
	return res == -1 ? -1 : 0;
}
