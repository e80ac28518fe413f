# SPDX-License-Identifier: GPL-2.0-only
"""Packet shapes the kernel makes for its offloads, through the firewall on
both hooks (`tc`, `xdp`), with real sockets.

fw runs a stateful `default: deny` policy that lets UDP to one port and TCP
to the echo server in. A veth hands tcx the sender's GSO packets whole (UDP
with UDP_SEGMENT: one 40 KB packet for 29 datagrams); on an XDP veth the
sender cuts them first (a veth with an XDP program that takes no frags
turns its peer's GSO off). With GRO on the receiving veth, the kernel
builds such packets itself, after XDP and before tcx. What the rule allows
must arrive whole, as separate datagrams; what it does not, not at all;
and what fw opens gets its replies back through conntrack (the egress
program sees fw's own GSO packets).
"""
import json
import os
import subprocess
import time

import pytest

from lib import traffic
from lib.netns import PYTHON, ns_cmd, run
from lib.policy import policy_yaml
from test_conntrack import TCP_PORT, Server

HERE = os.path.dirname(os.path.abspath(__file__))
UDPGSO = os.path.join(HERE, "lib", "udpgso.py")
ALLOWED, DENIED, ANSWER = 5340, 5341, 5342
SENDS = 5
PER_SEND = 29  # 40000 bytes in 1400-byte datagrams (udpgso.py)


def policy(topo, hook, interfaces=None, extra=""):
    return """firewall:
  interfaces: [%s]
  default: deny
  stateful: true
  hook: %s
  rules:
    - { name: gso-in, action: allow, proto: udp, dport: [%d] }
    - { name: echo-in, action: allow, proto: tcp, dport: [%d] }
    - { name: nd, action: allow, proto: icmpv6 }
%s""" % (", ".join('"%s"' % i for i in interfaces or [topo.glob]), hook, ALLOWED, TCP_PORT, extra)


def start(env, hook, interfaces=None, extra=""):
    env.agent.write_policy("10-test.yaml", policy(env.topo, hook, interfaces, extra))
    env.agent.start()


def gro_on(ns, dev):
    """GRO on DEV (a veth then receives in NAPI), UDP's too: datagrams to a
    local socket are merged into lists (rx-gro-list), forwarded ones into
    GSO packets (rx-udp-gro-forwarding)."""
    run(["ethtool", "-K", dev, "gro", "on", "rx-gro-list", "on",
         "rx-udp-gro-forwarding", "on"], ns=ns)


class Udp:
    """udpgso.py ARGS in NS, started; result() is its last line (closing its
    stdin: a receiver awaiting nothing stops then, after udpgso.py's grace)."""

    def __init__(self, ns, *args):
        self.proc = subprocess.Popen(ns_cmd(ns, [PYTHON, UDPGSO] + [str(a) for a in args]),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        if args[0] in ("recv", "answer"):
            line = self.proc.stdout.readline().strip()
            assert line == "ready", (line, self.result())

    def result(self):
        try:
            out, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        lines = out.split("\n")
        return (lines[-2] if len(lines) > 1 else "") or err.strip()


def udp_gso(topo, addr, caddr):
    """UDP GSO to fw at ADDR on the denied port, then on the allowed one
    (once all of those came, the denied one's have had their chance: its
    receiver stops), then fw's ask from fw to the client (CADDR) answered
    with GSO: what each got."""
    ok = Udp(topo.fw, "recv", addr, ALLOWED, SENDS * PER_SEND)
    no = Udp(topo.fw, "recv", addr, DENIED, 0)
    for port in (DENIED, ALLOWED):
        assert Udp(topo.client, "send", addr, port, SENDS).result() == "sent"
    got = ok.result(), no.result()
    ans = Udp(topo.client, "answer", caddr, ANSWER)
    asked = Udp(topo.fw, "ask", caddr, ANSWER, SENDS).result()
    assert ans.result() == "answered"
    return got + (asked,)


def quiet_drops(env, hook):
    """The drops on HOOK other than the default's: none expected."""
    drops = env.agent.stats()["hooks"][hook]["drops"]
    return {r: d["packets"] for r, d in drops.items()
            if r != "policy-default" and d["packets"]}


def count(topo, *what, ns=None, dev=None):
    """An nftables netdev ingress chain on fw's veth (after XDP, GRO and
    tcx; or on DEV in NS) counting the packets that match each of WHAT (one
    rule each): the shapes a test is about did reach the firewall.
    counted() reads the counters, in order."""
    run(["nft", "-f", "-"], ns=ns or topo.fw, input="""table netdev %scnt {
  chain c {
    type filter hook ingress device "%s" priority 0;
%s
  }
}
""" % (topo.pfx, dev or topo.fdev, "\n".join("    %s counter" % w for w in what)))


def counted(topo, ns=None, what="packets"):
    out = run(["nft", "-j", "list", "chain", "netdev", topo.pfx + "cnt", "c"], ns=ns or topo.fw)
    rules = [e["rule"] for e in json.loads(out.stdout)["nftables"] if "rule" in e]
    return [[x["counter"][what] for x in r["expr"] if "counter" in x][0] for r in rules]


WHOLE = "got %d %d %d" % (SENDS * PER_SEND, SENDS * 40000, 1400)


@pytest.mark.parametrize("gro", [False, True], ids=["gro-off", "gro-on"])
@pytest.mark.parametrize("hook", ["tc", "xdp"])
def test_udp_gso(env, hook, gro):
    """UDP_SEGMENT sends (40 KB in 1400-byte datagrams, 5 sends a port)
    from the client: to the allowed port every datagram arrives, as a
    datagram of its own; to the denied port none. fw's own GSO sends open
    conntrack entries on egress, and the client's GSO answers come back in
    whole. With GRO on fw's veth (UDP lists too), what XDP passed is
    merged after it."""
    t = env.topo
    if gro:
        gro_on(t.fw, t.fdev)
    count(t, "meta l4proto udp meta length > 1500")
    start(env, hook)
    for addr, caddr in ((t.f4, t.c4), (t.f6, t.c6)):
        ok, no, asked = udp_gso(t, addr, caddr)
        assert (ok, no, asked) == (WHOLE, "got 0 0 0", WHOLE), (addr, quiet_drops(env, hook))
    assert quiet_drops(env, hook) == {}
    # GSO packets came in whole (tc), or GRO made them (after XDP); an XDP
    # veth without GRO gets only datagrams
    assert (counted(t)[0] > 0) == (hook == "tc" or gro), counted(t)


# four NOPs (the kernel's IPv4 options come in words)
IP_NOPS = "01010100"
# a destination options header holding PadN (next header and length are the kernel's)
DSTOPTS_PADN = "0000010400000000"


@pytest.mark.parametrize("gro", [False, True], ids=["gro-off", "gro-on"])
@pytest.mark.parametrize("hook", ["tc", "xdp"])
def test_tcp_gso_with_ip_options_and_extension_headers(env, hook, gro):
    """TCP bulk (4 MiB each way) whose every packet carries IPv4 options or
    an IPv6 destination options header: the GSO packets tcx judges (or the
    segments XDP does, GRO merging them after it) have their L4 header past
    a longer IP header, and the fast path (0x45) is not theirs. All of it
    passes the allow rule and comes back by conntrack; nothing is dropped
    but by the default."""
    t = env.topo
    if gro:
        gro_on(t.fw, t.fdev)
    # the long ones, those with IPv4 options, those with destination options
    count(t, "meta l4proto tcp meta length > 1500", "ip hdrlength > 5", "exthdr dst exists")
    start(env, hook)
    local = Server(t.fw)
    try:
        for addr, opt in ((t.f4, IP_NOPS), (t.f6, DSTOPTS_PADN), (t.f4, ""), (t.f6, "")):
            got = bulk(t, addr, opt)
            assert got == "ok", (addr, opt, got, quiet_drops(env, hook))
    finally:
        local.close()
    assert quiet_drops(env, hook) == {}
    longs, opts4, opts6 = counted(t)
    assert (longs > 0) == (hook == "tc" or gro), counted(t)
    # every byte the client sent came with its options (how many packets
    # carried them depends on how much GRO merged: fewer under load)
    opts4, opts6 = counted(t, what="bytes")[1:]
    assert opts4 > (4 << 20) and opts6 > (4 << 20), counted(t, what="bytes")


def upper_device(topo, kind):
    """fw's addresses move from its veth to a device on top of it: a
    bridge with the veth as its port (frames from the port reach the
    bridge's own hooks), or a macvlan over the veth. Its name."""
    dev = topo.pfx + "f" + {"bridge": "br", "macvlan": "mv"}[kind]
    if kind == "bridge":
        run(["ip", "link", "add", dev, "type", "bridge"], ns=topo.fw)
        run(["ip", "link", "set", topo.fdev, "master", dev], ns=topo.fw)
    else:
        run(["ip", "link", "add", dev, "link", topo.fdev, "type", "macvlan",
             "mode", "bridge"], ns=topo.fw)
    run(["ip", "addr", "flush", "dev", topo.fdev], ns=topo.fw)
    run(["ip", "addr", "add", topo.f4 + "/24", "dev", dev], ns=topo.fw)
    run(["ip", "addr", "add", topo.f6 + "/64", "dev", dev, "nodad"], ns=topo.fw)
    run(["sysctl", "-qw", "net.ipv4.conf.%s.rp_filter=0" % dev], ns=topo.fw)
    run(["ip", "link", "set", dev, "up"], ns=topo.fw)
    # the client sends to the upper device's MAC: the veth under a
    # macvlan would answer ARP for it too (any local address), and what is
    # sent to the veth's own address never meets the macvlan
    mac = topo.mac(topo.fw, dev)
    for addr in (topo.f4, topo.f6):
        run(["ip", "neigh", "replace", addr, "lladdr", mac, "dev", topo.cdev,
             "nud", "permanent"], ns=topo.client)
    return dev


@pytest.mark.parametrize("kind", ["bridge", "macvlan"])
@pytest.mark.parametrize("hook", ["tc", "xdp"])
def test_firewall_on_a_bridge_or_macvlan(env, hook, kind):
    """The firewall on a bridge (frames its veth port takes in) or on a
    macvlan over the veth, not on the veth: tcx ingress, or generic XDP
    (neither device has native XDP), sees what the veth received, GSO
    packets and all. UDP GSO to the allowed port arrives whole, to the
    denied one not at all, fw's own GSO sends get their answers by
    conntrack (its egress program on the upper device), and TCP bulk
    passes both ways."""
    t = env.topo
    dev = upper_device(t, kind)
    start(env, hook, interfaces=[dev])
    it = [i for i in env.agent.status()["interfaces"]
          if i["name"] == dev and i["hook"] in ("xdp", "tc")]
    assert len(it) == 1 and it[0]["hook"] == hook, env.agent.status()["interfaces"]
    gso_and_bulk_pass(env, hook)


def bulk(topo, addr, opt=""):
    """4 MiB through fw's echo server and back, with IP options OPT
    (lib/traffic.py BULK)."""
    return traffic.bulk(topo.client, addr, TCP_PORT, mib=4, opt=opt)


def gso_and_bulk_pass(env, hook):
    """UDP GSO to the allowed port arrives whole, to the denied one not at
    all, fw's own GSO sends get their answers, TCP bulk passes both ways,
    IPv4 and IPv6; and the firewall dropped nothing but by its policy."""
    t = env.topo
    for addr, caddr in ((t.f4, t.c4), (t.f6, t.c6)):
        ok, no, asked = udp_gso(t, addr, caddr)
        assert (ok, no, asked) == (WHOLE, "got 0 0 0", WHOLE), (addr, quiet_drops(env, hook))
    local = Server(t.fw)
    try:
        for addr in (t.f4, t.f6):
            got = bulk(t, addr)
            assert got == "ok", (addr, got, quiet_drops(env, hook))
    finally:
        local.close()
    assert quiet_drops(env, hook) == {}


@pytest.mark.parametrize("gro", [False, True], ids=["gro-off", "gro-on"])
def test_syn_cookie_connections_with_and_without_checksum_offload(env, gro):
    """Every SYN to the echo port gets a SYN cookie (XDP writes the SYN-ACK,
    its checksums summed anew), and TC hands the listener the connection
    from the cookie's ACK. The client's veth leaves its checksums to
    offload (the SYN's TCP checksum is the pseudo header's sum: the cookie
    path must take it as right) or fills them in itself; either way, IPv4
    and IPv6, the connections complete and carry 4 MiB each way, GSO
    packets and all (with GRO on fw's veth, merged after XDP)."""
    t = env.topo
    if gro:
        gro_on(t.fw, t.fdev)
    start(env, "xdp", extra="conntrack:\n  syn-cookie-ports: [%d]\n" % TCP_PORT)
    local = Server(t.fw)
    try:
        for tx in ("on", "off"):
            run(["ethtool", "-K", t.cdev, "tx", tx], ns=t.client)
            for addr in (t.f4, t.f6):
                st0 = env.agent.cli("ct", "stats")
                got = bulk(t, addr)
                st = env.agent.cli("ct", "stats")
                assert got == "ok", (tx, addr, got, st, quiet_drops(env, "xdp"))
                assert st["syncookie_accepted"] == st0["syncookie_accepted"] + 1, (tx, addr, st)
    finally:
        local.close()
    assert env.agent.cli("ct", "stats")["syncookie_failed"] == 0
    assert quiet_drops(env, "xdp") == {}


GSOSIZE = os.path.join(HERE, "lib", "gsosize.py")
BIG = 185000


def big_tcp(topo):
    """GSO and GRO sizes of BIG on both veths: TCP sends GSO packets past
    64 KiB (lib/gsosize.py: Debian's iproute2 6.1 cannot set IPv4's)."""
    for ns, dev in ((topo.client, topo.cdev), (topo.fw, topo.fdev)):
        run([PYTHON, GSOSIZE, dev, str(BIG)], ns=ns)


def test_tc_hook_big_tcp(env):
    """BIG TCP: TCP sends GSO packets longer than an IP length field can
    say; an IPv4 one says total length 0, an IPv6 one payload length 0,
    and tcx sees them whole. Both pass the firewall (stateful, default
    deny): nftables, after it, counts them. Before, every IPv4 one was
    dropped as bad-ipv4-length, and iperf3 fell from 44 to 3.7 Gbit/s."""
    t = env.topo
    big_tcp(t)
    count(t, "meta protocol ip meta length > 65535", "meta protocol ip6 meta length > 65535")
    start(env, "tc")
    local = Server(t.fw)
    try:
        for family, addr in enumerate((t.f4, t.f6)):
            got = traffic.bulk(t.client, addr, TCP_PORT, mib=32)
            assert got == "ok", (addr, got, quiet_drops(env, "tc"))
            assert counted(t)[family] > 0, (addr, counted(t), quiet_drops(env, "tc"))
    finally:
        local.close()
    assert quiet_drops(env, "tc") == {}


def test_big_tcp_with_ip_options_and_extension_headers(env):
    """BIG TCP (test_tc_hook_big_tcp) with IPv4 options or an IPv6
    destination options header on every packet: GSO packets longer than an IP length field can
    say (IPv4 total length 0) whose L4 header is past a longer IP header.
    tcx lets them through whole: nftables after it counts them. (6.18 makes
    no IPv6 one past 64 KiB with the extension header, only GSO packets
    within it: they pass too.)"""
    t = env.topo
    big_tcp(t)
    count(t, "ip hdrlength > 5 meta length > 65535")
    start(env, "tc")
    local = Server(t.fw)
    try:
        for addr, opt in ((t.f4, IP_NOPS), (t.f6, DSTOPTS_PADN)):
            got = bulk(t, addr, opt)
            assert got == "ok", (addr, got, quiet_drops(env, "tc"))
    finally:
        local.close()
    assert quiet_drops(env, "tc") == {}
    assert counted(t)[0] > 0, counted(t)


BURSTS, SMALL = 100, 100  # 100 sends of 20 datagrams (udpgso.py burst)


@pytest.mark.parametrize("hook", ["tc", "xdp"])
def test_udp_gro_lists_with_ip_options_and_extension_headers(env, hook):
    """Small datagrams (100 bytes), with IPv4 options, an IPv6 destination
    options header or neither, 20 at a time to fw's veth with GRO lists on
    (the client's veth cuts its GSO sends itself): GRO chains them into one
    skb (its head: the first datagram; the others in its frag list), which
    tcx judges whole, and pulls (an extension header, less than 256 bytes
    linear). Every allowed one arrives as sent, of its own length; no
    denied one does."""
    t = env.topo
    gro_on(t.fw, t.fdev)
    run(["ethtool", "-K", t.cdev, "tx-udp-segmentation", "off"], ns=t.client)
    # merged: with IPv4 options, with destination options, all
    count(t, "meta l4proto udp ip hdrlength > 5 meta length > 1000",
          "meta l4proto udp exthdr dst exists meta length > 1000",
          "meta l4proto udp meta length > 1000")
    start(env, hook)
    intact = "got %d %d %d" % (BURSTS * 20, BURSTS * 20 * SMALL, SMALL)
    for addr, opt in ((t.f4, IP_NOPS), (t.f6, DSTOPTS_PADN), (t.f4, ""), (t.f6, "")):
        # denied first: once the allowed all came, its receiver stops (udp_gso)
        ok = Udp(t.fw, "recv", addr, ALLOWED, BURSTS * 20)
        no = Udp(t.fw, "recv", addr, DENIED, 0)
        for port in (DENIED, ALLOWED):
            assert Udp(t.client, "burst", addr, port, BURSTS, SMALL, opt).result() == "sent"
        got = ok.result(), no.result()
        assert got == (intact, "got 0 0 0"), (addr, opt, quiet_drops(env, hook))
    assert quiet_drops(env, hook) == {}
    # GRO merges no IPv4 packet with options (inet_gro_receive: 0x45 only)
    assert counted(t)[1] > 0 and counted(t)[2] > 0, counted(t)


def router(topo):
    """fw forwards between the client and a far host, PFX"h" (veth PFX"h0":
    198.51.100.2/24, 2001:db8:2::2/64; fw's end PFX"f1": ::1 and .1); the
    client routes the far network through fw. The far host's addresses."""
    far = topo.pfx + "h"
    topo._add_ns(far)
    topo.add_veth(topo.pfx + "h0", topo.pfx + "f1", ["198.51.100.2/24", "2001:db8:2::2/64"],
                  ["198.51.100.1/24", "2001:db8:2::1/64"], cns=far)
    run(["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"],
        ns=topo.fw)
    run(["ip", "route", "add", "198.51.100.0/24", "via", topo.f4], ns=topo.client)
    run(["ip", "route", "add", "2001:db8:2::/64", "via", topo.f6], ns=topo.client)
    # fw knows the far host's addresses before a test sends: else what it
    # forwards waits for neighbour discovery in a queue of ~200 KB (three of
    # five 40,000-byte sends), and the rest is dropped there, not by sluice
    mac = topo.mac(far, topo.pfx + "h0")
    for a in ("198.51.100.2", "2001:db8:2::2"):
        run(["ip", "neigh", "replace", a, "lladdr", mac, "dev", topo.pfx + "f1",
             "nud", "permanent"], ns=topo.fw)
    return far, ("198.51.100.2", "2001:db8:2::2")


def gro_policy(topo, hook):
    """Stateless `default: deny` on fw's veth: every packet meets the rules
    (UDP to ALLOWED, ICMPv6 for neighbour discovery)."""
    return policy_yaml(topo, [dict(name="gso-in", action="allow", proto="udp",
                                   dport=[str(ALLOWED)]),
                              dict(name="nd", action="allow", proto="icmpv6")],
                       default="deny", interfaces=[topo.fdev], hook=hook)


def reload_to(env, text, hooks):
    """Write the policy TEXT and wait until it is in force with HOOKS
    ({interface: "xdp" or "tc"}) the firewall's."""
    gen = env.agent.status()["generation"]
    env.agent.write_policy("10-test.yaml", text)
    env.agent.wait_generation(gen + 1, timeout=10)
    deadline = time.monotonic() + 10
    while True:
        now = {i["name"]: i["hook"] for i in env.agent.status()["interfaces"]
               if i["hook"] in ("xdp", "tc")}
        if now == hooks:
            return
        assert time.monotonic() < deadline, (now, hooks)
        time.sleep(0.1)


def test_forwarded_udp_gro(env):
    """fw a router, the firewall on the veth the client's traffic comes in
    by, with GRO and rx-udp-gro-forwarding on it (no GRO lists: forwarded
    datagrams are merged into UDP GSO packets). The client's veth cuts its
    UDP_SEGMENT sends itself (tx-udp-segmentation off), so the GSO packets
    fw forwards are GRO's: tcx judges them whole (fewer packets than
    datagrams on the allow rule); XDP judges the datagrams before GRO
    merges them. Either way, to the allowed port every datagram reaches
    the far host intact (count and sizes), to the denied one none (sent
    first, the default counted them, and nothing came to the far host's
    veth before the allowed ones did), IPv4 and IPv6; one agent, the hook
    moved by a reload."""
    t = env.topo
    far, addrs = router(t)
    run(["ethtool", "-K", t.cdev, "tx-udp-segmentation", "off"], ns=t.client)
    run(["ethtool", "-K", t.fdev, "gro", "on", "rx-gro-list", "off",
         "rx-udp-gro-forwarding", "on"], ns=t.fw)
    count(t, "meta l4proto udp udp dport %d meta length > 1500" % ALLOWED)
    count(t, "meta l4proto udp udp dport %d" % DENIED, ns=far, dev=t.pfx + "h0")
    for hook in ("xdp", "tc"):
        if hook == "xdp":
            env.agent.write_policy("10-test.yaml", gro_policy(t, hook))
            env.agent.start()
        else:
            reload_to(env, gro_policy(t, hook), {t.fdev: hook})
        it = [i["hook"] for i in env.agent.status()["interfaces"]
              if i["name"] == t.fdev and i["hook"] in ("xdp", "tc")]
        assert it == [hook], env.agent.status()["interfaces"]
        r0, long0 = env.agent.rules(), counted(t)[0]
        recv = [Udp(far, "recv", a, ALLOWED, SENDS * PER_SEND) for a in addrs]
        # the denied sends first: all that was let through came after them
        for port in (DENIED, ALLOWED):
            for a in addrs:
                assert Udp(t.client, "send", a, port, SENDS).result() == "sent"
        got = [ok.result() for ok in recv]
        r = env.agent.rules()
        assert got == [WHOLE] * 2, (hook, got, quiet_drops(env, hook))
        assert counted(t, far) == [0], (hook, quiet_drops(env, hook))
        assert quiet_drops(env, hook) == {}
        # GRO merged what the rule let through, before (tc) or after (xdp) the firewall
        assert counted(t)[0] > long0, (hook, counted(t))
        # each port's datagrams judged: tcx whole, as fewer packets; XDP one by one
        for rule in ("gso-in", "(default)"):
            packets = r[rule]["packets"] - r0[rule]["packets"]
            size = r[rule]["bytes"] - r0[rule]["bytes"]
            assert size > 2 * SENDS * 40000, (hook, rule, r0[rule], r[rule])
            if hook == "tc":
                assert packets < 2 * SENDS * PER_SEND, (hook, rule, r0[rule], r[rule])
            elif rule == "gso-in":
                assert packets == 2 * SENDS * PER_SEND, (hook, rule, r0[rule], r[rule])
