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

Prints one JSON list of booleans, one per probe. Each waits at most 2 s.
"""
import json
import logging
import sys
import time

logging.getLogger("scapy").setLevel(logging.ERROR)
from scapy.all import IP, IPv6, TCP, AsyncSniffer, conf, send  # noqa: E402

conf.verb = 0


def main():
    iface, src, probes = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    out = []
    for i, p in enumerate(probes):
        dst, dport, sport = p["dst"], p["dport"], 41000 + i
        v6 = ":" in dst
        L3 = IPv6 if v6 else IP

        def answer(pkt, dst=dst, dport=dport, sport=sport):
            return L3 in pkt and TCP in pkt and pkt[L3].src == dst and \
                pkt[TCP].sport == dport and pkt[TCP].dport == sport

        sn = AsyncSniffer(iface=iface, lfilter=answer, count=1, timeout=2)
        sn.start()
        time.sleep(0.3)
        syn = L3(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags="S", seq=1000)
        if p.get("tiny"):
            # the TCP header with its checksum, cut after 8 bytes (ports, seq)
            th = bytes(IP(bytes(syn))[TCP])
            send(IP(src=src, dst=dst, proto=6, id=4242 + i, flags="MF", frag=0) / th[:8])
            send(IP(src=src, dst=dst, proto=6, id=4242 + i, frag=1) / th[8:])
        else:
            send(syn)
        sn.join()
        out.append(bool(sn.results))
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
