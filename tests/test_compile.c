// SPDX-License-Identifier: GPL-2.0-only
/*
 * Policy -> compiled tables.
 *
 * Golden tests: tests/data/NAME/ compiled and dumped (fw_tables_dump) must
 * equal tests/golden/NAME.tables, which were checked by hand; UPDATE_GOLDEN=1
 * rewrites them. Randomized test: random policies with overlapping IPv4/IPv6
 * prefixes, sets, protocols and port ranges, and random packets biased to
 * prefix and range edges: fw_tables_classify must equal policy_ref_classify
 * on every packet (SLUICE_SEED=N reproduces a run). Scale: 100k and 1M
 * prefix sets compile fast; limits are refused at the right location.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"
#include "fw_tables.h"

/* ---- helpers ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

static uint32_t rndn(uint32_t n)
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

static void seed_rng(void)
{
	const char *s = getenv("SLUICE_SEED");
	uint64_t seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid() << 20;

	if (!seed)
		seed = 1;
	printf("# seed %llu (SLUICE_SEED=%llu reproduces)\n", (unsigned long long)seed,
	       (unsigned long long)seed);
	rng_state = seed;
}

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

#if defined(__SANITIZE_ADDRESS__)
#define BUILD_KIND "ASan+UBSan build"
#else
#define BUILD_KIND "optimised build"
#endif

struct tmpdir {
	char path[64];
};

static void tmp_init(struct tmpdir *d)
{
	snprintf(d->path, sizeof(d->path), "/tmp/sla-compile-XXXXXX");
	if (!mkdtemp(d->path)) {
		perror("mkdtemp");
		exit(1);
	}
}

static FILE *tmp_open(struct tmpdir *d, const char *name)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", d->path, name);
	f = fopen(p, "w");
	if (!f) {
		perror(p);
		exit(1);
	}
	return f;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void tmp_done(struct tmpdir *d)
{
	nftw(d->path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void print_diags(const struct sl_diags *d)
{
	for (size_t i = 0; i < d->n; i++)
		printf("#   diag: %s:%d:%d: %s\n", d->v[i].file ? d->v[i].file : "-", d->v[i].line,
		       d->v[i].col, d->v[i].msg);
}

/* What the datapath decides from the tables: the rule's action or the default. */
static enum sluice_action tables_verdict(const struct fw_tables *t, int idx)
{
	if (idx < 0)
		return (enum sluice_action)t->cfg.default_action;
	return t->rule[idx / 64].e[idx % 64] & SLUICE_RULE_ALLOW ? SLUICE_ACT_ALLOW :
								   SLUICE_ACT_DENY;
}

/* ---- golden tests ---- */

static void golden(const char *name)
{
	char dir[128], gpath[128], *text = NULL, *want = NULL;
	struct sl_diags d = { 0 };
	struct sl_policy pol;
	struct fw_tables t;
	size_t len = 0, wlen = 0;
	FILE *mem, *g;

	snprintf(dir, sizeof(dir), "tests/data/%s", name);
	snprintf(gpath, sizeof(gpath), "tests/golden/%s.tables", name);
	if (!ASSERT_OK(policy_load_dir(dir, &pol, &d), dir)) {
		print_diags(&d);
		sl_diags_free(&d);
		return;
	}
	/* one section dumps as before sections existed; several, each under its name */
	mem = open_memstream(&text, &len);
	for (size_t s = 0; s < (pol.nfws ? pol.nfws : 1); s++) {
		const struct sl_firewall *fw = policy_fw(&pol, (int)s);

		if (!ASSERT_OK(fw_compile(&pol, fw, 7, &t, &d), fw->name)) {
			print_diags(&d);
			fclose(mem);
			goto out;
		}
		if (pol.nfws > 1)
			fprintf(mem, "== section %s\n", fw->name);
		fw_tables_dump(mem, &t);
		fw_tables_free(&t);
	}
	fclose(mem);
	if (getenv("UPDATE_GOLDEN")) {
		g = fopen(gpath, "w");
		if (ASSERT_TRUE(g, "write golden")) {
			fwrite(text, 1, len, g);
			fclose(g);
		}
		printf("# rewrote %s\n", gpath);
	}
	g = fopen(gpath, "r");
	if (!ASSERT_TRUE(g, gpath))
		goto out;
	fseek(g, 0, SEEK_END);
	wlen = (size_t)ftell(g);
	rewind(g);
	want = calloc(1, wlen + 1);
	if (fread(want, 1, wlen, g) != wlen)
		wlen = 0;
	fclose(g);
	if (!ASSERT_TRUE(len == wlen && !memcmp(text, want, len), "dump equals golden file")) {
		/* Show the first differing line. */
		const char *a = text, *b = want;
		int line = 1;

		while (*a && *a == *b) {
			if (*a == '\n')
				line++;
			a++;
			b++;
		}
		printf("# %s: first difference at line %d\n", gpath, line);
		printf("#   got : %.*s\n", (int)strcspn(a, "\n"), a);
		printf("#   want: %.*s\n", (int)strcspn(b, "\n"), b);
	}
out:
	free(text);
	free(want);
	policy_free(&pol);
	sl_diags_free(&d);
}

TEST(golden_basic)
{
	golden("basic");
}

TEST(golden_no_rules)
{
	golden("no-rules");
}

TEST(golden_edges)
{
	golden("edges");
}

/* Sections: each compiles to its own tables, with the sets of the whole policy. */
TEST(golden_sections)
{
	golden("sections");
}

TEST(golden_src_dst_apart)
{
	struct sl_diags d = { 0 };
	struct sl_policy pol;
	struct fw_tables t;
	struct sl_pkt p = { .family = AF_INET, .proto = IPPROTO_ICMP,
			    .src = { 203, 0, 113, 197 }, .dst = { 228, 59, 212, 3 } };

	golden("src-dst-apart");
	if (!ASSERT_OK(policy_load_dir("tests/data/src-dst-apart", &pol, &d), "load"))
		goto out;
	if (ASSERT_OK(fw_compile(&pol, policy_fw(&pol, 0), 1, &t, &d), "compile")) {
		ASSERT_EQ(policy_ref_classify(&pol, policy_fw(&pol, 0), &p), 2, "reference: r2");
		ASSERT_EQ(fw_tables_classify(&t, &p), 2, "tables: r2");
		fw_tables_free(&t);
	}
	policy_free(&pol);
out:
	sl_diags_free(&d);
}

/* ---- randomized agreement with the reference classifier ---- */

/* Addresses near each other so that prefixes nest and overlap. */
static uint8_t pool4[8][4], pool6[8][16];

static void make_pools(void)
{
	for (int i = 0; i < 8; i++) {
		uint64_t a = rnd(), b = rnd();

		memcpy(pool4[i], &a, 4);
		if (i < 3) {	/* documentation ranges share leading bits */
			static const uint8_t doc[3][3] = { { 192, 0, 2 }, { 198, 51, 100 },
							   { 203, 0, 113 } };

			memcpy(pool4[i], doc[i], 3);
		}
		memcpy(pool6[i], &a, 8);
		memcpy(pool6[i] + 8, &b, 8);
		if (i < 5) {
			pool6[i][0] = 0x20;
			pool6[i][1] = 0x01;
			pool6[i][2] = 0x0d;
			pool6[i][3] = 0xb8;
		}
	}
}

static unsigned int rnd_len(unsigned int max)
{
	/*
	 * Mostly long-ish prefixes, a few very short ones (incl. /0): each short
	 * IPv4 prefix repaints millions of tbl24 entries, slow under ASan.
	 */
	switch (rndn(12)) {
	case 0:
		return rndn(max / 4 + 1);
	case 1:
	case 2:
		return max;
	default:
		return max / 2 + rndn(max / 2 + 1);
	}
}

static void rnd_prefix(char *buf, size_t len)
{
	uint8_t a[16];
	unsigned int l;
	char s[INET6_ADDRSTRLEN];
	bool v6 = rndn(3) == 0;

	memcpy(a, v6 ? pool6[rndn(8)] : pool4[rndn(8)], v6 ? 16 : 4);
	/* Perturb some low bits so nearby prefixes differ. */
	if (rndn(2))
		a[v6 ? 15 - rndn(8) : 3 - rndn(2)] ^= (uint8_t)rnd();
	l = rnd_len(v6 ? 128 : 32);
	for (unsigned int i = 0; i < (v6 ? 128u : 32u); i++)
		if (i >= l)
			a[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
	inet_ntop(v6 ? AF_INET6 : AF_INET, a, s, sizeof(s));
	snprintf(buf, len, "\"%s/%u\"", s, l);
}

static void rnd_port_list(FILE *f, const char *ind, const char *key)
{
	int n = 1 + (int)rndn(3);

	fprintf(f, "%s      %s: [", ind, key);
	for (int i = 0; i < n; i++) {
		unsigned int lo = 1 + rndn(rndn(2) ? 1024 : 65535), hi = lo + rndn(rndn(2) ? 10 : 40000);

		if (hi > 65535)
			hi = 65535;
		if (rndn(3) == 0)
			fprintf(f, "%s%u", i ? ", " : "", lo);
		else
			fprintf(f, "%s\"%u-%u\"", i ? ", " : "", lo, hi);
	}
	fprintf(f, "]\n");
}

static void rnd_addr_list(FILE *f, const char *ind, const char *key, int nsets)
{
	int n = 1 + (int)rndn(4);
	char p[80];

	fprintf(f, "%s      %s: [", ind, key);
	for (int i = 0; i < n; i++) {
		if (nsets && rndn(3) == 0) {
			fprintf(f, "%s\"@s%u\"", i ? ", " : "", rndn((uint32_t)nsets));
		} else {
			rnd_prefix(p, sizeof(p));
			fprintf(f, "%s%s", i ? ", " : "", p);
		}
	}
	fprintf(f, "]\n");
}

/*
 * SAME_SHAPE: every rule names both src and dst or neither, so the src and
 * dst tables start from the same class and share classes while painted.
 */
static void gen_policy(struct tmpdir *d, int nrules, bool same_shape, int nsec)
{
	static const char *const protos[] = { NULL, "tcp", "udp", "[tcp, udp]", "icmp",
					      "icmpv6", "[icmp, icmpv6]", "[tcp, icmp]", "any" };
	int nsets = (int)rndn(4);
	FILE *f = tmp_open(d, "policy.yaml");
	char p[80];

	if (nsets)
		fprintf(f, "sets:\n");
	for (int s = 0; s < nsets; s++) {
		int n = 1 + (int)rndn(30);

		fprintf(f, "  s%d:\n    prefixes: [", s);
		for (int i = 0; i < n; i++) {
			rnd_prefix(p, sizeof(p));
			fprintf(f, "%s%s", i ? ", " : "", p);
		}
		fprintf(f, "]\n");
		if (rndn(2)) {
			char name[32];
			FILE *sf;

			snprintf(name, sizeof(name), "s%d.txt", s);
			fprintf(f, "    file: %s\n", name);
			sf = tmp_open(d, name);
			n = (int)rndn(200);
			for (int i = 0; i < n; i++) {
				rnd_prefix(p, sizeof(p));
				/* strip the YAML quotes */
				p[strlen(p) - 1] = '\0';
				fprintf(sf, "%s\n", p + 1);
			}
			fclose(sf);
		}
	}
	/* NSEC > 1: the list form, rules dealt out in equal runs; names unique across sections */
	fprintf(f, "firewall:\n");
	if (nsec == 1)
		fprintf(f, "  stateful: false\n  default: %s\n  rules:\n", rndn(2) ? "allow" : "deny");
	for (int r = 0, sec = 0; r < nrules; r++) {
		if (nsec > 1 && sec < nsec && r == sec * nrules / nsec)
			fprintf(f, "  - interfaces: [\"if%d*\"]\n    stateful: false\n"
				"    default: %s\n    rules:\n", sec++, rndn(2) ? "allow" : "deny");
		const char *proto = protos[rndn(sizeof(protos) / sizeof(protos[0]))];
		const char *ind = nsec > 1 ? "  " : "";
		bool has_src = rndn(2);

		fprintf(f, "%s    - name: r%d\n%s      action: %s\n", ind, r, ind,
			rndn(2) ? "allow" : "deny");
		if (has_src)
			rnd_addr_list(f, ind, "src", nsets);
		if (same_shape ? has_src : rndn(2))
			rnd_addr_list(f, ind, "dst", nsets);
		if (proto)
			fprintf(f, "%s      proto: %s\n", ind, proto);
		if (proto && (!strcmp(proto, "tcp") || !strcmp(proto, "udp") ||
			      !strcmp(proto, "[tcp, udp]"))) {
			if (rndn(2))
				rnd_port_list(f, ind, "sport");
			if (rndn(2))
				rnd_port_list(f, ind, "dport");
		}
	}
	fclose(f);
}

/* An address near a pool address (so inside or at the edge of prefixes) or random. */
static void rnd_addr(uint8_t family, uint8_t *a)
{
	unsigned int bits = family == AF_INET ? 32 : 128;

	if (rndn(5) == 0) {
		for (unsigned int i = 0; i < bits / 8; i++)
			a[i] = (uint8_t)rnd();
		return;
	}
	memcpy(a, family == AF_INET ? pool4[rndn(8)] : pool6[rndn(8)], bits / 8);
	/* Randomise everything after a random bit: lands in or just beside prefixes. */
	for (unsigned int i = rnd_len(bits); i < bits; i++) {
		if (rndn(2))
			a[i / 8] ^= (uint8_t)(0x80 >> (i % 8));
	}
}

static uint16_t rnd_port(const struct sl_firewall *fw)
{
	const struct sl_rule *r;
	size_t n;

	if (rndn(4) == 0 || !fw->nrules)
		return (uint16_t)rnd();
	r = &fw->rules[rndn((uint32_t)fw->nrules)];
	n = r->nsport + r->ndport;
	if (!n)
		return (uint16_t)rndn(3);
	{
		size_t k = rndn((uint32_t)n);
		const struct sl_port_range *pr = k < r->nsport ? &r->sport[k] : &r->dport[k - r->nsport];

		switch (rndn(4)) {
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
}

static void rnd_pkt(const struct sl_firewall *fw, struct sl_pkt *p)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6,
					  IPPROTO_GRE, IPPROTO_TCP, IPPROTO_UDP };

	memset(p, 0, sizeof(*p));
	p->family = rndn(5) < 3 ? AF_INET : AF_INET6;
	rnd_addr(p->family, p->src);
	rnd_addr(p->family, p->dst);
	p->proto = rndn(10) ? protos[rndn(sizeof(protos))] : (uint8_t)rnd();
	/* TCP/UDP carry ports unless a non-first fragment. */
	p->has_ports = (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP) && rndn(10);
	if (p->has_ports) {
		p->sport = rnd_port(fw);
		p->dport = rnd_port(fw);
	}
}

static void fmt_pkt(const struct sl_pkt *p, char *buf, size_t len)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];

	inet_ntop(p->family, p->src, s, sizeof(s));
	inet_ntop(p->family, p->dst, d, sizeof(d));
	snprintf(buf, len, "%s -> %s proto %u ports %s %u -> %u", s, d, p->proto,
		 p->has_ports ? "yes" : "no", p->sport, p->dport);
}

/*
 * Every section of a policy compiles to its own tables; a packet classified
 * with section S's tables must get what the reference says for section S.
 * A third of the policies have 2 or 3 sections sharing the sets.
 */
TEST(random_policies_agree_with_reference)
{
	int npol = 60, npkt = 400, checked = 0, matched = 0, mismatches = 0, multi = 0;

	seed_rng();
	for (int i = 0; i < npol && !mismatches; i++) {
		struct sl_diags d = { 0 };
		struct sl_policy pol;
		struct fw_tables t;
		struct tmpdir dir;
		/*
		 * Many small policies: with few rules, src and dst tables often
		 * share classes, where mix-ups between the directions show.
		 */
		int nrules = i == npol - 1 ? 512 :
			     1 + (int)rndn(i < npol / 2 ? 4 : i < 3 * npol / 4 ? 12 : 120);
		/* the 512-rule policy fills one section's bitmap */
		int nsec = i % 3 == 2 && i != npol - 1 ? 2 + (int)rndn(2) : 1;

		if (nrules < nsec)
			nrules = nsec;	/* every section gets a rule */

		make_pools();
		tmp_init(&dir);
		gen_policy(&dir, nrules, i % 2, nsec);
		if (!ASSERT_OK(policy_load_dir(dir.path, &pol, &d), "random policy loads")) {
			print_diags(&d);
			sl_diags_free(&d);
			tmp_done(&dir);
			return;
		}
		multi += pol.nfws > 1;
		for (size_t s = 0; s < pol.nfws && !mismatches; s++) {
			const struct sl_firewall *fw = &pol.fws[s];

			if (!ASSERT_OK(fw_compile(&pol, fw, 1, &t, &d), "random policy compiles")) {
				print_diags(&d);
				break;
			}
			if (!ASSERT_EQ(t.cfg.nrules, fw->nrules, "the section's rules only") ||
			    !ASSERT_EQ(t.cfg.default_action, fw->default_action, "its default")) {
				fw_tables_free(&t);
				break;
			}
			for (int k = 0; k < npkt; k++) {
				struct sl_pkt p;
				int want, got;

				rnd_pkt(fw, &p);
				want = policy_ref_classify(&pol, fw, &p);
				got = fw_tables_classify(&t, &p);
				checked++;
				matched += want >= 0;
				if (want != got ||
				    tables_verdict(&t, got) != policy_ref_verdict(&pol, fw, &p)) {
					char buf[200];

					fmt_pkt(&p, buf, sizeof(buf));
					printf("# section %s of %zu\n", fw->name, pol.nfws);
					ASSERT_EQ(got, want, buf);
					if (++mismatches > 5)
						break;
				}
			}
			fw_tables_free(&t);
		}
		policy_free(&pol);
		sl_diags_free(&d);
		tmp_done(&dir);
	}
	printf("# %d packets checked over %d policies (%d with sections), %d matched a rule\n",
	       checked, npol, multi, matched);
	ASSERT_TRUE(checked >= 10000, "at least 10,000 packets");
	ASSERT_TRUE(multi >= npol / 4, "policies with several sections were checked");
	/* Packets are biased to hit rules; a test where nothing matches proves little. */
	ASSERT_TRUE(matched > checked / 10, "a fair share of packets matched a rule");
}

/* ---- scale and limits ---- */

/*
 * A set file of N IPv4 prefixes: 99% random /16../24, 1% hosts in 4096 /24s
 * of 240.0.0.0/12 that no other prefix covers (so they need tbl8 groups).
 */
static void big_policy(struct tmpdir *d, size_t n)
{
	FILE *f = tmp_open(d, "big.txt"), *p;

	for (size_t i = 0; i < n; i++) {
		uint32_t a, l;

		if (i % 100 == 0) {
			l = 32;
			a = 0xf0000000u | rndn(4096) << 8 | rndn(256);
		} else {
			static const uint8_t lens[] = { 16, 18, 20, 22, 23, 24, 24, 24, 24 };

			l = lens[rndn(sizeof(lens))];
			a = (uint32_t)rnd() & (0xffffffffu << (32 - l));
			if (a >> 24 == 240)
				a ^= 0x80000000u;
		}
		fprintf(f, "%u.%u.%u.%u/%u\n", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255, l);
	}
	fclose(f);
	p = tmp_open(d, "p.yaml");
	fprintf(p, "sets:\n  big: { file: big.txt }\nfirewall:\n  stateful: false\n  rules:\n"
		"    - { name: blk, action: deny, src: [\"@big\"] }\n"
		"    - { name: ssh, action: allow, src: [192.0.2.0/24], proto: tcp, dport: 22 }\n"
		"    - { name: out, action: deny, dst: [\"@big\"], proto: udp }\n");
	fclose(p);
}

static void scale_test(size_t n, int npkt, double limit_s)
{
	struct sl_diags d = { 0 };
	struct sl_policy pol;
	struct fw_tables t;
	struct tmpdir dir;
	double t0, t1, t2, c1, c2;
	int hits = 0;

	seed_rng();
	tmp_init(&dir);
	big_policy(&dir, n);
	t0 = now();
	if (!ASSERT_OK(policy_load_dir(dir.path, &pol, &d), "load")) {
		print_diags(&d);
		goto out_d;
	}
	t1 = now();
	c1 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	if (!ASSERT_OK(fw_compile(&pol, policy_fw(&pol, 0), 1, &t, &d), "compile")) {
		print_diags(&d);
		goto out;
	}
	t2 = now();
	c2 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	printf("# %zu prefixes (src and dst): parse %.3f s, compile %.3f s wall, %.3f s CPU (%s), "
	       "%u chunks+groups, %u hash buckets, %u src classes\n", n, t1 - t0, t2 - t1,
	       c2 - c1, BUILD_KIND, t.v4[0].nt8, t.v4[0].nlh, t.ncls[SL_F_SRC]);
	/* CPU time: the wall clock also counts the other jobs of a busy 2-core machine */
	ASSERT_TRUE(c2 - c1 < limit_s, "compile CPU time within the limit");
	for (int k = 0; k < npkt; k++) {
		const struct sl_set *s = &pol.sets[0];
		struct sl_pkt p = { .family = AF_INET, .proto = IPPROTO_UDP, .has_ports = true,
				    .sport = 53, .dport = 53 };

		rnd_addr(AF_INET, p.dst);
		if (k % 2) {
			/* an address inside a listed prefix */
			const struct sl_prefix *x = &s->v[rndn((uint32_t)s->n)];
			uint32_t a, host = x->len == 32 ? 0 : (uint32_t)rnd() & (0xffffffffu >> x->len);

			memcpy(&a, x->addr, 4);
			a = htonl(ntohl(a) | host);
			memcpy(p.src, &a, 4);
		} else {
			uint32_t a = (uint32_t)rnd();

			memcpy(p.src, &a, 4);
		}
		hits += fw_tables_classify(&t, &p) == 0;
		if (!ASSERT_EQ(fw_tables_classify(&t, &p),
			       policy_ref_classify(&pol, policy_fw(&pol, 0), &p), "agree"))
			break;
	}
	ASSERT_TRUE(hits >= npkt / 2, "addresses from the set hit the block rule");
	fw_tables_free(&t);
out:
	policy_free(&pol);
out_d:
	sl_diags_free(&d);
	tmp_done(&dir);
}

TEST(compile_100k_prefixes)
{
	scale_test(100000, 200, 3.0);
}

TEST(compile_1m_prefixes)
{
	scale_test(1000000, 40, 10.0);
}

static bool diag_at(const struct sl_diags *d, const char *file_suffix, int line, int col,
		    const char *sub)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct sl_diag *x = &d->v[i];
		size_t fl = x->file ? strlen(x->file) : 0, sl = strlen(file_suffix);

		if (fl >= sl && !strcmp(x->file + fl - sl, file_suffix) && x->line == line &&
		    x->col == col && strstr(x->msg, sub))
			return true;
	}
	print_diags(d);
	return false;
}

TEST(limit_too_many_rules)
{
	struct sl_firewall fw = { .present = true, .name = "fw0" };
	struct sl_diags d = { 0 };
	struct sl_policy pol;
	struct fw_tables t;
	struct tmpdir dir;
	FILE *f;

	tmp_init(&dir);
	f = tmp_open(&dir, "p.yaml");
	fprintf(f, "firewall:\n  stateful: false\n  rules:\n");
	for (int i = 0; i < SLUICE_MAX_RULES + 1; i++)
		fprintf(f, "    - { name: r%d, action: deny, dst: [192.0.%d.%d] }\n", i,
			i / 256 % 256, i % 256);
	fclose(f);
	/* the checker refuses it (policy check sees it offline) ... */
	ASSERT_EQ(policy_load_dir(dir.path, &pol, &d), -EINVAL, "checker refuses");
	ASSERT_TRUE(diag_at(&d, "/p.yaml", 4 + SLUICE_MAX_RULES, 15, "too many rules: 16385"),
		    "at the 16385th rule");
	sl_diags_free(&d);
	/* ... and so does the compiler, given 16385 rules anyway */
	memset(&pol, 0, sizeof(pol));
	fw.nrules = SLUICE_MAX_RULES + 1;
	fw.rules = calloc(fw.nrules, sizeof(*fw.rules));
	fw.rules[SLUICE_MAX_RULES].loc = (struct sl_loc){ "x.yaml", 9, 3 };
	pol.fws = &fw;
	pol.nfws = 1;
	ASSERT_EQ(fw_compile(&pol, &fw, 1, &t, &d), -E2BIG, "compiler refuses");
	ASSERT_TRUE(diag_at(&d, "x.yaml", 9, 3, "too many rules: 16385"), "at the 16385th rule");
	ASSERT_TRUE(t.clsmap == NULL && t.v4[0].l1 == NULL && t.rule == NULL,
		    "tables empty after failure");
	free(fw.rules);
	sl_diags_free(&d);
	tmp_done(&dir);
}

/* Rule i of section s: allow when i + s is odd; dst 192.0.2.0 + i. */
static void two_sections_of_400(FILE *f)
{
	fprintf(f, "firewall:\n");
	for (int s = 0; s < 2; s++) {
		fprintf(f, "  - interfaces: [eth%d]\n    stateful: false\n    rules:\n", s);
		for (int i = 0; i < 400; i++)
			fprintf(f, "      - { name: s%dr%d, action: %s, dst: [192.0.%d.%d] }\n", s, i,
				(i + s) % 2 ? "allow" : "deny", 2 + i / 256, i % 256);
	}
}

/*
 * 16384 rules is a limit of the policy, all sections together: two sections
 * of 400 compile, each on its own; a third that brings the total past the
 * limit is refused at the first rule past it.
 */
TEST(limit_is_per_policy)
{
	int third = SLUICE_MAX_RULES + 1 - 800, line0 = 3 + 2 * 3 + 800 + 2;
	struct sl_diags d = { 0 };
	struct sl_policy pol;
	struct fw_tables t;
	struct tmpdir dir;
	FILE *f;

	tmp_init(&dir);
	f = tmp_open(&dir, "p.yaml");
	two_sections_of_400(f);
	fprintf(f, "  - interfaces: [eth9]\n    rules:\n");
	for (int i = 0; i < third; i++)
		fprintf(f, "      - { name: big%d, action: deny }\n", i);
	fclose(f);
	ASSERT_EQ(policy_load_dir(dir.path, &pol, &d), -EINVAL, "the third section is too big");
	/* lines: "firewall:", 3 per section header, the rules */
	ASSERT_TRUE(diag_at(&d, "/p.yaml", line0 - 2 + third, 17,
			    "too many rules: 16385 in the policy"), "at the 16385th rule");
	ASSERT_EQ(d.n, 1, "one message");
	sl_diags_free(&d);
	/* without the third section */
	f = tmp_open(&dir, "p.yaml");
	two_sections_of_400(f);
	fclose(f);
	if (!ASSERT_OK(policy_load_dir(dir.path, &pol, &d), "800 rules in two sections")) {
		print_diags(&d);
		goto out;
	}
	for (size_t s = 0; s < 2; s++) {
		struct sl_pkt p = { .family = AF_INET, .proto = IPPROTO_UDP,
				    .dst = { 192, 0, 3, 143 } };	/* rule 399 */

		if (!ASSERT_OK(fw_compile(&pol, &pol.fws[s], 1, &t, &d), "compile")) {
			print_diags(&d);
			break;
		}
		ASSERT_EQ(t.cfg.nrules, 400, "400 rules");
		ASSERT_EQ(t.cfg.section, s, "its section");
		ASSERT_EQ(fw_tables_classify(&t, &p), 399, "the last rule of the section");
		ASSERT_EQ(tables_verdict(&t, 399), s ? SLUICE_ACT_DENY : SLUICE_ACT_ALLOW,
			  "its own action");
		fw_tables_free(&t);
	}
	policy_free(&pol);
out:
	sl_diags_free(&d);
	tmp_done(&dir);
}

/*
 * Host addresses in as many different /24s: the hash takes them (the
 * DIR-24-8 tables before refused more than 16384 such /24s); dense /24s get
 * a group. Every one of them and its neighbours classify as the reference says.
 */
TEST(hosts_in_many_24s_load)
{
	struct sl_diags d = { 0 };
	struct sl_policy pol;
	struct fw_tables t;
	struct tmpdir dir;
	FILE *f;

	tmp_init(&dir);
	f = tmp_open(&dir, "hosts.txt");
	/* 40000 hosts in as many /24s, and 10.255.0.0/24 with 64 of them (a group) */
	for (uint32_t i = 0; i < 40000; i++)
		fprintf(f, "10.%u.%u.1\n", i >> 8, i & 255);
	for (uint32_t i = 0; i < 64; i++)
		fprintf(f, "10.255.0.%u\n", 4 * i + 2);
	fclose(f);
	f = tmp_open(&dir, "p.yaml");
	fprintf(f, "sets:\n  few: { prefixes: [192.0.2.1] }\n  hosts:\n    file: hosts.txt\n"
		"firewall:\n  stateful: false\n  rules:\n"
		"    - { name: a, action: deny, src: [\"@few\", \"@hosts\"] }\n");
	fclose(f);
	if (ASSERT_OK(policy_load_dir(dir.path, &pol, &d), "load")) {
		if (ASSERT_OK(fw_compile(&pol, policy_fw(&pol, 0), 1, &t, &d), "loads")) {
			struct sl_pkt p = { .family = AF_INET, .proto = 6 };
			int bad = 0;

			/*
			 * 10.0-155/16 have every /24 flagged alike: one chunk for all;
			 * 10.156/16, 10.255/16 and 192.0/16 one each, all of two values
			 * (packed); and the group
			 */
			ASSERT_EQ(t.v4[0].np1, 4, "packed chunks, identical ones shared");
			ASSERT_EQ(t.v4[0].nt8, 1, "the group");
			ASSERT_TRUE(t.v4[0].nlh * SLUICE_LH_SLOTS >= 40002, "room for every host");
			for (uint32_t i = 0; i < 40000 && bad < 5; i += 7) {
				for (int k = 0; k < 3; k++) {
					memcpy(p.src, (uint8_t[]){ 10, (uint8_t)(i >> 8),
							   (uint8_t)i, (uint8_t)k }, 4);
					bad += !ASSERT_EQ(fw_tables_classify(&t, &p), k == 1 ? 0 : -1,
							  "host and neighbours");
				}
			}
			for (uint32_t k = 0; k < 256 && bad < 5; k++) {
				memcpy(p.src, (uint8_t[]){ 10, 255, 0, (uint8_t)k }, 4);
				bad += !ASSERT_EQ(fw_tables_classify(&t, &p), k % 4 == 2 ? 0 : -1,
						  "the dense /24");
			}
			fw_tables_free(&t);
		} else {
			print_diags(&d);
		}
		policy_free(&pol);
	}
	sl_diags_free(&d);
	tmp_done(&dir);
}

TEST(covered_hosts_need_no_entry)
{
	struct sl_diags d = { 0 };
	struct sl_policy pol;
	struct fw_tables t;
	struct tmpdir dir;
	FILE *f;

	tmp_init(&dir);
	f = tmp_open(&dir, "hosts.txt");
	/* 20000 hosts, all inside 10.0.0.0/8 of the same set: nothing to add for them */
	fprintf(f, "10.0.0.0/8\n");
	for (uint32_t i = 0; i < 20000; i++)
		fprintf(f, "10.%u.%u.%u\n", i >> 8, i & 255, i % 200);
	fprintf(f, "192.0.2.77\n");
	fclose(f);
	f = tmp_open(&dir, "p.yaml");
	fprintf(f, "sets:\n  hosts: { file: hosts.txt }\nfirewall:\n  stateful: false\n  rules:\n"
		"    - { name: a, action: deny, src: [\"@hosts\"] }\n"
		"    - { name: b, action: allow, src: [10.1.2.3] }\n");
	fclose(f);
	if (ASSERT_OK(policy_load_dir(dir.path, &pol, &d), "load")) {
		if (ASSERT_OK(fw_compile(&pol, policy_fw(&pol, 0), 1, &t, &d), "compile")) {
			struct sl_pkt p = { .family = AF_INET, .proto = 6 };
			uint32_t n = 0;

			/*
			 * 10.1.2.3 of rule b and 192.0.2.77 need entries, the rest do
			 * not: two /24s, a group each (few: no hash), and the chunks of
			 * 10.1/16 and 192.0/16
			 */
			for (uint32_t b = 0; b < t.v4[0].nlh; b++)
				for (int j = 0; j < SLUICE_LH_SLOTS; j++)
					n += t.v4[0].lh[b].e[j].lv != 0;
			ASSERT_EQ(n, 0, "no hash");
			ASSERT_EQ(t.cfg.dir[0].small, 1, "few: the fixed small table");
			ASSERT_EQ(t.v4[0].ns, 4, "two groups, two chunks");
			memcpy(p.src, (uint8_t[]){ 10, 1, 2, 3 }, 4);
			ASSERT_EQ(fw_tables_classify(&t, &p), 0, "first match is the set");
			memcpy(p.src, (uint8_t[]){ 192, 0, 2, 77 }, 4);
			ASSERT_EQ(fw_tables_classify(&t, &p), 0, "host outside the /8");
			memcpy(p.src, (uint8_t[]){ 192, 0, 2, 78 }, 4);
			ASSERT_EQ(fw_tables_classify(&t, &p), -1, "its neighbour");
			fw_tables_free(&t);
		} else {
			print_diags(&d);
		}
		policy_free(&pol);
	}
	sl_diags_free(&d);
	tmp_done(&dir);
}

TEST(halves_that_make_whole_24s_need_no_entry)
{
	struct sl_diags d = { 0 };
	struct sl_policy pol;
	struct fw_tables t;
	struct tmpdir dir;
	FILE *f;

	/* 80000 /25s pairing up into 40000 whole /24s: none of them needs an entry */
	tmp_init(&dir);
	f = tmp_open(&dir, "halves.txt");
	for (uint32_t i = 0; i < 40000; i++)
		fprintf(f, "10.%u.%u.0/25\n10.%u.%u.128/25\n", i >> 8, i & 255, i >> 8, i & 255);
	fprintf(f, "192.0.2.0/25\n");	/* a lone half keeps its entry */
	fclose(f);
	f = tmp_open(&dir, "p.yaml");
	fprintf(f, "sets:\n  halves: { file: halves.txt }\nfirewall:\n  stateful: false\n"
		"  rules:\n    - { name: a, action: deny, src: [\"@halves\"] }\n");
	fclose(f);
	if (ASSERT_OK(policy_load_dir(dir.path, &pol, &d), "load")) {
		if (ASSERT_OK(fw_compile(&pol, policy_fw(&pol, 0), 1, &t, &d), "compile")) {
			struct sl_pkt p = { .family = AF_INET, .proto = 17 };
			static const uint8_t probes[][5] = {
				/* address, expected rule + 1 */
				{ 10, 0, 0, 0, 1 }, { 10, 0, 0, 255, 1 }, { 10, 78, 31, 200, 1 },
				{ 10, 200, 0, 0, 0 }, { 192, 0, 2, 127, 1 }, { 192, 0, 2, 128, 0 },
			};

			/*
			 * uniform /16s need no chunk: 10.0-155 are whole, 10.156 half;
			 * the lone half's /24 gets a group (few: no hash)
			 */
			ASSERT_EQ(t.v4[0].ns, 3, "a group, the chunks of 10.156/16 and 192.0/16");
			ASSERT_EQ(t.v4[0].nlh, 0, "no hash");
			for (size_t k = 0; k < sizeof(probes) / sizeof(probes[0]); k++) {
				memcpy(p.src, probes[k], 4);
				ASSERT_EQ(fw_tables_classify(&t, &p), probes[k][4] - 1, "probe");
				ASSERT_EQ(fw_tables_classify(&t, &p),
					  policy_ref_classify(&pol, policy_fw(&pol, 0), &p),
					  "agrees with the reference");
			}
			fw_tables_free(&t);
		} else {
			print_diags(&d);
		}
		policy_free(&pol);
	}
	sl_diags_free(&d);
	tmp_done(&dir);
}

TEST(limit_classes)
{
	struct sl_diags d = { 0 };
	struct sl_policy pol;
	struct fw_tables t;
	struct tmpdir dir;
	FILE *f, *p;

	/*
	 * Rule r lists every /(r+1) whose last bit is one: the rules matching an
	 * address spell its top 16 bits, 65536 distinct classes.
	 */
	tmp_init(&dir);
	p = tmp_open(&dir, "p.yaml");
	fprintf(p, "sets:\n");
	for (int r = 0; r < 16; r++) {
		char name[32];

		snprintf(name, sizeof(name), "b%d.txt", r);
		fprintf(p, "  b%d: { file: %s }\n", r, name);
		f = tmp_open(&dir, name);
		for (uint32_t k = 0; k < (1u << r); k++) {
			uint32_t a = (k << 1 | 1) << (31 - r);

			fprintf(f, "%u.%u.%u.%u/%d\n", a >> 24, (a >> 16) & 255, (a >> 8) & 255,
				a & 255, r + 1);
		}
		fclose(f);
	}
	fprintf(p, "firewall:\n  stateful: false\n  rules:\n");
	for (int r = 0; r < 16; r++)
		fprintf(p, "    - { name: r%d, action: deny, src: [\"@b%d\"] }\n", r, r);
	fclose(p);
	if (ASSERT_OK(policy_load_dir(dir.path, &pol, &d), "load")) {
		ASSERT_EQ(fw_compile(&pol, policy_fw(&pol, 0), 1, &t, &d), -E2BIG, "refused");
		/*
		 * Sets are painted in ascending length: b15 brings the 32769th class
		 * of the source field (each field numbers its own classes).
		 */
		ASSERT_TRUE(diag_at(&d, "/p.yaml", 17, 3, "too many distinct rule combinations "
				    "for src"), "at set b15");
		policy_free(&pol);
	}
	sl_diags_free(&d);
	tmp_done(&dir);
}

TEST(limit_lpm6_entries)
{
	struct sl_set set = { .name = "v6", .loc = { "x.yaml", 2, 3 } };
	struct sl_rule rule = { .name = "r", .loc = { "x.yaml", 9, 13 } };
	struct sl_addr_item item = { .is_set = true, .set_name = "v6", .set = NULL };
	struct sl_firewall fw = { .present = true, .name = "fw0" };
	struct sl_policy pol = { 0 };
	struct sl_diags d = { 0 };
	struct fw_tables t;

	/* built in memory: 2^20 + 1 distinct /64s, one more than the trie holds with ::/0 */
	set.n = SLUICE_LPM6_MAX;
	set.v = calloc(set.n, sizeof(*set.v));
	if (!ASSERT_TRUE(set.v, "alloc"))
		return;
	for (uint32_t i = 0; i < set.n; i++) {
		set.v[i].family = AF_INET6;
		set.v[i].len = 64;
		memcpy(set.v[i].addr, (uint8_t[]){ 0x20, 0x01, 0x0d, 0xb8 }, 4);
		set.v[i].addr[5] = (uint8_t)(i >> 16);
		set.v[i].addr[6] = (uint8_t)(i >> 8);
		set.v[i].addr[7] = (uint8_t)i;
	}
	pol.sets = &set;
	pol.nsets = 1;
	item.set = &set;
	rule.src = &item;
	rule.nsrc = 1;
	fw.rules = &rule;
	fw.nrules = 1;
	pol.fws = &fw;
	pol.nfws = 1;
	ASSERT_EQ(fw_compile(&pol, policy_fw(&pol, 0), 1, &t, &d), -E2BIG, "refused");
	ASSERT_TRUE(diag_at(&d, "x.yaml", 2, 3, "too many IPv6 prefixes"), "at the set");
	sl_diags_free(&d);
	/* one fewer fits */
	set.n--;
	if (ASSERT_OK(fw_compile(&pol, &fw, 1, &t, &d), "2^20 - 1 prefixes and ::/0 fit")) {
		ASSERT_EQ(t.n6[0], SLUICE_LPM6_MAX, "trie full");
		fw_tables_free(&t);
	}
	sl_diags_free(&d);
	free(set.v);
}

TEST(no_rules_default_deny)
{
	struct sl_diags d = { 0 };
	struct sl_policy pol;
	struct fw_tables t;
	struct sl_pkt p = { .family = AF_INET, .proto = IPPROTO_TCP, .has_ports = true,
			    .sport = 1, .dport = 2 };

	if (!ASSERT_OK(policy_load_dir("tests/data/no-rules", &pol, &d), "load"))
		return;
	if (ASSERT_OK(fw_compile(&pol, policy_fw(&pol, 0), 3, &t, &d), "compile")) {
		ASSERT_EQ(t.cfg.nrules, 0, "no rules");
		ASSERT_EQ(t.cfg.active, 1, "active");
		ASSERT_EQ(t.cfg.generation, 3, "generation");
		ASSERT_EQ(t.cfg.default_action, SLUICE_ACT_DENY, "default");
		ASSERT_EQ(t.cfg.dir[0].v6, SL_MODE_CONST, "no IPv6 table: no prefix");
		ASSERT_EQ(fw_tables_classify(&t, &p), -1, "default applies");
		fw_tables_free(&t);
	}
	policy_free(&pol);
	sl_diags_free(&d);
}
