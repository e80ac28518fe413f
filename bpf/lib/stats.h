/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Per-CPU packet/byte counters: verdicts, drop reasons, rules. Per-CPU
 * arrays need no atomics; userspace sums the CPUs (sl_counters_read).
 */
#ifndef SLUICE_BPF_STATS_H
#define SLUICE_BPF_STATS_H

#include "maps.h"

static __always_inline void sl_count(void *map, __u32 idx, __u64 bytes)
{
	struct sl_counter *c = bpf_map_lookup_elem(map, &idx);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

static __always_inline int sl_pass(__u64 bytes)
{
	sl_count(&sl_verdict, SLUICE_VERDICT_PASS, bytes);
	return XDP_PASS;
}

/* Sent back out of the interface it came in on (a SYN cookie's SYN-ACK). */
static __always_inline int sl_tx(__u64 bytes)
{
	sl_count(&sl_verdict, SLUICE_VERDICT_TX, bytes);
	return XDP_TX;
}

static __always_inline int sl_pass_nonip(__u64 bytes)
{
	sl_count(&sl_verdict, SLUICE_VERDICT_PASS_NONIP, bytes);
	return XDP_PASS;
}

/* Every drop goes through here, so every drop has a reason and a counter. */
static __always_inline int sl_drop_pkt(enum sluice_drop_reason why, __u64 bytes)
{
	sl_count(&sl_drop, why, bytes);
	sl_count(&sl_verdict, SLUICE_VERDICT_DROP, bytes);
	return XDP_DROP;
}

#endif /* SLUICE_BPF_STATS_H */
