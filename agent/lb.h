/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The agent's load balancer: the lb_* maps of the loaded object applied in
 * step with the firewall (sync.c calls prepare before the flip, commit with
 * it, gc after the grace period), the interfaces it sends to and
 * decapsulates on, and what `sluice lb list`, `stats` and the metrics show.
 * Health checks are in health.c.
 */
#ifndef SLUICED_LB_H
#define SLUICED_LB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

struct agent;
struct iface;
struct sl_policy;

/* After loader_load: adopt the services, backend ids and health records pinned. */
int lb_open(struct agent *a);
void lb_close(struct agent *a);

/* sync_apply's steps (lb_maps.h): errors are logged at the service that caused them. */
int lb_sync_prepare(struct agent *a, const struct sl_policy *pol, uint64_t gen);
int lb_sync_commit(struct agent *a);
void lb_sync_abort(struct agent *a);
void lb_sync_gc(struct agent *a);
/*
 * The policy in force again, for a health change: only the services whose
 * tables change are written. Returns 0 or -errno (logged).
 */
int lb_resync(struct agent *a, const char *why);
/*
 * After the services of the policy in force changed (an apply, a drain, a
 * health change): log a service whose every backend is drained or down
 * (its new flows are dropped), and one that has a backend again.
 */
void lb_check_backends(struct agent *a);

/* Is NAME a decap interface of POL (name or glob, loopback by name only)? */
bool lb_decap_wants(const struct sl_policy *pol, const char *name, bool loopback);
/* Attached interfaces: XDP_REDIRECT targets; decap interfaces of the policy in force. */
void lb_iface_added(struct agent *a, const struct iface *it);
void lb_iface_gone(struct agent *a, const struct iface *it);
void lb_ifaces_sync(struct agent *a);

/* Control commands (docs/control.md): lb-list. */
int lb_cmd_list(struct agent *a, struct json_object *req, struct json_object **data,
		char *err, size_t errlen);
/* The "lb" object of `stats`: what the load balancer did (enum sluice_lb_stat). */
struct json_object *lb_stats_json(struct agent *a);
/* The load balancer's Prometheus metrics, malloc'd text (NULL: none). */
char *lb_metrics_text(struct agent *a);

#endif /* SLUICED_LB_H */
