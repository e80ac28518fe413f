// SPDX-License-Identifier: GPL-2.0-only
/*
 * Upgrades across map layout changes (agent/migrate.c), on real maps: every
 * map of the build has a policy; counters are carried over by name; the
 * conntrack table is copied with its entries' leading bytes; the plan
 * replaces what differs (a group as a whole) and nothing else; pins move
 * aside and back. Pins go under /sys/fs/bpf/h8m-PID, removed by each test.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>

#include "sluice_cgroup.skel.h"
#include "sluice_tc.skel.h"
#include "sluice_xdp.skel.h"

#include "../agent/migrate.h"
#include "abi_names.h"
#include "ct.h"
#include "lb_maps.h"
#include "testlib.h"

/* ---- helpers ---- */

static char base[64], maps_dir[96], up_dir[96];

static void rm_dir(const char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		printf("# %s failed\n", cmd);
}

/* A fresh state dir on bpffs (mounted when it is not). */
static bool state_setup(void)
{
	struct statfs st;

	if ((statfs("/sys/fs/bpf", &st) || st.f_type != BPF_FS_MAGIC) &&
	    mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700"))
		return false;
	snprintf(base, sizeof(base), "/sys/fs/bpf/h8m-%d", (int)getpid());
	snprintf(maps_dir, sizeof(maps_dir), "%s/maps", base);
	snprintf(up_dir, sizeof(up_dir), "%s/upgrade", base);
	rm_dir(base);
	return !mkdir(base, 0700) && !mkdir(maps_dir, 0700);
}

static void fd_close(int fd)
{
	if (fd >= 0)
		close(fd);
}

static int pin(int fd, const char *name)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", maps_dir, name);
	return fd < 0 ? -EBADF : bpf_obj_pin(fd, path) ? -errno : 0;
}

static int pinned(const char *dir, const char *name)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return bpf_obj_get(path);
}

static __u32 map_id(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

/* An array of ENTRIES maps shaped like the map INNER. */
static int outer_create(const char *name, __u32 entries, int inner)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .inner_map_fd = inner);

	return bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, name, 4, 4, entries, &opts);
}

/* A conntrack shard of this build's layout (a template). */
static int shard_create(void)
{
	return bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "t_tmpl", sizeof(struct sl_ct_key),
			      sizeof(struct sl_ct_entry), 16, NULL);
}

static int shard4_create(void)
{
	return bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "t_tmpl4", sizeof(struct sl_ct_key4),
			      sizeof(struct sl_ct_entry), 16, NULL);
}

static int percpu_array(__u32 entries, __u32 value_size)
{
	return bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "t_cnt", 4, value_size, entries, NULL);
}

/* Per-CPU entry I of FD (sl_counter values): CPU c holds (base + c, 10 * (base + c)). */
static int counters_set(int fd, __u32 i, __u64 base_v)
{
	int ncpu = libbpf_num_possible_cpus();
	struct sl_counter *v = calloc(ncpu, sizeof(*v));
	int err = 0;

	if (!v)
		return -ENOMEM;
	for (int c = 0; c < ncpu; c++)
		v[c] = (struct sl_counter){ base_v + c, 10 * (base_v + c) };
	if (bpf_map_update_elem(fd, &i, v, BPF_ANY))
		err = -errno;
	free(v);
	return err;
}

/* The sum over CPUs of entry I's packets and bytes. */
static struct sl_counter counters_sum(int fd, __u32 i)
{
	int ncpu = libbpf_num_possible_cpus();
	struct sl_counter *v = calloc(ncpu, sizeof(*v)), s = {};

	if (v && !bpf_map_lookup_elem(fd, &i, v))
		for (int c = 0; c < ncpu; c++) {
			s.packets += v[c].packets;
			s.bytes += v[c].bytes;
		}
	free(v);
	return s;
}

/* sum over c < ncpu of (base + c) */
static __u64 expect(__u64 base_v)
{
	__u64 n = libbpf_num_possible_cpus();

	return n * base_v + n * (n - 1) / 2;
}

/* ---- the table ---- */

/* Every map of the three objects has a policy, and every policy names a map of them. */
TEST(every_map_has_an_upgrade_policy)
{
	struct sluice_xdp *x = sluice_xdp__open();
	struct sluice_tc *t = sluice_tc__open();
	struct sluice_cgroup *c = sluice_cgroup__open();
	struct bpf_object *objs[3] = { x ? x->obj : NULL, t ? t->obj : NULL, c ? c->obj : NULL };
	const struct mig_map *tab;
	struct bpf_map *map;
	size_t n, maps = 0;
	bool eg_seen = false;

	if (!ASSERT_TRUE(x && t && c, "open the skeletons"))
		goto out;
	for (int o = 0; o < 3; o++)
		bpf_object__for_each_map(map, objs[o]) {
			if (bpf_map__is_internal(map))
				continue;
			maps++;
			eg_seen |= o == 2 && !strcmp(bpf_map__name(map), SLUICE_MAP_EG_LB_REV);
			tl_check(mig_find(bpf_map__name(map)) != NULL, __FILE__, __LINE__,
				 "map %s has no upgrade policy in agent/migrate.c",
				 bpf_map__name(map));
		}
	ASSERT_TRUE(maps > 20, "maps seen");
	ASSERT_TRUE(eg_seen, "the cgroup object's own maps seen");
	tab = mig_table(&n);
	for (size_t i = 0; i < n; i++) {
		struct bpf_map *def = NULL;
		bool succ = false;

		for (int o = 0; o < 3; o++) {
			if (!def)
				def = bpf_object__find_map_by_name(objs[o], tab[i].name);
			succ |= tab[i].successor &&
				bpf_object__find_map_by_name(objs[o], tab[i].successor) != NULL;
		}
		if (tab[i].kind == MIG_RETIRED) {
			/* a name this build no longer uses, and the map in its place */
			tl_check(!def && succ, __FILE__, __LINE__, "retired %s: in use (%d), or "
				 "its successor %s is no map of this build", tab[i].name, !!def,
				 tab[i].successor);
			continue;
		}
		tl_check(def != NULL, __FILE__, __LINE__, "policy of %s: no such map in this build",
			 tab[i].name);
		tl_check(!def || tab[i].kind != MIG_COUNTERS || !tab[i].names ||
			 tab[i].nnames <= bpf_map__max_entries(def),
			 __FILE__, __LINE__, "%s: more names than entries", tab[i].name);
	}
out:
	sluice_xdp__destroy(x);
	sluice_tc__destroy(t);
	sluice_cgroup__destroy(c);
}

/* ---- counters ---- */

/* An enum that grew in the middle: every count goes to the entry of its name. */
TEST(counters_carried_by_name)
{
	static const char *const was[] = { "pass", "drop", "pass-non-ip" };
	static const char *const now[] = { "pass", "tx", "drop", "redirect", "pass-non-ip" };
	struct mig_names on = { was, 3 }, nn = { now, 5 };
	int o = percpu_array(3, 16), n = percpu_array(5, 16);
	void *snap = NULL;

	if (!ASSERT_TRUE(o >= 0 && n >= 0, "create"))
		goto out;
	for (__u32 i = 0; i < 3; i++)
		ASSERT_OK(counters_set(o, i, 100 * (i + 1)), "set");
	if (!ASSERT_OK(mig_counters_copy(o, &on, n, &nn, &snap), "copy"))
		goto out;
	ASSERT_EQ(counters_sum(n, 0).packets, expect(100), "pass");
	ASSERT_EQ(counters_sum(n, 1).packets, 0, "tx: new");
	ASSERT_EQ(counters_sum(n, 2).packets, expect(200), "drop");
	ASSERT_EQ(counters_sum(n, 2).bytes, 10 * expect(200), "drop bytes");
	ASSERT_EQ(counters_sum(n, 3).packets, 0, "redirect: new");
	ASSERT_EQ(counters_sum(n, 4).packets, expect(300), "pass-non-ip");

	/* the previous programs count on; this build's count too */
	ASSERT_OK(counters_set(o, 1, 250), "old counts on");
	ASSERT_OK(counters_set(n, 1, 7), "new counts");
	ASSERT_OK(counters_set(n, 0, 1000), "new counts");
	ASSERT_OK(mig_counters_delta(o, &on, n, &nn, snap), "delta");
	ASSERT_EQ(counters_sum(n, 2).packets, expect(250), "drop: copy + what came after");
	ASSERT_EQ(counters_sum(n, 1).packets, expect(7), "tx: untouched");
	ASSERT_EQ(counters_sum(n, 0).packets, expect(1000), "pass: no delta, not written");
	ASSERT_EQ(counters_sum(n, 4).packets, expect(300), "pass-non-ip");
out:
	free(snap);
	fd_close(o);
	fd_close(n);
}

/* Rule counters: by index; the default action (the last entry) to the last. */
TEST(rule_counters_keep_the_default)
{
	struct mig_names on = { NULL, 5 }, nn = { NULL, 9 };
	int o = percpu_array(5, 16), n = percpu_array(9, 16);
	void *snap = NULL;

	if (!ASSERT_TRUE(o >= 0 && n >= 0, "create"))
		goto out;
	for (__u32 i = 0; i < 5; i++)
		ASSERT_OK(counters_set(o, i, i + 1), "set");
	if (ASSERT_OK(mig_counters_copy(o, &on, n, &nn, &snap), "copy")) {
		for (__u32 i = 0; i < 4; i++)
			ASSERT_EQ(counters_sum(n, i).packets, expect(i + 1), "rule i");
		for (__u32 i = 4; i < 8; i++)
			ASSERT_EQ(counters_sum(n, i).packets, 0, "rules past the old ones");
		ASSERT_EQ(counters_sum(n, 8).packets, expect(5), "the default");
	}
out:
	free(snap);
	fd_close(o);
	fd_close(n);
}

/* A value that grew keeps its leading words (u64 counters into sl_counter). */
TEST(counters_values_keep_leading_words)
{
	static const char *const names[] = { "created", "expired" };
	struct mig_names on = { names, 2 }, nn = { names, 2 };
	int ncpu = libbpf_num_possible_cpus();
	int o = percpu_array(2, 8), n = percpu_array(2, 16);
	__u64 *v = calloc(ncpu, sizeof(*v));
	void *snap = NULL;
	__u32 k = 1;

	if (!ASSERT_TRUE(o >= 0 && n >= 0 && v, "create"))
		goto out;
	for (int c = 0; c < ncpu; c++)
		v[c] = 5;
	ASSERT_OK(bpf_map_update_elem(o, &k, v, BPF_ANY) ? -errno : 0, "set");
	if (ASSERT_OK(mig_counters_copy(o, &on, n, &nn, &snap), "copy")) {
		ASSERT_EQ(counters_sum(n, 1).packets, 5ull * ncpu, "first word");
		ASSERT_EQ(counters_sum(n, 1).bytes, 0, "new word zero");
	}
out:
	free(v);
	free(snap);
	fd_close(o);
	fd_close(n);
}

/* ---- conntrack ---- */

/* Connection I: IPv6 when I % 5 == 4, else IPv4. */
static struct sl_ct_key ct_key(int i)
{
	struct sl_ct_key k = { .proto = 6, .family = i % 5 == 4 ? 6 : 4 };

	k.addr_a[0] = 192;
	k.addr_a[3] = (__u8)i;
	k.addr_b[0] = 198;
	k.addr_b[3] = (__u8)(i >> 8);
	if (k.family == 6)
		k.addr_a[15] = k.addr_b[15] = 1;
	k.port_a = (__be16)(1000 + i);
	k.port_b = 80;
	return k;
}

/*
 * Connection I's entry read straight from the shard of the table of its
 * family (its key built here, field by field): 0, or -errno.
 */
static int ct_read(const struct ct_tables *t, uint32_t shards, int i, bool una,
		   struct sl_ct_entry *e)
{
	struct sl_ct_key k = ct_key(i);
	struct sl_ct_key4 k4 = { .proto = 6, .family = 4 };
	int fd, err;

	k4.addr_a = htonl(192u << 24 | (__u8)i);
	k4.addr_b = htonl(198u << 24 | (__u8)(i >> 8));
	k4.port_a = (__be16)(1000 + i);
	k4.port_b = 80;
	fd = ct_shard_fd(k.family == 4 ? t->fd4 : t->fd6,
			 k.family == 4 ? sl_ct_shard_of4(&k4, shards) : sl_ct_shard_of(&k, shards),
			 una);
	if (fd < 0)
		return fd;
	err = bpf_map_lookup_elem(fd, k.family == 4 ? (void *)&k4 : (void *)&k, e) ? -errno : 0;
	close(fd);
	return err;
}

/* Entries in every inner map of the array of maps OUTER. */
static int outer_entries(int outer)
{
	unsigned char k[sizeof(struct sl_ct_key)], next[sizeof(struct sl_ct_key)];
	int n = 0;

	for (__u32 i = 0; i < 2 * SLUICE_CT_SHARDS_MAX; i++) {
		__u32 id;
		int fd;

		if (bpf_map_lookup_elem(outer, &i, &id))
			continue;
		fd = bpf_map_get_fd_by_id(id);
		for (void *prev = NULL; fd >= 0 && !bpf_map_get_next_key(fd, prev, next); n++) {
			memcpy(k, next, sizeof(k));
			prev = k;
		}
		fd_close(fd);
	}
	return n;
}

/* This build's two tables, empty (TMPL[2]: their templates). */
static int new_tables(struct ct_tables *t, int tmpl[2])
{
	tmpl[0] = shard4_create();
	tmpl[1] = shard_create();
	t->fd4 = outer_create("t_new_ct4", 2 * SLUICE_CT_SHARDS_MAX, tmpl[0]);
	t->fd6 = outer_create("t_new_ct", 2 * SLUICE_CT_SHARDS_MAX, tmpl[1]);
	return t->fd4 < 0 || t->fd6 < 0 ? -EINVAL : 0;
}

static void tables_close(struct ct_tables *t, int tmpl[2])
{
	fd_close(t->fd4);
	fd_close(t->fd6);
	fd_close(tmpl[0]);
	fd_close(tmpl[1]);
}

/*
 * A table of another layout: an outer array of 4 (2 assured shards, 2
 * unassured) holding LRU hashes of KEY_SIZE keys and OLD_VAL-byte values
 * (struct sl_ct_entry before syn_ack_seq).
 */
#define OLD_VAL 52
_Static_assert(offsetof(struct sl_ct_entry, syn_ack_seq) == OLD_VAL, "the old entry's end");
static int old_table(__u32 key_size, int inner[4])
{
	int tmpl, outer;

	tmpl = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "t_old_in", key_size, OLD_VAL, 64, NULL);
	if (tmpl < 0)
		return -errno;
	outer = outer_create("t_old_ct", 4, tmpl);
	close(tmpl);
	for (__u32 i = 0; outer >= 0 && i < 4; i++) {
		inner[i] = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "t_old_sh", key_size, OLD_VAL, 64,
					  NULL);
		if (inner[i] < 0 || bpf_map_update_elem(outer, &i, &inner[i], BPF_ANY))
			return -errno;
	}
	return outer < 0 ? -errno : outer;
}

/*
 * ct_shards before ct4_shards, connections of both families in it, entries
 * shorter: each goes to its family's table, assured or not as it was.
 */
TEST(ct_entries_copied_zero_extended)
{
	int inner[4] = { -1, -1, -1, -1 }, o, tmpl[2] = { -1, -1 };
	struct ct_tables n = { -1, -1 };
	unsigned char val[OLD_VAL];
	uint64_t moved, failed;
	struct sl_ct_entry e;
	struct sl_ct_key k;
	uint32_t shards;
	bool una;

	o = old_table(sizeof(struct sl_ct_key), inner);
	if (!ASSERT_TRUE(o >= 0, "old table"))
		goto out;
	/* 20 connections in assured shards (0, 1), 6 unassured (2, 3) */
	for (int i = 0; i < 26; i++) {
		k = ct_key(i);
		memset(val, 0, sizeof(val));
		memset(val, i + 1, 48);
		val[48] = i < 20 ? SL_CT_ESTABLISHED : SL_CT_SYN_SENT;	/* state */
		ASSERT_OK(bpf_map_update_elem(inner[i < 20 ? i % 2 : 2 + i % 2], &k, val,
					      BPF_ANY) ? -errno : 0, "old entry");
	}
	if (!ASSERT_OK(new_tables(&n, tmpl), "new outer") ||
	    !ASSERT_OK(ct_shards_create(&n, 2 * SLUICE_CT_SHARD_MIN, &shards), "new shards"))
		goto out;
	ASSERT_EQ(shards, 2, "shards");
	/* one connection this build's programs already keep: it stays as it is */
	k = ct_key(3);
	memset(&e, 0, sizeof(e));
	e.state = SL_CT_FIN_WAIT;
	e.last_seen = 77;
	ASSERT_OK(ct_shards_insert(&n, shards, &k, &e, false), "present");
	if (!ASSERT_OK(mig_ct_copy(o, &n, &moved, &failed), "copy"))
		goto out;
	ASSERT_EQ(moved, 25, "moved (one was there)");
	ASSERT_EQ(failed, 0, "failed");
	for (int i = 0; i < 26; i++) {
		una = i >= 20;
		if (!ASSERT_OK(ct_read(&n, shards, i, una, &e), "found in its family's table") ||
		    !ASSERT_EQ(ct_read(&n, shards, i, !una, &e), -ENOENT, "once"))
			continue;
		ASSERT_OK(ct_read(&n, shards, i, una, &e), "again");
		if (i == 3) {
			ASSERT_EQ(e.state, SL_CT_FIN_WAIT, "kept this build's");
			ASSERT_EQ(e.last_seen, 77, "kept this build's");
			continue;
		}
		ASSERT_EQ(e.created & 0xff, i + 1, "leading bytes");
		ASSERT_EQ(e.state, i < 20 ? SL_CT_ESTABLISHED : SL_CT_SYN_SENT, "state");
		ASSERT_EQ(e.syn_ack_seq, 0, "a field past the old value: zero");
	}
	/* i % 5 == 4: 5 IPv6 connections, and nothing else in their table */
	ASSERT_EQ(outer_entries(n.fd6), 5, "IPv6 table");
	ASSERT_EQ(outer_entries(n.fd4), 21, "IPv4 table");
out:
	for (int i = 0; i < 4; i++)
		fd_close(inner[i]);
	fd_close(o);
	tables_close(&n, tmpl);
}

/* ct4_shards of another layout (16-byte keys, shorter entries): into this build's ct4_shards. */
TEST(ct4_entries_copied)
{
	int inner[4] = { -1, -1, -1, -1 }, o, tmpl[2] = { -1, -1 };
	struct ct_tables n = { -1, -1 };
	unsigned char val[OLD_VAL];
	uint64_t moved, failed;
	struct sl_ct_entry e;
	uint32_t shards;
	int copied = 0;

	o = old_table(sizeof(struct sl_ct_key4), inner);
	if (!ASSERT_TRUE(o >= 0, "old table"))
		goto out;
	for (int i = 0; i < 10; i++) {
		struct sl_ct_key k = ct_key(i);
		struct sl_ct_key4 k4;

		if (k.family != 4)
			continue;
		ct_key4_of(&k, &k4);
		memset(val, 0, sizeof(val));
		memset(val, i + 1, 48);
		val[48] = SL_CT_ESTABLISHED;
		ASSERT_OK(bpf_map_update_elem(inner[i % 2], &k4, val, BPF_ANY) ? -errno : 0,
			  "old entry");
	}
	if (!ASSERT_OK(new_tables(&n, tmpl), "new outer") ||
	    !ASSERT_OK(ct_shards_create(&n, SLUICE_CT_SHARD_MIN, &shards), "new shards") ||
	    !ASSERT_OK(mig_ct_copy(o, &n, &moved, &failed), "copy"))
		goto out;
	ASSERT_EQ(moved, 8, "moved");
	for (int i = 0; i < 10; i++) {
		if (ct_key(i).family != 4)
			continue;
		if (ASSERT_OK(ct_read(&n, shards, i, false, &e), "found") &&
		    ASSERT_EQ(e.created & 0xff, i + 1, "leading bytes"))
			copied++;
	}
	ASSERT_EQ(copied, 8, "every one");
out:
	for (int i = 0; i < 4; i++)
		fd_close(inner[i]);
	fd_close(o);
	tables_close(&n, tmpl);
}

/* Keys of another layout name other connections: refused, nothing copied. */
TEST(ct_other_keys_refused)
{
	int inner[4] = { -1, -1, -1, -1 }, o, tmpl[2] = { -1, -1 };
	struct ct_tables n = { -1, -1 };
	uint64_t moved = 0, failed = 0;
	uint32_t shards;

	o = old_table(36, inner);
	if (ASSERT_TRUE(o >= 0 && !new_tables(&n, tmpl), "tables") &&
	    ASSERT_OK(ct_shards_create(&n, SLUICE_CT_SHARD_MIN, &shards), "new shards"))
		ASSERT_EQ(mig_ct_copy(o, &n, &moved, &failed), -EPROTO, "refused");
	ASSERT_EQ(moved, 0, "nothing copied");
	for (int i = 0; i < 4; i++)
		fd_close(inner[i]);
	fd_close(o);
	tables_close(&n, tmpl);
}

/* ---- the plan ---- */

/* The three objects, as loader_plan gives them to migrate_plan. */
struct objs {
	struct sluice_xdp *x;
	struct sluice_tc *t;
	struct sluice_cgroup *c;
	struct bpf_object *v[3];
};

static bool objs_open(struct objs *o)
{
	o->x = sluice_xdp__open();
	o->t = sluice_tc__open();
	o->c = sluice_cgroup__open();
	o->v[0] = o->x ? o->x->obj : NULL;
	o->v[1] = o->t ? o->t->obj : NULL;
	o->v[2] = o->c ? o->c->obj : NULL;
	return o->x && o->t && o->c;
}

static void objs_close(struct objs *o)
{
	sluice_xdp__destroy(o->x);
	sluice_tc__destroy(o->t);
	sluice_cgroup__destroy(o->c);
}

/* A map of DEF's layout, with DELTA_ENTRIES more entries. */
static int def_create(const struct bpf_map *def, int delta_entries)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = bpf_map__map_flags(def));

	return bpf_map_create(bpf_map__type(def), bpf_map__name(def), bpf_map__key_size(def),
			      bpf_map__value_size(def), bpf_map__max_entries(def) + delta_entries,
			      &opts);
}

/* The layout of map NAME of this build (of whichever object has it). */
static int create_like(struct objs *o, const char *name, int delta_entries)
{
	struct bpf_map *m = NULL;

	for (int i = 0; i < 3 && !m; i++)
		m = bpf_object__find_map_by_name(o->v[i], name);
	return m ? def_create(m, delta_entries) : -ENOENT;
}

/* Names recorded for a map, by its id (NAME of entry INDEX; "" when none). */
static const char *name_of(int names, __u32 id, __u32 index, char buf[32])
{
	struct { __u32 map_id, index; } k = { id, index };

	buf[0] = '\0';
	if (names >= 0 && bpf_map_lookup_elem(names, &k, buf))
		buf[0] = '\0';
	return buf;
}

/*
 * This build's layout: nothing to replace. The commit records the counter
 * names of the pinned maps by their id, and forgets those of maps gone.
 */
TEST(plan_same_layout_records_names)
{
	struct migrate *mg = NULL;
	int fd, fd2 = -1, names = -1;
	char buf[32], path[160];
	struct objs o;
	bool slots;

	if (!ASSERT_TRUE(state_setup(), "state dir") || !ASSERT_TRUE(objs_open(&o), "open"))
		goto out;
	fd = create_like(&o, SLUICE_MAP_VERDICT, 0);
	ASSERT_OK(pin(fd, SLUICE_MAP_VERDICT), "pin sl_verdict");
	if (ASSERT_OK(migrate_plan(maps_dir, up_dir, o.v, 3, &mg), "plan"))
		ASSERT_EQ(migrate_count(mg, &slots), 0, "replaced");
	migrate_commit(mg);
	names = pinned(maps_dir, "sl_cnt_names");
	ASSERT_TRUE(names >= 0, "sl_cnt_names pinned");
	ASSERT_STREQ(name_of(names, map_id(fd), 1, buf), "xdp/drop", "entry 1");
	ASSERT_STREQ(name_of(names, map_id(fd), SLUICE_VERDICT_MAX - 1, buf),
		     mig_find(SLUICE_MAP_VERDICT)->names[SLUICE_VERDICT_MAX - 1], "last");
	ASSERT_STREQ(name_of(names, map_id(fd), SLUICE_VERDICT_MAX, buf), "", "spare: unnamed");
	ASSERT_STREQ(name_of(names, map_id(fd), SLUICE_VERDICT_SLOTS + 1, buf), "tc/drop",
		     "the tc hook's block");
	/* another map in its place: the names of the first one go */
	fd2 = create_like(&o, SLUICE_MAP_VERDICT, 0);
	snprintf(path, sizeof(path), "%s/%s", maps_dir, SLUICE_MAP_VERDICT);
	unlink(path);
	ASSERT_OK(pin(fd2, SLUICE_MAP_VERDICT), "pin another");
	if (ASSERT_OK(migrate_plan(maps_dir, up_dir, o.v, 3, &mg), "plan again"))
		ASSERT_EQ(migrate_count(mg, NULL), 0, "replaced");
	migrate_commit(mg);
	ASSERT_STREQ(name_of(names, map_id(fd), 0, buf), "", "forgotten");
	ASSERT_STREQ(name_of(names, map_id(fd2), 0, buf), "xdp/pass", "recorded");
	fd_close(fd);
	fd_close(fd2);
	fd_close(names);
out:
	objs_close(&o);
	rm_dir(base);
}

/*
 * Counters of the previous release (fewer entries, no names recorded) are
 * replaced; begin moves the pin aside, rollback puts it back.
 */
TEST(plan_counters_begin_rollback)
{
	struct migrate *mg = NULL;
	struct objs o;
	int fd, got;
	bool slots;
	__u32 id;

	if (!ASSERT_TRUE(state_setup(), "state dir") || !ASSERT_TRUE(objs_open(&o), "open"))
		goto out;
	fd = create_like(&o, SLUICE_MAP_DROP, -1);
	id = map_id(fd);
	ASSERT_OK(pin(fd, SLUICE_MAP_DROP), "pin");
	if (!ASSERT_OK(migrate_plan(maps_dir, up_dir, o.v, 3, &mg), "plan"))
		goto out_fd;
	ASSERT_EQ(migrate_count(mg, &slots), 1, "replaced");
	ASSERT_FALSE(slots, "the slots stay");
	if (ASSERT_OK(migrate_begin(mg), "begin")) {
		got = pinned(up_dir, SLUICE_MAP_DROP);
		ASSERT_EQ(map_id(got), id, "moved aside");
		close(got);
		ASSERT_TRUE(pinned(maps_dir, SLUICE_MAP_DROP) < 0, "free for the new map");
	}
	migrate_rollback(mg);
	got = pinned(maps_dir, SLUICE_MAP_DROP);
	ASSERT_EQ(map_id(got), id, "back in place");
	fd_close(got);
	ASSERT_TRUE(access(up_dir, F_OK) && errno == ENOENT, "upgrade dir removed");
out_fd:
	fd_close(fd);
out:
	objs_close(&o);
	rm_dir(base);
}

/* The same layout but names recorded in another order: replaced. */
TEST(plan_names_moved_replace)
{
	struct { __u32 map_id, index; } k = {};
	const struct mig_map *m = mig_find(SLUICE_MAP_VERDICT);
	struct migrate *mg = NULL;
	char name[32];
	struct objs o;
	int fd = -1, names = -1;

	if (!ASSERT_TRUE(state_setup(), "state dir") || !ASSERT_TRUE(objs_open(&o), "open"))
		goto out;
	if (!ASSERT_TRUE(m && m->nnames >= 2, "sl_verdict's names"))
		goto out;
	names = bpf_map_create(BPF_MAP_TYPE_HASH, "sl_cnt_names", sizeof(k), 32, 4096, NULL);
	ASSERT_OK(pin(names, "sl_cnt_names"), "pin names");
	fd = create_like(&o, SLUICE_MAP_VERDICT, 0);
	k.map_id = map_id(fd);
	/* this build's names, the first two swapped */
	for (k.index = 0; k.index < m->nnames; k.index++) {
		if (!m->names[k.index])		/* a spare entry */
			continue;
		memset(name, 0, sizeof(name));
		strcpy(name, m->names[k.index < 2 ? 1 - k.index : k.index]);
		bpf_map_update_elem(names, &k, name, BPF_ANY);
	}
	ASSERT_OK(pin(fd, SLUICE_MAP_VERDICT), "pin");
	if (ASSERT_OK(migrate_plan(maps_dir, up_dir, o.v, 3, &mg), "plan"))
		ASSERT_EQ(migrate_count(mg, NULL), 1, "replaced");
	migrate_free(mg);
out:
	fd_close(fd);
	fd_close(names);
	objs_close(&o);
	rm_dir(base);
}

/*
 * The policy slots go as a group: one of another layout replaces them all.
 * An outer map with no inner map is asked the kernel's way (the probe), and
 * fits when its template does.
 */
TEST(plan_slots_group)
{
	struct bpf_map *cfg_def;
	struct migrate *mg = NULL;
	int ifslot = -1, ifa = -1, cfg = -1, tmpl = -1;
	struct objs o;
	bool slots;

	if (!ASSERT_TRUE(state_setup(), "state dir") || !ASSERT_TRUE(objs_open(&o), "open"))
		goto out;
	cfg_def = bpf_map__inner_map(bpf_object__find_map_by_name(o.v[0], "fwp_cfg"));
	if (!ASSERT_TRUE(cfg_def, "fwp_cfg's template"))
		goto out;
	tmpl = def_create(cfg_def, 0);
	cfg = outer_create("fwp_cfg", SLUICE_POL_SLOTS, tmpl);
	ifslot = create_like(&o, SLUICE_MAP_IFSLOT, 0);
	ASSERT_OK(pin(cfg, "fwp_cfg"), "pin fwp_cfg");
	ASSERT_OK(pin(ifslot, SLUICE_MAP_IFSLOT), "pin sl_ifslot");
	if (ASSERT_OK(migrate_plan(maps_dir, up_dir, o.v, 3, &mg), "plan of this layout"))
		ASSERT_EQ(migrate_count(mg, &slots), 0, "an empty outer map of this layout fits");
	migrate_free(mg);
	mg = NULL;

	ifa = create_like(&o, SLUICE_MAP_IFSLOT_A, -1024);
	ASSERT_OK(pin(ifa, SLUICE_MAP_IFSLOT_A), "pin sl_ifslot_a");
	if (ASSERT_OK(migrate_plan(maps_dir, up_dir, o.v, 3, &mg), "plan")) {
		ASSERT_EQ(migrate_count(mg, &slots), 3, "the group");
		ASSERT_TRUE(slots, "slots rebuilt");
	}
	migrate_free(mg);
out:
	fd_close(tmpl);
	fd_close(cfg);
	fd_close(ifslot);
	fd_close(ifa);
	objs_close(&o);
	rm_dir(base);
}

/*
 * Names of the layout before (eafd583): the interfaces' slots under
 * sl_ifslot say a firewall is in force; every retired pin joins the plan,
 * moves aside and back, or goes at the commit; its rule counters (by rule
 * index, the default last) go to the counter ids of the policy applied,
 * with what the previous programs counted meanwhile.
 */
TEST(retired_names)
{
	static const __u32 ids[] = { 7, 3 };	/* rule 0 -> id 7, rule 1 -> id 3 */
	int ifslot, rcnt, succ = -1, got;
	struct migrate *mg = NULL;
	struct objs o;
	bool slots;

	if (!ASSERT_TRUE(state_setup(), "state dir") || !ASSERT_TRUE(objs_open(&o), "open"))
		goto out;
	ifslot = bpf_map_create(BPF_MAP_TYPE_HASH, "sl_ifslot", 4, 4, 64, NULL);
	rcnt = percpu_array(SLUICE_MAX_RULES + 1, sizeof(struct sl_counter));
	ASSERT_OK(pin(ifslot, "sl_ifslot"), "pin sl_ifslot");
	ASSERT_OK(pin(rcnt, "fw_rule_cnt"), "pin fw_rule_cnt");
	ASSERT_FALSE(migrate_slots_retired(maps_dir), "no interface: nothing in force");
	ASSERT_OK(bpf_map_update_elem(ifslot, &(__u32){ 5 }, &(__u32){ 1 }, BPF_ANY) ? -errno : 0,
		  "an interface");
	ASSERT_TRUE(migrate_slots_retired(maps_dir), "a firewall of the previous layout");
	counters_set(rcnt, 0, 100);
	counters_set(rcnt, 1, 200);
	counters_set(rcnt, SLUICE_MAX_RULES, 300);
	if (!ASSERT_OK(migrate_plan(maps_dir, up_dir, o.v, 3, &mg), "plan"))
		goto out_fd;
	ASSERT_EQ(migrate_count(mg, &slots), 2, "both retired pins");
	ASSERT_FALSE(slots, "no slot of this build's names to rebuild");
	/* undone: both back */
	ASSERT_OK(migrate_begin(mg), "begin");
	ASSERT_TRUE(pinned(maps_dir, "sl_ifslot") < 0, "moved aside");
	migrate_rollback(mg);
	got = pinned(maps_dir, "sl_ifslot");
	ASSERT_EQ(map_id(got), map_id(ifslot), "back in place");
	fd_close(got);

	/* done: the counters by rule order, then unpinned */
	if (!ASSERT_OK(migrate_plan(maps_dir, up_dir, o.v, 3, &mg), "plan again"))
		goto out_fd;
	ASSERT_OK(migrate_begin(mg), "begin again");
	succ = percpu_array(SLUICE_CNT_MAX, sizeof(struct sl_counter));
	ASSERT_OK(pin(succ, SLUICE_MAP_RULE_CNT), "the successor");
	ASSERT_OK(migrate_carry(mg, o.v[0], true), "carry (nothing yet)");
	ASSERT_EQ(counters_sum(succ, 7).packets, 0, "not before the apply");
	ASSERT_OK(migrate_carry_rules(mg, ids, 2), "carry the rules");
	counters_set(rcnt, 1, 210);	/* the previous program counted on */
	migrate_commit(mg);
	ASSERT_EQ(counters_sum(succ, 7).packets, expect(100), "rule 0");
	ASSERT_EQ(counters_sum(succ, 3).packets, expect(210), "rule 1, with the delta");
	ASSERT_EQ(counters_sum(succ, SLUICE_CNT_DEFAULT).packets, expect(300), "the default");
	ASSERT_EQ(counters_sum(succ, 0).packets, 0, "id 0 is no rule's");
	ASSERT_TRUE(pinned(maps_dir, "sl_ifslot") < 0 && pinned(maps_dir, "fw_rule_cnt") < 0,
		    "unpinned");
	ASSERT_TRUE(access(up_dir, F_OK) && errno == ENOENT, "upgrade dir removed");
out_fd:
	fd_close(ifslot);
	fd_close(rcnt);
	fd_close(succ);
out:
	objs_close(&o);
	rm_dir(base);
}

/*
 * The per-CPU clock of the builds before it moved into each object's
 * sl_scratch (bpf/lib/clock.h): a pinned sl_clock joins the plan as a
 * retired name, moves aside, and goes at the commit.
 */
TEST(retired_clock)
{
	struct migrate *mg = NULL;
	struct objs o;
	int clk = -1;

	if (!ASSERT_TRUE(state_setup(), "state dir") || !ASSERT_TRUE(objs_open(&o), "open"))
		goto out;
	clk = percpu_array(1, 16);
	ASSERT_OK(pin(clk, "sl_clock"), "pin sl_clock");
	if (!ASSERT_OK(migrate_plan(maps_dir, up_dir, o.v, 3, &mg), "plan"))
		goto out_fd;
	ASSERT_EQ(migrate_count(mg, NULL), 1, "the retired pin");
	ASSERT_OK(migrate_begin(mg), "begin");
	ASSERT_TRUE(pinned(maps_dir, "sl_clock") < 0, "moved aside");
	ASSERT_OK(migrate_carry(mg, o.v[0], true), "carry");
	migrate_commit(mg);
	ASSERT_TRUE(pinned(maps_dir, "sl_clock") < 0, "unpinned");
	ASSERT_TRUE(access(up_dir, F_OK) && errno == ENOENT, "upgrade dir removed");
out_fd:
	fd_close(clk);
out:
	objs_close(&o);
	rm_dir(base);
}

/* Entry h * SLOTS + i of M's names is HOOK/NAMES[i] for i < N, none past N. */
static void check_hook_names(const struct mig_map *m, const char *const *names, int n,
			     int slots)
{
	char want[64];

	ASSERT_EQ(m->nnames, SLUICE_HOOK_MAX * slots, "a name per entry of every hook");
	for (int h = 0; h < SLUICE_HOOK_MAX; h++)
		for (int i = 0; i < slots; i++) {
			const char *got = m->names[h * slots + i];

			snprintf(want, sizeof(want), "%s/%s", sl_hook_names[h], i < n ? names[i] : "");
			tl_check(i < n ? got && !strcmp(got, want) : !got, __FILE__, __LINE__,
				 "%s: entry %d of hook %d: %s", m->name, i, h, got ? got : "(none)");
		}
}

/*
 * sl_verdict_v2 and sl_drop_v2: a block per hook, entries named HOOK/NAME
 * (the names the carry matches; the spare entries of each block unnamed).
 */
TEST(hook_counter_names)
{
	const struct mig_map *v = mig_find(SLUICE_MAP_VERDICT), *d = mig_find(SLUICE_MAP_DROP);

	if (!ASSERT_TRUE(v && d, "both have a policy"))
		return;
	check_hook_names(v, sl_verdict_names, SLUICE_VERDICT_MAX, SLUICE_VERDICT_SLOTS);
	check_hook_names(d, sl_drop_names, SLUICE_DROP_MAX, SLUICE_DROP_SLOTS);
}

/*
 * sl_verdict and sl_drop (one hook's counters: before the hooks were told
 * apart) are retired; what they counted is XDP's in their successors, by
 * name: sl_verdict's as recorded in sl_cnt_names (here in another order
 * than this build's), sl_drop's of the release before the names (eafd583,
 * 19 entries). The tc block starts at zero; what the previous programs
 * count until the links move is added at the commit.
 */
TEST(retired_counters_become_the_xdp_hooks)
{
	static const char *const rec[] = { "drop", "pass", "pass-non-ip", "tx", "redirect" };
	struct { __u32 map_id, index; } k = {};
	int ov = -1, od = -1, nv = -1, nd = -1, names = -1;
	struct migrate *mg = NULL;
	char name[32];
	struct objs o;

	if (!ASSERT_TRUE(state_setup(), "state dir") || !ASSERT_TRUE(objs_open(&o), "open"))
		goto out;
	ov = percpu_array(SLUICE_VERDICT_SLOTS, sizeof(struct sl_counter));
	od = percpu_array(19, sizeof(struct sl_counter));
	names = bpf_map_create(BPF_MAP_TYPE_HASH, "sl_cnt_names", sizeof(k), 32, 4096, NULL);
	if (!ASSERT_TRUE(ov >= 0 && od >= 0 && names >= 0, "create"))
		goto out_fd;
	k.map_id = map_id(ov);
	for (k.index = 0; k.index < 5; k.index++) {
		memset(name, 0, sizeof(name));
		strcpy(name, rec[k.index]);
		bpf_map_update_elem(names, &k, name, BPF_ANY);
	}
	ASSERT_OK(pin(names, "sl_cnt_names"), "pin names");
	ASSERT_OK(pin(ov, "sl_verdict"), "pin sl_verdict");
	ASSERT_OK(pin(od, "sl_drop"), "pin sl_drop");
	counters_set(ov, 0, 100);	/* drop */
	counters_set(ov, 1, 200);	/* pass */
	counters_set(ov, 3, 300);	/* tx */
	counters_set(od, SLUICE_DROP_POLICY_RULE, 40);
	counters_set(od, SLUICE_DROP_TAIL_MISSED, 50);
	if (!ASSERT_OK(migrate_plan(maps_dir, up_dir, o.v, 3, &mg), "plan"))
		goto out_fd;
	ASSERT_EQ(migrate_count(mg, NULL), 2, "both retired pins");
	ASSERT_OK(migrate_begin(mg), "begin");
	nv = create_like(&o, SLUICE_MAP_VERDICT, 0);
	nd = create_like(&o, SLUICE_MAP_DROP, 0);
	ASSERT_OK(pin(nv, SLUICE_MAP_VERDICT), "the new sl_verdict_v2");
	ASSERT_OK(pin(nd, SLUICE_MAP_DROP), "the new sl_drop_v2");
	ASSERT_OK(migrate_carry(mg, o.v[1], true), "carry the TC object's");
	ASSERT_EQ(counters_sum(nv, SLUICE_VERDICT_PASS).packets, 0, "not the TC object's maps");
	ASSERT_OK(migrate_carry(mg, o.v[0], true), "carry the XDP object's");
	ASSERT_EQ(counters_sum(nv, SLUICE_VERDICT_PASS).packets, expect(200), "xdp/pass by name");
	ASSERT_EQ(counters_sum(nv, SLUICE_VERDICT_DROP).packets, expect(100), "xdp/drop by name");
	ASSERT_EQ(counters_sum(nv, SLUICE_VERDICT_TX).packets, expect(300), "xdp/tx");
	ASSERT_EQ(counters_sum(nd, SLUICE_DROP_POLICY_RULE).packets, expect(40),
		  "xdp/policy-rule");
	ASSERT_EQ(counters_sum(nd, SLUICE_DROP_TAIL_MISSED).packets, expect(50),
		  "xdp/tail-call-missed");
	for (__u32 i = 0; i < SLUICE_VERDICT_SLOTS; i++)
		ASSERT_EQ(counters_sum(nv, SLUICE_VERDICT_SLOTS + i).packets, 0, "tc's verdicts");
	for (__u32 i = 0; i < SLUICE_DROP_SLOTS; i++)
		ASSERT_EQ(counters_sum(nd, SLUICE_DROP_SLOTS + i).packets, 0, "tc's drops");
	/* the previous programs count on until their links move */
	counters_set(od, SLUICE_DROP_POLICY_RULE, 45);
	migrate_commit(mg);
	mg = NULL;
	ASSERT_EQ(counters_sum(nd, SLUICE_DROP_POLICY_RULE).packets, expect(45), "with the delta");
	ASSERT_EQ(counters_sum(nd, SLUICE_DROP_SLOTS + SLUICE_DROP_POLICY_RULE).packets, 0,
		  "tc's policy-rule");
	ASSERT_TRUE(pinned(maps_dir, "sl_verdict") < 0 && pinned(maps_dir, "sl_drop") < 0,
		    "unpinned");
	ASSERT_TRUE(access(up_dir, F_OK) && errno == ENOENT, "upgrade dir removed");
out_fd:
	migrate_free(mg);
	fd_close(ov);
	fd_close(od);
	fd_close(nv);
	fd_close(nd);
	fd_close(names);
out:
	objs_close(&o);
	rm_dir(base);
}

/*
 * The load balancer's maps go as a group (flows and per-backend figures are
 * by backend id): one of another layout replaces those pinned with it, and
 * nothing else.
 */
TEST(plan_lb_group)
{
	int svc, cfg, be, verdict;
	struct migrate *mg = NULL;
	struct objs o;

	if (!ASSERT_TRUE(state_setup(), "state dir") || !ASSERT_TRUE(objs_open(&o), "open"))
		goto out;
	svc = create_like(&o, SLUICE_MAP_LB_SVC, 0);
	cfg = create_like(&o, SLUICE_MAP_LB_CFG, 0);
	verdict = create_like(&o, SLUICE_MAP_VERDICT, 0);
	be = create_like(&o, SLUICE_MAP_LB_BACKENDS, -1);
	ASSERT_OK(pin(svc, SLUICE_MAP_LB_SVC), "pin lb_svc");
	ASSERT_OK(pin(cfg, SLUICE_MAP_LB_CFG), "pin lb_cfg");
	ASSERT_OK(pin(verdict, SLUICE_MAP_VERDICT), "pin sl_verdict");
	if (ASSERT_OK(migrate_plan(maps_dir, up_dir, o.v, 3, &mg), "plan of this layout"))
		ASSERT_EQ(migrate_count(mg, NULL), 0, "nothing to replace");
	migrate_free(mg);
	mg = NULL;
	ASSERT_OK(pin(be, SLUICE_MAP_LB_BACKENDS), "pin lb_backends");
	if (ASSERT_OK(migrate_plan(maps_dir, up_dir, o.v, 3, &mg), "plan"))
		ASSERT_EQ(migrate_count(mg, NULL), 3, "the group, not sl_verdict");
	migrate_free(mg);
	fd_close(svc);
	fd_close(cfg);
	fd_close(be);
	fd_close(verdict);
out:
	objs_close(&o);
	rm_dir(base);
}

/* An outer map whose maps have another layout than the template: replaced. */
TEST(plan_inner_layout_differs)
{
	struct migrate *mg = NULL;
	int tmpl, outer = -1;
	struct objs o;

	if (!ASSERT_TRUE(state_setup(), "state dir") || !ASSERT_TRUE(objs_open(&o), "open"))
		goto out;
	/* a conntrack table of entries 8 bytes longer */
	tmpl = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "t_tmpl", sizeof(struct sl_ct_key),
			      sizeof(struct sl_ct_entry) + 8, 16, NULL);
	outer = outer_create(SLUICE_MAP_CT, 2 * SLUICE_CT_SHARDS_MAX, tmpl);
	ASSERT_OK(bpf_map_update_elem(outer, &(__u32){ 0 }, &tmpl, BPF_ANY) ? -errno : 0, "shard");
	ASSERT_OK(pin(outer, SLUICE_MAP_CT), "pin");
	if (ASSERT_OK(migrate_plan(maps_dir, up_dir, o.v, 3, &mg), "plan"))
		ASSERT_EQ(migrate_count(mg, NULL), 1, "replaced, to be carried over");
	migrate_free(mg);
	fd_close(tmpl);
out:
	fd_close(outer);
	objs_close(&o);
	rm_dir(base);
}

/*
 * ct_shards of this build's layout without ct4_shards: the table from
 * before ct4_shards, with every connection in it: replaced, to be carried
 * over (split). With ct4_shards beside it: this build's, nothing replaced.
 */
/*
 * A kernel without BPF_MAP_UPDATE_BATCH on arrays of maps
 * (SLUICE_NO_MAP_BATCH stands in for its EINVAL): the shards go in one
 * update each, every slot of both tables holds one, and connections of
 * both families are found in the shards they were put in.
 */
TEST(ct_shards_without_batch_updates)
{
	struct ct_tables n = {};
	int tmpl[2] = { -1, -1 }, rc;
	struct sl_ct_entry e;
	uint32_t shards = 0, id;
	struct sl_ct_key k;

	if (!ASSERT_OK(new_tables(&n, tmpl), "new outer"))
		goto out;
	setenv("SLUICE_NO_MAP_BATCH", "1", 1);
	rc = ct_shards_create(&n, 2 * SLUICE_CT_SHARD_MIN, &shards);
	unsetenv("SLUICE_NO_MAP_BATCH");
	if (!ASSERT_OK(rc, "shards, one update each") || !ASSERT_EQ(shards, 2, "shards"))
		goto out;
	for (uint32_t i = 0; i < 2 * SLUICE_CT_SHARDS_MAX; i++) {
		bool used = i % SLUICE_CT_SHARDS_MAX < shards;

		ASSERT_EQ(bpf_map_lookup_elem(n.fd4, &i, &id) == 0, used, "IPv4 slot");
		ASSERT_EQ(bpf_map_lookup_elem(n.fd6, &i, &id) == 0, used, "IPv6 slot");
	}
	for (int i = 0; i < 10; i++) {
		k = ct_key(i);
		memset(&e, 0, sizeof(e));
		e.state = SL_CT_ESTABLISHED;
		e.last_seen = (uint64_t)i + 1;
		ASSERT_OK(ct_shards_insert(&n, shards, &k, &e, false), "insert");
	}
	for (int i = 0; i < 10; i++) {
		if (ASSERT_OK(ct_read(&n, shards, i, false, &e), "in its shard"))
			ASSERT_EQ(e.last_seen, (uint64_t)i + 1, "its entry");
	}
out:
	tables_close(&n, tmpl);
}

TEST(plan_ct_split)
{
	int tmpl[2] = { -1, -1 }, outer = -1, outer4 = -1;
	struct migrate *mg = NULL;
	struct objs o;
	bool slots;

	if (!ASSERT_TRUE(state_setup(), "state dir") || !ASSERT_TRUE(objs_open(&o), "open"))
		goto out;
	tmpl[0] = shard4_create();
	tmpl[1] = shard_create();
	outer = outer_create(SLUICE_MAP_CT, 2 * SLUICE_CT_SHARDS_MAX, tmpl[1]);
	ASSERT_OK(bpf_map_update_elem(outer, &(__u32){ 0 }, &tmpl[1], BPF_ANY) ? -errno : 0,
		  "shard");
	ASSERT_OK(pin(outer, SLUICE_MAP_CT), "pin");
	if (ASSERT_OK(migrate_plan(maps_dir, up_dir, o.v, 3, &mg), "plan"))
		ASSERT_EQ(migrate_count(mg, &slots), 1, "replaced, to be carried over");
	migrate_free(mg);
	mg = NULL;
	outer4 = outer_create(SLUICE_MAP_CT4, 2 * SLUICE_CT_SHARDS_MAX, tmpl[0]);
	ASSERT_OK(bpf_map_update_elem(outer4, &(__u32){ 0 }, &tmpl[0], BPF_ANY) ? -errno : 0,
		  "shard4");
	ASSERT_OK(pin(outer4, SLUICE_MAP_CT4), "pin ct4");
	if (ASSERT_OK(migrate_plan(maps_dir, up_dir, o.v, 3, &mg), "plan"))
		ASSERT_EQ(migrate_count(mg, NULL), 0, "this build's tables");
	migrate_free(mg);
out:
	fd_close(tmpl[0]);
	fd_close(tmpl[1]);
	fd_close(outer);
	fd_close(outer4);
	objs_close(&o);
	rm_dir(base);
}

/*
 * Flow I of the previous build's tables (client port 1000 + I), its backend
 * I: IPv4, or IPv6 for I >= FLOW6 (2001:db8::I -> 2001:db8::10).
 */
#define FLOW6	5

static struct lb_flow_key flow_key(int i)
{
	struct lb_flow_key k = { .sport = htons((uint16_t)(1000 + i)), .dport = htons(80),
				 .proto = 6, .family = i < FLOW6 ? 4 : 6 };

	if (i < FLOW6) {
		k.src[0] = 203;
		k.src[3] = (__u8)i;
		k.dst[0] = 192;
		k.dst[3] = 10;
	} else {
		k.src[0] = k.dst[0] = 0x20;
		k.src[1] = k.dst[1] = 0x01;
		k.src[2] = k.dst[2] = 0x0d;
		k.src[3] = k.dst[3] = 0xb8;
		k.src[15] = (__u8)i;
		k.dst[15] = 0x10;
	}
	return k;
}

static int flow_put(int fd, int i, __u32 backend)
{
	struct lb_flow_key k = flow_key(i);
	struct lb_flow f = { .last_seen = 1000 + (__u64)i, .backend = backend, .be_gen = 1 };

	return bpf_map_update_elem(fd, &k, &f, BPF_ANY) ? -errno : 0;
}

/*
 * Backend of flow I in the inner map W of lb_flowtab OUTER (40-byte keys),
 * or in lb_flowtab4 OUTER's with W = FLOWS4 (16-byte keys); -1: none.
 */
#define FLOWS4	2

static long flow_backend(int outer, __u32 w, int i)
{
	struct lb_flow_key k = flow_key(i);
	struct lb_flow4_key k4;
	__u32 id, slot = w == FLOWS4 ? 0 : w;
	struct lb_flow f;
	int fd;
	long be = -1;

	sl_lb_flow4_key(&k4, &k);
	if (bpf_map_lookup_elem(outer, &slot, &id))
		return -1;
	fd = bpf_map_get_fd_by_id(id);
	if (fd >= 0 && !bpf_map_lookup_elem(fd, w == FLOWS4 ? (void *)&k4 : (void *)&k, &f))
		be = f.backend;
	fd_close(fd);
	return be;
}

/*
 * A previous build's lb_flowtab, pinned (its maps' FLAGS: 0, or an LRU list
 * per CPU), its tables of 64 entries in IN[LB_FLOWS], IN[LB_REVERSE] and its
 * template in *TMPL: IPv4 flows 0, 1, 2 on backends 10-12, IPv6 flow FLOW6
 * on 15, reverse entry 7 on 17. Its fd.
 */
static int flowtab_prev(__u32 flags, int *tmpl, int in[2])
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = flags);
	int outer;

	*tmpl = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "t_old_in", sizeof(struct lb_flow_key),
			       sizeof(struct lb_flow), 64, &opts);
	outer = outer_create(SLUICE_MAP_LB_FLOWTAB, 2, *tmpl);
	for (__u32 w = 0; w < 2 && outer >= 0; w++) {
		in[w] = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "t_old_ft", sizeof(struct lb_flow_key),
				       sizeof(struct lb_flow), 64, &opts);
		ASSERT_OK(in[w] < 0 || bpf_map_update_elem(outer, &w, &in[w], BPF_ANY) ? -errno : 0,
			  "old table");
	}
	for (int i = 0; i < 3 && in[LB_FLOWS] >= 0; i++)
		ASSERT_OK(flow_put(in[LB_FLOWS], i, 10 + i), "old flow");
	if (in[LB_FLOWS] >= 0)
		ASSERT_OK(flow_put(in[LB_FLOWS], FLOW6, 15), "old IPv6 flow");
	if (in[LB_REVERSE] >= 0)
		ASSERT_OK(flow_put(in[LB_REVERSE], 7, 17), "old reverse entry");
	ASSERT_OK(pin(outer, SLUICE_MAP_LB_FLOWTAB), "pin lb_flowtab");
	return outer;
}

/* Is NAME pinned under the maps dir? 1 or 0 */
static int is_pinned(const char *name)
{
	int fd = pinned(maps_dir, name);

	fd_close(fd);
	return fd >= 0;
}

/* This build's lb_flowtab4, empty, as the object creates it, pinned: its fd. */
static int flowtab4_pinned(int *tmpl)
{
	int fd;

	*tmpl = lb_flowtab4_create("t_new4_in", 1);
	fd = outer_create(SLUICE_MAP_LB_FLOWTAB4, 1, *tmpl);
	ASSERT_OK(pin(fd, SLUICE_MAP_LB_FLOWTAB4), "the new lb_flowtab4");
	return fd;
}

/*
 * The previous programs before their links move: a new flow (3) and flow
 * 0 seen again, changed, in PREV_FLOWS; then MG committed: the new flow
 * follows into NFT4 (lb_flowtab4), flow 0 stays as it was carried.
 */
static void commit_flows_meanwhile(struct migrate *mg, int prev_flows, int nft4)
{
	ASSERT_OK(flow_put(prev_flows, 3, 13), "a flow meanwhile");
	ASSERT_OK(flow_put(prev_flows, 0, 99), "flow 0 meanwhile");
	migrate_commit(mg);
	ASSERT_EQ(flow_backend(nft4, FLOWS4, 3), 13, "the flow opened meanwhile");
	ASSERT_EQ(flow_backend(nft4, FLOWS4, 0), 10, "a flow carried stays as it is");
}

/*
 * lb_flowtab of the previous layout (an LRU list per CPU, BPF_F_NO_COMMON_LRU)
 * beside lb_backends of this one: replaced alone, not with the group (the
 * backends keep their ids), and its flows and reverse entries carried into
 * tables of the previous sizes, the IPv4 flows into lb_flowtab4 (new: planned
 * from lb_flowtab); those the previous programs open before their links
 * move follow at the commit; a flow already carried stays.
 */
TEST(plan_lb_flows_carried_alone)
{
	int be = -1, tmpl = -1, old = -1, in[2] = { -1, -1 }, ntmpl = -1, nft = -1;
	int tmpl4 = -1, nft4 = -1;
	struct bpf_map_info info = {};
	__u32 len = sizeof(info), id;
	struct migrate *mg = NULL;
	struct objs o;
	int fd;

	if (!ASSERT_TRUE(state_setup(), "state dir") || !ASSERT_TRUE(objs_open(&o), "open"))
		goto out;
	be = create_like(&o, SLUICE_MAP_LB_BACKENDS, 0);
	old = flowtab_prev(BPF_F_NO_COMMON_LRU, &tmpl, in);
	ASSERT_OK(pin(be, SLUICE_MAP_LB_BACKENDS), "pin lb_backends");
	if (!ASSERT_OK(migrate_plan(maps_dir, up_dir, o.v, 3, &mg), "plan"))
		goto out_fd;
	ASSERT_EQ(migrate_count(mg, NULL), 2, "lb_flowtab alone (and lb_flowtab4 from it), "
		  "lb_backends kept");
	ASSERT_OK(migrate_begin(mg), "begin");
	/* this build's lb_flowtab and lb_flowtab4, empty, as the object creates them */
	ntmpl = lb_flowtab_create("t_new_in", 1);
	nft = outer_create(SLUICE_MAP_LB_FLOWTAB, 2, ntmpl);
	ASSERT_OK(pin(nft, SLUICE_MAP_LB_FLOWTAB), "the new lb_flowtab");
	nft4 = flowtab4_pinned(&tmpl4);
	ASSERT_OK(migrate_carry(mg, o.v[0], true), "carry");
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(flow_backend(nft4, FLOWS4, i), 10 + i, "an IPv4 flow on its backend");
		ASSERT_EQ(flow_backend(nft, LB_FLOWS, i), -1, "not in lb_flowtab");
	}
	ASSERT_EQ(flow_backend(nft, LB_FLOWS, FLOW6), 15, "the IPv6 flow in lb_flowtab");
	ASSERT_EQ(flow_backend(nft, LB_REVERSE, 7), 17, "the reverse entry");
	for (__u32 w = 0; w < 2; w++) {
		if (!ASSERT_OK(bpf_map_lookup_elem(w ? nft4 : nft, &(__u32){ 0 }, &id) ? -errno :
			       0, "a table"))
			continue;
		fd = bpf_map_get_fd_by_id(id);
		ASSERT_OK(bpf_obj_get_info_by_fd(fd, &info, &len) ? -errno : 0, "its info");
		ASSERT_EQ(info.max_entries, 64, "the previous size");
		ASSERT_EQ(info.map_flags, 0, "one LRU list");
		fd_close(fd);
	}
	commit_flows_meanwhile(mg, in[LB_FLOWS], nft4);
	mg = NULL;
out_fd:
	migrate_free(mg);
	for (int w = 0; w < 2; w++)
		fd_close(in[w]);
	fd_close(be);
	fd_close(tmpl);
	fd_close(old);
	fd_close(ntmpl);
	fd_close(nft);
	fd_close(tmpl4);
	fd_close(nft4);
out:
	objs_close(&o);
	rm_dir(base);
}

/*
 * From the build before lb_flowtab4: lb_flowtab of this layout stays in
 * place (its IPv6 flows and reverse entries used as they are), its IPv4
 * flows are carried into lb_flowtab4 (a table of the same size); those the
 * previous programs open before their links move follow at the commit,
 * which then deletes them from lb_flowtab. An undone upgrade unpins
 * lb_flowtab4, so that the next attempt carries them again.
 */
TEST(plan_lb_ipv4_flows_move_to_flowtab4)
{
	int be = -1, tmpl = -1, ft = -1, in[2] = { -1, -1 }, tmpl4 = -1, nft4 = -1;
	struct migrate *mg = NULL;
	struct objs o;

	if (!ASSERT_TRUE(state_setup(), "state dir") || !ASSERT_TRUE(objs_open(&o), "open"))
		goto out;
	be = create_like(&o, SLUICE_MAP_LB_BACKENDS, 0);
	ft = flowtab_prev(0, &tmpl, in);
	ASSERT_OK(pin(be, SLUICE_MAP_LB_BACKENDS), "pin lb_backends");
	/* an attempt undone: lb_flowtab4 unpinned, lb_flowtab as it was */
	if (!ASSERT_OK(migrate_plan(maps_dir, up_dir, o.v, 3, &mg), "plan"))
		goto out_fd;
	ASSERT_EQ(migrate_count(mg, NULL), 1, "lb_flowtab4, from lb_flowtab");
	ASSERT_OK(migrate_begin(mg), "begin");
	nft4 = flowtab4_pinned(&tmpl4);
	ASSERT_OK(migrate_carry(mg, o.v[0], true), "carry");
	ASSERT_EQ(flow_backend(nft4, FLOWS4, 1), 11, "carried");
	migrate_rollback(mg);
	mg = NULL;
	ASSERT_EQ(is_pinned(SLUICE_MAP_LB_FLOWTAB4), 0, "lb_flowtab4 unpinned");
	ASSERT_EQ(is_pinned(SLUICE_MAP_LB_FLOWTAB), 1, "lb_flowtab in place");
	ASSERT_EQ(flow_backend(ft, LB_FLOWS, 1), 11, "its IPv4 flows still there");
	fd_close(nft4);
	fd_close(tmpl4);
	/* again, to the end */
	if (!ASSERT_OK(migrate_plan(maps_dir, up_dir, o.v, 3, &mg), "plan again"))
		goto out_fd;
	ASSERT_EQ(migrate_count(mg, NULL), 1, "lb_flowtab4 again");
	ASSERT_OK(migrate_begin(mg), "begin");
	ASSERT_EQ(is_pinned(SLUICE_MAP_LB_FLOWTAB), 1, "lb_flowtab not moved aside");
	nft4 = flowtab4_pinned(&tmpl4);
	ASSERT_OK(migrate_carry(mg, o.v[0], true), "carry");
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(flow_backend(nft4, FLOWS4, i), 10 + i, "an IPv4 flow carried");
	ASSERT_EQ(flow_backend(nft4, FLOWS4, FLOW6), -1, "no IPv6 flow there");
	commit_flows_meanwhile(mg, in[LB_FLOWS], nft4);
	mg = NULL;
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(flow_backend(ft, LB_FLOWS, i), -1, "IPv4 flows gone from lb_flowtab");
	ASSERT_EQ(flow_backend(ft, LB_FLOWS, FLOW6), 15, "the IPv6 flow stays");
	ASSERT_EQ(flow_backend(ft, LB_REVERSE, 7), 17, "the reverse entry stays");
	ASSERT_EQ(is_pinned(SLUICE_MAP_LB_FLOWTAB), 1, "lb_flowtab still pinned");
out_fd:
	migrate_free(mg);
	for (int w = 0; w < 2; w++)
		fd_close(in[w]);
	fd_close(be);
	fd_close(tmpl);
	fd_close(ft);
	fd_close(tmpl4);
	fd_close(nft4);
out:
	objs_close(&o);
	rm_dir(base);
}

/* An upgrade left half done: its pins go back in place of the new ones. */
TEST(recover_puts_the_previous_pins_back)
{
	int prev = percpu_array(3, 16), cur = percpu_array(4, 16), got;
	char path[160];

	if (!ASSERT_TRUE(state_setup(), "state dir") || !ASSERT_TRUE(prev >= 0 && cur >= 0, "maps"))
		goto out;
	ASSERT_OK(mkdir(up_dir, 0700) ? -errno : 0, "upgrade dir");
	snprintf(path, sizeof(path), "%s/%s", up_dir, SLUICE_MAP_VERDICT);
	ASSERT_OK(bpf_obj_pin(prev, path) ? -errno : 0, "previous pin");
	ASSERT_OK(pin(cur, SLUICE_MAP_VERDICT), "the new one");
	ASSERT_OK(migrate_recover(maps_dir, up_dir), "recover");
	got = pinned(maps_dir, SLUICE_MAP_VERDICT);
	ASSERT_EQ(map_id(got), map_id(prev), "the previous map is back");
	fd_close(got);
	ASSERT_TRUE(access(up_dir, F_OK) && errno == ENOENT, "upgrade dir removed");
	ASSERT_OK(migrate_recover(maps_dir, up_dir), "nothing to recover");
out:
	fd_close(prev);
	fd_close(cur);
	rm_dir(base);
}

/*
 * Container egress (sluice_cgroup's maps): eg_cg goes with the policy slots
 * (its words name slots); eg_stats is carried by name and eg_lb_rev entry
 * by entry, when the cgroup object is loaded, not the XDP one; the VIPs the
 * previous hooks add meanwhile follow at the commit. A key of another
 * layout loses them, never refuses the upgrade.
 */
TEST(plan_egress)
{
	struct sl_eg_rev_key k1 = { .cookie = 1 }, k2 = { .cookie = 2 };
	unsigned char v[sizeof(struct sl_eg_rev)], want[sizeof(struct sl_eg_rev)];
	int cg = -1, ifa = -1, st = -1, rev = -1, nst = -1, nrev = -1;
	struct migrate *mg = NULL;
	struct objs o;
	bool slots;

	if (!ASSERT_TRUE(state_setup(), "state dir") || !ASSERT_TRUE(objs_open(&o), "open"))
		goto out;
	cg = create_like(&o, SLUICE_MAP_EG_CG, 0);
	ASSERT_OK(pin(cg, SLUICE_MAP_EG_CG), "pin eg_cg");
	if (ASSERT_OK(migrate_plan(maps_dir, up_dir, o.v, 3, &mg), "plan of this layout"))
		ASSERT_EQ(migrate_count(mg, NULL), 0, "nothing to replace");
	migrate_free(mg);
	mg = NULL;
	ifa = create_like(&o, SLUICE_MAP_IFSLOT_A, -1024);
	ASSERT_OK(pin(ifa, SLUICE_MAP_IFSLOT_A), "pin sl_ifslot_a");
	if (ASSERT_OK(migrate_plan(maps_dir, up_dir, o.v, 3, &mg), "plan")) {
		ASSERT_EQ(migrate_count(mg, &slots), 2, "sl_ifslot_a and eg_cg");
		ASSERT_TRUE(slots, "slots rebuilt");
	}
	migrate_free(mg);
	mg = NULL;
	rm_dir(base);

	/* eg_stats one entry short (no names recorded: this build's), eg_lb_rev's values 16 B */
	if (!ASSERT_TRUE(state_setup(), "state dir again"))
		goto out;
	st = create_like(&o, SLUICE_MAP_EG_STATS, -1);
	rev = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "t_rev", sizeof(k1), 16, 64, NULL);
	memset(v, 0, sizeof(v));
	memset(v, 0xab, 16);
	memcpy(want, v, sizeof(v));
	ASSERT_OK(bpf_map_update_elem(rev, &k1, v, BPF_ANY) ? -errno : 0, "a VIP");
	counters_set(st, 3, 40);
	ASSERT_OK(pin(st, SLUICE_MAP_EG_STATS), "pin eg_stats");
	ASSERT_OK(pin(rev, SLUICE_MAP_EG_LB_REV), "pin eg_lb_rev");
	if (!ASSERT_OK(migrate_plan(maps_dir, up_dir, o.v, 3, &mg), "plan"))
		goto out_fd;
	ASSERT_EQ(migrate_count(mg, &slots), 2, "eg_stats and eg_lb_rev");
	ASSERT_FALSE(slots, "the slots stay");
	ASSERT_OK(migrate_begin(mg), "begin");
	nst = create_like(&o, SLUICE_MAP_EG_STATS, 0);
	nrev = create_like(&o, SLUICE_MAP_EG_LB_REV, 0);
	ASSERT_OK(pin(nst, SLUICE_MAP_EG_STATS), "the new eg_stats");
	ASSERT_OK(pin(nrev, SLUICE_MAP_EG_LB_REV), "the new eg_lb_rev");
	ASSERT_OK(migrate_carry(mg, o.v[0], true), "carry the XDP object's");
	ASSERT_EQ(counters_sum(nst, 3).packets, 0, "not the XDP object's map");
	ASSERT_OK(migrate_carry(mg, o.v[2], true), "carry the cgroup object's");
	ASSERT_EQ(counters_sum(nst, 3).packets, expect(40), "connect6-denied by name");
	memset(v, 0x55, sizeof(v));
	ASSERT_OK(bpf_map_lookup_elem(nrev, &k1, v) ? -errno : 0, "the VIP carried");
	ASSERT_OK(memcmp(v, want, sizeof(v)), "its leading bytes, the rest zero");
	/* the previous hooks go on until their links move */
	memset(want, 0xcd, 16);
	ASSERT_OK(bpf_map_update_elem(rev, &k2, want, BPF_ANY) ? -errno : 0, "a VIP meanwhile");
	counters_set(st, 3, 41);
	migrate_commit(mg);
	mg = NULL;
	ASSERT_EQ(counters_sum(nst, 3).packets, expect(41), "with the delta");
	ASSERT_OK(bpf_map_lookup_elem(nrev, &k2, v) ? -errno : 0, "the VIP added meanwhile");
	ASSERT_OK(memcmp(v, want, 16), "its value");
	ASSERT_TRUE(pinned(maps_dir, SLUICE_MAP_EG_STATS) >= 0, "this build's pinned");
	ASSERT_TRUE(access(up_dir, F_OK) && errno == ENOENT, "upgrade dir removed");
	fd_close(rev);
	fd_close(nrev);
	rev = nrev = -1;

	/* keys of another layout: nothing carried, the upgrade goes on */
	rev = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "t_rev", 16, 16, 64, NULL);
	ASSERT_OK(bpf_map_update_elem(rev, &k1, v, BPF_ANY) ? -errno : 0, "an entry");
	{
		char path[160];

		snprintf(path, sizeof(path), "%s/%s", maps_dir, SLUICE_MAP_EG_LB_REV);
		unlink(path);
	}
	ASSERT_OK(pin(rev, SLUICE_MAP_EG_LB_REV), "pin eg_lb_rev of other keys");
	if (!ASSERT_OK(migrate_plan(maps_dir, up_dir, o.v, 3, &mg), "plan, other keys"))
		goto out_fd;
	ASSERT_OK(migrate_begin(mg), "begin");
	nrev = create_like(&o, SLUICE_MAP_EG_LB_REV, 0);
	ASSERT_OK(pin(nrev, SLUICE_MAP_EG_LB_REV), "the new eg_lb_rev");
	ASSERT_OK(migrate_carry(mg, o.v[2], true), "carry: lost, not refused");
	ASSERT_TRUE(bpf_map_get_next_key(nrev, NULL, &k2) && errno == ENOENT, "empty");
	migrate_commit(mg);
	mg = NULL;
out_fd:
	migrate_free(mg);
	fd_close(cg);
	fd_close(ifa);
	fd_close(st);
	fd_close(rev);
	fd_close(nst);
	fd_close(nrev);
out:
	objs_close(&o);
	rm_dir(base);
}
