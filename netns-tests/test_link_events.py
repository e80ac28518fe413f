# SPDX-License-Identifier: GPL-2.0-only
"""What the agent learns of its interfaces when no event tells it, or when
events are lost: a netlink overrun (the links listed again, the events queued
before the hole not replayed over that list), and a firewall link detached
behind the agent's back (bpftool link detach: no event at all)."""
import json
import os
import signal
import time

import pytest

from lib.foreign_tcx import XDP, XDP_PASS, ForeignTcx
from lib.lbnet import wait_for
from lib.netns import link_info, run, xdp_prog_id
from lib.traffic import exchange

N = 5
RULES = [dict(name="deny-5001", action="deny", proto="udp", dport=["5001"])]
# link events that overrun the agent's socket buffer (2 MB) while it is stopped
FLOOD = 4000


def probe(t, cdev, fdev):
    return exchange(t, [
        dict(tag="ok", src="203.0.113.1", dst="203.0.113.2", dport=5000, count=N),
        dict(tag="denied", src="203.0.113.1", dst="203.0.113.2", dport=5001, count=N),
    ], cdev=cdev, fdev=fdev)


def test_overrun_relists_without_replaying_stale_events(env):
    t = env.topo
    agent = env.start(default="allow", rules=RULES)
    cdev, other, fdev = t.pfx + "c5", t.pfx + "x5", t.pfx + "f5"
    spare = t.pfx + "x6"
    t.add_veth(t.pfx + "c6", spare, [], [])
    pid = agent.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        # queued: a link under a name the patterns do not match ...
        t.add_veth(cdev, other, ["203.0.113.1/24"], ["203.0.113.2/24"])
        # ... then more events than the socket holds ...
        run(["ip", "-force", "-batch", "-"], ns=t.fw, timeout=120, input="".join(
            "link set dev %s alias a%d\n" % (spare, i) for i in range(FLOOD)))
        # ... and, lost in the hole, its rename into the patterns
        run(["ip", "link", "set", other, "down"], ns=t.fw)
        run(["ip", "link", "set", other, "name", fdev], ns=t.fw)
        run(["ip", "link", "set", fdev, "up"], ns=t.fw)
        # the carrier's own event (linkwatch, up to 1 s later) lost in the hole too
        time.sleep(1.5)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert wait_for(lambda: "link events were lost" in agent.log_text()), \
        "no overrun: the test needs a larger FLOOD\n" + agent.log_text()
    assert wait_for(lambda: fdev in agent.attached()), agent.log_text()
    # whatever was queued before the hole has been read by now
    time.sleep(2)
    att = agent.attached()
    assert fdev in att and other not in att, att
    assert probe(t, cdev, fdev) == {"ok": N, "denied": 0}, agent.log_text()


def firewall_links(agent):
    """{ifname: status record of its firewall link, XDP or tcx}."""
    return {i["name"]: i for i in agent.status()["interfaces"] if i["hook"] in ("xdp", "tc")}


def link_ids():
    """The ids of every bpf link the kernel has."""
    p = run(["bpftool", "-j", "link", "show"])
    return {link["id"] for link in json.loads(p.stdout)}


def filtered_veth(env, hook):
    """The agent running RULES on HOOK, and a new veth pair (c7, f7) whose fw
    side it filters: (agent, cdev, fdev, f7's firewall link in status)."""
    t = env.topo
    agent = env.start(default="allow", rules=RULES)
    if hook == "tc":
        env.to_tc(RULES)
    cdev, fdev = t.pfx + "c7", t.pfx + "f7"
    t.add_veth(cdev, fdev, ["203.0.113.1/24"], ["203.0.113.2/24"])
    assert wait_for(lambda: fdev in firewall_links(agent)), agent.log_text()
    link = firewall_links(agent)[fdev]
    assert link["hook"] == hook, link
    assert probe(t, cdev, fdev) == {"ok": N, "denied": 0}
    return agent, cdev, fdev, link


@pytest.mark.parametrize("hook", ["xdp", "tc"])
def test_link_detached_behind_the_agents_back(env, hook):
    t = env.topo
    agent, cdev, fdev, old = filtered_veth(env, hook)
    # a careless operator: no netlink event says this
    run(["bpftool", "link", "detach", "id", str(old["link_id"])])
    # status does not list a detached link: it answers with the new one
    now = firewall_links(agent)[fdev]
    assert now["link_id"] != old["link_id"] and now["hook"] == hook, (old, now)
    assert now["link_id"] in link_ids() and now["ifindex"] == old["ifindex"], now
    assert probe(t, cdev, fdev) == {"ok": N, "denied": 0}, agent.log_text()
    assert "was detached by someone else" in agent.log_text()
    if hook == "xdp":
        assert xdp_prog_id(t.fw, fdev) == now["prog_id"]

    # with nobody asking, the agent finds it too (ATTACH_AUDIT_MS)
    run(["bpftool", "link", "detach", "id", str(now["link_id"])])
    assert wait_for(lambda: len(agent.log_text().split("detached by someone else")) == 3), \
        agent.log_text()
    assert probe(t, cdev, fdev) == {"ok": N, "denied": 0}, agent.log_text()
    pins = os.listdir(os.path.join(agent.state_dir, "links"))
    assert ("fwtc_%d" if hook == "tc" else "xdp_%d") % old["ifindex"] in pins, pins


@pytest.mark.parametrize("hook", ["xdp", "tc"])
def test_ifindex_of_an_interface_moved_away_while_down(env, hook):
    """While the agent is down, a filtered interface moves to another netns
    (its link goes with it, its ifindex kept there) and a new interface of
    the same name is created here with that ifindex. The start must not
    adopt the pin of that ifindex as the new interface's link: on the code
    before it did (ifindex and name both matched), status said attached,
    and every denied packet reached the new interface."""
    t = env.topo
    agent, cdev, fdev, link = filtered_veth(env, hook)
    ifindex = link["ifindex"]
    assert agent.stop() == 0, agent.log_text()
    # away to a netns where its ifindex is free (it keeps it), its peer's address gone
    away = t.pfx + "m"
    t._add_ns(away)
    run(["ip", "link", "set", fdev, "netns", away], ns=t.fw)
    assert link_info(away, fdev)["ifindex"] == ifindex
    run(["ip", "addr", "flush", "dev", cdev], ns=t.client)
    cnew = t.pfx + "c8"
    t.add_veth(cnew, fdev, ["203.0.113.1/24"], ["203.0.113.2/24"], findex=ifindex)
    agent.start()
    links = firewall_links(agent)
    assert links[fdev]["ifindex"] == ifindex and links[fdev]["hook"] == hook, links
    assert probe(t, cnew, fdev) == {"ok": N, "denied": 0}, agent.log_text()
    assert "moved to another network namespace" in agent.log_text()
    if hook == "xdp":
        assert xdp_prog_id(t.fw, fdev) == links[fdev]["prog_id"]


FOREIGN_XDP = """
struct xdp_md;
__attribute__((section("xdp"), used)) int foreign(struct xdp_md *ctx) { return 2; }
char _license[] __attribute__((section("license"), used)) = "GPL";
"""


def test_interface_held_by_another_xdp_program_is_named(env, tmp_path):
    """sluice does not replace someone else's XDP program: status names the
    interface as not attached and why, until that program goes."""
    t = env.topo
    agent = env.start(default="allow", rules=RULES)
    src, obj = tmp_path / "foreign.c", tmp_path / "foreign.o"
    src.write_text(FOREIGN_XDP)
    run(["clang", "-O2", "-target", "bpf", "-c", str(src), "-o", str(obj)])
    cdev, other, fdev = t.pfx + "c8", t.pfx + "x8", t.pfx + "f8"
    t.add_veth(cdev, other, ["203.0.113.1/24"], ["203.0.113.2/24"])
    run(["ip", "link", "set", "dev", other, "xdp", "obj", str(obj), "sec", "xdp"], ns=t.fw)
    foreign = xdp_prog_id(t.fw, other)
    run(["ip", "link", "set", other, "down"], ns=t.fw)
    run(["ip", "link", "set", other, "name", fdev], ns=t.fw)
    run(["ip", "link", "set", fdev, "up"], ns=t.fw)
    assert wait_for(lambda: agent.status()["unattached"]), agent.log_text()
    [u] = agent.status()["unattached"]
    assert u["name"] == fdev and "another XDP program is attached (prog id %d" % foreign \
        in u["error"], u
    assert fdev not in firewall_links(agent)
    text = agent.cli_raw("status", json_out=False).stdout
    assert "NOT ATTACHED: %s" % fdev in text, text
    # the foreign program stays; its interface is as unfiltered as status says
    assert xdp_prog_id(t.fw, fdev) == foreign
    assert probe(t, cdev, fdev) == {"ok": N, "denied": N}

    # it goes: the interface is attached, and no longer named
    run(["ip", "link", "set", "dev", fdev, "xdp", "off"], ns=t.fw)
    assert wait_for(lambda: fdev in firewall_links(agent)), agent.log_text()
    assert agent.status()["unattached"] == []
    assert probe(t, cdev, fdev) == {"ok": N, "denied": 0}


def test_interface_freed_without_an_event_is_attached(env, tmp_path):
    """The XDP program of someone else's that held a wanted interface goes by
    `bpftool link detach` of its link: no netlink event says so. The agent
    finds it (its audit, once a second) and attaches the firewall. On the
    code before, the interface stayed unfiltered until some event about it
    came: every denied packet arrived."""
    t = env.topo
    agent = env.start(default="allow", rules=RULES)
    cdev, other, fdev = t.pfx + "c6", t.pfx + "x6", t.pfx + "f6"
    t.add_veth(cdev, other, ["203.0.113.1/24"], ["203.0.113.2/24"])
    with ForeignTcx(tmp_path, t.fw, other, XDP, XDP_PASS):
        foreign = xdp_prog_id(t.fw, other)
        run(["ip", "link", "set", other, "down"], ns=t.fw)
        run(["ip", "link", "set", other, "name", fdev], ns=t.fw)
        run(["ip", "link", "set", fdev, "up"], ns=t.fw)
        assert wait_for(lambda: agent.status()["unattached"]), agent.log_text()
        assert probe(t, cdev, fdev) == {"ok": N, "denied": N}
        [link] = [x["id"] for x in json.loads(run(["bpftool", "-j", "link", "show"]).stdout)
                  if x.get("prog_id") == foreign]
        run(["bpftool", "link", "detach", "id", str(link)])
        # nobody asks status (which audits too): the audit alone must see it
        deadline = time.monotonic() + 10
        while xdp_prog_id(t.fw, fdev) is None:
            assert time.monotonic() < deadline, agent.log_text()
            time.sleep(0.2)
        assert "left a wanted interface" in agent.log_text()
        assert fdev in firewall_links(agent), agent.log_text()
        assert agent.status()["unattached"] == []
        assert probe(t, cdev, fdev) == {"ok": N, "denied": 0}, agent.log_text()


def test_tcx_firewall_goes_before_another_tcx_program(env, tmp_path):
    """Another tcx ingress program that passes everything (a CNI's, say) is on
    the interface before sluice attaches: the firewall goes first in the
    chain, so it still drops what it denies, and the other program still
    runs after it for what it allows. On the code before, sluice's link went
    after it, and every denied packet arrived."""
    t = env.topo
    env.start(default="allow", rules=RULES)
    env.to_tc(RULES)
    agent = env.agent
    cdev, other, fdev = t.pfx + "c9", t.pfx + "x9", t.pfx + "f9"
    t.add_veth(cdev, other, ["203.0.113.1/24"], ["203.0.113.2/24"])
    with ForeignTcx(tmp_path, t.fw, other) as foreign:
        run(["ip", "link", "set", other, "down"], ns=t.fw)
        run(["ip", "link", "set", other, "name", fdev], ns=t.fw)
        run(["ip", "link", "set", fdev, "up"], ns=t.fw)
        assert wait_for(lambda: fdev in firewall_links(agent)), agent.log_text()
        assert firewall_links(agent)[fdev]["hook"] == "tc"
        assert probe(t, cdev, fdev) == {"ok": N, "denied": 0}, agent.log_text()
        assert foreign.alive(), "the other program's link went"
