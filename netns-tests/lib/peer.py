# SPDX-License-Identifier: GPL-2.0-only
"""A scripted control socket: the CLI's side of the protocol without an agent."""
import json
import socket
import threading


def recv_line(s):
    """One line of the control protocol from socket S: the bytes up to its
    newline, or all it sent before closing."""
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf


class Peer:
    """Answers each connection on a unix socket with the next scripted reply
    (raw bytes, or None to close without answering) and records the requests."""

    def __init__(self, path, replies):
        self.path = path
        self.replies = list(replies)
        self.requests = []
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(path)
        self.sock.listen(4)
        self.sock.settimeout(20)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        for reply in self.replies:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                self.requests.append(json.loads(recv_line(conn)))
                if reply is not None:
                    conn.sendall(reply)

    def close(self):
        self.sock.close()
        self.thread.join(timeout=10)


def ok(data):
    """A successful answer carrying DATA, as the agent writes it."""
    return (json.dumps({"ok": True, "data": data}) + "\n").encode()
