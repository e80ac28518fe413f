# SPDX-License-Identifier: GPL-2.0-only
"""SYN cookies in XDP, with real sockets, under a spoofed SYN flood.

The client namespace floods the firewall namespace with SYNs from spoofed
sources (198.51.100.0/24, random ports) made by the live-frames generator
(build/bench/bench_synflood: BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES,
redirecting into the client's veth, at millions of frames a second), while
real connect() calls from the client to a listener in the firewall
namespace are counted, and connections opened before the flood are
checked after it.
"""
import json
import os
import shutil
import time

from lib.agent import build_dir
from lib.foreign_tcx import DROP, INGRESS, PASS, ForeignTcx
from lib.netns import PYTHON, LineProc, run

HERE = os.path.dirname(os.path.abspath(__file__))
MANY = os.path.join(HERE, "lib", "many_conns.py")
PORT = 5320
SPOOFED = "198.51.100.0"
FLOOD = 1000000
CONNECTS = 200


def policy(topo, cookies):
    # sluice's SYN cookies leave with XDP_TX: on tc (auto, on a veth) the
    # kernel's own would answer the flood
    return """firewall:
  interfaces: ["%s"]
  default: deny
  hook: xdp
  rules:
    - {name: web, action: allow, proto: tcp, dport: [%d]}
conntrack:
  max-entries: 16384
%s""" % (topo.glob, PORT, cookies)


# The flood and the connects run on one CPU: auto mode judges each CPU
# alone, and a veth runs XDP on the CPU that sent the frame, so connects on
# the other CPU would never meet the cookies this test is about.
FLOOD_CPU = ["taskset", "-c", "0"]


def many(ns, *args, pin=False):
    return LineProc(ns, (FLOOD_CPU if pin else []) +
                    [PYTHON, MANY] + list(args) + ["--max-seconds", "120"])


def xdp_seen(agent):
    """Frames the XDP program has seen (every verdict)."""
    return sum(v["packets"] for v in agent.stats()["hooks"]["xdp"]["verdicts"].values())


def flood_and_connect(env, cookies, wait_active=False):
    """The scenario; returns (connected, flood frames that reached XDP, ct stats,
    alive of 50). The frames the generator sent that the veth's ring dropped
    (a loaded machine drops more) never met the firewall: the figures are of
    those that did, the sent ones bound them (the connects' few hundred
    frames are within the margins of the checks).
    WAIT_ACTIVE: the connects start once auto mode has turned cookies on."""
    t = env.topo
    env.agent.write_policy("10-test.yaml", policy(t, cookies))
    env.agent.start()
    # the kernel's own SYN-ACKs to the spoofed sources leave as on a real host
    run(["ip", "route", "add", SPOOFED + "/24", "via", t.c4], ns=t.fw)
    procs = []
    try:
        server = many(t.fw, "serve", str(PORT))
        procs.append(server)
        assert server.line() == "ready"
        holder = many(t.client, "hold", t.f4, str(PORT), "50", "--timeout", "5")
        procs.append(holder)
        assert holder.line() == "open 50"
        assert holder.say("check") == "alive 50"
        flood = LineProc(t.client, FLOOD_CPU + [
            os.path.join(build_dir(), "bench", "bench_synflood"),
            "--ns", t.client, "--iface", t.cdev,
            "--dst-mac", t.mac(t.fw, t.fdev), "--dst", t.f4,
            "--dport", str(PORT), "--src-net", SPOOFED, "--count", str(FLOOD)])
        procs.append(flood)
        assert flood.line() == "ready", flood.proc.stderr.read()
        conn = many(t.client, "connect", t.f4, str(PORT), str(CONNECTS), "--timeout", "3",
                    pin=True)
        procs.append(conn)
        assert conn.line() == "ready"
        seen0 = xdp_seen(env.agent)
        assert flood.say("go").startswith("flooding")
        deadline = time.monotonic() + 20
        while wait_active and not env.agent.cli("ct", "stats")["syncookies"]["active"]:
            assert time.monotonic() < deadline, "auto mode never turned cookies on"
            time.sleep(0.05)
        res = conn.say("go").split()
        sent = flood.say("stop").split()
        assert res[0] == "connected" and sent[0] == "sent", (res, sent)
        connected, c0, c1 = int(res[1]), float(res[4]), float(res[5])
        frames, f0, f1 = int(sent[1]), float(sent[2]), float(sent[3])
        print("%s: %d of %d connected in %.2f s; %d SYNs in %.2f s (%.2f Mpps)" %
              (cookies, connected, CONNECTS, c1 - c0, frames, f1 - f0,
               frames / (f1 - f0) / 1e6))
        # every connect() happened while the flood ran
        assert f0 <= c0 and c1 <= f1, (f0, c0, c1, f1)
        seen = xdp_seen(env.agent) - seen0
        print("%d frames reached XDP" % seen)
        assert frames >= FLOOD and seen >= FLOOD // 2, (frames, seen)
        alive = int(holder.say("check").split()[1])
        st = env.agent.cli("ct", "stats")
        print("ct stats: %s" % json.dumps(st))
        return connected, min(frames, seen), st, alive
    finally:
        for p in reversed(procs):
            p.close()


def test_syn_flood_auto_cookies(env):
    """The default (syn-cookies: auto): the flood turns cookies on within a
    window (250 ms) on the CPU it runs on, then every flood SYN gets one and
    leaves no state; the connects during the flood complete (with a cookie,
    or the ordinary way on a CPU without pressure); the connections opened
    before it survive."""
    connected, frames, st, alive = flood_and_connect(env, "", wait_active=True)
    assert connected >= CONNECTS * 99 // 100, connected
    assert alive == 50
    assert st["syncookie_pressure"] >= 1, st
    assert st["syncookie_sent"] >= frames * 0.8, st
    # what the flood left in the table: its first windows at most
    assert st["created"] - 250 <= frames * 0.2, st
    # the connects came once cookies were on, on the CPU the flood runs on
    # (FLOOD_CPU), so some completed from cookies
    assert st["syncookie_valid"] >= 1, st
    assert st["syncookie_accepted"] == st["syncookie_valid"], st
    assert st["syncookie_failed"] == 0, st


def test_syn_flood_listed_port(env):
    """syn-cookie-ports: every SYN to the port gets a cookie, from the first:
    the 250 connections (50 before the flood, 200 during it) were all
    completed by TC from a cookie, the flood left nothing in the table."""
    connected, frames, st, alive = flood_and_connect(
        env, "  syn-cookie-ports: [%d]\n" % PORT)
    assert connected >= CONNECTS * 99 // 100, connected
    assert alive == 50
    # every SYN that reached XDP got a cookie
    assert st["syncookie_sent"] >= frames * 0.99, st
    assert st["syncookie_valid"] == st["syncookie_accepted"] == 50 + connected, st
    assert st["created"] == 50 + connected and st["unassured"] == 0, st
    assert st["syncookie_failed"] == 0, st


def test_syn_flood_without_cookies(env):
    """The comparison, syn-cookies: off. Every flood SYN goes to the stack
    and into the unassured entries (churned, never evicting the assured
    ones: the 50 connections survive). The connects still complete here:
    the kernel answers them with syncookies of its own once its listener
    overflows, at a higher cost per flood SYN (the flood runs slower: see
    the printed rates); the cookies' checks above fail on this run."""
    connected, frames, st, alive = flood_and_connect(env, "  syn-cookies: off\n")
    assert alive == 50
    assert st["syncookie_sent"] == 0, st
    assert st["created"] >= frames * 0.9 and st["evicted"] >= frames * 0.8, st
    print("without cookies: %d of %d connected" % (connected, CONNECTS))


def test_cookie_ack_across_restart(env):
    """A cookie answered before the agent restarts is still good after it:
    the SYN-ACK caught by a raw client (a source no namespace has), the
    agent stopped and started, then the ACK: validated and its connection
    handed to the listener. Twice: a restart that adopts the programs, and
    one that loads a new program set with ct_ck_sent made anew (an upgrade
    from a build without it: the cookie's slot is known only because the
    agent marks the slots around its start as sent)."""
    t = env.topo
    env.agent.write_policy("10-test.yaml", policy(t, "  syn-cookie-ports: [%d]\n" % PORT))
    env.agent.start()
    server = many(t.fw, "serve", str(PORT))
    half = LineProc(t.client, [PYTHON, os.path.join(HERE, "lib", "ck_half.py"), t.cdev,
                               t.mac(t.fw, t.fdev), "203.0.113.77", t.f4, str(PORT)])
    try:
        assert server.line() == "ready"
        for sport, upgrade in ((40001, False), (40002, True)):
            ans = half.say("syn %d" % sport)
            assert ans.startswith("cookie"), (ans, half.proc.stderr.read())
            st0 = env.agent.cli("ct", "stats")
            assert env.agent.stop() == 0, env.agent.log_text()
            if upgrade:
                sd = env.agent.state_dir
                os.unlink(os.path.join(sd, "maps", "ct_ck_sent"))
                # no program set pinned: the start loads a new one, as a new build does
                shutil.rmtree(os.path.join(sd, "progs"))
            env.agent.start()
            assert half.say("ack") == "sent"
            deadline = time.monotonic() + 10
            while True:
                st = env.agent.cli("ct", "stats")
                if st["syncookie_accepted"] > st0["syncookie_accepted"]:
                    break
                assert time.monotonic() < deadline, (upgrade, st0, st)
                time.sleep(0.05)
            assert st["syncookie_valid"] == st0["syncookie_valid"] + 1, (upgrade, st0, st)
            assert st["syncookie_failed"] == st0["syncookie_failed"], (upgrade, st0, st)
    finally:
        half.close()
        server.close()


def test_cookie_helper_goes_first_and_lets_the_chain_go_on(env, tmp_path):
    """Another tcx ingress program that passes everything is on the
    interface before the agent starts: sluice's TC ingress helper (the
    SYN-ACK's way out on a veth, the cookie ACK's request socket) goes first
    in the chain, so cookie handshakes complete (on the code before, it was
    appended behind the other program and never ran: no connection). What
    it lets go, it passes on ("next", not "ok", which ended the chain): a
    program after it still sees it (on the code before, a drop-everything
    program after it never ran)."""
    t = env.topo
    env.agent.write_policy("10-test.yaml", policy(t, "  syn-cookie-ports: [%d]\n" % PORT))
    server = many(t.fw, "serve", str(PORT))
    try:
        assert server.line() == "ready"
        with ForeignTcx(tmp_path, t.fw, t.fdev, INGRESS, PASS) as before:
            env.agent.start()
            conn = many(t.client, "connect", t.f4, str(PORT), "5", "--timeout", "3")
            assert conn.line() == "ready"
            res = conn.say("go").split()
            conn.close()
            assert res[:2] == ["connected", "5"], (res, env.agent.log_text())
            assert before.alive()
        st = env.agent.cli("ct", "stats")
        assert st["syncookie_accepted"] >= 5 and st["syncookie_failed"] == 0, st
        with ForeignTcx(tmp_path, t.fw, t.fdev, INGRESS, DROP):
            conn = many(t.client, "connect", t.f4, str(PORT), "2", "--timeout", "2")
            assert conn.line() == "ready"
            res = conn.say("go").split()
            conn.close()
            assert res[:2] == ["connected", "0"], res
    finally:
        server.close()
