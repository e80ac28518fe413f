# SPDX-License-Identifier: GPL-2.0-only
"""The firewall on tcx ingress (`hook: tc`), with real sockets.

fw runs sluiced with `default: deny`, stateful, one rule letting TCP to fw's
echo server in; the client runs the same servers. What the rule allows gets
in, what it does not stays out, and the replies to what fw opens pass by
conntrack, all without an XDP program on the veth; a restart adopts the
pinned tcx link, and a section changing its hook moves the interface without
a moment unfiltered.
"""
import os
import time

from lib import traffic
from lib.netns import PYTHON, LineProc, run, xdp_prog_id
from test_conntrack import TCP_PORT, UDP_PORT, Server, TcpConn, ct_list, find, udp_from
from test_conntrack import server  # noqa: F401 (fixture)


def hook_policy(topo, hook):
    return """firewall:
  interfaces: ["%s"]
  default: deny
  hook: %s
  rules:
    - { name: echo-in, action: allow, proto: tcp, dport: [%d] }
""" % (topo.glob, hook, TCP_PORT)


def fw_iface(env):
    return [i for i in env.agent.status()["interfaces"] if i["name"] == env.topo.fdev
            and i["hook"] in ("xdp", "tc")]


def agent_links(env):
    """The bpf_links the agent holds, as the kernel describes them
    (/proc/PID/fdinfo): {link_id: (link_type, attach_type)}."""
    pid = env.agent.proc.pid
    links = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            # a link the agent made is "bpf_link", one it opened from its pin "bpf-link"
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) not in ("anon_inode:bpf_link",
                                                                 "anon_inode:bpf-link"):
                continue
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        info = {k.strip(): v.strip() for k, v in (ln.split(":", 1) for ln in lines if ":" in ln)}
        links[int(info["link_id"])] = (info.get("link_type"), info.get("attach_type"))
    return links


def tcx_ingress(env):
    return [i for i, (t, a) in agent_links(env).items()
            if t == "tcx" and a.split()[0] in ("46", "tcx_ingress")]


def bulk(topo):
    """1 MiB through fw's echo server and back (lib/traffic.py BULK)."""
    return traffic.bulk(topo.client, topo.f4, TCP_PORT)


def denied_udp(topo):
    """UDP from the client to fw's UDP echo: no rule allows it."""
    return udp_from(topo.client, topo.f4, port=UDP_PORT, timeout=1)


def wait_hook(env, hook, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        cur = fw_iface(env)
        if len(cur) == 1 and cur[0]["hook"] == hook:
            return cur[0]
        assert time.monotonic() < deadline, "%s not on %s: %s\n%s" % (
            env.topo.fdev, hook, cur, env.agent.log_text())
        time.sleep(0.1)


def test_tc_hook_filters_tracks_and_survives_restart(env, server):
    t = env.topo
    local = Server(t.fw)
    conn = held = None
    try:
        env.agent.write_policy("10-test.yaml", hook_policy(t, "tc"))
        env.agent.start()
        it = wait_hook(env, "tc")
        assert it["mode"] == "tcx", it
        assert xdp_prog_id(t.fw, t.fdev) is None, "XDP on the veth with hook: tc"
        # the firewall is the one tcx ingress program (no SYN cookie helper before it)
        assert tcx_ingress(env) == [it["link_id"]], (agent_links(env), it)

        # allowed by the rule: TCP to fw's echo server
        conn = TcpConn(t.client, t.f4)
        assert conn.first == "open", conn.first
        # packets longer than their skb's linear part are judged by their whole length
        assert bulk(t) == "ok"
        # denied: no rule for UDP, and it is counted as the default's drop
        before = env.agent.stats()["hooks"]["tc"]["drops"]["policy-default"]["packets"]
        assert denied_udp(t) == "timeout"
        after = env.agent.stats()["hooks"]["tc"]["drops"]["policy-default"]["packets"]
        assert after > before, (before, after)
        # stateful: the replies to what fw opens pass default deny
        assert udp_from(t.fw, t.c4) == "reply"
        held = TcpConn(t.fw, t.c4)
        assert held.first == "open", held.first
        tcp = find(ct_list(env, "--proto", "tcp"), "tcp", TCP_PORT)
        assert len(tcp) == 3, tcp
        # the bulk connection's entry counted whole packets (skb->len), both ways
        assert max(e["bytes"] for e in tcp) >= 2 << 20, tcp

        # a restart: the pinned tcx link goes on filtering, and is adopted as it is
        assert env.agent.stop() == 0
        assert denied_udp(t) == "timeout", "the firewall opened while the agent was down"
        down = TcpConn(t.client, t.f4)
        try:
            assert down.first == "open", down.first
        finally:
            down.end()
        env.agent.start()
        again = wait_hook(env, "tc")
        assert again["link_id"] == it["link_id"], (it, again)
        assert again["prog_id"] == it["prog_id"], (it, again)
        assert "adopted the pinned tcx link" in env.agent.log_text()
        assert held.close() == "closed"
        assert conn.close() == "closed"
        assert denied_udp(t) == "timeout"
    finally:
        for c in (conn, held):
            if c:
                c.end()
        local.close()


def test_hook_change_moves_the_interface(env, server):
    t = env.topo
    local = Server(t.fw)
    held = None
    try:
        env.agent.write_policy("10-test.yaml", hook_policy(t, "xdp"))
        env.agent.start()
        it = wait_hook(env, "xdp")
        assert xdp_prog_id(t.fw, t.fdev) is not None
        assert agent_links(env)[it["link_id"]][0] == "xdp", (agent_links(env), it)
        held = TcpConn(t.fw, t.c4)
        assert held.first == "open", held.first
        for hook in ("tc", "xdp", "tc"):
            gen = env.agent.status()["generation"]
            env.agent.write_policy("10-test.yaml", hook_policy(t, hook))
            env.agent.wait_generation(gen + 1, timeout=10)
            it = wait_hook(env, hook)
            assert (xdp_prog_id(t.fw, t.fdev) is None) == (hook == "tc"), hook
            assert agent_links(env)[it["link_id"]][0] == ("tcx" if hook == "tc" else "xdp"), \
                (hook, agent_links(env), it)
            assert (tcx_ingress(env) == [it["link_id"]]) == (hook == "tc"), \
                (hook, agent_links(env), it)
            # the same rules and connections on either hook
            assert denied_udp(t) == "timeout", hook
            c = TcpConn(t.client, t.f4)
            try:
                assert c.first == "open", (hook, c.first)
            finally:
                c.end()
        assert held.close() == "closed"
    finally:
        if held:
            held.end()
        local.close()


# Frames sent from a packet socket with a virtio-net header (PACKET_VNET_HDR)
# whose hdr_len says how many of their bytes are linear: the rest of a frame
# longer than a page is in pages, and arrives so at the veth's tcx ingress.
# argv: dev, dst MAC, src MAC, src, dst, then "udp PORT LINEAR" (5000 bytes of payload
# from port 40000), or "unreach UDPPORT LINEAR": waits for one datagram on
# UDPPORT (printing "ready" first) and answers it with an ICMP port
# unreachable padded to 5000 bytes. Prints "sent".
RAW = r"""
import socket, struct, sys

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def ip4(src, dst, proto, payload):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload

dev, dmac, smac, src, dst, kind, port, linear = sys.argv[1:9]
port, linear = int(port), int(linear)
if kind == "udp":
    data = b"u" * 5000
    pkt = ip4(src, dst, 17, struct.pack("!HHHH", 40000, port, 8 + len(data), 0) + data)
else:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((src, port))
    print("ready", flush=True)
    d, (peer, sport) = u.recvfrom(100)
    quoted = ip4(peer, src, 17, struct.pack("!HHHH", sport, port, 8 + len(d), 0) + d)
    body = quoted + b"q" * (5000 - len(quoted))
    icmp = struct.pack("!BBHI", 3, 3, 0, 0) + body
    pkt = ip4(src, dst, 1, icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:])
eth = bytes.fromhex(dmac.replace(":", "")) + bytes.fromhex(smac.replace(":", "")) + b"\x08\x00"
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
s.setsockopt(263, 15, 1)  # SOL_PACKET, PACKET_VNET_HDR
s.bind((dev, 0))
s.send(struct.pack("=BBHHHH", 0, 0, linear, 0, 0, 0) + eth + pkt)
print("sent", flush=True)
"""

# fw's side: "recv PORT": the size of the one datagram to f4:PORT, or
# "timeout"; "refused ADDR PORT": a connected UDP socket sends one datagram
# and says whether an ICMP error came back ("refused") or not ("timeout").
FW_UDP = r"""
import socket, sys
kind = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
try:
    if kind == "recv":
        s.bind((sys.argv[2], int(sys.argv[3])))
        print(len(s.recv(65536)), flush=True)
    else:
        s.connect((sys.argv[2], int(sys.argv[3])))
        s.send(b"hello")
        s.recv(100)
        print("answered", flush=True)
except ConnectionRefusedError:
    print("refused", flush=True)
except socket.timeout:
    print("timeout", flush=True)
"""

RAW_UDP_PORT = TCP_PORT + 7


def test_tc_hook_frames_past_the_linear_part(env):
    """Headers in the skb's pages, not its linear part, are pulled in where
    the firewall reads them (bpf_skb_pull_data), and only there: a UDP
    datagram with only its Ethernet header linear gets in (without the pull
    it would be dropped as a truncated IPv4 header), one with its headers
    linear and its payload in pages too (no pull), and an ICMP error whose
    headers are linear but whose quote of a tracked connection is not comes
    back to the socket that opened it (related; without the pull the quote
    is not found and default deny drops it)."""
    t = env.topo
    for ns, dev in ((t.client, t.cdev), (t.fw, t.fdev)):
        run(["ip", "link", "set", dev, "mtu", "9000"], ns=ns)
    env.agent.write_policy("10-test.yaml", """firewall:
  interfaces: ["%s"]
  default: deny
  hook: tc
  rules:
    - { name: raw-udp, action: allow, proto: udp, dport: [%d] }
""" % (t.glob, RAW_UDP_PORT))
    env.agent.start()
    wait_hook(env, "tc")
    fmac, cmac = t.mac(t.fw, t.fdev), t.mac(t.client, t.cdev)

    for linear in (14, 14 + 20 + 8):
        rx = LineProc(t.fw, [PYTHON, "-c", FW_UDP, "recv", t.f4, str(RAW_UDP_PORT)])
        try:
            time.sleep(0.3)
            out = run([PYTHON, "-c", RAW, t.cdev, fmac, cmac, t.c4, t.f4, "udp",
                       str(RAW_UDP_PORT), str(linear)], ns=t.client).stdout.strip()
            assert out == "sent", out
            assert rx.line() == "5000", (linear, env.agent.stats()["hooks"]["tc"])
        finally:
            rx.close()

    # fw opens a UDP flow to the client; the client answers with an error
    peer = LineProc(t.client, [PYTHON, "-c", RAW, t.cdev, fmac, cmac, t.c4, t.f4,
                               "unreach",
                               str(UDP_PORT), str(14 + 20 + 8)])
    try:
        assert peer.line() == "ready"
        got = run([PYTHON, "-c", FW_UDP, "refused", t.c4, str(UDP_PORT)], ns=t.fw,
                  timeout=15).stdout.strip()
        assert peer.line() == "sent"
        assert got == "refused", (got, env.agent.stats()["hooks"]["tc"])
    finally:
        peer.close()

