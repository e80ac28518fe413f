# SPDX-License-Identifier: GPL-2.0-only
"""CLI edits end to end: `sluice block add/del/list`, `rule add/del`,
`policy show/diff`, generation conflicts.

Every edit goes through the agent, is applied as a whole new policy
generation and persists in the agent's edits file (.sluice-cli.yaml) of the
policy dir. Real frames from the client namespace check what each edit does
to traffic; the hand-written policy files are hashed before and after every
edit and must never change.
"""
import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import RUN_PREFIX
from lib.netns import Topology, run
from lib.traffic import Stream, exchange

N = 5
PREFIX = (RUN_PREFIX + "e" if os.environ.get("SLUICE_TEST_PREFIX")
          else "sle%04x" % (os.getpid() & 0xFFFF))
_counter = itertools.count()
EDITS = ".sluice-cli.yaml"
JOURNAL = ".sluice-cli.journal"


@pytest.fixture
def topo():
    """The conftest topology, named with this suite's prefix "sle"."""
    t = Topology("%s%x" % (PREFIX, next(_counter)))
    try:
        t.setup()
        yield t
    finally:
        t.destroy()


def udp(tag, dport, src="192.0.2.1", dst="192.0.2.2", count=N, **kw):
    return dict(tag=tag, src=src, dst=dst, proto="udp", dport=dport, count=count, **kw)


def policy(topo, rules, default="allow", stateful=False):
    """A hand-written policy file with RULES given as YAML lines."""
    lines = ["# hand-written: the agent must never rewrite this file",
             "firewall:",
             "  interfaces: [\"%s\"]" % topo.glob,
             "  default: %s" % default,
             "  stateful: %s" % ("true" if stateful else "false"),
             "  rules:"]
    lines += ["    " + r for r in rules]
    return "\n".join(lines) + "\n"


def hashes(agent):
    """sha256 of every hand-written file of the policy dir (not the edits file)."""
    out = {}
    for name in sorted(os.listdir(agent.policy_dir)):
        if name.startswith("."):
            continue
        with open(os.path.join(agent.policy_dir, name), "rb") as f:
            out[name] = hashlib.sha256(f.read()).hexdigest()
    return out


def edits_text(agent):
    """The edits file and its journal (block edits append there)."""
    text = ""
    for name in (EDITS, JOURNAL):
        try:
            with open(os.path.join(agent.policy_dir, name)) as f:
                text += f.read()
        except FileNotFoundError:
            pass
    return text


def gen(agent):
    return agent.status()["generation"]


EDIT_VERBS = {("rule", "add"), ("rule", "del"), ("block", "add"), ("block", "del")}


def start(env, text):
    """Write the hand-written file, start the agent; from then on every edit
    through agent.cli or agent.cli_raw checks that no hand-written file
    changed."""
    agent = env.agent
    agent.write_policy("10-fw.yaml", text)
    agent.start()
    before = hashes(agent)
    cli_raw = agent.cli_raw

    def checked(*args, **kw):
        p = cli_raw(*args, **kw)
        if tuple(args[:2]) in EDIT_VERBS:
            assert hashes(agent) == before, "a hand-written file changed after %s" % (args,)
        return p

    agent.cli_raw = checked
    return agent, before


def test_block_cuts_tracked_flow_and_survives_restart(env):
    """A block drops a flow conntrack already let through, in force when the
    CLI returns (how fast: bench_edit, in make bench); it is in force while
    no agent runs and after a restart."""
    topo = env.topo
    agent, before = start(env, policy(topo, [
        "- {name: allow-udp, action: allow, proto: udp, dport: [5000]}",
    ], default="deny", stateful=True))
    # the flow is tracked: later packets pass through conntrack before any rule
    assert exchange(topo, [udp("a", 5000)]) == {"a": N}
    ct = agent.cli("ct", "list")
    assert any(e["src"] == topo.c4 and e["dport"] == 5000 for e in ct["entries"]), ct
    g0 = gen(agent)

    def passed():
        return agent.stats()["total"]["verdicts"]["pass"]["packets"]

    # block once the stream flows (scapy takes about a second to start)
    with Stream(topo, [udp("s", 5000, count=400)], inter=0.005) as s:
        p0, deadline = passed(), time.monotonic() + 10
        while passed() < p0 + 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        res = agent.cli("block", "add", topo.c4)
        assert res["added"] == [topo.c4 + "/32"] and res["generation"] == g0 + 1
    # the stream was cut part way, and the tracked flow stays cut
    assert 0 < s.counts["s"] < 400, s.counts
    assert exchange(topo, [udp("b", 5000)]) == {"b": 0}
    rules = agent.rules()
    assert rules["sluice.block"]["packets"] >= N
    # an IPv6 prefix and an idempotent add in one call
    res = agent.cli("block", "add", topo.c4, "2001:db8:bad::/48")
    assert res["present"] == [topo.c4 + "/32"] and res["added"] == ["2001:db8:bad::/48"]
    res = agent.cli("block", "add", "2001:db8:bad::/48")
    assert res["added"] == [] and res["generation"] == res["previous"]
    assert hashes(agent) == before
    g = gen(agent)
    # the agent's own rename-over of its file is not a change of the policy dir
    time.sleep(1.5)
    assert gen(agent) == g

    # SIGKILL: the block stays in force without an agent, and the file stays
    assert agent.stop(signal.SIGKILL) == -signal.SIGKILL
    assert "192.0.2.1/32" in edits_text(agent)
    assert exchange(topo, [udp("down", 5000)]) == {"down": 0}
    agent.start()
    assert agent.cli("block", "list")["prefixes"] == [topo.c4 + "/32", "2001:db8:bad::/48"]
    assert exchange(topo, [udp("restarted", 5000)]) == {"restarted": 0}
    assert hashes(agent) == before

    res = agent.cli("block", "del", topo.c4)
    assert res["removed"] == [topo.c4 + "/32"]
    assert exchange(topo, [udp("unblocked", 5000)]) == {"unblocked": N}
    assert agent.cli("block", "list")["prefixes"] == ["2001:db8:bad::/48"]
    assert hashes(agent) == before


def test_rule_add_before_and_del(env):
    """Without --before a CLI rule goes after the hand-written ones (as `nft add
    rule` appends); with --before it decides first; del restores."""
    topo = env.topo
    agent, before = start(env, policy(topo, [
        "- {name: allow-5000, action: allow, proto: udp, dport: [5000]}",
        "- {name: deny-5001, action: deny, proto: udp, dport: [5001]}",
    ]))
    assert exchange(topo, [udp("a", 5000), udp("b", 5001)]) == {"a": N, "b": 0}

    res = agent.cli("rule", "add", "cli-deny", "--action", "deny", "--proto", "udp",
                    "--dport", "5000,5002")
    names = [r["name"] for r in agent.cli("rule", "list")["rules"]]
    assert names == ["allow-5000", "deny-5001", "cli-deny"] and res["index"] == 2
    # shadowed by allow-5000 for 5000; decides 5002
    assert exchange(topo, [udp("a", 5000), udp("c", 5002)]) == {"a": N, "c": 0}

    res = agent.cli("rule", "add", "cli-first", "--action", "deny", "--src", topo.c4,
                    "--proto", "udp", "--dport", "5000", "--before", "allow-5000")
    assert res["index"] == 0
    # before a CLI rule, and a list given by repeating the option
    agent.cli("rule", "add", "cli-allow", "--action", "allow", "--proto", "udp",
              "--dport", "5002", "--dport", "5003", "--before", "cli-deny")
    rules = agent.cli("rule", "list")["rules"]
    assert [(r["name"], r["origin"]) for r in rules] == [
        ("cli-first", "cli"), ("allow-5000", rules[1]["origin"]),
        ("deny-5001", rules[2]["origin"]), ("cli-allow", "cli"), ("cli-deny", "cli")]
    assert rules[1]["origin"].endswith("10-fw.yaml:7")
    assert rules[3]["dport"] == ["5002", "5003"]
    got = exchange(topo, [udp("a", 5000), udp("c", 5002), udp("other-src", 5000,
                                                               src="192.0.2.9")])
    assert got == {"a": 0, "c": N, "other-src": N}
    counts = agent.rules()
    assert counts["cli-first"]["packets"] == N and counts["cli-allow"]["packets"] == N

    agent.cli("rule", "del", "cli-first")
    assert exchange(topo, [udp("a", 5000)]) == {"a": N}
    assert "cli-first" not in edits_text(agent)
    assert hashes(agent) == before

    # the rules come back, in the same order, after a restart
    agent.stop(signal.SIGTERM)
    agent.start()
    names = [r["name"] for r in agent.cli("rule", "list")["rules"]]
    assert names == ["allow-5000", "deny-5001", "cli-allow", "cli-deny"]
    assert exchange(topo, [udp("c", 5002), udp("d", 5001)]) == {"c": N, "d": 0}
    # the files the agent reads are what `policy check` reads: valid together
    p = run([agent.sluice, "policy", "check", agent.policy_dir], check=False)
    assert p.returncode == 0 and "4 rules" in p.stdout, p.stdout + p.stderr
    assert hashes(agent) == before


def test_concurrent_edits_one_conflict(env):
    """Two clients edit against the same generation at once: one wins, the
    other gets a conflict naming both generations; nothing interleaves.
    Clients that name no generation all get their edit."""
    topo = env.topo
    agent, before = start(env, policy(topo, [
        "- {name: allow-5000, action: allow, proto: udp, dport: [5000]}",
    ]))
    for round_ in range(3):
        g = gen(agent)
        base = ["--socket", agent.socket]
        procs = [
            subprocess.Popen(["nsenter", "--net=/run/netns/" + topo.fw, agent.sluice] + base +
                             ["block", "add", "203.0.113.%d" % (10 + 2 * round_ + i),
                              "--generation", str(g)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in range(2)]
        outs = [p.communicate(timeout=30) + (p.returncode,) for p in procs]
        codes = sorted(o[2] for o in outs)
        assert codes == [0, 1], outs
        loser = [o for o in outs if o[2] == 1][0]
        assert "conflict" in loser[1] and str(g) in loser[1] and str(g + 1) in loser[1], loser
        assert gen(agent) == g + 1
    listed = agent.cli("block", "list")["prefixes"]
    assert len(listed) == 3
    # the file holds exactly what is in force
    assert all(p in edits_text(agent) for p in listed)

    # without --generation, concurrent edits all apply, each a whole generation
    # of its own, as concurrent `nft add element` calls do (the CLI fetched
    # the generation and sent it: most of them were conflicts)
    g = gen(agent)
    procs = [subprocess.Popen(["nsenter", "--net=/run/netns/" + topo.fw, agent.sluice,
                               "--socket", agent.socket] + args,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for args in [["rule", "add", "r%d" % i, "--action", "deny", "--proto", "udp",
                           "--dport", str(6000 + i)] for i in range(4)] +
             [["block", "add", "198.51.100.%d" % (20 + i)] for i in range(6)]]
    outs = [p.communicate(timeout=30) + (p.returncode,) for p in procs]
    assert all(o[2] == 0 for o in outs), outs
    assert gen(agent) == g + 10
    names = [r["name"] for r in agent.cli("rule", "list")["rules"]]
    assert sorted(n for n in names if n.startswith("r")) == ["r%d" % i for i in range(4)]
    listed = agent.cli("block", "list")["prefixes"]
    assert all("198.51.100.%d/32" % (20 + i) in listed for i in range(6)), listed
    assert hashes(agent) == before


def test_invalid_edits(env):
    """Invalid arguments: exit 2 naming the argument; refused edits: exit 1
    naming what; either way nothing changes."""
    topo = env.topo
    agent, before = start(env, policy(topo, [
        "- {name: allow-5000, action: allow, proto: udp, dport: [5000]}",
    ]))
    agent.cli("block", "add", "198.51.100.7")
    g = gen(agent)
    text = edits_text(agent)

    def fails(code, words, *args):
        p = agent.cli_raw(*args, json_out=False)
        assert p.returncode == code, (args, p.returncode, p.stdout, p.stderr)
        assert p.stderr.count("\n") == 1, p.stderr
        for w in words:
            assert w in p.stderr, (args, p.stderr)
        pj = agent.cli_raw(*args)
        assert pj.returncode == code and '"error"' in pj.stdout, pj.stdout

    fails(2, ["--dport", "99999"], "rule", "add", "x", "--action", "deny", "--proto", "udp",
          "--dport", "99999")
    fails(2, ["--dport", "needs proto"], "rule", "add", "x", "--action", "deny",
          "--dport", "80")
    fails(2, ["--src", "300.1.2.3"], "rule", "add", "x", "--action", "deny",
          "--src", "192.0.2.0/24,300.1.2.3")
    fails(2, ["--action", "drop"], "rule", "add", "x", "--action", "drop")
    fails(2, ["rule name", "bad name"], "rule", "add", "bad name!", "--action", "deny")
    fails(2, ["--src", "@nosuch"], "rule", "add", "x", "--action", "deny", "--src", "@nosuch")
    fails(2, ["--before", "nosuch"], "rule", "add", "x", "--action", "deny",
          "--before", "nosuch")
    fails(2, ["--action"], "rule", "add", "x")
    fails(2, ["reserved"], "rule", "add", "sluice.x", "--action", "deny")
    fails(2, ["192.0.2.300"], "block", "add", "192.0.2.300")
    fails(2, ["--generation"], "block", "add", "192.0.2.9", "--generation", "x")
    fails(1, ["allow-5000", "exists"], "rule", "add", "allow-5000", "--action", "deny")
    fails(1, ["10-fw.yaml:7"], "rule", "del", "allow-5000")
    fails(1, ["nosuch"], "rule", "del", "nosuch")
    fails(1, ["203.0.113.5/32", "not in the blocklist"], "block", "del", "198.51.100.7",
          "203.0.113.5")
    fails(1, ["conflict", str(g - 1), str(g)], "block", "add", "192.0.2.9",
          "--generation", str(g - 1))
    assert gen(agent) == g
    assert edits_text(agent) == text
    assert agent.cli("block", "list")["prefixes"] == ["198.51.100.7/32"]
    assert hashes(agent) == before

    # a CLI rule's place: the edits file, without the line ":0" it printed
    # while the rule had none (added since the file was last read)
    agent.cli("rule", "add", "cli-x", "--action", "deny", "--src", "203.0.113.9")
    fails(1, ["exists already (added by the CLI, in %s)" % os.path.join(
        agent.policy_dir, ".sluice-cli.yaml")], "rule", "add", "cli-x", "--action", "deny")


def test_policy_show_and_diff(env, tmp_path):
    """show: what is in force with origins; diff: 0 for the same dir, 1 with
    what would change, 2 for an invalid dir."""
    topo = env.topo
    text = policy(topo, [
        "- {name: allow-5000, action: allow, proto: udp, dport: [5000]}",
        "- {name: deny-bad, action: deny, src: [\"@bad\"]}",
    ])
    env.agent.write_file("05-sets.yaml", "sets:\n  bad:\n    prefixes: [203.0.113.0/25]\n")
    agent, before = start(env, text)
    agent.cli("block", "add", "198.51.100.7")
    agent.cli("rule", "add", "cli-r", "--action", "deny", "--dport", "22", "--proto", "tcp",
              "--before", "deny-bad")
    show = agent.cli("policy", "show")
    assert show["generation"] == gen(agent)
    assert [(r["name"], r["origin"] == "cli") for r in show["sections"][0]["rules"]] == [
        ("sluice.block", True), ("allow-5000", False), ("cli-r", True), ("deny-bad", False)]
    assert show["blocklist"] == ["198.51.100.7/32"]
    assert [(s["name"], s["count"]) for s in show["sets"]] == [("bad", 1)]
    assert show["conntrack"]["timeouts"]["udp"] > 0
    p = agent.cli_raw("policy", "show", json_out=False)
    assert p.returncode == 0 and "cli-r" in p.stdout and "198.51.100.7/32" in p.stdout

    # the policy dir itself: no difference
    p = agent.cli_raw("policy", "diff", agent.policy_dir)
    assert p.returncode == 0, p.stdout + p.stderr
    # a changed copy (the agent's CLI edits apply to it too)
    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / "05-sets.yaml").write_text("sets:\n  bad:\n    prefixes: [203.0.113.0/25, "
                                        "203.0.113.200]\n")
    (stage / "10-fw.yaml").write_text(text.replace("dport: [5000]", "dport: [5000, 5001]")
                                      .replace("default: allow", "default: deny") +
                                      "    - {name: new-one, action: allow}\n")
    p = agent.cli_raw("policy", "diff", str(stage))
    assert p.returncode == 1, p.stdout + p.stderr
    d = __import__("json").loads(p.stdout)
    assert [r["name"] for r in d["rules"]["added"]] == ["new-one"]
    assert d["rules"]["changed"] == [{"name": "allow-5000", "changes": {
        "dport": {"from": ["5000"], "to": ["5000", "5001"]}}}]
    assert d["sets"]["changed"][0]["added"] == ["203.0.113.200/32"]
    assert d["settings"]["sections.fw0.default"] == {"from": "allow", "to": "deny"}
    assert d["blocklist"] == {"added": [], "removed": []}
    p = agent.cli_raw("policy", "diff", str(stage), json_out=False)
    assert "+ rule new-one" in p.stdout and "~ rule allow-5000: dport 5000 -> 5000,5001" \
        in p.stdout, p.stdout
    (stage / "10-fw.yaml").write_text("firewall: [\n")
    p = agent.cli_raw("policy", "diff", str(stage), json_out=False)
    assert p.returncode == 2 and "10-fw.yaml:" in p.stderr, p.stderr
    assert hashes(agent) == before


def test_policy_diff_sees_every_part_of_the_policy(env, tmp_path):
    """diff compares what the agent applies beyond rules, sets and egress:
    load balancers (a service added, one that moved, a backend's weight or
    drain), the hook of a section, SYN cookies, decap. Each of these used
    to give "no difference", exit 0: `policy diff staging/ && echo "nothing
    to deploy"` then kept a change from being deployed."""
    topo = env.topo
    lbs = ("loadbalancers:\n"
           "  - name: web\n    vip: 192.0.2.10\n    port: 80\n    backends:\n"
           "      - { addr: 198.51.100.11, port: 8080 }\n"
           "      - { addr: 198.51.100.12, port: 8080, weight: 2 }\n")
    text = policy(topo, ["- {name: allow-5000, action: allow, proto: udp, dport: [5000]}"])
    env.agent.write_file("30-lb.yaml", lbs)
    agent, before = start(env, text)
    stage = tmp_path / "stage"

    def diff(files):
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir()
        for name, body in files.items():
            (stage / name).write_text(body)
        p = agent.cli_raw("policy", "diff", str(stage), json_out=False)
        pj = agent.cli_raw("policy", "diff", str(stage))
        assert p.returncode == pj.returncode, (p, pj)
        return p.returncode, p.stdout, json.loads(pj.stdout)

    base = {"10-fw.yaml": text, "30-lb.yaml": lbs}
    rc, out, d = diff(base)
    assert (rc, out, d["same"]) == (0, "", True), out
    assert agent.cli("policy", "show")["loadbalancers"][0]["backends"][1] == {
        "addr": "198.51.100.12", "port": 8080, "weight": 2, "drain": None}
    # and its text: it printed sections, egress entries and sets, no service
    out = agent.cli_raw("policy", "show", json_out=False).stdout
    assert "\nloadbalancer web  192.0.2.10:80/tcp  nat  table-size 65537\n" in out, out
    assert re.search(r"\n  BACKEND +WEIGHT  DRAIN\n  198\.51\.100\.11:8080 +1  -\n"
                     r"  198\.51\.100\.12:8080 +2  -\n", out), out

    rc, out, d = diff(dict(base, **{"30-lb.yaml": lbs.replace("weight: 2", "weight: 5").replace(
        "port: 80\n", "port: 8080\n").replace("port: 8080 }", "port: 8080, drain: true }", 1)
        + "  - name: dns\n    vip: 192.0.2.53\n    port: 53\n    proto: udp\n"
        "    backends: [{ addr: 198.51.100.21 }]\n"}))
    assert rc == 1 and d["same"] is False, out
    assert "+ loadbalancer dns 192.0.2.53:53/udp\n" in out, out
    assert "~ loadbalancer web port: 80 -> 8080\n" in out, out
    assert "~ loadbalancer web backend 198.51.100.12:8080 weight: 2 -> 5\n" in out, out
    assert "~ loadbalancer web backend 198.51.100.11:8080 drain: - -> policy\n" in out, out
    lb = d["loadbalancers"]
    assert [a["name"] for a in lb["added"]] == ["dns"] and lb["removed"] == []
    assert lb["changed"][0]["changes"] == {"port": {"from": 80, "to": 8080}}

    rc, out, d = diff(dict(base, **{"10-fw.yaml": text.replace(
        "  default:", "  hook: xdp\n  default:"), "40-ct.yaml":
        "conntrack: {syn-cookies: off}\ndecap: {interfaces: [\"%s\"], vips: [192.0.2.99]}\n"
        % topo.glob}))
    assert rc == 1, out
    for line in ("~ sections.fw0.hook: auto -> xdp", "~ conntrack.syn-cookies: auto -> off",
                 "~ decap.vips: - -> 192.0.2.99/32"):
        assert line + "\n" in out, out
    assert d["settings"]["conntrack.syn-cookies"] == {"from": "auto", "to": "off"}
    assert hashes(agent) == before

    gen = agent.status()["generation"]
    agent.write_policy("40-decap.yaml", "decap: {interfaces: [\"%s\"], vips: [192.0.2.99]}\n"
                       % topo.glob)
    agent.wait_generation(gen + 1)
    out = agent.cli_raw("policy", "show", json_out=False).stdout
    assert "\ndecap  interfaces %s, vips 192.0.2.99/32\n" % topo.glob in out, out


def test_block_ipv6_and_hand_edited_file(env):
    """An IPv6 block drops IPv6 only; a broken hand edit of the edits file is
    refused with its location (check and agent alike) and the policy in force
    stays."""
    topo = env.topo
    agent, before = start(env, policy(topo, [
        "- {name: allow-5000, action: allow, proto: udp, dport: [5000]}",
    ], default="deny"))
    v6 = dict(src=topo.c6, dst=topo.f6)
    assert exchange(topo, [udp("v4", 5000), udp("v6", 5000, **v6)]) == {"v4": N, "v6": N}
    agent.cli("block", "add", "2001:db8:1::/64")
    assert exchange(topo, [udp("v4", 5000), udp("v6", 5000, **v6)]) == {"v4": N, "v6": 0}
    assert agent.rules()["sluice.block"]["packets"] == N
    g = gen(agent)

    # a hand edit with a bad prefix: `policy check` and a reload both refuse it
    path = os.path.join(agent.policy_dir, EDITS)
    good = edits_text(agent)
    with open(path, "w") as f:
        f.write(good.replace("2001:db8:1::/64", "2001:db8:1::/129"))
    p = run([agent.sluice, "policy", "check", agent.policy_dir], check=False)
    assert p.returncode == 2 and EDITS + ":" in p.stderr and "129" in p.stderr, p.stderr
    agent.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while EDITS + ":" not in agent.log_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert EDITS + ":" in agent.log_text()
    assert gen(agent) == g
    assert exchange(topo, [udp("v6", 5000, **v6)]) == {"v6": 0}
    # an edit cannot build on a file it cannot read: refused, file untouched
    p = agent.cli_raw("block", "add", "198.51.100.1", json_out=False)
    assert p.returncode == 1 and EDITS in p.stderr, p.stderr
    assert "/129" in edits_text(agent)
    with open(path, "w") as f:
        f.write(good)
    agent.proc.send_signal(signal.SIGHUP)
    agent.wait_generation(g + 1)
    agent.cli("block", "del", "2001:db8:1::/64")
    assert exchange(topo, [udp("v6", 5000, **v6)]) == {"v6": N}
    assert hashes(agent) == before


def read_in(agent, name):
    try:
        with open(os.path.join(agent.policy_dir, name)) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def test_block_journal_and_a_kill_between_journal_and_maps(env):
    """Once the blocklist is in force, a block edit is a journal line and a map
    update: no new policy slot, the edits file untouched. An agent killed
    between the line and the map update leaves the edit to the next one, which
    brings the maps to the journal (here: takes a prefix out). A long journal
    is folded into the edits file."""
    topo = env.topo
    agent, before = start(env, policy(topo, [
        "- {name: allow-5000, action: allow, proto: udp, dport: [5000]}",
    ], default="deny", stateful=True))
    agent.cli("block", "add", "203.0.113.7")    # rule 0 comes: a new slot
    base = read_in(agent, EDITS)
    applies = agent.log_text().count(" applied (")
    assert exchange(topo, [udp("a", 5000)]) == {"a": N}

    res = agent.cli("block", "add", topo.c4)
    assert res["added"] == [topo.c4 + "/32"] and res["generation"] == res["previous"] + 1
    assert agent.log_text().count(" applied (") == applies      # no new slot
    assert read_in(agent, EDITS) == base
    assert " block add %s/32\n" % topo.c4 in read_in(agent, JOURNAL)
    assert exchange(topo, [udp("b", 5000)]) == {"b": 0}
    assert agent.rules()["sluice.block"]["packets"] >= N
    assert agent.cli("block", "list")["prefixes"] == ["203.0.113.7/32", topo.c4 + "/32"]
    res = agent.cli("block", "del", topo.c4)
    assert res["removed"] == [topo.c4 + "/32"]
    assert exchange(topo, [udp("c", 5000)]) == {"c": N}
    assert agent.log_text().count(" applied (") == applies
    assert " block del %s/32\n" % topo.c4 in read_in(agent, JOURNAL)

    # killed once the journal has the line, before the maps change
    agent.cli("block", "add", topo.c4)
    assert agent.stop(signal.SIGTERM) == 0
    os.environ["SLUICE_FAIL_EDIT"] = "kill-after-save"
    try:
        agent.start()
    finally:
        del os.environ["SLUICE_FAIL_EDIT"]
    p = agent.cli_raw("block", "del", topo.c4, json_out=False)
    assert p.returncode == 1 and "closed the connection" in p.stderr, p
    assert agent.stop(signal.SIGTERM) == -signal.SIGKILL, agent.log_text()
    assert exchange(topo, [udp("down", 5000)]) == {"down": 0}   # not applied yet
    agent.start()
    assert agent.cli("block", "list")["prefixes"] == ["203.0.113.7/32"]
    assert exchange(topo, [udp("restarted", 5000)]) == {"restarted": N}

    # 3,000 lines in, 3,000 out (4,096 at least): folded into the file, emptied
    many = ["198.51.100.%d/32" % i for i in range(250)]
    many += ["2001:db8:77::%x/128" % i for i in range(2750)]
    lines = read_in(agent, JOURNAL).count(" block add ")
    agent.cli("block", "add", *many)
    assert read_in(agent, JOURNAL).count(" block add ") == lines + len(many)
    agent.cli("block", "del", *many)
    assert " block " not in read_in(agent, JOURNAL)
    assert "journal: " in read_in(agent, EDITS)
    assert agent.cli("block", "list")["prefixes"] == ["203.0.113.7/32"]
    assert agent.stop(signal.SIGTERM) == 0
    agent.start()
    assert agent.cli("block", "list")["prefixes"] == ["203.0.113.7/32"]
    assert exchange(topo, [udp("end", 5000)]) == {"end": N}
    assert hashes(agent) == before


def test_edits_file_removed_or_journal_emptied_by_hand(env):
    """An edit starts from the edits file and journal as they are on disk (as
    a restart reads them), not from what the agent last read: what is in
    force after it is what a restart brings back. Removing the edits file
    removes the CLI's edits (its journal's lines were changes to it, and go
    with it); emptying the journal drops its lines. On the code before, a
    block edit after the file was removed kept the removed prefixes in force
    until a restart unblocked them, a rule edit applied the journal's lines
    alone, and a block edit after the journal was emptied padded it with NUL
    bytes, so the next start refused every CLI edit."""
    topo = env.topo
    agent, before = start(env, policy(topo, [
        "- {name: deny-5001, action: deny, proto: udp, dport: [5001]}",
    ]))
    path, jpath = (os.path.join(agent.policy_dir, n) for n in (EDITS, JOURNAL))
    srcs = ["203.0.113.%d" % i for i in range(1, 6)]

    def sent():
        return exchange(topo, [udp(s, 5000, src=s) for s in srcs])

    def blocked(*idx):
        return {s: 0 if i + 1 in idx else N for i, s in enumerate(srcs)}

    def restart():
        assert agent.stop(signal.SIGTERM) == 0, agent.log_text()
        agent.start()
        assert agent.status()["edits"]["error"] is None, agent.log_text()

    agent.cli("block", "add", srcs[0], srcs[1])     # rule 0 comes: the file
    agent.cli("block", "add", srcs[2])              # a journal line
    assert sent() == blocked(1, 2, 3)

    # the file removed: the next block edit starts from no edits
    os.unlink(path)
    agent.cli("block", "add", srcs[3])
    assert agent.cli("block", "list")["prefixes"] == [srcs[3] + "/32"]
    assert sent() == blocked(4)
    restart()
    assert agent.cli("block", "list")["prefixes"] == [srcs[3] + "/32"]
    assert sent() == blocked(4)

    # the journal emptied: its lines are gone, and the journal still loads
    agent.cli("block", "add", srcs[2])              # a journal line
    with open(jpath, "w"):
        pass
    agent.cli("block", "add", srcs[4])
    assert agent.cli("block", "list")["prefixes"] == [srcs[3] + "/32", srcs[4] + "/32"]
    assert sent() == blocked(4, 5)
    restart()
    assert agent.cli("block", "list")["prefixes"] == [srcs[3] + "/32", srcs[4] + "/32"]
    assert sent() == blocked(4, 5)

    # the file removed with a line in the journal: a rule edit brings neither back
    agent.cli("block", "add", srcs[0])              # a journal line
    os.unlink(path)
    agent.cli("rule", "add", "x", "--action", "deny", "--proto", "udp", "--dport", "5002")
    assert agent.cli("block", "list")["prefixes"] == []
    assert sent() == blocked()
    restart()
    assert agent.cli("block", "list")["prefixes"] == []
    assert "x" in agent.rules()
    assert sent() == blocked()
    assert hashes(agent) == before


def test_block_v4_mapped_refused_an_older_agents_loads_and_goes(env):
    """`block add ::ffff:203.0.113.5` is refused (it said blocked, and
    203.0.113.5 passed: no packet is matched against a mapped address); one
    an older agent journaled still loads, and `block del` takes it away."""
    topo = env.topo
    agent, _ = start(env, policy(topo, [
        "- {name: allow-5000, action: allow, proto: udp, dport: [5000]}",
    ]))
    p = agent.cli_raw("block", "add", "::ffff:203.0.113.5", json_out=False)
    assert p.returncode == 2 and "IPv4-mapped" in p.stderr and "write 203.0.113.5" in p.stderr, \
        p.stderr
    agent.cli("block", "add", "198.51.100.7")   # into the edits file
    agent.cli("block", "add", "198.51.100.8")   # a journal line
    agent.stop()
    # what an older agent wrote after `block add ::ffff:203.0.113.5` (the
    # edits file) and `block add ::ffff:203.0.113.6` (a journal line)
    path = os.path.join(agent.policy_dir, EDITS)
    with open(path) as f:
        text = f.read()
    assert "198.51.100.7/32" in text, text
    with open(path, "w") as f:
        f.write(text.replace("198.51.100.7/32", "::ffff:203.0.113.5/128"))
    path = os.path.join(agent.policy_dir, JOURNAL)
    with open(path) as f:
        seq = int(f.read().splitlines()[-1].split()[0])
    with open(path, "a") as f:
        f.write("%d block add ::ffff:203.0.113.6/128\n" % (seq + 1))
    agent.start()
    st = agent.status()
    assert st["edits"]["error"] is None and st["policy"] is not None, st["edits"]
    assert agent.cli("block", "list")["prefixes"] == [
        "::ffff:203.0.113.5/128", "198.51.100.8/32", "::ffff:203.0.113.6/128"]
    agent.cli("block", "del", "::ffff:203.0.113.5", "::ffff:203.0.113.6")
    assert agent.cli("block", "list")["prefixes"] == ["198.51.100.8/32"]


def test_rule_v4_mapped_refused_an_older_agents_loads(env):
    """`rule add --src ::ffff:203.0.113.5` is refused, naming --src; a rule
    with one that an older agent wrote into the edits file still loads (it
    never matched a packet), so the other edits go on, and `rule del`
    takes it away."""
    topo = env.topo
    agent, _ = start(env, policy(topo, [
        "- {name: allow-5000, action: allow, proto: udp, dport: [5000]}",
    ]))
    p = agent.cli_raw("rule", "add", "old-mapped", "--action", "deny", "--src",
                      "::ffff:203.0.113.5", json_out=False)
    assert p.returncode != 0 and "--src" in p.stderr and "IPv4-mapped" in p.stderr \
        and "write 203.0.113.5" in p.stderr, p.stderr
    agent.cli("rule", "add", "old-mapped", "--action", "deny", "--src", "198.51.100.7")
    agent.stop()
    # what an older agent wrote after `rule add old-mapped --src ::ffff:203.0.113.5`
    path = os.path.join(agent.policy_dir, EDITS)
    with open(path) as f:
        text = f.read()
    assert "198.51.100.7" in text, text
    with open(path, "w") as f:
        f.write(text.replace("198.51.100.7", "::ffff:203.0.113.5"))
    agent.start()
    st = agent.status()
    assert st["edits"]["error"] is None and st["policy"] is not None, st["edits"]
    agent.cli("rule", "add", "deny-6000", "--action", "deny", "--proto", "udp",
              "--dport", "6000")
    names = [r["name"] for r in agent.cli("rule", "list")["rules"]]
    assert "old-mapped" in names and "deny-6000" in names, names
    agent.cli("rule", "del", "old-mapped")
    names = [r["name"] for r in agent.cli("rule", "list")["rules"]]
    assert "old-mapped" not in names and "deny-6000" in names, names
