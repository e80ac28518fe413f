// SPDX-License-Identifier: GPL-2.0-only
/*
 * CLI edits end to end: `sluice block add PREFIX` from the CLI's start to
 * its exit, which is after the agent answered, which is after the edit is
 * in force and saved. Beside it, measured in the same run against the same
 * agent:
 *
 *   sluice status        the CLI's start and one control round trip with an
 *                        answer that reads maps (the floor of any command)
 *   SIGHUP reload        the agent re-reading and applying the same dir,
 *                        timed until the new generation answers
 *
 * for a 100-rule policy whose blocklist is empty before each add and after
 * each del (rule 0 comes and goes: a whole-policy apply, which is what a
 * rule edit costs too), then again with a 100,000-prefix set added; then
 * with a 1,048,576-address blocklist in force, where an add or del is a
 * journal line and a trie update, beside `nft add|delete element` on a set
 * of the same addresses. Also how soon a new or renamed link that matches
 * the policy's pattern is attached (the netns tests check that it is, not
 * how fast).
 *
 * The agent runs in a namespace of its own (sle-b<pid>) with one veth pair;
 * its state dir is /sys/fs/bpf/sle-b<pid>. Everything is removed on exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define ROUNDS		15

static char ns[32], state[64], work[64], pol[96], sock[96], logf[96];
static char sluiced[600], sluice[600];
static pid_t agent = -1;

/* Run the CLI with ARGV (NULL-terminated, after the socket); stdout to OUT or /dev/null. */
static int cli(char *out, size_t outlen, const char *const *argv)
{
	const char *av[16] = { sluice, "--socket", sock };
	int p[2], st, n = 3;
	pid_t pid;

	for (int i = 0; argv[i] && n < 15; i++)
		av[n++] = argv[i];
	av[n] = NULL;
	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(out ? p[1] : null, 1);
		dup2(null, 2);
		close(p[0]);
		execv(sluice, (char *const *)av);
		_exit(127);
	}
	close(p[1]);
	if (out) {
		size_t len = 0;
		ssize_t r;

		while (len + 1 < outlen && (r = read(p[0], out + len, outlen - len - 1)) > 0)
			len += (size_t)r;
		out[len] = '\0';
	}
	close(p[0]);
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* `sluice ARGV...`, ms from start to exit; -1 when it fails. */
static double cli_ms(const char *const *argv)
{
	double t0 = now_s() * 1e3;

	if (cli(NULL, 0, argv))
		return -1;
	return now_s() * 1e3 - t0;
}

static long long generation(void)
{
	static const char *const av[] = { "-j", "status", NULL };
	char buf[65536], *g;

	if (cli(buf, sizeof(buf), av))
		return -1;
	g = strstr(buf, "\"generation\":");
	return g ? atoll(g + 13) : -1;
}

static void cleanup(void)
{
	static const char *const td[] = { "teardown", NULL };

	if (agent > 0) {
		cli(NULL, 0, td);
		kill(agent, SIGTERM);
		waitpid(agent, NULL, 0);
		agent = -1;
	}
	if (state[0])
		sh("rm -rf '%s' 2>/dev/null", state);
	if (work[0])
		sh("rm -rf '%s'", work);
	if (ns[0])
		sh("ip netns del %s 2>/dev/null", ns);
}

static void on_signal(int sig)
{
	(void)sig;
	exit(1);	/* cleanup() through atexit */
}

static void row(const char *what, double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	printf("  %-36s %8.2f %8.2f %8.2f\n", what, v[n / 2], v[n * 9 / 10], v[0]);
}

static int write_policy(int nrules, bool big)
{
	char path[160];
	FILE *f;

	snprintf(path, sizeof(path), "%s/10-fw.yaml", pol);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	/* hook: xdp: the attach timings below wait for XDP on the new veths (auto: tcx) */
	fprintf(f, "firewall:\n  interfaces: [\"%s*\"]\n  default: allow\n  stateful: false\n"
		"  hook: xdp\n  rules:\n", ns);
	if (big)
		fprintf(f, "    - {name: big, action: deny, src: [\"@big\"]}\n");
	for (int i = 0; i < nrules; i++)
		fprintf(f, "    - {name: r%d, action: deny, proto: udp, dport: [%d]}\n", i,
			20000 + i);
	if (big)
		fprintf(f, "sets:\n  big:\n    file: big.txt\n");
	if (fclose(f))
		return -EIO;
	if (!big)
		return 0;
	/* 100,000 distinct /32s inside 203.0.113.0/24 and 2001:db8::/32 */
	snprintf(path, sizeof(path), "%s/big.txt", pol);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	for (int i = 0; i < 256; i++)
		fprintf(f, "203.0.113.%d\n", i);
	for (int i = 0; i < 100000 - 256; i++)
		fprintf(f, "2001:db8:%x:%x::/64\n", 0xb000 + (i >> 16), i & 0xffff);
	return fclose(f) ? -EIO : 0;
}

static int wait_generation(long long want, double timeout_ms)
{
	double t0 = now_s() * 1e3;

	while (now_s() * 1e3 - t0 < timeout_ms) {
		if (generation() >= want)
			return 0;
		usleep(5000);
	}
	return -ETIMEDOUT;
}

/* One table: status, reload, block add, block del. */
static int measure(const char *title)
{
	static const char *const st[] = { "status", NULL };
	double s[ROUNDS], r[ROUNDS], a[ROUNDS], d[ROUNDS];

	for (int i = 0; i < ROUNDS; i++) {
		char pfx[32];
		const char *add[] = { "block", "add", pfx, NULL };
		const char *del[] = { "block", "del", pfx, NULL };
		long long g;
		double t0;

		snprintf(pfx, sizeof(pfx), "198.51.100.%d", i + 1);
		s[i] = cli_ms(st);
		if (s[i] < 0)
			return -1;

		g = generation();
		t0 = now_s() * 1e3;
		kill(agent, SIGHUP);
		if (wait_generation(g + 1, 30000))
			return -1;
		r[i] = now_s() * 1e3 - t0;

		a[i] = cli_ms(add);
		if (a[i] < 0)
			return -1;
		d[i] = cli_ms(del);
		if (d[i] < 0)
			return -1;
	}
	printf("\n%s, ms over %d rounds            median      p90      min\n", title, ROUNDS);
	row("sluice status (baseline)", s, ROUNDS);
	row("SIGHUP reload, same dir (baseline)", r, ROUNDS);
	row("sluice block add PREFIX", a, ROUNDS);
	row("sluice block del PREFIX", d, ROUNDS);
	return 0;
}

#define BLOCK_N		(1u << 20)

/* The I-th of BLOCK_N distinct IPv4 addresses, scattered (an odd multiplier is a bijection). */
static uint32_t block_addr(uint32_t i)
{
	return (i + 1) * 2654435761u;
}

static void put_addr(FILE *f, uint32_t a)
{
	fprintf(f, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

/* `nft ARGS` in the namespace, ms; -1 when it fails. */
static double nft_ms(const char *args)
{
	double t0 = now_s() * 1e3;

	if (sh("ip netns exec %s nft %s", ns, args))
		return -1;
	return now_s() * 1e3 - t0;
}

/*
 * `sluice rule add` / `rule del` of one rule with NRULES hand-written rules in
 * force (a whole-policy apply: a new slot, the unchanged tables shared),
 * beside `nft add rule` into a chain of the same NRULES rules.
 */
static int measure_rules(int nrules)
{
	double a[ROUNDS], d[ROUNDS], na[ROUNDS], t0;
	char path[160], cmd[256];
	long long g = generation();
	FILE *f;

	if (write_policy(nrules, false) || kill(agent, SIGHUP) || wait_generation(g + 1, 60000))
		return -1;
	for (int i = 0; i < ROUNDS; i++) {
		char name[32], port[16];
		const char *add[] = { "rule", "add", name, "--action", "deny", "--proto", "tcp",
				      "--dport", port, NULL };
		const char *del[] = { "rule", "del", name, NULL };

		snprintf(name, sizeof(name), "cli-%d", i);
		snprintf(port, sizeof(port), "%d", 30000 + i);
		a[i] = cli_ms(add);
		if (a[i] < 0)
			return -1;
		d[i] = cli_ms(del);
		if (d[i] < 0)
			return -1;
	}
	snprintf(path, sizeof(path), "%s/rules.nft", work);
	f = fopen(path, "we");
	if (!f)
		return -1;
	fputs("table inet sler {\n  chain in {\n    type filter hook input priority 0;\n", f);
	for (int i = 0; i < nrules; i++)
		fprintf(f, "    udp dport %d drop\n", 20000 + i);
	fputs("  }\n}\n", f);
	if (fclose(f))
		return -1;
	snprintf(cmd, sizeof(cmd), "-f %s", path);
	t0 = nft_ms(cmd);
	for (int i = 0; t0 >= 0 && i < ROUNDS; i++) {
		snprintf(cmd, sizeof(cmd), "add rule inet sler in tcp dport %d drop", 30000 + i);
		na[i] = nft_ms(cmd);
		if (na[i] < 0)
			t0 = -1;
	}
	sh("ip netns exec %s nft delete table inet sler 2>/dev/null", ns);
	printf("\n%d rules, ms over %d rounds              median      p90      min\n", nrules,
	       ROUNDS);
	row("sluice rule add NAME ...", a, ROUNDS);
	row("sluice rule del NAME", d, ROUNDS);
	if (t0 < 0)
		printf("  nft: not measured (nft missing or the chain did not load)\n");
	else
		row("nft add rule (same 1,000-rule chain)", na, ROUNDS);
	return 0;
}

/*
 * A CLI blocklist of 1,048,576 single IPv4 addresses in force (written as the
 * edits file and loaded by SIGHUP, as after a restart), then block add and
 * del of one more: a journal line and a trie update. Beside it, `nft add
 * element` / `delete element` of one address into a set of the same
 * 1,048,576 addresses, in the same namespace and run.
 */
static int measure_big_block(void)
{
	double a[ROUNDS], d[ROUNDS], na[ROUNDS], nd[ROUNDS], t0;
	char path[160], cmd[256];
	long long g = generation();
	FILE *f;

	snprintf(path, sizeof(path), "%s/.sluice-cli.yaml", pol);
	f = fopen(path, "we");
	if (!f)
		return -1;
	fputs("rules: []\nblock: |\n", f);
	for (uint32_t i = 0; i < BLOCK_N; i++) {
		fputs("  ", f);
		put_addr(f, block_addr(i));
		fputs("/32\n", f);
	}
	if (fclose(f))
		return -1;
	t0 = now_s() * 1e3;
	if (write_policy(100, false) || kill(agent, SIGHUP) || wait_generation(g + 1, 120000))
		return -1;
	printf("\n(1,048,576-prefix CLI blocklist loaded in %.0f ms, by SIGHUP)\n",
	       now_s() * 1e3 - t0);
	for (int i = 0; i < ROUNDS; i++) {
		char pfx[32];
		const char *add[] = { "block", "add", pfx, NULL };
		const char *del[] = { "block", "del", pfx, NULL };

		snprintf(pfx, sizeof(pfx), "192.0.2.%d", i + 1);
		a[i] = cli_ms(add);
		if (a[i] < 0)
			return -1;
		d[i] = cli_ms(del);
		if (d[i] < 0)
			return -1;
	}

	/* nft: the same addresses in a set of its own table, same namespace */
	snprintf(path, sizeof(path), "%s/block.nft", work);
	f = fopen(path, "we");
	if (!f)
		return -1;
	fputs("table inet sleb {\n  set s { type ipv4_addr; }\n  chain in {\n"
	      "    type filter hook input priority 0; ip saddr @s drop\n  }\n}\n", f);
	for (uint32_t i = 0; i < BLOCK_N; i++) {
		fputs(i % 4096 ? ", " : "add element inet sleb s { ", f);
		put_addr(f, block_addr(i));
		if (i % 4096 == 4095 || i == BLOCK_N - 1)
			fputs(" }\n", f);
	}
	if (fclose(f))
		return -1;
	snprintf(cmd, sizeof(cmd), "-f %s", path);
	t0 = nft_ms(cmd);
	for (int i = 0; t0 >= 0 && i < ROUNDS; i++) {
		snprintf(cmd, sizeof(cmd), "add element inet sleb s '{ 192.0.2.%d }'", i + 1);
		na[i] = nft_ms(cmd);
		snprintf(cmd, sizeof(cmd), "delete element inet sleb s '{ 192.0.2.%d }'", i + 1);
		nd[i] = nft_ms(cmd);
		if (na[i] < 0 || nd[i] < 0)
			t0 = -1;
	}
	sh("ip netns exec %s nft delete table inet sleb 2>/dev/null", ns);
	printf("\n100 rules + a 1,048,576-prefix blocklist, ms over %d rounds  median      p90"
	       "      min\n", ROUNDS);
	row("sluice block add PREFIX", a, ROUNDS);
	row("sluice block del PREFIX", d, ROUNDS);
	if (t0 < 0) {
		printf("  nft: not measured (nft missing or the set did not load)\n");
		return 0;
	}
	row("nft add element (same 1M set)", na, ROUNDS);
	row("nft delete element", nd, ROUNDS);
	return 0;
}

/* Does DEV in the namespace run an XDP program? (system(3): no message while it is not yet) */
static bool has_xdp(const char *dev)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "ip -n %s link show dev %s 2>/dev/null | grep -q ' xdp'", ns,
		 dev);
	return system(cmd) == 0;
}

/* Milliseconds from T0 (ms) until DEV runs XDP; -1 past 10 s. */
static double until_xdp(const char *dev, double t0)
{
	while (!has_xdp(dev)) {
		if (now_s() * 1e3 - t0 > 10000)
			return -1;
		usleep(2000);
	}
	return now_s() * 1e3 - t0;
}

/*
 * How soon a link that appears, or is renamed into the policy's pattern, is
 * attached (docs/policy.md: "within a second"): from the `ip` command until
 * `ip link show` sees the program. The baseline is the same commands and
 * one `ip link show` on a link no pattern matches (the cost of the probe).
 */
static int measure_attach(void)
{
	double add[ROUNDS], ren[ROUNDS], base[ROUNDS];

	for (int i = 0; i < ROUNDS; i++) {
		char dev[48], rdev[48];	/* 15 characters: ns is "sle-bNNNNN" */
		double t0;

		snprintf(dev, sizeof(dev), "%sn%d", ns, i);
		snprintf(rdev, sizeof(rdev), "%sr%d", ns, i);
		t0 = now_s() * 1e3;
		if (sh("ip -n %s link add zzb%d type veth peer name zzc%d && "
		       "ip -n %s link set zzb%d up", ns, i, i, ns, i))
			return -1;
		has_xdp("zzb0");
		base[i] = now_s() * 1e3 - t0;

		t0 = now_s() * 1e3;
		if (sh("ip -n %s link add %s type veth peer name zzp%d && ip -n %s link set %s up",
		       ns, dev, i, ns, dev))
			return -1;
		add[i] = until_xdp(dev, t0);

		if (sh("ip -n %s link add zzr%d type veth peer name zzq%d", ns, i, i))
			return -1;
		t0 = now_s() * 1e3;
		if (sh("ip -n %s link set zzr%d name %s && ip -n %s link set %s up", ns, i, rdev, ns,
		       rdev))
			return -1;
		ren[i] = until_xdp(rdev, t0);
		sh("ip -n %s link del %s; ip -n %s link del %s; ip -n %s link del zzb%d", ns, dev,
		   ns, rdev, ns, i);
		if (add[i] < 0 || ren[i] < 0) {
			fprintf(stderr, "bench_edit: no XDP on a new link after 10 s\n");
			return -1;
		}
	}
	printf("\nA link that appears, ms over %d rounds     median      p90      min\n", ROUNDS);
	row("ip link add + show (baseline)", base, ROUNDS);
	row("new link matching: XDP attached", add, ROUNDS);
	row("renamed into the pattern: attached", ren, ROUNDS);
	return 0;
}

int main(int argc, char **argv)
{
	char self[512], *slash;
	ssize_t n;
	double t0;
	int fd;

	(void)argc;
	(void)argv;
	if (geteuid()) {
		fprintf(stderr, "bench_edit: needs root\n");
		return 1;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return 1;
	self[n] = '\0';
	slash = strrchr(self, '/');
	*slash = '\0';		/* BUILD/bench */
	snprintf(sluiced, sizeof(sluiced), "%s/../sluiced", self);
	snprintf(sluice, sizeof(sluice), "%s/../sluice", self);
	if (access(sluiced, X_OK) || access(sluice, X_OK)) {
		fprintf(stderr, "bench_edit: %s or %s missing: make first\n", sluiced, sluice);
		return 1;
	}

	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	snprintf(ns, sizeof(ns), "sle-b%d", (int)getpid() % 100000);
	snprintf(state, sizeof(state), "/sys/fs/bpf/%s", ns);
	snprintf(work, sizeof(work), "/tmp/%s", ns);
	snprintf(pol, sizeof(pol), "%s/pol", work);
	snprintf(sock, sizeof(sock), "%s/s.sock", work);
	snprintf(logf, sizeof(logf), "%s/sluiced.log", work);
	if (sh("ip netns add %s", ns) ||
	    sh("ip -n %s link add %sa type veth peer name %sb", ns, ns, ns) ||
	    sh("ip -n %s link set %sa up && ip -n %s link set %sb up", ns, ns, ns, ns) ||
	    sh("mkdir -p %s && chmod 700 %s", pol, work) ||
	    sh("[ \"$(stat -f -c %%T /sys/fs/bpf)\" = bpf_fs ] || mount -t bpf bpf /sys/fs/bpf"))
		return 1;
	if (write_policy(100, false))
		return 1;

	agent = fork();
	if (agent == 0) {
		char nsarg[64];

		fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		snprintf(nsarg, sizeof(nsarg), "--net=/run/netns/%s", ns);
		execlp("nsenter", "nsenter", nsarg, sluiced, "--policy-dir", pol, "--state-dir",
		       state, "--socket", sock, "--foreground", "--event-rate", "0",
		       (char *)NULL);
		_exit(127);
	}
	if (agent < 0 || wait_generation(1, 20000)) {
		fprintf(stderr, "bench_edit: the agent did not start (log: %s)\n", logf);
		sh("cat %s >&2", logf);
		return 1;
	}
	printf("CLI edit end to end (CLI start to exit: the agent answers once the merged\n"
	       "policy is in force on every link and the edits file is saved)\n");
	if (measure("100 rules") || measure_attach())
		goto fail;

	t0 = now_s() * 1e3;
	{
		long long g = generation();

		if (write_policy(100, true) || kill(agent, SIGHUP) || wait_generation(g + 1, 60000))
			goto fail;
	}
	printf("\n(100k-prefix set loaded in %.0f ms)\n", now_s() * 1e3 - t0);
	if (measure("100 rules + a 100,000-prefix set"))
		goto fail;
	if (measure_rules(1000) || measure_big_block())
		goto fail;
	return 0;
fail:
	fprintf(stderr, "bench_edit: a command failed (log: %s)\n", logf);
	sh("tail -20 %s >&2", logf);
	return 1;
}
