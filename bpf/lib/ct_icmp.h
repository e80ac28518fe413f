/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ICMP errors related to a tracked connection: destination unreachable,
 * time exceeded, parameter problem (and ICMPv6 packet too big) quote the IP
 * header and the first 8 octets of the packet that caused them. The key
 * built from the quote is looked up like any other; a match passes as
 * related.
 */
#ifndef SLUICE_BPF_CT_ICMP_H
#define SLUICE_BPF_CT_ICMP_H

#include "ct_key.h"

#define SL_CT_QUOTED_L4		8	/* octets of the quoted L4 header (RFC 792) */

/*
 * The connection an ICMP error quotes. The error goes back to whoever sent
 * the packet it quotes, so the quoted source must be our destination.
 * Nothing past the IP packet's own length is read: bytes after it (Ethernet
 * padding, or anything appended) are not part of the error. Returns 0 with
 * T filled, or -1.
 */
static __always_inline int sl_ct_icmp_quoted(void *data, void *data_end,
					     const struct sl_meta *m, struct sl_ct_tuple *t)
{
	__u8 *icmp = sl_ct_l4(data, data_end, m, SL_ICMP_HLEN), *l4;
	/* offset of the quoted IP header within the error's IP packet */
	__u32 q = (__u32)m->l4_off + SL_ICMP_HLEN;
	bool req;

	if (!icmp)
		return -1;
	__builtin_memset(t, 0, sizeof(*t));
	if (m->family == 4) {
		struct iphdr *ip = (void *)(icmp + SL_ICMP_HLEN);
		__u32 hlen;

		if ((void *)(ip + 1) > data_end || q + SL_IP4_HLEN > m->ip_len ||
		    ip->version != 4)
			return -1;
		hlen = ip->ihl * 4;
		if (hlen < SL_IP4_HLEN || (bpf_ntohs(ip->frag_off) & SL_IP_FRAG_OFFSET) ||
		    ip->saddr != bpf_htonl(m->dst4))
			return -1;
		l4 = (void *)ip + hlen;
		if ((void *)(l4 + SL_CT_QUOTED_L4) > data_end ||
		    q + hlen + SL_CT_QUOTED_L4 > m->ip_len)
			return -1;
		t->src[0] = ip->saddr;
		t->dst[0] = ip->daddr;
		t->proto = ip->protocol;
	} else {
		struct ipv6hdr *ip6 = (void *)(icmp + SL_ICMP_HLEN);
		__u32 ours[4];

		if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
			return -1;
		__builtin_memcpy(t->src, &ip6->saddr, 16);
		__builtin_memcpy(t->dst, &ip6->daddr, 16);
		__builtin_memcpy(ours, m->dst6, 16);
		if ((t->src[0] ^ ours[0]) | (t->src[1] ^ ours[1]) | (t->src[2] ^ ours[2]) |
		    (t->src[3] ^ ours[3]))
			return -1;
		l4 = (void *)(ip6 + 1);
		if ((void *)(l4 + SL_CT_QUOTED_L4) > data_end ||
		    q + SL_IP6_HLEN + SL_CT_QUOTED_L4 > m->ip_len)
			return -1;
		t->proto = ip6->nexthdr;
	}
	t->family = m->family;
	if (t->proto == SL_IPPROTO_TCP || t->proto == SL_IPPROTO_UDP) {
		__builtin_memcpy(&t->sport, l4, 2);
		__builtin_memcpy(&t->dport, l4 + 2, 2);
		return 0;
	}
	if (sl_ct_is_icmp(t->family, t->proto) && sl_ct_icmp_echo(t->family, l4[0], &req)) {
		__builtin_memcpy(&t->sport, l4 + SL_ICMP_OFF_ECHO_ID, 2);
		t->dport = t->sport;
		return 0;
	}
	return -1;
}

#endif /* SLUICE_BPF_CT_ICMP_H */
