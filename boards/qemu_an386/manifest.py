# Frozen into the qemu mps2-an386 image: the device packages (no asyncio: the
# 1.25 qemu port has none).
include("$(BOARD_DIR)/../../firmware/manifest.py")
# `time` on top of the board's SysTick module _board (the 1.25 port has no time).
module("time.py", opt=1)
# This board's entry point: the device application with its state in the
# SSRAM standing in for flash, over CoAP/SLIP on UART0
# (import hg_qemu; hg_qemu.run(CONFIG_JSON)).
module("hg_qemu.py", base_path="$(BOARD_DIR)/../../firmware", opt=1)
