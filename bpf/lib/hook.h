/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The firewall's context layer: the same stages (firewall.h) on an XDP frame
 * or on a tcx ingress skb. A stage asks here for the packet's bounds and
 * returns XDP verdicts; the tc entry maps them at the end. HOOK is always a
 * constant where a stage is inlined, so each program keeps only its own
 * branch (the verifier never sees the other context's fields).
 *
 * What tc cannot do is left out of its program, never silently skipped: the
 * load balancer (XDP_TX, devmap redirects) and SYN cookies answered in place
 * (XDP_TX) are refused at `hook: tc` (lib/policy_check.c), and make `auto`
 * XDP (lib/hook.c; docs/policy.md `hook:`).
 */
#ifndef SLUICE_BPF_HOOK_H
#define SLUICE_BPF_HOOK_H

#include "vmlinux.h"
#include "sluice_abi.h"

/* The hook a stage runs on: also the block of sl_verdict_v2 / sl_drop_v2 it counts in. */
enum sl_hook {
	SL_HOOK_XDP = SLUICE_HOOK_XDP,
	SL_HOOK_TC = SLUICE_HOOK_TC,
};

/* tcx verdicts (uapi TCX_NEXT, TCX_DROP; the 6.1 headers lack them) */
#define SL_TCX_NEXT	(-1)	/* pass: the next tcx program decides, then the stack */
#define SL_TCX_DROP	2	/* TC_ACT_SHOT */

/*
 * A u32 field of the skb (a packet pointer), read with the offset in the instruction: the
 * verifier turns only a load at a constant offset from the context pointer
 * into a packet pointer, and clang, left alone, keeps the offsets of
 * skb->data and ->data_end in registers and adds them first.
 */
#define SL_SKB_FIELD(ctx, field) ({						\
	void *__v;								\
	asm volatile("%0 = *(u32 *)(%1 + %2)"					\
		     : "=r"(__v)						\
		     : "r"(ctx), "i"(__builtin_offsetof(struct __sk_buff, field)));	\
	__v;									\
})

static __always_inline void *sl_hook_data(void *ctx, enum sl_hook h)
{
	if (h == SL_HOOK_TC)
		return SL_SKB_FIELD(ctx, data);
	return (void *)(long)((struct xdp_md *)ctx)->data;
}

static __always_inline void *sl_hook_data_end(void *ctx, enum sl_hook h)
{
	if (h == SL_HOOK_TC)
		return SL_SKB_FIELD(ctx, data_end);
	return (void *)(long)((struct xdp_md *)ctx)->data_end;
}

/*
 * An XDP verdict as tcx's: XDP_DROP is TC_ACT_SHOT, XDP_PASS is TCX_NEXT
 * (not TC_ACT_OK, which would end the chain before the other sluice tcx
 * programs on the interface). Nothing else leaves a tc stage.
 */
static __always_inline int sl_hook_tc_verdict(int v)
{
	return v == XDP_DROP ? SL_TCX_DROP : SL_TCX_NEXT;
}

#endif /* SLUICE_BPF_HOOK_H */
