// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluice TC egress: conntrack for traffic leaving the host.
 *
 *   skb -> parse (the XDP parser, on the linear data; pulled once if the
 *          headers are not all linear) -> conntrack: a packet of a tracked
 *          connection updates it (e.g. the SYN-ACK of a local server), one
 *          that opens a connection (TCP SYN, UDP, ICMP echo request) creates
 *          it with the local side as originator -> TC_ACT_OK, always.
 *
 * Egress is not filtered: the rules apply to XDP ingress only. This program
 * is what lets the replies of locally opened connections through a
 * `default: deny` firewall. It also sends the agent's DSR health checks
 * encapsulated to the VIP (bpf/lib/lb_hc.h).
 *
 * ct_start is run once with BPF_PROG_TEST_RUN by every agent that loads this
 * object: it starts the conntrack sweepers, or moves running ones to this
 * object's callback (bpf/lib/conntrack.h).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "lib/conntrack.h"
#include "lib/lb_hc.h"
#include "lib/skb_parse.h"

/*
 * Conntrack as BPF-to-BPF calls, as in the XDP firewall: inlined into the
 * parser's paths, the two table lookups took the verifier past its
 * 1M-instruction budget.
 */
static __noinline int sl_tc_ct(struct __sk_buff *skb, struct sl_meta *m,
			       struct sl_ct_config *ctc, struct sl_ct_pkt *p)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;

	return sl_ct_track(data, data_end, m, ctc, p, skb->len);
}

static __noinline void sl_tc_ct_create(struct sl_ct_pkt *p, struct sl_ct_config *ctc,
				       __u64 bytes)
{
	sl_ct_create(p, ctc, bytes);
}

SEC("tc")
int sluice_tc(struct __sk_buff *skb)
{
	struct sl_ct_config *ctc;
	struct sl_ct_pkt ctp;
	struct sl_meta m;
	__u32 key = 0;

	ctc = bpf_map_lookup_elem(&ct_cfg, &key);
	if (!ctc || !ctc->stateful)
		return SL_TC_ACT_OK;

	if (sl_skb_parse(skb, &m) != SL_PARSE_IP)
		return SL_TC_ACT_OK;

	if (sl_tc_ct(skb, &m, ctc, &ctp) == SL_CT_MISS && ctp.start)
		sl_tc_ct_create(&ctp, ctc, skb->len);
	/* a DSR health check of the agent's: on its way as client traffic goes */
	if ((skb->mark & SLUICE_LB_HC_MASK) == SLUICE_LB_HC_MARK)
		sl_lb_hc_encap(skb, &m);
	return SL_TC_ACT_OK;
}

SEC("tc")
int ct_start(struct __sk_buff *skb)
{
	return (int)sl_ct_sweep_start();
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
