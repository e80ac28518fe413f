/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The maps of the XDP firewall, as laid out in sluice_abi.h. The variable
 * name is the map name the kernel, the pins and userspace see. No `pinning`
 * here: the agent chooses pin paths with bpf_map__set_pin_path, and tests
 * must not pin anything.
 *
 * The array tables are BPF_F_MMAPABLE so that fw_slot_write fills each with
 * one memcpy instead of one syscall per element.
 * They are inner maps of map-in-map outer arrays (one slot per compiled
 * policy); the counters are shared by every slot.
 */
#ifndef SLUICE_BPF_MAPS_H
#define SLUICE_BPF_MAPS_H

#include "sluice_abi.h"
#include "ct_maps.h"	/* ct_shards, ct_sweep, ct_cfg, ct_stats: shared with the TC program */

/*
 * The compiled policies, by policy slot. Each table kind is an outer array
 * of maps indexed by slot; a slot's inner maps are created, filled and
 * inserted by userspace (lib/fw_maps.c) and never written again: applying a
 * policy builds a new slot and then flips the interface's entry in
 * sl_ifslot, one word. A packet reads its slot once (the entry program) and
 * uses it throughout, so it sees one policy from start to end.
 *
 * The inner templates come from SLUICE_FW_TABLES (sluice_abi.h): type,
 * key, value and flags, and the size of the tables that keep a fixed one
 * (their lookups are inlined; sized ones, BPF_F_INNER_MAP, are helper
 * calls: measured ~3 ns each, paid only where memory must follow the policy).
 */
#define SL_OUTER(id, outer, name, mtype, flags, entries, ktype, vtype)	\
struct {								\
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);			\
	__uint(max_entries, SLUICE_POL_SLOTS);				\
	__type(key, __u32);						\
	__array(values, struct {					\
		__uint(type, mtype);					\
		__uint(map_flags, flags);				\
		__uint(max_entries, (entries) ? (entries) : 1);		\
		__type(key, ktype);					\
		__type(value, vtype);					\
	});								\
} outer SEC(".maps");

/*
 * clang emits only a forward declaration for a value type named nowhere but
 * in an inner map template, and libbpf then cannot size the template: name
 * each one once in a global that is never used.
 */
struct sl_inner_types {
	struct fw_config cfg;
	struct fw_bitmap bm;
	struct fw_l1blk l1;
	struct fw_blk blk;
	struct fw_t8 t8;
	struct fw_lh_bkt lh;
	struct fw_p1 p1;
	struct fw_p2 p2;
	struct fw_rule_blk rule;
	struct fw_lpm6_key k6;
	struct fw_lpm6_val v6;
};
struct sl_inner_types *sl_inner_types_btf __attribute__((unused));

SLUICE_FW_TABLES(SL_OUTER)

/*
 * Interface -> policy slot, the word a policy change flips. Key 0 is the
 * default for an interface without an entry (tests and benchmarks use it);
 * no entry at all: no policy, the packet passes (counted as pass).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLUICE_IFSLOT_MAX);
	__type(key, __u32);
	__type(value, __u32);
} sl_ifslot_v2 SEC(".maps");

/* The same words for ifindex < SLUICE_IFSLOT_ARRAY, as slot + 1 (0: none):
 * what the entry program reads (an array lookup the verifier inlines). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_IFSLOT_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
} sl_ifslot_a_v2 SEC(".maps");

/* Packets/bytes per rule counter id (fw_rule); SLUICE_CNT_DEFAULT: the default action. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_CNT_MAX);
	__type(key, __u32);
	__type(value, struct sl_counter);
} fw_rule_cnt_v2 SEC(".maps");

/* Counter id -> key of the rule that owns it, 0: free (the agent's, never read here). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} fw_cnt_key SEC(".maps");

/* The CLI blocklist (sluice_abi.h SLUICE_MAP_BLOCK*): edited in place by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SLUICE_BLOCK_MAX);
	__type(key, __u32);
	__type(value, __u8);
} sl_block4h SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SLUICE_BLOCK_MAX);
	__type(key, struct sl_block6h_key);
	__type(value, __u8);
} sl_block6h SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SLUICE_BLOCK_MAX);
	__type(key, struct sl_block4_key);
	__type(value, __u8);
} sl_block4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SLUICE_BLOCK_MAX);
	__type(key, struct fw_lpm6_key);
	__type(value, __u8);
} sl_block6 SEC(".maps");

/* Packets/bytes per hook and verdict (SLUICE_VERDICT_IDX: enum sluice_hook, sluice_verdict). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_HOOK_MAX * SLUICE_VERDICT_SLOTS);
	__type(key, __u32);
	__type(value, struct sl_counter);
} sl_verdict_v2 SEC(".maps");

/* Packets/bytes per hook and drop reason (SLUICE_DROP_IDX: enum sluice_hook, sluice_drop_reason). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_HOOK_MAX * SLUICE_DROP_SLOTS);
	__type(key, __u32);
	__type(value, struct sl_counter);
} sl_drop_v2 SEC(".maps");

#endif /* SLUICE_BPF_MAPS_H */
