#!/usr/bin/env bash
# Build every C module whose Makefile includes dynruntime.mk as a dynamic native module (.mpy).
#   tools/build/natmod.sh ARCH      ARCH: x64 | armv7emsp (Cortex-M4F, nRF52840) | armv7m
# Output: build/natmod/ARCH/<module>.mpy
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ARCH=${1:-x64}
case "$ARCH" in
    x64|x86|armv7m|armv7emsp|armv7emdp|armv6m) ;;
    xtensawin|xtensa)
        echo "natmod: ARCH=$ARCH needs the ESP-IDF xtensa toolchain (xtensa-esp32-elf-gcc on PATH);" >&2
        echo "        install ESP-IDF v5.x and run its export.sh first." >&2
        command -v xtensa-esp32-elf-gcc >/dev/null || exit 1 ;;
    *) echo "natmod: unknown ARCH '$ARCH' (x64, armv7emsp, armv7m)" >&2; exit 2 ;;
esac
MPY_DIR=${MPY_DIR:-$(cat "$ROOT/build/micropython.path")}
OUT="$ROOT/build/natmod/$ARCH"
mkdir -p "$OUT"
built=0
for mk in "$ROOT"/firmware/cmodules/*/Makefile; do
    grep -q dynruntime.mk "$mk" 2>/dev/null || continue
    dir=$(dirname "$mk"); name=$(basename "$dir")
    make -s -C "$dir" MPY_DIR="$MPY_DIR" ARCH="$ARCH" \
        BUILD="$ROOT/build/natmod/obj-$ARCH-$name" >/dev/null
    mod=$(sed -n 's/^MOD = //p' "$mk")
    mv "$dir/$mod.mpy" "$OUT/$mod.mpy"
    echo "natmod: $OUT/$mod.mpy ($(stat -c %s "$OUT/$mod.mpy") bytes)"
    built=$((built + 1))
done
[ "$built" -gt 0 ] || { echo "natmod: no natmod Makefile under firmware/cmodules/*/" >&2; exit 1; }
