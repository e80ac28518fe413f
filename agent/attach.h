/* SPDX-License-Identifier: GPL-2.0-only */
/* XDP attachment: one pinned bpf_link per interface matching the policy. */
#ifndef SLUICED_ATTACH_H
#define SLUICED_ATTACH_H

#include <stddef.h>
#include <stdint.h>

struct agent;
struct iface;
struct json_object;
struct nl_link;

/*
 * Adopt the links a previous agent pinned under links/: a link that runs
 * this build's entry program stays as it is; one that runs another build's
 * is moved with bpf_link_update (atomic, the interface is never without a
 * program); unpin those whose interface is gone or, when a policy is
 * loaded, no longer matches. Links of the previous map layout are only
 * recorded (move_pending): attach_move_pending moves them after the apply.
 */
int attach_adopt(struct agent *a);
/* Move the links adopted from the previous layout to this build's program. */
int attach_move_pending(struct agent *a);
/* Attach to every matching link of the netns and detach from those that no
 * longer match (after start-up or a reload). */
int attach_sync(struct agent *a);
/*
 * Every ATTACH_AUDIT_MS, and before `status` answers: a firewall or
 * conntrack link that is no longer on its interface (detached by someone
 * else: no event says so) is replaced by a new one, and an interface whose
 * attach ran out of fds or memory is tried again. 0 or -errno.
 */
#define ATTACH_AUDIT_MS	1000
int attach_audit(struct agent *a);
/* ms until the next attach_audit is due (0: now) */
long attach_audit_timeout(const struct agent *a);
/* An rtnetlink link event (nl_link_fn): attach, follow a rename, forget. */
void attach_link_event(void *ctx, const struct nl_link *l);
/*
 * Point every attached interface at the slot of the section of POL it runs,
 * SLOTS[section] (sl_ifslot, one word each). Interfaces POL does not want
 * keep theirs until attach_sync detaches them.
 */
struct sl_policy;
int attach_set_slots(struct agent *a, const struct sl_policy *pol, const uint32_t *slots,
		     size_t n);
/* Teardown: detach and unpin every link; NAMES gets the interface names
 * (a json-c array, may be NULL). Returns 0 or the first -errno. */
int attach_detach_all(struct agent *a, struct json_object *names);
/* Exit: close the link fds; the pins keep the programs attached. */
void attach_release_all(struct agent *a);
/* status: [{name, ifindex, error}] of the interfaces wanted and not attached */
struct json_object *attach_status_failed(const struct agent *a);
const char *attach_mode_name(const struct iface *it);
/* "xdp" or "tc": where IT runs the firewall (policy `hook:`) */
const char *attach_hook_name(const struct iface *it);

#endif /* SLUICED_ATTACH_H */
