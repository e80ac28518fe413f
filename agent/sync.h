/* SPDX-License-Identifier: GPL-2.0-only */
/* Policy dir -> check -> compile -> write the maps; reloads on change and SIGHUP. */
#ifndef SLUICED_SYNC_H
#define SLUICED_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent;
struct sl_policy;
struct sl_edits;

/*
 * Load and check the policy dir and the CLI's edits file into POL;
 * diagnostics are logged. An edits file that does not load fails the load,
 * unless the policy in force was applied without it (a->edits_refused, also
 * at a start with nothing in force): then POL holds the hand-written files
 * alone and *NO_EDITS is set. a->edits_error says why the file does not load.
 * *E: the edits merged (empty with *NO_EDITS), for sync_apply.
 */
int sync_load(struct agent *a, struct sl_policy *pol, struct sl_edits *e, bool *no_edits);
/*
 * Compile POL as generation a->generation + 1 into a new policy slot and
 * flip every interface to it; on success POL becomes the policy in force
 * (the agent owns it), on failure it is freed and the kernel holds exactly
 * what it held. E (the edits POL holds, EDITS_OK: from a file that loaded)
 * goes the same way: a->edits, or freed; the blocklist tries follow it.
 */
int sync_apply(struct agent *a, struct sl_policy *pol, struct sl_edits *e, bool edits_ok);
/*
 * The index of rule 0 of section SECTION when the sections' rules are put
 * one after the other (rules.c keeps the counter ids that way).
 */
uint32_t sync_rule_base(const struct sl_policy *pol, size_t section);
/* Wait out the grace period since interfaces last changed slot or program. */
void sync_grace(struct agent *a);
/*
 * What an apply leaves (the slots and load balancer tables just left) is
 * freed after the grace period, from the event loop: sync_gc_timeout says
 * in how many ms (0: now, -1: nothing pending), sync_gc_run frees it.
 */
long sync_gc_timeout(const struct agent *a);
void sync_gc_run(struct agent *a);
/* SIGHUP or a change of the policy dir: load, check, apply, re-match links. */
int sync_reload(struct agent *a, const char *why);
/*
 * A reload (or the start's load) that failed with ERR: for want of fds or
 * memory, arm the timer that reads the dir again; otherwise nothing.
 */
void sync_retry(struct agent *a, int err);

/* inotify on the policy dir with a debounce timer, registered with the loop. */
int sync_watch_open(struct agent *a);
void sync_watch_close(struct agent *a);

#endif /* SLUICED_SYNC_H */
