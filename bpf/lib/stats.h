/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Per-CPU packet/byte counters: verdicts, drop reasons, rules. Per-CPU
 * arrays need no atomics; userspace sums the CPUs (sl_counters_read).
 *
 * Verdicts and drop reasons are counted per hook (sl_verdict_v2,
 * sl_drop_v2: a block per enum sl_hook). The firewall's stages run on
 * either hook and pass theirs (the *_h calls, H a constant once inlined:
 * one lookup at a constant index, as before the hooks were told apart);
 * the plain calls count under XDP, for what runs only there (the load
 * balancer, the tail-call pipeline's own checks).
 */
#ifndef SLUICE_BPF_STATS_H
#define SLUICE_BPF_STATS_H

#include "hook.h"
#include "maps.h"

static __always_inline void sl_count(void *map, __u32 idx, __u64 bytes)
{
	struct sl_counter *c = bpf_map_lookup_elem(map, &idx);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

/* Verdict V returned on hook H (without returning it). */
static __always_inline void sl_count_verdict(enum sl_hook h, enum sluice_verdict v, __u64 bytes)
{
	sl_count(&sl_verdict_v2, SLUICE_VERDICT_IDX(h, v), bytes);
}

static __always_inline int sl_pass_h(enum sl_hook h, __u64 bytes)
{
	sl_count_verdict(h, SLUICE_VERDICT_PASS, bytes);
	return XDP_PASS;
}

static __always_inline int sl_pass_nonip_h(enum sl_hook h, __u64 bytes)
{
	sl_count_verdict(h, SLUICE_VERDICT_PASS_NONIP, bytes);
	return XDP_PASS;
}

/*
 * Every drop goes through here, so every drop has a reason and a counter.
 * On XDP the drop verdict is not counted apart: it is the sum of the
 * hook's drop reasons (every XDP drop has exactly one), which userspace
 * adds up (sl_verdicts_read, lib/fw_maps.c): one per-CPU lookup and two
 * adds less a drop. tc keeps its own: its block of drop reasons also holds
 * the egress backstop's drops, which are no verdict of sluice_tcx.
 */
static __always_inline int sl_drop_pkt_h(enum sl_hook h, enum sluice_drop_reason why,
					 __u64 bytes)
{
	sl_count(&sl_drop_v2, SLUICE_DROP_IDX(h, why), bytes);
	if (h != SL_HOOK_XDP)
		sl_count_verdict(h, SLUICE_VERDICT_DROP, bytes);
	return XDP_DROP;
}

static __always_inline int sl_pass(__u64 bytes)
{
	return sl_pass_h(SL_HOOK_XDP, bytes);
}

/* Sent back out of the interface it came in on (a SYN cookie's SYN-ACK): XDP only. */
static __always_inline int sl_tx(__u64 bytes)
{
	sl_count_verdict(SL_HOOK_XDP, SLUICE_VERDICT_TX, bytes);
	return XDP_TX;
}

static __always_inline int sl_drop_pkt(enum sluice_drop_reason why, __u64 bytes)
{
	return sl_drop_pkt_h(SL_HOOK_XDP, why, bytes);
}

#endif /* SLUICE_BPF_STATS_H */
