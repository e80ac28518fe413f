/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The firewall stages: parse (sl_fw_begin), [conntrack] (sl_fw_track),
 * classify (sl_classify), count, verdict (sl_fw_rules); a stateful policy
 * with early deny rules classifies before conntrack instead and drops an
 * early deny's packets there (sl_fw_early). sluice_xdp runs them in its entry
 * program, then tail-calls the load balancer for what it allows;
 * sl_firewall_hook runs them the same way in one program (the tcx program,
 * and the benchmarks' single-program path in bench/bpf/bench_fw.h, so what
 * is measured is exactly what runs).
 *
 * Stateful (ct_cfg.stateful): a packet of a tracked connection, or an ICMP
 * error about one, passes before the rules, and so does the ACK of a SYN
 * cookie (ct_cookie.h); a packet a rule allows that can open a connection
 * (TCP SYN, UDP, ICMP echo request) starts tracking it, or, a SYN under SYN
 * cookies, is answered with one. Stateless: the only extra cost is reading
 * ct_cfg.
 */
#ifndef SLUICE_BPF_FIREWALL_H
#define SLUICE_BPF_FIREWALL_H

#include "classify.h"
#include "conntrack.h"
#include "ct_cookie.h"
#include "events.h"
#include "hook.h"
#include "parse.h"
#include "pipeline.h"
#include "stats.h"

#define SL_NEXT		(-1)	/* a stage's "go on": not an XDP verdict */
#define SL_ALLOW	(-2)	/* allowed: the caller passes it on (the LB, or XDP_PASS) */

/*
 * The policy slot of interface IFINDEX (or the default one), read once per
 * packet: false when there is none, i.e. no policy applied.
 */
static __always_inline bool sl_fw_slot(__u32 ifindex, __u32 *slot)
{
	__u32 *s;

	if (ifindex < SLUICE_IFSLOT_ARRAY) {
		s = bpf_map_lookup_elem(&sl_ifslot_a_v2, &ifindex);
		if (!s || !*s) {
			ifindex = SLUICE_IFSLOT_DEFAULT;
			s = bpf_map_lookup_elem(&sl_ifslot_a_v2, &ifindex);
			if (!s || !*s)
				return false;
		}
		*slot = *s - 1;
		return true;
	}
	s = bpf_map_lookup_elem(&sl_ifslot_v2, &ifindex);

	if (!s) {
		ifindex = SLUICE_IFSLOT_DEFAULT;
		s = bpf_map_lookup_elem(&sl_ifslot_v2, &ifindex);
		if (!s)
			return false;
	}
	*slot = *s;
	return true;
}

/* fw_cfg of policy slot SLOT; NULL when the slot is empty. */
static __always_inline struct fw_config *sl_fw_cfg(__u32 slot)
{
	__u32 key = 0;
	void *inner;

	inner = bpf_map_lookup_elem(&fwp_cfg, &slot);
	return inner ? bpf_map_lookup_elem(inner, &key) : NULL;
}

/* Conntrack settings when the firewall is stateful, else NULL. */
static __always_inline struct sl_ct_config *sl_fw_ct_cfg(void)
{
	struct sl_ct_config *ctc;
	__u32 key = 0;

	ctc = bpf_map_lookup_elem(&ct_cfg, &key);
	return ctc && ctc->stateful ? ctc : NULL;
}

/*
 * First stage on hook H: the policy slot of IFINDEX (the receiving
 * interface; 0 for the default slot) and its fw_cfg (*CFG), then parse into
 * P and check the CLI blocklist. SL_NEXT, or the verdict of a packet that needs no other rule.
 * BYTES: the packet's length (on tc, skb->len: a GRO packet is longer than
 * its linear part). L3: 0 for a frame from its Ethernet header; else the
 * ethertype (host order) of a packet from its IP header, as a device
 * without a link-layer header (tun, wireguard, ipip) hands it to tc
 * (sl_skb_l3): read as Ethernet, it was what its source address's first
 * octets said, nearly always not IP, and passed whatever the policy.
 */
static __always_inline int sl_fw_begin(enum sl_hook h, void *data, void *data_end, __u64 bytes,
				       __u32 ifindex, __u16 l3, struct fw_config **cfg,
				       struct sl_pipe *p)
{
	__u32 slot;

	/* No policy applied yet: the firewall is open. */
	if (!sl_fw_slot(ifindex, &slot))
		return sl_pass_h(h, bytes);
	*cfg = sl_fw_cfg(slot);
	if (!*cfg || !(*cfg)->active)
		return sl_pass_h(h, bytes);
	p->slot = slot;

	p->ctp.start = 0;
	p->lb.reply = 0;
	p->lb.to_vip = 0;
	p->bytes = bytes;
	p->ifindex = ifindex;
	/* untagged IPv4 TCP/UDP first, with fewer tests (parse.h) */
	if (l3 || __builtin_expect(!sl_parse_fast4(data, data_end, &p->m), 0)) {
		__builtin_memset(&p->m, 0, sizeof(p->m));
		switch (sl_parse_l3(data, data_end, bytes, l3, &p->m)) {
		case SL_PARSE_NONIP:
			return sl_pass_nonip_h(h, bytes);
		case SL_PARSE_DROP:
			return sl_drop_ev_h(h, p->m.reason, bytes, &p->m, SLUICE_EV_NO_RULE,
					    ifindex);
		}
	}
	/* the CLI blocklist (rule 0 when block is set): before conntrack, so it cuts flows */
	if (sl_blocked(*cfg, &p->m)) {
		__u32 e = sl_rule_entry(*cfg, slot, 0);

		if (e != SL_RULE_MISSING)
			sl_count(&fw_rule_cnt_v2, SLUICE_RULE_CNT(e), bytes);
		return sl_drop_rule(h, SLUICE_DROP_POLICY_RULE, bytes, &p->m, 0, ifindex, *cfg);
	}
	return SL_NEXT;
}

/*
 * Conntrack (CTC: stateful): a tracked or related packet is allowed
 * (SL_ALLOW), and so is the ACK of a valid SYN cookie (tracked from then
 * on); a bad cookie
 * to a port that always gets cookies is dropped; SL_NEXT otherwise. The
 * CLI blocklist (rule 0 when CFG->block) comes first: a block cuts a
 * tracked connection too. Without conntrack the rules see it first anyway.
 */
static __always_inline int sl_fw_track(void *ctx, enum sl_hook h, struct sl_pipe *p,
				       struct sl_ct_config *ctc)
{
	void *data = sl_hook_data(ctx, h), *data_end = sl_hook_data_end(ctx, h);

	/* a NAT reply (the load balancer's flow says so) is seen where the client's packets arrive */
	if (sl_ct_track(data, data_end, &p->m, ctc, &p->ctp, p->bytes,
			p->lb.reply ? 0 : SL_CT_OPENED_IN) != SL_CT_MISS)
		return SL_ALLOW;
	/* tc: sluice sends no cookie there (sl_fw_rules), so none comes back */
	if (h != SL_HOOK_XDP)
		return SL_NEXT;
	switch (sl_ck_ack((struct xdp_md *)ctx, &p->m, &p->ctp, ctc)) {
	case SL_CK_VALID:
		return SL_ALLOW;
	case SL_CK_BAD:
		return sl_drop_ev_h(h, SLUICE_DROP_SYNCOOKIE_BAD, p->bytes, &p->m,
				    SLUICE_EV_NO_RULE, p->ifindex);
	}
	return SL_NEXT;
}

/*
 * Early deny rules (CFG->early, stateful only: without conntrack every deny
 * is checked before anything passes anyway). RULE: the packet's
 * classification, made before conntrack; when its first match is an early
 * deny it is dropped here, counted on the rule, and conntrack is never
 * looked up (a blocked source cannot keep a tracked connection alive).
 * SL_NEXT otherwise: conntrack, then sl_fw_rules on the same RULE and its
 * entry, read here into *E (not read again).
 */
static __always_inline int sl_fw_early(enum sl_hook h, struct sl_pipe *p,
				       const struct fw_config *cfg, int rule, __u32 *e)
{
	*e = rule < 0 ? SL_RULE_MISSING : sl_rule_entry(cfg, p->slot, rule);
	if (*e == SL_RULE_MISSING || !(*e & SLUICE_RULE_EARLY))
		return SL_NEXT;
	sl_count(&fw_rule_cnt_v2, SLUICE_RULE_CNT(*e), p->bytes);
	return sl_drop_rule(h, SLUICE_DROP_POLICY_RULE, p->bytes, &p->m, rule, p->ifindex, cfg);
}

/*
 * The rules: count and verdict for RULE, the packet's classification
 * (sl_classify: made right before, or before conntrack when the policy has
 * early rules, never twice), and E, its entry (sl_rule_entry; SL_RULE_MISSING
 * when RULE < 0); SL_ALLOW, a drop, or a SYN cookie's
 * SYN-ACK sent back; an allowed packet may open a connection (CTX: the
 * packet, which conntrack may answer in place). A SYN for a load-balanced
 * service (P->lb.to_vip) is the backend's to answer: no cookie, even where
 * a local socket listens on the port. On tc (H) the SYN opens an entry and
 * goes on to the stack, where the kernel's own SYN cookies take a flood.
 */
static __always_inline int sl_fw_rules(void *ctx, enum sl_hook h, struct sl_pipe *p,
				       const struct fw_config *cfg, struct sl_ct_config *ctc,
				       int rule, __u32 e)
{
	__u64 bytes = p->bytes;

	if (rule == SL_NO_MATCH) {
		sl_count(&fw_rule_cnt_v2, cfg->cnt_default, bytes);
		if (cfg->default_action == SLUICE_ACT_ALLOW)
			return SL_ALLOW;
		return sl_drop_rule(h, SLUICE_DROP_POLICY_DEFAULT, bytes, &p->m,
				    SLUICE_RULE_DEFAULT, p->ifindex, cfg);
	}
	if (e == SL_RULE_MISSING)
		return sl_drop_ev_h(h, SLUICE_DROP_INTERNAL, bytes, &p->m, SLUICE_EV_NO_RULE,
				    p->ifindex);
	sl_count(&fw_rule_cnt_v2, SLUICE_RULE_CNT(e), bytes);
	if (e & SLUICE_RULE_ALLOW) {
		if (ctc && p->ctp.start) {
			/* a SYN under SYN cookies: answered, no state kept */
			if (h == SL_HOOK_XDP && p->ctp.start == SL_CT_SYN_SENT && !p->lb.to_vip) {
				switch (sl_ck_syn((struct xdp_md *)ctx, &p->m)) {
				case SL_CK_SYN_TX:
					return sl_tx(bytes);
				case SL_CK_SYN_TC:
					/* TC ingress sends it back out */
					sl_count_verdict(h, SLUICE_VERDICT_TX, bytes);
					return XDP_PASS;
				}
			}
			sl_ct_pkt_keyed(&p->m, &p->ctp, ctc);
			sl_ct_create(&p->ctp, ctc, bytes, SL_CT_OPENED_IN,
				     sl_ct_l4(sl_hook_data(ctx, h), sl_hook_data_end(ctx, h), &p->m,
					      SL_TCP_HLEN));
		}
		return SL_ALLOW;
	}
	return sl_drop_rule(h, SLUICE_DROP_POLICY_RULE, bytes, &p->m, rule, p->ifindex, cfg);
}

/*
 * The firewall's order after sl_fw_begin, one for every program (sluice_xdp,
 * and sl_firewall_hook below): conntrack (CFG stateful), then the rules for
 * what it did not know; with early deny rules (stateful only) the
 * classification first, an early deny dropped before conntrack. SL_ALLOW
 * (the caller passes it on) or a verdict. sl_classify has one call site
 * (inlined once per program); sl_fw_track two, one per order: written with
 * one (a jump back from the early check to it) the verifier refuses
 * sluice_xdp (E2BIG, too many instructions processed).
 */
static __always_inline int sl_fw_order(void *ctx, enum sl_hook h, struct sl_pipe *p,
				       const struct fw_config *cfg)
{
	struct sl_ct_config *ctc = sl_fw_ct_cfg();
	bool early = ctc && cfg->early;
	__u32 e = SL_RULE_MISSING;
	int v, rule;

	if (ctc && !early) {
		v = sl_fw_track(ctx, h, p, ctc);
		if (v != SL_NEXT)
			return v;
	}
	/* one call site: sl_classify is inlined once per program */
	rule = sl_classify(cfg, &p->m, p->slot);
	if (early) {
		v = sl_fw_early(h, p, cfg, rule, &e);
		if (v == SL_NEXT)
			v = sl_fw_track(ctx, h, p, ctc);
		if (v != SL_NEXT)
			return v;
	} else if (rule >= 0) {
		e = sl_rule_entry(cfg, p->slot, rule);
	}
	return sl_fw_rules(ctx, h, p, cfg, ctc, rule, e);
}

/*
 * The whole firewall in one program: the stages above as inline calls, the
 * state in P. The tcx ingress program (sluice_tcx: P is the per-CPU
 * sl_scratch, the stack is too small beside the classifier's) and the
 * benchmarks' single-program path; sluice_xdp runs the same stages, then
 * tail-calls the load balancer for what they allow (sluice_xdp.bpf.c). XDP
 * verdicts, whatever the hook H. L3: as sl_fw_begin takes it.
 */
static __always_inline int sl_firewall_hook(void *ctx, enum sl_hook h, __u32 ifindex,
					    __u64 bytes, __u16 l3, struct sl_pipe *p)
{
	struct fw_config *cfg = NULL;
	int v;

	v = sl_fw_begin(h, sl_hook_data(ctx, h), sl_hook_data_end(ctx, h), bytes, ifindex, l3,
			&cfg, p);
	if (v != SL_NEXT || !cfg)
		return v;
	v = sl_fw_order(ctx, h, p, cfg);
	return v == SL_ALLOW ? sl_pass_h(h, p->bytes) : v;
}

#endif /* SLUICE_BPF_FIREWALL_H */
