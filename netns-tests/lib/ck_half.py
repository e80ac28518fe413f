#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Half a TCP handshake in raw frames, for the SYN cookie tests: the SYN
from a source address no namespace has (its SYN-ACK is caught on the
interface, no kernel answers it), the ACK returning its cookie later, when
asked.

ck_half.py IFACE DST_MAC SRC DST PORT, then on stdin:
  syn SPORT  send a SYN from SRC:SPORT, print "cookie N" (N: the SYN-ACK's
             sequence number) or "timeout"
  ack        send the ACK of the last SYN-ACK, print "sent"
Exits at stdin EOF or after --max-seconds.
"""
import argparse
import sys
import time

from scapy.all import IP, TCP, Ether, conf, sendp, srp1

ISN = 0x01020304


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("iface")
    ap.add_argument("dst_mac")
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("port", type=int)
    ap.add_argument("--max-seconds", type=float, default=60)
    a = ap.parse_args()
    conf.verb = 0
    deadline = time.monotonic() + a.max_seconds
    sport, cookie = 0, None
    for line in sys.stdin:
        if time.monotonic() > deadline:
            break
        cmd = line.split()
        l2 = Ether(dst=a.dst_mac) / IP(src=a.src, dst=a.dst)
        if cmd and cmd[0] == "syn":
            sport = int(cmd[1])
            syn = l2 / TCP(sport=sport, dport=a.port, flags="S", seq=ISN,
                           options=[("MSS", 1460)])
            r = None
            for _ in range(3):
                r = srp1(syn, iface=a.iface, timeout=2)
                if r is not None and TCP in r and r[TCP].flags == "SA":
                    break
                r = None
            if r is None:
                print("timeout", flush=True)
                continue
            cookie = r[TCP].seq
            print("cookie %d" % cookie, flush=True)
        elif cmd and cmd[0] == "ack" and cookie is not None:
            sendp(l2 / TCP(sport=sport, dport=a.port, flags="A", seq=ISN + 1,
                           ack=(cookie + 1) & 0xffffffff), iface=a.iface)
            print("sent", flush=True)
        else:
            print("?", flush=True)


if __name__ == "__main__":
    main()
