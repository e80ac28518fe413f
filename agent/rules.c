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
 * restarted agent finds the counters of the policy in force again.
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
	uint64_t key[SLUICE_CNT_MAX];	/* owner of each counter id, 0: free */
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
	int err;

	if (!r)
		return -ENOMEM;
	a->rules = r;
	err = sl_array_read(a->cnt_key_fd, SLUICE_CNT_MAX, sizeof(r->key[0]), r->key);
	if (err)
		pr_err("cannot read %s: %s", SLUICE_MAP_CNT_KEY, strerror(-err));
	return err;
}

void rules_close(struct agent *a)
{
	struct agent_rules *r = a->rules;

	if (!r)
		return;
	for (size_t i = 0; i < RULES_HIST; i++)
		gen_free(&r->hist[i]);
	free(r->ids);
	free(r);
	a->rules = NULL;
}

/* Own (KEY != 0) or free (KEY 0) counter id ID, here and in fw_cnt_key. */
static int key_set(struct agent *a, uint32_t id, uint64_t key)
{
	if (bpf_map_update_elem(a->cnt_key_fd, &id, &key, BPF_ANY))
		return -errno;
	a->rules->key[id] = key;
	return 0;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

/* An owned id and its key, sorted by key to find a rule's id. */
struct key_id {
	uint64_t key;
	uint64_t id;
};

int rules_plan(struct agent *a, const struct sl_policy *pol, struct rules_plan *p)
{
	struct agent_rules *r = a->rules;
	size_t n = policy_nrules(pol), k = 0, nk = 0;
	struct key_id *owned = NULL;
	uint32_t next_free = 0;
	int err = 0;

	memset(p, 0, sizeof(*p));
	p->ids = calloc(n + 1, sizeof(*p->ids));
	p->fresh = calloc(n + 1, sizeof(*p->fresh));
	owned = calloc(SLUICE_CNT_MAX, sizeof(*owned));
	if (!p->ids || !p->fresh || !owned) {
		err = -ENOMEM;
		goto out;
	}
	p->n = n;
	for (uint32_t id = 0; id < SLUICE_CNT_DEFAULT; id++)
		if (r->key[id])
			owned[nk++] = (struct key_id){ r->key[id], id };
	qsort(owned, nk, sizeof(*owned), cmp_u64);
	for (size_t s = 0; s < pol->nfws && !err; s++) {
		for (size_t i = 0; i < pol->fws[s].nrules && !err; i++, k++) {
			uint64_t key = sl_rule_key(&pol->fws[s].rules[i]);
			struct key_id *hit = bsearch(&key, owned, nk, sizeof(*owned), cmp_u64);

			if (hit) {
				p->ids[k] = (uint32_t)hit->id;
				continue;
			}
			while (next_free < SLUICE_CNT_DEFAULT && r->key[next_free])
				next_free++;
			if (next_free >= SLUICE_CNT_DEFAULT) {
				pr_err("no free rule counter (%d in use)", SLUICE_CNT_DEFAULT);
				err = -ENOSPC;
				break;
			}
			/* zeroed before any slot counts into it: it starts from 0 */
			err = sl_percpu_zero(a->rule_cnt_fd, next_free, sizeof(struct sl_counter));
			if (!err)
				err = key_set(a, next_free, key);
			if (err) {
				pr_err("cannot take rule counter %u: %s", next_free, strerror(-err));
				break;
			}
			p->ids[k] = next_free;
			p->fresh[p->nfresh++] = next_free;
		}
	}
out:
	free(owned);
	if (err)
		rules_abort(a, p);
	return err;
}

void rules_abort(struct agent *a, struct rules_plan *p)
{
	for (size_t i = 0; i < p->nfresh; i++)
		key_set(a, p->fresh[i], 0);
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
	uint8_t *used = calloc(SLUICE_CNT_MAX, 1);

	if (used) {
		for (size_t i = 0; i < p->n; i++)
			used[p->ids[i]] = 1;
		/* whatever else is owned belonged to the policy left behind */
		for (uint32_t id = 0; id < SLUICE_CNT_DEFAULT; id++)
			if (r->key[id] && !used[id] && key_set(a, id, 0))
				pr_warn("cannot free rule counter %u: %s", id, strerror(errno));
		free(used);
	}
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
