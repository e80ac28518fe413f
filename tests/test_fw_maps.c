// SPDX-License-Identifier: GPL-2.0-only
/*
 * fw_maps_write builds a new policy slot holding exactly the compiled
 * tables, in inner maps sized from them, flips the default interface slot to
 * it and frees the old one; a slot in use is never written; a write that
 * fails at any point leaves every map of the policy in force byte-identical.
 * The counter readers sum across CPUs.
 */
#include <arpa/inet.h>
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

/*
 * HOSTS single addresses 10.(i >> 8).(i & 255).1 in a set, denied for TCP
 * (and the UDP rule of POLICY_SMALL): past SLUICE_GROUPS_DIRECT split /24s
 * they go to the hash. PER16: prefixes in HOSTS /16s, each with 5 values
 * (see below): past SLUICE_FLAT_MIN the source table goes flat. Returns the
 * YAML (free it).
 */
static char *hosts_policy(unsigned int hosts, bool per16)
{
	char *yaml = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&yaml, &len);

	if (!f)
		return NULL;
	/*
	 * per16: /16 number i holds .0/24 and .2/24 (set hosts), .1/24 and
	 * .2/24 (set other) and the host .3.1: five values among its /24s, a
	 * full chunk, so that past SLUICE_FLAT_MIN of them the table goes flat
	 */
	fprintf(f, "sets:\n  hosts:\n    prefixes: [");
	for (unsigned int i = 0; i < hosts; i++) {
		if (per16)
			fprintf(f, "%s%u.%u.0.0/24, %u.%u.2.0/24, %u.%u.3.1", i ? ", " : "",
				10 + (i >> 8), i & 255, 10 + (i >> 8), i & 255, 10 + (i >> 8), i & 255);
		else
			fprintf(f, "%s10.%u.%u.1", i ? ", " : "", i >> 8, i & 255);
	}
	fprintf(f, "]\n  other:\n    prefixes: [");
	for (unsigned int i = 0; per16 && i < hosts; i++)
		fprintf(f, "%s%u.%u.1.0/24, %u.%u.2.0/24", i ? ", " : "", 10 + (i >> 8), i & 255,
			10 + (i >> 8), i & 255);
	fprintf(f, "%s192.0.2.0/24]\nfirewall:\n  interfaces: [slb0]\n  default: allow\n"
		"  stateful: false\n  rules:\n"
		"    - { name: h, action: deny, src: [\"@hosts\"], proto: tcp }\n"
		"    - { name: o, action: deny, src: [\"@other\"], proto: udp }\n"
		"    - { name: a, action: deny, src: [2001:db8:9::/48], proto: udp, "
		"dport: [53] }\n", per16 ? ", " : "");
	fclose(f);
	return yaml;
}

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

/* Table K of the slot INNER is absent (the policy does not need it). */
static bool absent(const struct fw_map_fds *in, enum sluice_fw_table k)
{
	return tl_check(in->tbl[k] < 0, __FILE__, __LINE__, "%s: present, expected absent",
			fw_table_name(k));
}

/* Array K holds SRC[0, N) then zeroes up to MAX, or is absent when SRC is NULL. */
static bool arr_is(const struct fw_map_fds *in, enum sluice_fw_table k, const void *src,
		   uint32_t n, uint32_t max, size_t vsize)
{
	if (!src)
		return absent(in, k);
	if (!tl_check(in->tbl[k] >= 0, __FILE__, __LINE__, "%s: absent", fw_table_name(k)))
		return false;
	return array_holds(in->tbl[k], fw_table_name(k), src, n, max, vsize);
}

/*
 * The slot's inner maps INNER hold exactly the compiled tables T: every
 * table the policy needs, nothing else.
 */
static bool maps_hold(const struct fw_map_fds *in, const struct fw_tables *t)
{
	static const enum sluice_fw_table t8[2] = { SLUICE_FWT_SRC4_T8, SLUICE_FWT_DST4_T8 };
	static const enum sluice_fw_table lh[2] = { SLUICE_FWT_SRC4_LH, SLUICE_FWT_DST4_LH };
	static const enum sluice_fw_table l1[2] = { SLUICE_FWT_SRC4, SLUICE_FWT_DST4 };
	static const enum sluice_fw_table f24[2] = { SLUICE_FWT_SRC4_24, SLUICE_FWT_DST4_24 };
	static const enum sluice_fw_table p1[2] = { SLUICE_FWT_SRC4_P1, SLUICE_FWT_DST4_P1 };
	static const enum sluice_fw_table p2[2] = { SLUICE_FWT_SRC4_P2, SLUICE_FWT_DST4_P2 };
	static const enum sluice_fw_table sm[2] = { SLUICE_FWT_SRC4_S, SLUICE_FWT_DST4_S };
	static const enum sluice_fw_table v6[2] = { SLUICE_FWT_SRC6, SLUICE_FWT_DST6 };
	static const enum sluice_fw_table pt[2] = { SLUICE_FWT_SPORT, SLUICE_FWT_DPORT };
	struct fw_config cfg;
	uint32_t zero = 0;
	bool ok = true;

	if (t->cfg.row) {
		ok &= absent(in, SLUICE_FWT_CLS);
		ok &= arr_is(in, SLUICE_FWT_CLSB, t->clsmap, t->nclsmap, t->nclsmap,
			     sizeof(struct fw_bitmap));
	} else {
		ok &= arr_is(in, SLUICE_FWT_CLS, t->clsmap, t->nclsmap, SLUICE_SMALL_CLASSES,
			     sizeof(struct fw_bitmap));
		ok &= absent(in, SLUICE_FWT_CLSB);
	}
	for (int d = 0; d < 2; d++) {
		ok &= arr_is(in, l1[d], t->v4[d].l1, SLUICE_L1_BLOCKS, SLUICE_L1_BLOCKS,
			     sizeof(struct fw_l1blk));
		ok &= arr_is(in, f24[d], t->v4[d].flat, SLUICE_FLAT_CHUNKS, SLUICE_FLAT_CHUNKS,
			     sizeof(struct fw_t8));
		ok &= arr_is(in, t8[d], t->v4[d].nt8 ? t->v4[d].t8 : NULL, t->v4[d].nt8,
			     t->v4[d].nt8, sizeof(struct fw_t8));
		ok &= arr_is(in, sm[d], t->v4[d].s, t->v4[d].ns, SLUICE_SMALL_CHUNKS,
			     sizeof(struct fw_t8));
		ok &= arr_is(in, p1[d], t->v4[d].np1 ? t->v4[d].p1 : NULL, t->v4[d].np1,
			     t->v4[d].np1, sizeof(struct fw_p1));
		ok &= arr_is(in, p2[d], t->v4[d].np2 ? t->v4[d].p2 : NULL, t->v4[d].np2,
			     t->v4[d].np2, sizeof(struct fw_p2));
		ok &= arr_is(in, lh[d], t->v4[d].nlh ? t->v4[d].lh : NULL, t->v4[d].nlh,
			     t->v4[d].nlh, sizeof(struct fw_lh_bkt));
		ok &= arr_is(in, pt[d], t->port[d], SLUICE_PORT_BLOCKS, SLUICE_PORT_BLOCKS,
			     sizeof(struct fw_blk));
		if (t->v6[d])
			ok &= trie_holds(in->tbl[v6[d]], fw_table_name(v6[d]), t->v6[d], t->n6[d]);
		else
			ok &= absent(in, v6[d]);
	}
	ok &= arr_is(in, SLUICE_FWT_RULE, t->rule, SLUICE_RULE_BLOCKS, SLUICE_RULE_BLOCKS,
		     sizeof(struct fw_rule_blk));
	if (ASSERT_OK(bpf_map_lookup_elem(in->tbl[SLUICE_FWT_CFG], &zero, &cfg) ? -errno : 0,
		      "fw_cfg"))
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

/* The inner maps of the slot the default entry of sl_ifslot names. */
static int default_slot(const struct fw_map_fds *fds, uint32_t *slot, struct fw_map_fds *inner)
{
	int err = fw_ifslot_get(fds, SLUICE_IFSLOT_DEFAULT, slot);

	return err ? err : fw_slot_open(fds, *slot, inner);
}

static uint32_t max_entries(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.max_entries;
}

static int used_slots(const struct fw_map_fds *fds)
{
	int n = 0;

	for (uint32_t s = 0; s < SLUICE_POL_SLOTS; s++)
		n += fw_slot_used(fds, s);
	return n;
}

/*
 * Big policy, then a small one: each goes into a new slot whose inner maps
 * hold exactly its tables, sized from them where the layout allows, frozen;
 * the default flips to it and the slot it replaced is freed.
 */
TEST(fw_maps_write_new_slot)
{
	struct fw_tables big = { 0 }, small = { 0 };
	struct fw_map_fds in1, in2;
	struct sl_diags diags = { 0 };
	uint32_t s1 = ~0u, s2 = ~0u, zero = 0;
	struct fw_config cfg = { 0 };
	struct xdp_env env;

	memset(&in1, -1, sizeof(in1));
	memset(&in2, -1, sizeof(in2));
	if (!ASSERT_OK(xdp_env_open(&env), "open"))
		goto out;
	ASSERT_EQ(used_slots(&env.fds), 0, "no slot before the first policy");
	if (!ASSERT_OK(compile_yaml(&env, POLICY_BIG, 1, &big), "compile big"))
		goto out;
	ASSERT_TRUE(big.v4[0].ns > 0 && big.v4[1].ns > 0 && big.n6[0] > 1,
		    "big policy uses chunks, groups and IPv6 prefixes");
	if (!ASSERT_OK(fw_maps_write(&env.fds, &big, &diags), "write big") ||
	    !ASSERT_OK(default_slot(&env.fds, &s1, &in1), "default slot"))
		goto out;
	ASSERT_TRUE(maps_hold(&in1, &big), "the slot holds the big policy");
	ASSERT_EQ(max_entries(in1.tbl[SLUICE_FWT_CLS]), SLUICE_SMALL_CLASSES,
		  "fw_cls keeps its size (inlined)");
	ASSERT_EQ(max_entries(in1.tbl[SLUICE_FWT_SRC4_T8]), big.v4[0].nt8,
		  "fw_src4_t8 sized to its chunks");
	ASSERT_EQ(max_entries(in1.tbl[SLUICE_FWT_SRC6]), big.n6[0], "fw_src6 sized to its prefixes");
	ASSERT_EQ(max_entries(in1.tbl[SLUICE_FWT_SRC4]), SLUICE_L1_BLOCKS, "fw_src4 keeps its size");
	/* written once: userspace cannot change a slot in use */
	ASSERT_EQ(bpf_map_update_elem(in1.tbl[SLUICE_FWT_CFG], &zero, &cfg, BPF_ANY) ? -errno : 0,
		  -EPERM, "fw_cfg frozen");
	ASSERT_EQ(used_slots(&env.fds), 1, "one slot");

	if (!ASSERT_OK(compile_yaml(&env, POLICY_SMALL, 2, &small), "compile small"))
		goto out;
	ASSERT_TRUE(small.ncls[SL_F_SRC] < big.ncls[SL_F_SRC] && !small.v4[0].l1 &&
		    !small.v4[1].l1 && !small.v6[1] && !small.port[0], "small needs fewer tables");
	if (!ASSERT_OK(fw_maps_write(&env.fds, &small, &diags), "write small") ||
	    !ASSERT_OK(default_slot(&env.fds, &s2, &in2), "default slot"))
		goto out;
	ASSERT_NEQ(s2, s1, "a new slot");
	ASSERT_TRUE(maps_hold(&in2, &small), "the new slot holds the small policy");
	ASSERT_EQ(in2.tbl[SLUICE_FWT_SRC4], -1, "a table the policy does not need is absent");
	ASSERT_FALSE(fw_slot_used(&env.fds, s1), "the old slot is freed");
	ASSERT_EQ(used_slots(&env.fds), 1, "one slot");
	/* the old inner maps live on while someone holds them (a packet, or us) */
	ASSERT_TRUE(maps_hold(&in1, &big), "old maps unchanged");
out:
	fw_slot_close(&in1);
	fw_slot_close(&in2);
	sl_diags_print(stdout, &diags);
	sl_diags_free(&diags);
	fw_tables_free(&big);
	fw_tables_free(&small);
	xdp_env_close(&env);
}

/* A slot in use is never written: refused, and left as it was. */
TEST(fw_slot_write_refuses_slot_in_use)
{
	struct fw_tables a = { 0 }, b = { 0 };
	struct sl_diags diags = { 0 };
	struct fw_map_fds in;
	struct xdp_env env;
	uint32_t slot;

	memset(&in, -1, sizeof(in));
	if (!ASSERT_OK(xdp_env_open(&env), "open") ||
	    !ASSERT_OK(compile_yaml(&env, POLICY_BIG, 1, &a), "compile a") ||
	    !ASSERT_OK(compile_yaml(&env, POLICY_SMALL, 2, &b), "compile b") ||
	    !ASSERT_OK(fw_maps_write(&env.fds, &a, &diags), "write a") ||
	    !ASSERT_OK(default_slot(&env.fds, &slot, &in), "slot"))
		goto out;
	ASSERT_EQ(fw_slot_write(&env.fds, slot, &b, NULL, &diags), -EBUSY, "write into it");
	if (ASSERT_EQ(diags.n, 1, "one message"))
		ASSERT_STRSTR(diags.v[0].msg, "in use", "message says why");
	ASSERT_TRUE(maps_hold(&in, &a), "still policy a");
	ASSERT_EQ(fw_slot_write(&env.fds, SLUICE_POL_SLOTS, &b, NULL, &diags), -EINVAL,
		  "slot out of range");
out:
	fw_slot_close(&in);
	sl_diags_free(&diags);
	fw_tables_free(&a);
	fw_tables_free(&b);
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

/* Write C (on every CPU: packets C, bytes 10 * C each) into entry KEY of per-CPU array FD. */
static int put_all_cpus(int fd, uint32_t key, uint64_t c)
{
	int ncpu = libbpf_num_possible_cpus(), err;
	struct sl_counter *v;

	if (ncpu <= 0)
		return -EINVAL;
	v = calloc(ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (int i = 0; i < ncpu; i++)
		v[i] = (struct sl_counter){ .packets = c, .bytes = 10 * c };
	err = bpf_map_update_elem(fd, &key, v, BPF_ANY) ? -errno : 0;
	free(v);
	return err;
}

/*
 * sl_verdicts_read: XDP's drop verdict is the sum of XDP's drop reasons
 * (the programs count no verdict of their own for it), whatever the entry
 * holds (a build before counted it too); tc's and every other verdict are
 * their own entries.
 */
TEST(sl_verdicts_xdp_drops_are_the_reasons)
{
	int ncpu = libbpf_num_possible_cpus();
	struct sl_counter out[SLUICE_HOOK_MAX * SLUICE_VERDICT_SLOTS];
	uint32_t xdrop = SLUICE_VERDICT_IDX(SLUICE_HOOK_XDP, SLUICE_VERDICT_DROP);
	uint32_t tdrop = SLUICE_VERDICT_IDX(SLUICE_HOOK_TC, SLUICE_VERDICT_DROP);
	uint32_t xpass = SLUICE_VERDICT_IDX(SLUICE_HOOK_XDP, SLUICE_VERDICT_PASS);
	LIBBPF_OPTS(bpf_map_create_opts, opts);
	int vfd, dfd;

	vfd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "t_verdict", 4, sizeof(struct sl_counter),
			     SLUICE_HOOK_MAX * SLUICE_VERDICT_SLOTS, &opts);
	dfd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "t_drop", 4, sizeof(struct sl_counter),
			     SLUICE_HOOK_MAX * SLUICE_DROP_SLOTS, &opts);
	if (!ASSERT_TRUE(vfd >= 0 && dfd >= 0, "create per-CPU arrays") ||
	    !ASSERT_TRUE(ncpu > 0, "cpus"))
		goto out;
	/* XDP: 3 + 4 + 5 drops by reason (the last slot too), a stale entry of 1000 */
	if (!ASSERT_OK(put_all_cpus(dfd, SLUICE_DROP_IDX(SLUICE_HOOK_XDP, SLUICE_DROP_POLICY_RULE),
				    3), "xdp rule drops") ||
	    !ASSERT_OK(put_all_cpus(dfd, SLUICE_DROP_IDX(SLUICE_HOOK_XDP, SLUICE_DROP_BAD_IP4_IHL),
				    4), "xdp parse drops") ||
	    !ASSERT_OK(put_all_cpus(dfd, SLUICE_DROP_IDX(SLUICE_HOOK_XDP, SLUICE_DROP_SLOTS - 1),
				    5), "xdp drops of the last slot") ||
	    !ASSERT_OK(put_all_cpus(vfd, xdrop, 1000), "stale xdp drop verdict") ||
	    !ASSERT_OK(put_all_cpus(vfd, xpass, 7), "xdp passes") ||
	    /* tc: its own verdict, and reasons that are not all verdicts (the backstop's) */
	    !ASSERT_OK(put_all_cpus(dfd, SLUICE_DROP_IDX(SLUICE_HOOK_TC, SLUICE_DROP_POLICY_RULE),
				    9), "tc drops") ||
	    !ASSERT_OK(put_all_cpus(vfd, tdrop, 2), "tc drop verdict"))
		goto out;
	if (!ASSERT_OK(sl_verdicts_read(vfd, dfd, out), "read"))
		goto out;
	ASSERT_EQ(out[xdrop].packets, 12 * ncpu, "xdp drops: the reasons' sum");
	ASSERT_EQ(out[xdrop].bytes, 120 * ncpu, "xdp drop bytes: the reasons' sum");
	ASSERT_EQ(out[xpass].packets, 7 * ncpu, "xdp passes as counted");
	ASSERT_EQ(out[tdrop].packets, 2 * ncpu, "tc drops as counted");
	ASSERT_EQ(out[tdrop].bytes, 20 * ncpu, "tc drop bytes as counted");
	ASSERT_EQ(out[SLUICE_VERDICT_IDX(SLUICE_HOOK_TC, SLUICE_VERDICT_PASS)].packets, 0,
		  "tc passes: none");
out:
	if (vfd >= 0)
		close(vfd);
	if (dfd >= 0)
		close(dfd);
}

/* ---- injected failures ----------------------------------------------------- */

static bool buf_add(char **buf, size_t *len, const void *p, size_t n)
{
	char *b = realloc(*buf, *len + n);

	if (!b)
		return false;
	memcpy(b + *len, p, n);
	*buf = b;
	*len += n;
	return true;
}

/*
 * Everything a packet can reach, as bytes: sl_ifslot (key, value pairs) and
 * the words of sl_ifslot_a,
 * which slots are used, and every inner map of every used slot (arrays in
 * full, tries entry by entry with their values).
 */
static char *state_dump(const struct fw_map_fds *fds, size_t *len)
{
	char *buf = NULL;
	__u32 k, next, v;

	*len = 0;
	for (int r = bpf_map_get_next_key(fds->ifslot, NULL, &next); !r;
	     r = bpf_map_get_next_key(fds->ifslot, &k, &next)) {
		k = next;
		if (bpf_map_lookup_elem(fds->ifslot, &k, &v) || !buf_add(&buf, len, &k, 4) ||
		    !buf_add(&buf, len, &v, 4))
			goto fail;
	}
	/* the array view the datapath reads: its non-zero words */
	for (k = 0; k < SLUICE_IFSLOT_ARRAY; k++) {
		if (bpf_map_lookup_elem(fds->ifslot_a, &k, &v))
			goto fail;
		if (v && (!buf_add(&buf, len, &k, 4) || !buf_add(&buf, len, &v, 4)))
			goto fail;
	}
	for (uint32_t s = 0; s < SLUICE_POL_SLOTS; s++) {
		struct fw_map_fds in;

		if (!fw_slot_used(fds, s))
			continue;
		if (!buf_add(&buf, len, &s, 4) || fw_slot_open(fds, s, &in))
			goto fail;
		for (int *fd = in.tbl; fd < in.tbl + SLUICE_FWT_MAX; fd++) {
			struct bpf_map_info info = {};
			__u32 ilen = sizeof(info);
			struct fw_lpm6_key lk, ln;
			struct fw_lpm6_val lv;
			char *arr;

			if (*fd < 0) {
				buf_add(&buf, len, "none", 4);
				continue;
			}
			if (bpf_obj_get_info_by_fd(*fd, &info, &ilen))
				goto fail_in;
			buf_add(&buf, len, &info.max_entries, 4);
			if (info.type == BPF_MAP_TYPE_LPM_TRIE) {
				for (int r = bpf_map_get_next_key(*fd, NULL, &ln); !r;
				     r = bpf_map_get_next_key(*fd, &lk, &ln)) {
					lk = ln;
					if (bpf_map_lookup_elem(*fd, &lk, &lv) ||
					    !buf_add(&buf, len, &lk, sizeof(lk)) ||
					    !buf_add(&buf, len, &lv, sizeof(lv)))
						goto fail_in;
				}
				continue;
			}
			arr = array_dump(*fd, info.max_entries, info.value_size);
			if (!arr || !buf_add(&buf, len, arr,
					     (size_t)info.max_entries * info.value_size)) {
				free(arr);
				goto fail_in;
			}
			free(arr);
		}
		fw_slot_close(&in);
		continue;
fail_in:
		fw_slot_close(&in);
		goto fail;
	}
	return buf;
fail:
	free(buf);
	return NULL;
}

/* Ethernet + IPv4 + UDP 198.51.100.5:1000 -> 192.0.2.50:2000: POLICY_BIG denies
 * it (@many), POLICY_SMALL allows it (default allow). */
static const uint8_t probe[] = {
	0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00,
	0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 198, 51, 100, 5, 192, 0, 2, 50,
	0x03, 0xe8, 0x07, 0xd0, 0, 8, 0, 0,
};

/*
 * The k-th map write of applying a policy fails, for every k: the apply
 * fails, and every map of the policy in force is byte-identical afterwards
 * (dumped before and after), no slot is left behind, and the probe still
 * gets the old policy's verdict. Then the same apply without a failure
 * succeeds and the verdict changes (so the probe tells the policies apart).
 */
TEST(fw_maps_injected_failure_leaves_policy)
{
	struct fw_tables a = { 0 }, b = { 0 };
	struct sl_diags diags = { 0 };
	char *before = NULL, *after, *hash = hosts_policy(SLUICE_GROUPS_DIRECT + 100, false);
	struct xdp_env env;
	size_t blen, alen;
	unsigned int n = 0, bad = 0;
	uint32_t spare;
	__u32 retval;

	if (!ASSERT_OK(xdp_env_open(&env), "open") || !ASSERT_TRUE(hash, "policy text"))
		goto out;
	/* b: hosts in the hash, an IPv6 trie, ports, the classes, the rules */
	if (!ASSERT_OK(compile_yaml(&env, POLICY_BIG, 1, &a), "compile a") ||
	    !ASSERT_OK(compile_yaml(&env, hash, 2, &b), "compile b") ||
	    !ASSERT_TRUE(b.v4[0].nlh && b.v6[0] && b.port[1], "b has a hash, a trie, ports") ||
	    !ASSERT_OK(fw_maps_write(&env.fds, &a, &diags), "write a"))
		goto out;
	/* how many writes applying b takes here (failure armed, never reached):
	 * build it into a spare slot, count, free the slot again */
	fw_maps_fail_at(~0u, EIO);
	if (!ASSERT_OK(fw_slot_free(&env.fds, &spare), "spare slot") ||
	    !ASSERT_OK(fw_slot_write(&env.fds, spare, &b, NULL, &diags), "count writes") ||
	    !ASSERT_OK(fw_slot_clear(&env.fds, spare), "free the spare slot"))
		goto out;
	n = fw_maps_writes() + 1;	/* and the flip */
	ASSERT_TRUE(n >= 8 * 4 + 1, "8 maps created, filled, frozen, inserted, one flip");
	before = state_dump(&env.fds, &blen);
	if (!ASSERT_TRUE(before, "dump before"))
		goto out;
	ASSERT_OK(xdp_env_run(&env, probe, sizeof(probe), &retval, NULL, NULL), "run");
	ASSERT_EQ(retval, XDP_DROP, "policy a denies the probe");

	for (unsigned int k = 1; k <= n; k++) {
		int err;

		fw_maps_fail_at(k, k % 2 ? ENOMEM : E2BIG);
		sl_diags_free(&diags);
		err = fw_maps_write(&env.fds, &b, &diags);
		after = state_dump(&env.fds, &alen);
		xdp_env_run(&env, probe, sizeof(probe), &retval, NULL, NULL);
		if (!tl_check(err == (k % 2 ? -ENOMEM : -E2BIG) && diags.n && after &&
			      alen == blen && !memcmp(after, before, blen) && retval == XDP_DROP,
			      __FILE__, __LINE__, "write %u of %u failed: err %d, %zu messages, "
			      "state %s, probe %u", k, n, err, diags.n,
			      after && alen == blen && !memcmp(after, before, blen) ?
			      "identical" : "CHANGED", retval))
			bad++;
		free(after);
	}
	ASSERT_EQ(bad, 0, "every injected failure left the policy in force as it was");
	printf("# %u map writes per apply, each failed once\n", n);

	fw_maps_fail_at(0, 0);
	sl_diags_free(&diags);
	ASSERT_OK(fw_maps_write(&env.fds, &b, &diags), "write b, no failure");
	ASSERT_OK(xdp_env_run(&env, probe, sizeof(probe), &retval, NULL, NULL), "run");
	ASSERT_EQ(retval, XDP_PASS, "policy b allows the probe");
out:
	fw_maps_fail_at(0, 0);
	free(hash);
	free(before);
	sl_diags_free(&diags);
	fw_tables_free(&a);
	fw_tables_free(&b);
	xdp_env_close(&env);
}

static uint32_t inner_id(const struct fw_map_fds *fds, int outer, uint32_t slot)
{
	uint32_t id = 0;

	(void)fds;
	bpf_map_lookup_elem(outer, &slot, &id);
	return id;
}

/*
 * Slots are never written again, so identical tables are shared: a policy
 * that changes only a port reuses the classes, the source address tables
 * (the /16 entries, and the small table: the chunk and the group of
 * 192.0.2.7) and the rule
 * table of the slot in force (same inner map ids); only the destination-port
 * table and fw_cfg are new.
 */
TEST(fw_maps_identical_tables_shared)
{
	static const char *const p1 =
		"firewall:\n  interfaces: [slb0]\n  default: deny\n  stateful: false\n"
		"  rules:\n    - { name: a, action: allow, src: [198.51.100.0/24, 192.0.2.7],"
		" proto: tcp, dport: [22] }\n";
	static const char *const p2 =
		"firewall:\n  interfaces: [slb0]\n  default: deny\n  stateful: false\n"
		"  rules:\n    - { name: a, action: allow, src: [198.51.100.0/24, 192.0.2.7],"
		" proto: tcp, dport: [23] }\n";
	struct fw_tables a = { 0 }, b = { 0 };
	struct sl_diags diags = { 0 };
	uint32_t s1, s2, id1[SLUICE_FWT_MAX], id2[SLUICE_FWT_MAX];
	struct xdp_env env;
	unsigned int w1, w2;

	if (!ASSERT_OK(xdp_env_open(&env), "open") ||
	    !ASSERT_OK(compile_yaml(&env, p1, 1, &a), "compile p1") ||
	    !ASSERT_OK(compile_yaml(&env, p2, 2, &b), "compile p2"))
		goto out;
	fw_maps_fail_at(~0u, EIO);
	if (!ASSERT_OK(fw_maps_write(&env.fds, &a, &diags), "write p1"))
		goto out;
	w1 = fw_maps_writes();
	fw_ifslot_get(&env.fds, SLUICE_IFSLOT_DEFAULT, &s1);
	for (int i = 0; i < SLUICE_FWT_MAX; i++)
		id1[i] = inner_id(&env.fds, env.fds.tbl[i], s1);
	fw_maps_fail_at(~0u, EIO);
	if (!ASSERT_OK(fw_maps_write(&env.fds, &b, &diags), "write p2"))
		goto out;
	w2 = fw_maps_writes();
	fw_ifslot_get(&env.fds, SLUICE_IFSLOT_DEFAULT, &s2);
	for (int i = 0; i < SLUICE_FWT_MAX; i++)
		id2[i] = inner_id(&env.fds, env.fds.tbl[i], s2);
	ASSERT_NEQ(s1, s2, "a new slot");
	ASSERT_TRUE(id1[SLUICE_FWT_CLS] && id2[SLUICE_FWT_CLS] == id1[SLUICE_FWT_CLS],
		    "fw_cls shared");
	ASSERT_TRUE(id1[SLUICE_FWT_SRC4] && id2[SLUICE_FWT_SRC4] == id1[SLUICE_FWT_SRC4],
		    "fw_src4 shared");
	ASSERT_TRUE(id1[SLUICE_FWT_SRC4_S] &&
		    id2[SLUICE_FWT_SRC4_S] == id1[SLUICE_FWT_SRC4_S], "fw_src4_s shared");
	ASSERT_TRUE(id1[SLUICE_FWT_RULE] && id2[SLUICE_FWT_RULE] == id1[SLUICE_FWT_RULE],
		    "fw_rule shared");
	ASSERT_TRUE(!id1[SLUICE_FWT_DST4] && !id1[SLUICE_FWT_SPORT] && !id1[SLUICE_FWT_SRC6],
		    "no dst, sport or IPv6 table: no rule names one");
	ASSERT_NEQ(id2[SLUICE_FWT_DPORT], id1[SLUICE_FWT_DPORT], "fw_dport new");
	ASSERT_NEQ(id2[SLUICE_FWT_CFG], id1[SLUICE_FWT_CFG], "fw_cfg new (its generation)");
	ASSERT_EQ(w1 - w2, 4 * 3, "4 tables neither created, filled nor frozen");
	ASSERT_FALSE(fw_slot_used(&env.fds, s1), "the old slot freed");
	if (ASSERT_TRUE(fw_slot_used(&env.fds, s2), "the new slot")) {
		struct fw_map_fds in;

		if (ASSERT_OK(fw_slot_open(&env.fds, s2, &in), "open slot")) {
			ASSERT_TRUE(maps_hold(&in, &b), "the new slot holds p2 exactly");
			fw_slot_close(&in);
		}
	}
out:
	fw_maps_fail_at(0, 0);
	sl_diags_free(&diags);
	fw_tables_free(&a);
	fw_tables_free(&b);
	xdp_env_close(&env);
}

static const char *const POLICY_V6SET =
	"sets:\n"
	"  v6bad:\n"
	"    prefixes: [2001:db8:a::/48, 2001:db8:b::/48]\n"
	"firewall:\n  interfaces: [slb0]\n  default: allow\n  stateful: false\n  rules:\n"
	"    - { name: a, action: deny, src: [\"@v6bad\"] }\n"
	"    - { name: b, action: deny, dst: [2001:db8:c::1] }\n";

/*
 * A trie insert that fails (map full: ENOMEM/E2BIG) names its prefix, and
 * fw_prefix_loc maps it to the set or rule that put it there.
 */
TEST(fw_maps_failed_insert_names_its_prefix)
{
	struct fw_tables t = { 0 };
	struct sl_diags diags = { 0 };
	struct fw_write_fail fail;
	struct xdp_env env;
	int found = 0;

	if (!ASSERT_OK(xdp_env_open(&env), "open") ||
	    !ASSERT_OK(compile_yaml(&env, POLICY_V6SET, 1, &t), "compile"))
		goto out;
	for (unsigned int k = 1; k < 200 && found < 2; k++) {
		const struct sl_loc *loc;
		char addr[64];

		fw_maps_fail_at(k, E2BIG);
		if (fw_slot_write(&env.fds, 5, &t, &fail, &diags) != -E2BIG)
			continue;
		if (!fail.has_key || fail.key.prefixlen == 0)
			continue;
		ASSERT_FALSE(fw_slot_used(&env.fds, 5), "the slot is left empty");
		inet_ntop(AF_INET6, fail.key.addr, addr, sizeof(addr));
		loc = fw_prefix_loc(&env.pol, &fail.key);
		if (!ASSERT_TRUE(loc && loc->file && loc->line > 0, addr))
			continue;
		if (fail.key.prefixlen == 48) {
			/* the set's prefixes: the set's location, line 2 */
			ASSERT_STREQ(fail.map, "fw_src6", "fw_src6");
			ASSERT_EQ(loc->line, 2, "set v6bad");
		} else {
			ASSERT_STREQ(fail.map, "fw_dst6", "fw_dst6");
			ASSERT_EQ(fail.key.prefixlen, 128, "2001:db8:c::1");
			ASSERT_EQ(loc->line, 9, "rule b's dst item");
			ASSERT_TRUE(loc->col > 1, "its column");
		}
		found++;
	}
	ASSERT_EQ(found, 2, "a failed insert in each trie");
out:
	fw_maps_fail_at(0, 0);
	sl_diags_free(&diags);
	fw_tables_free(&t);
	xdp_env_close(&env);
}

/* A TCP frame from A.B.C.D (Ethernet, IPv4, TCP to port 80). */
static void tcp_from(uint8_t *f, uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	static const uint8_t tmpl[] = {
		0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00,
		0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 0, 192, 0, 2, 50,
		0x9c, 0x40, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x02, 0x20, 0, 0, 0, 0, 0,
	};

	memcpy(f, tmpl, sizeof(tmpl));
	f[26] = a;
	f[27] = b;
	f[28] = c;
	f[29] = d;
}

/*
 * The layouts of large sets, in the kernel: hosts in more /24s than get a
 * group each go to the hash (fw_src4_lh, sized to its buckets); hosts in
 * most /16s make the source table flat (fw_src4_24, no /16 level). Each slot
 * holds exactly its tables, and listed hosts are denied, their neighbours not.
 */
TEST(fw_maps_hash_and_flat_layouts)
{
	struct { unsigned int hosts; bool per16; int mode; } cases[] = {
		{ SLUICE_GROUPS_DIRECT + 100, false, SL_MODE_MAP },
		{ SLUICE_FLAT_MIN + 100, true, SL_MODE_FLAT },
		{ 1000, true, SL_MODE_MAP },	/* full chunks, not enough to go flat */
	};
	struct sl_diags diags = { 0 };
	uint8_t frame[54];
	struct xdp_env env;

	if (!ASSERT_OK(xdp_env_open(&env), "open"))
		return;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		char *yaml = hosts_policy(cases[k].hosts, cases[k].per16);
		struct fw_tables t = { 0 };
		struct fw_map_fds in;
		uint32_t slot;
		int bad = 0;

		if (!ASSERT_TRUE(yaml, "policy text") ||
		    !ASSERT_OK(compile_yaml(&env, yaml, k + 1, &t), "compile") ||
		    !ASSERT_EQ(t.cfg.dir[0].v4, cases[k].mode, "layout") ||
		    !ASSERT_OK(fw_maps_write(&env.fds, &t, &diags), "write") ||
		    !ASSERT_OK(default_slot(&env.fds, &slot, &in), "slot")) {
			free(yaml);
			fw_tables_free(&t);
			break;
		}
		ASSERT_TRUE(maps_hold(&in, &t), "the slot holds the tables");
		if (cases[k].mode == SL_MODE_MAP && cases[k].per16) {
			ASSERT_EQ(t.v4[0].nt8, 2 * cases[k].hosts, "per /16 a full chunk, a group");
		} else if (cases[k].mode == SL_MODE_MAP) {
			ASSERT_TRUE(t.v4[0].nlh > 0, "a hash");
			ASSERT_EQ(max_entries(in.tbl[SLUICE_FWT_SRC4_LH]), t.v4[0].nlh,
				  "fw_src4_lh sized to its buckets");
		} else {
			ASSERT_EQ(in.tbl[SLUICE_FWT_SRC4], -1, "no /16 level");
			ASSERT_EQ(max_entries(in.tbl[SLUICE_FWT_SRC4_24]), SLUICE_FLAT_CHUNKS,
				  "every /16's chunk");
		}
		for (unsigned int i = 0; i < cases[k].hosts && bad < 3; i += 97) {
			/* the hosts' /24: 10.(i >> 8).(i & 255).1; per16, /16 (10 + (i >> 8)).(i & 255) */
			uint8_t a = cases[k].per16 ? 10 + (i >> 8) : 10;
			uint8_t b = cases[k].per16 ? i & 255 : i >> 8;
			static const struct { uint8_t c, d; bool drop; } per16[] = {
				{ 0, 7, true }, { 1, 7, false }, { 2, 7, true }, { 3, 1, true },
				{ 3, 2, false }, { 4, 1, false },
			};

			for (size_t h = 0; h < (cases[k].per16 ? 6 : 3); h++) {
				uint8_t c = cases[k].per16 ? per16[h].c : i & 255;
				uint8_t d = cases[k].per16 ? per16[h].d : (uint8_t)h;
				bool drop = cases[k].per16 ? per16[h].drop : h == 1;
				__u32 rv = ~0u;

				/* per host: .0, .1 (listed), .2 */
				tcp_from(frame, a, b, c, d);
				xdp_env_run(&env, frame, sizeof(frame), &rv, NULL, NULL);
				if (!tl_check(rv == (drop ? XDP_DROP : XDP_PASS), __FILE__, __LINE__,
					      "host %u.%u.%u.%u: verdict %u", a, b, c, d, rv))
					bad++;
			}
		}
		ASSERT_EQ(bad, 0, "listed hosts denied, neighbours not");
		fw_slot_close(&in);
		fw_tables_free(&t);
		free(yaml);
	}
	sl_diags_print(stdout, &diags);
	sl_diags_free(&diags);
	xdp_env_close(&env);
}

/* Bytes the kernel holds for inner map FD, from its info: arrays by size, tries by entry. */
static uint64_t map_bytes(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	if (info.type == BPF_MAP_TYPE_LPM_TRIE)
		/* a node per prefix and about one inner node more, each a kmalloc-128 */
		return (uint64_t)info.max_entries * 2 * 128;
	return ((uint64_t)info.max_entries * ((info.value_size + 7) / 8 * 8) + 4095) / 4096 * 4096;
}

/* The sum of map_bytes over the inner maps of the default slot. */
static uint64_t slot_bytes(const struct fw_map_fds *fds)
{
	struct fw_map_fds in;
	uint32_t slot;
	uint64_t n = 0;

	if (default_slot(fds, &slot, &in))
		return ~0ull;
	for (int k = 0; k < SLUICE_FWT_MAX; k++)
		n += map_bytes(in.tbl[k]);
	fw_slot_close(&in);
	return n;
}

/* lowbias32: a bijection, so that N generated addresses are distinct */
static uint32_t mix32(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	x ^= x >> 16;
	return x;
}

/*
 * Memory follows the policy (issue 9), read from the maps' own sizes: a
 * slot of 100 rules with 1,000 IPv4 and 1,000 IPv6 prefixes holds at most
 * 4 MiB; one of 1M IPv4 prefixes at most 70 MiB whatever their mix (1M
 * single addresses, and 40% /32, 20% /28, 40% /24); a 5-rule policy on
 * ports well under 1 MiB.
 */
TEST(fw_maps_memory_follows_the_policy)
{
	static const struct { const char *what; uint32_t n; int shape; uint64_t max; } sets[] = {
		{ "100 rules, 1,000 + 1,000 prefixes", 1000, 2, 4ull << 20 },
		{ "1M single IPv4 addresses", 1000000, 1, 70ull << 20 },
		{ "1M IPv4 prefixes, mixed", 1000000, 2, 70ull << 20 },
	};
	struct sl_diags diags = { 0 };
	struct xdp_env env;

	if (!ASSERT_OK(xdp_env_open(&env), "open"))
		return;
	{
		struct fw_tables t = { 0 };
		uint64_t n;

		if (ASSERT_OK(compile_yaml(&env, POLICY_SMALL, 1, &t), "compile") &&
		    ASSERT_OK(fw_maps_write(&env.fds, &t, &diags), "write")) {
			n = slot_bytes(&env.fds);
			printf("# 1 rule on ports and IPv6: %.2f MiB of maps\n", n / 1048576.0);
			ASSERT_TRUE(n < 1ull << 20, "a small policy takes under 1 MiB");
		}
		fw_tables_free(&t);
	}
	for (size_t k = 0; k < sizeof(sets) / sizeof(sets[0]); k++) {
		char *yaml = NULL, path[128];
		struct fw_tables t = { 0 };
		size_t len = 0;
		FILE *f, *y;
		uint64_t n;

		/* the IPv4 prefixes in a set file, the IPv6 ones (mid policy) inline */
		snprintf(path, sizeof(path), "%s/big.txt", env.dir);
		f = fopen(path, "we");
		y = open_memstream(&yaml, &len);
		if (!ASSERT_TRUE(f && y, "files"))
			break;
		for (uint32_t i = 0; i < sets[k].n; i++) {
			uint32_t len4 = sets[k].shape == 1 ? 32 : i % 5 < 2 ? 32 : i % 5 == 2 ? 28 : 24;
			uint32_t a = mix32(i) & ~0u << (32 - len4);

			fprintf(f, "%u.%u.%u.%u/%u\n", a >> 24, (a >> 16) & 255, (a >> 8) & 255,
				a & 255, len4);
		}
		fclose(f);
		fprintf(y, "sets:\n  big:\n    file: big.txt\n");
		if (sets[k].n == 1000) {
			fprintf(y, "  v6:\n    prefixes: [");
			for (uint32_t i = 0; i < 1000; i++)
				fprintf(y, "%s\"2001:db8:%x:%x::/64\"", i ? ", " : "",
					mix32(i) >> 16, mix32(i) & 0xffff);
			fprintf(y, "]\n");
		}
		fprintf(y, "firewall:\n  interfaces: [slb0]\n  default: deny\n  stateful: false\n"
			"  rules:\n");
		for (int r = 0; r < (sets[k].n == 1000 ? 100 : 1); r++) {
			if (r % 10 == 0)
				fprintf(y, "    - { name: r%d, action: deny, %s: [\"@big\"%s] }\n", r,
					r % 20 ? "dst" : "src", sets[k].n == 1000 ? ", \"@v6\"" : "");
			else
				fprintf(y, "    - { name: r%d, action: allow, %s: [198.51.%d.0/24], "
					"proto: tcp, dport: [%d] }\n", r, r % 2 ? "dst" : "src", r,
					1000 + r);
		}
		fclose(y);
		if (ASSERT_OK(compile_yaml(&env, yaml, k + 2, &t), "compile") &&
		    ASSERT_OK(fw_maps_write(&env.fds, &t, &diags), "write")) {
			n = slot_bytes(&env.fds);
			printf("# %s: %.2f MiB of maps\n", sets[k].what, n / 1048576.0);
			if (!tl_check(n <= sets[k].max, __FILE__, __LINE__, "%s: %.2f MiB > %.0f MiB",
				      sets[k].what, n / 1048576.0, sets[k].max / 1048576.0))
				sl_diags_print(stdout, &diags);
		}
		fw_tables_free(&t);
		free(yaml);
		unlink(path);
	}
	sl_diags_free(&diags);
	xdp_env_close(&env);
}
