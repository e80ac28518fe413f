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

static int map_info(int fd, struct bpf_map_info *info)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	if (bpf_obj_get_info_by_fd(fd, info, &len))
		return -errno;
	return 0;
}

/* Write N elements of SRC to keys [0, N) with batched updates. */
static int array_update_batch(int fd, const void *src, uint32_t n, size_t vsize)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	uint32_t *keys, done = 0;
	int err = 0;

	keys = malloc(FW_BATCH * sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	while (done < n) {
		uint32_t cnt = n - done < FW_BATCH ? n - done : FW_BATCH;

		for (uint32_t i = 0; i < cnt; i++)
			keys[i] = done + i;
		if (bpf_map_update_batch(fd, keys, (const char *)src + (size_t)done * vsize,
					 &cnt, &opts)) {
			err = -errno;
			break;
		}
		done += cnt;
	}
	free(keys);
	return err;
}

/*
 * Make array map FD hold exactly the N elements of SRC (VSIZE bytes each)
 * followed by zeroes. SRC may be NULL when N is 0.
 */
static int array_write(int fd, const char *name, const void *src, uint32_t n, size_t vsize,
		       struct sl_diags *diags)
{
	struct bpf_map_info info;
	void *zero = NULL;
	int err;

	err = map_info(fd, &info);
	if (err) {
		sl_diag_add(diags, NULL, "map %s: cannot read map info: %s", name, strerror(-err));
		return err;
	}
	if (info.value_size != vsize || n > info.max_entries) {
		sl_diag_add(diags, NULL,
			    "map %s: layout mismatch (value size %u, %u entries; need %zu, %u)",
			    name, info.value_size, info.max_entries, vsize, n);
		return -EINVAL;
	}

	if (info.map_flags & BPF_F_MMAPABLE) {
		size_t len = (size_t)info.max_entries * vsize;
		long page = sysconf(_SC_PAGESIZE);
		void *mem;

		len = (len + page - 1) / page * page;
		mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (mem == MAP_FAILED) {
			err = -errno;
			sl_diag_add(diags, NULL, "map %s: mmap failed: %s", name, strerror(-err));
			return err;
		}
		if (n)
			memcpy(mem, src, (size_t)n * vsize);
		memset((char *)mem + (size_t)n * vsize, 0,
		       (size_t)(info.max_entries - n) * vsize);
		munmap(mem, len);
		return 0;
	}

	err = n ? array_update_batch(fd, src, n, vsize) : 0;
	if (!err && n < info.max_entries) {
		zero = calloc(info.max_entries - n, vsize);
		if (!zero) {
			err = -ENOMEM;
		} else {
			/* keys start at n: write through a shifted copy */
			LIBBPF_OPTS(bpf_map_batch_opts, opts);
			uint32_t left = info.max_entries - n, at = n, *keys;

			keys = malloc(FW_BATCH * sizeof(*keys));
			if (!keys)
				err = -ENOMEM;
			while (keys && left) {
				uint32_t cnt = left < FW_BATCH ? left : FW_BATCH;

				for (uint32_t i = 0; i < cnt; i++)
					keys[i] = at + i;
				if (bpf_map_update_batch(fd, keys, zero, &cnt, &opts)) {
					err = -errno;
					break;
				}
				at += cnt;
				left -= cnt;
			}
			free(keys);
		}
	}
	free(zero);
	if (err)
		sl_diag_add(diags, NULL, "map %s: update failed: %s", name, strerror(-err));
	return err;
}

static int lpm6_key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct fw_lpm6_key));
}

/*
 * Make LPM trie FD hold exactly the N entries of V: insert or update every
 * new entry first (no moment without ::/0), then delete the stale ones.
 */
static int lpm6_write(int fd, const char *name, const struct fw_lpm6_entry *v, uint32_t n,
		      struct sl_diags *diags)
{
	struct fw_lpm6_key *keys = NULL, *stale = NULL, cur, next;
	struct fw_lpm6_val *vals = NULL;
	size_t nstale = 0, cap = 0;
	uint32_t done = 0;
	int err = 0;

	keys = malloc((n ? n : 1) * sizeof(*keys));
	vals = malloc((n ? n : 1) * sizeof(*vals));
	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		keys[i] = v[i].key;
		vals[i] = v[i].val;
	}

	while (done < n) {
		LIBBPF_OPTS(bpf_map_batch_opts, opts);
		uint32_t cnt = n - done < FW_BATCH ? n - done : FW_BATCH;

		if (bpf_map_update_batch(fd, keys + done, vals + done, &cnt, &opts)) {
			err = -errno;
			if (err != -EINVAL && err != -ENOTSUP && err != -EOPNOTSUPP)
				goto fail;
			/* no batch ops for this map: one at a time */
			for (; done < n; done++) {
				if (bpf_map_update_elem(fd, &keys[done], &vals[done], BPF_ANY)) {
					err = -errno;
					goto fail;
				}
			}
			err = 0;
			break;
		}
		done += cnt;
	}

	/* Collect what is in the trie but not in V, then delete it. */
	qsort(keys, n, sizeof(*keys), lpm6_key_cmp);
	for (int r = bpf_map_get_next_key(fd, NULL, &next);;
	     r = bpf_map_get_next_key(fd, &cur, &next)) {
		if (r) {
			if (errno == ENOENT)
				break;
			err = -errno;
			goto fail;
		}
		cur = next;
		if (bsearch(&cur, keys, n, sizeof(*keys), lpm6_key_cmp))
			continue;
		if (nstale == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct fw_lpm6_key *s = realloc(stale, ncap * sizeof(*s));

			if (!s) {
				err = -ENOMEM;
				goto out;
			}
			stale = s;
			cap = ncap;
		}
		stale[nstale++] = cur;
	}
	for (size_t i = 0; i < nstale; i++) {
		if (bpf_map_delete_elem(fd, &stale[i]) && errno != ENOENT) {
			err = -errno;
			goto fail;
		}
	}
	goto out;
fail:
	sl_diag_add(diags, NULL, "map %s: update failed: %s", name, strerror(-err));
out:
	free(keys);
	free(vals);
	free(stale);
	return err;
}

int fw_maps_write(const struct fw_map_fds *fds, const struct fw_tables *t,
		  struct sl_diags *diags)
{
	const uint32_t zero = 0;
	int err;

	if (t->nclasses > SLUICE_MAX_CLASSES || t->nsrc4_t8 > SLUICE_T8_GROUPS ||
	    t->ndst4_t8 > SLUICE_T8_GROUPS || t->nsrc6 > SLUICE_LPM6_MAX ||
	    t->ndst6 > SLUICE_LPM6_MAX || t->cfg.nrules > SLUICE_MAX_RULES) {
		sl_diag_add(diags, NULL, "compiled tables exceed the map sizes");
		return -E2BIG;
	}
	if (!t->src4 || !t->dst4 || !t->sport || !t->dport) {
		sl_diag_add(diags, NULL, "compiled tables are incomplete");
		return -EINVAL;
	}

	/* Second-level groups before the first level that points at them. */
	err = array_write(fds->cls, SLUICE_MAP_FW_CLS, t->cls, t->nclasses,
			  sizeof(struct fw_bitmap), diags);
	if (!err)
		err = array_write(fds->src4_t8, SLUICE_MAP_FW_SRC4_T8, t->src4_t8, t->nsrc4_t8,
				  sizeof(struct fw_t8), diags);
	if (!err)
		err = array_write(fds->dst4_t8, SLUICE_MAP_FW_DST4_T8, t->dst4_t8, t->ndst4_t8,
				  sizeof(struct fw_t8), diags);
	if (!err)
		err = array_write(fds->src4, SLUICE_MAP_FW_SRC4, t->src4, SLUICE_T24_BLOCKS,
				  sizeof(struct fw_blk), diags);
	if (!err)
		err = array_write(fds->dst4, SLUICE_MAP_FW_DST4, t->dst4, SLUICE_T24_BLOCKS,
				  sizeof(struct fw_blk), diags);
	if (!err)
		err = lpm6_write(fds->src6, SLUICE_MAP_FW_SRC6, t->src6, t->nsrc6, diags);
	if (!err)
		err = lpm6_write(fds->dst6, SLUICE_MAP_FW_DST6, t->dst6, t->ndst6, diags);
	if (!err)
		err = array_write(fds->sport, SLUICE_MAP_FW_SPORT, t->sport, SLUICE_PORT_BLOCKS,
				  sizeof(struct fw_blk), diags);
	if (!err)
		err = array_write(fds->dport, SLUICE_MAP_FW_DPORT, t->dport, SLUICE_PORT_BLOCKS,
				  sizeof(struct fw_blk), diags);
	if (err)
		return err;

	if (bpf_map_update_elem(fds->cfg, &zero, &t->cfg, BPF_ANY)) {
		err = -errno;
		sl_diag_add(diags, NULL, "map %s: update failed: %s", SLUICE_MAP_FW_CFG,
			    strerror(-err));
	}
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
