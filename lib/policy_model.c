// SPDX-License-Identifier: GPL-2.0-only
/* The policy model's defaults, lookups and release (policy.h). */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

#define CT_TO_DEFAULT(id, name, dflt) dflt,
const uint32_t ct_timeout_defaults[SLUICE_CT_TO_MAX] = {
	SLUICE_CT_TIMEOUTS(CT_TO_DEFAULT)
};
#undef CT_TO_DEFAULT

void policy_defaults(struct sl_policy *pol)
{
	pol->ct.max_entries = SLUICE_CT_DEFAULT_MAX;
	memcpy(pol->ct.timeout, ct_timeout_defaults, sizeof(pol->ct.timeout));
	pol->ct.syncookies = SLUICE_CK_AUTO;
}

void policy_free(struct sl_policy *pol)
{
	for (size_t i = 0; i < pol->nsets; i++) {
		free(pol->sets[i].name);
		free(pol->sets[i].v);
	}
	free(pol->sets);
	for (size_t s = 0; s < pol->nfws; s++) {
		struct sl_firewall *fw = &pol->fws[s];

		free(fw->name);
		for (size_t i = 0; i < fw->nifaces; i++)
			free(fw->ifaces[i]);
		free(fw->ifaces);
		free(fw->iface_locs);
		sl_rules_free(fw);
	}
	free(pol->fws);
	lb_policy_free(pol);
	egress_policy_free(pol);
	for (size_t i = 0; i < pol->nfiles; i++)
		free(pol->files[i]);
	free(pol->files);
	memset(pol, 0, sizeof(*pol));
}

const struct sl_set *policy_find_set(const struct sl_policy *pol, const char *name)
{
	for (size_t i = 0; i < pol->nsets; i++)
		if (!strcmp(pol->sets[i].name, name))
			return &pol->sets[i];
	return NULL;
}

static bool is_glob(const char *pat)
{
	return strpbrk(pat, SL_GLOB_CHARS) != NULL;
}

int policy_fw_for_name(const struct sl_policy *pol, const char *ifname)
{
	for (size_t s = 0; s < pol->nfws; s++) {
		const struct sl_firewall *fw = &pol->fws[s];

		for (size_t i = 0; i < fw->nifaces; i++)
			if (!is_glob(fw->ifaces[i]) && !strcmp(fw->ifaces[i], ifname))
				return (int)s;
	}
	return -1;
}

int policy_fw_for_iface(const struct sl_policy *pol, const char *ifname)
{
	int s = policy_fw_for_name(pol, ifname);

	if (s >= 0)
		return s;
	/* no section names it: the first section in file order with a matching glob */
	for (size_t k = 0; k < pol->nfws; k++)
		for (size_t i = 0; i < pol->fws[k].nifaces; i++)
			if (is_glob(pol->fws[k].ifaces[i]) &&
			    !fnmatch(pol->fws[k].ifaces[i], ifname, 0))
				return (int)k;
	return -1;
}

bool policy_iface_match(const struct sl_policy *pol, const char *ifname)
{
	return policy_fw_for_iface(pol, ifname) >= 0;
}

int policy_find_fw(const struct sl_policy *pol, const char *name)
{
	for (size_t s = 0; s < pol->nfws; s++)
		if (pol->fws[s].name && !strcmp(pol->fws[s].name, name))
			return (int)s;
	return -1;
}

void policy_fw_names(const struct sl_policy *pol, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t s = 0; s < pol->nfws && off < len; s++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", s ? ", " : "",
					pol->fws[s].name);
}

const struct sl_firewall *policy_fw(const struct sl_policy *pol, int i)
{
	/* what an interface without a section gets: nothing attached, nothing denied */
	static const struct sl_firewall none = {
		.name = "(none)",
		.default_action = SLUICE_ACT_ALLOW,
		.stateful = false,
	};

	if (i < 0 || (size_t)i >= pol->nfws)
		return &none;
	return &pol->fws[i];
}

bool policy_stateful(const struct sl_policy *pol)
{
	for (size_t s = 0; s < pol->nfws; s++)
		if (pol->fws[s].stateful)
			return true;
	return false;
}

size_t policy_nrules(const struct sl_policy *pol)
{
	size_t n = 0;

	for (size_t s = 0; s < pol->nfws; s++)
		n += pol->fws[s].nrules;
	return n;
}

void sl_rules_free(struct sl_firewall *fw)
{
	for (size_t i = 0; i < fw->nrules; i++) {
		struct sl_rule *r = &fw->rules[i];

		free(r->name);
		for (size_t k = 0; k < r->nsrc; k++)
			free(r->src[k].set_name);
		for (size_t k = 0; k < r->ndst; k++)
			free(r->dst[k].set_name);
		free(r->src);
		free(r->dst);
		free(r->sport);
		free(r->dport);
	}
	free(fw->rules);
	fw->rules = NULL;
	fw->nrules = 0;
}
