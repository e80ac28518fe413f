# SPDX-License-Identifier: GPL-2.0-only
"""Socket-level load balancing: a process in a managed cgroup that connects
(or sends, UDP) to a VIP of `loadbalancers` is connected straight to a
backend chosen by the service's Maglev table, the XDP load balancer's own.

The network is the load balancer's (lib/lbnet.py): client, LB (sluiced),
three backends whose servers answer their own name. The client gets routes
to the backends themselves: a socket-balanced connection carries the
backend's address from its first packet, the LB namespace only forwards it.
"""
import pytest

from lib.cgroups import Cgroups, egress_yaml, probe
from lib.lbnet import backend_addr
from lib.netns import run
from test_lb import VIP4, VIP6, backends_yaml, lb_list, lb_policy, lbenv, web  # noqa: F401

UDP_PORT = 5353


@pytest.fixture
def lbcg(lbenv):
    cg = Cgroups(lbenv.net.pfx)
    try:
        yield lbenv, cg
    finally:
        cg.cleanup()


def names(results):
    """{backend name: calls} of results; every call must have succeeded."""
    out = {}
    for r in results:
        assert r["result"] == "ok", r
        out[r["reply"]] = out.get(r["reply"], 0) + 1
    return out


def test_socket_lb_weights_peer_drain_udp(lbcg):
    """600 connects to the VIP from a managed cgroup land on the backends by
    weight (1:2:1), each connected straight to its backend with getpeername()
    saying the VIP; a drained backend gets no new connection; UDP sendto() and
    recvfrom() translate likewise; IPv6 too; the VIP is what the policy judges."""
    env, cgroups = lbcg
    net = env.net
    run(["ip", "route", "add", "198.51.100.0/24", "via", "192.0.2.2"], ns=net.client)
    run(["ip", "-6", "route", "add", "2001:db8:10::/44", "via", "2001:db8:1::2"], ns=net.client)
    app = cgroups.make("app")
    udp = ("  - name: dns4\n    vip: %s\n    port: %d\n    proto: udp\n    backends:\n%s\n" %
           (VIP4, UDP_PORT, backends_yaml(4)))
    policy = lb_policy(net, web(4) + web(6) + udp) + egress_yaml([
        dict(name="app", cgroup=app, default="deny", rules=[
            {"action": "allow", "dst": [VIP4, VIP6], "proto": ["tcp", "udp"],
             "dport": ["80", str(UDP_PORT)]}])])
    agent = env.agent(net.lb, "lb", policy)

    n = 600
    tcp = [dict(op="tcp", addr=VIP4, port=80, ask=True) for _ in range(n)]
    res = probe(net.client, app, tcp)
    got = names(res)
    assert set(got) == {"b1", "b2", "b3"}, got
    # weights 1:2:1: each socket lands on a table entry as at random (its cookie's
    # hash), so each count is binomial; within 5 standard deviations of its mean
    # (a false alarm ~1e-6 a run; 150 connects at 3.4 did fail once), while equal
    # weights (b2 at 200) or another backend doubled fall far outside
    for name, share in (("b1", 0.25), ("b2", 0.5), ("b3", 0.25)):
        mean, sd = n * share, (n * share * (1 - share)) ** 0.5
        assert abs(got[name] - mean) <= 5 * sd, (name, got)
    assert all(r["peer"] == [VIP4, 80] for r in res), res[:3]
    # the same Maglev table as XDP: its per-backend new flows count them
    lb = lb_list(agent)["web4"]
    assert sum(b["new_flows"] for b in lb.values()) >= n, lb

    # a port of the VIP the policy does not allow: refused at once, before any balancing
    assert probe(net.client, app, [dict(op="tcp", addr=VIP4, port=81)])[0]["result"] == "EPERM"

    # UDP: each datagram to the VIP goes to a backend, the answer reads as from the VIP
    ures = probe(net.client, app, [dict(op="udpreq", addr=VIP4, port=UDP_PORT, tag="u%d" % i)
                                   for i in range(30)])
    assert set(names(ures)) <= {"b1", "b2", "b3"}
    assert all(r["from"] == [VIP4, UDP_PORT] for r in ures), ures[:3]

    # IPv6 VIP
    res6 = probe(net.client, app, [dict(op="tcp", addr=VIP6, port=80, ask=True)
                                   for _ in range(20)])
    assert set(names(res6)) <= {"b1", "b2", "b3"}
    assert all(r["peer"][:2] == [VIP6, 80] for r in res6), res6[:3]

    # drain b3: new connections avoid it
    gen = agent.status()["generation"]
    agent.cli("lb", "drain", "%s:80" % VIP4, backend_addr(3))
    agent.wait_generation(gen + 1)
    got = names(probe(net.client, app, tcp[:100]))
    assert "b3" not in got and got.get("b1", 0) + got.get("b2", 0) == 100, got


def test_socket_lb_no_backend_up(lbcg):
    """A VIP whose every backend drains has no backend to give: connect()
    fails at once with ECONNREFUSED; outside the cgroup nothing is balanced
    by the socket hooks."""
    env, cgroups = lbcg
    net = env.net
    run(["ip", "route", "add", "198.51.100.0/24", "via", "192.0.2.2"], ns=net.client)
    app = cgroups.make("app")
    policy = lb_policy(net, web(4, drain=(1, 2, 3))) + egress_yaml([
        dict(name="app", cgroup=app, default="allow")])
    env.agent(net.lb, "lb", policy)
    r = probe(net.client, app, [dict(op="tcp", addr=VIP4, port=80, ask=True)])
    assert r[0]["result"] == "ECONNREFUSED", r
    # a process outside the cgroup goes to the VIP itself (the XDP load balancer's
    # part, which has no backend either): no socket hook ran, so no ECONNREFUSED
    r = probe(net.client, None, [dict(op="tcp", addr=VIP4, port=80, timeout=0.5)])
    assert r[0]["result"] != "ECONNREFUSED", r
