# SPDX-License-Identifier: GPL-2.0-only
"""A 100,000-prefix set loaded from a file: one rule, addresses in it dropped."""
from lib.policy import blocklist_text
from lib.traffic import exchange

N = 3


def udp(tag, src, dst="192.0.2.2"):
    if ":" in src:
        dst = "2001:db8:1::2"
    return dict(tag=tag, src=src, dst=dst, proto="udp", dport=5000, count=N)


def test_large_set_from_file(env):
    env.agent.write_file("big.txt", blocklist_text())
    env.agent.write_policy("10-test.yaml", """\
sets:
  big:
    prefixes: [192.0.2.128/25]
    file: big.txt
firewall:
  interfaces: ["%s"]
  default: allow
  stateful: false
  rules:
    - name: drop-big
      action: deny
      src: ["@big"]
""" % env.topo.glob)
    env.agent.start(wait=False)
    env.agent.wait_ready(timeout=120)

    last = blocklist_text().strip().splitlines()[-1].split("::")[0]   # 2001:db8:X:Y
    hi, lo = (int(x, 16) for x in last.split(":")[2:4])
    after = "2001:db8:%x:%x::1" % (hi, lo + 1)
    dropped = ["203.0.113.1", "203.0.113.255", "198.51.100.5", "198.51.100.127",
               "192.0.2.200", "2001:db8:a000:1234::1", last + "::7",
               "2001:db8:1::99"]
    passed = ["203.0.113.2", "203.0.113.254", "198.51.100.128", "198.51.100.200",
              "192.0.2.1", after, "2001:db8:b000::1", "2001:db8:1::1"]
    specs = [udp("d%d" % i, a) for i, a in enumerate(dropped)]
    specs += [udp("p%d" % i, a) for i, a in enumerate(passed)]
    got = exchange(env.topo, specs)
    want = {s["tag"]: (0 if s["tag"].startswith("d") else N) for s in specs}
    assert got == want, {s["src"]: got[s["tag"]] for s in specs}
    assert env.agent.rules()["drop-big"]["packets"] == N * len(dropped)
