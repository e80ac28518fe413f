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

void cli_mark_early(struct json_object *rules)
{
	size_t n = json_object_is_type(rules, json_type_array) ? json_object_array_length(rules) : 0;

	for (size_t i = 0; i < n; i++) {
		struct json_object *r = json_object_array_get_idx(rules, i);

		if (json_object_get_boolean(pr_get(r, "early")))
			json_object_object_add(r, "action", json_object_new_string("deny-early"));
	}
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
	cli_mark_early(rules);
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

/*
 * The options of `rule add`, in the order of the rule's fields (SL_EF_ACTION
 * on): option K sets field K + 1. The values are checked by the policy
 * parser, as the same values in a file would be.
 */
static const struct cli_opt rule_add_opts[] = {
	{ "--action", "allow|deny", CLI_OPT_REQUIRED, CV_WORDS, "allow deny",
	  "what a matching packet gets" },
	{ "--src", "CIDR|@SET", CLI_OPT_LIST, CV_ADDR, NULL,
	  "source addresses, prefixes or sets (default any)" },
	{ "--dst", "CIDR|@SET", CLI_OPT_LIST, CV_ADDR, NULL,
	  "destination addresses, prefixes or sets (default any)" },
	{ "--proto", "P", CLI_OPT_LIST, CV_WORDS, "tcp udp icmp icmpv6 any",
	  "tcp, udp, icmp, icmpv6 or any (default any)" },
	{ "--sport", "PORT|LO-HI", CLI_OPT_LIST, CV_TEXT, NULL,
	  "source ports and ranges (needs --proto tcp or udp)" },
	{ "--dport", "PORT|LO-HI", CLI_OPT_LIST, CV_TEXT, NULL,
	  "destination ports and ranges (needs --proto tcp or udp)" },
	{ "--early", NULL, 0, CV_TEXT, NULL,
	  "a deny checked before conntrack: cuts tracked connections too" },
	{ "--before", "RULE", 0, CV_RULE, NULL,
	  "insert right before RULE (default: after every hand-written rule)" },
	{ "--section", "NAME", 0, CV_SECTION, NULL,
	  "the firewall section (default: RULE's, else the first)" },
	CLI_OPT_GENERATION,
	{ NULL },
};

static const char *const add_locs[SL_EF_N] = {
	"rule name", "--action", "--src", "--dst", "--proto", "--sport", "--dport", "--early",
	"--before", "--section",
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

/* The fields of R from the parsed arguments A: values as given, lists element by element. */
static int rule_fields(struct cli *c, const struct cli_args *a, struct sl_edit_rule *r)
{
	if (sl_edit_rule_add(r, SL_EF_NAME, a->pos[0]))
		return cli_error(c, EXIT_FAIL, "out of memory");
	r->floc[SL_EF_NAME] = (struct sl_loc){ add_locs[SL_EF_NAME], 0, 0 };
	for (int f = SL_EF_ACTION; f < SL_EF_N; f++) {
		const struct cli_opt *o = &rule_add_opts[f - 1];
		const struct cli_list *l = cli_arg_list(c, a, o->name);
		const char *val = cli_arg(c, a, o->name);

		if (!val)
			continue;
		/* a flag: the policy's `early: true` */
		if (f == SL_EF_EARLY)
			val = "true";
		r->has[f] = true;
		r->floc[f] = (struct sl_loc){ add_locs[f], 0, 0 };
		if (!list_field(f)) {
			if (sl_edit_rule_add(r, f, val))
				return cli_error(c, EXIT_FAIL, "out of memory");
			continue;
		}
		for (size_t k = 0; k < l->n; k++)
			if (sl_edit_rule_add(r, f, l->v[k]))
				return cli_error(c, EXIT_FAIL, "out of memory");
	}
	return EXIT_OK;
}

static int do_rule_add(struct cli *c, int argc, char **argv)
{
	struct sl_edits e = { .path = (char *)"" };
	struct json_object *args = NULL, *data;
	struct sl_diags d = {};
	struct sl_policy pol;
	struct sl_edit_rule r = {};
	struct cli_args a;
	long long gen = -1;
	int rc, f;

	rc = cli_parse(c, argc, argv, &a);
	if (rc)
		return rc;
	rc = cli_generation(c, &a, &gen);
	if (!rc)
		rc = rule_fields(c, &a, &r);
	cli_args_free(&a);
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

static const struct cli_opt rule_del_opts[] = {
	CLI_OPT_GENERATION,
	{ NULL },
};

static int do_rule_del(struct cli *c, int argc, char **argv)
{
	struct json_object *args, *data;
	struct cli_args a;
	long long gen = -1;
	int rc;

	rc = cli_parse(c, argc, argv, &a);
	if (rc)
		return rc;
	rc = cli_generation(c, &a, &gen);
	if (rc) {
		cli_args_free(&a);
		return rc;
	}
	args = json_object_new_object();
	json_object_object_add(args, "name", json_object_new_string(a.pos[0]));
	cli_args_free(&a);
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
	{ "add", do_rule_add, "NAME", rule_add_opts, CV_TEXT, 1, 1 },
	{ "del", do_rule_del, "NAME", rule_del_opts, CV_CLI_RULE, 1, 1 },
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
		   "del: delete a rule added with `rule add` (hand-written rules live in files).",
};
