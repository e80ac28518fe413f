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

#include "bench.h"
#include "bench_fw.h"

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
	ctb_new((void *)(long)ctx->data, (void *)(long)ctx->data_end);
	return sl_firewall(ctx);
}

/* Turn the frame around: swap the IPv4 addresses and the ports. */
static __always_inline int ctb_turn(struct xdp_md *ctx)
{
	__u8 *p = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 a;
	__u16 port;

	if ((void *)(p + 38) > (void *)end)
		return -1;
	__builtin_memcpy(&a, p + 26, 4);
	__builtin_memcpy(p + 26, p + 30, 4);
	__builtin_memcpy(p + 30, &a, 4);
	__builtin_memcpy(&port, p + 34, 2);
	__builtin_memcpy(p + 34, p + 36, 2);
	__builtin_memcpy(p + 36, &port, 2);
	return 0;
}

/* ctb_egress's meta and conntrack packet: off the stack, which the firewall beside it fills. */
struct ctb_eg {
	struct sl_meta m;
	struct sl_ct_pkt p;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ctb_eg);
} ctb_eg_scr SEC(".maps");

/*
 * The frame as the host's answer leaving: conntrack as the TC egress
 * program (sluice_tc) runs it, on this frame. Global, its state in a map
 * of its own: the verifier checks it apart from the firewall inlined
 * beside it (together they pass its budget, and their stacks 512 bytes).
 */
__noinline int ctb_egress(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct sl_ct_config *ctc;
	struct ctb_eg *s;
	__u32 key = 0;

	ctc = bpf_map_lookup_elem(&ct_cfg, &key);
	s = bpf_map_lookup_elem(&ctb_eg_scr, &key);
	if (!ctc || !s)
		return XDP_ABORTED;
	__builtin_memset(&s->m, 0, sizeof(s->m));
	if (sl_parse(data, data_end, &s->m) != SL_PARSE_IP)
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	return sl_ct_track(data, data_end, &s->m, ctc, &s->p, data_end - data,
			   SL_CT_OPENED_OUT) == SL_CT_HIT ? XDP_PASS : XDP_DROP;
}

/* The firewall as a call of its own (global): its stack apart from ctb_egress's. */
__noinline int ctb_fw(struct xdp_md *ctx)
{
	return sl_firewall(ctx);
}

/*
 * A new flow and its answer: the flow's first packet through the firewall,
 * then the same frame turned around, leaving as the host's answer does
 * (ctb_egress: an answer arriving proves nothing, sl_ct_proof). For UDP,
 * an assured entry (the fills that stand for established connections);
 * returns XDP_PASS when the answer found its flow, the frame turned back
 * for the next repetition.
 */
SEC("xdp")
int ct_answered(struct xdp_md *ctx)
{
	int v;

	if (ctb_new((void *)(long)ctx->data, (void *)(long)ctx->data_end))
		return XDP_ABORTED;
	ctb_fw(ctx);
	if (ctb_turn(ctx))
		return XDP_ABORTED;
	v = ctb_egress(ctx);
	if (ctb_turn(ctx))
		return XDP_ABORTED;
	return v;
}

SEC("xdp")
int ct_rand(struct xdp_md *ctx)
{
	ctb_rand((void *)(long)ctx->data, (void *)(long)ctx->data_end);
	return sl_firewall(ctx);
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
 * SYN cookies. ckb_syn writes a whole SYN (sl_bench_syn) from the flow
 * counter (bytes 0..3): 198.18.0.0 + i / 60000, port 1024 + i % 60000, to
 * 198.51.100.1:80, ISN i; every byte, since the program before turned the
 * frame into its SYN-ACK.
 */
static __always_inline int ckb_syn(struct xdp_md *ctx)
{
	__u8 *p, *end;
	__u32 i;

	p = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if ((void *)(p + SL_BENCH_SYN_LEN) > (void *)end)
		return -1;
	i = *(__u32 *)p + 1;
	__builtin_memset(p, 0, SL_BENCH_SYN_LEN);
	/* in both MACs: the SYN-ACK swaps them */
	*(__u32 *)p = i;
	*(__u32 *)(p + 6) = i;
	sl_bench_syn(p, bpf_htonl(0xC6120000u + ((i / 60000) & 0x1ffff)), bpf_htonl(0xC6336401),
		     bpf_htons(1024 + i % 60000), bpf_htons(80), bpf_htonl(i));
	return 0;
}

/* The SYN-ACK in the frame turned into the client's ACK of its cookie. */
static __always_inline int ckb_ack(struct xdp_md *ctx)
{
	__u8 *p, *end;
	__u32 seq, ack;

	if (ctb_turn(ctx))
		return -1;
	p = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if ((void *)(p + SL_BENCH_SYN_LEN) > (void *)end)
		return -1;
	__builtin_memcpy(&seq, p + 38, 4);
	ack = bpf_htonl(bpf_ntohl(seq) + 1);
	__builtin_memcpy(p + 38, p + 42, 4);	/* our seq: their ack (ISN + 1) */
	__builtin_memcpy(p + 42, &ack, 4);	/* our ack: the cookie + 1 */
	p[47] = 0x10;				/* ACK */
	__builtin_memset(p + 54, 1, 4);		/* NOPs where the MSS was */
	return 0;
}

/* A cookie SYN: the SYN written, then the firewall (XDP_TX). */
SEC("xdp")
int ck_syn(struct xdp_md *ctx)
{
	if (ckb_syn(ctx))
		return XDP_ABORTED;
	return sl_firewall(ctx);
}

/* The same SYN, then the ACK returning its cookie (XDP_PASS, tracked). */
SEC("xdp")
int ck_pair(struct xdp_md *ctx)
{
	if (ckb_syn(ctx) || sl_firewall(ctx) != XDP_TX || ckb_ack(ctx))
		return XDP_ABORTED;
	return sl_firewall(ctx);
}

SEC("xdp")
int ckf_syn(struct xdp_md *ctx)
{
	return ckb_syn(ctx) ? XDP_ABORTED : XDP_DROP;
}

SEC("xdp")
int ckf_pair(struct xdp_md *ctx)
{
	return ckb_syn(ctx) || ckb_ack(ctx) ? XDP_ABORTED : XDP_DROP;
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
	for (__u32 i = 0; i < 4 * SLUICE_CT_SHARDS_MAX; i++) {
		m = sl_ct_map(i < 2 * SLUICE_CT_SHARDS_MAX, i % SLUICE_CT_SHARDS_MAX,
			      i / SLUICE_CT_SHARDS_MAX & 1);
		if (m)
			bpf_for_each_map_elem(m, sl_ct_sweep_one, &w, 0);
	}
	return (int)w.deleted;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
