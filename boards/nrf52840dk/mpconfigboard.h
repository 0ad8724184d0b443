// hourglass nRF52840 DK: the stock PCA10056 configuration plus the modules the
// stack needs come from mpconfigboard.mk (firmware/mbedtls/crypto.mk).
#include "boards/PCA10056/mpconfigboard.h"
#undef MICROPY_HW_BOARD_NAME
#define MICROPY_HW_BOARD_NAME "hourglass nRF52840 DK"
