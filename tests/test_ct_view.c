// SPDX-License-Identifier: GPL-2.0-only
/*
 * Conntrack entries as the CLI shows them (lib/ct_view.c) and the policy's
 * conntrack section compiled to ct_cfg (lib/ct_config.c): the originator is
 * src whichever endpoint the normalised key calls a; expires_in follows the
 * state's timeout; filters; the JSON keys of SPEC.md.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sys/socket.h>

#include "testlib.h"
#include "ct.h"
#include "prefix.h"

#define SEC 1000000000ull

static struct sl_ct_config cfg_default(void)
{
	struct sl_ct_config cfg = { .stateful = 1 };

	cfg.timeout[SLUICE_CT_TO_TCP_SYN] = 120;
	cfg.timeout[SLUICE_CT_TO_TCP_EST] = 432000;
	cfg.timeout[SLUICE_CT_TO_TCP_CLOSING] = 10;
	cfg.timeout[SLUICE_CT_TO_UDP] = 2;
	cfg.timeout[SLUICE_CT_TO_ICMP] = 30;
	return cfg;
}

/* A key for 192.0.2.1:40000 <-> 198.51.100.7:53 (a is the lower address). */
static void key4(struct sl_ct_key *k, uint8_t proto)
{
	memset(k, 0, sizeof(*k));
	inet_pton(AF_INET, "192.0.2.1", k->addr_a);
	inet_pton(AF_INET, "198.51.100.7", k->addr_b);
	k->port_a = htons(40000);
	k->port_b = htons(53);
	k->proto = proto;
	k->family = 4;
}

TEST(originator_is_src_either_way)
{
	struct sl_ct_config cfg = cfg_default();
	struct sl_ct_entry e = { .state = SL_CT_UDP, .orig_is_a = 1 };
	struct sl_ct_key k;
	struct ct_view v;
	char buf[64];

	key4(&k, 17);
	e.packets[SL_CT_DIR_ORIG] = 3;
	e.packets[SL_CT_DIR_REPLY] = 2;
	e.created = e.last_seen = 100 * SEC;
	if (!ASSERT_OK(ct_view_from(&k, &e, &cfg, 100 * SEC, &v), "view"))
		return;
	inet_ntop(AF_INET, v.src, buf, sizeof(buf));
	ASSERT_STREQ(buf, "192.0.2.1", "a originated: src is a");
	ASSERT_EQ(v.sport, 40000, "sport");
	ASSERT_EQ(v.dport, 53, "dport");
	ASSERT_EQ(v.packets[SL_CT_DIR_ORIG], 3, "orig packets");

	e.orig_is_a = 0;
	ct_view_from(&k, &e, &cfg, 100 * SEC, &v);
	inet_ntop(AF_INET, v.src, buf, sizeof(buf));
	ASSERT_STREQ(buf, "198.51.100.7", "b originated: src is b");
	inet_ntop(AF_INET, v.dst, buf, sizeof(buf));
	ASSERT_STREQ(buf, "192.0.2.1", "dst is a");
	ASSERT_EQ(v.sport, 53, "sport from b");
	ASSERT_EQ(v.dport, 40000, "dport from a");
	ASSERT_EQ(v.family, AF_INET, "family");

	k.family = 5;
	ASSERT_EQ(ct_view_from(&k, &e, &cfg, 0, &v), -EINVAL, "bad family refused");
}

TEST(expires_in_follows_state_timeout)
{
	static const struct {
		uint8_t state;
		uint64_t seen_ago_ms;
		int64_t want;
	} cases[] = {
		{ SL_CT_UDP, 0, 2 },
		{ SL_CT_UDP, 500, 1 },
		{ SL_CT_UDP, 2500, 0 },		/* past due: 0, never negative */
		{ SL_CT_SYN_SENT, 0, 120 },
		{ SL_CT_SYN_RECV, 20000, 100 },
		{ SL_CT_ESTABLISHED, 1000, 431999 },
		{ SL_CT_FIN_WAIT, 0, 10 },	/* half closed: the closing timeout */
		{ SL_CT_CLOSING, 4000, 6 },
		{ SL_CT_ICMP, 0, 30 },
		{ 0, 0, -1 },			/* no state: unknown */
	};
	struct sl_ct_config cfg = cfg_default();
	uint64_t now = 1000 * SEC;
	struct sl_ct_key k;
	struct ct_view v;

	key4(&k, 6);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sl_ct_entry e = { .state = cases[i].state, .created = 10 * SEC };

		e.last_seen = now - cases[i].seen_ago_ms * 1000000ull;
		ct_view_from(&k, &e, &cfg, now, &v);
		if (!ASSERT_EQ(v.expires_in, cases[i].want, "expires_in"))
			printf("#   case %zu: state %s\n", i, ct_state_name(cases[i].state));
		ASSERT_EQ(v.age, 990, "age");
		ASSERT_EQ(v.dead, cases[i].want == 0 && cases[i].state, "dead when past due");
	}
}

TEST(entry_past_due_is_dead)
{
	struct sl_ct_config cfg = cfg_default();
	struct sl_ct_entry e = { .state = SL_CT_UDP };
	uint64_t now = 1000 * SEC;
	struct sl_ct_key k;
	struct ct_view v;

	key4(&k, 17);
	e.last_seen = now - 1 * SEC;
	ct_view_from(&k, &e, &cfg, now, &v);
	ASSERT_FALSE(v.dead, "within its timeout: alive");
	e.last_seen = now - 3 * SEC;
	ct_view_from(&k, &e, &cfg, now, &v);
	ASSERT_TRUE(v.dead, "past its timeout: dead (the datapath treats it as gone)");
	ASSERT_EQ(v.expires_in, 0, "expires_in 0, never negative");
}

TEST(state_and_timeout_names)
{
	ASSERT_STREQ(ct_state_name(SL_CT_ESTABLISHED), "established", "established");
	ASSERT_STREQ(ct_state_name(SL_CT_FIN_WAIT), "fin-wait", "fin-wait");
	ASSERT_STREQ(ct_state_name(0), "unknown", "0");
	ASSERT_STREQ(ct_state_name(200), "unknown", "out of range");
	ASSERT_STREQ(ct_timeout_name(SLUICE_CT_TO_TCP_EST), "tcp-established", "timeout name");
	ASSERT_TRUE(ct_timeout_name(SLUICE_CT_TO_MAX) == NULL, "past the end");
}

TEST(filters)
{
	struct sl_ct_config cfg = cfg_default();
	struct sl_ct_entry e = { .state = SL_CT_UDP, .orig_is_a = 0 };
	struct ct_filter f;
	struct sl_ct_key k;
	struct ct_view v;
	char err[128];
	int proto;

	key4(&k, 17);
	ct_view_from(&k, &e, &cfg, 0, &v);	/* 198.51.100.7:53 -> 192.0.2.1:40000 */
	ct_filter_init(&f);
	ASSERT_TRUE(ct_filter_match(&f, &v), "no filter matches all");
	ASSERT_OK(ct_proto_parse("udp", &f.proto), "udp");
	ASSERT_TRUE(ct_filter_match(&f, &v), "proto udp");
	ct_proto_parse("tcp", &f.proto);
	ASSERT_FALSE(ct_filter_match(&f, &v), "proto tcp");
	ct_filter_init(&f);
	ASSERT_OK(sl_prefix_parse("198.51.100.0/24", 15, &f.src, err, sizeof(err)), "prefix");
	f.has_src = true;
	ASSERT_TRUE(ct_filter_match(&f, &v), "src is the originator");
	f.dst = f.src;
	f.has_src = false;
	f.has_dst = true;
	ASSERT_FALSE(ct_filter_match(&f, &v), "originator is not dst");
	ct_filter_init(&f);
	f.port = 40000;
	ASSERT_TRUE(ct_filter_match(&f, &v), "--port matches dport");
	f.port = 53;
	ASSERT_TRUE(ct_filter_match(&f, &v), "--port matches sport");
	f.port = -1;
	f.dport = 53;
	ASSERT_FALSE(ct_filter_match(&f, &v), "dport is the responder's port");
	ct_filter_init(&f);
	ASSERT_OK(sl_prefix_parse("2001:db8::/32", 13, &f.src, err, sizeof(err)), "v6");
	f.has_src = true;
	ASSERT_FALSE(ct_filter_match(&f, &v), "v6 prefix never matches v4");

	ASSERT_OK(ct_proto_parse("icmpv6", &proto), "icmpv6");
	ASSERT_EQ(proto, 58, "icmpv6 number");
	ASSERT_OK(ct_proto_parse("132", &proto), "number");
	ASSERT_EQ(proto, 132, "sctp by number");
	ASSERT_EQ(ct_proto_parse("256", &proto), -EINVAL, "256");
	ASSERT_EQ(ct_proto_parse("tcpp", &proto), -EINVAL, "typo");
	ASSERT_EQ(ct_proto_parse("", &proto), -EINVAL, "empty");
	ASSERT_EQ(ct_proto_parse("6x", &proto), -EINVAL, "trailing junk");
}

TEST(json_keys_and_ipv6)
{
	struct sl_ct_config cfg = cfg_default();
	struct sl_ct_entry e = { .state = SL_CT_ICMP, .orig_is_a = 1 };
	struct json_object *o, *x;
	struct sl_ct_key k = { .proto = 58, .family = 6 };
	struct ct_view v;

	inet_pton(AF_INET6, "2001:db8::1", k.addr_a);
	inet_pton(AF_INET6, "2001:db8::2", k.addr_b);
	k.port_a = k.port_b = htons(777);
	e.bytes[0] = 100;
	e.bytes[1] = 50;
	e.created = e.last_seen = 5 * SEC;
	ct_view_from(&k, &e, &cfg, 5 * SEC, &v);
	o = ct_view_json(&v);
	if (!ASSERT_TRUE(o, "json"))
		return;
	ASSERT_STREQ(json_object_get_string(json_object_object_get(o, "proto")), "icmpv6", "proto");
	ASSERT_STREQ(json_object_get_string(json_object_object_get(o, "src")), "2001:db8::1", "src");
	ASSERT_STREQ(json_object_get_string(json_object_object_get(o, "dst")), "2001:db8::2", "dst");
	ASSERT_EQ(json_object_get_int(json_object_object_get(o, "sport")), 777, "echo id");
	ASSERT_STREQ(json_object_get_string(json_object_object_get(o, "state")), "icmp", "state");
	ASSERT_EQ(json_object_get_int64(json_object_object_get(o, "expires_in")), 30, "expires");
	ASSERT_EQ(json_object_get_int64(json_object_object_get(o, "bytes")), 150, "bytes total");
	ASSERT_EQ(json_object_get_int64(json_object_object_get(o, "reply_bytes")), 50, "reply");
	json_object_put(o);

	e.state = 0;
	ct_view_from(&k, &e, &cfg, 5 * SEC, &v);
	o = ct_view_json(&v);
	ASSERT_TRUE(json_object_object_get_ex(o, "expires_in", &x) && x == NULL,
		    "unknown expiry is JSON null");
	json_object_put(o);
}

TEST(config_compile)
{
	struct sl_firewall fw = { .present = true, .stateful = true };
	struct sl_policy pol;
	struct sl_ct_config cfg;
	uint32_t max;

	memset(&pol, 0, sizeof(pol));
	policy_defaults(&pol);
	ct_config_compile(&pol, &cfg, &max);
	ASSERT_EQ(cfg.stateful, 0, "no firewall: conntrack off");
	ASSERT_EQ(max, SLUICE_CT_DEFAULT_MAX, "default capacity");
	ASSERT_EQ(cfg.timeout[SLUICE_CT_TO_TCP_EST], 432000, "default established");
	pol.fws = &fw;
	pol.nfws = 1;
	pol.ct.timeout[SLUICE_CT_TO_UDP] = 7;
	pol.ct.max_entries = 2048;
	ct_config_compile(&pol, &cfg, &max);
	ASSERT_EQ(cfg.stateful, 1, "firewall: stateful by default");
	ASSERT_EQ(cfg.timeout[SLUICE_CT_TO_UDP], 7, "udp");
	ASSERT_EQ(max, 2048, "capacity");
	fw.stateful = false;
	ct_config_compile(&pol, &cfg, &max);
	ASSERT_EQ(cfg.stateful, 0, "stateful: false");
}
