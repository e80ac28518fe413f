# SPDX-License-Identifier: GPL-2.0-only
"""The firewall on a device without a link-layer header (a tun device here;
wireguard, ipip and gre are the same): the kernel hands its hooks the
packet from its IP header. Read as Ethernet, such a packet is what the
first octets of its source address say, nearly always not IP, and passed
whatever the policy: a `default: deny` firewall on a VPN interface let
everything in. Pings written into the device must get the verdicts the
policy gives them on an Ethernet device, IPv4 and IPv6, whatever the
section's hook; and, stateful, what the host opens through the device must
be tracked on its way out, so that its answers come back in.
"""
import os

import pytest

from lib.cgroups import egress_yaml
from lib.netns import LineProc, PYTHON

HERE = os.path.dirname(os.path.abspath(__file__))
ADDR4, ADDR6 = "198.51.100.1", "2001:db8:77::1"
PEER4, BAD4 = "198.51.100.2", "198.51.100.66"
PEER6, BAD6 = "2001:db8:77::2", "2001:db8:77::66"


def tun_policy(dev, default, hook, stateful=False):
    return ("firewall:\n"
            "  interfaces: [%s]\n"
            "  default: %s\n"
            "  stateful: %s\n"
            "  hook: %s\n"
            "  rules:\n"
            "    - name: deny-bad\n"
            "      action: deny\n"
            "      src: [%s, %s]\n"
            "    - name: allow-peer\n"
            "      action: allow\n"
            "      src: [%s, %s]\n" % (dev, default, "true" if stateful else "false", hook,
                                  BAD4, BAD6, PEER4, PEER6))


@pytest.fixture
def tun(env):
    dev = env.topo.pfx + "tun"
    peer = LineProc(env.topo.fw, [PYTHON, os.path.join(HERE, "lib", "tunpeer.py"), dev,
                                  "--addr4", ADDR4, "--addr6", ADDR6])
    try:
        assert peer.line() == "ready", peer.proc.stderr.read()
        yield dev, peer
    finally:
        peer.close()


def pings(peer, last):
    """{source: "reply" or "none"} of pings from each source, LAST's sent
    last: one the test expects answered (once its reply came, those before
    it had their chance: tunpeer.py's pings)."""
    srcs = [s for s in (PEER4, BAD4, "198.51.100.3", PEER6, BAD6, "2001:db8:77::3")
            if s != last] + [last]
    return dict(zip(srcs, peer.say("pings " + " ".join(srcs)).split()))


@pytest.mark.parametrize("hook", ["tc", "xdp"])
@pytest.mark.parametrize("default", ["deny", "allow"])
def test_firewall_on_a_device_without_ethernet_header(env, tun, default, hook):
    """tc parses from the IP header; `hook: xdp` (generic XDP there sees the
    same bytes with nothing to tell it so) runs on tcx instead."""
    dev, peer = tun
    env.agent.write_policy("10-test.yaml", tun_policy(dev, default, hook))
    env.agent.start()
    it = [i for i in env.agent.status()["interfaces"] if i["name"] == dev]
    assert it and it[0]["hook"] == "tc", env.agent.status()
    other = "reply" if default == "allow" else "none"
    assert pings(peer, PEER6) == {PEER4: "reply", BAD4: "none", "198.51.100.3": other,
                           PEER6: "reply", BAD6: "none", "2001:db8:77::3": other}
    st = env.agent.stats()["hooks"]["tc"]
    assert st["drops"]["policy-rule"]["packets"] == 2, st
    assert st["drops"]["policy-default"]["packets"] == (2 if default == "deny" else 0), st
    assert st["verdicts"]["pass-non-ip"]["packets"] == 0, st


def test_conntrack_on_a_device_without_ethernet_header(env, tun):
    """Stateful, `default: deny`: the egress program tracks what the host
    opens through such a device, so the answers from a peer no rule allows
    come back in; the peer's own pings stay denied."""
    dev, peer = tun
    env.agent.write_policy("10-test.yaml", tun_policy(dev, "deny", "tc", stateful=True))
    env.agent.start()
    assert peer.say("udp4 198.51.100.3") == "reply"
    assert peer.say("udp6 2001:db8:77::3") == "reply"
    # the allowed peer's answered ping last: those before it had their chance
    assert peer.say("pings 198.51.100.3 2001:db8:77::3 %s" % PEER6) == "none none reply"
    flows = env.agent.cli("ct", "list")["entries"]
    assert len([f for f in flows if f["proto"] == "udp" and f["dport"] == 5000]) == 2, flows


def test_backstop_on_a_device_without_ethernet_header(env, tun, cgroups):
    """The egress backstop on such a device judges its packets by source, as
    on a veth: pings from the addresses of an entry that denies everything
    get no answer, from an address no entry lists they do. Read as Ethernet,
    every packet there was non-IP and passed."""
    dev, peer = tun
    app = cgroups.make("l3bs")
    env.agent.write_policy("20-egress.yaml", egress_yaml([
        dict(name="l3bs", cgroup=app, default="deny",
             backstop={"interfaces": [dev], "src": [PEER4, PEER6]})]))
    env.agent.start()
    assert [i for i in env.agent.status()["interfaces"]
            if i["name"] == dev and i["hook"] == "egress-backstop"], env.agent.status()
    assert pings(peer, BAD6) == {PEER4: "none", BAD4: "reply", "198.51.100.3": "reply",
                           PEER6: "none", BAD6: "reply", "2001:db8:77::3": "reply"}
    st = env.agent.stats()
    assert st["egress"]["tc-backstop"]["denied"] == 2, st["egress"]
    assert st["hooks"]["tc"]["drops"]["egress-default"]["packets"] == 2, st["hooks"]["tc"]
