// SPDX-License-Identifier: GPL-2.0-only
/*
 * Conntrack cost with BPF_PROG_TEST_RUN, beside a floor measured in the same
 * run (XDP_DROP, or the same flow-index step then XDP_DROP): established
 * flow hit, new connection (miss + rules + insert + timer), a table half
 * full of random flows. Then memory of 1M entries (memlock and measured in
 * /proc/meminfo) and the CPU their expiry by bpf_timer takes, with the cost
 * of one bpf_for_each_map_elem sweep of the same table (design (b)).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "bench_util.h"
#include "fw_maps.h"
#include "bench_ct.skel.h"
#include "bench_ctb.skel.h"
#include "bench_floor.skel.h"
#include "sluice_tc.skel.h"
#include "sluice_xdp.skel.h"

#define ROUNDS		7
#define FRAME_LEN	64
#define FILL_N		(1u << 20)
#define FILL_MAX	(FILL_N + FILL_N / 4)	/* LRU headroom: it evicts before full */

struct ctb {
	struct sluice_xdp *fw;
	struct bench_ct *ct;
	struct bench_floor *floor;
	struct sluice_tc *tc;
	struct fw_map_fds fds;
	int ct_fd, syn_fd, cfg_fd, stats_fd;
	char dir[64];
};

static const char *const POLICY =
	"firewall:\n  interfaces: [slf0]\n  default: deny\n  stateful: false\n  rules:\n"
	"    - { name: web, action: allow, dst: [198.51.100.1], proto: [tcp, udp], dport: [80] }\n";

/* Ethernet + IPv4 + TCP, 198.18.0.1:SPORT -> 198.51.100.1:80, FLAGS; counter C, mask M. */
static void make_frame(uint8_t *f, uint16_t sport, uint8_t flags, uint32_t c, uint32_t m)
{
	uint32_t v;

	memset(f, 0, FRAME_LEN);
	memcpy(f, &c, 4);
	memcpy(f + 6, &m, 4);
	f[12] = 0x08;
	f[14] = 0x45;
	f[17] = FRAME_LEN - 14;
	f[22] = 64;
	f[23] = 6;
	v = htonl(0xC6120001);
	memcpy(f + 26, &v, 4);
	v = htonl(0xC6336401);
	memcpy(f + 30, &v, 4);
	f[34] = sport >> 8;
	f[35] = sport & 0xff;
	f[37] = 80;
	f[46] = 0x50;
	f[47] = flags;
	/* sequence numbers 0 both ways: an ACK acknowledges 1 */
	f[45] = flags & 0x10 ? 1 : 0;
}

/*
 * The same as a UDP datagram: UDP goes to ct_tbl directly (a TCP SYN to
 * ct_syn, until its handshake completes), so the fills that stand for
 * established connections use UDP.
 */
static void make_udp(uint8_t *f, uint16_t sport, uint32_t c, uint32_t m)
{
	make_frame(f, sport, 0, c, m);
	f[23] = 17;
	f[38] = 0;
	f[39] = FRAME_LEN - 34;
	f[46] = f[47] = 0;
}

/* the same flow seen from the server: 198.51.100.1:80 -> 198.18.0.1:SPORT */
static void make_reply(uint8_t *f, uint16_t sport, uint8_t flags)
{
	make_frame(f, 80, flags, 0, 0);
	f[26] = 198; f[27] = 51; f[28] = 100; f[29] = 1;
	f[30] = 198; f[31] = 18; f[32] = 0; f[33] = 1;
	f[36] = sport >> 8;
	f[37] = sport & 0xff;
}

/* One run of PROG over FRAME (the frame is kept between runs: counters go on). */
static double run(int prog, uint8_t *frame, uint32_t repeat, uint32_t *retval)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = frame,
		.data_size_in = FRAME_LEN,
		.data_out = frame,
		.data_size_out = FRAME_LEN,
		.repeat = repeat,
	);

	if (bpf_prog_test_run_opts(prog, &opts)) {
		fprintf(stderr, "bench: BPF_PROG_TEST_RUN: %s\n", strerror(errno));
		return -1;
	}
	if (retval)
		*retval = opts.retval;
	return opts.duration;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * Median ns/packet of PROG (verdict WANT) and FLOOR, interleaved. With
 * repeat, BPF_PROG_TEST_RUN runs on one buffer and copies the result out
 * once: the counter in the frame steps REPEAT times per call, and the next
 * call starts from where it stopped (data_out = data_in).
 */
static int measure(int prog, int floor, uint8_t *frame, uint8_t *floor_frame, uint32_t repeat,
		   uint32_t want, double *ns, double *floor_ns)
{
	double a[ROUNDS], b[ROUNDS];
	uint32_t rv;

	for (int i = 0; i < ROUNDS; i++) {
		b[i] = run(floor, floor_frame, repeat, NULL);
		a[i] = run(prog, frame, repeat, &rv);
		if (a[i] < 0 || b[i] < 0)
			return -1;
		if (rv != want) {
			fprintf(stderr, "bench: verdict %u, expected %u\n", rv, want);
			return -1;
		}
	}
	qsort(a, ROUNDS, sizeof(double), cmp_double);
	qsort(b, ROUNDS, sizeof(double), cmp_double);
	*ns = a[ROUNDS / 2];
	*floor_ns = b[ROUNDS / 2];
	return 0;
}

static void row(const char *name, double ns, double fl, uint32_t repeat)
{
	printf("  %-50s %8.1f %8.1f %7.2fx %9u\n", name, ns, fl, ns / fl, repeat);
}

static uint64_t stat_sum(struct ctb *b, uint32_t idx)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t v[ncpu > 0 ? ncpu : 1], s = 0;

	if (ncpu <= 0 || bpf_map_lookup_elem(b->stats_fd, &idx, v))
		return 0;
	for (int i = 0; i < ncpu; i++)
		s += v[i];
	return s;
}

static uint32_t map_count(int fd)
{
	struct sl_ct_key k, next;
	void *prev = NULL;
	uint32_t n = 0;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		n++;
	}
	return n;
}

/* ct_tbl's entries (established, UDP, ...) */
static uint32_t ct_count(struct ctb *b)
{
	return map_count(b->ct_fd);
}

static void ct_flush(struct ctb *b)
{
	struct sl_ct_key k;

	while (!bpf_map_get_next_key(b->ct_fd, NULL, &k))
		bpf_map_delete_elem(b->ct_fd, &k);
	while (!bpf_map_get_next_key(b->syn_fd, NULL, &k))
		bpf_map_delete_elem(b->syn_fd, &k);
}

static int set_cfg(struct ctb *b, uint32_t stateful, uint32_t syn_to)
{
	struct sl_ct_config c = { .stateful = stateful };
	uint32_t k = 0;

	c.timeout[SLUICE_CT_TO_TCP_SYN] = syn_to;
	c.timeout[SLUICE_CT_TO_UDP] = syn_to;
	return bpf_map_update_elem(b->cfg_fd, &k, &c, BPF_ANY) ? -errno : 0;
}

static void unload(struct ctb *b)
{
	sluice_tc__destroy(b->tc);
	bench_ct__destroy(b->ct);
	bench_floor__destroy(b->floor);
	sluice_xdp__destroy(b->fw);
	b->tc = NULL;
	b->ct = NULL;
	b->floor = NULL;
	b->fw = NULL;
}

static int reuse_maps(struct bpf_object *obj, struct bpf_object *from)
{
	struct bpf_map *m;

	bpf_object__for_each_map(m, obj) {
		struct bpf_map *src = bpf_object__find_map_by_name(from, bpf_map__name(m));

		if (!src || bpf_map__is_internal(m))
			continue;
		if (bpf_map__reuse_fd(m, bpf_map__fd(src)))
			return -1;
	}
	return 0;
}

static int load(struct ctb *b, uint32_t max_entries)
{
	uint32_t syn_max = max_entries / SLUICE_CT_SYN_DIV;

	/* ct_syn sized from ct_tbl as the agent does */
	if (syn_max < SLUICE_CT_SYN_MIN)
		syn_max = SLUICE_CT_SYN_MIN;
	b->fw = sluice_xdp__open();
	if (!b->fw || bpf_map__set_max_entries(b->fw->maps.ct_tbl, max_entries) ||
	    bpf_map__set_max_entries(b->fw->maps.ct_syn, syn_max) ||
	    sluice_xdp__load(b->fw)) {
		fprintf(stderr, "bench: loading sluice_xdp failed\n");
		return -1;
	}
	b->ct = bench_ct__open();
	b->tc = sluice_tc__open();
	b->floor = bench_floor__open_and_load();
	if (!b->ct || !b->tc || !b->floor || reuse_maps(b->ct->obj, b->fw->obj) ||
	    reuse_maps(b->tc->obj, b->fw->obj) || bench_ct__load(b->ct) ||
	    sluice_tc__load(b->tc)) {
		fprintf(stderr, "bench: loading bench_ct/sluice_tc failed\n");
		return -1;
	}
	b->ct_fd = bpf_map__fd(b->fw->maps.ct_tbl);
	b->syn_fd = bpf_map__fd(b->fw->maps.ct_syn);
	b->cfg_fd = bpf_map__fd(b->fw->maps.ct_cfg);
	b->stats_fd = bpf_map__fd(b->fw->maps.ct_stats);
	if (fw_map_fds_from_obj(b->fw->obj, &b->fds) ||
	    write_file(b->dir, "policy.yaml", POLICY) || apply(b->dir, &b->fds, 1, false))
		return -1;
	return 0;
}

static int per_packet(struct ctb *b)
{
	int fw = bpf_program__fd(b->fw->progs.sluice_xdp);
	int fls = bpf_program__fd(b->floor->progs.floor_same);
	int cnew = bpf_program__fd(b->ct->progs.ct_new);
	int crand = bpf_program__fd(b->ct->progs.ct_rand);
	int fnew = bpf_program__fd(b->ct->progs.ctf_new);
	int frand = bpf_program__fd(b->ct->progs.ctf_rand);
	uint8_t f[FRAME_LEN], fl_f[FRAME_LEN];
	const uint32_t rep = 200000, rep_new = 15000, half = SLUICE_CT_DEFAULT_MAX / 2;
	uint64_t c0, t0;
	double ns, fl;
	uint32_t rv, n;

	printf("conntrack, BPF_PROG_TEST_RUN, ns per packet (median of %d runs, each "
	       "interleaved with its floor); table %u entries\n", ROUNDS, SLUICE_CT_DEFAULT_MAX);
	printf("  %-50s %8s %8s %8s %9s\n", "case", "ns/pkt", "floor", "x floor", "repeat");

	make_frame(fl_f, 1, 0x10, 0, 0);
	if (measure(fls, fls, fl_f, fl_f, rep, XDP_DROP, &ns, &fl))
		return -1;
	row("floor: XDP_DROP", ns, fl, rep);

	/* stateless, the same ACK allowed by the rule */
	if (set_cfg(b, 0, 0))
		return -1;
	make_frame(f, 1000, 0x10, 0, 0);
	if (measure(fw, fls, f, fl_f, rep, XDP_PASS, &ns, &fl))
		return -1;
	row("stateless: allow by rule (ct_cfg.stateful = 0)", ns, fl, rep);

	/* stateful, mid-stream ACK with no entry: rules decide, nothing inserted */
	if (set_cfg(b, 1, 0))
		return -1;
	c0 = stat_sum(b, SLUICE_CT_STAT_CREATED);
	if (measure(fw, fls, f, fl_f, rep, XDP_PASS, &ns, &fl))
		return -1;
	row("stateful: no entry, allow by rule, no insert (ACK)", ns, fl, rep);
	if (stat_sum(b, SLUICE_CT_STAT_CREATED) != c0) {
		fprintf(stderr, "bench: a mid-stream ACK created an entry\n");
		return -1;
	}

	/* established: handshake through the firewall, then the ACK again */
	make_frame(f, 1000, 0x02, 0, 0);
	run(fw, f, 1, NULL);
	make_reply(f, 1000, 0x12);
	run(fw, f, 1, &rv);
	make_frame(f, 1000, 0x10, 0, 0);
	run(fw, f, 1, NULL);
	{
		struct sl_ct_key k = { .addr_a = { 198, 18, 0, 1 }, .addr_b = { 198, 51, 100, 1 },
				       .port_a = htons(1000), .port_b = htons(80), .proto = 6,
				       .family = 4 };
		struct sl_ct_entry v;

		if (rv != XDP_PASS || bpf_map_lookup_elem(b->ct_fd, &k, &v) ||
		    v.state != SL_CT_ESTABLISHED) {
			fprintf(stderr, "bench: the handshake did not establish the flow\n");
			return -1;
		}
	}
	if (measure(fw, fls, f, fl_f, rep, XDP_PASS, &ns, &fl))
		return -1;
	row("established flow hit (same flow)", ns, fl, rep);

	/* new connections into an empty table: every run a new SYN */
	ct_flush(b);
	make_frame(f, 0, 0x02, 0, 0);
	make_frame(fl_f, 0, 0x02, 0, 0);
	c0 = stat_sum(b, SLUICE_CT_STAT_CREATED);
	t0 = stat_sum(b, SLUICE_CT_STAT_TIMER_FAIL);
	if (measure(cnew, fnew, f, fl_f, rep_new, XDP_PASS, &ns, &fl))
		return -1;
	n = stat_sum(b, SLUICE_CT_STAT_CREATED) - c0;
	row("new TCP connection (2 misses + rule + insert ct_syn)", ns, fl, rep_new);
	printf("    %u created, %llu of them without a timer (bpf_timer_init -ENOMEM)\n", n,
	       (unsigned long long)(stat_sum(b, SLUICE_CT_STAT_TIMER_FAIL) - t0));
	if (n != ROUNDS * rep_new) {
		fprintf(stderr, "bench: %u of %u new connections created\n", n, ROUNDS * rep_new);
		return -1;
	}

	/* ct_syn full: every insert evicts */
	run(cnew, f, SLUICE_CT_DEFAULT_MAX, NULL);
	if (measure(cnew, fnew, f, fl_f, rep_new, XDP_PASS, &ns, &fl))
		return -1;
	row("new TCP connection, ct_syn full (LRU eviction)", ns, fl, rep_new);

	/* ct_tbl half full of (UDP) flows 0 .. half-1, then random hits among them */
	ct_flush(b);
	make_udp(f, 0, ~0u, 0);
	run(cnew, f, half, NULL);
	n = ct_count(b);
	make_udp(f, 0, 0x2545f491, half - 1);
	make_udp(fl_f, 0, 0x2545f491, half - 1);
	c0 = stat_sum(b, SLUICE_CT_STAT_CREATED);
	if (measure(crand, frand, f, fl_f, rep, XDP_PASS, &ns, &fl))
		return -1;
	row("ct_tbl 50% full, random flows (hit)", ns, fl, rep);
	printf("    %u entries; %llu created while measuring (0: every packet was a hit)\n", n,
	       (unsigned long long)(stat_sum(b, SLUICE_CT_STAT_CREATED) - c0));
	ct_flush(b);
	return 0;
}

struct meminfo {
	long avail, slab, sunreclaim, percpu;	/* kB */
};

static void meminfo(struct meminfo *m)
{
	char line[256];
	FILE *f = fopen("/proc/meminfo", "re");

	memset(m, 0, sizeof(*m));
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "MemAvailable: %ld", &m->avail);
		sscanf(line, "Slab: %ld", &m->slab);
		sscanf(line, "SUnreclaim: %ld", &m->sunreclaim);
		sscanf(line, "Percpu: %ld", &m->percpu);
	}
	fclose(f);
}

/* softirq and total busy time of all CPUs, in s */
static void cpu_times(double *softirq, double *busy)
{
	unsigned long long v[10] = { 0 };
	FILE *f = fopen("/proc/stat", "re");
	double hz = sysconf(_SC_CLK_TCK);

	*softirq = *busy = 0;
	if (!f)
		return;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]) == 8) {
		*softirq = v[6] / hz;
		*busy = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / hz;
	}
	fclose(f);
}

static void mem_row(const char *what, const struct meminfo *a, const struct meminfo *b)
{
	printf("  %-34s MemAvailable -%7.1f MB  Slab +%7.1f MB (unreclaimable +%7.1f)  "
	       "Percpu +%5.1f MB\n", what, (a->avail - b->avail) / 1024.0,
	       (b->slab - a->slab) / 1024.0, (b->sunreclaim - a->sunreclaim) / 1024.0,
	       (b->percpu - a->percpu) / 1024.0);
}

static int million(struct ctb *b)
{
	struct meminfo m0, m1, m2;
	uint8_t f[FRAME_LEN];
	double t0, si0, bu0, si1, bu1, sib, bub, walk;
	uint64_t memlock = 0, tf, exp0;
	uint32_t n, armed = 0, left;
	int repoint;
	const uint32_t to = 30;

	printf("\n1M entries (ct_tbl max_entries %u, LRU headroom):\n", FILL_MAX);
	meminfo(&m0);
	if (load(b, FILL_MAX) || set_cfg(b, 1, to))
		return -1;
	meminfo(&m1);
	sl_map_memlock(b->ct_fd, &memlock);

	/* 1M new flows into ct_tbl (UDP: a TCP SYN would go to ct_syn), in calls of 10k */
	make_udp(f, 0, ~0u, 0);
	t0 = now_s();
	for (uint32_t done = 0; done < FILL_N; done += 10000)
		if (run(bpf_program__fd(b->ct->progs.ct_new), f, FILL_N - done < 10000 ?
			FILL_N - done : 10000, NULL) < 0)
			return -1;
	n = ct_count(b);
	tf = stat_sum(b, SLUICE_CT_STAT_TIMER_FAIL);
	printf("  filled %u entries in %.2f s; %llu without a timer after the burst\n", n,
	       now_s() - t0, (unsigned long long)tf);
	/* arm the rest the way the agent would: ct_repoint, a few times, spaced */
	repoint = bpf_program__fd(b->tc->progs.ct_repoint);
	for (int i = 0; i < 40 && armed < n; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f, .data_size_in = FRAME_LEN,
			    .repeat = 1);

		if (bpf_prog_test_run_opts(repoint, &opts))
			return -1;
		armed = opts.retval;
		usleep(100000);
	}
	printf("  after ct_repoint passes: %u of %u entries have a timer (%.1f s since the "
	       "fill began)\n", armed, n, now_s() - t0);
	meminfo(&m2);
	printf("  memlock (bpftool): %.1f MB = %.0f B per entry of max_entries\n",
	       memlock / 1048576.0, (double)memlock / FILL_MAX);
	mem_row("map created (empty, preallocated):", &m0, &m1);
	mem_row("after 1M entries with timers:", &m1, &m2);
	printf("  measured per entry with its timer: %.0f B (MemAvailable), timers alone "
	       "%.0f B (Slab)\n", (m1.avail - m2.avail) * 1024.0 / n,
	       (m2.slab - m1.slab) * 1024.0 / (armed ? armed : 1));

	/* design (b): one sweep of the whole table */
	{
		double d[ROUNDS];

		for (int i = 0; i < ROUNDS; i++) {
			d[i] = run(bpf_program__fd(b->ct->progs.ct_sweep), f, 1, NULL);
			if (d[i] < 0)
				return -1;
		}
		qsort(d, ROUNDS, sizeof(double), cmp_double);
		walk = d[ROUNDS / 2];
		printf("  one bpf_for_each_map_elem sweep of %u entries (design (b)): %.1f ms "
		       "= %.1f ns per entry\n", n, walk / 1e6, walk / n);
	}

	/* expiry: the baseline softirq/busy rate, then until the timers are done */
	cpu_times(&si0, &bu0);
	sleep(3);
	cpu_times(&sib, &bub);
	sib = (sib - si0) / 3;
	bub = (bub - bu0) / 3;
	exp0 = stat_sum(b, SLUICE_CT_STAT_EXPIRED);
	cpu_times(&si0, &bu0);
	t0 = now_s();
	while (now_s() - t0 < to + 30) {
		if (stat_sum(b, SLUICE_CT_STAT_EXPIRED) - exp0 >= armed)
			break;
		usleep(200000);
	}
	cpu_times(&si1, &bu1);
	{
		double dt = now_s() - t0;
		double si = (si1 - si0) - sib * dt, bu = (bu1 - bu0) - bub * dt;
		uint64_t ex = stat_sum(b, SLUICE_CT_STAT_EXPIRED) - exp0;

		printf("  expiry by timer: %llu entries deleted in a %.1f s window; CPU above "
		       "baseline: softirq %.2f s, all %.2f s = %.0f ns per entry\n",
		       (unsigned long long)ex, dt, si, bu, ex ? bu * 1e9 / ex : 0);
	}
	left = ct_count(b);
	printf("  left after the timers: %u (entries without a timer; the datapath ignores "
	       "them past their timeout, ct_repoint purges them)\n", left);
	return 0;
}

/* sum of one u64 field over the sweepers */
struct ctb_sweeper_u {
	uint64_t t[2];		/* struct bpf_timer */
	uint64_t period_ns, timeout_ns, runs, deleted;
};

static int sweepers(int fd, uint64_t *runs, uint64_t *deleted)
{
	struct ctb_sweeper_u v;

	*runs = *deleted = 0;
	for (uint32_t i = 0; i < 16; i++) {
		if (bpf_map_lookup_elem(fd, &i, &v))
			return -1;
		*runs += v.runs;
		*deleted += v.deleted;
	}
	return 0;
}

/*
 * Design (b) prototype (bpf/bench_ctb.bpf.c): 16 LRU shards, one sweeper
 * timer each, no timer per entry. 1M entries, their memory, the insert
 * cost, and the CPU of sweeping them until they have all expired.
 */
static int design_b(void)
{
	const uint64_t period = 1000000000ull, timeout = 4000000000ull;
	struct bench_ctb *o;
	struct meminfo m0, m1, m2;
	struct bpf_map *m;
	uint8_t f[FRAME_LEN];
	uint64_t memlock = 0, v, runs, del, runs0;
	double t0, dt, si0, bu0, si1, bu1, sib, bub, fill;
	int fd, rc = -1;

	printf("\nDesign (b) prototype: 16 LRU shards of %u, a sweeper timer each "
	       "(period 1 s per shard), no timer per entry, 1M entries:\n",
	       (1u << 20) / 16 + (1u << 20) / 64);
	meminfo(&m0);
	o = bench_ctb__open_and_load();
	if (!o) {
		fprintf(stderr, "bench: loading bench_ctb failed\n");
		return -1;
	}
	meminfo(&m1);
	bpf_object__for_each_map(m, o->obj)
		if (!sl_map_memlock(bpf_map__fd(m), &v))
			memlock += v;
	fd = bpf_map__fd(o->maps.ctb_sweep);
	for (uint32_t i = 0; i < 16; i++) {
		struct ctb_sweeper_u s = { .period_ns = period, .timeout_ns = timeout };

		if (bpf_map_update_elem(fd, &i, &s, BPF_ANY))
			goto out;
	}
	make_frame(f, 0, 0x02, 0, 0);
	t0 = now_s();
	if (run(bpf_program__fd(o->progs.ctb_new), f, FILL_N, NULL) < 0)
		goto out;
	fill = now_s() - t0;
	meminfo(&m2);
	printf("  filled %u entries in %.2f s (%.0f ns per insert, one call)\n", FILL_N, fill,
	       fill * 1e9 / FILL_N);
	printf("  memlock: %.1f MB = %.0f B per entry of max_entries\n", memlock / 1048576.0,
	       (double)memlock / (16.0 * ((1u << 20) / 16 + (1u << 20) / 64)));
	mem_row("maps created (preallocated):", &m0, &m1);
	mem_row("after 1M entries (no timers):", &m1, &m2);

	cpu_times(&si0, &bu0);
	sleep(3);
	cpu_times(&sib, &bub);
	sib = (sib - si0) / 3;
	bub = (bub - bu0) / 3;
	cpu_times(&si0, &bu0);
	t0 = now_s();
	/* bpf_timer_init can fail (-ENOMEM) right after a burst: retry until all 16 run */
	for (int i = 0; i < 50; i++) {
		uint32_t started = 0;

		if (run(bpf_program__fd(o->progs.ctb_start), f, 1, &started) < 0)
			goto out;
		if (started == 16) {
			printf("  sweepers started after %d attempt(s)\n", i + 1);
			break;
		}
		usleep(20000);
	}
	do {
		usleep(250000);
		if (sweepers(fd, &runs, &del))
			goto out;
	} while (del < FILL_N && now_s() - t0 < 30);
	dt = now_s() - t0;
	cpu_times(&si1, &bu1);
	printf("  all %llu deleted by the sweepers %.1f s after they started (timeout 4 s), "
	       "%llu shard sweeps\n", (unsigned long long)del, dt, (unsigned long long)runs);
	printf("  CPU above baseline: softirq %.2f s, all %.2f s\n",
	       (si1 - si0) - sib * dt, (bu1 - bu0) - bub * dt);
	/* sweeps of an empty-ish table for comparison: 3 s more */
	runs0 = runs;
	cpu_times(&si0, &bu0);
	sleep(3);
	cpu_times(&si1, &bu1);
	sweepers(fd, &runs, &del);
	printf("  then, with the table empty: %llu sweeps in 3 s, softirq %.2f s above baseline\n",
	       (unsigned long long)(runs - runs0), (si1 - si0) - sib * 3);
	rc = 0;
out:
	bench_ctb__destroy(o);
	return rc;
}

/*
 * Table full under a SYN flood (docs/datapath.md, "Table full"). E flows
 * 198.18.0.1:1000+i -> 198.51.100.1:80 complete their handshake through the
 * firewall; then F SYNs from distinct spoofed sources (198.18.0.2 and up,
 * ct_new), and after every EVERY / E of them one packet of the next
 * established flow, from the server (round robin: each flow is seen once
 * per EVERY SYNs; EVERY 0: the flows are idle). The server's packets pass
 * only while the flow is tracked (the rule allows port 80 inbound only). A
 * flow survives when its entry is still in ct_tbl, established, and its
 * next packet passes.
 */
static int flood_run(struct ctb *b, uint32_t max, uint32_t e_n, uint32_t f_n, uint32_t every)
{
	int fw, cnew;
	uint8_t f[FRAME_LEN], sf[FRAME_LEN];
	uint32_t k = every ? every / e_n : 0, rv, lost = 0, surv = 0, next = 0, in_tbl, half;
	uint64_t c0, x0, d0;
	int64_t evicted;
	double t0, secs;
	char what[64];

	if (load(b, max) || set_cfg(b, 1, 0))
		return -1;
	fw = bpf_program__fd(b->fw->progs.sluice_xdp);
	cnew = bpf_program__fd(b->ct->progs.ct_new);
	c0 = stat_sum(b, SLUICE_CT_STAT_CREATED);
	x0 = stat_sum(b, SLUICE_CT_STAT_EXPIRED);
	d0 = stat_sum(b, SLUICE_CT_STAT_DELETED);
	for (uint32_t i = 0; i < e_n; i++) {
		make_frame(f, 1000 + i, 0x02, 0, 0);
		run(fw, f, 1, NULL);
		make_reply(f, 1000 + i, 0x12);
		run(fw, f, 1, NULL);
		make_frame(f, 1000 + i, 0x10, 0, 0);
		run(fw, f, 1, NULL);
	}
	if (map_count(b->ct_fd) != e_n) {
		fprintf(stderr, "bench: %u of %u flows established\n", map_count(b->ct_fd), e_n);
		return -1;
	}
	make_frame(sf, 0, 0x02, 2u << 16, 0);
	t0 = now_s();
	if (!k) {
		for (uint32_t done = 0; done < f_n; done += 10000)
			if (run(cnew, sf, f_n - done < 10000 ? f_n - done : 10000, &rv) < 0)
				return -1;
	} else {
		/*
		 * One program only: BPF_PROG_TEST_RUN of XDP switches the
		 * dispatcher (synchronize_rcu) whenever the program changes
		 * between calls. The SYNs are built here, as ct_new would.
		 */
		for (uint32_t done = 0; done < f_n; done += k) {
			for (uint32_t j = 0; j < k; j++) {
				uint32_t i = (2u << 16) + done + j, a = htonl(0xC6120000u + (i >> 16));

				memcpy(sf + 26, &a, 4);
				sf[34] = (i >> 8) & 0xff;
				sf[35] = i & 0xff;
				if (run(fw, sf, 1, &rv) < 0 || rv != XDP_PASS)
					return -1;
			}
			make_reply(f, 1000 + next, 0x18);
			run(fw, f, 1, &rv);
			lost += rv != XDP_PASS;
			next = (next + 1) % e_n;
		}
	}
	secs = now_s() - t0;
	for (uint32_t i = 0; i < e_n; i++) {
		struct sl_ct_key key = { .addr_a = { 198, 18, 0, 1 }, .addr_b = { 198, 51, 100, 1 },
					 .port_a = htons(1000 + i), .port_b = htons(80),
					 .proto = 6, .family = 4 };
		struct sl_ct_entry v;
		bool alive = !bpf_map_lookup_elem(b->ct_fd, &key, &v) &&
			     v.state == SL_CT_ESTABLISHED;

		make_reply(f, 1000 + i, 0x10);
		run(fw, f, 1, &rv);
		surv += alive && rv == XDP_PASS;
	}
	in_tbl = map_count(b->ct_fd);
	half = map_count(b->syn_fd);
	evicted = (int64_t)(stat_sum(b, SLUICE_CT_STAT_CREATED) - c0 -
			    (stat_sum(b, SLUICE_CT_STAT_EXPIRED) - x0) -
			    (stat_sum(b, SLUICE_CT_STAT_DELETED) - d0) - in_tbl - half);
	if (every)
		snprintf(what, sizeof(what), "one packet per flow per %u SYNs", every);
	else
		snprintf(what, sizeof(what), "flows idle");
	printf("  %7u %7u %6u %8u  %-34s %6u of %-6u %6u %8lld %5.1f\n", max,
	       (uint32_t)bpf_map__max_entries(b->fw->maps.ct_syn), e_n, f_n, what, surv, e_n,
	       lost, (long long)evicted, secs);
	unload(b);
	return 0;
}

static int flood(struct ctb *b, bool quick)
{
	static const uint32_t every[] = { 2000, 4000, 8000, 0 };

	printf("\nestablished flows surviving a spoofed SYN flood (survivors: X of E; lost: the "
	       "server's packets dropped during the flood):\n");
	printf("  %7s %7s %6s %8s  %-34s %16s %6s %8s %5s\n", "ct_tbl", "ct_syn", "E", "SYNs",
	       "established flows", "survivors", "lost", "evicted", "s");
	for (size_t i = 0; i < sizeof(every) / sizeof(every[0]); i++)
		if (flood_run(b, 4096, 500, 50000, every[i]))
			return -1;
	if (!quick && flood_run(b, SLUICE_CT_DEFAULT_MAX, 10000, 1000000, 0))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct ctb b = { 0 };
	int rc = 1;

	libbpf_set_print(quiet);
	snprintf(b.dir, sizeof(b.dir), "/tmp/slf-bench-ct-XXXXXX");
	if (!mkdtemp(b.dir)) {
		perror("bench: mkdtemp");
		return 1;
	}
	/* --flood: only the SYN flood table, with the default-size row */
	if (argc > 1 && !strcmp(argv[1], "--flood")) {
		rc = flood(&b, false) ? 1 : 0;
		goto out;
	}
	if (argc > 1 && !strcmp(argv[1], "--b")) {
		rc = design_b() ? 1 : 0;
		goto out;
	}
	if (load(&b, SLUICE_CT_DEFAULT_MAX) || per_packet(&b))
		goto out;
	unload(&b);
	if (flood(&b, argc > 1 && !strcmp(argv[1], "--quick")))
		goto out;
	if (!(argc > 1 && !strcmp(argv[1], "--quick")) && (design_b() || million(&b)))
		goto out;
	rc = 0;
out:
	unload(&b);
	remove_dir(b.dir);
	return rc;
}
