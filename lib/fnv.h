/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * FNV-1a, 64 bits: the one hash of bytes the agent and the CLI use for
 * identities (rule keys, counter owners, the build id, table digests) and
 * the first step of the Maglev hash. Not for packets (the datapath hashes
 * words, sluice_abi.h).
 */
#ifndef SLUICE_FNV_H
#define SLUICE_FNV_H

#include <stddef.h>
#include <stdint.h>

#define SL_FNV_INIT	0xcbf29ce484222325ull

/* H (SL_FNV_INIT to start) continued over the N bytes at P. */
static inline uint64_t sl_fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

#endif /* SLUICE_FNV_H */
