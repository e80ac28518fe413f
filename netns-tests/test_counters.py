# SPDX-License-Identifier: GPL-2.0-only
"""Rule counters belong to rules: a reload (or a restart of the agent) keeps
the counters of a rule whose name and content did not change, wherever it
moved; a changed or renamed rule starts from zero, like nft's named counters.
Drop events name the rule of the policy generation that dropped the packet,
also when they are read after a reload moved another rule to its index."""
import json
import signal

from lib.policy import policy_yaml
from lib.traffic import exchange


def deny(name, port):
    return dict(name=name, action="deny", proto="udp", dport=[str(port)])


def send(env, counts):
    """COUNTS {port: n} of UDP to the firewall; what arrived, by port."""
    s = dict(src="192.0.2.1", dst="192.0.2.2", proto="udp")
    return exchange(env.topo, [dict(s, tag=str(p), dport=p, count=n) for p, n in counts.items()])


def reload(env, agent, rules):
    gen = agent.status()["generation"]
    agent.write_policy("10-test.yaml", policy_yaml(env.topo, rules))
    agent.wait_generation(gen + 1)


def packets(agent):
    """{rule name: packets}, the default action left out."""
    return {name: r["packets"] for name, r in agent.rules().items() if name != "(default)"}


def test_counters_kept_across_reloads_and_restart(env):
    agent = env.start(default="allow", rules=[deny("a", 5001), deny("b", 5002)])
    assert send(env, {5001: 3, 5002: 2}) == {"5001": 0, "5002": 0}
    assert packets(agent) == {"a": 3, "b": 2}

    # a new rule before them, b's port changed: a keeps its 3 at its new index,
    # b (same name, other content) and the new rule start from zero
    reload(env, agent, [deny("z", 5009), deny("a", 5001), deny("b", 5004)])
    assert packets(agent) == {"z": 0, "a": 3, "b": 0}
    assert send(env, {5001: 4, 5004: 1}) == {"5001": 0, "5004": 0}
    assert packets(agent) == {"z": 0, "a": 7, "b": 1}

    # a restarted agent finds the counters of the rules it keeps (fw_cnt_key)
    assert agent.stop(signal.SIGTERM) == 0, agent.log_text()
    agent.start()
    assert packets(agent) == {"z": 0, "a": 7, "b": 1}, agent.log_text()
    assert send(env, {5001: 1}) == {"5001": 0}
    assert packets(agent)["a"] == 8

    # renamed: another rule, its own counter
    reload(env, agent, [deny("z", 5009), deny("a2", 5001), deny("b", 5004)])
    assert packets(agent) == {"z": 0, "a2": 0, "b": 1}


def test_drop_event_names_the_rule_of_its_generation(env):
    agent = env.start(default="allow", rules=[deny("old", 5001)])
    gen = agent.status()["generation"]
    assert send(env, {5001: 1}) == {"5001": 0}
    # index 0 is another rule now; the event was queued under the old policy
    reload(env, agent, [deny("new", 5002), deny("old", 5001)])
    p = agent.cli_raw("monitor", "--backlog", "1", "--count", "1", timeout=10)
    assert p.returncode == 0, p.stderr
    [ev] = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    assert (ev["rule"], ev["rule_index"], ev["generation"]) == ("old", 0, gen), ev
    # and a drop of the new generation names its own rule at its own index
    assert send(env, {5001: 1}) == {"5001": 0}
    p = agent.cli_raw("monitor", "--backlog", "1", "--count", "1", timeout=10)
    [ev] = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    assert (ev["rule"], ev["rule_index"], ev["generation"]) == ("old", 1, gen + 1), ev
