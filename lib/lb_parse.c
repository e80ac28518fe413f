// SPDX-License-Identifier: GPL-2.0-only
/*
 * The `loadbalancers` and `decap` keys of a policy file (docs/policy.md,
 * docs/lb.md), parsed with policy_parse.c's YAML walk so that every error
 * carries FILE:LINE:COL, and the checks that need the whole policy
 * (lb_check: duplicate names and services, the firewall interfaces the
 * load balancer runs on).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "lb_policy.h"
#include "maglev.h"
#include "policy_int.h"
#include "prefix.h"

#define HC_INTERVAL_MS	1000
#define HC_TIMEOUT_MS	500
#define HC_RISE		2
#define HC_FALL		2
#define HC_MS_MIN	10
#define HC_MS_MAX	3600000
#define HC_COUNT_MAX	100
#define HC_PATH_MAX	255

/*
 * Why the address P cannot be a VIP or a backend (no host sends to it, or
 * it never leaves this host), or NULL. An IPv4-mapped one never gets here:
 * sl_prefix_parse refuses it.
 */
static const char *lb_addr_unusable(const struct sl_prefix *p)
{
	static const uint8_t zero[16];
	const uint8_t *a = p->addr;

	if (!memcmp(a, zero, p->family == AF_INET ? 4 : 16))
		return "the unspecified address";
	if (p->family == AF_INET) {
		if (a[0] == 127)
			return "a loopback address";
		if (a[0] >= 224 && a[0] <= 239)
			return "a multicast address";
		if (a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255)
			return "the broadcast address";
		return NULL;
	}
	if (!memcmp(a, zero, 15) && a[15] == 1)
		return "the loopback address";
	if (a[0] == 0xff)
		return "a multicast address";
	return NULL;
}

/*
 * A single address (no prefix length, or /32 /128) into FAMILY and ADDR;
 * one a host can send to (lb_addr_unusable).
 */
static int one_addr(const char *s, uint8_t *family, uint8_t *addr, char *err, size_t errlen)
{
	struct sl_prefix p;
	const char *why;

	if (sl_prefix_parse(s, strlen(s), &p, err, errlen))
		return -EINVAL;
	if (p.len != (p.family == AF_INET ? 32 : 128)) {
		snprintf(err, errlen, "\"%.64s\" is a prefix; an address is expected here", s);
		return -EINVAL;
	}
	why = lb_addr_unusable(&p);
	if (why) {
		snprintf(err, errlen, "\"%.64s\" is %s: a unicast address is expected here", s,
			 why);
		return -EINVAL;
	}
	*family = p.family == AF_INET ? 4 : 6;
	memcpy(addr, p.addr, 16);
	return 0;
}

static int port_of(const char *s, uint16_t *port)
{
	unsigned long v = 0;

	if (!*s || strlen(s) > 5 || strspn(s, "0123456789") != strlen(s))
		return -EINVAL;
	v = strtoul(s, NULL, 10);
	if (v < 1 || v > 65535)
		return -ERANGE;
	*port = (uint16_t)v;
	return 0;
}

int lb_endpoint_parse(const char *s, bool need_port, uint8_t *family, uint8_t addr[16],
		      uint16_t *port, char *err, size_t errlen)
{
	char buf[80];
	const char *a = s, *ps = NULL;
	char *colon;

	*port = 0;
	if (strlen(s) >= sizeof(buf)) {
		snprintf(err, errlen, "\"%.64s...\" is too long for an address", s);
		return -EINVAL;
	}
	strcpy(buf, s);
	if (buf[0] == '[') {
		char *close = strchr(buf, ']');

		if (!close || (close[1] && close[1] != ':')) {
			snprintf(err, errlen, "\"%s\": expected [IPV6]:PORT", s);
			return -EINVAL;
		}
		*close = '\0';
		a = buf + 1;
		ps = close[1] ? close + 2 : NULL;
	} else {
		colon = strchr(buf, ':');
		/* one colon: IPv4:PORT; more: a bare IPv6 address */
		if (colon && !strchr(colon + 1, ':')) {
			*colon = '\0';
			ps = colon + 1;
		}
		a = buf;
	}
	if (one_addr(a, family, addr, err, errlen))
		return -EINVAL;
	if (ps && port_of(ps, port)) {
		snprintf(err, errlen, "\"%s\": bad port \"%.16s\" (1..65535)", s, ps);
		return -EINVAL;
	}
	if (need_port && !ps) {
		snprintf(err, errlen, "\"%s\": expected ADDRESS:PORT (IPv6 as [ADDRESS]:PORT)", s);
		return -EINVAL;
	}
	return 0;
}

void lb_endpoint_format(uint8_t family, const uint8_t *addr, uint16_t port, char *buf,
			size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, a, sizeof(a));
	if (!port)
		snprintf(buf, len, "%s", a);
	else if (family == 4)
		snprintf(buf, len, "%s:%u", a, port);
	else
		snprintf(buf, len, "[%s]:%u", a, port);
}

int lb_drain_parse(const char *s, struct lb_drain *d, char *err, size_t errlen)
{
	const char *sp = strchr(s, ' ');
	char svc[80], *slash;

	memset(d, 0, sizeof(*d));
	if (!sp || (size_t)(sp - s) >= sizeof(svc) || strchr(sp + 1, ' ')) {
		snprintf(err, errlen, "\"%.80s\": expected \"VIP:PORT BACKEND\"", s);
		return -EINVAL;
	}
	memcpy(svc, s, (size_t)(sp - s));
	svc[sp - s] = '\0';
	/* VIP:PORT/PROTO, as `sluice lb list` writes a service: that protocol's alone */
	slash = strrchr(svc, '/');
	if (slash && (!strcmp(slash, "/tcp") || !strcmp(slash, "/udp"))) {
		d->proto = slash[1] == 't' ? IPPROTO_TCP : IPPROTO_UDP;
		*slash = '\0';
	} else if (slash) {
		/* not the port's fault: say what may follow the '/' */
		snprintf(err, errlen, "\"%s\": unknown protocol \"%s\"; use VIP:PORT/tcp or "
			 "VIP:PORT/udp (or VIP:PORT for both)", svc, slash + 1);
		return -EINVAL;
	}
	if (lb_endpoint_parse(svc, true, &d->vfamily, d->vip, &d->vport, err, errlen) ||
	    lb_endpoint_parse(sp + 1, false, &d->bfamily, d->baddr, &d->bport, err, errlen))
		return -EINVAL;
	return 0;
}

void lb_drain_format(const struct lb_drain *d, char *buf, size_t len)
{
	char v[80], b[80];

	lb_endpoint_format(d->vfamily, d->vip, d->vport, v, sizeof(v));
	lb_endpoint_format(d->bfamily, d->baddr, d->bport, b, sizeof(b));
	snprintf(buf, len, "%s%s %s", v, !d->proto ? "" : d->proto == IPPROTO_TCP ? "/tcp" : "/udp",
		 b);
}

bool lb_drain_match(const struct lb_drain *d, const struct sl_lb_service *s,
		    const struct sl_lb_backend *b)
{
	return d->vfamily == s->family && !memcmp(d->vip, s->vip, 16) && d->vport == s->port &&
	       (!d->proto || d->proto == s->proto) && d->bfamily == s->family &&
	       !memcmp(d->baddr, b->addr, 16) && (!d->bport || d->bport == b->port);
}

void lb_drains_apply(struct sl_policy *pol, char *const *drains, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		struct lb_drain d;
		char err[256];

		if (lb_drain_parse(drains[k], &d, err, sizeof(err)))
			continue;
		for (size_t i = 0; i < pol->nlbs; i++)
			for (size_t b = 0; b < pol->lbs[i].nbackends; b++)
				if (lb_drain_match(&d, &pol->lbs[i], &pol->lbs[i].backends[b])) {
					pol->lbs[i].backends[b].drain = true;
					pol->lbs[i].backends[b].drain_cli = true;
				}
	}
}

const char *lb_mode_name(enum sl_lb_mode m)
{
	return m == SL_LB_DSR ? "dsr" : "nat";
}

const char *lb_proto_name(uint8_t proto)
{
	return proto == IPPROTO_UDP ? "udp" : "tcp";
}

/* ---- parsing ---- */

/* Seconds with decimals ("1", "0.5") into milliseconds, within the limits. */
static int seconds_ms(struct pctx *c, const yaml_node_t *n, const char *what, uint32_t *ms)
{
	const char *s = n->type == YAML_SCALAR_NODE ? sl_y_str(n) : "";
	char *end = (char *)s;
	double v = 0;

	/* digits and one point: "1.2.3" or "." is no number, not one out of range */
	if (n->type == YAML_SCALAR_NODE && *s && strspn(s, "0123456789.") == strlen(s))
		v = strtod(s, &end);
	if (end == s || *end) {
		sl_y_err(c, n, "%s must be a number of seconds (decimals allowed), got %s", what,
			 n->type == YAML_SCALAR_NODE ? s : sl_y_kind(n));
		return -EINVAL;
	}
	if (!isfinite(v) || v * 1000 < HC_MS_MIN || v * 1000 > HC_MS_MAX) {
		sl_y_err(c, n, "%s %.32s is out of range %g..%g seconds", what, s,
			 HC_MS_MIN / 1000.0, HC_MS_MAX / 1000.0);
		return -ERANGE;
	}
	*ms = (uint32_t)(v * 1000 + 0.5);
	return 0;
}

static void count_field(struct pctx *c, const yaml_node_t *n, const char *what, uint32_t max,
			uint32_t *out)
{
	uint32_t v;
	int rc = sl_y_count(n, &v);

	if (rc == -EINVAL)
		sl_y_err(c, n, "%s must be a whole number, got %s", what,
			 n->type == YAML_SCALAR_NODE ? sl_y_str(n) : sl_y_kind(n));
	else if (rc || v > max)
		sl_y_err(c, n, "%s %s is out of range 1..%u", what, sl_y_str(n), max);
	else
		*out = v;
}

enum { H_TYPE, H_INTERVAL, H_TIMEOUT, H_RISE, H_FALL, H_PATH, H_EXPECT, H_N };

static void parse_health(struct pctx *c, struct sl_lb_service *svc, yaml_node_t *v)
{
	static const char *const keys[H_N] = { "type", "interval", "timeout", "rise", "fall",
					       "path", "expect" };
	struct sl_lb_health *h = &svc->health;
	struct kv f[H_N];

	h->loc = sl_y_loc(c, v);
	if (v->type != YAML_MAPPING_NODE) {
		sl_y_err(c, v, "health must be a mapping (type, interval, timeout, rise, fall, "
			 "path, expect), got %s", sl_y_kind(v));
		return;
	}
	sl_y_fields(c, v, "health", keys, H_N, f);
	h->type = SL_HC_TCP;
	if (f[H_TYPE].key) {
		const char *t = f[H_TYPE].val->type == YAML_SCALAR_NODE ?
				sl_y_str(f[H_TYPE].val) : "";

		if (!strcmp(t, "tcp"))
			h->type = SL_HC_TCP;
		else if (!strcmp(t, "http"))
			h->type = SL_HC_HTTP;
		else
			sl_y_err(c, f[H_TYPE].val, "unknown health type \"%.64s\"; use tcp or http",
				 t);
	}
	if (f[H_INTERVAL].key)
		seconds_ms(c, f[H_INTERVAL].val, "interval", &h->interval_ms);
	if (f[H_TIMEOUT].key)
		seconds_ms(c, f[H_TIMEOUT].val, "timeout", &h->timeout_ms);
	else if (h->timeout_ms > h->interval_ms)
		h->timeout_ms = h->interval_ms;
	if (h->timeout_ms > h->interval_ms)
		sl_y_err(c, f[H_TIMEOUT].key ? f[H_TIMEOUT].val : v,
			 "timeout %.3g s is longer than the interval %.3g s: a check must end "
			 "before the next starts", h->timeout_ms / 1000.0, h->interval_ms / 1000.0);
	if (f[H_RISE].key)
		count_field(c, f[H_RISE].val, "rise", HC_COUNT_MAX, &h->rise);
	if (f[H_FALL].key)
		count_field(c, f[H_FALL].val, "fall", HC_COUNT_MAX, &h->fall);
	for (int k = H_PATH; k <= H_EXPECT; k++)
		if (f[k].key && h->type != SL_HC_HTTP)
			sl_y_err(c, f[k].key, "%s needs health type http", keys[k]);
	if (f[H_PATH].key) {
		const char *p = f[H_PATH].val->type == YAML_SCALAR_NODE ?
				sl_y_str(f[H_PATH].val) : "";
		size_t n = strlen(p);
		bool ok = p[0] == '/' && n <= HC_PATH_MAX;

		for (size_t i = 0; ok && i < n; i++)
			ok = p[i] > 0x20 && p[i] < 0x7f;
		if (!ok)
			sl_y_err(c, f[H_PATH].val, "bad path \"%.64s\": a URL path starting with '/', "
				 "printable, no spaces, at most %d bytes", p, HC_PATH_MAX);
		else if (!(h->path = strdup(p)))
			sl_y_oom(c);
	}
	if (f[H_EXPECT].key) {
		uint32_t st = 0;

		count_field(c, f[H_EXPECT].val, "expect", 599, &st);
		if (st && st < 100)
			sl_y_err(c, f[H_EXPECT].val, "expect %u is not an HTTP status (100..599)", st);
		else if (st)
			h->expect = st;
	}
}

enum { B_ADDR, B_PORT, B_WEIGHT, B_DRAIN, B_N };

static void parse_backend(struct pctx *c, struct sl_lb_service *svc, yaml_node_t *m)
{
	static const char *const keys[B_N] = { "addr", "port", "weight", "drain" };
	struct sl_lb_backend *b;
	struct kv f[B_N];
	char err[256];

	if (m->type != YAML_MAPPING_NODE) {
		sl_y_err(c, m, "a backend must be a mapping ({addr, port, weight, drain}), got %s",
			 sl_y_kind(m));
		return;
	}
	if (sl_vec_reserve((void **)&svc->backends, svc->nbackends, sizeof(*svc->backends))) {
		sl_y_oom(c);
		return;
	}
	b = &svc->backends[svc->nbackends++];
	memset(b, 0, sizeof(*b));
	b->loc = sl_y_loc(c, m);
	b->weight = 1;
	b->port = svc->port;
	sl_y_fields(c, m, "a backend", keys, B_N, f);
	if (!f[B_ADDR].key) {
		sl_y_err(c, m, "backend has no addr");
	} else {
		uint8_t fam = 0;

		if (f[B_ADDR].val->type != YAML_SCALAR_NODE ||
		    one_addr(sl_y_str(f[B_ADDR].val), &fam, b->addr, err, sizeof(err)))
			sl_y_err(c, f[B_ADDR].val, "backend addr: %s",
				 f[B_ADDR].val->type == YAML_SCALAR_NODE ? err : "expected an address");
		else if (svc->family && fam != svc->family)
			sl_y_err(c, f[B_ADDR].val, "backend %s is IPv%u but the VIP of service \"%s\" "
				 "is IPv%u", sl_y_str(f[B_ADDR].val), fam,
				 svc->name ? svc->name : "?", svc->family);
		else
			b->loc = sl_y_loc(c, f[B_ADDR].val);
	}
	if (f[B_PORT].key) {
		const char *s = f[B_PORT].val->type == YAML_SCALAR_NODE ? sl_y_str(f[B_PORT].val) :
				"";

		if (port_of(s, &b->port))
			sl_y_err(c, f[B_PORT].val, "bad port \"%.16s\": expected a number 1..65535", s);
		else if (svc->mode == SL_LB_DSR && svc->port && b->port != svc->port)
			sl_y_err(c, f[B_PORT].val, "port %u: in mode dsr a backend serves the "
				 "service's port %u itself (no rewrite)", b->port, svc->port);
	}
	if (f[B_WEIGHT].key) {
		uint32_t w;
		int rc = sl_y_count(f[B_WEIGHT].val, &w);

		if (rc == -EINVAL)
			sl_y_err(c, f[B_WEIGHT].val, "weight must be a whole number, got %s",
				 f[B_WEIGHT].val->type == YAML_SCALAR_NODE ?
				 sl_y_str(f[B_WEIGHT].val) : sl_y_kind(f[B_WEIGHT].val));
		else if (rc || w > SL_LB_WEIGHT_MAX)
			sl_y_err(c, f[B_WEIGHT].val, "weight %s is out of range 1..%u (drain: true "
				 "takes a backend out of new flows)", sl_y_str(f[B_WEIGHT].val),
				 SL_LB_WEIGHT_MAX);
		else
			b->weight = w;
	}
	if (f[B_DRAIN].key && sl_y_bool(f[B_DRAIN].val, &b->drain))
		sl_y_err(c, f[B_DRAIN].val, "drain must be true or false");
	b->drain_file = b->drain;
}

enum { S_NAME, S_VIP, S_PORT, S_PROTO, S_MODE, S_HEALTH, S_BACKENDS, S_TABLE, S_ENCAP, S_N };

static void parse_service(struct pctx *c, yaml_node_t *m)
{
	static const char *const keys[S_N] = { "name", "vip", "port", "proto", "mode", "health",
					       "backends", "table-size", "encap-source" };
	struct sl_policy *pol = sl_y_policy(c);
	struct sl_lb_service *svc;
	struct kv f[S_N];
	char err[256];

	if (m->type != YAML_MAPPING_NODE) {
		sl_y_err(c, m, "a load balancer must be a mapping (name, vip, port, proto, mode, "
			 "health, backends), got %s", sl_y_kind(m));
		return;
	}
	if (sl_vec_reserve((void **)&pol->lbs, pol->nlbs, sizeof(*pol->lbs))) {
		sl_y_oom(c);
		return;
	}
	svc = &pol->lbs[pol->nlbs++];
	memset(svc, 0, sizeof(*svc));
	svc->loc = sl_y_loc(c, m);
	svc->proto = IPPROTO_TCP;
	svc->mode = SL_LB_NAT;
	svc->table_size = SLUICE_LB_RING_DEFAULT;
	svc->health.interval_ms = HC_INTERVAL_MS;
	svc->health.timeout_ms = HC_TIMEOUT_MS;
	svc->health.rise = HC_RISE;
	svc->health.fall = HC_FALL;
	svc->health.expect = 200;
	sl_y_fields(c, m, "a load balancer", keys, S_N, f);

	if (!f[S_NAME].key) {
		sl_y_err(c, m, "load balancer has no name");
	} else if (f[S_NAME].val->type != YAML_SCALAR_NODE || !sl_name_ok(sl_y_str(f[S_NAME].val))) {
		sl_y_err(c, f[S_NAME].val, "bad load balancer name \"%.64s\": use 1..%d letters, "
			 "digits, '_', '.' or '-'", f[S_NAME].val->type == YAML_SCALAR_NODE ?
			 sl_y_str(f[S_NAME].val) : "", SL_NAME_MAX);
	} else {
		svc->name = strdup(sl_y_str(f[S_NAME].val));
		if (!svc->name)
			sl_y_oom(c);
		svc->loc = sl_y_loc(c, f[S_NAME].val);
	}
	if (!f[S_VIP].key)
		sl_y_err(c, m, "load balancer has no vip");
	else if (f[S_VIP].val->type != YAML_SCALAR_NODE ||
		 one_addr(sl_y_str(f[S_VIP].val), &svc->family, svc->vip, err, sizeof(err)))
		sl_y_err(c, f[S_VIP].val, "vip: %s", f[S_VIP].val->type == YAML_SCALAR_NODE ? err :
			 "expected one IPv4 or IPv6 address");
	if (!f[S_PORT].key) {
		sl_y_err(c, m, "load balancer has no port");
	} else {
		const char *s = f[S_PORT].val->type == YAML_SCALAR_NODE ? sl_y_str(f[S_PORT].val) :
				"";

		if (port_of(s, &svc->port))
			sl_y_err(c, f[S_PORT].val, "bad port \"%.16s\": expected a number 1..65535", s);
	}
	if (f[S_PROTO].key) {
		const char *s = f[S_PROTO].val->type == YAML_SCALAR_NODE ?
				sl_y_str(f[S_PROTO].val) : "";

		if (!strcmp(s, "tcp"))
			svc->proto = IPPROTO_TCP;
		else if (!strcmp(s, "udp"))
			svc->proto = IPPROTO_UDP;
		else
			sl_y_err(c, f[S_PROTO].val, "proto \"%.64s\": a load balancer is tcp or udp",
				 s);
	}
	if (f[S_MODE].key) {
		const char *s = f[S_MODE].val->type == YAML_SCALAR_NODE ?
				sl_y_str(f[S_MODE].val) : "";

		if (!strcmp(s, "nat"))
			svc->mode = SL_LB_NAT;
		else if (!strcmp(s, "dsr"))
			svc->mode = SL_LB_DSR;
		else
			sl_y_err(c, f[S_MODE].val, "unknown mode \"%.64s\"; use nat or dsr", s);
	}
	if (f[S_TABLE].key) {
		uint32_t n = 0;

		count_field(c, f[S_TABLE].val, "table-size", SLUICE_LB_RING_MAX, &n);
		if (n && (n < SLUICE_LB_RING_MIN || !maglev_is_prime(n)))
			sl_y_err(c, f[S_TABLE].val, "table-size %u must be a prime between %u and %u "
				 "(e.g. 65537, 16381)", n, SLUICE_LB_RING_MIN, SLUICE_LB_RING_MAX);
		else if (n)
			svc->table_size = n;
	}
	if (f[S_ENCAP].key) {
		const char *s = f[S_ENCAP].val->type == YAML_SCALAR_NODE ?
				sl_y_str(f[S_ENCAP].val) : "";
		struct sl_prefix *p = &svc->encap;

		if (sl_prefix_parse(s, strlen(s), p, err, sizeof(err)))
			sl_y_err(c, f[S_ENCAP].val, "encap-source: %s", err);
		else if (svc->mode != SL_LB_DSR)
			sl_y_err(c, f[S_ENCAP].key, "encap-source needs mode dsr");
		else if (svc->family && (p->family == AF_INET ? 4 : 6) != svc->family)
			sl_y_err(c, f[S_ENCAP].val, "encap-source %s is not of the VIP's family", s);
		else if (p->len < (p->family == AF_INET ? 16 : 64))
			sl_y_err(c, f[S_ENCAP].val, "encap-source %s is too wide: at most 16 (IPv4) "
				 "or 64 (IPv6) bits vary", s);
	}
	if (f[S_HEALTH].key && !sl_y_null(f[S_HEALTH].val))
		parse_health(c, svc, f[S_HEALTH].val);
	if (!f[S_BACKENDS].key) {
		sl_y_err(c, m, "load balancer has no backends");
	} else if (f[S_BACKENDS].val->type != YAML_SEQUENCE_NODE ||
		   f[S_BACKENDS].val->data.sequence.items.start ==
		   f[S_BACKENDS].val->data.sequence.items.top) {
		sl_y_err(c, f[S_BACKENDS].val, "backends must be a list of at least one backend, "
			 "got %s", f[S_BACKENDS].val->type == YAML_SEQUENCE_NODE ? "an empty list" :
			 sl_y_kind(f[S_BACKENDS].val));
	} else {
		yaml_node_t *l = f[S_BACKENDS].val;

		for (yaml_node_item_t *it = l->data.sequence.items.start;
		     it < l->data.sequence.items.top; it++) {
			yaml_node_t *b = sl_y_node(c, *it);

			if (!b)
				return;
			parse_backend(c, svc, b);
		}
	}
}

void lb_parse_services(struct pctx *c, yaml_node_t *key, yaml_node_t *v)
{
	struct sl_policy *pol = sl_y_policy(c);

	if (!pol->lb_loc.file)
		pol->lb_loc = sl_y_loc(c, key);
	if (v->type != YAML_SEQUENCE_NODE) {
		sl_y_err(c, v, "loadbalancers must be a list of services, got %s", sl_y_kind(v));
		return;
	}
	for (yaml_node_item_t *it = v->data.sequence.items.start;
	     it < v->data.sequence.items.top; it++) {
		yaml_node_t *m = sl_y_node(c, *it);

		if (!m)
			return;
		parse_service(c, m);
	}
}

static void decap_vip(struct pctx *c, yaml_node_t *n, void *arg)
{
	struct sl_decap *d = arg;
	struct sl_prefix p = { 0 };
	char err[256];
	uint8_t fam;

	if (one_addr(sl_y_str(n), &fam, p.addr, err, sizeof(err))) {
		sl_y_err(c, n, "decap vip: %s", err);
		return;
	}
	p.family = fam == 4 ? AF_INET : AF_INET6;
	p.len = fam == 4 ? 32 : 128;
	if (sl_vec_reserve((void **)&d->vips, d->nvips, sizeof(*d->vips)) ||
	    sl_vec_reserve((void **)&d->vip_locs, d->nvips, sizeof(*d->vip_locs))) {
		sl_y_oom(c);
		return;
	}
	d->vip_locs[d->nvips] = sl_y_loc(c, n);
	d->vips[d->nvips++] = p;
}

void lb_parse_decap(struct pctx *c, yaml_node_t *key, yaml_node_t *v)
{
	static const char *const keys[] = { "interfaces", "vips" };
	struct sl_decap *d = &sl_y_policy(c)->decap;
	struct kv f[2];

	if (d->present) {
		sl_y_err(c, key, "decap is defined again; it may appear in one file only (first "
			 "at %s:%d:%d)", d->loc.file, d->loc.line, d->loc.col);
		return;
	}
	d->present = true;
	d->loc = sl_y_loc(c, key);
	if (v->type != YAML_MAPPING_NODE) {
		sl_y_err(c, v, "decap must be a mapping (interfaces, vips), got %s", sl_y_kind(v));
		return;
	}
	sl_y_fields(c, v, "decap", keys, 2, f);
	if (!f[0].key)
		sl_y_err(c, v, "decap has no interfaces");
	else
		sl_y_ifaces(c, f[0].val, "decapsulates nothing; omit decap instead", &d->ifaces,
			    &d->iface_locs, &d->nifaces);
	if (!f[1].key)
		sl_y_err(c, v, "decap has no vips");
	else
		sl_y_each(c, "vips", "decapsulates nothing; omit decap instead", f[1].val,
			  decap_vip, d);
}

/* ---- checks across files ---- */

static int err_at(struct sl_diags *d, const struct sl_loc *loc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int err_at(struct sl_diags *d, const struct sl_loc *loc, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sl_diag_add(d, loc, "%s", msg);
	return 1;
}

/* Does some firewall section take interface pattern PAT (a name or a glob)? */
static bool fw_takes(const struct sl_policy *pol, const char *pat)
{
	char witness[16];

	if (!strpbrk(pat, SL_GLOB_CHARS))
		return policy_fw_for_iface(pol, pat) >= 0;
	for (size_t s = 0; s < pol->nfws; s++)
		for (size_t i = 0; i < pol->fws[s].nifaces; i++)
			if (sl_glob_covers(pol->fws[s].ifaces[i], pat, witness) == 1)
				return true;
	return false;
}

int lb_check(struct sl_policy *pol, struct sl_diags *d)
{
	size_t nbe = 0;
	int errs = 0;

	if (pol->nlbs && !pol->nfws)
		errs += err_at(d, &pol->lb_loc, "loadbalancers run on the firewall interfaces: "
			       "add a firewall section listing every interface where VIP traffic "
			       "arrives or backend replies return");
	if (pol->nlbs > SL_LB_SERVICES_MAX)
		errs += err_at(d, &pol->lbs[SL_LB_SERVICES_MAX].loc, "too many load balancers: "
			       "%zu; at most %u", pol->nlbs, SL_LB_SERVICES_MAX);
	for (size_t i = 0; i < pol->nlbs; i++) {
		const struct sl_lb_service *s = &pol->lbs[i];

		nbe += s->nbackends;
		for (size_t j = 0; j < i; j++) {
			const struct sl_lb_service *o = &pol->lbs[j];

			if (s->name && o->name && !strcmp(s->name, o->name))
				errs += err_at(d, &s->loc, "duplicate load balancer name \"%s\": also "
					       "defined at %s:%d:%d", s->name, o->loc.file,
					       o->loc.line, o->loc.col);
			else if (s->family && s->family == o->family && s->port == o->port &&
				 s->proto == o->proto && !memcmp(s->vip, o->vip, 16))
				errs += err_at(d, &s->loc, "load balancer \"%s\" has the same vip, port "
					       "and proto as \"%s\" (%s:%d:%d)", s->name ? s->name : "?",
					       o->name ? o->name : "?", o->loc.file, o->loc.line,
					       o->loc.col);
		}
		if (s->nbackends >= s->table_size)
			errs += err_at(d, &s->loc, "load balancer \"%s\": %zu backends do not fit a "
				       "table-size of %u", s->name ? s->name : "?", s->nbackends,
				       s->table_size);
		for (size_t b = 0; b < s->nbackends; b++) {
			const struct sl_lb_backend *be = &s->backends[b];

			/* NAT: VIP:port itself; DSR: the VIP (its outer header would go to it) */
			if (s->family && !memcmp(be->addr, s->vip, 16) &&
			    (s->mode == SL_LB_DSR || be->port == s->port))
				errs += err_at(d, &be->loc, "backend of \"%s\" is the service's own "
					       "vip%s: its packets would come back to the load "
					       "balancer", s->name ? s->name : "?",
					       s->mode == SL_LB_DSR ? "" : " and port");
			for (size_t k = 0; k < b; k++)
				if (!memcmp(s->backends[b].addr, s->backends[k].addr, 16) &&
				    s->backends[b].port == s->backends[k].port)
					errs += err_at(d, &s->backends[b].loc, "backend listed twice "
						       "in \"%s\" (first at line %d, column %d)",
						       s->name ? s->name : "?",
						       s->backends[k].loc.line,
						       s->backends[k].loc.col);
		}
	}
	if (nbe > SL_LB_BACKENDS_MAX)
		errs += err_at(d, &pol->lb_loc, "too many backends: %zu in all load balancers; at "
			       "most %u", nbe, SL_LB_BACKENDS_MAX);
	/* a decap interface runs a firewall section too, when the policy has any */
	for (size_t i = 0; pol->nfws && i < pol->decap.nifaces; i++)
		if (!fw_takes(pol, pol->decap.ifaces[i]))
			errs += err_at(d, &pol->decap.iface_locs[i], "decap interface \"%s\" is in no "
				       "firewall section: list it in one (the decapsulated packets "
				       "go through its rules)", pol->decap.ifaces[i]);
	return errs;
}

void lb_policy_free(struct sl_policy *pol)
{
	for (size_t i = 0; i < pol->nlbs; i++) {
		free(pol->lbs[i].name);
		free(pol->lbs[i].health.path);
		free(pol->lbs[i].backends);
	}
	free(pol->lbs);
	for (size_t i = 0; i < pol->decap.nifaces; i++)
		free(pol->decap.ifaces[i]);
	free(pol->decap.ifaces);
	free(pol->decap.iface_locs);
	free(pol->decap.vips);
	free(pol->decap.vip_locs);
	pol->lbs = NULL;
	pol->nlbs = 0;
	memset(&pol->decap, 0, sizeof(pol->decap));
}
