# hourglass on the nRF52840 DK (PCA10056): the stock board plus our modules.
include $(TOP)/ports/nrf/boards/PCA10056/mpconfigboard.mk

# hashlib.sha256 and cryptolib.aes (the nrf port enables neither).
include $(HG_ROOT)/firmware/mbedtls/crypto.mk
