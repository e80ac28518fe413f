/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Golden files of compiled policies, in terms a reviewer can check against
 * the policy: for each section its rules and actions, then for each packet
 * field which rules match which values (protocol numbers, ports, address
 * ranges), e.g.
 *
 *	section fw0: 5 rules, default deny
 *	rule 1 ssh: allow
 *	dport 8000-8080 -> 0 1 3
 *	ports none -> 0 3
 *	src4 203.0.113.0-203.0.113.15 -> 1 2 3 4
 *
 * Nothing in it depends on how the tables are laid out (class ids, tbl8
 * groups, tries): the values come from fw_tables_field_rules and
 * fw_tables_action, so a new table layout that means the same produces the
 * same file.
 */
#ifndef SLUICE_TESTS_GOLDEN_H
#define SLUICE_TESTS_GOLDEN_H

#include <stdbool.h>
#include <stdio.h>

#include "fw_tables.h"

/* Write section FW of POL, compiled into T, to OUT in the golden format. */
void golden_dump(FILE *out, const struct sl_policy *pol, const struct sl_firewall *fw,
		 const struct fw_tables *t);

/*
 * Compare TEXT (LEN bytes) with the golden file PATH; true when equal. With
 * UPDATE_GOLDEN=1 in the environment, PATH is rewritten and the result is
 * false all the same: a rewritten golden file passes nothing until a person
 * has read its diff and run the tests again without UPDATE_GOLDEN.
 */
bool golden_compare(const char *path, const char *text, size_t len);

#endif /* SLUICE_TESTS_GOLDEN_H */
