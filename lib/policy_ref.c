// SPDX-License-Identifier: GPL-2.0-only
/*
 * The reference classifier: the policy's meaning written as plainly as
 * possible, rule by rule, field by field. The compiled tables and the BPF
 * datapath must agree with it on every packet; it is deliberately slow and
 * obvious.
 */
#include <netinet/in.h>
#include <string.h>

#include "prefix.h"

static bool addr_match(const struct sl_policy *pol, const struct sl_addr_item *v, size_t n,
		       uint8_t family, const uint8_t *addr)
{
	if (n == 0)
		return true;	/* omitted: any address of any family */
	for (size_t i = 0; i < n; i++) {
		const struct sl_set *s;

		if (!v[i].is_set) {
			if (sl_prefix_contains(&v[i].pfx, family, addr))
				return true;
			continue;
		}
		s = v[i].set ? v[i].set : policy_find_set(pol, v[i].set_name);
		for (size_t k = 0; s && k < s->n; k++)
			if (sl_prefix_contains(&s->v[k], family, addr))
				return true;
	}
	return false;
}

static bool proto_match(uint32_t protos, uint8_t proto)
{
	if (!protos)
		return true;
	return ((protos & SL_PROTO_TCP) && proto == IPPROTO_TCP) ||
	       ((protos & SL_PROTO_UDP) && proto == IPPROTO_UDP) ||
	       ((protos & SL_PROTO_ICMP) && proto == IPPROTO_ICMP) ||
	       ((protos & SL_PROTO_ICMPV6) && proto == IPPROTO_ICMPV6);
}

/* A packet without ports never matches a rule that names ports. */
static bool port_match(const struct sl_port_range *v, size_t n, bool has_ports, uint16_t port)
{
	if (n == 0)
		return true;
	if (!has_ports)
		return false;
	for (size_t i = 0; i < n; i++)
		if (port >= v[i].lo && port <= v[i].hi)
			return true;
	return false;
}

int policy_ref_classify(const struct sl_policy *pol, const struct sl_firewall *fw,
			const struct sl_pkt *pkt)
{
	for (size_t i = 0; i < fw->nrules; i++) {
		const struct sl_rule *r = &fw->rules[i];

		if (addr_match(pol, r->src, r->nsrc, pkt->family, pkt->src) &&
		    addr_match(pol, r->dst, r->ndst, pkt->family, pkt->dst) &&
		    proto_match(r->protos, pkt->proto) &&
		    port_match(r->sport, r->nsport, pkt->has_ports, pkt->sport) &&
		    port_match(r->dport, r->ndport, pkt->has_ports, pkt->dport))
			return (int)i;
	}
	return -1;
}

enum sluice_action policy_ref_verdict(const struct sl_policy *pol, const struct sl_firewall *fw,
				      const struct sl_pkt *pkt)
{
	int i = policy_ref_classify(pol, fw, pkt);

	return i < 0 ? fw->default_action : fw->rules[i].action;
}
