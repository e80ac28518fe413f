// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark: what a bare insert into an LRU hash costs, beside the load
 * balancer's new-flow path (bench/bench_lb.c, SLUICE_BENCH_LB_LRU=1). Every
 * run a new key from a xorshift32, inserted with BPF_NOEXIST as a SYN's
 * flow is. Userspace sets the map's key size (16: an IPv4 flow, 40: struct
 * lb_flow_key), entries and LRU flavour before loading; lru_in inserts
 * through an array of maps (as lb_flowtab), lru_ins into the map itself,
 * lru_floor computes the key and drops. lru_look and lru_look_in look the
 * key up instead (lru_state[0] fixed by userspace: a hit every run).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "bench.h"

struct lru_val {
	__u8 b[40];		/* the size of struct lb_flow */
};

struct lru_key {
	__u32 w[10];		/* the size of struct lb_flow_key; the map may read 16 */
};

const volatile __u32 key_size = 40;

/* sizes, not types: userspace sets the key size (BTF would pin it to 40) */
struct lru_map {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__uint(key_size, sizeof(struct lru_key));
	__uint(value_size, sizeof(struct lru_val));
};

struct lru_map lru SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct lru_map);
} lru_outer SEC(".maps");	/* [0]: a map as lru, made by userspace */

/* not per CPU: a lookup finds the key inserted by a run on another CPU */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} lru_state SEC(".maps");

/* This run's key: a new source address, the rest of a flow to 192.0.2.10:80. */
static __always_inline int lru_key(struct lru_key *k, bool same)
{
	__u32 zero = 0, *x = bpf_map_lookup_elem(&lru_state, &zero);

	if (!x)
		return -1;
	if (!same)
		*x = sl_bench_xorshift(*x ? *x : 0x2545f491);
	__builtin_memset(k, 0, sizeof(*k));
	k->w[0] = *x;
	if (key_size == 16) {
		k->w[1] = 0x0a0200c0;
		k->w[2] = 0x50009c40;
		k->w[3] = 6;
	} else {
		k->w[4] = 0x0a0200c0;
		k->w[8] = 0x50009c40;
		k->w[9] = 0x0406;
	}
	return 0;
}

static struct lru_val val;

SEC("xdp")
int lru_floor(struct xdp_md *ctx)
{
	struct lru_key k;

	if (lru_key(&k, false))
		return XDP_ABORTED;
	/* keep the key's computation */
	asm volatile("" : : "r"(&k) : "memory");
	return XDP_DROP;
}

SEC("xdp")
int lru_ins(struct xdp_md *ctx)
{
	struct lru_key k;

	if (lru_key(&k, false))
		return XDP_ABORTED;
	bpf_map_update_elem(&lru, &k, &val, BPF_NOEXIST);
	return XDP_DROP;
}

SEC("xdp")
int lru_in(struct xdp_md *ctx)
{
	struct lru_key k;
	__u32 zero = 0;
	void *m;

	if (lru_key(&k, false))
		return XDP_ABORTED;
	m = bpf_map_lookup_elem(&lru_outer, &zero);
	if (m)
		bpf_map_update_elem(m, &k, &val, BPF_NOEXIST);
	return XDP_DROP;
}

SEC("xdp")
int lru_look(struct xdp_md *ctx)
{
	struct lru_key k;

	if (lru_key(&k, true))
		return XDP_ABORTED;
	return bpf_map_lookup_elem(&lru, &k) ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int lru_look_in(struct xdp_md *ctx)
{
	struct lru_key k;
	__u32 zero = 0;
	void *m;

	if (lru_key(&k, true))
		return XDP_ABORTED;
	m = bpf_map_lookup_elem(&lru_outer, &zero);
	return m && bpf_map_lookup_elem(m, &k) ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int lru_floor_same(struct xdp_md *ctx)
{
	struct lru_key k;

	if (lru_key(&k, true))
		return XDP_ABORTED;
	asm volatile("" : : "r"(&k) : "memory");
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
