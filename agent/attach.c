// SPDX-License-Identifier: GPL-2.0-only
/*
 * The firewall's attachment through bpf_link, XDP (libxdp's dispatcher does
 * not load on this kernel) or tcx ingress (a section's `hook: tc`: the same
 * stages and maps, bpf/lib/hook.h). A link is pinned at
 * STATE/links/xdp_IFINDEX or fwtc_IFINDEX, so it outlives the
 * agent: SIGTERM or a crash leaves the firewall in force, and the next agent
 * adopts the link as it is (same build) or swaps the new build's entry
 * program in with bpf_link_update, never detaching in between. Unpinning
 * the last reference detaches. Each attached interface has its word in
 * sl_ifslot, the policy slot it runs, written before its link exists.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>
#include <linux/if_link.h>

#include "agent.h"
#include "attach.h"
#include "conntrack.h"
#include "egress.h"
#include "fw_maps.h"
#include "hook.h"
#include "lb.h"
#include "loader.h"
#include "log.h"
#include "netlink.h"
#include "tcx.h"

static void link_pin_path(const struct agent *a, int ifindex, bool tc, char *buf, size_t len)
{
	char name[32];

	snprintf(name, sizeof(name), tc ? "fwtc_%d" : "xdp_%d", ifindex);
	/* links_dir is short: loader_paths checked it */
	if (path_join(buf, len, a->links_dir, name))
		buf[0] = '\0';
}

static bool xdp_generic(int ifindex);

static struct iface *iface_find(struct agent *a, int ifindex)
{
	for (size_t i = 0; i < a->nifaces; i++)
		if (a->ifaces[i].ifindex == ifindex)
			return &a->ifaces[i];
	return NULL;
}

static struct iface *iface_add(struct agent *a, int ifindex, const char *name, int link_fd)
{
	struct iface *v, *it;

	v = realloc(a->ifaces, (a->nifaces + 1) * sizeof(*v));
	if (!v)
		return NULL;
	a->ifaces = v;
	it = &v[a->nifaces++];
	memset(it, 0, sizeof(*it));
	it->ifindex = ifindex;
	snprintf(it->name, sizeof(it->name), "%s", name);
	it->link_fd = link_fd;
	it->dup_fd = -1;
	it->tc_link_fd[0] = it->tc_link_fd[1] = -1;
	return it;
}

/* Interfaces go to the load balancer (lb.c) once their fields are final. */
static struct iface *iface_added(struct agent *a, struct iface *it)
{
	if (it)
		lb_iface_added(a, it);
	return it;
}

/* Unpin IT's other hook's link (DETACH: take it off the interface too). */
static void dup_drop(struct agent *a, struct iface *it, bool detach)
{
	const char *hook = it->tc ? "XDP" : "tcx";
	char path[PATH_MAX];

	link_pin_path(a, it->ifindex, !it->tc, path, sizeof(path));
	if (detach && bpf_link_detach(it->dup_fd) && errno != ENOLINK && errno != EINVAL)
		pr_warn("%s: cannot detach the stale %s link: %s", it->name, hook,
			strerror(errno));
	if (unlink(path) && errno != ENOENT)
		pr_warn("cannot unpin %s: %s", path, strerror(errno));
	close(it->dup_fd);
	it->dup_fd = -1;
}

/*
 * IT has both hooks' links (adopted after a crash in the middle of a switch):
 * keep the one on hook TC, detach the other. Both filter until then, so the
 * interface is never without its firewall.
 */
static void dup_resolve(struct agent *a, struct iface *it, bool tc)
{
	if (it->tc != tc) {
		int fd = it->link_fd;

		it->link_fd = it->dup_fd;
		it->dup_fd = fd;
		it->tc = tc;
		it->generic = !tc && xdp_generic(it->ifindex);
	}
	pr_info("%s (ifindex %d): had both an XDP and a tcx link (a hook switch was cut short); "
		"keeping %s, detaching the other", it->name, it->ifindex,
		tc ? "tcx ingress" : "XDP");
	dup_drop(a, it, true);
	ct_links_sync(a);
}

/* Remove IT from the list; DETACH also takes the program off the interface. */
static void iface_forget(struct agent *a, struct iface *it, bool detach)
{
	char path[PATH_MAX];

	ct_iface_forget(a, it);
	lb_iface_gone(a, it);
	link_pin_path(a, it->ifindex, it->tc, path, sizeof(path));
	/* detach first: someone else (bpftool) may hold the link open */
	if (detach && bpf_link_detach(it->link_fd) && errno != ENOLINK && errno != EINVAL)
		pr_warn("%s: cannot detach the %s link: %s", it->name, attach_hook_name(it),
			strerror(errno));
	if (unlink(path) && errno != ENOENT)
		pr_warn("cannot unpin %s: %s", path, strerror(errno));
	if (it->dup_fd >= 0)
		dup_drop(a, it, detach);
	fw_ifslot_del(&a->fds, it->ifindex);
	close(it->link_fd);
	*it = a->ifaces[--a->nifaces];
}

/*
 * Does the policy want XDP on this link? Loopback only when named exactly:
 * a "*" pattern means the NICs, not the host's own traffic.
 */
static bool iface_wanted(const struct agent *a, const char *name, unsigned int flags)
{
	if (!a->have_policy)
		return false;
	/* decap interfaces are firewall interfaces too, unless there is no firewall */
	if (!a->pol.nfws && lb_decap_wants(&a->pol, name, flags & IFF_LOOPBACK))
		return true;
	if (flags & IFF_LOOPBACK)
		return policy_fw_for_name(&a->pol, name) >= 0;
	return policy_iface_match(&a->pol, name);
}

/* The section of POL interface NAME runs (-1: none), as iface_wanted picks it. */
static int iface_section(const struct sl_policy *pol, const char *name, bool loopback)
{
	return loopback ? policy_fw_for_name(pol, name) : policy_fw_for_iface(pol, name);
}

/*
 * Does interface L run the firewall on tcx ingress? Its section's `hook:`;
 * auto is tc on a virtual device, XDP on a NIC or where the policy has what
 * only XDP runs (lib/hook.c). *AUTO: the hook came from auto.
 */
static bool iface_hook_tc(const struct agent *a, const struct nl_link *l, bool loopback,
			  bool *from_auto)
{
	enum sl_fw_hook want;
	int sec;

	*from_auto = false;
	if (!a->have_policy || !a->pol.nfws)
		return false;
	sec = iface_section(&a->pol, l->name, loopback);
	if (sec < 0)
		return false;
	want = a->pol.fws[sec].hook;
	*from_auto = want == SL_FW_HOOK_AUTO;
	return sl_hook_resolve(&a->pol, want, l->kind, l->has_parent, l->type) == SL_FW_HOOK_TC;
}

/* The slot of the section NAME runs in the policy in force (a->slot: none known). */
static uint32_t iface_slot(const struct agent *a, const char *name, bool loopback)
{
	int sec = a->have_policy ? iface_section(&a->pol, name, loopback) : -1;

	if (!a->have_policy || !a->pol.nfws)
		sec = 0;
	return sec >= 0 && (size_t)sec < a->nsec_slots ? a->sec_slots[sec] : a->slot;
}

int attach_set_slots(struct agent *a, const struct sl_policy *pol, const uint32_t *slots,
		     size_t n)
{
	int ret = 0, err;

	for (size_t i = 0; i < a->nifaces; i++) {
		struct iface *it = &a->ifaces[i];
		int sec = pol->nfws ? iface_section(pol, it->name, it->loopback) : 0;

		/* not wanted any more: attach_sync detaches it; it keeps its slot till then */
		if (sec < 0 || (size_t)sec >= n)
			continue;
		err = fw_ifslot_set(&a->fds, it->ifindex, slots[sec]);
		if (err) {
			if (!ret)
				ret = err;
			pr_err("%s: cannot switch to policy slot %u: %s", it->name, slots[sec],
			       strerror(-err));
		}
	}
	return ret;
}

const char *attach_mode_name(const struct iface *it)
{
	if (it->tc)
		return "tcx";
	return it->generic ? "generic" : "native";
}

const char *attach_hook_name(const struct iface *it)
{
	return it->tc ? "tc" : "xdp";
}

/*
 * A new firewall link on IFINDEX, XDP or (TC) tcx ingress, pinned; its fd,
 * or -errno. *GENERIC: XDP fell back to generic mode.
 */
static int link_new(struct agent *a, int ifindex, const char *name, bool tc, bool *generic)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = XDP_FLAGS_DRV_MODE);
	char path[PATH_MAX];
	int fd, err;

	*generic = false;
	if (tc) {
		fd = tcx_link_first(a->tcx_fd, ifindex, SL_BPF_TCX_INGRESS);
		if (fd < 0) {
			err = -errno;
			pr_err("%s: cannot attach the firewall to tcx ingress: %s", name,
			       strerror(errno));
			return err;
		}
	} else {
		fd = bpf_link_create(agent_prog_fd(a), ifindex, BPF_XDP, &opts);
	}
	if (fd < 0) {
		int drv_err = errno;

		opts.flags = XDP_FLAGS_SKB_MODE;
		fd = bpf_link_create(agent_prog_fd(a), ifindex, BPF_XDP, &opts);
		if (fd < 0) {
			err = -errno;
			pr_err("%s: cannot attach XDP: %s (native mode: %s)", name,
			       strerror(errno), strerror(drv_err));
			return err;
		}
		*generic = true;
		pr_info("%s: native XDP failed (%s), using generic mode", name,
			strerror(drv_err));
	}
	link_pin_path(a, ifindex, tc, path, sizeof(path));
	/* a pin for this ifindex that was not adopted belongs to a dead link */
	if (unlink(path) && errno != ENOENT)
		pr_warn("cannot unpin %s: %s", path, strerror(errno));
	if (bpf_obj_pin(fd, path) || chmod(path, 0600)) {
		err = -errno;
		pr_err("%s: cannot pin the %s link at %s: %s", name, tc ? "tcx" : "XDP", path,
		       strerror(errno));
		unlink(path);
		/* an unpinned link would vanish with the agent: do not keep it */
		bpf_link_detach(fd);
		close(fd);
		return err;
	}
	return fd;
}

/* IFINDEX attaches, is gone or is no longer wanted: not a failure any more. */
static void ifail_del(struct agent *a, int ifindex)
{
	for (size_t i = 0; i < a->nifails; i++) {
		if (a->ifails[i].ifindex == ifindex) {
			a->ifails[i] = a->ifails[--a->nifails];
			return;
		}
	}
}

/*
 * Interface NAME is wanted and not attached, after ERR (-errno): kept for
 * `status`, which would otherwise not name it at all. Another XDP program
 * on it (EEXIST/EBUSY) is said as such: sluice does not replace it.
 */
static void ifail_set(struct agent *a, int ifindex, const char *name, bool tc, int err)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	struct iface_fail *f = NULL, *v;

	for (size_t i = 0; i < a->nifails && !f; i++)
		if (a->ifails[i].ifindex == ifindex)
			f = &a->ifails[i];
	if (!f) {
		v = realloc(a->ifails, (a->nifails + 1) * sizeof(*v));
		if (!v)
			return;
		a->ifails = v;
		f = &v[a->nifails++];
		f->ifindex = ifindex;
	}
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->held = !tc && (err == -EEXIST || err == -EBUSY) && !bpf_xdp_query(ifindex, 0, &q) &&
		  q.prog_id;
	/* fds or memory may be free a moment later: the interface must not stay open */
	f->retry = !f->held && (err == -EMFILE || err == -ENFILE || err == -ENOMEM);
	if (f->held) {
		snprintf(f->why, sizeof(f->why), "another XDP program is attached (prog id %u, "
			 "%s mode); sluice does not replace it", q.prog_id,
			 q.attach_mode == XDP_ATTACHED_SKB ? "generic" : "native");
		pr_err("%s: %s: not filtered", name, f->why);
	} else
		snprintf(f->why, sizeof(f->why), "cannot attach %s: %s", tc ? "tcx" : "XDP",
			 strerror(-err));
}

struct json_object *attach_status_failed(const struct agent *a)
{
	struct json_object *arr = json_object_new_array();

	for (size_t i = 0; i < a->nifails; i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(a->ifails[i].name));
		json_object_object_add(o, "ifindex", json_object_new_int(a->ifails[i].ifindex));
		json_object_object_add(o, "error", json_object_new_string(a->ifails[i].why));
		json_object_array_add(arr, o);
	}
	return arr;
}

static int iface_attach(struct agent *a, const struct nl_link *l)
{
	bool loopback = l->flags & IFF_LOOPBACK, from_auto, generic;
	bool tc = iface_hook_tc(a, l, loopback, &from_auto);
	int ifindex = l->ifindex;
	const char *name = l->name;
	char path[PATH_MAX];
	struct iface *it;
	int fd, err;

	/* its policy first: the program passes what has no slot */
	err = fw_ifslot_set(&a->fds, ifindex, iface_slot(a, name, loopback));
	if (err) {
		pr_err("%s: cannot set its policy slot: %s", name, strerror(-err));
		return err;
	}
	if (tc && !sl_dev_ethernet(l->type))
		pr_info("%s: no Ethernet header (link type %u): the firewall runs on tcx ingress",
			name, l->type);
	fd = link_new(a, ifindex, name, tc, &generic);
	/* not where XDP would read the IP header as Ethernet (lib/hook.c) */
	if (fd < 0 && tc && from_auto && sl_dev_ethernet(l->type)) {
		/* auto asked for tcx, which this kernel may lack (6.6+): XDP serves */
		pr_info("%s: hook auto: tcx ingress failed, attaching XDP", name);
		tc = false;
		fd = link_new(a, ifindex, name, tc, &generic);
	}
	if (fd < 0) {
		fw_ifslot_del(&a->fds, ifindex);
		ifail_set(a, ifindex, name, tc, fd);
		return fd;
	}
	ifail_del(a, ifindex);
	link_pin_path(a, ifindex, tc, path, sizeof(path));
	it = iface_add(a, ifindex, name, fd);
	if (!it) {
		pr_err("%s: out of memory", name);
		unlink(path);
		bpf_link_detach(fd);
		close(fd);
		fw_ifslot_del(&a->fds, ifindex);
		return -ENOMEM;
	}
	it->tc = tc;
	it->hook_auto = from_auto;
	it->generic = generic;
	it->loopback = loopback;
	iface_added(a, it);
	pr_info("%s (ifindex %d): the firewall attached on %s (%s%s), pinned at %s", name,
		ifindex, tc ? "tcx ingress" : "XDP", attach_mode_name(it),
		from_auto ? ", hook auto" : "", path);
	return 0;
}

/*
 * IT's section changed its hook: the new link first, then the old one goes,
 * so the interface is never without its firewall (both run for a moment, on
 * the same maps). The SYN cookie helper leaves a tc interface before its
 * firewall link comes (ct_links_sync): it would end the tcx chain first.
 */
static void iface_switch_hook(struct agent *a, struct iface *it, bool from_auto)
{
	bool tc = !it->tc, generic;
	char path[PATH_MAX];
	const char *fail;
	int fd;

	if (tc) {
		it->tc = true;
		ct_links_sync(a);
		it->tc = false;
	}
	fd = link_new(a, it->ifindex, it->name, tc, &generic);
	if (fd < 0) {
		pr_err("%s: the firewall stays on %s", it->name, attach_hook_name(it));
		ct_links_sync(a);
		return;
	}
	/* tests: die with both links pinned (netns-tests/test_hook_auto.py) */
	fail = getenv("SLUICE_FAIL_SWITCH");
	if (fail && !strcmp(fail, "kill-with-both-links"))
		raise(SIGKILL);
	link_pin_path(a, it->ifindex, it->tc, path, sizeof(path));
	if (bpf_link_detach(it->link_fd) && errno != ENOLINK && errno != EINVAL)
		pr_warn("%s: cannot detach the %s link: %s", it->name, attach_hook_name(it),
			strerror(errno));
	if (unlink(path) && errno != ENOENT)
		pr_warn("cannot unpin %s: %s", path, strerror(errno));
	close(it->link_fd);
	it->link_fd = fd;
	it->tc = tc;
	it->hook_auto = from_auto;
	it->generic = generic;
	pr_info("%s (ifindex %d): the firewall moved to %s (%s%s)", it->name, it->ifindex,
		tc ? "tcx ingress" : "XDP", attach_mode_name(it), from_auto ? ", hook auto" : "");
	ct_links_sync(a);
}

static bool xdp_generic(int ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (bpf_xdp_query(ifindex, 0, &q))
		return false;
	return q.attach_mode == XDP_ATTACHED_SKB;
}

/* Adopt the pinned link at PATH for IFINDEX (TC: tcx), or unpin it when it is stale. */
static void adopt_one(struct agent *a, const char *path, int ifindex, bool tc)
{
	__u32 type = tc ? SL_BPF_LINK_TYPE_TCX : BPF_LINK_TYPE_XDP;
	int prog = tc ? a->tcx_fd : agent_prog_fd(a);
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	char name[IF_NAMESIZE];
	const char *why = NULL;
	struct iface *it;
	__u32 slot;
	int fd;

	fd = bpf_obj_get(path);
	if (fd < 0) {
		pr_warn("cannot open the pinned link %s: %s; unpinning it", path,
			strerror(errno));
		unlink(path);
		return;
	}
	/* tcx and xdp link info share the union's first member, ifindex */
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.type != type)
		why = tc ? "not a tcx link" : "not an XDP link";
	else if (info.xdp.ifindex == 0)
		why = "its interface is gone";
	else if ((int)info.xdp.ifindex != ifindex)
		why = "it belongs to another interface";
	else if (!if_indextoname(ifindex, name))
		why = "its interface is gone";
	else if (link_moved_away(&info, ifindex, tc ? SL_BPF_TCX_INGRESS : BPF_XDP))
		why = "its interface moved to another network namespace (this ifindex is "
		      "another interface now)";
	else if (a->have_policy && !iface_wanted(a, name, 0))
		why = "the interface no longer matches the policy";
	if (why) {
		pr_info("unpinning the stale link %s: %s", path, why);
		if (info.type == type && info.xdp.ifindex)
			bpf_link_detach(fd);
		unlink(path);
		close(fd);
		fw_ifslot_del(&a->fds, ifindex);
		return;
	}
	it = iface_find(a, ifindex);
	if (it && (it->tc == tc || it->dup_fd >= 0)) {
		close(fd);
		return;
	}
	/* a link from before per-interface slots: give it the policy in force first */
	if (a->in_force && fw_ifslot_get(&a->fds, ifindex, &slot))
		fw_ifslot_set(&a->fds, ifindex, a->slot);
	if (it) {
		/* the other hook's link beside it: a switch cut short; attach_sync picks */
		if (!a->legacy_state && info.prog_id != loader_fd_prog_id(prog) &&
		    bpf_link_update(fd, prog, NULL))
			pr_err("%s: cannot update the adopted %s link to the new program: %s",
			       name, tc ? "tcx" : "XDP", strerror(errno));
		it->dup_fd = fd;
		pr_info("%s (ifindex %d): adopted a second pinned link, %s (link id %u), "
			"beside the %s one: a hook switch was cut short", name, ifindex,
			tc ? "tcx" : "XDP", info.id, attach_hook_name(it));
		return;
	}
	if (a->legacy_state) {
		/*
		 * The previous layout's program reads maps this build does not
		 * write: it keeps the interface until the policy is in this
		 * build's maps (attach_move_pending), never unfiltered.
		 */
		it = iface_add(a, ifindex, name, fd);
		if (!it) {
			pr_err("%s: out of memory", name);
			close(fd);
			return;
		}
		it->move_pending = true;
		it->tc = tc;
		it->generic = !tc && xdp_generic(ifindex);
		pr_info("%s (ifindex %d): adopted the pinned %s link of the previous version "
			"(link id %u); it moves to build %s once the policy is applied", name,
			ifindex, tc ? "tcx" : "XDP", info.id, a->build);
		return;
	}
	if (info.prog_id == loader_fd_prog_id(prog)) {
		/* the same build: the link keeps its program (and ids) as they are */
	} else if (bpf_link_update(fd, prog, NULL)) {
		/* atomic program swap: the interface never runs without a firewall */
		pr_err("%s: cannot update the adopted %s link to the new program: %s; "
		       "the previous program stays attached", name, tc ? "tcx" : "XDP",
		       strerror(errno));
	} else {
		clock_gettime(CLOCK_MONOTONIC, &a->last_switch);
		pr_info("%s: the %s link now runs build %s (program id %u -> %u)", name,
			tc ? "tcx" : "XDP", a->build, info.prog_id, loader_fd_prog_id(prog));
	}
	it = iface_add(a, ifindex, name, fd);
	if (!it) {
		pr_err("%s: out of memory", name);
		close(fd);
		return;
	}
	it->tc = tc;
	it->generic = !tc && xdp_generic(ifindex);
	iface_added(a, it);
	pr_info("%s (ifindex %d): adopted the pinned %s link (%s, link id %u)",
		name, ifindex, tc ? "tcx" : "XDP", attach_mode_name(it), info.id);
}

int attach_move_pending(struct agent *a)
{
	int ret = 0;

	for (size_t i = 0; i < a->nifaces; i++) {
		struct iface *it = &a->ifaces[i];

		if (!it->move_pending)
			continue;
		/* atomic program swap: the interface never runs without a firewall */
		if (bpf_link_update(it->link_fd, it->tc ? a->tcx_fd : agent_prog_fd(a), NULL)) {
			ret = -errno;
			pr_err("%s: cannot update the adopted %s link to the new program: %s; "
			       "the previous program stays attached", it->name,
			       it->tc ? "tcx" : "XDP", strerror(errno));
			continue;
		}
		/* a second link (a switch cut short) moves too: it may be the one kept */
		if (it->dup_fd >= 0 &&
		    bpf_link_update(it->dup_fd, it->tc ? agent_prog_fd(a) : a->tcx_fd, NULL)) {
			pr_warn("%s: cannot update the second adopted link: %s; detaching it",
				it->name, strerror(errno));
			dup_drop(a, it, true);
		}
		it->move_pending = false;
		clock_gettime(CLOCK_MONOTONIC, &a->last_switch);
		pr_info("%s: the %s link now runs build %s", it->name, it->tc ? "tcx" : "XDP",
			a->build);
	}
	return ret;
}

int attach_adopt(struct agent *a)
{
	char path[PATH_MAX];
	struct dirent *de;
	int ifindex, n;
	bool tc;
	DIR *d;

	d = opendir(a->links_dir);
	if (!d) {
		int err = -errno;

		pr_err("cannot open %s: %s", a->links_dir, strerror(errno));
		return err;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (path_join(path, sizeof(path), a->links_dir, de->d_name))
			continue;
		/* TC links (tc_IFINDEX, tc_in_IFINDEX) are adopted by ct_links_sync, eg*: by
		 * egress_adopt */
		if (!strncmp(de->d_name, "tc_", 3) || !strncmp(de->d_name, "eg", 2))
			continue;
		tc = !strncmp(de->d_name, "fwtc_", 5);
		if (sscanf(de->d_name, tc ? "fwtc_%d%n" : "xdp_%d%n", &ifindex, &n) != 1 ||
		    de->d_name[n] != '\0' || ifindex <= 0) {
			pr_warn("%s: not a pin of sluiced; leaving it", path);
			continue;
		}
		adopt_one(a, path, ifindex, tc);
	}
	closedir(d);
	return 0;
}

/* Is the link FD still attached to IFINDEX? Unknown (no info): yes. */
static bool link_on(int fd, int ifindex, __u32 *id)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return true;
	*id = info.id;
	/* tcx and xdp link info share the union's first member, ifindex; 0: detached */
	return (int)info.xdp.ifindex == ifindex;
}

/*
 * Are IT's links (the firewall's, the conntrack TC ones) still on it? A link
 * detached behind the agent's back (`bpftool link detach`) says so in no
 * event: the interface would run unfiltered while status listed it.
 */
static bool iface_links_on(const struct iface *it, const char **what, __u32 *id)
{
	if (!link_on(it->link_fd, it->ifindex, id)) {
		*what = it->tc ? "tcx" : "XDP";
		return false;
	}
	for (int dir = 0; dir < CT_TC_DIRS; dir++) {
		if (it->tc_link_fd[dir] >= 0 && !it->tc_clsact[dir] &&
		    !link_on(it->tc_link_fd[dir], it->ifindex, id)) {
			*what = dir == CT_TC_EGRESS ? "TC egress" : "TC ingress";
			return false;
		}
	}
	return true;
}

/*
 * Did IT lose a link (*WHAT, id *ID)? Not asked while its links are being
 * moved (an upgrade) or a hook switch holds a second one.
 */
static bool iface_link_lost(const struct iface *it, const char **what, __u32 *id)
{
	return !it->move_pending && it->dup_fd < 0 && !iface_links_on(it, what, id);
}

/* IT's links are still on it, or it is forgotten (to be attached again): say which. */
static bool iface_check_links(struct agent *a, struct iface *it)
{
	const char *what;
	__u32 id = 0;

	if (!iface_link_lost(it, &what, &id))
		return true;
	pr_warn("%s (ifindex %d): its %s link (id %u) was detached by someone else; "
		"attaching the firewall again", it->name, it->ifindex, what, id);
	iface_forget(a, it, true);
	return false;
}

/*
 * Has the XDP program that held a wanted interface gone without an event
 * (its bpf_link detached: `bpftool link detach`)? Then it is attached now.
 */
static bool ifail_freed(const struct agent *a)
{
	for (size_t i = 0; i < a->nifails; i++)
		if (a->ifails[i].held && !xdp_runs(a->ifails[i].ifindex, 0))
			return true;
	return false;
}

int attach_audit(struct agent *a)
{
	bool lost = false;

	clock_gettime(CLOCK_MONOTONIC, &a->audit_last);
	for (size_t i = 0; i < a->nifaces && !lost; i++) {
		const char *what;
		__u32 id;

		lost = iface_link_lost(&a->ifaces[i], &what, &id);
	}
	if (!lost && ifail_freed(a)) {
		pr_info("another XDP program left a wanted interface without an event: "
			"listing the links again");
		lost = true;
	}
	for (size_t i = 0; i < a->nifails && !lost; i++)
		lost = a->ifails[i].retry;
	/* the link dump gives each interface's kind (hook auto) to attach it again */
	return lost ? attach_sync(a) : 0;
}

long attach_audit_timeout(const struct agent *a)
{
	long ms = ATTACH_AUDIT_MS - agent_ms_since(&a->audit_last);

	return ms > 0 ? ms : 0;
}

void attach_link_event(void *ctx, const struct nl_link *l)
{
	struct agent *a = ctx;
	struct iface *it = iface_find(a, l->ifindex);
	bool wanted, tc = false, from_auto = false;

	egress_link_event(a, l);
	if (l->deleted || !iface_wanted(a, l->name, l->flags))
		ifail_del(a, l->ifindex);
	if (l->deleted) {
		if (it) {
			pr_info("%s (ifindex %d) is gone: unpinning its %s link", it->name,
				it->ifindex, attach_hook_name(it));
			iface_forget(a, it, true);
		}
		return;
	}
	if (it && !iface_check_links(a, it))
		it = NULL;
	if (it) {
		it->seen = true;
		if (strcmp(it->name, l->name)) {
			pr_info("%s (ifindex %d) was renamed to %s", it->name, it->ifindex,
				l->name);
			snprintf(it->name, sizeof(it->name), "%s", l->name);
		}
	}
	wanted = iface_wanted(a, l->name, l->flags);
	if (it && wanted)
		tc = iface_hook_tc(a, l, it->loopback, &from_auto);
	if (it && !wanted && a->have_policy) {
		pr_info("%s (ifindex %d) no longer matches the policy: detaching %s",
			it->name, it->ifindex, attach_hook_name(it));
		iface_forget(a, it, true);
	} else if (it && wanted && a->have_policy && !it->move_pending && it->dup_fd >= 0) {
		dup_resolve(a, it, tc);
		it->hook_auto = from_auto;
	} else if (it && wanted && a->have_policy && !it->move_pending && it->tc != tc) {
		iface_switch_hook(a, it, from_auto);
	} else if (it && wanted && a->have_policy) {
		it->hook_auto = from_auto;
	} else if (!it && wanted) {
		if (!iface_attach(a, l)) {
			it = iface_find(a, l->ifindex);
			if (it)
				it->seen = true;
			ct_links_sync(a);
		}
	}
}

int attach_sync(struct agent *a)
{
	int err;

	for (size_t i = 0; i < a->nifaces; i++)
		a->ifaces[i].seen = false;
	err = nl_links_dump(attach_link_event, a);
	if (err)
		return err;
	/* links that vanished while no event told us (netlink overrun) */
	for (size_t i = 0; i < a->nifails;) {
		char name[IF_NAMESIZE];

		if (if_indextoname(a->ifails[i].ifindex, name))
			i++;
		else
			ifail_del(a, a->ifails[i].ifindex);
	}
	for (size_t i = 0; i < a->nifaces;) {
		struct iface *it = &a->ifaces[i];

		if (it->seen) {
			i++;
			continue;
		}
		pr_info("%s (ifindex %d) is gone: unpinning its %s link", it->name,
			it->ifindex, attach_hook_name(it));
		iface_forget(a, it, true);
	}
	ct_links_sync(a);
	egress_backstop_sync(a);
	return 0;
}

int attach_detach_all(struct agent *a, struct json_object *names)
{
	int ret = 0;

	while (a->nifaces) {
		struct iface *it = &a->ifaces[a->nifaces - 1];

		if (bpf_link_detach(it->link_fd) && errno != ENOLINK && !ret) {
			ret = -errno;
			pr_err("%s: cannot detach %s: %s", it->name, attach_hook_name(it),
			       strerror(errno));
		}
		if (it->dup_fd >= 0)
			dup_drop(a, it, true);
		if (names)
			json_object_array_add(names, json_object_new_string(it->name));
		pr_info("%s (ifindex %d): %s detached", it->name, it->ifindex,
			attach_hook_name(it));
		iface_forget(a, it, false);
	}
	return ret;
}

void attach_release_all(struct agent *a)
{
	ct_release(a);
	for (size_t i = 0; i < a->nifaces; i++) {
		close(a->ifaces[i].link_fd);
		if (a->ifaces[i].dup_fd >= 0)
			close(a->ifaces[i].dup_fd);
	}
	free(a->ifaces);
	a->ifaces = NULL;
	a->nifaces = 0;
	free(a->ifails);
	a->ifails = NULL;
	a->nifails = 0;
}
