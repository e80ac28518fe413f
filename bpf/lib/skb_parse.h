/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The parser (parse.h) on a TC program's skb: headers past the linear part
 * are pulled in once and the frame is parsed again; a device without a
 * link-layer header is parsed from its IP header. Shared by the TC egress
 * program (conntrack), tcx's firewall and the egress backstop.
 */
#ifndef SLUICE_BPF_SKB_PARSE_H
#define SLUICE_BPF_SKB_PARSE_H

#include "hook.h"
#include "parse.h"

/*
 * A sluice TC program lets a packet go on with SL_TCX_NEXT (hook.h), never
 * TC_ACT_OK: "ok" ends the interface's tcx chain, so the programs after
 * it (another tool's, or the classic tc filters) would never see the packet.
 */
#define SL_TC_ACT_SHOT	2
/* Enough for Ethernet, two tags, IPv6 with a few extension headers, TCP with options. */
#define SL_TC_PULL	256

/*
 * Are all the bytes the firewall reads of a TCP or UDP packet in the linear
 * part DATA..DATA_END of its skb? Untagged IPv4 (with its options) or IPv6
 * without extension headers, and the TCP header with its options (UDP: its
 * 8 bytes) all before DATA_END. Then the parser reads nothing past them
 * (whatever it decides, a bad IHL or data offset too: each of its bounds is
 * checked against bytes that are there), and conntrack reads 20 bytes of
 * the TCP header, so a pull (bpf_skb_pull_data) would change nothing the
 * firewall sees: a bulk TCP packet through a veth (a GSO packet of up to
 * 64 KiB, more with BIG TCP; headers linear, payload in pages) needs none.
 * Any other frame answers false: a tag, an extension header, ICMP (an
 * error's quoted headers are read past what the parser checks), other
 * protocols.
 */
static __always_inline bool sl_skb_hdrs_linear(void *data, void *data_end)
{
	struct ethhdr *eth = data;
	struct tcphdr *th;
	__u8 *l4, proto;

	if ((void *)(eth + 1) > data_end)
		return false;
	if (eth->h_proto == bpf_htons(SL_ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end)
			return false;
		l4 = (__u8 *)ip + ip->ihl * 4;
		proto = ip->protocol;
	} else if (eth->h_proto == bpf_htons(SL_ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return false;
		l4 = (__u8 *)(ip6 + 1);
		proto = ip6->nexthdr;
	} else {
		return false;
	}
	if (proto == SL_IPPROTO_UDP)
		return (void *)(l4 + sizeof(struct udphdr)) <= data_end;
	if (proto != SL_IPPROTO_TCP)
		return false;
	th = (struct tcphdr *)l4;
	return (void *)(th + 1) <= data_end && (void *)(l4 + th->doff * 4) <= data_end;
}

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

#define SL_ARPHRD_ETHER		1
#define SL_ARPHRD_LOOPBACK	772
#define SL_L3_NOT_IP		0xffff	/* an ethertype of no IP: never read as Ethernet */

/*
 * The fields of the kernel's sk_buff and net_device read here, relocated by
 * CO-RE (the ___sl flavour matches the kernel's types): vmlinux.h's whole
 * sk_buff in the object's BTF brings a forward declaration of struct sock
 * that libbpf then finds incompatible with bpf_sk_assign_tcp_reqsk's.
 */
struct net_device___sl {
	unsigned short type;
} __attribute__((preserve_access_index));

struct sk_buff___sl {
	struct net_device___sl *dev;
	unsigned char *head, *data;
	__u16 network_header;
} __attribute__((preserve_access_index));

/*
 * 0 when SKB's data starts with an Ethernet header, else the ethertype (host
 * order) of the packet that starts there (sl_parse_l3): a device without a
 * link-layer header (tun, wireguard, ipip: not Ethernet nor loopback, the
 * types the agent runs XDP on, lib/hook.c) hands tc ingress its packet from
 * the IP header, where its network header is, and egress the same (no
 * header is built for it). Both are asked: the device type, and that
 * nothing comes before the network header (mac_len would say it on the
 * wire, but a test run's skb has none).
 */
static __always_inline __u16 sl_skb_l3(struct __sk_buff *skb)
{
	struct sk_buff___sl *k = bpf_cast_to_kern_ctx(skb);
	__u16 type = k->dev->type;

	if (type == SL_ARPHRD_ETHER || type == SL_ARPHRD_LOOPBACK)
		return 0;
	/* head and data are numbers to the verifier (pointers to bytes) */
	if ((__u64)k->network_header != (__u64)(k->data - k->head))
		return 0;
	type = bpf_ntohs(skb->protocol);
	return type ? type : SL_L3_NOT_IP;
}

/* The furthest a network header can start: Ethernet and SL_VLAN_MAX tags. */
#define SL_L2_MAX	(sizeof(struct ethhdr) + SL_VLAN_MAX * sizeof(struct vlan_hdr))

/*
 * The packet of ethertype TYPE (host order) from its network header,
 * L3_OFF bytes into SKB's data, into M (sl_parse_net): its lengths against
 * LEN, at least the linear part (0: that part alone). A global function: the
 * verifier checks the IPv4 and IPv6 parsers once, for any offset up to
 * SL_L2_MAX, where inlined it checked them for each offset the tags give
 * (none, one, two) and again for a device without a link-layer header.
 */
__noinline int sl_skb_parse_net(struct __sk_buff *skb, struct sl_meta *m, __u64 l3_off,
				__u16 type, __u32 len)
{
	void *data, *data_end;

	/* no caller passes NULL or an offset past SL_L2_MAX: the verifier's bounds */
	if (!skb || !m || l3_off > SL_L2_MAX)
		return SL_PARSE_DROP;
	data = SL_SKB_FIELD(skb, data);
	data_end = SL_SKB_FIELD(skb, data_end);
	return sl_parse_net(data, data + l3_off, data_end, len, type, m);
}

/*
 * Parse SKB's frame into M from its Ethernet header, lengths against LEN
 * (sl_parse_len; 0: the linear part alone, as sl_parse).
 */
__noinline int sl_skb_parse_eth(struct __sk_buff *skb, struct sl_meta *m, __u32 len)
{
	void *data, *data_end, *pos;
	__u16 type;

	if (!skb || !m)
		return SL_PARSE_DROP;
	data = SL_SKB_FIELD(skb, data);
	data_end = SL_SKB_FIELD(skb, data_end);
	__builtin_memset(m, 0, sizeof(*m));
	if (sl_parse_l2(data, data_end, &pos, &type, m) != SL_PARSE_IP)
		return SL_PARSE_DROP;
	return sl_skb_parse_net(skb, m, pos - data, type, len);
}

/*
 * Parse SKB's frame into M: SL_PARSE_IP, _NONIP or _DROP (M->reason says
 * why); a frame refused with headers past the linear part is pulled and
 * parsed again. A global function, and the parse one called twice: the
 * verifier checks each once, where inlined it checked the second parse
 * again for each place the first one gave up (~290k of the backstop's
 * 425k instructions).
 */
__noinline int sl_skb_parse(struct __sk_buff *skb, struct sl_meta *m)
{
	int res;

	if (!skb)
		return SL_PARSE_DROP;
	/* lengths against skb->len: a GSO packet's payload is in pages */
	res = sl_skb_parse_eth(skb, m, skb->len);
	if (res != SL_PARSE_DROP || skb->len <= skb->data_end - skb->data)
		return res;
	if (bpf_skb_pull_data(skb, skb->len < SL_TC_PULL ? skb->len : SL_TC_PULL))
		return res;
	return sl_skb_parse_eth(skb, m, skb->len);
}

/*
 * The packet of a device without a link-layer header (sl_skb_l3: L3, its
 * ethertype) into M, from its IP header: for the TC egress program
 * (conntrack) and the backstop. It pulls first and parses once:
 * sl_skb_parse's way (parse, pull, parse again) here, with the Ethernet
 * parse beside it for an L3 it cannot know, took sluice_tc from 532k to
 * 950k verifier instructions.
 */
__noinline int sl_skb_parse_l3(struct __sk_buff *skb, struct sl_meta *m, __u16 l3)
{
	void *data, *data_end;

	if (!skb || !m)
		return SL_PARSE_DROP;
	data = SL_SKB_FIELD(skb, data);
	data_end = SL_SKB_FIELD(skb, data_end);
	if (skb->len > data_end - data)
		bpf_skb_pull_data(skb, skb->len < SL_TC_PULL ? skb->len : SL_TC_PULL);
	__builtin_memset(m, 0, sizeof(*m));
	return sl_skb_parse_net(skb, m, 0, l3, skb->len);
}

#endif /* SLUICE_BPF_SKB_PARSE_H */
