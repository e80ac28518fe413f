/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Per-packet state handed from one XDP pipeline stage to the next (tail
 * calls, enum sluice_tail in sluice_abi.h).
 *
 * Why a per-CPU array and not the XDP metadata area (bpf_xdp_adjust_meta):
 * the metadata area holds at most 32 bytes, and the state is ~110 (the
 * parsed headers of struct sl_meta, the conntrack key, slot, ifindex). A
 * tail call stays on the CPU it started on, and XDP in NAPI (softirq) does
 * not nest on one CPU, so the entry program's write is what the next stage
 * reads (the same choice as Cilium's XDP scratch map). Each stage reads it
 * with one inlined array lookup; docs/datapath.md has the measured cost.
 */
#ifndef SLUICE_BPF_PIPELINE_H
#define SLUICE_BPF_PIPELINE_H

#include "clock.h"
#include "conntrack.h"
#include "parse.h"

/*
 * What the entry program found for the load balancer: this packet is a
 * backend's reply to a NAT flow (its meta already reads as the client sees
 * it, source VIP:vport, so conntrack and the rules see one connection; the
 * LB stage rewrites the packet itself), or a SYN for a service (no SYN
 * cookie for it: the backend answers).
 */
struct sl_lb_pkt {
	__u8 reply;		/* a NAT reply: the source goes back to vip:vport */
	__u8 to_vip;		/* a TCP SYN for a service (lb_svc) */
	__be16 vport;
	__u32 backend;		/* lb_backends id */
	__u8 vip[16];
};

struct sl_pipe {
	struct sl_meta m;	/* what sl_parse found */
	struct sl_ct_pkt ctp;	/* conntrack stage: key and whether it may open one */
	__u32 ifindex;		/* receiving interface, for drop events */
	__u32 slot;		/* policy slot the packet uses from start to end */
	__u64 bytes;		/* frame length */
	struct sl_lb_pkt lb;	/* load balancer: a NAT reply (entry program) */
};

_Static_assert(sizeof(struct sl_pipe) <= SL_PIPE_BYTES, "sl_pipe fits in sl_cpu.pipe");

/*
 * One sl_pipe per CPU, overwritten by every packet's entry program: in
 * sl_scratch (clock.h), after the clock, which it shares the per-CPU value
 * with.
 */
static __always_inline struct sl_pipe *sl_pipe_get(void)
{
	struct sl_cpu *c = sl_cpu_get();

	return c ? (struct sl_pipe *)c->pipe : NULL;
}

#endif /* SLUICE_BPF_PIPELINE_H */
