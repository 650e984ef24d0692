#!/bin/bash
# Runs inside the lab VM, booted with no driver by `cargo xtask lab robust` (as guest.sh's
# command): for each driver in turn, the C reference then the Rust module, load it and run
# the robustness battery (hmm-robust fuzz, hmm-robust stress, lifecycle checks), unload it.
# Usage: robust-guest.sh OUTDIR HMM_ROBUST C_KO RUST_KO SEED REQUESTS SECONDS THREADS BUDGET CYCLES
#   C_KO / RUST_KO empty: that driver is not run (--rust-only; the Rust module is missing).
#   BUDGET: seconds one step (fuzz, stress) may take before it is killed.
# Writes OUTDIR/{c,rust}.summary (key=value lines, appended step by step so a crash keeps
# what was done), OUTDIR/{c,rust}.{fuzz,stress,life}.log. Markers "[robust] === LABEL: begin"
# and "[robust] === LABEL: end" go to /dev/kmsg so the console log can be split per driver.
set -u
out=$1 bin=$2 c_ko=$3 rust_ko=$4 seed=$5 requests=$6 seconds=$7 threads=$8 budget=$9 cycles=${10}
spm="spm_addr_dev0=0x100000000 spm_addr_dev1=0x110000000"
say() { echo "[robust] $*"; echo "[robust] $*" > /dev/kmsg; }

state() { awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null; }

# step LABEL LOG CMD...: run CMD with output to LOG; past $budget seconds it is declared hung:
# the kernel stacks and syscalls of its threads are printed (an ioctl shows its request code
# and cmd pointer), blocked tasks go to the console (sysrq w), and it is killed. Returns the
# exit code (124: hung and killed, 125: hung and unkillable).
step() {
    local label=$1 log=$2 t0 pid t
    shift 2
    local limit=$budget oops0
    oops0=$(dmesg | grep -cE 'Oops:|kernel BUG at')
    t0=$(date +%s)
    "$@" > "$log" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null && [ "$(state "$pid")" != Z ]; do
        # After an Oops the process rarely gets anywhere: 30 s more, not the whole budget.
        if [ "$limit" = "$budget" ] && [ "$(dmesg | grep -cE 'Oops:|kernel BUG at')" != "$oops0" ]; then
            limit=$(( $(date +%s) - t0 + 30 ))
            say "$label: kernel Oops during $2: giving it 30 s"
        fi
        if [ $(( $(date +%s) - t0 )) -ge "$limit" ]; then
            say "$label: $2 still running after $(( $(date +%s) - t0 ))s: declared hung; kernel stacks of its threads:"
            for t in /proc/"$pid"/task/*; do
                echo "--- thread ${t##*/}, state $(awk '/^State:/ {print $2, $3}' "$t/status" 2>/dev/null)"
                echo "    syscall: $(cat "$t/syscall" 2>/dev/null || echo n/a), wchan: $(cat "$t/wchan" 2>/dev/null || echo n/a)"
                cat "$t/stack" 2>/dev/null
            done | tee -a "$log"
            for c in $(pgrep -P "$pid"); do echo "--- child $c: $(cat /proc/$c/syscall 2>/dev/null)"; cat /proc/$c/stack 2>/dev/null; done | tee -a "$log"
            [ -e "/tmp/robust-inflight-$label" ] && say "$label: request in flight: $(cat "/tmp/robust-inflight-$label")"
            # blocked tasks, to the console log
            [ -w /proc/sysrq-trigger ] && echo w > /proc/sysrq-trigger
            pkill -KILL -P "$pid" 2>/dev/null
            kill -KILL "$pid" 2>/dev/null
            sleep 3
            # Stuck when any thread is left (a zombie leader waits for its D-state threads).
            if [ -n "$(for t in /proc/"$pid"/task/*; do [ -e "$t/status" ] && awk '/^State:/ && $2 != "Z" {print}' "$t/status"; done 2>/dev/null)" ]; then
                say "$label: cannot be killed (stuck in the kernel)"
                return 125
            fi
            wait "$pid"
            return 124
        fi
        sleep 1
    done
    wait "$pid"
}

loaded() { grep -q "^$1 " /proc/modules; }

# wait_file PATH SECONDS PID: wait until PATH exists (0), the holder PID died (1) or the time ran out (2).
wait_file() {
    local i=0
    while [ ! -e "$1" ]; do
        kill -0 "$3" 2>/dev/null || { [ -e "$1" ] && return 0; return 1; }
        i=$((i + 1))
        [ "$i" -gt $(( $2 * 10 )) ] && return 2
        sleep 0.1
    done
    return 0
}

# LABEL KO ABI EXCLUDE MODARGS...   (EXCLUDE: fuzz options for requests known to hang it)
one() {
    local label=$1 ko=$2 abi=$3 exclude=$4
    shift 4
    local name sum log rc line d hp
    name=$(basename "$ko" .ko)
    sum=$out/$label.summary
    rm -f "$out/$label".*
    : > "$sum"
    sync
    echo 3 > /proc/sys/vm/drop_caches
    say "=== $label: begin (insmod $ko $*)"
    if ! insmod "$ko" "$@"; then
        say "$label: driver load failed"
        echo "load=failed" >> "$sum"
        say "=== $label: end"
        return
    fi
    echo "load=ok" >> "$sum"
    say "$label: devices $(ls /dev/hmm_dmirror* 2>/dev/null | tr '\n' ' ')"

    # 1. The fuzzer.
    log=$out/$label.fuzz.log
    say "$label: fuzz --seed $seed --requests $requests --abi $abi"
    echo "fuzz_rc=did-not-finish" >> "$sum"
    # shellcheck disable=SC2086 # $exclude: zero or more options
    step "$label" "$log" "$bin" fuzz --seed "$seed" --requests "$requests" --abi "$abi" --progress-file "/tmp/robust-inflight-$label" --max-seconds $(( budget > 120 ? budget - 60 : budget )) $exclude
    rc=$?
    line=$(grep '^hmm-robust fuzz: .*result=' "$log" | tail -1)
    grep -E '^(  |problem:|hmm-robust)' "$log" | tail -120
    say "$label: fuzz exit code $rc"
    { echo "fuzz_rc=$rc"; echo "fuzz_line=$line"; } >> "$sum"
    if [ "$rc" = 125 ]; then echo "unload=stuck" >> "$sum"; say "=== $label: end (stuck)"; exit 0; fi

    # 1b. Regression: CHECK_EXCLUSIVE over 2^40 pages must return at once (the C driver spins
    #     unkillably on it, so it only runs where the fuzz did not exclude it).
    if [ -z "$exclude" ]; then
        log=$out/$label.repro.log
        step "$label" "$log" "$bin" repro check-exclusive-huge --npages $((1 << 40)) --abi "$abi"
        rc=$?
        cat "$log"
        say "$label: repro check-exclusive-huge exit code $rc"
        echo "repro_rc=$rc" >> "$sum"
        if [ "$rc" = 125 ]; then echo "unload=stuck" >> "$sum"; say "=== $label: end (stuck)"; exit 0; fi
    fi

    # 2. The stress (threads, a forked child, close-while-busy, two files, RELEASE under load).
    log=$out/$label.stress.log
    say "$label: stress --seed $seed --seconds $seconds --threads $threads --abi $abi"
    echo "stress_rc=did-not-finish" >> "$sum"
    step "$label" "$log" "$bin" stress --seed "$seed" --seconds "$seconds" --threads "$threads" --abi "$abi" --no-release
    rc=$?
    line=$(grep '^hmm-robust stress: .*result=' "$log" | tail -1)
    grep -E '^(operations|problem:|hmm-robust)' "$log" | tail -60
    say "$label: stress exit code $rc"
    { echo "stress_rc=$rc"; echo "stress_line=$line"; } >> "$sum"
    if [ "$rc" = 125 ]; then echo "unload=stuck" >> "$sum"; say "=== $label: end (stuck)"; exit 0; fi

    # 3. Lifecycle. rmmod while a file is open / while the device file is mapped: refused.
    log=$out/$label.life.log
    : > "$log"
    for what in fd mmap; do
        d=$(mktemp -d)
        "$bin" hold --what "$what" --dir "$d" --abi "$abi" >> "$log" 2>&1 &
        hp=$!
        if wait_file "$d/ready1" 300 "$hp"; then
            if rmmod "$name" >> "$log" 2>&1; then
                say "$label: rmmod with a $what held: UNLOADED (must be refused)"
                echo "life_$what=UNLOADED" >> "$sum"
            else
                say "$label: rmmod with a $what held: refused"
                echo "life_$what=refused" >> "$sum"
            fi
            touch "$d/go1"
        else
            say "$label: hold $what did not get ready"
            echo "life_$what=holder-failed" >> "$sum"
        fi
        wait "$hp"
        echo "hold $what exit code $?" >> "$log"
        loaded "$name" || insmod "$ko" "$@" >> "$log" 2>&1
        rm -rf "$d"
    done
    # Device pages mapped in a live process: with the files open (refused), then with the
    # files closed (refused or a clean unload); the pages must read back right either way.
    d=$(mktemp -d)
    "$bin" hold --what pages --dir "$d" --abi "$abi" >> "$log" 2>&1 &
    hp=$!
    if wait_file "$d/ready1" 300 "$hp"; then
        if rmmod "$name" >> "$log" 2>&1; then
            echo "life_pages_open=UNLOADED" >> "$sum"
        else
            echo "life_pages_open=refused" >> "$sum"
        fi
        touch "$d/go1"
        if wait_file "$d/ready2" 300 "$hp"; then
            if loaded "$name"; then
                if rmmod "$name" >> "$log" 2>&1; then
                    echo "life_pages_closed=unloaded" >> "$sum"
                else
                    echo "life_pages_closed=refused" >> "$sum"
                fi
            fi
            touch "$d/go2"
        fi
    else
        echo "life_pages_open=holder-failed" >> "$sum"
    fi
    wait "$hp"
    rc=$?
    echo "hold pages exit code $rc" >> "$log"
    if [ "$rc" = 0 ]; then echo "life_pages_verify=ok" >> "$sum"; else echo "life_pages_verify=FAIL($rc)" >> "$sum"; fi
    say "$label: lifecycle: $(grep '^life_' "$sum" | tr '\n' ' ')"
    rm -rf "$d"
    # Load/unload cycles, each with a migrate-and-verify round trip.
    local ok=0 i
    for i in $(seq 1 "$cycles"); do
        if loaded "$name" && ! rmmod "$name" >> "$log" 2>&1; then
            echo "cycle $i: rmmod failed" >> "$log"
            break
        fi
        insmod "$ko" "$@" >> "$log" 2>&1 || { echo "cycle $i: insmod failed" >> "$log"; break; }
        "$bin" smoke --abi "$abi" >> "$log" 2>&1 && ok=$((ok + 1))
    done
    echo "life_cycles=$ok/$cycles" >> "$sum"
    cat "$log"
    # RELEASE under load, last (it is the step most likely to leave the driver stuck): the
    # stress again, shorter, with a thread issuing RELEASE every 200-800 ms.
    loaded "$name" || insmod "$ko" "$@"
    local rs=$(( seconds < 20 ? seconds : 20 ))
    say "$label: RELEASE under load: stress --seconds $rs"
    echo "life_release=did-not-finish" >> "$sum"
    step "$label" "$out/$label.release.log" "$bin" stress --seed "$seed" --seconds "$rs" --threads "$threads" --abi "$abi" --no-fork
    rc=$?
    line=$(grep '^hmm-robust stress: .*result=' "$out/$label.release.log" | tail -1)
    grep -E '^(problem:|hmm-robust)' "$out/$label.release.log" | tail -20
    case $rc in
        0) echo "life_release=ok" >> "$sum" ;;
        124|125) echo "life_release=HUNG" >> "$sum" ;;
        *) echo "life_release=FAIL($rc)" >> "$sum" ;;
    esac
    echo "release_line=$line" >> "$sum"
    if [ "$rc" = 125 ]; then echo "unload=stuck" >> "$sum"; say "=== $label: end (stuck)"; exit 0; fi
    if loaded "$name"; then
        if rmmod "$name"; then echo "unload=ok" >> "$sum"; else echo "unload=failed" >> "$sum"; say "$label: unload failed"; fi
    else
        echo "unload=ok" >> "$sum"
    fi
    say "=== $label: end"
    sync
}

echo 64 > /proc/sys/vm/nr_hugepages
say "kernel $(uname -r), thp=$(cat /sys/kernel/mm/transparent_hugepage/enabled), hugepages=$(cat /proc/sys/vm/nr_hugepages), $(nproc) CPUs, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
# The C driver spins unkillably on CHECK_EXCLUSIVE with a huge npages (one look-up per page,
# no resched, no signal check: dmirror_check_atomic()): generated but not sent to it, so
# that the rest of the battery runs; the finding and its reproducer (hmm-robust repro
# check-exclusive-huge) are in hmm-robust/README.md. The Rust module visits the mapped
# entries only (ioctl/exclusive.rs): it gets them all, and the reproducer as a regression.
if [ -n "$c_ko" ]; then
    # shellcheck disable=SC2086 # $spm is two parameters
    one c "$c_ko" mainline "--exclude huge-npages:CHECK_EXCLUSIVE" $spm
fi
if [ -n "$rust_ko" ]; then
    # shellcheck disable=SC2086
    one rust "$rust_ko" patched "" $spm abi=patched
else
    say "rust: no module given, skipped"
fi
exit 0
