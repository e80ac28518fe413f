// SPDX-License-Identifier: GPL-2.0-only
/*
 * Checks that need the whole merged policy: a set or rule name defined twice
 * (anywhere, in any file: both locations are named), @set references, the
 * number of rules.
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

int policy_check(struct sl_policy *pol, struct sl_diags *d)
{
	size_t nr = pol->fw.nrules, ns = pol->nsets, k = 0;
	struct named *sets, *rules;
	int errs = 0;

	sets = calloc(ns + 1, sizeof(*sets));
	rules = calloc(nr + 1, sizeof(*rules));
	if (!sets || !rules) {
		free(sets);
		free(rules);
		sl_diag_add(d, NULL, "out of memory");
		return 1;
	}
	for (size_t i = 0; i < ns; i++)
		sets[i] = (struct named){ pol->sets[i].name, &pol->sets[i].loc, i };
	errs += check_dups(sets, ns, "set", d);
	for (size_t i = 0; i < nr; i++)
		if (pol->fw.rules[i].name)
			rules[k++] = (struct named){ pol->fw.rules[i].name,
						    &pol->fw.rules[i].loc, i };
	errs += check_dups(rules, k, "rule", d);
	if (nr > SLUICE_MAX_RULES) {
		/* the bit-vector width of the classifier; fw_compile refuses it too */
		sl_diag_add(d, &pol->fw.rules[SLUICE_MAX_RULES].loc,
			    "too many rules: %zu; the firewall holds at most %d", nr,
			    SLUICE_MAX_RULES);
		errs++;
	}
	for (size_t i = 0; i < nr; i++) {
		struct sl_rule *r = &pol->fw.rules[i];

		errs += resolve(pol, r->src, r->nsrc, sets, ns, d);
		errs += resolve(pol, r->dst, r->ndst, sets, ns, d);
	}
	free(sets);
	free(rules);
	return errs;
}
