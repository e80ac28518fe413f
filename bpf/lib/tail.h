/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A tail call whose key the verifier can see: bpf_tail_call(CTX, MAP, IDX)
 * with IDX written into the call's own instructions.
 *
 * A call site with one constant key is JITed as a direct jump, patched
 * whenever the slot changes; any other is an indirect jump, a retpoline on
 * kernels with that mitigation (measured in bench_xdp: docs/datapath.md).
 * Through bpf_tail_call() clang may merge two call sites into one with the
 * key in a register, and did: sluice_xdp's "conntrack or firewall" was one
 * indirect call. The inputs are kept out of r1-r5 by the clobbers, so
 * loading r1-r3 cannot overwrite one of them.
 */
#ifndef SLUICE_BPF_TAIL_H
#define SLUICE_BPF_TAIL_H

#define SL_BPF_FUNC_TAIL_CALL	12	/* BPF_FUNC_tail_call */

#define sl_tail_call(ctx, map, idx)						\
	asm volatile("r1 = %[c]\n\t"						\
		     "r2 = %[m]\n\t"						\
		     "r3 = %[k]\n\t"						\
		     "call %[f]"						\
		     : : [c] "r"(ctx), [m] "r"(map), [k] "i"(idx),		\
		       [f] "i"(SL_BPF_FUNC_TAIL_CALL)				\
		     : "r0", "r1", "r2", "r3", "r4", "r5", "memory")

#endif /* SLUICE_BPF_TAIL_H */
