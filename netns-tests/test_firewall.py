# SPDX-License-Identifier: GPL-2.0-only
"""Stateless firewall, end to end: allow, deny, default, first match, IPv6, TCP.

Every test sends real frames from the client namespace into the fw-side veth
(where XDP runs) and counts what reached real sockets in the fw namespace,
then checks that the per-rule counters of `sluice rule list -j` moved for the
rule that decided.
"""
import time

from lib.netns import run
from lib.traffic import exchange, tcp_reachable

N = 5


def udp(tag, dport, src="192.0.2.1", dst="192.0.2.2", count=N, **kw):
    return dict(tag=tag, src=src, dst=dst, proto="udp", dport=dport, count=count, **kw)


def udp6(tag, dport, src="2001:db8:1::1", dst="2001:db8:1::2", count=N, **kw):
    return udp(tag, dport, src=src, dst=dst, count=count, **kw)


def test_allow_rule(env):
    agent = env.start(default="deny", rules=[
        dict(name="allow-udp", action="allow", src=["192.0.2.1"], proto="udp",
             dport=["5000", "6000-6010"]),
    ])
    got = exchange(env.topo, [udp("in", 5000), udp("range", 6005), udp("range-end", 6010),
                              udp("out", 5001), udp("past-range", 6011),
                              udp("other-src", 5000, src="192.0.2.3")])
    assert got == {"in": N, "range": N, "range-end": N, "out": 0, "past-range": 0,
                   "other-src": 0}
    r = agent.rules()
    assert r["allow-udp"]["packets"] == 3 * N
    assert r["allow-udp"]["bytes"] >= 3 * N * 28
    assert r["(default)"]["packets"] >= 3 * N


def test_deny_rule(env):
    agent = env.start(default="allow", rules=[
        dict(name="deny-udp", action="deny", dst=["192.0.2.2"], proto="udp", dport=["5001"]),
    ])
    got = exchange(env.topo, [udp("ok", 5000), udp("denied", 5001),
                              udp6("v6-ok", 5001)])
    assert got == {"ok": N, "denied": 0, "v6-ok": N}
    r = agent.rules()
    assert r["deny-udp"]["packets"] == N
    assert r["(default)"]["packets"] >= 2 * N


def test_default_allow(env):
    agent = env.start(default="allow")
    got = exchange(env.topo, [udp("v4", 5000), udp6("v6", 5000),
                              udp("spoofed", 5000, src="203.0.113.9")])
    assert got == {"v4": N, "v6": N, "spoofed": N}
    assert agent.rules()["(default)"]["packets"] >= 3 * N
    assert tcp_reachable(env.topo, "192.0.2.2", 8080)


def test_default_deny(env):
    agent = env.start(default="deny")
    got = exchange(env.topo, [udp("v4", 5000), udp6("v6", 5000),
                              udp("spoofed", 5000, src="203.0.113.9")])
    assert got == {"v4": 0, "v6": 0, "spoofed": 0}
    assert agent.rules()["(default)"]["packets"] >= 3 * N
    assert not tcp_reachable(env.topo, "192.0.2.2", 8080, timeout=1.0)
    # ARP is not IP: it passes even under default deny, so the client
    # resolves the fw address (the neighbour entry gets the fw MAC)
    t = env.topo
    run(["ip", "neigh", "flush", "dev", t.cdev], ns=t.client)
    run(["/usr/bin/python3", "-c",
         "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
         ".sendto(b'x', ('192.0.2.2', 5000))"], ns=t.client)
    mac = t.mac(t.fw, t.fdev)
    for _ in range(50):
        p = run(["ip", "neigh", "show", "192.0.2.2", "dev", t.cdev], ns=t.client)
        if mac in p.stdout and "INCOMPLETE" not in p.stdout:
            break
        time.sleep(0.05)
    assert mac in p.stdout, p.stdout


def test_first_match_deny_before_allow(env):
    # the broader deny comes first: it wins over the narrower allow after it
    agent = env.start(default="allow", rules=[
        dict(name="deny-net", action="deny", src=["192.0.2.0/24"], proto="udp",
             dport=["5000"]),
        dict(name="allow-host", action="allow", src=["192.0.2.1"], proto="udp",
             dport=["5000"]),
    ])
    got = exchange(env.topo, [udp("a", 5000), udp("b", 5001)])
    assert got == {"a": 0, "b": N}
    r = agent.rules()
    assert r["deny-net"]["packets"] == N
    assert r["allow-host"]["packets"] == 0


def test_first_match_allow_before_deny(env):
    agent = env.start(default="deny", rules=[
        dict(name="allow-host", action="allow", src=["192.0.2.1"], proto="udp",
             dport=["5000"]),
        dict(name="deny-net", action="deny", src=["192.0.2.0/24"], proto="udp",
             dport=["5000", "5001"]),
        dict(name="allow-all", action="allow", proto="udp"),
    ])
    got = exchange(env.topo, [udp("host", 5000), udp("neighbour", 5000, src="192.0.2.7"),
                              udp("host-5001", 5001), udp("host-5002", 5002)])
    assert got == {"host": N, "neighbour": 0, "host-5001": 0, "host-5002": N}
    r = agent.rules()
    assert r["allow-host"]["packets"] == N
    assert r["deny-net"]["packets"] == 2 * N
    assert r["allow-all"]["packets"] == N


def test_ipv6_allow_deny(env):
    agent = env.start(default="deny", rules=[
        dict(name="deny-v6-net", action="deny", src=["2001:db8:1::/64"], proto="udp",
             dport=["5001"]),
        dict(name="allow-udp", action="allow", proto="udp", dport=["5000", "5001"]),
        dict(name="allow-v6-host", action="allow", src=["2001:db8:2::5"],
             dst=["2001:db8:1::2"]),
    ])
    got = exchange(env.topo, [
        udp6("v6-5000", 5000), udp6("v6-5001", 5001),
        udp6("v6-other-net", 5001, src="2001:db8:2::9"),
        udp6("v6-5002", 5002), udp6("v6-host-5002", 5002, src="2001:db8:2::5"),
        udp("v4-5001", 5001)])
    assert got == {"v6-5000": N, "v6-5001": 0, "v6-other-net": N, "v6-5002": 0,
                   "v6-host-5002": N, "v4-5001": N}
    r = agent.rules()
    assert r["deny-v6-net"]["packets"] == N
    assert r["allow-udp"]["packets"] == 3 * N
    assert r["allow-v6-host"]["packets"] == N


def test_tcp_connect(env):
    agent = env.start(default="allow", rules=[
        dict(name="deny-8081", action="deny", proto="tcp", dport=["8081"]),
        dict(name="allow-8080", action="allow", dst=["192.0.2.2", "2001:db8:1::2"],
             proto=["tcp", "udp"], dport=["8080"]),
    ])
    assert tcp_reachable(env.topo, "192.0.2.2", 8080)
    assert tcp_reachable(env.topo, "2001:db8:1::2", 8080)
    assert not tcp_reachable(env.topo, "192.0.2.2", 8081, timeout=1.0)
    assert not tcp_reachable(env.topo, "2001:db8:1::2", 8081, timeout=1.0)
    r = agent.rules()
    # SYN, ACK, FIN... of two connections; SYN retransmits of two attempts
    assert r["allow-8080"]["packets"] >= 2 * 3
    assert r["deny-8081"]["packets"] >= 2


def test_icmp_protocols_and_source_ports(env):
    """icmp is IPv4 ICMP only, icmpv6 is IPv6 ICMP only; sport matches the
    source port. Counted at AF_PACKET level: echo requests reach no socket."""
    agent = env.start(default="deny", rules=[
        dict(name="icmp4", action="allow", proto="icmp"),
        dict(name="dns-replies", action="allow", proto="udp", sport=["53", "5353"]),
    ])
    got = exchange(env.topo, [
        dict(tag="echo4", src="192.0.2.1", dst="192.0.2.2", proto="icmp", count=N),
        dict(tag="echo6", src="2001:db8:1::1", dst="2001:db8:1::2", proto="icmp", count=N),
        udp("sport-53", 40000, sport=53),
        udp6("sport-5353", 40000, sport=5353),
        udp("sport-54", 40000, sport=54),
    ], l2=True)
    assert got == {"echo4": N, "echo6": 0, "sport-53": N, "sport-5353": N, "sport-54": 0}
    r = agent.rules()
    assert r["icmp4"]["packets"] == N
    assert r["dns-replies"]["packets"] == 2 * N
