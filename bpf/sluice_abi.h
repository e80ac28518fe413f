/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one header shared by the BPF programs and userspace (agent, CLI, tests).
 * It holds keys, values, enums and names; no logic. Fixed-width types, explicit
 * padding, sizes checked with _Static_assert. Values in network byte order are
 * marked __be; everything else is host order.
 *
 * Firewall classification (Linear Bit Vector Search, see docs/architecture.md):
 * every rule is one bit. Each packet field (source, destination, protocol,
 * source port, destination port) is looked up in its own table, which yields
 * a "class" of that field: the set of rules that match the value, as a bitmap
 * of fw_config.words 64-rule words. The bitmaps of the five fields are ANDed
 * and the lowest set bit is the first matching rule. Class ids are per field
 * (each field numbers its classes from 0, the empty class); the class table
 * holds the fields one after the other from fw_config.cls_base[field].
 *
 *   classes      : small policies (fw_config.row == 0: at most
 *                  SLUICE_SMALL_RULES rules and SLUICE_SMALL_CLASSES classes)
 *                  fw_cls[base + id], one 64-byte fw_bitmap per class. Large
 *                  ones: fw_clsb, `row` 64-byte chunks per class; chunk 0 is
 *                  the summary (bit j of word i: word 64 * i + j of the class
 *                  has a bit set), chunks 1.. the words. The summaries are
 *                  ANDed first and only the words they leave are read.
 *   src/dst IPv4 : DIR-16-8 plus a hash (sl_lh_home): fw_src4 has one u32
 *                  per /16 (SLUICE_L1_BLK per element): a class, or with
 *                  SLUICE_L1_FLAG a chunk of fw_src4_t8 (256 u16, one per
 *                  /24; packed in fw_src4_p1/_p2 when it holds 2 or 4
 *                  values): a class, or with SLUICE_T8_FLAG the /24's class (low
 *                  bits) when it has longer prefixes. Those are in the hash
 *                  fw_src4_lh, clustered by /24 from its home bucket, longest
 *                  first, each with the class of every prefix covering it: the
 *                  first entry that covers the address is the answer; an
 *                  entry of length 24 names a full chunk of fw_src4_t8 (a
 *                  "group", one u16 per address) for a /24 with many. Once
 *                  a direction has the hash, a /16 of two classes with
 *                  longer prefixes is one element instead (SL_CHUNK_HOSTS,
 *                  _PFX, _IV1 in fw_src4_p1, _IV in fw_src4_p2).
 *                  Memory follows the prefixes: 256 KiB, plus 512 B per /16
 *                  holding a boundary, plus ~13 B per prefix past /24. Sets
 *                  splitting most /16s go flat (SL_MODE_FLAT): fw_src4_24
 *                  holds every /16's chunk in order (DIR-24, 32 MiB) and the
 *                  /16 level is skipped; fw_src4_t8 then holds the groups.
 *   src/dst IPv6 : LPM tries fw_src6/fw_dst6; ::/0 is always present.
 *   sport/dport  : fw_sport/fw_dport, 64 ports per array element.
 *   proto        : fw_config.proto_cls[256].
 *   no ports     : packets without ports (ICMP, other protocols, non-first
 *                  fragments) use fw_dir.noport_cls for each port field: the
 *                  rules that name no port of that field.
 * A table whose field no rule of the policy names (e.g. no IPv6 prefix in
 * dst) is not built: fw_dir says SL_MODE_CONST and gives the one class.
 */
#ifndef SLUICE_ABI_H
#define SLUICE_ABI_H

#ifdef __BPF__
/* vmlinux.h provides the __u* and __be* types */
#else
#include <linux/types.h>
#include <linux/bpf.h>	/* struct bpf_timer */
#endif

#define SLUICE_MAX_RULES	16384	/* per policy, all firewall sections together */
#define SLUICE_BM_WORDS		8	/* words of a fw_bitmap: one cache line */
#define SLUICE_SMALL_RULES	(SLUICE_BM_WORDS * 64)	/* 512: one fw_bitmap per class */
#define SLUICE_SMALL_CLASSES	4096	/* fw_cls entries (all fields), fixed: inlined lookups */
#define SLUICE_WORDS_MAX	(SLUICE_MAX_RULES / 64)		/* 256 */
#define SLUICE_SUM_WORDS	(SLUICE_WORDS_MAX / 64)		/* 4: summary of a large class */
#define SLUICE_MAX_CLASSES	32768	/* distinct classes per field (ids below SLUICE_T8_FLAG) */
#define SLUICE_L1_BLK		64			/* u32 entries per fw_src4 element */
#define SLUICE_L1_BLOCKS	(65536 / SLUICE_L1_BLK)	/* 1024: one entry per /16 */
#define SLUICE_L1_FLAG		0x80000000u		/* /16 entry names a chunk */
/*
 * A chunk whose 256 /24 entries take at most 2 (4) values is packed: one
 * (two) bits per /24 and the values, 64 (128) bytes in fw_src4_p1
 * (fw_src4_p2) instead of 512 in fw_src4_t8; the /16 entry says which:
 * SLUICE_L1_FLAG | kind << SLUICE_L1_KIND_SHIFT | index.
 */
#define SLUICE_L1_KIND_SHIFT	28
#define SLUICE_L1_KIND_MASK	7u
#define SLUICE_L1_INDEX		0x0fffffffu
/*
 * SL_CHUNK_IV: no chunk; the index names a struct fw_iv in fw_*4_p2 (the
 * same 128 bytes): the /16's addresses as intervals of two classes;
 * SL_CHUNK_IV1 a struct fw_iv1 (up to 29 boundaries) and SL_CHUNK_HOSTS a
 * struct fw_hosts in fw_*4_p1 (64 bytes: one cache line), SL_CHUNK_PFX
 * a struct fw_pfx16 there (up to 24 prefixes of one class). A /16
 * whose longer prefixes would take the hash answers from one element, one
 * dependent access into a large table where chunk and hash took two, and a
 * source the set misses costs what a hit does.
 */
enum sl_chunk_kind { SL_CHUNK_FULL = 0, SL_CHUNK_P1 = 1, SL_CHUNK_P2 = 2, SL_CHUNK_SMALL = 3,
		     SL_CHUNK_IV = 4, SL_CHUNK_HOSTS = 5, SL_CHUNK_IV1 = 6, SL_CHUNK_PFX = 7 };
/*
 * A direction whose chunks and groups are few (fw_dir.small) keeps them all
 * full in fw_src4_s, of fixed size: its lookups are inlined where a sized
 * table's cost a call (~10 ns here), what small policies would pay for
 * their /24s and hosts.
 */
#define SLUICE_SMALL_CHUNKS	256
#define SLUICE_T8_FLAG		0x8000u			/* /24 entry: longer prefixes in the hash */
#define SLUICE_T8_MAX		(1u << 24)		/* chunks + groups per direction */
#define SLUICE_FLAT_CHUNKS	65536	/* fw_src4_24: one chunk per /16, DIR-24 (32 MiB) */
/*
 * A direction whose IPv4 prefixes split more /16s than this goes flat
 * (SL_MODE_FLAT): fw_src4_24 is at most twice what its chunks took, and a
 * packet skips the /16 level, one dependent memory access fewer where it
 * counts (a table far larger than the caches, random sources).
 */
#define SLUICE_FLAT_MIN		(SLUICE_FLAT_CHUNKS / 2)
#define SLUICE_LH_SLOTS		8	/* entries per fw_lh_bkt: one cache line */
#define SLUICE_LH_PROBE		8	/* buckets a /24's entries may span from its home */
#define SLUICE_LH_GROUP		16	/* a /24 with more entries gets a group instead */
/*
 * Up to this many /24s split by longer prefixes, each gets a group, named by
 * the /24's entry itself (fw_dir.lh_bkts 0: no hash): one access fewer for
 * the few hosts of a small policy, 1 MiB at most.
 */
#define SLUICE_GROUPS_DIRECT	2048
#define SLUICE_LH_MAX		(1u << 24)		/* hash buckets per direction */
#define SLUICE_BLK		64			/* u16 entries per port table element */
#define SLUICE_PORT_BLOCKS	(65536 / SLUICE_BLK)	/* 1024 */
#define SLUICE_LPM6_MAX		(1u << 20)
#define SLUICE_RULE_BLOCKS	(SLUICE_MAX_RULES / 64)	/* fw_rule elements */
#define SLUICE_IPV6_EXT_MAX	8	/* extension headers walked before giving up */
#define SLUICE_POL_SLOTS	64	/* policy slots: compiled policies, see fwp_* maps */
#define SLUICE_IFSLOT_MAX	4096	/* interfaces with a policy slot (sl_ifslot) */
#define SLUICE_IFSLOT_DEFAULT	0	/* sl_ifslot key for interfaces without one */
/*
 * sl_ifslot_a[ifindex] = slot + 1 (0: none) for ifindex below this: the
 * per-packet lookup, an inlined array read; sl_ifslot (a hash) holds every
 * entry too and is the only one for larger ifindexes.
 */
#define SLUICE_IFSLOT_ARRAY	65536

/* Class 0 of every field is the empty bitmap: it matches no rule. */
#define SLUICE_CLS_NONE		0

enum sluice_action {
	SLUICE_ACT_ALLOW = 0,
	SLUICE_ACT_DENY = 1,
};

/* The five fields, in the order of fw_config.cls_base. */
enum sl_field { SL_F_SRC, SL_F_DST, SL_F_PROTO, SL_F_SPORT, SL_F_DPORT, SL_F_MAX };

/* fw_dir.v4/.v6/.port: how a field of that direction is looked up. */
enum sl_tbl_mode {
	SL_MODE_CONST = 0,	/* no rule names a value of it: the class in fw_dir */
	SL_MODE_MAP = 1,	/* its table (fw_src4/..., fw_src6, fw_sport) */
	SL_MODE_FLAT = 2,	/* IPv4, large sets: every /16's chunk in fw_src4_24 */
};

/* One direction (fw_config.dir[0]: source, [1]: destination). */
struct fw_dir {
	__u8 v4, v6, port;	/* enum sl_tbl_mode */
	__u8 small;		/* IPv4 chunks and groups in fw_*4_s (SLUICE_SMALL_CHUNKS) */
	__u16 v4_cls, v6_cls;	/* the class of every address when SL_MODE_CONST */
	__u16 port_cls;		/* the class of every port when SL_MODE_CONST */
	__u16 noport_cls;	/* packets without ports: the rules naming no port here */
	__u32 lh_bkts;		/* buckets of fw_*4_lh; 0: a flagged /24 entry names its group */
};

/*
 * fw_cfg[0]: scalar settings of the compiled firewall policy, laid out by
 * cache line (fw_cfg is BPF_F_MMAPABLE: its value starts a page). Line 0:
 * what every packet reads (flags, class bases, src_only, the source
 * direction) and the first rules' entries, so that a packet the source
 * decides (a blocklist's drop) reads this one line of it and no rule
 * table; line 1: what a packet classified on every field reads too (the
 * destination direction, nrules, the classes of the usual protocols);
 * the default action's and the events' fields after the protocol classes.
 */
#define SLUICE_CFG_RULES	2	/* fw_config.first_rules: a power of 2 */

struct fw_config {
	__u64 generation;		/* policy generation that wrote this */
	__u16 active;			/* 0: no policy applied, every packet passes */
	__u16 early;			/* 1: a rule is early (SLUICE_RULE_EARLY): when
					 * stateful, the packet is classified before
					 * conntrack (once), so an early deny drops it
					 * before any conntrack lookup */
	__u16 block;			/* 1: rule 0 is the CLI blocklist: its prefixes are in
					 * the sl_block* maps, not in the tables; checked before
					 * conntrack so a block cuts established flows */
	__u16 row;			/* 0: classes in fw_cls; else chunks per class in fw_clsb */
	__u32 cls_base[SL_F_MAX];	/* class table index of each field's class 0 */
	__u32 src_only;			/* bit r: rule r (< 32) names a source and nothing
					 * else, so when it is the first rule of the packet's
					 * source class it is the first match: the other
					 * fields need not be looked up (0 in slots written
					 * before it: the full lookup, as then) */
	__u32 first_rules[SLUICE_CFG_RULES];	/* fw_rule's entries of rules 0 and 1
						 * (the same words): their packets read
						 * no rule table (sl_rule_entry) */
	struct fw_dir dir[2];		/* source, destination */
	__u32 nrules;			/* rules in use, bits [0, nrules) */
	__u16 proto_cls[256];		/* IP protocol number -> class */
	__u32 default_action;		/* enum sluice_action */
	__u32 cnt_default;		/* fw_rule_cnt id of the default action */
	__u16 words;			/* 64-rule words per class: ceil(nrules / 64), >= 1 */
	__u16 section;			/* the firewall section compiled (drop events) */
};

/* fw_cls[class], fw_clsb[chunk]: 512 rules, or a chunk of a large class. */
struct fw_bitmap {
	__u64 w[SLUICE_BM_WORDS];
};

/* Element of fw_src4, fw_dst4: the /16s of an IPv4 /10. */
struct fw_l1blk {
	__u32 e[SLUICE_L1_BLK];
};

/* Element of fw_sport, fw_dport: SLUICE_BLK consecutive ports. */
struct fw_blk {
	__u16 e[SLUICE_BLK];
};

/* Element of fw_src4_t8, fw_dst4_t8: the /24s of a /16 (chunk) or the
 * addresses of a /24 (group). */
struct fw_t8 {
	__u16 e[256];
};

/* Element of fw_src4_p1: a chunk of two values, /24 k's is val[bit k]. */
struct fw_p1 {
	__u64 bits[4];
	__u16 val[2];
	__u16 pad[14];
};

/* Element of fw_src4_p2: a chunk of four values, /24 k's is val[2 bits at 2k]. */
struct fw_p2 {
	__u64 bits[8];
	__u16 val[4];
	__u16 pad[28];
};

/*
 * Element of fw_src4_p2 named by an SL_CHUNK_IV /16 entry: the class of low
 * address bits X (the address & 0xffff) is cls[number of b[j] <= X, j < n,
 * taken mod 2]: b holds, ascending, where the class changes. Boundaries
 * first, so that a search reads them as a 64-entry u16 array (past n: the
 * header, never counted).
 */
#define SLUICE_IV_MAX		61
struct fw_iv {
	__u16 b[SLUICE_IV_MAX];
	__u16 n;
	__u16 cls[2];
};

/* Element of fw_src4_p1 named by an SL_CHUNK_IV1 /16 entry: struct fw_iv in a cache line. */
#define SLUICE_IV1_MAX		29
struct fw_iv1 {
	__u16 b[SLUICE_IV1_MAX];
	__u16 n;
	__u16 cls[2];
};

/*
 * Element of fw_src4_p1 named by an SL_CHUNK_HOSTS /16 entry: single
 * addresses of class cls[1] (low 16 bits, ascending, the last repeated to
 * the end) over class cls[0]: an IP reputation feed's /16 in one cache line.
 */
#define SLUICE_HOSTS_MAX	30
struct fw_hosts {
	__u16 h[SLUICE_HOSTS_MAX];
	__u16 cls[2];
};

/*
 * Element of fw_src4_p1 named by an SL_CHUNK_PFX /16 entry: the addresses
 * of class cls[1] as aligned prefixes (low 16 bits of the base, host bits
 * zero; prefix j has nibble j of hb host bits, 0 for a single address,
 * at most 15), over class cls[0]; unused entries repeat the last. A threat
 * feed's /16 (its /24s, /28s and /32s, ~15 of them) in one cache line,
 * where its boundaries take two as intervals; no search: read four at a
 * time, the next four only while there are more (a repeat ends them).
 */
#define SLUICE_PFX_MAX		24
struct fw_pfx16 {
	__u16 base[SLUICE_PFX_MAX];
	__u32 hb[SLUICE_PFX_MAX / 8];
	__u16 cls[2];
};

/* Entry of the IPv4 long-prefix hash: NET/LEN -> class, or (LEN 24) group. */
struct fw_lh_ent {
	__u32 net;		/* host order, host bits zero */
	__u32 lv;		/* len << 24 | value; 0: empty */
};

/* Element of fw_src4_lh, fw_dst4_lh: one cache line of entries. */
struct fw_lh_bkt {
	struct fw_lh_ent e[SLUICE_LH_SLOTS];
};

#define SLUICE_LH_LEN(lv)	((lv) >> 24)
#define SLUICE_LH_VAL(lv)	((lv) & 0xffffffu)

/*
 * The home bucket of /24 NET24 (the address >> 8) among NBKTS: a multiply
 * hash scaled to the table without a division. Both sides compute it.
 */
static inline __u32 sl_lh_home(__u32 net24, __u32 nbkts)
{
	__u32 h = net24 * 0x9e3779b1u;

	h ^= h >> 16;
	return (__u32)(((__u64)h * nbkts) >> 32);
}

/* Key of fw_src6 and fw_dst6 (BPF_MAP_TYPE_LPM_TRIE). */
struct fw_lpm6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/*
 * The CLI blocklist (`sluice block add`): per family a hash of single
 * addresses (/32, /128: most of a reputation feed, one lookup whatever its
 * size) and an LPM trie of the shorter prefixes, shared by every slot and
 * edited in place, one prefix per update (atomic per packet). Checked before
 * conntrack when fw_config.block says rule 0 is the blocklist; its drops
 * count and are named as rule 0. The values are unused.
 */
#define SLUICE_BLOCK_MAX	(1u << 21)	/* prefixes per family and map */

struct sl_block4_key {
	__u32 prefixlen;
	__u8 addr[4];		/* network order */
};

struct sl_block6h_key {
	__u8 addr[16];		/* network order */
};

struct fw_lpm6_val {
	__u16 cls;
	__u16 pad;
};

/*
 * fw_rule[rule / 64].e[rule % 64]: what rule RULE of the slot does. The
 * counter id is the rule's entry in fw_rule_cnt: the agent keeps it across
 * reloads for a rule whose name and content did not change.
 */
#define SLUICE_RULE_ALLOW	0x80000000u	/* the rule allows; else it denies */
#define SLUICE_RULE_EARLY	0x40000000u	/* a deny checked before conntrack (`early`) */
#define SLUICE_RULE_CNT(e)	((e) & ~(SLUICE_RULE_ALLOW | SLUICE_RULE_EARLY))

struct fw_rule_blk {
	__u32 e[64];
};

/*
 * fw_rule_cnt[id] (per CPU): packets and bytes of the rule whose counter id
 * is ID (fw_rule), SLUICE_CNT_DEFAULT for the default action. Ids are the
 * agent's to give: a reload keeps a rule's id when its name and content did
 * not change, so its counters go on; there are ids for the rules of the
 * policy in force and of one replacing it. fw_cnt_key[id] (userspace only)
 * holds the key of the rule owning ID (0: free), so that a restarted agent
 * finds them again.
 */
#define SLUICE_CNT_MAX		(2 * SLUICE_MAX_RULES + 1)
#define SLUICE_CNT_DEFAULT	(SLUICE_CNT_MAX - 1)
/* The default action where a rule index is expected (drop events, metrics). */
#define SLUICE_RULE_DEFAULT	SLUICE_MAX_RULES

struct sl_counter {
	__u64 packets;
	__u64 bytes;
};

/*
 * The hooks the firewall runs on (a section's `hook:`): sl_verdict_v2 and
 * sl_drop_v2 hold one block of entries per hook, so that `sluice stats`
 * says which hook saw a packet. The hook is a constant in each program
 * (bpf/lib/hook.h): the entry is as cheap to find as one counter per map.
 * The egress backstop (tcx ingress) counts its drops under tc.
 */
#define SLUICE_HOOKS(X)			\
	X(HOOK_XDP,	"xdp")		\
	X(HOOK_TC,	"tc")

/* sl_verdict_v2[hook * SLUICE_VERDICT_SLOTS + v] (per CPU): what the hook's program returned. */
#define SLUICE_VERDICTS(X)			\
	X(VERDICT_PASS,		"pass")		\
	X(VERDICT_DROP,		"drop")		\
	X(VERDICT_PASS_NONIP,	"pass-non-ip")	\
	X(VERDICT_TX,		"tx")		/* sent back out the interface it came in on */ \
	X(VERDICT_REDIRECT,	"redirect")	/* sent out another interface (load balancer) */

/* sl_drop_v2[hook * SLUICE_DROP_SLOTS + r] (per CPU): every drop has a named reason. */
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
	X(DROP_EGRESS_DEFAULT,	"egress-default")		\
	X(DROP_IP6_V4MAPPED,	"ipv6-v4-mapped")		\
	X(DROP_LB_SPOOFED,	"lb-spoofed-source")		\
	X(DROP_EGRESS_TOO_DEEP,	"egress-too-deep")		\
	X(DROP_EGRESS_SRC_ROUTE, "egress-source-route")

/*
 * sl_verdict_v2 and sl_drop_v2 have room for more entries than there are
 * names, in every hook's block, so that a new verdict or drop reason does
 * not change a pinned map's layout (a restart then keeps the counters).
 */
#define SLUICE_VERDICT_SLOTS	8
#define SLUICE_DROP_SLOTS	64
#define SLUICE_VERDICT_IDX(hook, v)	((hook) * SLUICE_VERDICT_SLOTS + (v))
#define SLUICE_DROP_IDX(hook, r)	((hook) * SLUICE_DROP_SLOTS + (r))

/*
 * The XDP pipeline: the entry program (sluice_xdp: policy slot, parse,
 * conntrack when stateful, the rules) hands a packet it allows on through
 * the prog array sl_tails, index = the stage below, when services are
 * configured (lb_config.active); the per-packet state (parsed headers,
 * conntrack key, policy slot) travels in the per-CPU map sl_scratch. A tail
 * call into an empty index is the drop "tail-call-missed". The names are
 * the stage programs' names; the loader fills sl_tails with them.
 */
#define SLUICE_TAILS(X)					\
	X(TAIL_LB,	"sl_stage_lb")	/* load balancer */

#define SLUICE_ENUM_ENTRY(id, name) SLUICE_##id,
enum sluice_verdict { SLUICE_VERDICTS(SLUICE_ENUM_ENTRY) SLUICE_VERDICT_MAX };
enum sluice_drop_reason { SLUICE_DROP_REASONS(SLUICE_ENUM_ENTRY) SLUICE_DROP_MAX };
enum sluice_tail { SLUICE_TAILS(SLUICE_ENUM_ENTRY) SLUICE_TAIL_MAX };
enum sluice_hook { SLUICE_HOOKS(SLUICE_ENUM_ENTRY) SLUICE_HOOK_MAX };
#undef SLUICE_ENUM_ENTRY

/*
 * Conntrack (stateful firewall). One entry per connection, keyed by the
 * normalised 5-tuple: endpoint "a" is the lower of the two (address, port)
 * pairs, so both directions find the same entry. ICMP echo uses its
 * identifier as both ports. The table is split into shards (LRU hashes
 * reached through the arrays of maps ct4_shards and ct_shards), each
 * swept by a bpf_timer of its own (ct_sweep); the per-packet path only writes last_seen, and
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
 * Two tables of the same shape, one per family: IPv4 connections in
 * ct4_shards (struct sl_ct_key4, 16 bytes: hashing and comparing it costs
 * less than half of the 40-byte key), IPv6 ones in ct_shards (struct
 * sl_ct_key). conntrack.max-entries applies to each (as Cilium sizes its
 * ct4 and ct6 maps). Shards: ct_shards[i] (ct4_shards[i]) is assured
 * shard i, [SLUICE_CT_SHARDS_MAX + i] the unassured shard i, for i <
 * sl_ct_config.shards, the same number in both tables (a power of two,
 * chosen when the table is created: as many as keep every assured shard
 * at SLUICE_CT_SHARD_MIN entries or more, at most SLUICE_CT_SHARDS_MAX).
 * A sweep walks shard i's assured and unassured shards of both tables; big shards
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
static inline __u32 sl_ct_hash_of(const struct sl_ct_key *k)
{
	const __u32 *w = (const __u32 *)k;
	__u32 h = 0;

	for (int i = 0; i < (int)(sizeof(*k) / 4); i++)
		h = (h ^ w[i]) * 0x9e3779b1u;
	return h ^ h >> 16;
}

static inline __u32 sl_ct_shard_of(const struct sl_ct_key *k, __u32 shards)
{
	return sl_ct_hash_of(k) & (shards - 1);
}

/*
 * An IPv4 connection's key in ct4_shards: the words of struct sl_ct_key
 * that are not zero for IPv4 (addresses, ports, proto and family), in
 * their order.
 */
struct sl_ct_key4 {
	__be32 addr_a;		/* network order */
	__be32 addr_b;
	__be16 port_a;		/* ICMP echo: the identifier, in both ports */
	__be16 port_b;
	__u8 proto;
	__u8 family;		/* 4 */
	__u8 pad[2];
} __attribute__((aligned(4)));

/*
 * The hash of an IPv4 key, given as its four 32-bit words W0-W3 (struct
 * sl_ct_key4 read as words): sl_ct_hash_of of the same connection's
 * struct sl_ct_key, whose words 1-3 and 5-7 are zero, in 4 multiplies
 * instead of 10 (a zero word only multiplies the chain by K, so three in a
 * row are one multiply by K^4 = 0x1f76bcc1). A connection keeps its shard
 * number across the two layouts; tests/test_ct.c checks that they agree.
 */
static inline __u32 sl_ct_hash4_words(__u32 w0, __u32 w1, __u32 w2, __u32 w3)
{
	__u32 h = w0 * 0x1f76bcc1u;

	h = (h ^ w1) * 0x1f76bcc1u;
	h = (h ^ w2) * 0x9e3779b1u;
	h = (h ^ w3) * 0x9e3779b1u;
	return h ^ h >> 16;
}

/* sl_ct_hash4_words of K's four words (the datapath hashes them from registers). */
static inline __u32 sl_ct_hash_of4(const struct sl_ct_key4 *k)
{
	const __u32 *w = (const __u32 *)k;

	return sl_ct_hash4_words(w[0], w[1], w[2], w[3]);
}

static inline __u32 sl_ct_shard_of4(const struct sl_ct_key4 *k, __u32 shards)
{
	return sl_ct_hash_of4(k) & (shards - 1);
}

/*
 * The lookup filter (docs/datapath.md, "Lookup filter"): per bucket, two
 * __u32 stamps in one __u64 word (BPF's compare-and-swap is 64-bit only
 * without alu32), the assured entries' in bits 0-31 and the unassured
 * entries' in bits 32-63; a connection's bucket is of its two addresses
 * alone (sl_ct_stamp_idx, sl_ct_key_bucket), so that a packet's bucket is
 * known before its key is made, and a packet the filter turns away never
 * makes one; ct_stamp[i / 2].w[i & 1] is bucket i's word (mmapped: word i
 * of the array).
 * A stamp holds a time in units of 2^SLUICE_CT_STAMP_SHIFT ns (~1.07 s)
 * of the coarse clock, rounded up, by which every entry of the bucket of
 * its kind (assured or unassured), in any shard of either table, is past
 * its timeout (last_seen + the timeout of its state). A kind whose stamp
 * has passed (plus sl_ct_config.filter_slack until filter_until, after a
 * reload that raised a timeout) holds no live entry in the bucket: its
 * shard's LRU lookup is skipped. Written only upwards (an atomic max), by
 * every insert (the kind it inserts in) and by a hit whose entry outlives
 * the stamp (the kind it was found in); a stale stamp costs only the
 * lookups it does not skip. 2^15 buckets (256 KiB): small enough to stay
 * in a core's L2 cache and TLB (a 4 MiB array cost new flows more in cache
 * and TLB misses than the lookups it saved them, and 512 KiB, 2^16 buckets
 * of two stamps, cost a flood of new sources ~2-5 ns a packet); a table
 * with many more live entries than buckets stamps most of them, and the
 * filter then skips less (docs/datapath.md, "Lookup filter"). The layout
 * before (32,768 8-byte values, buckets 2i and 2i + 1 one stamp each)
 * differs in its value size, and the buckets of the key's hash (up to
 * 162513b) in ct_cfg's flags (mmapable since): either way an upgrade
 * replaces the conntrack group (agent/migrate.c), never reading those
 * words as these.
 */
#define SLUICE_CT_STAMP_BITS	15
#define SLUICE_CT_STAMPS	(1u << SLUICE_CT_STAMP_BITS)
#define SLUICE_CT_STAMP_SHIFT	30
#define SLUICE_CT_STAMP_ENTRIES	(SLUICE_CT_STAMPS / 2)	/* ct_stamp's entries */

/* ct_stamp[i]: the words of buckets 2i and 2i + 1 */
struct sl_ct_stamps {
	__u64 w[2];
};

/*
 * The bucket of a connection whose two addresses fold (sl_ct_addr_fold) to
 * A and B: their product and sum, each the same both ways round, mixed
 * (xor), the top bits of one multiply. Not their xor alone: the pairs of a
 * subnet's hosts that differ in the same bits (.1 and .2, .5 and .6) would
 * all share a bucket, and an IPv4 pair an IPv6 pair of the same last bits.
 * Every flow between the same two hosts shares its bucket.
 */
static inline __u32 sl_ct_stamp_idx(__u32 a, __u32 b)
{
	return ((a * b ^ (a + b)) * 0x9e3779b1u) >> (32 - SLUICE_CT_STAMP_BITS);
}

/* An address of a key (network order, IPv4 in the first word, the rest zero) folded: its words' xor. */
static inline __u32 sl_ct_addr_fold(const __u8 *addr)
{
	const __u32 *w = (const __u32 *)addr;

	return w[0] ^ w[1] ^ w[2] ^ w[3];
}

/* The bucket of K's connection, either family. */
static inline __u32 sl_ct_key_bucket(const struct sl_ct_key *k)
{
	return sl_ct_stamp_idx(sl_ct_addr_fold(k->addr_a), sl_ct_addr_fold(k->addr_b));
}

/* The stamp of a bucket's assured (UNA 0) or unassured (UNA 1) entries in its word W. */
static inline __u32 sl_ct_stamp_get(__u64 w, __u32 una)
{
	return (__u32)(w >> ((una & 1) * 32));
}

/* W with the stamp of its bucket's assured (UNA 0) or unassured (UNA 1) entries set to V. */
static inline __u64 sl_ct_stamp_set(__u64 w, __u32 una, __u32 v)
{
	__u32 sh = (una & 1) * 32;

	return (w & ~(0xffffffffull << sh)) | (__u64)v << sh;
}

/* The stamp of a deadline END (coarse ns): its unit, rounded up by a whole unit. */
static inline __u32 sl_ct_stamp_of(__u64 end)
{
	return (__u32)(end >> SLUICE_CT_STAMP_SHIFT) + 1;
}

/* Direction of a packet relative to the connection's originator. */
#define SL_CT_DIR_ORIG	0
#define SL_CT_DIR_REPLY	1

/*
 * sl_ct_entry.opened: the side of the host its first packet was seen on.
 * Its replies travel the other way (a local server's leave through the TC
 * egress program, a routed connection's leave through it too), so a
 * reply-direction packet seen on the opening side proves nothing about
 * the other end: it never moves the handshake on nor assures the entry
 * (a spoofer's one-way SYN, SYN-ACK, ACK). 0: opened by an agent before
 * this field (either side counts).
 */
#define SL_CT_OPENED_IN		1	/* arriving: XDP, tcx ingress */
#define SL_CT_OPENED_OUT	2	/* leaving: TC egress */

struct sl_ct_entry {
	__u64 created;		/* bpf_ktime_get_coarse_ns() = CLOCK_MONOTONIC_COARSE */
	__u64 last_seen;	/* written per packet; the sweeper reads it */
	__u64 packets[2];	/* [SL_CT_DIR_ORIG], [SL_CT_DIR_REPLY] */
	__u64 bytes[2];
	__u8 state;		/* enum sl_ct_state */
	__u8 orig_is_a;		/* the originator is endpoint a of the key */
	__u8 fin_seen;		/* bit CT_DIR_*: a FIN was seen in that direction; bit
				 * 2 + CT_DIR_*: seq_hi of that direction known (in
				 * syn-sent, 2 + ORIG: syn_ack_seq holds the SYN's) */
	__u8 opened;		/* SL_CT_OPENED_*, or 0 */
	union {
		__be32 syn_ack_seq;	/* TCP handshake: in syn-sent the SYN's sequence
					 * number + 1 (what its answer acknowledges), from
					 * syn-recv the SYN-ACK's; the ACK that completes
					 * the handshake acknowledges it + 1 */
		__u16 seq_hi[2];	/* TCP from established on: where each direction's
					 * stream is ([SL_CT_DIR_*], the top 16 bits of its
					 * sequence numbers, 64 KiB units): an RST or FIN far
					 * from it ends nothing (bpf/lib/ct_state.h) */
	};
};

/* ct_cfg[0]: conntrack settings, read per packet. */
struct sl_ct_config {
	__u32 stateful;			/* 0: conntrack off, the firewall is stateless */
	__u32 timeout[SLUICE_CT_TO_MAX];	/* seconds; 0: the default */
	__u32 shards;			/* shards in ct_shards (a power of two; 0 = 1) */
	__u32 gen;			/* bumped on every write: sweepers re-walk */
	/*
	 * The lookup filter (ct_stamp): 0 off, every packet is looked up (the
	 * agent turns it on once every entry of the table has its stamp).
	 * A reload that raises a timeout adds the raise to filter_slack (stamp
	 * units), added to every stamp until filter_until (stamp units), when
	 * no entry stamped under the shorter timeout can still be live.
	 */
	__u32 filter;
	__u32 filter_slack;
	__u32 filter_until;
	__u32 pad;
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
	X(CT_STAT_CK_PRESSURE,	"syncookie-pressure")	\
	X(CT_STAT_FILTERED,	"filter-skipped")	/* LRU lookups the filter skipped */

#define SLUICE_ENUM_ENTRY(id, name) SLUICE_##id,
enum sluice_ct_stat { SLUICE_CT_STATS(SLUICE_ENUM_ENTRY) SLUICE_CT_STAT_MAX };
#undef SLUICE_ENUM_ENTRY

/*
 * SYN cookies (conntrack.syn-cookies, docs/datapath.md "SYN cookies"). An
 * allowed SYN to a local listener is answered in XDP with a SYN-ACK whose
 * sequence number is a cookie, and no state is kept: the ACK that returns
 * the cookie + 1 proves the handshake, is tracked as established, and is
 * handed (ct_ck_hand) to a TC ingress program that gives the listener its
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
 * What XDP hands the TC ingress program (ct_ck_hand, an LRU hash, key
 * struct sl_ck_flow): for a cookie's ACK, the handshake's options for
 * bpf_sk_assign_tcp_reqsk(); for a SYN-ACK XDP_TX cannot be trusted with,
 * the word to send it back out. Through a map and not the XDP metadata in
 * front of the frame: some kernels refuse XDP programs
 * bpf_xdp_adjust_meta(), and some drivers have no room for it. TC takes
 * the entry of the packet in its hands and deletes it.
 */
#define SLUICE_CK_MAGIC		0x534c434bu	/* "SLCK": a cookie's ACK, for its listener */
#define SLUICE_CK_MAGIC_TX	0x534c5458u	/* "SLTX": a SYN-ACK, to send back out */
#define SLUICE_CK_HAND_SACK	(1u << 0)
#define SLUICE_CK_HAND_TS	(1u << 1)
#define SLUICE_CK_HAND_WSCALE	(1u << 2)
#define SLUICE_CK_HAND_MAX	1024	/* handoffs in flight: taken in the same softirq */

/*
 * A handshake as the cookie covers it, and ct_ck_hand's key: the client's
 * addresses and ports, its initial sequence number. Zeroed before it is
 * filled (the hash reads the padding).
 */
struct sl_ck_flow {
	__u32 saddr[4], daddr[4];	/* network order; IPv4 in [0] */
	__be16 sport, dport;
	__u32 isn;			/* the client's initial sequence number */
	__u8 family;
	__u8 pad[3];
};

struct sl_ck_hand {
	__u32 magic;		/* SLUICE_CK_MAGIC or SLUICE_CK_MAGIC_TX */
	__u16 mss;		/* the client's, from the cookie */
	__u8 snd_wscale;	/* the client's window scale (SLUICE_CK_HAND_WSCALE) */
	__u8 rcv_wscale;	/* ours, as announced in the SYN-ACK */
	__u8 flags;		/* SLUICE_CK_HAND_* */
	__u8 pad[3];
	__u32 tsval, tsecr;	/* the ACK's timestamps, host order (SLUICE_CK_HAND_TS) */
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
 * ct_ck_sent[0] (shared by every CPU): which time slots a cookie was sent
 * in. slot[s % SLUICE_CK_SENT_SLOTS] == s once any cookie of slot s left
 * (written once per slot, by the first); an ACK without an entry is checked
 * as a cookie's only when one was sent in its slot or the one before (the
 * slots a cookie is good for), so an ACK flood under auto mode without
 * pressure costs no SipHash. A word only ever holds slots of its residue,
 * so CPUs at a slot boundary never write different values into one. The
 * agent marks the slots around its start as sent (cookies of a build
 * before this map, answered before the links moved, still validate).
 */
#define SLUICE_CK_SENT_SLOTS	4

struct sl_ck_sent {
	__u32 slot[SLUICE_CK_SENT_SLOTS];
};

/*
 * The L4 load balancer (docs/lb.md). A service is (VIP, port, proto): its
 * key in lb_svc gives a struct lb_service, whose `table` names its Maglev
 * lookup table in the array of maps lb_maglev: `size` (a prime) backend
 * ids, indexes of lb_backends, 32 to an inner-array element (struct
 * lb_maglev_line). The flow hash of a packet
 * (sl_lb_flow_hash, below) modulo `size` picks the table entry. A changed
 * service gets a new table and a new lb_service value, one write each, so a
 * packet sees the old service or the new one. An lb_backends entry is never
 * rewritten while a table names it: a new backend takes a free id with a
 * new incarnation (`gen`). Established flows live in the LRU hash
 * lb_flowtab[LB_FLOWS] (client 5-tuple -> backend id and gen; IPv4 flows in
 * lb_flowtab4[0], 16-byte keys); a flow whose
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
#define SLUICE_LB_LINE_IDS	32		/* table entries per inner-array element */
#define SLUICE_LB_LINE_NONE	0xffffu		/* a table entry of a line: no backend up */
#define SLUICE_LB_DECAP_MAX	256		/* decap VIPs, decap interfaces */
#define SLUICE_LB_DEVMAP_MAX	1024		/* interfaces XDP_REDIRECT may use */
#define SLUICE_LB_FLOW_SEED	0x736c6231u	/* "slb1": flow hash seed, fixed */

#define LB_SVC_F_DSR	(1u << 0)	/* mode dsr: IP-in-IP to the backend; else NAT */
#define LB_SVC_F_VIP	(1u << 1)	/* the VIP's own entry (port 0, proto 0): ICMP errors, fragments */
#define LB_SVC_F_REV	(1u << 2)	/* NAT: a new flow leaves a reverse entry (not in lb_nat_be) */

/*
 * A Maglev table of `size` entries is an inner array of ceil(size / 32)
 * elements of 32 16-bit backend ids each, a cache line: entry i is
 * id[i % 32] of element i / 32 (the entries past `size` in the last one:
 * SLUICE_LB_LINE_NONE). One 4-byte id per element, as before, took four
 * times the memory (an array spaces its values 8 bytes apart), and a new
 * flow's entry is most often a line no cache holds: the smaller the table,
 * the more often it stays cached (docs/lb.md, "Cost").
 */
struct lb_maglev_line {
	__u16 id[SLUICE_LB_LINE_IDS];	/* lb_backends ids, or SLUICE_LB_LINE_NONE */
};

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

/*
 * lb_flowtab indexes: inner LRU hashes created by the agent (lib/lb_maps.c).
 * A NAT reply is found through its forward flow: lb_nat_be gives the
 * (VIP, port) its backend serves, hence the client's 5-tuple. LB_REVERSE
 * holds what that cannot find: the answers of DSR health checks, flows of
 * services past LB_NAT_VIPS on one backend (LB_SVC_F_REV), and the reverse
 * entries a build before this one left (their flows go on).
 */
#define LB_FLOWS	0	/* client -> VIP 5-tuple: the flow's backend */
#define LB_REVERSE	1	/* backend -> client 5-tuple: NAT reply, back to VIP:port */

struct lb_flow_key {
	__u8 src[16];		/* network order; IPv4 in the first 4 bytes */
	__u8 dst[16];
	__be16 sport, dport;
	__u8 proto, family;
	__u8 pad[2];
};

/*
 * IPv4 flows (LB_FLOWS of family 4) live in lb_flowtab4[0] instead, keyed by
 * 16 bytes: a cheaper hash, compare and insert, and smaller elements (a
 * denser table). The flow hash stays the one of the 40-byte key.
 */
struct lb_flow4_key {
	__be32 src, dst;
	__be16 sport, dport;
	__u8 proto;
	__u8 pad[3];
};

/* The 16-byte key of K, an IPv4 flow. */
static inline void sl_lb_flow4_key(struct lb_flow4_key *k4, const struct lb_flow_key *k)
{
	__builtin_memcpy(&k4->src, k->src, 4);
	__builtin_memcpy(&k4->dst, k->dst, 4);
	k4->sport = k->sport;
	k4->dport = k->dport;
	k4->proto = k->proto;
	k4->pad[0] = k4->pad[1] = k4->pad[2] = 0;
}

#define LB_FLOW_OPEN	0
#define LB_FLOW_CLOSING	1	/* TCP FIN or RST seen: the closing timeout applies */

#define LB_FLOW_F_DSR	(1u << 0)	/* LB_FLOWS, cached with `epoch`: the service is DSR */

/*
 * An LB_FLOWS entry caches what its packets need of the service (mode, DSR
 * outer source) under `epoch`, the low 32 bits of lb_config.gen when it was
 * written: while the agent has committed nothing since, an established
 * flow's packets skip the service lookup. 0: nothing cached (an entry of a
 * build before this one).
 */
struct lb_flow {
	__u64 last_seen;	/* bpf_ktime_get_coarse_ns */
	__u32 backend;		/* lb_backends id */
	__u32 be_gen;		/* its gen when chosen */
	__u8 state;		/* LB_FLOW_* */
	__u8 flags;		/* LB_FLOWS: LB_FLOW_F_* (cached) */
	__be16 vport;		/* LB_REVERSE: the service port */
	__u32 epoch;		/* LB_FLOWS: lb_config.gen the cache is of; 0: none */
	union {
		__u8 vip[16];		/* LB_REVERSE: the VIP */
		__u8 encap_src[16];	/* LB_FLOWS, DSR: the outer source (cached) */
	};
};

/*
 * lb_nat_be: a NAT backend (address, port, proto, family: the layout of
 * lb_svc_key) -> the (VIP, port) of up to LB_NAT_VIPS services it serves,
 * with its id in each: a reply from it to client C:P belongs to the flow
 * C:P -> VIP:port whose backend is that id. Written by the agent before a
 * service uses it; a service's entry stays in place while it stays.
 */
#define LB_NAT_VIPS	4

struct lb_nat_vip {
	__u8 vip[16];		/* network order */
	__be16 vport;
	__u16 backend;		/* lb_backends id */
};

struct lb_nat_be {
	__u32 n;		/* entries of vips[] in use */
	struct lb_nat_vip vips[LB_NAT_VIPS];
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
	__u64 gen;		/* bumped by every commit of the agent (the flows' cache epoch) */
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

/* The control socket's largest request, its newline included (docs/control.md). */
#define SLUICE_CTL_REQ_MAX	(1u << 20)

struct sl_event {
	__u64 ts_ns;		/* bpf_ktime_get_ns (CLOCK_MONOTONIC) */
	__u32 ifindex;		/* the receiving interface */
	__u32 rule;		/* rule index, SLUICE_RULE_DEFAULT or SLUICE_EV_NO_RULE */
	__u32 len;		/* frame length */
	__u32 gen;		/* policy generation (low 32 bits) whose rule it is; 0: none */
	__u8 reason;		/* enum sluice_drop_reason */
	__u8 section;		/* the firewall section of that generation (fw_config.section) */
	__u8 family;		/* 4, 6, or 0 when the IP header was not parsed */
	__u8 proto;		/* IP protocol number (0 when not parsed) */
	__u16 sport, dport;	/* host order; 0 without ports */
	__u8 src[16], dst[16];	/* network order; IPv4 in the first 4 bytes */
	/* egress (reasons egress-*): the socket's cgroup (0: the TC backstop) */
	__u64 cgroup;
	/* index + 1 of the egress entry; 0: none (cgroup 0 too: not an egress event) */
	__u32 egress;
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
 * sl_ev_mute[0], per CPU: the jiffy this CPU last found the window full;
 * its drops in that jiffy only count here (suppressed, the rest of the
 * limiter's count: the agent reports sl_ev_cfg's plus every CPU's).
 */
struct sl_ev_mute {
	__u64 jiffies;
	__u64 suppressed;
};

/*
 * The tables of a policy slot, in the order a slot is built (inserted all at
 * once: no packet reaches a slot before an interface's word names it, see
 * lib/fw_maps.c fw_slot_write). Each is an inner map of its own outer array of
 * maps (index: policy slot); a slot leaves the tables its policy does not
 * need empty. ENTRIES 0: sized to the compiled policy (BPF_F_INNER_MAP:
 * its lookups are helper calls); the others keep a fixed size so that the
 * verifier inlines their lookups. bpf/lib/maps.h declares the outer arrays
 * and lib/fw_maps.c creates the inner maps from this one list.
 *   X(ID, outer array, inner name, map type, flags, entries, key, value)
 */
#define SLUICE_F_SIZED		(BPF_F_MMAPABLE | BPF_F_INNER_MAP)
#define SLUICE_FW_TABLES(X)							\
	X(CLS, fwp_cls, "fw_cls", BPF_MAP_TYPE_ARRAY, BPF_F_MMAPABLE,		\
	  SLUICE_SMALL_CLASSES, __u32, struct fw_bitmap)			\
	X(CLSB, fwp_clsb, "fw_clsb", BPF_MAP_TYPE_ARRAY, SLUICE_F_SIZED, 0,	\
	  __u32, struct fw_bitmap)						\
	X(SRC4_T8, fwp_src4_t8, "fw_src4_t8", BPF_MAP_TYPE_ARRAY,		\
	  SLUICE_F_SIZED, 0, __u32, struct fw_t8)				\
	X(DST4_T8, fwp_dst4_t8, "fw_dst4_t8", BPF_MAP_TYPE_ARRAY,		\
	  SLUICE_F_SIZED, 0, __u32, struct fw_t8)				\
	X(SRC4_P1, fwp_src4_p1, "fw_src4_p1", BPF_MAP_TYPE_ARRAY,		\
	  SLUICE_F_SIZED, 0, __u32, struct fw_p1)				\
	X(DST4_P1, fwp_dst4_p1, "fw_dst4_p1", BPF_MAP_TYPE_ARRAY,		\
	  SLUICE_F_SIZED, 0, __u32, struct fw_p1)				\
	X(SRC4_P2, fwp_src4_p2, "fw_src4_p2", BPF_MAP_TYPE_ARRAY,		\
	  SLUICE_F_SIZED, 0, __u32, struct fw_p2)				\
	X(DST4_P2, fwp_dst4_p2, "fw_dst4_p2", BPF_MAP_TYPE_ARRAY,		\
	  SLUICE_F_SIZED, 0, __u32, struct fw_p2)				\
	X(SRC4_LH, fwp_src4_lh, "fw_src4_lh", BPF_MAP_TYPE_ARRAY,		\
	  SLUICE_F_SIZED, 0, __u32, struct fw_lh_bkt)				\
	X(DST4_LH, fwp_dst4_lh, "fw_dst4_lh", BPF_MAP_TYPE_ARRAY,		\
	  SLUICE_F_SIZED, 0, __u32, struct fw_lh_bkt)				\
	X(SRC4, fwp_src4_v3, "fw_src4", BPF_MAP_TYPE_ARRAY, BPF_F_MMAPABLE,	\
	  SLUICE_L1_BLOCKS, __u32, struct fw_l1blk)				\
	X(DST4, fwp_dst4_v3, "fw_dst4", BPF_MAP_TYPE_ARRAY, BPF_F_MMAPABLE,	\
	  SLUICE_L1_BLOCKS, __u32, struct fw_l1blk)				\
	X(SRC4_S, fwp_src4_s, "fw_src4_s", BPF_MAP_TYPE_ARRAY, BPF_F_MMAPABLE,	\
	  SLUICE_SMALL_CHUNKS, __u32, struct fw_t8)				\
	X(DST4_S, fwp_dst4_s, "fw_dst4_s", BPF_MAP_TYPE_ARRAY, BPF_F_MMAPABLE,	\
	  SLUICE_SMALL_CHUNKS, __u32, struct fw_t8)				\
	X(SRC4_24, fwp_src4_24, "fw_src4_24", BPF_MAP_TYPE_ARRAY,		\
	  BPF_F_MMAPABLE, SLUICE_FLAT_CHUNKS, __u32, struct fw_t8)		\
	X(DST4_24, fwp_dst4_24, "fw_dst4_24", BPF_MAP_TYPE_ARRAY,		\
	  BPF_F_MMAPABLE, SLUICE_FLAT_CHUNKS, __u32, struct fw_t8)		\
	X(SRC6, fwp_src6, "fw_src6", BPF_MAP_TYPE_LPM_TRIE, BPF_F_NO_PREALLOC,	\
	  0, struct fw_lpm6_key, struct fw_lpm6_val)				\
	X(DST6, fwp_dst6, "fw_dst6", BPF_MAP_TYPE_LPM_TRIE, BPF_F_NO_PREALLOC,	\
	  0, struct fw_lpm6_key, struct fw_lpm6_val)				\
	X(SPORT, fwp_sport, "fw_sport", BPF_MAP_TYPE_ARRAY, BPF_F_MMAPABLE,	\
	  SLUICE_PORT_BLOCKS, __u32, struct fw_blk)				\
	X(DPORT, fwp_dport, "fw_dport", BPF_MAP_TYPE_ARRAY, BPF_F_MMAPABLE,	\
	  SLUICE_PORT_BLOCKS, __u32, struct fw_blk)				\
	X(RULE, fwp_rule, "fw_rule", BPF_MAP_TYPE_ARRAY, BPF_F_MMAPABLE,	\
	  SLUICE_RULE_BLOCKS, __u32, struct fw_rule_blk)			\
	X(CFG, fwp_cfg, "fw_cfg", BPF_MAP_TYPE_ARRAY, BPF_F_MMAPABLE, 1, __u32,	\
	  struct fw_config)

#define SLUICE_FWT_ENUM(id, outer, name, type, flags, entries, k, v) SLUICE_FWT_##id,
enum sluice_fw_table { SLUICE_FW_TABLES(SLUICE_FWT_ENUM) SLUICE_FWT_MAX };
#undef SLUICE_FWT_ENUM

/*
 * Map names, as the kernel and the pins see them (at most 15 characters;
 * the slot tables above: fw_* inner maps, not pinned, in fwp_* outer
 * arrays). Everything else is pinned under STATE_DIR/maps/NAME. Every map
 * has an upgrade policy in agent/migrate.c (what happens when a pinned one
 * has another layout); a layout change that takes a new name lists the
 * name it retires there too.
 */
#define SLUICE_MAP_RULE_CNT	"fw_rule_cnt_v2"	/* per counter id, not per rule index */
#define SLUICE_MAP_CNT_KEY	"fw_cnt_key"
#define SLUICE_MAP_VERDICT	"sl_verdict_v2"	/* per hook and verdict */
#define SLUICE_MAP_DROP		"sl_drop_v2"	/* per hook and drop reason */
#define SLUICE_MAP_CT		"ct_shards"	/* IPv6 connections */
#define SLUICE_MAP_CT4		"ct4_shards"	/* IPv4 connections */
#define SLUICE_MAP_CT_SWEEP	"ct_sweep"
#define SLUICE_MAP_CT_CFG	"ct_cfg"
#define SLUICE_MAP_CT_STATS	"ct_stats"
#define SLUICE_MAP_CT_STAMP	"ct_stamp"	/* the lookup filter's stamps */
#define SLUICE_MAP_CT_CK_CFG	"ct_ck_cfg"
#define SLUICE_MAP_CT_CK_LOAD	"ct_ck_load"
#define SLUICE_MAP_CT_CK_SENT	"ct_ck_sent"
#define SLUICE_MAP_CT_CK_HAND	"ct_ck_hand"	/* XDP to TC: cookie handshakes */
#define SLUICE_MAP_EVENTS	"sl_events"
#define SLUICE_MAP_EV_CFG	"sl_ev_cfg"
#define SLUICE_MAP_EV_MUTE	"sl_ev_mute"
#define SLUICE_MAP_IFSLOT	"sl_ifslot_v2"	/* ifindex -> policy slot */
#define SLUICE_MAP_IFSLOT_A	"sl_ifslot_a_v2"	/* ifindex -> policy slot + 1, ifindex < 64k */
#define SLUICE_MAP_TAILS	"sl_tails"	/* prog array of the pipeline stages */
#define SLUICE_MAP_SCRATCH	"sl_scratch"	/* per-CPU per-packet state */
#define SLUICE_MAP_BLOCK4	"sl_block4"	/* the CLI blocklist, IPv4 (sl_block4_key) */
#define SLUICE_MAP_BLOCK6	"sl_block6"	/* ... and IPv6 (fw_lpm6_key) */
#define SLUICE_MAP_BLOCK4H	"sl_block4h"	/* ... its /32s (__u32, network order) */
#define SLUICE_MAP_BLOCK6H	"sl_block6h"	/* ... its /128s (sl_block6h_key) */
#define SLUICE_MAP_LB_SVC	"lb_svc"	/* (VIP, port, proto) -> service */
#define SLUICE_MAP_LB_MAGLEV	"lb_maglev"	/* Maglev tables (array of maps) */
#define SLUICE_MAP_LB_BACKENDS	"lb_backends"	/* backend id -> address, port */
#define SLUICE_MAP_LB_FLOWTAB	"lb_flowtab"	/* flows and NAT replies (array of maps) */
#define SLUICE_MAP_LB_FLOWS	"lb_flows"	/* its inner maps */
#define SLUICE_MAP_LB_REVERSE	"lb_reverse"
#define SLUICE_MAP_LB_FLOWTAB4	"lb_flowtab4"	/* IPv4 flows (array of maps, 1) */
#define SLUICE_MAP_LB_FLOWS4	"lb_flows4"	/* its inner map */
#define SLUICE_MAP_LB_BE_STATS	"lb_be_stats"	/* per-backend counters */
#define SLUICE_MAP_LB_STATS	"lb_stats"	/* load balancer events */
#define SLUICE_MAP_LB_CFG	"lb_cfg"
#define SLUICE_MAP_LB_DEVMAP	"lb_devmap"	/* XDP_REDIRECT targets */
#define SLUICE_MAP_LB_DECAP	"lb_decap"	/* decap VIPs */
#define SLUICE_MAP_LB_DECAP_IF	"lb_decap_if"	/* decap interfaces */
#define SLUICE_MAP_LB_NH	"lb_nh"		/* next hop per backend (per CPU) */
#define SLUICE_MAP_LB_FILTER	"lb_filter"	/* VIP and backend address bits */
#define SLUICE_MAP_LB_HC	"lb_hc"		/* DSR health checks: backend id -> VIP */
#define SLUICE_MAP_LB_NAT_BE	"lb_nat_be"	/* NAT backend -> its (VIP, port)s */

/*
 * Container egress (docs/egress.md): cgroup sock_addr hooks (connect4/6,
 * sendmsg4/6) and the TC backstop. Each `egress` entry of the policy is
 * compiled like a firewall section into a policy slot of its own (the fwp_*
 * tables, fw_rule included; its rules name only dst, proto and dport, so
 * any source and source port match). Its counter ids, in its slot's fw_rule
 * and fw_config.cnt_default, index eg_rule_cnt, not fw_rule_cnt_v2: an
 * egress rule counts for its entry, apart from any firewall rule or rule of
 * another entry with the same name and content. eg_cg maps a cgroup id to its entry; a socket whose
 * cgroup has none takes its nearest ancestor that has one (at most
 * SLUICE_EG_DEPTH levels deep). The TC backstop finds the entry by the
 * packet's source address (eg_src4/eg_src6, from the entries' backstop.src).
 * Each value is one word set: an entry moves to a new slot atomically.
 */
#define SLUICE_EG_MAX		256	/* egress entries per policy */
#define SLUICE_EG_CNT_MAX	8192	/* counters of a policy: every entry's rules and default */
/* eg_rule_cnt, eg_cnt_key: room for the policy in force and one replacing it */
#define SLUICE_EG_CNT_IDS	(2 * SLUICE_EG_CNT_MAX)
#define SLUICE_EG_DEPTH		32	/* cgroup levels walked up to a managed ancestor */
#define SLUICE_EG_SRC_MAX	16384	/* backstop source prefixes per family */

struct sl_eg_val {
	__u32 slot;		/* policy slot of the entry's compiled rules */
	__u32 cnt_base;		/* eg_rule_cnt id of the entry's default (its rules': fw_rule) */
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

/*
 * Where a call or packet was judged: eg_stats[hook * 2 + denied] (per CPU).
 * egress (cgroup_skb egress: every packet of a managed cgroup, for source
 * routes) counts its drops only: a pass costs nothing.
 */
#define SLUICE_EG_HOOKS(X)				\
	X(EG_CONNECT4,	"connect4")			\
	X(EG_CONNECT6,	"connect6")			\
	X(EG_SENDMSG4,	"sendmsg4")			\
	X(EG_SENDMSG6,	"sendmsg6")			\
	X(EG_BACKSTOP,	"tc-backstop")			\
	X(EG_INET_EGRESS, "egress")

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
#define SLUICE_MAP_EG_CNT_KEY	"eg_cnt_key"	/* eg_rule_cnt id -> owner's key (agent only) */
#define SLUICE_MAP_EG_STATS	"eg_stats"	/* per-CPU sl_counter per hook and verdict */
#define SLUICE_MAP_EG_LB_REV	"eg_lb_rev"	/* (socket, backend) -> VIP: getpeername, recvmsg */

#ifndef __BPF__
_Static_assert(sizeof(struct fw_dir) == 16, "fw_dir layout");
_Static_assert(sizeof(struct fw_config) == 32 + 4 * SL_F_MAX + 4 + 2 * 16 +
	       4 * SLUICE_CFG_RULES + 2 * 256, "fw_config layout");
/* line 0 (fw_config's comment): a drop the source decides reads no other */
_Static_assert(__builtin_offsetof(struct fw_config, dir[1]) == 64,
	       "fw_config: the flags, class bases, src_only, first rules, source direction in line 0");
/* line 1: the destination, nrules and the classes of ICMP, TCP, UDP */
_Static_assert(__builtin_offsetof(struct fw_config, proto_cls[17]) + 2 <= 128,
	       "fw_config: what a fully classified packet reads in line 1");
_Static_assert((SLUICE_CFG_RULES & (SLUICE_CFG_RULES - 1)) == 0, "first_rules' mask");
_Static_assert(sizeof(struct fw_config) % 8 == 0, "fw_config padding");
_Static_assert(sizeof(struct fw_bitmap) == 64, "fw_bitmap is one cache line");
_Static_assert(sizeof(struct fw_l1blk) == 256, "fw_l1blk layout");
_Static_assert(sizeof(struct fw_blk) == 128, "fw_blk layout");
_Static_assert(sizeof(struct fw_t8) == 512, "fw_t8 layout");
_Static_assert(sizeof(struct fw_p1) == 64, "fw_p1 is one cache line");
_Static_assert(sizeof(struct fw_p2) == 128, "fw_p2 is two cache lines");
_Static_assert(sizeof(struct fw_lh_bkt) == 64, "fw_lh_bkt is one cache line");
_Static_assert(sizeof(struct fw_rule_blk) == 256, "fw_rule_blk layout");
_Static_assert(sizeof(struct fw_lpm6_key) == 20, "fw_lpm6_key layout");
_Static_assert(sizeof(struct fw_lpm6_val) == 4, "fw_lpm6_val layout");
_Static_assert(sizeof(struct sl_block4_key) == 8, "sl_block4_key layout");
_Static_assert(sizeof(struct sl_counter) == 16, "sl_counter layout");
_Static_assert(sizeof(struct sl_ct_key) == 40, "ct_key layout");
_Static_assert(sizeof(struct sl_ct_key4) == 16, "ct_key4 layout");
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
_Static_assert(sizeof(struct sl_ck_sent) == 16, "ck_sent layout");
_Static_assert(sizeof(struct sl_ck_hand) == 20, "ck_hand: ct_ck_hand's value");
_Static_assert(sizeof(struct sl_ck_flow) == 44, "ck_flow: ct_ck_hand's key, no hidden padding");
_Static_assert(sizeof(struct sl_ev_config) == 48, "sl_ev_config layout");
_Static_assert(SLUICE_VERDICT_MAX <= SLUICE_VERDICT_SLOTS, "sl_verdict_v2 has room");
_Static_assert(SLUICE_DROP_MAX <= SLUICE_DROP_SLOTS, "sl_drop_v2 has room");
_Static_assert(sizeof(struct lb_svc_key) == 20, "lb_svc_key layout");
_Static_assert(sizeof(struct lb_service) == 32, "lb_service layout");
_Static_assert(sizeof(struct lb_backend) == 32, "lb_backend layout");
_Static_assert(sizeof(struct lb_flow_key) == 40, "lb_flow_key layout");
_Static_assert(sizeof(struct lb_maglev_line) == 64, "lb_maglev_line layout");
_Static_assert(SLUICE_LB_BACKENDS_MAX <= SLUICE_LB_LINE_NONE, "backend ids fit a table line");
_Static_assert(sizeof(struct lb_flow) == 40, "lb_flow layout");
_Static_assert(sizeof(struct lb_flow4_key) == 16, "lb_flow4_key layout");
_Static_assert(sizeof(struct lb_nat_be) == 84, "lb_nat_be layout");
_Static_assert(sizeof(struct lb_config) == 32, "lb_config layout");
_Static_assert(sizeof(struct lb_be_counter) == 24, "lb_be_counter layout");
_Static_assert(sizeof(struct lb_nexthop) == 32, "lb_nexthop layout");
_Static_assert(sizeof(struct lb_hc) == 20, "lb_hc layout");
_Static_assert(SLUICE_LB_BACKENDS_MAX <= 0x10000, "a backend id fits the mark's low bits");
_Static_assert(SLUICE_MAX_CLASSES <= SLUICE_T8_FLAG, "class ids fit below the chunk flag");
_Static_assert(SLUICE_T8_MAX <= SLUICE_L1_INDEX + 1, "chunk indexes fit in a /16 entry");
_Static_assert(sizeof(struct fw_iv) == sizeof(struct fw_p2), "fw_iv shares fw_*4_p2");
_Static_assert(sizeof(struct fw_hosts) == sizeof(struct fw_p1), "fw_hosts shares fw_*4_p1");
_Static_assert(sizeof(struct fw_iv1) == sizeof(struct fw_p1), "fw_iv1 shares fw_*4_p1");
_Static_assert(sizeof(struct fw_pfx16) == sizeof(struct fw_p1), "fw_pfx16 shares fw_*4_p1");
_Static_assert(SLUICE_DROP_MAX <= 256, "drop reasons fit in sl_event.reason");
_Static_assert(SLUICE_POL_SLOTS <= 256, "sections fit in sl_event.section");
_Static_assert(SLUICE_CNT_MAX < SLUICE_RULE_EARLY, "counter ids fit in fw_rule entries");
#endif

#endif /* SLUICE_ABI_H */
