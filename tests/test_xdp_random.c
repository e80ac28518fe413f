// SPDX-License-Identifier: GPL-2.0-only
/*
 * The datapath against the reference classifier: random policies (written
 * as YAML and taken the real way), random frames (IPv4/IPv6, TCP/UDP/ICMP/
 * other, fragments, VLAN tags, IPv6 extension headers). For every frame the
 * XDP verdict and the rule counter that moved must be what
 * policy_ref_classify / policy_ref_verdict say.
 *
 * The seed is printed; SLUICE_SEED=N reproduces a run.
 */
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <time.h>

#include "testlib.h"
#include "xdp_env.h"

#define NPOLICIES	8
#define NPACKETS	1500	/* per policy */
#define MAXPFX		64	/* prefixes remembered per family to aim packets at */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64: tiny, good enough, reproducible */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rndn(uint32_t n)
{
	return (uint32_t)(rnd() % n);
}

static bool chance(int percent)
{
	return rndn(100) < (uint32_t)percent;
}

/* What a random policy looks like, kept to aim packets at its prefixes and ports. */
struct gen {
	struct sl_prefix v4[MAXPFX], v6[MAXPFX];
	int nv4, nv6;
	uint16_t ports[32];
	int nports;
};

static const uint32_t doc4[] = { 0xc0000200, 0xc6336400, 0xcb007100 }; /* 192.0.2/24 ... */

static void gen_prefix4(struct gen *g, FILE *y)
{
	static const uint8_t lens[] = { 0, 8, 16, 20, 23, 24, 25, 26, 28, 30, 31, 32, 32, 32 };
	uint8_t len = lens[rndn(sizeof(lens))];
	uint32_t a = doc4[rndn(3)] | rndn(256);
	uint32_t mask = len ? ~0u << (32 - len) : 0;
	struct in_addr ia = { htonl(a & mask) };
	char buf[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &ia, buf, sizeof(buf));
	fprintf(y, "\"%s/%u\"", buf, len);
	if (g->nv4 < MAXPFX) {
		struct sl_prefix *p = &g->v4[g->nv4++];

		p->family = AF_INET;
		p->len = len;
		memcpy(p->addr, &ia, 4);
	}
}

static void gen_prefix6(struct gen *g, FILE *y)
{
	static const uint8_t lens[] = { 0, 32, 48, 56, 64, 65, 96, 120, 127, 128, 128 };
	uint8_t len = lens[rndn(sizeof(lens))];
	uint8_t a[16] = { 0x20, 0x01, 0x0d, 0xb8 };
	char buf[INET6_ADDRSTRLEN];

	a[4] = 0;
	a[5] = (uint8_t)rndn(4);
	a[15] = (uint8_t)rndn(4);
	a[8] = (uint8_t)(chance(50) ? 0x80 : 0);
	for (int i = 0; i < 16; i++) {
		int keep = (int)len - i * 8;

		if (keep <= 0)
			a[i] = 0;
		else if (keep < 8)
			a[i] &= (uint8_t)(0xff << (8 - keep));
	}
	inet_ntop(AF_INET6, a, buf, sizeof(buf));
	fprintf(y, "\"%s/%u\"", buf, len);
	if (g->nv6 < MAXPFX) {
		struct sl_prefix *p = &g->v6[g->nv6++];

		p->family = AF_INET6;
		p->len = len;
		memcpy(p->addr, a, 16);
	}
}

static void gen_addr_list(struct gen *g, FILE *y, const char *key, bool have_set)
{
	int n = 1 + rndn(3);

	fprintf(y, "      %s: [", key);
	for (int i = 0; i < n; i++) {
		if (i)
			fputs(", ", y);
		if (have_set && chance(15))
			fputs("\"@s\"", y);
		else if (chance(60))
			gen_prefix4(g, y);
		else
			gen_prefix6(g, y);
	}
	fputs("]\n", y);
}

static void gen_port_list(struct gen *g, FILE *y, const char *key)
{
	int n = 1 + rndn(3);

	fprintf(y, "      %s: [", key);
	for (int i = 0; i < n; i++) {
		uint16_t lo = chance(50) ? (uint16_t)(1 + rndn(1024)) : (uint16_t)rndn(65536);
		uint16_t hi = chance(50) ? lo : (uint16_t)(lo + rndn(65536 - lo));

		if (i)
			fputs(", ", y);
		if (lo == hi)
			fprintf(y, "%u", lo);
		else
			fprintf(y, "\"%u-%u\"", lo, hi);
		if (g->nports + 2 <= 32) {
			g->ports[g->nports++] = lo;
			g->ports[g->nports++] = hi;
		}
	}
	fputs("]\n", y);
}

/*
 * A large set of the policy (gen_policy): none, or one whose source table
 * takes the hash, packed chunks (2-4 values per /16), or goes flat.
 */
enum big_set { BIG_NONE, BIG_MID, BIG_HASH, BIG_PACKED, BIG_FLAT };

#define BIG_MID_N	600	/* split /24s past the small table, a group each */
#define BIG_HASH_N	(SLUICE_GROUPS_DIRECT + 1000)	/* split /24s past direct groups */
#define BIG_FLAT_N	(SLUICE_FLAT_MIN + 2000)	/* split /16s past the flat threshold */

/*
 * Set "big": BIG_HASH (BIG_MID), hosts and short runs past /24 in as many
 * /24s of 10/8 as it takes to need the hash (a group each, named by the /24
 * entry, more than the small table holds), and one /24 dense enough for a
 * group;
 * BIG_PACKED, prefixes of /20../32 each in its own /16 of 20/8..; BIG_FLAT,
 * per /16 .0/24 and .2/24 in "big", .1/24 and .2/24 in "big2" and a random
 * prefix past /24 in .4: five values per /16, full chunks, enough of them
 * to go flat. Half of G's remembered prefixes are taken from it, to aim at.
 */
static void gen_big_set(struct gen *g, FILE *y, enum big_set kind)
{
	static const uint8_t packed_lens[] = { 20, 24, 24, 28, 30, 32, 32 };
	static const uint8_t long_lens[] = { 26, 28, 30, 31, 32, 32, 32 };
	uint32_t n = kind == BIG_HASH ? BIG_HASH_N : kind == BIG_MID ? BIG_MID_N : BIG_FLAT_N;
	char buf[INET_ADDRSTRLEN];
	struct in_addr ia;
	int keep = 0;

	fputs("  big:\n    prefixes: [", y);
	for (uint32_t i = 0; i < n + 40; i++) {
		uint32_t a, len;

		if (i >= n) {
			/* 40 hosts of one /24: a group */
			a = 0x0afffe00u | (i - n) * 6;
			len = 32;
		} else if (kind == BIG_HASH || kind == BIG_MID) {
			len = long_lens[rndn(sizeof(long_lens))];
			a = 0x0a000000u | i << 8 | rndn(256);
		} else if (kind == BIG_PACKED) {
			len = packed_lens[rndn(sizeof(packed_lens))];
			a = (20u + (i >> 8)) << 24 | (i & 255) << 16 | rndn(65536);
		} else {
			len = long_lens[rndn(sizeof(long_lens))];
			a = (20u + (i >> 8)) << 24 | (i & 255) << 16 | 4 << 8 | rndn(256);
			fprintf(y, "%s\"%u.%u.0.0/24\", \"%u.%u.2.0/24\"", i ? ", " : "",
				20 + (i >> 8), i & 255, 20 + (i >> 8), i & 255);
		}
		a &= ~0u << (32 - len);
		ia.s_addr = htonl(a);
		inet_ntop(AF_INET, &ia, buf, sizeof(buf));
		fprintf(y, "%s\"%s/%u\"", i || kind == BIG_FLAT ? ", " : "", buf, len);
		if (keep < MAXPFX / 2 && chance(1)) {
			struct sl_prefix *p = &g->v4[keep++];

			p->family = AF_INET;
			p->len = (uint8_t)len;
			memcpy(p->addr, &ia, 4);
			if (kind == BIG_FLAT && keep < MAXPFX / 2) {
				/* and a /24 of the same /16 */
				p = &g->v4[keep++];
				*p = g->v4[keep - 2];
				p->len = 24;
				p->addr[2] = (uint8_t)rndn(4);
				p->addr[3] = 0;
			}
		}
	}
	fputs("]\n", y);
	if (kind == BIG_FLAT) {
		fputs("  big2:\n    prefixes: [", y);
		for (uint32_t i = 0; i < n; i++)
			fprintf(y, "%s\"%u.%u.1.0/24\", \"%u.%u.2.0/24\"", i ? ", " : "",
				20 + (i >> 8), i & 255, 20 + (i >> 8), i & 255);
		fputs("]\n", y);
	}
	g->nv4 = keep;
}

/*
 * A random policy as YAML text (caller frees); DFLT NULL: a random default.
 * With a big set, rule 0 denies its sources for TCP and the last rule but
 * one allows it as destination: the other rules are random as always.
 */
static char *gen_policy_big(struct gen *g, int nrules, const char *dflt, enum big_set big)
{
	static const char *const protos[] = {
		NULL, NULL, "tcp", "udp", "[tcp, udp]", "icmp", "icmpv6", "[icmp, icmpv6]",
		"[tcp, icmp]", "any",
	};
	bool have_set = chance(70), narrow = nrules > SLUICE_SMALL_RULES;
	char *text = NULL;
	size_t len = 0;
	FILE *y = open_memstream(&text, &len);

	if (!y)
		return NULL;
	memset(g, 0, sizeof(*g));
	if (big) {
		fputs("sets:\n", y);
		gen_big_set(g, y, big);
	}
	if (have_set) {
		int n = 1 + rndn(6);

		fprintf(y, "%s  s:\n    prefixes: [", big ? "" : "sets:\n");
		for (int i = 0; i < n; i++) {
			if (i)
				fputs(", ", y);
			if (chance(60))
				gen_prefix4(g, y);
			else
				gen_prefix6(g, y);
		}
		fputs("]\n", y);
	}
	fprintf(y, "firewall:\n  interfaces: [slb0]\n  default: %s\n  stateful: false\n",
		dflt ? dflt : chance(50) ? "allow" : "deny");
	fputs("  rules:\n", y);
	for (int r = 0; r < nrules; r++) {
		const char *proto = protos[rndn(sizeof(protos) / sizeof(protos[0]))];
		bool ports = proto && (!strcmp(proto, "tcp") || !strcmp(proto, "udp") ||
				       !strcmp(proto, "[tcp, udp]"));

		if (big && r == 0) {
			fputs("    - { name: big-src, action: deny, src: [\"@big\"], proto: tcp }\n", y);
			continue;
		}
		if (big == BIG_FLAT && r == 1) {
			fputs("    - { name: big2-src, action: allow, src: [\"@big2\"], proto: udp }\n",
			      y);
			continue;
		}
		if (big && r == nrules - 2) {
			fputs("    - { name: big-dst, action: allow, dst: [\"@big\"] }\n", y);
			continue;
		}
		if (narrow) {
			/*
			 * Past 512 rules, narrow ones (an address of 10/8 or 2001:db8::/32,
			 * a port or a few): packets aimed at a deep rule get there
			 * instead of matching a broad early one.
			 */
			uint32_t a = 0x0a000000u | (uint32_t)rndn(1u << 24);
			unsigned int len = 24 + rndn(9), lo = 1 + rndn(60000);

			a &= ~0u << (32 - len);
			fprintf(y, "    - { name: r%d, action: %s, src: [\"%u.%u.%u.%u/%u\"%s], "
				"proto: %s, dport: [\"%u-%u\"] }\n", r, chance(50) ? "allow" : "deny",
				a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255, len,
				chance(30) ? ", \"2001:db8:7::/48\"" : "", chance(50) ? "tcp" : "udp",
				lo, lo + rndn(4));
			continue;
		}
		fprintf(y, "    - name: r%d\n      action: %s\n", r, chance(50) ? "allow" : "deny");
		if (chance(70))
			gen_addr_list(g, y, "src", have_set);
		if (chance(50))
			gen_addr_list(g, y, "dst", have_set);
		if (proto)
			fprintf(y, "      proto: %s\n", proto);
		if (ports && chance(40))
			gen_port_list(g, y, "sport");
		if (ports && chance(70))
			gen_port_list(g, y, "dport");
	}
	fclose(y);
	return text;
}

static char *gen_policy(struct gen *g, int nrules, const char *dflt)
{
	return gen_policy_big(g, nrules, dflt, BIG_NONE);
}

/* An address inside one of the policy's prefixes, or a random one near them. */
static void gen_addr(const struct gen *g, int family, uint8_t *out)
{
	const struct sl_prefix *p = NULL;
	int bytes = family == AF_INET ? 4 : 16;

	if (family == AF_INET && g->nv4 && chance(75))
		p = &g->v4[rndn(g->nv4)];
	if (family == AF_INET6 && g->nv6 && chance(75))
		p = &g->v6[rndn(g->nv6)];
	for (int i = 0; i < bytes; i++)
		out[i] = (uint8_t)rnd();
	if (!p) {
		if (family == AF_INET) {
			uint32_t a = htonl(doc4[rndn(3)] | rndn(256));

			if (chance(80))
				memcpy(out, &a, 4);
		} else {
			static const uint8_t db8[6] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0 };

			memcpy(out, db8, 6);
			out[5] = (uint8_t)rndn(4);
			if (chance(50))
				memset(out + 6, 0, 9);
		}
		return;
	}
	/* keep the prefix bits, randomise the host bits */
	for (int i = 0; i < bytes; i++) {
		int keep = (int)p->len - i * 8;

		if (keep >= 8)
			out[i] = p->addr[i];
		else if (keep > 0)
			out[i] = (uint8_t)((p->addr[i] & (0xff << (8 - keep))) |
					   (out[i] & (0xff >> keep)));
	}
	/* edge of the prefix now and then */
	if (chance(10))
		for (int i = p->len / 8 + (p->len % 8 != 0); i < bytes; i++)
			out[i] = 0;
}

static uint16_t gen_port(const struct gen *g)
{
	if (g->nports && chance(70)) {
		uint16_t p = g->ports[rndn(g->nports)];

		return (uint16_t)(p + (int)rndn(3) - 1);
	}
	return (uint16_t)rndn(65536);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

/*
 * Build a frame for PKT (family, proto, addresses, ports, has_ports) with
 * random VLAN tags, IPv6 extension headers and fragment headers consistent
 * with has_ports. Returns its length; *IP_END is where the IP packet ends
 * (the rest is Ethernet padding).
 */
static size_t build_frame(uint8_t *f, const struct sl_pkt *pkt, bool nonfirst, size_t *ip_end)
{
	static const uint8_t v6ext[] = { 43, 60, 51, 135 };
	size_t off = 12, l3, l4;
	int tags = rndn(3);
	uint8_t *nhp;

	memset(f, 0, 512);
	f[0] = 0x02;
	f[5] = 0x01;
	f[6] = 0x02;
	f[11] = 0x02;
	for (int i = 0; i < tags; i++) {
		put16(f + off, i == 0 && tags == 2 && chance(50) ? 0x88a8 : 0x8100);
		put16(f + off + 2, (uint16_t)rndn(4096));
		off += 4;
	}
	put16(f + off, pkt->family == AF_INET ? 0x0800 : 0x86dd);
	off += 2;
	l3 = off;

	if (pkt->family == AF_INET) {
		int opts = chance(20) ? (int)rndn(11) : 0;
		uint16_t frag = 0;

		f[l3] = (uint8_t)(0x40 | (5 + opts));
		f[l3 + 8] = 64;
		f[l3 + 9] = pkt->proto;
		memcpy(f + l3 + 12, pkt->src, 4);
		memcpy(f + l3 + 16, pkt->dst, 4);
		memset(f + l3 + 20, 1, opts * 4);	/* NOP options */
		if (nonfirst)
			frag = (uint16_t)(1 + rndn(0x1fff)) | (chance(50) ? 0x2000 : 0);
		else if (chance(10))
			frag = 0x2000;	/* first fragment: ports are there */
		else if (chance(30))
			frag = 0x4000;	/* don't fragment */
		put16(f + l3 + 6, frag);
		l4 = l3 + 20 + opts * 4;
	} else {
		f[l3] = 0x60;
		f[l3 + 7] = 64;
		memcpy(f + l3 + 8, pkt->src, 16);
		memcpy(f + l3 + 24, pkt->dst, 16);
		nhp = f + l3 + 6;
		l4 = l3 + 40;
		int next = chance(30) ? (int)rndn(4) : 0;

		if (next && chance(50)) {
			*nhp = 0;	/* hop-by-hop comes first */
			nhp = f + l4;
			f[l4 + 2] = 1;
			f[l4 + 3] = 4;
			l4 += 8;
			next--;
		}
		for (int i = 0; i < next; i++) {
			uint8_t t = v6ext[rndn(sizeof(v6ext))];

			*nhp = t;
			nhp = f + l4;
			if (t == 51) {
				f[l4 + 1] = 1;	/* 12 octets */
				l4 += 12;
			} else {
				f[l4 + 1] = (uint8_t)rndn(2);
				l4 += 8 * (1 + f[l4 + 1]);
			}
		}
		if (nonfirst || chance(10)) {
			uint16_t offv = nonfirst ? (uint16_t)(1 + rndn(0x1fff)) : 0;

			*nhp = 44;
			nhp = f + l4;
			put16(f + l4 + 2, (uint16_t)(offv << 3 | (chance(50) ? 1 : 0)));
			l4 += 8;
		}
		*nhp = pkt->proto;
	}

	size_t end = l4;

	if (nonfirst) {
		end += rndn(24);	/* payload bytes, not a header */
	} else if (pkt->proto == 6) {
		int optw = chance(20) ? (int)rndn(11) : 0;

		put16(f + l4, pkt->sport);
		put16(f + l4 + 2, pkt->dport);
		f[l4 + 12] = (uint8_t)((5 + optw) << 4);
		memset(f + l4 + 20, 1, optw * 4);
		end += 20 + optw * 4;
	} else if (pkt->proto == 17) {
		put16(f + l4, pkt->sport);
		put16(f + l4 + 2, pkt->dport);
		end += 8;
	} else if (pkt->proto == 1 || pkt->proto == 58) {
		f[l4] = pkt->proto == 1 ? 8 : 128;
		end += 8;
	} else {
		end += rndn(16);
	}
	end += rndn(8);	/* payload */

	if (pkt->family == AF_INET)
		put16(f + l3 + 2, (uint16_t)(end - l3));
	else
		put16(f + l3 + 4, (uint16_t)(end - l3 - 40));
	*ip_end = end;
	if (chance(5))
		end += 1 + rndn(8);	/* Ethernet padding past the IP length */
	return end;
}

static uint64_t seed_from_env(void)
{
	const char *s = getenv("SLUICE_SEED");

	if (s && *s)
		return strtoull(s, NULL, 0);
	return (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
}

/* A random address of FAMILY inside one of the N items V (prefixes or sets); false: none. */
static bool aim_addr(const struct sl_addr_item *v, size_t n, uint8_t family, uint8_t *out)
{
	const struct sl_prefix *cand[64];
	int nc = 0;

	for (size_t i = 0; i < n && nc < 64; i++) {
		if (!v[i].is_set) {
			if (v[i].pfx.family == family)
				cand[nc++] = &v[i].pfx;
			continue;
		}
		for (int k = 0; v[i].set && v[i].set->n && k < 8 && nc < 64; k++) {
			const struct sl_prefix *p = &v[i].set->v[rndn((uint32_t)v[i].set->n)];

			if (p->family == family)
				cand[nc++] = p;
		}
	}
	if (!nc)
		return false;
	{
		const struct sl_prefix *p = cand[rndn(nc)];
		int bytes = family == AF_INET ? 4 : 16;

		for (int i = 0; i < bytes; i++) {
			int keep = (int)p->len - i * 8;
			uint8_t r = (uint8_t)rnd();

			out[i] = keep >= 8 ? p->addr[i] : keep > 0 ?
				 (uint8_t)((p->addr[i] & (0xff << (8 - keep))) | (r & (0xff >> keep))) :
				 r;
		}
	}
	return true;
}

/*
 * A packet aimed at rule R: addresses, protocol and ports inside its fields
 * (what else it matches first, the reference says). False when R's fields
 * leave no family for both addresses.
 */
static bool aim_pkt(const struct sl_rule *r, struct sl_pkt *out)
{
	static const uint8_t any[] = { 6, 17, 1, 58, 47 };
	uint8_t family = chance(60) ? AF_INET : AF_INET6;
	struct sl_pkt p, *pkt = &p;

	for (int tries = 0; tries < 2; tries++, family = family == AF_INET ? AF_INET6 : AF_INET) {
		*pkt = *out;	/* what the rule leaves open stays as generated */
		pkt->family = family;
		if (r->nsrc && !aim_addr(r->src, r->nsrc, family, pkt->src))
			continue;
		if (r->ndst && !aim_addr(r->dst, r->ndst, family, pkt->dst))
			continue;
		if (family != out->family) {
			/* the generated addresses are of the other family: fresh ones */
			if (!r->nsrc)
				for (int i = 0; i < 16; i++)
					pkt->src[i] = (uint8_t)rnd();
			if (!r->ndst)
				for (int i = 0; i < 16; i++)
					pkt->dst[i] = (uint8_t)rnd();
		}
		if (!r->protos) {
			pkt->proto = any[rndn(sizeof(any))];
		} else {
			uint8_t c[4];
			int nc = 0;

			if (r->protos & SL_PROTO_TCP)
				c[nc++] = 6;
			if (r->protos & SL_PROTO_UDP)
				c[nc++] = 17;
			if (r->protos & SL_PROTO_ICMP)
				c[nc++] = 1;
			if (r->protos & SL_PROTO_ICMPV6)
				c[nc++] = 58;
			pkt->proto = c[rndn(nc)];
		}
		pkt->has_ports = pkt->proto == 6 || pkt->proto == 17;
		if (pkt->has_ports) {
			const struct sl_port_range *sp = r->nsport ? &r->sport[rndn(r->nsport)] : NULL;
			const struct sl_port_range *dp = r->ndport ? &r->dport[rndn(r->ndport)] : NULL;

			pkt->sport = sp ? (uint16_t)(sp->lo + rndn(sp->hi - sp->lo + 1u)) :
				     (uint16_t)rnd();
			pkt->dport = dp ? (uint16_t)(dp->lo + rndn(dp->hi - dp->lo + 1u)) :
				     (uint16_t)rnd();
		}
		*out = *pkt;
		return true;
	}
	return false;
}

/*
 * NPKT random frames through the policy YAML (number PI): verdict and rule
 * counter as the reference says, and nothing else moved. Adds to *TOTAL
 * and *MISMATCHES; false when the test cannot go on.
 */
static bool check_policy(struct xdp_env *env, struct gen *g, const char *yaml, int pi, int npkt,
			 long *total, long *mismatches)
{
	static const uint8_t protos[] = { 6, 6, 6, 17, 17, 17, 1, 58, 47, 132, 50, 0 };
	struct sl_counter rule_before, rule_after, verdict[SLUICE_VERDICT_MAX];
	struct sl_counter drop[SLUICE_DROP_MAX];
	long want_pass = 0, want_drop = 0, want_rule_drop = 0, want_def_drop = 0, bad0 = *mismatches;
	long deep = 0;	/* first matches past the first 512 rules */
	struct fw_tables t = { 0 };
	bool ok = true;

	struct timespec t0, t1, t2;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!ASSERT_OK(xdp_env_apply(env, yaml, pi + 1, &t), "apply random policy")) {
		printf("# policy:\n%.4000s", yaml);
		return false;
	}
	if (!ASSERT_OK(xdp_env_reset_counters(env), "reset")) {
		fw_tables_free(&t);
		return false;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (int n = 0; n < npkt; n++) {
		struct sl_pkt pkt = { 0 };
		uint8_t frame[512];
		bool nonfirst = chance(12);
		__u32 retval = ~0u, key;
		size_t len, ip_end;
		int want_rule;
		enum sluice_action want;

		pkt.family = chance(60) ? AF_INET : AF_INET6;
		pkt.proto = protos[rndn(sizeof(protos))];
		if (pkt.family == AF_INET6 && pkt.proto == 0)
			pkt.proto = 59;	/* 0 is hop-by-hop in IPv6 */
		gen_addr(g, pkt.family, pkt.src);
		gen_addr(g, pkt.family, pkt.dst);
		pkt.has_ports = (pkt.proto == 6 || pkt.proto == 17) && !nonfirst;
		if (pkt.has_ports) {
			pkt.sport = gen_port(g);
			pkt.dport = gen_port(g);
		}
		/* half of them aimed at a rule anywhere in the policy: deep ones too */
		if (chance(50) && policy_fw(&env->pol, 0)->nrules) {
			const struct sl_firewall *fw = policy_fw(&env->pol, 0);

			if (aim_pkt(&fw->rules[rndn((uint32_t)fw->nrules)], &pkt))
				pkt.has_ports = pkt.has_ports && !nonfirst;
		}
		len = build_frame(frame, &pkt, nonfirst, &ip_end);
		want_rule = policy_ref_classify(&env->pol, policy_fw(&env->pol, 0), &pkt);
		want = policy_ref_verdict(&env->pol, policy_fw(&env->pol, 0), &pkt);
		/* fw_maps_write gives rule i counter id i */
		key = want_rule < 0 ? SLUICE_CNT_DEFAULT : (__u32)want_rule;

		if (!ASSERT_OK(sl_counter_read(env->rule_fd, key, &rule_before), "rd") ||
		    !ASSERT_OK(xdp_env_run(env, frame, len, &retval, NULL, NULL), "run") ||
		    !ASSERT_OK(sl_counter_read(env->rule_fd, key, &rule_after), "rd")) {
			ok = false;
			break;
		}
		(*total)++;
		deep += want_rule >= SLUICE_SMALL_RULES;
		if (retval != (want == SLUICE_ACT_ALLOW ? XDP_PASS : XDP_DROP) ||
		    rule_after.packets != rule_before.packets + 1) {
			char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];

			inet_ntop(pkt.family, pkt.src, s, sizeof(s));
			inet_ntop(pkt.family, pkt.dst, d, sizeof(d));
			if ((*mismatches)++ < 10)
				tl_check(false, __FILE__, __LINE__,
					 "policy %d packet %d: %s -> %s proto %u ports %d %u->%u "
					 "nonfirst %d len %zu: verdict %u want %s, rule %d "
					 "counter moved by %lld (compiled tables say rule %d)",
					 pi, n, s, d, pkt.proto, pkt.has_ports, pkt.sport,
					 pkt.dport, nonfirst, len, retval, sl_action_name(want),
					 want_rule,
					 (long long)(rule_after.packets - rule_before.packets),
					 fw_tables_classify(&t, &pkt));
		}
		if (want == SLUICE_ACT_ALLOW) {
			want_pass++;
		} else {
			want_drop++;
			if (want_rule < 0)
				want_def_drop++;
			else
				want_rule_drop++;
		}
	}

	clock_gettime(CLOCK_MONOTONIC, &t2);
	if (getenv("SLUICE_VERBOSE"))
		printf("# policy %d: apply %.2f s, packets %.2f s, %ld first matches past rule 512\n",
		       pi, t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9,
		       t2.tv_sec - t1.tv_sec + (t2.tv_nsec - t1.tv_nsec) / 1e9, deep);
	/* a policy past 512 rules is checked where its words past the first are */
	if (t.cfg.nrules > 2 * SLUICE_SMALL_RULES)
		ok &= ASSERT_TRUE(deep >= npkt / 20, "first matches deep in a large policy");
	/* Totals: nothing else moved, no parse drop on well-formed frames. */
	if (ok && ASSERT_OK(sl_counters_read(env->verdict_fd, SLUICE_VERDICT_MAX, verdict), "rd") &&
	    ASSERT_OK(sl_counters_read(env->drop_fd, SLUICE_DROP_MAX, drop), "rd")) {
		ASSERT_EQ(verdict[SLUICE_VERDICT_PASS].packets, want_pass, "pass total");
		ASSERT_EQ(verdict[SLUICE_VERDICT_DROP].packets, want_drop, "drop total");
		ASSERT_EQ(drop[SLUICE_DROP_POLICY_RULE].packets, want_rule_drop,
			  "policy-rule drops");
		ASSERT_EQ(drop[SLUICE_DROP_POLICY_DEFAULT].packets, want_def_drop,
			  "policy-default drops");
	}
	if (*mismatches > bad0 || getenv("SLUICE_VERBOSE"))
		printf("# policy %d (%u rules, layout %s, src v4 mode %u, %u+%u packed, %u hash "
		       "buckets):\n%.4000s\n", pi, t.cfg.nrules, t.cfg.row ? "large" : "small",
		       t.cfg.dir[0].v4, t.v4[0].np1, t.v4[0].np2, t.v4[0].nlh,
		       *mismatches > bad0 ? yaml : "");
	fw_tables_free(&t);
	return ok && *mismatches == bad0;
}

TEST(xdp_random_matches_reference)
{
	static const int nrules_by_policy[NPOLICIES] = { 1, 3, 8, 20, 40, 70, 130, 300 };
	uint64_t seed = seed_from_env();
	long total = 0, mismatches = 0;
	struct xdp_env env;

	printf("# seed %llu (SLUICE_SEED=%llu reproduces)\n", (unsigned long long)seed,
	       (unsigned long long)seed);
	rng_state = seed;
	if (!ASSERT_OK(xdp_env_open(&env), "open"))
		goto out;
	for (int pi = 0; pi < NPOLICIES; pi++) {
		struct gen g;
		char *yaml = gen_policy(&g, nrules_by_policy[pi], NULL);
		bool ok = ASSERT_TRUE(yaml, "policy text") &&
			  check_policy(&env, &g, yaml, pi, NPACKETS, &total, &mismatches);

		free(yaml);
		if (!ok)
			break;
	}
	ASSERT_EQ(mismatches, 0, "packets where datapath and reference disagree");
	ASSERT_TRUE(total >= 10000 || mismatches, "at least 10000 packets");
	printf("# %ld packets checked\n", total);
out:
	xdp_env_close(&env);
}

/*
 * The layouts of large policies against the reference: rules past 512 (the
 * classes' summaries, up to the 16,384 a policy may hold) and large sets
 * (the IPv4 hash with a group, the flat DIR-24 table), with random rules
 * and frames as above.
 */
TEST(xdp_random_large_policies)
{
	static const struct { int nrules; enum big_set big; } pols[] = {
		{ 600, BIG_NONE }, { SLUICE_MAX_RULES, BIG_NONE }, { 40, BIG_MID }, { 40, BIG_HASH },
		{ 40, BIG_PACKED }, { 40, BIG_FLAT }, { 2000, BIG_HASH },
	};
	uint64_t seed = seed_from_env() ^ 0x6c61726765ull;
	long total = 0, mismatches = 0;
	struct xdp_env env;

	printf("# seed %llu (SLUICE_SEED=%llu reproduces)\n", (unsigned long long)seed,
	       (unsigned long long)(seed ^ 0x6c61726765ull));
	rng_state = seed;
	if (!ASSERT_OK(xdp_env_open(&env), "open"))
		goto out;
	for (size_t pi = 0; pi < sizeof(pols) / sizeof(pols[0]); pi++) {
		struct gen g;
		char *yaml = gen_policy_big(&g, pols[pi].nrules, NULL, pols[pi].big);
		bool ok = ASSERT_TRUE(yaml, "policy text") &&
			  check_policy(&env, &g, yaml, (int)pi, 1500, &total, &mismatches);

		free(yaml);
		if (!ok)
			break;
	}
	ASSERT_EQ(mismatches, 0, "packets where datapath and reference disagree");
	printf("# %ld packets checked\n", total);
out:
	xdp_env_close(&env);
}

/*
 * The same random frames cut short anywhere inside the IP packet: each must
 * be dropped under a parse reason (never classified, never passed), and no
 * rule counter may move. Cut inside the Ethernet padding, it is classified
 * as the whole frame would be.
 */
TEST(xdp_random_truncated_dropped)
{
	static const uint8_t protos[] = { 6, 17, 1, 58, 47 };
	uint64_t base = seed_from_env(), seed = base ^ 0x7275636eull;
	struct sl_counter before[SLUICE_DROP_MAX], after[SLUICE_DROP_MAX];
	struct sl_counter pass0, pass1;
	struct xdp_env env;
	struct gen g;
	char *yaml = NULL;
	long bad = 0, cut = 0;

	printf("# seed %llu (SLUICE_SEED=%llu reproduces)\n", (unsigned long long)base,
	       (unsigned long long)base);
	rng_state = seed;
	if (!ASSERT_OK(xdp_env_open(&env), "open"))
		goto out;
	/* default allow, so that a misread frame would pass and show */
	yaml = gen_policy(&g, 20, "allow");
	if (!ASSERT_TRUE(yaml, "policy"))
		goto out;
	if (!ASSERT_OK(xdp_env_apply(&env, yaml, 1, NULL), "apply"))
		goto out;

	for (int n = 0; n < 4000 && bad < 10; n++) {
		struct sl_pkt pkt = { 0 };
		uint8_t frame[512];
		bool nonfirst = chance(12);
		size_t len, ip_end, l;
		__u32 retval, key = 0;

		pkt.family = chance(50) ? AF_INET : AF_INET6;
		pkt.proto = protos[rndn(sizeof(protos))];
		gen_addr(&g, pkt.family, pkt.src);
		gen_addr(&g, pkt.family, pkt.dst);
		pkt.has_ports = (pkt.proto == 6 || pkt.proto == 17) && !nonfirst;
		pkt.sport = pkt.has_ports ? gen_port(&g) : 0;
		pkt.dport = pkt.has_ports ? gen_port(&g) : 0;
		len = build_frame(frame, &pkt, nonfirst, &ip_end);
		l = 14 + rndn((uint32_t)(len - 14));	/* a shorter frame, at least Ethernet */

		/* One drop reason per dropped frame: a parse reason moving means the
		 * frame was never classified (that would count policy-rule/-default). */
		if (!ASSERT_OK(sl_counters_read(env.drop_fd, SLUICE_DROP_MAX, before), "rd") ||
		    !ASSERT_OK(sl_counter_read(env.verdict_fd, SLUICE_VERDICT_PASS, &pass0), "rd") ||
		    !ASSERT_OK(xdp_env_run(&env, frame, l, &retval, NULL, NULL), "run"))
			goto out;
		if (!ASSERT_OK(sl_counters_read(env.drop_fd, SLUICE_DROP_MAX, after), "rd") ||
		    !ASSERT_OK(sl_counter_read(env.verdict_fd, SLUICE_VERDICT_PASS, &pass1), "rd"))
			goto out;

		if (l >= ip_end) {
			/* only padding was cut: classified like the whole frame */
			enum sluice_action want = policy_ref_verdict(&env.pol,
								     policy_fw(&env.pol, 0), &pkt);

			if (!tl_check(retval == (want == SLUICE_ACT_ALLOW ? XDP_PASS : XDP_DROP),
				      __FILE__, __LINE__, "frame %d cut to %zu of %zu (padding): "
				      "verdict %u", n, l, len, retval))
				bad++;
			continue;
		}
		cut++;
		for (key = SLUICE_DROP_POLICY_DEFAULT + 1; key < SLUICE_DROP_MAX; key++)
			if (after[key].packets == before[key].packets + 1)
				break;
		if (!tl_check(retval == XDP_DROP && key < SLUICE_DROP_MAX &&
			      pass1.packets == pass0.packets, __FILE__, __LINE__,
			      "frame %d (family %d proto %u nonfirst %d) cut to %zu of %zu bytes "
			      "(IP ends at %zu): verdict %u, parse drop %s", n,
			      pkt.family == AF_INET ? 4 : 6, pkt.proto, nonfirst, l, len, ip_end,
			      retval, key < SLUICE_DROP_MAX ? "counted" : "missing"))
			bad++;
	}
	ASSERT_EQ(bad, 0, "truncated frames misread");
	ASSERT_TRUE(cut >= 3000, "enough frames cut inside the IP packet");
	printf("# %ld frames cut inside the IP packet, %ld misread\n", cut, bad);
out:
	free(yaml);
	xdp_env_close(&env);
}
