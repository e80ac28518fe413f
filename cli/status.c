// SPDX-License-Identifier: GPL-2.0-only
/*
 * sluice status: the agent, the policy in force, the attached hooks and how
 * full the maps are, from the agent's "status" answer (docs/control.md),
 * and in the text the CLI's own version.
 */
#include <errno.h>
#include <stdio.h>

#include "cli.h"
#include "print.h"
#include "version.h"

static const struct pr_col status_fields[] = {
	{ "agent pid",    "agent.pid",        0 },
	{ "version",      "agent.version",    0 },
	{ "cli version",  "cli.version",      0 },
	{ "started",      "agent.started",    PR_TIME },
	{ "policy dir",   "agent.policy_dir", 0 },
	{ "state dir",    "agent.state_dir",  0 },
	{ "socket",       "agent.socket",     0 },
	{ "generation",   "generation",       0 },
	{ "last change",  "last_change",      0 },
	{ "policy files", "policy.files",     0 },
	{ "rules",        "policy.rules",     0 },
	{ "default",      "policy.default",   0 },
	{ "stateful",     "policy.stateful",  0 },
	{ "interfaces",   "policy.interfaces", 0 },
};

static const struct pr_col hook_cols[] = {
	{ "INTERFACE", "name",    0 },
	{ "IFINDEX",   "ifindex", PR_NUM },
	{ "HOOK",      "hook",    0 },
	{ "FROM",      "hook_from", 0 },
	{ "MODE",      "mode",    0 },
	{ "ATTACH",    "attach",  0 },
	{ "PROG",      "prog_id", PR_NUM },
};

static const struct pr_col egress_cols[] = {
	{ "EGRESS",    "name",      0 },
	{ "CGROUP",    "cgroup",    0 },
	{ "ID",        "cgroup_id", PR_NUM },
	{ "STATE",     "state",     0 },
	{ "DEFAULT",   "default",   0 },
	{ "RULES",     "rules",     PR_NUM },
	{ "REMOVED",   "removed_n", PR_NUM },
};

static const struct pr_col map_cols[] = {
	{ "MAP",      "name",     0 },
	{ "USED",     "used",     PR_NUM },
	{ "CAPACITY", "capacity", PR_NUM },
	{ "FILL",     "fill",     PR_NUM },
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The text view adds a "fill" percentage to each map row; -j shows used and capacity. */
static void add_fill(struct json_object *maps)
{
	size_t n = json_object_is_type(maps, json_type_array) ? json_object_array_length(maps) : 0;

	for (size_t i = 0; i < n; i++) {
		struct json_object *m = json_object_array_get_idx(maps, i);
		struct json_object *used = pr_get(m, "used"), *cap = pr_get(m, "capacity");
		char buf[32];

		if (!json_object_is_type(m, json_type_object) || !used || !cap ||
		    json_object_get_int64(cap) <= 0)
			continue;
		snprintf(buf, sizeof(buf), "%.1f%%",
			 100.0 * (double)json_object_get_int64(used) /
			 (double)json_object_get_int64(cap));
		json_object_object_add(m, "fill", json_object_new_string(buf));
	}
}

/*
 * The text view adds to each egress entry how many of its removed cgroups
 * the agent keeps for the sockets made in them ("removed" under -j).
 */
static void add_removed(struct json_object *egress)
{
	size_t n = json_object_array_length(egress);

	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(egress, i);
		struct json_object *rem = pr_get(e, "removed");

		if (json_object_is_type(e, json_type_object) &&
		    json_object_is_type(rem, json_type_array))
			json_object_object_add(e, "removed_n", json_object_new_int64(
						       (int64_t)json_object_array_length(rem)));
	}
}

static int status_text(struct json_object *data)
{
	struct json_object *hooks = pr_get(data, "interfaces");
	struct json_object *maps = pr_get(data, "maps");
	struct json_object *egress = pr_get(data, "egress");
	struct json_object *unatt = pr_get(data, "unattached");
	struct json_object *edits_err = pr_get(data, "edits.error");
	int err;

	err = pr_fields(stdout, status_fields, ARRAY_SIZE(status_fields), data, "");
	if (err)
		return err;
	/* loud: the CLI's rules and blocklist may not be what the operator thinks */
	if (json_object_is_type(edits_err, json_type_string))
		printf("\nthe CLI's edits file does not load (%s; it is kept as it is): %s\n",
		       json_object_get_boolean(pr_get(data, "edits.refused")) ?
		       "the policy in force was applied without it" :
		       "nothing changes until it is fixed; the policy in force stays",
		       json_object_get_string(edits_err));
	putchar('\n');
	if (json_object_is_type(hooks, json_type_array) && json_object_array_length(hooks))
		err = pr_rows(stdout, hook_cols, ARRAY_SIZE(hook_cols), hooks, "");
	else
		puts("no hooks attached");
	if (err)
		return err;
	/* loud: the policy names these and they run no firewall */
	for (size_t i = 0; json_object_is_type(unatt, json_type_array) &&
	     i < json_object_array_length(unatt); i++) {
		struct json_object *u = json_object_array_get_idx(unatt, i);

		printf("NOT ATTACHED: %s (ifindex %d): %s\n",
		       json_object_get_string(pr_get(u, "name")),
		       json_object_get_int(pr_get(u, "ifindex")),
		       json_object_get_string(pr_get(u, "error")));
	}
	if (json_object_is_type(egress, json_type_array) && json_object_array_length(egress)) {
		putchar('\n');
		add_removed(egress);
		err = pr_rows(stdout, egress_cols, ARRAY_SIZE(egress_cols), egress, "");
		if (err)
			return err;
	}
	if (json_object_is_type(maps, json_type_array) && json_object_array_length(maps)) {
		putchar('\n');
		add_fill(maps);
		err = pr_rows(stdout, map_cols, ARRAY_SIZE(map_cols), maps, "");
	}
	return err;
}

static int do_status(struct cli *c, int argc, char **argv)
{
	struct json_object *data, *cli;
	int rc = cli_no_args(c, argc, argv);

	if (rc)
		return rc;
	rc = ctl_call(c, "status", NULL, &data);
	if (rc)
		return rc;
	/*
	 * The text shows the CLI's own version beside the agent's (after an
	 * upgrade they may differ); -j stays exactly the agent's data, and
	 * `sluice -j version` has both.
	 */
	if (!c->json) {
		cli = json_object_new_object();
		json_object_object_add(cli, "version", json_object_new_string(sluice_version));
		json_object_object_add(data, "cli", cli);
	}
	rc = cli_output(c, data, status_text);
	json_object_put(data);
	return rc;
}

const struct cli_object cli_status = {
	.name = "status",
	.cmd = &(const struct cli_verb){ NULL, do_status, "" },
	.summary = "Show the agent, the policy generation in force, the hooks attached per\n"
		   "interface and how full the maps are.",
};
