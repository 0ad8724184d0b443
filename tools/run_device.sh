#!/usr/bin/env bash
# `make run`: the story on the unix virtual device, told by tools/run_demo.py
# (provision, discovery, OSCORE, Observe, EAT, a SUIT update with its trial
# boot, a refused replay). The Makefile builds build/unix/micropython first.
#   tools/run_device.sh [--board unix|qemu_an386] [--port N] [--dir DIR]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec "$ROOT/.venv/bin/python" "$ROOT/tools/run_demo.py" --micropython "$ROOT/build/unix/micropython" "$@"
