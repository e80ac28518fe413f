/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Conntrack, shared by the XDP firewall (ingress) and the TC egress program.
 *
 * One entry per connection, keyed by the normalised 5-tuple (ct_key.h), so
 * both directions find it. A packet's direction is ORIG when its source is
 * the endpoint that opened the connection (entry->orig_is_a), REPLY
 * otherwise. The topics, each in its own header:
 *
 *   ct_maps.h    the maps: shards (IPv4, IPv6; assured, unassured), sweepers,
 *                settings, counters
 *   ct_key.h     packet -> key (16 bytes for IPv4, 40 for IPv6), and whether it
 *                may open a connection
 *   ct_state.h   TCP states, timeouts, when an entry is assured
 *   ct_icmp.h    ICMP errors quoting a tracked connection (related)
 *   ct_table.h   find, insert, promote unassured -> assured
 *   ct_sweep.h   expiry: one bpf_timer per shard
 *
 * and, for the XDP firewall, SYN cookies: ct_cookie.h (the decisions, the
 * cookie, the ACK), ct_synack.h (the SYN-ACK written over the SYN),
 * ct_tcpopt.h (TCP options, checksums), siphash.h.
 *
 * The per-packet path writes last_seen (a coarse clock) and the counters,
 * nothing else, and treats an entry past its state's timeout as absent
 * (deleting it). Before the lookups, the lookup filter (ct_stamp,
 * ct_table.h) says when the bucket of the packet's two addresses holds no
 * live assured entry, no live unassured one: the LRU lookup of that kind
 * of shard is skipped (both: the key is not even made).
 */
#ifndef SLUICE_BPF_CONNTRACK_H
#define SLUICE_BPF_CONNTRACK_H

#include "clock.h"
#include "ct_icmp.h"
#include "ct_key.h"
#include "ct_maps.h"
#include "ct_state.h"
#include "ct_sweep.h"
#include "ct_table.h"

enum sl_ct_res {
	SL_CT_MISS,		/* no entry: the rules decide */
	SL_CT_HIT,		/* a packet of a tracked connection */
	SL_CT_RELATED,		/* an ICMP error about a tracked connection */
};

/*
 * A packet of P's key (shard set) in table V4, the frame DATA..DATA_END: a
 * hit updates the entry (last_seen, counters, TCP state, read from the TCP
 * header then: a miss never reads it) and moves it to the assured shard
 * when it has earned it (a reply, only where replies travel: SIDE,
 * sl_ct_proof); an entry past its timeout is deleted, a miss.
 */
static __always_inline int sl_ct_hit(void *data, void *data_end, const struct sl_meta *m,
				     const struct sl_ct_config *cfg, struct sl_ct_pkt *p,
				     __u64 bytes, __u64 now, __u64 *stamp, __u64 skip,
				     __u8 side, const bool v4)
{
	const __u8 *th;
	struct sl_ct_entry *e;
	bool unassured;
	__u32 dir, wrong;
	__u64 to;
	__u8 st;
	void *map;

	/*
	 * The LRU lookups the filter spares (never both here: sl_ct_track),
	 * counted before them where known: the assured one; the unassured one
	 * is spared only if the assured lookup misses (sl_ct_find counts it)
	 */
	sl_ct_stat_add(SLUICE_CT_STAT_FILTERED, skip & SL_CT_SKIP_ASSURED);
	e = sl_ct_find(p, &unassured, skip, v4);
	if (!e)
		return SL_CT_MISS;
	/* past its timeout it is gone, whether or not its sweeper came by (sl_ct_stale) */
	st = e->state;
	to = sl_ct_timeout_ns(cfg, st);
	if ((__s64)(now - e->last_seen) > (__s64)to) {
		map = sl_ct_map(v4, p->shard, unassured);
		if (map && !bpf_map_delete_elem(map, &p->key))
			sl_ct_stat(SLUICE_CT_STAT_EXPIRED);
		return SL_CT_MISS;
	}
	dir = (p->src_is_a == e->orig_is_a ? SL_CT_DIR_ORIG : SL_CT_DIR_REPLY) & 1;
	/*
	 * ICMP echo (no ports; P->start set for a request): requests go the
	 * way the entry was opened, replies the other. An echo request from
	 * the peer a host pings is no answer to its ping (netfilter's tuples
	 * hold the type: NEW there): the rules decide it. Computed, not
	 * compared: a branch that narrowed DIR kept the verifier from pruning
	 * what follows (TC past its budget).
	 */
	wrong = ((__u32)(p->start == SL_CT_ICMP) ^ dir ^ 1) & (__u32)!m->has_ports;
	barrier_var(wrong);
	if (wrong)
		return SL_CT_MISS;
	e->last_seen = now;
	e->packets[dir]++;
	e->bytes[dir] += bytes;
	if (m->proto == SL_IPPROTO_TCP) {
		th = sl_ct_l4(data, data_end, m, SL_TCP_HLEN);
		sl_ct_tcp(e, cfg, p->shard, dir, m->tcp_flags, th, side);
		if (e->state != st)
			to = sl_ct_timeout_ns(cfg, e->state);
	}
	/* its kind's stamp (the shard it was found in) covers it until its (new)
	 * deadline: one compare, mostly; a promotion stamps the assured kind */
	sl_ct_stamp(stamp, unassured, now + to);
	if (unassured && sl_ct_assured(e, m->proto, dir) && sl_ct_proof(e, dir, side)) {
		if (v4)
			sl_ct_promote4(p, e, (struct sl_ct_config *)cfg);
		else
			sl_ct_promote6(p, e, (struct sl_ct_config *)cfg);
	}
	return SL_CT_HIT;
}

/*
 * P's key, hash and shard for the TCP or UDP packet M when the lookup
 * filter decided its miss before they were made (sl_ct_track): what
 * opening its connection needs; a packet that opens none never makes its
 * key. Also every IPv6 packet's key that the filter did not turn away. A
 * call: its tuple and the key's words on a stack of its own, not in the
 * entry program's (whose frame and sl_ck_syn_answer's make 512 bytes at
 * most).
 */
static __noinline void sl_ct_pkt_keyed(const struct sl_meta *m, struct sl_ct_pkt *p,
				       const struct sl_ct_config *cfg)
{
	struct sl_ct_tuple t;

	if (!p->keyed && m->has_ports)
		sl_ct_pkt_ports(m, p, sl_ct_shards(cfg), &t);
}

/*
 * Conntrack for one parsed packet, XDP ingress or TC egress: a hit updates
 * the entry and moves it to the assured shard when it has earned it
 * (sl_ct_hit); an ICMP error quoting a tracked connection is related. On
 * SL_CT_MISS, P says whether and how the packet may open a connection
 * (sl_ct_create), its key made or not (P->keyed: sl_ct_pkt_keyed makes
 * it). SIDE: where the packet is seen (SL_CT_OPENED_IN arriving, _OUT
 * leaving; 0 for a reply the load balancer vouches for: sl_ct_proof). A
 * packet whose source is its destination (no host sends itself one
 * through a NIC or veth: a spoofer's LAND) is never tracked: it neither
 * finds its "connection" nor opens one, the rules decide it (else a
 * datagram from the host's own address and an allowed port to itself
 * would open an entry whose "reply", to any port, then passed).
 * The bucket comes from the packet's addresses as parsed: when the
 * filter says neither kind of shard can hold its connection, the miss is
 * decided there, for TCP and UDP before their key and hash are made (the
 * packets of a flood of new sources, of a blocklist's sources). A hit and a miss make no
 * BPF-to-BPF call: sl_ct_hit is inlined once per family (ct_table.h), the
 * table's LRU lookups its only calls.
 */
static __always_inline int sl_ct_track(void *data, void *data_end, const struct sl_meta *m,
				       const struct sl_ct_config *cfg, struct sl_ct_pkt *p,
				       __u64 bytes, __u8 side)
{
	struct sl_ct_tuple t;
	struct sl_ct_entry *e;
	bool unassured;
	__u64 now, *stamp;
	__u64 skip;
	int kind;

	p->keyed = 0;
	p->start = 0;
	if (sl_ct_self(m))
		return SL_CT_MISS;
	if (!m->has_ports) {
		/* ICMP: its kind first (an error looks up what it quotes, unfiltered) */
		kind = sl_ct_pkt_make(data, data_end, m, p, sl_ct_shards(cfg), &t);
		if (kind == SL_CT_ICMP_ERR && !sl_ct_icmp_quoted(data, data_end, m, &t)) {
			sl_ct_pkt_key(p, &t);
			sl_ct_pkt_shard(p, sl_ct_shards(cfg));
			e = p->v4 ? sl_ct_find4(p, &unassured) : sl_ct_find6(p, &unassured);
			if (e && !sl_ct_stale(e, cfg, sl_now())) {
				sl_ct_stat(SLUICE_CT_STAT_RELATED);
				return SL_CT_RELATED;
			}
			return SL_CT_MISS;
		}
		if (kind != SL_CT_KEYED)
			return SL_CT_MISS;
	}
	now = sl_now();
	stamp = sl_ct_stamp_word(sl_ct_meta_bucket(m));
	/* cannot happen (the index is within the array): the verifier asks */
	if (!stamp)
		return SL_CT_MISS;
	/* no live entry of a kind in the pair's bucket: no LRU lookup of that kind */
	skip = sl_ct_filtered(cfg, stamp, now);
	if (skip == SL_CT_SKIP_BOTH) {
		/* both lookups spared, one add; TCP and UDP never make their key */
		sl_ct_stat_add(SLUICE_CT_STAT_FILTERED, 2);
		if (m->has_ports)
			p->start = sl_ct_ports_start(m);
		return SL_CT_MISS;
	}
	if (m->has_ports && m->family == 4)
		sl_ct_pkt_ports(m, p, sl_ct_shards(cfg), &t);
	else if (m->has_ports)
		sl_ct_pkt_keyed(m, p, cfg);
	if (p->v4)
		return sl_ct_hit(data, data_end, m, cfg, p, bytes, now, stamp, skip, side, true);
	return sl_ct_hit(data, data_end, m, cfg, p, bytes, now, stamp, skip, side, false);
}

#endif /* SLUICE_BPF_CONNTRACK_H */
