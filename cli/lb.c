// SPDX-License-Identifier: GPL-2.0-only
/*
 * sluice lb ...: the load balancer's services and backends (lb-list), and
 * draining a backend (lb-drain, lb-undrain: kept by the agent in its edits
 * file in the policy dir, like `block add`). Arguments are checked here
 * first, so that a typo exits 2 without asking the agent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lb_policy.h"
#include "print.h"

static const struct pr_col be_cols[] = {
	{ "BACKEND",  "backend",      0 },
	{ "WEIGHT",   "weight",       PR_NUM },
	{ "STATE",    "state",        0 },
	{ "NEW",      "new_flows",    PR_NUM },
	{ "ACTIVE",   "active_flows", PR_NUM },
	{ "PACKETS",  "packets",      PR_NUM },
	{ "BYTES",    "bytes",        PR_NUM },
	{ "HEALTH",   "checks",       0 },
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char *str(struct json_object *o, const char *key)
{
	const char *s = json_object_get_string(pr_get(o, key));

	return s ? s : "-";
}

void cli_lb_endpoint(struct json_object *o, char *buf, size_t len)
{
	const char *a = str(o, "addr");
	int port = json_object_get_int(pr_get(o, "port"));

	if (!json_object_get_string(pr_get(o, "addr")))
		a = str(o, "vip");
	snprintf(buf, len, strchr(a, ':') ? "[%s]:%d" : "%s:%d", a, port);
}

void cli_lb_service_head(struct json_object *s)
{
	struct json_object *h = pr_get(s, "health");
	char ep[96];

	cli_lb_endpoint(s, ep, sizeof(ep));
	printf("%s  %s/%s  %s", str(s, "name"), ep, str(s, "proto"), str(s, "mode"));
	if (h)
		printf("  health %s every %gs (timeout %gs, rise %d, fall %d)%s%s",
		       str(h, "type"), json_object_get_double(pr_get(h, "interval")),
		       json_object_get_double(pr_get(h, "timeout")),
		       json_object_get_int(pr_get(h, "rise")), json_object_get_int(pr_get(h, "fall")),
		       pr_get(h, "path") ? " GET " : "", pr_get(h, "path") ? str(h, "path") : "");
}

static int lb_list_text(struct json_object *d)
{
	struct json_object *svcs = pr_get(d, "services");
	size_t n = svcs ? json_object_array_length(svcs) : 0;
	int err = 0;

	if (!n) {
		printf("no load balancers in the policy\n");
		return 0;
	}
	for (size_t i = 0; i < n && !err; i++) {
		struct json_object *s = json_object_array_get_idx(svcs, i);
		struct json_object *bes = pr_get(s, "backends");
		struct json_object *rows = json_object_new_array();

		printf("%s", i ? "\n" : "");
		cli_lb_service_head(s);
		printf("\n");
		for (size_t b = 0; bes && b < json_object_array_length(bes); b++) {
			struct json_object *be = json_object_array_get_idx(bes, b);
			struct json_object *row = json_object_new_object(), *hc = pr_get(be, "health");
			char buf[160];

			cli_lb_endpoint(be, buf, sizeof(buf));
			json_object_object_add(row, "backend", json_object_new_string(buf));
			for (size_t c = 1; c < ARRAY_SIZE(be_cols) - 1; c++)
				json_object_object_add(row, be_cols[c].key,
						       json_object_get(pr_get(be, be_cols[c].key)));
			if (hc && pr_get(hc, "last_error"))
				snprintf(buf, sizeof(buf), "%lld checks, %lld failed (last: %s)",
					 (long long)json_object_get_int64(pr_get(hc, "checks")),
					 (long long)json_object_get_int64(pr_get(hc, "failures")),
					 str(hc, "last_error"));
			else if (hc)
				snprintf(buf, sizeof(buf), "%lld checks, %lld failed",
					 (long long)json_object_get_int64(pr_get(hc, "checks")),
					 (long long)json_object_get_int64(pr_get(hc, "failures")));
			else
				snprintf(buf, sizeof(buf), "-");
			json_object_object_add(row, "checks", json_object_new_string(buf));
			json_object_array_add(rows, row);
		}
		err = pr_rows(stdout, be_cols, ARRAY_SIZE(be_cols), rows, "  ");
		json_object_put(rows);
	}
	return err;
}

static int do_lb_list(struct cli *c, int argc, char **argv)
{
	return cli_show(c, argc, argv, "lb-list", lb_list_text);
}

/* Is BE (a "name ADDR:PORT" string) in the answer's still_draining list? */
static bool still_draining(struct json_object *d, const char *be)
{
	struct json_object *still = pr_get(d, "still_draining");

	for (size_t k = 0; still && k < json_object_array_length(still); k++)
		if (!strcmp(be, json_object_get_string(json_object_array_get_idx(still, k))))
			return true;
	return false;
}

/*
 * HEADER and the backends of the answer, but under an undrain those a
 * policy file still drains: they take no new flows, whatever the CLI did.
 */
static int drain_text(struct json_object *d, const char *header)
{
	struct json_object *bes = pr_get(d, "backends"), *still = pr_get(d, "still_draining");
	bool changed = json_object_get_boolean(pr_get(d, "changed")), head = false;

	for (size_t i = 0; bes && i < json_object_array_length(bes); i++) {
		const char *be = json_object_get_string(json_object_array_get_idx(bes, i));

		if (still_draining(d, be))
			continue;
		if (!head)
			printf("%s\n", header);
		head = true;
		printf("%s\n", be);
	}
	/* an undrain of a backend no longer in force: its CLI drain went */
	if (!head && changed && !(still && json_object_array_length(still)))
		printf("%s: no such backend in force; its drain is removed\n",
		       json_object_get_string(pr_get(d, "drain")));
	if (still && json_object_array_length(still))
		printf("still draining (a policy file drains it: drain: true):\n");
	for (size_t k = 0; still && k < json_object_array_length(still); k++)
		printf("%s\n", json_object_get_string(json_object_array_get_idx(still, k)));
	if (changed)
		printf("(generation %lld)\n",
		       (long long)json_object_get_int64(pr_get(d, "generation")));
	else
		printf("(already so: generation %lld stays)\n",
		       (long long)json_object_get_int64(pr_get(d, "generation")));
	return 0;
}

static int drain_text_on(struct json_object *d)
{
	return drain_text(d, "draining (no new flows, established ones stay):");
}

static int drain_text_off(struct json_object *d)
{
	return drain_text(d, "taking new flows again:");
}

static const struct cli_opt drain_opts[] = {
	CLI_OPT_GENERATION,
	{ NULL },
};

static int do_drain(struct cli *c, int argc, char **argv, const char *cmd,
		    int (*text)(struct json_object *))
{
	struct json_object *args;
	struct lb_drain d;
	struct cli_args a;
	char err[256], both[200];
	long long gen;
	int rc;

	rc = cli_parse(c, argc, argv, &a);
	if (rc)
		return rc;
	rc = cli_generation(c, &a, &gen);
	snprintf(both, sizeof(both), "%.90s %.90s", a.pos[0], a.pos[1]);
	if (!rc && lb_drain_parse(both, &d, err, sizeof(err)))
		rc = cli_error(c, EXIT_USAGE, "%s", err);
	if (rc) {
		cli_args_free(&a);
		return rc;
	}
	args = json_object_new_object();
	json_object_object_add(args, "service", json_object_new_string(a.pos[0]));
	json_object_object_add(args, "backend", json_object_new_string(a.pos[1]));
	cli_args_free(&a);
	return cli_edit_run(c, cmd, args, gen, text);
}

static int do_lb_drain(struct cli *c, int argc, char **argv)
{
	return do_drain(c, argc, argv, "lb-drain", drain_text_on);
}

static int do_lb_undrain(struct cli *c, int argc, char **argv)
{
	return do_drain(c, argc, argv, "lb-undrain", drain_text_off);
}

static const struct cli_verb lb_verbs[] = {
	{ "list", do_lb_list, "" },
	{ "drain", do_lb_drain, "VIP:PORT[/PROTO] BACKEND", drain_opts, CV_TEXT, 2, 2 },
	{ "undrain", do_lb_undrain, "VIP:PORT[/PROTO] BACKEND", drain_opts, CV_TEXT, 2, 2 },
	{ NULL },
};

const struct cli_object cli_lb = {
	.name = "lb",
	.verbs = lb_verbs,
	.summary = "The load balancer: `list` shows every service (VIP:PORT/PROTO, mode, health\n"
		   "checks) and its backends with weight, state (active, draining, down), new\n"
		   "flows, active flows, packets and bytes. `drain` takes BACKEND (ADDRESS or\n"
		   "ADDRESS:PORT; IPv6 as [ADDRESS]:PORT) out of new flows of the service on\n"
		   "VIP:PORT (tcp and udp; VIP:PORT/tcp or /udp: that one), established flows\n"
		   "stay; `undrain` ends that. Drains are\n"
		   "kept by the agent in the policy dir: they survive restarts.",
};
