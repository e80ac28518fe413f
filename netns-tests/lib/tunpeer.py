#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""A tun device (no link-layer header) and the peer behind it, run inside
the fw namespace: what it writes to the device arrives on it as from the
wire, as a wireguard or ipip device hands the kernel its packets.

Creates DEV with --addr (IPv4/24 and IPv6/64 addresses of the host side),
prints "ready", then answers one line per command read on stdin:
"ping4 SRC" / "ping6 SRC" writes an ICMP echo request from SRC to the host
side and answers "reply" when the kernel's echo reply comes back out of the
device within a second, "none" otherwise. "pings SRC..." writes one such
request from each SRC (IPv4 or IPv6), in order, then awaits their replies
together: until the last one's came and GRACE more passed (those before
it, written first, had their chance), or a second; it answers their
"reply" or "none" on one line, in order. "udp4 PEER" / "udp6 PEER": a
socket of the host side sends a datagram to PEER port 5000, out of the
device; read there, it is answered from PEER; "reply" when the socket gets
the answer within a second (a connection the host opened), "none"
otherwise. The device goes when it exits.
"""
import argparse
import fcntl
import os
import select
import socket
import struct
import subprocess
import sys
import time

from scapy.all import ICMP, IP, UDP, IPv6, ICMPv6EchoReply, ICMPv6EchoRequest, raw

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
WAIT = 1.0
GRACE = 0.3


def open_tun(dev):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", dev.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def read_until(fd, six, want):
    """The first packet of the family (IPv6 when SIX) the device gives
    within WAIT for which WANT(packet) is true, or None."""
    end = time.monotonic() + WAIT
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if not r:
            continue
        data = os.read(fd, 65536)
        if not data or data[0] >> 4 != (6 if six else 4):
            continue
        p = IPv6(data) if six else IP(data)
        if want(p):
            return p
    return None


def request(src, dst, ident):
    """An echo request from SRC to DST (IPv6 when SRC is), its bytes."""
    if ":" in src:
        return raw(IPv6(src=src, dst=dst) / ICMPv6EchoRequest(id=ident, seq=1))
    return raw(IP(src=src, dst=dst) / ICMP(id=ident, seq=1))


def replied(data):
    """The id of the echo reply DATA is (a packet read from the device), or None."""
    if not data or data[0] >> 4 not in (4, 6):
        return None
    if data[0] >> 4 == 6:
        p = IPv6(data)
        return p[ICMPv6EchoReply].id if p.haslayer(ICMPv6EchoReply) else None
    p = IP(data)
    return p[ICMP].id if p.haslayer(ICMP) and p[ICMP].type == 0 else None


def echoes(fd, srcs, addr4, addr6, ident):
    """An echo request from each of SRCS, in order (ids IDENT, IDENT + 1,
    ...), then their replies awaited together: "reply" or "none" each."""
    ids = list(range(ident, ident + len(srcs)))
    for src, i in zip(srcs, ids):
        os.write(fd, request(src, addr6 if ":" in src else addr4, i))
    got = set()
    end = time.monotonic() + WAIT
    while time.monotonic() < end and not got.issuperset(ids):
        if ids[-1] in got:
            end = min(end, time.monotonic() + GRACE)
        r, _, _ = select.select([fd], [], [], max(0, min(0.1, end - time.monotonic())))
        if r:
            got.add(replied(os.read(fd, 65536)))
    return ["reply" if i in got else "none" for i in ids]


def udp_out(fd, six, local, peer):
    s = socket.socket(socket.AF_INET6 if six else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((local, 0))
        s.settimeout(WAIT)
        s.sendto(b"sl:out", (peer, 5000))
        p = read_until(fd, six, lambda p: p.haslayer(UDP) and p[UDP].dport == 5000)
        if p is not None:
            ip = IPv6(src=peer, dst=local) if six else IP(src=peer, dst=local)
            os.write(fd, raw(ip / UDP(sport=5000, dport=p[UDP].sport) / b"sl:back"))
        try:
            got, _ = s.recvfrom(100)
        except socket.timeout:
            return "none"
        return "reply" if got == b"sl:back" else "none"
    finally:
        s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dev")
    ap.add_argument("--addr4", required=True)
    ap.add_argument("--addr6", required=True)
    a = ap.parse_args()
    fd = open_tun(a.dev)
    for cmd in (["ip", "addr", "add", a.addr4 + "/24", "dev", a.dev],
                ["ip", "addr", "add", a.addr6 + "/64", "dev", a.dev, "nodad"],
                ["ip", "link", "set", a.dev, "up"]):
        subprocess.run(cmd, check=True)
    print("ready", flush=True)
    ident = 0
    for line in sys.stdin:
        verb, srcs = line.split()[0], line.split()[1:]
        if verb.startswith("udp"):
            six = verb.endswith("6")
            print(udp_out(fd, six, a.addr6 if six else a.addr4, srcs[0]), flush=True)
        else:
            # ping4, ping6: one source; pings: several
            print(" ".join(echoes(fd, srcs, a.addr4, a.addr6, ident + 1)), flush=True)
        ident += len(srcs)


if __name__ == "__main__":
    main()
