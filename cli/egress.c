// SPDX-License-Identifier: GPL-2.0-only
/*
 * sluice egress list: every egress entry of the policy in force, its cgroup
 * (attached, or waiting for it to appear), the hooks attached, its removed
 * cgroups still judged for the sockets made in them, and its rules
 * in order with their counters (calls judged; packets for the TC backstop),
 * the default last; then allowed and denied per hook. From the agent's
 * "egress-list" answer (docs/control.md).
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
	{ "DST",     "dst",     PR_ANY },
	{ "PROTO",   "proto",   PR_ANY },
	{ "DPORT",   "dport",   PR_ANY },
	{ "PACKETS", "packets", PR_NUM },
};

static const struct pr_col hook_cols[] = {
	{ "HOOK",    "name",    0 },
	{ "ALLOWED", "allowed", PR_NUM },
	{ "DENIED",  "denied",  PR_NUM },
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* "connect4,connect6,..." of the hooks array H; "none" when empty. */
static char *hook_names(struct json_object *h)
{
	size_t n = json_object_is_type(h, json_type_array) ? json_object_array_length(h) : 0;
	char *s = strdup(n ? "" : "none");

	for (size_t i = 0; s && i < n; i++) {
		const char *name = json_object_get_string(pr_get(json_object_array_get_idx(h, i),
								"hook"));
		char *t;

		if (asprintf(&t, "%s%s%s", s, i ? "," : "", name ? name : "?") < 0)
			t = NULL;
		free(s);
		s = t;
	}
	return s;
}

static int entry_text(struct json_object *e)
{
	struct json_object *rules = pr_get(e, "rules"), *def = pr_get(e, "default");
	struct json_object *bs = pr_get(e, "backstop"), *id = pr_get(e, "cgroup_id");
	struct json_object *rem = pr_get(e, "removed");
	size_t n = json_object_is_type(rules, json_type_array) ? json_object_array_length(rules) : 0;
	size_t nrem = json_object_is_type(rem, json_type_array) ? json_object_array_length(rem) : 0;
	struct pr_table *t;
	char *hooks = hook_names(pr_get(e, "hooks")), *act, *pk;
	int err = 0;

	if (!hooks)
		return -ENOMEM;
	printf("egress %s  cgroup %s", json_object_get_string(pr_get(e, "name")),
	       json_object_get_string(pr_get(e, "cgroup")));
	if (id)
		printf(" (id %llu)", (unsigned long long)json_object_get_uint64(id));
	printf("  %s  hooks %s\n", json_object_get_string(pr_get(e, "state")), hooks);
	free(hooks);
	for (size_t r = 0; r < nrem; r++) {
		struct json_object *x = json_object_array_get_idx(rem, r);
		unsigned long long rid = json_object_get_uint64(pr_get(x, "cgroup_id"));

		printf("  removed cgroup id %llu: sockets made in it live on, judged by this entry "
		       "(%d hooks)\n", rid, json_object_get_int(pr_get(x, "hooks")));
	}
	if (json_object_is_type(bs, json_type_object)) {
		char *ifs = pr_text(pr_get(bs, "interfaces"), 0), *src = pr_text(pr_get(bs, "src"), 0);

		printf("  backstop on %s for src %s\n", ifs ? ifs : "?", src ? src : "?");
		free(ifs);
		free(src);
	}
	t = pr_table_new(rule_cols, ARRAY_SIZE(rule_cols), 0);
	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < n && !err; i++)
		err = pr_table_add(t, json_object_array_get_idx(rules, i));
	act = pr_text(pr_get(def, "action"), 0);
	pk = pr_text(pr_get(def, "packets"), 0);
	if (!err && act && pk) {
		const char *cells[ARRAY_SIZE(rule_cols)] = { "*", "(default)", act, "-", "-", "-",
							     pk };

		err = pr_table_add_cells(t, cells);
	} else if (!err) {
		err = -ENOMEM;
	}
	if (!err)
		pr_table_print(stdout, t, "  ");
	free(act);
	free(pk);
	pr_table_free(t);
	return err;
}

static int egress_list_text(struct json_object *data)
{
	struct json_object *arr = pr_get(data, "egress"), *rows;
	size_t n = json_object_is_type(arr, json_type_array) ? json_object_array_length(arr) : 0;
	int err = 0;

	if (!n)
		puts("no egress entries in the policy");
	for (size_t i = 0; i < n && !err; i++) {
		err = entry_text(json_object_array_get_idx(arr, i));
		putchar('\n');
	}
	if (err)
		return err;
	rows = pr_members(pr_get(data, "hooks"), "name");
	if (!rows)
		return -ENOMEM;
	err = pr_rows(stdout, hook_cols, ARRAY_SIZE(hook_cols), rows, "");
	json_object_put(rows);
	return err;
}

static int do_list(struct cli *c, int argc, char **argv)
{
	return cli_show(c, argc, argv, "egress-list", egress_list_text);
}

static const struct cli_verb verbs[] = {
	{ "list", do_list, "" },
	{}
};

const struct cli_object cli_egress = {
	.name = "egress",
	.verbs = verbs,
	.summary = "list: egress entries (cgroup v2 policies), their cgroups and attached\n"
		   "hooks, removed cgroups kept for their sockets, rules with counters,\n"
		   "allowed and denied calls per hook.",
};
