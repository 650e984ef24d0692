//! `cargo xtask lab robust`: the robustness battery (hmm-robust) against the C driver and the
//! Rust module in ONE boot.
//!
//! The guest boots with no driver; `scripts/robust-guest.sh` loads the C reference, runs
//! `hmm-robust fuzz`, `hmm-robust stress` and the lifecycle checks, unloads it, then does the
//! same for the Rust module. Back on the host the per-driver summaries are read, the console
//! is scanned for kernel reports (attributed to the driver whose section they fall in, by the
//! `[robust] === LABEL: begin` markers the script writes to /dev/kmsg), and a table is
//! printed. Only the Rust module's failures fail the run; the C driver's are findings.
use super::env;
use super::robust_judge::{field, judge, reports_by_driver, summary};
use crate::kernel::Profile;
use crate::vm::{self, VmRun};
use crate::{accel, cache};
use anyhow::Result;
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Options of `lab robust`.
#[derive(Args, Clone)]
pub struct RobustOpts {
    /// Kernel profile (debug: KASAN, PROVE_LOCKING, DEBUG_VM …).
    #[arg(long, value_enum, default_value = "fast")]
    profile: Profile,
    /// Seed of the fuzzer and the stress (default: from the clock; printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Requests the fuzzer issues per driver.
    #[arg(long, default_value_t = 100_000)]
    requests: u64,
    /// Seconds of stress per driver.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Stress worker threads.
    #[arg(long, default_value_t = 4)]
    threads: usize,
    /// Load/unload cycles per driver.
    #[arg(long, default_value_t = 3)]
    cycles: u32,
    /// Run the battery against the C driver only.
    #[arg(long, conflicts_with = "rust_only")]
    c_only: bool,
    /// Run the battery against the Rust module only (e.g. when the C driver hangs the boot).
    #[arg(long)]
    rust_only: bool,
    /// Seconds one step (fuzz, stress) may take in the guest before it is killed
    /// (default: 1200, or 3000 on the debug profile).
    #[arg(long)]
    step_timeout: Option<u64>,
    /// Limit for the whole boot, in seconds (default: 4 step timeouts + 10 minutes).
    #[arg(long)]
    timeout: Option<u64>,
}

fn build_robust(log: &Path) -> Result<PathBuf> {
    crate::suite::build_release_bin("hmm-robust", "hmm-robust", log)
}

/// Run `lab robust`; returns the exit code.
pub fn run(o: RobustOpts) -> Result<i32> {
    let base = env::prepare(o.profile)?;
    let (c_ko, rust_ko, rust_why) = env::both_drivers(&base, o.c_only)?;
    let env::Base {
        root, vng, kernel, ..
    } = base;
    if rust_ko.is_none() {
        eprintln!("==> Rust module NOT available ({rust_why}): the C driver alone");
    }
    let bin = build_robust(&root.join("robust-build.log"))?;
    let kvm = accel::kvm(&vng, &kernel.src, &root)?;
    let accel = if kvm { "kvm" } else { "tcg" };
    let seed = o.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() % 1_000_000)
            .unwrap_or(1)
    });
    let step = o.step_timeout.unwrap_or(if o.profile == Profile::Debug {
        3000
    } else {
        1200
    });
    let timeout = o.timeout.unwrap_or(4 * step + 600);
    let dir = cache::workspace()
        .join("target/lab/robust")
        .join(cache::timestamp());
    std::fs::create_dir_all(&dir)?;
    // One boot for both drivers; when the C driver gets stuck in the kernel (the boot cannot
    // go on), a second boot for the Rust module.
    let boot =
        |c: Option<&Path>, rust: Option<&Path>, vmdir: PathBuf| -> Result<(vm::VmResult, String)> {
            let cmd: Vec<String> = vec![
                "bash".into(),
                cache::xtask_dir()
                    .join("scripts/robust-guest.sh")
                    .display()
                    .to_string(),
                dir.display().to_string(),
                bin.display().to_string(),
                c.map(|p| p.display().to_string()).unwrap_or_default(),
                rust.map(|p| p.display().to_string()).unwrap_or_default(),
                seed.to_string(),
                o.requests.to_string(),
                o.seconds.to_string(),
                o.threads.to_string(),
                step.to_string(),
                o.cycles.to_string(),
            ];
            eprintln!(
                "==> boot 7.3.4 ({}, {}, no driver; robust-guest.sh runs {}), seed {seed}, dir {}",
                kernel.profile.name(),
                accel.to_uppercase(),
                match (c.is_some(), rust.is_some()) {
                    (true, true) => "C then Rust",
                    (true, false) => "C",
                    _ => "Rust",
                },
                dir.display()
            );
            let run = VmRun {
                vng: &vng,
                tree: &kernel.src,
                kvm,
                dir: vmdir,
                ko: None,
                modargs: String::new(),
                thp: "madvise".into(),
                hugepages: 64,
                cmd,
                timeout: Duration::from_secs(timeout),
                stream: true,
                private_tmp: true,
                cpus: crate::vm::CPUS,
                icount: false,
            };
            let r = run.run()?;
            r.print_elapsed();
            let problem = match (r.problem(timeout), r.rc) {
                (Some(p), _) => p,
                (None, Some(c)) if c != 0 => format!("the guest script exited {c}"),
                _ => String::new(),
            };
            Ok((r, problem))
        };
    let c_arg = if o.rust_only {
        None
    } else {
        Some(c_ko.as_path())
    };
    let (r, mut guest_problem) = boot(c_arg, rust_ko.as_deref(), dir.clone())?;
    let mut by = reports_by_driver(&r.console);
    let mut consoles = vec![r.console.clone()];
    if rust_ko.is_some() && c_arg.is_some() && !dir.join("rust.summary").exists() {
        eprintln!("==> the Rust module did not get its turn in that boot (the C driver ended it); a second boot for it");
        let (r2, p2) = boot(None, rust_ko.as_deref(), dir.join("boot2"))?;
        let by2 = reports_by_driver(&r2.console);
        if let Some(v) = by2.get("rust") {
            by.insert("rust".into(), v.clone());
        }
        if !p2.is_empty() {
            guest_problem = format!("{guest_problem}; second boot: {p2}");
        }
        consoles.push(r2.console.clone());
    }
    let mut code = 0;
    let mut drivers = Vec::new();
    if !o.rust_only {
        drivers.push(("c", "C driver (test_hmm.ko, mainline ABI)"));
    }
    if rust_ko.is_some() {
        drivers.push(("rust", "Rust module (test_hmm_rs.ko, patched ABI)"));
    }
    let mut text = format!(
        "hmm-robust, one boot of Linux 7.3.4 ({} profile, {}), seed {seed}, {} requests, {} s stress × {} threads\n\n",
        kernel.profile.name(),
        accel.to_uppercase(),
        o.requests,
        o.seconds,
        o.threads
    );
    text.push_str(&format!(
        "{:<8} {:>9} {:>7} {:>8} {:>6} {:>9} {:>8} {:>10} {:>8} {:>6}  {:<58} {:>7}\n",
        "driver",
        "requests",
        "fuzz",
        "mism",
        "stress",
        "ops",
        "requests",
        "pages_ver",
        "mism",
        "undecl",
        "lifecycle (fd/mmap/pages open/closed/verify/cycles/release)",
        "reports"
    ));
    let mut details = String::new();
    for (label, what) in &drivers {
        let s = summary(&dir.join(format!("{label}.summary")));
        let fl = s.get("fuzz_line").cloned().unwrap_or_default();
        let sl = s.get("stress_line").cloned().unwrap_or_default();
        let reps = by.get(*label).cloned().unwrap_or_default();
        let num = |a: &str, b: &str| -> u64 {
            a.parse::<u64>().unwrap_or(0) + b.parse::<u64>().unwrap_or(0)
        };
        let pages = num(field(&fl, "pages_verified"), field(&sl, "pages_verified"));
        let life = format!(
            "{}/{}/{}/{}/{}/{}/{}",
            s.get("life_fd").map(String::as_str).unwrap_or("-"),
            s.get("life_mmap").map(String::as_str).unwrap_or("-"),
            s.get("life_pages_open").map(String::as_str).unwrap_or("-"),
            s.get("life_pages_closed")
                .map(String::as_str)
                .unwrap_or("-"),
            s.get("life_pages_verify")
                .map(String::as_str)
                .unwrap_or("-"),
            s.get("life_cycles").map(String::as_str).unwrap_or("-"),
            s.get("life_release").map(String::as_str).unwrap_or("-"),
        );
        text.push_str(&format!(
            "{:<8} {:>9} {:>7} {:>8} {:>6} {:>9} {:>8} {:>10} {:>8} {:>6}  {:<58} {:>7}\n",
            label,
            field(&fl, "requests"),
            field(&fl, "result"),
            field(&fl, "mismatches"),
            field(&sl, "seconds"),
            field(&sl, "ops"),
            field(&sl, "requests"),
            pages,
            field(&sl, "mismatches"),
            num(field(&fl, "undeclared"), field(&sl, "undeclared")),
            life,
            reps.len()
        ));
        let fails = judge(&s, reps.len());
        details.push_str(&format!(
            "\n{what}: {}\n",
            if fails.is_empty() {
                "PASS".to_string()
            } else {
                format!("FAIL: {}", fails.join("; "))
            }
        ));
        details.push_str(&format!("  fuzz:   {fl}\n  stress: {sl}\n"));
        details.push_str(&format!(
            "  release under load: {}\n",
            s.get("release_line").map(String::as_str).unwrap_or("-")
        ));
        details.push_str(&format!("  fuzz errnos: {}\n", field(&fl, "errnos")));
        details.push_str(&format!(
            "  stress errnos: {}, close-while-busy: {}, forked child: {}\n",
            field(&sl, "errnos"),
            field(&sl, "busy_closes"),
            field(&sl, "child")
        ));
        for (n, l) in reps.iter().take(12) {
            details.push_str(&format!("  kernel report, console line {n}: {l}\n"));
        }
        details.push_str(&format!(
            "  reproduce: cargo xtask lab robust --profile {} --seed {seed} --requests {} --seconds {}{}\n    in the guest: hmm-robust fuzz --seed {seed} --requests {} --abi {} ; hmm-robust stress --seed {seed} --seconds {} --threads {} --abi {}\n",
            kernel.profile.name(), o.requests, o.seconds, if *label == "c" { " --c-only" } else { " --rust-only" },
            o.requests, if *label == "c" { "mainline" } else { "patched" }, o.seconds, o.threads, if *label == "c" { "mainline" } else { "patched" }
        ));
        if *label == "rust" && !fails.is_empty() {
            code = 1;
        }
        if *label == "c" && !fails.is_empty() {
            details.push_str("  (a C-driver failure is a finding about the reference, not a failure of this run)\n");
        }
    }
    if let Some(b) = by.get("boot") {
        details.push_str(&format!(
            "\nkernel reports before any driver section: {}\n",
            b.len()
        ));
        for (n, l) in b.iter().take(5) {
            details.push_str(&format!("  console line {n}: {l}\n"));
        }
    }
    if rust_ko.is_none() {
        details.push_str(&format!("\nRust module: NOT run ({rust_why})\n"));
        if !o.c_only {
            code = 1;
        }
    }
    if !guest_problem.is_empty() {
        details.push_str(&format!(
            "\n{guest_problem}; see {}\n",
            consoles
                .iter()
                .map(|c| c.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        code = if code == 0 { 125 } else { code };
    }
    text.push_str(&details);
    text.push_str(&format!(
        "\nconsole: {}\nlogs: {}\n",
        consoles
            .iter()
            .map(|c| c.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        dir.display()
    ));
    std::fs::write(dir.join("table.txt"), &text)?;
    println!("\n{text}");
    let latest = dir.with_file_name("latest");
    let _ = std::fs::remove_file(&latest);
    let _ = std::os::unix::fs::symlink(dir.file_name().unwrap_or_default(), &latest);
    Ok(code)
}
