// SPDX-License-Identifier: GPL-2.0-only
#include "abi_names.h"

#define NAME_OF(id, name) [SLUICE_##id] = name,
const char *const sl_verdict_names[SLUICE_VERDICT_MAX] = { SLUICE_VERDICTS(NAME_OF) };
const char *const sl_drop_names[SLUICE_DROP_MAX] = { SLUICE_DROP_REASONS(NAME_OF) };
const char *const sl_ct_stat_names[SLUICE_CT_STAT_MAX] = { SLUICE_CT_STATS(NAME_OF) };
const char *const sl_lb_stat_names[SLUICE_LB_STAT_MAX] = { SLUICE_LB_STATS(NAME_OF) };
const char *const sl_eg_hook_names[SLUICE_EG_HOOK_MAX] = { SLUICE_EG_HOOKS(NAME_OF) };
const char *const sl_hook_names[SLUICE_HOOK_MAX] = { SLUICE_HOOKS(NAME_OF) };
#undef NAME_OF
