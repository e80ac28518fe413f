#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""UDP with segmentation offload (UDP_SEGMENT): each send of SIZE bytes
leaves the socket as one GSO packet that the kernel cuts into datagrams of
SEG bytes (on a veth, at the receiver or where a device cannot take it).

udpgso.py recv ADDR PORT        prints "ready", then counts the datagrams
                                that come until 1 s after the last one (or
                                10 s): "got N BYTES LONGEST"
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
                                back as recv does

Every loop is bounded in count and time.
"""
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


def sock(addr):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    return s


def gso_send(s, dest, sends):
    s.setsockopt(SOL_UDP, UDP_SEGMENT, SEG)
    for i in range(sends):
        s.sendto(bytes([i & 0xff]) * SIZE, dest)


def count(s):
    n = total = longest = 0
    end = time.monotonic() + 10
    s.settimeout(3)
    while time.monotonic() < end:
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        n, total, longest = n + 1, total + len(d), max(longest, len(d))
        s.settimeout(1)
    print("got %d %d %d" % (n, total, longest), flush=True)


def main():
    cmd, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    s = sock(addr)
    if cmd == "recv":
        s.bind((addr, port))
        print("ready", flush=True)
        count(s)
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
        count(s)


if __name__ == "__main__":
    main()
