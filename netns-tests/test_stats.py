# SPDX-License-Identifier: GPL-2.0-only
"""`sluice stats`: verdict and drop-reason counters move for real packets,
every drop reason of bpf/sluice_abi.h is listed, malformed packets are
dropped and counted under their own reason; each hook (XDP, tcx ingress)
counts what crossed it, in `stats` and in /metrics."""
import os
import re
import time

from lib.netns import PYTHON, run
from lib.traffic import exchange

ABI = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bpf", "sluice_abi.h")


def abi_names(macro):
    """The names of an X-macro list of sluice_abi.h (SLUICE_DROP_REASONS, ...)."""
    text = open(ABI).read()
    body = re.search(r"#define %s\(X\)(.*?)\n\n" % macro, text, re.S).group(1)
    return re.findall(r'X\(\w+,\s*"([^"]+)"\)', body)


def delta(after, before, path):
    a, b = after, before
    for k in path:
        a, b = a[k], b[k]
    return a["packets"] - b["packets"]


def test_stats_counters_move(env):
    agent = env.start(default="deny", rules=[
        dict(name="allow-5000", action="allow", proto="udp", dport=["5000"]),
        dict(name="deny-5001", action="deny", proto="udp", dport=["5001"]),
    ])
    before = agent.stats()
    xdp = before["hooks"]["xdp"]
    assert sorted(xdp["drops"]) == sorted(abi_names("SLUICE_DROP_REASONS"))
    assert sorted(xdp["verdicts"]) == sorted(abi_names("SLUICE_VERDICTS"))

    s = dict(src="192.0.2.1", dst="192.0.2.2", proto="udp")
    got = exchange(env.topo, [
        dict(s, tag="pass", dport=5000, count=5),
        dict(s, tag="rule", dport=5001, count=4),
        dict(s, tag="default", dport=5002, count=3),
        dict(s, tag="ihl", dport=5000, count=2, bad="ihl"),
        dict(s, tag="trunc", dport=5000, count=2, bad="trunc-udp"),
        dict(s, tag="trunc6", dport=5000, count=1, bad="trunc-udp",
             src="2001:db8:1::1", dst="2001:db8:1::2"),
    ])
    assert got == {"pass": 5, "rule": 0, "default": 0, "ihl": 0, "trunc": 0, "trunc6": 0}

    after = agent.stats()
    x = ("hooks", "xdp")
    assert delta(after, before, x + ("verdicts", "pass")) >= 5
    assert delta(after, before, x + ("drops", "policy-rule")) == 4
    # the client's own IPv6 chatter (MLD, router solicitations) also meets default deny
    assert delta(after, before, x + ("drops", "policy-default")) >= 3
    assert delta(after, before, x + ("drops", "bad-ipv4-ihl")) == 2
    assert delta(after, before, x + ("drops", "truncated-udp")) == 3
    drops = sum(delta(after, before, x + ("drops", r)) for r in after["hooks"]["xdp"]["drops"])
    assert delta(after, before, x + ("verdicts", "drop")) == drops

    # the text form names the reasons too
    p = agent.cli_raw("stats", json_out=False)
    assert p.returncode == 0, p.stderr
    assert "bad-ipv4-ihl" in p.stdout and "policy-rule" in p.stdout


# One section per hook: the same rules, on an interface each.
HOOKS_FW = """firewall:
  - name: on-xdp
    interfaces: ["%(xdp)s"]
    hook: xdp
    default: deny
    stateful: false
    rules:
      - { name: allow-5000, action: allow, proto: udp, dport: [5000] }
      - { name: deny-5001, action: deny, proto: udp, dport: [5001] }
  - name: on-tc
    interfaces: ["%(tc)s"]
    hook: tc
    default: deny
    stateful: false
    rules:
      - { name: allow-5000-tc, action: allow, proto: udp, dport: [5000] }
      - { name: deny-5001-tc, action: deny, proto: udp, dport: [5001] }
"""

METRIC_RE = re.compile(r'^(sluice_(?:verdict|drop)_packets_total)\{hook="(\w+)",'
                       r'(?:verdict|reason)="([\w-]+)"\} (\d+)$', re.M)


def quiet_veth(t, n, net):
    """Veth pair PFXcN <-> PFXfN on NET.1 / NET.2 (a /24), IPv6 off on both ends: no
    router solicitation or MLD report of their own moves a counter. (cdev, fdev, c, f)."""
    cdev, fdev = "%sc%d" % (t.pfx, n), "%sf%d" % (t.pfx, n)
    run(["ip", "link", "add", cdev, "netns", t.client, "type", "veth", "peer", "name", fdev,
         "netns", t.fw])
    for ns, dev, addr in ((t.client, cdev, net + ".1/24"), (t.fw, fdev, net + ".2/24")):
        run(["sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % dev], ns=ns)
        run(["sysctl", "-qw", "net.ipv4.conf.%s.rp_filter=0" % dev], ns=ns)
        run(["ip", "addr", "add", addr, "dev", dev], ns=ns)
        run(["ip", "link", "set", dev, "up"], ns=ns)
    return cdev, fdev, net + ".1", net + ".2"


def metrics(ns, port):
    """{(metric, hook, name): packets} from the agent's /metrics, fetched inside NS."""
    get = ("import urllib.request; print(urllib.request.urlopen("
           "'http://127.0.0.1:%d/metrics', timeout=10).read().decode())" % port)
    deadline = time.monotonic() + 10
    while True:
        p = run([PYTHON, "-c", get], ns=ns, check=False, timeout=20)
        if p.returncode == 0:
            return {(m, h, n): int(v) for m, h, n, v in METRIC_RE.findall(p.stdout)}
        assert time.monotonic() < deadline, "no /metrics: %s" % p.stderr
        time.sleep(0.2)


def test_counters_per_hook(env):
    """One interface on XDP, one on tcx ingress, the same rules: each hook
    counts exactly what crossed it (verdicts and drop reasons), in `stats
    -j`, in the text form and in /metrics (hook label); the total is their
    sum."""
    t, agent, port = env.topo, env.agent, 9464
    xc, xf, x_c, x_f = quiet_veth(t, 1, "198.51.100")
    tc_c, tc_f, t_c, t_f = quiet_veth(t, 2, "203.0.113")
    agent.write_policy("10-test.yaml", HOOKS_FW % {"xdp": xf, "tc": tc_f})
    agent.start(extra=["--metrics", "127.0.0.1:%d" % port])
    deadline = time.monotonic() + 10
    while True:
        on = {i["name"]: i["hook"] for i in agent.status()["interfaces"]
              if i["hook"] in ("xdp", "tc")}
        if on.get(xf) == "xdp" and on.get(tc_f) == "tc":
            break
        assert time.monotonic() < deadline, (on, agent.log_text())
        time.sleep(0.1)

    before, mbefore = agent.stats(), metrics(t.fw, port)
    sent = {"xdp": (5, 4, 3), "tc": (7, 2, 6)}     # allowed, denied by rule, by default
    for hook, (cdev, fdev, src, dst) in (("xdp", (xc, xf, x_c, x_f)),
                                         ("tc", (tc_c, tc_f, t_c, t_f))):
        a, r, d = sent[hook]
        s = dict(src=src, dst=dst, proto="udp")
        got = exchange(t, [dict(s, tag="allow", dport=5000, count=a),
                           dict(s, tag="rule", dport=5001, count=r),
                           dict(s, tag="default", dport=5002, count=d)],
                       cdev=cdev, fdev=fdev)
        assert got == {"allow": a, "rule": 0, "default": 0}, (hook, got)
    after, mafter = agent.stats(), metrics(t.fw, port)

    want = {}
    for hook, (a, r, d) in sent.items():
        want[hook] = {("verdicts", "pass"): a, ("verdicts", "drop"): r + d,
                      ("drops", "policy-rule"): r, ("drops", "policy-default"): d}
    assert sorted(after["hooks"]) == ["tc", "xdp"], after["hooks"].keys()
    for hook in ("xdp", "tc"):
        for group in ("verdicts", "drops"):
            for name in after["hooks"][hook][group]:
                moved = delta(after, before, ("hooks", hook, group, name))
                assert moved == want[hook].get((group, name), 0), (hook, group, name, moved)
                # the metrics say the same, under the hook label
                metric = "sluice_%s_packets_total" % ("verdict" if group == "verdicts" else "drop")
                m = mafter[(metric, hook, name)] - mbefore[(metric, hook, name)]
                assert m == moved, (metric, hook, name, m, moved)
                total = delta(after, before, ("total", group, name))
                assert total == want["xdp"].get((group, name), 0) + \
                    want["tc"].get((group, name), 0), (group, name, total)

    # the text form: a table per hook
    p = agent.cli_raw("stats", json_out=False)
    assert p.returncode == 0, p.stderr
    blocks = dict(re.findall(r"^hook (\w+)\n(.*?)(?=^hook |^events|\Z)", p.stdout, re.M | re.S))
    assert sorted(blocks) == ["tc", "xdp"], p.stdout
    for hook in ("xdp", "tc"):
        row = re.search(r"^  policy-rule +(\d+) ", blocks[hook], re.M)
        assert row and int(row.group(1)) == after["hooks"][hook]["drops"]["policy-rule"][
            "packets"], (hook, p.stdout)
