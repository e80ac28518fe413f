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

struct veth_rig {
	char ns_a[32], ns_b[32], if_a[IFNAMSIZ], if_b[IFNAMSIZ];
	int ifindex_a, ifindex_b;
	int home;	/* this process's own network namespace */
};

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
	if (v->home >= 0)
		close(v->home);
	v->home = -1;
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
	long long rx = 0;
	double best = 0;

	for (int r = 0; r < rounds; r++) {
		long long rx0 = veth_stat(v->ns_b, v->if_b, "rx_queue_0_xdp_packets"), rx1;
		LIBBPF_OPTS(bpf_test_run_opts, opts,
			.data_in = frame,
			.data_size_in = len,
			.repeat = nframes,
			.flags = BPF_F_TEST_XDP_LIVE_FRAMES,
		);
		double t0, dt;

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
		rx1 = veth_stat(v->ns_b, v->if_b, "rx_queue_0_xdp_packets");
		if (rx0 < 0 || rx1 < 0) {
			fprintf(stderr, "bench: cannot read veth counters\n");
			return -1;
		}
		if (getenv("SLUICE_BENCH_DEBUG"))
			fprintf(stderr, "rx %lld in %.3f s, drops %lld\n", rx1 - rx0, dt,
				veth_stat(v->ns_b, v->if_b, "rx_queue_0_drops"));
		rx += rx1 - rx0;
		if ((rx1 - rx0) / dt / 1e6 > best)
			best = (rx1 - rx0) / dt / 1e6;
	}
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
