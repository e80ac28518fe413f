#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Run in the client namespace: sends TCP SYNs from a raw socket (scapy) and
says which destinations answered (SYN-ACK or RST: the SYN reached their
stack).

  synprobe.py IFACE SRC JSON   JSON: a list of {"dst": A, "dport": P,
                               "tiny": true|false}; "tiny" splits the IPv4 SYN
                               into two fragments, the first holding only 8
                               bytes of the TCP header (RFC 1858's tiny
                               fragment), which the destination reassembles.

Sends every SYN in the order given, then waits until the last one is
answered (or 2 s): those before it had their chance by then (sent first,
the same path), after a grace of GRACE for answers still on their way.
Prints one JSON list of booleans, one per probe. A list that ends with a
probe that gets its answer is quick; one whose last probe gets none takes
2 s.
"""
import json
import logging
import sys
import time

logging.getLogger("scapy").setLevel(logging.ERROR)
from scapy.all import IP, IPv6, TCP, AsyncSniffer, conf, send  # noqa: E402

conf.verb = 0
GRACE = 0.3


def main():
    iface, src, probes = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    answered = set()

    def note(pkt):
        """Mark the probe PKT answers (by its ports: the source port says
        which probe)."""
        for i, p in enumerate(probes):
            L3 = IPv6 if ":" in p["dst"] else IP
            if L3 in pkt and TCP in pkt and pkt[L3].src == p["dst"] and \
                    pkt[TCP].sport == p["dport"] and pkt[TCP].dport == 41000 + i:
                answered.add(i)

    sn = AsyncSniffer(iface=iface, prn=note, store=False)
    sn.start()
    time.sleep(0.3)
    for i, p in enumerate(probes):
        dst, dport, sport = p["dst"], p["dport"], 41000 + i
        L3 = IPv6 if ":" in dst else IP
        syn = L3(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags="S", seq=1000)
        if p.get("tiny"):
            # the TCP header with its checksum, cut after 8 bytes (ports, seq)
            th = bytes(IP(bytes(syn))[TCP])
            send(IP(src=src, dst=dst, proto=6, id=4242 + i, flags="MF", frag=0) / th[:8])
            send(IP(src=src, dst=dst, proto=6, id=4242 + i, frag=1) / th[8:])
        else:
            send(syn)
    deadline = time.monotonic() + 2
    while len(probes) - 1 not in answered and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(GRACE)
    sn.stop()
    print(json.dumps([i in answered for i in range(len(probes))]), flush=True)


if __name__ == "__main__":
    main()
