/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The firewall rules' identities across reloads: counter ids (a rule keeps
 * its fw_rule_cnt entry while its name and content stay the same, like an
 * nft named counter) and, for drop events, what each recent policy
 * generation called its rules (an event read after a reload still names
 * the rule that dropped the packet).
 */
#ifndef SLUICED_RULES_H
#define SLUICED_RULES_H

#include <stddef.h>
#include <stdint.h>

struct agent;
struct sl_policy;

/* Counter ids for every rule of a policy about to be applied. */
struct rules_plan {
	uint32_t *ids;		/* one per rule, the sections one after the other */
	size_t n;
	uint32_t *fresh;	/* ids taken for new or changed rules (counters zeroed) */
	size_t nfresh;
};

/* Read the ids the pinned fw_cnt_key says are taken (a previous agent's). */
int rules_open(struct agent *a);
void rules_close(struct agent *a);
/*
 * Give every rule of POL a counter id: its own when a rule of the same name
 * and content holds one, else a free one, zeroed. 0 or -errno (logged).
 */
int rules_plan(struct agent *a, const struct sl_policy *pol, struct rules_plan *p);
/* POL was not applied: give back the fresh ids. */
void rules_abort(struct agent *a, struct rules_plan *p);
/*
 * POL is in force as generation GEN (every interface flipped): the ids only
 * the previous policy used are free again (a packet of the old slot counting
 * into one for a moment is harmless: an id is zeroed when it is taken), and
 * GEN's rule names are kept for events.
 */
void rules_commit(struct agent *a, const struct sl_policy *pol, struct rules_plan *p,
		  uint64_t gen);
/* The counter id of rule I of section SECTION of the policy in force; UINT32_MAX: none. */
uint32_t rules_counter(const struct agent *a, size_t section, size_t i);
/*
 * The name of rule RULE of section SECTION in generation GEN (low 32 bits, as
 * drop events carry it); NULL when that generation is too old to be known.
 */
const char *rules_name(const struct agent *a, uint32_t gen, uint32_t section, uint32_t rule);
/*
 * The same for egress entries (their events carry the generation of the
 * entry's slot): rule RULE of entry ENTRY (index), and the entry's name.
 */
const char *rules_eg_name(const struct agent *a, uint32_t gen, uint32_t entry, uint32_t rule);
const char *rules_eg_entry(const struct agent *a, uint32_t gen, uint32_t entry);

#endif /* SLUICED_RULES_H */
