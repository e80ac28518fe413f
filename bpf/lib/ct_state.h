/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Conntrack states and their timeouts: the TCP state machine (netfilter's,
 * without window tracking), when an entry has earned its place among the
 * assured connections, and when it is past its time.
 *
 * An entry's deadline is last_seen + the timeout of its state. The
 * datapath treats an entry past it as absent; each shard's sweeper deletes
 * it (ct_sweep.h) and only walks when the earliest deadline it knows has
 * passed, so a move to a *shorter* timeout tells the sweeper
 * (sl_ct_deadline); a longer one needs nothing.
 */
#ifndef SLUICE_BPF_CT_STATE_H
#define SLUICE_BPF_CT_STATE_H

#include <bpf/bpf_endian.h>

#include "ct_maps.h"
#include "parse.h"

#define SL_NSEC_PER_SEC		1000000000ull
#define SL_NSEC_PER_MSEC	1000000ull

/* TCP header flags (byte 13 of the header, struct sl_meta.tcp_flags). */
#define SL_TCP_FIN		0x01
#define SL_TCP_SYN		0x02
#define SL_TCP_RST		0x04
#define SL_TCP_PSH		0x08
#define SL_TCP_ACK		0x10
#define SL_TCP_ECE		0x40
#define SL_TCP_CWR		0x80
#define SL_TCP_HLEN		20	/* without options */
#define SL_TCP_OFF_SEQ		4	/* sequence number */
#define SL_TCP_OFF_ACK		8	/* acknowledgment number */

/* sl_ct_entry.fin_seen: one bit per direction (SL_CT_DIR_*). */
#define SL_CT_FIN_ORIG		(1 << SL_CT_DIR_ORIG)
#define SL_CT_FIN_REPLY		(1 << SL_CT_DIR_REPLY)
#define SL_CT_FIN_BOTH		(SL_CT_FIN_ORIG | SL_CT_FIN_REPLY)
/* and beside them, one bit per direction: its sl_ct_entry.seq_hi is known */
#define SL_CT_SEQ_KNOWN(dir)	(4 << (dir))
#define SL_CT_SEQ_BOTH		(SL_CT_SEQ_KNOWN(SL_CT_DIR_ORIG) | SL_CT_SEQ_KNOWN(SL_CT_DIR_REPLY))

/*
 * How far from where its sender's stream is (sl_ct_entry.seq_hi, in units
 * of 64 KiB) an RST or FIN may be and still end a connection, and how far
 * ahead one packet may move that place: 1 MiB either way, about what a
 * receive window allows in flight (a GRO or BIG TCP packet included). A
 * blind attacker who knows the 4-tuple but not the sequence numbers hits
 * it with 1 guess in ~2,000 (33 units of 65,536) instead of every time.
 */
#define SL_CT_SEQ_SLACK		16

/* The sweeper's tick: an eighth of the shortest timeout, within these bounds. */
#define SL_CT_TICK_DIV		8
#define SL_CT_TICK_MIN_NS	(250 * SL_NSEC_PER_MSEC)
#define SL_CT_TICK_MAX_NS	(5000 * SL_NSEC_PER_MSEC)

static __always_inline __u32 sl_ct_timeout_idx(__u8 state)
{
#define SL_CT_TO_CASE(st, name, to) case st: return to;
	switch (state) {
	SLUICE_CT_STATES(SL_CT_TO_CASE)
	}
#undef SL_CT_TO_CASE
	return SLUICE_CT_TO_ICMP;
}

/* The timeout of STATE in ns; a timeout of 0 in ct_cfg means "the default". */
static __always_inline __u64 sl_ct_timeout_ns(const struct sl_ct_config *cfg, __u8 state)
{
	__u32 i = sl_ct_timeout_idx(state), s = 0;

	if (cfg && i < SLUICE_CT_TO_MAX)
		s = cfg->timeout[i];
	if (!s) {
		switch (i) {
#define SL_CT_TO_DEFAULT(id, name, dflt) case SLUICE_##id: s = dflt; break;
		SLUICE_CT_TIMEOUTS(SL_CT_TO_DEFAULT)
#undef SL_CT_TO_DEFAULT
		}
	}
	return (__u64)s * SL_NSEC_PER_SEC;
}

/* Past its timeout: the datapath, the sweeper and `sluice ct list` agree. */
static __always_inline bool sl_ct_stale(const struct sl_ct_entry *e,
					const struct sl_ct_config *cfg, __u64 now)
{
	return (__s64)(now - e->last_seen) > (__s64)sl_ct_timeout_ns(cfg, e->state);
}

/*
 * An entry of SHARD may expire at END: wake its sweeper by then. Written
 * only when earlier than what the sweeper knows, so a steady stream of new
 * connections (each expiring later than the last) rarely writes.
 */
static __always_inline void sl_ct_deadline(__u32 shard, __u64 end)
{
	struct sl_ct_sweeper *s = bpf_map_lookup_elem(&ct_sweep, &shard);

	if (s && end < s->next)
		s->next = end;
}

/* The sweeper's tick: an eighth of the shortest timeout, 250 ms .. 5 s. */
static __always_inline __u64 sl_ct_tick_ns(const struct sl_ct_config *cfg)
{
	__u64 t, min = ~0ull;

	for (__u8 st = SL_CT_SYN_SENT; st < SL_CT_STATE_MAX; st++) {
		t = sl_ct_timeout_ns(cfg, st);
		if (t < min)
			min = t;
	}
	t = min / SL_CT_TICK_DIV;
	if (t < SL_CT_TICK_MIN_NS)
		t = SL_CT_TICK_MIN_NS;
	if (t > SL_CT_TICK_MAX_NS)
		t = SL_CT_TICK_MAX_NS;
	return t;
}

/*
 * Is a packet of E in direction DIR, seen on SIDE (SL_CT_OPENED_IN or _OUT;
 * 0: a reply the load balancer's flow vouches for), evidence of the other
 * end? A packet of the originator always is what it says; a reply only
 * when it was seen on the side replies travel (sl_ct_entry.opened): one
 * arriving where the connection's first packet arrived is what a blind
 * spoofer can send, never the host's own answer.
 */
static __always_inline bool sl_ct_proof(const struct sl_ct_entry *e, __u32 dir, __u8 side)
{
	return dir == SL_CT_DIR_ORIG || !side || e->opened != side;
}

/* TH's sequence (OFF: SL_TCP_OFF_SEQ) or acknowledgment number, in 64 KiB units. */
static __always_inline __u16 sl_ct_seq_unit(const __u8 *th, __u32 off)
{
	__be32 v;

	__builtin_memcpy(&v, th + off, 4);
	return bpf_ntohl(v) >> 16;
}

/*
 * Where the two streams are, from the ACK that completes the handshake (a
 * SYN cookie's ACK, a segment picked up leaving), TH, of the originator: its
 * sequence number is the originator's, its acknowledgment the responder's.
 */
static __always_inline void sl_ct_seq_start(struct sl_ct_entry *e, const __u8 *th)
{
	__u16 orig = sl_ct_seq_unit(th, SL_TCP_OFF_SEQ), reply = sl_ct_seq_unit(th, SL_TCP_OFF_ACK);

	e->seq_hi[SL_CT_DIR_ORIG] = orig;
	e->seq_hi[SL_CT_DIR_REPLY] = reply;
	e->fin_seen |= SL_CT_SEQ_BOTH;
}

/*
 * Follow DIR's stream with TH (an established connection, not an RST):
 * forward by at most SL_CT_SEQ_SLACK units a packet (a spoofed segment with
 * a guessed number cannot move it far: else one could carry an RST's
 * number to it), learnt from the first packet where not known (an entry
 * of an agent before seq_hi). A stream that jumps further between two
 * packets seen here (more than 1 MiB lost before the firewall) leaves it
 * behind: its RST and FIN then end nothing, the entry lives to its
 * timeout, its packets still pass.
 */
static __always_inline void sl_ct_seq_track(struct sl_ct_entry *e, __u32 dir, const __u8 *th)
{
	__u16 s = sl_ct_seq_unit(th, SL_TCP_OFF_SEQ), d;

	dir &= 1;
	if (!(e->fin_seen & SL_CT_SEQ_KNOWN(dir))) {
		e->seq_hi[dir] = s;
		e->fin_seen |= SL_CT_SEQ_KNOWN(dir);
		return;
	}
	d = s - e->seq_hi[dir];
	if (d && d <= SL_CT_SEQ_SLACK)
		e->seq_hi[dir] = s;
}

/*
 * May an RST or FIN of direction DIR (TH, or NULL) end the connection? Its
 * sequence number within SL_CT_SEQ_SLACK units of where DIR's stream is,
 * when that is known (else, and before the handshake completes, any does).
 * Netfilter marks an RST out of the receiver's window INVALID, even with
 * tcp_be_liberal: a third party who knows the 4-tuple cannot end the
 * connection with one guess; here neither, within the slack's odds. Such
 * a packet still passes (every packet of a tracked connection does): the
 * endpoint judges it (RFC 5961: a challenge ACK).
 */
static __always_inline bool sl_ct_seq_near(const struct sl_ct_entry *e, __u32 dir,
					   const __u8 *th)
{
	__u16 d;

	dir &= 1;
	if (!th || !(e->fin_seen & SL_CT_SEQ_KNOWN(dir)))
		return true;
	d = sl_ct_seq_unit(th, SL_TCP_OFF_SEQ) - e->seq_hi[dir] + SL_CT_SEQ_SLACK;
	return d <= 2 * SL_CT_SEQ_SLACK;
}

/*
 * A SYN (TH) opening E: what its answer must acknowledge (its sequence
 * number + 1), kept in syn_ack_seq until the SYN-ACK takes it over; the
 * originator's SEQ_KNOWN bit says it is there.
 */
static __always_inline void sl_ct_syn_note(struct sl_ct_entry *e, const __u8 *th)
{
	__be32 seq;

	__builtin_memcpy(&seq, th + SL_TCP_OFF_SEQ, 4);
	e->syn_ack_seq = bpf_htonl(bpf_ntohl(seq) + 1);
	e->fin_seen = SL_CT_SEQ_KNOWN(SL_CT_DIR_ORIG);
}

/*
 * Does a reply (TH, FLAGS) to a connection in syn-sent acknowledge its SYN?
 * Only then may it answer it: a SYN-ACK move it on, an RST end it (RFC 793:
 * in SYN-SENT an RST is acceptable if its ACK acknowledges the SYN; netfilter
 * checks the same through its window). A blind attacker must guess 32 bits.
 * Unknown (an entry of an agent before, a header not readable): yes.
 */
static __always_inline bool sl_ct_syn_acked(const struct sl_ct_entry *e, __u8 flags,
					    const __u8 *th)
{
	__be32 ack;

	if (!th || !(e->fin_seen & SL_CT_SEQ_KNOWN(SL_CT_DIR_ORIG)))
		return true;
	__builtin_memcpy(&ack, th + SL_TCP_OFF_ACK, 4);
	return (flags & SL_TCP_ACK) && ack == e->syn_ack_seq;
}

/* The states where seq_hi follows the streams (after the handshake). */
static __always_inline bool sl_ct_seq_state(__u8 state)
{
	return state == SL_CT_ESTABLISHED || state == SL_CT_FIN_WAIT || state == SL_CT_CLOSING;
}

/*
 * An established connection's packet (TH) in direction DIR: false when it
 * is an RST or FIN far from its stream (it moves nothing), else its stream
 * followed.
 */
static __always_inline bool sl_ct_seq_step(struct sl_ct_entry *e, __u32 dir, __u32 flags,
				      const __u8 *th)
{
	if (!e || !th)
		return true;
	if ((flags & (SL_TCP_RST | SL_TCP_FIN)) && !sl_ct_seq_near(e, dir, th))
		return false;
	if (!(flags & (SL_TCP_RST | SL_TCP_SYN)))
		sl_ct_seq_track(e, dir, th);
	return true;
}

/*
 * TCP: SYN (orig) -> syn-sent, SYN-ACK (reply) -> syn-recv, ACK (orig) ->
 * established; FIN in one direction -> fin-wait, in both -> closing; RST ->
 * closing. A SYN from the originator in closing starts over (port reuse).
 * After the handshake an RST or FIN moves nothing unless its sequence
 * number is near its stream (sl_ct_seq_near). TH is the TCP header
 * (SL_TCP_HLEN readable) or NULL. SIDE: where the packet was seen; a
 * SYN-ACK seen where no reply travels (sl_ct_proof) does not move the
 * handshake on.
 */
static __always_inline void sl_ct_tcp(struct sl_ct_entry *e, const struct sl_ct_config *cfg,
				      __u32 shard, __u32 dir, __u8 flags, const __u8 *th,
				      __u8 side)
{
	__u8 old = e->state, new = old;
	__be32 ack;

	if (th && sl_ct_seq_state(old) && !sl_ct_seq_step(e, dir, flags, th))
		return;
	if (flags & SL_TCP_RST) {
		if (old == SL_CT_SYN_SENT && dir == SL_CT_DIR_REPLY && !sl_ct_syn_acked(e, flags, th))
			return;
		new = SL_CT_CLOSING;
	} else if (flags & SL_TCP_SYN) {
		if (!(flags & SL_TCP_ACK)) {
			if (dir == SL_CT_DIR_ORIG && old == SL_CT_CLOSING) {
				new = SL_CT_SYN_SENT;
				e->fin_seen = 0;
				if (th)
					sl_ct_syn_note(e, th);
			}
		} else if (dir == SL_CT_DIR_REPLY && old == SL_CT_SYN_SENT &&
			   sl_ct_proof(e, dir, side) && sl_ct_syn_acked(e, flags, th)) {
			new = SL_CT_SYN_RECV;
			if (th)
				__builtin_memcpy(&e->syn_ack_seq, th + SL_TCP_OFF_SEQ, 4);
		}
	} else if (flags & SL_TCP_FIN) {
		e->fin_seen |= 1 << dir;
		if (old == SL_CT_SYN_RECV || old == SL_CT_ESTABLISHED || old == SL_CT_FIN_WAIT)
			new = (e->fin_seen & SL_CT_FIN_BOTH) == SL_CT_FIN_BOTH ? SL_CT_CLOSING :
										 SL_CT_FIN_WAIT;
	} else if ((flags & SL_TCP_ACK) && dir == SL_CT_DIR_ORIG && old == SL_CT_SYN_RECV) {
		/*
		 * Only the ACK of the responder's SYN-ACK completes the
		 * handshake: a blind spoofer does not know its sequence
		 * number, so a flood of SYN + guessed ACK stays unassured.
		 */
		if (!th)
			return;
		__builtin_memcpy(&ack, th + SL_TCP_OFF_ACK, 4);
		if (bpf_ntohl(ack) != bpf_ntohl(e->syn_ack_seq) + 1)
			return;
		new = SL_CT_ESTABLISHED;
		sl_ct_seq_start(e, th);
	}
	if (new == old)
		return;
	e->state = new;
	if (sl_ct_timeout_ns(cfg, new) < sl_ct_timeout_ns(cfg, old))
		sl_ct_deadline(shard, e->last_seen + sl_ct_timeout_ns(cfg, new));
}

/*
 * Has an unassured entry just earned its place among the assured ones
 * (netfilter's ASSURED)? TCP: its handshake completed (an RST or FIN of a
 * half-open connection does not count: a flood of SYN + RST pairs must not
 * move over). UDP: a datagram came back (DIR: the packet just seen). ICMP
 * echo: never, as in netfilter; the kernel answers every echo request, so
 * a reply to a spoofed one proves nothing.
 */
static __always_inline bool sl_ct_assured(const struct sl_ct_entry *e, __u8 proto, __u32 dir)
{
	if (proto == SL_IPPROTO_TCP)
		return e->state == SL_CT_ESTABLISHED;
	if (proto == SL_IPPROTO_UDP)
		return dir == SL_CT_DIR_REPLY;
	return false;
}

#endif /* SLUICE_BPF_CT_STATE_H */
