/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Userspace side of the XDP firewall maps: find them in a loaded object,
 * read their per-CPU counters, report their memory. fw_maps_write (the
 * policy writer) is declared in fw_tables.h.
 */
#ifndef SLUICE_FW_MAPS_H
#define SLUICE_FW_MAPS_H

#include <stdint.h>

#include "fw_tables.h"

struct bpf_object;

/*
 * Fill FDS with the fds of the SLUICE_MAP_FW_* maps of OBJ (loaded).
 * Returns -ENOENT when one is missing; FDS is then unspecified.
 */
int fw_map_fds_from_obj(struct bpf_object *obj, struct fw_map_fds *fds);

/*
 * Read entries [0, N) of a per-CPU array of struct sl_counter (fw_rule_cnt,
 * sl_verdict, sl_drop), each summed across the possible CPUs, into OUT.
 * Returns 0 or -errno.
 */
int sl_counters_read(int fd, uint32_t n, struct sl_counter *out);

/* Read entry KEY of such an array, summed across CPUs. */
int sl_counter_read(int fd, uint32_t key, struct sl_counter *out);

/* Set every entry of such a per-CPU counter array back to zero. */
int sl_counters_reset(int fd, uint32_t n);

/*
 * What the kernel charges for the map FD ("memlock" of /proc/self/fdinfo,
 * what bpftool shows), in bytes. Returns 0 or -errno.
 */
int sl_map_memlock(int fd, uint64_t *bytes);

#endif /* SLUICE_FW_MAPS_H */
