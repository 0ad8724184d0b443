#!/usr/bin/env bash
# Runs the test tiers and prints one summary; exits 1 if any tier failed.
#   tools/run_tests.sh all|host|mp|natmod|unix|qemu|lms-c
# Tiers: host  = pytest under CPython (everything in host_tests/)
#        mp    = portable tests under the PyPI micropython (unix port 1.29), pure Python
#        natmod = the same binary with our C modules loaded as x64 natmods (build/natmod/x64)
#        unix  = portable tests under build/unix/micropython (our C modules + frozen lib/)
#        qemu  = portable tests frozen into the 64 KiB Cortex-M4F image under qemu
#        lms-c = the LMS C core's own tests under AddressSanitizer + UBSan
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
cd "$ROOT"
PORTABLE="$ROOT/host_tests/portable"
RUNNER_ARGS=("$PORTABLE" "$ROOT/lib" "$ROOT/host_tests/vectors")
declare -a results=()
status=0

tier() {
    local name=$1; shift
    echo
    echo "==== tier $name: $*"
    if "$@"; then results+=("$name: ok"); else results+=("$name: FAILED"); status=1; fi
}

run_host() { "$VENV/bin/python" -m pytest host_tests; }
run_mp() { "$VENV/bin/micropython" "$PORTABLE/mp_runner.py" micropython-pypi "${RUNNER_ARGS[@]}"; }
run_natmod() { MICROPYPATH="$ROOT/build/natmod/x64:.frozen" "$VENV/bin/micropython" "$PORTABLE/mp_runner.py" micropython-natmod "${RUNNER_ARGS[@]}"; }
run_unix() { "$ROOT/build/unix/micropython" "$PORTABLE/mp_runner.py" micropython-unix "${RUNNER_ARGS[@]}"; }
run_lmsc() { "$ROOT/tools/build/test_lms_c.sh"; }
run_qemu() { "$VENV/bin/python" "$ROOT/tools/run_qemu.py" --elf "$ROOT/build/qemu_an386_test/firmware.elf" --tests; }

what=${1:-all}
case "$what" in
    all) tier host run_host; tier mp run_mp; tier natmod run_natmod; tier unix run_unix; tier qemu run_qemu; tier lms-c run_lmsc ;;
    host) tier host run_host ;;
    mp) tier mp run_mp ;;
    natmod) tier natmod run_natmod ;;
    unix) tier unix run_unix ;;
    qemu) tier qemu run_qemu ;;
    lms-c) tier lms-c run_lmsc ;;
    *) echo "usage: tools/run_tests.sh all|host|mp|natmod|unix|qemu|lms-c" >&2; exit 2 ;;
esac
echo
echo "==== summary"
for r in "${results[@]}"; do echo "  $r"; done
exit $status
