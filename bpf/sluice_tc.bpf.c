// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluice TC egress: conntrack for traffic leaving the host.
 *
 *   skb -> parse (the XDP parser, on the linear data; pulled once if the
 *          headers are not all linear; from the IP header on a device
 *          without a link-layer header) -> conntrack: a packet of a tracked
 *          connection updates it (e.g. the SYN-ACK of a local server), one
 *          that opens a connection (TCP SYN, UDP, ICMP echo request) creates
 *          it with the local side as originator, and a TCP ACK of no entry
 *          picks its connection up as established (sl_tc_pickup)
 *       -> TCX_NEXT, always (the programs after it in the chain still run).
 *
 * Egress is not filtered: the rules apply to XDP ingress only. This program
 * is what lets the replies of locally opened connections through a
 * `default: deny` firewall. It also sends the agent's DSR health checks
 * encapsulated to the VIP (bpf/lib/lb_hc.h).
 *
 * sl_tc_ingress (TC ingress, beside it): the second half of a SYN cookie
 * handshake, and the way out for SYN-ACKs where XDP_TX cannot be trusted
 * (a veth drops XDP_TX frames unless its peer has GRO or an XDP program).
 * XDP checked the cookie the ACK returns and left the handshake's options
 * in ct_ck_hand under the client's flow (struct sl_ck_hand, ct_cookie.h);
 * here the listener gets the request socket it never made, with
 * bpf_sk_assign_tcp_reqsk(), and the kernel creates the connection from
 * the ACK as it would from its own SYN queue. (The kernel's own syncookie
 * check would refuse the ACK: it only accepts cookies while its listener
 * has overflowed.) Every packet while no cookie was sent lately (the gate
 * of XDP's own ACK check): two loads and a compare; while cookies go out,
 * a TCP ACK or SYN-ACK also costs a parse and a lookup.
 *
 * ct_start is run once with BPF_PROG_TEST_RUN by every agent that loads this
 * object: it starts the conntrack sweepers, or moves running ones to this
 * object's callback (bpf/lib/conntrack.h).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "lib/conntrack.h"
#include "lib/ct_cookie.h"
#include "lib/lb_hc.h"
#include "lib/skb_parse.h"

extern int bpf_sk_assign_tcp_reqsk(struct __sk_buff *skb, struct sock *sk,
				   struct bpf_tcp_req_attrs *attrs, int attrs__sz) __ksym;

/*
 * Conntrack as BPF-to-BPF calls (the XDP firewall inlines it): inlined
 * into the parser's paths, the two table lookups once took the verifier
 * past its 1M-instruction budget; inlined now, clang reads skb->data
 * through a context pointer it has moved, which the verifier refuses.
 */
static __noinline int sl_tc_ct(struct __sk_buff *skb, struct sl_meta *m,
			       struct sl_ct_config *ctc, struct sl_ct_pkt *p)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;

	return sl_ct_track(data, data_end, m, ctc, p, skb->len, SL_CT_OPENED_OUT);
}

/*
 * A segment of a TCP connection this host has and conntrack does not (open
 * before the agent first started, or its entry flushed or evicted): an ACK
 * without SYN, FIN or RST, picked up as established, as netfilter's
 * nf_conntrack_tcp_loose does, so its replies are not cut by `default:
 * deny`. The host's stack sends one only for a socket it has (a segment of
 * no connection gets an RST), and what it grants, the replies of its
 * 4-tuple, a SYN from here would grant too; arriving, nothing is picked up.
 */
static __always_inline bool sl_tc_pickup(const struct sl_meta *m)
{
	/* never a segment to itself (sl_ct_track: no entry is ever of one) */
	return m->proto == SL_IPPROTO_TCP && m->has_ports && !sl_ct_self(m) &&
	       (m->tcp_flags & (SL_TCP_SYN | SL_TCP_ACK | SL_TCP_RST | SL_TCP_FIN)) == SL_TCP_ACK;
}

static __noinline void sl_tc_ct_create(struct __sk_buff *skb, const struct sl_meta *m,
				       struct sl_ct_pkt *p, struct sl_ct_config *ctc)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;

	sl_ct_pkt_keyed(m, p, ctc);
	/* what opens nothing and still comes here is a segment picked up */
	if (!p->start)
		p->start = SL_CT_ESTABLISHED;
	sl_ct_create(p, ctc, skb->len, SL_CT_OPENED_OUT,
		     sl_ct_l4(data, data_end, m, SL_TCP_HLEN));
}

SEC("tc")
int sluice_tc(struct __sk_buff *skb)
{
	struct sl_ct_config *ctc;
	struct sl_ct_pkt ctp;
	struct sl_meta m;
	__u32 key = 0;
	__u16 l3;

	ctc = bpf_map_lookup_elem(&ct_cfg, &key);
	if (!ctc || !ctc->stateful)
		return SL_TCX_NEXT;

	l3 = sl_skb_l3(skb);
	if ((l3 ? sl_skb_parse_l3(skb, &m, l3) : sl_skb_parse(skb, &m)) != SL_PARSE_IP)
		return SL_TCX_NEXT;

	if (sl_tc_ct(skb, &m, ctc, &ctp) == SL_CT_MISS && (ctp.start || sl_tc_pickup(&m)))
		sl_tc_ct_create(skb, &m, &ctp, ctc);
	/* a DSR health check of the agent's: on its way as client traffic goes */
	if ((skb->mark & SLUICE_LB_HC_MASK) == SLUICE_LB_HC_MARK)
		sl_lb_hc_encap(skb, &m);
	return SL_TCX_NEXT;
}

/*
 * Give the listener of the cookie ACK in SKB (parsed in M, options in CK)
 * its request socket: counted syncookie-accepted, or syncookie-failed (no
 * listener any more, or the kernel refused: the ACK then meets the
 * listener alone and is answered with an RST, as without sluice).
 */
static __noinline int sl_tc_ck_accept(struct __sk_buff *skb, const struct sl_meta *m,
				      const struct sl_ck_hand *ck)
{
	struct bpf_tcp_req_attrs attrs = {};
	struct bpf_sock_tuple t = {};
	struct tcp_sock *tp;
	struct bpf_sock *sk;
	__u32 size;
	int ret = -1;

	if (!skb || !m || !ck)
		goto out;
	if (m->family == 4) {
		t.ipv4.saddr = bpf_htonl(m->src4);
		t.ipv4.daddr = bpf_htonl(m->dst4);
		t.ipv4.sport = bpf_htons(m->sport);
		t.ipv4.dport = bpf_htons(m->dport);
		size = sizeof(t.ipv4);
	} else {
		__builtin_memcpy(t.ipv6.saddr, m->src6, 16);
		__builtin_memcpy(t.ipv6.daddr, m->dst6, 16);
		t.ipv6.sport = bpf_htons(m->sport);
		t.ipv6.dport = bpf_htons(m->dport);
		size = sizeof(t.ipv6);
	}
	sk = bpf_skc_lookup_tcp(skb, &t, size, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		goto out;
	if (sk->state != SL_BPF_TCP_LISTEN)
		goto release;
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		goto release;
	attrs.mss = ck->mss;
	if (ck->flags & SLUICE_CK_HAND_WSCALE) {
		attrs.wscale_ok = 1;
		attrs.snd_wscale = ck->snd_wscale;
		attrs.rcv_wscale = ck->rcv_wscale;
	}
	attrs.sack_ok = !!(ck->flags & SLUICE_CK_HAND_SACK);
	if (ck->flags & SLUICE_CK_HAND_TS) {
		attrs.tstamp_ok = 1;
		attrs.rcv_tsval = ck->tsval;
		attrs.rcv_tsecr = ck->tsecr;
	}
	ret = bpf_sk_assign_tcp_reqsk(skb, (struct sock *)tp, &attrs, sizeof(attrs));
release:
	bpf_sk_release(sk);
out:
	sl_ct_stat(ret ? SLUICE_CT_STAT_CK_FAILED : SLUICE_CT_STAT_CK_ACCEPTED);
	return ret;
}

/*
 * Take what XDP left in ct_ck_hand for SKB, a TCP packet parsed in M (the
 * linear part, as XDP parsed it), into CK: the flow a SYN-ACK answers (its
 * ACK is the client's ISN + 1), or the one an ACK completes (its sequence
 * number is the ISN + 1). The entry is deleted; 0 if there was one.
 */
static __noinline int sl_tc_ck_take(struct __sk_buff *skb, const struct sl_meta *m,
				    struct sl_ck_hand *ck)
{
	bool synack = (m->tcp_flags & SL_TCP_SYN) != 0;
	struct sl_ck_flow f;
	struct sl_ck_hand *h;
	__be32 n;

	if (!skb || !m || !ck || m->l4_off > SL_CT_L4_MAX ||
	    bpf_skb_load_bytes(skb, (__u32)m->l3_off + m->l4_off +
			       (synack ? SL_TCP_OFF_ACK : SL_TCP_OFF_SEQ), &n, sizeof(n)))
		return -1;
	/* the key as XDP wrote it: the client's side first (a SYN-ACK's is its destination) */
	sl_ck_flow_of(m, &f, bpf_ntohl(n) - 1);
	if (synack) {
		__u32 a[4];
		__be16 p = f.sport;

		__builtin_memcpy(a, f.saddr, sizeof(a));
		__builtin_memcpy(f.saddr, f.daddr, sizeof(a));
		__builtin_memcpy(f.daddr, a, sizeof(a));
		f.sport = f.dport;
		f.dport = p;
	}
	h = bpf_map_lookup_elem(&ct_ck_hand, &f);
	if (!h || h->magic != (synack ? SLUICE_CK_MAGIC_TX : SLUICE_CK_MAGIC))
		return -1;
	*ck = *h;
	bpf_map_delete_elem(&ct_ck_hand, &f);
	return 0;
}

SEC("tc")
int sl_tc_ingress(struct __sk_buff *skb)
{
	struct sl_ck_config *cfg = sl_ck_cfg();
	struct sl_ck_hand ck;
	struct sl_meta m;
	__u8 flags;

	/* XDP hands over nothing unless a cookie was sent lately */
	if (!cfg || cfg->mode == SLUICE_CK_OFF ||
	    !sl_ck_sent_recently(sl_ck_slot(sl_now() + SL_CK_AHEAD_NS)))
		return SL_TCX_NEXT;
	if (sl_skb_parse_eth(skb, &m, 0) != SL_PARSE_IP || m.proto != SL_IPPROTO_TCP ||
	    !m.has_ports)
		return SL_TCX_NEXT;
	flags = m.tcp_flags & (SL_TCP_SYN | SL_TCP_ACK | SL_TCP_RST);
	if ((flags != SL_TCP_ACK && flags != (SL_TCP_SYN | SL_TCP_ACK)) ||
	    sl_tc_ck_take(skb, &m, &ck))
		return SL_TCX_NEXT;
	/* a SYN-ACK XDP wrote where XDP_TX cannot be trusted: back out */
	if (ck.magic == SLUICE_CK_MAGIC_TX)
		return bpf_redirect(skb->ifindex, 0);
	sl_tc_ck_accept(skb, &m, &ck);
	return SL_TCX_NEXT;
}

SEC("tc")
int ct_start(struct __sk_buff *skb)
{
	return (int)sl_ct_sweep_start();
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
