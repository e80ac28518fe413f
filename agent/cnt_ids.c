// SPDX-License-Identifier: GPL-2.0-only
/* Counter ids that belong to rules (cnt_ids.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "cnt_ids.h"
#include "fw_maps.h"
#include "log.h"

int cnt_ids_open(struct cnt_ids *c, const char *what, int cnt_fd, int key_fd, uint32_t n)
{
	int err;

	memset(c, 0, sizeof(*c));
	c->what = what;
	c->cnt_fd = cnt_fd;
	c->key_fd = key_fd;
	c->n = n;
	c->key = calloc(n, sizeof(*c->key));
	if (!c->key)
		return -ENOMEM;
	err = sl_array_read(key_fd, n, sizeof(*c->key), c->key);
	if (err)
		pr_err("cannot read the %s counters' owners: %s", what, strerror(-err));
	return err;
}

void cnt_ids_close(struct cnt_ids *c)
{
	free(c->key);
	c->key = NULL;
}

/* Own (KEY != 0) or free (KEY 0) id ID, here and in the pinned owners. */
static int key_set(struct cnt_ids *c, uint32_t id, uint64_t key)
{
	if (bpf_map_update_elem(c->key_fd, &id, &key, BPF_ANY))
		return -errno;
	c->key[id] = key;
	return 0;
}

/* An owned id and its key, sorted by key to find a rule's id. */
struct key_id {
	uint64_t key;
	uint64_t id;
};

static int cmp_key(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

int cnt_ids_plan(struct cnt_ids *c, const uint64_t *keys, size_t n, uint32_t *ids,
		 uint32_t *fresh, size_t *nfresh)
{
	struct key_id *owned = calloc(c->n + 1, sizeof(*owned));
	uint32_t next_free = 0;
	size_t nk = 0;
	int err = 0;

	*nfresh = 0;
	if (!owned)
		return -ENOMEM;
	for (uint32_t id = 0; id < c->n; id++)
		if (c->key[id])
			owned[nk++] = (struct key_id){ c->key[id], id };
	qsort(owned, nk, sizeof(*owned), cmp_key);
	for (size_t i = 0; i < n && !err; i++) {
		struct key_id *hit = bsearch(&keys[i], owned, nk, sizeof(*owned), cmp_key);

		if (hit) {
			ids[i] = (uint32_t)hit->id;
			continue;
		}
		while (next_free < c->n && c->key[next_free])
			next_free++;
		if (next_free >= c->n) {
			pr_err("no free %s counter (%u in use)", c->what, c->n);
			err = -ENOSPC;
			break;
		}
		/* zeroed before any slot counts into it: it starts from 0 */
		err = sl_percpu_zero(c->cnt_fd, next_free, sizeof(struct sl_counter));
		if (!err)
			err = key_set(c, next_free, keys[i]);
		if (err) {
			pr_err("cannot take %s counter %u: %s", c->what, next_free, strerror(-err));
			break;
		}
		ids[i] = next_free;
		fresh[(*nfresh)++] = next_free;
	}
	free(owned);
	if (err) {
		cnt_ids_abort(c, fresh, *nfresh);
		*nfresh = 0;
	}
	return err;
}

int cnt_ids_seed(struct cnt_ids *c, const uint64_t *keys, const uint32_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int err = ids[i] < c->n ? key_set(c, ids[i], keys[i]) : -ERANGE;

		if (err) {
			pr_err("cannot keep %s counter %u: %s", c->what, ids[i], strerror(-err));
			return err;
		}
	}
	return 0;
}

void cnt_ids_abort(struct cnt_ids *c, const uint32_t *fresh, size_t nfresh)
{
	for (size_t i = 0; i < nfresh; i++)
		key_set(c, fresh[i], 0);
}

void cnt_ids_commit(struct cnt_ids *c, const uint32_t *ids, size_t n)
{
	uint8_t *used = calloc(c->n, 1);

	if (!used)
		return;	/* the old ids stay owned: no count is lost, room is */
	for (size_t i = 0; i < n; i++)
		if (ids[i] < c->n)
			used[ids[i]] = 1;
	/* whatever else is owned belonged to the policy left behind */
	for (uint32_t id = 0; id < c->n; id++) {
		int err = c->key[id] && !used[id] ? key_set(c, id, 0) : 0;

		if (err)
			pr_warn("cannot free %s counter %u: %s", c->what, id, strerror(-err));
	}
	free(used);
}
