#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""The traffic part of `make demo`: real packets from the client namespace
through the firewall on the fw veth, each one checked against what the
example policies (policies/*.yaml) say should happen.

Usage: demo_traffic.py PREFIX [--short]
(the namespaces PREFIX"c" and PREFIX"f" exist). --short sends only the UDP
checks. Exit status 0 when everything happened as the policy says.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from lib.netns import Topology  # noqa: E402
from lib.traffic import exchange, tcp_reachable, tcp_reachable_from_fw  # noqa: E402

N = 3


def main():
    t = Topology(sys.argv[1])
    rows = []

    def row(what, rule, expect, delivered, sent):
        ok = (delivered == sent) if expect == "delivered" else (delivered == 0)
        rows.append((what, rule, expect, "%d/%d" % (delivered, sent), ok))

    tcp = [] if "--short" in sys.argv[2:] else [
            ("TCP 192.0.2.1 -> 192.0.2.2:22", "192.0.2.2", 22, "ssh", "delivered"),
            ("TCP 192.0.2.1 -> 192.0.2.2:8080", "192.0.2.2", 8080, "web", "delivered"),
            ("TCP [2001:db8:1::1] -> [2001:db8:1::2]:443", "2001:db8:1::2", 443, "web",
             "delivered"),
            ("TCP 192.0.2.1 -> 192.0.2.2:3306", "192.0.2.2", 3306, "(default deny)",
             "dropped")]
    for what, addr, port, rule, expect in tcp:
        ok = tcp_reachable(t, addr, port, timeout=1.0)
        row(what, rule, expect, 1 if ok else 0, 1)
    if tcp:
        # the other way: the fw host opens a connection; no rule allows the
        # client's SYN-ACK, conntrack (TC egress saw the SYN) lets it in
        ok = tcp_reachable_from_fw(t, "192.0.2.1", 9000, timeout=1.0)
        row("TCP 192.0.2.2 -> 192.0.2.1:9000 (opened by fw)", "conntrack (reply)",
            "delivered", 1 if ok else 0, 1)

    udp = [
        ("UDP 192.0.2.1 -> 192.0.2.2:53", "192.0.2.1", "192.0.2.2", 53, "dns", "delivered"),
        ("UDP 203.0.113.10 -> 192.0.2.2:53", "203.0.113.10", "192.0.2.2", 53, "dns",
         "delivered"),
        ("UDP 203.0.113.200 -> 192.0.2.2:53", "203.0.113.200", "192.0.2.2", 53,
         "drop-blocklist (blocklist.txt)", "dropped"),
        ("UDP 198.51.100.7 -> 192.0.2.2:53", "198.51.100.7", "192.0.2.2", 53,
         "drop-blocklist (inline)", "dropped"),
        ("UDP [2001:db8:dead::1] -> [2001:db8:1::2]:53", "2001:db8:dead::1", "2001:db8:1::2",
         53, "drop-blocklist (blocklist.txt)", "dropped"),
        ("UDP 192.0.2.1 -> 192.0.2.2:5353", "192.0.2.1", "192.0.2.2", 5353,
         "(default deny)", "dropped"),
    ]
    specs = [dict(tag=str(i), src=s, dst=d, proto="udp", dport=p, count=N)
             for i, (_, s, d, p, _, _) in enumerate(udp)]
    got = exchange(t, specs)
    for i, (what, _, _, _, rule, expect) in enumerate(udp):
        row(what, rule, expect, got[str(i)], N)

    w = max(len(r[0]) for r in rows)
    rw = max(len(r[1]) for r in rows)
    print("  %-*s  %-*s  %-9s  %-9s" % (w, "traffic", rw, "decided by", "expected", "arrived"))
    bad = 0
    for what, rule, expect, arrived, ok in rows:
        print("  %-*s  %-*s  %-9s  %-9s %s" % (w, what, rw, rule, expect, arrived,
                                               "ok" if ok else "<-- WRONG"))
        bad += not ok
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
