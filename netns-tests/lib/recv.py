#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Receiver run inside the fw namespace: counts what really arrived.

UDP: one dual-stack socket per --udp port; every datagram's payload is
"sl:TAG", written by send.py, counted per TAG. --packet IFACE: an AF_PACKET
socket on IFACE counts the frames the kernel received there (after XDP let
them pass) by the same payload, whatever their VLAN tags: used where the
kernel has no VLAN devices to deliver tagged frames to a socket. TCP: one listening dual-stack socket per
--tcp port; every accepted connection is counted as "tcp:PORT".

Prints "ready" once every socket is bound, then runs until stdin reaches EOF
or --max-seconds pass, and prints the counts as one JSON object. With
--progress, it also prints "progress JSON" (the counts so far) whenever they
changed, at most every 20 ms: a test can wait until traffic really arrives.
"""
import argparse
import json
import select
import socket
import sys
import time

ETH_P_ALL = 0x0003
MARK = b"sl:"


def tag_of(data):
    i = data.rfind(MARK)
    if i < 0:
        return None
    return data[i + len(MARK):].decode(errors="replace")


def dual_stack(kind, port):
    s = socket.socket(socket.AF_INET6, kind)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if kind == socket.SOCK_DGRAM:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind(("::", port))
    if kind == socket.SOCK_STREAM:
        s.listen(64)
    s.setblocking(False)
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--udp", type=int, action="append", default=[])
    ap.add_argument("--tcp", type=int, action="append", default=[])
    ap.add_argument("--packet", action="append", default=[])
    ap.add_argument("--max-seconds", type=float, default=30.0)
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args()

    udp = {dual_stack(socket.SOCK_DGRAM, p): p for p in args.udp}
    tcp = {dual_stack(socket.SOCK_STREAM, p): p for p in args.tcp}
    raw = []
    for ifname in args.packet:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.bind((ifname, ETH_P_ALL))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.setblocking(False)
        raw.append(s)
    counts = {}

    def count(tag):
        if tag is not None:
            counts[tag] = counts.get(tag, 0) + 1

    def drain(s):
        while True:
            try:
                data, addr = s.recvfrom(65536)
            except BlockingIOError:
                return
            if s in raw:
                if addr[2] != socket.PACKET_OUTGOING:
                    count(tag_of(data))
            else:
                count(tag_of(data))

    print("ready", flush=True)

    deadline = time.monotonic() + args.max_seconds
    done = False
    shown = {}
    while not done:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        if args.progress:
            if counts != shown:
                shown = dict(counts)
                print("progress " + json.dumps(shown), flush=True)
            left = min(left, 0.02)
        rd, _, _ = select.select([sys.stdin] + list(udp) + list(tcp) + raw, [], [], left)
        for s in rd:
            if s is sys.stdin:
                if not sys.stdin.readline():
                    done = True
            elif s in udp or s in raw:
                drain(s)
            else:
                while True:
                    try:
                        c, _ = s.accept()
                    except BlockingIOError:
                        break
                    c.close()
                    tag = "tcp:%d" % tcp[s]
                    counts[tag] = counts.get(tag, 0) + 1
    # drain what is already queued before answering
    for s in list(udp) + raw:
        drain(s)
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main()
