// SPDX-License-Identifier: GPL-2.0-only
/*
 * The CLI's edits file (policy_edit.h): read, write atomically, and merge
 * into the policy of the hand-written files.
 *
 * Rules are checked by the policy parser itself: sl_edit_rules_build writes
 * them as a generated policy, one line per field, parses it from a memfd
 * (sl_policy_load_edit_rules) and maps each error back to the field it came
 * from (a line and column of the edits file, or a CLI argument). So a rule
 * added from the CLI is valid exactly when the same rule in a file would
 * be; the one exception is an IPv4-mapped address an older agent let into
 * the edits file, which still loads (new_refused).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "lb_policy.h"
#include "policy_edit.h"
#include "policy_int.h"
#include "prefix.h"
#include "yaml_doc.h"

const char *const sl_edit_field_names[SL_EF_N] = {
	"name", "action", "src", "dst", "proto", "sport", "dport", "early", "before", "section",
};

/* Fields holding one value, not a list. */
static bool field_single(enum sl_edit_field f)
{
	return f == SL_EF_NAME || f == SL_EF_ACTION || f == SL_EF_EARLY || f == SL_EF_BEFORE ||
	       f == SL_EF_SECTION;
}

char *sl_edits_path(const char *dir)
{
	char *p;

	if (asprintf(&p, "%s%s%s", dir, dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/",
		     SL_EDITS_FILE) < 0)
		return NULL;
	return p;
}

/* ---- the rule and edits containers ---- */

int sl_edit_rule_add(struct sl_edit_rule *r, enum sl_edit_field f, const char *value)
{
	char *s = strdup(value);

	if (!s || sl_vec_reserve((void **)&r->v[f], r->n[f], sizeof(char *))) {
		free(s);
		return -ENOMEM;
	}
	r->v[f][r->n[f]++] = s;
	r->has[f] = true;
	return 0;
}

void sl_edit_rule_free(struct sl_edit_rule *r)
{
	for (int f = 0; f < SL_EF_N; f++) {
		for (size_t i = 0; i < r->n[f]; i++)
			free(r->v[f][i]);
		free(r->v[f]);
	}
	memset(r, 0, sizeof(*r));
}

static int rule_copy(struct sl_edit_rule *dst, const struct sl_edit_rule *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->loc = src->loc;
	for (int f = 0; f < SL_EF_N; f++) {
		dst->has[f] = src->has[f];
		dst->floc[f] = src->floc[f];
		for (size_t i = 0; i < src->n[f]; i++) {
			if (sl_edit_rule_add(dst, f, src->v[f][i])) {
				sl_edit_rule_free(dst);
				return -ENOMEM;
			}
		}
	}
	return 0;
}

int sl_edits_add_rule(struct sl_edits *e, const struct sl_edit_rule *r, size_t at)
{
	struct sl_edit_rule nr;

	if (at > e->nrules)
		at = e->nrules;
	if (rule_copy(&nr, r))
		return -ENOMEM;
	if (sl_vec_reserve((void **)&e->rules, e->nrules, sizeof(*e->rules))) {
		sl_edit_rule_free(&nr);
		return -ENOMEM;
	}
	memmove(&e->rules[at + 1], &e->rules[at], (e->nrules - at) * sizeof(*e->rules));
	e->rules[at] = nr;
	e->nrules++;
	return 0;
}

void sl_edit_rule_del(struct sl_edits *e, size_t i)
{
	sl_edit_rule_free(&e->rules[i]);
	memmove(&e->rules[i], &e->rules[i + 1], (e->nrules - i - 1) * sizeof(*e->rules));
	e->nrules--;
}

long sl_edits_find_rule(const struct sl_edits *e, const char *name)
{
	for (size_t i = 0; i < e->nrules; i++)
		if (e->rules[i].n[SL_EF_NAME] && !strcmp(e->rules[i].v[SL_EF_NAME][0], name))
			return (long)i;
	return -1;
}

/*
 * The blocklist's index: open addressing with linear probing, each slot the
 * position + 1 of a prefix in e->block (0: empty), at most half full. Built
 * at the first lookup, kept up to date from then on: a lookup in a 1M-prefix
 * list is one hash, not a scan.
 */
static size_t pfx_hash(const struct sl_prefix *p)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ ((uint64_t)p->family << 8 | p->len);

	for (int i = 0; i < 16; i += 8) {
		uint64_t w;

		memcpy(&w, p->addr + i, sizeof(w));
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 33;
	}
	return (size_t)h;
}

static bool pfx_eq(const struct sl_prefix *x, const struct sl_prefix *y)
{
	return x->family == y->family && x->len == y->len &&
	       !memcmp(x->addr, y->addr, sizeof(x->addr));
}

/* The slot of P: where it is, or the empty slot where it would go. */
static size_t bidx_slot(const struct sl_edits *e, const struct sl_prefix *p)
{
	size_t i = pfx_hash(p) & e->bmask;

	while (e->bidx[i] && !pfx_eq(&e->block[e->bidx[i] - 1], p))
		i = (i + 1) & e->bmask;
	return i;
}

/* (Re)build the index for at least N prefixes. */
static int bidx_build(struct sl_edits *e, size_t n)
{
	size_t cap = 1024;
	uint32_t *v;

	while (cap < 2 * n)
		cap *= 2;
	v = calloc(cap, sizeof(*v));
	if (!v)
		return -ENOMEM;
	free(e->bidx);
	e->bidx = v;
	e->bmask = cap - 1;
	for (size_t k = 0; k < e->nblock; k++)
		e->bidx[bidx_slot(e, &e->block[k])] = (uint32_t)k + 1;
	return 0;
}

int sl_edits_index(struct sl_edits *e)
{
	return e->bmask ? 0 : bidx_build(e, e->nblock);
}

long sl_edits_find_block(struct sl_edits *e, const struct sl_prefix *p)
{
	size_t i;

	if (!e->bmask && bidx_build(e, e->nblock)) {
		/* no memory for the index: a scan */
		for (size_t k = 0; k < e->nblock; k++)
			if (pfx_eq(&e->block[k], p))
				return (long)k;
		return -1;
	}
	i = bidx_slot(e, p);
	return e->bidx[i] ? (long)e->bidx[i] - 1 : -1;
}

int sl_edits_add_block(struct sl_edits *e, const struct sl_prefix *p)
{
	if (sl_vec_reserve((void **)&e->block, e->nblock, sizeof(*e->block)) ||
	    sl_vec_reserve((void **)&e->block_loc, e->nblock, sizeof(*e->block_loc)))
		return -ENOMEM;
	if (e->bmask && 2 * (e->nblock + 1) > e->bmask + 1 && bidx_build(e, e->nblock + 1)) {
		free(e->bidx);
		e->bidx = NULL;
		e->bmask = 0;	/* rebuilt at the next lookup */
	}
	e->block[e->nblock] = *p;
	e->block_loc[e->nblock++] = (struct sl_loc){ e->path, 0, 0 };
	if (e->bmask)
		e->bidx[bidx_slot(e, p)] = (uint32_t)e->nblock;
	return 0;
}

/* Empty slot I of the index: move back the entries after it that may live there. */
static void bidx_clear(struct sl_edits *e, size_t i)
{
	for (size_t j = (i + 1) & e->bmask; e->bidx[j]; j = (j + 1) & e->bmask) {
		size_t k = pfx_hash(&e->block[e->bidx[j] - 1]) & e->bmask;

		/* its home K is cyclically in (I, J]: it stays */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		e->bidx[i] = e->bidx[j];
		i = j;
	}
	e->bidx[i] = 0;
}

void sl_edits_del_block(struct sl_edits *e, size_t i)
{
	size_t last = e->nblock - 1;

	if (e->bmask) {
		bidx_clear(e, bidx_slot(e, &e->block[i]));
		if (i != last)
			e->bidx[bidx_slot(e, &e->block[last])] = (uint32_t)i + 1;
	}
	e->block[i] = e->block[last];
	e->block_loc[i] = e->block_loc[last];
	e->nblock--;
}

int sl_edits_add_drain(struct sl_edits *e, const char *drain)
{
	char *s = strdup(drain);

	if (!s || sl_vec_reserve((void **)&e->drains, e->ndrains, sizeof(*e->drains)) ||
	    sl_vec_reserve((void **)&e->drain_loc, e->ndrains, sizeof(*e->drain_loc))) {
		free(s);
		return -ENOMEM;
	}
	e->drains[e->ndrains] = s;
	e->drain_loc[e->ndrains++] = (struct sl_loc){ e->path, 0, 0 };
	return 0;
}

void sl_edits_free(struct sl_edits *e)
{
	for (size_t i = 0; i < e->nrules; i++)
		sl_edit_rule_free(&e->rules[i]);
	free(e->rules);
	free(e->block);
	free(e->block_loc);
	free(e->bidx);
	for (size_t i = 0; i < e->ndrains; i++)
		free(e->drains[i]);
	free(e->drains);
	free(e->drain_loc);
	free(e->path);
	free(e->jpath);
	memset(e, 0, sizeof(*e));
}

/* ---- reading the file ---- */

struct ectx {
	struct sl_edits *e;
	struct sl_diags *diags;
	yaml_document_t *doc;
	int errs;
	bool oom;
};

static struct sl_loc mark_loc(const struct ectx *c, const yaml_node_t *n)
{
	return (struct sl_loc){ c->e->path, (int)n->start_mark.line + 1,
				(int)n->start_mark.column + 1 };
}

__attribute__((format(printf, 3, 4)))
static void eerr(struct ectx *c, const yaml_node_t *n, const char *fmt, ...)
{
	struct sl_loc loc = { c->e->path, 0, 0 };
	char *msg;
	va_list ap;

	if (n)
		loc = mark_loc(c, n);
	c->errs++;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	sl_diag_add(c->diags, &loc, "%s", msg ? msg : "out of memory");
	free(msg);
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static void read_rule_field(struct ectx *c, struct sl_edit_rule *r, enum sl_edit_field f,
			    yaml_node_t *k, yaml_node_t *v)
{
	const char *key = sl_edit_field_names[f];
	yaml_node_item_t *it;

	if (r->has[f]) {
		eerr(c, k, "duplicate key \"%s\" in a rule", key);
		return;
	}
	r->has[f] = true;
	r->floc[f] = mark_loc(c, v);
	if (v->type == YAML_SCALAR_NODE) {
		if (sl_edit_rule_add(r, f, scalar(v)))
			c->oom = true;
		return;
	}
	if (v->type != YAML_SEQUENCE_NODE || field_single(f)) {
		eerr(c, v, "%s must be %s", key, field_single(f) ? "a single value" :
		     "a value or a list of values");
		return;
	}
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
		yaml_node_t *n = yaml_document_get_node(c->doc, *it);

		if (!scalar(n)) {
			eerr(c, n ? n : v, "%s: list items must be single values", key);
			continue;
		}
		if (sl_edit_rule_add(r, f, scalar(n)))
			c->oom = true;
	}
	/* an empty list stays empty: the parser says what is wrong with it */
}

static void read_rule(struct ectx *c, yaml_node_t *m)
{
	struct sl_edits *e = c->e;
	struct sl_edit_rule *r;
	yaml_node_pair_t *p;

	if (m->type != YAML_MAPPING_NODE) {
		eerr(c, m, "a rule must be a mapping (name, action, src, ...)");
		return;
	}
	if (sl_vec_reserve((void **)&e->rules, e->nrules, sizeof(*e->rules))) {
		c->oom = true;
		return;
	}
	r = &e->rules[e->nrules++];
	memset(r, 0, sizeof(*r));
	r->loc = mark_loc(c, m);
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
		int f;

		for (f = 0; f < SL_EF_N; f++)
			if (scalar(k) && !strcmp(scalar(k), sl_edit_field_names[f]))
				break;
		if (f == SL_EF_N) {
			eerr(c, k, "unknown key \"%.64s\" in a rule; allowed keys: name, action, "
			     "src, dst, proto, sport, dport, early, before, section",
			     scalar(k) ? scalar(k) : "");
			continue;
		}
		read_rule_field(c, r, f, k, v);
	}
	if (!r->has[SL_EF_NAME])
		eerr(c, m, "rule has no name");
}

/* Prefix S (N bytes) at LOC into the blocklist. */
static void block_one(struct ectx *c, const char *s, size_t n, struct sl_loc loc)
{
	struct sl_edits *e = c->e;
	struct sl_prefix pfx;
	char err[256];

	/* a mapped one an older agent saved: kept, for `block del` */
	if (sl_prefix_parse_saved(s, n, &pfx, err, sizeof(err), true)) {
		c->errs++;
		sl_diag_add(c->diags, &loc, "%s", err);
		return;
	}
	if (sl_vec_reserve((void **)&e->block, e->nblock, sizeof(*e->block)) ||
	    sl_vec_reserve((void **)&e->block_loc, e->nblock, sizeof(*e->block_loc))) {
		c->oom = true;
		return;
	}
	e->block[e->nblock] = pfx;
	e->block_loc[e->nblock++] = loc;
}

/*
 * block: a list of prefixes, or (what the agent writes) a literal block of
 * one prefix per line: one YAML node, not one per prefix, for 1M of them.
 * Its lines are on the lines after the "|", written from column 3.
 */
static void read_block(struct ectx *c, yaml_node_t *v)
{
	yaml_node_item_t *it;

	if (v->type == YAML_SCALAR_NODE) {
		const char *s = scalar(v), *end = s + v->data.scalar.length;
		int line = (int)v->start_mark.line + 2;

		for (; s < end && !c->oom && c->errs < SL_FILE_ERRS_MAX; line++) {
			const char *nl = memchr(s, '\n', (size_t)(end - s));
			size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);

			if (n)
				block_one(c, s, n, (struct sl_loc){ c->e->path, line, 3 });
			s += n + 1;
		}
		return;
	}
	if (v->type != YAML_SEQUENCE_NODE) {
		eerr(c, v, "block must be a list of prefixes");
		return;
	}
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
		yaml_node_t *n = yaml_document_get_node(c->doc, *it);

		if (!scalar(n)) {
			eerr(c, n ? n : v, "block: list items must be prefixes");
			continue;
		}
		block_one(c, scalar(n), n->data.scalar.length, mark_loc(c, n));
		if (c->oom)
			return;
	}
}

/* journal: the last journal line the file holds. */
static void read_journal_seq(struct ectx *c, yaml_node_t *v)
{
	const char *s = scalar(v);
	char *end;

	errno = 0;
	if (s && *s >= '0' && *s <= '9') {
		c->e->seq = strtoull(s, &end, 10);
		if (!errno && !*end) {
			c->e->file_seq = c->e->seq;
			return;
		}
	}
	c->e->seq = 0;
	eerr(c, v, "journal: must be a number (the last journal line this file holds)");
}

static void read_drain(struct ectx *c, yaml_node_t *v)
{
	struct sl_edits *e = c->e;
	yaml_node_item_t *it;

	if (v->type != YAML_SEQUENCE_NODE) {
		eerr(c, v, "drain must be a list of \"VIP:PORT BACKEND\"");
		return;
	}
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
		yaml_node_t *n = yaml_document_get_node(c->doc, *it);
		struct lb_drain d;
		char err[256];

		if (!scalar(n) || lb_drain_parse(scalar(n), &d, err, sizeof(err))) {
			eerr(c, n ? n : v, "drain: %s", scalar(n) ? err : "expected \"VIP:PORT BACKEND\"");
			continue;
		}
		if (sl_edits_add_drain(e, scalar(n))) {
			c->oom = true;
			return;
		}
		e->drain_loc[e->ndrains - 1] = mark_loc(c, n);
	}
}

/* What the agent writes has no anchors: an alias in the file is a hand edit, refused. */
static const struct sl_yaml_limits edits_limits = {
	.depth = SL_YAML_DEPTH_MAX,
	.nodes = SL_YAML_NODES_MAX,
	.time_ms = SL_YAML_TIME_MS,
	.no_aliases = true,
};

/* DIR/SL_EDITS_JOURNAL beside PATH (the edits file). */
static char *journal_path(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *p;

	if (asprintf(&p, "%.*s%s", slash ? (int)(slash - path + 1) : 0, path,
		     SL_EDITS_JOURNAL) < 0)
		return NULL;
	return p;
}

int sl_edits_parse(const char *path, const char *buf, size_t len, struct sl_edits *e,
		   struct sl_diags *diags)
{
	struct ectx c = { .e = e, .diags = diags };
	yaml_node_t *root;
	yaml_document_t doc;
	int err;

	memset(e, 0, sizeof(*e));
	e->path = strdup(path);
	e->jpath = journal_path(path);
	if (!e->path || !e->jpath)
		return -ENOMEM;
	err = sl_yaml_load(path, buf, len, &edits_limits, &doc, diags);
	if (err)
		return err;
	c.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (root && !(root->type == YAML_SCALAR_NODE && !root->data.scalar.length)) {
		if (root->type != YAML_MAPPING_NODE) {
			eerr(&c, root, "the edits file is a mapping with rules and block");
		} else {
			for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
			     pr < root->data.mapping.pairs.top; pr++) {
				yaml_node_t *k = yaml_document_get_node(&doc, pr->key);
				yaml_node_t *v = yaml_document_get_node(&doc, pr->value);
				const char *ks = scalar(k) ? scalar(k) : "";

				if (!strcmp(ks, "rules") && v->type == YAML_SEQUENCE_NODE) {
					for (yaml_node_item_t *it = v->data.sequence.items.start;
					     it < v->data.sequence.items.top; it++)
						read_rule(&c, yaml_document_get_node(&doc, *it));
				} else if (!strcmp(ks, "rules")) {
					eerr(&c, v, "rules must be a list of rules");
				} else if (!strcmp(ks, "block")) {
					read_block(&c, v);
				} else if (!strcmp(ks, "journal")) {
					read_journal_seq(&c, v);
				} else if (!strcmp(ks, "drain")) {
					read_drain(&c, v);
				} else {
					eerr(&c, k, "unknown key \"%.64s\"; allowed keys: "
					     "rules, block, drain, journal", ks);
				}
			}
		}
	}
	yaml_document_delete(&doc);
	if (c.oom)
		return -ENOMEM;
	return c.errs ? -EINVAL : 0;
}

/*
 * Read the regular file PATH (never a symlink, FIFO or device: none is waited
 * on) of at most SL_EDITS_FILE_MAX bytes into *BUF (NUL-terminated), WHAT
 * naming it in errors; *STP is the file read. -ENOENT when it does not exist
 * (nothing reported).
 */
static int read_own(const char *path, const char *what, char **bufp, size_t *lenp,
		    struct stat *stp, struct sl_diags *diags)
{
	struct sl_loc loc = { path, 0, 0 };
	char *buf = NULL;
	size_t len = 0;
	struct stat st;
	int fd, err = 0;

	*bufp = NULL;
	*lenp = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 && errno == ENOENT)
		return -ENOENT;
	if (fd < 0 && errno == ELOOP) {
		sl_diag_add(diags, &loc, "%s is a symlink; the agent writes a regular file there",
			    what);
		return -EINVAL;
	}
	if (fd < 0 || fstat(fd, &st)) {
		err = -errno;
		sl_diag_add(diags, &loc, "cannot read %s: %s", what, strerror(-err));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		sl_diag_add(diags, &loc, "%s is not a regular file", what);
		goto out;
	}
	if ((unsigned long long)st.st_size > SL_EDITS_FILE_MAX) {
		err = -EINVAL;
		sl_diag_add(diags, &loc, "%s is larger than %u MiB", what, SL_EDITS_FILE_MAX >> 20);
		goto out;
	}
	/* one byte more than fstat said: a file that grew meanwhile is caught */
	buf = malloc((size_t)st.st_size + 2);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, (size_t)st.st_size + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			sl_diag_add(diags, &loc, "cannot read %s: %s", what, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > (size_t)st.st_size) {
			err = -EAGAIN;
			sl_diag_add(diags, &loc, "%s changed while being read", what);
			goto out;
		}
	}
	buf[len] = '\0';
	*stp = st;
out:
	close(fd);
	if (err)
		free(buf);
	else
		*bufp = buf, *lenp = len;
	return err;
}

/* One journal line (without its newline) of LEN bytes at line LINE: applied to E. */
static int journal_one(struct sl_edits *e, const char *s, size_t len, int line, bool apply,
		       struct sl_diags *diags)
{
	struct sl_loc loc = { e->jpath, line, 1 };
	const char *p = s, *end = s + len, *w[4];
	size_t wl[4], nw = 0;
	struct sl_prefix pfx;
	unsigned long long seq;
	char perr[256], *q;
	long k;

	while (p < end && nw < 4) {
		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		w[nw] = p;
		while (p < end && *p != ' ')
			p++;
		wl[nw] = (size_t)(p - w[nw]);
		nw++;
	}
	while (p < end && *p == ' ')
		p++;
	errno = 0;
	seq = nw ? strtoull(w[0], &q, 10) : 0;
	if (!nw || errno || q != w[0] + wl[0] || w[0][0] < '0' || w[0][0] > '9') {
		sl_diag_add(diags, &loc, "a journal line starts with its sequence number");
		return -EINVAL;
	}
	if (seq <= e->seq && e->seq > e->file_seq) {
		sl_diag_add(diags, &loc, "sequence number %llu after %llu: the journal is out of "
			    "order", seq, (unsigned long long)e->seq);
		return -EINVAL;
	}
	if (seq <= e->file_seq)
		return 0;	/* the file holds it already */
	if (nw != 4 || p != end || wl[1] != 5 || memcmp(w[1], "block", 5) || wl[2] != 3 ||
	    (memcmp(w[2], "add", 3) && memcmp(w[2], "del", 3))) {
		loc.col = nw > 1 ? (int)(w[1] - s) + 1 : 1;
		sl_diag_add(diags, &loc, "unknown journal line \"%.*s\" (a newer agent's?); "
			    "this agent knows \"SEQ block add|del PREFIX\"",
			    (int)(len > 80 ? 80 : len), s);
		return -EINVAL;
	}
	/* mapped: an older agent's, as in block_one */
	if (sl_prefix_parse_saved(w[3], wl[3], &pfx, perr, sizeof(perr), true)) {
		loc.col = (int)(w[3] - s) + 1;
		sl_diag_add(diags, &loc, "%s", perr);
		return -EINVAL;
	}
	e->seq = seq;
	e->jlines++;
	if (!apply)
		return 0;
	k = sl_edits_find_block(e, &pfx);
	if (w[2][0] == 'a' && k < 0) {
		if (sl_edits_add_block(e, &pfx))
			return -ENOMEM;
		e->block_loc[e->nblock - 1] = loc;
	} else if (w[2][0] == 'd' && k >= 0) {
		sl_edits_del_block(e, (size_t)k);
	}
	return 0;
}

/*
 * E's journal, replayed onto E; without APPLY (there is no edits file) only
 * checked and counted past: its lines were changes to a file that is gone.
 */
static int journal_read(struct sl_edits *e, bool apply, struct sl_diags *diags)
{
	struct stat st;
	char *buf;
	size_t len, off = 0;
	int line = 1, err;

	err = read_own(e->jpath, "the CLI's edits journal", &buf, &len, &st, diags);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	/* a last line without its newline was never acknowledged: not there */
	while (off < len) {
		char *nl = memchr(buf + off, '\n', len - off);
		size_t n;

		if (!nl)
			break;
		n = (size_t)(nl - (buf + off));
		if (n && buf[off] != '#') {
			err = journal_one(e, buf + off, n, line, apply, diags);
			if (err)
				break;
		}
		off += n + 1;
		line++;
	}
	e->jlen = off;
	e->stamp.jdev = st.st_dev;
	e->stamp.jino = st.st_ino;
	if (!apply) {
		/* the next file written holds them: "journal: SEQ" */
		e->file_seq = e->seq;
		e->jlines = 0;
	}
	free(buf);
	return err;
}

static void stamp_file(struct sl_edits *e, const struct stat *st)
{
	e->stamp.dev = st->st_dev;
	e->stamp.ino = st->st_ino;
	e->stamp.size = (unsigned long long)st->st_size;
	e->stamp.mtime = (unsigned long long)st->st_mtim.tv_sec * 1000000000ull +
			 (unsigned long long)st->st_mtim.tv_nsec;
}

void sl_edits_stamp_files(struct sl_edits *e)
{
	struct stat st;

	memset(&e->stamp, 0, sizeof(e->stamp));
	if (!lstat(e->path, &st))
		stamp_file(e, &st);
	if (!lstat(e->jpath, &st)) {
		e->stamp.jdev = st.st_dev;
		e->stamp.jino = st.st_ino;
	}
}

bool sl_edits_files_same(const struct sl_edits *e)
{
	struct sl_edits now = { .path = e->path, .jpath = e->jpath };
	struct stat st;

	if (lstat(e->path, &st))
		return errno == ENOENT && !e->stamp.ino;
	stamp_file(&now, &st);
	if (now.stamp.dev != e->stamp.dev || now.stamp.ino != e->stamp.ino ||
	    now.stamp.size != e->stamp.size || now.stamp.mtime != e->stamp.mtime)
		return false;
	if (lstat(e->jpath, &st))
		return errno == ENOENT && !e->jlen;
	return (!e->stamp.jino || ((unsigned long long)st.st_dev == e->stamp.jdev &&
				   (unsigned long long)st.st_ino == e->stamp.jino)) &&
	       (unsigned long long)st.st_size == e->jlen;
}

int sl_edits_read(const char *dir, struct sl_edits *e, struct sl_diags *diags)
{
	char *path = sl_edits_path(dir), *buf = NULL;
	size_t len = 0;
	struct stat st;
	bool file;
	int err;

	memset(e, 0, sizeof(*e));
	if (!path)
		return -ENOMEM;
	err = read_own(path, "the CLI's edits file", &buf, &len, &st, diags);
	file = err != -ENOENT;
	if (!file) {
		e->path = path;
		path = NULL;
		e->jpath = journal_path(e->path);
		err = e->jpath ? 0 : -ENOMEM;
	} else if (!err) {
		err = sl_edits_parse(path, buf, len, e, diags);
		stamp_file(e, &st);
	}
	if (!err)
		err = journal_read(e, file, diags);
	free(buf);
	free(path);
	if (err && err != -EINVAL)
		sl_edits_free(e);
	return err;
}

/* ---- writing ---- */

/*
 * A YAML double-quoted scalar: every value is written quoted, so none is
 * retyped. YAML's line breaks beyond ASCII's (NEL U+0085, LS U+2028, PS
 * U+2029) are escaped too (\N, \L, \P): written raw, the reader folds them
 * into a space.
 */
static void put_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == 0xc2 && (unsigned char)s[1] == 0x85) {
			fputs("\\N", f);
			s++;
		} else if (ch == 0xe2 && (unsigned char)s[1] == 0x80 &&
			   ((unsigned char)s[2] == 0xa8 || (unsigned char)s[2] == 0xa9)) {
			fputs((unsigned char)s[2] == 0xa8 ? "\\L" : "\\P", f);
			s += 2;
		} else if (ch == '"' || ch == '\\') {
			fprintf(f, "\\%c", ch);
		} else if (ch < 0x20 || ch == 0x7f) {
			fprintf(f, "\\x%02x", ch);
		} else {
			fputc(ch, f);
		}
	}
	fputc('"', f);
}

static void put_field(FILE *f, const struct sl_edit_rule *r, enum sl_edit_field k)
{
	if (field_single(k) && r->n[k] == 1) {
		put_quoted(f, r->v[k][0]);
		return;
	}
	fputc('[', f);
	for (size_t i = 0; i < r->n[k]; i++) {
		if (i)
			fputs(", ", f);
		put_quoted(f, r->v[k][i]);
	}
	fputc(']', f);
}

char *sl_edits_format(const struct sl_edits *e)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fputs("# Written by sluiced: `sluice rule add`, `sluice block add`, `sluice lb drain`.\n"
	      "# Use the CLI to change them; hand-written policy goes in *.yaml files beside\n"
	      "# this one (see docs/cli.md).\n", f);
	fputs(e->nrules ? "rules:\n" : "rules: []\n", f);
	for (size_t i = 0; i < e->nrules; i++) {
		const struct sl_edit_rule *r = &e->rules[i];
		bool first = true;

		fputs("  - {", f);
		for (int k = 0; k < SL_EF_N; k++) {
			if (!r->has[k])
				continue;
			fprintf(f, "%s%s: ", first ? "" : ", ", sl_edit_field_names[k]);
			put_field(f, r, k);
			first = false;
		}
		fputs("}\n", f);
	}
	/* a literal block: one YAML node for the whole list */
	fputs(e->nblock ? "block: |\n" : "block: []\n", f);
	for (size_t i = 0; i < e->nblock; i++) {
		char p[64];

		sl_prefix_format(&e->block[i], p, sizeof(p));
		fprintf(f, "  %s\n", p);
	}
	if (e->ndrains)
		fputs("drain:\n", f);
	for (size_t i = 0; i < e->ndrains; i++) {
		fputs("  - ", f);
		put_quoted(f, e->drains[i]);
		fputc('\n', f);
	}
	if (e->seq)
		fprintf(f, "journal: %llu\n", (unsigned long long)e->seq);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* ---- the journal ---- */

size_t sl_edits_journal_line(char *buf, uint64_t seq, bool add, const struct sl_prefix *p)
{
	char pfx[64];
	int n;

	sl_prefix_format(p, pfx, sizeof(pfx));
	n = snprintf(buf, SL_JOURNAL_LINE, "%llu block %s %s\n", (unsigned long long)seq,
		     add ? "add" : "del", pfx);
	return n > 0 && n < SL_JOURNAL_LINE ? (size_t)n : 0;
}

/* fsync the dir holding PATH (a new entry in it is durable then). */
static int sync_dir_of(const char *path)
{
	char *d = strdup(path);
	int fd, err = 0;

	if (!d)
		return -ENOMEM;
	fd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd))
		err = -errno;
	if (fd >= 0)
		close(fd);
	free(d);
	return err;
}

static const char journal_head[] =
	"# sluiced: `sluice block add|del` since " SL_EDITS_FILE " (its \"journal:\" line);\n"
	"# appended and read by the agent only (docs/cli.md)\n";

int sl_edits_journal_append(struct sl_edits *e, const char *text, size_t len, size_t lines,
			    uint64_t last, char *err, size_t errlen)
{
	size_t at = e->jlen, off = 0;
	bool created = false;
	struct stat st;
	int fd, ret = 0;

	fd = open(e->jpath, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 && errno == ENOENT) {
		fd = open(e->jpath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		created = fd >= 0;
	}
	if (fd < 0 || fstat(fd, &st)) {
		ret = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		goto out;
	}
	/*
	 * A line cut short by a crash: from the last whole line. A journal
	 * shorter than that was changed by someone else: padding it would make
	 * a journal that no longer loads.
	 */
	if ((size_t)st.st_size < at) {
		ret = -ESTALE;
		goto out;
	}
	if ((size_t)st.st_size != at && ftruncate(fd, (off_t)at)) {
		ret = -errno;
		goto out;
	}
	if (created) {
		e->stamp.jdev = st.st_dev;
		e->stamp.jino = st.st_ino;
	}
	if (!at) {
		ssize_t w = pwrite(fd, journal_head, sizeof(journal_head) - 1, 0);

		if (w != (ssize_t)sizeof(journal_head) - 1) {
			ret = w < 0 ? -errno : -EIO;
			goto out;
		}
		at = (size_t)w;
	}
	while (off < len) {
		ssize_t w = pwrite(fd, text + off, len - off, (off_t)(at + off));

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			ret = w ? -errno : -EIO;
			break;
		}
		off += (size_t)w;
	}
	if (!ret && fdatasync(fd))
		ret = -errno;
	if (!ret && created)
		ret = sync_dir_of(e->jpath);
	if (ret && ftruncate(fd, (off_t)e->jlen)) {
		/* the lines past jlen are not acknowledged; the next append cuts them */
	}
out:
	if (fd >= 0)
		close(fd);
	if (ret == -ESTALE) {
		snprintf(err, errlen, "%s was changed by someone else: nothing written (send "
			 "SIGHUP to read it again)", e->jpath);
		return ret;
	}
	if (ret) {
		snprintf(err, errlen, "cannot write %s: %s", e->jpath, strerror(-ret));
		return ret;
	}
	e->jlen = at + len;
	e->jlines += lines;
	e->seq = last;
	return 0;
}

int sl_edits_journal_cut(struct sl_edits *e, size_t len, size_t lines, uint64_t seq,
			 char *err, size_t errlen)
{
	int fd = open(e->jpath, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	int ret = 0;

	if (fd < 0 || ftruncate(fd, (off_t)len) || fdatasync(fd))
		ret = -errno;
	if (fd >= 0)
		close(fd);
	if (ret) {
		snprintf(err, errlen, "cannot cut %s back: %s", e->jpath, strerror(-ret));
		return ret;
	}
	e->jlen = len;
	e->jlines = lines;
	e->seq = seq;
	return 0;
}

int sl_edits_journal_reset(struct sl_edits *e)
{
	struct stat st;
	int fd, ret = 0;

	e->file_seq = e->seq;
	e->jlines = 0;
	/*
	 * Lines the file holds are skipped anyway: no sync needed. Never through
	 * a symlink (truncate(2) follows one: a journal swapped for a link to
	 * /etc/shadow between the read and here emptied that file).
	 */
	fd = open(e->jpath, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 && errno == ENOENT) {
		e->jlen = 0;
		return 0;
	}
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st))
		ret = -errno;
	else if (!S_ISREG(st.st_mode))
		ret = -EINVAL;
	else if (ftruncate(fd, 0))
		ret = -errno;
	close(fd);
	if (!ret)
		e->jlen = 0;
	return ret;
}

int sl_file_stage(const char *path, const char *text, char **tmpp, char *err, size_t errlen)
{
	size_t len = strlen(text), off = 0;
	char *tmp = NULL, *d = strdup(path), *b = strdup(path);
	int fd = -1, ret = 0;

	*tmpp = NULL;
	/* a dot-file beside it: same filesystem for rename, skipped by the loader */
	if (!d || !b || asprintf(&tmp, "%s/%s%s.tmp", dirname(d), basename(b)[0] == '.' ? "" : ".",
				 basename(b)) < 0) {
		tmp = NULL;
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	/*
	 * A new file, whatever was left at that name (a crash's temp file, or a
	 * FIFO someone put there, which open() for writing would wait on)
	 */
	if (unlink(tmp) && errno != ENOENT) {
		ret = -errno;
		snprintf(err, errlen, "cannot remove %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			ret = -errno;
			snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd)) {
		ret = -errno;
		snprintf(err, errlen, "cannot write %s (fsync): %s", tmp, strerror(errno));
		goto out;
	}
out:
	if (fd >= 0 && close(fd) && !ret) {
		ret = -errno;
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
	}
	if (ret && tmp && fd >= 0)
		unlink(tmp);
	if (ret)
		free(tmp);
	else
		*tmpp = tmp;
	free(d);
	free(b);
	return ret;
}

int sl_file_commit(const char *tmp, const char *path, char *err, size_t errlen)
{
	char *d = strdup(path);
	int fd, ret = 0;

	if (!d) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (rename(tmp, path)) {
		ret = -errno;
		snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
		free(d);
		return ret;
	}
	/* the rename itself is durable once the dir is */
	fd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd)) {
		ret = -errno;
		snprintf(err, errlen, "cannot sync the dir of %s: %s", path, strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	free(d);
	return ret;
}

void sl_file_abort(char *tmp)
{
	if (tmp)
		unlink(tmp);
	free(tmp);
}

/* ---- rules through the policy parser ---- */

/* What one line of the generated policy came from. */
struct gen_line {
	long rule;			/* -1: not a rule's line */
	enum sl_edit_field field;
};

struct gen {
	FILE *f;
	int line;			/* lines written so far */
	struct gen_line *map;
	size_t nmap;
	bool oom;
};

static void gen_line(struct gen *g, long rule, enum sl_edit_field field)
{
	if (sl_vec_reserve((void **)&g->map, g->nmap, sizeof(*g->map))) {
		g->oom = true;
		return;
	}
	g->map[g->nmap++] = (struct gen_line){ rule, field };
	g->line++;
}

static bool set_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n && n <= SL_NAME_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* Does a reference before rule I's value J of field K name the same set? */
static bool set_named_before(const struct sl_edits *e, size_t i, int k, size_t j)
{
	const char *name = e->rules[i].v[k][j];

	for (size_t a = 0; a <= i; a++) {
		const struct sl_edit_rule *r = &e->rules[a];

		for (int f = SL_EF_SRC; f <= SL_EF_DST; f++) {
			for (size_t b = 0; b < r->n[f]; b++) {
				if (a == i && f == k && b == j)
					return false;
				if (!strcmp(r->v[f][b], name))
					return true;
			}
		}
	}
	return false;
}

/* The generated policy: stand-in sets for the @references, then the rules. */
static void gen_policy(struct gen *g, const struct sl_edits *e)
{
	bool any_set = false;

	for (size_t i = 0; i < e->nrules; i++) {
		const struct sl_edit_rule *r = &e->rules[i];

		for (int k = SL_EF_SRC; k <= SL_EF_DST; k++) {
			for (size_t j = 0; j < r->n[k]; j++) {
				const char *s = r->v[k][j];

				if (s[0] != '@' || !set_name_ok(s + 1))
					continue;
				if (!any_set) {
					fputs("sets:\n", g->f);
					gen_line(g, -1, 0);
					any_set = true;
				}
				/* once each: a set name twice is an error in a policy */
				if (set_named_before(e, i, k, j))
					continue;
				fputs("  ", g->f);
				put_quoted(g->f, s + 1);
				fputs(": {prefixes: [\"192.0.2.0/32\"]}\n", g->f);
				gen_line(g, -1, 0);
			}
		}
	}
	fputs("firewall:\n  rules:\n", g->f);
	gen_line(g, -1, 0);
	gen_line(g, -1, 0);
	for (size_t i = 0; i < e->nrules; i++) {
		const struct sl_edit_rule *r = &e->rules[i];
		bool first = true;

		for (int k = SL_EF_NAME; k <= SL_EF_EARLY; k++) {
			if (!r->has[k])
				continue;
			fprintf(g->f, "    %s %s: ", first ? "-" : " ", sl_edit_field_names[k]);
			put_field(g->f, r, k);
			fputc('\n', g->f);
			gen_line(g, (long)i, k);
			first = false;
		}
		if (first) {
			fputs("    - {}\n", g->f);
			gen_line(g, (long)i, SL_EF_NAME);
		}
	}
}

/* The location an error of the generated policy at LINE belongs to. */
static const struct sl_loc *gen_loc(const struct gen *g, const struct sl_edits *e, int line)
{
	const struct sl_edit_rule *r;

	if (line < 1 || (size_t)line > g->nmap || g->map[line - 1].rule < 0)
		return NULL;
	r = &e->rules[g->map[line - 1].rule];
	if (r->has[g->map[line - 1].field] && r->floc[g->map[line - 1].field].file)
		return &r->floc[g->map[line - 1].field];
	return &r->loc;
}

/*
 * The rules' addresses given by a request (line 0: not read from the edits
 * file), refused where an older agent's edits file may hold the same and
 * must still load: IPv4-mapped ones, as sl_prefix_parse says (the
 * generated policy is parsed taking them), and references to the CLI's
 * own sets ("@sluice.block" exists only while the blocklist is not empty:
 * a rule naming it made the last `block del` fail). 0 or -EINVAL.
 */
static int new_refused(const struct sl_edits *e, struct sl_diags *diags)
{
	int err = 0;

	for (size_t i = 0; i < e->nrules; i++) {
		const struct sl_edit_rule *r = &e->rules[i];

		for (int k = SL_EF_SRC; k <= SL_EF_DST; k++) {
			for (size_t j = 0; r->floc[k].line == 0 && j < r->n[k]; j++) {
				const char *s = r->v[k][j];
				struct sl_prefix p;
				char perr[256];

				if (s[0] != '@' &&
				    sl_prefix_parse(s, strlen(s), &p, perr, sizeof(perr)) == -EDOM) {
					sl_diag_add(diags, &r->floc[k], "%s", perr);
					err = -EINVAL;
				}
				if (s[0] == '@' && !strncmp(s + 1, SL_RESERVED_PREFIX,
							    strlen(SL_RESERVED_PREFIX))) {
					sl_diag_add(diags, &r->floc[k], "\"%s\": sets whose "
						    "names start with \"%s\" are the CLI's own (the blocklist is "
						    "rule 0 of every section already); name a set of "
						    "the policy", s, SL_RESERVED_PREFIX);
					err = -EINVAL;
				}
			}
		}
	}
	return err;
}

int sl_edit_rules_build(const struct sl_edits *e, struct sl_policy *pol,
			struct sl_diags *diags)
{
	struct gen g = {};
	struct sl_diags d = {};
	char *text = NULL, path[64];
	size_t len = 0;
	const char *pp = path;
	int fd = -1, err;

	memset(pol, 0, sizeof(*pol));
	if (!e->nrules) {
		policy_defaults(pol);
		return 0;
	}
	if (new_refused(e, diags))
		return -EINVAL;
	g.f = open_memstream(&text, &len);
	if (!g.f)
		return -ENOMEM;
	gen_policy(&g, e);
	if (fclose(g.f) || g.oom) {
		err = -ENOMEM;
		goto out;
	}
	fd = memfd_create("sluice-edits", MFD_CLOEXEC);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len) {
		err = -errno;
		goto out;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	err = sl_policy_load_edit_rules(pp, pol, &d);
	for (size_t i = 0; i < d.n; i++) {
		const struct sl_diag *x = &d.v[i];
		const struct sl_loc *loc = x->file && !strcmp(x->file, path) ?
					   gen_loc(&g, e, x->line) : NULL;
		struct sl_loc own = { x->file, x->line, x->col };

		/* the stand-in sets are ours: an error there is one of the rules' names */
		sl_diag_add(diags, loc ? loc : x->file && !strcmp(x->file, path) ? NULL : &own,
			    "%s", x->msg);
	}
	if (!err && policy_fw(pol, 0)->nrules != e->nrules)
		err = -EINVAL;	/* cannot happen: one rule written per rule */
out:
	if (err)
		policy_free(pol);
	sl_diags_free(&d);
	if (fd >= 0)
		close(fd);
	free(text);
	free(g.map);
	return err;
}

/* ---- merge ---- */

bool sl_rule_from_edits(const struct sl_rule *r)
{
	const char *f = r->loc.file, *slash;

	if (!f)
		return false;
	slash = strrchr(f, '/');
	return !strcmp(slash ? slash + 1 : f, SL_EDITS_FILE);
}

bool sl_fw_has_block(const struct sl_firewall *fw)
{
	return fw->nrules && fw->rules[0].name &&
	       !strncmp(fw->rules[0].name, SL_BLOCK_NAME, strlen(SL_BLOCK_NAME)) &&
	       sl_rule_from_edits(&fw->rules[0]);
}

static bool reserved(const char *name)
{
	return name && !strncmp(name, SL_RESERVED_PREFIX, strlen(SL_RESERVED_PREFIX));
}

static const char *own_file(struct sl_policy *pol, const char *path)
{
	char *s;

	for (size_t i = 0; i < pol->nfiles; i++)
		if (!strcmp(pol->files[i], path))
			return pol->files[i];
	s = strdup(path);
	if (!s || sl_vec_reserve((void **)&pol->files, pol->nfiles, sizeof(*pol->files))) {
		free(s);
		return NULL;
	}
	pol->files[pol->nfiles++] = s;
	return s;
}

/* Point LOC at POL's copy of the edits path when it names that file. */
static void fix_loc(struct sl_loc *loc, const struct sl_edits *e, const char *own)
{
	if (loc->file && (loc->file == e->path || !strcmp(loc->file, e->path)))
		loc->file = own;
}

/* The section and index of the hand-written rule NAME; -1 when there is none. */
static long hand_rule(const struct sl_policy *pol, const size_t *nhand, const char *name,
		      size_t *sec)
{
	for (size_t s = 0; s < pol->nfws; s++) {
		for (size_t i = 0; i < nhand[s]; i++) {
			if (pol->fws[s].rules[i].name && !strcmp(pol->fws[s].rules[i].name, name)) {
				*sec = s;
				return (long)i;
			}
		}
	}
	return -1;
}

static int add_block_set(struct sl_policy *pol, const struct sl_edits *e, const char *own,
			 struct sl_loc *loc)
{
	struct sl_set *s;

	if (sl_vec_reserve((void **)&pol->sets, pol->nsets, sizeof(*pol->sets)))
		return -ENOMEM;
	s = &pol->sets[pol->nsets];
	memset(s, 0, sizeof(*s));
	s->name = strdup(SL_BLOCK_NAME);
	s->v = malloc(e->nblock * sizeof(*s->v));
	if (!s->name || !s->v) {
		free(s->name);
		free(s->v);
		return -ENOMEM;
	}
	memcpy(s->v, e->block, e->nblock * sizeof(*s->v));
	s->n = e->nblock;
	*loc = (struct sl_loc){ own, e->block_loc ? e->block_loc[0].line : 0,
				e->block_loc ? e->block_loc[0].col : 0 };
	s->loc = *loc;
	pol->nsets++;
	return 0;
}

/*
 * Rule 0 of a section: deny, src @sluice.block. Its name is "sluice.block",
 * or "sluice.block.SECTION" when there are several sections (rule names are
 * unique across sections).
 */
static int block_rule(struct sl_rule *rule, const struct sl_policy *pol, size_t sec,
		      const struct sl_loc *loc)
{
	memset(rule, 0, sizeof(*rule));
	if (pol->nfws > 1) {
		if (asprintf(&rule->name, "%s.%s", SL_BLOCK_NAME, pol->fws[sec].name) < 0)
			rule->name = NULL;
	} else {
		rule->name = strdup(SL_BLOCK_NAME);
	}
	rule->src = calloc(1, sizeof(*rule->src));
	if (rule->src)
		rule->src->set_name = strdup(SL_BLOCK_NAME);
	if (!rule->name || !rule->src || !rule->src->set_name) {
		free(rule->name);
		if (rule->src)
			free(rule->src->set_name);
		free(rule->src);
		memset(rule, 0, sizeof(*rule));
		return -ENOMEM;
	}
	rule->loc = *loc;
	rule->action = SLUICE_ACT_DENY;
	rule->src->is_set = true;
	rule->src->loc = *loc;
	rule->nsrc = 1;
	return 0;
}

/*
 * The section each CLI rule goes to, in SEC: `section:` when given, else the
 * section of its `before:` rule, else the only section. Errors at the fields.
 */
static int place_rules(const struct sl_policy *pol, const struct sl_edits *e,
		       const size_t *nhand, size_t *sec, struct sl_diags *diags)
{
	char names[512];
	int errs = 0;

	policy_fw_names(pol, names, sizeof(names));
	for (size_t i = 0; i < e->nrules; i++) {
		const struct sl_edit_rule *er = &e->rules[i];
		const char *name = er->v[SL_EF_NAME][0];
		long k = -1;
		size_t hs;

		if (er->has[SL_EF_SECTION]) {
			k = policy_find_fw(pol, er->v[SL_EF_SECTION][0]);
			if (k < 0) {
				sl_diag_add(diags, &er->floc[SL_EF_SECTION], "rule \"%s\": no firewall "
					    "section \"%s\" (sections: %s)", name,
					    er->v[SL_EF_SECTION][0], names[0] ? names : "none");
				errs++;
				continue;
			}
		}
		if (er->has[SL_EF_BEFORE]) {
			if (hand_rule(pol, nhand, er->v[SL_EF_BEFORE][0], &hs) < 0) {
				sl_diag_add(diags, &er->floc[SL_EF_BEFORE], "rule \"%s\" goes before "
					    "rule \"%s\", which is not in the policy files (any "
					    "more): restore it or `sluice rule del %s`", name,
					    er->v[SL_EF_BEFORE][0], name);
				errs++;
				continue;
			}
			if (k >= 0 && (size_t)k != hs) {
				sl_diag_add(diags, &er->floc[SL_EF_BEFORE],
					    "rule \"%s\": rule \"%s\" is in section \"%s\", not \"%s\"",
					    name, er->v[SL_EF_BEFORE][0], pol->fws[hs].name,
					    pol->fws[k].name);
				errs++;
				continue;
			}
			k = (long)hs;
		}
		if (k < 0 && pol->nfws == 1)
			k = 0;
		if (k < 0) {
			sl_diag_add(diags, &er->loc, "rule \"%s\": %s", name, pol->nfws ?
				    "the policy has several firewall sections; say which with "
				    "section:" : "the policy has no firewall section to put it in");
			errs++;
			continue;
		}
		sec[i] = (size_t)k;
	}
	return errs;
}

/*
 * References in N items of V, of a hand-written file, to the CLI's own sets:
 * each an error. "@sluice.block" exists only while the blocklist is not
 * empty, so a rule naming it loaded until the last `block del`, which then
 * failed (and a start with the list empty refused the policy). The errors'
 * count.
 */
static int reserved_refs(const struct sl_addr_item *v, size_t n, struct sl_diags *diags)
{
	int errs = 0;

	for (size_t i = 0; i < n; i++) {
		if (!v[i].is_set || !reserved(v[i].set_name))
			continue;
		sl_diag_add(diags, &v[i].loc, "\"@%s\": sets whose names start with \"%s\" are "
			    "the CLI's own (the blocklist is rule 0 of every section already, and "
			    "its set exists only while the list is not empty); name a set of the "
			    "policy", v[i].set_name, SL_RESERVED_PREFIX);
		errs++;
	}
	return errs;
}

/* reserved_refs over the rules of FW. */
static int reserved_rule_refs(const struct sl_firewall *fw, struct sl_diags *diags)
{
	int errs = 0;

	for (size_t i = 0; i < fw->nrules; i++) {
		errs += reserved_refs(fw->rules[i].src, fw->rules[i].nsrc, diags);
		errs += reserved_refs(fw->rules[i].dst, fw->rules[i].ndst, diags);
	}
	return errs;
}

int sl_edits_merge(struct sl_policy *pol, const struct sl_edits *e, struct sl_diags *diags)
{
	struct sl_policy cli = {};
	size_t *nhand = NULL, *sec = NULL;
	struct sl_rule **v = NULL;
	struct sl_loc bloc = {};
	bool *placed = NULL;
	const char *own;
	int err = 0, errs = 0;

	for (size_t i = 0; i < pol->nsets; i++) {
		if (reserved(pol->sets[i].name)) {
			sl_diag_add(diags, &pol->sets[i].loc, "set name \"%s\": names starting with "
				    "\"%s\" are reserved for the CLI's own", pol->sets[i].name,
				    SL_RESERVED_PREFIX);
			errs++;
		}
	}
	for (size_t s = 0; s < pol->nfws; s++) {
		for (size_t i = 0; i < pol->fws[s].nrules; i++) {
			const struct sl_rule *r = &pol->fws[s].rules[i];

			if (!reserved(r->name))
				continue;
			sl_diag_add(diags, &r->loc, "rule name \"%s\": names starting with \"%s\" "
				    "are reserved for the CLI's own", r->name, SL_RESERVED_PREFIX);
			errs++;
		}
	}
	for (size_t s = 0; s < pol->nfws; s++)
		errs += reserved_rule_refs(&pol->fws[s], diags);
	for (size_t s = 0; s < pol->negs; s++) {
		errs += reserved_rule_refs(&pol->egs[s].fw, diags);
		errs += reserved_refs(pol->egs[s].bs_src, pol->egs[s].nbs_src, diags);
	}
	/* `sluice lb drain`: drains naming no backend of the policy do nothing */
	lb_drains_apply(pol, e->drains, e->ndrains);
	if (!e->nrules && !e->nblock)
		return errs ? -EINVAL : 0;
	if (!pol->nfws) {
		struct sl_loc loc = { e->path, 0, 0 };

		sl_diag_add(diags, &loc, "the CLI's rules and blocklist need a firewall section; "
			    "the policy has none");
		return -EINVAL;
	}

	err = sl_edit_rules_build(e, &cli, diags);
	if (err)
		return err;
	own = own_file(pol, e->path);
	nhand = calloc(pol->nfws, sizeof(*nhand));
	sec = calloc(e->nrules + 1, sizeof(*sec));
	placed = calloc(e->nrules + 1, sizeof(*placed));
	v = calloc(pol->nfws, sizeof(*v));
	if (!own || !nhand || !sec || !placed || !v) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t s = 0; s < pol->nfws; s++)
		nhand[s] = pol->fws[s].nrules;
	errs += place_rules(pol, e, nhand, sec, diags);
	for (size_t i = 0; i < e->nrules; i++) {
		const struct sl_edit_rule *er = &e->rules[i];
		struct sl_rule *r = &policy_fw(&cli, 0)->rules[i];

		if (reserved(r->name)) {
			sl_diag_add(diags, &er->floc[SL_EF_NAME], "rule name \"%s\": names starting "
				    "with \"%s\" are reserved for the CLI's own", r->name,
				    SL_RESERVED_PREFIX);
			errs++;
		}
		/* the parser's locations are the generated text's: use the fields' */
		r->loc = er->loc;
		fix_loc(&r->loc, e, own);
		for (size_t k = 0; k < r->nsrc; k++) {
			r->src[k].loc = er->floc[SL_EF_SRC];
			fix_loc(&r->src[k].loc, e, own);
		}
		for (size_t k = 0; k < r->ndst; k++) {
			r->dst[k].loc = er->floc[SL_EF_DST];
			fix_loc(&r->dst[k].loc, e, own);
		}
	}
	if (errs) {
		err = -EINVAL;
		goto out;
	}

	if (e->nblock) {
		err = add_block_set(pol, e, own, &bloc);
		if (err)
			goto out;
	}
	for (size_t s = 0; s < pol->nfws; s++) {
		struct sl_firewall *fw = &pol->fws[s];
		size_t n = 0;

		v[s] = calloc(nhand[s] + e->nrules + 1, sizeof(**v));
		if (!v[s]) {
			err = -ENOMEM;
			goto out;
		}
		if (e->nblock) {
			err = block_rule(&v[s][n], pol, s, &bloc);
			if (err)
				goto out;
			n++;
		}
		for (size_t h = 0; h <= nhand[s]; h++) {
			for (size_t i = 0; i < e->nrules; i++) {
				const struct sl_edit_rule *er = &e->rules[i];
				bool here = h < nhand[s] ?
					    er->has[SL_EF_BEFORE] &&
					    !strcmp(er->v[SL_EF_BEFORE][0], fw->rules[h].name) :
					    !er->has[SL_EF_BEFORE];

				if (placed[i] || sec[i] != s || !here)
					continue;
				v[s][n++] = ((struct sl_firewall *)policy_fw(&cli, 0))->rules[i];
				placed[i] = true;
			}
			if (h < nhand[s])
				v[s][n++] = fw->rules[h];
		}
		free(fw->rules);
		fw->rules = v[s];
		fw->nrules = n;
		v[s] = NULL;
	}
	/* the rules moved into POL: free only cli's array of them */
	if (cli.nfws) {
		free(cli.fws[0].rules);
		cli.fws[0].rules = NULL;
		cli.fws[0].nrules = 0;
	}

out:
	for (size_t s = 0; v && s < pol->nfws; s++) {
		/* only on a failure half way: a block rule made, nothing moved yet */
		if (v[s] && e->nblock && v[s][0].name && !strncmp(v[s][0].name, SL_BLOCK_NAME,
								  strlen(SL_BLOCK_NAME))) {
			free(v[s][0].name);
			free(v[s][0].src->set_name);
			free(v[s][0].src);
		}
		free(v[s]);
	}
	free(v);
	free(nhand);
	free(sec);
	free(placed);
	policy_free(&cli);
	return err;
}
