/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * tcx links (kernel 6.6+): uapi names the 6.1 headers this builds with lack,
 * and the one way sluice puts its programs in an interface's chain.
 */
#ifndef SLUICED_TCX_H
#define SLUICED_TCX_H

#include <bpf/bpf.h>

#define SL_BPF_TCX_INGRESS	46	/* enum bpf_attach_type */
#define SL_BPF_TCX_EGRESS	47
#define SL_BPF_LINK_TYPE_TCX	11	/* enum bpf_link_type */
#define SL_BPF_F_BEFORE		(1U << 3)	/* tcx: before RELATIVE, or first of all */

/*
 * A link of PROG_FD first in IFINDEX's tcx chain of TYPE: its fd, or -1
 * with errno. First, because a program before it that ends the chain
 * ("pass": a CNI's, say) would hide every packet it passes from sluice;
 * sluice's tcx programs return "next" for what they let go, so the
 * programs after them still run.
 */
static inline int tcx_link_first(int prog_fd, int ifindex, int type)
{
	LIBBPF_OPTS(bpf_link_create_opts, first, .flags = SL_BPF_F_BEFORE);

	return bpf_link_create(prog_fd, ifindex, type, &first);
}

#endif /* SLUICED_TCX_H */
