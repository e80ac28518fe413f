/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Container egress: the verdict of one connect()/sendmsg() (cgroup
 * sock_addr hooks) or one packet (the TC backstop) under an `egress` entry
 * of the policy.
 *
 *   entry : eg_cg[cgroup id of the socket] (one hash lookup); a cgroup
 *           without an entry takes its nearest ancestor that has one, found
 *           by walking up at most SLUICE_EG_DEPTH levels (one O(1) helper
 *           call and at most one lookup per level: the cost follows the
 *           depth of the cgroup, never the number of entries). The backstop
 *           finds the entry by source address instead (eg_src4/eg_src6).
 *   rules : the entry's policy slot, classified by the firewall's own
 *           tables and code (classify.h, the fwp_* slot maps): one lookup
 *           per field whatever the number of prefixes. The source and source
 *           port of a socket are its own: egress rules never constrain them,
 *           so any value matches. Each rule's action and counter id come
 *           from the slot's fw_rule, as for a firewall section.
 *   count : eg_rule_cnt[id] with the ids the agent wrote into fw_rule
 *           (entry base + rule; fw_config.cnt_default for the default) and
 *           eg_stats[hook * 2 + denied]; a denial is a drop event naming
 *           the entry, the hook, the socket's cgroup and the generation of
 *           the slot that judged it.
 */
#ifndef SLUICE_BPF_EGRESS_H
#define SLUICE_BPF_EGRESS_H

#include "classify.h"
#include "events.h"

/*
 * cgroup id -> its entry. Not preallocated: an update allocates a new
 * element and swaps it in under RCU, so a reader sees the old value or the
 * new one whole, never a mix.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SLUICE_EG_MAX);
	__type(key, __u64);
	__type(value, struct sl_eg_val);
} eg_cg SEC(".maps");

/* The backstop: source prefix -> entry, per family. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SLUICE_EG_SRC_MAX);
	__type(key, struct sl_eg_src4);
	__type(value, struct sl_eg_val);
} eg_src4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SLUICE_EG_SRC_MAX);
	__type(key, struct sl_eg_src6);
	__type(value, struct sl_eg_val);
} eg_src6 SEC(".maps");

/*
 * Calls (or backstop packets) per rule of every entry, and per entry's
 * default, by the counter ids the agent wrote into the slots (a rule keeps
 * its id while its entry, name and content stay: agent/cnt_ids.c).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_EG_CNT_IDS);
	__type(key, __u32);
	__type(value, struct sl_counter);
} eg_rule_cnt SEC(".maps");

/* Counter id -> key of the rule that owns it, 0: free (the agent's, never read here). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_EG_CNT_IDS);
	__type(key, __u32);
	__type(value, __u64);
} eg_cnt_key SEC(".maps");

/* Allowed and denied per hook: index hook * 2 + denied. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_EG_HOOK_MAX * 2);
	__type(key, __u32);
	__type(value, struct sl_counter);
} eg_stats SEC(".maps");

#define SL_EG_ALLOW	1	/* sock_addr hooks: 1 lets the call go on, 0 is EPERM */
#define SL_EG_DENY	0

/*
 * A denial: counted under HOOK (eg_stats, and sl_drop_v2's tc block for the
 * backstop, which drops on tcx ingress like the firewall there) and
 * reported as a drop event for WHY. ENTRY is the entry's index + 1 (0: no
 * entry was found, as for a socket too deep to find one); RULE and CFG
 * name the rule (SLUICE_EV_NO_RULE, NULL: none).
 */
static __always_inline int sl_eg_deny(__u32 entry, enum sluice_drop_reason why,
				      const struct sl_meta *m, enum sluice_eg_hook hook, __u64 cg,
				      __u32 ifindex, __u64 bytes, __u32 rule,
				      const struct fw_config *cfg)
{
	struct sl_ev_config *ec = NULL;
	struct sl_event *ev;

	sl_count(&eg_stats, hook * 2 + 1, bytes);
	if (hook == SLUICE_EG_BACKSTOP)
		sl_count(&sl_drop_v2, SLUICE_DROP_IDX(SLUICE_HOOK_TC, why), bytes);
	ev = sl_event_new(&ec);
	if (ev && ec) {
		/* the rule is named by its slot's generation, like the firewall's */
		sl_event_fill(ev, why, bytes, m, rule, ifindex, cfg);
		ev->cgroup = cg;
		ev->egress = entry;
		ev->hook = hook;
		sl_event_done(ec, ev);
	}
	return SL_EG_DENY;
}

/* Who asks sl_eg_verdict, for the counters and the drop event (five arguments at most). */
struct sl_eg_asker {
	__u64 cg;		/* the socket's cgroup, 0 for the backstop */
	__u64 bytes;		/* counted with the verdict: 0 for a call */
	__u32 ifindex;		/* the backstop's device, else 0 */
	__u32 hook;		/* enum sluice_eg_hook */
};

/*
 * The verdict of entry V for the call or packet M, counted under A->hook;
 * A->bytes are counted too. A->cg and A->ifindex go into the drop event. A
 * slot that is gone or incomplete denies: a managed cgroup never passes
 * unjudged.
 *
 * A global function: the verifier checks it once per program, with M's
 * fields unknown, and its callers see one unknown result. Inlined, the
 * classifier was checked again for every state a caller reached it with
 * (each parse path of the backstop, each address form of connect6): most
 * of the cgroup object's 1.2M processed instructions and of an agent's
 * start (docs/architecture.md, "Verifier time"). A call costs a few ns,
 * once per connect()/sendmsg() or per backstop packet that opens
 * something.
 */
__noinline int sl_eg_verdict(const struct sl_eg_val *v, const struct sl_meta *m,
			     const struct sl_eg_asker *a)
{
	enum sluice_drop_reason why = SLUICE_DROP_INTERNAL;
	__u32 slot, key = 0, ev_rule = SLUICE_EV_NO_RULE, e;
	enum sluice_eg_hook hook;
	struct fw_config *cfg;
	void *inner;
	__u64 bytes;
	int rule;

	/* to the verifier any argument may be NULL; no caller passes one */
	if (!v || !m || !a)
		return SL_EG_DENY;
	slot = v->slot;
	hook = a->hook;
	bytes = a->bytes;
	inner = bpf_map_lookup_elem(&fwp_cfg, &slot);
	cfg = inner ? bpf_map_lookup_elem(inner, &key) : NULL;
	if (!cfg || !cfg->active)
		goto deny;
	rule = sl_classify(cfg, m, slot);
	if (rule == SL_NO_MATCH) {
		sl_count(&eg_rule_cnt, cfg->cnt_default, bytes);
		if (cfg->default_action == SLUICE_ACT_ALLOW)
			goto allow;
		why = SLUICE_DROP_EGRESS_DEFAULT;
		ev_rule = SLUICE_RULE_DEFAULT;
		goto deny;
	}
	/* the rule's action and eg_rule_cnt id, from the slot's fw_rule */
	e = rule < 0 ? SL_RULE_MISSING : sl_rule_entry(cfg, slot, rule);
	if (e == SL_RULE_MISSING)
		goto deny;
	sl_count(&eg_rule_cnt, SLUICE_RULE_CNT(e), bytes);
	if (e & SLUICE_RULE_ALLOW)
		goto allow;
	why = SLUICE_DROP_EGRESS_RULE;
	ev_rule = rule;
deny:
	return sl_eg_deny(v->entry, why, m, hook, a->cg, a->ifindex, bytes, ev_rule,
			  ev_rule == SLUICE_EV_NO_RULE ? NULL : cfg);
allow:
	sl_count(&eg_stats, hook * 2, bytes);
	return SL_EG_ALLOW;
}

/*
 * sl_eg_verdict for HOOK, CG, IFINDEX and BYTES: SL_EG_ALLOW, or SL_EG_DENY
 * (a global function's result is any scalar to the verifier: made one of
 * the two here).
 */
static __always_inline int sl_eg_judge(const struct sl_eg_val *v, const struct sl_meta *m,
				       enum sluice_eg_hook hook, __u64 cg, __u32 ifindex,
				       __u64 bytes)
{
	struct sl_eg_asker a = { .cg = cg, .bytes = bytes, .ifindex = ifindex, .hook = hook };

	return sl_eg_verdict(v, m, &a) == SL_EG_ALLOW ? SL_EG_ALLOW : SL_EG_DENY;
}

#endif /* SLUICE_BPF_EGRESS_H */
