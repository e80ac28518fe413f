// SPDX-License-Identifier: GPL-2.0-only
/*
 * Writes compiled firewall tables (fw_tables.h) into the fw_* maps, and
 * reads the per-CPU counters back.
 *
 * The big arrays are BPF_F_MMAPABLE: they are written with one memcpy each
 * (32 MB per DIR-24-8 first level) instead of hundreds of thousands of
 * syscalls. Maps that are not mmapable (an older pinned layout, say) are
 * written with batched updates instead. fw_cfg is written last, so a packet
 * sees the new nrules/allow/default only once every table is in place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "fw_maps.h"

#define FW_BATCH	4096

/*
 * fw_maps_write works in two phases. Prepare checks every map's layout,
 * maps the mmapable arrays, allocates every buffer and works out which IPv6
 * prefixes are stale: whatever can fail for a reason other than the kernel
 * refusing an update fails there, before any map has changed. Commit then
 * writes, fw_cfg last.
 */
struct arr_job {
	int fd;
	const char *name;
	const void *src;	/* n elements */
	uint32_t n, max;
	size_t vsize;
	void *mem;		/* mmap of the whole array, or NULL: batched updates */
	size_t len;
};

struct lpm_job {
	int fd;
	const char *name;
	const struct fw_lpm6_entry *v;
	uint32_t n;
	struct fw_lpm6_key *keys;	/* the new keys, sorted */
	struct fw_lpm6_val *vals;	/* their values, in key order */
	struct fw_lpm6_key *stale;	/* in the trie, not in the new set */
	size_t nstale;
	bool delete_first;	/* no room for old and new together */
};

static int map_info(int fd, struct bpf_map_info *info)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	if (bpf_obj_get_info_by_fd(fd, info, &len))
		return -errno;
	return 0;
}

static int arr_prepare(struct arr_job *j, struct sl_diags *diags)
{
	struct bpf_map_info info;
	int err;

	err = map_info(j->fd, &info);
	if (err) {
		sl_diag_add(diags, NULL, "map %s: cannot read map info: %s", j->name,
			    strerror(-err));
		return err;
	}
	if (info.type != BPF_MAP_TYPE_ARRAY || info.value_size != j->vsize ||
	    info.max_entries < j->n) {
		sl_diag_add(diags, NULL, "map %s: layout mismatch (type %u, value size %u, "
			    "%u entries; need an array of %zu-byte values, %u entries)",
			    j->name, info.type, info.value_size, info.max_entries, j->vsize, j->n);
		return -EINVAL;
	}
	j->max = info.max_entries;
	if (!(info.map_flags & BPF_F_MMAPABLE))
		return 0;
	j->len = (size_t)j->max * j->vsize;
	j->len = (j->len + sysconf(_SC_PAGESIZE) - 1) / sysconf(_SC_PAGESIZE) *
		 sysconf(_SC_PAGESIZE);
	j->mem = mmap(NULL, j->len, PROT_READ | PROT_WRITE, MAP_SHARED, j->fd, 0);
	if (j->mem == MAP_FAILED) {
		j->mem = NULL;
		err = -errno;
		sl_diag_add(diags, NULL, "map %s: mmap failed: %s", j->name, strerror(-err));
		return err;
	}
	return 0;
}

/* Write VSIZE-byte values from SRC to keys [FIRST, FIRST + N); ZERO: all zeroes. */
static int arr_update_batch(int fd, uint32_t first, uint32_t n, const void *src, size_t vsize,
			    bool zero)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	uint32_t *keys, done = 0;
	void *zbuf = NULL;
	int err = 0;

	keys = malloc(FW_BATCH * sizeof(*keys));
	if (zero)
		zbuf = calloc(FW_BATCH, vsize);
	if (!keys || (zero && !zbuf)) {
		err = -ENOMEM;
		goto out;
	}
	while (done < n) {
		uint32_t cnt = n - done < FW_BATCH ? n - done : FW_BATCH;

		for (uint32_t i = 0; i < cnt; i++)
			keys[i] = first + done + i;
		if (bpf_map_update_batch(fd, keys,
					 zero ? zbuf : (const char *)src + (size_t)done * vsize,
					 &cnt, &opts)) {
			err = -errno;
			break;
		}
		done += cnt;
	}
out:
	free(keys);
	free(zbuf);
	return err;
}

/* The array holds exactly SRC[0, n) followed by zeroes. */
static int arr_commit(struct arr_job *j, struct sl_diags *diags)
{
	int err;

	if (j->mem) {
		if (j->n)
			memcpy(j->mem, j->src, (size_t)j->n * j->vsize);
		memset((char *)j->mem + (size_t)j->n * j->vsize, 0,
		       (size_t)(j->max - j->n) * j->vsize);
		return 0;
	}
	err = arr_update_batch(j->fd, 0, j->n, j->src, j->vsize, false);
	if (!err)
		err = arr_update_batch(j->fd, j->n, j->max - j->n, NULL, j->vsize, true);
	if (err)
		sl_diag_add(diags, NULL, "map %s: update failed: %s", j->name, strerror(-err));
	return err;
}

static void arr_release(struct arr_job *j)
{
	if (j->mem)
		munmap(j->mem, j->len);
	j->mem = NULL;
}

static int lpm6_key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct fw_lpm6_key));
}

static int lpm6_entry_cmp(const void *a, const void *b)
{
	return lpm6_key_cmp(&((const struct fw_lpm6_entry *)a)->key,
			    &((const struct fw_lpm6_entry *)b)->key);
}

static int lpm_prepare(struct lpm_job *j, struct sl_diags *diags)
{
	struct fw_lpm6_entry *sorted = NULL;
	struct fw_lpm6_key cur, next;
	struct bpf_map_info info;
	size_t cap = 0, existing = 0;
	int err;

	err = map_info(j->fd, &info);
	if (err) {
		sl_diag_add(diags, NULL, "map %s: cannot read map info: %s", j->name,
			    strerror(-err));
		return err;
	}
	if (info.type != BPF_MAP_TYPE_LPM_TRIE || info.key_size != sizeof(struct fw_lpm6_key) ||
	    info.value_size != sizeof(struct fw_lpm6_val) || info.max_entries < j->n) {
		sl_diag_add(diags, NULL, "map %s: layout mismatch (type %u, key %u, value %u, "
			    "%u entries; need an LPM trie for %u prefixes)", j->name, info.type,
			    info.key_size, info.value_size, info.max_entries, j->n);
		return -EINVAL;
	}

	sorted = malloc((j->n ? j->n : 1) * sizeof(*sorted));
	j->keys = malloc((j->n ? j->n : 1) * sizeof(*j->keys));
	j->vals = malloc((j->n ? j->n : 1) * sizeof(*j->vals));
	if (!sorted || !j->keys || !j->vals) {
		err = -ENOMEM;
		goto nomem;
	}
	if (j->n)
		memcpy(sorted, j->v, j->n * sizeof(*sorted));
	qsort(sorted, j->n, sizeof(*sorted), lpm6_entry_cmp);
	for (uint32_t i = 0; i < j->n; i++) {
		j->keys[i] = sorted[i].key;
		j->vals[i] = sorted[i].val;
	}
	free(sorted);
	sorted = NULL;

	/* What is in the trie now and not in the new set goes. */
	for (int r = bpf_map_get_next_key(j->fd, NULL, &next);;
	     r = bpf_map_get_next_key(j->fd, &cur, &next)) {
		if (r) {
			if (errno == ENOENT)
				break;
			err = -errno;
			sl_diag_add(diags, NULL, "map %s: cannot list entries: %s", j->name,
				    strerror(-err));
			return err;
		}
		cur = next;
		existing++;
		if (bsearch(&cur, j->keys, j->n, sizeof(*j->keys), lpm6_key_cmp))
			continue;
		if (j->nstale == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct fw_lpm6_key *s = realloc(j->stale, ncap * sizeof(*s));

			if (!s) {
				err = -ENOMEM;
				goto nomem;
			}
			j->stale = s;
			cap = ncap;
		}
		j->stale[j->nstale++] = cur;
	}
	/*
	 * New entries first, so that no prefix is ever missing in between,
	 * unless old and new together do not fit: then the stale ones first.
	 */
	j->delete_first = existing + (j->n - (existing - j->nstale)) > info.max_entries;
	return 0;
nomem:
	free(sorted);
	sl_diag_add(diags, NULL, "map %s: out of memory", j->name);
	return err;
}

static int lpm_delete_stale(struct lpm_job *j)
{
	for (size_t i = 0; i < j->nstale; i++)
		if (bpf_map_delete_elem(j->fd, &j->stale[i]) && errno != ENOENT)
			return -errno;
	return 0;
}

static int lpm_insert(struct lpm_job *j)
{
	uint32_t done = 0;

	while (done < j->n) {
		LIBBPF_OPTS(bpf_map_batch_opts, opts);
		uint32_t cnt = j->n - done < FW_BATCH ? j->n - done : FW_BATCH;

		if (!bpf_map_update_batch(j->fd, j->keys + done, j->vals + done, &cnt, &opts)) {
			done += cnt;
			continue;
		}
		if (errno != EINVAL && errno != ENOTSUP && errno != EOPNOTSUPP)
			return -errno;
		/* no batch operations on this kernel: one at a time */
		for (; done < j->n; done++)
			if (bpf_map_update_elem(j->fd, &j->keys[done], &j->vals[done], BPF_ANY))
				return -errno;
	}
	return 0;
}

static int lpm_commit(struct lpm_job *j, struct sl_diags *diags)
{
	int err;

	if (j->delete_first) {
		err = lpm_delete_stale(j);
		if (!err)
			err = lpm_insert(j);
	} else {
		err = lpm_insert(j);
		if (!err)
			err = lpm_delete_stale(j);
	}
	if (err)
		sl_diag_add(diags, NULL, "map %s: update failed: %s", j->name, strerror(-err));
	return err;
}

static void lpm_release(struct lpm_job *j)
{
	free(j->keys);
	free(j->vals);
	free(j->stale);
	j->keys = NULL;
	j->vals = NULL;
	j->stale = NULL;
}

int fw_maps_write(const struct fw_map_fds *fds, const struct fw_tables *t,
		  struct sl_diags *diags)
{
	/* In commit order: second-level groups before the first level pointing at them. */
	struct arr_job arr[] = {
		{ fds->cls, SLUICE_MAP_FW_CLS, t->cls, t->nclasses, 0, sizeof(struct fw_bitmap) },
		{ fds->src4_t8, SLUICE_MAP_FW_SRC4_T8, t->src4_t8, t->nsrc4_t8, 0,
		  sizeof(struct fw_t8) },
		{ fds->dst4_t8, SLUICE_MAP_FW_DST4_T8, t->dst4_t8, t->ndst4_t8, 0,
		  sizeof(struct fw_t8) },
		{ fds->src4, SLUICE_MAP_FW_SRC4, t->src4, SLUICE_T24_BLOCKS, 0,
		  sizeof(struct fw_blk) },
		{ fds->dst4, SLUICE_MAP_FW_DST4, t->dst4, SLUICE_T24_BLOCKS, 0,
		  sizeof(struct fw_blk) },
		{ fds->sport, SLUICE_MAP_FW_SPORT, t->sport, SLUICE_PORT_BLOCKS, 0,
		  sizeof(struct fw_blk) },
		{ fds->dport, SLUICE_MAP_FW_DPORT, t->dport, SLUICE_PORT_BLOCKS, 0,
		  sizeof(struct fw_blk) },
	};
	struct lpm_job lpm[] = {
		{ fds->src6, SLUICE_MAP_FW_SRC6, t->src6, t->nsrc6 },
		{ fds->dst6, SLUICE_MAP_FW_DST6, t->dst6, t->ndst6 },
	};
	const size_t narr = sizeof(arr) / sizeof(arr[0]), nlpm = sizeof(lpm) / sizeof(lpm[0]);
	const uint32_t zero = 0;
	struct bpf_map_info info;
	int err = 0;

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

	err = map_info(fds->cfg, &info);
	if (!err && (info.type != BPF_MAP_TYPE_ARRAY ||
		     info.value_size != sizeof(struct fw_config) || info.max_entries < 1)) {
		sl_diag_add(diags, NULL, "map %s: layout mismatch (value size %u, need %zu)",
			    SLUICE_MAP_FW_CFG, info.value_size, sizeof(struct fw_config));
		return -EINVAL;
	} else if (err) {
		sl_diag_add(diags, NULL, "map %s: cannot read map info: %s", SLUICE_MAP_FW_CFG,
			    strerror(-err));
		return err;
	}
	for (size_t i = 0; i < narr && !err; i++)
		err = arr_prepare(&arr[i], diags);
	for (size_t i = 0; i < nlpm && !err; i++)
		err = lpm_prepare(&lpm[i], diags);
	if (err)
		goto out;

	/* From here on a failure leaves the maps part old, part new. */
	for (size_t i = 0; i < 5 && !err; i++)
		err = arr_commit(&arr[i], diags);
	for (size_t i = 0; i < nlpm && !err; i++)
		err = lpm_commit(&lpm[i], diags);
	for (size_t i = 5; i < narr && !err; i++)
		err = arr_commit(&arr[i], diags);
	if (!err && bpf_map_update_elem(fds->cfg, &zero, &t->cfg, BPF_ANY)) {
		err = -errno;
		sl_diag_add(diags, NULL, "map %s: update failed: %s", SLUICE_MAP_FW_CFG,
			    strerror(-err));
	}
out:
	for (size_t i = 0; i < narr; i++)
		arr_release(&arr[i]);
	for (size_t i = 0; i < nlpm; i++)
		lpm_release(&lpm[i]);
	return err;
}

int fw_map_fds_from_obj(struct bpf_object *obj, struct fw_map_fds *fds)
{
	static const struct {
		const char *name;
		size_t off;
	} maps[] = {
		{ SLUICE_MAP_FW_CFG, offsetof(struct fw_map_fds, cfg) },
		{ SLUICE_MAP_FW_CLS, offsetof(struct fw_map_fds, cls) },
		{ SLUICE_MAP_FW_SRC4, offsetof(struct fw_map_fds, src4) },
		{ SLUICE_MAP_FW_DST4, offsetof(struct fw_map_fds, dst4) },
		{ SLUICE_MAP_FW_SRC4_T8, offsetof(struct fw_map_fds, src4_t8) },
		{ SLUICE_MAP_FW_DST4_T8, offsetof(struct fw_map_fds, dst4_t8) },
		{ SLUICE_MAP_FW_SRC6, offsetof(struct fw_map_fds, src6) },
		{ SLUICE_MAP_FW_DST6, offsetof(struct fw_map_fds, dst6) },
		{ SLUICE_MAP_FW_SPORT, offsetof(struct fw_map_fds, sport) },
		{ SLUICE_MAP_FW_DPORT, offsetof(struct fw_map_fds, dport) },
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
