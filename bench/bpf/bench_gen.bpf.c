// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Traffic generator for the live-frames throughput bench: run with
 * BPF_PROG_TEST_RUN + BPF_F_TEST_XDP_LIVE_FRAMES, every frame is redirected
 * into a veth whose peer runs the program under test. gen_rand writes a
 * pseudo-random IPv4 source first (state per CPU: live frames come from a
 * page pool, so state kept in the frame would repeat page by page).
 *
 * gen_doc: the same with sources from the documentation ranges (bench_peers).
 *
 * gen_syn: a spoofed SYN flood (bench/sl_flood.c): every frame a TCP SYN
 * from a pseudo-random source in syn_src_net/24 and port, with its own ISN
 * and both checksums right (SYN cookies are only given to intact SYNs).
 * gen_sink, on the flood's side of the veth: drops what comes back to the
 * spoofed sources (the SYN-ACKs), passes the rest to the stack.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "bench.h"

const volatile __u32 tx_ifindex;
const volatile __u32 src_n;	/* prefixes in the set */
const volatile __u32 src_shape;	/* enum sl_bench_shape */
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
	*(__u32 *)(p + 26) = bpf_htonl(sl_bench_src(*x, src_n, src_shape));
	return bpf_redirect(tx_ifindex, 0);
}

/*
 * gen_doc (bench_peers): sources from the documentation ranges only, a share
 * hit_256 / 256 of them in the bench's blocklist. Listed: 203.0.113.x (a /24
 * of the list) or 192.0.2.0..127 (a /28 and single addresses of the list,
 * in a /24 it splits); not listed: 198.51.100.x, or 192.0.2.128..255 (the
 * split /24's other half).
 */
const volatile __u32 hit_256;

SEC("xdp")
int gen_doc(struct xdp_md *ctx)
{
	__u8 *p = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 key = 0, *x = bpf_map_lookup_elem(&gen_state, &key);
	__u32 host, src;

	if (!x || (void *)(p + 34) > (void *)end)
		return XDP_ABORTED;
	*x = sl_bench_xorshift(*x ? *x : 0x2545f491);
	host = *x >> 24;
	if ((*x & 0xff) < hit_256)
		src = *x & 0x100 ? 0xcb007100 | host : 0xc0000200 | (host & 0x7f);
	else
		src = *x & 0x100 ? 0xc6336400 | host : 0xc0000280 | (host & 0x7f);
	*(__u32 *)(p + 26) = bpf_htonl(src);
	return bpf_redirect(tx_ifindex, 0);
}

/*
 * gen_tmpl: the first 64 bytes written from tmpl every time. Live frames
 * come from a page pool whose pages return with what the receiver made of
 * them: a load balancer rewrites addresses (and the stack's NAT does too),
 * so the frame is put back as it was before each send.
 */
const volatile __u64 tmpl[8];

SEC("xdp")
int gen_tmpl(struct xdp_md *ctx)
{
	__u64 *p = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;

	if ((void *)(p + 8) > (void *)end)
		return XDP_ABORTED;
	for (int i = 0; i < 8; i++)
		p[i] = tmpl[i];
	return bpf_redirect(tx_ifindex, 0);
}

/* What gen_syn's frames are sent to (set by bench_synflood before load). */
const volatile __u8 syn_dst_mac[6], syn_src_mac[6];
const volatile __u32 syn_dst;		/* network order */
const volatile __u16 syn_dport;	/* network order */

/*
 * Every byte of the frame is written each time: live frames come from a
 * page pool whose pages keep what the receiver did to them (a SYN cookie's
 * SYN-ACK is written over the SYN and sent back in the same page).
 */
SEC("xdp")
int gen_syn(struct xdp_md *ctx)
{
	__u8 *p = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 key = 0, *x = bpf_map_lookup_elem(&gen_state, &key);

	if (!x || (void *)(p + SL_BENCH_SYN_LEN) > (void *)end)
		return XDP_ABORTED;
	*x = sl_bench_xorshift(*x ? *x : 0x2545f491);
	__builtin_memset(p, 0, SL_BENCH_SYN_LEN);
	for (int i = 0; i < 6; i++) {
		p[i] = syn_dst_mac[i];
		p[6 + i] = syn_src_mac[i];
	}
	sl_bench_syn(p, bpf_htonl(syn_src_net | (*x & 0xff)), syn_dst,
		     bpf_htons(1024 + (*x >> 8) % 60000), syn_dport, *x);
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

/*
 * gen_fan: the generator where the kernel refuses live frames (bench_veth.h,
 * "fan-out"). Frames come in through a packet socket on a second veth pair
 * of namespace A; this program, on its far end, sends a copy of each to
 * every entry of gen_fan_to (SL_BENCH_FAN entries, all veth A) with one
 * XDP_REDIRECT: the receiver meets xdp_frames, no skb, as live frames
 * arrive, SL_BENCH_FAN of the same in a row.
 */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, SL_BENCH_FAN);
	__type(key, __u32);
	__type(value, __u32);
} gen_fan_to SEC(".maps");

SEC("xdp")
int gen_fan(struct xdp_md *ctx)
{
	return bpf_redirect_map(&gen_fan_to, 0, BPF_F_BROADCAST);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
