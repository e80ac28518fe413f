// SPDX-License-Identifier: GPL-2.0-only
/*
 * Weighted Maglev lookup tables (maglev.h). Turns are handed out from a
 * binary heap ordered by the virtual time of each backend's next turn,
 * (turns + 1) / weight, compared exactly by cross-multiplication: a table
 * costs O(M log N) plus the permutation walks (O(M log M) expected, as in
 * the paper).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fnv.h"
#include "maglev.h"

void maglev_key(uint8_t key[MAGLEV_KEY_LEN], uint8_t family, const uint8_t addr[16],
		uint16_t port)
{
	key[0] = family;
	memcpy(key + 1, addr, 16);
	key[17] = port >> 8;
	key[18] = port & 0xff;
}

uint64_t maglev_hash(uint64_t seed, const void *data, size_t len)
{
	uint64_t h = sl_fnv1a(SL_FNV_INIT ^ seed, data, len);

	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	return h ^ (h >> 31);
}

int maglev_is_prime(uint32_t n)
{
	if (n < 2)
		return 0;
	for (uint32_t d = 2; (uint64_t)d * d <= n; d++)
		if (n % d == 0)
			return 0;
	return 1;
}

struct mg_state {
	uint32_t idx;		/* into the caller's array */
	uint32_t weight;
	uint64_t turns;		/* taken */
	uint32_t offset, skip, next;	/* the permutation, and how far it is walked */
	const uint8_t *key;
};

/* Does A take its next turn before B? Virtual times (turns + 1) / weight; ties by key. */
static int mg_before(const struct mg_state *a, const struct mg_state *b)
{
	unsigned __int128 ta = (unsigned __int128)(a->turns + 1) * b->weight;
	unsigned __int128 tb = (unsigned __int128)(b->turns + 1) * a->weight;

	if (ta != tb)
		return ta < tb;
	return memcmp(a->key, b->key, MAGLEV_KEY_LEN) < 0;
}

static void heap_down(struct mg_state **h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct mg_state *t;

		if (l < n && mg_before(h[l], h[m]))
			m = l;
		if (r < n && mg_before(h[r], h[m]))
			m = r;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

int maglev_build(const struct maglev_backend *be, size_t n, uint32_t size, uint32_t *table)
{
	struct mg_state *st, **heap;
	size_t nw = 0;
	uint32_t filled = 0;

	if (!maglev_is_prime(size))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		nw += be[i].weight > 0;
	for (uint32_t s = 0; s < size; s++)
		table[s] = MAGLEV_EMPTY;
	if (!nw)
		return 0;
	if (nw >= size)
		return -EINVAL;
	st = calloc(nw, sizeof(*st));
	heap = calloc(nw, sizeof(*heap));
	if (!st || !heap) {
		free(st);
		free(heap);
		return -ENOMEM;
	}
	nw = 0;
	for (size_t i = 0; i < n; i++) {
		struct mg_state *s = &st[nw];

		if (!be[i].weight)
			continue;
		s->idx = (uint32_t)i;
		s->weight = be[i].weight;
		s->key = be[i].key;
		s->offset = maglev_hash(MAGLEV_SEED_OFFSET, be[i].key, MAGLEV_KEY_LEN) % size;
		s->skip = maglev_hash(MAGLEV_SEED_SKIP, be[i].key, MAGLEV_KEY_LEN) % (size - 1) + 1;
		heap[nw] = s;
		nw++;
	}
	for (size_t i = nw / 2; i-- > 0;)
		heap_down(heap, nw, i);
	while (filled < size) {
		struct mg_state *s = heap[0];
		uint32_t slot;

		/* its next preferred slot still empty (the permutation is a full cycle) */
		do {
			slot = (uint32_t)(((uint64_t)s->skip * s->next + s->offset) % size);
			s->next++;
		} while (table[slot] != MAGLEV_EMPTY);
		table[slot] = s->idx;
		filled++;
		s->turns++;
		heap_down(heap, nw, 0);
	}
	free(st);
	free(heap);
	return 0;
}
