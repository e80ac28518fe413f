// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluice container egress: cgroup sock_addr hooks and the TC backstop.
 *
 *   connect4/6 (TCP, connected UDP), sendmsg4/6 (UDP with an address):
 *     socket's cgroup -> its egress entry (or its nearest managed ancestor's)
 *     -> classify (dst, proto, dport) with the entry's policy slot
 *     -> 0: the call fails with EPERM at once
 *     -> 1: the call goes on; to a VIP of `loadbalancers`, with a backend's
 *        address and port instead (egress_lb.h)
 *   getpeername4/6, recvmsg4/6: a backend given for a VIP reads as the VIP
 *   sl_eg_srcroute (cgroup_skb egress, every packet): a source route (IPv6
 *     routing header with segments left, IPv4 LSRR/SSRR) would take the
 *     packet first to a host the call was never judged for: dropped
 *     (eg_srcroute.h); a packet of a connected UDP-Lite socket or of a ping
 *     socket (calls no sock_addr hook judges) -> classify -> pass | drop;
 *     anything else passes at once.
 *   sl_eg_backstop (tcx ingress on the host side of a container's veth):
 *     parse (malformed: shot) -> source address -> egress entry -> classify
 *     -> pass | shot, for what never meets a socket hook: raw sockets.
 *
 * The agent attaches the hooks with one pinned bpf_link per cgroup and
 * hook (agent/egress.c); the maps are the XDP object's pins, shared.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

#include "lib/eg_srcroute.h"
#include "lib/egress.h"
#include "lib/egress_lb.h"
#include "lib/skb_parse.h"

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/* What sl_eg_of_sock found. */
enum sl_eg_find {
	SL_EG_NOT_OURS,		/* no managed cgroup up to the root: not ours to judge */
	SL_EG_FOUND,		/* the entry of the socket's cgroup or of an ancestor */
	SL_EG_TOO_DEEP,		/* SLUICE_EG_DEPTH levels up: no entry, not the root */
};

/*
 * The egress entry (*VP) of the socket's cgroup, else of its nearest
 * ancestor that has one. *CG is the socket's own cgroup: the one that made
 * the kernel run this program (a socket keeps the cgroup it was created
 * in). sock_addr programs have no helper for it: the kernel's struct sock
 * is read through a read-only cast (faults read as zero), CO-RE keeps the
 * offsets right. The program runs only because the socket is inside a
 * managed subtree: a walk that gives up before the root (a cgroup more
 * than SLUICE_EG_DEPTH levels below its entry) must deny, not pass.
 */
static __always_inline enum sl_eg_find sl_eg_of_sk(const struct sock *sk, __u64 *cg,
						   const struct sl_eg_val **vp)
{
	const struct sl_eg_val *v;
	struct cgroup *cgrp;
	__u64 id;

	cgrp = sk->sk_cgrp_data.cgroup;
	if (!cgrp)
		return SL_EG_NOT_OURS;
	id = cgrp->kn->id;
	*cg = id;
	v = bpf_map_lookup_elem(&eg_cg, &id);
	if (v)
		goto found;
	/* nearest first: the parent of each cgroup is its `self` css's parent */
	for (int i = 0; i < SLUICE_EG_DEPTH; i++) {
		struct cgroup_subsys_state *up = cgrp->self.parent;

		if (!up)
			return SL_EG_NOT_OURS;
		cgrp = bpf_rdonly_cast(up, bpf_core_type_id_kernel(struct cgroup));
		id = cgrp->kn->id;
		v = bpf_map_lookup_elem(&eg_cg, &id);
		if (v)
			goto found;
	}
	/* the root itself is no managed cgroup: one more level up would be NULL */
	return cgrp->self.parent ? SL_EG_TOO_DEEP : SL_EG_NOT_OURS;
found:
	*vp = v;
	return SL_EG_FOUND;
}

/* The kernel's socket of a bpf_sock (read only; faults read as zero). */
static __always_inline struct sock *sl_eg_sk(const void *bsk)
{
	return bpf_rdonly_cast(bsk, bpf_core_type_id_kernel(struct sock));
}

static __always_inline enum sl_eg_find sl_eg_of_sock(struct bpf_sock_addr *ctx, __u64 *cg,
						     const struct sl_eg_val **vp)
{
	if (!ctx->sk)
		return SL_EG_NOT_OURS;
	return sl_eg_of_sk(sl_eg_sk(ctx->sk), cg, vp);
}

/* A call SLUICE_EG_DEPTH levels below any entry it could have: denied, with no entry to name. */
static __always_inline int sl_eg_too_deep(const struct sl_meta *m, enum sluice_eg_hook hook,
					  __u64 cg)
{
	return sl_eg_deny(0, SLUICE_DROP_EGRESS_TOO_DEEP, m, hook, cg, 0, 0, SLUICE_EV_NO_RULE,
			  NULL);
}

static __always_inline void sl_eg_l4(struct bpf_sock_addr *ctx, struct sl_meta *m)
{
	m->proto = ctx->protocol;
	m->has_l4 = 1;
	if (m->proto == SL_IPPROTO_TCP || m->proto == SL_IPPROTO_UDP) {
		m->dport = bpf_ntohs((__u16)ctx->user_port);
		m->has_ports = 1;
	}
}

/*
 * The unspecified address names no host, yet the kernel sends a call to it
 * somewhere: to the socket's own source address, or to loopback when it
 * has none (ip_route_output_key_hash_rcu for 0.0.0.0; `::` is ::1, or
 * 127.0.0.1 for a socket bound to a v4-mapped address: tcp_v6_connect,
 * ip6_datagram_connect, udpv6_sendmsg). The call is judged for that host;
 * its address is left as it is.
 */
#define SL_LOOPBACK4	0x7f000001	/* 127.0.0.1, host order */
#define SL_EG_AF_INET	2
#define SL_EG_SOCK_DGRAM	2

/*
 * Where 0.0.0.0 goes, host order. sendmsg4's source (MSG_SRC: the socket's
 * address, or IP_PKTINFO's) is the kernel's; connect() takes the bound one.
 */
static __always_inline __u32 sl_eg_any4(struct bpf_sock_addr *ctx, bool msg_src)
{
	__u32 a;

	if (msg_src)
		a = ctx->msg_src_ip4;
	else
		a = ctx->sk ? sl_eg_sk(ctx->sk)->__sk_common.skc_rcv_saddr : 0;
	return a ? bpf_ntohl(a) : SL_LOOPBACK4;
}

/* `::` goes to 127.0.0.1 from a socket bound to a v4-mapped address. */
static __always_inline bool sl_eg_bound_mapped(struct bpf_sock_addr *ctx)
{
	struct in6_addr a;

	if (!ctx->sk)
		return false;
	a = sl_eg_sk(ctx->sk)->__sk_common.skc_v6_rcv_saddr;
	return sl_ip6_v4mapped((const __u8 *)&a);
}

/* A service with no backend up: the call fails as a connect() to a closed port would. */
static __always_inline int sl_eg_refused(void)
{
	bpf_set_retval(-SL_ECONNREFUSED);
	return SL_EG_DENY;
}

static __always_inline int sl_eg_sock4(struct bpf_sock_addr *ctx, enum sluice_eg_hook hook)
{
	const struct sl_eg_val *v = NULL;
	const struct lb_backend *be;
	enum sl_eg_find f;
	struct sl_meta m;
	__u32 vip, a;
	__u64 cg = 0;
	int res;

	f = sl_eg_of_sock(ctx, &cg, &v);
	if (f == SL_EG_NOT_OURS)
		return SL_EG_ALLOW;
	__builtin_memset(&m, 0, sizeof(m));
	m.family = 4;
	vip = ctx->user_ip4;
	m.dst4 = vip ? bpf_ntohl(vip) : sl_eg_any4(ctx, hook == SLUICE_EG_SENDMSG4);
	sl_eg_l4(ctx, &m);
	if (f == SL_EG_TOO_DEEP || !v)
		return sl_eg_too_deep(&m, hook, cg);
	/* the policy judges what the process asked for: the VIP */
	if (sl_eg_judge(v, &m, hook, cg, 0, 0) != SL_EG_ALLOW)
		return SL_EG_DENY;
	be = sl_eg_lb(ctx, (const __u8 *)&vip, 4, bpf_htons(m.dport), m.proto, &res);
	if (res == SL_EG_LB_DOWN)
		return sl_eg_refused();
	if (be) {
		__builtin_memcpy(&a, be->addr, 4);
		ctx->user_ip4 = a;
		ctx->user_port = be->port;
	}
	return SL_EG_ALLOW;
}

/*
 * IPv6 sockets reach IPv4 hosts through v4-mapped addresses (::ffff:a.b.c.d)
 * without the IPv4 hooks ever running: those are judged as the IPv4
 * addresses they are, by the IPv4 tables (the parser's test, parse.h).
 */
static __always_inline bool sl_v4mapped(const __u32 *w)
{
	return sl_ip6_v4mapped((const __u8 *)w);
}

/* The call's IPv6 address := W (a program may write the words one by one only). */
static __always_inline void sl_set_ip6(struct bpf_sock_addr *ctx, const __u32 *w)
{
	ctx->user_ip6[0] = w[0];
	ctx->user_ip6[1] = w[1];
	ctx->user_ip6[2] = w[2];
	ctx->user_ip6[3] = w[3];
}

static __always_inline int sl_eg_sock6(struct bpf_sock_addr *ctx, enum sluice_eg_hook hook)
{
	const struct sl_eg_val *v = NULL;
	const struct lb_backend *be;
	enum sl_eg_find f;
	struct sl_meta m;
	__u32 w[4], b[4];
	__u64 cg = 0;
	int res;

	f = sl_eg_of_sock(ctx, &cg, &v);
	if (f == SL_EG_NOT_OURS)
		return SL_EG_ALLOW;
	__builtin_memset(&m, 0, sizeof(m));
	w[0] = ctx->user_ip6[0];
	w[1] = ctx->user_ip6[1];
	w[2] = ctx->user_ip6[2];
	w[3] = ctx->user_ip6[3];
	if (sl_v4mapped(w)) {
		m.family = 4;
		m.dst4 = w[3] ? bpf_ntohl(w[3]) : sl_eg_any4(ctx, false);
	} else if (!(w[0] | w[1] | w[2] | w[3])) {
		if (sl_eg_bound_mapped(ctx)) {
			m.family = 4;
			m.dst4 = SL_LOOPBACK4;
		} else {
			m.family = 6;
			m.dst6[15] = 1;
		}
	} else {
		m.family = 6;
		__builtin_memcpy(m.dst6, w, 16);
	}
	sl_eg_l4(ctx, &m);
	if (f == SL_EG_TOO_DEEP || !v)
		return sl_eg_too_deep(&m, hook, cg);
	if (sl_eg_judge(v, &m, hook, cg, 0, 0) != SL_EG_ALLOW)
		return SL_EG_DENY;
	be = sl_eg_lb(ctx, m.family == 4 ? (const __u8 *)&w[3] : (const __u8 *)w, m.family,
		      bpf_htons(m.dport), m.proto, &res);
	if (res == SL_EG_LB_DOWN)
		return sl_eg_refused();
	if (be) {
		__builtin_memcpy(b, be->addr, 16);
		/* an IPv4 backend of a v4-mapped VIP stays v4-mapped */
		if (m.family == 4)
			ctx->user_ip6[3] = b[0];
		else
			sl_set_ip6(ctx, b);
		ctx->user_port = be->port;
	}
	return SL_EG_ALLOW;
}

/* getpeername() and recvmsg(): a backend this socket was given for a VIP reads as the VIP. */
static __always_inline int sl_eg_peer4(struct bpf_sock_addr *ctx)
{
	const struct sl_eg_rev *rv;
	__u32 a = ctx->user_ip4;

	rv = sl_eg_lb_rev(ctx, (const __u8 *)&a, 4, ctx->user_port);
	if (rv) {
		__builtin_memcpy(&a, rv->vip, 4);
		ctx->user_ip4 = a;
		ctx->user_port = rv->port;
	}
	return 1;
}

static __always_inline int sl_eg_peer6(struct bpf_sock_addr *ctx)
{
	const struct sl_eg_rev *rv;
	__u32 w[4], vip[4];

	w[0] = ctx->user_ip6[0];
	w[1] = ctx->user_ip6[1];
	w[2] = ctx->user_ip6[2];
	w[3] = ctx->user_ip6[3];
	if (sl_v4mapped(w)) {
		rv = sl_eg_lb_rev(ctx, (const __u8 *)&w[3], 4, ctx->user_port);
		if (rv) {
			__builtin_memcpy(vip, rv->vip, 16);
			ctx->user_ip6[3] = vip[0];
			ctx->user_port = rv->port;
		}
		return 1;
	}
	rv = sl_eg_lb_rev(ctx, (const __u8 *)w, 6, ctx->user_port);
	if (rv) {
		__builtin_memcpy(vip, rv->vip, 16);
		sl_set_ip6(ctx, vip);
		ctx->user_port = rv->port;
	}
	return 1;
}

SEC("cgroup/connect4")
int sl_eg_connect4(struct bpf_sock_addr *ctx)
{
	return sl_eg_sock4(ctx, SLUICE_EG_CONNECT4);
}

SEC("cgroup/connect6")
int sl_eg_connect6(struct bpf_sock_addr *ctx)
{
	return sl_eg_sock6(ctx, SLUICE_EG_CONNECT6);
}

SEC("cgroup/sendmsg4")
int sl_eg_sendmsg4(struct bpf_sock_addr *ctx)
{
	return sl_eg_sock4(ctx, SLUICE_EG_SENDMSG4);
}

SEC("cgroup/sendmsg6")
int sl_eg_sendmsg6(struct bpf_sock_addr *ctx)
{
	return sl_eg_sock6(ctx, SLUICE_EG_SENDMSG6);
}

SEC("cgroup/getpeername4")
int sl_eg_getpeer4(struct bpf_sock_addr *ctx)
{
	return sl_eg_peer4(ctx);
}

SEC("cgroup/getpeername6")
int sl_eg_getpeer6(struct bpf_sock_addr *ctx)
{
	return sl_eg_peer6(ctx);
}

SEC("cgroup/recvmsg4")
int sl_eg_recvmsg4(struct bpf_sock_addr *ctx)
{
	return sl_eg_peer4(ctx);
}

SEC("cgroup/recvmsg6")
int sl_eg_recvmsg6(struct bpf_sock_addr *ctx)
{
	return sl_eg_peer6(ctx);
}

/* ---- per packet: source routes ---- */

/*
 * A source-routed packet of a managed cgroup: dropped, counted (eg_stats,
 * hook egress) and reported with its first hop as the destination, naming
 * the socket's cgroup and its entry. A global function, off the fast path.
 */
__noinline int sl_eg_srr_drop(struct __sk_buff *skb)
{
	const struct sl_eg_val *v = NULL;
	struct bpf_sock *bsk;
	struct sl_meta m;
	__u8 hdr[SL_IP6_HLEN];
	__u64 cg = 0;

	__builtin_memset(&m, 0, sizeof(m));
	if (!bpf_skb_load_bytes(skb, 0, hdr, SL_IP4_HLEN)) {
		if (hdr[0] >> 4 == 4) {
			m.family = 4;
			m.proto = hdr[9];
			m.src4 = (__u32)hdr[12] << 24 | hdr[13] << 16 | hdr[14] << 8 | hdr[15];
			m.dst4 = (__u32)hdr[16] << 24 | hdr[17] << 16 | hdr[18] << 8 | hdr[19];
		} else if (!bpf_skb_load_bytes(skb, 0, hdr, SL_IP6_HLEN)) {
			m.family = 6;
			m.proto = hdr[SL_IP6_OFF_NEXTHDR];
			__builtin_memcpy(m.src6, hdr + 8, 16);
			__builtin_memcpy(m.dst6, hdr + 24, 16);
		}
	}
	bsk = skb->sk;
	if (bsk)
		bsk = bpf_sk_fullsock(bsk);
	if (!bsk || sl_eg_of_sk(sl_eg_sk(bsk), &cg, &v) != SL_EG_FOUND || !v)
		cg = bpf_skb_cgroup_id(skb);
	return sl_eg_deny(v ? v->entry : 0, SLUICE_DROP_EGRESS_SRC_ROUTE, &m,
			  SLUICE_EG_INET_EGRESS, cg, 0, skb->len, SLUICE_EV_NO_RULE, NULL);
}

/* ---- per packet: UDP-Lite, ping sockets ---- */

/*
 * Calls no socket hook judges, judged per packet (dst, the socket's
 * protocol, no ports); 0 drops the packet and the send fails with EPERM
 * (where the kernel returns the error: not ping_v6_sendmsg()).
 *   UDP-Lite: the kernel runs no connect() hook for it (its struct proto
 *     has no pre_connect), and a connected socket's send()s run no sendmsg
 *     hook: each packet of a connected UDP-Lite socket is judged. Packets of
 *     a socket that is not connected were judged by the sendmsg hooks; an
 *     IPv6 socket's IPv4 packets (connected to a v4-mapped address) too: the
 *     kernel sends each through udp_sendmsg() with the address (sendmsg4).
 *   ICMP echo from a ping socket (SOCK_DGRAM, IPPROTO_ICMP/ICMPV6): its
 *     sendto() runs no hook at all: each of its packets is judged. Raw
 *     sockets (and the kernel's own ICMP and neighbour discovery, SOCK_RAW)
 *     pass: the backstop's.
 * A global function, off the fast path.
 */
__noinline int sl_eg_pkt(struct __sk_buff *skb)
{
	const struct sl_eg_val *v = NULL;
	struct bpf_sock *bsk;
	enum sl_eg_find f;
	struct sl_meta m;
	__u64 cg = 0;
	__be32 dst4;
	__u8 vers;

	bsk = skb->sk;
	if (bsk)
		bsk = bpf_sk_fullsock(bsk);
	if (!bsk)
		return 1;
	if (bsk->protocol == SL_IPPROTO_UDPLITE) {
		if (bsk->state != BPF_TCP_ESTABLISHED)
			return 1;
	} else if (bsk->type != SL_EG_SOCK_DGRAM ||
		   (bsk->protocol != SL_IPPROTO_ICMP && bsk->protocol != SL_IPPROTO_ICMPV6)) {
		return 1;
	}
	/*
	 * the destination alone, read into M: a header buffer here would take
	 * this frame, sl_eg_verdict's and the classifier's past the 512 bytes
	 * of stack a chain of calls may have
	 */
	__builtin_memset(&m, 0, sizeof(m));
	if (bpf_skb_load_bytes(skb, 0, &vers, 1))
		return 1;
	if (vers >> 4 == 4) {
		if (bsk->family != SL_EG_AF_INET ||
		    bpf_skb_load_bytes(skb, SL_IP4_OFF_DST, &dst4, 4))
			return 1;
		m.family = 4;
		m.dst4 = bpf_ntohl(dst4);
	} else {
		if (bpf_skb_load_bytes(skb, SL_IP6_OFF_DST, m.dst6, 16))
			return 1;
		m.family = 6;
	}
	m.proto = bsk->protocol;
	m.has_l4 = 1;
	f = sl_eg_of_sk(sl_eg_sk(bsk), &cg, &v);
	if (f == SL_EG_NOT_OURS)
		return 1;
	if (f == SL_EG_TOO_DEEP || !v)
		return sl_eg_too_deep(&m, SLUICE_EG_INET_EGRESS, cg);
	return sl_eg_judge(v, &m, SLUICE_EG_INET_EGRESS, cg, 0, skb->len);
}

/*
 * Every packet a socket of a managed cgroup sends: 1 passes, 0 drops. The
 * common packet (IPv4 TCP or UDP without options; IPv6 straight to TCP or
 * UDP) passes after a load or two and a few compares.
 */
SEC("cgroup_skb/egress")
int sl_eg_srcroute(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	__u8 *ip = data, h[SL_IP4_OFF_PROTO + 1], nh;

	if ((void *)(ip + sizeof(h)) > data_end) {
		if (bpf_skb_load_bytes(skb, 0, h, sizeof(h)))
			return 1;
		ip = h;
	}
	if (ip[0] >> 4 == 4) {
		if ((ip[0] & 0xf) > 5 && sl_eg_srr4(skb, ip[0] & 0xf))
			return sl_eg_srr_drop(skb);
		/* & 1: to the verifier, a global function returns any scalar */
		nh = ip[SL_IP4_OFF_PROTO];
		return nh == SL_IPPROTO_UDPLITE || nh == SL_IPPROTO_ICMP ? sl_eg_pkt(skb) & 1 : 1;
	}
	if (ip[0] >> 4 != 6)
		return 1;
	nh = ip[SL_IP6_OFF_NEXTHDR];
	if (nh == SL_IPPROTO_TCP || nh == SL_IPPROTO_UDP)
		return 1;
	if (nh != SL_IPPROTO_ICMPV6 && sl_eg_srr6(skb, &nh))
		return sl_eg_srr_drop(skb);
	return nh == SL_IPPROTO_UDPLITE || nh == SL_IPPROTO_ICMPV6 ? sl_eg_pkt(skb) & 1 : 1;
}

/* ---- the TC backstop ---- */

/* The egress entry of source address of M (the backstop's key); NULL: none. */
static __always_inline const struct sl_eg_val *sl_eg_of_src(const struct sl_meta *m)
{
	if (m->family == 4) {
		struct sl_eg_src4 k = { .prefixlen = 32 };
		__u32 a = bpf_htonl(m->src4);

		__builtin_memcpy(k.addr, &a, 4);
		return bpf_map_lookup_elem(&eg_src4, &k);
	}
	struct sl_eg_src6 k6 = { .prefixlen = 128 };

	__builtin_memcpy(k6.addr, m->src6, 16);
	return bpf_map_lookup_elem(&eg_src6, &k6);
}

/*
 * Does the packet start something a socket hook would have judged? TCP
 * without a SYN (or a SYN-ACK: the answer of a server in the container)
 * cannot open a connection, a non-first fragment carries no header of its
 * own, ICMP errors answer a packet that came in, and IPv6 neighbour
 * discovery and MLD keep the link working: all of those pass.
 */
static __always_inline bool sl_eg_opens(struct __sk_buff *skb, const struct sl_meta *m)
{
	__u8 type;

	if (!m->has_l4)
		return false;
	switch (m->proto) {
	case SL_IPPROTO_TCP:
		/* SYN (0x02) without ACK (0x10) */
		return (m->tcp_flags & 0x12) == 0x02;
	case SL_IPPROTO_ICMP:
		if (bpf_skb_load_bytes(skb, m->l3_off + m->l4_off, &type, 1))
			return true;
		/* 3 unreachable, 4 quench, 5 redirect, 11 time exceeded, 12 parameter */
		return !(type == 3 || type == 4 || type == 5 || type == 11 || type == 12);
	case SL_IPPROTO_ICMPV6:
		if (bpf_skb_load_bytes(skb, m->l3_off + m->l4_off, &type, 1))
			return true;
		/* 1-4 errors; 130-132, 143 MLD; 133-137 neighbour discovery */
		return !(type < 128 || (type >= 130 && type <= 137) || type == 143);
	}
	return true;
}

/*
 * A packet the parser refused (M->reason), dropped by the backstop: counted
 * under its reason in tc's block of sl_drop_v2, as the firewall counts its
 * drops there, and reported. A global function: verified once, not once per
 * place the parser gives up.
 */
__noinline int sl_eg_malformed(struct __sk_buff *skb, const struct sl_meta *m)
{
	if (!m)
		return SL_TC_ACT_SHOT;
	sl_count(&sl_drop_v2, SLUICE_DROP_IDX(SLUICE_HOOK_TC, m->reason), skb->len);
	sl_event_emit(m->reason, skb->len, m, SLUICE_EV_NO_RULE, skb->ifindex, NULL);
	return SL_TC_ACT_SHOT;
}

SEC("tc")
int sl_eg_backstop(struct __sk_buff *skb)
{
	const struct sl_eg_val *v;
	struct sl_meta m;
	__u16 l3;

	/*
	 * Non-IP passes. What the parser refuses is dropped: the stack would not
	 * refuse it, but forward or deliver what the rules never saw (a first
	 * fragment too short for the TCP header, reassembled into a SYN; an IPv6
	 * chain longer than the parser walks). A device without a link-layer
	 * header (tun, wireguard) is parsed from its IP header: read as
	 * Ethernet, its packets were nearly all non-IP, and passed.
	 */
	l3 = sl_skb_l3(skb);
	switch (l3 ? sl_skb_parse_l3(skb, &m, l3) : sl_skb_parse(skb, &m)) {
	case SL_PARSE_NONIP:
		return SL_TCX_NEXT;
	case SL_PARSE_DROP:
		return sl_eg_malformed(skb, &m);
	}
	v = sl_eg_of_src(&m);
	if (!v || !sl_eg_opens(skb, &m))
		return SL_TCX_NEXT;
	if (sl_eg_judge(v, &m, SLUICE_EG_BACKSTOP, 0, skb->ifindex, skb->len) == SL_EG_ALLOW)
		return SL_TCX_NEXT;
	return SL_TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
