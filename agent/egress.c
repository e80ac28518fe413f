// SPDX-License-Identifier: GPL-2.0-only
/*
 * Container egress in the agent (docs/egress.md).
 *
 * Each `egress` entry is compiled by the firewall's compiler into a policy
 * slot of its own (lib/fw_compile.c, lib/fw_maps.c: the same tables, the
 * same classifier). Which slot a socket uses is one word per managed
 * cgroup, eg_cg[cgroup id] = {slot, default's counter, entry}, and one per
 * backstop source prefix, eg_src4/eg_src6[prefix]. Applying a policy
 * builds every new slot first (egress_prepare), then rewrites those words
 * (egress_commit: each an atomic replace, every one put back if any write
 * fails), and only then are new cgroups attached (cgwatch.c) and new
 * backstop interfaces (egress_tc.c). The slots left are freed by the
 * firewall's collector after the grace period (egress_holds_slot).
 * Counter ids belong to rules (cnt_ids.c, eg_cnt_key): a rule keeps its
 * counts while its entry, name and content stay, wherever it moves.
 *
 * The hook programs (bpf/sluice_cgroup.bpf.c) are part of the program set
 * (loader.c): loaded with the XDP object's pinned maps by an agent of a new
 * build, adopted from their pins on a restart; the links a previous agent
 * pinned are moved to them with bpf_link_update, so a managed cgroup is
 * never without its hooks across a restart.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "fnv.h"
#include "sluice_cgroup.skel.h"

#include "abi_names.h"
#include "agent.h"
#include "egress.h"
#include "egress_int.h"
#include "fw_maps.h"
#include "loader.h"
#include "log.h"
#include "migrate.h"
#include "policy_json.h"
#include "rules.h"
#include "sync.h"

#define EG_NAME(id, name, type, prog) name,
const char *const eg_hook_names[EGH_MAX] = { EG_HOOKS(EG_NAME) };
#undef EG_NAME
#define EG_TYPE(id, name, type, prog) type,
const enum bpf_attach_type eg_hook_types[EGH_MAX] = { EG_HOOKS(EG_TYPE) };
#undef EG_TYPE

static void eg_snap_drop(struct agent_egress *eg);

/* ---- the object ---- */

/* The verifier's part of the load, on the loader thread (egress_preload). */
static void *eg_load_thread(void *arg)
{
	struct agent_egress *eg = arg;

	eg->load_err = sluice_cgroup__load(eg->skel);
	return NULL;
}

int egress_preload(struct agent *a)
{
	char path[PATH_MAX];
	struct agent_egress *eg;
	struct sluice_cgroup *skel;
	struct bpf_map *map;
	int err;

	eg = calloc(1, sizeof(*eg));
	if (!eg)
		return -ENOMEM;
	eg->ino_fd = -1;
	a->eg = eg;
	/*
	 * No owners pinned yet (a new install, or an upgrade from a build that
	 * gave entry i's rule r the id base + r): the first apply keeps those ids.
	 */
	eg->seed = !path_join(path, sizeof(path), a->maps_dir, SLUICE_MAP_EG_CNT_KEY) &&
		   access(path, F_OK);
	skel = sluice_cgroup__open();
	if (!skel) {
		err = -errno;
		pr_err("cannot open the BPF object sluice_cgroup: %s", strerror(errno));
		return err;
	}
	eg->skel = skel;
	bpf_object__for_each_map(map, skel->obj) {
		const char *name = bpf_map__name(map);

		/* of the load balancer's maps, the socket LB reads these four only */
		if (!bpf_map__is_internal(map) && !strncmp(name, "lb_", 3) &&
		    strcmp(name, SLUICE_MAP_LB_SVC) && strcmp(name, SLUICE_MAP_LB_MAGLEV) &&
		    strcmp(name, SLUICE_MAP_LB_BACKENDS) && strcmp(name, SLUICE_MAP_LB_BE_STATS))
			bpf_map__set_autocreate(map, false);
	}
	/* the XDP object's pins (slots, events, counters) and eg_* of its own */
	err = loader_prepare_obj(a, skel->obj);
	if (err)
		return err;
	/* the object is this thread's until egress_load joins it */
	eg->loading = !pthread_create(&eg->loader, NULL, eg_load_thread, eg);
	if (!eg->loading)
		eg_load_thread(eg);
	return 0;
}

/* Wait for the loader thread: the object is this thread's again. */
static void eg_load_join(struct agent_egress *eg)
{
	if (eg->loading)
		pthread_join(eg->loader, NULL);
	eg->loading = false;
}

void egress_preload_wait(struct agent *a)
{
	if (a->eg)
		eg_load_join(a->eg);
}

int egress_load(struct agent *a)
{
	struct agent_egress *eg;
	struct sluice_cgroup *skel;
	struct bpf_map *map;
	int err;

	if (!a->eg) {
		err = egress_preload(a);
		if (err)
			return err;
	}
	eg = a->eg;
	skel = eg->skel;
	eg_load_join(eg);
	err = eg->load_err;
	if (err) {
		pr_err("cannot load the BPF program sluice_cgroup: %s (-v shows libbpf's log)",
		       strerror(-err));
		return err;
	}
	bpf_object__for_each_map(map, skel->obj) {
		const char *pin = bpf_map__pin_path(map);

		if (pin && chmod(pin, 0600)) {
			err = -errno;
			pr_err("cannot chmod %s: %s", pin, strerror(errno));
			return err;
		}
	}
	err = loader_pin_obj(a, skel->obj);
	if (err)
		return err;
	/* an upgrade: eg_rule_cnt, eg_stats, eg_lb_rev before any hook of this build runs */
	err = migrate_carry(a->mig, skel->obj, true);
	if (err)
		return err;
	eg->cg_fd = bpf_map__fd(skel->maps.eg_cg);
	eg->src4_fd = bpf_map__fd(skel->maps.eg_src4);
	eg->src6_fd = bpf_map__fd(skel->maps.eg_src6);
	eg->cnt_fd = bpf_map__fd(skel->maps.eg_rule_cnt);
	eg->stats_fd = bpf_map__fd(skel->maps.eg_stats);
	err = cnt_ids_open(&eg->cnt, "egress rule", eg->cnt_fd,
			   bpf_map__fd(skel->maps.eg_cnt_key), SLUICE_EG_CNT_IDS);
	if (err)
		return err;
#define EG_PROG(id, name, type, prog) eg->prog_fds[id] = loader_prog_fd(a, skel->progs.prog);
	EG_HOOKS(EG_PROG)
#undef EG_PROG
	eg->backstop_fd = loader_prog_fd(a, skel->progs.sl_eg_backstop);
	return cgw_open(a);
}

void egress_unload(struct agent *a)
{
	struct agent_egress *eg = a->eg;

	if (!eg)
		return;
	eg_load_join(eg);
	cgw_close(a);
	eg_snap_drop(eg);
	sluice_cgroup__destroy(eg->skel);
	cnt_ids_close(&eg->cnt);
	free(eg->slots);
	free(eg->bases);
	free(eg->ids);
	free(eg->new_slots);
	free(eg->new_bases);
	free(eg->new_ids);
	free(eg->fresh);
	free(eg);
	a->eg = NULL;
}

bool egress_state_in_force(const struct agent *a)
{
	char path[PATH_MAX];
	__u64 key;
	bool any;
	int fd;

	if (path_join(path, sizeof(path), a->maps_dir, SLUICE_MAP_EG_CG))
		return false;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return false;
	any = !bpf_map_get_next_key(fd, NULL, &key);
	close(fd);
	return any;
}

int egress_adopt(struct agent *a)
{
	int err = cgw_adopt(a);

	return err ? err : etc_adopt(a);
}

int egress_move_pending(struct agent *a)
{
	int err = cgw_move_pending(a), e2 = etc_move_pending(a);

	return err ? err : e2;
}

int eg_pin_path(const struct agent *a, char *buf, size_t len, const char *fmt, ...)
{
	char name[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	return path_join(buf, len, a->links_dir, name);
}

int eg_pin(int fd, const char *path)
{
	unlink(path);
	if (bpf_obj_pin(fd, path) || chmod(path, 0600)) {
		int err = -errno;

		unlink(path);
		return err;
	}
	return 0;
}

/* ---- map words ---- */

/* Entry ENTRY's word: its slot and default's counter in SLOTS, BASES and IDS of POL. */
static struct sl_eg_val eg_val(const uint32_t *slots, const uint32_t *bases, const uint32_t *ids,
			       const struct sl_policy *pol, size_t entry)
{
	return (struct sl_eg_val){ .slot = slots[entry],
				   .cnt_base = ids[bases[entry] + pol->egs[entry].fw.nrules],
				   .entry = (uint32_t)entry + 1 };
}

int eg_cg_write(struct agent *a, uint64_t id, size_t entry)
{
	struct agent_egress *eg = a->eg;
	struct sl_eg_val v;

	if (entry >= eg->n)
		return -ENOENT;
	v = eg_val(eg->slots, eg->bases, eg->ids, &a->pol, entry);
	return bpf_map_update_elem(eg->cg_fd, &id, &v, BPF_ANY) ? -errno : 0;
}

int eg_cg_delete(struct agent *a, uint64_t id)
{
	if (bpf_map_delete_elem(a->eg->cg_fd, &id) && errno != ENOENT)
		return -errno;
	return 0;
}

/* Every key and value of a hash or trie map, to put back after a failed commit. */
struct map_snap {
	int fd;
	size_t ksize, vsize, n;
	unsigned char *keys, *vals;
};

static int snap_take(struct map_snap *s, int fd, size_t ksize, size_t vsize)
{
	unsigned char k[32], next[32];
	void *prev = NULL;

	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->ksize = ksize;
	s->vsize = vsize;
	while (!bpf_map_get_next_key(fd, prev, next)) {
		void *nk, *nv;

		memcpy(k, next, ksize);
		prev = k;
		nk = realloc(s->keys, (s->n + 1) * ksize);
		nv = nk ? realloc(s->vals, (s->n + 1) * vsize) : NULL;
		if (nk)
			s->keys = nk;
		if (!nv)
			return -ENOMEM;
		s->vals = nv;
		if (bpf_map_lookup_elem(fd, k, s->vals + s->n * vsize))
			continue;	/* gone meanwhile */
		memcpy(s->keys + s->n * ksize, k, ksize);
		s->n++;
	}
	return 0;
}

static bool snap_has(const struct map_snap *s, const void *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (!memcmp(s->keys + i * s->ksize, key, s->ksize))
			return true;
	return false;
}

/* Make the map hold exactly the snapshot again. */
static void snap_restore(const struct map_snap *s)
{
	unsigned char k[32], next[32];
	void *prev = NULL;

	while (!bpf_map_get_next_key(s->fd, prev, next)) {
		memcpy(k, next, s->ksize);
		if (!snap_has(s, k) && !bpf_map_delete_elem(s->fd, k))
			prev = NULL;	/* walk again from the start: the order moved */
		else
			prev = k;
	}
	for (size_t i = 0; i < s->n; i++)
		if (bpf_map_update_elem(s->fd, s->keys + i * s->ksize, s->vals + i * s->vsize,
					BPF_ANY))
			pr_err("egress: cannot restore an entry of a map: %s", strerror(errno));
}

static void snap_free(struct map_snap *s)
{
	free(s->keys);
	free(s->vals);
	memset(s, 0, sizeof(*s));
}

/* The three maps' words before a commit: what egress_abort puts back. */
struct eg_snap {
	struct map_snap cg, s4, s6;
};

static void eg_snap_drop(struct agent_egress *eg)
{
	if (!eg->snap)
		return;
	snap_free(&eg->snap->cg);
	snap_free(&eg->snap->s4);
	snap_free(&eg->snap->s6);
	free(eg->snap);
	eg->snap = NULL;
}

static void eg_snap_restore(struct agent_egress *eg)
{
	snap_restore(&eg->snap->cg);
	snap_restore(&eg->snap->s4);
	snap_restore(&eg->snap->s6);
}

/*
 * Delete every key of SNAP's map that KEEP (N keys of KSIZE) does not hold.
 * 0 or -errno.
 */
static int keep_only(const struct map_snap *snap, const unsigned char *keep, size_t n)
{
	for (size_t i = 0; i < snap->n; i++) {
		const unsigned char *k = snap->keys + i * snap->ksize;
		bool kept = false;

		for (size_t j = 0; j < n && !kept; j++)
			kept = !memcmp(keep + j * snap->ksize, k, snap->ksize);
		if (!kept && bpf_map_delete_elem(snap->fd, k) && errno != ENOENT)
			return -errno;
	}
	return 0;
}

/* ---- apply ---- */

static void free_new(struct agent_egress *eg)
{
	free(eg->new_slots);
	free(eg->new_bases);
	free(eg->new_ids);
	free(eg->fresh);
	eg->new_slots = eg->new_bases = eg->new_ids = eg->fresh = NULL;
	eg->new_n = eg->nfresh = 0;
	eg->prepared = false;
}

void egress_abort(struct agent *a)
{
	struct agent_egress *eg = a->eg;

	if (!eg || !eg->prepared)
		return;
	/* committed, then something after it failed: the words go back first */
	if (eg->snap) {
		eg_snap_restore(eg);
		eg_snap_drop(eg);
		sync_grace(a);
	}
	for (size_t i = 0; i < eg->new_n; i++)
		if (eg->new_slots[i] < SLUICE_POL_SLOTS)
			fw_slot_clear(&a->fds, eg->new_slots[i]);
	cnt_ids_abort(&eg->cnt, eg->fresh, eg->nfresh);
	free_new(eg);
}

/* The owner key of entry E's rule R (R == nrules: its default). */
static uint64_t eg_cnt_owner(const struct sl_egress *e, size_t r)
{
	/* an egress rule counts for its entry, apart from the same rule elsewhere */
	uint64_t h = sl_fnv1a(SL_FNV_INIT, e->name, strlen(e->name)), rk = 0;
	unsigned char tail[9];
	size_t nt = 0;

	tail[nt++] = r < e->fw.nrules ? 'r' : 'd';
	if (r < e->fw.nrules)
		rk = sl_rule_key(&e->fw.rules[r]);
	/* an unnamed rule is ENTRY.INDEX: its index is its name */
	if (r < e->fw.nrules && !e->fw.rules[r].name)
		rk ^= (uint64_t)(r + 1) * 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < 8; i++)
		tail[nt++] = (unsigned char)(rk >> (8 * i));
	h = sl_fnv1a(h, tail, nt);
	return h ? h : 1;
}

/*
 * The counter ids of every entry of POL, its rules' then its default's, in
 * new_ids from new_bases[entry]: a rule keeps the id it owns (eg_cnt_key),
 * a new or changed one takes a free id, zeroed. 0 or -errno (logged).
 */
static int eg_plan_counters(struct agent_egress *eg, const struct sl_policy *pol)
{
	size_t n = 0, k = 0;
	uint64_t *keys;
	int err = 0;

	for (size_t i = 0; i < pol->negs; i++)
		n += pol->egs[i].fw.nrules + 1;
	keys = calloc(n + 1, sizeof(*keys));
	eg->new_ids = calloc(n + 1, sizeof(*eg->new_ids));
	eg->fresh = calloc(n + 1, sizeof(*eg->fresh));
	if (!keys || !eg->new_ids || !eg->fresh) {
		free(keys);
		return -ENOMEM;
	}
	for (size_t i = 0; i < pol->negs; i++) {
		eg->new_bases[i] = (uint32_t)k;
		for (size_t r = 0; r <= pol->egs[i].fw.nrules; r++)
			keys[k++] = eg_cnt_owner(&pol->egs[i], r);
	}
	eg->new_nids = n;
	if (eg->seed) {
		/* ids entry base + rule, as the previous layout counted: their counts go on */
		for (size_t i = 0; i < n; i++)
			eg->new_ids[i] = (uint32_t)i;
		err = cnt_ids_seed(&eg->cnt, keys, eg->new_ids, n);
		if (!err)
			eg->seed = false;
	} else {
		err = cnt_ids_plan(&eg->cnt, keys, n, eg->new_ids, eg->fresh, &eg->nfresh);
	}
	free(keys);
	return err;
}

int egress_prepare(struct agent *a, const struct sl_policy *pol, uint64_t gen)
{
	struct agent_egress *eg = a->eg;
	int err;

	free_new(eg);
	eg->prepared = true;
	eg->new_n = pol->negs;
	eg->new_slots = malloc((pol->negs + 1) * sizeof(*eg->new_slots));
	eg->new_bases = malloc((pol->negs + 1) * sizeof(*eg->new_bases));
	if (!eg->new_slots || !eg->new_bases) {
		eg->new_n = 0;
		return -ENOMEM;
	}
	for (size_t i = 0; i < pol->negs; i++)
		eg->new_slots[i] = UINT32_MAX;
	/* counter ids first: a rule that stays the same keeps its counters */
	err = eg_plan_counters(eg, pol);
	for (size_t i = 0; i < pol->negs && !err; i++) {
		const struct sl_egress *e = &pol->egs[i];
		const uint32_t *ids = eg->new_ids + eg->new_bases[i];
		struct fw_write_fail fail;
		struct sl_diags d = {};
		struct fw_tables t = {};

		err = fw_compile(pol, &e->fw, gen, &t, &d);
		/* counter ids into eg_rule_cnt, the entry's own (sluice_abi.h) */
		if (!err) {
			fw_tables_set_counters(&t, ids, ids[e->fw.nrules]);
			err = fw_slot_free(&a->fds, &eg->new_slots[i]);
			if (err)
				sl_diag_add(&d, &e->loc, "egress \"%s\": no free policy slot (%d in "
					    "use)", e->name, SLUICE_POL_SLOTS);
		}
		if (!err) {
			err = fw_slot_write(&a->fds, eg->new_slots[i], &t, &fail, &d);
			if (err) {
				eg->new_slots[i] = UINT32_MAX;
				sl_diag_add(&d, &e->loc, "egress \"%s\": map %s: %s", e->name,
					    fail.map ? fail.map : "?", strerror(-err));
			}
		}
		if (err) {
			log_diags(LL_ERROR, &d);
			pr_err("%s: egress \"%s\" does not compile: not applied", a->policy_dir,
			       e->name);
		}
		fw_tables_free(&t);
		sl_diags_free(&d);
	}
	if (err)
		egress_abort(a);
	return err;
}

/* The watcher's record of E's path (the policy in force names it), or NULL. */
static const struct eg_cgroup *entry_cg(struct agent *a, const struct sl_egress *e)
{
	for (size_t k = 0; k < a->eg->ncgs; k++)
		if (!strcmp(a->eg->cgs[k].path, e->cgroup))
			return &a->eg->cgs[k];
	return NULL;
}

/* The cgroup id of entry I's path: the one the watcher knows, else as it is now. */
static uint64_t entry_cg_id(struct agent *a, const struct sl_egress *e)
{
	const struct eg_cgroup *cg = entry_cg(a, e);

	return cg ? cg->id : cgw_id_of(e->cgroup);
}

static bool id_in(const uint64_t *ids, size_t n, uint64_t id)
{
	for (size_t k = 0; k < n; k++)
		if (ids[k] == id)
			return true;
	return false;
}

/*
 * Write eg_cg[ID] := V for entry I of POL, unless ID is among the NIDS
 * written already (added to IDS). 0 or -errno.
 */
static int eg_cg_put(struct agent *a, const struct sl_policy *pol, size_t i, uint64_t id,
		     const struct sl_eg_val *v, uint64_t *ids, size_t *nids)
{
	if (id_in(ids, *nids, id)) {
		/* the check refuses it when both paths exist; this one came later */
		pr_warn("egress \"%s\": cgroup %s is the cgroup of another entry (made under two "
			"paths since the policy was checked): that entry's policy applies",
			pol->egs[i].name, pol->egs[i].cgroup);
		return 0;
	}
	ids[(*nids)++] = id;
	if (bpf_map_update_elem(a->eg->cg_fd, &id, v, BPF_ANY)) {
		int err = -errno;

		pr_err("egress \"%s\": cannot write %s: %s", pol->egs[i].name, SLUICE_MAP_EG_CG,
		       strerror(-err));
		return err;
	}
	return 0;
}

/* The backstop source keys of POL, v4 and v6, with their entry. */
struct src_keys {
	struct sl_eg_src4 *k4;
	struct sl_eg_src6 *k6;
	size_t *e4, *e6;
	size_t n4, n6;
};

static int src_keys_build(const struct sl_policy *pol, struct src_keys *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < pol->negs; i++) {
		const struct sl_egress *e = &pol->egs[i];

		for (size_t k = 0; k < e->nbs_src; k++) {
			const struct sl_addr_item *it = &e->bs_src[k];
			const struct sl_prefix *pv = it->is_set ? (it->set ? it->set->v : NULL) :
						     &it->pfx;
			size_t np = it->is_set ? (it->set ? it->set->n : 0) : 1;

			for (size_t p = 0; p < np; p++) {
				if (pv[p].family == AF_INET) {
					void *nk = realloc(s->k4, (s->n4 + 1) * sizeof(*s->k4));
					void *ne = nk ? realloc(s->e4, (s->n4 + 1) *
								sizeof(*s->e4)) : NULL;

					if (nk)
						s->k4 = nk;
					if (!ne)
						return -ENOMEM;
					s->e4 = ne;
					memset(&s->k4[s->n4], 0, sizeof(*s->k4));
					s->k4[s->n4].prefixlen = pv[p].len;
					memcpy(s->k4[s->n4].addr, pv[p].addr, 4);
					s->e4[s->n4++] = i;
				} else {
					void *nk = realloc(s->k6, (s->n6 + 1) * sizeof(*s->k6));
					void *ne = nk ? realloc(s->e6, (s->n6 + 1) *
								sizeof(*s->e6)) : NULL;

					if (nk)
						s->k6 = nk;
					if (!ne)
						return -ENOMEM;
					s->e6 = ne;
					s->k6[s->n6].prefixlen = pv[p].len;
					memcpy(s->k6[s->n6].addr, pv[p].addr, 16);
					s->e6[s->n6++] = i;
				}
			}
		}
	}
	return 0;
}

static void src_keys_free(struct src_keys *s)
{
	free(s->k4);
	free(s->k6);
	free(s->e4);
	free(s->e6);
}

int egress_commit(struct agent *a, const struct sl_policy *pol)
{
	struct agent_egress *eg = a->eg;
	struct map_snap *scg, *s4, *s6;
	struct src_keys sk = {};
	size_t nids = 0, maxids = pol->negs + 1;
	uint64_t *ids;
	int err;

	if (!eg->prepared)
		return -EINVAL;
	eg_snap_drop(eg);
	eg->snap = calloc(1, sizeof(*eg->snap));
	for (size_t i = 0; i < pol->negs; i++) {
		const struct eg_cgroup *cg = entry_cg(a, &pol->egs[i]);

		maxids += cg ? cg->nrem : 0;
	}
	maxids += eg->nrecords;
	ids = calloc(maxids, sizeof(*ids));
	err = ids && eg->snap ? src_keys_build(pol, &sk) : -ENOMEM;
	if (!err) {
		scg = &eg->snap->cg;
		s4 = &eg->snap->s4;
		s6 = &eg->snap->s6;
		err = snap_take(scg, eg->cg_fd, sizeof(__u64), sizeof(struct sl_eg_val));
	}
	if (!err)
		err = snap_take(s4, eg->src4_fd, sizeof(struct sl_eg_src4),
				sizeof(struct sl_eg_val));
	if (!err)
		err = snap_take(s6, eg->src6_fd, sizeof(struct sl_eg_src6),
				sizeof(struct sl_eg_val));
	if (err) {
		eg_snap_drop(eg);
		src_keys_free(&sk);
		free(ids);
		pr_err("egress: out of memory");
		return err;
	}
	/*
	 * every managed cgroup that exists (and each removed one the kernel keeps
	 * for its sockets, cgwatch.c), every backstop source: the new slot
	 */
	for (size_t i = 0; i < pol->negs && !err; i++) {
		const struct eg_cgroup *cg = entry_cg(a, &pol->egs[i]);
		uint64_t id = entry_cg_id(a, &pol->egs[i]);
		struct sl_eg_val v = eg_val(eg->new_slots, eg->new_bases, eg->new_ids, pol, i);

		if (id)
			err = eg_cg_put(a, pol, i, id, &v, ids, &nids);
		for (size_t r = 0; cg && r < cg->nrem && !err; r++)
			err = eg_cg_put(a, pol, i, cg->rem[r].id, &v, ids, &nids);
	}
	/*
	 * a start: the removed cgroups a previous agent left, by their records
	 * (cgwatch.c), after every cgroup that exists: a record's cgroup that
	 * exists under another entry's path (renamed meanwhile) is that entry's
	 */
	for (size_t i = 0; i < pol->negs && !err; i++) {
		uint64_t id = entry_cg_id(a, &pol->egs[i]), rid;
		struct sl_eg_val v = eg_val(eg->new_slots, eg->new_bases, eg->new_ids, pol, i);
		size_t k = 0;

		while (!err && (rid = cgw_adopted_removed(a, pol->egs[i].cgroup, id, &k)))
			if (!id_in(ids, nids, rid))
				err = eg_cg_put(a, pol, i, rid, &v, ids, &nids);
	}
	for (size_t i = 0; i < sk.n4 && !err; i++) {
		struct sl_eg_val v = eg_val(eg->new_slots, eg->new_bases, eg->new_ids, pol,
					    sk.e4[i]);

		if (bpf_map_update_elem(eg->src4_fd, &sk.k4[i], &v, BPF_ANY)) {
			err = -errno;
			pr_err("egress: cannot write %s: %s", SLUICE_MAP_EG_SRC4, strerror(errno));
		}
	}
	for (size_t i = 0; i < sk.n6 && !err; i++) {
		struct sl_eg_val v = eg_val(eg->new_slots, eg->new_bases, eg->new_ids, pol,
					    sk.e6[i]);

		if (bpf_map_update_elem(eg->src6_fd, &sk.k6[i], &v, BPF_ANY)) {
			err = -errno;
			pr_err("egress: cannot write %s: %s", SLUICE_MAP_EG_SRC6, strerror(errno));
		}
	}
	/* what the policy no longer names */
	if (!err)
		err = keep_only(scg, (unsigned char *)ids, nids);
	if (!err)
		err = keep_only(s4, (unsigned char *)sk.k4, sk.n4);
	if (!err)
		err = keep_only(s6, (unsigned char *)sk.k6, sk.n6);
	if (err) {
		eg_snap_restore(eg);
		eg_snap_drop(eg);
	}
	src_keys_free(&sk);
	free(ids);
	return err;
}

void egress_applied(struct agent *a)
{
	struct agent_egress *eg = a->eg;

	if (!eg->prepared)
		return;
	/* the ids only the policy left behind owned are free again */
	cnt_ids_commit(&eg->cnt, eg->new_ids, eg->new_nids);
	free(eg->slots);
	free(eg->bases);
	free(eg->ids);
	free(eg->fresh);
	eg->slots = eg->new_slots;
	eg->bases = eg->new_bases;
	eg->ids = eg->new_ids;
	eg->n = eg->new_n;
	eg->new_slots = eg->new_bases = eg->new_ids = eg->fresh = NULL;
	eg->new_n = eg->new_nids = eg->nfresh = 0;
	eg->prepared = false;
	eg_snap_drop(eg);
	cgw_sync_policy(a);
	egress_backstop_sync(a);
}

static bool map_refers(int fd, size_t ksize, uint32_t slot)
{
	unsigned char k[32], next[32];
	struct sl_eg_val v;
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(k, next, ksize);
		prev = k;
		if (!bpf_map_lookup_elem(fd, k, &v) && v.slot == slot)
			return true;
	}
	return false;
}

bool egress_holds_slot(struct agent *a, uint32_t slot)
{
	struct agent_egress *eg = a->eg;

	if (!eg)
		return false;
	for (size_t i = 0; i < eg->n; i++)
		if (eg->slots[i] == slot)
			return true;
	for (size_t i = 0; eg->prepared && i < eg->new_n; i++)
		if (eg->new_slots[i] == slot)
			return true;
	/* a previous agent's policy, before this one applied its own */
	return map_refers(eg->cg_fd, sizeof(__u64), slot) ||
	       map_refers(eg->src4_fd, sizeof(struct sl_eg_src4), slot) ||
	       map_refers(eg->src6_fd, sizeof(struct sl_eg_src6), slot);
}

/* ---- teardown, exit ---- */

int egress_detach_all(struct agent *a, struct json_object *names)
{
	int err, err2;

	if (!a->eg)
		return 0;
	err = cgw_detach_all(a, names);
	err2 = etc_detach_all(a, names);
	return err ? err : err2;
}

void egress_audit(struct agent *a)
{
	if (a->eg)
		cgw_audit(a);
}

void egress_release(struct agent *a)
{
	if (!a->eg)
		return;
	cgw_release(a);
	etc_release(a);
}

/* ---- answers ---- */

/*
 * CG's removed cgroups the kernel keeps for the sockets made in them, still
 * judged by the entry: [{"cgroup_id", "hooks": how many are attached}].
 */
static struct json_object *removed_json(const struct eg_cgroup *cg)
{
	struct json_object *arr = json_object_new_array();

	for (size_t r = 0; cg && r < cg->nrem; r++) {
		struct json_object *ro = json_object_new_object();
		int n = 0;

		for (int h = 0; h < EGH_MAX; h++)
			n += cg->rem[r].links[h] >= 0;
		json_object_object_add(ro, "cgroup_id", json_object_new_uint64(cg->rem[r].id));
		json_object_object_add(ro, "hooks", json_object_new_int(n));
		json_object_array_add(arr, ro);
	}
	return arr;
}

static struct json_object *entry_status(struct agent *a, size_t i)
{
	const struct sl_egress *e = &a->pol.egs[i];
	const struct eg_cgroup *cg = i < a->eg->ncgs ? &a->eg->cgs[i] : NULL;
	struct json_object *o = json_object_new_object(), *hooks = json_object_new_array();

	json_object_object_add(o, "name", json_object_new_string(e->name));
	json_object_object_add(o, "cgroup", json_object_new_string(e->cgroup));
	json_object_object_add(o, "cgroup_id", cg && cg->id ? json_object_new_uint64(cg->id) :
			       NULL);
	json_object_object_add(o, "state", json_object_new_string(
				       !cg || !cg->id ? "waiting" :
				       cgw_attached(a, i) ? "attached" : "partial"));
	for (int h = 0; cg && h < EGH_MAX; h++) {
		struct bpf_link_info info = {};
		__u32 len = sizeof(info);
		struct json_object *ho;

		if (cg->links[h] < 0)
			continue;
		ho = json_object_new_object();
		bpf_obj_get_info_by_fd(cg->links[h], &info, &len);
		json_object_object_add(ho, "hook", json_object_new_string(eg_hook_names[h]));
		json_object_object_add(ho, "link_id", json_object_new_int64(info.id));
		json_object_object_add(ho, "prog_id", json_object_new_int64(info.prog_id));
		json_object_array_add(hooks, ho);
	}
	json_object_object_add(o, "hooks", hooks);
	json_object_object_add(o, "removed", removed_json(cg));
	json_object_object_add(o, "default", json_object_new_string(
				       sl_action_name(e->fw.default_action)));
	json_object_object_add(o, "slot", i < a->eg->n ? json_object_new_int64(a->eg->slots[i]) :
			       NULL);
	json_object_object_add(o, "backstop", sl_json_backstop(e));
	return o;
}

struct json_object *egress_status(struct agent *a)
{
	struct json_object *arr = json_object_new_array();

	for (size_t i = 0; a->eg && a->have_policy && i < a->pol.negs; i++) {
		struct json_object *e = entry_status(a, i);

		json_object_object_add(e, "rules", json_object_new_int64(a->pol.egs[i].fw.nrules));
		json_object_array_add(arr, e);
	}
	return arr;
}

static long map_count(int fd, size_t ksize)
{
	unsigned char k[32], next[32];
	void *prev = NULL;
	long n = 0;

	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(k, next, ksize);
		prev = k;
		n++;
	}
	return n;
}

void egress_status_maps(struct agent *a, struct json_object *arr)
{
	struct bpf_map *map;
	size_t counters = 0;

	if (!a->eg)
		return;
	for (size_t i = 0; a->have_policy && i < a->pol.negs; i++)
		counters += a->pol.egs[i].fw.nrules + 1;
	bpf_object__for_each_map(map, a->eg->skel->obj) {
		const char *name = bpf_map__name(map);
		struct json_object *o;
		long used = -1;

		/* the others are the XDP object's, listed already */
		if (bpf_map__is_internal(map) || strncmp(name, "eg_", 3))
			continue;
		if (!strcmp(name, SLUICE_MAP_EG_CG))
			used = map_count(bpf_map__fd(map), sizeof(__u64));
		else if (!strcmp(name, SLUICE_MAP_EG_SRC4))
			used = map_count(bpf_map__fd(map), sizeof(struct sl_eg_src4));
		else if (!strcmp(name, SLUICE_MAP_EG_SRC6))
			used = map_count(bpf_map__fd(map), sizeof(struct sl_eg_src6));
		else if (!strcmp(name, SLUICE_MAP_EG_CNT))
			used = (long)counters;
		o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(name));
		if (used >= 0)
			json_object_object_add(o, "used", json_object_new_int64(used));
		json_object_object_add(o, "capacity",
				       json_object_new_int64(bpf_map__max_entries(map)));
		json_object_array_add(arr, o);
	}
}

void egress_status_ifaces(struct agent *a, struct json_object *arr)
{
	if (a->eg)
		etc_status(a, arr);
}

int egress_cmd_list(struct agent *a, struct json_object *req, struct json_object **data,
		    char *err, size_t errlen)
{
	struct sl_counter *cnt;
	struct json_object *arr, *d;
	int ret;

	(void)req;
	if (!a->have_policy) {
		snprintf(err, errlen, "this agent has no valid policy of its own (see its log); "
			 "generation %llu stays in force", (unsigned long long)a->generation);
		return -ENOENT;
	}
	cnt = calloc(SLUICE_EG_CNT_IDS, sizeof(*cnt));
	if (!cnt) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ret = sl_counters_read(a->eg->cnt_fd, SLUICE_EG_CNT_IDS, cnt);
	if (ret) {
		free(cnt);
		snprintf(err, errlen, "cannot read the egress counters (%s): %s",
			 SLUICE_MAP_EG_CNT, strerror(-ret));
		return ret;
	}
	arr = json_object_new_array();
	for (size_t i = 0; i < a->pol.negs; i++) {
		const struct sl_egress *e = &a->pol.egs[i];
		struct json_object *o = entry_status(a, i), *rules = json_object_new_array();
		const uint32_t *ids = i < a->eg->n ? a->eg->ids + a->eg->bases[i] : NULL;
		struct json_object *def = json_object_new_object();
		const struct sl_counter none = {}, *c;

		for (size_t r = 0; r < e->fw.nrules; r++) {
			struct json_object *ro = sl_json_egress_rule(&e->fw.rules[r], r);

			c = ids ? &cnt[ids[r] % SLUICE_EG_CNT_IDS] : &none;

			json_object_object_add(ro, "packets", json_object_new_uint64(c->packets));
			json_object_object_add(ro, "bytes", json_object_new_uint64(c->bytes));
			json_object_array_add(rules, ro);
		}
		json_object_object_add(o, "rules", rules);
		json_object_object_add(def, "action", json_object_new_string(
					       sl_action_name(e->fw.default_action)));
		c = ids ? &cnt[ids[e->fw.nrules] % SLUICE_EG_CNT_IDS] : &none;
		json_object_object_add(def, "packets", json_object_new_uint64(c->packets));
		json_object_object_add(def, "bytes", json_object_new_uint64(c->bytes));
		json_object_object_add(o, "default", def);
		json_object_array_add(arr, o);
	}
	free(cnt);
	d = json_object_new_object();
	json_object_object_add(d, "egress", arr);
	json_object_object_add(d, "hooks", egress_stats(a));
	*data = d;
	return 0;
}

struct json_object *egress_stats(struct agent *a)
{
	struct sl_counter c[SLUICE_EG_HOOK_MAX * 2];
	struct json_object *o = json_object_new_object();

	if (!a->eg || sl_counters_read(a->eg->stats_fd, SLUICE_EG_HOOK_MAX * 2, c))
		return o;
	for (int h = 0; h < SLUICE_EG_HOOK_MAX; h++) {
		struct json_object *ho = json_object_new_object();

		json_object_object_add(ho, "allowed", json_object_new_uint64(c[2 * h].packets));
		json_object_object_add(ho, "denied", json_object_new_uint64(c[2 * h + 1].packets));
		json_object_object_add(o, sl_eg_hook_names[h], ho);
	}
	return o;
}

void egress_event_json(struct agent *a, const struct sl_event *e, struct json_object *o)
{
	const struct sl_egress *eg = NULL;
	const char *cgpath = NULL, *name, *rule = NULL;

	if (a->have_policy && e->egress && e->egress <= a->pol.negs)
		eg = &a->pol.egs[e->egress - 1];
	/*
	 * An event naming a rule carries the generation of the slot that judged
	 * it: the entry and rule of that generation, even after a reload
	 * (rules.c); one without (a slot gone under the call) is of the policy
	 * in force.
	 */
	if (e->gen) {
		name = rules_eg_entry(a, e->gen, e->egress - 1);
		rule = rules_eg_name(a, e->gen, e->egress - 1, e->rule);
	} else {
		name = eg ? eg->name : NULL;
	}
	for (size_t i = 0; e->cgroup && a->eg && i < a->eg->ncgs; i++)
		if (a->eg->cgs[i].id == e->cgroup)
			cgpath = a->eg->cgs[i].path;
	json_object_object_add(o, "egress", name ? json_object_new_string(name) : NULL);
	json_object_object_add(o, "hook", json_object_new_string(
				       e->hook < SLUICE_EG_HOOK_MAX ? sl_eg_hook_names[e->hook] :
				       "unknown"));
	json_object_object_add(o, "cgroup_id", e->cgroup ? json_object_new_uint64(e->cgroup) :
			       NULL);
	/* a descendant of the managed cgroup has no path of its own here */
	json_object_object_add(o, "cgroup", cgpath ? json_object_new_string(cgpath) :
			       eg && e->cgroup ? json_object_new_string(eg->cgroup) : NULL);
	json_object_object_add(o, "cgroup_exact", json_object_new_boolean(cgpath != NULL));
	if (e->rule == SLUICE_RULE_DEFAULT) {
		json_object_object_add(o, "rule_index", NULL);
		json_object_object_add(o, "rule", json_object_new_string("default"));
	} else if (e->rule != SLUICE_EV_NO_RULE) {
		json_object_object_add(o, "rule_index", json_object_new_int64(e->rule));
		json_object_object_add(o, "rule", rule ? json_object_new_string(rule) : NULL);
	}
}
