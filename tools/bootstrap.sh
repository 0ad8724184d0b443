#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian/Ubuntu machine: Debian packages, the
# .venv with pinned host tools, and the MicroPython + mbedTLS sources under
# build/. `make run` and `make test` call it; running it by hand is fine too.
#
#   tools/bootstrap.sh [apt|venv|sources|all]     (default: all)
#
# Environment: MPY_DIR=/path/to/micropython  use an existing checkout (v1.25.x)
#              MBEDTLS_DIR=/path/to/mbedtls  use an existing mbedTLS 3.x tree
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$ROOT/build"
VENV="$ROOT/.venv"
what=${1:-all}

APT_PACKAGES="build-essential dpkg-dev pkg-config python3-venv libffi-dev libmbedtls-dev \
gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm libcoap3-bin"
# The source packages come from this Debian suite (MicroPython 1.25.0, mbedTLS 3.6).
SRC_SUITE=trixie
SRC_LIST=/etc/apt/sources.list.d/hourglass-deb-src.sources

say() { printf 'bootstrap: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"
    else return 99
    fi
}

missing_packages() {
    local p out=""
    for p in $APT_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || out="$out $p"
    done
    echo "$out"
}

ensure_apt() {
    local miss
    miss=$(missing_packages)
    [ -z "$miss" ] && return 0
    say "installing Debian packages:$miss"
    if ! as_root true 2>/dev/null; then
        say "need root or passwordless sudo to install packages; run:"
        echo "  sudo apt-get update && sudo apt-get install --no-install-recommends --no-upgrade$miss" >&2
        exit 1
    fi
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends --no-upgrade $miss >/dev/null
}

ensure_venv() {
    local stamp="$VENV/.hourglass-stamp" want
    want=$(cat "$ROOT/tools/requirements.txt" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/hourglass" ]; then
        return 0
    fi
    say "creating $VENV with the pinned host tools (tools/requirements.txt)"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$ROOT/tools/requirements.txt"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e "$ROOT"
    echo "$want" > "$stamp"
}

# The deb-src entry reuses the URI and keyring of the machine's own Debian
# sources (deb822 or one-line format); no mirror name is written here.
ensure_deb_src() {
    [ -f "$SRC_LIST" ] && return 0
    local uri="" keyring=/usr/share/keyrings/debian-archive-keyring.gpg f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uri=$(awk '/^URIs:/ {print $2; exit}' "$f")
        case "$uri" in *debian-security*|"") uri="";; *) break;; esac
    done
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri=$(awk '$1=="deb" && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
    fi
    if [ -z "$uri" ]; then
        say "no Debian package source found in /etc/apt; set MPY_DIR to a MicroPython v1.25 checkout"
        exit 1
    fi
    say "adding deb-src for $SRC_SUITE (URI from this machine's apt sources)"
    printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' \
        "$uri" "$SRC_SUITE" "$keyring" | as_root tee "$SRC_LIST" >/dev/null
    as_root apt-get update -qq
}

# apt-get source PKG into build/src, leaving the unpacked tree's path in build/PKG.path
fetch_source() {
    local pkg=$1 pathfile="$BUILD/$1.path" dir
    if [ -f "$pathfile" ] && [ -d "$(cat "$pathfile")" ]; then return 0; fi
    if ! as_root true 2>/dev/null; then
        say "fetching the $pkg source needs root once (a deb-src entry); or set the *_DIR variable"
        exit 1
    fi
    ensure_deb_src
    mkdir -p "$BUILD/src"
    say "fetching Debian source package $pkg ($SRC_SUITE)"
    (cd "$BUILD/src" && apt-get source -qq "$pkg/$SRC_SUITE" >/dev/null 2>&1 || apt-get source -qq "$pkg/$SRC_SUITE")
    dir=$(find "$BUILD/src" -maxdepth 1 -mindepth 1 -type d -name "$pkg-*" | sort | tail -n1)
    [ -n "$dir" ] || { say "apt-get source $pkg produced no tree"; exit 1; }
    echo "$dir" > "$pathfile"
}

ensure_sources() {
    mkdir -p "$BUILD"
    if [ -n "${MPY_DIR:-}" ]; then
        [ -f "$MPY_DIR/py/mkrules.mk" ] || { say "MPY_DIR=$MPY_DIR is not a MicroPython tree"; exit 1; }
    else
        fetch_source micropython
    fi
    if [ -n "${MBEDTLS_DIR:-}" ]; then
        [ -f "$MBEDTLS_DIR/library/aes.c" ] || { say "MBEDTLS_DIR=$MBEDTLS_DIR has no library/aes.c"; exit 1; }
    else
        fetch_source mbedtls
    fi
}

case "$what" in
    apt) ensure_apt ;;
    # make fuzz only: clang with its libFuzzer runtime (large; not needed by make test)
    fuzz) APT_PACKAGES="clang libclang-rt-dev"; ensure_apt ;;
    venv) ensure_venv ;;
    sources) ensure_sources ;;
    all) ensure_apt; ensure_venv; ensure_sources ;;
    *) echo "usage: tools/bootstrap.sh [apt|venv|sources|all|fuzz]" >&2; exit 2 ;;
esac
