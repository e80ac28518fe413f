# SPDX-License-Identifier: GPL-2.0-only
"""Container egress: real cgroups v2, processes moved into them through
cgroup.procs, servers in another namespace.

The "container" is the client namespace of the topology; its processes run in
a managed cgroup; the servers listen in the fw namespace, where the agent
runs (the cgroup hooks are not per namespace: a cgroup is the host's).
"""
import json
import os
import re
import signal
import subprocess
import time


from lib.agent import pins_under
from lib.cgroups import EGCALL, egress_yaml, probe, probe_proc, results
from lib.foreign_tcx import DROP, INGRESS, PASS, ForeignTcx
from lib.netns import PYTHON, ns_cmd, run
from lib.traffic import Receiver, exchange
from test_events import monitor

SYNPROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib", "synprobe.py")

ALLOW_TCP = {"action": "allow", "dst": ["192.0.2.2", "2001:db8:1::2"], "proto": "tcp",
             "dport": ["8443"]}
ALLOW_UDP = {"name": "dns", "action": "allow", "dst": ["192.0.2.0/24"], "proto": "udp",
             "dport": ["5300"]}


def bpftool_cgroup(path):
    """The attach types of the programs attached to cgroup PATH itself."""
    p = run(["bpftool", "-j", "cgroup", "show", path], check=False)
    if p.returncode != 0 or not p.stdout.strip():
        return []
    return sorted(x["attach_type"] for x in json.loads(p.stdout))


def egress_entry(agent, name):
    for e in agent.cli("egress", "list")["egress"]:
        if e["name"] == name:
            return e
    raise AssertionError("no egress entry %s" % name)


def rule_packets(agent, name):
    """{rule: packets} of egress entry NAME."""
    return {r["name"]: r["packets"] for r in egress_entry(agent, name)["rules"]}


def egress_denied(agent):
    """The packets the cgroup_skb egress hook denied so far."""
    return agent.cli("egress", "list")["hooks"].get("egress", {}).get("denied", 0)


def test_connect_sendto_v4_v6_child_outside(env, cgroups):
    """Allowed calls go through, denied connect()/sendto() fail with EPERM (no
    timeout) and nothing arrives; IPv6 and v4-mapped likewise; connected UDP is
    judged at connect(); a child cgroup inherits; a cgroup with an entry of its
    own under a managed one follows its own; a process outside is untouched;
    counters, events, status, policy show and diff name the entry."""
    topo, agent = env.topo, env.agent
    app = cgroups.make("app")
    child = cgroups.make("app/child")
    own = cgroups.make("app/own")
    agent.write_policy("20-egress.yaml", egress_yaml([
        dict(name="app", cgroup=app, default="deny", rules=[ALLOW_TCP, ALLOW_UDP]),
        dict(name="own", cgroup=own, default="allow"),
    ]))
    agent.start()
    assert bpftool_cgroup(app) == [
        "cgroup_inet4_connect", "cgroup_inet4_getpeername", "cgroup_inet6_connect",
        "cgroup_inet6_getpeername", "cgroup_inet_egress", "cgroup_udp4_recvmsg",
        "cgroup_udp4_sendmsg", "cgroup_udp6_recvmsg", "cgroup_udp6_sendmsg"]
    mon = monitor(agent, "--count", "3")
    calls = [
        dict(op="tcp", addr="192.0.2.2", port=8443),
        dict(op="tcp", addr="192.0.2.2", port=8444),
        dict(op="udp", addr="192.0.2.2", port=5300, tag="ok4"),
        dict(op="udp", addr="192.0.2.2", port=5301, tag="no4"),
        dict(op="udpconn", addr="192.0.2.2", port=5301, tag="noc"),
        dict(op="tcp", addr="2001:db8:1::2", port=8443),
        dict(op="tcp", addr="2001:db8:1::2", port=8444),
        dict(op="udp", addr="2001:db8:1::2", port=5300, tag="no6"),
        dict(op="tcp", addr="::ffff:192.0.2.2", port=8444),
    ]
    with Receiver(topo.fw, udp=(5300, 5301), tcp=(8443, 8444)) as rx:
        inside = results(topo.client, app, calls)
        in_child = results(topo.client, child, calls[:2])
        in_own = results(topo.client, own, calls[:2])
        outside = results(topo.client, None, calls[:4])
    assert inside == ["ok", "EPERM", "ok", "EPERM", "EPERM", "ok", "EPERM", "EPERM", "EPERM"]
    assert in_child == ["ok", "EPERM"]
    assert in_own == ["ok", "ok"]
    assert outside == ["ok", "ok", "ok", "ok"]
    c = rx.counts
    # 8443: inside v4 + v6, child, own, outside; 8444: own and outside only
    assert c.get("tcp:8443") == 5 and c.get("tcp:8444") == 2, c
    assert c.get("ok4") == 2 and c.get("no4") == 1 and not c.get("noc") and not c.get("no6"), c

    out, err = mon.communicate(timeout=20)
    assert mon.returncode == 0, err
    ev = [json.loads(line) for line in out.splitlines()]
    assert [e["egress"] for e in ev] == ["app"] * 3
    assert ev[0]["hook"] == "connect4" and ev[0]["dst"] == "192.0.2.2" and \
        ev[0]["dport"] == 8444 and ev[0]["reason"] == "egress-default"
    assert ev[0]["cgroup"] == app and ev[0]["rule"] == "default"
    assert ev[1]["hook"] == "sendmsg4" and ev[1]["dport"] == 5301
    assert ev[2]["hook"] == "connect4" and ev[2]["proto"] == "udp"

    e = egress_entry(agent, "app")
    assert e["state"] == "attached" and e["cgroup"] == app
    rules = {r["name"]: r["packets"] for r in e["rules"]}
    # app.0: tcp v4 + v6 + child; dns: one sendto
    assert rules == {"app.0": 3, "dns": 1}, e
    # denied: 8444 (v4, v6, mapped, child), 5301 sendto + connect, udp6
    assert e["default"]["packets"] == 7, e
    hooks = agent.cli("egress", "list")["hooks"]
    assert hooks["connect4"]["denied"] == 3 and hooks["sendmsg6"]["denied"] == 1, hooks

    st = agent.status()
    assert [x["name"] for x in st["egress"]] == ["app", "own"]
    shown = agent.cli("policy", "show")["egress"]
    assert shown[0]["cgroup"] == app and shown[0]["rules"][1]["name"] == "dns"
    # policy diff: a staged copy with the entry's default changed
    staged = os.path.join(agent.workdir, "staged")
    os.makedirs(staged)
    with open(os.path.join(staged, "20-egress.yaml"), "w") as f:
        f.write(egress_yaml([
            dict(name="app", cgroup=app, default="allow", rules=[ALLOW_TCP]),
            dict(name="own", cgroup=own, default="allow"),
        ]))
    p = agent.cli_raw("policy", "diff", staged)
    assert p.returncode == 1, p.stderr
    d = json.loads(p.stdout)["egress"]["changed"]
    assert d[0]["name"] == "app" and d[0]["changes"]["default"] == \
        {"from": "deny", "to": "allow"}
    assert [r["name"] for r in d[0]["rules"]["removed"]] == ["dns"]


def test_late_cgroup_sigkill_restart_removal(env, cgroups):
    """A cgroup made after the agent started is enforced within 2 s; SIGKILL of
    the agent keeps the hooks and the policy; the next agent adopts the same
    links; a removed cgroup is forgotten (no word, no pins; once no socket
    made in it is left) and enforced again when it comes back; an entry removed from the policy detaches its hooks."""
    topo, agent = env.topo, env.agent
    late = cgroups.path("late")
    agent.write_policy("20-egress.yaml", egress_yaml([
        dict(name="late", cgroup=late, default="deny", rules=[ALLOW_TCP])]))
    agent.start()
    assert egress_entry(agent, "late")["state"] == "waiting"
    deny = [dict(op="tcp", addr="192.0.2.2", port=8444)]
    with Receiver(topo.fw, tcp=(8443, 8444)):
        t0 = time.monotonic()
        cgroups.make("late")
        while results(topo.client, late, deny) != ["EPERM"]:
            assert time.monotonic() - t0 < 2.0, "not enforced 2 s after the cgroup appeared"
        links = {h["hook"]: h["link_id"] for h in egress_entry(agent, "late")["hooks"]}
        assert len(links) == 9

        agent.stop(signal.SIGKILL)
        assert results(topo.client, late, deny + [dict(op="tcp", addr="192.0.2.2",
                                                       port=8443)]) == ["EPERM", "ok"]
        agent.start()
        e = egress_entry(agent, "late")
        assert {h["hook"]: h["link_id"] for h in e["hooks"]} == links
        assert results(topo.client, late, deny) == ["EPERM"]

        cgroups.remove(late)
        # its word and pins go once the kernel lets the cgroup go (no socket made
        # in it left: the probes' last ones may close a moment after they exit)
        deadline = time.monotonic() + 5
        while egress_entry(agent, "late")["state"] != "waiting" or \
                [p for p in pins_under(agent.state_dir) if "/links/eg_" in p]:
            assert time.monotonic() < deadline, agent.log_text()
            time.sleep(0.05)
        cgroups.make("late")
        deadline = time.monotonic() + 2
        while results(topo.client, late, deny) != ["EPERM"]:
            assert time.monotonic() < deadline, "not enforced again"

        agent.write_policy("20-egress.yaml", "sets: {x: {prefixes: [192.0.2.9]}}\n")
        deadline = time.monotonic() + 5
        while bpftool_cgroup(late):
            assert time.monotonic() < deadline, agent.log_text()
            time.sleep(0.1)
        assert results(topo.client, late, deny) == ["ok"]


def backstop_policy(env, cgroups, name):
    """Entry NAME, a cgroup of its own (returned), allowing ALLOW_TCP only, its
    backstop on the topology's fw interface for 192.0.2.1; the client has
    192.0.2.3 too, a source no entry manages."""
    topo = env.topo
    app = cgroups.make(name)
    run(["ip", "addr", "add", "192.0.2.3/24", "dev", topo.cdev], ns=topo.client)
    env.agent.write_policy("20-egress.yaml", egress_yaml([
        dict(name=name, cgroup=app, default="deny", rules=[ALLOW_TCP],
             backstop={"interfaces": [topo.fdev], "src": ["192.0.2.1"]})]))
    return app


def test_backstop_raw_icmp(env, cgroups):
    """A raw-socket ICMP echo from the container namespace never meets a socket
    hook: the TC backstop on the host side of its veth stops it, by source
    address; a source it does not manage still gets its reply."""
    topo, agent = env.topo, env.agent
    app = backstop_policy(env, cgroups, "bs")
    agent.start()
    assert [i for i in agent.status()["interfaces"] if i["hook"] == "egress-backstop"]
    with Receiver(topo.fw, tcp=(8443,)) as rx:
        r = results(topo.client, app, [
            dict(op="ping", addr="192.0.2.2", src="192.0.2.1"),
            dict(op="ping", addr="192.0.2.2", src="192.0.2.3"),
            dict(op="tcp", addr="192.0.2.2", port=8443),
        ])
    assert r == ["noreply", "ok", "ok"]
    assert rx.counts.get("tcp:8443") == 1
    st = agent.stats()
    assert st["egress"]["tc-backstop"]["denied"] >= 1
    # the backstop runs on tcx ingress: its drops are the tc hook's
    assert st["hooks"]["tc"]["drops"]["egress-default"]["packets"] >= 1
    assert st["hooks"]["xdp"]["drops"]["egress-default"]["packets"] == 0


def test_backstop_goes_first_and_lets_the_chain_go_on(env, cgroups, tmp_path):
    """Another tcx ingress program that passes everything (a CNI's, say) is on
    the container's interface before the agent starts: the backstop goes
    first in the chain, so the raw echo it denies is still stopped (on the
    code before, it was appended behind the other program and never ran:
    the echo was answered). And what it lets go, it passes on ("next", not
    "ok", which ended the chain): a program after it still sees it (on the
    code before, a drop-everything program after it never ran)."""
    topo, agent = env.topo, env.agent
    app = backstop_policy(env, cgroups, "bsfirst")
    pings = [dict(op="ping", addr="192.0.2.2", src="192.0.2.1"),
             dict(op="ping", addr="192.0.2.2", src="192.0.2.3")]
    with ForeignTcx(tmp_path, topo.fw, topo.fdev, INGRESS, PASS) as before:
        agent.start()
        assert results(topo.client, app, pings) == ["noreply", "ok"], agent.log_text()
        assert before.alive()
    # the other program gone, one that drops everything comes after the backstop
    with ForeignTcx(tmp_path, topo.fw, topo.fdev, INGRESS, DROP):
        assert results(topo.client, app, pings) == ["noreply", "noreply"]
    assert results(topo.client, app, pings) == ["noreply", "ok"]
    assert agent.stats()["egress"]["tc-backstop"]["denied"] >= 3
    # a restart adopts the backstop's link where it is (not taken for one moved away)
    assert agent.stop() == 0
    agent.start()
    assert "adopted the pinned egress backstop" in agent.log_text()
    assert "stale" not in agent.log_text(), agent.log_text()
    assert results(topo.client, app, pings) == ["noreply", "ok"]


def test_event_names_the_entry_and_rule_of_its_generation(env, cgroups):
    """A denial's drop event names the entry and rule of the policy generation
    whose slot judged the call, also when it is read after a reload put
    another entry and another rule at those indexes."""
    topo, agent = env.topo, env.agent
    app, other = cgroups.make("gen"), cgroups.make("gen2")

    def deny(name, port):
        return dict(name=name, action="deny", dst=["192.0.2.2"], proto="tcp", dport=[str(port)])

    def last_event():
        p = agent.cli_raw("monitor", "--backlog", "1", "--count", "1", timeout=10)
        assert p.returncode == 0, p.stderr
        [ev] = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
        return ev["egress"], ev["rule"], ev["rule_index"], ev["generation"]

    agent.write_policy("20-egress.yaml", egress_yaml([
        dict(name="app", cgroup=app, default="allow", rules=[deny("old", 8444)])]))
    agent.start()
    gen = agent.status()["generation"]
    call = [dict(op="tcp", addr="192.0.2.2", port=8444)]
    with Receiver(topo.fw, tcp=(8444, 8445)) as rx:
        assert results(topo.client, app, call) == ["EPERM"]
        # entry 0 and rule 0 are others now; the event was queued under the old policy
        agent.write_policy("20-egress.yaml", egress_yaml([
            dict(name="first", cgroup=other, default="allow", rules=[deny("x", 8445)]),
            dict(name="app", cgroup=app, default="allow",
                 rules=[deny("new", 8445), deny("old", 8444)])]))
        agent.wait_generation(gen + 1)
        assert last_event() == ("app", "old", 0, gen)
        assert results(topo.client, app, call) == ["EPERM"]
        assert last_event() == ("app", "old", 1, gen + 1)
    assert not rx.counts.get("tcp:8444"), rx.counts
    # counters belong to rules (eg_cnt_key): "old" moved from index 0 to 1 and
    # kept its first call; "new", at old's index now, starts from zero
    rules = rule_packets(agent, "app")
    assert rules == {"new": 0, "old": 2}, rules
    # a restart keeps them; a rule whose content changes starts from zero
    agent.stop(sig=signal.SIGKILL)
    agent.start()
    rules = rule_packets(agent, "app")
    assert rules == {"new": 0, "old": 2}, rules
    gen = agent.status()["generation"]
    agent.write_policy("20-egress.yaml", egress_yaml([
        dict(name="first", cgroup=other, default="allow", rules=[deny("x", 8445)]),
        dict(name="app", cgroup=app, default="allow",
             rules=[deny("old", 8444), deny("new", 8446)])]))
    agent.wait_generation(gen + 1)
    rules = rule_packets(agent, "app")
    assert rules == {"new": 0, "old": 2}, rules
    with Receiver(topo.fw, tcp=(8444, 8446)):
        assert results(topo.client, app, [dict(op="tcp", addr="192.0.2.2", port=8446)]) == \
            ["EPERM"]
    rules = rule_packets(agent, "app")
    assert rules == {"new": 1, "old": 2}, rules
    agent.write_policy("20-egress.yaml", egress_yaml([
        dict(name="app", cgroup=app, default="allow",
             rules=[deny("old", 8447), deny("new", 8446)])]))
    agent.wait_generation(gen + 2)
    rules = rule_packets(agent, "app")
    assert rules == {"new": 1, "old": 0}, rules


def test_entry_past_the_summary_level(env, cgroups):
    """An entry of 1,000 rules (past 512: the classifier's summary level and
    its bpf_loop, in the socket hooks): the last rule allows, the one before
    it denies by name, the rest of the traffic takes the default."""
    topo, agent = env.topo, env.agent
    app = cgroups.make("big")
    rules = [dict(name="r%d" % i, action="deny", dst=["192.0.2.2"], proto="tcp",
                  dport=[str(20000 + i)]) for i in range(999)]
    rules.append(dict(name="web", action="allow", dst=["192.0.2.2"], proto="tcp",
                      dport=["8443"]))
    agent.write_policy("20-egress.yaml", egress_yaml([
        dict(name="big", cgroup=app, default="deny", rules=rules)]))
    agent.start()
    mon = monitor(agent, "--count", "2")
    with Receiver(topo.fw, tcp=(8443, 8444, 20998)) as rx:
        r = results(topo.client, app, [dict(op="tcp", addr="192.0.2.2", port=p)
                                       for p in (8443, 20998, 8444)])
    assert r == ["ok", "EPERM", "EPERM"], r
    assert rx.counts.get("tcp:8443") == 1 and not rx.counts.get("tcp:20998"), rx.counts
    out, err = mon.communicate(timeout=20)
    assert mon.returncode == 0, err
    ev = [json.loads(line) for line in out.splitlines()]
    assert [(e["rule"], e["rule_index"]) for e in ev] == [("r998", 998), ("default", None)], ev
    e = egress_entry(agent, "big")
    counts = {x["name"]: x["packets"] for x in e["rules"] if x["packets"]}
    assert counts == {"web": 1, "r998": 1} and e["default"]["packets"] == 1, e


def test_too_deep_for_the_walk_is_denied(env, cgroups):
    """The hooks run for a socket only because it is inside a managed subtree:
    a cgroup more than SLUICE_EG_DEPTH (32) levels below its entry, too deep
    for the walk up to find it, is denied (EPERM, egress-too-deep), even to
    an address the entry allows; 32 levels below, the entry's policy applies."""
    topo, agent = env.topo, env.agent
    app = cgroups.make("deep")
    name, levels = "deep", []
    for i in range(33):
        name += "/n%d" % (i + 1)
        levels.append(cgroups.make(name))
    agent.write_policy("20-egress.yaml", egress_yaml([
        dict(name="deep", cgroup=app, default="deny", rules=[ALLOW_TCP, ALLOW_UDP])]))
    agent.start()
    calls = [dict(op="tcp", addr="192.0.2.2", port=8443),
             dict(op="tcp", addr="192.0.2.2", port=8444),
             dict(op="udp", addr="192.0.2.2", port=5300, tag="ok32"),
             dict(op="tcp", addr="2001:db8:1::2", port=8443)]
    with Receiver(topo.fw, tcp=(8443, 8444), udp=(5300,)) as rx:
        at32 = results(topo.client, levels[31], calls)
        before = agent.cli("egress", "list")["hooks"]
        mon = monitor(agent, "--count", "1")
        at33 = results(topo.client, levels[32], [
            dict(op="tcp", addr="192.0.2.2", port=8443),
            dict(op="udp", addr="192.0.2.2", port=5300, tag="no33"),
            dict(op="tcp", addr="2001:db8:1::2", port=8443),
            dict(op="udp", addr="2001:db8:1::2", port=5300, tag="no33v6")])
    assert at32 == ["ok", "EPERM", "ok", "ok"], at32
    assert at33 == ["EPERM"] * 4, at33
    assert rx.counts.get("tcp:8443") == 2 and rx.counts.get("ok32") == 1, rx.counts
    assert not rx.counts.get("no33") and not rx.counts.get("no33v6"), rx.counts
    hooks = agent.cli("egress", "list")["hooks"]
    for h in ("connect4", "sendmsg4", "connect6", "sendmsg6"):
        assert hooks[h]["denied"] == before[h]["denied"] + 1, (h, before, hooks)
    out, err = mon.communicate(timeout=20)
    assert mon.returncode == 0, err
    [ev] = [json.loads(line) for line in out.splitlines()]
    assert ev["reason"] == "egress-too-deep" and ev["hook"] == "connect4", ev
    assert ev["egress"] is None and ev["dst"] == "192.0.2.2" and ev["dport"] == 8443, ev
    assert ev["cgroup_id"] == os.stat(levels[32]).st_ino, ev


def test_unspecified_address_judged_as_loopback(env, cgroups):
    """connect() and sendto() to the unspecified address (0.0.0.0, ::,
    ::ffff:0.0.0.0) reach this host: the socket's own address, else loopback.
    They are judged as that host: an entry denying 127.0.0.0/8 and ::1 refuses
    them (EPERM) and a listener on loopback never sees them; a socket bound to
    an address the entry allows reaches itself through 0.0.0.0."""
    topo, agent = env.topo, env.agent
    app = cgroups.make("any")
    agent.write_policy("20-egress.yaml", egress_yaml([
        dict(name="any", cgroup=app, default="allow", rules=[
            {"name": "lo", "action": "deny", "dst": ["127.0.0.0/8", "::1"]}])]))
    agent.start()
    calls = []
    for a in ("0.0.0.0", "::", "::ffff:0.0.0.0", "127.0.0.1", "::1"):
        tag = a.replace(":", "x").replace(".", "_")
        calls += [dict(op="tcp", addr=a, port=7000),
                  dict(op="udp", addr=a, port=7000, tag="u" + tag),
                  dict(op="udpconn", addr=a, port=7000, tag="c" + tag)]
    with Receiver(topo.client, tcp=(7000,), udp=(7000,)) as rx:
        r = results(topo.client, app, calls)
        bound = results(topo.client, app, [
            dict(op="tcp", addr="0.0.0.0", port=7000, bind=topo.c4),
            dict(op="udp", addr="0.0.0.0", port=7000, bind=topo.c4, tag="bound")])
        outside = results(topo.client, None, calls[:3])
    assert r == ["EPERM"] * len(calls), list(zip(calls, r))
    assert bound == ["ok", "ok"], bound
    assert outside == ["ok", "ok", "ok"], outside
    # the bound socket and the one outside the cgroup only
    assert rx.counts.get("tcp:7000") == 2, rx.counts
    assert {k: v for k, v in rx.counts.items() if k != "tcp:7000"} == \
        {"bound": 1, "u0_0_0_0": 1, "c0_0_0_0": 1}, rx.counts
    e = egress_entry(agent, "any")
    assert {x["name"]: x["packets"] for x in e["rules"]} == {"lo": len(calls)}, e


def test_backstop_drops_what_the_parser_refuses(env, cgroups):
    """The stack delivers what the backstop's parser refuses: a first fragment
    holding 8 bytes of a TCP SYN (reassembled into the SYN) and UDP behind 9
    IPv6 extension headers (one past the parser's walk) reached a denied host.
    The backstop drops them (counted under their reasons in tc's block); the
    well-formed packets to an allowed address still arrive."""
    topo, agent = env.topo, env.agent
    app = cgroups.make("bsm")
    denied4, denied6 = "192.0.2.3", "2001:db8:1::3"
    run(["ip", "addr", "add", denied4 + "/24", "dev", topo.fdev], ns=topo.fw)
    run(["ip", "addr", "add", denied6 + "/64", "dev", topo.fdev, "nodad"], ns=topo.fw)
    allow = {"action": "allow", "dst": [topo.f4, topo.f6], "proto": ["tcp", "udp"],
             "dport": ["8443", "5300"]}
    agent.write_policy("20-egress.yaml", egress_yaml([
        dict(name="bsm", cgroup=app, default="deny", rules=[allow],
             backstop={"interfaces": [topo.fdev], "src": [topo.c4, topo.c6]})]))
    agent.start()
    before = agent.stats()["hooks"]["tc"]["drops"]
    # the one answered last: those before it had their chance (synprobe.py)
    with Receiver(topo.fw, tcp=(8443,)):
        p = run([PYTHON, SYNPROBE, topo.cdev, topo.c4, json.dumps([
            dict(dst=denied4, dport=8443, tiny=True),
            dict(dst=topo.f4, dport=8443, tiny=True),
            dict(dst=denied4, dport=8443),
            dict(dst=topo.f4, dport=8443)])], ns=topo.client, timeout=60)
    answered = json.loads(p.stdout.strip().splitlines()[-1])
    assert answered == [False, False, False, True], answered
    got = exchange(topo, [
        dict(tag="ext9deny", src=topo.c6, dst=denied6, dport=5300, ext=["dst"] * 9),
        dict(tag="ext9allow", src=topo.c6, dst=topo.f6, dport=5300, ext=["dst"] * 9),
        dict(tag="ext8allow", src=topo.c6, dst=topo.f6, dport=5300, ext=["dst"] * 8),
        dict(tag="ok6", src=topo.c6, dst=topo.f6, dport=5300)])
    assert got == {"ext9deny": 0, "ext9allow": 0, "ext8allow": 1, "ok6": 1}, got
    after = agent.stats()["hooks"]["tc"]["drops"]
    for why in ("truncated-tcp", "ipv6-ext-chain-too-long"):
        assert after[why]["packets"] - before[why]["packets"] == 2, (why, before, after)


def test_source_routed_packets_dropped(env, cgroups):
    """A source route set by an unprivileged process (IPv6: a segment routing
    header through IPV6_RTHDR, sticky or per sendmsg(); IPv4: LSRR through
    IP_OPTIONS or IP_RETOPTS) sends every packet of a call judged for an
    allowed address first to a denied host. The egress hook (cgroup_skb) drops
    them: the denied host sees none of them (frames counted on its interface,
    where it would route them on to the allowed address: seg6 and source
    routes accepted there), and the same calls without the route still work."""
    topo, agent = env.topo, env.agent
    app = cgroups.make("srh")
    denied4, denied6 = "192.0.2.3", "2001:db8:1::3"
    fw = topo.fw
    run(["ip", "addr", "add", denied4 + "/24", "dev", topo.fdev], ns=fw)
    run(["ip", "addr", "add", denied6 + "/64", "dev", topo.fdev, "nodad"], ns=fw)
    # the denied host passes a routed packet on to the allowed one (also local):
    # without the fix, TCP connects through it
    for k in ("net.ipv6.conf.all.seg6_enabled", "net.ipv6.conf.%s.seg6_enabled" % topo.fdev,
              "net.ipv4.conf.all.accept_source_route",
              "net.ipv4.conf.%s.accept_source_route" % topo.fdev):
        run(["sysctl", "-qw", k + "=1"], ns=fw)
    allow = {"action": "allow", "dst": [topo.f4, topo.f6], "proto": ["tcp", "udp"],
             "dport": ["8443", "5300"]}
    agent.write_policy("20-egress.yaml", egress_yaml([
        dict(name="srh", cgroup=app, default="deny", rules=[allow])]))
    agent.start()
    routed = []
    for dst, via in ((topo.f6, denied6), (topo.f4, denied4)):
        v = "6" if ":" in dst else "4"
        routed += [dict(op="tcp", addr=dst, port=8443, via=via),
                   dict(op="udp", addr=dst, port=5300, via=via, tag="rt" + v),
                   dict(op="udpconn", addr=dst, port=5300, via=via, tag="rtconn" + v)]
    # IPv6 takes no segment routing header as a cmsg (the kernel's EINVAL)
    routed.append(dict(op="udp", addr=topo.f4, port=5300, via=denied4, cmsg=True,
                       tag="rtcmsg4"))
    plain = [dict(op="tcp", addr=topo.f6, port=8443),
             dict(op="udp", addr=topo.f6, port=5300, tag="plain6"),
             dict(op="tcp", addr=topo.f4, port=8443),
             dict(op="udp", addr=topo.f4, port=5300, tag="plain4")]
    before = egress_denied(agent)
    with Receiver(fw, tcp=(8443,), udp=(5300,), packet=[topo.fdev]) as rx:
        r = results(topo.client, app, routed)
        ok = results(topo.client, app, plain)
    # TCP: the SYN never leaves (connect() times out); UDP: sendmsg() fails
    assert r == ["timeout", "EPERM", "EPERM"] * 2 + ["EPERM"], r
    assert ok == ["ok"] * 4, ok
    c = rx.counts
    assert not [t for t in c if t.startswith("rt")], c
    # the plain datagrams: once on the interface, once at the socket
    assert c.get("plain6") == 2 and c.get("plain4") == 2 and c.get("tcp:8443") == 2, c
    after = egress_denied(agent)
    assert after - before >= 7, (before, after)
    assert "cgroup_inet_egress" in bpftool_cgroup(app)
    e = egress_entry(agent, "srh")
    assert {h["hook"] for h in e["hooks"]} >= {"egress", "connect6"}, e


def second_addresses(topo):
    """A second IPv4 and IPv6 address of fw (a host a rule may allow beside
    one it denies), added to its veth: (v4, v6)."""
    other4, other6 = "192.0.2.3", "2001:db8:1::3"
    run(["ip", "addr", "add", other4 + "/24", "dev", topo.fdev], ns=topo.fw)
    run(["ip", "addr", "add", other6 + "/64", "dev", topo.fdev, "nodad"], ns=topo.fw)
    return other4, other6


def test_udplite_connected_judged_per_packet(env, cgroups):
    """UDP-Lite runs no connect() hook (the kernel's udplite_prot has no
    pre_connect) and a connected socket's send() no sendmsg hook: a UDP-Lite
    socket connected to a denied host sent to it unjudged. The egress hook
    judges each packet of a connected UDP-Lite socket: its send() fails with
    EPERM and nothing reaches the wire (frames counted on the far interface),
    IPv4 and IPv6; to a host a rule allows (by address: UDP-Lite has no
    ports for the rules) it goes on; unconnected sendto() stays judged by the
    sendmsg hooks."""
    topo, agent = env.topo, env.agent
    app = cgroups.make("lite")
    other4, other6 = second_addresses(topo)
    agent.write_policy("20-egress.yaml", egress_yaml([
        dict(name="lite", cgroup=app, default="deny",
             rules=[ALLOW_TCP, ALLOW_UDP,
                    {"name": "other", "action": "allow", "dst": [other4, other6]}])]))
    agent.start()
    before = egress_denied(agent)
    calls = []
    for dst, ok in ((topo.f4, other4), (topo.f6, other6)):
        v = "6" if ":" in dst else "4"
        calls += [dict(op="udpconn", proto="udplite", addr=dst, port=5301, tag="noconn" + v),
                  dict(op="udp", proto="udplite", addr=dst, port=5301, tag="no" + v),
                  dict(op="udpconn", proto="udplite", addr=ok, port=5301, tag="okconn" + v)]
    with Receiver(topo.fw, packet=[topo.fdev]) as rx:
        r = results(topo.client, app, calls)
    assert r == ["EPERM", "EPERM", "ok"] * 2, r
    c = rx.counts
    assert not [t for t in c if t.startswith("no")], c
    assert c.get("okconn4") == 1 and c.get("okconn6") == 1, c
    rules = rule_packets(agent, "lite")
    assert rules["other"] == 2, rules
    after = egress_denied(agent)
    assert after - before == 2, (before, after)


def test_ping_socket_judged_per_packet(env, cgroups):
    """A ping socket (SOCK_DGRAM, IPPROTO_ICMP/ICMPV6: unprivileged where
    ping_group_range allows, as container runtimes set it) runs no hook for
    sendto(): its echo requests went to denied hosts unjudged. The egress
    hook judges each one: nothing reaches the wire, IPv4 and IPv6 (sendto()
    fails with EPERM for IPv4); to a host a rule allows it goes on."""
    topo, agent = env.topo, env.agent
    app = cgroups.make("ping")
    other4, other6 = second_addresses(topo)
    run(["sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647"], ns=topo.client)
    agent.write_policy("20-egress.yaml", egress_yaml([
        dict(name="ping", cgroup=app, default="deny",
             rules=[ALLOW_TCP, {"name": "other", "action": "allow", "dst": [other4, other6]}])]))
    agent.start()
    before = egress_denied(agent)
    calls = [dict(op="pingsock", addr=topo.f4, tag="no4"),
             dict(op="pingsock", addr=other4, tag="ok4"),
             dict(op="pingsock", addr=topo.f6, tag="no6"),
             dict(op="pingsock", addr=other6, tag="ok6")]
    with Receiver(topo.fw, packet=[topo.fdev]) as rx:
        r = results(topo.client, app, calls)
    # IPv6: the echo is dropped all the same, but the kernel's ping_v6_sendmsg()
    # does not return the error of sending it
    assert r == ["EPERM", "ok", "ok", "ok"], r
    c = rx.counts
    assert not c.get("no4") and not c.get("no6"), c
    assert c.get("ok4") == 1 and c.get("ok6") == 1, c
    rules = rule_packets(agent, "ping")
    assert rules["other"] == 2, rules
    after = egress_denied(agent)
    assert after - before == 2, (before, after)


def test_tcp_fast_open_judged(env, cgroups):
    """TCP Fast Open connects from sendto(MSG_FASTOPEN), with no connect()
    call, or from a connect() after TCP_FASTOPEN_CONNECT that sends no SYN
    (with data in the SYN without a cookie, tcp_fastopen 0x4: the first
    send() does): the kernel runs the connect hooks there too. A denied
    destination fails with EPERM and is never accepted (v4, v6, v4-mapped);
    an allowed one connects."""
    topo, agent = env.topo, env.agent
    app = cgroups.make("tfo")
    agent.write_policy("20-egress.yaml", egress_yaml([
        dict(name="tfo", cgroup=app, default="deny", rules=[ALLOW_TCP])]))
    agent.start()
    calls = [dict(op="tfo", addr=a, port=p, tag="tfo", connect=c)
             for c in (False, True)
             for a in (topo.f4, topo.f6, "::ffff:" + topo.f4) for p in (8444, 8443)]
    # 1: a SYN first, the data after the handshake; 5: the data in the SYN
    for mode in (1, 5):
        run(["sysctl", "-qw", "net.ipv4.tcp_fastopen=%d" % mode], ns=topo.client)
        with Receiver(topo.fw, tcp=(8443, 8444)) as rx:
            r = results(topo.client, app, calls)
        # the receiver closes what it accepted at once: with the data in
        # the SYN, it may come before the close and the reset back to the
        # client before its SO_ERROR is read (accepted all the same)
        assert [x if x != "ECONNRESET" else "ok" for x in r] == ["EPERM", "ok"] * 6, (mode, r)
        assert rx.counts.get("tcp:8443") == 6 and not rx.counts.get("tcp:8444"), \
            (mode, rx.counts)


ALLOW_UDP6 = {"name": "dns6", "action": "allow", "dst": ["2001:db8:1::/64"], "proto": "udp",
              "dport": ["5300"]}


def egcall(*argv):
    """An egprobe call running egcall ARGV (sendmmsg(), io_uring, ...)."""
    return dict(op="egcall", argv=[EGCALL] + [str(a) for a in argv])


def test_sendmmsg_and_named_sends_of_a_connected_socket_judged(env, cgroups):
    """sendmmsg() names a destination per message: each one is judged by the
    sendmsg hooks on its own. A denied message fails and ends the call: the
    kernel returns the count sent before it (EPERM when it was the first),
    the messages after it are not sent (IPv4, IPv6, v4-mapped). A connected
    UDP socket's sendto() with another address is judged for that address
    (its send()s are not: judged at connect()); so is an IPv4 name (struct
    sockaddr_in) given to an IPv6 socket, which the kernel sends as IPv4."""
    topo, agent = env.topo, env.agent
    app = cgroups.make("mmsg")
    other4, other6 = second_addresses(topo)
    agent.write_policy("20-egress.yaml", egress_yaml([
        dict(name="mmsg", cgroup=app, default="deny", rules=[ALLOW_UDP, ALLOW_UDP6])]))
    agent.start()
    calls = []
    for v, a in (("4", topo.f4), ("6", topo.f6), ("m", "::ffff:" + topo.f4)):
        calls += [egcall("sendmmsg", a, 5300, "a" + v, a, 5301, "b" + v, a, 5300, "c" + v),
                  egcall("sendmmsg", a, 5301, "d" + v, a, 5300, "e" + v),
                  egcall("sendmmsg", a, 5300, "f" + v, a, 5300, "g" + v)]
    calls += [dict(op="udpconn", addr=topo.f4, port=5300, tag="conn4", to=[topo.f4, 5301]),
              dict(op="udpconn", addr=topo.f4, port=5300, tag="ok4", to=[other4, 5300]),
              dict(op="udpconn", addr=topo.f6, port=5300, tag="conn6", to=[topo.f6, 5301]),
              dict(op="udpconn", addr=topo.f6, port=5300, tag="ok6", to=[other6, 5300]),
              egcall("sendto46", topo.f4, 5301, "s46no"),
              egcall("sendto46", topo.f4, 5300, "s46ok"),
              egcall("connect46", topo.f4, 5301, "c46no"),
              egcall("connect46", topo.f4, 5300, "c46ok")]
    with Receiver(topo.fw, udp=(5300, 5301)) as rx:
        r = probe(topo.client, app, calls)
    assert [x["result"] for x in r] == [1, "EPERM", 2] * 3 + ["ok"] * 4 + \
        ["EPERM", "ok", "EPERM", "ok"], r
    assert [x["to"] for x in r[9:13]] == ["EPERM", "ok"] * 2, r
    c = rx.counts
    for v in "46m":
        assert c.get("a" + v) == 1 and c.get("f" + v) == 1 and c.get("g" + v) == 1, c
        assert not [t for t in "bcde" if c.get(t + v)], c
    assert c.get("conn4") == 1 and c.get("conn6") == 1 and not c.get("conn4-to") and \
        not c.get("conn6-to"), c
    assert c.get("ok4-to") == 1 and c.get("ok6-to") == 1, c
    assert c.get("s46ok") == 1 and c.get("c46ok") == 1, c
    assert not c.get("s46no") and not c.get("c46no"), c


def test_io_uring_judged_as_the_syscalls(env, cgroups):
    """io_uring's connect and sends run the same kernel paths as the system
    calls, from the ring's worker as well: IORING_OP_CONNECT (TCP, on a
    socket of the caller's or on one IORING_OP_SOCKET made in the worker;
    UDP, then IORING_OP_SEND without an address), IORING_OP_SENDMSG with a name,
    IORING_OP_SEND and IORING_OP_SEND_ZC with a destination address. A
    denied one completes with -EPERM and sends nothing; an allowed one goes."""
    topo, agent = env.topo, env.agent
    app = cgroups.make("uring")
    agent.write_policy("20-egress.yaml", egress_yaml([
        dict(name="uring", cgroup=app, default="deny", rules=[ALLOW_TCP, ALLOW_UDP, ALLOW_UDP6])]))
    agent.start()
    calls, want = [], []
    for v, a in (("4", topo.f4), ("6", topo.f6), ("m", "::ffff:" + topo.f4)):
        for op in ("connect", "sockconnect"):
            calls += [egcall("uring", op, a, 8444), egcall("uring", op, a, 8443)]
            want += ["EPERM", "ok"]
        for op in ("sendmsg", "send", "sendzc", "connsend"):
            calls += [egcall("uring", op, a, 5301, "no" + op + v),
                      egcall("uring", op, a, 5300, "ok" + op + v)]
            want += ["EPERM", "ok"]
    with Receiver(topo.fw, udp=(5300, 5301), tcp=(8443, 8444)) as rx:
        r = probe(topo.client, app, calls)
    assert [x["result"] for x in r] == want, r
    assert [x["send"] for x in r if "send" in x] == ["ok"] * 3, r
    c = rx.counts
    assert c.get("tcp:8443") == 6 and not c.get("tcp:8444"), c
    assert not [t for t in c if t.startswith("no")], c
    for v in "46m":
        for op in ("sendmsg", "send", "sendzc", "connsend"):
            assert c.get("ok" + op + v) == 1, (op, v, c)


def test_socket_judged_by_the_cgroup_it_was_made_in(env, cgroups):
    """A process that moves between cgroups: a socket it made before the move
    is judged by the cgroup it was made in (none: not judged), one made after
    by the cgroup it is in now. Into a managed cgroup: the old socket still
    connects and sends where the entry denies, a new one is refused. Out of
    it (a process that may write an unmanaged cgroup's cgroup.procs): the
    socket made inside stays refused, a new one goes. A thread io_uring
    started before the move moved with the process."""
    topo, agent = env.topo, env.agent
    app, free = cgroups.make("moved"), cgroups.make("free")
    agent.write_policy("20-egress.yaml", egress_yaml([
        dict(name="moved", cgroup=app, default="deny", rules=[ALLOW_TCP])]))
    agent.start()
    f4 = topo.f4

    def keep(k, kind):
        return dict(op="keep", id=k, kind=kind, addr=f4)

    calls = [keep("t0", "tcp"), keep("u0", "udp"), dict(op="move", cgroup=app),
             keep("t1", "tcp"), keep("u1", "udp"),
             dict(op="tcp", sock="t0", addr=f4, port=8444),
             dict(op="udp", sock="u0", addr=f4, port=5301, tag="before"),
             dict(op="tcp", sock="t1", addr=f4, port=8444),
             dict(op="udp", sock="u1", addr=f4, port=5301, tag="inside"),
             keep("t2", "tcp"), keep("u2", "udp"), dict(op="move", cgroup=free),
             keep("t3", "tcp"), keep("u3", "udp"),
             dict(op="tcp", sock="t2", addr=f4, port=8444),
             dict(op="udp", sock="u2", addr=f4, port=5301, tag="made-inside"),
             dict(op="tcp", sock="t3", addr=f4, port=8444),
             dict(op="udp", sock="u3", addr=f4, port=5301, tag="after")]
    with Receiver(topo.fw, udp=(5301,), tcp=(8444,)) as rx:
        r = [x["result"] for x in probe(topo.client, free, calls) if x["op"] in ("tcp", "udp")]
    assert r == ["ok", "ok", "EPERM", "EPERM", "EPERM", "EPERM", "ok", "ok"], r
    c = rx.counts
    assert c.get("tcp:8444") == 2 and c.get("before") == 1 and c.get("after") == 1, c
    assert not c.get("inside") and not c.get("made-inside"), c
    # io_uring's worker thread, started before the move, moves with the
    # process: a socket it makes after the move is the managed cgroup's
    with Receiver(topo.fw, tcp=(8443, 8444)) as rx:
        r = probe(topo.client, free, [egcall("uring-moved", app, op, f4, p)
                                      for op in ("sockconnect", "connect") for p in (8444, 8443)])
    assert [x["result"] for x in r] == ["EPERM", "ok"] * 2, r
    assert rx.counts.get("tcp:8443") == 2 and not rx.counts.get("tcp:8444"), rx.counts


def test_socket_passed_with_scm_rights_judged_by_its_maker(env, cgroups):
    """A socket passed over a unix socket (SCM_RIGHTS) stays its maker's:
    one made outside any managed cgroup and passed to a process in a
    managed one connects and sends where that one's entry denies (whoever
    can hand a container sockets can grant it egress), while the sockets
    the receiver makes itself are refused; one made in the managed cgroup
    and passed out stays refused, where the receiver's own go."""
    topo, agent = env.topo, env.agent
    app = cgroups.make("app")
    agent.write_policy("20-egress.yaml", egress_yaml([
        dict(name="app", cgroup=app, default="deny", rules=[ALLOW_TCP])]))
    agent.start()
    f4, path = topo.f4, "@%s-scm" % topo.pfx
    keep = [dict(op="keep", id="t", kind="tcp", addr=f4),
            dict(op="keep", id="u", kind="udp", addr=f4),
            dict(op="give", ids=["t", "u"], path=path)]

    def passed(maker, user, tag):
        """The results of the calls USER makes with the sockets MAKER passed
        it (tagged TAG), then with its own (TAG-own)."""
        p = probe_proc(topo.client, user, [
            dict(op="take", ids=["t", "u"], path=path, say="bound"),
            dict(op="tcp", sock="t", addr=f4, port=8444),
            dict(op="udp", sock="u", addr=f4, port=5301, tag=tag),
            dict(op="tcp", addr=f4, port=8444),
            dict(op="udp", addr=f4, port=5301, tag=tag + "-own")])
        try:
            assert p.line() == "bound"
            assert results(topo.client, maker, keep) == ["ok"] * 3
            return [x["result"] for x in json.loads(p.line())]
        finally:
            p.close()

    with Receiver(topo.fw, udp=(5301,), tcp=(8444,)) as rx:
        into = passed(None, app, "in")
        out = passed(app, None, "out")
    assert into == ["ok", "ok", "ok", "EPERM", "EPERM"], into
    assert out == ["ok", "EPERM", "EPERM", "ok", "ok"], out
    c = rx.counts
    assert c.get("tcp:8444") == 2 and c.get("in") == 1 and c.get("out-own") == 1, c
    assert not c.get("in-own") and not c.get("out"), c
    assert egress_entry(agent, "app")["default"]["packets"] == 4


def eg_cg_ids(agent):
    """The cgroup ids eg_cg has a word for."""
    p = run(["bpftool", "-j", "map", "dump", "pinned",
             os.path.join(agent.state_dir, "maps", "eg_cg")])
    return [int.from_bytes(bytes(int(b, 16) for b in e["key"]), "little")
            for e in json.loads(p.stdout)]


def link_cgroup_id(link_id):
    """The cgroup id bpftool reports for cgroup link LINK_ID; 0 once detached."""
    p = run(["bpftool", "-j", "link", "show", "id", str(link_id)], check=False)
    return json.loads(p.stdout).get("cgroup_id", 0) if p.returncode == 0 else 0


def test_socket_outliving_its_removed_cgroup_stays_judged(env, cgroups):
    """A socket made in a managed cgroup outlives the cgroup: its process
    moved out (or passed it on with SCM_RIGHTS and exited) and the cgroup
    was removed. The kernel keeps the cgroup, and its programs, as long as
    such a socket lives; the agent keeps its links and eg_cg word as long
    (on the code before, it forgot them at once, and the socket connected
    where its entry denies). Once the last such socket is closed the kernel
    detaches the links, and the agent forgets them within a second (its
    audit looks each second)."""
    topo, agent = env.topo, env.agent
    gone, free = cgroups.make("gone"), cgroups.make("free")
    agent.write_policy("20-egress.yaml", egress_yaml([
        dict(name="gone", cgroup=gone, default="deny", rules=[ALLOW_TCP])]))
    agent.start()
    e = egress_entry(agent, "gone")
    old, links = e["cgroup_id"], [h["link_id"] for h in e["hooks"]]
    assert old in eg_cg_ids(agent)
    f4 = topo.f4
    calls = [dict(op="keep", id="t0", kind="tcp", addr=f4),
             dict(op="keep", id="t1", kind="tcp", addr=f4),
             dict(op="keep", id="t2", kind="tcp", addr=f4),
             dict(op="move", cgroup=free),
             dict(op="tcp", sock="t0", addr=f4, port=8444),
             # the agent sees the removal within milliseconds
             dict(op="rmdir", cgroup=gone, sleep=1.0),
             dict(op="tcp", sock="t1", addr=f4, port=8444),
             dict(op="tcp", sock="t2", addr=f4, port=8443)]
    with Receiver(topo.fw, tcp=(8443, 8444)) as rx:
        r = [x["result"] for x in probe(topo.client, gone, calls) if x["op"] == "tcp"]
    assert r == ["EPERM", "EPERM", "ok"], r
    assert not rx.counts.get("tcp:8444") and rx.counts.get("tcp:8443") == 1, rx.counts
    assert "sockets made in it live on" in agent.log_text(), agent.log_text()
    # the probe is gone, its sockets closed: the kernel lets the cgroup go
    deadline = time.monotonic() + 10
    while any(link_cgroup_id(x) for x in links):
        assert time.monotonic() < deadline, "the removed cgroup's links stay attached"
        time.sleep(0.1)
    deadline = time.monotonic() + 5
    while [p for p in pins_under(agent.state_dir) if "/links/eg_%d_" % old in p]:
        assert time.monotonic() < deadline, agent.log_text()
        time.sleep(0.05)
    assert "its last socket is closed: forgotten" in agent.log_text()
    assert old not in eg_cg_ids(agent)
    cgroups.make("gone")
    deadline = time.monotonic() + 2
    while egress_entry(agent, "gone")["state"] != "attached":
        assert time.monotonic() < deadline, agent.log_text()
        time.sleep(0.05)


def removed_ids(agent, name):
    """The ids of entry NAME's removed cgroups the agent keeps for their sockets."""
    return sorted(r["cgroup_id"] for r in egress_entry(agent, name).get("removed", []))


def cgroup_pins(agent, cgid):
    """The pins (links, record) of cgroup CGID under the agent's links/."""
    return sorted(p for p in pins_under(agent.state_dir) if "/links/eg_%d_" % cgid in p)


def test_socket_outliving_its_removed_cgroup_judged_across_restarts(env, cgroups):
    """A socket that outlives its removed cgroup stays judged by its entry
    across a restart of the agent: a clean one, and one after SIGKILL with a
    second cgroup of the entry removed while no agent ran. The next agent
    ties the cgroup's pinned links to the entry through the record the
    previous one left beside them (links/eg_ID_cgroup, the entry's path),
    moves them to its programs and writes the cgroup's word for the entry's
    new slot; `egress list` shows both as removed. Once their last socket is
    closed the kernel lets them go and the agent forgets them (pins, record,
    word). On the code before, the new agent unpinned such links as stale
    and dropped the word: the socket connected where its entry denies."""
    topo, agent = env.topo, env.agent
    gone, free = cgroups.make("gone"), cgroups.make("free")
    agent.write_policy("20-egress.yaml", egress_yaml([
        dict(name="gone", cgroup=gone, default="deny", rules=[ALLOW_TCP])]))
    agent.start()
    first = egress_entry(agent, "gone")["cgroup_id"]
    f4 = topo.f4

    def keep(k):
        return dict(op="keep", id=k, kind="tcp", addr=f4)

    def tcp(k, port):
        return dict(op="tcp", sock=k, addr=f4, port=port)

    calls = [keep("a0"), keep("a1"), keep("a2"), keep("a3"), dict(op="move", cgroup=free),
             dict(op="rmdir", cgroup=gone, sleep=0.5), tcp("a0", 8444),
             dict(op="pause", say="removed"),      # the agent restarted (SIGTERM)
             tcp("a1", 8444), tcp("a2", 8443),
             dict(op="pause", say="judged"),       # the cgroup made again
             dict(op="move", cgroup=gone), keep("b0"), keep("b1"),
             dict(op="move", cgroup=free),
             dict(op="pause", say="second"),       # SIGKILL, rmdir, start
             tcp("a3", 8444), tcp("b0", 8444), tcp("b1", 8443)]
    # what the agent shows after each restart: asserted after the calls' results
    seen = {}

    def restarted(key, sig):
        agent.stop(sig)
        if sig == signal.SIGKILL:
            cgroups.remove(gone)
        agent.start()
        made = [x for x in (first, second) if x]
        seen[key] = (removed_ids(agent, "gone"), {x: len(cgroup_pins(agent, x)) for x in made},
                     sorted(x for x in eg_cg_ids(agent) if x in made))
        seen[key + "-text"] = agent.cli_raw("egress", "list", json_out=False).stdout
        seen[key + "-status"] = agent.cli_raw("status", json_out=False).stdout

    second = None
    with Receiver(topo.fw, tcp=(8443, 8444)) as rx:
        p = probe_proc(topo.client, gone, calls)
        try:
            assert p.line() == "removed", agent.log_text()
            restarted("clean", signal.SIGTERM)
            assert p.say("go") == "judged"
            cgroups.make("gone")
            deadline = time.monotonic() + 2
            while egress_entry(agent, "gone")["state"] != "attached":
                assert time.monotonic() < deadline, agent.log_text()
                time.sleep(0.05)
            second = egress_entry(agent, "gone")["cgroup_id"]
            assert p.say("go") == "second"
            restarted("sigkill", signal.SIGKILL)
            out = json.loads(p.say("go"))
        finally:
            if p.proc.poll() is None:
                p.proc.kill()
            p.proc.communicate()
    r = [x["result"] for x in out if x["op"] == "tcp"]
    assert r == ["EPERM", "EPERM", "ok", "EPERM", "EPERM", "ok"], (r, agent.log_text())
    assert not rx.counts.get("tcp:8444") and rx.counts.get("tcp:8443") == 2, rx.counts
    # nine links and the record each (the second cgroup is made after the first restart)
    assert seen["clean"] == ([first], {first: 10}, [first]), seen
    assert seen["sigkill"] == (sorted([first, second]), {first: 10, second: 10},
                               sorted([first, second])), seen
    assert "  removed cgroup id %d: sockets made in it live on, judged by this entry " \
        "(9 hooks)\n" % first in seen["clean-text"], seen["clean-text"]
    # status: the entry's REMOVED column (its last)
    assert re.search(r"^gone +%s +- +waiting +deny +1 +1$" % re.escape(gone),
                     seen["clean-status"], re.M), seen["clean-status"]
    assert re.search(r"^gone +%s +- +waiting +deny +1 +2$" % re.escape(gone),
                     seen["sigkill-status"], re.M), seen["sigkill-status"]
    assert agent.log_text().count("sockets made in it live on: adopted") == 3, \
        agent.log_text()
    # the probe is gone, its sockets closed: the kernel lets both cgroups go
    deadline = time.monotonic() + 10
    while removed_ids(agent, "gone") or cgroup_pins(agent, first) or \
            cgroup_pins(agent, second):
        assert time.monotonic() < deadline, agent.log_text()
        time.sleep(0.1)
    assert not {first, second} & set(eg_cg_ids(agent))
    assert egress_entry(agent, "gone")["state"] == "waiting"


def test_removed_cgroup_without_a_usable_record(env, cgroups):
    """The record beside the links of a removed cgroup, which a socket made
    in it outlives, is missing (a half-written one left instead) or cannot
    be used: garbage (a control character, a forged log line), a path of
    4000 bytes that no entry names, a dir in its place. The next agent
    starts all the same, says in its log what it found, and does with those
    links what it did before records were written: it detaches and unpins
    them and drops their words (the sockets are then judged by no entry).
    So it does with those of a sound record whose entry the policy dropped
    meanwhile."""
    topo, agent = env.topo, env.agent
    kinds = ("none", "garbage", "huge", "dir", "dropped")
    paths = {k: cgroups.make("bad" + k) for k in kinds}
    free = cgroups.make("free")

    def policy(names):
        agent.write_policy("20-egress.yaml", egress_yaml([
            dict(name=k, cgroup=paths[k], default="deny") for k in names]))

    policy(kinds)
    agent.start()
    ids = {k: egress_entry(agent, k)["cgroup_id"] for k in kinds}
    calls = []
    for k in kinds:
        calls += [dict(op="move", cgroup=paths[k]),
                  dict(op="keep", id=k, kind="tcp", addr=topo.f4)]
    calls += [dict(op="move", cgroup=free)] + [dict(op="rmdir", cgroup=paths[k]) for k in kinds]
    calls += [dict(op="pause", say="removed")]
    links = os.path.join(agent.state_dir, "links")

    def record(k, suffix="cgroup"):
        return os.path.join(links, "eg_%d_%s" % (ids[k], suffix))

    p = probe_proc(topo.client, free, calls)
    try:
        assert p.line() == "removed", agent.log_text()
        agent.stop()
        policy(kinds[:-1])
        for k in kinds[:-1]:
            os.unlink(record(k))
        os.symlink(paths["none"], record("none", "cgroup_new"))
        os.symlink(paths["garbage"] + "\nforged", record("garbage"))
        os.symlink("/" + "a" * 4000, record("huge"))
        os.mkdir(record("dir"))
        mark = len(agent.log_text())
        agent.start()
        log = agent.log_text()[mark:]
        assert "removing %s, a record a previous agent left half-written" % \
            record("none", "cgroup_new") in log, log
        assert "cgroup id %d have no record (%s)" % (ids["none"], record("none")) in log, log
        assert "record %s is not used: it holds control characters" % record("garbage") in log
        assert "record %s is not used: it is not a symlink" % record("dir") in log, log
        for k in kinds:
            assert "cgroup id %d is no longer managed: detaching" % ids[k] in log, log
            assert cgroup_pins(agent, ids[k]) == [], k
        assert [removed_ids(agent, k) for k in kinds[:-1]] == [[]] * 4
        assert not set(ids.values()) & set(eg_cg_ids(agent))
        assert json.loads(p.say("go"))[-1] == {"op": "pause", "result": "ok"}
    finally:
        if p.proc.poll() is None:
            p.proc.kill()
        p.proc.communicate()
        # the agent leaves a dir it did not make (teardown would refuse it)
        if os.path.isdir(record("dir")):
            os.rmdir(record("dir"))


def test_multipath_tcp_judged(env, cgroups):
    """A Multipath TCP socket (IPPROTO_MPTCP) connects through a TCP subflow
    of its own, made by the kernel and given the socket's cgroup: a denied
    destination fails with EPERM (IPv4, IPv6, v4-mapped), an allowed one
    connects."""
    topo, agent = env.topo, env.agent
    app = cgroups.make("mptcp")
    agent.write_policy("20-egress.yaml", egress_yaml([
        dict(name="mptcp", cgroup=app, default="deny", rules=[ALLOW_TCP])]))
    agent.start()
    calls = [dict(op="tcp", proto="mptcp", addr=a, port=p)
             for a in (topo.f4, topo.f6, "::ffff:" + topo.f4) for p in (8444, 8443)]
    with Receiver(topo.fw, tcp=(8443, 8444)) as rx:
        r = results(topo.client, app, calls)
    assert r == ["EPERM", "ok"] * 3, r
    assert rx.counts.get("tcp:8443") == 3 and not rx.counts.get("tcp:8444"), rx.counts


# A Multipath TCP server: accepts on PORT, keeps each connection a while (bounded)
MPTCP_SERVER = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(8)
s.settimeout(20)
print("ready", flush=True)
kept, end = [], time.monotonic() + 20
while time.monotonic() < end:
    try:
        kept.append(s.accept()[0])
    except socket.timeout:
        break
"""


def mp_join_syn_rx(ns):
    """The MP_JOIN SYNs the MPTCP stack of NS has received (a new subflow each)."""
    p = run(["nstat", "-az", "--json", "MPTcpExtMPJoinSynRx"], ns=ns)
    return json.loads(p.stdout)["kernel"]["MPTcpExtMPJoinSynRx"]


def test_multipath_tcp_subflow_to_an_announced_address_judged(env, cgroups):
    """An MPTCP server announces another address of its own (ADD_ADDR); the
    client's kernel opens a subflow there by itself (the path manager, in a
    kernel worker, on a socket it gives the connection's cgroup). The
    subflow's connect runs the connect hook: to an address the entry does
    not allow it is refused and no MP_JOIN SYN reaches the server; where
    the entry allows it, the subflow joins."""
    topo, agent = env.topo, env.agent
    deny, allow = cgroups.make("mpjoin-no"), cgroups.make("mpjoin-ok")
    other = "192.0.2.3"
    run(["ip", "addr", "add", other + "/24", "dev", topo.fdev], ns=topo.fw)
    for ns in (topo.client, topo.fw):
        run(["ip", "mptcp", "limits", "set", "subflows", "2", "add_addr_accepted", "2"], ns=ns)
    run(["ip", "mptcp", "endpoint", "add", other, "dev", topo.fdev, "signal"], ns=topo.fw)
    agent.write_policy("20-egress.yaml", egress_yaml([
        dict(name="mpjoin-no", cgroup=deny, default="deny", rules=[ALLOW_TCP]),
        dict(name="mpjoin-ok", cgroup=allow, default="deny",
             rules=[dict(ALLOW_TCP, dst=[topo.f4, other])])]))
    agent.start()
    srv = subprocess.Popen(ns_cmd(topo.fw, [PYTHON, "-c", MPTCP_SERVER, "8443"]),
                           stdout=subprocess.PIPE, text=True)
    try:
        assert srv.stdout.readline().strip() == "ready"
        before = agent.cli("egress", "list")["hooks"].get("connect4", {}).get("denied", 0)
        call = [dict(op="tcp", proto="mptcp", addr=topo.f4, port=8443, hold=1.5)]
        assert results(topo.client, deny, call) == ["ok"]
        assert mp_join_syn_rx(topo.fw) == 0
        assert agent.cli("egress", "list")["hooks"]["connect4"]["denied"] == before + 1
        assert results(topo.client, allow, call) == ["ok"]
        assert mp_join_syn_rx(topo.fw) == 1
    finally:
        srv.kill()
        srv.wait(timeout=10)


def test_tunnel_device_outer_packets_need_the_backstop(env, cgroups):
    """A container with CAP_NET_ADMIN in its network namespace (a rootless
    one's root has it) can make a tunnel device: a VXLAN whose remote is a
    host and port the entry denies. Its call names the inner address, which
    a rule allows; the outer datagram is the kernel's own (the tunnel's
    socket, past every socket hook; the packet hook does not run for it):
    it reaches the denied host. The backstop judges it by its source
    address and drops it."""
    topo, agent = env.topo, env.agent
    app = cgroups.make("vxlan")
    vx = topo.cdev + "vx"
    inner = {"name": "overlay", "action": "allow", "dst": ["203.0.113.0/24"], "proto": "udp",
             "dport": ["5300"]}

    def policy(backstop):
        agent.write_policy("20-egress.yaml", egress_yaml([
            dict(name="vxlan", cgroup=app, default="deny", rules=[ALLOW_TCP, inner],
                 backstop=backstop and {"interfaces": [topo.fdev], "src": [topo.c4]})]))

    for cmd in (["ip", "link", "add", vx, "type", "vxlan", "id", "42", "remote", topo.f4,
                 "local", topo.c4, "dstport", "5301", "dev", topo.cdev],
                ["ip", "addr", "add", "203.0.113.1/24", "dev", vx],
                ["ip", "link", "set", vx, "up"],
                ["ip", "neigh", "add", "203.0.113.2", "lladdr", "02:00:5e:00:53:02", "dev", vx,
                 "nud", "permanent"]):
        run(cmd, ns=topo.client)
    policy(backstop=False)
    agent.start()
    gen = agent.status()["generation"]
    call = [dict(op="udp", addr="203.0.113.2", port=5300, tag="vx1"),
            dict(op="udp", addr=topo.f4, port=5301, tag="direct")]
    with Receiver(topo.fw, udp=(5301,)) as rx:
        assert results(topo.client, app, call) == ["ok", "EPERM"]
    assert rx.counts.get("vx1") == 1 and not rx.counts.get("direct"), rx.counts
    policy(backstop=True)
    agent.wait_generation(gen + 1)
    call[0]["tag"] = "vx2"
    with Receiver(topo.fw, udp=(5301,)) as rx:
        assert results(topo.client, app, call) == ["ok", "EPERM"]
    assert not rx.counts.get("vx2") and not rx.counts.get("direct"), rx.counts
    assert agent.stats()["egress"]["tc-backstop"]["denied"] >= 1


def test_one_cgroup_under_two_paths_refused(env, cgroups):
    """Two entries whose paths name one cgroup (a symlink, /proc/self/root/...)
    would share its one eg_cg word: one entry's policy silently not enforced.
    Such a policy is an error naming both entries, at the second's
    FILE:LINE:COL, in `sluice policy check` and in the agent, which applies
    nothing of it and keeps the policy in force."""
    topo, agent = env.topo, env.agent
    real = cgroups.make("dup")
    link = os.path.join(agent.workdir, "duplink")
    os.symlink(real, link)
    one = egress_yaml([dict(name="b", cgroup=real, default="deny", rules=[ALLOW_TCP])])
    agent.write_policy("20-egress.yaml", one)
    agent.start()
    gen = agent.status()["generation"]
    calls = [dict(op="tcp", addr="192.0.2.2", port=8443),
             dict(op="tcp", addr="192.0.2.2", port=8444)]
    for alias in (link, "/proc/self/root" + real):
        two = egress_yaml([dict(name="a", cgroup=alias, default="allow"),
                           dict(name="b", cgroup=real, default="deny", rules=[ALLOW_TCP])])
        staged = os.path.join(agent.workdir, "staged")
        os.makedirs(staged, exist_ok=True)
        f = os.path.join(staged, "20-egress.yaml")
        with open(f, "w") as fh:
            fh.write(two)
        line = [i + 1 for i, ln in enumerate(two.splitlines()) if ln.endswith(" " + real)][0]
        p = subprocess.run([agent.sluice, "policy", "check", f], capture_output=True,
                           text=True, timeout=30)
        assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
        want = '%s:%d:13: cgroup %s of egress "b" is the cgroup %s of egress "a" (at %s:3:13)' \
            % (f, line, real, alias, f)
        assert want in p.stderr, p.stderr

        refusals = agent.log_text().count("stays in force")
        agent.write_policy("20-egress.yaml", two)
        deadline = time.monotonic() + 10
        while agent.log_text().count("stays in force") <= refusals:
            assert time.monotonic() < deadline, agent.log_text()
            time.sleep(0.05)
        assert agent.status()["generation"] == gen
        assert [e["name"] for e in agent.cli("egress", "list")["egress"]] == ["b"]
        with Receiver(topo.fw, tcp=(8443, 8444)):
            assert results(topo.client, real, calls) == ["ok", "EPERM"]
