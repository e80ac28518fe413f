/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Load balancer: sending a packet on its way. The next hop comes from
 * bpf_fib_lookup; out through XDP_TX on the receiving interface or
 * XDP_REDIRECT through lb_devmap to another attached one. A next hop whose
 * neighbour is not resolved yet goes to the kernel stack, which resolves
 * it and forwards the (already rewritten) packet: never a drop.
 *
 * The rewrites: NAT (destination or, for replies, source address and port,
 * with incremental L3/L4 checksums) and DSR (IPv4-in-IPv4 or
 * IPv6-in-IPv6 with an outer source that varies per flow).
 *
 * Frames arrive untagged here (lb.h hands VLAN-tagged ones to the stack),
 * so the IP header is at ETH_HLEN.
 */
#ifndef SLUICE_BPF_LB_FWD_H
#define SLUICE_BPF_LB_FWD_H

#include <bpf/bpf_endian.h>

#include "clock.h"
#include "csum.h"
#include "events.h"
#include "lb_maps.h"
#include "parse.h"
#include "pipeline.h"
#include "stats.h"

#define SL_ETH_HLEN		14
#define SL_AF_INET		2
#define SL_AF_INET6		10
#define SL_IPPROTO_IPIP		4
#define SL_IPPROTO_IPV6		41
#define SL_IP4_DF		0x4000

static __always_inline void sl_lb_stat(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&lb_stats, &idx);

	if (c)
		(*c)++;
}

/* Outcome of a next-hop lookup, before the verdict. */
struct sl_lb_hop {
	int rc;			/* BPF_FIB_LKUP_RET_* */
	__u32 ifindex;		/* egress */
	__u16 mtu;		/* rc == FRAG_NEEDED: the egress MTU */
	__u8 smac[6], dmac[6];
};

/*
 * bpf_fib_lookup's parameters, per CPU: 64 bytes the LB stage's calls
 * cannot spare on their 512-byte stack.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bpf_fib_lookup);
} lb_fib SEC(".maps");

/*
 * The next hop towards DST (IPv4 in dst[0]) for a packet of TOT_LEN bytes
 * (IP header included) received on CTX's interface.
 */
static __always_inline void sl_lb_route(struct xdp_md *ctx, __u8 family, const __u32 *src,
					const __u32 *dst, __u8 l4proto, __u16 tot_len,
					struct sl_lb_hop *hop)
{
	__u32 zero = 0;
	struct bpf_fib_lookup *f = bpf_map_lookup_elem(&lb_fib, &zero);

	hop->rc = -1;
	if (!f)
		return;
	__builtin_memset(f, 0, sizeof(*f));
	f->ifindex = ctx->ingress_ifindex;
	f->l4_protocol = l4proto;
	f->tot_len = tot_len;
	if (family == 4) {
		f->family = SL_AF_INET;
		f->ipv4_src = src[0];
		f->ipv4_dst = dst[0];
	} else {
		f->family = SL_AF_INET6;
		__builtin_memcpy(f->ipv6_src, src, 16);
		__builtin_memcpy(f->ipv6_dst, dst, 16);
	}
	hop->rc = bpf_fib_lookup(ctx, f, sizeof(*f), 0);
	hop->ifindex = f->ifindex;
	hop->mtu = f->mtu_result;
	__builtin_memcpy(hop->smac, f->smac, 6);
	__builtin_memcpy(hop->dmac, f->dmac, 6);
}

/* HOP from the cached next hop NH for a packet of TOT_LEN bytes: over its MTU, FRAG_NEEDED. */
static __always_inline void sl_lb_nh_use(const struct lb_nexthop *nh, __u16 tot_len,
					 struct sl_lb_hop *hop)
{
	hop->rc = tot_len > nh->mtu ? BPF_FIB_LKUP_RET_FRAG_NEEDED : BPF_FIB_LKUP_RET_SUCCESS;
	hop->ifindex = nh->ifindex;
	hop->mtu = nh->mtu;
	__builtin_memcpy(hop->smac, nh->smac, 6);
	__builtin_memcpy(hop->dmac, nh->dmac, 6);
}

/*
 * Keep the successful lookup HOP in NH until NOW + SLUICE_LB_NH_TTL_S, with
 * the egress device's MTU (bpf_fib_lookup gives the MTU only to a packet
 * over it). Returns whether it did; GEN: what else NH must match.
 */
static __always_inline bool sl_lb_nh_keep(struct xdp_md *ctx, struct lb_nexthop *nh,
					  const struct sl_lb_hop *hop, __u32 gen, __u64 now)
{
	__u32 mtu = 0;

	if (hop->rc != BPF_FIB_LKUP_RET_SUCCESS || !nh ||
	    bpf_check_mtu(ctx, hop->ifindex, &mtu, 0, 0) < 0 || !mtu || mtu > 0xffff)
		return false;
	nh->expires = now + SLUICE_LB_NH_TTL_S * 1000000000ull;
	nh->ifindex = hop->ifindex;
	nh->gen = gen;
	nh->mtu = mtu;
	__builtin_memcpy(nh->smac, hop->smac, 6);
	__builtin_memcpy(nh->dmac, hop->dmac, 6);
	return true;
}

/*
 * The next hop towards backend BE (lb_backends id ID) for a packet of
 * TOT_LEN bytes from SRC: from lb_nh while it is fresh (NOW, coarse ns) and
 * for this incarnation of the backend, else from bpf_fib_lookup (and kept
 * with the egress device's MTU). A packet over that MTU: FRAG_NEEDED.
 */
static __always_inline void sl_lb_route_be(struct xdp_md *ctx, __u32 id,
					   const struct lb_backend *be, const __u32 *src,
					   __u8 l4proto, __u16 tot_len, __u64 now,
					   struct sl_lb_hop *hop)
{
	struct lb_nexthop *nh = bpf_map_lookup_elem(&lb_nh, &id);
	__u32 dst[4];

	if (nh && nh->gen == be->gen && now < nh->expires) {
		sl_lb_nh_use(nh, tot_len, hop);
		return;
	}
	__builtin_memcpy(dst, be->addr, 16);
	sl_lb_route(ctx, be->family, src, dst, l4proto, tot_len, hop);
	sl_lb_nh_keep(ctx, nh, hop, be->gen, now);
}

/*
 * The next hop of NAT replies towards a client, per CPU (lb_cnh): a slot
 * per client address hash, the slot's client and the interface the replies
 * came in on checked, kept SLUICE_LB_NH_TTL_S as lb_nh. A reply would
 * otherwise pay a bpf_fib_lookup (~120 ns) each. (BPF only: no agent
 * reads it, it starts empty with every program set.)
 */
#define SL_LB_CNH_BITS		12
#define SL_LB_CNH_SLOTS		(1u << SL_LB_CNH_BITS)

struct sl_lb_cnh {
	struct lb_nexthop nh;	/* nh.gen: the interface the replies came in on */
	__u32 addr[4];		/* the client, network order; IPv4 in addr[0] */
	__u32 family;		/* 4 or 6 (an IPv6 address may end in 12 zero bytes too) */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SL_LB_CNH_SLOTS);
	__type(key, __u32);
	__type(value, struct sl_lb_cnh);
} lb_cnh SEC(".maps");

/*
 * The next hop from SRC towards the client DST (family FAMILY) for a reply
 * of TOT_LEN bytes received on CTX's interface: from lb_cnh while fresh,
 * else bpf_fib_lookup, kept there.
 */
static __always_inline void sl_lb_route_client(struct xdp_md *ctx, __u8 family, const __u32 *src,
					       const __u32 *dst, __u8 l4proto, __u16 tot_len,
					       __u64 now, struct sl_lb_hop *hop)
{
	/* the product's top bits: every bit of an IPv4 client's last byte reaches them */
	__u32 slot = ((dst[0] ^ dst[1] ^ dst[2] ^ dst[3]) * 0x9e3779b1u) >> (32 - SL_LB_CNH_BITS);
	__u32 iif = ctx->ingress_ifindex;
	struct sl_lb_cnh *c = bpf_map_lookup_elem(&lb_cnh, &slot);

	if (c && c->nh.gen == iif && now < c->nh.expires && c->family == family &&
	    c->addr[0] == dst[0] && c->addr[1] == dst[1] && c->addr[2] == dst[2] &&
	    c->addr[3] == dst[3]) {
		sl_lb_nh_use(&c->nh, tot_len, hop);
		return;
	}
	sl_lb_route(ctx, family, src, dst, l4proto, tot_len, hop);
	if (c && sl_lb_nh_keep(ctx, &c->nh, hop, iif, now)) {
		__builtin_memcpy(c->addr, dst, 16);
		c->family = family;
	}
}

/* The service of flow K's destination and port (ANY_PORT: the VIP's own entry), or NULL. */
static __always_inline struct lb_service *sl_lb_service_of(const struct lb_flow_key *k,
							  bool any_port)
{
	struct lb_svc_key sk;

	__builtin_memset(&sk, 0, sizeof(sk));
	__builtin_memcpy(sk.vip, k->dst, 16);
	if (!any_port) {
		sk.port = k->dport;
		sk.proto = k->proto;
	}
	sk.family = k->family;
	return bpf_map_lookup_elem(&lb_svc, &sk);
}

/* Is the bit of ADDR set on SIDE of lb_filter (LB_F_VIP, LB_F_BACKEND)? */
static __always_inline bool sl_lb_filtered(__u32 side, const void *addr)
{
	__u32 h = sl_lb_addr_hash(addr), k = side * SLUICE_LB_FILTER_WORDS + (h >> 6);
	__u64 *w = bpf_map_lookup_elem(&lb_filter, &k);

	return w && ((*w >> (h & 63)) & 1);
}

/*
 * sl_lb_filtered for M's destination (DST) or source address, read from the
 * meta: a packet the filter rejects builds no flow key.
 */
static __always_inline bool sl_lb_meta_filtered(__u32 side, const struct sl_meta *m, bool dst)
{
	__u32 a[4] = {};

	if (m->family == 4)
		a[0] = bpf_htonl(dst ? m->dst4 : m->src4);
	else
		__builtin_memcpy(a, dst ? m->dst6 : m->src6, 16);
	return sl_lb_filtered(side, a);
}

static __always_inline int sl_lb_verdict(__u32 v, __u64 bytes)
{
	sl_count_verdict(SL_HOOK_XDP, v, bytes);
	return v == SLUICE_VERDICT_TX ? XDP_TX : XDP_REDIRECT;
}

/*
 * Send the (rewritten) frame at CTX along HOP. A missing neighbour, or an
 * egress interface sluice is not attached to, hands it to the stack with
 * its Ethernet header as it came (addressed to this host).
 */
static __always_inline int sl_lb_send(struct xdp_md *ctx, struct sl_pipe *p,
				      const struct sl_lb_hop *hop)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u64 bytes = data_end - data;
	__u32 oif = hop->ifindex;

	switch (hop->rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		break;
	case BPF_FIB_LKUP_RET_NO_NEIGH:
		sl_lb_stat(SLUICE_LB_STAT_STACK);
		return sl_pass(bytes);
	case BPF_FIB_LKUP_RET_NOT_FWDED:
		/* for this host (a DSR health check's answer): the stack delivers it */
		return sl_pass(bytes);
	case BPF_FIB_LKUP_RET_FWD_DISABLED:
		return sl_drop_ev(SLUICE_DROP_LB_FWD_OFF, bytes, &p->m, SLUICE_EV_NO_RULE,
				  p->ifindex);
	default:
		return sl_drop_ev(SLUICE_DROP_LB_NO_ROUTE, bytes, &p->m, SLUICE_EV_NO_RULE,
				  p->ifindex);
	}
	if ((void *)(eth + 1) > data_end)
		return sl_drop_pkt(SLUICE_DROP_INTERNAL, bytes);
	if (oif != ctx->ingress_ifindex &&
	    bpf_redirect_map(&lb_devmap, oif, XDP_PASS) != XDP_REDIRECT) {
		/* not an interface of ours to send on: the stack forwards it */
		sl_lb_stat(SLUICE_LB_STAT_STACK);
		return sl_pass(bytes);
	}
	/* (the redirect happens after the program: the frame may still change) */
	__builtin_memcpy(eth->h_dest, hop->dmac, 6);
	__builtin_memcpy(eth->h_source, hop->smac, 6);
	return sl_lb_verdict(oif == ctx->ingress_ifindex ? SLUICE_VERDICT_TX :
			     SLUICE_VERDICT_REDIRECT, bytes);
}

/*
 * The flow tables: an IPv4 flow's entry is in lb_flowtab4, under its 16-byte
 * key (a cheaper hash and compare than 40 bytes, a smaller element); other
 * flows' in lb_flowtab[LB_FLOWS], looked up in calls of their own: the
 * compiler merges two look-alike lookups of two maps inlined side by side
 * into one call site that both reach, a generic helper call (an indirect
 * call through a retpoline, ~15 ns; see sl_chunk_entry in classify.h).
 */
static __noinline struct lb_flow *sl_lb_flow6_find(const struct lb_flow_key *k)
{
	__u32 w = LB_FLOWS;
	void *flows = bpf_map_lookup_elem(&lb_flowtab, &w);

	return flows && k ? bpf_map_lookup_elem(flows, k) : NULL;
}

static __noinline long sl_lb_flow6_put(const struct lb_flow_key *k, const struct lb_flow *v,
				       __u64 flags)
{
	__u32 w = LB_FLOWS;
	void *flows = bpf_map_lookup_elem(&lb_flowtab, &w);

	return flows && k && v ? bpf_map_update_elem(flows, k, v, flags) : -1;
}

/*
 * sl_lb_flow4_key's 16 bytes for the datapath, in two 64-bit words built in
 * registers: the hash and compare of the lookup read the key in words, and
 * a word read across the field-by-field writes of the struct stalls on
 * store forwarding. W must be 8-aligned (stack slots are).
 */
static __always_inline void sl_lb_flow4_words(__u64 *w, const struct lb_flow_key *k)
{
	__u32 s, d;

	__builtin_memcpy(&s, k->src, 4);
	__builtin_memcpy(&d, k->dst, 4);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	w[0] = (__u64)d << 32 | s;
	w[1] = (__u64)k->proto << 32 | (__u32)k->dport << 16 | k->sport;
#else
	w[0] = (__u64)s << 32 | d;
	w[1] = (__u64)k->sport << 48 | (__u64)k->dport << 32 | (__u64)k->proto << 24;
#endif
}

static __always_inline struct lb_flow *sl_lb_flow_find(const struct lb_flow_key *k)
{
	__u64 k4[2];
	__u32 zero = 0;
	void *flows;

	_Static_assert(sizeof(k4) == sizeof(struct lb_flow4_key), "lb_flow4_key: 16 bytes");
	if (k->family != 4)
		return sl_lb_flow6_find(k);
	sl_lb_flow4_words(k4, k);
	flows = bpf_map_lookup_elem(&lb_flowtab4, &zero);
	return flows ? bpf_map_lookup_elem(flows, k4) : NULL;
}

/* Write V as the flow entry of K (bpf_map_update_elem's FLAGS); -1: no table. */
static __always_inline long sl_lb_flow_put(const struct lb_flow_key *k, const struct lb_flow *v,
					   __u64 flags)
{
	__u64 k4[2];
	__u32 zero = 0;
	void *flows;

	if (k->family != 4)
		return sl_lb_flow6_put(k, v, flags);
	sl_lb_flow4_words(k4, k);
	flows = bpf_map_lookup_elem(&lb_flowtab4, &zero);
	return flows ? bpf_map_update_elem(flows, k4, v, flags) : -1;
}

/* The L4 header of the untagged frame at DATA (LEN bytes readable), or NULL. */
static __always_inline void *sl_lb_l4(void *data, void *data_end, const struct sl_meta *m,
				      __u32 len)
{
	__u32 off = SL_ETH_HLEN + (__u32)m->l4_off;
	__u8 *l4;

	if (!m->has_l4 || off > SL_ETH_HLEN + 4096)
		return NULL;
	l4 = data + off;
	if ((void *)(l4 + len) > data_end)
		return NULL;
	return l4;
}

/* The checksum field of the TCP/UDP header at L4 (8 readable bytes; TCP 18). */
static __always_inline __u16 *sl_lb_l4_csum(void *l4, void *data_end, __u8 proto)
{
	if (proto == SL_IPPROTO_UDP)
		return (__u16 *)(l4 + 6);
	if ((void *)((__u8 *)l4 + 18) > data_end)
		return NULL;
	return (__u16 *)(l4 + 16);
}

/*
 * Has the IP packet of M (untagged, at CTX) no hop left: TTL or hop limit
 * 1 or 0? The load balancer forwards, so it counts a hop (sl_lb_rewrite);
 * a packet that cannot take one more is not balanced. What would loop
 * through it dies out as through any router.
 */
static __always_inline bool sl_lb_ttl_out(struct xdp_md *ctx, const struct sl_meta *m)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;

	if (m->family == 4) {
		struct iphdr *iph = data + SL_ETH_HLEN;

		return (void *)(iph + 1) > data_end || iph->ttl <= 1;
	}
	struct ipv6hdr *ip6 = data + SL_ETH_HLEN;

	return (void *)(ip6 + 1) > data_end || ip6->hop_limit <= 1;
}

/*
 * Rewrite one endpoint of the TCP/UDP packet at DATA: the destination
 * (DST_SIDE) or the source, to ADDR (family of the packet) and PORT (network
 * order), with the IPv4 header checksum and the L4 checksum updated, and
 * one hop taken off the TTL or hop limit (sl_lb_ttl_out checked there is
 * one). Returns 0, or -1 when the headers are not where the parser saw them.
 */
static __always_inline int sl_lb_rewrite(void *data, void *data_end, const struct sl_meta *m,
					 bool dst_side, const __u8 *addr, __be16 port)
{
	__u8 *l4 = sl_lb_l4(data, data_end, m, 8);
	__u16 *l4sum, *pport;
	__u64 acc = 0;
	__u32 to[4];

	if (!l4)
		return -1;
	l4sum = sl_lb_l4_csum(l4, data_end, m->proto);
	if (!l4sum)
		return -1;
	pport = (__u16 *)(l4 + (dst_side ? 2 : 0));
	__builtin_memcpy(to, addr, 16);
	if (m->family == 4) {
		struct iphdr *iph = data + SL_ETH_HLEN;
		__u32 *a;

		if ((void *)(iph + 1) > data_end)
			return -1;
		a = dst_side ? &iph->daddr : &iph->saddr;
		acc = sl_csum_diff32(0, *a, to[0]);
		/* TTL: the high byte of the header's word it shares with the protocol */
		sl_csum_apply(&iph->check, sl_csum_diff16(acc, bpf_htons(iph->ttl << 8),
							  bpf_htons((iph->ttl - 1) << 8)));
		iph->ttl--;
		*a = to[0];
	} else {
		struct ipv6hdr *ip6 = data + SL_ETH_HLEN;
		__u32 *a;

		if ((void *)(ip6 + 1) > data_end)
			return -1;
		a = dst_side ? (__u32 *)&ip6->daddr : (__u32 *)&ip6->saddr;
		acc = sl_csum_diff128(0, a, to);
		__builtin_memcpy(a, to, 16);
		ip6->hop_limit--;
	}
	acc = sl_csum_diff16(acc, *pport, port);
	*pport = port;
	if (m->proto == SL_IPPROTO_UDP)
		sl_csum_apply_udp(l4sum, acc);
	else
		sl_csum_apply(l4sum, acc);
	return 0;
}

/*
 * The outer source of a DSR packet: the service's prefix with its low
 * ENCAP_BITS bits taken from the flow hash, so that backends can spread
 * flows over receive queues by the outer header.
 */
static __always_inline void sl_lb_encap_src(const struct lb_service *svc, __u8 family,
					    __u32 hash, __u32 *out)
{
	__u32 mask = svc->encap_bits >= 32 ? ~0u : (1u << svc->encap_bits) - 1;

	__builtin_memcpy(out, svc->encap_src, 16);
	/* the varying bits are the last ones of the address: IPv4 sits in word 0 */
	if (family == 4)
		out[0] = bpf_htonl((bpf_ntohl(out[0]) & ~mask) | (hash & mask));
	else
		out[3] = bpf_htonl((bpf_ntohl(out[3]) & ~mask) | (hash & mask));
}

/*
 * Put an outer IPv4 / IPv6 header in front of the IP packet (DSR). OUTER:
 * source and destination (network order); IPLEN: the inner packet's
 * length. Returns 0 or -1 (no headroom: the packet is unchanged).
 */
static __always_inline int sl_lb_encap(struct xdp_md *ctx, __u8 family, const __u32 *src,
				       const __u32 *dst, __u16 iplen, __u32 hash)
{
	int room = family == 4 ? SL_IP4_HLEN : SL_IP6_HLEN;
	void *data, *data_end;
	struct ethhdr *eth, *old;

	if (bpf_xdp_adjust_head(ctx, -room))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	old = data + room;
	if ((void *)(old + 1) > data_end)
		return -1;
	__builtin_memcpy(eth->h_dest, old->h_dest, 6);
	__builtin_memcpy(eth->h_source, old->h_source, 6);
	eth->h_proto = old->h_proto;
	if (family == 4) {
		struct iphdr *o = (void *)(eth + 1), *in = (void *)(o + 1);
		__u32 *w = (__u32 *)o, w0, w2;

		if ((void *)(in + 1) > data_end)
			return -1;
		/*
		 * Built in registers, written in whole words, the checksum summed
		 * from the same registers: reading back a header just written in
		 * bytes and bit fields stalls on store forwarding (~8 ns a packet).
		 * Version 4, IHL 5, the inner TOS, the length; id and fragment 0;
		 * TTL 64, IP-in-IP, checksum 0 until computed.
		 */
		w0 = bpf_htonl(0x45000000u | (__u32)in->tos << 16 | (__u16)(iplen + SL_IP4_HLEN));
		w2 = bpf_htonl(64u << 24 | SL_IPPROTO_IPIP << 16);
		w[0] = w0;
		w[1] = 0;
		w[2] = w2;
		w[3] = src[0];
		w[4] = dst[0];
		o->check = ~sl_csum_fold((__u64)w0 + w2 + src[0] + dst[0]);
	} else {
		struct ipv6hdr *o = (void *)(eth + 1), *in = (void *)(o + 1);

		if ((void *)(in + 1) > data_end)
			return -1;
		/* version 6, the inner traffic class, a flow label from the flow hash */
		*(__be32 *)o = bpf_htonl(6u << 28 | (bpf_ntohl(*(__be32 *)in) & 0x0ff00000u) |
					 (hash & 0xfffff));
		o->payload_len = bpf_htons(iplen);
		o->nexthdr = SL_IPPROTO_IPV6;
		o->hop_limit = 64;
		__builtin_memcpy(&o->saddr, src, 16);
		__builtin_memcpy(&o->daddr, dst, 16);
	}
	return 0;
}

#endif /* SLUICE_BPF_LB_FWD_H */
