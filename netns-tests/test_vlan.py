# SPDX-License-Identifier: GPL-2.0-only
"""802.1Q and QinQ (802.1ad + 802.1Q) frames: XDP on the veth must classify
the inner IP header.

The kernel this was written on has no VLAN devices (8021q is neither built
in nor a module), so frames cannot be delivered to a socket behind a VLAN
subinterface everywhere. Instead an AF_PACKET socket on the fw veth counts what XDP passed to the
kernel. A datapath that did not parse VLAN tags would see non-IP frames and
pass them all: the denied frames would be counted and the test would fail.
test_tags_the_offloads_carry puts real sockets behind tags with tcx
programs that push and pop them (lib/vlantcx.py), as VLAN devices would.
"""
import pytest

from lib.foreign_tcx import EGRESS, INGRESS
from lib.netns import run
from lib.traffic import exchange
from lib.vlantcx import DOT1AD, DOT1Q, VlanTcx
from test_offload import gso_and_bulk_pass, reload_to, start, upper_device

N = 5


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


@pytest.mark.parametrize("txvlan", ["on", "off"])
@pytest.mark.parametrize("tags", ["q", "qq"])
@pytest.mark.parametrize("hook", ["tc", "xdp"])
def test_tags_the_offloads_carry(env, tmp_path, hook, tags, txvlan):
    """Real sockets behind tags, stateful `default: deny` (test_offload's
    policy). A VLAN device leaves its tag in the skb (skb->vlan_tci) when
    the device under it offloads tags, else the tag goes into the frame;
    a receiving device moves the outer tag back into the skb before tcx.
    No VLAN devices here: the client's veth pushes the tags on egress (an
    802.1Q one; or QinQ, 802.1ad outside, the inner 802.1Q then in the
    frame), with its tag offload on (the outer tag crosses the veth in the
    skb: XDP does not see it, tcx does not either) or off (in the frame
    up to XDP); after the firewall, a program on fw's ingress pops them
    as the VLAN device would, so the packets reach the sockets. UDP GSO to
    the allowed port arrives whole, to the denied one not at all, fw's
    own GSO sends get their answers, TCP bulk passes both ways."""
    t = env.topo
    run(["ethtool", "-K", t.cdev, "txvlan", txvlan, "tx-vlan-stag-hw-insert", txvlan],
        ns=t.client)
    if tags == "qq":
        # a veth takes a frame of its MTU with one tag: a second needs room
        # (as a QinQ link does), or full-sized frames with both tags in it
        # (offload off, unsegmented: XDP turns the client's GSO off) vanish
        run(["ip", "link", "set", t.cdev, "mtu", "1496"], ns=t.client)
    start(env, hook)
    push = [(DOT1Q, 10)] + ([(DOT1AD, 20)] if tags == "qq" else [])
    with VlanTcx(tmp_path, t.client, t.cdev, EGRESS, push), \
            VlanTcx(tmp_path, t.fw, t.fdev, INGRESS):
        gso_and_bulk_pass(env, hook)


def bridge_sections(topo, br, port_hook, bridge_hook):
    """Two sections, `default: allow`: the bridge port (the veth) denies UDP
    to 5001 on PORT_HOOK (None: no such section), the bridge device denies
    UDP to 5002 on BRIDGE_HOOK."""
    port = """  - name: port
    interfaces: ["%s"]
    hook: %s
    rules:
      - { name: port-deny, action: deny, proto: udp, dport: 5001 }
""" % (topo.fdev, port_hook)
    return """firewall:
%s  - name: bridge
    interfaces: ["%s"]
    hook: %s
    rules:
      - { name: bridge-deny, action: deny, proto: udp, dport: 5002 }
""" % (port if port_hook else "", br, bridge_hook)


def test_bridge_passing_tagged_frames_up(env, tmp_path):
    """fw's addresses on a bridge, its port the veth. This kernel's bridge
    has no VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING off: setting
    vlan_filtering 1 is EOPNOTSUPP), so a tagged frame crosses it as it
    came: the port's receive path moves the outer tag into skb->vlan_tci
    (before tcx and the bridge), the bridge passes the packet up to its
    own device with it there, and a pop after the firewall on the bridge's
    tcx ingress plays the VLAN device so it reaches the sockets. The client
    sends the tags in the frame (scapy): untagged, 802.1Q, and QinQ
    (802.1ad outside). One section on the port, one on the bridge device,
    on XDP and tc, then swapped by a reload: native XDP on the port sees
    every tag in the frame; tcx on the port and on the bridge sees the
    outer tag in skb->vlan_tci (vlan_present) and QinQ's inner one in the
    frame; generic XDP on the bridge parses the frame alone (the outer tag
    is out of its sight). IPv4 and IPv6: the allowed port gets every
    datagram at its socket, the port's and the bridge's denied ones none,
    and each deny rule counted each of them. A third tag, with only the
    bridge listed on XDP: its rules judge the packet behind the two tags
    it sees (no too-many-vlan-tags: docs/datapath.md)."""
    t = env.topo
    br = upper_device(t, "bridge")
    env.agent.write_policy("10-test.yaml", bridge_sections(t, br, "xdp", "tc"))
    env.agent.start()
    specs = []
    for name, vlans in (("none", []), ("q", [[DOT1Q, 10]]), ("qq", [[DOT1AD, 20], [DOT1Q, 30]])):
        for fam, src, dst in (("4", t.c4, t.f4), ("6", t.c6, t.f6)):
            # the allowed ones last: they arrived, so the denied would have
            specs += [spec("%s-%s-%d" % (name, fam, p), src, dst, p, vlans)
                      for p in (5001, 5002, 5000)]
    with VlanTcx(tmp_path, t.fw, br, INGRESS):
        for port_hook, bridge_hook in (("xdp", "tc"), ("tc", "xdp")):
            if port_hook == "tc":
                reload_to(env, bridge_sections(t, br, port_hook, bridge_hook),
                          {t.fdev: port_hook, br: bridge_hook})
            r0 = env.agent.rules()
            got = exchange(t, specs, fdev=br)
            r = env.agent.rules()
            assert got == {s["tag"]: N if s["dport"] == 5000 else 0 for s in specs}, \
                (port_hook, got)
            for rule in ("port-deny", "bridge-deny"):
                assert r[rule]["packets"] - r0[rule]["packets"] == 6 * N, (port_hook, rule, r)
    # a third tag: the port's hooks drop it (test_third_tag_dropped_on_both_hooks);
    # the bridge alone listed, generic XDP there sees two tags in the frame
    # and cannot see the third (vlan_present): the rules judge the packet
    reload_to(env, bridge_sections(t, br, None, "xdp"), {br: "xdp"})

    def judged():
        return (env.agent.rules()["bridge-deny"]["packets"],
                env.agent.stats()["hooks"]["xdp"]["drops"]["too-many-vlan-tags"]["packets"])

    before = judged()
    exchange(t, [spec("three", t.c4, t.f4, 5002, [[DOT1AD, 20], [DOT1Q, 30], [DOT1Q, 40]])],
             fdev=br)
    assert judged() == (before[0] + N, before[1]), (before, judged())
