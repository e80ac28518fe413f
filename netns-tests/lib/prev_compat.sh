#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# prev_compat.sh SRC: make a release that test_upgrade.py starts from (the
# Makefile's PREV_REVS, unpacked in SRC) load on a kernel that refuses XDP
# programs bpf_xdp_adjust_meta() outright (this project's 6.18 CI kernel
# does: "program of this type cannot use helper"). Those releases handed SYN
# cookie ACKs to TC in the XDP metadata; each call becomes a failure the
# compiler cannot fold away, which the release takes as a driver without
# metadata room: it answers no SYN with a cookie. The upgrade tests are about
# maps, state and links; no cookie is in play. Nothing else changes.
set -eu
src=$1
for f in $(grep -rl 'bpf_xdp_adjust_meta(' "$src/bpf" || true); do
	perl -0pi -e '
		s/bpf_xdp_adjust_meta\(/sl_prev_no_meta(/g;
		s/^((?:#include [^\n]*\n)+)/$1\n\/* prev_compat.sh: the kernel refuses bpf_xdp_adjust_meta *\/\nstatic __always_inline long sl_prev_no_meta(void *ctx, int delta)\n{\n\tvolatile long r = -1;\n\n\t(void)ctx;\n\t(void)delta;\n\treturn r;\n}\n/m' "$f"
done
