// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark programs for conntrack (bench/bench_ct.c). Each steps a flow
 * index kept in the frame and writes the IPv4 source and TCP source port
 * from it, then runs the firewall stage exactly as sluice_xdp does; the
 * ctf_* floors take the same step and drop. The bench points the maps at
 * sluice_xdp's (reuse_fd).
 *
 * Frame: untagged Ethernet + IPv4 + TCP.
 *   bytes 0..3   flow counter (ct_new: +1 per run) or xorshift32 state (ct_rand)
 *   bytes 6..9   index mask (ct_rand)
 *   flow i       198.18.0.0 + (i >> 16) : (i & 0xffff)   (RFC 2544 benchmark range)
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "lib/bench.h"
#include "lib/firewall.h"

static __always_inline void *ctb_flow(void *data, void *data_end, __u32 i)
{
	__u8 *p = data;

	if ((void *)(p + 54) > data_end)
		return NULL;
	*(__u32 *)(p + 26) = bpf_htonl(0xC6120000u + ((i >> 16) & 0x1ffff));
	*(__u16 *)(p + 34) = bpf_htons(i & 0xffff);
	return p;
}

static __always_inline int ctb_new(void *data, void *data_end)
{
	__u32 *c = data;

	if ((void *)(c + 1) > data_end)
		return -1;
	(*c)++;
	return ctb_flow(data, data_end, *c) ? 0 : -1;
}

static __always_inline int ctb_rand(void *data, void *data_end)
{
	__u8 *p = data;
	__u32 x;

	if ((void *)(p + 10) > data_end)
		return -1;
	x = sl_bench_xorshift(*(__u32 *)p);
	*(__u32 *)p = x;
	return ctb_flow(data, data_end, x & *(__u32 *)(p + 6)) ? 0 : -1;
}

SEC("xdp")
int ct_new(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;

	ctb_new(data, data_end);
	return sl_firewall(data, data_end);
}

SEC("xdp")
int ct_rand(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;

	ctb_rand(data, data_end);
	return sl_firewall(data, data_end);
}

SEC("xdp")
int ctf_new(struct xdp_md *ctx)
{
	ctb_new((void *)(long)ctx->data, (void *)(long)ctx->data_end);
	return XDP_DROP;
}

SEC("xdp")
int ctf_rand(struct xdp_md *ctx)
{
	ctb_rand((void *)(long)ctx->data, (void *)(long)ctx->data_end);
	return XDP_DROP;
}

/*
 * One walk of every shard as a sweeper does it (sl_ct_sweep_one: deletes
 * what is past its timeout), synchronously: its cost per entry. Returns
 * the entries deleted.
 */
SEC("xdp")
int ct_walk(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct sl_ct_config *cfg = bpf_map_lookup_elem(&ct_cfg, &zero);
	struct sl_ct_walk w = { .now = bpf_ktime_get_coarse_ns(), .next = ~0ull };
	void *m;

	for (__u8 st = SL_CT_SYN_SENT; st < SL_CT_STATE_MAX; st++)
		w.to_ns[st] = sl_ct_timeout_ns(cfg, st);
	for (__u32 i = 0; i < 2 * SLUICE_CT_SHARDS_MAX; i++) {
		m = sl_ct_map(i % SLUICE_CT_SHARDS_MAX, i >= SLUICE_CT_SHARDS_MAX);
		if (m)
			bpf_for_each_map_elem(m, sl_ct_sweep_one, &w, 0);
	}
	return (int)w.deleted;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
