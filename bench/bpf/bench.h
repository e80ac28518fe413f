/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Benchmark-only helpers (bench/bpf/bench_*.bpf.c). BPF_PROG_TEST_RUN with
 * `repeat` runs a program over and over on one packet buffer, so one call is
 * one source address: warm caches, nothing like real traffic. The programs
 * that measure "random sources" first step a PRNG whose state lives in the
 * packet itself and write the IPv4 source address from it; every program
 * compared (floor, kernel LPM trie, firewall) does exactly the same step, so
 * the differences between them are the lookups alone.
 *
 * Frame layout the bench uses: untagged Ethernet + IPv4 without options.
 *   bytes 0..3   (destination MAC) xorshift32 state
 *   bytes 6..9   (source MAC)      N, the set's size, network order
 *   byte  10     (source MAC)      the set's shape (enum sl_bench_shape)
 *   byte  11     (source MAC)      M: of every 256 sources, M are drawn from
 *                                  the whole address space instead (traffic
 *                                  the set mostly misses); 0: none
 *   bytes 26..29 (IPv4 source)    written: an address inside prefix
 *                                  i = state % N of the set (bench_gen.h),
 *                                  host bits from state >> 24
 * The prefix set { prefix i of the shape : i < N } holds every source
 * generated (M = 0), scattered over the address space (bench/bench_xdp.c
 * builds it).
 */
#ifndef SLUICE_BPF_BENCH_H
#define SLUICE_BPF_BENCH_H

#include <bpf/bpf_endian.h>

#include "bench_gen.h"

static __always_inline __u32 sl_bench_xorshift(__u32 x)
{
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return x;
}

/* The source address (host order) for PRNG value X in the set of N prefixes of SHAPE. */
static __always_inline __u32 sl_bench_src(__u32 x, __u32 n, __u32 shape)
{
	return sl_bench_addr(n ? x % n : 0, shape, x >> 24);
}

static __always_inline int sl_bench_rand_src(void *data, void *data_end)
{
	__u8 *p = data;
	__u32 x;

	if ((void *)(p + 34) > data_end)
		return -1;
	x = sl_bench_xorshift(*(__u32 *)p);
	*(__u32 *)p = x;
	/* the low byte picks uniform or from the set; the rest of X picks the address */
	if ((x & 0xff) < p[11])
		*(__u32 *)(p + 26) = bpf_htonl(sl_bench_mix32(x));
	else
		*(__u32 *)(p + 26) = bpf_htonl(sl_bench_src(x, bpf_ntohl(*(__u32 *)(p + 6)),
							     p[10]));
	return 0;
}

/* A one's complement sum folded into a checksum field. */
static __always_inline __u16 sl_bench_fold(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/* A SYN frame's length: Ethernet, IPv4 (20), TCP (20) with an MSS option (4). */
#define SL_BENCH_SYN_LEN	58

/*
 * Write a TCP SYN from SRC:SPORT to DST:DPORT (network order), ISN, with
 * an MSS option of 1460 and both checksums right, at P (SL_BENCH_SYN_LEN
 * bytes, zeroed by the caller; the MACs are the caller's). SYN cookies are
 * only given to intact SYNs.
 */
static __always_inline void sl_bench_syn(__u8 *p, __u32 src, __u32 dst, __u16 sport,
					 __u16 dport, __u32 isn)
{
	__u64 s;

	p[12] = 0x08;
	p[14] = 0x45;
	p[17] = SL_BENCH_SYN_LEN - 14;	/* total length */
	p[20] = 0x40;			/* DF */
	p[22] = 64;
	p[23] = 6;
	__builtin_memcpy(p + 26, &src, 4);
	__builtin_memcpy(p + 30, &dst, 4);
	__builtin_memcpy(p + 34, &sport, 2);
	__builtin_memcpy(p + 36, &dport, 2);
	__builtin_memcpy(p + 38, &isn, 4);
	p[46] = 6 << 4;			/* data offset: 24 bytes */
	p[47] = 0x02;			/* SYN */
	p[48] = 0xfa;			/* window 64240 */
	p[49] = 0xf0;
	p[54] = 2;			/* MSS 1460 */
	p[55] = 4;
	p[56] = 0x05;
	p[57] = 0xb4;
	*(__u16 *)(p + 24) = sl_bench_fold((__u32)bpf_csum_diff(NULL, 0, (void *)(p + 14),
								 20, 0));
	s = (__u64)src + dst + bpf_htonl(24) + bpf_htonl(6);
	s += (__u32)bpf_csum_diff(NULL, 0, (void *)(p + 34), 24, 0);
	*(__u16 *)(p + 50) = sl_bench_fold(s);
}

#endif /* SLUICE_BPF_BENCH_H */
