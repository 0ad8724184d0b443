# Frozen into the qemu mps2-an386 image: the device packages (no asyncio: the
# 1.25 qemu port has none).
include("$(BOARD_DIR)/../../firmware/manifest.py")
# `time` on top of the board's SysTick module _board (the 1.25 port has no time).
module("time.py", opt=1)
