/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The L4 load balancer (docs/lb.md), the pipeline stage after the firewall:
 * a packet the firewall allowed comes here (lb_config.active).
 *
 *   NAT reply (the entry program found it, sl_lb_reply_meta)
 *        -> source back to VIP:port, next hop to the client
 *   (VIP, dport, proto) in lb_svc
 *        -> flow in lb_flowtab4 (IPv4) or lb_flowtab[LB_FLOWS] and its backend
 *           still in the policy?
 *             yes: that backend      no: Maglev: table[hash % size]
 *        -> NAT: destination := backend (and a reverse entry for replies)
 *           DSR: IP-in-IP to the backend
 *   ICMP error about a balanced flow -> that flow's backend (lb_icmp.h)
 *   anything else -> XDP_PASS
 *
 * Cost: one array read for a packet that is not for a VIP (lb_filter); a
 * packet for a VIP the service lookup; an established flow the flow lookup,
 * its backend and its cached next hop (inlined array lookups); a new flow
 * the Maglev table and one LRU insert. bpf_fib_lookup runs once a second
 * per backend and CPU (lb_nh), for NAT replies per client slot and CPU (lb_cnh).
 * Every call and return costs ~7 ns here (a BPF-to-BPF call; ~15 a helper:
 * docs/lb.md, "Cost"), so the IPv4 paths of the stage make none of their
 * own (sl_lb_service, sl_lb_reply inlined): what is out of line runs only
 * on IPv6 flows (the map template, lb_fwd.h) and on rare paths (ICMP,
 * too big, reverse entries).
 */
#ifndef SLUICE_BPF_LB_H
#define SLUICE_BPF_LB_H

#include "lb_fwd.h"
#include "lb_icmp.h"

static __always_inline struct lb_config *sl_lb_cfg(void)
{
	__u32 key = 0;

	return bpf_map_lookup_elem(&lb_cfg, &key);
}

/* Seconds a flow in STATE of PROTO may idle, from lb_config (0: the default). */
static __always_inline __u64 sl_lb_timeout_ns(const struct lb_config *cfg, __u8 proto,
					      __u8 state)
{
	__u32 i = proto == SL_IPPROTO_UDP ? LB_TO_UDP :
		  state == LB_FLOW_CLOSING ? LB_TO_TCP_CLOSING : LB_TO_TCP;
	__u32 s = i < LB_TO_MAX ? cfg->timeout[i] : 0;

	if (!s)
		s = SLUICE_LB_TO_DEFAULT(i);
	return (__u64)s * 1000000000ull;
}

static __always_inline bool sl_lb_stale(const struct lb_config *cfg, const struct lb_flow *f,
					__u8 proto, __u64 now)
{
	return (__s64)(now - f->last_seen) > (__s64)sl_lb_timeout_ns(cfg, proto, f->state);
}

static __always_inline void *sl_lb_flowtab(__u32 which)
{
	return bpf_map_lookup_elem(&lb_flowtab, &which);
}

/* The flow key of a parsed packet: its source, destination and ports. */
static __always_inline void sl_lb_key(struct lb_flow_key *k, const struct sl_meta *m)
{
	__builtin_memset(k, 0, sizeof(*k));
	if (m->family == 4) {
		__u32 s = bpf_htonl(m->src4), d = bpf_htonl(m->dst4);

		__builtin_memcpy(k->src, &s, 4);
		__builtin_memcpy(k->dst, &d, 4);
	} else {
		__builtin_memcpy(k->src, m->src6, 16);
		__builtin_memcpy(k->dst, m->dst6, 16);
	}
	k->sport = bpf_htons(m->sport);
	k->dport = bpf_htons(m->dport);
	k->proto = m->proto;
	k->family = m->family;
}

static __always_inline void sl_lb_be_count(__u32 id, __u64 bytes, bool new_flow)
{
	struct lb_be_counter *c = bpf_map_lookup_elem(&lb_be_stats, &id);

	if (c) {
		c->new_flows += new_flow;
		c->packets++;
		c->bytes += bytes;
	}
}

/* Is what F caches of its service still what the agent's last commit (CFG) left? */
static __always_inline bool sl_lb_flow_cached(const struct lb_config *cfg, const struct lb_flow *f)
{
	return f->epoch && f->epoch == (__u32)cfg->gen;
}

/*
 * The backend of the flow F (of proto PROTO), if F is fresh and its backend
 * still the one it chose (in the policy, same incarnation): F is touched
 * (last seen, closing after a FIN or RST) and *BE_ID set. Else NULL.
 */
static __always_inline struct lb_backend *sl_lb_flow_be(const struct lb_config *cfg,
							struct lb_flow *f, __u8 proto,
							__u8 tcp_flags, __u64 now, __u32 *be_id)
{
	struct lb_backend *be;
	__u32 idx;

	if (sl_lb_stale(cfg, f, proto, now))
		return NULL;
	idx = f->backend;
	be = bpf_map_lookup_elem(&lb_backends, &idx);
	if (!be || !(be->flags & LB_BE_F_LIVE) || be->gen != f->be_gen) {
		/* its backend left the policy: this flow is balanced again */
		sl_lb_stat(SLUICE_LB_STAT_RESELECT);
		return NULL;
	}
	f->last_seen = now;
	if ((tcp_flags & (SL_TCP_FIN | SL_TCP_RST)) && f->state == LB_FLOW_OPEN)
		f->state = LB_FLOW_CLOSING;
	*be_id = idx;
	return be;
}

/* A TCP SYN (no ACK): the packet that opens a connection. */
static __always_inline bool sl_lb_opening(__u8 proto, __u8 tcp_flags)
{
	return proto == SL_IPPROTO_TCP && (tcp_flags & (SL_TCP_SYN | SL_TCP_ACK)) == SL_TCP_SYN;
}

/*
 * A new flow K of service SVC: the Maglev table's backend, the flow
 * recorded with the service cached (for DSR the outer source, computed
 * into SRC here). *HASH receives the flow hash, *BE_ID the id; NULL when
 * the service has no backend up. With ONLY_NEW (a SYN not looked up), the
 * flow is recorded only if K has none: NULL and *EXISTS when it has.
 */
static __always_inline struct lb_backend *sl_lb_new_flow(const struct lb_config *cfg,
							 const struct lb_service *svc,
							 const struct lb_flow_key *k, __u8 tcp_flags,
							 __u64 now, __u32 *hash, __u32 *be_id,
							 __u32 *src, bool only_new, bool *exists)
{
	struct lb_backend *be;
	struct lb_flow nf;
	long err;
	__u32 idx;

	*hash = sl_lb_flow_hash((const __u32 *)k);
	idx = sl_lb_maglev_id(svc, *hash);
	if (idx == SLUICE_LB_NO_BACKEND)
		return NULL;
	be = bpf_map_lookup_elem(&lb_backends, &idx);
	if (!be || !(be->flags & LB_BE_F_LIVE))
		return NULL;
	__builtin_memset(&nf, 0, sizeof(nf));
	nf.last_seen = now;
	nf.backend = idx;
	nf.be_gen = be->gen;
	nf.state = tcp_flags & (SL_TCP_FIN | SL_TCP_RST) ? LB_FLOW_CLOSING : LB_FLOW_OPEN;
	nf.epoch = (__u32)cfg->gen;
	if (svc->flags & LB_SVC_F_DSR) {
		nf.flags = LB_FLOW_F_DSR;
		sl_lb_encap_src(svc, k->family, *hash, src);
		__builtin_memcpy(nf.encap_src, src, 16);
	}
	/* no table, or full of busy entries: still balanced, by the table alone */
	err = sl_lb_flow_put(k, &nf, only_new ? BPF_NOEXIST : BPF_ANY);
	if (err == -SL_EEXIST && only_new) {
		*exists = true;
		return NULL;
	}
	if (err)
		sl_lb_stat(SLUICE_LB_STAT_FLOW_FAIL);
	sl_lb_stat(SLUICE_LB_STAT_NEW_FLOW);
	*be_id = idx;
	return be;
}

/*
 * Write what established packets of F need of its service into F: NAT (SRC
 * NULL) or DSR with outer source SRC, under the epoch of CFG; the data
 * first, so that a reader on another CPU that sees the epoch sees them too.
 */
static __always_inline void sl_lb_flow_cache(const struct lb_config *cfg, struct lb_flow *f,
					     const __u32 *src)
{
	if (src) {
		__builtin_memcpy(f->encap_src, src, 16);
		f->flags = LB_FLOW_F_DSR;
	} else {
		f->flags = 0;
	}
	asm volatile("" ::: "memory");
	f->epoch = (__u32)cfg->gen;
}

/*
 * NAT, a service past LB_NAT_VIPS on one backend (LB_SVC_F_REV): remember
 * how the backend's replies go back to VIP:port. (A call of its own: its
 * 80 bytes of key and value stay off the caller's stack.)
 */
static __noinline void sl_lb_reverse_add(const struct lb_flow_key *k,
					 const struct lb_backend *be, __u32 be_id, __u64 now)
{
	void *rev = sl_lb_flowtab(LB_REVERSE);
	struct lb_flow_key rk;
	struct lb_flow v;

	if (!rev || !k || !be)
		return;
	__builtin_memset(&rk, 0, sizeof(rk));
	__builtin_memcpy(rk.src, be->addr, 16);
	__builtin_memcpy(rk.dst, k->src, 16);
	rk.sport = be->port;
	rk.dport = k->sport;
	rk.proto = k->proto;
	rk.family = k->family;
	__builtin_memset(&v, 0, sizeof(v));
	v.last_seen = now;
	v.backend = be_id;
	v.be_gen = be->gen;
	v.vport = k->dport;
	__builtin_memcpy(v.vip, k->dst, 16);
	if (bpf_map_update_elem(rev, &rk, &v, BPF_ANY))
		sl_lb_stat(SLUICE_LB_STAT_FLOW_FAIL);
}

/*
 * Forward a packet of flow K to its backend. F: its LB_FLOWS entry (or
 * NULL; a TCP SYN is not looked up: see sl_lb); SVC: its service, or NULL
 * when F caches it (sl_lb_flow_cached): then an F that cannot be used any
 * more (stale, backend gone) looks the service up after all. CFG: lb_cfg.
 * (Inlined at its one call site in sl_lb: a call would cost ~7 ns a packet.)
 */
/*
 * May a packet from K's source open a flow? Not when that source is a VIP
 * (a LAND packet: its backend's answer would go to the VIP, out and back
 * in again) or the address and port a NAT backend serves on (its service's
 * replies from another backend would be taken for a reply of this flow,
 * translated and sent to it, whose answer comes back as this flow's next
 * packet: one spoofed datagram, a loop without end). Both are spoofed: a
 * VIP is this load balancer's, a backend's replies leave from its port to
 * clients. The filter's bits first (one array read each), the exact
 * lookups only for what they hold.
 */
static __always_inline bool sl_lb_own_source(const struct lb_flow_key *k)
{
	struct lb_svc_key sk;

	__builtin_memset(&sk, 0, sizeof(sk));
	__builtin_memcpy(sk.vip, k->src, 16);
	sk.family = k->family;
	if (sl_lb_filtered(LB_F_VIP, k->src) && bpf_map_lookup_elem(&lb_svc, &sk))
		return true;
	if (!sl_lb_filtered(LB_F_BACKEND, k->src))
		return false;
	sk.port = k->sport;
	sk.proto = k->proto;
	return bpf_map_lookup_elem(&lb_nat_be, &sk) != NULL;
}

static __always_inline int sl_lb_service(struct xdp_md *ctx, struct sl_pipe *p,
					 const struct lb_config *cfg,
					 const struct lb_service *svc,
					 const struct lb_flow_key *k, struct lb_flow *f)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	/* src zeroed: else clang 14 spills unset words on the NAT path (refused) */
	__u32 hash = 0, be_id = 0, src[4] = {};
	__u64 now = sl_now();
	struct lb_backend *be = NULL;
	bool created = false, exists = false, only_new, dsr;
	struct sl_lb_hop hop;

	if (f)
		be = sl_lb_flow_be(cfg, f, k->proto, p->m.tcp_flags, now, &be_id);
	if (!be) {
		if (!svc)
			svc = sl_lb_service_of(k, false);
		if (!svc)
			return sl_pass(p->bytes);
		if (sl_lb_own_source(k))
			return sl_drop_ev(SLUICE_DROP_LB_SPOOFED, p->bytes, &p->m,
					  SLUICE_EV_NO_RULE, p->ifindex);
		only_new = !f && sl_lb_opening(k->proto, p->m.tcp_flags);
		be = sl_lb_new_flow(cfg, svc, k, p->m.tcp_flags, now, &hash, &be_id, src,
				    only_new, &exists);
		created = be != NULL;
		/*
		 * A SYN not looked up, of a flow recorded already (retransmitted),
		 * or with no backend in the table (all drained): its flow's backend
		 */
		if (!be && only_new) {
			f = sl_lb_flow_find(k);
			if (f)
				be = sl_lb_flow_be(cfg, f, k->proto, p->m.tcp_flags, now, &be_id);
			/* stale, or its backend gone: balanced again, in its place */
			if (!be && exists) {
				be = sl_lb_new_flow(cfg, svc, k, p->m.tcp_flags, now, &hash,
						    &be_id, src, false, &exists);
				created = be != NULL;
			}
		}
		if (!be)
			return sl_drop_ev(SLUICE_DROP_LB_NO_BACKEND, p->bytes, &p->m,
					  SLUICE_EV_NO_RULE, p->ifindex);
	}
	sl_lb_be_count(be_id, p->bytes, created);
	dsr = svc ? svc->flags & LB_SVC_F_DSR : f && (f->flags & LB_FLOW_F_DSR);
	if (!dsr) {
		if (created && svc && (svc->flags & LB_SVC_F_REV))
			sl_lb_reverse_add(k, be, be_id, now);
		else if (!created && svc && f)
			sl_lb_flow_cache(cfg, f, NULL);
		/* the route first: a packet too big for it is answered as it came */
		__builtin_memcpy(src, k->src, 16);
		sl_lb_route_be(ctx, be_id, be, src, k->proto, p->m.ip_len, now, &hop);
		if (hop.rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)
			return sl_lb_too_big(ctx, p, hop.mtu);
		if (sl_lb_rewrite(data, data_end, &p->m, true, be->addr, be->port))
			return sl_drop_pkt(SLUICE_DROP_INTERNAL, p->bytes);
		return sl_lb_send(ctx, p, &hop);
	}
	/* the outer source: computed for a new flow, cached in an established one */
	if (!created && svc) {
		hash = sl_lb_flow_hash((const __u32 *)k);
		sl_lb_encap_src(svc, k->family, hash, src);
		if (f)
			sl_lb_flow_cache(cfg, f, src);
	} else if (!created) {
		if (!f)
			return XDP_ABORTED;
		__builtin_memcpy(src, f->encap_src, 16);
		/* the IPv6 outer flow label */
		if (k->family == 6)
			hash = sl_lb_flow_hash((const __u32 *)k);
	}
	sl_lb_route_be(ctx, be_id, be, src, k->family == 4 ? SL_IPPROTO_IPIP : SL_IPPROTO_IPV6,
		       p->m.ip_len + (k->family == 4 ? SL_IP4_HLEN : SL_IP6_HLEN), now, &hop);
	if (hop.rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return sl_lb_too_big(ctx, p, hop.mtu - (k->family == 4 ? SL_IP4_HLEN :
							  SL_IP6_HLEN));
	if (sl_lb_encap(ctx, k->family, src, (const __u32 *)be->addr, p->m.ip_len, hash))
		return sl_drop_ev(SLUICE_DROP_LB_ENCAP, p->bytes, &p->m, SLUICE_EV_NO_RULE,
				  p->ifindex);
	return sl_lb_send(ctx, p, &hop);
}

/* A backend's reply to a NAT flow: the source back to VIP:port, then to the client. */
static __always_inline int sl_lb_reply(struct xdp_md *ctx, struct sl_pipe *p)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct sl_lb_hop hop;
	__u32 src[4], dst[4];
	struct lb_flow_key k;

	if (sl_lb_rewrite(data, data_end, &p->m, false, p->lb.vip, p->lb.vport))
		return sl_drop_pkt(SLUICE_DROP_INTERNAL, p->bytes);
	sl_lb_stat(SLUICE_LB_STAT_REPLY);
	/* the meta reads as the client sees it already: VIP -> client */
	sl_lb_key(&k, &p->m);
	__builtin_memcpy(src, k.src, 16);
	__builtin_memcpy(dst, k.dst, 16);
	sl_lb_route_client(ctx, k.family, src, dst, k.proto, p->m.ip_len,
			   sl_now(), &hop);
	return sl_lb_send(ctx, p, &hop);
}

/* The LB stage for a packet the firewall allowed (P: its parsed headers). */
static __always_inline int sl_lb(struct xdp_md *ctx, struct sl_pipe *p,
				 const struct lb_config *cfg)
{
	struct lb_service *svc;
	struct lb_flow_key k;
	struct lb_flow *f;

	/* tagged frames keep their tags through the stack's forwarding */
	if (p->m.l3_off != SL_ETH_HLEN) {
		sl_lb_stat(SLUICE_LB_STAT_VLAN);
		return sl_pass(p->bytes);
	}
	/* its last hop: the stack's to forward or answer (ICMP time exceeded) */
	if (sl_lb_ttl_out(ctx, &p->m))
		return sl_pass(p->bytes);
	if (p->lb.reply)
		return sl_lb_reply(ctx, p);
	/* most traffic is for no VIP: one inlined array read says so */
	if (!sl_lb_meta_filtered(LB_F_VIP, &p->m, true))
		return sl_pass(p->bytes);
	sl_lb_key(&k, &p->m);
	if (p->m.has_ports) {
		/*
		 * An established flow whose service is as it cached it: no service
		 * lookup. A TCP SYN opens a flow: it is recorded if it has none
		 * (BPF_NOEXIST) and looked up only if it has one (retransmitted),
		 * so a new connection pays no lookup that misses (a cold bucket).
		 */
		f = sl_lb_opening(k.proto, p->m.tcp_flags) ? NULL : sl_lb_flow_find(&k);
		svc = NULL;
		if (!f || !sl_lb_flow_cached(cfg, f)) {
			svc = sl_lb_service_of(&k, false);
			if (!svc)
				return sl_pass(p->bytes);
		}
		return sl_lb_service(ctx, p, cfg, svc, &k, f);
	}
	if (p->m.has_l4 && sl_ct_is_icmp(p->m.family, p->m.proto))
		return sl_lb_icmp(ctx, p, cfg);
	/* a fragment after the first: no ports, so no service to balance it by */
	if (!p->m.has_l4 && sl_lb_service_of(&k, true))
		return sl_drop_ev(SLUICE_DROP_LB_FRAGMENT, p->bytes, &p->m, SLUICE_EV_NO_RULE,
				  p->ifindex);
	return sl_pass(p->bytes);
}

/* A reply of the flow F to VIP:VPORT: P's meta reads as the client sees it from here on. */
static __always_inline void sl_lb_reply_set(struct sl_pipe *p, struct lb_flow *f, const __u8 *vip,
					    __be16 vport, __u64 now)
{
	f->last_seen = now;
	p->lb.reply = 1;
	p->lb.vport = vport;
	p->lb.backend = f->backend;
	__builtin_memcpy(p->lb.vip, vip, 16);
	p->m.sport = bpf_ntohs(vport);
	if (p->m.family == 4) {
		__u32 a;

		__builtin_memcpy(&a, vip, 4);
		p->m.src4 = bpf_ntohl(a);
	} else {
		__builtin_memcpy(p->m.src6, vip, 16);
	}
}

/*
 * Is K, a packet from a NAT backend to a client, a reply of a flow in
 * LB_FLOWS? Through lb_nat_be: the client's 5-tuple towards each (VIP,
 * port) the backend serves, whose flow chose that backend. Then P is set
 * as a reply (sl_lb_reply_set). (A call of its own, ~7 ns per reply: inlined,
 * its keys would take the entry program's frame from 160 to 224 bytes, and
 * the deepest chain of the firewall's calls under it past the 512 allowed.)
 */
static __noinline bool sl_lb_reply_fwd(struct sl_pipe *p, const struct lb_config *cfg,
				       const struct lb_flow_key *k, __u64 now)
{
	struct lb_flow_key fk;
	struct lb_svc_key bk;
	struct lb_nat_be *nb;
	struct lb_flow *f;

	if (!p || !cfg || !k)
		return false;
	__builtin_memset(&bk, 0, sizeof(bk));
	__builtin_memcpy(bk.vip, k->src, 16);
	bk.port = k->sport;
	bk.proto = k->proto;
	bk.family = k->family;
	nb = bpf_map_lookup_elem(&lb_nat_be, &bk);
	if (!nb)
		return false;
	__builtin_memset(&fk, 0, sizeof(fk));
	__builtin_memcpy(fk.src, k->dst, 16);
	fk.sport = k->dport;
	fk.proto = k->proto;
	fk.family = k->family;
#pragma unroll
	for (int i = 0; i < LB_NAT_VIPS; i++) {
		struct lb_nat_vip *v = &nb->vips[i];

		if (i >= nb->n)
			break;
		__builtin_memcpy(fk.dst, v->vip, 16);
		fk.dport = v->vport;
		f = sl_lb_flow_find(&fk);
		if (f && f->backend == v->backend && !sl_lb_stale(cfg, f, k->proto, now)) {
			sl_lb_reply_set(p, f, v->vip, v->vport, now);
			return true;
		}
	}
	return false;
}

/*
 * Entry program, after parsing (CFG->nat): is this a backend's reply to a
 * NAT flow? Then P's meta is rewritten to read as the client sees it
 * (source VIP:vport) and P->lb says how to rewrite the packet. Its forward
 * flow says (sl_lb_reply_fwd); else a reverse entry (LB_REVERSE).
 */
static __always_inline void sl_lb_reply_meta(struct sl_pipe *p, const struct lb_config *cfg)
{
	void *rev = sl_lb_flowtab(LB_REVERSE);
	struct lb_flow_key k;
	struct lb_flow *f;
	__u64 now;

	/* from no backend's address: not a reply (one inlined array read) */
	if (!p->m.has_ports || !sl_lb_meta_filtered(LB_F_BACKEND, &p->m, false))
		return;
	sl_lb_key(&k, &p->m);
	now = sl_now();
	if (sl_lb_reply_fwd(p, cfg, &k, now))
		return;
	f = rev ? bpf_map_lookup_elem(rev, &k) : NULL;
	if (!f || sl_lb_stale(cfg, f, k.proto, now))
		return;
	sl_lb_reply_set(p, f, f->vip, f->vport, now);
}

/*
 * Entry program, after parsing (CFG->active): a TCP SYN for a service sets
 * P->lb.to_vip, so that the firewall leaves it to the backend to answer
 * (no SYN cookie from here, even where a local socket listens on the
 * port). A service lookup for the SYNs to a VIP only.
 */
static __always_inline void sl_lb_syn_meta(struct sl_pipe *p)
{
	struct lb_flow_key k;

	if (p->m.proto != SL_IPPROTO_TCP || !p->m.has_ports ||
	    (p->m.tcp_flags & (SL_TCP_SYN | SL_TCP_ACK)) != SL_TCP_SYN)
		return;
	sl_lb_key(&k, &p->m);
	if (sl_lb_filtered(LB_F_VIP, k.dst) && sl_lb_service_of(&k, false))
		p->lb.to_vip = 1;
}

/*
 * Entry program, first thing (CFG->decap; the backend side of DSR): an
 * IPv4-in-IPv4 or IPv6-in-IPv6 packet for a VIP of lb_decap arriving on a
 * decap interface loses its outer header, and the rest of the pipeline
 * (firewall included) sees the inner packet. Returns whether it did.
 */
static __always_inline bool sl_lb_decap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data, *neth;
	__u32 ifindex = ctx->ingress_ifindex;
	struct lb_svc_key sk;
	int room;

	if ((void *)(eth + 1) > data_end)
		return false;
	__builtin_memset(&sk, 0, sizeof(sk));
	if (eth->h_proto == bpf_htons(SL_ETH_P_IP)) {
		struct iphdr *o = (void *)(eth + 1), *in = (void *)(o + 1);

		if ((void *)(in + 1) > data_end || o->protocol != SL_IPPROTO_IPIP ||
		    o->ihl != 5 || (o->frag_off & bpf_htons(0x3fff)) || in->version != 4)
			return false;
		__builtin_memcpy(sk.vip, &in->daddr, 4);
		sk.family = 4;
		room = SL_IP4_HLEN;
	} else if (eth->h_proto == bpf_htons(SL_ETH_P_IPV6)) {
		struct ipv6hdr *o = (void *)(eth + 1), *in = (void *)(o + 1);

		if ((void *)(in + 1) > data_end || o->nexthdr != SL_IPPROTO_IPV6 ||
		    in->version != 6)
			return false;
		__builtin_memcpy(sk.vip, &in->daddr, 16);
		sk.family = 6;
		room = SL_IP6_HLEN;
	} else {
		return false;
	}
	if (!bpf_map_lookup_elem(&lb_decap, &sk) || !bpf_map_lookup_elem(&lb_decap_if, &ifindex))
		return false;
	/* the Ethernet header moves up over the outer IP header */
	neth = data + room;
	if ((void *)(neth + 1) > data_end)
		return false;
	__builtin_memcpy(neth->h_dest, eth->h_dest, 6);
	__builtin_memcpy(neth->h_source, eth->h_source, 6);
	neth->h_proto = eth->h_proto;
	if (bpf_xdp_adjust_head(ctx, room))
		return false;
	sl_lb_stat(SLUICE_LB_STAT_DECAP);
	return true;
}

#endif /* SLUICE_BPF_LB_H */
