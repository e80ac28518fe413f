// SPDX-License-Identifier: GPL-2.0-only
/*
 * The CLI blocklist in the kernel: the pinned hashes of single addresses
 * sl_block4h and sl_block6h and LPM tries of shorter prefixes sl_block4 and
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

/* The map of P: the hash of single addresses, or the trie of shorter prefixes. */
static int map_fd(struct agent *a, int family, bool single)
{
	const char *name = family == AF_INET ?
			   (single ? SLUICE_MAP_BLOCK4H : SLUICE_MAP_BLOCK4) :
			   (single ? SLUICE_MAP_BLOCK6H : SLUICE_MAP_BLOCK6);

	return bpf_object__find_map_fd_by_name(a->xdp->obj, name);
}

static bool single(const struct sl_prefix *p)
{
	return p->len == (p->family == AF_INET ? 32 : 128);
}

/* P as the key of its map (*K: the trie's key; the hash's is its address). */
static int map_key(struct agent *a, const struct sl_prefix *p, struct fw_lpm6_key *k,
		   const void **key)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = p->len;
	memcpy(k->addr, p->addr, p->family == AF_INET ? 4 : 16);
	*key = single(p) ? (const void *)k->addr : (const void *)k;
	return map_fd(a, p->family, single(p));
}

int block_put(struct agent *a, const struct sl_prefix *p)
{
	struct fw_lpm6_key k;
	const void *key;
	int fd = map_key(a, p, &k, &key);
	uint8_t one = 1;

	if (fd < 0)
		return fd;
	return bpf_map_update_elem(fd, key, &one, BPF_ANY) ? -errno : 0;
}

int block_drop(struct agent *a, const struct sl_prefix *p)
{
	struct fw_lpm6_key k;
	const void *key;
	int fd = map_key(a, p, &k, &key);

	if (fd < 0)
		return fd;
	return bpf_map_delete_elem(fd, key) && errno != ENOENT ? -errno : 0;
}

/* The single addresses of FAMILY in hash FD, in batches (1M: tens of ms, not seconds). */
static int hash_read(int fd, int family, struct sl_edits *cur)
{
	enum { BATCH = 4096 };
	size_t len = family == AF_INET ? 4 : 16;
	uint8_t *keys = malloc(BATCH * len), vals[BATCH];
	uint32_t batch, n;
	void *in = NULL;
	int err = 0;

	if (!keys)
		return -ENOMEM;
	for (;;) {
		LIBBPF_OPTS(bpf_map_batch_opts, opts);
		int r;
		bool done;

		n = BATCH;
		r = bpf_map_lookup_batch(fd, in, &batch, keys, vals, &n, &opts);
		done = r && errno == ENOENT;	/* the last batch (N may hold keys) */
		if (r && !done)
			err = -errno;
		for (uint32_t i = 0; i < n && !err; i++) {
			struct sl_prefix p = { .family = (uint8_t)family, .len = (uint8_t)(len * 8) };

			memcpy(p.addr, keys + i * len, len);
			if (sl_edits_add_block(cur, &p))
				err = -ENOMEM;
		}
		if (err || done || !n)
			break;
		in = &batch;
	}
	free(keys);
	return err;
}

/* What the maps hold, read from the kernel into CUR's blocklist. */
static int tries_read(struct agent *a, struct sl_edits *cur)
{
	static const int fams[2] = { AF_INET, AF_INET6 };

	for (int m = 0; m < 4; m++) {
		int fam = fams[m / 2], len = fam == AF_INET ? 4 : 16;
		bool hash = m % 2;
		int fd = map_fd(a, fam, hash);
		struct fw_lpm6_key k, next;
		void *prev = NULL;

		if (fd < 0)
			return fd;
		if (hash) {
			int err = hash_read(fd, fam, cur);

			if (err)
				return err;
			continue;
		}
		/* the hash's key is the address alone: read into next.addr */
		while (!bpf_map_get_next_key(fd, prev, hash ? (void *)next.addr : (void *)&next)) {
			struct sl_prefix p = { .family = (uint8_t)fam,
					       .len = (uint8_t)(hash ? (__u32)len * 8 : next.prefixlen) };

			memcpy(p.addr, next.addr, (size_t)len);
			if (sl_edits_add_block(cur, &p))
				return -ENOMEM;
			k = next;
			prev = hash ? (void *)k.addr : (void *)&k;
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
