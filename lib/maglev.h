/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016), weighted: the
 * lookup table of one service. Deterministic: the same backends give the
 * same table, byte for byte, on every node, whatever their order.
 *
 * Each backend is known by its key (bytes: family, address, port). From the
 * key, two seeded hashes give its permutation of the M slots (M prime):
 * offset = H(SEED_OFFSET, key) mod M, skip = H(SEED_SKIP, key) mod (M - 1) + 1,
 * and the j-th preference is (offset + j * skip) mod M. The backends then
 * take turns, each claiming its next preferred slot still empty, until the
 * table is full. Weighted turns: backend i takes its k-th turn at virtual
 * time k / w_i (ties: the lower key first), so after any number of turns
 * each backend has had its weight's share of them within one turn: a
 * backend ends with M * w_i / W slots, +-1.
 *
 * H is FNV-1a 64 over the key, started from the FNV offset basis XOR the
 * seed, then the splitmix64 finaliser (docs/lb.md gives the constants).
 */
#ifndef SLUICE_MAGLEV_H
#define SLUICE_MAGLEV_H

#include <stddef.h>
#include <stdint.h>

#define MAGLEV_SEED_OFFSET	0x736c756963653031ull	/* "sluice01" */
#define MAGLEV_SEED_SKIP	0x736c756963653032ull	/* "sluice02" */
#define MAGLEV_KEY_LEN		19	/* family, 16 address bytes, port (network order) */
#define MAGLEV_EMPTY		0xffffffffu	/* a table of no backend */

struct maglev_backend {
	uint8_t key[MAGLEV_KEY_LEN];
	uint32_t weight;	/* 0: not in the table (down, draining) */
};

/* The key of a backend: FAMILY (4 or 6), ADDR (16 bytes, network order), PORT (host order). */
void maglev_key(uint8_t key[MAGLEV_KEY_LEN], uint8_t family, const uint8_t addr[16],
		uint16_t port);

/* H(SEED, DATA): FNV-1a 64 from the offset basis XOR SEED, then splitmix64's finaliser. */
uint64_t maglev_hash(uint64_t seed, const void *data, size_t len);

/* Is N prime? (table sizes) */
int maglev_is_prime(uint32_t n);

/*
 * Fill TABLE[0, SIZE) (SIZE prime) with indexes into BE[0, N): the backend
 * of each slot, or MAGLEV_EMPTY everywhere when no backend has a weight.
 * Returns 0, -EINVAL (SIZE not prime, or not above the number of weighted
 * backends), or -ENOMEM.
 */
int maglev_build(const struct maglev_backend *be, size_t n, uint32_t size, uint32_t *table);

#endif /* SLUICE_MAGLEV_H */
