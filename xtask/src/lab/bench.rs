//! `cargo xtask lab bench`: hmm-bench against the C driver and the Rust module in ONE boot.
//!
//! The guest boots with no driver; `scripts/bench-guest.sh` loads the C reference, runs
//! `hmm-bench run`, unloads it, then does the same for the Rust module (when it built).
//! Back on the host, `hmm-bench report` merges the CSVs into
//! `target/lab/bench/<timestamp>/results.csv`, draws `plots/*.svg` and prints the Rust/C
//! table, which is also kept as `table.txt`. A missing or unloadable Rust module is said
//! clearly and leaves its ratios n/a; the C numbers stand on their own.
use super::env;
use super::options::{Abi, Driver};
use crate::kernel::Profile;
use crate::vm::VmRun;
use crate::{accel, cache, logscan};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Under `--icount`, the guest sleeps this long before each timed sample (`hmm-bench run
/// --settle-ms`): 2.5 ticks at the lab kernel's HZ=250, enough for an RCU grace period on
/// one CPU.
const SETTLE_MS: u64 = 10;

/// Repetitions under `--icount` (`--quick`, full), where the wall-clock default is 3 and 5.
const ICOUNT_REPS_QUICK: u32 = 8;
/// See [`ICOUNT_REPS_QUICK`].
const ICOUNT_REPS_FULL: u32 = 10;

/// Options of `lab bench`.
#[derive(Args, Clone)]
pub struct BenchOpts {
    /// Quick mode: sizes 4K,64K,1M,16M, 3 repetitions (default: 4K..256M, 5 repetitions).
    #[arg(long)]
    quick: bool,
    /// Buffer sizes (overrides the mode's), e.g. 4K,1M,64M.
    #[arg(long)]
    sizes: Option<String>,
    /// Timed repetitions (overrides the mode's: 3 quick, 5 full; under `--icount` 8 and 10).
    #[arg(long)]
    reps: Option<u32>,
    /// Benchmark the C driver only, even when the Rust module builds.
    #[arg(long)]
    c_only: bool,
    /// Kernel profile (fast: the debug profile's checks would dominate the numbers).
    #[arg(long, value_enum, default_value = "fast")]
    profile: Profile,
    /// Seconds one driver's run may take before it is declared hung, its kernel stacks
    /// shown and it is killed (default: 240 quick, 1500 full; 10x under `--icount`, where
    /// it is guest time and idle time passes as fast as the host lets it).
    #[arg(long)]
    driver_timeout: Option<u64>,
    /// Limit for the whole boot, in seconds (default: 2 driver timeouts + 10 minutes).
    #[arg(long)]
    timeout: Option<u64>,
    /// Rounds: N times both drivers in the boot (C first in odd rounds, Rust first in even
    /// ones); each row keeps its best round (both drivers alike: interference on a shared
    /// host only adds time).
    #[arg(long, default_value_t = 1)]
    rounds: u32,
    /// Page modes (default: both), e.g. `4k` or `thp`.
    #[arg(long)]
    pages: Option<String>,
    /// Device numbers (repeatable; default: 0 and 2).
    #[arg(long)]
    device: Vec<u32>,
    /// Profile request kinds instead of measuring them, e.g. `READ,FAULT_BACK` (READ, WRITE,
    /// MIGRATE_TO_DEV, MIGRATE_ON_FAULT_TO_DEV, MIGRATE_TO_SYS, FAULT_BACK, MEMCPY): for each
    /// driver and kind, one hmm-bench run under perf, sampling only the timed operations of
    /// that kind; writes `{c,rust}.KIND.perf.txt` and a side-by-side `profile.txt`, no
    /// ratio table (perf's overhead is in those timings).
    #[arg(long)]
    perf: Option<String>,
    /// Trace kernel calls instead of measuring, e.g. `FAULT_BACK,MIGRATE_TO_SYS`: boots the
    /// trace profile's kernel (ftrace's function_graph tracer; built on first use), runs
    /// each driver's hmm-bench once per kind with its own process traced during each timed
    /// operation of the kind, writes `{c,rust}.KIND.ftrace.txt` and a side-by-side
    /// `ftrace.txt` (calls, self and inclusive µs per operation), no ratio table.
    #[arg(long, conflicts_with = "perf")]
    ftrace: Option<String>,
    /// Guest vCPUs (the lab's other commands use `vm::CPUS`; `--icount` implies 1).
    #[arg(long, default_value_t = crate::vm::CPUS)]
    cpus: u32,
    /// Instruction time: boot TCG with QEMU's `-icount shift=0,sleep=off` and one vCPU, so the
    /// guest clock counts executed instructions (the same code measures the same between
    /// boots); rows say `tcg-icount` in their accel column.
    #[arg(long)]
    icount: bool,
    /// Milliseconds the guest sleeps before each timed sample (`hmm-bench run --settle-ms`;
    /// default: 10 under `--icount`, else 0).
    #[arg(long)]
    settle_ms: Option<u64>,
}

/// Build hmm-bench in release mode on the host (the guest sees the host's files).
fn build_bench(log: &Path) -> Result<PathBuf> {
    crate::suite::build_release_bin("hmm-bench", "hmm-bench", log)
}

/// `hmm-bench ARGS` on the host (`what`: its subcommand, for errors); its standard output.
fn host_report(bin: &Path, what: &str, args: &[std::ffi::OsString]) -> Result<String> {
    let out = Command::new(bin)
        .args(args)
        .output()
        .with_context(|| format!("run hmm-bench {what}"))?;
    if !out.status.success() {
        bail!(
            "hmm-bench {what} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The guest's vCPUs: one under `--icount` (icount implies single-threaded TCG), else
/// `--cpus`.
fn guest_cpus(o: &BenchOpts) -> u32 {
    if o.icount {
        1
    } else {
        o.cpus
    }
}

/// What `table.txt` says first about the boot.
struct Header<'a> {
    profile: &'a str,
    config: &'a str,
    accel: &'a str,
    cpus: u32,
    c_status: &'a str,
    rust: &'a str,
}

/// The first lines of `table.txt`: kernel by version, profile and `.config` hash, accel,
/// vCPUs, each driver by what it is (no path of the machine that ran it).
fn header(h: &Header<'_>) -> String {
    format!(
        "hmm-bench, one boot of Linux 7.3.4 ({} profile, .config {}), accel {}, {} vCPU{}\n\
         C driver: lib/test_hmm.ko of that kernel ({})\nRust module: {}\n\n",
        h.profile,
        h.config,
        h.accel.to_uppercase(),
        h.cpus,
        if h.cpus == 1 { "" } else { "s" },
        h.c_status,
        h.rust
    )
}

/// The kernel's configuration by its hash (as the lab's cache names it), not by the path of
/// this machine's cache.
fn config_key(src: &Path) -> String {
    std::fs::read(src.join(".config"))
        .map(|t| cache::key([t.as_slice()]))
        .unwrap_or_else(|_| "unknown".into())
}

/// The commit the module was built from: the workspace's `HEAD`, `-dirty` when `kmod/` has
/// uncommitted changes (changes elsewhere do not change the module).
fn source_commit() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(cache::workspace())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short=7", "HEAD"]) {
        Some(head) => match git(&["status", "--porcelain", "--", "kmod"]) {
            Some(changes) if !changes.is_empty() => format!("{head}-dirty"),
            _ => head,
        },
        None => "(commit unknown)".into(),
    }
}

/// Run `lab bench`; returns the exit code.
pub fn run(o: BenchOpts) -> Result<i32> {
    let profile = if o.ftrace.is_some() {
        Profile::Trace
    } else {
        o.profile
    };
    let base = env::prepare(profile)?;
    let (c_ko, rust_ko, rust_why) = env::both_drivers(&base, o.c_only)?;
    let env::Base {
        root, vng, kernel, ..
    } = base;
    match &rust_ko {
        Some(k) => eprintln!("    Rust module: {}", k.display()),
        None => eprintln!("==> Rust module NOT available ({rust_why}): benchmarking the C driver alone; Rust/C ratios will be n/a"),
    }
    let bin = build_bench(&root.join("bench-build.log"))?;
    let kvm = !o.icount && accel::kvm(&vng, &kernel.src, &root)?;
    let accel = match (kvm, o.icount) {
        (true, _) => "kvm",
        (false, true) => "tcg-icount",
        (false, false) => "tcg",
    };
    let cpus = guest_cpus(&o);

    let dir = cache::workspace()
        .join("target/lab/bench")
        .join(cache::timestamp());
    std::fs::create_dir_all(&dir)?;
    let mut cmd: Vec<String> = vec![
        "bash".into(),
        cache::xtask_dir()
            .join("scripts/bench-guest.sh")
            .display()
            .to_string(),
        dir.display().to_string(),
        bin.display().to_string(),
        c_ko.display().to_string(),
        rust_ko
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        accel.into(),
    ];
    // Under --icount the budget is guest time, where idle time passes as fast as the host
    // lets it (the clock jumps to the next timer whenever the vCPU waits, e.g. for the
    // shared filesystem: the same quick run of the C driver took 113 s and 442 s of guest
    // time in two boots, against 20 s of instructions): 10x as much.
    let budget = o
        .driver_timeout
        .unwrap_or(if o.quick { 240 } else { 1500 } * if o.icount { 10 } else { 1 });
    cmd.push(budget.to_string());
    if o.quick {
        cmd.push("--quick".into());
    }
    if let Some(s) = &o.sizes {
        cmd.extend(["--sizes".into(), s.clone()]);
    }
    // Instruction time takes each row's minimum, which settles with more samples (a 16 MiB
    // THP FAULT_BACK of the Rust module varied by 2% between its own samples), and its
    // samples cost no more wall time than the preparation around them.
    let reps = o.reps.or(o.icount.then_some(if o.quick {
        ICOUNT_REPS_QUICK
    } else {
        ICOUNT_REPS_FULL
    }));
    if let Some(r) = reps {
        cmd.extend(["--reps".into(), r.to_string()]);
    }
    if let Some(p) = &o.pages {
        cmd.extend(["--pages".into(), p.clone()]);
    }
    for d in &o.device {
        cmd.extend(["--device".into(), d.to_string()]);
    }
    // Idle time is free in instruction time: let pending work (RCU callbacks, kworkers) run
    // before each timed sample instead of inside it.
    let settle = o.settle_ms.unwrap_or(if o.icount { SETTLE_MS } else { 0 });
    if settle > 0 {
        cmd.extend(["--settle-ms".into(), settle.to_string()]);
    }
    if let Some(k) = &o.perf {
        cmd.splice(0..0, ["env".to_string(), format!("PERF_KINDS={k}")]);
    } else if let Some(k) = &o.ftrace {
        cmd.splice(0..0, ["env".to_string(), format!("FTRACE_KINDS={k}")]);
    } else if o.rounds > 1 {
        cmd.splice(0..0, ["env".to_string(), format!("ROUNDS={}", o.rounds)]);
    }
    let timeout = o
        .timeout
        .unwrap_or(2 * u64::from(o.rounds.max(1)) * budget + 600);
    eprintln!(
        "==> boot 7.3.4 ({}, {}, no driver; bench-guest.sh loads C then Rust), bench dir {}",
        kernel.profile.name(),
        accel.to_uppercase(),
        dir.display()
    );
    let run = VmRun {
        vng: &vng,
        tree: &kernel.src,
        kvm,
        dir: dir.clone(),
        ko: None,
        modargs: String::new(),
        thp: "madvise".into(),
        hugepages: 0,
        cmd,
        timeout: Duration::from_secs(timeout),
        stream: true,
        private_tmp: false,
        cpus,
        icount: o.icount,
    };
    let r = run.run()?;
    r.print_elapsed();
    let mut code = r.exit_code("lab bench", timeout);
    // The C reference's known WARNs (xtask/known-failures.txt) are printed with their count;
    // any other report fails the bench.
    let known = crate::known::load(Driver::C, Abi::Mainline, "madvise")?;
    let unexcused = crate::verdict::reports(&logscan::scan_file(&r.console), &known, &r.console);
    if unexcused > 0 && code == 0 {
        code = 1;
    }

    if let Some(kinds) = &o.perf {
        let mut text = String::new();
        for k in kinds.split(',') {
            text.push_str(&crate::profile::side_by_side(&dir, k)?);
            text.push('\n');
        }
        std::fs::write(dir.join("profile.txt"), &text)?;
        println!("\n{text}");
        println!("profile: {}", dir.join("profile.txt").display());
        return Ok(code);
    }
    if let Some(kinds) = &o.ftrace {
        let mut args: Vec<std::ffi::OsString> =
            vec!["ftrace-report".into(), "--kinds".into(), kinds.into()];
        args.extend(["--dir".into(), dir.clone().into_os_string()]);
        let text = host_report(&bin, "ftrace-report", &args)?;
        std::fs::write(dir.join("ftrace.txt"), text.as_bytes())?;
        println!("\n{text}");
        println!("ftrace: {}", dir.join("ftrace.txt").display());
        return Ok(code);
    }
    let status = |d: &str| {
        std::fs::read_to_string(dir.join(format!("{d}.status")))
            .unwrap_or_default()
            .trim()
            .replace('\n', "; ")
    };
    // c.csv / rust.csv, or c.r1.csv, rust.r1.csv, … with rounds.
    let mut inputs: Vec<PathBuf> = Vec::new();
    for d in ["c", "rust"] {
        inputs.push(dir.join(format!("{d}.csv")));
        inputs.extend((1..=o.rounds).map(|r| dir.join(format!("{d}.r{r}.csv"))));
    }
    inputs.retain(|p| p.exists());
    if inputs.is_empty() {
        bail!(
            "no results: neither driver produced a CSV (see {})",
            dir.join("output").display()
        );
    }
    let mut args: Vec<std::ffi::OsString> = vec!["report".into()];
    for p in &inputs {
        args.extend(["--csv".into(), p.clone().into_os_string()]);
    }
    args.extend(["--out-dir".into(), dir.clone().into_os_string()]);
    let report = host_report(&bin, "report", &args)?;
    let mut text = header(&Header {
        profile: kernel.profile.name(),
        config: &config_key(&kernel.src),
        accel,
        cpus,
        c_status: &status("c"),
        rust: &match &rust_ko {
            Some(_) => format!(
                "test_hmm_rs.ko of hmm-rs {} ({})",
                source_commit(),
                status("rust")
            ),
            None => format!("NOT available: {rust_why}"),
        },
    });
    text.push_str(&report);
    std::fs::write(dir.join("table.txt"), &text)?;
    println!("\n{text}");
    println!("table: {}", dir.join("table.txt").display());
    println!("plots: {}", dir.join("plots").display());

    // target/lab/bench/latest → this run.
    let latest = dir.with_file_name("latest");
    let _ = std::fs::remove_file(&latest);
    let _ = std::os::unix::fs::symlink(dir.file_name().unwrap_or_default(), &latest);
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        o: BenchOpts,
    }

    fn table_header(args: &[&str]) -> String {
        let o = Cli::parse_from(std::iter::once("bench").chain(args.iter().copied())).o;
        header(&Header {
            profile: "fast",
            config: "91a244d41889411a",
            accel: if o.icount { "tcg-icount" } else { "tcg" },
            cpus: guest_cpus(&o),
            c_status: "ok",
            rust: "test_hmm_rs.ko of hmm-rs bf3a3e7 (ok)",
        })
    }

    #[test]
    fn the_header_says_the_vcpus_the_guest_ran() {
        // Under --icount the guest runs one vCPU; the header said "2 vCPUs" (`--cpus`).
        assert!(
            table_header(&["--quick", "--icount"]).starts_with(
                "hmm-bench, one boot of Linux 7.3.4 (fast profile, .config 91a244d41889411a), \
                 accel TCG-ICOUNT, 1 vCPU\n"
            ),
            "{}",
            table_header(&["--quick", "--icount"])
        );
        assert!(table_header(&["--quick"]).contains("accel TCG, 2 vCPUs\n"));
        assert!(table_header(&["--cpus", "1"]).contains("accel TCG, 1 vCPU\n"));
    }

    #[test]
    fn the_header_names_no_host_path() {
        let h = table_header(&["--icount"]);
        assert!(!h.split_whitespace().any(|w| w.starts_with('/')), "{h}");
        assert!(h.contains("C driver: lib/test_hmm.ko of that kernel (ok)\n"));
    }
}
