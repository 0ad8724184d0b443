#!/usr/bin/env bash
# Real port builds for hardware boards.
#   tools/build/firmware.sh esp32|nrf52840dk
# Needs the vendor toolchains, which this script checks for and names when missing.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BOARD=${1:-}
MPY_DIR=${MPY_DIR:-$(cat "$ROOT/build/micropython.path" 2>/dev/null || true)}
JOBS=${JOBS:-$(nproc)}

missing() { printf 'make firmware BOARD=%s: %s\n' "$BOARD" "$*" | fold -s -w 100 >&2; exit 1; }

case "$BOARD" in
esp32)
    if ! command -v idf.py >/dev/null 2>&1; then
        missing "ESP-IDF is not available (idf.py not on PATH). The ESP32 build needs ESP-IDF v5.2-v5.4" \
            "with its xtensa-esp32-elf toolchain: install it with Espressif's install.sh, run" \
            "'. \$IDF_PATH/export.sh' in this shell, and use a MicroPython v1.25 git checkout with its" \
            "submodules (make -C ports/esp32 submodules) as MPY_DIR, because Debian's source package" \
            "lacks lib/ submodules the port needs. Then run 'make firmware BOARD=esp32 MPY_DIR=...' again."
    fi
    [ -d "$MPY_DIR/ports/esp32" ] || missing "MPY_DIR=$MPY_DIR has no ports/esp32."
    make -C "$MPY_DIR/ports/esp32" -j"$JOBS" BOARD=ESP32_GENERIC \
        BOARD_DIR="$ROOT/boards/esp32" BUILD="$ROOT/build/esp32" \
        USER_C_MODULES="$ROOT/firmware/cmodules/micropython.cmake" \
        FROZEN_MANIFEST="$ROOT/boards/esp32/manifest.py"
    echo "firmware: $ROOT/build/esp32/firmware.bin (flash with: hourglass device flash, or esptool.py)"
    ;;
nrf52840dk)
    command -v arm-none-eabi-gcc >/dev/null 2>&1 || missing "arm-none-eabi-gcc is missing: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi."
    if [ ! -f "$MPY_DIR/lib/nrfx/mdk/nrf52840.h" ] || [ ! -f "$MPY_DIR/lib/tinyusb/src/tusb.h" ]; then
        missing "the MicroPython tree at '$MPY_DIR' has no lib/nrfx and lib/tinyusb (Debian's source" \
            "package strips these submodules). Use a MicroPython v1.25 git checkout and run" \
            "'make -C ports/nrf submodules' in it, then 'make firmware BOARD=nrf52840dk MPY_DIR=<that checkout>'." \
            "Flashing uses nrfjprog or the DK's mass-storage bootloader (see boards/nrf52840dk/README.md)."
    fi
    # Board overlay: our files plus the stock pin table.
    overlay="$ROOT/build/nrf52840dk-board"
    mkdir -p "$overlay"
    cp "$ROOT"/boards/nrf52840dk/mpconfigboard.* "$overlay/"
    cp "$MPY_DIR/ports/nrf/boards/PCA10056/pins.csv" "$overlay/"
    make -C "$MPY_DIR/ports/nrf" -j"$JOBS" BOARD=PCA10056 \
        BOARD_DIR="$overlay" HG_ROOT="$ROOT" BUILD="$ROOT/build/nrf52840dk" \
        USER_C_MODULES="$ROOT/firmware/cmodules" \
        FROZEN_MANIFEST="$ROOT/boards/nrf52840dk/manifest.py"
    echo "firmware: $ROOT/build/nrf52840dk/firmware.hex"
    ;;
"")
    echo "usage: make firmware BOARD=esp32|nrf52840dk" >&2; exit 2 ;;
*)
    echo "make firmware: unknown BOARD '$BOARD' (esp32, nrf52840dk; unix and qemu_an386 have 'make unix' and 'make qemu')" >&2
    exit 2 ;;
esac
