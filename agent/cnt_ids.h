/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Counter ids that belong to rules (cnt_ids.c): a per-CPU counter map and a
 * pinned owner map (id -> the owning rule's 64-bit key, 0: free) of the same
 * size. A rule keeps its id, and so its counts, while its key (name and
 * content) stays in the policy, like an nft named counter; a new or changed
 * rule takes a free id, zeroed before any slot counts into it. The maps
 * have room for the policy in force and one replacing it. Used for the
 * firewall's rules (fw_rule_cnt_v2, fw_cnt_key) and the egress entries'
 * (eg_rule_cnt_v2, eg_cnt_key).
 */
#ifndef SLUICED_CNT_IDS_H
#define SLUICED_CNT_IDS_H

#include <stddef.h>
#include <stdint.h>

struct cnt_ids {
	const char *what;	/* "rule", "egress rule": for messages */
	int cnt_fd;		/* the per-CPU struct sl_counter array */
	int key_fd;		/* the pinned owners, u64 per id */
	uint32_t n;		/* ids given out: [0, n) */
	uint64_t *key;		/* a copy of the owners */
};

/* Ids and owners read from KEY_FD; N ids. 0 or -errno (logged). */
int cnt_ids_open(struct cnt_ids *c, const char *what, int cnt_fd, int key_fd, uint32_t n);
void cnt_ids_close(struct cnt_ids *c);
/*
 * An id for each of the N keys of KEYS (nonzero) into IDS: the one its key
 * owns, else a free one, zeroed and owned from now on, also listed in
 * FRESH (room for N) with its count in *NFRESH. 0 or -errno (logged); on
 * failure the fresh ids are free again.
 */
int cnt_ids_plan(struct cnt_ids *c, const uint64_t *keys, size_t n, uint32_t *ids,
		 uint32_t *fresh, size_t *nfresh);
/* IDS (N) own KEYS from now on, as they are, counts kept (an upgrade's first plan). */
int cnt_ids_seed(struct cnt_ids *c, const uint64_t *keys, const uint32_t *ids, size_t n);
/* The plan was not applied: its fresh ids are free again. */
void cnt_ids_abort(struct cnt_ids *c, const uint32_t *fresh, size_t nfresh);
/*
 * The policy of IDS (N) is in force: every other owned id is free again (a
 * packet of the old slot counting into one for a moment is harmless: an id
 * is zeroed when it is taken).
 */
void cnt_ids_commit(struct cnt_ids *c, const uint32_t *ids, size_t n);

#endif /* SLUICED_CNT_IDS_H */
