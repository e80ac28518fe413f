/* SPDX-License-Identifier: GPL-2.0-only */
/* The CLI blocklist's pinned maps sl_block4(h), sl_block6(h) (block.c). */
#ifndef SLUICED_BLOCK_H
#define SLUICED_BLOCK_H

#include <stddef.h>

#include "policy_edit.h"

struct agent;

/* One prefix into or out of its trie (atomic for a packet). 0 or -errno. */
int block_put(struct agent *a, const struct sl_prefix *p);
int block_drop(struct agent *a, const struct sl_prefix *p);

/* A whole policy's blocklist NEXT around its flip. */
struct block_plan {
	struct sl_edits read;		/* the tries as read (no policy applied yet) */
	struct sl_edits *cur;		/* what the tries held: a->edits or &read */
	struct sl_prefix *added;	/* put in by block_before */
	size_t nadded, cap;
};

/* Before the flip: NEXT's prefixes the tries lack go in. 0 or -errno (nothing changed). */
int block_before(struct agent *a, struct sl_edits *next, struct block_plan *bp);
/* The flip failed: out again. */
void block_abort(struct agent *a, struct block_plan *bp);
/* After the flip: the prefixes NEXT does not hold come out. */
void block_after(struct agent *a, struct sl_edits *next, struct block_plan *bp);
void block_plan_free(struct block_plan *bp);

/*
 * The policy in force's set "sluice.block" (what `block list` and `policy
 * show` print) follows a->edits's blocklist, position for position:
 * block_set_adopt after a policy was applied, then one add (at the end) or
 * one del (the last takes position I's place) per edit.
 */
void block_set_adopt(struct agent *a);
int block_set_add(struct agent *a, const struct sl_prefix *p);
void block_set_del(struct agent *a, size_t i);

#endif /* SLUICED_BLOCK_H */
