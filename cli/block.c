// SPDX-License-Identifier: GPL-2.0-only
/*
 * sluice block ...: the quick blocklist. Packets whose source is in it are
 * dropped before every rule and before conntrack (a block cuts established
 * connections too). The agent keeps the list in its edits file inside the
 * policy dir (docs/cli.md), so it survives restarts and reboots.
 *
 * Also the helpers every edit command shares: the --generation option and
 * the answer's text.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "prefix.h"
#include "print.h"

int cli_parse_generation(struct cli *c, const char *arg, long long *gen)
{
	char *end;

	errno = 0;
	*gen = strtoll(arg, &end, 10);
	if (!*arg || *end || errno || *gen < 0 || arg[0] == '-' || arg[0] == '+')
		return cli_error(c, EXIT_USAGE, "--generation '%s': not a generation number", arg);
	return EXIT_OK;
}

int cli_edit_call(struct cli *c, const char *cmd, struct json_object *args, long long gen,
		  struct json_object **data)
{
	struct json_object *g;
	int rc;

	/* the generation this edit is decided against: given, or the one in force now */
	if (gen < 0) {
		rc = ctl_call(c, "generation", NULL, &g);
		if (rc)
			return rc;
		gen = json_object_get_int64(json_object_object_get(g, "generation"));
		json_object_put(g);
	}
	json_object_object_add(args, "generation", json_object_new_int64(gen));
	return ctl_call(c, cmd, args, data);
}

/*
 * "--generation N" or "--generation=N" at argv[*i]: 1 when it was (and *I
 * is moved past it), 0 when argv[*i] is something else, -STATUS on error.
 */
int cli_opt_generation(struct cli *c, int argc, char **argv, int *i, long long *gen)
{
	const char *arg = argv[*i], *v;
	int rc;

	if (!strcmp(arg, "--generation")) {
		if (*i + 1 >= argc)
			return -cli_error(c, EXIT_USAGE, "option '--generation' needs a value");
		v = argv[++*i];
	} else if (!strncmp(arg, "--generation=", 13)) {
		v = arg + 13;
	} else {
		return 0;
	}
	if (*gen >= 0)
		return -cli_error(c, EXIT_USAGE, "option '--generation' given twice");
	rc = cli_parse_generation(c, v, gen);
	return rc ? -rc : 1;
}

/* Prefixes and options of block add/del; the prefixes are checked here first. */
static int block_args(struct cli *c, int argc, char **argv, const char *verb,
		      struct json_object **args, long long *gen)
{
	struct json_object *pfx = json_object_new_array();
	int rc;

	*gen = -1;
	*args = NULL;
	for (int i = 0; i < argc; i++) {
		struct sl_prefix p;
		char err[256];

		rc = cli_opt_generation(c, argc, argv, &i, gen);
		if (rc < 0)
			goto fail;
		if (rc)
			continue;
		if (argv[i][0] == '-' && argv[i][1]) {
			rc = cli_global_option(argv[i]) ?
			     -cli_error(c, EXIT_USAGE, "option '%s' goes before OBJECT: sluice %s "
					"block %s ...", argv[i], argv[i], verb) :
			     -cli_error(c, EXIT_USAGE, "unknown option '%s' for 'block %s'; try "
					"'sluice block help'", argv[i], verb);
			goto fail;
		}
		if (sl_prefix_parse(argv[i], strlen(argv[i]), &p, err, sizeof(err))) {
			rc = -cli_error(c, EXIT_USAGE, "CIDR argument %d: %s", i + 1, err);
			goto fail;
		}
		json_object_array_add(pfx, json_object_new_string(argv[i]));
	}
	if (!json_object_array_length(pfx)) {
		rc = -cli_error(c, EXIT_USAGE, "missing CIDR; try 'sluice block help'");
		goto fail;
	}
	*args = json_object_new_object();
	json_object_object_add(*args, "prefixes", pfx);
	return EXIT_OK;
fail:
	json_object_put(pfx);
	return -rc;
}

static void print_list(const char *lead, struct json_object *arr, const char *gen_text)
{
	size_t n = json_object_is_type(arr, json_type_array) ? json_object_array_length(arr) : 0;

	if (!n)
		return;
	printf("%s", lead);
	for (size_t i = 0; i < n; i++)
		printf("%s%s", i ? ", " : " ",
		       json_object_get_string(json_object_array_get_idx(arr, i)));
	printf("%s\n", gen_text);
}

static int block_add_text(struct json_object *d)
{
	char gen[64];

	snprintf(gen, sizeof(gen), " (generation %lld)",
		 (long long)json_object_get_int64(pr_get(d, "generation")));
	print_list("blocked", pr_get(d, "added"), gen);
	print_list("already blocked:", pr_get(d, "present"), "");
	return 0;
}

static int block_del_text(struct json_object *d)
{
	char gen[64];

	snprintf(gen, sizeof(gen), " (generation %lld)",
		 (long long)json_object_get_int64(pr_get(d, "generation")));
	print_list("unblocked", pr_get(d, "removed"), gen);
	return 0;
}

static int do_block_edit(struct cli *c, int argc, char **argv, const char *verb,
			 const char *cmd, int (*text)(struct json_object *))
{
	struct json_object *args, *data;
	long long gen;
	int rc = block_args(c, argc, argv, verb, &args, &gen);

	if (rc)
		return rc;
	rc = cli_edit_call(c, cmd, args, gen, &data);
	json_object_put(args);
	if (rc)
		return rc;
	rc = cli_output(c, data, text);
	json_object_put(data);
	return rc;
}

static int do_block_add(struct cli *c, int argc, char **argv)
{
	return do_block_edit(c, argc, argv, "add", "block-add", block_add_text);
}

static int do_block_del(struct cli *c, int argc, char **argv)
{
	return do_block_edit(c, argc, argv, "del", "block-del", block_del_text);
}

static const struct pr_col block_cols[] = {
	{ "PREFIX", "prefix", 0 },
};

static int block_list_text(struct json_object *d)
{
	struct json_object *arr = pr_get(d, "prefixes"), *rows = json_object_new_array();
	int err;

	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "prefix",
				       json_object_get(json_object_array_get_idx(arr, i)));
		json_object_array_add(rows, o);
	}
	if (!json_object_array_length(rows)) {
		printf("the blocklist is empty\n");
		json_object_put(rows);
		return 0;
	}
	err = pr_rows(stdout, block_cols, 1, rows, "");
	json_object_put(rows);
	return err;
}

static int do_block_list(struct cli *c, int argc, char **argv)
{
	return cli_show(c, argc, argv, "block-list", block_list_text);
}

static const struct cli_verb block_verbs[] = {
	{ "add", do_block_add, "CIDR... [--generation N]" },
	{ "del", do_block_del, "CIDR... [--generation N]" },
	{ "list", do_block_list, "" },
	{ NULL },
};

const struct cli_object cli_block = {
	.name = "block",
	.verbs = block_verbs,
	.summary = "The quick blocklist: packets from these sources (IPv4 or IPv6 prefixes) are\n"
		   "dropped before every rule and before conntrack, so a block also cuts\n"
		   "established connections. Kept by the agent in the policy dir: it survives\n"
		   "restarts. Adding a listed prefix is reported, not an error; deleting one that\n"
		   "is not listed fails (exit 1) and changes nothing. --generation N: refuse the\n"
		   "edit (exit 1) if the policy in force is no longer generation N.",
};
