/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Expiry: one bpf_timer per shard (ct_sweep), not per entry. The sweeper
 * walks its assured and unassured shards, IPv4's and IPv6's, with
 * bpf_for_each_map_elem and deletes what is past its timeout; it skips the
 * walk until the shard's
 * earliest deadline, which the datapath lowers when it inserts an entry or
 * moves one to a shorter timeout (docs/datapath.md, "Expiry").
 */
#ifndef SLUICE_BPF_CT_SWEEP_H
#define SLUICE_BPF_CT_SWEEP_H

#include "ct_state.h"

#define SL_CLOCK_MONOTONIC	1
#define SL_EBUSY		16

/* One walk of a shard. */
struct sl_ct_walk {
	__u64 to_ns[SL_CT_STATE_MAX];	/* timeout of each state */
	__u64 now;
	__u64 next;			/* earliest deadline of what stays */
	__u64 seen, deleted;
};

/* For either table: the key only goes back to the map it came from. */
static long sl_ct_sweep_one(void *map, void *key, struct sl_ct_entry *e, struct sl_ct_walk *w)
{
	__u64 end = e->last_seen + w->to_ns[e->state & (SL_CT_STATE_MAX - 1)];

	w->seen++;
	if ((__s64)(end - w->now) <= 0) {
		if (!bpf_map_delete_elem(map, key))
			w->deleted++;
	} else if (end < w->next) {
		w->next = end;
	}
	return 0;
}

/*
 * The sweeper of shard *IDX (softirq). A tick costs a few lookups; a walk
 * ~180 ns per entry of the shard, at most SLUICE_CT_SHARD_MIN-ish entries
 * for the default sizes (docs/datapath.md). The shard gone (teardown): the
 * sweeper stops.
 */
static int sl_ct_sweep_cb(void *map, __u32 *idx, struct sl_ct_sweeper *s)
{
	__u32 zero = 0, i = *idx;
	struct sl_ct_config *cfg = bpf_map_lookup_elem(&ct_cfg, &zero);
	__u32 gen = cfg ? cfg->gen : 0;
	struct sl_ct_walk w;
	void *tbl, *una;
	__u64 t0, *c;

	tbl = sl_ct_map(true, i, false);
	if (!tbl)
		return 0;
	w.now = bpf_ktime_get_coarse_ns();
	s->ticks++;
	/* unsigned: next is ~0 when nothing is due (the clock never gets there) */
	if (w.now >= s->next || s->gen != gen ||
	    w.now - s->last_walk >= SLUICE_CT_WALK_MAX_S * SL_NSEC_PER_SEC) {
		t0 = bpf_ktime_get_ns();
		w.to_ns[0] = 0;
		for (__u8 st = SL_CT_SYN_SENT; st < SL_CT_STATE_MAX; st++)
			w.to_ns[st] = sl_ct_timeout_ns(cfg, st);
		w.next = ~0ull;
		w.seen = w.deleted = 0;
		/* what the datapath inserts during the walk lowers it again */
		s->next = ~0ull;
		bpf_for_each_map_elem(tbl, sl_ct_sweep_one, &w, 0);
		una = sl_ct_map(true, i, true);
		if (una)
			bpf_for_each_map_elem(una, sl_ct_sweep_one, &w, 0);
		tbl = sl_ct_map(false, i, false);
		if (tbl)
			bpf_for_each_map_elem(tbl, sl_ct_sweep_one, &w, 0);
		una = sl_ct_map(false, i, true);
		if (una)
			bpf_for_each_map_elem(una, sl_ct_sweep_one, &w, 0);
		if (w.next < s->next)
			s->next = w.next;
		s->last_walk = w.now;
		s->gen = gen;
		s->walks++;
		s->walked += w.seen;
		s->walk_ns += bpf_ktime_get_ns() - t0;
		zero = SLUICE_CT_STAT_EXPIRED;
		c = bpf_map_lookup_elem(&ct_stats, &zero);
		if (c)
			*c += w.deleted;
	}
	bpf_timer_start(&s->timer, sl_ct_tick_ns(cfg), 0);
	return 0;
}

/*
 * Start the sweeper of every shard that exists, with this program's
 * callback. A pending timer holds a reference on the program that set its
 * callback: the agent runs this (BPF_PROG_TEST_RUN) after loading a new
 * program, which moves every sweeper to the new program so the old one can
 * go. First runs are spread over a tick. Returns the sweepers running this
 * program's callback; a sweeper that cannot be set up is counted
 * timer-failed (its shard's entries are still treated as gone past their
 * timeout, and go by LRU pressure).
 */
struct sl_ct_start {
	__u32 shards, started;
	__u64 tick;
};

static long sl_ct_start_one(__u32 i, struct sl_ct_start *st)
{
	struct sl_ct_sweeper *s;
	__u32 k = i;
	long err;

	if (i >= st->shards)
		return 1;
	s = bpf_map_lookup_elem(&ct_sweep, &k);
	if (!s || !sl_ct_map(true, i, false))
		return 0;
	err = bpf_timer_init(&s->timer, &ct_sweep, SL_CLOCK_MONOTONIC);
	/* -EBUSY: set up by an earlier run (this agent's or a previous one's) */
	if (err && err != -SL_EBUSY) {
		sl_ct_stat(SLUICE_CT_STAT_TIMER_FAIL);
		return 0;
	}
	if (bpf_timer_set_callback(&s->timer, sl_ct_sweep_cb) ||
	    bpf_timer_start(&s->timer, st->tick / st->shards * (i + 1), 0)) {
		sl_ct_stat(SLUICE_CT_STAT_TIMER_FAIL);
		return 0;
	}
	st->started++;
	return 0;
}

/* (bpf_loop: a plain loop over 64 shards takes the verifier past its budget) */
static __always_inline __u32 sl_ct_sweep_start(void)
{
	__u32 zero = 0;
	struct sl_ct_config *cfg = bpf_map_lookup_elem(&ct_cfg, &zero);
	struct sl_ct_start st = { .shards = sl_ct_shards(cfg), .tick = sl_ct_tick_ns(cfg) };

	bpf_loop(SLUICE_CT_SHARDS_MAX, sl_ct_start_one, &st, 0);
	return st.started;
}

#endif /* SLUICE_BPF_CT_SWEEP_H */
