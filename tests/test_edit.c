// SPDX-License-Identifier: GPL-2.0-only
/*
 * The CLI's edits file (lib/policy_edit.c): where merged rules go, that the
 * policy parser checks them with locations of the edits file (or the CLI
 * argument), that the format round-trips, and the atomic write.
 */
#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"
#include "policy_edit.h"
#include "policy_json.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/sle-edit-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
}

static void put(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f)) {
		perror(path);
		exit(1);
	}
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		perror(cmd);
}

static const char fw[] =
	"sets:\n"
	"  bad: {prefixes: [203.0.113.0/25]}\n"
	"firewall:\n"
	"  interfaces: [eth0]\n"
	"  rules:\n"
	"    - {name: a, action: allow, proto: tcp, dport: [22]}\n"
	"    - {name: b, action: deny, src: [\"@bad\"]}\n";

/* "name name ..." of the rules of POL */
static void names(const struct sl_policy *pol, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < policy_fw(pol, 0)->nrules && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? " " : "",
					policy_fw(pol, 0)->rules[i].name);
}

static bool has_diag(const struct sl_diags *d, const char *file_end, int line, const char *words)
{
	for (size_t i = 0; i < d->n; i++) {
		const char *f = d->v[i].file ? d->v[i].file : "";
		size_t fl = strlen(f), el = strlen(file_end);

		if (fl >= el && !strcmp(f + fl - el, file_end) && d->v[i].line == line &&
		    strstr(d->v[i].msg, words))
			return true;
	}
	for (size_t i = 0; i < d->n; i++)
		printf("# diag: %s:%d:%d: %s\n", d->v[i].file ? d->v[i].file : "-",
		       d->v[i].line, d->v[i].col, d->v[i].msg);
	return false;
}

TEST(merge_places_rules)
{
	struct sl_policy pol;
	struct sl_diags d = {};
	char got[256];
	int rc;

	setup();
	put("10-fw.yaml", fw);
	put(SL_EDITS_FILE,
	    "rules:\n"
	    "  - {name: end1, action: deny}\n"
	    "  - {name: pre-b, action: allow, src: [\"@bad\"], before: \"b\"}\n"
	    "  - {name: end2, action: allow, proto: [udp], dport: [\"53\"]}\n"
	    "  - {name: pre-a, action: deny, before: \"a\"}\n"
	    "  - {name: pre-b2, action: deny, before: \"b\"}\n"
	    "block: [\"198.51.100.7/32\", \"2001:db8:bad::/48\"]\n");
	rc = policy_load_dir_edits(dir, &pol, &d);
	if (!ASSERT_EQ(rc, 0, "load") || !ASSERT_EQ(d.n, 0, "diags"))
		goto out;
	names(&pol, got, sizeof(got));
	ASSERT_STREQ(got, "sluice.block pre-a a pre-b pre-b2 b end1 end2", "order");
	ASSERT_TRUE(sl_fw_has_block(policy_fw(&pol, 0)), "rule 0 is the blocklist");
	ASSERT_TRUE(sl_rule_from_edits(&pol.fws[0].rules[1]), "pre-a from the edits");
	ASSERT_FALSE(sl_rule_from_edits(&pol.fws[0].rules[2]), "a hand-written");
	/* @bad resolved against the hand-written set */
	ASSERT_TRUE(pol.fws[0].rules[3].src[0].set == policy_find_set(&pol, "bad"), "@bad");
	ASSERT_EQ(policy_find_set(&pol, SL_BLOCK_NAME)->n, 2, "block set");
	ASSERT_EQ(pol.fws[0].rules[7].ndport, 1, "end2 dport");
	/* the locations are those of the edits file */
	ASSERT_EQ(pol.fws[0].rules[1].loc.line, 5, "pre-a line");
	policy_free(&pol);
out:
	sl_diags_free(&d);
	teardown();
}

TEST(edits_errors_have_edits_file_locations)
{
	struct sl_policy pol;
	struct sl_diags d = {};
	int rc;

	setup();
	put("10-fw.yaml", fw);
	put(SL_EDITS_FILE,
	    "rules:\n"
	    "  - {name: x, action: deny, dport: [\"80\"]}\n"
	    "  - {name: y, action: deny, src: [\"@nosuch\"]}\n"
	    "  - {name: z, action: deny, before: \"gone\"}\n"
	    "  - {name: a, action: deny}\n"
	    "block: [\"192.0.2.300\"]\n");
	rc = policy_load_dir_edits(dir, &pol, &d);
	ASSERT_EQ(rc, -EINVAL, "load");
	/* the block list's error stops the read before the merge */
	ASSERT_TRUE(has_diag(&d, SL_EDITS_FILE, 6, "192.0.2.300"), "bad prefix");
	sl_diags_free(&d);

	put(SL_EDITS_FILE,
	    "rules:\n"
	    "  - {name: x, action: deny, dport: [\"80\"]}\n");
	rc = policy_load_dir_edits(dir, &pol, &d);
	ASSERT_EQ(rc, -EINVAL, "load 2");
	ASSERT_TRUE(has_diag(&d, SL_EDITS_FILE, 2, "needs proto"), "dport without proto");
	sl_diags_free(&d);

	put(SL_EDITS_FILE,
	    "rules:\n"
	    "  - {name: y, action: deny, src: [\"@nosuch\"]}\n"
	    "  - {name: z, action: deny, before: \"gone\"}\n");
	rc = policy_load_dir_edits(dir, &pol, &d);
	ASSERT_EQ(rc, -EINVAL, "load 3");
	ASSERT_TRUE(has_diag(&d, SL_EDITS_FILE, 3, "\"gone\""), "anchor gone");
	sl_diags_free(&d);

	put(SL_EDITS_FILE,
	    "rules:\n"
	    "  - {name: y, action: deny, src: [\"@nosuch\"]}\n"
	    "  - {name: a, action: deny}\n");
	rc = policy_load_dir_edits(dir, &pol, &d);
	ASSERT_EQ(rc, -EINVAL, "load 4");
	ASSERT_TRUE(has_diag(&d, SL_EDITS_FILE, 2, "unknown set \"@nosuch\""), "unknown set");
	ASSERT_TRUE(has_diag(&d, SL_EDITS_FILE, 3, "duplicate rule name \"a\": also defined at"),
		    "dup name");
	sl_diags_free(&d);

	/* hand-written names may not take the CLI's prefix */
	put(SL_EDITS_FILE, "rules: []\nblock: []\n");
	put("20-x.yaml", "sets:\n  sluice.mine: {prefixes: [192.0.2.1]}\n");
	rc = policy_load_dir_edits(dir, &pol, &d);
	ASSERT_EQ(rc, -EINVAL, "load 5");
	ASSERT_TRUE(has_diag(&d, "20-x.yaml", 2, "reserved"), "reserved set name");
	sl_diags_free(&d);
	teardown();
}

TEST(cli_arguments_are_named)
{
	struct sl_edit_rule r = {};
	struct sl_edits e = { .path = (char *)"" };
	struct sl_policy pol;
	struct sl_diags d = {};

	sl_edit_rule_add(&r, SL_EF_NAME, "web");
	sl_edit_rule_add(&r, SL_EF_ACTION, "allow");
	sl_edit_rule_add(&r, SL_EF_PROTO, "tcp");
	sl_edit_rule_add(&r, SL_EF_DPORT, "80");
	sl_edit_rule_add(&r, SL_EF_DPORT, "70000");
	sl_edit_rule_add(&r, SL_EF_SRC, "@ok-name");
	r.floc[SL_EF_DPORT] = (struct sl_loc){ "--dport", 0, 0 };
	r.floc[SL_EF_SRC] = (struct sl_loc){ "--src", 0, 0 };
	e.rules = &r;
	e.nrules = 1;
	ASSERT_EQ(sl_edit_rules_build(&e, &pol, &d), -EINVAL, "build");
	ASSERT_TRUE(has_diag(&d, "--dport", 0, "70000"), "names --dport");
	ASSERT_EQ(d.n, 1, "one error (@ok-name only checked for its form)");
	sl_diags_free(&d);
	sl_edit_rule_free(&r);
}

TEST(format_round_trips)
{
	struct sl_edits e = {}, back = {};
	struct sl_edit_rule r = {};
	struct sl_prefix p = { .family = 2, .len = 32, .addr = { 198, 51, 100, 7 } };
	struct sl_diags d = {};
	char *text, *text2;

	e.path = strdup("/x/" SL_EDITS_FILE);
	sl_edit_rule_add(&r, SL_EF_NAME, "q\"uote");
	sl_edit_rule_add(&r, SL_EF_ACTION, "deny");
	sl_edit_rule_add(&r, SL_EF_SRC, "203.0.113.0/24");
	sl_edit_rule_add(&r, SL_EF_SRC, "@set");
	sl_edit_rule_add(&r, SL_EF_BEFORE, "b");
	sl_edits_add_rule(&e, &r, 0);
	sl_edits_add_block(&e, &p);
	sl_edits_add_drain(&e, "[2001:db8::10]:443 2001:db8::12");
	text = sl_edits_format(&e);
	if (!ASSERT_TRUE(text != NULL, "format"))
		goto out;
	ASSERT_EQ(sl_edits_parse("/x/" SL_EDITS_FILE, text, strlen(text), &back, &d), 0, "parse");
	ASSERT_EQ(back.nrules, 1, "rules");
	ASSERT_EQ(back.nblock, 1, "block");
	if (ASSERT_EQ(back.ndrains, 1, "drain"))
		ASSERT_STREQ(back.drains[0], "[2001:db8::10]:443 2001:db8::12", "drain text");
	if (back.nrules) {
		ASSERT_STREQ(back.rules[0].v[SL_EF_NAME][0], "q\"uote", "name");
		ASSERT_EQ(back.rules[0].n[SL_EF_SRC], 2, "src");
		ASSERT_STREQ(back.rules[0].v[SL_EF_BEFORE][0], "b", "before");
		ASSERT_EQ(back.rules[0].floc[SL_EF_SRC].line, 5, "src line");
	}
	text2 = sl_edits_format(&back);
	ASSERT_STREQ(text2, text, "same text again");
	free(text2);
	free(text);
out:
	sl_diags_free(&d);
	sl_edit_rule_free(&r);
	sl_edits_free(&e);
	sl_edits_free(&back);
}

TEST(atomic_write)
{
	char path[128], *tmp = NULL, err[256] = "";
	struct stat st;
	FILE *f;
	char buf[64] = "";

	setup();
	snprintf(path, sizeof(path), "%s/%s", dir, SL_EDITS_FILE);
	put(SL_EDITS_FILE, "old\n");
	ASSERT_EQ(sl_file_stage(path, "new\n", &tmp, err, sizeof(err)), 0, "stage");
	/* staged: the file is still the old one, the temp is a dot-file beside it */
	f = fopen(path, "r");
	ASSERT_TRUE(f && fgets(buf, sizeof(buf), f) && !strcmp(buf, "old\n"), "old until commit");
	if (f)
		fclose(f);
	ASSERT_TRUE(tmp && strrchr(tmp, '/')[1] == '.' && strrchr(tmp, '/')[2] != '.',
		    "temp is a dot-file, not ..name");
	ASSERT_EQ(sl_file_commit(tmp, path, err, sizeof(err)), 0, "commit");
	f = fopen(path, "r");
	ASSERT_TRUE(f && fgets(buf, sizeof(buf), f) && !strcmp(buf, "new\n"), "new after commit");
	if (f)
		fclose(f);
	ASSERT_TRUE(stat(tmp, &st) < 0, "temp gone");
	free(tmp);
	/* abort leaves the file alone */
	ASSERT_EQ(sl_file_stage(path, "newer\n", &tmp, err, sizeof(err)), 0, "stage 2");
	sl_file_abort(tmp);
	f = fopen(path, "r");
	ASSERT_TRUE(f && fgets(buf, sizeof(buf), f) && !strcmp(buf, "new\n"), "abort keeps it");
	if (f)
		fclose(f);
	teardown();
}

TEST(json_policy_origins)
{
	struct sl_policy pol;
	struct sl_diags d = {};
	struct json_object *j, *rules;

	setup();
	put("10-fw.yaml", fw);
	put(SL_EDITS_FILE, "rules:\n  - {name: c, action: deny}\nblock: [\"198.51.100.7\"]\n");
	if (!ASSERT_EQ(policy_load_dir_edits(dir, &pol, &d), 0, "load"))
		goto out;
	j = sl_json_policy(&pol, true);
	rules = json_object_object_get(json_object_array_get_idx(json_object_object_get(j,
					"sections"), 0), "rules");
	ASSERT_EQ(json_object_array_length(rules), 4, "rules");
	ASSERT_STREQ(json_object_get_string(json_object_object_get(
			     json_object_array_get_idx(rules, 0), "origin")), "cli", "block origin");
	ASSERT_TRUE(strstr(json_object_get_string(json_object_object_get(
			     json_object_array_get_idx(rules, 1), "origin")), "10-fw.yaml:6") != NULL,
		    "a origin");
	ASSERT_EQ(json_object_array_length(json_object_object_get(j, "sets")), 1,
		  "the blocklist is not one of the sets");
	ASSERT_STREQ(json_object_get_string(json_object_array_get_idx(
			     json_object_object_get(j, "blocklist"), 0)), "198.51.100.7/32", "blocklist");
	json_object_put(j);
	policy_free(&pol);
out:
	sl_diags_free(&d);
	teardown();
}



TEST(sections_take_their_rules)
{
	struct sl_policy pol;
	struct sl_diags d = {};
	char got[256];

	setup();
	put("10-fw.yaml",
	    "firewall:\n"
	    "  - name: public\n"
	    "    interfaces: [eth0]\n"
	    "    rules:\n"
	    "      - {name: a, action: allow}\n"
	    "  - name: inside\n"
	    "    interfaces: [\"veth*\"]\n"
	    "    rules:\n"
	    "      - {name: b, action: deny}\n");
	put(SL_EDITS_FILE,
	    "rules:\n"
	    "  - {name: x, action: deny, section: \"inside\"}\n"
	    "  - {name: y, action: deny, before: \"a\"}\n"
	    "block: [\"198.51.100.7\"]\n");
	if (!ASSERT_EQ(policy_load_dir_edits(dir, &pol, &d), 0, "load"))
		goto out;
	names(&pol, got, sizeof(got));
	ASSERT_STREQ(got, "sluice.block.public y a", "section public");
	if (ASSERT_EQ(pol.nfws, 2, "sections")) {
		struct sl_policy one = { .fws = &pol.fws[1], .nfws = 1 };

		names(&one, got, sizeof(got));
		ASSERT_STREQ(got, "sluice.block.inside b x", "section inside");
		ASSERT_TRUE(sl_fw_has_block(&pol.fws[1]), "block in every section");
	}
	policy_free(&pol);

	/* a rule without section: nor before: is ambiguous with two sections */
	put(SL_EDITS_FILE, "rules:\n  - {name: z, action: deny}\n");
	ASSERT_EQ(policy_load_dir_edits(dir, &pol, &d), -EINVAL, "ambiguous");
	ASSERT_TRUE(has_diag(&d, SL_EDITS_FILE, 2, "several firewall sections"), "says so");
	sl_diags_free(&d);
	put(SL_EDITS_FILE, "rules:\n  - {name: z, action: deny, section: nope}\n");
	ASSERT_EQ(policy_load_dir_edits(dir, &pol, &d), -EINVAL, "unknown section");
	ASSERT_TRUE(has_diag(&d, SL_EDITS_FILE, 2, "no firewall section \"nope\""), "names it");
out:
	sl_diags_free(&d);
	teardown();
}
