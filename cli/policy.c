// SPDX-License-Identifier: GPL-2.0-only
/*
 * sluice policy ...: `check` validates policy files offline, with the same
 * parser, checker and compiler the agent runs, so that a policy that checks
 * here is one the agent applies (including the limits only the compiler
 * sees: rules, classes, tbl8 groups).
 *
 * A DIR argument is one policy, read as the agent reads its policy dir. All
 * FILE arguments together are one more policy (their keys merge, as if they
 * were one dir). The summary adds up every policy checked; a policy with
 * several firewall sections gets a line per section first.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "fw_tables.h"
#include "policy.h"
#include "policy_edit.h"
#include "policy_json.h"
#include "print.h"

struct check_result {
	size_t rules, sets, prefixes, sections, lbs, backends, egress;
	size_t early;			/* early deny rules (of firewall sections) */
	bool several;			/* a policy with more than one section was checked */
	struct json_object *secs;	/* [{"name", "interfaces", "default", ...}] */
	struct json_object *files;	/* every file read */
	struct json_object *errors;	/* [{"file", "line", "col", "message"}] */
	int status;			/* the worst exit status so far */
};

static int add_error(struct check_result *r, const char *file, int line, int col,
		     const char *msg)
{
	struct json_object *e = json_object_new_object();

	if (!e)
		return -ENOMEM;
	json_object_object_add(e, "file", file ? json_object_new_string(file) : NULL);
	json_object_object_add(e, "line", json_object_new_int(line));
	json_object_object_add(e, "col", json_object_new_int(col));
	json_object_object_add(e, "message", json_object_new_string(msg));
	if (json_object_array_add(r->errors, e)) {
		json_object_put(e);
		return -ENOMEM;
	}
	return 0;
}

/* Prefixes the policy names: every set's, plus those written inline in rules. */
static size_t count_prefixes(const struct sl_policy *pol)
{
	size_t n = 0;

	for (size_t i = 0; i < pol->nsets; i++)
		n += pol->sets[i].n;
	for (size_t s = 0; s < pol->nfws; s++) {
		for (size_t i = 0; i < pol->fws[s].nrules; i++) {
			const struct sl_rule *rule = &pol->fws[s].rules[i];

			for (size_t k = 0; k < rule->nsrc; k++)
				n += !rule->src[k].is_set;
			for (size_t k = 0; k < rule->ndst; k++)
				n += !rule->dst[k].is_set;
		}
	}
	for (size_t e = 0; e < pol->negs; e++)
		for (size_t i = 0; i < pol->egs[e].fw.nrules; i++)
			for (size_t k = 0; k < pol->egs[e].fw.rules[i].ndst; k++)
				n += !pol->egs[e].fw.rules[i].dst[k].is_set;
	return n;
}

/*
 * The sections of a valid policy: into R's JSON list, and as one text line
 * each when there are several (one section reads as the summary line says).
 */
static void show_sections(const struct cli *c, struct check_result *r,
			  const struct sl_policy *pol)
{
	for (size_t s = 0; s < pol->nfws; s++) {
		const struct sl_firewall *fw = &pol->fws[s];
		struct json_object *o = json_object_new_object(), *ifs = json_object_new_array();
		size_t early = 0;

		for (size_t i = 0; i < fw->nrules; i++)
			early += fw->rules[i].early;
		r->early += early;
		for (size_t i = 0; i < fw->nifaces; i++)
			json_object_array_add(ifs, json_object_new_string(fw->ifaces[i]));
		json_object_object_add(o, "name", json_object_new_string(fw->name));
		json_object_object_add(o, "interfaces", ifs);
		json_object_object_add(o, "default", json_object_new_string(
					       sl_action_name(fw->default_action)));
		json_object_object_add(o, "stateful", json_object_new_boolean(fw->stateful));
		json_object_object_add(o, "rules", json_object_new_uint64(fw->nrules));
		json_object_object_add(o, "early", json_object_new_uint64(early));
		json_object_array_add(r->secs, o);
		if (c->json || pol->nfws < 2)
			continue;
		printf("section %s (", fw->name);
		for (size_t i = 0; i < fw->nifaces; i++)
			printf("%s%s", i ? ", " : "", fw->ifaces[i]);
		printf("%s): %zu rules", fw->nifaces ? "" : "no interfaces", fw->nrules);
		if (early)
			printf(" (%zu early)", early);
		printf(", default %s, %s\n", sl_action_name(fw->default_action),
		       fw->stateful ? "stateful" : "stateless");
	}
	r->sections += pol->nfws;
	r->several |= pol->nfws > 1;
}

/* Check one policy: the dir DIR, or the NPATHS files PATHS. */
static int check_policy(const struct cli *c, struct check_result *r, const char *dir,
			const char *const *paths, size_t npaths)
{
	struct sl_policy pol = {};
	struct sl_diags diags = {};
	struct fw_tables t = {};
	int err;

	/* a dir is read as the agent reads it: with the CLI's edits merged */
	if (dir)
		err = policy_load_dir_edits(dir, &pol, &diags);
	else
		err = policy_load_paths(paths, npaths, &pol, &diags);
	/* the limits of the compiled tables are part of "valid": each section's */
	for (size_t s = 0; !err && s < pol.nfws; s++) {
		err = fw_compile(&pol, &pol.fws[s], 0, &t, &diags);
		fw_tables_free(&t);
	}
	/* each egress entry is compiled like a section */
	for (size_t e = 0; !err && e < pol.negs; e++) {
		err = fw_compile(&pol, &pol.egs[e].fw, 0, &t, &diags);
		fw_tables_free(&t);
	}

	if (!c->json)
		sl_diags_print(stderr, &diags);
	for (size_t i = 0; i < diags.n; i++) {
		const struct sl_diag *d = &diags.v[i];

		if (add_error(r, d->file, d->line, d->col, d->msg))
			err = -ENOMEM;
	}
	if (!err) {
		r->rules += policy_nrules(&pol);
		r->lbs += pol.nlbs;
		for (size_t i = 0; i < pol.nlbs; i++)
			r->backends += pol.lbs[i].nbackends;
		for (size_t e = 0; e < pol.negs; e++)
			r->rules += pol.egs[e].fw.nrules;
		r->egress += pol.negs;
		r->sets += pol.nsets;
		r->prefixes += count_prefixes(&pol);
		show_sections(c, r, &pol);
		for (size_t i = 0; i < pol.nfiles; i++)
			json_object_array_add(r->files, json_object_new_string(pol.files[i]));
	} else if (err == -ENOMEM) {
		r->status = EXIT_FAIL;
		if (!diags.n)
			add_error(r, dir ? dir : paths[0], 0, 0, strerror(ENOMEM));
	} else if (r->status == EXIT_OK) {
		/* invalid or unreadable input */
		r->status = EXIT_USAGE;
		if (!diags.n) {
			const char *what = dir ? dir : paths[0];

			if (!c->json)
				fprintf(stderr, "%s: %s\n", what, strerror(-err));
			add_error(r, what, 0, 0, strerror(-err));
		}
	}
	policy_free(&pol);
	sl_diags_free(&diags);
	return err;
}

static int do_check(struct cli *c, int argc, char **argv)
{
	struct check_result r = { .status = EXIT_OK };
	struct json_object *out;
	struct cli_args a;
	const char **files;
	struct stat *seen;
	size_t nfiles = 0;
	int rc;

	files = calloc((size_t)argc + 1, sizeof(*files));
	seen = calloc((size_t)argc + 1, sizeof(*seen));
	r.files = json_object_new_array();
	r.errors = json_object_new_array();
	r.secs = json_object_new_array();
	if (!files || !seen || !r.files || !r.errors || !r.secs) {
		rc = cli_error(c, EXIT_FAIL, "out of memory");
		goto out;
	}

	/* usage first: nothing is read when the command line is wrong */
	rc = cli_parse(c, argc, argv, &a);
	if (rc)
		goto out;
	for (size_t i = 0; i < a.npos; i++)
		files[nfiles++] = a.pos[i];
	cli_args_free(&a);

	/* every dir is a policy of its own; the files that are not dirs make one more */
	argc = (int)nfiles;
	nfiles = 0;
	for (int i = 0; i < argc; i++) {
		const char *path = files[i];
		struct stat st;

		if (stat(path, &st)) {
			int e = errno;

			if (!c->json)
				fprintf(stderr, "%s: %s\n", path, strerror(e));
			if (add_error(&r, path, 0, 0, strerror(e)))
				r.status = EXIT_FAIL;
			else if (r.status == EXIT_OK)
				r.status = EXIT_USAGE;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			check_policy(c, &r, path, NULL, 0);
			continue;
		}
		/*
		 * The files are merged as one dir would be, and a dir holds a
		 * file once: the same file named twice (`sets.yaml *.yaml`, a
		 * relative and an absolute name) is read once, not reported as
		 * defining everything again "first at" itself.
		 */
		for (size_t k = 0; k < nfiles && path; k++)
			if (seen[k].st_dev == st.st_dev && seen[k].st_ino == st.st_ino)
				path = NULL;
		if (path) {
			seen[nfiles] = st;
			files[nfiles++] = path;
		}
	}
	if (nfiles)
		check_policy(c, &r, NULL, files, nfiles);

	rc = r.status;
	if (!c->json) {
		char lbs[64] = "", early[32] = "";

		if (r.lbs)
			snprintf(lbs, sizeof(lbs), ", %zu load balancers (%zu backends)", r.lbs,
				 r.backends);
		if (r.early)
			snprintf(early, sizeof(early), " (%zu early)", r.early);
		if (rc == EXIT_OK && r.several)
			printf("ok: %zu rules%s in %zu sections, %zu sets, %zu prefixes%s", r.rules,
			       early, r.sections, r.sets, r.prefixes, lbs);
		else if (rc == EXIT_OK)
			printf("ok: %zu rules%s, %zu sets, %zu prefixes%s", r.rules, early, r.sets,
			       r.prefixes, lbs);
		if (rc == EXIT_OK && r.egress)
			printf(", %zu egress entr%s", r.egress, r.egress > 1 ? "ies" : "y");
		if (rc == EXIT_OK)
			printf("\n");
		goto out;
	}
	out = json_object_new_object();
	if (!out) {
		rc = cli_error(c, EXIT_FAIL, "out of memory");
		goto out;
	}
	json_object_object_add(out, "valid", json_object_new_boolean(rc == EXIT_OK));
	if (rc == EXIT_OK) {
		json_object_object_add(out, "rules", json_object_new_uint64(r.rules));
		json_object_object_add(out, "early", json_object_new_uint64(r.early));
		json_object_object_add(out, "sets", json_object_new_uint64(r.sets));
		json_object_object_add(out, "prefixes", json_object_new_uint64(r.prefixes));
		json_object_object_add(out, "loadbalancers", json_object_new_uint64(r.lbs));
		json_object_object_add(out, "backends", json_object_new_uint64(r.backends));
		json_object_object_add(out, "sections", json_object_get(r.secs));
		json_object_object_add(out, "egress", json_object_new_uint64(r.egress));
		json_object_object_add(out, "files", json_object_get(r.files));
	} else {
		json_object_object_add(out, "errors", json_object_get(r.errors));
	}
	pr_json(stdout, out, c->pretty);
	json_object_put(out);
out:
	json_object_put(r.files);
	json_object_put(r.errors);
	json_object_put(r.secs);
	free(files);
	free(seen);
	return rc;
}

/* ---- policy show ---- */

static const struct pr_col show_rule_cols[] = {
	{ "#",       "index",  PR_NUM },
	{ "NAME",    "name",   0 },
	{ "ACTION",  "action", 0 },
	{ "SRC",     "src",    PR_ANY },
	{ "DST",     "dst",    PR_ANY },
	{ "PROTO",   "proto",  PR_ANY },
	{ "SPORT",   "sport",  PR_ANY },
	{ "DPORT",   "dport",  PR_ANY },
	{ "ORIGIN",  "origin", 0 },
};

static const struct pr_col show_egress_cols[] = {
	{ "#",       "index",  PR_NUM },
	{ "NAME",    "name",   0 },
	{ "ACTION",  "action", 0 },
	{ "DST",     "dst",    PR_ANY },
	{ "PROTO",   "proto",  PR_ANY },
	{ "DPORT",   "dport",  PR_ANY },
	{ "ORIGIN",  "origin", 0 },
};

static const struct pr_col show_backend_cols[] = {
	{ "BACKEND", "backend", 0 },
	{ "WEIGHT",  "weight",  PR_NUM },
	{ "DRAIN",   "drain",   0 },
};

static const struct pr_col show_set_cols[] = {
	{ "SET",      "name",   0 },
	{ "PREFIXES", "count",  PR_NUM },
	{ "ORIGIN",   "origin", 0 },
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/*
 * The load balancers and decap of the policy in force, as -j has them: a
 * head line per service (lb list's, with its table size and DSR outer
 * source), its backends with weight and drain ("policy", "cli" or -).
 */
static int show_lb_text(struct json_object *d)
{
	struct json_object *lbs = pr_get(d, "loadbalancers"), *decap = pr_get(d, "decap");
	size_t n = json_object_is_type(lbs, json_type_array) ? json_object_array_length(lbs) : 0;
	int err = 0;

	for (size_t i = 0; i < n && !err; i++) {
		struct json_object *s = json_object_array_get_idx(lbs, i);
		struct json_object *bes = pr_get(s, "backends"), *rows = json_object_new_array();
		const char *encap = json_object_get_string(pr_get(s, "encap_source"));

		printf("\nloadbalancer ");
		cli_lb_service_head(s);
		printf("  table-size %d%s%s\n", json_object_get_int(pr_get(s, "table_size")),
		       encap ? "  encap-source " : "", encap ? encap : "");
		for (size_t b = 0; b < json_object_array_length(bes); b++) {
			struct json_object *be = json_object_array_get_idx(bes, b);
			struct json_object *row = json_object_new_object();
			char ep[96];

			cli_lb_endpoint(be, ep, sizeof(ep));
			json_object_object_add(row, "backend", json_object_new_string(ep));
			json_object_object_add(row, "weight", json_object_get(pr_get(be, "weight")));
			json_object_object_add(row, "drain", json_object_get(pr_get(be, "drain")));
			json_object_array_add(rows, row);
		}
		err = pr_rows(stdout, show_backend_cols, NELEM(show_backend_cols), rows, "  ");
		json_object_put(rows);
	}
	if (!err && json_object_is_type(decap, json_type_object)) {
		char *ifs = pr_text(pr_get(decap, "interfaces"), 0);
		char *vips = pr_text(pr_get(decap, "vips"), 0);

		printf("\ndecap  interfaces %s, vips %s\n", ifs ? ifs : "?", vips ? vips : "?");
		free(ifs);
		free(vips);
	}
	return err;
}

static int show_text(struct json_object *d)
{
	struct json_object *secs = pr_get(d, "sections"), *sets = pr_get(d, "sets");
	struct json_object *block = pr_get(d, "blocklist"), *to = pr_get(d, "conntrack.timeouts");
	struct json_object *egress = pr_get(d, "egress");
	char *bl = pr_text(block, 0);
	size_t nsec = json_object_is_type(secs, json_type_array) ? json_object_array_length(secs) : 0;
	int err = 0;

	printf("generation %lld, policy dir %s\n",
	       (long long)json_object_get_int64(pr_get(d, "generation")),
	       json_object_get_string(pr_get(d, "policy_dir")));
	if (!nsec)
		printf("\nno firewall section\n");
	for (size_t i = 0; i < nsec && !err; i++) {
		struct json_object *fw = json_object_array_get_idx(secs, i);
		char *ifs = pr_text(pr_get(fw, "interfaces"), 0);

		printf("\nsection %s  interfaces %s, default %s, stateful %s\n",
		       json_object_get_string(pr_get(fw, "name")), ifs && *ifs ? ifs : "none",
		       json_object_get_string(pr_get(fw, "default")),
		       json_object_get_boolean(pr_get(fw, "stateful")) ? "yes" : "no");
		free(ifs);
		cli_mark_early(pr_get(fw, "rules"));
		if (json_object_array_length(pr_get(fw, "rules")))
			err = pr_rows(stdout, show_rule_cols, NELEM(show_rule_cols),
				      pr_get(fw, "rules"), "  ");
		else
			printf("  no rules\n");
	}
	for (size_t i = 0; i < json_object_array_length(egress) && !err; i++) {
		struct json_object *e = json_object_array_get_idx(egress, i);
		struct json_object *bs = pr_get(e, "backstop");

		printf("\negress %s  cgroup %s, default %s\n", json_object_get_string(pr_get(e, "name")),
		       json_object_get_string(pr_get(e, "cgroup")),
		       json_object_get_string(pr_get(e, "default")));
		if (json_object_is_type(bs, json_type_object)) {
			char *ifs = pr_text(pr_get(bs, "interfaces"), 0);
			char *src = pr_text(pr_get(bs, "src"), 0);

			printf("  backstop on %s for src %s\n", ifs ? ifs : "?", src ? src : "?");
			free(ifs);
			free(src);
		}
		if (json_object_array_length(pr_get(e, "rules")))
			err = pr_rows(stdout, show_egress_cols, NELEM(show_egress_cols),
				      pr_get(e, "rules"), "  ");
		else
			printf("  no rules\n");
	}
	if (!err)
		err = show_lb_text(d);
	if (!err && json_object_array_length(sets)) {
		printf("\n");
		err = pr_rows(stdout, show_set_cols, NELEM(show_set_cols), sets, "");
	}
	printf("\nblocklist  %s\n", bl && json_object_array_length(block) ? bl : "empty");
	printf("conntrack  max-entries %lld, timeouts",
	       (long long)json_object_get_int64(pr_get(d, "conntrack.max-entries")));
	json_object_object_foreach(to, k, v)
		printf(" %s %lld", k, (long long)json_object_get_int64(v));
	printf("\n");
	free(bl);
	return err;
}

static int do_show(struct cli *c, int argc, char **argv)
{
	return cli_show(c, argc, argv, "policy-show", show_text);
}

/* ---- policy diff ---- */

/* The elements of the string array ARR as the keys of a new object (a set). */
static struct json_object *str_set(struct json_object *arr)
{
	struct json_object *o = json_object_new_object();

	for (size_t i = 0; arr && i < json_object_array_length(arr); i++)
		json_object_object_add(o, json_object_get_string(json_object_array_get_idx(arr, i)),
				       NULL);
	return o;
}

/* {"added": [in NEW, not OLD], "removed": [in OLD, not NEW]}, in list order */
static struct json_object *diff_strs(struct json_object *old, struct json_object *new)
{
	struct json_object *so = str_set(old), *sn = str_set(new), *d = json_object_new_object();
	struct json_object *add = json_object_new_array(), *del = json_object_new_array();

	for (size_t i = 0; new && i < json_object_array_length(new); i++) {
		struct json_object *v = json_object_array_get_idx(new, i);

		if (!json_object_object_get_ex(so, json_object_get_string(v), NULL))
			json_object_array_add(add, json_object_get(v));
	}
	for (size_t i = 0; old && i < json_object_array_length(old); i++) {
		struct json_object *v = json_object_array_get_idx(old, i);

		if (!json_object_object_get_ex(sn, json_object_get_string(v), NULL))
			json_object_array_add(del, json_object_get(v));
	}
	json_object_object_add(d, "added", add);
	json_object_object_add(d, "removed", del);
	json_object_put(so);
	json_object_put(sn);
	return d;
}

static bool diff_empty(struct json_object *d)
{
	return !json_object_array_length(pr_get(d, "added")) &&
	       !json_object_array_length(pr_get(d, "removed"));
}

/* Members of the objects in array ARR by their "name": {name: object} */
static struct json_object *by_name(struct json_object *arr)
{
	struct json_object *o = json_object_new_object();

	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		struct json_object *v = json_object_array_get_idx(arr, i);

		json_object_object_add(o, json_object_get_string(pr_get(v, "name")),
				       json_object_get(v));
	}
	return o;
}

static void add_change(struct json_object *into, const char *key, struct json_object *from,
		       struct json_object *to)
{
	struct json_object *c;

	if (json_object_equal(from, to))
		return;
	c = json_object_new_object();
	json_object_object_add(c, "from", json_object_get(from));
	json_object_object_add(c, "to", json_object_get(to));
	json_object_object_add(into, key, c);
}

static struct json_object *diff_rules(struct json_object *old, struct json_object *new)
{
	static const char *const fields[] = { "section", "action", "src", "dst", "proto", "sport",
					      "dport", "early" };
	struct json_object *bo = by_name(old), *bn = by_name(new), *d = json_object_new_object();
	struct json_object *add = json_object_new_array(), *del = json_object_new_array();
	struct json_object *chg = json_object_new_array(), *mov = json_object_new_array();
	struct json_object *co = json_object_new_array(), *cn = json_object_new_array();

	for (size_t i = 0; i < json_object_array_length(new); i++) {
		struct json_object *r = json_object_array_get_idx(new, i), *o;

		if (!json_object_object_get_ex(bo, json_object_get_string(pr_get(r, "name")), &o)) {
			json_object_array_add(add, json_object_get(r));
			continue;
		}
		json_object_array_add(cn, json_object_get(r));
	}
	for (size_t i = 0; i < json_object_array_length(old); i++) {
		struct json_object *r = json_object_array_get_idx(old, i), *n, *f;
		const char *name = json_object_get_string(pr_get(r, "name"));

		if (!json_object_object_get_ex(bn, name, &n)) {
			json_object_array_add(del, json_object_get(r));
			continue;
		}
		json_object_array_add(co, json_object_get(r));
		f = json_object_new_object();
		for (size_t k = 0; k < NELEM(fields); k++)
			add_change(f, fields[k], pr_get(r, fields[k]), pr_get(n, fields[k]));
		if (json_object_object_length(f)) {
			struct json_object *c = json_object_new_object();

			json_object_object_add(c, "name", json_object_new_string(name));
			json_object_object_add(c, "changes", f);
			json_object_array_add(chg, c);
		} else {
			json_object_put(f);
		}
	}
	/*
	 * moved: the fewest rules whose moves explain the new order, those
	 * outside a longest common subsequence of the two orders (adds and
	 * removes shift indexes but move nothing). At most 512 rules: O(n^2).
	 */
	{
		size_t n = json_object_array_length(co), w = n + 1;
		unsigned short *L = calloc(w * w, sizeof(*L));
		bool *keep = calloc(n + 1, sizeof(*keep));

		for (size_t i = n; L && keep && i-- > 0;) {
			for (size_t j = n; j-- > 0;) {
				const char *a = json_object_get_string(pr_get(
					json_object_array_get_idx(co, i), "name"));
				const char *b = json_object_get_string(pr_get(
					json_object_array_get_idx(cn, j), "name"));

				L[i * w + j] = !strcmp(a, b) ? L[(i + 1) * w + j + 1] + 1 :
					       L[(i + 1) * w + j] > L[i * w + j + 1] ?
					       L[(i + 1) * w + j] : L[i * w + j + 1];
			}
		}
		for (size_t i = 0, j = 0; L && keep && i < n && j < n;) {
			const char *a = json_object_get_string(pr_get(
				json_object_array_get_idx(co, i), "name"));
			const char *b = json_object_get_string(pr_get(
				json_object_array_get_idx(cn, j), "name"));

			if (!strcmp(a, b)) {
				keep[i++] = true;
				j++;
			} else if (L[(i + 1) * w + j] >= L[i * w + j + 1]) {
				i++;
			} else {
				j++;
			}
		}
		for (size_t i = 0; keep && i < n; i++) {
			struct json_object *o = json_object_array_get_idx(co, i), *m, *nn;
			const char *name = json_object_get_string(pr_get(o, "name"));

			if (keep[i])
				continue;
			json_object_object_get_ex(bn, name, &nn);
			m = json_object_new_object();
			json_object_object_add(m, "name", json_object_new_string(name));
			json_object_object_add(m, "from", json_object_get(pr_get(o, "index")));
			json_object_object_add(m, "to", json_object_get(pr_get(nn, "index")));
			json_object_array_add(mov, m);
		}
		free(L);
		free(keep);
	}
	json_object_object_add(d, "added", add);
	json_object_object_add(d, "removed", del);
	json_object_object_add(d, "changed", chg);
	json_object_object_add(d, "moved", mov);
	json_object_put(bo);
	json_object_put(bn);
	json_object_put(co);
	json_object_put(cn);
	return d;
}

static struct json_object *set_brief(struct json_object *s)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_get(pr_get(s, "name")));
	json_object_object_add(o, "count", json_object_get(pr_get(s, "count")));
	return o;
}

static struct json_object *diff_sets(struct json_object *old, struct json_object *new)
{
	struct json_object *bo = by_name(old), *bn = by_name(new), *d = json_object_new_object();
	struct json_object *add = json_object_new_array(), *del = json_object_new_array();
	struct json_object *chg = json_object_new_array();

	for (size_t i = 0; i < json_object_array_length(new); i++) {
		struct json_object *s = json_object_array_get_idx(new, i), *o, *x;

		if (!json_object_object_get_ex(bo, json_object_get_string(pr_get(s, "name")), &o)) {
			json_object_array_add(add, set_brief(s));
			continue;
		}
		x = diff_strs(pr_get(o, "prefixes"), pr_get(s, "prefixes"));
		if (diff_empty(x)) {
			json_object_put(x);
			continue;
		}
		json_object_object_add(x, "name", json_object_get(pr_get(s, "name")));
		json_object_array_add(chg, x);
	}
	for (size_t i = 0; i < json_object_array_length(old); i++) {
		struct json_object *s = json_object_array_get_idx(old, i);

		if (!json_object_object_get_ex(bn, json_object_get_string(pr_get(s, "name")), NULL))
			json_object_array_add(del, set_brief(s));
	}
	json_object_object_add(d, "added", add);
	json_object_object_add(d, "removed", del);
	json_object_object_add(d, "changed", chg);
	json_object_put(bo);
	json_object_put(bn);
	return d;
}

/* Every section's rules, in section order (names are unique across sections). */
static struct json_object *all_rules(struct json_object *pol)
{
	struct json_object *secs = pr_get(pol, "sections"), *out = json_object_new_array();

	for (size_t i = 0; secs && i < json_object_array_length(secs); i++) {
		struct json_object *r = pr_get(json_object_array_get_idx(secs, i), "rules");

		for (size_t k = 0; r && k < json_object_array_length(r); k++)
			json_object_array_add(out, json_object_get(json_object_array_get_idx(r, k)));
	}
	return out;
}

static void section_changes(struct json_object *d, struct json_object *old,
			    struct json_object *new)
{
	static const char *const keys[] = { "default", "stateful", "interfaces", "hook" };
	struct json_object *bo = by_name(pr_get(old, "sections"));
	struct json_object *bn = by_name(pr_get(new, "sections"));

	json_object_object_foreach(bn, name, sn) {
		struct json_object *so = json_object_object_get(bo, name);

		for (size_t k = 0; k < NELEM(keys); k++) {
			char key[160];

			snprintf(key, sizeof(key), "sections.%s.%s", name, keys[k]);
			add_change(d, key, so ? pr_get(so, keys[k]) : NULL, pr_get(sn, keys[k]));
		}
	}
	json_object_object_foreach(bo, name2, so2) {
		char key[160];

		if (json_object_object_get_ex(bn, name2, NULL))
			continue;
		snprintf(key, sizeof(key), "sections.%s.interfaces", name2);
		add_change(d, key, pr_get(so2, "interfaces"), NULL);
	}
	json_object_put(bo);
	json_object_put(bn);
}

static struct json_object *diff_settings(struct json_object *old, struct json_object *new)
{
	struct json_object *d = json_object_new_object();

	section_changes(d, old, new);
	add_change(d, "conntrack.max-entries", pr_get(old, "conntrack.max-entries"),
		   pr_get(new, "conntrack.max-entries"));
	json_object_object_foreach(pr_get(new, "conntrack.timeouts"), k, v) {
		char key[64];

		snprintf(key, sizeof(key), "conntrack.timeouts.%s", k);
		add_change(d, key, json_object_object_get(pr_get(old, "conntrack.timeouts"), k), v);
	}
	add_change(d, "conntrack.syn-cookies", pr_get(old, "conntrack.syn-cookies"),
		   pr_get(new, "conntrack.syn-cookies"));
	add_change(d, "conntrack.syn-cookie-ports", pr_get(old, "conntrack.syn-cookie-ports"),
		   pr_get(new, "conntrack.syn-cookie-ports"));
	add_change(d, "decap.interfaces", pr_get(old, "decap.interfaces"),
		   pr_get(new, "decap.interfaces"));
	add_change(d, "decap.vips", pr_get(old, "decap.vips"), pr_get(new, "decap.vips"));
	return d;
}

static struct json_object *lb_brief(struct json_object *s)
{
	struct json_object *o = json_object_new_object();
	static const char *const keys[] = { "name", "vip", "port", "proto" };

	for (size_t k = 0; k < NELEM(keys); k++)
		json_object_object_add(o, keys[k], json_object_get(pr_get(s, keys[k])));
	return o;
}

/* {backend name: backend} of service S */
static struct json_object *backends_by_name(struct json_object *s)
{
	struct json_object *bes = pr_get(s, "backends"), *o = json_object_new_object();
	char name[96];

	for (size_t i = 0; bes && i < json_object_array_length(bes); i++) {
		struct json_object *b = json_object_array_get_idx(bes, i);

		/* as `lb list` names it: "198.51.100.11:8080", "[2001:db8::11]:443" */
		cli_lb_endpoint(b, name, sizeof(name));
		json_object_object_add(o, name, json_object_get(b));
	}
	return o;
}

/* A service's backends: added, removed (by name), and weight or drain changed. */
static struct json_object *diff_backends(struct json_object *old, struct json_object *new)
{
	static const char *const keys[] = { "weight", "drain" };
	struct json_object *bo = backends_by_name(old), *bn = backends_by_name(new);
	struct json_object *d = json_object_new_object(), *add = json_object_new_array();
	struct json_object *del = json_object_new_array(), *chg = json_object_new_array();

	json_object_object_foreach(bn, name, b) {
		struct json_object *o, *c;

		if (!json_object_object_get_ex(bo, name, &o)) {
			json_object_array_add(add, json_object_new_string(name));
			continue;
		}
		c = json_object_new_object();
		for (size_t k = 0; k < NELEM(keys); k++)
			add_change(c, keys[k], pr_get(o, keys[k]), pr_get(b, keys[k]));
		if (!json_object_object_length(c)) {
			json_object_put(c);
			continue;
		}
		o = json_object_new_object();
		json_object_object_add(o, "backend", json_object_new_string(name));
		json_object_object_add(o, "changes", c);
		json_object_array_add(chg, o);
	}
	json_object_object_foreach(bo, name2, b2) {
		(void)b2;
		if (!json_object_object_get_ex(bn, name2, NULL))
			json_object_array_add(del, json_object_new_string(name2));
	}
	json_object_object_add(d, "added", add);
	json_object_object_add(d, "removed", del);
	json_object_object_add(d, "changed", chg);
	json_object_put(bo);
	json_object_put(bn);
	return d;
}

static struct json_object *egress_brief(struct json_object *e)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_get(pr_get(e, "name")));
	json_object_object_add(o, "cgroup", json_object_get(pr_get(e, "cgroup")));
	return o;
}

static bool rules_same(struct json_object *r)
{
	return diff_empty(r) && !json_object_array_length(pr_get(r, "changed")) &&
	       !json_object_array_length(pr_get(r, "moved"));
}

/*
 * Egress entries and load balancers are diffed alike, by name: added,
 * removed (as BRIEF says them), and for each one kept what changed in it:
 * its settings KEYS and its parts (under PARTS: an entry's rules, a
 * service's backends).
 */
struct named_diff {
	const char *const *keys;
	size_t nkeys;
	const char *parts;
	struct json_object *(*brief)(struct json_object *item);
	struct json_object *(*diff_parts)(struct json_object *old, struct json_object *new);
	bool (*parts_same)(struct json_object *d);
};

static struct json_object *diff_named(struct json_object *old, struct json_object *new,
				      const struct named_diff *how)
{
	struct json_object *bo = by_name(old), *bn = by_name(new), *d = json_object_new_object();
	struct json_object *add = json_object_new_array(), *del = json_object_new_array();
	struct json_object *chg = json_object_new_array();

	for (size_t i = 0; new && i < json_object_array_length(new); i++) {
		struct json_object *e = json_object_array_get_idx(new, i), *o, *c, *r;

		if (!json_object_object_get_ex(bo, json_object_get_string(pr_get(e, "name")), &o)) {
			json_object_array_add(add, how->brief(e));
			continue;
		}
		c = json_object_new_object();
		for (size_t k = 0; k < how->nkeys; k++)
			add_change(c, how->keys[k], pr_get(o, how->keys[k]), pr_get(e, how->keys[k]));
		r = how->diff_parts(o, e);
		if (!json_object_object_length(c) && how->parts_same(r)) {
			json_object_put(c);
			json_object_put(r);
			continue;
		}
		o = json_object_new_object();
		json_object_object_add(o, "name", json_object_get(pr_get(e, "name")));
		json_object_object_add(o, "changes", c);
		json_object_object_add(o, how->parts, r);
		json_object_array_add(chg, o);
	}
	for (size_t i = 0; old && i < json_object_array_length(old); i++) {
		struct json_object *e = json_object_array_get_idx(old, i);

		if (!json_object_object_get_ex(bn, json_object_get_string(pr_get(e, "name")), NULL))
			json_object_array_add(del, how->brief(e));
	}
	json_object_object_add(d, "added", add);
	json_object_object_add(d, "removed", del);
	json_object_object_add(d, "changed", chg);
	json_object_put(bo);
	json_object_put(bn);
	return d;
}

static struct json_object *egress_rules_diff(struct json_object *old, struct json_object *new)
{
	return diff_rules(pr_get(old, "rules"), pr_get(new, "rules"));
}

static bool backends_same(struct json_object *d)
{
	return diff_empty(d) && !json_object_array_length(pr_get(d, "changed"));
}

static const char *const egress_keys[] = { "cgroup", "default", "backstop" };
static const char *const lb_keys[] = { "vip", "port", "proto", "mode", "table_size",
				       "encap_source", "health" };

/* Egress entries: their cgroup, default and backstop, and their rules. */
static const struct named_diff egress_diff = {
	egress_keys, NELEM(egress_keys), "rules", egress_brief, egress_rules_diff, rules_same,
};

/* Load balancers: a service that moves to another VIP or port is a change of it. */
static const struct named_diff lb_diff = {
	lb_keys, NELEM(lb_keys), "backends", lb_brief, diff_backends, backends_same,
};

/* What applying NEW would change against OLD (the policy in force). */
static struct json_object *diff_policies(struct json_object *old, struct json_object *new)
{
	struct json_object *d = json_object_new_object(), *r, *s, *b, *st, *eg, *lb;
	bool same;

	{
		struct json_object *ro = all_rules(old), *rn = all_rules(new);

		r = diff_rules(ro, rn);
		json_object_put(ro);
		json_object_put(rn);
	}
	s = diff_sets(pr_get(old, "sets"), pr_get(new, "sets"));
	b = diff_strs(pr_get(old, "blocklist"), pr_get(new, "blocklist"));
	st = diff_settings(old, new);
	eg = diff_named(pr_get(old, "egress"), pr_get(new, "egress"), &egress_diff);
	lb = diff_named(pr_get(old, "loadbalancers"), pr_get(new, "loadbalancers"), &lb_diff);
	same = rules_same(r) && diff_empty(s) &&
	       !json_object_array_length(pr_get(s, "changed")) && diff_empty(b) &&
	       !json_object_object_length(st) && diff_empty(eg) &&
	       !json_object_array_length(pr_get(eg, "changed")) && diff_empty(lb) &&
	       !json_object_array_length(pr_get(lb, "changed"));
	json_object_object_add(d, "same", json_object_new_boolean(same));
	json_object_object_add(d, "generation", json_object_get(pr_get(old, "generation")));
	json_object_object_add(d, "rules", r);
	json_object_object_add(d, "sets", s);
	json_object_object_add(d, "blocklist", b);
	json_object_object_add(d, "settings", st);
	json_object_object_add(d, "egress", eg);
	json_object_object_add(d, "loadbalancers", lb);
	return d;
}

static char *rule_summary(struct json_object *r)
{
	static const char *const f[] = { "src", "dst", "proto", "sport", "dport" };
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	if (!m)
		return NULL;
	fprintf(m, "%s%s", json_object_get_string(pr_get(r, "action")),
		json_object_get_boolean(pr_get(r, "early")) ? " early" : "");
	for (size_t i = 0; i < NELEM(f); i++) {
		char *t;

		if (!json_object_array_length(pr_get(r, f[i])))
			continue;
		t = pr_text(pr_get(r, f[i]), 0);
		fprintf(m, " %s %s", f[i], t ? t : "?");
		free(t);
	}
	fclose(m);
	return buf;
}

/* At most 10 entries of a list in text; -j has them all. */
static void print_entries(char sign, struct json_object *arr)
{
	size_t n = json_object_array_length(arr);

	for (size_t i = 0; i < n && i < 10; i++)
		printf(" %c%s", sign, json_object_get_string(json_object_array_get_idx(arr, i)));
	if (n > 10)
		printf(" (%zu more)", n - 10);
}

/* The rule lines of the rule diff R; WHAT names whose rules ("", "egress app1 "). */
static void rules_diff_text(struct json_object *r, const char *what)
{
	struct json_object *v;
	size_t i;

	for (i = 0; i < json_object_array_length(pr_get(r, "added")); i++) {
		v = json_object_array_get_idx(pr_get(r, "added"), i);
		char *t = rule_summary(v);

		printf("+ %srule %s at %lld: %s (%s)\n", what,
		       json_object_get_string(pr_get(v, "name")),
		       (long long)json_object_get_int64(pr_get(v, "index")), t ? t : "?",
		       json_object_get_string(pr_get(v, "origin")));
		free(t);
	}
	for (i = 0; i < json_object_array_length(pr_get(r, "removed")); i++) {
		v = json_object_array_get_idx(pr_get(r, "removed"), i);
		printf("- %srule %s (was at %lld)\n", what,
		       json_object_get_string(pr_get(v, "name")),
		       (long long)json_object_get_int64(pr_get(v, "index")));
	}
	for (i = 0; i < json_object_array_length(pr_get(r, "changed")); i++) {
		bool first = true;

		v = json_object_array_get_idx(pr_get(r, "changed"), i);
		printf("~ %srule %s:", what, json_object_get_string(pr_get(v, "name")));
		json_object_object_foreach(pr_get(v, "changes"), k, c) {
			char *from = pr_text(pr_get(c, "from"), PR_ANY);
			char *to = pr_text(pr_get(c, "to"), PR_ANY);

			printf("%s %s %s -> %s", first ? "" : ";", k, from ? from : "?",
			       to ? to : "?");
			first = false;
			free(from);
			free(to);
		}
		printf("\n");
	}
	for (i = 0; i < json_object_array_length(pr_get(r, "moved")); i++) {
		v = json_object_array_get_idx(pr_get(r, "moved"), i);
		printf("> %srule %s moved from %lld to %lld\n", what,
		       json_object_get_string(pr_get(v, "name")),
		       (long long)json_object_get_int64(pr_get(v, "from")),
		       (long long)json_object_get_int64(pr_get(v, "to")));
	}
}

static void egress_diff_text(struct json_object *eg)
{
	struct json_object *v;
	size_t i;

	for (i = 0; i < json_object_array_length(pr_get(eg, "added")); i++) {
		v = json_object_array_get_idx(pr_get(eg, "added"), i);
		printf("+ egress %s (cgroup %s)\n", json_object_get_string(pr_get(v, "name")),
		       json_object_get_string(pr_get(v, "cgroup")));
	}
	for (i = 0; i < json_object_array_length(pr_get(eg, "removed")); i++) {
		v = json_object_array_get_idx(pr_get(eg, "removed"), i);
		printf("- egress %s (cgroup %s)\n", json_object_get_string(pr_get(v, "name")),
		       json_object_get_string(pr_get(v, "cgroup")));
	}
	for (i = 0; i < json_object_array_length(pr_get(eg, "changed")); i++) {
		char what[128];

		v = json_object_array_get_idx(pr_get(eg, "changed"), i);
		snprintf(what, sizeof(what), "egress %s ", json_object_get_string(pr_get(v, "name")));
		json_object_object_foreach(pr_get(v, "changes"), k, c) {
			char *from = pr_text(pr_get(c, "from"), 0), *to = pr_text(pr_get(c, "to"), 0);

			printf("~ %s%s: %s -> %s\n", what, k, from ? from : "-", to ? to : "-");
			free(from);
			free(to);
		}
		rules_diff_text(pr_get(v, "rules"), what);
	}
}

static void lb_brief_text(char sign, struct json_object *s)
{
	char ep[96];

	cli_lb_endpoint(s, ep, sizeof(ep));
	printf("%c loadbalancer %s %s/%s\n", sign, json_object_get_string(pr_get(s, "name")), ep,
	       json_object_get_string(pr_get(s, "proto")));
}

static void changes_text(const char *what, struct json_object *changes)
{
	json_object_object_foreach(changes, k, c) {
		char *from = pr_text(pr_get(c, "from"), 0), *to = pr_text(pr_get(c, "to"), 0);

		printf("~ %s %s: %s -> %s\n", what, k, from ? from : "?", to ? to : "?");
		free(from);
		free(to);
	}
}

static void lbs_diff_text(struct json_object *lb)
{
	struct json_object *v;
	size_t i;

	for (i = 0; i < json_object_array_length(pr_get(lb, "added")); i++)
		lb_brief_text('+', json_object_array_get_idx(pr_get(lb, "added"), i));
	for (i = 0; i < json_object_array_length(pr_get(lb, "removed")); i++)
		lb_brief_text('-', json_object_array_get_idx(pr_get(lb, "removed"), i));
	for (i = 0; i < json_object_array_length(pr_get(lb, "changed")); i++) {
		struct json_object *b;
		char what[256];
		size_t k;

		v = json_object_array_get_idx(pr_get(lb, "changed"), i);
		b = pr_get(v, "backends");
		snprintf(what, sizeof(what), "loadbalancer %s",
			 json_object_get_string(pr_get(v, "name")));
		changes_text(what, pr_get(v, "changes"));
		for (k = 0; k < json_object_array_length(pr_get(b, "added")); k++)
			printf("+ %s backend %s\n", what, json_object_get_string(
				       json_object_array_get_idx(pr_get(b, "added"), k)));
		for (k = 0; k < json_object_array_length(pr_get(b, "removed")); k++)
			printf("- %s backend %s\n", what, json_object_get_string(
				       json_object_array_get_idx(pr_get(b, "removed"), k)));
		for (k = 0; k < json_object_array_length(pr_get(b, "changed")); k++) {
			struct json_object *c = json_object_array_get_idx(pr_get(b, "changed"), k);
			char be[400];

			snprintf(be, sizeof(be), "%s backend %s", what,
				 json_object_get_string(pr_get(c, "backend")));
			changes_text(be, pr_get(c, "changes"));
		}
	}
}

static int diff_text(struct json_object *d)
{
	struct json_object *s = pr_get(d, "sets");
	struct json_object *v;
	size_t i;

	rules_diff_text(pr_get(d, "rules"), "");
	for (i = 0; i < json_object_array_length(pr_get(s, "added")); i++) {
		v = json_object_array_get_idx(pr_get(s, "added"), i);
		printf("+ set %s (%lld prefixes)\n", json_object_get_string(pr_get(v, "name")),
		       (long long)json_object_get_int64(pr_get(v, "count")));
	}
	for (i = 0; i < json_object_array_length(pr_get(s, "removed")); i++) {
		v = json_object_array_get_idx(pr_get(s, "removed"), i);
		printf("- set %s (%lld prefixes)\n", json_object_get_string(pr_get(v, "name")),
		       (long long)json_object_get_int64(pr_get(v, "count")));
	}
	for (i = 0; i < json_object_array_length(pr_get(s, "changed")); i++) {
		v = json_object_array_get_idx(pr_get(s, "changed"), i);
		printf("~ set %s: %zu added, %zu removed:", json_object_get_string(pr_get(v, "name")),
		       json_object_array_length(pr_get(v, "added")),
		       json_object_array_length(pr_get(v, "removed")));
		print_entries('+', pr_get(v, "added"));
		print_entries('-', pr_get(v, "removed"));
		printf("\n");
	}
	v = pr_get(d, "blocklist");
	for (i = 0; i < json_object_array_length(pr_get(v, "added")); i++)
		printf("+ block %s\n", json_object_get_string(
			       json_object_array_get_idx(pr_get(v, "added"), i)));
	for (i = 0; i < json_object_array_length(pr_get(v, "removed")); i++)
		printf("- block %s\n", json_object_get_string(
			       json_object_array_get_idx(pr_get(v, "removed"), i)));
	json_object_object_foreach(pr_get(d, "settings"), k, c) {
		char *from = pr_text(pr_get(c, "from"), 0), *to = pr_text(pr_get(c, "to"), 0);

		printf("~ %s: %s -> %s\n", k, from ? from : "?", to ? to : "?");
		free(from);
		free(to);
	}
	egress_diff_text(pr_get(d, "egress"));
	lbs_diff_text(pr_get(d, "loadbalancers"));
	return 0;
}

/*
 * DIR as the agent would apply it: its files, with the CLI's edits of DIR
 * when it has an edits file, else those of the agent's policy dir (copying
 * files into the policy dir keeps the CLI's edits there).
 */
static int load_for_diff(struct cli *c, const char *dir, const char *agent_dir,
			 struct sl_policy *pol)
{
	struct sl_diags d = {};
	struct sl_edits e = {};
	struct fw_tables t = {};
	char *own = sl_edits_path(dir);
	int err;

	memset(pol, 0, sizeof(*pol));
	err = own ? sl_edits_read(!access(own, F_OK) ? dir : agent_dir, &e, &d) : -ENOMEM;
	if (!err)
		err = policy_load_with_edits(dir, &e, pol, &d);
	for (size_t k = 0; !err && k < pol->nfws; k++) {
		err = fw_compile(pol, &pol->fws[k], 0, &t, &d);
		fw_tables_free(&t);
	}
	sl_edits_free(&e);
	free(own);
	if (err) {
		if (c->json) {
			char msg[2048] = "";
			size_t off = 0;

			for (size_t i = 0; i < d.n && off < sizeof(msg); i++)
				off += (size_t)snprintf(msg + off, sizeof(msg) - off,
							"%s%s:%d:%d: %s", i ? "; " : "",
							d.v[i].file ? d.v[i].file : "", d.v[i].line,
							d.v[i].col, d.v[i].msg);
			cli_error(c, EXIT_USAGE, "%s", msg[0] ? msg : strerror(-err));
		} else {
			sl_diags_print(stderr, &d);
			if (!d.n)
				cli_error(c, EXIT_USAGE, "%s: %s", dir, strerror(-err));
		}
		policy_free(pol);
	}
	sl_diags_free(&d);
	return err ? EXIT_USAGE : EXIT_OK;
}

static int do_diff(struct cli *c, int argc, char **argv)
{
	struct json_object *args, *old = NULL, *new = NULL, *d = NULL;
	struct sl_policy pol;
	struct cli_args a;
	const char *dir;
	struct stat st;
	int rc;

	rc = cli_parse(c, argc, argv, &a);
	if (rc)
		return rc;
	dir = a.pos[0];
	cli_args_free(&a);
	if (stat(dir, &st))
		return cli_error(c, EXIT_USAGE, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return cli_error(c, EXIT_USAGE, "%s: not a directory", dir);
	args = json_object_new_object();
	json_object_object_add(args, "prefixes", json_object_new_boolean(true));
	rc = ctl_call(c, "policy-show", args, &old);
	json_object_put(args);
	/* diff(1): 0 the same, 1 different, 2 trouble of any kind */
	if (rc)
		return EXIT_USAGE;
	rc = load_for_diff(c, dir, json_object_get_string(pr_get(old, "policy_dir")), &pol);
	if (rc)
		goto out;
	new = sl_json_policy(&pol, true);
	policy_free(&pol);
	d = diff_policies(old, new);
	json_object_object_add(d, "dir", json_object_new_string(dir));
	rc = cli_output(c, d, diff_text);
	if (rc)
		rc = EXIT_USAGE;
	else
		rc = json_object_get_boolean(pr_get(d, "same")) ? EXIT_OK : 1;
out:
	json_object_put(old);
	json_object_put(new);
	json_object_put(d);
	return rc;
}

static const struct cli_verb policy_verbs[] = {
	{ "check", do_check, "FILE|DIR...", NULL, CV_FILE, 1, CLI_MANY },
	{ "show", do_show, "" },
	{ "diff", do_diff, "DIR", NULL, CV_DIR, 1, 1 },
	{ NULL },
};

const struct cli_object cli_policy = {
	.name = "policy",
	.verbs = policy_verbs,
	.summary = "check: validate policy files offline (no agent needed), with the agent's\n"
		   "parser, checker and compiler. A DIR is read as the agent reads its policy\n"
		   "dir (with the CLI's edits file); FILE arguments together form one policy.\n"
		   "Each error is printed as FILE:LINE:COL: message; exit 0 when valid, 2 when not.\n"
		   "show: the policy in force: generation, rules in order with their origin\n"
		   "(FILE:LINE, or cli), egress entries, load balancers with their backends,\n"
		   "decap, sets, blocklist, conntrack settings.\n"
		   "diff: what applying DIR would change against the policy in force: rules\n"
		   "added, removed, changed or moved, set entries, blocklist, settings, egress\n"
		   "entries, load balancers and their backends. Exit as\n"
		   "diff(1): 0 no difference, 1 different, 2 trouble (invalid DIR, no agent).",
};
