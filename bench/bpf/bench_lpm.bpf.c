// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Benchmark baseline: the kernel LPM trie alone, looking up the IPv4 source
 * of an untagged frame, with the same random-source step as the others. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "bench.h"

struct lpm4_key {
	__u32 prefixlen;
	__u32 addr;	/* network order */
};

/* IPv4 prefix -> anything; the bench fills it with the same set as the firewall. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 2 << 20);
	__type(key, struct lpm4_key);
	__type(value, __u32);
} bench_lpm4 SEC(".maps");

static __always_inline int lpm_verdict(void *data, void *data_end)
{
	struct lpm4_key key = { .prefixlen = 32 };
	__u8 *p = data;

	if ((void *)(p + 34) > data_end)
		return XDP_ABORTED;
	key.addr = *(__u32 *)(p + 26);
	return bpf_map_lookup_elem(&bench_lpm4, &key) ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int lpm_same(struct xdp_md *ctx)
{
	return lpm_verdict((void *)(long)ctx->data, (void *)(long)ctx->data_end);
}

SEC("xdp")
int lpm_rand(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;

	sl_bench_rand_src(data, data_end);
	return lpm_verdict(data, data_end);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
