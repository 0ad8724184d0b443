# Emulated Cortex-M4F (qemu machine mps2-an386) with 64 KiB of RAM: the CI
# stand-in for the smallest board we support (nRF52840-class, tighter RAM).
# Built by `make qemu` with BOARD_DIR pointing here; HG_ROOT (the repository) and MBEDTLS_DIR
# come from the top-level Makefile.
QEMU_ARCH = arm
QEMU_MACHINE = mps2-an386

CFLAGS += -mthumb -mcpu=cortex-m4 -mfloat-abi=hard -mfpu=fpv4-sp-d16
CFLAGS += -DQEMU_SOC_MPS2
CFLAGS += -DMICROPY_HW_MCU_NAME='"Cortex-M4F"'

# 64 KiB RAM at 0x20000000, code in the 4 MiB SSRAM at 0 (see the .ld file).
# The heap takes what the stack does not need: the port limits Python's
# stack use to 10 KiB (mp_stack_set_limit in ports/qemu/main.c) and the .ld
# file keeps 12 KiB (2 KiB for C code called at that depth, e.g. LMS verify
# at most 792 B) beside .data/.bss (about 840 B).
LDSCRIPT = $(BOARD_DIR)/mps2_an386_64k.ld
MICROPY_HEAP_SIZE = 52224

SRC_BOARD_O = shared/runtime/gchelper_native.o shared/runtime/gchelper_thumb2.o
MPY_CROSS_FLAGS += -march=armv7emsp

# 1.25's start-up code never enables the FPU: wrap the first call that
# _start makes (uart_init) so the FPU is on before any float instruction.
SRC_C += $(BOARD_DIR)/board_init.c
LDFLAGS += -Wl,--wrap=uart_init

# _board: SysTick ticks and raw UART0 access (modboard.c). The port's vector
# table refers to SysTick_Handler (a fault reporter in errorhandler.c); the
# wrap points that entry at modboard.c's tick counter.
SRC_C += $(BOARD_DIR)/modboard.c
LDFLAGS += -Wl,--wrap=SysTick_Handler

# hashlib.sha256 and cryptolib.aes (the port has neither).
include $(HG_ROOT)/firmware/mbedtls/crypto.mk
