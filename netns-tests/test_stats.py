# SPDX-License-Identifier: GPL-2.0-only
"""`sluice stats`: verdict and drop-reason counters move for real packets,
every drop reason of bpf/sluice_abi.h is listed, malformed packets are
dropped and counted under their own reason."""
import os
import re

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
