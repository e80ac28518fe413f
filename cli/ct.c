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

/* "--name VALUE" or "--name=VALUE" at ARGV[*I]; 1 when it matched, -1 when its value is missing. */
static int opt(int argc, char **argv, int *i, const char *name, const char **val)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n))
		return 0;
	if (argv[*i][n] == '=') {
		*val = argv[*i] + n + 1;
		return 1;
	}
	if (argv[*i][n])
		return 0;
	if (*i + 1 >= argc)
		return -1;
	*val = argv[++*i];
	return 1;
}

static int do_ct_list(struct cli *c, int argc, char **argv)
{
	static const char *const port_opts[] = { "--sport", "--dport", "--port" };
	struct json_object *args = json_object_new_object(), *data;
	int rc = EXIT_OK;

	if (!args)
		return cli_error(c, EXIT_FAIL, "out of memory");
	for (int i = 0; i < argc && rc == EXIT_OK; i++) {
		const char *val = NULL;
		struct sl_prefix p;
		char msg[256];
		int r, x;

		if ((r = opt(argc, argv, &i, "--proto", &val))) {
			if (r < 0 || ct_proto_parse(val, &x))
				rc = cli_error(c, EXIT_USAGE, "--proto needs tcp, udp, icmp, icmpv6 "
					       "or a protocol number, got '%s'", r < 0 ? "" : val);
			else
				json_object_object_add(args, "proto", json_object_new_string(val));
			continue;
		}
		for (int k = 0; k < 2 && !r; k++) {
			const char *key = k ? "dst" : "src";

			r = opt(argc, argv, &i, k ? "--dst" : "--src", &val);
			if (!r)
				continue;
			if (r < 0)
				rc = cli_error(c, EXIT_USAGE, "--%s needs an address or prefix", key);
			else if (sl_prefix_parse(val, strlen(val), &p, msg, sizeof(msg)))
				rc = cli_error(c, EXIT_USAGE, "--%s: %s", key, msg);
			else
				json_object_object_add(args, key, json_object_new_string(val));
		}
		if (r)
			continue;
		for (size_t k = 0; k < ARRAY_SIZE(port_opts) && !r; k++) {
			r = opt(argc, argv, &i, port_opts[k], &val);
			if (!r)
				continue;
			if (r < 0 || port_arg(val, &x))
				rc = cli_error(c, EXIT_USAGE, "%s needs a port number 0..65535, got '%s'",
					       port_opts[k], r < 0 ? "" : val);
			else
				json_object_object_add(args, port_opts[k] + 2, json_object_new_int(x));
		}
		if (r)
			continue;
		if (cli_global_option(argv[i]))
			rc = cli_error(c, EXIT_USAGE, "option '%s' goes before OBJECT: sluice %s ct list ...",
				       argv[i], argv[i]);
		else
			rc = cli_error(c, EXIT_USAGE, "unexpected argument '%s'; try 'sluice ct help'",
				       argv[i]);
	}
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

static int simple(struct cli *c, int argc, char **argv, const char *cmd,
		  int (*text)(struct json_object *data))
{
	struct json_object *data;
	int rc = cli_no_args(c, argc, argv);

	if (rc)
		return rc;
	rc = ctl_call(c, cmd, NULL, &data);
	if (rc)
		return rc;
	rc = cli_output(c, data, text);
	json_object_put(data);
	return rc;
}

static int do_ct_flush(struct cli *c, int argc, char **argv)
{
	return simple(c, argc, argv, "ct-flush", flush_text);
}

static int do_ct_stats(struct cli *c, int argc, char **argv)
{
	return simple(c, argc, argv, "ct-stats", ct_stats_text);
}

static const struct cli_verb ct_verbs[] = {
	{ "list", do_ct_list, "[--proto P] [--src A] [--dst A] [--sport N] [--dport N] [--port N]" },
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
