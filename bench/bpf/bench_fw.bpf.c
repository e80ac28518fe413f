// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Benchmark: the firewall exactly as sluice_xdp runs it, in one program;
 * fw_rand after the random-source step. The bench points its maps at
 * sluice_xdp's (reuse_fd). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "bench.h"
#include "bench_fw.h"

SEC("xdp")
int fw_rand(struct xdp_md *ctx)
{
	sl_bench_rand_src((void *)(long)ctx->data, (void *)(long)ctx->data_end);
	/* else clang keeps &ctx->data_end in a register, which the verifier refuses */
	barrier_var(ctx);
	return sl_firewall(ctx);
}

/*
 * The single-program path: the same stages as sluice_xdp's tail-called
 * programs, inlined into one program, the state in sl_scratch as theirs.
 * Against sluice_xdp it gives the cost of the tail calls.
 */
SEC("xdp")
int fw_single(struct xdp_md *ctx)
{
	return sl_firewall_if(ctx, ctx->ingress_ifindex);
}

/*
 * A copy of fw_single, instruction for instruction: bench_xdp's A/A row
 * measures it against fw_single the way the pipeline is measured, so that
 * what the instrument shows between two identical programs is seen.
 */
SEC("xdp")
int fw_single_b(struct xdp_md *ctx)
{
	return sl_firewall_if(ctx, ctx->ingress_ifindex);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
