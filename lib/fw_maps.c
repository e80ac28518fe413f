// SPDX-License-Identifier: GPL-2.0-only
/*
 * Builds policy slots from compiled firewall tables (fw_tables.h): one new
 * inner map per fw_* table, sized from the tables where the layout allows
 * (tbl8 groups, IPv6 prefixes), filled, frozen, and inserted into
 * the outer fwo_* maps at the slot, fw_cfg last. A slot is never written
 * again: a new policy is a new slot, so a failure at any step leaves the
 * policy in force exactly as it was. Also reads the per-CPU counters back.
 *
 * The big arrays are BPF_F_MMAPABLE: they are written with one memcpy each
 * (32 MB per DIR-24-8 first level) instead of hundreds of thousands of
 * syscalls.
 */
#include <errno.h>
#include <fcntl.h>
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

/*
 * The inner maps of a slot, in build and insert order: the second level of
 * DIR-24-8 before the first level that points into it, fw_cfg last, since
 * the entry program takes a slot whose fw_cfg is present as complete.
 */
enum fw_tbl_kind { TK_ARRAY, TK_LPM, TK_CFG };

struct tbl_desc {
	const char *name;	/* inner map name */
	const char *outer;	/* outer map name */
	size_t off;		/* its fd in struct fw_map_fds */
	enum fw_tbl_kind kind;
	__u32 flags;
	size_t vsize;
};

#define FD_OFF(f) offsetof(struct fw_map_fds, f)
#define SIZED (BPF_F_MMAPABLE | BPF_F_INNER_MAP)

static const struct tbl_desc tbls[] = {
	{ SLUICE_MAP_FW_CLS, SLUICE_MAP_FWO_CLS, FD_OFF(cls), TK_ARRAY, BPF_F_MMAPABLE,
	  sizeof(struct fw_bitmap) },
	{ SLUICE_MAP_FW_SRC4_T8, SLUICE_MAP_FWO_SRC4_T8, FD_OFF(src4_t8), TK_ARRAY, SIZED,
	  sizeof(struct fw_t8) },
	{ SLUICE_MAP_FW_DST4_T8, SLUICE_MAP_FWO_DST4_T8, FD_OFF(dst4_t8), TK_ARRAY, SIZED,
	  sizeof(struct fw_t8) },
	{ SLUICE_MAP_FW_SRC4, SLUICE_MAP_FWO_SRC4, FD_OFF(src4), TK_ARRAY, BPF_F_MMAPABLE,
	  sizeof(struct fw_blk) },
	{ SLUICE_MAP_FW_DST4, SLUICE_MAP_FWO_DST4, FD_OFF(dst4), TK_ARRAY, BPF_F_MMAPABLE,
	  sizeof(struct fw_blk) },
	{ SLUICE_MAP_FW_SRC6, SLUICE_MAP_FWO_SRC6, FD_OFF(src6), TK_LPM, BPF_F_NO_PREALLOC,
	  sizeof(struct fw_lpm6_val) },
	{ SLUICE_MAP_FW_DST6, SLUICE_MAP_FWO_DST6, FD_OFF(dst6), TK_LPM, BPF_F_NO_PREALLOC,
	  sizeof(struct fw_lpm6_val) },
	{ SLUICE_MAP_FW_SPORT, SLUICE_MAP_FWO_SPORT, FD_OFF(sport), TK_ARRAY, BPF_F_MMAPABLE,
	  sizeof(struct fw_blk) },
	{ SLUICE_MAP_FW_DPORT, SLUICE_MAP_FWO_DPORT, FD_OFF(dport), TK_ARRAY, BPF_F_MMAPABLE,
	  sizeof(struct fw_blk) },
	{ SLUICE_MAP_FW_CFG, SLUICE_MAP_FWO_CFG, FD_OFF(cfg), TK_CFG, 0,
	  sizeof(struct fw_config) },
};
#define NTBLS (sizeof(tbls) / sizeof(tbls[0]))

static int fd_at(const struct fw_map_fds *fds, size_t off)
{
	return *(const int *)((const char *)fds + off);
}

/* What table D gets from T: its source and its number of entries. */
static void tbl_src(const struct tbl_desc *d, const struct fw_tables *t, const void **src,
		    uint32_t *n, uint32_t *max)
{
	switch (d->off) {
	case FD_OFF(cls):	*src = t->cls;		*n = t->nclasses;
		*max = SLUICE_MAX_CLASSES;
		return;
	case FD_OFF(src4_t8):	*src = t->src4_t8;	*n = t->nsrc4_t8;	break;
	case FD_OFF(dst4_t8):	*src = t->dst4_t8;	*n = t->ndst4_t8;	break;
	case FD_OFF(src4):	*src = t->src4;		*n = SLUICE_T24_BLOCKS;	break;
	case FD_OFF(dst4):	*src = t->dst4;		*n = SLUICE_T24_BLOCKS;	break;
	case FD_OFF(src6):	*src = t->src6;		*n = t->nsrc6;		break;
	case FD_OFF(dst6):	*src = t->dst6;		*n = t->ndst6;		break;
	case FD_OFF(sport):	*src = t->sport;	*n = SLUICE_PORT_BLOCKS; break;
	case FD_OFF(dport):	*src = t->dport;	*n = SLUICE_PORT_BLOCKS; break;
	default:		*src = &t->cfg;		*n = 1;			break;
	}
	/* an inner map has at least one entry; an unused one stays zero */
	*max = *n ? *n : 1;
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
 * A slot in use whose inner map for D holds exactly SRC[0, N) and zeroes
 * (fixed-size arrays only): its fd, or -1. Slots are never written again,
 * so one inner map can serve several slots: sections with the same source
 * table, or a reload that changed only ports, share the 32 MiB first levels
 * instead of building them again.
 */
static int tbl_find_same(const struct fw_map_fds *fds, const struct tbl_desc *d,
			 const void *src, uint32_t n, uint32_t max)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t len = ((size_t)max * d->vsize + page - 1) / page * page;

	if (d->kind != TK_ARRAY || (d->flags & BPF_F_INNER_MAP))
		return -1;
	for (uint32_t s = 0; s < SLUICE_POL_SLOTS; s++) {
		__u32 id;
		void *mem;
		bool same;
		int fd;

		if (bpf_map_lookup_elem(fd_at(fds, d->off), &s, &id))
			continue;
		fd = bpf_map_get_fd_by_id(id);
		if (fd < 0)
			continue;
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

/* Create and fill the inner map of D from T (or share an identical one); its fd or -errno. */
static int tbl_build(const struct fw_map_fds *fds, const struct tbl_desc *d,
		     const struct fw_tables *t, struct fw_write_fail *fail,
		     struct sl_diags *diags)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = d->flags);
	enum bpf_map_type type = d->kind == TK_LPM ? BPF_MAP_TYPE_LPM_TRIE : BPF_MAP_TYPE_ARRAY;
	size_t ksize = d->kind == TK_LPM ? sizeof(struct fw_lpm6_key) : sizeof(__u32);
	const char *what = "create";
	uint32_t n, max, bad = 0;
	const void *src;
	int fd, err;

	tbl_src(d, t, &src, &n, &max);
	fd = tbl_find_same(fds, d, src, n, max);
	if (fd >= 0)
		return fd;
	err = write_hook(d->name);
	if (!err) {
		fd = bpf_map_create(type, d->name, ksize, d->vsize, max, &opts);
		err = fd < 0 ? -errno : 0;
	}
	if (err)
		goto fail;
	what = "fill";
	switch (d->kind) {
	case TK_ARRAY:
		err = write_hook(d->name);
		if (!err)
			err = arr_fill(fd, src, n, max, d->vsize);
		break;
	case TK_LPM:
		err = lpm_fill(fd, d->name, src, n, &bad);
		if (err && bad < n) {
			fail->has_key = true;
			fail->key = ((const struct fw_lpm6_entry *)src)[bad].key;
		}
		break;
	case TK_CFG: {
		__u32 zero = 0;

		err = write_hook(d->name);
		if (!err && bpf_map_update_elem(fd, &zero, src, BPF_ANY))
			err = -errno;
		break;
	}
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

int fw_slot_clear(const struct fw_map_fds *fds, uint32_t slot)
{
	int ret = 0;

	/* fw_cfg first: without it the slot is not taken as a policy */
	for (size_t i = NTBLS; i-- > 0;)
		if (bpf_map_delete_elem(fd_at(fds, tbls[i].off), &slot) && errno != ENOENT &&
		    !ret)
			ret = -errno;
	return ret;
}

int fw_slot_write(const struct fw_map_fds *fds, uint32_t slot, const struct fw_tables *t,
		  struct fw_write_fail *fail, struct sl_diags *diags)
{
	struct fw_write_fail nofail;
	int inner[NTBLS];
	size_t built = 0;
	int err = 0;

	if (!fail)
		fail = &nofail;
	memset(fail, 0, sizeof(*fail));
	if (slot >= SLUICE_POL_SLOTS) {
		sl_diag_add(diags, NULL, "policy slot %u out of range", slot);
		return -EINVAL;
	}
	if (t->nclasses > SLUICE_MAX_CLASSES || t->nsrc4_t8 > SLUICE_T8_GROUPS ||
	    t->ndst4_t8 > SLUICE_T8_GROUPS || t->nsrc6 > SLUICE_LPM6_MAX ||
	    t->ndst6 > SLUICE_LPM6_MAX || t->cfg.nrules > SLUICE_MAX_RULES) {
		sl_diag_add(diags, NULL, "compiled tables exceed the map sizes");
		return -E2BIG;
	}
	if (!t->cls || !t->src4 || !t->dst4 || !t->sport || !t->dport) {
		sl_diag_add(diags, NULL, "compiled tables are incomplete");
		return -EINVAL;
	}
	if (fw_slot_used(fds, slot)) {
		sl_diag_add(diags, NULL, "policy slot %u is in use", slot);
		return -EBUSY;
	}
	/* leftovers of a write that failed half way (a crash) */
	fw_slot_clear(fds, slot);

	for (; built < NTBLS; built++) {
		inner[built] = tbl_build(fds, &tbls[built], t, fail, diags);
		if (inner[built] < 0) {
			err = inner[built];
			goto out;
		}
	}
	for (size_t i = 0; i < NTBLS && !err; i++) {
		err = write_hook(tbls[i].name);
		if (!err && bpf_map_update_elem(fd_at(fds, tbls[i].off), &slot, &inner[i],
						BPF_ANY))
			err = -errno;
		if (err) {
			fail->map = tbls[i].name;
			sl_diag_add(diags, NULL, "map %s: cannot insert %s into policy slot %u: %s",
				    tbls[i].outer, tbls[i].name, slot, strerror(-err));
		}
	}
	if (err)
		fw_slot_clear(fds, slot);
out:
	/* the outer maps hold the inner maps now (or nothing does) */
	for (size_t i = 0; i < built; i++)
		close(inner[i]);
	return err;
}

bool fw_slot_used(const struct fw_map_fds *fds, uint32_t slot)
{
	__u32 id;

	for (size_t i = 0; i < NTBLS; i++)
		if (!bpf_map_lookup_elem(fd_at(fds, tbls[i].off), &slot, &id))
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
	for (size_t i = 0; i < NTBLS; i++) {
		int *fd = (int *)((char *)inner + tbls[i].off);
		__u32 id;

		if (bpf_map_lookup_elem(fd_at(fds, tbls[i].off), &slot, &id)) {
			err = -errno;
			break;
		}
		*fd = bpf_map_get_fd_by_id(id);
		if (*fd < 0) {
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
	for (int *p = &inner->cfg; p <= &inner->dport; p++) {
		if (*p >= 0)
			close(*p);
		*p = -1;
	}
}

int fw_slot_cfg(const struct fw_map_fds *fds, uint32_t slot, struct fw_config *cfg)
{
	__u32 id, zero = 0;
	int fd, err = 0;

	if (bpf_map_lookup_elem(fds->cfg, &slot, &id))
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
	int err;

	/* an object whose programs were loaded: make its pipeline complete */
	if (tails && bpf_map__fd(tails) >= 0) {
		err = fw_pipeline_fill(obj);
		if (err)
			return err;
	}

	static const struct {
		const char *name;
		size_t off;
	} maps[] = {
		{ SLUICE_MAP_FWO_CFG, FD_OFF(cfg) },
		{ SLUICE_MAP_FWO_CLS, FD_OFF(cls) },
		{ SLUICE_MAP_FWO_SRC4, FD_OFF(src4) },
		{ SLUICE_MAP_FWO_DST4, FD_OFF(dst4) },
		{ SLUICE_MAP_FWO_SRC4_T8, FD_OFF(src4_t8) },
		{ SLUICE_MAP_FWO_DST4_T8, FD_OFF(dst4_t8) },
		{ SLUICE_MAP_FWO_SRC6, FD_OFF(src6) },
		{ SLUICE_MAP_FWO_DST6, FD_OFF(dst6) },
		{ SLUICE_MAP_FWO_SPORT, FD_OFF(sport) },
		{ SLUICE_MAP_FWO_DPORT, FD_OFF(dport) },
		{ SLUICE_MAP_IFSLOT, FD_OFF(ifslot) },
		{ SLUICE_MAP_IFSLOT_A, FD_OFF(ifslot_a) },
	};

	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(obj, maps[i].name);
		int fd = m ? bpf_map__fd(m) : -1;

		if (fd < 0)
			return -ENOENT;
		*(int *)((char *)fds + maps[i].off) = fd;
	}
	return 0;
}

/* Read keys [FIRST, FIRST + N) into OUT. */
static int counters_read(int fd, uint32_t first, uint32_t n, struct sl_counter *out)
{
	int ncpu = libbpf_num_possible_cpus();
	struct sl_counter *percpu;
	int err = 0;

	if (ncpu < 0)
		return ncpu;
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

int sl_counter_read(int fd, uint32_t key, struct sl_counter *out)
{
	return counters_read(fd, key, 1, out);
}

int sl_counters_reset(int fd, uint32_t n)
{
	int ncpu = libbpf_num_possible_cpus();
	struct sl_counter *percpu;
	int err = 0;

	if (ncpu < 0)
		return ncpu;
	percpu = calloc(ncpu, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	for (uint32_t k = 0; k < n; k++) {
		if (bpf_map_update_elem(fd, &k, percpu, BPF_ANY)) {
			err = -errno;
			break;
		}
	}
	free(percpu);
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
