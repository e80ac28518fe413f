/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The benchmarks' single-program firewall: the product's stages
 * (bpf/lib/firewall.h) inline in one XDP program, against which the
 * tail-called pipeline of sluice_xdp is measured.
 */
#ifndef SLUICE_BENCH_FW_H
#define SLUICE_BENCH_FW_H

#include "lib/firewall.h"

/*
 * The per-packet state in sl_scratch, as the tail-called stages and the
 * tcx program keep it: on the stack it takes the deepest call chain past
 * the verifier's 512 bytes.
 */
static __always_inline int sl_firewall_if(struct xdp_md *ctx, __u32 ifindex)
{
	struct sl_pipe *p = sl_pipe_get();

	if (!p)
		return sl_drop_pkt(SLUICE_DROP_INTERNAL, (long)ctx->data_end - (long)ctx->data);
	return sl_firewall_hook(ctx, SL_HOOK_XDP, ifindex,
				(long)ctx->data_end - (long)ctx->data, 0, p);
}

static __always_inline int sl_firewall(struct xdp_md *ctx)
{
	return sl_firewall_if(ctx, 0);
}

#endif /* SLUICE_BENCH_FW_H */
