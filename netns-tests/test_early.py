# SPDX-License-Identifier: GPL-2.0-only
"""Early deny rules (`early: true`) with a real TCP connection.

fw opens a connection to the client's echo server (stateful, default deny:
the replies come in as a tracked connection). A reload then adds the
client's address to the set of rule "cut": an early deny cuts the live
connection (its packets are dropped before conntrack and counted on the
rule), a plain deny leaves it alone (tracked packets pass before the
rules), on either hook.
"""

import pytest

from test_conntrack import TCP_PORT, TcpConn, server  # noqa: F401
from test_reload import wait_new_generation


def early_policy(topo, hook, early, members):
    return """sets:
  bad:
    prefixes: [%s]
firewall:
  interfaces: ["%s"]
  default: deny
  stateful: true
  hook: %s
  rules:
    - name: cut
      action: deny
      early: %s
      src: ["@bad"]
""" % (", ".join(members), topo.glob, hook, "true" if early else "false")


def echo(conn):
    conn.proc.stdin.write("echo\n")
    conn.proc.stdin.flush()
    return conn.proc.stdout.readline().strip()


@pytest.mark.parametrize("hook,early", [("xdp", True), ("xdp", False), ("tc", True)])
def test_reload_early_cuts_live_connection(env, server, hook, early):
    t = env.topo
    # 198.51.100.99: a member that is not the client, so the set is never empty
    env.agent.write_policy("10-test.yaml", early_policy(t, hook, early, ["198.51.100.99/32"]))
    env.agent.start()
    conn = TcpConn(t.fw, t.c4, TCP_PORT, timeout=2)
    try:
        assert conn.first == "open", conn.first
        assert echo(conn) == "echo"
        gen = env.agent.status()["generation"]
        env.agent.write_policy("10-test.yaml",
                               early_policy(t, hook, early, ["198.51.100.99/32", t.c4 + "/32"]))
        wait_new_generation(env.agent, gen)
        rules = env.agent.rules()
        assert rules["cut"]["early"] is early, rules["cut"]
        assert rules["cut"]["packets"] == 0, rules["cut"]
        if early:
            assert echo(conn) == "timeout", "the early deny did not cut the connection"
            # the echo and its retransmits: dropped on rule cut, not on the default
            assert env.agent.rules()["cut"]["packets"] >= 1, env.agent.rules()
        else:
            assert echo(conn) == "echo", "a plain deny cut a tracked connection"
            assert env.agent.rules()["cut"]["packets"] == 0, env.agent.rules()
    finally:
        conn.end()


def test_rule_add_early(env, server):
    """`sluice rule add --early` cuts a live connection as the policy key
    does; listed as early (-j) and deny-early (text); an allow refused."""
    t = env.topo
    env.agent.write_policy("10-test.yaml", early_policy(t, "xdp", True, ["198.51.100.99/32"]))
    env.agent.start()
    p = env.agent.cli_raw("rule", "add", "x", "--action", "allow", "--early", json_out=False)
    assert p.returncode == 2 and "--early" in p.stderr and "deny rules only" in p.stderr, \
        (p.returncode, p.stderr)
    conn = TcpConn(t.fw, t.c4, TCP_PORT, timeout=2)
    try:
        assert conn.first == "open", conn.first
        env.agent.cli("rule", "add", "cli-cut", "--action", "deny", "--early", "--src", t.c4)
        rules = env.agent.rules()
        assert rules["cli-cut"]["early"] is True and rules["cut"]["early"] is True, rules
        assert echo(conn) == "timeout", "rule add --early did not cut the connection"
        assert env.agent.rules()["cli-cut"]["packets"] >= 1, env.agent.rules()
        text = env.agent.cli_raw("rule", "list", json_out=False).stdout
        assert [ln.split()[2] for ln in text.splitlines() if "cli-cut" in ln] == \
            ["deny-early"], text
    finally:
        conn.end()
