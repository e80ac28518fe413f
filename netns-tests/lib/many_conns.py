#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Many TCP connections at once, for the flood tests; bounded in time.

serve PORT: an echo server (IPv4) for any number of connections. Prints
    "ready"; runs until stdin reaches EOF or --max-seconds pass.
hold ADDR PORT N: open N connections to ADDR:PORT one after the other,
    print "open K" (K: how many opened). Then, for every line "check" read
    from stdin: send one byte on every open connection and print "alive K",
    K being the connections whose echo came back within --timeout seconds.
    Exits at stdin EOF or after --max-seconds.
connect ADDR PORT N: prints "ready", waits for a line "go", then makes N
    connect() calls one after the other, each given --timeout seconds (the
    SYN retransmitted by the kernel meanwhile); every connection exchanges
    one byte and is closed. Prints "connected K of N T0 T1" (T0, T1: the
    monotonic clock before the first and after the last).
"""
import argparse
import selectors
import socket
import sys
import time


def serve(port, max_seconds):
    sel = selectors.DefaultSelector()
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("0.0.0.0", port))
    lsock.listen(4096)
    lsock.setblocking(False)
    sel.register(lsock, selectors.EVENT_READ, "listen")
    sel.register(sys.stdin, selectors.EVENT_READ, "stdin")
    print("ready", flush=True)
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            if key.data == "stdin":
                if not sys.stdin.readline():
                    return
            elif key.data == "listen":
                try:
                    c, _ = lsock.accept()
                except BlockingIOError:
                    continue
                c.setblocking(False)
                sel.register(c, selectors.EVENT_READ, "conn")
            else:
                s = key.fileobj
                try:
                    data = s.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if data:
                    try:
                        s.send(data)
                    except OSError:
                        pass
                else:
                    sel.unregister(s)
                    s.close()


def check(conns, timeout):
    """Send a byte on each connection; count the echoes back within TIMEOUT."""
    sel = selectors.DefaultSelector()
    for c in conns:
        try:
            c.send(b"x")
            sel.register(c, selectors.EVENT_READ)
        except OSError:
            pass
    alive = 0
    deadline = time.monotonic() + timeout
    while sel.get_map() and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.1):
            try:
                alive += len(key.fileobj.recv(16)) > 0
            except OSError:
                pass
            sel.unregister(key.fileobj)
    return alive


def hold(addr, port, n, timeout, max_seconds):
    conns = []
    deadline = time.monotonic() + max_seconds
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect((addr, port))
        except OSError:
            s.close()
            continue
        s.setblocking(False)
        conns.append(s)
    print("open %d" % len(conns), flush=True)
    while time.monotonic() < deadline:
        line = sys.stdin.readline()
        if not line:
            break
        if line.strip() == "check":
            print("alive %d" % check(conns, timeout), flush=True)
    for s in conns:
        s.close()


def connect(addr, port, n, timeout):
    ok = 0
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    t0 = time.monotonic()
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect((addr, port))
            s.sendall(b"x")
            ok += s.recv(16) == b"x"
        except OSError:
            pass
        finally:
            s.close()
    print("connected %d of %d %.6f %.6f" % (ok, n, t0, time.monotonic()), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["serve", "hold", "connect"])
    ap.add_argument("args", nargs="+")
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--max-seconds", type=float, default=120.0)
    a = ap.parse_args()
    if a.mode == "serve":
        serve(int(a.args[0]), a.max_seconds)
    elif a.mode == "hold":
        hold(a.args[0], int(a.args[1]), int(a.args[2]), a.timeout, a.max_seconds)
    else:
        connect(a.args[0], int(a.args[1]), int(a.args[2]), a.timeout)


if __name__ == "__main__":
    main()
