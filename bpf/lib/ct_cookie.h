/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * SYN cookies in XDP (conntrack.syn-cookies; docs/datapath.md, "SYN
 * cookies"). A SYN that a rule allows, to a port with a local listener, is
 * answered here with a SYN-ACK whose sequence number is a cookie (layout in
 * sluice_abi.h), written over the SYN and sent back with XDP_TX: no state,
 * no skb. The ACK that returns the cookie + 1 is checked here too: a valid
 * one is tracked as an established (assured) connection and passes, the
 * handshake's options left in ct_ck_hand (struct sl_ck_hand) under its
 * flow, where the TC ingress program (sluice_tc.bpf.c) takes them and gives
 * the listener its request socket with bpf_sk_assign_tcp_reqsk(). A bad one is
 * dropped where the port always gets cookies, and left to the rules
 * otherwise (it may be a packet of a connection whose entry was lost).
 * Only an ACK in the slots after a cookie was sent (ct_ck_sent) is checked:
 * with none sent lately (auto mode without pressure, the usual case) an
 * ACK flood costs two inlined loads, not a call and a SipHash.
 *
 * Why a cookie of our own and not bpf_tcp_raw_gen/check_syncookie: the
 * kernel's check says only "valid or not", and the request socket needs the
 * MSS (and window scale, SACK) the SYN asked for; clients without TCP
 * timestamps (Windows by default) leave no other place to carry them.
 *
 * What is answered: IPv4 without options or IPv6 without extension
 * headers, a SYN without data or FIN/RST, a valid TCP checksum, and a
 * listening socket for its destination in this namespace (so never
 * forwarded traffic). Anything else takes the ordinary path.
 *
 * sl_ck_syn_answer and sl_ck_ack_check are global functions: the verifier
 * checks each once, not once per place the firewall is inlined (the
 * benchmarks' one-program path runs it twice in a program).
 */
#ifndef SLUICE_BPF_CT_COOKIE_H
#define SLUICE_BPF_CT_COOKIE_H

#include "clock.h"
#include "conntrack.h"
#include "ct_synack.h"
#include "ct_tcpopt.h"
#include "siphash.h"

#define SL_CK_BIT_SLOT		7
#define SL_CK_BIT_MSS		5
#define SL_CK_BIT_SACK		4
#define SL_CK_LOW		0xffu		/* the cookie bits that are not hash */

/*
 * The big working buffers, per CPU rather than on the stack: the firewall
 * in one program (the benchmarks' path) keeps its per-packet state there,
 * and BPF stacks end at 512 bytes.
 */
struct sl_ck_tmp {
	struct sl_tcpopt o;
	__u64 w[SL_SIP_WORDS_MAX];	/* the SipHash message */
	struct sl_ck_flow f;		/* a handoff's key, as written to ct_ck_hand */
	struct sl_ck_hand h;		/* a handoff, as written to ct_ck_hand */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sl_ck_tmp);
} ct_ck_tmp SEC(".maps");

static __always_inline struct sl_ck_tmp *sl_ck_tmp(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&ct_ck_tmp, &zero);
}

/* The slots cookies were sent in (struct sl_ck_sent): an array, shared, read inline. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sl_ck_sent);
} ct_ck_sent SEC(".maps");

/*
 * XDP to TC, one packet's way up (struct sl_ck_hand): an LRU, shared, so
 * that an entry TC never took (the packet lost on its way) ages out.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SLUICE_CK_HAND_MAX);
	__type(key, struct sl_ck_flow);
	__type(value, struct sl_ck_hand);
} ct_ck_hand SEC(".maps");

/*
 * The clocks of the cookies: sl_now(), the per-CPU copy of the coarse clock
 * (clock.h), which lags the helper's by at most a tick (a CPU that reads it
 * as jiffies move, before the timekeeper does). A SYN's lag only makes its
 * cookie look a tick older. An ACK's clock must never be behind its SYN's
 * (a cookie of the slot just begun would be read as two slots old), so the
 * ACK reads it SL_CK_AHEAD_NS ahead, more than a tick at any HZ (100 and
 * up): a cookie lives that much less than its 1-2 slots (~69-138 s).
 */
#define SL_CK_AHEAD_NS		(20 * 1000 * 1000ull)

/*
 * The cookie of F in time slot SLOT, with LOW (bits 7..0) as given: the
 * SipHash of the bytes saddr, daddr (4 or 16 each), sport, dport, the ISN
 * (network order), the slot (host order), LOW, the family, zero-padded to
 * whole words; its low 32 bits with bits 7..0 replaced by LOW.
 */
static __always_inline __u32 sl_ck_cookie(const struct sl_ck_config *cfg,
					  const struct sl_ck_flow *f, __u32 slot, __u8 low,
					  __u64 *w)
{
	__u8 *b = (__u8 *)w;
	__be32 isn = bpf_htonl(f->isn);
	__u64 h;

	__builtin_memset(w, 0, SL_SIP_WORDS_MAX * sizeof(*w));
	if (f->family == 4) {
		__builtin_memcpy(b, &f->saddr[0], 4);
		__builtin_memcpy(b + 4, &f->daddr[0], 4);
		__builtin_memcpy(b + 8, &f->sport, 2);
		__builtin_memcpy(b + 10, &f->dport, 2);
		__builtin_memcpy(b + 12, &isn, 4);
		__builtin_memcpy(b + 16, &slot, 4);
		b[20] = low;
		b[21] = 4;
		h = sl_siphash(cfg->key, w, 3);
	} else {
		__builtin_memcpy(b, f->saddr, 16);
		__builtin_memcpy(b + 16, f->daddr, 16);
		__builtin_memcpy(b + 32, &f->sport, 2);
		__builtin_memcpy(b + 34, &f->dport, 2);
		__builtin_memcpy(b + 36, &isn, 4);
		__builtin_memcpy(b + 40, &slot, 4);
		b[44] = low;
		b[45] = 6;
		h = sl_siphash(cfg->key, w, 6);
	}
	return ((__u32)h & ~SL_CK_LOW) | low;
}

static __always_inline __u32 sl_ck_slot(__u64 now)
{
	return (__u32)(now >> SLUICE_CK_SLOT_SHIFT);
}

/* A cookie of SLOT was sent: mark it, once per slot (the first sender writes). */
static __always_inline void sl_ck_sent_mark(__u32 slot)
{
	__u32 zero = 0;
	struct sl_ck_sent *s = bpf_map_lookup_elem(&ct_ck_sent, &zero);
	__u32 *w;

	if (!s)
		return;
	w = &s->slot[slot & (SLUICE_CK_SENT_SLOTS - 1)];
	if (*w != slot)
		*w = slot;
}

/*
 * Can an ACK at slot SLOT return a cookie? Only if one was sent in SLOT or
 * the slot before (a cookie's life). Without the map: yes (check it).
 */
static __always_inline bool sl_ck_sent_recently(__u32 slot)
{
	__u32 zero = 0;
	struct sl_ck_sent *s = bpf_map_lookup_elem(&ct_ck_sent, &zero);

	return !s || s->slot[slot & (SLUICE_CK_SENT_SLOTS - 1)] == slot ||
	       s->slot[(slot - 1) & (SLUICE_CK_SENT_SLOTS - 1)] == slot - 1;
}

static __always_inline __u16 sl_ck_mss_of(__u8 family, __u32 idx)
{
	switch (idx & 3) {
	case 0:
		return family == 4 ? SLUICE_CK_MSS4_0 : SLUICE_CK_MSS6_0;
	case 1:
		return family == 4 ? SLUICE_CK_MSS4_1 : SLUICE_CK_MSS6_1;
	case 2:
		return family == 4 ? SLUICE_CK_MSS4_2 : SLUICE_CK_MSS6_2;
	}
	return family == 4 ? SLUICE_CK_MSS4_3 : SLUICE_CK_MSS6_3;
}

/* The largest MSS of the table not above the client's (none: the smallest). */
static __always_inline __u32 sl_ck_mss_idx(__u8 family, __u16 mss)
{
	__u32 i = 3;

	while (i && sl_ck_mss_of(family, i) > mss)
		i--;
	return i;
}

static __always_inline struct sl_ck_config *sl_ck_cfg(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&ct_ck_cfg, &zero);
}

/* Port PORT (host order) always gets cookies. */
static __always_inline bool sl_ck_port(const struct sl_ck_config *cfg, __u16 port)
{
	return cfg->mode == SLUICE_CK_ALWAYS ||
	       (cfg->ports[(port >> 6) & (SLUICE_CK_PORT_WORDS - 1)] >> (port & 63)) & 1;
}

/* Answer a SYN to PORT with a cookie now? Auto: while this CPU sees pressure. */
static __always_inline bool sl_ck_wanted(const struct sl_ck_config *cfg, __u16 port)
{
	__u32 zero = 0;
	struct sl_ck_load *l;

	if (!cfg || cfg->mode == SLUICE_CK_OFF)
		return false;
	if (sl_ck_port(cfg, port))
		return true;
	l = bpf_map_lookup_elem(&ct_ck_load, &zero);
	return l && sl_now() < l->until;
}

/*
 * Answer the SYN M (its key P) with a cookie of the slot of NOW, in place: 0
 * when the frame is now the SYN-ACK to send back (XDP_TX), -1 when the SYN
 * takes the ordinary path (left as it was).
 */
__noinline int sl_ck_syn_answer(struct xdp_md *ctx, const struct sl_meta *m,
				const struct sl_ck_config *cfg, __u64 now)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	__u32 l3, l4, tcplen, newlen, isn, low, cookie, slot, mtu = 0;
	struct sl_ck_tmp *t = sl_ck_tmp();
	struct sl_tcpopt *o;
	struct sl_ck_flow f;
	bool ts, sack;
	__u16 mss;
	__u8 *th, ws;

	if (!m || !cfg || !t)
		return -1;
	o = &t->o;
	/* no IPv4 options, no IPv6 extension headers: the reply is written in place */
	if (m->l4_off != (m->family == 4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr)))
		return -1;
	l3 = m->l3_off;
	if (l3 > 64)
		return -1;
	l4 = l3 + (m->family == 4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr));
	th = data + l4;
	if ((void *)(th + SL_TCP_HLEN) > data_end)
		return -1;
	tcplen = (th[12] >> 4) * 4;
	/* a SYN with data: the ordinary path */
	if (m->ip_len != m->l4_off + tcplen || tcplen < SL_TCP_HLEN ||
	    (void *)(th + tcplen) > data_end)
		return -1;
	if (m->family == 4) {
		struct iphdr *ip = data + l3;

		if ((void *)(ip + 1) > data_end || (ip->frag_off & bpf_htons(SL_IP_MF)) ||
		    sl_ck_fold((__u32)bpf_csum_diff(NULL, 0, (void *)ip, sizeof(*ip), 0)))
			return -1;
	}
	isn = bpf_ntohl(*(__be32 *)(th + SL_TCP_OFF_SEQ));
	sl_ck_flow_of(m, &f, isn);
	if (sl_tcpopt_load(ctx, l4, tcplen, o))
		return -1;
	/*
	 * A corrupt SYN is not answered (the stack would drop it). A checksum
	 * left to offload is not corrupt: a veth hands XDP what a local
	 * sender wrote, the pseudo header's sum, folded.
	 */
	if (sl_ck_tcp_csum(f.saddr, f.daddr, o->buf, tcplen) != 0 &&
	    *(__u16 *)(o->buf + 16) != (__u16)~sl_ck_fold(sl_ck_pseudo(f.saddr, f.daddr, tcplen)))
		return -1;
	if (!sl_ck_listener(ctx, &f))
		return -1;
	ts = o->ts && (cfg->opts & SLUICE_CK_OPT_TS);
	sack = o->sack && (cfg->opts & SLUICE_CK_OPT_SACK);
	ws = (cfg->opts & SLUICE_CK_OPT_WSCALE) ? o->wscale : SL_CK_WS_NONE;
	slot = sl_ck_slot(now);
	low = (slot & 1) << SL_CK_BIT_SLOT | sl_ck_mss_idx(m->family, o->mss) << SL_CK_BIT_MSS |
	      (__u32)sack << SL_CK_BIT_SACK | ws;
	cookie = sl_ck_cookie(cfg, &f, slot, (__u8)low, t->w);
	/* the MSS we announce: the interface's MTU less the headers */
	bpf_check_mtu(ctx, 0, &mtu, 0, 0);
	if (mtu < SL_CK_MTU_MIN)
		mtu = SL_CK_MTU_MIN;
	mtu -= m->family == 4 ? 40 : 60;
	mss = mtu > SL_CK_MSS_MAX ? SL_CK_MSS_MAX : (__u16)mtu;
	/* the frame: headers up to TCP, then our options, nothing after */
	tcplen = SL_TCP_HLEN + sl_ck_optlen(ts, sack, ws != SL_CK_WS_NONE);
	newlen = l4 + tcplen;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (bpf_xdp_adjust_tail(ctx, (int)newlen - (int)(data_end - data)))
		return -1;
	return sl_ck_write(ctx, m, &f, o, cookie, mss, ts, sack,
			   ws == SL_CK_WS_NONE ? SL_CK_WS_NONE : cfg->rcv_wscale, tcplen);
}

/*
 * The SYN-ACK in CTX (headers where M, its SYN's parse, says) is for TC to
 * send back out: SLUICE_CK_MAGIC_TX under its flow in ct_ck_hand, the
 * client's ISN its ACK less one. 0 once written. Global, its buffers per
 * CPU: the firewall's frame has no room for them.
 */
__noinline int sl_ck_hand_tx(struct xdp_md *ctx, const struct sl_meta *m)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct sl_ck_tmp *t = sl_ck_tmp();
	__u8 *th;

	if (!m || !t || m->l3_off > 64 || m->l4_off > SL_CT_L4_MAX)
		return -1;
	th = data + (__u32)m->l3_off + m->l4_off;
	if ((void *)(th + SL_TCP_HLEN) > data_end)
		return -1;
	sl_ck_flow_of(m, &t->f, bpf_ntohl(*(__be32 *)(th + SL_TCP_OFF_ACK)) - 1);
	__builtin_memset(&t->h, 0, sizeof(t->h));
	t->h.magic = SLUICE_CK_MAGIC_TX;
	return bpf_map_update_elem(&ct_ck_hand, &t->f, &t->h, BPF_ANY) ? -1 : 0;
}

/*
 * Can the SYN-ACK in CTX (of the SYN M) leave with XDP_TX? Else it passes
 * to the TC ingress program, which finds it in ct_ck_hand and sends it
 * back out (not written there: XDP_TX after all).
 */
static __always_inline bool sl_ck_xdp_tx(struct xdp_md *ctx, const struct sl_ck_config *cfg,
					 const struct sl_meta *m)
{
	__u32 i = ctx->ingress_ifindex;

	if (i < 65536 && !(cfg->tx_tc[(i >> 6) & (SLUICE_CK_IF_WORDS - 1)] >> (i & 63) & 1))
		return true;
	return sl_ck_hand_tx(ctx, m) != 0;
}

enum sl_ck_syn_res {
	SL_CK_SYN_NONE,		/* the ordinary path: the frame is as it was */
	SL_CK_SYN_TX,		/* the frame is the SYN-ACK: XDP_TX */
	SL_CK_SYN_TC,		/* the frame is the SYN-ACK: XDP_PASS, TC sends it */
};

/*
 * An allowed SYN (M): answer it with a cookie when the port always gets
 * them, or auto mode sees pressure (enum sl_ck_syn_res).
 */
static __always_inline int sl_ck_syn(struct xdp_md *ctx, struct sl_meta *m)
{
	struct sl_ck_config *cfg = sl_ck_cfg();
	__u64 now;

	if (!cfg || !sl_ck_wanted(cfg, m->dport))
		return SL_CK_SYN_NONE;
	now = sl_now();
	if (sl_ck_syn_answer(ctx, m, cfg, now))
		return SL_CK_SYN_NONE;
	sl_ck_sent_mark(sl_ck_slot(now));
	sl_ct_stat(SLUICE_CT_STAT_CK_SENT);
	sl_ck_count(true, now);
	return sl_ck_xdp_tx(ctx, cfg, m) ? SL_CK_SYN_TX : SL_CK_SYN_TC;
}

enum sl_ck_res {
	SL_CK_NONE,		/* not a cookie ACK: conntrack and the rules go on */
	SL_CK_VALID,		/* the handshake of a cookie: tracked, pass */
	SL_CK_BAD,		/* a bad cookie to a port that always gets them: drop */
};

/*
 * The ACK M (no entry: P has its key) at NOW returning a cookie? Valid: an
 * established entry among the assured ones, and the handshake's options in
 * ct_ck_hand for TC.
 */
__noinline int sl_ck_ack_check(struct xdp_md *ctx, const struct sl_meta *m,
			       struct sl_ct_pkt *p, const struct sl_ct_config *ctc, __u64 now)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	__u64 bytes = data_end - data;
	__u32 l4, tcplen, ack, seq, cookie, slot, low;
	struct sl_ck_config *cfg = sl_ck_cfg();
	struct sl_ck_tmp *t = sl_ck_tmp();
	struct sl_ck_hand *h;
	struct sl_ct_entry v;
	struct sl_ck_flow f;
	__u8 *th;

	if (!m || !p || !cfg || !t || m->l3_off > 64 || m->l4_off > SL_CT_L4_MAX)
		return SL_CK_NONE;
	l4 = (__u32)m->l3_off + m->l4_off;
	th = data + l4;
	if ((void *)(th + SL_TCP_HLEN) > data_end)
		return SL_CK_NONE;
	tcplen = (th[12] >> 4) * 4;
	ack = bpf_ntohl(*(__be32 *)(th + SL_TCP_OFF_ACK));
	cookie = ack - 1;
	low = cookie & SL_CK_LOW;
	seq = bpf_ntohl(*(__be32 *)(th + SL_TCP_OFF_SEQ));
	sl_ck_flow_of(m, &f, seq - 1);
	slot = sl_ck_slot(now + SL_CK_AHEAD_NS);
	if ((slot & 1) != low >> SL_CK_BIT_SLOT)
		slot--;
	if (sl_ck_cookie(cfg, &f, slot, (__u8)low, t->w) != cookie)
		return sl_ck_port(cfg, m->dport) ? SL_CK_BAD : SL_CK_NONE;
	sl_ct_stat(SLUICE_CT_STAT_CK_VALID);
	sl_ck_count(false, now);
	if (sl_tcpopt_load(ctx, l4, tcplen, &t->o))
		t->o.ts = 0;
	/* tracked as established at once: the cookie is the proof of the handshake */
	sl_ct_entry_new(&v, p, SL_CT_ESTABLISHED, bytes, SL_CT_OPENED_IN);
	/* where the streams are (ct_state.h): the ACK's own number, and the one it acknowledges */
	v.seq_hi[SL_CT_DIR_ORIG] = seq >> 16;
	v.seq_hi[SL_CT_DIR_REPLY] = ack >> 16;
	v.fin_seen = SL_CT_SEQ_BOTH;
	sl_ct_insert(p, ctc, &v, false);
	h = &t->h;
	__builtin_memset(h, 0, sizeof(*h));
	h->magic = SLUICE_CK_MAGIC;
	h->mss = sl_ck_mss_of(m->family, (low >> SL_CK_BIT_MSS) & 3);
	if ((low & SL_CK_WS_NONE) != SL_CK_WS_NONE) {
		h->flags |= SLUICE_CK_HAND_WSCALE;
		h->snd_wscale = low & SL_CK_WS_NONE;
		h->rcv_wscale = cfg->rcv_wscale;
	}
	if (low >> SL_CK_BIT_SACK & 1)
		h->flags |= SLUICE_CK_HAND_SACK;
	if (t->o.ts && (cfg->opts & SLUICE_CK_OPT_TS)) {
		h->flags |= SLUICE_CK_HAND_TS;
		h->tsval = t->o.tsval;
		h->tsecr = t->o.tsecr;
	}
	/* TC cannot take it over: the listener meets the ACK alone (and resets it) */
	sl_ck_flow_of(m, &t->f, seq - 1);
	if (bpf_map_update_elem(&ct_ck_hand, &t->f, h, BPF_ANY))
		sl_ct_stat(SLUICE_CT_STAT_CK_FAILED);
	return SL_CK_VALID;
}

/*
 * An ACK (no SYN, no RST) without an entry: a cookie's? Checked (a call, a
 * SipHash) only when a cookie was sent in the slots it could be of; else
 * none is valid: dropped where the port always gets cookies, as a bad one
 * is, left to the rules otherwise.
 */
static __always_inline int sl_ck_ack(struct xdp_md *ctx, struct sl_meta *m, struct sl_ct_pkt *p,
				     const struct sl_ct_config *ctc)
{
	struct sl_ck_config *cfg;
	__u64 now;

	if (m->proto != SL_IPPROTO_TCP || !m->has_ports ||
	    (m->tcp_flags & (SL_TCP_SYN | SL_TCP_RST | SL_TCP_ACK)) != SL_TCP_ACK)
		return SL_CK_NONE;
	cfg = sl_ck_cfg();
	if (!cfg || cfg->mode == SLUICE_CK_OFF)
		return SL_CK_NONE;
	now = sl_now();
	if (!sl_ck_sent_recently(sl_ck_slot(now + SL_CK_AHEAD_NS)))
		return sl_ck_port(cfg, m->dport) ? SL_CK_BAD : SL_CK_NONE;
	/* the key a valid cookie's entry goes under (the filter may have decided the miss first) */
	sl_ct_pkt_keyed(m, p, ctc);
	return sl_ck_ack_check(ctx, m, p, ctc, now);
}

#endif /* SLUICE_BPF_CT_COOKIE_H */
