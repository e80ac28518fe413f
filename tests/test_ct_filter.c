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
#define BUCKETS		(1u << 16)

/* The bucket of K: the shard hash's multiply chain over the key's words, folded, bits 6..21. */
static uint32_t bucket_of(const struct sl_ct_key *k)
{
	uint32_t w[10], h = 0;
	int n;

	if (k->family == 4) {
		/* the IPv4 key's words (sl_ct_key4), hashed as the 40-byte key they stand for */
		memset(w, 0, sizeof(w));
		memcpy(&w[0], k->addr_a, 4);
		memcpy(&w[4], k->addr_b, 4);
		memcpy(&w[8], &k->port_a, 8);
	} else {
		memcpy(w, k, sizeof(w));
	}
	n = 10;
	for (int i = 0; i < n; i++)
		h = (h ^ w[i]) * 0x9e3779b1u;
	h ^= h >> 16;
	return (h >> 6) % BUCKETS;
}

/* The stamp of T's bucket, read from the mapped array: two buckets per 64-bit word. */
static uint32_t stamp_of(struct ct_env *e, struct tuple t)
{
	bool a;
	struct sl_ct_key k = key_of(&t, &a);
	uint32_t b = bucket_of(&k);
	uint64_t w = __atomic_load_n(&e->tbl.stamps[b / 2], __ATOMIC_RELAXED);

	return (uint32_t)(b & 1 ? w >> 32 : w);
}

static void stamp_put(struct ct_env *e, struct tuple t, uint32_t v)
{
	bool a;
	struct sl_ct_key k = key_of(&t, &a);
	uint32_t b = bucket_of(&k);
	uint64_t *w = &e->tbl.stamps[b / 2];

	if (b & 1)
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

/* T's entry is covered by its bucket's stamp for TO_S seconds after its last packet. */
static void covered(struct ct_env *e, struct tuple t, uint64_t to_s, const char *what)
{
	struct sl_ct_entry v;
	char msg[128];
	bool a;

	snprintf(msg, sizeof(msg), "%s: entry", what);
	if (!ASSERT_OK(entry_of(e, t, &v, &a), msg))
		return;
	snprintf(msg, sizeof(msg), "%s: stamp %u covers last_seen + %llu s", what, stamp_of(e, t),
		 (unsigned long long)to_s);
	ASSERT_TRUE(stamp_of(e, t) >= needed(v.last_seen + to_s * 1000000000ull), msg);
}

/* An entry put in the table behind the datapath's back is only found once its bucket is stamped. */
TEST(ct_filter_consulted)
{
	struct tuple t = { PEER4, LOCAL4, 7000, 5000, 17 };
	struct tuple u = { PEER4, LOCAL4, 7001, 5000, 17 };
	struct sl_ct_entry v = { .state = SL_CT_UDP };
	struct sl_ct_key k, ku;
	struct sl_ct_key4 k4;
	struct ct_env e;
	uint64_t f0;
	bool a;
	int fd;

	OPEN(e, 0);
	k = key_of(&t, &a);
	v.orig_is_a = a;
	v.created = v.last_seen = coarse_ns();
	fd = ct_shard_fd(e.tbl.fd4, ct_key_shard(&k, e.shards), false);
	ct_key4_of(&k, &k4);
	if (!ASSERT_TRUE(fd >= 0, "shard") ||
	    !ASSERT_OK(bpf_map_update_elem(fd, &k4, &v, BPF_NOEXIST) ? -errno : 0, "raw insert"))
		goto out;
	close(fd);
	ASSERT_EQ(stamp_of(&e, t), 0, "its bucket never stamped");
	f0 = ct_stat(&e, SLUICE_CT_STAT_FILTERED);
	/* udp 5000 is not allowed: only the entry lets it in */
	ASSERT_EQ(in(&e, udp(PEER4, 7000, LOCAL4, 5000)), XDP_DROP, "not found: the filter skipped it");
	ASSERT_EQ(ct_stat(&e, SLUICE_CT_STAT_FILTERED), f0 + 1, "counted filter-skipped");
	ASSERT_TRUE(has_entry(&e, t), "a skip deletes nothing");
	stamp_put(&e, t, needed(coarse_ns() + 30 * 1000000000ull));
	ASSERT_EQ(in(&e, udp(PEER4, 7000, LOCAL4, 5000)), XDP_PASS, "found once its bucket is stamped");
	ASSERT_EQ(ct_stat(&e, SLUICE_CT_STAT_FILTERED), f0 + 1, "not skipped");
	/* the agent's inserts (migration, the legacy table) stamp what they insert */
	ku = key_of(&u, &a);
	v.orig_is_a = a;
	ASSERT_OK(ct_shards_insert(&e.tbl, e.shards, &ku, &v, false), "ct_shards_insert");
	ASSERT_EQ(in(&e, udp(PEER4, 7001, LOCAL4, 5000)), XDP_PASS, "found: stamped by userspace");
	/* filter 0: every packet looked up, whatever the stamps */
	stamp_put(&e, t, 0);
	e.filter = false;
	if (ASSERT_OK(ct_set_cfg(&e, 1, 0), "filter off")) {
		ASSERT_EQ(in(&e, udp(PEER4, 7000, LOCAL4, 5000)), XDP_PASS, "off: looked up, found");
		ASSERT_EQ(ct_stat(&e, SLUICE_CT_STAT_FILTERED), f0 + 1, "off: nothing skipped");
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
	const char *srv = "198.51.100.30";
	struct tuple tt = { LOCAL4, srv, 41500, 443, 6 };
	struct sl_ct_config c = { .stateful = 1 };
	struct ct_env e;
	uint64_t f0;

	OPEN(e, 0);
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
	out(&e, echo(LOCAL4, srv, true, 91));
	/* past 1 s + two units: every stamp for 1 s has passed */
	sleep_s(3.5);
	f0 = ct_stat(&e, SLUICE_CT_STAT_FILTERED);
	ASSERT_EQ(in(&e, tcp(srv, 443, LOCAL4, 41500, PSH | ACK)), XDP_PASS,
		  "established, idle 3.5 s: found");
	ASSERT_EQ(ct_stat(&e, SLUICE_CT_STAT_FILTERED), f0, "not skipped");
	ASSERT_EQ(in(&e, echo(srv, LOCAL4, false, 91)), XDP_DROP, "echo past its 1 s: dropped");
	ASSERT_EQ(ct_stat(&e, SLUICE_CT_STAT_FILTERED), f0 + 1, "without a lookup");

	out(&e, udp(LOCAL4, 5301, srv, 53));
	/* udp 1 s -> 10 s: the entry's stamp was for 1 s */
	if (!ASSERT_OK(ct_set_timeout(&e, SLUICE_CT_TO_UDP, 10), "udp raised to 10 s"))
		goto out;
	sleep_s(3.5);
	f0 = ct_stat(&e, SLUICE_CT_STAT_FILTERED);
	ASSERT_EQ(in(&e, udp(srv, 53, LOCAL4, 5301)), XDP_PASS, "udp raised to 10 s: found");
	ASSERT_EQ(ct_stat(&e, SLUICE_CT_STAT_FILTERED), f0, "not skipped");
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
