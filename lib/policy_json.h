/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The policy model as JSON: the one form `rule list`, `policy show` and
 * `policy diff` print (docs/control.md). Built by the agent for the policy in
 * force and by the CLI for a dir it reads, so the two compare field by field.
 */
#ifndef SLUICE_POLICY_JSON_H
#define SLUICE_POLICY_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "policy.h"

/* ["203.0.113.0/24", "@blocklist"]: prefixes and @set references as written */
struct json_object *sl_json_addrs(const struct sl_addr_item *v, size_t n);
/* ["22", "8000-8080"] */
struct json_object *sl_json_ports(const struct sl_port_range *v, size_t n);
/* ["tcp", "udp"]; [] for any */
struct json_object *sl_json_protos(uint32_t protos);
/* "cli" for a rule of the CLI's edits file, else "FILE:LINE" */
struct json_object *sl_json_origin(const struct sl_loc *loc, bool cli);

/* {"name", "action", "src", "dst", "proto", "sport", "dport"} */
struct json_object *sl_json_rule(const struct sl_rule *r);

/* An egress rule: {"name", "action", "dst", "proto", "dport", "index", "origin"} */
struct json_object *sl_json_egress_rule(const struct sl_rule *r, size_t index);
/* An egress entry's {"interfaces", "src"} of its backstop; NULL (JSON null) without one. */
struct json_object *sl_json_backstop(const struct sl_egress *e);
/* {"name", "cgroup", "default", "backstop": {"interfaces", "src"} | null, "origin", "rules"} */
struct json_object *sl_json_egress(const struct sl_egress *e);

/* A service's health checks: {"type", "interval", "timeout", "rise", "fall"[, "path",
 * "expect"]}; NULL (JSON null) without them. */
struct json_object *sl_json_lb_health(const struct sl_lb_health *h);
/* A load balancer as written: {"name", "vip", "port", "proto", "mode", "table_size",
 * "encap_source" (as written; else null), "health", "backends": [{"addr", "port", "weight",
 * "drain": "policy" | "cli" | null}], "origin"} */
struct json_object *sl_json_lb_service(const struct sl_lb_service *s);

/*
 * A rule's identity for its counters: a 64-bit hash of its name and content
 * (the JSON above), never 0. A reload keeps a rule's counters while it is the
 * same (nft keeps a named counter the same way).
 */
uint64_t sl_rule_key(const struct sl_rule *r);

/*
 * The whole policy: {"files", "sections": [{"name", "interfaces", "default",
 * "stateful", "rules": [rule + "index", "section", "origin"]}], "sets": [{"name",
 * "count", "origin"[, "prefixes"]}], "blocklist": [...], "conntrack":
 * {"max-entries", "timeouts": {...}, "syn-cookies", "syn-cookie-ports"}, "egress":
 * [sl_json_egress], "loadbalancers": [sl_json_lb_service], "decap": {"interfaces",
 * "vips"} | null}. With PREFIXES, every set lists its prefixes (for diff); the CLI
 * blocklist is "blocklist", not a set.
 */
struct json_object *sl_json_policy(const struct sl_policy *pol, bool prefixes);

#endif /* SLUICE_POLICY_JSON_H */
