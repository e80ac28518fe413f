// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Prototype of conntrack expiry design (b), for bench/bench_ct.c only: the
 * table sharded into CTB_K LRU maps behind an array of maps, one sweeper
 * bpf_timer per shard walking it with bpf_for_each_map_elem and deleting
 * what is past its timeout. Entries carry no timer. Measures what design (a)
 * is compared with: insert cost, memory, sweep CPU.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "sluice_abi.h"

#define CTB_K		16
#define CTB_SHARD_MAX	((1u << 20) / CTB_K + (1u << 20) / CTB_K / 4)

struct ctb_val {
	__u64 created, last_seen;
	__u64 packets[2], bytes[2];
	__u8 state, orig_is_a, fin_seen, pad[5];
};

struct ctb_shard {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CTB_SHARD_MAX);
	__type(key, struct sl_ct_key);
	__type(value, struct ctb_val);
};

#define S(n) struct ctb_shard ctb_s##n SEC(".maps");
S(0) S(1) S(2) S(3) S(4) S(5) S(6) S(7) S(8) S(9) S(10) S(11) S(12) S(13) S(14) S(15)
#undef S

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, CTB_K);
	__type(key, __u32);
	__array(values, struct ctb_shard);
} ctb_shards SEC(".maps") = {
	.values = { &ctb_s0, &ctb_s1, &ctb_s2, &ctb_s3, &ctb_s4, &ctb_s5, &ctb_s6, &ctb_s7,
		    &ctb_s8, &ctb_s9, &ctb_s10, &ctb_s11, &ctb_s12, &ctb_s13, &ctb_s14,
		    &ctb_s15 },
};

struct ctb_sweeper {
	struct bpf_timer t;
	__u64 period_ns;
	__u64 timeout_ns;
	__u64 runs;
	__u64 deleted;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CTB_K);
	__type(key, __u32);
	__type(value, struct ctb_sweeper);
} ctb_sweep SEC(".maps");

static __always_inline __u32 ctb_shard_of(const struct sl_ct_key *k)
{
	__u32 h = 0;

	/* the ports and the low address bytes: enough spread for the bench */
	__builtin_memcpy(&h, &k->addr_a[0], 4);
	h ^= k->port_a * 0x9E3779B1u ^ k->port_b;
	h ^= h >> 16;
	return h % CTB_K;
}

struct ctb_walk {
	__u64 now, timeout;
	__u64 deleted;
};

static long ctb_sweep_one(void *map, struct sl_ct_key *key, struct ctb_val *v,
			  struct ctb_walk *w)
{
	if ((__s64)(w->now - v->last_seen) > (__s64)w->timeout &&
	    !bpf_map_delete_elem(map, key))
		w->deleted++;
	return 0;
}

static int ctb_sweep_cb(void *map, __u32 *idx, struct ctb_sweeper *s)
{
	struct ctb_walk w = { .now = bpf_ktime_get_coarse_ns(), .timeout = s->timeout_ns };
	void *shard = bpf_map_lookup_elem(&ctb_shards, idx);

	if (shard)
		bpf_for_each_map_elem(shard, ctb_sweep_one, &w, 0);
	s->runs++;
	s->deleted += w.deleted;
	bpf_timer_start(&s->t, s->period_ns, 0);
	return 0;
}

/* Start every shard's sweeper (period and timeout already in ctb_sweep). */
SEC("xdp")
int ctb_start(struct xdp_md *ctx)
{
	int ok = 0;

	for (__u32 i = 0; i < CTB_K; i++) {
		__u32 k = i;
		struct ctb_sweeper *s = bpf_map_lookup_elem(&ctb_sweep, &k);

		if (!s)
			continue;
		/* -EBUSY: started by an earlier run */
		if (bpf_timer_init(&s->t, &ctb_sweep, 1) == -16) {
			ok++;
			continue;
		}
		bpf_timer_set_callback(&s->t, ctb_sweep_cb);
		/* spread the shards over the period */
		if (!bpf_timer_start(&s->t, s->period_ns / CTB_K * (i + 1), 0))
			ok++;
	}
	return ok;
}

/* New flow per run, as bench_ct's ct_new: insert into its shard, no timer. */
SEC("xdp")
int ctb_new(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct sl_ct_key k;
	struct ctb_val v;
	__u32 *c = data, i, s;
	void *shard;

	if ((void *)(c + 1) > data_end)
		return XDP_ABORTED;
	i = ++(*c);
	__builtin_memset(&k, 0, sizeof(k));
	*(__u32 *)k.addr_a = bpf_htonl(0xC6120000u + ((i >> 16) & 0x1ffff));
	*(__u32 *)k.addr_b = bpf_htonl(0xC6336401);
	k.port_a = bpf_htons(i & 0xffff);
	k.port_b = bpf_htons(80);
	k.proto = 6;
	k.family = 4;
	s = ctb_shard_of(&k);
	shard = bpf_map_lookup_elem(&ctb_shards, &s);
	if (!shard)
		return XDP_ABORTED;
	__builtin_memset(&v, 0, sizeof(v));
	v.created = v.last_seen = bpf_ktime_get_coarse_ns();
	v.state = SL_CT_SYN_SENT;
	if (bpf_map_update_elem(shard, &k, &v, BPF_NOEXIST))
		return XDP_DROP;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
