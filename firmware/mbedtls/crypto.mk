# hashlib.sha256 and cryptolib.aes for make-based ports that lack them (qemu,
# nrf): three mbedTLS files with a minimal configuration, about 6 KB of text.
# Include from a board's mpconfigboard.mk; MBEDTLS_DIR is an mbedTLS 3.x tree
# (tools/bootstrap.sh fetches Debian's; a MicroPython checkout has lib/mbedtls).
HG_FIRMWARE_DIR := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
MBEDTLS_DIR ?= $(TOP)/lib/mbedtls
CFLAGS += -DMICROPY_SSL_MBEDTLS=1 -DMICROPY_PY_CRYPTOLIB=1 -DMICROPY_PY_HASHLIB=1
CFLAGS += -I$(MBEDTLS_DIR)/include -I$(HG_FIRMWARE_DIR)/mbedtls
CFLAGS += -DMBEDTLS_CONFIG_FILE='"mbedtls_config_hg.h"'
LIB_SRC_C += $(MBEDTLS_DIR)/library/aes.c $(MBEDTLS_DIR)/library/sha256.c \
	$(MBEDTLS_DIR)/library/platform_util.c
