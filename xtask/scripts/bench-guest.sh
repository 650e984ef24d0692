#!/bin/bash
# Runs inside the lab VM, booted with no driver by `cargo xtask lab bench` (as guest.sh's
# command): for each driver in turn, the C reference then the Rust module, load it, run
# hmm-bench on its devices, unload it. Both runs share the boot, the memory and the clock.
# Usage: bench-guest.sh OUTDIR HMM_BENCH C_KO RUST_KO ACCEL [hmm-bench run options...]
#   RUST_KO empty: the Rust module is not available (the host says why); only C runs.
# Writes OUTDIR/c.csv, OUTDIR/rust.csv and OUTDIR/{c,rust}.status (ok, or what failed).
# Exit code: 0 when every driver that was given loaded, ran and unloaded; 3 otherwise.
set -u
out=$1 bench=$2 c_ko=$3 rust_ko=$4 accel=$5
shift 5
spm="spm_addr_dev0=0x100000000 spm_addr_dev1=0x110000000"
rc=0
say() { echo "[bench] $*"; echo "[bench] $*" > /dev/kmsg; }

# LABEL KO ABI MODARGS...
one() {
    local label=$1 ko=$2 abi=$3
    shift 3
    local name
    name=$(basename "$ko" .ko)
    # The same starting point for both drivers: free page cache, compact for THP.
    sync
    echo 3 > /proc/sys/vm/drop_caches
    echo 1 > /proc/sys/vm/compact_memory 2>/dev/null
    say "=== $label: insmod $ko $*"
    if ! insmod "$ko" "$@"; then
        say "$label: driver load failed"
        echo "load failed" > "$out/$label.status"
        rc=3
        return
    fi
    say "$label: devices $(ls /dev/hmm_dmirror* 2>/dev/null | tr '\n' ' ')"
    local t0 brc
    t0=$(date +%s)
    "$bench" run --driver-label "$label" --abi "$abi" --accel "$accel" --out "$out/$label.csv" "${extra[@]}"
    brc=$?
    say "$label: hmm-bench exit code $brc after $(( $(date +%s) - t0 ))s"
    if [ "$brc" = 0 ]; then echo ok > "$out/$label.status"; else echo "hmm-bench exit code $brc" > "$out/$label.status"; rc=3; fi
    if ! rmmod "$name"; then
        say "$label: driver unload failed"
        echo "unload failed" >> "$out/$label.status"
        rc=3
    fi
}

extra=("$@")
rm -f "$out"/c.csv "$out"/rust.csv "$out"/c.status "$out"/rust.status
say "kernel $(uname -r), accel $accel, thp=$(cat /sys/kernel/mm/transparent_hugepage/enabled), $(nproc) CPUs, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
one c "$c_ko" mainline $spm
if [ -n "$rust_ko" ]; then
    one rust "$rust_ko" patched $spm abi=patched
else
    say "rust: no module given, skipped"
fi
exit "$rc"
