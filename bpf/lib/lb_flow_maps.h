/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The load balancer's maps that the TC egress program uses too (DSR health
 * checks, bpf/lib/lb_hc.h): kept apart from lb_maps.h so that the TC object
 * reuses these pinned maps and creates no other load balancer map.
 */
#ifndef SLUICE_BPF_LB_FLOW_MAPS_H
#define SLUICE_BPF_LB_FLOW_MAPS_H

#include "sluice_abi.h"

/* Backend id -> address, port, incarnation. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_LB_BACKENDS_MAX);
	__type(key, __u32);
	__type(value, struct lb_backend);
} lb_backends SEC(".maps");

/*
 * lb_flowtab[LB_FLOWS]: established flows; lb_flowtab[LB_REVERSE]: NAT
 * replies. LRU hashes of the same layout (sizes, not types: see ct_maps.h).
 */
struct lb_flow_inner {
	/*
	 * One LRU list for all CPUs, not one per CPU (BPF_F_NO_COMMON_LRU):
	 * the kernel gives each possible CPU's list 1/CPUs of the entries
	 * alone, so flows arriving on one CPU (one receive queue) were evicted
	 * at that share of conntrack.max-entries. A new flow costs the same.
	 */
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(struct lb_flow_key));
	__uint(value_size, sizeof(struct lb_flow));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct lb_flow_inner);
} lb_flowtab SEC(".maps");

/* Backend id -> the VIP its DSR health checks are for (struct lb_hc). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_LB_BACKENDS_MAX);
	__type(key, __u32);
	__type(value, struct lb_hc);
} lb_hc SEC(".maps");

#endif /* SLUICE_BPF_LB_FLOW_MAPS_H */
