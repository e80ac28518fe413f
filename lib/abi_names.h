/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The names of the ABI's counters and reasons, expanded once from the X-macros
 * of bpf/sluice_abi.h. Every user-facing surface (stats, metrics, events, the
 * upgrade's carry by name) reads these, so a name is spelled in one place.
 */
#ifndef SLUICE_ABI_NAMES_H
#define SLUICE_ABI_NAMES_H

#include <linux/types.h>
#include "../bpf/sluice_abi.h"

extern const char *const sl_verdict_names[SLUICE_VERDICT_MAX];
extern const char *const sl_drop_names[SLUICE_DROP_MAX];
extern const char *const sl_ct_stat_names[SLUICE_CT_STAT_MAX];
extern const char *const sl_lb_stat_names[SLUICE_LB_STAT_MAX];
extern const char *const sl_eg_hook_names[SLUICE_EG_HOOK_MAX];
extern const char *const sl_hook_names[SLUICE_HOOK_MAX];

#endif /* SLUICE_ABI_NAMES_H */
