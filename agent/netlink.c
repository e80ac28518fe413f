// SPDX-License-Identifier: GPL-2.0-only
/*
 * rtnetlink: one dump of the links at start-up and after an overrun, and the
 * RTMGRP_LINK events in between. The monitor socket is opened before the
 * dump so that no link appears unseen between the two.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>

#include "log.h"
#include "netlink.h"

/* Link messages carry stats and per-VF data; a page is not always enough. */
#define NL_BUF_SIZE	(64 * 1024)
/* reads at most when discarding the events queued before an overrun */
#define NL_DRAIN_MAX	65536
/* listings taken in a row when link changes interrupt each */
#define NL_DUMP_TRIES	10

struct nl_cb_ctx {
	nl_link_fn fn;
	void *ctx;
};

static int link_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, IFLA_MAX) < 0)
		return MNL_CB_OK;
	if (type == IFLA_IFNAME && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0)
		return MNL_CB_OK;
	tb[type] = attr;
	return MNL_CB_OK;
}

/* IFLA_INFO_KIND out of IFLA_LINKINFO: the device's rtnetlink kind, or NULL. */
static int linkinfo_attr_cb(const struct nlattr *attr, void *data)
{
	const char **kind = data;

	if (mnl_attr_get_type(attr) == IFLA_INFO_KIND &&
	    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0)
		*kind = mnl_attr_get_str(attr);
	return MNL_CB_OK;
}

static int link_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[IFLA_MAX + 1] = {};
	struct nl_cb_ctx *c = data;
	struct ifinfomsg *ifm;
	struct nl_link l;

	if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
		return MNL_CB_OK;
	ifm = mnl_nlmsg_get_payload(nlh);
	mnl_attr_parse(nlh, sizeof(*ifm), link_attr_cb, tb);
	if (!tb[IFLA_IFNAME])
		return MNL_CB_OK;
	l.ifindex = ifm->ifi_index;
	l.name = mnl_attr_get_str(tb[IFLA_IFNAME]);
	l.flags = ifm->ifi_flags;
	l.type = ifm->ifi_type;
	l.kind = NULL;
	if (tb[IFLA_LINKINFO])
		mnl_attr_parse_nested(tb[IFLA_LINKINFO], linkinfo_attr_cb, &l.kind);
	l.has_parent = tb[IFLA_PARENT_DEV_NAME] != NULL;
	l.deleted = nlh->nlmsg_type == RTM_DELLINK;
	c->fn(c->ctx, &l);
	return MNL_CB_OK;
}

int nl_monitor_open(struct mnl_socket **out)
{
	struct mnl_socket *nl;
	int rcvbuf = 1 << 20;
	int fd, err;

	nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!nl) {
		err = -errno;
		pr_err("cannot open an rtnetlink socket: %s", strerror(errno));
		return err;
	}
	fd = mnl_socket_get_fd(nl);
	/* many veths created at once must not overrun the queue */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (mnl_socket_bind(nl, RTMGRP_LINK, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		pr_err("cannot subscribe to rtnetlink link events: %s", strerror(errno));
		mnl_socket_close(nl);
		return err;
	}
	*out = nl;
	return 0;
}

/*
 * After an overrun the kernel reports ENOBUFS before the events still queued,
 * and those are older than the hole: applied after the caller's new dump,
 * they would undo it (a link renamed into the patterns during the hole read
 * back under its old name and detached). Discard them; what happens from
 * here on is newer than the dump or in it, and replays to the same end.
 */
static void nl_discard(struct mnl_socket *nl, char *buf)
{
	for (int i = 0; i < NL_DRAIN_MAX; i++)
		if (mnl_socket_recvfrom(nl, buf, NL_BUF_SIZE) < 0 && errno != ENOBUFS &&
		    errno != EINTR)
			break;
}

int nl_monitor_read(struct mnl_socket *nl, nl_link_fn fn, void *ctx)
{
	struct nl_cb_ctx c = { .fn = fn, .ctx = ctx };
	char *buf = malloc(NL_BUF_SIZE);
	ssize_t n;
	int err = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		n = mnl_socket_recvfrom(nl, buf, NL_BUF_SIZE);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				break;
			err = -errno;
			if (err == -ENOBUFS)
				nl_discard(nl, buf);
			else
				pr_err("rtnetlink: %s", strerror(errno));
			break;
		}
		/* events are not answers to a request: no sequence or port check */
		if (mnl_cb_run(buf, n, 0, 0, link_msg_cb, &c) < 0 && errno != ENOENT)
			pr_warn("rtnetlink: bad event message: %s", strerror(errno));
	}
	free(buf);
	return err;
}

/* A link of a listing, kept until the listing is known to be whole. */
struct nl_link_copy {
	int ifindex;
	unsigned int flags;
	unsigned short type;
	bool has_parent;
	bool has_kind;
	char name[IFNAMSIZ];
	char kind[32];
};

struct nl_listing {
	struct nl_link_copy *v;
	size_t n, cap;
	int err;
};

static void listing_add(void *ctx, const struct nl_link *l)
{
	struct nl_listing *ls = ctx;
	struct nl_link_copy *c;

	if (ls->err)
		return;
	if (ls->n == ls->cap) {
		size_t cap = ls->cap ? 2 * ls->cap : 64;

		c = realloc(ls->v, cap * sizeof(*c));
		if (!c) {
			ls->err = -ENOMEM;
			return;
		}
		ls->v = c;
		ls->cap = cap;
	}
	c = &ls->v[ls->n++];
	memset(c, 0, sizeof(*c));
	c->ifindex = l->ifindex;
	c->flags = l->flags;
	c->type = l->type;
	c->has_parent = l->has_parent;
	snprintf(c->name, sizeof(c->name), "%s", l->name);
	c->has_kind = l->kind != NULL;
	if (l->kind)
		snprintf(c->kind, sizeof(c->kind), "%s", l->kind);
}

/*
 * One RTM_GETLINK dump into LS. -EINTR: the kernel marked it interrupted
 * (NLM_F_DUMP_INTR: links came or went between two of its parts, so the
 * listing may miss or repeat some); PART, when set, runs after each part.
 */
static int links_dump_once(struct nl_listing *ls, void (*part)(void *), void *part_ctx)
{
	struct nl_cb_ctx c = { .fn = listing_add, .ctx = ls };
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct rtgenmsg *rt;
	unsigned int seq, portid;
	char *buf;
	ssize_t n;
	int ret, err = 0;

	buf = malloc(NL_BUF_SIZE);
	if (!buf)
		return -ENOMEM;
	nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		pr_err("cannot open an rtnetlink socket: %s", strerror(errno));
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	seq = (unsigned int)time(NULL);

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	rt = mnl_nlmsg_put_extra_header(nlh, sizeof(*rt));
	rt->rtgen_family = AF_PACKET;

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		err = -errno;
		pr_err("cannot list the links: %s", strerror(errno));
		goto out;
	}
	for (;;) {
		n = mnl_socket_recvfrom(nl, buf, NL_BUF_SIZE);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			pr_err("cannot list the links: %s", strerror(errno));
			break;
		}
		/* libmnl reports a part marked NLM_F_DUMP_INTR as EINTR */
		ret = mnl_cb_run(buf, n, seq, portid, link_msg_cb, &c);
		if (ret < 0) {
			err = -errno;
			if (err != -EINTR)
				pr_err("cannot list the links: %s", strerror(errno));
			break;
		}
		if (ls->err) {
			err = ls->err;
			pr_err("cannot list the links: %s", strerror(-err));
			break;
		}
		if (ret == MNL_CB_STOP)
			break;
		if (part)
			part(part_ctx);
	}
out:
	if (nl)
		mnl_socket_close(nl);
	free(buf);
	return err;
}

int nl_links_dump_parts(nl_link_fn fn, void *ctx, void (*part)(void *), void *part_ctx)
{
	struct nl_listing ls = {};
	int err, tries = 0;

	/*
	 * A listing the kernel marks interrupted is taken again, up to
	 * NL_DUMP_TRIES times; FN sees one whole listing only (links that
	 * change meanwhile come as events on the monitor socket, opened first).
	 */
	do {
		ls.n = 0;
		ls.err = 0;
		err = links_dump_once(&ls, part, part_ctx);
	} while (err == -EINTR && ++tries < NL_DUMP_TRIES);
	if (err == -EINTR)
		pr_err("cannot list the links: interrupted by link changes %d times in a row",
		       NL_DUMP_TRIES);
	else if (tries)
		pr_info("rtnetlink: the link listing was interrupted by link changes: "
			"listed again (%d times)", tries);
	for (size_t i = 0; !err && i < ls.n; i++) {
		const struct nl_link_copy *c = &ls.v[i];
		struct nl_link l = {
			.ifindex = c->ifindex, .name = c->name, .flags = c->flags,
			.kind = c->has_kind ? c->kind : NULL, .has_parent = c->has_parent,
			.type = c->type,
		};

		fn(ctx, &l);
	}
	free(ls.v);
	return err;
}

int nl_links_dump(nl_link_fn fn, void *ctx)
{
	return nl_links_dump_parts(fn, ctx, NULL, NULL);
}
