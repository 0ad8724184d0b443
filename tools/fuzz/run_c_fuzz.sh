#!/usr/bin/env bash
# libFuzzer + ASan/UBSan on the LMS/HSS C core (tools/fuzz/fuzz_lms.c):
#   tools/fuzz/run_c_fuzz.sh            FUZZ_SECONDS (default 60) of fuzzing
# Seeds: every verify vector of host_tests/vectors/lms (make_lms_seeds.py,
# into build/fuzz/lms-c/seeds) and the saved inputs of host_tests/corpus/lms-c.
# The growing corpus stays in build/fuzz/lms-c/corpus. An input that crashed,
# hung or ran out of memory is copied to host_tests/corpus/lms-c/ (commit it:
# host_tests/test_fuzz_regressions.py replays that folder) and the script
# exits 1. Exit 2: clang or its libFuzzer runtime is missing.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CORE="$ROOT/firmware/cmodules/lms/core"
OUT="$ROOT/build/fuzz/lms-c"
KEEP="$ROOT/host_tests/corpus/lms-c"
CLANG=${CLANG:-clang}
PY=${PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || PY=python3
SECONDS_BUDGET=${FUZZ_SECONDS:-60}
# Debian's clang leaves the libFuzzer runtime to a recommended package
APT_LINE="apt-get install --no-install-recommends clang libclang-rt-dev"

if ! command -v "$CLANG" >/dev/null; then
    echo "run_c_fuzz: $CLANG not found; install it with:" >&2
    echo "  $APT_LINE" >&2
    exit 2
fi
mkdir -p "$OUT/corpus" "$OUT/artifacts" "$KEEP"
FLAGS=(-std=c99 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=all -I"$CORE" -I"$ROOT/tools/fuzz")
if ! "$CLANG" "${FLAGS[@]}" "$ROOT/tools/fuzz/fuzz_lms.c" "$CORE/lms.c" "$CORE/lms_sha256.c" \
        -o "$OUT/fuzz_lms" 2>"$OUT/build.log"; then
    cat "$OUT/build.log" >&2
    if grep -q "libclang_rt.fuzzer" "$OUT/build.log"; then
        echo "run_c_fuzz: $CLANG has no libFuzzer runtime; install it with:" >&2
        echo "  $APT_LINE" >&2
        exit 2
    fi
    exit 1
fi

rm -rf "$OUT/seeds"
"$PY" "$ROOT/tools/fuzz/make_lms_seeds.py" --out "$OUT/seeds" >/dev/null
rm -f "$OUT"/artifacts/*

# The leak checker needs ptrace, which some containers forbid; the core
# never allocates, and the harness frees what it allocates.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
echo "run_c_fuzz: fuzzing the LMS core for ${SECONDS_BUDGET}s (corpus $OUT/corpus)"
status=0
# -max_len: the largest vector signature is ~11 KB (ACVP); -timeout: a
# verify takes milliseconds, 10 s means a hang.
"$OUT/fuzz_lms" -max_total_time="$SECONDS_BUDGET" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$OUT/artifacts/" \
    "$OUT/corpus" "$OUT/seeds" "$KEEP" >"$OUT/fuzz.log" 2>&1 || status=$?
tail -n 25 "$OUT/fuzz.log"

found=0
for f in "$OUT"/artifacts/*; do
    [ -e "$f" ] || continue
    cp "$f" "$KEEP/"
    echo "run_c_fuzz: saved $(basename "$f") -> host_tests/corpus/lms-c/ (replayed by host_tests/test_fuzz_regressions.py)"
    found=$((found + 1))
done
if [ "$found" -gt 0 ] || [ "$status" -ne 0 ]; then
    echo "run_c_fuzz: FAILED (libFuzzer exit $status, $found input(s) saved); full log $OUT/fuzz.log" >&2
    exit 1
fi
echo "run_c_fuzz: no crash, hang or sanitizer report in ${SECONDS_BUDGET}s"
