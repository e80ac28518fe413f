# SPDX-License-Identifier: GPL-2.0-only
"""Upgrades across map layout changes, under traffic.

The previous release (PREV_REV, built from git by `make test-bins` into
BUILD/prev-REV; STAMP_REV likewise, for the lookup filter's layout) runs a
stateful firewall; then the current agent starts on
the same state dir while traffic flows. Its maps differ: sl_verdict and
sl_drop have more entries and ct_stats more counters (replaced, their
counters carried over by name), IPv4 connections have a table of their own
(ct4_shards: the release's ct_shards is carried over into both), `hook: auto` puts a veth on tcx ingress
(the release had it on XDP: the link moves, live), and the policy slots of 512 rules
(fwo_*, sl_ifslot, fw_rule_cnt) are retired names (the slots are rebuilt in
fwp_*, sl_ifslot_v2; the rule counters carried over by rule order into
fw_rule_cnt_v2). Checked: no denied packet passes, every allowed one
arrives, a connection that passes only through conntrack keeps passing (its
entry survives), the counters are carried over, and the previous program
set and maps are freed. A restart on the state of this build replaces
nothing.
"""
import json
import os
import signal
import subprocess
import time

import pytest

from lib.agent import build_dir, pins_under
from lib.cgroups import egress_yaml
from lib.netns import PYTHON, LineProc, xdp_prog_id
from lib.traffic import Stream, exchange, probe_udp

PREV_REV = "eafd583"
# the lookup filter's one stamp per bucket for every entry (ct_stamp of 2^15
# words, two buckets to a word); this build keeps two per bucket, a word
# each, two words to an entry
STAMP_REV = "374538b"
# two stamps per bucket, the bucket of the key's hash; this build's bucket is
# of the pair of addresses (ct_stamp's layout the same, ct_cfg mmapable)
PAIR_REV = "162513b"
HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "lib", "ct_peer.py")
TCP_PORT = 5301
COUNT = 1000
INTER = 0.004

# fw -> client over TCP, held open: one message every 20 ms, each echoed by
# the client's server. The client's packets (SYN-ACK, echoes, ACKs) reach
# fw only through conntrack: the policy allows none of them. On a line
# "report": {"echoed": n, "since": seconds since the last echo}.
ECHO = r"""
import json, select, socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.setblocking(False)
print("open", flush=True)
echoed, last, buf, nxt = 0, time.monotonic(), b"", 0.0
deadline = time.monotonic() + float(sys.argv[3])
while time.monotonic() < deadline:
    now = time.monotonic()
    if now >= nxt:
        try:
            s.send(b"m")
        except BlockingIOError:
            pass
        nxt = now + 0.02
    r, _, _ = select.select([s, sys.stdin], [], [], 0.01)
    if s in r:
        data = s.recv(4096)
        if not data:
            break
        echoed += len(data)
        last = time.monotonic()
    if sys.stdin in r:
        if not sys.stdin.readline():
            break
        print(json.dumps({"echoed": echoed, "since": time.monotonic() - last}), flush=True)
"""


def prev_binaries(rev=PREV_REV):
    d = os.path.join(build_dir(), "prev-" + rev)
    found = (os.path.join(d, "sluiced"), os.path.join(d, "sluice"))
    if all(os.access(p, os.X_OK) for p in found):
        return found
    repo = os.path.join(HERE, "..")
    if not os.path.exists(os.path.join(repo, ".git")):
        pytest.skip("no git checkout: the release %s cannot be built here" % rev)
    pytest.fail("%s is missing: make test-bins builds it" % found[0])


@pytest.fixture
def server(topo):
    p = LineProc(topo.client, [PYTHON, PEER, "serve", str(TCP_PORT), "--max-seconds", "120"])
    try:
        assert p.line() == "ready"
        yield p
    finally:
        p.close()


def bpftool(*args):
    p = subprocess.run(["bpftool", "-j"] + list(args), capture_output=True, text=True)
    return json.loads(p.stdout) if p.returncode == 0 else None


def wait_gone(kind, ids, what):
    """Poll (to a 10 s backstop) until no bpf object KIND (prog, map) of IDS is loaded."""
    deadline = time.monotonic() + 10
    for i in ids:
        while bpftool(kind, "show", "id", str(i)) is not None:
            assert time.monotonic() < deadline, "%s (%s id %d) is still loaded" % (what, kind, i)
            time.sleep(0.05)


def conn_entry(agent):
    """The conntrack entry of fw's connection to the client's echo server."""
    found = [e for e in agent.cli("ct", "list", "--proto", "tcp")["entries"]
             if e["dport"] == TCP_PORT]
    assert len(found) == 1, found
    return found[0]


def counters(agent):
    """Both hooks together: an upgrade may move the veth from XDP to tc (auto)."""
    st = agent.cli("stats")
    st = st.get("total", st["hooks"]["xdp"])    # a release before the hooks: all XDP's
    return {"rule": agent.rules()["deny-5001"]["packets"],
            "policy-rule": st["drops"]["policy-rule"]["packets"],
            "drop": st["verdicts"]["drop"]["packets"],
            "pass": st["verdicts"]["pass"]["packets"],
            "created": agent.cli("ct", "stats")["created"]}


def rules_5000_5001():
    return [dict(name="deny-5001", action="deny", proto="udp", dport=["5001"]),
            dict(name="allow-5000", action="allow", proto="udp", dport=["5000"])]


def upgrade_under_traffic(env, between):
    """Traffic through the running agent: a stream of allowed (udp 5000) and
    denied (udp 5001) datagrams, and fw's TCP connection to the client that
    passes only through conntrack. Stop the agent, call BETWEEN(), start
    the agent again; check that traffic flows and the connection passes
    after it. Returns (stream counts, counters and conntrack entry before,
    the entry after, seconds between them)."""
    t, agent = env.topo, env.agent
    echo = LineProc(t.fw, [PYTHON, "-c", ECHO, t.c4, str(TCP_PORT), "60"])
    spec = dict(src=t.c4, dst=t.f4, proto="udp", count=COUNT)
    try:
        assert echo.line() == "open"
        with Stream(t, [dict(spec, tag="allowed", dport=5000),
                        dict(spec, tag="denied", dport=5001)], inter=INTER) as s:
            s.wait_arrived("allowed", 10)
            before = counters(agent)
            ct_before = conn_entry(agent)
            t0 = time.monotonic()
            assert agent.stop(signal.SIGTERM) == 0, agent.log_text()
            between()
            agent.start()
            n = s.arrived("allowed")
            s.wait_arrived("allowed", n + 10)
            assert s.running(), "the stream ended right after the upgrade; slow it down"
            r = json.loads(echo.say("report"))
            deadline = time.monotonic() + 10
            while json.loads(echo.say("report"))["echoed"] < r["echoed"] + 10:
                assert time.monotonic() < deadline, "the connection stalled after the upgrade"
                time.sleep(0.05)
            ct_after = conn_entry(agent)
            elapsed = time.monotonic() - t0
    finally:
        echo.close()
    # the entry lived through it (not created anew: its age goes on)
    assert ct_after["state"] == "established", ct_after
    assert ct_after["age"] >= ct_before["age"] + int(elapsed) - 1, (ct_before, ct_after)
    assert ct_after["packets"] > ct_before["packets"], (ct_before, ct_after)
    return s.counts, before


def test_upgrade_from_previous_release(env, server):
    t, agent = env.topo, env.agent
    current = (agent.sluiced, agent.sluice)
    agent.sluiced, agent.sluice = prev_binaries()
    # no hook key (the release has none): auto, which was XDP everywhere and
    # is tcx ingress on a veth now, so the upgrade also moves the veth to tc
    env.start(default="deny", stateful=True, rules=rules_5000_5001(), hook=None)
    old = agent.attached()[t.fdev]
    progs = os.path.join(agent.state_dir, "progs")
    old_progs = [old["prog_id"]] + [e["formatted"]["value"] for b in os.listdir(progs)
                                    for e in bpftool("map", "dump", "pinned",
                                                     os.path.join(progs, b, "sl_tails"))]
    assert len(old_progs) == 3, old_progs
    links = os.path.join(agent.state_dir, "links")
    old_progs += [bpftool("link", "show", "pinned", os.path.join(links, n))["prog_id"]
                  for n in os.listdir(links) if n.startswith("tc_")]
    assert len(old_progs) == 4, old_progs   # the TC egress program of conntrack
    maps = os.path.join(agent.state_dir, "maps")
    old_drop = bpftool("map", "show", "pinned", os.path.join(maps, "sl_drop"))
    assert old_drop["max_entries"] == 19, old_drop
    retired = {n: bpftool("map", "show", "pinned", os.path.join(maps, n))["id"]
               for n in ("fwo_cfg", "sl_ifslot", "fw_rule_cnt", "sl_verdict")}

    def current_build():
        agent.sluiced, agent.sluice = current

    counts, before = upgrade_under_traffic(env, current_build)
    assert counts == {"allowed": COUNT, "denied": 0}, counts

    # the counters went on from where the previous release left them: every
    # denied packet counted once, by the old program or the new one (a
    # per-CPU write of the carry-over may lose one increment made in the
    # microseconds between its read and its write: docs/architecture.md)
    after = counters(agent)
    print("counters before the upgrade %s, after the stream %s" % (before, after))
    for k in ("rule", "policy-rule"):
        assert COUNT - 1 <= after[k] <= COUNT, (k, before, after, agent.log_text())
    for k in ("drop", "pass", "created"):
        assert after[k] >= before[k], (k, before, after)
    st = agent.cli("stats")["hooks"]
    assert "syncookie-bad" in st["xdp"]["drops"] and "tx" in st["xdp"]["verdicts"], st
    # what the release counted is XDP's (carried by name), what came after the
    # move tc's: both moved
    assert st["xdp"]["drops"]["policy-rule"]["packets"] >= before["policy-rule"] > 0, (st, before)
    assert st["tc"]["drops"]["policy-rule"]["packets"] > 0, st

    # the veth moved from XDP to tcx ingress (auto), the new link attached
    # before the old one went (the stream above lost nothing and let nothing
    # through); the previous program set is freed
    new = [i for i in agent.status()["interfaces"] if i["name"] == t.fdev and i["hook"] == "tc"]
    assert len(new) == 1 and new[0]["hook_from"] == "auto", agent.status()["interfaces"]
    assert new[0]["link_id"] != old["link_id"] and new[0]["prog_id"] != old["prog_id"], (old, new)
    assert t.fdev not in agent.attached() and xdp_prog_id(t.fw, t.fdev) is None
    assert "the firewall moved to tcx ingress" in agent.log_text()
    assert bpftool("map", "show", "pinned", os.path.join(maps, "sl_drop_v2"))["max_entries"] > 19
    assert not os.path.exists(os.path.join(maps, "sl_drop"))
    assert not os.path.exists(os.path.join(agent.state_dir, "upgrade")), \
        os.listdir(agent.state_dir)
    log = agent.log_text()
    assert "is a name this build retired" in log and "by rule order" in log, log
    # the release kept IPv4 connections in ct_shards (40-byte keys): carried
    # into ct4_shards, where the connection above went on passing
    assert "the one before ct4_shards took over part of what it holds" in log, log
    assert "connections carried over from the previous layout of ct_shards" in log, log
    st = agent.cli("ct", "stats")
    assert st["entries_ipv4"] >= 1 and st["entries_ipv6"] == 0, st
    assert "sl_drop: the counters carried over into sl_drop_v2 as the xdp hook's" in log, log
    pins = os.listdir(maps)
    assert not [n for n in pins if n.startswith("fwo_") or n in retired], pins
    assert "sl_ifslot_v2" in pins and "fwp_cfg" in pins, pins
    wait_gone("prog", old_progs, "a program of the previous release")
    wait_gone("map", [old_drop["id"]] + list(retired.values()), "a map of the previous release")


@pytest.mark.parametrize("rev", [STAMP_REV, PAIR_REV])
def test_upgrade_from_other_stamp_buckets(env, server, rev):
    """A release whose lookup filter's words mean something else runs a
    stateful firewall with the filter on: STAMP_REV, one stamp per bucket,
    two buckets to a word of ct_stamp (this build: a word per bucket, its
    assured entries' stamp in one half, the unassured ones' in the other;
    ct_stamp's values differ in size), or PAIR_REV, the same words, each the
    bucket of a key's hash (this build: of the pair of addresses; ct_cfg is
    mmapable now). Either way the conntrack group is replaced (ct_cfg anew:
    the filter off until this agent has stamped every carried entry), never
    reading the pinned words as this build's. Under traffic: the connection
    that passes only through conntrack, live across the change, keeps
    passing (never skipped), a UDP flow idle through it is still found, and
    the filter is on again afterwards, skipping lookups."""
    t, agent = env.topo, env.agent
    current = (agent.sluiced, agent.sluice)
    agent.sluiced, agent.sluice = prev_binaries(rev)
    env.start(default="deny", stateful=True, rules=rules_5000_5001())
    maps = os.path.join(agent.state_dir, "maps")
    old_stamp = bpftool("map", "show", "pinned", os.path.join(maps, "ct_stamp"))
    old_cfg = bpftool("map", "show", "pinned", os.path.join(maps, "ct_cfg"))
    if rev == STAMP_REV:
        assert (old_stamp["bytes_value"], old_stamp["max_entries"]) == (8, 1 << 15), old_stamp
        # the release's coarse clock: a map of its own, pinned, shared by its XDP and TC objects
        old_clock = bpftool("map", "show", "pinned", os.path.join(maps, "sl_clock"))
    else:
        assert (old_stamp["bytes_value"], old_stamp["max_entries"]) == (16, 1 << 14), old_stamp
        assert old_cfg["flags"] == 0, old_cfg
    st = agent.cli("ct", "stats")
    assert st["lookup_filter"], st
    # fw:5302 -> client:5303 udp, answered once: conntrack lets the answers in, and
    # only it (the policy allows nothing to fw port 5302); idle
    # from then until after the upgrade
    idle = LineProc(t.fw, [PYTHON, "-c", IDLE_UDP, t.c4, "5303", "5302"])
    try:
        assert idle.line() == "ready"
        echo = LineProc(t.client, [PYTHON, "-c", UDP_ECHO, t.c4, "5303"])
        try:
            assert echo.line() == "ready"
            assert idle.say("send") == "answered", "no answer before the upgrade"

            def current_build():
                agent.sluiced, agent.sluice = current

            counts, _ = upgrade_under_traffic(env, current_build)
            assert counts == {"allowed": COUNT, "denied": 0}, counts
            assert idle.say("send") == "answered", "the idle flow was not found after it"
        finally:
            echo.close()
    finally:
        idle.close()
    log = agent.log_text()
    assert "connections carried over" in log, log
    assert "conntrack: lookup filter on" in log, log
    new_stamp = bpftool("map", "show", "pinned", os.path.join(maps, "ct_stamp"))
    assert (new_stamp["bytes_value"], new_stamp["max_entries"]) == (16, 1 << 14), new_stamp
    assert new_stamp["id"] != old_stamp["id"], (old_stamp, new_stamp)
    new_cfg = bpftool("map", "show", "pinned", os.path.join(maps, "ct_cfg"))
    assert new_cfg["flags"] == 0x400, new_cfg  # BPF_F_MMAPABLE
    st = agent.cli("ct", "stats")
    assert st["lookup_filter"], st
    # denied frames (rule deny-5001) between two addresses with no live
    # connection (IPv6: every connection above is IPv4) are misses of a
    # bucket with no live entry: skipped
    before = st["filter_skipped"]
    got = exchange(t, [dict(src=t.c6, dst=t.f6, proto="udp", count=5, tag=str(p), dport=p)
                       for p in (5000, 5001)])
    assert got == {"5000": 5, "5001": 0}, got
    assert agent.cli("ct", "stats")["filter_skipped"] > before
    wait_gone("map", [old_stamp["id"]], "the previous ct_stamp")
    if rev != STAMP_REV:
        return
    # the clock is in each object's sl_scratch now (the TC object's too: it is
    # loaded, the stream above went through conntrack): a retired pin, and no
    # object pins its program set's own scratch for the others to share
    pins = os.listdir(maps)
    assert "sl_clock" not in pins and "sl_scratch" not in pins, pins
    wait_gone("map", [old_clock["id"]], "the previous sl_clock")


# fw's end of a UDP flow to ADDR:PORT from SPORT: on "send" sends one datagram and
# says "answered" when the answer comes within 2 s, else "silent".
IDLE_UDP = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[3])))
s.settimeout(2)
print("ready", flush=True)
for line in sys.stdin:
    s.sendto(b"q", (sys.argv[1], int(sys.argv[2])))
    try:
        s.recvfrom(64)
        print("answered", flush=True)
    except socket.timeout:
        print("silent", flush=True)
"""

# The client's UDP echo on PORT (bound to ADDR): every datagram back to its sender,
# until its stdin closes (LineProc.close; it waited out its 60 s timeout before).
UDP_ECHO = r"""
import select, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
while True:
    r, _, _ = select.select([s, sys.stdin], [], [])
    if sys.stdin in r and not sys.stdin.readline():
        break
    if s in r:
        d, a = s.recvfrom(64)
        s.sendto(d, a)
"""


def swap_pin(state_dir, name, *spec):
    """Replace the pin of map NAME by a new map of another layout (bpftool map
    create SPEC) while no agent runs: what a new build with another layout
    finds. The attached programs keep the map they were loaded with."""
    path = os.path.join(state_dir, "maps", name)
    os.unlink(path)
    subprocess.run(["bpftool", "map", "create", path] + list(spec) + ["name", name],
                   check=True, capture_output=True)
    return bpftool("map", "show", "pinned", path)["id"]


def test_upgrade_rebuilds_slots_and_copies_conntrack(env, server):
    """Layout changes of the policy slots (sl_ifslot_a) and of the conntrack
    group (ct_cfg), made by replacing their pins while no agent runs: the
    agent builds the policy into new slot maps and moves the link only then,
    copies every connection into a new table, and frees the previous maps.
    Under traffic: no denied packet passes, every allowed one arrives, the
    connection that passes only through conntrack keeps passing."""
    t, agent = env.topo, env.agent
    env.start(default="deny", stateful=True, rules=rules_5000_5001())
    old = agent.attached()[t.fdev]
    gen = agent.status()["generation"]
    maps = os.path.join(agent.state_dir, "maps")
    real = {n: bpftool("map", "show", "pinned", os.path.join(maps, n))["id"]
            for n in ("sl_ifslot_a_v2", "ct_cfg", "ct_shards", "fwp_cfg")}

    def other_layouts():
        swap_pin(agent.state_dir, "sl_ifslot_a_v2", "type", "array", "key", "4", "value", "4",
                 "entries", "1024")
        swap_pin(agent.state_dir, "ct_cfg", "type", "array", "key", "4", "value", "40",
                 "entries", "1")

    counts, _ = upgrade_under_traffic(env, other_layouts)
    log = agent.log_text()
    assert counts == {"allowed": COUNT, "denied": 0}, counts
    assert "rebuilt from the policy" in log and "connections carried over" in log, log
    assert agent.status()["generation"] > gen
    new = agent.attached()[t.fdev]
    assert new["link_id"] == old["link_id"] and new["prog_id"] != old["prog_id"], (old, new)
    now = {n: bpftool("map", "show", "pinned", os.path.join(maps, n))["id"] for n in real}
    assert not set(now.values()) & set(real.values()), (real, now)
    assert not os.path.exists(os.path.join(agent.state_dir, "upgrade"))
    wait_gone("prog", [old["prog_id"]], "the previous entry program")
    wait_gone("map", list(real.values()), "a map of the previous layout")


# A process of a managed cgroup: connect() to PORT_OK and PORT_NO of ADDR in
# turn until told to stop; counts what the hooks said. EPERM is the hook's
# denial; anything else (refused: nothing listens) passed the hook.
CONNECTS = r"""
import errno, json, os, select, socket, sys, time
with open(os.path.join(sys.argv[1], "cgroup.procs"), "w") as f:
    f.write(str(os.getpid()))
addr, ok_port, no_port = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
deadline = time.monotonic() + float(sys.argv[5])
n = {"ok_passed": 0, "ok_denied": 0, "no_denied": 0, "no_passed": 0}
print("ready", flush=True)
while time.monotonic() < deadline:
    for port, what in ((ok_port, "ok"), (no_port, "no")):
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect((addr, port))
            denied = False
        except OSError as e:
            denied = e.errno == errno.EPERM
        s.close()
        n[what + ("_denied" if denied else "_passed")] += 1
    if select.select([sys.stdin], [], [], 0)[0]:
        break
print(json.dumps(n), flush=True)
"""


def test_upgrade_moves_cgroup_hooks_after_the_apply(env, cgroups):
    """Container egress across a layout change of the slots group (sl_ifslot_a)
    and of eg_stats, while a managed cgroup connect()s: its pinned cgroup
    links stay (same link ids) and move to the new hooks only once the new
    maps hold the policy (eg_cg is rebuilt with the slots), so no connect()
    the entry denies passes and none it allows is denied at any time; the
    hook counters are carried over by name, the rule counters of a build
    without eg_cnt_key by id; the previous hooks are freed."""
    t, agent = env.topo, env.agent
    app = cgroups.make("app")
    agent.write_policy("20-egress.yaml", egress_yaml([dict(
        name="app", cgroup=app, default="deny",
        rules=[dict(action="allow", dst=[t.f4], proto="tcp", dport=["8443"])])]))
    env.start(default="allow")
    links = os.path.join(agent.state_dir, "links")

    def cgroup_links():
        """{pin name: link} of the cgroup links (not the cgroup's record, a symlink)."""
        return {name: bpftool("link", "show", "pinned", os.path.join(links, name))
                for name in os.listdir(links)
                if name.startswith("eg_") and not os.path.islink(os.path.join(links, name))}

    old = cgroup_links()
    assert len(old) == 9, old
    maps = os.path.join(agent.state_dir, "maps")
    eg_cg = bpftool("map", "show", "pinned", os.path.join(maps, "eg_cg"))["id"]
    ncpu = len(bpftool("map", "lookup", "pinned", os.path.join(maps, "eg_stats"),
                       "key", "0", "0", "0", "0")["values"])

    def other_layouts():
        swap_pin(agent.state_dir, "sl_ifslot_a_v2", "type", "array", "key", "4",
                 "value", "4", "entries", "1024")
        # eg_stats of a build with 9 entries: connect4-denied (1) counted 1000 per CPU
        path = os.path.join(maps, "eg_stats")
        swap_pin(agent.state_dir, "eg_stats", "type", "percpu_array", "key", "4",
                 "value", "16", "entries", "9")
        subprocess.run(["bpftool", "map", "update", "pinned", path, "key", "1", "0", "0",
                        "0", "value", "0xe8", "3"] + ["0"] * 14, check=True)
        # eg_rule_cnt of a build without eg_cnt_key, whose ids were entry base +
        # rule (8192 of them): app's allow rule (id 0) counted 1,000,000 per CPU
        path = os.path.join(maps, "eg_rule_cnt")
        swap_pin(agent.state_dir, "eg_rule_cnt", "type", "percpu_array", "key", "4",
                 "value", "16", "entries", "8192")
        subprocess.run(["bpftool", "map", "update", "pinned", path, "key", "0", "0", "0",
                        "0", "value", "0x40", "0x42", "0x0f"] + ["0"] * 13, check=True)
        os.unlink(os.path.join(maps, "eg_cnt_key"))

    loop = LineProc(t.client, [PYTHON, "-c", CONNECTS, app, t.f4, "8443", "8444", "60"])
    try:
        assert loop.line() == "ready"
        assert agent.stop(signal.SIGTERM) == 0, agent.log_text()
        other_layouts()
        agent.start()
        n = json.loads(loop.say("stop"))
    finally:
        loop.close()
    log = agent.log_text()
    print("connects during the upgrade: %s" % n)
    assert n["no_passed"] == 0 and n["ok_denied"] == 0, (n, log)
    assert n["no_denied"] > 10 and n["ok_passed"] > 10, n
    assert "cgroup links moved to this build's hooks" in log, log
    assert log.index("cgroup links moved") > log.index("rebuilt from the policy"), log
    new = cgroup_links()
    assert sorted(new) == sorted(old)
    for name, link in new.items():
        assert link["id"] == old[name]["id"] and link["prog_id"] != old[name]["prog_id"], \
            (name, old[name], link)
    assert bpftool("map", "show", "pinned", os.path.join(maps, "eg_cg"))["id"] != eg_cg
    hooks = agent.cli("egress", "list")["hooks"]
    # the fake's 1000 per CPU (what the real previous map counted stays with it)
    assert hooks["connect4"]["denied"] >= 1000 * ncpu, hooks
    # the rule counter at its previous id (entry base + rule), then owned by the rule
    [entry] = agent.cli("egress", "list")["egress"]
    assert entry["rules"][0]["packets"] >= 1000000 * ncpu, entry
    assert entry["rules"][0]["packets"] < 1500000 * ncpu, entry   # carried once
    assert not os.path.exists(os.path.join(agent.state_dir, "upgrade"))
    wait_gone("prog", [link["prog_id"] for link in old.values()], "a previous hook")
    wait_gone("map", [eg_cg], "the previous eg_cg")


def test_upgrade_refused_keeps_the_firewall(env):
    """A conntrack table whose keys have another layout cannot be carried
    over: the agent does not start, and the state is the one in force
    before, pins included; its firewall keeps filtering."""
    t, agent = env.topo, env.agent
    env.start(default="allow", stateful=True, rules=rules_5000_5001())
    old = agent.attached()[t.fdev]
    assert agent.stop(signal.SIGTERM) == 0, agent.log_text()
    state = agent.state_dir
    inner = os.path.join(state, "h8-inner")
    subprocess.run(["bpftool", "map", "create", inner, "type", "lru_hash", "key", "36",
                    "value", "56", "entries", "64", "name", "h8_inner"], check=True)
    inner_id = bpftool("map", "show", "pinned", inner)["id"]
    outer = swap_pin(state, "ct_shards", "type", "array_of_maps", "key", "4", "value", "4",
                     "entries", "128", "inner_map", "id", str(inner_id))
    subprocess.run(["bpftool", "map", "update", "pinned", os.path.join(state, "maps", "ct_shards"),
                    "key", "0", "0", "0", "0", "value", "id", str(inner_id)], check=True)
    os.unlink(inner)
    pins = sorted(pins_under(state))
    agent.start(wait=False)
    rc = agent.proc.wait(timeout=60)
    log = agent.log_text()
    agent.stop()
    assert rc == 1, log
    assert "keys have another layout" in log and "upgrade undone" in log, log
    assert sorted(pins_under(state)) == pins, log
    assert bpftool("map", "show", "pinned", os.path.join(state, "maps", "ct_shards"))["id"] \
        == outer
    assert xdp_prog_id(t.fw, t.fdev) == old["prog_id"]
    assert probe_udp(t) == {"5000": 5, "5001": 0}


def test_restart_same_layout_replaces_nothing(env):
    """This build on its own state: every pinned map and the program set are
    adopted as they are (no upgrade step), the link keeps its program."""
    t, agent = env.topo, env.agent
    env.start(default="deny", rules=rules_5000_5001())
    maps = os.path.join(agent.state_dir, "maps")
    ids = {n: bpftool("map", "show", "pinned", os.path.join(maps, n))["id"]
           for n in os.listdir(maps)}
    old = agent.attached()[t.fdev]
    assert agent.stop(signal.SIGTERM) == 0, agent.log_text()
    mark = len(agent.log_text())
    agent.start()
    log = agent.log_text()[mark:]
    assert "adopted the pinned program set" in log, log
    assert "upgrade:" not in log and "upgrade done" not in log, log
    assert {n: bpftool("map", "show", "pinned", os.path.join(maps, n))["id"]
            for n in os.listdir(maps)} == ids
    new = agent.attached()[t.fdev]
    assert (new["link_id"], new["prog_id"]) == (old["link_id"], old["prog_id"]), (old, new)
    assert probe_udp(t) == {"5000": 5, "5001": 0}
