// SPDX-License-Identifier: GPL-2.0-only
/*
 * Canonical text dump of compiled firewall tables. Golden tests compare it
 * byte for byte, so it lists everything the maps hold, in a fixed order,
 * with runs of equal entries folded into one line.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "fw_tables.h"

static void ip4(uint32_t a, char *buf, size_t len)
{
	uint32_t n = htonl(a);

	inet_ntop(AF_INET, &n, buf, (socklen_t)len);
}

static void dump_bits(FILE *out, const uint64_t *b, uint32_t words)
{
	bool any = false;

	for (uint32_t i = 0; i < words * 64; i++) {
		if (b[i / 64] & (1ull << (i % 64))) {
			fprintf(out, " %u", i);
			any = true;
		}
	}
	if (!any)
		fprintf(out, " -");
	fprintf(out, "\n");
}

/* A run of addresses [A, B] of direction NAME with class C, printed when it ends. */
struct run4 {
	FILE *out;
	const char *name;
	bool open;
	uint32_t start, end, cls;
};

static void run_flush(struct run4 *r)
{
	char a[16], b[16];

	if (!r->open)
		return;
	ip4(r->start, a, sizeof(a));
	ip4(r->end, b, sizeof(b));
	fprintf(r->out, "%s %s-%s -> c%u\n", r->name, a, b, r->cls);
	r->open = false;
}

static void run_add(struct run4 *r, uint32_t lo, uint32_t hi, uint32_t cls)
{
	if (r->open && r->cls == cls && r->end + 1 == lo) {
		r->end = hi;
		return;
	}
	run_flush(r);
	*r = (struct run4){ r->out, r->name, true, lo, hi, cls };
}

/* Every IPv4 address's class in direction D, as runs, whatever the layout found it. */
static void dump_v4(FILE *out, const char *name, const struct fw_tables *t, int d)
{
	const struct fw_pfx4 *v = &t->v4[d];
	struct run4 r = { .out = out, .name = name };

	if (t->cfg.dir[d].v4 == SL_MODE_CONST) {
		fprintf(out, "%s 0.0.0.0-255.255.255.255 -> c%u (no table)\n", name,
			t->cfg.dir[d].v4_cls);
		return;
	}
	fprintf(out, "%s tables: %s%u groups+chunks, %u+%u packed chunks, %u hash buckets\n",
		name, v->flat ? "flat, " : v->s ? "small, " : "", v->s ? v->ns : v->nt8, v->np1,
		v->np2, v->nlh);
	for (uint32_t h = 0; h < 65536; h++) {
		uint32_t e = v->flat ? 0 : v->l1[h / SLUICE_L1_BLK].e[h % SLUICE_L1_BLK];

		if (!v->flat && !(e & SLUICE_L1_FLAG)) {
			run_add(&r, h << 16, h << 16 | 0xffff, e);
			continue;
		}
		for (uint32_t k = 0; k < 256; k++) {
			uint16_t e2 = v->flat ? v->flat[h].e[k] : fw_chunk_entry(v, e, k);
			uint32_t net = h << 16 | k << 8;

			if (!(e2 & SLUICE_T8_FLAG)) {
				run_add(&r, net, net | 0xff, e2);
				continue;
			}
			for (uint32_t x = 0; x < 256; x++)
				run_add(&r, net | x, net | x, fw_tables_class4(t, d, net | x));
		}
	}
	run_flush(&r);
}

static void dump_runs(FILE *out, const char *name, const uint16_t *e, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i;

		while (j + 1 < n && e[j + 1] == e[i])
			j++;
		if (i == j)
			fprintf(out, "%s %zu -> c%u\n", name, i, e[i]);
		else
			fprintf(out, "%s %zu-%zu -> c%u\n", name, i, j, e[i]);
		i = j + 1;
	}
}

static int cmp_lpm6(const void *a, const void *b)
{
	const struct fw_lpm6_entry *x = a, *y = b;
	int r = memcmp(x->key.addr, y->key.addr, 16);

	if (r)
		return r;
	return x->key.prefixlen < y->key.prefixlen ? -1 : x->key.prefixlen > y->key.prefixlen;
}

static void dump_v6(FILE *out, const char *name, const struct fw_tables *t, int d)
{
	const struct fw_lpm6_entry *v = t->v6[d];
	uint32_t n = t->n6[d];
	struct fw_lpm6_entry *s;
	char a[INET6_ADDRSTRLEN];

	if (t->cfg.dir[d].v6 == SL_MODE_CONST) {
		fprintf(out, "%s ::/0 -> c%u (no table)\n", name, t->cfg.dir[d].v6_cls);
		return;
	}
	s = malloc((n + 1) * sizeof(*s));
	if (!s)
		return;
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_lpm6);
	for (uint32_t i = 0; i < n; i++) {
		inet_ntop(AF_INET6, s[i].key.addr, a, sizeof(a));
		fprintf(out, "%s %s/%u -> c%u\n", name, a, s[i].key.prefixlen, s[i].val.cls);
	}
	free(s);
}

static void dump_ports(FILE *out, const char *name, const struct fw_tables *t, int d)
{
	const struct fw_dir *dir = &t->cfg.dir[d];

	if (dir->port == SL_MODE_CONST)
		fprintf(out, "%s 0-65535 -> c%u (no table)\n", name, dir->port_cls);
	else
		dump_runs(out, name, t->port[d]->e, 65536);
	fprintf(out, "%s none -> c%u\n", name, dir->noport_cls);
}

void fw_tables_dump(FILE *out, const struct fw_tables *t)
{
	static const char *const fname[SL_F_MAX] = { "src", "dst", "proto", "sport", "dport" };
	const struct fw_config *cfg = &t->cfg;

	fprintf(out, "cfg generation %" PRIu64 " nrules %u default %s active %u words %u "
		"layout %s\n", (uint64_t)cfg->generation, cfg->nrules,
		sl_action_name((enum sluice_action)cfg->default_action), cfg->active, cfg->words,
		cfg->row ? "large" : "small");
	fprintf(out, "allow");
	for (uint32_t r = 0; r < cfg->nrules; r++)
		if (t->rule[r / 64].e[r % 64] & SLUICE_RULE_ALLOW)
			fprintf(out, " %u", r);
	fprintf(out, "\n");
	/* only policies with early rules: the goldens of the others stay as they were */
	if (cfg->early) {
		fprintf(out, "early");
		for (uint32_t r = 0; r < cfg->nrules; r++)
			if (t->rule[r / 64].e[r % 64] & SLUICE_RULE_EARLY)
				fprintf(out, " %u", r);
		fprintf(out, "\n");
	}
	for (int f = 0; f < SL_F_MAX; f++) {
		fprintf(out, "%s classes %u\n", fname[f], t->ncls[f]);
		for (uint32_t i = 0; i < t->ncls[f]; i++) {
			fprintf(out, "%s c%u", fname[f], i);
			dump_bits(out, t->bits[f] + (size_t)i * cfg->words, cfg->words);
		}
	}
	dump_runs(out, "proto", cfg->proto_cls, 256);
	dump_ports(out, "sport", t, 0);
	dump_ports(out, "dport", t, 1);
	dump_v4(out, "src4", t, 0);
	dump_v6(out, "src6", t, 0);
	dump_v4(out, "dst4", t, 1);
	dump_v6(out, "dst6", t, 1);
}
