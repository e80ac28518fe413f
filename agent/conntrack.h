/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Conntrack in the agent: the TC egress program that records locally opened
 * connections, attached with a pinned tcx link beside every XDP link; the
 * shared ct maps (ct_tbl sized from conntrack.max-entries, ct_cfg written on
 * every apply); the control commands ct-list, ct-flush and ct-stats.
 */
#ifndef SLUICED_CONNTRACK_H
#define SLUICED_CONNTRACK_H

#include <stdbool.h>
#include <stddef.h>

struct agent;
struct bpf_map;
struct iface;
struct json_object;
struct sl_policy;

/*
 * Called by the loader for every map before load: gives ct_tbl its
 * capacity. A pinned ct_tbl keeps its own (its entries are live
 * connections); a different conntrack.max-entries is logged and takes effect
 * once the table is re-created (after `sluice teardown`).
 */
int ct_map_prepare(struct agent *a, struct bpf_map *map, const char *pin);
/*
 * After the XDP slots are loaded: load the TC egress program on the same
 * pinned ct maps and point every pending conntrack timer at its callback,
 * so that no timer keeps a previous agent's program alive. Then, from a 1 s
 * timerfd, run the same pass again to arm the timers bpf_timer_init could not
 * set up (ENOMEM in bursts) and delete such entries once stale.
 */
int ct_load(struct agent *a);
void ct_unload(struct agent *a);
/* Write ct_cfg[0] for POL (stateful flag, timeouts). */
int ct_apply(struct agent *a, const struct sl_policy *pol);
/*
 * Give every XDP interface its TC egress link when the policy is stateful:
 * adopt a pinned one (and point it at this agent's program), else attach
 * and pin; detach them all for a stateless policy; unpin links of
 * interfaces that have no XDP link any more.
 */
void ct_links_sync(struct agent *a);
/* Detach and unpin the TC link of IT (interface gone, unmatched, teardown). */
void ct_iface_forget(struct agent *a, struct iface *it);
/* Exit: close the link fds; the pins keep the programs attached. */
void ct_release(struct agent *a);
/* Entries in ct_tbl, or ct_syn (half-open TCP) when SYN, now (a walk), or -errno. */
long ct_entries(struct agent *a, bool syn);
/* The TC hook of IT for `status` (NULL when it has none). */
struct json_object *ct_status_hook(struct agent *a, const struct iface *it);

/* Control commands (docs/control.md). */
int ct_cmd_list(struct agent *a, struct json_object *req, struct json_object **data,
		char *err, size_t errlen);
int ct_cmd_flush(struct agent *a, struct json_object *req, struct json_object **data,
		 char *err, size_t errlen);
int ct_cmd_stats(struct agent *a, struct json_object *req, struct json_object **data,
		 char *err, size_t errlen);

#endif /* SLUICED_CONNTRACK_H */
