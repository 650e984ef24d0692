#!/bin/bash
# Runs inside the lab VM, booted with no driver by `cargo xtask lab bench` (as guest.sh's
# command): for each driver in turn, the C reference then the Rust module, load it, run
# hmm-bench on its devices, unload it. Both runs share the boot, the memory and the clock.
# Usage: bench-guest.sh OUTDIR HMM_BENCH C_KO RUST_KO ACCEL BUDGET [hmm-bench run options...]
#   RUST_KO empty: the Rust module is not available (the host says why); only C runs.
#   BUDGET: seconds one driver's hmm-bench may take; past it the run is declared hung: the
#   kernel stacks of its threads are printed, it is killed, and when it cannot be killed
#   (stuck in the kernel, so the driver cannot be unloaded either) the boot ends there.
# Writes OUTDIR/c.csv, OUTDIR/rust.csv (rewritten after every configuration, so a hung or
# killed run keeps what it measured) and OUTDIR/{c,rust}.status (ok, or what failed).
# With ROUNDS=N in the environment: N rounds, C first in odd rounds and Rust first in even
# ones, OUTDIR/{c,rust}.rK.csv each.
# With PERF_KINDS=KIND[,KIND…] in the environment, each driver's hmm-bench runs once per
# KIND under `perf record -D -1 --control fifo:…` (perf's events enabled only around the
# timed KIND operations, see hmm-bench/src/run/perf_gate.rs), writing OUTDIR/LABEL.KIND.csv and,
# from `perf report` before the driver is unloaded, OUTDIR/LABEL.KIND.perf.txt (by symbol)
# and OUTDIR/LABEL.KIND.perf-dso.txt (by object).
# With FTRACE_KINDS=KIND[,KIND…] (the trace profile's kernel: CONFIG_FUNCTION_GRAPH_TRACER),
# ftrace's function_graph tracer is selected and each driver's hmm-bench runs once per KIND
# with --ftrace-kind (its own process traced during each timed KIND operation only, see
# hmm-bench/src/run/ftrace_gate.rs), writing OUTDIR/LABEL.KIND.ftrace.txt.
# Exit code: 0 when every driver that was given loaded, ran and unloaded; 3 otherwise.
set -u
out=$1 bench=$2 c_ko=$3 rust_ko=$4 accel=$5 budget=$6
shift 6
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
        echo "load failed" > "$out/$tag.status"
        rc=3
        return
    fi
    say "$label: devices $(ls /dev/hmm_dmirror* 2>/dev/null | tr '\n' ' ')"
    local t0 brc=0 k
    t0=$(date +%s)
    modname=$name
    if [ -n "$perf_kinds" ]; then
        for k in ${perf_kinds//,/ }; do
            measure "$label" "$abi" "$out/$label.$k.csv" "$k" || brc=$?
        done
    elif [ -n "$ftrace_kinds" ]; then
        for k in ${ftrace_kinds//,/ }; do
            measure "$label" "$abi" "$out/$label.$k.csv" "" --ftrace-kind "$k" --ftrace-out "$out/$label.$k.ftrace.txt" || brc=$?
        done
    else
        measure "$label" "$abi" "$out/$tag.csv" "" || brc=$?
    fi
    say "$label: hmm-bench exit code $brc after $(( $(date +%s) - t0 ))s"
    if [ -e "$out/$tag.status" ]; then
        rc=3
    elif [ "$brc" = 0 ]; then
        echo ok > "$out/$tag.status"
    else
        echo "hmm-bench exit code $brc" > "$out/$tag.status"
        rc=3
    fi
    if ! rmmod "$name"; then
        say "$label: driver unload failed"
        echo "unload failed" >> "$out/$tag.status"
        rc=3
    fi
}

# LABEL ABI CSV PERF_KIND [hmm-bench options…]: one hmm-bench run (under perf when
# PERF_KIND is set), watched against the budget. Returns hmm-bench's exit code.
measure() {
    local label=$1 abi=$2 csv=$3 kind=$4 pid brc pd=""
    shift 4
    local runner=("$bench" run --driver-label "$label" --abi "$abi" --accel "$accel" --out "$csv" "${extra[@]}" "$@")
    if [ -n "$kind" ]; then
        # The FIFOs and perf.data live in the guest's own tmpfs: perf writes its ring buffer
        # out directly, which the shared host filesystem refuses (EFAULT).
        pd=$(mktemp -d /run/hmm-bench-perf.XXXXXX)
        mkfifo "$pd/ctl" "$pd/ack"
        runner=(perf record -q -e cpu-clock -F 1000 -D -1 --control "fifo:$pd/ctl,$pd/ack"
            -o "$pd/perf.data" -- "${runner[@]}" --perf-kind "$kind" --perf-ctl "$pd/ctl" --perf-ack "$pd/ack")
    fi
    "${runner[@]}" &
    pid=$!
    # The budget is one sleeping process, not a polling loop: under --icount a loop that
    # forked `date` and `awk` every second ran inside the timed samples now and then (one
    # vCPU) and added up to 28% to a row in one boot and not in the next.
    sleep "$budget" &
    local dog=$! first=""
    wait -n -p first "$pid" "$dog"
    brc=$?
    if [ "$first" = "$dog" ]; then
        hung "$label" "$pid" || exit 3
        wait "$pid"
        brc=$?
    else
        kill "$dog" 2>/dev/null
        wait "$dog" 2>/dev/null
    fi
    if [ -n "$pd" ]; then
        # Before the driver is unloaded: its symbols are in /proc/kallsyms only while loaded.
        # Every symbol from /proc/kallsyms (an empty --symfs: perf then splits the modules'
        # symbols out of it): the Rust module is loaded from outside /lib/modules, where perf
        # looks for a module's .ko, and would show as bare offsets.
        mkdir -p "$pd/nosyms"
        syms=(--symfs "$pd/nosyms" --kallsyms /proc/kallsyms)
        perf report -i "$pd/perf.data" "${syms[@]}" --stdio --sort sym --percent-limit 0.2 > "$out/$label.$kind.perf.txt" 2>&1
        perf report -i "$pd/perf.data" "${syms[@]}" --stdio --sort dso > "$out/$label.$kind.perf-dso.txt" 2>&1
        # The driver's own functions, all of them (their share of the whole profile).
        perf report -i "$pd/perf.data" "${syms[@]}" --stdio --sort sym --dsos "[$modname]" > "$out/$label.$kind.perf-mod.txt" 2>&1
        cp "$pd/perf.data" "$out/$label.$kind.perf.data"
        rm -rf "$pd"
        say "$label: $kind profile: $out/$label.$kind.perf.txt ($(grep -m1 '^# Samples' "$out/$label.$kind.perf.txt"))"
    fi
    return "$brc"
}

state() { awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null; }

# LABEL PID: the run exceeded its budget. Show where it is in the kernel, kill it.
# Returns 1 when it cannot be killed.
hung() {
    local label=$1 pid=$2 t
    say "$label: hmm-bench still running after ${budget}s: declared hung; kernel stacks of its threads:"
    for t in /proc/"$pid"/task/*; do
        echo "--- thread ${t##*/} ($(cat "$t/comm" 2>/dev/null)), state $(awk '/^State:/ {print $2, $3}' "$t/status" 2>/dev/null)"
        # syscall: number and arguments (an ioctl shows its request code); wchan: where it sleeps.
        echo "    syscall: $(cat "$t/syscall" 2>/dev/null || echo n/a), wchan: $(cat "$t/wchan" 2>/dev/null || echo n/a)"
        cat "$t/stack" 2>/dev/null
    done
    [ -w /proc/sysrq-trigger ] && echo w > /proc/sysrq-trigger   # blocked tasks, to the console log
    kill -KILL "$pid" 2>/dev/null
    sleep 3
    if kill -0 "$pid" 2>/dev/null && [ "$(state "$pid")" != Z ]; then
        say "$label: hmm-bench cannot be killed (state $(state "$pid"), stuck in the kernel): the driver cannot be unloaded; ending the boot here"
        echo "hung after ${budget}s, unkillable: boot ended" > "$out/$tag.status"
        return 1
    fi
    echo "hung after ${budget}s, killed" > "$out/$tag.status"
}

extra=("$@")
perf_kinds=${PERF_KINDS:-}
ftrace_kinds=${FTRACE_KINDS:-}
if [ -n "$ftrace_kinds" ]; then
    tr=/sys/kernel/tracing
    [ -e $tr/current_tracer ] || mount -t tracefs nodev $tr 2>/dev/null
    # function_graph, off until hmm-bench switches it on around a timed operation; no
    # interrupt handlers in the graph; 64 MiB of buffer per CPU. hmm-bench puts its own pid
    # in set_ftrace_pid; a pid is set here first, before the tracer starts, so that its
    # write only changes the list: switching pid filtering on while the tracer runs patches
    # kernel text (static_call_update of fgraph_func), and under TCG that patching once hit
    # a stale int3 in another task (Oops: int3 in function_graph_enter_regs, kernel panic).
    echo $$ > $tr/set_ftrace_pid
    if ! { echo 0 > $tr/tracing_on && echo function_graph > $tr/current_tracer; }; then
        say "ftrace: cannot select the function_graph tracer in $tr: is this the trace profile's kernel?"
        exit 3
    fi
    echo 0 > $tr/options/funcgraph-irqs
    echo 1 > $tr/options/funcgraph-tail
    echo 65536 > $tr/buffer_size_kb
    say "ftrace: function_graph tracer ready ($(cat $tr/buffer_size_kb) KiB per CPU)"
fi
# A quiet guest: nothing periodic that can run inside a timed sample on the bench's vCPU
# (under --icount one vCPU runs everything, and every instruction of another task counts).
# The soft-lockup watchdog (a stopper-thread wakeup every 4 s), proactive compaction
# (kcompactd every 500 ms), khugepaged's scans (every 10 s; they may also collapse the
# bench's MADV_HUGEPAGE buffers), the vmstat update (every second) and periodic writeback.
quiet() {
    local k=/sys/kernel/mm/transparent_hugepage/khugepaged
    echo 0 > /proc/sys/kernel/watchdog 2>/dev/null
    echo 0 > /proc/sys/vm/compaction_proactiveness 2>/dev/null
    echo 0 > /proc/sys/kernel/numa_balancing 2>/dev/null
    echo 3600 > /proc/sys/vm/stat_interval
    echo 0 > /proc/sys/vm/dirty_writeback_centisecs
    echo 3600000 > $k/scan_sleep_millisecs
    echo 3600000 > $k/alloc_sleep_millisecs
    say "quiet guest: watchdog $(cat /proc/sys/kernel/watchdog 2>/dev/null || echo n/a), compaction_proactiveness $(cat /proc/sys/vm/compaction_proactiveness), vmstat every $(cat /proc/sys/vm/stat_interval)s, writeback every $(cat /proc/sys/vm/dirty_writeback_centisecs)cs, khugepaged every $(cat $k/scan_sleep_millisecs)ms"
}
quiet
rm -f "$out"/c*.csv "$out"/rust*.csv "$out"/c*.status "$out"/rust*.status
say "kernel $(uname -r), accel $accel, thp=$(cat /sys/kernel/mm/transparent_hugepage/enabled), $(nproc) CPUs, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
rounds=${ROUNDS:-1}
run_c() {
    tag=c$sfx
    # shellcheck disable=SC2086 # $spm is two parameters
    one c "$c_ko" mainline $spm
}
run_rust() {
    if [ -n "$rust_ko" ]; then
        tag=rust$sfx
        # shellcheck disable=SC2086
        one rust "$rust_ko" patched $spm abi=patched
    else
        say "rust: no module given, skipped"
    fi
}
# Odd rounds C first, even rounds Rust first: neither driver always has the second slot
# (in one run MEMCPY, identical code, measured 0.86 in the second slot).
for ((round = 1; round <= rounds; round++)); do
    sfx=""
    [ "$rounds" -gt 1 ] && sfx=".r$round" && say "round $round of $rounds"
    if ((round % 2 == 1)); then run_c; run_rust; else run_rust; run_c; fi
done
# One status per driver over its rounds: "ok", or every distinct problem.
for label in c rust; do
    files=$(ls "$out/$label".r*.status 2>/dev/null) || continue
    # shellcheck disable=SC2086 # $files: the round status files
    probs=$(cat $files | grep -v '^ok$' | sort -u)
    if [ -n "$probs" ]; then echo "$probs" > "$out/$label.status"; else echo ok > "$out/$label.status"; fi
done
exit "$rc"
