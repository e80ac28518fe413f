/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * YAML text -> libyaml document, with limits a hostile or careless file
 * cannot get past: the text must be UTF-8 without NUL; mappings and lists
 * nest at most `depth` levels; the document, every alias expanded, has at
 * most `nodes` nodes; the parse takes at most `time_ms`. The document is
 * built here from libyaml's events (not by yaml_parser_load), so a limit
 * stops the parse where it is crossed, before anything more is read or
 * built: 80,000 nested '[' cost what 65 do.
 */
#ifndef SLUICE_YAML_DOC_H
#define SLUICE_YAML_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "diag.h"

struct sl_yaml_limits {
	unsigned int depth;	/* mappings and lists inside one another */
	unsigned long nodes;	/* nodes of the document with its aliases expanded */
	unsigned int time_ms;	/* wall time of one parse */
	bool no_aliases;	/* anchors and aliases are an error (files a program writes) */
};

#define SL_YAML_DEPTH_MAX	64
#define SL_YAML_NODES_MAX	(4ul << 20)
#define SL_YAML_TIME_MS		10000

/* The limits of policy files (docs/policy.md#limits). */
extern const struct sl_yaml_limits sl_yaml_policy_limits;

/*
 * Parse the one YAML document of BUF (LEN bytes, FILE names it in errors)
 * into DOC. Returns 0 with DOC to be freed by yaml_document_delete (its root
 * is NULL for an empty file), or -EINVAL with one error FILE:LINE:COL in
 * DIAGS (DOC is then empty), or -ENOMEM.
 */
int sl_yaml_load(const char *file, const char *buf, size_t len,
		 const struct sl_yaml_limits *lim, yaml_document_t *doc, struct sl_diags *diags);

#endif /* SLUICE_YAML_DOC_H */
