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

	/*
	 * nor name the CLI's own set in a rule: it exists only while the
	 * blocklist is not empty (refused whether it is or not, so the last
	 * `block del` cannot be what breaks the policy), firewall or egress
	 */
	put("10-fw.yaml",
	    "firewall:\n  interfaces: [eth0]\n  rules:\n"
	    "    - {name: h, action: deny, dst: [\"@sluice.block\"]}\n");
	put("20-x.yaml",
	    "egress:\n  - name: web\n    cgroup: /sys/fs/cgroup/unified/x\n    rules:\n"
	    "      - {name: e, action: deny, dst: [\"@sluice.block\"]}\n");
	for (int i = 0; i < 2; i++) {
		put(SL_EDITS_FILE, i ? "rules: []\nblock: [\"198.51.100.7\"]\n" :
				       "rules: []\nblock: []\n");
		rc = policy_load_dir_edits(dir, &pol, &d);
		ASSERT_EQ(rc, -EINVAL, i ? "load 7 (blocklist set)" : "load 6 (blocklist empty)");
		ASSERT_TRUE(has_diag(&d, "10-fw.yaml", 4, "are the CLI's own"), "the firewall rule");
		ASSERT_TRUE(has_diag(&d, "20-x.yaml", 5, "are the CLI's own"), "the egress rule");
		sl_diags_free(&d);
	}
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

/*
 * Rules naming the same set: in an edits file (two CLI rules on @bad, one
 * with @bad in src and dst) they load; the stand-in sets of the generated
 * policy were written once per reference, and "duplicate set name" came
 * back for the second, at /proc/self/fd/N. A new rule naming the CLI's own
 * set is refused: @sluice.block is gone once the list is empty, and the
 * last `block del` then failed; an edits file holding one still loads.
 */
TEST(rules_naming_the_same_set_and_the_clis_own)
{
	struct sl_edit_rule r = {};
	struct sl_edits e = { .path = (char *)"" };
	struct sl_policy pol;
	struct sl_diags d = {};
	int rc;

	setup();
	put("10-fw.yaml", fw);
	put(SL_EDITS_FILE,
	    "rules:\n"
	    "  - {name: c1, action: deny, src: [\"@bad\"], proto: [udp]}\n"
	    "  - {name: c2, action: deny, src: [\"@bad\"], dst: [\"@bad\"]}\n"
	    "  - {name: c3, action: deny, src: [\"@sluice.block\"]}\n"
	    "block: |\n  198.51.100.7/32\n");
	rc = policy_load_dir_edits(dir, &pol, &d);
	if (ASSERT_EQ(rc, 0, "load") && ASSERT_EQ(d.n, 0, "diags")) {
		ASSERT_TRUE(pol.fws[0].rules[4].dst[0].set == policy_find_set(&pol, "bad"),
			    "c2 dst @bad");
		policy_free(&pol);
	}
	sl_diags_free(&d);
	teardown();

	sl_edit_rule_add(&r, SL_EF_NAME, "new");
	sl_edit_rule_add(&r, SL_EF_ACTION, "deny");
	sl_edit_rule_add(&r, SL_EF_SRC, "@sluice.block");
	r.floc[SL_EF_SRC] = (struct sl_loc){ "--src", 0, 0 };
	e.rules = &r;
	e.nrules = 1;
	rc = sl_edit_rules_build(&e, &pol, &d);
	if (!ASSERT_EQ(rc, -EINVAL, "a new rule on @sluice.block") && !rc)
		policy_free(&pol);
	ASSERT_TRUE(has_diag(&d, "--src", 0, "are the CLI's own"), "names --src");
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

/* The blocklist's prefixes of E as text, one per line, sorted (an order-free comparison). */
static int cmp_line(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static char *block_text(const struct sl_edits *e)
{
	char **v = calloc(e->nblock + 1, sizeof(*v)), *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	for (size_t i = 0; i < e->nblock; i++) {
		v[i] = malloc(64);
		sl_prefix_format(&e->block[i], v[i], 64);
	}
	qsort(v, e->nblock, sizeof(*v), cmp_line);
	for (size_t i = 0; i < e->nblock; i++) {
		fprintf(f, "%s\n", v[i]);
		free(v[i]);
	}
	fclose(f);
	free(v);
	return out;
}

/*
 * The journal after the edits file: lines past its "journal:" SEQ replay in
 * order, earlier ones are skipped, a last line without its newline was
 * never acknowledged; an unknown line and an order backwards are errors at
 * their place. The file's literal block and its old list form both load.
 */
TEST(journal_replays_after_the_file)
{
	struct sl_edits e = {};
	struct sl_diags d = {};
	char *t;

	setup();
	put(SL_EDITS_FILE, "rules: []\nblock: |\n  192.0.2.1/32\n  2001:db8::/48\njournal: 2\n");
	put(SL_EDITS_JOURNAL, "# head\n"
	    "1 block add 198.51.100.1/32\n"		/* held by the file: skipped */
	    "2 block del 192.0.2.1/32\n"		/* skipped too */
	    "3 block add 198.51.100.2\n"
	    "4 block del 2001:db8::/48\n"
	    "5 block add 203.0.113.0/24\n"
	    "6 block add 203.0.113.9/32");		/* torn: never acknowledged */
	ASSERT_EQ(sl_edits_read(dir, &e, &d), 0, "read");
	t = block_text(&e);
	ASSERT_STREQ(t, "192.0.2.1/32\n198.51.100.2/32\n203.0.113.0/24\n", "replayed");
	free(t);
	ASSERT_EQ(e.seq, 5, "last line");
	ASSERT_EQ(e.file_seq, 2, "the file's");
	ASSERT_EQ(e.jlines, 3, "lines past the file");
	ASSERT_EQ(e.jlen, strlen("# head\n1 block add 198.51.100.1/32\n2 block del 192.0.2.1/32\n"
				 "3 block add 198.51.100.2\n4 block del 2001:db8::/48\n"
				 "5 block add 203.0.113.0/24\n"), "up to the last whole line");
	/* a new line goes after the last whole one, the torn one cut off */
	{
		char line[SL_JOURNAL_LINE], err[256];
		struct sl_prefix p = { .family = 2, .len = 32, .addr = { 192, 0, 2, 99 } };
		size_t n = sl_edits_journal_line(line, 6, true, &p);
		struct sl_edits back = {};

		ASSERT_STREQ(line, "6 block add 192.0.2.99/32\n", "line");
		ASSERT_OK(sl_edits_journal_append(&e, line, n, 1, 6, err, sizeof(err)), "append");
		ASSERT_EQ(sl_edits_read(dir, &back, &d), 0, "read again");
		ASSERT_EQ(back.nblock, 4, "the new line, not the torn one");
		ASSERT_TRUE(sl_edits_find_block(&back, &p) >= 0, "192.0.2.99 there");
		/* the file written with everything: the journal's lines are skipped */
		t = sl_edits_format(&back);
		put(SL_EDITS_FILE, t);
		free(t);
		sl_edits_free(&back);
		ASSERT_EQ(sl_edits_read(dir, &back, &d), 0, "read the written file");
		ASSERT_EQ(back.nblock, 4, "nothing replayed twice");
		ASSERT_EQ(back.jlines, 0, "no line past the file");
		sl_edits_free(&back);
	}
	sl_edits_free(&e);

	/* the old list form, no journal: key */
	put(SL_EDITS_FILE, "rules: []\nblock:\n  - \"192.0.2.1/32\"\n");
	put(SL_EDITS_JOURNAL, "1 block del 192.0.2.1/32\n2 block add 192.0.2.2/32\n");
	ASSERT_EQ(sl_edits_read(dir, &e, &d), 0, "read old form");
	t = block_text(&e);
	ASSERT_STREQ(t, "192.0.2.2/32\n", "old form and journal");
	free(t);
	sl_edits_free(&e);

	put(SL_EDITS_FILE, "block: |\n  192.0.2.1/32\n  192.0.2.300\n");
	ASSERT_EQ(sl_edits_read(dir, &e, &d), -EINVAL, "bad literal line");
	ASSERT_TRUE(has_diag(&d, SL_EDITS_FILE, 3, "192.0.2.300"), "at its line");
	sl_diags_free(&d);
	sl_edits_free(&e);

	put(SL_EDITS_FILE, "block: []\n");
	put(SL_EDITS_JOURNAL, "1 block add 192.0.2.1/32\n2 lb drain x\n");
	ASSERT_EQ(sl_edits_read(dir, &e, &d), -EINVAL, "unknown verb");
	ASSERT_TRUE(has_diag(&d, SL_EDITS_JOURNAL, 2, "unknown journal line"), "at its line");
	sl_diags_free(&d);
	sl_edits_free(&e);

	put(SL_EDITS_JOURNAL, "2 block add 192.0.2.1/32\n1 block add 192.0.2.2/32\n");
	ASSERT_EQ(sl_edits_read(dir, &e, &d), -EINVAL, "backwards");
	ASSERT_TRUE(has_diag(&d, SL_EDITS_JOURNAL, 2, "out of order"), "at its line");
	sl_diags_free(&d);
	sl_edits_free(&e);

	/*
	 * No edits file (removed by hand): its journal's lines were changes to
	 * it and apply nothing; the file written next holds them ("journal: 4").
	 */
	{
		char path[256];

		snprintf(path, sizeof(path), "%s/%s", dir, SL_EDITS_FILE);
		ASSERT_OK(unlink(path), "remove the file");
	}
	put(SL_EDITS_JOURNAL, "# head\n3 block add 192.0.2.1/32\n4 block add 192.0.2.2/32\n");
	ASSERT_EQ(sl_edits_read(dir, &e, &d), 0, "journal alone");
	ASSERT_EQ(e.nblock, 0, "nothing of it applies");
	ASSERT_EQ(e.seq, 4, "counted past");
	ASSERT_EQ(e.file_seq, 4, "held by the next file");
	ASSERT_EQ(e.jlines, 0, "no line past the file");
	t = sl_edits_format(&e);
	ASSERT_TRUE(strstr(t, "journal: 4\n") != NULL, "the next file says so");
	free(t);
	/* a journal shorter than the agent knows it (emptied by hand): never padded */
	put(SL_EDITS_JOURNAL, "");
	{
		char line[SL_JOURNAL_LINE], err[256];
		struct sl_prefix p = { .family = 2, .len = 32, .addr = { 192, 0, 2, 99 } };
		size_t n = sl_edits_journal_line(line, 5, true, &p);
		struct stat st;
		char jp[256];

		ASSERT_EQ(sl_edits_journal_append(&e, line, n, 1, 5, err, sizeof(err)), -ESTALE,
			  "refused");
		ASSERT_TRUE(strstr(err, "changed by someone else") != NULL, "says why");
		snprintf(jp, sizeof(jp), "%s/%s", dir, SL_EDITS_JOURNAL);
		ASSERT_OK(stat(jp, &st), "stat");
		ASSERT_EQ(st.st_size, 0, "left as it was");

		/* emptied after a rule edit: never through a symlink put in its place */
		put("victim", "not the journal\n");
		ASSERT_OK(unlink(jp), "remove the journal");
		ASSERT_OK(symlink("victim", jp), "a symlink in its place");
		ASSERT_EQ(sl_edits_journal_reset(&e), -ELOOP, "refused");
		snprintf(jp, sizeof(jp), "%s/victim", dir);
		ASSERT_OK(stat(jp, &st), "stat");
		ASSERT_EQ(st.st_size, 16, "the link's target untouched");
	}
	sl_edits_free(&e);
	teardown();
}

/* The blocklist's index against a plain scan, over random adds and deletes. */
TEST(block_index_agrees_with_a_scan)
{
	struct sl_edits e = {};
	unsigned int seed = 7;
	int bad = 0;

	for (int op = 0; op < 40000; op++) {
		struct sl_prefix p = { .family = 2, .len = 32 };
		long k, scan = -1;

		p.addr[3] = (uint8_t)(rand_r(&seed) % 256);
		p.addr[2] = (uint8_t)(rand_r(&seed) % 12);
		for (size_t i = 0; i < e.nblock; i++)
			if (!memcmp(&e.block[i], &p, sizeof(p)))
				scan = (long)i;
		k = sl_edits_find_block(&e, &p);
		bad += k != scan;
		if (k < 0)
			sl_edits_add_block(&e, &p);
		else if (rand_r(&seed) % 2)
			sl_edits_del_block(&e, (size_t)k);
	}
	ASSERT_EQ(bad, 0, "lookups that disagree");
	ASSERT_TRUE(e.nblock > 1000, "a list long enough to grow the index");
	sl_edits_free(&e);
}
