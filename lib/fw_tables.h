/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Compiled firewall tables: the exact contents of the fw_* maps of
 * bpf/sluice_abi.h, built in memory from a checked policy (fw_compile.c) and
 * written to the kernel by fw_maps.c. Golden tests compare these.
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

struct fw_tables {
	struct fw_config cfg;
	uint32_t nclasses;		/* fw_cls[0, nclasses); class 0 is empty */
	struct fw_bitmap *cls;
	struct fw_blk *src4, *dst4;	/* SLUICE_T24_BLOCKS each */
	uint32_t nsrc4_t8, ndst4_t8;	/* tbl8 groups in use */
	struct fw_t8 *src4_t8, *dst4_t8;
	uint32_t nsrc6, ndst6;
	struct fw_lpm6_entry *src6, *dst6;	/* always includes ::/0 */
	struct fw_blk *sport, *dport;	/* SLUICE_PORT_BLOCKS each */
};

/*
 * Compile section FW of POL (one of pol->fws, or policy_fw(pol, -1): no
 * rules, allow) into T: the tables of the interfaces that run FW. Sets are
 * POL's. Errors (too many rules, classes or tbl8 groups) are appended to
 * DIAGS at the location of the rule or set that caused them, and
 * -E2BIG/-ENOMEM is returned; T is then empty.
 */
int fw_compile(const struct sl_policy *pol, const struct sl_firewall *fw, uint64_t generation,
	       struct fw_tables *t, struct sl_diags *diags);
void fw_tables_free(struct fw_tables *t);

/* Classify with the compiled tables, as the datapath does (for tests). */
int fw_tables_classify(const struct fw_tables *t, const struct sl_pkt *pkt);

/* The fields of a packet the tables look up, each in a table of its own. */
enum fw_field { FW_FIELD_SRC, FW_FIELD_DST, FW_FIELD_PROTO, FW_FIELD_SPORT, FW_FIELD_DPORT };
#define FW_NFIELDS 5

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
 * Canonical text form of T, for golden tests and debugging: cfg, classes as
 * rule index lists, then every table as runs of equal entries
 * ("192.0.2.0-192.0.2.255 -> c3"), tbl8 groups with their /24, IPv6 entries.
 */
void fw_tables_dump(FILE *out, const struct fw_tables *t);

/*
 * File descriptors of the outer fwo_* maps (arrays of maps indexed by policy
 * slot, see bpf/lib/maps.h) and of sl_ifslot (interface -> slot). The same
 * struct also holds one slot's inner fw_* maps (fw_slot_open, fw_maps.h);
 * ifslot is then -1.
 */
struct fw_map_fds {
	int cfg, cls, src4, dst4, src4_t8, dst4_t8, src6, dst6, sport, dport;
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
