#!/bin/bash
# Runs inside the lab VM (virtme-ng, host filesystem visible). Sets the guest up, loads the
# chosen driver, runs the command, unloads the driver.
# Usage: guest.sh RUNDIR   (RUNDIR/params is sourced: KO MODARGS THP HUGEPAGES PRIVATE_TMP WS CWD CMD)
# Writes RUNDIR/output (the command's output) and RUNDIR/rc (the command's exit code, or
# the driver load/unload failure).
set -u
run=$1
# shellcheck source=/dev/null
. "$run/params"
out=$run/output
: > "$out"
say() { echo "[lab] $*" | tee -a "$out"; echo "[lab] $*" > /dev/kmsg; }

mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
# The suites make O_TMPFILE files in /tmp, which the guest's 9p view of the host does not
# support: with PRIVATE_TMP=1 (lab test) the guest gets its own tmpfs /tmp and /var/tmp.
# Paths under /tmp that the run needs (a checkout in /tmp, the run directory) are bound back
# into the new /tmp from the host's view.
if [ "$PRIVATE_TMP" = 1 ]; then
    mkdir -p /run/lab-host-tmp
    mount --bind /tmp /run/lab-host-tmp
    mount -t tmpfs -o size=1G tmpfs /tmp
    mount -t tmpfs -o size=1G tmpfs /var/tmp
    for p in "$WS" "$run" "$CWD"; do
        case "$p" in
            /tmp/*)
                if ! mountpoint -q "$p"; then
                    mkdir -p "$p"
                    mount --bind "/run/lab-host-tmp/${p#/tmp/}" "$p"
                fi ;;
        esac
    done
fi
echo "$THP" > /sys/kernel/mm/transparent_hugepage/enabled
echo "$HUGEPAGES" > /proc/sys/vm/nr_hugepages
say "kernel $(uname -r), thp=$(cat /sys/kernel/mm/transparent_hugepage/enabled), hugepages=$(cat /proc/sys/vm/nr_hugepages)"

rc=0
if [ -n "$KO" ]; then
    say "insmod $KO $MODARGS"
    # shellcheck disable=SC2086
    if ! insmod "$KO" $MODARGS >> "$out" 2>&1; then
        say "driver load failed"; echo 3 > "$run/rc"; sync; exit 3
    fi
    # The lab always passes the SPM ranges: all four devices (two private, two coherent) must
    # be there, or half the suite would only skip.
    for i in $(seq 50); do
        [ -c /dev/hmm_dmirror3 ] && break
        sleep 0.1
    done
    say "devices: $(ls /dev/hmm_dmirror* 2>/dev/null | tr '\n' ' ')"
    for n in 0 1 2 3; do
        if [ ! -c "/dev/hmm_dmirror$n" ]; then
            say "device /dev/hmm_dmirror$n missing after insmod"; rmmod "$(basename "$KO" .ko)"
            echo 3 > "$run/rc"; sync; exit 3
        fi
    done
fi

cd "$CWD" || exit 2
"${CMD[@]}" >> "$out" 2>&1 < /dev/null
rc=$?
say "command exit code $rc"

if [ -n "$KO" ]; then
    name=$(basename "$KO" .ko)
    # A driver whose device pages leaked cannot finish memunmap_pages(): rmmod then sleeps
    # forever in D state. Give it UNLOAD_TIMEOUT seconds, then say so, show where it sleeps,
    # and end the boot (exit code 3) instead of waiting for the host's boot timeout.
    rmmod "$name" >> "$out" 2>&1 &
    rm_pid=$!
    t=0
    while kill -0 "$rm_pid" 2>/dev/null && [ "$t" -lt "${UNLOAD_TIMEOUT:-300}" ]; do
        sleep 1; t=$((t + 1))
    done
    if kill -0 "$rm_pid" 2>/dev/null; then
        say "driver unload hung: rmmod still running after ${t}s ($(awk '/^State:/ {print $2, $3}' /proc/$rm_pid/status 2>/dev/null), wchan $(cat /proc/$rm_pid/wchan 2>/dev/null || echo n/a))"
        cat /proc/$rm_pid/stack >> "$out" 2>/dev/null
        echo 3 > "$run/rc"; sync
        reboot -f
    fi
    if ! wait "$rm_pid"; then
        say "driver unload failed"; [ "$rc" = 0 ] && rc=3
    fi
fi
echo "$rc" > "$run/rc"
sync
exit "$rc"
