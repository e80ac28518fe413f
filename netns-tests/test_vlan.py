# SPDX-License-Identifier: GPL-2.0-only
"""802.1Q and QinQ (802.1ad + 802.1Q) frames: XDP on the veth must classify
the inner IP header.

The kernel this was written on has no VLAN devices (8021q is neither built
in nor a module), so frames cannot be delivered to a socket behind a VLAN
subinterface everywhere. Instead an AF_PACKET socket on the fw veth counts what XDP passed to the
kernel. A datapath that did not parse VLAN tags would see non-IP frames and
pass them all: the denied frames would be counted and the test would fail.
"""
from lib.traffic import exchange

N = 5
DOT1Q = 0x8100
DOT1AD = 0x88A8


def spec(tag, src, dst, dport, vlans):
    return dict(tag=tag, src=src, dst=dst, proto="udp", dport=dport, count=N, vlans=vlans)


def test_vlan_8021q_and_qinq(env):
    agent = env.start(default="allow", rules=[
        dict(name="deny-5001", action="deny", proto="udp", dport=["5001"]),
        dict(name="deny-dst", action="deny", dst=["198.51.100.2", "2001:db8:4::2"],
             proto="udp", dport=["5002"]),
    ])
    q = [[DOT1Q, 100]]
    qq = [[DOT1AD, 200], [DOT1Q, 300]]
    got = exchange(env.topo, [
        spec("q-ok", "203.0.113.1", "203.0.113.2", 5000, q),
        spec("q-deny", "203.0.113.1", "203.0.113.2", 5001, q),
        spec("q6-ok", "2001:db8:3::1", "2001:db8:3::2", 5000, q),
        spec("q6-deny", "2001:db8:3::1", "2001:db8:3::2", 5001, q),
        spec("qq-ok", "198.51.100.1", "198.51.100.2", 5000, qq),
        spec("qq-deny", "198.51.100.1", "198.51.100.2", 5001, qq),
        spec("qq-deny-dst", "198.51.100.1", "198.51.100.2", 5002, qq),
        spec("qq-other-dst", "198.51.100.1", "198.51.100.3", 5002, qq),
        spec("qq6-ok", "2001:db8:4::1", "2001:db8:4::2", 5000, qq),
        spec("qq6-deny", "2001:db8:4::1", "2001:db8:4::2", 5002, qq),
        # 802.1Q over 802.1Q (old-style QinQ) is two tags as well
        spec("q1q-deny", "203.0.113.1", "203.0.113.2", 5001, [[DOT1Q, 10], [DOT1Q, 20]]),
    ], l2=True)
    assert got == {"q-ok": N, "q-deny": 0, "q6-ok": N, "q6-deny": 0,
                   "qq-ok": N, "qq-deny": 0, "qq-deny-dst": 0, "qq-other-dst": N,
                   "qq6-ok": N, "qq6-deny": 0, "q1q-deny": 0}
    r = agent.rules()
    assert r["deny-5001"]["packets"] == 4 * N
    assert r["deny-dst"]["packets"] == 2 * N


def test_third_tag_dropped_on_both_hooks(env):
    """A third tag is too-many-vlan-tags on XDP and on tcx alike: the kernel
    moves a frame's outer tag into the skb before tcx, so the tc parser sees
    two and would classify the inner packet (on the code before, tc let
    these through by the rules: 0 counted). Two tags stay classified."""
    rules = [dict(name="deny-5001", action="deny", proto="udp", dport=["5001"])]
    agent = env.start(default="allow", rules=rules)
    three = [[DOT1AD, 200], [DOT1Q, 300], [DOT1Q, 400]]
    qq = [[DOT1AD, 200], [DOT1Q, 300]]
    for hook in ("xdp", "tc"):
        if hook == "tc":
            env.to_tc(rules)

        def depth():
            return agent.stats()["hooks"][hook]["drops"]["too-many-vlan-tags"]["packets"]

        before, rule_before = depth(), agent.rules()["deny-5001"]["packets"]
        exchange(env.topo, [spec("three", "203.0.113.1", "203.0.113.2", 5000, three),
                            spec("qq-deny", "198.51.100.1", "198.51.100.2", 5001, qq)],
                 l2=True)
        assert depth() - before == N, hook
        assert agent.rules()["deny-5001"]["packets"] - rule_before == N, hook
