/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Where an interface runs the firewall: a section's `hook:`, and what `auto`
 * resolves to on one device (docs/policy.md, "Hooks: XDP or tcx ingress").
 */
#ifndef SLUICE_HOOK_H
#define SLUICE_HOOK_H

#include <stdbool.h>

#include "policy.h"

/*
 * Is a device virtual? KIND is its rtnetlink kind (IFLA_INFO_KIND: "veth",
 * "bridge", "vxlan", "tun"...; NULL or "" when it has none), HAS_PARENT
 * whether it sits on a bus device (IFLA_PARENT_DEV_NAME, the
 * /sys/class/net/IF/device link). A NIC has a parent and no kind; anything
 * else (loopback, veth, bond, vlan, tap...) is virtual.
 */
bool sl_dev_virtual(const char *kind, bool has_parent);

/*
 * What in POL only XDP runs (the load balancer, decap, SYN cookies sent by
 * sluice), which `auto` therefore resolves to XDP on every interface; NULL
 * when nothing does.
 */
const char *sl_policy_xdp_only(const struct sl_policy *pol);

/*
 * Does a device of link type TYPE (ARPHRD_*, rtnetlink's ifi_type) hand its
 * hooks frames from an Ethernet header? Not tun, wireguard, ipip, gre...:
 * their packets start at the IP header.
 */
bool sl_dev_ethernet(unsigned short type);

/*
 * The hook (SL_FW_HOOK_XDP or SL_FW_HOOK_TC) an interface runs whose section
 * asks for WANT, on a device of KIND, HAS_PARENT and link type TYPE, under
 * POL: tcx on a device without Ethernet, whatever WANT (XDP there cannot
 * tell where the IP header starts; tcx can, bpf/lib/skb_parse.h sl_skb_l3).
 */
enum sl_fw_hook sl_hook_resolve(const struct sl_policy *pol, enum sl_fw_hook want,
				const char *kind, bool has_parent, unsigned short type);

#endif /* SLUICE_HOOK_H */
