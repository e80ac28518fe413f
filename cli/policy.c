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

#include "cli.h"
#include "fw_tables.h"
#include "policy.h"
#include "print.h"

struct check_result {
	size_t rules, sets, prefixes, sections;
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

		for (size_t i = 0; i < fw->nifaces; i++)
			json_object_array_add(ifs, json_object_new_string(fw->ifaces[i]));
		json_object_object_add(o, "name", json_object_new_string(fw->name));
		json_object_object_add(o, "interfaces", ifs);
		json_object_object_add(o, "default", json_object_new_string(
					       sl_action_name(fw->default_action)));
		json_object_object_add(o, "stateful", json_object_new_boolean(fw->stateful));
		json_object_object_add(o, "rules", json_object_new_uint64(fw->nrules));
		json_object_array_add(r->secs, o);
		if (c->json || pol->nfws < 2)
			continue;
		printf("section %s (", fw->name);
		for (size_t i = 0; i < fw->nifaces; i++)
			printf("%s%s", i ? ", " : "", fw->ifaces[i]);
		printf("%s): %zu rules, default %s, %s\n", fw->nifaces ? "" : "no interfaces",
		       fw->nrules, sl_action_name(fw->default_action),
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

	if (dir)
		err = policy_load_dir(dir, &pol, &diags);
	else
		err = policy_load_paths(paths, npaths, &pol, &diags);
	/* the limits of the compiled tables are part of "valid": each section's */
	for (size_t s = 0; !err && s < pol.nfws; s++) {
		err = fw_compile(&pol, &pol.fws[s], 0, &t, &diags);
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
	const char **files;
	size_t nfiles = 0;
	bool opts = true;
	int rc;

	files = calloc((size_t)argc + 1, sizeof(*files));
	r.files = json_object_new_array();
	r.errors = json_object_new_array();
	r.secs = json_object_new_array();
	if (!files || !r.files || !r.errors || !r.secs) {
		rc = cli_error(c, EXIT_FAIL, "out of memory");
		goto out;
	}

	/* usage first: nothing is read when the command line is wrong */
	for (int i = 0; i < argc; i++) {
		if (opts && !strcmp(argv[i], "--")) {
			opts = false;
			continue;
		}
		if (opts && argv[i][0] == '-' && argv[i][1]) {
			if (cli_global_option(argv[i]))
				rc = cli_error(c, EXIT_USAGE, "option '%s' goes before OBJECT: "
					       "sluice %s policy check ...", argv[i], argv[i]);
			else
				rc = cli_error(c, EXIT_USAGE, "unknown option '%s' for 'policy "
					       "check'; try 'sluice policy help'", argv[i]);
			goto out;
		}
		files[nfiles++] = argv[i];
	}
	if (!nfiles) {
		rc = cli_error(c, EXIT_USAGE, "missing FILE|DIR; try 'sluice policy help'");
		goto out;
	}

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
		if (S_ISDIR(st.st_mode))
			check_policy(c, &r, path, NULL, 0);
		else
			files[nfiles++] = path;
	}
	if (nfiles)
		check_policy(c, &r, NULL, files, nfiles);

	rc = r.status;
	if (!c->json) {
		if (rc == EXIT_OK && r.several)
			printf("ok: %zu rules in %zu sections, %zu sets, %zu prefixes\n", r.rules,
			       r.sections, r.sets, r.prefixes);
		else if (rc == EXIT_OK)
			printf("ok: %zu rules, %zu sets, %zu prefixes\n", r.rules, r.sets,
			       r.prefixes);
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
		json_object_object_add(out, "sets", json_object_new_uint64(r.sets));
		json_object_object_add(out, "prefixes", json_object_new_uint64(r.prefixes));
		json_object_object_add(out, "sections", json_object_get(r.secs));
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
	return rc;
}

static const struct cli_verb policy_verbs[] = {
	{ "check", do_check, "FILE|DIR..." },
	{ NULL },
};

const struct cli_object cli_policy = {
	.name = "policy",
	.verbs = policy_verbs,
	.summary = "check: validate policy files offline (no agent needed), with the agent's\n"
		   "parser, checker and compiler. A DIR is read as the agent reads its policy\n"
		   "dir; FILE arguments together form one policy. Each error is printed as\n"
		   "FILE:LINE:COL: message; exit 0 when valid, 2 when not.",
};
