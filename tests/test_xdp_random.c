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
		struct sl_counter rule_before, rule_after, verdict[SLUICE_VERDICT_MAX];
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
			key = want_rule < 0 ? SLUICE_RULE_DEFAULT : (__u32)want_rule;

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
		    ASSERT_OK(sl_counters_read(env.verdict_fd, SLUICE_VERDICT_MAX, verdict), "rd") &&
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
