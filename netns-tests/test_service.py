# SPDX-License-Identifier: GPL-2.0-only
"""sluiced as a systemd service, without systemd: the test is the service
manager. It listens on its own NOTIFY_SOCKET for READY=1, STATUS=, WATCHDOG=1
and STOPPING=1 (the sd_notify protocol), and on its own journald socket for
the agent's log lines with their priorities."""
import os
import re
import signal
import socket
import time

from lib.netns import xdp_prog_id
from lib.policy import policy_yaml

DENY_5001 = [dict(name="deny-5001", action="deny", proto="udp", dport=["5001"])]


class Listener:
    """A datagram socket at PATH that collects (monotonic time, fields) per message."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.msgs = []

    def fields(self, data):
        """sd_notify: "K=V" lines. journald's native protocol: the same, for
        values without a newline (a value with one is length-prefixed)."""
        out = {}
        while data:
            line, nl, rest = data.partition(b"\n")
            if b"=" in line:
                k, _, v = line.partition(b"=")
                out[k.decode()] = v.decode(errors="replace")
                data = rest
                continue
            # KEY\n<le64 size><value>\n
            size = int.from_bytes(rest[:8], "little")
            out[line.decode()] = rest[8:8 + size].decode(errors="replace")
            data = rest[8 + size + 1:]
        return out

    def wait_for(self, pred, timeout):
        """Receive until a message satisfies PRED; return it, or None at the deadline."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                break
            m = (time.monotonic(), self.fields(data))
            self.msgs.append(m)
            if pred(m[1]):
                return m
        return None

    def close(self):
        self.sock.close()


def test_notify_ready_status_watchdog_stopping(env, tmp_path):
    t, agent = env.topo, env.agent
    n = Listener(str(tmp_path / "notify"))
    agent.write_policy("10-test.yaml", policy_yaml(t, DENY_5001))
    # WatchdogSec=1s: pings every 0.5 s
    agent.start(wait=False, env_add={"NOTIFY_SOCKET": n.path, "WATCHDOG_USEC": "1000000"})
    try:
        ready = n.wait_for(lambda f: f.get("READY") == "1", 20)
        assert ready, "no READY=1: %s\n%s" % (n.msgs, agent.log_text())
        # READY only once the policy is in force on every matching interface
        assert xdp_prog_id(t.fw, t.fdev) is not None, "READY=1 before XDP was attached"
        assert agent.status()["generation"] == 1
        assert ready[1]["STATUS"] == "generation 1 in force on 1 interface", ready
        assert not [f for _, f in n.msgs[:-1] if f.get("READY")], "READY=1 twice"

        # WATCHDOG=1 from the event loop, never further apart than WatchdogSec
        n.wait_for(lambda f: False, 2.6)
        pings = [ts for ts, f in n.msgs if f.get("WATCHDOG") == "1"]
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        assert len(pings) >= 4, n.msgs
        assert max(gaps) < 1.0, "a watchdog gap of %.2f s (WatchdogSec=1s)" % max(gaps)
        assert 0.3 < sum(gaps) / len(gaps) < 0.8, gaps

        # STATUS= follows the policy: a reload, a failed reload, a new interface
        # (the agent also reloads on its own when it sees the file change)
        agent.write_policy("10-test.yaml", policy_yaml(t, []))
        os.kill(agent.proc.pid, signal.SIGHUP)
        st = n.wait_for(lambda f: re.fullmatch(r"generation ([2-9]|\d\d+) in force on 1 "
                                               r"interface", f.get("STATUS", "")), 10)
        assert st, n.msgs[-5:]
        agent.write_policy("10-test.yaml", policy_yaml(t, DENY_5001).replace("5001", "70000"))
        os.kill(agent.proc.pid, signal.SIGHUP)
        st = n.wait_for(lambda f: "not applied" in f.get("STATUS", ""), 10)
        gen = agent.status()["generation"]
        assert st and st[1]["STATUS"] == ("generation %d in force on 1 interface; the last "
                                          "policy change was not applied (see the log)" % gen), \
            n.msgs[-5:]
        agent.write_policy("10-test.yaml", policy_yaml(t, []))
        t.add_veth(t.pfx + "c1", t.pfx + "f1", ["198.51.100.1/24"], ["198.51.100.2/24"])
        st = n.wait_for(lambda f: f.get("STATUS", "").endswith(" on 2 interfaces"), 10)
        assert st, n.msgs[-5:]

        # SIGTERM: STOPPING=1, and the firewall stays
        assert agent.stop(signal.SIGTERM) == 0
        st = n.wait_for(lambda f: f.get("STOPPING") == "1", 5)
        assert st and "stays in force" in st[1]["STATUS"], n.msgs[-3:]
        assert xdp_prog_id(t.fw, t.fdev) is not None
    finally:
        n.close()


def test_no_ready_when_the_policy_is_invalid(env, tmp_path):
    """Nothing in force and an invalid policy: the agent exits non-zero and
    never says READY=1 (systemd reports the unit failed, no firewall half up)."""
    t, agent = env.topo, env.agent
    n = Listener(str(tmp_path / "notify"))
    agent.write_policy("10-test.yaml", policy_yaml(t, DENY_5001).replace("5001", "70000"))
    agent.start(wait=False, env_add={"NOTIFY_SOCKET": n.path})
    try:
        rc = agent.proc.wait(timeout=20)
        n.wait_for(lambda f: False, 0.2)
        assert rc != 0
        assert not [f for _, f in n.msgs if f.get("READY")], n.msgs
        assert xdp_prog_id(t.fw, t.fdev) is None
    finally:
        agent.stop()
        n.close()


def test_journal_priorities(env, tmp_path):
    """Without --foreground the agent logs to the journal (sd_journal_print)
    with each message's priority. Its own mount namespace puts this test's
    socket at /run/systemd/journal/socket, where journald would listen."""
    t, agent = env.topo, env.agent
    jdir = tmp_path / "journal"
    jdir.mkdir()
    j = Listener(str(jdir / "socket"))
    wrap = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
            "mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal && "
            "mount --bind \"$0\" /run/systemd/journal && exec \"$@\"", str(jdir)]
    agent.write_policy("10-test.yaml", policy_yaml(t, DENY_5001))
    agent.start(foreground=False, wrap=wrap)
    try:
        start = j.wait_for(lambda f: re.match(r"sluiced \S+ starting$", f.get("MESSAGE", "")),
                           5)
        assert start, j.msgs
        assert start[1]["PRIORITY"] == "6"                      # LOG_INFO
        assert start[1]["SYSLOG_IDENTIFIER"].startswith("sluiced")
        assert j.wait_for(lambda f: f.get("MESSAGE", "").startswith("sluiced ") and
                          " running: " in f.get("MESSAGE", ""), 5)
        # a mistake: the location at LOG_ERR, and the reason it is not applied
        agent.write_policy("10-test.yaml", policy_yaml(t, DENY_5001).replace("5001", "70000"))
        os.kill(agent.proc.pid, signal.SIGHUP)
        err = j.wait_for(lambda f: re.match(r".*10-test\.yaml:\d+:\d+: ", f.get("MESSAGE", "")),
                         10)
        assert err and err[1]["PRIORITY"] == "3", j.msgs[-5:]          # LOG_ERR
        assert not [f for _, f in j.msgs if f.get("PRIORITY") == "7"], "debug without -v"
        assert agent.stop(signal.SIGTERM) == 0
        # nothing went to stderr (the test's log file) but the start line
        assert agent.log_text().count("\n") == 1, agent.log_text()
    finally:
        j.close()
