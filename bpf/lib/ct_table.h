/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Where entries live. Every new entry starts in the unassured shard of its
 * key's shard number and moves to the assured shard when its connection
 * earns it (sl_ct_assured: a completed TCP handshake, a UDP reply). A
 * flood from spoofed sources never completes anything, so it churns the
 * unassured shards and cannot evict an assured connection (netfilter's
 * ASSURED + early_drop; docs/datapath.md, "Table full").
 *
 * Each family has its own table (ct4_shards, ct_shards). The verifier
 * inlines a map lookup (array of maps, LRU hash), and calls an update or a
 * delete directly, only when one call site sees one kind of map: the
 * functions here take the family V4 as a constant, and each table's calls
 * are made from code of its own. On the per-packet paths (a hit, a miss, a
 * new entry) that is an inlined body per family, chosen by an if on the
 * family, so that no BPF-to-BPF call is made (each call and its return cost
 * ~7 ns on this machine: docs/datapath.md, "What the pipeline costs");
 * what runs once per connection or on rare packets (a promotion, an ICMP
 * error's lookup) stays a call per family. tests/test_xdp.c,
 * xdp_no_generic_map_lookup, sees any call site clang merged.
 */
#ifndef SLUICE_BPF_CT_TABLE_H
#define SLUICE_BPF_CT_TABLE_H

#include "clock.h"
#include "ct_key.h"

#define SL_EEXIST		17
#define SL_CT_STAMP_TRIES	4	/* compare-and-swaps before giving up (see sl_ct_stamp) */

/* The word of ct_stamp holding bucket I's stamps (an inlined array lookup), or NULL. */
static __always_inline __u64 *sl_ct_stamp_word(__u32 i)
{
	__u32 k = i / 2;
	struct sl_ct_stamps *s = bpf_map_lookup_elem(&ct_stamp, &k);

	return s ? &s->w[i & 1] : NULL;
}

/*
 * An entry of a bucket (its word W), assured or (UNA) not, is live until
 * END (coarse ns): raise the stamp of its kind to it, never lower it (an
 * atomic max: compare-and-swap of the word). A bucket is written once per
 * stamp unit at most by its hits, so tries fail only when other CPUs wrote
 * the word meanwhile; what they wrote covers their entries, and an entry
 * whose raise was lost gets it on its next packet.
 */
static __always_inline void sl_ct_stamp(__u64 *w, bool una, __u64 end)
{
	__u32 v = sl_ct_stamp_of(end);
	__u64 old;

	if (!w)
		return;
#pragma unroll
	for (int n = 0; n < SL_CT_STAMP_TRIES; n++) {
		old = *(volatile __u64 *)w;
		if (sl_ct_stamp_get(old, una) >= v ||
		    __sync_val_compare_and_swap(w, old, sl_ct_stamp_set(old, una, v)) == old)
			return;
	}
}

/* sl_ct_filtered's bits: the lookup of that kind of shard may be skipped */
#define SL_CT_SKIP_ASSURED	1
#define SL_CT_SKIP_UNASSURED	2
#define SL_CT_SKIP_BOTH		(SL_CT_SKIP_ASSURED | SL_CT_SKIP_UNASSURED)

/*
 * Which lookups of a key of a bucket (its word W) may be skipped at NOW?
 * SL_CT_SKIP_ASSURED when the filter is on (CFG) and the stamp of the
 * bucket's assured entries (plus the slack of a raised timeout, until its
 * end) has passed: then every assured entry of the bucket is past its
 * timeout, which the lookup would treat as absent; SL_CT_SKIP_UNASSURED
 * likewise for its unassured entries. Without a branch (BPF has no
 * set-on-compare: the signs of differences of 32-bit values in 64 bits,
 * behind barrier_var, or clang makes compares and branches of them
 * again): every branch here would be a path the verifier follows through
 * the rest of the program, and the decision a branch mispredicted where
 * skipped and looked-up packets mix.
 */
static __always_inline __u64 sl_ct_filtered(const struct sl_ct_config *cfg, const __u64 *w,
					    __u64 now)
{
	__u64 t = (__u32)(now >> SLUICE_CT_STAMP_SHIFT), word = *w, slack, da, du;

	/* t < filter_until: the slack applies */
	da = t - cfg->filter_until;
	barrier_var(da);
	slack = cfg->filter_slack & ((__s64)da >> 63);
	/* stamp + slack < t: passed (each half in 64 bits: no carry between them) */
	da = (__u32)word + slack - t;
	du = (word >> 32) + slack - t;
	barrier_var(da);
	barrier_var(du);
	return ((da >> 63) | (du >> 63 << 1)) & -(__u64)(cfg->filter & 1);
}

/*
 * The entry of P's key in table V4, assured or (*UNASSURED) not, or NULL;
 * the lookup SKIP (sl_ct_filtered, never both) says is useless is not
 * made. The assured lookup skipped is counted by the caller; the
 * unassured one here, where it would have been made (the assured lookup
 * missed).
 */
static __always_inline struct sl_ct_entry *sl_ct_find(struct sl_ct_pkt *p, bool *unassured,
						      __u64 skip, const bool v4)
{
	struct sl_ct_entry *e = NULL;
	void *m;

	*unassured = false;
	if (!(skip & SL_CT_SKIP_ASSURED)) {
		m = sl_ct_map(v4, p->shard, false);
		if (m)
			e = bpf_map_lookup_elem(m, &p->key);
		if (e)
			return e;
	}
	if (skip & SL_CT_SKIP_UNASSURED) {
		sl_ct_stat(SLUICE_CT_STAT_FILTERED);
		return NULL;
	}
	m = sl_ct_map(v4, p->shard, true);
	if (!m)
		return NULL;
	*unassured = true;
	return bpf_map_lookup_elem(m, &p->key);
}

/* sl_ct_find in each table, as calls: the ICMP errors' lookup, off the per-packet paths. */
static __noinline struct sl_ct_entry *sl_ct_find4(struct sl_ct_pkt *p, bool *unassured)
{
	return p && unassured ? sl_ct_find(p, unassured, 0, true) : NULL;
}

static __noinline struct sl_ct_entry *sl_ct_find6(struct sl_ct_pkt *p, bool *unassured)
{
	return p && unassured ? sl_ct_find(p, unassured, 0, false) : NULL;
}

/*
 * Move the unassured entry E of P's key to its assured shard (table V4).
 * If that shard cannot take it (counted insert-failed), it stays where it
 * is and keeps working from there until LRU pressure or its timeout ends
 * it. -EEXIST: another CPU moved it first. Not a creation: `created` counts
 * each connection once.
 */
static __always_inline void sl_ct_promote(struct sl_ct_pkt *p, struct sl_ct_entry *e,
					  struct sl_ct_config *cfg, const bool v4)
{
	struct sl_ct_entry v;
	void *tbl, *una;
	long err;

	if (!p || !e)
		return;
	tbl = sl_ct_map(v4, p->shard, false);
	una = sl_ct_map(v4, p->shard, true);
	if (!tbl || !una)
		return;
	v = *e;
	/* the assured entries' stamp first: found there from the moment it is there */
	sl_ct_stamp(sl_ct_stamp_word(sl_ct_pkt_bucket(p)), false,
		    v.last_seen + sl_ct_timeout_ns(cfg, v.state));
	err = bpf_map_update_elem(tbl, &p->key, &v, BPF_NOEXIST);
	if (err && err != -SL_EEXIST) {
		sl_ct_stat(SLUICE_CT_STAT_INSERT_FAIL);
		return;
	}
	bpf_map_delete_elem(una, &p->key);
	if (err)
		return;
	sl_ct_deadline(p->shard, v.last_seen + sl_ct_timeout_ns(cfg, v.state));
	if ((v4 ? p->key4.proto : p->key.proto) == SL_IPPROTO_TCP)
		sl_ck_count(false, v.last_seen);
}

/* Once per connection, off the hit path: calls. */
static __noinline void sl_ct_promote4(struct sl_ct_pkt *p, struct sl_ct_entry *e,
				      struct sl_ct_config *cfg)
{
	sl_ct_promote(p, e, cfg, true);
}

static __noinline void sl_ct_promote6(struct sl_ct_pkt *p, struct sl_ct_entry *e,
				      struct sl_ct_config *cfg)
{
	sl_ct_promote(p, e, cfg, false);
}

/*
 * Insert V under P's key in table V4, among the unassured entries or
 * (UNASSURED false) the assured ones. A failure is counted and never stops
 * the packet. Returns 0 when this call created the entry.
 */
static __always_inline int sl_ct_insert_in(const struct sl_ct_pkt *p,
					   const struct sl_ct_config *cfg,
					   struct sl_ct_entry *v, bool unassured, const bool v4)
{
	void *map = sl_ct_map(v4, p->shard, unassured);
	long err;

	if (!map) {
		sl_ct_stat(SLUICE_CT_STAT_INSERT_FAIL);
		return -1;
	}
	/* stamped first (its kind's stamp): from the moment it is in the table, never skipped */
	sl_ct_stamp(sl_ct_stamp_word(sl_ct_pkt_bucket(p)), unassured,
		    v->last_seen + sl_ct_timeout_ns(cfg, v->state));
	err = bpf_map_update_elem(map, &p->key, v, BPF_NOEXIST);
	if (err) {
		/* -EEXIST: another CPU tracked it first; that entry stands */
		if (err != -SL_EEXIST)
			sl_ct_stat(SLUICE_CT_STAT_INSERT_FAIL);
		return -1;
	}
	sl_ct_deadline(p->shard, v->last_seen + sl_ct_timeout_ns(cfg, v->state));
	sl_ct_stat(SLUICE_CT_STAT_CREATED);
	return 0;
}

/* sl_ct_insert_in, in P's table: one call site per table (see the top). */
static __always_inline int sl_ct_insert(const struct sl_ct_pkt *p,
					const struct sl_ct_config *cfg,
					struct sl_ct_entry *v, bool unassured)
{
	if (p->v4)
		return sl_ct_insert_in(p, cfg, v, unassured, true);
	return sl_ct_insert_in(p, cfg, v, unassured, false);
}

/*
 * A new entry for P in STATE, its source the originator, one packet of
 * BYTES seen on side OPENED (SL_CT_OPENED_*).
 */
static __always_inline void sl_ct_entry_new(struct sl_ct_entry *v, const struct sl_ct_pkt *p,
					    __u8 state, __u64 bytes, __u8 opened)
{
	__builtin_memset(v, 0, sizeof(*v));
	v->created = sl_now();
	v->last_seen = v->created;
	v->state = state;
	v->orig_is_a = p->src_is_a;
	v->opened = opened;
	v->packets[SL_CT_DIR_ORIG] = 1;
	v->bytes[SL_CT_DIR_ORIG] = bytes;
}

/*
 * Track the connection P opens (P->start != 0) on side OPENED
 * (SL_CT_OPENED_*), its source the originator: an unassured entry until
 * the connection earns its place. TH: a SYN's TCP header (or NULL), whose
 * number its answer must acknowledge (sl_ct_syn_acked); or, for a
 * connection picked up in SL_CT_ESTABLISHED, the ACK's, which says where
 * both streams are.
 */
static __always_inline void sl_ct_create(const struct sl_ct_pkt *p,
					 const struct sl_ct_config *cfg, __u64 bytes, __u8 opened,
					 const __u8 *th)
{
	struct sl_ct_entry v;

	sl_ct_entry_new(&v, p, p->start, bytes, opened);
	if (p->start == SL_CT_SYN_SENT && th)
		sl_ct_syn_note(&v, th);
	else if (p->start == SL_CT_ESTABLISHED && th)
		sl_ct_seq_start(&v, th);
	if (!sl_ct_insert(p, cfg, &v, true) && p->start == SL_CT_SYN_SENT)
		sl_ck_count(true, v.created);
}

#endif /* SLUICE_BPF_CT_TABLE_H */
