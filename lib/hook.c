// SPDX-License-Identifier: GPL-2.0-only
/*
 * `hook: auto`: tcx ingress on virtual devices, XDP on NICs (SPEC). XDP on a
 * veth costs TCP throughput by itself (frames lose GRO and their size), tcx
 * does not; on a NIC, XDP drops before the kernel allocates an skb.
 *
 * The device's class comes from rtnetlink, not from sysfs or driver names:
 * /sys/class/net is the netns of whoever mounted sysfs (an agent entered into
 * a netns with nsenter sees the host's), and a list of virtual drivers is
 * never complete. Every device created through rtnetlink ops (veth, bridge,
 * vxlan, macvlan, ipvlan, dummy, tun, bond, vlan, wireguard...) has a kind;
 * a NIC has none and has a parent bus device; loopback has neither.
 */
#include <string.h>
#include <linux/if_arp.h>

#include "hook.h"

bool sl_dev_virtual(const char *kind, bool has_parent)
{
	return (kind && kind[0]) || !has_parent;
}

const char *sl_policy_xdp_only(const struct sl_policy *pol)
{
	/* the same list policy_check refuses at `hook: tc` (check_hooks) */
	if (pol->nlbs)
		return "the load balancer";
	if (pol->decap.present)
		return "decap";
	if (pol->ct.syncookies == SLUICE_CK_ALWAYS || pol->ct.nsyncookie_ports)
		return "SYN cookies sent by sluice";
	return NULL;
}

bool sl_dev_ethernet(unsigned short type)
{
	return type == ARPHRD_ETHER || type == ARPHRD_LOOPBACK;
}

enum sl_fw_hook sl_hook_resolve(const struct sl_policy *pol, enum sl_fw_hook want,
				const char *kind, bool has_parent, unsigned short type)
{
	/*
	 * XDP sees such a device's packet from its IP header and nothing says
	 * so: read as Ethernet, nearly every packet looked like non-IP and
	 * passed, whatever the policy (netns-tests/test_l3dev.py)
	 */
	if (!sl_dev_ethernet(type))
		return SL_FW_HOOK_TC;
	if (want != SL_FW_HOOK_AUTO)
		return want;
	if (sl_policy_xdp_only(pol) || !sl_dev_virtual(kind, has_parent))
		return SL_FW_HOOK_XDP;
	return SL_FW_HOOK_TC;
}
