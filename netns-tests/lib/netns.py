# SPDX-License-Identifier: GPL-2.0-only
"""Network namespaces joined by veth pairs, with documentation addresses.

Commands run inside a namespace through `nsenter --net=/run/netns/NAME`, never
`ip netns exec`: the latter remounts /sys, which hides the bpffs pins the
agent and the CLI work with.
"""
import json
import os
import subprocess

PYTHON = "/usr/bin/python3"


def run(cmd, ns=None, check=True, timeout=30, input=None):
    """Run CMD (a list), inside namespace NS when given; return the CompletedProcess."""
    if ns is not None:
        cmd = ["nsenter", "--net=/run/netns/" + ns] + list(cmd)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input)
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s%s" % (" ".join(cmd), p.returncode,
                                                 p.stdout, p.stderr))
    return p


def ns_cmd(ns, cmd):
    """The argv that runs CMD inside namespace NS (for Popen)."""
    return ["nsenter", "--net=/run/netns/" + ns] + list(cmd)


class LineProc:
    """A helper process inside namespace NS, talking line by line on its
    stdin and stdout; close() ends its stdin and waits for it (killed after
    TIMEOUT s)."""

    def __init__(self, ns, argv, timeout=60):
        self.timeout = timeout
        self.proc = subprocess.Popen(ns_cmd(ns, argv), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)

    def line(self):
        return self.proc.stdout.readline().strip()

    def say(self, text, answer=True):
        """Write the line TEXT; return the answer's line (ANSWER) or None."""
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self.line() if answer else None

    def close(self):
        try:
            self.proc.communicate(input="", timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()


def ns_exists(ns):
    return os.path.exists("/run/netns/" + ns)


def link_info(ns, dev):
    """`ip -d -j link show dev DEV` in NS as a dict, or None when absent."""
    p = run(["ip", "-d", "-j", "link", "show", "dev", dev], ns=ns, check=False)
    if p.returncode != 0:
        return None
    v = json.loads(p.stdout)
    return v[0] if v else None


def xdp_prog_id(ns, dev):
    """The id of the XDP program attached to DEV, or None when none is."""
    info = link_info(ns, dev)
    if not info or "xdp" not in info:
        return None
    xdp = info["xdp"]
    if "prog" in xdp:
        return xdp["prog"]["id"]
    for a in xdp.get("attached", []):
        if "prog" in a:
            return a["prog"]["id"]
    return None


class Topology:
    """Two namespaces, client and fw, joined by a veth pair.

    client: PFX"c", veth PFX"c0": 192.0.2.1/24, 2001:db8:1::1/64
    fw:     PFX"f", veth PFX"f0": 192.0.2.2/24, 2001:db8:1::2/64

    The fw-side veths are named PFX"f<n>" so that the policy glob PFX"f*"
    matches every veth the tests create there for the agent, and nothing
    else.
    """

    def __init__(self, pfx):
        self.pfx = pfx
        self.client = pfx + "c"
        self.fw = pfx + "f"
        self.cdev = pfx + "c0"
        self.fdev = pfx + "f0"
        self.glob = pfx + "f*"
        self.c4, self.f4 = "192.0.2.1", "192.0.2.2"
        self.c6, self.f6 = "2001:db8:1::1", "2001:db8:1::2"
        self.created = []

    def _add_ns(self, ns):
        if ns_exists(ns):
            # a leftover of an earlier run that had the same pid: ours by prefix
            run(["ip", "netns", "del", ns], check=False)
        run(["ip", "netns", "add", ns])
        self.created.append(ns)
        run(["ip", "link", "set", "lo", "up"], ns=ns)
        # spoofed test sources (203.0.113.x to 192.0.2.2) must not be dropped
        # by reverse-path filtering before they reach the socket
        for conf in ("all", "default"):
            run(["sysctl", "-qw", "net.ipv4.conf.%s.rp_filter=0" % conf], ns=ns)

    def setup(self):
        self._add_ns(self.client)
        self._add_ns(self.fw)
        self.add_veth(self.cdev, self.fdev, [self.c4 + "/24", self.c6 + "/64"],
                      [self.f4 + "/24", self.f6 + "/64"])
        return self

    def add_veth(self, cdev, fdev, caddrs, faddrs, findex=None, cns=None):
        """A veth pair CDEV (client, or namespace CNS) <-> FDEV (fw) with the
        given addresses, both up; FDEV with ifindex FINDEX when given."""
        cns = cns or self.client
        if findex is None:
            run(["ip", "link", "add", cdev, "netns", cns, "type", "veth",
                 "peer", "name", fdev, "netns", self.fw])
        else:
            # the index of the device named first (a peer's is not honoured)
            run(["ip", "link", "add", fdev, "netns", self.fw, "index", str(findex),
                 "type", "veth", "peer", "name", cdev, "netns", cns])
        for ns, dev, addrs in ((cns, cdev, caddrs), (self.fw, fdev, faddrs)):
            for a in addrs:
                cmd = ["ip", "addr", "add", a, "dev", dev]
                if ":" in a:
                    cmd.append("nodad")
                run(cmd, ns=ns)
            run(["sysctl", "-qw", "net.ipv4.conf.%s.rp_filter=0" % dev], ns=ns)
            run(["ip", "link", "set", dev, "up"], ns=ns)

    def mac(self, ns, dev):
        return link_info(ns, dev)["address"]

    def destroy(self):
        """Delete the namespaces; their veths go with them."""
        errors = []
        for ns in reversed(self.created):
            p = run(["ip", "netns", "del", ns], check=False)
            if p.returncode != 0 and ns_exists(ns):
                errors.append(p.stderr.strip())
        self.created = []
        if errors:
            raise RuntimeError("; ".join(errors))
