// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Benchmark baselines: the cheapest possible XDP program, with and without
 * the random-source step every "random sources" case pays; XDP_PASS; and
 * what a tail call costs, direct and indirect. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "bench.h"
#include "lib/tail.h"

SEC("xdp")
int floor_same(struct xdp_md *ctx)
{
	return XDP_DROP;
}

SEC("xdp")
int floor_rand(struct xdp_md *ctx)
{
	sl_bench_rand_src((void *)(long)ctx->data, (void *)(long)ctx->data_end);
	return XDP_DROP;
}

/* The TC ingress floor (bench_ct): the next program in the chain decides. */
SEC("tc")
int floor_tc(struct __sk_buff *skb)
{
	return -1;	/* TCX_NEXT */
}

/* The receiver of the nft rows of bench_live: frames go on to the stack. */
SEC("xdp")
int floor_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/*
 * bench_peers' ceiling: the cheapest filter that gives its traffic the right
 * verdicts, by two constant tests of the IPv4 source (203.0.113.0/24 and
 * 192.0.2.0/25 dropped, the rest passed): what no filter with a real
 * lookup can beat on that traffic.
 */
SEC("xdp")
int floor_list(struct xdp_md *ctx)
{
	__u8 *p = (void *)(long)ctx->data;
	__u32 src;

	if ((void *)(p + 34) > (void *)(long)ctx->data_end)
		return XDP_PASS;
	src = bpf_ntohl(*(__u32 *)(p + 26));
	if ((src & 0xffffff00) == 0xcb007100 || (src & 0xffffff80) == 0xc0000200)
		return XDP_DROP;
	return XDP_PASS;
}

/*
 * What a tail call costs: floor_tail0 -> tail1 -> ... -> tail4 -> XDP_DROP,
 * four tail calls through floor_tails (bench_xdp fills slot I with tail
 * I + 1). floor_tdir* use constant keys (direct jumps, lib/tail.h); floor_tind*
 * read the key from tail_next[], which the verifier cannot know: indirect
 * jumps, as bpf_tail_call() with a key in a register is.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u32);
} floor_tails SEC(".maps");

__u32 tail_next[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };

#define FLOOR_TAIL(n, next)						\
SEC("xdp")								\
int floor_tdir##n(struct xdp_md *ctx)					\
{									\
	sl_tail_call(ctx, &floor_tails, next);				\
	return XDP_PASS;						\
}									\
SEC("xdp")								\
int floor_tind##n(struct xdp_md *ctx)					\
{									\
	bpf_tail_call(ctx, &floor_tails, tail_next[(next) + 4]);	\
	return XDP_PASS;						\
}

/* slots 0-3: floor_tdir1..3 and floor_same; 4-7: floor_tind1..3 and floor_same */
FLOOR_TAIL(0, 0)
FLOOR_TAIL(1, 1)
FLOOR_TAIL(2, 2)
FLOOR_TAIL(3, 3)

char LICENSE[] SEC("license") = "Dual BSD/GPL";
