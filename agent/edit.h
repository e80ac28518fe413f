/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * CLI edits through the control socket (docs/control.md): rule-add, rule-del,
 * block-add, block-del, block-list, policy-show, generation, lb-drain,
 * lb-undrain. Each edit is
 * merged into the policy read from the dir and applied as one whole policy
 * (sync_apply), then persisted in the CLI's edits file (lib/policy_edit.h).
 */
#ifndef SLUICED_EDIT_H
#define SLUICED_EDIT_H

#include <stddef.h>

#include <json-c/json.h>

struct agent;

int edit_cmd_rule_add(struct agent *a, struct json_object *req, struct json_object **data,
		      char *err, size_t errlen);
int edit_cmd_rule_del(struct agent *a, struct json_object *req, struct json_object **data,
		      char *err, size_t errlen);
int edit_cmd_block_add(struct agent *a, struct json_object *req, struct json_object **data,
		       char *err, size_t errlen);
int edit_cmd_block_del(struct agent *a, struct json_object *req, struct json_object **data,
		       char *err, size_t errlen);
int edit_cmd_block_list(struct agent *a, struct json_object *req, struct json_object **data,
			char *err, size_t errlen);
int edit_cmd_policy_show(struct agent *a, struct json_object *req, struct json_object **data,
			 char *err, size_t errlen);
int edit_cmd_generation(struct agent *a, struct json_object *req, struct json_object **data,
			char *err, size_t errlen);
/* lb-drain / lb-undrain: {"service": "VIP:PORT", "backend": "ADDR[:PORT]"} */
int edit_cmd_lb_drain(struct agent *a, struct json_object *req, struct json_object **data,
		      char *err, size_t errlen);
int edit_cmd_lb_undrain(struct agent *a, struct json_object *req, struct json_object **data,
			char *err, size_t errlen);

#endif /* SLUICED_EDIT_H */
