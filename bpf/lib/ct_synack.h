/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The SYN-ACK of a SYN cookie (ct_cookie.h), written over the SYN: the
 * handshake as the cookie covers it, the listener it needs, and the frame
 * itself, byte for byte as the kernel would answer (tests/test_syncookie.c
 * checks every byte).
 */
#ifndef SLUICE_BPF_CT_SYNACK_H
#define SLUICE_BPF_CT_SYNACK_H

#include "ct_tcpopt.h"

#define SL_IP_DF		0x4000
#define SL_IP_MF		0x2000
#define SL_CK_TTL		64
#define SL_CK_MSS_MAX		65495		/* as the kernel's loopback */
#define SL_CK_MTU_MIN		1280		/* IPv6 minimum, taken for an unknown MTU */
#define SL_BPF_TCP_LISTEN	10

/* The flow of a parsed TCP packet M (its source is the client). */
static __always_inline void sl_ck_flow_of(const struct sl_meta *m, struct sl_ck_flow *f,
					  __u32 isn)
{
	__builtin_memset(f, 0, sizeof(*f));
	if (m->family == 4) {
		f->saddr[0] = bpf_htonl(m->src4);
		f->daddr[0] = bpf_htonl(m->dst4);
	} else {
		__builtin_memcpy(f->saddr, m->src6, 16);
		__builtin_memcpy(f->daddr, m->dst6, 16);
	}
	f->sport = bpf_htons(m->sport);
	f->dport = bpf_htons(m->dport);
	f->isn = isn;
	f->family = m->family;
}

/* A socket listening for F's destination in this namespace? */
static __always_inline bool sl_ck_listener(struct xdp_md *ctx, const struct sl_ck_flow *f)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	__u32 size;
	bool listen;

	if (f->family == 4) {
		t.ipv4.saddr = f->saddr[0];
		t.ipv4.daddr = f->daddr[0];
		t.ipv4.sport = f->sport;
		t.ipv4.dport = f->dport;
		size = sizeof(t.ipv4);
	} else {
		__builtin_memcpy(t.ipv6.saddr, f->saddr, 16);
		__builtin_memcpy(t.ipv6.daddr, f->daddr, 16);
		t.ipv6.sport = f->sport;
		t.ipv6.dport = f->dport;
		size = sizeof(t.ipv6);
	}
	sk = bpf_skc_lookup_tcp(ctx, &t, size, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return false;
	listen = sk->state == SL_BPF_TCP_LISTEN;
	bpf_sk_release(sk);
	return listen;
}

/*
 * Bytes of our SYN-ACK's options: MSS; timestamps (with SACK-permitted) or
 * SACK-permitted; window scale.
 */
static __always_inline __u32 sl_ck_optlen(bool ts, bool sack, bool ws)
{
	__u32 n = SL_TCPOLEN_MSS;

	if (ts)
		n += 12;
	else if (sack)
		n += 4;
	if (ws)
		n += 4;
	return n;
}

/*
 * Turn the SYN M into the SYN-ACK of cookie COOKIE, options as the client
 * asked (O) and the host allows; the frame already has the SYN-ACK's
 * length, TCPLEN bytes of TCP header. 0, or -1 when the frame is not what
 * was measured.
 */
static __always_inline int sl_ck_write(struct xdp_md *ctx, const struct sl_meta *m,
				       const struct sl_ck_flow *f, struct sl_tcpopt *o,
				       __u32 cookie, __u16 mss, bool ts, bool sack, __u8 ws,
				       __u32 tcplen)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	__u32 l3 = m->l3_off, l4 = (__u32)m->l3_off + m->l4_off, win, i = 24;
	__u8 mac[6], *b = o->buf;
	__u16 c;

	if (l3 > 64 || l4 > 128 || tcplen > SL_TCP_HLEN + 20 || tcplen < SL_TCP_HLEN)
		return -1;
	if (data + 12 > data_end)
		return -1;
	/* Ethernet: back where it came from; VLAN tags stay */
	__builtin_memcpy(mac, data, 6);
	__builtin_memcpy(data, data + 6, 6);
	__builtin_memcpy(data + 6, mac, 6);
	if (m->family == 4) {
		struct iphdr *ip = data + l3;

		if ((void *)(ip + 1) > data_end)
			return -1;
		ip->saddr = f->daddr[0];
		ip->daddr = f->saddr[0];
		ip->tos = 0;
		ip->tot_len = bpf_htons(sizeof(*ip) + tcplen);
		ip->id = 0;
		ip->frag_off = bpf_htons(SL_IP_DF);
		ip->ttl = SL_CK_TTL;
		ip->check = 0;
		ip->check = sl_ck_fold((__u32)bpf_csum_diff(NULL, 0, (void *)ip, sizeof(*ip), 0));
	} else {
		struct ipv6hdr *ip6 = data + l3;

		if ((void *)(ip6 + 1) > data_end)
			return -1;
		*(__be32 *)ip6 = bpf_htonl(0x60000000);	/* version 6, no class, no flow */
		ip6->payload_len = bpf_htons(tcplen);
		ip6->hop_limit = SL_CK_TTL;
		__builtin_memcpy(&ip6->saddr, f->daddr, 16);
		__builtin_memcpy(&ip6->daddr, f->saddr, 16);
	}
	/* the SYN-ACK's TCP header, built over the SYN's copy, then stored */
	__builtin_memset(b, 0, SL_TCP_HLEN + 20);
	__builtin_memcpy(b, &f->dport, 2);
	__builtin_memcpy(b + 2, &f->sport, 2);
	*(__be32 *)(b + SL_TCP_OFF_SEQ) = bpf_htonl(cookie);
	*(__be32 *)(b + SL_TCP_OFF_ACK) = bpf_htonl(f->isn + 1);
	b[12] = (__u8)(tcplen / 4) << 4;
	b[SL_TCP_OFF_FLAGS] = SL_TCP_SYN | SL_TCP_ACK;
	win = 65535 / mss * mss;
	b[14] = win >> 8;
	b[15] = win & 0xff;
	/* options, in the kernel's order */
	b[20] = SL_TCPOPT_MSS;
	b[21] = SL_TCPOLEN_MSS;
	b[22] = mss >> 8;
	b[23] = mss & 0xff;
	if (ts) {
		*(__be32 *)(b + 24) = bpf_htonl(sack ? (SL_TCPOPT_SACK_PERM << 24 |
							SL_TCPOLEN_SACK_PERM << 16 |
							SL_TCPOPT_TS << 8 | SL_TCPOLEN_TS) :
					      (SL_TCPOPT_NOP << 24 | SL_TCPOPT_NOP << 16 |
					       SL_TCPOPT_TS << 8 | SL_TCPOLEN_TS));
		*(__be32 *)(b + 28) = bpf_htonl((__u32)(bpf_ktime_get_coarse_ns() /
						       SL_NSEC_PER_MSEC));
		*(__be32 *)(b + 32) = bpf_htonl(o->tsval);
		i = 36;
	} else if (sack) {
		*(__be32 *)(b + 24) = bpf_htonl(SL_TCPOPT_NOP << 24 | SL_TCPOPT_NOP << 16 |
						SL_TCPOPT_SACK_PERM << 8 | SL_TCPOLEN_SACK_PERM);
		i = 28;
	}
	if (ws != SL_CK_WS_NONE && i <= SL_TCP_HLEN + 16)
		*(__be32 *)(b + (i & 63)) = bpf_htonl(SL_TCPOPT_NOP << 24 | SL_TCPOPT_WSCALE << 16 |
						      SL_TCPOLEN_WSCALE << 8 | ws);
	if (tcplen < SL_TCP_HLEN || tcplen > SL_TCP_HLEN + 20)
		return -1;
	c = sl_ck_tcp_csum(f->daddr, f->saddr, b, tcplen);
	__builtin_memcpy(b + 16, &c, 2);
	return bpf_xdp_store_bytes(ctx, l4, b, tcplen) ? -1 : 0;
}

#endif /* SLUICE_BPF_CT_SYNACK_H */
