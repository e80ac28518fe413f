# SPDX-License-Identifier: GPL-2.0-only
"""Drop events: `sluice monitor` streams one event per drop with the right
reason, rule, addresses and ports; the datapath's limiter caps the events
per second (sluiced --event-rate) and counts the rest."""
import json
import signal
import subprocess
import time

from lib.netns import ns_cmd, xdp_prog_id
from lib.policy import policy_yaml
from lib.traffic import send

RULES = [
    dict(name="deny-5001", action="deny", proto="udp", dport=["5001"]),
    dict(name="deny-tcp6", action="deny", proto="tcp", dport=["5002"]),
]


def start(env, rate=None, rules=RULES, default="allow"):
    """Start the agent with --event-rate RATE (the default when None)."""
    agent = env.agent
    agent.write_policy("10-test.yaml", policy_yaml(env.topo, rules, default))
    agent.start(extra=[] if rate is None else ["--event-rate", str(rate)])
    assert xdp_prog_id(env.topo.fw, env.topo.fdev) is not None, agent.log_text()
    return agent


def monitor(agent, *args):
    """`sluice -j monitor ARGS` in the fw namespace, running; returns once the
    agent counts it as a client (so no event is sent before it listens)."""
    before = agent.stats()["events"]["clients"]
    argv = [agent.sluice, "-j", "--socket", agent.socket, "monitor"] + list(args)
    p = subprocess.Popen(ns_cmd(agent.ns, argv), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while agent.stats()["events"]["clients"] <= before:
        assert p.poll() is None, p.stderr.read()
        assert time.monotonic() < deadline, "monitor never connected"
        time.sleep(0.05)
    return p


def finish(p, timeout=10):
    """Wait for P (ending it with SIGINT after TIMEOUT); its JSON lines."""
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=10)
    assert p.returncode == 0, err
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def blast(env, specs):
    specs = [dict(s, tag=s.get("tag", "e%d" % i)) for i, s in enumerate(specs)]
    return send(env.topo.client, env.topo.cdev, env.topo.mac(env.topo.fw, env.topo.fdev), specs)


def test_monitor_reports_drops(env):
    agent = start(env)
    t = env.topo
    mon = monitor(agent, "--count", "5")
    blast(env, [
        dict(src=t.c4, dst=t.f4, proto="udp", sport=41000, dport=5001, count=3),
        dict(src=t.c6, dst=t.f6, proto="tcp", sport=42000, dport=5002, count=1),
        dict(src=t.c4, dst=t.f4, proto="udp", dport=5000, count=1, bad="ihl"),
        # allowed: no event
        dict(src=t.c4, dst=t.f4, proto="udp", dport=5003, count=2),
    ])
    ev = finish(mon)
    assert len(ev) == 5, ev
    ifindex = agent.status()["interfaces"][0]["ifindex"]
    for e in ev:
        assert e["iface"] == t.fdev and e["ifindex"] == ifindex, e
        assert e["len"] > 0
    udp = [e for e in ev if e["proto"] == "udp" and e["reason"] == "policy-rule"]
    assert len(udp) == 3, ev
    for e in udp:
        assert (e["rule"], e["rule_index"], e["family"]) == ("deny-5001", 0, 4), e
        assert (e["src"], e["sport"], e["dst"], e["dport"]) == (t.c4, 41000, t.f4, 5001), e
    [tcp] = [e for e in ev if e["proto"] == "tcp"]
    assert (tcp["reason"], tcp["rule"], tcp["rule_index"], tcp["family"]) == \
        ("policy-rule", "deny-tcp6", 1, 6), tcp
    assert (tcp["src"], tcp["sport"], tcp["dst"], tcp["dport"]) == (t.c6, 42000, t.f6, 5002)
    [bad] = [e for e in ev if e["reason"] == "bad-ipv4-ihl"]
    assert bad["rule"] is None and bad["rule_index"] is None, bad

    # the agent keeps recent events: the text form from the backlog
    p = agent.cli_raw("monitor", "--backlog", "5", "--count", "5", json_out=False,
                      timeout=10)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 5, p.stdout
    want = "%s policy-rule deny-5001 udp %s:41000 -> %s:5001 " % (t.fdev, t.c4, t.f4)
    assert sum(want in line for line in lines) == 3, p.stdout
    want6 = "policy-rule deny-tcp6 tcp [%s]:42000 -> [%s]:5002 " % (t.c6, t.f6)
    assert sum(want6 in line for line in lines) == 1, p.stdout


def test_default_deny_event_names_default(env):
    agent = start(env, rules=[], default="deny")
    t = env.topo
    mon = monitor(agent, "--count", "50")
    blast(env, [dict(src=t.c4, dst=t.f4, proto="udp", sport=43000, dport=6000, count=1)])
    # the client's own IPv6 chatter is also denied: look for ours among them
    ev = finish(mon, timeout=2)
    ours = [e for e in ev if e.get("dport") == 6000 and e.get("src") == t.c4]
    assert ours, ev
    assert ours[0]["reason"] == "policy-default" and ours[0]["rule"] == "default"
    assert ours[0]["rule_index"] is None


def test_rate_limit(env):
    rate = 50
    agent = start(env, rate=rate)
    t = env.topo
    assert agent.stats()["events"]["rate"] == rate
    before = agent.stats()["events"]
    mon = monitor(agent)
    n = 1500
    t0 = time.monotonic()
    assert blast(env, [dict(src=t.c4, dst=t.f4, proto="udp", dport=5001, count=n)]) == n
    took = time.monotonic() - t0
    time.sleep(0.5)
    mon.send_signal(signal.SIGINT)
    ev = finish(mon)
    after = agent.stats()["events"]
    sent = after["sent"] - before["sent"]
    suppressed = after["suppressed"] - before["suppressed"]
    # every drop was either an event or counted as over the limit
    assert sent + suppressed == n, (sent, suppressed)
    assert suppressed > 0
    assert len(ev) == sent, (len(ev), sent)
    # one-second windows: at most RATE per window the flood touched
    windows = int(took) + 2
    assert rate <= len(ev) <= rate * windows, (len(ev), took)
    ts = sorted(e["ts_ns"] for e in ev)
    for i, x in enumerate(ts):
        in_1s = sum(1 for y in ts[i:] if y - x < 1_000_000_000)
        assert in_1s <= 2 * rate, "more than 2 windows' worth in one second"


def test_rate_zero_is_off(env):
    agent = start(env, rate=0)
    t = env.topo
    before = agent.stats()["events"]
    assert before["rate"] == 0
    blast(env, [dict(src=t.c4, dst=t.f4, proto="udp", dport=5001, count=20)])
    after = agent.stats()["events"]
    assert after["sent"] == before["sent"]
    assert agent.rules()["deny-5001"]["packets"] >= 20
