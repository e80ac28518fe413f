/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The load balancer's maps (layouts in sluice_abi.h). The agent pins them
 * with the others; the flow tables (lb_flowtab's inner maps) and the Maglev
 * tables (lb_maglev's) are created by the agent, sized from the policy
 * (lib/lb_maps.c), so a policy without services costs no flow table.
 */
#ifndef SLUICE_BPF_LB_MAPS_H
#define SLUICE_BPF_LB_MAPS_H

#include "sluice_abi.h"
#include "lb_flow_maps.h"	/* lb_backends, lb_flowtab, lb_hc: shared with TC */

/*
 * lb_flowtab4[0]: the IPv4 flows (struct lb_flow4_key -> struct lb_flow), an
 * LRU hash of lb_flowtab's size and flavour, created with it by the agent.
 */
struct lb_flow4_inner {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(struct lb_flow4_key));
	__uint(value_size, sizeof(struct lb_flow));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct lb_flow4_inner);
} lb_flowtab4 SEC(".maps");

/* (VIP, port, proto) -> service; VIP entries (port 0) mark the VIP itself. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	/* values are replaced whole: no prealloc, so a reader never sees half of one */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 2 * SLUICE_LB_SVC_MAX);
	__type(key, struct lb_svc_key);
	__type(value, struct lb_service);
} lb_svc SEC(".maps");

/*
 * Maglev lookup tables, one per service (lb_service.table): arrays of
 * lines of 32 backend ids (struct lb_maglev_line), ceil(size / 32) of them
 * for the service's prime size (BPF_F_INNER_MAP: sizes differ).
 */
struct lb_maglev_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_INNER_MAP);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	/* a size, not a type: an object that reads no line has no BTF of it */
	__uint(value_size, sizeof(struct lb_maglev_line));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, SLUICE_LB_TABLES);
	__type(key, __u32);
	__array(values, struct lb_maglev_inner);
} lb_maglev SEC(".maps");

/*
 * The backend id at entry HASH % size of service SVC's Maglev table, or
 * SLUICE_LB_NO_BACKEND (none up, or no table).
 */
static __always_inline __u32 sl_lb_maglev_id(const struct lb_service *svc, __u32 hash)
{
	struct lb_maglev_line *line;
	__u32 i, e;
	void *tbl;

	if (!svc->size)
		return SLUICE_LB_NO_BACKEND;
	tbl = bpf_map_lookup_elem(&lb_maglev, &svc->table);
	if (!tbl)
		return SLUICE_LB_NO_BACKEND;
	i = hash % svc->size;
	e = i / SLUICE_LB_LINE_IDS;
	line = bpf_map_lookup_elem(tbl, &e);
	if (!line)
		return SLUICE_LB_NO_BACKEND;
	i = line->id[i % SLUICE_LB_LINE_IDS];
	return i == SLUICE_LB_LINE_NONE ? SLUICE_LB_NO_BACKEND : i;
}

/* NAT backend -> the (VIP, port)s it serves: replies found through the forward flow. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	/* values are replaced whole: no prealloc, so a reader never sees half of one */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SLUICE_LB_BACKENDS_MAX);
	__type(key, struct lb_svc_key);
	__type(value, struct lb_nat_be);
} lb_nat_be SEC(".maps");

/* Backend id -> its next hop, cached per CPU (struct lb_nexthop). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_LB_BACKENDS_MAX);
	__type(key, __u32);
	__type(value, struct lb_nexthop);
} lb_nh SEC(".maps");

/* VIP and backend address bits (lb_filter in sluice_abi.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LB_F_MAX * SLUICE_LB_FILTER_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} lb_filter SEC(".maps");

/* Per-backend new flows, packets, bytes. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_LB_BACKENDS_MAX);
	__type(key, __u32);
	__type(value, struct lb_be_counter);
} lb_be_stats SEC(".maps");

/* enum sluice_lb_stat, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_LB_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} lb_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_config);
} lb_cfg SEC(".maps");

/* ifindex -> ifindex: the interfaces XDP_REDIRECT sends to (the attached ones). */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, SLUICE_LB_DEVMAP_MAX);
	__type(key, __u32);
	__type(value, __u32);
} lb_devmap SEC(".maps");

/* Backend side of DSR: the VIPs (lb_svc_key, port and proto 0) decapsulated here. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLUICE_LB_DECAP_MAX);
	__type(key, struct lb_svc_key);
	__type(value, __u32);
} lb_decap SEC(".maps");

/* ...on these interfaces (ifindex -> 1). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLUICE_LB_DECAP_MAX);
	__type(key, __u32);
	__type(value, __u32);
} lb_decap_if SEC(".maps");

#endif /* SLUICE_BPF_LB_MAPS_H */
