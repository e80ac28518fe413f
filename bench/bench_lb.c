// SPDX-License-Identifier: GPL-2.0-only
/*
 * The load balancer's cost per packet and throughput, beside baselines
 * measured in the same run.
 *
 * 1. BPF_PROG_TEST_RUN, ns/packet, the LB stage alone (bench/bpf/bench_lb.bpf.c:
 *    parse + LB, as a Katran-like program runs) beside its floor (the same
 *    frame restore and source step, then XDP_DROP), NAT and DSR: non-VIP
 *    pass, established flow (its backend out of another interface: XDP_REDIRECT;
 *    or out of the one it came in on: XDP_TX, as Katran's figure), new flow
 *    (a SYN from a new source every run), established over 100k flows round
 *    robin, new flow into a full flow table; and the whole pipeline
 *    (firewall + LB) for an established flow.
 *    Katran's own figures measured here the same way (net of a 5 ns floor)
 *    are printed beside. Medians of 7, each case interleaved with its floor.
 * 2. Real frames through veths (bench_live's generator): a UDP service with
 *    three backends, by sluice (XDP, NAT, XDP_REDIRECT to the backend's
 *    veth) and by nftables DNAT (a jhash map over the same backends), frames
 *    counted arriving at the backend's veth: Mpps of each and the ratio.
 *
 * SLUICE_BENCH_LB_LRU=1 adds bare LRU hash inserts and lookups (bench/bpf/
 * bench_lru.bpf.c): key sizes, LRU flavours, sizes, array of maps or not.
 *
 * The BPF runs happen in a network namespace of the process's own
 * (tests/lb_testnet.h); the live run in namespaces slbl-PID-{g,l,d},
 * removed on every exit.
 */
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <linux/if_link.h>

#include "bench_util.h"
#include "bench_veth.h"
#include "bench_floor.skel.h"
#include "bench_gen.skel.h"
#include "bench_lb.skel.h"
#include "bench_lru.skel.h"
#include "lb_maps.h"
#include "sluice_xdp.skel.h"
#include "tests/lb_testnet.h"

#define ROUNDS		7
#define FRAME_LEN	128
#define REPEAT		200000u
#define NEW_REPEAT	100000u		/* new flows per round, below the table's size */
#define RR_FLOWS	100000u
#define FLOW_TABLE	262144u		/* conntrack.max-entries' default */
#define LIVE_FRAMES	2000000u
#define LIVE_ROUNDS	3

struct lbb_frame {			/* as bench/bpf/bench_lb.bpf.c */
	uint32_t len, rr, x, pad;
	uint8_t b[FRAME_LEN];
};

static struct sluice_xdp *fw;
static struct bench_lb *lbb;
static struct lb_state *st;
static int if0;
static char dir[64], ns_g[32], ns_l[32], ns_d[32];

static void cleanup(void)
{
	char cmd[96];

	for (const char *n = ns_g; n; n = n == ns_g ? ns_l : n == ns_l ? ns_d : NULL) {
		if (!n[0])
			continue;
		snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null", n);
		if (system(cmd)) {
			/* already gone */
		}
	}
	if (dir[0])
		remove_dir(dir);
}

static void on_signal(int sig)
{
	(void)sig;
	exit(1);
}

#define F_SYN	0x02
#define F_ACK	0x10
#define F_UDP	0

/* The IPv4 header checksum of frame F, written. */
static void ip4_csum_set(uint8_t *f)
{
	uint32_t sum = 0;

	f[24] = f[25] = 0;
	for (int i = 14; i < 34; i += 2)
		sum += (uint32_t)f[i] << 8 | f[i + 1];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	f[24] = (uint8_t)(~sum >> 8);
	f[25] = (uint8_t)~sum;
}

/*
 * TCP with FLAGS (a SYN opens a flow, an ACK is one established), or UDP
 * (F_UDP, checksum 0), 203.0.113.50:40000 -> DST:DPORT; the IPv4 header
 * checksum is right (the stack checks it; XDP does not).
 */
static void make_frame(uint8_t *f, uint32_t dst, uint16_t dport, uint8_t flags)
{
	uint32_t v;

	memset(f, 0, FRAME_LEN);
	memcpy(f, "\x02\x00\x00\x00\x00\xa0\x02\xcc\x00\x00\x00\x50", 12);
	f[12] = 0x08;
	f[14] = 0x45;
	f[16] = 0;
	f[17] = FRAME_LEN - 14;
	f[20] = 0x40;			/* DF */
	f[22] = 64;
	f[23] = flags == F_UDP ? 17 : 6;
	v = htonl(0xcb007132);		/* 203.0.113.50 */
	memcpy(f + 26, &v, 4);
	v = htonl(dst);
	memcpy(f + 30, &v, 4);
	f[34] = 40000 >> 8;
	f[35] = 40000 & 0xff;
	f[36] = dport >> 8;
	f[37] = dport & 0xff;
	ip4_csum_set(f);
	if (flags == F_UDP) {
		f[39] = FRAME_LEN - 34;
	} else {
		f[46] = 0x50;
		f[47] = flags;
	}
}

/* The flow 203.0.113.50:40000 -> VIP:80's backend, looked for in the flow tables. */
struct flow_find {
	uint32_t vip;
	long id;
};

static int find_flow(void *ctx, const struct lb_flow_key *k, const struct lb_flow *f)
{
	struct flow_find *ff = ctx;
	uint32_t src = htonl(0xcb007132), vip = htonl(ff->vip);

	if (!memcmp(k->src, &src, 4) && !memcmp(k->dst, &vip, 4) && k->sport == htons(40000) &&
	    k->dport == htons(80))
		ff->id = f->backend;
	return 0;
}

/*
 * The reply of NAT flow 203.0.113.50:40000 -> VIP:80 from its backend
 * (an ACK from backend:port to the client); -1 when the flow is not there.
 */
static int make_reply(uint8_t *f, uint32_t vip)
{
	struct flow_find ff = { .vip = vip, .id = -1 };

	if (lb_flows_walk(st, LB_FLOWS, find_flow, &ff) || ff.id < 0 ||
	    ff.id >= SLUICE_LB_BACKENDS_MAX)
		return -1;
	make_frame(f, 0xcb007132, 40000, F_ACK);
	memcpy(f + 26, st->be[ff.id].addr, 4);
	memcpy(f + 34, &st->be[ff.id].port, 2);
	ip4_csum_set(f);
	return 0;
}

/* The frame every CPU's runs start from; RR sources for lbb_rr. */
static int set_frame(const uint8_t *frame, uint32_t rr)
{
	int ncpu = libbpf_num_possible_cpus();
	struct lbb_frame *v = calloc(ncpu, sizeof(*v));
	uint32_t zero = 0;
	int err = 0;

	if (!v)
		return -ENOMEM;
	for (int c = 0; c < ncpu; c++) {
		v[c].len = FRAME_LEN;
		v[c].rr = rr;
		memcpy(v[c].b, frame, FRAME_LEN);
	}
	if (bpf_map_update_elem(bpf_map__fd(lbb->maps.lbb_frame), &zero, v, BPF_ANY))
		err = -errno;
	free(v);
	return err;
}

/* PROG over the frame REPEAT times, received on slt0: mean ns per run, or < 0. */
static double run(struct bpf_program *prog, uint32_t repeat, uint32_t *retval)
{
	uint8_t buf[FRAME_LEN];
	struct xdp_md ctx = { .ingress_ifindex = (uint32_t)if0, .data_end = FRAME_LEN };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = buf,
		.data_size_in = FRAME_LEN,
		.ctx_in = &ctx,
		.ctx_size_in = sizeof(ctx),
		.repeat = repeat,
	);

	memset(buf, 0, sizeof(buf));
	if (bpf_prog_test_run_opts(bpf_program__fd(prog), &opts)) {
		fprintf(stderr, "bench_lb: BPF_PROG_TEST_RUN failed: %s\n", strerror(errno));
		return -1;
	}
	if (retval)
		*retval = opts.retval;
	return opts.duration;
}

/* Empty flow tables: new inner maps in lb_flowtab (the old ones go with their last user). */
static int flows_reset(void)
{
	/* lb_flowtab[LB_FLOWS], [LB_REVERSE], lb_flowtab4[0] */
	for (uint32_t w = 0; w < 3; w++) {
		uint32_t slot = w < 2 ? w : 0;
		int fd = w < 2 ? lb_flowtab_create("lbb_flows", FLOW_TABLE) :
			 lb_flowtab4_create("lbb_flows4", FLOW_TABLE);
		int outer = w < 2 ? st->fds.flowtab : st->fds.flowtab4;
		int err = fd < 0 ? fd : bpf_map_update_elem(outer, &slot, &fd, BPF_ANY) ?
			  -errno : 0;

		if (fd >= 0)
			close(fd);
		if (err)
			return err;
	}
	return 0;
}

enum prep { P_NONE, P_EMPTY, P_FULL, P_RR };

/* A development aid: SLUICE_BENCH_LB_ONLY=TEXT runs the rows whose names contain TEXT. */
static bool wanted(const char *name)
{
	const char *only = getenv("SLUICE_BENCH_LB_ONLY");

	return !only || strstr(name, only);
}

/*
 * Median ns of PROG and of FLOOR over ROUNDS interleaved rounds; before each
 * round the flow tables are prepared as PREP says. Prints one row.
 */
static int row(const char *name, struct bpf_program *prog, struct bpf_program *floor,
	       enum prep prep, uint32_t repeat, uint32_t want, double katran)
{
	double t[ROUNDS], f[ROUNDS], tm, fm;
	uint32_t ret = 0;

	if (!wanted(name))
		return 0;

	for (int r = 0; r < ROUNDS; r++) {
		if ((prep == P_EMPTY || prep == P_FULL || (prep == P_RR && !r)) && flows_reset())
			return -1;
		/* fill: every run a new flow; round robin: every flow once first */
		if ((prep == P_FULL && run(prog, 3 * FLOW_TABLE, NULL) < 0) ||
		    (prep == P_RR && !r && run(prog, RR_FLOWS, NULL) < 0) ||
		    (prep == P_NONE && run(prog, 16, NULL) < 0))
			return -1;
		t[r] = run(prog, repeat, &ret);
		f[r] = run(floor, repeat, NULL);
		if (t[r] < 0 || f[r] < 0)
			return -1;
	}
	if (ret != want) {
		fprintf(stderr, "bench_lb: %s: verdict %u, expected %u\n", name, ret, want);
		return -1;
	}
	qsort(t, ROUNDS, sizeof(*t), cmp_double);
	qsort(f, ROUNDS, sizeof(*f), cmp_double);
	tm = t[ROUNDS / 2];
	fm = f[ROUNDS / 2];
	if (katran > 0)
		printf("  %-46s %7.0f %7.0f %7.0f %9.0f\n", name, tm, fm, tm - fm, katran);
	else
		printf("  %-46s %7.0f %7.0f %7.0f %9s\n", name, tm, fm, tm - fm, "-");
	return 0;
}

/*
 * A development aid (SLUICE_BENCH_LB_LRU=1): a bare LRU hash insert (a new
 * key every run, BPF_NOEXIST) into a fresh map of ENTRIES keys of KSZ bytes,
 * one LRU list or one per CPU, into the map itself or through an array of
 * maps (as lb_flowtab); into a map filled with 3 x ENTRIES first; or a
 * lookup that hits. Median ns net of the key's floor, or < 0.
 */
enum lru_how { LRU_INS, LRU_INS_IN, LRU_FULL_IN, LRU_LOOK, LRU_LOOK_IN, LRU_HOW_MAX };

static double lru_case(uint32_t entries, uint32_t ksz, bool percpu, enum lru_how how)
{
	double t[ROUNDS], f[ROUNDS];
	uint32_t ret = 0;

	for (int r = 0; r < ROUNDS; r++) {
		struct bench_lru *o = bench_lru__open();
		uint32_t flags = percpu ? BPF_F_NO_COMMON_LRU : 0, zero = 0;
		LIBBPF_OPTS(bpf_map_create_opts, mo, .map_flags = flags);
		int fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "lbb_lru", ksz, 40, entries, &mo);
		struct bpf_program *prog, *floor;

		if (!o || fd < 0) {
			bench_lru__destroy(o);
			return -1;
		}
		o->rodata->key_size = ksz;
		if (bpf_map__set_key_size(o->maps.lru, ksz) ||
		    bpf_map__set_max_entries(o->maps.lru, entries) ||
		    bpf_map__set_map_flags(o->maps.lru, flags) ||
		    bpf_map__set_inner_map_fd(o->maps.lru_outer, fd) || bench_lru__load(o) ||
		    bpf_map_update_elem(bpf_map__fd(o->maps.lru_outer), &zero, &fd, BPF_ANY)) {
			bench_lru__destroy(o);
			close(fd);
			return -1;
		}
		close(fd);
		prog = how == LRU_INS ? o->progs.lru_ins : how == LRU_LOOK ? o->progs.lru_look :
		       how == LRU_LOOK_IN ? o->progs.lru_look_in : o->progs.lru_in;
		floor = how >= LRU_LOOK ? o->progs.lru_floor_same : o->progs.lru_floor;
		/* full: filled first; a lookup: of the key inserted by one run */
		t[r] = how == LRU_FULL_IN ? run(o->progs.lru_in, 3 * entries, NULL) :
		       how == LRU_LOOK ? run(o->progs.lru_ins, 1, NULL) :
		       how == LRU_LOOK_IN ? run(o->progs.lru_in, 1, NULL) : 0;
		t[r] = t[r] < 0 ? -1 : run(prog, how >= LRU_LOOK ? REPEAT : NEW_REPEAT, &ret);
		f[r] = run(floor, how >= LRU_LOOK ? REPEAT : NEW_REPEAT, NULL);
		bench_lru__destroy(o);
		if (t[r] < 0 || f[r] < 0 || (how >= LRU_LOOK && ret != XDP_DROP))
			return -1;
	}
	qsort(t, ROUNDS, sizeof(*t), cmp_double);
	qsort(f, ROUNDS, sizeof(*f), cmp_double);
	return t[ROUNDS / 2] - f[ROUNDS / 2];
}

static int lru_table(void)
{
	static const uint32_t sizes[] = { 8192, FLOW_TABLE };

	printf("\nbare LRU hash, ns net of the key's floor, medians of %d: insert (BPF_NOEXIST, "
	       "a new key every run) into the map, through an array of maps, into a full one; "
	       "a lookup that hits\n", ROUNDS);
	printf("  %-8s %-4s %-8s %8s %8s %8s %8s %8s\n", "entries", "key", "LRU", "insert",
	       "inner", "full in", "lookup", "inner");
	for (int s = 0; s < 2; s++)
		for (uint32_t ksz = 16; ksz <= 40; ksz += 24)
			for (int pc = 0; pc < 2; pc++) {
				double v[LRU_HOW_MAX];

				for (int h = 0; h < LRU_HOW_MAX; h++) {
					v[h] = lru_case(sizes[s], ksz, pc, h);
					if (v[h] < 0)
						return -1;
				}
				printf("  %-8u %-4u %-8s %8.0f %8.0f %8.0f %8.0f %8.0f\n", sizes[s],
				       ksz, pc ? "per-CPU" : "common", v[0], v[1], v[2], v[3], v[4]);
			}
	return 0;
}

static const char *const POLICY =
	"firewall:\n  interfaces: [\"slt*\"]\n  default: allow\n  stateful: false\n"
	"loadbalancers:\n"
	"  - name: nat\n    vip: 192.0.2.10\n    port: 80\n    backends:\n"
	"      - { addr: 198.51.100.11, port: 8080 }\n"
	"      - { addr: 198.51.100.12, port: 8080 }\n"
	"      - { addr: 198.51.100.13, port: 8080 }\n"
	"  - name: dsr\n    vip: 192.0.2.20\n    port: 80\n    mode: dsr\n"
	"    encap-source: 198.51.100.0/24\n    backends:\n"
	"      - { addr: 198.51.100.11, port: 80 }\n"
	"      - { addr: 198.51.100.12, port: 80 }\n"
	"      - { addr: 198.51.100.13, port: 80 }\n"
	"  - name: dns\n    vip: 192.0.2.10\n    port: 53\n    proto: udp\n    backends:\n"
	"      - { addr: 198.51.100.11, port: 5353 }\n"
	"      - { addr: 198.51.100.12, port: 5353 }\n"
	"      - { addr: 198.51.100.13, port: 5353 }\n"
	/* backends out of the interface the clients come in on: XDP_TX (Katran's case) */
	"  - name: nat-tx\n    vip: 192.0.2.30\n    port: 80\n    backends:\n"
	"      - { addr: 203.0.113.11, port: 8080 }\n"
	"      - { addr: 203.0.113.12, port: 8080 }\n"
	"      - { addr: 203.0.113.13, port: 8080 }\n"
	"  - name: dsr-tx\n    vip: 192.0.2.40\n    port: 80\n    mode: dsr\n"
	"    encap-source: 198.51.100.0/24\n    backends:\n"
	"      - { addr: 203.0.113.11, port: 80 }\n"
	"      - { addr: 203.0.113.12, port: 80 }\n"
	"      - { addr: 203.0.113.13, port: 80 }\n";

static int setup(void)
{
	struct sl_policy pol;
	struct sl_diags d = {};
	struct bpf_map *m;
	struct fw_map_fds fds;
	struct lb_fds lfds;
	int if1, err;
	uint32_t k = 0;

	if (lb_testnet_setup(&if0, &if1) ||
	    sh("for n in 11 12 13; do ip neigh add 203.0.113.$n lladdr 02:cc:00:00:00:$n dev slt0 "
	       "nud permanent || exit 1; done"))
		return -1;
	fw = sluice_xdp__open_and_load();
	lbb = bench_lb__open();
	if (!fw || !lbb) {
		fprintf(stderr, "bench_lb: loading the BPF objects failed\n");
		return -1;
	}
	/* the bench program runs on sluice_xdp's maps */
	bpf_object__for_each_map(m, lbb->obj) {
		struct bpf_map *src = bpf_object__find_map_by_name(fw->obj, bpf_map__name(m));

		if (!src || strchr(bpf_map__name(m), '.'))
			continue;
		if (bpf_map__reuse_fd(m, bpf_map__fd(src)))
			return -1;
	}
	if (bench_lb__load(lbb) || fw_map_fds_from_obj(fw->obj, &fds) ||
	    lb_fds_from_obj(fw->obj, &lfds))
		return -1;
	k = bpf_program__fd(fw->progs.sluice_xdp);
	if (bpf_map_update_elem(bpf_map__fd(lbb->maps.lbb_next), &(uint32_t){ 0 }, &k, BPF_ANY))
		return -1;
	snprintf(dir, sizeof(dir), "/tmp/slbl-XXXXXX");
	if (!mkdtemp(dir)) {
		dir[0] = 0;
		return -1;
	}
	st = calloc(1, sizeof(*st));
	if (!st || lb_state_init(st, &lfds) || write_file(dir, "policy.yaml", POLICY) ||
	    apply_pol(dir, &fds, 1, false, &pol))
		return -1;
	err = lb_apply(st, &pol, 1, &d);
	if (err)
		sl_diags_print(stderr, &d);
	sl_diags_free(&d);
	policy_free(&pol);
	if (err || lb_devmap_set(st, if0, true) || lb_devmap_set(st, if1, true))
		return -1;
	return 0;
}

/* ---- live frames ---- */

/* Where live frames are refused: the fan-out generator into vg (bench_veth.h). */
static struct veth_fan fan = { .psock = -1 };

/* Frames per second (M) arriving at the backend's veth vd, best of LIVE_ROUNDS. */
static double live_rate(int home, int gen, const uint8_t *frame)
{
	uint8_t *frames = fan.psock >= 0 ? veth_fan_frames(gen, frame, FRAME_LEN) : NULL;
	double best = 0;

	if (fan.psock >= 0 && !frames)
		return -1;
	for (int r = 0; r < LIVE_ROUNDS; r++) {
		long long rx0 = veth_stat(ns_d, "vd", "rx_queue_0_xdp_packets"), rx1;
		LIBBPF_OPTS(bpf_test_run_opts, opts,
			.data_in = frame,
			.data_size_in = FRAME_LEN,
			.repeat = LIVE_FRAMES,
			.flags = BPF_F_TEST_XDP_LIVE_FRAMES,
		);
		double t0, dt;

		if (frames) {
			t0 = now_s();
			if (veth_fan_send(&fan, frames, FRAME_LEN, LIVE_FRAMES)) {
				free(frames);
				return -1;
			}
			dt = now_s() - t0;
			goto counted;
		}
		if (enter_ns(ns_g))
			return -1;
		t0 = now_s();
		if (bpf_prog_test_run_opts(gen, &opts)) {
			fprintf(stderr, "bench_lb: live frames: %s\n", strerror(errno));
			setns(home, CLONE_NEWNET);
			return -1;
		}
		dt = now_s() - t0;
		setns(home, CLONE_NEWNET);
counted:
		rx1 = veth_stat(ns_d, "vd", "rx_queue_0_xdp_packets");
		if (rx0 < 0 || rx1 < 0) {
			free(frames);
			return -1;
		}
		if (getenv("SLUICE_BENCH_DEBUG"))
			fprintf(stderr, "rx %lld in %.3f s\n", rx1 - rx0, dt);
		if ((rx1 - rx0) / dt / 1e6 > best)
			best = (rx1 - rx0) / dt / 1e6;
	}
	free(frames);
	return best;
}

/*
 *   ns g: veth vg  ->  ns l: veth vl (the load balancer), veth vc  ->  ns d: veth vd
 * vl: sluice_xdp (NAT to 198.51.100.11..13) or nftables DNAT; vd: XDP_DROP, counted.
 */
static int live(void)
{
	struct bench_floor *fl = NULL;
	struct bench_gen *gen = NULL;
	struct bpf_link *lb_link = NULL, *d_link = NULL;
	uint8_t frame[FRAME_LEN];
	double sl, nft;
	int home, ifb, ifc, ifd, ifa, rc = -1;
	pid_t pid = getpid();

	home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	snprintf(ns_g, sizeof(ns_g), "slbl-%d-g", pid);
	snprintf(ns_l, sizeof(ns_l), "slbl-%d-l", pid);
	snprintf(ns_d, sizeof(ns_d), "slbl-%d-d", pid);
	/* the named namespaces live in the host's /run/netns; ip works from any netns */
	if (home < 0 || sh("ip netns add %s && ip netns add %s && ip netns add %s", ns_g, ns_l, ns_d) ||
	    sh("ip -n %s link add vg type veth peer name vl netns %s", ns_g, ns_l) ||
	    sh("ip -n %s link add vc address 02:00:00:00:00:c1 type veth peer name vd netns %s "
	       "address 02:bb:00:00:00:11", ns_l, ns_d) ||
	    sh("ip -n %s link set vl address 02:00:00:00:00:b1", ns_l) ||
	    sh("ip -n %s link set vg up && ip -n %s link set vl up && ip -n %s link set vc up && "
	       "ip -n %s link set vd up", ns_g, ns_l, ns_l, ns_d) ||
	    sh("ip -n %s addr add 203.0.113.1/24 dev vl && ip -n %s addr add 198.51.100.1/24 dev vc",
	       ns_l, ns_l) ||
	    sh("ip -n %s neigh add 203.0.113.50 lladdr 02:cc:00:00:00:50 dev vl nud permanent",
	       ns_l) ||
	    sh("for n in 11 12 13; do ip -n %s neigh add 198.51.100.$n lladdr 02:bb:00:00:00:11 "
	       "dev vc nud permanent || exit 1; done", ns_l) ||
	    sh("ip netns exec %s sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 "
	       "net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.vl.rp_filter=0", ns_l) ||
	    sh("ip netns exec %s ethtool -K vl gro on >/dev/null", ns_l))
		goto out;
	if (enter_ns(ns_g))
		goto out;
	ifa = if_nametoindex("vg");
	setns(home, CLONE_NEWNET);
	if (enter_ns(ns_l))
		goto out;
	ifb = if_nametoindex("vl");
	ifc = if_nametoindex("vc");
	/* the devmap names interfaces of the namespace of the writer */
	if (!ifb || !ifc || lb_devmap_set(st, ifb, true) || lb_devmap_set(st, ifc, true)) {
		setns(home, CLONE_NEWNET);
		goto out;
	}
	setns(home, CLONE_NEWNET);
	if (enter_ns(ns_d))
		goto out;
	ifd = if_nametoindex("vd");
	setns(home, CLONE_NEWNET);
	fl = bench_floor__open_and_load();
	gen = bench_gen__open();
	if (!ifa || !ifd || !fl || !gen)
		goto out;
	gen->rodata->tx_ifindex = ifa;
	make_frame(frame, 0xc000020a, 53, F_UDP);	/* UDP to 192.0.2.10:53 */
	memcpy(frame, "\x02\x00\x00\x00\x00\xb1", 6);	/* to vl */
	memcpy((void *)gen->rodata->tmpl, frame, sizeof(gen->rodata->tmpl));
	if (bench_gen__load(gen))
		goto out;
	if (enter_ns(ns_d))
		goto out;
	d_link = bpf_program__attach_xdp(fl->progs.floor_same, ifd);
	setns(home, CLONE_NEWNET);
	if (!d_link)
		goto out;

	printf("\nreal frames through veths (generator -> vl: load balancer -> vc -> vd: counted), "
	       "%u UDP frames of %d bytes, best of %d, one CPU\n", LIVE_FRAMES, FRAME_LEN,
	       LIVE_ROUNDS);
	if (veth_live_probe(ns_g, home, bpf_program__fd(gen->progs.gen_tmpl), frame,
			    FRAME_LEN) == -EPERM) {
		veth_live_refused("bench_lb", true);
		if (veth_fan_make(&fan, ns_g, home, ifa, "vg"))
			goto out;
	}
	if (enter_ns(ns_l))
		goto out;
	lb_link = bpf_program__attach_xdp(fw->progs.sluice_xdp, ifb);
	setns(home, CLONE_NEWNET);
	if (!lb_link)
		goto out;
	sl = live_rate(home, bpf_program__fd(gen->progs.gen_tmpl), frame);
	bpf_link__destroy(lb_link);
	lb_link = NULL;
	if (sh("ip netns exec %s nft -f - <<'EOF'\n"
	       "table ip lbb {\n"
	       "  chain pre {\n"
	       "    type nat hook prerouting priority -100;\n"
	       "    ip daddr 192.0.2.10 udp dport 53 dnat to jhash ip saddr . udp sport mod 3 "
	       "map { 0 : 198.51.100.11, 1 : 198.51.100.12, 2 : 198.51.100.13 } : 5353\n"
	       "  }\n"
	       "}\nEOF", ns_l))
		goto out;
	nft = live_rate(home, bpf_program__fd(gen->progs.gen_tmpl), frame);
	if (sl <= 0 || nft <= 0)
		goto out;
	printf("  %-46s %8s\n", "", "Mpps");
	printf("  %-46s %8.2f\n", "sluice: XDP NAT, XDP_REDIRECT", sl);
	printf("  %-46s %8.2f\n", "nftables: DNAT (jhash map), conntrack, forward", nft);
	printf("  %-46s %8.1fx\n", "sluice / nftables", sl / nft);
	rc = 0;
out:
	veth_fan_del(&fan);
	bpf_link__destroy(lb_link);
	bpf_link__destroy(d_link);
	bench_gen__destroy(gen);
	bench_floor__destroy(fl);
	if (home >= 0)
		close(home);
	if (rc)
		fprintf(stderr, "bench_lb: the live-frames run failed\n");
	return rc;
}

int main(void)
{
	__typeof__(lbb->progs) *p;
	const char *name_reply;
	uint8_t frame[FRAME_LEN];
	int rc = 1;

	if (!getenv("SLUICE_BENCH_DEBUG"))
		libbpf_set_print(quiet);
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (setup()) {
		fprintf(stderr, "bench_lb: setup failed\n");
		return 1;
	}
	p = &lbb->progs;
	printf("sluice load balancer, BPF_PROG_TEST_RUN, ns/packet (medians of %d, floor: the "
	       "same frame restore, then XDP_DROP)\n", ROUNDS);
	printf("  %-46s %7s %7s %7s %9s\n", "case", "ns", "floor", "net", "Katran net");
	for (int mode = 0; mode < 2; mode++) {
		uint32_t vip = mode ? 0xc0000214 : 0xc000020a;	/* 192.0.2.20 dsr, .10 nat */
		const char *m = mode ? "dsr" : "nat";
		char name[64];

		make_frame(frame, 0xcb007163, 80, F_ACK);	/* not a VIP: 203.0.113.99 */
		if (set_frame(frame, RR_FLOWS))
			goto out;
		snprintf(name, sizeof(name), "%s: not for a VIP (pass)", m);
		if (row(name, p->lbb_same, p->lbb_floor, P_NONE, REPEAT, XDP_PASS, 27))
			goto out;
		/* established: ACKs of a flow (the first one opened it) */
		make_frame(frame, vip, 80, F_ACK);
		if (set_frame(frame, RR_FLOWS))
			goto out;
		snprintf(name, sizeof(name), "%s: established flow", m);
		if (row(name, p->lbb_same, p->lbb_floor, P_NONE, REPEAT, XDP_REDIRECT, 66))
			goto out;
		/* the same, its backend out of the interface it came in on */
		make_frame(frame, vip + 0x14, 80, F_ACK);	/* 192.0.2.30 nat, .40 dsr */
		if (set_frame(frame, RR_FLOWS))
			goto out;
		snprintf(name, sizeof(name), "%s: established flow, out where it came (TX)", m);
		if (row(name, p->lbb_same, p->lbb_floor, P_NONE, REPEAT, XDP_TX, 66))
			goto out;
		/* its backend's replies, back to the client as from VIP:80 (out where they came) */
		name_reply = "nat: reply of an established flow";
		if (!mode && wanted(name_reply) &&
		    (make_reply(frame, vip) || set_frame(frame, RR_FLOWS) ||
		     row(name_reply, p->lbb_same, p->lbb_floor, P_NONE, REPEAT, XDP_TX, 0)))
			goto out;
		make_frame(frame, vip, 80, F_ACK);
		if (set_frame(frame, RR_FLOWS))
			goto out;
		snprintf(name, sizeof(name), "%s: established, %uk flows round robin", m,
			 RR_FLOWS / 1000);
		if (row(name, p->lbb_rr, p->lbb_floor, P_RR, REPEAT, XDP_REDIRECT, 0))
			goto out;
		make_frame(frame, vip, 80, F_SYN);
		if (set_frame(frame, RR_FLOWS))
			goto out;
		snprintf(name, sizeof(name), "%s: new flow (SYN)", m);
		if (row(name, p->lbb_rand, p->lbb_floor, P_EMPTY, NEW_REPEAT, XDP_REDIRECT, 315))
			goto out;
		snprintf(name, sizeof(name), "%s: new flow, full flow table", m);
		if (row(name, p->lbb_rand, p->lbb_floor, P_FULL, NEW_REPEAT, XDP_REDIRECT, 650))
			goto out;
	}
	make_frame(frame, 0xc000020a, 80, F_ACK);
	if (set_frame(frame, RR_FLOWS) ||
	    row("pipeline (firewall + LB): nat, established", p->lbb_pipe, p->lbb_floor, P_NONE,
		REPEAT, XDP_REDIRECT, 0))
		goto out;
	if (getenv("SLUICE_BENCH_LB_LRU") && lru_table())
		goto out;
	rc = getenv("SLUICE_BENCH_LB_ONLY") ? 0 : live() ? 1 : 0;
out:
	if (st)
		lb_state_free(st);
	free(st);
	bench_lb__destroy(lbb);
	sluice_xdp__destroy(fw);
	return rc;
}
