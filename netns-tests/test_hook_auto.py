# SPDX-License-Identifier: GPL-2.0-only
"""`hook: auto`: tcx ingress on virtual devices, XDP where the policy needs it.

A veth and a bridge (both virtual: they have an rtnetlink kind) get
the firewall on tcx ingress, and `sluice status` says auto chose it; a
policy with what only XDP runs (SYN cookies sent by sluice) resolves auto to
XDP. No test netns has a NIC: the NIC side of the choice is
tests/test_policy.c's (lib/hook.c on the attributes rtnetlink reports).

An agent killed in the middle of a hook switch (SLUICE_FAIL_SWITCH=
kill-with-both-links: the new link pinned, the old one not yet detached)
leaves both links filtering; the next agent keeps the one the policy wants
and removes the other, the firewall closed and the connections tracked
throughout.
"""
import os
import signal
import time

import pytest

from lib.netns import run, xdp_prog_id
from test_conntrack import TcpConn, Server
from test_conntrack import server  # noqa: F401 (fixture)
from test_hook import agent_links, denied_udp, hook_policy, tcx_ingress, wait_hook

ALWAYS_COOKIES = "conntrack:\n  syn-cookies: always\n"


def ifaces(env):
    return {i["name"]: i for i in env.agent.status()["interfaces"] if i["hook"] in ("xdp", "tc")}


def link_pins(env):
    return sorted(os.listdir(os.path.join(env.agent.state_dir, "links")))


def fw_pins(env, ifindex):
    return [n for n in link_pins(env) if n in ("xdp_%d" % ifindex, "fwtc_%d" % ifindex)]


def allowed_tcp(t):
    c = TcpConn(t.client, t.f4)
    try:
        return c.first
    finally:
        c.end()


def test_auto_is_tc_on_virtual_devices_and_xdp_for_xdp_only_stages(env, server):
    t = env.topo
    local = Server(t.fw)
    try:
        env.agent.write_policy("10-test.yaml", hook_policy(t, "auto"))
        env.agent.start()
        it = wait_hook(env, "tc")
        assert it["hook_from"] == "auto" and it["mode"] == "tcx", it
        assert xdp_prog_id(t.fw, t.fdev) is None, "XDP on a veth under hook: auto"
        assert tcx_ingress(env) == [it["link_id"]], (agent_links(env), it)
        assert denied_udp(t) == "timeout"
        assert allowed_tcp(t) == "open"
        text = env.agent.cli_raw("status", json_out=False).stdout
        row = [ln.split() for ln in text.splitlines() if ln.startswith(t.fdev + " ")]
        assert row and row[0][2:4] == ["tc", "auto"], text

        # a device that appears later, virtual too (a bridge): tc
        bridge = t.pfx + "f9"
        run(["ip", "link", "add", bridge, "type", "bridge"], ns=t.fw)
        deadline = time.monotonic() + 10
        while ifaces(env).get(bridge, {}).get("hook") != "tc":
            assert time.monotonic() < deadline, (ifaces(env), env.agent.log_text())
            time.sleep(0.1)
        assert ifaces(env)[bridge]["hook_from"] == "auto"

        # SYN cookies sent by sluice leave with XDP_TX: auto is XDP everywhere
        gen = env.agent.status()["generation"]
        env.agent.write_policy("10-test.yaml", hook_policy(t, "auto") + ALWAYS_COOKIES)
        env.agent.wait_generation(gen + 1, timeout=10)
        it = wait_hook(env, "xdp")
        assert it["hook_from"] == "auto", it
        assert xdp_prog_id(t.fw, t.fdev) is not None
        assert ifaces(env)[bridge]["hook"] == "xdp", ifaces(env)
        assert denied_udp(t) == "timeout"
        assert allowed_tcp(t) == "open"

        # written, not chosen
        gen = env.agent.status()["generation"]
        env.agent.write_policy("10-test.yaml", hook_policy(t, "tc"))
        env.agent.wait_generation(gen + 1, timeout=10)
        it = wait_hook(env, "tc")
        assert it["hook_from"] == "policy", it
    finally:
        local.close()


@pytest.mark.parametrize("first,then", [("xdp", "auto"), ("tc", "xdp")])
def test_kill_in_the_middle_of_a_hook_switch(env, server, first, then):
    t = env.topo
    local = Server(t.fw)
    held = None
    want = "xdp" if then == "xdp" else "tc"
    try:
        env.agent.write_policy("10-test.yaml", hook_policy(t, first))
        env.agent.start(env_add={"SLUICE_FAIL_SWITCH": "kill-with-both-links"})
        it = wait_hook(env, first)
        ifindex = it["ifindex"]
        held = TcpConn(t.fw, t.c4)
        assert held.first == "open", held.first
        env.agent.write_policy("10-test.yaml", hook_policy(t, then))
        deadline = time.monotonic() + 10
        while env.agent.alive():
            assert time.monotonic() < deadline, "the fail point did not kill the agent"
            time.sleep(0.05)
        assert env.agent.proc.returncode == -signal.SIGKILL, env.agent.log_text()
        # both links pinned and attached: the firewall is closed, twice over
        assert fw_pins(env, ifindex) == ["fwtc_%d" % ifindex, "xdp_%d" % ifindex], \
            link_pins(env)
        assert xdp_prog_id(t.fw, t.fdev) is not None
        assert denied_udp(t) == "timeout", "the firewall opened with the agent dead"
        assert allowed_tcp(t) == "open"

        env.agent.start()
        it = wait_hook(env, want)
        assert fw_pins(env, ifindex) == [("fwtc_%d" if want == "tc" else "xdp_%d") % ifindex], \
            link_pins(env)
        assert (xdp_prog_id(t.fw, t.fdev) is None) == (want == "tc")
        assert (tcx_ingress(env) == [it["link_id"]]) == (want == "tc"), agent_links(env)
        assert "a hook switch was cut short" in env.agent.log_text()
        assert denied_udp(t) == "timeout"
        assert allowed_tcp(t) == "open"
        # its connection passed through it all (tracked: the policy allows no reply)
        assert held.close() == "closed"
    finally:
        if held:
            held.end()
        local.close()
