# SPDX-License-Identifier: GPL-2.0-only
"""Both ends of the load balancer tests, run inside a namespace.

    lbpeer.py serve NAME PORT [ADDR]   TCP and UDP on [::]:PORT (IPv4 too), or on
                                       ADDR alone: every line (TCP) or datagram
                                       (UDP) is answered with NAME and a newline
    lbpeer.py connect VIP PORT N [SPORT0]
                                       N connections, one line each; prints
                                       {"SPORT": NAME or "error: ..."} (SPORT0:
                                       bind source ports SPORT0, SPORT0 + 1, ...)
    lbpeer.py udp VIP PORT N           N datagrams from N sockets; prints
                                       [[NAME, "REPLY-SOURCE:PORT"], ...]
    lbpeer.py hold VIP PORT N          N connections kept open: prints their
                                       names as a JSON list, then for every line
                                       on stdin sends one line on each and prints
                                       the answers (JSON list); EOF closes them

Every socket operation has a timeout: nothing here can hang a test.
"""
import json
import selectors
import socket
import sys

TIMEOUT = 2.0


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def serve(name, port, addr="::"):
    answer = (name + "\n").encode()
    fam = family(addr)
    tcp = socket.socket(fam, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    udp = socket.socket(fam, socket.SOCK_DGRAM)
    if addr == "::":
        tcp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        udp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    tcp.bind((addr, port))
    tcp.listen(1024)
    udp.bind((addr, port))
    sel = selectors.DefaultSelector()
    sel.register(tcp, selectors.EVENT_READ)
    sel.register(udp, selectors.EVENT_READ)
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            s = key.fileobj
            if s is tcp:
                c, _ = tcp.accept()
                c.setblocking(False)
                sel.register(c, selectors.EVENT_READ)
            elif s is udp:
                _, peer = udp.recvfrom(2048)
                udp.sendto(answer, peer)
            else:
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(s)
                    s.close()
                    continue
                try:
                    s.send(answer * data.count(b"\n"))
                except OSError:
                    pass


def ask(s):
    """One line on S, one answer line back: the backend's name, or "error: ..."."""
    try:
        s.sendall(b"hi\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(100)
            if not chunk:
                return "error: closed"
            data += chunk
        return data.decode().strip()
    except OSError as e:
        return "error: %s" % e


def connect(vip, port, n, sport0=0):
    out = {}
    for i in range(n):
        s = socket.socket(family(vip), socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            if sport0:
                s.bind(("::" if ":" in vip else "0.0.0.0", sport0 + i))
            s.connect((vip, port))
            name = ask(s)
        except OSError as e:
            name = "error: %s" % e
        out[str(s.getsockname()[1])] = name
        s.close()
    print(json.dumps(out))


def udp(vip, port, n):
    out = []
    for _ in range(n):
        s = socket.socket(family(vip), socket.SOCK_DGRAM)
        s.settimeout(TIMEOUT)
        try:
            s.sendto(b"q\n", (vip, port))
            data, peer = s.recvfrom(100)
            out.append([data.decode().strip(), "%s:%d" % (peer[0], peer[1])])
        except OSError as e:
            out.append(["error: %s" % e, ""])
        s.close()
    print(json.dumps(out))


def hold(vip, port, n):
    socks = []
    for _ in range(n):
        s = socket.socket(family(vip), socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.connect((vip, port))
        socks.append(s)
    print(json.dumps([ask(s) for s in socks]), flush=True)
    for _ in sys.stdin:
        print(json.dumps([ask(s) for s in socks]), flush=True)
    for s in socks:
        s.close()


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "serve":
        serve(args[0], int(args[1]), *args[2:3])
    elif mode == "connect":
        connect(args[0], int(args[1]), int(args[2]), int(args[3]) if len(args) > 3 else 0)
    elif mode == "udp":
        udp(args[0], int(args[1]), int(args[2]))
    elif mode == "hold":
        hold(args[0], int(args[1]), int(args[2]))


if __name__ == "__main__":
    main()
