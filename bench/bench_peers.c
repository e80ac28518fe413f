// SPDX-License-Identifier: GPL-2.0-only
/*
 * sluice beside its peers in one run, on the same traffic through the same
 * veth pair (bench_veth.h), one CPU:
 *   - XDP_DROP (the floor) and XDP_PASS (every frame to the stack);
 *   - the ceiling: a program dropping the listed sources by two constant
 *     tests, no lookup (what no real filter can beat on this traffic);
 *   - xdp-filter (Debian's xdp-tools), loaded and filled by its own CLI with
 *     1,000 address and 1,000 port rules;
 *   - an nftables netdev ingress chain dropping by a set of 100k prefixes
 *     (behind XDP_PASS: veth takes redirected frames only with a program);
 *   - sluice denying by the same 100k prefixes, stateless and stateful, drop
 *     events on at the agent's default rate; and stateful with the rule
 *     `early: true` (checked before conntrack: a listed source costs no
 *     conntrack lookup). The early policy sits in a slot of its own beside
 *     the other, each case switching the interface to its slot as a reload
 *     does (one word).
 * The set is mixed as threat feeds are (40% /32, 20% /28, 40% /24, bench_gen.h)
 * plus the listed documentation prefixes the traffic hits. Traffic
 * (gen_doc): sources from the documentation ranges only, HIT_256 / 256 of
 * them listed (dropped by every filter), the rest passed to the stack.
 * Each live row also gives the attached program's own ns/frame (bpf_stats,
 * in a pass of its own after the Mpps rounds): what the program costs live
 * apart from the rest of the frame's path.
 * Then BPF_PROG_TEST_RUN ns/packet of xdp-filter's program (found on the
 * veth where its CLI attached it) beside sluice's on the same packets, each
 * verdict checked against the list. SLUICE_BENCH_PEERS_TRSTATS=1: those
 * figures by bpf_stats instead (each run timed alone: the test run's own
 * figure is the loop's, in which a program's latency can hide behind the
 * loop's work, so a longer program may read as no slower).
 * SLUICE_BENCH_PEERS_HIT=N: the first mix lists N of 256 sources instead of
 * 224 (0: every frame passed to the stack). SLUICE_BENCH_PEERS_PAIRS=R:
 * instead of the two tables, R rounds in each of which every filter runs
 * both mixes back to back (live_pairs): what one filter's passed frames
 * cost more than another's, without the load moving between the tables.
 *
 * Namespaces and veths are named pe-<pid>-*; xdp-filter runs in a mount
 * namespace of its own with a private bpffs at /sys/fs/bpf (its CLI pins
 * there, at a fixed path), so nothing of it outlives the run.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/if_link.h>

#include "bench_util.h"
#include "bench_veth.h"
#include "ct.h"
#include "bench_floor.skel.h"
#include "bench_gen.skel.h"
#include "sluice_xdp.skel.h"

#define SET_N		100000u		/* generated prefixes of the set */
#define HIT_256		224		/* listed sources: 7 of 8 frames (a blocklist under attack) */
#define HIT_ALL		256		/* the other mix: every frame listed (the filters alone) */
#define PAIRS_MAX	201		/* SLUICE_BENCH_PEERS_PAIRS rounds at most */
#define FRAMES		1000000u	/* per live measurement */
#define ROUNDS		3
#define STATS_ROUNDS	3
#define FRAME_LEN	VETH_RIG_FRAME_LEN
#define NPKT		64		/* distinct packets of the test runs */
#define REPEAT		20000u		/* test runs of each */
#define TR_ROUNDS	5
#define XF_ADDRS	1000
#define XF_PORTS	1000

static struct veth_rig rig;
static char dir[64];
/*
 * The program's own ns/frame live (kernel.bpf_stats run_time_ns / run_cnt
 * of the attached program, tail calls included), measured in a pass of its
 * own after the Mpps rounds: stats on cost every program the same two clock
 * reads a run, so the Mpps rows are measured with them off.
 */
static bool stats_pass;
static bool tr_stats;	/* SLUICE_BENCH_PEERS_TRSTATS: the test runs' ns by bpf_stats too */

static void cleanup(void)
{
	char path[128];

	veth_rig_del(&rig);
	if (!dir[0])
		return;
	for (int i = 0; i < 6; i++) {
		static const char *const files[] = { "blk.nft", "chain.nft", "unchain.nft",
			"xdp-filter.sh", "xdp-filter.args", "xdp-filter.sh.status" };

		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	remove_dir(dir);
}

static void on_signal(int sig)
{
	(void)sig;
	exit(1);	/* runs cleanup() through atexit */
}

/* The listed documentation prefixes, as gen_doc's comment says. */
static bool listed(uint32_t a)
{
	return (a & 0xffffff00) == 0xcb007100 || (a & 0xffffff80) == 0xc0000200;
}

static void put_addr(FILE *f, uint32_t a, uint32_t len, const char *sep)
{
	fprintf(f, "%u.%u.%u.%u/%u%s", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff, len,
		sep);
}

/*
 * The documentation prefixes listed beside the generated ones: 203.0.113.0/24,
 * 192.0.2.0/28 and 192.0.2.16 .. 127 one by one (so the split /24 also holds
 * single addresses and a /28).
 */
static void put_doc(FILE *f, const char *sep)
{
	put_addr(f, 0xcb007100, 24, sep);
	put_addr(f, 0xc0000200, 28, sep);
	for (uint32_t h = 16; h < 128; h++)
		put_addr(f, 0xc0000200 | h, 32, sep);
}

/*
 * DIR/big.txt (sluice's set file) and DIR/blk.nft (an nft table with the
 * set): the same prefixes; DIR/chain.nft and unchain.nft add and remove the
 * ingress chain on IFNAME that drops by the set. Fails when a generated
 * prefix covers a source meant to pass (the traffic mix would be wrong).
 */
static int write_sets(const char *ifname)
{
	char path[256];
	FILE *b, *n;

	snprintf(path, sizeof(path), "%s/big.txt", dir);
	b = fopen(path, "we");
	snprintf(path, sizeof(path), "%s/blk.nft", dir);
	n = fopen(path, "we");
	if (!b || !n) {
		if (b)
			fclose(b);
		if (n)
			fclose(n);
		return -errno;
	}
	fprintf(n, "table netdev pe {\n  set blk {\n    type ipv4_addr\n    flags interval\n"
		"    auto-merge\n    elements = {\n");
	for (uint32_t i = 0; i < SET_N; i++) {
		uint32_t a = sl_bench_base(i, SL_BENCH_MIX), len = sl_bench_len(i, SL_BENCH_MIX);
		uint32_t mask = 0xffffffffu << (32 - len);

		if ((0xc6336400 & mask) == a || (0xc0000280 & mask) == a) {
			fprintf(stderr, "bench_peers: generated prefix %u covers passed sources\n", i);
			fclose(b);
			fclose(n);
			return -EINVAL;
		}
		put_addr(b, a, len, "\n");
		put_addr(n, a, len, ",\n");
	}
	put_doc(b, "\n");
	put_doc(n, ",\n");
	fprintf(n, "    }\n  }\n}\n");
	if (fclose(n) | fclose(b))
		return -EIO;
	snprintf(path, sizeof(path), "add chain netdev pe in { type filter hook ingress device %s "
		 "priority 0; policy accept; }\nadd rule netdev pe in ip saddr @blk drop\n", ifname);
	if (write_file(dir, "chain.nft", path) ||
	    write_file(dir, "unchain.nft", "flush chain netdev pe in\ndelete chain netdev pe in\n"))
		return -EIO;
	return 0;
}

struct peers {
	struct sluice_xdp *fw;
	struct bench_floor *fl;
	struct fw_map_fds fds;
	struct sl_ct_config ct[2];	/* ct_cfg of the stateless and the stateful policy */
	uint32_t slot[2];		/* policy slots: the rule as written, and early */
	int gen_fd, xf_fd;
	int hit;		/* of 256 frames, listed */
	uint8_t frame[FRAME_LEN];
};

static int write_policy(bool stateful, bool early)
{
	char text[512];

	snprintf(text, sizeof(text),
		 "sets:\n  blk:\n    file: big.txt\n"
		 "firewall:\n  interfaces: [pe0]\n  default: deny\n  stateful: %s\n  rules:\n"
		 "    - { name: blk, action: deny, early: %s, src: [\"@blk\"] }\n"
		 "    - { name: dns, action: allow, proto: udp, dport: [53] }\n",
		 stateful ? "true" : "false", early ? "true" : "false");
	return write_file(dir, "policy.yaml", text);
}

/* ct_cfg of the stateless or the stateful policy, as the agent writes it: 0 or -1. */
static int sluice_ct(struct peers *p, bool stateful)
{
	static uint32_t gen;
	uint32_t k = 0;

	p->ct[stateful].gen = ++gen;
	if (bpf_map_update_elem(bpf_map__fd(p->fw->maps.ct_cfg), &k, &p->ct[stateful], BPF_ANY)) {
		fprintf(stderr, "bench_peers: writing ct_cfg: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Drop events on, at the agent's default rate (sluiced --event-rate): a
 * flood's drops pay the limiter as they do in production (nothing reads
 * the ring buffer; the events over the rate are counted, not sent).
 */
static int sluice_events(struct peers *p)
{
	struct sl_ev_config ec = { .rate = 1000 };
	uint32_t k = 0;

	if (bpf_map_update_elem(bpf_map__fd(p->fw->maps.sl_ev_cfg), &k, &ec, BPF_ANY)) {
		fprintf(stderr, "bench_peers: writing sl_ev_cfg: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Apply the policy (stateless or stateful) the real way; keep its ct_cfg
 * for sluice_ct (both compile to the same tables: only ct_cfg differs).
 * The conntrack shards are created the first time, as the agent does.
 */
static int sluice_policy(struct peers *p, bool stateful)
{
	static uint32_t shards;
	struct sl_policy pol;
	double t0 = now_s();
	uint32_t max;

	if (write_policy(stateful, false) || apply_pol(dir, &p->fds, 1 + stateful, false, &pol))
		return -1;
	ct_config_compile(&pol, &p->ct[stateful], &max);
	policy_free(&pol);
	struct ct_tables t = { bpf_map__fd(p->fw->maps.ct4_shards),
			       bpf_map__fd(p->fw->maps.ct_shards) };

	if (!shards && ct_shards_create(&t, max, &shards)) {
		fprintf(stderr, "bench_peers: creating the conntrack shards failed\n");
		return -1;
	}
	p->ct[stateful].shards = shards;
	/* the lookup filter, as the agent turns it on once the table is stamped (empty here) */
	p->ct[stateful].filter = stateful;
	if (sluice_ct(p, stateful) || sluice_events(p))
		return -1;
	printf("  sluice: the policy (%s) compiled and written in %.2f s\n",
	       stateful ? "stateful" : "stateless", now_s() - t0);
	return 0;
}

/*
 * The stateful policy with rule blk early, compiled the real way into a
 * policy slot of its own (P->slot[1]); the one in force is P->slot[0].
 */
static int sluice_early_slot(struct peers *p)
{
	struct sl_diags diags = { 0 };
	struct fw_tables t = { 0 };
	struct sl_policy pol;
	int err;

	if (fw_ifslot_get(&p->fds, SLUICE_IFSLOT_DEFAULT, &p->slot[0]) || write_policy(true, true))
		return -1;
	err = policy_load_dir(dir, &pol, &diags);
	if (!err) {
		err = fw_compile(&pol, policy_fw(&pol, 0), 3, &t, &diags);
		policy_free(&pol);
	}
	if (!err)
		err = fw_slot_free(&p->fds, &p->slot[1]);
	if (!err)
		err = fw_slot_write(&p->fds, p->slot[1], &t, NULL, &diags);
	if (!err && !t.cfg.early)
		err = -EINVAL;
	fw_tables_free(&t);
	if (err) {
		fprintf(stderr, "bench_peers: the early policy: %s\n", strerror(-err));
		sl_diags_print(stderr, &diags);
	}
	sl_diags_free(&diags);
	return err ? -1 : 0;
}

/* The interfaces on policy slot EARLY (the early one) or the other, as a reload switches. */
static int sluice_slot(struct peers *p, bool early)
{
	if (fw_ifslot_set(&p->fds, SLUICE_IFSLOT_DEFAULT, p->slot[early])) {
		fprintf(stderr, "bench_peers: switching the policy slot failed\n");
		return -1;
	}
	return 0;
}

/*
 * xdp-filter on veth B, by its CLI in B's namespace and a private mount
 * namespace: 1,000 source addresses (the listed documentation ones, then
 * generated /32s of the set) and 1,000 destination ports (1000-1999, which
 * the traffic never uses: looked up, never hit), one CLI call each (it
 * takes a lock: calls at once fail); its
 * status must list them all. Its program fd (it stays attached), or -1.
 */
static int xdp_filter_load(void)
{
	char path[128], args[128];
	__u32 id = 0;
	double t0;
	int nip = 0, fd = -1;
	FILE *f;

	snprintf(args, sizeof(args), "%s/xdp-filter.args", dir);
	f = fopen(args, "we");
	if (!f)
		return -1;
	for (uint32_t h = 0; h < 256; h++, nip++)
		fprintf(f, "ip -m src 203.0.113.%u\n", h);
	for (uint32_t h = 0; h < 128; h++, nip++)
		fprintf(f, "ip -m src 192.0.2.%u\n", h);
	for (uint32_t i = 0; nip < XF_ADDRS; i++) {
		uint32_t a = sl_bench_base(i, SL_BENCH_MIX);

		if (sl_bench_len(i, SL_BENCH_MIX) != 32 || listed(a))
			continue;
		fprintf(f, "ip -m src %u.%u.%u.%u\n", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff,
			a & 0xff);
		nip++;
	}
	for (int p = 0; p < XF_PORTS; p++)
		fprintf(f, "port -m dst %d\n", 1000 + p);
	if (fclose(f))
		return -1;
	snprintf(path, sizeof(path), "%s/xdp-filter.sh", dir);
	f = fopen(path, "we");
	if (!f)
		return -1;
	/* /run private too: xdp-filter's lock file is there, and another bench's calls take it */
	fprintf(f, "set -e\nmount -t bpf bpf /sys/fs/bpf\nmount -t tmpfs tmpfs /run\n"
		"xdp-filter load -p allow %s\n"
		"xargs -L 1 xdp-filter < %s\nxdp-filter status > %s.status\n"
		"test $(grep -cE '^ +[0-9.]+ +src ' %s.status) = %d\n"
		"test $(grep -cE '^ +[0-9]+ +dst' %s.status) = %d\n",
		rig.if_b, args, path, path, XF_ADDRS, path, XF_PORTS);
	if (fclose(f))
		return -1;
	t0 = now_s();
	if (sh("nsenter --net=/run/netns/%s unshare --mount --propagation private sh %s",
	       rig.ns_b, path))
		return -1;
	printf("  xdp-filter: loaded with %d address and %d port rules by its CLI in %.1f s\n",
	       nip, XF_PORTS, now_s() - t0);
	if (enter_ns(rig.ns_b))
		return -1;
	if (!bpf_xdp_query_id(rig.ifindex_b, XDP_FLAGS_DRV_MODE, &id) && id)
		fd = bpf_prog_get_fd_by_id(id);
	setns(rig.home, CLONE_NEWNET);
	if (fd < 0)
		fprintf(stderr, "bench_peers: xdp-filter's program not found on %s\n", rig.if_b);
	return fd;
}

enum { L_DROP, L_PASS, L_CEIL, L_XF, L_NFT, L_SL, L_SLCT, L_SLEA, L_N };
static const char *const live_name[L_N] = {
	"floor: XDP_DROP", "XDP_PASS, no filter", "ceiling: constant test of the list",
	"xdp-filter, 1,000 address + 1,000 port rules",
	"nft netdev ingress, 100k-prefix set", "sluice, 100k-prefix set, stateless",
	"sluice, 100k-prefix set, stateful", "sluice stateful, blk rule early",
};

/* xdp-filter's program attached (legacy netlink, as its CLI does) or detached: 0 or -1. */
static int xdp_filter_attach(int fd)
{
	int err;

	if (enter_ns(rig.ns_b))
		return -1;
	if (fd >= 0)
		err = bpf_xdp_attach(rig.ifindex_b, fd, XDP_FLAGS_DRV_MODE, NULL);
	else
		err = bpf_xdp_detach(rig.ifindex_b, XDP_FLAGS_DRV_MODE, NULL);
	setns(rig.home, CLONE_NEWNET);
	if (err)
		fprintf(stderr, "bench_peers: xdp-filter's program on %s: %s\n", rig.if_b,
			strerror(-err));
	return err ? -1 : 0;
}

/* nft's ingress chain (the set stays loaded): `nft -f` of DIR/NAME in namespace B. */
static int nft_file(const char *name)
{
	return sh("nsenter --net=/run/netns/%s nft -f %s/%s", rig.ns_b, dir, name);
}

/* run_time_ns and run_cnt of program FD so far (bpf_stats): 0 or -1. */
static int prog_stats(int fd, __u64 *ns, __u64 *cnt)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -1;
	*ns = info.run_time_ns;
	*cnt = info.run_cnt;
	return 0;
}

/*
 * One round of case C: set it up, send the frames, take it down. Mpps, or
 * -1 also when the share of frames dropped in XDP is not what the case
 * must drop (all for the floor, none for XDP_PASS and nft's XDP_PASS, the
 * listed ones for the filters): every peer must do the same work. In the
 * stats pass, *PROG_NS: the attached program's ns per run.
 */
static double live_case(struct peers *p, int c, double *prog_ns)
{
	struct bpf_program *prog = c == L_DROP ? p->fl->progs.floor_same :
				   c == L_PASS || c == L_NFT ? p->fl->progs.floor_pass :
				   c == L_CEIL ? p->fl->progs.floor_list : p->fw->progs.sluice_xdp;
	double v, dropped = -1, want = c == L_DROP ? 1 : c == L_PASS || c == L_NFT ? 0 :
				      p->hit / 256.0;
	int fd = c == L_XF ? p->xf_fd : bpf_program__fd(prog);
	__u64 ns0 = 0, cnt0 = 0, ns1, cnt1;

	if (stats_pass && prog_stats(fd, &ns0, &cnt0))
		return -1;

	switch (c) {
	case L_XF:
		if (xdp_filter_attach(p->xf_fd))
			return -1;
		v = veth_rig_mpps(&rig, p->gen_fd, p->frame, FRAME_LEN, FRAMES, 1, &dropped);
		if (xdp_filter_attach(-1))
			return -1;
		break;
	case L_NFT:
		if (nft_file("chain.nft"))
			return -1;
		/* a quarter of the frames: nft is the slowest by far */
		v = veth_rig_prog_mpps(&rig, prog, p->gen_fd, p->frame, FRAME_LEN, FRAMES / 4, 1,
				       &dropped);
		if (nft_file("unchain.nft"))
			return -1;
		break;
	default:
		if ((c == L_SL || c == L_SLCT || c == L_SLEA) &&
		    (sluice_slot(p, c == L_SLEA) || sluice_ct(p, c != L_SL)))
			return -1;
		v = veth_rig_prog_mpps(&rig, prog, p->gen_fd, p->frame, FRAME_LEN, FRAMES, 1,
				       &dropped);
	}
	if (v > 0 && (dropped < want - 0.02 || dropped > want + 0.02)) {
		fprintf(stderr, "bench_peers: %s dropped %.1f%% of the frames in XDP, not %.1f%%\n",
			live_name[c], 100 * dropped, 100 * want);
		return -1;
	}
	if (stats_pass) {
		if (prog_stats(fd, &ns1, &cnt1) || cnt1 <= cnt0)
			return -1;
		*prog_ns = (double)(ns1 - ns0) / (cnt1 - cnt0);
	}
	return v;
}

/*
 * Every case once a round, ROUNDS rounds (the other jobs' load moves
 * between rounds, not within one), best of each; traffic from GEN_FD, HIT
 * of 256 frames listed. Prints the table and the ratios.
 */
static int live_rows(struct peers *p, int gen_fd, int hit)
{
	double best[L_N], pns[L_N][STATS_ROUNDS], med[L_N];
	int stats_fd;

	p->gen_fd = gen_fd;
	p->hit = hit;
	for (int c = 0; c < L_N; c++)
		best[c] = 0;
	for (int r = 0; r < ROUNDS; r++) {
		for (int c = 0; c < L_N; c++) {
			double v = live_case(p, c, NULL);

			if (v <= 0)
				return -1;
			if (v > best[c])
				best[c] = v;
		}
	}
	/* the stats pass: on while STATS_FD is open */
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats_fd < 0) {
		fprintf(stderr, "bench_peers: BPF_ENABLE_STATS: %s\n", strerror(errno));
		return -1;
	}
	stats_pass = true;
	for (int r = 0; r < STATS_ROUNDS; r++) {
		for (int c = 0; c < L_N; c++) {
			if (live_case(p, c, &pns[c][r]) <= 0) {
				stats_pass = false;
				close(stats_fd);
				return -1;
			}
		}
	}
	stats_pass = false;
	close(stats_fd);
	for (int c = 0; c < L_N; c++)
		med[c] = median(pns[c], STATS_ROUNDS);
	printf("\n  %d of 256 sources listed%s\n  %-46s %8s %11s %13s %11s\n", hit,
	       hit < 256 ? " (dropped), the rest to the stack" : ": every frame dropped", "case",
	       "Mpps", "of XDP_DROP", "ns/frame more", "program ns");
	for (int c = 0; c < L_N; c++)
		printf("  %-46s %8.2f %10.0f%% %13.0f %11.1f\n", live_name[c], best[c],
		       100 * best[c] / best[L_DROP], 1e3 / best[c] - 1e3 / best[L_DROP], med[c]);
	printf("  program ns: the attached program's own ns/frame live (bpf_stats, tail calls\n"
	       "  included; median of %d rounds of a pass of their own, stats on; XDP_DROP's is\n"
	       "  the stats' own clock reads, in every row)\n", STATS_ROUNDS);
	printf("  sluice / xdp-filter: stateless %.2f, stateful %.2f, stateful early %.2f "
	       "(target >= 1.0)\n", best[L_SL] / best[L_XF], best[L_SLCT] / best[L_XF],
	       best[L_SLEA] / best[L_XF]);
	printf("  sluice / nft:        stateless %.2f, stateful %.2f, stateful early %.2f "
	       "(target >= 5.0)\n", best[L_SL] / best[L_NFT], best[L_SLCT] / best[L_NFT],
	       best[L_SLEA] / best[L_NFT]);
	printf("  ceiling / nft %.2f: sluice reaches %.0f%% of it stateless, %.0f%% stateful\n",
	       best[L_CEIL] / best[L_NFT], 100 * best[L_SL] / best[L_CEIL],
	       100 * best[L_SLCT] / best[L_CEIL]);
	return 0;
}

/* The filters live_pairs compares; xdp-filter's index in it. */
static const int pair_case[] = { L_CEIL, L_XF, L_SL, L_SLCT, L_SLEA };
#define PAIR_N	(int)(sizeof(pair_case) / sizeof(pair_case[0]))
#define PAIR_XF	1

/*
 * SLUICE_BENCH_PEERS_PAIRS: ROUNDS rounds, in each every filter of
 * pair_case on mix 0 then mix 1 (traffic GEN_FD[m], HIT[m] of 256 sources
 * listed), one measurement each. The tables of live_rows measure the two
 * mixes ~20 s apart, each best of 3: a load that moves in between moves
 * every ratio of one table against the other's. Here each pair is seconds
 * apart and the figures are medians over the rounds: per filter, ns/frame
 * on each mix; the median of its per-round difference to xdp-filter on
 * each mix; and of (its mix 0 - mix 1) - (xdp-filter's mix 0 - mix 1), what
 * the passed frames of mix 0 cost with it more than with xdp-filter, per
 * frame of the mix (times 256 / (256 - HIT[0]): per passed frame).
 */
static int live_pairs(struct peers *p, const int gen_fd[2], const int hit[2], int rounds)
{
	static double t[PAIR_N][2][PAIRS_MAX];
	double d[PAIRS_MAX];

	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < PAIR_N; i++) {
			for (int m = 0; m < 2; m++) {
				double v;

				p->gen_fd = gen_fd[m];
				p->hit = hit[m];
				v = live_case(p, pair_case[i], NULL);
				if (v <= 0)
					return -1;
				t[i][m][r] = 1e3 / v;
			}
		}
	}
	printf("\n  paired: %d rounds, each filter on both mixes back to back; medians of ns/frame\n"
	       "  %-46s %7s %7s %15s %12s\n", rounds, "case", "hit", "hit", "- xdp-filter",
	       "interaction");
	printf("  %-46s %7d %7d %7d %7d\n", "", hit[0], hit[1], hit[0], hit[1]);
	for (int i = 0; i < PAIR_N; i++) {
		double med[2], dxf[2], dd;

		for (int m = 0; m < 2; m++) {
			memcpy(d, t[i][m], rounds * sizeof(double));
			med[m] = median(d, rounds);
			for (int r = 0; r < rounds; r++)
				d[r] = t[i][m][r] - t[PAIR_XF][m][r];
			dxf[m] = median(d, rounds);
		}
		for (int r = 0; r < rounds; r++)
			d[r] = t[i][0][r] - t[i][1][r] - (t[PAIR_XF][0][r] - t[PAIR_XF][1][r]);
		dd = median(d, rounds);
		printf("  %-46s %7.1f %7.1f %7.1f %7.1f %12.1f\n", live_name[pair_case[i]], med[0],
		       med[1], dxf[0], dxf[1], dd);
	}
	printf("  interaction: (mix %d - mix %d) - xdp-filter's, per round: what the first mix's\n"
	       "  passed frames cost more than with xdp-filter, per frame of that mix\n", hit[0],
	       hit[1]);
	return 0;
}

/* The source gen_doc writes for PRNG value X (host order), HIT of 256 listed. */
static uint32_t doc_src(uint32_t x, uint32_t hit)
{
	uint32_t host = x >> 24;

	if ((x & 0xff) < hit)
		return x & 0x100 ? 0xcb007100 | host : 0xc0000200 | (host & 0x7f);
	return x & 0x100 ? 0xc6336400 | host : 0xc0000280 | (host & 0x7f);
}

enum { TR_FLOOR, TR_XF, TR_SL, TR_SLCT, TR_SLEA, TR_N };
static const char *const tr_name[TR_N] = {
	"floor: XDP_DROP", "xdp-filter", "sluice stateless", "sluice stateful",
	"sluice stateful, blk early",
};

/*
 * The test packets: NPKT sources drawn as gen_doc draws them. Each program
 * runs each packet REPEAT times; mean ns per packet over all of them, and
 * (*DROP, *PASS) over the dropped and the passed ones.
 * A verdict other than the list's (drop listed, pass the rest; the floor
 * drops all) fails the bench: the peers must do the same work.
 */
static double tr_run(int prog, int which, uint8_t pkts[][FRAME_LEN], double *drop, double *pass)
{
	double sum = 0, sd = 0;
	int nd = 0;

	for (int i = 0; i < NPKT; i++) {
		uint8_t buf[FRAME_LEN];
		uint32_t src, want;
		LIBBPF_OPTS(bpf_test_run_opts, opts,
			.data_in = buf,
			.data_size_in = FRAME_LEN,
			.repeat = REPEAT,
		);

		__u64 ns0 = 0, cnt0 = 0, ns1 = 0, cnt1 = 0;

		memcpy(buf, pkts[i], FRAME_LEN);
		memcpy(&src, pkts[i] + 26, 4);
		want = which == TR_FLOOR || listed(ntohl(src)) ? XDP_DROP : XDP_PASS;
		if (tr_stats && prog_stats(prog, &ns0, &cnt0))
			return -1;
		if (bpf_prog_test_run_opts(prog, &opts)) {
			fprintf(stderr, "bench_peers: BPF_PROG_TEST_RUN failed: %s\n",
				strerror(errno));
			return -1;
		}
		if (opts.retval != want) {
			fprintf(stderr, "bench_peers: %s returned %u for source %08x, not %u\n",
				tr_name[which], opts.retval, ntohl(src), want);
			return -1;
		}
		if (tr_stats) {
			if (prog_stats(prog, &ns1, &cnt1) || cnt1 <= cnt0)
				return -1;
			opts.duration = (ns1 - ns0) / (cnt1 - cnt0);
		}
		sum += opts.duration;
		if (want == XDP_DROP) {
			sd += opts.duration;
			nd++;
		}
	}
	*drop = nd ? sd / nd : 0;
	*pass = nd < NPKT ? (sum - sd) / (NPKT - nd) : 0;
	return sum / NPKT;
}

int main(void)
{
	static uint8_t pkts[NPKT][FRAME_LEN];
	struct peers p = { .xf_fd = -1 };
	struct bench_gen *gen = NULL, *gen_all = NULL;
	double ns[TR_N][TR_ROUNDS], nd[TR_N][TR_ROUNDS], np[TR_N][TR_ROUNDS], med[TR_N], t0;
	int progs[TR_N], rc = 1, hit, pairs;

	libbpf_set_print(quiet);
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (system("command -v xdp-filter >/dev/null") || system("nft --version >/dev/null 2>&1")) {
		fprintf(stderr, "bench_peers: needs xdp-filter (xdp-tools) and nft (`make deps`)\n");
		return 1;
	}
	snprintf(dir, sizeof(dir), "/tmp/pe-peers-XXXXXX");
	if (!mkdtemp(dir)) {
		dir[0] = 0;
		perror("bench_peers: mkdtemp");
		return 1;
	}
	if (veth_rig_make(&rig, "pe"))
		goto out;

	p.fw = sluice_xdp__open_and_load();
	p.fl = bench_floor__open_and_load();
	gen = bench_gen__open();
	gen_all = bench_gen__open();
	if (!p.fw || !p.fl || !gen || !gen_all)
		goto fail_load;
	gen->rodata->tx_ifindex = gen_all->rodata->tx_ifindex = rig.ifindex_a;
	hit = getenv("SLUICE_BENCH_PEERS_HIT") ? atoi(getenv("SLUICE_BENCH_PEERS_HIT")) : HIT_256;
	pairs = getenv("SLUICE_BENCH_PEERS_PAIRS") ? atoi(getenv("SLUICE_BENCH_PEERS_PAIRS")) : 0;
	if (hit < 0 || hit > 256 || pairs < 0 || pairs > PAIRS_MAX) {
		fprintf(stderr, "bench_peers: SLUICE_BENCH_PEERS_HIT is 0..256, "
			"SLUICE_BENCH_PEERS_PAIRS 0..%d\n", PAIRS_MAX);
		goto out;
	}
	gen->rodata->hit_256 = hit;
	gen_all->rodata->hit_256 = HIT_ALL;
	if (bench_gen__load(gen) || bench_gen__load(gen_all) ||
	    fw_map_fds_from_obj(p.fw->obj, &p.fds))
		goto fail_load;
	veth_rig_frame(p.frame, 0xc6336402);

	printf("peers, live frames through a veth pair (native XDP on the receiver), %u UDP "
	       "frames of %d bytes, every case once a round, best of %d rounds, one CPU;\n"
	       "sources from the documentation ranges; set: %u generated prefixes (40%% /32, "
	       "20%% /28, 40%% /24) + 114 listed documentation ones\n", FRAMES, FRAME_LEN, ROUNDS,
	       SET_N);
	if (write_sets(rig.if_b))
		goto out;
	p.xf_fd = xdp_filter_load();
	if (p.xf_fd < 0 || xdp_filter_attach(-1))
		goto out;
	t0 = now_s();
	if (nft_file("blk.nft"))
		goto out;
	printf("  nft: the set loaded in %.1f s\n", now_s() - t0);
	if (sluice_policy(&p, false) || sluice_policy(&p, true) || sluice_early_slot(&p))
		goto out;
	if (pairs) {
		int fds[2] = { bpf_program__fd(gen->progs.gen_doc),
			       bpf_program__fd(gen_all->progs.gen_doc) };
		int hits[2] = { hit, HIT_ALL };

		rc = live_pairs(&p, fds, hits, pairs) ? 1 : 0;
		goto out;
	}
	if (veth_live_probe(rig.ns_a, rig.home, bpf_program__fd(gen->progs.gen_doc), p.frame,
			    FRAME_LEN) == -EPERM) {
		veth_live_refused("bench_peers", true);
		if (veth_rig_fan(&rig))
			goto out;
	}
	/* SLUICE_BENCH_PEERS_TR: the test runs alone (no live rows), to iterate */
	if (!getenv("SLUICE_BENCH_PEERS_TR") &&
	    (live_rows(&p, bpf_program__fd(gen->progs.gen_doc), hit) ||
	     live_rows(&p, bpf_program__fd(gen_all->progs.gen_doc), HIT_ALL)))
		goto out;

	/* BPF_PROG_TEST_RUN on the same packets; sluice stateless, stateful, stateful early */
	for (uint32_t i = 0; i < NPKT; i++)
		veth_rig_frame(pkts[i], doc_src(sl_bench_mix32(i + 1), hit));
	tr_stats = getenv("SLUICE_BENCH_PEERS_TRSTATS") && bpf_enable_stats(BPF_STATS_RUN_TIME) >= 0;
	progs[TR_FLOOR] = bpf_program__fd(p.fl->progs.floor_same);
	progs[TR_XF] = p.xf_fd;
	progs[TR_SL] = progs[TR_SLCT] = progs[TR_SLEA] = bpf_program__fd(p.fw->progs.sluice_xdp);
	for (int w = 0; w < TR_N; w++) {
		if ((w == TR_SL || w == TR_SLCT || w == TR_SLEA) &&
		    (sluice_slot(&p, w == TR_SLEA) || sluice_ct(&p, w != TR_SL)))
			goto out;
		for (int r = 0; r < TR_ROUNDS; r++) {
			ns[w][r] = tr_run(progs[w], w, pkts, &nd[w][r], &np[w][r]);
			if (ns[w][r] < 0)
				goto out;
		}
		qsort(ns[w], TR_ROUNDS, sizeof(double), cmp_double);
		qsort(nd[w], TR_ROUNDS, sizeof(double), cmp_double);
		qsort(np[w], TR_ROUNDS, sizeof(double), cmp_double);
		med[w] = ns[w][TR_ROUNDS / 2];
	}
	printf("\n  BPF_PROG_TEST_RUN, the same %d packets (%d of 256 listed), %u runs each, "
	       "median of %d\n  %-30s %8s %10s %8s %8s\n", NPKT, hit, REPEAT, TR_ROUNDS, "program",
	       "ns/pkt", "over floor", "dropped", "passed");
	for (int w = 0; w < TR_N; w++)
		printf("  %-30s %8.1f %10.1f %8.1f %8.1f\n", tr_name[w], med[w],
		       med[w] - med[TR_FLOOR], nd[w][TR_ROUNDS / 2], np[w][TR_ROUNDS / 2]);
	rc = 0;
	goto out;
fail_load:
	fprintf(stderr, "bench_peers: loading the BPF objects failed\n");
out:
	if (p.xf_fd >= 0)
		close(p.xf_fd);
	bench_gen__destroy(gen_all);
	bench_gen__destroy(gen);
	bench_floor__destroy(p.fl);
	sluice_xdp__destroy(p.fw);
	return rc;
}
