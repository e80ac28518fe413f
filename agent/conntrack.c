// SPDX-License-Identifier: GPL-2.0-only
/*
 * Conntrack in the agent (see conntrack.h). The ct maps are shared by both XDP
 * slots and the TC egress program: the loader pins them once under
 * STATE/maps/ and every object reuses the pins, so a restart keeps every
 * tracked connection. The table's shards are created here, once, into the
 * pinned arrays of maps ct4_shards (IPv4) and ct_shards (IPv6), which keep
 * them. Entries expire in the
 * kernel (one bpf_timer per shard): nothing here sweeps, and expiry goes on
 * while the agent is down.
 *
 * TC egress links are tcx bpf_links (kernel 6.6+), pinned at
 * STATE/links/tc_IFINDEX like the XDP links, adopted and switched to the
 * new program with bpf_link_update on restart. libbpf 1.1 has no
 * bpf_program__attach_tcx, but its bpf_link_create passes any attach type
 * through, so BPF_TCX_EGRESS is spelled out (tcx.h).
 *
 * Kernels without tcx get a clsact qdisc and a direct-action filter
 * (bpf_tc_attach) with a fixed handle and priority: not pinnable, but the
 * filter outlives the agent by itself, and the next agent replaces its
 * program in place (BPF_TC_F_REPLACE). SLUICED_TC_ATTACH=clsact forces this
 * path (tests).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "sluice_tc.skel.h"
#include "sluice_xdp.skel.h"

#include "abi_names.h"
#include "agent.h"
#include "conntrack.h"
#include "ct.h"
#include "loader.h"
#include "log.h"
#include "prefix.h"
#include "tcx.h"

#define SL_TC_HANDLE	0x5c1	/* clsact filter handle and priority of sluice */
#define SL_TC_PRIO	0xc1

#define CT_LIST_MAX	100000	/* entries in one ct-list answer (~25 MB of JSON) */
#define CT_RETRY_MS	200	/* sweepers that could not start: retry after */

/* The conntrack maps of sluice_abi.h before the table was sharded. */
#define CT_LEGACY_TBL	"ct_tbl"
#define CT_LEGACY_SYN	"ct_syn"

/* ---- maps and the TC program ---- */

/*
 * Start the sweepers, or move running ones to this agent's program: a
 * pending timer holds a reference on the program that set its callback, so
 * a previous agent's program goes once every sweeper runs ours. Run at
 * load and after every policy write to ct_cfg: a new tick takes effect at
 * once. bpf_timer_init allocates without sleeping and fails (-ENOMEM) for a
 * moment after a burst: what could not start is retried every CT_RETRY_MS.
 */
static void ct_start(struct agent *a)
{
	unsigned char pkt[64] = {};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = sizeof(pkt));
	struct itimerspec its = { .it_value = { .tv_nsec = CT_RETRY_MS * 1000000L } };

	if (!a->tc_skel)
		return;
	if (bpf_prog_test_run_opts(loader_prog_fd(a, a->tc_skel->progs.ct_start), &opts)) {
		/* entries are still treated as gone past their timeout */
		pr_err("cannot start the conntrack sweepers: %s; expired connections stay in "
		       "the table until LRU pressure evicts them", strerror(errno));
		return;
	}
	if (opts.retval == a->ct_shards) {
		if (a->ct_start_retries)
			pr_info("conntrack: all %u sweepers started", a->ct_shards);
		a->ct_start_retries = 0;
		pr_debug("conntrack: %u sweepers run this agent's program", opts.retval);
		return;
	}
	if (!a->ct_start_retries++)
		pr_warn("conntrack: %u of %u sweepers started (bpf_timer_init failed: ct stats "
			"timer-failed); retrying", opts.retval, a->ct_shards);
	if (a->ct_retry_fd >= 0)
		timerfd_settime(a->ct_retry_fd, 0, &its, NULL);
}

static void ct_retry(struct agent *a, struct ep_src *src, uint32_t events)
{
	uint64_t n;

	(void)src;
	(void)events;
	if (read(a->ct_retry_fd, &n, sizeof(n)) == sizeof(n))
		ct_start(a);
}

static int ct_retry_open(struct agent *a)
{
	a->ct_retry_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (a->ct_retry_fd < 0) {
		pr_err("cannot create a timerfd: %s", strerror(errno));
		return -errno;
	}
	a->ct_retry_src.fd = a->ct_retry_fd;
	a->ct_retry_src.ready = ct_retry;
	return agent_watch(a, &a->ct_retry_src, EPOLLIN);
}

static int ct_read_cfg(struct agent *a, struct sl_ct_config *cfg)
{
	__u32 key = 0;

	return bpf_map_lookup_elem(a->ct_cfg_fd, &key, cfg) ? -errno : 0;
}

/*
 * Write CFG to ct_cfg[0] with this table's shards, a new generation, and
 * the lookup filter as it is (ct_filter_next): a raised timeout adds its
 * raise to the filter's slack, written first with the timeouts in force,
 * so that a packet reading the map while it changes (the write is a copy,
 * not atomic for readers) sees the new slack before any longer timeout.
 */
static int ct_write_cfg(struct agent *a, struct sl_ct_config *cfg)
{
	struct sl_ct_config cur, first;
	bool have = !ct_read_cfg(a, &cur);
	__u32 key = 0;

	cfg->shards = a->ct_shards;
	cfg->gen = have ? cur.gen + 1 : 1;
	if (ct_filter_next(have ? &cur : NULL, cfg, ct_now_ns())) {
		first = cur;
		first.filter_slack = cfg->filter_slack;
		first.filter_until = cfg->filter_until;
		if (bpf_map_update_elem(a->ct_cfg_fd, &key, &first, BPF_ANY)) {
			pr_err("cannot write %s: %s", SLUICE_MAP_CT_CFG, strerror(errno));
			return -errno;
		}
	}
	/* without the stamps this agent's own inserts would not be covered */
	if (!a->ct_tbl.stamps)
		cfg->filter = 0;
	if (bpf_map_update_elem(a->ct_cfg_fd, &key, cfg, BPF_ANY)) {
		pr_err("cannot write %s: %s", SLUICE_MAP_CT_CFG, strerror(errno));
		return -errno;
	}
	a->ct_tbl.stamp_ns = ct_cfg_horizon_ns(cfg, ct_now_ns());
	return 0;
}

void ct_filter_start(struct agent *a)
{
	struct sl_ct_config cfg;
	uint64_t n = 0;
	__u32 key = 0;
	int err;

	if (!a->ct_tbl.stamps || ct_read_cfg(a, &cfg) || cfg.filter)
		return;
	/* the entries of earlier programs, which did not stamp them */
	err = ct_stamps_fill(&a->ct_tbl, ct_cfg_horizon_ns(&cfg, ct_now_ns()), &n);
	if (err) {
		pr_warn("conntrack: the lookup filter stays off: reading the table: %s",
			strerror(-err));
		return;
	}
	cfg.filter = 1;
	if (bpf_map_update_elem(a->ct_cfg_fd, &key, &cfg, BPF_ANY)) {
		pr_warn("conntrack: the lookup filter stays off: writing %s: %s",
			SLUICE_MAP_CT_CFG, strerror(errno));
		return;
	}
	pr_info("conntrack: lookup filter on (%llu entries stamped)", (unsigned long long)n);
}

/*
 * The shards of a previous agent are in the pinned ct_shards: adopt them
 * and their size. Else create them, sized by conntrack.max-entries.
 */
static int ct_shards_ensure(struct agent *a)
{
	struct ct_shard_info info;
	struct sl_ct_config cfg;
	int err;

	err = ct_shards_info(&a->ct_tbl, &info);
	if (err) {
		pr_err("%s/%s, %s: not a conntrack table of this version (%s): remove it with "
		       "'sluice teardown'", a->maps_dir, SLUICE_MAP_CT4, SLUICE_MAP_CT,
		       strerror(-err));
		return err;
	}
	if (!info.shards) {
		if (!a->ct_max_want)
			a->ct_max_want = SLUICE_CT_DEFAULT_MAX;
		err = ct_shards_create(&a->ct_tbl, a->ct_max_want, &a->ct_shards);
		if (err) {
			pr_err("cannot create the conntrack table (%u entries): %s",
			       a->ct_max_want, strerror(-err));
			return err;
		}
		err = ct_shards_info(&a->ct_tbl, &info);
		if (err) {
			/* the shards are reached by id, which the kernel allows CAP_SYS_ADMIN only */
			pr_err("cannot open the conntrack table's shards: %s%s", strerror(-err),
			       err == -EPERM ? " (opening a map by id needs CAP_SYS_ADMIN)" : "");
			return err;
		}
		pr_info("conntrack: %llu entries per family in %u shards, %llu unassured",
			(unsigned long long)info.capacity, info.shards,
			(unsigned long long)info.unassured_capacity);
	} else if (a->ct_max_want && a->ct_max_want != info.capacity) {
		pr_warn("conntrack.max-entries is %u but the pinned table holds %llu entries "
			"with live connections: it keeps its size until it is re-created "
			"('sluice teardown', then start sluiced)", a->ct_max_want,
			(unsigned long long)info.capacity);
	}
	a->ct_shards = info.shards;
	a->ct_max = info.capacity;
	a->ct_unassured_max = info.unassured_capacity;
	/* the datapath must see the shards before any packet is tracked */
	if (ct_read_cfg(a, &cfg)) {
		memset(&cfg, 0, sizeof(cfg));
		cfg.stateful = 1;
	}
	if (cfg.shards != a->ct_shards)
		return ct_write_cfg(a, &cfg);
	/* what this agent inserts (ct_shards_insert) is stamped for the timeouts in force */
	a->ct_tbl.stamp_ns = ct_cfg_horizon_ns(&cfg, ct_now_ns());
	return 0;
}

/*
 * A state dir of a sluice from before the sharded table has its
 * connections in the pinned LRU hashes ct_tbl and ct_syn, whose entries
 * began with a struct bpf_timer. Carry them over to the shards (the same
 * fields after the timer), then unpin the old maps: their timers go with
 * them. Connections are not lost by the upgrade.
 */
static void ct_migrate_legacy(struct agent *a)
{
	static const char *const names[] = { CT_LEGACY_TBL, CT_LEGACY_SYN };
	struct ct_legacy_entry {
		struct bpf_timer timer;
		struct sl_ct_entry e;
	} old;

	for (int t = 0; t < 2; t++) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);
		struct sl_ct_key k, next;
		char path[PATH_MAX];
		uint64_t moved = 0, failed = 0;
		bool first = true;
		int fd;

		if (path_join(path, sizeof(path), a->maps_dir, names[t]))
			continue;
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		if (bpf_obj_get_info_by_fd(fd, &info, &len) ||
		    info.key_size != sizeof(struct sl_ct_key) ||
		    info.value_size != sizeof(old)) {
			pr_warn("%s: not a conntrack table sluice knows; left alone", path);
			close(fd);
			continue;
		}
		while (!bpf_map_get_next_key(fd, first ? NULL : &k, &next)) {
			first = false;
			k = next;
			if (bpf_map_lookup_elem(fd, &k, &old))
				continue;
			/* opened before the side was recorded: either side proves the other end */
			old.e.opened = 0;
			if (!ct_shards_insert(&a->ct_tbl, a->ct_shards, &k, &old.e,
					      old.e.state == SL_CT_SYN_SENT ||
					      old.e.state == SL_CT_SYN_RECV))
				moved++;
			else
				failed++;
		}
		close(fd);
		if (unlink(path))
			pr_warn("cannot unpin %s: %s", path, strerror(errno));
		pr_info("conntrack: %llu connections carried over from %s (the table before "
			"shards)%s", (unsigned long long)moved, path,
			failed ? ", some could not be" : "");
	}
}

/* ---- SYN cookies ---- */

_Static_assert(CT_TC_DIRS == 2, "struct iface has tc_link_fd[2]");

/* Up to N integers of the sysctl file PATH into V: how many were read. */
static int sysctl_ints(const char *path, long *v, int n)
{
	FILE *f = fopen(path, "r");
	int got = 0;

	if (!f)
		return 0;
	while (got < n && fscanf(f, "%ld", &v[got]) == 1)
		got++;
	fclose(f);
	return got;
}

/* A TCP sysctl of this namespace that is on or off; DFLT when unreadable. */
static bool sysctl_on(const char *name, bool dflt)
{
	char path[128];
	long v;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/%s", name);
	return sysctl_ints(path, &v, 1) == 1 ? v != 0 : dflt;
}

/*
 * What the host's TCP accepts and announces, for the SYN-ACKs XDP writes in
 * its name: the options its sysctls allow (bpf_sk_assign_tcp_reqsk refuses
 * the others), and the window scale it would announce itself
 * (tcp_select_initial_window: the largest receive buffer it may grow to,
 * in 64 KiB units, as a power of two).
 */
static void ct_cookie_host(struct sl_ck_config *ck, uint32_t unassured_max)
{
	long rmem[3] = { 0, 0, 6291456 }, rmem_max = 0;
	int ncpus = libbpf_num_possible_cpus(), ws = 0;
	uint64_t space;

	ck->opts = 0;
	if (sysctl_on("tcp_timestamps", true))
		ck->opts |= SLUICE_CK_OPT_TS;
	if (sysctl_on("tcp_sack", true))
		ck->opts |= SLUICE_CK_OPT_SACK;
	if (sysctl_on("tcp_window_scaling", true))
		ck->opts |= SLUICE_CK_OPT_WSCALE;
	sysctl_ints("/proc/sys/net/ipv4/tcp_rmem", rmem, 3);
	sysctl_ints("/proc/sys/net/core/rmem_max", &rmem_max, 1);
	space = (uint64_t)(rmem[2] > rmem_max ? rmem[2] : rmem_max);
	while (ws < 14 && (space >> (ws + 16)))
		ws++;
	ck->rcv_wscale = (uint8_t)ws;
	/*
	 * Auto: pressure when, on one CPU, a window (250 ms) opens more
	 * handshakes than it completes by an eighth of the unassured shards
	 * per second, shared by the CPUs (16 at least).
	 */
	if (ncpus < 1)
		ncpus = 1;
	ck->press_min = unassured_max / 32 / (uint32_t)ncpus;
	if (ck->press_min < 16)
		ck->press_min = 16;
}

/*
 * Can XDP_TX be trusted on IT? Not on a veth in native mode: the kernel
 * drops what XDP sends back unless the peer has GRO or an XDP program of
 * its own, which the agent can neither see nor set (the peer is usually in
 * a container's namespace). Generic (skb) mode transmits like the stack.
 */
static bool iface_xdp_tx_ok(const struct iface *it)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr = { 0 };
	int fd, rc;

	if (it->generic)
		return true;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", it->name);
	ifr.ifr_data = (void *)&info;
	rc = ioctl(fd, SIOCETHTOOL, &ifr);
	close(fd);
	return !rc && strcmp(info.driver, "veth");
}

/*
 * Write ct_ck_cfg[0]: what the policy asked (a->ck_cfg), what the host's
 * TCP accepts, the interfaces whose SYN-ACKs leave through TC, and the
 * SipHash key of the pinned map, kept (cookies in flight stay valid).
 */
static int ct_cookie_write(struct agent *a)
{
	struct sl_ck_config *ck = calloc(2, sizeof(*ck)), *cur = ck + 1;
	__u32 key = 0;
	int err = 0;

	if (!ck)
		return -ENOMEM;
	memcpy(ck, a->ck_cfg, sizeof(*ck));
	ct_cookie_host(ck, a->ct_unassured_max);
	memset(ck->tx_tc, 0, sizeof(ck->tx_tc));
	for (size_t i = 0; i < a->nifaces; i++) {
		const struct iface *it = &a->ifaces[i];

		if (it->ifindex < 65536 && !iface_xdp_tx_ok(it))
			ck->tx_tc[it->ifindex / 64] |= 1ull << (it->ifindex % 64);
	}
	if (!bpf_map_lookup_elem(a->ct_ck_cfg_fd, &key, cur) && (cur->key[0] | cur->key[1]))
		memcpy(ck->key, cur->key, sizeof(ck->key));
	else if (getrandom(ck->key, sizeof(ck->key), 0) != sizeof(ck->key))
		err = -errno;
	if (err)
		pr_err("cannot make a SYN cookie key: %s", strerror(-err));
	else if (bpf_map_update_elem(a->ct_ck_cfg_fd, &key, ck, BPF_ANY))
		err = -errno;
	if (err)
		pr_err("cannot write %s: %s; SYN cookies keep their previous settings",
		       SLUICE_MAP_CT_CK_CFG, strerror(-err));
	free(ck);
	return err;
}

/*
 * Mark the slots around this start as ones SYN cookies were sent in
 * (ct_ck_sent): the previous slot, this one, the next (cookies the previous
 * programs answer until the links move to ours), and the one before the
 * previous (each word holds its residue's slot). The programs of a build
 * before ct_ck_sent sent cookies without marking it, and the map may be
 * new: their ACKs are checked for the next two or three slots (~2-3 min),
 * then only those after a cookie is sent again.
 */
static void ct_cookie_sent_mark(int fd)
{
	uint32_t s = (uint32_t)(ct_now_ns() >> SLUICE_CK_SLOT_SHIFT), key = 0;
	struct sl_ck_sent sent;

	for (uint32_t d = 0; d < SLUICE_CK_SENT_SLOTS; d++) {
		uint32_t slot = s + 1 - d;

		sent.slot[slot % SLUICE_CK_SENT_SLOTS] = slot;
	}
	if (bpf_map_update_elem(fd, &key, &sent, BPF_ANY))
		pr_warn("cannot write %s: %s; ACKs of SYN cookies sent before this start may be "
			"refused", SLUICE_MAP_CT_CK_SENT, strerror(errno));
}

int ct_load(struct agent *a)
{
	struct sluice_tc *skel;
	int err;

	skel = sluice_tc__open();
	if (!skel) {
		err = -errno;
		pr_err("cannot open the BPF object sluice_tc: %s", strerror(errno));
		return err;
	}
	a->tc_skel = skel;
	/* the XDP slots created and pinned these: reuse them */
	err = loader_prepare_obj(a, skel->obj);
	if (err)
		return err;
	err = sluice_tc__load(skel);
	if (err) {
		pr_err("cannot load the BPF program sluice_tc: %s (-v shows libbpf's log)",
		       strerror(-err));
		return err;
	}
	err = loader_pin_obj(a, skel->obj);
	if (err)
		return err;
	a->ct_tbl.fd4 = bpf_map__fd(skel->maps.ct4_shards);
	a->ct_tbl.fd6 = bpf_map__fd(skel->maps.ct_shards);
	a->ct_sweep_fd = bpf_map__fd(skel->maps.ct_sweep);
	a->ct_cfg_fd = bpf_map__fd(skel->maps.ct_cfg);
	a->ct_stats_fd = bpf_map__fd(skel->maps.ct_stats);
	a->ct_ck_cfg_fd = bpf_map__fd(skel->maps.ct_ck_cfg);
	a->ct_ck_load_fd = bpf_map__fd(skel->maps.ct_ck_load);
	a->ct_tbl.stamps = ct_stamps_map(bpf_map__fd(skel->maps.ct_stamp));
	if (!a->ct_tbl.stamps)
		pr_warn("conntrack: cannot map %s (%s): the lookup filter stays off",
			SLUICE_MAP_CT_STAMP, strerror(errno));
	ct_cookie_sent_mark(bpf_map__fd(skel->maps.ct_ck_sent));
	err = ct_retry_open(a);
	if (err)
		return err;
	err = ct_shards_ensure(a);
	if (err)
		return err;
	ct_migrate_legacy(a);
	ct_start(a);
	return 0;
}

void ct_unload(struct agent *a)
{
	if (a->ct_retry_fd >= 0) {
		agent_unwatch(a, &a->ct_retry_src);
		close(a->ct_retry_fd);
		a->ct_retry_fd = -1;
	}
	sluice_tc__destroy(a->tc_skel);
	a->tc_skel = NULL;
	free(a->ck_cfg);
	a->ck_cfg = NULL;
	ct_stamps_unmap(a->ct_tbl.stamps);
	a->ct_tbl.stamps = NULL;
	a->ct_tbl.fd4 = a->ct_tbl.fd6 = -1;
	a->ct_sweep_fd = a->ct_cfg_fd = a->ct_stats_fd = -1;
	a->ct_ck_cfg_fd = a->ct_ck_load_fd = -1;
}

int ct_apply(struct agent *a, const struct sl_policy *pol)
{
	struct sl_ct_config cfg;
	uint32_t max;
	int err;

	ct_config_compile(pol, &cfg, &max);
	err = ct_write_cfg(a, &cfg);
	if (err)
		return err;
	/* a failure is logged; the cookies keep their settings, the rest applies */
	if (!a->ck_cfg)
		a->ck_cfg = calloc(1, sizeof(*a->ck_cfg));
	if (a->ck_cfg) {
		ct_cookie_compile(pol, a->ck_cfg);
		ct_cookie_write(a);
	}
	/* a new tick takes effect at once */
	ct_start(a);
	if (max != a->ct_max && max != a->ct_max_want)
		pr_warn("conntrack.max-entries %u: the table keeps its %u entries until it is "
			"re-created ('sluice teardown', then start sluiced)", max, a->ct_max);
	a->ct_max_want = max;
	return 0;
}

/* ---- TC links: egress (conntrack), ingress (SYN cookies' second half) ---- */

static const struct tc_hook_def {
	const char *pin;	/* pin name prefix, then the ifindex */
	const char *what;	/* in messages and `status` */
	int tcx_type;		/* enum bpf_attach_type */
	int clsact;		/* enum bpf_tc_attach_point */
} tc_hooks[CT_TC_DIRS] = {
	[CT_TC_EGRESS] = { "tc_", "egress", SL_BPF_TCX_EGRESS, BPF_TC_EGRESS },
	[CT_TC_INGRESS] = { "tc_in_", "ingress", SL_BPF_TCX_INGRESS, BPF_TC_INGRESS },
};

static void tc_pin_path(const struct agent *a, int dir, int ifindex, char *buf, size_t len)
{
	char name[32];

	snprintf(name, sizeof(name), "%s%d", tc_hooks[dir].pin, ifindex);
	if (path_join(buf, len, a->links_dir, name))
		buf[0] = '\0';
}

static int tc_prog_fd(const struct agent *a, int dir)
{
	if (!a->tc_skel)
		return -1;
	return loader_prog_fd(a, dir == CT_TC_EGRESS ? a->tc_skel->progs.sluice_tc :
			      a->tc_skel->progs.sl_tc_ingress);
}

/*
 * The pinned link of IT in direction DIR when it is a tcx link of that
 * direction on IT's interface, else -1 (pin removed).
 */
static int tc_adopt(struct agent *a, struct iface *it, int dir, const char *path)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info), type = 0;
	int fd = bpf_obj_get(path);

	if (fd < 0)
		return -1;
	/* tcx link info: ifindex (where xdp has it), then the attach type */
	if (!bpf_obj_get_info_by_fd(fd, &info, &len))
		memcpy(&type, (char *)&info.xdp + sizeof(info.xdp.ifindex), sizeof(type));
	if (info.type != SL_BPF_LINK_TYPE_TCX || (int)info.xdp.ifindex != it->ifindex ||
	    (int)type != tc_hooks[dir].tcx_type ||
	    link_moved_away(&info, it->ifindex, tc_hooks[dir].tcx_type)) {
		pr_info("unpinning the stale link %s", path);
		unlink(path);
		close(fd);
		return -1;
	}
	if (bpf_link_update(fd, tc_prog_fd(a, dir), NULL)) {
		pr_err("%s: cannot update the adopted TC %s link to the new program: %s; "
		       "the previous program stays attached", it->name, tc_hooks[dir].what,
		       strerror(errno));
	} else {
		pr_info("%s (ifindex %d): adopted the pinned TC %s link (link id %u)",
			it->name, it->ifindex, tc_hooks[dir].what, info.id);
	}
	return fd;
}

static int tc_clsact_attach(struct agent *a, struct iface *it, int dir, int tcx_err)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = it->ifindex,
		    .attach_point = tc_hooks[dir].clsact);
	LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = tc_prog_fd(a, dir), .handle = SL_TC_HANDLE,
		    .priority = SL_TC_PRIO, .flags = BPF_TC_F_REPLACE);
	int err;

	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST) {
		pr_err("%s: cannot create the clsact qdisc: %s", it->name, strerror(-err));
		return err;
	}
	err = bpf_tc_attach(&hook, &opts);
	if (err) {
		pr_err("%s: cannot attach the TC %s program (clsact): %s", it->name,
		       tc_hooks[dir].what, strerror(-err));
		return err;
	}
	it->tc_clsact[dir] = true;
	pr_info("%s (ifindex %d): TC %s attached as a clsact filter (tcx: %s)", it->name,
		it->ifindex, tc_hooks[dir].what, tcx_err ? strerror(tcx_err) : "not used");
	return 0;
}

static void tc_clsact_detach(struct iface *it, int dir)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = it->ifindex,
		    .attach_point = tc_hooks[dir].clsact);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = SL_TC_HANDLE, .priority = SL_TC_PRIO);
	int err = bpf_tc_detach(&hook, &opts);

	/* the qdisc stays: other tools may have filters on it */
	if (err && err != -ENOENT && err != -ENODEV)
		pr_warn("%s: cannot remove the clsact filter: %s", it->name, strerror(-err));
	it->tc_clsact[dir] = false;
}

static bool tc_force_clsact(void)
{
	const char *v = getenv("SLUICED_TC_ATTACH");

	return v && !strcmp(v, "clsact");
}

static void tc_attach(struct agent *a, struct iface *it, int dir)
{
	char path[PATH_MAX];
	int fd;

	tc_pin_path(a, dir, it->ifindex, path, sizeof(path));
	fd = tc_adopt(a, it, dir, path);
	if (fd >= 0) {
		it->tc_link_fd[dir] = fd;
		return;
	}
	if (!a->have_policy)
		return;
	if (tc_force_clsact()) {
		tc_clsact_attach(a, it, dir, 0);
		return;
	}
	fd = tcx_link_first(tc_prog_fd(a, dir), it->ifindex, tc_hooks[dir].tcx_type);
	if (fd < 0) {
		int tcx_err = errno;

		if (tc_clsact_attach(a, it, dir, tcx_err))
			pr_err("%s: no TC %s program (tcx: %s): %s", it->name,
			       tc_hooks[dir].what, strerror(tcx_err),
			       dir == CT_TC_EGRESS ? "connections this host opens are not tracked" :
			       "SYN cookies cannot complete: SYNs take the ordinary path");
		return;
	}
	if (bpf_obj_pin(fd, path) || chmod(path, 0600)) {
		pr_err("%s: cannot pin the TC link at %s: %s", it->name, path, strerror(errno));
		unlink(path);
		bpf_link_detach(fd);
		close(fd);
		return;
	}
	it->tc_link_fd[dir] = fd;
	pr_info("%s (ifindex %d): TC %s attached (tcx), pinned at %s", it->name, it->ifindex,
		tc_hooks[dir].what, path);
}

static void tc_forget(struct agent *a, struct iface *it, int dir)
{
	char path[PATH_MAX];

	if (it->tc_clsact[dir]) {
		tc_clsact_detach(it, dir);
		pr_info("%s (ifindex %d): TC %s detached", it->name, it->ifindex,
			tc_hooks[dir].what);
		return;
	}
	if (it->tc_link_fd[dir] < 0)
		return;
	tc_pin_path(a, dir, it->ifindex, path, sizeof(path));
	if (bpf_link_detach(it->tc_link_fd[dir]) && errno != ENOLINK && errno != EINVAL &&
	    errno != ENODEV)
		pr_warn("%s: cannot detach the TC %s link: %s", it->name, tc_hooks[dir].what,
			strerror(errno));
	if (unlink(path) && errno != ENOENT)
		pr_warn("cannot unpin %s: %s", path, strerror(errno));
	close(it->tc_link_fd[dir]);
	it->tc_link_fd[dir] = -1;
	pr_info("%s (ifindex %d): TC %s detached", it->name, it->ifindex, tc_hooks[dir].what);
}

/*
 * TC egress only serves conntrack, TC ingress only SYN cookies: a stateless
 * policy runs without both, syn-cookies: off without ingress. An agent
 * without a valid policy of its own keeps what it adopted and attaches
 * nothing new (it does not know whether the policy in force is stateful).
 */
static bool tc_wanted(const struct agent *a, int dir)
{
	if (!a->have_policy)
		return true;
	if (!policy_stateful(&a->pol))
		return false;
	return dir == CT_TC_EGRESS || a->pol.ct.syncookies != SLUICE_CK_OFF;
}

static bool tc_pin_wanted(const struct agent *a, int dir, int ifindex)
{
	for (size_t i = 0; i < a->nifaces; i++)
		if (a->ifaces[i].ifindex == ifindex && a->ifaces[i].tc_link_fd[dir] >= 0)
			return true;
	return false;
}

/* The direction and interface of the TC link pin NAME, or -1. */
static int tc_pin_parse(const char *name, int *ifindex)
{
	int n;

	/* "tc_in_" first: "tc_" is its prefix */
	for (int dir = CT_TC_DIRS - 1; dir >= 0; dir--) {
		size_t plen = strlen(tc_hooks[dir].pin);

		if (!strncmp(name, tc_hooks[dir].pin, plen) &&
		    sscanf(name + plen, "%d%n", ifindex, &n) == 1 && !name[plen + n])
			return dir;
	}
	return -1;
}

void ct_links_sync(struct agent *a)
{
	char path[PATH_MAX];
	struct dirent *de;
	int ifindex, dir;
	DIR *d;

	if (!a->tc_skel)
		return;
	/* the interfaces changed: which of them send SYN-ACKs through TC */
	if (a->ck_cfg)
		ct_cookie_write(a);
	for (size_t i = 0; i < a->nifaces; i++) {
		struct iface *it = &a->ifaces[i];

		for (dir = 0; dir < CT_TC_DIRS; dir++) {
			/*
			 * the firewall on tcx ingress sends no SYN cookie, and the
			 * helper's TC_ACT_OK would end the tcx chain before it
			 */
			if (!tc_wanted(a, dir) || (dir == CT_TC_INGRESS && it->tc))
				tc_forget(a, it, dir);
			else if (it->tc_link_fd[dir] < 0 && !it->tc_clsact[dir])
				tc_attach(a, it, dir);
		}
	}
	/* pins of interfaces that lost their XDP link (or are gone) */
	d = opendir(a->links_dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		dir = tc_pin_parse(de->d_name, &ifindex);
		if (dir < 0 || tc_pin_wanted(a, dir, ifindex) ||
		    path_join(path, sizeof(path), a->links_dir, de->d_name))
			continue;
		pr_info("unpinning %s: its interface has no firewall", path);
		unlink(path);
	}
	closedir(d);
}

void ct_iface_forget(struct agent *a, struct iface *it)
{
	for (int dir = 0; dir < CT_TC_DIRS; dir++)
		tc_forget(a, it, dir);
}

void ct_release(struct agent *a)
{
	for (size_t i = 0; i < a->nifaces; i++) {
		for (int dir = 0; dir < CT_TC_DIRS; dir++) {
			if (a->ifaces[i].tc_link_fd[dir] >= 0)
				close(a->ifaces[i].tc_link_fd[dir]);
			a->ifaces[i].tc_link_fd[dir] = -1;
		}
	}
}

void ct_status_hooks(struct agent *a, const struct iface *it, struct json_object *arr)
{
	for (int dir = 0; dir < CT_TC_DIRS; dir++) {
		struct bpf_link_info info = {};
		__u32 len = sizeof(info);
		struct json_object *o;
		char hook[16];

		if (!it->tc_clsact[dir] && it->tc_link_fd[dir] < 0)
			continue;
		o = json_object_new_object();
		snprintf(hook, sizeof(hook), "tc-%s", tc_hooks[dir].what);
		json_object_object_add(o, "name", json_object_new_string(it->name));
		json_object_object_add(o, "ifindex", json_object_new_int(it->ifindex));
		json_object_object_add(o, "hook", json_object_new_string(hook));
		json_object_object_add(o, "mode", json_object_new_string(it->tc_clsact[dir] ?
									 "clsact" : "tcx"));
		json_object_object_add(o, "attach", json_object_new_string(it->tc_clsact[dir] ?
									   "netlink" : "bpf_link"));
		if (it->tc_clsact[dir]) {
			json_object_object_add(o, "prog_id",
					       json_object_new_int64(loader_fd_prog_id(tc_prog_fd(a, dir))));
		} else {
			bpf_obj_get_info_by_fd(it->tc_link_fd[dir], &info, &len);
			json_object_object_add(o, "prog_id", json_object_new_int64(info.prog_id));
			json_object_object_add(o, "link_id", json_object_new_int64(info.id));
		}
		json_object_array_add(arr, o);
	}
}

/* ---- reading the table ---- */

void ct_status_map(struct agent *a, struct json_object *o, bool v4)
{
	uint64_t n[2][2];

	if (!ct_entries_family(a, n)) {
		json_object_object_add(o, "used", json_object_new_uint64(n[v4][0]));
		json_object_object_add(o, "unassured_used", json_object_new_uint64(n[v4][1]));
	}
	json_object_object_add(o, "capacity", json_object_new_uint64(a->ct_max));
	json_object_object_add(o, "unassured_capacity",
			       json_object_new_uint64(a->ct_unassured_max));
	json_object_object_add(o, "shards", json_object_new_uint64(a->ct_shards));
}

struct list_ctx {
	struct ct_filter f;
	struct sl_ct_config cfg;
	uint64_t now;
	struct json_object *arr;
	size_t matched, limit;
	int err;
};

static int list_one(void *ctx, const struct sl_ct_key *k, const struct sl_ct_entry *e,
		    bool unassured)
{
	struct list_ctx *l = ctx;
	struct json_object *o;
	struct ct_view v;

	/* an entry the datapath already treats as gone is not a connection */
	if (ct_view_from(k, e, &l->cfg, l->now, &v) || v.dead || !ct_filter_match(&l->f, &v))
		return 0;
	if (l->matched++ >= l->limit)
		return 0;	/* keep counting */
	v.assured = !unassured;
	o = ct_view_json(&v);
	if (!o || json_object_array_add(l->arr, o)) {
		json_object_put(o);
		l->err = -ENOMEM;
		return 1;
	}
	return 0;
}

/* A filter argument of the request: absent is fine, wrong is an error. */
static int req_port(struct json_object *req, const char *key, int *port, char *err,
		    size_t errlen)
{
	struct json_object *v;
	int64_t x;

	if (!json_object_object_get_ex(req, key, &v))
		return 0;
	x = json_object_get_int64(v);
	if (!json_object_is_type(v, json_type_int) || x < 0 || x > 65535) {
		snprintf(err, errlen, "%s must be a port number 0..65535", key);
		return -EINVAL;
	}
	*port = (int)x;
	return 0;
}

static int req_prefix(struct json_object *req, const char *key, bool *has,
		      struct sl_prefix *p, char *err, size_t errlen)
{
	struct json_object *v;
	char msg[256];
	const char *s;

	if (!json_object_object_get_ex(req, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string)) {
		snprintf(err, errlen, "%s must be an address or a prefix", key);
		return -EINVAL;
	}
	s = json_object_get_string(v);
	if (sl_prefix_parse(s, strlen(s), p, msg, sizeof(msg))) {
		snprintf(err, errlen, "%s: %s", key, msg);
		return -EINVAL;
	}
	*has = true;
	return 0;
}

static int list_filter(struct json_object *req, struct list_ctx *l, char *err, size_t errlen)
{
	struct json_object *v;
	int ret;

	ct_filter_init(&l->f);
	l->limit = CT_LIST_MAX;
	if (json_object_object_get_ex(req, "proto", &v) &&
	    (!json_object_is_type(v, json_type_string) ||
	     ct_proto_parse(json_object_get_string(v), &l->f.proto))) {
		snprintf(err, errlen, "proto must be tcp, udp, icmp, icmpv6 or a number 0..255");
		return -EINVAL;
	}
	ret = req_prefix(req, "src", &l->f.has_src, &l->f.src, err, errlen);
	if (!ret)
		ret = req_prefix(req, "dst", &l->f.has_dst, &l->f.dst, err, errlen);
	if (!ret)
		ret = req_port(req, "sport", &l->f.sport, err, errlen);
	if (!ret)
		ret = req_port(req, "dport", &l->f.dport, err, errlen);
	if (!ret)
		ret = req_port(req, "port", &l->f.port, err, errlen);
	if (!ret && json_object_object_get_ex(req, "limit", &v)) {
		int64_t x = json_object_get_int64(v);

		if (!json_object_is_type(v, json_type_int) || x < 1 || x > CT_LIST_MAX) {
			snprintf(err, errlen, "limit must be 1..%d", CT_LIST_MAX);
			return -EINVAL;
		}
		l->limit = (size_t)x;
	}
	return ret;
}

int ct_cmd_list(struct agent *a, struct json_object *req, struct json_object **data,
		char *err, size_t errlen)
{
	struct list_ctx l = {};
	struct json_object *d;
	int ret;

	ret = list_filter(req, &l, err, errlen);
	if (ret)
		return ret;
	ret = ct_read_cfg(a, &l.cfg);
	if (ret) {
		snprintf(err, errlen, "cannot read %s: %s", SLUICE_MAP_CT_CFG, strerror(-ret));
		return ret;
	}
	l.now = ct_now_ns();
	l.arr = json_object_new_array();
	ret = ct_shards_walk(&a->ct_tbl, list_one, &l);
	if (!ret)
		ret = l.err;
	if (ret) {
		json_object_put(l.arr);
		snprintf(err, errlen, "cannot read %s, %s: %s", SLUICE_MAP_CT4, SLUICE_MAP_CT,
			 strerror(-ret));
		return ret;
	}
	d = json_object_new_object();
	json_object_object_add(d, "entries", l.arr);
	json_object_object_add(d, "matched", json_object_new_uint64(l.matched));
	json_object_object_add(d, "truncated", json_object_new_boolean(l.matched > l.limit));
	*data = d;
	return 0;
}

/* Add N to ct_stats[IDX] (CPU 0's slot): userspace deletions the datapath cannot see. */
static void ct_stat_add(struct agent *a, __u32 idx, __u64 n)
{
	int ncpus = libbpf_num_possible_cpus();
	__u64 *v;

	if (ncpus <= 0 || !n)
		return;
	v = calloc(ncpus, sizeof(*v));
	if (!v)
		return;
	/* a datapath increment on CPU 0 between these two calls is lost: rare, one count */
	if (!bpf_map_lookup_elem(a->ct_stats_fd, &idx, v)) {
		v[0] += n;
		if (bpf_map_update_elem(a->ct_stats_fd, &idx, v, BPF_ANY))
			pr_warn("cannot count deleted conntrack entries: %s", strerror(errno));
	}
	free(v);
}

int ct_cmd_flush(struct agent *a, struct json_object *req, struct json_object **data,
		 char *err, size_t errlen)
{
	struct json_object *d;
	uint64_t deleted;
	int ret;

	(void)req;
	ret = ct_shards_flush(&a->ct_tbl, &deleted);
	if (ret) {
		snprintf(err, errlen, "cannot flush %s, %s: %s", SLUICE_MAP_CT4, SLUICE_MAP_CT,
			 strerror(-ret));
		ct_stat_add(a, SLUICE_CT_STAT_DELETED, deleted);
		return ret;
	}
	ct_stat_add(a, SLUICE_CT_STAT_DELETED, deleted);
	pr_info("conntrack flushed: %llu entries deleted", (unsigned long long)deleted);
	d = json_object_new_object();
	json_object_object_add(d, "flushed", json_object_new_uint64(deleted));
	*data = d;
	return 0;
}

int ct_entries(struct agent *a, uint64_t *assured, uint64_t *unassured)
{
	return ct_shards_count(&a->ct_tbl, assured, unassured);
}

static int count_family(void *ctx, const struct sl_ct_key *k, const struct sl_ct_entry *e,
			bool unassured)
{
	uint64_t (*n)[2] = ctx;

	(void)e;
	n[k->family == 4][unassured]++;
	return 0;
}

int ct_entries_family(struct agent *a, uint64_t n[2][2])
{
	memset(n, 0, 4 * sizeof(n[0][0]));
	return ct_shards_walk(&a->ct_tbl, count_family, n);
}

/* The sweepers' counters, summed over the shards. */
static int ct_sweep_sum(struct agent *a, struct sl_ct_sweeper *sum)
{
	struct sl_ct_sweeper s;

	memset(sum, 0, sizeof(*sum));
	for (__u32 i = 0; i < a->ct_shards; i++) {
		if (bpf_map_lookup_elem(a->ct_sweep_fd, &i, &s))
			return -errno;
		sum->ticks += s.ticks;
		sum->walks += s.walks;
		sum->walked += s.walked;
		sum->walk_ns += s.walk_ns;
	}
	return 0;
}

/*
 * SYN cookies as they run: the mode, the ports that always get cookies (as
 * ranges), and whether auto mode has them on now on some CPU (until when).
 */
static struct json_object *ct_cookie_json(struct agent *a)
{
	static const char *const modes[] = { "off", "auto", "always" };
	int ncpus = libbpf_num_possible_cpus();
	struct sl_ck_config *ck = calloc(1, sizeof(*ck));
	struct sl_ck_load *ld = ncpus > 0 ? calloc(ncpus, sizeof(*ld)) : NULL;
	struct json_object *o = json_object_new_object(), *ports = json_object_new_array();
	uint64_t now = ct_now_ns(), until = 0;
	__u32 key = 0;

	if (ck && !bpf_map_lookup_elem(a->ct_ck_cfg_fd, &key, ck)) {
		json_object_object_add(o, "mode", json_object_new_string(
			ck->mode < SLUICE_CK_MODE_MAX ? modes[ck->mode] : "unknown"));
		for (uint32_t p = 1; p < 65536; p++) {
			uint32_t q = p;
			char buf[16];

			if (!(ck->ports[p / 64] >> (p % 64) & 1))
				continue;
			while (q + 1 < 65536 && (ck->ports[(q + 1) / 64] >> ((q + 1) % 64) & 1))
				q++;
			if (q == p)
				snprintf(buf, sizeof(buf), "%u", p);
			else
				snprintf(buf, sizeof(buf), "%u-%u", p, q);
			json_object_array_add(ports, json_object_new_string(buf));
			p = q;
		}
	}
	json_object_object_add(o, "ports", ports);
	if (ld && !bpf_map_lookup_elem(a->ct_ck_load_fd, &key, ld))
		for (int c = 0; c < ncpus; c++)
			if (ld[c].until > until)
				until = ld[c].until;
	json_object_object_add(o, "active", json_object_new_boolean(until > now));
	json_object_object_add(o, "active_for_ms", json_object_new_uint64(
		until > now ? (until - now) / 1000000 : 0));
	free(ck);
	free(ld);
	return o;
}

int ct_cmd_stats(struct agent *a, struct json_object *req, struct json_object **data,
		 char *err, size_t errlen)
{
	int ncpus = libbpf_num_possible_cpus();
	__u64 sum[SLUICE_CT_STAT_MAX] = {}, *v;
	uint64_t assured = 0, unassured = 0, fam[2][2];
	struct json_object *d, *to;
	struct sl_ct_sweeper sw;
	struct sl_ct_config cfg;
	int64_t evicted;
	int ret;

	(void)req;
	v = ncpus > 0 ? calloc(ncpus, sizeof(*v)) : NULL;
	if (!v) {
		snprintf(err, errlen, "cannot read %s: %s", SLUICE_MAP_CT_STATS,
			 ncpus < 0 ? strerror(-ncpus) : "out of memory");
		return ncpus < 0 ? ncpus : -ENOMEM;
	}
	for (__u32 i = 0; i < SLUICE_CT_STAT_MAX; i++) {
		if (bpf_map_lookup_elem(a->ct_stats_fd, &i, v)) {
			ret = -errno;
			free(v);
			snprintf(err, errlen, "cannot read %s: %s", SLUICE_MAP_CT_STATS,
				 strerror(-ret));
			return ret;
		}
		for (int c = 0; c < ncpus; c++)
			sum[i] += v[c];
	}
	free(v);
	ret = ct_entries_family(a, fam);
	assured = fam[0][0] + fam[1][0];
	unassured = fam[0][1] + fam[1][1];
	if (!ret)
		ret = ct_sweep_sum(a, &sw);
	if (!ret)
		ret = ct_read_cfg(a, &cfg);
	if (ret) {
		snprintf(err, errlen, "cannot read the conntrack maps: %s", strerror(-ret));
		return ret;
	}
	/*
	 * Every entry created leaves by expiry (expired: its sweeper, or the
	 * datapath meeting it past its timeout), by a deletion (deleted: ct
	 * flush) or by LRU eviction, which the datapath does not see; or it is
	 * still there, assured or not (an entry that earns its place moves,
	 * uncounted). Counters and the tables
	 * are read at slightly different times: never below zero.
	 */
	evicted = (int64_t)(sum[SLUICE_CT_STAT_CREATED] - sum[SLUICE_CT_STAT_EXPIRED] -
			    sum[SLUICE_CT_STAT_DELETED] - assured - unassured);
	d = json_object_new_object();
	json_object_object_add(d, "stateful", json_object_new_boolean(cfg.stateful));
	json_object_object_add(d, "entries", json_object_new_uint64(assured + unassured));
	json_object_object_add(d, "entries_ipv4", json_object_new_uint64(fam[1][0] + fam[1][1]));
	json_object_object_add(d, "entries_ipv6", json_object_new_uint64(fam[0][0] + fam[0][1]));
	json_object_object_add(d, "capacity", json_object_new_uint64(a->ct_max));
	json_object_object_add(d, "unassured", json_object_new_uint64(unassured));
	json_object_object_add(d, "unassured_capacity",
			       json_object_new_uint64(a->ct_unassured_max));
	json_object_object_add(d, "shards", json_object_new_uint64(a->ct_shards));
	/* the lookup filter: on once the agent stamped the table (filter_skipped: its work) */
	json_object_object_add(d, "lookup_filter", json_object_new_boolean(cfg.filter));
	for (int i = 0; i < SLUICE_CT_STAT_MAX; i++) {
		char key[32];

		snprintf(key, sizeof(key), "%s", sl_ct_stat_names[i]);
		for (char *p = key; *p; p++)
			if (*p == '-')
				*p = '_';
		json_object_object_add(d, key, json_object_new_uint64(sum[i]));
	}
	json_object_object_add(d, "evicted", json_object_new_int64(evicted > 0 ? evicted : 0));
	/* the sweepers: timer runs, walks, entries visited, CPU time of the walks */
	json_object_object_add(d, "sweeps", json_object_new_uint64(sw.walks));
	json_object_object_add(d, "sweep_ticks", json_object_new_uint64(sw.ticks));
	json_object_object_add(d, "swept", json_object_new_uint64(sw.walked));
	json_object_object_add(d, "sweep_ns", json_object_new_uint64(sw.walk_ns));
	if (a->tc_skel) {
		/* the program the sweepers call back (an upgrade moves them) */
		uint32_t id = loader_fd_prog_id(loader_prog_fd(a, a->tc_skel->progs.ct_start));

		if (id)
			json_object_object_add(d, "sweeper_prog_id", json_object_new_uint64(id));
	}
	to = json_object_new_object();
	for (int i = 0; i < SLUICE_CT_TO_MAX; i++)
		json_object_object_add(to, ct_timeout_name(i), json_object_new_int64(cfg.timeout[i]));
	json_object_object_add(d, "timeouts", to);
	json_object_object_add(d, "syncookies", ct_cookie_json(a));
	*data = d;
	return 0;
}
