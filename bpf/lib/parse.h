/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing on data/data_end cursors, shared by XDP and TC programs.
 *
 * sl_parse() walks Ethernet, up to two VLAN tags, IPv4 (with options) or
 * IPv6 (with extension headers, bounded by SLUICE_IPV6_EXT_MAX), and the
 * TCP/UDP/ICMP/ICMPv6 header, and fills struct sl_meta with what the
 * classifier needs. Anything that does not hold together is a named drop:
 * a header past the end of the packet, or past the length the IP header
 * itself claims, is never read. sl_parse_fast4() takes the common frame
 * (untagged IPv4 TCP/UDP without options) with fewer tests, and leaves
 * every other frame, malformed ones included, to sl_parse_len().
 */
#ifndef SLUICE_BPF_PARSE_H
#define SLUICE_BPF_PARSE_H

#include <bpf/bpf_endian.h>

#include "sluice_abi.h"

#define SL_ETH_P_IP		0x0800
#define SL_ETH_P_IPV6		0x86DD
#define SL_ETH_P_8021Q		0x8100
#define SL_ETH_P_8021AD		0x88A8
#define SL_VLAN_MAX		2
#define SL_IP4_HLEN		20	/* the IPv4 header without options */
#define SL_IP6_HLEN		40

#define SL_IPPROTO_HOPOPTS	0
#define SL_IPPROTO_ICMP		1
#define SL_IPPROTO_TCP		6
#define SL_IPPROTO_UDP		17
#define SL_IPPROTO_ROUTING	43
#define SL_IPPROTO_FRAGMENT	44
#define SL_IPPROTO_AH		51
#define SL_IPPROTO_ICMPV6	58
#define SL_IPPROTO_DSTOPTS	60
#define SL_IPPROTO_MH		135
#define SL_IPPROTO_UDPLITE	136
#define SL_IPPROTO_HIP		139
#define SL_IPPROTO_SHIM6	140
#define SL_IPPROTO_EXP1		253
#define SL_IPPROTO_EXP2		254

#define SL_IP_FRAG_OFFSET	0x1fff	/* IPv4 frag_off: the offset, in 8-octet units */
#define SL_IP_MAX_LEN		0xffff	/* the most an IPv4 total length can say */
#define SL_TCP_OFF_FLAGS	13	/* TCP header byte of FIN, SYN, RST, PSH, ACK, ... */

/* ICMP and ICMPv6 messages all have at least type, code, checksum and 4 more octets. */
#define SL_ICMP_HLEN		8

enum sl_parse_res {
	SL_PARSE_IP,		/* IPv4 or IPv6: classify */
	SL_PARSE_NONIP,		/* ARP, LLDP, ...: always passes */
	SL_PARSE_DROP,		/* malformed: meta.reason says why */
};

struct sl_meta {
	__u8 family;		/* 4 or 6 */
	__u8 proto;		/* upper-layer protocol number */
	__u8 has_ports;		/* TCP/UDP and not a non-first fragment */
	__u8 reason;		/* enum sluice_drop_reason when SL_PARSE_DROP */
	__u16 sport, dport;	/* host order */
	__u32 src4, dst4;	/* host order */
	__u8 src6[16], dst6[16];
	/* for conntrack, which re-reads the L4 header (ICMP errors: what they quote) */
	__u16 l3_off;		/* IP header, from the start of the frame */
	__u16 l4_off;		/* L4 header, from the IP header (when has_l4) */
	__u32 ip_len;		/* IP packet length as its header says (or the frame: BIG TCP) */
	__u8 has_l4;		/* the L4 header was parsed (not a non-first fragment) */
	__u8 tcp_flags;		/* TCP: byte 13 of the header (FIN, SYN, RST, ACK, ...) */
};

static __always_inline int sl_parse_drop(struct sl_meta *m, enum sluice_drop_reason why)
{
	m->reason = why;
	return SL_PARSE_DROP;
}

static __always_inline bool sl_ip6_is_ext(__u8 nh)
{
	switch (nh) {
	case SL_IPPROTO_HOPOPTS:
	case SL_IPPROTO_ROUTING:
	case SL_IPPROTO_FRAGMENT:
	case SL_IPPROTO_AH:
	case SL_IPPROTO_DSTOPTS:
	case SL_IPPROTO_MH:
	case SL_IPPROTO_HIP:
	case SL_IPPROTO_SHIM6:
	case SL_IPPROTO_EXP1:
	case SL_IPPROTO_EXP2:
		return true;
	}
	return false;
}

/*
 * The L4 header at L4 (OFF bytes after the IP header, IPLEN bytes of IP
 * packet as the IP header says). Only called when the packet carries the
 * start of the L4 header, i.e. it is not a non-first fragment.
 */
static __always_inline int sl_parse_l4(void *l4, void *data_end, __u32 off, __u32 iplen,
				       struct sl_meta *m)
{
	switch (m->proto) {
	case SL_IPPROTO_TCP: {
		struct tcphdr *th = l4;
		__u32 hlen;

		if ((void *)(th + 1) > data_end || off + sizeof(*th) > iplen)
			return sl_parse_drop(m, SLUICE_DROP_TRUNC_TCP);
		hlen = th->doff * 4;
		if (hlen < sizeof(*th))
			return sl_parse_drop(m, SLUICE_DROP_BAD_TCP_DOFF);
		if (l4 + hlen > data_end || off + hlen > iplen)
			return sl_parse_drop(m, SLUICE_DROP_TRUNC_TCP);
		m->sport = bpf_ntohs(th->source);
		m->dport = bpf_ntohs(th->dest);
		m->has_ports = 1;
		m->tcp_flags = ((__u8 *)th)[SL_TCP_OFF_FLAGS];
		break;
	}
	case SL_IPPROTO_UDP: {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) > data_end || off + sizeof(*uh) > iplen)
			return sl_parse_drop(m, SLUICE_DROP_TRUNC_UDP);
		m->sport = bpf_ntohs(uh->source);
		m->dport = bpf_ntohs(uh->dest);
		m->has_ports = 1;
		break;
	}
	case SL_IPPROTO_ICMP:
	case SL_IPPROTO_ICMPV6:
		if (l4 + SL_ICMP_HLEN > data_end || off + SL_ICMP_HLEN > iplen)
			return sl_parse_drop(m, SLUICE_DROP_TRUNC_ICMP);
		break;
	}
	m->has_l4 = 1;
	m->l4_off = off;
	m->ip_len = iplen;
	return SL_PARSE_IP;
}

/* AVAIL: the frame's bytes from IP, where headers may lie past data_end (a tc skb's pages) */
static __always_inline int sl_parse_ip4(void *ip, void *data_end, __u32 avail, struct sl_meta *m)
{
	struct iphdr *iph = ip;
	__u32 hlen, totlen;

	if ((void *)(iph + 1) > data_end)
		return sl_parse_drop(m, SLUICE_DROP_TRUNC_IP4);
	if (iph->version != 4)
		return sl_parse_drop(m, SLUICE_DROP_BAD_IP4_VER);
	hlen = iph->ihl * 4;
	/* An IHL past the end of the packet is a bad IHL, not a short packet:
	 * the fixed header is all there, the length field lies. */
	if (hlen < sizeof(*iph) || ip + hlen > data_end)
		return sl_parse_drop(m, SLUICE_DROP_BAD_IP4_IHL);
	/* Ethernet may pad a short frame, so only a total length beyond the
	 * frame is wrong; headers are read within the total length. */
	totlen = bpf_ntohs(iph->tot_len);
	/* A GSO packet longer than a total length can say (IPv4 BIG TCP, tc
	 * only) has a total length of 0: the frame decides, as in the
	 * kernel's iph_totlen(). Anything shorter saying 0 is malformed. */
	if (!totlen && avail > SL_IP_MAX_LEN)
		totlen = avail;
	if (totlen < hlen || totlen > avail)
		return sl_parse_drop(m, SLUICE_DROP_BAD_IP4_LEN);

	m->family = 4;
	m->proto = iph->protocol;
	m->src4 = bpf_ntohl(iph->saddr);
	m->dst4 = bpf_ntohl(iph->daddr);
	/* A non-first fragment carries no L4 header: classify on addresses
	 * and protocol only. */
	if (bpf_ntohs(iph->frag_off) & SL_IP_FRAG_OFFSET)
		return SL_PARSE_IP;
	return sl_parse_l4(ip + hlen, data_end, hlen, totlen, m);
}

/* Is A (16 bytes, network order) an IPv4-mapped address, ::ffff:a.b.c.d? */
static __always_inline bool sl_ip6_v4mapped(const __u8 *a)
{
	const __u32 *w = (const __u32 *)a;

	return !(w[0] | w[1]) && w[2] == bpf_htonl(0xffff);
}

static __always_inline int sl_parse_ip6(void *ip, void *data_end, __u32 avail, struct sl_meta *m)
{
	struct ipv6hdr *ip6 = ip;
	__u32 off = sizeof(*ip6), iplen, plen;
	__u8 nh;

	if ((void *)(ip6 + 1) > data_end)
		return sl_parse_drop(m, SLUICE_DROP_TRUNC_IP6);
	if (ip6->version != 6)
		return sl_parse_drop(m, SLUICE_DROP_BAD_IP6_VER);
	plen = bpf_ntohs(ip6->payload_len);
	/* Payload length 0 is a jumbogram (or nonsense): the frame decides. */
	iplen = plen ? plen + sizeof(*ip6) : avail;
	if (iplen > avail)
		return sl_parse_drop(m, SLUICE_DROP_TRUNC_IP6);

	m->family = 6;
	__builtin_memcpy(m->src6, &ip6->saddr, 16);
	__builtin_memcpy(m->dst6, &ip6->daddr, 16);
	/*
	 * An IPv4-mapped address (::ffff:0:0/96) never travels on the wire
	 * (RFC 4291 2.5.5.2), yet Linux hands a UDP datagram from
	 * ::ffff:192.0.2.99 to a dual-stack socket as from 192.0.2.99, which
	 * IPv4 rules would have denied and IPv6 rules never name.
	 */
	if (sl_ip6_v4mapped(m->src6) || sl_ip6_v4mapped(m->dst6))
		return sl_parse_drop(m, SLUICE_DROP_IP6_V4MAPPED);
	nh = ip6->nexthdr;

#pragma unroll
	for (int i = 0; i < SLUICE_IPV6_EXT_MAX; i++) {
		__u8 *eh = ip + off;
		__u32 elen;

		if (!sl_ip6_is_ext(nh))
			break;
		/* Every extension header is at least 8 octets long. */
		if ((void *)(eh + 8) > data_end || off + 8 > iplen)
			return sl_parse_drop(m, SLUICE_DROP_TRUNC_IP6_EXT);
		if (nh == SL_IPPROTO_FRAGMENT) {
			__u16 frag = (eh[2] << 8 | eh[3]) & 0xfff8;

			nh = eh[0];
			off += 8;
			if (frag) {
				/* Non-first fragment: what follows is payload. */
				m->proto = nh;
				return SL_PARSE_IP;
			}
			continue;
		}
		if (nh == SL_IPPROTO_AH)
			elen = (eh[1] + 2) * 4;
		else
			elen = (eh[1] + 1) * 8;
		if ((void *)(eh + elen) > data_end || off + elen > iplen)
			return sl_parse_drop(m, SLUICE_DROP_TRUNC_IP6_EXT);
		nh = eh[0];
		off += elen;
	}
	if (sl_ip6_is_ext(nh))
		return sl_parse_drop(m, SLUICE_DROP_IP6_EXT_DEPTH);
	m->proto = nh;
	return sl_parse_l4(ip + off, data_end, off, iplen, m);
}

/*
 * The frame most traffic is, parsed with fewer tests than sl_parse_len:
 * untagged Ethernet, IPv4 without options (first octet 0x45), not a
 * non-first fragment, a total length within DATA_END (a tc packet longer
 * than its linear part is sl_parse_len's), and a UDP header, or a TCP one
 * with its options, within the total length. True: M
 * holds what sl_parse_len would find for it (SL_PARSE_IP), every field
 * written but src6 and dst6, which nothing reads for family 4. False: the
 * frame is not one of these (M partly written); sl_parse_len parses it,
 * so a malformed frame gets its drop reason there and nowhere else.
 */
static __always_inline bool sl_parse_fast4(void *data, void *data_end, struct sl_meta *m)
{
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);
	__u8 *l4 = (void *)(iph + 1);
	__u32 hlen = sizeof(struct udphdr);

	if (l4 + sizeof(struct udphdr) > (__u8 *)data_end)
		return false;
	if (eth->h_proto != bpf_htons(SL_ETH_P_IP) || *(__u8 *)iph != 0x45 ||
	    (iph->frag_off & bpf_htons(SL_IP_FRAG_OFFSET)))
		return false;
	m->ip_len = bpf_ntohs(iph->tot_len);
	if (m->ip_len > data_end - (void *)iph)
		return false;
	m->tcp_flags = 0;
	if (iph->protocol == SL_IPPROTO_TCP) {
		struct tcphdr *th = (void *)l4;

		if ((void *)(th + 1) > data_end)
			return false;
		hlen = th->doff * 4;
		/* its options lie within the total length, so within DATA_END */
		if (hlen < sizeof(*th))
			return false;
		m->tcp_flags = l4[SL_TCP_OFF_FLAGS];
	} else if (iph->protocol != SL_IPPROTO_UDP) {
		return false;
	}
	if (sizeof(*iph) + hlen > m->ip_len)
		return false;
	/* TCP and UDP have their ports at the same place */
	m->family = 4;
	m->proto = iph->protocol;
	m->has_ports = 1;
	m->reason = 0;
	m->sport = bpf_ntohs(((struct udphdr *)l4)->source);
	m->dport = bpf_ntohs(((struct udphdr *)l4)->dest);
	m->src4 = bpf_ntohl(iph->saddr);
	m->dst4 = bpf_ntohl(iph->daddr);
	m->l3_off = sizeof(*eth);
	m->l4_off = sizeof(*iph);
	m->has_l4 = 1;
	return true;
}

/*
 * The packet from its network header POS on, of ethertype TYPE (host
 * order), in a frame from DATA of LEN bytes (sl_parse_len).
 */
static __always_inline int sl_parse_net(void *data, void *pos, void *data_end, __u64 len,
					__u16 type, struct sl_meta *m)
{
	__u32 avail;

	m->l3_off = pos - data;
	if (len < data_end - data)
		len = data_end - data;
	avail = len - (pos - data);
	if (type == SL_ETH_P_IP)
		return sl_parse_ip4(pos, data_end, avail, m);
	if (type == SL_ETH_P_IPV6)
		return sl_parse_ip6(pos, data_end, avail, m);
	return SL_PARSE_NONIP;
}

/*
 * The Ethernet header and up to SL_VLAN_MAX tags of the frame DATA..DATA_END:
 * SL_PARSE_IP with *POS at the network header and *TYPE its ethertype (host
 * order), which may still be no IP; else SL_PARSE_DROP.
 */
static __always_inline int sl_parse_l2(void *data, void *data_end, void **pos, __u16 *type,
				       struct sl_meta *m)
{
	struct ethhdr *eth = data;
	void *p = eth + 1;
	__u16 t;

	if (p > data_end)
		return sl_parse_drop(m, SLUICE_DROP_TRUNC_ETH);
	t = bpf_ntohs(eth->h_proto);

#pragma unroll
	for (int i = 0; i <= SL_VLAN_MAX; i++) {
		struct vlan_hdr *vh = p;

		if (t != SL_ETH_P_8021Q && t != SL_ETH_P_8021AD)
			break;
		if (i == SL_VLAN_MAX)
			return sl_parse_drop(m, SLUICE_DROP_VLAN_DEPTH);
		if ((void *)(vh + 1) > data_end)
			return sl_parse_drop(m, SLUICE_DROP_TRUNC_VLAN);
		t = bpf_ntohs(vh->h_vlan_encapsulated_proto);
		p = vh + 1;
	}
	*pos = p;
	*type = t;
	return SL_PARSE_IP;
}

/*
 * Parse one frame of LEN bytes starting at its Ethernet header. Headers are
 * read up to DATA_END; the IP lengths are checked against LEN: more than
 * DATA_END - DATA on a tc skb whose payload is in pages (a GRO packet), the
 * same in XDP (sl_parse).
 */
static __always_inline int sl_parse_len(void *data, void *data_end, __u64 len, struct sl_meta *m)
{
	void *pos;
	__u16 type;

	if (sl_parse_l2(data, data_end, &pos, &type, m) != SL_PARSE_IP)
		return SL_PARSE_DROP;
	return sl_parse_net(data, pos, data_end, len, type, m);
}

/*
 * sl_parse_len, or, L3 not 0, the packet of ethertype L3 (host order) from
 * its IP header at DATA: what a device without a link-layer header (tun,
 * wireguard, ipip) hands tc (skb_parse.h sl_skb_l3).
 */
static __always_inline int sl_parse_l3(void *data, void *data_end, __u64 len, __u16 l3,
				       struct sl_meta *m)
{
	if (l3)
		return sl_parse_net(data, data, data_end, len, l3, m);
	return sl_parse_len(data, data_end, len, m);
}

/* Parse one frame that is all between DATA and DATA_END (XDP). */
static __always_inline int sl_parse(void *data, void *data_end, struct sl_meta *m)
{
	return sl_parse_len(data, data_end, data_end - data, m);
}

#endif /* SLUICE_BPF_PARSE_H */
