# SPDX-License-Identifier: GPL-2.0-only
"""Restart and reload under a steady stream of traffic: neither opens the
firewall (no denied packet arrives) nor drops allowed traffic (every allowed
packet arrives)."""
import signal
import time

from lib.policy import policy_yaml
from lib.traffic import Stream

COUNT = 600
INTER = 0.004


def specs():
    s = dict(src="192.0.2.1", dst="192.0.2.2", proto="udp", count=COUNT)
    return [dict(s, tag="allowed", dport=5000), dict(s, tag="denied", dport=5001)]


def test_restart_under_traffic(env):
    agent = env.start(default="allow", rules=[
        dict(name="deny-5001", action="deny", proto="udp", dport=["5001"])])
    with Stream(env.topo, specs(), inter=INTER) as s:
        time.sleep(0.5)
        assert agent.stop(signal.SIGTERM) == 0, agent.log_text()
        time.sleep(0.3)
        agent.start()
        assert s.running(), "the stream ended before the restart was over; slow it down"
    assert s.counts == {"allowed": COUNT, "denied": 0}


def test_reload_under_traffic(env):
    """Reloads that move the deny rule to another index and change every
    table: a packet must see the old policy or the new one, never a mix."""
    a = [dict(name="deny-5001", action="deny", proto="udp", dport=["5001"])]
    b = [dict(name="allow-6000", action="allow", proto="udp", dport=["6000-6100"]),
         dict(name="allow-net", action="allow", src=["198.51.100.0/24", "2001:db8:9::/48"],
              proto="udp", dport=["7000"]),
         dict(name="deny-5001", action="deny", src=["192.0.2.0/24"], proto="udp",
              dport=["5001"]),
         dict(name="deny-tcp", action="deny", dst=["203.0.113.0/24"], proto="tcp")]
    agent = env.start(default="allow", rules=a)
    reloads = 0
    with Stream(env.topo, specs(), inter=INTER) as s:
        time.sleep(0.3)
        while s.running() and reloads < 12:
            gen = agent.status()["generation"]
            agent.write_policy("10-test.yaml",
                               policy_yaml(env.topo, b if reloads % 2 == 0 else a))
            deadline = time.monotonic() + 3
            while agent.status()["generation"] == gen and time.monotonic() < deadline:
                time.sleep(0.02)
            reloads += 1
    assert reloads >= 4, "too few reloads during the stream (%d)" % reloads
    assert s.counts == {"allowed": COUNT, "denied": 0}
