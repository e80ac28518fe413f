/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Benchmark-only helpers (bpf/bench_*.bpf.c). BPF_PROG_TEST_RUN with
 * `repeat` runs a program over and over on one packet buffer, so one call is
 * one source address: warm caches, nothing like real traffic. The programs
 * that measure "random sources" first step a PRNG whose state lives in the
 * packet itself and write the IPv4 source address from it; every program
 * compared (floor, kernel LPM trie, firewall) does exactly the same step, so
 * the differences between them are the lookups alone.
 *
 * Frame layout the bench uses: untagged Ethernet + IPv4 without options.
 *   bytes 0..3   (destination MAC) xorshift32 state
 *   bytes 6..9   (source MAC)      index mask, network order
 *   bytes 26..29 (IPv4 source)    written: ((i * SL_BENCH_MUL) mod 2^24) << 8 | host,
 *                                  i = state & mask, host = state >> 24
 * With an odd multiplier, i -> /24 is a bijection, so the prefix set
 * { ((i * SL_BENCH_MUL) mod 2^24) << 8 / 24 : i <= mask } holds every source
 * generated, scattered over the address space (bench/bench_xdp.c builds it).
 */
#ifndef SLUICE_BPF_BENCH_H
#define SLUICE_BPF_BENCH_H

#include <bpf/bpf_endian.h>

#define SL_BENCH_MUL	0x9E3779u	/* odd */

static __always_inline __u32 sl_bench_xorshift(__u32 x)
{
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return x;
}

/* The source address (host order) for PRNG value X and index mask MASK. */
static __always_inline __u32 sl_bench_src(__u32 x, __u32 mask)
{
	return (((x & mask) * SL_BENCH_MUL) & 0xffffff) << 8 | x >> 24;
}

static __always_inline int sl_bench_rand_src(void *data, void *data_end)
{
	__u8 *p = data;
	__u32 x;

	if ((void *)(p + 34) > data_end)
		return -1;
	x = sl_bench_xorshift(*(__u32 *)p);
	*(__u32 *)p = x;
	*(__u32 *)(p + 26) = bpf_htonl(sl_bench_src(x, bpf_ntohl(*(__u32 *)(p + 6))));
	return 0;
}

#endif /* SLUICE_BPF_BENCH_H */
