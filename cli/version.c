// SPDX-License-Identifier: GPL-2.0-only
/*
 * sluice version: the CLI's version and the running agent's (from its
 * "status" answer), so that an operator sees at once when the two differ
 * after an upgrade. No agent is not an error here: the CLI's version is
 * still the answer (with "agent": null and the reason).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "print.h"
#include "version.h"

int cli_version_only(const struct cli *c)
{
	struct json_object *o;

	if (!c->json) {
		printf("sluice %s\n", sluice_version);
		return EXIT_OK;
	}
	o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_string(sluice_version));
	pr_json(stdout, o, c->pretty);
	json_object_put(o);
	return EXIT_OK;
}

static int version_text(struct json_object *d)
{
	struct json_object *agent = pr_get(d, "agent");

	printf("cli    %s\n", json_object_get_string(pr_get(d, "cli")));
	if (agent)
		printf("agent  %s (pid %lld)\n", json_object_get_string(pr_get(agent, "version")),
		       (long long)json_object_get_int64(pr_get(agent, "pid")));
	else
		printf("agent  %s\n", json_object_get_string(pr_get(d, "agent_error")));
	return 0;
}

static int do_version(struct cli *c, int argc, char **argv)
{
	struct json_object *d, *st = NULL, *ag;
	char why[512];
	int rc = cli_no_args(c, argc, argv), fd;

	if (rc)
		return rc;
	d = json_object_new_object();
	json_object_object_add(d, "cli", json_object_new_string(sluice_version));
	fd = ctl_connect(c);
	if (fd < 0) {
		snprintf(why, sizeof(why), "not reachable at %s: %s", c->socket, strerror(-fd));
		json_object_object_add(d, "agent", NULL);
		json_object_object_add(d, "agent_error", json_object_new_string(why));
	} else {
		rc = ctl_call_fd(c, fd, "status", NULL, &st);
		close(fd);
		if (rc) {
			json_object_put(d);
			return rc;
		}
		ag = json_object_get(pr_get(st, "agent"));
		json_object_object_add(d, "agent", ag ? ag : json_object_new_object());
		json_object_put(st);
	}
	rc = cli_output(c, d, version_text);
	json_object_put(d);
	return rc;
}

const struct cli_object cli_version = {
	.name = "version",
	.cmd = &(const struct cli_verb){ NULL, do_version, "" },
	.summary = "The CLI's version and the running agent's (`git describe` of their build).\n"
		   "Without an agent the CLI's version is printed and the agent's is null.",
};
