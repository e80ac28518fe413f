// SPDX-License-Identifier: GPL-2.0-only
/*
 * The TC backstop of egress (docs/egress.md): sl_eg_backstop on tcx ingress
 * of every interface a `backstop.interfaces` pattern matches (the host side
 * of a container's veth: what the container sends enters the host there),
 * one pinned link each at STATE/links/egtc_IFINDEX, adopted across
 * restarts like the firewall's links. The program finds the entry by the
 * packet's source address, so one pattern ("veth*") serves every container.
 */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "egress_int.h"
#include "loader.h"
#include "log.h"
#include "netlink.h"
#include "tcx.h"

static void bs_pin(const struct agent *a, int ifindex, char *buf, size_t len)
{
	if (eg_pin_path(a, buf, len, "egtc_%d", ifindex))
		buf[0] = '\0';
}

static struct eg_bs_iface *bs_find(struct agent_egress *eg, int ifindex)
{
	for (size_t i = 0; i < eg->nbs; i++)
		if (eg->bs[i].ifindex == ifindex)
			return &eg->bs[i];
	return NULL;
}

static struct eg_bs_iface *bs_add(struct agent_egress *eg, int ifindex, const char *name, int fd)
{
	struct eg_bs_iface *v = realloc(eg->bs, (eg->nbs + 1) * sizeof(*v));

	if (!v)
		return NULL;
	eg->bs = v;
	v = &v[eg->nbs++];
	memset(v, 0, sizeof(*v));
	v->ifindex = ifindex;
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->link_fd = fd;
	return v;
}

static void bs_forget(struct agent *a, struct eg_bs_iface *b, bool detach)
{
	char path[PATH_MAX];

	if (detach && bpf_link_detach(b->link_fd) && errno != ENOLINK && errno != EINVAL)
		pr_warn("%s: cannot detach the egress backstop: %s", b->name, strerror(errno));
	close(b->link_fd);
	bs_pin(a, b->ifindex, path, sizeof(path));
	if (path[0] && unlink(path) && errno != ENOENT)
		pr_warn("cannot unpin %s: %s", path, strerror(errno));
	*b = a->eg->bs[--a->eg->nbs];
}

/* Does a backstop pattern of the policy in force want NAME? Loopback: by exact name only. */
static bool bs_wanted(const struct agent *a, const char *name, unsigned int flags)
{
	if (!a->have_policy)
		return false;
	for (size_t i = 0; i < a->pol.negs; i++) {
		const struct sl_egress *e = &a->pol.egs[i];

		for (size_t k = 0; k < e->nbs_ifaces; k++) {
			if ((flags & IFF_LOOPBACK) ? !strcmp(e->bs_ifaces[k], name) :
			    !fnmatch(e->bs_ifaces[k], name, 0))
				return true;
		}
	}
	return false;
}

static void bs_attach(struct agent *a, int ifindex, const char *name)
{
	char path[PATH_MAX];
	int fd;

	fd = tcx_link_first(a->eg->backstop_fd, ifindex, SL_BPF_TCX_INGRESS);
	if (fd < 0) {
		pr_err("%s: cannot attach the egress backstop (tcx ingress): %s", name,
		       strerror(errno));
		return;
	}
	bs_pin(a, ifindex, path, sizeof(path));
	if (!path[0] || eg_pin(fd, path)) {
		pr_err("%s: cannot pin the egress backstop link at %s: %s", name, path,
		       strerror(errno));
		bpf_link_detach(fd);
		close(fd);
		return;
	}
	if (!bs_add(a->eg, ifindex, name, fd)) {
		unlink(path);
		bpf_link_detach(fd);
		close(fd);
		return;
	}
	pr_info("%s (ifindex %d): egress backstop attached (tcx ingress), pinned at %s", name,
		ifindex, path);
}

void egress_link_event(struct agent *a, const struct nl_link *l)
{
	struct eg_bs_iface *b;
	bool wanted;

	if (!a->eg)
		return;
	b = bs_find(a->eg, l->ifindex);
	if (l->deleted) {
		if (b) {
			pr_info("%s (ifindex %d) is gone: unpinning its egress backstop", b->name,
				b->ifindex);
			bs_forget(a, b, false);
		}
		return;
	}
	if (b) {
		b->seen = true;
		snprintf(b->name, sizeof(b->name), "%s", l->name);
	}
	wanted = bs_wanted(a, l->name, l->flags);
	if (b && !wanted && a->have_policy) {
		pr_info("%s (ifindex %d) no longer matches a backstop pattern: detaching it",
			b->name, b->ifindex);
		bs_forget(a, b, true);
	} else if (!b && wanted) {
		bs_attach(a, l->ifindex, l->name);
		b = bs_find(a->eg, l->ifindex);
		if (b)
			b->seen = true;
	}
}

static void dump_one(void *ctx, const struct nl_link *l)
{
	egress_link_event(ctx, l);
}

void egress_backstop_sync(struct agent *a)
{
	struct agent_egress *eg = a->eg;

	if (!eg)
		return;
	for (size_t i = 0; i < eg->nbs; i++)
		eg->bs[i].seen = false;
	if (nl_links_dump(dump_one, a))
		return;
	for (size_t i = 0; i < eg->nbs;) {
		if (eg->bs[i].seen) {
			i++;
			continue;
		}
		pr_info("%s (ifindex %d) is gone: unpinning its egress backstop", eg->bs[i].name,
			eg->bs[i].ifindex);
		bs_forget(a, &eg->bs[i], true);
	}
}

int etc_adopt(struct agent *a)
{
	char path[PATH_MAX], name[IF_NAMESIZE];
	struct dirent *de;
	int ifindex, n;
	DIR *d;

	d = opendir(a->links_dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		struct bpf_link_info info = {};
		__u32 len = sizeof(info);
		int fd;

		if (strncmp(de->d_name, "egtc_", 5) ||
		    path_join(path, sizeof(path), a->links_dir, de->d_name))
			continue;
		if (sscanf(de->d_name, "egtc_%d%n", &ifindex, &n) != 1 || de->d_name[n]) {
			pr_warn("%s: not a pin of sluiced; leaving it", path);
			continue;
		}
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		/* tcx and xdp link info share the union's first member, ifindex */
		if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.type != SL_BPF_LINK_TYPE_TCX ||
		    (int)info.xdp.ifindex != ifindex || !if_indextoname(ifindex, name) ||
		    link_moved_away(&info, ifindex, SL_BPF_TCX_INGRESS)) {
			pr_info("unpinning the stale link %s", path);
			unlink(path);
			close(fd);
			continue;
		}
		/* an upgrade: once this build's maps hold the policy (egress_move_pending) */
		if (!a->legacy_state && bpf_link_update(fd, a->eg->backstop_fd, NULL))
			pr_err("%s: cannot move the egress backstop to the new program: %s; the "
			       "previous program stays attached", name, strerror(errno));
		if (!bs_add(a->eg, ifindex, name, fd)) {
			close(fd);
			continue;
		}
		pr_info("%s (ifindex %d): adopted the pinned egress backstop (link id %u)", name,
			ifindex, info.id);
	}
	closedir(d);
	return 0;
}

int etc_move_pending(struct agent *a)
{
	int ret = 0;

	for (size_t i = 0; i < a->eg->nbs; i++) {
		struct eg_bs_iface *b = &a->eg->bs[i];

		if (bpf_link_update(b->link_fd, a->eg->backstop_fd, NULL)) {
			ret = -errno;
			pr_err("%s: cannot move the egress backstop to the new program: %s; the "
			       "previous program and policy stay attached", b->name,
			       strerror(errno));
		}
	}
	return ret;
}

int etc_detach_all(struct agent *a, struct json_object *names)
{
	while (a->eg->nbs) {
		struct eg_bs_iface *b = &a->eg->bs[a->eg->nbs - 1];

		if (names)
			json_object_array_add(names, json_object_new_string(b->name));
		bs_forget(a, b, true);
	}
	return 0;
}

void etc_release(struct agent *a)
{
	for (size_t i = 0; i < a->eg->nbs; i++)
		close(a->eg->bs[i].link_fd);
	free(a->eg->bs);
	a->eg->bs = NULL;
	a->eg->nbs = 0;
}

void etc_status(struct agent *a, struct json_object *arr)
{
	for (size_t i = 0; i < a->eg->nbs; i++) {
		const struct eg_bs_iface *b = &a->eg->bs[i];
		struct json_object *o = json_object_new_object();
		struct bpf_link_info info = {};
		__u32 len = sizeof(info);

		bpf_obj_get_info_by_fd(b->link_fd, &info, &len);
		json_object_object_add(o, "name", json_object_new_string(b->name));
		json_object_object_add(o, "ifindex", json_object_new_int(b->ifindex));
		json_object_object_add(o, "hook", json_object_new_string("egress-backstop"));
		json_object_object_add(o, "mode", json_object_new_string("tcx-ingress"));
		json_object_object_add(o, "attach", json_object_new_string("bpf_link"));
		json_object_object_add(o, "prog_id", json_object_new_int64(info.prog_id));
		json_object_object_add(o, "link_id", json_object_new_int64(info.id));
		json_object_array_add(arr, o);
	}
}
