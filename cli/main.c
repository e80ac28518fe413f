// SPDX-License-Identifier: GPL-2.0-only
/*
 * sluice: global options, the object table, help and dispatch.
 *
 * Global options come before OBJECT only (like ip), so that an argument after
 * the verb is never mistaken for one. Keywords match exactly: iproute2's
 * prefix matching made every new keyword a potential break of old scripts.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "print.h"

const struct cli_object *const cli_objects[] = {
	&cli_policy,
	&cli_rule,
	&cli_block,
	&cli_ct,
	&cli_egress,
	&cli_lb,
	&cli_status,
	&cli_stats,
	&cli_monitor,
	&cli_teardown,
	&cli_version,
	&cli_completion,
	&cli_complete_names,
	&cli_grammar,
	NULL,
};

int cli_output(const struct cli *c, struct json_object *data,
	       int (*text)(struct json_object *data))
{
	int err;

	if (c->json) {
		pr_json(stdout, data, c->pretty);
		return EXIT_OK;
	}
	err = text(data);
	if (err)
		return cli_error(c, EXIT_FAIL, "cannot print the answer: %s", strerror(-err));
	return EXIT_OK;
}

int cli_show(struct cli *c, int argc, char **argv, const char *cmd,
	     int (*text)(struct json_object *data))
{
	struct json_object *data;
	int rc = cli_no_args(c, argc, argv);

	if (rc)
		return rc;
	rc = ctl_call(c, cmd, NULL, &data);
	if (rc)
		return rc;
	rc = cli_output(c, data, text);
	json_object_put(data);
	return rc;
}

/* The usage text is the synopsis, built from the same tables that dispatch. */
static void object_synopsis(FILE *out, const struct cli_object *o, const char *lead)
{
	for_each_command(o, v)
		cli_synopsis(out, o, v, lead, 80);
}

/* "--src CIDR|@SET,..." or "-j, --json": an option as the option lists show it. */
static int opt_text(char *buf, size_t len, const struct cli_opt *p)
{
	return snprintf(buf, len, "%s%s%s%s%s%s", p->alias ? p->alias : "", p->alias ? ", " : "",
			p->name, p->arg ? " " : "", p->arg ? p->arg : "",
			p->flags & CLI_OPT_LIST ? ",..." : "");
}

/* The options of a table, one per line with its help, in aligned columns. */
static void option_list(FILE *out, const struct cli_opt *opts)
{
	char buf[256];
	int w = 0;

	for (const struct cli_opt *p = opts; p->name; p++) {
		int n = opt_text(buf, sizeof(buf), p);

		if (n > w)
			w = n;
	}
	for (const struct cli_opt *p = opts; p->name; p++) {
		opt_text(buf, sizeof(buf), p);
		fprintf(out, "  %-*s  %s\n", w, buf, p->help);
	}
}

static void usage_text(FILE *out)
{
	fputs("Usage: sluice [OPTIONS] OBJECT VERB [ARGS]\n"
	      "       sluice help\n"
	      "       sluice OBJECT help\n"
	      "\n"
	      "Commands:\n", out);
	for (size_t i = 0; cli_objects[i]; i++)
		if (!cli_objects[i]->hidden)
			object_synopsis(out, cli_objects[i], "  ");
	fputs("\nOptions (before OBJECT):\n", out);
	option_list(out, cli_globals);
	fputs("\nExit status: 0 success, 1 the operation failed, 2 bad usage or invalid input.\n",
	      out);
}

/* `sluice OBJECT help`: the synopsis, what the object does, every verb's options. */
static void object_help(FILE *out, const struct cli_object *o)
{
	fputs("Usage:\n", out);
	object_synopsis(out, o, "  ");
	fprintf(out, "\n%s\n", o->summary);
	for_each_command(o, v) {
		if (!v->opts || !v->opts[0].name)
			continue;
		if (v->name)
			fprintf(out, "\nOptions of '%s %s':\n", o->name, v->name);
		else
			fprintf(out, "\nOptions:\n");
		option_list(out, v->opts);
	}
}

/* Help goes to stdout; under -j as {"usage": "..."} so stdout stays JSON. */
static int print_help(const struct cli *c, const struct cli_object *o)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	struct json_object *j;

	if (!mem)
		return cli_error(c, EXIT_FAIL, "out of memory");
	if (o) {
		object_help(mem, o);
	} else {
		usage_text(mem);
	}
	if (fclose(mem)) {
		free(buf);
		return cli_error(c, EXIT_FAIL, "out of memory");
	}
	if (!c->json) {
		fputs(buf, stdout);
		free(buf);
		return EXIT_OK;
	}
	j = json_object_new_object();
	json_object_object_add(j, "usage", json_object_new_string(buf));
	pr_json(stdout, j, c->pretty);
	json_object_put(j);
	free(buf);
	return EXIT_OK;
}

static const struct cli_object *find_object(const char *name)
{
	for (size_t i = 0; cli_objects[i]; i++)
		if (!strcmp(cli_objects[i]->name, name))
			return cli_objects[i];
	return NULL;
}

static int dispatch(struct cli *c, int argc, char **argv)
{
	const struct cli_object *o;
	const struct cli_verb *v;

	if (argc == 0)
		return cli_error(c, EXIT_USAGE, "missing OBJECT; try 'sluice help'");
	if (!strcmp(argv[0], "help")) {
		if (argc == 1)
			return print_help(c, NULL);
		o = find_object(argv[1]);
		if (!o)
			return cli_error(c, EXIT_USAGE, "unknown object '%s'; try 'sluice help'",
					 argv[1]);
		if (argc > 2)
			return cli_error(c, EXIT_USAGE, "unexpected argument '%s' after 'help %s'",
					 argv[2], argv[1]);
		return print_help(c, o);
	}
	o = find_object(argv[0]);
	if (!o)
		return cli_error(c, EXIT_USAGE, "unknown object '%s'; try 'sluice help'", argv[0]);
	c->object = o->name;
	if (argc >= 2 && !strcmp(argv[1], "help")) {
		if (argc > 2)
			return cli_error(c, EXIT_USAGE, "unexpected argument '%s' after 'help'",
					 argv[2]);
		return print_help(c, o);
	}
	if (!o->verbs) {
		c->verb = o->cmd;
		return o->cmd->fn(c, argc - 1, argv + 1);
	}
	if (argc < 2)
		return cli_error(c, EXIT_USAGE, "missing VERB after '%s'; try 'sluice %s help'",
				 o->name, o->name);
	for (v = o->verbs; v->name; v++)
		if (!strcmp(v->name, argv[1])) {
			c->verb = v;
			return v->fn(c, argc - 2, argv + 2);
		}
	return cli_error(c, EXIT_USAGE, "unknown command '%s %s'; try 'sluice %s help'",
			 o->name, argv[1], o->name);
}

/* The global option at ARGV[I] (its long name or its alias); *VALUE after '=', if any. */
static const struct cli_opt *global_opt(const char *arg, const char **value)
{
	*value = NULL;
	for (const struct cli_opt *o = cli_globals; o->name; o++) {
		size_t n = strlen(o->name);

		if (o->alias && !strcmp(arg, o->alias))
			return o;
		if (strncmp(arg, o->name, n))
			continue;
		if (arg[n] == '=')
			*value = arg + n + 1;
		if (arg[n] == '=' || !arg[n])
			return o;
	}
	return NULL;
}

/* Global options, from cli_globals: -1 to go on to OBJECT, else the exit status. */
static int global_options(struct cli *c, int argc, char **argv, int *i)
{
	for (; *i < argc && argv[*i][0] == '-'; ++*i) {
		const char *arg = argv[*i], *val;
		const struct cli_opt *o;

		if (!strcmp(arg, "--")) {
			++*i;
			break;
		}
		o = global_opt(arg, &val);
		if (!o)
			return cli_error(c, EXIT_USAGE, "unknown option '%s'; try 'sluice help'", arg);
		if (!o->arg && val)
			return cli_error(c, EXIT_USAGE, "option '%s' takes no value", o->name);
		if (o->arg && !val) {
			if (*i + 1 >= argc)
				return cli_error(c, EXIT_USAGE, "option '%s' needs a value (%s)",
						 o->name, o->arg);
			val = argv[++*i];
		}
		if (o->arg && !*val)
			return cli_error(c, EXIT_USAGE, "option '%s' needs a value (%s)", o->name,
					 o->arg);
		if (!strcmp(o->name, "--socket"))
			c->socket = val;
		else if (!strcmp(o->name, "--state-dir"))
			c->state_dir = val;
		else if (!strcmp(o->name, "--help"))
			return print_help(c, NULL);
		else if (!strcmp(o->name, "--version"))
			return cli_version_only(c);
		/* --json and --pretty: seen before anything could be reported */
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct cli c = {
		.socket = SLUICE_DEFAULT_SOCKET,
		.state_dir = SLUICE_DEFAULT_STATE,
		.object = "",
	};
	int i, rc;

	/* -j decides where errors go, so find it before reporting any error */
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const struct cli_opt *o;
		const char *val;

		if (!strcmp(argv[i], "--"))
			break;
		o = global_opt(argv[i], &val);
		if (o && !strcmp(o->name, "--json"))
			c.json = true;
		if (o && !strcmp(o->name, "--pretty"))
			c.json = c.pretty = true;
		if (o && o->arg && !val)
			i++;
	}

	i = 1;
	rc = global_options(&c, argc, argv, &i);
	if (rc >= 0)
		goto out;
	rc = dispatch(&c, argc - i, argv + i);
out:
	/* a full disk or a closed pipe is a failure too, not a silent success */
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "sluice: cannot write the output: %s\n", strerror(errno));
		if (rc == EXIT_OK)
			rc = EXIT_FAIL;
	}
	return rc;
}
