/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The state of one sluiced process. One thread, one epoll loop (main.c);
 * every module takes the agent and owns its part of it:
 *   loader.c   bpffs, state dirs, skeleton open/pin/load, the pinned maps
 *   migrate.c  upgrades across map layout changes: a policy per map
 *   sync.c     policy dir -> check -> compile -> write maps; inotify reloads
 *   rules.c    rule counter ids kept across reloads, rule names by generation
 *   cnt_ids.c  counter ids owned by rules (firewall's and egress entries')
 *   attach.c   XDP bpf_links per interface, pinned, adopted on restart
 *   conntrack.c conntrack: TC egress tcx links, ct_cfg, ct-list/flush/stats
 *   netlink.c  rtnetlink link dump and RTMGRP_LINK events (libmnl)
 *   loop.c     the event loop: watched sources, one round of epoll_wait and handlers
 *   ctl_conn.c the control socket and its connections (docs/control.md)
 *   control.c  the control socket's commands
 *   events.c   drop events: the sl_events ring buffer, monitor clients
 *   metrics.c  --metrics: Prometheus text on GET /metrics
 *   service.c  systemd: READY=1, STATUS=, WATCHDOG=1, STOPPING=1
 *   lb.c       the load balancer's services, interfaces and views; health.c its checks
 *   egress.c   container egress: cgroup hooks and their slots (+ cgwatch.c:
 *              cgroup links and the cgroup watcher, egress_tc.c: TC backstop)
 */
#ifndef SLUICED_AGENT_H
#define SLUICED_AGENT_H

#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "ct.h"
#include "fw_tables.h"
#include "policy.h"
#include "policy_edit.h"

struct agent;
struct mnl_socket;
struct sluice_xdp;
struct sluice_tc;
struct ctl_conn;
struct agent_events;
struct agent_metrics;
struct agent_egress;
struct agent_health;
struct lb_state;
struct agent_rules;
struct migrate;

/* Programs of the TC and cgroup objects in a program set (13 today). */
#define SL_SET_PROGS 24

/* A file descriptor watched by the epoll loop and what to do when it is ready. */
struct ep_src {
	int fd;
	void (*ready)(struct agent *a, struct ep_src *src, uint32_t events);
};

/* One interface the XDP program is attached to, through a pinned bpf_link;
 * its sl_ifslot entry names the policy slot it runs. */
struct iface {
	int ifindex;
	char name[IF_NAMESIZE];
	int link_fd;
	bool tc;		/* the firewall on tcx ingress (hook: tc), not XDP */
	bool hook_auto;		/* tc chosen by `hook: auto`, not written (status) */
	bool generic;		/* native (driver) mode failed: the kernel's generic XDP */
	bool loopback;		/* attached by exact name only (IFF_LOOPBACK) */
	/* TC links (conntrack.c), by enum ct_tc_dir: egress (conntrack), ingress
	 * (SYN cookies); the tcx link, -1: none; or, without tcx, a clsact filter */
	int tc_link_fd[2];
	bool tc_clsact[2];
	bool seen;		/* present in the current link dump */
	bool move_pending;	/* adopted from the previous layout: moves after the apply */
	/*
	 * The other hook's link, found pinned beside link_fd at adoption (an
	 * agent died switching hooks): -1, none. attach_sync keeps the one the
	 * policy wants and detaches the other, both filtering until then.
	 */
	int dup_fd;
};

/* What the last applied policy filled in, for `status` (cheap to know here). */
struct map_use {
	bool known;
	uint32_t classes, rules;
	uint32_t t8[2], lh[2], v6[2];	/* chunks+groups, hash buckets, IPv6 prefixes: src, dst */
	uint64_t bytes;			/* the slots' map memory (fw_tables_bytes) */
};

struct agent {
	/* options */
	const char *policy_dir;
	const char *state_dir;
	const char *sock_path;
	char maps_dir[PATH_MAX];	/* every pinned map */
	char links_dir[PATH_MAX];
	char progs_dir[PATH_MAX];	/* STATE/progs: one program set per build */
	char build_dir[PATH_MAX];	/* STATE/progs/BUILD: this build's set */
	char upgrade_dir[PATH_MAX];	/* STATE/upgrade: the previous pins during an upgrade */
	time_t started;

	/*
	 * BPF objects (loader.c). xdp gives the pinned maps; the programs of
	 * the three objects are loaded only when this build's program set is
	 * not pinned yet, else the pinned set (the links' programs) is adopted
	 * as it is.
	 */
	struct sluice_xdp *xdp;
	char build[17];			/* this build: hash of the three objects, hex */
	int entry_fd;			/* the entry program every XDP link runs */
	int tcx_fd;			/* the firewall's tcx ingress program (hook: tc) */
	bool entry_owned;		/* entry_fd is ours to close (adopted pin) */
	bool progs_adopted;		/* the pinned program set of this build runs on */
	bool progs_new;			/* this start loaded and pinned its program set */
	char progs_aside[PATH_MAX];	/* the set pinned as this build's before, moved aside */
	int tails_fd;			/* its prog array sl_tails */
	struct set_prog {		/* adopted: the TC and cgroup objects' programs */
		char name[16];
		int fd;
	} set_progs[SL_SET_PROGS];
	size_t nset_progs;
	struct fw_map_fds fds;		/* outer fwp_* maps and sl_ifslot */
	uint32_t slot;			/* the policy slot in force (section 0's) */
	uint32_t *sec_slots;		/* the slot of each section of pol (sync.c) */
	size_t nsec_slots;
	bool in_force;			/* slot holds an applied policy */
	/*
	 * The upgrade of this start (migrate.c), until every link runs this
	 * build; legacy_state: it replaces or retires maps, so the previous
	 * programs keep the interfaces until the policy is in this build's maps.
	 */
	struct migrate *mig;
	bool legacy_state;
	struct timespec last_switch;	/* when interfaces last changed slot */
	bool gc_pending;		/* slots left to free after the grace (sync.c) */
	int rule_cnt_fd, verdict_fd, drop_fd;
	int cnt_key_fd;			/* fw_cnt_key: who owns each rule counter */
	struct agent_rules *rules;	/* counter ids, rule names by generation (rules.c) */
	int state_lock_fd;

	/* policy in force (sync.c); have_policy is false when the agent adopted
	 * pinned state but could not load a valid policy of its own */
	bool have_policy;
	struct sl_policy pol;
	/*
	 * The CLI's edits file (sync.c): edits_error says why it does not load
	 * (NULL: it does); edits_refused: the policy in force was applied
	 * without it (the file was refused), so applying the hand-written files
	 * alone again removes nothing in force.
	 */
	bool edits_refused;
	char *edits_error;
	/*
	 * The CLI's edits the policy in force holds (block.c, edit.c), read once
	 * and kept: a block edit changes them, its journal and the blocklist's
	 * maps in place. edits_live: the sl_block* maps hold edits's blocklist;
	 * edits_ok: the file loaded with the policy in force (else edits is
	 * empty).
	 */
	struct sl_edits edits;
	bool edits_live, edits_ok;
	struct sl_set *block_set;	/* pol's "sluice.block", as edits's blocklist */
	size_t block_cap;		/* its room */
	uint64_t generation;
	bool policy_failed;		/* the last load or reload was not applied */
	struct map_use use;
	int inotify_fd, inotify_wd, debounce_fd;
	int parent_wd;			/* the dir holding the policy dir (a swap of
					 * the dir itself, a symlink to a new one) */
	int *sub_wds;			/* subdirs of the policy dir (set files in them) */
	size_t nsub_wds;
	struct timespec change_first;	/* first change of the current debounce */
	struct timespec change_last;	/* last complete step (sync.c: bursts) */
	long retry_ms;			/* a reload out of fds or memory: tried again after */
	struct ep_src inotify_src, debounce_src;

	/* conntrack (conntrack.c): the TC egress program and the shared ct maps */
	struct sluice_tc *tc_skel;
	struct ct_tables ct_tbl;	/* ct4_shards, ct_shards */
	int ct_sweep_fd, ct_cfg_fd, ct_stats_fd;
	int ct_ck_cfg_fd, ct_ck_load_fd;	/* SYN cookies: settings and key, auto's load */
	struct sl_ck_config *ck_cfg;	/* what the policy asks of them (ct_apply), or NULL */
	uint32_t ct_max_want;		/* conntrack.max-entries of the policy */
	uint32_t ct_max;		/* the table's capacity, per family (a pinned table
					 * keeps its own) */
	uint32_t ct_unassured_max;	/* unassured entries, all shards, per family */
	uint32_t ct_shards;		/* shards of the table */
	int ct_retry_fd;		/* timerfd: sweepers that could not start */
	struct ep_src ct_retry_src;
	unsigned int ct_start_retries;

	/* load balancer (lb.c, lib/lb_maps.c) and its health checks (health.c) */
	struct lb_state *lb;
	struct agent_health *hc;
	char **lb_idle;		/* services no backend took new flows of, at the last check */
	size_t nlb_idle;

	/* attached interfaces (attach.c) */
	struct iface *ifaces;
	size_t nifaces;
	struct timespec audit_last;	/* last check that their links are on them */
	/* interfaces the policy wants that could not be attached (status says why) */
	struct iface_fail {
		int ifindex;
		bool held;	/* another XDP program is attached: looked at by attach_audit */
		bool retry;	/* out of fds or memory: attach_audit tries again */
		char name[IF_NAMESIZE];
		char why[128];
	} *ifails;
	size_t nifails;

	/* rtnetlink (netlink.c) */
	struct mnl_socket *nl;
	struct ep_src nl_src;

	/* control socket (control.c) */
	int ctl_fd;
	bool ctl_bound;
	struct ep_src ctl_src;
	struct ctl_conn *conns;
	size_t nconns;
	size_t ctl_queued;		/* answer bytes its clients have not read yet */

	/* drop events (events.c) */
	uint32_t ev_rate;		/* --event-rate: events/s, 0: off */
	struct agent_events *ev;

	/* container egress (egress.c, cgwatch.c, egress_tc.c) */
	struct agent_egress *eg;

	/* metrics (metrics.c) */
	const char *metrics_addr;	/* --metrics ADDR:PORT; NULL: off */
	struct agent_metrics *metrics;

	/* systemd notifications (service.c): what the last STATUS= said */
	struct {
		int wd_fd;		/* watchdog timerfd; -1: no watchdog */
		struct ep_src wd_src;
		uint64_t generation;
		size_t nifaces;
		bool failed;
	} svc;

	/* event loop (loop.c, run by main.c) */
	int epfd;
	/*
	 * The events epoll_wait returned and not yet handled: a handler may
	 * close another source (the ring buffer's drops a monitor client that
	 * cannot keep up), and agent_unwatch takes that source out of them.
	 */
	struct epoll_event *batch;
	int batch_n;
	int sig_fd;
	struct ep_src sig_src;
	int spare_fd;			/* given up to refuse a connection when out of fds */
	bool out_of_fds;		/* said so in the log: once until an accept succeeds */
	bool stop;
	int exit_code;
};

static inline int agent_prog_fd(const struct agent *a)
{
	return a->entry_fd;
}

int agent_watch(struct agent *a, struct ep_src *src, uint32_t events);
/*
 * A connection accepted on FD: SIZE zeroed bytes whose first member is the
 * struct ep_src, watched for input with READY. NULL (FD closed) on failure.
 */
void *agent_conn_new(struct agent *a, int fd, size_t size,
		     void (*ready)(struct agent *a, struct ep_src *src, uint32_t events));
/*
 * accept4 (non-blocking, close-on-exec) of a connection on the listening
 * socket LFD: its fd, or -errno (-EAGAIN: none waits). Out of fds (EMFILE,
 * ENFILE) the connection would stay in the listen queue, its client
 * waiting and the socket readable at every round (the loop spun on it):
 * the spare fd makes room to take it, the N bytes of REFUSE are sent on it
 * (best effort) and it is closed; that returns -EMFILE (-ENFILE).
 */
int agent_accept(struct agent *a, int lfd, struct sockaddr *sa, socklen_t *len,
		 const char *refuse, size_t n);
/* Milliseconds of CLOCK_MONOTONIC since T0. */
long agent_ms_since(const struct timespec *t0);
/* Stop watching SRC, also for the rest of the batch being handled: SRC may be freed next. */
void agent_unwatch(struct agent *a, struct ep_src *src);
/*
 * One round of the event loop (loop.c): wait up to TIMEOUT_MS (-1: no limit)
 * and run the handler of every ready source, unless a handler stops the
 * agent. The number of events, or -errno of epoll_wait (-EINTR: a signal).
 */
int agent_dispatch(struct agent *a, int timeout_ms);

#endif /* SLUICED_AGENT_H */
