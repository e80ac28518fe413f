/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The coarse monotonic clock of the per-packet paths (conntrack's last seen,
 * the load balancer's flows, the drop events' limiter), kept per CPU and
 * read again once a jiffy: bpf_jiffies64 is inlined (one load) where the
 * bpf_ktime_get_coarse_ns call costs ~14 ns here. Both move on the timer
 * tick, so the value is the helper's within a tick (timeouts are seconds);
 * sweepers and rare paths call the helper itself.
 *
 * The clock is kept in the per-CPU value every packet's program already
 * holds, sl_scratch (the XDP and tc pipeline's per-packet state, pipeline.h,
 * after it): its own per-CPU map cost a stateful packet two more cache lines
 * (the map's per-CPU pointer and the value), which the generator, the veth
 * and the stack evict between frames live (docs/datapath.md, "Where the
 * live time goes"). Each object has its own sl_scratch (never pinned), so
 * its own copy of the clock: a cache of the same coarse clock.
 */
#ifndef SLUICE_BPF_CLOCK_H
#define SLUICE_BPF_CLOCK_H

struct sl_clock {
	__u64 jiffies;
	__u64 ns;
};

/* Room for struct sl_pipe (pipeline.h asserts that it fits). */
#define SL_PIPE_BYTES	152

/* sl_scratch[0], per CPU: the clock, then the pipeline's per-packet state. */
struct sl_cpu {
	struct sl_clock clock;
	__u64 pipe[SL_PIPE_BYTES / 8];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sl_cpu);
} sl_scratch SEC(".maps");

/* This CPU's sl_scratch[0]: one inlined lookup (never NULL in practice). */
static __always_inline struct sl_cpu *sl_cpu_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&sl_scratch, &zero);
}

static __always_inline __u64 sl_now(void)
{
	struct sl_cpu *c = sl_cpu_get();
	__u64 j = bpf_jiffies64();

	if (!c)
		return bpf_ktime_get_coarse_ns();
	if (c->clock.jiffies != j) {
		c->clock.ns = bpf_ktime_get_coarse_ns();
		c->clock.jiffies = j;
	}
	return c->clock.ns;
}

#endif /* SLUICE_BPF_CLOCK_H */
