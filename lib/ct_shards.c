// SPDX-License-Identifier: GPL-2.0-only
/*
 * The conntrack tables' shards (sluice_abi.h): LRU hashes created here and
 * put in the arrays of maps ct4_shards (IPv4, 16-byte keys) and ct_shards
 * (IPv6, 40-byte keys), which hold them from then on (no pin of their own:
 * the pinned arrays keep them, and every connection, across agent
 * restarts). Userspace sees both kinds of entry with the 40-byte key.
 * Shared by the agent, the tests and the bench.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "ct.h"

#define CT_BATCH	1024

#ifndef ENOTSUPP
#define ENOTSUPP	524	/* the kernel's, for an operation a map type lacks */
#endif

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

void ct_key4_of(const struct sl_ct_key *k, struct sl_ct_key4 *k4)
{
	memset(k4, 0, sizeof(*k4));
	memcpy(&k4->addr_a, k->addr_a, 4);
	memcpy(&k4->addr_b, k->addr_b, 4);
	k4->port_a = k->port_a;
	k4->port_b = k->port_b;
	k4->proto = k->proto;
	k4->family = k->family;
}

void ct_key_of4(const struct sl_ct_key4 *k4, struct sl_ct_key *k)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->addr_a, &k4->addr_a, 4);
	memcpy(k->addr_b, &k4->addr_b, 4);
	k->port_a = k4->port_a;
	k->port_b = k4->port_b;
	k->proto = k4->proto;
	k->family = k4->family;
}

/* K's hash, as the datapath's (its shard's), either family. */
static uint32_t key_hash(const struct sl_ct_key *k)
{
	struct sl_ct_key4 k4;

	if (k->family != 4)
		return sl_ct_hash_of(k);
	ct_key4_of(k, &k4);
	return sl_ct_hash_of4(&k4);
}

uint32_t ct_key_shard(const struct sl_ct_key *k, uint32_t shards)
{
	return key_hash(k) & (shards ? shards - 1 : 0);
}

uint64_t *ct_stamps_map(int fd)
{
	void *p = mmap(NULL, SLUICE_CT_STAMPS * sizeof(uint64_t), PROT_READ | PROT_WRITE,
		       MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

void ct_stamps_unmap(uint64_t *stamps)
{
	if (stamps)
		munmap(stamps, SLUICE_CT_STAMPS * sizeof(uint64_t));
}

/* The datapath's sl_ct_stamp: an atomic max of one half of the word. */
void ct_stamp_raise(uint64_t *stamps, const struct sl_ct_key *k, bool una, uint64_t end)
{
	uint32_t i = sl_ct_key_bucket(k), v = sl_ct_stamp_of(end);
	uint64_t *w = &stamps[i], old = __atomic_load_n(w, __ATOMIC_RELAXED);

	while (sl_ct_stamp_get(old, una) < v &&
	       !__atomic_compare_exchange_n(w, &old, sl_ct_stamp_set(old, una, v), false,
					    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		;
}

/* The table (its array of maps) and the key bytes of K in it, in *BUF. */
static int key_in(const struct ct_tables *t, const struct sl_ct_key *k, struct sl_ct_key4 *buf,
		  const void **key)
{
	if (k->family == 4) {
		ct_key4_of(k, buf);
		*key = buf;
		return t->fd4;
	}
	*key = k;
	return t->fd6;
}

/* A shard: an LRU hash named as the datapath's tables say; its fd or -errno. */
static int shard_create(bool v4, uint32_t i, bool una, uint32_t entries)
{
	char name[16];
	int fd;

	/* ct4_assured00, ct_unassured00: <= 15 characters */
	snprintf(name, sizeof(name), "%s%s%02u", v4 ? "ct4_" : "ct_",
		 una ? "unassured" : "assured", i % SLUICE_CT_SHARDS_MAX);
	fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, name,
			    v4 ? sizeof(struct sl_ct_key4) : sizeof(struct sl_ct_key),
			    sizeof(struct sl_ct_entry), entries, NULL);
	return fd < 0 ? -errno : fd;
}

/*
 * Put the N maps FDS in the array of maps OUTER_FD at KEYS. An update of an
 * array of maps from userspace waits for an RCU grace period (the kernel's
 * maybe_wait_bpf_programs: 7-25 ms here), once per call: one batch for all
 * of them, where one call each took ~0.7 s of a fresh agent's start (64
 * shards). A kernel without batch updates of arrays of maps gets one call
 * each (SLUICE_NO_MAP_BATCH in the environment takes that way: the tests'
 * stand-in for such a kernel).
 */
static int shards_put(int outer_fd, const __u32 *keys, const int *fds, __u32 n)
{
	__u32 count = n;

	if (getenv("SLUICE_NO_MAP_BATCH"))
		errno = EINVAL;
	else if (!bpf_map_update_batch(outer_fd, keys, fds, &count, NULL))
		return 0;
	if (errno != EINVAL && errno != ENOTSUPP && errno != EOPNOTSUPP)
		return -errno;
	for (__u32 j = 0; j < n; j++) {
		if (bpf_map_update_elem(outer_fd, &keys[j], &fds[j], BPF_ANY))
			return -errno;
	}
	return 0;
}

int ct_shards_create(const struct ct_tables *t, uint32_t max_entries, uint32_t *shards)
{
	uint32_t k = ct_shards_for(max_entries);
	uint32_t per = (max_entries + k - 1) / k;
	uint32_t una_per = (ct_unassured_entries(max_entries) + k - 1) / k;
	__u32 keys[2 * SLUICE_CT_SHARDS_MAX], n = 0;
	int fds[2][2 * SLUICE_CT_SHARDS_MAX], err = 0;

	/* both kinds of shard i of each family, at i and SLUICE_CT_SHARDS_MAX + i */
	for (uint32_t i = 0; i < k && !err; i++) {
		for (int una = 0; una <= 1 && !err; una++) {
			keys[n] = i + (una ? SLUICE_CT_SHARDS_MAX : 0);
			fds[0][n] = shard_create(false, i, una, una ? una_per : per);
			fds[1][n] = fds[0][n] < 0 ? -1 : shard_create(true, i, una, una ? una_per : per);
			if (fds[0][n] < 0 || fds[1][n] < 0)
				err = fds[0][n] < 0 ? fds[0][n] : fds[1][n];
			n++;
		}
	}
	if (!err)
		err = shards_put(t->fd4, keys, fds[1], n);
	if (!err)
		err = shards_put(t->fd6, keys, fds[0], n);
	/* the arrays hold the shards they took */
	for (__u32 j = 0; j < n; j++) {
		for (int v4 = 0; v4 <= 1; v4++) {
			if (fds[v4][j] >= 0)
				close(fds[v4][j]);
		}
	}
	if (err) {
		ct_shards_clear(t);
		return err;
	}
	*shards = k;
	return 0;
}

void ct_shards_clear(const struct ct_tables *t)
{
	for (__u32 i = 0; i < 2 * SLUICE_CT_SHARDS_MAX; i++) {
		bpf_map_delete_elem(t->fd4, &i);
		bpf_map_delete_elem(t->fd6, &i);
	}
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

static int shard_capacity(int outer_fd, bool v4, uint32_t i, bool una, uint64_t *cap)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd = ct_shard_fd(outer_fd, i, una), err = 0;

	if (fd < 0)
		return fd;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		err = -errno;
	else if (info.type != BPF_MAP_TYPE_LRU_HASH ||
		 info.key_size != (v4 ? sizeof(struct sl_ct_key4) : sizeof(struct sl_ct_key)) ||
		 info.value_size != sizeof(struct sl_ct_entry))
		err = -EPROTO;
	else
		*cap += info.max_entries;
	close(fd);
	return err;
}

static int table_info(int outer_fd, bool v4, struct ct_shard_info *info)
{
	uint32_t k = 0;
	int err;

	memset(info, 0, sizeof(*info));
	/* shards 0 .. k-1, k a power of two; the first empty slot ends them */
	while (k < SLUICE_CT_SHARDS_MAX) {
		err = shard_capacity(outer_fd, v4, k, false, &info->capacity);
		if (err == -ENOENT)
			break;
		if (!err)
			err = shard_capacity(outer_fd, v4, k, true, &info->unassured_capacity);
		if (err)
			return err;
		k++;
	}
	if (k & (k - 1))
		return -EPROTO;
	info->shards = k;
	return 0;
}

int ct_shards_info(const struct ct_tables *t, struct ct_shard_info *info)
{
	struct ct_shard_info i6;
	int err = table_info(t->fd4, true, info);

	if (!err)
		err = table_info(t->fd6, false, &i6);
	if (err)
		return err;
	/* made together by ct_shards_create: one without the other is not ours */
	if (info->shards != i6.shards || info->capacity != i6.capacity ||
	    info->unassured_capacity != i6.unassured_capacity)
		return -EPROTO;
	return 0;
}

/* FN for every entry of the shard FD, CT_BATCH at a time (BPF_MAP_LOOKUP_BATCH). */
static int walk_one(int fd, bool v4, bool una, ct_entry_fn fn, void *ctx, void *keys,
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
			struct sl_ct_key wide;
			int ret;

			if (v4)
				ct_key_of4((struct sl_ct_key4 *)keys + i, &wide);
			else
				wide = ((struct sl_ct_key *)keys)[i];
			ret = fn(ctx, &wide, &vals[i], una);
			if (ret)
				return ret > 0 ? 1 : ret;
		}
		if (last)
			return 0;
	}
}

int ct_shards_walk(const struct ct_tables *t, ct_entry_fn fn, void *ctx)
{
	struct sl_ct_key *keys = calloc(CT_BATCH, sizeof(*keys));
	struct sl_ct_entry *vals = calloc(CT_BATCH, sizeof(*vals));
	int err = 0;

	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	/* IPv4, then IPv6; in each, every assured shard, then every unassured one */
	for (int v4 = 1; v4 >= 0 && !err; v4--) {
		for (int una = 0; una < 2 && !err; una++) {
			for (uint32_t i = 0; i < SLUICE_CT_SHARDS_MAX && !err; i++) {
				int fd = ct_shard_fd(v4 ? t->fd4 : t->fd6, i, una);

				if (fd == -ENOENT)
					break;
				if (fd < 0) {
					err = fd;
					break;
				}
				err = walk_one(fd, v4, una, fn, ctx, keys, vals);
				close(fd);
			}
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

int ct_shards_count(const struct ct_tables *t, uint64_t *assured, uint64_t *unassured)
{
	uint64_t n[2] = { 0, 0 };
	int err = ct_shards_walk(t, count_one, n);

	*assured = n[0];
	*unassured = n[1];
	return err;
}

int ct_shards_flush(const struct ct_tables *t, uint64_t *deleted)
{
	*deleted = 0;
	for (int v4 = 1; v4 >= 0; v4--) {
		for (int una = 0; una < 2; una++) {
			for (uint32_t i = 0; i < SLUICE_CT_SHARDS_MAX; i++) {
				struct bpf_map_info info = {};
				__u32 len = sizeof(info);
				struct sl_ct_key k;	/* either kind of key fits */
				int fd = ct_shard_fd(v4 ? t->fd4 : t->fd6, i, una);

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
	}
	return 0;
}

int ct_shards_lookup(const struct ct_tables *t, uint32_t shards, const struct sl_ct_key *k,
		     struct sl_ct_entry *e, bool *unassured)
{
	uint32_t i = ct_key_shard(k, shards);
	struct sl_ct_key4 buf;
	const void *key;
	int outer = key_in(t, k, &buf, &key), err = -ENOENT;

	for (int una = 0; una < 2 && err == -ENOENT; una++) {
		int fd = ct_shard_fd(outer, i, una);

		if (fd < 0)
			return fd;
		err = bpf_map_lookup_elem(fd, key, e) ? -errno : 0;
		if (!err && unassured)
			*unassured = una;
		close(fd);
	}
	return err;
}

int ct_shards_insert(const struct ct_tables *t, uint32_t shards, const struct sl_ct_key *k,
		     const struct sl_ct_entry *e, bool una)
{
	struct sl_ct_key4 buf;
	const void *key;
	int outer = key_in(t, k, &buf, &key);
	int fd = ct_shard_fd(outer, ct_key_shard(k, shards), una), err;

	if (fd < 0)
		return fd;
	/* stamped first, as the datapath does: never skipped once in the table */
	if (t->stamps)
		ct_stamp_raise(t->stamps, k, una,
			       e->last_seen + (t->stamp_ns ?: ct_cfg_horizon_ns(NULL, 0)));
	err = bpf_map_update_elem(fd, key, e, BPF_NOEXIST) ? -errno : 0;
	close(fd);
	return err;
}

struct fill {
	uint64_t *stamps;
	uint64_t horizon, n;
};

static int fill_one(void *ctx, const struct sl_ct_key *k, const struct sl_ct_entry *e, bool una)
{
	struct fill *f = ctx;

	ct_stamp_raise(f->stamps, k, una, e->last_seen + f->horizon);
	f->n++;
	return 0;
}

int ct_stamps_fill(const struct ct_tables *t, uint64_t horizon, uint64_t *n)
{
	struct fill f = { t->stamps, horizon, 0 };
	int err;

	if (!t->stamps)
		return -EINVAL;
	err = ct_shards_walk(t, fill_one, &f);
	*n = f.n;
	return err;
}

int ct_shards_delete(const struct ct_tables *t, uint32_t shards, const struct sl_ct_key *k,
		     bool una)
{
	struct sl_ct_key4 buf;
	const void *key;
	int outer = key_in(t, k, &buf, &key);
	int fd = ct_shard_fd(outer, ct_key_shard(k, shards), una);
	int err;

	if (fd < 0)
		return fd;
	err = bpf_map_delete_elem(fd, key) ? -errno : 0;
	close(fd);
	return err;
}
