// SPDX-License-Identifier: GPL-2.0-only
/* The policy model as JSON (policy_json.h). */
#include <stdio.h>
#include <string.h>

#include "fnv.h"
#include "lb_policy.h"
#include "policy_edit.h"
#include "policy_json.h"

struct json_object *sl_json_addrs(const struct sl_addr_item *v, size_t n)
{
	struct json_object *arr = json_object_new_array();
	char buf[80];

	for (size_t i = 0; i < n; i++) {
		if (v[i].is_set)
			snprintf(buf, sizeof(buf), "@%s", v[i].set_name);
		else
			sl_prefix_format(&v[i].pfx, buf, sizeof(buf));
		json_object_array_add(arr, json_object_new_string(buf));
	}
	return arr;
}

struct json_object *sl_json_ports(const struct sl_port_range *v, size_t n)
{
	struct json_object *arr = json_object_new_array();
	char buf[16];

	for (size_t i = 0; i < n; i++) {
		if (v[i].lo == v[i].hi)
			snprintf(buf, sizeof(buf), "%u", v[i].lo);
		else
			snprintf(buf, sizeof(buf), "%u-%u", v[i].lo, v[i].hi);
		json_object_array_add(arr, json_object_new_string(buf));
	}
	return arr;
}

struct json_object *sl_json_protos(uint32_t protos)
{
	static const struct { uint32_t bit; const char *name; } names[] = {
		{ SL_PROTO_TCP, "tcp" }, { SL_PROTO_UDP, "udp" },
		{ SL_PROTO_ICMP, "icmp" }, { SL_PROTO_ICMPV6, "icmpv6" },
	};
	struct json_object *arr = json_object_new_array();

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (protos & names[i].bit)
			json_object_array_add(arr, json_object_new_string(names[i].name));
	return arr;
}

struct json_object *sl_json_origin(const struct sl_loc *loc, bool cli)
{
	char buf[4200];

	if (cli)
		return json_object_new_string("cli");
	if (!loc->file)
		return NULL;
	if (loc->line > 0)
		snprintf(buf, sizeof(buf), "%s:%d", loc->file, loc->line);
	else
		snprintf(buf, sizeof(buf), "%s", loc->file);
	return json_object_new_string(buf);
}

struct json_object *sl_json_rule(const struct sl_rule *r)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(r->name ? r->name : ""));
	json_object_object_add(o, "action", json_object_new_string(sl_action_name(r->action)));
	json_object_object_add(o, "src", sl_json_addrs(r->src, r->nsrc));
	json_object_object_add(o, "dst", sl_json_addrs(r->dst, r->ndst));
	json_object_object_add(o, "proto", sl_json_protos(r->protos));
	json_object_object_add(o, "sport", sl_json_ports(r->sport, r->nsport));
	json_object_object_add(o, "dport", sl_json_ports(r->dport, r->ndport));
	json_object_object_add(o, "early", json_object_new_boolean(r->early));
	return o;
}

uint64_t sl_rule_key(const struct sl_rule *r)
{
	struct json_object *o = sl_json_rule(r);
	const char *txt;
	uint64_t h;

	/* a rule that is not early keeps the key it had before `early` existed */
	if (!r->early)
		json_object_object_del(o, "early");
	txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	h = txt ? sl_fnv1a(SL_FNV_INIT, txt, strlen(txt)) : SL_FNV_INIT;

	json_object_put(o);
	return h ? h : 1;
}

static struct json_object *prefixes(const struct sl_prefix *v, size_t n)
{
	struct json_object *arr = json_object_new_array_ext((int)n);
	char buf[80];

	for (size_t i = 0; i < n; i++) {
		sl_prefix_format(&v[i], buf, sizeof(buf));
		json_object_array_add(arr, json_object_new_string(buf));
	}
	return arr;
}

#define CT_TO_NAME(id, name, dflt) name,
static const char *const ct_timeout_names[SLUICE_CT_TO_MAX] = {
	SLUICE_CT_TIMEOUTS(CT_TO_NAME)
};
#undef CT_TO_NAME

static struct json_object *json_section(const struct sl_firewall *fw)
{
	struct json_object *o = json_object_new_object(), *rules = json_object_new_array();
	struct json_object *ifs = json_object_new_array();

	json_object_object_add(o, "name", json_object_new_string(fw->name ? fw->name : ""));
	for (size_t i = 0; i < fw->nifaces; i++)
		json_object_array_add(ifs, json_object_new_string(fw->ifaces[i]));
	json_object_object_add(o, "interfaces", ifs);
	json_object_object_add(o, "default", json_object_new_string(
				       sl_action_name(fw->default_action)));
	json_object_object_add(o, "stateful", json_object_new_boolean(fw->stateful));
	json_object_object_add(o, "hook", json_object_new_string(sl_fw_hook_name(fw->hook)));
	for (size_t i = 0; i < fw->nrules; i++) {
		const struct sl_rule *r = &fw->rules[i];
		struct json_object *j = sl_json_rule(r);

		json_object_object_add(j, "index", json_object_new_int64((int64_t)i));
		json_object_object_add(j, "section",
				       json_object_new_string(fw->name ? fw->name : ""));
		json_object_object_add(j, "origin", sl_json_origin(&r->loc,
								   sl_rule_from_edits(r)));
		json_object_array_add(rules, j);
	}
	json_object_object_add(o, "rules", rules);
	return o;
}

struct json_object *sl_json_egress_rule(const struct sl_rule *r, size_t index)
{
	struct json_object *o = sl_json_rule(r);

	/* what a socket sends from is its own: never matched */
	json_object_object_del(o, "src");
	json_object_object_del(o, "sport");
	json_object_object_add(o, "index", json_object_new_int64((int64_t)index));
	json_object_object_add(o, "origin", sl_json_origin(&r->loc, false));
	return o;
}

struct json_object *sl_json_backstop(const struct sl_egress *e)
{
	struct json_object *bs, *ifs;

	if (!e->bs_loc.file)
		return NULL;
	bs = json_object_new_object();
	ifs = json_object_new_array();
	for (size_t k = 0; k < e->nbs_ifaces; k++)
		json_object_array_add(ifs, json_object_new_string(e->bs_ifaces[k]));
	json_object_object_add(bs, "interfaces", ifs);
	json_object_object_add(bs, "src", sl_json_addrs(e->bs_src, e->nbs_src));
	return bs;
}

struct json_object *sl_json_egress(const struct sl_egress *e)
{
	struct json_object *o = json_object_new_object(), *rules = json_object_new_array();

	json_object_object_add(o, "name", json_object_new_string(e->name ? e->name : ""));
	json_object_object_add(o, "cgroup", json_object_new_string(e->cgroup ? e->cgroup : ""));
	json_object_object_add(o, "default", json_object_new_string(
				       sl_action_name(e->fw.default_action)));
	json_object_object_add(o, "backstop", sl_json_backstop(e));
	json_object_object_add(o, "origin", sl_json_origin(&e->loc, false));
	for (size_t i = 0; i < e->fw.nrules; i++)
		json_object_array_add(rules, sl_json_egress_rule(&e->fw.rules[i], i));
	json_object_object_add(o, "rules", rules);
	return o;
}

struct json_object *sl_json_lb_health(const struct sl_lb_health *h)
{
	struct json_object *o;

	if (h->type == SL_HC_NONE)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string(h->type == SL_HC_HTTP ?
								 "http" : "tcp"));
	json_object_object_add(o, "interval", json_object_new_double(h->interval_ms / 1000.0));
	json_object_object_add(o, "timeout", json_object_new_double(h->timeout_ms / 1000.0));
	json_object_object_add(o, "rise", json_object_new_int64(h->rise));
	json_object_object_add(o, "fall", json_object_new_int64(h->fall));
	if (h->type == SL_HC_HTTP) {
		json_object_object_add(o, "path", json_object_new_string(h->path ? h->path : "/"));
		json_object_object_add(o, "expect", json_object_new_int64(h->expect));
	}
	return o;
}

struct json_object *sl_json_lb_service(const struct sl_lb_service *s)
{
	struct json_object *o = json_object_new_object(), *bes = json_object_new_array();
	char buf[80];

	json_object_object_add(o, "name", json_object_new_string(s->name ? s->name : ""));
	lb_endpoint_format(s->family, s->vip, 0, buf, sizeof(buf));
	json_object_object_add(o, "vip", json_object_new_string(buf));
	json_object_object_add(o, "port", json_object_new_int(s->port));
	json_object_object_add(o, "proto", json_object_new_string(lb_proto_name(s->proto)));
	json_object_object_add(o, "mode", json_object_new_string(lb_mode_name(s->mode)));
	json_object_object_add(o, "table_size", json_object_new_int64(s->table_size));
	/* written only with dsr; null: the default prefix of the family */
	if (s->encap.family)
		sl_prefix_format(&s->encap, buf, sizeof(buf));
	json_object_object_add(o, "encap_source", s->encap.family ?
			       json_object_new_string(buf) : NULL);
	json_object_object_add(o, "health", sl_json_lb_health(&s->health));
	for (size_t i = 0; i < s->nbackends; i++) {
		const struct sl_lb_backend *b = &s->backends[i];
		struct json_object *j = json_object_new_object();

		lb_endpoint_format(s->family, b->addr, 0, buf, sizeof(buf));
		json_object_object_add(j, "addr", json_object_new_string(buf));
		json_object_object_add(j, "port", json_object_new_int(b->port));
		json_object_object_add(j, "weight", json_object_new_int64(b->weight));
		json_object_object_add(j, "drain", !b->drain ? NULL :
				       json_object_new_string(b->drain_cli ? "cli" : "policy"));
		json_object_array_add(bes, j);
	}
	json_object_object_add(o, "backends", bes);
	json_object_object_add(o, "origin", sl_json_origin(&s->loc, false));
	return o;
}

static struct json_object *json_decap(const struct sl_decap *d)
{
	struct json_object *o, *ifs, *vips;
	char buf[80];

	if (!d->present)
		return NULL;
	o = json_object_new_object();
	ifs = json_object_new_array();
	for (size_t i = 0; i < d->nifaces; i++)
		json_object_array_add(ifs, json_object_new_string(d->ifaces[i]));
	vips = json_object_new_array();
	for (size_t i = 0; i < d->nvips; i++) {
		sl_prefix_format(&d->vips[i], buf, sizeof(buf));
		json_object_array_add(vips, json_object_new_string(buf));
	}
	json_object_object_add(o, "interfaces", ifs);
	json_object_object_add(o, "vips", vips);
	return o;
}

struct json_object *sl_json_policy(const struct sl_policy *pol, bool with_prefixes)
{
	struct json_object *o = json_object_new_object(), *secs, *sets, *ct, *to;
	struct json_object *files = json_object_new_array();
	const struct sl_set *block = NULL;
	bool has_block = false;

	for (size_t i = 0; i < pol->nfiles; i++)
		json_object_array_add(files, json_object_new_string(pol->files[i]));
	json_object_object_add(o, "files", files);

	secs = json_object_new_array();
	for (size_t s = 0; s < pol->nfws; s++) {
		json_object_array_add(secs, json_section(&pol->fws[s]));
		has_block |= sl_fw_has_block(&pol->fws[s]);
	}
	json_object_object_add(o, "sections", secs);

	sets = json_object_new_array();
	for (size_t i = 0; i < pol->nsets; i++) {
		const struct sl_set *s = &pol->sets[i];
		struct json_object *j;

		if (!strcmp(s->name, SL_BLOCK_NAME) && has_block) {
			block = s;
			continue;
		}
		j = json_object_new_object();
		json_object_object_add(j, "name", json_object_new_string(s->name));
		json_object_object_add(j, "count", json_object_new_uint64(s->n));
		json_object_object_add(j, "origin", sl_json_origin(&s->loc, false));
		if (with_prefixes)
			json_object_object_add(j, "prefixes", prefixes(s->v, s->n));
		json_object_array_add(sets, j);
	}
	json_object_object_add(o, "sets", sets);
	json_object_object_add(o, "blocklist", block ? prefixes(block->v, block->n) :
				json_object_new_array());

	ct = json_object_new_object();
	json_object_object_add(ct, "max-entries", json_object_new_uint64(pol->ct.max_entries));
	to = json_object_new_object();
	for (int i = 0; i < SLUICE_CT_TO_MAX; i++)
		json_object_object_add(to, ct_timeout_names[i],
				       json_object_new_uint64(pol->ct.timeout[i]));
	json_object_object_add(ct, "timeouts", to);
	json_object_object_add(ct, "syn-cookies", json_object_new_string(
		pol->ct.syncookies == SLUICE_CK_OFF ? "off" :
		pol->ct.syncookies == SLUICE_CK_ALWAYS ? "always" : "auto"));
	to = json_object_new_array();
	for (uint32_t i = 0; i < pol->ct.nsyncookie_ports; i++) {
		const struct sl_port_range *r = &pol->ct.syncookie_ports[i];
		char buf[16];

		if (r->lo == r->hi)
			snprintf(buf, sizeof(buf), "%u", r->lo);
		else
			snprintf(buf, sizeof(buf), "%u-%u", r->lo, r->hi);
		json_object_array_add(to, json_object_new_string(buf));
	}
	json_object_object_add(ct, "syn-cookie-ports", to);
	json_object_object_add(o, "conntrack", ct);
	secs = json_object_new_array();
	for (size_t i = 0; i < pol->negs; i++)
		json_object_array_add(secs, sl_json_egress(&pol->egs[i]));
	json_object_object_add(o, "egress", secs);
	secs = json_object_new_array();
	for (size_t i = 0; i < pol->nlbs; i++)
		json_object_array_add(secs, sl_json_lb_service(&pol->lbs[i]));
	json_object_object_add(o, "loadbalancers", secs);
	json_object_object_add(o, "decap", json_decap(&pol->decap));
	return o;
}
