/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Socket-level load balancing for the sockets of managed cgroups (Cilium's
 * socket LB, without Kubernetes): connect() or sendmsg() to a VIP of
 * `loadbalancers` is given a backend at once, from the service's Maglev
 * table (lb_svc, lb_maglev, lb_backends: the XDP load balancer's maps, used
 * as they are). The table holds the backends that are up and not draining,
 * so those are avoided as in XDP. No packet of the socket ever carries the
 * VIP: no NAT per packet, no flow entry.
 *
 *   (dst, dport, proto) in lb_svc -> table[hash(socket cookie, VIP) % size]
 *        -> the call's address := backend's; eg_lb_rev[cookie, backend] = VIP
 *   getpeername(), recvmsg(): backend -> VIP (eg_lb_rev)
 *
 * The socket's cookie picks the table entry: one socket keeps its backend
 * for a VIP (an unconnected UDP socket too), and sockets spread over the
 * backends by the table's weights. A service with no backend up refuses the
 * connect() or sendmsg() with ECONNREFUSED.
 */
#ifndef SLUICE_BPF_EGRESS_LB_H
#define SLUICE_BPF_EGRESS_LB_H

#include "lb_maps.h"

/* (socket cookie, backend) -> the VIP it stands for. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SLUICE_EG_REV_MAX);
	__type(key, struct sl_eg_rev_key);
	__type(value, struct sl_eg_rev);
} eg_lb_rev SEC(".maps");

#define SL_EG_LB_NONE	0	/* not a VIP: the call goes on as it is */
#define SL_EG_LB_DONE	1	/* the address is the backend's now */
#define SL_EG_LB_DOWN	2	/* a VIP with no backend up */

#define SL_ECONNREFUSED	111

/* DST := the address at SRC of FAMILY (4 or 16 bytes: the copy needs a constant size). */
static __always_inline void sl_addr_copy(__u8 *dst, const __u8 *src, __u8 family)
{
	if (family == 4)
		__builtin_memcpy(dst, src, 4);
	else
		__builtin_memcpy(dst, src, 16);
}

/*
 * The backend of service SVC for socket COOKIE going to K (the VIP): its id
 * in *ID, or NULL when the table has none up.
 */
static __always_inline const struct lb_backend *sl_eg_lb_pick(const struct lb_service *svc,
							      const struct lb_svc_key *k,
							      __u64 cookie, __u32 *id)
{
	const struct lb_backend *be;
	struct lb_flow_key fk;
	__u32 idx;

	/* the flow hash of XDP, with the socket's cookie where a source would be */
	__builtin_memset(&fk, 0, sizeof(fk));
	__builtin_memcpy(fk.src, &cookie, sizeof(cookie));
	__builtin_memcpy(fk.dst, k->vip, 16);
	fk.dport = k->port;
	fk.proto = k->proto;
	fk.family = k->family;
	idx = sl_lb_maglev_id(svc, sl_lb_flow_hash((const __u32 *)&fk));
	if (idx == SLUICE_LB_NO_BACKEND)
		return NULL;
	be = bpf_map_lookup_elem(&lb_backends, &idx);
	if (!be || !(be->flags & LB_BE_F_LIVE) || be->family != k->family)
		return NULL;
	*id = idx;
	return be;
}

/*
 * Is (VIP of FAMILY, network-order PORT, PROTO) a service? Then pick the
 * backend of the socket of CTX, remember the VIP for it, count a new flow,
 * and return the backend (BE) for the caller to write into the call's
 * address. *RES says what happened.
 */
static __always_inline const struct lb_backend *sl_eg_lb(struct bpf_sock_addr *ctx,
							 const __u8 *vip, __u8 family,
							 __be16 port, __u8 proto, int *res)
{
	const struct lb_service *svc;
	const struct lb_backend *be;
	struct sl_eg_rev_key rk;
	struct lb_be_counter *c;
	struct lb_svc_key k;
	struct sl_eg_rev rv;
	__u64 cookie;
	__u32 id = 0;

	*res = SL_EG_LB_NONE;
	if (proto != SL_IPPROTO_TCP && proto != SL_IPPROTO_UDP)
		return NULL;
	__builtin_memset(&k, 0, sizeof(k));
	sl_addr_copy(k.vip, vip, family);
	k.port = port;
	k.proto = proto;
	k.family = family;
	svc = bpf_map_lookup_elem(&lb_svc, &k);
	if (!svc || (svc->flags & LB_SVC_F_VIP))
		return NULL;
	cookie = bpf_get_socket_cookie(ctx);
	be = sl_eg_lb_pick(svc, &k, cookie, &id);
	if (!be) {
		*res = SL_EG_LB_DOWN;
		return NULL;
	}
	__builtin_memset(&rk, 0, sizeof(rk));
	rk.cookie = cookie;
	__builtin_memcpy(rk.addr, be->addr, 16);
	rk.port = be->port;
	rk.family = family;
	__builtin_memset(&rv, 0, sizeof(rv));
	__builtin_memcpy(rv.vip, k.vip, 16);
	rv.port = port;
	rv.family = family;
	bpf_map_update_elem(&eg_lb_rev, &rk, &rv, BPF_ANY);
	c = bpf_map_lookup_elem(&lb_be_stats, &id);
	if (c)
		c->new_flows++;
	*res = SL_EG_LB_DONE;
	return be;
}

/* The VIP that backend (ADDR of FAMILY, PORT) stands for on the socket of CTX; NULL: none. */
static __always_inline const struct sl_eg_rev *sl_eg_lb_rev(struct bpf_sock_addr *ctx,
							    const __u8 *addr, __u8 family,
							    __be16 port)
{
	struct sl_eg_rev_key rk;

	__builtin_memset(&rk, 0, sizeof(rk));
	rk.cookie = bpf_get_socket_cookie(ctx);
	sl_addr_copy(rk.addr, addr, family);
	rk.port = port;
	rk.family = family;
	return bpf_map_lookup_elem(&eg_lb_rev, &rk);
}

#endif /* SLUICE_BPF_EGRESS_LB_H */
