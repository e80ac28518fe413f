/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The live-frames rig of bench_live and bench_peers: a generator program run
 * with BPF_PROG_TEST_RUN + BPF_F_TEST_XDP_LIVE_FRAMES in namespace A
 * redirects every frame into veth A; its peer in namespace B runs whatever
 * XDP program is attached there (native veth XDP). Frames per second are
 * counted at the receiver (veth's rx_queue_0_xdp_packets) over the
 * generator's run time. Sender and receiver share one CPU (veth processes
 * redirected frames in the sender's softirq), as a NIC queue and its XDP
 * program would.
 */
#ifndef SLUICE_BENCH_VETH_H
#define SLUICE_BENCH_VETH_H

#include <net/if.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include "bench_util.h"
#include "bench_gen.skel.h"

/* The fan-out generator (veth_fan_make), where live frames are refused. */
struct veth_fan {
	char ns[32], if_ga[IFNAMSIZ], if_gb[IFNAMSIZ];
	struct bench_gen *gen;
	struct bpf_link *link;
	int psock;	/* the packet socket on if_ga; -1: none (live frames) */
};

struct veth_rig {
	char ns_a[32], ns_b[32], if_a[IFNAMSIZ], if_b[IFNAMSIZ];
	int ifindex_a, ifindex_b;
	int home;	/* this process's own network namespace */
	struct veth_fan fan;	/* veth_rig_fan */
};

/* Distinct frames the fan-out generator cycles through (made by the live generator). */
#define VETH_FAN_SPREAD		8192u
#define VETH_FAN_BATCH		8u	/* frames per sendmmsg(): SL_BENCH_FAN copies each */

#define VETH_RIG_FRAME_LEN	64

/*
 * The rig's frame: VETH_RIG_FRAME_LEN bytes of UDP from SRC (host order),
 * port 40000, to 198.51.100.1:53, between the MACs the veths ignore.
 */
static inline void veth_rig_frame(uint8_t *f, uint32_t src)
{
	uint32_t v;

	memset(f, 0, VETH_RIG_FRAME_LEN);
	memcpy(f, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
	f[12] = 0x08;
	f[14] = 0x45;
	f[17] = VETH_RIG_FRAME_LEN - 14;
	f[22] = 64;
	f[23] = 17;
	v = htonl(src);
	memcpy(f + 26, &v, 4);
	v = htonl(0xc6336401);		/* 198.51.100.1 */
	memcpy(f + 30, &v, 4);
	f[34] = 40000 >> 8;
	f[35] = 40000 & 0xff;
	f[37] = 53;
	f[39] = VETH_RIG_FRAME_LEN - 34;
}

/* Namespaces PREFIX-PID-a/-b joined by veths PREFIXPIDa/b, both up: 0 or -1. */
static inline int veth_rig_make(struct veth_rig *v, const char *prefix)
{
	int pid = getpid();

	memset(v, 0, sizeof(*v));
	v->home = -1;
	v->fan.psock = -1;
	snprintf(v->ns_a, sizeof(v->ns_a), "%s-%d-a", prefix, pid);
	snprintf(v->ns_b, sizeof(v->ns_b), "%s-%d-b", prefix, pid);
	snprintf(v->if_a, sizeof(v->if_a), "%s%da", prefix, pid);
	snprintf(v->if_b, sizeof(v->if_b), "%s%db", prefix, pid);
	v->home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (v->home < 0)
		return -1;
	if (sh("ip netns add %s", v->ns_a) || sh("ip netns add %s", v->ns_b) ||
	    sh("ip -n %s link add %s type veth peer name %s netns %s", v->ns_a, v->if_a, v->if_b,
	       v->ns_b) ||
	    sh("ip -n %s link set %s up", v->ns_a, v->if_a) ||
	    sh("ip -n %s link set %s up", v->ns_b, v->if_b))
		return -1;
	if (enter_ns(v->ns_a))
		return -1;
	v->ifindex_a = if_nametoindex(v->if_a);
	enter_ns(v->ns_b);
	v->ifindex_b = if_nametoindex(v->if_b);
	setns(v->home, CLONE_NEWNET);
	return v->ifindex_a && v->ifindex_b ? 0 : -1;
}

static inline void veth_fan_del(struct veth_fan *f);

/* Remove what veth_rig_make made (safe on a half-made or zeroed rig, and twice). */
static inline void veth_rig_del(struct veth_rig *v)
{
	char cmd[128];

	for (int i = 0; i < 2; i++) {
		const char *ns = i ? v->ns_b : v->ns_a;

		if (!ns[0])
			continue;
		snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null", ns);
		if (system(cmd)) {
			/* already gone */
		}
	}
	v->ns_a[0] = v->ns_b[0] = 0;
	veth_fan_del(&v->fan);
	if (v->home >= 0)
		close(v->home);
	v->home = -1;
}

/*
 * Where the kernel refuses live frames (veth_live_probe: -EPERM), F: in
 * namespace NS (HOME: the one to return to), a veth pair NAMEg-NAMEh;
 * frames sent into NAMEg by a packet socket reach gen_fan on NAMEh (native
 * XDP), which redirects SL_BENCH_FAN copies of each into TO_IFINDEX (an
 * interface of NS) at once, a devmap broadcast. What TO_IFINDEX's peer meets
 * is what live frames gave it: xdp_frames through ndo_xdp_xmit, no skb, on
 * the sending CPU. What differs: SL_BENCH_FAN frames in a row are the same
 * (the next group another of VETH_FAN_SPREAD, veth_fan_frames), and the
 * generator costs a packet socket's send per group and a copy per frame.
 * 0 or -1 (veth_fan_del undoes what was made).
 */
static inline int veth_fan_make(struct veth_fan *f, const char *ns, int home, int to_ifindex,
				const char *name)
{
	int gb, ga;

	snprintf(f->ns, sizeof(f->ns), "%s", ns);
	snprintf(f->if_ga, sizeof(f->if_ga), "%.14sg", name);
	snprintf(f->if_gb, sizeof(f->if_gb), "%.14sh", name);
	if (sh("ip -n %s link add %s type veth peer name %s", ns, f->if_ga, f->if_gb) ||
	    sh("ip -n %s link set %s up", ns, f->if_ga) ||
	    sh("ip -n %s link set %s up", ns, f->if_gb))
		return -1;
	f->gen = bench_gen__open_and_load();
	/* a devmap entry's ifindex is of the namespace that writes it: NS's */
	if (!f->gen || enter_ns(ns))
		return -1;
	for (uint32_t i = 0; i < SL_BENCH_FAN; i++) {
		uint32_t ifindex = (uint32_t)to_ifindex;

		if (bpf_map_update_elem(bpf_map__fd(f->gen->maps.gen_fan_to), &i, &ifindex, 0)) {
			setns(home, CLONE_NEWNET);
			return -1;
		}
	}
	gb = (int)if_nametoindex(f->if_gb);
	ga = (int)if_nametoindex(f->if_ga);
	if (gb && ga)
		f->link = bpf_program__attach_xdp(f->gen->progs.gen_fan, gb);
	if (f->link)
		f->psock = psock_open(ga);
	setns(home, CLONE_NEWNET);
	if (f->psock < 0) {
		fprintf(stderr, "bench: the fan-out generator on %s: %s\n", f->if_gb,
			strerror(errno));
		return -1;
	}
	return 0;
}

/* Undo veth_fan_make (its veths go with their namespace); safe twice. */
static inline void veth_fan_del(struct veth_fan *f)
{
	if (f->psock >= 0)
		close(f->psock);
	f->psock = -1;
	bpf_link__destroy(f->link);
	f->link = NULL;
	bench_gen__destroy(f->gen);
	f->gen = NULL;
}

/* The rig's fan-out generator, into veth A. */
static inline int veth_rig_fan(struct veth_rig *v)
{
	return veth_fan_make(&v->fan, v->ns_a, v->home, v->ifindex_a, v->if_a);
}

/* The fan-out generator's frames: VETH_FAN_SPREAD of GEN's rewrites of FRAME (LEN bytes). */
static inline uint8_t *veth_fan_frames(int gen, const uint8_t *frame, uint32_t len)
{
	return gen_frames(gen, frame, len, VETH_FAN_SPREAD);
}

/* Send NFRAMES / SL_BENCH_FAN of FRAMES (LEN bytes each, cycled) to the fan-out: 0 or -1. */
static inline int veth_fan_send(const struct veth_fan *f, const uint8_t *frames, uint32_t len,
				uint32_t nframes)
{
	uint32_t next = 0;

	return psock_send(f->psock, frames, len, VETH_FAN_SPREAD, &next, nframes / SL_BENCH_FAN,
			  VETH_FAN_BATCH);
}

/*
 * Send NFRAMES frames (FRAME, LEN bytes, as GEN rewrites it) ROUNDS times
 * into veth A, to whatever is attached to veth B: the best receive rate in
 * Mpps, or -1. *DROPPED (may be NULL): the share of the frames received
 * that the program dropped (XDP_DROP), over all rounds.
 */
static inline double veth_rig_mpps(const struct veth_rig *v, int gen, const uint8_t *frame,
				   uint32_t len, uint32_t nframes, int rounds, double *dropped)
{
	long long d0 = veth_stat(v->ns_b, v->if_b, "rx_queue_0_xdp_drops");
	uint8_t *fan = v->fan.psock >= 0 ? veth_fan_frames(gen, frame, len) : NULL;
	long long rx = 0;
	double best = 0;

	if (v->fan.psock >= 0 && !fan)
		return -1;
	for (int r = 0; r < rounds; r++) {
		long long rx0 = veth_stat(v->ns_b, v->if_b, "rx_queue_0_xdp_packets"), rx1;
		LIBBPF_OPTS(bpf_test_run_opts, opts,
			.data_in = frame,
			.data_size_in = len,
			.repeat = nframes,
			.flags = BPF_F_TEST_XDP_LIVE_FRAMES,
		);
		double t0, dt;

		if (fan) {
			t0 = now_s();
			if (veth_fan_send(&v->fan, fan, len, nframes)) {
				free(fan);
				return -1;
			}
			dt = now_s() - t0;
			goto counted;
		}
		if (enter_ns(v->ns_a))
			return -1;
		t0 = now_s();
		if (bpf_prog_test_run_opts(gen, &opts)) {
			fprintf(stderr, "bench: live-frames run failed: %s\n", strerror(errno));
			setns(v->home, CLONE_NEWNET);
			return -1;
		}
		dt = now_s() - t0;
		setns(v->home, CLONE_NEWNET);
counted:
		rx1 = veth_stat(v->ns_b, v->if_b, "rx_queue_0_xdp_packets");
		if (rx0 < 0 || rx1 < 0) {
			fprintf(stderr, "bench: cannot read veth counters\n");
			free(fan);
			return -1;
		}
		if (getenv("SLUICE_BENCH_DEBUG"))
			fprintf(stderr, "rx %lld in %.3f s, drops %lld\n", rx1 - rx0, dt,
				veth_stat(v->ns_b, v->if_b, "rx_queue_0_drops"));
		if (fan && getenv("SLUICE_BENCH_DEBUG"))
			fprintf(stderr, "fan: %s xdp %lld redirect %lld; %s xdp_xmit %lld errors %lld\n",
				v->fan.if_gb, veth_stat(v->ns_a, v->fan.if_gb, "rx_queue_0_xdp_packets"),
				veth_stat(v->ns_a, v->fan.if_gb, "rx_queue_0_xdp_redirect"), v->if_a,
				veth_stat(v->ns_a, v->if_a, "tx_queue_0_xdp_xmit"),
				veth_stat(v->ns_a, v->if_a, "tx_queue_0_xdp_xmit_errors"));
		rx += rx1 - rx0;
		if ((rx1 - rx0) / dt / 1e6 > best)
			best = (rx1 - rx0) / dt / 1e6;
	}
	free(fan);
	if (dropped)
		*dropped = rx ? (double)(veth_stat(v->ns_b, v->if_b, "rx_queue_0_xdp_drops") -
					 d0) / rx : 0;
	return best;
}

/* Attach PROG to veth B with a bpf_link, measure as veth_rig_mpps, detach. */
static inline double veth_rig_prog_mpps(const struct veth_rig *v, struct bpf_program *prog,
					int gen, const uint8_t *frame, uint32_t len,
					uint32_t nframes, int rounds, double *dropped)
{
	struct bpf_link *link = NULL;
	double mpps;

	/* an ifindex means something in its own namespace only */
	if (!enter_ns(v->ns_b))
		link = bpf_program__attach_xdp(prog, v->ifindex_b);
	setns(v->home, CLONE_NEWNET);
	if (!link) {
		fprintf(stderr, "bench: attaching XDP to %s failed\n", v->if_b);
		return -1;
	}
	mpps = veth_rig_mpps(v, gen, frame, len, nframes, rounds, dropped);
	bpf_link__destroy(link);
	return mpps;
}

#endif /* SLUICE_BENCH_VETH_H */
