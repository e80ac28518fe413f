/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The maps of the XDP firewall, as laid out in sluice_abi.h. The variable
 * name is the map name the kernel, the pins and userspace see. No `pinning`
 * here: the agent chooses pin paths with bpf_map__set_pin_path, and tests
 * must not pin anything.
 *
 * The big tables are BPF_F_MMAPABLE so that fw_maps_write can fill them with
 * one memcpy each instead of ~300k syscalls (fw_src4 alone is 32 MB).
 */
#ifndef SLUICE_BPF_MAPS_H
#define SLUICE_BPF_MAPS_H

#include "sluice_abi.h"
#include "ct_maps.h"	/* ct_shards, ct_sweep, ct_cfg, ct_stats: shared with the TC program */

/* The scalar settings of the compiled policy; written last by fw_maps_write. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fw_config);
} fw_cfg SEC(".maps");

/* Class -> bitmap of the rules that match one value of one field. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, SLUICE_MAX_CLASSES);
	__type(key, __u32);
	__type(value, struct fw_bitmap);
} fw_cls SEC(".maps");

/* DIR-24-8 first level for the IPv4 source: one class (or tbl8 group) per /24. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, SLUICE_T24_BLOCKS);
	__type(key, __u32);
	__type(value, struct fw_blk);
} fw_src4 SEC(".maps");

/* DIR-24-8 first level for the IPv4 destination. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, SLUICE_T24_BLOCKS);
	__type(key, __u32);
	__type(value, struct fw_blk);
} fw_dst4 SEC(".maps");

/* DIR-24-8 second level for the IPv4 source: /24s split by longer prefixes. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, SLUICE_T8_GROUPS);
	__type(key, __u32);
	__type(value, struct fw_t8);
} fw_src4_t8 SEC(".maps");

/* DIR-24-8 second level for the IPv4 destination. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, SLUICE_T8_GROUPS);
	__type(key, __u32);
	__type(value, struct fw_t8);
} fw_dst4_t8 SEC(".maps");

/* IPv6 source prefix -> class; ::/0 is always present. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SLUICE_LPM6_MAX);
	__type(key, struct fw_lpm6_key);
	__type(value, struct fw_lpm6_val);
} fw_src6 SEC(".maps");

/* IPv6 destination prefix -> class; ::/0 is always present. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SLUICE_LPM6_MAX);
	__type(key, struct fw_lpm6_key);
	__type(value, struct fw_lpm6_val);
} fw_dst6 SEC(".maps");

/* TCP/UDP source port -> class, 64 ports per element. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, SLUICE_PORT_BLOCKS);
	__type(key, __u32);
	__type(value, struct fw_blk);
} fw_sport SEC(".maps");

/* TCP/UDP destination port -> class, 64 ports per element. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, SLUICE_PORT_BLOCKS);
	__type(key, __u32);
	__type(value, struct fw_blk);
} fw_dport SEC(".maps");

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
	__uint(max_entries, SLUICE_VERDICT_MAX);
	__type(key, __u32);
	__type(value, struct sl_counter);
} sl_verdict SEC(".maps");

/* Packets/bytes per drop reason (enum sluice_drop_reason). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_DROP_MAX);
	__type(key, __u32);
	__type(value, struct sl_counter);
} sl_drop SEC(".maps");

#endif /* SLUICE_BPF_MAPS_H */
