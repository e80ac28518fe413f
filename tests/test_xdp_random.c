// SPDX-License-Identifier: GPL-2.0-only
/*
 * The datapath against the oracle: random policies (the generator's model,
 * tests/ref_policy.h, written as YAML and set files and taken the real way:
 * parser, checker, compiler, map writer), random frames (IPv4/IPv6, TCP/UDP/
 * ICMP/other, fragments, VLAN tags, IPv6 extension headers). For every frame
 * the XDP verdict and the rule counter that moved must be what ref_classify
 * and ref_allows say on the model.
 *
 * The seed is printed; SLUICE_SEED=N reproduces a run.
 */
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <time.h>

#include "ref_bridge.h"
#include "testlib.h"
#include "xdp_env.h"

#define NPOLICIES	8
#define NPACKETS	1500	/* per policy */

static struct ref_rng rng;

static uint64_t rnd(void)
{
	return ref_rnd(&rng);
}

static uint32_t rndn(uint32_t n)
{
	return ref_rndn(&rng, n);
}

static bool chance(int percent)
{
	return ref_chance(&rng, percent);
}

/*
 * A random policy (the oracle's model of it, see ref_policy.h) with NRULES
 * rules in one section, written to a fresh dir and applied for real. DIR
 * receives the dir (the caller removes it). Returns 0 or -errno.
 */
static int apply_random(struct xdp_env *env, struct ref_policy *model, int nrules,
			const char *dflt, uint64_t generation, char *dir, size_t dirlen,
			struct fw_tables *t)
{
	struct ref_gen_opts o = {
		.nrules = nrules, .nsecs = 1, .max_sets = 2, .max_set_pfx = 6,
		.max_file_pfx = 12, .v6_percent = 40, .dflt = dflt,
	};
	int err;

	if ((err = ref_gen_policy(&rng, &o, model)))
		return err;
	if ((err = ref_dir_new(dir, dirlen)) || (err = ref_write(model, dir, rnd())) ||
	    (err = xdp_env_apply_dir(env, dir, generation, t)))
		return err;
	return 0;
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
static size_t build_frame(uint8_t *f, const struct ref_pkt *pkt, bool nonfirst, size_t *ip_end)
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
	put16(f + off, pkt->v6 ? 0x86dd : 0x0800);
	off += 2;
	l3 = off;

	if (!pkt->v6) {
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

	if (!pkt->v6)
		put16(f + l3 + 2, (uint16_t)(end - l3));
	else
		put16(f + l3 + 4, (uint16_t)(end - l3 - 40));
	*ip_end = end;
	if (chance(5))
		end += 1 + rndn(8);	/* Ethernet padding past the IP length */
	return end;
}

/* The policy files of DIR, to reproduce a failure by hand. */
static void print_dir(const char *dir)
{
	char cmd[160];

	if (!dir[0])
		return;
	printf("# policy dir %s:\n", dir);
	fflush(stdout);
	snprintf(cmd, sizeof(cmd), "for f in %s/*; do echo \"# == $f\"; sed 's/^/#   /' \"$f\"; done",
		 dir);
	if (system(cmd) != 0)
		printf("# (could not print it)\n");
}

static uint64_t seed_from_env(void)
{
	const char *s = getenv("SLUICE_SEED");

	if (s && *s)
		return strtoull(s, NULL, 0);
	return (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
}

TEST(xdp_random_matches_reference)
{
	uint64_t seed = seed_from_env();
	struct xdp_env env;
	long total = 0, mismatches = 0;

	printf("# seed %llu (SLUICE_SEED=%llu reproduces)\n", (unsigned long long)seed,
	       (unsigned long long)seed);
	rng.s = seed;
	if (!ASSERT_OK(xdp_env_open(&env), "open"))
		goto out;

	for (int pi = 0; pi < NPOLICIES && !mismatches; pi++) {
		static const int nrules_by_policy[NPOLICIES] = { 1, 3, 8, 20, 40, 70, 130, 300 };
		struct sl_counter verdict[SLUICE_HOOK_MAX * SLUICE_VERDICT_SLOTS];
		struct sl_counter rule_before, rule_after;
		struct sl_counter drop[SLUICE_DROP_MAX];
		long want_pass = 0, want_drop = 0, want_rule_drop = 0, want_def_drop = 0;
		struct fw_tables t = { 0 };
		struct ref_policy model;
		char dir[64] = "";
		int err;

		err = apply_random(&env, &model, nrules_by_policy[pi], NULL, pi + 1, dir,
				   sizeof(dir), &t);
		if (!ASSERT_OK(err, "apply random policy") ||
		    !ASSERT_OK(xdp_env_reset_counters(&env), "reset"))
			mismatches = -1;

		for (int n = 0; n < NPACKETS && !err && mismatches >= 0; n++) {
			struct ref_pkt pkt;
			uint8_t frame[512];
			bool nonfirst = chance(12);
			__u32 retval = ~0u, key;
			size_t len, ip_end;
			int want_rule;
			bool allow;

			ref_gen_pkt(&rng, &model, 0, &pkt);
			if (nonfirst) {
				pkt.has_ports = false;
				pkt.sport = pkt.dport = 0;
			}
			len = build_frame(frame, &pkt, nonfirst, &ip_end);
			want_rule = ref_classify(&model, 0, &pkt);
			allow = ref_allows(&model, 0, &pkt);
			/* fw_maps_write gives rule i counter id i */
			key = want_rule < 0 ? SLUICE_CNT_DEFAULT : (__u32)want_rule;

			if (!ASSERT_OK(sl_counter_read(env.rule_fd, key, &rule_before), "rd") ||
			    !ASSERT_OK(xdp_env_run(&env, frame, len, &retval, NULL, NULL), "run") ||
			    !ASSERT_OK(sl_counter_read(env.rule_fd, key, &rule_after), "rd")) {
				mismatches = -1;
				break;
			}
			total++;
			if (retval != (allow ? XDP_PASS : XDP_DROP) ||
			    rule_after.packets != rule_before.packets + 1) {
				struct sl_pkt sp = sl_pkt_of(&pkt);
				char buf[160];

				ref_pkt_str(&pkt, buf, sizeof(buf));
				if (mismatches++ < 10)
					tl_check(false, __FILE__, __LINE__,
						 "policy %d packet %d: %s nonfirst %d len %zu: "
						 "verdict %u want %s, rule %d counter moved by %lld "
						 "(compiled tables say rule %d)",
						 pi, n, buf, nonfirst, len, retval,
						 allow ? "allow" : "deny", want_rule,
						 (long long)(rule_after.packets - rule_before.packets),
						 fw_tables_classify(&t, &sp));
			}
			if (allow) {
				want_pass++;
			} else {
				want_drop++;
				if (want_rule < 0)
					want_def_drop++;
				else
					want_rule_drop++;
			}
		}

		/* Totals: nothing else moved, no parse drop on well-formed frames. */
		if (!err && mismatches >= 0 &&
		    ASSERT_OK(sl_verdicts_read(env.verdict_fd, env.drop_fd, verdict), "rd") &&
		    ASSERT_OK(sl_counters_read(env.drop_fd, SLUICE_DROP_MAX, drop), "rd")) {
			ASSERT_EQ(verdict[SLUICE_VERDICT_PASS].packets, want_pass, "pass total");
			ASSERT_EQ(verdict[SLUICE_VERDICT_DROP].packets, want_drop, "drop total");
			ASSERT_EQ(drop[SLUICE_DROP_POLICY_RULE].packets, want_rule_drop,
				  "policy-rule drops");
			ASSERT_EQ(drop[SLUICE_DROP_POLICY_DEFAULT].packets, want_def_drop,
				  "policy-default drops");
		}
		if (err || mismatches)
			print_dir(dir);
		fw_tables_free(&t);
		ref_policy_free(&model);
		if (dir[0])
			ref_dir_remove(dir);
	}
	ASSERT_EQ(mismatches, 0, "packets where datapath and reference disagree");
	ASSERT_TRUE(total >= 10000 || mismatches, "at least 10000 packets");
	printf("# %ld packets checked\n", total);
out:
	xdp_env_close(&env);
}

/* ---- large policies: rules past 512, large sets in every layout ---- */

/*
 * The large set of a model (set_model): split /24s past the small table, a
 * group each (MID), or the hash (HASH); prefixes of /20../32 each in a /16
 * of its own, packed chunks, hosts and intervals (PACKED); five values per /16, full chunks,
 * enough of them to go flat (FLAT).
 */
enum big_set { BIG_MID, BIG_HASH, BIG_PACKED, BIG_FLAT };

#define BIG_MID_N	600
#define BIG_HASH_N	(SLUICE_GROUPS_DIRECT + 1000)
#define BIG_FLAT_N	(SLUICE_FLAT_MIN + 2000)

static struct ref_prefix pfx4(uint32_t a, unsigned int len)
{
	struct ref_prefix x = { .len = (uint8_t)len };

	a = htonl(a & (len ? ~0u << (32 - len) : 0));
	memcpy(x.addr, &a, 4);
	return x;
}

/*
 * Rule I: narrow, as rules of a long policy are: a prefix of 10/8 from /24
 * to /32 (and now and then 2001:db8:7::/48), TCP or UDP, a port or a few.
 * Packets aimed at a deep rule get there instead of an early broad one.
 */
static int narrow_rule(struct ref_rule *r, int i)
{
	snprintf(r->name, sizeof(r->name), "r%d", i);
	r->allow = chance(50);
	r->src.pfx = calloc(2, sizeof(*r->src.pfx));
	r->dport = calloc(1, sizeof(*r->dport));
	if (!r->src.pfx || !r->dport)
		return -ENOMEM;
	r->src.pfx[r->src.npfx++] = pfx4(0x0a000000u | rndn(1u << 24), 24 + rndn(9));
	if (chance(30))
		r->src.pfx[r->src.npfx++] = (struct ref_prefix){
			.v6 = true, .len = 48, .addr = { 0x20, 0x01, 0x0d, 0xb8, 0, 7 } };
	r->protos = chance(50) ? REF_TCP : REF_UDP;
	r->dport[0].lo = (uint16_t)(1 + rndn(60000));
	r->dport[0].hi = (uint16_t)(r->dport[0].lo + rndn(4));
	r->ndport = 1;
	return 0;
}

/* A model of one section with NRULES narrow rules. */
static int rules_model(struct ref_policy *m, int nrules)
{
	struct ref_section *sec;

	memset(m, 0, sizeof(*m));
	m->secs = sec = calloc(1, sizeof(*sec));
	if (!sec)
		return -ENOMEM;
	m->nsecs = 1;
	snprintf(sec->ifaces[sec->nifaces++], sizeof(sec->ifaces[0]), "sl0-*");
	sec->allow_default = chance(50);
	sec->rules = calloc((size_t)nrules, sizeof(*sec->rules));
	if (!sec->rules)
		return -ENOMEM;
	for (; sec->nrules < (size_t)nrules; sec->nrules++)
		if (narrow_rule(&sec->rules[sec->nrules], (int)sec->nrules))
			return -ENOMEM;
	return ref_finish(m);
}

/* Append prefix X to the file part of set S (grown by doubling). */
static int set_add(struct ref_set *s, struct ref_prefix x)
{
	/* capacity: 64, then doubled each time a power of two is reached */
	if (!s->nfile || (s->nfile >= 64 && !(s->nfile & (s->nfile - 1)))) {
		struct ref_prefix *v = realloc(s->file_pfx, (s->nfile ? 2 * s->nfile : 64) *
							     sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->file_pfx = v;
	}
	s->file_pfx[s->nfile++] = x;
	return 0;
}

/*
 * A model with set "big" of KIND (and "big2" for FLAT) and 40 rules: rule 0
 * denies TCP from @big, rule 1 (FLAT) allows UDP from @big2, the last but
 * one allows to @big, the others narrow.
 */
static int set_model(struct ref_policy *m, enum big_set kind)
{
	static const uint8_t packed_lens[] = { 20, 24, 24, 28, 30, 32, 32 };
	static const uint8_t long_lens[] = { 26, 28, 30, 31, 32, 32, 32 };
	uint32_t n = kind == BIG_MID ? BIG_MID_N : kind == BIG_HASH ? BIG_HASH_N : BIG_FLAT_N;
	int nrules = 40, err = 0;
	struct ref_section *sec;
	struct ref_set *big, *big2;

	memset(m, 0, sizeof(*m));
	m->sets = calloc(2, sizeof(*m->sets));
	m->secs = sec = calloc(1, sizeof(*sec));
	if (!m->sets || !sec)
		return -ENOMEM;
	big = &m->sets[0];
	big2 = &m->sets[1];
	m->nsets = kind == BIG_FLAT ? 2 : 1;
	snprintf(big->name, sizeof(big->name), "big");
	snprintf(big2->name, sizeof(big2->name), "big2");
	big->in_file = big2->in_file = true;
	for (uint32_t i = 0; i < n && !err; i++) {
		uint32_t h16 = (20u + (i >> 8)) << 24 | (i & 255) << 16;

		switch (kind) {
		case BIG_MID:
		case BIG_HASH:
			err = set_add(big, pfx4(0x0a000000u | i << 8 | rndn(256),
						long_lens[rndn(sizeof(long_lens))]));
			break;
		case BIG_PACKED:
			err = set_add(big, pfx4(h16 | rndn(65536),
						packed_lens[rndn(sizeof(packed_lens))]));
			break;
		case BIG_FLAT:
			err = set_add(big, pfx4(h16, 24)) ?: set_add(big, pfx4(h16 | 2 << 8, 24)) ?:
			      set_add(big, pfx4(h16 | 4 << 8 | rndn(256),
						long_lens[rndn(sizeof(long_lens))])) ?:
			      set_add(big2, pfx4(h16 | 1 << 8, 24)) ?:
			      set_add(big2, pfx4(h16 | 2 << 8, 24));
			break;
		}
	}
	/*
	 * PACKED: and 300 /16s of 12 to 30 prefixes each (up to 61 places where
	 * the class changes: the intervals of a /16 in two cache lines)
	 */
	for (uint32_t i = 0; kind == BIG_PACKED && i < 300 && !err; i++) {
		uint32_t h16 = (160u + i / 256) << 24 | (i & 255) << 16, np = 12 + rndn(19);

		for (uint32_t j = 0; j < np && !err; j++)
			err = set_add(big, pfx4(h16 | rndn(65536), packed_lens[1 + rndn(6)]));
	}
	/*
	 * PACKED: 20 /16s of 6 runs of adjacent prefixes (/32 /31 /30 /29 /28
	 * from an odd address: 30 prefixes, 12 places where the class changes,
	 * intervals in a line), and 20 /16s whole but for two addresses (30
	 * prefixes of the set, 2 of the rest: prefixes of the class outside)
	 */
	for (uint32_t i = 0; kind == BIG_PACKED && i < 40 && !err; i++) {
		uint32_t h16 = (170u + i / 20) << 24 | (i % 20) << 16;

		for (uint32_t r = 0; r < 6 && i < 20 && !err; r++)
			for (uint32_t l = 0; l < 5 && !err; l++)
				err = set_add(big, pfx4(h16 | r << 12 | 1u << l, 32 - l));
		for (uint32_t l = 0; l < 15 && i >= 20 && !err; l++)
			err = set_add(big, pfx4(h16 | 1u << l, 32 - l)) ?:
			      set_add(big, pfx4(h16 | 0x8000 | 1u << l, 32 - l));
	}
	/* 40 hosts of one /24: a group */
	for (uint32_t i = 0; i < 40 && !err; i++)
		err = set_add(big, pfx4(0x0afffe00u | i * 6, 32));
	m->nsecs = 1;
	snprintf(sec->ifaces[sec->nifaces++], sizeof(sec->ifaces[0]), "sl0-*");
	sec->allow_default = chance(50);
	sec->rules = calloc((size_t)nrules, sizeof(*sec->rules));
	if (err || !sec->rules)
		return -ENOMEM;
	for (int i = 0; i < nrules; i++, sec->nrules++) {
		struct ref_rule *r = &sec->rules[i];
		struct ref_list *l = i == nrules - 2 ? &r->dst : &r->src;

		if (i == 0 || i == nrules - 2 || (i == 1 && kind == BIG_FLAT)) {
			snprintf(r->name, sizeof(r->name), "big%d", i);
			l->sets = calloc(1, sizeof(int));
			if (!l->sets)
				return -ENOMEM;
			l->sets[l->nsets++] = i == 1;
			r->allow = i != 0;
			r->protos = i == 0 ? REF_TCP : i == 1 ? REF_UDP : 0;
			continue;
		}
		if (narrow_rule(r, i))
			return -ENOMEM;
	}
	return ref_finish(m);
}

/* An address of family V6 in one of the N prefixes of V (host bits random). */
static void addr_in(const struct ref_prefix *x, uint8_t *out)
{
	for (unsigned int i = 0; i < 16; i++) {
		int keep = (int)x->len - (int)i * 8;
		uint8_t r = (uint8_t)rnd();

		out[i] = keep >= 8 ? x->addr[i] : keep > 0 ?
			 (uint8_t)((x->addr[i] & (0xff << (8 - keep))) | (r & (0xff >> keep))) : r;
	}
	if (!x->v6)
		memset(out + 4, 0, 12);
}

/* A prefix of family V6 from list L (its own or its sets'); NULL: none. */
static const struct ref_prefix *list_pick(const struct ref_policy *m, const struct ref_list *l,
					  bool v6)
{
	for (int tries = 0; tries < 16; tries++) {
		size_t k = rndn((uint32_t)(l->npfx + l->nsets));
		const struct ref_prefix *x;

		if (k < l->npfx) {
			x = &l->pfx[k];
		} else {
			const struct ref_set *s = &m->sets[l->sets[k - l->npfx]];
			size_t j = rndn((uint32_t)(s->npfx + s->nfile));

			x = j < s->npfx ? &s->pfx[j] : &s->file_pfx[j - s->npfx];
		}
		if (x->v6 == v6)
			return x;
	}
	return NULL;
}

/*
 * PKT aimed at rule R of M: its addresses, protocol and ports inside R's
 * (what else it matches first, the oracle says). Unchanged when R's lists
 * give no family for both addresses.
 */
static void aim_rule(const struct ref_policy *m, const struct ref_rule *r, struct ref_pkt *pkt)
{
	bool v6 = chance(40);

	for (int tries = 0; tries < 2; tries++, v6 = !v6) {
		const struct ref_prefix *s = NULL, *d = NULL;

		if ((r->src.npfx || r->src.nsets) && !(s = list_pick(m, &r->src, v6)))
			continue;
		if ((r->dst.npfx || r->dst.nsets) && !(d = list_pick(m, &r->dst, v6)))
			continue;
		if (v6 != pkt->v6)
			for (int i = 0; i < 16; i++)
				pkt->src[i] = (uint8_t)rnd(), pkt->dst[i] = (uint8_t)rnd();
		pkt->v6 = v6;
		if (!v6) {
			memset(pkt->src + 4, 0, 12);
			memset(pkt->dst + 4, 0, 12);
		}
		if (s)
			addr_in(s, pkt->src);
		if (d)
			addr_in(d, pkt->dst);
		if (r->protos & (REF_TCP | REF_UDP))
			pkt->proto = r->protos & REF_TCP && (!(r->protos & REF_UDP) || chance(50)) ?
				     6 : 17;
		pkt->has_ports = pkt->proto == 6 || pkt->proto == 17;
		if (pkt->has_ports && r->ndport) {
			const struct ref_ports *pr = &r->dport[rndn((uint32_t)r->ndport)];

			pkt->dport = (uint16_t)(pr->lo + rndn(pr->hi - pr->lo + 1u));
		}
		return;
	}
}

/*
 * NPKT frames through model M (applied as generation GEN from DIR): half
 * from ref_gen_pkt, half aimed at a random rule; verdict and rule counter as
 * the oracle says. *DEEP: first matches past rule 512.
 */
/*
 * PKT through the datapath of ENV against the oracle (model M, compiled as
 * T): the verdict, and the counter of the rule the oracle names. Counts in
 * *DEEP the first matches past the first rule words. 0: agreed, 1: not,
 * -1: the run failed.
 */
static int check_pkt(struct xdp_env *env, const struct ref_policy *m, const struct fw_tables *t,
		     const struct ref_pkt *pkt, bool nonfirst, int n, long *deep)
{
	struct sl_counter before, after;
	uint8_t frame[512];
	__u32 retval = ~0u, key;
	size_t len, ip_end;
	bool allow;
	int want;

	len = build_frame(frame, pkt, nonfirst, &ip_end);
	want = ref_classify(m, 0, pkt);
	allow = ref_allows(m, 0, pkt);
	*deep += want >= SLUICE_SMALL_RULES;
	key = want < 0 ? SLUICE_CNT_DEFAULT : (__u32)want;
	if (sl_counter_read(env->rule_fd, key, &before) ||
	    xdp_env_run(env, frame, len, &retval, NULL, NULL) ||
	    sl_counter_read(env->rule_fd, key, &after))
		return -1;
	if (retval != (allow ? XDP_PASS : XDP_DROP) || after.packets != before.packets + 1) {
		struct sl_pkt sp = sl_pkt_of(pkt);
		char buf[160];

		ref_pkt_str(pkt, buf, sizeof(buf));
		tl_check(false, __FILE__, __LINE__, "packet %d: %s nonfirst %d: verdict %u "
			 "want %s, rule %d counter moved by %lld (compiled tables say rule %d)",
			 n, buf, nonfirst, retval, allow ? "allow" : "deny", want,
			 (long long)(after.packets - before.packets), fw_tables_classify(t, &sp));
		return 1;
	}
	return 0;
}

/*
 * A TCP packet from IPv4 address SRC (host order) to 198.51.100.1, ports
 * random: the edges of a set's prefixes, where a layout that cuts a /16
 * into elements (hosts, prefixes, intervals) would go wrong first.
 */
static void edge_pkt(uint32_t src, struct ref_pkt *pkt)
{
	uint32_t a = htonl(src), d = htonl(0xc6336401);

	memset(pkt, 0, sizeof(*pkt));
	pkt->proto = 6;
	pkt->has_ports = true;
	pkt->sport = (uint16_t)(1 + rndn(65535));
	pkt->dport = (uint16_t)(1 + rndn(65535));
	memcpy(pkt->src, &a, 4);
	memcpy(pkt->dst, &d, 4);
}

static long check_model(struct xdp_env *env, const struct ref_policy *m, const char *dir,
			uint64_t gen, int npkt, long *deep)
{
	const struct ref_section *sec = &m->secs[0];
	struct fw_tables t = { 0 };
	long bad = 0;
	int r;

	if (!ASSERT_OK(xdp_env_apply_dir(env, dir, gen, &t), "apply"))
		return -1;
	for (int n = 0; n < npkt && bad < 10; n++) {
		struct ref_pkt pkt;
		bool nonfirst = chance(12);

		ref_gen_pkt(&rng, m, 0, &pkt);
		if (n % 4 == 0 && sec->nrules > SLUICE_SMALL_RULES)
			/* a fixed share at the rules past the first words, so that
			 * every seed reaches them (a random aim left it to chance) */
			aim_rule(m, &sec->rules[SLUICE_SMALL_RULES +
				 rndn((uint32_t)(sec->nrules - SLUICE_SMALL_RULES))], &pkt);
		else if (chance(50))
			aim_rule(m, &sec->rules[rndn((uint32_t)sec->nrules)], &pkt);
		if (nonfirst) {
			pkt.has_ports = false;
			pkt.sport = pkt.dport = 0;
		}
		r = check_pkt(env, m, &t, &pkt, nonfirst, n, deep);
		if (r < 0)
			return -1;
		bad += r;
	}
	/* the first and last address of prefixes of the first set, and either side */
	for (int n = 0; m->nsets && m->sets[0].nfile && n < npkt && bad < 10; n++) {
		const struct ref_prefix *x = &m->sets[0].file_pfx[rndn((uint32_t)m->sets[0].nfile)];
		uint32_t a, last;
		struct ref_pkt pkt;

		if (x->v6 || !x->len)
			continue;
		memcpy(&a, x->addr, 4);
		a = ntohl(a);
		last = a + (uint32_t)((1ull << (32 - x->len)) - 1);
		edge_pkt(n % 4 == 0 ? a - 1 : n % 4 == 1 ? a : n % 4 == 2 ? last : last + 1, &pkt);
		r = check_pkt(env, m, &t, &pkt, false, n, deep);
		if (r < 0)
			return -1;
		bad += r;
	}
	if (getenv("SLUICE_VERBOSE")) {
		uint32_t kinds[SLUICE_L1_KIND_MASK + 1] = { 0 };

		for (uint32_t h = 0; t.v4[0].l1 && h < 65536; h++) {
			uint32_t e = t.v4[0].l1[h / SLUICE_L1_BLK].e[h % SLUICE_L1_BLK];

			if (e & SLUICE_L1_FLAG)
				kinds[e >> SLUICE_L1_KIND_SHIFT & SLUICE_L1_KIND_MASK]++;
		}
		printf("# %u rules, classes %s, src IPv4 mode %u (%u groups+chunks, %u+%u packed, "
		       "%u hash buckets, small %u; /16s by kind: full %u, p1 %u, p2 %u, small %u, "
		       "intervals %u, hosts %u, intervals in a line %u, prefixes %u)\n",
		       t.cfg.nrules,
		       t.cfg.row ? "large" : "small", t.cfg.dir[0].v4, t.v4[0].nt8, t.v4[0].np1,
		       t.v4[0].np2, t.v4[0].nlh, t.cfg.dir[0].small, kinds[SL_CHUNK_FULL],
		       kinds[SL_CHUNK_P1], kinds[SL_CHUNK_P2], kinds[SL_CHUNK_SMALL],
		       kinds[SL_CHUNK_IV], kinds[SL_CHUNK_HOSTS], kinds[SL_CHUNK_IV1],
		       kinds[SL_CHUNK_PFX]);
	}
	fw_tables_free(&t);
	return bad;
}

/*
 * The layouts of large policies against the oracle: rules past 512 (the
 * classes' summaries, up to the 16,384 a policy may hold) and large sets
 * (groups named by the /24 entry, the hash, packed chunks, hosts, prefixes
 * and intervals, the flat DIR-24 table), random packets and the edges of the
 * set's prefixes.
 */
TEST(xdp_random_large_policies)
{
	static const struct { int nrules; int big; } pols[] = {
		{ 600, -1 }, { SLUICE_MAX_RULES, -1 }, { 0, BIG_MID }, { 0, BIG_HASH },
		{ 0, BIG_PACKED }, { 0, BIG_FLAT },
	};
	uint64_t seed = seed_from_env();
	long bad = 0, deep[2] = { 0, 0 };
	struct xdp_env env;

	printf("# seed %llu (SLUICE_SEED=%llu reproduces)\n", (unsigned long long)seed,
	       (unsigned long long)seed);
	rng.s = seed ^ 0x6c61726765ull;
	if (!ASSERT_OK(xdp_env_open(&env), "open"))
		return;
	for (size_t i = 0; i < sizeof(pols) / sizeof(pols[0]) && !bad; i++) {
		struct ref_policy m;
		char dir[64] = "";
		int err = pols[i].big < 0 ? rules_model(&m, pols[i].nrules) :
					    set_model(&m, (enum big_set)pols[i].big);

		if (!ASSERT_OK(err, "model") || !ASSERT_OK(ref_dir_new(dir, sizeof(dir)), "dir") ||
		    !ASSERT_OK(ref_write(&m, dir, rnd()), "write")) {
			bad = -1;
		} else {
			bad = check_model(&env, &m, dir, i + 1, 1500, &deep[i == 1]);
			if (bad)
				print_dir(dir);
		}
		if (dir[0])
			ref_dir_remove(dir);
		ref_policy_free(&m);
	}
	ASSERT_EQ(bad, 0, "packets where datapath and oracle disagree");
	/* the words past the first of a large policy are where its first matches are */
	ASSERT_TRUE(deep[0] >= 150 && deep[1] >= 150, "first matches deep in the large policies");
	printf("# first matches past rule 512: %ld of 600 rules, %ld of 16384\n", deep[0], deep[1]);
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
	uint64_t base = seed_from_env();
	struct sl_counter before[SLUICE_DROP_MAX], after[SLUICE_DROP_MAX];
	struct sl_counter pass0, pass1;
	struct ref_policy model = { 0 };
	struct xdp_env env;
	char dir[64] = "";
	long bad = 0, cut = 0;

	printf("# seed %llu (SLUICE_SEED=%llu reproduces)\n", (unsigned long long)base,
	       (unsigned long long)base);
	rng.s = base ^ 0x7275636eull;
	if (!ASSERT_OK(xdp_env_open(&env), "open"))
		goto out;
	/* default allow, so that a misread frame would pass and show */
	if (!ASSERT_OK(apply_random(&env, &model, 20, "allow", 1, dir, sizeof(dir), NULL),
		       "apply")) {
		print_dir(dir);
		goto out;
	}

	for (int n = 0; n < 4000 && bad < 10; n++) {
		struct ref_pkt pkt;
		uint8_t frame[512];
		bool nonfirst = chance(12);
		size_t len, ip_end, l;
		__u32 retval, key = 0;

		ref_gen_pkt(&rng, &model, 0, &pkt);
		pkt.proto = protos[rndn(sizeof(protos))];
		pkt.has_ports = (pkt.proto == 6 || pkt.proto == 17) && !nonfirst;
		if (!pkt.has_ports)
			pkt.sport = pkt.dport = 0;
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
			bool allow = ref_allows(&model, 0, &pkt);

			if (!tl_check(retval == (allow ? XDP_PASS : XDP_DROP),
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
			      "frame %d (IPv%d proto %u nonfirst %d) cut to %zu of %zu bytes "
			      "(IP ends at %zu): verdict %u, parse drop %s", n,
			      pkt.v6 ? 6 : 4, pkt.proto, nonfirst, l, len, ip_end,
			      retval, key < SLUICE_DROP_MAX ? "counted" : "missing"))
			bad++;
	}
	ASSERT_EQ(bad, 0, "truncated frames misread");
	ASSERT_TRUE(cut >= 3000, "enough frames cut inside the IP packet");
	printf("# %ld frames cut inside the IP packet, %ld misread\n", cut, bad);
out:
	ref_policy_free(&model);
	if (dir[0])
		ref_dir_remove(dir);
	xdp_env_close(&env);
}
