// SPDX-License-Identifier: GPL-2.0-only
/*
 * The policy loader: every *.yaml of a directory in name order (or the given
 * files), each parsed by policy_parse.c, the CLI's edits merged in
 * (policy_edit.c), then the checks across files (policy_check.c) once, over
 * what will be in force; the errors sorted as a compiler shows them.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "policy_edit.h"
#include "policy_int.h"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.yaml regular files of DIR, sorted by name; hidden files are skipped. */
static int list_dir(const char *dir, char ***out, size_t *nout, struct sl_diags *diags)
{
	struct sl_loc loc = { dir, 0, 0 };
	char **v = NULL;
	struct dirent *de;
	size_t n = 0;
	DIR *d;
	int rc = 0;

	d = opendir(dir);
	if (!d) {
		rc = -errno;
		sl_diag_add(diags, &loc, "cannot read directory: %s", strerror(-rc));
		return rc;
	}
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		char *p;

		if (de->d_name[0] == '.' || l < 6 || strcmp(de->d_name + l - 5, ".yaml"))
			continue;
		if (asprintf(&p, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/",
			     de->d_name) < 0) {
			rc = -ENOMEM;
			break;
		}
		/*
		 * Every NAME.yaml is a policy file: one that is not a regular file
		 * (a FIFO, a directory, a dangling symlink of a half-done ConfigMap
		 * swap; symlinks are followed, as ConfigMap mounts link NAME.yaml ->
		 * ..data/NAME.yaml) is an error of its own when it is read, never
		 * left out silently, which would apply the policy without it.
		 */
		if (sl_vec_reserve((void **)&v, n, sizeof(*v))) {
			free(p);
			rc = -ENOMEM;
			break;
		}
		v[n++] = p;
	}
	closedir(d);
	if (rc) {
		sl_diag_add(diags, &loc, "out of memory");
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
		return rc;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_str);
	*out = v;
	*nout = n;
	return 0;
}

struct diag_key {
	size_t file;	/* index in pol->files, or after them all */
	int line;	/* 0 (about the whole file) sorts after the lines */
	int col;
	size_t order;
	struct sl_diag d;
};

static int cmp_diag_key(const void *a, const void *b)
{
	const struct diag_key *x = a, *y = b;
	unsigned int lx = (unsigned int)x->line - 1, ly = (unsigned int)y->line - 1;

	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	if (lx != ly)
		return lx < ly ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/*
 * Errors are found file by file and then across files; show them in file
 * order (as read), by line and column, as a compiler would.
 */
static void sort_diags(const struct sl_policy *pol, struct sl_diags *d, size_t from)
{
	size_t n = d->n - from;
	struct diag_key *k;

	if (n < 2)
		return;
	k = calloc(n, sizeof(*k));
	if (!k)
		return;
	for (size_t i = 0; i < n; i++) {
		const struct sl_diag *x = &d->v[from + i];
		size_t f = pol->nfiles;

		for (size_t j = 0; x->file && j < pol->nfiles; j++) {
			if (!strcmp(x->file, pol->files[j])) {
				f = j;
				break;
			}
		}
		k[i] = (struct diag_key){ f, x->line, x->col, i, *x };
	}
	qsort(k, n, sizeof(*k), cmp_diag_key);
	for (size_t i = 0; i < n; i++)
		d->v[from + i] = k[i].d;
	free(k);
}

/*
 * Parse PATHS, merge E into them (when given and the files parse), then the
 * checks across files, once, over the merged policy.
 */
static int load(const char *const *paths, size_t npaths, const struct sl_edits *e,
		bool mapped_ok, struct sl_policy *pol, struct sl_diags *diags)
{
	size_t first_diag = diags->n;
	int errs = 0, ioerr = 0, rc;

	memset(pol, 0, sizeof(*pol));
	policy_defaults(pol);
	for (size_t i = 0; i < npaths; i++) {
		struct stat st;

		if (stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			struct sl_loc loc = { paths[i], 0, 0 };
			char **names = NULL;
			size_t n = 0;

			rc = list_dir(paths[i], &names, &n, diags);
			if (rc) {
				if (!ioerr)
					ioerr = rc;
				continue;
			}
			if (!n) {
				sl_diag_add(diags, &loc, "no policy files (*.yaml)");
				errs++;
			}
			for (size_t k = 0; k < n; k++) {
				sl_policy_parse_file(pol, diags, names[k], mapped_ok, &errs,
						     &ioerr);
				free(names[k]);
			}
			free(names);
		} else {
			sl_policy_parse_file(pol, diags, paths[i], mapped_ok, &errs, &ioerr);
		}
	}
	if (!npaths) {
		sl_diag_add(diags, NULL, "no policy files given");
		errs++;
	}
	/* the edits land in a policy that parsed: their errors are then their own */
	rc = e && !errs && !ioerr ? sl_edits_merge(pol, e, diags) : 0;
	if (rc == -ENOMEM)
		ioerr = rc;
	else if (rc)
		errs++;
	else
		errs += policy_check(pol, diags);
	sort_diags(pol, diags, first_diag);
	if (errs || ioerr) {
		policy_free(pol);
		return ioerr ? ioerr : -EINVAL;
	}
	return 0;
}

int policy_load_paths(const char *const *paths, size_t npaths, struct sl_policy *pol,
		      struct sl_diags *diags)
{
	return load(paths, npaths, NULL, false, pol, diags);
}

int sl_policy_load_edit_rules(const char *path, struct sl_policy *pol, struct sl_diags *diags)
{
	return load(&path, 1, NULL, true, pol, diags);
}

static int dir_ok(const char *dir, struct sl_policy *pol, struct sl_diags *diags)
{
	struct sl_loc loc = { dir, 0, 0 };
	struct stat st;
	int rc;

	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		rc = stat(dir, &st) < 0 ? -errno : -ENOTDIR;
		memset(pol, 0, sizeof(*pol));
		sl_diag_add(diags, &loc, "cannot read policy directory: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

int policy_load_dir(const char *dir, struct sl_policy *pol, struct sl_diags *diags)
{
	return dir_ok(dir, pol, diags) ?: load(&dir, 1, NULL, false, pol, diags);
}

int policy_load_with_edits(const char *dir, const struct sl_edits *e, struct sl_policy *pol,
			   struct sl_diags *diags)
{
	return dir_ok(dir, pol, diags) ?: load(&dir, 1, e, false, pol, diags);
}

int policy_load_dir_edits(const char *dir, struct sl_policy *pol, struct sl_diags *diags)
{
	struct sl_edits e;
	int err, err2;

	/* a broken edits file: the files' own errors are shown too */
	err = sl_edits_read(dir, &e, diags);
	err2 = err ? policy_load_dir(dir, pol, diags) : policy_load_with_edits(dir, &e, pol, diags);
	if (err && !err2)
		policy_free(pol);
	sl_edits_free(&e);
	return err ?: err2;
}
