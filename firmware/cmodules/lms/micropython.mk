# _lms (LMS/HSS signatures) for make-based ports (unix, qemu, nrf): the binding
# is scanned for QSTRs; the portable core is library code and is not.
LMS_MOD_DIR := $(USERMOD_DIR)
SRC_USERMOD_C += $(LMS_MOD_DIR)/modlms.c
SRC_USERMOD_LIB_C += $(LMS_MOD_DIR)/core/lms.c $(LMS_MOD_DIR)/core/lms_sha256.c
CFLAGS_USERMOD += -I$(LMS_MOD_DIR)

# Signing and the SHA-256 compression counter: on by default for the unix
# port (host tools, tests, benchmarks), off for MCU ports (verify only, less
# flash). Override with LMS_SIGN=0|1 on the make command line.
ifeq ($(notdir $(CURDIR)),unix)
LMS_SIGN ?= 1
endif
LMS_SIGN ?= 0
ifeq ($(LMS_SIGN),1)
CFLAGS_USERMOD += -DLMS_ENABLE_SIGN -DLMS_COUNT_COMPRESSIONS
endif
