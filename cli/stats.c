// SPDX-License-Identifier: GPL-2.0-only
/*
 * sluice stats: packets and bytes per verdict and per drop reason, per hook,
 * and the drop event counters, from the agent's "stats" answer
 * (docs/control.md).
 */
#include <errno.h>
#include <stdio.h>

#include "cli.h"
#include "print.h"

static const struct pr_col verdict_cols[] = {
	{ "VERDICT", "name",    0 },
	{ "PACKETS", "packets", PR_NUM },
	{ "BYTES",   "bytes",   PR_NUM },
};

static const struct pr_col egress_cols[] = {
	{ "EGRESS HOOK", "name",    0 },
	{ "ALLOWED",     "allowed", PR_NUM },
	{ "DENIED",      "denied",  PR_NUM },
};

static const struct pr_col drop_cols[] = {
	{ "DROP REASON", "name",    0 },
	{ "PACKETS",     "packets", PR_NUM },
	{ "BYTES",       "bytes",   PR_NUM },
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* One table of the members of OBJ (an object of counters), in the agent's order. */
static int counter_table(const struct pr_col *cols, size_t ncols, struct json_object *obj)
{
	struct json_object *rows = pr_members(obj, "name");
	int err;

	if (!rows)
		return -ENOMEM;
	err = pr_rows(stdout, cols, ncols, rows, "  ");
	json_object_put(rows);
	return err;
}

static int stats_text(struct json_object *data)
{
	struct json_object *hooks = pr_get(data, "hooks"), *ev;
	bool first = true;
	int err = 0;

	if (!json_object_is_type(hooks, json_type_object) || !json_object_object_length(hooks)) {
		puts("no hooks");
		return 0;
	}
	json_object_object_foreach(hooks, hook, h) {
		if (err)
			break;
		if (!first)
			putchar('\n');
		first = false;
		printf("hook %s\n", hook);
		err = counter_table(verdict_cols, ARRAY_SIZE(verdict_cols), pr_get(h, "verdicts"));
		if (err)
			break;
		putchar('\n');
		err = counter_table(drop_cols, ARRAY_SIZE(drop_cols), pr_get(h, "drops"));
	}
	if (!err && json_object_is_type(pr_get(data, "egress"), json_type_object) &&
	    json_object_object_length(pr_get(data, "egress"))) {
		puts("\negress (connect/sendmsg calls; backstop packets)");
		err = counter_table(egress_cols, ARRAY_SIZE(egress_cols), pr_get(data, "egress"));
	}
	ev = pr_get(data, "events");
	if (!err && json_object_is_type(ev, json_type_object))
		printf("\nevents: rate %lld/s, sent %llu, suppressed %llu, lost %llu\n",
		       (long long)json_object_get_int64(pr_get(ev, "rate")),
		       (unsigned long long)json_object_get_uint64(pr_get(ev, "sent")),
		       (unsigned long long)json_object_get_uint64(pr_get(ev, "suppressed")),
		       (unsigned long long)json_object_get_uint64(pr_get(ev, "lost")));
	ev = pr_get(data, "lb");
	if (!err && json_object_is_type(ev, json_type_object)) {
		struct json_object *rows = pr_members(ev, "event");
		static const struct pr_col lb_cols[] = {
			{ "LOAD BALANCER", "event", 0 },
			{ "COUNT", "value", PR_NUM },
		};

		putchar('\n');
		err = rows ? pr_rows(stdout, lb_cols, 2, rows, "") : -ENOMEM;
		json_object_put(rows);
	}
	return err;
}

static int do_stats(struct cli *c, int argc, char **argv)
{
	return cli_show(c, argc, argv, "stats", stats_text);
}

const struct cli_object cli_stats = {
	.name = "stats",
	.cmd = &(const struct cli_verb){ NULL, do_stats, "" },
	.summary = "Show packets and bytes per verdict and per drop reason, for every hook.",
};
