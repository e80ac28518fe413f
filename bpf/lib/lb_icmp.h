/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Load balancer and ICMP.
 *
 * sl_lb_icmp: an ICMP / ICMPv6 error sent to a VIP about a packet of a
 * balanced flow (the packet it quotes went from VIP:vport to the client: a
 * reply) goes to that flow's backend, so that path MTU discovery and
 * unreachable errors reach the host that holds the connection. NAT: the
 * destination and the quoted source become the backend's, checksums
 * updated (outer IPv4 header, quoted IPv4 header, ICMP); DSR: the error is
 * encapsulated as it is, like the flow's packets.
 *
 * sl_lb_too_big: a DSR packet that the outer header would take past the
 * egress MTU is answered with ICMP fragmentation-needed (IPv4, DF set) or
 * packet-too-big (IPv6) carrying the MTU left for the inner packet, sent
 * back out of the receiving interface from the VIP; an IPv4 packet without
 * DF is dropped as lb-too-big (fragmenting the outer packet would give the
 * backend fragments it cannot decapsulate).
 */
#ifndef SLUICE_BPF_LB_ICMP_H
#define SLUICE_BPF_LB_ICMP_H

#include "lb_fwd.h"

#define SL_ICMP_FRAG_NEEDED	4	/* code of SL_ICMP_UNREACH */
#define SL_LB_QUOTE4		84	/* IPv4: header (20..60) and the rest of 84 bytes */
#define SL_LB_QUOTE6		104	/* IPv6: header and 64 bytes */

static __always_inline bool sl_lb_icmp_err(__u8 family, __u8 type)
{
	if (family == 4)
		return type == 3 || type == 11 || type == 12;
	return type >= 1 && type <= 4;
}

static __always_inline bool sl_lb_addr6_eq(const void *a, const void *b)
{
	const __u32 *x = a, *y = b;

	return !((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]));
}

/* The backend of the established flow K (of service SVC), or NULL. */
static __always_inline struct lb_backend *sl_lb_flow_backend(const struct lb_config *cfg,
							     const struct lb_flow_key *k)
{
	struct lb_flow *f = sl_lb_flow_find(k);
	struct lb_backend *be;
	__u32 id;

	if (!f)
		return NULL;
	(void)cfg;
	id = f->backend;
	be = bpf_map_lookup_elem(&lb_backends, &id);
	if (!be || !(be->flags & LB_BE_F_LIVE) || be->gen != f->be_gen)
		return NULL;
	return be;
}

static __noinline int sl_lb_icmp(struct xdp_md *ctx, struct sl_pipe *p,
				 const struct lb_config *cfg)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	__u8 *icmp, *ql4;
	struct lb_service *svc;
	struct lb_backend *be;
	struct lb_flow_key k;
	struct sl_lb_hop hop;
	__u32 src[4], dst[4], hash;
	__u64 acc;

	if (!p)
		return XDP_ABORTED;
	icmp = sl_lb_l4(data, data_end, &p->m, 8);
	if (!icmp || !sl_lb_icmp_err(p->m.family, icmp[0]))
		return sl_pass(p->bytes);
	__builtin_memset(&k, 0, sizeof(k));
	/* the quoted packet went VIP:vport -> client:cport; its flow is the reverse */
	if (p->m.family == 4) {
		struct iphdr *q = (void *)(icmp + 8);
		__u32 hl;

		if ((void *)(q + 1) > data_end || q->version != 4)
			return sl_pass(p->bytes);
		hl = q->ihl * 4;
		if (hl < sizeof(*q))
			return sl_pass(p->bytes);
		ql4 = (__u8 *)q + hl;
		if ((void *)(ql4 + 4) > data_end || q->saddr != bpf_htonl(p->m.dst4))
			return sl_pass(p->bytes);
		__builtin_memcpy(k.src, &q->daddr, 4);
		__builtin_memcpy(k.dst, &q->saddr, 4);
		k.proto = q->protocol;
	} else {
		struct ipv6hdr *q = (void *)(icmp + 8);

		if ((void *)(q + 1) > data_end || q->version != 6)
			return sl_pass(p->bytes);
		ql4 = (__u8 *)(q + 1);
		if ((void *)(ql4 + 4) > data_end || !sl_lb_addr6_eq(&q->saddr, p->m.dst6))
			return sl_pass(p->bytes);
		__builtin_memcpy(k.src, &q->daddr, 16);
		__builtin_memcpy(k.dst, &q->saddr, 16);
		k.proto = q->nexthdr;
	}
	if (k.proto != SL_IPPROTO_TCP && k.proto != SL_IPPROTO_UDP)
		return sl_pass(p->bytes);
	__builtin_memcpy(&k.dport, ql4, 2);
	__builtin_memcpy(&k.sport, ql4 + 2, 2);
	k.family = p->m.family;
	svc = sl_lb_service_of(&k, false);
	be = svc ? sl_lb_flow_backend(cfg, &k) : NULL;
	if (!svc || !be)
		return sl_pass(p->bytes);
	sl_lb_stat(SLUICE_LB_STAT_ICMP);
	__builtin_memcpy(dst, be->addr, 16);
	if (svc->flags & LB_SVC_F_DSR) {
		hash = sl_lb_flow_hash((const __u32 *)&k);
		sl_lb_encap_src(svc, k.family, hash, src);
		sl_lb_route(ctx, k.family, src, dst, k.family == 4 ? SL_IPPROTO_IPIP :
			    SL_IPPROTO_IPV6, p->m.ip_len + (k.family == 4 ? SL_IP4_HLEN :
							      SL_IP6_HLEN), &hop);
		if (sl_lb_encap(ctx, k.family, src, dst, p->m.ip_len, hash))
			return sl_drop_ev(SLUICE_DROP_LB_ENCAP, p->bytes, &p->m,
					  SLUICE_EV_NO_RULE, p->ifindex);
		return sl_lb_send(ctx, p, &hop);
	}
	/* NAT: the outer destination and the quoted source become the backend's */
	if (p->m.family == 4) {
		struct iphdr *o = data + SL_ETH_HLEN, *q = (void *)(icmp + 8);
		__u16 *qport = (__u16 *)ql4, qold;

		if ((void *)(o + 1) > data_end || (void *)(q + 1) > data_end ||
		    (void *)(qport + 1) > data_end)
			return sl_drop_pkt(SLUICE_DROP_INTERNAL, p->bytes);
		sl_csum_apply(&o->check, sl_csum_diff32(0, o->daddr, dst[0]));
		o->daddr = dst[0];
		qold = q->check;
		sl_csum_apply(&q->check, sl_csum_diff32(0, q->saddr, dst[0]));
		acc = sl_csum_diff32(0, q->saddr, dst[0]);
		acc = sl_csum_diff16(acc, qold, q->check);
		acc = sl_csum_diff16(acc, *qport, be->port);
		q->saddr = dst[0];
		*qport = be->port;
		sl_csum_apply((__u16 *)(icmp + 2), acc);
	} else {
		struct ipv6hdr *o = data + SL_ETH_HLEN, *q = (void *)(icmp + 8);
		__u16 *qport = (__u16 *)ql4;

		if ((void *)(o + 1) > data_end || (void *)(q + 1) > data_end ||
		    (void *)(qport + 1) > data_end)
			return sl_drop_pkt(SLUICE_DROP_INTERNAL, p->bytes);
		/* ICMPv6 covers the pseudo-header (outer destination) too */
		acc = sl_csum_diff128(0, (__u32 *)&o->daddr, dst);
		acc = sl_csum_diff128(acc, (__u32 *)&q->saddr, dst);
		acc = sl_csum_diff16(acc, *qport, be->port);
		__builtin_memcpy(&o->daddr, dst, 16);
		__builtin_memcpy(&q->saddr, dst, 16);
		*qport = be->port;
		sl_csum_apply((__u16 *)(icmp + 2), acc);
	}
	/* the outer source (the router that sent the error) is unchanged */
	__builtin_memset(src, 0, sizeof(src));
	if (p->m.family == 4)
		src[0] = bpf_htonl(p->m.src4);
	else
		__builtin_memcpy(src, p->m.src6, 16);
	sl_lb_route(ctx, k.family, src, dst, p->m.proto, p->m.ip_len, &hop);
	return sl_lb_send(ctx, p, &hop);
}

/*
 * Make room for an IP and an ICMP header (ROOM bytes) in front of the first
 * QUOTE bytes of the IP packet at CTX, its Ethernet header turned back to
 * the sender. Returns 0, or -1 with the packet unusable.
 */
static __always_inline int sl_lb_icmp_room(struct xdp_md *ctx, __u32 room, __u32 quote)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u8 mac[12];

	if (data + SL_ETH_HLEN + quote > data_end)
		return -1;
	__builtin_memcpy(mac, eth->h_source, 6);
	__builtin_memcpy(mac + 6, eth->h_dest, 6);
	if (bpf_xdp_adjust_tail(ctx, (int)(SL_ETH_HLEN + quote) - (int)(data_end - data)) ||
	    bpf_xdp_adjust_head(ctx, -(int)room))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return -1;
	/* back where it came from: the client's MAC is the old source */
	__builtin_memcpy(eth->h_dest, mac, 6);
	__builtin_memcpy(eth->h_source, mac + 6, 6);
	return 0;
}

/* IPv4 with DF: fragmentation needed, from the VIP, offering MTU. */
static __always_inline int sl_lb_too_big4(struct xdp_md *ctx, struct sl_pipe *p, __u32 mtu)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + SL_ETH_HLEN;
	__be32 saddr, daddr;
	struct ethhdr *eth;
	__u8 *icmp;
	__u64 acc;

	if ((void *)(ip + 1) > data_end)
		return -1;
	if (!(ip->frag_off & bpf_htons(SL_IP4_DF)))
		return -1;
	saddr = ip->saddr;
	daddr = ip->daddr;
	if (sl_lb_icmp_room(ctx, SL_IP4_HLEN + 8, SL_LB_QUOTE4))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	ip = (void *)(eth + 1);
	icmp = (void *)(ip + 1);
	if ((void *)(icmp + 8 + SL_LB_QUOTE4) > data_end)
		return -1;
	eth->h_proto = bpf_htons(SL_ETH_P_IP);
	__builtin_memset(ip, 0, sizeof(*ip));
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = bpf_htons(SL_IP4_HLEN + 8 + SL_LB_QUOTE4);
	ip->ttl = 64;
	ip->protocol = SL_IPPROTO_ICMP;
	ip->saddr = daddr;
	ip->daddr = saddr;
	ip->check = sl_ip4_csum(ip);
	icmp[0] = SL_ICMP_UNREACH;
	icmp[1] = SL_ICMP_FRAG_NEEDED;
	*(__u16 *)(icmp + 2) = 0;
	*(__u16 *)(icmp + 4) = 0;
	*(__u16 *)(icmp + 6) = bpf_htons(mtu > 0xffff ? 0xffff : mtu);
	acc = (__u32)bpf_csum_diff(NULL, 0, (void *)icmp, 8 + SL_LB_QUOTE4, 0);
	*(__u16 *)(icmp + 2) = ~sl_csum_fold(acc);
	return 0;
}

/* IPv6: packet too big, from the VIP, offering MTU. */
static __always_inline int sl_lb_too_big6(struct xdp_md *ctx, struct sl_pipe *p, __u32 mtu)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ipv6hdr *ip6 = data + SL_ETH_HLEN;
	__u32 saddr[4], daddr[4], plen = 8 + SL_LB_QUOTE6;
	struct ethhdr *eth;
	__u8 *icmp;
	__u64 acc;

	if ((void *)(ip6 + 1) > data_end)
		return -1;
	__builtin_memcpy(saddr, &ip6->saddr, 16);
	__builtin_memcpy(daddr, &ip6->daddr, 16);
	if (sl_lb_icmp_room(ctx, SL_IP6_HLEN + 8, SL_LB_QUOTE6))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	ip6 = (void *)(eth + 1);
	icmp = (void *)(ip6 + 1);
	if ((void *)(icmp + 8 + SL_LB_QUOTE6) > data_end)
		return -1;
	eth->h_proto = bpf_htons(SL_ETH_P_IPV6);
	*(__be32 *)ip6 = bpf_htonl(6u << 28);
	ip6->payload_len = bpf_htons(plen);
	ip6->nexthdr = SL_IPPROTO_ICMPV6;
	ip6->hop_limit = 64;
	__builtin_memcpy(&ip6->saddr, daddr, 16);
	__builtin_memcpy(&ip6->daddr, saddr, 16);
	icmp[0] = SL_ICMP6_PKT_TOOBIG;
	icmp[1] = 0;
	*(__u16 *)(icmp + 2) = 0;
	*(__be32 *)(icmp + 4) = bpf_htonl(mtu);
	acc = (__u32)bpf_csum_diff(NULL, 0, (void *)icmp, plen, 0);
	/* the pseudo-header: addresses, upper-layer length, next header */
	acc = sl_csum_words((const __u16 *)saddr, 8, acc);
	acc = sl_csum_words((const __u16 *)daddr, 8, acc);
	acc += bpf_htons(plen) + bpf_htons(SL_IPPROTO_ICMPV6);
	*(__u16 *)(icmp + 2) = ~sl_csum_fold(acc);
	return 0;
}

/*
 * Answer the packet at CTX, too big for its route (by the DSR outer header
 * or a smaller egress MTU), with an ICMP error offering MTU (see the top of
 * this file); or drop it as lb-too-big.
 */
static __noinline int sl_lb_too_big(struct xdp_md *ctx, struct sl_pipe *p, __u32 mtu)
{
	__u64 bytes;
	int err;

	if (!p)
		return XDP_ABORTED;
	bytes = p->bytes;
	err = p->m.family == 4 ? sl_lb_too_big4(ctx, p, mtu) : sl_lb_too_big6(ctx, p, mtu);
	if (err)
		return sl_drop_ev(SLUICE_DROP_LB_TOO_BIG, bytes, &p->m, SLUICE_EV_NO_RULE,
				  p->ifindex);
	sl_lb_stat(SLUICE_LB_STAT_TOO_BIG);
	return sl_lb_verdict(SLUICE_VERDICT_TX, (long)ctx->data_end - (long)ctx->data);
}

#endif /* SLUICE_BPF_LB_ICMP_H */
