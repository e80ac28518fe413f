// SPDX-License-Identifier: GPL-2.0-only
/*
 * The CLI blocklist in the kernel: the pinned LPM tries sl_block4 and
 * sl_block6 (bpf/sluice_abi.h), shared by every policy slot and edited in
 * place. A slot whose fw_config.block is set (rule 0 is the blocklist)
 * looks the packet's source up there before conntrack; the rule's prefixes
 * are not in the slot's own tables. So a `sluice block add|del` is one
 * journal line and one trie update per prefix (each atomic for a packet),
 * not a new slot (edit.c).
 *
 * A whole policy applied (start, reload, rule edits) brings the tries to its
 * edits' blocklist around the flip: the prefixes it adds go in before any
 * link runs its slots, the ones it drops leave after; a failed apply takes
 * out what went in. What the tries hold is a->edits's blocklist once the
 * agent applied a policy (edits_live); before that (start) it is read from
 * the tries themselves, which the previous agent left pinned.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent.h"
#include "block.h"
#include "log.h"
#include "policy_edit.h"
#include "prefix.h"
#include "sluice_xdp.skel.h"

static int trie_fd(struct agent *a, int family)
{
	return bpf_object__find_map_fd_by_name(a->xdp->obj, family == AF_INET ?
					       SLUICE_MAP_BLOCK4 : SLUICE_MAP_BLOCK6);
}

/* P as the key of its trie; the trie's fd, or -errno. */
static int trie_key(struct agent *a, const struct sl_prefix *p, struct fw_lpm6_key *k)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = p->len;
	memcpy(k->addr, p->addr, p->family == AF_INET ? 4 : 16);
	return trie_fd(a, p->family);
}

int block_put(struct agent *a, const struct sl_prefix *p)
{
	struct fw_lpm6_key k;
	int fd = trie_key(a, p, &k);
	uint8_t one = 1;

	if (fd < 0)
		return fd;
	return bpf_map_update_elem(fd, &k, &one, BPF_ANY) ? -errno : 0;
}

int block_drop(struct agent *a, const struct sl_prefix *p)
{
	struct fw_lpm6_key k;
	int fd = trie_key(a, p, &k);

	if (fd < 0)
		return fd;
	return bpf_map_delete_elem(fd, &k) && errno != ENOENT ? -errno : 0;
}

/* What the tries hold, read from the kernel into CUR's blocklist. */
static int tries_read(struct agent *a, struct sl_edits *cur)
{
	static const int fams[2] = { AF_INET, AF_INET6 };

	for (int f = 0; f < 2; f++) {
		int fd = trie_fd(a, fams[f]);
		struct fw_lpm6_key k, next;
		void *prev = NULL;

		if (fd < 0)
			return fd;
		while (!bpf_map_get_next_key(fd, prev, &next)) {
			struct sl_prefix p = { .family = (uint8_t)fams[f],
					       .len = (uint8_t)next.prefixlen };

			memcpy(p.addr, next.addr, fams[f] == AF_INET ? 4 : 16);
			if (sl_edits_add_block(cur, &p))
				return -ENOMEM;
			k = next;
			prev = &k;
		}
		if (errno != ENOENT)
			return -errno;
	}
	return 0;
}

void block_plan_free(struct block_plan *bp)
{
	sl_edits_free(&bp->read);
	free(bp->added);
	memset(bp, 0, sizeof(*bp));
}

int block_before(struct agent *a, struct sl_edits *next, struct block_plan *bp)
{
	struct sl_edits *cur = &a->edits;
	int err = 0;

	memset(bp, 0, sizeof(*bp));
	if (!a->edits_live) {
		err = tries_read(a, &bp->read);
		if (err) {
			pr_err("cannot read the blocklist maps: %s", strerror(-err));
			block_plan_free(bp);
			return err;
		}
		cur = &bp->read;
	}
	bp->cur = cur;
	for (size_t i = 0; i < next->nblock && !err; i++) {
		if (sl_edits_find_block(cur, &next->block[i]) >= 0)
			continue;
		if (bp->nadded == bp->cap) {
			size_t cap = bp->cap ? 2 * bp->cap : 64;
			struct sl_prefix *v = realloc(bp->added, cap * sizeof(*v));

			if (!v) {
				err = -ENOMEM;
				break;
			}
			bp->added = v;
			bp->cap = cap;
		}
		err = block_put(a, &next->block[i]);
		if (!err)
			bp->added[bp->nadded++] = next->block[i];
	}
	if (err) {
		char pfx[64];

		sl_prefix_format(&next->block[bp->nadded < next->nblock ? bp->nadded : 0], pfx,
				 sizeof(pfx));
		pr_err("cannot add %s to the blocklist maps: %s", pfx, strerror(-err));
		block_abort(a, bp);
	}
	return err;
}

void block_abort(struct agent *a, struct block_plan *bp)
{
	for (size_t i = 0; i < bp->nadded; i++)
		block_drop(a, &bp->added[i]);
	block_plan_free(bp);
}

void block_after(struct agent *a, struct sl_edits *next, struct block_plan *bp)
{
	struct sl_edits *cur = bp->cur;

	for (size_t i = 0; cur && i < cur->nblock; i++) {
		int err;

		if (sl_edits_find_block(next, &cur->block[i]) >= 0)
			continue;
		err = block_drop(a, &cur->block[i]);
		if (err) {
			char pfx[64];

			sl_prefix_format(&cur->block[i], pfx, sizeof(pfx));
			pr_err("cannot remove %s from the blocklist maps (no policy blocks with "
			       "it now): %s", pfx, strerror(-err));
		}
	}
	block_plan_free(bp);
}

void block_set_adopt(struct agent *a)
{
	struct sl_set *s = (struct sl_set *)policy_find_set(&a->pol, SL_BLOCK_NAME);
	const struct sl_edits *e = &a->edits;
	size_t cap = 64;
	struct sl_prefix *v;

	a->block_set = NULL;
	if (!s)
		return;
	while (cap < e->nblock + 1)
		cap *= 2;
	/* room to grow, and the edits' order (the merge copied it: checked) */
	v = realloc(s->v, cap * sizeof(*v));
	if (!v) {
		pr_warn("out of memory: `block list` shows the list as applied, without later "
			"edits");
		return;
	}
	s->v = v;
	if (s->n != e->nblock || memcmp(s->v, e->block, e->nblock * sizeof(*e->block))) {
		memcpy(s->v, e->block, e->nblock * sizeof(*e->block));
		s->n = e->nblock;
	}
	a->block_set = s;
	a->block_cap = cap;
}

int block_set_add(struct agent *a, const struct sl_prefix *p)
{
	struct sl_set *s = a->block_set;

	if (!s)
		return 0;
	if (s->n == a->block_cap) {
		struct sl_prefix *v = realloc(s->v, 2 * a->block_cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		a->block_cap *= 2;
	}
	s->v[s->n++] = *p;
	return 0;
}

void block_set_del(struct agent *a, size_t i)
{
	struct sl_set *s = a->block_set;

	if (!s || i >= s->n)
		return;
	s->v[i] = s->v[s->n - 1];
	s->n--;
}
