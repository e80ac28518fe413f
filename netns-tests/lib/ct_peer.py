#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Real sockets for the conntrack tests (IPv4 and IPv6), bounded in time.

serve PORT: (client namespace) a dual-stack TCP echo server on PORT and a UDP echo
    server on PORT+1; a TCP connection is closed (FIN) when the peer closes.
    Prints "ready", runs until stdin reaches EOF or --max-seconds pass.
udp ADDR PORT: send one datagram, print "reply" or "timeout".
ping ADDR: two IPv4 ICMP echo requests, print "reply" or "timeout".
tcp ADDR PORT: connect, exchange one message, print "open"; on each line
    "echo" from stdin exchange one more, print "echo" or "timeout"; on another
    line close it (FIN) and wait for the peer's FIN, print "closed"; exit at
    stdin EOF. Prints "refused" or "timeout" when connect fails.
"""
import argparse
import select
import socket
import sys
import time


def dual_stack(kind, port):
    s = socket.socket(socket.AF_INET6, kind)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port))
    return s


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def serve(port, max_seconds):
    t = dual_stack(socket.SOCK_STREAM, port)
    t.listen(16)
    u = dual_stack(socket.SOCK_DGRAM, port + 1)
    print("ready", flush=True)
    conns = []
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        r, _, _ = select.select([t, u, sys.stdin] + conns, [], [], 0.2)
        for s in r:
            if s is sys.stdin:
                if not sys.stdin.readline():
                    return
            elif s is t:
                c, _ = t.accept()
                conns.append(c)
            elif s is u:
                data, peer = u.recvfrom(2048)
                u.sendto(data, peer)
            else:
                try:
                    data = s.recv(2048)
                except OSError:
                    data = b""
                if data:
                    s.sendall(data)
                else:
                    s.close()
                    conns.remove(s)


def udp(addr, port, timeout):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.sendto(b"ct-udp", (addr, port))
    try:
        data, _ = s.recvfrom(2048)
        print("reply" if data == b"ct-udp" else "wrong", flush=True)
    except socket.timeout:
        print("timeout", flush=True)


def tcp(addr, port, timeout):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((addr, port))
        s.sendall(b"ct-tcp")
        data = s.recv(2048)
    except ConnectionRefusedError:
        print("refused", flush=True)
        return
    except (socket.timeout, OSError):
        print("timeout", flush=True)
        return
    print("open" if data == b"ct-tcp" else "wrong", flush=True)
    # "echo": once more over the same connection, "echo" or "timeout"
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        if line.strip() != "echo":
            break
        try:
            s.sendall(b"ct-again")
            data = s.recv(2048)
        except (socket.timeout, OSError):
            data = None
        print("echo" if data == b"ct-again" else "timeout", flush=True)
    s.shutdown(socket.SHUT_WR)
    try:
        rest = s.recv(2048)
    except socket.timeout:
        rest = None
    print("closed" if rest == b"" else "no-fin", flush=True)
    sys.stdin.readline()
    s.close()


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(int.from_bytes(b[i:i + 2], "big") for i in range(0, len(b), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ping(addr, timeout, ident=0x5e1c, count=2):
    """IPv4 ICMP echo through a raw socket (no ping binary here)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.settimeout(timeout)
    got = 0
    for seq in range(count):
        hdr = bytes([8, 0, 0, 0]) + ident.to_bytes(2, "big") + seq.to_bytes(2, "big")
        pkt = bytearray(hdr + b"ct-ping")
        pkt[2:4] = checksum(bytes(pkt)).to_bytes(2, "big")
        s.sendto(bytes(pkt), (addr, 0))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = s.recv(2048)
            except socket.timeout:
                break
            icmp = data[(data[0] & 15) * 4:]
            if icmp[0] == 0 and int.from_bytes(icmp[4:6], "big") == ident:
                got += 1
                break
    print("reply" if got == count else "timeout", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["serve", "udp", "tcp", "ping"])
    ap.add_argument("args", nargs="*")
    ap.add_argument("--max-seconds", type=float, default=60)
    ap.add_argument("--timeout", type=float, default=2)
    a = ap.parse_args()
    if a.mode == "serve":
        serve(int(a.args[0]), a.max_seconds)
    elif a.mode == "ping":
        ping(a.args[0], a.timeout)
    elif a.mode == "udp":
        udp(a.args[0], int(a.args[1]), a.timeout)
    else:
        tcp(a.args[0], int(a.args[1]), a.timeout)


if __name__ == "__main__":
    main()
