/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What conntrack makes of a parsed packet: the normalised key of its
 * connection (endpoint "a" is the lower (address, port) pair, so both
 * directions build the same key), which endpoint sent it, and whether it
 * may open a connection (TCP SYN, UDP, ICMP echo request).
 */
#ifndef SLUICE_BPF_CT_KEY_H
#define SLUICE_BPF_CT_KEY_H

#include <bpf/bpf_endian.h>

#include "ct_state.h"
#include "parse.h"

/* ICMP and ICMPv6 types conntrack knows: echo, and the errors it relates. */
#define SL_ICMP_ECHOREPLY	0
#define SL_ICMP_UNREACH		3
#define SL_ICMP_ECHO		8
#define SL_ICMP_TIME_EXCEEDED	11
#define SL_ICMP_PARAMPROB	12
#define SL_ICMP6_UNREACH	1
#define SL_ICMP6_PKT_TOOBIG	2
#define SL_ICMP6_TIME_EXCEEDED	3
#define SL_ICMP6_PARAMPROB	4
#define SL_ICMP6_ECHO		128
#define SL_ICMP6_ECHOREPLY	129
#define SL_ICMP_OFF_ECHO_ID	4	/* echo: the identifier, used as both ports */

/* Offsets past this are not real headers (and keep the verifier's ranges small). */
#define SL_CT_L4_MAX		4096

/* A 5-tuple before normalisation; addresses in network order, IPv4 in [0]. */
struct sl_ct_tuple {
	__u32 src[4], dst[4];
	__be16 sport, dport;
	__u8 proto, family;
};

/* What conntrack makes of one packet. */
struct sl_ct_pkt {
	union {
		struct sl_ct_key key;	/* IPv6: in ct_shards */
		struct sl_ct_key4 key4;	/* IPv4 (v4): in ct4_shards */
	};
	__u32 hash;		/* of the key (sl_ct_hash_of, sl_ct_hash4_words): its shard */
	__u32 shard;		/* of the key: [shard], [SHARDS_MAX + shard] of its table */
	__u8 src_is_a;		/* the packet's source is endpoint a of the key */
	__u8 start;		/* state of a new entry if the packet may open one, else 0 */
	__u8 v4;		/* key4, in ct4_shards */
	__u8 keyed;		/* key, hash and shard made: not when the lookup filter
				 * turned the packet away first (sl_ct_pkt_keyed) */
};

/* Endpoint a of the key is the lower (address, port) pair. */
static __always_inline bool sl_ct_src_is_a(const struct sl_ct_tuple *t)
{
#pragma unroll
	for (int i = 0; i < 4; i++) {
		__u32 s = bpf_ntohl(t->src[i]), d = bpf_ntohl(t->dst[i]);

		if (s != d)
			return s < d;
	}
	return bpf_ntohs(t->sport) <= bpf_ntohs(t->dport);
}

/* Fill K from T; returns whether T's source is endpoint a. */
static __always_inline __u8 sl_ct_key_make(struct sl_ct_key *k, const struct sl_ct_tuple *t)
{
	bool src_a = sl_ct_src_is_a(t);

	__builtin_memset(k, 0, sizeof(*k));
	if (src_a) {
		__builtin_memcpy(k->addr_a, t->src, 16);
		__builtin_memcpy(k->addr_b, t->dst, 16);
		k->port_a = t->sport;
		k->port_b = t->dport;
	} else {
		__builtin_memcpy(k->addr_a, t->dst, 16);
		__builtin_memcpy(k->addr_b, t->src, 16);
		k->port_a = t->dport;
		k->port_b = t->sport;
	}
	k->proto = t->proto;
	k->family = t->family;
	return src_a;
}

/*
 * P's IPv4 key of addresses SRC, DST (host order), ports and PROTO, and its
 * hash: the four words built in registers, each written once, and hashed
 * from the registers. Read back from P, a word written as narrower fields
 * (ports; proto and family) would stall on store forwarding, on every
 * packet conntrack sees, before its lookup filter can say it is a miss.
 *
 * Which end is a, without a branch: (SRC, SPORT) <= (DST, DPORT) is the
 * sign of the difference of the two as 48-bit numbers, a mask that picks
 * each word by xor. Which way a packet's addresses compare is the
 * traffic's, not the code's: as branches (clang turns the compare and the
 * selects into them, BPF having no conditional move), a mix of sources
 * above and below the destination mispredicted on every other packet,
 * ~6-7 ns a conntrack miss live (docs/datapath.md, "What a miss that ends
 * in a deny costs"). barrier_var keeps clang from turning the sign back
 * into a compare.
 */
static __always_inline void sl_ct_pkt4_fill(struct sl_ct_pkt *p, __u32 src, __u32 dst,
					    __u16 sport, __u16 dport, __u8 proto)
{
	__u64 d = (((__u64)src << 16 | sport) - ((__u64)dst << 16 | dport)) - 1, a_le;
	__u32 *w = (__u32 *)&p->key4, w0, w1, w2, w3, addr_a, port_a;

	_Static_assert(sizeof(struct sl_ct_key4) == 16, "sl_ct_key4: four words");
	/* all ones when the source is a: (src, sport) - (dst, dport) - 1 < 0 */
	barrier_var(d);
	a_le = (__s64)d >> 63;
	/* a's address and port (the source's or the destination's); b's: the xor of both with a's */
	addr_a = dst ^ ((src ^ dst) & (__u32)a_le);
	port_a = dport ^ ((sport ^ dport) & (__u32)a_le);
	w0 = bpf_htonl(addr_a);
	w1 = bpf_htonl(src ^ dst ^ addr_a);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	w2 = (__u32)bpf_htons((__u16)(sport ^ dport ^ port_a)) << 16 | bpf_htons((__u16)port_a);
	w3 = 4u << 8 | proto;
#else
	w2 = (__u32)bpf_htons((__u16)port_a) << 16 | bpf_htons((__u16)(sport ^ dport ^ port_a));
	w3 = (__u32)proto << 24 | 4u << 16;
#endif
	w[0] = w0;
	w[1] = w1;
	w[2] = w2;
	w[3] = w3;
	p->hash = sl_ct_hash4_words(w0, w1, w2, w3);
	p->src_is_a = a_le & 1;
	p->v4 = 1;
}

/* P's key (and table) for the tuple T, and its hash. */
static __always_inline void sl_ct_pkt_key(struct sl_ct_pkt *p, const struct sl_ct_tuple *t)
{
	if (t->family == 4) {
		sl_ct_pkt4_fill(p, bpf_ntohl(t->src[0]), bpf_ntohl(t->dst[0]), bpf_ntohs(t->sport),
				bpf_ntohs(t->dport), t->proto);
		return;
	}
	p->v4 = 0;
	p->src_is_a = sl_ct_key_make(&p->key, t);
	p->hash = sl_ct_hash_of(&p->key);
}

/* P's shard among SHARDS, from its hash (sl_ct_pkt_key). */
static __always_inline void sl_ct_pkt_shard(struct sl_ct_pkt *p, __u32 shards)
{
	p->shard = p->hash & (shards - 1);
}

/*
 * The L4 header of a parsed packet with LEN bytes of it readable, within
 * the frame and within the IP packet's own length, or NULL.
 */
static __always_inline __u8 *sl_ct_l4(void *data, void *data_end, const struct sl_meta *m,
				      __u32 len)
{
	__u32 off = (__u32)m->l3_off + m->l4_off;
	__u8 *p;

	if (!m->has_l4 || off > SL_CT_L4_MAX || m->l4_off + len > m->ip_len)
		return NULL;
	p = data + off;
	if ((void *)(p + len) > data_end)
		return NULL;
	return p;
}

static __always_inline bool sl_ct_is_icmp(__u8 family, __u8 proto)
{
	return family == 4 ? proto == SL_IPPROTO_ICMP : proto == SL_IPPROTO_ICMPV6;
}

static __always_inline bool sl_ct_icmp_echo(__u8 family, __u8 type, bool *request)
{
	*request = type == (family == 4 ? SL_ICMP_ECHO : SL_ICMP6_ECHO);
	return *request || type == (family == 4 ? SL_ICMP_ECHOREPLY : SL_ICMP6_ECHOREPLY);
}

static __always_inline bool sl_ct_icmp_error(__u8 family, __u8 type)
{
	if (family == 4)
		return type == SL_ICMP_UNREACH || type == SL_ICMP_TIME_EXCEEDED ||
		       type == SL_ICMP_PARAMPROB;
	return type == SL_ICMP6_UNREACH || type == SL_ICMP6_PKT_TOOBIG ||
	       type == SL_ICMP6_TIME_EXCEEDED || type == SL_ICMP6_PARAMPROB;
}

static __always_inline void sl_ct_tuple_addrs(struct sl_ct_tuple *t, const struct sl_meta *m)
{
	if (m->family == 4) {
		__builtin_memset(t, 0, sizeof(*t));
		t->src[0] = bpf_htonl(m->src4);
		t->dst[0] = bpf_htonl(m->dst4);
	} else {
		__builtin_memcpy(t->src, m->src6, 16);
		__builtin_memcpy(t->dst, m->dst6, 16);
	}
	t->family = m->family;
	t->proto = m->proto;
}

/* Is M's source its destination (sl_ct_track: never tracked)? */
static __always_inline bool sl_ct_self(const struct sl_meta *m)
{
	const __u32 *s = (const __u32 *)m->src6, *d = (const __u32 *)m->dst6;

	if (m->family == 4)
		return m->src4 == m->dst4;
	return !((s[0] ^ d[0]) | (s[1] ^ d[1]) | (s[2] ^ d[2]) | (s[3] ^ d[3]));
}

/* The state a TCP or UDP packet M opens a connection in (UDP, a bare SYN), else 0. */
static __always_inline __u8 sl_ct_ports_start(const struct sl_meta *m)
{
	if (m->proto == SL_IPPROTO_UDP)
		return SL_CT_UDP;
	if ((m->tcp_flags & (SL_TCP_SYN | SL_TCP_ACK | SL_TCP_RST | SL_TCP_FIN)) == SL_TCP_SYN)
		return SL_CT_SYN_SENT;
	return 0;
}

/*
 * The lookup filter's bucket of a packet M that conntrack keys (TCP, UDP,
 * ICMP echo: its key's addresses are its own) (sl_ct_stamp_idx), from its
 * addresses as parsed: what sl_ct_key_bucket gives for the key it would
 * make, known before the key (IPv4 in host order in M, in network order in
 * the key).
 */
static __always_inline __u32 sl_ct_meta_bucket(const struct sl_meta *m)
{
	if (m->family == 4)
		return sl_ct_stamp_idx(bpf_htonl(m->src4), bpf_htonl(m->dst4));
	return sl_ct_stamp_idx(sl_ct_addr_fold(m->src6), sl_ct_addr_fold(m->dst6));
}

/* The lookup filter's bucket of P's key, either table's layout. */
static __always_inline __u32 sl_ct_pkt_bucket(const struct sl_ct_pkt *p)
{
	if (p->v4)
		return sl_ct_stamp_idx(p->key4.addr_a, p->key4.addr_b);
	return sl_ct_key_bucket(&p->key);
}

/*
 * P's key, hash and shard among SHARDS for a TCP or UDP packet M (and
 * P->start); T: the caller's room for an IPv6 tuple (one on its stack).
 */
static __always_inline void sl_ct_pkt_ports(const struct sl_meta *m, struct sl_ct_pkt *p,
					    __u32 shards, struct sl_ct_tuple *t)
{
	p->start = sl_ct_ports_start(m);
	if (m->family == 4) {
		/* nearly all traffic: no tuple in between */
		sl_ct_pkt4_fill(p, m->src4, m->dst4, m->sport, m->dport, m->proto);
	} else {
		sl_ct_tuple_addrs(t, m);
		t->sport = bpf_htons(m->sport);
		t->dport = bpf_htons(m->dport);
		sl_ct_pkt_key(p, t);
	}
	sl_ct_pkt_shard(p, shards);
	p->keyed = 1;
}

/* What sl_ct_pkt_make found. */
enum sl_ct_kind {
	SL_CT_KEYED,		/* ICMP echo: P's key is filled */
	SL_CT_ICMP_ERR,		/* an ICMP error: look up what it quotes instead */
	SL_CT_IGNORED,		/* other protocols, non-first fragments, other ICMP
				 * types such as neighbour discovery: the rules decide */
};

/*
 * Build P for a parsed packet without ports (enum sl_ct_kind; TCP and UDP
 * are sl_ct_pkt_ports'): SL_CT_KEYED, its key, hash and shard among SHARDS.
 * T: the caller's room for the tuple. P->start: the caller's 0 (sl_ct_track),
 * an echo request's SL_CT_ICMP.
 */
static __always_inline int sl_ct_pkt_make(void *data, void *data_end, const struct sl_meta *m,
					  struct sl_ct_pkt *p, __u32 shards, struct sl_ct_tuple *t)
{
	__u8 *icmp;
	bool req;

	if (!m->has_l4 || !sl_ct_is_icmp(m->family, m->proto))
		return SL_CT_IGNORED;
	icmp = sl_ct_l4(data, data_end, m, SL_ICMP_HLEN);
	if (!icmp)
		return SL_CT_IGNORED;
	if (sl_ct_icmp_error(m->family, icmp[0]))
		return SL_CT_ICMP_ERR;
	if (!sl_ct_icmp_echo(m->family, icmp[0], &req))
		return SL_CT_IGNORED;
	sl_ct_tuple_addrs(t, m);
	__builtin_memcpy(&t->sport, icmp + SL_ICMP_OFF_ECHO_ID, 2);
	t->dport = t->sport;
	if (req)
		p->start = SL_CT_ICMP;
	sl_ct_pkt_key(p, t);
	sl_ct_pkt_shard(p, shards);
	p->keyed = 1;
	return SL_CT_KEYED;
}

#endif /* SLUICE_BPF_CT_KEY_H */
