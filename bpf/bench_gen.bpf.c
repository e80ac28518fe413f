// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Traffic generator for the live-frames throughput bench: run with
 * BPF_PROG_TEST_RUN + BPF_F_TEST_XDP_LIVE_FRAMES, every frame is redirected
 * into a veth whose peer runs the program under test. gen_rand writes a
 * pseudo-random IPv4 source first (state per CPU: live frames come from a
 * page pool, so state kept in the frame would repeat page by page).
 *
 * gen_syn: a spoofed SYN flood (bench/sl_flood.c): every frame a TCP SYN
 * from a pseudo-random source in syn_src_net/24 and port, with its own ISN
 * and both checksums right (SYN cookies are only given to intact SYNs).
 * gen_sink, on the flood's side of the veth: drops what comes back to the
 * spoofed sources (the SYN-ACKs), passes the rest to the stack.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "lib/bench.h"

const volatile __u32 tx_ifindex;
const volatile __u32 src_mask;
const volatile __u32 syn_src_net;	/* host order, a /24 */

/* xorshift32 state, one per CPU */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} gen_state SEC(".maps");

SEC("xdp")
int gen_same(struct xdp_md *ctx)
{
	return bpf_redirect(tx_ifindex, 0);
}

SEC("xdp")
int gen_rand(struct xdp_md *ctx)
{
	__u8 *p = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 key = 0, *x = bpf_map_lookup_elem(&gen_state, &key);

	if (!x || (void *)(p + 34) > (void *)end)
		return XDP_ABORTED;
	*x = sl_bench_xorshift(*x ? *x : 0x2545f491);
	*(__u32 *)(p + 26) = bpf_htonl(sl_bench_src(*x, src_mask));
	return bpf_redirect(tx_ifindex, 0);
}

/* Frame of gen_syn: Ethernet, IPv4 (20), TCP (20) with an MSS option (4). */
#define GEN_SYN_LEN	58

/* What gen_syn's frames are sent to (set by bench_synflood before load). */
const volatile __u8 syn_dst_mac[6], syn_src_mac[6];
const volatile __u32 syn_dst;		/* network order */
const volatile __u16 syn_dport;	/* network order */

static __always_inline __u16 gen_fold(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/*
 * Every byte of the frame is written each time: live frames come from a
 * page pool whose pages keep what the receiver did to them (a SYN cookie's
 * SYN-ACK is written over the SYN and sent back in the same page).
 */
SEC("xdp")
int gen_syn(struct xdp_md *ctx)
{
	__u8 *p = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 key = 0, *x = bpf_map_lookup_elem(&gen_state, &key), src, dst = syn_dst;
	__u16 sport, dport = syn_dport;
	__u64 s;

	if (!x || (void *)(p + GEN_SYN_LEN) > (void *)end)
		return XDP_ABORTED;
	*x = sl_bench_xorshift(*x ? *x : 0x2545f491);
	src = bpf_htonl(syn_src_net | (*x & 0xff));
	sport = bpf_htons(1024 + (*x >> 8) % 60000);
	__builtin_memset(p, 0, GEN_SYN_LEN);
	for (int i = 0; i < 6; i++) {
		p[i] = syn_dst_mac[i];
		p[6 + i] = syn_src_mac[i];
	}
	p[12] = 0x08;
	p[14] = 0x45;
	p[17] = GEN_SYN_LEN - 14;	/* total length */
	p[20] = 0x40;			/* DF */
	p[22] = 64;
	p[23] = 6;
	__builtin_memcpy(p + 26, &src, 4);
	__builtin_memcpy(p + 30, &dst, 4);
	__builtin_memcpy(p + 34, &sport, 2);
	__builtin_memcpy(p + 36, &dport, 2);
	__builtin_memcpy(p + 38, x, 4);	/* ISN */
	p[46] = 6 << 4;			/* data offset: 24 bytes */
	p[47] = 0x02;			/* SYN */
	p[48] = 0xfa;			/* window 64240 */
	p[49] = 0xf0;
	p[54] = 2;			/* MSS 1460 */
	p[55] = 4;
	p[56] = 0x05;
	p[57] = 0xb4;
	*(__u16 *)(p + 24) = gen_fold((__u32)bpf_csum_diff(NULL, 0, (void *)(p + 14), 20, 0));
	s = (__u64)src + dst + bpf_htonl(24) + bpf_htonl(6);
	s += (__u32)bpf_csum_diff(NULL, 0, (void *)(p + 34), 24, 0);
	*(__u16 *)(p + 50) = gen_fold(s);
	return bpf_redirect(tx_ifindex, 0);
}

SEC("xdp")
int gen_sink(struct xdp_md *ctx)
{
	__u8 *p = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 dst;

	if ((void *)(p + 34) > (void *)end || p[12] != 0x08 || p[13] != 0x00)
		return XDP_PASS;
	__builtin_memcpy(&dst, p + 30, 4);
	return (bpf_ntohl(dst) & 0xffffff00) == syn_src_net ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
