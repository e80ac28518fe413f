/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The maps of the XDP firewall, as laid out in sluice_abi.h. The variable
 * name is the map name the kernel, the pins and userspace see. No `pinning`
 * here: the agent chooses pin paths with bpf_map__set_pin_path, and tests
 * must not pin anything.
 *
 * The big tables are BPF_F_MMAPABLE so that fw_maps_write can fill them with
 * one memcpy each instead of ~300k syscalls (fw_src4 alone is 32 MB).
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
 * The inner templates below fix type, key, value and flags. Arrays marked
 * BPF_F_INNER_MAP may be sized to what the compiled policy uses (tbl8
 * groups); the tables read for every packet (classes, DIR-24-8 first
 * levels, ports) keep their fixed size so that the verifier still inlines
 * their lookups (measured: sizing fw_cls cost ~15 ns per packet).
 */
#define SL_OUTER(name, inner_type, flags, entries, vtype)		\
struct {								\
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);			\
	__uint(max_entries, SLUICE_POL_SLOTS);				\
	__type(key, __u32);						\
	__array(values, struct {					\
		__uint(type, inner_type);				\
		__uint(map_flags, flags);				\
		__uint(max_entries, entries);				\
		__type(key, __u32);					\
		__type(value, vtype);					\
	});								\
} name SEC(".maps")

#define SL_INNER_SIZED	(BPF_F_MMAPABLE | BPF_F_INNER_MAP)

/*
 * clang emits only a forward declaration for a value type named nowhere but
 * in an inner map template, and libbpf then cannot size the template: name
 * each one once in a global that is never used.
 */
struct sl_inner_types {
	struct fw_config cfg;
	struct fw_bitmap bm;
	struct fw_blk blk;
	struct fw_t8 t8;
	struct fw_lpm6_key k6;
	struct fw_lpm6_val v6;
};
struct sl_inner_types *sl_inner_types_btf __attribute__((unused));

/* fw_cfg: the scalar settings of the compiled policy (one entry). */
SL_OUTER(fwo_cfg, BPF_MAP_TYPE_ARRAY, 0, 1, struct fw_config);
/* fw_cls: class -> bitmap of the rules that match one value of one field. */
SL_OUTER(fwo_cls, BPF_MAP_TYPE_ARRAY, BPF_F_MMAPABLE, SLUICE_MAX_CLASSES, struct fw_bitmap);
/* fw_src4/fw_dst4: DIR-24-8 first level, one class (or tbl8 group) per /24. */
SL_OUTER(fwo_src4, BPF_MAP_TYPE_ARRAY, BPF_F_MMAPABLE, SLUICE_T24_BLOCKS, struct fw_blk);
SL_OUTER(fwo_dst4, BPF_MAP_TYPE_ARRAY, BPF_F_MMAPABLE, SLUICE_T24_BLOCKS, struct fw_blk);
/* fw_src4_t8/fw_dst4_t8: DIR-24-8 second level, /24s split by longer prefixes. */
SL_OUTER(fwo_src4_t8, BPF_MAP_TYPE_ARRAY, SL_INNER_SIZED, 1, struct fw_t8);
SL_OUTER(fwo_dst4_t8, BPF_MAP_TYPE_ARRAY, SL_INNER_SIZED, 1, struct fw_t8);
/* fw_sport/fw_dport: TCP/UDP port -> class, 64 ports per element. */
SL_OUTER(fwo_sport, BPF_MAP_TYPE_ARRAY, BPF_F_MMAPABLE, SLUICE_PORT_BLOCKS, struct fw_blk);
SL_OUTER(fwo_dport, BPF_MAP_TYPE_ARRAY, BPF_F_MMAPABLE, SLUICE_PORT_BLOCKS, struct fw_blk);

/* fw_src6/fw_dst6: IPv6 prefix -> class, ::/0 always present; sized to the policy. */
#define SL_OUTER_LPM6(name)						\
struct {								\
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);			\
	__uint(max_entries, SLUICE_POL_SLOTS);				\
	__type(key, __u32);						\
	__array(values, struct {					\
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);			\
		__uint(map_flags, BPF_F_NO_PREALLOC);			\
		__uint(max_entries, 1);					\
		__type(key, struct fw_lpm6_key);			\
		__type(value, struct fw_lpm6_val);			\
	});								\
} name SEC(".maps")

SL_OUTER_LPM6(fwo_src6);
SL_OUTER_LPM6(fwo_dst6);

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
} sl_ifslot SEC(".maps");

/* The same words for ifindex < SLUICE_IFSLOT_ARRAY, as slot + 1 (0: none):
 * what the entry program reads (an array lookup the verifier inlines). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_IFSLOT_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
} sl_ifslot_a SEC(".maps");

/* Per-rule packets/bytes; SLUICE_RULE_DEFAULT counts the default action. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_MAX_RULES + 1);
	__type(key, __u32);
	__type(value, struct sl_counter);
} fw_rule_cnt SEC(".maps");

/* Packets/bytes per XDP verdict (enum sluice_verdict). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_VERDICT_SLOTS);
	__type(key, __u32);
	__type(value, struct sl_counter);
} sl_verdict SEC(".maps");

/* Packets/bytes per drop reason (enum sluice_drop_reason). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_DROP_SLOTS);
	__type(key, __u32);
	__type(value, struct sl_counter);
} sl_drop SEC(".maps");

#endif /* SLUICE_BPF_MAPS_H */
