// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluice XDP ingress: the firewall and the load balancer as a pipeline of
 * tail-called programs.
 *
 *   sluice_xdp   (entry, attached)  [DSR backend: IP-in-IP for a decap VIP
 *                                   loses its outer header] policy present?
 *                                   parse (Ethernet, VLAN x2, IPv4/IPv6 +
 *                                   extension headers, L4) into the per-CPU
 *                                   sl_scratch; [a backend's reply to a NAT
 *                                   flow reads as from VIP:port from here on]
 *                                   [stateful, early rules: classify
 *                                   first, an early deny drops here]
 *                                   [stateful: conntrack; a tracked
 *                                   connection is allowed] then, for what
 *                                   conntrack did not know: classify
 *                                   (DIR-24-8 / LPM6 / port / proto classes,
 *                                   bitmap AND), count, allow or XDP_DROP;
 *                                   an allowed packet may open a connection
 *     -> sl_tails[SLUICE_TAIL_LB]   sl_stage_lb (services configured): an
 *                                   allowed packet for a VIP goes to its
 *                                   backend (XDP_TX / XDP_REDIRECT), a NAT
 *                                   reply back to its client; others XDP_PASS
 *
 * The firewall is one program, stateless or stateful: conntrack and the
 * rules were tail-called stages once, and each tail call cost its jump and
 * the stage's reads of what the entry program already held (scratch,
 * policy slot, settings): ~5 ns on a tracked packet, ~10-15 on a miss
 * (docs/datapath.md, "What the pipeline costs").
 * Every tail call has a constant key (lib/tail.h): a direct jump, ~1 ns;
 * what a stage costs beyond it is what it reads again (docs/datapath.md,
 * "What the pipeline costs").
 * A drop also sends a rate-limited event to sl_events. A tail call that finds
 * its index empty drops the packet as "tail-call-missed": never a pass.
 * sl_tails belongs to one load of this object and is filled with that load's
 * stages before anything runs the entry program (lib/fw_maps.c
 * fw_pipeline_fill): one complete, consistent set of programs. An upgrade
 * loads a new set and switches the links' entry program in one step.
 *
 *   sluice_tcx   (tcx ingress, a section's `hook: tc`) the same stages
 *                inline, on the skb (bpf/lib/hook.h): no load balancer,
 *                no SYN cookies; same maps, same verdicts.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "lib/firewall.h"
#include "lib/lb.h"
#include "lib/skb_parse.h"
#include "lib/tail.h"

/* Filled by userspace with this object's stage programs (fw_pipeline_fill). */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, SLUICE_TAIL_MAX);
	__type(key, __u32);
	__type(value, __u32);
} sl_tails SEC(".maps");

/* What follows a tail call: its slot was empty. Dropped, never passed. */
static __always_inline int sl_tail_missed(struct sl_pipe *p)
{
	return sl_drop_ev(SLUICE_DROP_TAIL_MISSED, p->bytes, &p->m, SLUICE_EV_NO_RULE,
			  p->ifindex);
}

/*
 * Hand the packet to stage IDX (a constant: a direct jump, lib/tail.h);
 * returns only when its slot is empty.
 */
#define sl_tail(ctx, idx, p) ({ sl_tail_call(ctx, &sl_tails, idx); sl_tail_missed(p); })

/*
 * An allowed packet: to the load balancer when it has services (the lb_cfg
 * entry, looked up again here: the entry program's pointer to it, held
 * through the firewall, took a stack slot the program had no room for, 512
 * bytes with sl_ck_syn_answer's frame), else XDP_PASS.
 */
static __always_inline int sl_allowed(struct xdp_md *ctx, struct sl_pipe *p)
{
	struct lb_config *lbc = sl_lb_cfg();

	if (lbc && lbc->active)
		return sl_tail(ctx, SLUICE_TAIL_LB, p);
	return sl_pass(p->bytes);
}

SEC("xdp")
int sluice_xdp(struct xdp_md *ctx)
{
	struct lb_config *lbc = sl_lb_cfg();
	struct sl_pipe *p = sl_pipe_get();
	struct fw_config *cfg = NULL;
	int v;

	if (lbc && lbc->decap)
		sl_lb_decap(ctx);
	if (!p)
		return sl_drop_pkt(SLUICE_DROP_INTERNAL, (long)ctx->data_end - (long)ctx->data);
	v = sl_fw_begin(SL_HOOK_XDP, (void *)(long)ctx->data, (void *)(long)ctx->data_end,
			(long)ctx->data_end - (long)ctx->data, ctx->ingress_ifindex, 0, &cfg, p);
	if (v != SL_NEXT || !cfg)
		return v;
	if (lbc && lbc->nat)
		sl_lb_reply_meta(p, lbc);
	if (lbc && lbc->active)
		sl_lb_syn_meta(p);
	/*
	 * The order sl_firewall_hook runs (sl_fw_order), then one sl_allowed:
	 * a copy of the order written here, one sl_allowed (and tail call) per
	 * outcome, made the established hit cost 5-7 ns more than the same
	 * stages in one program (docs/datapath.md, "What the pipeline costs").
	 */
	v = sl_fw_order(ctx, SL_HOOK_XDP, p, cfg);
	return v == SL_ALLOW ? sl_allowed(ctx, p) : v;
}

SEC("xdp")
int sl_stage_lb(struct xdp_md *ctx)
{
	struct sl_pipe *p = sl_pipe_get();
	struct lb_config *lbc = sl_lb_cfg();

	if (!p || !lbc)
		return sl_drop_pkt(SLUICE_DROP_INTERNAL,
				   (long)ctx->data_end - (long)ctx->data);
	return sl_lb(ctx, p, lbc);
}

/*
 * The firewall on tcx ingress (policy `hook: tc`): the same stages as
 * sluice_xdp's on the skb (no load balancer, which is XDP's), verdicts
 * mapped to tcx's (bpf/lib/hook.h). Same
 * object, so the same maps: a policy, a block or a tracked connection is the
 * same on either hook. Headers past the linear part are pulled in first
 * where the firewall would read them: not for a TCP or UDP packet whose
 * headers are all linear (sl_skb_hdrs_linear), such as the bulk TCP of a
 * veth, where the pull cost ~200 ns a packet (docs/datapath.md, "The tcx
 * ingress hook").
 */
static __always_inline bool sl_eth_p_vlan(__be16 p)
{
	return p == bpf_htons(SL_ETH_P_8021Q) || p == bpf_htons(SL_ETH_P_8021AD);
}

/*
 * Did the wire carry more tags than the parser takes (SL_VLAN_MAX, XDP's
 * too-many-vlan-tags)? The kernel moves a frame's outer tag into the skb
 * (vlan_present) before tcx, so the frame DATA..DATA_END holds one tag
 * fewer than the one XDP sees: its SL_VLAN_MAX tags are the wire's third.
 */
static __always_inline bool sl_tcx_tags_past_max(struct __sk_buff *skb, void *data,
						 void *data_end)
{
	struct ethhdr *eth = data;
	struct vlan_hdr *vh = (void *)(eth + 1);

	_Static_assert(SL_VLAN_MAX == 2, "two tags in the frame are the most it may hold");
	if (!skb->vlan_present || (void *)(vh + 1) > data_end)
		return false;
	return sl_eth_p_vlan(eth->h_proto) && sl_eth_p_vlan(vh->h_vlan_encapsulated_proto);
}

SEC("tc")
int sluice_tcx(struct __sk_buff *skb)
{
	__u32 want = skb->len < SL_TC_PULL ? skb->len : SL_TC_PULL;
	struct sl_pipe *p = sl_pipe_get();
	void *data, *data_end;

	if (!p)
		return sl_hook_tc_verdict(sl_drop_pkt_h(SL_HOOK_TC, SLUICE_DROP_INTERNAL,
							  skb->len));
	data = SL_SKB_FIELD(skb, data);
	data_end = SL_SKB_FIELD(skb, data_end);
	if (data_end - data < want && !sl_skb_hdrs_linear(data, data_end))
		bpf_skb_pull_data(skb, want);
	data = SL_SKB_FIELD(skb, data);
	data_end = SL_SKB_FIELD(skb, data_end);
	if (sl_tcx_tags_past_max(skb, data, data_end))
		return sl_hook_tc_verdict(sl_drop_pkt_h(SL_HOOK_TC, SLUICE_DROP_VLAN_DEPTH,
							  skb->len));
	return sl_hook_tc_verdict(sl_firewall_hook(skb, SL_HOOK_TC, skb->ingress_ifindex,
						   skb->len, sl_skb_l3(skb), p));
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
