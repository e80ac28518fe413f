// SPDX-License-Identifier: GPL-2.0-only
/*
 * Upgrades across map layout changes: the table of what each map does when
 * the pinned one has another layout, and the carry-overs (migrate.h;
 * docs/architecture.md, "Upgrades").
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "abi_names.h"
#include "ct.h"
#include "lb_maps.h"
#include "log.h"
#include "migrate.h"

/*
 * sl_cnt_names: the entry names of every pinned counter map, by the map's
 * id, so that a later build can match its counters by name whatever changed
 * in between, and names always describe the map they were written for (an
 * upgrade undone puts maps back whose names are still there). Written by
 * the agent (no program reads it). Its layout is read by every later
 * build: it never changes (a new layout would take a new name).
 */
#define MIG_NAMES_MAP	"sl_cnt_names"
#define MIG_NAMES_MAX	4096

struct mig_name_key {
	__u32 map_id;
	__u32 index;
};

struct mig_name_val {
	char name[32];
};

/* eg_stats[hook * 2 + denied] */
#define EG_NAMES(id, name) name "-allowed", name "-denied",
static const char *const eg_stat_names[] = { SLUICE_EG_HOOKS(EG_NAMES) };
#undef EG_NAMES

/*
 * sl_verdict_v2, sl_drop_v2: a block per hook (SLUICE_VERDICT_IDX,
 * SLUICE_DROP_IDX), entries named HOOK/NAME, the spare ones unnamed.
 */
_Static_assert(SLUICE_HOOK_MAX == 2, "one name list per hook below");
#define XDP_V(id, name)	[SLUICE_VERDICT_IDX(SLUICE_HOOK_XDP, SLUICE_##id)] = "xdp/" name,
#define TC_V(id, name)	[SLUICE_VERDICT_IDX(SLUICE_HOOK_TC, SLUICE_##id)] = "tc/" name,
#define XDP_D(id, name)	[SLUICE_DROP_IDX(SLUICE_HOOK_XDP, SLUICE_##id)] = "xdp/" name,
#define TC_D(id, name)	[SLUICE_DROP_IDX(SLUICE_HOOK_TC, SLUICE_##id)] = "tc/" name,
static const char *const hook_verdicts[SLUICE_HOOK_MAX * SLUICE_VERDICT_SLOTS] = {
	SLUICE_VERDICTS(XDP_V) SLUICE_VERDICTS(TC_V)
};
static const char *const hook_drops[SLUICE_HOOK_MAX * SLUICE_DROP_SLOTS] = {
	SLUICE_DROP_REASONS(XDP_D) SLUICE_DROP_REASONS(TC_D)
};
#undef XDP_V
#undef TC_V
#undef XDP_D
#undef TC_D

/*
 * The lists of the last release before the names were recorded (eafd583).
 * A state it left has no sl_cnt_names; entries past these lists (a build
 * between it and the recording) are named by this build's lists: until
 * then the lists were only ever appended to.
 */
static const char *const prev_verdicts[] = { "pass", "drop", "pass-non-ip" };
static const char *const prev_drops[] = {
	"policy-rule", "policy-default", "truncated-eth", "truncated-vlan",
	"too-many-vlan-tags", "truncated-ipv4", "bad-ipv4-version", "bad-ipv4-ihl",
	"bad-ipv4-length", "truncated-ipv6", "bad-ipv6-version", "truncated-ipv6-ext",
	"ipv6-ext-chain-too-long", "truncated-tcp", "bad-tcp-doff", "truncated-udp",
	"truncated-icmp", "internal-error", "tail-call-missed",
};
static const char *const prev_ct_stats[] = {
	"created", "expired", "deleted", "insert-failed", "timer-failed", "related",
};

static int mig_ct_carry(struct migrate *mg, struct mig_pin *p, bool final);
static int mig_keys_carry(struct migrate *mg, struct mig_pin *p, bool final);
static int mig_rev_carry(struct migrate *mg, struct mig_pin *p, bool final);
static int mig_flows_carry(struct migrate *mg, struct mig_pin *p, bool final);
static int mig_flows4_carry(struct migrate *mg, struct mig_pin *p, bool final);

#define LIST(v) v, sizeof(v) / sizeof(v[0])
#define POLICY(map, what, f)	{ map, MIG_POLICY, MIG_G_SLOTS, what, .flags = f }
#define RECREATE(map, what)	{ map, MIG_RECREATE, MIG_G_NONE, what }
#define COUNTERS(map, what, cur, prev) \
	{ map, MIG_COUNTERS, MIG_G_NONE, what, LIST(cur), LIST(prev), NULL }
#define LB(map, kind, what)	{ map, kind, MIG_G_LB, what }
#define SLOT_TABLE(id, outer, name, type, flags, entries, k, v) \
	POLICY(#outer, "the policy slots' " name " tables", \
	       SLUICE_FWT_##id == SLUICE_FWT_CFG ? MIG_F_GEN : 0),
/* a name of the layout of 512 rules and DIR-24-8 (eafd583), retired with its successor */
#define RETIRED(map, succ, f)	{ map, MIG_RETIRED, MIG_G_SLOTS, \
				  "the previous layout's policy slots", \
				  .successor = succ, .flags = f }

/*
 * Every map of sluice_xdp, sluice_tc and sluice_cgroup (tests/test_migrate.c checks it,
 * and migrate_plan refuses to start without it), then the names earlier
 * layouts pinned that this build retired.
 */
static const struct mig_map mig_maps[] = {
	SLUICE_FW_TABLES(SLOT_TABLE)
	POLICY(SLUICE_MAP_IFSLOT, "the interfaces' policy slots", MIG_F_IFACES),
	POLICY(SLUICE_MAP_IFSLOT_A, "the interfaces' policy slots (array)", MIG_F_IFACES),
	/*
	 * Until ct4_shards, ct_shards held every connection: pinned without it,
	 * it is of that layout, and its IPv4 connections move to ct4_shards.
	 */
	{ SLUICE_MAP_CT, MIG_STATE, MIG_G_CT, "the conntrack table (IPv6)", .carry = mig_ct_carry,
	  .split = SLUICE_MAP_CT4 },
	{ SLUICE_MAP_CT4, MIG_STATE, MIG_G_CT, "the conntrack table (IPv4)",
	  .carry = mig_ct_carry },
	/*
	 * mmapable since 162513b, whose ct_stamp buckets were of the key's hash
	 * (the pair of addresses' since, in words of the same layout): its flags
	 * differ, so the group is made anew over those buckets too
	 */
	{ SLUICE_MAP_CT_CFG, MIG_RECREATE, MIG_G_CT, "the conntrack settings" },
	{ SLUICE_MAP_CT_SWEEP, MIG_RECREATE, MIG_G_CT, "the conntrack sweepers" },
	/*
	 * new with ct_cfg's filter field (off until the agent has stamped every
	 * entry); 8-byte values (two buckets' one stamp each) up to 374538b,
	 * then 16 (two buckets' two stamps each): another layout, the group anew
	 */
	{ SLUICE_MAP_CT_STAMP, MIG_RECREATE, MIG_G_CT, "the conntrack lookup filter" },
	{ SLUICE_MAP_RULE_CNT, MIG_COUNTERS, MIG_G_RULES, "the rule counters" },
	{ SLUICE_MAP_CNT_KEY, MIG_STATE, MIG_G_RULES, "the rule counters' owners",
	  .carry = mig_keys_carry },
	{ SLUICE_MAP_VERDICT, MIG_COUNTERS, MIG_G_NONE, "the verdict counters per hook",
	  LIST(hook_verdicts), NULL, 0, NULL },
	{ SLUICE_MAP_DROP, MIG_COUNTERS, MIG_G_NONE, "the drop counters per hook",
	  LIST(hook_drops), NULL, 0, NULL },
	COUNTERS(SLUICE_MAP_CT_STATS, "the conntrack counters", sl_ct_stat_names, prev_ct_stats),
	RECREATE(SLUICE_MAP_CT_CK_CFG, "the SYN cookie settings"),
	RECREATE(SLUICE_MAP_CT_CK_LOAD, "the SYN cookie load"),
	RECREATE(SLUICE_MAP_CT_CK_SENT, "the slots SYN cookies were sent in"),
	RECREATE(SLUICE_MAP_CT_CK_HAND, "the SYN cookie handoffs from XDP to TC"),
	RECREATE("ct_ck_tmp", "the SYN cookie code's buffers"),
	RECREATE(SLUICE_MAP_EVENTS, "the drop events"),
	/* the CLI blocklist: filled from the edits file before any link moves */
	RECREATE(SLUICE_MAP_BLOCK4, "the CLI blocklist's IPv4 prefixes"),
	RECREATE(SLUICE_MAP_BLOCK4H, "the CLI blocklist's IPv4 addresses"),
	RECREATE(SLUICE_MAP_BLOCK6, "the CLI blocklist's IPv6 prefixes"),
	RECREATE(SLUICE_MAP_BLOCK6H, "the CLI blocklist's IPv6 addresses"),
	RECREATE(SLUICE_MAP_EV_CFG, "the drop event limiter"),
	RECREATE(SLUICE_MAP_EV_MUTE, "the drop event limiter's muted CPUs"),
	/*
	 * The load balancer: written from the policy at every apply, flows and
	 * per-backend figures by backend id, so replaced as a group; the
	 * previous programs keep balancing on theirs until the links move.
	 * The flows alone of another layout are carried over (the backends and
	 * their ids stay); with the group, they are not: Maglev gives a flow
	 * the same backend again while the backend set is the one it was
	 * recorded with.
	 */
	LB(SLUICE_MAP_LB_SVC, MIG_POLICY, "the load balancer's services"),
	LB(SLUICE_MAP_LB_MAGLEV, MIG_POLICY, "the load balancer's Maglev tables"),
	LB(SLUICE_MAP_LB_BACKENDS, MIG_POLICY, "the load balancer's backends"),
	{ SLUICE_MAP_LB_FLOWTAB, MIG_STATE, MIG_G_LB, "the load balancer's flows",
	  .carry = mig_flows_carry, .flags = MIG_F_ALONE },
	/* IPv4 flows: 16-byte keys since this build, lb_flowtab[LB_FLOWS]'s before */
	{ SLUICE_MAP_LB_FLOWTAB4, MIG_STATE, MIG_G_LB, "the load balancer's IPv4 flows",
	  .carry = mig_flows4_carry, .flags = MIG_F_ALONE, .from = SLUICE_MAP_LB_FLOWTAB },
	LB(SLUICE_MAP_LB_CFG, MIG_POLICY, "the load balancer's settings"),
	LB(SLUICE_MAP_LB_FILTER, MIG_POLICY, "the load balancer's address filter"),
	LB(SLUICE_MAP_LB_DECAP, MIG_POLICY, "the decapsulated VIPs"),
	LB(SLUICE_MAP_LB_DECAP_IF, MIG_POLICY, "the decapsulating interfaces"),
	LB(SLUICE_MAP_LB_HC, MIG_POLICY, "the DSR health checks' VIPs"),
	LB(SLUICE_MAP_LB_DEVMAP, MIG_POLICY, "the load balancer's redirect targets"),
	LB(SLUICE_MAP_LB_NAT_BE, MIG_POLICY, "the NAT backends' services (replies)"),
	LB(SLUICE_MAP_LB_NH, MIG_RECREATE, "the next hops per backend (a cache)"),
	LB(SLUICE_MAP_LB_BE_STATS, MIG_RECREATE, "the per-backend counters"),
	{ SLUICE_MAP_LB_STATS, MIG_COUNTERS, MIG_G_NONE, "the load balancer's counters",
	  LIST(sl_lb_stat_names), NULL, 0, NULL },
	RECREATE("lb_fib", "the load balancer's fib_lookup buffer"),
	RECREATE("lb_cnh", "the next hops of NAT replies (a cache)"),
	/*
	 * Container egress: which slot judges a cgroup's (or a backstop
	 * source's) sockets names a slot of fwp_*, so these go with the slots
	 * and are rebuilt from the policy; the previous hooks keep the
	 * previous set until their links move.
	 */
	POLICY(SLUICE_MAP_EG_CG, "the managed cgroups' egress entries", 0),
	POLICY(SLUICE_MAP_EG_SRC4, "the egress backstop's IPv4 sources", 0),
	POLICY(SLUICE_MAP_EG_SRC6, "the egress backstop's IPv6 sources", 0),
	/*
	 * By counter id. Before eg_cnt_key, entry base + rule: the first apply
	 * of a build with owners keeps those ids (egress.c, seed).
	 */
	{ SLUICE_MAP_EG_CNT, MIG_COUNTERS, MIG_G_NONE, "the egress rule counters" },
	{ SLUICE_MAP_EG_CNT_KEY, MIG_STATE, MIG_G_NONE, "the egress rule counters' owners",
	  .carry = mig_keys_carry },
	{ SLUICE_MAP_EG_STATS, MIG_COUNTERS, MIG_G_NONE, "the egress counters per hook",
	  LIST(eg_stat_names), NULL, 0, NULL },
	{ SLUICE_MAP_EG_LB_REV, MIG_STATE, MIG_G_NONE,
	  "the socket load balancer's backend -> VIP of each socket", .carry = mig_rev_carry },
	{ SLUICE_MAP_TAILS, MIG_PROGRAM, MIG_G_NONE, "a program set's stages" },
	{ SLUICE_MAP_SCRATCH, MIG_PROGRAM, MIG_G_NONE, "the per-packet state" },

	RETIRED("fwo_cfg", "fwp_cfg", MIG_F_GEN),
	RETIRED("fwo_cls", "fwp_cls", 0),
	RETIRED("fwo_src4", "fwp_src4_v3", 0),
	RETIRED("fwo_dst4", "fwp_dst4_v3", 0),
	RETIRED("fwo_src4_t8", "fwp_src4_t8", 0),
	RETIRED("fwo_dst4_t8", "fwp_dst4_t8", 0),
	RETIRED("fwo_src6", "fwp_src6", 0),
	RETIRED("fwo_dst6", "fwp_dst6", 0),
	RETIRED("fwo_sport", "fwp_sport", 0),
	RETIRED("fwo_dport", "fwp_dport", 0),
	/* the /16 entries before SL_CHUNK_HASH (2 kind bits): read by the previous programs only */
	RETIRED("fwp_src4", "fwp_src4_v3", 0),
	RETIRED("fwp_dst4", "fwp_dst4_v3", 0),
	/* before SL_CHUNK_PFX (kind 7, which they would read as intervals) */
	RETIRED("fwp_src4_v2", "fwp_src4_v3", 0),
	RETIRED("fwp_dst4_v2", "fwp_dst4_v3", 0),
	RETIRED("sl_ifslot", SLUICE_MAP_IFSLOT, MIG_F_IFACES),
	RETIRED("sl_ifslot_a", SLUICE_MAP_IFSLOT_A, MIG_F_IFACES),
	{ "fw_rule_cnt", MIG_RETIRED, MIG_G_NONE, "the previous layout's rule counters",
	  .successor = SLUICE_MAP_RULE_CNT, .flags = MIG_F_RULES },
	/* before the hooks were told apart: every packet counted as XDP's */
	{ "sl_verdict", MIG_RETIRED, MIG_G_NONE, "the verdict counters of one hook",
	  LIST(sl_verdict_names), LIST(prev_verdicts), NULL, SLUICE_MAP_VERDICT, MIG_F_XDP },
	{ "sl_drop", MIG_RETIRED, MIG_G_NONE, "the drop counters of one hook",
	  LIST(sl_drop_names), LIST(prev_drops), NULL, SLUICE_MAP_DROP, MIG_F_XDP },
	/* the coarse clock per CPU, now in each object's sl_scratch (bpf/lib/clock.h) */
	{ "sl_clock", MIG_RETIRED, MIG_G_NONE, "the per-CPU coarse clock (a cache)",
	  .successor = SLUICE_MAP_SCRATCH },
};

/* One pinned map this upgrade replaces. */
struct mig_pin {
	const struct mig_map *m;
	int old_fd, new_fd;
	struct bpf_map_info old;
	char why[160];		/* what differs */
	bool differs;		/* its own layout (not only its group's) */
	bool moved;		/* its pin is under the upgrade dir */
	bool carried;
	bool from;		/* old_fd is m->from's pin (kept in place), m's was missing */
	struct mig_names on, nn;	/* counters: previous and this build's names */
	char **own;		/* names read from sl_cnt_names (on.v points here) */
	char **nown;		/* MIG_F_RULES: the successor's names (nn.v points here) */
	void *snap;		/* counters: the previous values at the copy */
};

struct migrate {
	char maps_dir[PATH_MAX];
	char upgrade_dir[PATH_MAX];
	struct mig_pin *pins;
	size_t npins;
	int names_fd;		/* sl_cnt_names of the state, -1: none */
	uint64_t generation;
	bool begun;
};

const struct mig_map *mig_find(const char *name)
{
	for (size_t i = 0; i < sizeof(mig_maps) / sizeof(mig_maps[0]); i++)
		if (!strcmp(mig_maps[i].name, name))
			return &mig_maps[i];
	return NULL;
}

const struct mig_map *mig_table(size_t *n)
{
	*n = sizeof(mig_maps) / sizeof(mig_maps[0]);
	return mig_maps;
}

static int join(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* The map pinned as NAME under DIR: its fd, or -errno (-ENOENT: none pinned). */
static int pin_open(const char *dir, const char *name)
{
	char path[PATH_MAX];
	int fd, err = join(path, sizeof(path), dir, name);

	if (err)
		return err;
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

static int map_info(int fd, struct bpf_map_info *info)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	return bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
}

static size_t round8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static bool percpu(__u32 type)
{
	return type == BPF_MAP_TYPE_PERCPU_ARRAY || type == BPF_MAP_TYPE_PERCPU_HASH ||
	       type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

/* ---- layouts ---- */

/*
 * Does the inner map INFO fit the template DEF? What the kernel checks when
 * a map goes into an outer one (bpf_map_meta_equal; the size of arrays
 * unless BPF_F_INNER_MAP).
 */
static bool inner_fits(const struct bpf_map_info *info, const struct bpf_map *def)
{
	__u32 flags = bpf_map__map_flags(def);

	if (info->type != bpf_map__type(def) || info->key_size != bpf_map__key_size(def) ||
	    info->value_size != bpf_map__value_size(def) || info->map_flags != flags)
		return false;
	if ((info->type == BPF_MAP_TYPE_ARRAY || info->type == BPF_MAP_TYPE_PERCPU_ARRAY) &&
	    !(flags & BPF_F_INNER_MAP))
		return info->max_entries == bpf_map__max_entries(def);
	return true;
}

/*
 * Do the maps the pinned outer map OUTER holds fit this build's template
 * DEF? Asked of one it holds; an empty one is asked the kernel's way: a map
 * of the template goes in at its last index (which nothing reads while the
 * outer map is empty) and out again. 1 yes, 0 no, -errno.
 */
static int outer_fits(int outer, const struct bpf_map_info *oi, const struct bpf_map *def,
		      char *why, size_t len)
{
	struct bpf_map_info info;
	__u32 id, key = oi->max_entries - 1;
	int fd, ok;

	for (__u32 k = 0; k < oi->max_entries; k++) {
		if (bpf_map_lookup_elem(outer, &k, &id))
			continue;
		fd = bpf_map_get_fd_by_id(id);
		if (fd < 0)
			return -errno;
		ok = !map_info(fd, &info) && inner_fits(&info, def);
		close(fd);
		if (!ok)
			snprintf(why, len, "its maps are type %u key %u value %u entries %u "
				 "flags %#x, this build's type %u/%u/%u/%u/%#x", info.type,
				 info.key_size, info.value_size, info.max_entries, info.map_flags,
				 bpf_map__type(def), bpf_map__key_size(def),
				 bpf_map__value_size(def), bpf_map__max_entries(def),
				 bpf_map__map_flags(def));
		return ok;
	}
	fd = bpf_map_create(bpf_map__type(def), "sl_probe", bpf_map__key_size(def),
			    bpf_map__value_size(def), bpf_map__max_entries(def),
			    &(struct bpf_map_create_opts){ .sz = sizeof(struct bpf_map_create_opts),
							   .map_flags = bpf_map__map_flags(def) });
	if (fd < 0)
		return -errno;
	/* arrays of maps take BPF_ANY alone; the outer map is empty */
	ok = !bpf_map_update_elem(outer, &key, &fd, BPF_ANY);
	if (ok)
		bpf_map_delete_elem(outer, &key);
	else
		snprintf(why, len, "its maps have another layout than this build's");
	close(fd);
	return ok;
}

/* Does the pinned map FD (INFO) differ from this build's DEF? 1 (WHY says how), 0, -errno. */
static int layout_differs(int fd, const struct bpf_map_info *info, const struct bpf_map *def,
			  char *why, size_t len)
{
	const struct bpf_map *inner = bpf_map__inner_map((struct bpf_map *)def);
	int ok;

	if (info->type != bpf_map__type(def) || info->key_size != bpf_map__key_size(def) ||
	    info->value_size != bpf_map__value_size(def) ||
	    info->max_entries != bpf_map__max_entries(def) ||
	    info->map_flags != bpf_map__map_flags(def)) {
		snprintf(why, len, "type %u key %u value %u entries %u flags %#x, this build's "
			 "%u/%u/%u/%u/%#x", info->type, info->key_size, info->value_size,
			 info->max_entries, info->map_flags, bpf_map__type(def),
			 bpf_map__key_size(def), bpf_map__value_size(def),
			 bpf_map__max_entries(def), bpf_map__map_flags(def));
		return 1;
	}
	if (!inner)
		return 0;
	ok = outer_fits(fd, info, inner, why, len);
	return ok < 0 ? ok : !ok;
}

/* ---- counter names ---- */

static void names_free(struct mig_pin *p)
{
	for (size_t i = 0; p->own && i < p->on.n; i++)
		free(p->own[i]);
	free(p->own);
	p->own = NULL;
	for (size_t i = 0; p->nown && i < p->nn.n; i++)
		free(p->nown[i]);
	free(p->nown);
	p->nown = NULL;
}

/*
 * The names of the previous map's N entries: from sl_cnt_names when it has
 * them for this map, else it comes from the release before the names were
 * recorded (its lists, then this build's).
 */
static int prev_names(struct migrate *mg, struct mig_pin *p, size_t n)
{
	const struct mig_map *m = p->m;
	struct mig_name_key k = { .map_id = p->old.id };
	struct mig_name_val v;
	bool recorded;

	p->on.n = n;
	p->on.v = NULL;
	if (!m->names)
		return 0;
	p->own = calloc(n ? n : 1, sizeof(*p->own));
	if (!p->own)
		return -ENOMEM;
	p->on.v = (const char *const *)p->own;
	recorded = mg->names_fd >= 0 && !bpf_map_lookup_elem(mg->names_fd, &k, &v);
	for (size_t i = 0; i < n; i++) {
		const char *s = NULL;

		k.index = (__u32)i;
		if (recorded) {
			if (!bpf_map_lookup_elem(mg->names_fd, &k, &v)) {
				v.name[sizeof(v.name) - 1] = '\0';
				s = v.name;
			}
		} else if (i < m->nprev) {
			s = m->prev_names[i];
		} else if (i < m->nnames) {
			s = m->names[i];
		}
		if (s && !(p->own[i] = strdup(s)))
			return -ENOMEM;
	}
	return 0;
}

/* Entry I's name in V (a rule list: the index, the last one "default"). */
static const char *entry_name(const struct mig_names *v, size_t i, char *buf, size_t len)
{
	if (v->v)
		return v->named && i >= v->named ? NULL : v->v[i];
	if (i + 1 == v->n)
		return "default";
	snprintf(buf, len, "%zu", i);
	return buf;
}

/* The entry of ON named as entry I of NN; -1: none. */
static long name_match(const struct mig_names *on, const struct mig_names *nn, size_t i)
{
	char b1[24], b2[24];
	const char *want = entry_name(nn, i, b1, sizeof(b1));

	if (!want)
		return -1;
	if (!on->v && !nn->v)	/* rule lists: by index, the default to the default */
		return i + 1 == nn->n ? (long)on->n - 1 : (i + 1 < on->n ? (long)i : -1);
	for (size_t j = 0; j < on->n; j++) {
		const char *have = entry_name(on, j, b2, sizeof(b2));

		if (have && !strcmp(have, want))
			return (long)j;
	}
	return -1;
}

static bool names_equal(const struct mig_names *a, const struct mig_names *b)
{
	char b1[24], b2[24];

	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const char *x = entry_name(a, i, b1, sizeof(b1));
		const char *y = entry_name(b, i, b2, sizeof(b2));

		/* spare entries, unnamed on both sides, are alike */
		if ((x || y) && (!x || !y || strcmp(x, y)))
			return false;
	}
	return true;
}

/* ---- counters ---- */

struct pcpu {
	int ncpu;
	size_t ovs, nvs;	/* per-CPU value sizes (rounded to 8), previous and new */
	struct bpf_map_info oi, ni;
};

static int pcpu_setup(int old_fd, int new_fd, struct pcpu *c)
{
	int err;

	c->ncpu = libbpf_num_possible_cpus();
	if (c->ncpu <= 0)
		return c->ncpu ? c->ncpu : -EINVAL;
	err = map_info(old_fd, &c->oi);
	if (!err)
		err = map_info(new_fd, &c->ni);
	if (err)
		return err;
	if (!percpu(c->oi.type) || !percpu(c->ni.type) || c->oi.value_size % 8 ||
	    c->ni.value_size % 8)
		return -EPROTO;
	c->ovs = round8(c->oi.value_size);
	c->nvs = round8(c->ni.value_size);
	return 0;
}

int mig_counters_copy(int old_fd, const struct mig_names *on, int new_fd,
		      const struct mig_names *nn, void **snap)
{
	size_t keep;
	char *old, *buf;
	struct pcpu c;
	int err;

	*snap = NULL;
	err = pcpu_setup(old_fd, new_fd, &c);
	if (err)
		return err;
	keep = c.ovs < c.nvs ? c.ovs : c.nvs;
	old = calloc(on->n ? on->n : 1, c.ncpu * c.ovs);
	buf = calloc(c.ncpu, c.nvs);
	if (!old || !buf) {
		err = -ENOMEM;
		goto out;
	}
	for (__u32 j = 0; j < on->n && j < c.oi.max_entries; j++)
		if (bpf_map_lookup_elem(old_fd, &j, old + (size_t)j * c.ncpu * c.ovs)) {
			err = -errno;
			goto out;
		}
	for (__u32 i = 0; i < nn->n && i < c.ni.max_entries; i++) {
		long j = name_match(on, nn, i);

		if (j < 0 || (size_t)j >= c.oi.max_entries)
			continue;
		memset(buf, 0, c.ncpu * c.nvs);
		for (int k = 0; k < c.ncpu; k++)
			memcpy(buf + k * c.nvs, old + ((size_t)j * c.ncpu + k) * c.ovs, keep);
		if (bpf_map_update_elem(new_fd, &i, buf, BPF_ANY)) {
			err = -errno;
			goto out;
		}
	}
	*snap = old;
	old = NULL;
out:
	free(old);
	free(buf);
	return err;
}

int mig_counters_delta(int old_fd, const struct mig_names *on, int new_fd,
		       const struct mig_names *nn, const void *snap)
{
	const char *was = snap;
	char *cur = NULL, *buf = NULL;
	size_t words;
	struct pcpu c;
	int err;

	err = pcpu_setup(old_fd, new_fd, &c);
	if (err)
		return err;
	words = (c.ovs < c.nvs ? c.ovs : c.nvs) / 8;
	cur = calloc(c.ncpu, c.ovs);
	buf = calloc(c.ncpu, c.nvs);
	if (!cur || !buf) {
		err = -ENOMEM;
		goto out;
	}
	for (__u32 i = 0; i < nn->n && i < c.ni.max_entries; i++) {
		long j = name_match(on, nn, i);
		bool moved = false;

		if (j < 0 || (size_t)j >= c.oi.max_entries)
			continue;
		if (bpf_map_lookup_elem(old_fd, &(__u32){ (__u32)j }, cur)) {
			err = -errno;
			goto out;
		}
		for (int k = 0; k < c.ncpu && !moved; k++)
			moved = memcmp(cur + k * c.ovs, was + ((size_t)j * c.ncpu + k) * c.ovs,
				       words * 8);
		if (!moved)
			continue;
		/*
		 * Read, add, write: an increment the datapath makes on this
		 * entry between the two calls is lost (microseconds, once).
		 */
		if (bpf_map_lookup_elem(new_fd, &i, buf)) {
			err = -errno;
			goto out;
		}
		for (int k = 0; k < c.ncpu; k++) {
			__u64 *n = (__u64 *)(buf + k * c.nvs);
			const __u64 *o = (const __u64 *)(cur + k * c.ovs);
			const __u64 *s = (const __u64 *)(was + ((size_t)j * c.ncpu + k) * c.ovs);

			for (size_t w = 0; w < words; w++)
				n[w] += o[w] - s[w];
		}
		if (bpf_map_update_elem(new_fd, &i, buf, BPF_EXIST)) {
			err = -errno;
			goto out;
		}
	}
out:
	free(cur);
	free(buf);
	return err;
}

/* ---- conntrack ---- */

int mig_ct_copy(int old_fd, const struct ct_tables *nt, uint64_t *moved, uint64_t *failed)
{
	struct ct_shard_info ni;
	struct bpf_map_info oi, si;
	unsigned char key[sizeof(struct sl_ct_key)], next[sizeof(struct sl_ct_key)];
	unsigned char *val = NULL;
	int err;

	*moved = *failed = 0;
	err = map_info(old_fd, &oi);
	if (!err)
		err = ct_shards_info(nt, &ni);
	if (!err && !ni.shards)
		err = -ENOENT;
	/* the previous table: its first half assured shards, its second half unassured */
	for (__u32 o = 0; !err && o < oi.max_entries; o++) {
		bool una = o >= oi.max_entries / 2, first = true;
		__u32 id;
		int fd;

		if (bpf_map_lookup_elem(old_fd, &o, &id))
			continue;
		fd = bpf_map_get_fd_by_id(id);
		if (fd < 0 || map_info(fd, &si)) {
			err = -errno;
			if (fd >= 0)
				close(fd);
			break;
		}
		if (si.key_size != sizeof(struct sl_ct_key) &&
		    si.key_size != sizeof(struct sl_ct_key4)) {
			/* a key of another layout names another connection: nothing to copy */
			close(fd);
			err = -EPROTO;
			break;
		}
		free(val);
		val = calloc(1, si.value_size > sizeof(struct sl_ct_entry) ?
			     si.value_size : sizeof(struct sl_ct_entry));
		if (!val) {
			close(fd);
			err = -ENOMEM;
			break;
		}
		while (!bpf_map_get_next_key(fd, first ? NULL : key, next)) {
			struct sl_ct_key k;
			struct sl_ct_entry e = {};

			first = false;
			memcpy(key, next, si.key_size);
			if (bpf_map_lookup_elem(fd, key, val))
				continue;
			if (si.key_size == sizeof(struct sl_ct_key4))
				ct_key_of4((const struct sl_ct_key4 *)key, &k);
			else
				memcpy(&k, key, sizeof(k));
			memcpy(&e, val, si.value_size < sizeof(e) ? si.value_size : sizeof(e));
			/* each family to its own table (until ct4_shards, both were here) */
			err = ct_shards_insert(nt, ni.shards, &k, &e, una);
			if (!err)
				(*moved)++;
			else if (err != -EEXIST)
				(*failed)++;
			err = 0;
		}
		close(fd);
	}
	free(val);
	return err;
}

/*
 * The conntrack table (P: ct_shards or ct4_shards): every connection
 * copied into this build's tables, each to its family's (ct_shards of the
 * layout before ct4_shards held both); at the end once more, for the
 * connections the previous programs opened until their links moved (an
 * entry already copied stays as this build's programs keep it).
 */
static int mig_ct_carry(struct migrate *mg, struct mig_pin *p, bool final)
{
	bool v4 = !strcmp(p->m->name, SLUICE_MAP_CT4);
	struct ct_tables nt = { .fd4 = -1, .fd6 = -1 };
	uint64_t moved, failed;
	int other, err;

	other = pin_open(mg->maps_dir, v4 ? SLUICE_MAP_CT : SLUICE_MAP_CT4);
	if (other < 0) {
		pr_err("%s: this build's map is not pinned: %s", v4 ? SLUICE_MAP_CT : SLUICE_MAP_CT4,
		       strerror(-other));
		return other;
	}
	nt.fd4 = v4 ? p->new_fd : other;
	nt.fd6 = v4 ? other : p->new_fd;
	err = mig_ct_copy(p->old_fd, &nt, &moved, &failed);
	close(other);
	if (err == -EPROTO) {
		pr_err("%s: the previous conntrack table's keys have another layout: its "
		       "connections cannot be carried over", p->m->name);
		return err;
	}
	if (err) {
		pr_err("cannot carry the conntrack table over: %s", strerror(-err));
		return err;
	}
	pr_info("conntrack: %llu connections carried over from the previous layout of %s%s%s",
		(unsigned long long)moved, p->m->name,
		final ? " (opened during the upgrade)" : "",
		failed ? "; some could not be (table full)" : "");
	return 0;
}

/* ---- the load balancer's flows ---- */

/*
 * The previous flow table W of lb_flowtab OLD_FD (*OFD; 40-byte keys and
 * values, else -EPROTO) and this build's in slot SLOT of NEW_FD (*NFD),
 * made by CREATE as NAME of the previous one's size where there is none.
 * 0 (both open), 1 (OLD_FD has no table W: nothing open) or -errno.
 */
static int flows_tables(int old_fd, __u32 w, int new_fd, __u32 slot,
			int (*create)(const char *name, uint32_t entries), const char *name,
			int *ofd, int *nfd)
{
	struct bpf_map_info oi;
	__u32 id;
	int err;

	*nfd = -1;
	if (bpf_map_lookup_elem(old_fd, &w, &id))
		return 1;	/* no flows: no service yet */
	*ofd = bpf_map_get_fd_by_id(id);
	if (*ofd < 0)
		return -errno;
	err = map_info(*ofd, &oi);
	if (!err && (oi.key_size != sizeof(struct lb_flow_key) ||
		     oi.value_size != sizeof(struct lb_flow)))
		err = -EPROTO;	/* other keys name other flows */
	if (!err && !bpf_map_lookup_elem(new_fd, &slot, &id)) {
		*nfd = bpf_map_get_fd_by_id(id);
		if (*nfd < 0)
			err = -errno;
	} else if (!err) {
		*nfd = create(name, oi.max_entries);
		if (*nfd < 0)
			err = *nfd;
		else if (bpf_map_update_elem(new_fd, &slot, nfd, BPF_ANY))
			err = -errno;
	}
	if (err) {
		close(*ofd);
		if (*nfd >= 0)
			close(*nfd);
	}
	return err;
}

int mig_flows_copy(int old_fd, int new_fd, uint64_t *moved, uint64_t *failed)
{
	static const char *const names[2] = { SLUICE_MAP_LB_FLOWS, SLUICE_MAP_LB_REVERSE };
	struct lb_flow_key key, next;
	struct lb_flow val;
	int err = 0;

	*moved = *failed = 0;
	for (__u32 w = 0; w < 2 && !err; w++) {
		bool first = true;
		int ofd, nfd;

		err = flows_tables(old_fd, w, new_fd, w, lb_flowtab_create, names[w], &ofd, &nfd);
		if (err) {
			err = err > 0 ? 0 : err;
			continue;
		}
		while (!bpf_map_get_next_key(ofd, first ? NULL : &key, &next)) {
			first = false;
			key = next;
			/* IPv4 flows live in lb_flowtab4 (mig_flows4_copy) */
			if ((w == LB_FLOWS && key.family == 4) ||
			    bpf_map_lookup_elem(ofd, &key, &val))
				continue;	/* gone meanwhile */
			/* one this build's programs keep already stays as it is */
			if (!bpf_map_update_elem(nfd, &key, &val, BPF_NOEXIST))
				++*moved;
			else if (errno != EEXIST)
				++*failed;
		}
		close(ofd);
		close(nfd);
	}
	return err;
}

/*
 * What a copy of the load balancer's flows from map NAME did (ERR, MOVED,
 * FAILED; FINAL: the second one), said: WHAT ("flows", "IPv4 flows")
 * carried over HOW. Flows of another layout are balanced again: 0, as for
 * a copy done; other errors returned.
 */
static int flows_said(const char *name, const char *what, const char *how, int err,
		      uint64_t moved, uint64_t failed, bool final)
{
	if (err == -EPROTO) {
		pr_warn("%s: the previous flows have another key or value layout: its %s are "
			"balanced again", name, what);
		return 0;
	}
	if (err) {
		pr_err("cannot carry the load balancer's %s over: %s", what, strerror(-err));
		return err;
	}
	pr_info("load balancer: %llu %s carried over %s%s%s", (unsigned long long)moved, what,
		how, final ? " (opened during the upgrade)" : "",
		failed ? "; some could not be (table full)" : "");
	return 0;
}

/*
 * lb_flowtab of another layout (its own, not its group's: MIG_F_ALONE):
 * every flow and NAT reverse entry copied into this build's tables, made
 * of the previous ones' sizes, so that established flows stay on their
 * backends (lb_backends, with their ids, is kept); at the end once more
 * for the flows the previous programs opened meanwhile. Replaced with its
 * group (the backends' ids went with it): nothing to copy, the flows are
 * balanced again by the new tables (Maglev gives each the same backend
 * while the backend set is the one it was recorded with).
 */
static int mig_flows_carry(struct migrate *mg, struct mig_pin *p, bool final)
{
	uint64_t moved, failed;
	int err;

	(void)mg;
	if (!p->differs) {
		if (!final)
			pr_info("%s: replaced with the load balancer's other maps (%s): its "
				"flows are balanced again", p->m->name, p->why);
		return 0;
	}
	err = mig_flows_copy(p->old_fd, p->new_fd, &moved, &failed);
	return flows_said(p->m->name, "flows", "from the previous layout", err, moved, failed,
			  final);
}

int mig_flows4_copy(int from_fd, int new_fd, bool purge, uint64_t *moved, uint64_t *failed)
{
	struct lb_flow_key key, next, *del = NULL;
	size_t ndel = 0, cap = 0;
	struct lb_flow4_key k4;
	struct lb_flow val;
	bool first = true;
	int ofd, nfd, err;

	*moved = *failed = 0;
	err = flows_tables(from_fd, LB_FLOWS, new_fd, 0, lb_flowtab4_create, SLUICE_MAP_LB_FLOWS4,
			   &ofd, &nfd);
	if (err)
		return err > 0 ? 0 : err;
	while (!err && !bpf_map_get_next_key(ofd, first ? NULL : &key, &next)) {
		first = false;
		key = next;
		if (key.family != 4 || bpf_map_lookup_elem(ofd, &key, &val))
			continue;	/* IPv6 (stays), or gone meanwhile */
		sl_lb_flow4_key(&k4, &key);
		/* one this build's programs keep already stays as it is */
		if (!bpf_map_update_elem(nfd, &k4, &val, BPF_NOEXIST))
			++*moved;
		else if (errno != EEXIST)
			++*failed;
		if (!purge)
			continue;
		/* deleted after the walk: a deleted key would restart it */
		if (ndel == cap) {
			struct lb_flow_key *v = realloc(del, (cap = cap ? 2 * cap : 256) *
							sizeof(*v));

			if (!v) {
				err = -ENOMEM;
				break;
			}
			del = v;
		}
		del[ndel++] = key;
	}
	for (size_t i = 0; !err && i < ndel; i++)
		bpf_map_delete_elem(ofd, &del[i]);
	free(del);
	close(ofd);
	if (nfd >= 0)
		close(nfd);
	return err;
}

/* Is the load balancer's group replaced (its backend ids gone)? */
static bool lb_group_replaced(const struct migrate *mg)
{
	for (size_t i = 0; i < mg->npins; i++)
		if (mg->pins[i].m->group == MIG_G_LB && mg->pins[i].differs &&
		    !(mg->pins[i].m->flags & MIG_F_ALONE))
			return true;
	return false;
}

/*
 * lb_flowtab4, new in this build (p->from: old_fd is lb_flowtab, kept in
 * place, or moved aside when it has another layout itself): the IPv4 flows
 * of lb_flowtab[LB_FLOWS] copied into it, so that established IPv4 flows
 * stay on their backends; at the end once more for the flows the previous
 * programs opened meanwhile, and those left in lb_flowtab deleted. With
 * the group replaced (the backends' ids went with it), nothing to copy.
 */
static int mig_flows4_carry(struct migrate *mg, struct mig_pin *p, bool final)
{
	uint64_t moved, failed;
	int err;

	if (lb_group_replaced(mg))
		return 0;
	err = mig_flows4_copy(p->old_fd, p->new_fd, final, &moved, &failed);
	return flows_said(p->m->from, "IPv4 flows", "into " SLUICE_MAP_LB_FLOWTAB4, err, moved,
			  failed, final);
}

/*
 * The rule counters' owners (an agent's map, no program writes it): copied
 * by counter id, so that every rule finds its counters again. Owners of
 * another size cannot be compared with this build's keys: forgotten, and
 * every rule takes a fresh counter. Once only: at the end this build's
 * agent has written its own.
 */
static int mig_keys_carry(struct migrate *mg, struct mig_pin *p, bool final)
{
	struct bpf_map_info ni;
	unsigned char v[8];
	int err;

	(void)mg;
	if (final)
		return 0;
	err = map_info(p->new_fd, &ni);
	if (err)
		return err;
	if (p->old.key_size != sizeof(__u32) || ni.key_size != sizeof(__u32) ||
	    p->old.value_size != ni.value_size || ni.value_size > sizeof(v)) {
		pr_warn("%s: the previous owners have another layout: the rule counters start "
			"from zero", p->m->name);
		return 0;
	}
	for (__u32 k = 0; k < p->old.max_entries && k < ni.max_entries; k++)
		if (!bpf_map_lookup_elem(p->old_fd, &k, v) &&
		    bpf_map_update_elem(p->new_fd, &k, v, BPF_ANY))
			return -errno;
	return 0;
}

/*
 * eg_lb_rev, (socket cookie, backend) -> VIP: what getpeername() and
 * recvmsg() give back for a socket the socket load balancer connected. The
 * same key layout: copied, values keep their leading bytes; at the end once
 * more for what the previous hooks added (an entry already there stays).
 * Another key layout names sockets otherwise: the entries are lost (sockets
 * connected before the upgrade then see their backend's address), never a
 * refusal: no verdict depends on them.
 */
static int mig_rev_carry(struct migrate *mg, struct mig_pin *p, bool final)
{
	unsigned char *key = NULL, *next = NULL, *val = NULL;
	struct bpf_map_info ni;
	size_t n = 0;
	bool first = true;
	int err;

	(void)mg;
	err = map_info(p->new_fd, &ni);
	if (err)
		return err;
	if (p->old.key_size != ni.key_size || !ni.value_size) {
		if (!final)
			pr_warn("%s: the previous entries have another key layout: sockets "
				"connected through the socket load balancer before the upgrade "
				"now see their backend's address in getpeername()/recvmsg()",
				p->m->name);
		return 0;
	}
	key = malloc(ni.key_size);
	next = malloc(ni.key_size);
	val = calloc(1, p->old.value_size > ni.value_size ? p->old.value_size : ni.value_size);
	if (!key || !next || !val) {
		err = -ENOMEM;
		goto out;
	}
	while (!bpf_map_get_next_key(p->old_fd, first ? NULL : key, next)) {
		first = false;
		memcpy(key, next, ni.key_size);
		memset(val, 0, p->old.value_size > ni.value_size ? p->old.value_size :
							      ni.value_size);
		if (bpf_map_lookup_elem(p->old_fd, key, val))
			continue;
		if (!bpf_map_update_elem(p->new_fd, key, val, BPF_NOEXIST))
			n++;
	}
	if (n)
		pr_info("%s: %zu sockets' VIPs carried over%s", p->m->name, n,
			final ? " (connected during the upgrade)" : "");
out:
	free(key);
	free(next);
	free(val);
	return err;
}

/* ---- the plan ---- */

static int pin_add(struct migrate *mg, const struct mig_map *m, int fd,
		   const struct bpf_map_info *info)
{
	struct mig_pin *v = realloc(mg->pins, (mg->npins + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	mg->pins = v;
	v += mg->npins++;
	memset(v, 0, sizeof(*v));
	v->m = m;
	v->old_fd = fd;
	v->new_fd = -1;
	v->old = *info;
	return 0;
}

/* The pinned map FD (closed on failure) added as one M replaces: *P. 0 or -errno. */
static int pin_add_replaced(struct migrate *mg, const struct mig_map *m, int fd,
			    struct mig_pin **p)
{
	struct bpf_map_info info;
	int err = map_info(fd, &info);

	if (!err)
		err = pin_add(mg, m, fd, &info);
	if (err) {
		close(fd);
		return err;
	}
	*p = &mg->pins[mg->npins - 1];
	(*p)->differs = true;
	return 0;
}

static void pins_free(struct migrate *mg)
{
	for (size_t i = 0; i < mg->npins; i++) {
		struct mig_pin *p = &mg->pins[i];

		if (p->old_fd >= 0)
			close(p->old_fd);
		if (p->new_fd >= 0)
			close(p->new_fd);
		names_free(p);
		free(p->snap);
	}
	free(mg->pins);
	mg->pins = NULL;
	mg->npins = 0;
}

void migrate_free(struct migrate *mg)
{
	if (!mg)
		return;
	pins_free(mg);
	if (mg->names_fd >= 0)
		close(mg->names_fd);
	free(mg);
}

static bool seen_before(struct bpf_object *const *objs, size_t o, const struct bpf_map *map)
{
	const char *name = bpf_map__name(map);

	for (size_t i = 0; i < o; i++)
		if (bpf_object__find_map_by_name(objs[i], name))
			return true;
	return false;
}

/* The newest generation of the slots in the pinned fwo_cfg FD: fw_config.generation
 * stays its first field in every layout. */
static uint64_t slots_generation(int fd, const struct bpf_map_info *oi)
{
	uint64_t gen = 0;

	for (__u32 s = 0; s < oi->max_entries; s++) {
		struct bpf_map_info info;
		unsigned char *v;
		__u32 id, k = 0;
		int ifd;

		if (bpf_map_lookup_elem(fd, &s, &id))
			continue;
		ifd = bpf_map_get_fd_by_id(id);
		if (ifd < 0)
			continue;
		v = !map_info(ifd, &info) && info.value_size >= 8 ? calloc(1, info.value_size) :
								      NULL;
		if (v && !bpf_map_lookup_elem(ifd, &k, v) && *(uint64_t *)v > gen)
			gen = *(uint64_t *)v;
		free(v);
		close(ifd);
	}
	return gen;
}

/* Look at the pinned map of DEF: add it to the plan with what differs (or not). */
/*
 * M, a map of this build that is not pinned, whose contents were in M->from
 * before: carried from M->from's pin, if there is one (it stays in place).
 */
static int plan_from(struct migrate *mg, const struct mig_map *m)
{
	struct mig_pin *p;
	int fd, err;

	fd = pin_open(mg->maps_dir, m->from);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0) {
		pr_err("cannot open the pinned map %s/%s: %s", mg->maps_dir, m->from,
		       strerror(-fd));
		return fd;
	}
	err = pin_add_replaced(mg, m, fd, &p);
	if (err)
		return err;
	p->from = true;
	snprintf(p->why, sizeof(p->why), "new in this build, its entries were in %s", m->from);
	return 0;
}

static int plan_map(struct migrate *mg, const struct mig_map *m, struct bpf_map *def)
{
	char path[PATH_MAX], why[160] = "";
	struct bpf_map_info info;
	struct mig_pin *p;
	int fd, err;

	err = join(path, sizeof(path), mg->maps_dir, m->name);
	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd < 0 && errno == ENOENT && m->from)
		return plan_from(mg, m);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		err = -errno;
		pr_err("cannot open the pinned map %s: %s", path, strerror(errno));
		return err;
	}
	err = map_info(fd, &info);
	if (err) {
		pr_err("%s: not a BPF map: %s", path, strerror(-err));
		close(fd);
		return err;
	}
	/*
	 * The kernel makes a devmap read-only for programs, a flag map creation
	 * refuses: the pinned map reports it, this build's definition cannot.
	 */
	if ((info.type == BPF_MAP_TYPE_DEVMAP || info.type == BPF_MAP_TYPE_DEVMAP_HASH) &&
	    info.map_flags == (bpf_map__map_flags(def) | BPF_F_RDONLY_PROG))
		bpf_map__set_map_flags(def, info.map_flags);
	err = pin_add(mg, m, fd, &info);
	if (err) {
		close(fd);
		return err;
	}
	p = &mg->pins[mg->npins - 1];
	err = layout_differs(fd, &info, def, why, sizeof(why));
	if (err < 0) {
		pr_err("%s: cannot compare with this build's layout: %s", path, strerror(-err));
		return err;
	}
	p->differs = err;
	if (!p->differs && m->split) {
		int other = pin_open(mg->maps_dir, m->split);

		if (other >= 0) {
			close(other);
		} else if (other == -ENOENT) {
			p->differs = true;
			snprintf(why, sizeof(why), "the one before %s took over part of what "
				 "it holds", m->split);
		} else {
			pr_err("%s/%s: %s", mg->maps_dir, m->split, strerror(-other));
			return other;
		}
	}
	if (m->kind == MIG_COUNTERS) {
		/* names for the first entries; a map may keep spare ones for later names */
		p->nn.v = m->names;
		p->nn.n = bpf_map__max_entries(def);
		p->nn.named = m->names ? m->nnames : 0;
		err = prev_names(mg, p, info.max_entries);
		if (err)
			return err;
		if (!p->differs && !names_equal(&p->on, &p->nn)) {
			p->differs = true;
			snprintf(why, sizeof(why), "its entries are named otherwise");
		}
	}
	snprintf(p->why, sizeof(p->why), "%s", why);
	return 0;
}

/*
 * The names of a retired map of one hook's counters (MIG_F_XDP) as this
 * build's XDP entries: "xdp/" + the name it was recorded with (or its
 * release's list).
 */
static int xdp_names(struct migrate *mg, struct mig_pin *p)
{
	const char *hook = sl_hook_names[SLUICE_HOOK_XDP];
	int err = prev_names(mg, p, p->on.n);

	for (size_t i = 0; !err && i < p->on.n; i++) {
		char *s;

		if (!p->own[i])
			continue;
		if (asprintf(&s, "%s/%s", hook, p->own[i]) < 0)
			return -ENOMEM;
		free(p->own[i]);
		p->own[i] = s;
	}
	return err;
}

/*
 * A retired name M: pinned, it joins the plan (the previous programs read it
 * until their links move). This build using the name would be a bug.
 */
static int plan_retired(struct migrate *mg, const struct mig_map *m,
			struct bpf_object *const *objs, size_t nobjs)
{
	struct mig_pin *p;
	int fd, err;

	for (size_t o = 0; o < nobjs; o++)
		if (bpf_object__find_map_by_name(objs[o], m->name)) {
			pr_err("map %s of this build is retired in agent/migrate.c", m->name);
			return -EEXIST;
		}
	fd = pin_open(mg->maps_dir, m->name);
	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	err = pin_add_replaced(mg, m, fd, &p);
	if (err)
		return err;
	snprintf(p->why, sizeof(p->why), "retired");
	/* rule counters: entry K is rule K, the last one the default action */
	p->on.n = p->old.max_entries;
	return m->flags & MIG_F_XDP ? xdp_names(mg, p) : 0;
}

bool migrate_slots_retired(const char *maps_dir)
{
	struct bpf_map_info info;
	bool used = false;
	__u32 key;
	int fd;

	for (size_t t = 0; !used && t < sizeof(mig_maps) / sizeof(mig_maps[0]); t++) {
		const struct mig_map *m = &mig_maps[t];

		if (m->kind != MIG_RETIRED || !(m->flags & MIG_F_IFACES))
			continue;
		fd = pin_open(maps_dir, m->name);
		if (fd < 0)
			continue;
		/* the hash: an interface is a key (the array mirrors it) */
		used = !map_info(fd, &info) && info.type == BPF_MAP_TYPE_HASH &&
		       !bpf_map_get_next_key(fd, NULL, &key);
		close(fd);
	}
	return used;
}

int migrate_plan(const char *maps_dir, const char *upgrade_dir, struct bpf_object *const *objs,
		 size_t nobjs, struct migrate **out)
{
	struct migrate *mg;
	struct bpf_map *map;
	size_t keep = 0;
	int err = 0;

	*out = NULL;
	mg = calloc(1, sizeof(*mg));
	if (!mg)
		return -ENOMEM;
	mg->names_fd = -1;
	snprintf(mg->maps_dir, sizeof(mg->maps_dir), "%s", maps_dir);
	snprintf(mg->upgrade_dir, sizeof(mg->upgrade_dir), "%s", upgrade_dir);
	mg->names_fd = pin_open(maps_dir, MIG_NAMES_MAP);
	if (mg->names_fd < 0)
		mg->names_fd = -1;

	for (size_t o = 0; o < nobjs && !err; o++) {
		bpf_object__for_each_map(map, objs[o]) {
			const struct mig_map *m;

			if (bpf_map__is_internal(map) || seen_before(objs, o, map))
				continue;
			m = mig_find(bpf_map__name(map));
			if (!m) {
				pr_err("map %s of this build has no upgrade policy in "
				       "agent/migrate.c", bpf_map__name(map));
				err = -ENOENT;
				break;
			}
			if (m->kind == MIG_PROGRAM)
				continue;
			err = plan_map(mg, m, map);
			if (err)
				break;
		}
	}
	/* names an earlier layout pinned: this build has its own map in their place */
	for (size_t t = 0; !err && t < sizeof(mig_maps) / sizeof(mig_maps[0]); t++)
		if (mig_maps[t].kind == MIG_RETIRED)
			err = plan_retired(mg, &mig_maps[t], objs, nobjs);
	if (err)
		goto fail;
	/* a group goes as a whole: the previous programs keep a consistent set */
	for (size_t i = 0; i < mg->npins; i++) {
		struct mig_pin *p = &mg->pins[i];

		for (size_t j = 0; !p->differs && p->m->group != MIG_G_NONE && j < mg->npins; j++)
			if (mg->pins[j].differs && mg->pins[j].m->group == p->m->group &&
			    !(mg->pins[j].m->flags & MIG_F_ALONE))
				snprintf(p->why, sizeof(p->why), "replaced with %s",
					 mg->pins[j].m->name);
	}
	for (size_t i = 0; i < mg->npins; i++) {
		struct mig_pin *p = &mg->pins[i];

		if (!p->differs && !p->why[0]) {
			close(p->old_fd);
			names_free(p);
			continue;
		}
		if (p->m->kind == MIG_STATE && !p->m->carry) {
			pr_err("%s/%s: the pinned map holds %s in another layout (%s), and this "
			       "build cannot carry it over: not starting; the firewall in force "
			       "stays as it is (run the previous sluiced, or 'sluice teardown' to "
			       "start afresh without it)", maps_dir, p->m->name, p->m->holds,
			       p->why);
			err = -EEXIST;
			goto fail;
		}
		if (p->m->flags & MIG_F_GEN) {
			uint64_t gen = slots_generation(p->old_fd, &p->old);

			if (gen > mg->generation)
				mg->generation = gen;
		}
		if (p->m->kind == MIG_RETIRED)
			pr_info("upgrade: %s/%s (%s) is a name this build retired (%s in its "
				"place): %s", maps_dir, p->m->name, p->m->holds, p->m->successor,
				p->m->flags & MIG_F_RULES ?
				"its counters are carried over by rule order after the apply" :
				p->m->flags & MIG_F_XDP ?
				"its counters are carried over by name as the xdp hook's" :
				"the previous programs keep it until their links move");
		else if (p->from)
			pr_info("upgrade: %s/%s (%s) is %s: carried over", maps_dir, p->m->name,
				p->m->holds, p->why);
		else
			pr_info("upgrade: %s/%s (%s) has another layout: %s; %s", maps_dir,
				p->m->name, p->m->holds, p->why,
				p->m->kind == MIG_COUNTERS ?
				"its counters are carried over by name" :
				p->m->kind == MIG_STATE ? "carried over" :
				p->m->kind == MIG_POLICY ? "rebuilt from the policy" : "made anew");
		mg->pins[keep++] = *p;
	}
	mg->npins = keep;
	*out = mg;
	return 0;
fail:
	migrate_free(mg);
	return err;
}

size_t migrate_count(const struct migrate *mg, bool *slots)
{
	if (slots) {
		*slots = false;
		for (size_t i = 0; mg && i < mg->npins; i++)
			*slots |= mg->pins[i].m->kind == MIG_POLICY;
	}
	return mg ? mg->npins : 0;
}

uint64_t migrate_generation(const struct migrate *mg)
{
	return mg ? mg->generation : 0;
}

/* ---- begin, carry, commit, rollback ---- */

/* Move a pin between the maps dir and the upgrade dir (TO_UPGRADE: there). */
static int pin_move(const struct migrate *mg, const char *name, bool to_upgrade)
{
	char a[PATH_MAX], b[PATH_MAX];
	int err;

	err = join(a, sizeof(a), mg->maps_dir, name);
	if (!err)
		err = join(b, sizeof(b), mg->upgrade_dir, name);
	if (err)
		return err;
	if (!to_upgrade && unlink(a) && errno != ENOENT)
		return -errno;
	if (rename(to_upgrade ? a : b, to_upgrade ? b : a))
		return -errno;
	return 0;
}

void migrate_rollback(struct migrate *mg)
{
	int err;

	if (!mg)
		return;
	for (size_t i = 0; mg->begun && i < mg->npins; i++) {
		struct mig_pin *p = &mg->pins[i];
		char path[PATH_MAX];

		/* a map new in this build: the next attempt carries it from its source again */
		if (p->from && !join(path, sizeof(path), mg->maps_dir, p->m->name) &&
		    unlink(path) && errno != ENOENT)
			pr_warn("cannot unpin %s: %s", path, strerror(errno));
		if (!p->moved)
			continue;
		err = pin_move(mg, p->m->name, false);
		if (err)
			pr_err("cannot put the previous %s back under %s: %s", p->m->name,
			       mg->maps_dir, strerror(-err));
	}
	if (mg->begun) {
		if (rmdir(mg->upgrade_dir) && errno != ENOENT)
			pr_warn("cannot remove %s: %s", mg->upgrade_dir, strerror(errno));
		pr_warn("upgrade undone: the previous maps are pinned again under %s",
			mg->maps_dir);
	}
	migrate_free(mg);
}

int migrate_begin(struct migrate *mg)
{
	int err = 0;

	if (!mg->npins)
		return 0;
	if (mkdir(mg->upgrade_dir, 0700) && errno != EEXIST) {
		err = -errno;
		pr_err("cannot create %s: %s", mg->upgrade_dir, strerror(errno));
		return err;
	}
	mg->begun = true;
	for (size_t i = 0; i < mg->npins && !err; i++) {
		/* not pinned under its name: its source stays where it is */
		if (mg->pins[i].from)
			continue;
		err = pin_move(mg, mg->pins[i].m->name, true);
		if (err)
			pr_err("cannot move %s/%s aside: %s", mg->maps_dir, mg->pins[i].m->name,
			       strerror(-err));
		else
			mg->pins[i].moved = true;
	}
	return err;
}

/*
 * A retired map of one hook's counters (MIG_F_XDP) into the XDP entries of
 * its successor, when OBJ has it (loaded, pinned), by name: what the
 * previous programs counted was all XDP's.
 */
static int carry_xdp(struct migrate *mg, struct mig_pin *p, struct bpf_object *obj)
{
	const struct bpf_map *def = bpf_object__find_map_by_name(obj, p->m->successor);
	const struct mig_map *succ = mig_find(p->m->successor);
	int err;

	if (p->carried || !def || !bpf_map__autocreate(def) || !succ)
		return 0;
	p->new_fd = pin_open(mg->maps_dir, p->m->successor);
	if (p->new_fd < 0) {
		pr_err("%s: this build's map is not pinned: %s", p->m->successor,
		       strerror(-p->new_fd));
		return p->new_fd;
	}
	p->carried = true;
	p->nn.v = succ->names;
	p->nn.n = bpf_map__max_entries(def);
	p->nn.named = succ->nnames;
	err = mig_counters_copy(p->old_fd, &p->on, p->new_fd, &p->nn, &p->snap);
	if (err)
		pr_warn("%s: cannot carry the counters over into %s: %s; they start from zero",
			p->m->name, p->m->successor, strerror(-err));
	else
		pr_info("%s: the counters carried over into %s as the xdp hook's", p->m->name,
			p->m->successor);
	return 0;
}

int migrate_carry(struct migrate *mg, struct bpf_object *obj, bool state)
{
	int err = 0;

	for (size_t i = 0; mg && i < mg->npins && !err; i++) {
		struct mig_pin *p = &mg->pins[i];
		struct bpf_map *def;

		if (p->m->kind == MIG_RETIRED && p->m->flags & MIG_F_XDP) {
			err = carry_xdp(mg, p, obj);
			continue;
		}
		if (p->carried || (p->m->kind == MIG_STATE && !state) ||
		    p->m->kind == MIG_RETIRED)
			continue;
		/* a map of another object: carried when that one is loaded */
		def = bpf_object__find_map_by_name(obj, p->m->name);
		if (!def || !bpf_map__autocreate(def))
			continue;
		if (p->new_fd < 0)
			p->new_fd = pin_open(mg->maps_dir, p->m->name);
		if (p->new_fd < 0) {
			err = p->new_fd;
			pr_err("%s: this build's map is not pinned: %s", p->m->name,
			       strerror(-err));
			break;
		}
		p->carried = true;
		if (p->m->kind == MIG_COUNTERS) {
			int e = mig_counters_copy(p->old_fd, &p->on, p->new_fd, &p->nn, &p->snap);

			if (e)
				pr_warn("%s: cannot carry the counters over: %s; they start from "
					"zero", p->m->name, strerror(-e));
		} else if (p->m->kind == MIG_STATE) {
			err = p->m->carry(mg, p, false);
		}
	}
	return err;
}

int migrate_carry_rules(struct migrate *mg, const uint32_t *ids, size_t n)
{
	int err = 0;

	for (size_t i = 0; mg && i < mg->npins && !err; i++) {
		struct mig_pin *p = &mg->pins[i];
		struct bpf_map_info info;
		size_t last;

		if (p->carried || !(p->m->flags & MIG_F_RULES))
			continue;
		p->new_fd = pin_open(mg->maps_dir, p->m->successor);
		err = p->new_fd < 0 ? p->new_fd : map_info(p->new_fd, &info);
		if (!err && info.max_entries == 0)
			err = -EINVAL;
		if (!err && !(p->nown = calloc(info.max_entries, sizeof(*p->nown))))
			err = -ENOMEM;
		if (err)
			break;
		/* this build's ids by the old indexes: rule K of the policy, the default last */
		last = info.max_entries - 1;
		p->nn.v = (const char *const *)p->nown;
		p->nn.n = info.max_entries;
		for (size_t k = 0; k < n && !err; k++) {
			char b[24];

			snprintf(b, sizeof(b), "%zu", k);
			if (ids[k] < last && !p->nown[ids[k]] && !(p->nown[ids[k]] = strdup(b)))
				err = -ENOMEM;
		}
		if (!err && !(p->nown[last] = strdup("default")))
			err = -ENOMEM;
		if (err)
			break;
		p->carried = true;
		err = mig_counters_copy(p->old_fd, &p->on, p->new_fd, &p->nn, &p->snap);
		if (err) {
			pr_warn("%s: cannot carry the rule counters over into %s: %s; they start "
				"from zero", p->m->name, p->m->successor, strerror(-err));
			err = 0;
		} else {
			pr_info("%s: the counters of %zu rules and the default action carried "
				"over into %s by rule order", p->m->name,
				n < p->on.n - 1 ? n : p->on.n - 1, p->m->successor);
		}
	}
	return err;
}

/* The id of the map pinned as NAME under the maps dir; 0: none. */
static __u32 pinned_id(const struct migrate *mg, const char *name)
{
	struct bpf_map_info info;
	int fd = pin_open(mg->maps_dir, name);

	if (fd < 0)
		return 0;
	if (map_info(fd, &info))
		info.id = 0;
	close(fd);
	return info.id;
}

/* Write the entry names of this build's counter maps (pinned) into sl_cnt_names. */
static void names_record(struct migrate *mg)
{
	char path[PATH_MAX];
	int fd = mg->names_fd;

	if (join(path, sizeof(path), mg->maps_dir, MIG_NAMES_MAP))
		return;
	if (fd < 0) {
		LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);

		fd = bpf_map_create(BPF_MAP_TYPE_HASH, MIG_NAMES_MAP, sizeof(struct mig_name_key),
				    sizeof(struct mig_name_val), MIG_NAMES_MAX, &opts);
		if (fd < 0 || bpf_obj_pin(fd, path) || chmod(path, 0600)) {
			pr_warn("cannot create %s: %s; a later upgrade matches counters by "
				"this build's lists", path, strerror(errno));
			if (fd >= 0)
				close(fd);
			return;
		}
		mg->names_fd = fd;
	}
	for (size_t t = 0; t < sizeof(mig_maps) / sizeof(mig_maps[0]); t++) {
		const struct mig_map *m = &mig_maps[t];
		struct mig_name_key k = { .map_id = 0 };
		struct mig_name_val v;

		if (m->kind != MIG_COUNTERS || !m->names)
			continue;
		k.map_id = pinned_id(mg, m->name);
		for (k.index = 0; k.map_id && k.index < m->nnames; k.index++) {
			if (!m->names[k.index])		/* a spare entry */
				continue;
			memset(&v, 0, sizeof(v));
			snprintf(v.name, sizeof(v.name), "%s", m->names[k.index]);
			if (bpf_map_update_elem(fd, &k, &v, BPF_ANY))
				pr_warn("%s: cannot record %s: %s", path, m->name, strerror(errno));
		}
	}
}

/* Forget the names of maps that are no longer pinned (freed, or replaced). */
static void names_prune(struct migrate *mg)
{
	__u32 ids[sizeof(mig_maps) / sizeof(mig_maps[0])];
	struct mig_name_key k, next, *gone = NULL;
	size_t n = 0, ngone = 0;
	bool first = true;

	if (mg->names_fd < 0)
		return;
	for (size_t t = 0; t < sizeof(mig_maps) / sizeof(mig_maps[0]); t++)
		if (mig_maps[t].kind == MIG_COUNTERS && mig_maps[t].names)
			ids[n++] = pinned_id(mg, mig_maps[t].name);
	while (!bpf_map_get_next_key(mg->names_fd, first ? NULL : &k, &next)) {
		bool keep = false;
		struct mig_name_key *v;

		first = false;
		k = next;
		for (size_t i = 0; i < n && !keep; i++)
			keep = ids[i] == k.map_id;
		if (keep)
			continue;
		v = realloc(gone, (ngone + 1) * sizeof(*gone));
		if (!v)
			break;
		gone = v;
		gone[ngone++] = k;
	}
	for (size_t i = 0; i < ngone; i++)
		bpf_map_delete_elem(mg->names_fd, &gone[i]);
	free(gone);
}

void migrate_commit(struct migrate *mg)
{
	char path[PATH_MAX];
	size_t n = 0;
	int err;

	if (!mg)
		return;
	/*
	 * The names of this build's maps first: a crash before the previous
	 * pins go leaves both maps named (recovery puts the previous back).
	 */
	names_record(mg);
	for (size_t i = 0; i < mg->npins; i++) {
		struct mig_pin *p = &mg->pins[i];

		if (p->carried && p->snap &&
		    (p->m->kind == MIG_COUNTERS || p->m->flags & (MIG_F_RULES | MIG_F_XDP))) {
			err = mig_counters_delta(p->old_fd, &p->on, p->new_fd, &p->nn, p->snap);
			if (err)
				pr_warn("%s: what the previous programs counted during the "
					"upgrade is lost: %s", p->m->name, strerror(-err));
		} else if (p->carried && p->m->kind == MIG_STATE) {
			p->m->carry(mg, p, true);
		}
		if (p->moved && !join(path, sizeof(path), mg->upgrade_dir, p->m->name)) {
			if (unlink(path))
				pr_warn("cannot unpin %s: %s", path, strerror(errno));
			else
				n++;
		}
	}
	if (mg->begun && rmdir(mg->upgrade_dir) && errno != ENOENT)
		pr_warn("cannot remove %s: %s", mg->upgrade_dir, strerror(errno));
	if (n)
		pr_info("upgrade done: %zu maps of the previous layout unpinned", n);
	names_prune(mg);
	migrate_free(mg);
}

int migrate_recover(const char *maps_dir, const char *upgrade_dir)
{
	struct migrate mg = { .names_fd = -1 };
	struct dirent *de;
	unsigned int n = 0;
	int err = 0;
	DIR *d;

	d = opendir(upgrade_dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	snprintf(mg.maps_dir, sizeof(mg.maps_dir), "%s", maps_dir);
	snprintf(mg.upgrade_dir, sizeof(mg.upgrade_dir), "%s", upgrade_dir);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		err = pin_move(&mg, de->d_name, false);
		if (err) {
			pr_err("cannot put %s/%s back: %s", upgrade_dir, de->d_name,
			       strerror(-err));
			break;
		}
		n++;
	}
	closedir(d);
	if (!err && rmdir(upgrade_dir))
		err = -errno;
	if (!err)
		pr_warn("an upgrade was interrupted: the %u maps it had replaced are pinned "
			"again under %s; upgrading again", n, maps_dir);
	return err;
}
