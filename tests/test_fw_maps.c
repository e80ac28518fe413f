// SPDX-License-Identifier: GPL-2.0-only
/*
 * fw_maps_write puts exactly the compiled tables into the kernel maps, on
 * both of its paths (mmap for BPF_F_MMAPABLE arrays, batched updates
 * otherwise), clears what a previous, bigger policy left behind, and refuses
 * maps whose layout does not match. The counter readers sum across CPUs.
 */
#include <sys/socket.h>

#include <linux/bpf.h>

#include "testlib.h"
#include "xdp_env.h"

static const char *const POLICY_BIG =
	"sets:\n"
	"  many:\n"
	"    prefixes: [198.51.100.0/24, 198.51.100.7/32, 203.0.113.128/25, 192.0.2.1,\n"
	"               2001:db8:1::/48, 2001:db8:1:2::/64, 2001:db8:ff::1]\n"
	"firewall:\n"
	"  interfaces: [slb0]\n"
	"  default: deny\n"
	"  stateful: false\n"
	"  rules:\n"
	"    - { name: a, action: deny, src: [\"@many\"] }\n"
	"    - { name: b, action: allow, dst: [\"@many\", 192.0.2.3/32], proto: tcp,\n"
	"        dport: [22, \"8000-8100\"], sport: [\"1024-65535\"] }\n"
	"    - { name: c, action: allow, src: [2001:db8:7::/56], proto: [icmp, icmpv6] }\n";

static const char *const POLICY_SMALL =
	"firewall:\n"
	"  interfaces: [slb0]\n"
	"  default: allow\n"
	"  stateful: false\n"
	"  rules:\n"
	"    - { name: a, action: deny, src: [2001:db8:9::/48], proto: udp, dport: [53] }\n";

/* Read keys [0, N) of array FD (VSIZE-byte values) into a new buffer. */
static void *array_dump(int fd, uint32_t n, size_t vsize)
{
	char *buf = calloc(n, vsize);
	uint32_t *keys = calloc(n, sizeof(*keys));
	uint32_t done = 0, batch = 0;
	bool first = true;

	if (!buf || !keys)
		goto fail;
	while (done < n) {
		LIBBPF_OPTS(bpf_map_batch_opts, opts);
		uint32_t cnt = n - done;
		int err = bpf_map_lookup_batch(fd, first ? NULL : &batch, &batch, keys,
					       buf + (size_t)done * vsize, &cnt, &opts);

		first = false;
		done += cnt;
		if (err && errno == ENOENT)
			break;
		if (err)
			goto fail;
	}
	free(keys);
	if (done != n) {
		free(buf);
		return NULL;
	}
	return buf;
fail:
	free(buf);
	free(keys);
	return NULL;
}

/* Does array FD hold SRC[0, N) then zeroes up to MAX? */
static bool array_holds(int fd, const char *what, const void *src, uint32_t n, uint32_t max,
			size_t vsize)
{
	char *got = array_dump(fd, max, vsize);
	bool ok;

	if (!ASSERT_TRUE(got, what))
		return false;
	ok = tl_check(!n || !memcmp(got, src, (size_t)n * vsize), __FILE__, __LINE__,
		      "%s: first %u entries differ from the compiled tables", what, n);
	for (size_t i = (size_t)n * vsize; ok && i < (size_t)max * vsize; i++)
		ok = tl_check(!got[i], __FILE__, __LINE__, "%s: byte %zu past the tables not zero",
			      what, i);
	free(got);
	return ok;
}

static bool trie_holds(int fd, const char *what, const struct fw_lpm6_entry *v, uint32_t n)
{
	struct fw_lpm6_key k, next;
	struct fw_lpm6_val val;
	uint32_t count = 0;
	bool ok = true;

	for (int r = bpf_map_get_next_key(fd, NULL, &next); !r;
	     r = bpf_map_get_next_key(fd, &k, &next)) {
		k = next;
		count++;
	}
	ok &= ASSERT_EQ(count, n, what);
	for (uint32_t i = 0; i < n; i++) {
		if (!tl_check(!bpf_map_lookup_elem(fd, &v[i].key, &val), __FILE__, __LINE__,
			      "%s: entry %u missing", what, i)) {
			ok = false;
			continue;
		}
		/* an LPM lookup by an existing prefix key returns that prefix's value */
		ok &= ASSERT_EQ(val.cls, v[i].val.cls, what);
	}
	return ok;
}

static bool maps_hold(const struct fw_map_fds *fds, const struct fw_tables *t)
{
	struct fw_config cfg;
	uint32_t zero = 0;
	bool ok = true;

	ok &= array_holds(fds->cls, "fw_cls", t->cls, t->nclasses, SLUICE_MAX_CLASSES,
			  sizeof(struct fw_bitmap));
	ok &= array_holds(fds->src4, "fw_src4", t->src4, SLUICE_T24_BLOCKS, SLUICE_T24_BLOCKS,
			  sizeof(struct fw_blk));
	ok &= array_holds(fds->dst4, "fw_dst4", t->dst4, SLUICE_T24_BLOCKS, SLUICE_T24_BLOCKS,
			  sizeof(struct fw_blk));
	ok &= array_holds(fds->src4_t8, "fw_src4_t8", t->src4_t8, t->nsrc4_t8, SLUICE_T8_GROUPS,
			  sizeof(struct fw_t8));
	ok &= array_holds(fds->dst4_t8, "fw_dst4_t8", t->dst4_t8, t->ndst4_t8, SLUICE_T8_GROUPS,
			  sizeof(struct fw_t8));
	ok &= array_holds(fds->sport, "fw_sport", t->sport, SLUICE_PORT_BLOCKS,
			  SLUICE_PORT_BLOCKS, sizeof(struct fw_blk));
	ok &= array_holds(fds->dport, "fw_dport", t->dport, SLUICE_PORT_BLOCKS,
			  SLUICE_PORT_BLOCKS, sizeof(struct fw_blk));
	ok &= trie_holds(fds->src6, "fw_src6", t->src6, t->nsrc6);
	ok &= trie_holds(fds->dst6, "fw_dst6", t->dst6, t->ndst6);
	if (ASSERT_OK(bpf_map_lookup_elem(fds->cfg, &zero, &cfg) ? -errno : 0, "fw_cfg"))
		ok &= ASSERT_TRUE(!memcmp(&cfg, &t->cfg, sizeof(cfg)), "fw_cfg equals tables");
	return ok;
}

static int compile_yaml(struct xdp_env *env, const char *yaml, uint64_t gen, struct fw_tables *t)
{
	struct sl_diags diags = { 0 };
	char path[128];
	const char *paths[1] = { path };
	FILE *f;
	int err;

	snprintf(path, sizeof(path), "%s/policy.yaml", env->dir);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	fputs(yaml, f);
	fclose(f);
	if (env->have_pol)
		policy_free(&env->pol);
	err = policy_load_paths(paths, 1, &env->pol, &diags);
	env->have_pol = true;
	if (!err)
		err = fw_compile(&env->pol, policy_fw(&env->pol, 0), gen, t, &diags);
	sl_diags_print(stdout, &diags);
	sl_diags_free(&diags);
	return err;
}

static int mkarray(const char *name, uint32_t vsize, uint32_t n, uint32_t flags)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = flags);

	return bpf_map_create(BPF_MAP_TYPE_ARRAY, name, 4, vsize, n, &opts);
}

static int mktrie(const char *name)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);

	return bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, name, sizeof(struct fw_lpm6_key),
			      sizeof(struct fw_lpm6_val), SLUICE_LPM6_MAX, &opts);
}

/* The same maps as sluice_xdp's, without BPF_F_MMAPABLE. */
static int plain_maps(struct fw_map_fds *fds)
{
	fds->cfg = mkarray("t_cfg", sizeof(struct fw_config), 1, 0);
	fds->cls = mkarray("t_cls", sizeof(struct fw_bitmap), SLUICE_MAX_CLASSES, 0);
	fds->src4 = mkarray("t_src4", sizeof(struct fw_blk), SLUICE_T24_BLOCKS, 0);
	fds->dst4 = mkarray("t_dst4", sizeof(struct fw_blk), SLUICE_T24_BLOCKS, 0);
	fds->src4_t8 = mkarray("t_src4_t8", sizeof(struct fw_t8), SLUICE_T8_GROUPS, 0);
	fds->dst4_t8 = mkarray("t_dst4_t8", sizeof(struct fw_t8), SLUICE_T8_GROUPS, 0);
	fds->src6 = mktrie("t_src6");
	fds->dst6 = mktrie("t_dst6");
	fds->sport = mkarray("t_sport", sizeof(struct fw_blk), SLUICE_PORT_BLOCKS, 0);
	fds->dport = mkarray("t_dport", sizeof(struct fw_blk), SLUICE_PORT_BLOCKS, 0);
	for (int *p = &fds->cfg; p <= &fds->dport; p++)
		if (*p < 0)
			return -errno;
	return 0;
}

static void close_maps(struct fw_map_fds *fds)
{
	for (int *p = &fds->cfg; p <= &fds->dport; p++)
		if (*p > 0)
			close(*p);
}

/* Big policy, then a small one over it: the maps follow exactly, both paths. */
static void write_and_replace(bool mmapable)
{
	struct fw_tables big = { 0 }, small = { 0 };
	struct sl_diags diags = { 0 };
	struct fw_map_fds plain = { 0 }, *fds;
	struct xdp_env env;

	if (!ASSERT_OK(xdp_env_open(&env), "open"))
		goto out;
	if (mmapable) {
		fds = &env.fds;
	} else {
		if (!ASSERT_OK(plain_maps(&plain), "create plain maps"))
			goto out;
		fds = &plain;
	}
	if (!ASSERT_OK(compile_yaml(&env, POLICY_BIG, 1, &big), "compile big"))
		goto out;
	ASSERT_TRUE(big.nsrc4_t8 > 0 && big.ndst4_t8 > 0 && big.nsrc6 > 1,
		    "big policy uses tbl8 groups and IPv6 prefixes");
	if (!ASSERT_OK(fw_maps_write(fds, &big, &diags), "write big"))
		goto out;
	ASSERT_TRUE(maps_hold(fds, &big), "maps hold the big policy");

	if (!ASSERT_OK(compile_yaml(&env, POLICY_SMALL, 2, &small), "compile small"))
		goto out;
	ASSERT_TRUE(small.nclasses < big.nclasses && !small.nsrc4_t8, "small is smaller");
	if (!ASSERT_OK(fw_maps_write(fds, &small, &diags), "write small"))
		goto out;
	ASSERT_TRUE(maps_hold(fds, &small), "maps hold the small policy, nothing left over");
out:
	sl_diags_free(&diags);
	fw_tables_free(&big);
	fw_tables_free(&small);
	close_maps(&plain);
	xdp_env_close(&env);
}

TEST(fw_maps_write_mmap)
{
	write_and_replace(true);
}

TEST(fw_maps_write_batch)
{
	write_and_replace(false);
}

/* A map of the wrong layout is refused with a message naming it; fw_cfg untouched. */
TEST(fw_maps_write_refuses_wrong_layout)
{
	struct fw_tables t = { 0 };
	struct sl_diags diags = { 0 };
	struct fw_map_fds fds;
	struct fw_config cfg;
	struct xdp_env env;
	uint32_t zero = 0;
	int bad = -1;

	if (!ASSERT_OK(xdp_env_open(&env), "open"))
		goto out;
	if (!ASSERT_OK(compile_yaml(&env, POLICY_BIG, 1, &t), "compile"))
		goto out;
	bad = mkarray("t_bad", sizeof(struct fw_blk), 16, 0);
	if (!ASSERT_TRUE(bad >= 0, "create small map"))
		goto out;
	fds = env.fds;
	fds.src4 = bad;
	ASSERT_EQ(fw_maps_write(&fds, &t, &diags), -EINVAL, "write into a short fw_src4");
	if (ASSERT_EQ(diags.n, 1, "one message"))
		ASSERT_STRSTR(diags.v[0].msg, "fw_src4", "message names the map");
	if (ASSERT_OK(bpf_map_lookup_elem(env.fds.cfg, &zero, &cfg) ? -errno : 0, "fw_cfg"))
		ASSERT_EQ(cfg.active, 0, "fw_cfg not written");
	/* checked before anything is written: fw_cls (written first) is untouched */
	ASSERT_TRUE(array_holds(env.fds.cls, "fw_cls", NULL, 0, SLUICE_MAX_CLASSES,
				sizeof(struct fw_bitmap)), "fw_cls not written");
out:
	if (bad >= 0)
		close(bad);
	sl_diags_free(&diags);
	fw_tables_free(&t);
	xdp_env_close(&env);
}

/* Per-CPU values are summed, every CPU counts. */
TEST(sl_counters_sum_cpus)
{
	int ncpu = libbpf_num_possible_cpus();
	struct sl_counter *v = NULL, out[3];
	LIBBPF_OPTS(bpf_map_create_opts, opts);
	uint32_t key = 1;
	int fd;

	fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "t_cnt", 4, sizeof(struct sl_counter), 3,
			    &opts);
	if (!ASSERT_TRUE(fd >= 0, "create per-CPU array") || !ASSERT_TRUE(ncpu > 0, "cpus"))
		goto out;
	v = calloc(ncpu, sizeof(*v));
	if (!ASSERT_TRUE(v, "alloc"))
		goto out;
	for (int c = 0; c < ncpu; c++)
		v[c] = (struct sl_counter){ .packets = c + 1, .bytes = 100 * (c + 1) };
	if (!ASSERT_OK(bpf_map_update_elem(fd, &key, v, BPF_ANY) ? -errno : 0, "update"))
		goto out;
	if (ASSERT_OK(sl_counters_read(fd, 3, out), "read")) {
		ASSERT_EQ(out[0].packets, 0, "key 0");
		ASSERT_EQ(out[1].packets, ncpu * (ncpu + 1) / 2, "key 1 packets");
		ASSERT_EQ(out[1].bytes, 100 * ncpu * (ncpu + 1) / 2, "key 1 bytes");
		ASSERT_EQ(out[2].bytes, 0, "key 2");
	}
	if (ASSERT_OK(sl_counter_read(fd, 1, &out[0]), "read one"))
		ASSERT_EQ(out[0].packets, ncpu * (ncpu + 1) / 2, "one key");
	ASSERT_OK(sl_counters_reset(fd, 3), "reset");
	if (ASSERT_OK(sl_counters_read(fd, 3, out), "read after reset"))
		ASSERT_EQ(out[1].packets + out[1].bytes, 0, "zero after reset");
out:
	free(v);
	if (fd >= 0)
		close(fd);
}

static const char *const POLICY_V6_A =
	"firewall:\n  interfaces: [slb0]\n  default: allow\n  stateful: false\n  rules:\n"
	"    - { name: a, action: deny, src: [2001:db8:1::/48, 2001:db8:2::/48] }\n";
static const char *const POLICY_V6_B =
	"firewall:\n  interfaces: [slb0]\n  default: allow\n  stateful: false\n  rules:\n"
	"    - { name: a, action: deny, src: [2001:db8:3::/48, 2001:db8:4::/48] }\n";

/*
 * A trie too small for the old and the new prefixes together: the stale
 * ones are deleted first instead of failing half way with E2BIG.
 */
TEST(fw_maps_write_full_trie)
{
	struct fw_tables a = { 0 }, b = { 0 };
	struct sl_diags diags = { 0 };
	struct fw_map_fds fds = { 0 };
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
	struct xdp_env env;
	int small = -1;

	if (!ASSERT_OK(xdp_env_open(&env), "open"))
		goto out;
	if (!ASSERT_OK(compile_yaml(&env, POLICY_V6_A, 1, &a), "compile a") ||
	    !ASSERT_OK(compile_yaml(&env, POLICY_V6_B, 2, &b), "compile b"))
		goto out;
	if (!ASSERT_EQ(a.nsrc6, 3, "a: ::/0 and two prefixes") || !ASSERT_EQ(b.nsrc6, 3, "b"))
		goto out;
	small = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "t_small6", sizeof(struct fw_lpm6_key),
			       sizeof(struct fw_lpm6_val), 3, &opts);
	if (!ASSERT_TRUE(small >= 0, "create 3-entry trie"))
		goto out;
	fds = env.fds;
	fds.src6 = small;
	if (!ASSERT_OK(fw_maps_write(&fds, &a, &diags), "write a"))
		goto out;
	ASSERT_TRUE(trie_holds(small, "trie after a", a.src6, a.nsrc6), "a in the trie");
	if (!ASSERT_OK(fw_maps_write(&fds, &b, &diags), "write b over a"))
		goto out;
	ASSERT_TRUE(trie_holds(small, "trie after b", b.src6, b.nsrc6), "b in the trie");
out:
	if (small >= 0)
		close(small);
	sl_diags_print(stdout, &diags);
	sl_diags_free(&diags);
	fw_tables_free(&a);
	fw_tables_free(&b);
	xdp_env_close(&env);
}
