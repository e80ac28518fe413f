/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * TCP options and checksums for the SYN cookie code (ct_cookie.h): a TCP
 * header copied off the frame (bpf_xdp_load_bytes takes any length up to
 * 60, where direct packet access would need a bound per option), its
 * options parsed with bpf_loop (verified once, whatever the option count),
 * and the one's complement sums of the TCP checksum.
 */
#ifndef SLUICE_BPF_CT_TCPOPT_H
#define SLUICE_BPF_CT_TCPOPT_H

#include "ct_key.h"

#define SL_CK_WS_NONE		0xf		/* cookie bits 3..0: no window scale */
#define SL_CK_WS_MAX		14		/* RFC 7323 */
#define SL_TCPOPT_EOL		0
#define SL_TCPOPT_NOP		1
#define SL_TCPOPT_MSS		2
#define SL_TCPOPT_WSCALE	3
#define SL_TCPOPT_SACK_PERM	4
#define SL_TCPOPT_TS		8
#define SL_TCPOLEN_MSS		4
#define SL_TCPOLEN_WSCALE	3
#define SL_TCPOLEN_SACK_PERM	2
#define SL_TCPOLEN_TS		10
#define SL_TCP_OPT_MAX		40		/* option space of a TCP header */


/*
 * A TCP header copied from the frame (bpf_xdp_load_bytes: any length up to
 * 60) and its options as parsed; the SYN-ACK is then built in BUF.
 */
struct sl_tcpopt {
	__u8 buf[64];
	__u32 len, off;		/* header length; the option being parsed */
	__u32 tsval, tsecr;	/* host order */
	__u16 mss;		/* 0: none */
	__u8 wscale;		/* SL_CK_WS_NONE: none */
	__u8 sack, ts;
};

/* bpf_loop's context must be on the stack: it points at the options. */
struct sl_tcpopt_loop {
	struct sl_tcpopt *o;
};

static __always_inline __u8 sl_tcpopt_byte(const struct sl_tcpopt *o, __u32 i)
{
	return o->buf[i & 63];
}

static __always_inline __u32 sl_tcpopt_be32(const struct sl_tcpopt *o, __u32 i)
{
	return (__u32)sl_tcpopt_byte(o, i) << 24 | (__u32)sl_tcpopt_byte(o, i + 1) << 16 |
	       (__u32)sl_tcpopt_byte(o, i + 2) << 8 | sl_tcpopt_byte(o, i + 3);
}

/* One option (bpf_loop callback: verified once, whatever the option count). */
static long sl_tcpopt_one(__u32 i, struct sl_tcpopt_loop *l)
{
	struct sl_tcpopt *o = l->o;
	__u32 off, len;
	__u8 kind;

	if (!o)
		return 1;
	off = o->off;
	if (off >= o->len || off >= SL_TCP_HLEN + SL_TCP_OPT_MAX)
		return 1;
	kind = sl_tcpopt_byte(o, off);
	if (kind == SL_TCPOPT_EOL)
		return 1;
	if (kind == SL_TCPOPT_NOP) {
		o->off = off + 1;
		return 0;
	}
	if (off + 1 >= o->len)
		return 1;
	len = sl_tcpopt_byte(o, off + 1);
	if (len < 2 || off + len > o->len)
		return 1;
	if (kind == SL_TCPOPT_MSS && len == SL_TCPOLEN_MSS) {
		o->mss = (__u16)(sl_tcpopt_byte(o, off + 2) << 8 | sl_tcpopt_byte(o, off + 3));
	} else if (kind == SL_TCPOPT_WSCALE && len == SL_TCPOLEN_WSCALE) {
		o->wscale = sl_tcpopt_byte(o, off + 2);
		if (o->wscale > SL_CK_WS_MAX)
			o->wscale = SL_CK_WS_MAX;
	} else if (kind == SL_TCPOPT_SACK_PERM && len == SL_TCPOLEN_SACK_PERM) {
		o->sack = 1;
	} else if (kind == SL_TCPOPT_TS && len == SL_TCPOLEN_TS) {
		o->ts = 1;
		o->tsval = sl_tcpopt_be32(o, off + 2);
		o->tsecr = sl_tcpopt_be32(o, off + 6);
	}
	o->off = off + len;
	return 0;
}

/* Copy the TCP header at L4OFF, LEN bytes (20..60) of it, into O and parse its options. */
static __always_inline int sl_tcpopt_load(struct xdp_md *ctx, __u32 l4off, __u32 len,
					  struct sl_tcpopt *o)
{
	__builtin_memset(o, 0, sizeof(*o));
	o->wscale = SL_CK_WS_NONE;
	if (len < SL_TCP_HLEN || len > SL_TCP_HLEN + SL_TCP_OPT_MAX)
		return -1;
	if (bpf_xdp_load_bytes(ctx, l4off, o->buf, len))
		return -1;
	o->len = len;
	o->off = SL_TCP_HLEN;
	if (len > SL_TCP_HLEN) {
		struct sl_tcpopt_loop l = { o };

		bpf_loop(SL_TCP_OPT_MAX, sl_tcpopt_one, &l, 0);
	}
	return 0;
}

/* A 64-bit one's complement sum folded to 16 bits, inverted: a checksum field. */
static __always_inline __u16 sl_ck_fold(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/*
 * The checksum of the TCP header TH of LEN bytes (its checksum field as it
 * is) with the pseudo header SRC -> DST (IPv4 in [0], the rest zero, which
 * adds nothing): 0 when the header's own checksum is right, else the value
 * for a zeroed checksum field.
 */
static __always_inline __u64 sl_ck_pseudo(const __u32 *src, const __u32 *dst, __u32 len)
{
	__u64 s = bpf_htonl(len) + bpf_htonl(SL_IPPROTO_TCP);

#pragma unroll
	for (int i = 0; i < 4; i++)
		s += (__u64)src[i] + dst[i];
	return s;
}

static __always_inline __u16 sl_ck_tcp_csum(const __u32 *src, const __u32 *dst, void *th,
					    __u32 len)
{
	__u64 s = sl_ck_pseudo(src, dst, len);
	__s64 c;

	if (len > SL_TCP_HLEN + SL_TCP_OPT_MAX)
		return 0xffff;
	c = bpf_csum_diff(NULL, 0, th, len, 0);
	if (c < 0)
		return 0xffff;
	return sl_ck_fold(s + (__u32)c);
}

#endif /* SLUICE_BPF_CT_TCPOPT_H */
