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
 *   bytes 6..9   (source MAC)      N, the set's size, network order
 *   byte  10     (source MAC)      the set's shape (enum sl_bench_shape)
 *   bytes 26..29 (IPv4 source)    written: an address inside prefix
 *                                  i = state % N of the set (bench_gen.h),
 *                                  host bits from state >> 24
 * The prefix set { prefix i of the shape : i < N } holds every source
 * generated, scattered over the address space (bench/bench_xdp.c builds it).
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
	*(__u32 *)(p + 26) = bpf_htonl(sl_bench_src(x, bpf_ntohl(*(__u32 *)(p + 6)), p[10]));
	return 0;
}

#endif /* SLUICE_BPF_BENCH_H */
