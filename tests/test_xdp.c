// SPDX-License-Identifier: GPL-2.0-only
/*
 * The XDP firewall, packet by packet, with BPF_PROG_TEST_RUN: each case is a
 * frame written out as bytes, the verdict it must get, and the one counter
 * that must move (a drop reason, a rule, the default, or pass-non-ip).
 * The policy goes the real way: YAML -> policy_load_paths -> fw_compile ->
 * fw_maps_write.
 */
#include <sys/socket.h>

#include <linux/bpf.h>

#include "policy_edit.h"
#include "testlib.h"
#include "xdp_env.h"

/* The policy every table case runs against. Rule indexes are used below. */
static const char *const POLICY =
	"sets:\n"
	"  blocked:\n"
	"    prefixes: [198.51.100.0/24, 203.0.113.200/32, 2001:db8:bad::/48]\n"
	"firewall:\n"
	"  interfaces: [slb0]\n"
	"  default: deny\n"
	"  stateful: false\n"
	"  rules:\n"
	"    - name: block\n"			/* 0 */
	"      action: deny\n"
	"      src: [\"@blocked\"]\n"
	"    - name: ssh\n"			/* 1 */
	"      action: allow\n"
	"      src: [203.0.113.0/24, 2001:db8:1::/64]\n"
	"      proto: tcp\n"
	"      dport: [22]\n"
	"    - name: web\n"			/* 2 */
	"      action: allow\n"
	"      dst: [192.0.2.1, 2001:db8::1]\n"
	"      proto: [tcp, udp]\n"
	"      dport: [80, \"8000-8080\"]\n"
	"    - name: ping\n"			/* 3 */
	"      action: allow\n"
	"      proto: [icmp, icmpv6]\n"
	"    - name: frag-host\n"		/* 4 */
	"      action: allow\n"
	"      src: [192.0.2.99, 2001:db8:99::/48]\n"
	"      proto: udp\n"
	"    - name: dns-host\n"		/* 5 */
	"      action: allow\n"
	"      src: [192.0.2.77, 2001:db8:77::1]\n"
	"      proto: udp\n"
	"      dport: [53]\n"
	"    - name: deny-gre\n"		/* 6 */
	"      action: deny\n"
	"      dst: [192.0.2.0/24]\n"
	"      proto: [tcp]\n"
	"      sport: [\"1-1023\"]\n";

enum { R_BLOCK, R_SSH, R_WEB, R_PING, R_FRAG, R_DNS, R_DENY_LOWSPORT };

/* ---- frames as bytes ---------------------------------------------------- */

#define B16(x)		(((x) >> 8) & 0xff), ((x) & 0xff)
#define ETH(type)	0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, B16(type)
#define VTAG(vid, type)	B16(vid), B16(type)	/* after a TPID: TCI, inner type */
#define A4(a, b, c, d)	a, b, c, d
/* 2001:db8:X::Y */
#define A6(x, y)	0x20, 0x01, 0x0d, 0xb8, B16(x), 0, 0, 0, 0, 0, 0, 0, 0, B16(y)

/* IPv4 header (then source, destination); total length set by fix_lengths(). */
#define IP4X(vihl, proto, frag, ...) \
	vihl, 0, 0, 0, 0, 1, B16(frag), 64, proto, 0, 0, __VA_ARGS__
#define IP4(proto, ...)		IP4X(0x45, proto, 0, __VA_ARGS__)
/* IPv4 header with an explicit total length (not fixed up). */
#define IP4L(tot, proto, ...) \
	0x45, 0, B16(tot), 0, 1, 0, 0, 64, proto, 0, 0, __VA_ARGS__
#define NOP4		1, 1, 1, 1	/* four IPv4 NOP options */

/* IPv6 header, then source and destination */
#define IP6(nh, ...)		0x60, 0, 0, 0, 0, 0, nh, 64, __VA_ARGS__
#define IP6L(plen, nh, ...)	0x60, 0, 0, 0, B16(plen), nh, 64, __VA_ARGS__
/* 8-octet extension header (hop-by-hop, routing, dest-opts, ...): PadN */
#define EXT8(nh)	nh, 0, 1, 4, 0, 0, 0, 0
/* 16-octet extension header */
#define EXT16(nh)	nh, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
/* AH: payload length 1 -> (1 + 2) * 4 = 12 octets */
#define AH(nh)		nh, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1
/* fragment header: offset in 8-octet units, more-fragments flag */
#define FRAG6(nh, off, mf)	nh, 0, B16(((off) << 3) | (mf)), 0, 0, 0, 7

#define TCPX(sp, dp, doff)	B16(sp), B16(dp), 0, 0, 0, 1, 0, 0, 0, 0, \
				((doff) << 4), 0x02, 0xff, 0xff, 0, 0, 0, 0
#define TCP(sp, dp)		TCPX(sp, dp, 5)
#define UDP(sp, dp)		B16(sp), B16(dp), 0, 8, 0, 0
#define ICMP4_ECHO		8, 0, 0, 0, 0, 1, 0, 1
#define ICMP6_ECHO		128, 0, 0, 0, 0, 1, 0, 1
#define PAD4			0, 0, 0, 0

#define P_IP	0x0800
#define P_IP6	0x86DD
#define P_ARP	0x0806
#define P_LLDP	0x88CC
#define P_8021Q	0x8100
#define P_8021AD 0x88A8
#define P_LOCAL	0x88B5	/* local experimental ethertype */

/* ---- expectations ------------------------------------------------------- */

enum expect_kind { K_RULE, K_DEFAULT, K_PARSE_DROP, K_NONIP };

struct xcase {
	const char *name;
	const uint8_t *pkt;
	size_t len;
	bool raw_len;		/* keep the IP length fields exactly as written */
	enum expect_kind kind;
	int idx;		/* rule index (K_RULE) or drop reason (K_PARSE_DROP) */
	__u32 verdict;		/* XDP_PASS or XDP_DROP */
};

#define PKT(...) .pkt = (const uint8_t[]){ __VA_ARGS__ }, \
		 .len = sizeof((const uint8_t[]){ __VA_ARGS__ })
#define RULE_PASS(r)	.kind = K_RULE, .idx = (r), .verdict = XDP_PASS
#define RULE_DROP(r)	.kind = K_RULE, .idx = (r), .verdict = XDP_DROP
#define DEFAULT_DROP	.kind = K_DEFAULT, .verdict = XDP_DROP
#define PARSE_DROP(why)	.kind = K_PARSE_DROP, .idx = SLUICE_##why, .verdict = XDP_DROP
#define NONIP		.kind = K_NONIP, .verdict = XDP_PASS

#define SSH_SRC4	A4(203, 0, 113, 5)
#define WEB_DST4	A4(192, 0, 2, 1)
#define OTHER4		A4(192, 0, 2, 50)
#define SSH_SRC6	A6(1, 5)
#define WEB_DST6	A6(0, 1)
#define OTHER6		A6(0x50, 1)
/* ::ffff:a.b.c.d, an IPv4-mapped address */
#define MAPPED6(a, b, c, d)	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d

static const struct xcase cases[] = {
	/* IPv4 */
	{ "v4 tcp ssh", PKT(ETH(P_IP), IP4(6, SSH_SRC4, WEB_DST4), TCP(40000, 22)),
	  RULE_PASS(R_SSH) },
	{ "v4 tcp web 80", PKT(ETH(P_IP), IP4(6, OTHER4, WEB_DST4), TCP(40000, 80)),
	  RULE_PASS(R_WEB) },
	{ "v4 udp web range 8080", PKT(ETH(P_IP), IP4(17, OTHER4, WEB_DST4), UDP(5000, 8080)),
	  RULE_PASS(R_WEB) },
	{ "v4 tcp 8081 unmatched", PKT(ETH(P_IP), IP4(6, OTHER4, WEB_DST4), TCP(40000, 8081)),
	  DEFAULT_DROP },
	{ "v4 blocked /32 inside ssh /24",
	  PKT(ETH(P_IP), IP4(6, A4(203, 0, 113, 200), WEB_DST4), TCP(40000, 22)),
	  RULE_DROP(R_BLOCK) },
	{ "v4 neighbour of blocked /32",
	  PKT(ETH(P_IP), IP4(6, A4(203, 0, 113, 201), WEB_DST4), TCP(40000, 22)),
	  RULE_PASS(R_SSH) },
	{ "v4 blocked /24", PKT(ETH(P_IP), IP4(17, A4(198, 51, 100, 7), WEB_DST4), UDP(1, 80)),
	  RULE_DROP(R_BLOCK) },
	{ "v4 icmp echo", PKT(ETH(P_IP), IP4(1, OTHER4, WEB_DST4), ICMP4_ECHO),
	  RULE_PASS(R_PING) },
	{ "v4 udp frag-host", PKT(ETH(P_IP), IP4(17, A4(192, 0, 2, 99), OTHER4), UDP(9, 9)),
	  RULE_PASS(R_FRAG) },
	{ "v4 tcp low sport to 192.0.2.0/24",
	  PKT(ETH(P_IP), IP4(6, OTHER4, A4(192, 0, 2, 9)), TCP(1023, 4000)),
	  RULE_DROP(R_DENY_LOWSPORT) },
	{ "v4 tcp sport 1024 to 192.0.2.0/24",
	  PKT(ETH(P_IP), IP4(6, OTHER4, A4(192, 0, 2, 9)), TCP(1024, 4000)), DEFAULT_DROP },
	{ "v4 gre unmatched", PKT(ETH(P_IP), IP4(47, OTHER4, WEB_DST4), PAD4), DEFAULT_DROP },
	{ "v4 options ihl 6",
	  PKT(ETH(P_IP), IP4X(0x46, 6, 0, SSH_SRC4, WEB_DST4), NOP4, TCP(40000, 22)),
	  RULE_PASS(R_SSH) },
	{ "v4 options ihl 15",
	  PKT(ETH(P_IP), IP4X(0x4f, 6, 0, SSH_SRC4, WEB_DST4), NOP4, NOP4, NOP4, NOP4, NOP4,
	      NOP4, NOP4, NOP4, NOP4, NOP4, TCP(40000, 22)),
	  RULE_PASS(R_SSH) },
	{ "v4 ihl 4", PKT(ETH(P_IP), IP4X(0x44, 6, 0, SSH_SRC4, WEB_DST4), TCP(40000, 22)),
	  PARSE_DROP(DROP_BAD_IP4_IHL) },
	{ "v4 ihl past end",
	  PKT(ETH(P_IP), IP4X(0x4f, 6, 0, SSH_SRC4, WEB_DST4), NOP4, NOP4),
	  PARSE_DROP(DROP_BAD_IP4_IHL) },
	{ "v4 version 5", PKT(ETH(P_IP), IP4X(0x55, 6, 0, SSH_SRC4, WEB_DST4), TCP(40000, 22)),
	  PARSE_DROP(DROP_BAD_IP4_VER) },
	{ "v4 version 6 under ethertype ip",
	  PKT(ETH(P_IP), IP6(6, SSH_SRC6, WEB_DST6), TCP(40000, 22)),
	  PARSE_DROP(DROP_BAD_IP4_VER) },
	{ "v4 total length below ihl",
	  PKT(ETH(P_IP), IP4L(19, 6, SSH_SRC4, WEB_DST4), TCP(40000, 22)), .raw_len = true,
	  PARSE_DROP(DROP_BAD_IP4_LEN) },
	/* 0 is a BIG TCP GSO packet's only past 64 KiB (test_hook.py big_tcp) */
	{ "v4 total length 0 in a short frame",
	  PKT(ETH(P_IP), IP4L(0, 6, SSH_SRC4, WEB_DST4), TCP(40000, 22)), .raw_len = true,
	  PARSE_DROP(DROP_BAD_IP4_LEN) },
	{ "v4 total length past frame",
	  PKT(ETH(P_IP), IP4L(41, 6, SSH_SRC4, WEB_DST4), TCP(40000, 22)), .raw_len = true,
	  PARSE_DROP(DROP_BAD_IP4_LEN) },
	{ "v4 ethernet padding after total length",
	  PKT(ETH(P_IP), IP4L(40, 6, SSH_SRC4, WEB_DST4), TCP(40000, 22), PAD4, PAD4),
	  .raw_len = true, RULE_PASS(R_SSH) },
	{ "v4 tcp header beyond total length",
	  PKT(ETH(P_IP), IP4L(28, 6, SSH_SRC4, WEB_DST4), TCP(40000, 22)), .raw_len = true,
	  PARSE_DROP(DROP_TRUNC_TCP) },
	{ "v4 truncated ip header", PKT(ETH(P_IP), 0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6),
	  .raw_len = true, PARSE_DROP(DROP_TRUNC_IP4) },
	{ "v4 truncated tcp",
	  PKT(ETH(P_IP), IP4(6, SSH_SRC4, WEB_DST4), B16(40000), B16(22), 0, 0, 0, 1, 0, 0),
	  PARSE_DROP(DROP_TRUNC_TCP) },
	{ "v4 tcp options complete",
	  PKT(ETH(P_IP), IP4(6, SSH_SRC4, WEB_DST4), TCPX(40000, 22, 7), NOP4, NOP4),
	  RULE_PASS(R_SSH) },
	{ "v4 tcp options truncated",
	  PKT(ETH(P_IP), IP4(6, SSH_SRC4, WEB_DST4), TCPX(40000, 22, 8), NOP4),
	  PARSE_DROP(DROP_TRUNC_TCP) },
	{ "v4 tcp doff 4", PKT(ETH(P_IP), IP4(6, SSH_SRC4, WEB_DST4), TCPX(40000, 22, 4)),
	  PARSE_DROP(DROP_BAD_TCP_DOFF) },
	{ "v4 truncated udp", PKT(ETH(P_IP), IP4(17, OTHER4, WEB_DST4), B16(5000), B16(80)),
	  PARSE_DROP(DROP_TRUNC_UDP) },
	/* the UDP header is in the frame, not within the total length (parse.h sl_parse_fast4) */
	{ "v4 udp header beyond total length",
	  PKT(ETH(P_IP), IP4L(24, 17, OTHER4, WEB_DST4), UDP(5000, 8080)), .raw_len = true,
	  PARSE_DROP(DROP_TRUNC_UDP) },
	{ "v4 truncated icmp", PKT(ETH(P_IP), IP4(1, OTHER4, WEB_DST4), 8, 0, 0, 0),
	  PARSE_DROP(DROP_TRUNC_ICMP) },
	{ "v4 first fragment keeps ports",
	  PKT(ETH(P_IP), IP4X(0x45, 17, 0x2000, A4(192, 0, 2, 77), OTHER4), UDP(5000, 53)),
	  RULE_PASS(R_DNS) },
	{ "v4 non-first fragment: no port rule matches",
	  PKT(ETH(P_IP), IP4X(0x45, 17, 185, A4(192, 0, 2, 77), OTHER4), UDP(5000, 53)),
	  DEFAULT_DROP },
	{ "v4 non-first fragment: portless rule matches",
	  PKT(ETH(P_IP), IP4X(0x45, 17, 0x2000 | 185, A4(192, 0, 2, 99), OTHER4), 1, 2),
	  RULE_PASS(R_FRAG) },
	{ "v4 non-first fragment tcp to web",
	  PKT(ETH(P_IP), IP4X(0x45, 6, 100, OTHER4, WEB_DST4), TCP(40000, 80)), DEFAULT_DROP },
	/* a first fragment too short for the TCP header: its ports and flags
	 * would come with a later fragment, which no port rule ever sees */
	{ "v4 tiny first fragment: 8 bytes of tcp",
	  PKT(ETH(P_IP), IP4X(0x45, 6, 0x2000, SSH_SRC4, WEB_DST4), B16(40000), B16(22), 0, 0,
	      0, 1),
	  PARSE_DROP(DROP_TRUNC_TCP) },
	/* offset 1 overlaps a first fragment's TCP flags (RFC 1858): still no ports */
	{ "v4 fragment offset 1 tcp from the ssh source",
	  PKT(ETH(P_IP), IP4X(0x45, 6, 1, SSH_SRC4, WEB_DST4), B16(40000), B16(22), 0, 0, 0, 1),
	  DEFAULT_DROP },
	/* VLAN */
	{ "802.1Q v4 ssh",
	  PKT(ETH(P_8021Q), VTAG(100, P_IP), IP4(6, SSH_SRC4, WEB_DST4), TCP(40000, 22)),
	  RULE_PASS(R_SSH) },
	{ "802.1ad QinQ v4 ssh",
	  PKT(ETH(P_8021AD), VTAG(10, P_8021Q), VTAG(100, P_IP), IP4(6, SSH_SRC4, WEB_DST4),
	      TCP(40000, 22)),
	  RULE_PASS(R_SSH) },
	{ "802.1Q v6 blocked",
	  PKT(ETH(P_8021Q), VTAG(7, P_IP6), IP6(17, A6(0xbad, 1), WEB_DST6), UDP(1, 2)),
	  RULE_DROP(R_BLOCK) },
	{ "three vlan tags",
	  PKT(ETH(P_8021AD), VTAG(10, P_8021Q), VTAG(100, P_8021Q), VTAG(5, P_IP),
	      IP4(6, SSH_SRC4, WEB_DST4), TCP(40000, 22)),
	  PARSE_DROP(DROP_VLAN_DEPTH) },
	{ "truncated vlan tag", PKT(ETH(P_8021Q), 0, 100), PARSE_DROP(DROP_TRUNC_VLAN) },
	{ "truncated inner vlan tag", PKT(ETH(P_8021AD), VTAG(10, P_8021Q), 0),
	  PARSE_DROP(DROP_TRUNC_VLAN) },
	{ "802.1Q arp", PKT(ETH(P_8021Q), VTAG(100, P_ARP), 0, 1, 8, 0, 6, 4, 0, 1), NONIP },
	/* IPv6 */
	{ "v6 tcp ssh", PKT(ETH(P_IP6), IP6(6, SSH_SRC6, WEB_DST6), TCP(40000, 22)),
	  RULE_PASS(R_SSH) },
	{ "v6 tcp web", PKT(ETH(P_IP6), IP6(6, OTHER6, WEB_DST6), TCP(40000, 8000)),
	  RULE_PASS(R_WEB) },
	{ "v6 tcp other dst", PKT(ETH(P_IP6), IP6(6, OTHER6, A6(0, 2)), TCP(40000, 80)),
	  DEFAULT_DROP },
	{ "v6 blocked /48", PKT(ETH(P_IP6), IP6(6, A6(0xbad, 0x99), WEB_DST6), TCP(1, 22)),
	  RULE_DROP(R_BLOCK) },
	{ "v6 icmpv6 echo", PKT(ETH(P_IP6), IP6(58, OTHER6, WEB_DST6), ICMP6_ECHO),
	  RULE_PASS(R_PING) },
	{ "v6 hop-by-hop + tcp",
	  PKT(ETH(P_IP6), IP6(0, SSH_SRC6, WEB_DST6), EXT8(6), TCP(40000, 22)),
	  RULE_PASS(R_SSH) },
	{ "v6 hbh + routing + dest-opts + tcp",
	  PKT(ETH(P_IP6), IP6(0, SSH_SRC6, WEB_DST6), EXT8(43), EXT16(60), EXT8(6),
	      TCP(40000, 22)),
	  RULE_PASS(R_SSH) },
	{ "v6 ah + tcp", PKT(ETH(P_IP6), IP6(51, SSH_SRC6, WEB_DST6), AH(6), TCP(40000, 22)),
	  RULE_PASS(R_SSH) },
	{ "v6 mobility, hip, shim6 headers + udp",
	  PKT(ETH(P_IP6), IP6(135, A6(0x99, 3), OTHER6), EXT8(139), EXT8(140), EXT8(253),
	      EXT8(254), EXT8(17), UDP(1, 2)),
	  RULE_PASS(R_FRAG) },
	{ "v6 first fragment keeps ports",
	  PKT(ETH(P_IP6), IP6(44, A6(0x77, 1), OTHER6), FRAG6(17, 0, 1), UDP(5000, 53)),
	  RULE_PASS(R_DNS) },
	{ "v6 non-first fragment: no port rule matches",
	  PKT(ETH(P_IP6), IP6(44, A6(0x77, 1), OTHER6), FRAG6(17, 100, 0), UDP(5000, 53)),
	  DEFAULT_DROP },
	{ "v6 non-first fragment: portless rule matches",
	  PKT(ETH(P_IP6), IP6(0, A6(0x99, 1), OTHER6), EXT8(44), FRAG6(17, 3, 1), 1, 2),
	  RULE_PASS(R_FRAG) },
	{ "v6 tiny first fragment: 8 bytes of tcp",
	  PKT(ETH(P_IP6), IP6(44, SSH_SRC6, WEB_DST6), FRAG6(6, 0, 1), B16(40000), B16(22), 0,
	      0, 0, 1),
	  PARSE_DROP(DROP_TRUNC_TCP) },
	/* offset 0 and no more fragments (RFC 6946): the kernel reads on, so does the parser */
	{ "v6 atomic fragment keeps ports",
	  PKT(ETH(P_IP6), IP6(44, SSH_SRC6, WEB_DST6), FRAG6(6, 0, 0), TCP(40000, 22)),
	  RULE_PASS(R_SSH) },
	/* a second fragment header with an offset: what follows is payload, not UDP */
	{ "v6 first fragment's chain with a non-first fragment header: no ports",
	  PKT(ETH(P_IP6), IP6(44, A6(0x77, 1), OTHER6), FRAG6(44, 0, 1), FRAG6(17, 100, 0),
	      UDP(5000, 53)),
	  DEFAULT_DROP },
	{ "v6 payload length 0: the frame decides",
	  PKT(ETH(P_IP6), IP6L(0, 6, SSH_SRC6, WEB_DST6), TCP(40000, 22)), .raw_len = true,
	  RULE_PASS(R_SSH) },
	{ "v6 eight extension headers",
	  PKT(ETH(P_IP6), IP6(0, SSH_SRC6, WEB_DST6), EXT8(60), EXT8(60), EXT8(60), EXT8(60),
	      EXT8(60), EXT8(60), EXT8(43), EXT8(6), TCP(40000, 22)),
	  RULE_PASS(R_SSH) },
	{ "v6 nine extension headers",
	  PKT(ETH(P_IP6), IP6(0, SSH_SRC6, WEB_DST6), EXT8(60), EXT8(60), EXT8(60), EXT8(60),
	      EXT8(60), EXT8(60), EXT8(60), EXT8(43), EXT8(6), TCP(40000, 22)),
	  PARSE_DROP(DROP_IP6_EXT_DEPTH) },
	{ "v6 from an IPv4-mapped source (the ssh rule's 203.0.113.5)",
	  PKT(ETH(P_IP6), IP6(6, MAPPED6(203, 0, 113, 5), WEB_DST6), TCP(40000, 22)),
	  PARSE_DROP(DROP_IP6_V4MAPPED) },
	{ "v6 to an IPv4-mapped destination",
	  PKT(ETH(P_IP6), IP6(17, SSH_SRC6, MAPPED6(192, 0, 2, 1)), UDP(5000, 53)),
	  PARSE_DROP(DROP_IP6_V4MAPPED) },
	{ "v6 truncated header", PKT(ETH(P_IP6), 0x60, 0, 0, 0, 0, 20, 6, 64, A6(1, 5)),
	  .raw_len = true, PARSE_DROP(DROP_TRUNC_IP6) },
	{ "v6 version 4 under ethertype ipv6",
	  PKT(ETH(P_IP6), 0x40, 0, 0, 0, 0, 20, 6, 64, SSH_SRC6, WEB_DST6, TCP(40000, 22)),
	  .raw_len = true, PARSE_DROP(DROP_BAD_IP6_VER) },
	{ "v6 payload length past frame",
	  PKT(ETH(P_IP6), IP6L(21, 6, SSH_SRC6, WEB_DST6), TCP(40000, 22)), .raw_len = true,
	  PARSE_DROP(DROP_TRUNC_IP6) },
	{ "v6 truncated extension header",
	  PKT(ETH(P_IP6), IP6(0, SSH_SRC6, WEB_DST6), 6, 0, 1, 4),
	  PARSE_DROP(DROP_TRUNC_IP6_EXT) },
	{ "v6 extension length past end",
	  PKT(ETH(P_IP6), IP6(60, SSH_SRC6, WEB_DST6), 6, 3, 1, 4, 0, 0, 0, 0, PAD4, PAD4),
	  PARSE_DROP(DROP_TRUNC_IP6_EXT) },
	{ "v6 truncated tcp", PKT(ETH(P_IP6), IP6(6, SSH_SRC6, WEB_DST6), B16(1), B16(22)),
	  PARSE_DROP(DROP_TRUNC_TCP) },
	{ "v6 tcp doff 2", PKT(ETH(P_IP6), IP6(6, SSH_SRC6, WEB_DST6), TCPX(40000, 22, 2)),
	  PARSE_DROP(DROP_BAD_TCP_DOFF) },
	{ "v6 truncated udp", PKT(ETH(P_IP6), IP6(17, OTHER6, WEB_DST6), B16(1), B16(80), 0),
	  PARSE_DROP(DROP_TRUNC_UDP) },
	{ "v6 truncated icmpv6", PKT(ETH(P_IP6), IP6(58, OTHER6, WEB_DST6), 128, 0, 0, 0),
	  PARSE_DROP(DROP_TRUNC_ICMP) },
	{ "v6 no next header", PKT(ETH(P_IP6), IP6(59, OTHER6, WEB_DST6)), DEFAULT_DROP },
	{ "v6 unassigned next header is a protocol, classified",
	  PKT(ETH(P_IP6), IP6(200, A6(0xbad, 2), WEB_DST6), PAD4, PAD4), RULE_DROP(R_BLOCK) },
	{ "802.1Q v6 dest-opts + fragment + udp",
	  PKT(ETH(P_8021Q), VTAG(9, P_IP6), IP6(60, A6(0x77, 1), OTHER6), EXT8(44),
	      FRAG6(17, 0, 0), UDP(1000, 53)),
	  RULE_PASS(R_DNS) },
	/* not IP */
	{ "arp", PKT(ETH(P_ARP), 0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 2, A4(192, 0, 2, 2),
		     0, 0, 0, 0, 0, 0, A4(192, 0, 2, 1)),
	  NONIP },
	{ "lldp", PKT(ETH(P_LLDP), 2, 7, 4, 2, 0, 0, 0, 0, 1, 4, 3, 1, 2, 3, 0, 0), NONIP },
	/* an IPv4 UDP packet under another ethertype is not IP (sl_parse_fast4) */
	{ "local ethertype carrying ip udp",
	  PKT(ETH(P_LOCAL), IP4L(28, 17, OTHER4, WEB_DST4), UDP(5000, 8080)), .raw_len = true,
	  NONIP },
};

/* Set the IPv4 total length / IPv6 payload length from the frame length. */
static void fix_lengths(uint8_t *p, size_t len)
{
	size_t off = 12;
	uint16_t type = p[off] << 8 | p[off + 1];

	while ((type == P_8021Q || type == P_8021AD) && off + 6 <= len) {
		off += 4;
		type = p[off] << 8 | p[off + 1];
	}
	off += 2;
	if (type == P_IP && off + 4 <= len && (p[off] >> 4) == 4) {
		p[off + 2] = (len - off) >> 8;
		p[off + 3] = (len - off) & 0xff;
	} else if (type == P_IP6 && off + 6 <= len && len >= off + 40) {
		p[off + 4] = (len - off - 40) >> 8;
		p[off + 5] = (len - off - 40) & 0xff;
	}
}

static bool check_counters(struct xdp_env *env, const struct xcase *c)
{
	struct sl_counter verdict[SLUICE_VERDICT_MAX], drop[SLUICE_DROP_MAX];
	struct sl_counter other_v[SLUICE_VERDICT_MAX], other_d[SLUICE_DROP_MAX];
	static struct sl_counter rule[SLUICE_CNT_MAX];
	uint32_t xdp_drop = SLUICE_VERDICT_IDX(SLUICE_HOOK_XDP, SLUICE_VERDICT_DROP);
	struct sl_counter raw;
	int want_verdict = -1, want_drop = -1, want_rule = -1;
	bool ok = true;

	/* the hook the frame went through counts it; the other hook nothing */
	if (!ASSERT_OK(xdp_env_verdicts(env, env->tc, verdict), "read sl_verdict_v2") ||
	    !ASSERT_OK(xdp_env_drops(env, env->tc, drop), "read sl_drop_v2") ||
	    !ASSERT_OK(xdp_env_verdicts(env, !env->tc, other_v), "read the other hook's") ||
	    !ASSERT_OK(xdp_env_drops(env, !env->tc, other_d), "read the other hook's") ||
	    !ASSERT_OK(sl_counters_read(env->rule_fd, SLUICE_CNT_MAX, rule),
		       "read fw_rule_cnt"))
		return false;
	for (int i = 0; i < SLUICE_VERDICT_MAX; i++)
		ok &= ASSERT_EQ(other_v[i].packets, 0, "the other hook's verdicts");
	/* an XDP drop is counted once, by its reason: the verdict is their sum */
	if (!ASSERT_OK(sl_counter_read(env->verdict_fd, xdp_drop, &raw), "read the XDP drop entry"))
		return false;
	ok &= ASSERT_EQ(raw.packets, 0, "no XDP drop verdict counted apart");
	for (int i = 0; i < SLUICE_DROP_MAX; i++)
		ok &= ASSERT_EQ(other_d[i].packets, 0, "the other hook's drops");

	switch (c->kind) {
	case K_RULE:
		want_rule = c->idx;
		if (c->verdict == XDP_DROP)
			want_drop = SLUICE_DROP_POLICY_RULE;
		break;
	case K_DEFAULT:
		want_rule = SLUICE_CNT_DEFAULT;
		if (c->verdict == XDP_DROP)
			want_drop = SLUICE_DROP_POLICY_DEFAULT;
		break;
	case K_PARSE_DROP:
		want_drop = c->idx;
		break;
	case K_NONIP:
		want_verdict = SLUICE_VERDICT_PASS_NONIP;
		break;
	}
	if (want_verdict < 0)
		want_verdict = c->verdict == XDP_DROP ? SLUICE_VERDICT_DROP : SLUICE_VERDICT_PASS;

	for (int i = 0; i < SLUICE_VERDICT_MAX; i++) {
		ok &= ASSERT_EQ(verdict[i].packets, i == want_verdict, "sl_verdict packets");
		ok &= ASSERT_EQ(verdict[i].bytes, i == want_verdict ? c->len : 0,
				"sl_verdict bytes");
	}
	for (int i = 0; i < SLUICE_DROP_MAX; i++) {
		if (!tl_check(drop[i].packets == (__u64)(i == want_drop), __FILE__, __LINE__,
			      "sl_drop[%d] = %llu, want %d", i,
			      (unsigned long long)drop[i].packets, i == want_drop))
			ok = false;
	}
	for (int i = 0; i < SLUICE_CNT_MAX; i++) {
		if (!tl_check(rule[i].packets == (__u64)(i == want_rule), __FILE__, __LINE__,
			      "fw_rule_cnt[%d] = %llu, want %d", i,
			      (unsigned long long)rule[i].packets, i == want_rule))
			ok = false;
	}
	if (want_rule >= 0)
		ok &= ASSERT_EQ(rule[want_rule].bytes, c->len, "fw_rule_cnt bytes");
	return ok;
}

/*
 * Would BPF_PROG_TEST_RUN refuse frame P (LEN bytes) on a tc program? It
 * pulls the IP header of an untagged IPv4/IPv6 frame in before the program
 * runs (bpf_prog_test_run_skb) and fails when it is not there. XDP runs them.
 */
static bool tc_test_run_refuses(const uint8_t *p, size_t len)
{
	uint16_t type = len >= 14 ? (uint16_t)(p[12] << 8 | p[13]) : 0;

	return (type == 0x0800 && len < 14 + 20) || (type == 0x86dd && len < 14 + 40);
}

/* The table through the XDP entry or, TC, the tcx ingress program. */
static void table_cases(bool tc)
{
	struct xdp_env env;
	int failed = 0, refused = 0;

	if (!ASSERT_OK(xdp_env_open(&env), "open"))
		goto out;
	xdp_env_hook(&env, tc);
	if (!ASSERT_OK(xdp_env_apply(&env, POLICY, 1, NULL), "apply policy"))
		goto out;
	if (!ASSERT_TRUE(sizeof(cases) / sizeof(cases[0]) >= 40, "at least 40 cases"))
		goto out;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct xcase *c = &cases[i];
		uint8_t pkt[512], out[512];
		__u32 retval = ~0u, out_len = sizeof(out);

		memcpy(pkt, c->pkt, c->len);
		if (!c->raw_len)
			fix_lengths(pkt, c->len);
		if (!ASSERT_OK(xdp_env_reset_counters(&env), "reset counters"))
			goto out;
		if (tc && tc_test_run_refuses(pkt, c->len)) {
			ASSERT_EQ(xdp_env_run(&env, pkt, c->len, &retval, out, &out_len), -EINVAL,
				  "the kernel refuses a short IP frame to tc");
			refused++;
			continue;
		}
		if (!ASSERT_OK(xdp_env_run(&env, pkt, c->len, &retval, out, &out_len), c->name))
			goto out;
		bool ok = ASSERT_EQ(retval, c->verdict, c->name);

		ok &= ASSERT_EQ(out_len, c->len, "frame length unchanged");
		ok &= ASSERT_TRUE(!memcmp(out, pkt, c->len), "frame bytes unchanged");
		ok &= check_counters(&env, c);
		if (!ok) {
			printf("# ^ case %zu: %s\n", i, c->name);
			failed++;
		}
	}
	ASSERT_EQ(failed, 0, "failed cases");
	if (tc)
		printf("# %d of %zu cases not runnable on tc (short IP frames)\n", refused,
		       sizeof(cases) / sizeof(cases[0]));
	ASSERT_TRUE(refused <= 4, "most cases run on tc");
out:
	xdp_env_close(&env);
}

TEST(xdp_table_cases)
{
	table_cases(false);
}

TEST(tc_table_cases)
{
	table_cases(true);
}

/* Before any policy is written (fw_cfg.active == 0) the firewall is open. */
TEST(xdp_inactive_passes_everything)
{
	const uint8_t bad[] = { ETH(P_IP), IP4X(0x44, 6, 0, SSH_SRC4, WEB_DST4), PAD4 };
	struct sl_counter verdict[SLUICE_VERDICT_MAX];
	struct xdp_env env;
	__u32 retval = ~0u;

	if (!ASSERT_OK(xdp_env_open(&env), "open"))
		goto out;
	if (!ASSERT_OK(xdp_env_run(&env, bad, sizeof(bad), &retval, NULL, NULL), "run"))
		goto out;
	ASSERT_EQ(retval, XDP_PASS, "verdict without policy");
	if (ASSERT_OK(sl_counters_read(env.verdict_fd, SLUICE_VERDICT_MAX, verdict), "read"))
		ASSERT_EQ(verdict[SLUICE_VERDICT_PASS].packets, 1, "counted as pass");
out:
	xdp_env_close(&env);
}

/* XDP never sees a frame shorter than an Ethernet header: the kernel refuses
 * it, so truncated-eth is reachable only from TC. If this ever changes, the
 * table above needs a truncated-eth case. */
TEST(xdp_short_frame_refused_by_kernel)
{
	const uint8_t runt[13] = { 0x02 };
	struct xdp_env env;
	__u32 retval;

	if (!ASSERT_OK(xdp_env_open(&env), "open"))
		goto out;
	ASSERT_OK(xdp_env_apply(&env, POLICY, 1, NULL), "apply policy");
	ASSERT_EQ(xdp_env_run(&env, runt, sizeof(runt), &retval, NULL, NULL), -EINVAL,
		  "13-byte frame");
out:
	xdp_env_close(&env);
}

static const char *const POLICY_ALLOW =
	"firewall:\n"
	"  interfaces: [slb0]\n"
	"  default: allow\n"
	"  stateful: false\n"
	"  rules:\n"
	"    - name: deny-v6-net\n"
	"      action: deny\n"
	"      src: [2001:db8:5::/48, 2001:db8:6::/48]\n"
	"    - name: deny-telnet\n"
	"      action: deny\n"
	"      proto: tcp\n"
	"      dport: [23]\n";

static const char *const POLICY_ALLOW2 =
	"firewall:\n"
	"  interfaces: [slb0]\n"
	"  default: allow\n"
	"  stateful: false\n"
	"  rules:\n"
	"    - name: deny-v6-net\n"
	"      action: deny\n"
	"      src: [2001:db8:6::/48]\n";

/* Entries of the fw_src6 trie of the default policy slot. */
static int trie_count(const struct fw_map_fds *fds)
{
	struct fw_lpm6_key k, next;
	struct fw_map_fds in;
	uint32_t slot;
	int n = 0, fd;

	if (fw_ifslot_get(fds, SLUICE_IFSLOT_DEFAULT, &slot) || fw_slot_open(fds, slot, &in))
		return -1;
	fd = in.tbl[SLUICE_FWT_SRC6];
	for (int r = bpf_map_get_next_key(fd, NULL, &next); !r;
	     r = bpf_map_get_next_key(fd, &k, &next)) {
		k = next;
		n++;
	}
	fw_slot_close(&in);
	return n;
}

/*
 * A second policy replaces the first completely: default allow counts under
 * the default index, a removed IPv6 prefix leaves the trie and stops
 * matching, a removed rule stops matching.
 */
TEST(xdp_policy_replace)
{
	uint8_t v6_5[] = { ETH(P_IP6), IP6(17, A6(5, 1), OTHER6), UDP(1, 2) };
	uint8_t v6_6[] = { ETH(P_IP6), IP6(17, A6(6, 1), OTHER6), UDP(1, 2) };
	uint8_t telnet[] = { ETH(P_IP), IP4(6, OTHER4, WEB_DST4), TCP(40000, 23) };
	static struct sl_counter rule[SLUICE_CNT_MAX];
	struct fw_tables t1 = { 0 }, t2 = { 0 };
	struct xdp_env env;
	__u32 retval;

	fix_lengths(v6_5, sizeof(v6_5));
	fix_lengths(v6_6, sizeof(v6_6));
	fix_lengths(telnet, sizeof(telnet));
	if (!ASSERT_OK(xdp_env_open(&env), "open"))
		goto out;
	if (!ASSERT_OK(xdp_env_apply(&env, POLICY_ALLOW, 1, &t1), "apply first"))
		goto out;
	ASSERT_EQ(trie_count(&env.fds), t1.n6[0], "fw_src6 entries, first policy");
	xdp_env_run(&env, v6_5, sizeof(v6_5), &retval, NULL, NULL);
	ASSERT_EQ(retval, XDP_DROP, "2001:db8:5::1 denied by first policy");
	xdp_env_run(&env, telnet, sizeof(telnet), &retval, NULL, NULL);
	ASSERT_EQ(retval, XDP_DROP, "telnet denied by first policy");

	if (!ASSERT_OK(xdp_env_apply(&env, POLICY_ALLOW2, 2, &t2), "apply second"))
		goto out;
	ASSERT_TRUE(t2.n6[0] < t1.n6[0], "second policy has fewer v6 prefixes");
	ASSERT_EQ(trie_count(&env.fds), t2.n6[0], "the new slot holds only the new prefixes");
	ASSERT_OK(xdp_env_reset_counters(&env), "reset");
	xdp_env_run(&env, v6_5, sizeof(v6_5), &retval, NULL, NULL);
	ASSERT_EQ(retval, XDP_PASS, "2001:db8:5::1 passes after replace");
	xdp_env_run(&env, telnet, sizeof(telnet), &retval, NULL, NULL);
	ASSERT_EQ(retval, XDP_PASS, "telnet passes after replace");
	xdp_env_run(&env, v6_6, sizeof(v6_6), &retval, NULL, NULL);
	ASSERT_EQ(retval, XDP_DROP, "2001:db8:6::1 still denied");
	if (ASSERT_OK(sl_counters_read(env.rule_fd, SLUICE_CNT_MAX, rule), "read")) {
		ASSERT_EQ(rule[SLUICE_CNT_DEFAULT].packets, 2, "default-allow count");
		ASSERT_EQ(rule[0].packets, 1, "rule 0 count");
		ASSERT_EQ(rule[1].packets, 0, "rule 1 (gone) count");
	}
out:
	fw_tables_free(&t1);
	fw_tables_free(&t2);
	xdp_env_close(&env);
}

/*
 * Found by test_xdp_random (SLUICE_SEED=46215643429305): a rule whose
 * destination is an IPv4 /23 matched a packet to 228.59.212.3 when another
 * rule named its sources only in IPv6 and its destination through a set.
 * The datapath and the reference classifier must agree on it.
 */
static const char *const POLICY_SRC_DST_SOURCES =
	"sets:\n"
	"  s:\n"
	"    prefixes: [\"0.0.0.0/0\"]\n"
	"firewall:\n"
	"  interfaces: [slb0]\n"
	"  default: allow\n"
	"  stateful: false\n"
	"  rules:\n"
	"    - name: r0\n"
	"      action: deny\n"
	"      src: [\"203.0.112.0/20\", \"192.0.2.154/32\"]\n"
	"      dst: [\"203.0.112.0/23\"]\n"
	"    - name: r1\n"
	"      action: deny\n"
	"      src: [\"2001:db8:3:0:8000::/127\"]\n"
	"      dst: [\"@s\"]\n"
	"    - name: r2\n"
	"      action: allow\n";

TEST(xdp_src_and_dst_prefixes_kept_apart)
{
	uint8_t pkt[] = { ETH(P_IP), IP4(1, A4(203, 0, 113, 197), A4(228, 59, 212, 3)),
			  ICMP4_ECHO };
	static struct sl_counter rule[SLUICE_CNT_MAX];
	struct xdp_env env;
	__u32 retval = ~0u;

	fix_lengths(pkt, sizeof(pkt));
	if (!ASSERT_OK(xdp_env_open(&env), "open"))
		goto out;
	if (!ASSERT_OK(xdp_env_apply(&env, POLICY_SRC_DST_SOURCES, 1, NULL), "apply"))
		goto out;
	if (!ASSERT_OK(xdp_env_run(&env, pkt, sizeof(pkt), &retval, NULL, NULL), "run"))
		goto out;
	ASSERT_EQ(retval, XDP_PASS, "verdict");
	if (ASSERT_OK(sl_counters_read(env.rule_fd, SLUICE_CNT_MAX, rule), "read"))
		ASSERT_EQ(rule[2].packets, 1, "counted under r2");
out:
	xdp_env_close(&env);
}

/* ---- the CLI blocklist: sl_block4/6, not the slot's tables ---------------- */

static const char *const POLICY_BLOCK =
	"firewall:\n"
	"  interfaces: [slb0]\n"
	"  default: allow\n"
	"  stateful: false\n"
	"  rules:\n"
	"    - {name: deny-9, action: deny, proto: udp, dport: [9]}\n";

/*
 * Put (PUT) or take out prefix ADDR/LEN of FAMILY (4 or 6) where the agent
 * puts it: a single address in its family's hash, a shorter prefix in the trie.
 */
static int block_set(struct xdp_env *env, int family, const uint8_t *addr, __u32 len, bool put)
{
	struct fw_lpm6_key k = { .prefixlen = len };
	bool single = len == (family == 4 ? 32u : 128u);
	const struct bpf_map *m = family == 4 ? (single ? env->skel->maps.sl_block4h :
						 env->skel->maps.sl_block4) :
				  (single ? env->skel->maps.sl_block6h : env->skel->maps.sl_block6);
	const void *key = single ? (const void *)k.addr : (const void *)&k;
	__u8 one = 1;

	memcpy(k.addr, addr, family == 4 ? 4 : 16);
	return put ? bpf_map_update_elem(bpf_map__fd(m), key, &one, BPF_ANY) :
		     bpf_map_delete_elem(bpf_map__fd(m), key);
}

/* The verdict of PKT, and whether rule 0 (the blocklist) counted it. */
static bool block_run(struct xdp_env *env, uint8_t *pkt, size_t len, __u32 want, bool counted,
		      const char *what)
{
	static struct sl_counter rule[SLUICE_CNT_MAX];
	__u32 retval = ~0u;
	bool ok;

	fix_lengths(pkt, len);
	if (!ASSERT_OK(xdp_env_reset_counters(env), "reset") ||
	    !ASSERT_OK(xdp_env_run(env, pkt, len, &retval, NULL, NULL), what))
		return false;
	ok = ASSERT_EQ(retval, want, what);
	if (ASSERT_OK(sl_counters_read(env->rule_fd, SLUICE_CNT_MAX, rule), "read"))
		ok &= ASSERT_EQ(rule[0].packets, counted ? 1 : 0, what);
	return ok;
}

/*
 * A policy whose rule 0 is the CLI blocklist (the edits file's block list)
 * compiles without its prefixes: only the blocklist's maps decide, in place
 * (tries for prefixes, hashes for single addresses), for IPv4 and IPv6, and
 * a block counts under rule 0.
 */
TEST(xdp_blocklist_in_tries)
{
	uint8_t p4[] = { ETH(P_IP), IP4(17, A4(192, 0, 2, 77), A4(198, 51, 100, 1)), UDP(1, 53) };
	uint8_t p6[] = { ETH(P_IP6), IP6(17, A6(0xbad, 1), A6(1, 1)), UDP(1, 53) };
	const uint8_t net4[4] = { 192, 0, 2, 0 };
	uint8_t net6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0x0b, 0xad };
	char path[128];
	struct sl_policy pol;
	struct sl_diags d = {};
	struct fw_tables t = {};
	struct xdp_env env;
	FILE *f;

	if (!ASSERT_OK(xdp_env_open(&env), "open"))
		goto out;
	snprintf(path, sizeof(path), "%s/policy.yaml", env.dir);
	f = fopen(path, "we");
	fputs(POLICY_BLOCK, f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/.sluice-cli.yaml", env.dir);
	f = fopen(path, "we");
	fputs("block: |\n  192.0.2.0/24\n  2001:db8:bad::/48\n", f);
	fclose(f);
	if (!ASSERT_OK(policy_load_dir_edits(env.dir, &pol, &d), "load with edits"))
		goto out_unlink;
	ASSERT_TRUE(sl_fw_has_block(policy_fw(&pol, 0)), "rule 0 is the blocklist");
	if (ASSERT_OK(fw_compile(&pol, policy_fw(&pol, 0), 1, &t, &d), "compile")) {
		ASSERT_EQ(t.cfg.block, 1, "fw_config.block");
		/* its prefixes are not in the tables: the source classes never name it */
		ASSERT_EQ(t.cfg.src_only & 1, 0, "the blocklist's rule is no src_only rule");
		ASSERT_OK(fw_maps_write(&env.fds, &t, &d), "write");
	}
	fw_tables_free(&t);
	policy_free(&pol);
	sl_diags_free(&d);

	/* empty tries: the slot's tables do not hold the list */
	block_run(&env, p4, sizeof(p4), XDP_PASS, false, "v4, tries empty");
	block_run(&env, p6, sizeof(p6), XDP_PASS, false, "v6, tries empty");
	ASSERT_OK(block_set(&env, 4, net4, 24, true), "put v4");
	block_run(&env, p4, sizeof(p4), XDP_DROP, true, "v4 blocked");
	block_run(&env, p6, sizeof(p6), XDP_PASS, false, "v6 not yet");
	ASSERT_OK(block_set(&env, 6, net6, 48, true), "put v6");
	block_run(&env, p6, sizeof(p6), XDP_DROP, true, "v6 blocked");
	p4[14 + 12 + 2] = 3;	/* 192.0.3.77: outside the /24 */
	block_run(&env, p4, sizeof(p4), XDP_PASS, false, "v4 outside");
	p4[14 + 12 + 2] = 2;
	ASSERT_OK(block_set(&env, 4, net4, 24, false), "del v4");
	block_run(&env, p4, sizeof(p4), XDP_PASS, false, "v4 unblocked");
	block_run(&env, p6, sizeof(p6), XDP_DROP, true, "v6 still blocked");
	ASSERT_OK(block_set(&env, 6, net6, 48, false), "del v6");
	block_run(&env, p6, sizeof(p6), XDP_PASS, false, "v6 unblocked");
	/* single addresses: the hashes */
	ASSERT_OK(block_set(&env, 4, p4 + 14 + 12, 32, true), "put v4 /32");
	block_run(&env, p4, sizeof(p4), XDP_DROP, true, "v4 /32 blocked");
	p4[14 + 12 + 3] = 78;	/* 192.0.2.78: the next address */
	block_run(&env, p4, sizeof(p4), XDP_PASS, false, "v4 next address");
	p4[14 + 12 + 3] = 77;
	ASSERT_OK(block_set(&env, 6, p6 + 14 + 8, 128, true), "put v6 /128");
	block_run(&env, p6, sizeof(p6), XDP_DROP, true, "v6 /128 blocked");
	ASSERT_OK(block_set(&env, 4, p4 + 14 + 12, 32, false), "del v4 /32");
	ASSERT_OK(block_set(&env, 6, p6 + 14 + 8, 128, false), "del v6 /128");
	block_run(&env, p4, sizeof(p4), XDP_PASS, false, "v4 /32 gone");
	block_run(&env, p6, sizeof(p6), XDP_PASS, false, "v6 /128 gone");
out_unlink:
	unlink(path);
out:
	xdp_env_close(&env);
}

/* ---- the tail-call pipeline ---------------------------------------------- */

static __u32 prog_id(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

/* Loading the object fills every stage of sl_tails with its own program. */
TEST(xdp_pipeline_full_after_load)
{
	struct xdp_env env;
	int fd, want[SLUICE_TAIL_MAX];

	if (!ASSERT_OK(xdp_env_open(&env), "open"))
		goto out;
	fd = bpf_map__fd(env.skel->maps.sl_tails);
	want[SLUICE_TAIL_LB] = bpf_program__fd(env.skel->progs.sl_stage_lb);
	ASSERT_EQ(bpf_map__max_entries(env.skel->maps.sl_tails), SLUICE_TAIL_MAX, "slots");
	for (__u32 i = 0; i < SLUICE_TAIL_MAX; i++) {
		__u32 id = 0;

		/* from userspace a prog array answers with the program id */
		ASSERT_OK(bpf_map_lookup_elem(fd, &i, &id) ? -errno : 0, "sl_tails lookup");
		ASSERT_EQ(id, prog_id(want[i]), "stage program in its slot");
	}
out:
	xdp_env_close(&env);
}

/*
 * An empty stage slot is a named, counted drop, never a pass: with services
 * configured, a packet the firewall allows goes on to the load balancer
 * stage; while its slot is empty it is dropped as tail-call-missed, and
 * allowed again once the stage is back. Stateless, then stateful: a new
 * connection (conntrack's miss, then the rules) and a tracked one
 * (conntrack's hit), all in the entry program before that one tail call.
 */
TEST(xdp_tail_call_missed_drops)
{
	const uint8_t ssh[] = { ETH(P_IP), IP4(6, SSH_SRC4, WEB_DST4), TCP(40000, 22) };
	static const char *const stateful =
		"firewall:\n  interfaces: [slb0]\n  default: deny\n  rules:\n"
		"    - { name: ssh, action: allow, proto: tcp, dport: [22] }\n";
	struct sl_counter drop[SLUICE_DROP_MAX];
	struct sl_ct_config ctc = { .stateful = 1 };
	struct lb_config lbc = { .active = 1 };
	uint8_t pkt[sizeof(ssh)];
	struct xdp_env env;
	__u32 retval, key = SLUICE_TAIL_LB, zero = 0;
	int tails, stage;

	memcpy(pkt, ssh, sizeof(ssh));
	fix_lengths(pkt, sizeof(pkt));
	if (!ASSERT_OK(xdp_env_open(&env), "open") ||
	    !ASSERT_OK(xdp_env_apply(&env, POLICY, 1, NULL), "apply policy") ||
	    !ASSERT_OK(bpf_map_update_elem(bpf_map__fd(env.skel->maps.lb_cfg), &zero, &lbc,
					   BPF_ANY) ? -errno : 0, "lb_cfg: services present"))
		goto out;
	tails = bpf_map__fd(env.skel->maps.sl_tails);
	stage = bpf_program__fd(env.skel->progs.sl_stage_lb);

	for (int pass = 0; pass < 3; pass++) {
		if (pass == 1 &&
		    (!ASSERT_OK(xdp_env_apply(&env, stateful, 2, NULL), "stateful") ||
		     !ASSERT_OK(bpf_map_update_elem(bpf_map__fd(env.skel->maps.ct_cfg), &zero,
						    &ctc, BPF_ANY) ? -errno : 0, "ct_cfg")))
			goto out;
		/* pass 0: stateless; 1: a new connection (a SYN); 2: the same one, tracked */
		pkt[14 + 20 + 13] = 0x02;
		ASSERT_OK(xdp_env_run(&env, pkt, sizeof(pkt), &retval, NULL, NULL), "run");
		ASSERT_EQ(retval, XDP_PASS, "allowed with every stage present");
		if (pass == 1)
			pkt[14 + 20 + 1]++;	/* another source port: a new connection */
		if (!ASSERT_OK(bpf_map_delete_elem(tails, &key) ? -errno : 0, "empty the slot") ||
		    !ASSERT_OK(xdp_env_reset_counters(&env), "reset"))
			goto out;
		ASSERT_OK(xdp_env_run(&env, pkt, sizeof(pkt), &retval, NULL, NULL), "run");
		ASSERT_EQ(retval, XDP_DROP, "dropped while the stage is missing");
		if (ASSERT_OK(sl_counters_read(env.drop_fd, SLUICE_DROP_MAX, drop), "sl_drop")) {
			ASSERT_EQ(drop[SLUICE_DROP_TAIL_MISSED].packets, 1, "tail-call-missed");
			ASSERT_EQ(drop[SLUICE_DROP_TAIL_MISSED].bytes, sizeof(pkt), "its bytes");
		}
		ASSERT_OK(bpf_map_update_elem(tails, &key, &stage, BPF_ANY) ? -errno : 0,
			  "stage back");
		ASSERT_OK(xdp_env_run(&env, pkt, sizeof(pkt), &retval, NULL, NULL), "run");
		ASSERT_EQ(retval, XDP_PASS, "allowed again");
	}
out:
	xdp_env_close(&env);
}

/*
 * The first SLUICE_CFG_RULES (2) rules' entries (action, counter id) are
 * read from fw_config.first_rules, not from the slot's fw_rule: with
 * fw_rule gone from the slot, rules 0 and 1 still drop and allow, each
 * counted on its own counter (the ids the agent gives,
 * fw_tables_set_counters), where rule 2's packet finds no entry
 * (SL_RULE_MISSING: dropped as internal).
 */
TEST(xdp_first_rules_from_fw_config)
{
	static const char *const policy =
		"firewall:\n  interfaces: [slb0]\n  default: deny\n  stateful: false\n"
		"  rules:\n"
		"    - { name: r0, action: deny, proto: tcp, dport: [1000] }\n"
		"    - { name: r1, action: allow, proto: tcp, dport: [1001] }\n"
		"    - { name: r2, action: allow, proto: tcp, dport: [1002] }\n";
	uint8_t pkt[] = { ETH(P_IP), IP4(6, SSH_SRC4, WEB_DST4), TCP(40000, 1000) };
	uint32_t ids[3] = { 700, 701, 702 };
	struct sl_counter drop[SLUICE_DROP_MAX], c;
	struct fw_tables t = { 0 };
	struct sl_diags diags = { 0 };
	struct xdp_env env;
	uint32_t slot;
	__u32 ret;

	fix_lengths(pkt, sizeof(pkt));
	if (!ASSERT_OK(xdp_env_open(&env), "open") ||
	    !ASSERT_OK(xdp_env_apply(&env, policy, 1, &t), "apply"))
		goto out;
	/* the agent's counter ids, written as the agent writes a policy */
	fw_tables_set_counters(&t, ids, SLUICE_CNT_DEFAULT);
	for (int r = 0; r < SLUICE_CFG_RULES; r++)
		ASSERT_EQ(t.cfg.first_rules[r], t.rule[0].e[r], "fw_config holds fw_rule's entry");
	if (!ASSERT_OK(fw_maps_write(&env.fds, &t, &diags), "write with the agent's ids") ||
	    !ASSERT_OK(fw_ifslot_get(&env.fds, SLUICE_IFSLOT_DEFAULT, &slot), "slot") ||
	    !ASSERT_OK(bpf_map_delete_elem(env.fds.tbl[SLUICE_FWT_RULE], &slot) ? -errno : 0,
		       "fw_rule gone from the slot") ||
	    !ASSERT_OK(xdp_env_reset_counters(&env), "reset"))
		goto out;
	for (int port = 1000; port <= 1001; port++) {
		pkt[14 + 20 + 2] = port >> 8;
		pkt[14 + 20 + 3] = port & 0xff;
		ASSERT_OK(xdp_env_run(&env, pkt, sizeof(pkt), &ret, NULL, NULL), "run");
		ASSERT_EQ(ret, port == 1000 ? XDP_DROP : XDP_PASS, "rule 0 drops, rule 1 allows");
		if (ASSERT_OK(sl_counter_read(env.rule_fd, ids[port - 1000], &c), "rule counter"))
			ASSERT_EQ(c.packets, 1, "counted on the rule's id");
	}
	pkt[14 + 20 + 3] = 1002 & 0xff;
	ASSERT_OK(xdp_env_run(&env, pkt, sizeof(pkt), &ret, NULL, NULL), "run rule 2");
	ASSERT_EQ(ret, XDP_DROP, "rule 2 has no entry without fw_rule");
	if (ASSERT_OK(sl_counters_read(env.drop_fd, SLUICE_DROP_MAX, drop), "drops")) {
		ASSERT_EQ(drop[SLUICE_DROP_POLICY_RULE].packets, 1, "rule 0's drop");
		ASSERT_EQ(drop[SLUICE_DROP_INTERNAL].packets, 1, "rule 2's: internal");
	}
	if (ASSERT_OK(sl_counter_read(env.rule_fd, ids[2], &c), "rule 2's counter"))
		ASSERT_EQ(c.packets, 0, "rule 2 not counted");
out:
	sl_diags_free(&diags);
	fw_tables_free(&t);
	xdp_env_close(&env);
}

/*
 * Every tail call of the XDP programs has its key in the instruction before
 * the call (bpf/lib/tail.h): a key the verifier knows as one constant is a
 * direct jump, any other an indirect one (a retpoline here: 1.2 vs 9 ns in
 * bench_xdp). Checked on the object as clang wrote it, before libbpf's and
 * the verifier's rewrites; bpf_tail_call() with a key chosen at run time
 * fails it.
 */
TEST(xdp_tail_calls_constant_key)
{
	struct sluice_xdp *skel = sluice_xdp__open();
	struct bpf_program *prog;
	int calls = 0;

	if (!ASSERT_TRUE(skel != NULL, "open sluice_xdp"))
		return;
	bpf_object__for_each_program(prog, skel->obj) {
		const struct bpf_insn *in = bpf_program__insns(prog);
		size_t n = bpf_program__insn_cnt(prog);

		for (size_t i = 0; i < n; i++) {
			if (in[i].code != (BPF_JMP | BPF_CALL) || in[i].src_reg ||
			    in[i].imm != BPF_FUNC_tail_call)
				continue;
			calls++;
			tl_check(i > 0 && in[i - 1].code == (BPF_ALU64 | BPF_MOV | BPF_K) &&
				 in[i - 1].dst_reg == BPF_REG_3, __FILE__, __LINE__,
				 "%s: tail call at insn %zu without a constant key",
				 bpf_program__name(prog), i);
		}
	}
	/* the entry program's to the load balancer (after conntrack, after the rules) */
	ASSERT_TRUE(calls >= 1, "the pipeline's tail calls are there");
	sluice_xdp__destroy(skel);
}

/* The address of kernel symbol NAME (a function), 0 when not found. */
static unsigned long long ksym(const char *name)
{
	char line[256], sym[128], type;
	unsigned long long addr, found = 0;
	FILE *f = fopen("/proc/kallsyms", "re");

	while (f && !found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx %c %127s", &addr, &type, sym) == 3 && !strcmp(sym, name))
			found = addr;
	if (f)
		fclose(f);
	return found;
}

/*
 * Every map lookup of the datapath is inlined or a direct call: a lookup
 * call site that two maps (templates) can reach becomes the generic helper,
 * an indirect call through a retpoline (~15 ns a packet here), and the
 * compiler merges look-alike lookups of two maps without a word
 * (bpf/lib/classify.h). The same holds for updates and deletes (conntrack's
 * inserts, promotions and expiries are inlined per table, bpf/lib/ct_table.h).
 * Checked in the programs as the verifier left them.
 */
TEST(xdp_no_generic_map_lookup)
{
	static const char *const generic[] = {
		"bpf_map_lookup_elem", "bpf_map_update_elem", "bpf_map_delete_elem",
	};
	unsigned long long base = ksym("__bpf_call_base"), helper[3];
	struct bpf_program *prog;
	struct xdp_env env;

	for (int h = 0; h < 3; h++)
		helper[h] = ksym(generic[h]);
	if (!ASSERT_TRUE(base && helper[0] && helper[1] && helper[2], "kallsyms has the helpers") ||
	    !ASSERT_OK(xdp_env_open(&env), "open"))
		return;
	bpf_object__for_each_program(prog, env.skel->obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info), n;
		struct bpf_insn *insns;
		int found[3] = { 0 }, lookups = 0;

		if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
			continue;
		n = info.xlated_prog_len / sizeof(*insns);
		insns = calloc(n, sizeof(*insns));
		memset(&info, 0, sizeof(info));
		info.xlated_prog_len = n * sizeof(*insns);
		info.xlated_prog_insns = (__u64)(unsigned long)insns;
		len = sizeof(info);
		if (!insns || bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len)) {
			free(insns);
			continue;
		}
		for (__u32 i = 0; i < n; i++) {
			if (insns[i].code != (BPF_JMP | BPF_CALL) || insns[i].src_reg)
				continue;
			lookups++;
			for (int h = 0; h < 3; h++)
				found[h] += base + insns[i].imm == helper[h];
		}
		for (int h = 0; h < 3; h++)
			tl_check(found[h] == 0, __FILE__, __LINE__, "%s: %d calls of the generic %s",
				 bpf_program__name(prog), found[h], generic[h]);
		ASSERT_TRUE(lookups > 0, "the program makes calls");
		free(insns);
	}
	xdp_env_close(&env);
}
