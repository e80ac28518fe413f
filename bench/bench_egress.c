// SPDX-License-Identifier: GPL-2.0-only
/*
 * connect() latency under an egress policy of 100 rules, the real way: the
 * real sluiced (its cgroup hooks on a cgroup of this bench), a TCP server on
 * the loopback of a namespace of its own, and this process moving itself
 * between three cgroups (cgroup.procs) to connect() and close() in a loop:
 *
 *   unmanaged  a cgroup no policy names (the baseline)
 *   sluice     the cgroup of an egress entry: 99 deny rules for other
 *              destinations, the allow at rule 100, default deny
 *   nftables   a cgroup matched by `socket cgroupv2` in an output chain of
 *              the namespace, jumping to the same 100 rules (rejecting with
 *              a TCP reset)
 *
 * The three are interleaved round by round (short rounds, many of them:
 * other jobs share the machine); the median round of each is printed with
 * its ratio to the unmanaged one. Before timing, each setup is shown to be
 * real: a denied port gets EPERM from sluice and a reset from nftables,
 * where the unmanaged cgroup connects.
 *
 * A TCP connect() is a handshake on the loopback (tens of microseconds), so
 * two more tables: a denied connect() (sluice refuses it in the hook with
 * EPERM, nftables lets the SYN out and answers it with a reset), and the
 * hook's own cost alone: connect() of a UDP socket sends no packet, only the
 * route lookup and the cgroup hook run (nftables sees no packet there, so it
 * has no row). Everything runs on the CPU the bench started on (the server
 * and softirqs of the loopback included), which keeps the other jobs of a
 * shared machine out of the comparison as far as they can be.
 *
 * Names: namespace sle-<pid>, cgroups sle-<pid>-*, state dir
 * /sys/fs/bpf/sle-<pid>, files /tmp/sle-<pid>; all removed on every exit.
 */
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "bench_util.h"

#define RULES		100
#define CONNECTS	400	/* TCP, per round and setup */
#define UDP_CONNECTS	20000	/* UDP connect() (no packet), per round */
#define ROUNDS		21
#define PORT		18443	/* allowed */
#define PORT_DENIED	18444	/* denied by both policies, served all the same */

enum { S_UNMANAGED, S_SLUICE, S_NFT, S_MAX };
static const char *const setup_names[S_MAX] = { "unmanaged cgroup", "sluice (100 rules)",
						 "nftables socket cgroupv2 (100 rules)" };

static char ns[32], dir[64], pol[96], state[64], sock[128], cgroot[64];
static char cg[S_MAX][128];
static pid_t agent = -1, server = -1;
static FILE *agent_log;

static int join_cgroup(const char *path)
{
	char procs[192];
	FILE *f;

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", path);
	f = fopen(procs, "we");
	if (!f)
		return -errno;
	fprintf(f, "%d\n", (int)getpid());
	return fclose(f) ? -errno : 0;
}

static void cleanup(void)
{
	if (agent > 0) {
		kill(agent, SIGTERM);
		waitpid(agent, NULL, 0);
		agent = -1;
	}
	if (server > 0) {
		kill(server, SIGTERM);
		waitpid(server, NULL, 0);
		server = -1;
	}
	/* out of the bench's cgroups before they go */
	if (cgroot[0])
		join_cgroup(cgroot);
	for (int i = 0; i < S_MAX; i++)
		if (cg[i][0])
			rmdir(cg[i]);
	/* the agent leaves its pins (the policy stays in force): remove them */
	if (state[0] && sh("rm -rf %s", state)) {
		/* reported by sh */
	}
	if (ns[0] && sh("ip netns del %s 2>/dev/null", ns)) {
		/* already gone */
	}
	if (dir[0] && sh("rm -rf %s", dir)) {
		/* reported by sh */
	}
}

static void on_signal(int sig)
{
	(void)sig;
	exit(1);	/* runs cleanup() through atexit */
}

/* The 100 rules, as sluice and as nftables write them: the allow is the last. */
static int write_policies(void)
{
	char path[160];
	FILE *f;

	snprintf(path, sizeof(path), "%s/10-egress.yaml", pol);
	f = fopen(path, "we");
	if (!f)
		return -1;
	fprintf(f, "egress:\n  - name: bench\n    cgroup: %s\n    default: deny\n    rules:\n",
		cg[S_SLUICE]);
	for (int i = 0; i < RULES - 1; i++)
		fprintf(f, "      - { action: deny, dst: [198.51.100.%d], proto: tcp, dport: [%d] }\n",
			i, PORT);
	fprintf(f, "      - { action: allow, dst: [127.0.0.1], proto: [tcp, udp], dport: [%d] }\n",
		PORT);
	if (fclose(f))
		return -1;

	snprintf(path, sizeof(path), "%s/bench.nft", dir);
	f = fopen(path, "we");
	if (!f)
		return -1;
	fprintf(f, "table inet slbench {\n  chain eg {\n");
	for (int i = 0; i < RULES - 1; i++)
		fprintf(f, "    ip daddr 198.51.100.%d tcp dport %d reject with tcp reset\n", i, PORT);
	fprintf(f, "    ip daddr 127.0.0.1 meta l4proto { tcp, udp } th dport %d accept\n"
		"    reject with tcp reset\n  }\n"
		"  chain out {\n    type filter hook output priority 0; policy accept;\n"
		"    socket cgroupv2 level 1 \"%s\" jump eg\n  }\n}\n", PORT, strrchr(cg[S_NFT], '/') + 1);
	return fclose(f) ? -1 : 0;
}

/*
 * nft finds a cgroupv2 path under /sys/fs/cgroup only: where cgroup2 is
 * mounted elsewhere (the hybrid layout), it runs in a mount namespace of its
 * own with the cgroup2 root bound there. The rule holds the cgroup's id.
 */
static int nft_load(void)
{
	if (!strcmp(cgroot, "/sys/fs/cgroup"))
		return sh("ip netns exec %s nft -f %s/bench.nft", ns, dir);
	return sh("unshare -m sh -c 'mount --make-rprivate / && mount --bind %s /sys/fs/cgroup && "
		  "nsenter --net=/run/netns/%s nft -f %s/bench.nft'", cgroot, ns, dir);
}

static int agent_start(const char *build)
{
	agent = bench_agent_start(build, ns, pol, state, sock, &agent_log);
	return agent < 0 ? -1 : 0;
}

/* Read the agent's log until WANT, at most LIMIT s: 0, or -1. */
static int agent_wait(const char *want, double limit)
{
	struct pollfd pfd = { .fd = fileno(agent_log), .events = POLLIN };
	double t0 = now_s();
	char line[512];

	while (now_s() - t0 < limit) {
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (!fgets(line, sizeof(line), agent_log))
			break;
		if (strstr(line, want))
			return 0;
		if (strstr(line, "not applied") || strstr(line, "error"))
			fprintf(stderr, "bench_egress: agent: %s", line);
	}
	fprintf(stderr, "bench_egress: no '%s' from the agent in %.0f s\n", want, limit);
	return -1;
}

/* Accept and close, on both ports, until killed (a child in the namespace). */
static int server_start(void)
{
	int ls[2];

	server = fork();
	if (server < 0)
		return -1;
	if (server)
		return 0;
	/* killed with SIGTERM by the parent: the parent's cleanup is not this child's */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	if (enter_ns(ns))
		_exit(1);
	for (int i = 0; i < 2; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_port = htons(i ? PORT_DENIED : PORT),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int one = 1;

		ls[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		setsockopt(ls[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ls[i] < 0 || bind(ls[i], (struct sockaddr *)&a, sizeof(a)) ||
		    listen(ls[i], 1024))
			_exit(1);
	}
	for (;;) {
		struct pollfd p[2] = { { ls[0], POLLIN, 0 }, { ls[1], POLLIN, 0 } };

		if (poll(p, 2, -1) < 0)
			continue;
		for (int i = 0; i < 2; i++) {
			int c = p[i].revents ? accept4(ls[i], NULL, NULL, SOCK_CLOEXEC) : -1;

			if (c >= 0)
				close(c);
		}
	}
}

/* One connect() to PORT and close (with RST: no TIME_WAIT piles up): 0 or -errno. */
static int connect_once(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct linger lg = { 1, 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), err = 0;

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)))
		err = -errno;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	return err;
}

/* Each setup really does what it claims (see the header). */
static int sanity(void)
{
	static const int want[S_MAX] = { 0, -EPERM, -ECONNREFUSED };

	for (int s = 0; s < S_MAX; s++) {
		int ok, denied;

		if (join_cgroup(cg[s]))
			return -1;
		ok = connect_once(PORT);
		denied = connect_once(PORT_DENIED);
		if (ok || denied != want[s]) {
			fprintf(stderr, "bench_egress: %s: allowed port %s, denied port %s "
				"(expected %s)\n", setup_names[s], ok ? strerror(-ok) : "connects",
				denied ? strerror(-denied) : "connects",
				want[s] ? strerror(-want[s]) : "connects");
			return -1;
		}
	}
	return 0;
}

/* Microseconds per connect() + close() to PORT (WANT: its result) of CONNECTS in cgroup S. */
static double round_us(int s, int port, int want)
{
	double t0;

	if (join_cgroup(cg[s]))
		return -1;
	t0 = now_s();
	for (int i = 0; i < CONNECTS; i++)
		if (connect_once(port) != want)
			return -1;
	return (now_s() - t0) * 1e6 / CONNECTS;
}

/* Nanoseconds per connect() of one UDP socket to PORT, UDP_CONNECTS times, in cgroup S. */
static double round_udp_ns(int s)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	double t0;
	int fd;

	if (join_cgroup(cg[s]))
		return -1;
	/* created in the cgroup: a socket belongs to the cgroup it was made in */
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	t0 = now_s();
	for (int i = 0; i < UDP_CONNECTS; i++) {
		if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
			close(fd);
			return -1;
		}
	}
	close(fd);
	return (now_s() - t0) * 1e9 / UDP_CONNECTS;
}

int main(int argc, char **argv)
{
	const char *build = argc > 1 ? argv[1] : getenv("BUILD");
	double us[S_MAX][ROUNDS], med[S_MAX], udp[2][ROUNDS], umed[2], den[2][ROUNDS], dmed[2];
	cpu_set_t one;

	if (!build)
		build = "build";
	snprintf(cgroot, sizeof(cgroot), "%s",
		 access("/sys/fs/cgroup/unified/cgroup.procs", F_OK) ? "/sys/fs/cgroup" :
		 "/sys/fs/cgroup/unified");
	snprintf(ns, sizeof(ns), "sle-%d", (int)getpid());
	snprintf(dir, sizeof(dir), "/tmp/sle-%d", (int)getpid());
	snprintf(pol, sizeof(pol), "%s/policies", dir);
	snprintf(state, sizeof(state), "/sys/fs/bpf/sle-%d", (int)getpid());
	snprintf(sock, sizeof(sock), "%s/s.sock", dir);
	atexit(cleanup);
	/* one CPU for the client, the server (forked later) and their softirqs */
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu() < 0 ? 0 : sched_getcpu(), &one);
	sched_setaffinity(0, sizeof(one), &one);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	for (int s = 0; s < S_MAX; s++) {
		static const char *const suffix[S_MAX] = { "un", "eg", "nft" };

		snprintf(cg[s], sizeof(cg[s]), "%s/sle-%d-%s", cgroot, (int)getpid(), suffix[s]);
		if (mkdir(cg[s], 0755)) {
			fprintf(stderr, "bench_egress: %s: %s\n", cg[s], strerror(errno));
			cg[s][0] = '\0';
			return 1;
		}
	}
	if (sh("mkdir -p %s", pol) || write_policies() ||
	    sh("ip netns add %s && ip -n %s link set lo up", ns, ns) || nft_load() ||
	    agent_start(build) || agent_wait("hooks attached", 120) || server_start() ||
	    enter_ns(ns)) {
		fprintf(stderr, "bench_egress: setup failed\n");
		return 1;
	}
	/* the server listens once it has entered the namespace: wait for it */
	for (double t0 = now_s(); join_cgroup(cg[S_UNMANAGED]) || connect_once(PORT);) {
		if (now_s() - t0 > 10) {
			fprintf(stderr, "bench_egress: the server does not answer\n");
			return 1;
		}
		usleep(10000);
	}
	if (sanity())
		return 1;
	for (int r = 0; r < ROUNDS; r++) {
		/* each setup goes first in a third of the rounds */
		for (int k = 0; k < S_MAX; k++) {
			int s = (r + k) % S_MAX;

			us[s][r] = round_us(s, PORT, 0);
			if (us[s][r] < 0) {
				fprintf(stderr, "bench_egress: %s: connect failed\n", setup_names[s]);
				return 1;
			}
		}
		den[0][r] = round_us(S_SLUICE, PORT_DENIED, -EPERM);
		den[1][r] = round_us(S_NFT, PORT_DENIED, -ECONNREFUSED);
		if (den[0][r] < 0 || den[1][r] < 0) {
			fprintf(stderr, "bench_egress: a denied connect() was not refused\n");
			return 1;
		}
		for (int s = 0; s < 2; s++) {
			udp[s][r] = round_udp_ns(s);
			if (udp[s][r] < 0) {
				fprintf(stderr, "bench_egress: %s: UDP connect failed\n",
					setup_names[s]);
				return 1;
			}
		}
	}
	printf("connect() + close() to a loopback listener, %d per round, median of %d rounds "
	       "(interleaved)\n", CONNECTS, ROUNDS);
	printf("  %-38s %10s %8s\n", "setup", "us/connect", "ratio");
	for (int s = 0; s < S_MAX; s++) {
		med[s] = median(us[s], ROUNDS);
		printf("  %-38s %10.2f %7.2fx\n", setup_names[s], med[s], med[s] / med[S_UNMANAGED]);
	}
	printf("  sluice vs nftables: %.2fx (target: sluice <= 1.2x unmanaged and below "
	       "nftables)\n", med[S_SLUICE] / med[S_NFT]);
	printf("\ndenied connect(), %d per round\n", CONNECTS);
	printf("  %-38s %10s %8s\n", "setup", "us/connect", "ratio");
	dmed[0] = median(den[0], ROUNDS);
	dmed[1] = median(den[1], ROUNDS);
	printf("  %-38s %10.2f %7.2fx\n", "sluice: EPERM in the hook", dmed[0], 1.0);
	printf("  %-38s %10.2f %7.2fx\n", "nftables: reject with tcp reset", dmed[1],
	       dmed[1] / dmed[0]);
	printf("\nconnect() of a UDP socket (no packet: the cgroup hook alone), %d per round\n",
	       UDP_CONNECTS);
	printf("  %-38s %10s %8s\n", "setup", "ns/connect", "ratio");
	for (int s = 0; s < 2; s++) {
		umed[s] = median(udp[s], ROUNDS);
		printf("  %-38s %10.0f %7.2fx\n", setup_names[s], umed[s], umed[s] / umed[0]);
	}
	printf("  the hook with 100 rules: %.0f ns per connect()\n", umed[1] - umed[0]);
	return 0;
}
