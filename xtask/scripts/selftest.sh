#!/usr/bin/env bash
# Runs inside the build chroot: builds the upstream C hmm-tests from the same kernel tree,
# statically (it then runs on whatever root filesystem the guest has).
# Usage: selftest.sh OUT
set -euo pipefail
out=$1
mm=/build/src/tools/testing/selftests/mm
cd "$mm"
gcc -static -Wall -O2 -U_FORTIFY_SOURCE -I /build/src -I /build/src/tools/testing/selftests \
    -I /build/src/tools/include/uapi \
    hmm-tests.c vm_util.c hugepage_settings.c -lrt -lpthread -lm -o "$out"
echo "== built $out"
