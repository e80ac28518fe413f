#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Runs every libFuzzer target under $BUILD/fuzz (make fuzz-bins):
#
# 1. every input of fuzz/regress/NAME/ (each one crashed, hung or leaked
#    once, and was fixed) runs once: each must pass;
# 2. then the target fuzzes for FUZZ_TIME seconds (default 60; make test uses
#    a few), starting from a corpus built from the tests' data: the policy
#    dirs of tests/data/ and policies/ (YAML files joined, a set file after
#    "#%set", see fuzz_policy.c), fuzz/seeds/NAME/, and what earlier runs
#    found ($BUILD/fuzz/corpus/NAME, not committed), with the dictionary
#    fuzz/NAME.dict of the format's keywords.
#
# Prints "ok - NAME" or "not ok - NAME" per target (tests/run-all.sh counts
# them), with the input that failed saved as $BUILD/fuzz/crash-NAME-*.
# Exits 1 when a target failed. Reproduce: $BUILD/fuzz/NAME FILE.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
FUZZ_TIME=${FUZZ_TIME:-60}
out=$BUILD/fuzz
# libFuzzer's own limits: one input may take 20 s (a hang is a failure), 2 GB
LIMITS=(-timeout=20 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=0)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# The policy dirs of the tests as fuzz_policy inputs: YAML files joined, the
# first set file after "#%set" (renamed s.txt in the YAML).
policy_seeds() {
	local dst=$1 d n=0 txt
	for d in tests/data/*/ policies/ policies/examples/; do
		n=$((n + 1))
		txt=$(ls "$d"*.txt 2>/dev/null | head -n1)
		{
			cat "$d"*.yaml | sed -E 's/file: *[^ ,}]+\.txt/file: s.txt/'
			if [ -n "$txt" ]; then
				printf '\n#%%set\n'
				cat "$txt"
			fi
		} > "$dst/tests-$n.yaml"
	done
}

failed=0
for f in "$out"/fuzz_*; do
	[ -x "$f" ] || continue
	name=$(basename "$f")
	kind=${name#fuzz_}
	corpus=$out/corpus/$kind
	seeds=$out/seeds/$kind
	log=$out/$name.log
	mkdir -p "$corpus" "$seeds"
	rm -f "$seeds"/*
	cp fuzz/seeds/"$kind"/* "$seeds"/ 2>/dev/null
	[ "$kind" = policy ] && policy_seeds "$seeds"
	echo "== $name: fuzz/regress/$kind, then ${FUZZ_TIME} s from $(ls "$seeds" "$corpus" | grep -vc ':$') inputs"
	ok=1
	if [ -d fuzz/regress/"$kind" ] && ls fuzz/regress/"$kind"/* >/dev/null 2>&1; then
		if ! "$f" "${LIMITS[@]}" fuzz/regress/"$kind"/* > "$log" 2>&1; then
			echo "# $name: an input of fuzz/regress/$kind fails again:"
			tail -n 30 "$log" | sed 's/^/#   /'
			ok=0
		fi
	fi
	if [ "$ok" -eq 1 ]; then
		# -max_total_time bounds the run; `timeout` is the backstop
		dict=()
		[ -f fuzz/"$kind".dict ] && dict=(-dict=fuzz/"$kind".dict)
		timeout -k 10 $((FUZZ_TIME + 120)) "$f" "${LIMITS[@]}" "${dict[@]}" \
			-max_total_time="$FUZZ_TIME" -artifact_prefix="$out/crash-$name-" \
			"$corpus" "$seeds" > "$log" 2>&1
		rc=$?
		if [ "$rc" -ne 0 ]; then
			echo "# $name: exit status $rc; the input is $(ls -t "$out"/crash-"$name"-* 2>/dev/null | head -n1)"
			grep -E "ERROR|SUMMARY|runtime error|==[0-9]+==" "$log" | head -n 8 | sed 's/^/#   /'
			ok=0
		else
			grep -E "^#[0-9]+.*DONE" "$log" | tail -n1 | sed 's/^/#   /'
		fi
	fi
	if [ "$ok" -eq 1 ]; then
		echo "ok - $name"
	else
		echo "not ok - $name"
		failed=$((failed + 1))
	fi
done
[ "$failed" -eq 0 ]
