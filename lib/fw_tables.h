/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Compiled firewall tables: the exact contents of the fw_* maps of a policy
 * slot (SLUICE_FW_TABLES in bpf/sluice_abi.h), built in memory from a
 * checked policy (fw_compile.c) and written to the kernel by fw_maps.c.
 * Golden tests compare these.
 */
#ifndef SLUICE_FW_TABLES_H
#define SLUICE_FW_TABLES_H

#include <stdint.h>

#include "diag.h"
#include "policy.h"

struct fw_lpm6_entry {
	struct fw_lpm6_key key;
	struct fw_lpm6_val val;
};

/*
 * The IPv4 tables of one direction: l1 and its chunks (SL_MODE_MAP), or
 * flat (SL_MODE_FLAT), or neither (SL_MODE_CONST: no IPv4 prefix).
 */
struct fw_pfx4 {
	struct fw_l1blk *l1;		/* SLUICE_L1_BLOCKS: one entry per /16 */
	struct fw_t8 *flat;		/* SLUICE_FLAT_CHUNKS: every /16's chunk (DIR-24) */
	uint32_t nt8;			/* groups (/24s split past /24), then full chunks */
	struct fw_t8 *t8;
	uint32_t ns;			/* fw_dir.small: groups then full chunks, fixed table */
	struct fw_t8 *s;
	uint32_t np1, np2;		/* packed chunks: 2 and 4 values */
	struct fw_p1 *p1;
	struct fw_p2 *p2;
	uint32_t nlh;			/* hash buckets (fw_dir.lh_bkts) */
	struct fw_lh_bkt *lh;
};

struct fw_tables {
	struct fw_config cfg;
	uint32_t ncls[SL_F_MAX];	/* classes of each field; class 0 is empty */
	uint64_t *bits[SL_F_MAX];	/* ncls[f] x cfg.words: the rules of each class */
	uint32_t nclsmap;		/* entries of fw_cls (cfg.row 0) or fw_clsb */
	struct fw_bitmap *clsmap;
	struct fw_pfx4 v4[2];		/* source, destination */
	uint32_t n6[2];
	struct fw_lpm6_entry *v6[2];	/* NULL: no IPv6 prefix; else always includes ::/0 */
	struct fw_blk *port[2];		/* SLUICE_PORT_BLOCKS each; NULL: no rule names one */
	struct fw_rule_blk *rule;	/* SLUICE_RULE_BLOCKS: action bit, counter id */
};

/*
 * Compile section FW of POL (one of pol->fws, or policy_fw(pol, -1): no
 * rules, allow) into T: the tables of the interfaces that run FW. Sets are
 * POL's. Rule i gets counter id i and the default SLUICE_CNT_DEFAULT until
 * the caller gives others (fw_tables_set_counters). Errors (too many rules
 * or classes) are appended to DIAGS at the location of the rule or set that
 * caused them, and -E2BIG/-ENOMEM is returned; T is then empty.
 */
int fw_compile(const struct sl_policy *pol, const struct sl_firewall *fw, uint64_t generation,
	       struct fw_tables *t, struct sl_diags *diags);
void fw_tables_free(struct fw_tables *t);

/*
 * Rule i counts at counter id IDS[i] (the agent's, kept across reloads); DEF
 * the default. The first rules' entries go into cfg.first_rules too.
 */
void fw_tables_set_counters(struct fw_tables *t, const uint32_t *ids, uint32_t def);

/* Entry K (a /24 of the /16) of the chunk /16 entry E of V names (full or packed). */
uint16_t fw_chunk_entry(const struct fw_pfx4 *v, uint32_t e, uint32_t k);

/* The class of IPv4 address ADDR (host order) in direction D, as the datapath finds it. */
uint32_t fw_tables_class4(const struct fw_tables *t, int d, uint32_t addr);

/* Classify with the compiled tables, as the datapath does (for golden and random tests). */
int fw_tables_classify(const struct fw_tables *t, const struct sl_pkt *pkt);

/* Bytes of kernel map memory the tables take (values of every inner map, page rounded). */
uint64_t fw_tables_bytes(const struct fw_tables *t);

/* The fields of a packet the tables look up, each in a table of its own (enum sl_field). */
enum fw_field { FW_FIELD_SRC = SL_F_SRC, FW_FIELD_DST = SL_F_DST, FW_FIELD_PROTO = SL_F_PROTO,
		FW_FIELD_SPORT = SL_F_SPORT, FW_FIELD_DPORT = SL_F_DPORT };
#define FW_NFIELDS SL_F_MAX

/*
 * What T says about one field of PKT, whatever the layout of its tables:
 * the rules whose field F matches PKT's (its address of PKT's family, its
 * protocol, its port; a packet without ports matches on a port field only
 * the rules that name no port), ascending, into RULES (up to MAX). Returns
 * their number (past MAX, only MAX are written). The golden tests print
 * the tables with it (tests/golden.c), so that they describe what a rule
 * matches and survive a change of table layout.
 */
size_t fw_tables_field_rules(const struct fw_tables *t, const struct sl_pkt *pkt,
			     enum fw_field f, uint32_t *rules, size_t max);

/* The action of rule I in T; T's default for I < 0. */
enum sluice_action fw_tables_action(const struct fw_tables *t, int i);

/*
 * Canonical text form of T, for golden tests and debugging: cfg, each
 * field's classes as rule index lists, then every table as runs of equal
 * classes ("192.0.2.0-192.0.2.255 -> c3"): IPv4 at the effective class of
 * every address whatever the layout, IPv6 entries, ports, protocols.
 */
void fw_tables_dump(FILE *out, const struct fw_tables *t);

/*
 * File descriptors of the outer fwp_* maps (arrays of maps indexed by policy
 * slot, see bpf/lib/maps.h), by enum sluice_fw_table, and of sl_ifslot
 * (interface -> slot). The same struct also holds one slot's inner fw_*
 * maps (fw_slot_open, fw_maps.h: -1 for a table the slot leaves empty);
 * ifslot is then -1.
 */
struct fw_map_fds {
	int tbl[SLUICE_FWT_MAX];
	int ifslot;
	int ifslot_a;		/* the array view of ifslot (SLUICE_IFSLOT_ARRAY) */
};

/*
 * Make T the policy of the default slot (sl_ifslot key 0, what interfaces
 * without their own entry use): build a new slot from T (fw_slot_write),
 * flip the default to it, free the slot it replaces. A failure leaves the
 * policy in force as it was. Returns 0 or -errno with a message in DIAGS.
 */
int fw_maps_write(const struct fw_map_fds *fds, const struct fw_tables *t,
		  struct sl_diags *diags);

#endif /* SLUICE_FW_TABLES_H */
