/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The benchmarks' generated IPv4 prefix sets, shared by the BPF programs
 * (bench/bpf/bench.h: random sources drawn from a set) and the bench programs
 * (bench/bench_util.h: the same set written as a policy and into the kernel
 * LPM trie). Pure arithmetic, no BPF helpers: both sides include it.
 *
 * Prefix I of a set of shape S: its base address and length. The bases
 * come from bijections (odd multiplies and xor-shifts), so the prefixes are
 * distinct and scattered over the whole address space like a real feed:
 * no two /16s look alike (a set that repeated a pattern would let its tables
 * share chunks and stay in the cache).
 */
#ifndef SLUICE_BPF_BENCH_GEN_H
#define SLUICE_BPF_BENCH_GEN_H

/* Copies gen_fan makes of each frame it is given (bench_veth.h, "fan-out"). */
#define SL_BENCH_FAN	32

enum sl_bench_shape {
	SL_BENCH_24 = 0,	/* /24s */
	SL_BENCH_32 = 1,	/* single addresses (an IP reputation feed) */
	SL_BENCH_MIX = 2,	/* a threat feed: 40% /32, 20% /28, 40% /24 */
};

/* A bijection of the 24-bit numbers. */
static inline __u32 sl_bench_mix24(__u32 x)
{
	x = (x * 0x9E3779u) & 0xffffff;
	x ^= x >> 12;
	x = (x * 0x2C1B3Du) & 0xffffff;
	x ^= x >> 11;
	return (x * 0x5BD1E9u) & 0xffffff;
}

/* A bijection of the 32-bit numbers (lowbias32). */
static inline __u32 sl_bench_mix32(__u32 x)
{
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	x ^= x >> 16;
	return x;
}

static inline __u32 sl_bench_len(__u32 i, __u32 shape)
{
	if (shape == SL_BENCH_24)
		return 24;
	if (shape == SL_BENCH_32)
		return 32;
	return i % 5 < 2 ? 32 : i % 5 == 2 ? 28 : 24;
}

/* The base address (host order) of prefix I of SHAPE. */
static inline __u32 sl_bench_base(__u32 i, __u32 shape)
{
	__u32 len = sl_bench_len(i, shape);

	if (shape == SL_BENCH_24)
		return sl_bench_mix24(i) << 8;
	return sl_bench_mix32(i) & (0xffffffffu << (32 - len));
}

/* An address inside prefix I of SHAPE: HOST picks the host bits. */
static inline __u32 sl_bench_addr(__u32 i, __u32 shape, __u32 host)
{
	__u32 len = sl_bench_len(i, shape);
	__u32 hostmask = len >= 32 ? 0 : 0xffffffffu >> len;

	return sl_bench_base(i, shape) | (host & hostmask);
}

#endif /* SLUICE_BPF_BENCH_GEN_H */
