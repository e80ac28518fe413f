// SPDX-License-Identifier: GPL-2.0-only
/*
 * Egress policy entries: the model a valid `egress` key gives (entries
 * merged across files, cgroup paths, defaults, rule names, backstop), every
 * mistake refused at its FILE:LINE:COL, SPEC.md's example accepted, and the
 * compiled tables of an entry agreeing with the test oracle
 * (tests/ref_policy.h) on random calls, whatever their source address and
 * port (a socket's own).
 * The socket hooks themselves need real sockets: netns-tests/test_egress.py.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"
#include "fw_tables.h"
#include "policy_int.h"
#include "ref_bridge.h"
#include "ref_policy.h"

/* The cgroup2 mount of this machine: the hybrid layout's, else /sys/fs/cgroup. */
static const char *cg_root(void)
{
	return access("/sys/fs/cgroup/unified/cgroup.procs", F_OK) ? "/sys/fs/cgroup" :
	       "/sys/fs/cgroup/unified";
}

struct eg_fx {
	char dir[64];
	struct sl_policy pol;
	struct sl_diags diags;
};

static void put(struct eg_fx *f, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void put(struct eg_fx *f, const char *name, const char *fmt, ...)
{
	char path[128];
	va_list ap;
	FILE *fp;

	if (!f->dir[0]) {
		snprintf(f->dir, sizeof(f->dir), "/tmp/sla-egress-XXXXXX");
		if (!mkdtemp(f->dir))
			exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	fp = fopen(path, "w");
	if (!fp)
		exit(1);
	va_start(ap, fmt);
	vfprintf(fp, fmt, ap);
	va_end(ap);
	fclose(fp);
}

static int unlink_one(const char *p, const struct stat *st, int fl, struct FTW *ftw)
{
	(void)st;
	(void)fl;
	(void)ftw;
	return remove(p);
}

static void done(struct eg_fx *f)
{
	policy_free(&f->pol);
	sl_diags_free(&f->diags);
	if (f->dir[0])
		nftw(f->dir, unlink_one, 8, FTW_DEPTH | FTW_PHYS);
}

static int load(struct eg_fx *f)
{
	return policy_load_dir(f->dir, &f->pol, &f->diags);
}

/* Is there a diagnostic at FILE (name in the fixture dir):LINE:COL containing TEXT? */
static bool has_diag(const struct eg_fx *f, const char *file, int line, int col, const char *text)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", f->dir, file);
	for (size_t i = 0; i < f->diags.n; i++) {
		const struct sl_diag *d = &f->diags.v[i];

		if (d->file && !strcmp(d->file, path) && d->line == line && d->col == col &&
		    strstr(d->msg, text))
			return true;
	}
	printf("# no %s:%d:%d \"%s\" among:\n", file, line, col, text);
	for (size_t i = 0; i < f->diags.n; i++)
		printf("#   %s:%d:%d: %s\n", f->diags.v[i].file, f->diags.v[i].line,
		       f->diags.v[i].col, f->diags.v[i].msg);
	return false;
}

TEST(egress_model)
{
	struct eg_fx f = {};
	const struct sl_egress *a, *b;

	put(&f, "10-a.yaml",
	    "sets:\n"
	    "  web: { prefixes: [198.51.100.0/24] }\n"
	    "egress:\n"
	    "  - name: app1\n"
	    "    cgroup: %s/app1/\n"
	    "    default: deny\n"
	    "    rules:\n"
	    "      - { action: allow, dst: [192.0.2.0/24], proto: tcp, dport: [443] }\n"
	    "      - { name: web, action: allow, dst: [\"@web\"], proto: [tcp, udp], "
	    "dport: [\"8000-8080\"] }\n"
	    "      - { action: deny, proto: icmp }\n", cg_root());
	put(&f, "20-b.yaml",
	    "egress:\n"
	    "  - name: app2\n"
	    "    cgroup: %s/app2/sub\n"
	    "    backstop: { interfaces: [\"veth*\"], src: [192.0.2.5, \"2001:db8::5\"] }\n",
	    cg_root());
	if (!ASSERT_OK(load(&f), "load"))
		goto out;
	if (!ASSERT_EQ(f.pol.negs, 2, "entries from both files"))
		goto out;
	a = &f.pol.egs[0];
	b = &f.pol.egs[1];
	ASSERT_STREQ(a->name, "app1", "name");
	ASSERT_STRSTR(a->cgroup, "/app1", "cgroup");
	ASSERT_EQ(a->cgroup[strlen(a->cgroup) - 1] != '/', 1, "trailing slash dropped");
	ASSERT_EQ(a->fw.default_action, SLUICE_ACT_DENY, "default deny");
	ASSERT_EQ(b->fw.default_action, SLUICE_ACT_ALLOW, "default allow when omitted");
	ASSERT_EQ(a->fw.nrules, 3, "rules");
	ASSERT_STREQ(a->fw.rules[0].name, "app1.0", "a rule without a name gets ENTRY.INDEX");
	ASSERT_STREQ(a->fw.rules[1].name, "web", "a named rule keeps its name");
	ASSERT_STREQ(a->fw.rules[2].name, "app1.2", "index counts every rule");
	ASSERT_EQ(a->fw.rules[1].protos, SL_PROTO_TCP | SL_PROTO_UDP, "protos");
	ASSERT_EQ(a->fw.rules[1].dport[0].lo, 8000, "range lo");
	ASSERT_EQ(a->fw.rules[1].dport[0].hi, 8080, "range hi");
	ASSERT_TRUE(a->fw.rules[1].dst[0].set != NULL, "@web resolved");
	ASSERT_EQ(a->fw.rules[0].nsrc + a->fw.rules[0].nsport, 0, "no src, no sport");
	ASSERT_EQ(b->nbs_ifaces, 1, "backstop interfaces");
	ASSERT_EQ(b->nbs_src, 2, "backstop sources");
	ASSERT_EQ(f.pol.nfws, 0, "no firewall section");
	ASSERT_EQ(policy_find_egress(&f.pol, "app2"), 1, "found by name");
	ASSERT_TRUE(policy_backstop_match(&f.pol, "vethab12"), "pattern matches");
	ASSERT_FALSE(policy_backstop_match(&f.pol, "eth0"), "pattern does not match");
out:
	done(&f);
}

TEST(egress_errors_located)
{
	struct eg_fx f = {};
	const char *r = cg_root();

	put(&f, "10-a.yaml",
	    "egress:\n"
	    "  - name: one\n"					/* 2 */
	    "    cgroup: %s/one\n"
	    "    default: maybe\n"				/* 4 */
	    "    rules:\n"
	    "      - { action: allow, src: [192.0.2.1] }\n"	/* 6 */
	    "      - { action: allow, proto: tcp, sport: [1] }\n"
	    "      - { action: allow, dport: [53] }\n"		/* 8 */
	    "      - { action: allow, dst: [\"@nope\"] }\n"
	    "      - { action: allow, daddr: [1.2.3.4] }\n"	/* 10 */
	    "  - name: two\n"
	    "    cgroup: relative/path\n"			/* 12 */
	    "  - name: three\n"
	    "    cgroup: %s/a/../b\n"				/* 14 */
	    "  - cgroup: %s/four\n"				/* 15 */
	    "  - name: five\n"
	    "    cgroup: /tmp/sla-not-a-cgroup\n"		/* 17 */
	    "  - name: six\n"
	    "    cgroup: %s/one\n"				/* 19 */
	    "    backstop: { interfaces: [\"veth*\"] }\n"	/* 20 */
	    "  - name: seven\n"
	    "    backstop: { interfaces: [v], src: [192.0.2.9] }\n", r, r, r, r);
	put(&f, "20-b.yaml",
	    "egress:\n"
	    "  - name: one\n"					/* 2 */
	    "    cgroup: %s/other\n"
	    "    backstop: { interfaces: [v], src: [192.0.2.9] }\n"	/* 4 */
	    "  - name: eight\n"
	    "    cgroup: %s/eight\n"				/* 6 */
	    "    backstop: { interfaces: [v], src: [192.0.2.0/24] }\n"
	    "egress2: []\n", r, r);				/* 8 */
	ASSERT_EQ(load(&f), -EINVAL, "refused");
	ASSERT_TRUE(has_diag(&f, "10-a.yaml", 4, 14, "unknown default \"maybe\""), "default");
	ASSERT_TRUE(has_diag(&f, "10-a.yaml", 6, 26, "egress rules have no src"), "src");
	ASSERT_TRUE(has_diag(&f, "10-a.yaml", 7, 38, "egress rules have no sport"), "sport");
	ASSERT_TRUE(has_diag(&f, "10-a.yaml", 8, 26, "dport needs proto tcp, udp"), "dport");
	ASSERT_TRUE(has_diag(&f, "10-a.yaml", 9, 32, "unknown set \"@nope\""), "set");
	ASSERT_TRUE(has_diag(&f, "10-a.yaml", 10, 26, "unknown key \"daddr\" in an egress "
			     "rule; allowed keys: name, action, dst, proto, dport"), "key");
	ASSERT_TRUE(has_diag(&f, "10-a.yaml", 12, 13, "is not an absolute path"), "relative");
	ASSERT_TRUE(has_diag(&f, "10-a.yaml", 14, 13, "\"..\" component"), "dotdot");
	ASSERT_TRUE(has_diag(&f, "10-a.yaml", 15, 5, "egress entry has no name"), "no name");
	ASSERT_TRUE(has_diag(&f, "10-a.yaml", 17, 13, "is not in a cgroup v2 hierarchy"),
		    "not cgroup2");
	ASSERT_TRUE(has_diag(&f, "10-a.yaml", 19, 13, "has two egress entries"), "dup cgroup");
	ASSERT_TRUE(has_diag(&f, "10-a.yaml", 20, 5, "backstop has no src"), "no src");
	ASSERT_TRUE(has_diag(&f, "10-a.yaml", 21, 5, "has no cgroup"), "no cgroup");
	ASSERT_TRUE(has_diag(&f, "20-b.yaml", 2, 11, "duplicate egress name \"one\": also "
			     "defined at"), "dup name");
	ASSERT_TRUE(has_diag(&f, "20-b.yaml", 4, 40, "backstop src 192.0.2.9/32 is also "
			     "egress \"seven\"'s"), "dup source");
	ASSERT_TRUE(has_diag(&f, "20-b.yaml", 8, 1, "unknown key \"egress2\""), "top key");
	ASSERT_TRUE(has_diag(&f, "20-b.yaml", 7, 40, "backstop src 192.0.2.0/24 overlaps egress "
			     "\"seven\"'s 192.0.2.9/32"), "overlapping source");
	done(&f);
}

/*
 * A cgroup is named by its path: a pattern (as interfaces take) named a
 * cgroup "pod*" that never appears, and the entry waited for it without a
 * word. A systemd unit's escaped name ('\\x2d') is a path, no pattern.
 */
TEST(egress_cgroup_pattern_refused)
{
	struct eg_fx f = {};
	const char *r = cg_root();

	put(&f, "10-a.yaml",
	    "egress:\n"
	    "  - { name: one, cgroup: %s/kubepods/pod* }\n"
	    "  - { name: two, cgroup: \"%s/app?\" }\n"
	    "  - { name: three, cgroup: \"%s/app[12]\" }\n"
	    "  - { name: four, cgroup: \"%s/system-systemd\\\\x2dfsck.slice\" }\n", r, r, r, r);
	ASSERT_EQ(load(&f), -EINVAL, "refused");
	for (int line = 2; line <= 4; line++)
		ASSERT_TRUE(has_diag(&f, "10-a.yaml", line, line == 4 ? 28 : 26, "is a pattern; a "
				     "cgroup is named by its path"), "pattern");
	ASSERT_EQ(f.diags.n, 3, "the escaped systemd name is no pattern");
	done(&f);
}

/*
 * An empty backstop list says what to write instead: "omit the key to
 * match any" led to "backstop has no interfaces" (no src).
 */
TEST(egress_backstop_empty_lists)
{
	struct eg_fx f = {};
	const char *r = cg_root();

	put(&f, "10-a.yaml",
	    "egress:\n"
	    "  - name: one\n"
	    "    cgroup: %s/one\n"
	    "    backstop: { interfaces: [], src: [192.0.2.5] }\n"	/* 4 */
	    "  - name: two\n"
	    "    cgroup: %s/two\n"
	    "    backstop: { interfaces: [v], src: [] }\n", r, r);	/* 7 */
	ASSERT_EQ(load(&f), -EINVAL, "refused");
	ASSERT_TRUE(has_diag(&f, "10-a.yaml", 4, 29, "interfaces: empty list attaches the "
			     "backstop nowhere; omit backstop instead"), "interfaces");
	ASSERT_TRUE(has_diag(&f, "10-a.yaml", 7, 39, "src: empty list gives the backstop no "
			     "packet to judge (it finds the entry by source address); omit "
			     "backstop instead"), "src");
	done(&f);
}

/*
 * Sections and egress entries take a policy slot each, and a reload writes
 * the next policy beside the one in force: one section and 31 entries
 * load, the 32nd entry is an error at its place. (256 entries passed the
 * check and the agent found no free slot past ~56, or at its next reload.)
 */
TEST(egress_policy_slots_limit)
{
	const char *r = cg_root();

	for (int n = 31; n <= 32; n++) {
		struct eg_fx f = {};
		char *text = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&text, &len);

		fprintf(m, "firewall:\n  interfaces: [eth0]\negress:\n");	/* 1-3 */
		for (int i = 0; i < n; i++)	/* entry i at line 4 + i */
			fprintf(m, "  - { name: e%d, cgroup: %s/e%d, default: deny }\n", i, r, i);
		fclose(m);
		put(&f, "10-a.yaml", "%s", text);
		free(text);
		if (n == 31) {
			ASSERT_OK(load(&f), "1 section and 31 entries: 32 slots");
		} else {
			ASSERT_EQ(load(&f), -EINVAL, "33 slots: refused");
			ASSERT_TRUE(has_diag(&f, "10-a.yaml", 4 + 31, 13, "too many policy slots: 1 "
					     "firewall sections and 32 egress entries"), "at e31");
		}
		done(&f);
	}
}

TEST(egress_empty_and_shapes)
{
	struct eg_fx f = {};

	put(&f, "10.yaml",
	    "egress: []\n");
	put(&f, "20.yaml",
	    "egress:\n"
	    "  name: x\n");
	put(&f, "30.yaml",
	    "egress:\n"
	    "  - 42\n"
	    "  - { name: y, cgroup: [a] , rules: {a: 1} }\n");
	ASSERT_EQ(load(&f), -EINVAL, "refused");
	ASSERT_TRUE(has_diag(&f, "10.yaml", 1, 1, "egress: empty list"), "empty");
	ASSERT_TRUE(has_diag(&f, "20.yaml", 2, 3, "egress must be a list of entries"), "map");
	ASSERT_TRUE(has_diag(&f, "30.yaml", 2, 5, "an egress entry must be a mapping"), "scalar");
	ASSERT_TRUE(has_diag(&f, "30.yaml", 3, 24, "cgroup must be a cgroup v2 path"), "list");
	ASSERT_TRUE(has_diag(&f, "30.yaml", 3, 37, "rules must be a list of rules"), "rules");
	done(&f);
}

/*
 * SPEC.md's whole example, as it is (its cgroup path is a cgroup v2 path
 * here), but the firewall's `hook:` key, which comes with the firewall's tc
 * hook (issue 9): add it back when that lands.
 */
TEST(egress_spec_example)
{
	struct eg_fx f = {};

	put(&f, "blocklist.txt", "192.0.2.128/25\n");
	put(&f, "10-spec.yaml",
	    "sets:                        # named prefix lists, usable wherever a CIDR list is\n"
	    "  blocklist:\n"
	    "    prefixes: [198.51.100.0/24, 2001:db8:bad::/48]\n"
	    "    file: blocklist.txt      # optional: one prefix per line, '#' comments; relative to the policy dir\n"
	    "\n"
	    "firewall:                    # XDP ingress on NICs\n"
	    "  interfaces: [eth0, \"veth*\"]   # names or glob patterns; interfaces appearing later are attached too\n"
	    "  default: deny              # allow | deny, for packets no rule matches (default: allow)\n"
	    "  stateful: true             # packets of tracked connections pass before rules (default: true)\n"
	    "  rules:                     # first match wins\n"
	    "    - name: drop-bad\n"
	    "      action: deny           # allow | deny\n"
	    "      src: [\"@blocklist\"]    # CIDRs, addresses or @set; omitted = any\n"
	    "    - name: ssh\n"
	    "      action: allow\n"
	    "      src: [203.0.113.0/24]\n"
	    "      dst: [192.0.2.1]\n"
	    "      proto: tcp             # tcp | udp | icmp | icmpv6 | any, or a list [tcp, udp] (default any)\n"
	    "      dport: [22, \"8000-8080\"]   # ports and ranges; needs proto tcp or udp\n"
	    "\n"
	    "conntrack:\n"
	    "  max-entries: 262144\n"
	    "  timeouts:                  # seconds\n"
	    "    tcp-syn: 60\n"
	    "    tcp-established: 3600\n"
	    "    tcp-closing: 10\n"
	    "    udp: 30\n"
	    "    icmp: 30\n"
	    "\n"
	    "loadbalancers:               # XDP L4 load balancing on the firewall interfaces\n"
	    "  - name: web\n"
	    "    vip: 192.0.2.10          # IPv4 or IPv6\n"
	    "    port: 80\n"
	    "    proto: tcp               # tcp | udp\n"
	    "    mode: nat                # nat (backends unchanged, replies return via sluice) | dsr (IP-in-IP to backends)\n"
	    "    health:                  # optional; without it every backend counts as up\n"
	    "      type: tcp              # tcp (connect) | http (GET path, expect status)\n"
	    "      interval: 1            # seconds, decimals allowed\n"
	    "      timeout: 0.5\n"
	    "      rise: 2                # consecutive successes to come back\n"
	    "      fall: 2                # consecutive failures to leave the table\n"
	    "      # path: /healthz       # http only\n"
	    "      # expect: 200          # http only\n"
	    "    backends:\n"
	    "      - { addr: 198.51.100.11, port: 8080, weight: 1 }\n"
	    "      - { addr: 198.51.100.12, port: 8080, weight: 2, drain: true }  # drain: no new flows\n"
	    "\n"
	    "decap:                       # on a DSR backend: decapsulate in XDP the IP-in-IP packets\n"
	    "  interfaces: [eth0]         # for these VIPs (the VIP itself sits on the backend's lo)\n"
	    "  vips: [192.0.2.10]\n"
	    "\n"
	    "egress:                      # container egress, enforced at connect()/sendmsg() per cgroup\n"
	    "  - name: app1\n"
	    "    cgroup: %s/app1   # a cgroup v2 path; may not exist yet (enforced once it appears)\n"
	    "    default: deny\n"
	    "    rules:\n"
	    "      - { action: allow, dst: [192.0.2.0/24], proto: tcp, dport: [443] }\n",
	    cg_root());
	if (ASSERT_OK(load(&f), "SPEC example")) {
		ASSERT_EQ(f.pol.negs, 1, "egress entry");
		ASSERT_EQ(f.pol.egs[0].fw.nrules, 1, "egress rule");
		ASSERT_EQ(f.pol.nlbs, 1, "load balancer");
	}
	done(&f);
}

/* A prefix of the oracle's model, from text. */
static struct ref_prefix rp(const char *addr, int len)
{
	struct ref_prefix x = { .v6 = strchr(addr, ':') != NULL, .len = (uint8_t)len };

	inet_pton(x.v6 ? AF_INET6 : AF_INET, addr, x.addr);
	return x;
}

static struct ref_prefix *rps(size_t n, const struct ref_prefix *v)
{
	struct ref_prefix *out = calloc(n, sizeof(*out));

	if (out)
		memcpy(out, v, n * sizeof(*out));
	return out;
}

static struct ref_ports *ports(size_t n, const struct ref_ports *v)
{
	struct ref_ports *out = calloc(n, sizeof(*out));

	if (out)
		memcpy(out, v, n * sizeof(*out));
	return out;
}

/*
 * The oracle's model of the egress entry written in the test below: the
 * same rules as a section of the oracle's own (tests/ref_policy.h), which
 * shares no code with the parser or the compiler.
 */
static int oracle_model(struct ref_policy *m)
{
	struct ref_rule *r;

	memset(m, 0, sizeof(*m));
	m->sets = calloc(1, sizeof(*m->sets));
	m->secs = calloc(1, sizeof(*m->secs));
	if (!m->sets || !m->secs)
		return -ENOMEM;
	m->nsets = 1;
	m->nsecs = 1;
	snprintf(m->sets[0].name, sizeof(m->sets[0].name), "web");
	m->sets[0].pfx = rps(2, (struct ref_prefix[]){ rp("198.51.100.0", 25),
						       rp("2001:db8:77::", 48) });
	m->sets[0].npfx = 2;
	m->secs[0].rules = r = calloc(4, sizeof(*r));
	if (!r)
		return -ENOMEM;
	m->secs[0].nrules = 4;
	m->secs[0].allow_default = false;
	/* 0: deny dst 198.51.100.7 tcp */
	r[0].dst.pfx = rps(1, (struct ref_prefix[]){ rp("198.51.100.7", 32) });
	r[0].dst.npfx = 1;
	r[0].protos = REF_TCP;
	/* 1: allow dst @web tcp,udp dport 443, 8000-8080 */
	r[1].allow = true;
	r[1].dst.sets = calloc(1, sizeof(int));
	r[1].dst.nsets = 1;
	r[1].protos = REF_TCP | REF_UDP;
	r[1].dport = ports(2, (struct ref_ports[]){ { 443, 443 }, { 8000, 8080 } });
	r[1].ndport = 2;
	/* 2: allow dst 192.0.2.0/24, 2001:db8:1::/64 udp dport 53 */
	r[2].allow = true;
	r[2].dst.pfx = rps(2, (struct ref_prefix[]){ rp("192.0.2.0", 24),
						     rp("2001:db8:1::", 64) });
	r[2].dst.npfx = 2;
	r[2].protos = REF_UDP;
	r[2].dport = ports(1, (struct ref_ports[]){ { 53, 53 } });
	r[2].ndport = 1;
	/* 3: allow icmp */
	r[3].allow = true;
	r[3].protos = REF_ICMP;
	return ref_finish(m);
}

TEST(egress_compiled_agrees_with_oracle)
{
	struct ref_rng rng = { 0x5eed };
	struct ref_policy m;
	struct eg_fx f = {};
	struct fw_tables t = {};
	int mismatches = 0;

	put(&f, "10.yaml",
	    "sets:\n"
	    "  web: { prefixes: [198.51.100.0/25, \"2001:db8:77::/48\"] }\n"
	    "egress:\n"
	    "  - name: app\n"
	    "    cgroup: %s/app\n"
	    "    default: deny\n"
	    "    rules:\n"
	    "      - { action: deny, dst: [198.51.100.7], proto: tcp }\n"
	    "      - { action: allow, dst: [\"@web\"], proto: [tcp, udp], dport: [443, \"8000-8080\"] }\n"
	    "      - { action: allow, dst: [192.0.2.0/24, \"2001:db8:1::/64\"], proto: udp, "
	    "dport: [53] }\n"
	    "      - { action: allow, proto: icmp }\n", cg_root());
	if (!ASSERT_OK(oracle_model(&m), "oracle model"))
		goto out;
	if (!ASSERT_OK(load(&f), "load"))
		goto out;
	if (!ASSERT_OK(fw_compile(&f.pol, &f.pol.egs[0].fw, 1, &t, &f.diags), "compile"))
		goto out;
	for (int i = 0; i < 20000; i++) {
		struct ref_pkt pkt;
		struct sl_pkt p;
		int want, got;

		ref_gen_pkt(&rng, &m, 0, &pkt);
		/* the socket's own address and port: anything, never matched */
		for (int k = 0; k < 16; k++)
			pkt.src[k] = (uint8_t)ref_rnd(&rng);
		if (!pkt.v6)
			memset(pkt.src + 4, 0, 12);
		pkt.sport = (uint16_t)ref_rnd(&rng);
		want = ref_classify(&m, 0, &pkt);
		p = sl_pkt_of(&pkt);
		got = fw_tables_classify(&t, &p);
		if (want != got && mismatches++ < 5) {
			char buf[256];

			ref_pkt_str(&pkt, buf, sizeof(buf));
			printf("# %s: oracle rule %d, tables rule %d\n", buf, want, got);
		}
	}
	ASSERT_EQ(mismatches, 0, "mismatches");
out:
	ref_policy_free(&m);
	fw_tables_free(&t);
	done(&f);
}
