/* SPDX-License-Identifier: GPL-2.0-only */
/* bpffs, the state dir and the BPF objects with their pinned maps. */
#ifndef SLUICED_LOADER_H
#define SLUICED_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent;

/* Derive maps/ and links/ paths from the state dir. */
int loader_paths(struct agent *a);
/* Does a previous agent's pinned fw_cfg hold an applied policy? */
bool loader_state_in_force(const struct agent *a);
/*
 * Mount bpffs at /sys/fs/bpf when the state dir is not on one and nothing is
 * mounted there; create the state dir, maps/ and links/ (0700); take the
 * state dir lock so that two agents never share one state dir.
 */
int loader_prepare_state(struct agent *a);
/*
 * Open the skeleton once per slot, pin the tables under slots/N/ and the
 * counters under maps/ (reusing pins left by a previous agent, so its state
 * survives), load, and find the map fds.
 */
int loader_load(struct agent *a);
/*
 * From the pinned fw_cfg of each slot: the slot in force (active, newest
 * generation), whether there is one, and the newest generation.
 */
int loader_pick_active(struct agent *a);
/* Free the BPF objects (pins stay). */
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
