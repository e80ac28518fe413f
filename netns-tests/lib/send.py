#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Sender run inside the client namespace: crafts frames with scapy.

Reads a JSON list of packet specs from the file given as argument:
  {"tag": "a", "src": "192.0.2.1", "dst": "192.0.2.2", "proto": "udp",
   "sport": 40000, "dport": 5000, "count": 5,
   "vlans": [[0x88a8, 200], [0x8100, 300]],   # optional, outer first
   "ext": ["hop", "dst", "rt"],                # optional IPv6 extension headers
   "frag": 185,                                # optional fragment offset (8-byte units)
   "bad": "ihl",                               # optional: ihl, tcp-doff, trunc-udp
   "flags": "SA", "seq": 5000, "ack": 2}       # optional, TCP: flags (default S), numbers
and sends every frame with sendp on --iface to --dst-mac. The payload of a
UDP packet is "sl:" + its tag, which recv.py counts ("seq": true numbers the
frames of a spec, tags TAG#0, TAG#1, ..., so the receiver tells which arrived). Sending is bounded: each spec's
count is capped at MAX_COUNT.
"""
import argparse
import itertools
import json
import sys

# the layers it builds, not scapy.all: every layer scapy has would cost a
# start of this script twice the time (0.33 s against 0.14 s)
from scapy.arch import get_if_hwaddr
from scapy.config import conf
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (ICMPv6EchoRequest, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
                                IPv6ExtHdrHopByHop, IPv6ExtHdrRouting)
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
from scapy.packet import Raw
from scapy.sendrecv import sendp

EXT6 = {"hop": IPv6ExtHdrHopByHop, "dst": IPv6ExtHdrDestOpt, "rt": IPv6ExtHdrRouting}

MAX_COUNT = 5000


def build(spec, smac, dmac):
    v6 = ":" in spec["dst"]
    l2 = Ether(src=smac, dst=dmac)
    for tpid, vid in spec.get("vlans", []):
        l2 = l2 / (Dot1AD(vlan=vid) if tpid == 0x88A8 else Dot1Q(vlan=vid))
    frag = spec.get("frag")         # fragment offset in 8-byte units
    if v6:
        l3 = IPv6(src=spec["src"], dst=spec["dst"])
        for e in spec.get("ext", []):
            l3 = l3 / EXT6[e]()
        if frag is not None:
            l3 = l3 / IPv6ExtHdrFragment(offset=frag, m=1)
    else:
        l3 = IP(src=spec["src"], dst=spec["dst"])
        if frag is not None:
            l3.frag = frag
            l3.flags = "MF"
    proto = spec.get("proto", "udp")
    payload = Raw(load=b"sl:" + spec["tag"].encode())
    if proto == "udp":
        l4 = UDP(sport=spec.get("sport", 40000), dport=spec["dport"]) / payload
    elif proto == "tcp":
        l4 = TCP(sport=spec.get("sport", 40000), dport=spec["dport"],
                 flags=spec.get("flags", "S"), seq=spec.get("seq", 0),
                 ack=spec.get("ack", 0)) / payload
    elif proto == "icmp":
        l4 = (ICMPv6EchoRequest() if v6 else ICMP()) / payload
    else:
        raise ValueError("unknown proto " + proto)
    pkt = l2 / l3 / l4
    bad = spec.get("bad")
    if bad == "ihl":
        # IPv4 header length 4 words, below the minimum of 5
        pkt = Ether(bytes(pkt))
        pkt[IP].ihl = 4
        pkt[IP].chksum = None
        raw = bytearray(bytes(pkt))
    elif bad == "tcp-doff":
        # a TCP header whose data offset (4 words) is below the minimum of 5
        pkt[TCP].dataofs = 4
        raw = bytes(pkt)
    elif bad == "trunc-udp":
        # a consistent IP packet (its length fields agree with the frame)
        # carrying only the first 4 bytes of a UDP header
        head = bytes(UDP(sport=spec.get("sport", 40000), dport=spec["dport"]))[:4]
        if v6:
            l3.nh = 17
        else:
            l3.proto = 17
        raw = bytes(l2 / l3 / Raw(load=head))
    elif bad is None:
        raw = bytes(pkt)
    else:
        raise ValueError("unknown malformation " + bad)
    return bytes(raw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iface", required=True)
    ap.add_argument("--dst-mac", required=True)
    ap.add_argument("--inter", type=float, default=0.0,
                    help="seconds between frames (a paced stream)")
    ap.add_argument("--interleave", action="store_true",
                    help="round robin over the specs instead of one spec after the other")
    ap.add_argument("specs")
    args = ap.parse_args()
    conf.verb = 0
    with open(args.specs) as f:
        specs = json.load(f)
    smac = get_if_hwaddr(args.iface)
    per_spec = []
    for spec in specs:
        n = min(int(spec.get("count", 1)), MAX_COUNT)
        if spec.get("seq"):
            # every frame its own tag, TAG#0 .. TAG#n-1: the receiver says which arrived
            per_spec.append([build(dict(spec, tag="%s#%d" % (spec["tag"], i)), smac,
                                   args.dst_mac) for i in range(n)])
        else:
            per_spec.append([build(spec, smac, args.dst_mac)] * n)
    if args.interleave:
        frames = [f for group in itertools.zip_longest(*per_spec) for f in group if f]
    else:
        frames = [f for group in per_spec for f in group]
    # Raw: the bytes go out exactly as built, malformed ones included
    sendp([Raw(load=f) for f in frames], iface=args.iface, verbose=False, inter=args.inter)
    print(len(frames))


if __name__ == "__main__":
    sys.exit(main())
