/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The one place where the oracle's types meet the product's: the oracle's
 * packet as the compiler's struct sl_pkt, to ask fw_tables_classify about
 * it. Kept apart so that ref_policy.h includes nothing of lib/.
 */
#ifndef SLUICE_TESTS_REF_BRIDGE_H
#define SLUICE_TESTS_REF_BRIDGE_H

#include <string.h>
#include <sys/socket.h>

#include "policy.h"
#include "ref_policy.h"

static inline struct sl_pkt sl_pkt_of(const struct ref_pkt *pkt)
{
	struct sl_pkt p = {
		.family = pkt->v6 ? AF_INET6 : AF_INET, .proto = pkt->proto,
		.has_ports = pkt->has_ports, .sport = pkt->sport, .dport = pkt->dport,
	};

	memcpy(p.src, pkt->src, sizeof(p.src));
	memcpy(p.dst, pkt->dst, sizeof(p.dst));
	return p;
}

#endif /* SLUICE_TESTS_REF_BRIDGE_H */
