# SPDX-License-Identifier: GPL-2.0-only
"""Real traffic from the client namespace, counted where it arrives in fw.

Frames are crafted with scapy (send.py, run in the client namespace) and
counted by real sockets in the fw namespace (recv.py). TCP checks use the
kernel's stacks on both sides: a listening socket in fw and connect() from
the client with a short timeout.
"""
import json
import os
import subprocess
import tempfile
import threading
import time

from .netns import PYTHON, ns_cmd, run

HERE = os.path.dirname(os.path.abspath(__file__))
SEND = os.path.join(HERE, "send.py")
RECV = os.path.join(HERE, "recv.py")


class Receiver:
    """recv.py running in namespace NS; use as a context manager, then .counts.
    With PROGRESS, .arrived(tag) says how many have arrived so far."""

    def __init__(self, ns, udp=(), tcp=(), packet=(), max_seconds=30, progress=False):
        argv = [PYTHON, RECV, "--max-seconds", str(max_seconds)]
        if progress:
            argv.append("--progress")
        self.progress = progress
        self.live = {}
        self.lines = []
        for i in packet:
            argv += ["--packet", i]
        for p in udp:
            argv += ["--udp", str(p)]
        for p in tcp:
            argv += ["--tcp", str(p)]
        self.argv = ns_cmd(ns, argv)
        self.counts = None

    def __enter__(self):
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            _, err = self.proc.communicate(timeout=5)
            raise RuntimeError("receiver did not start: %s %s" % (line, err))
        if self.progress:
            self.reader = threading.Thread(target=self._read, daemon=True)
            self.reader.start()
        return self

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith("progress "):
                self.live = json.loads(line[len("progress "):])
            else:
                self.lines.append(line)

    def arrived(self, tag):
        """Packets of TAG received so far (needs PROGRESS)."""
        assert self.progress, "Receiver(progress=True) counts as it goes"
        return self.live.get(tag, 0)

    def __exit__(self, *exc):
        try:
            if self.progress:
                self.proc.stdin.close()
                self.proc.wait(timeout=40)
                self.reader.join(timeout=10)
                out, err = "".join(self.lines), self.proc.stderr.read()
            else:
                out, err = self.proc.communicate(input="", timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise
        if self.proc.returncode != 0:
            raise RuntimeError("receiver failed: %s" % err)
        self.counts = json.loads(out.strip().splitlines()[-1])
        return False


def send(ns, iface, dst_mac, specs):
    """Send the frames described by SPECS (see send.py) from NS on IFACE."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(specs, f)
        path = f.name
    try:
        p = run([PYTHON, SEND, "--iface", iface, "--dst-mac", dst_mac, path],
                ns=ns, timeout=60)
    finally:
        os.unlink(path)
    return int(p.stdout.strip())


def exchange(topo, specs, settle=0.3, cdev=None, fdev=None, l2=False):
    """Send SPECS from the client and return {tag: packets received in fw}.

    By default every spec must be UDP and is counted by a UDP socket bound to
    its dport (real delivery to an application). With L2, frames are counted
    by an AF_PACKET socket on FDEV instead: what XDP passed to the kernel.
    """
    cdev = cdev or topo.cdev
    fdev = fdev or topo.fdev
    ports = [] if l2 else sorted({s["dport"] for s in specs})
    dmac = topo.mac(topo.fw, fdev)
    with Receiver(topo.fw, udp=ports, packet=[fdev] if l2 else []) as r:
        send(topo.client, cdev, dmac, specs)
        time.sleep(settle)
    return {s["tag"]: r.counts.get(s["tag"], 0) for s in specs}


def probe_udp(topo, ports=(5000, 5001), count=5):
    """COUNT UDP datagrams from the client to each of PORTS: {"PORT": received}."""
    s = dict(src=topo.c4, dst=topo.f4, proto="udp", count=count)
    return exchange(topo, [dict(s, tag=str(p), dport=p) for p in ports])


CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()
    print("connected")
except OSError as e:
    print("failed", e)
"""


def tcp_connect(topo, addr, port, timeout=1.0, ns=None):
    """connect() from NS (the client by default) to ADDR:PORT."""
    p = run([PYTHON, "-c", CONNECT, addr, str(port), str(timeout)], ns=ns or topo.client,
            timeout=timeout + 10)
    return p.stdout.startswith("connected")


def tcp_reachable_from_fw(topo, addr, port, timeout=1.0):
    """Can the fw host open a connection to a listener on ADDR:PORT in the
    client? Its SYN leaves unfiltered; the SYN-ACK comes back through XDP."""
    with Receiver(topo.client, tcp=[port]) as r:
        ok = tcp_connect(topo, addr, port, timeout, ns=topo.fw)
    got = r.counts.get("tcp:%d" % port, 0)
    if ok and not got:
        raise AssertionError("fw says connected but the client listener accepted nothing")
    return ok


def tcp_reachable(topo, addr, port, timeout=1.0):
    """Is a TCP listener on ADDR:PORT in fw reachable from the client?

    True only when the client's connect() succeeded AND the listener accepted
    it: both ends agree, so nothing else (a stray listener) can fake it.
    """
    with Receiver(topo.fw, tcp=[port]) as r:
        ok = tcp_connect(topo, addr, port, timeout)
    got = r.counts.get("tcp:%d" % port, 0)
    if ok != (got > 0):
        raise AssertionError("client says %s but listener accepted %d" % (ok, got))
    return ok


class Stream:
    """A paced stream of frames from the client while the test does something
    else (restart, reload); .counts holds what arrived once the block ends.

        with Stream(topo, specs, inter=0.005) as s:
            s.wait_arrived("allowed")     # traffic flows (scapy builds frames first)
            ...restart the agent...
        s.counts
    """

    def __init__(self, topo, specs, inter=0.005, settle=0.3, max_seconds=60):
        self.topo, self.specs, self.inter, self.settle = topo, specs, inter, settle
        self.max_seconds = max_seconds
        self.counts = None

    def __enter__(self):
        ports = sorted({s["dport"] for s in self.specs})
        self.recv = Receiver(self.topo.fw, udp=ports, max_seconds=self.max_seconds,
                             progress=True)
        self.recv.__enter__()
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(self.specs, f)
            self.path = f.name
        dmac = self.topo.mac(self.topo.fw, self.topo.fdev)
        self.proc = subprocess.Popen(
            ns_cmd(self.topo.client, [PYTHON, SEND, "--iface", self.topo.cdev, "--dst-mac",
                                      dmac, "--inter", str(self.inter), "--interleave",
                                      self.path]),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return self

    def running(self):
        return self.proc.poll() is None

    def arrived(self, tag):
        """Packets of TAG that have arrived so far."""
        return self.recv.arrived(tag)

    def wait_arrived(self, tag, n=1, timeout=30):
        """Wait until N packets of TAG have arrived (traffic really flows)
        while the sender still runs; returns how many have."""
        deadline = time.monotonic() + timeout
        while self.arrived(tag) < n:
            assert self.running(), "the stream ended with %d of %s arrived" % (
                self.arrived(tag), tag)
            assert time.monotonic() < deadline, "%d of %s arrived in %s s" % (
                self.arrived(tag), tag, timeout)
            time.sleep(0.02)
        return self.arrived(tag)

    def __exit__(self, *exc):
        try:
            out, err = self.proc.communicate(timeout=self.max_seconds)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise
        finally:
            os.unlink(self.path)
            time.sleep(self.settle)
            self.recv.__exit__(None, None, None)
        if self.proc.returncode != 0:
            raise RuntimeError("sender failed: %s" % err)
        self.counts = {s["tag"]: self.recv.counts.get(s["tag"], 0) for s in self.specs}
        return False


# One TCP connection from the namespace to an echo server at ADDR PORT: MIB
# MiB written at once (the kernel sends it as GSO packets: on a veth they
# arrive as skbs far longer than their linear part) and read back; with OPT
# (hex; "" none), IP options on it (IP_OPTIONS for IPv4, IPV6_DSTOPTS for
# IPv6: the kernel copies them into every segment). Prints "ok" or what it
# got.
BULK = """
import socket, sys, threading
addr, port, mib, opt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), bytes.fromhex(sys.argv[4])
n = mib << 20
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
if opt:
    if fam == socket.AF_INET:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, opt)
    else:
        s.setsockopt(socket.IPPROTO_IPV6, 59, opt)  # IPV6_DSTOPTS
s.settimeout(10)
s.connect((addr, port))
threading.Thread(target=s.sendall, args=(b"x" * n,), daemon=True).start()
got = 0
try:
    while got < n:
        d = s.recv(1 << 20)
        if not d:
            break
        got += len(d)
except OSError as e:
    print("error after %d of %d: %s" % (got, n, e), flush=True)
    sys.exit(0)
print("ok" if got == n else "got %d of %d" % (got, n), flush=True)
"""


def bulk(ns, addr, port, mib=1, opt=""):
    """BULK from namespace NS to ADDR PORT: "ok" or what went wrong."""
    return run([PYTHON, "-c", BULK, addr, str(port), str(mib), opt], ns=ns,
               timeout=60).stdout.strip()
