#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Set a device's GSO and GRO size limits through rtnetlink, IPv4's too
(BIG TCP): Debian's iproute2 6.1 knows gso_max_size but not
gso_ipv4_max_size.

gsosize.py DEV SIZE

Exits non-zero with the kernel's error when it refuses.
"""
import os
import socket
import struct
import sys

RTM_NEWLINK = 16
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
NLMSG_ERROR = 2
# enum in linux/if_link.h
IFLA_GSO_MAX_SIZE = 41
IFLA_GRO_MAX_SIZE = 58
IFLA_GSO_IPV4_MAX_SIZE = 63
IFLA_GRO_IPV4_MAX_SIZE = 64


def main():
    dev, size = sys.argv[1], int(sys.argv[2])
    attrs = b"".join(struct.pack("=HHI", 8, a, size) for a in (
        IFLA_GSO_MAX_SIZE, IFLA_GRO_MAX_SIZE, IFLA_GSO_IPV4_MAX_SIZE, IFLA_GRO_IPV4_MAX_SIZE))
    body = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, socket.if_nametoindex(dev), 0, 0) + attrs
    msg = struct.pack("=IHHII", 16 + len(body), RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, 1, 0)
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    s.settimeout(5)
    s.send(msg + body)
    ans = s.recv(65536)
    kind = struct.unpack_from("=H", ans, 4)[0]
    err = struct.unpack_from("=i", ans, 16)[0] if kind == NLMSG_ERROR else -1
    if err:
        sys.exit("%s: setting GSO/GRO sizes to %d: %s" % (dev, size, os.strerror(-err)))


if __name__ == "__main__":
    main()
