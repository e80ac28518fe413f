# SPDX-License-Identifier: GPL-2.0-only
"""VLAN tags the way the kernel's offloads carry them, where this kernel has
no VLAN devices (8021q neither built in nor a module): a tcx program on a
veth that pushes tags with bpf_skb_vlan_push (the outer one in the skb,
skb->vlan_tci, as a VLAN device on a device with tx-vlan-offload leaves it;
an inner one the push moves into the frame), or pops every tag (what the
VLAN device would do on receive, so the packets reach the sockets). Held by
a process of its own until close(); appended to the interface's chain, so
a pop on fw's ingress runs after the firewall."""
from lib.foreign_tcx import ATTACH_AND_HOLD, Attached, build_c

DOT1Q, DOT1AD = 0x8100, 0x88A8

SRC = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#define INSN(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), \
						.off = (o), .imm = (i) })
#define MOV_REG(d, s)	INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define MOV_IMM(d, i)	INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define CALL(f)		INSN(BPF_JMP | BPF_CALL, 0, 0, 0, f)

/* vlantcx IFNAME ATTACH_TYPE push|pop [PROTO VID]...: push the tags given,
 * innermost first (each push moves the one before into the frame), or pop
 * two (all this test sends); the packet goes on (TCX_NEXT). */
int main(int argc, char **argv)
{
	int type = atoi(argv[2]), n = 0, i;
	struct bpf_insn prog[32];

	prog[n++] = MOV_REG(BPF_REG_6, BPF_REG_1);
	if (!strcmp(argv[3], "push")) {
		for (i = 4; i + 1 < argc && n < 24; i += 2) {
			prog[n++] = MOV_REG(BPF_REG_1, BPF_REG_6);
			prog[n++] = MOV_IMM(BPF_REG_2, htons(strtol(argv[i], NULL, 0)));
			prog[n++] = MOV_IMM(BPF_REG_3, atoi(argv[i + 1]));
			prog[n++] = CALL(BPF_FUNC_skb_vlan_push);
		}
	} else {
		for (i = 0; i < 2; i++) {
			prog[n++] = MOV_REG(BPF_REG_1, BPF_REG_6);
			prog[n++] = CALL(BPF_FUNC_skb_vlan_pop);
		}
	}
	prog[n++] = MOV_IMM(BPF_REG_0, -1);
	prog[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);

	LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = type);
	int fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "vlantcx", "GPL", prog, n, &o);
""" + ATTACH_AND_HOLD


class VlanTcx(Attached):
    """On tcx DIRECTION of IFNAME in NS: push TAGS ([(proto, vid)], innermost
    first), or pop every tag when TAGS is None."""

    def __init__(self, tmp_path, ns, ifname, direction, tags=None):
        args = ["pop"] if tags is None else ["push"] + [str(x) for t in tags for x in t]
        super().__init__(ns, [build_c(tmp_path, "vlantcx", SRC), ifname, str(direction)] + args)
