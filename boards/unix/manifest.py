# Frozen into `make unix`: asyncio from the MicroPython tree, then our packages.
include("$(MPY_DIR)/extmod/asyncio")
include("../../firmware/manifest.py")
