# SPDX-License-Identifier: GPL-2.0-only
"""Restart and reload under a steady stream of traffic: neither opens the
firewall (no denied packet arrives) nor drops allowed traffic (every allowed
packet arrives)."""
import json
import os
import signal
import subprocess
import time

from lib.policy import policy_yaml
from lib.traffic import Stream

COUNT = 600
RESTART_COUNT = 1000
INTER = 0.004


def specs(count=COUNT):
    s = dict(src="192.0.2.1", dst="192.0.2.2", proto="udp", count=count)
    return [dict(s, tag="allowed", dport=5000), dict(s, tag="denied", dport=5001)]


def flowing_through(s, what):
    """Wait until allowed packets arrive again after WHAT: the stream ran
    across it (not before or after it only)."""
    n = s.arrived("allowed")
    s.wait_arrived("allowed", n + 10)
    assert s.running(), "the stream ended right after the %s; slow it down" % what


def test_restart_under_traffic(env):
    agent = env.start(default="allow", rules=[
        dict(name="deny-5001", action="deny", proto="udp", dport=["5001"])])
    # 8 s of two flows: COUNT's 4.8 s ended before a restart on a loaded machine (7-9 s at load 9)
    with Stream(env.topo, specs(RESTART_COUNT), inter=INTER) as s:
        s.wait_arrived("allowed", 10)   # traffic flows before the agent stops
        assert agent.stop(signal.SIGTERM) == 0, agent.log_text()
        time.sleep(0.3)
        agent.start()
        flowing_through(s, "restart")
    assert s.counts == {"allowed": RESTART_COUNT, "denied": 0}


def _prog_array(state_dir):
    """Program ids in the pinned prog arrays under STATE_DIR/progs, by build."""
    out = {}
    base = os.path.join(state_dir, "progs")
    for build in sorted(os.listdir(base)):
        p = subprocess.run(["bpftool", "-j", "map", "dump", "pinned",
                            os.path.join(base, build, "sl_tails")],
                           capture_output=True, text=True, check=True)
        out[build] = [e["formatted"]["value"] for e in json.loads(p.stdout)]
    return out


def _flow(agent):
    """The conntrack entries of the allowed flow (client -> fw, udp 5000)."""
    return [e for e in agent.cli("ct", "list", "--proto", "udp", "--dport", "5000")["entries"]
            if e["src"] == "192.0.2.1"]


def test_sigkill_under_traffic_5s_down(env):
    """SIGKILL under traffic, 5 s without an agent, restart: every allowed
    packet arrives (counted at the receiver), no denied one; the allowed
    flow's conntrack entry lives through it (not created again); the
    programs, links and prog array are the same objects before and after."""
    count = 2000    # 8 s of traffic at 4 ms: covers 5 s down plus the restart
    agent = env.start(default="deny", stateful=True, rules=[
        dict(name="deny-5001", action="deny", proto="udp", dport=["5001"]),
        dict(name="allow-5000", action="allow", proto="udp", dport=["5000"])])
    before = agent.attached()[env.topo.fdev]
    progs = _prog_array(agent.state_dir)
    assert [len(v) for v in progs.values()] == [1], progs     # the load balancer stage
    spec = [dict(s, count=count) for s in specs()]
    with Stream(env.topo, spec, inter=INTER) as s:
        deadline = time.monotonic() + 30
        while not _flow(agent):     # scapy builds every frame before the first goes out
            assert time.monotonic() < deadline and s.running(), "the flow was never tracked"
            time.sleep(0.1)
        created = agent.cli("ct", "stats")["created"]
        agent.stop(signal.SIGKILL)
        time.sleep(5)
        assert _prog_array(agent.state_dir) == progs, "prog array changed with no agent"
        agent.start()
        assert s.running(), "the stream ended before the restart was over; slow it down"
        flow = _flow(agent)
        assert len(flow) == 1 and flow[0]["state"] == "udp", flow
        assert agent.cli("ct", "stats")["created"] == created, "the entry was created again"
    after = agent.attached()[env.topo.fdev]
    assert s.counts == {"allowed": count, "denied": 0}
    assert (after["prog_id"], after["link_id"]) == (before["prog_id"], before["link_id"])
    assert _prog_array(agent.state_dir) == progs


def test_reload_under_traffic(env):
    """Reloads that move the deny rule to another index and change every
    table: a packet must see the old policy or the new one, never a mix.
    The "allowed" and "denied" flows get the same verdict from both policies
    (by other rules), so they arrive exactly; "switched" is allowed by A and
    denied by B, so that some but not all of it arrives: the reloads took
    effect, in both directions, while the stream ran."""
    a = [dict(name="deny-5001", action="deny", proto="udp", dport=["5001"])]
    b = [dict(name="allow-6000", action="allow", proto="udp", dport=["6000-6100"]),
         dict(name="allow-net", action="allow", src=["198.51.100.0/24", "2001:db8:9::/48"],
              proto="udp", dport=["7000"]),
         dict(name="deny-5001", action="deny", src=["192.0.2.0/24"], proto="udp",
              dport=["5001"]),
         dict(name="deny-tcp", action="deny", dst=["203.0.113.0/24"], proto="tcp"),
         dict(name="deny-5002", action="deny", proto="udp", dport=["5002"])]
    flows = specs() + [dict(specs()[0], tag="switched", dport=5002)]
    agent = env.start(default="allow", rules=a)
    reloads = 0
    with Stream(env.topo, flows, inter=INTER) as s:
        s.wait_arrived("switched", 10)  # traffic flows under A before the first reload
        while s.running() and reloads < 12:
            gen = agent.status()["generation"]
            agent.write_policy("10-test.yaml",
                               policy_yaml(env.topo, b if reloads % 2 == 0 else a))
            agent.wait_generation(gen + 1)
            reloads += 1
    assert reloads >= 4, "too few reloads during the stream (%d)" % reloads
    assert {k: s.counts[k] for k in ("allowed", "denied")} == {"allowed": COUNT, "denied": 0}
    assert 0 < s.counts["switched"] < COUNT, s.counts


def test_upgrade_under_traffic(env):
    """A new build (simulated: the pinned program set is renamed to another
    build's name while no agent runs) loads a complete new program set and
    moves the link to it with one bpf_link_update: same link, new program,
    the old set unpinned and freed; no allowed packet lost, none denied
    let through."""
    agent = env.start(default="allow", rules=[
        dict(name="deny-5001", action="deny", proto="udp", dport=["5001"])])
    before = agent.attached()[env.topo.fdev]
    base = os.path.join(agent.state_dir, "progs")
    (build,) = os.listdir(base)
    old = _prog_array(agent.state_dir)[build]
    # a longer stream: the restart loads a whole program set, and on a loaded
    # machine (CI, ASan) that outlasted 600 packets, so the stream ended first
    with Stream(env.topo, specs(4 * COUNT), inter=INTER) as s:
        s.wait_arrived("allowed", 10)
        assert agent.stop(signal.SIGTERM) == 0, agent.log_text()
        os.rename(os.path.join(base, build), os.path.join(base, "0" * 16))
        agent.start()
        flowing_through(s, "upgrade")
    assert s.counts == {"allowed": 4 * COUNT, "denied": 0}
    after = agent.attached()[env.topo.fdev]
    assert after["link_id"] == before["link_id"]
    assert after["prog_id"] != before["prog_id"]
    progs = _prog_array(agent.state_dir)
    assert list(progs) == [build], "the old program set is still pinned: %s" % progs
    assert len(progs[build]) == 1 and not set(progs[build]) & set(old)
    for pid in [before["prog_id"]] + old:
        deadline = time.monotonic() + 3
        while subprocess.run(["bpftool", "prog", "show", "id", str(pid)],
                             capture_output=True).returncode == 0:
            assert time.monotonic() < deadline, "old program %d still loaded" % pid
            time.sleep(0.05)
