# SPDX-License-Identifier: GPL-2.0-only
"""The load balancer with real traffic: a client namespace, the load balancer
(sluiced on its veths), three backend namespaces whose servers answer their
own name (lib/lbnet.py). Connections are counted by the name that answers.
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import RUN_PREFIX, _counter
from lib.agent import Agent, BPFFS, pins_under
from lib.fds import feed, starve
from lib.lbnet import PYTHON, LbNet, backend_addr, wait_for
from lib.netns import ns_cmd
from test_events import parse_metrics, scrape

VIP4 = "203.0.113.10"
VIP6 = "2001:db8:a::10"


class LbEnv:
    def __init__(self, net):
        self.net = net
        self.nets = [net]		# destroyed after the agents in them stopped
        self.agents = []
        self.dirs = []

    def agent(self, ns, name, policy, files=None, extra=()):
        """Start sluiced in NS with POLICY (10-lb.yaml) and FILES; wait until applied."""
        work = tempfile.mkdtemp(prefix="%s-%s-" % (self.net.pfx, name))
        self.dirs.append(work)
        a = Agent(ns, work, os.path.join(BPFFS, "%s-%s" % (self.net.pfx, name)))
        for fname, text in (files or {}).items():
            a.write_file(fname, text)
        a.write_policy("10-lb.yaml", policy)
        self.agents.append(a)
        a.start(extra=extra)
        return a

    def close(self):
        problems = []
        for a in self.agents:
            try:
                if a.alive() and a.stop(signal.SIGTERM) != 0:
                    problems.append("sluiced in %s did not exit cleanly" % a.ns)
                p = a.teardown()
                if p.returncode:
                    problems.append("teardown: %s%s" % (p.stdout, p.stderr))
                if pins_under(a.state_dir):
                    problems.append("pins left under %s" % a.state_dir)
            finally:
                a.force_cleanup()
                print("---- sluiced log (%s)\n%s" % (a.ns, a.log_text()))
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
        return problems


@pytest.fixture
def lbenv():
    net = LbNet("%s%x" % (RUN_PREFIX, next(_counter)))
    env = LbEnv(net)
    problems = []
    try:
        net.setup()
        net.start_servers()
        yield env
    finally:
        try:
            problems = env.close()
        finally:
            for n in env.nets:
                n.destroy()
    if problems:
        pytest.fail("; ".join(problems))


def backends_yaml(family=4, port=8080, weights=(1, 2, 1), drain=(), skip=()):
    out = []
    for i, w in enumerate(weights, 1):
        if i in skip:
            continue
        a = backend_addr(i, family)
        out.append('      - { addr: "%s", port: %d, weight: %d%s }' %
                   (a, port, w, ", drain: true" if i in drain else ""))
    return "\n".join(out)


def lb_policy(net, services, default="allow", glob=None):
    """A stateful firewall on the LB's veths and SERVICES (YAML text)."""
    return ("firewall:\n  interfaces: [\"%s\"]\n  default: %s\n  rules:\n"
            "    - { name: lb-vips, action: allow, dst: [\"203.0.113.0/24\", "
            "\"2001:db8:a::/64\"] }\n"
            "    - { name: icmp, action: allow, proto: [icmp, icmpv6] }\n"
            "loadbalancers:\n%s" % (glob or net.glob, default, services))


def web(family=4, health="", **kw):
    vip = VIP4 if family == 4 else '"%s"' % VIP6
    return ("  - name: web%d\n    vip: %s\n    port: 80\n%s    backends:\n%s\n" %
            (family, vip, health, backends_yaml(family, **kw)))


def spread(answers):
    """{backend name: connections} of a connect() result; errors fail the test."""
    out = {}
    for sport, name in answers.items():
        assert not name.startswith("error"), "connection from port %s: %s" % (sport, name)
        out[name] = out.get(name, 0) + 1
    return out


def lb_list(agent):
    return {s["name"]: {"%s:%d" % (b["addr"], b["port"]): b for b in s["backends"]}
            for s in agent.cli("lb", "list")["services"]}


def test_lb_spread_by_weight_then_removal(lbenv):
    """Hundreds of connections spread by weight 1:2:1; removing b3 from the
    policy moves none of the b1 and b2 connections held open."""
    net = lbenv.net
    a = lbenv.agent(net.lb, "lb", lb_policy(net, web()), extra=["--metrics", "127.0.0.1:9464"])
    got = spread(net.connect(VIP4, 80, 400))
    # 100:200:100 expected; binomial spread at n = 400 is ~10 per backend
    assert set(got) == {"b1", "b2", "b3"}, got
    assert 60 <= got["b1"] <= 140 and 60 <= got["b3"] <= 140 and got["b2"] >= 150, got
    listed = lb_list(a)["web4"]
    assert sum(b["new_flows"] for b in listed.values()) >= 400, listed
    assert listed[backend_addr(2) + ":8080"]["state"] == "active"
    # the same figures in the Prometheus endpoint
    status, body = scrape(net.lb, 9464)
    metrics = parse_metrics(body)
    for i, name in ((1, "b1"), (2, "b2"), (3, "b3")):
        lbl = (("backend", "%s:8080" % backend_addr(i)), ("service", "web4"))
        assert metrics[("sluice_lb_backend_new_flows_total", lbl)] == \
            listed["%s:8080" % backend_addr(i)]["new_flows"], metrics
        assert metrics[("sluice_lb_backend_state", lbl + (("state", "active"),))] == 1
    assert status == 200 and metrics[("sluice_lb_events_total", (("event", "new-flows"),))] >= 400

    h = net.hold(VIP4, 80, 60)
    try:
        assert set(h.names) == {"b1", "b2", "b3"}, h.names
        gen = a.status()["generation"]
        a.write_policy("10-lb.yaml", lb_policy(net, web(skip=(3,))))
        a.wait_generation(gen + 1)
        now = h.ask()
        for before, after in zip(h.names, now):
            if before != "b3":
                assert after == before, (h.names, now)
        got = spread(net.connect(VIP4, 80, 100))
        assert "b3" not in got, got
    finally:
        h.close()


def test_lb_drain_keeps_live_connection(lbenv):
    """`sluice lb drain`: a live connection on b2 keeps answering from b2,
    new connections avoid it; the drain persists across a restart; undrain
    brings new flows back."""
    net = lbenv.net
    a = lbenv.agent(net.lb, "lb", lb_policy(net, web()))
    h = net.hold(VIP4, 80, 30)
    try:
        assert "b2" in h.names, h.names
        out = a.cli("lb", "drain", "%s:80" % VIP4, backend_addr(2))
        assert out["backends"] == ["web4 %s:8080" % backend_addr(2)], out
        assert h.ask() == h.names
        got = spread(net.connect(VIP4, 80, 150))
        assert "b2" not in got and set(got) == {"b1", "b3"}, got
        assert lb_list(a)["web4"][backend_addr(2) + ":8080"]["state"] == "draining"
        with open(os.path.join(a.policy_dir, ".sluice-cli.yaml")) as f:
            assert backend_addr(2) in f.read()
        assert a.stop(signal.SIGTERM) == 0
        a.start()
        assert lb_list(a)["web4"][backend_addr(2) + ":8080"]["state"] == "draining"
        assert h.ask() == h.names
        a.cli("lb", "undrain", "%s:80" % VIP4, backend_addr(2) + ":8080")
        assert "b2" in spread(net.connect(VIP4, 80, 100))
    finally:
        h.close()


def test_lb_drain_undrain_overlapping(lbenv):
    """Drains that overlap another: `lb drain VIP:80 B` after `lb drain
    VIP:80/udp B:8081` drains B in the tcp service too (it answered "already
    so" and B kept taking new connections); `lb undrain VIP:80/udp B:8080`
    after it undrains that one backend (it undrained B in the tcp service as
    well, while saying it undrained the udp one alone). What stays drained
    stays so across a restart. An undrain of a backend that a policy file
    drains too says it stays draining (it said "taking new flows again")."""
    net = lbenv.net
    b2, b3 = backend_addr(2), backend_addr(3)
    dns = ("  - name: dns4\n    vip: %s\n    port: 80\n    proto: udp\n    backends:\n"
           "      - { addr: %s, port: 8080 }\n      - { addr: %s, port: 8080 }\n"
           "      - { addr: %s, port: 8081 }\n      - { addr: %s, port: 8080, drain: true }\n"
           % (VIP4, backend_addr(1), b2, b2, b3))
    a = lbenv.agent(net.lb, "lb", lb_policy(net, web() + dns))
    svc = "%s:80" % VIP4

    def states():
        return {"%s %s" % (name, key): be["state"] for name, bes in lb_list(a).items()
                for key, be in bes.items() if key.startswith(b2 + ":")}

    out = a.cli("lb", "drain", svc + "/udp", b2 + ":8081")
    assert out["backends"] == ["dns4 %s:8081" % b2] and out["changed"], out
    out = a.cli("lb", "drain", svc, b2)
    assert out["changed"], out
    assert states() == {"web4 %s:8080" % b2: "draining", "dns4 %s:8080" % b2: "draining",
                        "dns4 %s:8081" % b2: "draining"}, states()
    got = spread(net.connect(VIP4, 80, 100))
    assert "b2" not in got, got

    out = a.cli("lb", "undrain", svc + "/udp", b2 + ":8080")
    assert out["backends"] == ["dns4 %s:8080" % b2], out
    want = {"web4 %s:8080" % b2: "draining", "dns4 %s:8080" % b2: "active",
            "dns4 %s:8081" % b2: "draining"}
    assert states() == want, states()
    got = spread(net.connect(VIP4, 80, 100))
    assert "b2" not in got, got
    assert a.stop(signal.SIGTERM) == 0
    a.start()
    assert states() == want, states()

    a.cli("lb", "undrain", svc, b2)
    assert set(states().values()) == {"active"}, states()
    assert "b2" in spread(net.connect(VIP4, 80, 100))

    a.cli("lb", "drain", svc, b3)
    p = a.cli_raw("lb", "undrain", svc, b3, json_out=False)
    assert p.returncode == 0 and p.stdout == (
        "taking new flows again:\nweb4 %s:8080\n"
        "still draining (a policy file drains it: drain: true):\ndns4 %s:8080\n"
        "(generation %d)\n" % (b3, b3, a.status()["generation"])), p.stdout
    assert lb_list(a)["dns4"][b3 + ":8080"]["state"] == "draining"
    assert lb_list(a)["web4"][b3 + ":8080"]["state"] == "active"


def test_lb_undrain_of_a_backend_gone_from_the_policy(lbenv):
    """A backend drained by the CLI, then removed from the policy file:
    `lb undrain` takes its drain away (it failed with "no backend", the
    drain stayed in the edits file, and the backend came back drained when
    the file named it again). An undrain of what neither the policy nor a
    drain names still fails."""
    net = lbenv.net
    b3 = backend_addr(3)
    a = lbenv.agent(net.lb, "lb", lb_policy(net, web()))
    svc = "%s:80" % VIP4
    a.cli("lb", "drain", svc, b3)
    assert lb_list(a)["web4"][b3 + ":8080"]["state"] == "draining"
    gen = a.status()["generation"]
    a.write_policy("10-lb.yaml", lb_policy(net, web(skip=(3,))))
    a.wait_generation(gen + 1)

    p = a.cli_raw("lb", "undrain", svc, b3, json_out=False)
    assert p.returncode == 0 and p.stdout == (
        "%s %s: no such backend in force; its drain is removed\n(generation %d)\n"
        % (svc, b3, a.status()["generation"])), (p.stdout, p.stderr)
    p = a.cli_raw("lb", "undrain", svc, b3)
    assert p.returncode == 1 and "no backend %s" % b3 in p.stdout, (p.stdout, p.stderr)

    gen = a.status()["generation"]
    a.write_policy("10-lb.yaml", lb_policy(net, web()))
    a.wait_generation(gen + 1)
    assert lb_list(a)["web4"][b3 + ":8080"]["state"] == "active"
    assert "b3" in spread(net.connect(VIP4, 80, 100))


def test_lb_service_without_a_backend_is_logged(lbenv):
    """Every backend of a service drained: its new flows are dropped
    (lb-no-backend), and the log says so once; a backend undrained: it
    says the service has one again. Nothing was said."""
    net = lbenv.net
    a = lbenv.agent(net.lb, "lb", lb_policy(net, web()))
    svc = "%s:80" % VIP4
    warn = "load balancer web4: no backend takes new flows (3 drained, 0 down): " \
        "its new flows are dropped (lb-no-backend)"
    again = "load balancer web4: a backend takes new flows again"
    a.cli("lb", "drain", svc, backend_addr(1))
    a.cli("lb", "drain", svc, backend_addr(2))
    assert warn not in a.log_text()
    a.cli("lb", "drain", svc, backend_addr(3))
    assert a.log_text().count(warn) == 1, a.log_text()[-3000:]
    # another change: said once, not again
    a.cli("block", "add", "192.0.2.250")
    assert a.log_text().count(warn) == 1, a.log_text()[-3000:]
    assert again not in a.log_text()
    a.cli("lb", "undrain", svc, backend_addr(2))
    assert a.log_text().count(again) == 1, a.log_text()[-3000:]
    assert spread(net.connect(VIP4, 80, 50)) == {"b2": 50}


def test_lb_health_checks(lbenv):
    """b3's server killed: health checks take it out and new connections
    avoid it; restarted: it is back; both changes logged and counted."""
    net = lbenv.net
    hc = "    health: { type: tcp, interval: 0.2, timeout: 0.1, rise: 2, fall: 2 }\n"
    a = lbenv.agent(net.lb, "lb", lb_policy(net, web(health=hc)))
    key = backend_addr(3) + ":8080"
    assert wait_for(lambda: lb_list(a)["web4"][key]["health"]["checks"] >= 2, 5)
    net.stop_server(3)
    # (how soon: interval x fall + one interval by construction; no clock here)
    assert wait_for(lambda: lb_list(a)["web4"][key]["state"] == "down", 10), a.log_text()
    got = spread(net.connect(VIP4, 80, 120))
    assert "b3" not in got, got
    net.start_server(3)
    assert wait_for(lambda: lb_list(a)["web4"][key]["state"] == "active", 5), a.log_text()
    be = lb_list(a)["web4"][key]
    assert be["health"]["transitions"] == 2 and be["health"]["failures"] >= 2, be
    assert "b3" in spread(net.connect(VIP4, 80, 120))
    log = a.log_text()
    assert "%s is down" % key in log and "%s is up again" % key in log


def test_lb_health_checks_out_of_fds_take_no_backend_down(lbenv):
    """An agent out of fds cannot open a check's socket: that is its own
    want, not the backends' failure. Every backend used to go down after
    `fall` checks (the service's new connections found none); now the
    checks wait, the backends stay up and the checks resume."""
    net = lbenv.net
    hc = "    health: { type: tcp, interval: 0.2, timeout: 0.1, rise: 2, fall: 2 }\n"
    a = lbenv.agent(net.lb, "lb", lb_policy(net, web(health=hc)))
    key = backend_addr(3) + ":8080"
    assert wait_for(lambda: lb_list(a)["web4"][key]["health"]["checks"] >= 2, 5)
    limits = starve(a)
    try:
        # (no CLI meanwhile: the agent has no fd to take its connection)
        assert wait_for(lambda: "is down" in a.log_text() or
                        "no socket for the checks" in a.log_text(), 10), a.log_text()
        checks = a.log_text().count("check failed")
        # ten intervals more
        time.sleep(2)
        assert a.log_text().count("check failed") == checks
    finally:
        feed(a, limits)
    assert "is down" not in a.log_text(), a.log_text()
    before = lb_list(a)["web4"][key]["health"]["checks"]
    assert wait_for(lambda: lb_list(a)["web4"][key]["health"]["checks"] >= before + 2, 5)
    assert {b["state"] for b in lb_list(a)["web4"].values()} == {"active"}
    assert spread(net.connect(VIP4, 80, 120)).keys() == {"b1", "b2", "b3"}


# An HTTP server that answers every request with the status line argv[3]
# (bounded: 2,000 requests, 60 s without one), for health checks.
STATUS_SERVER = r"""
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(64)
s.settimeout(60)
print("ready", flush=True)
for _ in range(2000):
    c, _ = s.accept()
    c.settimeout(2)
    try:
        c.recv(4096)
        c.sendall(sys.argv[3].encode() + b"\r\n\r\n")
    except OSError:
        pass
    c.close()
"""


def test_lb_health_http_status_line_strict(lbenv):
    """type: http takes the status code as RFC 9112 writes it, three
    digits: "+0200", "0200" and "4294967496" (which wraps to 200 as an
    unsigned int) are not 200, and the backend goes down on them; "200"
    brings it back."""
    net = lbenv.net
    hc = "    health: { type: http, interval: 0.2, timeout: 0.1, rise: 2, fall: 2, path: / }\n"
    a = lbenv.agent(net.lb, "lb", lb_policy(net, web(health=hc)))
    key = backend_addr(3) + ":8080"
    net.stop_server(3)
    srv = None

    def serve(line):
        nonlocal srv
        if srv:
            srv.kill()
            srv.wait(timeout=10)
        srv = subprocess.Popen(ns_cmd(net.backends[2], [PYTHON, "-c", STATUS_SERVER,
                                                        backend_addr(3), "8080", line]),
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
        assert srv.stdout.readline().strip() == "ready"

    def state():
        return lb_list(a)["web4"][key]["state"]

    try:
        serve("HTTP/1.1 200 OK")
        assert wait_for(lambda: state() == "active", 10), a.log_text()
        for bad in ("HTTP/1.1 +0200 OK", "HTTP/1.1 0200 OK", "HTTP/1.1 4294967496 OK"):
            serve(bad)
            assert wait_for(lambda: state() == "down", 10), (bad, a.log_text())
            serve("HTTP/1.1 200 OK")
            assert wait_for(lambda: state() == "active", 10), (bad, a.log_text())
    finally:
        if srv:
            srv.kill()
            srv.wait(timeout=10)


def test_lb_ipv6_vip_and_udp(lbenv):
    """An IPv6 VIP (NAT) spreads connections; a UDP service answers from
    VIP:53 (the reply's source rewritten back), IPv4 and IPv6."""
    net = lbenv.net
    udp = ("  - name: dns4\n    vip: %s\n    port: 53\n    proto: udp\n    backends:\n%s\n"
           "  - name: dns6\n    vip: \"%s\"\n    port: 53\n    proto: udp\n    backends:\n%s\n" %
           (VIP4, backends_yaml(4, weights=(1, 1)), VIP6, backends_yaml(6, weights=(1, 1))))
    lbenv.agent(net.lb, "lb", lb_policy(net, web(6, weights=(1, 1, 1)) + udp))
    got = spread(net.connect(VIP6, 80, 120))
    assert set(got) == {"b1", "b2", "b3"}, got
    for vip, src in ((VIP4, "%s:53" % VIP4), (VIP6, "%s:53" % VIP6)):
        answers = net.peer("udp", vip, 53, 40)
        names = {name for name, _ in answers}
        assert names == {"b1", "b2"}, answers
        assert {peer for _, peer in answers} == {src}, answers


def test_lb_sigkill_under_traffic(lbenv):
    """SIGKILL of the agent with connections open: each keeps its backend
    while no agent runs, and after a new agent adopted the pinned flows and
    backend ids and applied a policy whose weights changed meanwhile (a new
    table that would send many of them elsewhere)."""
    net = lbenv.net
    a = lbenv.agent(net.lb, "lb", lb_policy(net, web()))
    h = net.hold(VIP4, 80, 50)
    try:
        assert a.stop(signal.SIGKILL) == -signal.SIGKILL
        assert h.ask() == h.names
        a.write_policy("10-lb.yaml", lb_policy(net, web(weights=(5, 1, 1))))
        new = spread(net.connect(VIP4, 80, 40))
        assert set(new) <= {"b1", "b2", "b3"}
        assert h.ask() == h.names
        a.start()
        assert a.status()["generation"] >= 2
        assert h.ask() == h.names
        # the new weights are in force for new flows
        got = spread(net.connect(VIP4, 80, 140))
        assert got.get("b1", 0) > got.get("b2", 0) + got.get("b3", 0), got
    finally:
        h.close()


def test_lb_dsr_with_backends_decapsulating(lbenv):
    """DSR: IP-in-IP (and IPv6-in-IPv6) to backends whose sluiced
    decapsulates in XDP (no ipip device on this kernel); the VIPs sit on the
    backends' lo and they answer the client directly."""
    net = lbenv.net
    vip4, vip6 = "203.0.113.20", "2001:db8:a::20"
    for i, ns in enumerate(net.backends, 1):
        from lib.netns import run
        run(["ip", "addr", "add", vip4 + "/32", "dev", "lo"], ns=ns)
        run(["ip", "addr", "add", vip6 + "/128", "dev", "lo"], ns=ns)
        lbenv.agent(ns, "b%d" % i, "decap:\n  interfaces: [\"%sb%d\"]\n  vips: [%s, \"%s\"]\n" %
                    (net.pfx, i, vip4, vip6))
    dsr = ("  - name: dsr4\n    vip: %s\n    port: 8080\n    mode: dsr\n"
           "    encap-source: 198.51.100.0/28\n    backends:\n%s\n"
           "  - name: dsr6\n    vip: \"%s\"\n    port: 8080\n    mode: dsr\n"
           "    encap-source: \"2001:db8:1::/120\"\n    backends:\n%s\n" %
           (vip4, backends_yaml(4, weights=(1, 1, 1)), vip6, backends_yaml(6, weights=(1, 1, 1))))
    # health checks that can only succeed encapsulated to the VIP: these
    # servers listen on the VIP alone, not on the backends' own addresses
    hc = ("  - name: dsrhc\n    vip: %s\n    port: 9090\n    mode: dsr\n"
          "    encap-source: 198.51.100.0/28\n"
          "    health: { type: tcp, interval: 0.2, timeout: 0.1, rise: 2, fall: 2 }\n"
          "    backends:\n%s\n" % (vip4, backends_yaml(4, port=9090, weights=(1, 1, 1))))
    for i in (1, 2, 3):
        net.start_server(i, 9090, vip4)
    a = lbenv.agent(net.lb, "lb", lb_policy(net, dsr + hc))
    for vip in (vip4, vip6):
        got = spread(net.connect(vip, 8080, 90))
        assert set(got) == {"b1", "b2", "b3"}, (vip, got)
    listed = lb_list(a)
    assert sum(b["packets"] for b in listed["dsr4"].values()) > 0
    decapped = sum(b.stats()["lb"]["decapsulated"] for b in lbenv.agents[:3])
    assert decapped >= 2 * 90, decapped

    def checks(key):
        return lb_list(a)["dsrhc"][key]

    keys = ["%s:9090" % backend_addr(i) for i in (1, 2, 3)]
    assert wait_for(lambda: all(checks(k)["health"]["checks"] >= 3 for k in keys), 5)
    assert all(checks(k)["health"]["failures"] == 0 and checks(k)["state"] == "active"
               for k in keys), lb_list(a)["dsrhc"]
    net.stop_server(2, 9090, vip4)
    assert wait_for(lambda: checks(keys[1])["state"] == "down", 5), a.log_text()
    got = spread(net.connect(vip4, 9090, 60))
    assert set(got) == {"b1", "b3"}, got


def test_lb_two_agents_same_mapping(lbenv):
    """Two load balancers in two namespaces, byte-identical policies: the
    same 5-tuples (same client address and ports) go to the same backends."""
    net = lbenv.net
    other = LbNet(net.pfx + "x")
    lbenv.nets.append(other)
    other.setup()
    other.start_servers()
    # one glob for the load balancer veths of both networks: the same text
    pol = lb_policy(net, web(weights=(1, 1, 1)), glob=net.pfx + "*l[0-9]")
    lbenv.agent(net.lb, "lb1", pol)
    lbenv.agent(other.lb, "lb2", pol)
    one = net.connect(VIP4, 80, 80, 41000)
    two = other.connect(VIP4, 80, 80, 41000)
    spread(one)
    assert set(one.values()) == {"b1", "b2", "b3"}
    assert one == two, {k: (one[k], two.get(k)) for k in one if one[k] != two.get(k)}
