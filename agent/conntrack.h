/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Conntrack in the agent: the TC egress program that records locally opened
 * connections, attached with a pinned tcx link beside every XDP link; the
 * shared ct maps (the table's shards created from conntrack.max-entries,
 * ct_cfg written on every apply); the control commands ct-list, ct-flush
 * and ct-stats.
 */
#ifndef SLUICED_CONNTRACK_H
#define SLUICED_CONNTRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent;
struct bpf_map;
struct iface;
struct json_object;
struct sl_policy;

/* The TC links beside each XDP link (struct iface's tc_link_fd[] index). */
enum ct_tc_dir {
	CT_TC_EGRESS,		/* sluice_tc: records the connections the host opens */
	CT_TC_INGRESS,		/* sl_tc_ingress: completes SYN cookie handshakes */
	CT_TC_DIRS,
};

/*
 * After the XDP slots are loaded (they create and pin the ct maps): load
 * the TC egress program on the same maps; adopt the table's shards, or
 * create them sized from conntrack.max-entries (a pinned table keeps its
 * size: its entries are live connections; a different max-entries is
 * logged and takes effect once the table is re-created after `sluice
 * teardown`); carry over the connections of a pre-shard state dir; start
 * the sweepers, or move them to this agent's program so that no timer keeps
 * a previous agent's program alive.
 */
int ct_load(struct agent *a);
void ct_unload(struct agent *a);
/*
 * Turn the conntrack lookup filter on (docs/datapath.md, "Lookup filter")
 * unless it is: every entry of the table stamped first. Only once every
 * program that tracks connections is of this build (earlier builds did
 * not stamp what they inserted). Failures are logged; the filter stays off.
 */
void ct_filter_start(struct agent *a);

/* Write ct_cfg[0] for POL (stateful flag, timeouts; a new generation). */
int ct_apply(struct agent *a, const struct sl_policy *pol);
/*
 * Give every XDP interface its TC egress link when the policy is stateful,
 * and its TC ingress link when SYN cookies are not off too: adopt a pinned
 * one (and point it at this agent's program), else attach and pin; detach
 * them for a stateless policy; unpin links of interfaces that have no XDP
 * link any more.
 */
void ct_links_sync(struct agent *a);
/* Detach and unpin the TC links of IT (interface gone, unmatched, teardown). */
void ct_iface_forget(struct agent *a, struct iface *it);
/* Exit: close the link fds; the pins keep the programs attached. */
void ct_release(struct agent *a);
/* Assured and unassured entries in the table now (a walk): 0 or -errno. */
int ct_entries(struct agent *a, uint64_t *assured, uint64_t *unassured);
/* The same by family: N[0] IPv6, N[1] IPv4, each [assured, unassured]. */
int ct_entries_family(struct agent *a, uint64_t n[2][2]);
/* The TC hooks of IT (egress, ingress) for `status`, appended to ARR. */
void ct_status_hooks(struct agent *a, const struct iface *it, struct json_object *arr);
/*
 * The row of `status` maps of one family's conntrack table (V4: ct4_shards,
 * else ct_shards), into O: used and capacity of the assured entries, the
 * same for unassured ones, and the shards.
 */
void ct_status_map(struct agent *a, struct json_object *o, bool v4);

/* Control commands (docs/control.md). */
int ct_cmd_list(struct agent *a, struct json_object *req, struct json_object **data,
		char *err, size_t errlen);
int ct_cmd_flush(struct agent *a, struct json_object *req, struct json_object **data,
		 char *err, size_t errlen);
int ct_cmd_stats(struct agent *a, struct json_object *req, struct json_object **data,
		 char *err, size_t errlen);

#endif /* SLUICED_CONNTRACK_H */
