// SPDX-License-Identifier: GPL-2.0-only
/*
 * The load balancer in the agent (lb.h). The maps are the loaded object's,
 * pinned with the others; lib/lb_maps.c does the writing. What is kept
 * here is the glue: the policy's services applied in step with the
 * firewall, the interfaces, and the views (lb list, stats, metrics).
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sluice_xdp.skel.h"

#include "abi_names.h"
#include "agent.h"
#include "health.h"
#include "lb.h"
#include "lb_maps.h"
#include "lb_policy.h"
#include "log.h"
#include "policy_json.h"
#include "sync.h"

int lb_open(struct agent *a)
{
	struct lb_fds fds;
	int err;

	if (lb_fds_from_obj(a->xdp->obj, &fds)) {
		pr_err("the BPF object sluice_xdp lacks a load balancer map of bpf/sluice_abi.h");
		return -ENOENT;
	}
	a->lb = calloc(1, sizeof(*a->lb));
	if (!a->lb)
		return -ENOMEM;
	err = lb_state_init(a->lb, &fds);
	if (err) {
		pr_err("cannot read the load balancer's pinned state: %s", strerror(-err));
		lb_close(a);
		return err;
	}
	if (a->lb->ncur)
		pr_info("load balancer: %zu services in force (pinned)", a->lb->ncur);
	return 0;
}

static void idle_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

void lb_close(struct agent *a)
{
	idle_free(a->lb_idle, a->nlb_idle);
	a->lb_idle = NULL;
	a->nlb_idle = 0;
	if (!a->lb)
		return;
	lb_state_free(a->lb);
	free(a->lb);
	a->lb = NULL;
}

int lb_sync_prepare(struct agent *a, const struct sl_policy *pol, uint64_t gen)
{
	struct sl_diags d = {};
	int err = lb_prepare(a->lb, pol, gen, &d);

	if (err) {
		log_diags(LL_ERROR, &d);
		pr_err("%s: the load balancer cannot be built (%s): not applied", a->policy_dir,
		       strerror(-err));
	}
	sl_diags_free(&d);
	return err;
}

int lb_sync_commit(struct agent *a)
{
	int err = lb_commit(a->lb);

	if (err)
		pr_err("cannot switch the load balancer's services: %s", strerror(-err));
	return err;
}

void lb_sync_abort(struct agent *a)
{
	lb_abort(a->lb);
}

void lb_sync_gc(struct agent *a)
{
	lb_gc(a->lb);
}

int lb_resync(struct agent *a, const char *why)
{
	int err;

	if (!a->have_policy)
		return 0;
	err = lb_sync_prepare(a, &a->pol, a->generation);
	if (!err)
		err = lb_sync_commit(a);
	if (err) {
		lb_sync_abort(a);
		pr_err("load balancer: not updated after %s", why);
		return err;
	}
	clock_gettime(CLOCK_MONOTONIC, &a->last_switch);
	sync_grace(a);
	lb_sync_gc(a);
	pr_debug("load balancer: tables updated (%s)", why);
	lb_check_backends(a);
	return 0;
}

/* A backend's state for lb list, the metrics and lb_check_backends: down first. */
static const char *be_state(const struct sl_lb_backend *b, const struct health_info *h)
{
	if (h->down)
		return "down";
	return b->drain ? "draining" : "active";
}

static bool name_in(char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return true;
	return false;
}

void lb_check_backends(struct agent *a)
{
	char **idle = NULL;
	size_t n = 0;

	for (size_t i = 0; a->have_policy && i < a->pol.nlbs; i++) {
		const struct sl_lb_service *s = &a->pol.lbs[i];
		size_t drained = 0, down = 0;
		struct lb_svc_key key;
		char **more;

		lb_svc_key_of(s, &key);
		for (size_t b = 0; b < s->nbackends; b++) {
			struct health_info h;
			const char *st;

			health_info(a, &key, s->backends[b].addr, s->backends[b].port, &h);
			st = be_state(&s->backends[b], &h);
			down += !strcmp(st, "down");
			drained += !strcmp(st, "draining");
		}
		if (drained + down < s->nbackends)
			continue;
		if (!name_in(a->lb_idle, a->nlb_idle, s->name))
			pr_warn("load balancer %s: no backend takes new flows (%zu drained, %zu "
				"down): its new flows are dropped (lb-no-backend)", s->name,
				drained, down);
		/* out of memory: said again at the next check, nothing worse */
		more = realloc(idle, (n + 1) * sizeof(*idle));
		if (!more)
			continue;
		idle = more;
		idle[n] = strdup(s->name);
		if (idle[n])
			n++;
	}
	for (size_t i = 0; i < a->nlb_idle; i++) {
		if (name_in(idle, n, a->lb_idle[i]))
			continue;
		for (size_t k = 0; a->have_policy && k < a->pol.nlbs; k++)
			if (!strcmp(a->pol.lbs[k].name, a->lb_idle[i]))
				pr_info("load balancer %s: a backend takes new flows again",
					a->lb_idle[i]);
	}
	idle_free(a->lb_idle, a->nlb_idle);
	a->lb_idle = idle;
	a->nlb_idle = n;
}

/* ---- interfaces ---- */

bool lb_decap_wants(const struct sl_policy *pol, const char *name, bool loopback)
{
	for (size_t i = 0; i < pol->decap.nifaces; i++) {
		const char *p = pol->decap.ifaces[i];

		if (!strcmp(p, name))
			return true;
		if (!loopback && strpbrk(p, SL_GLOB_CHARS) && !fnmatch(p, name, 0))
			return true;
	}
	return false;
}

void lb_iface_added(struct agent *a, const struct iface *it)
{
	bool decap = a->have_policy && lb_decap_wants(&a->pol, it->name, it->loopback);

	if (!a->lb)
		return;
	if (lb_devmap_set(a->lb, it->ifindex, true))
		pr_warn("%s: cannot add it to %s: the load balancer hands its packets to the "
			"stack", it->name, SLUICE_MAP_LB_DEVMAP);
	if (lb_decap_if_set(a->lb, it->ifindex, decap))
		pr_warn("%s: cannot write %s", it->name, SLUICE_MAP_LB_DECAP_IF);
}

void lb_iface_gone(struct agent *a, const struct iface *it)
{
	if (!a->lb)
		return;
	lb_devmap_set(a->lb, it->ifindex, false);
	lb_decap_if_set(a->lb, it->ifindex, false);
}

/* Delete the keys of the ifindex hash FD that are not attached interfaces. */
static void ifmap_prune(struct agent *a, int fd)
{
	__u32 k, next, gone[SLUICE_LB_DEVMAP_MAX];
	size_t n = 0;

	for (int r = bpf_map_get_next_key(fd, NULL, &next); !r && n < SLUICE_LB_DEVMAP_MAX;
	     r = bpf_map_get_next_key(fd, &k, &next)) {
		bool attached = false;

		k = next;
		for (size_t i = 0; i < a->nifaces && !attached; i++)
			attached = (__u32)a->ifaces[i].ifindex == k;
		if (!attached)
			gone[n++] = k;
	}
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(fd, &gone[i]);
}

void lb_ifaces_sync(struct agent *a)
{
	if (!a->lb)
		return;
	for (size_t i = 0; i < a->nifaces; i++)
		lb_iface_added(a, &a->ifaces[i]);
	ifmap_prune(a, a->lb->fds.devmap);
	ifmap_prune(a, a->lb->fds.decap_if);
}

/* ---- views ---- */

static struct json_object *backend_json(struct agent *a, const struct sl_lb_service *s,
					const struct lb_svc_key *key,
					const struct sl_lb_backend *b, const uint32_t *active)
{
	struct json_object *o = json_object_new_object();
	struct lb_be_counter c = {};
	struct health_info h;
	char addr[64];
	int id;

	lb_endpoint_format(s->family, b->addr, 0, addr, sizeof(addr));
	health_info(a, key, b->addr, b->port, &h);
	id = lb_backend_id(a->lb, key, b->addr, b->port);
	if (id >= 0)
		lb_be_counters(a->lb, (uint32_t)id, &c);
	json_object_object_add(o, "addr", json_object_new_string(addr));
	json_object_object_add(o, "port", json_object_new_int(b->port));
	json_object_object_add(o, "weight", json_object_new_int64(b->weight));
	json_object_object_add(o, "state", json_object_new_string(be_state(b, &h)));
	json_object_object_add(o, "drain", !b->drain ? NULL :
			       json_object_new_string(b->drain_cli ? "cli" : "policy"));
	json_object_object_add(o, "new_flows", json_object_new_uint64(c.new_flows));
	json_object_object_add(o, "active_flows", json_object_new_uint64(
				       id >= 0 && active ? active[id] : 0));
	json_object_object_add(o, "packets", json_object_new_uint64(c.packets));
	json_object_object_add(o, "bytes", json_object_new_uint64(c.bytes));
	if (h.checked) {
		struct json_object *ho = json_object_new_object();

		json_object_object_add(ho, "checks", json_object_new_uint64(h.checks));
		json_object_object_add(ho, "failures", json_object_new_uint64(h.failures));
		json_object_object_add(ho, "transitions", json_object_new_uint64(h.transitions));
		json_object_object_add(ho, "last_error", h.last_error ?
				       json_object_new_string(h.last_error) : NULL);
		json_object_object_add(o, "health", ho);
	}
	return o;
}

int lb_cmd_list(struct agent *a, struct json_object *req, struct json_object **data,
		char *err, size_t errlen)
{
	struct json_object *svcs, *d;
	uint32_t *active;
	long walked;

	(void)req;
	if (!a->have_policy) {
		snprintf(err, errlen, "this agent has no valid policy of its own (see its log); "
			 "generation %llu stays in force", (unsigned long long)a->generation);
		return -ENOENT;
	}
	active = calloc(SLUICE_LB_BACKENDS_MAX, sizeof(*active));
	if (!active) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	walked = lb_flows_count(a->lb, active);
	svcs = json_object_new_array();
	for (size_t i = 0; i < a->pol.nlbs; i++) {
		const struct sl_lb_service *s = &a->pol.lbs[i];
		struct json_object *o = json_object_new_object(), *bes = json_object_new_array();
		struct lb_svc_key key;
		char vip[64];

		lb_svc_key_of(s, &key);
		lb_endpoint_format(s->family, s->vip, 0, vip, sizeof(vip));
		json_object_object_add(o, "name", json_object_new_string(s->name));
		json_object_object_add(o, "vip", json_object_new_string(vip));
		json_object_object_add(o, "port", json_object_new_int(s->port));
		json_object_object_add(o, "proto", json_object_new_string(lb_proto_name(s->proto)));
		json_object_object_add(o, "mode", json_object_new_string(lb_mode_name(s->mode)));
		json_object_object_add(o, "table_size", json_object_new_int64(s->table_size));
		json_object_object_add(o, "health", sl_json_lb_health(&s->health));
		for (size_t b = 0; b < s->nbackends; b++)
			json_object_array_add(bes, backend_json(a, s, &key, &s->backends[b],
								walked >= 0 ? active : NULL));
		json_object_object_add(o, "backends", bes);
		json_object_array_add(svcs, o);
	}
	free(active);
	d = json_object_new_object();
	json_object_object_add(d, "generation", json_object_new_uint64(a->generation));
	json_object_object_add(d, "services", svcs);
	*data = d;
	return 0;
}

struct json_object *lb_stats_json(struct agent *a)
{
	uint64_t v[SLUICE_LB_STAT_MAX];
	struct json_object *o;

	if (!a->lb || lb_stats_read(a->lb, v))
		return NULL;
	o = json_object_new_object();
	for (int i = 0; i < SLUICE_LB_STAT_MAX; i++)
		json_object_object_add(o, sl_lb_stat_names[i], json_object_new_uint64(v[i]));
	return o;
}

/*
 * The backend families of /metrics. The text format wants each family as
 * one group, its HELP and TYPE first: the backends are read once into rows,
 * then written family by family.
 */
enum lb_family {
	LB_M_STATE,
	LB_M_NEW_FLOWS,
	LB_M_ACTIVE_FLOWS,
	LB_M_PACKETS,
	LB_M_BYTES,
	LB_M_TRANSITIONS,
	LB_M_FAILURES,
	LB_M_MAX
};

static const struct {
	const char *name, *type, *help;
} lb_families[LB_M_MAX] = {
	[LB_M_STATE] = { "sluice_lb_backend_state", "gauge",
			 "The backend's state (active, draining, down): 1." },
	[LB_M_NEW_FLOWS] = { "sluice_lb_backend_new_flows_total", "counter",
			     "Flows balanced to the backend." },
	[LB_M_ACTIVE_FLOWS] = { "sluice_lb_backend_active_flows", "gauge",
				"Flows in the flow table on the backend." },
	[LB_M_PACKETS] = { "sluice_lb_backend_packets_total", "counter",
			   "Packets sent to the backend." },
	[LB_M_BYTES] = { "sluice_lb_backend_bytes_total", "counter",
			 "Bytes sent to the backend." },
	[LB_M_TRANSITIONS] = { "sluice_lb_health_transitions_total", "counter",
			       "Health state changes of the backend." },
	[LB_M_FAILURES] = { "sluice_lb_health_failures_total", "counter",
			    "Failed health checks of the backend." },
};

/* One backend as /metrics shows it. */
struct lb_metrics_row {
	char lbl[160];			/* service="...",backend="..." */
	const char *state;
	struct lb_be_counter c;
	uint32_t active;
	struct health_info h;
};

static void lb_metrics_sample(FILE *f, enum lb_family m, const struct lb_metrics_row *r)
{
	static const char *const states[] = { "active", "draining", "down" };
	const char *name = lb_families[m].name;
	unsigned long long v;

	switch (m) {
	case LB_M_STATE:
		for (size_t k = 0; k < 3; k++)
			fprintf(f, "%s{%s,state=\"%s\"} %d\n", name, r->lbl, states[k],
				!strcmp(r->state, states[k]));
		return;
	case LB_M_NEW_FLOWS:
		v = r->c.new_flows;
		break;
	case LB_M_ACTIVE_FLOWS:
		v = r->active;
		break;
	case LB_M_PACKETS:
		v = r->c.packets;
		break;
	case LB_M_BYTES:
		v = r->c.bytes;
		break;
	case LB_M_TRANSITIONS:
	case LB_M_FAILURES:
		/* only the services with health checks */
		if (!r->h.checked)
			return;
		v = m == LB_M_TRANSITIONS ? r->h.transitions : r->h.failures;
		break;
	default:
		return;
	}
	fprintf(f, "%s{%s} %llu\n", name, r->lbl, v);
}

char *lb_metrics_text(struct agent *a)
{
	struct lb_metrics_row *rows = NULL;
	uint64_t ev[SLUICE_LB_STAT_MAX];
	uint32_t *active = NULL;
	size_t nrows = 0, n = 0;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (!a->lb || !a->have_policy || !a->pol.nlbs)
		return NULL;
	for (size_t i = 0; i < a->pol.nlbs; i++)
		nrows += a->pol.lbs[i].nbackends;
	f = open_memstream(&buf, &len);
	active = calloc(SLUICE_LB_BACKENDS_MAX, sizeof(*active));
	rows = calloc(nrows ? nrows : 1, sizeof(*rows));
	if (!f || !active || !rows) {
		if (f)
			fclose(f);
		free(buf);
		free(active);
		free(rows);
		return NULL;
	}
	if (lb_flows_count(a->lb, active) < 0)
		memset(active, 0, SLUICE_LB_BACKENDS_MAX * sizeof(*active));
	for (size_t i = 0; i < a->pol.nlbs; i++) {
		const struct sl_lb_service *s = &a->pol.lbs[i];
		struct lb_svc_key key;

		lb_svc_key_of(s, &key);
		for (size_t b = 0; b < s->nbackends && n < nrows; b++, n++) {
			const struct sl_lb_backend *be = &s->backends[b];
			struct lb_metrics_row *r = &rows[n];
			int id = lb_backend_id(a->lb, &key, be->addr, be->port);
			char ep[80];

			health_info(a, &key, be->addr, be->port, &r->h);
			r->state = be_state(be, &r->h);
			if (id >= 0) {
				lb_be_counters(a->lb, (uint32_t)id, &r->c);
				r->active = active[id];
			}
			lb_endpoint_format(s->family, be->addr, be->port, ep, sizeof(ep));
			snprintf(r->lbl, sizeof(r->lbl), "service=\"%s\",backend=\"%s\"",
				 s->name, ep);
		}
	}
	for (int m = 0; m < LB_M_MAX; m++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", lb_families[m].name,
			lb_families[m].help, lb_families[m].name, lb_families[m].type);
		for (size_t i = 0; i < n; i++)
			lb_metrics_sample(f, m, &rows[i]);
	}
	if (!lb_stats_read(a->lb, ev)) {
		fputs("# HELP sluice_lb_events_total What the load balancer did.\n"
		      "# TYPE sluice_lb_events_total counter\n", f);
		for (int i = 0; i < SLUICE_LB_STAT_MAX; i++)
			fprintf(f, "sluice_lb_events_total{event=\"%s\"} %llu\n", sl_lb_stat_names[i],
				(unsigned long long)ev[i]);
	}
	free(active);
	free(rows);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}
