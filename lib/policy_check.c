// SPDX-License-Identifier: GPL-2.0-only
/*
 * Checks that need the whole merged policy: a set, rule or section name
 * defined twice (anywhere, in any file, any section: both locations are
 * named), an interface pattern in two sections, @set references, the number
 * of rules of a section.
 * Checks of single values happen where they are parsed (policy_parse.c).
 */
#include <string.h>

#include "policy_int.h"

struct named {
	const char *name;
	const struct sl_loc *loc;
	size_t order;
};

static int cmp_named(const void *a, const void *b)
{
	const struct named *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Report each later definition of a name at its location, naming the first. */
static int check_dups(struct named *v, size_t n, const char *what, struct sl_diags *d)
{
	size_t first = 0;
	int errs = 0;

	qsort(v, n, sizeof(*v), cmp_named);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(v[i].name, v[first].name)) {
			first = i;
			continue;
		}
		sl_diag_add(d, v[i].loc, "duplicate %s name \"%s\": also defined at %s:%d:%d", what,
			    v[i].name, v[first].loc->file, v[first].loc->line, v[first].loc->col);
		errs++;
	}
	return errs;
}

static int cmp_set_name(const void *key, const void *elem)
{
	return strcmp(key, ((const struct named *)elem)->name);
}

static int resolve(struct sl_policy *pol, struct sl_addr_item *v, size_t n,
		   const struct named *sets, size_t nsets, struct sl_diags *d)
{
	int errs = 0;

	for (size_t i = 0; i < n; i++) {
		const struct named *s;

		if (!v[i].is_set)
			continue;
		s = nsets ? bsearch(v[i].set_name, sets, nsets, sizeof(*sets), cmp_set_name) : NULL;
		if (!s) {
			sl_diag_add(d, &v[i].loc, "unknown set \"@%s\"; define it under sets:",
				    v[i].set_name);
			errs++;
			continue;
		}
		/* bsearch may land on any of equal names; the first definition is the set. */
		while (s > sets && !strcmp(s[-1].name, s->name))
			s--;
		v[i].set = &pol->sets[s->order];
	}
	return errs;
}


/*
 * A glob of a later section that matches no name an earlier section's glob
 * does not already take can never pick its section (exact names aside,
 * which beat every glob): refuse it, it is a mistake in the order.
 */
static int check_dead_globs(const struct sl_policy *pol, struct sl_diags *d)
{
	char name[16];
	int errs = 0;

	for (size_t sb = 1; sb < pol->nfws; sb++) {
		const struct sl_firewall *fb = &pol->fws[sb];

		for (size_t ib = 0; ib < fb->nifaces; ib++) {
			const char *b = fb->ifaces[ib];
			bool dead = false;

			if (!strpbrk(b, SL_GLOB_CHARS))
				continue;
			for (size_t sa = 0; sa < sb && !dead; sa++) {
				const struct sl_firewall *fa = &pol->fws[sa];

				for (size_t ia = 0; ia < fa->nifaces && !dead; ia++) {
					const char *a = fa->ifaces[ia];
					const struct sl_loc *l = &fa->iface_locs[ia];

					/* identical patterns are reported by check_ifaces */
					if (!strpbrk(a, SL_GLOB_CHARS) || !strcmp(a, b) ||
					    sl_glob_covers(a, b, name) != 1)
						continue;
					sl_diag_add(d, &fb->iface_locs[ib],
						    "interface pattern \"%s\" of section \"%s\" never applies: "
						    "every name it matches takes section \"%s\" first, by \"%s\" "
						    "at %s:%d:%d; list it before that section or narrow it",
						    b, fb->name, fa->name, a, l->file, l->line, l->col);
					errs++;
					dead = true;
				}
			}
		}
	}
	return errs;
}

/*
 * At most SL_GLOBS_MAX interface globs in all (firewall sections, decap):
 * the error is at the first one past it. The pairwise checks after it
 * (check_dead_globs, lb_check's decap interfaces) then take milliseconds,
 * where thousands of globs held the agent's loop for minutes.
 */
static int check_glob_count(const struct sl_policy *pol, struct sl_diags *d)
{
	const struct sl_loc *past = NULL;
	size_t n = 0;

	for (size_t s = 0; s < pol->nfws; s++)
		for (size_t i = 0; i < pol->fws[s].nifaces; i++)
			if (strpbrk(pol->fws[s].ifaces[i], SL_GLOB_CHARS) && ++n == SL_GLOBS_MAX + 1)
				past = &pol->fws[s].iface_locs[i];
	for (size_t i = 0; i < pol->decap.nifaces; i++)
		if (strpbrk(pol->decap.ifaces[i], SL_GLOB_CHARS) && ++n == SL_GLOBS_MAX + 1)
			past = &pol->decap.iface_locs[i];
	if (!past)
		return 0;
	sl_diag_add(d, past, "too many interface patterns with wildcards: %zu in the policy "
		    "(all sections and decap); a policy holds at most %d", n, SL_GLOBS_MAX);
	return 1;
}

/*
 * Interface patterns across sections: a pattern written in two sections is
 * refused (which one would the interface run?), naming both places. Within
 * one section a repeated pattern is harmless.
 */
static int check_ifaces(const struct sl_policy *pol, struct sl_diags *d)
{
	size_t n = 0, k = 0;
	struct named *v;
	int errs = 0;

	for (size_t s = 0; s < pol->nfws; s++)
		n += pol->fws[s].nifaces;
	if (pol->nfws < 2 || !n)
		return 0;
	v = calloc(n, sizeof(*v));
	if (!v) {
		sl_diag_add(d, NULL, "out of memory");
		return 1;
	}
	for (size_t s = 0; s < pol->nfws; s++)
		for (size_t i = 0; i < pol->fws[s].nifaces; i++)
			v[k++] = (struct named){ pol->fws[s].ifaces[i], &pol->fws[s].iface_locs[i],
						 s << 32 | i };
	qsort(v, n, sizeof(*v), cmp_named);
	for (size_t i = 1, first = 0; i < n; i++) {
		if (strcmp(v[i].name, v[first].name)) {
			first = i;
			continue;
		}
		if (v[i].order >> 32 == v[first].order >> 32)
			continue;
		sl_diag_add(d, v[i].loc, "interface \"%s\" is in section \"%s\" and in section "
			    "\"%s\" (at %s:%d:%d); an interface runs one section",
			    v[i].name, pol->fws[v[i].order >> 32].name,
			    pol->fws[v[first].order >> 32].name, v[first].loc->file,
			    v[first].loc->line, v[first].loc->col);
		errs++;
		/* a third section repeating it is reported against the first one too */
	}
	free(v);
	return errs;
}

/*
 * What a section on the tc hook cannot run is refused at its `hook: tc`,
 * never skipped: the load balancer and decap (XDP_TX, devmap redirects,
 * headers moved in place) and SYN cookies sent by sluice (XDP_TX). SYN
 * cookies in auto mode are the kernel's there (docs/policy.md).
 */
static int check_hooks(const struct sl_policy *pol, struct sl_diags *d)
{
	int errs = 0;

	for (size_t s = 0; s < pol->nfws; s++) {
		const struct sl_firewall *fw = &pol->fws[s];

		if (fw->hook != SL_FW_HOOK_TC)
			continue;
		if (pol->nlbs) {
			sl_diag_add(d, &fw->hook_loc, "hook: tc cannot run the load balancer "
				    "(loadbalancers at %s:%d:%d): it sends packets on with XDP_TX and "
				    "redirects; use hook: xdp or auto in a policy with load balancers",
				    pol->lb_loc.file, pol->lb_loc.line, pol->lb_loc.col);
			errs++;
		}
		if (pol->decap.present) {
			sl_diag_add(d, &fw->hook_loc, "hook: tc cannot decapsulate (decap at "
				    "%s:%d:%d): that runs in XDP; use hook: xdp or auto",
				    pol->decap.loc.file, pol->decap.loc.line, pol->decap.loc.col);
			errs++;
		}
		if (pol->ct.syncookies == SLUICE_CK_ALWAYS || pol->ct.nsyncookie_ports) {
			sl_diag_add(d, &fw->hook_loc, "hook: tc cannot send SYN cookies (they leave "
				    "with XDP_TX), and the conntrack section asks for them always or "
				    "on some ports; use hook: xdp, or syn-cookies: auto (on tc: the "
				    "kernel's own SYN cookies)");
			errs++;
		}
	}
	return errs;
}

int policy_check(struct sl_policy *pol, struct sl_diags *d)
{
	size_t nr = policy_nrules(pol), ns = pol->nsets, nf = pol->nfws, k = 0;
	struct named *sets, *rules, *fws;
	int errs = 0, globs;

	sets = calloc(ns + 1, sizeof(*sets));
	rules = calloc(nr + 1, sizeof(*rules));
	fws = calloc(nf + 1, sizeof(*fws));
	if (!sets || !rules || !fws) {
		free(sets);
		free(rules);
		free(fws);
		sl_diag_add(d, NULL, "out of memory");
		return 1;
	}
	for (size_t i = 0; i < ns; i++)
		sets[i] = (struct named){ pol->sets[i].name, &pol->sets[i].loc, i };
	errs += check_dups(sets, ns, "set", d);
	/* rule names are unique across sections: counters and events name a rule alone */
	for (size_t s = 0; s < nf; s++) {
		const struct sl_firewall *fw = &pol->fws[s];

		for (size_t i = 0; i < fw->nrules; i++)
			if (fw->rules[i].name) {
				rules[k] = (struct named){ fw->rules[i].name, &fw->rules[i].loc,
							   k };
				k++;
			}
	}
	errs += check_dups(rules, k, "rule", d);
	k = 0;
	for (size_t s = 0; s < nf; s++)
		if (pol->fws[s].name)
			fws[k++] = (struct named){ pol->fws[s].name, &pol->fws[s].loc, s };
	errs += check_dups(fws, k, "section", d);
	/* past the limit, the pairwise checks of globs (here and lb_check's) are not made */
	globs = check_glob_count(pol, d);
	errs += globs;
	errs += check_ifaces(pol, d);
	if (!globs)
		errs += check_dead_globs(pol, d);
	errs += check_hooks(pol, d);
	/*
	 * The rules of all sections together: the counter ids (two policies'
	 * worth in fw_rule_cnt) and the classifier's bit-vector width; the
	 * error is at the first rule past the limit.
	 */
	if (policy_nrules(pol) > SLUICE_MAX_RULES) {
		size_t before = 0, s = 0;

		while (before + pol->fws[s].nrules <= SLUICE_MAX_RULES)
			before += pol->fws[s++].nrules;
		sl_diag_add(d, &pol->fws[s].rules[SLUICE_MAX_RULES - before].loc,
			    "too many rules: %zu in the policy (all sections); a policy holds at "
			    "most %d", policy_nrules(pol), SLUICE_MAX_RULES);
		errs++;
	}
	/*
	 * Every firewall section and egress entry is compiled into a policy slot
	 * of its own, and the next policy is written into free slots beside the
	 * one in force: a policy takes at most half of them, or its own reload
	 * would find none free. The error is at the first one past the limit.
	 */
	if (pol->nfws + pol->negs > SL_POLICY_SLOTS_MAX) {
		const struct sl_loc *at = pol->nfws > SL_POLICY_SLOTS_MAX ?
					  &pol->fws[SL_POLICY_SLOTS_MAX].loc :
					  &pol->egs[SL_POLICY_SLOTS_MAX - pol->nfws].loc;

		sl_diag_add(d, at, "too many policy slots: %zu firewall sections and %zu egress "
			    "entries take one each; a policy takes at most %d (half of the %d: "
			    "a reload writes the next one beside it)", pol->nfws, pol->negs,
			    SL_POLICY_SLOTS_MAX, SLUICE_POL_SLOTS);
		errs++;
	}
	for (size_t s = 0; s < nf; s++) {
		struct sl_firewall *fw = &pol->fws[s];

		for (size_t i = 0; i < fw->nrules; i++) {
			struct sl_rule *r = &fw->rules[i];

			errs += resolve(pol, r->src, r->nsrc, sets, ns, d);
			errs += resolve(pol, r->dst, r->ndst, sets, ns, d);
		}
	}
	if (!globs)
		errs += lb_check(pol, d);
	errs += egress_check(pol, d);
	free(sets);
	free(rules);
	free(fws);
	return errs;
}
