# SPDX-License-Identifier: GPL-2.0
#
# Builds the Rust port of hmm-tests (hmm-rs) as part of tools/testing/selftests/mm.
#
# In tools/testing/selftests/mm/Makefile, next to "TEST_GEN_FILES += hmm-tests" (that is,
# BEFORE "include ../lib.mk"), add:
#
#   HMM_RS_DIR := /path/to/hmm-rs
#   include $(HMM_RS_DIR)/hmm-tests/kselftest/hmm-tests-rs.mk
#
# This adds:
#   hmm-tests-rs     the suite binary (TEST_GEN_FILES: built and installed, not run directly)
#   test_hmm_rs.sh   load driver, run the suite, unload, exit with the suite's code
#                    (TEST_GEN_PROGS: run by "make run_tests" and run_kselftest.sh)
#
# Knobs (make variables or environment):
#   CARGO                 cargo to use (default: cargo)
#   HMM_RS_CARGO_TARGET   Rust target triple (default: x86_64-unknown-linux-gnu on x86_64,
#                         aarch64-unknown-linux-gnu on arm64); a *-musl triple also works
#   HMM_RS_STATIC         1 (default): link statically (+crt-static), like the static C
#                         build, so the binary runs on any guest root filesystem; 0: dynamic
#   HMM_RS_TARGET_DIR     cargo target directory (default: $(OUTPUT)/hmm-rs-target)
#   HMM_RS_FEATURES       extra cargo arguments (e.g. --locked --offline)

ifndef HMM_RS_DIR
$(error HMM_RS_DIR must point at the hmm-rs checkout before including hmm-tests-rs.mk)
endif

HMM_RS_KSELFTEST := $(HMM_RS_DIR)/hmm-tests/kselftest
CARGO ?= cargo
HMM_RS_STATIC ?= 1
HMM_RS_FEATURES ?=

ifeq ($(HMM_RS_CARGO_TARGET),)
ifeq ($(ARCH),arm64)
HMM_RS_CARGO_TARGET := aarch64-unknown-linux-gnu
else
HMM_RS_CARGO_TARGET := $(shell uname -m)-unknown-linux-gnu
endif
endif

ifeq ($(HMM_RS_STATIC),1)
HMM_RS_RUSTFLAGS := -C target-feature=+crt-static
else
HMM_RS_RUSTFLAGS :=
endif

TEST_GEN_FILES += hmm-tests-rs
TEST_GEN_PROGS += test_hmm_rs.sh
EXTRA_CLEAN += $(OUTPUT)/hmm-rs-target

# Pattern rules (OUTPUT is only known once lib.mk is included). Cargo decides what is
# stale, so the binary rule always runs it.
.PHONY: hmm-rs-always
hmm-rs-always:

%/hmm-tests-rs: hmm-rs-always
	$(call msg,CARGO,,$@)
	$(Q)CARGO_TARGET_DIR="$(or $(HMM_RS_TARGET_DIR),$*/hmm-rs-target)" \
	  RUSTFLAGS="$(HMM_RS_RUSTFLAGS) $(RUSTFLAGS)" \
	  $(CARGO) build --release --manifest-path "$(HMM_RS_DIR)/Cargo.toml" \
	    -p hmm-tests --bin hmm-tests --target $(HMM_RS_CARGO_TARGET) $(HMM_RS_FEATURES)
	$(Q)install -m 0755 \
	  "$(or $(HMM_RS_TARGET_DIR),$*/hmm-rs-target)/$(HMM_RS_CARGO_TARGET)/release/hmm-tests" $@

%/test_hmm_rs.sh: hmm-rs-always
	$(call msg,INSTALL,,$@)
	$(Q)install -m 0755 "$(HMM_RS_KSELFTEST)/test_hmm_rs.sh" $@
