/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * SipHash-2-4 (Aumasson and Bernstein, 2012) of a message of whole 64-bit
 * little-endian words: the keyed hash of the SYN cookies, as the kernel's
 * own syncookies use it. About 14 ALU operations per round, two rounds per
 * word and four to finish.
 */
#ifndef SLUICE_BPF_SIPHASH_H
#define SLUICE_BPF_SIPHASH_H

#define SL_SIP_WORDS_MAX	6

static __always_inline __u64 sl_rotl64(__u64 x, int b)
{
	return (x << b) | (x >> (64 - b));
}

#define SL_SIPROUND(v0, v1, v2, v3)					\
	do {								\
		v0 += v1; v1 = sl_rotl64(v1, 13); v1 ^= v0;		\
		v0 = sl_rotl64(v0, 32);					\
		v2 += v3; v3 = sl_rotl64(v3, 16); v3 ^= v2;		\
		v0 += v3; v3 = sl_rotl64(v3, 21); v3 ^= v0;		\
		v2 += v1; v1 = sl_rotl64(v1, 17); v1 ^= v2;		\
		v2 = sl_rotl64(v2, 32);					\
	} while (0)

/* SipHash-2-4 with key K of the N words at W (N <= SL_SIP_WORDS_MAX). */
static __always_inline __u64 sl_siphash(const __u64 k[2], const __u64 *w, int n)
{
	__u64 v0 = k[0] ^ 0x736f6d6570736575ull, v1 = k[1] ^ 0x646f72616e646f6dull;
	__u64 v2 = k[0] ^ 0x6c7967656e657261ull, v3 = k[1] ^ 0x7465646279746573ull;
	__u64 b = (__u64)(n * 8) << 56;

#pragma unroll
	for (int i = 0; i < SL_SIP_WORDS_MAX; i++) {
		if (i < n) {
			v3 ^= w[i];
			SL_SIPROUND(v0, v1, v2, v3);
			SL_SIPROUND(v0, v1, v2, v3);
			v0 ^= w[i];
		}
	}
	v3 ^= b;
	SL_SIPROUND(v0, v1, v2, v3);
	SL_SIPROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	SL_SIPROUND(v0, v1, v2, v3);
	SL_SIPROUND(v0, v1, v2, v3);
	SL_SIPROUND(v0, v1, v2, v3);
	SL_SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

#endif /* SLUICE_BPF_SIPHASH_H */
