# SPDX-License-Identifier: GPL-2.0-only
"""Atomic policy changes under probe traffic (issue 4).

Two policies swap the verdicts of two probe flows: P1 allows flow A and not
B, P2 allows B and not A, with the rules at different indexes and matching
on different tables (source port, destination port, destination prefix), so
a packet that saw tables of both policies would pass both flows or
neither. The probes go in strict alternation A0, B0, A1, B1, ... each
numbered, while the policy file is replaced 50 times (each applied by
SIGHUP at once, and again by the dir watch after its debounce). For every pair the
receiver says which arrived: a pair must be (A, not B) or (B, not A), except
a pair that straddles a switch (A under one policy, B under the next), which
can only be at a boundary between a run of one kind and a run of the other.
"""
import signal
import time

from lib.policy import policy_yaml
from lib.traffic import Stream

# 2,000 pairs stream for 24 s: the 50 swaps took 4.2 s here (the last flip at
# pair ~310); 5,000 pairs streamed on for a minute after them
PAIRS = 2000
INTER = 0.006
SWAPS = 50

P1 = [dict(name="allow-a", action="allow", proto="udp", sport=["41000"], dport=["5000"])]
P2 = [dict(name="deny-other", action="deny", proto="udp", dst=["203.0.113.0/24"]),
      dict(name="allow-b", action="allow", proto="udp", sport=["42000"], dport=["5001"])]


def pattern(counts, n):
    """One letter per pair: a, b (exactly one arrived), 2 (both), 0 (neither)."""
    out = []
    for i in range(n):
        a = counts.get("A#%d" % i, 0) > 0
        b = counts.get("B#%d" % i, 0) > 0
        out.append("2" if a and b else "a" if a else "b" if b else "0")
    return "".join(out)


def xdp_packets(agent):
    """Packets the XDP program has seen (every verdict)."""
    return sum(v["packets"] for v in agent.stats()["hooks"]["xdp"]["verdicts"].values())


def test_policy_swapped_50_times_under_probes(env):
    t = env.topo
    agent = env.start(default="deny", rules=P1)
    specs = [dict(tag="A", src=t.c4, dst=t.f4, proto="udp", sport=41000, dport=5000,
                  count=PAIRS, seq=True),
             dict(tag="B", src=t.c4, dst=t.f4, proto="udp", sport=42000, dport=5001,
                  count=PAIRS, seq=True)]
    swaps = 0
    with Stream(t, specs, inter=INTER, max_seconds=120) as s:
        # scapy builds every frame before the first goes out: wait for the probes
        seen0 = xdp_packets(agent)
        deadline = time.monotonic() + 60
        while xdp_packets(agent) < seen0 + 20:
            assert time.monotonic() < deadline and s.running(), "no probe reached XDP"
            time.sleep(0.05)
        while s.running() and swaps < SWAPS:
            want = P2 if swaps % 2 == 0 else P1
            agent.write_policy("10-test.yaml", policy_yaml(t, want, default="deny"))
            # SIGHUP applies it now; the dir watch applies the same file again
            # after its debounce (a new generation, the same verdicts)
            agent.proc.send_signal(signal.SIGHUP)
            names = [r["name"] for r in want]
            deadline = time.monotonic() + 5
            while [r["name"] for r in agent.cli("rule", "list")["rules"]] != names:
                assert time.monotonic() < deadline, agent.log_text()
                time.sleep(0.02)
            swaps += 1
    assert swaps == SWAPS, "the probes ended after %d swaps; slow down or send more" % swaps
    p = pattern(s.recv.counts, PAIRS)
    q = p.replace("2", "").replace("0", "")     # the pairs that saw one policy
    switches = sum(1 for i in range(1, len(q)) if q[i] != q[i - 1])
    odd = [i for i, c in enumerate(p) if c in "20"]
    for i in odd:
        before = p[:i].replace("2", "").replace("0", "")[-1:]
        after = p[i + 1:].replace("2", "").replace("0", "")[:1]
        # a straddling pair: alone, between a run of a and a run of b
        assert before and after and before != after and p[i - 1] in "ab" and \
            p[i + 1] in "ab", "pair %d is %r outside a switch: ...%s..." % (
                i, p[i], p[max(0, i - 10):i + 10])
    assert len(odd) <= switches, (len(odd), switches)
    # every swap happened while probes flowed: the verdicts flipped each time
    assert switches == SWAPS, "%d verdict flips for %d swaps" % (switches, SWAPS)
    assert q[0] == "a" and q[-1] == "a", (q[:5], q[-5:])
