// SPDX-License-Identifier: GPL-2.0-only
/*
 * Conntrack entries as connections: the key is normalised (endpoint a is the
 * lower (address, port) pair, so both directions find one entry) and the
 * value says whether the originator is a; expires_in is computed on the
 * datapath's clock from last_seen and the timeout of the entry's state.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "ct.h"
#include "prefix.h"

#define NSEC_PER_SEC 1000000000ull

uint64_t ct_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

int ct_view_from(const struct sl_ct_key *k, const struct sl_ct_entry *e,
		 const struct sl_ct_config *cfg, uint64_t now, struct ct_view *v)
{
	size_t alen = k->family == 4 ? 4 : 16;
	int to;

	if (k->family != 4 && k->family != 6)
		return -EINVAL;
	memset(v, 0, sizeof(*v));
	v->family = k->family == 4 ? AF_INET : AF_INET6;
	v->proto = k->proto;
	if (e->orig_is_a) {
		memcpy(v->src, k->addr_a, alen);
		memcpy(v->dst, k->addr_b, alen);
		v->sport = ntohs(k->port_a);
		v->dport = ntohs(k->port_b);
	} else {
		memcpy(v->src, k->addr_b, alen);
		memcpy(v->dst, k->addr_a, alen);
		v->sport = ntohs(k->port_b);
		v->dport = ntohs(k->port_a);
	}
	v->state = e->state;
	for (int d = 0; d < 2; d++) {
		v->packets[d] = e->packets[d];
		v->bytes[d] = e->bytes[d];
	}
	v->age = now > e->created ? (now - e->created) / NSEC_PER_SEC : 0;
	v->expires_in = -1;
	to = ct_state_timeout(e->state);
	if (to >= 0) {
		uint64_t end = e->last_seen + (uint64_t)cfg->timeout[to] * NSEC_PER_SEC;

		/* past its time, the sweeper is about to come: 0, never negative */
		v->expires_in = end > now ? (int64_t)((end - now) / NSEC_PER_SEC) : 0;
		v->dead = end <= now;
	}
	return 0;
}

void ct_filter_init(struct ct_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->proto = f->sport = f->dport = f->port = -1;
}

bool ct_filter_match(const struct ct_filter *f, const struct ct_view *v)
{
	if (f->proto >= 0 && f->proto != v->proto)
		return false;
	if (f->has_src && !sl_prefix_contains(&f->src, v->family, v->src))
		return false;
	if (f->has_dst && !sl_prefix_contains(&f->dst, v->family, v->dst))
		return false;
	if (f->sport >= 0 && f->sport != v->sport)
		return false;
	if (f->dport >= 0 && f->dport != v->dport)
		return false;
	if (f->port >= 0 && f->port != v->sport && f->port != v->dport)
		return false;
	return true;
}

static const struct {
	const char *name;
	uint8_t proto;
} protos[] = {
	{ "tcp", 6 }, { "udp", 17 }, { "icmp", 1 }, { "icmpv6", 58 },
};

int ct_proto_parse(const char *s, int *proto)
{
	unsigned int n;
	int end = 0;

	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
		if (!strcmp(s, protos[i].name)) {
			*proto = protos[i].proto;
			return 0;
		}
	}
	if (sscanf(s, "%3u%n", &n, &end) == 1 && !s[end] && s[0] != '+' && n <= 255) {
		*proto = (int)n;
		return 0;
	}
	return -EINVAL;
}

const char *ct_proto_name(uint8_t proto, char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (protos[i].proto == proto)
			return protos[i].name;
	snprintf(buf, len, "%u", proto);
	return buf;
}

static int add(struct json_object *o, const char *key, struct json_object *v)
{
	return !v || json_object_object_add(o, key, v) ? -ENOMEM : 0;
}

struct json_object *ct_view_json(const struct ct_view *v)
{
	struct json_object *o = json_object_new_object();
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], pbuf[8];
	int err = 0;

	if (!o)
		return NULL;
	inet_ntop(v->family, v->src, src, sizeof(src));
	inet_ntop(v->family, v->dst, dst, sizeof(dst));
	err |= add(o, "proto", json_object_new_string(ct_proto_name(v->proto, pbuf,
								     sizeof(pbuf))));
	err |= add(o, "src", json_object_new_string(src));
	err |= add(o, "sport", json_object_new_int(v->sport));
	err |= add(o, "dst", json_object_new_string(dst));
	err |= add(o, "dport", json_object_new_int(v->dport));
	err |= add(o, "state", json_object_new_string(ct_state_name(v->state)));
	if (v->expires_in < 0)	/* a state without a timeout: JSON null */
		err |= json_object_object_add(o, "expires_in", NULL) ? -ENOMEM : 0;
	else
		err |= add(o, "expires_in", json_object_new_int64(v->expires_in));
	err |= add(o, "packets", json_object_new_uint64(v->packets[0] + v->packets[1]));
	err |= add(o, "bytes", json_object_new_uint64(v->bytes[0] + v->bytes[1]));
	err |= add(o, "orig_packets", json_object_new_uint64(v->packets[SL_CT_DIR_ORIG]));
	err |= add(o, "orig_bytes", json_object_new_uint64(v->bytes[SL_CT_DIR_ORIG]));
	err |= add(o, "reply_packets", json_object_new_uint64(v->packets[SL_CT_DIR_REPLY]));
	err |= add(o, "reply_bytes", json_object_new_uint64(v->bytes[SL_CT_DIR_REPLY]));
	err |= add(o, "age", json_object_new_uint64(v->age));
	err |= add(o, "assured", json_object_new_boolean(v->assured));
	if (err) {
		json_object_put(o);
		return NULL;
	}
	return o;
}
