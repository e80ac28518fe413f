// SPDX-License-Identifier: GPL-2.0-only
/*
 * The conntrack lookup filter (ct_stamp; docs/datapath.md, "Lookup
 * filter") with BPF_PROG_TEST_RUN (tests/ct_env.h): a bucket's stamp is
 * consulted before the LRU lookups, every writer of the datapath covers
 * the entries it makes, entries live across a stamp unit and a reload that
 * raises a timeout stay found, and filter 0 turns it off. The bucket and
 * the stamp a deadline needs are computed here, not with sluice_abi.h's
 * functions.
 */
#include "ct_env.h"

#define UNIT_NS		(1ull << 30)		/* a stamp unit, as docs/datapath.md says */
#define BUCKET_BITS	15			/* 2^15 buckets */

/*
 * The bucket of K: of its two addresses alone, whatever the ports: each
 * address's 32-bit words (network order) xored into one, A and B; A * B
 * xor A + B (each the same both ways round), times the golden ratio's
 * 0x9e3779b1, the product's top BUCKET_BITS bits.
 */
static uint32_t bucket_of(const struct sl_ct_key *k)
{
	uint32_t w[4], a = 0, b = 0, mix;

	memcpy(w, k->addr_a, 16);
	for (int i = 0; i < 4; i++)
		a ^= w[i];
	memcpy(w, k->addr_b, 16);
	for (int i = 0; i < 4; i++)
		b ^= w[i];
	mix = (uint32_t)((uint64_t)a * b) ^ (uint32_t)(a + b);
	return (uint32_t)(mix * 0x9e3779b1ull) >> (32 - BUCKET_BITS);
}

/* The bucket of T's connection. */
static uint32_t bucket_t(struct tuple t)
{
	bool a;
	struct sl_ct_key k = key_of(&t, &a);

	return bucket_of(&k);
}

/*
 * The stamp of the assured (UNA false) or unassured entries of T's bucket,
 * read from the mapped array: a 64-bit word per bucket, the assured
 * entries' stamp in its low half, the unassured ones' in its high half.
 */
static uint32_t stamp_of(struct ct_env *e, struct tuple t, bool una)
{
	bool a;
	struct sl_ct_key k = key_of(&t, &a);
	uint64_t w = __atomic_load_n(&e->tbl.stamps[bucket_of(&k)], __ATOMIC_RELAXED);

	return (uint32_t)(una ? w >> 32 : w);
}

static void stamp_put(struct ct_env *e, struct tuple t, bool una, uint32_t v)
{
	bool a;
	struct sl_ct_key k = key_of(&t, &a);
	uint64_t *w = &e->tbl.stamps[bucket_of(&k)];

	if (una)
		*w = (*w & 0xffffffffull) | (uint64_t)v << 32;
	else
		*w = (*w & ~0xffffffffull) | v;
}

/* The stamp that covers a deadline END: its unit, and one more. */
static uint32_t needed(uint64_t end)
{
	return (uint32_t)(end / UNIT_NS) + 1;
}

static uint64_t coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/*
 * T's entry is covered by the stamp of its kind (the shard it is in) for
 * TO_S seconds after its last packet.
 */
static void covered(struct ct_env *e, struct tuple t, uint64_t to_s, const char *what)
{
	struct sl_ct_entry v;
	char msg[128];
	bool a, una = entry_in(e, false, t, &v, &a) != 0;

	snprintf(msg, sizeof(msg), "%s: entry", what);
	if (una && !ASSERT_OK(entry_in(e, true, t, &v, &a), msg))
		return;
	snprintf(msg, sizeof(msg), "%s: %s stamp %u covers last_seen + %llu s", what,
		 una ? "unassured" : "assured", stamp_of(e, t, una), (unsigned long long)to_s);
	ASSERT_TRUE(stamp_of(e, t, una) >= needed(v.last_seen + to_s * 1000000000ull), msg);
}

/* Put V under T's key in its assured (UNA false) or unassured shard, behind the filter's back. */
static int raw_put(struct ct_env *e, struct tuple t, bool una, struct sl_ct_entry *v)
{
	bool a;
	struct sl_ct_key k = key_of(&t, &a);
	struct sl_ct_key4 k4;
	bool v4 = k.family == 4;
	int fd = ct_shard_fd(v4 ? e->tbl.fd4 : e->tbl.fd6, ct_key_shard(&k, e->shards), una), err;

	if (fd < 0)
		return fd;
	v->orig_is_a = a;
	ct_key4_of(&k, &k4);
	err = bpf_map_update_elem(fd, v4 ? (void *)&k4 : (void *)&k, v, BPF_ANY) ? -errno : 0;
	close(fd);
	return err;
}

/* A UDP entry last seen now, with ORIG packets from its originator. */
static struct sl_ct_entry udp_entry(uint64_t orig)
{
	struct sl_ct_entry v = { .state = SL_CT_UDP };

	v.created = v.last_seen = coarse_ns();
	v.packets[SL_CT_DIR_ORIG] = orig;
	return v;
}

/* An entry put in the table behind the datapath's back is only found once its bucket is stamped. */
TEST(ct_filter_consulted)
{
	struct tuple t = { PEER4, LOCAL4, 7000, 5000, 17 };
	struct tuple u = { "203.0.113.77", LOCAL4, 7001, 5000, 17 };
	struct sl_ct_entry v = udp_entry(0);
	struct sl_ct_key ku;
	struct ct_env e;
	uint64_t f0;
	bool a;

	OPEN(e, 0);
	/* u's stamp is the agent's insert's alone (t's are set and cleared by hand below) */
	if (!ASSERT_TRUE(bucket_t(t) != bucket_t(u), "two pairs, two buckets"))
		goto out;
	if (!ASSERT_OK(raw_put(&e, t, false, &v), "raw insert"))
		goto out;
	ASSERT_EQ(stamp_of(&e, t, false), 0, "its bucket never stamped");
	ASSERT_EQ(stamp_of(&e, t, true), 0, "its bucket never stamped (unassured)");
	f0 = ct_stat(&e, SLUICE_CT_STAT_FILTERED);
	/* udp 5000 is not allowed: only the entry lets it in */
	ASSERT_EQ(in(&e, udp(PEER4, 7000, LOCAL4, 5000)), XDP_DROP, "not found: the filter skipped it");
	ASSERT_EQ(ct_stat(&e, SLUICE_CT_STAT_FILTERED), f0 + 2, "both lookups counted filter-skipped");
	ASSERT_TRUE(has_entry(&e, t), "a skip deletes nothing");
	/* the other kind's stamp does not cover it */
	stamp_put(&e, t, true, needed(coarse_ns() + 30 * 1000000000ull));
	ASSERT_EQ(in(&e, udp(PEER4, 7000, LOCAL4, 5000)), XDP_DROP,
		  "not found: the unassured entries' stamp is not the assured ones'");
	ASSERT_EQ(ct_stat(&e, SLUICE_CT_STAT_FILTERED), f0 + 3, "the assured lookup skipped");
	stamp_put(&e, t, true, 0);
	stamp_put(&e, t, false, needed(coarse_ns() + 30 * 1000000000ull));
	ASSERT_EQ(in(&e, udp(PEER4, 7000, LOCAL4, 5000)), XDP_PASS, "found once its bucket is stamped");
	ASSERT_EQ(ct_stat(&e, SLUICE_CT_STAT_FILTERED), f0 + 3, "not skipped");
	/* the agent's inserts (migration, the legacy table) stamp what they insert */
	ku = key_of(&u, &a);
	v.orig_is_a = a;
	ASSERT_OK(ct_shards_insert(&e.tbl, e.shards, &ku, &v, false), "ct_shards_insert");
	ASSERT_EQ(in(&e, udp("203.0.113.77", 7001, LOCAL4, 5000)), XDP_PASS,
		  "found: stamped by userspace");
	/* filter 0: every packet looked up, whatever the stamps */
	stamp_put(&e, t, false, 0);
	e.filter = false;
	if (ASSERT_OK(ct_set_cfg(&e, 1, 0), "filter off")) {
		ASSERT_EQ(in(&e, udp(PEER4, 7000, LOCAL4, 5000)), XDP_PASS, "off: looked up, found");
		ASSERT_EQ(ct_stat(&e, SLUICE_CT_STAT_FILTERED), f0 + 3, "off: nothing skipped");
	}
out:
	ct_env_close(&e);
}

/* Every writer of the datapath stamps what it makes, for its state's timeout. */
TEST(ct_filter_writers_stamp)
{
	struct tuple in4 = { PEER4, LOCAL4, 40200, 22, 6 };
	struct tuple in6 = { PEER6, LOCAL6, 40201, 22, 6 };
	struct tuple out4 = { LOCAL4, "198.51.100.20", 5300, 53, 17 };
	struct tuple o6 = { LOCAL6, "2001:db8:7::7", 41000, 443, 6 };
	struct ct_env e;

	OPEN(e, 0);
	/* XDP ingress: a SYN allowed by a rule, tcp-syn (120 s) */
	ASSERT_EQ(in(&e, tcp(PEER4, 40200, LOCAL4, 22, SYN)), XDP_PASS, "SYN in");
	covered(&e, in4, 120, "XDP SYN, IPv4");
	ASSERT_EQ(in(&e, tcp(PEER6, 40201, LOCAL6, 22, SYN)), XDP_PASS, "SYN in, IPv6");
	covered(&e, in6, 120, "XDP SYN, IPv6");
	/* a hit that moves it to a longer timeout, and its promotion: tcp-established (5 days) */
	out(&e, tcp(LOCAL4, 22, PEER4, 40200, SYN | ACK));
	ASSERT_EQ(in(&e, tcp(PEER4, 40200, LOCAL4, 22, ACK)), XDP_PASS, "ACK");
	ASSERT_EQ(state_of(&e, in4), SL_CT_ESTABLISHED, "established");
	covered(&e, in4, 432000, "established, promoted");
	/* TC egress: UDP (30 s), TCP opened outwards, completed through both programs */
	out(&e, udp(LOCAL4, 5300, "198.51.100.20", 53));
	covered(&e, out4, 30, "TC UDP");
	out(&e, tcp(LOCAL6, 41000, "2001:db8:7::7", 443, SYN));
	covered(&e, o6, 120, "TC SYN, IPv6");
	ASSERT_EQ(in(&e, tcp("2001:db8:7::7", 443, LOCAL6, 41000, SYN | ACK)), XDP_PASS,
		  "SYN-ACK in");
	out(&e, tcp(LOCAL6, 41000, "2001:db8:7::7", 443, ACK));
	ASSERT_EQ(state_of(&e, o6), SL_CT_ESTABLISHED, "established outwards");
	covered(&e, o6, 432000, "established through TC");
out:
	ct_env_close(&e);
}

/*
 * Time moves on past the stamps a connection got at its start: an
 * established connection idle for more than a stamp unit is found, an echo
 * past its timeout is skipped; then a UDP flow whose timeout a reload
 * raised is found (the raise's slack applies to every bucket while it
 * runs, hence two rounds). tcp-syn, udp, icmp 1 s, tcp-established 5 s;
 * each round sleeps 1 s + two units (~3.5 s).
 */
TEST(ct_filter_time_and_reload)
{
	/* three servers: a bucket per pair of addresses, each flow's own */
	const char *srv = "198.51.100.30", *srv_echo = "198.51.100.31", *srv_udp = "198.51.100.32";
	struct tuple tt = { LOCAL4, srv, 41500, 443, 6 };
	struct tuple te = { LOCAL4, srv_echo, 91, 91, 1 };
	struct tuple tu = { LOCAL4, srv_udp, 5301, 53, 17 };
	struct sl_ct_config c = { .stateful = 1 };
	struct ct_env e;
	uint64_t f0;

	OPEN(e, 0);
	if (!ASSERT_TRUE(bucket_t(tt) != bucket_t(te) && bucket_t(tt) != bucket_t(tu) &&
			 bucket_t(te) != bucket_t(tu), "three pairs, three buckets"))
		goto out;
	c.timeout[SLUICE_CT_TO_TCP_SYN] = 1;
	c.timeout[SLUICE_CT_TO_TCP_EST] = 5;
	c.timeout[SLUICE_CT_TO_UDP] = 1;
	c.timeout[SLUICE_CT_TO_ICMP] = 1;
	if (!ASSERT_OK(ct_write_cfg(&e, &c), "short timeouts"))
		goto out;
	/* opened outwards: only conntrack lets the server's packets in */
	out(&e, tcp(LOCAL4, 41500, srv, 443, SYN));
	ASSERT_EQ(in(&e, tcp(srv, 443, LOCAL4, 41500, SYN | ACK)), XDP_PASS, "SYN-ACK in");
	out(&e, tcp(LOCAL4, 41500, srv, 443, ACK));
	ASSERT_EQ(state_of(&e, tt), SL_CT_ESTABLISHED, "established");
	out(&e, echo(LOCAL4, srv_echo, true, 91));
	/* past 1 s + two units: every stamp for 1 s has passed */
	sleep_s(3.5);
	f0 = ct_stat(&e, SLUICE_CT_STAT_FILTERED);
	ASSERT_EQ(in(&e, tcp(srv, 443, LOCAL4, 41500, PSH | ACK)), XDP_PASS,
		  "established, idle 3.5 s: found");
	ASSERT_EQ(ct_stat(&e, SLUICE_CT_STAT_FILTERED), f0, "not skipped");
	ASSERT_EQ(in(&e, echo(srv_echo, LOCAL4, false, 91)), XDP_DROP,
		  "echo past its 1 s: dropped");
	ASSERT_EQ(ct_stat(&e, SLUICE_CT_STAT_FILTERED), f0 + 2, "without a lookup");

	out(&e, udp(LOCAL4, 5301, srv_udp, 53));
	/* udp 1 s -> 10 s: the entry's stamp was for 1 s */
	if (!ASSERT_OK(ct_set_timeout(&e, SLUICE_CT_TO_UDP, 10), "udp raised to 10 s"))
		goto out;
	sleep_s(3.5);
	f0 = ct_stat(&e, SLUICE_CT_STAT_FILTERED);
	ASSERT_EQ(in(&e, udp(srv_udp, 53, LOCAL4, 5301)), XDP_PASS, "udp raised to 10 s: found");
	/* never answered before: unassured, its bucket has no assured entry to look up */
	ASSERT_EQ(ct_stat(&e, SLUICE_CT_STAT_FILTERED), f0 + 1, "only the assured lookup skipped");
out:
	ct_env_close(&e);
}

/*
 * One family of ct_filter_bucket_of_pair: PEER and LOCAL hold an
 * established connection; OTHER, another source, holds none.
 */
static void pair_case(struct ct_env *e, const char *peer, const char *local, const char *other)
{
	struct tuple t = { peer, local, 40300, 22, 6 }, n = { other, local, 40400, 22, 6 };
	struct tuple u = { peer, local, 7100, 5000, 17 }, o = { other, local, 7100, 5000, 17 };
	struct sl_ct_entry v;
	uint64_t f0;
	bool a;

	if (!ASSERT_TRUE(bucket_t(t) == bucket_t(u) && bucket_t(t) != bucket_t(o),
			 "a bucket per pair of addresses"))
		return;
	ASSERT_EQ(in(e, tcp(peer, 40300, local, 22, SYN)), XDP_PASS, "SYN in");
	out(e, tcp(local, 22, peer, 40300, SYN | ACK));
	ASSERT_EQ(in(e, tcp(peer, 40300, local, 22, ACK)), XDP_PASS, "ACK in");
	ASSERT_EQ(state_of(e, t), SL_CT_ESTABLISHED, "established");
	f0 = ct_stat(e, SLUICE_CT_STAT_FILTERED);
	/* other ports, another protocol: the pair's bucket, both kinds live (SYN, promotion) */
	ASSERT_EQ(in(e, udp(peer, 7100, local, 5000)), XDP_DROP, "udp 5000 from the peer: dropped");
	ASSERT_EQ(ct_stat(e, SLUICE_CT_STAT_FILTERED), f0, "the peer's pair: both looked up");
	ASSERT_EQ(in(e, udp(other, 7100, local, 5000)), XDP_DROP, "udp 5000 from another: dropped");
	ASSERT_EQ(ct_stat(e, SLUICE_CT_STAT_FILTERED), f0 + 2, "another pair: neither looked up");
	/* turned away before its key was made, allowed by a rule: tracked under its own key */
	ASSERT_EQ(in(e, tcp(other, 40400, local, 22, SYN)), XDP_PASS, "SYN from another in");
	ASSERT_EQ(ct_stat(e, SLUICE_CT_STAT_FILTERED), f0 + 4, "its miss decided by the filter");
	if (ASSERT_OK(entry_in(e, true, n, &v, &a), "its entry, unassured, under its key")) {
		ASSERT_EQ(v.state, SL_CT_SYN_SENT, "opened by its SYN");
		ASSERT_EQ(v.orig_is_a, a, "its source the originator");
	}
	out(e, tcp(local, 22, other, 40400, SYN | ACK));
	ASSERT_EQ(in(e, tcp(other, 40400, local, 22, ACK)), XDP_PASS, "its ACK in");
	ASSERT_EQ(state_of(e, n), SL_CT_ESTABLISHED, "established from that entry");
}

/*
 * A bucket is the pair of addresses' (docs/datapath.md, "Lookup filter"):
 * whatever the ports and protocol, a packet between two hosts with a live
 * connection looks that connection's kinds up; one from a source without
 * any is turned away before its key is made, and when a rule allows it,
 * its connection is tracked under its key all the same. Both families.
 */
TEST(ct_filter_bucket_of_pair)
{
	struct ct_env e;

	OPEN(e, 0);
	pair_case(&e, PEER4, LOCAL4, "203.0.113.66");
	pair_case(&e, PEER6, LOCAL6, "2001:db8:5::66");
out:
	ct_env_close(&e);
}

static int raw_del(struct ct_env *e, struct tuple t, bool una)
{
	bool a;
	struct sl_ct_key k = key_of(&t, &a);

	return ct_shards_delete(&e->tbl, e->shards, &k, una);
}

/* The packets T's entry in its assured (UNA false) or unassured shard saw in the ORIG direction. */
static int64_t orig_packets(struct ct_env *e, struct tuple t, bool una)
{
	struct sl_ct_entry v;
	bool a;

	return entry_in(e, una, t, &v, &a) ? -1 : (int64_t)v.packets[SL_CT_DIR_ORIG];
}

/*
 * Each kind of entry has its own stamp in the bucket (docs/datapath.md,
 * "Lookup filter"), each family: a flow never answered (unassured) stamps
 * only the unassured entries' stamp, and its packets skip the assured
 * shard's lookup (proved: an entry planted there under the flow's own key,
 * without a stamp, is not found); its promotion stamps the assured
 * entries' stamp and it is found there from then on; a bucket whose
 * unassured entries are all past (stamp passed) skips the unassured lookup
 * (an entry planted there is not found) but still looks up its assured one.
 */
TEST(ct_filter_per_kind)
{
	static const char *const fam[][2] = { { LOCAL4, "198.51.100.40" },
					       { LOCAL6, "2001:db8:7::40" } };
	struct ct_env e;

	OPEN(e, 0);
	for (int i = 0; i < 2; i++) {
		const char *loc = fam[i][0], *srv = fam[i][1];
		struct tuple t = { loc, srv, (uint16_t)(5400 + i), 53, 17 };
		struct sl_ct_entry v = { .state = SL_CT_UDP };
		char msg[96];
		uint64_t f0;

#define M(what) (snprintf(msg, sizeof(msg), "IPv%d: %s", i ? 6 : 4, what), msg)
		/* opened outwards, never answered: an unassured entry, its stamp alone */
		if (!ASSERT_TRUE(out(&e, udp(loc, t.sport, srv, 53)), M("out")))
			continue;
		ASSERT_OK(entry_in(&e, true, t, &v, &(bool){ 0 }), M("unassured entry"));
		covered(&e, t, 30, M("new UDP flow"));
		ASSERT_EQ(stamp_of(&e, t, false), 0, M("the assured entries' stamp untouched"));
		/* an assured entry under its key, unstamped: the filter says there is none */
		v = udp_entry(1000);
		if (!ASSERT_OK(raw_put(&e, t, false, &v), M("planted assured")))
			continue;
		f0 = ct_stat(&e, SLUICE_CT_STAT_FILTERED);
		ASSERT_TRUE(out(&e, udp(loc, t.sport, srv, 53)), M("out again"));
		ASSERT_EQ(orig_packets(&e, t, false), 1000, M("assured lookup skipped: planted untouched"));
		ASSERT_EQ(orig_packets(&e, t, true), 2, M("found among the unassured entries"));
		ASSERT_EQ(ct_stat(&e, SLUICE_CT_STAT_FILTERED), f0 + 1, M("one lookup skipped"));
		/* the reply promotes it: stamped among the assured entries, found there */
		ASSERT_OK(raw_del(&e, t, false), M("planted removed"));
		ASSERT_EQ(in(&e, udp(srv, 53, loc, t.sport)), XDP_PASS, M("reply: found (unassured)"));
		ASSERT_EQ(orig_packets(&e, t, true), -1, M("promoted: not unassured"));
		ASSERT_EQ(orig_packets(&e, t, false), 2, M("promoted: assured"));
		covered(&e, t, 30, M("promoted"));
		f0 = ct_stat(&e, SLUICE_CT_STAT_FILTERED);
		/* udp 5400 from port 53 is not allowed: only the entry lets it in */
		ASSERT_EQ(in(&e, udp(srv, 53, loc, t.sport)), XDP_PASS, M("after the promotion: found"));
		ASSERT_EQ(ct_stat(&e, SLUICE_CT_STAT_FILTERED), f0, M("assured hit: nothing skipped"));
		/*
		 * No live unassured entry in the bucket (its stamp passed): an
		 * entry planted there is not looked up, the assured one is.
		 */
		stamp_put(&e, t, true, 0);
		if (!ASSERT_OK(raw_del(&e, t, false), M("assured removed")))
			continue;
		v = udp_entry(0);
		if (!ASSERT_OK(raw_put(&e, t, true, &v), M("planted unassured")))
			continue;
		f0 = ct_stat(&e, SLUICE_CT_STAT_FILTERED);
		ASSERT_EQ(in(&e, udp(srv, 53, loc, t.sport)), XDP_DROP,
			  M("unassured lookup skipped: the planted entry not found"));
		ASSERT_EQ(ct_stat(&e, SLUICE_CT_STAT_FILTERED), f0 + 1, M("one lookup skipped"));
		ASSERT_EQ(orig_packets(&e, t, true), 0, M("planted unassured untouched"));
		v.packets[SL_CT_DIR_ORIG] = 7;
		if (!ASSERT_OK(raw_put(&e, t, false, &v), M("planted assured again")))
			continue;
		ASSERT_EQ(in(&e, udp(srv, 53, loc, t.sport)), XDP_PASS,
			  M("the assured lookup is made: found"));
		ct_delete(&e, t);
#undef M
	}
out:
	ct_env_close(&e);
}

/*
 * A hit keeps the stamp of its own kind ahead: a flow never answered
 * (unassured) and an answered one (assured), udp 1 s, each sending every
 * 0.4 s for 4.4 s (past their first stamps, 1 s + at most two units), are
 * found by every packet, each in its own shard.
 */
TEST(ct_filter_hits_stamp_their_kind)
{
	const char *srv = "198.51.100.41";
	struct tuple tu = { LOCAL4, srv, 5501, 53, 17 }, ta = { LOCAL6, "2001:db8:7::41", 5502, 53, 17 };
	struct sl_ct_config c = { .stateful = 1 };
	struct ct_env e;

	OPEN(e, 0);
	c.timeout[SLUICE_CT_TO_UDP] = 1;
	if (!ASSERT_OK(ct_write_cfg(&e, &c), "udp 1 s"))
		goto out;
	out(&e, udp(LOCAL4, 5501, srv, 53));
	out(&e, udp(LOCAL6, 5502, ta.dst, 53));
	ASSERT_EQ(in(&e, udp(ta.dst, 53, LOCAL6, 5502)), XDP_PASS, "answered");
	ASSERT_EQ(orig_packets(&e, ta, false), 1, "answered: assured");
	ASSERT_EQ(orig_packets(&e, tu, true), 1, "never answered: unassured");
	for (int n = 0; n < 11; n++) {
		sleep_s(0.4);
		out(&e, udp(LOCAL4, 5501, srv, 53));
		out(&e, udp(LOCAL6, 5502, ta.dst, 53));
	}
	ASSERT_EQ(orig_packets(&e, tu, true), 12, "unassured: every packet found it");
	ASSERT_EQ(orig_packets(&e, ta, false), 12, "assured: every packet found it");
	ASSERT_EQ(orig_packets(&e, ta, true), -1, "assured: no second entry");
	covered(&e, tu, 1, "unassured, after 4.4 s");
	covered(&e, ta, 1, "assured, after 4.4 s");
out:
	ct_env_close(&e);
}

/* The agent's reload arithmetic (lib/ct_config.c): a raise adds slack, written first. */
TEST(ct_filter_next_slack)
{
	struct sl_ct_config cur = { .stateful = 1, .filter = 1 }, c;
	uint64_t now = 1000 * UNIT_NS;

	c = cur;
	ASSERT_FALSE(ct_filter_next(&cur, &c, now), "same timeouts: one write");
	ASSERT_EQ(c.filter, 1, "the filter as it was");
	ASSERT_EQ(c.filter_slack, 0, "no slack");
	c = cur;
	c.timeout[SLUICE_CT_TO_UDP] = 20;	/* below the default 30 */
	ASSERT_FALSE(ct_filter_next(&cur, &c, now), "a shorter timeout: one write");
	c = cur;
	c.timeout[SLUICE_CT_TO_UDP] = 300;	/* 270 s above the default */
	ASSERT_TRUE(ct_filter_next(&cur, &c, now), "a raise: the slack first");
	ASSERT_TRUE((uint64_t)c.filter_slack * UNIT_NS >= 270 * 1000000000ull, "slack >= the raise");
	/* the default tcp-established (5 days) is the longest: no entry stamped before lives longer */
	ASSERT_TRUE((uint64_t)c.filter_until * UNIT_NS >= now + 432000 * 1000000000ull,
		    "until every entry stamped before is past its timeout");
	cur = c;
	c.timeout[SLUICE_CT_TO_ICMP] = 90;	/* a second raise while the first's slack runs */
	ASSERT_TRUE(ct_filter_next(&cur, &c, now + UNIT_NS), "second raise");
	ASSERT_TRUE(c.filter_slack >= cur.filter_slack + 60 * 1000000000ull / UNIT_NS,
		    "slacks add up");
	cur.filter = 0;
	c = cur;
	c.timeout[SLUICE_CT_TO_UDP] = 900;
	ASSERT_FALSE(ct_filter_next(&cur, &c, now), "filter off: nothing to do");
	ASSERT_EQ(c.filter, 0, "stays off");
}
