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

/* Untagged Ethernet + IPv4 + TCP from SRC (host order), PRNG mask MASK. */
static void make_frame(uint8_t *f, uint32_t src, uint32_t mask)
{
	uint32_t v;

	memset(f, 0, FRAME_LEN);
	v = htonl(0x2545f491);		/* PRNG seed, never 0 */
	memcpy(f, &v, 4);
	v = htonl(mask);
	memcpy(f + 6, &v, 4);
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

/*
 * Median ns/packet of PROG and of FLOOR over ROUNDS interleaved runs.
 * Checks the verdict against WANT (XDP_PASS/XDP_DROP). Returns 0 or -1.
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
		if (rv != want) {
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
 * The tail-call pipeline (sluice_xdp: entry -> sl_stage_fw through sl_tails,
 * state in sl_scratch) against the same stages in one program (fw_single),
 * interleaved with the floor in the same rounds: medians and their ratio.
 */
static int pipe_vs_single(int pipe, int single, int floor, const uint8_t *frame,
			  uint32_t want, double *pipe_ns, double *single_ns, double *floor_ns,
			  uint32_t *repeat_out)
{
	double a[ROUNDS], s[ROUNDS], f[ROUNDS];
	uint32_t repeat = pick_repeat(pipe, frame), rv1 = ~0u, rv2 = ~0u;

	for (int i = 0; i < ROUNDS; i++) {
		f[i] = run_once(floor, frame, repeat, NULL);
		s[i] = run_once(single, frame, repeat, &rv1);
		a[i] = run_once(pipe, frame, repeat, &rv2);
		if (a[i] < 0 || s[i] < 0 || f[i] < 0)
			return -1;
		if (rv1 != want || rv2 != want) {
			fprintf(stderr, "bench: verdicts %u/%u, expected %u\n", rv1, rv2, want);
			return -1;
		}
	}
	qsort(a, ROUNDS, sizeof(double), cmp_double);
	qsort(s, ROUNDS, sizeof(double), cmp_double);
	qsort(f, ROUNDS, sizeof(double), cmp_double);
	*pipe_ns = a[ROUNDS / 2];
	*single_ns = s[ROUNDS / 2];
	*floor_ns = f[ROUNDS / 2];
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

/* Fill the LPM baseline map with the /24s [FROM, TO) and, if WITH32, the /32s. */
static int lpm_fill(struct bench *b, uint32_t from, uint32_t to, bool with32)
{
	int fd = bpf_map__fd(b->lpm->maps.bench_lpm4);
	struct { uint32_t len, addr; } *keys;
	uint32_t *vals, n = 0, cnt;
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	int err = 0;

	keys = calloc(to - from + BIG_N32, sizeof(*keys));
	vals = calloc(to - from + BIG_N32, sizeof(*vals));
	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	for (uint32_t i = from; i < to; i++) {
		keys[n].len = 24;
		keys[n++].addr = htonl(net24(i));
	}
	for (uint32_t i = 0; with32 && i < BIG_N32; i++) {
		keys[n].len = 32;
		keys[n++].addr = htonl(net24(i) | (i & 0xff));
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

/* The 10 prefixes of the small set (they cover 0.0.0.0/0). */
static const struct { uint32_t addr; uint32_t len; } small_set[10] = {
	{ 0x80000000, 1 }, { 0x40000000, 2 }, { 0x20000000, 3 }, { 0x10000000, 4 },
	{ 0x08000000, 5 }, { 0x04000000, 6 }, { 0x02000000, 7 }, { 0x01000000, 8 },
	{ 0x00000000, 9 }, { 0x00800000, 9 },
};

static int lpm_small_op(struct bench *b, bool add)
{
	int fd = bpf_map__fd(b->lpm->maps.bench_lpm4);
	uint32_t val = 0;

	for (int i = 0; i < 10; i++) {
		struct { uint32_t len, addr; } key = { small_set[i].len, htonl(small_set[i].addr) };

		if (add ? bpf_map_update_elem(fd, &key, &val, BPF_ANY) :
			  bpf_map_delete_elem(fd, &key)) {
			fprintf(stderr, "bench: LPM update: %s\n", strerror(errno));
			return -errno;
		}
	}
	return 0;
}

static int lpm_fill_small(struct bench *b)
{
	return lpm_small_op(b, true);
}

static void print_memory(struct bench *b)
{
	struct bpf_map *m;
	uint64_t total = 0, v;

	struct fw_map_fds in;
	uint32_t slot;

	printf("\nMemory of the firewall maps (memlock, as bpftool shows it):\n");
	bpf_object__for_each_map(m, b->fw->obj) {
		if (bpf_map__type(m) == BPF_MAP_TYPE_ARRAY && !strcmp(bpf_map__name(m), ".rodata"))
			continue;
		if (sl_map_memlock(bpf_map__fd(m), &v))
			continue;
		total += v;
		printf("  %-14s %10.1f MB\n", bpf_map__name(m), v / 1048576.0);
	}
	/* the policy's tables: the inner maps of the slot in force */
	if (!fw_ifslot_get(&b->fds, SLUICE_IFSLOT_DEFAULT, &slot) &&
	    !fw_slot_open(&b->fds, slot, &in)) {
		for (int *fd = &in.cfg; fd <= &in.dport; fd++) {
			struct bpf_map_info info = {};
			__u32 len = sizeof(info);

			if (bpf_obj_get_info_by_fd(*fd, &info, &len) || sl_map_memlock(*fd, &v))
				continue;
			total += v;
			printf("  %-14s %10.1f MB  (slot %u, %u entries)\n", info.name,
			       v / 1048576.0, slot, info.max_entries);
		}
		fw_slot_close(&in);
	}
	printf("  %-14s %10.1f MB\n", "total", total / 1048576.0);
	if (!sl_map_memlock(bpf_map__fd(b->lpm->maps.bench_lpm4), &v))
		printf("  (kernel LPM trie with the same %u prefixes: memlock %.1f MB; its nodes\n"
		       "   are allocated per prefix and cost more than memlock says, while the\n"
		       "   DIR-24-8 arrays above are allocated whole, whatever the policy)\n",
		       BIG_N + BIG_N32, v / 1048576.0);
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
	double ns, fl, t0, small_ns = 0, big_ns = 0;
	uint32_t rep, fw, fwr, fws, fls, flr, lps, lpr;
	int rc = 1;
	char *yaml = NULL;
	size_t yaml_len = 0;
	FILE *y;

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
	lps = bpf_program__fd(b.lpm->progs.lpm_same);
	lpr = bpf_program__fd(b.lpm->progs.lpm_rand);

	printf("sluice XDP firewall, BPF_PROG_TEST_RUN, ns per packet (median of %d runs, "
	       "each interleaved with its floor)\n", ROUNDS);
	printf("  %-46s %9s %9s %9s %10s\n", "case", "ns/pkt", "floor", "x floor", "repeat");

	/* floor */
	make_frame(frame, 0xc000020a, 0);
	if (measure(fls, fls, frame, XDP_DROP, &ns, &fl, &rep))
		goto out;
	row("floor: XDP_DROP", ns, fl, rep);
	make_frame(frame, 0, 0xfffff);
	if (measure(flr, fls, frame, XDP_DROP, &ns, &fl, &rep))
		goto out;
	row("floor + random-source step (vs plain floor)", ns, fl, rep);
	t0 = now_s();
	for (int i = 0; i < 200; i++)
		if (run_once(fls, frame, 1, NULL) < 0)
			goto out;
	printf("  (one BPF_PROG_TEST_RUN call costs %.0f us outside the kernel's per-run timer)\n",
	       (now_s() - t0) / 200 * 1e6);

	/* 100 rules, the packet allowed by the last */
	y = open_memstream(&yaml, &yaml_len);
	if (!y)
		goto out;
	fputs("firewall:\n  interfaces: [slb0]\n  default: deny\n  stateful: false\n  rules:\n", y);
	for (int i = 0; i < 100; i++)
		fprintf(y, "    - { name: r%d, action: deny, src: [203.0.113.%d/32], proto: tcp, "
			"dport: [%d] }\n", i, i, 1000 + i);
	fputs("    - { name: web, action: allow, dst: [198.51.100.1], proto: tcp, dport: [80] }\n",
	      y);
	fclose(y);
	if (write_file(b.dir, "policy.yaml", yaml) || apply(b.dir, &b.fds, 1, false))
		goto out;
	make_frame(frame, 0xc000020a, 0);	/* 192.0.2.10 */
	if (measure(fw, fls, frame, XDP_PASS, &ns, &fl, &rep))
		goto out;
	row("allow by rule 101 of 101 (same source)", ns, fl, rep);
	if (pipe_rows(&b, fw, fws, fls, frame, XDP_PASS))
		goto out;

	/*
	 * Deny by a 10-prefix set. The 10 prefixes together cover the whole
	 * IPv4 space, so that the same uniformly random sources the PRNG makes
	 * with mask 0xffffff are all denied: the 10-prefix and 1M-prefix cases
	 * then see equally scattered traffic and differ in the set alone.
	 */
	free(yaml);
	yaml = NULL;
	if (write_file(b.dir, "policy.yaml",
		       "sets:\n  small:\n    prefixes: [128.0.0.0/1, 64.0.0.0/2, 32.0.0.0/3, "
		       "16.0.0.0/4, 8.0.0.0/5, 4.0.0.0/6, 2.0.0.0/7, 1.0.0.0/8, 0.0.0.0/9, "
		       "0.128.0.0/9]\n"
		       "firewall:\n  interfaces: [slb0]\n  default: allow\n  stateful: false\n"
		       "  rules:\n    - { name: small, action: deny, src: [\"@small\"] }\n") ||
	    apply(b.dir, &b.fds, 2, false))
		goto out;
	make_frame(frame, net24(3) | 5, 0xffffff);
	if (measure(fw, fls, frame, XDP_DROP, &ns, &fl, &rep))
		goto out;
	row("deny by 10-prefix set (same source)", ns, fl, rep);
	if (pipe_rows(&b, fw, fws, fls, frame, XDP_DROP))
		goto out;
	if (verify_rule_counts_all(&b, fwr, frame, 0, 100000) ||
	    measure(fwr, flr, frame, XDP_DROP, &ns, &fl, &rep))
		goto out;
	small_ns = ns - fl;
	row("deny by 10-prefix set (random sources)", ns, fl, rep);

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
	make_frame(frame, net24(3) | 5, 0xffffff);

	/* the kernel LPM trie with the same 10 prefixes */
	if (lpm_fill_small(&b))
		goto out;
	if (measure(lps, fls, frame, XDP_DROP, &ns, &fl, &rep))
		goto out;
	row("kernel LPM trie alone, 10 prefixes (same)", ns, fl, rep);
	if (measure(lpr, flr, frame, XDP_DROP, &ns, &fl, &rep))
		goto out;
	row("kernel LPM trie alone, 10 prefixes (random)", ns, fl, rep);

	/* deny by a 1M-prefix set */
	if (write_big_set(b.dir) ||
	    write_file(b.dir, "policy.yaml",
		       "sets:\n  big:\n    file: big.txt\n"
		       "firewall:\n  interfaces: [slb0]\n  default: allow\n  stateful: false\n"
		       "  rules:\n    - { name: big, action: deny, src: [\"@big\"] }\n"))
		goto out;
	printf("\n  1M-prefix policy (%u prefixes):\n", BIG_N + BIG_N32);
	if (apply(b.dir, &b.fds, 4, true))
		goto out;
	printf("\n");
	make_frame(frame, net24(12345) | 77, BIG_N - 1);
	if (measure(fw, fls, frame, XDP_DROP, &ns, &fl, &rep))
		goto out;
	row("deny by 1M-prefix set (same source)", ns, fl, rep);
	if (verify_rule_counts_all(&b, fwr, frame, 0, 100000) ||
	    measure(fwr, flr, frame, XDP_DROP, &ns, &fl, &rep))
		goto out;
	big_ns = ns - fl;
	row("deny by 1M-prefix set (random sources)", ns, fl, rep);
	make_frame(frame, net24(BIG_N + 5) | 9, 0);
	if (measure(fw, fls, frame, XDP_PASS, &ns, &fl, &rep))
		goto out;
	row("pass, unmatched (1M-prefix policy, same source)", ns, fl, rep);

	/* the kernel LPM trie with the same 1M prefixes (and not the small set) */
	if (lpm_small_op(&b, false))
		goto out;
	t0 = now_s();
	if (lpm_fill(&b, 0, BIG_N, true))
		goto out;
	printf("  (kernel LPM trie: %u prefixes inserted in %.2f s)\n", BIG_N + BIG_N32,
	       now_s() - t0);
	make_frame(frame, net24(12345) | 77, BIG_N - 1);
	if (measure(lps, fls, frame, XDP_DROP, &ns, &fl, &rep))
		goto out;
	row("kernel LPM trie alone, 1M prefixes (same)", ns, fl, rep);
	if (measure(lpr, flr, frame, XDP_DROP, &ns, &fl, &rep))
		goto out;
	row("kernel LPM trie alone, 1M prefixes (random)", ns, fl, rep);

	printf("\n  1M-prefix deny vs 10-prefix deny, random sources, above the floor: "
	       "%.1f ns vs %.1f ns = %.2fx (target <= 2x)\n", big_ns, small_ns,
	       small_ns > 0 ? big_ns / small_ns : 0);
	print_memory(&b);
	rc = 0;
out:
	free(yaml);
	remove_dir(b.dir);
	bench_fw__destroy(b.fwr);
	bench_lpm__destroy(b.lpm);
	bench_floor__destroy(b.floor);
	sluice_xdp__destroy(b.fw);
	return rc;
}
