#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""A bounded flood of IPv4 packets from spoofed sources, through an AF_PACKET
socket (a few hundred thousand packets a second from Python, far more than
scapy).

flood.py KIND --iface IF --dst-mac MAC --dst ADDR --dport PORT --count N

KIND: udp (datagrams to PORT), syn (TCP SYNs to PORT) or echo (ICMP echo
requests). Packet i comes from a distinct (address, port) pair: addresses
from 198.51.100.0/24 and 203.0.113.0/24, ports (echo: identifiers) 1024 and
up. Prints "sent N". At most MAX_COUNT packets.

A send the device refuses for want of room (ENOBUFS: the veth peer's queue
is full while the receiving CPU catches up) is tried again after a pause,
up to RETRIES times, then counted as not sent: a flood outrunning its
receiver is what a flood does, not an error of the sender.
"""
import argparse
import errno
import socket
import struct
import time

MAX_COUNT = 1_000_000
RETRIES = 100


def csum(b):
    if len(b) & 1:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def source(i):
    """(address, port) of packet I: a distinct pair for every I < 512 * 64512."""
    v = (i * 2654435761 + 12345) % (512 * 64512)
    net = "203.0.113.%d" if v & 256 else "198.51.100.%d"
    return socket.inet_aton(net % (v & 255)), 1024 + v // 512


def frame(kind, smac, dmac, src, dst, sport, dport):
    if kind == "udp":
        l4 = struct.pack("!HHHH", sport, dport, 8 + 4, 0) + b"sl:f"
        proto = 17
    elif kind == "syn":
        th = struct.pack("!HHIIBBHHH", sport, dport, sport * 7919, 0, 5 << 4, 0x02,
                         65535, 0, 0)
        pseudo = src + dst + struct.pack("!BBH", 0, 6, len(th))
        l4 = th[:16] + struct.pack("!H", csum(pseudo + th)) + th[18:]
        proto = 6
    else:
        icmp = struct.pack("!BBHHH", 8, 0, 0, sport, 1) + b"sl:f"
        l4 = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
        proto = 1
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0x4000, 64, proto, 0,
                     src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return dmac + smac + b"\x08\x00" + ip + l4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["udp", "syn", "echo"])
    ap.add_argument("--iface", required=True)
    ap.add_argument("--dst-mac", required=True)
    ap.add_argument("--dst", required=True)
    ap.add_argument("--dport", type=int, default=53)
    ap.add_argument("--count", type=int, required=True)
    a = ap.parse_args()
    n = min(a.count, MAX_COUNT)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.iface, 0))
    smac = s.getsockname()[4]
    dmac = bytes.fromhex(a.dst_mac.replace(":", ""))
    dst = socket.inet_aton(a.dst)
    sent = 0
    for i in range(n):
        src, port = source(i)
        pkt = frame(a.kind, smac, dmac, src, dst, port, a.dport)
        for _ in range(RETRIES):
            try:
                s.send(pkt)
                sent += 1
                break
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno != errno.ENOBUFS:
                    raise
                time.sleep(0.001)
    print("sent %d" % sent, flush=True)


if __name__ == "__main__":
    main()
