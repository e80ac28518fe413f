/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Shared by the bench programs: the generated prefix sets (see
 * bench/bpf/bench.h) and applying a policy dir the real way.
 */
#ifndef SLUICE_BENCH_UTIL_H
#define SLUICE_BENCH_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <linux/if_packet.h>
#include <linux/types.h>
#include <net/ethernet.h>

#include "fw_maps.h"
#include "fw_tables.h"
#include "policy.h"
#include "bench/bpf/bench_gen.h"

#define BIG_N		(1u << 20)	/* prefixes of the big sets */

static inline int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

/* system(3) of a formatted command: 0, or -1 (said on stderr). */
static inline __attribute__((format(printf, 1, 2))) int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc)
		fprintf(stderr, "bench: '%s' failed\n", cmd);
	return rc ? -1 : 0;
}

/* Move this thread into the network namespace /run/netns/NAME: 0 or -errno. */
static inline int enter_ns(const char *name)
{
	char path[64];
	int fd, err = 0;

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET)) {
		err = -errno;
		fprintf(stderr, "bench: entering %s: %s\n", name, strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	return err;
}

/*
 * Where the kernel refuses live frames, generators send through a packet
 * socket (bench_synflood; the fan-out of bench_veth.h): frames made by the
 * live generator's program in ordinary test runs, sent round and round.
 */
#define PSOCK_BATCH_MAX		1024u

/* A raw packet socket on IFINDEX of this namespace, past the qdisc: its fd, or -1 (errno). */
static inline int psock_open(int ifindex)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP),
				   .sll_ifindex = ifindex };
	int one = 1, fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);

	if (fd >= 0 && (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) ||
			bind(fd, (struct sockaddr *)&sll, sizeof(sll)))) {
		int e = errno;

		close(fd);
		errno = e;
		fd = -1;
	}
	return fd;
}

/* N frames of LEN bytes, each GEN's rewrite of FRAME in a test run (not live): malloc'd, or NULL. */
static inline uint8_t *gen_frames(int gen, const uint8_t *frame, uint32_t len, uint32_t n)
{
	uint8_t *f = malloc((size_t)n * len);

	for (uint32_t i = 0; f && i < n; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, opts,
			.data_in = frame,
			.data_size_in = len,
			.data_out = f + (size_t)i * len,
			.data_size_out = len,
			.repeat = 1,
		);

		if (bpf_prog_test_run_opts(gen, &opts) || opts.data_size_out != len) {
			fprintf(stderr, "bench: the generator's test run: %s\n", strerror(errno));
			free(f);
			return NULL;
		}
	}
	return f;
}

/*
 * Send N frames through FD: of the SPREAD frames (LEN bytes each) in
 * FRAMES, from *NEXT on, round and round (*NEXT moves on), BATCH
 * (<= PSOCK_BATCH_MAX) to a sendmmsg(). A frame the device drops counts
 * as sent, as a live one does. 0 or -1.
 */
static inline int psock_send(int fd, const uint8_t *frames, uint32_t len, uint32_t spread,
			     uint32_t *next, unsigned long n, uint32_t batch)
{
	static struct mmsghdr msg[PSOCK_BATCH_MAX];
	static struct iovec iov[PSOCK_BATCH_MAX];

	if (batch > PSOCK_BATCH_MAX)
		batch = PSOCK_BATCH_MAX;
	while (n) {
		uint32_t b = n < batch ? (uint32_t)n : batch;
		int r;

		memset(msg, 0, b * sizeof(*msg));
		for (uint32_t i = 0; i < b; i++) {
			iov[i].iov_base = (void *)(frames + (size_t)*next * len);
			iov[i].iov_len = len;
			msg[i].msg_hdr.msg_iov = &iov[i];
			msg[i].msg_hdr.msg_iovlen = 1;
			*next = (*next + 1) % spread;
		}
		r = sendmmsg(fd, msg, b, 0);
		if (r < 0 && errno != ENOBUFS && errno != EAGAIN && errno != EINTR) {
			fprintf(stderr, "bench: sendmmsg: %s\n", strerror(errno));
			return -1;
		}
		n -= r > 0 ? (uint32_t)r : 0;
	}
	return 0;
}

/*
 * Send one live frame (FRAME, LEN bytes, as GEN rewrites it) from namespace
 * NS (HOME: the namespace to return to): 0, or -errno. -EPERM: this kernel
 * refuses BPF_F_TEST_XDP_LIVE_FRAMES (some builds do); a bench then says
 * so (veth_live_refused) and measures no live row, rather than failing.
 */
static inline int veth_live_probe(const char *ns, int home, int gen, const uint8_t *frame,
				  uint32_t len)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = frame,
		.data_size_in = len,
		.repeat = 1,
		.flags = BPF_F_TEST_XDP_LIVE_FRAMES,
	);
	int err = 0;

	if (enter_ns(ns))
		return -EINVAL;
	if (bpf_prog_test_run_opts(gen, &opts))
		err = -errno;
	setns(home, CLONE_NEWNET);
	return err;
}

/*
 * What a bench prints for its live rows where veth_live_probe said -EPERM:
 * measured with the fan-out generator instead (FANNED, bench_veth.h), or
 * left out.
 */
static inline void veth_live_refused(const char *bench, bool fanned)
{
	printf("  %s: this kernel refuses live frames (BPF_PROG_TEST_RUN with "
	       "BPF_F_TEST_XDP_LIVE_FRAMES: EPERM):\n  %s\n", bench,
	       fanned ? "the frames come from a packet socket, each copied 32 times by an XDP "
			"devmap broadcast\n  into the veth (the same xdp_frames, 32 alike in a row; "
			"bench_veth.h, veth_fan_make)" :
			"its live Mpps rows cannot be measured on it and are left out");
}

/* A counter of veth IF in namespace NS from `ethtool -S`. */
static inline long long veth_stat(const char *ns, const char *ifname, const char *key)
{
	char cmd[160], line[256];
	long long v = -1;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ip netns exec %s ethtool -S %s", ns, ifname);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p)) {
		char *k = line + strspn(line, " ");

		if (!strncmp(k, key, strlen(key)) && k[strlen(key)] == ':')
			v = strtoll(k + strlen(key) + 1, NULL, 10);
	}
	pclose(p);
	return v;
}

/*
 * Start BUILD/sluiced in namespace NS on the policy dir POL, state dir STATE
 * and socket SOCK, its log (stderr) on a pipe read as *LOG (unbuffered:
 * poll() must see every line stdio has not consumed yet). Its pid, or -1.
 */
static inline pid_t bench_agent_start(const char *build, const char *ns, const char *pol,
				      const char *state, const char *sock, FILE **log)
{
	char bin[256];
	pid_t pid;
	int p[2];

	snprintf(bin, sizeof(bin), "%s/sluiced", build);
	if (pipe2(p, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		if (enter_ns(ns) || dup2(p[1], 2) < 0)
			_exit(127);
		execl(bin, bin, "--policy-dir", pol, "--state-dir", state, "--socket", sock,
		      "--foreground", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	*log = fdopen(p[0], "re");
	if (!*log)
		return -1;
	setvbuf(*log, NULL, _IONBF, 0);
	return pid;
}

/* qsort(3) order of doubles, for the medians. */
static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of the N values of V (sorted in place; N even: the mean of the middle two). */
static inline double median(double *v, int n)
{
	qsort(v, n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The i-th /24 of the generated /24 sets, host order (see bench/bpf/bench_gen.h). */
static inline uint32_t net24(uint32_t i)
{
	return sl_bench_base(i, SL_BENCH_24);
}

/*
 * Kernel memory charged to this process's memory cgroup now, in bytes
 * (cgroup v1 memory.kmem.usage_in_bytes, v2 memory.stat "kernel"): what
 * map creation really costs, slab and vmalloc, not only what memlock says.
 * *SRC names where it came from; -1 when no memory cgroup is readable.
 */
static inline long long kernel_mem(const char **src)
{
	char line[512], cg[400] = "", path[600];
	long long v = -1;
	bool v2 = false;
	FILE *f = fopen("/proc/self/cgroup", "re");

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*d:memory:%399[^\n]", cg) == 1)
			break;
		if (sscanf(line, "0::%399[^\n]", cg) == 1)
			v2 = true;
	}
	if (f)
		fclose(f);
	if (!v2) {
		snprintf(path, sizeof(path), "/sys/fs/cgroup/memory%s/memory.kmem.usage_in_bytes",
			 cg);
		f = fopen(path, "re");
		if (f && fscanf(f, "%lld", &v) != 1)
			v = -1;
		*src = "memory cgroup kmem";
	} else {
		snprintf(path, sizeof(path), "/sys/fs/cgroup%s/memory.stat", cg);
		f = fopen(path, "re");
		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "kernel %lld", &v) == 1)
				break;
		*src = "memory cgroup memory.stat kernel";
	}
	if (f)
		fclose(f);
	return v;
}

/* KERNEL_MEM once its value stops moving (maps freed by RCU and workqueues settle). */
static inline long long kernel_mem_settled(const char **src)
{
	long long a = kernel_mem(src), b;

	for (int i = 0; i < 50; i++) {
		usleep(20000);
		b = kernel_mem(src);
		if (llabs(b - a) < 64 * 1024)
			return b;
		a = b;
	}
	return a;
}

static inline int write_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	fputs(text, f);
	return fclose(f) ? -EIO : 0;
}

static inline void remove_dir(const char *dir)
{
	static const char *const files[] = { "policy.yaml", "big.txt", "v6.txt", "rules.nft" };
	char path[256];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

/*
 * Apply the policy in DIR to the maps FDS; prints the time each step took
 * when VERBOSE. KEEP (may be NULL) receives the policy (the caller frees it).
 */
static inline int apply_pol(const char *dir, const struct fw_map_fds *fds, uint64_t gen,
			    bool verbose, struct sl_policy *keep)
{
	struct sl_diags diags = { 0 };
	struct fw_tables t = { 0 };
	struct sl_policy pol;
	double t0 = now_s(), t1, t2, t3;
	int err;

	err = policy_load_dir(dir, &pol, &diags);
	t1 = now_s();
	if (!err) {
		err = fw_compile(&pol, policy_fw(&pol, 0), gen, &t, &diags);
		t2 = now_s();
		if (!err)
			err = fw_maps_write(fds, &t, &diags);
		t3 = now_s();
		if (!err && verbose)
			printf("  policy load %.2f s, compile %.2f s (%u src classes, %u chunks, "
			       "%u hash buckets), map write %.3f s\n", t1 - t0, t2 - t1,
			       t.ncls[SL_F_SRC], t.v4[0].nt8, t.v4[0].nlh, t3 - t2);
		fw_tables_free(&t);
		if (keep && !err)
			*keep = pol;
		else
			policy_free(&pol);
	}
	if (err) {
		fprintf(stderr, "bench: applying the policy failed:\n");
		sl_diags_print(stderr, &diags);
	}
	sl_diags_free(&diags);
	return err;
}

static inline int apply(const char *dir, const struct fw_map_fds *fds, uint64_t gen, bool verbose)
{
	return apply_pol(dir, fds, gen, verbose, NULL);
}

/* DIR/big.txt: prefixes [0, N) of SHAPE (bench/bpf/bench_gen.h), one per line. */
static inline int write_set(const char *dir, enum sl_bench_shape shape, uint32_t n)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/big.txt", dir);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	fprintf(f, "# %u generated prefixes, shape %d\n", n, shape);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t a = sl_bench_base(i, shape);

		fprintf(f, "%u.%u.%u.%u/%u\n", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff,
			a & 0xff, sl_bench_len(i, shape));
	}
	return fclose(f) ? -EIO : 0;
}

/*
 * NRULES rules, the match at index MATCH, none before it: rule i < MATCH
 * denies PROTO from 10.i/32 to port 1000 + i % 1000 (each rule its own
 * address, many sharing ports), rule MATCH allows 198.51.100.1 port PORT,
 * the ones after it deny the other protocol. As YAML for sluice (*YAML)
 * and as an nft netdev ingress chain on IFNAME (*NFT); free both.
 */
static inline int rules_texts(int nrules, int match, const char *proto, int port,
			      const char *ifname, char **yaml, char **nft)
{
	const char *other = strcmp(proto, "tcp") ? "tcp" : "udp";
	size_t ylen = 0, nlen = 0;
	FILE *y = open_memstream(yaml, &ylen), *n = open_memstream(nft, &nlen);

	if (!y || !n) {
		if (y)
			fclose(y);
		if (n)
			fclose(n);
		return -ENOMEM;
	}
	fputs("firewall:\n  interfaces: [slb0]\n  default: deny\n  stateful: false\n  rules:\n", y);
	fprintf(n, "table netdev slr {\n  chain in {\n    type filter hook ingress device %s "
		"priority 0; policy drop;\n", ifname);
	for (int i = 0; i < nrules; i++) {
		if (i < match) {
			fprintf(y, "    - { name: r%d, action: deny, src: [10.%d.%d.%d], proto: %s, "
				"dport: [%d] }\n", i, i >> 16, (i >> 8) & 255, i & 255, proto,
				1000 + i % 1000);
			fprintf(n, "    ip saddr 10.%d.%d.%d %s dport %d drop\n", i >> 16,
				(i >> 8) & 255, i & 255, proto, 1000 + i % 1000);
		} else if (i == match) {
			fprintf(y, "    - { name: web, action: allow, dst: [198.51.100.1], proto: %s, "
				"dport: [%d] }\n", proto, port);
			fprintf(n, "    ip daddr 198.51.100.1 %s dport %d accept\n", proto, port);
		} else {
			fprintf(y, "    - { name: u%d, action: deny, proto: %s, dport: [%d] }\n", i,
				other, 2000 + i % 1000);
			fprintf(n, "    %s dport %d drop\n", other, 2000 + i % 1000);
		}
	}
	fputs("  }\n}\n", n);
	fclose(y);
	fclose(n);
	return 0;
}

/* The 1M /24s scattered over the address space (bench_live, bench_reload). */
static inline int write_big_set(const char *dir)
{
	return write_set(dir, SL_BENCH_24, BIG_N);
}

#endif /* SLUICE_BENCH_UTIL_H */
