// SPDX-License-Identifier: GPL-2.0-only
/*
 * Policy -> compiled tables.
 *
 * Golden tests: tests/data/NAME/ compiled, each section printed as the rules
 * each packet field matches (tests/golden.h: ranges of protocols, ports and
 * addresses -> rule indexes, independent of the table layout), must equal
 * tests/golden/NAME.golden, which were checked by hand. UPDATE_GOLDEN=1
 * rewrites them and fails, until the diff is read and the tests run again. Randomized test: random policies with overlapping IPv4/IPv6
 * prefixes, sets, protocols and port ranges (the generator's own model,
 * tests/ref_policy.h, written as files), and random packets biased to
 * prefix and range edges: fw_tables_classify must equal the oracle's
 * ref_classify on every packet (SLUICE_SEED=N reproduces a run). Scale: 100k
 * and 1M prefix sets compile and classify as the oracle does; limits are
 * refused at the right location.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fw_tables.h"
#include "golden.h"
#include "ref_bridge.h"
#include "testlib.h"

/* ---- helpers ---- */

static struct ref_rng rng;

static uint64_t rnd(void)
{
	return ref_rnd(&rng);
}

static uint32_t rndn(uint32_t n)
{
	return ref_rndn(&rng, n);
}

static void seed_rng(void)
{
	const char *s = getenv("SLUICE_SEED");
	uint64_t seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid() << 20;

	printf("# seed %llu (SLUICE_SEED=%llu reproduces)\n", (unsigned long long)seed,
	       (unsigned long long)seed);
	rng.s = seed;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

/*
 * The policy files written in DIR loaded and its first section compiled
 * into T: true, or false with POL already freed and D printed.
 */
static bool compile_dir(const struct tmpdir *dir, struct sl_policy *pol, struct fw_tables *t,
			struct sl_diags *d)
{
	if (!ASSERT_OK(policy_load_dir(dir->path, pol, d), "load"))
		return false;
	if (ASSERT_OK(fw_compile(pol, policy_fw(pol, 0), 1, t, d), "compile"))
		return true;
	print_diags(d);
	policy_free(pol);
	return false;
}

static void compiled_free(struct sl_policy *pol, struct fw_tables *t)
{
	fw_tables_free(t);
	policy_free(pol);
}

/* ---- golden tests ---- */

static void golden(const char *name)
{
	char dir[128], gpath[128], *text = NULL;
	struct sl_diags d = { 0 };
	struct sl_policy pol;
	struct fw_tables t;
	size_t len = 0;
	FILE *mem;

	snprintf(dir, sizeof(dir), "tests/data/%s", name);
	snprintf(gpath, sizeof(gpath), "tests/golden/%s.golden", name);
	if (!ASSERT_OK(policy_load_dir(dir, &pol, &d), dir)) {
		print_diags(&d);
		sl_diags_free(&d);
		return;
	}
	mem = open_memstream(&text, &len);
	fprintf(mem, "# %s compiled: the rules each packet field matches (tests/golden.h)\n", dir);
	for (size_t s = 0; s < (pol.nfws ? pol.nfws : 1); s++) {
		const struct sl_firewall *fw = policy_fw(&pol, (int)s);

		if (!ASSERT_OK(fw_compile(&pol, fw, 7, &t, &d), fw->name)) {
			print_diags(&d);
			fclose(mem);
			goto out;
		}
		golden_dump(mem, &pol, fw, &t);
		fw_tables_free(&t);
	}
	fclose(mem);
	ASSERT_TRUE(golden_compare(gpath, text, len), "the tables mean what the golden file says");
out:
	free(text);
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
		/* r0 and r1 each match one address of the packet, neither both */
		ASSERT_EQ(fw_tables_classify(&t, &p), 2, "tables: r2");
		fw_tables_free(&t);
	}
	policy_free(&pol);
out:
	sl_diags_free(&d);
}

/* ---- randomized agreement with the oracle ---- */

/* Compile every section of the policy in DIR; each must agree with MODEL on NPKT packets. */
static int check_sections(const struct ref_policy *model, const char *dir, int npkt,
			  int *checked, int *matched)
{
	struct sl_diags d = { 0 };
	struct sl_policy pol;
	int mismatches = 0;

	if (!ASSERT_OK(policy_load_dir(dir, &pol, &d), "random policy loads")) {
		print_diags(&d);
		sl_diags_free(&d);
		return -1;
	}
	if (!ASSERT_EQ(pol.nfws, model->nsecs, "sections"))
		mismatches = -1;
	for (size_t s = 0; s < pol.nfws && !mismatches; s++) {
		const struct sl_firewall *fw = &pol.fws[s];
		struct fw_tables t;

		if (!ASSERT_OK(fw_compile(&pol, fw, 1, &t, &d), "random policy compiles")) {
			print_diags(&d);
			mismatches = -1;
			break;
		}
		if (!ASSERT_EQ(t.cfg.nrules, model->secs[s].nrules, "the section's rules only")) {
			fw_tables_free(&t);
			mismatches = -1;
			break;
		}
		for (int k = 0; k < npkt; k++) {
			struct ref_pkt p;
			struct sl_pkt sp;
			int want, got;

			ref_gen_pkt(&rng, model, s, &p);
			if (rndn(10) == 0)
				p.proto = (uint8_t)rnd();	/* any protocol number */
			/* TCP/UDP carry ports unless a non-first fragment */
			p.has_ports = (p.proto == IPPROTO_TCP || p.proto == IPPROTO_UDP) && rndn(10);
			if (!p.has_ports)
				p.sport = p.dport = 0;
			sp = sl_pkt_of(&p);
			want = ref_classify(model, s, &p);
			got = fw_tables_classify(&t, &sp);
			(*checked)++;
			*matched += want >= 0;
			if (want != got ||
			    (fw_tables_action(&t, got) == SLUICE_ACT_ALLOW) != ref_allows(model, s, &p)) {
				char buf[200];

				ref_pkt_str(&p, buf, sizeof(buf));
				printf("# section %zu (%s) of %zu\n", s, fw->name, pol.nfws);
				ASSERT_EQ(got, want, buf);
				if (++mismatches > 5)
					break;
			}
		}
		fw_tables_free(&t);
	}
	policy_free(&pol);
	sl_diags_free(&d);
	return mismatches;
}

/*
 * Random policies (the generator's model, written as YAML and set files),
 * random packets biased to prefix and range edges: every section's compiled
 * tables must classify as the oracle does on the model. A third of the
 * policies have 2 or 3 sections sharing the sets.
 */
TEST(random_policies_agree_with_reference)
{
	int npol = 60, npkt = 400, checked = 0, matched = 0, mismatches = 0, multi = 0;

	seed_rng();
	for (int i = 0; i < npol && !mismatches; i++) {
		/*
		 * Many small policies: with few rules, src and dst tables often
		 * share classes, where mix-ups between the directions show. The
		 * last policy fills one section's bitmap.
		 */
		struct ref_gen_opts o = {
			.nrules = i == npol - 1 ? SLUICE_MAX_RULES :
				  1 + (int)rndn(i < npol / 2 ? 4 : i < 3 * npol / 4 ? 12 : 120),
			.nsecs = i % 3 == 2 && i != npol - 1 ? 2 + (int)rndn(2) : 1,
			.max_sets = 3, .max_set_pfx = 30, .max_file_pfx = 199, .v6_percent = 33,
			/* every rule names both src and dst or neither: the src and dst
			 * tables start from the same class and share classes while painted */
			.same_shape = i % 2,
		};
		struct ref_policy model;
		char dir[64];

		if (!ASSERT_OK(ref_gen_policy(&rng, &o, &model), "generate"))
			return;
		if (!ASSERT_OK(ref_dir_new(dir, sizeof(dir)), "dir")) {
			ref_policy_free(&model);
			return;
		}
		if (ASSERT_OK(ref_write(&model, dir, rnd()), "write"))
			mismatches = check_sections(&model, dir, npkt, &checked, &matched);
		multi += model.nsecs > 1;
		if (mismatches)
			printf("# policy %d kept in %s\n", i, dir);
		else
			ref_dir_remove(dir);
		ref_policy_free(&model);
	}
	printf("# %d packets checked over %d policies (%d with sections), %d matched a rule\n",
	       checked, npol, multi, matched);
	ASSERT_EQ(mismatches, 0, "packets where tables and oracle disagree");
	ASSERT_TRUE(checked >= 10000, "at least 10,000 packets");
	ASSERT_TRUE(multi >= npol / 4, "policies with several sections were checked");
	/* Packets are biased to hit rules; a test where nothing matches proves little. */
	ASSERT_TRUE(matched > checked / 10, "a fair share of packets matched a rule");
}

/* ---- scale and limits ---- */

/*
 * The model of a policy with a set (a file) of N IPv4 prefixes: 99% random
 * /16../24, 1% hosts in 4096 /24s of 240.0.0.0/12 that no other prefix
 * covers (so they need tbl8 groups); rules on it as src and as dst.
 */
static int big_model(struct ref_policy *m, size_t n)
{
	struct ref_section *sec;
	struct ref_set *s;
	struct ref_rule *r;

	memset(m, 0, sizeof(*m));
	m->sets = s = calloc(1, sizeof(*s));
	m->secs = sec = calloc(1, sizeof(*sec));
	if (!s || !sec)
		return -ENOMEM;
	m->nsets = m->nsecs = 1;
	sec->rules = r = calloc(3, sizeof(*r));
	s->file_pfx = calloc(n, sizeof(*s->file_pfx));
	if (!r || !s->file_pfx)
		return -ENOMEM;
	sec->nrules = 3;
	r[0].src.sets = calloc(1, sizeof(int));		/* blk: deny src @big */
	r[1].src.pfx = calloc(1, sizeof(struct ref_prefix));	/* ssh: allow 192.0.2.0/24 tcp 22 */
	r[1].dport = calloc(1, sizeof(struct ref_ports));
	r[2].dst.sets = calloc(1, sizeof(int));		/* out: deny dst @big udp */
	if (!r[0].src.sets || !r[1].src.pfx || !r[1].dport || !r[2].dst.sets)
		return -ENOMEM;
	snprintf(r[0].name, sizeof(r[0].name), "blk");
	r[0].src.nsets = 1;
	snprintf(r[1].name, sizeof(r[1].name), "ssh");
	r[1].allow = true;
	r[1].src.pfx[0] = (struct ref_prefix){ .len = 24, .addr = { 192, 0, 2 } };
	r[1].src.npfx = 1;
	r[1].protos = REF_TCP;
	r[1].dport[0] = (struct ref_ports){ 22, 22 };
	r[1].ndport = 1;
	snprintf(r[2].name, sizeof(r[2].name), "out");
	r[2].dst.nsets = 1;
	r[2].protos = REF_UDP;
	snprintf(sec->ifaces[sec->nifaces++], sizeof(sec->ifaces[0]), "eth0");
	snprintf(s->name, sizeof(s->name), "big");
	s->in_file = true;
	for (s->nfile = 0; s->nfile < n; s->nfile++) {
		struct ref_prefix *x = &s->file_pfx[s->nfile];
		uint32_t a;

		if (s->nfile % 100 == 0) {
			x->len = 32;
			a = 0xf0000000u | rndn(4096) << 8 | rndn(256);
		} else {
			static const uint8_t lens[] = { 16, 18, 20, 22, 23, 24, 24, 24, 24 };

			x->len = lens[rndn(sizeof(lens))];
			a = (uint32_t)rnd() & (0xffffffffu << (32 - x->len));
			if (a >> 24 == 240)
				a ^= 0x80000000u;
		}
		a = htonl(a);
		memcpy(x->addr, &a, 4);
	}
	return ref_finish(m);
}

/*
 * Prefix sets of 100k and 1M entries load, compile and classify as the
 * oracle does. How long that takes is bench_reload's business (make bench);
 * the time is printed here only to see where a slow run went.
 */
static void scale_test(size_t n, int npkt)
{
	struct sl_diags d = { 0 };
	struct ref_policy m;
	struct sl_policy pol;
	struct fw_tables t;
	char dir[64] = "";
	double t0, t1, t2;
	int hits = 0;

	seed_rng();
	if (!ASSERT_OK(big_model(&m, n), "model") || !ASSERT_OK(ref_dir_new(dir, sizeof(dir)), "dir") ||
	    !ASSERT_OK(ref_write(&m, dir, rnd()), "write"))
		goto out_m;
	t0 = now();
	if (!ASSERT_OK(policy_load_dir(dir, &pol, &d), "load")) {
		print_diags(&d);
		goto out_d;
	}
	t1 = now();
	if (!ASSERT_OK(fw_compile(&pol, policy_fw(&pol, 0), 1, &t, &d), "compile")) {
		print_diags(&d);
		goto out;
	}
	t2 = now();
	printf("# %zu prefixes (src and dst): parse %.3f s, compile %.3f s (%s), "
	       "%u groups+chunks, %u+%u packed chunks, %u hash buckets, %u src classes\n", n,
	       t1 - t0, t2 - t1, BUILD_KIND, t.v4[0].nt8, t.v4[0].np1, t.v4[0].np2, t.v4[0].nlh,
	       t.ncls[SL_F_SRC]);
	for (int k = 0; k < npkt; k++) {
		const struct ref_set *s = &m.sets[0];
		struct ref_pkt p = { .proto = IPPROTO_UDP, .has_ports = true,
				     .sport = 53, .dport = 53 };
		uint32_t a = (uint32_t)rnd(), b = (uint32_t)rnd();
		struct sl_pkt sp;

		if (k % 2) {
			/* an address inside a listed prefix */
			const struct ref_prefix *x = &s->file_pfx[rndn((uint32_t)s->nfile)];
			uint32_t host = x->len == 32 ? 0 : a & (0xffffffffu >> x->len);

			memcpy(&a, x->addr, 4);
			a = htonl(ntohl(a) | host);
		}
		memcpy(p.src, &a, 4);
		memcpy(p.dst, &b, 4);
		sp = sl_pkt_of(&p);
		hits += fw_tables_classify(&t, &sp) == 0;
		if (!ASSERT_EQ(fw_tables_classify(&t, &sp), ref_classify(&m, 0, &p), "agree"))
			break;
	}
	ASSERT_TRUE(hits >= npkt / 2, "addresses from the set hit the block rule");
	fw_tables_free(&t);
out:
	policy_free(&pol);
out_d:
	sl_diags_free(&d);
out_m:
	if (dir[0])
		ref_dir_remove(dir);
	ref_policy_free(&m);
}

TEST(compile_100k_prefixes)
{
	scale_test(100000, 200);
}

TEST(compile_1m_prefixes)
{
	scale_test(1000000, 40);
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

/*
 * At most SL_GLOBS_MAX interface globs (all sections and decap): the checks
 * compare them pair by pair, so 1,200 of the slowest kind held the checker
 * (and the agent's loop) ~35 s. The 65th is refused at its place; 64 load.
 */
TEST(limit_interface_globs)
{
	struct sl_diags d = { 0 };
	struct sl_policy pol;
	struct tmpdir dir;
	FILE *f;

	for (int n = SL_GLOBS_MAX; n <= SL_GLOBS_MAX + 1; n++) {
		tmp_init(&dir);
		f = tmp_open(&dir, "p.yaml");
		/* two a section: 32 sections, as many policy slots as a policy takes */
		fprintf(f, "firewall:\n");
		for (int i = 0; i < n; i += 2) {
			fprintf(f, "  - name: s%d\n    interfaces: [\"g%03d*\"", i / 2, i);
			if (i + 1 < n)
				fprintf(f, ", \"g%03d*\"", i + 1);
			fprintf(f, "]\n");
		}
		fclose(f);
		if (n == SL_GLOBS_MAX) {
			ASSERT_EQ(policy_load_dir(dir.path, &pol, &d), 0, "64 globs load");
			policy_free(&pol);
		} else {
			ASSERT_EQ(policy_load_dir(dir.path, &pol, &d), -EINVAL, "65 refused");
			ASSERT_TRUE(diag_at(&d, "/p.yaml", 2 * ((n - 1) / 2) + 3, 18,
					    "too many interface patterns with wildcards: 65"),
				    "at the 65th");
		}
		sl_diags_free(&d);
		memset(&d, 0, sizeof(d));
		tmp_done(&dir);
	}
	/* the slow kind, 600 in a section and 600 in decap: refused, at the 65th */
	tmp_init(&dir);
	f = tmp_open(&dir, "p.yaml");
	fprintf(f, "firewall:\n  interfaces: [");
	for (int i = 0; i < 600; i++)
		fprintf(f, "%s\"a?*ac?*a?a[a-c]\"", i ? "," : "");
	fprintf(f, "]\ndecap:\n  interfaces: [");
	for (int i = 0; i < 600; i++)
		fprintf(f, "%s\"?*b???*?*a?c??*\"", i ? "," : "");
	fprintf(f, "]\n  vips: [192.0.2.10]\n");
	fclose(f);
	ASSERT_EQ(policy_load_dir(dir.path, &pol, &d), -EINVAL, "refused");
	ASSERT_TRUE(diag_at(&d, "/p.yaml", 2, 16 + 18 * 64, "too many interface patterns"),
		    "at the 65th");
	sl_diags_free(&d);
	tmp_done(&dir);
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
		ASSERT_EQ(fw_tables_action(&t, 399), s ? SLUICE_ACT_DENY : SLUICE_ACT_ALLOW,
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
	if (compile_dir(&dir, &pol, &t, &d)) {
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
		compiled_free(&pol, &t);
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
	if (compile_dir(&dir, &pol, &t, &d)) {
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
		compiled_free(&pol, &t);
	}
	sl_diags_free(&d);
	tmp_done(&dir);
}

/*
 * fw_config.src_only (the datapath's shortcut when the source decides the
 * first match): exactly the rules below 32 that name a source and nothing
 * else; a rule with a destination, a protocol or a port is not one, nor a
 * rule past 31, nor a rule without a source.
 */
TEST(src_only_rules)
{
	struct sl_diags d = { 0 };
	struct sl_policy pol;
	struct fw_tables t;
	struct tmpdir dir;
	FILE *f;

	tmp_init(&dir);
	f = tmp_open(&dir, "p.yaml");
	fprintf(f, "firewall:\n  stateful: false\n  rules:\n"
		"    - { name: a, action: deny, src: [192.0.2.0/24] }\n"
		"    - { name: b, action: allow, src: [198.51.100.0/24], proto: udp, dport: [53] }\n"
		"    - { name: c, action: deny, src: [203.0.113.0/24], dst: [198.51.100.1] }\n"
		"    - { name: d, action: allow, src: [\"2001:db8::/32\"] }\n"
		"    - { name: e, action: deny, proto: tcp, dport: [22] }\n"
		"    - { name: f, action: deny, src: [203.0.113.0/24], proto: icmp }\n"
		"    - { name: g, action: deny, src: [203.0.113.0/24], proto: tcp, sport: [7] }\n");
	for (int i = 7; i < 34; i++)
		fprintf(f, "    - { name: r%d, action: deny, src: [192.0.2.%d] }\n", i, i);
	fclose(f);
	if (compile_dir(&dir, &pol, &t, &d)) {
		ASSERT_EQ(t.cfg.src_only, 0xffffff89u,
			  "a, d and r7..r31: a source and nothing else, below 32");
		compiled_free(&pol, &t);
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
	if (compile_dir(&dir, &pol, &t, &d)) {
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
		}
		compiled_free(&pol, &t);
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
