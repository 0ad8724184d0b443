# Frozen into the qemu mps2-an386 image: the device packages (no asyncio: the
# 1.25 qemu port has none).
include("$(BOARD_DIR)/../../firmware/manifest.py")
