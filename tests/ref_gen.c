// SPDX-License-Identifier: GPL-2.0-only
/*
 * Random policies and packets for the oracle, and the policy written out as
 * YAML and set files (see ref_policy.h). Like ref_policy.c, nothing from
 * lib/: the files are the only way the model reaches the product.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ref_policy.h"

/* ---- randomness ---- */

uint64_t ref_rnd(struct ref_rng *r)
{
	/* splitmix64: tiny, good enough, reproducible from the seed */
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint32_t ref_rndn(struct ref_rng *r, uint32_t n)
{
	return n ? (uint32_t)(ref_rnd(r) % n) : 0;
}

bool ref_chance(struct ref_rng *r, int percent)
{
	return ref_rndn(r, 100) < (uint32_t)percent;
}

/* ---- random policies ---- */

/* Mostly long-ish prefixes, a few short ones (incl. /0), some whole addresses. */
static unsigned int gen_len(struct ref_rng *r, unsigned int max)
{
	switch (ref_rndn(r, 12)) {
	case 0:
		return ref_rndn(r, max / 4 + 1);
	case 1:
	case 2:
		return max;
	default:
		return max / 2 + ref_rndn(r, max / 2 + 1);
	}
}

static void clear_host_bits(uint8_t *a, unsigned int len, unsigned int bits)
{
	for (unsigned int i = len; i < bits; i++)
		a[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
}

/* A prefix cut from one of the pool addresses, so that prefixes nest and overlap. */
static void gen_prefix(struct ref_rng *r, const struct ref_policy *p, bool v6,
		       struct ref_prefix *x)
{
	unsigned int bytes = v6 ? 16 : 4;

	memset(x, 0, sizeof(*x));
	x->v6 = v6;
	memcpy(x->addr, p->pool[v6][ref_rndn(r, 8)], bytes);
	if (ref_chance(r, 50))	/* nearby prefixes that differ in low bits */
		x->addr[bytes - 1 - ref_rndn(r, v6 ? 8 : 2)] ^= (uint8_t)ref_rnd(r);
	x->len = (uint8_t)gen_len(r, v6 ? 128 : 32);
	clear_host_bits(x->addr, x->len, bytes * 8);
}

static void gen_pools(struct ref_rng *r, struct ref_policy *p)
{
	static const uint8_t doc4[3][3] = { { 192, 0, 2 }, { 198, 51, 100 }, { 203, 0, 113 } };
	static const uint8_t doc6[4] = { 0x20, 0x01, 0x0d, 0xb8 };

	for (int i = 0; i < 8; i++) {
		for (int f = 0; f < 2; f++)
			for (int b = 0; b < 16; b++)
				p->pool[f][i][b] = (uint8_t)ref_rnd(r);
		if (i < 3)
			memcpy(p->pool[0][i], doc4[i], 3);
		if (i < 5)
			memcpy(p->pool[1][i], doc6, 4);
		if (i < 2)	/* short addresses: 2001:db8::N */
			memset(p->pool[1][i] + 4, 0, 11);
	}
	p->have_pool = true;
}

static int gen_prefixes(struct ref_rng *r, const struct ref_policy *p, int v6_percent,
			struct ref_prefix **v, size_t n)
{
	*v = calloc(n ? n : 1, sizeof(**v));
	if (!*v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		gen_prefix(r, p, ref_chance(r, v6_percent), &(*v)[i]);
	return 0;
}

static int gen_list(struct ref_rng *r, const struct ref_policy *p, int v6_percent,
		    struct ref_list *l)
{
	int n = 1 + (int)ref_rndn(r, 4);

	l->pfx = calloc((size_t)n, sizeof(*l->pfx));
	l->sets = calloc((size_t)n, sizeof(*l->sets));
	if (!l->pfx || !l->sets)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		if (p->nsets && ref_chance(r, 25))
			l->sets[l->nsets++] = (int)ref_rndn(r, (uint32_t)p->nsets);
		else
			gen_prefix(r, p, ref_chance(r, v6_percent), &l->pfx[l->npfx++]);
	}
	return 0;
}

static int gen_ports(struct ref_rng *r, struct ref_ports **v, size_t *n)
{
	*n = 1 + ref_rndn(r, 3);
	*v = calloc(*n, sizeof(**v));
	if (!*v)
		return -ENOMEM;
	for (size_t i = 0; i < *n; i++) {
		/* ports are 1..65535: a policy with port 0 is refused */
		uint32_t lo = 1 + ref_rndn(r, ref_chance(r, 50) ? 1024 : 65535);
		uint32_t hi = ref_chance(r, 40) ? lo :
			      lo + ref_rndn(r, ref_chance(r, 50) ? 10 : 40000);

		(*v)[i].lo = (uint16_t)lo;
		(*v)[i].hi = (uint16_t)(hi > 65535 ? 65535 : hi);
	}
	return 0;
}

static int gen_rule(struct ref_rng *r, const struct ref_gen_opts *o, const struct ref_policy *p,
		    int idx, struct ref_rule *rule)
{
	static const unsigned int protos[] = {
		0, 0, REF_TCP, REF_UDP, REF_TCP | REF_UDP, REF_ICMP, REF_ICMPV6,
		REF_ICMP | REF_ICMPV6, REF_TCP | REF_ICMP, REF_ANY, REF_ANY | REF_UDP,
	};
	bool src = ref_chance(r, 60);
	bool dst = o->same_shape ? src : ref_chance(r, 50);

	snprintf(rule->name, sizeof(rule->name), "r%d", idx);
	rule->allow = ref_chance(r, 50);
	rule->protos = protos[ref_rndn(r, sizeof(protos) / sizeof(protos[0]))];
	if ((src && gen_list(r, p, o->v6_percent, &rule->src)) ||
	    (dst && gen_list(r, p, o->v6_percent, &rule->dst)))
		return -ENOMEM;
	/* ports need proto tcp, udp or both */
	if (rule->protos && !(rule->protos & ~(unsigned int)(REF_TCP | REF_UDP))) {
		if (ref_chance(r, 40) && gen_ports(r, &rule->sport, &rule->nsport))
			return -ENOMEM;
		if (ref_chance(r, 60) && gen_ports(r, &rule->dport, &rule->ndport))
			return -ENOMEM;
	}
	return 0;
}

static int gen_sets(struct ref_rng *r, const struct ref_gen_opts *o, struct ref_policy *p)
{
	size_t n = ref_rndn(r, (uint32_t)o->max_sets + 1);

	p->sets = calloc(n ? n : 1, sizeof(*p->sets));
	if (!p->sets)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct ref_set *s = &p->sets[i];

		/* names of every allowed kind of character */
		snprintf(s->name, sizeof(s->name), ref_chance(r, 70) ? "s%zu" : "Set_%zu.v-x", i);
		s->npfx = 1 + ref_rndn(r, (uint32_t)(o->max_set_pfx > 0 ? o->max_set_pfx : 1));
		if (gen_prefixes(r, p, o->v6_percent, &s->pfx, s->npfx))
			return -ENOMEM;
		if (o->max_file_pfx && ref_chance(r, 50)) {
			s->in_file = true;
			s->nfile = ref_rndn(r, (uint32_t)o->max_file_pfx + 1);
			if (gen_prefixes(r, p, o->v6_percent, &s->file_pfx, s->nfile))
				return -ENOMEM;
		}
		p->nsets++;
	}
	return 0;
}

int ref_gen_policy(struct ref_rng *r, const struct ref_gen_opts *o, struct ref_policy *p)
{
	int nsecs = o->nsecs > 0 ? o->nsecs : 1;
	int nrules = o->nrules > nsecs ? o->nrules : nsecs;	/* every section gets a rule */

	memset(p, 0, sizeof(*p));
	gen_pools(r, p);
	p->v6_percent = o->v6_percent;
	p->list_form = nsecs > 1 || ref_chance(r, 20);
	p->secs = calloc((size_t)nsecs, sizeof(*p->secs));
	if (!p->secs || gen_sets(r, o, p))
		goto nomem;
	for (int k = 0; k < nsecs; k++) {
		struct ref_section *s = &p->secs[k];
		int first = k * nrules / nsecs, end = (k + 1) * nrules / nsecs;

		if (ref_chance(r, 50))
			snprintf(s->name, sizeof(s->name), "sec%d", k);
		/* "sl1-*" never shadows "sl10-*": no glob of one section hides another's */
		snprintf(s->ifaces[s->nifaces++], sizeof(s->ifaces[0]), "sl%d-*", k);
		if (ref_chance(r, 50))
			snprintf(s->ifaces[s->nifaces++], sizeof(s->ifaces[0]), "slx%d", k);
		s->allow_default = o->dflt ? !strcmp(o->dflt, "allow") : ref_chance(r, 50);
		s->stateful = false;	/* the verdict is the rules' alone */
		s->rules = calloc((size_t)(end - first), sizeof(*s->rules));
		if (!s->rules)
			goto nomem;
		p->nsecs++;
		for (int i = first; i < end; i++, s->nrules++)
			if (gen_rule(r, o, p, i, &s->rules[s->nrules]))
				goto nomem;
	}
	if (ref_finish(p))
		goto nomem;
	return 0;
nomem:
	ref_policy_free(p);
	return -ENOMEM;
}

/* ---- random packets ---- */

static void gen_addr(struct ref_rng *r, const struct ref_policy *p, bool v6, uint8_t *a)
{
	unsigned int bits = v6 ? 128 : 32;
	const struct ref_prefix *x;

	for (unsigned int i = 0; i < 16; i++)
		a[i] = (uint8_t)ref_rnd(r);
	if (!v6)
		memset(a + 4, 0, 12);
	if (p->naim[v6] && ref_chance(r, 75)) {
		/*
		 * Inside a prefix: its bits, random host bits; now and then the
		 * first or last address, or one just outside (the last prefix bit
		 * flipped: in the sibling prefix, where a length read one bit too
		 * short would still match).
		 */
		int edge = (int)ref_rndn(r, 12);

		x = p->aim[v6][ref_rndn(r, (uint32_t)p->naim[v6])];
		for (unsigned int i = 0; i < bits; i++) {
			uint8_t m = (uint8_t)(0x80 >> (i % 8));
			bool bit = i < x->len ? x->addr[i / 8] & m : edge == 0 ? false :
				   edge == 1 ? true : a[i / 8] & m;

			if (edge == 2 && i + 1 == x->len)
				bit = !bit;
			a[i / 8] = (uint8_t)(bit ? a[i / 8] | m : a[i / 8] & ~m);
		}
		return;
	}
	if (p->have_pool && ref_chance(r, 80)) {
		/* beside the prefixes: a pool address with the bits after a random one flipped */
		memcpy(a, p->pool[v6][ref_rndn(r, 8)], bits / 8);
		for (unsigned int i = gen_len(r, bits); i < bits; i++)
			if (ref_chance(r, 50))
				a[i / 8] ^= (uint8_t)(0x80 >> (i % 8));
	}
}

static uint16_t gen_port(struct ref_rng *r, const struct ref_section *s)
{
	for (int tries = 0; s->nrules && tries < 8 && ref_chance(r, 85); tries++) {
		const struct ref_rule *rule = &s->rules[ref_rndn(r, (uint32_t)s->nrules)];
		size_t n = rule->nsport + rule->ndport, k;
		const struct ref_ports *pr;

		if (!n)
			continue;
		k = ref_rndn(r, (uint32_t)n);
		pr = k < rule->nsport ? &rule->sport[k] : &rule->dport[k - rule->nsport];
		switch (ref_rndn(r, 4)) {	/* both edges, inside and out; 0 and 65535 too */
		case 0:
			return (uint16_t)(pr->lo - 1);
		case 1:
			return pr->lo;
		case 2:
			return pr->hi;
		default:
			return (uint16_t)(pr->hi + 1);
		}
	}
	return (uint16_t)ref_rnd(r);
}

void ref_gen_pkt(struct ref_rng *r, const struct ref_policy *p, size_t sec, struct ref_pkt *pkt)
{
	static const uint8_t protos[] = { 6, 6, 6, 17, 17, 17, 1, 58, 47, 132, 50, 0 };
	const struct ref_section *s = &p->secs[sec];

	memset(pkt, 0, sizeof(*pkt));
	pkt->v6 = ref_chance(r, p->have_pool ? p->v6_percent : 40);
	gen_addr(r, p, pkt->v6, pkt->src);
	gen_addr(r, p, pkt->v6, pkt->dst);
	pkt->proto = protos[ref_rndn(r, sizeof(protos))];
	if (pkt->v6 && pkt->proto == 0)
		pkt->proto = 59;	/* 0 is hop-by-hop in IPv6; 59: no next header */
	pkt->has_ports = pkt->proto == 6 || pkt->proto == 17;
	if (pkt->has_ports) {
		pkt->sport = gen_port(r, s);
		pkt->dport = gen_port(r, s);
	}
}

/* ---- text ---- */

void ref_prefix_str(const struct ref_prefix *x, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(x->v6 ? AF_INET6 : AF_INET, x->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, x->len);
}

void ref_pkt_str(const struct ref_pkt *pkt, char *buf, size_t len)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];

	inet_ntop(pkt->v6 ? AF_INET6 : AF_INET, pkt->src, s, sizeof(s));
	inet_ntop(pkt->v6 ? AF_INET6 : AF_INET, pkt->dst, d, sizeof(d));
	if (pkt->has_ports)
		snprintf(buf, len, "%s:%u -> %s:%u proto %u", s, pkt->sport, d, pkt->dport,
			 pkt->proto);
	else
		snprintf(buf, len, "%s -> %s proto %u (no ports)", s, d, pkt->proto);
}

/* ---- the policy as files ---- */

struct writer {
	struct ref_rng st;	/* style choices only */
	FILE *f;
};

/* An address or prefix, in one of the forms an operator may write. */
static void put_prefix(struct writer *w, const struct ref_prefix *x)
{
	char a[INET6_ADDRSTRLEN];
	bool whole = x->len == (x->v6 ? 128 : 32);
	/* IPv6 always quoted (a plain scalar may not start with ':') */
	bool quote = x->v6 || ref_chance(&w->st, 30);

	if (x->v6 && ref_chance(&w->st, 20)) {
		size_t o = 0;	/* all eight groups, no "::" */

		for (int i = 0; i < 8; i++)
			o += (size_t)snprintf(a + o, sizeof(a) - o, "%s%x", i ? ":" : "",
					      x->addr[2 * i] << 8 | x->addr[2 * i + 1]);
	} else {
		inet_ntop(x->v6 ? AF_INET6 : AF_INET, x->addr, a, sizeof(a));
	}
	if (whole && ref_chance(&w->st, 50))
		fprintf(w->f, quote ? "\"%s\"" : "%s", a);
	else
		fprintf(w->f, quote ? "\"%s/%u\"" : "%s/%u", a, x->len);
}

typedef void (*put_item_fn)(struct writer *w, const void *ctx, size_t i);

/* A list of N items: "[a, b]", or "a" alone now and then when N is 1. */
static void put_list(struct writer *w, size_t n, put_item_fn item, const void *ctx)
{
	bool scalar = n == 1 && ref_chance(&w->st, 30);

	if (!scalar)
		fputc('[', w->f);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputs(", ", w->f);
		item(w, ctx, i);
	}
	if (!scalar)
		fputc(']', w->f);
}

struct addrs_ctx {
	const struct ref_policy *p;
	const struct ref_list *l;
	size_t ip, is;	/* prefixes and set references written so far */
};

/* Prefixes and set references interleaved at random: the order means nothing. */
static void put_addr(struct writer *w, const void *ctx, size_t i)
{
	struct addrs_ctx *c = (struct addrs_ctx *)ctx;

	(void)i;
	if (c->is < c->l->nsets && (c->ip == c->l->npfx || ref_chance(&w->st, 40)))
		fprintf(w->f, "\"@%s\"", c->p->sets[c->l->sets[c->is++]].name);
	else
		put_prefix(w, &c->l->pfx[c->ip++]);
}

static void put_port(struct writer *w, const void *ctx, size_t i)
{
	const struct ref_ports *v = ctx;

	if (v[i].lo != v[i].hi || ref_chance(&w->st, 10))
		fprintf(w->f, "\"%u-%u\"", v[i].lo, v[i].hi);
	else
		fprintf(w->f, "%u", v[i].lo);
}

static void put_str(struct writer *w, const void *ctx, size_t i)
{
	fputs(((const char *const *)ctx)[i], w->f);
}

static void put_quoted(struct writer *w, const void *ctx, size_t i)
{
	fprintf(w->f, "\"%s\"", ((const char (*)[16])ctx)[i]);
}

static void put_pfx(struct writer *w, const void *ctx, size_t i)
{
	put_prefix(w, &((const struct ref_prefix *)ctx)[i]);
}

static void put_protos(struct writer *w, unsigned int protos)
{
	static const char *const names[] = { "tcp", "udp", "icmp", "icmpv6", "any" };
	const char *v[5];
	size_t n = 0;

	for (int b = 0; b < 5; b++)
		if (protos & (1u << b))
			v[n++] = names[b];
	put_list(w, n, put_str, v);
}

/* IND: where the rule's "- " goes; flow style puts the whole rule on one line. */
static void put_rule(struct writer *w, const struct ref_policy *p, const struct ref_rule *r,
		     const char *ind)
{
	bool flow = ref_chance(&w->st, 30);
	const struct ref_list *lists[2] = { &r->src, &r->dst };
	static const char *const lkeys[2] = { "src", "dst" };
	char sep[64];

	if (flow)
		snprintf(sep, sizeof(sep), ", ");
	else
		snprintf(sep, sizeof(sep), "\n%s  ", ind);
	fprintf(w->f, "%s- %sname: %s%saction: %s", ind, flow ? "{ " : "", r->name, sep,
		r->allow ? "allow" : "deny");
	for (int k = 0; k < 2; k++) {
		struct addrs_ctx c = { p, lists[k], 0, 0 };

		if (!lists[k]->npfx && !lists[k]->nsets)
			continue;
		fprintf(w->f, "%s%s: ", sep, lkeys[k]);
		put_list(w, lists[k]->npfx + lists[k]->nsets, put_addr, &c);
	}
	if (r->protos) {
		fprintf(w->f, "%sproto: ", sep);
		put_protos(w, r->protos);
	}
	if (r->nsport) {
		fprintf(w->f, "%ssport: ", sep);
		put_list(w, r->nsport, put_port, r->sport);
	}
	if (r->ndport) {
		fprintf(w->f, "%sdport: ", sep);
		put_list(w, r->ndport, put_port, r->dport);
	}
	fputs(flow ? " }\n" : "\n", w->f);
}

static void put_section(struct writer *w, const struct ref_policy *p, const struct ref_section *s)
{
	const char *ind = p->list_form ? "    " : "  ";
	char rind[16];

	/* the list form's first key follows "- " */
	fputs(p->list_form ? "  - " : ind, w->f);
	if (s->name[0])
		fprintf(w->f, "name: %s\n%s", s->name, ind);
	fputs("interfaces: ", w->f);
	put_list(w, (size_t)s->nifaces, put_quoted, s->ifaces);
	fputc('\n', w->f);
	if (!s->allow_default || ref_chance(&w->st, 50))	/* allow is the default */
		fprintf(w->f, "%sdefault: %s\n", ind, s->allow_default ? "allow" : "deny");
	if (!s->stateful || ref_chance(&w->st, 50))	/* so is stateful */
		fprintf(w->f, "%sstateful: %s\n", ind, s->stateful ? "true" : "false");
	if (!s->nrules)
		return;
	fprintf(w->f, "%srules:\n", ind);
	/* the items under the key or indented further: both are YAML */
	snprintf(rind, sizeof(rind), "%s%s", ind, ref_chance(&w->st, 50) ? "  " : "");
	for (size_t i = 0; i < s->nrules; i++)
		put_rule(w, p, &s->rules[i], rind);
}

static void put_set(struct writer *w, const struct ref_set *s)
{
	bool flow = ref_chance(&w->st, 30);

	fprintf(w->f, "  %s:%s", s->name, flow ? " { " : "\n");
	if (s->npfx) {
		fputs(flow ? "prefixes: " : "    prefixes: ", w->f);
		put_list(w, s->npfx, put_pfx, s->pfx);
	}
	if (s->in_file)
		fprintf(w->f, "%sfile: %s.txt", s->npfx ? flow ? ", " : "\n    " :
			flow ? "" : "    ", s->name);
	fputs(flow ? " }\n" : "\n", w->f);
}

static int write_set_file(struct writer *w, const char *dir, const struct ref_set *s)
{
	char path[512], a[64];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.txt", dir, s->name);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	if (ref_chance(&w->st, 50))
		fprintf(f, "# set %s, %zu prefixes\n", s->name, s->nfile);
	for (size_t i = 0; i < s->nfile; i++) {
		ref_prefix_str(&s->file_pfx[i], a, sizeof(a));
		switch (ref_rndn(&w->st, 20)) {
		case 0:
			fputs("\n", f);	/* a blank line */
			break;
		case 1:
			fputs("   # a comment line\n", f);
			break;
		}
		fprintf(f, "%s%s\n", a, ref_chance(&w->st, 5) ? "   # why it is listed" : "");
	}
	return fclose(f) ? -EIO : 0;
}

static int open_file(struct writer *w, const char *dir, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	w->f = fopen(path, "w");
	return w->f ? 0 : -errno;
}

int ref_write(const struct ref_policy *p, const char *dir, uint64_t style)
{
	struct writer w = { .st = { style ^ 0x5354594c45ull } };
	/* sets in files of their own (1 or 2), the firewall in another */
	bool apart = p->nsets && p->nsecs && ref_chance(&w.st, 50);
	size_t split = apart && p->nsets > 1 && ref_chance(&w.st, 50) ? p->nsets / 2 : p->nsets;
	int err;

	for (size_t i = 0; i < p->nsets; i++)
		if (p->sets[i].in_file && (err = write_set_file(&w, dir, &p->sets[i])))
			return err;
	if (!p->nsets && !p->nsecs)
		return 0;	/* no file at all: an empty policy */
	if ((err = open_file(&w, dir, apart ? "10-sets.yaml" : "policy.yaml")))
		return err;
	for (size_t i = 0; i < p->nsets; i++) {
		if (i == split) {
			if (fclose(w.f) || (err = open_file(&w, dir, "15-sets.yaml")))
				return err ? err : -EIO;
		}
		if (i == 0 || i == split)
			fputs("sets:\n", w.f);
		put_set(&w, &p->sets[i]);
	}
	if (apart && (fclose(w.f) || (err = open_file(&w, dir, "20-firewall.yaml"))))
		return err ? err : -EIO;
	if (p->nsecs)
		fputs("firewall:\n", w.f);
	for (size_t s = 0; s < p->nsecs; s++)
		put_section(&w, p, &p->secs[s]);
	return fclose(w.f) ? -EIO : 0;
}

int ref_dir_new(char *buf, size_t len)
{
	snprintf(buf, len, "/tmp/slref-XXXXXX");
	return mkdtemp(buf) ? 0 : -errno;
}

void ref_dir_remove(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}
