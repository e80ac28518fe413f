/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The conntrack maps (layouts in sluice_abi.h). They are shared: the agent
 * pins them once and every program that tracks connections (both XDP slots,
 * the TC egress program) reuses the same four maps. Kept apart from maps.h
 * so that the TC program does not create the firewall's 80 MB of tables.
 */
#ifndef SLUICE_BPF_CT_MAPS_H
#define SLUICE_BPF_CT_MAPS_H

#include "sluice_abi.h"

/* One entry per connection, keyed by the normalised 5-tuple. The agent sets
 * max_entries from conntrack.max-entries (bpf_map__set_max_entries). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SLUICE_CT_DEFAULT_MAX);
	__type(key, struct sl_ct_key);
	__type(value, struct sl_ct_entry);
} ct_tbl SEC(".maps");

/* Half-open TCP connections (syn-sent, syn-recv), until the handshake
 * completes and the entry moves to ct_tbl. Sized by the agent from ct_tbl's
 * size (SLUICE_CT_SYN_DIV). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SLUICE_CT_SYN_DEFAULT_MAX);
	__type(key, struct sl_ct_key);
	__type(value, struct sl_ct_entry);
} ct_syn SEC(".maps");

/* ct_cfg[0]: stateful flag and timeouts, written by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sl_ct_config);
} ct_cfg SEC(".maps");

/* Conntrack events (enum sluice_ct_stat), per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_CT_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} ct_stats SEC(".maps");

#endif /* SLUICE_BPF_CT_MAPS_H */
