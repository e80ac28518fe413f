// SPDX-License-Identifier: GPL-2.0-only
/*
 * The golden format (see golden.h). Address fields are printed as ranges
 * between the edges of every prefix the policy names (any set, any rule,
 * either direction): no rule's match can change inside such a range, so
 * the tables are asked at both ends of each; ends that disagree are printed
 * as "MIXED", which no correct compiler produces. Adjacent ranges with the
 * same rules are merged, so the file shows the policy's own structure.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"

typedef unsigned __int128 u128;

/* The rules FIELD of PKT matches, as text: "0 3 4", or "-" for none. */
static void rules_text(const struct fw_tables *t, const struct sl_pkt *pkt, enum fw_field f,
		       char **buf, size_t *cap)
{
	size_t n = fw_tables_field_rules(t, pkt, f, NULL, 0), len = 0;
	uint32_t *v = calloc(n ? n : 1, sizeof(*v));
	size_t need = n * 7 + 2;

	if (*cap < need) {
		free(*buf);
		*cap = need;
		*buf = malloc(need);
	}
	if (!v || !*buf) {
		fprintf(stderr, "golden: out of memory\n");
		abort();
	}
	fw_tables_field_rules(t, pkt, f, v, n);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(*buf + len, *cap - len, "%s%u", i ? " " : "", v[i]);
	if (!n)
		snprintf(*buf, *cap, "-");
	free(v);
}

static char *xstrdup(const char *x)
{
	char *d = strdup(x);

	if (!d) {
		fprintf(stderr, "golden: out of memory\n");
		abort();
	}
	return d;
}

/* A run of equal rules: printed when the next value differs. */
struct run {
	char *rules;	/* NULL: no run yet */
	char first[INET6_ADDRSTRLEN], last[INET6_ADDRSTRLEN];
};

static void run_flush(FILE *out, const char *name, struct run *r)
{
	if (!r->rules)
		return;
	if (strcmp(r->first, r->last))
		fprintf(out, "%s %s-%s -> %s\n", name, r->first, r->last, r->rules);
	else
		fprintf(out, "%s %s -> %s\n", name, r->first, r->rules);
	free(r->rules);
	r->rules = NULL;
}

/* Extend R with FIRST..LAST matching RULES, or print R and start anew. */
static void run_add(FILE *out, const char *name, struct run *r, const char *first,
		    const char *last, const char *rules)
{
	if (r->rules && strcmp(r->rules, rules))
		run_flush(out, name, r);
	if (!r->rules) {
		r->rules = xstrdup(rules);
		snprintf(r->first, sizeof(r->first), "%s", first);
	}
	snprintf(r->last, sizeof(r->last), "%s", last);
}

/* Every value 0..MAX of a small field (protocol, port), equal runs on one line. */
static void dump_small(FILE *out, const struct fw_tables *t, enum fw_field f, const char *name,
		       unsigned int max)
{
	struct run r = { 0 };
	char *buf = NULL, v[8];
	size_t cap = 0;

	for (unsigned int i = 0; i <= max; i++) {
		struct sl_pkt p = { .family = AF_INET, .proto = (uint8_t)i, .has_ports = true,
				    .sport = (uint16_t)i, .dport = (uint16_t)i };

		rules_text(t, &p, f, &buf, &cap);
		snprintf(v, sizeof(v), "%u", i);
		run_add(out, name, &r, v, v, buf);
	}
	run_flush(out, name, &r);
	free(buf);
}

/*
 * A packet without ports (ICMP, other protocols, non-first fragments): the
 * rules both port fields let it through, which is all that means anything
 * (how the two fields share the answer is the layout's business).
 */
static void dump_no_ports(FILE *out, const struct fw_tables *t)
{
	struct sl_pkt p = { .family = AF_INET, .proto = 1 };
	size_t ns = fw_tables_field_rules(t, &p, FW_FIELD_SPORT, NULL, 0);
	size_t nd = fw_tables_field_rules(t, &p, FW_FIELD_DPORT, NULL, 0);
	uint32_t *s = calloc(ns + 1, sizeof(*s)), *d = calloc(nd + 1, sizeof(*d));
	bool any = false;

	if (!s || !d) {
		fprintf(stderr, "golden: out of memory\n");
		abort();
	}
	fw_tables_field_rules(t, &p, FW_FIELD_SPORT, s, ns);
	fw_tables_field_rules(t, &p, FW_FIELD_DPORT, d, nd);
	fprintf(out, "ports none ->");
	for (size_t i = 0, j = 0; i < ns && j < nd;) {
		if (s[i] == d[j]) {
			fprintf(out, " %u", s[i]);
			any = true;
			i++;
			j++;
		} else if (s[i] < d[j]) {
			i++;
		} else {
			j++;
		}
	}
	fprintf(out, "%s\n", any ? "" : " -");
	free(s);
	free(d);
}

static u128 addr_value(const uint8_t *a, int bytes)
{
	u128 v = 0;

	for (int i = 0; i < bytes; i++)
		v = v << 8 | a[i];
	return v;
}

static void value_addr(u128 v, int bytes, uint8_t *a)
{
	for (int i = bytes - 1; i >= 0; i--, v >>= 8)
		a[i] = (uint8_t)v;
}

static int u128_cmp(const void *a, const void *b)
{
	u128 x = *(const u128 *)a, y = *(const u128 *)b;

	return x < y ? -1 : x > y;
}

struct edges {
	u128 *v;
	size_t n, cap;
};

static void edge_add(struct edges *e, u128 v)
{
	if (e->n == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 64;
		e->v = realloc(e->v, e->cap * sizeof(*e->v));
		if (!e->v) {
			fprintf(stderr, "golden: out of memory\n");
			abort();
		}
	}
	e->v[e->n++] = v;
}

/* The first address of P and the one after its last (when there is one). */
static void prefix_edges(struct edges *e, const struct sl_prefix *p, int family)
{
	int bits = family == AF_INET ? 32 : 128;
	u128 start, size;

	if (p->family != family)
		return;
	start = addr_value(p->addr, bits / 8);
	edge_add(e, start);
	if (p->len == 0)
		return;	/* it ends at the top */
	size = (u128)1 << (bits - p->len);
	if (start + size - 1 != (bits == 32 ? (u128)0xffffffffu : ~(u128)0))
		edge_add(e, start + size);
}

static void list_edges(struct edges *e, const struct sl_addr_item *v, size_t n, int family)
{
	for (size_t i = 0; i < n; i++)
		if (!v[i].is_set)
			prefix_edges(e, &v[i].pfx, family);
}

/* Every prefix of POL, sets included, as edges of address ranges. */
static void policy_edges(struct edges *e, const struct sl_policy *pol, int family)
{
	size_t m = 0;

	edge_add(e, 0);
	for (size_t s = 0; s < pol->nsets; s++)
		for (size_t i = 0; i < pol->sets[s].n; i++)
			prefix_edges(e, &pol->sets[s].v[i], family);
	for (size_t s = 0; s < pol->nfws; s++) {
		for (size_t r = 0; r < pol->fws[s].nrules; r++) {
			const struct sl_rule *rule = &pol->fws[s].rules[r];

			list_edges(e, rule->src, rule->nsrc, family);
			list_edges(e, rule->dst, rule->ndst, family);
		}
	}
	qsort(e->v, e->n, sizeof(*e->v), u128_cmp);
	for (size_t i = 0; i < e->n; i++)
		if (!m || e->v[m - 1] != e->v[i])
			e->v[m++] = e->v[i];
	e->n = m;
}

static void addr_text(u128 v, int family, char *buf, size_t len)
{
	uint8_t a[16];

	value_addr(v, family == AF_INET ? 4 : 16, a);
	inet_ntop(family, a, buf, (socklen_t)len);
}

/* The rules of FIELD (src or dst) at address V of FAMILY. */
static void rules_at(const struct fw_tables *t, enum fw_field f, int family, u128 v,
		     char **buf, size_t *cap)
{
	struct sl_pkt p = { .family = (uint8_t)family };

	value_addr(v, family == AF_INET ? 4 : 16, f == FW_FIELD_SRC ? p.src : p.dst);
	rules_text(t, &p, f, buf, cap);
}

static void dump_addrs(FILE *out, const struct sl_policy *pol, const struct fw_tables *t,
		       enum fw_field f, int family)
{
	const char *name = family == AF_INET ? f == FW_FIELD_SRC ? "src4" : "dst4" :
			   f == FW_FIELD_SRC ? "src6" : "dst6";
	u128 top = family == AF_INET ? (u128)0xffffffffu : ~(u128)0;
	char *lo = NULL, *hi = NULL, a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	size_t lcap = 0, hcap = 0;
	struct edges e = { 0 };
	struct run r = { 0 };

	policy_edges(&e, pol, family);
	for (size_t i = 0; i < e.n; i++) {
		u128 start = e.v[i], end = i + 1 < e.n ? e.v[i + 1] - 1 : top;

		rules_at(t, f, family, start, &lo, &lcap);
		rules_at(t, f, family, end, &hi, &hcap);
		addr_text(start, family, a, sizeof(a));
		addr_text(end, family, b, sizeof(b));
		if (!strcmp(lo, hi)) {
			run_add(out, name, &r, a, b, lo);
			continue;
		}
		/* no correct compiler gets here: a rule's match changes inside a range */
		run_flush(out, name, &r);
		fprintf(out, "%s %s-%s -> MIXED: %s at the start, %s at the end\n", name, a, b, lo,
			hi);
	}
	run_flush(out, name, &r);
	free(lo);
	free(hi);
	free(e.v);
}

void golden_dump(FILE *out, const struct sl_policy *pol, const struct sl_firewall *fw,
		 const struct fw_tables *t)
{
	fprintf(out, "section %s: %zu rules, default %s\n", fw->name ? fw->name : "(none)",
		fw->nrules, sl_action_name(fw_tables_action(t, -1)));
	for (size_t i = 0; i < fw->nrules; i++)
		fprintf(out, "rule %zu %s: %s\n", i, fw->rules[i].name,
			sl_action_name(fw_tables_action(t, (int)i)));
	dump_small(out, t, FW_FIELD_PROTO, "proto", 255);
	dump_small(out, t, FW_FIELD_SPORT, "sport", 65535);
	dump_small(out, t, FW_FIELD_DPORT, "dport", 65535);
	dump_no_ports(out, t);
	dump_addrs(out, pol, t, FW_FIELD_SRC, AF_INET);
	dump_addrs(out, pol, t, FW_FIELD_SRC, AF_INET6);
	dump_addrs(out, pol, t, FW_FIELD_DST, AF_INET);
	dump_addrs(out, pol, t, FW_FIELD_DST, AF_INET6);
}

bool golden_compare(const char *path, const char *text, size_t len)
{
	char *want = NULL;
	size_t wlen = 0;
	bool same;
	FILE *g;

	if (getenv("UPDATE_GOLDEN")) {
		g = fopen(path, "w");
		if (!g || fwrite(text, 1, len, g) != len || fclose(g)) {
			printf("# %s: cannot write it\n", path);
			return false;
		}
		printf("# rewrote %s: read `git diff %s`, then run again without UPDATE_GOLDEN; "
		       "until then this test fails\n", path, path);
		return false;
	}
	g = fopen(path, "r");
	if (!g) {
		printf("# %s: missing (UPDATE_GOLDEN=1 writes it)\n", path);
		return false;
	}
	fseek(g, 0, SEEK_END);
	wlen = (size_t)ftell(g);
	rewind(g);
	want = calloc(1, wlen + 1);
	if (!want || fread(want, 1, wlen, g) != wlen)
		wlen = (size_t)-1;
	fclose(g);
	same = len == wlen && !memcmp(text, want, len);
	if (!same && want) {
		/* the first line that differs */
		const char *x = text, *y = want;
		int line = 1;

		while (*x && *x == *y) {
			if (*x == '\n')
				line++;
			x++;
			y++;
		}
		while (x > text && x[-1] != '\n') {
			x--;
			y--;
		}
		printf("# %s: first difference at line %d\n", path, line);
		printf("#   got : %.*s\n", (int)strcspn(x, "\n"), x);
		printf("#   want: %.*s\n", (int)strcspn(y, "\n"), y);
	}
	free(want);
	return same;
}
