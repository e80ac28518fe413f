// SPDX-License-Identifier: GPL-2.0-only
/*
 * Per-packet cost of the XDP firewall with BPF_PROG_TEST_RUN, beside
 * baselines measured in the same run: a trivial XDP_DROP program (the
 * floor) and the kernel LPM trie alone on the same prefixes.
 *
 * Every case is interleaved with its floor (same or random-source variant)
 * several times; the median of each is printed. The kernel reports the mean
 * time per repetition (the ~300 us per-call overhead is outside its timer),
 * and repeat is large enough (>= 100000) to amortise what is left.
 *
 * Policies go the real way: YAML files (the 1M-prefix set as a set file) ->
 * policy_load_dir -> fw_compile -> fw_maps_write.
 *
 * SLB_CT_ONLY=1 stops after the conntrack rows (hit and miss), for work on
 * conntrack without the minute the big sets take.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "bench_util.h"
#include "ct.h"
#include "fw_maps.h"
#include "fw_tables.h"
#include "policy.h"
#include "bench_floor.skel.h"
#include "bench_fw.skel.h"
#include "bench_lpm.skel.h"
#include "sluice_xdp.skel.h"

#define ROUNDS		7
#define FRAME_LEN	96
#define MIN_REPEAT	100000u
#define TARGET_NS	80000000ull	/* aim for ~80 ms per measurement */

struct bench {
	struct sluice_xdp *fw;
	struct bench_fw *fwr;
	struct bench_floor *floor;
	struct bench_lpm *lpm;
	struct fw_map_fds fds;
	char dir[64];
	double floor_same_ns, floor_rand_ns;
};

/*
 * Untagged Ethernet + IPv4 + TCP from SRC (host order) to 198.51.100.1:80;
 * the random-source programs draw from the set of N prefixes of SHAPE
 * (bench/bpf/bench.h).
 */
static void make_frame(uint8_t *f, uint32_t src, uint32_t n, enum sl_bench_shape shape)
{
	uint32_t v;

	memset(f, 0, FRAME_LEN);
	v = htonl(0x2545f491);		/* PRNG seed, never 0 */
	memcpy(f, &v, 4);
	v = htonl(n);
	memcpy(f + 6, &v, 4);
	f[10] = (uint8_t)shape;
	f[12] = 0x08;
	f[14] = 0x45;
	f[16] = 0;
	f[17] = FRAME_LEN - 14;		/* total length */
	f[22] = 64;
	f[23] = 6;
	v = htonl(src);
	memcpy(f + 26, &v, 4);
	v = htonl(0xc6336401);		/* 198.51.100.1 */
	memcpy(f + 30, &v, 4);
	f[34] = 40000 >> 8;
	f[35] = 40000 & 0xff;
	f[37] = 80;
	f[46] = 0x50;
	f[47] = 0x02;
}

/* Untagged Ethernet + IPv6 + TCP, 2001:db8:bad::1 -> 2001:db8::1 port 80. */
static void make_frame6(uint8_t *f)
{
	static const uint8_t src[16] = { 0x20, 0x01, 0x0d, 0xb8, 0x0b, 0xad, [15] = 1 };
	static const uint8_t dst[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };

	memset(f, 0, FRAME_LEN);
	f[12] = 0x86;
	f[13] = 0xdd;
	f[14] = 0x60;
	f[19] = FRAME_LEN - 54;		/* payload length */
	f[20] = 6;
	f[21] = 64;
	memcpy(f + 22, src, 16);
	memcpy(f + 38, dst, 16);
	f[54] = 40000 >> 8;
	f[55] = 40000 & 0xff;
	f[57] = 80;
	f[66] = 0x50;
	f[67] = 0x02;
}

/* One run of PROG over FRAME, REPEAT times; mean ns per run, or < 0. */
static double run_once(int prog, const uint8_t *frame, uint32_t repeat, uint32_t *retval)
{
	uint8_t buf[FRAME_LEN];
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = buf,
		.data_size_in = FRAME_LEN,
		.repeat = repeat,
	);

	memcpy(buf, frame, FRAME_LEN);
	if (bpf_prog_test_run_opts(prog, &opts)) {
		fprintf(stderr, "bench: BPF_PROG_TEST_RUN failed: %s\n", strerror(errno));
		return -1;
	}
	if (retval)
		*retval = opts.retval;
	return opts.duration;
}

static uint32_t pick_repeat(int prog, const uint8_t *frame)
{
	double ns = run_once(prog, frame, 10000, NULL);
	uint64_t r;

	if (ns <= 0)
		ns = 1;
	r = (uint64_t)(TARGET_NS / ns);
	if (r < MIN_REPEAT)
		r = MIN_REPEAT;
	if (r > 20000000)
		r = 20000000;
	return (uint32_t)r;
}

#define SL_ANY_VERDICT	(~0u)	/* sources that hit and miss: the verdict varies */

/* Of every 256 random sources, this many uniform over the address space (bench/bpf/bench.h). */
#define MISS_SHARE	230

/*
 * Median ns/packet of PROG and of FLOOR over ROUNDS interleaved runs.
 * Checks the verdict against WANT (XDP_PASS/XDP_DROP, or SL_ANY_VERDICT).
 * Returns 0 or -1.
 */
static int measure(int prog, int floor, const uint8_t *frame, uint32_t want, double *ns,
		   double *floor_ns, uint32_t *repeat_out)
{
	double a[ROUNDS], b[ROUNDS];
	uint32_t repeat = pick_repeat(prog, frame), rv = ~0u;

	for (int i = 0; i < ROUNDS; i++) {
		b[i] = run_once(floor, frame, repeat, NULL);
		a[i] = run_once(prog, frame, repeat, &rv);
		if (a[i] < 0 || b[i] < 0)
			return -1;
		if (want != SL_ANY_VERDICT && rv != want) {
			fprintf(stderr, "bench: verdict %u, expected %u: the case is not what it "
				"claims to measure\n", rv, want);
			return -1;
		}
	}
	qsort(a, ROUNDS, sizeof(double), cmp_double);
	qsort(b, ROUNDS, sizeof(double), cmp_double);
	*ns = a[ROUNDS / 2];
	*floor_ns = b[ROUNDS / 2];
	*repeat_out = repeat;
	return 0;
}

/*
 * The random-source cases claim every generated source is in the set: run
 * PROG REPEAT times and check that rule RULE counted every one of them.
 */
static int verify_rule_counts_all(struct bench *b, int prog, const uint8_t *frame,
				  uint32_t rule, uint32_t repeat)
{
	int fd = bpf_map__fd(b->fw->maps.fw_rule_cnt_v2);
	struct sl_counter c0, c1;

	if (sl_counter_read(fd, rule, &c0) || run_once(prog, frame, repeat, NULL) < 0 ||
	    sl_counter_read(fd, rule, &c1))
		return -1;
	if (c1.packets - c0.packets != repeat) {
		fprintf(stderr, "bench: rule %u matched %llu of %u random sources\n", rule,
			(unsigned long long)(c1.packets - c0.packets), repeat);
		return -1;
	}
	return 0;
}

/*
 * Rounds of pipe_vs_single: a multiple of 4, for its ABBA order. Its median
 * is the mean of the middle two.
 */
#define AB_ROUNDS	8

/*
 * The pipeline (sluice_xdp: the firewall in the entry program, the load
 * balancer tail-called through sl_tails, state in sl_scratch) against the
 * same stages in one program (fw_single), each round after the floor:
 * medians. Which of the two runs first alternates round by round (ABBA:
 * pipe first in rounds 0 and 3 of every 4): run always in the same order
 * (floor, single, pipe), the pipeline measured ~2-3 ns dearer against one
 * program than alternated (docs/datapath.md, "What the pipeline costs");
 * aa_rows measures two identical programs this way. SLB_FIXED_ORDER=1
 * keeps the old order, to see that bias again.
 */
static int pipe_vs_single(int pipe, int single, int floor, const uint8_t *frame,
			  uint32_t want, double *pipe_ns, double *single_ns, double *floor_ns,
			  uint32_t *repeat_out)
{
	double a[AB_ROUNDS], s[AB_ROUNDS], f[AB_ROUNDS];
	uint32_t repeat = pick_repeat(pipe, frame), rv1 = ~0u, rv2 = ~0u;
	bool fixed = getenv("SLB_FIXED_ORDER");

	for (int i = 0; i < AB_ROUNDS; i++) {
		bool pipe_first = !fixed && (i % 4 == 0 || i % 4 == 3);

		f[i] = run_once(floor, frame, repeat, NULL);
		if (pipe_first)
			a[i] = run_once(pipe, frame, repeat, &rv2);
		s[i] = run_once(single, frame, repeat, &rv1);
		if (!pipe_first)
			a[i] = run_once(pipe, frame, repeat, &rv2);
		if (a[i] < 0 || s[i] < 0 || f[i] < 0)
			return -1;
		if (rv1 != want || rv2 != want) {
			fprintf(stderr, "bench: verdicts %u/%u, expected %u\n", rv1, rv2, want);
			return -1;
		}
	}
	*pipe_ns = median(a, AB_ROUNDS);
	*single_ns = median(s, AB_ROUNDS);
	*floor_ns = median(f, AB_ROUNDS);
	*repeat_out = repeat;
	return 0;
}

/*
 * BPF_PROG_TEST_RUN runs on loopback's ifindex; the agent gives every
 * attached interface its own sl_ifslot entry, so do the same here (one
 * lookup, not a miss and then the default).
 */
static int ifslot_for_lo(struct bench *b, bool set)
{
	uint32_t slot;

	if (!set)
		return fw_ifslot_del(&b->fds, 1);
	return fw_ifslot_get(&b->fds, SLUICE_IFSLOT_DEFAULT, &slot) ?:
	       fw_ifslot_set(&b->fds, 1, slot);
}

static void row(const char *name, double ns, double floor_ns, uint32_t repeat)
{
	printf("  %-46s %9.1f %9.1f %8.2fx %10u\n", name, ns, floor_ns, ns / floor_ns, repeat);
}

/*
 * The rows of pipe_vs_single for FRAME, with loopback given its own
 * sl_ifslot entry while they are measured.
 */
static int pipe_rows(struct bench *b, int pipe, int single, int floor, const uint8_t *frame,
		     uint32_t want)
{
	double ns, ns1, fl;
	uint32_t rep;

	if (ifslot_for_lo(b, true) ||
	    pipe_vs_single(pipe, single, floor, frame, want, &ns, &ns1, &fl, &rep))
		return -1;
	ifslot_for_lo(b, false);
	row("  one program (fw_single), own ifslot entry", ns1, fl, rep);
	row("  tail-call pipeline (sluice_xdp), own entry", ns, fl, rep);
	printf("  %-46s %+9.1f ns, %.2fx one program (%.2fx above the floor)\n",
	       "  pipeline vs one program:", ns - ns1, ns / ns1, (ns - fl) / (ns1 - fl));
	return 0;
}

/*
 * The A/A check of pipe_vs_single: fw_single against its copy fw_single_b
 * (the same instructions, another JIT image) and against itself, measured
 * as the pipeline is. Both differences should be ~0: what they show is the
 * instrument's, not a program's.
 */
static int aa_rows(struct bench *b, int single, int floor, const uint8_t *frame, uint32_t want)
{
	int copy = bpf_program__fd(b->fwr->progs.fw_single_b);
	double x, y, fl;
	uint32_t rep;

	if (ifslot_for_lo(b, true) ||
	    pipe_vs_single(copy, single, floor, frame, want, &x, &y, &fl, &rep))
		return -1;
	printf("  %-46s %+9.1f ns (%.1f / %.1f, floor %.1f)\n", "  A/A: copy vs fw_single", x - y,
	       x, y, fl);
	if (pipe_vs_single(single, single, floor, frame, want, &x, &y, &fl, &rep))
		return -1;
	ifslot_for_lo(b, false);
	printf("  %-46s %+9.1f ns (%.1f / %.1f, floor %.1f)\n", "  A/A: fw_single vs itself", x - y,
	       x, y, fl);
	return 0;
}

/*
 * Conntrack on (ct_cfg, the shards as the agent creates them) or off again.
 * The flows stay in the shards until the object is destroyed.
 */
static int ct_set(struct bench *b, bool on)
{
	/* the lookup filter on, as the agent turns it on (the table is empty) */
	struct sl_ct_config c = { .stateful = on, .gen = on ? 1 : 2, .filter = on };
	uint32_t k = 0;

	struct ct_tables t = { bpf_map__fd(b->fw->maps.ct4_shards),
			       bpf_map__fd(b->fw->maps.ct_shards) };

	if (on && ct_shards_create(&t, SLUICE_CT_DEFAULT_MAX, &c.shards)) {
		fprintf(stderr, "bench: creating the conntrack shards failed\n");
		return -1;
	}
	if (bpf_map_update_elem(bpf_map__fd(b->fw->maps.ct_cfg), &k, &c, BPF_ANY)) {
		fprintf(stderr, "bench: ct_cfg: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * FRAME (a SYN the policy allows, 192.0.2.10:40000 -> 198.51.100.1:80)
 * made an established connection through PROG: the SYN, the server's
 * SYN-ACK, then FRAME becomes the client's ACK, the packet measured.
 */
static int ct_establish(int prog, uint8_t *frame)
{
	uint8_t r[FRAME_LEN];
	uint32_t rv1 = ~0u, rv2 = ~0u, rv3 = ~0u;

	memcpy(r, frame, FRAME_LEN);
	memcpy(r + 26, frame + 30, 4);
	memcpy(r + 30, frame + 26, 4);
	memcpy(r + 34, frame + 36, 2);
	memcpy(r + 36, frame + 34, 2);
	r[47] = 0x12;				/* SYN-ACK, acknowledging 1 */
	r[45] = 1;
	if (run_once(prog, frame, 1, &rv1) < 0 || run_once(prog, r, 1, &rv2) < 0)
		return -1;
	frame[47] = 0x10;			/* ACK */
	frame[45] = 1;
	if (run_once(prog, frame, 1, &rv3) < 0)
		return -1;
	if (rv1 != XDP_PASS || rv2 != XDP_PASS || rv3 != XDP_PASS) {
		fprintf(stderr, "bench: handshake verdicts %u %u %u\n", rv1, rv2, rv3);
		return -1;
	}
	return 0;
}

static int ct_sum_packets(void *ctx, const struct sl_ct_key *k, const struct sl_ct_entry *e,
			  bool unassured)
{
	(void)k;
	(void)unassured;
	*(uint64_t *)ctx += e->packets[0] + e->packets[1];
	return 0;
}

/*
 * The case claims conntrack allows FRAME: run PROG REPEAT times and check
 * that the connection's entry counted every one of them.
 */
static int verify_ct_hits(struct bench *b, int prog, const uint8_t *frame)
{
	struct ct_tables fd[1] = { { bpf_map__fd(b->fw->maps.ct4_shards),
				     bpf_map__fd(b->fw->maps.ct_shards) } };
	uint64_t n0 = 0, n1 = 0;
	const uint32_t repeat = 100000;

	if (ct_shards_walk(fd, ct_sum_packets, &n0) || run_once(prog, frame, repeat, NULL) < 0 ||
	    ct_shards_walk(fd, ct_sum_packets, &n1))
		return -1;
	if (n1 - n0 != repeat) {
		fprintf(stderr, "bench: conntrack counted %llu of %u packets\n",
			(unsigned long long)(n1 - n0), repeat);
		return -1;
	}
	return 0;
}

/* The case claims FRAME misses conntrack and opens nothing: no entry counts it or appears. */
static int verify_ct_miss(struct bench *b, int prog, const uint8_t *frame)
{
	struct ct_tables fd[1] = { { bpf_map__fd(b->fw->maps.ct4_shards),
				     bpf_map__fd(b->fw->maps.ct_shards) } };
	uint64_t p0 = 0, p1 = 0, a0, a1, u0, u1;

	if (ct_shards_walk(fd, ct_sum_packets, &p0) || ct_shards_count(fd, &a0, &u0) ||
	    run_once(prog, frame, 1000, NULL) < 0 ||
	    ct_shards_walk(fd, ct_sum_packets, &p1) || ct_shards_count(fd, &a1, &u1))
		return -1;
	if (p1 != p0 || a1 != a0 || u1 != u0) {
		fprintf(stderr, "bench: the conntrack miss case hit or opened a connection\n");
		return -1;
	}
	return 0;
}

/*
 * What one tail call costs, against the floor in the same rounds: a chain of
 * four, constant keys (direct jumps) and keys the verifier cannot know
 * (indirect: a retpoline where that mitigation is on).
 */
static int tail_rows(struct bench *b, int floor, const uint8_t *frame)
{
	struct bench_floor *f = b->floor;
	int fd = bpf_map__fd(f->maps.floor_tails);
	int progs[8] = {
		bpf_program__fd(f->progs.floor_tdir1), bpf_program__fd(f->progs.floor_tdir2),
		bpf_program__fd(f->progs.floor_tdir3), bpf_program__fd(f->progs.floor_same),
		bpf_program__fd(f->progs.floor_tind1), bpf_program__fd(f->progs.floor_tind2),
		bpf_program__fd(f->progs.floor_tind3), bpf_program__fd(f->progs.floor_same),
	};
	double dir, ind, fl;
	uint32_t rep;

	for (uint32_t i = 0; i < 8; i++)
		if (bpf_map_update_elem(fd, &i, &progs[i], BPF_ANY)) {
			fprintf(stderr, "bench: floor_tails: %s\n", strerror(errno));
			return -1;
		}
	if (pipe_vs_single(bpf_program__fd(f->progs.floor_tind0),
			   bpf_program__fd(f->progs.floor_tdir0), floor, frame, XDP_DROP, &ind,
			   &dir, &fl, &rep))
		return -1;
	row("floor + 4 tail calls, constant keys (direct)", dir, fl, rep);
	row("floor + 4 tail calls, keys in a register", ind, fl, rep);
	printf("  %-46s %9.1f ns direct, %.1f ns indirect\n", "  one tail call:", (dir - fl) / 4,
	       (ind - fl) / 4);
	return 0;
}

/* Fill the (empty) LPM baseline map with prefixes [0, N) of SHAPE. */
static int lpm_fill(struct bench *b, enum sl_bench_shape shape, uint32_t n)
{
	int fd = bpf_map__fd(b->lpm->maps.bench_lpm4);
	struct { uint32_t len, addr; } *keys;
	uint32_t *vals, cnt;
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	int err = 0;

	keys = calloc(n, sizeof(*keys));
	vals = calloc(n, sizeof(*vals));
	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		keys[i].len = sl_bench_len(i, shape);
		keys[i].addr = htonl(sl_bench_base(i, shape));
	}
	for (uint32_t done = 0; done < n; done += cnt) {
		cnt = n - done < 65536 ? n - done : 65536;
		if (bpf_map_update_batch(fd, keys + done, vals + done, &cnt, &opts)) {
			err = -errno;
			fprintf(stderr, "bench: LPM batch update: %s\n", strerror(errno));
			break;
		}
	}
out:
	free(keys);
	free(vals);
	return err;
}

/* A fresh, empty kernel LPM trie for the baseline (freeing 1M entries one by one is slow). */
static int lpm_reset(struct bench *b)
{
	bench_lpm__destroy(b->lpm);
	b->lpm = bench_lpm__open_and_load();
	if (!b->lpm) {
		fprintf(stderr, "bench: loading bench_lpm failed\n");
		return -1;
	}
	return 0;
}

/* The 10 prefixes of the small set (they cover 0.0.0.0/0). */
static const struct { uint32_t addr; uint32_t len; } small_set[10] = {
	{ 0x80000000, 1 }, { 0x40000000, 2 }, { 0x20000000, 3 }, { 0x10000000, 4 },
	{ 0x08000000, 5 }, { 0x04000000, 6 }, { 0x02000000, 7 }, { 0x01000000, 8 },
	{ 0x00000000, 9 }, { 0x00800000, 9 },
};

static int lpm_fill_small(struct bench *b)
{
	int fd = bpf_map__fd(b->lpm->maps.bench_lpm4);
	uint32_t val = 0;

	for (int i = 0; i < 10; i++) {
		struct { uint32_t len, addr; } key = { small_set[i].len, htonl(small_set[i].addr) };

		if (bpf_map_update_elem(fd, &key, &val, BPF_ANY)) {
			fprintf(stderr, "bench: LPM update: %s\n", strerror(errno));
			return -errno;
		}
	}
	return 0;
}

/* One line of the memory table, kept to print them together. */
struct mem_line {
	char name[64];
	long long kmem;		/* kernel memory charged while the slot was built; -1: n/a */
	uint64_t tbytes;	/* the tables' own size (fw_tables_bytes) */
	double write_s;
};

static struct mem_line mem_lines[16];
static int nmem;
static const char *mem_src = "memory cgroup";

/*
 * Make the policy in DIR the one in force, alone: every slot cleared first,
 * so that the kernel memory charged while its slot is built is all of it
 * (nothing shared with another slot). Recorded under NAME for the memory
 * table.
 */
static int apply_measured(struct bench *b, uint64_t gen, const char *name)
{
	struct mem_line *ml = &mem_lines[nmem < 16 ? nmem : 15];
	struct sl_diags diags = { 0 };
	struct fw_tables t = { 0 };
	struct sl_policy pol;
	long long m0, m1;
	double t0;
	int err;

	fw_ifslot_del(&b->fds, SLUICE_IFSLOT_DEFAULT);
	for (uint32_t s = 0; s < SLUICE_POL_SLOTS; s++)
		fw_slot_clear(&b->fds, s);
	err = policy_load_dir(b->dir, &pol, &diags);
	if (!err) {
		err = fw_compile(&pol, policy_fw(&pol, 0), gen, &t, &diags);
		policy_free(&pol);
	}
	if (!err) {
		m0 = kernel_mem_settled(&mem_src);
		t0 = now_s();
		err = fw_slot_write(&b->fds, 0, &t, NULL, &diags);
		ml->write_s = now_s() - t0;
		m1 = kernel_mem(&mem_src);
		ml->kmem = m0 < 0 || m1 < 0 ? -1 : m1 - m0;
		ml->tbytes = fw_tables_bytes(&t);
		snprintf(ml->name, sizeof(ml->name), "%s", name);
		fw_tables_free(&t);
	}
	if (!err)
		err = fw_ifslot_set(&b->fds, SLUICE_IFSLOT_DEFAULT, 0);
	if (err) {
		fprintf(stderr, "bench: applying the policy failed:\n");
		sl_diags_print(stderr, &diags);
	} else if (nmem < 16) {
		nmem++;
	}
	sl_diags_free(&diags);
	return err;
}

/* YAML for a policy of one deny rule on the set file big.txt. */
static int write_set_policy(struct bench *b)
{
	return write_file(b->dir, "policy.yaml",
			  "sets:\n  big:\n    file: big.txt\n"
			  "firewall:\n  interfaces: [slb0]\n  default: allow\n  stateful: false\n"
			  "  rules:\n    - { name: big, action: deny, src: [\"@big\"] }\n");
}

/*
 * NRULES rules, the packet of make_frame (192.0.2.10 -> 198.51.100.1, TCP
 * port 80) allowed by rule MATCH, none before it (rules_texts). With HARD,
 * rules before MATCH alternate between naming the packet's source and its
 * port, so that every word of every field has a rule and only the AND of
 * the words rules them out (the summaries' worst case).
 */
static int write_rules_policy(struct bench *b, int nrules, int match, bool hard)
{
	char *yaml = NULL, *nft = NULL;
	size_t len = 0;
	FILE *y;
	int err;

	if (!hard) {
		err = rules_texts(nrules, match, "tcp", 80, "none", &yaml, &nft);
		if (!err)
			err = write_file(b->dir, "policy.yaml", yaml);
		free(yaml);
		free(nft);
		return err;
	}
	y = open_memstream(&yaml, &len);
	if (!y)
		return -ENOMEM;
	fputs("firewall:\n  interfaces: [slb0]\n  default: deny\n  stateful: false\n  rules:\n", y);
	for (int i = 0; i < match; i++) {
		if (i % 2)
			fprintf(y, "    - { name: r%d, action: deny, proto: tcp, dport: [80],"
				" src: [203.0.113.%d] }\n", i, i % 256);
		else
			fprintf(y, "    - { name: r%d, action: deny, src: [192.0.2.0/24], proto: tcp,"
				" dport: [%d] }\n", i, 1000 + i % 1000);
	}
	fprintf(y, "    - { name: web, action: allow, dst: [198.51.100.1], proto: tcp, "
		"dport: [80] }\n");
	for (int i = match + 1; i < nrules; i++)
		fprintf(y, "    - { name: u%d, action: deny, proto: udp, dport: [%d] }\n", i,
			2000 + i % 1000);
	fclose(y);
	err = write_file(b->dir, "policy.yaml", yaml);
	free(yaml);
	return err;
}

/* The policy of the ~4 MiB target: 100 rules, 1,000 IPv4 and 1,000 IPv6 prefixes. */
static int write_mid_policy(struct bench *b)
{
	char *yaml = NULL;
	size_t len = 0;
	FILE *y = open_memstream(&yaml, &len);
	int err;

	if (!y)
		return -ENOMEM;
	fputs("sets:\n  v4:\n    prefixes: [", y);
	for (uint32_t i = 0; i < 1000; i++) {
		uint32_t a = sl_bench_base(i, SL_BENCH_MIX);

		fprintf(y, "%s%u.%u.%u.%u/%u", i ? ", " : "", a >> 24, (a >> 16) & 0xff,
			(a >> 8) & 0xff, a & 0xff, sl_bench_len(i, SL_BENCH_MIX));
	}
	fputs("]\n  v6:\n    prefixes: [", y);
	for (uint32_t i = 0; i < 1000; i++)
		fprintf(y, "%s\"2001:db8:%x:%x::/64\"", i ? ", " : "", sl_bench_mix32(i) >> 16,
			sl_bench_mix32(i) & 0xffff);
	fputs("]\nfirewall:\n  interfaces: [slb0]\n  default: deny\n  stateful: false\n"
	      "  rules:\n", y);
	for (int i = 0; i < 100; i++) {
		const char *field = i % 3 == 0 ? "src" : i % 3 == 1 ? "dst" : "src";

		if (i % 10 == 0)
			fprintf(y, "    - { name: r%d, action: deny, %s: [\"@v4\", \"@v6\"] }\n", i,
				field);
		else
			fprintf(y, "    - { name: r%d, action: allow, %s: [198.51.%d.0/24], "
				"proto: tcp, dport: [%d] }\n", i, field, i, 1000 + i);
	}
	fclose(y);
	err = write_file(b->dir, "policy.yaml", yaml);
	free(yaml);
	return err;
}

/* The share of FRAME's random sources that PROG denies by rule 0 (the set). */
static int hit_share(struct bench *b, int prog, const uint8_t *frame, double *share)
{
	int fd = bpf_map__fd(b->fw->maps.fw_rule_cnt_v2);
	struct sl_counter c0, c1;
	const uint32_t runs = 1000000;

	if (sl_counter_read(fd, 0, &c0) || run_once(prog, frame, runs, NULL) < 0 ||
	    sl_counter_read(fd, 0, &c1))
		return -1;
	*share = (double)(c1.packets - c0.packets) / runs;
	return 0;
}

/*
 * One generated set: its memory, then deny by it with random sources from
 * it, beside the kernel LPM trie alone with the same prefixes; then traffic
 * that mostly misses it (MISS_SHARE of 256 sources from anywhere). The 1M cases
 * must be at least 8x cheaper than the trie (issue 9).
 */
static int set_rows(struct bench *b, int fwr, int flr, const char *name,
		    enum sl_bench_shape shape, uint32_t n, uint64_t gen)
{
	uint8_t frame[FRAME_LEN], mframe[FRAME_LEN];
	double ns, fl, ns2, fl2, t0, mns, mfl, hits;
	uint32_t rep, mrep;
	char buf[96];

	if (write_set(b->dir, shape, n) || write_set_policy(b) ||
	    apply_measured(b, gen, name))
		return -1;
	make_frame(frame, sl_bench_addr(7, shape, 77), n, shape);
	if (verify_rule_counts_all(b, fwr, frame, 0, 100000) ||
	    measure(fwr, flr, frame, XDP_DROP, &ns, &fl, &rep))
		return -1;
	snprintf(buf, sizeof(buf), "deny by %s (random sources)", name);
	row(buf, ns, fl, rep);
	/* traffic the set mostly misses: the same sources, most drawn from everywhere */
	memcpy(mframe, frame, sizeof(mframe));
	mframe[11] = MISS_SHARE;
	if (hit_share(b, fwr, mframe, &hits) ||
	    measure(fwr, flr, mframe, SL_ANY_VERDICT, &mns, &mfl, &mrep))
		return -1;
	if (lpm_reset(b))
		return -1;
	t0 = now_s();
	if (lpm_fill(b, shape, n))
		return -1;
	if (measure(bpf_program__fd(b->lpm->progs.lpm_rand), flr, frame, XDP_DROP, &ns2, &fl2,
		    &rep))
		return -1;
	snprintf(buf, sizeof(buf), "  kernel LPM trie alone, same prefixes (%.1f s to fill)",
		 now_s() - t0);
	row(buf, ns2, fl2, rep);
	printf("  %-46s %9.2fx cheaper than the trie (%.2fx net of the floor)\n", "", ns2 / ns,
	       (ns2 - fl2) / (ns - fl));
	snprintf(buf, sizeof(buf), "  mostly misses (%.1f%% of sources in the set)", hits * 100);
	row(buf, mns, mfl, mrep);
	if (measure(bpf_program__fd(b->lpm->progs.lpm_rand), flr, mframe, SL_ANY_VERDICT, &ns2,
		    &fl2, &rep))
		return -1;
	row("    kernel LPM trie alone, same sources", ns2, fl2, rep);
	printf("  %-46s %9.2fx cheaper than the trie\n", "", ns2 / mns);
	return lpm_reset(b);
}

static int load(struct bench *b)
{
	struct bpf_map *m;
	int err;

	b->fw = sluice_xdp__open_and_load();
	b->floor = bench_floor__open_and_load();
	b->lpm = bench_lpm__open_and_load();
	b->fwr = bench_fw__open();
	if (!b->fw || !b->floor || !b->lpm || !b->fwr) {
		fprintf(stderr, "bench: loading the BPF objects failed\n");
		return -1;
	}
	/* fw_rand runs on sluice_xdp's maps: one policy, two entry programs. */
	bpf_object__for_each_map(m, b->fwr->obj) {
		struct bpf_map *src = bpf_object__find_map_by_name(b->fw->obj, bpf_map__name(m));

		if (!src || strchr(bpf_map__name(m), '.'))
			continue;
		err = bpf_map__reuse_fd(m, bpf_map__fd(src));
		if (err) {
			fprintf(stderr, "bench: reuse map %s: %s\n", bpf_map__name(m),
				strerror(-err));
			return -1;
		}
	}
	if (bench_fw__load(b->fwr)) {
		fprintf(stderr, "bench: loading bench_fw failed\n");
		return -1;
	}
	return fw_map_fds_from_obj(b->fw->obj, &b->fds);
}

int main(void)
{
	struct bench b = { 0 };
	uint8_t frame[FRAME_LEN];
	double ns, fl, t0, small_ns = 0, rule101_ns = 0, rule16k_ns = 0;
	uint32_t rep, fw, fwr, fws, fls, flr, lps, lpr;
	int rc = 1;

	libbpf_set_print(quiet);
	snprintf(b.dir, sizeof(b.dir), "/tmp/slb-bench-XXXXXX");
	if (!mkdtemp(b.dir)) {
		perror("bench: mkdtemp");
		return 1;
	}
	if (load(&b))
		goto out;
	fw = bpf_program__fd(b.fw->progs.sluice_xdp);
	fwr = bpf_program__fd(b.fwr->progs.fw_rand);
	fws = bpf_program__fd(b.fwr->progs.fw_single);
	fls = bpf_program__fd(b.floor->progs.floor_same);
	flr = bpf_program__fd(b.floor->progs.floor_rand);

	printf("sluice XDP firewall, BPF_PROG_TEST_RUN, ns per packet (median of %d runs, "
	       "each interleaved with its floor)\n", ROUNDS);
	printf("  %-46s %9s %9s %9s %10s\n", "case", "ns/pkt", "floor", "x floor", "repeat");

	/* floor */
	make_frame(frame, 0xc000020a, 1u << 24, SL_BENCH_24);
	if (measure(fls, fls, frame, XDP_DROP, &ns, &fl, &rep))
		goto out;
	row("floor: XDP_DROP", ns, fl, rep);
	if (measure(flr, fls, frame, XDP_DROP, &ns, &fl, &rep))
		goto out;
	row("floor + random-source step (vs plain floor)", ns, fl, rep);
	if (tail_rows(&b, fls, frame))
		goto out;
	t0 = now_s();
	for (int i = 0; i < 200; i++)
		if (run_once(fls, frame, 1, NULL) < 0)
			goto out;
	printf("  (one BPF_PROG_TEST_RUN call costs %.0f us outside the kernel's per-run timer)\n",
	       (now_s() - t0) / 200 * 1e6);

	/* 101 rules, the packet allowed by the last */
	if (write_rules_policy(&b, 101, 100, false) || apply(b.dir, &b.fds, 1, false))
		goto out;
	make_frame(frame, 0xc000020a, 0, SL_BENCH_24);	/* 192.0.2.10 */
	if (measure(fw, fls, frame, XDP_PASS, &ns, &fl, &rep))
		goto out;
	rule101_ns = ns;
	row("allow by rule 101 of 101 (same source)", ns, fl, rep);
	if (pipe_rows(&b, fw, fws, fls, frame, XDP_PASS))
		goto out;

	/*
	 * The same policy stateful, a packet of an established connection:
	 * conntrack allows it before the rules. Katran's established path (its
	 * flow found in its LRU) costs 66 ns above this floor.
	 */
	if (ct_set(&b, true) || ct_establish(fw, frame))
		goto out;
	if (verify_ct_hits(&b, fw, frame))
		goto out;
	printf("  established connection, conntrack hit (same flow)\n");
	if (pipe_rows(&b, fw, fws, fls, frame, XDP_PASS) ||
	    aa_rows(&b, fws, fls, frame, XDP_PASS))
		goto out;
	/*
	 * A conntrack miss: an ACK of no tracked connection (it opens none),
	 * allowed by rule 101 after both shards were looked up. Against the
	 * stateless row above, what a miss adds.
	 */
	frame[27] ^= 1;			/* 192.0.2.11: no entry */
	if (verify_ct_miss(&b, fw, frame))
		goto out;
	printf("  conntrack miss, allowed by rule 101 (ACK: no entry made)\n");
	if (pipe_rows(&b, fw, fws, fls, frame, XDP_PASS) || ct_set(&b, false))
		goto out;
	frame[27] ^= 1;
	if (getenv("SLB_CT_ONLY"))
		goto done;

	/*
	 * Deny by a 10-prefix set. The 10 prefixes together cover the whole
	 * IPv4 space, so that the uniformly random sources the PRNG makes with
	 * N = 2^24 /24s are all denied by it, and the kernel LPM trie alone
	 * gets the same 10 prefixes and the same sources.
	 */
	if (write_file(b.dir, "policy.yaml",
		       "sets:\n  small:\n    prefixes: [128.0.0.0/1, 64.0.0.0/2, 32.0.0.0/3, "
		       "16.0.0.0/4, 8.0.0.0/5, 4.0.0.0/6, 2.0.0.0/7, 1.0.0.0/8, 0.0.0.0/9, "
		       "0.128.0.0/9]\n"
		       "firewall:\n  interfaces: [slb0]\n  default: allow\n  stateful: false\n"
		       "  rules:\n    - { name: small, action: deny, src: [\"@small\"] }\n") ||
	    apply_measured(&b, 2, "10 prefixes (/1../9)"))
		goto out;
	make_frame(frame, net24(3) | 5, 1u << 24, SL_BENCH_24);
	if (measure(fw, fls, frame, XDP_DROP, &ns, &fl, &rep))
		goto out;
	row("deny by 10-prefix set (same source)", ns, fl, rep);
	if (pipe_rows(&b, fw, fws, fls, frame, XDP_DROP))
		goto out;
	if (verify_rule_counts_all(&b, fwr, frame, 0, 100000) ||
	    measure(fwr, flr, frame, XDP_DROP, &ns, &fl, &rep))
		goto out;
	small_ns = ns;
	row("deny by 10-prefix set (random sources)", ns, fl, rep);
	if (lpm_fill_small(&b))
		goto out;
	lps = bpf_program__fd(b.lpm->progs.lpm_same);
	lpr = bpf_program__fd(b.lpm->progs.lpm_rand);
	if (measure(lps, fls, frame, XDP_DROP, &ns, &fl, &rep))
		goto out;
	row("kernel LPM trie alone, 10 prefixes (same)", ns, fl, rep);
	if (measure(lpr, flr, frame, XDP_DROP, &ns, &fl, &rep))
		goto out;
	row("kernel LPM trie alone, 10 prefixes (random)", ns, fl, rep);
	printf("  %-46s %9.2fx the trie (target <= 1.5x)\n", "10-prefix deny, random sources:",
	       small_ns / ns);

	/* IPv6: the source through the fw_src6 trie */
	if (write_file(b.dir, "policy.yaml",
		       "sets:\n  v6:\n    prefixes: [2001:db8:bad::/48, 2001:db8:1::/64, "
		       "2001:db8:2::/64, 2001:db8:3::/64, 2001:db8:4::/64, 2001:db8:5::/64, "
		       "2001:db8:6::/64, 2001:db8:7::/64, 2001:db8:8::/64, 2001:db8:9::1]\n"
		       "firewall:\n  interfaces: [slb0]\n  default: allow\n  stateful: false\n"
		       "  rules:\n    - { name: v6, action: deny, src: [\"@v6\"] }\n") ||
	    apply(b.dir, &b.fds, 3, false))
		goto out;
	make_frame6(frame);
	if (measure(fw, fls, frame, XDP_DROP, &ns, &fl, &rep))
		goto out;
	row("IPv6: deny by 10-prefix set (same source)", ns, fl, rep);

	/* rules: the first match deep in a large policy, beside rule 101 of 101 above */
	printf("\n  rules (a class per field and rule word; past 512 rules the words set in all\n"
	       "  five summaries only):\n");
	if (write_rules_policy(&b, SLUICE_MAX_RULES, 16000, false) ||
	    apply_measured(&b, 4, "16,384 rules"))
		goto out;
	make_frame(frame, 0xc000020a, 0, SL_BENCH_24);
	if (measure(fw, fls, frame, XDP_PASS, &ns, &fl, &rep))
		goto out;
	rule16k_ns = ns;
	row("allow by rule 16,001 of 16,384 (same source)", ns, fl, rep);
	printf("  %-46s %9.2fx rule 101 of 101 (target <= 3x)\n", "", rule16k_ns / rule101_ns);
	if (write_rules_policy(&b, SLUICE_MAX_RULES, 16000, true) ||
	    apply(b.dir, &b.fds, 5, false))
		goto out;
	if (measure(fw, fls, frame, XDP_PASS, &ns, &fl, &rep))
		goto out;
	row("  same, every word a candidate (worst case)", ns, fl, rep);

	/* generated sets: memory and random sources beside the trie */
	printf("\n  generated sets (random sources from the set; then %d of 256 from anywhere):\n",
	       MISS_SHARE);
	if (write_mid_policy(&b) || apply_measured(&b, 6, "100 rules, 1,000 IPv4 + 1,000 IPv6"))
		goto out;
	if (set_rows(&b, fwr, flr, "10k prefixes mixed", SL_BENCH_MIX, 10000, 7) ||
	    set_rows(&b, fwr, flr, "100k prefixes mixed", SL_BENCH_MIX, 100000, 8) ||
	    set_rows(&b, fwr, flr, "1M /24s", SL_BENCH_24, 1000000, 9) ||
	    set_rows(&b, fwr, flr, "1M /32s", SL_BENCH_32, 1000000, 10) ||
	    set_rows(&b, fwr, flr, "1M prefixes mixed", SL_BENCH_MIX, 1000000, 11))
		goto out;
	make_frame(frame, 0xc000020a, 0, SL_BENCH_24);
	if (measure(fw, fls, frame, XDP_PASS, &ns, &fl, &rep))
		goto out;
	row("pass, unmatched (1M mixed policy, same source)", ns, fl, rep);

	printf("\nKernel memory of a policy slot: %s charged while it is built, and the\n"
	       "tables' own size (mixed: 40%% /32, 20%% /28, 40%% /24)\n", mem_src);
	printf("  %-52s %13s %13s %10s\n", "policy", "kernel", "tables", "map write");
	for (int i = 0; i < nmem; i++)
		printf("  %-52s %9.2f MiB %9.2f MiB %8.3f s\n", mem_lines[i].name,
		       mem_lines[i].kmem >= 0 ? mem_lines[i].kmem / 1048576.0 : -1.0,
		       mem_lines[i].tbytes / 1048576.0, mem_lines[i].write_s);
	printf("  (targets: <= 4 MiB for 100 rules + 1,000 + 1,000 prefixes, <= 70 MiB for "
	       "1M IPv4 prefixes)\n");
done:
	rc = 0;
out:
	remove_dir(b.dir);
	bench_fw__destroy(b.fwr);
	bench_lpm__destroy(b.lpm);
	bench_floor__destroy(b.floor);
	sluice_xdp__destroy(b.fw);
	return rc;
}
