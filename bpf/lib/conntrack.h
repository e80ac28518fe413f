/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Conntrack, shared by the XDP firewall (ingress) and the TC egress program.
 *
 * One entry per connection, keyed by the normalised 5-tuple (the
 * lower (address, port) pair is endpoint "a"), so both directions find it.
 * A packet's direction is ORIG when its source is the endpoint that opened
 * the connection (entry->orig_is_a), REPLY otherwise.
 *
 * The table is split into shards (sluice_abi.h): the key's hash picks one,
 * ct_shards[shard] holds its connections and ct_shards[SLUICE_CT_SHARDS_MAX
 * + shard] its half-open TCP connections (syn-sent, syn-recv), a smaller
 * LRU table of the same layout, until the ACK of the originator completes
 * the handshake and the entry moves over. A flood of SYNs from spoofed
 * sources never completes one: it churns the half-open shards and cannot
 * evict an established connection (docs/datapath.md, "Table full").
 *
 * Expiry: one bpf_timer per shard (ct_sweep), not per entry. The per-packet
 * path writes last_seen (a coarse clock) and the counters, nothing else, and
 * treats an entry past its state's timeout as absent (deleting it). The
 * sweeper walks its shard with bpf_for_each_map_elem and deletes what is
 * past its timeout; it skips the walk until the shard's earliest deadline,
 * which the datapath lowers when it inserts an entry or moves one to a
 * shorter timeout (docs/datapath.md, "Expiry").
 */
#ifndef SLUICE_BPF_CONNTRACK_H
#define SLUICE_BPF_CONNTRACK_H

#include <bpf/bpf_endian.h>

#include "ct_maps.h"
#include "parse.h"

#define SL_CLOCK_MONOTONIC	1
#define SL_NSEC_PER_SEC		1000000000ull
#define SL_NSEC_PER_MSEC	1000000ull
#define SL_EBUSY		16
#define SL_EEXIST		17

#define SL_TCP_FIN		0x01
#define SL_TCP_SYN		0x02
#define SL_TCP_RST		0x04
#define SL_TCP_ACK		0x10
#define SL_TCP_HLEN		20

#define SL_ICMP_ECHOREPLY	0
#define SL_ICMP_UNREACH		3
#define SL_ICMP_ECHO		8
#define SL_ICMP_TIME_EXCEEDED	11
#define SL_ICMP_PARAMPROB	12
#define SL_ICMP6_UNREACH	1
#define SL_ICMP6_PKT_TOOBIG	2
#define SL_ICMP6_TIME_EXCEEDED	3
#define SL_ICMP6_PARAMPROB	4
#define SL_ICMP6_ECHO		128
#define SL_ICMP6_ECHOREPLY	129

/* Offsets past this are not real headers (and keep the verifier's ranges small). */
#define SL_CT_L4_MAX		4096

enum sl_ct_res {
	SL_CT_MISS,		/* no entry: the rules decide */
	SL_CT_HIT,		/* a packet of a tracked connection */
	SL_CT_RELATED,		/* an ICMP error about a tracked connection */
};

/* A 5-tuple before normalisation; addresses in network order, IPv4 in [0]. */
struct sl_ct_tuple {
	__u32 src[4], dst[4];
	__be16 sport, dport;
	__u8 proto, family;
};

/* What conntrack makes of one packet. */
struct sl_ct_pkt {
	struct sl_ct_key key;
	__u32 shard;		/* of the key: ct_shards[shard], [SHARDS_MAX + shard] */
	__u8 src_is_a;		/* the packet's source is endpoint a of the key */
	__u8 start;		/* state of a new entry if the packet may open one, else 0 */
};

static __always_inline void sl_ct_stat(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&ct_stats, &idx);

	if (c)
		(*c)++;
}

static __always_inline __u32 sl_ct_timeout_idx(__u8 state)
{
#define SL_CT_TO_CASE(st, name, to) case st: return to;
	switch (state) {
	SLUICE_CT_STATES(SL_CT_TO_CASE)
	}
#undef SL_CT_TO_CASE
	return SLUICE_CT_TO_ICMP;
}

/* The timeout of STATE in ns; a timeout of 0 in ct_cfg means "the default". */
static __always_inline __u64 sl_ct_timeout_ns(const struct sl_ct_config *cfg, __u8 state)
{
	__u32 i = sl_ct_timeout_idx(state), s = 0;

	if (cfg && i < SLUICE_CT_TO_MAX)
		s = cfg->timeout[i];
	if (!s) {
		switch (i) {
#define SL_CT_TO_DEFAULT(id, name, dflt) case SLUICE_##id: s = dflt; break;
		SLUICE_CT_TIMEOUTS(SL_CT_TO_DEFAULT)
#undef SL_CT_TO_DEFAULT
		}
	}
	return (__u64)s * SL_NSEC_PER_SEC;
}

/* Past its timeout: the datapath, the sweeper and `sluice ct list` agree. */
static __always_inline bool sl_ct_stale(const struct sl_ct_entry *e,
					const struct sl_ct_config *cfg, __u64 now)
{
	return (__s64)(now - e->last_seen) > (__s64)sl_ct_timeout_ns(cfg, e->state);
}

static __always_inline __u32 sl_ct_shards(const struct sl_ct_config *cfg)
{
	__u32 n = cfg ? cfg->shards : 1;

	return n && n <= SLUICE_CT_SHARDS_MAX ? n : 1;
}

/* The connections of SHARD (or its half-open ones, SYN), or NULL. */
static __always_inline void *sl_ct_map(__u32 shard, bool syn)
{
	__u32 i = (shard & (SLUICE_CT_SHARDS_MAX - 1)) + (syn ? SLUICE_CT_SHARDS_MAX : 0);

	return bpf_map_lookup_elem(&ct_shards, &i);
}

/*
 * An entry of SHARD may expire at END: wake its sweeper by then. Written
 * only when earlier than what the sweeper knows, so a steady stream of new
 * connections (each expiring later than the last) rarely writes.
 */
static __always_inline void sl_ct_deadline(__u32 shard, __u64 end)
{
	struct sl_ct_sweeper *s = bpf_map_lookup_elem(&ct_sweep, &shard);

	if (s && end < s->next)
		s->next = end;
}

/* The sweeper's tick: an eighth of the shortest timeout, 250 ms .. 5 s. */
static __always_inline __u64 sl_ct_tick_ns(const struct sl_ct_config *cfg)
{
	__u64 t, min = ~0ull;

	for (__u8 st = SL_CT_SYN_SENT; st < SL_CT_STATE_MAX; st++) {
		t = sl_ct_timeout_ns(cfg, st);
		if (t < min)
			min = t;
	}
	t = min / 8;
	if (t < 250 * SL_NSEC_PER_MSEC)
		t = 250 * SL_NSEC_PER_MSEC;
	if (t > 5000 * SL_NSEC_PER_MSEC)
		t = 5000 * SL_NSEC_PER_MSEC;
	return t;
}

/* One walk of a shard. */
struct sl_ct_walk {
	__u64 to_ns[SL_CT_STATE_MAX];	/* timeout of each state */
	__u64 now;
	__u64 next;			/* earliest deadline of what stays */
	__u64 seen, deleted;
};

static long sl_ct_sweep_one(void *map, struct sl_ct_key *key, struct sl_ct_entry *e,
			    struct sl_ct_walk *w)
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
	void *tbl, *syn;
	__u64 t0, *c;

	tbl = sl_ct_map(i, false);
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
		syn = sl_ct_map(i, true);
		if (syn)
			bpf_for_each_map_elem(syn, sl_ct_sweep_one, &w, 0);
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
	if (!s || !sl_ct_map(i, false))
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

/* Endpoint a of the key is the lower (address, port) pair. */
static __always_inline bool sl_ct_src_is_a(const struct sl_ct_tuple *t)
{
#pragma unroll
	for (int i = 0; i < 4; i++) {
		__u32 s = bpf_ntohl(t->src[i]), d = bpf_ntohl(t->dst[i]);

		if (s != d)
			return s < d;
	}
	return bpf_ntohs(t->sport) <= bpf_ntohs(t->dport);
}

/* Fill K from T; returns whether T's source is endpoint a. */
static __always_inline __u8 sl_ct_key_make(struct sl_ct_key *k, const struct sl_ct_tuple *t)
{
	bool src_a = sl_ct_src_is_a(t);

	__builtin_memset(k, 0, sizeof(*k));
	if (src_a) {
		__builtin_memcpy(k->addr_a, t->src, 16);
		__builtin_memcpy(k->addr_b, t->dst, 16);
		k->port_a = t->sport;
		k->port_b = t->dport;
	} else {
		__builtin_memcpy(k->addr_a, t->dst, 16);
		__builtin_memcpy(k->addr_b, t->src, 16);
		k->port_a = t->dport;
		k->port_b = t->sport;
	}
	k->proto = t->proto;
	k->family = t->family;
	return src_a;
}

/* The L4 header of a parsed packet, with LEN bytes readable, or NULL. */
static __always_inline __u8 *sl_ct_l4(void *data, void *data_end, const struct sl_meta *m,
				      __u32 len)
{
	__u32 off = (__u32)m->l3_off + m->l4_off;
	__u8 *p;

	if (!m->has_l4 || off > SL_CT_L4_MAX)
		return NULL;
	p = data + off;
	if ((void *)(p + len) > data_end)
		return NULL;
	return p;
}

static __always_inline bool sl_ct_is_icmp(__u8 family, __u8 proto)
{
	return family == 4 ? proto == SL_IPPROTO_ICMP : proto == SL_IPPROTO_ICMPV6;
}

static __always_inline bool sl_ct_icmp_echo(__u8 family, __u8 type, bool *request)
{
	*request = type == (family == 4 ? SL_ICMP_ECHO : SL_ICMP6_ECHO);
	return *request || type == (family == 4 ? SL_ICMP_ECHOREPLY : SL_ICMP6_ECHOREPLY);
}

static __always_inline bool sl_ct_icmp_error(__u8 family, __u8 type)
{
	if (family == 4)
		return type == SL_ICMP_UNREACH || type == SL_ICMP_TIME_EXCEEDED ||
		       type == SL_ICMP_PARAMPROB;
	return type == SL_ICMP6_UNREACH || type == SL_ICMP6_PKT_TOOBIG ||
	       type == SL_ICMP6_TIME_EXCEEDED || type == SL_ICMP6_PARAMPROB;
}

static __always_inline void sl_ct_tuple_addrs(struct sl_ct_tuple *t, const struct sl_meta *m)
{
	if (m->family == 4) {
		__builtin_memset(t, 0, sizeof(*t));
		t->src[0] = bpf_htonl(m->src4);
		t->dst[0] = bpf_htonl(m->dst4);
	} else {
		__builtin_memcpy(t->src, m->src6, 16);
		__builtin_memcpy(t->dst, m->dst6, 16);
	}
	t->family = m->family;
	t->proto = m->proto;
}

/*
 * The connection an ICMP error quotes: the IP header and first 8 octets of
 * the packet that caused it follow the ICMP header. The error goes back to
 * whoever sent that packet, so the quoted source must be our destination.
 * Returns 0 with T filled, or -1.
 */
static __always_inline int sl_ct_icmp_quoted(void *data, void *data_end,
					     const struct sl_meta *m, struct sl_ct_tuple *t)
{
	__u8 *icmp = sl_ct_l4(data, data_end, m, SL_ICMP_HLEN), *l4;
	bool req;

	if (!icmp)
		return -1;
	__builtin_memset(t, 0, sizeof(*t));
	if (m->family == 4) {
		struct iphdr *ip = (void *)(icmp + SL_ICMP_HLEN);
		__u32 hlen;

		if ((void *)(ip + 1) > data_end || ip->version != 4)
			return -1;
		hlen = ip->ihl * 4;
		if (hlen < sizeof(*ip) || (bpf_ntohs(ip->frag_off) & 0x1fff) ||
		    ip->saddr != bpf_htonl(m->dst4))
			return -1;
		l4 = (void *)ip + hlen;
		if ((void *)(l4 + 8) > data_end)
			return -1;
		t->src[0] = ip->saddr;
		t->dst[0] = ip->daddr;
		t->proto = ip->protocol;
	} else {
		struct ipv6hdr *ip6 = (void *)(icmp + SL_ICMP_HLEN);
		__u32 ours[4];

		if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
			return -1;
		__builtin_memcpy(t->src, &ip6->saddr, 16);
		__builtin_memcpy(t->dst, &ip6->daddr, 16);
		__builtin_memcpy(ours, m->dst6, 16);
		if ((t->src[0] ^ ours[0]) | (t->src[1] ^ ours[1]) | (t->src[2] ^ ours[2]) |
		    (t->src[3] ^ ours[3]))
			return -1;
		l4 = (void *)(ip6 + 1);
		if ((void *)(l4 + 8) > data_end)
			return -1;
		t->proto = ip6->nexthdr;
	}
	t->family = m->family;
	if (t->proto == SL_IPPROTO_TCP || t->proto == SL_IPPROTO_UDP) {
		__builtin_memcpy(&t->sport, l4, 2);
		__builtin_memcpy(&t->dport, l4 + 2, 2);
		return 0;
	}
	if (sl_ct_is_icmp(t->family, t->proto) && sl_ct_icmp_echo(t->family, l4[0], &req)) {
		__builtin_memcpy(&t->sport, l4 + 4, 2);
		t->dport = t->sport;
		return 0;
	}
	return -1;
}

/*
 * TCP: SYN (orig) -> syn-sent, SYN-ACK (reply) -> syn-recv, ACK (orig) ->
 * established; FIN in one direction -> fin-wait, in both -> closing; RST ->
 * closing. A SYN from the originator in closing starts over (port reuse).
 * A move to a shorter timeout tells the shard's sweeper (sl_ct_deadline);
 * a longer one needs nothing.
 */
static __always_inline void sl_ct_tcp(struct sl_ct_entry *e, const struct sl_ct_config *cfg,
				      __u32 shard, __u32 dir, __u8 flags, const __u8 *th)
{
	__u8 old = e->state, new = old;
	__be32 ack;

	if (flags & SL_TCP_RST) {
		new = SL_CT_CLOSING;
	} else if (flags & SL_TCP_SYN) {
		if (!(flags & SL_TCP_ACK)) {
			if (dir == SL_CT_DIR_ORIG && old == SL_CT_CLOSING) {
				new = SL_CT_SYN_SENT;
				e->fin_seen = 0;
			}
		} else if (dir == SL_CT_DIR_REPLY && old == SL_CT_SYN_SENT) {
			new = SL_CT_SYN_RECV;
			if (th)
				__builtin_memcpy(&e->syn_ack_seq, th + 4, 4);
		}
	} else if (flags & SL_TCP_FIN) {
		e->fin_seen |= 1 << dir;
		if (old == SL_CT_SYN_RECV || old == SL_CT_ESTABLISHED || old == SL_CT_FIN_WAIT)
			new = e->fin_seen == 3 ? SL_CT_CLOSING : SL_CT_FIN_WAIT;
	} else if ((flags & SL_TCP_ACK) && dir == SL_CT_DIR_ORIG && old == SL_CT_SYN_RECV) {
		/*
		 * Only the ACK of the responder's SYN-ACK completes the
		 * handshake: a blind spoofer does not know its sequence
		 * number, so a flood of SYN + guessed ACK stays half-open.
		 */
		if (!th)
			return;
		__builtin_memcpy(&ack, th + 8, 4);
		if (bpf_ntohl(ack) != bpf_ntohl(e->syn_ack_seq) + 1)
			return;
		new = SL_CT_ESTABLISHED;
	}
	if (new == old)
		return;
	e->state = new;
	if (sl_ct_timeout_ns(cfg, new) < sl_ct_timeout_ns(cfg, old))
		sl_ct_deadline(shard, e->last_seen + sl_ct_timeout_ns(cfg, new));
}

/*
 * Move the half-open entry E of P's key whose handshake has just completed
 * to its connection shard. If that shard cannot take it (counted
 * insert-failed), it stays half-open-shard resident, established, and keeps
 * working from there until LRU pressure or its timeout ends it. -EEXIST:
 * another CPU moved it first.
 */
static __noinline void sl_ct_promote(struct sl_ct_pkt *p, struct sl_ct_entry *e,
				     struct sl_ct_config *cfg)
{
	struct sl_ct_entry v;
	void *tbl, *syn;
	long err;

	if (!p || !e)
		return;
	tbl = sl_ct_map(p->shard, false);
	syn = sl_ct_map(p->shard, true);
	if (!tbl || !syn)
		return;
	v = *e;
	err = bpf_map_update_elem(tbl, &p->key, &v, BPF_NOEXIST);
	if (err && err != -SL_EEXIST) {
		sl_ct_stat(SLUICE_CT_STAT_INSERT_FAIL);
		return;
	}
	bpf_map_delete_elem(syn, &p->key);
	if (!err)
		sl_ct_deadline(p->shard, v.last_seen + sl_ct_timeout_ns(cfg, v.state));
}

/*
 * Build P for a parsed packet. Returns 0 with P's key filled (TCP, UDP, ICMP
 * echo), 1 for an ICMP error (look up what it quotes instead), -1 for a
 * packet conntrack ignores (other protocols, non-first fragments, other
 * ICMP types such as neighbour discovery: the rules decide).
 */
static __always_inline int sl_ct_pkt_make(void *data, void *data_end, const struct sl_meta *m,
					  struct sl_ct_pkt *p)
{
	struct sl_ct_tuple t;
	__u8 *icmp;
	bool req;

	p->start = 0;
	if (!m->has_l4)
		return -1;
	sl_ct_tuple_addrs(&t, m);
	if (m->has_ports) {
		t.sport = bpf_htons(m->sport);
		t.dport = bpf_htons(m->dport);
		if (m->proto == SL_IPPROTO_UDP)
			p->start = SL_CT_UDP;
		else if ((m->tcp_flags & (SL_TCP_SYN | SL_TCP_ACK | SL_TCP_RST | SL_TCP_FIN)) ==
			 SL_TCP_SYN)
			p->start = SL_CT_SYN_SENT;
	} else if (sl_ct_is_icmp(m->family, m->proto)) {
		icmp = sl_ct_l4(data, data_end, m, SL_ICMP_HLEN);
		if (!icmp)
			return -1;
		if (sl_ct_icmp_error(m->family, icmp[0]))
			return 1;
		if (!sl_ct_icmp_echo(m->family, icmp[0], &req))
			return -1;
		__builtin_memcpy(&t.sport, icmp + 4, 2);
		t.dport = t.sport;
		if (req)
			p->start = SL_CT_ICMP;
	} else {
		return -1;
	}
	p->src_is_a = sl_ct_key_make(&p->key, &t);
	return 0;
}

/* The entry of P's key in its connection shard or (HALF) its half-open one. */
static __always_inline struct sl_ct_entry *sl_ct_find(struct sl_ct_pkt *p, bool tcp, bool *half)
{
	struct sl_ct_entry *e = NULL;
	void *m = sl_ct_map(p->shard, false);

	*half = false;
	if (m)
		e = bpf_map_lookup_elem(m, &p->key);
	if (e || !tcp)
		return e;
	m = sl_ct_map(p->shard, true);
	if (!m)
		return NULL;
	*half = true;
	return bpf_map_lookup_elem(m, &p->key);
}

/*
 * Conntrack for one parsed packet, XDP ingress or TC egress: a hit updates
 * the entry (last_seen, counters, TCP state); an ICMP error quoting a
 * tracked connection is related. On SL_CT_MISS, P says whether and how the
 * packet may open a connection (sl_ct_create).
 */
static __always_inline int sl_ct_track(void *data, void *data_end, const struct sl_meta *m,
				       const struct sl_ct_config *cfg, struct sl_ct_pkt *p,
				       __u64 bytes)
{
	struct sl_ct_tuple t;
	struct sl_ct_entry *e;
	bool half;
	__u64 now;
	__u32 dir;
	void *map;
	int kind;

	kind = sl_ct_pkt_make(data, data_end, m, p);
	if (kind == 0) {
		p->shard = sl_ct_shard_of(&p->key, sl_ct_shards(cfg));
		e = sl_ct_find(p, m->proto == SL_IPPROTO_TCP, &half);
		if (!e)
			return SL_CT_MISS;
		now = bpf_ktime_get_coarse_ns();
		/* past its timeout it is gone, whether or not its sweeper came by */
		if (sl_ct_stale(e, cfg, now)) {
			map = sl_ct_map(p->shard, half);
			if (map && !bpf_map_delete_elem(map, &p->key))
				sl_ct_stat(SLUICE_CT_STAT_EXPIRED);
			return SL_CT_MISS;
		}
		dir = p->src_is_a == e->orig_is_a ? SL_CT_DIR_ORIG : SL_CT_DIR_REPLY;
		e->last_seen = now;
		e->packets[dir & 1]++;
		e->bytes[dir & 1] += bytes;
		if (m->proto == SL_IPPROTO_TCP) {
			sl_ct_tcp(e, cfg, p->shard, dir & 1, m->tcp_flags,
				  sl_ct_l4(data, data_end, m, SL_TCP_HLEN));
			/* only a completed handshake: an RST or FIN of a half-open
			 * connection must not move a flood's entries over */
			if (half && e->state == SL_CT_ESTABLISHED)
				sl_ct_promote(p, e, (struct sl_ct_config *)cfg);
		}
		return SL_CT_HIT;
	}
	if (kind == 1 && !sl_ct_icmp_quoted(data, data_end, m, &t)) {
		sl_ct_key_make(&p->key, &t);
		p->shard = sl_ct_shard_of(&p->key, sl_ct_shards(cfg));
		e = sl_ct_find(p, t.proto == SL_IPPROTO_TCP, &half);
		if (e && !sl_ct_stale(e, cfg, bpf_ktime_get_coarse_ns())) {
			sl_ct_stat(SLUICE_CT_STAT_RELATED);
			return SL_CT_RELATED;
		}
	}
	return SL_CT_MISS;
}

/*
 * Track the connection P opens (P->start != 0), its source the originator.
 * A failure is counted and never stops the packet.
 */
static __always_inline void sl_ct_create(const struct sl_ct_pkt *p,
					 const struct sl_ct_config *cfg, __u64 bytes)
{
	struct sl_ct_entry v;
	void *map;
	long err;

	__builtin_memset(&v, 0, sizeof(v));
	v.created = bpf_ktime_get_coarse_ns();
	v.last_seen = v.created;
	v.state = p->start;
	v.orig_is_a = p->src_is_a;
	v.packets[SL_CT_DIR_ORIG] = 1;
	v.bytes[SL_CT_DIR_ORIG] = bytes;
	/* a TCP SYN opens a half-open connection, until the handshake completes */
	map = sl_ct_map(p->shard, p->start == SL_CT_SYN_SENT);
	if (!map) {
		sl_ct_stat(SLUICE_CT_STAT_INSERT_FAIL);
		return;
	}
	err = bpf_map_update_elem(map, &p->key, &v, BPF_NOEXIST);
	if (err) {
		/* -EEXIST: another CPU tracked it first; that entry stands */
		if (err != -SL_EEXIST)
			sl_ct_stat(SLUICE_CT_STAT_INSERT_FAIL);
		return;
	}
	sl_ct_deadline(p->shard, v.created + sl_ct_timeout_ns(cfg, v.state));
	sl_ct_stat(SLUICE_CT_STAT_CREATED);
}

#endif /* SLUICE_BPF_CONNTRACK_H */
