/* SPDX-License-Identifier: GPL-2.0-only */
/* Internal to the policy library: parse -> check hand-off and small helpers. */
#ifndef SLUICE_POLICY_INT_H
#define SLUICE_POLICY_INT_H

#include <stdlib.h>
#include <yaml.h>

#include "policy.h"

#define SL_POLICY_FILE_MAX	(8u << 20)	/* bytes of one YAML policy file */
#define SL_SET_FILE_MAX		(128u << 20)	/* bytes of one set file */
#define SL_NAME_MAX		63		/* rule and set names */
#define SL_SETFILE_ERRS_MAX	20		/* bad lines reported per set file */
#define SL_FILE_ERRS_MAX	200		/* errors reported per policy file */

/*
 * Cross-file checks of a parsed policy: duplicate set and rule names (both
 * locations), @set references. Returns the number of errors added to DIAGS.
 */
int policy_check(struct sl_policy *pol, struct sl_diags *diags);

/*
 * Parse the policy file PATH into POL (policy_parse.c): errors into DIAGS and
 * counted in *ERRS, the first -errno of an unreadable input in *IOERR.
 * MAPPED_OK: a rule's IPv4-mapped address is taken as written (the rules of
 * an edits file, which an older agent let hold one), not refused.
 */
void sl_policy_parse_file(struct sl_policy *pol, struct sl_diags *diags, const char *path,
			  bool mapped_ok, int *errs, int *ioerr);
/* policy_load_paths of the one file PATH, with sl_policy_parse_file's MAPPED_OK. */
int sl_policy_load_edit_rules(const char *path, struct sl_policy *pol, struct sl_diags *diags);

/*
 * Does glob A match every interface name (1 to 15 bytes, no '/', ':' or
 * whitespace) that glob B matches, as fnmatch(3) without flags? 1: yes;
 * 0: no, and WITNESS (16 bytes) holds a name B matches and A does not;
 * -1: cannot tell (a character class, or too many states to walk).
 */
int sl_glob_covers(const char *a, const char *b, char *witness);

/*
 * The YAML walk of policy_parse.c, for the parsers of the other top-level
 * keys (lb_parse.c: loadbalancers, decap; egress_parse.c: egress). Errors are
 * collected with the node's FILE:LINE:COL, as for every other key.
 */
struct pctx;

/* A pair of a fixed-schema mapping (sl_y_fields). */
struct kv {
	yaml_node_t *key, *val;
};

typedef void (*item_fn)(struct pctx *c, yaml_node_t *n, void *arg);

struct sl_policy *sl_y_policy(struct pctx *c);
yaml_node_t *sl_y_node(struct pctx *c, int idx);	/* NULL past the alias budget */
const char *sl_y_str(const yaml_node_t *n);		/* a scalar's text */
bool sl_y_null(const yaml_node_t *n);
const char *sl_y_kind(const yaml_node_t *n);		/* "a mapping", "a list", ... */
struct sl_loc sl_y_loc(const struct pctx *c, const yaml_node_t *n);
__attribute__((format(printf, 3, 4)))
void sl_y_err(struct pctx *c, const yaml_node_t *n, const char *fmt, ...);
void sl_y_oom(struct pctx *c);
/* OUT[i] = the pair of key ALLOWED[i]; unknown and duplicate keys are reported. */
void sl_y_fields(struct pctx *c, yaml_node_t *m, const char *what,
		 const char *const *allowed, size_t nallowed, struct kv *out);
/* FN for the value V or each item of the list V (an empty list: EMPTY_ERR, if set). */
void sl_y_each(struct pctx *c, const char *what, const char *empty_err, yaml_node_t *v,
	       item_fn fn, void *arg);
int sl_y_bool(const yaml_node_t *n, bool *b);		/* 0 or -EINVAL */
int sl_y_count(const yaml_node_t *n, uint32_t *v);	/* 0, -ERANGE (0 or < 0), -EINVAL */
bool sl_name_ok(const char *s);				/* rule, set, service names */
/*
 * Interface names and globs of V, checked as `firewall: interfaces:` are;
 * an empty list is the error "interfaces: empty list EMPTY_ERR" (what it
 * would do, and what to write instead: the key itself is required).
 */
void sl_y_ifaces(struct pctx *c, yaml_node_t *v, const char *empty_err, char ***ifaces,
		 struct sl_loc **locs, size_t *n);
/* Prefixes and @set references of V (a `src:`/`dst:` value) appended to *V, *N. */
void sl_y_addrs(struct pctx *c, const char *what, const char *empty_err, yaml_node_t *v,
		struct sl_addr_item **items, size_t *n);
/* `allow` or `deny` into *A: 0 or -EINVAL. */
int sl_y_action(const yaml_node_t *n, enum sluice_action *a);
/*
 * The rule list V into FW's rules. EGRESS: egress rules (no src, no sport:
 * those are the socket's own; the name is optional, "ENTRY.INDEX" when
 * omitted, ENTRY being FW's name).
 */
void sl_y_rules(struct pctx *c, struct sl_firewall *fw, yaml_node_t *v, bool egress);
/* Free the rules of FW (not FW itself). */
void sl_rules_free(struct sl_firewall *fw);

/* lb_parse.c: the `loadbalancers` and `decap` keys, the checks across files. */
void lb_parse_services(struct pctx *c, yaml_node_t *key, yaml_node_t *v);
void lb_parse_decap(struct pctx *c, yaml_node_t *key, yaml_node_t *v);
int lb_check(struct sl_policy *pol, struct sl_diags *diags);
void lb_policy_free(struct sl_policy *pol);

/* egress_parse.c: the `egress` key, the checks across entries, freeing. */
void egress_parse(struct pctx *c, yaml_node_t *key, yaml_node_t *v);
int egress_check(struct sl_policy *pol, struct sl_diags *diags);
void egress_policy_free(struct sl_policy *pol);

/*
 * Make room for element N of the array *V of SZ-byte elements, whose
 * capacity is implied by its length: the next power of two (at least 4).
 */
static inline int sl_vec_reserve(void **v, size_t n, size_t sz)
{
	void *nv;

	if (n >= 4 && (n & (n - 1)))
		return 0;
	nv = realloc(*v, (n < 4 ? 4 : 2 * n) * sz);
	if (!nv)
		return -1;
	*v = nv;
	return 0;
}

#endif /* SLUICE_POLICY_INT_H */
