// SPDX-License-Identifier: GPL-2.0-only
/*
 * The reference classifier: what docs/policy.md says a rule matches, on the
 * generator's model, written without lib/ (see ref_policy.h):
 *
 * - the first rule, in order, whose every field matches decides; none: the
 *   section's default;
 * - an omitted field matches anything; src/dst match when the packet's
 *   address lies in one of the list's prefixes of its own family, or in a
 *   listed set (prefixes and file together);
 * - proto: `any` (alone or in a list) or the key omitted matches every
 *   protocol number; tcp 6, udp 17, icmp 1, icmpv6 58, whatever the family;
 * - sport/dport: a packet without ports (not TCP/UDP, or a non-first
 *   fragment) never matches a rule that names ports.
 *
 * Prefix containment is a binary search per distinct length over the
 * list's prefixes masked to that length.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ref_policy.h"

/* Small lists are scanned, larger ones searched once per length present. */
#define REF_SCAN_MAX	8

static uint64_t be64(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

/* The first LEN bits of the address HI:LO (the rest zero), as a key. */
static struct ref_key key_mask(uint64_t hi, uint64_t lo, unsigned int len)
{
	struct ref_key k = { .hi = hi, .lo = lo, .len = (uint8_t)len };

	if (len == 0) {
		k.hi = k.lo = 0;
	} else if (len <= 64) {
		k.hi &= ~0ull << (64 - len);
		k.lo = 0;
	} else {
		k.lo &= ~0ull << (128 - len);
	}
	return k;
}

/* ADDR (4 or 16 bytes) as two words, IPv4 in the top 32 bits of the first, keeping LEN bits. */
static struct ref_key key_of(bool v6, const uint8_t *addr, unsigned int len)
{
	uint8_t b[16] = { 0 };

	memcpy(b, addr, v6 ? 16 : 4);
	return key_mask(be64(b), be64(b + 8), len);
}

static int key_cmp(const struct ref_key *a, const struct ref_key *b)
{
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	if (a->hi != b->hi)
		return a->hi < b->hi ? -1 : 1;
	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	return 0;
}

static int key_qcmp(const void *a, const void *b)
{
	return key_cmp(a, b);
}

static int index_add(struct ref_index *x, const struct ref_prefix *v, size_t n, size_t *cap)
{
	for (size_t i = 0; i < n; i++) {
		int f = v[i].v6;

		if (x->n[f] == cap[f]) {
			size_t c = cap[f] ? cap[f] * 2 : 8;
			struct ref_key *k = realloc(x->k[f], c * sizeof(*k));

			if (!k)
				return -ENOMEM;
			x->k[f] = k;
			cap[f] = c;
		}
		x->k[f][x->n[f]++] = key_of(f, v[i].addr, v[i].len);
	}
	return 0;
}

/* Sort, drop duplicates, note the lengths present. 0 or -ENOMEM. */
static int index_seal(struct ref_index *x)
{
	for (int f = 0; f < 2; f++) {
		size_t m = 0;
		bool seen[129] = { false };

		if (x->n[f])
			qsort(x->k[f], x->n[f], sizeof(*x->k[f]), key_qcmp);
		for (size_t i = 0; i < x->n[f]; i++)
			if (!m || key_cmp(&x->k[f][m - 1], &x->k[f][i]))
				x->k[f][m++] = x->k[f][i];
		x->n[f] = m;
		x->nlens[f] = 0;
		if (m <= REF_SCAN_MAX)
			continue;
		for (size_t i = 0; i < m; i++)
			seen[x->k[f][i].len] = true;
		x->lens[f] = malloc(129);
		if (!x->lens[f])
			return -ENOMEM;
		for (int l = 0; l <= 128; l++)
			if (seen[l])
				x->lens[f][x->nlens[f]++] = (uint8_t)l;
	}
	return 0;
}

/* Is the address A (a key of full length) in one of X's prefixes of family V6? */
static bool index_has(const struct ref_index *x, bool v6, const struct ref_key *a)
{
	const struct ref_key *k = x->k[v6];

	if (x->n[v6] <= REF_SCAN_MAX) {
		for (size_t i = 0; i < x->n[v6]; i++) {
			struct ref_key m = key_mask(a->hi, a->lo, k[i].len);

			if (m.hi == k[i].hi && m.lo == k[i].lo)
				return true;
		}
		return false;
	}
	for (int i = 0; i < x->nlens[v6]; i++) {
		struct ref_key want = key_mask(a->hi, a->lo, x->lens[v6][i]);
		size_t lo = 0, hi = x->n[v6];

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int c = key_cmp(&k[mid], &want);

			if (!c)
				return true;
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	return false;
}

static void index_free(struct ref_index *x)
{
	free(x->k[0]);
	free(x->k[1]);
	free(x->lens[0]);
	free(x->lens[1]);
	memset(x, 0, sizeof(*x));
}

/* Every prefix of the policy, for ref_gen_pkt to aim packets at. */
static int aim_all(struct ref_policy *p)
{
	size_t n[2] = { 0, 0 };

	for (int pass = 0; pass < 2; pass++) {
		for (size_t s = 0; s < p->nsets; s++) {
			const struct ref_set *set = &p->sets[s];

			for (size_t i = 0; i < set->npfx + set->nfile; i++) {
				const struct ref_prefix *x = i < set->npfx ? &set->pfx[i] :
							     &set->file_pfx[i - set->npfx];

				if (pass)
					p->aim[x->v6][p->naim[x->v6]++] = x;
				else
					n[x->v6]++;
			}
		}
		for (size_t s = 0; s < p->nsecs; s++) {
			for (size_t i = 0; i < p->secs[s].nrules; i++) {
				const struct ref_rule *r = &p->secs[s].rules[i];
				const struct ref_list *l[2] = { &r->src, &r->dst };

				for (int k = 0; k < 2; k++) {
					for (size_t j = 0; j < l[k]->npfx; j++) {
						const struct ref_prefix *x = &l[k]->pfx[j];

						if (pass)
							p->aim[x->v6][p->naim[x->v6]++] = x;
						else
							n[x->v6]++;
					}
				}
			}
		}
		if (pass)
			break;
		for (int f = 0; f < 2; f++) {
			free(p->aim[f]);
			p->naim[f] = 0;
			p->aim[f] = calloc(n[f] + 1, sizeof(*p->aim[f]));
			if (!p->aim[f])
				return -ENOMEM;
		}
	}
	return 0;
}

int ref_finish(struct ref_policy *p)
{
	for (size_t s = 0; s < p->nsets; s++) {
		struct ref_set *set = &p->sets[s];
		size_t cap[2] = { 0, 0 };

		index_free(&set->idx);
		if (index_add(&set->idx, set->pfx, set->npfx, cap) ||
		    index_add(&set->idx, set->file_pfx, set->nfile, cap) || index_seal(&set->idx))
			return -ENOMEM;
	}
	for (size_t s = 0; s < p->nsecs; s++) {
		for (size_t i = 0; i < p->secs[s].nrules; i++) {
			struct ref_rule *r = &p->secs[s].rules[i];
			struct ref_list *l[2] = { &r->src, &r->dst };

			for (int k = 0; k < 2; k++) {
				size_t cap[2] = { 0, 0 };

				index_free(&l[k]->idx);
				if (index_add(&l[k]->idx, l[k]->pfx, l[k]->npfx, cap) ||
				    index_seal(&l[k]->idx))
					return -ENOMEM;
			}
		}
	}
	return aim_all(p);
}

static bool list_match(const struct ref_policy *p, const struct ref_list *l, bool v6,
		       const struct ref_key *addr)
{
	if (!l->npfx && !l->nsets)
		return true;
	if (index_has(&l->idx, v6, addr))
		return true;
	for (size_t i = 0; i < l->nsets; i++)
		if (index_has(&p->sets[l->sets[i]].idx, v6, addr))
			return true;
	return false;
}

static bool proto_match(unsigned int protos, uint8_t proto)
{
	if (!protos || (protos & REF_ANY))
		return true;
	switch (proto) {
	case 6:
		return protos & REF_TCP;
	case 17:
		return protos & REF_UDP;
	case 1:
		return protos & REF_ICMP;
	case 58:
		return protos & REF_ICMPV6;
	default:
		return false;
	}
}

static bool ports_match(const struct ref_ports *v, size_t n, bool has_ports, uint16_t port)
{
	if (!n)
		return true;
	if (!has_ports)
		return false;
	for (size_t i = 0; i < n; i++)
		if (v[i].lo <= port && port <= v[i].hi)
			return true;
	return false;
}

int ref_classify(const struct ref_policy *p, size_t sec, const struct ref_pkt *pkt)
{
	const struct ref_section *s = &p->secs[sec];
	struct ref_key src = key_of(pkt->v6, pkt->src, 128), dst = key_of(pkt->v6, pkt->dst, 128);

	for (size_t i = 0; i < s->nrules; i++) {
		const struct ref_rule *r = &s->rules[i];

		/* cheapest fields first: the result is the same in any order */
		if (proto_match(r->protos, pkt->proto) &&
		    ports_match(r->sport, r->nsport, pkt->has_ports, pkt->sport) &&
		    ports_match(r->dport, r->ndport, pkt->has_ports, pkt->dport) &&
		    list_match(p, &r->src, pkt->v6, &src) &&
		    list_match(p, &r->dst, pkt->v6, &dst))
			return (int)i;
	}
	return -1;
}

bool ref_allows(const struct ref_policy *p, size_t sec, const struct ref_pkt *pkt)
{
	int i = ref_classify(p, sec, pkt);

	return i < 0 ? p->secs[sec].allow_default : p->secs[sec].rules[i].allow;
}

static void list_free(struct ref_list *l)
{
	free(l->pfx);
	free(l->sets);
	index_free(&l->idx);
}

void ref_policy_free(struct ref_policy *p)
{
	for (size_t s = 0; s < p->nsets; s++) {
		free(p->sets[s].pfx);
		free(p->sets[s].file_pfx);
		index_free(&p->sets[s].idx);
	}
	for (size_t s = 0; s < p->nsecs; s++) {
		for (size_t i = 0; i < p->secs[s].nrules; i++) {
			struct ref_rule *r = &p->secs[s].rules[i];

			list_free(&r->src);
			list_free(&r->dst);
			free(r->sport);
			free(r->dport);
		}
		free(p->secs[s].rules);
	}
	free(p->sets);
	free(p->secs);
	free(p->aim[0]);
	free(p->aim[1]);
	memset(p, 0, sizeof(*p));
}
