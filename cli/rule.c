// SPDX-License-Identifier: GPL-2.0-only
/*
 * sluice rule ...: the firewall rules in force, in order (first match wins),
 * with their counters; the default action is the last line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "print.h"

static const struct pr_col rule_cols[] = {
	{ "#",       "index",   PR_NUM },
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

#define NCOLS (sizeof(rule_cols) / sizeof(rule_cols[0]))

/* With rules of several firewall sections: which section each belongs to. */
static const struct pr_col rule_sec_cols[NCOLS + 1] = {
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
	struct pr_table *t = sec ? pr_table_new(rule_sec_cols, NCOLS + 1, 0) :
			     pr_table_new(rule_cols, NCOLS, 0);
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
			const char *cells[NCOLS + 1] = {
				"*", "(default)", action, "-", "-", "-", "-", "-", packets, bytes,
			};
			const char *sec_cells[NCOLS + 1] = {
				"*", section, "(default)", action, "-", "-", "-", "-", "-", packets,
				bytes,
			};

			err = pr_table_add_cells(t, sec ? sec_cells : cells);
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
	struct json_object *data;
	int rc = cli_no_args(c, argc, argv);

	if (rc)
		return rc;
	rc = ctl_call(c, "rule-list", NULL, &data);
	if (rc)
		return rc;
	rc = cli_output(c, data, rule_list_text);
	json_object_put(data);
	return rc;
}

static const struct cli_verb rule_verbs[] = {
	{ "list", do_rule_list, "" },
	{ NULL },
};

const struct cli_object cli_rule = {
	.name = "rule",
	.verbs = rule_verbs,
	.summary = "List the firewall rules in force, in order (first match wins), with\n"
		   "packet and byte counters per rule; the default action is the last line.",
};
