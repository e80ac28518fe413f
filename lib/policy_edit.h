/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The CLI's edits: rules added with `sluice rule add`, the quick blocklist
 * of `sluice block add` and the load balancer's `sluice lb drain`. The agent keeps them in one file of its own inside
 * the policy dir (SL_EDITS_FILE, a dot-file: the loader and the dir watch
 * skip it, so hand-written files are never rewritten and the agent's own
 * rename-over never triggers a reload) and merges them into the policy read
 * from the hand-written files:
 *
 *   rule 0        "sluice.block": deny, src @sluice.block (when the list is not empty)
 *   ...           hand-written rules, in file order, each preceded by the CLI
 *                 rules added with --before it
 *   ...           CLI rules added without --before, in the order they were added
 *
 * Every rule of the file goes through the policy parser and checker (the same
 * ones as hand-written rules): see sl_edit_rules_build.
 *
 * A blocklist edit does not rewrite the file: the agent appends one line per
 * prefix to the journal beside it (SL_EDITS_JOURNAL, also a dot-file),
 *
 *   SEQ block add PREFIX
 *   SEQ block del PREFIX
 *
 * with SEQ counting up across the journal's whole life. The file says which
 * lines it already holds ("journal: SEQ", absent: 0); reading replays the
 * later ones in order. Writing the file (a rule edit, or compacting a long
 * journal) writes the whole blocklist and the last SEQ, then empties the
 * journal: a crash in between leaves lines the file already holds, skipped.
 * A last line without its newline was never acknowledged (the agent syncs
 * before answering): ignored, and cut off by the next append. Other verbs
 * are errors (FILE:LINE:COL), so a newer agent's journal is never half read.
 * The blocklist is written as a YAML literal block, one prefix per line (a
 * list of strings, as earlier agents wrote it, is read too).
 */
#ifndef SLUICE_POLICY_EDIT_H
#define SLUICE_POLICY_EDIT_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "policy.h"

#define SL_EDITS_FILE		".sluice-cli.yaml"
#define SL_EDITS_JOURNAL	".sluice-cli.journal"	/* edits since the file (see below) */
#define SL_BLOCK_NAME		"sluice.block"	/* the set and rule 0 */
#define SL_RESERVED_PREFIX	"sluice."	/* names the CLI's own objects use */
#define SL_EDITS_MAX_BLOCK	(2u << 20)	/* prefixes in the quick blocklist */
#define SL_EDITS_FILE_MAX	(128u << 20)	/* bytes of the edits file, and of the journal */

/* The fields of a rule as the operator wrote them (CLI arguments or YAML). */
enum sl_edit_field {
	SL_EF_NAME,
	SL_EF_ACTION,
	SL_EF_SRC,
	SL_EF_DST,
	SL_EF_PROTO,
	SL_EF_SPORT,
	SL_EF_DPORT,
	SL_EF_EARLY,
	SL_EF_BEFORE,
	SL_EF_SECTION,
	SL_EF_N,
};

/* "name", "action", "src", ...: the YAML keys and (with "--") the CLI options */
extern const char *const sl_edit_field_names[SL_EF_N];

struct sl_edit_rule {
	struct sl_loc loc;		/* the rule in the edits file (line 0: not written yet) */
	bool has[SL_EF_N];		/* the field was given */
	char **v[SL_EF_N];		/* its values (name, action, early, before,
					 * section: one) */
	size_t n[SL_EF_N];
	struct sl_loc floc[SL_EF_N];	/* where each field was written; the CLI uses
					 * {"--src", 0, 0} so errors name the argument */
};

struct sl_edits {
	char *path;			/* DIR/SL_EDITS_FILE */
	struct sl_edit_rule *rules;
	size_t nrules;
	struct sl_prefix *block;	/* the quick blocklist, in the order added (a
					 * removed prefix's place goes to the last one) */
	struct sl_loc *block_loc;
	size_t nblock;
	uint32_t *bidx;			/* index of block: its position + 1, 0 empty */
	size_t bmask;			/* slots - 1, a power of two minus one; 0: none */
	char *jpath;			/* DIR/SL_EDITS_JOURNAL */
	uint64_t seq;			/* the last journal line held (file or journal) */
	uint64_t file_seq;		/* ... held by the file itself */
	size_t jlen;			/* journal bytes up to its last complete line */
	size_t jlines;			/* journal lines past file_seq */
	struct sl_edits_stamp {		/* the files as last read or written: */
		unsigned long long dev, ino, size, mtime;	/* the edits file (ino 0: none) */
		unsigned long long jdev, jino;			/* the journal (jino 0: none) */
	} stamp;
	char **drains;			/* `sluice lb drain`: "VIP:PORT BACKEND" (lb_policy.h) */
	struct sl_loc *drain_loc;
	size_t ndrains;
};

/* The path of the edits file of DIR (malloc'd), NULL when out of memory. */
char *sl_edits_path(const char *dir);

/*
 * Read DIR's edits file into E. A missing file is an empty list of edits,
 * and its journal then applies nothing (its lines were changes to the file
 * removed); E's seq counts on from its last line, so that the file written
 * next holds them. Returns 0, -EINVAL with errors in DIAGS (FILE:LINE:COL),
 * or -errno.
 */
int sl_edits_read(const char *dir, struct sl_edits *e, struct sl_diags *diags);
int sl_edits_parse(const char *path, const char *buf, size_t len, struct sl_edits *e,
		   struct sl_diags *diags);
void sl_edits_free(struct sl_edits *e);

/* The YAML text of E, as the agent writes it (malloc'd; NULL: out of memory). */
char *sl_edits_format(const struct sl_edits *e);

/*
 * Write TEXT to PATH atomically: a temp file beside it, fsync, rename over,
 * fsync of the dir. sl_file_stage does the first half (*TMP is the temp
 * path, malloc'd), sl_file_commit the rename, sl_file_abort removes the
 * temp file. Returns 0 or -errno with a message in ERR.
 */
int sl_file_stage(const char *path, const char *text, char **tmp, char *err, size_t errlen);
int sl_file_commit(const char *tmp, const char *path, char *err, size_t errlen);
void sl_file_abort(char *tmp);

/* Append a copy of R to E (which takes ownership of nothing in R). */
int sl_edits_add_rule(struct sl_edits *e, const struct sl_edit_rule *r, size_t at);
void sl_edit_rule_del(struct sl_edits *e, size_t i);
/* Append the drain "VIP:PORT BACKEND" to E (not written yet); 0 or -ENOMEM. */
int sl_edits_add_drain(struct sl_edits *e, const char *drain);
/* Append P to the blocklist of E (not written yet: line 0); 0 or -ENOMEM. */
int sl_edits_add_block(struct sl_edits *e, const struct sl_prefix *p);
/* Build the index of E's blocklist now (else at the first lookup); 0 or -ENOMEM. */
int sl_edits_index(struct sl_edits *e);
/* The position of P in E's blocklist, or -1 (a hash lookup). */
long sl_edits_find_block(struct sl_edits *e, const struct sl_prefix *p);
/* Remove block[I]: the last prefix takes its place. */
void sl_edits_del_block(struct sl_edits *e, size_t i);

/*
 * Journal (see above). sl_edits_journal_line formats one line of SEQ into
 * BUF (at least SL_JOURNAL_LINE bytes) and returns its length.
 * sl_edits_journal_append writes TEXT (whole lines) after the last complete
 * line and syncs it (creating the journal: and its dir entry); on success
 * E's jlen, jlines and seq (to LAST) follow. sl_edits_journal_cut puts the
 * journal back to LEN bytes (an edit that did not apply). 0 or -errno with
 * ERR set.
 */
#define SL_JOURNAL_LINE	96
#define SL_JOURNAL_COMPACT	4096	/* lines, and at least the blocklist's length */
size_t sl_edits_journal_line(char *buf, uint64_t seq, bool add, const struct sl_prefix *p);
int sl_edits_journal_append(struct sl_edits *e, const char *text, size_t len, size_t lines,
			    uint64_t last, char *err, size_t errlen);
int sl_edits_journal_cut(struct sl_edits *e, size_t len, size_t lines, uint64_t seq,
			 char *err, size_t errlen);
/* After the file was written with E: empty the journal. 0 or -errno. */
int sl_edits_journal_reset(struct sl_edits *e);
/*
 * E's files as they are on disk now: sl_edits_stamp_files records them
 * (after E was read or written), sl_edits_files_same says whether they are
 * still what E holds: the same edits file (device, inode, size, mtime) and a
 * journal of E's jlen bytes. Anything else (a hand edit, the file removed,
 * the journal emptied) means E no longer is what a restart would read.
 */
void sl_edits_stamp_files(struct sl_edits *e);
bool sl_edits_files_same(const struct sl_edits *e);
/* The index of the rule named NAME in E, or -1. */
long sl_edits_find_rule(const struct sl_edits *e, const char *name);
/* Add one value to field F of R; 0 or -ENOMEM. */
int sl_edit_rule_add(struct sl_edit_rule *r, enum sl_edit_field f, const char *value);
void sl_edit_rule_free(struct sl_edit_rule *r);

/*
 * Parse and check the rules of E with the policy parser (a generated policy
 * with one line per field; @set references are checked for their form only,
 * the sets themselves by sl_edits_merge). Errors are reported at the
 * fields' locations (floc). On success *POL holds the rules in E's order.
 */
int sl_edit_rules_build(const struct sl_edits *e, struct sl_policy *pol,
			struct sl_diags *diags);

/*
 * Merge E into POL (parsed from the hand-written files, not yet checked): the
 * blocklist as set and rule 0, the rules at their places. The checks across
 * files (duplicate names, @set references against the real sets, rule count)
 * are the caller's, once, on the merged policy: policy_load_with_edits.
 * Returns 0, -EINVAL with errors in DIAGS or -ENOMEM; POL is then to be
 * freed as it is.
 */
int sl_edits_merge(struct sl_policy *pol, const struct sl_edits *e, struct sl_diags *diags);

/*
 * What the agent applies (policy_load.c): the files of DIR parsed, E merged
 * in, the merged policy checked once. 0, or -errno with errors in DIAGS and
 * POL freed.
 */
int policy_load_with_edits(const char *dir, const struct sl_edits *e, struct sl_policy *pol,
			   struct sl_diags *diags);
/* The same with DIR's own edits file (sl_edits_read). */
int policy_load_dir_edits(const char *dir, struct sl_policy *pol, struct sl_diags *diags);

/* Did the CLI add R (it comes from the edits file)? */
bool sl_rule_from_edits(const struct sl_rule *r);
/* Is rule 0 of FW the CLI blocklist (fw_config.block)? */
bool sl_fw_has_block(const struct sl_firewall *fw);

#endif /* SLUICE_POLICY_EDIT_H */
