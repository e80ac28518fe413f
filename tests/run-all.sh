#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Runs every test: the C test binaries under $BUILD/tests (unit, golden,
# BPF_PROG_TEST_RUN) and the pytest suites under netns-tests/. Counts results
# and ends with one line: "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0
failed=0
logdir=$BUILD/test-logs
mkdir -p "$logdir"

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	echo "== $name"
	"$t" > "$logdir/$name.log" 2>&1
	rc=$?
	cat "$logdir/$name.log"
	p=$(grep -c '^ok - ' "$logdir/$name.log")
	f=$(grep -c '^not ok - ' "$logdir/$name.log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		# crashed or sanitizer abort outside a counted failure
		echo "not ok - $name (exit status $rc)"
		f=$((f + 1))
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done

if ls netns-tests/test_*.py >/dev/null 2>&1; then
	echo "== netns-tests"
	xml=$logdir/pytest.xml
	rm -f "$xml"
	BUILD=$(realpath "$BUILD") "$PYTHON" -m pytest -p no:cacheprovider -q -rfE \
		--junitxml="$xml" netns-tests
	rc=$?
	if [ -f "$xml" ]; then
		read -r p f < <("$PYTHON" - "$xml" <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
tests = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
print(tests - bad - skipped, bad)
EOF
)
	else
		p=0; f=0
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - netns-tests (pytest exit status $rc)"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
