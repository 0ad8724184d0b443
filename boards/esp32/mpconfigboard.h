// hourglass ESP32 board: the generic module plus what the stack needs.
#define MICROPY_HW_BOARD_NAME "hourglass ESP32"
#define MICROPY_HW_MCU_NAME "ESP32"
// cryptolib (AES) and hashlib are on by default on esp32; keep them explicit.
#define MICROPY_PY_CRYPTOLIB (1)
#define MICROPY_PY_HASHLIB (1)
