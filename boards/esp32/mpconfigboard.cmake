# hourglass on a generic ESP32 (4 MiB flash) with two OTA app slots (A/B).
# Built by `make firmware BOARD=esp32` (ESP-IDF v5.2-v5.4 required).
set(IDF_TARGET esp32)
set(SDKCONFIG_DEFAULTS
    boards/sdkconfig.base
    boards/sdkconfig.ble
    ${MICROPY_BOARD_DIR}/sdkconfig.board
)
set(MICROPY_FROZEN_MANIFEST ${MICROPY_BOARD_DIR}/manifest.py)
