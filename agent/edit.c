// SPDX-License-Identifier: GPL-2.0-only
/*
 * CLI edits (docs/control.md, docs/cli.md): rule add/del, block add/del/list,
 * policy show. An edit is never applied on its own: the agent reads the policy
 * dir again, merges the edited list of CLI edits into it and applies the
 * whole policy as one new generation (sync_apply: new slot, one switch per
 * link), exactly as a reload would. The edits file is saved first and the
 * policy applied after (a failed apply puts the file back), so an edit in
 * force is always saved: killed in between, the agent leaves an edit that
 * the next one applies, never one in force that a restart would revert.
 *
 * The agent serves one request at a time, so two edits never interleave. An
 * edit that names the generation it was prepared against ("generation") is
 * refused with a conflict when another change came first.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "attach.h"
#include "block.h"
#include "lb_policy.h"
#include "edit.h"
#include "log.h"
#include "policy_edit.h"
#include "policy_json.h"
#include "prefix.h"
#include "sync.h"

/* Static "file names" of the locations of a rule given as CLI arguments. */
static const char *const arg_names[SL_EF_N] = {
	"NAME", "--action", "--src", "--dst", "--proto", "--sport", "--dport", "--early",
	"--before", "--section",
};

/* DIAGS as one line: "FILE:LINE:COL: message; ..." */
static void diags_line(const struct sl_diags *d, char *err, size_t errlen)
{
	size_t off = strlen(err);

	for (size_t i = 0; i < d->n && off + 1 < errlen; i++) {
		const struct sl_diag *x = &d->v[i];
		int w;

		if (x->file && x->line > 0)
			w = snprintf(err + off, errlen - off, "%s%s:%d:%d: %s", i ? "; " : "",
				     x->file, x->line, x->col, x->msg);
		else if (x->file)
			w = snprintf(err + off, errlen - off, "%s%s: %s", i ? "; " : "", x->file,
				     x->msg);
		else
			w = snprintf(err + off, errlen - off, "%s%s", i ? "; " : "", x->msg);
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

static int need_policy(struct agent *a, char *err, size_t errlen)
{
	if (a->have_policy)
		return 0;
	snprintf(err, errlen, "this agent has no valid policy of its own (see its log); "
		 "generation %llu stays in force", (unsigned long long)a->generation);
	return -ENOENT;
}

/*
 * "generation": the one the client saw. Another change since then is a
 * conflict: the edit was decided against a policy that is no longer there.
 */
static int check_generation(struct agent *a, struct json_object *req, char *err,
			    size_t errlen)
{
	struct json_object *g;
	int64_t seen;

	if (!json_object_object_get_ex(req, "generation", &g) || !g)
		return 0;
	if (!json_object_is_type(g, json_type_int) || (seen = json_object_get_int64(g)) < 0) {
		snprintf(err, errlen, "\"generation\" must be a number");
		return -EINVAL;
	}
	if ((uint64_t)seen == a->generation)
		return 0;
	snprintf(err, errlen, "conflict: the edit was made against generation %lld, but "
		 "generation %llu is in force now; look again and retry",
		 (long long)seen, (unsigned long long)a->generation);
	return -ESTALE;
}

/* Every edit: a policy of the agent's own, and no change since the client looked. */
static int edit_allowed(struct agent *a, struct json_object *req, char *err, size_t errlen)
{
	int ret = need_policy(a, err, errlen);

	return ret ? ret : check_generation(a, req, err, errlen);
}

/* The strings of REQ[KEY]: a string or an array of strings; -EINVAL otherwise. */
static int req_strings(struct json_object *req, const char *key, bool *present,
		       struct json_object **arr, char *err, size_t errlen)
{
	struct json_object *v;

	*present = false;
	*arr = NULL;
	if (!json_object_object_get_ex(req, key, &v) || !v)
		return 0;
	if (json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			if (!json_object_is_type(json_object_array_get_idx(v, i),
						 json_type_string)) {
				snprintf(err, errlen, "\"%s\" must be a list of strings", key);
				return -EINVAL;
			}
		}
	} else if (!json_object_is_type(v, json_type_string)) {
		snprintf(err, errlen, "\"%s\" must be a string or a list of strings", key);
		return -EINVAL;
	}
	*present = true;
	*arr = v;
	return 0;
}

static const char *str_at(struct json_object *v, size_t i)
{
	return json_object_is_type(v, json_type_array) ?
	       json_object_get_string(json_object_array_get_idx(v, i)) :
	       json_object_get_string(v);
}

static size_t str_count(struct json_object *v)
{
	return json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 1;
}

/*
 * The edits file as it is now (to put back if the edit does not apply):
 * *OLD is NULL when there is none. 0 or -errno.
 */
static int edits_file_now(const char *path, char **old)
{
	struct stat st;
	size_t len = 0;
	int fd, err = 0;

	*old = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	/* it just loaded, so it is a regular file of at most 8 MiB */
	if (fstat(fd, &st) || !(*old = malloc((size_t)st.st_size + 1)))
		err = -errno;
	while (!err && len < (size_t)st.st_size) {
		ssize_t r = read(fd, *old + len, (size_t)st.st_size - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			err = r ? -errno : -EIO;
		else
			len += (size_t)r;
	}
	close(fd);
	if (err) {
		free(*old);
		*old = NULL;
	} else {
		(*old)[len] = '\0';
	}
	return err;
}

/* Write TEXT to PATH (NULL: remove PATH), atomically and durably. */
static int edits_file_write(const char *path, const char *text, char *err, size_t errlen)
{
	char *tmp = NULL;
	int ret;

	if (!text) {
		if (unlink(path) && errno != ENOENT) {
			ret = -errno;
			snprintf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
			return ret;
		}
		return 0;
	}
	ret = sl_file_stage(path, text, &tmp, err, errlen);
	if (!ret)
		ret = sl_file_commit(tmp, path, err, errlen);
	if (ret)
		sl_file_abort(tmp);
	else
		free(tmp);
	/*
	 * A ConfigMap volume (docs/deploy.md): the first step that writes says
	 * "cannot remove .../.sluice-cli.yaml.tmp", which names a temp file the
	 * operator never heard of; say where the change must go instead.
	 */
	if (ret == -EROFS)
		snprintf(err, errlen, "cannot keep the edit in %s: %s (a read-only policy dir, such "
			 "as a Kubernetes ConfigMap volume, takes no CLI edits: change its files)",
			 path, strerror(EROFS));
	return ret;
}

/*
 * Save E, then apply the hand-written dir merged with it. Returns 0 with the
 * new generation in force, or -errno with ERR set, nothing in force changed
 * and the file as it was.
 *
 * Saved first (temp file, fsync, rename, fsync of the dir), applied after:
 * an agent killed in between leaves the edit in the file, and the next agent
 * applies it; there is no moment at which an edit is in force and not saved
 * (a restart then silently reverted it). A failed apply puts the file back.
 */
static int edit_apply(struct agent *a, struct sl_edits *e, char *err, size_t errlen)
{
	struct sl_policy pol;
	struct sl_diags d = {};
	uint64_t was = a->generation;
	char *text = NULL, *old = NULL, *path = NULL, rerr[512];
	const char *fail;
	int ret;

	ret = policy_load_with_edits(a->policy_dir, e, &pol, &d);
	if (ret) {
		struct sl_diags dd = {};
		/* the edit's fault, or the hand-written files' own? */
		int dret = ret == -ENOMEM ? 0 : policy_load_dir(a->policy_dir, &pol, &dd);

		if (dret) {
			snprintf(err, errlen, "the policy dir does not load, so no edit can be "
				 "applied: ");
			diags_line(&dd, err, errlen);
			ret = dret == -EINVAL ? -EIO : dret;
		} else {
			policy_free(&pol);
			err[0] = '\0';
			diags_line(&d, err, errlen);
		}
		sl_diags_free(&dd);
		sl_diags_free(&d);
		return ret;
	}
	sl_diags_free(&d);
	/* the file holds every journal line (e->seq) from now on */
	text = sl_edits_format(e);
	path = strdup(e->path);
	ret = text && path ? edits_file_now(e->path, &old) : -ENOMEM;
	if (ret) {
		policy_free(&pol);
		free(text);
		free(path);
		snprintf(err, errlen, "cannot read %s again: %s", e->path, strerror(-ret));
		return ret;
	}
	ret = edits_file_write(e->path, text, err, errlen);
	free(text);
	if (ret) {
		policy_free(&pol);
		free(old);
		free(path);
		return ret;
	}
	/* what the block edits' fast path checks the files against from now on */
	sl_edits_stamp_files(e);
	/* tests: die where a crash would hurt most (netns-tests/test_policy_files.py) */
	fail = getenv("SLUICE_FAIL_EDIT");
	if (fail && !strcmp(fail, "kill-after-save"))
		raise(SIGKILL);
	ret = sync_apply(a, &pol, e, true);	/* takes POL and E */
	if (ret) {
		snprintf(err, errlen, "not applied (%s; the agent's log has the details): "
			 "generation %llu stays in force", strerror(-ret),
			 (unsigned long long)a->generation);
		if (edits_file_write(path, old, rerr, sizeof(rerr)))
			pr_err("%s holds an edit that is not in force (a restart or reload will "
			       "apply it), and cannot be put back: %s", path, rerr);
		free(old);
		free(path);
		return ret;
	}
	free(old);
	/* the policy in force holds the edits now; the journal's lines are in the file */
	a->edits_refused = false;
	if (sl_edits_journal_reset(&a->edits))
		pr_warn("cannot empty %s (its lines are in %s, and skipped)", a->edits.jpath, path);
	pr_info("edit saved in %s and applied: generation %llu -> %llu", path,
		(unsigned long long)was, (unsigned long long)a->generation);
	free(path);
	attach_sync(a);
	return 0;
}

static int edits_load(struct agent *a, struct sl_edits *e, char *err, size_t errlen)
{
	struct sl_diags d = {};
	int ret = sl_edits_read(a->policy_dir, e, &d);

	if (ret) {
		snprintf(err, errlen, "cannot use the CLI's edits file: ");
		diags_line(&d, err, errlen);
		if (!d.n)
			snprintf(err, errlen, "cannot read the CLI's edits file: %s",
				 strerror(-ret));
		sl_edits_free(e);
		ret = ret == -EINVAL ? -EIO : ret;
	}
	sl_diags_free(&d);
	return ret;
}

static struct json_object *answer(struct agent *a, uint64_t was)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "generation", json_object_new_uint64(a->generation));
	json_object_object_add(o, "previous", json_object_new_uint64(was));
	return o;
}

/* The rule NAME of the policy in force, any section; *SEC and *IDX say where. */
static const struct sl_rule *rule_in_force(const struct agent *a, const char *name,
					   size_t *sec, size_t *idx)
{
	for (size_t s = 0; s < a->pol.nfws; s++) {
		const struct sl_firewall *fw = &a->pol.fws[s];

		for (size_t i = 0; i < fw->nrules; i++) {
			if (!fw->rules[i].name || strcmp(fw->rules[i].name, name))
				continue;
			if (sec)
				*sec = s;
			if (idx)
				*idx = i;
			return &fw->rules[i];
		}
	}
	return NULL;
}

/* ---- rule-add / rule-del ---- */

/* Is KEY a key of a rule-add request: "cmd", "generation" or a rule field? */
static bool rule_req_key(const char *key)
{
	if (!strcmp(key, "cmd") || !strcmp(key, "generation"))
		return true;
	for (int f = 0; f < SL_EF_N; f++)
		if (!strcmp(key, sl_edit_field_names[f]))
			return true;
	return false;
}

static int rule_from_req(struct json_object *req, struct sl_edit_rule *r, char *err,
			 size_t errlen)
{
	memset(r, 0, sizeof(*r));
	/* a key it does not know (a typo: "scr") would leave the rule wider than meant */
	json_object_object_foreach(req, key, val) {
		(void)val;
		if (!rule_req_key(key)) {
			snprintf(err, errlen, "rule-add: unknown key \"%.64s\"", key);
			return -EINVAL;
		}
	}
	for (int f = 0; f < SL_EF_N; f++) {
		struct json_object *v;
		bool present;
		int ret = req_strings(req, sl_edit_field_names[f], &present, &v, err, errlen);

		if (ret)
			return ret;
		if (!present)
			continue;
		r->has[f] = true;
		r->floc[f] = (struct sl_loc){ arg_names[f], 0, 0 };
		for (size_t i = 0; i < str_count(v); i++)
			if (sl_edit_rule_add(r, f, str_at(v, i)))
				return -ENOMEM;
	}
	if (!r->has[SL_EF_NAME] || r->n[SL_EF_NAME] != 1 || !r->has[SL_EF_ACTION]) {
		snprintf(err, errlen, "rule-add needs \"name\" and \"action\"");
		return -EINVAL;
	}
	return 0;
}

int edit_cmd_rule_add(struct agent *a, struct json_object *req, struct json_object **data,
		      char *err, size_t errlen)
{
	struct sl_edits e = {};
	struct sl_edit_rule r;
	const struct sl_rule *old;
	const char *name, *before = NULL;
	uint64_t was = a->generation;
	size_t at, idx = 0, sec = 0;
	int ret;

	ret = edit_allowed(a, req, err, errlen);
	if (ret)
		return ret;
	ret = rule_from_req(req, &r, err, errlen);
	if (ret)
		goto out_rule;
	name = r.v[SL_EF_NAME][0];
	if (r.has[SL_EF_SECTION] && policy_find_fw(&a->pol, r.v[SL_EF_SECTION][0]) < 0) {
		char names[512];

		policy_fw_names(&a->pol, names, sizeof(names));
		snprintf(err, errlen, "--section: no firewall section \"%s\" (sections: %s)",
			 r.v[SL_EF_SECTION][0], names[0] ? names : "none");
		ret = -EINVAL;
		goto out_rule;
	}
	if (!r.has[SL_EF_SECTION] && !r.has[SL_EF_BEFORE] && a->pol.nfws != 1) {
		char names[512];

		policy_fw_names(&a->pol, names, sizeof(names));
		snprintf(err, errlen, a->pol.nfws ? "--section: the policy has several firewall "
			 "sections (%s); say which" : "the policy has no firewall section%s to add "
			 "a rule to", names);
		ret = -EINVAL;
		goto out_rule;
	}
	old = rule_in_force(a, name, NULL, NULL);
	if (old) {
		char line[16] = "";

		/* a CLI rule added since the edits file was last read has no line in it */
		if (old->loc.line > 0)
			snprintf(line, sizeof(line), ":%d", old->loc.line);
		snprintf(err, errlen, "rule \"%s\" exists already (%s%s%s%s); pick another name",
			 name, sl_rule_from_edits(old) ? "added by the CLI, " : "",
			 sl_rule_from_edits(old) ? "in " : "", old->loc.file ? old->loc.file : "?",
			 line);
		ret = -EEXIST;
		goto out_rule;
	}
	ret = edits_load(a, &e, err, errlen);
	if (ret)
		goto out_rule;
	if (sl_edits_find_rule(&e, name) >= 0) {
		snprintf(err, errlen, "rule \"%s\" exists already in %s (not in force: the "
			 "policy dir does not load?)", name, e.path);
		ret = -EEXIST;
		goto out;
	}
	at = e.nrules;
	if (r.has[SL_EF_BEFORE]) {
		const struct sl_rule *anchor;
		long k;

		before = r.v[SL_EF_BEFORE][0];
		anchor = rule_in_force(a, before, &sec, &idx);
		if (!anchor) {
			snprintf(err, errlen, "--before: no rule named \"%s\" in the policy in "
				 "force (generation %llu)", before,
				 (unsigned long long)a->generation);
			ret = -EINVAL;
			goto out;
		}
		if (r.has[SL_EF_SECTION] &&
		    strcmp(r.v[SL_EF_SECTION][0], a->pol.fws[sec].name)) {
			snprintf(err, errlen, "--before: rule \"%s\" is in section \"%s\", not "
				 "\"%s\"", before, a->pol.fws[sec].name, r.v[SL_EF_SECTION][0]);
			ret = -EINVAL;
			goto out;
		}
		if (sl_rule_from_edits(anchor) && idx == 0 &&
		    sl_fw_has_block(&a->pol.fws[sec])) {
			snprintf(err, errlen, "--before: nothing goes before the blocklist "
				 "(\"%s\")", SL_BLOCK_NAME);
			ret = -EINVAL;
			goto out;
		}
		k = sl_edits_find_rule(&e, before);
		if (k >= 0) {
			/* before a CLI rule: take its place, and its anchor */
			struct sl_edit_rule *kr = &e.rules[k];

			at = (size_t)k;
			for (size_t i = 0; i < r.n[SL_EF_BEFORE]; i++)
				free(r.v[SL_EF_BEFORE][i]);
			r.n[SL_EF_BEFORE] = 0;
			r.has[SL_EF_BEFORE] = false;
			if (kr->has[SL_EF_BEFORE] &&
			    sl_edit_rule_add(&r, SL_EF_BEFORE, kr->v[SL_EF_BEFORE][0])) {
				ret = -ENOMEM;
				goto out;
			}
			/* and its section, when it was named */
			if (!r.has[SL_EF_SECTION] && kr->has[SL_EF_SECTION] &&
			    sl_edit_rule_add(&r, SL_EF_SECTION, kr->v[SL_EF_SECTION][0])) {
				ret = -ENOMEM;
				goto out;
			}
		} else {
			/* right before a hand-written rule: after the CLI rules already there */
			for (size_t i = 0; i < e.nrules; i++)
				if (e.rules[i].has[SL_EF_BEFORE] &&
				    !strcmp(e.rules[i].v[SL_EF_BEFORE][0], before))
					at = i + 1;
		}
	}
	/* its fields still say "--src" etc.: errors below name the arguments */
	r.loc = (struct sl_loc){ e.path, 0, 0 };
	ret = sl_edits_add_rule(&e, &r, at);
	if (ret) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	ret = edit_apply(a, &e, err, errlen);
	if (!ret) {
		*data = answer(a, was);
		rule_in_force(a, name, &sec, &idx);
		json_object_object_add(*data, "rule", json_object_new_string(name));
		json_object_object_add(*data, "section", json_object_new_string(
					       a->pol.fws[sec].name));
		json_object_object_add(*data, "index", json_object_new_int64((int64_t)idx));
	}
out:
	sl_edits_free(&e);
out_rule:
	sl_edit_rule_free(&r);
	return ret;
}

int edit_cmd_rule_del(struct agent *a, struct json_object *req, struct json_object **data,
		      char *err, size_t errlen)
{
	struct sl_edits e = {};
	const struct sl_rule *r;
	struct json_object *v;
	uint64_t was = a->generation;
	const char *name;
	long k;
	int ret;

	ret = edit_allowed(a, req, err, errlen);
	if (ret)
		return ret;
	if (!json_object_object_get_ex(req, "name", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		snprintf(err, errlen, "rule-del needs \"name\"");
		return -EINVAL;
	}
	name = json_object_get_string(v);
	r = rule_in_force(a, name, NULL, NULL);
	if (r && !strncmp(name, SL_BLOCK_NAME, strlen(SL_BLOCK_NAME)) && sl_rule_from_edits(r)) {
		snprintf(err, errlen, "rule \"%s\" is the blocklist: `sluice block del` its "
			 "prefixes", name);
		return -EINVAL;
	}
	if (r && !sl_rule_from_edits(r)) {
		snprintf(err, errlen, "rule \"%s\" was not added by the CLI: it is written in "
			 "%s:%d:%d; edit that file to remove it", name,
			 r->loc.file ? r->loc.file : "?", r->loc.line, r->loc.col);
		return -EPERM;
	}
	ret = edits_load(a, &e, err, errlen);
	if (ret)
		return ret;
	k = sl_edits_find_rule(&e, name);
	if (k < 0) {
		snprintf(err, errlen, "no rule named \"%s\" was added by the CLI", name);
		ret = -ENOENT;
		goto out;
	}
	sl_edit_rule_del(&e, (size_t)k);
	ret = edit_apply(a, &e, err, errlen);
	if (!ret) {
		*data = answer(a, was);
		json_object_object_add(*data, "rule", json_object_new_string(name));
	}
out:
	sl_edits_free(&e);
	return ret;
}

/* ---- block-add / block-del / block-list ---- */

/*
 * The prefixes of REQ["prefixes"], parsed; an invalid one is named. DEL
 * takes an IPv4-mapped one too: an older agent's blocklist may hold it.
 */
static int req_prefixes(struct json_object *req, bool del, struct sl_prefix **out, size_t *n,
			char *err, size_t errlen)
{
	struct json_object *v;
	bool present;
	int ret = req_strings(req, "prefixes", &present, &v, err, errlen);

	*out = NULL;
	*n = 0;
	if (ret)
		return ret;
	if (!present || !str_count(v)) {
		snprintf(err, errlen, "\"prefixes\" is missing or empty");
		return -EINVAL;
	}
	*out = calloc(str_count(v), sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (size_t i = 0; i < str_count(v); i++) {
		const char *s = str_at(v, i);
		char perr[256];

		if (sl_prefix_parse_saved(s, strlen(s), &(*out)[i], perr, sizeof(perr), del)) {
			snprintf(err, errlen, "%s", perr);
			free(*out);
			*out = NULL;
			return -EINVAL;
		}
	}
	*n = str_count(v);
	return 0;
}

static struct json_object *prefix_str(const struct sl_prefix *p)
{
	char buf[64];

	sl_prefix_format(p, buf, sizeof(buf));
	return json_object_new_string(buf);
}

/*
 * Does a->edits still say what the files say, as a restart would read them?
 * Not after a hand edit, a removed edits file or an emptied journal: an edit
 * then starts from the files (edits_load) and applies the whole policy.
 */
static bool edits_current(const struct agent *a)
{
	return a->edits_live && a->edits_ok && !a->edits_error &&
	       sl_edits_files_same(&a->edits);
}

/*
 * Can a block edit leaving AFTER prefixes go straight to the journal and the
 * tries (block.c)? When the policy in force holds a->edits (its file loaded,
 * and did at the last reload too: an edit never builds on a file the agent
 * refused), the files are still what a->edits was read from or written as,
 * and every section's rule 0 is the blocklist, which stays: the list is not
 * empty before the edit nor after it (else rule 0 comes or goes: a new slot).
 */
static bool block_fast(const struct agent *a, size_t after)
{
	if (!a->have_policy || !a->edits.nblock || !after || !a->pol.nfws ||
	    !edits_current(a))
		return false;
	for (size_t s = 0; s < a->pol.nfws; s++)
		if (!sl_fw_has_block(&a->pol.fws[s]))
			return false;
	return true;
}

/*
 * A long journal goes into the file (the whole blocklist, the last line's
 * SEQ), then is emptied: reading stays about as fast as the list is long.
 * Failing here loses nothing (the journal still holds every line).
 */
static void journal_compact(struct agent *a)
{
	struct sl_edits *e = &a->edits;
	char err[512];
	char *text;

	if (e->jlines < SL_JOURNAL_COMPACT || e->jlines < e->nblock)
		return;
	text = sl_edits_format(e);
	if (!text || edits_file_write(e->path, text, err, sizeof(err))) {
		pr_warn("cannot compact %s into %s: %s", e->jpath, e->path,
			text ? err : "out of memory");
		free(text);
		return;
	}
	free(text);
	if (sl_edits_journal_reset(e))
		pr_warn("cannot empty %s (its lines are in %s, and skipped)", e->jpath, e->path);
	sl_edits_stamp_files(e);
}

/* tests: die where a crash would hurt most (netns-tests/test_policy_files.py) */
static void fail_point(void)
{
	const char *fail = getenv("SLUICE_FAIL_EDIT");

	if (fail && !strcmp(fail, "kill-after-save"))
		raise(SIGKILL);
}

/*
 * block add on the fast path: one journal line per new prefix (synced), then
 * one trie insert per prefix; the policy's blocklist set follows. A failed
 * insert takes out what went in and cuts the journal back.
 */
static int block_add_fast(struct agent *a, const struct sl_prefix *v, size_t n,
			  struct json_object *added, struct json_object *present, char *err,
			  size_t errlen)
{
	struct sl_edits *e = &a->edits;
	size_t nb0 = e->nblock, jlen0 = e->jlen, jl0 = e->jlines, len = 0, put = 0;
	uint64_t seq0 = e->seq;
	char *text = malloc(n * SL_JOURNAL_LINE), cerr[512];
	int ret = 0;

	if (!text) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n && !ret; i++) {
		long k = sl_edits_find_block(e, &v[i]);

		if (k >= 0) {
			/* a prefix given twice in one request counts once */
			if ((size_t)k < nb0)
				json_object_array_add(present, prefix_str(&v[i]));
			continue;
		}
		if (e->nblock >= SL_EDITS_MAX_BLOCK) {
			snprintf(err, errlen, "the blocklist is full (%u prefixes); use a set file "
				 "for long lists", SL_EDITS_MAX_BLOCK);
			ret = -ENOSPC;
		} else if (sl_edits_add_block(e, &v[i]) || block_set_add(a, &v[i])) {
			snprintf(err, errlen, "out of memory");
			ret = -ENOMEM;
		} else {
			len += sl_edits_journal_line(text + len, seq0 + e->nblock - nb0, true,
						     &v[i]);
			json_object_array_add(added, prefix_str(&v[i]));
		}
	}
	if (!ret && e->nblock > nb0)
		ret = sl_edits_journal_append(e, text, len, e->nblock - nb0,
					      seq0 + e->nblock - nb0, err, errlen);
	free(text);
	if (!ret && e->nblock > nb0)
		fail_point();
	for (size_t i = nb0; !ret && i < e->nblock; i++, put++)
		ret = block_put(a, &e->block[i]);
	if (ret && put) {
		snprintf(err, errlen, "cannot add to the blocklist maps: %s; nothing changed",
			 strerror(-ret));
		for (size_t i = nb0; i < nb0 + put; i++)
			block_drop(a, &e->block[i]);
		if (sl_edits_journal_cut(e, jlen0, jl0, seq0, cerr, sizeof(cerr)))
			pr_err("%s (the next start adds what this edit did not)", cerr);
	}
	if (ret) {
		while (e->nblock > nb0) {
			sl_edits_del_block(e, e->nblock - 1);
			block_set_del(a, e->nblock);
		}
		return ret;
	}
	if (e->nblock > nb0) {
		/* a new generation, in the same slots: one that blocks more */
		a->generation++;
		pr_info("blocklist: %zu added (%zu in all), journal %s: generation %llu",
			e->nblock - nb0, e->nblock, e->jpath, (unsigned long long)a->generation);
		journal_compact(a);
	}
	return 0;
}

/* block del on the fast path: the journal, then the tries (all are there). */
static int block_del_fast(struct agent *a, const struct sl_prefix *v, size_t n,
			  struct json_object *removed, char *err, size_t errlen)
{
	struct sl_edits *e = &a->edits;
	size_t len = 0, lines = 0, jlen0 = e->jlen, jl0 = e->jlines, gone = 0;
	uint64_t seq0 = e->seq;
	char *text = malloc(n * SL_JOURNAL_LINE), cerr[512];
	int ret = 0;

	if (!text) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		bool dup = false;

		for (size_t k = 0; k < i && !dup; k++)
			dup = !memcmp(&v[k], &v[i], sizeof(v[i]));
		if (dup)
			continue;
		lines++;
		len += sl_edits_journal_line(text + len, seq0 + lines, false, &v[i]);
	}
	ret = sl_edits_journal_append(e, text, len, lines, seq0 + lines, err, errlen);
	free(text);
	if (ret)
		return ret;
	fail_point();
	for (size_t i = 0; i < n && !ret; i++, gone++)
		ret = block_drop(a, &v[i]);
	if (ret) {
		snprintf(err, errlen, "cannot remove from the blocklist maps: %s; nothing changed",
			 strerror(-ret));
		for (size_t i = 0; i < gone; i++)
			block_put(a, &v[i]);
		if (sl_edits_journal_cut(e, jlen0, jl0, seq0, cerr, sizeof(cerr)))
			pr_err("%s (the next start removes what this edit did not)", cerr);
		return ret;
	}
	for (size_t i = 0; i < n; i++) {
		long k = sl_edits_find_block(e, &v[i]);

		if (k < 0)
			continue;	/* given twice */
		sl_edits_del_block(e, (size_t)k);
		block_set_del(a, (size_t)k);
		json_object_array_add(removed, prefix_str(&v[i]));
	}
	a->generation++;
	pr_info("blocklist: %zu removed (%zu left), journal %s: generation %llu", lines,
		e->nblock, e->jpath, (unsigned long long)a->generation);
	journal_compact(a);
	return 0;
}

/* block add and del: the checks, the prefixes of REQ. */
static int block_begin(struct agent *a, struct json_object *req, bool del, struct sl_prefix **v,
		       size_t *n, char *err, size_t errlen)
{
	int ret = edit_allowed(a, req, err, errlen);

	return ret ? ret : req_prefixes(req, del, v, n, err, errlen);
}

int edit_cmd_block_add(struct agent *a, struct json_object *req, struct json_object **data,
		       char *err, size_t errlen)
{
	struct json_object *added = NULL, *present = NULL;
	struct sl_edits e = {};
	struct sl_prefix *v = NULL;
	uint64_t was = a->generation;
	size_t n, nadded = 0;
	int ret;

	ret = block_begin(a, req, false, &v, &n, err, errlen);
	if (ret)
		goto out;
	added = json_object_new_array();
	present = json_object_new_array();
	if (block_fast(a, a->edits.nblock)) {
		ret = block_add_fast(a, v, n, added, present, err, errlen);
		goto answer;
	}
	ret = edits_load(a, &e, err, errlen);
	if (ret)
		goto out;
	for (size_t i = 0; i < n; i++) {
		long k = sl_edits_find_block(&e, &v[i]);

		if (k >= 0) {
			/* a prefix given twice in one request counts once */
			if ((size_t)k < e.nblock - nadded)
				json_object_array_add(present, prefix_str(&v[i]));
			continue;
		}
		if (e.nblock >= SL_EDITS_MAX_BLOCK) {
			snprintf(err, errlen, "the blocklist is full (%u prefixes); use a set file "
				 "for long lists", SL_EDITS_MAX_BLOCK);
			ret = -ENOSPC;
			goto out;
		}
		if (sl_edits_add_block(&e, &v[i])) {
			ret = -ENOMEM;
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		json_object_array_add(added, prefix_str(&v[i]));
		nadded++;
	}
	/* nothing new: nothing to apply, the generation stays */
	if (nadded)
		ret = edit_apply(a, &e, err, errlen);
answer:
	if (!ret) {
		*data = answer(a, was);
		json_object_object_add(*data, "added", json_object_get(added));
		json_object_object_add(*data, "present", json_object_get(present));
	}
out:
	json_object_put(added);
	json_object_put(present);
	sl_edits_free(&e);
	free(v);
	return ret;
}

int edit_cmd_block_del(struct agent *a, struct json_object *req, struct json_object **data,
		       char *err, size_t errlen)
{
	struct sl_edits e = {}, *cur = &a->edits;
	struct sl_prefix *v = NULL;
	struct json_object *removed;
	uint64_t was = a->generation;
	size_t n, off, ngone = 0;
	bool fast;
	int ret;

	ret = block_begin(a, req, true, &v, &n, err, errlen);
	if (ret)
		goto out;
	if (!edits_current(a)) {
		ret = edits_load(a, &e, err, errlen);
		if (ret)
			goto out;
		cur = &e;
	}
	/* all or nothing: name every prefix that is not there */
	off = (size_t)snprintf(err, errlen, "not in the blocklist:");
	for (size_t i = 0; i < n; i++) {
		char buf[64];
		bool dup = false;

		for (size_t k = 0; k < i && !dup; k++)
			dup = !memcmp(&v[k], &v[i], sizeof(v[i]));
		if (sl_edits_find_block(cur, &v[i]) >= 0) {
			ngone += !dup;
			continue;
		}
		sl_prefix_format(&v[i], buf, sizeof(buf));
		if (off < errlen)
			off += (size_t)snprintf(err + off, errlen - off, " %s", buf);
		ret = -ENOENT;
	}
	if (ret)
		goto out;
	err[0] = '\0';
	removed = json_object_new_array();
	fast = cur == &a->edits && block_fast(a, cur->nblock - ngone);
	if (fast) {
		ret = block_del_fast(a, v, n, removed, err, errlen);
	} else {
		if (cur == &a->edits) {
			ret = edits_load(a, &e, err, errlen);
			cur = &e;
		}
		for (size_t i = 0; !ret && i < n; i++) {
			long k = sl_edits_find_block(&e, &v[i]);

			if (k < 0)
				continue;	/* given twice */
			sl_edits_del_block(&e, (size_t)k);
			json_object_array_add(removed, prefix_str(&v[i]));
		}
		if (!ret)
			ret = edit_apply(a, &e, err, errlen);
	}
	if (!ret) {
		*data = answer(a, was);
		json_object_object_add(*data, "removed", json_object_get(removed));
	}
	json_object_put(removed);
out:
	sl_edits_free(&e);
	free(v);
	return ret;
}

int edit_cmd_block_list(struct agent *a, struct json_object *req, struct json_object **data,
			char *err, size_t errlen)
{
	struct json_object *pol;
	int ret = need_policy(a, err, errlen);

	(void)req;
	if (ret)
		return ret;
	pol = sl_json_policy(&a->pol, false);
	*data = json_object_new_object();
	json_object_object_add(*data, "generation", json_object_new_uint64(a->generation));
	json_object_object_add(*data, "prefixes",
			       json_object_get(json_object_object_get(pol, "blocklist")));
	json_object_put(pol);
	return 0;
}

/* ---- policy-show / generation ---- */

int edit_cmd_policy_show(struct agent *a, struct json_object *req, struct json_object **data,
			 char *err, size_t errlen)
{
	struct json_object *v;
	bool full = json_object_object_get_ex(req, "prefixes", &v) &&
		    json_object_get_boolean(v);
	int ret = need_policy(a, err, errlen);

	if (ret)
		return ret;
	*data = sl_json_policy(&a->pol, full);
	json_object_object_add(*data, "generation", json_object_new_uint64(a->generation));
	json_object_object_add(*data, "policy_dir", json_object_new_string(a->policy_dir));
	return 0;
}

int edit_cmd_generation(struct agent *a, struct json_object *req, struct json_object **data,
			char *err, size_t errlen)
{
	(void)req;
	(void)err;
	(void)errlen;
	*data = json_object_new_object();
	json_object_object_add(*data, "generation", json_object_new_uint64(a->generation));
	return 0;
}

/* ---- lb-drain / lb-undrain ---- */

/*
 * The drain REQ names ({"service": "VIP:PORT", "backend": "ADDR[:PORT]"}),
 * in its normal text form (TEXT), with the backends of the policy in force
 * it names in MATCHED ("name ADDR:PORT"), those of them a policy file drains
 * (`drain: true`, whatever the CLI's drains) in BY_FILE. A drain naming no
 * backend is an error: nothing would change.
 */
static int drain_req(struct agent *a, struct json_object *req, struct lb_drain *d, char *text,
		     size_t tlen, struct json_object *matched, struct json_object *by_file,
		     char *err, size_t errlen)
{
	struct json_object *sv, *bv;
	char buf[200], ep[80];

	if (!json_object_object_get_ex(req, "service", &sv) ||
	    !json_object_object_get_ex(req, "backend", &bv) ||
	    !json_object_is_type(sv, json_type_string) || !json_object_is_type(bv, json_type_string)) {
		snprintf(err, errlen, "\"service\" (VIP:PORT) and \"backend\" (ADDRESS[:PORT]) "
			 "must be strings");
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%.80s %.80s", json_object_get_string(sv),
		 json_object_get_string(bv));
	if (lb_drain_parse(buf, d, err, errlen))
		return -EINVAL;
	lb_drain_format(d, text, tlen);
	for (size_t i = 0; i < a->pol.nlbs; i++) {
		const struct sl_lb_service *s = &a->pol.lbs[i];

		for (size_t b = 0; b < s->nbackends; b++) {
			if (!lb_drain_match(d, s, &s->backends[b]))
				continue;
			lb_endpoint_format(s->family, s->backends[b].addr, s->backends[b].port, ep,
					   sizeof(ep));
			snprintf(buf, sizeof(buf), "%s %s", s->name, ep);
			json_object_array_add(matched, json_object_new_string(buf));
			if (s->backends[b].drain_file)
				json_object_array_add(by_file, json_object_new_string(buf));
		}
	}
	if (!json_object_array_length(matched)) {
		snprintf(err, errlen, "no backend %s in a load balancer on %s",
			 json_object_get_string(bv), json_object_get_string(sv));
		return -ENOENT;
	}
	return 0;
}

/*
 * The first CLI drain from FROM on that names a backend D names too (the
 * same VIP:PORT and address; ports equal, or one of them any; protocols
 * likewise), or -1.
 */
static long drain_find(const struct sl_edits *e, const struct lb_drain *d, size_t from)
{
	for (size_t i = from; i < e->ndrains; i++) {
		struct lb_drain x;
		char err[256];

		if (lb_drain_parse(e->drains[i], &x, err, sizeof(err)) ||
		    x.vfamily != d->vfamily || memcmp(x.vip, d->vip, 16) || x.vport != d->vport ||
		    x.bfamily != d->bfamily || memcmp(x.baddr, d->baddr, 16))
			continue;
		if ((!x.bport || !d->bport || x.bport == d->bport) &&
		    (!x.proto || !d->proto || x.proto == d->proto))
			return (long)i;
	}
	return -1;
}

/* Does a CLI drain of E drain backend B of service S? */
static bool drain_covers(const struct sl_edits *e, const struct sl_lb_service *s,
			 const struct sl_lb_backend *b)
{
	for (size_t i = 0; i < e->ndrains; i++) {
		struct lb_drain x;
		char err[256];

		if (!lb_drain_parse(e->drains[i], &x, err, sizeof(err)) && lb_drain_match(&x, s, b))
			return true;
	}
	return false;
}

/*
 * Drain D in E: unchanged (*CHANGED false) when a CLI drain drains every
 * backend of POL that D names already. Overlapping is not enough: with
 * VIP:PORT/udp B drained, VIP:PORT B names the tcp service's B too, which
 * still takes new flows.
 */
static int drain_add(struct sl_edits *e, const struct sl_policy *pol, const struct lb_drain *d,
		     const char *text, bool *changed)
{
	*changed = false;
	for (size_t i = 0; i < pol->nlbs; i++)
		for (size_t b = 0; b < pol->lbs[i].nbackends; b++)
			if (lb_drain_match(d, &pol->lbs[i], &pol->lbs[i].backends[b]) &&
			    !drain_covers(e, &pol->lbs[i], &pol->lbs[i].backends[b]))
				*changed = true;
	return *changed ? sl_edits_add_drain(e, text) : 0;
}

/*
 * Undrain D in E: every CLI drain naming a backend D names goes (-ENOENT
 * when none does). A drain that goes may name more: VIP:PORT B drains B in
 * the tcp and the udp service, VIP:PORT/udp B undrains the udp one alone,
 * and the tcp one's B stays drained, by a drain of its own
 * ("VIP:PORT/tcp B:BPORT") for each backend of POL it drained that D does
 * not name.
 */
static int drain_del(struct sl_edits *e, const struct sl_policy *pol, const struct lb_drain *d)
{
	struct lb_drain *gone = calloc(e->ndrains + 1, sizeof(*gone));
	size_t ngone = 0;
	char err[256];
	int ret = 0;

	if (!gone)
		return -ENOMEM;
	for (long k = drain_find(e, d, 0); k >= 0; k = drain_find(e, d, (size_t)k)) {
		lb_drain_parse(e->drains[k], &gone[ngone++], err, sizeof(err));
		free(e->drains[k]);
		memmove(&e->drains[k], &e->drains[k + 1], (e->ndrains - k - 1) * sizeof(*e->drains));
		memmove(&e->drain_loc[k], &e->drain_loc[k + 1],
			(e->ndrains - k - 1) * sizeof(*e->drain_loc));
		e->ndrains--;
	}
	if (!ngone)
		ret = -ENOENT;
	for (size_t g = 0; g < ngone; g++)
		for (size_t i = 0; i < pol->nlbs; i++) {
			const struct sl_lb_service *s = &pol->lbs[i];

			for (size_t b = 0; b < s->nbackends; b++) {
				struct lb_drain one = {
					.vfamily = s->family, .vport = s->port, .proto = s->proto,
					.bfamily = s->family, .bport = s->backends[b].port,
				};
				char text[200];

				if (!lb_drain_match(&gone[g], s, &s->backends[b]) ||
				    lb_drain_match(d, s, &s->backends[b]) ||
				    drain_covers(e, s, &s->backends[b]))
					continue;
				memcpy(one.vip, s->vip, 16);
				memcpy(one.baddr, s->backends[b].addr, 16);
				lb_drain_format(&one, text, sizeof(text));
				ret = sl_edits_add_drain(e, text);
				if (ret)
					goto out;
			}
		}
out:
	free(gone);
	return ret;
}

static int drain_edit(struct agent *a, struct json_object *req, struct json_object **data,
		      char *err, size_t errlen, bool drain)
{
	struct json_object *matched = json_object_new_array(), *by_file = json_object_new_array();
	uint64_t was = a->generation;
	struct sl_edits e = {};
	struct lb_drain d;
	char text[200];
	bool changed = true, gone = false;
	int ret;

	ret = edit_allowed(a, req, err, errlen);
	if (!ret)
		ret = drain_req(a, req, &d, text, sizeof(text), matched, by_file, err, errlen);
	/*
	 * No such backend in force: an undrain still takes a CLI drain of it
	 * away. The backend left the policy after it was drained, and came
	 * back drained with it, where no command could undrain it.
	 */
	if (ret == -ENOENT && !drain) {
		gone = true;
		ret = 0;
	}
	if (!ret)
		ret = edits_load(a, &e, err, errlen);
	if (ret)
		goto out;
	ret = drain ? drain_add(&e, &a->pol, &d, text, &changed) : drain_del(&e, &a->pol, &d);
	if (ret == -ENOENT && gone)
		;	/* nor a drain of it: drain_req's "no backend" stands */
	else if (ret == -ENOENT)
		snprintf(err, errlen, json_object_array_length(by_file) ? "%s is drained by a "
			 "policy file (drain: true): change it there" : "%s is not drained", text);
	else if (ret)
		snprintf(err, errlen, "out of memory");
	if (!ret && changed)
		ret = edit_apply(a, &e, err, errlen);
	if (!ret) {
		*data = answer(a, was);
		json_object_object_add(*data, "drain", json_object_new_string(text));
		json_object_object_add(*data, "backends", json_object_get(matched));
		json_object_object_add(*data, "changed", json_object_new_boolean(changed));
		/*
		 * Undrained by the CLI, drained by a file all the same: not
		 * "taking new flows again". (A "note" meant to say so never
		 * came: the file's drain was told from the CLI's by drain_cli,
		 * which a CLI drain sets.)
		 */
		if (!drain)
			json_object_object_add(*data, "still_draining", json_object_get(by_file));
	}
out:
	json_object_put(by_file);
	json_object_put(matched);
	sl_edits_free(&e);
	return ret;
}

int edit_cmd_lb_drain(struct agent *a, struct json_object *req, struct json_object **data,
		      char *err, size_t errlen)
{
	return drain_edit(a, req, data, err, errlen, true);
}

int edit_cmd_lb_undrain(struct agent *a, struct json_object *req, struct json_object **data,
			char *err, size_t errlen)
{
	return drain_edit(a, req, data, err, errlen, false);
}
