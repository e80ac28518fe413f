// SPDX-License-Identifier: GPL-2.0-only
/*
 * Policy parser and checker: every kind of bad input is refused with the
 * exact FILE:LINE:COL and a message that quotes the offending text; valid
 * policies give the right model. Each test writes its files into a fresh
 * temporary dir.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_arp.h>

#include "testlib.h"
#include "fw_tables.h"
#include "policy_int.h"
#include "policy_json.h"
#include "hook.h"
#include "lb_policy.h"
#include <fnmatch.h>

struct fixture {
	char dir[64];
	struct sl_policy pol;
	struct sl_diags diags;
	int rc;
};

static void fx_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/sla-policy-XXXXXX");
	if (!mkdtemp(f->dir)) {
		perror("mkdtemp");
		exit(1);
	}
}

static void fx_write_n(struct fixture *f, const char *name, const char *data, size_t len)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	fp = fopen(path, "w");
	if (!fp || fwrite(data, 1, len, fp) != len) {
		perror(path);
		exit(1);
	}
	fclose(fp);
}

static void fx_write(struct fixture *f, const char *name, const char *text)
{
	fx_write_n(f, name, text, strlen(text));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void fx_done(struct fixture *f)
{
	policy_free(&f->pol);
	sl_diags_free(&f->diags);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int fx_load(struct fixture *f)
{
	f->rc = policy_load_dir(f->dir, &f->pol, &f->diags);
	return f->rc;
}

static void print_diags(const struct fixture *f)
{
	for (size_t i = 0; i < f->diags.n; i++)
		printf("#   diag: %s:%d:%d: %s\n", f->diags.v[i].file ? f->diags.v[i].file : "-",
		       f->diags.v[i].line, f->diags.v[i].col, f->diags.v[i].msg);
}

/*
 * Is there a diagnostic at FILE (relative to the fixture dir; "" for the
 * dir itself), LINE, COL whose message contains every NULL-terminated
 * substring given?
 */
static bool has_diag(const struct fixture *f, const char *file, int line, int col, ...)
{
	char want[320];

	if (*file)
		snprintf(want, sizeof(want), "%s/%s", f->dir, file);
	else
		snprintf(want, sizeof(want), "%s", f->dir);
	for (size_t i = 0; i < f->diags.n; i++) {
		const struct sl_diag *d = &f->diags.v[i];
		const char *sub;
		bool ok = true;
		va_list ap;

		if (!d->file || strcmp(d->file, want) || d->line != line || d->col != col)
			continue;
		va_start(ap, col);
		while ((sub = va_arg(ap, const char *)))
			if (!strstr(d->msg, sub))
				ok = false;
		va_end(ap);
		if (ok)
			return true;
	}
	return false;
}

#define ASSERT_DIAG(f, file, line, col, ...) ({					\
	bool ok__ = has_diag(f, file, line, col, __VA_ARGS__, NULL);		\
	if (!ok__)								\
		print_diags(f);							\
	tl_check(ok__, __FILE__, __LINE__, "expected diagnostic %s:%d:%d: %s", file, line,	\
		 col, #__VA_ARGS__); })

#define FW_HEAD "firewall:\n  stateful: false\n  rules:\n"

/* Load a one-file policy and expect it refused with one diagnostic as given. */
#define EXPECT_ONE(text, line, col, ...) do {					\
	struct fixture f;							\
	fx_init(&f);								\
	fx_write(&f, "p.yaml", text);						\
	ASSERT_EQ(fx_load(&f), -EINVAL, "rc");				\
	ASSERT_DIAG(&f, "p.yaml", line, col, __VA_ARGS__);			\
	fx_done(&f);								\
} while (0)

TEST(valid_policy_model)
{
	struct fixture f;
	const struct sl_policy *p = &f.pol;
	const struct sl_set *bl;
	const struct sl_rule *r;
	char buf[64];

	fx_init(&f);
	f.rc = policy_load_dir("tests/data/basic", &f.pol, &f.diags);
	if (!ASSERT_OK(f.rc, "load tests/data/basic")) {
		print_diags(&f);
		goto out;
	}
	ASSERT_EQ(f.diags.n, 0, "no diagnostics");
	ASSERT_EQ(p->nfiles, 3, "files: 10-sets.yaml, blocklist.txt, 20-fw.yaml");
	ASSERT_STREQ(p->files[0], "tests/data/basic/10-sets.yaml", "first file");
	ASSERT_STREQ(p->files[2], "tests/data/basic/20-fw.yaml", "name order");
	policy_free(&f.pol);
	f.rc = policy_load_dir("tests/data/basic/", &f.pol, &f.diags);
	ASSERT_OK(f.rc, "dir with a trailing slash");
	ASSERT_STREQ(p->files[0], "tests/data/basic/10-sets.yaml", "no double slash");
	ASSERT_EQ(p->nsets, 2, "sets");
	bl = policy_find_set(p, "blocklist");
	if (!ASSERT_TRUE(bl, "blocklist set"))
		goto out;
	ASSERT_EQ(bl->n, 5, "2 inline + 3 from the file");
	sl_prefix_format(&bl->v[1], buf, sizeof(buf));
	ASSERT_STREQ(buf, "2001:db8:bad::/48", "inline v6");
	sl_prefix_format(&bl->v[3], buf, sizeof(buf));
	ASSERT_STREQ(buf, "203.0.113.200/32", "file host with trailing comment");
	ASSERT_EQ(bl->loc.line, 3, "set loc line");
	ASSERT_EQ(bl->loc.col, 3, "set loc col");
	ASSERT_TRUE(!policy_find_set(p, "nope"), "absent set");

	if (!ASSERT_EQ(p->nfws, 1, "one firewall section"))
		goto out;
	ASSERT_TRUE(p->fws[0].present, "firewall present");
	ASSERT_EQ(p->fws[0].default_action, SLUICE_ACT_DENY, "default deny");
	ASSERT_FALSE(p->fws[0].stateful, "stateless");
	ASSERT_EQ(p->fws[0].nifaces, 2, "interfaces");
	ASSERT_TRUE(policy_iface_match(p, "eth0"), "eth0");
	ASSERT_TRUE(policy_iface_match(p, "veth12"), "veth glob");
	ASSERT_FALSE(policy_iface_match(p, "eth1"), "eth1");
	ASSERT_FALSE(policy_iface_match(p, "xveth1"), "glob is anchored");
	if (!ASSERT_EQ(p->fws[0].nrules, 5, "rules"))
		goto out;
	r = &p->fws[0].rules[1];
	ASSERT_STREQ(r->name, "ssh", "rule 1 name");
	ASSERT_EQ(r->action, SLUICE_ACT_ALLOW, "ssh allows");
	ASSERT_EQ(r->nsrc, 2, "ssh src items");
	ASSERT_TRUE(r->src[0].is_set && r->src[0].set == policy_find_set(p, "admins"),
		    "@admins resolved");
	ASSERT_FALSE(r->src[1].is_set, "inline prefix");
	ASSERT_EQ(r->ndst, 1, "ssh dst");
	sl_prefix_format(&r->dst[0].pfx, buf, sizeof(buf));
	ASSERT_STREQ(buf, "192.0.2.1/32", "address is a host prefix");
	ASSERT_EQ(r->protos, SL_PROTO_TCP, "tcp");
	ASSERT_EQ(r->ndport, 2, "two dports");
	ASSERT_EQ(r->dport[1].lo, 8000, "range lo");
	ASSERT_EQ(r->dport[1].hi, 8080, "range hi");
	ASSERT_EQ(r->loc.line, 9, "rule loc is its name");
	ASSERT_EQ(r->loc.col, 13, "rule loc col");
	ASSERT_EQ(p->fws[0].rules[2].protos, SL_PROTO_TCP | SL_PROTO_UDP, "dns tcp+udp");
	ASSERT_EQ(p->fws[0].rules[2].ndport, 1, "scalar dport");
	ASSERT_EQ(p->fws[0].rules[3].protos, SL_PROTO_ICMP | SL_PROTO_ICMPV6, "icmp both");
	ASSERT_EQ(p->fws[0].rules[4].sport[0].lo, 1024, "sport range");
	ASSERT_EQ(p->fws[0].rules[4].sport[0].hi, 65535, "sport range hi");
	ASSERT_STREQ(sl_action_name(SLUICE_ACT_DENY), "deny", "action name");
out:
	fx_done(&f);
}

TEST(proto_any_and_defaults)
{
	struct fixture f;

	fx_init(&f);
	fx_write(&f, "a.yaml", FW_HEAD
		 "    - name: r\n      action: deny\n      proto: [tcp, any]\n");
	if (ASSERT_OK(fx_load(&f), "load")) {
		ASSERT_EQ(f.pol.fws[0].rules[0].protos, 0, "any wins");
		ASSERT_EQ(f.pol.fws[0].default_action, SLUICE_ACT_ALLOW, "default allow");
		ASSERT_EQ(f.pol.fws[0].nifaces, 0, "no interfaces");
	}
	fx_done(&f);
}

TEST(sets_only_policy_is_valid)
{
	struct fixture f;

	fx_init(&f);
	fx_write(&f, "a.yaml", "sets:\n  s: { prefixes: [192.0.2.0/24] }\n");
	ASSERT_OK(fx_load(&f), "sets only");
	ASSERT_EQ(f.pol.nfws, 0, "no firewall");
	ASSERT_FALSE(policy_fw(&f.pol, 0)->present, "the built-in empty section");
	fx_done(&f);
}

TEST(unknown_top_level_key)
{
	EXPECT_ONE("firewal:\n  stateful: false\n", 1, 1, "unknown key \"firewal\"",
		   "allowed keys: sets, firewall, conntrack, loadbalancers, egress");
}

TEST(unknown_rule_key)
{
	EXPECT_ONE(FW_HEAD "    - name: r\n      action: deny\n      dports: [22]\n", 6, 7,
		   "unknown key \"dports\" in a rule",
		   "allowed keys: name, action, src, dst, proto, sport, dport");
}

TEST(unknown_firewall_and_set_keys)
{
	struct fixture f;

	fx_init(&f);
	fx_write(&f, "p.yaml", "sets:\n  s:\n    prefix: [192.0.2.0/24]\n"
		 "firewall:\n  stateful: false\n  iface: [eth0]\n");
	ASSERT_EQ(fx_load(&f), -EINVAL, "rc");
	ASSERT_DIAG(&f, "p.yaml", 3, 5, "unknown key \"prefix\" in a set",
		    "allowed keys: prefixes, file");
	ASSERT_DIAG(&f, "p.yaml", 2, 3, "set \"s\" has neither prefixes nor file");
	ASSERT_DIAG(&f, "p.yaml", 6, 3, "unknown key \"iface\" in firewall",
		    "interfaces, default, stateful, hook, rules");
	fx_done(&f);
}

TEST(duplicate_key_in_mapping)
{
	EXPECT_ONE(FW_HEAD "    - name: r\n      action: deny\n      action: allow\n", 6, 7,
		   "duplicate key \"action\" in a rule (first at line 5, column 7)");
}

TEST(wrong_types)
{
	struct fixture f;

	fx_init(&f);
	fx_write(&f, "a.yaml", "firewall: deny\n");
	fx_write(&f, "b.yaml", "sets: [x]\n");
	fx_write(&f, "c.yaml", "- just a list\n");
	fx_write(&f, "d.yaml", "sets:\n  s:\n    prefixes: {a: 1}\n");
	ASSERT_EQ(fx_load(&f), -EINVAL, "rc");
	ASSERT_DIAG(&f, "a.yaml", 1, 11, "firewall must be a mapping", "or a list of such sections",
		    "got a single value");
	ASSERT_DIAG(&f, "b.yaml", 1, 7, "sets must be a mapping", "got a list");
	ASSERT_DIAG(&f, "c.yaml", 1, 1, "a policy file is a mapping of top-level keys");
	ASSERT_DIAG(&f, "d.yaml", 3, 15, "prefixes must be a value or a list of values",
		    "got a mapping");
	fx_done(&f);

	EXPECT_ONE(FW_HEAD "    - name: r\n      action: deny\n      src: [[192.0.2.0/24]]\n",
		   6, 13, "src: list items must be single values, got a list");
	EXPECT_ONE("firewall:\n  stateful: false\n  rules: deny-all\n", 3, 10,
		   "rules must be a list of rules, got a single value");
	EXPECT_ONE(FW_HEAD "    - deny\n", 4, 7, "a rule must be a mapping");
	/* a list is a list of sections, each a mapping */
	EXPECT_ONE("firewall: [1, {default: deny}]\n", 1, 12,
		   "a firewall section must be a mapping", "got a single value");
	EXPECT_ONE("firewall:\n  stateful: maybe\n", 2, 13,
		   "stateful must be true or false, got \"maybe\"");
}

TEST(bad_cidr_length)
{
	EXPECT_ONE(FW_HEAD "    - name: r\n      action: deny\n      src: [192.0.2.0/33]\n", 6, 13,
		   "bad prefix length in \"192.0.2.0/33\"", "longer than 32 bits of IPv4");
	EXPECT_ONE(FW_HEAD "    - name: r\n      action: deny\n      dst: [\"2001:db8::/129\"]\n",
		   6, 13, "bad prefix length in \"2001:db8::/129\"");
	EXPECT_ONE(FW_HEAD "    - name: r\n      action: deny\n      dst: [192.0.2.0/x]\n",
		   6, 13, "bad prefix length in \"192.0.2.0/x\"");
}

TEST(cidr_host_bits)
{
	EXPECT_ONE(FW_HEAD "    - name: r\n      action: deny\n      src: [192.0.2.1/24]\n", 6, 13,
		   "\"192.0.2.1/24\" has host bits set (0.0.0.1); did you mean 192.0.2.0/24?");
	EXPECT_ONE(FW_HEAD "    - name: r\n      action: deny\n      src: [\"2001:db8::1/64\"]\n",
		   6, 13, "\"2001:db8::1/64\" has host bits set (::1); did you mean 2001:db8::/64?");
}

TEST(cidr_v4_mapped)
{
	struct fixture f;

	EXPECT_ONE(FW_HEAD "    - name: r\n      action: deny\n      src: [\"::ffff:203.0.113.5\"]\n",
		   6, 13, "\"::ffff:203.0.113.5\" is an IPv4-mapped IPv6 address",
		   "write 203.0.113.5");
	fx_init(&f);
	fx_write(&f, "p.yaml", "sets:\n  bl:\n    file: bl.txt\n");
	fx_write(&f, "bl.txt", "2001:db8::/32\n::ffff:198.51.100.0/120\n::ffff:0:0/96\n::/0\n");
	ASSERT_EQ(fx_load(&f), -EINVAL, "rc");
	ASSERT_DIAG(&f, "bl.txt", 2, 1, "IPv4-mapped", "write 198.51.100.0/24");
	ASSERT_DIAG(&f, "bl.txt", 3, 1, "IPv4-mapped", "write 0.0.0.0/0");
	ASSERT_EQ(f.diags.n, 2, "only the mapped lines are refused");
	fx_done(&f);
}

TEST(bad_address)
{
	EXPECT_ONE(FW_HEAD "    - name: r\n      action: deny\n      src: [192.0.2.0, 300.1.2.3]\n",
		   6, 24, "\"300.1.2.3\" is not an IPv4 or IPv6 address");
	EXPECT_ONE(FW_HEAD "    - name: r\n      action: deny\n      src: [\"@\"]\n",
		   6, 13, "bad set reference \"@\"");
}

TEST(bad_ports)
{
	struct fixture f;

	fx_init(&f);
	fx_write(&f, "p.yaml", FW_HEAD "    - name: r\n      action: deny\n      proto: tcp\n"
		 "      dport: [8080-8000, 0, 70000, http, \"1-\", 22]\n");
	ASSERT_EQ(fx_load(&f), -EINVAL, "rc");
	ASSERT_DIAG(&f, "p.yaml", 7, 15, "bad port range \"8080-8000\"", "8080 is above 8000");
	ASSERT_DIAG(&f, "p.yaml", 7, 26, "port \"0\" is out of range");
	ASSERT_DIAG(&f, "p.yaml", 7, 29, "port \"70000\" is out of range", "1..65535");
	ASSERT_DIAG(&f, "p.yaml", 7, 36, "bad port \"http\"");
	ASSERT_DIAG(&f, "p.yaml", 7, 42, "bad port \"1-\"");
	ASSERT_EQ(f.diags.n, 5, "exactly the five bad ports");
	fx_done(&f);
}

TEST(ports_need_tcp_or_udp)
{
	EXPECT_ONE(FW_HEAD "    - name: r\n      action: deny\n      dport: [22]\n", 6, 7,
		   "dport needs proto tcp, udp or [tcp, udp]", "proto any");
	EXPECT_ONE(FW_HEAD "    - name: r\n      action: deny\n      proto: [tcp, icmp]\n"
		   "      sport: 53\n", 7, 7, "sport needs proto tcp, udp", "proto icmp");
}

TEST(duplicate_rule_name)
{
	EXPECT_ONE(FW_HEAD "    - name: web\n      action: deny\n    - name: web\n      action: allow\n",
		   6, 13, "duplicate rule name \"web\"", "also defined at", "p.yaml:4:13");
}

TEST(duplicate_set_name_across_files)
{
	struct fixture f;
	char first[320];

	fx_init(&f);
	fx_write(&f, "a.yaml", "sets:\n  bad: { prefixes: [192.0.2.0/24] }\n");
	fx_write(&f, "b.yaml", "sets:\n  ok: { prefixes: [198.51.100.0/24] }\n"
		 "  bad: { prefixes: [203.0.113.0/24] }\n");
	ASSERT_EQ(fx_load(&f), -EINVAL, "rc");
	snprintf(first, sizeof(first), "also defined at %s/a.yaml:2:3", f.dir);
	ASSERT_DIAG(&f, "b.yaml", 3, 3, "duplicate set name \"bad\"", first);
	fx_done(&f);
}

TEST(unknown_set_reference)
{
	EXPECT_ONE("sets:\n  known: { prefixes: [192.0.2.0/24] }\n" FW_HEAD
		   "    - name: r\n      action: deny\n      src: [\"@known\", \"@unknown\"]\n",
		   8, 23, "unknown set \"@unknown\"");
}

TEST(empty_lists)
{
	EXPECT_ONE(FW_HEAD "    - name: r\n      action: deny\n      src: []\n", 6, 12,
		   "src: empty list matches nothing; omit the key to match any");
	EXPECT_ONE(FW_HEAD "    - name: r\n      action: deny\n      proto: []\n", 6, 14,
		   "proto: empty list");
	EXPECT_ONE(FW_HEAD "    - name: r\n      action: deny\n      dst:\n", 6, 11,
		   "dst must be a value or a list of values, got nothing");
}

/*
 * An empty list under a key that may not be omitted says what to write
 * instead: "omit the key to match any" led to "decap has no interfaces"
 * (test_egress.c: the backstop's). An empty backends list said "got a list".
 */
TEST(empty_lists_of_required_keys)
{
	EXPECT_ONE("decap: { interfaces: [], vips: [192.0.2.10] }\n", 1, 22,
		   "interfaces: empty list decapsulates nothing; omit decap instead");
	EXPECT_ONE("firewall:\n  interfaces: [eth0]\nloadbalancers:\n"
		   "  - { name: w, vip: 192.0.2.1, port: 80, backends: [] }\n", 4, 52,
		   "backends must be a list of at least one backend, got an empty list");
}

TEST(empty_set_and_no_interfaces_are_fine)
{
	struct fixture f;

	fx_init(&f);
	fx_write(&f, "p.yaml", "sets:\n  later: { prefixes: [] }\n" "firewall:\n"
		 "  stateful: false\n  interfaces: []\n  rules:\n"
		 "    - { name: r, action: deny, src: [\"@later\"] }\n");
	if (ASSERT_OK(fx_load(&f), "load")) {
		ASSERT_EQ(f.pol.sets[0].n, 0, "empty set");
		ASSERT_EQ(f.pol.fws[0].nifaces, 0, "no interfaces");
	}
	fx_done(&f);
}

TEST(bad_proto_does_not_blame_ports)
{
	struct fixture f;

	fx_init(&f);
	fx_write(&f, "p.yaml", FW_HEAD "    - name: r\n      action: deny\n      proto: tpc\n"
		 "      dport: 22\n");
	ASSERT_EQ(fx_load(&f), -EINVAL, "rc");
	ASSERT_DIAG(&f, "p.yaml", 6, 14, "unknown proto \"tpc\"");
	ASSERT_EQ(f.diags.n, 1, "only the proto error");
	fx_done(&f);
}

TEST(unknown_proto_action_default)
{
	EXPECT_ONE(FW_HEAD "    - name: r\n      action: deny\n      proto: [tcp, gre]\n", 6, 20,
		   "unknown proto \"gre\"", "tcp, udp, icmp, icmpv6 or any");
	EXPECT_ONE(FW_HEAD "    - name: r\n      action: drop\n", 5, 15,
		   "unknown action \"drop\"; use allow or deny");
	EXPECT_ONE("firewall:\n  stateful: false\n  default: reject\n", 3, 12,
		   "unknown default \"reject\"; use allow or deny");
}

TEST(firewall_in_two_files)
{
	struct fixture f;
	char first[320];

	fx_init(&f);
	fx_write(&f, "10-a.yaml", "firewall:\n  stateful: false\n");
	fx_write(&f, "20-b.yaml", "sets:\n  s: { prefixes: [192.0.2.0/24] }\nfirewall:\n"
		 "  stateful: false\n");
	ASSERT_EQ(fx_load(&f), -EINVAL, "rc");
	snprintf(first, sizeof(first), "first at %s/10-a.yaml:1:1", f.dir);
	ASSERT_DIAG(&f, "20-b.yaml", 3, 1, "firewall is defined again", "one file only", first);
	fx_done(&f);
}

TEST(rule_without_name_or_action)
{
	struct fixture f;

	fx_init(&f);
	fx_write(&f, "p.yaml", FW_HEAD "    - action: deny\n    - name: second\n"
		 "    - name: \"bad name\"\n      action: deny\n");
	ASSERT_EQ(fx_load(&f), -EINVAL, "rc");
	ASSERT_DIAG(&f, "p.yaml", 4, 7, "rule has no name");
	ASSERT_DIAG(&f, "p.yaml", 5, 7, "rule \"second\" has no action (allow or deny)");
	ASSERT_DIAG(&f, "p.yaml", 6, 13, "bad rule name \"bad name\"");
	fx_done(&f);
}

/* A list or a mapping where a single value belongs is named as such, not as an empty value. */
TEST(wrong_kind_named)
{
	EXPECT_ONE("firewall:\n  default: [allow]\n", 2, 12,
		   "default must be allow or deny, got a list");
	EXPECT_ONE("firewall:\n  default: {a: b}\n", 2, 12,
		   "default must be allow or deny, got a mapping");
	EXPECT_ONE(FW_HEAD "    - name: r\n      action: [deny]\n", 5, 15,
		   "action must be allow or deny, got a list");
	EXPECT_ONE(FW_HEAD "    - name: [r]\n      action: deny\n", 4, 13,
		   "a rule name is a single value, got a list");
	EXPECT_ONE("firewall:\n  hook: [xdp]\n", 2, 9, "hook must be auto, xdp or tc, got a list");
}

/* Control characters quoted from a file are escaped: the error stays one line, no escape sequence goes out. */
TEST(diag_escapes_controls)
{
	struct fixture f;

	fx_init(&f);
	fx_write(&f, "p.yaml", FW_HEAD "    - name: \"r\\npolicy generation 9 applied \\e[31m\"\n"
		 "      action: deny\n");
	ASSERT_EQ(fx_load(&f), -EINVAL, "rc");
	ASSERT_DIAG(&f, "p.yaml", 4, 13,
		    "bad rule name \"r\\x0apolicy generation 9 applied \\x1b[31m\"");
	for (size_t i = 0; i < f.diags.n; i++)
		ASSERT_TRUE(!strpbrk(f.diags.v[i].msg, "\n\r\x1b"), "no control character");
	fx_done(&f);
}

TEST(empty_file)
{
	struct fixture f;

	fx_init(&f);
	fx_write(&f, "a.yaml", "");
	fx_write(&f, "b.yaml", "# nothing but a comment\n\n");
	fx_write(&f, "c.yaml", "{}\n");
	ASSERT_EQ(fx_load(&f), -EINVAL, "rc");
	ASSERT_DIAG(&f, "a.yaml", 0, 0, "empty policy file");
	ASSERT_DIAG(&f, "b.yaml", 0, 0, "empty policy file");
	ASSERT_DIAG(&f, "c.yaml", 0, 0, "empty policy file");
	fx_done(&f);
}

TEST(not_yaml)
{
	EXPECT_ONE("firewall:\n  rules: [a, b\n", 3, 1, "invalid YAML",
		   "did not find expected ',' or ']'", "while parsing a flow sequence at line 2");
	EXPECT_ONE("firewall:\n  stateful: false\n   default: deny\n", 3, 11, "invalid YAML",
		   "mapping values are not allowed");
	EXPECT_ONE("firewall:\n\tstateful: false\n", 2, 1, "invalid YAML");
	/* libyaml refuses a plain value starting with ':' in a flow list: say how to fix it */
	EXPECT_ONE(FW_HEAD "    - name: r\n      action: deny\n      src: [192.0.2.0/24, ::/0]\n",
		   6, 27, "invalid YAML", "quote IPv6 addresses that start with ':'");
}

TEST(ipv6_forms)
{
	struct fixture f;
	char buf[64];

	fx_init(&f);
	fx_write(&f, "p.yaml", FW_HEAD "    - name: r\n      action: deny\n"
		 "      src: [\"::/0\", 2001:db8::/32, \"::1\"]\n      dst:\n        - ::/0\n");
	if (ASSERT_OK(fx_load(&f), "load")) {
		const struct sl_rule *r = &f.pol.fws[0].rules[0];

		sl_prefix_format(&r->src[0].pfx, buf, sizeof(buf));
		ASSERT_STREQ(buf, "::/0", "quoted ::/0");
		sl_prefix_format(&r->src[2].pfx, buf, sizeof(buf));
		ASSERT_STREQ(buf, "::1/128", "::1");
		sl_prefix_format(&r->dst[0].pfx, buf, sizeof(buf));
		ASSERT_STREQ(buf, "::/0", "plain ::/0 in a block list");
	}
	fx_done(&f);
}

TEST(second_document)
{
	EXPECT_ONE("sets:\n  a: { prefixes: [192.0.2.0/24] }\n---\nsets: {}\n", 3, 1,
		   "a second YAML document");
}

TEST(binary_garbage)
{
	struct fixture f;
	static const char nul[] = "firewall:\n  stateful: false\n  de\0ault: deny\n";
	static const char latin1[] = "sets:\n  caf\xe9: { prefixes: [192.0.2.0/24] }\n";
	static const char elf[] = "\x7f" "ELF\x02\x01\x01\0\0\0";

	fx_init(&f);
	fx_write_n(&f, "a.yaml", nul, sizeof(nul) - 1);
	fx_write_n(&f, "b.yaml", latin1, sizeof(latin1) - 1);
	fx_write_n(&f, "c.yaml", elf, sizeof(elf) - 1);
	ASSERT_EQ(fx_load(&f), -EINVAL, "rc");
	ASSERT_DIAG(&f, "a.yaml", 3, 5, "NUL byte", "binary file");
	ASSERT_DIAG(&f, "b.yaml", 2, 6, "invalid UTF-8 (byte 0xe9)");
	ASSERT_DIAG(&f, "c.yaml", 1, 8, "NUL byte");
	fx_done(&f);
}

/* Bytes this process has read with read(2) and friends (/proc/self/io rchar); -1: unknown. */
static long long bytes_read(void)
{
	long long v = -1;
	char line[64];
	FILE *f = fopen("/proc/self/io", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "rchar: %lld", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

TEST(huge_file_refused_without_reading)
{
	struct fixture f;
	long long before, after;
	char path[256];
	int fd;

	fx_init(&f);
	snprintf(path, sizeof(path), "%s/big.yaml", f.dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	/* A sparse 50 MB file: refused by its size, not read (the count of bytes read says) */
	if (!ASSERT_TRUE(fd >= 0 && !ftruncate(fd, 50 << 20), "create sparse file"))
		goto out;
	close(fd);
	before = bytes_read();
	ASSERT_EQ(fx_load(&f), -EINVAL, "rc");
	after = bytes_read();
	ASSERT_DIAG(&f, "big.yaml", 0, 0, "too large (50.0 MiB, limit 8 MiB)");
	if (ASSERT_TRUE(before >= 0 && after >= 0, "/proc/self/io rchar"))
		ASSERT_TRUE(after - before < (1 << 20), "less than 1 MiB read");
out:
	fx_done(&f);
}

TEST(set_file_bad_lines)
{
	struct fixture f;

	fx_init(&f);
	fx_write(&f, "p.yaml", "sets:\n  bl:\n    file: bl.txt\n");
	fx_write(&f, "bl.txt", "# header\n192.0.2.0/24\n  198.51.100.7/24\n"
		 "203.0.113.0/24 extra\n\n2001:db8::/33x\n10.0.0.0/8 # ok comment\n"
		 "bad\x01line\n");
	ASSERT_EQ(fx_load(&f), -EINVAL, "rc");
	ASSERT_DIAG(&f, "bl.txt", 3, 3, "\"198.51.100.7/24\" has host bits set (0.0.0.7)");
	ASSERT_DIAG(&f, "bl.txt", 4, 16, "unexpected \"extra\"", "one prefix per line");
	ASSERT_DIAG(&f, "bl.txt", 6, 1, "bad prefix length in \"2001:db8::/33x\"");
	ASSERT_DIAG(&f, "bl.txt", 8, 4, "unexpected byte 0x01");
	ASSERT_EQ(f.diags.n, 4, "four bad lines");
	fx_done(&f);
}

TEST(set_file_bom_and_crlf)
{
	struct fixture f;

	/* a list saved by a Windows tool: a UTF-8 BOM, CRLF line ends */
	fx_init(&f);
	fx_write(&f, "p.yaml", "sets:\n  bl:\n    file: bl.txt\n");
	fx_write(&f, "bl.txt", "\xef\xbb\xbf" "192.0.2.1\r\n198.51.100.0/24\r\n");
	if (ASSERT_EQ(fx_load(&f), 0, "rc"))
		ASSERT_EQ(f.pol.sets[0].n, 2, "both prefixes");
	fx_done(&f);
	/* only at the start: elsewhere those bytes are what they are */
	fx_init(&f);
	fx_write(&f, "p.yaml", "sets:\n  bl:\n    file: bl.txt\n");
	fx_write(&f, "bl.txt", "192.0.2.1\n\xef\xbb\xbf" "198.51.100.0/24\n");
	ASSERT_EQ(fx_load(&f), -EINVAL, "rc");
	ASSERT_DIAG(&f, "bl.txt", 2, 1, "unexpected byte 0xef");
	fx_done(&f);
}

TEST(set_file_error_cap)
{
	struct fixture f;
	char *buf = malloc(100 * 8), *p = buf;

	fx_init(&f);
	for (int i = 0; i < 100; i++)
		p += sprintf(p, "bogus%d\n", i % 10);
	fx_write(&f, "p.yaml", "sets:\n  bl:\n    file: bl.txt\n");
	fx_write_n(&f, "bl.txt", buf, (size_t)(p - buf));
	free(buf);
	ASSERT_EQ(fx_load(&f), -EINVAL, "rc");
	ASSERT_EQ(f.diags.n, 21, "20 lines and a summary");
	ASSERT_DIAG(&f, "bl.txt", 0, 0, "80 more bad lines not shown");
	fx_done(&f);
}

TEST(set_file_missing_or_huge)
{
	struct fixture f;
	char path[256];
	int fd;

	fx_init(&f);
	fx_write(&f, "p.yaml", "sets:\n  a:\n    file: missing.txt\n  b:\n    prefixes: []\n"
		 "    file: huge.txt\n  c:\n    file: sub\n");
	snprintf(path, sizeof(path), "%s/sub", f.dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/huge.txt", f.dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	if (!ASSERT_TRUE(fd >= 0 && !ftruncate(fd, 200 << 20), "sparse 200 MB set file"))
		goto out;
	close(fd);
	ASSERT_EQ(fx_load(&f), -EINVAL, "rc (the policy's mistake, not an I/O error)");
	ASSERT_DIAG(&f, "p.yaml", 3, 5, "cannot read set file", "missing.txt",
		    "No such file or directory");
	ASSERT_DIAG(&f, "p.yaml", 6, 5, "huge.txt", "too large (200.0 MiB, limit 128 MiB)");
	ASSERT_DIAG(&f, "p.yaml", 8, 5, "sub\" is not a regular file");
out:
	fx_done(&f);
}

TEST(set_file_relative_to_policy_file)
{
	struct fixture f;
	char sub[128];

	fx_init(&f);
	snprintf(sub, sizeof(sub), "%s/lists", f.dir);
	mkdir(sub, 0700);
	fx_write(&f, "lists/bl.txt", "192.0.2.0/24\n2001:db8::/32");	/* no final newline */
	fx_write(&f, "p.yaml", "sets:\n  bl:\n    file: lists/bl.txt\n");
	if (ASSERT_OK(fx_load(&f), "load")) {
		ASSERT_EQ(f.pol.sets[0].n, 2, "two prefixes");
		ASSERT_EQ(f.pol.sets[0].v[1].family, AF_INET6, "last line without newline");
	}
	fx_done(&f);
}

TEST(bad_interface_patterns)
{
	struct fixture f;

	fx_init(&f);
	fx_write(&f, "p.yaml", "firewall:\n  stateful: false\n"
		 "  interfaces: [eth0, abcdefghijklmnop, \"a/b\", \"a b\", \"\", \"veth*\"]\n");
	ASSERT_EQ(fx_load(&f), -EINVAL, "rc");
	ASSERT_DIAG(&f, "p.yaml", 3, 22, "bad interface \"abcdefghijklmnop\"", "1 to 15");
	ASSERT_DIAG(&f, "p.yaml", 3, 40, "bad interface \"a/b\"", "no '/' or whitespace");
	ASSERT_DIAG(&f, "p.yaml", 3, 47, "bad interface \"a b\"");
	ASSERT_DIAG(&f, "p.yaml", 3, 54, "bad interface \"\"");
	ASSERT_EQ(f.diags.n, 4, "four bad patterns");
	fx_done(&f);
}

/* A policy in P.yaml that must load; the model is checked by the caller. */
static bool load_ok(struct fixture *f, const char *text)
{
	fx_init(f);
	fx_write(f, "p.yaml", text);
	if (fx_load(f)) {
		print_diags(f);
		return false;
	}
	return true;
}

/*
 * `hook: auto` by the device's class, as rtnetlink describes it (kind,
 * parent bus device): the devices of netns tests are all virtual, so the
 * NIC side of the choice is checked here, on the attributes alone. The
 * expected classes are what `ip -d link` shows for such devices.
 */
TEST(hook_auto_by_device_class)
{
	static const struct {
		const char *what, *kind;
		bool parent, is_virtual;
	} devs[] = {
		{ "PCI NIC (ixgbe, mlx5)",	NULL,		true,	false },
		{ "virtio_net in a VM",		NULL,		true,	false },
		{ "SR-IOV VF",			"",		true,	false },
		{ "veth",			"veth",		false,	true },
		{ "bridge",			"bridge",	false,	true },
		{ "vxlan",			"vxlan",	false,	true },
		{ "macvlan on a NIC",		"macvlan",	false,	true },
		{ "tap (tun driver)",		"tun",		false,	true },
		{ "dummy",			"dummy",	false,	true },
		{ "bond of NICs",		"bond",		false,	true },
		{ "vlan on a NIC",		"vlan",		false,	true },
		{ "loopback",			NULL,		false,	true },
	};
	struct fixture f;

	for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++)
		ASSERT_EQ(sl_dev_virtual(devs[i].kind, devs[i].parent), devs[i].is_virtual,
			  devs[i].what);

	if (ASSERT_TRUE(load_ok(&f, "firewall:\n  interfaces: [eth0]\n"), "auto")) {
		ASSERT_EQ(f.pol.fws[0].hook, SL_FW_HOOK_AUTO, "auto is the default");
		ASSERT_TRUE(sl_policy_xdp_only(&f.pol) == NULL, "nothing only XDP runs");
		ASSERT_EQ(sl_hook_resolve(&f.pol, SL_FW_HOOK_AUTO, "veth", false, ARPHRD_ETHER),
			  SL_FW_HOOK_TC, "auto on a veth");
		ASSERT_EQ(sl_hook_resolve(&f.pol, SL_FW_HOOK_AUTO, NULL, true, ARPHRD_ETHER),
			  SL_FW_HOOK_XDP, "auto on a NIC");
		ASSERT_EQ(sl_hook_resolve(&f.pol, SL_FW_HOOK_XDP, "veth", false, ARPHRD_ETHER),
			  SL_FW_HOOK_XDP, "xdp written, on a veth");
		ASSERT_EQ(sl_hook_resolve(&f.pol, SL_FW_HOOK_TC, NULL, true, ARPHRD_ETHER),
			  SL_FW_HOOK_TC, "tc written, on a NIC");
		ASSERT_EQ(sl_hook_resolve(&f.pol, SL_FW_HOOK_XDP, NULL, false, ARPHRD_LOOPBACK),
			  SL_FW_HOOK_XDP, "xdp written, on lo");
		/* no Ethernet header: XDP would read the IP header as one */
		ASSERT_EQ(sl_hook_resolve(&f.pol, SL_FW_HOOK_XDP, "tun", false, ARPHRD_NONE),
			  SL_FW_HOOK_TC, "xdp written, on a tun device");
		ASSERT_EQ(sl_hook_resolve(&f.pol, SL_FW_HOOK_XDP, "wireguard", false, ARPHRD_NONE),
			  SL_FW_HOOK_TC, "xdp written, on wireguard");
		ASSERT_EQ(sl_hook_resolve(&f.pol, SL_FW_HOOK_XDP, "ipip", false, ARPHRD_TUNNEL),
			  SL_FW_HOOK_TC, "xdp written, on ipip");
		ASSERT_EQ(sl_hook_resolve(&f.pol, SL_FW_HOOK_XDP, "gre", false, ARPHRD_IPGRE),
			  SL_FW_HOOK_TC, "xdp written, on gre");
	}
	fx_done(&f);

	static const char *const xdp_only[] = {
		"firewall:\n  interfaces: [eth0]\nconntrack:\n  syn-cookies: always\n",
		"firewall:\n  interfaces: [eth0]\nconntrack:\n  syn-cookie-ports: [22]\n",
		"firewall:\n  interfaces: [eth0]\nloadbalancers:\n"
		"  - { name: w, vip: 192.0.2.1, port: 80, backends: [{ addr: 198.51.100.1 }] }\n",
		"firewall:\n  interfaces: [eth0]\ndecap:\n  interfaces: [eth0]\n"
		"  vips: [192.0.2.10]\n",
	};
	for (size_t i = 0; i < sizeof(xdp_only) / sizeof(xdp_only[0]); i++) {
		if (ASSERT_TRUE(load_ok(&f, xdp_only[i]), xdp_only[i])) {
			ASSERT_TRUE(sl_policy_xdp_only(&f.pol) != NULL, xdp_only[i]);
			ASSERT_EQ(sl_hook_resolve(&f.pol, SL_FW_HOOK_AUTO, "veth", false, ARPHRD_ETHER),
				  SL_FW_HOOK_XDP, xdp_only[i]);
			ASSERT_EQ(sl_hook_resolve(&f.pol, SL_FW_HOOK_AUTO, "tun", false, ARPHRD_NONE),
				  SL_FW_HOOK_TC, xdp_only[i]);
		}
		fx_done(&f);
	}
}

TEST(stateful_default_and_explicit)
{
	static const char *const on[] = {
		"firewall:\n  default: deny\n",
		"firewall:\n  stateful: true\n",
		"firewall:\n  stateful: yes\n",
	};
	struct fixture f;

	for (size_t i = 0; i < sizeof(on) / sizeof(on[0]); i++) {
		if (ASSERT_TRUE(load_ok(&f, on[i]), on[i]))
			ASSERT_TRUE(f.pol.fws[0].stateful, on[i]);
		fx_done(&f);
	}
	if (ASSERT_TRUE(load_ok(&f, "firewall:\n  stateful: off\n"), "off"))
		ASSERT_FALSE(f.pol.fws[0].stateful, "stateful: off");
	fx_done(&f);
}

TEST(conntrack_defaults_are_netfilters)
{
	struct fixture f;

	if (ASSERT_TRUE(load_ok(&f, "firewall:\n  default: deny\n"), "load")) {
		ASSERT_FALSE(f.pol.ct.present, "no conntrack section");
		ASSERT_EQ(f.pol.ct.max_entries, 262144, "max-entries");
		ASSERT_EQ(f.pol.ct.timeout[SLUICE_CT_TO_TCP_SYN], 120, "tcp-syn");
		ASSERT_EQ(f.pol.ct.timeout[SLUICE_CT_TO_TCP_EST], 432000, "tcp-established 5 days");
		ASSERT_EQ(f.pol.ct.timeout[SLUICE_CT_TO_TCP_CLOSING], 120, "tcp-closing");
		ASSERT_EQ(f.pol.ct.timeout[SLUICE_CT_TO_UDP], 30, "udp");
		ASSERT_EQ(f.pol.ct.timeout[SLUICE_CT_TO_ICMP], 30, "icmp");
	}
	fx_done(&f);
}

TEST(conntrack_keys)
{
	struct fixture f;

	fx_init(&f);
	fx_write(&f, "10-fw.yaml", "firewall:\n  default: deny\n");
	fx_write(&f, "20-ct.yaml", "conntrack:\n  max-entries: 4096\n  timeouts:\n"
		 "    tcp-syn: 60\n    tcp-established: 3600\n    udp: 2\n");
	if (!ASSERT_OK(fx_load(&f), "load")) {
		print_diags(&f);
		goto out;
	}
	ASSERT_TRUE(f.pol.ct.present, "present");
	ASSERT_EQ(f.pol.ct.loc.line, 1, "loc line");
	ASSERT_EQ(f.pol.ct.max_entries, 4096, "max-entries");
	ASSERT_EQ(f.pol.ct.timeout[SLUICE_CT_TO_TCP_SYN], 60, "tcp-syn");
	ASSERT_EQ(f.pol.ct.timeout[SLUICE_CT_TO_TCP_EST], 3600, "tcp-established");
	ASSERT_EQ(f.pol.ct.timeout[SLUICE_CT_TO_UDP], 2, "udp");
	ASSERT_EQ(f.pol.ct.timeout[SLUICE_CT_TO_TCP_CLOSING], 120, "omitted key keeps default");
	ASSERT_EQ(f.pol.ct.timeout[SLUICE_CT_TO_ICMP], 30, "icmp default");
out:
	fx_done(&f);
}

TEST(conntrack_bad_keys_and_values)
{
	struct fixture f;

	fx_init(&f);
	fx_write(&f, "p.yaml",
		 "conntrack:\n"				/* 1 */
		 "  max-entries: 100\n"			/* 2 */
		 "  size: 5\n"					/* 3 */
		 "  timeouts:\n"				/* 4 */
		 "    tcp-syn: 0\n"				/* 5 */
		 "    tcp-established: -5\n"			/* 6 */
		 "    tcp-closing: 99999999999\n"		/* 7 */
		 "    udp: 30s\n"				/* 8 */
		 "    tcp-fin: 10\n"				/* 9 */
		 "    icmp: \"30\"\n");			/* 10 */
	ASSERT_EQ(fx_load(&f), -EINVAL, "rc");
	ASSERT_DIAG(&f, "p.yaml", 2, 16, "max-entries 100 is out of range 1024..16777216");
	ASSERT_DIAG(&f, "p.yaml", 3, 3, "unknown key \"size\" in conntrack",
		    "allowed keys: max-entries, timeouts");
	ASSERT_DIAG(&f, "p.yaml", 5, 14, "timeout tcp-syn must be at least 1 second, got 0");
	ASSERT_DIAG(&f, "p.yaml", 6, 22, "timeout tcp-established must be at least 1 second",
		    "-5");
	ASSERT_DIAG(&f, "p.yaml", 7, 18, "timeout tcp-closing of 99999999999 seconds",
		    "more than 2592000 (30 days)");
	ASSERT_DIAG(&f, "p.yaml", 8, 10, "timeout udp must be a whole number of seconds",
		    "\"30s\"");
	ASSERT_DIAG(&f, "p.yaml", 9, 5, "unknown key \"tcp-fin\" in conntrack timeouts",
		    "tcp-syn, tcp-established, tcp-closing, udp, icmp");
	ASSERT_DIAG(&f, "p.yaml", 10, 11, "timeout icmp must be a whole number");
	ASSERT_EQ(f.diags.n, 8, "eight errors");
	fx_done(&f);

	EXPECT_ONE("conntrack:\n  max-entries: 16777217\n", 2, 16, "out of range");
	EXPECT_ONE("conntrack:\n  max-entries: [1]\n", 2, 16, "max-entries must be a whole number");
	EXPECT_ONE("conntrack:\n  timeouts: 30\n", 2, 13, "conntrack timeouts must be a mapping");
	EXPECT_ONE("conntrack: 5\n", 1, 12, "conntrack must be a mapping");
}

TEST(conntrack_in_two_files)
{
	struct fixture f;

	fx_init(&f);
	fx_write(&f, "a.yaml", "conntrack:\n  max-entries: 2048\n");
	fx_write(&f, "b.yaml", "\nconntrack:\n  max-entries: 4096\n");
	ASSERT_EQ(fx_load(&f), -EINVAL, "rc");
	ASSERT_DIAG(&f, "b.yaml", 2, 1, "conntrack is defined again", "one file only", "a.yaml:1:1");
	fx_done(&f);
}

/* conntrack.syn-cookies and syn-cookie-ports: the default, the values, the errors. */
TEST(conntrack_syn_cookies)
{
	struct fixture f;

	if (ASSERT_TRUE(load_ok(&f, "firewall:\n  default: deny\n"), "load"))
		ASSERT_EQ(f.pol.ct.syncookies, SLUICE_CK_AUTO, "auto by default");
	fx_done(&f);
	if (ASSERT_TRUE(load_ok(&f, "conntrack:\n  syn-cookies: always\n"), "always"))
		ASSERT_EQ(f.pol.ct.syncookies, SLUICE_CK_ALWAYS, "always");
	fx_done(&f);
	if (ASSERT_TRUE(load_ok(&f, "conntrack:\n  syn-cookies: off\n"), "off"))
		ASSERT_EQ(f.pol.ct.syncookies, SLUICE_CK_OFF, "off");
	fx_done(&f);
	if (ASSERT_TRUE(load_ok(&f, "conntrack:\n  syn-cookie-ports: [22, \"8000-8080\"]\n"),
			"ports")) {
		ASSERT_EQ(f.pol.ct.syncookies, SLUICE_CK_AUTO, "ports go with auto");
		ASSERT_EQ(f.pol.ct.nsyncookie_ports, 2, "two items");
		ASSERT_EQ(f.pol.ct.syncookie_ports[1].lo, 8000, "range lo");
		ASSERT_EQ(f.pol.ct.syncookie_ports[1].hi, 8080, "range hi");
	}
	fx_done(&f);
	if (ASSERT_TRUE(load_ok(&f, "conntrack:\n  syn-cookie-ports: 443\n"), "one port"))
		ASSERT_EQ(f.pol.ct.syncookie_ports[0].lo, 443, "a single value is a list of one");
	fx_done(&f);

	EXPECT_ONE("conntrack:\n  syn-cookies: yes\n", 2, 16,
		   "syn-cookies must be off, auto or always, got \"yes\"");
	EXPECT_ONE("conntrack:\n  syn-cookies: [auto]\n", 2, 16, "syn-cookies must be off");
	EXPECT_ONE("conntrack:\n  syn-cookie-ports: [0]\n", 2, 22, "port \"0\" is out of range");
	EXPECT_ONE("conntrack:\n  syn-cookie-ports: []\n", 2, 21, "syn-cookie-ports: empty list");
	EXPECT_ONE("conntrack:\n  syn-cookies: off\n  syn-cookie-ports: [22]\n", 3, 3,
		   "syn-cookie-ports needs syn-cookies: auto", "with off, no SYN gets a cookie");
	EXPECT_ONE("conntrack:\n  syn-cookie-ports: [22]\n  syn-cookies: always\n", 2, 3,
		   "syn-cookie-ports needs syn-cookies: auto", "every SYN gets one");
	{
		char text[1024] = "conntrack:\n  syn-cookie-ports: [";

		for (int i = 1; i <= SL_CK_PORT_RANGES + 1; i++)
			snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s%d",
				 i > 1 ? ", " : "", i * 10);
		strcat(text, "]\n");
		EXPECT_ONE(text, 2, 21, "syn-cookie-ports: 65 ports and ranges, at most 64");
	}
}

TEST(all_errors_collected)
{
	struct fixture f;

	fx_init(&f);
	fx_write(&f, "a.yaml", "sets:\n  s: { prefixes: [192.0.2.1/24, 10.0.0.0/33] }\n");
	fx_write(&f, "b.yaml", FW_HEAD "    - name: r\n      action: nope\n"
		 "      src: [\"@nope\"]\n");
	fx_write(&f, "c.yaml", "egress: []\n");
	ASSERT_EQ(fx_load(&f), -EINVAL, "rc");
	ASSERT_EQ(f.diags.n, 5, "every error of every file");
	ASSERT_DIAG(&f, "a.yaml", 2, 19, "host bits");
	ASSERT_DIAG(&f, "a.yaml", 2, 33, "bad prefix length");
	ASSERT_DIAG(&f, "b.yaml", 5, 15, "unknown action");
	ASSERT_DIAG(&f, "b.yaml", 6, 13, "unknown set \"@nope\"");
	ASSERT_DIAG(&f, "c.yaml", 1, 1, "egress");
	/* in file order, by line: the checker's "unknown set" sits between b and c */
	if (f.diags.n == 5) {
		ASSERT_STRSTR(f.diags.v[0].msg, "host bits", "first");
		ASSERT_STRSTR(f.diags.v[3].msg, "unknown set", "cross-file error in place");
		ASSERT_STRSTR(f.diags.v[4].msg, "egress", "last file last");
	}
	ASSERT_EQ(f.pol.nfiles, 0, "an invalid policy is freed");
	fx_done(&f);
}

TEST(error_flood_is_capped)
{
	struct fixture f;
	char *buf = malloc(64 * 1024), *p = buf;

	fx_init(&f);
	p += sprintf(p, "sets:\n  s:\n    prefixes:\n");
	for (int i = 0; i < 500; i++)
		p += sprintf(p, "      - 192.0.2.%d/24\n", i % 255 + 1);
	fx_write_n(&f, "p.yaml", buf, (size_t)(p - buf));
	free(buf);
	ASSERT_EQ(fx_load(&f), -EINVAL, "rc");
	ASSERT_EQ(f.diags.n, 201, "200 errors and a count of the rest");
	ASSERT_DIAG(&f, "p.yaml", 4, 9, "\"192.0.2.1/24\" has host bits set");
	ASSERT_DIAG(&f, "p.yaml", 0, 0, "300 more errors not shown");
	if (f.diags.n == 201)
		ASSERT_STRSTR(f.diags.v[200].msg, "more errors", "the count comes last");
	fx_done(&f);
}

TEST(dir_without_policy_files)
{
	struct fixture f;

	fx_init(&f);
	fx_write(&f, "notes.txt", "hello\n");
	fx_write(&f, ".hidden.yaml", "firewall: {}\n");
	ASSERT_EQ(fx_load(&f), -EINVAL, "rc");
	ASSERT_DIAG(&f, "", 0, 0, "no policy files (*.yaml)");
	fx_done(&f);
}

TEST(missing_inputs)
{
	struct sl_policy pol;
	struct sl_diags d = { 0 };
	const char *paths[] = { "/nonexistent/sla.yaml" };

	ASSERT_EQ(policy_load_dir("/nonexistent/sla-dir", &pol, &d), -ENOENT, "missing dir");
	ASSERT_EQ(d.n, 1, "one diagnostic");
	ASSERT_STRSTR(d.v[0].msg, "No such file or directory", "message");
	sl_diags_free(&d);
	ASSERT_EQ(policy_load_paths(paths, 1, &pol, &d), -ENOENT, "missing file");
	ASSERT_STREQ(d.v[0].file, "/nonexistent/sla.yaml", "file named");
	sl_diags_free(&d);
	policy_free(&pol);
}

TEST(configmap_symlinks_and_name_order)
{
	struct fixture f;
	char a[256], b[256];

	fx_init(&f);
	snprintf(a, sizeof(a), "%s/..2026_11_22", f.dir);
	mkdir(a, 0700);
	fx_write(&f, "..2026_11_22/20-fw.yaml", FW_HEAD "    - name: r\n      action: deny\n"
		 "      src: [\"@s\"]\n");
	fx_write(&f, "..2026_11_22/10-sets.yaml", "sets:\n  s: { prefixes: [192.0.2.0/24] }\n");
	snprintf(a, sizeof(a), "%s/..data", f.dir);
	if (!ASSERT_OK(symlink("..2026_11_22", a), "..data link"))
		goto out;
	snprintf(a, sizeof(a), "%s/20-fw.yaml", f.dir);
	snprintf(b, sizeof(b), "%s/10-sets.yaml", f.dir);
	ASSERT_OK(symlink("..data/20-fw.yaml", a), "link");
	ASSERT_OK(symlink("..data/10-sets.yaml", b), "link");
	if (ASSERT_OK(fx_load(&f), "load")) {
		ASSERT_EQ(f.pol.nfiles, 2, "hidden ..data not read twice");
		ASSERT_STREQ(f.pol.files[0], b, "name order");
	}
out:
	fx_done(&f);
}

TEST(load_paths_mixes_files_and_dirs)
{
	struct fixture f;
	char a[256];
	const char *paths[2] = { "tests/data/basic", a };

	fx_init(&f);
	fx_write(&f, "x.yaml", "sets:\n  extra: { prefixes: [\"2001:db8::/32\"] }\n");
	snprintf(a, sizeof(a), "%s/x.yaml", f.dir);
	f.rc = policy_load_paths(paths, 2, &f.pol, &f.diags);
	if (ASSERT_OK(f.rc, "load"))
		ASSERT_EQ(f.pol.nsets, 3, "sets of both");
	fx_done(&f);
}

TEST(aliases_are_followed)
{
	struct fixture f;

	fx_init(&f);
	fx_write(&f, "p.yaml", "sets:\n  s: { prefixes: &nets [192.0.2.0/24, 198.51.100.0/24] }\n"
		 FW_HEAD "    - name: r\n      action: deny\n      dst: *nets\n");
	if (ASSERT_OK(fx_load(&f), "load"))
		ASSERT_EQ(f.pol.fws[0].rules[0].ndst, 2, "alias expanded");
	fx_done(&f);
}

static void pkt4(struct sl_pkt *p, const char *src, const char *dst, uint8_t proto,
		 uint16_t sport, uint16_t dport, bool has_ports)
{
	memset(p, 0, sizeof(*p));
	p->family = AF_INET;
	inet_pton(AF_INET, src, p->src);
	inet_pton(AF_INET, dst, p->dst);
	p->proto = proto;
	p->sport = sport;
	p->dport = dport;
	p->has_ports = has_ports;
}

/*
 * What section FW of POL does with P, through the compiled tables: the rule
 * index, or -1 for the default. *ALLOW (if not NULL) gets the verdict.
 */
static int classify(const struct sl_policy *pol, size_t fw, const struct sl_pkt *p, bool *allow)
{
	struct sl_diags d = { 0 };
	struct fw_tables t;
	int i;

	if (!ASSERT_OK(fw_compile(pol, &pol->fws[fw], 1, &t, &d), "compile")) {
		sl_diags_free(&d);
		return -2;
	}
	i = fw_tables_classify(&t, p);
	if (allow)
		*allow = fw_tables_action(&t, i) == SLUICE_ACT_ALLOW;
	fw_tables_free(&t);
	sl_diags_free(&d);
	return i;
}

static bool allowed(const struct sl_policy *pol, size_t fw, const struct sl_pkt *p)
{
	bool allow = false;

	classify(pol, fw, p, &allow);
	return allow;
}

/* The policy's meaning, checked by hand on tests/data/basic. */
TEST(classifier_semantics)
{
	struct sl_policy pol;
	struct sl_diags d = { 0 };
	struct sl_pkt p;

	if (!ASSERT_OK(policy_load_dir("tests/data/basic", &pol, &d), "load"))
		return;
	/* blocklist source, first match wins even though ssh would allow it */
	pkt4(&p, "192.0.2.200", "192.0.2.1", IPPROTO_TCP, 40000, 22, true);
	ASSERT_EQ(classify(&pol, 0, &p, NULL), 0, "drop-bad first");
	ASSERT_EQ(allowed(&pol, 0, &p), false, "denied");
	pkt4(&p, "203.0.113.5", "192.0.2.1", IPPROTO_TCP, 40000, 8080, true);
	ASSERT_EQ(classify(&pol, 0, &p, NULL), 1, "ssh via range");
	pkt4(&p, "203.0.113.5", "192.0.2.1", IPPROTO_TCP, 40000, 8081, true);
	ASSERT_EQ(classify(&pol, 0, &p, NULL), -1, "past the range: default");
	ASSERT_EQ(allowed(&pol, 0, &p), false, "default deny");
	/* a non-first fragment carries no ports: never matches a port rule */
	pkt4(&p, "203.0.113.5", "192.0.2.1", IPPROTO_TCP, 0, 0, false);
	ASSERT_EQ(classify(&pol, 0, &p, NULL), -1, "no ports, no ssh");
	pkt4(&p, "203.0.113.5", "192.0.2.9", IPPROTO_ICMP, 0, 0, false);
	ASSERT_EQ(classify(&pol, 0, &p, NULL), 3, "ping");
	/* family must match: a v4-only src list never matches IPv6 */
	memset(&p, 0, sizeof(p));
	p.family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8:bad::1", p.src);
	inet_pton(AF_INET6, "2001:db8::80", p.dst);
	p.proto = IPPROTO_TCP;
	p.has_ports = true;
	p.sport = 5000;
	p.dport = 443;
	ASSERT_EQ(classify(&pol, 0, &p, NULL), 0, "v6 blocklist");
	inet_pton(AF_INET6, "2001:db8:1::1", p.src);
	ASSERT_EQ(classify(&pol, 0, &p, NULL), 4, "v6-web");
	p.sport = 1023;
	ASSERT_EQ(classify(&pol, 0, &p, NULL), -1, "sport below 1024");
	policy_free(&pol);
	sl_diags_free(&d);
}

/* ---- firewall sections ---- */

#define SECTIONS							\
	"firewall:\n"							\
	"  - name: edge\n"						\
	"    interfaces: [eth0, \"veth-a*\"]\n"				\
	"    default: deny\n"						\
	"    rules:\n"							\
	"      - { name: ssh, action: allow, proto: tcp, dport: 22 }\n"	\
	"  - interfaces: [\"veth*\", lo]\n"				\
	"    stateful: false\n"						\
	"    rules:\n"							\
	"      - { name: web, action: deny, proto: tcp, dport: 80 }\n"	\
	"      - { name: ping, action: allow, proto: icmp }\n"		\
	"  - name: spare\n"						\
	"    interfaces: [\"eth*\"]\n"

TEST(sections_list_form)
{
	struct fixture f;
	const struct sl_firewall *fw;

	if (!ASSERT_TRUE(load_ok(&f, SECTIONS), "three sections load"))
		goto out;
	if (!ASSERT_EQ(f.pol.nfws, 3, "three sections"))
		goto out;
	fw = &f.pol.fws[0];
	ASSERT_STREQ(fw->name, "edge", "explicit name");
	ASSERT_EQ(fw->loc.line, 2, "a named section is located at its name");
	ASSERT_EQ(fw->loc.col, 11, "name column");
	ASSERT_EQ(fw->default_action, SLUICE_ACT_DENY, "edge: default deny");
	ASSERT_TRUE(fw->stateful, "edge: stateful by default");
	ASSERT_EQ(fw->nrules, 1, "edge: one rule");
	ASSERT_EQ(fw->iface_locs[1].line, 3, "pattern line");
	ASSERT_EQ(fw->iface_locs[1].col, 24, "pattern column");
	fw = &f.pol.fws[1];
	ASSERT_STREQ(fw->name, "fw1", "unnamed: fw<position>");
	ASSERT_EQ(fw->loc.line, 7, "an unnamed section is located at its mapping");
	ASSERT_EQ(fw->default_action, SLUICE_ACT_ALLOW, "fw1: default allow");
	ASSERT_FALSE(fw->stateful, "fw1: stateless");
	ASSERT_EQ(fw->nrules, 2, "fw1: two rules");
	ASSERT_STREQ(fw->rules[1].name, "ping", "rules stay in their section");
	ASSERT_EQ(f.pol.fws[2].nrules, 0, "spare: no rules");
	ASSERT_EQ(policy_nrules(&f.pol), 3, "rules of all sections");
	ASSERT_TRUE(policy_stateful(&f.pol), "one stateful section makes conntrack run");
	ASSERT_EQ(policy_find_fw(&f.pol, "spare"), 2, "find by name");
	ASSERT_EQ(policy_find_fw(&f.pol, "fw1"), 1, "find by default name");
	ASSERT_EQ(policy_find_fw(&f.pol, "nope"), -1, "absent");

	/* exact names beat globs; among globs the first section in file order */
	ASSERT_EQ(policy_fw_for_iface(&f.pol, "eth0"), 0, "eth0 named in edge");
	ASSERT_EQ(policy_fw_for_iface(&f.pol, "eth1"), 2, "eth1 by eth* of spare");
	ASSERT_EQ(policy_fw_for_iface(&f.pol, "veth-a7"), 0, "veth-a* comes first");
	ASSERT_EQ(policy_fw_for_iface(&f.pol, "veth-b7"), 1, "veth* of fw1");
	ASSERT_EQ(policy_fw_for_iface(&f.pol, "lo"), 1, "lo named in fw1");
	ASSERT_EQ(policy_fw_for_iface(&f.pol, "wlan0"), -1, "no section");
	ASSERT_FALSE(policy_iface_match(&f.pol, "wlan0"), "not attached");
	ASSERT_EQ(policy_fw_for_name(&f.pol, "veth-a7"), -1, "by exact names only");
	ASSERT_EQ(policy_fw_for_name(&f.pol, "lo"), 1, "lo by name");
	fw = policy_fw(&f.pol, policy_fw_for_iface(&f.pol, "wlan0"));
	ASSERT_FALSE(fw->present, "no section: the built-in empty one");
	ASSERT_EQ(fw->nrules, 0, "empty: no rules");
	ASSERT_EQ(fw->default_action, SLUICE_ACT_ALLOW, "empty: allow");
	ASSERT_FALSE(fw->stateful, "empty: stateless");
out:
	fx_done(&f);
}

TEST(sections_mapping_form_and_names)
{
	struct fixture f;

	if (ASSERT_TRUE(load_ok(&f, "firewall:\n  interfaces: [eth0]\n  stateful: false\n"),
			"mapping form")) {
		ASSERT_EQ(f.pol.nfws, 1, "one section");
		ASSERT_STREQ(f.pol.fws[0].name, "fw0", "mapping form: fw0");
		/* blamed at the firewall key, as before sections existed */
		ASSERT_EQ(f.pol.fws[0].loc.line, 1, "loc line: the firewall key");
		ASSERT_EQ(f.pol.fws[0].loc.col, 1, "loc col");
		ASSERT_EQ(f.pol.fw_loc.line, 1, "fw_loc");
		ASSERT_FALSE(policy_stateful(&f.pol), "the only section is stateless");
	}
	fx_done(&f);
	if (ASSERT_TRUE(load_ok(&f, "firewall:\n  name: public\n  interfaces: [eth0]\n"),
			"named mapping"))
		ASSERT_STREQ(f.pol.fws[0].name, "public", "mapping form takes a name too");
	fx_done(&f);
	/* a list of one is the mapping form */
	if (ASSERT_TRUE(load_ok(&f, "firewall:\n  - interfaces: [eth0]\n    default: deny\n"),
			"list of one")) {
		ASSERT_EQ(f.pol.nfws, 1, "one section");
		ASSERT_STREQ(f.pol.fws[0].name, "fw0", "fw0");
		ASSERT_EQ(f.pol.fws[0].loc.line, 2, "list item: its mapping");
		ASSERT_EQ(f.pol.fws[0].loc.col, 5, "list item column");
		ASSERT_EQ(f.pol.fws[0].default_action, SLUICE_ACT_DENY, "deny");
	}
	fx_done(&f);
	/* sections that share no pattern but could both match a name: first wins */
	if (ASSERT_TRUE(load_ok(&f, "firewall:\n  - interfaces: [\"v*1\", eth0, eth0]\n"
				"  - interfaces: [\"ve*\", \"eth*\"]\n"), "overlap is fine")) {
		ASSERT_EQ(policy_fw_for_iface(&f.pol, "veth1"), 0, "first glob in order");
		ASSERT_EQ(policy_fw_for_iface(&f.pol, "veth2"), 1, "second");
		ASSERT_EQ(policy_fw_for_iface(&f.pol, "eth0"), 0, "exact name, given twice");
	}
	fx_done(&f);
	/* an exact name beats an earlier glob: not dead */
	if (ASSERT_TRUE(load_ok(&f, "firewall:\n  - interfaces: [\"eth*\"]\n"
				"  - interfaces: [eth0]\n"), "exact after glob"))
		ASSERT_EQ(policy_fw_for_iface(&f.pol, "eth0"), 1, "eth0 takes its own section");
	fx_done(&f);
	/* a class is not judged: never a false refusal */
	ASSERT_TRUE(load_ok(&f, "firewall:\n  - interfaces: [\"*\"]\n"
			    "  - interfaces: [\"eth[[:digit:]]\"]\n"), "class left unjudged");
	fx_done(&f);
}

TEST(sections_errors)
{
	/* the same pattern in two sections: both places */
	EXPECT_ONE("firewall:\n  - name: a\n    interfaces: [eth0, \"veth*\"]\n"
		   "  - name: b\n    interfaces: [\"veth*\"]\n", 5, 18,
		   "interface \"veth*\" is in section \"b\" and in section \"a\"",
		   "p.yaml:3:24", "an interface runs one section");
	EXPECT_ONE("firewall:\n  - interfaces: [eth0]\n  - interfaces: [eth1, eth0]\n", 3, 24,
		   "interface \"eth0\" is in section \"fw1\" and in section \"fw0\"", "p.yaml:2:18");
	/* a glob that an earlier section's glob covers can never apply */
	EXPECT_ONE("firewall:\n  - name: all-veth\n    interfaces: [\"veth*\"]\n"
		   "  - name: lab\n    interfaces: [\"veth1?\"]\n", 5, 18,
		   "interface pattern \"veth1?\" of section \"lab\" never applies",
		   "section \"all-veth\" first, by \"veth*\" at", "p.yaml:3:18");
	EXPECT_ONE("firewall:\n  - interfaces: [\"*\"]\n  - interfaces: [\"eth[0-3]\"]\n", 3, 18,
		   "\"eth[0-3]\" of section \"fw1\" never applies");
	/* rule names are unique across sections */
	EXPECT_ONE("firewall:\n  - interfaces: [eth0]\n    rules:\n"
		   "      - { name: r, action: deny }\n"
		   "  - interfaces: [eth1]\n    rules:\n      - { name: r, action: allow }\n",
		   7, 17, "duplicate rule name \"r\"", "p.yaml:4:17");
	/* section names are unique, default names included */
	EXPECT_ONE("firewall:\n  - name: x\n  - name: x\n", 3, 11,
		   "duplicate section name \"x\"", "p.yaml:2:11");
	EXPECT_ONE("firewall:\n  - name: fw1\n  - interfaces: [eth0]\n", 3, 5,
		   "duplicate section name \"fw1\"", "p.yaml:2:11");
	EXPECT_ONE("firewall:\n  - name: \"a b\"\n", 2, 11, "bad section name \"a b\"");
	EXPECT_ONE("firewall: []\n", 1, 11, "empty list of sections");
	EXPECT_ONE("firewall:\n  - interfaces: [eth0]\n    iface: [x]\n", 3, 5,
		   "unknown key \"iface\" in a firewall section", "name, interfaces");
	EXPECT_ONE("firewall:\n  - interfaces: [eth0]\n  - deny\n", 3, 5,
		   "a firewall section must be a mapping");
	EXPECT_ONE("firewall:\n  - stateful: perhaps\n", 2, 15, "stateful must be true or false");
}

TEST(sections_in_one_file_only)
{
	struct fixture f;

	fx_init(&f);
	fx_write(&f, "10-a.yaml", "firewall:\n  - interfaces: [eth0]\n");
	fx_write(&f, "20-b.yaml", "firewall:\n  - interfaces: [eth1]\n");
	ASSERT_EQ(fx_load(&f), -EINVAL, "refused");
	ASSERT_DIAG(&f, "20-b.yaml", 1, 1, "firewall is defined again", "10-a.yaml:1:1");
	fx_done(&f);
}

TEST(sections_classify_apart)
{
	struct fixture f;
	struct sl_pkt p;

	if (!ASSERT_TRUE(load_ok(&f, SECTIONS), "load"))
		goto out;
	/* one packet, three sections, three verdicts */
	pkt4(&p, "203.0.113.5", "192.0.2.1", IPPROTO_TCP, 40000, 80, true);
	ASSERT_EQ(classify(&f.pol, 0, &p, NULL), -1, "edge: no rule");
	ASSERT_EQ(allowed(&f.pol, 0, &p), false, "edge denies");
	ASSERT_EQ(classify(&f.pol, 1, &p, NULL), 0, "fw1: rule web");
	ASSERT_EQ(allowed(&f.pol, 1, &p), false, "web denies");
	ASSERT_EQ(allowed(&f.pol, 2, &p), true, "spare allows");
	pkt4(&p, "203.0.113.5", "192.0.2.1", IPPROTO_TCP, 40000, 22, true);
	ASSERT_EQ(allowed(&f.pol, 0, &p), true, "edge: ssh");
	ASSERT_EQ(classify(&f.pol, 1, &p, NULL), -1, "fw1: no ssh rule");
out:
	fx_done(&f);
}

/* Is NAME one the kernel accepts for an interface? */
static bool valid_ifname(const char *name)
{
	size_t n = strlen(name);

	if (!n || n > 15)
		return false;
	for (size_t i = 0; i < n; i++)
		if (name[i] == '/' || name[i] == ':' || isspace((unsigned char)name[i]))
			return false;
	return true;
}

/*
 * sl_glob_covers against fnmatch(3) itself: every "not covered" comes with a
 * name that proves it; every "covered" survives names B matches.
 */
TEST(glob_cover_agrees_with_fnmatch)
{
	static const char *const atoms[] = { "a", "b", "?", "*", "[ab]", "[!a]", "[a-c]", "\\*",
					     "-", "[]a]" };
	static const char alpha[] = "ab*c-]x";
	uint64_t x = 0x9e3779b97f4a7c15ull;
	int covered = 0, witnessed = 0, unsure = 0;
	char w[16];

	ASSERT_EQ(sl_glob_covers("veth*", "veth1*", w), 1, "veth* covers veth1*");
	ASSERT_EQ(sl_glob_covers("eth[0-9]", "eth[2-4]", w), 1, "range in range");
	ASSERT_EQ(sl_glob_covers("eth[0-3]", "eth*", w), 0, "not the other way");
	ASSERT_TRUE(!fnmatch("eth*", w, 0) && fnmatch("eth[0-3]", w, 0), w);
	/* the walk comes back to its start state: the name "y" must still be found */
	ASSERT_EQ(sl_glob_covers("*x*", "*", w), 0, "*x* does not cover *");
	ASSERT_TRUE(!strchr(w, 'x') && valid_ifname(w), w);
	ASSERT_EQ(sl_glob_covers("?", "*", w), 0, "? does not cover *");
	ASSERT_EQ(strlen(w), 2, "shortest witness");
	ASSERT_EQ(sl_glob_covers("a*", "[[:alpha:]]*", w), -1, "classes: cannot tell");
	for (int round = 0; round < 3000; round++) {
		char pa[16] = "", pb[16] = "";
		int rc;

		for (char *p = pa; p; p = p == pa ? pb : NULL) {
			int n = 1 + (int)((x >> 7) % 4);

			for (int i = 0; i < n; i++) {
				const char *at;

				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				at = atoms[(x >> 11) % (sizeof(atoms) / sizeof(atoms[0]))];
				if (strlen(p) + strlen(at) < 15)
					strcat(p, at);
			}
		}
		rc = sl_glob_covers(pa, pb, w);
		if (rc == 0) {
			witnessed++;
			if (!ASSERT_TRUE(valid_ifname(w) && !fnmatch(pb, w, 0) && fnmatch(pa, w, 0),
					 "witness: B matches, A does not")) {
				printf("#   A %s B %s witness \"%s\"\n", pa, pb, w);
				return;
			}
			continue;
		}
		if (rc < 0) {
			unsure++;
			continue;
		}
		covered++;
		/* every name of 1 to 4 bytes over a small alphabet (bijective base 7) */
		for (uint32_t code = 1; code < 1 + 7 + 49 + 343 + 2401; code++) {
			char name[8];
			uint32_t c = code;
			int len = 0;

			while (c) {
				name[len++] = alpha[(c - 1) % 7];
				c = (c - 1) / 7;
			}
			name[len] = '\0';
			if (len && !fnmatch(pb, name, 0) && fnmatch(pa, name, 0)) {
				ASSERT_TRUE(false, "covered, yet a name B matches and A does not");
				printf("#   A %s B %s name \"%s\"\n", pa, pb, name);
				return;
			}
		}
	}
	printf("# 3000 pattern pairs: %d covered, %d not (with a witness), %d undecided\n",
	       covered, witnessed, unsure);
	ASSERT_TRUE(covered > 100 && witnessed > 100, "both answers seen");
	ASSERT_EQ(unsure, 0, "no pattern here is out of the model");
}

/*
 * Mutated policies (bytes flipped, inserted, deleted, lines swapped) never
 * crash the parser, and every refusal says where and what.
 */
TEST(mutated_policies_are_refused_cleanly)
{
	static const char *const srcs[] = { "tests/data/basic/20-fw.yaml",
					    "tests/data/basic/10-sets.yaml",
					    "tests/data/edges/p.yaml",
					    "tests/data/sections/p.yaml" };
	static const char junk[] = "-:[]{},#&*!|>'\"%@` \t\n\\0123456789abc/.\xff\x80";
	uint64_t x = 88172645463325252ull;
	int refused = 0, accepted = 0, bad = 0;

	for (int round = 0; round < 600; round++) {
		const char *src = srcs[round % 4];
		char *buf;
		struct fixture f;
		FILE *in = fopen(src, "r");
		size_t len;
		int nmut;

		if (!ASSERT_TRUE(in, src))
			return;
		buf = calloc(1, 8192);
		len = fread(buf, 1, 8000, in);
		fclose(in);
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		nmut = 1 + (int)(x % 4);
		for (int m = 0; m < nmut && len; m++) {
			size_t at;

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			at = (size_t)(x >> 8) % len;
			switch (x % 3) {
			case 0:	/* replace */
				buf[at] = junk[(x >> 40) % (sizeof(junk) - 1)];
				break;
			case 1:	/* insert */
				if (len < 8000) {
					memmove(buf + at + 1, buf + at, len - at);
					buf[at] = junk[(x >> 40) % (sizeof(junk) - 1)];
					len++;
				}
				break;
			default:	/* delete */
				memmove(buf + at, buf + at + 1, len - at - 1);
				len--;
				break;
			}
		}
		fx_init(&f);
		/* the set file of the basic policy, so @blocklist may resolve */
		in = fopen("tests/data/basic/blocklist.txt", "r");
		if (in) {
			char b2[512];
			size_t l2 = fread(b2, 1, sizeof(b2), in);

			fclose(in);
			fx_write_n(&f, "blocklist.txt", b2, l2);
		}
		fx_write_n(&f, "p.yaml", buf, len);
		free(buf);
		if (fx_load(&f) == 0) {
			accepted++;
			/* every section of a valid policy has a name */
			for (size_t k = 0; k < f.pol.nfws; k++)
				bad += !f.pol.fws[k].name;
		} else {
			refused++;
			if (!f.diags.n)
				bad++;
			for (len = 0; len < f.diags.n; len++)
				if (!f.diags.v[len].file || !f.diags.v[len].msg[0])
					bad++;
		}
		fx_done(&f);
	}
	printf("# 600 mutations: %d refused, %d still valid\n", refused, accepted);
	ASSERT_EQ(bad, 0, "refusals without a located message");
	ASSERT_TRUE(refused > 300, "most mutations are refused");
}

/* ---- loadbalancers and decap (lib/lb_parse.c) ---- */

/* SPEC.md's example, plus an IPv6 DSR service: the model and its defaults. */
TEST(lb_valid_model)
{
	struct fixture f;
	const struct sl_lb_service *w, *d;

	if (!ASSERT_TRUE(load_ok(&f,
		"firewall:\n  interfaces: [eth0]\n"
		"loadbalancers:\n"
		"  - name: web\n"
		"    vip: 192.0.2.10\n"
		"    port: 80\n"
		"    proto: tcp\n"
		"    mode: nat\n"
		"    health:\n"
		"      type: tcp\n"
		"      interval: 1\n"
		"      timeout: 0.5\n"
		"      rise: 2\n"
		"      fall: 2\n"
		"    backends:\n"
		"      - { addr: 198.51.100.11, port: 8080, weight: 1 }\n"
		"      - { addr: 198.51.100.12, port: 8080, weight: 2, drain: true }\n"
		"  - name: d6\n"
		"    vip: \"2001:db8::10\"\n"
		"    port: 443\n"
		"    mode: dsr\n"
		"    table-size: 16381\n"
		"    encap-source: \"2001:db8:e::/96\"\n"
		"    health: { type: http, interval: 2, path: /healthz, expect: 204 }\n"
		"    backends:\n"
		"      - { addr: \"2001:db8::11\" }\n"
		"decap:\n  interfaces: [eth0]\n  vips: [192.0.2.10, \"2001:db8::10\"]\n"), "loads"))
		return;
	if (!ASSERT_EQ(f.pol.nlbs, 2, "services"))
		goto out;
	w = &f.pol.lbs[0];
	d = &f.pol.lbs[1];
	ASSERT_STREQ(w->name, "web", "name");
	ASSERT_EQ(w->family, 4, "family");
	ASSERT_EQ(w->port, 80, "port");
	ASSERT_EQ(w->proto, IPPROTO_TCP, "proto");
	ASSERT_EQ(w->mode, SL_LB_NAT, "mode");
	ASSERT_EQ(w->table_size, 65537, "default table size");
	ASSERT_EQ(w->health.type, SL_HC_TCP, "health");
	ASSERT_EQ(w->health.interval_ms, 1000, "interval");
	ASSERT_EQ(w->health.timeout_ms, 500, "timeout");
	ASSERT_EQ(w->nbackends, 2, "backends");
	ASSERT_EQ(w->backends[1].weight, 2, "weight");
	ASSERT_TRUE(w->backends[1].drain && !w->backends[0].drain, "drain");
	ASSERT_EQ(d->family, 6, "v6");
	ASSERT_EQ(d->mode, SL_LB_DSR, "dsr");
	ASSERT_EQ(d->table_size, 16381, "table size");
	ASSERT_EQ(d->encap.len, 96, "encap-source");
	ASSERT_EQ(d->backends[0].port, 443, "backend port: the service's");
	ASSERT_EQ(d->backends[0].weight, 1, "default weight");
	ASSERT_EQ(d->health.type, SL_HC_HTTP, "http");
	ASSERT_STREQ(d->health.path, "/healthz", "path");
	ASSERT_EQ(d->health.expect, 204, "expect");
	ASSERT_EQ(d->health.timeout_ms, 500, "default timeout");
	ASSERT_EQ(f.pol.decap.nvips, 2, "decap vips");
	ASSERT_EQ(f.pol.decap.nifaces, 1, "decap interfaces");
out:
	fx_done(&f);
}

/* Every mistake of a service, each at its own line and column. */
TEST(lb_errors_located)
{
	struct fixture f;

	fx_init(&f);
	fx_write(&f, "a.yaml",
		"firewall:\n  interfaces: [eth0]\n"			/* 1-2 */
		"loadbalancers:\n"					/* 3 */
		"  - name: web\n"					/* 4 */
		"    vip: 192.0.2.10\n"					/* 5 */
		"    port: 80\n"					/* 6 */
		"    backends:\n"					/* 7 */
		"      - { addr: \"2001:db8::1\", weight: 0 }\n"	/* 8 */
		"      - { addr: 198.51.100.1, weight: 70000 }\n"	/* 9 */
		"  - name: dup\n"					/* 10 */
		"    vip: 192.0.2.10\n"					/* 11 */
		"    port: 80\n"					/* 12 */
		"    mode: dsrx\n"					/* 13 */
		"    backends: []\n"					/* 14 */
		"  - name: d\n"						/* 15 */
		"    vip: 192.0.2.0/24\n"				/* 16 */
		"    port: 53\n"					/* 17 */
		"    proto: icmp\n"					/* 18 */
		"    mode: dsr\n"					/* 19 */
		"    table-size: 65535\n"				/* 20 */
		"    health: { type: tcp, path: /x, interval: 0.2, timeout: 1 }\n"	/* 21 */
		"    backends:\n"					/* 22 */
		"      - { addr: 198.51.100.2, port: 5353 }\n"		/* 23 */
		"  - name: n\n"						/* 24 */
		"    vip: 192.0.2.12\n"					/* 25 */
		"    port: 80\n"					/* 26 */
		"    encap-source: 198.51.100.0/24\n"			/* 27 */
		"    backends: [{ addr: 198.51.100.3 }, { addr: 198.51.100.3 }]\n"	/* 28 */
		"decap:\n  interfaces: [eth1]\n  vips: [192.0.2.10]\n");	/* 29-31 */
	fx_write(&f, "b.yaml",
		"loadbalancers:\n"
		"  - name: web\n    vip: 192.0.2.99\n    port: 1\n"
		"    backends: [{ addr: 198.51.100.1 }]\n");
	ASSERT_EQ(fx_load(&f), -EINVAL, "rc");
	ASSERT_DIAG(&f, "a.yaml", 8, 17, "backend 2001:db8::1 is IPv6", "IPv4");
	ASSERT_DIAG(&f, "a.yaml", 8, 40, "weight 0 is out of range 1..65535");
	ASSERT_DIAG(&f, "a.yaml", 9, 39, "weight 70000 is out of range");
	ASSERT_DIAG(&f, "a.yaml", 10, 11, "\"dup\" has the same vip, port and proto as \"web\"");
	ASSERT_DIAG(&f, "a.yaml", 13, 11, "unknown mode \"dsrx\"");
	ASSERT_DIAG(&f, "a.yaml", 14, 15, "backends must be a list of at least one backend");
	ASSERT_DIAG(&f, "a.yaml", 16, 10, "is a prefix; an address is expected");
	ASSERT_DIAG(&f, "a.yaml", 18, 12, "proto \"icmp\": a load balancer is tcp or udp");
	ASSERT_DIAG(&f, "a.yaml", 20, 17, "table-size 65535 must be a prime");
	ASSERT_DIAG(&f, "a.yaml", 21, 26, "path needs health type http");
	ASSERT_DIAG(&f, "a.yaml", 21, 60, "timeout 1 s is longer than the interval 0.2 s");
	ASSERT_DIAG(&f, "a.yaml", 23, 37, "port 5353: in mode dsr", "port 53");
	ASSERT_DIAG(&f, "a.yaml", 27, 5, "encap-source needs mode dsr");
	ASSERT_DIAG(&f, "a.yaml", 28, 48, "backend listed twice", "line 28, column 24");
	ASSERT_DIAG(&f, "a.yaml", 30, 16, "decap interface \"eth1\" is in no firewall section");
	ASSERT_DIAG(&f, "b.yaml", 2, 11, "duplicate load balancer name \"web\"", "a.yaml:4:11");
	fx_done(&f);
}

/* A health check's seconds: "1.2.3" and "." are no number (they were "out of range"). */
TEST(lb_health_seconds_not_numbers)
{
	struct fixture f;

	fx_init(&f);
	fx_write(&f, "a.yaml",
		"firewall:\n  interfaces: [eth0]\n"			/* 1-2 */
		"loadbalancers:\n"					/* 3 */
		"  - name: web\n"					/* 4 */
		"    vip: 192.0.2.10\n"					/* 5 */
		"    port: 80\n"					/* 6 */
		"    health: { type: tcp, interval: 1.2.3, timeout: . }\n"	/* 7 */
		"    backends: [{ addr: 198.51.100.1 }]\n"		/* 8 */
		"  - name: dns\n"					/* 9 */
		"    vip: 192.0.2.10\n"					/* 10 */
		"    port: 53\n"					/* 11 */
		"    health: { type: tcp, interval: 0.0001 }\n"		/* 12 */
		"    backends: [{ addr: 198.51.100.1 }]\n");		/* 13 */
	ASSERT_EQ(fx_load(&f), -EINVAL, "rc");
	ASSERT_DIAG(&f, "a.yaml", 7, 36, "interval must be a number of seconds", "got 1.2.3");
	ASSERT_DIAG(&f, "a.yaml", 7, 52, "timeout must be a number of seconds", "got .");
	ASSERT_DIAG(&f, "a.yaml", 12, 36, "interval 0.0001 is out of range 0.01..3600 seconds");
	fx_done(&f);
}

/*
 * Addresses no client sends to, or that never leave this host, as a VIP
 * or a backend; a backend that is its service's own VIP (and port, NAT):
 * each an error at its place.
 */
TEST(lb_unusable_addresses_located)
{
	struct fixture f;

	fx_init(&f);
	fx_write(&f, "a.yaml",
		"firewall:\n  interfaces: [eth0]\n"			/* 1-2 */
		"loadbalancers:\n"					/* 3 */
		"  - { name: a, vip: 0.0.0.0, port: 80, backends: [{ addr: 198.51.100.1 }] }\n"
		"  - { name: b, vip: 224.0.0.1, port: 80, backends: [{ addr: 127.0.0.1 }] }\n"
		"  - { name: c, vip: 255.255.255.255, port: 80, backends: [{ addr: \"::1\" }] }\n"
		"  - { name: d, vip: \"::ffff:192.0.2.1\", port: 80, backends: [{ addr: \"ff02::1\" }] }\n"
		"  - { name: e, vip: 192.0.2.5, port: 80, backends: [{ addr: 192.0.2.5, port: 80 }, "
		"{ addr: 192.0.2.5, port: 8080 }] }\n"			/* 8 */
		"  - { name: f, vip: 192.0.2.6, port: 80, mode: dsr, encap-source: 198.51.100.0/24, "
		"backends: [{ addr: 192.0.2.6 }] }\n"			/* 9 */
		"  - { name: g, vip: \"::\", port: 80, backends: [{ addr: \"2001:db8::1\" }] }\n");
	ASSERT_EQ(fx_load(&f), -EINVAL, "rc");
	ASSERT_DIAG(&f, "a.yaml", 4, 21, "\"0.0.0.0\" is the unspecified address");
	ASSERT_DIAG(&f, "a.yaml", 5, 21, "\"224.0.0.1\" is a multicast address");
	ASSERT_DIAG(&f, "a.yaml", 5, 61, "\"127.0.0.1\" is a loopback address");
	ASSERT_DIAG(&f, "a.yaml", 6, 21, "\"255.255.255.255\" is the broadcast address");
	ASSERT_DIAG(&f, "a.yaml", 6, 67, "\"::1\" is the loopback address");
	ASSERT_DIAG(&f, "a.yaml", 7, 21, "is an IPv4-mapped IPv6 address", "write 192.0.2.1");
	ASSERT_DIAG(&f, "a.yaml", 7, 70, "\"ff02::1\" is a multicast address");
	ASSERT_DIAG(&f, "a.yaml", 8, 61, "backend of \"e\" is the service's own vip and port");
	ASSERT_DIAG(&f, "a.yaml", 9, 103, "backend of \"f\" is the service's own vip:");
	ASSERT_DIAG(&f, "a.yaml", 10, 21, "\"::\" is the unspecified address");
	ASSERT_EQ(f.diags.n, 10, "nothing else: 192.0.2.5 port 8080 of e is a backend like any other");
	fx_done(&f);
}

/*
 * A drain names VIP:PORT (both protocols' services) or VIP:PORT/tcp, /udp
 * (that one's, as `lb list` writes a service); its text reads back the same.
 */
TEST(lb_drain_by_protocol)
{
	char *drains[] = { "192.0.2.10:53/udp 198.51.100.1", "192.0.2.10:80 198.51.100.2" };
	const char *texts[] = { "192.0.2.10:53/udp 198.51.100.1", "192.0.2.10:53/tcp 198.51.100.1",
				"192.0.2.10:53 198.51.100.1" };
	struct fixture f;
	char err[256], buf[128];
	struct lb_drain d;

	fx_init(&f);
	fx_write(&f, "a.yaml",
		"firewall:\n  interfaces: [eth0]\n"
		"loadbalancers:\n"
		"  - { name: dt, vip: 192.0.2.10, port: 53, proto: tcp, backends: "
		"[{ addr: 198.51.100.1 }, { addr: 198.51.100.2 }] }\n"
		"  - { name: du, vip: 192.0.2.10, port: 53, proto: udp, backends: "
		"[{ addr: 198.51.100.1 }, { addr: 198.51.100.2 }] }\n"
		"  - { name: wt, vip: 192.0.2.10, port: 80, proto: tcp, backends: "
		"[{ addr: 198.51.100.2 }] }\n"
		"  - { name: wu, vip: 192.0.2.10, port: 80, proto: udp, backends: "
		"[{ addr: 198.51.100.2 }, { addr: 198.51.100.3 }] }\n");
	if (!ASSERT_OK(fx_load(&f), "load"))
		goto out;
	lb_drains_apply(&f.pol, drains, 2);
	ASSERT_FALSE(f.pol.lbs[0].backends[0].drain, "53/udp leaves tcp 53's backend alone");
	ASSERT_TRUE(f.pol.lbs[1].backends[0].drain, "53/udp drains udp 53's backend");
	ASSERT_FALSE(f.pol.lbs[1].backends[1].drain, "and no other backend");
	ASSERT_TRUE(f.pol.lbs[2].backends[0].drain, "80 without a protocol: tcp 80's");
	ASSERT_TRUE(f.pol.lbs[3].backends[0].drain, "and udp 80's");
	ASSERT_FALSE(f.pol.lbs[3].backends[1].drain, "not udp 80's other backend");
	for (size_t i = 0; i < 3; i++) {
		if (!ASSERT_OK(lb_drain_parse(texts[i], &d, err, sizeof(err)), texts[i]))
			continue;
		lb_drain_format(&d, buf, sizeof(buf));
		ASSERT_STREQ(buf, texts[i], "formatted as parsed");
	}
	ASSERT_EQ(lb_drain_parse("192.0.2.10:53/icmp 198.51.100.1", &d, err, sizeof(err)),
		   -EINVAL, "/icmp");
	ASSERT_TRUE(strstr(err, "unknown protocol \"icmp\"; use VIP:PORT/tcp") != NULL, err);
	ASSERT_EQ(lb_drain_parse("192.0.2.10:53/TCP 198.51.100.1", &d, err, sizeof(err)),
		   -EINVAL, "/TCP: keywords are exact");
	ASSERT_TRUE(strstr(err, "unknown protocol \"TCP\"") != NULL, err);
out:
	fx_done(&f);
}

TEST(lb_needs_a_firewall)
{
	EXPECT_ONE("loadbalancers:\n  - { name: w, vip: 192.0.2.1, port: 80, "
		   "backends: [{ addr: 198.51.100.1 }] }\n", 1, 1,
		   "loadbalancers run on the firewall interfaces");
}

/* decap alone (a DSR backend without a firewall) is a valid policy. */
TEST(lb_decap_alone)
{
	struct fixture f;

	if (ASSERT_TRUE(load_ok(&f, "decap:\n  interfaces: [eth0]\n  vips: [192.0.2.10]\n"),
			"loads"))
		ASSERT_EQ(f.pol.decap.nvips, 1, "vips");
	fx_done(&f);
}

/* `early: true`: a deny checked before conntrack (docs/policy.md). */
TEST(early_rule)
{
	struct fixture f;
	uint64_t k_early;
	struct sl_rule r;

	fx_init(&f);
	/* a stateless section accepts it too: it changes nothing there */
	fx_write(&f, "p.yaml", "firewall:\n  stateful: false\n  rules:\n"
		 "    - name: cut\n      action: deny\n      early: true\n"
		 "      src: [198.51.100.0/24]\n"
		 "    - name: plain\n      action: deny\n      early: no\n"
		 "    - name: web\n      action: allow\n");
	if (ASSERT_OK(fx_load(&f), "loads")) {
		const struct sl_firewall *fw = policy_fw(&f.pol, 0);

		ASSERT_TRUE(fw->rules[0].early, "cut is early");
		ASSERT_EQ(fw->rules[0].early_loc.line, 6, "early's line");
		ASSERT_EQ(fw->rules[0].early_loc.col, 14, "early's column");
		ASSERT_TRUE(!fw->rules[1].early, "early: no");
		ASSERT_TRUE(!fw->rules[2].early, "not written: not early");
		/* counters follow the key: turning early on or off is a change */
		r = fw->rules[0];
		k_early = sl_rule_key(&r);
		r.early = false;
		ASSERT_TRUE(sl_rule_key(&r) != k_early, "early changes the rule's key");
		r.early = true;
		ASSERT_EQ(sl_rule_key(&r), k_early, "the same rule, the same key");
	}
	fx_done(&f);

	EXPECT_ONE(FW_HEAD "    - name: r\n      action: allow\n      early: true\n", 6, 14,
		   "early applies to deny rules only; rule \"r\" allows");
	EXPECT_ONE(FW_HEAD "    - name: r\n      action: deny\n      early: maybe\n", 6, 14,
		   "early must be true or false, got \"maybe\"");
	EXPECT_ONE(FW_HEAD "    - name: r\n      action: deny\n      early: [true]\n", 6, 14,
		   "early must be true or false, got a list");
	/* allow with early false is fine; the order of the keys does not matter */
	fx_init(&f);
	fx_write(&f, "p.yaml", FW_HEAD "    - name: r\n      early: false\n      action: allow\n");
	ASSERT_OK(fx_load(&f), "early: false on an allow rule");
	fx_done(&f);
	EXPECT_ONE(FW_HEAD "    - name: r\n      early: true\n      action: allow\n", 5, 14,
		   "early applies to deny rules only");
	/* egress rules have no conntrack to come before */
	EXPECT_ONE("egress:\n  - name: e\n    cgroup: /x\n    rules:\n"
		   "      - action: deny\n        early: true\n", 6, 9, "unknown key \"early\"");
}
