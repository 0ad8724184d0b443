# Frozen into the ESP32 image: the port's own modules, then our packages.
include("$(PORT_DIR)/boards/manifest.py")
include("../../firmware/manifest.py")
