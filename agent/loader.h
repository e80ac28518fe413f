/* SPDX-License-Identifier: GPL-2.0-only */
/* bpffs, the state dir and the BPF objects with their pinned maps. */
#ifndef SLUICED_LOADER_H
#define SLUICED_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent;

/* Derive the maps/, links/ and progs/ paths from the state dir. */
int loader_paths(struct agent *a);
/*
 * Does an interface of a previous agent run a policy slot with an applied
 * policy? Also true for slots of an earlier layout (under this build's
 * names or names it retired, migrate.c): that version's firewall runs until
 * this build's links take over.
 */
bool loader_state_in_force(const struct agent *a);
/*
 * Mount bpffs at /sys/fs/bpf when the state dir is not on one and nothing is
 * mounted there; create the state dir, maps/ and links/ (0700); take the
 * state dir lock so that two agents never share one state dir; undo an
 * upgrade a previous agent left half done (migrate_recover).
 */
int loader_prepare_state(struct agent *a);
/*
 * Open the skeleton with every map pinned under maps/ (reusing pins left by
 * a previous agent, so its state survives; a pin of another layout is
 * replaced as migrate.c says, and a->legacy_state set). When this build's
 * program set (the three objects' programs) is pinned under progs/BUILD,
 * adopt it and load no program; otherwise load a new set, fill its prog
 * array and pin it (the XDP object's here, the others' as they load).
 * Find the map fds.
 */
int loader_load(struct agent *a);
/*
 * From sl_ifslot and the slots' fw_cfg: the slot in force (active, newest
 * generation), whether there is one, and the newest generation.
 */
int loader_pick_active(struct agent *a);
/*
 * Once every link runs this build's entry program and its grace period is
 * over: free the policy slots no interface names and unpin the program
 * sets of other builds.
 */
void loader_gc(struct agent *a);
/*
 * An upgrade, the policy applied, the links not moved yet: carry the rule
 * counters of a retired layout over by rule order (migrate_carry_rules).
 */
int loader_carry_rules(struct agent *a);
/*
 * Every link runs this build (and the grace period is over): finish the
 * upgrade of this start, if any (migrate_commit).
 */
void loader_commit(struct agent *a);
/*
 * Before OBJ (another object of this agent: TC, cgroup hooks) is loaded:
 * give every map of OBJ the pin path of the map of that name under maps/,
 * so that it uses the map the XDP object pinned, or pins its own there.
 * Maps that will not be created (bpf_map__set_autocreate false), and a
 * program set's own (MIG_PROGRAM: sl_scratch), are left alone. When this
 * build's program set was adopted, OBJ loads no program (loader_prog_fd
 * gives the pinned ones) and creates no map of its own. 0 or -errno.
 */
struct bpf_object;
struct bpf_program;
int loader_prepare_obj(const struct agent *a, struct bpf_object *obj);
/*
 * OBJ loaded its programs (the set was not adopted): pin each under this
 * build's set, progs/BUILD/NAME, 0600, before any link runs it. 0 or -errno.
 */
int loader_pin_obj(struct agent *a, const struct bpf_object *obj);
/* The fd of PROG of the TC or cgroup object: the adopted pin's, or the loaded one's. */
int loader_prog_fd(const struct agent *a, const struct bpf_program *prog);
/* The id of the program behind FD, or 0. */
uint32_t loader_fd_prog_id(int fd);
/* Free the BPF objects (pins stay); an upgrade not committed is undone. */
void loader_unload(struct agent *a);
/*
 * Unpin every pin under the state dir and remove it. ERR receives
 * the first failure as one line for the control answer.
 */
int loader_remove_state(struct agent *a, char *err, size_t errlen);

/* BUF = DIR/NAME; -ENAMETOOLONG when it does not fit. */
int path_join(char *buf, size_t len, const char *dir, const char *name);
/* mkdir -p with MODE for the components it creates. */
int mkdir_p(const char *path, unsigned int mode);

#endif /* SLUICED_LOADER_H */
