/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * tcx links (kernel 6.6+): uapi names the 6.1 headers this builds with lack,
 * and the one way sluice puts its programs in an interface's chain.
 */
#ifndef SLUICED_TCX_H
#define SLUICED_TCX_H

#include <stdbool.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

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

/*
 * Does IFINDEX's XDP hook run program ID, in any mode (ID 0: any program)?
 * 1 yes, 0 no, -errno when the kernel cannot say.
 */
static inline int xdp_runs(int ifindex, __u32 id)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	int err = bpf_xdp_query(ifindex, 0, &q);
	__u32 ids[4] = { q.prog_id, q.drv_prog_id, q.skb_prog_id, q.hw_prog_id };

	if (err)
		return err;
	for (int i = 0; i < 4; i++)
		if (ids[i] && (!id || ids[i] == id))
			return 1;
	return 0;
}

/*
 * Is the link of INFO (an XDP or tcx link on IFINDEX, ATTACH_TYPE: its tcx
 * attach type, or BPF_XDP) elsewhere than on this netns's IFINDEX? A link
 * stays on its device when the device moves to another netns, where the
 * device keeps its ifindex; a device of this netns may come to have the
 * same one (moved in, or created with that index) while the agent is
 * down, and the pin then names a link that filters nothing here. True only
 * when the kernel says so (a query that fails proves nothing: such a
 * link is adopted, never detached on a guess).
 */
static inline bool link_moved_away(const struct bpf_link_info *info, int ifindex,
				   int attach_type)
{
	__u32 ids[64], cnt = 64, flags = 0;

	if (attach_type == BPF_XDP)
		return !xdp_runs(ifindex, info->prog_id);
	if (bpf_prog_query(ifindex, attach_type, 0, &flags, ids, &cnt))
		return false;
	for (__u32 i = 0; i < cnt && i < 64; i++)
		if (ids[i] == info->prog_id)
			return false;
	return true;
}

#endif /* SLUICED_TCX_H */
