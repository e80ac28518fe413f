// SPDX-License-Identifier: GPL-2.0-only
/*
 * sluice block ...: the quick blocklist. Packets whose source is in it are
 * dropped before every rule and before conntrack (a block cuts established
 * connections too). The agent keeps the list in its edits file inside the
 * policy dir (docs/cli.md), so it survives restarts and reboots.
 *
 * Also the helpers every edit command shares: the --generation option and
 * the call that sends the edit.
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
	/*
	 * The generation this edit was decided against, when the caller gave
	 * one (--generation). Without it the edit is an operation on whatever
	 * is in force when the agent serves it, as `nft add element` is: two
	 * scripts blocking at once (fail2ban's jails) both get their block,
	 * where a generation fetched here made one of them a conflict.
	 */
	if (gen >= 0)
		json_object_object_add(args, "generation", json_object_new_int64(gen));
	return ctl_call(c, cmd, args, data);
}

int cli_edit_run(struct cli *c, const char *cmd, struct json_object *args, long long gen,
		 int (*text)(struct json_object *data))
{
	struct json_object *data;
	int rc = cli_edit_call(c, cmd, args, gen, &data);

	json_object_put(args);
	if (rc)
		return rc;
	rc = cli_output(c, data, text);
	json_object_put(data);
	return rc;
}

int cli_generation(struct cli *c, const struct cli_args *a, long long *gen)
{
	const char *v = cli_arg(c, a, "--generation");

	*gen = -1;
	return v ? cli_parse_generation(c, v, gen) : EXIT_OK;
}

static const struct cli_opt block_opts[] = {
	CLI_OPT_GENERATION,
	{ NULL },
};

/*
 * The prefixes and options of block add/del; the prefixes are checked here
 * first. DEL takes an IPv4-mapped one too (refused since, an older agent
 * took it): it goes.
 */
static int block_args(struct cli *c, int argc, char **argv, bool del, struct json_object **args,
		      long long *gen)
{
	struct json_object *pfx;
	struct cli_args a;
	int rc;

	*args = NULL;
	rc = cli_parse(c, argc, argv, &a);
	if (rc)
		return rc;
	rc = cli_generation(c, &a, gen);
	pfx = json_object_new_array();
	for (size_t i = 0; i < a.npos && !rc; i++) {
		struct sl_prefix p;
		char err[256];

		if (sl_prefix_parse_saved(a.pos[i], strlen(a.pos[i]), &p, err, sizeof(err), del))
			rc = cli_error(c, EXIT_USAGE, "CIDR argument %zu: %s", i + 1, err);
		else
			json_object_array_add(pfx, json_object_new_string(a.pos[i]));
	}
	cli_args_free(&a);
	if (rc) {
		json_object_put(pfx);
		return rc;
	}
	*args = json_object_new_object();
	json_object_object_add(*args, "prefixes", pfx);
	return EXIT_OK;
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

static int do_block_edit(struct cli *c, int argc, char **argv, const char *cmd,
			 int (*text)(struct json_object *))
{
	struct json_object *args;
	long long gen;
	int rc = block_args(c, argc, argv, !strcmp(cmd, "block-del"), &args, &gen);

	return rc ? rc : cli_edit_run(c, cmd, args, gen, text);
}

static int do_block_add(struct cli *c, int argc, char **argv)
{
	return do_block_edit(c, argc, argv, "block-add", block_add_text);
}

static int do_block_del(struct cli *c, int argc, char **argv)
{
	return do_block_edit(c, argc, argv, "block-del", block_del_text);
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
	{ "add", do_block_add, "CIDR...", block_opts, CV_TEXT, 1, CLI_MANY },
	{ "del", do_block_del, "CIDR...", block_opts, CV_BLOCKED, 1, CLI_MANY },
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
		   "is not listed fails (exit 1) and changes nothing.",
};
