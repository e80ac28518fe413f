// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluice XDP ingress: the stateless firewall.
 *
 *   frame -> parse (Ethernet, VLAN x2, IPv4/IPv6 + extension headers, L4)
 *         -> classify (DIR-24-8 / LPM6 / port / proto classes, bitmap AND)
 *         -> count (verdict, drop reason, rule) -> XDP_PASS or XDP_DROP
 *         (a drop also sends a rate-limited event to sl_events)
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "lib/firewall.h"

SEC("xdp")
int sluice_xdp(struct xdp_md *ctx)
{
	return sl_firewall_if((void *)(long)ctx->data, (void *)(long)ctx->data_end,
			      ctx->ingress_ifindex);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
