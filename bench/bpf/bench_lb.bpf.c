// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark: the load balancer stage alone (parse + LB, no firewall), as a
 * Katran-like program would run, with BPF_PROG_TEST_RUN.
 *
 * BPF_PROG_TEST_RUN with `repeat` runs the program again and again on one
 * buffer, and the load balancer rewrites it (NAT) or grows it (DSR): every
 * program here first puts the frame back as userspace gave it (lbb_frame,
 * and the start of the buffer where it was) and writes the source address
 * of this run; lbb_floor does exactly that and drops. The differences
 * between them are the load balancer alone.
 *
 * Sources: lbb_same keeps the frame's; lbb_rand a xorshift32 over 2^24 /24s
 * (a new flow every run); lbb_rr a counter over lbb_cfg.rr sources (round
 * robin over that many flows).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "bench.h"
#include "lib/firewall.h"
#include "lib/lb.h"

#define LBB_FRAME	128

struct lbb_frame {
	__u32 len;		/* frame length */
	__u32 rr;		/* lbb_rr: sources in the round */
	__u32 x;		/* PRNG state / counter, per CPU */
	__u32 pad;
	__u8 b[LBB_FRAME];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lbb_frame);
} lbb_frame SEC(".maps");

enum { LBB_SAME, LBB_RAND, LBB_RR };

/* The frame as userspace gave it, with this run's source address; NULL on failure. */
static __always_inline struct lbb_frame *lbb_restore(struct xdp_md *ctx, int how)
{
	struct lbb_frame *f;
	void *data, *data_end;
	__u32 zero = 0, src;
	long cur;

	f = bpf_map_lookup_elem(&lbb_frame, &zero);
	if (!f || f->len > LBB_FRAME || f->len < 34)
		return NULL;
	cur = (long)ctx->data_end - (long)ctx->data;
	/* also by 0: one path, so clang reads ctx the way the verifier wants */
	if (bpf_xdp_adjust_head(ctx, (int)(cur - f->len)))
		return NULL;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + LBB_FRAME > data_end)
		return NULL;
	/*
	 * In 64-bit words: clang copies to a packet (alignment unknown) byte by
	 * byte, and the program's word reads of the headers just written that
	 * way stall on store forwarding (~2 ns a packet here), which a frame
	 * a NIC wrote does not; the floor reads nothing, so that was counted
	 * as the load balancer's.
	 */
#pragma unroll
	for (int i = 0; i < LBB_FRAME / 8; i++)
		((__u64 *)data)[i] = ((const __u64 *)f->b)[i];
	if (how == LBB_SAME)
		return f;
	if (how == LBB_RAND) {
		f->x = sl_bench_xorshift(f->x ? f->x : 0x2545f491);
		src = sl_bench_src(f->x, 1u << 24, SL_BENCH_24);
	} else {
		f->x = f->x + 1 < f->rr ? f->x + 1 : 0;
		src = sl_bench_src(f->x, 1u << 24, SL_BENCH_24);
	}
	*(__u32 *)(data + 26) = bpf_htonl(src);
	return f;
}

/* Parse and run the LB stage, the state in sl_scratch as in the pipeline. */
static __always_inline int lbb_lb(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct lb_config *cfg = sl_lb_cfg();
	struct sl_pipe *p = sl_pipe_get();

	if (!p || !cfg)
		return XDP_ABORTED;
	__builtin_memset(&p->m, 0, sizeof(p->m));
	p->lb.reply = 0;
	p->bytes = data_end - data;
	p->ifindex = ctx->ingress_ifindex;
	if (sl_parse(data, data_end, &p->m) != SL_PARSE_IP)
		return XDP_ABORTED;
	if (cfg->nat)
		sl_lb_reply_meta(p, cfg);
	return sl_lb(ctx, p, cfg);
}

SEC("xdp")
int lbb_floor(struct xdp_md *ctx)
{
	return lbb_restore(ctx, LBB_RAND) ? XDP_DROP : XDP_ABORTED;
}

SEC("xdp")
int lbb_same(struct xdp_md *ctx)
{
	return lbb_restore(ctx, LBB_SAME) ? lbb_lb(ctx) : XDP_ABORTED;
}

SEC("xdp")
int lbb_rand(struct xdp_md *ctx)
{
	return lbb_restore(ctx, LBB_RAND) ? lbb_lb(ctx) : XDP_ABORTED;
}

SEC("xdp")
int lbb_rr(struct xdp_md *ctx)
{
	return lbb_restore(ctx, LBB_RR) ? lbb_lb(ctx) : XDP_ABORTED;
}

/* The whole pipeline (sluice_xdp: firewall, then the LB) from the restored frame. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} lbb_next SEC(".maps");

SEC("xdp")
int lbb_pipe(struct xdp_md *ctx)
{
	if (!lbb_restore(ctx, LBB_SAME))
		return XDP_ABORTED;
	bpf_tail_call(ctx, &lbb_next, 0);
	return XDP_ABORTED;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
