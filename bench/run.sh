#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# `make bench`: runs every benchmark binary under $BUILD/bench, then the
# TCP-through-a-veth run (tcp_veth.sh). Each prints its own table with the
# baselines measured in the same run.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}

if [ "$(id -u)" -ne 0 ]; then
	echo "bench: needs root (BPF_PROG_TEST_RUN, map creation)" >&2
	exit 1
fi
rc=0
for b in "$BUILD"/bench/*; do
	[ -x "$b" ] || continue
	echo "== $(basename "$b")"
	"$b" || rc=1
done
echo "== tcp_veth"
bench/tcp_veth.sh || rc=1
exit $rc
