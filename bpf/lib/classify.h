/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Linear Bit Vector Search over the fw_* tables of one policy slot (inner
 * maps of the fwo_* outer arrays, see maps.h and sluice_abi.h): one
 * lookup per field gives a class, each class a bitmap of rules; the AND of
 * the five bitmaps' lowest set bit is the first matching rule. The cost is
 * five table lookups and an 8-word AND, whatever the number of prefixes.
 */
#ifndef SLUICE_BPF_CLASSIFY_H
#define SLUICE_BPF_CLASSIFY_H

#include "maps.h"
#include "parse.h"

#define SL_NO_MATCH	(-1)
#define SL_CLS_ERROR	(-2)

/*
 * DIR-24-8: one access for prefixes up to /24, two for longer ones. The
 * second level (OUTER8's inner map of SLOT) is looked up only when needed.
 */
static __always_inline __u32 sl_lookup4(void *tbl24, void *outer8, __u32 slot, __u32 addr)
{
	__u32 key = addr >> 14;
	struct fw_blk *blk;
	struct fw_t8 *grp;
	void *tbl8;
	__u16 e;

	blk = bpf_map_lookup_elem(tbl24, &key);
	if (!blk)
		return SLUICE_CLS_NONE;
	e = blk->e[(addr >> 8) & (SLUICE_BLK - 1)];
	if (!(e & SLUICE_T8_FLAG))
		return e;
	tbl8 = bpf_map_lookup_elem(outer8, &slot);
	if (!tbl8)
		return SLUICE_CLS_NONE;
	key = e & ~SLUICE_T8_FLAG;
	grp = bpf_map_lookup_elem(tbl8, &key);
	if (!grp)
		return SLUICE_CLS_NONE;
	return grp->e[addr & 0xff];
}

static __always_inline __u32 sl_lookup6(void *trie, const __u8 *addr)
{
	struct fw_lpm6_key key = { .prefixlen = 128 };
	struct fw_lpm6_val *v;

	__builtin_memcpy(key.addr, addr, 16);
	v = bpf_map_lookup_elem(trie, &key);
	/* ::/0 is always in the trie; a miss means no prefix matches. */
	return v ? v->cls : SLUICE_CLS_NONE;
}

static __always_inline __u32 sl_lookup_port(void *tbl, __u16 port)
{
	__u32 key = port / SLUICE_BLK;
	struct fw_blk *blk = bpf_map_lookup_elem(tbl, &key);

	return blk ? blk->e[port & (SLUICE_BLK - 1)] : SLUICE_CLS_NONE;
}

/* Index of the lowest set bit of a non-zero word (clang 14 has no BPF ctz). */
static __always_inline __u32 sl_ctz64(__u64 w)
{
	__u32 n = 0;

	if (!(w & 0xffffffffull)) {
		n += 32;
		w >>= 32;
	}
	if (!(w & 0xffff)) {
		n += 16;
		w >>= 16;
	}
	if (!(w & 0xff)) {
		n += 8;
		w >>= 8;
	}
	if (!(w & 0xf)) {
		n += 4;
		w >>= 4;
	}
	if (!(w & 0x3)) {
		n += 2;
		w >>= 2;
	}
	if (!(w & 0x1))
		n += 1;
	return n;
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
	__u32 cls[5], key;
	struct fw_bitmap *bm[5];
	__u32 nrules = cfg->nrules;
	void *t, *t2, *clsmap;

	if (m->family == 4) {
		t = bpf_map_lookup_elem(&fwo_src4, &slot);
		t2 = bpf_map_lookup_elem(&fwo_dst4, &slot);
		if (!t || !t2)
			return SL_CLS_ERROR;
		cls[0] = sl_lookup4(t, &fwo_src4_t8, slot, m->src4);
		cls[1] = sl_lookup4(t2, &fwo_dst4_t8, slot, m->dst4);
	} else {
		t = bpf_map_lookup_elem(&fwo_src6, &slot);
		t2 = bpf_map_lookup_elem(&fwo_dst6, &slot);
		if (!t || !t2)
			return SL_CLS_ERROR;
		cls[0] = sl_lookup6(t, m->src6);
		cls[1] = sl_lookup6(t2, m->dst6);
	}
	cls[2] = cfg->proto_cls[m->proto];
	if (m->has_ports) {
		t = bpf_map_lookup_elem(&fwo_sport, &slot);
		t2 = bpf_map_lookup_elem(&fwo_dport, &slot);
		if (!t || !t2)
			return SL_CLS_ERROR;
		cls[3] = sl_lookup_port(t, m->sport);
		cls[4] = sl_lookup_port(t2, m->dport);
	} else {
		cls[3] = cfg->noport_cls;
		cls[4] = cfg->noport_cls;
	}
	clsmap = bpf_map_lookup_elem(&fwo_cls, &slot);
	if (!clsmap)
		return SL_CLS_ERROR;

#pragma unroll
	for (int f = 0; f < 5; f++) {
		/* Class 0 matches no rule: skip the bitmaps altogether. */
		if (cls[f] == SLUICE_CLS_NONE)
			return SL_NO_MATCH;
		key = cls[f];
		bm[f] = bpf_map_lookup_elem(clsmap, &key);
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

/*
 * Is the packet's source in the CLI blocklist? Only when cfg->block says rule
 * 0 is that list: a rule that names nothing but source prefixes, so its bit in
 * the source class alone decides (every other field's classes have it set).
 */
static __always_inline bool sl_blocked(const struct fw_config *cfg, const struct sl_meta *m,
				       __u32 slot)
{
	struct fw_bitmap *bm;
	void *t, *clsmap;
	__u32 cls;

	if (!cfg->block)
		return false;
	if (m->family == 4) {
		t = bpf_map_lookup_elem(&fwo_src4, &slot);
		cls = t ? sl_lookup4(t, &fwo_src4_t8, slot, m->src4) : SLUICE_CLS_NONE;
	} else {
		t = bpf_map_lookup_elem(&fwo_src6, &slot);
		cls = t ? sl_lookup6(t, m->src6) : SLUICE_CLS_NONE;
	}
	if (cls == SLUICE_CLS_NONE)
		return false;
	clsmap = bpf_map_lookup_elem(&fwo_cls, &slot);
	if (!clsmap)
		return false;
	bm = bpf_map_lookup_elem(clsmap, &cls);
	return bm && (bm->w[0] & 1);
}

static __always_inline bool sl_rule_allows(const struct fw_config *cfg, __u32 rule)
{
	return (cfg->allow[(rule / 64) & (SLUICE_BM_WORDS - 1)] >> (rule % 64)) & 1;
}

#endif /* SLUICE_BPF_CLASSIFY_H */
