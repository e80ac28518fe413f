/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The coarse monotonic clock of the per-packet paths (conntrack's last seen,
 * the load balancer's flows), kept per CPU and read again once a jiffy:
 * bpf_jiffies64 is inlined (one load) where the bpf_ktime_get_coarse_ns
 * call costs ~14 ns here. Both move on the timer tick, so the value is the
 * helper's within a tick (timeouts are seconds); sweepers and rare paths
 * call the helper itself.
 */
#ifndef SLUICE_BPF_CLOCK_H
#define SLUICE_BPF_CLOCK_H

struct sl_clock {
	__u64 jiffies;
	__u64 ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sl_clock);
} sl_clock SEC(".maps");

static __always_inline __u64 sl_now(void)
{
	__u32 zero = 0;
	struct sl_clock *c = bpf_map_lookup_elem(&sl_clock, &zero);
	__u64 j = bpf_jiffies64();

	if (!c)
		return bpf_ktime_get_coarse_ns();
	if (c->jiffies != j) {
		c->ns = bpf_ktime_get_coarse_ns();
		c->jiffies = j;
	}
	return c->ns;
}

#endif /* SLUICE_BPF_CLOCK_H */
