#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""A process of a container: moves itself into a cgroup v2 (through its
cgroup.procs, as a container runtime does), then makes the calls it is given
and prints what each returned, as one JSON list.

Calls (a JSON list on the command line), each a dict:
  {"op": "tcp", "addr": A, "port": P}        connect(); "ok" or the errno name;
                                              "peer": getpeername(); with "ask": a
                                              line sent, "reply" the line answered
  {"op": "udp", "addr": A, "port": P, "tag": T}     sendto() of "sl:T"
  {"op": "udpconn", "addr": A, "port": P, "tag": T} connect(), then send()
  {"op": "udpreq", "addr": A, "port": P, "tag": T}  sendto(), then recvfrom() the
                                              answer: "from" is the address it came from
  {"op": "ping", "addr": A}                  an ICMP echo request from a raw socket
                                              (no connect, no sendmsg hook): "ok"
                                              when the reply came back, else "noreply";
                                              pings in a row are sent one after the
                                              other, then their replies awaited
                                              together (settle_pings)
  {"op": "pingsock", "addr": A, "tag": T}    an ICMP echo request "sl:T" from a ping
                                              socket (SOCK_DGRAM, IPPROTO_ICMP/ICMPV6;
                                              no hook runs for its sendto()): "ok" or
                                              the errno name of sendto()
  {"op": "tfo", "addr": A, "port": P, "tag": T}     TCP Fast Open: sendto() of "sl:T"
                                              with MSG_FASTOPEN, no connect(): "ok" when
                                              the call went on (answered or not); with
                                              "connect": true, TCP_FASTOPEN_CONNECT, then
                                              connect() and send()
  {"op": "move", "cgroup": C}                 moves the process into cgroup C: the
                                              calls after it make their sockets there
  {"op": "keep", "id": K, "kind": "tcp"|"udp"|"udplite"|"mptcp", "addr": A}
                                              makes a socket (of A's family) and keeps
                                              it: a later call with "sock": K uses it
                                              instead of making its own
  {"op": "give", "ids": [K...], "path": P}    sends the kept sockets K (SCM_RIGHTS, one
                                              message) to the unix datagram socket P
                                              ("@NAME": abstract) and closes its own
  {"op": "take", "ids": [K...], "path": P, "say": S}
                                              binds a unix datagram socket at P, prints
                                              the line S, then receives the sockets a
                                              give call sends (PAUSE seconds at most;
                                              "eof" when stdin ends first) and keeps
                                              them as K
  {"op": "rmdir", "cgroup": C, "sleep": S}   removes cgroup C (moved out of), then
                                              waits S seconds
  {"op": "egcall", "argv": [...]}            runs egcall (netns-tests/lib/egcall.c:
                                              sendmmsg(), io_uring, ...), its JSON object
  {"op": "pause", "say": S}                  prints the line S (the calls before it are
                                              done), then waits for a line on stdin
                                              (PAUSE seconds at most): "ok", "eof" or
                                              "timeout"; the test does its part meanwhile
                                              (cgroups.probe_proc)
"bind": A in a tcp, udp or udpconn call binds the socket to address A first.
"proto": "udplite" in a udp, udpconn or udpreq call makes the socket UDP-Lite;
"proto": "mptcp" in a tcp call makes it Multipath TCP; "hold": S keeps the
connection open S seconds before it is closed.
"to": [A, P] in a udpconn call: after its send(), a sendto() of "sl:T-to" to
A, P on the connected socket; "to" is its result.
"via": H in a tcp, udp or udpconn call gives the socket a source route
through host H first (IPv6: a segment routing header, IPV6_RTHDR; IPv4: a
loose source route option, IP_OPTIONS), as an unprivileged process may; with
"cmsg": true an IPv4 udp call carries it on the sendmsg() alone (IP_RETOPTS;
IPV6_RTHDR as a cmsg takes no segment routing header).
Every call is bounded: TIMEOUT seconds at most (a pause: PAUSE).
"""
import array
import contextlib
import errno
import json
import os
import select
import socket
import struct
import subprocess
import sys
import time

TIMEOUT = 2.0
PAUSE = 60.0


def err_name(e):
    return errno.errorcode.get(e.errno, str(e)) if e.errno else type(e).__name__


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


IP_RETOPTS = 7
MSG_FASTOPEN = 0x20000000
TCP_FASTOPEN_CONNECT = 30
IPV6_RTHDR = 57
IPPROTO_UDPLITE = 136
IPPROTO_MPTCP = 262
# "proto" of a call, "kind" of a keep call: the socket's type and protocol
PROTOS = {"udp": (socket.SOCK_DGRAM, 0), "udplite": (socket.SOCK_DGRAM, IPPROTO_UDPLITE),
          "tcp": (socket.SOCK_STREAM, 0), "mptcp": (socket.SOCK_STREAM, IPPROTO_MPTCP)}
# the sockets of "keep" calls, by id
KEPT = {}


def source_route(c):
    """The (level, option, value) of a source route through c["via"]."""
    via = c["via"]
    if ":" in via:
        # SRH (type 4), 2 segments: [0] the final destination (the kernel's), [1] via
        h = struct.pack("!BBBBBBH", 0, 4, 4, 1, 1, 0, 0)
        return (socket.IPPROTO_IPV6, IPV6_RTHDR,
                h + socket.inet_pton(socket.AF_INET6, "::") +
                socket.inet_pton(socket.AF_INET6, via))
    # LSRR: type, length 7, pointer 4, the first hop; EOL to a word
    return (socket.IPPROTO_IP, IP_RETOPTS if c.get("cmsg") else socket.IP_OPTIONS,
            b"\x83\x07\x04" + socket.inet_aton(via) + b"\x00")


def setup(s, c):
    if c.get("bind"):
        s.bind((c["bind"], 0))
    if c.get("via") and not c.get("cmsg"):
        s.setsockopt(*source_route(c))


def new_socket(c, kind):
    """C's kept socket (the "sock" of a "keep" call), or a new one of KIND."""
    if c.get("sock"):
        return KEPT.pop(c["sock"])
    proto = c.get("proto", "tcp" if kind == socket.SOCK_STREAM else "udp")
    return socket.socket(family(c["addr"]), kind, PROTOS[proto][1])


@contextlib.contextmanager
def attempt(s, out):
    """Run the block with socket S, closed after it: what the block raises
    is OUT's "result", "timeout" or the errno's name."""
    try:
        yield
    except socket.timeout:
        out["result"] = "timeout"
    except OSError as e:
        out["result"] = err_name(e)
    finally:
        s.close()


def tcp(c):
    s = new_socket(c, socket.SOCK_STREAM)
    s.settimeout(c.get("timeout", TIMEOUT))
    out = {}
    with attempt(s, out):
        setup(s, c)
        s.connect((c["addr"], c["port"]))
        out["result"] = "ok"
        out["peer"] = list(s.getpeername()[:2])
        time.sleep(min(c.get("hold", 0), TIMEOUT))
        if c.get("ask"):
            s.sendall(b"hi\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(256)
                if not chunk:
                    break
                data += chunk
            out["reply"] = data.decode(errors="replace").strip()
    return out


def udp(c, connected=False, answer=False):
    s = new_socket(c, socket.SOCK_DGRAM)
    s.settimeout(c.get("timeout", TIMEOUT))
    data = b"sl:" + c.get("tag", "x").encode()
    out = {}
    with attempt(s, out):
        setup(s, c)
        if connected:
            s.connect((c["addr"], c["port"]))
            s.send(data)
            if c.get("to"):
                try:
                    s.sendto(data + b"-to", tuple(c["to"]))
                    out["to"] = "ok"
                except OSError as e:
                    out["to"] = err_name(e)
        elif c.get("via") and c.get("cmsg"):
            s.sendmsg([data], [source_route(c)], 0, (c["addr"], c["port"]))
        else:
            s.sendto(data, (c["addr"], c["port"]))
        out["result"] = "ok"
        if answer:
            reply, frm = s.recvfrom(256)
            out["reply"] = reply.decode(errors="replace").strip()
            out["from"] = list(frm[:2])
    return out


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


# pings sent and not settled yet: [socket, sequence number, address, result]
PINGS = []
PING_GRACE = 0.3


def ping(c):
    """One ICMP echo request built by hand on a raw socket: what no socket hook
    sees. Its reply is awaited by settle_pings()."""
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ident, seq = os.getpid() & 0xFFFF, len(PINGS) + 1
    body = b"sl:" + c.get("tag", "ping").encode()
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    pkt = struct.pack("!BBHHH", 8, 0, csum(hdr + body), ident, seq) + body
    out = {}
    try:
        if c.get("src"):
            s.bind((c["src"], 0))
        s.sendto(pkt, (c["addr"], 0))
    except OSError as e:
        out["result"] = err_name(e)
        s.close()
        return out
    out["result"] = "noreply"
    PINGS.append((s, seq, c["addr"], out, c.get("timeout", 1.0)))
    return out


def settle_pings():
    """Await the replies of the pings sent (every raw socket sees every
    reply: the sequence number says whose) until each came, or the last
    one's came and PING_GRACE more passed (those before it, sent first on
    the same path, had their chance), or the pings' timeout."""
    if not PINGS:
        return
    ident = os.getpid() & 0xFFFF
    deadline = time.monotonic() + max(p[4] for p in PINGS)
    last = PINGS[-1][3]
    while time.monotonic() < deadline:
        waiting = [p for p in PINGS if p[3]["result"] != "ok"]
        if not waiting:
            break
        if last["result"] == "ok":
            deadline = min(deadline, time.monotonic() + PING_GRACE)
        r, _, _ = select.select([p[0] for p in waiting], [], [],
                                max(0, deadline - time.monotonic()))
        for s, seq, addr, out, _ in waiting:
            if s not in r:
                continue
            data, frm = s.recvfrom(2048)
            ihl = (data[0] & 0xF) * 4
            t, _, _, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
            if t == 0 and rid == ident and rseq == seq and frm[0] == addr:
                out["result"] = "ok"
    for p in PINGS:
        p[0].close()
    del PINGS[:]


def tfo(c):
    """TCP Fast Open: sendto(MSG_FASTOPEN) opens the connection, no connect();
    with "connect": TCP_FASTOPEN_CONNECT, then connect() (which may send no
    SYN: the first send() does, with its data) and send()."""
    s = socket.socket(family(c["addr"]), socket.SOCK_STREAM)
    s.setblocking(False)
    out = {}
    data = b"sl:" + c.get("tag", "tfo").encode()
    with attempt(s, out):
        try:
            if c.get("connect"):
                s.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 1)
                s.connect((c["addr"], c["port"]))
                s.send(data)
            else:
                s.sendto(data, MSG_FASTOPEN, (c["addr"], c["port"]))
        except BlockingIOError:
            # no cookie yet: a SYN went out, the data waits for the handshake
            select.select([], [s], [], c.get("timeout", TIMEOUT))
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        out["result"] = errno.errorcode.get(err, str(err)) if err else "ok"
    return out


def pingsock(c):
    v6 = ":" in c["addr"]
    s = socket.socket(family(c["addr"]), socket.SOCK_DGRAM,
                      socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP)
    # type echo request, code, checksum and id (the kernel's), sequence
    pkt = struct.pack("!BBHHH", 128 if v6 else 8, 0, 0, 0, 1) + b"sl:" + c["tag"].encode()
    out = {}
    with attempt(s, out):
        s.sendto(pkt, (c["addr"], 0))
        out["result"] = "ok"
    return out


def move(c):
    with open(os.path.join(c["cgroup"], "cgroup.procs"), "w") as f:
        f.write(str(os.getpid()))
    return {"result": "ok"}


def rmdir(c):
    """rmdir cgroup C (empty: moved out of), then wait C["sleep"] seconds."""
    os.rmdir(c["cgroup"])
    time.sleep(min(c.get("sleep", 0), TIMEOUT))
    return {"result": "ok"}


def keep(c):
    KEPT[c["id"]] = socket.socket(family(c["addr"]), *PROTOS[c["kind"]])
    return {"result": "ok"}


def unix_path(path):
    return "\0" + path[1:] if path.startswith("@") else path


def give(c):
    """Pass the kept sockets C["ids"] to C["path"]; this process keeps none."""
    socks = [KEPT.pop(k) for k in c["ids"]]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as u:
        # (socket.send_fds drops its address before Python 3.12)
        u.sendmsg([b"socks"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                array.array("i", [s.fileno() for s in socks]))],
                  0, unix_path(c["path"]))
    for s in socks:
        s.close()
    return {"result": "ok"}


def take(c):
    """Receive the sockets a give call sends to C["path"] as C["ids"]."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as u:
        u.bind(unix_path(c["path"]))
        print(c["say"], flush=True)
        r, _, _ = select.select([u, sys.stdin], [], [], PAUSE)
        if u not in r:
            return {"result": "eof" if r else "timeout"}
        _, fds, _, _ = socket.recv_fds(u, 64, len(c["ids"]))
    for k, fd in zip(c["ids"], fds):
        KEPT[k] = socket.socket(fileno=fd)
    return {"result": "ok" if len(fds) == len(c["ids"]) else "got %d" % len(fds)}


def pause(c):
    """Say C["say"], then wait for the test's line (PAUSE seconds at most)."""
    print(c["say"], flush=True)
    r, _, _ = select.select([sys.stdin], [], [], PAUSE)
    if not r:
        return {"result": "timeout"}
    return {"result": "ok" if sys.stdin.readline() else "eof"}


def egcall(c):
    p = subprocess.run(c["argv"], capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        return {"result": "egcall exit %d: %s" % (p.returncode, p.stderr.strip())}
    return json.loads(p.stdout)


OPS = {
    "move": move,
    "keep": keep,
    "rmdir": rmdir,
    "egcall": egcall,
    "pause": pause,
    "give": give,
    "take": take,
    "tfo": tfo,
    "tcp": tcp,
    "udp": udp,
    "udpconn": lambda c: udp(c, connected=True),
    "udpreq": lambda c: udp(c, answer=True),
    "ping": ping,
    "pingsock": pingsock,
}


def main():
    cgroup, calls = sys.argv[1], json.loads(sys.argv[2])
    if cgroup != "-":
        move({"cgroup": cgroup})
    out = []
    for c in calls:
        if c["op"] != "ping":
            settle_pings()
        r = OPS[c["op"]](c)
        r["op"] = c["op"]
        out.append(r)
    settle_pings()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
