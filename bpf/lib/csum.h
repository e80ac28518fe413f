/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Internet checksums for XDP, which has no bpf_l3/l4_csum_replace.
 *
 * Incremental updates follow RFC 1624 (HC' = ~(~HC + ~m + m')): collect
 * the changes in a 32-bit accumulator with sl_csum_diff16/32/128, then
 * apply them once with sl_csum_apply. The arithmetic is on 16-bit words as
 * they lie in memory, so byte order needs no care (one's complement sums
 * commute with a byte swap of every word).
 */
#ifndef SLUICE_BPF_CSUM_H
#define SLUICE_BPF_CSUM_H

static __always_inline __u16 sl_csum_fold(__u64 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

static __always_inline __u64 sl_csum_diff16(__u64 acc, __u16 from, __u16 to)
{
	return acc + (__u16)~from + to;
}

static __always_inline __u64 sl_csum_diff32(__u64 acc, __u32 from, __u32 to)
{
	acc = sl_csum_diff16(acc, (__u16)from, (__u16)to);
	return sl_csum_diff16(acc, (__u16)(from >> 16), (__u16)(to >> 16));
}

/* FROM and TO: 16-byte addresses (4 words each, any alignment of 4). */
static __always_inline __u64 sl_csum_diff128(__u64 acc, const __u32 *from, const __u32 *to)
{
#pragma unroll
	for (int i = 0; i < 4; i++)
		acc = sl_csum_diff32(acc, from[i], to[i]);
	return acc;
}

/* The checksum field *SUM with the changes in ACC applied. */
static __always_inline void sl_csum_apply(__u16 *sum, __u64 acc)
{
	*sum = ~sl_csum_fold(acc + (__u16)~*sum);
}

/* UDP over IPv4: 0 means "no checksum" and stays so; a computed 0 is sent as 0xffff. */
static __always_inline void sl_csum_apply_udp(__u16 *sum, __u64 acc)
{
	if (!*sum)
		return;
	sl_csum_apply(sum, acc);
	if (!*sum)
		*sum = 0xffff;
}

/* The one's complement sum of N (<= 64) 16-bit words at P. */
static __always_inline __u64 sl_csum_words(const __u16 *p, int n, __u64 acc)
{
	for (int i = 0; i < n && i < 64; i++)
		acc += p[i];
	return acc;
}

/* A fresh IPv4 header checksum (the field must be 0), 20-byte header. */
static __always_inline __u16 sl_ip4_csum(const void *iph)
{
	return ~sl_csum_fold(sl_csum_words(iph, 10, 0));
}

#endif /* SLUICE_BPF_CSUM_H */
