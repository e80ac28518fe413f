/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one header shared by the BPF programs and userspace (agent, CLI, tests).
 * It holds keys, values, enums and names; no logic. Fixed-width types, explicit
 * padding, sizes checked with _Static_assert. Values in network byte order are
 * marked __be; everything else is host order.
 *
 * Firewall classification (Linear Bit Vector Search, see docs/architecture.md):
 * every rule is one bit in a SLUICE_BM_WORDS-word bitmap. Each packet field is
 * looked up in its own table, which yields a "class": an index into fw_cls,
 * the array of distinct bitmaps. The bitmaps of all fields are ANDed and the
 * lowest set bit is the first matching rule.
 *
 *   src/dst IPv4 : DIR-24-8. fw_src4/fw_dst4 hold one u16 entry per /24,
 *                  64 entries per array element (index = addr >> 14, slot =
 *                  (addr >> 8) & 63). An entry with SLUICE_T8_FLAG set names a
 *                  256-entry group in fw_src4_t8/fw_dst4_t8, indexed by the
 *                  last byte. One or two array lookups, whatever the number
 *                  of prefixes.
 *   src/dst IPv6 : LPM tries fw_src6/fw_dst6; ::/0 is always present.
 *   sport/dport  : fw_sport/fw_dport, 64 ports per array element.
 *   proto        : fw_config.proto_cls[256].
 *   no ports     : packets without ports (ICMP, other protocols, non-first
 *                  fragments) use fw_config.noport_cls instead of the two
 *                  port classes: the rules that have no port match.
 */
#ifndef SLUICE_ABI_H
#define SLUICE_ABI_H

#ifdef __BPF__
/* vmlinux.h provides the __u* and __be* types */
#else
#include <linux/types.h>
#include <linux/bpf.h>	/* struct bpf_timer */
#endif

#define SLUICE_MAX_RULES	512
#define SLUICE_BM_WORDS		(SLUICE_MAX_RULES / 64)
#define SLUICE_MAX_CLASSES	32768
#define SLUICE_BLK		64			/* u16 entries per block */
#define SLUICE_T24_BLOCKS	((1u << 24) / SLUICE_BLK)	/* 262144 */
#define SLUICE_T8_FLAG		0x8000u			/* entry names a tbl8 group */
#define SLUICE_T8_GROUPS	16384			/* per direction */
#define SLUICE_PORT_BLOCKS	(65536 / SLUICE_BLK)	/* 1024 */
#define SLUICE_LPM6_MAX		(1u << 20)
#define SLUICE_IPV6_EXT_MAX	8	/* extension headers walked before giving up */
#define SLUICE_POL_SLOTS	64	/* policy slots: compiled policies, see fwo_* maps */
#define SLUICE_IFSLOT_MAX	4096	/* interfaces with a policy slot (sl_ifslot) */
#define SLUICE_IFSLOT_DEFAULT	0	/* sl_ifslot key for interfaces without one */
/*
 * sl_ifslot_a[ifindex] = slot + 1 (0: none) for ifindex below this: the
 * per-packet lookup, an inlined array read; sl_ifslot (a hash) holds every
 * entry too and is the only one for larger ifindexes.
 */
#define SLUICE_IFSLOT_ARRAY	65536

/* Class 0 is the empty bitmap: it matches no rule. */
#define SLUICE_CLS_NONE		0

enum sluice_action {
	SLUICE_ACT_ALLOW = 0,
	SLUICE_ACT_DENY = 1,
};

/* fw_cfg[0]: scalar settings of the compiled firewall policy. */
struct fw_config {
	__u64 generation;		/* policy generation that wrote this */
	__u32 nrules;			/* rules in use, bits [0, nrules) */
	__u32 default_action;		/* enum sluice_action */
	__u32 active;			/* 0: no policy applied, every packet passes */
	__u16 noport_cls;		/* class used for both ports when a packet has none */
	__u16 block;			/* 1: rule 0 is the CLI blocklist (sources only), checked
					 * before conntrack so a block cuts established flows */
	__u16 proto_cls[256];		/* IP protocol number -> class */
	__u64 allow[SLUICE_BM_WORDS];	/* bit i set: rule i allows, else denies */
	__u16 rule_base;		/* fw_rule_cnt index of rule 0 (firewall sections) */
	__u16 pad1[3];
};

/* fw_cls[class]: the rules that match one value of one field. */
struct fw_bitmap {
	__u64 w[SLUICE_BM_WORDS];
};

/* Element of fw_src4, fw_dst4, fw_sport, fw_dport: SLUICE_BLK consecutive entries. */
struct fw_blk {
	__u16 e[SLUICE_BLK];
};

/* Element of fw_src4_t8, fw_dst4_t8: the last byte of an IPv4 address. */
struct fw_t8 {
	__u16 e[256];
};

/* Key of fw_src6 and fw_dst6 (BPF_MAP_TYPE_LPM_TRIE). */
struct fw_lpm6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct fw_lpm6_val {
	__u16 cls;
	__u16 pad;
};

/* fw_rule_cnt[i] (per CPU): packets and bytes of rule i; index SLUICE_MAX_RULES
 * counts packets that took the default action. */
#define SLUICE_RULE_DEFAULT	SLUICE_MAX_RULES

struct sl_counter {
	__u64 packets;
	__u64 bytes;
};

/* sl_verdict[v] (per CPU): what the XDP program returned. */
#define SLUICE_VERDICTS(X)			\
	X(VERDICT_PASS,		"pass")		\
	X(VERDICT_DROP,		"drop")		\
	X(VERDICT_PASS_NONIP,	"pass-non-ip")	\
	X(VERDICT_TX,		"tx")		/* sent back out the interface it came in on */ \
	X(VERDICT_REDIRECT,	"redirect")	/* sent out another interface (load balancer) */

/* sl_drop[r] (per CPU): every drop has a named reason. */
#define SLUICE_DROP_REASONS(X)					\
	X(DROP_POLICY_RULE,	"policy-rule")			\
	X(DROP_POLICY_DEFAULT,	"policy-default")		\
	X(DROP_TRUNC_ETH,	"truncated-eth")		\
	X(DROP_TRUNC_VLAN,	"truncated-vlan")		\
	X(DROP_VLAN_DEPTH,	"too-many-vlan-tags")		\
	X(DROP_TRUNC_IP4,	"truncated-ipv4")		\
	X(DROP_BAD_IP4_VER,	"bad-ipv4-version")		\
	X(DROP_BAD_IP4_IHL,	"bad-ipv4-ihl")			\
	X(DROP_BAD_IP4_LEN,	"bad-ipv4-length")		\
	X(DROP_TRUNC_IP6,	"truncated-ipv6")		\
	X(DROP_BAD_IP6_VER,	"bad-ipv6-version")		\
	X(DROP_TRUNC_IP6_EXT,	"truncated-ipv6-ext")		\
	X(DROP_IP6_EXT_DEPTH,	"ipv6-ext-chain-too-long")	\
	X(DROP_TRUNC_TCP,	"truncated-tcp")		\
	X(DROP_BAD_TCP_DOFF,	"bad-tcp-doff")			\
	X(DROP_TRUNC_UDP,	"truncated-udp")		\
	X(DROP_TRUNC_ICMP,	"truncated-icmp")		\
	X(DROP_INTERNAL,	"internal-error")		\
	X(DROP_TAIL_MISSED,	"tail-call-missed")		\
	X(DROP_SYNCOOKIE_BAD,	"syncookie-bad")		\
	X(DROP_LB_NO_BACKEND,	"lb-no-backend")		\
	X(DROP_LB_NO_ROUTE,	"lb-no-route")			\
	X(DROP_LB_FWD_OFF,	"lb-forwarding-disabled")	\
	X(DROP_LB_TOO_BIG,	"lb-too-big")			\
	X(DROP_LB_FRAGMENT,	"lb-fragment")			\
	X(DROP_LB_ENCAP,	"lb-encap-failed")		\
	X(DROP_EGRESS_RULE,	"egress-rule")			\
	X(DROP_EGRESS_DEFAULT,	"egress-default")

/*
 * sl_verdict and sl_drop have room for more entries than there are names,
 * so that a new verdict or drop reason does not change a pinned map's
 * layout (a restart then keeps the counters).
 */
#define SLUICE_VERDICT_SLOTS	8
#define SLUICE_DROP_SLOTS	64

/*
 * The XDP pipeline: the entry program (sluice_xdp: policy slot, parse) hands
 * each packet on through the prog array sl_tails, index = the stage below;
 * the per-packet state (parsed headers, conntrack key, policy slot) travels
 * in the per-CPU map sl_scratch. A tail call into an empty index is the drop
 * "tail-call-missed". The names are the stage programs' names; the loader
 * fills sl_tails with them. A packet the firewall allows goes on to the load
 * balancer when services are configured (lb_config.active).
 */
#define SLUICE_TAILS(X)					\
	X(TAIL_CT,	"sl_stage_ct")	/* conntrack */		\
	X(TAIL_FW,	"sl_stage_fw")	/* firewall rules */	\
	X(TAIL_LB,	"sl_stage_lb")	/* load balancer */

#define SLUICE_ENUM_ENTRY(id, name) SLUICE_##id,
enum sluice_verdict { SLUICE_VERDICTS(SLUICE_ENUM_ENTRY) SLUICE_VERDICT_MAX };
enum sluice_drop_reason { SLUICE_DROP_REASONS(SLUICE_ENUM_ENTRY) SLUICE_DROP_MAX };
enum sluice_tail { SLUICE_TAILS(SLUICE_ENUM_ENTRY) SLUICE_TAIL_MAX };
#undef SLUICE_ENUM_ENTRY

/*
 * Conntrack (stateful firewall). One entry per connection, keyed by the
 * normalised 5-tuple: endpoint "a" is the lower of the two (address, port)
 * pairs, so both directions find the same entry. ICMP echo uses its
 * identifier as both ports. The table is split into shards (LRU hashes
 * reached through the array of maps ct_shards), each swept by a bpf_timer
 * of its own (ct_sweep); the per-packet path only writes last_seen, and
 * treats an entry past its timeout as absent (docs/datapath.md, "Expiry").
 */
enum sl_ct_state {
	SL_CT_SYN_SENT = 1,	/* SYN seen from the originator */
	SL_CT_SYN_RECV,		/* SYN-ACK seen from the responder */
	SL_CT_ESTABLISHED,		/* handshake completed */
	SL_CT_FIN_WAIT,		/* FIN seen in one direction */
	SL_CT_CLOSING,		/* FIN seen in both directions, or after RST: closing timeout */
	SL_CT_UDP,			/* UDP pseudo-connection */
	SL_CT_ICMP,		/* ICMP / ICMPv6 echo pseudo-connection */
	SL_CT_STATE_MAX,
};

/* Indexes of sl_ct_config.timeout[] (seconds); the policy's conntrack.timeouts keys. */
#define SLUICE_CT_TIMEOUTS(X)					\
	X(CT_TO_TCP_SYN,	"tcp-syn",		120)	\
	X(CT_TO_TCP_EST,	"tcp-established",	432000)	\
	X(CT_TO_TCP_CLOSING,	"tcp-closing",		120)	\
	X(CT_TO_UDP,		"udp",			30)	\
	X(CT_TO_ICMP,		"icmp",			30)

#define SLUICE_CT_TO_ENTRY(id, name, dflt) SLUICE_##id,
enum sluice_ct_timeout { SLUICE_CT_TIMEOUTS(SLUICE_CT_TO_ENTRY) SLUICE_CT_TO_MAX };
#undef SLUICE_CT_TO_ENTRY

/* Each state: its name, and the timeout it lives under (a connection half
 * closed by one FIN is already on the closing timeout, like netfilter's
 * FIN_WAIT/CLOSE_WAIT). Both the datapath and the CLI read this table. */
#define SLUICE_CT_STATES(X)						\
	X(SL_CT_SYN_SENT,	"syn-sent",	SLUICE_CT_TO_TCP_SYN)		\
	X(SL_CT_SYN_RECV,	"syn-recv",	SLUICE_CT_TO_TCP_SYN)		\
	X(SL_CT_ESTABLISHED,	"established",	SLUICE_CT_TO_TCP_EST)		\
	X(SL_CT_FIN_WAIT,	"fin-wait",	SLUICE_CT_TO_TCP_CLOSING)	\
	X(SL_CT_CLOSING,	"closing",	SLUICE_CT_TO_TCP_CLOSING)	\
	X(SL_CT_UDP,		"udp",		SLUICE_CT_TO_UDP)		\
	X(SL_CT_ICMP,		"icmp",		SLUICE_CT_TO_ICMP)

#define SLUICE_CT_DEFAULT_MAX	262144
/*
 * Assured and unassured entries (netfilter's ASSURED bit and early_drop,
 * as separate tables). An entry is assured once its connection has shown
 * that both ends take part: a TCP handshake completed (the ACK of the
 * SYN-ACK), a UDP flow answered. Until then it lives in the unassured
 * shards, smaller LRU tables of the same key and value, with every ICMP
 * echo exchange (the kernel answers every echo request, so a reply proves
 * nothing). A flood from spoofed sources (SYN, UDP, echo) churns the
 * unassured shards only and never evicts an assured connection
 * (docs/datapath.md, "Table full"). Their total is max-entries divided by
 * SLUICE_CT_UNASSURED_DIV, at least SLUICE_CT_UNASSURED_MIN.
 */
#define SLUICE_CT_UNASSURED_DIV	4
#define SLUICE_CT_UNASSURED_MIN	1024

/*
 * Shards: ct_shards[i] is assured shard i, ct_shards[SLUICE_CT_SHARDS_MAX
 * + i] the unassured shard i, for i < sl_ct_config.shards (a power of two,
 * chosen when the table is created: as many as keep every assured shard
 * at SLUICE_CT_SHARD_MIN entries or more, at most SLUICE_CT_SHARDS_MAX).
 * A sweep walks one assured shard and its unassured shard; big shards
 * keep the LRU's batch eviction (128 entries per CPU) a small fraction.
 */
#define SLUICE_CT_SHARDS_MAX	64
#define SLUICE_CT_SHARD_MIN	16384

struct sl_ct_key {
	__u8 addr_a[16];	/* network order; IPv4 in the first 4 bytes, rest zero */
	__u8 addr_b[16];
	__be16 port_a;		/* ICMP echo: the identifier, in both ports */
	__be16 port_b;
	__u8 proto;
	__u8 family;		/* 4 or 6 */
	__u8 pad[2];
} __attribute__((aligned(4)));

/* The shard of K among SHARDS (a power of two): both directions agree, as
 * the key is normalised. Userspace computes the same to find an entry. */
static inline __u32 sl_ct_shard_of(const struct sl_ct_key *k, __u32 shards)
{
	const __u32 *w = (const __u32 *)k;
	__u32 h = 0;

	for (int i = 0; i < (int)(sizeof(*k) / 4); i++)
		h = (h ^ w[i]) * 0x9e3779b1u;
	return (h ^ h >> 16) & (shards - 1);
}

/* Direction of a packet relative to the connection's originator. */
#define SL_CT_DIR_ORIG	0
#define SL_CT_DIR_REPLY	1

struct sl_ct_entry {
	__u64 created;		/* bpf_ktime_get_coarse_ns() = CLOCK_MONOTONIC_COARSE */
	__u64 last_seen;	/* written per packet; the sweeper reads it */
	__u64 packets[2];	/* [SL_CT_DIR_ORIG], [SL_CT_DIR_REPLY] */
	__u64 bytes[2];
	__u8 state;		/* enum sl_ct_state */
	__u8 orig_is_a;		/* the originator is endpoint a of the key */
	__u8 fin_seen;		/* bit CT_DIR_*: a FIN was seen in that direction */
	__u8 pad;
	__be32 syn_ack_seq;	/* TCP handshake: the SYN-ACK's sequence number; the
				 * ACK that completes it acknowledges it + 1 */
};

/* ct_cfg[0]: conntrack settings, read per packet. */
struct sl_ct_config {
	__u32 stateful;			/* 0: conntrack off, the firewall is stateless */
	__u32 timeout[SLUICE_CT_TO_MAX];	/* seconds; 0: the default */
	__u32 shards;			/* shards in ct_shards (a power of two; 0 = 1) */
	__u32 gen;			/* bumped on every write: sweepers re-walk */
};

/*
 * ct_sweep[i]: the sweeper of shard i. Its timer fires every tick (an
 * eighth of the shortest timeout, 250 ms .. 5 s) and walks the shard when
 * its earliest deadline has passed (`next`, lowered by the datapath when it
 * inserts an entry or shortens one's timeout), when the timeouts changed,
 * or at least every SLUICE_CT_WALK_MAX_S; the rest are counters.
 */
#define SLUICE_CT_WALK_MAX_S	60

struct sl_ct_sweeper {
	struct bpf_timer timer;
	__u64 next;		/* no entry of the shard expires before (coarse ns) */
	__u64 last_walk;
	__u64 ticks;		/* timer runs */
	__u64 walks;		/* of them, walks of the shard */
	__u64 walked;		/* entries visited */
	__u64 walk_ns;		/* CPU time of the walks */
	__u32 gen;		/* sl_ct_config.gen of the last walk */
	__u32 pad;
};

/* ct_stats[i] (per CPU): conntrack events. LRU evictions are not seen by BPF:
 * the agent derives them (created - expired - deleted - live). */
#define SLUICE_CT_STATS(X)				\
	X(CT_STAT_CREATED,	"created")		\
	X(CT_STAT_EXPIRED,	"expired")		\
	X(CT_STAT_DELETED,	"deleted")		\
	X(CT_STAT_INSERT_FAIL,	"insert-failed")	\
	X(CT_STAT_TIMER_FAIL,	"timer-failed")		\
	X(CT_STAT_RELATED,	"related")		\
	X(CT_STAT_CK_SENT,	"syncookie-sent")	\
	X(CT_STAT_CK_VALID,	"syncookie-valid")	\
	X(CT_STAT_CK_ACCEPTED,	"syncookie-accepted")	\
	X(CT_STAT_CK_FAILED,	"syncookie-failed")	\
	X(CT_STAT_CK_PRESSURE,	"syncookie-pressure")

#define SLUICE_ENUM_ENTRY(id, name) SLUICE_##id,
enum sluice_ct_stat { SLUICE_CT_STATS(SLUICE_ENUM_ENTRY) SLUICE_CT_STAT_MAX };
#undef SLUICE_ENUM_ENTRY

/*
 * SYN cookies (conntrack.syn-cookies, docs/datapath.md "SYN cookies"). An
 * allowed SYN to a local listener is answered in XDP with a SYN-ACK whose
 * sequence number is a cookie, and no state is kept: the ACK that returns
 * the cookie + 1 proves the handshake, is tracked as established, and is
 * handed (XDP metadata) to a TC ingress program that gives the listener its
 * request socket (bpf_sk_assign_tcp_reqsk). The cookie, 32 bits:
 *
 *   31..8  SipHash-2-4 (ct_ck_cfg.key) of the 4-tuple, the client's ISN, the
 *          time slot and bits 7..0
 *   7      time slot parity (slots of 2^36 ns, ~69 s: a cookie lives 1-2 slots)
 *   6..5   MSS index (SLUICE_CK_MSS4 / SLUICE_CK_MSS6)
 *   4      SACK permitted
 *   3..0   the client's window scale, 0xf: none
 */
#define SLUICE_CK_MODES(X)		\
	X(CK_OFF,	"off")		\
	X(CK_AUTO,	"auto")		\
	X(CK_ALWAYS,	"always")

#define SLUICE_ENUM_ENTRY(id, name) SLUICE_##id,
enum sluice_ck_mode { SLUICE_CK_MODES(SLUICE_ENUM_ENTRY) SLUICE_CK_MODE_MAX };
#undef SLUICE_ENUM_ENTRY

#define SLUICE_CK_OPT_TS	(1u << 0)	/* the host's TCP takes timestamps */
#define SLUICE_CK_OPT_SACK	(1u << 1)	/* ... selective acknowledgments */
#define SLUICE_CK_OPT_WSCALE	(1u << 2)	/* ... window scaling */
#define SLUICE_CK_PORT_WORDS	(65536 / 64)
#define SLUICE_CK_IF_WORDS	(65536 / 64)	/* ifindexes below 65536 */
#define SLUICE_CK_SLOT_SHIFT	36		/* time slot: coarse ns >> 36 */
#define SLUICE_CK_WINDOW_NS	250000000ull	/* auto: pressure is judged per window */
#define SLUICE_CK_HOLD_NS	10000000000ull	/* auto: cookies stay on this long after */
/* MSS values a cookie can carry, by index (the kernel's syncookie tables) */
#define SLUICE_CK_MSS4_0	536
#define SLUICE_CK_MSS4_1	1300
#define SLUICE_CK_MSS4_2	1440
#define SLUICE_CK_MSS4_3	1460
#define SLUICE_CK_MSS6_0	1220
#define SLUICE_CK_MSS6_1	1420
#define SLUICE_CK_MSS6_2	1440
#define SLUICE_CK_MSS6_3	8940

/* ct_ck_cfg[0]: written by the agent on every apply. */
struct sl_ck_config {
	__u32 mode;		/* enum sluice_ck_mode */
	__u32 press_min;	/* auto: SYNs opened and not completed in one window, on
				 * one CPU, that mean pressure (cookies on for HOLD_NS) */
	__u8 opts;		/* SLUICE_CK_OPT_*: what the host's TCP accepts (its sysctls) */
	__u8 rcv_wscale;	/* the window scale announced: what the host's TCP would */
	__u8 pad[6];
	__u64 key[2];		/* SipHash key, random, kept across restarts */
	__u64 ports[SLUICE_CK_PORT_WORDS];	/* bit p: SYNs to port p always get cookies */
	/*
	 * bit i: interface i cannot be trusted with XDP_TX (a veth drops XDP_TX
	 * frames unless its peer has GRO or an XDP program): its SYN-ACKs pass
	 * to the TC ingress program, which sends them back out (an skb each).
	 * Interfaces from 65536 up always go that way.
	 */
	__u64 tx_tc[SLUICE_CK_IF_WORDS];
};

/*
 * What XDP hands the TC ingress program with a cookie's ACK: the XDP
 * metadata in front of the frame (20 bytes), the handshake's options for
 * bpf_sk_assign_tcp_reqsk().
 */
#define SLUICE_CK_MAGIC		0x534c434bu	/* "SLCK": a cookie's ACK, for its listener */
#define SLUICE_CK_MAGIC_TX	0x534c5458u	/* "SLTX": a SYN-ACK, to send back out */
#define SLUICE_CK_META_SACK	(1u << 0)
#define SLUICE_CK_META_TS	(1u << 1)
#define SLUICE_CK_META_WSCALE	(1u << 2)

struct sl_ck_meta {
	__u32 magic;		/* SLUICE_CK_MAGIC */
	__u16 mss;		/* the client's, from the cookie */
	__u8 snd_wscale;	/* the client's window scale (SLUICE_CK_META_WSCALE) */
	__u8 rcv_wscale;	/* ours, as announced in the SYN-ACK */
	__u8 flags;		/* SLUICE_CK_META_* */
	__u8 pad[3];
	__u32 tsval, tsecr;	/* the ACK's timestamps, host order (SLUICE_CK_META_TS) */
};

/* ct_ck_load (per CPU): auto mode's measure of pressure on this CPU. */
struct sl_ck_load {
	__u64 win_start;	/* ns (coarse) */
	__u32 opened;		/* TCP handshakes opened in the window: half-open entries
				 * created, cookies sent */
	__u32 done;		/* ... completed: promoted to assured, cookies returned */
	__u64 until;		/* cookies on (auto) until this time */
};

/*
 * The L4 load balancer (docs/lb.md). A service is (VIP, port, proto): its
 * key in lb_svc gives a struct lb_service, whose `table` names its Maglev
 * lookup table in the array of maps lb_maglev: an inner array of `size`
 * (a prime) backend ids, indexes of lb_backends. The flow hash of a packet
 * (sl_lb_flow_hash, below) modulo `size` picks the table entry. A changed
 * service gets a new table and a new lb_service value, one write each, so a
 * packet sees the old service or the new one. An lb_backends entry is never
 * rewritten while a table names it: a new backend takes a free id with a
 * new incarnation (`gen`). Established flows live in the LRU hash
 * lb_flowtab[LB_FLOWS] (client 5-tuple -> backend id and gen); a flow whose
 * backend left the policy (not LB_BE_F_LIVE, or another gen) is balanced
 * again. NAT replies are found in lb_flowtab[LB_REVERSE], keyed by the
 * backend side's 5-tuple. The cgroup connect hooks can use lb_svc,
 * lb_maglev and lb_backends as they are.
 */
#define SLUICE_LB_SVC_MAX	256		/* services (and VIP markers) */
#define SLUICE_LB_TABLES	(2 * SLUICE_LB_SVC_MAX)	/* Maglev tables, new ones included */
#define SLUICE_LB_BACKENDS_MAX	4096		/* backends of all services */
#define SLUICE_LB_RING_DEFAULT	65537		/* Maglev table size (a prime) */
#define SLUICE_LB_RING_MIN	101
#define SLUICE_LB_RING_MAX	1048573
#define SLUICE_LB_NO_BACKEND	0xffffffffu	/* table entry: no backend up */
#define SLUICE_LB_DECAP_MAX	256		/* decap VIPs, decap interfaces */
#define SLUICE_LB_DEVMAP_MAX	1024		/* interfaces XDP_REDIRECT may use */
#define SLUICE_LB_FLOW_SEED	0x736c6231u	/* "slb1": flow hash seed, fixed */

#define LB_SVC_F_DSR	(1u << 0)	/* mode dsr: IP-in-IP to the backend; else NAT */
#define LB_SVC_F_VIP	(1u << 1)	/* the VIP's own entry (port 0, proto 0): ICMP errors, fragments */

struct lb_svc_key {
	__u8 vip[16];		/* network order; IPv4 in the first 4 bytes, rest zero */
	__be16 port;		/* 0 with proto 0: the VIP entry */
	__u8 proto;		/* IPPROTO_TCP or IPPROTO_UDP */
	__u8 family;		/* 4 or 6 */
};

struct lb_service {
	__u32 id;		/* stable service index (names, counters) */
	__u32 table;		/* lb_maglev index of the lookup table */
	__u32 size;		/* entries of that table (a prime) */
	__u16 flags;		/* LB_SVC_F_* */
	__u8 encap_bits;	/* DSR: low bits of the outer source that vary per flow (<= 32) */
	__u8 pad;
	__u8 encap_src[16];	/* DSR: outer source prefix, network order */
};

#define LB_BE_F_LIVE	(1u << 0)	/* in the policy: its flows stay */
#define LB_BE_F_DOWN	(1u << 1)	/* health checks failed (agent's record) */
#define LB_BE_F_DRAIN	(1u << 2)	/* draining (agent's record) */

struct lb_backend {
	__u8 addr[16];		/* network order; IPv4 in the first 4 bytes */
	__be16 port;
	__u8 family;		/* 4 or 6 */
	__u8 flags;		/* LB_BE_F_*; the datapath reads LIVE only */
	__u32 gen;		/* incarnation of this id */
	__u32 svc;		/* lb_service.id it belongs to */
	__u32 pad;
};

/* lb_flowtab indexes: inner LRU hashes created by the agent (lib/lb_maps.c). */
#define LB_FLOWS	0	/* client -> VIP 5-tuple: the flow's backend */
#define LB_REVERSE	1	/* backend -> client 5-tuple: NAT reply, back to VIP:port */

struct lb_flow_key {
	__u8 src[16];		/* network order; IPv4 in the first 4 bytes */
	__u8 dst[16];
	__be16 sport, dport;
	__u8 proto, family;
	__u8 pad[2];
};

#define LB_FLOW_OPEN	0
#define LB_FLOW_CLOSING	1	/* TCP FIN or RST seen: the closing timeout applies */

struct lb_flow {
	__u64 last_seen;	/* bpf_ktime_get_coarse_ns */
	__u32 backend;		/* lb_backends id */
	__u32 be_gen;		/* its gen when chosen */
	__u8 state;		/* LB_FLOW_* */
	__u8 pad;
	__be16 vport;		/* LB_REVERSE: the service port */
	__u32 pad2;
	__u8 vip[16];		/* LB_REVERSE: the VIP */
};

/*
 * DSR health checks travel as client traffic does: the agent's check socket
 * connects to the backend's address with SO_MARK = SLUICE_LB_HC_MARK | id
 * (the backend's lb_backends id); the TC egress program rewrites the
 * destination to the VIP of lb_hc[id] and puts the outer header on, and
 * leaves a reverse entry that turns the answer (from the VIP) back into one
 * from the backend's address for the socket.
 */
#define SLUICE_LB_HC_MARK	0x51c00000u	/* the low 16 bits: the backend id */
#define SLUICE_LB_HC_MASK	0xffff0000u

struct lb_hc {
	__u8 vip[16];		/* network order; IPv4 in the first 4 bytes */
	__be16 port;		/* the service's */
	__u8 family;		/* 0: no encapsulated check for this id */
	__u8 pad;
};

/*
 * lb_config.timeout[] (seconds a flow may idle); 0: the default, conntrack's
 * (the agent writes the policy's conntrack timeouts here).
 */
enum { LB_TO_TCP, LB_TO_TCP_CLOSING, LB_TO_UDP, LB_TO_MAX };
#define SLUICE_LB_TO_DEFAULT(i)	((i) == LB_TO_UDP ? 30u : (i) == LB_TO_TCP_CLOSING ? 120u : 432000u)

/* lb_cfg[0]: written by the agent. */
struct lb_config {
	__u32 active;		/* services present: allowed packets go to the LB stage */
	__u32 nat;		/* NAT services (or DSR health checks): the entry program looks for replies */
	__u32 decap;		/* decap VIPs present (backend side of DSR) */
	__u32 timeout[LB_TO_MAX];
	__u64 gen;		/* policy generation */
};

/*
 * lb_nh[backend id] (per CPU): the next hop towards the backend as
 * bpf_fib_lookup gave it, reused for SLUICE_LB_NH_TTL_S: route and
 * neighbour changes show within that time; a cache miss or an entry of
 * another incarnation looks the route up again.
 */
#define SLUICE_LB_NH_TTL_S	1

struct lb_nexthop {
	__u64 expires;		/* bpf_ktime_get_coarse_ns */
	__u32 ifindex;		/* egress */
	__u32 gen;		/* the backend's incarnation */
	__u16 mtu;		/* the egress device's MTU */
	__u8 smac[6], dmac[6];
	__u8 pad[2];
};

/*
 * lb_filter: one bit per address hash (sl_lb_addr_hash), words
 * [LB_F_VIP * SLUICE_LB_FILTER_WORDS, ...) for the VIPs, then the backends.
 * A clear bit says "no VIP (backend) has this address": the packet skips
 * the service (reply) lookup with one inlined array read. The agent sets
 * the bits of new addresses before they are in use, clears old ones after.
 */
#define SLUICE_LB_FILTER_WORDS	1024		/* 65536 bits per side */
enum { LB_F_VIP, LB_F_BACKEND, LB_F_MAX };

static inline __u32 sl_lb_addr_hash(const __u32 *a)
{
	return ((a[0] ^ a[1] ^ a[2] ^ a[3]) * 0x9e3779b1u) >> 16;
}

/* lb_be_stats[backend id] (per CPU). */
struct lb_be_counter {
	__u64 new_flows;	/* flows balanced to it */
	__u64 packets;		/* client -> backend */
	__u64 bytes;
};

/* lb_stats[i] (per CPU): what the load balancer did. */
#define SLUICE_LB_STATS(X)					\
	X(LB_STAT_NEW_FLOW,	"new-flows")			\
	X(LB_STAT_RESELECT,	"rebalanced")			\
	X(LB_STAT_FLOW_FAIL,	"flow-insert-failed")		\
	X(LB_STAT_REPLY,	"nat-replies")			\
	X(LB_STAT_ICMP,		"icmp-to-backend")		\
	X(LB_STAT_TOO_BIG,	"icmp-too-big-sent")		\
	X(LB_STAT_STACK,	"to-stack-no-neighbour")	\
	X(LB_STAT_VLAN,		"to-stack-vlan")		\
	X(LB_STAT_DECAP,	"decapsulated")

#define SLUICE_ENUM_ENTRY(id, name) SLUICE_##id,
enum sluice_lb_stat { SLUICE_LB_STATS(SLUICE_ENUM_ENTRY) SLUICE_LB_STAT_MAX };
#undef SLUICE_ENUM_ENTRY

/*
 * The flow hash: the same on every node for the same packet (no random
 * seed), so that nodes with byte-identical policies pick the same backend.
 * W: the 10 words of a struct lb_flow_key as they are in memory.
 */
static inline __u32 sl_lb_flow_hash(const __u32 *w)
{
	__u32 h = SLUICE_LB_FLOW_SEED;

	for (int i = 0; i < 10; i++)
		h = (h ^ w[i]) * 0x9e3779b1u;
	/* murmur3's finaliser: every input bit reaches every output bit */
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	return h ^ (h >> 16);
}

/*
 * Drop events (ring buffer sl_events, shared by both slots). One record per
 * drop, up to sl_ev_cfg.rate per second; the rest are only counted.
 */
#define SLUICE_EV_NO_RULE	0xffffffffu	/* dropped before classification */
#define SLUICE_EV_DEFAULT_RATE	1000		/* events/s; 0: events off */
#define SLUICE_EV_RINGBUF	(256 * 1024)

struct sl_event {
	__u64 ts_ns;		/* bpf_ktime_get_ns (CLOCK_MONOTONIC) */
	__u32 ifindex;		/* the receiving interface */
	__u32 rule;		/* rule index, SLUICE_RULE_DEFAULT or SLUICE_EV_NO_RULE */
	__u32 len;		/* frame length */
	__u16 reason;		/* enum sluice_drop_reason */
	__u8 family;		/* 4, 6, or 0 when the IP header was not parsed */
	__u8 proto;		/* IP protocol number (0 when not parsed) */
	__u16 sport, dport;	/* host order; 0 without ports */
	__u8 pad[4];
	__u8 src[16], dst[16];	/* network order; IPv4 in the first 4 bytes */
	/* egress (reasons egress-*): the socket's cgroup (0: the TC backstop) */
	__u64 cgroup;
	__u32 egress;		/* index + 1 of the egress entry; 0: not an egress event */
	__u32 hook;		/* enum sluice_eg_hook of an egress event */
};

/*
 * sl_ev_cfg[0]: the limiter, a one-second window shared by every CPU
 * (atomic adds): at most `rate` events start in one window; the drops over
 * it only count `suppressed`. The agent writes `rate` at start.
 */
struct sl_ev_config {
	__u32 rate;		/* events per second; 0: no events */
	__u32 pad;
	__u64 win_start;	/* ns, start of the current window */
	__u64 win_sent;		/* events reserved in the current window */
	__u64 sent;		/* events written, ever */
	__u64 suppressed;	/* drops over the rate limit, ever */
	__u64 lost;		/* ring buffer full */
};

/*
 * Map names, as the kernel and the pins see them (at most 15 characters).
 * Pins: the fw_* tables (fw_cfg .. fw_dport) once per slot under
 * STATE_DIR/slots/{0,1}/NAME (the agent writes the idle slot and switches the
 * links to its program instance); the counters, shared by both slots, under
 * STATE_DIR/maps/NAME; XDP links under STATE_DIR/links/xdp_IFINDEX.
 */
#define SLUICE_MAP_FW_CFG	"fw_cfg"
#define SLUICE_MAP_FW_CLS	"fw_cls"
#define SLUICE_MAP_FW_SRC4	"fw_src4"
#define SLUICE_MAP_FW_DST4	"fw_dst4"
#define SLUICE_MAP_FW_SRC4_T8	"fw_src4_t8"
#define SLUICE_MAP_FW_DST4_T8	"fw_dst4_t8"
#define SLUICE_MAP_FW_SRC6	"fw_src6"
#define SLUICE_MAP_FW_DST6	"fw_dst6"
#define SLUICE_MAP_FW_SPORT	"fw_sport"
#define SLUICE_MAP_FW_DPORT	"fw_dport"
#define SLUICE_MAP_RULE_CNT	"fw_rule_cnt"
#define SLUICE_MAP_VERDICT	"sl_verdict"
#define SLUICE_MAP_DROP		"sl_drop"
#define SLUICE_MAP_CT		"ct_shards"
#define SLUICE_MAP_CT_SWEEP	"ct_sweep"
#define SLUICE_MAP_CT_CFG	"ct_cfg"
#define SLUICE_MAP_CT_STATS	"ct_stats"
#define SLUICE_MAP_CT_CK_CFG	"ct_ck_cfg"
#define SLUICE_MAP_CT_CK_LOAD	"ct_ck_load"
#define SLUICE_MAP_EVENTS	"sl_events"
#define SLUICE_MAP_EV_CFG	"sl_ev_cfg"
/* outer arrays of maps (index: policy slot) holding the fw_* tables above */
#define SLUICE_MAP_FWO_CFG	"fwo_cfg"
#define SLUICE_MAP_FWO_CLS	"fwo_cls"
#define SLUICE_MAP_FWO_SRC4	"fwo_src4"
#define SLUICE_MAP_FWO_DST4	"fwo_dst4"
#define SLUICE_MAP_FWO_SRC4_T8	"fwo_src4_t8"
#define SLUICE_MAP_FWO_DST4_T8	"fwo_dst4_t8"
#define SLUICE_MAP_FWO_SRC6	"fwo_src6"
#define SLUICE_MAP_FWO_DST6	"fwo_dst6"
#define SLUICE_MAP_FWO_SPORT	"fwo_sport"
#define SLUICE_MAP_FWO_DPORT	"fwo_dport"
#define SLUICE_MAP_IFSLOT	"sl_ifslot"	/* ifindex -> policy slot */
#define SLUICE_MAP_IFSLOT_A	"sl_ifslot_a"	/* ifindex -> policy slot + 1, ifindex < 64k */
#define SLUICE_MAP_TAILS	"sl_tails"	/* prog array of the pipeline stages */
#define SLUICE_MAP_SCRATCH	"sl_scratch"	/* per-CPU per-packet state */
#define SLUICE_MAP_LB_SVC	"lb_svc"	/* (VIP, port, proto) -> service */
#define SLUICE_MAP_LB_MAGLEV	"lb_maglev"	/* Maglev tables (array of maps) */
#define SLUICE_MAP_LB_BACKENDS	"lb_backends"	/* backend id -> address, port */
#define SLUICE_MAP_LB_FLOWTAB	"lb_flowtab"	/* flows and NAT replies (array of maps) */
#define SLUICE_MAP_LB_FLOWS	"lb_flows"	/* its inner maps */
#define SLUICE_MAP_LB_REVERSE	"lb_reverse"
#define SLUICE_MAP_LB_BE_STATS	"lb_be_stats"	/* per-backend counters */
#define SLUICE_MAP_LB_STATS	"lb_stats"	/* load balancer events */
#define SLUICE_MAP_LB_CFG	"lb_cfg"
#define SLUICE_MAP_LB_DEVMAP	"lb_devmap"	/* XDP_REDIRECT targets */
#define SLUICE_MAP_LB_DECAP	"lb_decap"	/* decap VIPs */
#define SLUICE_MAP_LB_DECAP_IF	"lb_decap_if"	/* decap interfaces */
#define SLUICE_MAP_LB_NH	"lb_nh"		/* next hop per backend (per CPU) */
#define SLUICE_MAP_LB_FILTER	"lb_filter"	/* VIP and backend address bits */
#define SLUICE_MAP_LB_HC	"lb_hc"		/* DSR health checks: backend id -> VIP */

/*
 * Container egress (docs/egress.md): cgroup sock_addr hooks (connect4/6,
 * sendmsg4/6) and the TC backstop. Each `egress` entry of the policy is
 * compiled like a firewall section into a policy slot of its own (the fwo_*
 * tables; its rules name only dst, proto and dport, so any source and
 * source port match). eg_cg maps a cgroup id to its entry; a socket whose
 * cgroup has none takes its nearest ancestor that has one (at most
 * SLUICE_EG_DEPTH levels deep). The TC backstop finds the entry by the
 * packet's source address (eg_src4/eg_src6, from the entries' backstop.src).
 * Each value is one word set: an entry moves to a new slot atomically.
 */
#define SLUICE_EG_MAX		256	/* egress entries per policy */
#define SLUICE_EG_CNT_MAX	8192	/* eg_rule_cnt: every entry's rules and default */
#define SLUICE_EG_DEPTH		32	/* cgroup levels walked up to a managed ancestor */
#define SLUICE_EG_SRC_MAX	16384	/* backstop source prefixes per family */

struct sl_eg_val {
	__u32 slot;		/* policy slot of the entry's compiled rules */
	__u32 cnt_base;		/* eg_rule_cnt index of rule 0; cnt_base + nrules: default */
	__u32 entry;		/* index + 1 of the entry in the policy (events) */
	__u32 pad;
};

/* Keys of eg_src4 / eg_src6 (LPM tries): the backstop's source prefixes. */
struct sl_eg_src4 {
	__u32 prefixlen;
	__u8 addr[4];		/* network order */
};

struct sl_eg_src6 {
	__u32 prefixlen;
	__u8 addr[16];
};

/* Where a call or packet was judged: eg_stats[hook * 2 + denied] (per CPU). */
#define SLUICE_EG_HOOKS(X)				\
	X(EG_CONNECT4,	"connect4")			\
	X(EG_CONNECT6,	"connect6")			\
	X(EG_SENDMSG4,	"sendmsg4")			\
	X(EG_SENDMSG6,	"sendmsg6")			\
	X(EG_BACKSTOP,	"tc-backstop")

#define SLUICE_ENUM_ENTRY(id, name) SLUICE_##id,
enum sluice_eg_hook { SLUICE_EG_HOOKS(SLUICE_ENUM_ENTRY) SLUICE_EG_HOOK_MAX };
#undef SLUICE_ENUM_ENTRY

/*
 * Socket-level load balancing: a managed socket that connects or sends to a
 * VIP of `loadbalancers` is given a backend from the service's Maglev table
 * at once (docs/egress.md). eg_lb_rev remembers, per socket (its cookie) and
 * backend, the VIP it stands for: getpeername() and recvmsg() get the VIP.
 */
#define SLUICE_EG_REV_MAX	65536	/* eg_lb_rev entries (an LRU) */

struct sl_eg_rev_key {
	__u64 cookie;		/* bpf_get_socket_cookie */
	__u8 addr[16];		/* the backend, network order; IPv4 in the first 4 bytes */
	__be16 port;
	__u8 family;		/* 4 or 6 */
	__u8 pad[5];
};

struct sl_eg_rev {
	__u8 vip[16];		/* network order; IPv4 in the first 4 bytes */
	__be16 port;
	__u8 family;
	__u8 pad[5];
};

#define SLUICE_MAP_EG_CG	"eg_cg"		/* cgroup id -> struct sl_eg_val */
#define SLUICE_MAP_EG_SRC4	"eg_src4"	/* backstop: IPv4 source -> struct sl_eg_val */
#define SLUICE_MAP_EG_SRC6	"eg_src6"
#define SLUICE_MAP_EG_CNT	"eg_rule_cnt"	/* per-CPU sl_counter per rule and default */
#define SLUICE_MAP_EG_STATS	"eg_stats"	/* per-CPU sl_counter per hook and verdict */
#define SLUICE_MAP_EG_LB_REV	"eg_lb_rev"	/* (socket, backend) -> VIP: getpeername, recvmsg */

#ifndef __BPF__
_Static_assert(sizeof(struct fw_config) == 8 + 4 * 3 + 2 * 2 + 2 * 256 + 8 * SLUICE_BM_WORDS + 8,
	       "fw_config layout");
_Static_assert(sizeof(struct fw_config) % 8 == 0, "fw_config padding");
_Static_assert(sizeof(struct fw_bitmap) == 64, "fw_bitmap is one cache line");
_Static_assert(sizeof(struct fw_blk) == 128, "fw_blk layout");
_Static_assert(sizeof(struct fw_t8) == 512, "fw_t8 layout");
_Static_assert(sizeof(struct fw_lpm6_key) == 20, "fw_lpm6_key layout");
_Static_assert(sizeof(struct fw_lpm6_val) == 4, "fw_lpm6_val layout");
_Static_assert(sizeof(struct sl_counter) == 16, "sl_counter layout");
_Static_assert(sizeof(struct sl_ct_key) == 40, "ct_key layout");
_Static_assert(sizeof(struct sl_ct_entry) == 56, "ct_entry layout");
_Static_assert(sizeof(struct sl_ct_sweeper) == 72, "ct_sweeper layout");
_Static_assert(sizeof(struct sl_ct_config) % 8 == 0, "ct_config padding");
_Static_assert(sizeof(struct sl_event) == 80, "sl_event layout");
_Static_assert(sizeof(struct sl_eg_val) == 16, "sl_eg_val layout");
_Static_assert(sizeof(struct sl_eg_src4) == 8, "sl_eg_src4 layout");
_Static_assert(sizeof(struct sl_eg_src6) == 20, "sl_eg_src6 layout");
_Static_assert(sizeof(struct sl_eg_rev_key) == 32, "sl_eg_rev_key layout");
_Static_assert(sizeof(struct sl_eg_rev) == 24, "sl_eg_rev layout");
_Static_assert(sizeof(struct sl_ck_config) == 32 + 8 * (SLUICE_CK_PORT_WORDS + SLUICE_CK_IF_WORDS),
	       "ck_config layout");
_Static_assert(sizeof(struct sl_ck_load) == 24, "ck_load layout");
_Static_assert(sizeof(struct sl_ck_meta) == 20, "ck_meta: XDP metadata, a multiple of 4");
_Static_assert(sizeof(struct sl_ev_config) == 48, "sl_ev_config layout");
_Static_assert(SLUICE_VERDICT_MAX <= SLUICE_VERDICT_SLOTS, "sl_verdict has room");
_Static_assert(SLUICE_DROP_MAX <= SLUICE_DROP_SLOTS, "sl_drop has room");
_Static_assert(sizeof(struct lb_svc_key) == 20, "lb_svc_key layout");
_Static_assert(sizeof(struct lb_service) == 32, "lb_service layout");
_Static_assert(sizeof(struct lb_backend) == 32, "lb_backend layout");
_Static_assert(sizeof(struct lb_flow_key) == 40, "lb_flow_key layout");
_Static_assert(sizeof(struct lb_flow) == 40, "lb_flow layout");
_Static_assert(sizeof(struct lb_config) == 32, "lb_config layout");
_Static_assert(sizeof(struct lb_be_counter) == 24, "lb_be_counter layout");
_Static_assert(sizeof(struct lb_nexthop) == 32, "lb_nexthop layout");
_Static_assert(sizeof(struct lb_hc) == 20, "lb_hc layout");
_Static_assert(SLUICE_LB_BACKENDS_MAX <= 0x10000, "a backend id fits the mark's low bits");
_Static_assert(SLUICE_MAX_CLASSES <= SLUICE_T8_FLAG, "class ids fit below the tbl8 flag");
_Static_assert(SLUICE_T8_GROUPS <= SLUICE_T8_FLAG, "tbl8 group ids fit below the flag");
#endif

#endif /* SLUICE_ABI_H */
