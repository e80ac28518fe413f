// SPDX-License-Identifier: GPL-2.0-only
/*
 * The policy's conntrack settings -> ct_cfg[0] and the table's capacity. The
 * parser (policy_parse.c) has already checked the values and filled in the
 * defaults of bpf/sluice_abi.h for every key the files omit.
 */
#include <string.h>

#include "ct.h"

void ct_config_compile(const struct sl_policy *pol, struct sl_ct_config *cfg,
		       uint32_t *max_entries)
{
	memset(cfg, 0, sizeof(*cfg));
	/* without a stateful section conntrack would only cost */
	cfg->stateful = policy_stateful(pol);
	for (int i = 0; i < SLUICE_CT_TO_MAX; i++)
		cfg->timeout[i] = pol->ct.timeout[i];
	*max_entries = pol->ct.max_entries;
}

void ct_cookie_compile(const struct sl_policy *pol, struct sl_ck_config *ck)
{
	memset(ck, 0, sizeof(*ck));
	ck->mode = pol->ct.syncookies;
	for (uint32_t i = 0; i < pol->ct.nsyncookie_ports; i++)
		for (uint32_t p = pol->ct.syncookie_ports[i].lo;
		     p <= pol->ct.syncookie_ports[i].hi; p++)
			ck->ports[p / 64] |= 1ull << (p % 64);
}

#define CT_STATE_NAME(id, name, to) [id] = name,
static const char *const state_names[SL_CT_STATE_MAX] = { SLUICE_CT_STATES(CT_STATE_NAME) };
#undef CT_STATE_NAME

#define CT_TO_NAME(id, name, dflt) name,
static const char *const timeout_names[SLUICE_CT_TO_MAX] = { SLUICE_CT_TIMEOUTS(CT_TO_NAME) };
#undef CT_TO_NAME

const char *ct_state_name(unsigned int state)
{
	if (state < SL_CT_STATE_MAX && state_names[state])
		return state_names[state];
	return "unknown";
}

const char *ct_timeout_name(unsigned int idx)
{
	return idx < SLUICE_CT_TO_MAX ? timeout_names[idx] : NULL;
}

/* Which timeout a state lives under (SLUICE_CT_STATES, as the datapath reads it). */
int ct_state_timeout(unsigned int state)
{
#define CT_TO_CASE(st, name, to) case st: return to;
	switch (state) {
	SLUICE_CT_STATES(CT_TO_CASE)
	default:
		return -1;
	}
#undef CT_TO_CASE
}
