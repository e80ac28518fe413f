# SPDX-License-Identifier: GPL-2.0-only
"""Headers on the real path: fragments, IPv6 extension headers, malformed
TCP. A non-first fragment carries no ports, so it matches rules on addresses
and protocol only, never a rule with ports; extension headers are walked to
the transport header; a chain that is too long or a TCP data offset below 5
is dropped and counted under its own reason.

Frames are counted by an AF_PACKET socket on the fw veth: fragments are
never delivered to a socket on their own."""
from lib.traffic import exchange

N = 4


def udp(tag, dport, src="192.0.2.1", dst="192.0.2.2", **kw):
    return dict(tag=tag, src=src, dst=dst, proto="udp", dport=dport, count=N, **kw)


def udp6(tag, dport, src="2001:db8:1::1", dst="2001:db8:1::2", **kw):
    return udp(tag, dport, src=src, dst=dst, **kw)


def drops(agent):
    return {k: v["packets"] for k, v in agent.stats()["hooks"]["xdp"]["drops"].items()}


def test_fragments_and_extension_headers(env):
    agent = env.start(default="allow", rules=[
        dict(name="deny-5001", action="deny", proto="udp", dport=["5001"]),
        dict(name="deny-src", action="deny", src=["203.0.113.66", "2001:db8:66::1"],
             proto="udp"),
    ])
    before = drops(agent)
    got = exchange(env.topo, [
        udp("frag4-5001", 5001, frag=100),
        udp("first4-5001", 5001, frag=0),
        udp("frag4-src", 5000, src="203.0.113.66", frag=100),
        udp6("frag6-5001", 5001, frag=100),
        udp6("first6-5001", 5001, frag=0),
        udp6("frag6-src", 5000, src="2001:db8:66::1", frag=100),
        udp6("ext6-5001", 5001, ext=["hop", "dst", "rt"]),
        udp6("ext6-5000", 5000, ext=["hop", "dst", "rt"]),
        udp6("ext6-too-long", 5000, ext=["dst"] * 9),
        dict(tag="tcp-doff", src="192.0.2.1", dst="192.0.2.2", proto="tcp", dport=80,
             count=N, bad="tcp-doff"),
    ], l2=True)
    assert got == {"frag4-5001": N, "first4-5001": 0, "frag4-src": 0,
                   "frag6-5001": N, "first6-5001": 0, "frag6-src": 0,
                   "ext6-5001": 0, "ext6-5000": N, "ext6-too-long": 0, "tcp-doff": 0}
    r = agent.rules()
    assert r["deny-5001"]["packets"] == 3 * N
    assert r["deny-src"]["packets"] == 2 * N
    after = drops(agent)
    assert after["ipv6-ext-chain-too-long"] - before["ipv6-ext-chain-too-long"] == N
    assert after["bad-tcp-doff"] - before["bad-tcp-doff"] == N
    assert after["policy-rule"] - before["policy-rule"] == 5 * N


def test_ipv4_mapped_source_cannot_pass_for_ipv4(env):
    """A rule denies 192.0.2.99; an IPv6 datagram from ::ffff:192.0.2.99
    reaches a dual-stack socket as from 192.0.2.99 (Linux delivers it), so
    it must not pass: dropped as ipv6-v4-mapped, on XDP, then on tc (the
    same section moved by a reload). On the code before, the socket
    received every one (no IPv6 rule names it)."""
    rules = [dict(name="deny-99", action="deny", src=["192.0.2.99"])]
    agent = env.start(default="allow", rules=rules)
    for hook in ("xdp", "tc"):
        if hook == "tc":
            env.to_tc(rules)
        before = agent.stats()["hooks"][hook]["drops"]["ipv6-v4-mapped"]["packets"]
        got = exchange(env.topo, [
            udp6("mapped", 5000, src="::ffff:192.0.2.99"),
            udp6("mapped-dst", 5000, dst="::ffff:192.0.2.2"),
            udp6("plain", 5000),
            udp("v4-99", 5000, src="192.0.2.99"),
        ])
        assert got == {"mapped": 0, "mapped-dst": 0, "plain": N, "v4-99": 0}, (hook, got)
        after = agent.stats()["hooks"][hook]["drops"]["ipv6-v4-mapped"]["packets"]
        assert after - before == 2 * N, (hook, before, after)
