/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Upgrades across map layout changes (docs/architecture.md, "Upgrades").
 * Every map of this build's BPF objects has a declared policy for when the
 * pinned map of that name has another layout (type, key, value, entries,
 * flags, the inner maps' layout, a counter map's entry names):
 *
 *   MIG_STATE     must survive: the map is carried over into a new map of
 *                 this layout by its carry function; without one, the start
 *                 is refused and the firewall in force is left as it is
 *   MIG_POLICY    the policy slots and the interfaces' words: rebuilt from
 *                 the policy files into new maps; the links move to this
 *                 build once the policy is applied
 *   MIG_COUNTERS  per-CPU counters: carried over entry by entry, matched by
 *                 name (an enum that grew in the middle keeps every count)
 *   MIG_RECREATE  written by the agent at every start: a new map
 *   MIG_PROGRAM   belongs to one program set, never pinned under maps/
 *   MIG_RETIRED   a name an earlier layout pinned and this build does not
 *                 use (the layout change took a new name, SUCCESSOR): the
 *                 previous programs keep reading it until their links move,
 *                 then it is unpinned; rule counters (MIG_F_RULES) are
 *                 carried into the successor by rule order after the apply,
 *                 one hook's counters (MIG_F_XDP) into the successor's
 *                 "xdp/NAME" entries by name as its object loads
 *
 * Maps of one group (the policy slots; the conntrack table, its settings
 * and its sweepers) are replaced together, so that the previous programs
 * keep a consistent set until their links move.
 *
 * Sequence: migrate_plan (nothing is touched; a refusal ends here),
 * migrate_begin (the previous pins move to STATE/upgrade/), the objects
 * load and create the new maps at the pins, migrate_carry (counters, then
 * state), the policy is applied and the links move, migrate_commit (what
 * the previous programs counted meanwhile, unpin STATE/upgrade/). A failure
 * before the links move: migrate_rollback puts the previous pins back. An
 * agent that finds STATE/upgrade/ at start (a crash mid-upgrade) does the
 * same first (migrate_recover) and upgrades again.
 */
#ifndef SLUICED_MIGRATE_H
#define SLUICED_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bpf_object;

enum mig_kind {
	MIG_STATE,
	MIG_POLICY,
	MIG_COUNTERS,
	MIG_RECREATE,
	MIG_PROGRAM,
	MIG_RETIRED,
};

/* Maps replaced together when one of them is. */
enum mig_group {
	MIG_G_NONE,
	MIG_G_SLOTS,	/* fwp_*, sl_ifslot_v2, sl_ifslot_a_v2 (and the names they retired) */
	MIG_G_CT,	/* ct_shards, ct4_shards, ct_cfg, ct_sweep, ct_stamp */
	MIG_G_RULES,	/* fw_rule_cnt_v2 and its owners fw_cnt_key */
	MIG_G_LB,	/* the load balancer's services, backends, flows (by backend id) */
};

/* What else a map is (mig_map.flags). */
#define MIG_F_IFACES	0x1	/* the interfaces' slots: entries mean a firewall in force */
#define MIG_F_GEN	0x2	/* the slots' fw_config: fw_config.generation first */
#define MIG_F_RULES	0x4	/* rule counters by rule index (the release before ids) */
#define MIG_F_ALONE	0x8	/* its own layout change replaces it alone, not its group */
#define MIG_F_XDP	0x10	/* counters by name, all XDP's: carried into the successor's
				 * "xdp/NAME" entries (verdicts and drops before hooks) */

struct mig_pin;
struct migrate;

struct mig_map {
	const char *name;
	enum mig_kind kind;
	enum mig_group group;
	const char *holds;		/* what it holds, for messages */
	/*
	 * MIG_COUNTERS: the entry names of this build (NULL: entry i is rule i,
	 * the last one the default action) and of the release before names
	 * were recorded in the state (sl_cnt_names).
	 */
	const char *const *names;
	size_t nnames;
	const char *const *prev_names;
	size_t nprev;
	/*
	 * MIG_STATE: carry the previous map into this build's (FINAL: once
	 * more after the links moved, for what the previous programs wrote
	 * meanwhile). NULL: there is no migration.
	 */
	int (*carry)(struct migrate *mg, struct mig_pin *p, bool final);
	const char *successor;		/* MIG_RETIRED: this build's map in its place */
	unsigned int flags;		/* MIG_F_* */
	/*
	 * MIG_STATE, a map earlier builds did not pin: where its pin is missing
	 * and this one's is there, carried from it (which stays pinned: the
	 * old_fd of its pin is this map, never moved aside).
	 */
	const char *from;
	/*
	 * MIG_STATE: a map of this build that took over part of what this one
	 * held: this one pinned without it is of the layout before, and is
	 * carried over (into both) even when its own layout is the same.
	 */
	const char *split;
};

/* The policy of map NAME, NULL when it has none. */
const struct mig_map *mig_find(const char *name);
/* Every policy, for the tests: *N entries. */
const struct mig_map *mig_table(size_t *n);

/*
 * Plan the upgrade of the maps pinned under MAPS_DIR (UPGRADE_DIR holds the
 * previous pins while it runs) for the objects OBJS (opened, not loaded):
 * compare every pinned map with this build's. Returns the plan in *MG (also
 * when nothing changes: migrate_commit records the counter names), or
 * -errno with the reason logged: a map with no policy (a bug of this
 * build), a state map without a migration, an unreadable pin. Nothing is
 * changed either way.
 */
int migrate_plan(const char *maps_dir, const char *upgrade_dir, struct bpf_object *const *objs,
		 size_t nobjs, struct migrate **mg);
/* How many pins the plan replaces; with SLOTS, whether the policy slots are among them. */
size_t migrate_count(const struct migrate *mg, bool *slots);
/*
 * Does a map of the interfaces' slots under a name this build retired hold
 * an interface (a firewall of an earlier layout in force)?
 */
bool migrate_slots_retired(const char *maps_dir);
/* The newest policy generation the replaced policy slots held (0: none). */
uint64_t migrate_generation(const struct migrate *mg);
/* Move the replaced pins to the upgrade dir: the objects create new maps there. */
int migrate_begin(struct migrate *mg);
/*
 * Carry the replaced maps of OBJ (loaded: its maps pinned under the maps
 * dir) over into this build's: counters, and with STATE the state maps too
 * (once the new conntrack table has its shards). Before any program of OBJ
 * runs. A pin done before is skipped, and so are maps of other objects.
 */
int migrate_carry(struct migrate *mg, struct bpf_object *obj, bool state);
/*
 * The policy is in this build's maps, the links have not moved: carry the
 * retired rule counters (one per rule index, the last the default action)
 * into their successor, rule K to counter id IDS[K] of the N rules of the
 * policy just applied (the same files give the same order).
 */
int migrate_carry_rules(struct migrate *mg, const uint32_t *ids, size_t n);
/*
 * Every link runs this build: add what the previous programs counted since
 * migrate_carry, carry state once more, unpin the previous maps, record the
 * counter names. Frees MG.
 */
void migrate_commit(struct migrate *mg);
/* Before the links moved: unpin the new maps and put the previous ones back. Frees MG. */
void migrate_rollback(struct migrate *mg);
/* Free a plan that was never begun. */
void migrate_free(struct migrate *mg);
/*
 * A previous agent stopped in the middle of an upgrade (UPGRADE_DIR exists):
 * put the previous pins back under MAPS_DIR, so that it starts again from the
 * state that was in force. 0 or -errno.
 */
int migrate_recover(const char *maps_dir, const char *upgrade_dir);

/* The carry of per-CPU counters, by name (exposed for the tests). */
struct mig_names {
	const char *const *v;	/* entry i's name; NULL: a rule counter list, by index */
	size_t n;		/* entries */
	size_t named;		/* entries V names (0: all N); the rest are spare, unnamed */
};
/*
 * Copy OLD_FD's counters into NEW_FD (empty, no program running it) where
 * the names match; *SNAP (free it) keeps what was copied, for
 * mig_counters_delta. Values keep their leading 64-bit words.
 */
int mig_counters_copy(int old_fd, const struct mig_names *on, int new_fd,
		      const struct mig_names *nn, void **snap);
/* Add to NEW_FD what OLD_FD counted since SNAP (the previous programs ran on). */
int mig_counters_delta(int old_fd, const struct mig_names *on, int new_fd,
		       const struct mig_names *nn, const void *snap);
/*
 * Copy every connection of the conntrack table OLD_FD (ct_shards or
 * ct4_shards of another layout, or ct_shards from before ct4_shards, with
 * both families: entries keep their leading bytes, new fields are zero)
 * into the tables NT (their shards created), each to its family's, assured
 * and unassured entries each to their own kind of shard; an entry already
 * there stays. *MOVED, *FAILED.
 */
struct ct_tables;
int mig_ct_copy(int old_fd, const struct ct_tables *nt, uint64_t *moved, uint64_t *failed);
/*
 * Copy the load balancer's flows and NAT reverse entries of lb_flowtab
 * OLD_FD (inner maps of another layout, the same keys and values) into
 * lb_flowtab NEW_FD, creating its tables of the previous sizes where it has
 * none; an entry already there stays. IPv4 flows are not copied: they go to
 * lb_flowtab4 (mig_flows4_copy). -EPROTO: other keys or values.
 */
int mig_flows_copy(int old_fd, int new_fd, uint64_t *moved, uint64_t *failed);
/*
 * Copy the IPv4 flows of lb_flowtab FROM_FD's LB_FLOWS (40-byte keys) into
 * lb_flowtab4 NEW_FD (16-byte keys), creating its table of the same size
 * where it has none; an entry already there stays. PURGE: then delete them
 * from FROM_FD's table (this build's programs never look there). -EPROTO:
 * other keys or values.
 */
int mig_flows4_copy(int from_fd, int new_fd, bool purge, uint64_t *moved, uint64_t *failed);

#endif /* SLUICED_MIGRATE_H */
