// SPDX-License-Identifier: GPL-2.0-only
/*
 * The `egress` key: per-cgroup egress policy (docs/egress.md). A list of
 * entries, merged across files:
 *
 *   egress:
 *     - name: app1
 *       cgroup: /sys/fs/cgroup/unified/app1     # cgroup v2; may not exist yet
 *       default: deny                           # allow (when omitted) | deny
 *       rules:                                  # first match wins
 *         - { action: allow, dst: [192.0.2.0/24], proto: tcp, dport: [443] }
 *       backstop:                               # optional: TC on the host side
 *         interfaces: ["veth*"]                 # of the container's veth, for the
 *         src: [192.0.2.5]                      # packets from its addresses
 *
 * Values are checked where they are read (FILE:LINE:COL); egress_check does
 * what needs every file: names and cgroups given twice (also under two
 * spellings of one directory), @sets, limits.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include "policy_int.h"
#include "prefix.h"

enum { E_NAME, E_CGROUP, E_DEFAULT, E_RULES, E_BACKSTOP, E_NKEYS };

/*
 * Is the cgroup path P well formed: absolute, no empty, "." or ".."
 * component, printable, no pattern, not too long? Returns NULL or what is
 * wrong. A pattern ("kubepods/pod*", as interfaces take them) names a
 * cgroup that never appears: the entry would wait for it and judge
 * nothing, without a word. A backslash is no pattern here: systemd escapes
 * its units' names with it ("system-systemd\x2dfsck.slice").
 */
static const char *cgroup_path_bad(const char *p)
{
	size_t n = strlen(p);

	if (p[0] != '/')
		return "is not an absolute path";
	if (n > SL_EG_PATH_MAX)
		return "is too long";
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return "has a control character";
	if (strpbrk(p, "*?["))
		return "is a pattern; a cgroup is named by its path (name a parent cgroup: its "
		       "descendants inherit its entry)";
	for (const char *c = p + 1; *c;) {
		size_t l = strcspn(c, "/");

		if (l == 0)
			return "has an empty component (\"//\")";
		if ((l == 1 && c[0] == '.') || (l == 2 && c[0] == '.' && c[1] == '.'))
			return "has a \".\" or \"..\" component; write the path itself";
		c += l;
		if (*c == '/')
			c++;
	}
	return NULL;
}

/*
 * The nearest existing dir of PATH (itself or an ancestor) must be on a
 * cgroup v2 filesystem, or the cgroup can never appear there. Returns NULL
 * or what is wrong, in BUF.
 */
static const char *cgroup_fs_bad(const char *path, char *buf, size_t len)
{
	char p[SL_EG_PATH_MAX + 1];
	struct statfs sf;
	struct stat st;

	snprintf(p, sizeof(p), "%s", path);
	for (;;) {
		if (!stat(p, &st)) {
			if (!S_ISDIR(st.st_mode)) {
				snprintf(buf, len, "%s is not a directory", p);
				return buf;
			}
			if (statfs(p, &sf) || sf.f_type != CGROUP2_SUPER_MAGIC) {
				snprintf(buf, len, "%s is not in a cgroup v2 hierarchy (a cgroup2 "
					 "mount, e.g. /sys/fs/cgroup or /sys/fs/cgroup/unified)",
					 p);
				return buf;
			}
			return NULL;
		}
		if (errno != ENOENT && errno != ENOTDIR) {
			snprintf(buf, len, "cannot stat %s: %s", p, strerror(errno));
			return buf;
		}
		*strrchr(p, '/') = '\0';
		if (!p[0]) {
			snprintf(buf, len, "no cgroup v2 hierarchy holds it");
			return buf;
		}
	}
}

static void parse_cgroup(struct pctx *c, struct sl_egress *e, yaml_node_t *v)
{
	char buf[SL_EG_PATH_MAX + 128];
	const char *bad;
	size_t n;

	e->cgroup_loc = sl_y_loc(c, v);
	if (v->type != YAML_SCALAR_NODE || sl_y_null(v)) {
		sl_y_err(c, v, "cgroup must be a cgroup v2 path, got %s", sl_y_kind(v));
		return;
	}
	e->cgroup = strdup(sl_y_str(v));
	if (!e->cgroup) {
		sl_y_oom(c);
		return;
	}
	/* one spelling per cgroup: "/a/b/" is "/a/b" */
	n = strlen(e->cgroup);
	while (n > 1 && e->cgroup[n - 1] == '/')
		e->cgroup[--n] = '\0';
	bad = cgroup_path_bad(e->cgroup);
	if (!bad)
		bad = cgroup_fs_bad(e->cgroup, buf, sizeof(buf));
	if (bad)
		sl_y_err(c, v, "cgroup \"%.256s\": %s", e->cgroup, bad);
}

static void parse_backstop(struct pctx *c, struct sl_egress *e, yaml_node_t *key,
			   yaml_node_t *v)
{
	static const char *const keys[] = { "interfaces", "src" };
	struct kv f[2];

	e->bs_loc = sl_y_loc(c, key);
	if (v->type != YAML_MAPPING_NODE) {
		sl_y_err(c, v, "backstop must be a mapping (interfaces, src), got %s",
			 sl_y_kind(v));
		return;
	}
	sl_y_fields(c, v, "backstop", keys, 2, f);
	if (!f[0].key)
		sl_y_err(c, key, "backstop has no interfaces (the host side of the container's "
			 "veth, names or patterns)");
	else
		sl_y_ifaces(c, f[0].val, "attaches the backstop nowhere; omit backstop instead",
			    &e->bs_ifaces, &e->bs_iface_locs, &e->nbs_ifaces);
	if (!f[1].key)
		sl_y_err(c, key, "backstop has no src (the container's addresses: its packets "
			 "are found by source address)");
	else
		sl_y_addrs(c, "src", "gives the backstop no packet to judge (it finds the "
			   "entry by source address); omit backstop instead", f[1].val,
			   &e->bs_src, &e->nbs_src);
}

static void parse_entry(struct pctx *c, struct sl_egress *e, yaml_node_t *v)
{
	static const char *const keys[E_NKEYS] = { "name", "cgroup", "default", "rules",
						   "backstop" };
	struct kv f[E_NKEYS];

	e->loc = sl_y_loc(c, v);
	e->fw.present = true;
	e->fw.loc = e->loc;
	e->fw.default_action = SLUICE_ACT_ALLOW;
	if (v->type != YAML_MAPPING_NODE) {
		sl_y_err(c, v, "an egress entry must be a mapping (name, cgroup, default, rules, "
			 "backstop), got %s", sl_y_kind(v));
		return;
	}
	sl_y_fields(c, v, "an egress entry", keys, E_NKEYS, f);
	if (!f[E_NAME].key) {
		sl_y_err(c, v, "egress entry has no name");
	} else if (f[E_NAME].val->type != YAML_SCALAR_NODE || !sl_name_ok(sl_y_str(f[E_NAME].val))) {
		sl_y_err(c, f[E_NAME].val, "bad egress name \"%.64s\": use 1..63 letters, digits, "
			 "'_', '.' or '-'", f[E_NAME].val->type == YAML_SCALAR_NODE ?
			 sl_y_str(f[E_NAME].val) : "");
	} else {
		e->name = strdup(sl_y_str(f[E_NAME].val));
		if (!e->name)
			sl_y_oom(c);
		e->loc = sl_y_loc(c, f[E_NAME].val);
		e->fw.loc = e->loc;
	}
	/* the section view shares the name (rule names default to NAME.INDEX) */
	e->fw.name = e->name;
	if (!f[E_CGROUP].key)
		sl_y_err(c, v, "egress entry%s%s%s has no cgroup (a cgroup v2 path)",
			 e->name ? " \"" : "", e->name ? e->name : "", e->name ? "\"" : "");
	else
		parse_cgroup(c, e, f[E_CGROUP].val);
	if (f[E_DEFAULT].key && sl_y_action(f[E_DEFAULT].val, &e->fw.default_action))
		sl_y_err(c, f[E_DEFAULT].val, "unknown default \"%.64s\"; use allow or deny",
			 f[E_DEFAULT].val->type == YAML_SCALAR_NODE ?
			 sl_y_str(f[E_DEFAULT].val) : sl_y_kind(f[E_DEFAULT].val));
	if (f[E_RULES].key)
		sl_y_rules(c, &e->fw, f[E_RULES].val, true);
	if (f[E_BACKSTOP].key)
		parse_backstop(c, e, f[E_BACKSTOP].key, f[E_BACKSTOP].val);
}

void egress_parse(struct pctx *c, yaml_node_t *key, yaml_node_t *v)
{
	struct sl_policy *pol = sl_y_policy(c);
	yaml_node_item_t *it;
	size_t n, total;
	void *nv;

	if (v->type != YAML_SEQUENCE_NODE) {
		sl_y_err(c, v, "egress must be a list of entries (name, cgroup, default, rules), "
			 "got %s", sl_y_kind(v));
		return;
	}
	n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (!n) {
		sl_y_err(c, key, "egress: empty list; omit the key for no egress policy");
		return;
	}
	/* grown once per key: rules keep pointers into their own arrays only */
	total = pol->negs + n;
	nv = realloc(pol->egs, total * sizeof(*pol->egs));
	if (!nv) {
		sl_y_oom(c);
		return;
	}
	pol->egs = nv;
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
		yaml_node_t *ev = sl_y_node(c, *it);
		struct sl_egress *e;

		if (!ev)
			return;
		e = &pol->egs[pol->negs++];
		memset(e, 0, sizeof(*e));
		parse_entry(c, e, ev);
	}
}

/* ---- checks across files ---- */

static int resolve_sets(struct sl_policy *pol, struct sl_addr_item *v, size_t n,
			struct sl_diags *d)
{
	int errs = 0;

	for (size_t i = 0; i < n; i++) {
		if (!v[i].is_set)
			continue;
		v[i].set = policy_find_set(pol, v[i].set_name);
		if (!v[i].set) {
			sl_diag_add(d, &v[i].loc, "unknown set \"@%s\"; define it under sets:",
				    v[i].set_name);
			errs++;
		}
	}
	return errs;
}

/* The prefixes of item IT (one, or its set's). */
static const struct sl_prefix *item_prefixes(const struct sl_addr_item *it, size_t *n)
{
	if (!it->is_set) {
		*n = 1;
		return &it->pfx;
	}
	*n = it->set ? it->set->n : 0;
	return it->set ? it->set->v : NULL;
}

static bool prefix_eq(const struct sl_prefix *a, const struct sl_prefix *b)
{
	return a->family == b->family && a->len == b->len &&
	       !memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16);
}

/*
 * A backstop source of entry I that is, holds or lies in one of an earlier
 * entry: the packet's entry would be ambiguous (the longest prefix would
 * take it silently). Quadratic in the backstop sources, which are a few
 * addresses per container (SLUICE_EG_SRC_MAX in all).
 */
static int check_backstop_srcs(const struct sl_policy *pol, struct sl_diags *d, size_t *total)
{
	int errs = 0;

	*total = 0;
	for (size_t i = 0; i < pol->negs; i++) {
		const struct sl_egress *e = &pol->egs[i];

		for (size_t k = 0; k < e->nbs_src; k++) {
			const struct sl_prefix *pv;
			size_t np;

			pv = item_prefixes(&e->bs_src[k], &np);
			*total += np;
			if (*total > 2 * SLUICE_EG_SRC_MAX)
				continue;	/* reported once below */
			for (size_t p = 0; p < np; p++) {
				for (size_t j = 0; j < i; j++) {
					const struct sl_egress *o = &pol->egs[j];

					for (size_t q = 0; q < o->nbs_src; q++) {
						const struct sl_prefix *ov;
						size_t on;

						ov = item_prefixes(&o->bs_src[q], &on);
						for (size_t r = 0; r < on; r++) {
							char buf[64], obuf[64];

							if (!sl_prefix_covers(&pv[p], &ov[r]) &&
							    !sl_prefix_covers(&ov[r], &pv[p]))
								continue;
							sl_prefix_format(&pv[p], buf, sizeof(buf));
							sl_prefix_format(&ov[r], obuf, sizeof(obuf));
							sl_diag_add(d, &e->bs_src[k].loc, "backstop src %s "
								    "%s egress \"%s\"'s%s%s (at %s:%d:%d); "
								    "a source address has one entry",
								    buf, prefix_eq(&pv[p], &ov[r]) ?
								    "is also" : "overlaps",
								    o->name ? o->name : "?",
								    prefix_eq(&pv[p], &ov[r]) ? "" : " ",
								    prefix_eq(&pv[p], &ov[r]) ? "" : obuf,
								    o->bs_src[q].loc.file,
								    o->bs_src[q].loc.line,
								    o->bs_src[q].loc.col);
							errs++;
						}
					}
				}
			}
		}
	}
	return errs;
}

/* The directory a cgroup path names today: two spellings of one cgroup have the same. */
struct eg_dir {
	dev_t dev;
	ino_t ino;
	bool exists;
};

/*
 * Two entries whose paths differ but name the same cgroup (a symlink,
 * /proc/self/root/..., a second mount of cgroup2): one cgroup id, one
 * eg_cg word, so one entry's policy would silently not be enforced. Only
 * paths that exist can be compared; a cgroup made later under two names is
 * the agent's to notice (egress_commit).
 */
static int check_same_cgroup(const struct sl_policy *pol, struct sl_diags *d)
{
	struct eg_dir *dirs;
	struct stat st;
	int errs = 0;

	if (!pol->negs)
		return 0;
	dirs = calloc(pol->negs, sizeof(*dirs));
	if (!dirs) {
		sl_diag_add(d, &pol->egs[0].loc, "out of memory checking the egress cgroups");
		return 1;
	}
	for (size_t i = 0; i < pol->negs; i++) {
		const struct sl_egress *e = &pol->egs[i];

		if (e->cgroup && !stat(e->cgroup, &st) && S_ISDIR(st.st_mode))
			dirs[i] = (struct eg_dir){ st.st_dev, st.st_ino, true };
	}
	for (size_t i = 0; i < pol->negs; i++) {
		const struct sl_egress *e = &pol->egs[i];

		for (size_t j = 0; j < i && dirs[i].exists; j++) {
			const struct sl_egress *o = &pol->egs[j];

			/* the same spelling is egress_check's "two egress entries" */
			if (!dirs[j].exists || dirs[j].dev != dirs[i].dev ||
			    dirs[j].ino != dirs[i].ino || !strcmp(e->cgroup, o->cgroup))
				continue;
			sl_diag_add(d, &e->cgroup_loc, "cgroup %s of egress \"%s\" is the cgroup "
				    "%s of egress \"%s\" (at %s:%d:%d): one cgroup, two entries; "
				    "give it one", e->cgroup, e->name ? e->name : "?", o->cgroup,
				    o->name ? o->name : "?", o->cgroup_loc.file, o->cgroup_loc.line,
				    o->cgroup_loc.col);
			errs++;
			break;
		}
	}
	free(dirs);
	return errs;
}

int egress_check(struct sl_policy *pol, struct sl_diags *d)
{
	size_t counters = 0, srcs = 0;
	int errs = 0;

	if (pol->negs > SLUICE_EG_MAX) {
		sl_diag_add(d, &pol->egs[SLUICE_EG_MAX].loc, "too many egress entries: %zu; at most "
			    "%d", pol->negs, SLUICE_EG_MAX);
		errs++;
	}
	for (size_t i = 0; i < pol->negs; i++) {
		struct sl_egress *e = &pol->egs[i];

		for (size_t j = 0; j < i; j++) {
			const struct sl_egress *o = &pol->egs[j];

			if (e->name && o->name && !strcmp(e->name, o->name)) {
				sl_diag_add(d, &e->loc, "duplicate egress name \"%s\": also defined "
					    "at %s:%d:%d", e->name, o->loc.file, o->loc.line,
					    o->loc.col);
				errs++;
			}
			if (e->cgroup && o->cgroup && !strcmp(e->cgroup, o->cgroup)) {
				sl_diag_add(d, &e->cgroup_loc, "cgroup %s has two egress entries: "
					    "\"%s\" and \"%s\" (at %s:%d:%d); give it one",
					    e->cgroup, o->name ? o->name : "?",
					    e->name ? e->name : "?", o->cgroup_loc.file,
					    o->cgroup_loc.line, o->cgroup_loc.col);
				errs++;
			}
		}
		if (e->fw.nrules > SLUICE_MAX_RULES) {
			sl_diag_add(d, &e->fw.rules[SLUICE_MAX_RULES].loc, "too many rules: %zu in "
				    "egress \"%s\"; an entry holds at most %d", e->fw.nrules,
				    e->name ? e->name : "?", SLUICE_MAX_RULES);
			errs++;
		}
		counters += e->fw.nrules + 1;
		for (size_t r = 0; r < e->fw.nrules; r++) {
			struct sl_rule *ru = &e->fw.rules[r];

			for (size_t q = 0; q < r && ru->name; q++) {
				if (e->fw.rules[q].name && !strcmp(e->fw.rules[q].name, ru->name)) {
					sl_diag_add(d, &ru->loc, "duplicate rule name \"%s\" in "
						    "egress \"%s\": also at %s:%d:%d", ru->name,
						    e->name ? e->name : "?", e->fw.rules[q].loc.file,
						    e->fw.rules[q].loc.line, e->fw.rules[q].loc.col);
					errs++;
					break;
				}
			}
			errs += resolve_sets(pol, ru->dst, ru->ndst, d);
		}
		errs += resolve_sets(pol, e->bs_src, e->nbs_src, d);
	}
	if (counters > SLUICE_EG_CNT_MAX && pol->negs) {
		sl_diag_add(d, &pol->egs[pol->negs - 1].loc, "egress entries hold %zu rules and "
			    "defaults in all; at most %d", counters, SLUICE_EG_CNT_MAX);
		errs++;
	}
	errs += check_same_cgroup(pol, d);
	errs += check_backstop_srcs(pol, d, &srcs);
	if (srcs > SLUICE_EG_SRC_MAX && pol->negs) {
		sl_diag_add(d, &pol->egs[pol->negs - 1].loc, "backstop sources: %zu prefixes in "
			    "all; at most %d", srcs, SLUICE_EG_SRC_MAX);
		errs++;
	}
	return errs;
}

void egress_policy_free(struct sl_policy *pol)
{
	for (size_t i = 0; i < pol->negs; i++) {
		struct sl_egress *e = &pol->egs[i];

		sl_rules_free(&e->fw);
		free(e->name);
		free(e->cgroup);
		for (size_t k = 0; k < e->nbs_ifaces; k++)
			free(e->bs_ifaces[k]);
		free(e->bs_ifaces);
		free(e->bs_iface_locs);
		for (size_t k = 0; k < e->nbs_src; k++)
			free(e->bs_src[k].set_name);
		free(e->bs_src);
	}
	free(pol->egs);
	pol->egs = NULL;
	pol->negs = 0;
}

int policy_find_egress(const struct sl_policy *pol, const char *name)
{
	for (size_t i = 0; i < pol->negs; i++)
		if (pol->egs[i].name && !strcmp(pol->egs[i].name, name))
			return (int)i;
	return -1;
}

bool policy_backstop_match(const struct sl_policy *pol, const char *ifname)
{
	for (size_t i = 0; i < pol->negs; i++)
		for (size_t k = 0; k < pol->egs[i].nbs_ifaces; k++)
			if (!fnmatch(pol->egs[i].bs_ifaces[k], ifname, 0))
				return true;
	return false;
}
