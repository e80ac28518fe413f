// SPDX-License-Identifier: GPL-2.0-only
/*
 * Builds policy slots from compiled firewall tables (fw_tables.h): one new
 * inner map per fw_* table the policy needs (SLUICE_FW_TABLES), sized from
 * the tables where the layout allows (large classes, chunks and groups, the
 * hash, IPv6 prefixes), filled, frozen, and inserted into the outer fwp_*
 * maps at the slot, all at once. A slot is never written again: a new
 * policy is a new slot, so a failure at any step leaves the policy in force
 * exactly as it was. Also reads the per-CPU counters back.
 *
 * The arrays are BPF_F_MMAPABLE: they are written with one memcpy each
 * (32 MiB for a flat fw_src4_24) instead of hundreds of thousands of
 * syscalls.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <sys/socket.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "fw_maps.h"

#define FW_BATCH	4096

/* ---- failure injection (tests) ------------------------------------------ */

static unsigned int fail_k, fail_n;
static int fail_err = EIO;
static bool fail_env_read;
static char fail_map[16];	/* count only the writes of this map; "": all */

void fw_maps_fail_at(unsigned int k, int err)
{
	fail_env_read = true;	/* an explicit setting wins over the environment */
	fail_map[0] = '\0';
	fail_k = k;
	fail_n = 0;
	fail_err = err ? err : EIO;
}

unsigned int fw_maps_writes(void)
{
	return fail_n;
}

static void fail_env(void)
{
	if (!fail_env_read) {
		const char *e = getenv("SLUICE_FAIL_MAP_WRITE");
		unsigned int k = 0;
		int err = 0;

		fail_env_read = true;
		if (e && sscanf(e, "%u:%d:%15s", &k, &err, fail_map) >= 1) {
			fail_k = k;
			fail_err = err > 0 ? err : EIO;
		}
	}
}

/* Called before every write of map MAP: -errno when this is the one to fail. */
static int write_hook(const char *map)
{
	fail_env();
	if (fail_map[0] && strcmp(map, fail_map))
		return 0;
	if (++fail_n == fail_k)
		return -fail_err;
	return 0;
}

/* ---- one policy slot ------------------------------------------------------ */

/* The inner maps of a slot (SLUICE_FW_TABLES), in build and insert order. */
struct tbl_desc {
	const char *name;	/* inner map name */
	const char *outer;	/* outer map name */
	enum bpf_map_type type;
	__u32 flags;
	uint32_t entries;	/* 0: sized to the policy */
	size_t ksize, vsize;
};

static const struct tbl_desc tbls[SLUICE_FWT_MAX] = {
#define SL_TBL_DESC(id, outer, name, mtype, flags, entries, ktype, vtype) \
	[SLUICE_FWT_##id] = { name, #outer, mtype, flags, entries, sizeof(ktype), sizeof(vtype) },
	SLUICE_FW_TABLES(SL_TBL_DESC)
#undef SL_TBL_DESC
};

/*
 * What table K gets from T: its contents and number of entries (*N), and
 * the map's size (*MAX). *MAX 0: the slot leaves the table empty (the
 * policy does not need it: e.g. no IPv6 prefix, or a small class layout).
 */
static void tbl_src(enum sluice_fw_table k, const struct fw_tables *t, const void **src,
		    uint32_t *n, uint32_t *max)
{
	*src = NULL;
	*n = 0;
	switch (k) {
	case SLUICE_FWT_CLS:
		if (!t->cfg.row) {
			*src = t->clsmap;
			*n = t->nclsmap;
		}
		break;
	case SLUICE_FWT_CLSB:
		if (t->cfg.row) {
			*src = t->clsmap;
			*n = t->nclsmap;
		}
		break;
	case SLUICE_FWT_SRC4_T8:
	case SLUICE_FWT_DST4_T8: {
		const struct fw_pfx4 *v = &t->v4[k == SLUICE_FWT_DST4_T8];

		*src = v->t8;
		*n = v->nt8;
		break;
	}
	case SLUICE_FWT_SRC4_P1:
	case SLUICE_FWT_DST4_P1:
		*src = t->v4[k == SLUICE_FWT_DST4_P1].p1;
		*n = t->v4[k == SLUICE_FWT_DST4_P1].np1;
		break;
	case SLUICE_FWT_SRC4_P2:
	case SLUICE_FWT_DST4_P2:
		*src = t->v4[k == SLUICE_FWT_DST4_P2].p2;
		*n = t->v4[k == SLUICE_FWT_DST4_P2].np2;
		break;
	case SLUICE_FWT_SRC4_LH:
	case SLUICE_FWT_DST4_LH: {
		const struct fw_pfx4 *v = &t->v4[k == SLUICE_FWT_DST4_LH];

		*src = v->lh;
		*n = v->nlh;
		break;
	}
	case SLUICE_FWT_SRC4:
	case SLUICE_FWT_DST4:
		*src = t->v4[k == SLUICE_FWT_DST4].l1;
		*n = *src ? SLUICE_L1_BLOCKS : 0;
		break;
	case SLUICE_FWT_SRC4_S:
	case SLUICE_FWT_DST4_S:
		*src = t->v4[k == SLUICE_FWT_DST4_S].s;
		*n = t->v4[k == SLUICE_FWT_DST4_S].ns;
		break;
	case SLUICE_FWT_SRC4_24:
	case SLUICE_FWT_DST4_24:
		*src = t->v4[k == SLUICE_FWT_DST4_24].flat;
		*n = *src ? SLUICE_FLAT_CHUNKS : 0;
		break;
	case SLUICE_FWT_SRC6:
	case SLUICE_FWT_DST6:
		*src = t->v6[k == SLUICE_FWT_DST6];
		*n = t->n6[k == SLUICE_FWT_DST6];
		break;
	case SLUICE_FWT_SPORT:
	case SLUICE_FWT_DPORT:
		*src = t->port[k == SLUICE_FWT_DPORT];
		*n = *src ? SLUICE_PORT_BLOCKS : 0;
		break;
	case SLUICE_FWT_RULE:
		*src = t->rule;
		*n = SLUICE_RULE_BLOCKS;
		break;
	case SLUICE_FWT_CFG:
	case SLUICE_FWT_MAX:
		*src = &t->cfg;
		*n = 1;
		break;
	}
	/* fixed tables keep their size; a table with nothing is not created */
	*max = !*n ? 0 : tbls[k].entries ? tbls[k].entries : *n;
}

static int arr_fill(int fd, const void *src, uint32_t n, uint32_t max, size_t vsize)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t len = ((size_t)max * vsize + page - 1) / page * page;
	void *mem;

	if (!n)
		return 0;	/* a new array is zero */
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED)
		return -errno;
	memcpy(mem, src, (size_t)n * vsize);
	munmap(mem, len);
	return 0;
}

/* Insert the N trie entries V; on failure *BAD is the entry that failed. */
static int lpm_fill(int fd, const char *name, const struct fw_lpm6_entry *v, uint32_t n,
		    uint32_t *bad)
{
	struct fw_lpm6_key *keys = malloc((n ? n : 1) * sizeof(*keys));
	struct fw_lpm6_val *vals = malloc((n ? n : 1) * sizeof(*vals));
	uint32_t done = 0;
	int err = 0;

	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		keys[i] = v[i].key;
		vals[i] = v[i].val;
	}
	fail_env();
	/* with a failure armed, one write per prefix: it can hit any of them */
	for (; fail_k && done < n && !err; done++) {
		*bad = done;
		err = write_hook(name);
		if (!err && bpf_map_update_elem(fd, &keys[done], &vals[done], BPF_ANY))
			err = -errno;
	}
	while (done < n && !err) {
		LIBBPF_OPTS(bpf_map_batch_opts, opts);
		uint32_t cnt = n - done < FW_BATCH ? n - done : FW_BATCH;

		*bad = done;
		err = write_hook(name);
		if (err)
			break;
		if (!bpf_map_update_batch(fd, keys + done, vals + done, &cnt, &opts)) {
			done += cnt;
			continue;
		}
		err = -errno;
		*bad = done + cnt;
		if (err != -EINVAL && err != -ENOTSUP && err != -EOPNOTSUPP)
			break;
		/* no batch operations on this kernel: one at a time */
		err = 0;
		for (; done < n; done++) {
			if (bpf_map_update_elem(fd, &keys[done], &vals[done], BPF_ANY)) {
				err = -errno;
				*bad = done;
				break;
			}
		}
	}
out:
	free(keys);
	free(vals);
	return err;
}

static bool mem_zero(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * A slot in use whose inner map for table K has MAX entries and holds
 * exactly SRC[0, N) then zeroes (arrays only): its fd, or -1. Slots are
 * never written again, so one inner map can serve several slots: sections
 * with the same source tables, or a reload that changed only ports, share
 * them instead of building them again.
 */
static int tbl_find_same(const struct fw_map_fds *fds, enum sluice_fw_table k,
			 const void *src, uint32_t n, uint32_t max)
{
	const struct tbl_desc *d = &tbls[k];
	long page = sysconf(_SC_PAGESIZE);
	size_t len = ((size_t)max * d->vsize + page - 1) / page * page;

	if (d->type != BPF_MAP_TYPE_ARRAY || !(d->flags & BPF_F_MMAPABLE))
		return -1;
	for (uint32_t s = 0; s < SLUICE_POL_SLOTS; s++) {
		struct bpf_map_info info = {};
		__u32 id, ilen = sizeof(info);
		void *mem;
		bool same;
		int fd;

		if (bpf_map_lookup_elem(fds->tbl[k], &s, &id))
			continue;
		fd = bpf_map_get_fd_by_id(id);
		if (fd < 0)
			continue;
		if (bpf_obj_get_info_by_fd(fd, &info, &ilen) || info.max_entries != max) {
			close(fd);
			continue;
		}
		mem = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
		if (mem == MAP_FAILED) {
			close(fd);
			continue;
		}
		same = !memcmp(mem, src, (size_t)n * d->vsize) &&
		       mem_zero((char *)mem + (size_t)n * d->vsize, (size_t)(max - n) * d->vsize);
		munmap(mem, len);
		if (same)
			return fd;
		close(fd);
	}
	return -1;
}

/*
 * Create and fill the inner map of table K from T (or share an identical
 * one): its fd, -ENOENT when the slot does not need it, or -errno.
 */
static int tbl_build(const struct fw_map_fds *fds, enum sluice_fw_table k,
		     const struct fw_tables *t, struct fw_write_fail *fail,
		     struct sl_diags *diags)
{
	const struct tbl_desc *d = &tbls[k];
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = d->flags);
	const char *what = "create";
	uint32_t n, max, bad = 0;
	const void *src;
	int fd, err;

	tbl_src(k, t, &src, &n, &max);
	if (!max)
		return -ENOENT;
	fd = tbl_find_same(fds, k, src, n, max);
	if (fd >= 0)
		return fd;
	err = write_hook(d->name);
	if (!err) {
		fd = bpf_map_create(d->type, d->name, d->ksize, d->vsize, max, &opts);
		err = fd < 0 ? -errno : 0;
	}
	if (err)
		goto fail;
	what = "fill";
	if (d->type == BPF_MAP_TYPE_LPM_TRIE) {
		err = lpm_fill(fd, d->name, src, n, &bad);
		if (err && bad < n) {
			fail->has_key = true;
			fail->key = ((const struct fw_lpm6_entry *)src)[bad].key;
		}
	} else if (d->flags & BPF_F_MMAPABLE) {
		err = write_hook(d->name);
		if (!err)
			err = arr_fill(fd, src, n, max, d->vsize);
	} else {
		__u32 zero = 0;

		err = write_hook(d->name);
		if (!err && bpf_map_update_elem(fd, &zero, src, BPF_ANY))
			err = -errno;
	}
	/* written once: from now on the kernel refuses writes from userspace */
	if (!err) {
		what = "freeze";
		err = write_hook(d->name);
		if (!err && bpf_map_freeze(fd))
			err = -errno;
	}
	if (!err)
		return fd;
	close(fd);
fail:
	fail->map = d->name;
	sl_diag_add(diags, NULL, "map %s (%u entries): %s failed: %s", d->name, max, what,
		    strerror(-err));
	return err;
}

/*
 * One update (INNER >= 0) or delete of slot SLOT in an outer map. The kernel
 * makes every update or delete of an array of maps from userspace wait for
 * an RCU grace period (so that no program still uses what was there): ~10 ms
 * each on a loaded machine, the bulk of a policy apply done one after the
 * other. outer_ops runs them in threads of their own, which wait for about
 * one grace period together.
 */
struct outer_op {
	int outer, inner;
	uint32_t slot;
	int err;
};

static void *outer_op_run(void *arg)
{
	struct outer_op *o = arg;
	int r = o->inner >= 0 ? bpf_map_update_elem(o->outer, &o->slot, &o->inner, BPF_ANY) :
			       bpf_map_delete_elem(o->outer, &o->slot);

	o->err = r && !(o->inner < 0 && errno == ENOENT) ? -errno : 0;
	return NULL;
}

static void outer_ops(struct outer_op *ops, int n)
{
	pthread_t th[SLUICE_FWT_MAX];
	bool started[SLUICE_FWT_MAX] = { false };

	for (int i = 0; i < n; i++)
		started[i] = n > 1 && !pthread_create(&th[i], NULL, outer_op_run, &ops[i]);
	for (int i = 0; i < n; i++) {
		if (started[i])
			pthread_join(th[i], NULL);
		else
			outer_op_run(&ops[i]);	/* no thread: here and now */
	}
}

int fw_slot_clear(const struct fw_map_fds *fds, uint32_t slot)
{
	struct outer_op ops[SLUICE_FWT_MAX];
	int ret = 0;

	/* a slot is cleared once no interface names it: all at once */
	for (int k = 0; k < SLUICE_FWT_MAX; k++)
		ops[k] = (struct outer_op){ fds->tbl[k], -1, slot, 0 };
	outer_ops(ops, SLUICE_FWT_MAX);
	for (int k = 0; k < SLUICE_FWT_MAX && !ret; k++)
		ret = ops[k].err;
	return ret;
}

int fw_slot_write(const struct fw_map_fds *fds, uint32_t slot, const struct fw_tables *t,
		  struct fw_write_fail *fail, struct sl_diags *diags)
{
	struct fw_write_fail nofail;
	int inner[SLUICE_FWT_MAX];
	int built = 0, err = 0;

	if (!fail)
		fail = &nofail;
	memset(fail, 0, sizeof(*fail));
	if (slot >= SLUICE_POL_SLOTS) {
		sl_diag_add(diags, NULL, "policy slot %u out of range", slot);
		return -EINVAL;
	}
	if (t->cfg.nrules > SLUICE_MAX_RULES || t->n6[0] > SLUICE_LPM6_MAX ||
	    t->n6[1] > SLUICE_LPM6_MAX || t->v4[0].nt8 > SLUICE_T8_MAX ||
	    t->v4[1].nt8 > SLUICE_T8_MAX || t->v4[0].np1 > SLUICE_T8_MAX ||
	    t->v4[1].np1 > SLUICE_T8_MAX || t->v4[0].np2 > SLUICE_T8_MAX ||
	    t->v4[1].np2 > SLUICE_T8_MAX || t->v4[0].nlh > SLUICE_LH_MAX ||
	    t->v4[1].nlh > SLUICE_LH_MAX ||
	    (!t->cfg.row && t->nclsmap > SLUICE_SMALL_CLASSES)) {
		sl_diag_add(diags, NULL, "compiled tables exceed the map sizes");
		return -E2BIG;
	}
	if (!t->clsmap || !t->rule) {
		sl_diag_add(diags, NULL, "compiled tables are incomplete");
		return -EINVAL;
	}
	if (fw_slot_used(fds, slot)) {
		sl_diag_add(diags, NULL, "policy slot %u is in use", slot);
		return -EBUSY;
	}
	/* leftovers of a write that failed half way (a crash) */
	fw_slot_clear(fds, slot);

	for (; built < SLUICE_FWT_MAX; built++) {
		inner[built] = tbl_build(fds, built, t, fail, diags);
		if (inner[built] == -ENOENT)
			continue;
		if (inner[built] < 0) {
			err = inner[built];
			goto out;
		}
	}
	/*
	 * Every table at once: no packet reaches the slot before the flip (the
	 * interfaces' words name it only then; a slot is reused only after its
	 * grace period), so their order does not matter, and a crash half way
	 * leaves a slot no interface names, cleared at the next write. A write
	 * the tests fail (write_hook) is decided here, in table order.
	 */
	{
		struct outer_op ops[SLUICE_FWT_MAX];
		int kk[SLUICE_FWT_MAX], n = 0;

		for (int k = 0; k < SLUICE_FWT_MAX && !err; k++) {
			if (inner[k] < 0)
				continue;
			err = write_hook(tbls[k].name);
			kk[n] = k;
			ops[n++] = (struct outer_op){ fds->tbl[k], inner[k], slot, err };
		}
		if (!err)
			outer_ops(ops, n);
		for (int i = 0; i < n; i++) {
			if (!ops[i].err)
				continue;
			err = ops[i].err;
			fail->map = tbls[kk[i]].name;
			sl_diag_add(diags, NULL, "map %s: cannot insert %s into policy slot %u: %s",
				    tbls[kk[i]].outer, tbls[kk[i]].name, slot, strerror(-err));
			break;
		}
	}
	if (err)
		fw_slot_clear(fds, slot);
out:
	/* the outer maps hold the inner maps now (or nothing does) */
	for (int k = 0; k < built; k++)
		if (inner[k] >= 0)
			close(inner[k]);
	return err;
}

bool fw_slot_used(const struct fw_map_fds *fds, uint32_t slot)
{
	__u32 id;

	for (int k = 0; k < SLUICE_FWT_MAX; k++)
		if (!bpf_map_lookup_elem(fds->tbl[k], &slot, &id))
			return true;
	return false;
}

int fw_slot_free(const struct fw_map_fds *fds, uint32_t *slot)
{
	for (uint32_t s = 0; s < SLUICE_POL_SLOTS; s++) {
		if (fw_slot_used(fds, s) || fw_ifslot_refers(fds, s))
			continue;
		*slot = s;
		return 0;
	}
	return -ENOSPC;
}

int fw_slot_open(const struct fw_map_fds *fds, uint32_t slot, struct fw_map_fds *inner)
{
	int err = 0;

	memset(inner, -1, sizeof(*inner));
	if (bpf_map_lookup_elem(fds->tbl[SLUICE_FWT_CFG], &slot, &(__u32){ 0 }))
		return -errno;
	for (int k = 0; k < SLUICE_FWT_MAX; k++) {
		__u32 id;

		/* a table the slot does not need stays -1 */
		if (bpf_map_lookup_elem(fds->tbl[k], &slot, &id))
			continue;
		inner->tbl[k] = bpf_map_get_fd_by_id(id);
		if (inner->tbl[k] < 0) {
			err = -errno;
			break;
		}
	}
	if (err)
		fw_slot_close(inner);
	return err;
}

void fw_slot_close(struct fw_map_fds *inner)
{
	for (int k = 0; k < SLUICE_FWT_MAX; k++) {
		if (inner->tbl[k] >= 0)
			close(inner->tbl[k]);
		inner->tbl[k] = -1;
	}
}

int fw_slot_cfg(const struct fw_map_fds *fds, uint32_t slot, struct fw_config *cfg)
{
	__u32 id, zero = 0;
	int fd, err = 0;

	if (bpf_map_lookup_elem(fds->tbl[SLUICE_FWT_CFG], &slot, &id))
		return -errno;
	fd = bpf_map_get_fd_by_id(id);
	if (fd < 0)
		return -errno;
	if (bpf_map_lookup_elem(fd, &zero, cfg))
		err = -errno;
	close(fd);
	return err;
}

/* The array word of IFINDEX (slot + 1, or 0: none); nothing above its range. */
static int ifslot_a_write(const struct fw_map_fds *fds, uint32_t ifindex, uint32_t v)
{
	if (fds->ifslot_a < 0 || ifindex >= SLUICE_IFSLOT_ARRAY)
		return 0;
	return bpf_map_update_elem(fds->ifslot_a, &ifindex, &v, BPF_ANY) ? -errno : 0;
}

int fw_ifslot_set(const struct fw_map_fds *fds, uint32_t ifindex, uint32_t slot)
{
	int err = write_hook(SLUICE_MAP_IFSLOT);

	if (err)
		return err;
	/* the hash first: the array word is the switch the datapath reads */
	if (bpf_map_update_elem(fds->ifslot, &ifindex, &slot, BPF_ANY))
		return -errno;
	return ifslot_a_write(fds, ifindex, slot + 1);
}

int fw_ifslot_sync_array(const struct fw_map_fds *fds)
{
	__u32 k, next, v;
	int err = 0;

	for (int r = bpf_map_get_next_key(fds->ifslot, NULL, &next); !r && !err;
	     r = bpf_map_get_next_key(fds->ifslot, &k, &next)) {
		k = next;
		if (!bpf_map_lookup_elem(fds->ifslot, &k, &v))
			err = ifslot_a_write(fds, k, v + 1);
	}
	return err;
}

int fw_ifslot_get(const struct fw_map_fds *fds, uint32_t ifindex, uint32_t *slot)
{
	return bpf_map_lookup_elem(fds->ifslot, &ifindex, slot) ? -errno : 0;
}

int fw_ifslot_del(const struct fw_map_fds *fds, uint32_t ifindex)
{
	int err = ifslot_a_write(fds, ifindex, 0);

	if (err)
		return err;
	if (bpf_map_delete_elem(fds->ifslot, &ifindex) && errno != ENOENT)
		return -errno;
	return 0;
}

bool fw_ifslot_refers(const struct fw_map_fds *fds, uint32_t slot)
{
	__u32 k, next, v;

	for (int r = bpf_map_get_next_key(fds->ifslot, NULL, &next); !r;
	     r = bpf_map_get_next_key(fds->ifslot, &k, &next)) {
		k = next;
		if (!bpf_map_lookup_elem(fds->ifslot, &k, &v) && v == slot)
			return true;
	}
	return false;
}

int fw_maps_write(const struct fw_map_fds *fds, const struct fw_tables *t,
		  struct sl_diags *diags)
{
	uint32_t old, slot;
	bool had;
	int err;

	had = !fw_ifslot_get(fds, SLUICE_IFSLOT_DEFAULT, &old);
	err = fw_slot_free(fds, &slot);
	if (err) {
		sl_diag_add(diags, NULL, "no free policy slot (%d in use)", SLUICE_POL_SLOTS);
		return err;
	}
	err = fw_slot_write(fds, slot, t, NULL, diags);
	if (err)
		return err;
	/* the switch: one word */
	err = fw_ifslot_set(fds, SLUICE_IFSLOT_DEFAULT, slot);
	if (err) {
		sl_diag_add(diags, NULL, "map %s: cannot switch to policy slot %u: %s",
			    SLUICE_MAP_IFSLOT, slot, strerror(-err));
		fw_slot_clear(fds, slot);
		return err;
	}
	if (had && !fw_ifslot_refers(fds, old))
		fw_slot_clear(fds, old);
	return 0;
}

int fw_pipeline_fill(struct bpf_object *obj)
{
	static const char *const stages[] = {
#define SL_TAIL_NAME(id, name) [SLUICE_##id] = name,
		SLUICE_TAILS(SL_TAIL_NAME)
#undef SL_TAIL_NAME
	};
	struct bpf_map *m = bpf_object__find_map_by_name(obj, SLUICE_MAP_TAILS);
	int fd = m ? bpf_map__fd(m) : -1;

	if (fd < 0)
		return -ENOENT;
	for (__u32 i = 0; i < SLUICE_TAIL_MAX; i++) {
		struct bpf_program *p = bpf_object__find_program_by_name(obj, stages[i]);
		int pfd = p ? bpf_program__fd(p) : -1;

		if (pfd < 0)
			return -ENOENT;
		if (bpf_map_update_elem(fd, &i, &pfd, BPF_ANY))
			return -errno;
	}
	return 0;
}

int fw_pipeline_full(int tails_fd)
{
	for (__u32 i = 0; i < SLUICE_TAIL_MAX; i++) {
		__u32 id;

		if (bpf_map_lookup_elem(tails_fd, &i, &id))
			return errno == ENOENT ? 0 : -errno;
	}
	return 1;
}

static bool prefix_is(const struct sl_prefix *p, const struct fw_lpm6_key *k)
{
	return p->family == AF_INET6 && p->len == k->prefixlen && !memcmp(p->addr, k->addr, 16);
}

static const struct sl_loc *items_loc(const struct sl_addr_item *v, size_t n,
				      const struct fw_lpm6_key *k)
{
	for (size_t i = 0; i < n; i++) {
		if (!v[i].is_set && prefix_is(&v[i].pfx, k))
			return &v[i].loc;
		if (!v[i].is_set || !v[i].set)
			continue;
		for (size_t j = 0; j < v[i].set->n; j++)
			if (prefix_is(&v[i].set->v[j], k))
				return &v[i].set->loc;
	}
	return NULL;
}

const struct sl_loc *fw_prefix_loc(const struct sl_policy *pol, const struct fw_lpm6_key *k)
{
	const struct sl_loc *loc;

	for (size_t f = 0; f < pol->nfws; f++) {
		for (size_t r = 0; r < pol->fws[f].nrules; r++) {
			const struct sl_rule *ru = &pol->fws[f].rules[r];

			loc = items_loc(ru->src, ru->nsrc, k);
			if (!loc)
				loc = items_loc(ru->dst, ru->ndst, k);
			if (loc)
				return loc;
		}
	}
	return NULL;
}

int fw_map_fds_from_obj(struct bpf_object *obj, struct fw_map_fds *fds)
{
	struct bpf_map *tails = bpf_object__find_map_by_name(obj, SLUICE_MAP_TAILS);
	struct bpf_map *m;
	int err;

	/* an object whose programs were loaded: make its pipeline complete */
	if (tails && bpf_map__fd(tails) >= 0) {
		err = fw_pipeline_fill(obj);
		if (err)
			return err;
	}
	for (int k = 0; k < SLUICE_FWT_MAX; k++) {
		m = bpf_object__find_map_by_name(obj, tbls[k].outer);
		fds->tbl[k] = m ? bpf_map__fd(m) : -1;
		if (fds->tbl[k] < 0)
			return -ENOENT;
	}
	m = bpf_object__find_map_by_name(obj, SLUICE_MAP_IFSLOT);
	fds->ifslot = m ? bpf_map__fd(m) : -1;
	m = bpf_object__find_map_by_name(obj, SLUICE_MAP_IFSLOT_A);
	fds->ifslot_a = m ? bpf_map__fd(m) : -1;
	return fds->ifslot < 0 || fds->ifslot_a < 0 ? -ENOENT : 0;
}

void fw_map_fds_init(struct fw_map_fds *fds)
{
	memset(fds, -1, sizeof(*fds));
}

const char *fw_table_name(enum sluice_fw_table k)
{
	return k < SLUICE_FWT_MAX ? tbls[k].name : "?";
}

int sl_array_read(int fd, uint32_t n, size_t vsize, void *out)
{
	uint32_t *keys = malloc((n ? n : 1) * sizeof(*keys));
	uint32_t done = 0, batch = 0;
	bool first = true;
	int err = 0;

	if (!keys)
		return -ENOMEM;
	/* batches of the whole array: one syscall where the kernel allows it */
	while (done < n) {
		LIBBPF_OPTS(bpf_map_batch_opts, opts);
		uint32_t cnt = n - done;

		if (bpf_map_lookup_batch(fd, first ? NULL : &batch, &batch, keys,
					 (char *)out + (size_t)done * vsize, &cnt, &opts)) {
			err = -errno;
			done += cnt;
			if (err == -ENOENT && done == n)
				err = 0;
			break;
		}
		first = false;
		done += cnt;
	}
	/* no batch operations (or cut short): one key at a time */
	for (uint32_t k = done; err != 0 && k < n; k++) {
		if (bpf_map_lookup_elem(fd, &k, (char *)out + (size_t)k * vsize))
			break;
		if (k + 1 == n)
			err = 0;
	}
	free(keys);
	return err;
}

/* Read keys [FIRST, FIRST + N) into OUT. */
static int counters_read(int fd, uint32_t first, uint32_t n, struct sl_counter *out)
{
	int ncpu = libbpf_num_possible_cpus();
	struct sl_counter *percpu;
	int err = 0;

	if (ncpu < 0)
		return ncpu;
	if (!first && n > 1) {
		/* the whole array at once: thousands of rule counters */
		percpu = calloc((size_t)n * ncpu, sizeof(*percpu));
		if (!percpu)
			return -ENOMEM;
		err = sl_array_read(fd, n, ncpu * sizeof(*percpu), percpu);
		for (uint32_t i = 0; !err && i < n; i++) {
			out[i] = (struct sl_counter){ 0 };
			for (int c = 0; c < ncpu; c++) {
				out[i].packets += percpu[(size_t)i * ncpu + c].packets;
				out[i].bytes += percpu[(size_t)i * ncpu + c].bytes;
			}
		}
		free(percpu);
		return err;
	}
	percpu = calloc(ncpu, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t k = first + i;

		out[i] = (struct sl_counter){ 0 };
		if (bpf_map_lookup_elem(fd, &k, percpu)) {
			err = -errno;
			break;
		}
		for (int c = 0; c < ncpu; c++) {
			out[i].packets += percpu[c].packets;
			out[i].bytes += percpu[c].bytes;
		}
	}
	free(percpu);
	return err;
}

int sl_counters_read(int fd, uint32_t n, struct sl_counter *out)
{
	return counters_read(fd, 0, n, out);
}

int sl_counters_read_at(int fd, uint32_t first, uint32_t n, struct sl_counter *out)
{
	return counters_read(fd, first, n, out);
}

void sl_verdicts_fold(struct sl_counter *verdicts, const struct sl_counter *xdp_drops)
{
	struct sl_counter *v = &verdicts[SLUICE_VERDICT_IDX(SLUICE_HOOK_XDP, SLUICE_VERDICT_DROP)];

	/*
	 * the entry itself is not counted by the programs; a build before this
	 * one counted it beside the reasons, so its counts are in the sum too
	 */
	*v = (struct sl_counter){ 0 };
	for (int r = 0; r < SLUICE_DROP_SLOTS; r++) {
		v->packets += xdp_drops[r].packets;
		v->bytes += xdp_drops[r].bytes;
	}
}

int sl_verdicts_read(int verdict_fd, int drop_fd, struct sl_counter *out)
{
	struct sl_counter d[SLUICE_DROP_SLOTS];
	int err;

	err = sl_counters_read(verdict_fd, SLUICE_HOOK_MAX * SLUICE_VERDICT_SLOTS, out);
	if (!err)
		err = sl_counters_read_at(drop_fd, SLUICE_DROP_IDX(SLUICE_HOOK_XDP, 0),
					  SLUICE_DROP_SLOTS, d);
	if (err)
		return err;
	sl_verdicts_fold(out, d);
	return 0;
}

int sl_counter_read(int fd, uint32_t key, struct sl_counter *out)
{
	return counters_read(fd, key, 1, out);
}

int sl_counters_reset(int fd, uint32_t n)
{
	int ncpu = libbpf_num_possible_cpus();
	struct sl_counter *zero;
	uint32_t *keys, done = 0;
	int err = 0;

	if (ncpu < 0)
		return ncpu;
	zero = calloc((size_t)n * ncpu, sizeof(*zero));
	keys = malloc((n ? n : 1) * sizeof(*keys));
	if (!zero || !keys) {
		err = -ENOMEM;
		goto out;
	}
	for (uint32_t k = 0; k < n; k++)
		keys[k] = k;
	/* one batch: a rule counter array has tens of thousands of entries */
	while (done < n) {
		LIBBPF_OPTS(bpf_map_batch_opts, opts);
		uint32_t cnt = n - done;

		if (bpf_map_update_batch(fd, keys + done, zero + (size_t)done * ncpu, &cnt,
					 &opts))
			break;
		done += cnt;
	}
	for (uint32_t k = done; k < n; k++) {
		if (bpf_map_update_elem(fd, &k, zero, BPF_ANY)) {
			err = -errno;
			break;
		}
	}
out:
	free(zero);
	free(keys);
	return err;
}

int sl_percpu_zero(int fd, uint32_t key, size_t vsize)
{
	int ncpu = libbpf_num_possible_cpus();
	void *z;
	int err = 0;

	if (ncpu <= 0)
		return -EINVAL;
	/* libbpf rounds a per-CPU value up to 8 bytes */
	z = calloc(ncpu, (vsize + 7) & ~(size_t)7);
	if (!z)
		return -ENOMEM;
	if (bpf_map_update_elem(fd, &key, z, BPF_ANY))
		err = -errno;
	free(z);
	return err;
}

int sl_map_memlock(int fd, uint64_t *bytes)
{
	char path[64], line[256];
	int err = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;

		if (sscanf(line, "memlock: %llu", &v) == 1) {
			*bytes = v;
			err = 0;
			break;
		}
	}
	fclose(f);
	return err;
}
