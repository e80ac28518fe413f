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

#define NSEC_PER_SEC	1000000000ull
#define STAMP_NS	(1ull << SLUICE_CT_STAMP_SHIFT)

uint64_t ct_cfg_timeout_ns(const struct sl_ct_config *cfg, unsigned int idx)
{
	uint32_t s;

	if (idx >= SLUICE_CT_TO_MAX)
		return 0;
	s = cfg && cfg->timeout[idx] ? cfg->timeout[idx] : ct_timeout_defaults[idx];
	return (uint64_t)s * NSEC_PER_SEC;
}

static uint64_t timeout_max_ns(const struct sl_ct_config *cfg)
{
	uint64_t m = 0;

	for (unsigned int i = 0; i < SLUICE_CT_TO_MAX; i++)
		if (ct_cfg_timeout_ns(cfg, i) > m)
			m = ct_cfg_timeout_ns(cfg, i);
	return m;
}

/* The slack in force at NOW (stamp units). */
static uint32_t slack_now(const struct sl_ct_config *cfg, uint64_t now)
{
	return cfg && (now >> SLUICE_CT_STAMP_SHIFT) < cfg->filter_until ? cfg->filter_slack : 0;
}

uint64_t ct_cfg_horizon_ns(const struct sl_ct_config *cfg, uint64_t now)
{
	return timeout_max_ns(cfg) + (uint64_t)slack_now(cfg, now) * STAMP_NS;
}

bool ct_filter_next(const struct sl_ct_config *cur, struct sl_ct_config *cfg, uint64_t now)
{
	uint64_t raise = 0, t = now >> SLUICE_CT_STAMP_SHIFT, until;

	cfg->filter = cur ? cur->filter : 0;
	cfg->filter_slack = cur ? cur->filter_slack : 0;
	cfg->filter_until = cur ? cur->filter_until : 0;
	if (!cur || !cur->filter)
		return false;
	for (unsigned int i = 0; i < SLUICE_CT_TO_MAX; i++) {
		uint64_t a = ct_cfg_timeout_ns(cur, i), b = ct_cfg_timeout_ns(cfg, i);

		if (b > a && b - a > raise)
			raise = b - a;
	}
	if (!raise)
		return false;
	/*
	 * An entry stamped under CUR may live RAISE longer than its stamp
	 * says; stamped under an earlier raise, the slack in force longer
	 * still. Every entry not seen since NOW is past its timeout by NOW +
	 * the longest timeout: the slack ends then (+ 2 units: rounding).
	 */
	cfg->filter_slack = slack_now(cur, now) + (uint32_t)(raise / STAMP_NS) + 1;
	until = t + timeout_max_ns(cfg) / STAMP_NS + 2;
	if (until < cur->filter_until)
		until = cur->filter_until;
	cfg->filter_until = until > UINT32_MAX ? UINT32_MAX : (uint32_t)until;
	return true;
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
