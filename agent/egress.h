/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Container egress in the agent (docs/egress.md): the cgroup hook programs
 * and their maps, one policy slot per `egress` entry, the pinned cgroup
 * links and the watcher that follows cgroups appearing and going
 * (cgwatch.c), the TC backstop links (egress_tc.c).
 */
#ifndef SLUICED_EGRESS_H
#define SLUICED_EGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct agent;
struct json_object;
struct nl_link;
struct sl_event;
struct sl_policy;

/*
 * Start loading the hook programs on a thread of their own, reusing the XDP
 * object's pinned maps (once its load has pinned them): the verifier checks
 * them while the agent loads the tc object (~1-3 s each). 0 or -errno.
 */
int egress_preload(struct agent *a);
/*
 * Wait for egress_preload's thread (its load may still be pinning maps): before
 * anything moves or removes pins, such as an undone upgrade (loader_unload).
 */
void egress_preload_wait(struct agent *a);
/* The hook programs loaded (egress_preload's thread joined, or loaded here). */
int egress_load(struct agent *a);
void egress_unload(struct agent *a);
/*
 * Is an egress policy pinned under the state dir of A (a managed cgroup in
 * eg_cg)? Then a start is not fresh, even with no firewall interface.
 */
bool egress_state_in_force(const struct agent *a);
/*
 * Adopt the cgroup and backstop links a previous agent pinned: each moves
 * to this agent's program with bpf_link_update (the hook never runs
 * without one); stale pins (their cgroup or interface gone) are removed.
 * An upgrade that replaces maps (a->legacy_state) moves them later, with
 * egress_move_pending, once this build's maps hold the policy.
 */
int egress_adopt(struct agent *a);
/*
 * An upgrade, the policy applied: move every adopted cgroup and backstop
 * link to this build's programs (one bpf_link_update each). A link that
 * cannot move keeps the previous program, maps and policy (logged); 0 or
 * the first -errno.
 */
int egress_move_pending(struct agent *a);

/*
 * Applying a policy, around the firewall's flip (sync.c):
 *   egress_prepare  compile every entry of POL into a new policy slot;
 *                   nothing a socket can reach changes
 *   egress_commit   point every managed cgroup and backstop source at its
 *                   new slot (one map word each); on failure every word is
 *                   put back and -errno returned
 *   egress_abort    free the prepared slots (after a failure anywhere)
 *   egress_applied  POL is in force (a->pol): attach the cgroups that exist,
 *                   detach what the policy no longer names, sync backstops
 */
int egress_prepare(struct agent *a, const struct sl_policy *pol, uint64_t gen);
int egress_commit(struct agent *a, const struct sl_policy *pol);
void egress_abort(struct agent *a);
void egress_applied(struct agent *a);
/* Does egress use policy slot SLOT (kernel maps or the apply in progress)? */
bool egress_holds_slot(struct agent *a, uint32_t slot);

/* Backstop: rtnetlink link events and the full dump (attach.c calls these). */
void egress_link_event(struct agent *a, const struct nl_link *l);
void egress_backstop_sync(struct agent *a);

/* Teardown: detach every cgroup and backstop link; NAMES gets what (may be NULL). */
int egress_detach_all(struct agent *a, struct json_object *names);
/*
 * Every ATTACH_AUDIT_MS, beside attach_audit: forget the removed cgroups
 * kept for their sockets (cgwatch.c) once the kernel has let them go.
 */
void egress_audit(struct agent *a);
/* Exit: close the fds; pins keep the hooks attached. */
void egress_release(struct agent *a);

/* `status`: egress entries, their cgroups and hooks. */
struct json_object *egress_status(struct agent *a);
/* `status`: the egress maps (eg_*) with their fill, appended to the maps array ARR. */
void egress_status_maps(struct agent *a, struct json_object *arr);
/* `status`: the backstop's interfaces, appended to the hooks array ARR. */
void egress_status_ifaces(struct agent *a, struct json_object *arr);
/* `egress-list`: entries, cgroups, hooks, removed cgroups kept, rules with counters. */
int egress_cmd_list(struct agent *a, struct json_object *req, struct json_object **data,
		    char *err, size_t errlen);
/* `stats`: allowed and denied per egress hook. */
struct json_object *egress_stats(struct agent *a);
/* The egress fields of a drop event E (egress, cgroup, hook, rule) into O. */
void egress_event_json(struct agent *a, const struct sl_event *e, struct json_object *o);

#endif /* SLUICED_EGRESS_H */
