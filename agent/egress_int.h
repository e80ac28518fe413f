/* SPDX-License-Identifier: GPL-2.0-only */
/* Internal to the agent's egress modules: egress.c, cgwatch.c, egress_tc.c. */
#ifndef SLUICED_EGRESS_INT_H
#define SLUICED_EGRESS_INT_H

#include <net/if.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <bpf/bpf.h>

#include "agent.h"
#include "cnt_ids.h"
#include "egress.h"

/*
 * The hooks attached to every managed cgroup: name (pins, status), attach
 * type, program of sluice_cgroup.bpf.c. The policy is judged in connect
 * and sendmsg; getpeername and recvmsg give back the VIP of a backend the
 * socket-level load balancer chose; egress (cgroup_skb, every packet) drops
 * source-routed packets, which would go first to a host never judged. A
 * hook added here is attached at the next start to the cgroups whose
 * pinned links a previous agent left (cg_attach).
 */
#define EG_HOOKS(X)								\
	X(EGH_CONNECT4,	"connect4",	BPF_CGROUP_INET4_CONNECT,	sl_eg_connect4)	\
	X(EGH_CONNECT6,	"connect6",	BPF_CGROUP_INET6_CONNECT,	sl_eg_connect6)	\
	X(EGH_SENDMSG4,	"sendmsg4",	BPF_CGROUP_UDP4_SENDMSG,	sl_eg_sendmsg4)	\
	X(EGH_SENDMSG6,	"sendmsg6",	BPF_CGROUP_UDP6_SENDMSG,	sl_eg_sendmsg6)	\
	X(EGH_GETPEER4,	"getpeername4",	BPF_CGROUP_INET4_GETPEERNAME,	sl_eg_getpeer4)	\
	X(EGH_GETPEER6,	"getpeername6",	BPF_CGROUP_INET6_GETPEERNAME,	sl_eg_getpeer6)	\
	X(EGH_RECVMSG4,	"recvmsg4",	BPF_CGROUP_UDP4_RECVMSG,	sl_eg_recvmsg4)	\
	X(EGH_RECVMSG6,	"recvmsg6",	BPF_CGROUP_UDP6_RECVMSG,	sl_eg_recvmsg6)	\
	X(EGH_EGRESS,	"egress",	BPF_CGROUP_INET_EGRESS,		sl_eg_srcroute)

#define EG_HOOK_ENUM(id, name, type, prog) id,
enum eg_hook { EG_HOOKS(EG_HOOK_ENUM) EGH_MAX };
#undef EG_HOOK_ENUM

extern const char *const eg_hook_names[EGH_MAX];
extern const enum bpf_attach_type eg_hook_types[EGH_MAX];

/*
 * A removed cgroup the kernel keeps: sockets made in it live on (moved out
 * with their process, or passed to another), and its programs run for them
 * until the last is closed, when the kernel detaches them (a link's cgroup
 * id reads 0 then). Its links and eg_cg word stay until that moment, so
 * those sockets stay judged by their entry.
 */
struct eg_remnant {
	uint64_t id;
	int links[EGH_MAX];
};

/* The cgroup of one egress entry of the policy in force, as it is now. */
struct eg_cgroup {
	char *path;			/* the entry's cgroup path */
	uint64_t id;			/* its cgroup id while it exists; 0: not (yet) there */
	int links[EGH_MAX];		/* pinned cgroup bpf_links; -1: none */
	struct eg_remnant *rem;		/* removed cgroups of this path the kernel keeps */
	size_t nrem;
};

/* A cgroup link a previous agent pinned, not claimed by an entry yet. */
struct eg_adopted {
	uint64_t id;
	enum eg_hook hook;
	int fd;
};

/*
 * The record a previous agent left beside the links of cgroup ID
 * (links/eg_ID_cgroup, cgwatch.c): the path of its entry's cgroup. Read at
 * adoption, it ties the links of a cgroup removed meanwhile (whose path
 * resolves to nothing, or to another cgroup) back to that entry, until the
 * first policy is applied.
 */
struct eg_record {
	uint64_t id;
	char *path;
};

/* An interface running the TC backstop (tcx ingress link, pinned). */
struct eg_bs_iface {
	int ifindex;
	char name[IF_NAMESIZE];
	int link_fd;
	bool seen;
};

/* One inotify watch of the cgroup watcher: a dir and what is awaited there. */
struct eg_watch {
	int wd;
	char *path;
};

struct sluice_cgroup;
struct eg_snap;

struct agent_egress {
	struct sluice_cgroup *skel;
	/* egress_preload's thread loads SKEL (its verifier time beside the tc object's) */
	pthread_t loader;
	bool loading;
	int load_err;
	int cg_fd, src4_fd, src6_fd, cnt_fd, stats_fd;
	int prog_fds[EGH_MAX];
	int backstop_fd;

	/*
	 * The policy in force: each entry's slot, and where its counter ids
	 * start in IDS (its rules', then its default's: eg_rule_cnt ids).
	 */
	uint32_t *slots, *bases, *ids;
	size_t n;
	/* egress_prepare's, until egress_applied takes them or egress_abort frees them */
	uint32_t *new_slots, *new_bases, *new_ids, *fresh;
	size_t new_n, new_nids, nfresh;
	bool prepared;
	/* counter ids and their owners (eg_cnt_key) */
	struct cnt_ids cnt;
	/* eg_cnt_key was created by this start: the first apply keeps the ids entry base + rule */
	bool seed;
	/* egress_commit's snapshot of eg_cg, eg_src4, eg_src6, for egress_abort */
	struct eg_snap *snap;

	/* per entry of a->pol, in its order (cgwatch.c) */
	struct eg_cgroup *cgs;
	size_t ncgs;
	struct eg_adopted *adopted;
	size_t nadopted;
	struct eg_record *records;	/* of the adopted links' cgroups */
	size_t nrecords;

	/* the cgroup watcher: inotify in the agent's loop */
	int ino_fd;
	struct ep_src ino_src;
	struct eg_watch *watches;
	size_t nwatches;

	/* the TC backstop (egress_tc.c) */
	struct eg_bs_iface *bs;
	size_t nbs;
};

/* ---- egress.c ---- */

/* eg_cg[ID] = entry I of a->pol in force (its slot and counter base). */
int eg_cg_write(struct agent *a, uint64_t id, size_t entry);
int eg_cg_delete(struct agent *a, uint64_t id);
/* BUF = links/NAME; -ENAMETOOLONG when it does not fit. */
int eg_pin_path(const struct agent *a, char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Pin link FD at PATH (0600), replacing a stale pin there. 0 or -errno. */
int eg_pin(int fd, const char *path);

/* ---- cgwatch.c ---- */

int cgw_open(struct agent *a);
void cgw_close(struct agent *a);
/* Forget the removed cgroups (eg_remnant) the kernel has let go. */
void cgw_audit(struct agent *a);
/* The cgroup id of PATH (a cgroup v2 dir): 0 when it does not exist. */
uint64_t cgw_id_of(const char *path);
/* Adopt the cgroup link pins "eg_ID_HOOK" of a previous agent, and their records. */
int cgw_adopt(struct agent *a);
/*
 * The cgroup id of the next adopted removed cgroup of entry path PATH
 * (whose cgroup is LIVE now, 0: none) after *K (start at 0); 0 when no more.
 * Its word is written with the entry's in the first commit.
 */
uint64_t cgw_adopted_removed(const struct agent *a, const char *path, uint64_t live, size_t *k);
/* An upgrade: every cgroup link to this build's hooks. 0, or -EIO if one could not. */
int cgw_move_pending(struct agent *a);
/*
 * After a policy is in force: one record per entry of a->pol (records of
 * paths kept are reused with their links), the others forgotten; then
 * every cgroup that exists is attached and the watches set.
 */
void cgw_sync_policy(struct agent *a);
/* Is the cgroup of entry I attached (all hooks)? */
bool cgw_attached(const struct agent *a, size_t i);
int cgw_detach_all(struct agent *a, struct json_object *names);
void cgw_release(struct agent *a);

/* ---- egress_tc.c ---- */

int etc_adopt(struct agent *a);
/* An upgrade: every backstop link to this build's program. 0 or -errno. */
int etc_move_pending(struct agent *a);
int etc_detach_all(struct agent *a, struct json_object *names);
void etc_release(struct agent *a);
void etc_status(struct agent *a, struct json_object *arr);

#endif /* SLUICED_EGRESS_INT_H */
