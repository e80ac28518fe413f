// SPDX-License-Identifier: GPL-2.0-only
/*
 * sluice rule ...: the firewall rules in force, in order (first match wins),
 * with their counters; the default action is the last line. `rule add` and
 * `rule del` edit the rules the CLI owns, through the agent; the rule is
 * checked here first by the policy parser itself (lib/policy_edit.c), so
 * an argument is refused exactly as the same value in a file would be, with
 * the argument named instead of FILE:LINE:COL.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "policy_edit.h"
#include "print.h"

/* The columns; SECTION (index SEC_COL) only with rules of several firewall sections. */
static const struct pr_col rule_cols[] = {
	{ "#",       "index",   PR_NUM },
	{ "SECTION", "section", 0 },
	{ "NAME",    "name",    0 },
	{ "ACTION",  "action",  0 },
	{ "SRC",     "src",     PR_ANY },
	{ "DST",     "dst",     PR_ANY },
	{ "PROTO",   "proto",   PR_ANY },
	{ "SPORT",   "sport",   PR_ANY },
	{ "DPORT",   "dport",   PR_ANY },
	{ "PACKETS", "packets", PR_NUM },
	{ "BYTES",   "bytes",   PR_NUM },
};

#define NCOLS	(sizeof(rule_cols) / sizeof(rule_cols[0]))
#define SEC_COL	1

/* DST = SRC (NCOLS entries) without the SECTION column, unless SEC. */
static size_t pick_cols(void *dst, const void *src, size_t size, bool sec)
{
	if (sec) {
		memcpy(dst, src, NCOLS * size);
		return NCOLS;
	}
	memcpy(dst, src, SEC_COL * size);
	memcpy((char *)dst + SEC_COL * size, (const char *)src + (SEC_COL + 1) * size,
	       (NCOLS - SEC_COL - 1) * size);
	return NCOLS - 1;
}

/* Do the rules (and the default) name more than one section? */
static bool several_sections(struct json_object *rules, struct json_object *def)
{
	size_t n = json_object_is_type(rules, json_type_array) ? json_object_array_length(rules) : 0;
	const char *first = def ? json_object_get_string(pr_get(def, "section")) : NULL;

	for (size_t i = 0; i < n; i++) {
		const char *s = json_object_get_string(pr_get(json_object_array_get_idx(rules, i),
							      "section"));

		if (!s)
			continue;
		if (!first)
			first = s;
		else if (strcmp(first, s))
			return true;
	}
	return false;
}

static int rule_list_text(struct json_object *data)
{
	struct json_object *rules = pr_get(data, "rules");
	struct json_object *def = pr_get(data, "default");
	size_t n = json_object_is_type(rules, json_type_array) ? json_object_array_length(rules) : 0;
	bool sec = several_sections(rules, def);
	struct pr_col cols[NCOLS];
	struct pr_table *t = pr_table_new(cols, pick_cols(cols, rule_cols, sizeof(*cols), sec), 0);
	char *section = NULL;
	char *action = NULL, *packets = NULL, *bytes = NULL;
	int err = 0;

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < n && !err; i++)
		err = pr_table_add(t, json_object_array_get_idx(rules, i));
	if (!err && def) {
		/* the default is not a rule: no index, no match fields */
		action = pr_text(pr_get(def, "action"), 0);
		packets = pr_text(pr_get(def, "packets"), 0);
		bytes = pr_text(pr_get(def, "bytes"), 0);
		section = pr_text(pr_get(def, "section"), 0);
		if (action && packets && bytes && section) {
			const char *all[NCOLS] = {
				"*", section, "(default)", action, "-", "-", "-", "-", "-", packets,
				bytes,
			};
			const char *cells[NCOLS];

			pick_cols(cells, all, sizeof(*cells), sec);
			err = pr_table_add_cells(t, cells);
		} else {
			err = -ENOMEM;
		}
	}
	if (!err)
		pr_table_print(stdout, t, "");
	free(section);
	free(action);
	free(packets);
	free(bytes);
	pr_table_free(t);
	return err;
}

static int do_rule_list(struct cli *c, int argc, char **argv)
{
	return cli_show(c, argc, argv, "rule-list", rule_list_text);
}

/* Options of `rule add`, by field; list fields may repeat. */
static const char *const add_opts[SL_EF_N] = {
	NULL, "--action", "--src", "--dst", "--proto", "--sport", "--dport", "--before",
	"--section",
};

static const char *const add_locs[SL_EF_N] = {
	"rule name", "--action", "--src", "--dst", "--proto", "--sport", "--dport", "--before",
	"--section",
};

static bool list_field(int f)
{
	return f >= SL_EF_SRC && f <= SL_EF_DPORT;
}

/* The errors of DIAGS as one line, for cli_error. */
static int diags_error(struct cli *c, const struct sl_diags *d)
{
	char msg[1024] = "";
	size_t off = 0;

	for (size_t i = 0; i < d->n && off < sizeof(msg); i++) {
		const struct sl_diag *x = &d->v[i];

		off += (size_t)snprintf(msg + off, sizeof(msg) - off, "%s%s%s%s", i ? "; " : "",
					x->file ? x->file : "", x->file ? ": " : "", x->msg);
	}
	return cli_error(c, EXIT_USAGE, "%s", msg[0] ? msg : "invalid rule");
}

static int rule_add_text(struct json_object *d)
{
	printf("rule %s added at index %lld (generation %lld)\n",
	       json_object_get_string(pr_get(d, "rule")),
	       (long long)json_object_get_int64(pr_get(d, "index")),
	       (long long)json_object_get_int64(pr_get(d, "generation")));
	return 0;
}

static int rule_del_text(struct json_object *d)
{
	printf("rule %s deleted (generation %lld)\n", json_object_get_string(pr_get(d, "rule")),
	       (long long)json_object_get_int64(pr_get(d, "generation")));
	return 0;
}

static int do_rule_add(struct cli *c, int argc, char **argv)
{
	struct sl_edits e = { .path = (char *)"" };
	struct json_object *args = NULL, *data;
	struct sl_diags d = {};
	struct sl_policy pol;
	struct sl_edit_rule r = {};
	long long gen = -1;
	int rc = EXIT_OK, i, f;

	if (argc < 1 || argv[0][0] == '-')
		return cli_error(c, EXIT_USAGE, "missing NAME; try 'sluice rule help'");
	if (sl_edit_rule_add(&r, SL_EF_NAME, argv[0]))
		return cli_error(c, EXIT_FAIL, "out of memory");
	r.floc[SL_EF_NAME] = (struct sl_loc){ add_locs[SL_EF_NAME], 0, 0 };
	for (i = 1; i < argc && !rc; i++) {
		const char *arg = argv[i], *val = NULL;
		size_t n;

		rc = cli_opt_generation(c, argc, argv, &i, &gen);
		if (rc) {
			rc = rc < 0 ? -rc : EXIT_OK;
			continue;
		}
		for (f = SL_EF_ACTION; f < SL_EF_N; f++) {
			n = strlen(add_opts[f]);
			if (!strncmp(arg, add_opts[f], n) && (arg[n] == '\0' || arg[n] == '='))
				break;
		}
		if (f == SL_EF_N) {
			rc = cli_global_option(arg) ?
			     cli_error(c, EXIT_USAGE, "option '%s' goes before OBJECT: sluice %s "
				       "rule add ...", arg, arg) :
			     cli_error(c, EXIT_USAGE, "unexpected argument '%s' for 'rule add'; try "
				       "'sluice rule help'", arg);
			break;
		}
		if (arg[n] == '=')
			val = arg + n + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		if (!val || !*val) {
			rc = cli_error(c, EXIT_USAGE, "option '%s' needs a value", add_opts[f]);
			break;
		}
		if (r.has[f] && !list_field(f)) {
			rc = cli_error(c, EXIT_USAGE, "option '%s' given twice", add_opts[f]);
			break;
		}
		r.has[f] = true;
		r.floc[f] = (struct sl_loc){ add_locs[f], 0, 0 };
		if (list_field(f)) {
			struct cli_list l = {};

			if (cli_list_add(&l, val)) {
				rc = cli_error(c, EXIT_USAGE, "%s '%s': an empty element in the list",
					       add_opts[f], val);
				break;
			}
			for (size_t k = 0; k < l.n && !rc; k++)
				if (sl_edit_rule_add(&r, f, l.v[k]))
					rc = cli_error(c, EXIT_FAIL, "out of memory");
			cli_list_free(&l);
		} else if (sl_edit_rule_add(&r, f, val)) {
			rc = cli_error(c, EXIT_FAIL, "out of memory");
		}
	}
	if (!rc && !r.has[SL_EF_ACTION])
		rc = cli_error(c, EXIT_USAGE, "missing --action allow|deny");
	if (rc)
		goto out;

	/* the parser and checker of policy files, on this one rule */
	e.rules = &r;
	e.nrules = 1;
	if (sl_edit_rules_build(&e, &pol, &d)) {
		rc = d.n ? diags_error(c, &d) : cli_error(c, EXIT_FAIL, "out of memory");
		goto out;
	}
	policy_free(&pol);

	args = json_object_new_object();
	for (f = 0; f < SL_EF_N; f++) {
		struct json_object *v;

		if (!r.has[f])
			continue;
		if (!list_field(f)) {
			json_object_object_add(args, sl_edit_field_names[f],
					       json_object_new_string(r.v[f][0]));
			continue;
		}
		v = json_object_new_array();
		for (size_t k = 0; k < r.n[f]; k++)
			json_object_array_add(v, json_object_new_string(r.v[f][k]));
		json_object_object_add(args, sl_edit_field_names[f], v);
	}
	rc = cli_edit_call(c, "rule-add", args, gen, &data);
	if (!rc) {
		rc = cli_output(c, data, rule_add_text);
		json_object_put(data);
	}
out:
	json_object_put(args);
	sl_diags_free(&d);
	sl_edit_rule_free(&r);
	return rc;
}

static int do_rule_del(struct cli *c, int argc, char **argv)
{
	struct json_object *args, *data;
	const char *name = NULL;
	long long gen = -1;
	int rc;

	for (int i = 0; i < argc; i++) {
		rc = cli_opt_generation(c, argc, argv, &i, &gen);
		if (rc < 0)
			return -rc;
		if (rc)
			continue;
		if (argv[i][0] == '-' || name)
			return cli_error(c, EXIT_USAGE, "unexpected argument '%s' for 'rule del'; "
					 "try 'sluice rule help'", argv[i]);
		name = argv[i];
	}
	if (!name)
		return cli_error(c, EXIT_USAGE, "missing NAME; try 'sluice rule help'");
	args = json_object_new_object();
	json_object_object_add(args, "name", json_object_new_string(name));
	rc = cli_edit_call(c, "rule-del", args, gen, &data);
	json_object_put(args);
	if (rc)
		return rc;
	rc = cli_output(c, data, rule_del_text);
	json_object_put(data);
	return rc;
}

static const struct cli_verb rule_verbs[] = {
	{ "list", do_rule_list, "" },
	{ "add", do_rule_add, "NAME --action allow|deny [--src CIDR|@SET,...] [--dst CIDR|@SET,...]\n"
	  "                      [--proto P,...] [--sport PORT|LO-HI,...] [--dport PORT|LO-HI,...]\n"
	  "                      [--before RULE] [--section NAME] [--generation N]" },
	{ "del", do_rule_del, "NAME [--generation N]" },
	{ NULL },
};

const struct cli_object cli_rule = {
	.name = "rule",
	.verbs = rule_verbs,
	.summary = "list: the firewall rules in force, in order (first match wins), with packet\n"
		   "and byte counters per rule; the default action is the last line.\n"
		   "add: a rule kept by the agent in the policy dir (it survives restarts). Like\n"
		   "`nft add rule` it goes after every hand-written rule (still before the\n"
		   "default), or right before RULE with --before. Values are checked as in a\n"
		   "policy file; lists are comma-separated or repeated.\n"
		   "With several firewall sections, --section NAME picks one (else the section\n"
		   "of RULE).\n"
		   "del: delete a rule added with `rule add` (hand-written rules live in files).\n"
		   "--generation N: refuse the edit (exit 1) if the policy in force is no longer\n"
		   "generation N.",
};
