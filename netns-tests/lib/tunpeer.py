#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""A tun device (no link-layer header) and the peer behind it, run inside
the fw namespace: what it writes to the device arrives on it as from the
wire, as a wireguard or ipip device hands the kernel its packets.

Creates DEV with --addr (IPv4/24 and IPv6/64 addresses of the host side),
prints "ready", then answers one line per command read on stdin:
"ping4 SRC" / "ping6 SRC" writes an ICMP echo request from SRC to the host
side and answers "reply" when the kernel's echo reply comes back out of the
device within a second, "none" otherwise. "udp4 PEER" / "udp6 PEER": a
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


def echo(fd, six, src, dst, ident):
    if six:
        os.write(fd, raw(IPv6(src=src, dst=dst) / ICMPv6EchoRequest(id=ident, seq=1)))
        got = read_until(fd, six, lambda p: p.haslayer(ICMPv6EchoReply)
                         and p[ICMPv6EchoReply].id == ident)
    else:
        os.write(fd, raw(IP(src=src, dst=dst) / ICMP(id=ident, seq=1)))
        got = read_until(fd, six, lambda p: p.haslayer(ICMP) and p[ICMP].type == 0
                         and p[ICMP].id == ident)
    return "reply" if got is not None else "none"


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
        verb, src = line.split()
        ident += 1
        six = verb.endswith("6")
        local = a.addr6 if six else a.addr4
        if verb.startswith("udp"):
            print(udp_out(fd, six, local, src), flush=True)
        else:
            print(echo(fd, six, src, local, ident), flush=True)


if __name__ == "__main__":
    main()
