/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Userspace side of the load balancer's maps (bpf/lib/lb_maps.h): apply the
 * policy's services to the kernel in two phases, adopt what a previous
 * agent left, read the counters and the flow table. Used by the agent, the
 * tests and the benchmarks.
 *
 * Applying (docs/lb.md, "Changing services"):
 *   lb_prepare  build everything new where no packet looks yet: Maglev
 *               tables in free lb_maglev slots, lb_backends entries for new
 *               backends (a free id, its incarnation bumped); the flow
 *               tables when the first service appears
 *               and lb_nat_be entries for new NAT backends
 *   lb_commit   one lb_svc write per new or changed service (its table,
 *               mode...), removed services' keys deleted, lb_cfg with a
 *               new epoch (flows cache services under it): a packet sees
 *               one service as it was or as it is now
 *   lb_gc       after the grace period: old tables out of lb_maglev, the
 *               backends that left the policy lose LB_BE_F_LIVE (their
 *               flows are balanced again) and their ids become free
 * lb_abort undoes a prepare; a commit that fails puts back what it wrote.
 */
#ifndef SLUICE_LB_MAPS_H
#define SLUICE_LB_MAPS_H

#include <stdbool.h>
#include <stdint.h>

#include "diag.h"
#include "policy.h"

struct bpf_object;

struct lb_fds {
	int svc, maglev, backends, flowtab, be_stats, stats, cfg, devmap, decap, decap_if, nh;
	int filter, hc, nat_be, flowtab4;
};

/* The fds of OBJ's lb_* maps (loaded); -ENOENT when one is missing. */
int lb_fds_from_obj(struct bpf_object *obj, struct lb_fds *fds);

/* One service as the kernel holds it. */
struct lb_svc_rec {
	struct lb_svc_key key;
	struct lb_service val;
	bool hc_encap;			/* DSR with health checks: they go encapsulated */
	uint64_t sig;			/* what its table was built from (reused when equal) */
	uint32_t *be_ids;		/* the id of each backend, in the policy's order */
	size_t nbe;
};

struct lb_state {
	struct lb_fds fds;
	struct lb_backend be[SLUICE_LB_BACKENDS_MAX];	/* mirror of lb_backends */
	bool be_used[SLUICE_LB_BACKENDS_MAX];		/* id held by a service in force */
	bool table_used[SLUICE_LB_TABLES];
	bool svc_id_used[SLUICE_LB_SVC_MAX];
	struct lb_svc_rec *cur;				/* in force */
	size_t ncur;
	/* between lb_prepare and lb_gc / lb_abort */
	bool pending, committed;
	struct lb_svc_rec *next;
	size_t nnext;
	struct lb_config cfg_next, cfg_cur;
	struct lb_svc_key *decap_next;	/* the decap VIPs being applied */
	size_t ndecap_next;
	uint32_t flow_entries;		/* size of new flow tables */
};

/*
 * Start from what the maps hold (a previous agent's services, backend ids,
 * health records): ids stay the same, so established flows stay. ST is
 * allocated by the caller (it is large: calloc it).
 */
int lb_state_init(struct lb_state *st, const struct lb_fds *fds);
void lb_state_free(struct lb_state *st);

/*
 * Phase one of applying POL's loadbalancers and decap as generation GEN
 * (see the top). Health: a backend whose lb_backends entry is marked
 * LB_BE_F_DOWN (lb_set_down) stays out of the tables. Errors go to DIAGS
 * at the service that caused them; nothing a packet sees has changed.
 */
int lb_prepare(struct lb_state *st, const struct sl_policy *pol, uint64_t gen,
	       struct sl_diags *diags);
int lb_commit(struct lb_state *st);
void lb_abort(struct lb_state *st);
void lb_gc(struct lb_state *st);
/* prepare + commit + gc, for tests and benchmarks (no grace period). */
int lb_apply(struct lb_state *st, const struct sl_policy *pol, uint64_t gen,
	     struct sl_diags *diags);

/* A new flow table (lb_flowtab's inner map layout): its fd, or -errno. */
int lb_flowtab_create(const char *name, uint32_t entries);
/* A new IPv4 flow table (lb_flowtab4's inner map layout): its fd, or -errno. */
int lb_flowtab4_create(const char *name, uint32_t entries);
/* The id of backend ADDR:PORT of service KEY in force; -ENOENT. */
int lb_backend_id(const struct lb_state *st, const struct lb_svc_key *key,
		  const uint8_t *addr, uint16_t port);
/* The key of service S of a policy. */
void lb_svc_key_of(const struct sl_lb_service *s, struct lb_svc_key *key);
/* Record health: backend ID down (out of the tables at the next prepare) or up. */
int lb_set_down(struct lb_state *st, uint32_t id, bool down);

/* Interfaces: an XDP_REDIRECT target (the attached ones), a decap interface. */
int lb_devmap_set(struct lb_state *st, uint32_t ifindex, bool on);
int lb_decap_if_set(struct lb_state *st, uint32_t ifindex, bool on);

/* Per-backend counters summed over CPUs; per-event counters (enum sluice_lb_stat). */
int lb_be_counters(const struct lb_state *st, uint32_t id, struct lb_be_counter *out);
int lb_stats_read(const struct lb_state *st, uint64_t out[SLUICE_LB_STAT_MAX]);

/*
 * Active flows per backend id (ACTIVE[SLUICE_LB_BACKENDS_MAX]): the entries
 * of the flow table not past their timeout, not closing (a TCP FIN or RST
 * seen), whose backend is still that id's incarnation. Returns the number
 * of entries walked, or -errno.
 */
long lb_flows_count(const struct lb_state *st, uint32_t *active);
/*
 * Call FN for every entry of lb_flowtab[WHICH] (LB_FLOWS, LB_REVERSE); for
 * LB_FLOWS, the IPv4 flows of lb_flowtab4 too (given FN as 40-byte keys).
 */
int lb_flows_walk(const struct lb_state *st, uint32_t which,
		  int (*fn)(void *ctx, const struct lb_flow_key *k, const struct lb_flow *f),
		  void *ctx);

#endif /* SLUICE_LB_MAPS_H */
