/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The firewall stage: parse, [conntrack], classify, count, verdict. Shared
 * by the XDP entry program and the benchmark programs so that what is
 * measured is exactly what runs.
 *
 * Stateful (ct_cfg.stateful): a packet of a tracked connection, or an ICMP
 * error about one, passes before the rules; a packet a rule allows that can
 * open a connection (TCP SYN, UDP, ICMP echo request) starts tracking it.
 * Stateless: the only extra cost is reading ct_cfg.
 */
#ifndef SLUICE_BPF_FIREWALL_H
#define SLUICE_BPF_FIREWALL_H

#include "classify.h"
#include "conntrack.h"
#include "events.h"
#include "parse.h"
#include "stats.h"

/*
 * The stateful part, BPF-to-BPF calls rather than inlined: the stateless
 * path's code and register use stay as they were (measured: the same
 * stateless cost within noise; the stateful hit the same as inlined).
 * SL_CT_MISS when the rules must decide.
 */
static __noinline int sl_fw_ct(void *data, void *data_end, struct sl_meta *m,
			       struct sl_ct_config *ctc, struct sl_ct_pkt *p)
{
	return sl_ct_track(data, data_end, m, ctc, p, data_end - data);
}

static __noinline void sl_fw_ct_create(struct sl_ct_pkt *p, struct sl_ct_config *ctc,
				       __u64 bytes)
{
	sl_ct_create(p, ctc, bytes);
}

/* IFINDEX: the receiving interface, for drop events (0 when unknown). */
static __always_inline int sl_firewall_if(void *data, void *data_end, __u32 ifindex)
{
	__u64 bytes = data_end - data;
	struct sl_ct_config *ctc;
	struct fw_config *cfg;
	struct sl_ct_pkt ctp;
	struct sl_meta m;
	__u32 key = 0;
	int rule;

	cfg = bpf_map_lookup_elem(&fw_cfg, &key);
	/* No policy applied yet: the firewall is open. */
	if (!cfg || !cfg->active)
		return sl_pass(bytes);

	__builtin_memset(&m, 0, sizeof(m));
	switch (sl_parse(data, data_end, &m)) {
	case SL_PARSE_NONIP:
		return sl_pass_nonip(bytes);
	case SL_PARSE_DROP:
		return sl_drop_ev(m.reason, bytes, &m, SLUICE_EV_NO_RULE, ifindex);
	}

	/* the blocklist comes first: a block cuts a tracked connection too */
	if (sl_blocked(cfg, &m)) {
		sl_count(&fw_rule_cnt, 0, bytes);
		return sl_drop_ev(SLUICE_DROP_POLICY_RULE, bytes, &m, 0, ifindex);
	}

	ctp.start = 0;
	ctc = bpf_map_lookup_elem(&ct_cfg, &key);
	if (ctc && !ctc->stateful)
		ctc = NULL;
	if (ctc && sl_fw_ct(data, data_end, &m, ctc, &ctp) != SL_CT_MISS)
		return sl_pass(bytes);

	rule = sl_classify(cfg, &m);
	if (rule == SL_CLS_ERROR)
		return sl_drop_ev(SLUICE_DROP_INTERNAL, bytes, &m, SLUICE_EV_NO_RULE,
				  ifindex);
	if (rule == SL_NO_MATCH) {
		sl_count(&fw_rule_cnt, SLUICE_RULE_DEFAULT, bytes);
		if (cfg->default_action == SLUICE_ACT_ALLOW)
			return sl_pass(bytes);
		return sl_drop_ev(SLUICE_DROP_POLICY_DEFAULT, bytes, &m,
				  SLUICE_RULE_DEFAULT, ifindex);
	}
	sl_count(&fw_rule_cnt, rule, bytes);
	if (sl_rule_allows(cfg, rule)) {
		if (ctc && ctp.start)
			sl_fw_ct_create(&ctp, ctc, bytes);
		return sl_pass(bytes);
	}
	return sl_drop_ev(SLUICE_DROP_POLICY_RULE, bytes, &m, rule, ifindex);
}

static __always_inline int sl_firewall(void *data, void *data_end)
{
	return sl_firewall_if(data, data_end, 0);
}

#endif /* SLUICE_BPF_FIREWALL_H */
