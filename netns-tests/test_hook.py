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

from lib.netns import PYTHON, run, xdp_prog_id
from test_conntrack import PEER, TCP_PORT, UDP_PORT, Server, TcpConn, ct_list, find, udp_from
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


# One TCP connection to the echo server: 1 MiB written at once (the kernel sends
# it as GSO packets: on a veth they arrive as skbs far longer than their linear
# part) and read back; prints "ok" or what it got.
BULK = """
import socket, sys, threading
n = 1 << 20
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
threading.Thread(target=s.sendall, args=(b"x" * n,), daemon=True).start()
got = 0
try:
    while got < n:
        d = s.recv(65536)
        if not d:
            break
        got += len(d)
except socket.timeout:
    pass
print("ok" if got == n else "got %d of %d" % (got, n), flush=True)
"""


def bulk(topo):
    return run([PYTHON, "-c", BULK, topo.f4, str(TCP_PORT)], ns=topo.client,
               timeout=60).stdout.strip()


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

