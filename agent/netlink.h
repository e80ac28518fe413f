/* SPDX-License-Identifier: GPL-2.0-only */
/* rtnetlink through libmnl: the links of this netns and their changes. */
#ifndef SLUICED_NETLINK_H
#define SLUICED_NETLINK_H

#include <stdbool.h>

struct mnl_socket;

struct nl_link {
	int ifindex;
	const char *name;
	unsigned int flags;	/* IFF_* */
	const char *kind;	/* IFLA_INFO_KIND ("veth", "bridge"...), NULL: none (a NIC, lo) */
	bool has_parent;	/* on a bus device (IFLA_PARENT_DEV_NAME): a NIC */
	unsigned short type;	/* ARPHRD_*: ARPHRD_ETHER, or a device without Ethernet (tun) */
	bool deleted;		/* RTM_DELLINK */
};

typedef void (*nl_link_fn)(void *ctx, const struct nl_link *l);

/* A non-blocking socket subscribed to RTMGRP_LINK. */
int nl_monitor_open(struct mnl_socket **out);
/*
 * Read every pending event and call FN for each link message. Returns 0, or
 * -ENOBUFS when the kernel dropped events: the events queued before the
 * hole are discarded unread, and the caller must dump again.
 */
int nl_monitor_read(struct mnl_socket *nl, nl_link_fn fn, void *ctx);
/*
 * Call FN for every link of the netns (RTM_GETLINK dump), once the listing
 * is whole: one the kernel marks interrupted (links changed during it) is
 * taken again, a few times at most (then -EINTR, FN never called).
 */
int nl_links_dump(nl_link_fn fn, void *ctx);
/* The same, PART run after each part of each listing (tests: a change in the middle). */
int nl_links_dump_parts(nl_link_fn fn, void *ctx, void (*part)(void *), void *part_ctx);

#endif /* SLUICED_NETLINK_H */
