/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Drop events: one sl_event per drop into the ring buffer sl_events, rate
 * limited by sl_ev_cfg. The limiter runs before bpf_ringbuf_reserve, and a
 * CPU that found the window full stays muted for the rest of that jiffy
 * (sl_ev_mute): a flood of drops costs one per-CPU read and add per packet,
 * not the shared window's atomic add nor a reservation.
 */
#ifndef SLUICE_BPF_EVENTS_H
#define SLUICE_BPF_EVENTS_H

#include "clock.h"
#include "maps.h"
#include "parse.h"
#include "stats.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SLUICE_EV_RINGBUF);
} sl_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sl_ev_config);
} sl_ev_cfg SEC(".maps");

/*
 * Per CPU: the jiffy in which this CPU last found the window full, and the
 * drops it suppressed without asking the window again (the agent adds them
 * to sl_ev_cfg's suppressed). Within one jiffy the answer stands: the
 * window moves on the coarse clock, which moves with the jiffy (clock.h),
 * so no new window can open in it; a rate the agent writes (0, events
 * off, too) applies from the next jiffy on a muted CPU, which reads its
 * mute before anything else (sl_event_new).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sl_ev_mute);
} sl_ev_mute SEC(".maps");

#define SL_EV_WINDOW_NS	1000000000ull

/* May one more event be sent now? */
static __always_inline bool sl_ev_allow(struct sl_ev_config *ec, __u64 now)
{
	if (!ec->rate)
		return false;
	/*
	 * A new window: the CPUs that see the old one at once may both reset
	 * it; the cost of the race is a few events more in that second.
	 */
	if (now - ec->win_start >= SL_EV_WINDOW_NS) {
		ec->win_start = now;
		ec->win_sent = 0;
	}
	/*
	 * Over the rate (a flood): no atomic add on the window's count, one on
	 * suppressed; the add below is for the events that may still go.
	 */
	if (*(volatile __u64 *)&ec->win_sent >= ec->rate) {
		__sync_fetch_and_add(&ec->suppressed, 1);
		return false;
	}
	if (__sync_fetch_and_add(&ec->win_sent, 1) >= ec->rate) {
		__sync_fetch_and_add(&ec->suppressed, 1);
		return false;
	}
	return true;
}

/*
 * A reserved event record, or NULL when the limiter or a full ring buffer
 * says no (*EC then counts why). The caller fills it and submits it with
 * sl_event_done.
 */
static __always_inline struct sl_event *sl_event_new(struct sl_ev_config **ecp)
{
	struct sl_ev_config *ec;
	struct sl_ev_mute *mu;
	struct sl_event *e;
	__u64 now, j;
	__u32 key = 0;

	/*
	 * muted in this jiffy: over the rate, counted here and nothing else
	 * read (no atomic add, ~5 ns a drop; not even sl_ev_cfg: its line is
	 * shared, written by every CPU that asks the window)
	 */
	mu = bpf_map_lookup_elem(&sl_ev_mute, &key);
	j = bpf_jiffies64();
	if (mu && mu->jiffies == j) {
		mu->suppressed++;
		return NULL;
	}
	ec = bpf_map_lookup_elem(&sl_ev_cfg, &key);
	if (!ec || !ec->rate)
		return NULL;
	/*
	 * The limiter's window needs no better than the coarse clock, and the
	 * per-CPU copy of it (clock.h: one load a packet, where the helper call
	 * cost every drop ~14 ns); bpf_ktime_get_ns (~23 ns here) is paid only
	 * for events really sent.
	 */
	if (!sl_ev_allow(ec, sl_now())) {
		if (mu)
			mu->jiffies = j;
		return NULL;
	}
	now = bpf_ktime_get_ns();
	e = bpf_ringbuf_reserve(&sl_events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&ec->lost, 1);
		return NULL;
	}
	e->ts_ns = now;
	e->cgroup = 0;
	e->egress = 0;
	e->hook = 0;
	*ecp = ec;
	return e;
}

static __always_inline void sl_event_done(struct sl_ev_config *ec, struct sl_event *e)
{
	bpf_ringbuf_submit(e, 0);
	__sync_fetch_and_add(&ec->sent, 1);
}

/*
 * The fields every drop event has, from the parsed headers M; RULE is an
 * index into the policy CFG (NULL: no rule), named by its generation.
 */
static __always_inline void sl_event_fill(struct sl_event *e, enum sluice_drop_reason why,
					  __u64 bytes, const struct sl_meta *m, __u32 rule,
					  __u32 ifindex, const struct fw_config *cfg)
{
	e->ifindex = ifindex;
	e->rule = rule;
	e->len = bytes;
	e->reason = why;
	/* the rule index means something only with its generation and section */
	e->gen = cfg ? (__u32)cfg->generation : 0;
	e->section = cfg ? cfg->section : 0;
	e->family = m->family;
	e->proto = m->proto;
	e->sport = m->has_ports ? m->sport : 0;
	e->dport = m->has_ports ? m->dport : 0;
	__builtin_memset(e->src, 0, sizeof(e->src));
	__builtin_memset(e->dst, 0, sizeof(e->dst));
	if (m->family == 4) {
		__u32 s = bpf_htonl(m->src4), d = bpf_htonl(m->dst4);

		__builtin_memcpy(e->src, &s, 4);
		__builtin_memcpy(e->dst, &d, 4);
	} else if (m->family == 6) {
		__builtin_memcpy(e->src, m->src6, 16);
		__builtin_memcpy(e->dst, m->dst6, 16);
	}
}

static __always_inline void sl_event_emit(enum sluice_drop_reason why, __u64 bytes,
					  const struct sl_meta *m, __u32 rule, __u32 ifindex,
					  const struct fw_config *cfg)
{
	struct sl_ev_config *ec = NULL;
	struct sl_event *e;

	e = sl_event_new(&ec);
	if (!e || !ec)
		return;
	sl_event_fill(e, why, bytes, m, rule, ifindex, cfg);
	sl_event_done(ec, e);
}

/* The one drop path: count (under hook H), report, drop. */
static __always_inline int sl_drop_ev_h(enum sl_hook h, enum sluice_drop_reason why,
					__u64 bytes, const struct sl_meta *m, __u32 rule,
					__u32 ifindex)
{
	sl_event_emit(why, bytes, m, rule, ifindex, NULL);
	return sl_drop_pkt_h(h, why, bytes);
}

/* The same on XDP (the load balancer, the pipeline's own checks). */
static __always_inline int sl_drop_ev(enum sluice_drop_reason why, __u64 bytes,
				      const struct sl_meta *m, __u32 rule, __u32 ifindex)
{
	return sl_drop_ev_h(SL_HOOK_XDP, why, bytes, m, rule, ifindex);
}

/* A drop by RULE (or SLUICE_RULE_DEFAULT) of the policy CFG on hook H: the event names both. */
static __always_inline int sl_drop_rule(enum sl_hook h, enum sluice_drop_reason why,
					__u64 bytes, const struct sl_meta *m, __u32 rule,
					__u32 ifindex, const struct fw_config *cfg)
{
	sl_event_emit(why, bytes, m, rule, ifindex, cfg);
	return sl_drop_pkt_h(h, why, bytes);
}

#endif /* SLUICE_BPF_EVENTS_H */
