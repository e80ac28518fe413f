// SPDX-License-Identifier: GPL-2.0-only
/*
 * The load balancer's maps from userspace (lb_maps.h): services, Maglev
 * tables, backend ids, flow tables, counters.
 *
 * Backend ids are what flows remember, so they are kept as long as the
 * backend (service, address, port) stays in the policy, across reloads and
 * agent restarts (lb_state_init reads them back). An id that comes free is
 * given to the next new backend with its incarnation (`gen`) bumped: a flow
 * recorded under the old incarnation is balanced again, never sent to a
 * stranger.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "fnv.h"
#include "fw_maps.h"
#include "lb_maps.h"
#include "lb_policy.h"
#include "maglev.h"

#define LB_DEFAULT_ENCAP4	0xac100000u	/* 172.16.0.0/16, as Katran */
#define LB_BATCH		1024

int lb_fds_from_obj(struct bpf_object *obj, struct lb_fds *fds)
{
	static const struct {
		const char *name;
		size_t off;
	} maps[] = {
#define LB_FD(f, n) { n, offsetof(struct lb_fds, f) }
		LB_FD(svc, SLUICE_MAP_LB_SVC), LB_FD(maglev, SLUICE_MAP_LB_MAGLEV),
		LB_FD(backends, SLUICE_MAP_LB_BACKENDS), LB_FD(flowtab, SLUICE_MAP_LB_FLOWTAB),
		LB_FD(be_stats, SLUICE_MAP_LB_BE_STATS), LB_FD(stats, SLUICE_MAP_LB_STATS),
		LB_FD(cfg, SLUICE_MAP_LB_CFG), LB_FD(devmap, SLUICE_MAP_LB_DEVMAP),
		LB_FD(decap, SLUICE_MAP_LB_DECAP), LB_FD(decap_if, SLUICE_MAP_LB_DECAP_IF),
		LB_FD(nh, SLUICE_MAP_LB_NH), LB_FD(filter, SLUICE_MAP_LB_FILTER),
		LB_FD(hc, SLUICE_MAP_LB_HC), LB_FD(nat_be, SLUICE_MAP_LB_NAT_BE),
		LB_FD(flowtab4, SLUICE_MAP_LB_FLOWTAB4),
#undef LB_FD
	};

	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(obj, maps[i].name);
		int fd = m ? bpf_map__fd(m) : -1;

		if (fd < 0)
			return -ENOENT;
		*(int *)((char *)fds + maps[i].off) = fd;
	}
	return 0;
}

void lb_svc_key_of(const struct sl_lb_service *s, struct lb_svc_key *key)
{
	memset(key, 0, sizeof(*key));
	memcpy(key->vip, s->vip, 16);
	key->port = htons(s->port);
	key->proto = s->proto;
	key->family = s->family;
}

static int filter_write(const struct lb_state *st, const struct lb_svc_rec *a, size_t na,
			const struct lb_svc_rec *b, size_t nb);
static int nat_be_write(struct lb_state *st, const struct lb_svc_rec *a, size_t na,
			struct lb_svc_rec *b, size_t nb);

static struct lb_svc_rec *rec_find(struct lb_svc_rec *v, size_t n, const struct lb_svc_key *k)
{
	for (size_t i = 0; i < n; i++)
		if (!memcmp(&v[i].key, k, sizeof(*k)))
			return &v[i];
	return NULL;
}

static void recs_free(struct lb_svc_rec *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].be_ids);
	free(v);
}

/* ---- adoption ---- */

/*
 * lb_nat_be for the services in force, and LB_SVC_F_REV where they need
 * it (written to lb_svc when it changes: a flag that only says whether new
 * flows leave a reverse entry). At adoption: a build before lb_nat_be left
 * neither. After a change: room the services that left made goes to those
 * that found none, whose new flows then need no reverse entry either.
 */
static int nat_be_adopt(struct lb_state *st)
{
	int err = nat_be_write(st, NULL, 0, st->cur, st->ncur);

	for (size_t i = 0; !err && i < st->ncur; i++) {
		struct lb_service v;

		if (!bpf_map_lookup_elem(st->fds.svc, &st->cur[i].key, &v) &&
		    v.flags != st->cur[i].val.flags &&
		    bpf_map_update_elem(st->fds.svc, &st->cur[i].key, &st->cur[i].val, BPF_ANY))
			err = -errno;
	}
	return err;
}

int lb_state_init(struct lb_state *st, const struct lb_fds *fds)
{
	struct lb_svc_key k, next;
	struct lb_service v;
	int r;

	memset(st, 0, sizeof(*st));
	st->fds = *fds;
	st->flow_entries = SLUICE_CT_DEFAULT_MAX;
	for (__u32 i = 0; i < SLUICE_LB_BACKENDS_MAX; i++)
		if (bpf_map_lookup_elem(fds->backends, &i, &st->be[i]))
			return -errno;
	for (__u32 t = 0; t < SLUICE_LB_TABLES; t++) {
		__u32 id;

		st->table_used[t] = !bpf_map_lookup_elem(fds->maglev, &t, &id);
	}
	for (r = bpf_map_get_next_key(fds->svc, NULL, &next); !r;
	     r = bpf_map_get_next_key(fds->svc, &k, &next)) {
		struct lb_svc_rec *rec, *nv;

		k = next;
		if (bpf_map_lookup_elem(fds->svc, &k, &v) || (v.flags & LB_SVC_F_VIP) ||
		    v.id >= SLUICE_LB_SVC_MAX)
			continue;
		nv = realloc(st->cur, (st->ncur + 1) * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		st->cur = nv;
		rec = &st->cur[st->ncur++];
		memset(rec, 0, sizeof(*rec));
		rec->key = k;
		rec->val = v;
		st->svc_id_used[v.id] = true;
		for (__u32 i = 0; i < SLUICE_LB_BACKENDS_MAX; i++) {
			uint32_t *ids;

			if (!(st->be[i].flags & LB_BE_F_LIVE) || st->be[i].svc != v.id)
				continue;
			ids = realloc(rec->be_ids, (rec->nbe + 1) * sizeof(*ids));
			if (!ids)
				return -ENOMEM;
			rec->be_ids = ids;
			rec->be_ids[rec->nbe++] = i;
			st->be_used[i] = true;
		}
	}
	/* tables no service names: left by an apply that never finished */
	for (__u32 t = 0; t < SLUICE_LB_TABLES; t++) {
		bool named = false;

		for (size_t i = 0; i < st->ncur && !named; i++)
			named = st->cur[i].val.table == t;
		if (st->table_used[t] && !named) {
			bpf_map_delete_elem(fds->maglev, &t);
			st->table_used[t] = false;
		}
	}
	/* backends no service holds: not live any more */
	for (__u32 i = 0; i < SLUICE_LB_BACKENDS_MAX; i++) {
		if ((st->be[i].flags & LB_BE_F_LIVE) && !st->be_used[i]) {
			st->be[i].flags = 0;
			bpf_map_update_elem(fds->backends, &i, &st->be[i], BPF_ANY);
		}
	}
	r = 0;
	if (bpf_map_lookup_elem(fds->cfg, &r, &st->cfg_cur))
		memset(&st->cfg_cur, 0, sizeof(st->cfg_cur));
	return nat_be_adopt(st);
}

void lb_state_free(struct lb_state *st)
{
	recs_free(st->cur, st->ncur);
	recs_free(st->next, st->nnext);
	free(st->decap_next);
	st->cur = st->next = NULL;
	st->decap_next = NULL;
	st->ncur = st->nnext = st->ndecap_next = 0;
}

/* ---- prepare ---- */

static bool id_in(const struct lb_svc_rec *v, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < v[i].nbe; j++)
			if (v[i].be_ids[j] == id)
				return true;
	return false;
}

static bool table_in(const struct lb_svc_rec *v, size_t n, uint32_t t)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].val.table == t)
			return true;
	return false;
}

/* The id of backend B in service record OLD (in force), or -1. */
static long be_reuse(const struct lb_state *st, const struct lb_svc_rec *old,
		     const struct sl_lb_service *s, const struct sl_lb_backend *b)
{
	for (size_t i = 0; old && i < old->nbe; i++) {
		const struct lb_backend *e = &st->be[old->be_ids[i]];

		if (e->family == s->family && !memcmp(e->addr, b->addr, 16) &&
		    ntohs(e->port) == b->port && (e->flags & LB_BE_F_LIVE))
			return old->be_ids[i];
	}
	return -1;
}

/* A free id: held by no service in force and none being prepared. */
static long be_alloc(const struct lb_state *st)
{
	for (uint32_t i = 0; i < SLUICE_LB_BACKENDS_MAX; i++)
		if (!st->be_used[i] && !(st->be[i].flags & LB_BE_F_LIVE) &&
		    !id_in(st->next, st->nnext, i))
			return i;
	return -ENOSPC;
}

/*
 * A Maglev table of SIZE backend ids (SLUICE_LB_NO_BACKEND: none up) as a
 * new inner map, 32 ids to an element (struct lb_maglev_line); its fd or
 * -errno.
 */
static int table_create(uint32_t svc_id, uint32_t size, const uint32_t *ids)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_INNER_MAP);
	LIBBPF_OPTS(bpf_map_batch_opts, bopts);
	uint32_t n = (size + SLUICE_LB_LINE_IDS - 1) / SLUICE_LB_LINE_IDS, *keys;
	struct lb_maglev_line *lines;
	char name[16];
	int fd, err = 0;

	snprintf(name, sizeof(name), "lb_mg%u", svc_id);
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, name, 4, sizeof(*lines), n, &opts);
	if (fd < 0)
		return -errno;
	keys = malloc(n * sizeof(*keys));
	lines = malloc(n * sizeof(*lines));
	if (!keys || !lines) {
		free(keys);
		free(lines);
		close(fd);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++) {
		keys[i] = i;
		for (uint32_t j = 0; j < SLUICE_LB_LINE_IDS; j++) {
			uint32_t e = i * SLUICE_LB_LINE_IDS + j;

			lines[i].id[j] = e < size && ids[e] < SLUICE_LB_BACKENDS_MAX ? ids[e] :
					 SLUICE_LB_LINE_NONE;
		}
	}
	if (bpf_map_update_batch(fd, keys, lines, &n, &bopts))
		err = -errno;
	free(keys);
	free(lines);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

/* Undo a prepare: tables and backend entries nothing points at yet. */
void lb_abort(struct lb_state *st)
{
	for (size_t i = 0; i < st->nnext; i++) {
		struct lb_svc_rec *n = &st->next[i];
		struct lb_svc_rec *o = rec_find(st->cur, st->ncur, &n->key);

		if (n->val.size && (!o || o->val.table != n->val.table) &&
		    st->table_used[n->val.table] && !table_in(st->cur, st->ncur, n->val.table)) {
			bpf_map_delete_elem(st->fds.maglev, &n->val.table);
			st->table_used[n->val.table] = false;
		}
		for (size_t j = 0; j < n->nbe; j++) {
			uint32_t id = n->be_ids[j];

			if (id_in(st->cur, st->ncur, id) || !(st->be[id].flags & LB_BE_F_LIVE))
				continue;
			st->be[id].flags = 0;
			bpf_map_update_elem(st->fds.backends, &id, &st->be[id], BPF_ANY);
		}
	}
	recs_free(st->next, st->nnext);
	st->next = NULL;
	st->nnext = 0;
	free(st->decap_next);
	st->decap_next = NULL;
	st->ndecap_next = 0;
	st->pending = st->committed = false;
	filter_write(st, st->cur, st->ncur, NULL, 0);
	nat_be_adopt(st);
}

/*
 * lb_hc of N's backends: their VIP when N's health checks go encapsulated
 * (DSR), else nothing. Written for ids in use too: the TC program reads
 * one entry per check packet, and the entry only changes with the service.
 */
static int hc_write(struct lb_state *st, const struct lb_svc_rec *n)
{
	struct lb_hc hc = {};

	if (n->hc_encap) {
		memcpy(hc.vip, n->key.vip, 16);
		hc.port = n->key.port;
		hc.family = n->key.family;
	}
	for (size_t i = 0; i < n->nbe; i++)
		if (bpf_map_update_elem(st->fds.hc, &n->be_ids[i], &hc, BPF_ANY))
			return -errno;
	return 0;
}

/* The lowest service id free now and after the apply being prepared. */
static uint32_t svc_id_alloc(const struct lb_state *st)
{
	for (uint32_t id = 0; id < SLUICE_LB_SVC_MAX; id++) {
		bool taken = st->svc_id_used[id];

		for (size_t i = 0; i < st->nnext && !taken; i++)
			taken = st->next[i].val.id == id;
		if (!taken)
			return id;
	}
	return SLUICE_LB_SVC_MAX;	/* the checker allows no more services than ids */
}

/* The backends of S, their ids and table weights; fills N's ids. */
static int prep_backends(struct lb_state *st, const struct sl_lb_service *s,
			 const struct lb_svc_rec *old, struct lb_svc_rec *n,
			 struct maglev_backend *mb, struct sl_diags *diags)
{
	for (size_t b = 0; b < s->nbackends; b++) {
		const struct sl_lb_backend *pb = &s->backends[b];
		long id = be_reuse(st, old, s, pb);
		struct lb_backend e;
		uint8_t flags;
		int err;

		if (id < 0) {
			id = be_alloc(st);
			if (id < 0) {
				sl_diag_add(diags, &pb->loc, "no free backend id (%u in use)",
					    SLUICE_LB_BACKENDS_MAX);
				return (int)id;
			}
			memset(&e, 0, sizeof(e));
			memcpy(e.addr, pb->addr, 16);
			e.port = htons(pb->port);
			e.family = s->family;
			e.gen = st->be[id].gen + 1;
			e.svc = n->val.id;
			err = sl_percpu_zero(st->fds.be_stats, (uint32_t)id,
					     sizeof(struct lb_be_counter));
			if (err) {
				sl_diag_add(diags, &pb->loc, "map %s: %s", SLUICE_MAP_LB_BE_STATS,
					    strerror(-err));
				return err;
			}
		} else {
			e = st->be[id];
		}
		/* a service without health checks has every backend up */
		flags = LB_BE_F_LIVE | (pb->drain ? LB_BE_F_DRAIN : 0) |
			(s->health.type != SL_HC_NONE ? e.flags & LB_BE_F_DOWN : 0);
		n->be_ids[b] = (uint32_t)id;
		if (e.flags != flags || !(st->be[id].flags & LB_BE_F_LIVE)) {
			e.flags = flags;
			/* an id in use keeps address, port and gen: only its records change */
			if (bpf_map_update_elem(st->fds.backends, &id, &e, BPF_ANY)) {
				err = -errno;
				sl_diag_add(diags, &pb->loc, "map %s: %s", SLUICE_MAP_LB_BACKENDS,
					    strerror(errno));
				return err;
			}
			st->be[id] = e;
		}
		maglev_key(mb[b].key, s->family, pb->addr, pb->port);
		mb[b].weight = pb->drain || (flags & LB_BE_F_DOWN) ? 0 : pb->weight;
	}
	return 0;
}

/* The lookup table of service N (S in the policy): reused when its inputs are the same. */
static int prep_table(struct lb_state *st, const struct sl_lb_service *s,
		      const struct lb_svc_rec *old, struct lb_svc_rec *n,
		      const struct maglev_backend *mb, struct sl_diags *diags)
{
	uint32_t *idx = NULL, t;
	int fd = -1, err;

	n->sig = sl_fnv1a(SL_FNV_INIT, &s->table_size, sizeof(s->table_size));
	for (size_t b = 0; b < s->nbackends; b++) {
		n->sig = sl_fnv1a(n->sig, mb[b].key, sizeof(mb[b].key));
		n->sig = sl_fnv1a(n->sig, &mb[b].weight, sizeof(mb[b].weight));
		n->sig = sl_fnv1a(n->sig, &n->be_ids[b], sizeof(n->be_ids[b]));
	}
	if (old && old->sig == n->sig && old->val.size == s->table_size) {
		n->val.table = old->val.table;
		n->val.size = old->val.size;
		return 0;
	}
	for (t = 0; t < SLUICE_LB_TABLES; t++)
		if (!st->table_used[t])
			break;
	if (t == SLUICE_LB_TABLES) {
		sl_diag_add(diags, &s->loc, "no free Maglev table slot (%u)", SLUICE_LB_TABLES);
		return -ENOSPC;
	}
	idx = malloc(s->table_size * sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	err = maglev_build(mb, s->nbackends, s->table_size, idx);
	for (uint32_t i = 0; !err && i < s->table_size; i++)
		idx[i] = idx[i] == MAGLEV_EMPTY ? SLUICE_LB_NO_BACKEND : n->be_ids[idx[i]];
	if (!err)
		fd = table_create(n->val.id, s->table_size, idx);
	free(idx);
	if (!err && fd < 0)
		err = fd;
	if (!err && bpf_map_update_elem(st->fds.maglev, &t, &fd, BPF_ANY))
		err = -errno;
	if (fd >= 0)
		close(fd);
	if (err) {
		sl_diag_add(diags, &s->loc, "load balancer \"%s\": cannot build its Maglev table "
			    "(%u entries): %s", s->name, s->table_size, strerror(-err));
		return err;
	}
	st->table_used[t] = true;
	n->val.table = t;
	n->val.size = s->table_size;
	return 0;
}

static void encap_src(const struct sl_lb_service *s, struct lb_service *v)
{
	uint32_t dflt = htonl(LB_DEFAULT_ENCAP4);

	memset(v->encap_src, 0, sizeof(v->encap_src));
	if (s->encap.len) {
		unsigned int host = (s->family == 4 ? 32 : 128) - s->encap.len;

		memcpy(v->encap_src, s->encap.addr, 16);
		v->encap_bits = host > 32 ? 32 : host;
	} else if (s->family == 4) {
		memcpy(v->encap_src, &dflt, 4);
		v->encap_bits = 16;
	} else {
		/* 100::/64, the discard-only prefix (RFC 6666), as Katran */
		v->encap_src[0] = 0x01;
		v->encap_bits = 32;
	}
}

int lb_flowtab_create(const char *name, uint32_t entries)
{
	/* as the template in bpf/lib/lb_flow_maps.h: one LRU list for all CPUs */
	int fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, name, sizeof(struct lb_flow_key),
				sizeof(struct lb_flow), entries, NULL);

	return fd < 0 ? -errno : fd;
}

int lb_flowtab4_create(const char *name, uint32_t entries)
{
	/* as the template in bpf/lib/lb_maps.h, of lb_flowtab's flavour */
	int fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, name, sizeof(struct lb_flow4_key),
				sizeof(struct lb_flow), entries, NULL);

	return fd < 0 ? -errno : fd;
}

/*
 * lb_filter from the services of A and B (and their backends): written
 * with A the services in force and B those being prepared (their union:
 * no address in use is ever without its bit), then with the new ones alone.
 */
static int filter_write(const struct lb_state *st, const struct lb_svc_rec *a, size_t na,
			const struct lb_svc_rec *b, size_t nb)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	uint32_t n = LB_F_MAX * SLUICE_LB_FILTER_WORDS, *keys;
	uint64_t *w;
	int err = 0;

	keys = calloc(n, sizeof(*keys));
	w = calloc(n, sizeof(*w));
	if (!keys || !w) {
		free(keys);
		free(w);
		return -ENOMEM;
	}
	for (int pass = 0; pass < 2; pass++) {
		const struct lb_svc_rec *v = pass ? b : a;

		for (size_t i = 0; i < (pass ? nb : na); i++) {
			uint32_t h = sl_lb_addr_hash((const __u32 *)v[i].key.vip);

			w[LB_F_VIP * SLUICE_LB_FILTER_WORDS + (h >> 6)] |= 1ull << (h & 63);
			/* a DSR health check's answer comes from the VIP */
			if (v[i].hc_encap)
				w[LB_F_BACKEND * SLUICE_LB_FILTER_WORDS + (h >> 6)] |=
					1ull << (h & 63);
			for (size_t j = 0; j < v[i].nbe; j++) {
				h = sl_lb_addr_hash((const __u32 *)st->be[v[i].be_ids[j]].addr);
				w[LB_F_BACKEND * SLUICE_LB_FILTER_WORDS + (h >> 6)] |= 1ull << (h & 63);
			}
		}
	}
	for (uint32_t i = 0; i < n; i++)
		keys[i] = i;
	if (bpf_map_update_batch(st->fds.filter, keys, w, &n, &opts))
		err = -errno;
	free(keys);
	free(w);
	return err;
}

/*
 * The flow tables, created with the first service (pinned ones stay as they
 * are): lb_flowtab[LB_FLOWS], [LB_REVERSE], then lb_flowtab4[0].
 */
static int flowtab_ensure(struct lb_state *st, uint32_t entries, struct sl_diags *diags)
{
	static const char *const names[3] = { SLUICE_MAP_LB_FLOWS, SLUICE_MAP_LB_REVERSE,
					       SLUICE_MAP_LB_FLOWS4 };

	for (__u32 w = 0; w < 3; w++) {
		int outer = w < 2 ? st->fds.flowtab : st->fds.flowtab4;
		__u32 id, slot = w < 2 ? w : 0;
		int fd, err = 0;

		if (!bpf_map_lookup_elem(outer, &slot, &id))
			continue;
		fd = w < 2 ? lb_flowtab_create(names[w], entries) :
		     lb_flowtab4_create(names[w], entries);
		if (fd < 0 || bpf_map_update_elem(outer, &slot, &fd, BPF_ANY))
			err = fd < 0 ? fd : -errno;
		if (fd >= 0)
			close(fd);
		if (err) {
			sl_diag_add(diags, NULL, "cannot create the load balancer's flow table %s "
				    "(%u entries): %s", names[w], entries, strerror(-err));
			return err;
		}
	}
	return 0;
}

int lb_prepare(struct lb_state *st, const struct sl_policy *pol, uint64_t gen,
	       struct sl_diags *diags)
{
	struct maglev_backend *mb = NULL;
	int err = 0;

	if (st->pending)
		lb_abort(st);
	st->next = calloc(pol->nlbs + 1, sizeof(*st->next));
	if (!st->next)
		return -ENOMEM;
	st->pending = true;
	for (size_t i = 0; i < pol->nlbs && !err; i++) {
		const struct sl_lb_service *s = &pol->lbs[i];
		struct lb_svc_rec *n = &st->next[st->nnext], *old;

		lb_svc_key_of(s, &n->key);
		old = rec_find(st->cur, st->ncur, &n->key);
		n->val.id = old ? old->val.id : svc_id_alloc(st);
		n->be_ids = calloc(s->nbackends + 1, sizeof(*n->be_ids));
		free(mb);
		mb = calloc(s->nbackends + 1, sizeof(*mb));
		if (!n->be_ids || !mb) {
			free(n->be_ids);
			err = -ENOMEM;
			break;
		}
		n->nbe = s->nbackends;
		st->nnext++;
		err = prep_backends(st, s, old, n, mb, diags);
		if (!err)
			err = prep_table(st, s, old, n, mb, diags);
		n->val.flags = s->mode == SL_LB_DSR ? LB_SVC_F_DSR : 0;
		n->hc_encap = s->mode == SL_LB_DSR && s->health.type != SL_HC_NONE;
		encap_src(s, &n->val);
		if (!err)
			err = hc_write(st, n);
	}
	free(mb);
	if (!err && pol->nlbs)
		err = flowtab_ensure(st, pol->ct.max_entries ? pol->ct.max_entries :
				     st->flow_entries, diags);
	/* where the new NAT backends' replies go, before any flow goes to them */
	if (!err) {
		err = nat_be_write(st, st->cur, st->ncur, st->next, st->nnext);
		if (err)
			sl_diag_add(diags, NULL, "map %s: %s", SLUICE_MAP_LB_NAT_BE,
				    strerror(-err));
	}
	/* the new addresses' bits, before any service names them */
	if (!err)
		err = filter_write(st, st->cur, st->ncur, st->next, st->nnext);
	if (err && !diags->n)
		sl_diag_add(diags, NULL, "map %s: %s", SLUICE_MAP_LB_FILTER, strerror(-err));
	if (err) {
		lb_abort(st);
		return err;
	}
	st->decap_next = calloc(pol->decap.nvips + 1, sizeof(*st->decap_next));
	if (!st->decap_next) {
		lb_abort(st);
		return -ENOMEM;
	}
	for (size_t i = 0; i < pol->decap.nvips; i++) {
		struct lb_svc_key *k = &st->decap_next[st->ndecap_next++];

		memcpy(k->vip, pol->decap.vips[i].addr, 16);
		k->family = pol->decap.vips[i].family == AF_INET ? 4 : 6;
	}
	memset(&st->cfg_next, 0, sizeof(st->cfg_next));
	st->cfg_next.active = pol->nlbs > 0;
	/* replies to rewrite: NAT's, and the answers of DSR health checks */
	for (size_t i = 0; i < pol->nlbs; i++)
		st->cfg_next.nat |= pol->lbs[i].mode == SL_LB_NAT ||
				    pol->lbs[i].health.type != SL_HC_NONE;
	st->cfg_next.decap = pol->decap.nvips > 0;
	st->cfg_next.timeout[LB_TO_TCP] = pol->ct.timeout[SLUICE_CT_TO_TCP_EST];
	st->cfg_next.timeout[LB_TO_TCP_CLOSING] = pol->ct.timeout[SLUICE_CT_TO_TCP_CLOSING];
	st->cfg_next.timeout[LB_TO_UDP] = pol->ct.timeout[SLUICE_CT_TO_UDP];
	/* a new epoch for every commit: flows cache services under it */
	st->cfg_next.gen = gen > st->cfg_cur.gen ? gen : st->cfg_cur.gen + 1;
	if (!(uint32_t)st->cfg_next.gen)
		st->cfg_next.gen++;
	return 0;
}

/* ---- commit ---- */

/* What a commit wrote, to put it back if a later write fails. */
struct undo {
	int fd;
	uint8_t key[sizeof(struct lb_svc_key)];
	bool had;
	uint8_t val[sizeof(struct lb_service)];
};

struct undo_log {
	struct undo *v;
	size_t n, cap;
};

/* Write (VAL) or delete (VAL NULL) KEY of map FD, recording the old value first. */
static int put(struct undo_log *u, int fd, const void *key, size_t klen, const void *val)
{
	struct undo *e;

	if (u->n == u->cap) {
		size_t cap = u->cap ? 2 * u->cap : 64;
		struct undo *nv = realloc(u->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		u->v = nv;
		u->cap = cap;
	}
	e = &u->v[u->n];
	memset(e, 0, sizeof(*e));
	e->fd = fd;
	memcpy(e->key, key, klen);
	e->had = !bpf_map_lookup_elem(fd, key, e->val);
	if (val ? bpf_map_update_elem(fd, key, val, BPF_ANY) :
		  (bpf_map_delete_elem(fd, key) && errno != ENOENT))
		return -errno;
	u->n++;
	return 0;
}

static void undo_all(struct undo_log *u)
{
	while (u->n--) {
		struct undo *e = &u->v[u->n];

		if (e->had)
			bpf_map_update_elem(e->fd, e->key, e->val, BPF_ANY);
		else
			bpf_map_delete_elem(e->fd, e->key);
	}
}

static bool vip_in(const struct lb_svc_rec *v, size_t n, const struct lb_svc_key *mk)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].key.family == mk->family && !memcmp(v[i].key.vip, mk->vip, 16))
			return true;
	return false;
}

static bool key_in(const struct lb_svc_key *v, size_t n, const struct lb_svc_key *k)
{
	for (size_t i = 0; i < n; i++)
		if (!memcmp(&v[i], k, sizeof(*k)))
			return true;
	return false;
}

/* Keys of the hash FD (KLEN bytes each) into a new array *OUT of *N. */
static int keys_of(int fd, size_t klen, uint8_t **out, size_t *n)
{
	uint8_t k[64], next[64], *v = NULL;
	int r;

	*n = 0;
	for (r = bpf_map_get_next_key(fd, NULL, next); !r; r = bpf_map_get_next_key(fd, k, next)) {
		uint8_t *nv = realloc(v, (*n + 1) * klen);

		if (!nv) {
			free(v);
			return -ENOMEM;
		}
		v = nv;
		memcpy(v + *n * klen, next, klen);
		memcpy(k, next, klen);
		(*n)++;
	}
	*out = v;
	return 0;
}

/* ---- NAT replies: lb_nat_be ---- */

/* The lb_nat_be key of backend ID of service R. */
static void nat_key(const struct lb_state *st, const struct lb_svc_rec *r, uint32_t id,
		    struct lb_svc_key *k)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->vip, st->be[id].addr, 16);
	k->port = st->be[id].port;
	k->proto = r->key.proto;
	k->family = r->key.family;
}

static bool nat_vip_eq(const struct lb_nat_vip *a, const struct lb_nat_vip *b)
{
	return !memcmp(a->vip, b->vip, 16) && a->vport == b->vport && a->backend == b->backend;
}

/* Is (VIP, port, backend) V one that a NAT service of SETS holds? */
static bool nat_wanted(const struct lb_state *st, const struct lb_svc_rec *const *sets,
		       const size_t *ns, const struct lb_svc_key *k, const struct lb_nat_vip *v)
{
	for (int s = 0; s < 2; s++)
		for (size_t i = 0; i < ns[s]; i++) {
			const struct lb_svc_rec *r = &sets[s][i];

			if ((r->val.flags & LB_SVC_F_DSR) || memcmp(r->key.vip, v->vip, 16) ||
			    r->key.port != v->vport)
				continue;
			for (size_t j = 0; j < r->nbe; j++) {
				struct lb_svc_key rk;

				if (r->be_ids[j] != v->backend)
					continue;
				nat_key(st, r, r->be_ids[j], &rk);
				if (!memcmp(&rk, k, sizeof(rk)))
					return true;
			}
		}
	return false;
}

/*
 * lb_nat_be for the NAT services of A and B: each backend's list keeps its
 * entries of services still there, in place (their flows' replies are
 * found through them), and gains the new ones while there is room. A
 * service of B with a backend where it found no room gets LB_SVC_F_REV:
 * its flows leave reverse entries. Keys no service wants any more go.
 */
static int nat_be_write(struct lb_state *st, const struct lb_svc_rec *a, size_t na,
			struct lb_svc_rec *b, size_t nb)
{
	const struct lb_svc_rec *sets[2] = { a, b };
	size_t ns[2] = { na, nb }, nk = 0;
	struct lb_svc_key *keys = NULL;
	int err;

	for (size_t i = 0; i < nb; i++)
		b[i].val.flags &= ~LB_SVC_F_REV;
	for (int s = 0; s < 2; s++)
		for (size_t i = 0; i < ns[s]; i++) {
			const struct lb_svc_rec *r = &sets[s][i];

			if (r->val.flags & LB_SVC_F_DSR)
				continue;
			for (size_t j = 0; j < r->nbe; j++) {
				struct lb_nat_vip v = { .vport = r->key.port,
							.backend = (uint16_t)r->be_ids[j] };
				struct lb_nat_be cur = {}, nv = {};
				struct lb_svc_key k;
				bool have = false;

				nat_key(st, r, r->be_ids[j], &k);
				memcpy(v.vip, r->key.vip, 16);
				if (bpf_map_lookup_elem(st->fds.nat_be, &k, &cur) || cur.n > LB_NAT_VIPS)
					cur.n = 0;
				for (uint32_t c = 0; c < cur.n; c++) {
					if (!nat_wanted(st, sets, ns, &k, &cur.vips[c]))
						continue;
					have |= nat_vip_eq(&cur.vips[c], &v);
					nv.vips[nv.n++] = cur.vips[c];
				}
				if (!have && nv.n < LB_NAT_VIPS) {
					nv.vips[nv.n++] = v;
					have = true;
				}
				if (!have && s == 1)
					b[i].val.flags |= LB_SVC_F_REV;
				if ((nv.n != cur.n || memcmp(&nv, &cur, sizeof(nv))) &&
				    bpf_map_update_elem(st->fds.nat_be, &k, &nv, BPF_ANY))
					return -errno;
			}
		}
	/* backends no NAT service names any more */
	err = keys_of(st->fds.nat_be, sizeof(*keys), (uint8_t **)&keys, &nk);
	for (size_t i = 0; !err && i < nk; i++) {
		struct lb_nat_be cur;
		bool any = false;

		if (bpf_map_lookup_elem(st->fds.nat_be, &keys[i], &cur))
			continue;
		for (uint32_t c = 0; c < cur.n && c < LB_NAT_VIPS && !any; c++)
			any = nat_wanted(st, sets, ns, &keys[i], &cur.vips[c]);
		if (!any && bpf_map_delete_elem(st->fds.nat_be, &keys[i]) && errno != ENOENT)
			err = -errno;
	}
	free(keys);
	return err;
}

static int commit_writes(struct lb_state *st, struct undo_log *u)
{
	struct lb_svc_key *keys = NULL;
	uint32_t zero = 0, one = 1;
	size_t nk = 0;
	int err;

	/* services new or changed: one write each */
	for (size_t i = 0; i < st->nnext; i++) {
		struct lb_svc_rec *n = &st->next[i];
		struct lb_svc_rec *o = rec_find(st->cur, st->ncur, &n->key);

		if (o && !memcmp(&o->val, &n->val, sizeof(n->val)))
			continue;
		err = put(u, st->fds.svc, &n->key, sizeof(n->key), &n->val);
		if (err)
			return err;
	}
	/* the VIP entries (ICMP errors, fragments) */
	for (size_t i = 0; i < st->nnext; i++) {
		struct lb_service mv = { .flags = LB_SVC_F_VIP, .id = SLUICE_LB_SVC_MAX };
		struct lb_svc_key mk = { .family = st->next[i].key.family };

		memcpy(mk.vip, st->next[i].key.vip, 16);
		err = put(u, st->fds.svc, &mk, sizeof(mk), &mv);
		if (err)
			return err;
	}
	/* removed services and VIPs */
	err = keys_of(st->fds.svc, sizeof(*keys), (uint8_t **)&keys, &nk);
	for (size_t i = 0; !err && i < nk; i++) {
		struct lb_svc_key *k = &keys[i];
		bool marker = !k->port && !k->proto;

		if (marker ? vip_in(st->next, st->nnext, k) : !!rec_find(st->next, st->nnext, k))
			continue;
		err = put(u, st->fds.svc, k, sizeof(*k), NULL);
	}
	free(keys);
	if (err)
		return err;
	/* decap VIPs */
	err = keys_of(st->fds.decap, sizeof(*keys), (uint8_t **)&keys, &nk);
	for (size_t i = 0; !err && i < nk; i++)
		if (!key_in(st->decap_next, st->ndecap_next, &keys[i]))
			err = put(u, st->fds.decap, &keys[i], sizeof(keys[i]), NULL);
	free(keys);
	for (size_t i = 0; !err && i < st->ndecap_next; i++)
		err = put(u, st->fds.decap, &st->decap_next[i], sizeof(st->decap_next[i]), &one);
	if (!err)
		err = put(u, st->fds.cfg, &zero, sizeof(zero), &st->cfg_next);
	return err;
}

int lb_commit(struct lb_state *st)
{
	struct undo_log u = {};
	int err;

	if (!st->pending)
		return 0;
	err = commit_writes(st, &u);
	if (err) {
		uint32_t zero = 0;

		undo_all(&u);
		/* flows may have cached a service written and taken back: a new epoch */
		st->cfg_cur.gen = st->cfg_next.gen + 1;
		bpf_map_update_elem(st->fds.cfg, &zero, &st->cfg_cur, BPF_ANY);
	}
	free(u.v);
	if (err)
		return err;
	st->committed = true;
	st->cfg_cur = st->cfg_next;
	return 0;
}

void lb_gc(struct lb_state *st)
{
	if (!st->pending)
		return;
	if (!st->committed) {
		lb_abort(st);
		return;
	}
	for (size_t i = 0; i < st->ncur; i++) {
		struct lb_svc_rec *o = &st->cur[i];

		if (st->table_used[o->val.table] && !table_in(st->next, st->nnext, o->val.table)) {
			bpf_map_delete_elem(st->fds.maglev, &o->val.table);
			st->table_used[o->val.table] = false;
		}
		for (size_t j = 0; j < o->nbe; j++) {
			uint32_t id = o->be_ids[j];

			if (id_in(st->next, st->nnext, id))
				continue;
			/* left the policy: its flows are balanced again */
			st->be[id].flags = 0;
			bpf_map_update_elem(st->fds.backends, &id, &st->be[id], BPF_ANY);
		}
	}
	memset(st->be_used, 0, sizeof(st->be_used));
	memset(st->svc_id_used, 0, sizeof(st->svc_id_used));
	for (size_t i = 0; i < st->nnext; i++) {
		if (st->next[i].val.id < SLUICE_LB_SVC_MAX)
			st->svc_id_used[st->next[i].val.id] = true;
		for (size_t j = 0; j < st->next[i].nbe; j++)
			st->be_used[st->next[i].be_ids[j]] = true;
	}
	recs_free(st->cur, st->ncur);
	st->cur = st->next;
	st->ncur = st->nnext;
	st->next = NULL;
	st->nnext = 0;
	/* the bits of the addresses that left go (a failure leaves extra bits: harmless) */
	filter_write(st, st->cur, st->ncur, NULL, 0);
	nat_be_adopt(st);
	free(st->decap_next);
	st->decap_next = NULL;
	st->ndecap_next = 0;
	st->pending = st->committed = false;
}

int lb_apply(struct lb_state *st, const struct sl_policy *pol, uint64_t gen,
	     struct sl_diags *diags)
{
	int err = lb_prepare(st, pol, gen, diags);

	if (!err)
		err = lb_commit(st);
	if (err)
		lb_abort(st);
	else
		lb_gc(st);
	return err;
}

/* ---- lookups, health, interfaces ---- */

int lb_backend_id(const struct lb_state *st, const struct lb_svc_key *key,
		  const uint8_t *addr, uint16_t port)
{
	const struct lb_svc_rec *r = rec_find(st->cur, st->ncur, key);

	for (size_t i = 0; r && i < r->nbe; i++) {
		const struct lb_backend *e = &st->be[r->be_ids[i]];

		if (!memcmp(e->addr, addr, 16) && ntohs(e->port) == port)
			return (int)r->be_ids[i];
	}
	return -ENOENT;
}

int lb_set_down(struct lb_state *st, uint32_t id, bool down)
{
	struct lb_backend e;

	if (id >= SLUICE_LB_BACKENDS_MAX)
		return -EINVAL;
	e = st->be[id];
	e.flags = down ? e.flags | LB_BE_F_DOWN : e.flags & ~LB_BE_F_DOWN;
	if (e.flags == st->be[id].flags)
		return 0;
	/* the record survives the agent: a restart keeps the backend down until it rises */
	if (bpf_map_update_elem(st->fds.backends, &id, &e, BPF_ANY))
		return -errno;
	st->be[id] = e;
	return 0;
}

/* IFINDEX -> VAL in the hash FD (ON), or out of it. */
static int ifmap_set(int fd, uint32_t ifindex, uint32_t val, bool on)
{
	if (on)
		return bpf_map_update_elem(fd, &ifindex, &val, BPF_ANY) ? -errno : 0;
	return bpf_map_delete_elem(fd, &ifindex) && errno != ENOENT ? -errno : 0;
}

int lb_devmap_set(struct lb_state *st, uint32_t ifindex, bool on)
{
	/* a devmap entry's value is the interface to send to */
	return ifmap_set(st->fds.devmap, ifindex, ifindex, on);
}

int lb_decap_if_set(struct lb_state *st, uint32_t ifindex, bool on)
{
	return ifmap_set(st->fds.decap_if, ifindex, 1, on);
}

/* ---- counters and flows ---- */

int lb_be_counters(const struct lb_state *st, uint32_t id, struct lb_be_counter *out)
{
	int ncpu = libbpf_num_possible_cpus();
	struct lb_be_counter *pc;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (ncpu <= 0)
		return -EINVAL;
	pc = calloc(ncpu, sizeof(*pc));
	if (!pc)
		return -ENOMEM;
	if (bpf_map_lookup_elem(st->fds.be_stats, &id, pc))
		err = -errno;
	for (int c = 0; !err && c < ncpu; c++) {
		out->new_flows += pc[c].new_flows;
		out->packets += pc[c].packets;
		out->bytes += pc[c].bytes;
	}
	free(pc);
	return err;
}

int lb_stats_read(const struct lb_state *st, uint64_t out[SLUICE_LB_STAT_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *pc;
	int err = 0;

	memset(out, 0, SLUICE_LB_STAT_MAX * sizeof(*out));
	if (ncpu <= 0)
		return -EINVAL;
	pc = calloc(ncpu, sizeof(*pc));
	if (!pc)
		return -ENOMEM;
	for (__u32 i = 0; !err && i < SLUICE_LB_STAT_MAX; i++) {
		if (bpf_map_lookup_elem(st->fds.stats, &i, pc)) {
			err = -errno;
			break;
		}
		for (int c = 0; c < ncpu; c++)
			out[i] += pc[c];
	}
	free(pc);
	return err;
}

/* The 40-byte key of the IPv4 flow K4 (the layout FN callers read). */
static void flow_key_of4(struct lb_flow_key *k, const struct lb_flow4_key *k4)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->src, &k4->src, 4);
	memcpy(k->dst, &k4->dst, 4);
	k->sport = k4->sport;
	k->dport = k4->dport;
	k->proto = k4->proto;
	k->family = 4;
}

/* FN for every entry of the inner map SLOT of OUTER (keys of KSZ bytes: 40 or 16). */
typedef int (*lb_flow_fn)(void *ctx, const struct lb_flow_key *k, const struct lb_flow *f);

static int flows_walk_one(int outer, uint32_t slot, size_t ksz, lb_flow_fn fn, void *ctx)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	struct lb_flow_key k40;
	struct lb_flow *vals;
	__u32 id, batch, n;
	bool first = true;
	int fd, err = 0;
	char *keys;

	if (bpf_map_lookup_elem(outer, &slot, &id))
		return errno == ENOENT ? 0 : -errno;
	fd = bpf_map_get_fd_by_id(id);
	if (fd < 0)
		return -errno;
	keys = calloc(LB_BATCH, ksz);
	vals = calloc(LB_BATCH, sizeof(*vals));
	if (!keys || !vals)
		err = -ENOMEM;
	while (!err) {
		int r;

		n = LB_BATCH;
		r = bpf_map_lookup_batch(fd, first ? NULL : &batch, &batch, keys, vals, &n, &opts);
		if (r && errno != ENOENT) {
			err = -errno;
			break;
		}
		first = false;
		for (__u32 i = 0; i < n && !err; i++) {
			const void *k = keys + i * ksz;

			if (ksz == sizeof(struct lb_flow4_key)) {
				struct lb_flow4_key k4;

				memcpy(&k4, k, sizeof(k4));
				flow_key_of4(&k40, &k4);
				k = &k40;
			}
			err = fn(ctx, k, &vals[i]);
		}
		if (r)
			break;	/* ENOENT: that was the last batch */
	}
	free(keys);
	free(vals);
	close(fd);
	return err;
}

int lb_flows_walk(const struct lb_state *st, uint32_t which,
		  int (*fn)(void *ctx, const struct lb_flow_key *k, const struct lb_flow *f),
		  void *ctx)
{
	int err = flows_walk_one(st->fds.flowtab, which, sizeof(struct lb_flow_key), fn, ctx);

	if (!err && which == LB_FLOWS)
		err = flows_walk_one(st->fds.flowtab4, 0, sizeof(struct lb_flow4_key), fn, ctx);
	return err;
}

struct count_ctx {
	const struct lb_state *st;
	uint32_t *active;
	uint64_t now;
	long walked;
};

static int count_one(void *ctx, const struct lb_flow_key *k, const struct lb_flow *f)
{
	struct count_ctx *c = ctx;
	const struct lb_backend *e;
	uint32_t i = k->proto == IPPROTO_UDP ? LB_TO_UDP :
		     f->state == LB_FLOW_CLOSING ? LB_TO_TCP_CLOSING : LB_TO_TCP;
	uint64_t to = c->st->cfg_cur.timeout[i] ? c->st->cfg_cur.timeout[i] :
		      SLUICE_LB_TO_DEFAULT(i);

	c->walked++;
	if (f->backend >= SLUICE_LB_BACKENDS_MAX)
		return 0;
	e = &c->st->be[f->backend];
	/* the datapath's own test (bpf/lib/lb.h sl_lb_stale and sl_lb_pick) */
	if ((int64_t)(c->now - f->last_seen) > (int64_t)(to * 1000000000ull) ||
	    !(e->flags & LB_BE_F_LIVE) || e->gen != f->be_gen || f->state != LB_FLOW_OPEN)
		return 0;
	c->active[f->backend]++;
	return 0;
}

long lb_flows_count(const struct lb_state *st, uint32_t *active)
{
	struct count_ctx c = { .st = st, .active = active };
	struct timespec ts;
	int err;

	memset(active, 0, SLUICE_LB_BACKENDS_MAX * sizeof(*active));
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	c.now = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
	err = lb_flows_walk(st, LB_FLOWS, count_one, &c);
	return err ? err : c.walked;
}
