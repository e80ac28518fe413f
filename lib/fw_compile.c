// SPDX-License-Identifier: GPL-2.0-only
/*
 * Checked policy -> the exact contents of the fw_* maps (bpf/sluice_abi.h).
 *
 * Every rule is one bit. For each value of each field we need the bitmap of
 * the rules that match it; distinct bitmaps of a field are interned as that
 * field's "classes" (class 0 is the empty bitmap) and the tables hold class
 * ids. The class table then lays the fields out one after the other: one
 * 64-byte bitmap per class for a small policy, rows of a summary chunk and
 * the words for a large one.
 *
 * IPv4 addresses: a DIR-24 table is painted in memory (never in the
 * kernel): it starts filled with the class of the rules that do not name the
 * field, and prefixes up to /24 are painted in ascending length; painting
 * turns every covered entry's class C into class(C | bits of the prefix's
 * source), memoised on (C, source) so a 1M-prefix set costs one table write
 * per covered entry. Longer prefixes are gathered by /24: each gets the
 * class of its /24 united with every prefix covering it (its longest
 * covering prefix's class, plus its own sources); one whose class equals
 * what a lookup would find without it is dropped. A /24 left with a few goes
 * to the hash (longest first), one with many to a group of 256 entries.
 * The DIR-24 table is then cut into one entry per /16 and a chunk of 256
 * entries for each /16 that is not uniform (identical chunks shared).
 *
 * IPv6 addresses (LPM trie): the trie returns only the longest match, so each
 * entry carries the union of every prefix that covers it, computed with a
 * stack walk over the prefixes in address order. ::/0 is always present.
 *
 * Ports: a sweep over 0..65535 with range start/end events. Protocols: 256
 * entries. A field no rule names gets no table: its one class is in fw_dir.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fnv.h"
#include "fw_tables.h"
#include "policy_edit.h"
#include "policy_int.h"
#include "prefix.h"

#define NO_SOURCE	UINT32_MAX
#define LH_LOAD		0.6	/* hash entries per slot when it is built */
#define LH_RETRIES	16	/* larger tables tried when a cluster is too long */

static const char *const field_names[SL_F_MAX] = { "src", "dst", "proto", "sport", "dport" };

/* Where the prefixes of one painting source come from, and whose bits they carry. */
struct source {
	const struct sl_loc *loc;
	const char *what;	/* set name, or NULL for an inline prefix */
};

struct v4ent {
	uint32_t addr;		/* host order */
	uint32_t src;		/* source index */
	uint8_t len;
};

struct v6ent {
	const struct sl_prefix *p;
	uint32_t src;
};

/* The prefixes of one source: a set's list or one inline prefix. */
struct group {
	const struct sl_prefix *v;
	size_t n;
	uint32_t src;
};

/* The classes of one field: bitmaps of W words, interned by content. */
struct space {
	uint32_t n, cap;
	uint64_t *bits;		/* n x W */
	uint32_t *hslot;	/* class id + 1 per slot, 0 empty */
	uint32_t hmask;
};

struct cctx {
	const struct sl_policy *pol;
	const struct sl_firewall *fw;	/* the section compiled */
	bool block;			/* rule 0 is the CLI blocklist: not in the tables */
	struct fw_tables *t;
	struct sl_diags *diags;
	uint32_t W;			/* 64-bit words per bitmap */
	struct space sp[SL_F_MAX];
	uint64_t *tmp;			/* W words of scratch */
	int mfield;			/* the address field the memo is for */
	uint64_t *mkey;			/* memo (class << 32 | source) + 1, 0 empty */
	uint16_t *mval;
	uint32_t mmask, mn;
	struct source *srcs;
	uint64_t *srcbits;		/* nsrcs x W: the rules of each source */
	uint32_t nsrcs;
	struct group *groups;
	size_t ngroups;
	const struct sl_loc *blame;	/* location named when a limit is hit */
	int err;
};

static void oom(struct cctx *c)
{
	if (!c->err) {
		c->err = -ENOMEM;
		sl_diag_add(c->diags, NULL, "out of memory compiling the firewall tables");
	}
}

static uint64_t bm_hash(const uint64_t *b, uint32_t W)
{
	uint64_t h = 0x9e3779b97f4a7c15ull;

	for (uint32_t i = 0; i < W; i++) {
		h ^= b[i];
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	return h;
}

static void bm_set(uint64_t *b, size_t bit)
{
	b[bit / 64] |= 1ull << (bit % 64);
}

/* A table limit was hit: one message, at the rule or set to blame. */
__attribute__((format(printf, 2, 3)))
static void limit_error(struct cctx *c, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;

	if (c->err)
		return;
	c->err = -E2BIG;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	sl_diag_add(c->diags, c->blame, "%s", msg ? msg : "table limit exceeded");
	free(msg);
}

static int space_rehash(struct space *s, uint32_t W, uint32_t nmask)
{
	uint32_t *nh = calloc((size_t)nmask + 1, sizeof(*nh));

	if (!nh)
		return -ENOMEM;
	for (uint32_t id = 0; id < s->n; id++) {
		uint32_t i = (uint32_t)bm_hash(s->bits + (size_t)id * W, W) & nmask;

		while (nh[i])
			i = (i + 1) & nmask;
		nh[i] = id + 1;
	}
	free(s->hslot);
	s->hslot = nh;
	s->hmask = nmask;
	return 0;
}

/* The class of bitmap B in field F, created if new. 0 (the empty class) after an error. */
static uint16_t intern(struct cctx *c, int f, const uint64_t *b)
{
	struct space *s = &c->sp[f];
	size_t bytes = (size_t)c->W * sizeof(*b);
	uint32_t i;

	if (c->err)
		return 0;
	for (i = (uint32_t)bm_hash(b, c->W) & s->hmask; s->hslot[i]; i = (i + 1) & s->hmask)
		if (!memcmp(s->bits + (size_t)(s->hslot[i] - 1) * c->W, b, bytes))
			return (uint16_t)(s->hslot[i] - 1);
	if (s->n >= SLUICE_MAX_CLASSES) {
		limit_error(c, "too many distinct rule combinations for %s: more than %d classes; "
			    "use fewer overlapping prefixes or port ranges across rules",
			    field_names[f], SLUICE_MAX_CLASSES);
		return 0;
	}
	if (s->n == s->cap) {
		uint32_t ncap = s->cap ? 2 * s->cap : 64;
		uint64_t *nv = realloc(s->bits, (size_t)ncap * bytes);

		if (!nv) {
			oom(c);
			return 0;
		}
		s->bits = nv;
		s->cap = ncap;
	}
	memcpy(s->bits + (size_t)s->n * c->W, b, bytes);
	s->hslot[i] = ++s->n;
	if (2 * s->n > s->hmask && space_rehash(s, c->W, 2 * s->hmask + 1)) {
		oom(c);
		return 0;
	}
	return (uint16_t)(s->n - 1);
}

static const uint64_t *class_bits(struct cctx *c, int f, uint32_t cl)
{
	return c->sp[f].bits + (size_t)cl * c->W;
}

static uint32_t memo_hash(uint64_t key)
{
	return (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 32);
}

static int memo_grow(struct cctx *c)
{
	uint32_t ncap = 2 * (c->mmask + 1), nmask = ncap - 1;
	uint64_t *nk = calloc(ncap, sizeof(*nk));
	uint16_t *nv = calloc(ncap, sizeof(*nv));

	if (!nk || !nv) {
		free(nk);
		free(nv);
		return -ENOMEM;
	}
	for (uint32_t k = 0; k <= c->mmask; k++) {
		uint32_t j;

		if (!c->mkey[k])
			continue;
		for (j = memo_hash(c->mkey[k]) & nmask; nk[j]; j = (j + 1) & nmask)
			;
		nk[j] = c->mkey[k];
		nv[j] = c->mval[k];
	}
	free(c->mkey);
	free(c->mval);
	c->mkey = nk;
	c->mval = nv;
	c->mmask = nmask;
	return 0;
}

/* class(CL | bits of source S) in the address field being compiled, memoised. */
static uint16_t unite(struct cctx *c, uint16_t cl, uint32_t s)
{
	uint64_t key = ((uint64_t)cl << 32 | s) + 1;
	const uint64_t *a, *b;
	uint32_t i;
	uint16_t r;

	for (i = memo_hash(key) & c->mmask; c->mkey[i]; i = (i + 1) & c->mmask)
		if (c->mkey[i] == key)
			return c->mval[i];
	a = class_bits(c, c->mfield, cl);
	b = c->srcbits + (size_t)s * c->W;
	for (uint32_t w = 0; w < c->W; w++)
		c->tmp[w] = a[w] | b[w];
	r = intern(c, c->mfield, c->tmp);
	if (c->err)
		return 0;
	if (2 * (c->mn + 1) > c->mmask + 1) {
		if (memo_grow(c)) {
			oom(c);
			return 0;
		}
		for (i = memo_hash(key) & c->mmask; c->mkey[i]; i = (i + 1) & c->mmask)
			;
	}
	c->mkey[i] = key;
	c->mval[i] = r;
	c->mn++;
	return r;
}

static void paint(struct cctx *c, uint16_t *e, size_t n, uint32_t s)
{
	uint16_t last_old = 0, last_new = 0;
	bool have = false;

	for (size_t i = 0; i < n; i++) {
		if (!have || e[i] != last_old) {
			last_old = e[i];
			last_new = unite(c, e[i], s);
			have = true;
		}
		e[i] = last_new;
	}
}

/*
 * Sources of one direction: one per set referenced in it (the bits of every
 * rule naming the set there) and one per inline prefix (its rule's bit).
 * WILD gets the bitmap of the rules that do not name the field.
 */
static int collect_sources(struct cctx *c, bool dst, uint64_t *wild)
{
	const struct sl_policy *pol = c->pol;
	size_t bytes = (size_t)c->W * sizeof(uint64_t);
	uint32_t *set_src;

	memset(wild, 0, bytes);
	/*
	 * The memo is keyed by source index, and each direction numbers its
	 * sources afresh: results of the other direction must not be reused.
	 */
	memset(c->mkey, 0, ((size_t)c->mmask + 1) * sizeof(*c->mkey));
	c->mn = 0;
	c->mfield = dst ? SL_F_DST : SL_F_SRC;
	free(c->srcs);
	free(c->srcbits);
	free(c->groups);
	c->srcs = NULL;
	c->srcbits = NULL;
	c->groups = NULL;
	c->nsrcs = 0;
	c->ngroups = 0;
	set_src = malloc((pol->nsets + 1) * sizeof(*set_src));
	if (!set_src)
		return -ENOMEM;
	for (size_t i = 0; i < pol->nsets; i++)
		set_src[i] = NO_SOURCE;
	/* the blocklist's prefixes live in sl_block4/6: rule 0 matches nothing here */
	for (size_t r = c->block ? 1 : 0; r < c->fw->nrules; r++) {
		const struct sl_rule *rl = &c->fw->rules[r];
		const struct sl_addr_item *v = dst ? rl->dst : rl->src;
		size_t n = dst ? rl->ndst : rl->nsrc;

		if (!n)
			bm_set(wild, r);
		for (size_t k = 0; k < n; k++) {
			uint32_t s;

			if (v[k].is_set && !v[k].set)
				continue;	/* unresolved: the checker refused the policy */
			if (v[k].is_set) {
				size_t si = (size_t)(v[k].set - pol->sets);

				if (set_src[si] != NO_SOURCE) {
					bm_set(c->srcbits + (size_t)set_src[si] * c->W, r);
					continue;
				}
				set_src[si] = c->nsrcs;
			}
			if (sl_vec_reserve((void **)&c->srcs, c->nsrcs, sizeof(*c->srcs)) ||
			    sl_vec_reserve((void **)&c->groups, c->ngroups, sizeof(*c->groups))) {
				free(set_src);
				return -ENOMEM;
			}
			/* sl_vec_reserve grows by doubling: keep the bits' capacity alike */
			if (!(c->nsrcs & (c->nsrcs - 1))) {
				uint64_t *nb = realloc(c->srcbits,
						       (size_t)(c->nsrcs ? 2 * c->nsrcs : 1) * bytes);

				if (!nb) {
					free(set_src);
					return -ENOMEM;
				}
				c->srcbits = nb;
			}
			s = c->nsrcs++;
			c->groups[c->ngroups++] = v[k].is_set ?
				(struct group){ v[k].set->v, v[k].set->n, s } :
				(struct group){ &v[k].pfx, 1, s };
			memset(c->srcbits + (size_t)s * c->W, 0, bytes);
			bm_set(c->srcbits + (size_t)s * c->W, r);
			c->srcs[s].loc = v[k].is_set ? &v[k].set->loc : &v[k].loc;
			c->srcs[s].what = v[k].is_set ? v[k].set->name : NULL;
		}
	}
	free(set_src);
	return 0;
}

/* Fill N entries with V: one block by hand, then doubling copies (fast under ASan too). */
static void fill16(uint16_t *e, size_t n, uint16_t v)
{
	size_t done = n < SLUICE_BLK ? n : SLUICE_BLK;

	for (size_t i = 0; i < done; i++)
		e[i] = v;
	while (done < n) {
		size_t k = done < n - done ? done : n - done;

		memcpy(e + done, e, k * sizeof(*e));
		done += k;
	}
}

/*
 * The DIR-24 table being painted, in two levels: one class per /16, and the
 * 256 /24 entries of a /16 only once a prefix longer than /16 splits it.
 * A prefix up to /16 costs one step per /16 (a whole-space one 65536, not
 * 16M), and a /16 no longer prefix touches is never expanded.
 */
struct t24 {
	uint16_t l16[65536];	/* the class of an unsplit /16 */
	uint16_t *split[65536];	/* its /24 entries once split */
	uint32_t nsplit;
};

static int t24_init(struct t24 **tp, uint16_t wild)
{
	struct t24 *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	fill16(t->l16, 65536, wild);
	*tp = t;
	return 0;
}

static void t24_free(struct t24 *t)
{
	for (uint32_t h = 0; t && h < 65536; h++)
		free(t->split[h]);
	free(t);
}

/* The /24 entries of /16 H, split from its class if needed; NULL: no memory. */
static uint16_t *t24_split(struct t24 *t, uint32_t h)
{
	if (!t->split[h]) {
		t->split[h] = malloc(256 * sizeof(uint16_t));
		if (!t->split[h])
			return NULL;
		fill16(t->split[h], 256, t->l16[h]);
		t->nsplit++;
	}
	return t->split[h];
}

/* Paint prefix A/LEN (host order, LEN <= 24) with source S. */
static int t24_paint(struct cctx *c, struct t24 *t, uint32_t a, unsigned int len, uint32_t s)
{
	uint32_t h = a >> 16;

	if (len > 16) {
		uint16_t *e = t24_split(t, h);

		if (!e)
			return -ENOMEM;
		paint(c, e + ((a >> 8) & 255), (size_t)1 << (24 - len), s);
		return 0;
	}
	for (uint32_t n = 1u << (16 - len), last_old = 0, last_new = 0, have = 0; n--; h++) {
		if (t->split[h]) {
			paint(c, t->split[h], 256, s);
			continue;
		}
		if (!have || t->l16[h] != last_old) {
			last_old = t->l16[h];
			last_new = unite(c, t->l16[h], s);
			have = 1;
		}
		t->l16[h] = (uint16_t)last_new;
	}
	return 0;
}

static int cmp_v4(const void *a, const void *b)
{
	const struct v4ent *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->src < y->src ? -1 : x->src > y->src;
}

/* Long prefixes: by /24, then length, then address, then source. */
static int cmp_long(const void *a, const void *b)
{
	const struct v4ent *x = a, *y = b;

	if (x->addr >> 8 != y->addr >> 8)
		return x->addr >> 8 < y->addr >> 8 ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return cmp_v4(a, b);
}

/* One distinct prefix past /24 inside its /24, with the class an address in it gets. */
struct lpfx {
	uint32_t addr;
	uint8_t len;
	bool keep;
	bool nested;		/* inside a shorter kept prefix */
	uint16_t cls;
};

/* The entries of the /24s that go to the hash, in the order they are placed. */
struct lh_build {
	struct fw_lh_ent *e;	/* by /24: longest first */
	size_t n, cap;
	uint32_t *blk_start;	/* index in e of each /24's first entry */
	uint32_t *blk_net;	/* the /24 (address >> 8) */
	size_t nblk, blk_cap;
	struct fw_t8 *grp;	/* groups, numbered after the chunks later */
	uint32_t ngrp, grp_cap;
};

static int lh_add(struct lh_build *b, uint32_t net, uint32_t lv)
{
	if (b->n == b->cap) {
		size_t ncap = b->cap ? 2 * b->cap : 256;
		struct fw_lh_ent *ne = realloc(b->e, ncap * sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		b->e = ne;
		b->cap = ncap;
	}
	b->e[b->n++] = (struct fw_lh_ent){ net, lv };
	return 0;
}

static int lh_block(struct lh_build *b, uint32_t net24)
{
	if (b->nblk == b->blk_cap) {
		size_t ncap = b->blk_cap ? 2 * b->blk_cap : 256;
		uint32_t *ns = realloc(b->blk_start, ncap * sizeof(*ns));
		uint32_t *nn;

		if (ns)
			b->blk_start = ns;
		nn = realloc(b->blk_net, ncap * sizeof(*nn));
		if (nn)
			b->blk_net = nn;
		if (!ns || !nn)
			return -ENOMEM;
		b->blk_cap = ncap;
	}
	b->blk_start[b->nblk] = (uint32_t)b->n;
	b->blk_net[b->nblk++] = net24;
	return 0;
}

static void lh_build_free(struct lh_build *b)
{
	free(b->e);
	free(b->blk_start);
	free(b->blk_net);
	free(b->grp);
}

/*
 * The prefixes past /24 of one /24 (V[0, N), sorted by length then
 * address; TBL24 its entry): their classes, the ones a lookup needs, and
 * where those go (hash or group). AT is scratch: 512 slots, -1.
 */
static int compile_block(struct cctx *c, const struct v4ent *v, size_t n, uint16_t *e24,
			 struct lpfx *kp, int *at, struct lh_build *b)
{
	uint32_t net24 = v[0].addr >> 8;
	uint16_t base = *e24;
	size_t nk = 0, nkeep = 0;
	int rc = 0;

	for (size_t i = 0; i < n && !c->err;) {
		uint32_t a = v[i].addr & 0xff;
		uint8_t len = v[i].len;
		uint16_t cls = base, kcls = base;
		bool covered = false, nested = false;

		/*
		 * Its class starts from the longest prefix covering it (whose class
		 * has every shorter one's); it is needed only if it differs from the
		 * longest covering one a lookup can find (kept), or the /24's class.
		 */
		for (int l = len - 1; l > 24; l--) {
			int j = at[(1 << (l - 24)) + (a >> (32 - l))];

			if (j < 0)
				continue;
			if (!covered) {
				cls = kp[j].cls;
				covered = true;
			}
			if (kp[j].keep) {
				kcls = kp[j].cls;
				nested = true;
				break;
			}
		}
		kp[nk] = (struct lpfx){ .addr = v[i].addr, .len = len, .nested = nested };
		c->blame = c->srcs[v[i].src].loc;
		for (; i < n && v[i].addr == kp[nk].addr && v[i].len == len; i++)
			cls = unite(c, cls, v[i].src);
		kp[nk].cls = cls;
		kp[nk].keep = cls != kcls;
		nkeep += kp[nk].keep;
		at[(1 << (len - 24)) + (a >> (32 - len))] = (int)nk;
		nk++;
	}
	for (size_t k = 0; k < nk; k++)
		at[(1 << (kp[k].len - 24)) + ((kp[k].addr & 0xff) >> (32 - kp[k].len))] = -1;
	if (c->err || !nkeep)
		return 0;
	{
		/* kept prefixes that cover the whole /24 (two /25s): maybe all one class */
		uint32_t covered = 0;
		uint16_t first = 0;
		bool uniform = true;

		for (size_t k = 0; k < nk; k++)
			if (kp[k].keep && !kp[k].nested)
				covered += 1u << (32 - kp[k].len);
		for (size_t k = 0; covered == 256 && uniform && k < nk; k++) {
			if (!kp[k].keep)
				continue;
			if (!first)
				first = kp[k].cls + 1;
			uniform = kp[k].cls + 1 == first;
		}
		if (covered == 256 && uniform) {
			*e24 = (uint16_t)(first - 1);
			return 0;
		}
	}
	*e24 = (uint16_t)(SLUICE_T8_FLAG | base);
	rc = lh_block(b, net24);
	if (rc)
		return rc;
	if (nkeep > SLUICE_LH_GROUP) {
		/* many: one entry per address, longer prefixes painted over shorter */
		struct fw_t8 *g;

		if (b->ngrp == b->grp_cap) {
			uint32_t ncap = b->grp_cap ? 2 * b->grp_cap : 16;
			struct fw_t8 *ng = realloc(b->grp, ncap * sizeof(*ng));

			if (!ng)
				return -ENOMEM;
			b->grp = ng;
			b->grp_cap = ncap;
		}
		g = &b->grp[b->ngrp];
		for (int k = 0; k < 256; k++)
			g->e[k] = base;
		for (size_t k = 0; k < nk; k++) {
			uint32_t lo = kp[k].addr & 0xff, cnt = 1u << (32 - kp[k].len);

			if (kp[k].keep)
				for (uint32_t x = lo; x < lo + cnt; x++)
					g->e[x] = kp[k].cls;
		}
		return lh_add(b, net24 << 8, 24u << 24 | b->ngrp++);
	}
	/* few: hash entries, longest first, so the first that covers is the one */
	for (int len = 32; len > 24 && !rc; len--)
		for (size_t k = 0; k < nk && !rc; k++)
			if (kp[k].keep && kp[k].len == len)
				rc = lh_add(b, kp[k].addr, (uint32_t)len << 24 | kp[k].cls);
	return rc;
}

/*
 * Place the entries of B into a hash of NBKTS buckets: each /24's entries
 * from its home bucket on, in order, into the first empty slots. -E2BIG
 * when a /24's entries would end more than SLUICE_LH_PROBE buckets from its
 * home (the lookup stops there): the caller tries a larger table.
 */
static int lh_place(const struct lh_build *b, uint32_t nbkts, struct fw_lh_bkt *h)
{
	size_t nslots = (size_t)nbkts * SLUICE_LH_SLOTS;
	struct fw_lh_ent *s = &h->e[0];

	memset(h, 0, (size_t)nbkts * sizeof(*h));
	for (size_t k = 0; k < b->nblk; k++) {
		uint32_t home = sl_lh_home(b->blk_net[k], nbkts);
		size_t end = k + 1 < b->nblk ? b->blk_start[k + 1] : b->n;
		size_t pos = (size_t)home * SLUICE_LH_SLOTS, dist = 0;

		for (size_t i = b->blk_start[k]; i < end; i++) {
			struct fw_lh_ent e = b->e[i];

			while (s[pos].lv) {
				pos = pos + 1 == nslots ? 0 : pos + 1;
				if (++dist >= nslots)
					return -E2BIG;
			}
			/* the bucket of this slot, counted from home */
			if ((pos / SLUICE_LH_SLOTS + nbkts - home) % nbkts >= SLUICE_LH_PROBE)
				return -E2BIG;
			s[pos] = e;
		}
	}
	return 0;
}

/* A growing array of NMEMB-sized elements with a dedup hash over their contents. */
struct dedup {
	void **v;		/* the array (fw_pfx4's t8, p1 or p2) */
	uint32_t *n;		/* its length */
	uint32_t first;		/* elements before this are not chunks (groups) */
	size_t size;
	uint32_t cap;
	uint32_t *hs, hmask;	/* index + 1 per slot */
};

static uint64_t mem_hash(const void *p, size_t len)
{
	return sl_fnv1a(SL_FNV_INIT, p, len);
}

/* The index of ELEM in D, appended if new; -ENOMEM. */
static int64_t dedup_add(struct dedup *d, const void *elem)
{
	char *base = *d->v;
	uint32_t j;

	if (!d->hs || 2 * (*d->n - d->first + 1) > d->hmask) {
		uint32_t nmask = d->hs ? 2 * d->hmask + 1 : 4095;
		uint32_t *nh = calloc((size_t)nmask + 1, sizeof(*nh));

		if (!nh)
			return -ENOMEM;
		for (uint32_t k = d->first; k < *d->n; k++) {
			uint32_t x = (uint32_t)mem_hash(base + (size_t)k * d->size, d->size) & nmask;

			while (nh[x])
				x = (x + 1) & nmask;
			nh[x] = k + 1;
		}
		free(d->hs);
		d->hs = nh;
		d->hmask = nmask;
	}
	for (j = (uint32_t)mem_hash(elem, d->size) & d->hmask; d->hs[j]; j = (j + 1) & d->hmask)
		if (!memcmp(base + (size_t)(d->hs[j] - 1) * d->size, elem, d->size))
			return d->hs[j] - 1;
	if (*d->n == d->cap) {
		uint32_t ncap = d->cap ? 2 * d->cap : 64;
		char *nv = realloc(base, (size_t)ncap * d->size);

		if (!nv)
			return -ENOMEM;
		*d->v = base = nv;
		d->cap = ncap;
	}
	memcpy(base + (size_t)*d->n * d->size, elem, d->size);
	d->hs[j] = ++*d->n;
	return *d->n - 1;
}

/* The intervals of one /16 as they are found, address by address (iv16). */
struct iv_build {
	struct fw_iv iv;
	uint16_t cur;
	int ncls;
};

/* Class CLS from address AT (low 16 bits) on. false: past two classes or SLUICE_IV_MAX. */
static bool iv_emit(struct iv_build *w, uint32_t at, uint16_t cls)
{
	if (!w->ncls) {
		w->iv.cls[0] = w->iv.cls[1] = w->cur = cls;
		w->ncls = 1;
		return true;
	}
	if (cls == w->cur)
		return true;
	if (w->ncls == 1) {
		w->iv.cls[1] = cls;
		w->ncls = 2;
	} else if (cls != w->iv.cls[0] && cls != w->iv.cls[1]) {
		return false;
	}
	if (w->iv.n == SLUICE_IV_MAX)
		return false;
	w->iv.b[w->iv.n++] = (uint16_t)at;
	w->cur = cls;
	return true;
}

/*
 * /16 H of a direction whose longer prefixes take the hash B (chunk E, its
 * blocks in B from *KB on): its addresses as the intervals of two classes
 * (SL_CHUNK_IV) into *IV when they fit, and its blocks marked in DROP (the
 * element holds them). Moves *KB past the /16's blocks either way.
 */
static bool iv16(const uint16_t *e, const struct lh_build *b, uint32_t h, size_t *kb,
		 bool *drop, struct fw_iv *iv)
{
	struct iv_build w = { 0 };
	size_t k = *kb, first;
	uint16_t x[256];
	bool ok = true;

	while (k < b->nblk && b->blk_net[k] >> 8 < h)
		k++;
	first = k;
	for (uint32_t i = 0; i < 256 && ok; i++) {
		size_t s, end;

		if (!(e[i] & SLUICE_T8_FLAG)) {
			ok = iv_emit(&w, i << 8, e[i]);
			continue;
		}
		while (k < b->nblk && b->blk_net[k] < (h << 8 | i))
			k++;
		if (k == b->nblk || b->blk_net[k] != (h << 8 | i))
			return false;	/* a flagged /24 has its block */
		s = b->blk_start[k];
		end = k + 1 < b->nblk ? b->blk_start[k + 1] : b->n;
		if (end - s == 1 && SLUICE_LH_LEN(b->e[s].lv) == 24) {
			memcpy(x, b->grp[SLUICE_LH_VAL(b->e[s].lv)].e, sizeof(x));
		} else {
			/* the /24's class, then its prefixes shortest first (the longest wins) */
			fill16(x, 256, e[i] & ~SLUICE_T8_FLAG);
			for (size_t j = end; j-- > s;) {
				uint32_t len = SLUICE_LH_LEN(b->e[j].lv), lo = b->e[j].net & 0xff;

				fill16(x + lo, 1u << (32 - len), (uint16_t)SLUICE_LH_VAL(b->e[j].lv));
			}
		}
		for (uint32_t a = 0; a < 256 && ok; a++)
			ok = iv_emit(&w, i << 8 | a, x[a]);
	}
	while (k < b->nblk && b->blk_net[k] >> 8 == h)
		k++;
	*kb = k;
	if (!ok)
		return false;
	for (size_t j = first; j < k; j++)
		drop[j] = true;
	*iv = w.iv;
	return true;
}

/*
 * IV as single addresses of class cls[1] over cls[0] (every interval of
 * cls[1] one address wide, at most SLUICE_HOSTS_MAX) into *HS: true.
 */
static bool iv_hosts(const struct fw_iv *iv, struct fw_hosts *hs)
{
	uint32_t nh = (iv->n + 1u) / 2;

	if (!iv->n || nh > SLUICE_HOSTS_MAX)
		return false;
	for (uint32_t j = 0; j < nh; j++) {
		uint32_t end = 2 * j + 1 < iv->n ? iv->b[2 * j + 1] : 0x10000;

		if (end - iv->b[2 * j] != 1)
			return false;
		hs->h[j] = iv->b[2 * j];
	}
	for (uint32_t j = nh; j < SLUICE_HOSTS_MAX; j++)
		hs->h[j] = hs->h[nh - 1];
	hs->cls[0] = iv->cls[0];
	hs->cls[1] = iv->cls[1];
	return true;
}

/* The host bits of prefix J of PX. */
static uint32_t pfx_hb(const struct fw_pfx16 *px, uint32_t j)
{
	return px->hb[j / 8] >> (j % 8 * 4) & 15;
}

/*
 * The intervals of class cls[SIDE] of IV cut into aligned prefixes into PX
 * (fw_pfx16: class cls[SIDE] inside them, the other outside): false past
 * SLUICE_PFX_MAX.
 */
static bool iv_pfx_side(const struct fw_iv *iv, int side, struct fw_pfx16 *px)
{
	uint32_t np = 0;

	memset(px, 0, sizeof(*px));
	/* the addresses from b[r - 1] (0) to b[r] (the /16's end) take cls[r & 1] */
	for (uint32_t r = (uint32_t)side; r <= iv->n; r += 2) {
		uint32_t a = r ? iv->b[r - 1] : 0, end = r < iv->n ? iv->b[r] : 0x10000;

		while (a < end) {
			/* the largest prefix from A that A's alignment and END allow */
			uint32_t hb = a ? (uint32_t)__builtin_ctz(a) : 16;

			while (1u << hb > end - a)
				hb--;
			if (hb > 15 || np == SLUICE_PFX_MAX)
				return false;
			px->base[np] = (uint16_t)a;
			px->hb[np / 8] |= hb << (np % 8 * 4);
			np++;
			a += 1u << hb;
		}
	}
	if (!np)
		return false;
	for (uint32_t j = np; j < SLUICE_PFX_MAX; j++) {
		px->base[j] = px->base[np - 1];
		px->hb[j / 8] |= pfx_hb(px, np - 1) << (j % 8 * 4);
	}
	px->cls[1] = iv->cls[side];
	px->cls[0] = iv->cls[!side];
	return true;
}

/* IV as the prefixes of either class over the other (at most SLUICE_PFX_MAX): true. */
static bool iv_pfx(const struct fw_iv *iv, struct fw_pfx16 *px)
{
	return iv->n && (iv_pfx_side(iv, 1, px) || iv_pfx_side(iv, 0, px));
}

/* Take the blocks DROP marks out of B (their /16s are intervals now). */
static void lh_drop(struct lh_build *b, const bool *drop)
{
	size_t nb = 0, n = 0;

	for (size_t k = 0; k < b->nblk; k++) {
		size_t s = b->blk_start[k], end = k + 1 < b->nblk ? b->blk_start[k + 1] : b->n;

		if (drop[k])
			continue;
		memmove(&b->e[n], &b->e[s], (end - s) * sizeof(*b->e));
		b->blk_start[nb] = (uint32_t)n;
		b->blk_net[nb++] = b->blk_net[k];
		n += end - s;
	}
	b->nblk = nb;
	b->n = n;
}

/*
 * Cut the DIR-24 table TBL into /16 entries and chunks, identical ones
 * shared: a chunk of 2 (4) distinct values packed in one (two) bits per /24,
 * others full, appended to V's t8 after the groups already there. With a
 * hash (B->n), a /16 with longer prefixes is intervals when it can be
 * (iv16), and B keeps only the other /16s' blocks.
 */
static int compress24(const struct t24 *tbl, struct fw_pfx4 *v, struct lh_build *b)
{
	struct dedup full = { (void **)&v->t8, &v->nt8, v->nt8, sizeof(struct fw_t8), v->nt8 };
	struct dedup p1 = { (void **)&v->p1, &v->np1, 0, sizeof(struct fw_p1) };
	struct dedup p2 = { (void **)&v->p2, &v->np2, 0, sizeof(struct fw_p2) };
	bool *drop = NULL, dropped = false;
	size_t kb = 0;
	int rc = 0;

	v->l1 = calloc(SLUICE_L1_BLOCKS, sizeof(*v->l1));
	if (b->n)
		drop = calloc(b->nblk, sizeof(*drop));
	if (!v->l1 || (b->n && !drop)) {
		free(drop);
		return -ENOMEM;
	}
	for (uint32_t h = 0; h < 65536 && !rc; h++) {
		const uint16_t *e = tbl->split[h];
		uint32_t *l1 = &v->l1[h / SLUICE_L1_BLK].e[h % SLUICE_L1_BLK];
		uint16_t val[4];
		int nval = 0;
		int64_t idx;
		uint32_t kind;

		if (!e) {
			*l1 = tbl->l16[h];
			continue;
		}
		for (int i = 0; i < 256 && nval <= 4; i++) {
			int k = 0;

			while (k < nval && val[k] != e[i])
				k++;
			if (k == nval && nval++ < 4)
				val[k] = e[i];
		}
		if (nval == 1 && !(e[0] & SLUICE_T8_FLAG)) {
			*l1 = e[0];
			continue;
		}
		if (drop) {
			union { struct fw_iv iv; struct fw_p2 p2; } u = { 0 };
			bool split = false;

			for (int i = 0; i < 256 && !split; i++)
				split = e[i] & SLUICE_T8_FLAG;
			if (split && iv16(e, b, h, &kb, drop, &u.iv)) {
				union {
					struct fw_hosts hs;
					struct fw_pfx16 px;
					struct fw_iv1 iv1;
					struct fw_p1 p1;
				} w = { 0 };

				dropped = true;
				if (iv_hosts(&u.iv, &w.hs)) {
					kind = SL_CHUNK_HOSTS;
					idx = dedup_add(&p1, &w.p1);
				} else if (iv_pfx(&u.iv, &w.px)) {
					kind = SL_CHUNK_PFX;
					idx = dedup_add(&p1, &w.p1);
				} else if (u.iv.n <= SLUICE_IV1_MAX) {
					memcpy(w.iv1.b, u.iv.b, sizeof(w.iv1.b));
					w.iv1.n = u.iv.n;
					memcpy(w.iv1.cls, u.iv.cls, sizeof(w.iv1.cls));
					kind = SL_CHUNK_IV1;
					idx = dedup_add(&p1, &w.p1);
				} else {
					kind = SL_CHUNK_IV;
					idx = dedup_add(&p2, &u.p2);
				}
				if (idx < 0)
					rc = (int)idx;
				else
					*l1 = SLUICE_L1_FLAG | kind << SLUICE_L1_KIND_SHIFT |
					      (uint32_t)idx;
				continue;
			}
		}
		if (nval <= 2) {
			struct fw_p1 c = { .val = { val[0], nval > 1 ? val[1] : val[0] } };

			for (int i = 0; i < 256; i++)
				c.bits[i >> 6] |= (uint64_t)(e[i] != val[0]) << (i & 63);
			kind = SL_CHUNK_P1;
			idx = dedup_add(&p1, &c);
		} else if (nval <= 4) {
			struct fw_p2 c = { 0 };

			memcpy(c.val, val, sizeof(val));
			for (int i = 0; i < 256; i++) {
				uint64_t k = 0;

				while (val[k] != e[i])
					k++;
				c.bits[i >> 5] |= k << ((i & 31) * 2);
			}
			kind = SL_CHUNK_P2;
			idx = dedup_add(&p2, &c);
		} else {
			kind = SL_CHUNK_FULL;
			idx = dedup_add(&full, e);
		}
		if (idx < 0)
			rc = (int)idx;
		else
			*l1 = SLUICE_L1_FLAG | kind << SLUICE_L1_KIND_SHIFT | (uint32_t)idx;
	}
	free(full.hs);
	free(p1.hs);
	free(p2.hs);
	if (!rc && dropped)
		lh_drop(b, drop);
	free(drop);
	return rc;
}

/*
 * Few groups and chunks: all of them full in the fixed table V->s (groups
 * first, as in t8, which it replaces), so that every lookup is inlined.
 * -E2BIG when they do not fit SLUICE_SMALL_CHUNKS (nothing kept).
 */
static int compress_small(const struct t24 *tbl, struct fw_pfx4 *v)
{
	struct dedup full = { (void **)&v->s, &v->ns, v->nt8, sizeof(struct fw_t8) };
	int rc = 0;

	if (v->nt8 > SLUICE_SMALL_CHUNKS)
		return -E2BIG;
	v->s = malloc(SLUICE_SMALL_CHUNKS * sizeof(*v->s));
	v->l1 = calloc(SLUICE_L1_BLOCKS, sizeof(*v->l1));
	if (!v->s || !v->l1) {
		rc = -ENOMEM;
		goto out;
	}
	if (v->nt8)
		memcpy(v->s, v->t8, v->nt8 * sizeof(*v->s));
	v->ns = v->nt8;
	full.cap = SLUICE_SMALL_CHUNKS;
	for (uint32_t h = 0; h < 65536 && !rc; h++) {
		const uint16_t *e = tbl->split[h];
		uint32_t *l1 = &v->l1[h / SLUICE_L1_BLK].e[h % SLUICE_L1_BLK];
		int64_t idx;
		int i = 1;

		while (e && i < 256 && e[i] == e[0])
			i++;
		if (!e || (i == 256 && !(e[0] & SLUICE_T8_FLAG))) {
			*l1 = e ? e[0] : tbl->l16[h];
			continue;
		}
		if (v->ns == SLUICE_SMALL_CHUNKS) {
			rc = -E2BIG;
			break;
		}
		idx = dedup_add(&full, e);
		if (idx < 0)
			rc = (int)idx;
		else
			*l1 = SLUICE_L1_FLAG | SL_CHUNK_SMALL << SLUICE_L1_KIND_SHIFT | (uint32_t)idx;
	}
out:
	free(full.hs);
	if (rc) {
		free(v->s);
		free(v->l1);
		v->s = NULL;
		v->l1 = NULL;
		v->ns = 0;
		return rc;
	}
	/* the groups live in s now */
	free(v->t8);
	v->t8 = NULL;
	v->nt8 = 0;
	return 0;
}

/*
 * How many /16s of TBL need a full chunk (more than 4 values among their
 * /24s: fewer are packed in a cache line or two).
 */
static uint32_t full16(const struct t24 *tbl)
{
	uint32_t n = 0;

	for (uint32_t h = 0; h < 65536; h++) {
		const uint16_t *e = tbl->split[h];
		uint16_t val[4];
		int nval = 0;

		if (!e)
			continue;
		for (int i = 0; i < 256 && nval <= 4; i++) {
			int k = 0;

			while (k < nval && val[k] != e[i])
				k++;
			if (k == nval && nval++ < 4)
				val[k] = e[i];
		}
		n += nval > 4;
	}
	return n;
}

/*
 * Few /24s split by longer prefixes: each gets a group (its hash entries,
 * longest first, painted in reverse over the /24's class), and its entry in
 * TBL names the group, so no hash is needed.
 */
static int direct_groups(struct lh_build *b, struct t24 *tbl)
{
	struct fw_t8 *g = malloc((b->nblk + 1) * sizeof(*g));

	if (!g)
		return -ENOMEM;
	for (size_t k = 0; k < b->nblk; k++) {
		uint32_t net = b->blk_net[k];
		size_t first = b->blk_start[k], end = k + 1 < b->nblk ? b->blk_start[k + 1] : b->n;

		if (end - first == 1 && SLUICE_LH_LEN(b->e[first].lv) == 24) {
			g[k] = b->grp[SLUICE_LH_VAL(b->e[first].lv)];
		} else {
			for (int x = 0; x < 256; x++)
				g[k].e[x] = tbl->split[net >> 8][net & 255] & ~SLUICE_T8_FLAG;
			for (size_t i = end; i-- > first;) {
				uint32_t len = SLUICE_LH_LEN(b->e[i].lv), lo = b->e[i].net & 0xff;

				for (uint32_t x = lo; x < lo + (1u << (32 - len)); x++)
					g[k].e[x] = (uint16_t)SLUICE_LH_VAL(b->e[i].lv);
			}
		}
		/* a flagged /24 is in a split /16 */
		tbl->split[net >> 8][net & 255] = (uint16_t)(SLUICE_T8_FLAG | k);
	}
	free(b->grp);
	b->grp = g;
	b->ngrp = (uint32_t)b->nblk;
	b->grp_cap = b->ngrp;
	b->n = 0;
	return 0;
}

/*
 * Groups, then chunks, then the hash: the tables of one direction's IPv4
 * prefixes. A set whose /16s need full chunks for the most part goes flat:
 * the DIR-24 table, every /16's chunk in order; fw_*4_t8 holds the groups
 * alone.
 */
static int finish_v4(struct cctx *c, int d, struct t24 *tbl, struct lh_build *b)
{
	struct fw_pfx4 *v = &c->t->v4[d];
	uint32_t nbkts;
	int rc;

	if (b->nblk && b->nblk <= SLUICE_GROUPS_DIRECT) {
		rc = direct_groups(b, tbl);
		if (rc)
			return rc;
	}
	/* groups first: their numbers are known before the chunks that name them */
	if (b->ngrp) {
		v->t8 = malloc(b->ngrp * sizeof(*v->t8));
		if (!v->t8)
			return -ENOMEM;
		memcpy(v->t8, b->grp, b->ngrp * sizeof(*v->t8));
		v->nt8 = b->ngrp;
	}
	if (!b->n && !compress_small(tbl, v)) {
		c->t->cfg.dir[d].small = 1;
		return 0;
	}
	if (full16(tbl) > SLUICE_FLAT_MIN) {
		v->flat = malloc((size_t)SLUICE_FLAT_CHUNKS * sizeof(*v->flat));
		if (!v->flat)
			return -ENOMEM;
		for (uint32_t h = 0; h < 65536; h++) {
			if (tbl->split[h])
				memcpy(v->flat[h].e, tbl->split[h], sizeof(v->flat[h].e));
			else
				fill16(v->flat[h].e, 256, tbl->l16[h]);
		}
		c->t->cfg.dir[d].v4 = SL_MODE_FLAT;
	} else {
		rc = compress24(tbl, v, b);
		if (rc)
			return rc;
	}
	if (b->n) {
		nbkts = (uint32_t)((double)b->n / (SLUICE_LH_SLOTS * LH_LOAD)) + 1;
		for (int tries = 0;; tries++) {
			if (nbkts > SLUICE_LH_MAX || tries == LH_RETRIES) {
				c->blame = &c->fw->loc;
				limit_error(c, "%s: %zu IPv4 prefixes longer than /24 do not fit the "
					    "hash table (%u buckets)", field_names[d], b->n, nbkts);
				return 0;
			}
			free(v->lh);
			v->lh = malloc((size_t)nbkts * sizeof(*v->lh));
			if (!v->lh)
				return -ENOMEM;
			v->nlh = nbkts;
			rc = lh_place(b, nbkts, v->lh);
			if (rc != -E2BIG)
				break;
			nbkts += nbkts / 4 + 1;
		}
		if (rc)
			return rc;
		c->t->cfg.dir[d].lh_bkts = v->nlh;
	}
	return 0;
}

static int compile_v4(struct cctx *c, int d, uint16_t wild_cls)
{
	size_t cnt[33] = { 0 }, off[34] = { 0 }, total = 0, maxblk = 0;
	struct lh_build b = { 0 };
	struct v4ent *ents = NULL;
	struct lpfx *kp = NULL;
	struct t24 *tbl = NULL;
	int at[512], rc = 0;

	/* Count per length, then place: a counting sort by prefix length. */
	for (size_t g = 0; g < c->ngroups; g++)
		for (size_t i = 0; i < c->groups[g].n; i++)
			if (c->groups[g].v[i].family == AF_INET) {
				cnt[c->groups[g].v[i].len]++;
				total++;
			}
	if (!total) {
		c->t->cfg.dir[d].v4 = SL_MODE_CONST;
		c->t->cfg.dir[d].v4_cls = wild_cls;
		return 0;
	}
	c->t->cfg.dir[d].v4 = SL_MODE_MAP;
	ents = malloc((total + 1) * sizeof(*ents));
	if (!ents || t24_init(&tbl, wild_cls)) {
		rc = -ENOMEM;
		goto out;
	}
	for (int l = 0; l <= 32; l++)
		off[l + 1] = off[l] + cnt[l];
	{
		size_t pos[33];

		memcpy(pos, off, sizeof(pos));
		for (size_t g = 0; g < c->ngroups; g++) {
			for (size_t i = 0; i < c->groups[g].n; i++) {
				const struct sl_prefix *p = &c->groups[g].v[i];
				uint32_t a;

				if (p->family != AF_INET)
					continue;
				memcpy(&a, p->addr, 4);
				ents[pos[p->len]++] = (struct v4ent){ ntohl(a), c->groups[g].src,
								      p->len };
			}
		}
	}

	for (int l = 0; l <= 24 && !c->err; l++) {
		struct v4ent *v = ents + off[l];
		size_t n = cnt[l];

		if (n > 1)
			qsort(v, n, sizeof(*v), cmp_v4);
		for (size_t i = 0; i < n && !c->err; i++) {
			if (i && v[i].addr == v[i - 1].addr && v[i].src == v[i - 1].src)
				continue;
			c->blame = c->srcs[v[i].src].loc;
			rc = t24_paint(c, tbl, v[i].addr, (unsigned int)l, v[i].src);
			if (rc)
				goto out;
		}
	}

	/* past /24: by /24 */
	{
		struct v4ent *v = ents + off[25];
		size_t n = off[33] - off[25];

		if (n > 1)
			qsort(v, n, sizeof(*v), cmp_long);
		for (size_t i = 0, j; i < n; i = j) {
			for (j = i + 1; j < n && v[j].addr >> 8 == v[i].addr >> 8; j++)
				;
			if (j - i > maxblk)
				maxblk = j - i;
		}
		kp = malloc((maxblk + 1) * sizeof(*kp));
		if (!kp) {
			rc = -ENOMEM;
			goto out;
		}
		for (int k = 0; k < 512; k++)
			at[k] = -1;
		for (size_t i = 0, j; i < n && !c->err && !rc; i = j) {
			for (j = i + 1; j < n && v[j].addr >> 8 == v[i].addr >> 8; j++)
				;
			uint16_t *e = t24_split(tbl, v[i].addr >> 16);

			rc = e ? compile_block(c, v + i, j - i, &e[(v[i].addr >> 8) & 255], kp, at,
					       &b) : -ENOMEM;
		}
	}
	if (!rc && !c->err)
		rc = finish_v4(c, d, tbl, &b);
out:
	lh_build_free(&b);
	free(kp);
	t24_free(tbl);
	free(ents);
	return rc;
}

static int cmp_v6(const void *a, const void *b)
{
	const struct v6ent *x = a, *y = b;
	int r = memcmp(x->p->addr, y->p->addr, 16);

	if (r)
		return r;
	if (x->p->len != y->p->len)
		return x->p->len < y->p->len ? -1 : 1;
	return x->src < y->src ? -1 : x->src > y->src;
}

static int compile_v6(struct cctx *c, int d, const uint64_t *wild, uint16_t wild_cls)
{
	static const struct sl_prefix any6 = { .family = AF_INET6 };
	struct fw_tables *t = c->t;
	struct fw_lpm6_entry **outp = &t->v6[d];
	uint32_t *nout = &t->n6[d];
	size_t bytes = (size_t)c->W * sizeof(uint64_t);
	const struct sl_prefix **stack = NULL;
	uint64_t *acc = NULL;
	struct v6ent *ents = NULL;
	size_t total = 1, n = 0, depth = 0;
	int rc = 0;

	for (size_t g = 0; g < c->ngroups; g++)
		for (size_t i = 0; i < c->groups[g].n; i++)
			total += c->groups[g].v[i].family == AF_INET6;
	if (total == 1) {
		t->cfg.dir[d].v6 = SL_MODE_CONST;
		t->cfg.dir[d].v6_cls = wild_cls;
		return 0;
	}
	t->cfg.dir[d].v6 = SL_MODE_MAP;
	ents = malloc(total * sizeof(*ents));
	stack = malloc(129 * sizeof(*stack));
	acc = malloc(130 * bytes);	/* the stack's bitmaps, and one for the entry */
	if (!ents || !stack || !acc) {
		rc = -ENOMEM;
		goto out;
	}
	/* ::/0 with no source: the rules that do not name the field. */
	ents[n++] = (struct v6ent){ &any6, NO_SOURCE };
	for (size_t g = 0; g < c->ngroups; g++)
		for (size_t i = 0; i < c->groups[g].n; i++)
			if (c->groups[g].v[i].family == AF_INET6)
				ents[n++] = (struct v6ent){ &c->groups[g].v[i], c->groups[g].src };
	qsort(ents, n, sizeof(*ents), cmp_v6);

	*outp = calloc(n, sizeof(**outp));
	if (!*outp) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n && !c->err;) {
		const struct sl_prefix *p = ents[i].p;
		uint64_t *cur = acc + 129 * c->W;
		struct fw_lpm6_entry *o;

		/* Each prefix has an ancestor chain on the stack: pop what does not cover it. */
		while (depth && !sl_prefix_covers(stack[depth - 1], p))
			depth--;
		memcpy(cur, depth ? acc + (depth - 1) * c->W : wild, bytes);
		c->blame = ents[i].src == NO_SOURCE ? &c->fw->loc : c->srcs[ents[i].src].loc;
		for (; i < n && ents[i].p->len == p->len && !memcmp(ents[i].p->addr, p->addr, 16);
		     i++) {
			const uint64_t *sb;

			if (ents[i].src == NO_SOURCE)
				continue;
			sb = c->srcbits + (size_t)ents[i].src * c->W;
			for (uint32_t w = 0; w < c->W; w++)
				cur[w] |= sb[w];
		}
		stack[depth] = p;
		memcpy(acc + depth * c->W, cur, bytes);
		depth++;
		if (*nout >= SLUICE_LPM6_MAX) {
			limit_error(c, "too many IPv6 prefixes: more than %u in %s, ::/0 included",
				    SLUICE_LPM6_MAX, field_names[d]);
			break;
		}
		o = &(*outp)[(*nout)++];
		o->key.prefixlen = p->len;
		memcpy(o->key.addr, p->addr, 16);
		o->val.cls = intern(c, d, cur);
	}
out:
	free(ents);
	free(stack);
	free(acc);
	return rc;
}

struct port_ev {
	uint32_t pos;
	uint32_t rule;
	int delta;
};

static int cmp_ev(const void *a, const void *b)
{
	const struct port_ev *x = a, *y = b;

	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int compile_ports(struct cctx *c, int d)
{
	const struct sl_firewall *fw = c->fw;
	int f = d ? SL_F_DPORT : SL_F_SPORT;
	struct fw_dir *dir = &c->t->cfg.dir[d];
	size_t bytes = (size_t)c->W * sizeof(uint64_t);
	uint64_t *wild = calloc(1, bytes), *cur = calloc(1, bytes);
	uint32_t *count = calloc((size_t)c->W * 64, sizeof(*count));
	struct port_ev *ev = NULL;
	size_t nev = 0, k = 0;
	uint16_t *tbl, cl = 0;
	int rc = 0;

	for (size_t r = 0; r < fw->nrules; r++)
		nev += 2 * (d ? fw->rules[r].ndport : fw->rules[r].nsport);
	ev = malloc((nev + 1) * sizeof(*ev));
	if (!ev || !wild || !cur || !count) {
		rc = -ENOMEM;
		goto out;
	}
	nev = 0;
	for (size_t r = 0; r < fw->nrules; r++) {
		const struct sl_rule *rl = &fw->rules[r];
		const struct sl_port_range *v = d ? rl->dport : rl->sport;
		size_t n = d ? rl->ndport : rl->nsport;

		if (!n)
			bm_set(wild, r);
		for (size_t i = 0; i < n; i++) {
			ev[nev++] = (struct port_ev){ v[i].lo, (uint32_t)r, 1 };
			ev[nev++] = (struct port_ev){ (uint32_t)v[i].hi + 1, (uint32_t)r, -1 };
		}
	}
	c->blame = &fw->loc;
	dir->noport_cls = intern(c, f, wild);
	if (!nev) {
		dir->port = SL_MODE_CONST;
		dir->port_cls = dir->noport_cls;
		goto out;
	}
	dir->port = SL_MODE_MAP;
	c->t->port[d] = calloc(SLUICE_PORT_BLOCKS, sizeof(struct fw_blk));
	if (!c->t->port[d]) {
		rc = -ENOMEM;
		goto out;
	}
	qsort(ev, nev, sizeof(*ev), cmp_ev);
	tbl = c->t->port[d]->e;
	memcpy(cur, wild, bytes);
	for (uint32_t p = 0; p < 65536; p++) {
		bool changed = p == 0;

		for (; k < nev && ev[k].pos == p; k++) {
			uint32_t r = ev[k].rule;

			count[r] = (uint32_t)((int)count[r] + ev[k].delta);
			if (count[r])
				cur[r / 64] |= 1ull << (r % 64);
			else
				cur[r / 64] &= ~(1ull << (r % 64));
			c->blame = &fw->rules[r].loc;
			changed = true;
		}
		if (changed)
			cl = intern(c, f, cur);
		tbl[p] = cl;
	}
out:
	free(ev);
	free(wild);
	free(cur);
	free(count);
	return rc;
}

static bool proto_in(uint32_t protos, unsigned int p)
{
	if (!protos)
		return true;
	return ((protos & SL_PROTO_TCP) && p == IPPROTO_TCP) ||
	       ((protos & SL_PROTO_UDP) && p == IPPROTO_UDP) ||
	       ((protos & SL_PROTO_ICMP) && p == IPPROTO_ICMP) ||
	       ((protos & SL_PROTO_ICMPV6) && p == IPPROTO_ICMPV6);
}

/*
 * The class table: the fields' classes one after the other. Small: one
 * 64-byte bitmap per class. Large: a row per class, the summary chunk then
 * the words, so that a packet reads the words only where all five
 * summaries have a bit.
 */
static int layout_classes(struct cctx *c)
{
	struct fw_tables *t = c->t;
	uint32_t total = 0, row;
	bool small;

	for (int f = 0; f < SL_F_MAX; f++) {
		t->cfg.cls_base[f] = total;
		total += c->sp[f].n;
	}
	small = c->fw->nrules <= SLUICE_SMALL_RULES && total <= SLUICE_SMALL_CLASSES;
	row = small ? 1 : 1 + (c->W + SLUICE_BM_WORDS - 1) / SLUICE_BM_WORDS;
	t->cfg.row = small ? 0 : (uint16_t)row;
	t->nclsmap = total * row;
	t->clsmap = calloc(t->nclsmap, sizeof(*t->clsmap));
	if (!t->clsmap)
		return -ENOMEM;
	for (int f = 0; f < SL_F_MAX; f++) {
		for (uint32_t k = 0; k < c->sp[f].n; k++) {
			const uint64_t *b = class_bits(c, f, k);
			__u64 *w = t->clsmap[(t->cfg.cls_base[f] + k) * row].w;

			if (small) {
				memcpy(w, b, (size_t)c->W * sizeof(*b));
				continue;
			}
			for (uint32_t i = 0; i < c->W; i++)
				if (b[i])
					w[i / 64] |= 1ull << (i % 64);
			memcpy(w + SLUICE_BM_WORDS, b, (size_t)c->W * sizeof(*b));
		}
	}
	return 0;
}

static int compile_all(struct cctx *c)
{
	const struct sl_firewall *fw = c->fw;
	struct fw_tables *t = c->t;
	uint64_t *b = calloc(c->W, sizeof(uint64_t)), *wild = calloc(c->W, sizeof(uint64_t));
	int rc = 0;

	if (!b || !wild) {
		rc = -ENOMEM;
		goto out;
	}
	/* class 0 of every field: the empty bitmap */
	for (int f = 0; f < SL_F_MAX; f++)
		intern(c, f, b);
	c->blame = &fw->loc;
	for (unsigned int p = 0; p < 256; p++) {
		memset(b, 0, (size_t)c->W * sizeof(*b));
		for (size_t r = 0; r < fw->nrules; r++) {
			if (proto_in(fw->rules[r].protos, p))
				bm_set(b, r);
		}
		t->cfg.proto_cls[p] = intern(c, SL_F_PROTO, b);
	}
	for (int d = 0; d < 2 && !rc; d++)
		rc = compile_ports(c, d);
	for (int d = 0; d < 2 && !c->err && !rc; d++) {
		uint16_t wild_cls;

		rc = collect_sources(c, d, wild);
		if (rc)
			break;
		c->blame = &fw->loc;
		wild_cls = intern(c, d, wild);
		rc = compile_v4(c, d, wild_cls);
		if (!rc)
			rc = compile_v6(c, d, wild, wild_cls);
	}
	if (!rc && !c->err)
		rc = layout_classes(c);
out:
	free(b);
	free(wild);
	return rc;
}

/*
 * fw_config.src_only: the rules below 32 that name a source and nothing
 * else (the stateless drop path of a blocklist). Such a rule is in every
 * class of the other four fields, checked on the classes themselves too,
 * so when it is the lowest rule of the packet's source class no other
 * field can make an earlier rule match: it is the first match, and the
 * datapath skips the other lookups. Rule 0 of the CLI blocklist has its
 * prefixes outside the tables: never.
 */
static uint32_t src_only_rules(const struct cctx *c)
{
	uint32_t m = 0;

	for (size_t r = c->block ? 1 : 0; r < c->fw->nrules && r < 32; r++) {
		const struct sl_rule *ru = &c->fw->rules[r];
		bool all = ru->nsrc && !ru->ndst && !ru->protos && !ru->nsport && !ru->ndport;

		for (int f = 0; f < SL_F_MAX && all; f++) {
			if (f == SL_F_SRC)
				continue;
			/* class 0 is the empty one: a field of no other class matches nothing */
			all = c->sp[f].n > 1;
			for (uint32_t k = 1; k < c->sp[f].n && all; k++)
				all = c->sp[f].bits[(size_t)k * c->W + r / 64] >> (r % 64) & 1;
		}
		if (all)
			m |= 1u << r;
	}
	return m;
}

int fw_compile(const struct sl_policy *pol, const struct sl_firewall *fw, uint64_t generation,
	       struct fw_tables *t, struct sl_diags *diags)
{
	struct cctx c = { .pol = pol, .fw = fw, .t = t, .diags = diags,
			  .block = sl_fw_has_block(fw) };
	int rc = 0;

	memset(t, 0, sizeof(*t));
	if (fw->nrules > SLUICE_MAX_RULES) {
		sl_diag_add(diags, &fw->rules[SLUICE_MAX_RULES].loc,
			    "too many rules: %zu in section \"%s\"; a policy holds at most %d",
			    fw->nrules, fw->name ? fw->name : "?", SLUICE_MAX_RULES);
		return -E2BIG;
	}
	c.W = fw->nrules ? (uint32_t)(fw->nrules + 63) / 64 : 1;
	c.mmask = 4095;
	c.tmp = malloc((size_t)c.W * sizeof(uint64_t));
	c.mkey = calloc(c.mmask + 1, sizeof(*c.mkey));
	c.mval = calloc(c.mmask + 1, sizeof(*c.mval));
	if (!c.tmp || !c.mkey || !c.mval)
		rc = -ENOMEM;
	for (int f = 0; f < SL_F_MAX && !rc; f++) {
		c.sp[f].hmask = 1023;
		c.sp[f].hslot = calloc(c.sp[f].hmask + 1, sizeof(uint32_t));
		if (!c.sp[f].hslot)
			rc = -ENOMEM;
	}
	if (!rc)
		rc = compile_all(&c);
	if (!rc)
		rc = c.err;
	if (rc)
		goto out;
	t->cfg.generation = generation;
	t->cfg.nrules = (uint32_t)fw->nrules;
	t->cfg.default_action = fw->default_action;
	t->cfg.active = 1;
	t->cfg.block = c.block;
	t->cfg.words = (uint16_t)c.W;
	t->cfg.src_only = src_only_rules(&c);
	if (fw >= pol->fws && fw < pol->fws + pol->nfws)
		t->cfg.section = (uint16_t)(fw - pol->fws);
	for (int f = 0; f < SL_F_MAX; f++) {
		t->ncls[f] = c.sp[f].n;
		t->bits[f] = c.sp[f].bits;
		c.sp[f].bits = NULL;
	}
	t->rule = calloc(SLUICE_RULE_BLOCKS, sizeof(*t->rule));
	if (!t->rule) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t r = 0; r < fw->nrules; r++) {
		if (fw->rules[r].action == SLUICE_ACT_ALLOW)
			t->rule[r / 64].e[r % 64] |= SLUICE_RULE_ALLOW;
		/* the parser refuses early on an allow rule */
		else if (fw->rules[r].early)
			t->rule[r / 64].e[r % 64] |= SLUICE_RULE_EARLY;
		if (fw->rules[r].early)
			t->cfg.early = 1;
	}
	/* after the action bits: it copies the first entries into cfg */
	fw_tables_set_counters(t, NULL, SLUICE_CNT_DEFAULT);
out:
	if (rc == -ENOMEM)
		oom(&c);
	for (int f = 0; f < SL_F_MAX; f++) {
		free(c.sp[f].bits);
		free(c.sp[f].hslot);
	}
	free(c.tmp);
	free(c.mkey);
	free(c.mval);
	free(c.srcs);
	free(c.srcbits);
	free(c.groups);
	if (rc)
		fw_tables_free(t);
	return rc;
}

void fw_tables_set_counters(struct fw_tables *t, const uint32_t *ids, uint32_t def)
{
	for (uint32_t r = 0; r < t->cfg.nrules; r++) {
		uint32_t *e = &t->rule[r / 64].e[r % 64];

		*e = (*e & (SLUICE_RULE_ALLOW | SLUICE_RULE_EARLY)) | (ids ? ids[r] : r);
	}
	/* the first rules' entries, as fw_rule holds them, where the datapath reads them */
	for (uint32_t r = 0; r < SLUICE_CFG_RULES; r++)
		t->cfg.first_rules[r] = r < t->cfg.nrules ? t->rule[0].e[r] : 0;
	t->cfg.cnt_default = def;
}

void fw_tables_free(struct fw_tables *t)
{
	for (int f = 0; f < SL_F_MAX; f++)
		free(t->bits[f]);
	free(t->clsmap);
	for (int d = 0; d < 2; d++) {
		free(t->v4[d].l1);
		free(t->v4[d].flat);
		free(t->v4[d].t8);
		free(t->v4[d].s);
		free(t->v4[d].p1);
		free(t->v4[d].p2);
		free(t->v4[d].lh);
		free(t->v6[d]);
		free(t->port[d]);
	}
	free(t->rule);
	memset(t, 0, sizeof(*t));
}

uint16_t fw_chunk_entry(const struct fw_pfx4 *v, uint32_t e, uint32_t k)
{
	uint32_t i = e & SLUICE_L1_INDEX, kind = e >> SLUICE_L1_KIND_SHIFT & SLUICE_L1_KIND_MASK;

	switch (kind) {
	case SL_CHUNK_IV:
	case SL_CHUNK_IV1: {
		/* no /24 entries: the class of the /24's first address, flagged when it splits */
		const struct fw_iv1 *iv1 = (const struct fw_iv1 *)&v->p1[i];
		const struct fw_iv *iv = (const struct fw_iv *)&v->p2[i];
		const uint16_t *b = kind == SL_CHUNK_IV ? iv->b : iv1->b;
		const uint16_t *cls = kind == SL_CHUNK_IV ? iv->cls : iv1->cls;
		uint32_t n = kind == SL_CHUNK_IV ? iv->n : iv1->n, c = 0, split = 0;

		for (uint32_t j = 0; j < n; j++) {
			c += b[j] >> 8 <= k && !(b[j] >> 8 == k && b[j] & 0xff);
			split |= b[j] >> 8 == k && (b[j] & 0xff);
		}
		return (uint16_t)(cls[c & 1] | (split ? SLUICE_T8_FLAG : 0));
	}
	case SL_CHUNK_HOSTS: {
		const struct fw_hosts *hs = (const struct fw_hosts *)&v->p1[i];
		bool split = false;

		for (uint32_t j = 0; j < SLUICE_HOSTS_MAX; j++)
			split |= hs->h[j] >> 8 == k;
		return (uint16_t)(hs->cls[0] | (split ? SLUICE_T8_FLAG : 0));
	}
	case SL_CHUNK_PFX: {
		const struct fw_pfx16 *px = (const struct fw_pfx16 *)&v->p1[i];
		uint32_t in = 0, split = 0;

		for (uint32_t j = 0; j < SLUICE_PFX_MAX; j++) {
			uint32_t hb = pfx_hb(px, j);

			/* the class of the /24's first address; a prefix past /24 splits it */
			in |= (uint32_t)px->base[j] >> hb == (k << 8) >> hb;
			split |= hb < 8 && px->base[j] >> 8 == k;
		}
		return (uint16_t)(px->cls[in] | (split ? SLUICE_T8_FLAG : 0));
	}
	case SL_CHUNK_SMALL:
		return v->s[i].e[k];
	case SL_CHUNK_P1:
		return v->p1[i].val[(v->p1[i].bits[k >> 6] >> (k & 63)) & 1];
	case SL_CHUNK_P2:
		return v->p2[i].val[(v->p2[i].bits[k >> 5] >> ((k & 31) * 2)) & 3];
	default:
		return v->t8[i].e[k];
	}
}

/* How many of the N bounds B of an interval element are at or below A's low 16 bits. */
static uint32_t iv_bounds_below(const uint16_t *b, uint32_t n, uint32_t a)
{
	uint32_t c = 0;

	for (uint32_t j = 0; j < n; j++)
		c += b[j] <= (a & 0xffff);
	return c;
}

uint32_t fw_tables_class4(const struct fw_tables *t, int d, uint32_t a)
{
	const struct fw_pfx4 *v = &t->v4[d];
	const struct fw_dir *dir = &t->cfg.dir[d];
	uint32_t e, b;
	uint16_t e2;

	if (dir->v4 == SL_MODE_CONST)
		return dir->v4_cls;
	if (dir->v4 == SL_MODE_FLAT) {
		e2 = v->flat[a >> 16].e[(a >> 8) & 0xff];
	} else {
		e = v->l1[a >> 22].e[(a >> 16) & (SLUICE_L1_BLK - 1)];
		if (!(e & SLUICE_L1_FLAG))
			return e;
		if ((e >> SLUICE_L1_KIND_SHIFT & SLUICE_L1_KIND_MASK) == SL_CHUNK_IV) {
			const struct fw_iv *iv = (const struct fw_iv *)&v->p2[e & SLUICE_L1_INDEX];

			return iv->cls[iv_bounds_below(iv->b, iv->n, a) & 1];
		}
		if ((e >> SLUICE_L1_KIND_SHIFT & SLUICE_L1_KIND_MASK) == SL_CHUNK_IV1) {
			const struct fw_iv1 *iv = (const struct fw_iv1 *)&v->p1[e & SLUICE_L1_INDEX];

			return iv->cls[iv_bounds_below(iv->b, iv->n, a) & 1];
		}
		if ((e >> SLUICE_L1_KIND_SHIFT & SLUICE_L1_KIND_MASK) == SL_CHUNK_HOSTS) {
			const struct fw_hosts *hs =
				(const struct fw_hosts *)&v->p1[e & SLUICE_L1_INDEX];

			for (uint32_t j = 0; j < SLUICE_HOSTS_MAX; j++)
				if (hs->h[j] == (a & 0xffff))
					return hs->cls[1];
			return hs->cls[0];
		}
		if ((e >> SLUICE_L1_KIND_SHIFT & SLUICE_L1_KIND_MASK) == SL_CHUNK_PFX) {
			const struct fw_pfx16 *px =
				(const struct fw_pfx16 *)&v->p1[e & SLUICE_L1_INDEX];

			for (uint32_t j = 0; j < SLUICE_PFX_MAX; j++) {
				uint32_t hb = pfx_hb(px, j);

				if ((uint32_t)px->base[j] >> hb == (a & 0xffff) >> hb)
					return px->cls[1];
			}
			return px->cls[0];
		}
		e2 = fw_chunk_entry(v, e, (a >> 8) & 0xff);
	}
	if (!(e2 & SLUICE_T8_FLAG))
		return e2;
	if (!v->nlh)
		return (dir->small ? v->s : v->t8)[e2 & ~SLUICE_T8_FLAG].e[a & 0xff];
	b = sl_lh_home(a >> 8, v->nlh);
	for (int i = 0; i < SLUICE_LH_PROBE; i++) {
		for (int j = 0; j < SLUICE_LH_SLOTS; j++) {
			const struct fw_lh_ent *x = &v->lh[b].e[j];
			uint32_t len = SLUICE_LH_LEN(x->lv);

			if (!len)
				return e2 & ~SLUICE_T8_FLAG;
			if ((a ^ x->net) >> (32 - len))
				continue;
			if (len > 24)
				return SLUICE_LH_VAL(x->lv);
			return v->t8[SLUICE_LH_VAL(x->lv)].e[a & 0xff];
		}
		if (++b >= v->nlh)
			b = 0;
	}
	return e2 & ~SLUICE_T8_FLAG;
}

static uint16_t lookup6(const struct fw_tables *t, int d, const uint8_t *addr)
{
	const struct fw_lpm6_entry *v = t->v6[d];
	int best = -1;
	uint16_t cl = 0;

	if (t->cfg.dir[d].v6 == SL_MODE_CONST)
		return t->cfg.dir[d].v6_cls;
	for (uint32_t i = 0; i < t->n6[d]; i++) {
		struct sl_prefix p = { .family = AF_INET6, .len = (uint8_t)v[i].key.prefixlen };

		memcpy(p.addr, v[i].key.addr, 16);
		if ((int)p.len > best && sl_prefix_contains(&p, AF_INET6, addr)) {
			best = p.len;
			cl = v[i].val.cls;
		}
	}
	return cl;
}

static uint16_t lookup_port(const struct fw_tables *t, int d, uint16_t port)
{
	if (t->cfg.dir[d].port == SL_MODE_CONST)
		return t->cfg.dir[d].port_cls;
	return t->port[d][port / SLUICE_BLK].e[port % SLUICE_BLK];
}

/* The class field F of PKT gets from T's tables, as the datapath finds it. */
static uint32_t field_class(const struct fw_tables *t, const struct sl_pkt *pkt, enum fw_field f)
{
	int d = f == FW_FIELD_DST || f == FW_FIELD_DPORT;
	uint32_t a;

	switch (f) {
	case FW_FIELD_SRC:
	case FW_FIELD_DST:
		if (pkt->family != AF_INET)
			return lookup6(t, d, d ? pkt->dst : pkt->src);
		memcpy(&a, d ? pkt->dst : pkt->src, 4);
		return fw_tables_class4(t, d, ntohl(a));
	case FW_FIELD_PROTO:
		return t->cfg.proto_cls[pkt->proto];
	case FW_FIELD_SPORT:
	case FW_FIELD_DPORT:
		if (!pkt->has_ports)
			return t->cfg.dir[d].noport_cls;
		return lookup_port(t, d, d ? pkt->dport : pkt->sport);
	}
	return 0;
}

int fw_tables_classify(const struct fw_tables *t, const struct sl_pkt *pkt)
{
	const struct fw_config *cfg = &t->cfg;
	uint32_t cls[SL_F_MAX];
	uint32_t row = cfg->row ? cfg->row : 1;

	for (int f = 0; f < SL_F_MAX; f++)
		cls[f] = field_class(t, pkt, (enum fw_field)f);
	/* the words as the class table holds them (small: chunk 0; large: chunks 1..) */
	for (uint32_t i = 0; i < cfg->words; i++) {
		uint64_t w = ~0ull;

		for (int f = 0; f < SL_F_MAX; f++) {
			uint32_t k = (cfg->cls_base[f] + cls[f]) * row + (cfg->row ? 1 : 0) +
				     i / SLUICE_BM_WORDS;

			w &= t->clsmap[k].w[i % SLUICE_BM_WORDS];
		}
		if (w) {
			uint32_t r = i * 64 + (uint32_t)__builtin_ctzll(w);

			return r < cfg->nrules ? (int)r : -1;
		}
	}
	return -1;
}

size_t fw_tables_field_rules(const struct fw_tables *t, const struct sl_pkt *pkt,
			     enum fw_field f, uint32_t *rules, size_t max)
{
	const uint64_t *b = t->bits[f] + (size_t)field_class(t, pkt, f) * t->cfg.words;
	size_t n = 0;

	for (uint32_t i = 0; i < t->cfg.nrules; i++) {
		if (!(b[i / 64] >> (i % 64) & 1))
			continue;
		if (n < max)
			rules[n] = i;
		n++;
	}
	return n;
}

enum sluice_action fw_tables_action(const struct fw_tables *t, int i)
{
	if (i < 0)
		return (enum sluice_action)t->cfg.default_action;
	return t->rule[i / 64].e[i % 64] & SLUICE_RULE_ALLOW ? SLUICE_ACT_ALLOW : SLUICE_ACT_DENY;
}

static uint64_t page_round(uint64_t n)
{
	return (n + 4095) / 4096 * 4096;
}

uint64_t fw_tables_bytes(const struct fw_tables *t)
{
	uint64_t n = page_round(sizeof(struct fw_config));

	n += page_round((uint64_t)(t->cfg.row ? t->nclsmap : SLUICE_SMALL_CLASSES) *
			sizeof(struct fw_bitmap));
	for (int d = 0; d < 2; d++) {
		if (t->v4[d].l1)
			n += page_round(SLUICE_L1_BLOCKS * sizeof(struct fw_l1blk));
		if (t->v4[d].flat)
			n += page_round((uint64_t)SLUICE_FLAT_CHUNKS * sizeof(struct fw_t8));
		if (t->v4[d].s)
			n += page_round((uint64_t)SLUICE_SMALL_CHUNKS * sizeof(struct fw_t8));
		n += page_round((uint64_t)t->v4[d].nt8 * sizeof(struct fw_t8)) +
		     page_round((uint64_t)t->v4[d].np1 * sizeof(struct fw_p1)) +
		     page_round((uint64_t)t->v4[d].np2 * sizeof(struct fw_p2)) +
		     page_round((uint64_t)t->v4[d].nlh * sizeof(struct fw_lh_bkt));
		/* a trie node: the kernel's node header, key and value, slab rounded */
		if (t->v6[d])
			n += (uint64_t)t->n6[d] * 2 * 96;
		if (t->port[d])
			n += page_round(SLUICE_PORT_BLOCKS * sizeof(struct fw_blk));
	}
	return n + page_round(SLUICE_RULE_BLOCKS * sizeof(struct fw_rule_blk));
}
