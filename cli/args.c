// SPDX-License-Identifier: GPL-2.0-only
/*
 * The CLI's grammar as data, and what reads it: the parser of a verb's
 * arguments (cli_parse), the synopsis the help and the man page print
 * (cli_synopsis), the global options, list arguments and the one place
 * errors are reported (cli_error). cli/complete.c reads the same tables for
 * the bash completion.
 *
 * Options are `--name VALUE` or `--name=VALUE`; a value is taken as it is,
 * also when it starts with '-' (`--sport -1` is a bad port, not an unknown
 * option). Lists, as SPEC.md's CLI conventions want them, are
 * comma-separated or repeated: `--src 192.0.2.0/24,198.51.100.0/24 --src
 * 203.0.113.1`. Keywords match exactly, never by prefix.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "print.h"

const struct cli_opt cli_globals[] = {
	{ "--json", NULL, 0, CV_TEXT, NULL,
	  "print only JSON on stdout; errors as {\"error\": \"...\"}", "-j" },
	{ "--pretty", NULL, 0, CV_TEXT, NULL, "indented JSON (implies --json)", "-p" },
	{ "--socket", "PATH", 0, CV_FILE, NULL,
	  "agent control socket (default " SLUICE_DEFAULT_SOCKET ")", NULL },
	{ "--state-dir", "DIR", 0, CV_DIR, NULL,
	  "pinned state, for teardown without an agent (default " SLUICE_DEFAULT_STATE ")",
	  NULL },
	{ "--help", NULL, 0, CV_TEXT, NULL, "this text", "-h" },
	{ "--version", NULL, 0, CV_TEXT, NULL, "the CLI's version", "-V" },
	{ NULL },
};

int cli_error(const struct cli *c, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* one line, whatever the agent or the kernel put in the message */
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (c->json) {
		struct json_object *o = json_object_new_object();

		if (o && !json_object_object_add(o, "error", json_object_new_string(msg))) {
			pr_json(stdout, o, c->pretty);
			json_object_put(o);
			return status;
		}
		json_object_put(o);
	}
	fprintf(stderr, "sluice: %s\n", msg);
	return status;
}

bool cli_global_option(const char *arg)
{
	for (const struct cli_opt *o = cli_globals; o->name; o++) {
		size_t n = strlen(o->name);

		if (o->alias && !strcmp(arg, o->alias))
			return true;
		if (!strncmp(arg, o->name, n) && (arg[n] == '\0' || arg[n] == '='))
			return true;
	}
	return false;
}

/* "rule add" or "status": the command running, for messages. */
static const char *command_name(const struct cli *c, char *buf, size_t len)
{
	if (c->verb && c->verb->name)
		snprintf(buf, len, "%s %s", c->object, c->verb->name);
	else
		snprintf(buf, len, "%s", c->object);
	return buf;
}

static const struct cli_opt *find_opt(const struct cli_opt *opts, const char *arg, size_t *n)
{
	for (const struct cli_opt *o = opts; o && o->name; o++) {
		*n = strlen(o->name);
		if (!strncmp(arg, o->name, *n) && (arg[*n] == '\0' || arg[*n] == '='))
			return o;
	}
	return NULL;
}

/* The name of positional argument I in the synopsis ("CIDR" of "CIDR..."). */
static void pos_name(const char *synopsis, size_t i, char *buf, size_t len)
{
	const char *p = synopsis, *word = synopsis;
	size_t n = 0;

	for (size_t k = 0; *p; k++) {
		p += strspn(p, " ");
		word = p;
		n = strcspn(p, " ");
		p += n;
		if (k == i || !*p)
			break;
	}
	while (n && (word[n - 1] == '.' || word[n - 1] == ']'))
		n--;
	while (n && word[0] == '[') {
		word++;
		n--;
	}
	snprintf(buf, len, "%.*s", (int)n, n ? word : "ARG");
}

static int unknown_option(struct cli *c, const char *arg)
{
	char cmd[64];

	command_name(c, cmd, sizeof(cmd));
	if (cli_global_option(arg))
		return cli_error(c, EXIT_USAGE, "option '%s' goes before OBJECT: sluice %s %s ...",
				 arg, arg, cmd);
	return cli_error(c, EXIT_USAGE, "unknown option '%s' for '%s'; try 'sluice %s help'",
			 arg, cmd, c->object);
}

/* Option O (index K) at ARGV[*I], its value after '=' or in the next argument. */
static int take_option(struct cli *c, const struct cli_opt *o, size_t k, size_t n, int argc,
		       char **argv, int *i, struct cli_args *a)
{
	const char *arg = argv[*i], *val;
	int err;

	if (!o->arg) {
		if (arg[n] == '=')
			return cli_error(c, EXIT_USAGE, "option '%s' takes no value", o->name);
		if (a->val[k])
			return cli_error(c, EXIT_USAGE, "option '%s' given twice", o->name);
		a->val[k] = "";
		return EXIT_OK;
	}
	if (arg[n] == '=')
		val = arg + n + 1;
	else if (*i + 1 < argc)
		val = argv[++*i];
	else
		val = NULL;
	if (!val || !*val)
		return cli_error(c, EXIT_USAGE, "option '%s' needs a value (%s)", o->name, o->arg);
	if (!(o->flags & CLI_OPT_LIST)) {
		if (a->val[k])
			return cli_error(c, EXIT_USAGE, "option '%s' given twice", o->name);
		a->val[k] = val;
		return EXIT_OK;
	}
	err = cli_list_add(&a->list[k], val);
	if (err == -EINVAL)
		return cli_error(c, EXIT_USAGE, "%s '%s': an empty element in the list", o->name,
				 val);
	if (err)
		return cli_error(c, EXIT_FAIL, "out of memory");
	a->val[k] = val;
	return EXIT_OK;
}

int cli_parse(struct cli *c, int argc, char **argv, struct cli_args *a)
{
	const struct cli_verb *v = c->verb;
	bool options = true;
	char name[64];
	int rc = EXIT_OK;

	memset(a, 0, sizeof(*a));
	a->pos = calloc((size_t)argc + 1, sizeof(*a->pos));
	if (!a->pos)
		return cli_error(c, EXIT_FAIL, "out of memory");
	for (int i = 0; i < argc && !rc; i++) {
		const char *arg = argv[i];
		const struct cli_opt *o;
		size_t n = 0;

		if (options && !strcmp(arg, "--")) {
			options = false;
			continue;
		}
		if (options && arg[0] == '-' && arg[1]) {
			o = find_opt(v->opts, arg, &n);
			rc = o ? take_option(c, o, (size_t)(o - v->opts), n, argc, argv, &i, a) :
			     unknown_option(c, arg);
			continue;
		}
		/* CLI_MANY: as many as given (pos holds argc) */
		if (v->max != CLI_MANY && a->npos >= v->max)
			rc = cli_error(c, EXIT_USAGE, "unexpected argument '%s'; try 'sluice %s help'",
				       arg, c->object);
		else
			a->pos[a->npos++] = argv[i];
	}
	if (!rc && a->npos < v->min) {
		pos_name(v->synopsis, a->npos, name, sizeof(name));
		rc = cli_error(c, EXIT_USAGE, "missing %s; try 'sluice %s help'", name, c->object);
	}
	for (const struct cli_opt *o = v->opts; !rc && o && o->name; o++)
		if ((o->flags & CLI_OPT_REQUIRED) && !a->val[o - v->opts])
			rc = cli_error(c, EXIT_USAGE, "missing %s %s; try 'sluice %s help'", o->name,
				       o->arg ? o->arg : "", c->object);
	if (rc)
		cli_args_free(a);
	return rc;
}

void cli_args_free(struct cli_args *a)
{
	free(a->pos);
	a->pos = NULL;
	a->npos = 0;
	for (size_t k = 0; k < CLI_MAX_OPTS; k++)
		cli_list_free(&a->list[k]);
}

static size_t opt_index(const struct cli *c, const char *name)
{
	size_t n;
	const struct cli_opt *o = find_opt(c->verb->opts, name, &n);

	/* a verb asking for an option its table lacks is a bug, not a user's mistake */
	if (!o || name[n]) {
		fprintf(stderr, "sluice: BUG: '%s' asks for option %s\n",
			c->verb->name ? c->verb->name : c->object, name);
		abort();
	}
	return (size_t)(o - c->verb->opts);
}

const char *cli_arg(const struct cli *c, const struct cli_args *a, const char *name)
{
	return a->val[opt_index(c, name)];
}

const struct cli_list *cli_arg_list(const struct cli *c, const struct cli_args *a,
				    const char *name)
{
	return &a->list[opt_index(c, name)];
}

int cli_no_args(struct cli *c, int argc, char **argv)
{
	static const struct cli_verb none = { .synopsis = "" };
	const struct cli_verb *verb = c->verb;
	struct cli_args a;
	int rc;

	/* the verb's own table when it has one, else "no arguments at all" */
	if (!verb)
		c->verb = &none;
	rc = cli_parse(c, argc, argv, &a);
	c->verb = verb;
	if (!rc)
		cli_args_free(&a);
	return rc;
}

/* One word of a synopsis: "--src CIDR|@SET,..." in brackets unless required. */
static int opt_word(char *buf, size_t len, const struct cli_opt *o)
{
	bool req = o->flags & CLI_OPT_REQUIRED;

	return snprintf(buf, len, "%s%s%s%s%s%s", req ? "" : "[", o->name, o->arg ? " " : "",
			o->arg ? o->arg : "", o->flags & CLI_OPT_LIST ? ",..." : "",
			req ? "" : "]");
}

void cli_synopsis(FILE *out, const struct cli_object *o, const struct cli_verb *v,
		  const char *lead, int width)
{
	char head[128], word[256];
	int col, indent;

	if (v->name)
		snprintf(head, sizeof(head), "%ssluice %s %s", lead, o->name, v->name);
	else
		snprintf(head, sizeof(head), "%ssluice %s", lead, o->name);
	fputs(head, out);
	col = indent = (int)strlen(head) + 1;
	if (v->synopsis && v->synopsis[0]) {
		fprintf(out, " %s", v->synopsis);
		col += (int)strlen(v->synopsis) + 1;
	}
	for (const struct cli_opt *p = v->opts; p && p->name; p++) {
		int n = opt_word(word, sizeof(word), p);

		/* wrapped under the first argument, as man pages indent a synopsis */
		if (col + n + 1 > width && col > indent) {
			fprintf(out, "\n%*s", indent - 1, "");
			col = indent - 1;
		}
		fprintf(out, " %s", word);
		col += n + 1;
	}
	fputc('\n', out);
}

/*
 * Append every comma-separated element of ARG to L. An empty element is a
 * mistake ("a,,b" or a trailing comma), not "nothing": refuse it before L
 * changes, so that the caller's error names the whole argument.
 */
int cli_list_add(struct cli_list *l, const char *arg)
{
	size_t n = 1, added = 0;
	char **v;

	if (!*arg)
		return -EINVAL;
	for (const char *p = arg; *p; p++) {
		if (*p != ',')
			continue;
		if (p == arg || p[1] == ',' || p[1] == '\0')
			return -EINVAL;
		n++;
	}
	v = reallocarray(l->v, l->n + n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	for (const char *p = arg; added < n; added++) {
		size_t len = strcspn(p, ",");

		v[l->n + added] = strndup(p, len);
		if (!v[l->n + added]) {
			while (added--)
				free(v[l->n + added]);
			return -ENOMEM;
		}
		p += len + 1;
	}
	l->n += n;
	return 0;
}

void cli_list_free(struct cli_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}
