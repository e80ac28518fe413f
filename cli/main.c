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

static const struct cli_object *const objects[] = {
	&cli_policy,
	&cli_rule,
	&cli_block,
	&cli_ct,
	&cli_egress,
	&cli_status,
	&cli_stats,
	&cli_monitor,
	&cli_teardown,
};

#define NOBJECTS (sizeof(objects) / sizeof(objects[0]))

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

bool cli_global_option(const char *arg)
{
	static const char *const opts[] = {
		"-j", "--json", "-p", "--pretty", "--socket", "--state-dir",
	};

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		size_t n = strlen(opts[i]);

		if (!strncmp(arg, opts[i], n) && (arg[n] == '\0' || arg[n] == '='))
			return true;
	}
	return false;
}

int cli_no_args(struct cli *c, int argc, char **argv)
{
	if (argc > 0 && cli_global_option(argv[0]))
		return cli_error(c, EXIT_USAGE, "option '%s' goes before OBJECT: sluice %s %s ...",
				 argv[0], argv[0], c->object);
	if (argc > 0)
		return cli_error(c, EXIT_USAGE, "unexpected argument '%s'; try 'sluice %s help'",
				 argv[0], c->object);
	return EXIT_OK;
}

/* The usage text is the synopsis, built from the same tables that dispatch. */
static void object_synopsis(FILE *out, const struct cli_object *o, const char *lead)
{
	if (!o->verbs) {
		fprintf(out, "%ssluice %s%s%s\n", lead, o->name, o->synopsis[0] ? " " : "",
			o->synopsis);
		return;
	}
	for (const struct cli_verb *v = o->verbs; v->name; v++)
		fprintf(out, "%ssluice %s %s%s%s\n", lead, o->name, v->name,
			v->synopsis[0] ? " " : "", v->synopsis);
}

static void usage_text(FILE *out)
{
	fputs("Usage: sluice [OPTIONS] OBJECT VERB [ARGS]\n"
	      "       sluice help\n"
	      "       sluice OBJECT help\n"
	      "\n"
	      "Commands:\n", out);
	for (size_t i = 0; i < NOBJECTS; i++)
		object_synopsis(out, objects[i], "  ");
	fputs("\n"
	      "Options (before OBJECT):\n"
	      "  -j, --json         print only JSON on stdout; errors as {\"error\": \"...\"}\n"
	      "  -p, --pretty       indented JSON (implies --json)\n"
	      "  --socket PATH      agent control socket (default " SLUICE_DEFAULT_SOCKET ")\n"
	      "  --state-dir DIR    pinned state, for teardown without an agent\n"
	      "                     (default " SLUICE_DEFAULT_STATE ")\n"
	      "  -h, --help         this text\n"
	      "  -V, --version      print the version\n"
	      "\n"
	      "Exit status: 0 success, 1 the operation failed, 2 bad usage or invalid input.\n",
	      out);
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
		fputs("Usage:\n", mem);
		object_synopsis(mem, o, "  ");
		fprintf(mem, "\n%s\n", o->summary);
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
	for (size_t i = 0; i < NOBJECTS; i++)
		if (!strcmp(objects[i]->name, name))
			return objects[i];
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
	if (!o->verbs)
		return o->fn(c, argc - 1, argv + 1);
	if (argc < 2)
		return cli_error(c, EXIT_USAGE, "missing VERB after '%s'; try 'sluice %s help'",
				 o->name, o->name);
	for (v = o->verbs; v->name; v++)
		if (!strcmp(v->name, argv[1]))
			return v->fn(c, argc - 2, argv + 2);
	return cli_error(c, EXIT_USAGE, "unknown command '%s %s'; try 'sluice %s help'",
			 o->name, argv[1], o->name);
}

/* "--name VALUE" or "--name=VALUE"; *I is advanced past a separate VALUE. */
static int option_value(struct cli *c, int argc, char **argv, int *i, const char *name,
			const char **value)
{
	size_t n = strlen(name);
	const char *arg = argv[*i];

	if (strncmp(arg, name, n))
		return 0;
	if (arg[n] == '=') {
		*value = arg + n + 1;
	} else if (arg[n] == '\0') {
		if (*i + 1 >= argc)
			return -cli_error(c, EXIT_USAGE, "option '%s' needs a value", name);
		*value = argv[++*i];
	} else {
		return 0;
	}
	if (!**value)
		return -cli_error(c, EXIT_USAGE, "option '%s' needs a non-empty value", name);
	return 1;
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
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json"))
			c.json = true;
		if (!strcmp(argv[i], "-p") || !strcmp(argv[i], "--pretty"))
			c.json = c.pretty = true;
		if (!strcmp(argv[i], "--socket") || !strcmp(argv[i], "--state-dir"))
			i++;
	}

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *arg = argv[i];

		if (!strcmp(arg, "--")) {
			i++;
			break;
		}
		if (!strcmp(arg, "-j") || !strcmp(arg, "--json") ||
		    !strcmp(arg, "-p") || !strcmp(arg, "--pretty"))
			continue;
		if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
			rc = print_help(&c, NULL);
			goto out;
		}
		if (!strcmp(arg, "-V") || !strcmp(arg, "--version")) {
			if (c.json)
				printf("{\"version\":\"%s\"}\n", SLUICE_VERSION);
			else
				printf("sluice %s\n", SLUICE_VERSION);
			rc = EXIT_OK;
			goto out;
		}
		rc = option_value(&c, argc, argv, &i, "--socket", &c.socket);
		if (rc == 0)
			rc = option_value(&c, argc, argv, &i, "--state-dir", &c.state_dir);
		if (rc < 0) {
			rc = -rc;
			goto out;
		}
		if (rc == 0) {
			rc = cli_error(&c, EXIT_USAGE, "unknown option '%s'; try 'sluice help'", arg);
			goto out;
		}
	}
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
