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

static void dump_bitmap(FILE *out, const struct fw_bitmap *b)
{
	bool any = false;

	for (int i = 0; i < SLUICE_MAX_RULES; i++) {
		if (b->w[i / 64] & (1ull << (i % 64))) {
			fprintf(out, " %d", i);
			any = true;
		}
	}
	if (!any)
		fprintf(out, " -");
	fprintf(out, "\n");
}

static void entry_name(uint16_t e, char *buf, size_t len)
{
	if (e & SLUICE_T8_FLAG)
		snprintf(buf, len, "t8#%u", e & ~SLUICE_T8_FLAG);
	else
		snprintf(buf, len, "c%u", e);
}

/* Runs of a u16 table of N entries, each entry standing for 2^SHIFT addresses from BASE. */
static void dump_runs4(FILE *out, const char *name, const uint16_t *e, size_t n, uint32_t base,
		       unsigned int shift)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i;
		char a[16], b[16], c[16];

		while (j + 1 < n && e[j + 1] == e[i])
			j++;
		ip4(base + ((uint32_t)i << shift), a, sizeof(a));
		ip4(base + ((uint32_t)j << shift) + ((1u << shift) - 1), b, sizeof(b));
		entry_name(e[i], c, sizeof(c));
		fprintf(out, "%s %s-%s -> %s\n", name, a, b, c);
		i = j + 1;
	}
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

static void dump_v4(FILE *out, const char *name, const struct fw_blk *tbl,
		    const struct fw_t8 *t8, uint32_t nt8)
{
	const uint16_t *e = tbl->e;
	uint32_t *owner;
	char gname[32];

	dump_runs4(out, name, e, (size_t)SLUICE_T24_BLOCKS * SLUICE_BLK, 0, 8);
	owner = calloc(nt8 + 1, sizeof(*owner));
	if (!owner)
		return;
	for (uint32_t i = 0; i < (uint32_t)SLUICE_T24_BLOCKS * SLUICE_BLK; i++)
		if ((e[i] & SLUICE_T8_FLAG) && (e[i] & ~SLUICE_T8_FLAG) < nt8)
			owner[e[i] & ~SLUICE_T8_FLAG] = i;
	for (uint32_t g = 0; g < nt8; g++) {
		snprintf(gname, sizeof(gname), "%s_t8#%u", name, g);
		dump_runs4(out, gname, t8[g].e, 256, owner[g] << 8, 0);
	}
	free(owner);
}

static int cmp_lpm6(const void *a, const void *b)
{
	const struct fw_lpm6_entry *x = a, *y = b;
	int r = memcmp(x->key.addr, y->key.addr, 16);

	if (r)
		return r;
	return x->key.prefixlen < y->key.prefixlen ? -1 : x->key.prefixlen > y->key.prefixlen;
}

static void dump_v6(FILE *out, const char *name, const struct fw_lpm6_entry *v, uint32_t n)
{
	struct fw_lpm6_entry *s = malloc((n + 1) * sizeof(*s));
	char a[INET6_ADDRSTRLEN];

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

void fw_tables_dump(FILE *out, const struct fw_tables *t)
{
	const struct fw_config *cfg = &t->cfg;

	fprintf(out, "cfg generation %" PRIu64 " nrules %u default %s active %u noport c%u\n",
		(uint64_t)cfg->generation, cfg->nrules,
		sl_action_name((enum sluice_action)cfg->default_action), cfg->active,
		cfg->noport_cls);
	fprintf(out, "allow");
	dump_bitmap(out, (const struct fw_bitmap *)cfg->allow);
	fprintf(out, "classes %u\n", t->nclasses);
	for (uint32_t i = 0; i < t->nclasses; i++) {
		fprintf(out, "c%u", i);
		dump_bitmap(out, &t->cls[i]);
	}
	dump_runs(out, "proto", cfg->proto_cls, 256);
	dump_runs(out, "sport", t->sport->e, 65536);
	dump_runs(out, "dport", t->dport->e, 65536);
	dump_v4(out, "src4", t->src4, t->src4_t8, t->nsrc4_t8);
	dump_v6(out, "src6", t->src6, t->nsrc6);
	dump_v4(out, "dst4", t->dst4, t->dst4_t8, t->ndst4_t8);
	dump_v6(out, "dst6", t->dst6, t->ndst6);
}
