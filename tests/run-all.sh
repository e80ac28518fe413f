#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Runs every test: the C test binaries under $BUILD/tests (unit, golden,
# BPF_PROG_TEST_RUN) and the pytest suites under netns-tests/. Counts results
# and ends with one line: "N passed, N failed".
#
# Nothing may pass by going missing:
# - a C binary lists its tests (--list); a listed test without a result line
#   (the binary crashed, hung or was killed) is a failure, and so is a
#   binary that exits non-zero with no failure counted (e.g. a leak report);
# - pytest's junit report must be readable and must agree with pytest's exit
#   status; no report, or no tests in it, is a failure;
# - skipped tests are listed and counted on their own line (never as passed);
# - every test has a timeout (SLUICE_TEST_TIMEOUT seconds, default 600: the
#   C harness and pytest-timeout kill a hung test, which fails, and the
#   rest run), and every suite runs under `timeout` as a backstop
#   (SLUICE_SUITE_TIMEOUT, default 1800 s per C binary and 3600 s for
#   netns-tests). Timeouts are no speed limits: timings are make bench's.
# - the netns tests run on SLUICE_TEST_JOBS pytest-xdist workers (default
#   2; 0 runs them in pytest's own process): each test has its own
#   namespaces, state dir, socket and cgroups (conftest.py), and most of a
#   test's time is waiting (an agent's start, a timeout that proves a drop),
#   so two share the machine's 2 CPUs. The C test binaries run
#   SLUICE_TEST_JOBS at a time too (at least one), their results read in
#   name order once all have ended.
#
# - the libFuzzer targets (fuzz/run.sh) replay their regression inputs and
#   fuzz for SLUICE_FUZZ_TIME seconds each (default 5); one result each.
#
# Usage: tests/run-all.sh [c|netns|fuzz]   (default: all three)
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export SLUICE_TEST_TIMEOUT=${SLUICE_TEST_TIMEOUT:-600}
SUITE_TIMEOUT=${SLUICE_SUITE_TIMEOUT:-1800}
NETNS_TIMEOUT=${SLUICE_NETNS_TIMEOUT:-3600}
NETNS_DIR=${NETNS_DIR:-netns-tests}
JOBS=${SLUICE_TEST_JOBS:-2}
what=${1:-all}

passed=0
failed=0
skipped=0
skips=()
logdir=$BUILD/test-logs
mkdir -p "$logdir"

fail() {
	echo "not ok - $1"
	failed=$((failed + 1))
}

# exit status of `timeout`: 124 when the limit was reached
timed_out() {
	[ "$1" -eq 124 ] || [ "$1" -eq 137 ]
}

# Starts C test binary $1 in the background (its output in its log, its exit
# status in LOG.rc) once fewer than JOBS binaries run.
start_c() {
	local t=$1 log
	log=$logdir/$(basename "$t").log
	rm -f "$log" "$log.rc"
	while [ "$(jobs -rp | wc -l)" -ge "$((JOBS > 0 ? JOBS : 1))" ]; do
		wait -n
	done
	# (the shell's own word on a crash, "Segmentation fault", in the log too)
	( timeout -k 10 "$SUITE_TIMEOUT" "$t" > "$log" 2>&1; echo $? > "$log.rc" ) 2>> "$log" &
}

# The results of C test binary $1, started by start_c and finished.
run_c() {
	local t=$1 name log list rc p=0 f=0 s=0 missing=0 tn
	name=$(basename "$t")
	log=$logdir/$name.log
	echo "== $name"
	if ! list=$("$t" --list) || [ -z "$list" ]; then
		fail "$name (cannot list its tests)"
		return
	fi
	rc=$(cat "$log.rc" 2>/dev/null) || rc=255
	cat "$log"
	for tn in $list; do
		if grep -qx "ok - $tn" "$log"; then
			p=$((p + 1))
		elif grep -qx "ok - $tn # SKIP" "$log"; then
			s=$((s + 1))
			skips+=("$name: $tn")
		elif grep -qx "not ok - $tn" "$log"; then
			f=$((f + 1))
		else
			echo "not ok - $tn (no result: $name stopped with exit status $rc)"
			missing=$((missing + 1))
		fi
	done
	f=$((f + missing))
	if timed_out "$rc"; then
		echo "# $name: still running after ${SUITE_TIMEOUT} s (SLUICE_SUITE_TIMEOUT): killed"
		[ "$missing" -eq 0 ] && f=$((f + 1))
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		# e.g. the leak checker after the last test
		echo "not ok - $name (exit status $rc with no failed test)"
		f=1
	elif [ "$rc" -eq 0 ] && [ "$f" -ne 0 ]; then
		echo "not ok - $name (exit status 0 with failed tests)"
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
}

# Reads pytest's junit report: prints "passed failed skipped tests" and one
# line per skipped test ("skip NAME: reason"); exits 1 when unreadable.
junit_counts() {
	"$PYTHON" - "$1" <<'EOF'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    cases = [c for s in suites for c in s.iter("testcase")]
except Exception as e:  # a partial or missing file is a failed run
    print("unreadable: %s" % e, file=sys.stderr)
    sys.exit(1)
p = f = s = 0
skips = []
for c in cases:
    kinds = [x.tag for x in c]
    if "failure" in kinds or "error" in kinds:
        f += 1
    elif "skipped" in kinds:
        s += 1
        x = c.find("skipped")
        skips.append("skip %s::%s: %s" % (c.get("classname"), c.get("name"),
                                          (x.get("message") or "").replace("\n", " ")))
    else:
        p += 1
print(p, f, s, len(cases))
for line in skips:
    print(line)
EOF
}

run_netns() {
	local xml=$logdir/pytest.xml rc counts p f s n
	echo "== netns-tests"
	rm -f "$xml"
	BUILD=$(realpath "$BUILD") timeout -k 30 "$NETNS_TIMEOUT" \
		"$PYTHON" -m pytest -p no:cacheprovider -q -rfEs -n "$JOBS" \
		--timeout="$SLUICE_TEST_TIMEOUT" --timeout-method=signal \
		--junitxml="$xml" "$NETNS_DIR"
	rc=$?
	if timed_out "$rc"; then
		echo "# netns-tests: still running after ${NETNS_TIMEOUT} s (SLUICE_NETNS_TIMEOUT): killed"
	fi
	if ! counts=$(junit_counts "$xml"); then
		fail "netns-tests (pytest exit status $rc; its junit report $xml is missing or unreadable)"
		return
	fi
	read -r p f s n <<< "$(head -n1 <<< "$counts")"
	while IFS= read -r line; do
		skips+=("netns-tests: ${line#skip }")
	done < <(tail -n +2 <<< "$counts")
	if [ "$n" -eq 0 ]; then
		fail "netns-tests (no test in the report; pytest exit status $rc)"
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		fail "netns-tests (pytest exit status $rc with no failed test in the report)"
	elif [ "$rc" -eq 0 ] && [ "$f" -ne 0 ]; then
		echo "not ok - netns-tests (pytest exit status 0 with $f failed in the report)"
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
}

run_fuzz() {
	local log=$logdir/fuzz.log f name want=()
	for f in "$BUILD"/fuzz/fuzz_*; do
		[ -x "$f" ] && want+=("$(basename "$f")")
	done
	if [ "${#want[@]}" -eq 0 ]; then
		fail "fuzz (no targets under $BUILD/fuzz: make fuzz-bins)"
		return
	fi
	BUILD=$BUILD FUZZ_TIME=${SLUICE_FUZZ_TIME:-5} fuzz/run.sh > "$log" 2>&1
	cat "$log"
	for name in "${want[@]}"; do
		if grep -qx "ok - $name" "$log"; then
			passed=$((passed + 1))
		elif grep -qx "not ok - $name" "$log"; then
			failed=$((failed + 1))
		else
			fail "$name (no result from fuzz/run.sh)"
		fi
	done
}

if [ "$what" = all ] || [ "$what" = c ]; then
	found=0
	# two at a time (SLUICE_TEST_JOBS), the results read in name order after
	for t in "$BUILD"/tests/test_*; do
		[ -x "$t" ] && start_c "$t"
	done
	wait
	for t in "$BUILD"/tests/test_*; do
		[ -x "$t" ] || continue
		found=1
		run_c "$t"
	done
	[ "$found" -eq 1 ] || fail "no test binaries under $BUILD/tests (make test-bins)"
fi

if [ "$what" = all ] || [ "$what" = fuzz ]; then
	run_fuzz
fi
if [ "$what" = all ] || [ "$what" = netns ]; then
	if ls "$NETNS_DIR"/test_*.py >/dev/null 2>&1; then
		run_netns
	else
		fail "no $NETNS_DIR/test_*.py"
	fi
fi

if [ "$skipped" -ne 0 ]; then
	echo "== $skipped skipped (neither passed nor failed):"
	printf '   %s\n' "${skips[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
