#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""UDP with segmentation offload (UDP_SEGMENT): each send of SIZE bytes
leaves the socket as one GSO packet that the kernel cuts into datagrams of
SEG bytes (on a veth, at the receiver or where a device cannot take it).

udpgso.py recv ADDR PORT N      prints "ready", then counts the datagrams
                                that come, awaiting N (0: none, counting
                                until its stdin closes): "got N BYTES LONGEST"
udpgso.py send ADDR PORT SENDS  SENDS sends of SIZE bytes in SEG-byte datagrams
udpgso.py burst ADDR PORT N SIZE OPT
                                N sends of 20 datagrams of SIZE bytes (GSO:
                                where the device takes none, the kernel cuts
                                them and sends the 20 in a row, and a
                                receiver with GRO merges them), each with IP
                                options OPT (hex: IP_OPTIONS, IPv6's
                                IPV6_DSTOPTS; "" none)
udpgso.py answer ADDR PORT      prints "ready"; a datagram "go SENDS" is answered
                                with SENDS such sends back to its source (once,
                                within 10 s)
udpgso.py ask ADDR PORT SENDS   sends "go SENDS" to ADDR PORT (a GSO send of
                                3 datagrams: the one conntrack sees is a GSO
                                packet), then counts the datagrams that come
                                back as recv does, awaiting SENDS sends'

Counting stops GRACE after the datagrams awaited came (any more are
counted: none should come), or GRACE after stdin closed, or 1 s after the
last datagram when fewer came, or after 20 s. A denied
port is proven quiet by order, not by a long wait: its datagrams are sent
first, the allowed ones after them on the same path, and once those all
came its receiver is told to stop (its stdin closed).

Every loop is bounded in count and time.
"""
import os
import select
import socket
import sys
import time

SOL_UDP = 17
UDP_SEGMENT = 103
IPV6_DSTOPTS = 59
SEG = 1400
SIZE = 40000
# the datagrams one send becomes
PER_SEND = -(-SIZE // SEG)
BURST = 20
GRACE = 0.3


def sock(addr):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    return s


def gso_send(s, dest, sends):
    s.setsockopt(SOL_UDP, UDP_SEGMENT, SEG)
    for i in range(sends):
        s.sendto(bytes([i & 0xff]) * SIZE, dest)


def count(s, want):
    """Count what comes to S: WANT datagrams (0: until stdin closes), then
    GRACE more."""
    n = total = longest = 0
    end = time.monotonic() + 20
    last = stop = None
    watch = [s] if want else [s, sys.stdin]
    while True:
        now = time.monotonic()
        limit = min(t for t in (end, stop, last and last + 1) if t)
        if now >= limit:
            break
        ready = select.select(watch, [], [], limit - now)[0]
        if sys.stdin in ready and not os.read(sys.stdin.fileno(), 4096):
            watch.remove(sys.stdin)
            stop = time.monotonic() + GRACE
        if s in ready:
            d = s.recv(65536)
            n, total, longest = n + 1, total + len(d), max(longest, len(d))
            last = time.monotonic()
            if n == want:
                stop = last + GRACE
    print("got %d %d %d" % (n, total, longest), flush=True)


def main():
    cmd, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    s = sock(addr)
    if cmd == "recv":
        s.bind((addr, port))
        print("ready", flush=True)
        count(s, int(sys.argv[4]))
    elif cmd == "send":
        gso_send(s, (addr, port), int(sys.argv[4]))
        print("sent", flush=True)
    elif cmd == "burst":
        opt = bytes.fromhex(sys.argv[6])
        if opt:
            if s.family == socket.AF_INET:
                s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, opt)
            else:
                s.setsockopt(socket.IPPROTO_IPV6, IPV6_DSTOPTS, opt)
        size = int(sys.argv[5])
        s.setsockopt(SOL_UDP, UDP_SEGMENT, size)
        for i in range(int(sys.argv[4])):
            s.sendto(bytes([i & 0xff]) * size * BURST, (addr, port))
        print("sent", flush=True)
    elif cmd == "answer":
        s.bind((addr, port))
        s.settimeout(10)
        print("ready", flush=True)
        try:
            d, src = s.recvfrom(SEG)
        except socket.timeout:
            print("nothing asked", flush=True)
            return
        gso_send(s, src, int(d.split()[1]))
        print("answered", flush=True)
    elif cmd == "ask":
        s.setsockopt(SOL_UDP, UDP_SEGMENT, SEG)
        s.sendto(b"go %d " % int(sys.argv[4]) + b"." * (2 * SEG), (addr, port))
        s.setsockopt(SOL_UDP, UDP_SEGMENT, 0)
        count(s, int(sys.argv[4]) * PER_SEND)


if __name__ == "__main__":
    main()
