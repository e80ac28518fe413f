// SPDX-License-Identifier: GPL-2.0-only
/*
 * Interface-name globs compared as languages (sl_glob_covers, policy_int.h):
 * does one pattern match every name another matches? policy_check.c uses it
 * for patterns that can never win, lb_parse.c for decap interfaces.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

/*
 * Glob languages, for "a later glob can never win". A pattern is compiled to
 * a list of steps: a set of bytes (a literal, '?', a bracket expression) or
 * '*'. Only what fnmatch(3) without flags does in the C locale is modelled;
 * a pattern with a character class ("[[:digit:]]") is left unjudged, so the
 * check can miss a dead pattern but never refuses a live one.
 */
#define GLOB_STEPS_MAX	16	/* interface patterns have at most 15 characters */

struct glob {
	int n;
	bool star[GLOB_STEPS_MAX];
	uint64_t set[GLOB_STEPS_MAX][4];	/* bytes a step matches when !star */
};

static void set_add(uint64_t *set, unsigned int ch)
{
	set[ch / 64] |= 1ull << (ch % 64);
}

static bool set_has(const uint64_t *set, unsigned int ch)
{
	return set[ch / 64] >> (ch % 64) & 1;
}

/* A bracket expression at P (just past '['); returns its end, or NULL when it is not one. */
static const char *glob_bracket(const char *p, uint64_t *set)
{
	bool neg = *p == '!' || *p == '^';
	uint64_t in[4] = { 0 };
	const char *q = p + neg;

	if (*q == ']')		/* a ']' first is a member */
		set_add(in, (unsigned char)*q++);
	while (*q && *q != ']') {
		unsigned char lo, hi;

		if (*q == '[' && (q[1] == ':' || q[1] == '=' || q[1] == '.'))
			return NULL;	/* classes: not modelled */
		if (*q == '\\' && q[1])
			q++;
		lo = (unsigned char)*q++;
		hi = lo;
		if (*q == '-' && q[1] && q[1] != ']') {
			q++;
			if (*q == '\\' && q[1])
				q++;
			hi = (unsigned char)*q++;
			if (hi < lo)
				return NULL;
		}
		for (unsigned int c = lo; c <= hi; c++)
			set_add(in, c);
	}
	if (*q != ']')
		return NULL;	/* unterminated: fnmatch reads '[' as itself */
	for (int w = 0; w < 4; w++)
		set[w] = neg ? ~in[w] : in[w];
	return q + 1;
}

/* Returns false when PAT uses what is not modelled. */
static bool glob_compile(const char *pat, struct glob *g)
{
	memset(g, 0, sizeof(*g));
	for (const char *p = pat; *p; ) {
		uint64_t *set;

		if (g->n == GLOB_STEPS_MAX)
			return false;
		set = g->set[g->n];
		if (*p == '*') {
			g->star[g->n++] = true;
			while (*p == '*')
				p++;
			continue;
		}
		if (*p == '?') {
			memset(set, 0xff, sizeof(g->set[0]));
			p++;
		} else if (*p == '[') {
			const char *e = glob_bracket(p + 1, set);

			if (!e && strchr(p, ']'))
				return false;	/* a class, or a shape not modelled */
			if (!e)
				set_add(set, (unsigned char)*p++);
			else
				p = e;
		} else {
			if (*p == '\\' && p[1])
				p++;
			set_add(set, (unsigned char)*p++);
		}
		g->n++;
	}
	return true;
}

/* The steps reachable from the positions in S without reading a byte. */
static uint32_t glob_close(const struct glob *g, uint32_t s)
{
	for (int i = 0; i < g->n; i++)
		if ((s >> i & 1) && g->star[i])
			s |= 1u << (i + 1);
	return s;
}

static uint32_t glob_step(const struct glob *g, uint32_t s, unsigned int ch)
{
	uint32_t t = 0;

	for (int i = 0; i < g->n; i++) {
		if (!(s >> i & 1))
			continue;
		if (g->star[i])
			t |= 1u << i;
		else if (set_has(g->set[i], ch))
			t |= 1u << (i + 1);
	}
	return glob_close(g, t);
}

/* Bytes an interface name may hold (the kernel's dev_valid_name). */
static bool ifname_byte(unsigned int ch)
{
	return ch && ch != '/' && ch != ':' && !isspace((int)ch);
}

#define GLOB_STATES_MAX	4096

int sl_glob_covers(const char *pat_a, const char *pat_b, char *witness)
{
	struct { uint32_t sa, sb; uint16_t parent; uint8_t ch; } *st;
	unsigned char reps[256];
	struct glob a, b;
	size_t nst = 1, lo = 0, nreps = 0;
	int rc = 1;

	if (!glob_compile(pat_a, &a) || !glob_compile(pat_b, &b))
		return -1;
	/*
	 * Bytes that every step of both patterns treats alike are one byte to
	 * the walk: try one representative of each.
	 */
	for (unsigned int ch = 1; ch < 256; ch++) {
		size_t r;

		if (!ifname_byte(ch))
			continue;
		for (r = 0; r < nreps; r++) {
			bool same = true;

			for (int i = 0; i < a.n && same; i++)
				same = set_has(a.set[i], ch) == set_has(a.set[i], reps[r]);
			for (int i = 0; i < b.n && same; i++)
				same = set_has(b.set[i], ch) == set_has(b.set[i], reps[r]);
			if (same)
				break;
		}
		if (r == nreps)
			reps[nreps++] = (unsigned char)ch;
	}
	st = malloc(GLOB_STATES_MAX * sizeof(*st));
	if (!st)
		return -1;
	st[0].sa = glob_close(&a, 1);
	st[0].sb = glob_close(&b, 1);
	/* breadth first: states of names of length LEN are [lo, hi) */
	for (int len = 1; len <= 15 && lo < nst && rc == 1; len++) {
		size_t hi = nst;

		for (size_t k = lo; k < hi && rc == 1; k++) {
			for (size_t r = 0; r < nreps; r++) {
				uint32_t sa, sb;
				size_t j;

				sb = glob_step(&b, st[k].sb, reps[r]);
				if (!sb)
					continue;	/* no name B matches starts this way */
				sa = glob_step(&a, st[k].sa, reps[r]);
				if ((sb >> b.n & 1) && !(sa >> a.n & 1)) {
					/* B matches this name and A does not: spell it out */
					size_t w = k;

					witness[len] = '\0';
					witness[len - 1] = (char)reps[r];
					for (int i = len - 2; i >= 0; i--, w = st[w].parent)
						witness[i] = (char)st[w].ch;
					rc = 0;
					break;
				}
				for (j = 0; j < nst; j++)
					if (st[j].sa == sa && st[j].sb == sb)
						break;
				if (j < nst)
					continue;	/* seen: its names go on as this one's */
				if (nst == GLOB_STATES_MAX) {
					rc = -1;
					break;
				}
				st[nst].sa = sa;
				st[nst].sb = sb;
				st[nst].parent = (uint16_t)k;
				st[nst].ch = reps[r];
				nst++;
			}
		}
		lo = hi;
	}
	free(st);
	return rc;
}
