# SPDX-License-Identifier: GPL-2.0-only
"""The load balancer's test network: a client, the load balancer, backends.

    client PFX"c"   PFX"c0" 192.0.2.1/24, 2001:db8:1::1/64
                    routes 203.0.113.0/24 and 2001:db8:a::/64 (the VIPs) via the LB
    LB     PFX"l"   PFX"l0" 192.0.2.2/24, 2001:db8:1::2/64          (XDP: sluiced)
                    PFX"l<i>" 198.51.100.(16i+1)/28, 2001:db8:1<i>::1/64
    backend i       PFX"b<i>" 198.51.100.(16i+2)/28, 2001:db8:1<i>::2/64,
                    default routes via the LB (NAT replies go back through it)

Each backend runs `lbpeer.py serve b<i> PORT`. The traffic's own senders
leave checksums to "hardware" on a veth (CHECKSUM_PARTIAL); XDP sees the
frame as bytes and cannot finish them, so checksum offload is off on the
client's and the backends' veths, and GRO is on where XDP_REDIRECT lands
(a veth drops redirected frames without either GRO or an XDP program).
"""
import os
import subprocess
import time

from .netns import ns_cmd, ns_exists, run

PYTHON = "/usr/bin/python3"
PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lbpeer.py")
PORT = 8080


def backend_addr(i, family=4):
    return "198.51.100.%d" % (16 * i + 2) if family == 4 else "2001:db8:1%d::2" % i


class LbNet:
    def __init__(self, pfx, nbackends=3):
        self.pfx = pfx
        self.client = pfx + "c"
        self.lb = pfx + "l"
        self.backends = ["%sb%d" % (pfx, i) for i in range(1, nbackends + 1)]
        self.glob = pfx + "l*"
        self.created = []
        self.servers = {}

    def _ns(self, ns):
        if ns_exists(ns):
            run(["ip", "netns", "del", ns], check=False)
        run(["ip", "netns", "add", ns])
        self.created.append(ns)
        run(["ip", "link", "set", "lo", "up"], ns=ns)
        run(["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0",
             "net.ipv4.conf.default.rp_filter=0"], ns=ns)

    def _veth(self, a_ns, a, b_ns, b, a_addrs, b_addrs):
        run(["ip", "link", "add", a, "netns", a_ns, "type", "veth", "peer", "name", b,
             "netns", b_ns])
        for ns, dev, addrs in ((a_ns, a, a_addrs), (b_ns, b, b_addrs)):
            for addr in addrs:
                run(["ip", "addr", "add", addr, "dev", dev] + (["nodad"] if ":" in addr else []),
                    ns=ns)
            run(["ip", "link", "set", dev, "up"], ns=ns)

    def setup(self):
        p = self.pfx
        for ns in [self.client, self.lb] + self.backends:
            self._ns(ns)
        self._veth(self.client, p + "c0", self.lb, p + "l0",
                   ["192.0.2.1/24", "2001:db8:1::1/64"], ["192.0.2.2/24", "2001:db8:1::2/64"])
        run(["ip", "route", "add", "203.0.113.0/24", "via", "192.0.2.2"], ns=self.client)
        run(["ip", "-6", "route", "add", "2001:db8:a::/64", "via", "2001:db8:1::2"],
            ns=self.client)
        self._offloads(self.client, p + "c0")
        for i, ns in enumerate(self.backends, 1):
            self._veth(self.lb, "%sl%d" % (p, i), ns, "%sb%d" % (p, i),
                       ["198.51.100.%d/28" % (16 * i + 1), "2001:db8:1%d::1/64" % i],
                       ["198.51.100.%d/28" % (16 * i + 2), "2001:db8:1%d::2/64" % i])
            run(["ip", "route", "add", "default", "via", "198.51.100.%d" % (16 * i + 1)], ns=ns)
            run(["ip", "-6", "route", "add", "default", "via", "2001:db8:1%d::1" % i], ns=ns)
            self._offloads(ns, "%sb%d" % (p, i))
        run(["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"],
            ns=self.lb)
        return self

    @staticmethod
    def _offloads(ns, dev):
        run(["ethtool", "-K", dev, "tx", "off", "gro", "on"], ns=ns)

    # --- backend servers ------------------------------------------------

    def start_server(self, i, port=PORT, addr=None):
        """Start backend I's server (1-based; on ADDR alone if given) and wait until it listens."""
        p = subprocess.Popen(ns_cmd(self.backends[i - 1],
                                    [PYTHON, PEER, "serve", "b%d" % i, str(port)] +
                                    ([addr] if addr else [])),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
        line = p.stdout.readline()
        assert line.strip() == "ready", "backend b%d did not start" % i
        self.servers[(i, port, addr)] = p

    def stop_server(self, i, port=PORT, addr=None):
        """Stop that server of backend I (the PID this object started)."""
        p = self.servers.pop((i, port, addr), None)
        if p and p.poll() is None:
            p.kill()
            p.wait(timeout=10)

    def start_servers(self, port=PORT):
        for i in range(1, len(self.backends) + 1):
            self.start_server(i, port)

    # --- traffic ------------------------------------------------------------

    def peer(self, *args, ns=None, timeout=120):
        """Run lbpeer.py ARGS in the client namespace; its JSON output."""
        import json
        p = run([PYTHON, PEER] + [str(a) for a in args], ns=ns or self.client,
                timeout=timeout)
        return json.loads(p.stdout)

    def connect(self, vip, port, n, sport0=0, ns=None):
        """{source port: backend name} of N new connections to VIP:PORT."""
        return self.peer("connect", vip, port, n, sport0, ns=ns)

    def hold(self, vip, port, n):
        """A Holder of N open connections (close it)."""
        return Holder(self, vip, port, n)

    def destroy(self):
        for key in list(self.servers):
            self.stop_server(*key)
        for ns in reversed(self.created):
            run(["ip", "netns", "del", ns], check=False)
        self.created = []


class Holder:
    """N connections held open by one lbpeer.py in the client namespace."""

    def __init__(self, net, vip, port, n):
        import json
        self.json = json
        self.p = subprocess.Popen(ns_cmd(net.client, [PYTHON, PEER, "hold", vip, str(port),
                                                      str(n)]),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        assert line, "hold: %s" % self.p.stderr.read()
        self.names = json.loads(line)

    def ask(self):
        """One line on every connection: the answers, in order."""
        self.p.stdin.write("x\n")
        self.p.stdin.flush()
        return self.json.loads(self.p.stdout.readline())

    def close(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=10)


def wait_for(pred, timeout=10.0, step=0.1):
    """Poll PRED until it is true or TIMEOUT seconds passed; return its last value."""
    deadline = time.monotonic() + timeout
    v = pred()
    while not v and time.monotonic() < deadline:
        time.sleep(step)
        v = pred()
    return v
