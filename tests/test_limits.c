// SPDX-License-Identifier: GPL-2.0-only
/*
 * What a policy dir can hold that must not hang, exhaust or leak through
 * the parser (issue 8): nesting far past any policy, alias bombs and loops,
 * a FIFO where a file should be, set files that lead out of the policy dir,
 * the same limits on the CLI's edits file. Every refusal carries its
 * FILE:LINE:COL. A test that would block on broken code (a FIFO opened
 * for reading waits for a writer) runs under alarm(), so it fails instead
 * of hanging.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"
#include "policy_edit.h"
#include "policy_int.h"
#include "yaml_doc.h"

struct fixture {
	char dir[64];
	char out[64];		/* a dir beside it: "outside the policy dir" */
	struct sl_policy pol;
	struct sl_diags diags;
};

static void fx_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/sla-limits-XXXXXX");
	snprintf(f->out, sizeof(f->out), "/tmp/sla-limits-out-XXXXXX");
	if (!mkdtemp(f->dir) || !mkdtemp(f->out)) {
		perror("mkdtemp");
		exit(1);
	}
}

static void fx_path(const struct fixture *f, const char *name, char *path, size_t len)
{
	snprintf(path, len, "%s/%s", f->dir, name);
}

static void write_at(const char *path, const char *data, size_t len)
{
	FILE *fp = fopen(path, "w");

	if (!fp || fwrite(data, 1, len, fp) != len) {
		perror(path);
		exit(1);
	}
	fclose(fp);
}

static void fx_write(struct fixture *f, const char *name, const char *text)
{
	char path[256];

	fx_path(f, name, path, sizeof(path));
	write_at(path, text, strlen(text));
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
	nftw(f->out, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void print_diags(const struct sl_diags *d)
{
	for (size_t i = 0; i < d->n; i++)
		printf("#   diag: %s:%d:%d: %s\n", d->v[i].file ? d->v[i].file : "-",
		       d->v[i].line, d->v[i].col, d->v[i].msg);
}

/* A diagnostic at FILE (relative to the fixture dir), LINE, COL containing MSG. */
static bool has_diag(const struct fixture *f, const char *file, int line, int col,
		     const char *msg)
{
	char want[320];

	fx_path(f, file, want, sizeof(want));
	for (size_t i = 0; i < f->diags.n; i++) {
		const struct sl_diag *d = &f->diags.v[i];

		if (d->file && !strcmp(d->file, want) && d->line == line && d->col == col &&
		    strstr(d->msg, msg))
			return true;
	}
	print_diags(&f->diags);
	return false;
}

static bool any_diag_has(const struct sl_diags *d, const char *s)
{
	for (size_t i = 0; i < d->n; i++)
		if (strstr(d->v[i].msg, s) || (d->v[i].file && strstr(d->v[i].file, s)))
			return true;
	return false;
}

static int load(struct fixture *f)
{
	return policy_load_dir(f->dir, &f->pol, &f->diags);
}

static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
	size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
	char *s = malloc(hl + ul * n + tl + 1), *p = s;

	if (!s)
		exit(1);
	memcpy(p, head, hl);
	p += hl;
	for (size_t i = 0; i < n; i++, p += ul)
		memcpy(p, unit, ul);
	memcpy(p, tail, tl + 1);
	return s;
}

TEST(flow_nesting_refused_where_it_crosses_the_bound)
{
	struct fixture f;
	char *s, *t;

	/* 80,000 levels took 18 s in libyaml's scanner before any check */
	fx_init(&f);
	s = repeat("firewall: ", "[", 80000, "");
	t = repeat(s, "]", 80000, "\n");
	fx_write(&f, "p.yaml", t);
	free(s);
	free(t);
	ASSERT_EQ(load(&f), -EINVAL, "rc");
	/* the root mapping is level 1: the 64th '[' (column 11 + 63) is level 65 */
	ASSERT_TRUE(has_diag(&f, "p.yaml", 1, 74, "nested more than 64 levels"), "diag");
	fx_done(&f);
}

TEST(block_nesting_refused_where_it_crosses_the_bound)
{
	struct fixture f;
	char *s;

	/* 4M levels (8 MB) did not finish */
	fx_init(&f);
	s = repeat("", "- ", 4000000, "x\n");
	fx_write(&f, "p.yaml", s);
	free(s);
	ASSERT_EQ(load(&f), -EINVAL, "rc");
	ASSERT_TRUE(has_diag(&f, "p.yaml", 1, 129, "nested more than 64 levels"), "diag");
	fx_done(&f);
}

TEST(nesting_bound_is_exact)
{
	struct sl_yaml_limits lim = sl_yaml_policy_limits;
	struct sl_diags d = {};
	yaml_document_t doc;
	char *a, *b;

	a = repeat("", "[", SL_YAML_DEPTH_MAX, "");
	b = repeat(a, "]", SL_YAML_DEPTH_MAX, "\n");
	ASSERT_EQ(sl_yaml_load("x", b, strlen(b), &lim, &doc, &d), 0, "64 levels load");
	ASSERT_TRUE(yaml_document_get_root_node(&doc) != NULL, "a root");
	yaml_document_delete(&doc);
	free(a);
	free(b);
	a = repeat("", "[", SL_YAML_DEPTH_MAX + 1, "");
	b = repeat(a, "]", SL_YAML_DEPTH_MAX + 1, "\n");
	ASSERT_EQ(sl_yaml_load("x", b, strlen(b), &lim, &doc, &d), -EINVAL, "65 do not");
	ASSERT_TRUE(d.n == 1 && d.v[0].line == 1 && d.v[0].col == SL_YAML_DEPTH_MAX + 1,
		    "at the 65th");
	yaml_document_delete(&doc);
	free(a);
	free(b);
	sl_diags_free(&d);
}

TEST(alias_bomb_refused_at_the_alias)
{
	struct fixture f;

	/* nine levels of ten aliases each: 10^9 nodes from 400 bytes */
	fx_init(&f);
	fx_write(&f, "p.yaml",
		 "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
		 "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		 "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
		 "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
		 "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
		 "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
		 "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
		 "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
		 "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n");
	ASSERT_EQ(load(&f), -EINVAL, "rc");
	/*
	 * a..f weigh 11, 111, ..., 1111111 nodes: with the root, the keys and
	 * g's list, the third *f in g (line 7, column 16) passes 4,194,304
	 */
	ASSERT_TRUE(has_diag(&f, "p.yaml", 7, 16, "more than 4194304 nodes with its aliases "
			     "expanded"), "diag");
	fx_done(&f);
}

TEST(aliases_that_fit_still_work)
{
	struct fixture f;

	fx_init(&f);
	fx_write(&f, "p.yaml",
		 "sets:\n  admins: {prefixes: &adm [192.0.2.0/24, 2001:db8::/48]}\n"
		 "firewall:\n  stateful: false\n  rules:\n"
		 "    - {name: a, action: allow, src: *adm, proto: tcp, dport: [22]}\n"
		 "    - {name: b, action: allow, dst: *adm}\n");
	if (ASSERT_EQ(load(&f), 0, "rc")) {
		ASSERT_EQ(f.pol.fws[0].rules[0].nsrc, 2, "rule a: two sources");
		ASSERT_EQ(f.pol.fws[0].rules[1].ndst, 2, "rule b: two destinations");
	} else {
		print_diags(&f.diags);
	}
	fx_done(&f);
}

TEST(alias_loops_and_undefined_aliases_refused)
{
	struct sl_yaml_limits lim = sl_yaml_policy_limits;
	struct sl_diags d = {};
	yaml_document_t doc;
	const char *loop = "a: &x [1, *x]\n", *undef = "a: [1, *nope]\n";

	ASSERT_EQ(sl_yaml_load("x", loop, strlen(loop), &lim, &doc, &d), -EINVAL, "loop");
	ASSERT_TRUE(d.n == 1 && d.v[0].line == 1 && d.v[0].col == 11 &&
		    strstr(d.v[0].msg, "alias *x is inside the node it names"), "loop diag");
	sl_diags_free(&d);
	ASSERT_EQ(sl_yaml_load("x", undef, strlen(undef), &lim, &doc, &d), -EINVAL, "undef");
	ASSERT_TRUE(d.n == 1 && d.v[0].col == 8 && strstr(d.v[0].msg, "no anchor &nope"),
		    "undefined diag");
	sl_diags_free(&d);
}

TEST(parse_time_is_bounded)
{
	struct sl_yaml_limits lim = sl_yaml_policy_limits;
	struct sl_diags d = {};
	yaml_document_t doc;
	char *s = repeat("[", "192.0.2.1, ", 400000, "x]\n");

	/* a budget no machine can meet: the parse stops at a check, with a place */
	lim.time_ms = 0;
	ASSERT_EQ(sl_yaml_load("x", s, strlen(s), &lim, &doc, &d), -EINVAL, "rc");
	ASSERT_TRUE(d.n == 1 && d.v[0].line == 1 && d.v[0].col > 1 &&
		    strstr(d.v[0].msg, "parsing took more than 0 s; stopped here"), "diag");
	sl_diags_free(&d);
	lim.time_ms = SL_YAML_TIME_MS;
	ASSERT_EQ(sl_yaml_load("x", s, strlen(s), &lim, &doc, &d), 0, "within the real bound");
	yaml_document_delete(&doc);
	sl_diags_free(&d);
	free(s);
}

TEST(second_document_refused)
{
	struct fixture f;

	fx_init(&f);
	fx_write(&f, "p.yaml", "firewall: {stateful: false}\n---\nsets: {}\n");
	ASSERT_EQ(load(&f), -EINVAL, "rc");
	ASSERT_TRUE(has_diag(&f, "p.yaml", 2, 1, "a second YAML document"), "diag");
	fx_done(&f);
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "# blocked on a FIFO: the parser waited for a writer\n";

	if (write(1, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(2);
}

TEST(fifo_set_file_refused_without_waiting)
{
	struct fixture f;
	char path[256];

	fx_init(&f);
	fx_path(&f, "feed.txt", path, sizeof(path));
	if (!ASSERT_EQ(mkfifo(path, 0600), 0, "mkfifo"))
		goto out;
	fx_write(&f, "p.yaml", "sets:\n  feed:\n    file: feed.txt\n");
	signal(SIGALRM, on_alarm);
	alarm(20);
	ASSERT_EQ(load(&f), -EINVAL, "rc");
	alarm(0);
	ASSERT_TRUE(has_diag(&f, "p.yaml", 3, 5, "feed.txt\" is not a regular file"), "diag");
out:
	fx_done(&f);
}

TEST(set_files_resolve_beneath_the_policy_dir)
{
	struct fixture f;
	char secret[256], link[256], sub[256];

	/* a file outside the dir whose lines would be quoted as bad prefixes */
	fx_init(&f);
	snprintf(secret, sizeof(secret), "%s/shadow", f.out);
	write_at(secret, "root:SECRET-HASH:19000::::::\n", 29);
	fx_path(&f, "via-link.txt", link, sizeof(link));
	if (!ASSERT_EQ(symlink(secret, link), 0, "symlink out"))
		goto out;
	fx_path(&f, "sub", sub, sizeof(sub));
	mkdir(sub, 0700);
	fx_write(&f, "p.yaml", "sets:\n"
		 "  a: {file: via-link.txt}\n"
		 "  b: {file: ../sla-x/shadow}\n"
		 "  c: {file: sub/../../shadow}\n"
		 "  d:\n    file: /etc/passwd\n");
	ASSERT_EQ(load(&f), -EINVAL, "rc");
	ASSERT_TRUE(has_diag(&f, "p.yaml", 2, 7, "\"via-link.txt\" is outside the policy dir"),
		    "symlink out");
	ASSERT_TRUE(has_diag(&f, "p.yaml", 3, 7, "\"../sla-x/shadow\" is outside the policy dir"),
		    "dot-dot");
	ASSERT_TRUE(has_diag(&f, "p.yaml", 4, 7, "is outside the policy dir"), "dot-dot in sub");
	ASSERT_TRUE(has_diag(&f, "p.yaml", 6, 5, "\"/etc/passwd\" is an absolute path"),
		    "absolute");
	ASSERT_FALSE(any_diag_has(&f.diags, "SECRET"), "nothing of the outside file quoted");
	ASSERT_FALSE(any_diag_has(&f.diags, "root:"), "nothing of /etc/passwd quoted");
	ASSERT_EQ(f.diags.n, 4, "four errors");
out:
	fx_done(&f);
}

TEST(set_file_symlinks_inside_the_dir_work)
{
	struct fixture f;
	char data[256], link[256];

	/* Kubernetes ConfigMap layout: NAME -> ..data/NAME, ..data -> ..TIMESTAMP */
	fx_init(&f);
	fx_path(&f, "..2026_01_01", data, sizeof(data));
	mkdir(data, 0700);
	fx_write(&f, "..2026_01_01/bl.txt", "192.0.2.0/24\n198.51.100.7\n");
	fx_path(&f, "..data", link, sizeof(link));
	ASSERT_EQ(symlink("..2026_01_01", link), 0, "..data");
	fx_path(&f, "bl.txt", link, sizeof(link));
	ASSERT_EQ(symlink("..data/bl.txt", link), 0, "bl.txt");
	fx_write(&f, "p.yaml", "sets:\n  bl: {file: bl.txt}\n");
	if (ASSERT_EQ(load(&f), 0, "rc"))
		ASSERT_EQ(f.pol.sets[0].n, 2, "two prefixes");
	else
		print_diags(&f.diags);
	fx_done(&f);
}

static int edits_read(struct fixture *f, struct sl_edits *e)
{
	return sl_edits_read(f->dir, e, &f->diags);
}

TEST(edits_file_refuses_aliases)
{
	struct fixture f;
	struct sl_edits e;

	/* 1.6 MB of these used more than 3 GB before */
	fx_init(&f);
	fx_write(&f, SL_EDITS_FILE, "rules:\n"
		 "  - {name: a, action: deny, src: &s [192.0.2.1, 192.0.2.2]}\n"
		 "  - {name: b, action: deny, src: *s}\n");
	ASSERT_EQ(edits_read(&f, &e), -EINVAL, "rc");
	ASSERT_TRUE(has_diag(&f, SL_EDITS_FILE, 2, 34, "anchor &s: this file takes no "
			     "anchors or aliases"), "diag");
	sl_edits_free(&e);
	fx_done(&f);
}

TEST(edits_file_nesting_and_fifo_refused)
{
	struct fixture f;
	struct sl_edits e;
	char path[256], *s;

	fx_init(&f);
	s = repeat("rules: ", "[", 100000, "\n");
	fx_write(&f, SL_EDITS_FILE, s);
	free(s);
	ASSERT_EQ(edits_read(&f, &e), -EINVAL, "deep");
	ASSERT_TRUE(has_diag(&f, SL_EDITS_FILE, 1, 71, "nested more than 64 levels"), "diag");
	sl_edits_free(&e);
	sl_diags_free(&f.diags);

	fx_path(&f, SL_EDITS_FILE, path, sizeof(path));
	unlink(path);
	if (!ASSERT_EQ(mkfifo(path, 0600), 0, "mkfifo"))
		goto out;
	signal(SIGALRM, on_alarm);
	alarm(20);
	ASSERT_EQ(edits_read(&f, &e), -EINVAL, "fifo");
	alarm(0);
	ASSERT_TRUE(has_diag(&f, SL_EDITS_FILE, 0, 0, "not a regular file"), "fifo diag");
	sl_edits_free(&e);
out:
	fx_done(&f);
}
