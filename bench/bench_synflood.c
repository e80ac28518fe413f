// SPDX-License-Identifier: GPL-2.0-only
/*
 * A spoofed SYN flood of real frames, made with the live-frames generator
 * (bench/bpf/bench_gen.bpf.c gen_syn: BPF_PROG_RUN + BPF_F_TEST_XDP_LIVE_FRAMES
 * redirecting every frame into a veth), for netns-tests/test_syncookie.py.
 * Bounded: at most --max frames, sent in chunks.
 *
 *   bench_synflood --ns NS --iface IF --dst-mac MAC --dst ADDR --dport PORT
 *                  --src-net A.B.C.0 --count N [--max M]
 *
 * In namespace NS: attaches gen_sink to IF (the SYN-ACKs sent back to the
 * spoofed sources of A.B.C.0/24 end there; everything else passes), prints
 * "ready", waits for a line "go" on stdin, prints "flooding T0", then sends
 * SYNs to ADDR:PORT from A.B.C.x and random ports out of IF, in chunks,
 * until N are sent and a line "stop" (or EOF) came, or M are sent. Prints
 * "sent S T0 T1" (T0, T1: CLOCK_MONOTONIC seconds of the first and last
 * chunk), then waits for EOF and detaches.
 *
 * Where the kernel refuses live frames (EPERM: some builds do), the same
 * frames, made by gen_syn in ordinary test runs (SPREAD of them, sent round
 * and round, each round with every source port one more, so that no flow
 * comes twice, as with live frames), leave through a packet socket instead:
 * sendmmsg() past the qdisc, an skb each, a slower flood that still
 * overflows a listener.
 *
 * Without arguments (as `make bench` runs it) it says what it is for and
 * exits: the cost of a cookie SYN is in bench_ct.
 */
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <linux/if_link.h>

#include "bench_util.h"
#include "bench_gen.skel.h"

#define CHUNK		50000u
#define FRAME_LEN	58	/* as gen_syn writes it: Ethernet, IPv4, TCP + MSS */
#define SPREAD		65536u	/* distinct frames of the packet-socket flood */
#define BATCH		1024u	/* frames per sendmmsg() */

/* The packet-socket flood: SPREAD frames of gen_syn, the socket, the next frame to send. */
struct psock {
	uint8_t *frames;
	uint32_t next;
	int fd;
};

static void psock_close(struct psock *ps)
{
	if (ps->fd >= 0)
		close(ps->fd);
	free(ps->frames);
	ps->frames = NULL;
	ps->fd = -1;
}

/*
 * Frame F's TCP source port one more (1024..61023, as gen_syn draws them),
 * its checksum mended (RFC 1624: the sum less the old word plus the new).
 */
static void next_sport(uint8_t *f)
{
	uint16_t old, now, csum;
	uint32_t sum;

	memcpy(&old, f + 34, 2);
	now = htons(ntohs(old) >= 61023 ? 1024 : ntohs(old) + 1);
	memcpy(&csum, f + 50, 2);
	sum = (uint16_t)~csum + (uint32_t)(uint16_t)~old + now;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	csum = (uint16_t)~sum;
	memcpy(f + 34, &now, 2);
	memcpy(f + 50, &csum, 2);
}

/* Send N frames through PS, a batch at a time; a round done, the next one's flows are new. */
static int flood_send(struct psock *ps, unsigned long n)
{
	while (n) {
		uint32_t b = n < BATCH ? (uint32_t)n : BATCH;

		if (psock_send(ps->fd, ps->frames, FRAME_LEN, SPREAD, &ps->next, b, BATCH))
			return -1;
		if (ps->next < b)
			for (unsigned int i = 0; i < SPREAD; i++)
				next_sport(ps->frames + (size_t)i * FRAME_LEN);
		n -= b;
	}
	return 0;
}

struct flood_args {
	const char *ns, *iface, *dst_mac, *dst, *src_net;
	unsigned long dport, count, max;
};

static int parse_mac(const char *s, uint8_t *mac)
{
	unsigned int b[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

/* A line on stdin, without waiting: 1 "stop" or EOF, 0 nothing (yet). */
static int stop_asked(void)
{
	struct pollfd p = { .fd = 0, .events = POLLIN };
	char line[64];

	if (poll(&p, 1, 0) <= 0)
		return 0;
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	return !strncmp(line, "stop", 4);
}

static int flood(const struct flood_args *a)
{
	struct psock ps = { .fd = -1 };
	struct bench_gen *gen = NULL;
	struct bpf_link *sink = NULL;
	uint8_t frame[FRAME_LEN], smac[6];
	struct ifreq ifr = { 0 };
	struct in_addr net, dst;
	unsigned long sent = 0;
	double t0 = 0, t1 = 0;
	char line[64];
	int ifindex, fd, rc = 1, stop = 0;

	if (inet_pton(AF_INET, a->src_net, &net) != 1 || enter_ns(a->ns))
		return 2;
	ifindex = if_nametoindex(a->iface);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", a->iface);
	if (!ifindex || fd < 0 || ioctl(fd, SIOCGIFHWADDR, &ifr)) {
		fprintf(stderr, "bench_synflood: no interface %s in %s\n", a->iface, a->ns);
		return 2;
	}
	close(fd);
	memcpy(smac, ifr.ifr_hwaddr.sa_data, 6);
	gen = bench_gen__open();
	if (!gen)
		goto out;
	if (parse_mac(a->dst_mac, (uint8_t *)gen->rodata->syn_dst_mac) ||
	    inet_pton(AF_INET, a->dst, &dst) != 1) {
		fprintf(stderr, "bench_synflood: bad --dst-mac or --dst\n");
		rc = 2;
		goto out;
	}
	memcpy((uint8_t *)gen->rodata->syn_src_mac, smac, 6);
	gen->rodata->syn_dst = dst.s_addr;
	gen->rodata->syn_dport = htons(a->dport);
	gen->rodata->tx_ifindex = ifindex;
	gen->rodata->syn_src_net = ntohl(net.s_addr) & 0xffffff00;
	memset(frame, 0, sizeof(frame));	/* gen_syn writes every byte */
	if (bench_gen__load(gen))
		goto out;
	sink = bpf_program__attach_xdp(gen->progs.gen_sink, ifindex);
	if (!sink) {
		fprintf(stderr, "bench_synflood: cannot attach the sink to %s\n", a->iface);
		goto out;
	}
	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin) || strncmp(line, "go", 2))
		goto out;
	t0 = now_s();
	/* the test starts its connects once it has read this */
	printf("flooding %.6f\n", t0);
	fflush(stdout);
	while (sent < a->max && !(sent >= a->count && stop)) {
		LIBBPF_OPTS(bpf_test_run_opts, opts,
			.data_in = frame,
			.data_size_in = FRAME_LEN,
			.repeat = CHUNK,
			.flags = BPF_F_TEST_XDP_LIVE_FRAMES,
		);

		if (ps.fd >= 0) {
			if (flood_send(&ps, CHUNK))
				goto out;
		} else if (bpf_prog_test_run_opts(bpf_program__fd(gen->progs.gen_syn), &opts)) {
			if (errno != EPERM || sent) {
				fprintf(stderr, "bench_synflood: live-frames run: %s\n",
					strerror(errno));
				goto out;
			}
			fprintf(stderr, "bench_synflood: live frames refused (EPERM): "
				"through a packet socket\n");
			ps.frames = gen_frames(bpf_program__fd(gen->progs.gen_syn), frame,
					       FRAME_LEN, SPREAD);
			ps.fd = ps.frames ? psock_open(ifindex) : -1;
			if (ps.fd < 0) {
				fprintf(stderr, "bench_synflood: packet socket: %s\n",
					strerror(errno));
				goto out;
			}
			continue;
		}
		sent += CHUNK;
		stop = stop || stop_asked();
	}
	t1 = now_s();
	printf("sent %lu %.6f %.6f\n", sent, t0, t1);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin))
		;
	rc = 0;
out:
	psock_close(&ps);
	bpf_link__destroy(sink);
	bench_gen__destroy(gen);
	return rc;
}

int main(int argc, char **argv)
{
	struct flood_args a = { .max = 3000000 };

	libbpf_set_print(quiet);
	if (argc == 1) {
		printf("bench_synflood: the SYN flood generator of netns-tests/test_syncookie.py "
		       "(the cost of a cookie SYN and ACK is in bench_ct)\n");
		return 0;
	}
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];

		if (!strcmp(k, "--ns"))
			a.ns = v;
		else if (!strcmp(k, "--iface"))
			a.iface = v;
		else if (!strcmp(k, "--dst-mac"))
			a.dst_mac = v;
		else if (!strcmp(k, "--dst"))
			a.dst = v;
		else if (!strcmp(k, "--src-net"))
			a.src_net = v;
		else if (!strcmp(k, "--dport"))
			a.dport = strtoul(v, NULL, 10);
		else if (!strcmp(k, "--count"))
			a.count = strtoul(v, NULL, 10);
		else if (!strcmp(k, "--max"))
			a.max = strtoul(v, NULL, 10);
		else
			return fprintf(stderr, "bench_synflood: unknown option %s\n", k), 2;
	}
	if (!a.ns || !a.iface || !a.dst_mac || !a.dst || !a.src_net || !a.dport ||
	    a.dport > 65535 || !a.count || a.max > 10000000) {
		fprintf(stderr, "usage: bench_synflood --ns NS --iface IF --dst-mac MAC --dst ADDR "
			"--dport PORT --src-net A.B.C.0 --count N [--max M <= 10000000]\n");
		return 2;
	}
	if (a.max < a.count)
		a.max = a.count;
	return flood(&a);
}
