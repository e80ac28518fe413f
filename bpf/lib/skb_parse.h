/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The parser (parse.h) on a TC program's skb: headers past the linear part
 * are pulled in once and the frame is parsed again. Shared by the TC egress
 * program (conntrack) and the egress backstop.
 */
#ifndef SLUICE_BPF_SKB_PARSE_H
#define SLUICE_BPF_SKB_PARSE_H

#include "parse.h"

#define SL_TC_ACT_OK	0
#define SL_TC_ACT_SHOT	2
/* Enough for Ethernet, two tags, IPv6 with a few extension headers, TCP with options. */
#define SL_TC_PULL	256

/* Parse SKB's frame into M: SL_PARSE_IP, _NONIP or _DROP (M->reason says why). */
static __always_inline int sl_skb_parse(struct __sk_buff *skb, struct sl_meta *m)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	__u32 want;
	int res;

	/* lengths against skb->len: a GSO packet's payload is in pages */
	__builtin_memset(m, 0, sizeof(*m));
	res = sl_parse_len(data, data_end, skb->len, m);
	if (res != SL_PARSE_DROP || skb->len <= (__u32)(data_end - data))
		return res;
	want = skb->len < SL_TC_PULL ? skb->len : SL_TC_PULL;
	if (bpf_skb_pull_data(skb, want))
		return res;
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	__builtin_memset(m, 0, sizeof(*m));
	return sl_parse_len(data, data_end, skb->len, m);
}

#endif /* SLUICE_BPF_SKB_PARSE_H */
