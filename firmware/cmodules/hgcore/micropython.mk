# _hgcore for make-based ports (unix, qemu, nrf): the binding is scanned for
# QSTRs; the portable core is library code and is not.
HGCORE_MOD_DIR := $(USERMOD_DIR)
SRC_USERMOD_C += $(HGCORE_MOD_DIR)/modhgcore.c
SRC_USERMOD_LIB_C += $(HGCORE_MOD_DIR)/core/hg_bytes.c
CFLAGS_USERMOD += -I$(HGCORE_MOD_DIR)
