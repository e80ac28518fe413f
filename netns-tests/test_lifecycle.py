# SPDX-License-Identifier: GPL-2.0-only
"""Attach, restart and teardown: interfaces appearing later, SIGTERM and
SIGKILL leaving the firewall in force, adoption by a restarted agent, and a
teardown that leaves nothing behind."""
import json
import os
import re
import signal
import subprocess
import time

from lib.agent import pins_under
from lib.cgroups import egress_yaml, results
from lib.netns import link_info, run, xdp_prog_id
from lib.policy import blocklist_text, policy_yaml
from lib.traffic import Receiver, exchange

N = 5
RULES = [dict(name="deny-5001", action="deny", proto="udp", dport=["5001"])]


def probe(env, **kw):
    return exchange(env.topo, [
        dict(tag="ok", src="192.0.2.1", dst="192.0.2.2", dport=5000, count=N),
        dict(tag="denied", src="192.0.2.1", dst="192.0.2.2", dport=5001, count=N),
    ], **kw)


def link_ids(state_dir):
    """{pin path: bpf link id} of every pinned link under STATE_DIR."""
    ids = {}
    for path in pins_under(state_dir):
        p = subprocess.run(["bpftool", "-j", "link", "show", "pinned", path],
                           capture_output=True, text=True)
        if p.returncode == 0:
            ids[path] = json.loads(p.stdout)["id"]
    return ids


def prog_sets(state_dir):
    """{build: [prog id at each stage of its pinned sl_tails]} under STATE_DIR/progs."""
    sets = {}
    base = os.path.join(state_dir, "progs")
    for build in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        p = subprocess.run(["bpftool", "-j", "map", "dump", "pinned",
                            os.path.join(base, build, "sl_tails")],
                           capture_output=True, text=True)
        entries = json.loads(p.stdout) if p.returncode == 0 else []
        sets[build] = [e["formatted"]["value"] for e in entries]
    return sets


def bpf_object_exists(kind, obj_id):
    p = subprocess.run(["bpftool", kind, "show", "id", str(obj_id)],
                       capture_output=True, text=True)
    return p.returncode == 0


def wait_gone(kind, obj_id, timeout=3.0):
    """The kernel frees programs and links after an RCU grace period: poll."""
    deadline = time.monotonic() + timeout
    while bpf_object_exists(kind, obj_id):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_new_interface_gets_xdp(env):
    t = env.topo
    agent = env.start(default="allow", rules=RULES)
    cdev, fdev = t.pfx + "c1", t.pfx + "f1"
    t.add_veth(cdev, fdev, ["203.0.113.1/24"], ["203.0.113.2/24"])
    # a veth that does not match the glob stays untouched
    t.add_veth(t.pfx + "c2", t.pfx + "x2", ["198.51.100.1/24"], ["198.51.100.2/24"])
    # how soon is bench_edit's business (make bench); a loaded machine may be slow
    deadline = time.monotonic() + 10
    while xdp_prog_id(t.fw, fdev) is None:
        assert time.monotonic() < deadline, "no XDP on %s after 10 s" % fdev
        time.sleep(0.02)
    att = agent.attached()
    assert fdev in att and att[fdev]["hook"] == "xdp", att
    assert att[fdev]["prog_id"] == xdp_prog_id(t.fw, fdev)
    # veth has native XDP; the attachment is a pinned bpf_link
    assert att[fdev]["mode"] == "native" and att[fdev]["attach"] == "bpf_link", att
    assert "xdp" in run(["ip", "-d", "link", "show", "dev", fdev], ns=t.fw).stdout
    got = exchange(t, [
        dict(tag="ok", src="203.0.113.1", dst="203.0.113.2", dport=5000, count=N),
        dict(tag="denied", src="203.0.113.1", dst="203.0.113.2", dport=5001, count=N),
    ], cdev=cdev, fdev=fdev)
    assert got == {"ok": N, "denied": 0}
    assert agent.rules()["deny-5001"]["packets"] == N
    assert xdp_prog_id(t.fw, t.pfx + "x2") is None
    assert t.pfx + "x2" not in agent.attached()

    # the interface goes away: its link pin goes with it
    ifindex = att[fdev]["ifindex"]
    pin = os.path.join(agent.state_dir, "links", "xdp_%d" % ifindex)
    assert os.path.exists(pin), pins_under(agent.state_dir)
    run(["ip", "link", "del", fdev], ns=t.fw)
    deadline = time.monotonic() + 2
    while os.path.exists(pin) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not os.path.exists(pin), "%s still pinned after its interface was deleted" % pin
    assert fdev not in agent.attached()
    assert t.fdev in agent.attached()


def _restart_keeps_firewall(env, sig):
    t = env.topo
    agent = env.start(default="allow", rules=RULES)
    assert probe(env) == {"ok": N, "denied": 0}
    links = link_ids(agent.state_dir)
    assert links, "no pinned link under %s: %s" % (agent.state_dir,
                                                   pins_under(agent.state_dir))
    prog = xdp_prog_id(t.fw, t.fdev)
    stages = prog_sets(agent.state_dir)
    # one build, its prog array full: the load balancer stage
    assert len(stages) == 1 and [len(v) for v in stages.values()] == [1], stages

    rc = agent.stop(sig)
    if sig == signal.SIGTERM:
        assert rc == 0, agent.log_text()
    # no agent: the firewall stays in force, same program on the veth
    assert xdp_prog_id(t.fw, t.fdev) == prog
    assert link_ids(agent.state_dir) == links
    assert probe(env) == {"ok": N, "denied": 0}

    assert prog_sets(agent.state_dir) == stages, "the prog array emptied with no agent"

    # a new agent adopts the pinned link instead of attaching a new one, and
    # (same build) the pinned programs: same program ids, same prog array
    agent.start()
    assert link_ids(agent.state_dir) == links
    assert xdp_prog_id(t.fw, t.fdev) == prog
    assert prog_sets(agent.state_dir) == stages
    assert t.fdev in agent.attached()
    assert probe(env) == {"ok": N, "denied": 0}
    assert agent.rules()["deny-5001"]["packets"] >= N


def test_sigterm_keeps_firewall_and_restart_adopts(env):
    _restart_keeps_firewall(env, signal.SIGTERM)


def test_sigkill_keeps_firewall_and_restart_adopts(env):
    _restart_keeps_firewall(env, signal.SIGKILL)


def _set_and_links(state_dir):
    """({program name: id} of the pinned program set (one build), {link pin:
    program id} of every pinned link) under STATE_DIR."""
    base = os.path.join(state_dir, "progs")
    builds = os.listdir(base)
    assert len(builds) == 1, builds
    progs = {}
    for name in os.listdir(os.path.join(base, builds[0])):
        p = subprocess.run(["bpftool", "-j", "prog", "show", "pinned",
                            os.path.join(base, builds[0], name)], capture_output=True, text=True)
        if p.returncode == 0:
            progs[name] = json.loads(p.stdout)["id"]
    links = {}
    for path in pins_under(os.path.join(state_dir, "links")):
        if os.path.islink(path):
            continue    # a cgroup's record (eg_ID_cgroup), not a link
        p = subprocess.run(["bpftool", "-j", "link", "show", "pinned", path],
                           capture_output=True, text=True, check=True)
        links[os.path.basename(path)] = json.loads(p.stdout)["prog_id"]
    return progs, links


def test_restart_adopts_the_program_set_of_every_object(env, cgroups):
    """The program set holds every object's programs: a restart of the same
    build loads none (on the code before, the TC and cgroup objects went
    through the verifier again and every tc_/eg_ link moved to new
    programs), and the links of every kind (XDP, conntrack's TC egress and
    ingress, the cgroup hooks, the egress backstop) keep their programs and
    enforce. One program of the set unpinned while no agent runs: the next
    start loads the whole set again and every link moves to it."""
    t, agent = env.topo, env.agent
    app = cgroups.make("app")
    run(["ip", "addr", "add", "192.0.2.3/24", "dev", t.cdev], ns=t.client)
    agent.write_policy("10-test.yaml", policy_yaml(t, RULES, "allow", stateful=True))
    agent.write_policy("20-egress.yaml", egress_yaml([
        dict(name="app", cgroup=app, default="deny",
             rules=[{"action": "allow", "dst": ["192.0.2.2"], "proto": "tcp",
                     "dport": ["8443"]}],
             backstop={"interfaces": [t.fdev], "src": ["192.0.2.3"]})]))
    # the backstop's source is .3 (the probe's, .1, is no entry's)
    calls = [dict(op="tcp", addr="192.0.2.2", port=8443),
             dict(op="tcp", addr="192.0.2.2", port=8444),
             dict(op="ping", addr="192.0.2.2", src="192.0.2.3"),
             dict(op="ping", addr="192.0.2.2", src="192.0.2.1")]

    def enforced():
        with Receiver(t.fw, tcp=(8443, 8444)):
            assert results(t.client, app, calls) == ["ok", "EPERM", "noreply", "ok"]
        assert probe(env) == {"ok": N, "denied": 0}

    agent.start()
    enforced()
    progs, links = _set_and_links(agent.state_dir)
    assert {re.sub(r"\d.*", "", n) for n in links} == {"xdp_", "tc_", "tc_in_", "egtc_", "eg_"}, \
        links
    # every link runs a program of the set; the set is the three objects'
    assert set(links.values()) <= set(progs.values()), (links, progs)
    assert {"sluice_xdp", "sluice_tc", "ct_start", "sl_eg_connect4",
            "sl_eg_backstop"} <= set(progs), progs

    assert agent.stop(signal.SIGTERM) == 0, agent.log_text()
    mark = len(agent.log_text())
    agent.start()
    log = agent.log_text()[mark:]
    assert "adopted the pinned program set" in log and "incomplete" not in log, log
    assert _set_and_links(agent.state_dir) == (progs, links)
    enforced()

    # one program of the cgroup object unpinned: no adoption, a whole new set
    assert agent.stop(signal.SIGKILL) is not None
    build = os.listdir(os.path.join(agent.state_dir, "progs"))[0]
    os.unlink(os.path.join(agent.state_dir, "progs", build, "sl_eg_connect4"))
    mark = len(agent.log_text())
    agent.start()
    log = agent.log_text()[mark:]
    assert "incomplete: loading it again" in log and "loaded a new program set" in log, log
    deadline = time.monotonic() + 5
    while True:   # the set moved aside is unpinned after the grace period
        try:
            new_progs, new_links = _set_and_links(agent.state_dir)
            break
        except AssertionError:
            assert time.monotonic() < deadline, os.listdir(
                os.path.join(agent.state_dir, "progs"))
            time.sleep(0.1)
    assert set(new_progs) == set(progs)
    assert not set(new_progs.values()) & set(progs.values()), (progs, new_progs)
    assert set(new_links) == set(links)
    assert set(new_links.values()) <= set(new_progs.values()), (new_links, new_progs)
    enforced()


def test_program_set_on_maps_no_longer_pinned_is_loaded_again(env):
    """The links and maps unpinned but the program set left (a teardown
    killed between the two, or pins removed by hand): the set's programs
    still run on the maps that lost their pins, which no agent writes any
    more. The next start loads a new set instead of adopting that one, and
    the firewall is the policy's (on the code before, the set was adopted:
    the new link ran the previous policy from the old maps, 5000 passed and
    5001 was still denied)."""
    t, agent = env.topo, env.agent
    env.start(default="allow", rules=RULES)
    assert probe(env) == {"ok": N, "denied": 0}
    assert agent.stop(signal.SIGKILL) is not None
    for sub in ("links", "maps"):
        for pin in pins_under(os.path.join(agent.state_dir, sub)):
            os.unlink(pin)
    agent.write_policy("10-test.yaml", policy_yaml(t, [
        dict(name="deny-5000", action="deny", proto="udp", dport=["5000"])], "allow"))
    mark = len(agent.log_text())
    agent.start()
    log = agent.log_text()[mark:]
    assert "no longer pinned" in log and "loaded a new program set" in log, log
    assert probe(env) == {"ok": 0, "denied": N}
    # and the next restart adopts the new set: it runs on the pinned maps
    assert agent.stop() == 0
    mark = len(agent.log_text())
    agent.start()
    assert "adopted the pinned program set" in agent.log_text()[mark:]
    assert probe(env) == {"ok": 0, "denied": N}


def test_teardown_leaves_nothing(env):
    t = env.topo
    agent = env.start(default="allow", rules=RULES)
    assert probe(env) == {"ok": N, "denied": 0}
    att = agent.attached()
    prog_ids = {i["prog_id"] for i in att.values()}
    links = link_ids(agent.state_dir)
    assert prog_ids and links

    p = agent.teardown()
    assert p.returncode == 0, p.stdout + p.stderr
    # the agent exits after a teardown
    deadline = time.monotonic() + 5
    while agent.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not agent.alive(), "sluiced still running after teardown"
    assert agent.stop() == 0, agent.log_text()

    assert pins_under(agent.state_dir) == []
    info = link_info(t.fw, t.fdev)
    assert "xdp" not in info, info
    assert "xdp" not in run(["ip", "-d", "link", "show", "dev", t.fdev], ns=t.fw).stdout
    for lid in links.values():
        assert wait_gone("link", lid), "bpf link %d still exists" % lid
    for pid in prog_ids:
        assert wait_gone("prog", pid), "XDP program %d still loaded" % pid
    # the firewall is gone: what was denied now arrives
    assert probe(env) == {"ok": N, "denied": N}
    assert not os.path.exists(agent.socket) or not agent.alive()


def test_state_dir_of_another_namespace_refused(env):
    """An agent on a state dir from another network namespace (started
    without the nsenter, or with the wrong one) is refused before it
    touches anything. It took the owner's links for links of gone
    interfaces and unpinned them (that namespace's firewall removed: denied
    traffic arrived), or, with an interface of the same index and name,
    adopted them and reported an unfiltered interface as filtered."""
    import shutil
    import tempfile

    from lib.agent import Agent

    t = env.topo
    agent = env.start(default="allow", rules=RULES)
    prog = xdp_prog_id(t.fw, t.fdev)
    assert agent.stop() == 0
    links = link_ids(agent.state_dir)
    assert links
    other = t.pfx + "x"
    t._add_ns(other)
    ifindex = link_info(t.fw, t.fdev)["ifindex"]
    work = tempfile.mkdtemp(prefix=other + "-")
    try:
        for same_name in (False, True):
            if same_name:
                run(["ip", "link", "add", t.fdev, "index", str(ifindex), "type", "veth",
                     "peer", "name", t.pfx + "xp", "index", str(ifindex + 100)], ns=other)
                run(["ip", "link", "set", t.fdev, "up"], ns=other)
            stray = Agent(other, work, agent.state_dir)
            stray.write_policy("10-test.yaml", policy_yaml(t, RULES, "allow"))
            rc = stray.start_refused()
            assert rc not in (0, None), "an agent on another namespace's state dir: %s\n%s" % (
                rc, stray.log_text())
            assert "belongs to an agent in another network namespace" in stray.log_text()
            assert link_ids(agent.state_dir) == links
            assert xdp_prog_id(t.fw, t.fdev) == prog
            assert xdp_prog_id(other, t.fdev) is None
            assert probe(env) == {"ok": N, "denied": 0}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # its own namespace's agent takes it up again
    agent.start()
    assert xdp_prog_id(t.fw, t.fdev) == prog
    assert probe(env) == {"ok": N, "denied": 0}


def test_state_dir_that_cannot_be_one_is_left_alone(env):
    """A state dir that is the root of a bpffs (every other tool's pins are
    there) or an existing pin is refused before anything changes: the
    agent made the root 0700 (from 1777) and ran there, and chmodded the
    pin before it failed."""
    import tempfile

    t = env.topo
    agent = env.agent
    agent.write_policy("10-test.yaml", policy_yaml(t, RULES, "allow"))
    root = tempfile.mkdtemp(prefix=t.pfx + "-bpffs-")
    run(["mount", "-t", "bpf", "bpf", root])
    try:
        os.chmod(root, 0o1777)
        run(["bpftool", "map", "create", os.path.join(root, "other"), "type", "array",
             "key", "4", "value", "4", "entries", "1", "name", "other"])
        os.chmod(os.path.join(root, "other"), 0o640)
        for state, why in ((root, "is the root of a bpf filesystem"),
                           (os.path.join(root, "other"), "is not a directory")):
            agent.state_dir = state
            assert agent.start_refused() not in (0, None), agent.log_text()
            assert why in agent.log_text(), agent.log_text()
        assert os.stat(root).st_mode & 0o7777 == 0o1777
        assert os.stat(os.path.join(root, "other")).st_mode & 0o777 == 0o640
        # (bpftool adds maps.debug and progs.debug to a bpffs it first meets)
        assert not {"maps", "links", "progs", "netns"} & set(os.listdir(root))
        assert xdp_prog_id(t.fw, t.fdev) is None
    finally:
        run(["umount", root], check=False)
        os.rmdir(root)


def test_two_agents_side_by_side(env):
    """Two agents with their own state dirs and sockets, each in its own
    namespace, filter independently; a third on a state dir in use is refused."""
    import shutil
    import tempfile

    from lib.agent import Agent, BPFFS
    from lib.netns import Topology

    agent1 = env.start(default="allow", rules=RULES)
    t2 = Topology(env.topo.pfx + "z")
    work2 = tempfile.mkdtemp(prefix=t2.pfx + "-")
    agent2 = Agent(t2.fw, work2, os.path.join(BPFFS, t2.pfx))
    try:
        t2.setup()
        agent2.write_policy("10-test.yaml", policy_yaml(t2, [
            dict(name="deny-5000", action="deny", proto="udp", dport=["5000"])]))
        agent2.start()
        assert probe(env) == {"ok": N, "denied": 0}
        got = exchange(t2, [
            dict(tag="5000", src="192.0.2.1", dst="192.0.2.2", dport=5000, count=N),
            dict(tag="5001", src="192.0.2.1", dst="192.0.2.2", dport=5001, count=N)])
        assert got == {"5000": 0, "5001": N}
        assert agent1.rules()["deny-5001"]["packets"] == N
        assert agent2.rules()["deny-5000"]["packets"] == N
        assert agent1.status()["agent"]["state_dir"] != agent2.status()["agent"]["state_dir"]

        # a second agent on agent2's state dir must not fight over its links
        intruder = Agent(t2.fw, tempfile.mkdtemp(prefix=t2.pfx + "-"), agent2.state_dir)
        intruder.write_policy("10-test.yaml", policy_yaml(t2))
        intruder.start(wait=False)
        try:
            intruder.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            intruder.stop(signal.SIGKILL)
            raise AssertionError("a second agent on a state dir in use kept running")
        log = intruder.log_text()
        rc = intruder.stop()
        shutil.rmtree(intruder.workdir, ignore_errors=True)
        assert rc != 0, log
        assert "state dir" in log, log
        assert agent2.alive()
        got = exchange(t2, [
            dict(tag="5000", src="192.0.2.1", dst="192.0.2.2", dport=5000, count=N)])
        assert got == {"5000": 0}

        assert agent2.teardown().returncode == 0
        agent2.proc.wait(timeout=10)
        assert agent2.stop() == 0, agent2.log_text()
        assert pins_under(agent2.state_dir) == []
        # agent1 is untouched by agent2's teardown
        assert agent1.alive()
        assert probe(env) == {"ok": N, "denied": 0}
    finally:
        if agent2.alive():
            agent2.stop(signal.SIGKILL)
        agent2.force_cleanup()
        t2.destroy()
        shutil.rmtree(work2, ignore_errors=True)


def test_reload_right_after_an_interface_vanishes(env):
    """An interface deleted while a SIGHUP reload is being compiled: when the
    agent switches the links to the new slot, it has not seen the netlink
    event yet. The reload must still apply to the other interfaces."""
    t = env.topo
    agent = env.start(default="allow", rules=RULES)
    # a 100k-prefix set makes the compile long enough to delete a veth meanwhile
    agent.write_file("big.txt", blocklist_text())
    for i in range(1, 3):
        port = 5001 if i % 2 == 0 else 5000
        gen = agent.status()["generation"]
        agent.write_policy("10-test.yaml", policy_yaml(t, [
            dict(name="deny-%d" % port, action="deny", proto="udp", dport=[str(port)]),
            dict(name="big", action="deny", src=["@big"])],
            sets={"big": {"file": "big.txt"}}))
        deadline = time.monotonic() + 10
        while agent.status()["generation"] <= gen and time.monotonic() < deadline:
            time.sleep(0.05)

        cdev, fdev = "%sc%d" % (t.pfx, i), "%sf%d" % (t.pfx, i)
        t.add_veth(cdev, fdev, [], [])
        deadline = time.monotonic() + 2
        while fdev not in agent.attached() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert fdev in agent.attached()

        # only the SIGHUP reloads now: nothing in the policy dir changes
        gen = agent.status()["generation"]
        agent.proc.send_signal(signal.SIGHUP)
        time.sleep(0.05)
        run(["ip", "link", "del", fdev], ns=t.fw)
        deadline = time.monotonic() + 10
        while agent.status()["generation"] <= gen and time.monotonic() < deadline:
            time.sleep(0.05)
        assert agent.status()["generation"] > gen, agent.log_text()
        assert "not applied" not in agent.log_text(), agent.log_text()
        assert agent.alive()
        want = {"ok": N, "denied": 0} if port == 5001 else {"ok": 0, "denied": N}
        assert probe(env) == want, i
        assert fdev not in agent.attached()


def test_previous_version_slot_tables_unpinned(env):
    """A state dir of a sluice from before the map-in-map policy slots has its
    firewall tables pinned under STATE/slots/N/: the agent unpins them (they
    would hold their memory until teardown) and runs its own."""
    slots = os.path.join(env.agent.state_dir, "slots")
    for n in ("0", "1"):
        os.makedirs(os.path.join(slots, n), mode=0o700, exist_ok=True)
        subprocess.run(["bpftool", "map", "create", os.path.join(slots, n, "fw_cfg"),
                        "type", "array", "key", "4", "value", "8", "entries", "1",
                        "name", "fw_cfg"], check=True)
    agent = env.start(default="deny")
    assert not os.path.exists(slots), os.listdir(slots)
    assert "removed 2 pins of a previous version's policy tables" in agent.log_text()
