# SPDX-License-Identifier: GPL-2.0-only
"""Drop events: `sluice monitor` streams one event per drop with the right
reason, rule, addresses and ports; the datapath's limiter caps the events
per second (sluiced --event-rate) and counts the rest."""
import json
import os
import re
import select
import signal
import subprocess
import time

from lib.peer import Peer
from lib.netns import PYTHON, ns_cmd, run, xdp_prog_id
from lib.policy import policy_yaml
from lib.traffic import exchange, send

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


def collect(p, want, timeout=20):
    """Read P's JSON lines until WANT of them came (or TIMEOUT passed), then
    end it with SIGINT; all its lines."""
    lines, buf = [], ""
    deadline = time.monotonic() + timeout
    fd = p.stdout.fileno()
    while len(lines) < want and time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.1)
        if not r:
            continue
        chunk = os.read(fd, 65536).decode()
        if not chunk:
            break
        buf += chunk
        *done, buf = buf.split("\n")
        lines += [json.loads(x) for x in done if x.strip()]
    p.send_signal(signal.SIGINT)
    rest, err = p.communicate(timeout=10)
    assert p.returncode == 0, err
    return lines + [json.loads(x) for x in (buf + rest).splitlines() if x.strip()]


def blast(env, specs):
    specs = [dict(s, tag=s.get("tag", "e%d" % i)) for i, s in enumerate(specs)]
    return send(env.topo.client, env.topo.cdev, env.topo.mac(env.topo.fw, env.topo.fdev), specs)


def test_monitor_reports_drops(env):
    agent = start(env)
    t = env.topo
    # one ring buffer and limiter for both slots, pinned with the counters
    for name in ("sl_events", "sl_ev_cfg", "sl_ev_mute"):
        assert os.path.exists(os.path.join(agent.state_dir, "maps", name)), name
        for slot in ("0", "1"):
            assert not os.path.exists(os.path.join(agent.state_dir, "slots", slot, name))
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
    # every drop was either an event or counted as over the limit (once the
    # agent has read them all from the ring buffer)
    deadline = time.monotonic() + 20
    while True:
        after = agent.stats()["events"]
        sent = after["sent"] - before["sent"]
        suppressed = after["suppressed"] - before["suppressed"]
        if sent + suppressed >= n or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert sent + suppressed == n, (sent, suppressed)
    ev = collect(mon, sent)
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
    p = agent.cli_raw("stats", json_out=False)
    assert p.returncode == 0, p.stderr
    assert "events: rate 0/s, sent %d, suppressed 0" % after["sent"] in p.stdout, p.stdout


METRIC = re.compile(r'^(\w+)(?:\{(.*)\})? (\d+(?:\.\d+)?)$')


def scrape(ns, port, path="/metrics"):
    """GET http://127.0.0.1:PORT/PATH from inside NS: (status, body)."""
    code = ("import sys, urllib.request, urllib.error\n"
            "try:\n"
            "    r = urllib.request.urlopen('http://127.0.0.1:%d%s', timeout=5)\n"
            "    print(r.status); sys.stdout.write(r.read().decode())\n"
            "except urllib.error.HTTPError as e:\n"
            "    print(e.code)\n" % (port, path))
    p = run([PYTHON, "-c", code], ns=ns, timeout=20)
    status, _, body = p.stdout.partition("\n")
    return int(status), body


def raw_status(ns, port, request):
    """Send the bytes REQUEST to 127.0.0.1:PORT inside NS: the answer's status
    code, or what came instead ("closed": nothing)."""
    code = ("import socket, sys\n"
            "s = socket.create_connection(('127.0.0.1', %d), timeout=5)\n"
            "s.sendall(%r)\n"
            "a = s.recv(100).decode(errors='replace')\n"
            "print(a.split(' ')[1] if a.startswith('HTTP/') else 'closed:' + repr(a))\n"
            % (port, request))
    return run([PYTHON, "-c", code], ns=ns, timeout=20).stdout.strip()


def parse_metrics(body):
    out = {}
    for line in body.splitlines():
        if line.startswith("#") or not line:
            continue
        m = METRIC.match(line)
        assert m, "not a metric line: %r" % line
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        v = m.group(3)
        out[(m.group(1), tuple(sorted(labels.items())))] = float(v) if "." in v else int(v)
    return out


def test_backlog_of_1024_arrives_whole(env):
    """`monitor --backlog 1024` gets the 1,024 most recent events, the
    newest last (the one `--backlog 1` gets). The client's 256 KiB buffer
    took ~1,000 lines: the newest were lost, and `--count 1024` waited for
    them forever."""
    t = env.topo
    agent = start(env, rate=100000)
    blast(env, [dict(src=t.c4, dst=t.f4, proto="udp", dport=5001, count=1500)])
    deadline = time.monotonic() + 10
    while agent.stats()["events"]["sent"] < 1500:
        assert time.monotonic() < deadline, agent.stats()["events"]
        time.sleep(0.05)

    def backlog(n):
        argv = [agent.sluice, "-j", "--socket", agent.socket, "monitor", "--backlog", str(n),
                "--count", str(n)]
        return finish(subprocess.Popen(ns_cmd(agent.ns, argv), stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True), timeout=10)

    last = backlog(1)
    got = backlog(1024)
    assert len(got) == 1024, len(got)
    # the same event: its kernel time stamp (its wall-clock "time" is derived
    # from it each time a line is written, to the microsecond it is written)
    assert got[-1]["ts_ns"] == last[0]["ts_ns"], (got[-1], last)
    assert len({e["ts_ns"] for e in got}) == 1024
    assert all(e["reason"] == "policy-rule" for e in got)


def test_drop_flood_with_a_reader_does_not_hold_the_loop(env):
    """A drop flood with --event-rate far above what the agent formats (one
    event a drop) and a monitor client reading: the agent reads at most a
    share of the ring buffer a turn (agent/events.c EV_TURN), so `status`
    still answers while the flood lasts. Before, one turn read until the
    ring buffer was empty, which a flood never lets happen: status took
    6-9 s. The bound is ten times a status measured in the same run, plus
    one second."""
    t = env.topo
    agent = start(env, rate=1000000)
    calm = []
    for _ in range(5):
        t0 = time.monotonic()
        agent.status()
        calm.append(time.monotonic() - t0)
    bound = 10 * max(calm) + 1.0
    mon = monitor(agent)
    flood = subprocess.Popen(ns_cmd(t.client, [
        PYTHON, os.path.join(os.path.dirname(__file__), "lib", "flood.py"), "udp",
        "--iface", t.cdev, "--dst-mac", t.mac(t.fw, t.fdev), "--dst", t.f4,
        "--dport", "5001", "--count", "600000"]), stdout=subprocess.PIPE, text=True)
    slow = []
    try:
        time.sleep(0.5)
        deadline = time.monotonic() + 60
        while flood.poll() is None and time.monotonic() < deadline:
            t0 = time.monotonic()
            agent.status()
            slow.append(time.monotonic() - t0)
        assert flood.wait(timeout=60) == 0
    finally:
        if flood.poll() is None:
            flood.kill()
            flood.wait(timeout=10)
        mon.send_signal(signal.SIGINT)
        mon.communicate(timeout=10)
    assert slow, "the flood ended before a status was asked"
    assert agent.rules()["deny-5001"]["packets"] >= 100000
    assert max(slow) < bound, (max(slow), bound, calm)


def test_metrics_address_not_bindable_changes_nothing(env):
    """--metrics on an address the namespace does not have is found before
    anything is loaded: a first start attaches nothing and pins nothing
    (it undid the firewall it had just attached, opening it); a restart
    over a policy in force leaves that policy in force: a denied port stays
    denied."""
    t = env.topo
    agent = env.agent
    bad = ["--metrics", "192.0.2.250:9464"]     # no address of the namespace
    agent.write_policy("10-test.yaml", policy_yaml(t, RULES, "allow"))
    assert agent.start_refused(extra=bad) not in (0, None), agent.log_text()
    assert "cannot listen" in agent.log_text()
    assert "attached" not in agent.log_text().split("==== start")[-1], agent.log_text()
    assert xdp_prog_id(t.fw, t.fdev) is None
    assert not os.path.exists(os.path.join(agent.state_dir, "links")), \
        os.listdir(agent.state_dir)
    start(env)
    prog = xdp_prog_id(t.fw, t.fdev)
    assert agent.stop() == 0
    assert agent.start_refused(extra=bad) not in (0, None), agent.log_text()
    assert xdp_prog_id(t.fw, t.fdev) == prog
    got = exchange(t, [dict(src=t.c4, dst=t.f4, proto="udp", dport=5001, count=20, tag="d"),
                       dict(src=t.c4, dst=t.f4, proto="udp", dport=5003, count=20, tag="a")])
    assert got == {"d": 0, "a": 20}, got


def check_exposition(body):
    """Assert BODY is Prometheus text (0.0.4) as a scraper reads it: every
    family one group of lines, its # HELP then # TYPE first, then only its
    own samples; no family twice. Written from the format's rules, not the
    agent's code. Returns {family: samples}."""
    families = {}
    cur = None
    want_type = False
    for n, line in enumerate(body.splitlines(), 1):
        where = "line %d: %r" % (n, line)
        if not line:
            continue
        if line.startswith("# HELP "):
            name = line.split()[2]
            assert not want_type, "HELP without its TYPE before " + where
            assert name not in families, "family %s again at %s" % (name, where)
            families[name] = 0
            cur, want_type = name, True
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert want_type and name == cur, "TYPE not right after its HELP at " + where
            assert kind in ("counter", "gauge"), where
            want_type = False
        elif line.startswith("#"):
            continue
        else:
            m = METRIC.match(line)
            assert m, "not a metric line: " + where
            assert not want_type, "sample before the TYPE of %s at %s" % (cur, where)
            assert m.group(1) == cur, "sample of %s inside family %s at %s" % (
                m.group(1), cur, where)
            families[cur] += 1
    assert not want_type, "the last family has no TYPE"
    return families


def start_metrics(env, policy):
    """Start the agent on POLICY (10-test.yaml) with --metrics on the fw
    namespace's loopback; its port."""
    port = 9464
    run(["ip", "link", "set", "lo", "up"], ns=env.topo.fw)
    env.agent.write_policy("10-test.yaml", policy)
    env.agent.start(extra=["--metrics", "127.0.0.1:%d" % port])
    return port


def test_metrics(env):
    t = env.topo
    agent = env.agent
    port = start_metrics(env, policy_yaml(t, RULES, "allow"))
    blast(env, [
        dict(src=t.c4, dst=t.f4, proto="udp", dport=5001, count=7),
        dict(src=t.c4, dst=t.f4, proto="udp", dport=5000, count=3, bad="ihl"),
        dict(src=t.c4, dst=t.f4, proto="udp", dport=5003, count=4),
    ])
    before = agent.rules()
    status, body = scrape(t.fw, port)
    assert status == 200, body
    m = parse_metrics(body)
    check_exposition(body)
    rules = agent.rules()
    stats = agent.stats()["hooks"]["xdp"]
    for i, r in enumerate(RULES):
        key = (("action", "deny"), ("index", str(i)), ("rule", r["name"]), ("section", "fw0"))
        assert m[("sluice_rule_packets_total", key)] == rules[r["name"]]["packets"]
        assert m[("sluice_rule_bytes_total", key)] == rules[r["name"]]["bytes"]
    assert m[("sluice_rule_packets_total", (("action", "deny"), ("index", "0"),
                                            ("rule", "deny-5001"), ("section", "fw0")))] == 7
    dflt = (("action", "allow"), ("index", "16384"), ("rule", "default"), ("section", "fw0"))
    # the default also counts what the veth carries by itself (IPv6 neighbour
    # discovery, ...): between the reads before and after the scrape
    assert before["(default)"]["packets"] <= m[("sluice_rule_packets_total", dflt)] <= \
        rules["(default)"]["packets"]
    # per hook: the veth is on XDP, tc saw nothing
    assert m[("sluice_drop_packets_total", (("hook", "xdp"), ("reason", "bad-ipv4-ihl")))] == 3
    assert m[("sluice_drop_packets_total", (("hook", "tc"), ("reason", "bad-ipv4-ihl")))] == 0
    assert m[("sluice_drop_packets_total", (("hook", "xdp"), ("reason", "policy-rule")))] == \
        stats["drops"]["policy-rule"]["packets"]
    assert m[("sluice_verdict_packets_total", (("hook", "xdp"), ("verdict", "drop")))] == \
        stats["verdicts"]["drop"]["packets"]
    assert ("sluice_ct_entries", ()) in m
    assert m[("sluice_ct_events_total", (("event", "created"),))] == 0
    # the sweepers run in the kernel; their work is exported
    assert ("sluice_ct_sweeps_total", ()) in m and ("sluice_ct_sweep_seconds_total", ()) in m
    assert m[("sluice_events_total", (("result", "sent"),))] == 10

    assert scrape(t.fw, port, "/nope")[0] == 404
    # a path is the whole path: a NUL in it, raw or %00, ends nothing
    for path in (b"/metrics%00x", b"/metrics%00", b"/metrics\0x", b"/metrics\0",
                 b"/%6detrics%00", b"/metrics\0?x=1", b"/metrics?x\0y"):
        status = raw_status(t.fw, port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status in ("400", "404"), (path, status)
    for path in (b"/metrics?x=1", b"/%6detrics", b"/metrics?x=%00"):
        status = raw_status(t.fw, port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == "200", (path, status)
    assert raw_status(t.fw, port, b"GET /metrics\0x\r\n\r\n") != "200"
    # an oversized request is refused, and the agent keeps serving
    code = ("import socket\ns = socket.create_connection(('127.0.0.1', %d), timeout=5)\n"
            "s.sendall(b'GET /metrics HTTP/1.0\\r\\nX: ' + b'a' * 8000)\n"
            "print(s.recv(100).decode().split('\\r\\n')[0])\n" % port)
    p = run([PYTHON, "-c", code], ns=t.fw, timeout=20)
    assert " 431 " in p.stdout, p.stdout
    assert scrape(t.fw, port)[0] == 200


LB_FAMILIES = ("sluice_lb_backend_state", "sluice_lb_backend_new_flows_total",
               "sluice_lb_backend_active_flows", "sluice_lb_backend_packets_total",
               "sluice_lb_backend_bytes_total", "sluice_lb_health_transitions_total",
               "sluice_lb_health_failures_total", "sluice_lb_events_total")


def test_metrics_families_grouped(env):
    """With load balancers (several backends, health checks on one service)
    every family of /metrics is one group under its HELP and TYPE."""
    t = env.topo
    lbs = ("loadbalancers:\n"
           "  - name: web\n    vip: 203.0.113.10\n    port: 80\n"
           "    health: { type: tcp, interval: 0.2, timeout: 0.1, rise: 1, fall: 1 }\n"
           "    backends:\n"
           "      - { addr: 198.51.100.11, port: 8080 }\n"
           "      - { addr: 198.51.100.12, port: 8080 }\n"
           "  - name: dns\n    vip: 203.0.113.11\n    port: 53\n    proto: udp\n"
           "    backends:\n"
           "      - { addr: 198.51.100.21, port: 53 }\n"
           "      - { addr: 198.51.100.22, port: 53, drain: true }\n"
           "      - { addr: 198.51.100.23, port: 53 }\n")
    port = start_metrics(env, policy_yaml(t, RULES, "allow", stateful=True) + lbs)
    status, body = scrape(t.fw, port)
    assert status == 200, body
    fam = check_exposition(body)
    m = parse_metrics(body)
    for name in LB_FAMILIES:
        assert fam.get(name), (name, body)
    # all five backends in each per-backend family, health only for web's two
    for name in LB_FAMILIES[1:5]:
        assert fam[name] == 5, (name, fam)
    assert fam["sluice_lb_backend_state"] == 15
    assert fam["sluice_lb_health_failures_total"] == 2
    lbl = (("backend", "198.51.100.22:53"), ("service", "dns"))
    assert m[("sluice_lb_backend_state", lbl + (("state", "draining"),))] == 1
    # and the firewall's families around them
    for name in ("sluice_rule_packets_total", "sluice_drop_packets_total",
                 "sluice_verdict_bytes_total", "sluice_ct_events_total", "sluice_events_total"):
        assert fam.get(name), (name, fam)


def test_metrics_rule_sections(env):
    """sluice_rule_* as docs/architecture.md's metrics table says: `section`
    names each rule's firewall section and `index` its place there; the
    shared default is section "*", action "per-section" with several."""
    t = env.topo
    pol = ("firewall:\n"
           "  - name: outer\n    interfaces: [\"%s\"]\n    hook: xdp\n    rules:\n"
           "      - { name: deny-5001, action: deny, proto: udp, dport: [5001] }\n"
           "      - { name: deny-5002, action: deny, proto: udp, dport: [5002] }\n"
           "  - interfaces: [\"nonesuch*\"]\n    hook: xdp\n    default: deny\n    rules:\n"
           "      - { name: deny-5003, action: deny, proto: udp, dport: [5003] }\n" % t.glob)
    port = start_metrics(env, pol)
    blast(env, [dict(src=t.c4, dst=t.f4, proto="udp", dport=5002, count=4)])
    status, body = scrape(t.fw, port)
    assert status == 200, body
    m = parse_metrics(body)
    rules = {k[1]: v for k, v in m.items() if k[0] == "sluice_rule_packets_total"}
    want = {
        (("action", "deny"), ("index", "0"), ("rule", "deny-5001"), ("section", "outer")),
        (("action", "deny"), ("index", "1"), ("rule", "deny-5002"), ("section", "outer")),
        (("action", "deny"), ("index", "0"), ("rule", "deny-5003"), ("section", "fw1")),
        (("action", "per-section"), ("index", "16384"), ("rule", "default"), ("section", "*")),
    }
    assert set(rules) == want, rules
    assert rules[(("action", "deny"), ("index", "1"), ("rule", "deny-5002"),
                  ("section", "outer"))] == 4


# ------------------------------------------------- the CLI against a scripted agent

EVENT = {"time": "2026-11-22T06:50:00.123456Z", "ts_ns": 5, "ifindex": 2, "iface": "eth0",
         "reason": "policy-rule", "rule_index": 1, "rule": "deny-udp", "family": 4,
         "proto": "udp", "src": "192.0.2.7", "sport": 4000, "dst": "198.51.100.9",
         "dport": 9999, "len": 50}
EVENT6 = dict(EVENT, family=6, proto="tcp", src="2001:db8::1", dst="2001:db8::2",
              sport=40000, dport=22, reason="policy-default", rule="default", rule_index=None,
              iface=None, ifindex=7)


def scripted(tmp_path, reply):
    """A unix socket that answers one connection with REPLY.
    Returns (path, thread, requests)."""
    peer = Peer(str(tmp_path / "a.sock"), [reply])
    return peer.path, peer.thread, peer.requests


def sluice_bin():
    from lib.agent import binaries
    return binaries()[1]


def test_cli_monitor_text_and_end(tmp_path):
    # the events come in the same write as the answer: none may be lost
    reply = (json.dumps({"ok": True, "data": {"rate": 1000}}) + "\n" +
             json.dumps(EVENT) + "\n" + json.dumps(EVENT6) + "\n").encode()
    path, th, req = scripted(tmp_path, reply)
    p = subprocess.run([sluice_bin(), "--socket", path, "monitor", "--backlog", "3"],
                       capture_output=True, text=True, timeout=20)
    th.join(10)
    assert p.returncode == 0, p.stderr
    assert req == [{"cmd": "monitor", "backlog": 3}]
    assert p.stdout.splitlines() == [
        "2026-11-22T06:50:00.123456Z eth0 policy-rule deny-udp udp "
        "192.0.2.7:4000 -> 198.51.100.9:9999 50",
        "2026-11-22T06:50:00.123456Z ifindex 7 policy-default default tcp "
        "[2001:db8::1]:40000 -> [2001:db8::2]:22 50",
    ]


def test_cli_monitor_json_count(tmp_path):
    reply = (json.dumps({"ok": True, "data": {}}) + "\n" +
             (json.dumps(EVENT) + "\n") * 3).encode()
    path, th, _ = scripted(tmp_path, reply)
    p = subprocess.run([sluice_bin(), "-j", "--socket", path, "monitor", "--count", "2"],
                       capture_output=True, text=True, timeout=20)
    th.join(10)
    assert p.returncode == 0, p.stderr
    assert [json.loads(x) for x in p.stdout.splitlines()] == [EVENT, EVENT]


def test_cli_monitor_refused_and_usage(tmp_path):
    path, th, _ = scripted(tmp_path, b'{"ok": false, "error": "too many monitor clients"}\n')
    p = subprocess.run([sluice_bin(), "--socket", path, "monitor"],
                       capture_output=True, text=True, timeout=20)
    th.join(10)
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr.strip() == "sluice: too many monitor clients"
    for args in (["--count"], ["--count", "x"], ["--count", "-1"], ["--backlog", "2000"],
                 ["--frob"]):
        p = subprocess.run([sluice_bin(), "--socket", str(tmp_path / "none.sock"), "monitor",
                            *args], capture_output=True, text=True, timeout=20)
        assert p.returncode == 2, (args, p.stderr)


def test_events_after_restart(env):
    """A restarted agent reuses the pinned ring buffer and limiter: the
    counters carry on, the new rate applies, events still arrive; a monitor
    client sees the end when the agent exits."""
    t = env.topo
    agent = start(env, rate=100)
    blast(env, [dict(src=t.c4, dst=t.f4, proto="udp", dport=5001, count=4)])
    mon = monitor(agent)
    assert agent.stop() == 0, agent.log_text()
    # the agent closed the stream: the CLI ends by itself, exit 0
    out, err = mon.communicate(timeout=5)
    assert mon.returncode == 0 and out == "", err
    agent.start(extra=["--event-rate", "200"])
    ev = agent.stats()["events"]
    assert ev["rate"] == 200 and ev["sent"] == 4, ev
    mon = monitor(agent, "--count", "2")
    blast(env, [dict(src=t.c4, dst=t.f4, proto="udp", sport=44000, dport=5001, count=2)])
    got = finish(mon)
    assert [(e["sport"], e["rule"]) for e in got] == [(44000, "deny-5001")] * 2
