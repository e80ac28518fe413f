// SPDX-License-Identifier: GPL-2.0-only
/*
 * sluiced: keeps the pinned XDP firewall of this network namespace in sync
 * with the policy dir. One thread, one epoll loop. It does not fork: run it
 * under a service manager (systemd Type=notify: service.c tells it when the
 * firewall is up); without --foreground it logs to the journal (syslog
 * where no journal runs).
 *
 * Start-up order is what keeps the firewall closed: check the policy, load
 * (or adopt) the programs reusing the pinned maps, build the compiled policy
 * into a new slot, and only then attach (or adopt the links a previous agent
 * left, moving them to a new build with bpf_link_update).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <libmnl/libmnl.h>

#include "agent.h"
#include "attach.h"
#include "block.h"
#include "conntrack.h"
#include "control.h"
#include "egress.h"
#include "events.h"
#include "fw_maps.h"
#include "health.h"
#include "lb.h"
#include "metrics.h"
#include "loader.h"
#include "log.h"
#include "netlink.h"
#include "rules.h"
#include "service.h"
#include "sync.h"
#include "version.h"

#define DEFAULT_POLICY_DIR	"/etc/sluice/policies"
#define DEFAULT_STATE_DIR	"/sys/fs/bpf/sluice"
#define DEFAULT_SOCKET		"/run/sluice/sluiced.sock"

static const char usage_text[] =
	"usage: sluiced [--policy-dir DIR] [--state-dir DIR] [--socket PATH] [--foreground]\n"
	"               [--event-rate N] [--metrics ADDR:PORT] [--log-level error|warn|info|debug] [-v]\n"
	"\n"
	"  --policy-dir DIR   policy files (*.yaml), default " DEFAULT_POLICY_DIR "\n"
	"  --state-dir DIR    pinned maps and links (on bpffs), default " DEFAULT_STATE_DIR "\n"
	"  --socket PATH      control socket, default " DEFAULT_SOCKET "\n"
	"  --event-rate N     drop events per second for `sluice monitor`, default 1000,\n"
	"                     0: off (drops are still counted)\n"
	"  --metrics ADDR:PORT  Prometheus metrics on http://ADDR:PORT/metrics (default off)\n"
	"  --foreground       log to stderr instead of the journal (the agent never forks)\n"
	"  --log-level L      error, warn, info (default) or debug\n"
	"  -v, --verbose      also log libbpf's own messages (verifier log)\n"
	"  -V, --version      print the version (git describe of the build)\n";

static void signal_ready(struct agent *a, struct ep_src *src, uint32_t events)
{
	struct signalfd_siginfo si;

	(void)src;
	(void)events;
	while (read(a->sig_fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			sync_reload(a, "SIGHUP");
			break;
		case SIGTERM:
		case SIGINT:
			pr_info("%s: exiting; the firewall stays in force (pinned under %s)",
				strsignal(si.ssi_signo), a->state_dir);
			a->stop = true;
			a->exit_code = 0;
			break;
		}
	}
}

static void netlink_ready(struct agent *a, struct ep_src *src, uint32_t events)
{
	(void)src;
	(void)events;
	if (nl_monitor_read(a->nl, attach_link_event, a) == -ENOBUFS) {
		pr_warn("rtnetlink: link events were lost; listing the links again");
		attach_sync(a);
	}
}

static void usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "sluiced: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (try --help)\n");
	exit(2);
}

static void parse_args(struct agent *a, int argc, char **argv, bool *foreground,
		       enum log_level *level, bool *verbose)
{
	static const struct option opts[] = {
		{ "policy-dir", required_argument, NULL, 'p' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "socket", required_argument, NULL, 'S' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "event-rate", required_argument, NULL, 'e' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{}
	};
	int c, lvl;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":vhV", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			a->policy_dir = optarg;
			break;
		case 's':
			a->state_dir = optarg;
			break;
		case 'S':
			a->sock_path = optarg;
			break;
		case 'f':
			*foreground = true;
			break;
		case 'm':
			/* checked here: refused before anything is loaded or applied */
			if (metrics_addr_check(optarg))
				usage_error("--metrics '%s': not a numeric ADDR:PORT (port 1 to 65535)",
					    optarg);
			a->metrics_addr = optarg;
			break;
		case 'e': {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (!*optarg || *end || optarg[0] == '-' || errno || v > UINT32_MAX)
				usage_error("--event-rate '%s': not a number of events per second",
					    optarg);
			a->ev_rate = v;
			break;
		}
		case 'l':
			lvl = log_level_parse(optarg);
			if (lvl < 0)
				usage_error("unknown log level '%s' (error, warn, info, debug)",
					    optarg);
			*level = lvl;
			break;
		case 'v':
			*verbose = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		case 'V':
			printf("sluiced %s\n", sluice_version);
			exit(0);
		case ':':
			usage_error("option '%s' needs an argument", argv[optind - 1]);
			break;
		default:
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!*a->policy_dir || !*a->state_dir || !*a->sock_path)
		usage_error("%s", "an empty path was given");
}

/*
 * Status answers and logs name absolute paths: the operator reading them
 * does not know the agent's working dir. *PATH is replaced by an allocated
 * copy kept in OWNED for freeing.
 */
static int make_absolute(const char **path, char **owned)
{
	char cwd[PATH_MAX];

	*owned = NULL;
	if ((*path)[0] == '/')
		return 0;
	if (!getcwd(cwd, sizeof(cwd)) || asprintf(owned, "%s/%s", cwd, *path) < 0) {
		*owned = NULL;
		return -errno;
	}
	*path = *owned;
	return 0;
}

static int setup_signals(struct agent *a)
{
	sigset_t set;

	/* a client that hangs up mid-answer must not kill the agent */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	a->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (a->sig_fd < 0)
		return -errno;
	a->sig_src.fd = a->sig_fd;
	a->sig_src.ready = signal_ready;
	return agent_watch(a, &a->sig_src, EPOLLIN);
}

/*
 * The agent holds an fd per pinned map and program, about three links per
 * interface of a stateful firewall and nine per egress entry: a node with
 * a few hundred veths passes the soft limit of 1024 a service manager
 * gives (systemd's default), and an interface that then appears stays
 * without its firewall. The hard limit
 * is what the administrator allows: take it all (only epoll is used, no
 * select(), so fds past FD_SETSIZE are fine).
 */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		pr_warn("cannot raise the limit of open files to %llu: %s",
			(unsigned long long)rl.rlim_max, strerror(errno));
}

/* Everything up to the event loop; returns 0 or -errno (already logged). */
static int agent_start(struct agent *a, bool *fresh)
{
	struct sl_policy pol;
	struct sl_edits e = {};
	bool pol_ok, no_edits;
	int err, pol_err;

	err = loader_paths(a);
	if (err)
		return err;
	a->epfd = epoll_create1(EPOLL_CLOEXEC);
	/* the spare fd of agent_accept, before the maps and links take the others */
	a->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (a->epfd < 0 || a->spare_fd < 0 || setup_signals(a)) {
		err = -errno;
		pr_err("cannot set up the event loop: %s", strerror(errno));
		return err;
	}
	err = ctl_open(a);
	if (err)
		return err;
	/*
	 * Before anything is loaded or attached: a --metrics address that
	 * cannot be bound (not assigned yet, the port taken) stops the start
	 * here, as a malformed one does at argument parsing. Found at the end,
	 * a first start undid the firewall it had just attached.
	 */
	err = metrics_open(a);
	if (err)
		return err;

	*fresh = !loader_state_in_force(a) && !egress_state_in_force(a);
	/* nothing in force: nothing holds the CLI's edits either (sync_load) */
	a->edits_refused = *fresh;
	pol_err = sync_load(a, &pol, &e, &no_edits);
	pol_ok = !pol_err;
	if (!pol_ok) {
		if (*fresh) {
			pr_err("%s: invalid policy and nothing in force: not starting",
			       a->policy_dir);
			return -EINVAL;
		}
		pr_err("%s: invalid policy; the pinned policy under %s stays in force "
		       "(fix the files or send SIGHUP to retry)", a->policy_dir, a->state_dir);
		a->policy_failed = true;
	}

	/* the conntrack table is sized when created (a pinned one keeps its size) */
	if (pol_ok)
		a->ct_max_want = pol.ct.max_entries;
	err = loader_prepare_state(a);
	if (!err)
		err = loader_load(a);
	if (!err)
		err = lb_open(a);
	if (!err)
		err = egress_load(a);
	if (err)
		goto fail_pol;
	err = loader_pick_active(a);
	if (err)
		goto fail_pol;
	err = rules_open(a);
	if (err)
		goto fail_pol;
	err = events_open(a);
	if (err)
		goto fail_pol;
	if (a->in_force)
		pr_info("reusing the pinned state under %s: generation %llu in force (slot %u)",
			a->state_dir, (unsigned long long)a->generation, a->slot);

	/*
	 * Adopt first: the links a previous agent left keep their program (the
	 * same build) or move to this build's entry program, and keep the
	 * policy slot they run; the policy below goes to a new slot.
	 */
	/*
	 * This build's programs check the CLI blocklist in its maps, and a
	 * previous build's slots may have it in their own tables: fill the
	 * maps before any link moves to this build's programs (a link that
	 * keeps this build's pinned programs moves nowhere).
	 */
	if (pol_ok && !no_edits && !a->progs_adopted) {
		struct block_plan bp;

		if (!block_before(a, &e, &bp))
			block_plan_free(&bp);
	}
	err = attach_adopt(a);
	if (!err)
		err = egress_adopt(a);
	if (err)
		goto fail_pol;
	/* the policy is written before anything new is attached: never unfiltered */
	if (pol_ok) {
		err = sync_apply(a, &pol, &e, !no_edits);
		/* an upgrade without the policy in its maps: the previous version stays */
		if (err && (*fresh || a->legacy_state))
			return err;
		if (!err)
			a->edits_refused = no_edits;
		/* the pinned policy stays, as after a refused reload */
		a->policy_failed = err != 0;
		pol_err = err;
	}
	/* links of the previous layout, now that this build's maps hold the policy */
	if (a->legacy_state) {
		err = loader_carry_rules(a);
		if (!err)
			err = attach_move_pending(a);
		if (err)
			return err;
		/* the cgroup hooks and backstops: a link that cannot move keeps the old policy */
		egress_move_pending(a);
		/* the TC links next, at once: both hooks on one conntrack table */
		ct_links_sync(a);
	}

	err = nl_monitor_open(&a->nl);
	if (err)
		return err;
	a->nl_src.fd = mnl_socket_get_fd(a->nl);
	a->nl_src.ready = netlink_ready;
	err = attach_sync(a);
	if (err)
		return err;
	/* every link runs this build now: free what none runs, after a grace period */
	sync_grace(a);
	sync_gc_run(a);
	loader_gc(a);
	/* what the previous programs counted meanwhile; their maps unpinned */
	loader_commit(a);
	/* no program of an earlier build tracks connections any more */
	ct_filter_start(a);
	err = sync_watch_open(a);
	/* a policy not read or built for want of fds or memory: read it again */
	if (!err && pol_err)
		sync_retry(a, pol_err);
	if (!err)
		err = agent_watch(a, &a->nl_src, EPOLLIN);
	if (!err)
		err = agent_watch(a, &a->ctl_src, EPOLLIN);
	if (!err)
		err = service_open(a);
	return err;

fail_pol:
	if (pol_ok)
		policy_free(&pol);
	sl_edits_free(&e);
	return err;
}

static void agent_run(struct agent *a)
{
	int n, timeout;

	while (!a->stop) {
		int t2 = metrics_timeout(a), t3 = (int)sync_gc_timeout(a);
		int t4 = (int)attach_audit_timeout(a);

		ctl_serve(a);
		timeout = ctl_expire(a);
		if (ctl_waiting(a))
			timeout = 0;
		if (timeout < 0 || (t2 >= 0 && t2 < timeout))
			timeout = t2;
		if (timeout < 0 || (t3 >= 0 && t3 < timeout))
			timeout = t3;
		if (timeout < 0 || t4 < timeout)
			timeout = t4;
		n = agent_dispatch(a, timeout);
		if (n == -EINTR)
			continue;
		if (n < 0) {
			pr_err("epoll_wait: %s", strerror(-n));
			a->exit_code = 1;
			break;
		}
		/* libmicrohttpd wants to run after every wait, whatever woke it */
		metrics_run(a);
		service_update(a);
		if (!sync_gc_timeout(a))
			sync_gc_run(a);
		if (!attach_audit_timeout(a)) {
			attach_audit(a);
			egress_audit(a);
		}
	}
	sync_gc_run(a);
}

int main(int argc, char **argv)
{
	struct agent a = {
		.policy_dir = DEFAULT_POLICY_DIR,
		.state_dir = DEFAULT_STATE_DIR,
		.sock_path = DEFAULT_SOCKET,
		.entry_fd = -1,
		.tcx_fd = -1,
		.tails_fd = -1,
		.state_lock_fd = -1,
		.ct_tbl = { .fd4 = -1, .fd6 = -1 },
		.ct_sweep_fd = -1,
		.ct_retry_fd = -1,
		.ct_cfg_fd = -1,
		.ct_stats_fd = -1,
		.ct_ck_cfg_fd = -1,
		.ct_ck_load_fd = -1,
		.inotify_fd = -1,
		.inotify_wd = -1,
		.parent_wd = -1,
		.debounce_fd = -1,
		.ctl_fd = -1,
		.epfd = -1,
		.sig_fd = -1,
		.spare_fd = -1,
		.ev_rate = SLUICE_EV_DEFAULT_RATE,
		.svc.wd_fd = -1,
	};
	enum log_level level = LL_INFO;
	bool foreground = false, verbose = false, fresh = false;
	char err_msg[256], *owned[3] = {};
	int err;

	fw_map_fds_init(&a.fds);
	a.cnt_key_fd = -1;
	parse_args(&a, argc, argv, &foreground, &level, &verbose);
	log_setup(foreground, level, verbose);
	a.started = time(NULL);
	pr_info("sluiced %s starting", sluice_version);
	raise_nofile();

	err = make_absolute(&a.policy_dir, &owned[0]);
	if (!err)
		err = make_absolute(&a.state_dir, &owned[1]);
	if (!err)
		err = make_absolute(&a.sock_path, &owned[2]);
	if (err)
		pr_err("cannot find the working dir: %s", strerror(-err));
	else
		err = agent_start(&a, &fresh);
	if (err) {
		a.exit_code = 1;
		/* a first start that failed leaves nothing behind */
		if (fresh && a.xdp) {
			attach_detach_all(&a, NULL);
			egress_detach_all(&a, NULL);
			if (loader_remove_state(&a, err_msg, sizeof(err_msg)))
				pr_err("%s", err_msg);
		}
	} else {
		pr_info("sluiced %s running: policy %s, state %s, socket %s, %zu interfaces",
			sluice_version, a.policy_dir, a.state_dir, a.sock_path, a.nifaces);
		service_ready(&a);
		agent_run(&a);
		/* a teardown removed the state dir; a plain stop leaves the firewall pinned */
		service_stopping(&a, access(a.state_dir, F_OK) != 0);
	}

	ctl_close(&a);
	events_close(&a);
	metrics_close(&a);
	service_close(&a);
	sync_watch_close(&a);
	attach_release_all(&a);
	egress_release(&a);
	if (a.nl)
		mnl_socket_close(a.nl);
	health_close(&a);
	lb_close(&a);
	egress_unload(&a);
	rules_close(&a);
	loader_unload(&a);
	if (a.have_policy)
		policy_free(&a.pol);
	free(a.edits_error);
	sl_edits_free(&a.edits);
	free(a.sec_slots);
	if (a.state_lock_fd >= 0)
		close(a.state_lock_fd);
	if (a.sig_fd >= 0)
		close(a.sig_fd);
	if (a.spare_fd >= 0)
		close(a.spare_fd);
	if (a.epfd >= 0)
		close(a.epfd);
	log_close();
	for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
		free(owned[i]);
	return a.exit_code;
}
