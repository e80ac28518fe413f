// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: the control socket's request parser (agent/control.c,
 * ctl_parse_request: strict JSON, each key once, a "cmd" string), on what
 * a client may send. A request it accepts is an object with a "cmd"
 * string; anything else is refused with a reason. Built with the whole
 * agent (its main() renamed), as the parser is part of it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "agent/control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *req, *cmd;
	char err[512] = "";
	int rc;

	rc = ctl_parse_request((const char *)data, size, &req, err, sizeof(err));
	if (rc) {
		if (!err[0] || req || (rc != -EINVAL && rc != -ENOMEM)) {
			fprintf(stderr, "refused with %d, reason \"%s\", object %p\n", rc, err,
				(void *)req);
			abort();
		}
		return 0;
	}
	if (!json_object_is_type(req, json_type_object) ||
	    !json_object_object_get_ex(req, "cmd", &cmd) ||
	    !json_object_is_type(cmd, json_type_string)) {
		fprintf(stderr, "accepted a request without a \"cmd\" string\n");
		abort();
	}
	json_object_put(req);
	return 0;
}
