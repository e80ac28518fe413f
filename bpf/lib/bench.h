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

static __always_inline int sl_bench_rand_src(void *data, void *data_end)
{
	__u8 *p = data;
	__u32 x, mask, src;

	if ((void *)(p + 34) > data_end)
		return -1;
	x = *(__u32 *)p;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*(__u32 *)p = x;
	mask = bpf_ntohl(*(__u32 *)(p + 6));
	src = (((x & mask) * SL_BENCH_MUL) & 0xffffff) << 8 | x >> 24;
	*(__u32 *)(p + 26) = bpf_htonl(src);
	return 0;
}

#endif /* SLUICE_BPF_BENCH_H */
