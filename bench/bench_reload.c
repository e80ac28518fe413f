// SPDX-License-Identifier: GPL-2.0-only
/*
 * Time from a policy change to the policy in force, through the real agent:
 * sluiced runs in a namespace of its own with its firewall on a veth; the
 * bench replaces a policy file the way editors and config management do
 * (write a hidden temp file, then rename it over the old one) and times
 * until the agent logs "policy generation N applied", which it does once
 * every link runs the new tables. Split into the debounce (change to
 * "reloading") and the apply (read, check, compile, write the idle slot,
 * switch the links). Cases: a 100-rule policy, a 1M-prefix set file, and
 * SIGHUP (no debounce).
 *
 * Baseline in the same run and namespace: `nft -f` of the same kinds of
 * change: a 100-rule chain, and a set of 100k (and 1M) IPv4 prefixes, created
 * and then replaced atomically (flush + add in one transaction).
 *
 * Names: namespace and veths slr-<pid>, state dir /sys/fs/bpf/slr-<pid>,
 * files /tmp/slr-<pid>; all removed on every exit.
 */
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "bench_util.h"

#define ROUNDS		5
#define RULES		100
#define NFT_SMALL	100000u
#define LINE_MAX_	512

static char ns[32], dir[64], pol[96], state[64], sock[128];
static pid_t agent = -1;
static FILE *agent_log;
static unsigned long long last_gen;	/* the last "policy generation N applied" */

static void cleanup(void)
{
	if (agent > 0) {
		kill(agent, SIGTERM);
		waitpid(agent, NULL, 0);
		agent = -1;
	}
	/* the agent leaves its pins (the firewall stays in force): remove them */
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

/* Write TEXT to DIR/.NAME.tmp, then rename it over DIR/NAME. */
static int replace_file(const char *d, const char *name, const char *text)
{
	char tmp[256], path[256];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", d, name);
	snprintf(path, sizeof(path), "%s/%s", d, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fsync(fd)) {
		close(fd);
		return -EIO;
	}
	close(fd);
	return rename(tmp, path) ? -errno : 0;
}

/* 100 rules; VARIANT changes every rule's port, so each write is a new policy. */
static char *rules_policy(int variant)
{
	size_t len = 64 * 1024, n = 0;
	char *s = malloc(len);

	if (!s)
		return NULL;
	n += snprintf(s + n, len - n, "firewall:\n  interfaces: [\"slr%d\"]\n  default: allow\n"
		      "  stateful: false\n  rules:\n", (int)getpid());
	for (int i = 0; i < RULES; i++)
		n += snprintf(s + n, len - n,
			      "    - { name: r%d, action: %s, src: [198.51.%d.0/24], proto: tcp, "
			      "dport: [%d] }\n", i, i % 2 ? "allow" : "deny", i, 1000 + i + variant);
	return s;
}

static const char *set_policy(void)
{
	static char s[256];

	snprintf(s, sizeof(s), "sets:\n  big:\n    file: big.txt\nfirewall:\n"
		 "  interfaces: [\"slr%d\"]\n  default: allow\n  stateful: false\n"
		 "  rules:\n    - { name: big, action: deny, src: [\"@big\"] }\n", (int)getpid());
	return s;
}

/* The big set (bench_util.h) plus one /32 that differs per VARIANT, as DIR/.big.txt.tmp. */
static int write_set_tmp(int variant)
{
	char tmp[256];

	if (write_big_set(dir))
		return -1;
	snprintf(tmp, sizeof(tmp), "%s/big.txt", dir);
	{
		FILE *f = fopen(tmp, "ae");

		if (!f)
			return -1;
		fprintf(f, "203.0.113.%d/32\n", variant & 0xff);
		if (fclose(f))
			return -1;
	}
	return 0;
}

/* Start sluiced in the namespace, its log (stderr) on a pipe. */
static int agent_start(const char *build)
{
	agent = bench_agent_start(build, ns, pol, state, sock, &agent_log);
	return agent < 0 ? -1 : 0;
}

/*
 * Read the agent's log until a line containing WANT (and WANT2 when set),
 * at most LIMIT s; the time each of "reloading" and WANT appeared go to
 * *T_RELOAD (when not NULL) and the return value, -1 on timeout or exit.
 */
static double agent_wait(const char *want, const char *want2, double limit, double *t_reload)
{
	char line[LINE_MAX_];
	double t0 = now_s();
	struct pollfd pfd = { .fd = fileno(agent_log), .events = POLLIN };

	while (now_s() - t0 < limit) {
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (!fgets(line, sizeof(line), agent_log))
			return -1;
		if (t_reload && strstr(line, "reloading"))
			*t_reload = now_s();
		if (strstr(line, "policy generation "))
			sscanf(strstr(line, "policy generation "), "policy generation %llu",
			       &last_gen);
		if (strstr(line, want) && (!want2 || strstr(line, want2)))
			return now_s();
		if (strstr(line, "not applied") || strstr(line, "error")) {
			fprintf(stderr, "bench_reload: agent: %s", line);
			return -1;
		}
	}
	/* a short wait is a drain: nothing coming is fine */
	if (limit >= 5)
		fprintf(stderr, "bench_reload: no '%s' from the agent in %.0f s\n", want, limit);
	return -1;
}

struct reload {
	double total[ROUNDS], debounce[ROUNDS], apply[ROUNDS];
};

/* One change: CHANGE() done at t0, then the agent applies the next generation. */
static int one(struct reload *r, int i, int (*change)(int), int variant)
{
	char want[64];
	double t0, t1, tr = -1;

	snprintf(want, sizeof(want), "policy generation %llu applied", last_gen + 1);
	/* a change to an agent at rest: the last apply's tail (freeing its slot) is over */
	agent_wait("\001", NULL, 0.3, NULL);
	t0 = now_s();
	if (change(variant))
		return -1;
	t1 = agent_wait(want, NULL, 120, &tr);
	if (t1 < 0)
		return -1;
	r->total[i] = t1 - t0;
	r->debounce[i] = tr >= 0 ? tr - t0 : 0;
	r->apply[i] = tr >= 0 ? t1 - tr : t1 - t0;
	return 0;
}

static int change_rules(int variant)
{
	char *p = rules_policy(variant);
	int err = p ? replace_file(pol, "10-bench.yaml", p) : -ENOMEM;

	free(p);
	return err;
}

static int change_set(int variant)
{
	char tmp[256], path[256];

	/* written beside the dir and renamed in: the agent sees one change */
	snprintf(tmp, sizeof(tmp), "%s/big.txt", dir);
	snprintf(path, sizeof(path), "%s/big.txt", pol);
	(void)variant;
	return rename(tmp, path) ? -errno : 0;
}

static int change_hup(int variant)
{
	(void)variant;
	return kill(agent, SIGHUP) ? -errno : 0;
}

static void print_row(const char *what, struct reload *r)
{
	printf("  %-44s %8.3f %9.3f %8.3f\n", what, median(r->total, ROUNDS),
	       median(r->debounce, ROUNDS), median(r->apply, ROUNDS));
}

/* `nft -f FILE` in the namespace: seconds, or -1. */
static double nft_file(const char *file)
{
	double t0 = now_s();
	int st;
	pid_t p = fork();

	if (p < 0)
		return -1;
	if (!p) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (enter_ns(ns) || null < 0 || dup2(null, 1) < 0)
			_exit(127);
		execlp("nft", "nft", "-f", file, (char *)NULL);
		_exit(127);
	}
	if (waitpid(p, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		return -1;
	return now_s() - t0;
}

/* An nft file: table slr (created, or flushed and refilled when REPLACE) with N prefixes. */
static int nft_set_file(const char *path, uint32_t n, bool replace)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return -1;
	if (replace)
		fprintf(f, "flush set inet slr big\n");
	else
		fprintf(f, "table inet slr {\n  set big { type ipv4_addr; flags interval; }\n"
			   "  chain in { type filter hook input priority 0; ip saddr @big drop; }\n}\n");
	fprintf(f, "add element inet slr big {");
	for (uint32_t i = 0; i < n; i++) {
		uint32_t a = net24(i);

		fprintf(f, "%s%u.%u.%u.0/24", i ? "," : " ", a >> 24, (a >> 16) & 0xff,
			(a >> 8) & 0xff);
	}
	fprintf(f, " }\n");
	return fclose(f) ? -1 : 0;
}

static int nft_rules_file(const char *path, bool replace, int variant)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return -1;
	if (replace)
		fprintf(f, "flush chain inet slr fw\n");
	else
		fprintf(f, "table inet slr {\n  chain fw { type filter hook input priority 0; }\n}\n");
	for (int i = 0; i < RULES; i++)
		fprintf(f, "add rule inet slr fw ip saddr 198.51.%d.0/24 tcp dport %d %s\n", i,
			1000 + i + variant, i % 2 ? "accept" : "drop");
	return fclose(f) ? -1 : 0;
}

static void nft_baseline(void)
{
	char file[128];
	double c, r;

	snprintf(file, sizeof(file), "%s/nft.conf", dir);
	printf("\nbaseline: nft -f in the same namespace (nftables %s)\n",
	       system("nft --version >/dev/null 2>&1") ? "not installed" : "installed");
	if (system("nft --version >/dev/null 2>&1"))
		return;
	printf("  %-44s %8s %9s\n", "case", "create s", "replace s");
	if (!nft_rules_file(file, false, 0) && (c = nft_file(file)) >= 0 &&
	    !nft_rules_file(file, true, 1) && (r = nft_file(file)) >= 0)
		printf("  %-44s %8.3f %9.3f\n", "100-rule chain", c, r);
	if (sh("nsenter --net=/run/netns/%s nft delete table inet slr", ns))
		return;
	for (uint32_t n = NFT_SMALL; n <= BIG_N; n *= 10) {
		char what[64];

		if (n > NFT_SMALL)
			n = BIG_N;
		snprintf(what, sizeof(what), "set of %u IPv4 prefixes (interval)", n);
		c = r = -1;
		if (!nft_set_file(file, n, false))
			c = nft_file(file);
		if (c >= 0 && !nft_set_file(file, n, true))
			r = nft_file(file);
		if (c < 0 || r < 0)
			printf("  %-44s failed\n", what);
		else
			printf("  %-44s %8.3f %9.3f\n", what, c, r);
		if (sh("nsenter --net=/run/netns/%s nft delete table inet slr", ns))
			return;
	}
}

int main(int argc, char **argv)
{
	const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
	struct reload r100 = { 0 }, rset = { 0 }, rhup = { 0 };
	int pid = getpid(), rc = 1;

	(void)argc;
	(void)argv;
	if (getuid()) {
		fprintf(stderr, "bench_reload: needs root\n");
		return 1;
	}
	snprintf(ns, sizeof(ns), "slr-%d", pid);
	snprintf(dir, sizeof(dir), "/tmp/slr-%d", pid);
	snprintf(pol, sizeof(pol), "%s/policies", dir);
	snprintf(state, sizeof(state), "/sys/fs/bpf/slr-%d", pid);
	snprintf(sock, sizeof(sock), "%s/s.sock", dir);
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (mkdir(dir, 0700) || mkdir(pol, 0700) || sh("ip netns add %s", ns) ||
	    sh("ip -n %s link add slr%d type veth peer name slr%db", ns, pid, pid) ||
	    sh("ip -n %s link set slr%d up", ns, pid) || sh("ip -n %s link set slr%db up", ns, pid))
		return 1;

	printf("policy change to policy in force, through sluiced (median of %d; a complete "
	       "file is read after 5 ms, a burst of changes after 100 ms of quiet)\n", ROUNDS);
	printf("  %-44s %8s %9s %8s\n", "case", "total s", "debounce", "apply s");
	if (change_rules(0) || agent_start(build) || agent_wait("running", NULL, 120, NULL) < 0)
		goto out;
	for (int i = 0; i < ROUNDS; i++)
		if (one(&r100, i, change_rules, i + 1))
			goto out;
	print_row("100 rules: file replaced (rename-over)", &r100);
	for (int i = 0; i < ROUNDS; i++)
		if (one(&rhup, i, change_hup, 0))
			goto out;
	print_row("100 rules: SIGHUP (no debounce)", &rhup);

	/* the set: first load, then replacements of the set file */
	if (write_set_tmp(0) || change_set(0) || replace_file(pol, "10-bench.yaml", set_policy()) ||
	    agent_wait("applied", NULL, 120, NULL) < 0)
		goto out;
	/* two files changed: one apply, or two if the debounce split them */
	agent_wait("policy generation", "applied", 2, NULL);
	for (int i = 0; i < ROUNDS; i++) {
		if (write_set_tmp(i + 1) || one(&rset, i, change_set, i + 1))
			goto out;
	}
	print_row("set of 1,048,576 /24 + 1 /32 (file replaced)", &rset);
	rc = 0;
out:
	if (agent > 0) {
		kill(agent, SIGTERM);
		waitpid(agent, NULL, 0);
		agent = -1;
	}
	if (!rc)
		nft_baseline();
	return rc;
}
