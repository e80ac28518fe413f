/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Container egress, per packet: source routes. A socket may carry a route
 * of its own (IPv6: setsockopt IPV6_RTHDR or a cmsg, unprivileged; IPv4:
 * IP_OPTIONS or an IP_RETOPTS cmsg with a loose or strict source route):
 * connect() and sendmsg() are judged for the address the call names, but
 * every packet then goes first to the route's first hop, which no hook saw.
 * The cgroup_skb egress program of a managed cgroup drops such packets.
 *
 *   IPv4: IHL 5 (no options) passes at once; else the option bytes (at
 *         most 40) are scanned for LSRR (0x83) or SSRR (0x89).
 *   IPv6: next header TCP or UDP passes at once, ICMPv6 is no source route
 *         (the caller looks at its socket: a ping socket's); else at most
 *         SLUICE_IPV6_EXT_MAX extension headers are walked: a routing
 *         header (any type: each sends the packet to an address of its own)
 *         with segments left, or a longer chain, is dropped.
 *
 * Cost: one load and one or two compares for a packet without options or
 * extension headers (nearly all); a bounded scan otherwise.
 */
#ifndef SLUICE_BPF_EG_SRCROUTE_H
#define SLUICE_BPF_EG_SRCROUTE_H

#include "parse.h"

#define SL_IP4_OPT_MAX		40	/* option bytes: IHL is at most 15 words */
#define SL_IP4_OPT_BUF		64
#define SL_IP4_OPT_EOL		0
#define SL_IP4_OPT_NOP		1
#define SL_IP4_OPT_LSRR		0x83	/* loose source and record route */
#define SL_IP4_OPT_SSRR		0x89	/* strict source and record route */
#define SL_IP4_OFF_PROTO	9
#define SL_IP4_OFF_DST		16
#define SL_IP6_OFF_NEXTHDR	6
#define SL_IP6_OFF_DST		24
#define SL_RT_OFF_SEGLEFT	3	/* routing header: next, length, type, segments left */

/* The walk over the IPv4 options (a bpf_loop: the verifier checks one step, not 40). */
struct sl_srr4_walk {
	/* a power of two past the options: an index masked with it stays inside */
	__u8 opt[SL_IP4_OPT_BUF];
	__u32 i;		/* the next option's offset */
	__u32 len;		/* option bytes */
	bool found;
};

static long sl_srr4_step(__u64 n, void *ctx)
{
	struct sl_srr4_walk *w = ctx;
	__u32 i = w->i;
	__u8 t, olen;

	/* the last option byte alone is no source route: it needs three */
	if (i >= w->len || i >= SL_IP4_OPT_MAX - 1)
		return 1;
	t = w->opt[i & (SL_IP4_OPT_BUF - 1)];
	if (t == SL_IP4_OPT_EOL)
		return 1;
	if (t == SL_IP4_OPT_NOP) {
		w->i = i + 1;
		return 0;
	}
	if (t == SL_IP4_OPT_LSRR || t == SL_IP4_OPT_SSRR) {
		w->found = true;
		return 1;
	}
	olen = w->opt[(i + 1) & (SL_IP4_OPT_BUF - 1)];
	/* a broken length: the kernel builds none such; nothing past it is read */
	if (olen < 2)
		return 1;
	w->i = i + olen;
	return 0;
}

/* Does the IPv4 packet of SKB, header IHL words, carry a source route option? */
static __always_inline bool sl_eg_srr4(struct __sk_buff *skb, __u32 ihl)
{
	struct sl_srr4_walk w = {};

	w.len = (ihl - 5) * 4;
	if (w.len < 4 || w.len > SL_IP4_OPT_MAX ||
	    bpf_skb_load_bytes(skb, SL_IP4_HLEN, w.opt, w.len))
		return false;
	/* each step takes at least one byte: 40 steps see every option */
	bpf_loop(SL_IP4_OPT_MAX, sl_srr4_step, &w, 0);
	return w.found;
}

/*
 * Does the IPv6 packet of SKB, first next header *NHP, carry a routing header
 * with segments left, or more extension headers than we walk? When it does
 * not, *NHP is the protocol after the extension headers (a header it stopped
 * at for a non-first fragment or a short packet).
 */
static __always_inline bool sl_eg_srr6(struct __sk_buff *skb, __u8 *nhp)
{
	__u32 off = SL_IP6_HLEN;
	__u8 eh[4], nh = *nhp;

	for (int i = 0; i < SLUICE_IPV6_EXT_MAX; i++) {
		*nhp = nh;
		if (!sl_ip6_is_ext(nh))
			return false;
		if (bpf_skb_load_bytes(skb, off, eh, sizeof(eh)))
			return false;
		if (nh == SL_IPPROTO_ROUTING && eh[SL_RT_OFF_SEGLEFT])
			return true;
		if (nh == SL_IPPROTO_FRAGMENT) {
			/* a non-first fragment: what follows is payload */
			if ((eh[2] << 8 | eh[3]) & 0xfff8)
				return false;
			off += 8;
		} else if (nh == SL_IPPROTO_AH) {
			off += (eh[1] + 2) * 4;
		} else {
			off += (eh[1] + 1) * 8;
		}
		nh = eh[0];
	}
	*nhp = nh;
	return sl_ip6_is_ext(nh);
}

#endif /* SLUICE_BPF_EG_SRCROUTE_H */
