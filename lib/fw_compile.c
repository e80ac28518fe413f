// SPDX-License-Identifier: GPL-2.0-only
/*
 * Checked policy -> the exact contents of the fw_* maps (bpf/sluice_abi.h).
 *
 * Every rule is one bit. For each field value we need the bitmap of the rules
 * that match it; distinct bitmaps are interned as "classes" (class 0 is the
 * empty bitmap) and the tables hold class ids.
 *
 * IPv4 addresses (DIR-24-8): the table starts filled with the class of the
 * rules that do not name the field. Prefixes are painted in ascending length;
 * painting turns every covered entry's class C into class(C | bits of the
 * prefix's source), memoised on (C, source) so a 1M-prefix set costs one
 * table write per covered entry. Union is order-free, so the ascending order
 * only serves tbl8 groups: a prefix longer than /24 creates the group of its
 * /24, initialised from the tbl24 entry, after every shorter prefix has been
 * painted.
 *
 * IPv6 addresses (LPM trie): the trie returns only the longest match, so each
 * entry carries the union of every prefix that covers it, computed with a
 * stack walk over the prefixes in address order. ::/0 is always present.
 *
 * Ports: a sweep over 0..65535 with range start/end events. Protocols: 256
 * entries. Packets without ports use noport_cls: the rules naming no port.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fw_tables.h"
#include "policy_int.h"
#include "prefix.h"

#define NO_SOURCE	UINT32_MAX

/* Where the prefixes of one painting source come from, and whose bits they carry. */
struct source {
	struct fw_bitmap bm;
	const struct sl_loc *loc;
	const char *what;	/* set name, or NULL for an inline prefix */
};

struct v4ent {
	uint32_t addr;		/* host order */
	uint32_t src;		/* source index */
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

struct cctx {
	const struct sl_policy *pol;
	const struct sl_firewall *fw;	/* the section compiled */
	struct fw_tables *t;
	struct sl_diags *diags;
	uint32_t cls_cap;
	uint32_t *hslot;	/* class id + 1 per slot, 0 empty */
	uint32_t hmask;
	uint64_t *mkey;		/* memo (class << 32 | source) + 1, 0 empty */
	uint16_t *mval;
	uint32_t mmask, mn;
	struct source *srcs;
	uint32_t nsrcs;
	struct group *groups;
	size_t ngroups;
	const struct sl_loc *blame;	/* location named when a limit is hit */
	int err;
};

static uint64_t bm_hash(const struct fw_bitmap *b)
{
	uint64_t h = 0x9e3779b97f4a7c15ull;

	for (int i = 0; i < SLUICE_BM_WORDS; i++) {
		h ^= b->w[i];
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	return h;
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

/* The class of bitmap B, created if new. Returns 0 (the empty class) after an error. */
static uint16_t intern(struct cctx *c, const struct fw_bitmap *b)
{
	struct fw_tables *t = c->t;
	uint32_t i;

	if (c->err)
		return 0;
	for (i = (uint32_t)bm_hash(b) & c->hmask; c->hslot[i]; i = (i + 1) & c->hmask)
		if (!memcmp(&t->cls[c->hslot[i] - 1], b, sizeof(*b)))
			return (uint16_t)(c->hslot[i] - 1);
	if (t->nclasses >= SLUICE_MAX_CLASSES) {
		limit_error(c, "too many distinct rule combinations: more than %d classes; "
			    "use fewer overlapping prefixes or port ranges across rules",
			    SLUICE_MAX_CLASSES);
		return 0;
	}
	if (t->nclasses == c->cls_cap) {
		uint32_t ncap = c->cls_cap * 2;
		struct fw_bitmap *nv = realloc(t->cls, ncap * sizeof(*nv));

		if (!nv) {
			c->err = -ENOMEM;
			sl_diag_add(c->diags, NULL, "out of memory compiling the firewall tables");
			return 0;
		}
		t->cls = nv;
		c->cls_cap = ncap;
	}
	t->cls[t->nclasses] = *b;
	c->hslot[i] = ++t->nclasses;
	return (uint16_t)(t->nclasses - 1);
}

static uint32_t memo_hash(uint64_t key)
{
	return (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 32);
}

/* class(cls[CL] | bits of source S), memoised. */
static uint16_t unite(struct cctx *c, uint16_t cl, uint32_t s)
{
	uint64_t key = ((uint64_t)cl << 32 | s) + 1;
	struct fw_bitmap b;
	uint32_t i;
	uint16_t r;

	for (i = memo_hash(key) & c->mmask; c->mkey[i];
	     i = (i + 1) & c->mmask)
		if (c->mkey[i] == key)
			return c->mval[i];
	b = c->t->cls[cl];
	for (int w = 0; w < SLUICE_BM_WORDS; w++)
		b.w[w] |= c->srcs[s].bm.w[w];
	r = intern(c, &b);
	if (c->err)
		return 0;
	if (2 * (c->mn + 1) > c->mmask + 1) {
		/* Grow the memo table: rehash every key. */
		uint32_t ncap = 2 * (c->mmask + 1), nmask = ncap - 1;
		uint64_t *nk = calloc(ncap, sizeof(*nk));
		uint16_t *nv = calloc(ncap, sizeof(*nv));

		if (!nk || !nv) {
			free(nk);
			free(nv);
			c->err = -ENOMEM;
			sl_diag_add(c->diags, NULL, "out of memory compiling the firewall tables");
			return 0;
		}
		for (uint32_t k = 0; k <= c->mmask; k++) {
			uint32_t j;

			if (!c->mkey[k])
				continue;
			for (j = memo_hash(c->mkey[k]) & nmask;
			     nk[j]; j = (j + 1) & nmask)
				;
			nk[j] = c->mkey[k];
			nv[j] = c->mval[k];
		}
		free(c->mkey);
		free(c->mval);
		c->mkey = nk;
		c->mval = nv;
		c->mmask = nmask;
		for (i = memo_hash(key) & c->mmask; c->mkey[i];
		     i = (i + 1) & c->mmask)
			;
	}
	c->mkey[i] = key;
	c->mval[i] = r;
	c->mn++;
	return r;
}

static void bm_set(struct fw_bitmap *b, size_t bit)
{
	b->w[bit / 64] |= 1ull << (bit % 64);
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

static int cmp_v4(const void *a, const void *b)
{
	const struct v4ent *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->src < y->src ? -1 : x->src > y->src;
}

/*
 * Sources of one direction: one per set referenced in it (the bits of every
 * rule naming the set there) and one per inline prefix (its rule's bit).
 * Returns the bitmap of the rules that do not name the field.
 */
static int collect_sources(struct cctx *c, bool dst, struct fw_bitmap *wild)
{
	const struct sl_policy *pol = c->pol;
	uint32_t *set_src;

	memset(wild, 0, sizeof(*wild));
	/*
	 * The memo is keyed by source index, and each direction numbers its
	 * sources afresh: results of the other direction must not be reused.
	 */
	memset(c->mkey, 0, ((size_t)c->mmask + 1) * sizeof(*c->mkey));
	c->mn = 0;
	free(c->srcs);
	free(c->groups);
	c->srcs = NULL;
	c->groups = NULL;
	c->nsrcs = 0;
	c->ngroups = 0;
	set_src = malloc((pol->nsets + 1) * sizeof(*set_src));
	if (!set_src)
		return -ENOMEM;
	for (size_t i = 0; i < pol->nsets; i++)
		set_src[i] = NO_SOURCE;
	for (size_t r = 0; r < c->fw->nrules; r++) {
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
					bm_set(&c->srcs[set_src[si]].bm, r);
					continue;
				}
				set_src[si] = c->nsrcs;
			}
			if (sl_vec_reserve((void **)&c->srcs, c->nsrcs, sizeof(*c->srcs)) ||
			    sl_vec_reserve((void **)&c->groups, c->ngroups, sizeof(*c->groups))) {
				free(set_src);
				return -ENOMEM;
			}
			s = c->nsrcs++;
			c->groups[c->ngroups++] = v[k].is_set ?
				(struct group){ v[k].set->v, v[k].set->n, s } :
				(struct group){ &v[k].pfx, 1, s };
			memset(&c->srcs[s], 0, sizeof(c->srcs[s]));
			bm_set(&c->srcs[s].bm, r);
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
 * Groups being built for one direction. Up to twice the map's groups may
 * exist while painting; compaction folds the groups whose 256 entries ended
 * up equal (e.g. two /25s of one set) back into their tbl24 entry.
 */
#define T8_WORK_MAX	(2 * SLUICE_T8_GROUPS)

struct t8work {
	struct fw_t8 **t8;
	uint32_t *n, cap;
	uint32_t *owner;	/* tbl24 index of each group */
	uint32_t *creator;	/* source whose prefix created it */
};

static void t8_compact(struct t8work *w, uint16_t *tbl)
{
	uint32_t k = 0;

	for (uint32_t g = 0; g < *w->n; g++) {
		const uint16_t *e = (*w->t8)[g].e;
		int i = 1;

		while (i < 256 && e[i] == e[0])
			i++;
		if (i == 256) {
			tbl[w->owner[g]] = e[0];
			continue;
		}
		if (k != g) {
			(*w->t8)[k] = (*w->t8)[g];
			w->owner[k] = w->owner[g];
			w->creator[k] = w->creator[g];
		}
		tbl[w->owner[k]] = (uint16_t)(SLUICE_T8_FLAG | k);
		k++;
	}
	*w->n = k;
}

static void t8_limit_error(struct cctx *c, struct t8work *w, bool dst)
{
	const struct source *s = &c->srcs[w->creator[SLUICE_T8_GROUPS]];

	c->blame = s->loc;
	limit_error(c, "%s%s%s: prefixes longer than /24 fall in more than %d different /24 "
		    "blocks (tbl8 groups) of %s", s->what ? "set \"" : "inline prefix",
		    s->what ? s->what : "", s->what ? "\"" : "", SLUICE_T8_GROUPS,
		    dst ? "dst" : "src");
}

/* The tbl8 group of the /24 at tbl24 index IDX, created from its entry if needed. */
static int t8_group(struct cctx *c, struct t8work *w, uint16_t *tbl, uint32_t idx,
		    uint32_t src, bool dst)
{
	uint16_t init = tbl[idx];

	if (init & SLUICE_T8_FLAG)
		return init & ~SLUICE_T8_FLAG;
	if (*w->n == T8_WORK_MAX) {
		t8_compact(w, tbl);
		if (*w->n > SLUICE_T8_GROUPS) {
			t8_limit_error(c, w, dst);
			return -E2BIG;
		}
	}
	if (*w->n == w->cap) {
		uint32_t ncap = w->cap ? 2 * w->cap : 64;
		struct fw_t8 *nv = realloc(*w->t8, ncap * sizeof(*nv));
		uint32_t *no = realloc(w->owner, ncap * sizeof(*no));
		uint32_t *nc;

		if (nv)
			*w->t8 = nv;
		if (no)
			w->owner = no;
		nc = realloc(w->creator, ncap * sizeof(*nc));
		if (nc)
			w->creator = nc;
		if (!nv || !no || !nc)
			return -ENOMEM;
		w->cap = ncap;
	}
	for (int k = 0; k < 256; k++)
		(*w->t8)[*w->n].e[k] = init;
	w->owner[*w->n] = idx;
	w->creator[*w->n] = src;
	tbl[idx] = (uint16_t)(SLUICE_T8_FLAG | *w->n);
	return (int)(*w->n)++;
}

static int compile_v4(struct cctx *c, bool dst, uint16_t wild_cls)
{
	struct fw_tables *t = c->t;
	struct fw_blk **tblp = dst ? &t->dst4 : &t->src4;
	struct t8work w = { .t8 = dst ? &t->dst4_t8 : &t->src4_t8,
			    .n = dst ? &t->ndst4_t8 : &t->nsrc4_t8 };
	size_t cnt[33] = { 0 }, off[34] = { 0 }, total = 0;
	struct v4ent *ents = NULL;
	uint16_t *tbl;
	int rc = 0;

	*tblp = calloc(SLUICE_T24_BLOCKS, sizeof(struct fw_blk));
	if (!*tblp)
		return -ENOMEM;
	tbl = (*tblp)->e;
	if (wild_cls)
		fill16(tbl, (size_t)SLUICE_T24_BLOCKS * SLUICE_BLK, wild_cls);

	/* Count per length, then place: a counting sort by prefix length. */
	for (size_t g = 0; g < c->ngroups; g++)
		for (size_t i = 0; i < c->groups[g].n; i++)
			if (c->groups[g].v[i].family == AF_INET) {
				cnt[c->groups[g].v[i].len]++;
				total++;
			}
	ents = malloc((total + 1) * sizeof(*ents));
	if (!ents)
		return -ENOMEM;
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
				ents[pos[p->len]++] = (struct v4ent){ ntohl(a), c->groups[g].src };
			}
		}
	}

	for (int l = 0; l <= 32 && !c->err; l++) {
		struct v4ent *v = ents + off[l];
		size_t n = cnt[l];

		if (n > 1)
			qsort(v, n, sizeof(*v), cmp_v4);
		for (size_t i = 0; i < n && !c->err; i++) {
			uint32_t a = v[i].addr;
			int g;

			if (i && v[i].addr == v[i - 1].addr && v[i].src == v[i - 1].src)
				continue;
			c->blame = c->srcs[v[i].src].loc;
			if (l <= 24) {
				paint(c, tbl + (a >> 8), (size_t)1 << (24 - l), v[i].src);
				continue;
			}
			/*
			 * A long prefix whose bits the /24 already has (a host inside
			 * a listed /24 of the same set) changes nothing: no group.
			 */
			if (!(tbl[a >> 8] & SLUICE_T8_FLAG) &&
			    unite(c, tbl[a >> 8], v[i].src) == tbl[a >> 8])
				continue;
			g = t8_group(c, &w, tbl, a >> 8, v[i].src, dst);
			if (g < 0) {
				rc = g == -E2BIG ? 0 : g;
				goto out;
			}
			paint(c, (*w.t8)[g].e + (a & 255), (size_t)1 << (32 - l), v[i].src);
		}
	}
	if (!c->err) {
		t8_compact(&w, tbl);
		if (*w.n > SLUICE_T8_GROUPS)
			t8_limit_error(c, &w, dst);
	}
out:
	free(w.owner);
	free(w.creator);
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

static int compile_v6(struct cctx *c, bool dst, const struct fw_bitmap *wild)
{
	static const struct sl_prefix any6 = { .family = AF_INET6 };
	struct fw_tables *t = c->t;
	struct fw_lpm6_entry **outp = dst ? &t->dst6 : &t->src6;
	uint32_t *nout = dst ? &t->ndst6 : &t->nsrc6;
	struct v6ent *ents = NULL;
	struct {
		const struct sl_prefix *p;
		struct fw_bitmap acc;
	} stack[129];
	size_t total = 1, n = 0, depth = 0;
	int rc = 0;

	for (size_t g = 0; g < c->ngroups; g++)
		for (size_t i = 0; i < c->groups[g].n; i++)
			total += c->groups[g].v[i].family == AF_INET6;
	ents = malloc(total * sizeof(*ents));
	if (!ents)
		return -ENOMEM;
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
		struct fw_bitmap acc;
		struct fw_lpm6_entry *o;

		/* Each prefix has an ancestor chain on the stack: pop what does not cover it. */
		while (depth && !sl_prefix_covers(stack[depth - 1].p, p))
			depth--;
		acc = depth ? stack[depth - 1].acc : *wild;
		c->blame = ents[i].src == NO_SOURCE ? &c->fw->loc : c->srcs[ents[i].src].loc;
		for (; i < n && ents[i].p->len == p->len && !memcmp(ents[i].p->addr, p->addr, 16);
		     i++) {
			if (ents[i].src == NO_SOURCE)
				continue;
			for (int w = 0; w < SLUICE_BM_WORDS; w++)
				acc.w[w] |= c->srcs[ents[i].src].bm.w[w];
		}
		stack[depth].p = p;
		stack[depth].acc = acc;
		depth++;
		if (*nout >= SLUICE_LPM6_MAX) {
			limit_error(c, "too many IPv6 prefixes: more than %u in %s, ::/0 included",
				    SLUICE_LPM6_MAX, dst ? "dst" : "src");
			break;
		}
		o = &(*outp)[(*nout)++];
		o->key.prefixlen = p->len;
		memcpy(o->key.addr, p->addr, 16);
		o->val.cls = intern(c, &acc);
	}
out:
	free(ents);
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

static int compile_ports(struct cctx *c, bool dst)
{
	const struct sl_firewall *fw = c->fw;
	struct fw_blk **tblp = dst ? &c->t->dport : &c->t->sport;
	struct fw_bitmap wild = { { 0 } }, cur;
	uint32_t count[SLUICE_MAX_RULES] = { 0 };
	struct port_ev *ev = NULL;
	size_t nev = 0, k = 0;
	uint16_t *tbl, cl = 0;

	for (size_t r = 0; r < fw->nrules; r++)
		nev += 2 * (dst ? fw->rules[r].ndport : fw->rules[r].nsport);
	ev = malloc((nev + 1) * sizeof(*ev));
	*tblp = calloc(SLUICE_PORT_BLOCKS, sizeof(struct fw_blk));
	if (!ev || !*tblp) {
		free(ev);
		return -ENOMEM;
	}
	nev = 0;
	for (size_t r = 0; r < fw->nrules; r++) {
		const struct sl_rule *rl = &fw->rules[r];
		const struct sl_port_range *v = dst ? rl->dport : rl->sport;
		size_t n = dst ? rl->ndport : rl->nsport;

		if (!n)
			bm_set(&wild, r);
		for (size_t i = 0; i < n; i++) {
			ev[nev++] = (struct port_ev){ v[i].lo, (uint32_t)r, 1 };
			ev[nev++] = (struct port_ev){ (uint32_t)v[i].hi + 1, (uint32_t)r, -1 };
		}
	}
	qsort(ev, nev, sizeof(*ev), cmp_ev);
	tbl = (*tblp)->e;
	cur = wild;
	c->blame = fw->nrules ? &fw->rules[0].loc : &fw->loc;
	for (uint32_t p = 0; p < 65536; p++) {
		bool changed = p == 0;

		for (; k < nev && ev[k].pos == p; k++) {
			uint32_t r = ev[k].rule;

			count[r] = (uint32_t)((int)count[r] + ev[k].delta);
			if (count[r])
				cur.w[r / 64] |= 1ull << (r % 64);
			else
				cur.w[r / 64] &= ~(1ull << (r % 64));
			c->blame = &fw->rules[r].loc;
			changed = true;
		}
		if (changed)
			cl = intern(c, &cur);
		tbl[p] = cl;
	}
	free(ev);
	return 0;
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

static int compile_all(struct cctx *c)
{
	const struct sl_firewall *fw = c->fw;
	struct fw_tables *t = c->t;
	struct fw_bitmap b, wild;
	int rc;

	for (unsigned int p = 0; p < 256; p++) {
		memset(&b, 0, sizeof(b));
		for (size_t r = 0; r < fw->nrules; r++) {
			if (proto_in(fw->rules[r].protos, p))
				bm_set(&b, r);
		}
		c->blame = &fw->loc;
		t->cfg.proto_cls[p] = intern(c, &b);
	}
	memset(&b, 0, sizeof(b));
	for (size_t r = 0; r < fw->nrules; r++)
		if (!fw->rules[r].nsport && !fw->rules[r].ndport)
			bm_set(&b, r);
	t->cfg.noport_cls = intern(c, &b);
	for (int d = 0; d < 2; d++) {
		rc = compile_ports(c, d);
		if (rc)
			return rc;
	}
	for (int d = 0; d < 2 && !c->err; d++) {
		rc = collect_sources(c, d, &wild);
		if (rc)
			return rc;
		c->blame = &fw->loc;
		rc = compile_v4(c, d, intern(c, &wild));
		if (rc)
			return rc;
		rc = compile_v6(c, d, &wild);
		if (rc)
			return rc;
	}
	return 0;
}

int fw_compile(const struct sl_policy *pol, const struct sl_firewall *fw, uint64_t generation,
	       struct fw_tables *t, struct sl_diags *diags)
{
	struct cctx c = { .pol = pol, .fw = fw, .t = t, .diags = diags };
	static const struct fw_bitmap empty;
	int rc;

	memset(t, 0, sizeof(*t));
	if (fw->nrules > SLUICE_MAX_RULES) {
		sl_diag_add(diags, &fw->rules[SLUICE_MAX_RULES].loc,
			    "too many rules: %zu in section \"%s\"; a section holds at most %d",
			    fw->nrules, fw->name ? fw->name : "?", SLUICE_MAX_RULES);
		return -E2BIG;
	}
	c.cls_cap = 1024;
	c.hmask = 2 * SLUICE_MAX_CLASSES - 1;
	c.mmask = 4095;
	t->cls = malloc(c.cls_cap * sizeof(*t->cls));
	c.hslot = calloc(c.hmask + 1, sizeof(*c.hslot));
	c.mkey = calloc(c.mmask + 1, sizeof(*c.mkey));
	c.mval = calloc(c.mmask + 1, sizeof(*c.mval));
	if (!t->cls || !c.hslot || !c.mkey || !c.mval) {
		rc = -ENOMEM;
		goto out;
	}
	intern(&c, &empty);	/* class 0 */
	rc = compile_all(&c);
	if (!rc)
		rc = c.err;
	if (rc)
		goto out;
	t->cfg.generation = generation;
	t->cfg.nrules = (uint32_t)fw->nrules;
	t->cfg.default_action = fw->default_action;
	t->cfg.active = 1;
	for (size_t r = 0; r < fw->nrules; r++)
		if (fw->rules[r].action == SLUICE_ACT_ALLOW)
			t->cfg.allow[r / 64] |= 1ull << (r % 64);
out:
	if (rc == -ENOMEM && !c.err)
		sl_diag_add(diags, NULL, "out of memory compiling the firewall tables");
	free(c.hslot);
	free(c.mkey);
	free(c.mval);
	free(c.srcs);
	free(c.groups);
	if (rc)
		fw_tables_free(t);
	return rc;
}

void fw_tables_free(struct fw_tables *t)
{
	free(t->cls);
	free(t->src4);
	free(t->dst4);
	free(t->src4_t8);
	free(t->dst4_t8);
	free(t->src6);
	free(t->dst6);
	free(t->sport);
	free(t->dport);
	memset(t, 0, sizeof(*t));
}

static uint16_t lookup4(const struct fw_blk *tbl, const struct fw_t8 *t8, const uint8_t *addr)
{
	uint32_t a;
	uint16_t e;

	memcpy(&a, addr, 4);
	a = ntohl(a);
	e = tbl[a >> 14].e[(a >> 8) & (SLUICE_BLK - 1)];
	if (e & SLUICE_T8_FLAG)
		e = t8[e & ~SLUICE_T8_FLAG].e[a & 255];
	return e;
}

static uint16_t lookup6(const struct fw_lpm6_entry *v, uint32_t n, const uint8_t *addr)
{
	int best = -1;
	uint16_t cl = 0;

	for (uint32_t i = 0; i < n; i++) {
		struct sl_prefix p = { .family = AF_INET6, .len = (uint8_t)v[i].key.prefixlen };

		memcpy(p.addr, v[i].key.addr, 16);
		if ((int)p.len > best && sl_prefix_contains(&p, AF_INET6, addr)) {
			best = p.len;
			cl = v[i].val.cls;
		}
	}
	return cl;
}

/* The class field F of PKT gets from T's tables. */
static uint16_t field_class(const struct fw_tables *t, const struct sl_pkt *pkt, enum fw_field f)
{
	bool v4 = pkt->family == AF_INET;

	switch (f) {
	case FW_FIELD_SRC:
		return v4 ? lookup4(t->src4, t->src4_t8, pkt->src) : lookup6(t->src6, t->nsrc6, pkt->src);
	case FW_FIELD_DST:
		return v4 ? lookup4(t->dst4, t->dst4_t8, pkt->dst) : lookup6(t->dst6, t->ndst6, pkt->dst);
	case FW_FIELD_PROTO:
		return t->cfg.proto_cls[pkt->proto];
	case FW_FIELD_SPORT:
		if (!pkt->has_ports)
			return t->cfg.noport_cls;
		return t->sport[pkt->sport / SLUICE_BLK].e[pkt->sport % SLUICE_BLK];
	case FW_FIELD_DPORT:
		if (!pkt->has_ports)
			return t->cfg.noport_cls;
		return t->dport[pkt->dport / SLUICE_BLK].e[pkt->dport % SLUICE_BLK];
	}
	return 0;
}

int fw_tables_classify(const struct fw_tables *t, const struct sl_pkt *pkt)
{
	uint16_t c[FW_NFIELDS];
	uint64_t w;

	for (int f = 0; f < FW_NFIELDS; f++)
		c[f] = field_class(t, pkt, (enum fw_field)f);
	for (int i = 0; i < SLUICE_BM_WORDS; i++) {
		w = t->cls[c[0]].w[i] & t->cls[c[1]].w[i] & t->cls[c[2]].w[i] & t->cls[c[3]].w[i] &
		    t->cls[c[4]].w[i];
		if (w)
			return i * 64 + __builtin_ctzll(w);
	}
	return -1;
}

size_t fw_tables_field_rules(const struct fw_tables *t, const struct sl_pkt *pkt,
			     enum fw_field f, uint32_t *rules, size_t max)
{
	const struct fw_bitmap *b = &t->cls[field_class(t, pkt, f)];
	size_t n = 0;

	for (uint32_t i = 0; i < t->cfg.nrules; i++) {
		if (!(b->w[i / 64] >> (i % 64) & 1))
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
	return t->cfg.allow[i / 64] >> (i % 64) & 1 ? SLUICE_ACT_ALLOW : SLUICE_ACT_DENY;
}
