// SPDX-License-Identifier: GPL-2.0-only
/*
 * Early deny rules (`early: true`, docs/policy.md) with BPF_PROG_TEST_RUN on
 * both hooks (sluice_xdp and sluice_tcx), stateful: a packet whose first
 * match is an early deny is dropped before conntrack, even on a tracked
 * connection, and counted on the rule, its drop event naming it; conntrack
 * never sees it (the entry does not move). Everything else goes as without
 * early rules: tracked packets pass before the rules, a miss is classified
 * once (one count, on its first match), an allowed new connection opens an
 * entry. Connections are opened the way the host does, through the TC
 * egress program; entries are read with keys built by the test (ct_env.h).
 */
#include "ct_env.h"

/* Rule cut is early when EARLY; the same policy otherwise. */
#define EARLY_POLICY(early)							\
	"sets:\n"								\
	"  bad:\n"								\
	"    prefixes: [198.51.100.0/24, 2001:db8:bad::/48]\n"			\
	"firewall:\n"								\
	"  interfaces: [slf0]\n"						\
	"  default: deny\n"							\
	"  stateful: false\n"	/* conntrack goes on through ct_cfg */		\
	"  rules:\n"								\
	"    - name: cut\n"							\
	"      action: deny\n"							\
	"      early: " early "\n"						\
	"      src: [\"@bad\"]\n"						\
	"    - name: plain\n"							\
	"      action: deny\n"							\
	"      src: [203.0.113.64/26, 2001:db8:64::/48]\n"			\
	"    - name: ssh\n"							\
	"      action: allow\n"							\
	"      dst: [192.0.2.1, 2001:db8::1]\n"					\
	"      proto: tcp\n"							\
	"      dport: [22]\n"

enum { R_CUT, R_PLAIN, R_SSH, R_N };

#define NONE	(-2)	/* no rule counter moves (conntrack passed the packet) */
#define DFLT	(-1)	/* the default action's counter */

/* Remote peers by role, per family. */
enum peer { BAD, PLAIN, GOOD };
static const char *const PEERS[2][3] = {
	{ "198.51.100.5", "203.0.113.70", "203.0.113.5" },
	{ "2001:db8:bad::5", "2001:db8:64::70", "2001:db8:5::5" },
};

struct row {
	const char *what;
	bool early;		/* rule cut is early */
	enum peer peer;
	bool opened;		/* the host opened peer:443 <- local:41000 first (a SYN out) */
	uint16_t sport, dport;	/* of the inbound segment */
	uint8_t flags;
	uint32_t verdict;
	int counted;		/* the one rule counter that moves: R_*, DFLT or NONE */
	int state;		/* the state of the inbound segment's connection after, -1 none */
};

static const struct row ROWS[] = {
	{ "tracked, early deny: cut before conntrack", true, BAD, true, 443, 41000, SYN | ACK,
	  XDP_DROP, R_CUT, SL_CT_SYN_SENT },
	{ "tracked, plain deny of the same source: conntrack passes it", false, BAD, true, 443,
	  41000, SYN | ACK, XDP_PASS, NONE, SL_CT_SYN_RECV },
	{ "tracked, a plain deny beside early rules: conntrack passes it", true, PLAIN, true,
	  443, 41000, SYN | ACK, XDP_PASS, NONE, SL_CT_SYN_RECV },
	{ "tracked, allowed source, early rules: passes", true, GOOD, true, 443, 41000,
	  SYN | ACK, XDP_PASS, NONE, SL_CT_SYN_RECV },
	{ "new, early deny", true, BAD, false, 40000, 22, SYN, XDP_DROP, R_CUT, -1 },
	{ "new, plain deny beside early rules: classified once", true, PLAIN, false, 40000, 22,
	  SYN, XDP_DROP, R_PLAIN, -1 },
	{ "new, allowed beside early rules: opens an entry", true, GOOD, false, 40000, 22, SYN,
	  XDP_PASS, R_SSH, SL_CT_SYN_SENT },
	{ "new, no rule beside early rules: the default", true, GOOD, false, 40000, 80, SYN,
	  XDP_DROP, DFLT, -1 },
	{ "new, early deny written false: a plain deny", false, BAD, false, 40000, 22, SYN,
	  XDP_DROP, R_CUT, -1 },
};

/*
 * One env for every test, conntrack on, the frames through hook TC or XDP;
 * each test applies the policy it wants (the env's policy is its own: not
 * ct_env_shared's copy).
 */
static struct ct_env *env(bool tc)
{
	static struct ct_env e;
	static int err = 1;

	if (err == 1)
		err = ct_env_open_policy(&e, 0, EARLY_POLICY("true"));
	if (!ASSERT_OK(err, "open") || !ASSERT_OK(ct_set_cfg(&e, 1, 0), "ct_cfg") ||
	    !ASSERT_OK(ct_flush(&e), "flush"))
		return NULL;
	xdp_env_hook(&e.x, tc);
	return &e;
}

/* Packets counted on rule counter ID (a rule's index: xdp_env_apply gives no ids). */
static uint64_t counted(struct ct_env *e, uint32_t id)
{
	struct sl_counter c;

	return sl_counters_read_at(e->x.rule_fd, id, 1, &c) ? ~0ull : c.packets;
}

static void check_counters(struct ct_env *e, const struct row *r)
{
	for (int id = DFLT; id < R_N; id++) {
		uint64_t got = counted(e, id == DFLT ? SLUICE_CNT_DEFAULT : (uint32_t)id);

		if (!ASSERT_EQ(got, id == r->counted ? 1 : 0, "packets counted"))
			printf("#   row \"%s\": counter %d\n", r->what, id);
	}
}

static void rows(int fam, bool tc)
{
	const char *local = fam == 4 ? LOCAL4 : LOCAL6;
	static uint64_t gen = 10;
	struct ct_env *e = env(tc);
	int on = -1;

	if (!e)
		return;
	for (size_t i = 0; i < sizeof(ROWS) / sizeof(ROWS[0]); i++) {
		const struct row *r = &ROWS[i];
		const char *peer = PEERS[fam == 6][r->peer];
		struct tuple t = { local, peer, r->dport, r->sport, 6 };

		if (on != r->early &&
		    !ASSERT_OK(xdp_env_apply(&e->x, r->early ? EARLY_POLICY("true") :
					     EARLY_POLICY("false"), ++gen, NULL), "apply"))
			break;
		on = r->early;
		if (!ASSERT_OK(ct_flush(e), "flush") ||
		    !ASSERT_OK(xdp_env_reset_counters(&e->x), "reset counters"))
			break;
		if (r->opened) {
			out(e, tcp(local, 41000, peer, 443, SYN));
			ASSERT_EQ(state_of(e, t), SL_CT_SYN_SENT, "the host opened it");
		}
		if (!ASSERT_EQ(in(e, tcp(peer, r->sport, local, r->dport, r->flags)), r->verdict,
			       "verdict") |
		    !ASSERT_EQ(state_of(e, t), r->state, "the connection's state after"))
			printf("#   row \"%s\" (IPv%d, %s)\n", r->what, fam, tc ? "tc" : "xdp");
		check_counters(e, r);
	}
}

TEST(early_rows_v4)
{
	rows(4, false);
}

TEST(early_rows_v4_tc)
{
	rows(4, true);
}

TEST(early_rows_v6)
{
	rows(6, false);
}

TEST(early_rows_v6_tc)
{
	rows(6, true);
}

static int collect(void *ctx, void *data, size_t size)
{
	struct sl_event *ev = ctx;

	if (size == sizeof(*ev))
		*ev = *(struct sl_event *)data;
	return 0;
}

/*
 * The drop event of an early deny names its rule, on either hook; a
 * tracked connection's packets of a source a reload makes early-denied
 * are dropped from then on, and counted, on both hooks.
 */
static void event_and_reload(bool tc)
{
	struct sl_ev_config cfg = { .rate = 100 };
	struct tuple t = { LOCAL4, PEERS[0][BAD], 41000, 443, 6 };
	struct ring_buffer *rb = NULL;
	struct sl_event ev = { 0 };
	static uint64_t gen = 100;
	struct ct_env *e = env(tc);
	__u32 key = 0;

	if (!e)
		return;
	if (!ASSERT_OK(xdp_env_apply(&e->x, EARLY_POLICY("false"), ++gen, NULL), "apply plain") ||
	    !ASSERT_OK(xdp_env_reset_counters(&e->x), "reset counters") ||
	    !ASSERT_OK(bpf_map_update_elem(bpf_map__fd(e->x.skel->maps.sl_ev_cfg), &key, &cfg,
					   BPF_ANY), "event rate"))
		goto out;
	rb = ring_buffer__new(bpf_map__fd(e->x.skel->maps.sl_events), collect, &ev, NULL);
	if (!ASSERT_TRUE(rb != NULL, "ring buffer"))
		goto out;
	ring_buffer__consume(rb);
	out(e, tcp(LOCAL4, 41000, t.dst, 443, SYN));
	ASSERT_EQ(in(e, tcp(t.dst, 443, LOCAL4, 41000, SYN | ACK)), XDP_PASS, "reply passes");
	out(e, tcp(LOCAL4, 41000, t.dst, 443, ACK));
	ASSERT_EQ(state_of(e, t), SL_CT_ESTABLISHED, "established");
	ASSERT_EQ(in(e, tcp(t.dst, 443, LOCAL4, 41000, PSH | ACK)), XDP_PASS,
		  "plain deny: the tracked connection goes on");
	ASSERT_EQ(ring_buffer__consume(rb), 0, "no event");

	if (!ASSERT_OK(xdp_env_apply(&e->x, EARLY_POLICY("true"), ++gen, NULL), "apply early"))
		goto out;
	ASSERT_EQ(in(e, tcp(t.dst, 443, LOCAL4, 41000, PSH | ACK)), XDP_DROP,
		  "early deny: the tracked connection is cut");
	ASSERT_EQ(counted(e, R_CUT), 1, "counted on cut");
	if (ASSERT_EQ(ring_buffer__consume(rb), 1, "one event")) {
		ASSERT_EQ(ev.reason, SLUICE_DROP_POLICY_RULE, "reason: a rule");
		ASSERT_EQ(ev.rule, R_CUT, "the event names cut");
		ASSERT_EQ(ev.gen, gen, "of the generation that dropped it");
	}
	/* the entry stays as it was: the packet never reached conntrack */
	ASSERT_EQ(state_of(e, t), SL_CT_ESTABLISHED, "entry untouched");
out:
	ring_buffer__free(rb);
}

TEST(early_event_and_reload)
{
	event_and_reload(false);
}

TEST(early_event_and_reload_tc)
{
	event_and_reload(true);
}
