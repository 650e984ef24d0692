# The lab's kselftest build of hmm-rs: the mm collection reduced to what
# hmm-tests/kselftest/hmm-tests-rs.mk adds to it, built by the kernel's own lib.mk. Used as
#   make -C <tree>/tools/testing/selftests/mm -f <this file> HMM_RS_DIR=<checkout> \
#        OUTPUT=<dir> INSTALL_PATH=<install>/mm install
# (the other mm tests are not built: the lab runs only mm:test_hmm_rs.sh). The top-level
# selftests Makefile's share of `make install` (run_kselftest.sh, kselftest/, the test list)
# is done by xtask/src/kselftest.rs.
include $(HMM_RS_DIR)/hmm-tests/kselftest/hmm-tests-rs.mk
include ../lib.mk
