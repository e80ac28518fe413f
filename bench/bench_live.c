// SPDX-License-Identifier: GPL-2.0-only
/*
 * Throughput with real frames through a veth pair (bench_veth.h): the
 * 1M-prefix set with one and with random sources, and the first match deep
 * in a long policy beside an nftables chain of the same rules.
 *
 * Namespaces and veths are named slb-<pid>-*, and removed on every exit.
 */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <net/if.h>

#include "bench_util.h"
#include "bench_veth.h"
#include "bench_floor.skel.h"
#include "bench_gen.skel.h"
#include "sluice_xdp.skel.h"

#define FRAMES		4000000u	/* per measurement */
#define ROUNDS		3
#define FRAME_LEN	VETH_RIG_FRAME_LEN

static struct veth_rig rig;
static char dir[64];

static void cleanup(void)
{
	veth_rig_del(&rig);
	if (dir[0])
		remove_dir(dir);
}

static void on_signal(int sig)
{
	(void)sig;
	exit(1);	/* runs cleanup() through atexit */
}

static void row(const char *name, double mpps, double floor);

static double run_live_n(struct bpf_program *prog, int gen, const uint8_t *frame,
			 uint32_t nframes)
{
	return veth_rig_prog_mpps(&rig, prog, gen, frame, FRAME_LEN, nframes, ROUNDS, NULL);
}

static double run_live(struct bpf_program *prog, int gen, const uint8_t *frame)
{
	return run_live_n(prog, gen, frame, FRAMES);
}

/* `nft -f` of TEXT in namespace B: 0 or -1. */
static int nft_b(const char *text)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/rules.nft", dir);
	if (write_file(dir, "rules.nft", text))
		return -1;
	return sh("nsenter --net=/run/netns/%s nft -f %s", rig.ns_b, path);
}

/*
 * First match at rule MATCH of NRULES (the same rules, rules_texts): sluice
 * allows the frame, and an nft netdev ingress chain on veth B accepts it
 * behind XDP_PASS (both hand it to the stack); NFT_FRAMES for nft, whose
 * chain is walked rule by rule. Prints the rows; 0 or -1.
 */
static int rules_rows(struct sluice_xdp *fw, struct bench_floor *fl, int gen,
		      const struct fw_map_fds *fds, const uint8_t *frame, int nrules, int match,
		      uint32_t nft_frames, double pass_floor)
{
	char *yaml = NULL, *nft = NULL, name[96];
	double v;
	int rc = -1;

	if (rules_texts(nrules, match, "udp", 53, rig.if_b, &yaml, &nft) ||
	    write_file(dir, "policy.yaml", yaml) || apply(dir, fds, 10 + nrules, false))
		goto out;
	v = run_live(fw->progs.sluice_xdp, gen, frame);
	if (v <= 0)
		goto out;
	snprintf(name, sizeof(name), "sluice: allowed by rule %d of %d", match + 1, nrules);
	row(name, v, pass_floor);
	if (system("nft --version >/dev/null 2>&1")) {
		printf("  (nft not installed: no nftables rows)\n");
		rc = 0;
		goto out;
	}
	if (nft_b(nft))
		goto out;
	v = run_live_n(fl->progs.floor_pass, gen, frame, nft_frames);
	sh("nsenter --net=/run/netns/%s nft delete table netdev slr", rig.ns_b);
	if (v <= 0)
		goto out;
	snprintf(name, sizeof(name), "nft netdev ingress: accepted by rule %d of %d", match + 1,
		 nrules);
	row(name, v, pass_floor);
	rc = 0;
out:
	free(yaml);
	free(nft);
	return rc;
}

static void row(const char *name, double mpps, double floor)
{
	printf("  %-50s %8.*f %8.2f %7.*f%%\n", name, mpps < 0.1 ? 4 : 2, mpps, floor,
	       mpps < 0.1 ? 2 : 0, 100 * mpps / floor);
}

int main(void)
{
	struct sluice_xdp *fw = NULL;
	struct bench_floor *fl = NULL;
	struct bench_gen *gsame = NULL, *grand = NULL;
	struct fw_map_fds fds;
	uint8_t frame[FRAME_LEN];
	double floor_same, floor_rand, v;
	int rc = 1;

	libbpf_set_print(quiet);
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	snprintf(dir, sizeof(dir), "/tmp/slb-live-XXXXXX");
	if (!mkdtemp(dir)) {
		dir[0] = 0;
		perror("bench_live: mkdtemp");
		return 1;
	}
	if (veth_rig_make(&rig, "slb"))
		goto out;

	fw = sluice_xdp__open_and_load();
	fl = bench_floor__open_and_load();
	gsame = bench_gen__open();
	grand = bench_gen__open();
	if (!fw || !fl || !gsame || !grand)
		goto fail_load;
	gsame->rodata->tx_ifindex = rig.ifindex_a;
	grand->rodata->tx_ifindex = rig.ifindex_a;
	grand->rodata->src_n = BIG_N;
	if (bench_gen__load(gsame) || bench_gen__load(grand))
		goto fail_load;
	if (fw_map_fds_from_obj(fw->obj, &fds))
		goto fail_load;

	/* deny by the 1M-prefix set (see bench_xdp.c) */
	if (write_big_set(dir) ||
	    write_file(dir, "policy.yaml",
		       "sets:\n  big:\n    file: big.txt\n"
		       "firewall:\n  interfaces: [slb0]\n  default: allow\n  stateful: false\n"
		       "  rules:\n    - { name: big, action: deny, src: [\"@big\"] }\n") ||
	    apply(dir, &fds, 1, false))
		goto out;

	printf("sluice XDP firewall, live frames through a veth pair (native XDP on the "
	       "receiver), %u frames of %d bytes, best of %d, one CPU\n", FRAMES, FRAME_LEN,
	       ROUNDS);
	if (veth_live_probe(rig.ns_a, rig.home, bpf_program__fd(gsame->progs.gen_same), frame,
			    FRAME_LEN) == -EPERM) {
		veth_live_refused("bench_live", true);
		if (veth_rig_fan(&rig))
			goto out;
	}
	printf("  %-50s %8s %8s %8s\n", "case", "Mpps", "floor", "of floor");

	veth_rig_frame(frame, net24(12345) | 77);
	floor_same = run_live(fl->progs.floor_same, bpf_program__fd(gsame->progs.gen_same),
			      frame);
	floor_rand = run_live(fl->progs.floor_same, bpf_program__fd(grand->progs.gen_rand),
			      frame);
	if (floor_same <= 0 || floor_rand <= 0)
		goto out;
	row("floor: XDP_DROP (same source)", floor_same, floor_same);
	row("floor: XDP_DROP (generator writes random sources)", floor_rand, floor_same);
	v = run_live(fw->progs.sluice_xdp, bpf_program__fd(gsame->progs.gen_same), frame);
	if (v <= 0)
		goto out;
	row("deny by 1M-prefix set (same source)", v, floor_same);
	v = run_live(fw->progs.sluice_xdp, bpf_program__fd(grand->progs.gen_rand), frame);
	if (v <= 0)
		goto out;
	row("deny by 1M-prefix set (random sources)", v, floor_rand);

	/*
	 * Rules: the first match deep in a long policy. Both sides hand the
	 * frame to the stack, so the floor is XDP_PASS alone (same frame).
	 */
	v = run_live(fl->progs.floor_pass, bpf_program__fd(gsame->progs.gen_same), frame);
	if (v <= 0)
		goto out;
	printf("\n  rules, same frame, to the stack (floor: XDP_PASS, no rule):\n");
	row("floor: XDP_PASS", v, v);
	if (rules_rows(fw, fl, bpf_program__fd(gsame->progs.gen_same), &fds, frame, 101,
		       100, FRAMES, v) ||
	    rules_rows(fw, fl, bpf_program__fd(gsame->progs.gen_same), &fds, frame,
		       SLUICE_MAX_RULES, 16000, 20000, v))
		goto out;
	rc = 0;
	goto out;
fail_load:
	fprintf(stderr, "bench_live: loading the BPF objects failed\n");
out:
	bench_gen__destroy(grand);
	bench_gen__destroy(gsame);
	bench_floor__destroy(fl);
	sluice_xdp__destroy(fw);
	return rc;
}
