// SPDX-License-Identifier: GPL-2.0-only
/*
 * sluice ct ...: the connection table of the stateful firewall, from the
 * agent's ct-list, ct-flush and ct-stats answers (docs/control.md). Filters
 * are checked here first, so that a typo exits 2 without asking the agent.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ct.h"
#include "prefix.h"
#include "print.h"

static const struct pr_col ct_cols[] = {
	{ "PROTO",   "proto",      0 },
	{ "SRC",     "src",        0 },
	{ "SPORT",   "sport",      PR_NUM },
	{ "DST",     "dst",        0 },
	{ "DPORT",   "dport",      PR_NUM },
	{ "STATE",   "state",      0 },
	{ "EXPIRES", "expires_in", PR_NUM },
	{ "PACKETS", "packets",    PR_NUM },
	{ "BYTES",   "bytes",      PR_NUM },
};

static const struct pr_col stats_fields[] = {
	{ "stateful",      "stateful",      0 },
	{ "entries",       "entries",       0 },
	{ "  ipv4",        "entries_ipv4",  0 },
	{ "  ipv6",        "entries_ipv6",  0 },
	{ "capacity",      "capacity",      0 },
	{ "unassured",     "unassured",     0 },
	{ "unassured capacity", "unassured_capacity", 0 },
	{ "shards",        "shards",        0 },
	{ "created",       "created",       0 },
	{ "expired",       "expired",       0 },
	{ "deleted",       "deleted",       0 },
	{ "evicted (LRU)", "evicted",       0 },
	{ "insert failed", "insert_failed", 0 },
	{ "timer failed",  "timer_failed",  0 },
	{ "related",       "related",       0 },
	{ "lookup filter", "lookup_filter", 0 },
	{ "  skipped",     "filter_skipped", 0 },
	{ "syn cookies",   "syncookies.mode", 0 },
	{ "  ports",       "syncookies.ports", 0 },
	{ "  active now",  "syncookies.active", 0 },
	{ "  sent",        "syncookie_sent", 0 },
	{ "  valid",       "syncookie_valid", 0 },
	{ "  accepted",    "syncookie_accepted", 0 },
	{ "  failed",      "syncookie_failed", 0 },
	{ "  pressure",    "syncookie_pressure", 0 },
	{ "sweeps",        "sweeps",        0 },
	{ "swept entries", "swept",         0 },
	{ "sweep cpu ns",  "sweep_ns",      0 },
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static int ct_list_text(struct json_object *data)
{
	struct json_object *rows = pr_get(data, "entries");
	int err;

	err = pr_rows(stdout, ct_cols, ARRAY_SIZE(ct_cols), rows, "");
	if (!err && json_object_get_boolean(pr_get(data, "truncated")))
		printf("(%zu of %lld entries shown)\n", json_object_array_length(rows),
		       (long long)json_object_get_int64(pr_get(data, "matched")));
	return err;
}

static int port_arg(const char *s, int *port)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	v = strtol(s, &end, 10);
	if (*end || v < 0 || v > 65535)
		return -EINVAL;
	*port = (int)v;
	return 0;
}

static const struct cli_opt ct_list_opts[] = {
	{ "--proto", "P", 0, CV_WORDS, "tcp udp icmp icmpv6",
	  "tcp, udp, icmp, icmpv6 or a protocol number" },
	{ "--src", "A", 0, CV_ADDR, NULL, "the originator's address or prefix" },
	{ "--dst", "A", 0, CV_ADDR, NULL, "the responder's address or prefix" },
	{ "--sport", "N", 0, CV_TEXT, NULL, "the originator's port" },
	{ "--dport", "N", 0, CV_TEXT, NULL, "the responder's port" },
	{ "--port", "N", 0, CV_TEXT, NULL, "either port" },
	{ NULL },
};

/* The filters of `ct list`, checked here so that a typo exits 2 without asking the agent. */
static int ct_list_args(struct cli *c, const struct cli_args *a, struct json_object *args)
{
	static const char *const addr_opts[] = { "--src", "--dst" };
	static const char *const port_opts[] = { "--sport", "--dport", "--port" };
	const char *val = cli_arg(c, a, "--proto");
	struct sl_prefix p;
	char msg[256];
	int x;

	if (val && ct_proto_parse(val, &x))
		return cli_error(c, EXIT_USAGE, "--proto needs tcp, udp, icmp, icmpv6 or a "
				 "protocol number, got '%s'", val);
	if (val)
		json_object_object_add(args, "proto", json_object_new_string(val));
	for (size_t k = 0; k < ARRAY_SIZE(addr_opts); k++) {
		val = cli_arg(c, a, addr_opts[k]);
		if (val && sl_prefix_parse(val, strlen(val), &p, msg, sizeof(msg)))
			return cli_error(c, EXIT_USAGE, "%s: %s", addr_opts[k], msg);
		if (val)
			json_object_object_add(args, addr_opts[k] + 2, json_object_new_string(val));
	}
	for (size_t k = 0; k < ARRAY_SIZE(port_opts); k++) {
		val = cli_arg(c, a, port_opts[k]);
		if (val && port_arg(val, &x))
			return cli_error(c, EXIT_USAGE, "%s needs a port number 0..65535, got '%s'",
					 port_opts[k], val);
		if (val)
			json_object_object_add(args, port_opts[k] + 2, json_object_new_int(x));
	}
	return EXIT_OK;
}

static int do_ct_list(struct cli *c, int argc, char **argv)
{
	struct json_object *args, *data;
	struct cli_args a;
	int rc = cli_parse(c, argc, argv, &a);

	if (rc)
		return rc;
	args = json_object_new_object();
	rc = args ? ct_list_args(c, &a, args) : cli_error(c, EXIT_FAIL, "out of memory");
	cli_args_free(&a);
	if (rc == EXIT_OK)
		rc = ctl_call(c, "ct-list", args, &data);
	json_object_put(args);
	if (rc)
		return rc;
	rc = cli_output(c, data, ct_list_text);
	json_object_put(data);
	return rc;
}

static int flush_text(struct json_object *data)
{
	printf("%lld entries flushed\n", (long long)json_object_get_int64(pr_get(data, "flushed")));
	return 0;
}

static int ct_stats_text(struct json_object *data)
{
	return pr_fields(stdout, stats_fields, ARRAY_SIZE(stats_fields), data, "");
}

static int do_ct_flush(struct cli *c, int argc, char **argv)
{
	return cli_show(c, argc, argv, "ct-flush", flush_text);
}

static int do_ct_stats(struct cli *c, int argc, char **argv)
{
	return cli_show(c, argc, argv, "ct-stats", ct_stats_text);
}

static const struct cli_verb ct_verbs[] = {
	{ "list", do_ct_list, "", ct_list_opts },
	{ "flush", do_ct_flush, "" },
	{ "stats", do_ct_stats, "" },
	{ NULL },
};

const struct cli_object cli_ct = {
	.name = "ct",
	.verbs = ct_verbs,
	.summary = "The connection table of the stateful firewall: list entries (the originator\n"
		   "is SRC; --src/--dst take an address or prefix, --port matches either\n"
		   "port), delete them all, or show the counters (entries, capacity, created,\n"
		   "expired by timer, deleted, evicted by LRU, insert failures).",
};
