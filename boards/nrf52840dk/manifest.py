# Frozen into the nRF52840 DK image: our packages (no IP stack on this port:
# CoAP runs over the serial transport and the host bridge).
include("../../firmware/manifest.py")
