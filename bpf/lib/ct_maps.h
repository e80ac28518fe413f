/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The conntrack maps (layouts in sluice_abi.h). They are shared: the agent
 * pins them once and every program that tracks connections (both XDP slots,
 * the TC egress program) reuses the same maps. Kept apart from maps.h
 * so that the TC program does not create the firewall's 80 MB of tables.
 */
#ifndef SLUICE_BPF_CT_MAPS_H
#define SLUICE_BPF_CT_MAPS_H

#include "sluice_abi.h"

/*
 * The connection table, in shards (sluice_abi.h): LRU hashes created by the
 * agent (lib/ct_shards.c) and reached through these arrays of maps, IPv4
 * connections' in ct4_shards, IPv6 ones' in ct_shards, the assured shards
 * at [0, SHARDS_MAX), the unassured ones after them. These definitions are
 * only the templates every shard matches (sizes, not types: clang emits
 * the types of an inner map definition as forward declarations, which
 * libbpf cannot size).
 */
struct sl_ct_shard {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(struct sl_ct_key));
	__uint(value_size, sizeof(struct sl_ct_entry));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2 * SLUICE_CT_SHARDS_MAX);
	__type(key, __u32);
	__array(values, struct sl_ct_shard);
} ct_shards SEC(".maps");

struct sl_ct_shard4 {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(struct sl_ct_key4));
	__uint(value_size, sizeof(struct sl_ct_entry));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2 * SLUICE_CT_SHARDS_MAX);
	__type(key, __u32);
	__array(values, struct sl_ct_shard4);
} ct4_shards SEC(".maps");

/* ct_sweep[i]: the timer that expires the entries of shard i. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_CT_SHARDS_MAX);
	__type(key, __u32);
	__type(value, struct sl_ct_sweeper);
} ct_sweep SEC(".maps");

/*
 * The lookup filter's stamps (sluice_abi.h, SLUICE_CT_STAMPS): an array,
 * a word per bucket (its assured entries' stamp, its unassured ones'), two
 * buckets an entry,
 * whose lookup the verifier inlines (no call); mmapable, so that the agent
 * stamps the entries it inserts with the datapath's atomic max.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_CT_STAMP_ENTRIES);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct sl_ct_stamps);
} ct_stamp SEC(".maps");

/*
 * ct_cfg[0]: stateful flag and timeouts, written by the agent. Mmapable:
 * its value starts a page, all of it in one cache line (a 1-entry array's
 * value starts 8 bytes before a line's end otherwise: stateful in one,
 * the lookup filter's settings in the next, both read by every packet).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct sl_ct_config);
} ct_cfg SEC(".maps");

/* SYN cookies: ct_ck_cfg[0] the settings and key (agent), ct_ck_load auto's measure (per CPU). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sl_ck_config);
} ct_ck_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sl_ck_load);
} ct_ck_load SEC(".maps");

/* Conntrack events (enum sluice_ct_stat), per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_CT_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} ct_stats SEC(".maps");

static __always_inline void sl_ct_stat(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&ct_stats, &idx);

	if (c)
		(*c)++;
}

/* Add N (no branch on it: the verifier follows one path) to counter IDX. */
static __always_inline void sl_ct_stat_add(__u32 idx, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(&ct_stats, &idx);

	if (c)
		*c += n;
}

/* The number of shards CFG says the table has (a power of two, 1 without CFG). */
static __always_inline __u32 sl_ct_shards(const struct sl_ct_config *cfg)
{
	__u32 n = cfg ? cfg->shards : 1;

	return n && n <= SLUICE_CT_SHARDS_MAX ? n : 1;
}

/* Assured shard SHARD of the IPv4 (V4) or IPv6 table (UNASSURED: its unassured shard), or NULL. */
static __always_inline void *sl_ct_map(bool v4, __u32 shard, bool unassured)
{
	__u32 i = (shard & (SLUICE_CT_SHARDS_MAX - 1)) +
		  (unassured ? SLUICE_CT_SHARDS_MAX : 0);

	if (v4)
		return bpf_map_lookup_elem(&ct4_shards, &i);
	return bpf_map_lookup_elem(&ct_shards, &i);
}

/*
 * SYN cookies, auto mode: count a TCP handshake opened (OPENED: a half-open
 * entry created, a cookie sent) or completed on this CPU. At the end of a
 * window of SLUICE_CK_WINDOW_NS, more opened than completed by
 * press_min means the unassured shards are being filled by what never
 * completes (a SYN flood): cookies on for SLUICE_CK_HOLD_NS on this CPU.
 * Per CPU, no atomics: a flood spread over CPUs by RSS trips each.
 */
static __always_inline void sl_ck_count(bool opened, __u64 now)
{
	__u32 zero = 0;
	struct sl_ck_load *l = bpf_map_lookup_elem(&ct_ck_load, &zero);
	struct sl_ck_config *cfg;

	if (!l)
		return;
	if (now - l->win_start >= SLUICE_CK_WINDOW_NS) {
		cfg = bpf_map_lookup_elem(&ct_ck_cfg, &zero);
		if (cfg && cfg->press_min && l->opened > l->done + cfg->press_min) {
			l->until = now + SLUICE_CK_HOLD_NS;
			sl_ct_stat(SLUICE_CT_STAT_CK_PRESSURE);
		}
		l->win_start = now;
		l->opened = l->done = 0;
	}
	if (opened)
		l->opened++;
	else
		l->done++;
}

#endif /* SLUICE_BPF_CT_MAPS_H */
