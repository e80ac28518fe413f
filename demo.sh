#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# `make demo`: two network namespaces joined by a veth pair, sluiced running
# in the firewall namespace on the example policies (policies/), real traffic
# sent from the client namespace (and a connection the firewall host opens,
# whose replies conntrack lets in), what was delivered vs dropped; then the
# load balancer: connections to its VIP spread over three backend namespaces
# by weight, a drain, a backend taken out by its health checks; the agent
# stopped (the firewall and the load balancer stay) and restarted (it adopts
# the pinned link); then `sluice ct list`, `sluice rule list`, `sluice lb
# list`, `sluice stats`, `sluice teardown`. Everything the demo creates is
# named "sldemo..." and removed on exit, also on failure. SLUICED, SLUICE and
# POLICIES point it at other binaries and policies (the package test runs it
# on the installed ones).
#
#   client ns sldemoc                      fw ns sldemof
#   sldemoc0 192.0.2.1/24     <-- veth --> sldemof0 192.0.2.2/24   (XDP here)
#            2001:db8:1::1/64                       2001:db8:1::2/64
#   route 203.0.113.80 (VIP) via 192.0.2.2          sldemof<i> 203.0.113.(16i+1)/28 <--> sldemob<i>
#                                                   backend i: 203.0.113.(16i+2), answers "b<i>"
set -eu
cd "$(dirname "$0")"
BUILD=$(realpath "${BUILD:-build}")
PYTHON=${PYTHON:-/usr/bin/python3}
PFX=sldemo
CNS=${PFX}c
FNS=${PFX}f
STATE=/sys/fs/bpf/$PFX
SLUICED=${SLUICED:-$BUILD/sluiced}
SLUICE=${SLUICE:-$BUILD/sluice}
POLICIES=$(realpath "${POLICIES:-policies}")
AGENT_PID=
SERVER_PIDS=
VIP=203.0.113.80

[ "$(id -u)" -eq 0 ] || { echo "demo: run as root" >&2; exit 1; }
for b in "$SLUICED" "$SLUICE"; do
	[ -x "$b" ] || { echo "demo: $b is missing; run make first" >&2; exit 1; }
done

in_fw() { nsenter --net=/run/netns/$FNS "$@"; }
in_client() { nsenter --net=/run/netns/$CNS "$@"; }
sluice() { in_fw "$SLUICE" --socket "$TMP/sluiced.sock" --state-dir "$STATE" "$@"; }
if [ -t 1 ]; then
	step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	step() { printf '\n== %s\n' "$*"; }
fi

cleanup() {
	local rc=$?
	set +e
	if [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; then
		kill -TERM "$AGENT_PID"
		for _ in $(seq 50); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$AGENT_PID" 2>/dev/null && kill -KILL "$AGENT_PID"
	fi
	[ -d "$STATE" ] && [ -e /run/netns/$FNS ] && sluice teardown >/dev/null 2>&1
	# unpinning a link detaches its program: nothing stays behind
	[ -d "$STATE" ] && rm -rf "$STATE"
	for pid in $SERVER_PIDS; do kill "$pid" 2>/dev/null; done
	ip netns del $CNS 2>/dev/null
	ip netns del $FNS 2>/dev/null
	for i in 1 2 3; do ip netns del ${PFX}b$i 2>/dev/null; done
	if [ $rc -ne 0 ] && [ -s "$TMP/sluiced.log" ]; then
		echo "--- sluiced log:" >&2
		tail -n 30 "$TMP/sluiced.log" >&2
	fi
	rm -rf "$TMP"
	exit $rc
}

# leftovers of an interrupted earlier demo (ours by name)
ip netns del $CNS 2>/dev/null || true
ip netns del $FNS 2>/dev/null || true
for i in 1 2 3; do ip netns del ${PFX}b$i 2>/dev/null || true; done
TMP=$(mktemp -d /tmp/sldemo.XXXXXX)
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" != bpf_fs ]; then
	mount -t bpf bpf /sys/fs/bpf
fi
rm -rf "$STATE"

step "network: client namespace $CNS <-> firewall namespace $FNS"
ip netns add $CNS
ip netns add $FNS
ip link add ${PFX}c0 netns $CNS type veth peer name ${PFX}f0 netns $FNS
for ns in $CNS $FNS; do
	nsenter --net=/run/netns/$ns sysctl -qw net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.default.rp_filter=0
	nsenter --net=/run/netns/$ns ip link set lo up
done
in_client ip addr add 192.0.2.1/24 dev ${PFX}c0
in_client ip addr add 2001:db8:1::1/64 dev ${PFX}c0 nodad
in_client ip link set ${PFX}c0 up
in_fw ip addr add 192.0.2.2/24 dev ${PFX}f0
in_fw ip addr add 2001:db8:1::2/64 dev ${PFX}f0 nodad
in_fw ip link set ${PFX}f0 up
echo "  ${PFX}c0 192.0.2.1 2001:db8:1::1  <-->  ${PFX}f0 192.0.2.2 2001:db8:1::2"

# the load balancer's side: three backends behind the firewall host, which
# routes between them and the client (the VIP is routed to it)
in_client ip route add $VIP/32 via 192.0.2.2
in_fw sysctl -qw net.ipv4.ip_forward=1
# XDP sees frames as bytes: senders on veths finish their own checksums, and
# veths that receive XDP_REDIRECTed frames need GRO (docs/lb.md)
in_client ethtool -K ${PFX}c0 tx off gro on >/dev/null
for i in 1 2 3; do
	ns=${PFX}b$i
	ip netns add $ns
	nsenter --net=/run/netns/$ns ip link set lo up
	ip link add ${PFX}f$i netns $FNS type veth peer name ${PFX}b$i netns $ns
	in_fw ip addr add 203.0.113.$((16 * i + 1))/28 dev ${PFX}f$i
	in_fw ip link set ${PFX}f$i up
	nsenter --net=/run/netns/$ns ip addr add 203.0.113.$((16 * i + 2))/28 dev ${PFX}b$i
	nsenter --net=/run/netns/$ns ip link set ${PFX}b$i up
	nsenter --net=/run/netns/$ns ip route add default via 203.0.113.$((16 * i + 1))
	nsenter --net=/run/netns/$ns ethtool -K ${PFX}b$i tx off gro on >/dev/null
	nsenter --net=/run/netns/$ns "$PYTHON" netns-tests/lib/lbpeer.py serve b$i 8080 \
		>"$TMP/b$i.ready" 2>/dev/null &
	SERVER_PIDS="$SERVER_PIDS $!"
	eval "B${i}_PID=$!"
	echo "  ${PFX}f$i 203.0.113.$((16 * i + 1))  <-->  ${PFX}b$i 203.0.113.$((16 * i + 2)) (backend b$i)"
done
for i in 1 2 3; do
	for _ in $(seq 50); do grep -q ready "$TMP/b$i.ready" && break; sleep 0.1; done
done

step "policy: $(ls "$POLICIES" | tr '\n' ' ')"
"$SLUICE" policy check "$POLICIES"
echo "  sluice policy check $POLICIES: ok"
# the agent keeps the CLI's edits (lb drain) in its policy dir: give it a copy
cp -r "$POLICIES" "$TMP/policies"

# nsenter execs sluiced in place: $! is the agent itself, not a wrapper
start_agent() {
	nsenter --net=/run/netns/$FNS "$SLUICED" --policy-dir "$TMP/policies" \
		--state-dir "$STATE" --socket "$TMP/sluiced.sock" --foreground \
		>>"$TMP/sluiced.log" 2>&1 &
	AGENT_PID=$!
	for _ in $(seq 100); do
		sluice status >/dev/null 2>&1 && return 0
		kill -0 "$AGENT_PID" 2>/dev/null || { echo "demo: sluiced exited" >&2; exit 1; }
		sleep 0.1
	done
	echo "demo: sluiced does not answer" >&2
	exit 1
}

step "sluiced --policy-dir $TMP/policies (a copy of $POLICIES, in $FNS)"
start_agent
sluice status
echo
in_fw ip -d link show dev ${PFX}f0 | grep -o 'prog/xdp.*' || true

step "traffic from $CNS to $FNS (real packets; sockets in $FNS count what arrived)"
traffic_rc=0
"$PYTHON" netns-tests/lib/demo_traffic.py $PFX || traffic_rc=$?

# N connections to VIP:80 from the client; prints "b1: n  b2: n  b3: n" and
# fails on an error. Every connection answers with its backend's name.
lb_connect() {
	in_client "$PYTHON" netns-tests/lib/lbpeer.py connect $VIP 80 "$1" >"$TMP/lb.json" &&
	"$PYTHON" -c '
import collections, json, sys
got = collections.Counter(json.load(open(sys.argv[1])).values())
print("  " + "  ".join("%s: %d" % (k, got[k]) for k in sorted(got)))
sys.exit(1 if any(k.startswith("error") for k in got) else 0)' "$TMP/lb.json"
}
lb_rc=0

step "load balancer: 400 connections from $CNS to $VIP:80 (NAT, weights 1:2:1)"
lb_connect 400 || lb_rc=1
echo "  (Maglev: each backend gets its weight's share of the table; a flow keeps its backend)"

step "sluice lb drain $VIP:80 203.0.113.34 (b2): no new flows to it"
sluice lb drain $VIP:80 203.0.113.34
lb_connect 100 || lb_rc=1
grep -q '"b2"' "$TMP/lb.json" && { echo "  b2 got new flows while draining" >&2; lb_rc=1; }
sluice lb undrain $VIP:80 203.0.113.34 >/dev/null

step "backend b3's server stops: its health checks fail and it leaves the table"
kill "$B3_PID"
for _ in $(seq 50); do
	sluice -j lb list | grep -q '"state":"down"' && break
	sleep 0.1
done
grep -o 'health: .*' "$TMP/sluiced.log" | tail -n 1 | sed 's/^/  /'
lb_connect 100 || lb_rc=1
grep -q '"b3"' "$TMP/lb.json" && { echo "  b3 got new flows while down" >&2; lb_rc=1; }

step "stop sluiced (SIGTERM): the firewall stays in force without it"
kill -TERM "$AGENT_PID"
wait "$AGENT_PID" || true
AGENT_PID=
if sluice status >/dev/null 2>&1; then
	echo "demo: an agent still answers after SIGTERM" >&2
	exit 1
fi
xdp_links=$(find "$STATE/links" -name 'xdp_*' | wc -l)
tc_links=$(find "$STATE/links" -name 'tc_*' | wc -l)
echo "  sluiced stopped; the pinned links under $STATE/links ($xdp_links XDP, $tc_links TC egress)"
echo "  and the connection table keep working:"
"$PYTHON" netns-tests/lib/demo_traffic.py $PFX --short || traffic_rc=$?
echo "  and so does the load balancer (b3 stays out: its pinned record says down):"
lb_connect 60 || lb_rc=1

step "start sluiced again: it adopts the pinned link"
start_agent
grep -o 'adopted the pinned XDP link.*' "$TMP/sluiced.log" | sed 's/^/  /'

step "sluice ct list --dst 192.0.2.2 (the firewall host's connections)"
sluice ct list --dst 192.0.2.2
echo "  ... and $(sluice -j ct list --dst $VIP | grep -o '"proto"' | wc -l) connections to the VIP $VIP:" \
	"conntrack sees a balanced connection as the client does"

step "sluice rule list"
sluice rule list

step "sluice lb list"
sluice lb list

step "sluice stats"
sluice stats

step "sluice teardown"
sluice teardown
for _ in $(seq 50); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
left=$(find "$STATE" -type f 2>/dev/null | wc -l)
xdp=$(in_fw ip -d link show dev ${PFX}f0 | grep -c 'prog/xdp' || true)
echo "  pins left under $STATE: $left; XDP programs on ${PFX}f0: $xdp"

if [ $traffic_rc -ne 0 ] || [ $lb_rc -ne 0 ] || [ "$left" -ne 0 ] || [ "$xdp" -ne 0 ]; then
	echo "demo: FAILED" >&2
	exit 1
fi
echo
echo "demo: everything happened as policies/ says"
