// SPDX-License-Identifier: GPL-2.0-only
/*
 * Rule identities across reloads (rules.h).
 *
 * Counter ids: fw_rule_cnt_v2 has room for the rules of the policy in force
 * and of one replacing it (SLUICE_CNT_MAX). A policy about to be applied
 * gets its ids first (rules_plan): a rule whose key (sl_rule_key: name and
 * content) owns an id keeps it, so its counters go on across the reload;
 * any other takes a free id whose counters are zeroed before the slot that
 * counts into it exists. Once the interfaces run the new policy and the
 * grace period is over, the ids only the old policy used are free again
 * (rules_commit). fw_cnt_key (pinned) mirrors who owns what, so that a
 * restarted agent finds the counters of the policy in force again. The
 * bookkeeping is cnt_ids.c's, which serves the egress entries' counters too.
 *
 * Names by generation: a drop event carries the generation and section of
 * the slot that dropped the packet and the rule's index there. The last
 * RULES_HIST generations' rule names are kept, so an event read after a
 * reload still names the rule that dropped it, not whatever holds that index
 * now. The egress entries' names and rules are kept with them: an egress
 * event carries the generation of the entry's slot too.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent.h"
#include "cnt_ids.h"
#include "fw_maps.h"
#include "log.h"
#include "policy_json.h"
#include "rules.h"
#include "sync.h"

#define RULES_HIST	16	/* generations whose rule names are kept for events */

/*
 * What one generation called its rules: the firewall sections', then the
 * egress entries' (as "sections" NFW.., each with its entry's name).
 */
struct rules_gen {
	uint32_t gen;		/* low 32 bits, as the events carry it; 0: empty */
	size_t nsec;		/* sections and egress entries */
	size_t nfw;		/* of which firewall sections */
	size_t *nrules;		/* per section */
	char ***names;		/* per section, per rule */
	char **egname;		/* per egress entry */
};

struct agent_rules {
	struct cnt_ids cnt;		/* counter ids and their owners (fw_cnt_key) */
	uint32_t *ids;			/* of the policy in force, sections one after the other */
	size_t nids;
	struct rules_gen hist[RULES_HIST];
	size_t hist_next;
};

static void gen_free(struct rules_gen *g)
{
	for (size_t s = 0; s < g->nsec; s++) {
		for (size_t i = 0; i < g->nrules[s]; i++)
			free(g->names[s][i]);
		free(g->names[s]);
		if (s >= g->nfw)
			free(g->egname[s - g->nfw]);
	}
	free(g->names);
	free(g->nrules);
	free(g->egname);
	memset(g, 0, sizeof(*g));
}

int rules_open(struct agent *a)
{
	struct agent_rules *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	a->rules = r;
	/* the default's id is fixed (SLUICE_CNT_DEFAULT): the rules' are below it */
	return cnt_ids_open(&r->cnt, "rule", a->rule_cnt_fd, a->cnt_key_fd, SLUICE_CNT_DEFAULT);
}

void rules_close(struct agent *a)
{
	struct agent_rules *r = a->rules;

	if (!r)
		return;
	for (size_t i = 0; i < RULES_HIST; i++)
		gen_free(&r->hist[i]);
	cnt_ids_close(&r->cnt);
	free(r->ids);
	free(r);
	a->rules = NULL;
}

int rules_plan(struct agent *a, const struct sl_policy *pol, struct rules_plan *p)
{
	size_t n = policy_nrules(pol), k = 0;
	uint64_t *keys = calloc(n + 1, sizeof(*keys));
	int err = -ENOMEM;

	memset(p, 0, sizeof(*p));
	p->ids = calloc(n + 1, sizeof(*p->ids));
	p->fresh = calloc(n + 1, sizeof(*p->fresh));
	if (keys && p->ids && p->fresh) {
		for (size_t s = 0; s < pol->nfws; s++)
			for (size_t i = 0; i < pol->fws[s].nrules; i++)
				keys[k++] = sl_rule_key(&pol->fws[s].rules[i]);
		p->n = n;
		err = cnt_ids_plan(&a->rules->cnt, keys, n, p->ids, p->fresh, &p->nfresh);
	}
	free(keys);
	if (err) {
		free(p->ids);
		free(p->fresh);
		memset(p, 0, sizeof(*p));
	}
	return err;
}

void rules_abort(struct agent *a, struct rules_plan *p)
{
	cnt_ids_abort(&a->rules->cnt, p->fresh, p->nfresh);
	free(p->ids);
	free(p->fresh);
	memset(p, 0, sizeof(*p));
}

static void hist_push(struct agent_rules *r, const struct sl_policy *pol, uint64_t gen)
{
	struct rules_gen *g = &r->hist[r->hist_next];
	size_t nsec = pol->nfws + pol->negs;

	gen_free(g);
	g->names = calloc(nsec + 1, sizeof(*g->names));
	g->nrules = calloc(nsec + 1, sizeof(*g->nrules));
	g->egname = calloc(pol->negs + 1, sizeof(*g->egname));
	if (!g->names || !g->nrules || !g->egname) {
		gen_free(g);
		return;
	}
	g->nsec = nsec;
	g->nfw = pol->nfws;
	for (size_t s = 0; s < nsec; s++) {
		const struct sl_firewall *fw = s < pol->nfws ? &pol->fws[s] :
					       &pol->egs[s - pol->nfws].fw;

		if (s >= pol->nfws)
			g->egname[s - pol->nfws] = strdup(pol->egs[s - pol->nfws].name);
		g->names[s] = calloc(fw->nrules + 1, sizeof(**g->names));
		if (!g->names[s])
			break;
		g->nrules[s] = fw->nrules;
		for (size_t i = 0; i < fw->nrules; i++)
			g->names[s][i] = strdup(fw->rules[i].name ? fw->rules[i].name : "");
	}
	g->gen = (uint32_t)gen;
	r->hist_next = (r->hist_next + 1) % RULES_HIST;
}

void rules_commit(struct agent *a, const struct sl_policy *pol, struct rules_plan *p,
		  uint64_t gen)
{
	struct agent_rules *r = a->rules;

	cnt_ids_commit(&r->cnt, p->ids, p->n);
	free(r->ids);
	r->ids = p->ids;
	r->nids = p->n;
	free(p->fresh);
	memset(p, 0, sizeof(*p));
	hist_push(r, pol, gen);
}

uint32_t rules_counter(const struct agent *a, size_t section, size_t i)
{
	const struct agent_rules *r = a->rules;
	size_t k;

	if (!r || !a->have_policy || section >= a->pol.nfws || i >= a->pol.fws[section].nrules)
		return UINT32_MAX;
	k = sync_rule_base(&a->pol, section) + i;
	return k < r->nids ? r->ids[k] : UINT32_MAX;
}

/* The names generation GEN kept; NULL when it is too old to be known. */
static const struct rules_gen *gen_find(const struct agent *a, uint32_t gen)
{
	const struct agent_rules *r = a->rules;

	for (size_t i = 0; r && gen && i < RULES_HIST; i++)
		if (r->hist[i].gen == gen)
			return &r->hist[i];
	return NULL;
}

/* Rule RULE of "section" S of G (firewall sections, then egress entries). */
static const char *gen_rule(const struct rules_gen *g, size_t s, uint32_t rule)
{
	if (!g || s >= g->nsec || rule >= g->nrules[s] || !g->names[s])
		return NULL;
	return g->names[s][rule];
}

const char *rules_name(const struct agent *a, uint32_t gen, uint32_t section, uint32_t rule)
{
	const struct rules_gen *g = gen_find(a, gen);

	return g && section < g->nfw ? gen_rule(g, section, rule) : NULL;
}

const char *rules_eg_name(const struct agent *a, uint32_t gen, uint32_t entry, uint32_t rule)
{
	const struct rules_gen *g = gen_find(a, gen);

	return g ? gen_rule(g, g->nfw + entry, rule) : NULL;
}

const char *rules_eg_entry(const struct agent *a, uint32_t gen, uint32_t entry)
{
	const struct rules_gen *g = gen_find(a, gen);

	return g && entry < g->nsec - g->nfw ? g->egname[entry] : NULL;
}
