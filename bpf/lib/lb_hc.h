/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * DSR health checks, on the load balancer host's TC egress (sluice_tc).
 *
 * The agent's check connects to the backend's own address, marked
 * SLUICE_LB_HC_MARK | id. Here the packet becomes what a client's packet
 * becomes in DSR mode: its destination is rewritten to the service's VIP
 * (lb_hc[id]; the TC checksum helpers keep a CHECKSUM_PARTIAL packet right)
 * and an outer IPv4 / IPv6 header to the backend goes in front. The
 * backend's decap takes it off and its server, listening on the VIP,
 * answers from the VIP; a reverse entry left here (lb_flowtab[LB_REVERSE],
 * VIP:port -> this host: "write back the backend's address") lets the XDP
 * entry program turn that answer into one from the backend's address, so
 * the socket, and conntrack, see the connection they opened. So a check
 * proves the backend serves the VIP, not just that it is up.
 */
#ifndef SLUICE_BPF_LB_HC_H
#define SLUICE_BPF_LB_HC_H

#include <bpf/bpf_endian.h>

#include "csum.h"
#include "lb_flow_maps.h"
#include "parse.h"

#define SL_LB_HC_ETH		14
#define SL_LB_HC_IPIP		4
#define SL_LB_HC_IPV6		41
#define SL_LB_HC_TCP_CSUM	16	/* offset of the checksum in the TCP header */

/* The reverse entry: VIP:port -> this host's SPORT answers as from the backend. */
static __always_inline void sl_lb_hc_reverse(const struct lb_hc *hc, const struct lb_backend *be,
					     __u32 id, const struct sl_meta *m)
{
	__u32 which = LB_REVERSE;
	void *rev = bpf_map_lookup_elem(&lb_flowtab, &which);
	struct lb_flow_key k;
	struct lb_flow v;

	if (!rev)
		return;
	__builtin_memset(&k, 0, sizeof(k));
	__builtin_memcpy(k.src, hc->vip, 16);
	if (m->family == 4) {
		__u32 a = bpf_htonl(m->src4);

		__builtin_memcpy(k.dst, &a, 4);
	} else {
		__builtin_memcpy(k.dst, m->src6, 16);
	}
	k.sport = hc->port;
	k.dport = bpf_htons(m->sport);
	k.proto = m->proto;
	k.family = m->family;
	__builtin_memset(&v, 0, sizeof(v));
	v.last_seen = bpf_ktime_get_coarse_ns();
	v.backend = id;
	v.be_gen = be->gen;
	v.vport = be->port;
	__builtin_memcpy(v.vip, be->addr, 16);
	bpf_map_update_elem(rev, &k, &v, BPF_ANY);
}

/* A marked check packet (see the top); 0, or -1 when it is left as it is. */
static __noinline int sl_lb_hc_encap(struct __sk_buff *skb, const struct sl_meta *m)
{
	__u32 id = skb->mark & ~SLUICE_LB_HC_MASK, off, csum_off;
	struct lb_backend *be;
	struct lb_hc *hc;
	__u32 dst[4];

	if (!m)
		return -1;
	hc = bpf_map_lookup_elem(&lb_hc, &id);
	be = bpf_map_lookup_elem(&lb_backends, &id);
	if (!hc || !be || !hc->family || hc->family != m->family || m->proto != SL_IPPROTO_TCP ||
	    !m->has_ports || m->l3_off != SL_LB_HC_ETH || bpf_htons(m->dport) != be->port)
		return -1;
	__builtin_memcpy(dst, hc->vip, 16);
	/* the SYN opens it; the entry lives as long as the check's packets go */
	sl_lb_hc_reverse(hc, be, id, m);
	off = SL_LB_HC_ETH + m->l4_off;
	if (off > 4096)
		return -1;
	csum_off = off + SL_LB_HC_TCP_CSUM;
	if (m->family == 4) {
		__u32 old = bpf_htonl(m->dst4);

		if (bpf_l4_csum_replace(skb, csum_off, old, dst[0], BPF_F_PSEUDO_HDR | 4) ||
		    bpf_l3_csum_replace(skb, SL_LB_HC_ETH + 10, old, dst[0], 4) ||
		    bpf_skb_store_bytes(skb, SL_LB_HC_ETH + 16, &dst[0], 4, 0))
			return -1;
	} else {
		__u32 old[4];

		__builtin_memcpy(old, m->dst6, 16);
#pragma unroll
		for (int i = 0; i < 4; i++)
			if (bpf_l4_csum_replace(skb, csum_off, old[i], dst[i],
						BPF_F_PSEUDO_HDR | 4))
				return -1;
		if (bpf_skb_store_bytes(skb, SL_LB_HC_ETH + 24, dst, 16, 0))
			return -1;
	}
	if (m->family == 4) {
		struct iphdr o;

		if (bpf_skb_adjust_room(skb, sizeof(o), BPF_ADJ_ROOM_MAC,
					BPF_F_ADJ_ROOM_ENCAP_L3_IPV4))
			return -1;
		__builtin_memset(&o, 0, sizeof(o));
		o.version = 4;
		o.ihl = 5;
		o.tot_len = bpf_htons(skb->len - SL_LB_HC_ETH);
		o.ttl = 64;
		o.protocol = SL_LB_HC_IPIP;
		o.saddr = bpf_htonl(m->src4);
		__builtin_memcpy(&o.daddr, be->addr, 4);
		o.check = sl_ip4_csum(&o);
		return bpf_skb_store_bytes(skb, SL_LB_HC_ETH, &o, sizeof(o), 0) ? -1 : 0;
	} else {
		struct ipv6hdr o;

		if (bpf_skb_adjust_room(skb, sizeof(o), BPF_ADJ_ROOM_MAC,
					BPF_F_ADJ_ROOM_ENCAP_L3_IPV6))
			return -1;
		__builtin_memset(&o, 0, sizeof(o));
		o.version = 6;
		o.payload_len = bpf_htons(skb->len - SL_LB_HC_ETH - sizeof(o));
		o.nexthdr = SL_LB_HC_IPV6;
		o.hop_limit = 64;
		__builtin_memcpy(&o.saddr, m->src6, 16);
		__builtin_memcpy(&o.daddr, be->addr, 16);
		return bpf_skb_store_bytes(skb, SL_LB_HC_ETH, &o, sizeof(o), 0) ? -1 : 0;
	}
}

#endif /* SLUICE_BPF_LB_HC_H */
