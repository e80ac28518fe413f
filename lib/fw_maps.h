/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Userspace side of the XDP firewall maps: find them in a loaded object,
 * build and free policy slots (map-in-map), read the per-CPU counters,
 * report their memory. fw_maps_write (one policy for the default slot) is
 * declared in fw_tables.h.
 */
#ifndef SLUICE_FW_MAPS_H
#define SLUICE_FW_MAPS_H

#include <stdbool.h>
#include <stdint.h>

#include "fw_tables.h"

struct bpf_object;

/*
 * Fill FDS with the fds of the outer fwp_* maps and sl_ifslot of OBJ
 * (loaded). When OBJ's programs were loaded, its prog array sl_tails is
 * filled first (fw_pipeline_fill). Returns -ENOENT when one is missing;
 * FDS is then unspecified.
 */
int fw_map_fds_from_obj(struct bpf_object *obj, struct fw_map_fds *fds);
/* Every fd -1. */
void fw_map_fds_init(struct fw_map_fds *fds);
/* The inner map name of table K ("fw_src4", ...). */
const char *fw_table_name(enum sluice_fw_table k);
/* Put OBJ's stage programs (SLUICE_TAILS) into its sl_tails. 0 or -errno. */
int fw_pipeline_fill(struct bpf_object *obj);
/* Does the prog array TAILS_FD hold a program at every stage? 1, 0 or -errno. */
int fw_pipeline_full(int tails_fd);

/*
 * Policy slots. A slot is one compiled policy: one inner map per fw_* table
 * the policy needs, created by fw_slot_write (sized from the compiled tables
 * where SLUICE_FW_TABLES says so), filled, frozen (never written again) and
 * inserted into the outer maps. A packet uses the slot its
 * interface names in sl_ifslot, read once.
 */

/* Which write failed (fw_slot_write): the table, and for a trie the prefix. */
struct fw_write_fail {
	const char *map;		/* SLUICE_MAP_FW_* name, NULL: none */
	bool has_key;
	struct fw_lpm6_key key;		/* the IPv6 prefix whose insert failed */
};

/*
 * Build SLOT (which must be free, fw_slot_free) from T. Nothing a packet
 * can reach changes until the caller points an interface at SLOT. On
 * failure the slot is left empty, FAIL (may be NULL) says which map and
 * prefix, and DIAGS has the message. Returns 0 or -errno.
 */
int fw_slot_write(const struct fw_map_fds *fds, uint32_t slot, const struct fw_tables *t,
		  struct fw_write_fail *fail, struct sl_diags *diags);
/*
 * Where in POL the IPv6 prefix K (a failed trie insert) comes from: the
 * first rule item or set naming it; NULL when none does (::/0).
 */
const struct sl_loc *fw_prefix_loc(const struct sl_policy *pol, const struct fw_lpm6_key *k);
/* Remove SLOT's inner maps from the outer maps (fw_cfg first). */
int fw_slot_clear(const struct fw_map_fds *fds, uint32_t slot);
/* Is SLOT holding a policy (its fw_cfg inner map present)? */
bool fw_slot_used(const struct fw_map_fds *fds, uint32_t slot);
/* The lowest slot no outer map and no sl_ifslot entry uses; -ENOSPC when none. */
int fw_slot_free(const struct fw_map_fds *fds, uint32_t *slot);
/* Read SLOT's fw_cfg; -ENOENT when the slot is empty. */
int fw_slot_cfg(const struct fw_map_fds *fds, uint32_t slot, struct fw_config *cfg);
/*
 * Open SLOT's inner maps into INNER (ifslot -1, and -1 for a table the slot
 * leaves empty); -ENOENT when the slot has no fw_cfg. Close with fw_slot_close.
 */
int fw_slot_open(const struct fw_map_fds *fds, uint32_t slot, struct fw_map_fds *inner);
void fw_slot_close(struct fw_map_fds *inner);

/* sl_ifslot: interface IFINDEX (SLUICE_IFSLOT_DEFAULT: the default) -> SLOT. */
int fw_ifslot_set(const struct fw_map_fds *fds, uint32_t ifindex, uint32_t slot);
int fw_ifslot_get(const struct fw_map_fds *fds, uint32_t ifindex, uint32_t *slot);
int fw_ifslot_del(const struct fw_map_fds *fds, uint32_t ifindex);
/*
 * Write sl_ifslot_a from sl_ifslot (what the datapath reads from what a
 * previous build without the array left): before links run the programs.
 */
int fw_ifslot_sync_array(const struct fw_map_fds *fds);
/* Does any sl_ifslot entry name SLOT? */
bool fw_ifslot_refers(const struct fw_map_fds *fds, uint32_t slot);

/*
 * Failure injection for tests: the K-th map write (create, fill, freeze or
 * insert) from now on fails with -ERR (K = 0: off). The environment
 * variable SLUICE_FAIL_MAP_WRITE=K[:ERRNO[:MAP]] does the same for a process
 * (the agent in netns tests), counting only the writes of inner map MAP
 * (e.g. fw_src6) when given; it is read once. fw_maps_writes() counts the
 * writes done since the last fw_maps_fail_at.
 */
void fw_maps_fail_at(unsigned int k, int err);
unsigned int fw_maps_writes(void);

/*
 * Read entries [0, N) of a per-CPU array of struct sl_counter (fw_rule_cnt_v2,
 * sl_verdict_v2, sl_drop_v2), each summed across the possible CPUs, into OUT.
 * Returns 0 or -errno.
 */
int sl_counters_read(int fd, uint32_t n, struct sl_counter *out);
/* The same for entries [FIRST, FIRST + N): one hook's block of sl_verdict_v2, sl_drop_v2. */
int sl_counters_read_at(int fd, uint32_t first, uint32_t n, struct sl_counter *out);

/*
 * sl_verdict_v2 (VERDICT_FD) as the programs returned them, every hook's
 * block, into OUT (SLUICE_HOOK_MAX * SLUICE_VERDICT_SLOTS entries): XDP's
 * drops are the sum of XDP's block of sl_drop_v2 (DROP_FD), every XDP drop
 * having one reason there and no verdict counter of its own (bpf/lib/stats.h).
 * Returns 0 or -errno.
 */
int sl_verdicts_read(int verdict_fd, int drop_fd, struct sl_counter *out);

/*
 * The same for a reader that has read both maps already: VERDICTS (every
 * hook's block of sl_verdict_v2) gets XDP's drops as the sum of XDP_DROPS
 * (XDP's block of sl_drop_v2, SLUICE_DROP_SLOTS entries).
 */
void sl_verdicts_fold(struct sl_counter *verdicts, const struct sl_counter *xdp_drops);

/* Read entries [0, N) of array FD (VSIZE bytes each as userspace sees them) into OUT. */
int sl_array_read(int fd, uint32_t n, size_t vsize, void *out);

/* Read entry KEY of such an array, summed across CPUs. */
int sl_counter_read(int fd, uint32_t key, struct sl_counter *out);

/* Set every entry of such a per-CPU counter array back to zero. */
int sl_counters_reset(int fd, uint32_t n);

/* Zero entry KEY of per-CPU array FD (VSIZE bytes a CPU) on every CPU. */
int sl_percpu_zero(int fd, uint32_t key, size_t vsize);

/*
 * What the kernel charges for the map FD ("memlock" of /proc/self/fdinfo,
 * what bpftool shows), in bytes. Returns 0 or -errno.
 */
int sl_map_memlock(int fd, uint64_t *bytes);

#endif /* SLUICE_FW_MAPS_H */
