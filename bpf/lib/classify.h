/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Linear Bit Vector Search over the fw_* tables of one policy slot (inner
 * maps of the fwp_* outer arrays, see maps.h and sluice_abi.h): one lookup
 * per field gives a class, each class a bitmap of rules; the lowest bit set
 * in all five is the first matching rule.
 *
 * Cost, whatever the number of prefixes: IPv4 one array read per address
 * (a /16 entry), a second for a /16 split by longer prefixes (its chunk,
 * or its hosts, prefixes or intervals: the answer), a hash bucket (one
 * cache line, rarely two) for a /24 split by prefixes past /24 in a /16 of
 * more than two classes, and a group for the few /24s with many of them;
 * IPv6 one LPM trie lookup. A field no rule names costs nothing (its class
 * is in fw_config). When the first rule of the source's class names a
 * source and nothing else (fw_config.src_only: a blocklist's deny), it is
 * the answer: the other fields are not looked up (sl_src_decides).
 * Then the bitmaps: up to 512 rules, one 64-byte bitmap per field and an
 * AND of fw_config.words words; more rules, a 256-bit summary per field
 * first (one bit per 64-rule word), and only the words set in all five
 * summaries are read: sub-linear in the number of rules.
 */
#ifndef SLUICE_BPF_CLASSIFY_H
#define SLUICE_BPF_CLASSIFY_H

#include <bpf/bpf_endian.h>

#include "maps.h"
#include "parse.h"

#define SL_NO_MATCH	(-1)
#define SL_CLS_ERROR	(-2)

/*
 * Index of the lowest set bit of a non-zero word (clang 14 has no BPF ctz):
 * the population count of the bits below it, without a branch, so that the
 * verifier follows one path, not one per outcome.
 */
static __always_inline __u32 sl_ctz64(__u64 w)
{
	__u64 v = (w & -w) - 1;

	v = v - ((v >> 1) & 0x5555555555555555ull);
	v = (v & 0x3333333333333333ull) + ((v >> 2) & 0x3333333333333333ull);
	v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (__u32)((v * 0x0101010101010101ull) >> 56) & 63;
}

/* The inner map of table OUTER for SLOT (NULL: the slot went away under the packet). */
static __always_inline void *sl_slot_tbl(void *outer, __u32 slot)
{
	return bpf_map_lookup_elem(outer, &slot);
}

/*
 * A /24 whose entry is flagged: its entries in the hash LH (BKTS buckets)
 * are clustered from its home bucket, longest first, each carrying the
 * class of every prefix that covers it, so the first one that covers ADDR
 * is the answer; an empty slot ends the cluster. BASE is the /24's own
 * class. An entry of length 24 names the /24's group in T8.
 */
static __always_inline int sl_lh_scan(void *lh, void *t8, __u32 bkts, __u32 addr, __u32 base)
{
	__u32 b = sl_lh_home(addr >> 8, bkts);

	if (!bkts) {
		/* no hash: BASE names the /24's group */
		struct fw_t8 *g = t8 ? bpf_map_lookup_elem(t8, &base) : NULL;

		return g ? g->e[addr & 0xff] : SL_CLS_ERROR;
	}
	for (int i = 0; i < SLUICE_LH_PROBE; i++) {
		struct fw_lh_bkt *k = bpf_map_lookup_elem(lh, &b);

		if (!k)
			return SL_CLS_ERROR;
#pragma unroll
		for (int j = 0; j < SLUICE_LH_SLOTS; j++) {
			__u32 lv = k->e[j].lv, len = SLUICE_LH_LEN(lv);
			struct fw_t8 *g;
			__u32 key;

			if (!len)
				return base;
			/* lengths are 24..32: the shift is 0..8 */
			if ((addr ^ k->e[j].net) >> ((32 - len) & 31))
				continue;
			if (len > 24)
				return SLUICE_LH_VAL(lv);
			key = SLUICE_LH_VAL(lv);
			g = t8 ? bpf_map_lookup_elem(t8, &key) : NULL;
			return g ? g->e[addr & 0xff] : SL_CLS_ERROR;
		}
		if (++b >= bkts)
			b = 0;
	}
	return base;
}

/*
 * The hash scan of each direction (BKTS 0: no hash, BASE names the /24's
 * group) as a global function: the verifier checks it once, and its caller
 * sees one unknown result instead of one path per slot it may stop at
 * (inlined twice, the paths multiply past its limit).
 */
__noinline int sl_lh_src(__u32 slot, __u32 bkts, __u32 addr, __u32 base)
{
	void *lh = sl_slot_tbl(&fwp_src4_lh, slot);

	/* fw_src4_t8 (groups) may be absent: a flat table with no group; no hash: none */
	return lh || !bkts ? sl_lh_scan(lh, sl_slot_tbl(&fwp_src4_t8, slot), bkts, addr, base) :
			     SL_CLS_ERROR;
}

__noinline int sl_lh_dst(__u32 slot, __u32 bkts, __u32 addr, __u32 base)
{
	void *lh = sl_slot_tbl(&fwp_dst4_lh, slot);

	return lh || !bkts ? sl_lh_scan(lh, sl_slot_tbl(&fwp_dst4_t8, slot), bkts, addr, base) :
			     SL_CLS_ERROR;
}

/*
 * The class of IPv4 address ADDR (host order) in direction DIR of SLOT:
 * the /16 entry of L1, its chunk in T8 (flat: the /16's chunk in fw_*4_24),
 * the hash for a /24 with longer prefixes. SL_CLS_ERROR when a table is
 * missing.
 */
/* The outer arrays of one direction's IPv4 tables. */
struct sl_v4maps {
	void *l1, *t8, *p1, *p2, *s, *flat;
};

/*
 * The /24's entry E for ADDR: a class; or for longer prefixes, the /24's
 * group in T8 (few such /24s) or the hash.
 */
static __always_inline __s32 sl_entry24_class(const struct fw_dir *dir, __u16 e,
					      const struct sl_v4maps *o, bool is_dst, __u32 slot,
					      __u32 addr)
{
	struct fw_t8 *g;
	__u32 key;
	void *t8;

	if (!(e & SLUICE_T8_FLAG))
		return e;
	if (dir->small) {
		/* few: every group in the fixed table, the lookup inlined */
		key = e & ~SLUICE_T8_FLAG;
		t8 = sl_slot_tbl(o->s, slot);
		g = t8 ? bpf_map_lookup_elem(t8, &key) : NULL;
		return g ? g->e[addr & 0xff] : SL_CLS_ERROR;
	}
	/*
	 * The groups of fw_*4_t8 (named by the entry, or through the hash) in
	 * calls of their own: a lookup of fw_*4_s and one of fw_*4_t8 inlined
	 * side by side are merged by the compiler into one call site that two
	 * maps reach, a generic helper call (see sl_chunk_entry).
	 */
	if (is_dst)
		return sl_lh_dst(slot, dir->lh_bkts, addr, e & ~SLUICE_T8_FLAG);
	return sl_lh_src(slot, dir->lh_bkts, addr, e & ~SLUICE_T8_FLAG);
}

/*
 * The /24 entry of ADDR from its /16's chunk: full (fw_*4_t8), or packed in
 * one or two bits per /24 (fw_*4_p1, _p2: a cache line or two where the
 * full chunk takes eight, what keeps a large set's tables in the caches).
 * Each table is looked up from a call site of its own: the verifier inlines
 * a fixed-size array's lookup, and calls a sized one's directly, only when
 * one map (template) reaches the call; two would make it a generic helper
 * call through a function pointer (a retpoline here: ~15 ns).
 */
static __always_inline int sl_chunk_entry(const struct sl_v4maps *o, __u32 slot, __u32 e,
					  __u32 addr)
{
	__u32 key = e & SLUICE_L1_INDEX, k = (addr >> 8) & 0xff;
	struct fw_t8 *full;
	struct fw_p1 *p1;
	struct fw_p2 *p2;
	void *tbl;

	switch (e >> SLUICE_L1_KIND_SHIFT & SLUICE_L1_KIND_MASK) {
	case SL_CHUNK_SMALL:
		tbl = sl_slot_tbl(o->s, slot);
		full = tbl ? bpf_map_lookup_elem(tbl, &key) : NULL;
		return full ? full->e[k] : SL_CLS_ERROR;
	case SL_CHUNK_P1:
		tbl = sl_slot_tbl(o->p1, slot);
		p1 = tbl ? bpf_map_lookup_elem(tbl, &key) : NULL;
		if (!p1)
			return SL_CLS_ERROR;
		return p1->val[(p1->bits[k >> 6] >> (k & 63)) & 1];
	case SL_CHUNK_P2:
		tbl = sl_slot_tbl(o->p2, slot);
		p2 = tbl ? bpf_map_lookup_elem(tbl, &key) : NULL;
		if (!p2)
			return SL_CLS_ERROR;
		return p2->val[(p2->bits[k >> 5] >> ((k & 31) * 2)) & 3];
	default:
		tbl = sl_slot_tbl(o->t8, slot);
		full = tbl ? bpf_map_lookup_elem(tbl, &key) : NULL;
		return full ? full->e[k] : SL_CLS_ERROR;
	}
}

/*
 * The class of ADDR in the intervals of its /16 (SL_CHUNK_IV: element KEY
 * of fw_*4_p2, 64 slots; SL_CHUNK_IV1: of fw_*4_p1, 32): the number of
 * boundaries at or below its low bits, by a binary search without branches
 * (one verifier path; a 128-byte element's two cache lines are asked for
 * at once: n in the second, the first probe in the first).
 */
static __always_inline __s32 sl_iv_search(const __u16 *w, __u32 slots, __u32 n, __u32 addr)
{
	__u32 lo = addr & 0xffff, pos = 0, m, ok;

#pragma unroll
	for (__u32 half = 32; half; half >>= 1) {
		if (half >= slots)
			continue;
		m = (pos + half - 1) & (slots - 1);
		/* b[m] <= lo and m < n, as bits: both differences' signs */
		ok = (((lo - w[m]) >> 31) ^ 1) & ((m - n) >> 31);
		pos += half & -ok;
	}
	return pos & 1;
}

static __always_inline __s32 sl_iv_class(const struct sl_v4maps *o, __u32 slot, __u32 key,
					 __u32 addr)
{
	struct fw_iv *w;
	void *tbl;

	tbl = sl_slot_tbl(o->p2, slot);
	w = tbl ? bpf_map_lookup_elem(tbl, &key) : NULL;
	if (!w)
		return SL_CLS_ERROR;
	return w->cls[sl_iv_search(w->b, 64, w->n, addr)];
}

static __always_inline __s32 sl_iv1_class(const struct sl_v4maps *o, __u32 slot, __u32 key,
					  __u32 addr)
{
	struct fw_iv1 *w;
	void *tbl;

	tbl = sl_slot_tbl(o->p1, slot);
	w = tbl ? bpf_map_lookup_elem(tbl, &key) : NULL;
	if (!w)
		return SL_CLS_ERROR;
	return w->cls[sl_iv_search(w->b, 32, w->n, addr)];
}

/*
 * Hosts and prefixes of a /16 element are read SL_GRP at a time without a
 * branch; the next SL_GRP only when none of these held the address and the
 * element has more (its entries past the last repeat it: a repeat ends it).
 * A feed's /16 holds a few: one group and one branch, always the same way
 * (a walk that stopped at the address paid a mispredicted branch a packet
 * live), where comparing all 24 or 30 at once was ~260 instructions, most
 * of a listed source's classification (docs/datapath.md, "Where the live
 * time goes"). One loop over the groups, an inner one over a group's
 * entries: a single loop with its break at every SL_GRP-th entry has both
 * exits merged into one by clang 16 and 19, which then knows only a bound
 * on its trips (23, above the 8 it unrolls by a bound) and leaves it rolled
 * (-Wpass-failed); clang 14 emits the same code for either form.
 */
#define SL_GRP	4

/* Stop after entry J of X[N]: a hit, or entry J + 1 repeats entry J. */
#define SL_GRP_END(x, j, n, hit)						\
	((j) % SL_GRP == SL_GRP - 1 && (j) + 1 < (n) &&				\
	 ((hit) | ((((__u32)((x)[(j) + 1] ^ (x)[j])) - 1) >> 31)))

/*
 * The class of ADDR in the single addresses of its /16 (SL_CHUNK_HOSTS,
 * element KEY of fw_*4_p1): one cache line, read SL_GRP at a time.
 */
static __always_inline __s32 sl_hosts_class(const struct sl_v4maps *o, __u32 slot, __u32 key,
					    __u32 addr)
{
	__u32 lo = addr & 0xffff, hit = 0;
	struct fw_hosts *w;
	void *tbl;

	tbl = sl_slot_tbl(o->p1, slot);
	w = tbl ? bpf_map_lookup_elem(tbl, &key) : NULL;
	if (!w)
		return SL_CLS_ERROR;
#pragma unroll
	for (int g = 0; g < SLUICE_HOSTS_MAX; g += SL_GRP) {
#pragma unroll
		for (int j = g; j < g + SL_GRP; j++) {
			if (j < SLUICE_HOSTS_MAX) {
				hit |= ((__u32)(w->h[j] ^ lo) - 1) >> 31;
				asm volatile("" : "+r"(hit));
			}
		}
		if (SL_GRP_END(w->h, g + SL_GRP - 1, SLUICE_HOSTS_MAX, hit))
			break;
	}
	return w->cls[hit & 1];
}

/*
 * The class of ADDR in the prefixes of its /16 (SL_CHUNK_PFX, element KEY
 * of fw_*4_p1): one cache line, read SL_GRP at a time (no chain of
 * dependent reads as in a search).
 */
static __always_inline __s32 sl_pfx_class(const struct sl_v4maps *o, __u32 slot, __u32 key,
					  __u32 addr)
{
	__u32 lo = addr & 0xffff, hit = 0;
	struct fw_pfx16 *w;
	void *tbl;

	tbl = sl_slot_tbl(o->p1, slot);
	w = tbl ? bpf_map_lookup_elem(tbl, &key) : NULL;
	if (!w)
		return SL_CLS_ERROR;
#pragma unroll
	for (int g = 0; g < SLUICE_PFX_MAX; g += SL_GRP) {
#pragma unroll
		for (int j = g; j < g + SL_GRP; j++) {
			__u32 hb = (w->hb[j / 8] >> (j % 8 * 4)) & 15;

			/* lo in prefix j: no bit above its host bits differs */
			hit |= ((((__u32)w->base[j] ^ lo) >> hb) - 1) >> 31;
			/*
			 * one prefix at a time: left alone, clang computes all
			 * 24 shifts first and spills them, 112 bytes of stack
			 * in the frame this is inlined into
			 */
			asm volatile("" : "+r"(hit));
		}
		if (SL_GRP_END(w->base, g + SL_GRP - 1, SLUICE_PFX_MAX, hit))
			break;
	}
	return w->cls[hit & 1];
}

/* The tables of direction D (src, dst); a constant the compiler folds into the lookups. */
#define SL_V4MAPS(d) ((const struct sl_v4maps){ &fwp_##d##4_v3, &fwp_##d##4_t8, &fwp_##d##4_p1, \
						&fwp_##d##4_p2, &fwp_##d##4_s,	\
						&fwp_##d##4_24 })

/*
 * The class of ADDR from the element of its /16 (/16 entry E: hosts,
 * prefixes or intervals) in one direction. Inlined: as a global function
 * (one per direction) it cost a call and return on every packet whose
 * address falls in such a /16 (~7 ns here, docs/datapath.md "Calls per
 * path"), for a load ~0.4 s shorter; its stack is kept small (sl_pfx_class)
 * so that the firewall's frame stays within the chain's 512 bytes.
 */
static __always_inline __s32 sl_elem_class(const struct sl_v4maps *o, __u32 slot, __u32 e,
					   __u32 addr)
{
	switch (e >> SLUICE_L1_KIND_SHIFT & SLUICE_L1_KIND_MASK) {
	case SL_CHUNK_IV:
		return sl_iv_class(o, slot, e & SLUICE_L1_INDEX, addr);
	case SL_CHUNK_HOSTS:
		return sl_hosts_class(o, slot, e & SLUICE_L1_INDEX, addr);
	case SL_CHUNK_PFX:
		return sl_pfx_class(o, slot, e & SLUICE_L1_INDEX, addr);
	default:
		return sl_iv1_class(o, slot, e & SLUICE_L1_INDEX, addr);
	}
}

static __always_inline __s32 sl_lookup4(const struct fw_dir *dir, const struct sl_v4maps *o,
					bool is_dst, __u32 slot, __u32 addr)
{
	struct fw_l1blk *blk;
	struct fw_t8 *chunk;
	void *tbl;
	__u32 key, e;
	int e24;

	if (dir->v4 == SL_MODE_CONST)
		return dir->v4_cls;
	if (dir->v4 == SL_MODE_FLAT) {
		/* DIR-24: the /16's chunk at its own index, one access */
		tbl = sl_slot_tbl(o->flat, slot);
		if (!tbl)
			return SL_CLS_ERROR;
		key = addr >> 16;
		chunk = bpf_map_lookup_elem(tbl, &key);
		if (!chunk)
			return SL_CLS_ERROR;
		return sl_entry24_class(dir, chunk->e[(addr >> 8) & 0xff], o, is_dst, slot, addr);
	}
	tbl = sl_slot_tbl(o->l1, slot);
	if (!tbl)
		return SL_CLS_ERROR;
	key = addr >> 22;
	blk = bpf_map_lookup_elem(tbl, &key);
	if (!blk)
		return SL_CLS_ERROR;
	e = blk->e[(addr >> 16) & (SLUICE_L1_BLK - 1)];
	if (!(e & SLUICE_L1_FLAG))
		return e;
	if ((e >> SLUICE_L1_KIND_SHIFT & SLUICE_L1_KIND_MASK) >= SL_CHUNK_IV)
		return sl_elem_class(o, slot, e, addr);
	e24 = sl_chunk_entry(o, slot, e & ~SLUICE_L1_FLAG, addr);
	if (e24 < 0)
		return SL_CLS_ERROR;
	return sl_entry24_class(dir, e24, o, is_dst, slot, addr);
}

static __always_inline __s32 sl_lookup6(const struct fw_dir *dir, void *o_trie, __u32 slot,
					const __u8 *addr)
{
	struct fw_lpm6_key key = { .prefixlen = 128 };
	struct fw_lpm6_val *v;
	void *trie;

	if (dir->v6 == SL_MODE_CONST)
		return dir->v6_cls;
	trie = sl_slot_tbl(o_trie, slot);
	if (!trie)
		return SL_CLS_ERROR;
	__builtin_memcpy(key.addr, addr, 16);
	v = bpf_map_lookup_elem(trie, &key);
	/* ::/0 is always in the trie; a miss means no prefix matches. */
	return v ? v->cls : SLUICE_CLS_NONE;
}

static __always_inline __s32 sl_lookup_port(const struct fw_dir *dir, void *o_tbl, __u32 slot,
					    __u16 port)
{
	struct fw_blk *blk;
	void *tbl;
	__u32 key;

	if (dir->port == SL_MODE_CONST)
		return dir->port_cls;
	tbl = sl_slot_tbl(o_tbl, slot);
	if (!tbl)
		return SL_CLS_ERROR;
	key = port / SLUICE_BLK;
	blk = bpf_map_lookup_elem(tbl, &key);
	return blk ? blk->e[port & (SLUICE_BLK - 1)] : SL_CLS_ERROR;
}


/* The class of the packet's source address (the CLI blocklist looks only at it). */
static __always_inline __s32 sl_class_src(const struct fw_config *cfg, const struct sl_meta *m,
					  __u32 slot)
{
	if (m->family == 4)
		return sl_lookup4(&cfg->dir[0], &SL_V4MAPS(src), false, slot, m->src4);
	return sl_lookup6(&cfg->dir[0], &fwp_src6, slot, m->src6);
}

/* First rule set in all five 512-bit bitmaps of fw_cls at IDX (small policies). */
static __always_inline int sl_match_small(const struct fw_config *cfg, void *cls,
					  const __u32 *idx)
{
	struct fw_bitmap *bm[SL_F_MAX];
	__u32 nrules = cfg->nrules;

#pragma unroll
	for (int f = 0; f < SL_F_MAX; f++) {
		__u32 key = idx[f];

		bm[f] = bpf_map_lookup_elem(cls, &key);
		if (!bm[f])
			return SL_CLS_ERROR;
	}
#pragma unroll
	for (int i = 0; i < SLUICE_BM_WORDS; i++) {
		__u64 w;

		if (i * 64 >= nrules)
			break;
		w = bm[0]->w[i] & bm[1]->w[i] & bm[2]->w[i] & bm[3]->w[i] & bm[4]->w[i];
		if (w) {
			__u32 rule = i * 64 + sl_ctz64(w);

			return rule < nrules ? (int)rule : SL_NO_MATCH;
		}
	}
	return SL_NO_MATCH;
}

/* The state of sl_match_big's walk over candidate words (bpf_loop callback). */
struct sl_big_walk {
	__u64 cand[SLUICE_SUM_WORDS];	/* words set in all five summaries, not yet read */
	__u32 base[SL_F_MAX];		/* each class's first chunk in fw_clsb */
	__u32 slot;
	__u32 nrules;
	int rule;			/* the answer */
};

/*
 * One candidate word: the lowest one left; AND it across the five classes.
 * 1 (stop) when the walk has its answer in W->rule. Inlined for the first
 * word (sl_match_big), the bpf_loop callback for the others.
 */
static __always_inline long sl_big_step(__u32 n, void *ctx)
{
	struct sl_big_walk *w = ctx;
	__u64 x = ~0ull;
	__u32 word = 0;
	void *clsb;
	int i;

	(void)n;
	for (i = 0; i < SLUICE_SUM_WORDS; i++)
		if (w->cand[i])
			break;
	if (i >= SLUICE_SUM_WORDS) {
		w->rule = SL_NO_MATCH;
		return 1;
	}
	word = i * 64 + sl_ctz64(w->cand[i]);
	w->cand[i] &= w->cand[i] - 1;
	clsb = sl_slot_tbl(&fwp_clsb, w->slot);
	if (!clsb) {
		w->rule = SL_CLS_ERROR;
		return 1;
	}
	/*
	 * The fields that usually tell rules apart first (source, destination
	 * port, destination): once the AND is empty the rest is not read.
	 */
#pragma unroll
	for (int i = 0; i < SL_F_MAX; i++) {
		int f = i == 0 ? SL_F_SRC : i == 1 ? SL_F_DPORT : i == 2 ? SL_F_DST :
			i == 3 ? SL_F_SPORT : SL_F_PROTO;
		__u32 key = w->base[f] + 1 + word / SLUICE_BM_WORDS;
		struct fw_bitmap *b = bpf_map_lookup_elem(clsb, &key);

		if (!b) {
			w->rule = SL_CLS_ERROR;
			return 1;
		}
		x &= b->w[word & (SLUICE_BM_WORDS - 1)];
		if (!x)
			return 0;
	}
	word = word * 64 + sl_ctz64(x);
	w->rule = word < w->nrules ? (int)word : SL_NO_MATCH;
	return 1;
}

/*
 * First rule set in all five classes of fw_clsb at IDX (large policies):
 * the summaries (chunk 0 of each class row) ANDed give the words where
 * every field has a rule; those words are ANDed in ascending order until
 * one leaves a bit. A word set in the five summaries with an empty AND
 * costs five chunk reads; the policy decides how many there are. The walk
 * is a bpf_loop: the verifier checks one step, not 256. A call of its own,
 * so that its state is not on the stack of the whole firewall (512 bytes
 * for the calls in a chain, conntrack's included).
 */
static __noinline int sl_match_big(const struct fw_config *cfg, void *clsb, const __u32 *idx,
				   __u32 slot)
{
	struct fw_bitmap *sum[SL_F_MAX];
	struct sl_big_walk w = { .slot = slot, .nrules = cfg->nrules, .rule = SL_NO_MATCH };
	__u32 row = cfg->row;

#pragma unroll
	for (int f = 0; f < SL_F_MAX; f++) {
		w.base[f] = idx[f] * row;
		sum[f] = bpf_map_lookup_elem(clsb, &w.base[f]);
		if (!sum[f])
			return SL_CLS_ERROR;
	}
#pragma unroll
	for (int i = 0; i < SLUICE_SUM_WORDS; i++)
		w.cand[i] = sum[0]->w[i] & sum[1]->w[i] & sum[2]->w[i] & sum[3]->w[i] &
			    sum[4]->w[i];
	/*
	 * The first candidate word here: most packets' answer is in it (their
	 * rule, or no candidate at all), and a bpf_loop step is a call (~7 ns
	 * a call and return on this machine, docs/datapath.md)
	 */
	if (sl_big_step(0, &w))
		return w.rule;
	bpf_loop(SLUICE_WORDS_MAX - 1, sl_big_step, &w, 0);
	return w.rule;
}

/*
 * The first rule when the source alone decides it: the lowest rule of
 * source class index IDX (small policies: fw_cls) when it is one of
 * cfg->src_only (names a source and nothing else, so every other field
 * matches it); else SL_NO_MATCH, and the other fields decide. A blocklist
 * rule's drop then costs one bitmap word, not four more lookups and five
 * bitmaps.
 */
static __always_inline int sl_src_decides(const struct fw_config *cfg, __u32 *idx, __u32 slot)
{
	struct fw_bitmap *bm;
	__u64 low;
	void *tbl;

	if (!cfg->src_only || cfg->row)
		return SL_NO_MATCH;
	tbl = sl_slot_tbl(&fwp_cls, slot);
	bm = tbl ? bpf_map_lookup_elem(tbl, idx) : NULL;
	if (!bm)
		return SL_NO_MATCH;
	/* the class's lowest rule is in word 0 when word 0 has one */
	low = bm->w[0] & -bm->w[0];
	if (!(low & cfg->src_only))
		return SL_NO_MATCH;
	return sl_ctz64(low);
}

/*
 * The first rule of CFG that matches M, with the tables of policy slot
 * SLOT: its index, SL_NO_MATCH when none does, SL_CLS_ERROR when a table is
 * missing (a slot is complete before any interface points at it, so this
 * means a slot freed under a packet: the packet is dropped, not passed).
 */
static __always_inline int sl_classify(const struct fw_config *cfg, const struct sl_meta *m,
				       __u32 slot)
{
	__s32 cls[SL_F_MAX];
	__u32 idx[SL_F_MAX];
	void *tbl;

	int rule;

	cls[SL_F_SRC] = sl_class_src(cfg, m, slot);
	if (cls[SL_F_SRC] < 0)
		return SL_CLS_ERROR;
	if (cls[SL_F_SRC] == SLUICE_CLS_NONE)
		return SL_NO_MATCH;
	/* kept where the bitmaps' lookups read it: not one more spill across the others */
	idx[SL_F_SRC] = cfg->cls_base[SL_F_SRC] + cls[SL_F_SRC];
	rule = sl_src_decides(cfg, &idx[SL_F_SRC], slot);
	if (rule >= 0)
		return rule;
	if (m->family == 4)
		cls[SL_F_DST] = sl_lookup4(&cfg->dir[1], &SL_V4MAPS(dst), true, slot, m->dst4);
	else
		cls[SL_F_DST] = sl_lookup6(&cfg->dir[1], &fwp_dst6, slot, m->dst6);
	cls[SL_F_PROTO] = cfg->proto_cls[m->proto];
	if (m->has_ports) {
		cls[SL_F_SPORT] = sl_lookup_port(&cfg->dir[0], &fwp_sport, slot, m->sport);
		cls[SL_F_DPORT] = sl_lookup_port(&cfg->dir[1], &fwp_dport, slot, m->dport);
	} else {
		cls[SL_F_SPORT] = cfg->dir[0].noport_cls;
		cls[SL_F_DPORT] = cfg->dir[1].noport_cls;
	}
#pragma unroll
	for (int f = SL_F_SRC + 1; f < SL_F_MAX; f++) {
		if (cls[f] < 0)
			return SL_CLS_ERROR;
		/* class 0 matches no rule: the bitmaps need not be read */
		if (cls[f] == SLUICE_CLS_NONE)
			return SL_NO_MATCH;
		idx[f] = cfg->cls_base[f] + cls[f];
	}
	if (!cfg->row) {
		tbl = sl_slot_tbl(&fwp_cls, slot);
		return tbl ? sl_match_small(cfg, tbl, idx) : SL_CLS_ERROR;
	}
	tbl = sl_slot_tbl(&fwp_clsb, slot);
	return tbl ? sl_match_big(cfg, tbl, idx, slot) : SL_CLS_ERROR;
}

/*
 * Is the packet's source in the CLI blocklist (edited in place by the
 * agent)? Only when cfg->block says rule 0 is that list: the rule's own
 * prefixes are not in the slot's tables, so these lookups alone decide: the
 * hash of single addresses, then the trie of shorter prefixes.
 */
static __always_inline bool sl_blocked(const struct fw_config *cfg, const struct sl_meta *m)
{
	if (!cfg->block)
		return false;
	if (m->family == 4) {
		struct sl_block4_key k = { .prefixlen = 32 };
		__u32 a = bpf_htonl(m->src4);

		if (bpf_map_lookup_elem(&sl_block4h, &a))
			return true;
		*(__u32 *)k.addr = a;
		return bpf_map_lookup_elem(&sl_block4, &k) != NULL;
	}
	{
		struct fw_lpm6_key k6 = { .prefixlen = 128 };

		if (bpf_map_lookup_elem(&sl_block6h, m->src6))
			return true;
		__builtin_memcpy(k6.addr, m->src6, sizeof(k6.addr));
		return bpf_map_lookup_elem(&sl_block6, &k6) != NULL;
	}
}

#define SL_RULE_MISSING	0xffffffffu	/* no fw_rule: the slot went away under the packet */

/*
 * What rule RULE of policy CFG in SLOT does: its fw_rule entry (action bit,
 * counter id). The first rules' are in CFG (fw_config.first_rules), in the
 * line every packet reads: a blocklist's drop, or the allow of a policy's
 * second rule, reads no rule table (the outer and inner lookups of
 * fwp_rule, two cache lines that the other work of a CPU evicts between
 * frames: docs/datapath.md, "Where the live time goes").
 */
static __always_inline __u32 sl_rule_entry(const struct fw_config *cfg, __u32 slot, __u32 rule)
{
	struct fw_rule_blk *b;
	__u32 key = rule / 64;
	void *tbl;

	if (rule < SLUICE_CFG_RULES) {
		/* the mask is the verifier's bound: clang tests one copy, indexes with another */
		asm volatile("" : "+r"(rule));
		return cfg->first_rules[rule & (SLUICE_CFG_RULES - 1)];
	}
	tbl = sl_slot_tbl(&fwp_rule, slot);
	if (!tbl)
		return SL_RULE_MISSING;
	b = bpf_map_lookup_elem(tbl, &key);
	return b ? b->e[rule % 64] : SL_RULE_MISSING;
}

#endif /* SLUICE_BPF_CLASSIFY_H */
