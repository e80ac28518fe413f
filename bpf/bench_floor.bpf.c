// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Benchmark baselines: the cheapest possible XDP program, with and without
 * the random-source step every "random sources" case pays; and XDP_PASS. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "lib/bench.h"

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

/* The receiver of the nft rows of bench_live: frames go on to the stack. */
SEC("xdp")
int floor_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
