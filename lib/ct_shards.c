// SPDX-License-Identifier: GPL-2.0-only
/*
 * The conntrack table's shards (sluice_abi.h): LRU hashes created here and
 * put in the array of maps ct_shards, which holds them from then on (no pin
 * of their own: the pinned ct_shards keeps them, and every connection,
 * across agent restarts). Shared by the agent, the tests and the bench.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "ct.h"

#define CT_BATCH	1024

uint32_t ct_shards_for(uint32_t max_entries)
{
	uint32_t k = 1;

	while (k < SLUICE_CT_SHARDS_MAX && max_entries / (k * 2) >= SLUICE_CT_SHARD_MIN)
		k *= 2;
	return k;
}

uint32_t ct_unassured_entries(uint32_t max_entries)
{
	uint32_t n = max_entries / SLUICE_CT_UNASSURED_DIV;

	return n < SLUICE_CT_UNASSURED_MIN ? SLUICE_CT_UNASSURED_MIN : n;
}

static int shard_create(int outer_fd, uint32_t i, bool una, uint32_t entries)
{
	char name[16];
	__u32 key = i + (una ? SLUICE_CT_SHARDS_MAX : 0);
	int fd, err = 0;

	snprintf(name, sizeof(name), "%s%02u", una ? "ct_unassured" : "ct_assured", i);
	fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, name, sizeof(struct sl_ct_key),
			    sizeof(struct sl_ct_entry), entries, NULL);
	if (fd < 0)
		return -errno;
	if (bpf_map_update_elem(outer_fd, &key, &fd, BPF_ANY))
		err = -errno;
	close(fd);
	return err;
}

int ct_shards_create(int outer_fd, uint32_t max_entries, uint32_t *shards)
{
	uint32_t k = ct_shards_for(max_entries);
	uint32_t per = (max_entries + k - 1) / k;
	uint32_t una_per = (ct_unassured_entries(max_entries) + k - 1) / k;
	int err = 0;

	for (uint32_t i = 0; i < k && !err; i++) {
		err = shard_create(outer_fd, i, false, per);
		if (!err)
			err = shard_create(outer_fd, i, true, una_per);
	}
	if (err) {
		ct_shards_clear(outer_fd);
		return err;
	}
	*shards = k;
	return 0;
}

void ct_shards_clear(int outer_fd)
{
	for (__u32 i = 0; i < 2 * SLUICE_CT_SHARDS_MAX; i++)
		bpf_map_delete_elem(outer_fd, &i);
}

int ct_shard_fd(int outer_fd, uint32_t i, bool una)
{
	__u32 key = i + (una ? SLUICE_CT_SHARDS_MAX : 0), id;
	int fd;

	if (i >= SLUICE_CT_SHARDS_MAX)
		return -EINVAL;
	if (bpf_map_lookup_elem(outer_fd, &key, &id))
		return -errno;
	fd = bpf_map_get_fd_by_id(id);
	return fd < 0 ? -errno : fd;
}

static int shard_capacity(int outer_fd, uint32_t i, bool una, uint64_t *cap)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd = ct_shard_fd(outer_fd, i, una), err = 0;

	if (fd < 0)
		return fd;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		err = -errno;
	else if (info.type != BPF_MAP_TYPE_LRU_HASH ||
		 info.key_size != sizeof(struct sl_ct_key) ||
		 info.value_size != sizeof(struct sl_ct_entry))
		err = -EPROTO;
	else
		*cap += info.max_entries;
	close(fd);
	return err;
}

int ct_shards_info(int outer_fd, struct ct_shard_info *info)
{
	uint32_t k = 0;
	int err;

	memset(info, 0, sizeof(*info));
	/* shards 0 .. k-1, k a power of two; the first empty slot ends them */
	while (k < SLUICE_CT_SHARDS_MAX) {
		err = shard_capacity(outer_fd, k, false, &info->capacity);
		if (err == -ENOENT)
			break;
		if (!err)
			err = shard_capacity(outer_fd, k, true, &info->unassured_capacity);
		if (err)
			return err;
		k++;
	}
	if (k & (k - 1))
		return -EPROTO;
	info->shards = k;
	return 0;
}

/* FN for every entry of the shard FD, CT_BATCH at a time (BPF_MAP_LOOKUP_BATCH). */
static int walk_one(int fd, bool una, ct_entry_fn fn, void *ctx, struct sl_ct_key *keys,
		    struct sl_ct_entry *vals)
{
	__u32 in = 0, out = 0, count;
	bool first = true;

	for (;;) {
		bool last = false;

		count = CT_BATCH;
		if (bpf_map_lookup_batch(fd, first ? NULL : &in, &out, keys, vals, &count, NULL)) {
			if (errno != ENOENT)
				return -errno;
			last = true;
		}
		first = false;
		in = out;
		for (__u32 i = 0; i < count; i++) {
			int ret = fn(ctx, &keys[i], &vals[i], una);

			if (ret)
				return ret > 0 ? 1 : ret;
		}
		if (last)
			return 0;
	}
}

int ct_shards_walk(int outer_fd, ct_entry_fn fn, void *ctx)
{
	struct sl_ct_key *keys = calloc(CT_BATCH, sizeof(*keys));
	struct sl_ct_entry *vals = calloc(CT_BATCH, sizeof(*vals));
	int err = 0;

	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	/* every assured shard, then every unassured one */
	for (int una = 0; una < 2 && !err; una++) {
		for (uint32_t i = 0; i < SLUICE_CT_SHARDS_MAX && !err; i++) {
			int fd = ct_shard_fd(outer_fd, i, una);

			if (fd == -ENOENT)
				break;
			if (fd < 0) {
				err = fd;
				break;
			}
			err = walk_one(fd, una, fn, ctx, keys, vals);
			close(fd);
		}
	}
out:
	free(keys);
	free(vals);
	return err > 0 ? 0 : err;
}

static int count_one(void *ctx, const struct sl_ct_key *k, const struct sl_ct_entry *e,
		     bool una)
{
	(void)k;
	(void)e;
	((uint64_t *)ctx)[una]++;
	return 0;
}

int ct_shards_count(int outer_fd, uint64_t *assured, uint64_t *unassured)
{
	uint64_t n[2] = { 0, 0 };
	int err = ct_shards_walk(outer_fd, count_one, n);

	*assured = n[0];
	*unassured = n[1];
	return err;
}

int ct_shards_flush(int outer_fd, uint64_t *deleted)
{
	*deleted = 0;
	for (int una = 0; una < 2; una++) {
		for (uint32_t i = 0; i < SLUICE_CT_SHARDS_MAX; i++) {
			struct bpf_map_info info = {};
			__u32 len = sizeof(info);
			struct sl_ct_key k;
			int fd = ct_shard_fd(outer_fd, i, una);

			if (fd == -ENOENT)
				break;
			if (fd < 0)
				return fd;
			if (bpf_obj_get_info_by_fd(fd, &info, &len))
				info.max_entries = 0;
			/* at most a table's worth: live traffic keeps inserting */
			for (__u32 n = 0; n < info.max_entries &&
			     !bpf_map_get_next_key(fd, NULL, &k); n++)
				if (!bpf_map_delete_elem(fd, &k))
					++*deleted;
			close(fd);
		}
	}
	return 0;
}

int ct_shards_lookup(int outer_fd, uint32_t shards, const struct sl_ct_key *k,
		     struct sl_ct_entry *e, bool *unassured)
{
	uint32_t i = sl_ct_shard_of(k, shards ? shards : 1);
	int err = -ENOENT;

	for (int una = 0; una < 2 && err == -ENOENT; una++) {
		int fd = ct_shard_fd(outer_fd, i, una);

		if (fd < 0)
			return fd;
		err = bpf_map_lookup_elem(fd, k, e) ? -errno : 0;
		if (!err && unassured)
			*unassured = una;
		close(fd);
	}
	return err;
}

int ct_shards_delete(int outer_fd, uint32_t shards, const struct sl_ct_key *k, bool una)
{
	int fd = ct_shard_fd(outer_fd, sl_ct_shard_of(k, shards ? shards : 1), una);
	int err;

	if (fd < 0)
		return fd;
	err = bpf_map_delete_elem(fd, k) ? -errno : 0;
	close(fd);
	return err;
}
