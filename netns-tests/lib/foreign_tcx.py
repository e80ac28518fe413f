# SPDX-License-Identifier: GPL-2.0-only
"""Someone else's tcx program (a CNI's, say) on an interface, for the tests of
where sluice's own tcx links go in the chain: a two-instruction program that
returns one verdict for every packet, attached the way libbpf 1.1 can (at
the end of the chain), held by a process of its own until close(). Or, with
direction XDP, someone else's XDP program, attached by a bpf_link."""
import subprocess

from lib.netns import LineProc

INGRESS, EGRESS = 46, 47        # enum bpf_attach_type: BPF_TCX_INGRESS, BPF_TCX_EGRESS
PASS, DROP = 0, 2               # TCX_PASS ends the chain; TCX_DROP drops
XDP, XDP_PASS = 37, 2           # BPF_XDP (an XDP link, not tcx); its verdict XDP_PASS

# The end of an attaching program's main(): the loaded program FD linked
# to interface argv[1] by attach TYPE, "attached" said, the link held until
# stdin ends (Attached).
ATTACH_AND_HOLD = r"""
	int link = fd < 0 ? -1 : bpf_link_create(fd, if_nametoindex(argv[1]), type, NULL);
	char c;

	if (link < 0) {
		perror(argv[0]);
		return 1;
	}
	puts("attached");
	fflush(stdout);
	while (read(0, &c, 1) > 0)
		;
	return 0;
}
"""

SRC = r"""
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <net/if.h>
#include <bpf/bpf.h>

int main(int argc, char **argv)
{
	int type = atoi(argv[2]);
	struct bpf_insn prog[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = atoi(argv[3]) },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = type);
	int fd = bpf_prog_load(type == BPF_XDP ? BPF_PROG_TYPE_XDP : BPF_PROG_TYPE_SCHED_CLS,
			       "foreign", "GPL", prog, 2, &o);
""" + ATTACH_AND_HOLD


def build_c(tmp_path, name, src):
    """The program NAME of C source SRC (with libbpf), compiled into TMP_PATH
    once; its path."""
    c, exe = tmp_path / (name + ".c"), tmp_path / name
    if not exe.exists():
        c.write_text(src)
        subprocess.run(["gcc", "-O1", "-Wall", "-Werror", "-o", str(exe), str(c), "-lbpf"],
                       check=True, capture_output=True, timeout=60)
    return str(exe)


def build(tmp_path):
    """The attaching program, compiled into TMP_PATH; its path."""
    return build_c(tmp_path, "foreign_tcx", SRC)


class Attached(LineProc):
    """ARGV in namespace NS: a program ending in ATTACH_AND_HOLD, its link
    made; close() ends it and the link."""

    def __init__(self, ns, argv):
        super().__init__(ns, argv, timeout=10)
        line = self.line()
        if line != "attached":
            self.close()
            raise RuntimeError("%s: %s %s" % (argv[0], line, self.proc.stderr.read()))

    def alive(self):
        return self.proc.poll() is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ForeignTcx(Attached):
    """A program returning VERDICT for every packet on tcx DIRECTION
    (INGRESS or EGRESS) of IFNAME in namespace NS, appended to the chain (or
    on XDP, DIRECTION XDP)."""

    def __init__(self, tmp_path, ns, ifname, direction=INGRESS, verdict=PASS):
        super().__init__(ns, [build(tmp_path), ifname, str(direction), str(verdict)])
