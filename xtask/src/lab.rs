//! `cargo xtask lab …`: build, run, test.
use crate::kernel::{self, Kernel, Profile};
use crate::vm::{self, VmRun};
use crate::{cache, chroot, host, kmod, logscan, selftest, suite, tap};
use anyhow::{bail, Result};
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// Lab subcommands.
#[derive(Subcommand)]
pub enum LabCmd {
    /// Build the chroot, the kernel, the C reference driver, the Rust module and the suites.
    Build {
        /// Kernel profile.
        #[arg(long, value_enum, default_value = "fast")]
        profile: Profile,
    },
    /// Boot the lab kernel, load a driver, run CMD in the guest; exits with CMD's exit code.
    Run {
        #[command(flatten)]
        vm: VmOpts,
        /// The command and its arguments (after `--`).
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
    /// Run the HMM suite in the guest, print its TAP, exit with its kselftest code.
    Test {
        #[command(flatten)]
        vm: VmOpts,
        /// Which suite: the Rust port (default) or the upstream C hmm-tests of the same tree.
        #[arg(long, value_enum, default_value = "rust")]
        suite: Suite,
        /// Treat the failures listed in xtask/known-failures.txt for this driver and THP mode
        /// as expected: each is printed with its reason, and only other failures fail the run.
        #[arg(long)]
        known_failures: bool,
        /// Arguments for the suite (after `--`), e.g. a filter.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Run the upstream C hmm-tests and the Rust port against the C driver in one boot and
    /// print their results side by side; exits 1 when a case differs.
    Compare {
        #[command(flatten)]
        vm: VmOpts,
        /// Arguments for both suites (after `--`).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Benchmark the C driver and the Rust module in one boot (hmm-bench): CSV, plots, Rust/C table.
    Bench(crate::bench::BenchOpts),
    /// Robustness battery (hmm-robust fuzz, stress, lifecycle) against both drivers in one boot.
    Robust(crate::robust::RobustOpts),
}

/// The driver loaded in the guest.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Driver {
    /// The C reference, lib/test_hmm.ko of the lab kernel.
    C,
    /// Our module, kmod/ (test_hmm_rs.ko).
    Rust,
    /// No driver.
    None,
}

/// The request numbering the driver and the suite speak.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Abi {
    /// The migrate-on-fault series' numbering (Rust module default).
    Patched,
    /// Stock 7.3 numbering (the only one the C driver speaks).
    Mainline,
}

/// Which suite `lab test` runs.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Suite {
    /// hmm-tests, the Rust port (TAP mode).
    Rust,
    /// The upstream C hmm-tests built from the lab kernel tree.
    C,
    /// hmm-dmirror's device tests (`cargo test -p hmm-dmirror -- --ignored`).
    Lib,
}

/// THP mode in the guest.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Thp {
    /// `madvise` (default).
    Madvise,
    /// `always` (the C reference driver fails and oopses on device-coherent cases).
    Always,
}

/// Options of every boot.
#[derive(Args, Clone)]
pub struct VmOpts {
    /// Driver to load.
    #[arg(long, value_enum, default_value = "c")]
    driver: Driver,
    /// ABI (default: mainline for the C driver, patched for ours).
    #[arg(long, value_enum)]
    abi: Option<Abi>,
    /// Kernel profile.
    #[arg(long, value_enum, default_value = "fast")]
    profile: Profile,
    /// Transparent hugepages mode.
    #[arg(long, value_enum, default_value = "madvise")]
    thp: Thp,
    /// Hugetlb pages (default size) to reserve in the guest.
    #[arg(long, default_value_t = 128)]
    hugepages: u32,
    /// Limit for the whole boot, in seconds.
    #[arg(long, default_value_t = 1800)]
    timeout: u64,
}

impl VmOpts {
    fn abi(&self) -> Result<Abi> {
        Ok(match (self.driver, self.abi) {
            (Driver::C, Some(Abi::Patched)) => {
                bail!("the C driver (test_hmm.ko, 7.3.4) speaks the mainline ABI only")
            }
            (Driver::C, _) => Abi::Mainline,
            (_, Some(a)) => a,
            (_, None) => Abi::Patched,
        })
    }
    fn thp(&self) -> &'static str {
        match self.thp {
            Thp::Madvise => "madvise",
            Thp::Always => "always",
        }
    }
}

/// Run a lab subcommand; returns the process exit code.
pub fn run(cmd: LabCmd) -> Result<i32> {
    match cmd {
        LabCmd::Build { profile } => {
            let b = build(profile, true)?;
            eprintln!("kernel:  {}", b.kernel.image().display());
            eprintln!("C driver: {}", b.kernel.test_hmm_ko().display());
            match &b.kmod {
                Some(k) => eprintln!("Rust module: {}", k.display()),
                None => eprintln!("Rust module: kmod/ has no Kbuild yet, not built"),
            }
            eprintln!("C suite: {}", b.c_suite.display());
            Ok(0)
        }
        LabCmd::Run { vm, cmd } => {
            let b = build(vm.profile, vm.driver == Driver::Rust)?;
            let (rc, _) = boot_with_output(&b, &vm, cmd, false)?;
            Ok(rc)
        }
        LabCmd::Test { vm, suite, known_failures, args } => {
            let b = build(vm.profile, vm.driver == Driver::Rust)?;
            let abi = vm.abi()?;
            let mut cmd = Vec::new();
            match suite {
                Suite::Rust => {
                    let bin = suite::build(&cache::root().join("suite.log"))?;
                    cmd.push("env".to_string());
                    cmd.push(format!(
                        "HMM_DMIRROR_ABI={}",
                        if abi == Abi::Patched { "patched" } else { "mainline" }
                    ));
                    // In the lab a missing /dev/hmm_dmirror0/1 is a failure, as in C.
                    cmd.push("HMM_TESTS_REQUIRE_DEVICE=1".into());
                    if vm.profile == Profile::Debug {
                        // KASAN, lockdep and the VM checks under TCG: ~10x slower cases.
                        cmd.push("HMM_TESTS_TIMEOUT_SCALE=10".into());
                    } else if !vm::accel(&b.vng, &b.kernel.src, &cache::root())? {
                        // Upstream's timeouts are for hardware. Under TCG the 256 MiB step of
                        // benchmark_thp_migration alone takes 60-120 s and ran past its 120 s
                        // once (same module and kernel that passed an hour before, every step
                        // ~1.6x slower that boot); scale TCG's timeouts by 3.
                        cmd.push("HMM_TESTS_TIMEOUT_SCALE=3".into());
                    }
                    cmd.push(bin.display().to_string());
                }
                Suite::C => {
                    if abi == Abi::Patched {
                        bail!("the upstream C suite speaks the mainline ABI only: use --abi mainline");
                    }
                    cmd.push(b.c_suite.display().to_string());
                }
                Suite::Lib => {
                    let exes = suite::build_lib_tests(&cache::root().join("suite.log"))?;
                    let abi = if abi == Abi::Patched { "patched" } else { "mainline" };
                    let extra: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
                    let runs: Vec<String> = exes
                        .iter()
                        .map(|e| format!("{} --ignored --test-threads=1 {} || rc=1", e.display(), extra.join(" ")))
                        .collect();
                    cmd = vec![
                        "sh".into(),
                        "-c".into(),
                        format!("export HMM_DMIRROR_ABI={abi}; rc=0; {}; exit $rc", runs.join("; ")),
                    ];
                    let (rc, _) = boot_with_output(&b, &vm, cmd, true)?;
                    return Ok(rc);
                }
            }
            let known = if known_failures { tap::known_failures(vm.driver, vm.thp())? } else { Vec::new() };
            if suite == Suite::Rust {
                for k in known.iter().filter(|k| k.not_run) {
                    cmd.extend(["--skip".to_string(), k.case.clone()]);
                }
            }
            cmd.extend(args);
            let (rc, output) = boot_with_output(&b, &vm, cmd, true)?;
            let results = tap::parse(&std::fs::read_to_string(&output).unwrap_or_default());
            Ok(tap::verdict(&results, &known, rc))
        }
        LabCmd::Bench(o) => crate::bench::run(o),
        LabCmd::Robust(o) => crate::robust::run(o),
        LabCmd::Compare { vm, args } => {
            if vm.driver != Driver::C {
                bail!("compare runs both suites against the C driver (--driver c)");
            }
            let b = build(vm.profile, false)?;
            let bin = suite::build(&cache::root().join("suite.log"))?;
            let dir = crate::compare::dir()?;
            let cmd = crate::compare::command(&b.c_suite, &bin, &dir, &args);
            let (rc, _) = boot_with_output(&b, &vm, cmd, true)?;
            let code = crate::compare::report(&dir);
            // A kernel report or a crash is a failure whatever the suites said.
            Ok(if rc != 0 { rc } else { code })
        }
    }
}

/// What a boot needs.
pub struct Built {
    /// The kernel.
    pub kernel: Kernel,
    /// Our module, when built.
    pub kmod: Option<PathBuf>,
    /// The upstream C suite.
    pub c_suite: PathBuf,
    /// virtme-ng.
    pub vng: PathBuf,
}

/// The lab's base, shared by every command: the cache root, the host packages and
/// virtme-ng, the chroot and the kernel of a profile.
pub struct Base {
    /// The cache root (`~/.cache/hmm-rs`).
    pub root: PathBuf,
    /// virtme-ng.
    pub vng: PathBuf,
    /// The build chroot.
    pub ch: chroot::Chroot,
    /// The kernel.
    pub kernel: Kernel,
}

/// Makes sure the host, the chroot and the kernel of `profile` are ready (all cached).
pub fn prepare(profile: Profile) -> Result<Base> {
    let root = cache::root();
    std::fs::create_dir_all(&root)?;
    let hlog = root.join("host.log");
    host::ensure_packages(&hlog)?;
    let vng = host::vng(&root, &hlog)?;
    let ch = chroot::ensure(&root)?;
    let kernel = kernel::ensure(&root, &ch, profile)?;
    Ok(Base { root, vng, ch, kernel })
}

/// The drivers of a one-boot comparison (`bench`, `robust`): the C driver, which must exist,
/// and the Rust module unless `c_only`, or why it is not available.
pub fn both_drivers(b: &Base, c_only: bool) -> Result<(PathBuf, Option<PathBuf>, String)> {
    let c_ko = b.kernel.test_hmm_ko();
    if !c_ko.exists() {
        bail!("the C driver {} is missing: run `cargo xtask lab build`", c_ko.display());
    }
    let (rust_ko, why) = if c_only {
        (None, "not requested (--c-only)".to_string())
    } else if !kmod::present() {
        (None, "kmod/ has no Kbuild yet".to_string())
    } else {
        match kmod::build(&b.ch, &b.kernel) {
            Ok(ko) => (Some(ko), String::new()),
            Err(e) => (None, format!("build failed: {e:#}")),
        }
    };
    Ok((c_ko, rust_ko, why))
}

fn build(profile: Profile, need_kmod: bool) -> Result<Built> {
    let Base { vng, ch, kernel, .. } = prepare(profile)?;
    // The Rust module is built whenever it exists; a failure only stops the runs that load it.
    let kmod = if kmod::present() {
        match kmod::build(&ch, &kernel) {
            Ok(ko) => Some(ko),
            Err(e) if !need_kmod => {
                eprintln!("    warning: the Rust module did not build ({e:#}); continuing without it");
                None
            }
            Err(e) => return Err(e),
        }
    } else if need_kmod {
        bail!("kmod/ has no Kbuild: the Rust module does not exist yet");
    } else {
        None
    };
    let c_suite = selftest::build(&ch, &kernel)?;
    Ok(Built { kernel, kmod, c_suite, vng })
}

/// Boot once; returns the exit code to report (the command's, or 1 on a kernel report, or
/// 124 on a timeout, 125 when the guest gave none) and the path of the command's output.
fn boot_with_output(
    b: &Built,
    o: &VmOpts,
    cmd: Vec<String>,
    private_tmp: bool,
) -> Result<(i32, PathBuf)> {
    let abi = o.abi()?;
    let (ko, modargs) = match o.driver {
        Driver::C => (Some(b.kernel.test_hmm_ko()), vm::SPM_ADDRS.to_string()),
        Driver::Rust => (
            b.kmod.clone(),
            format!("{} abi={}", vm::SPM_ADDRS, if abi == Abi::Patched { "patched" } else { "mainline" }),
        ),
        Driver::None => (None, String::new()),
    };
    let root = cache::root();
    let kvm = vm::accel(&b.vng, &b.kernel.src, &root)?;
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis();
    let dir = cache::workspace().join("target/lab/runs").join(format!("{stamp}"));
    eprintln!(
        "==> boot 7.3.4 ({}, {}, driver {:?}, abi {:?}, thp {}), run dir {}",
        b.kernel.profile.name(),
        if kvm { "KVM" } else { "TCG" },
        o.driver,
        abi,
        o.thp(),
        dir.display()
    );
    let run = VmRun {
        vng: &b.vng,
        tree: &b.kernel.src,
        kvm,
        dir,
        ko,
        modargs,
        thp: o.thp().into(),
        hugepages: o.hugepages,
        cmd,
        timeout: Duration::from_secs(o.timeout),
        stream: true,
        private_tmp,
        cpus: crate::vm::CPUS,
    };
    let r = run.run()?;
    eprintln!("    guest ran {:.1}s; console log: {}", r.elapsed.as_secs_f64(), r.console.display());
    let reports = logscan::reports(&r.console);
    let mut code = match (r.rc, r.timed_out) {
        (_, true) => {
            eprintln!("lab: the guest did not finish within {} s (killed)", o.timeout);
            124
        }
        (Some(c), false) => c,
        (None, false) => {
            eprintln!("lab: the guest gave no exit code (crash or early exit); see the console log");
            125
        }
    };
    if !reports.is_empty() {
        eprintln!("lab: kernel reports in the console log ({}):", r.console.display());
        for (n, l) in reports.iter().take(20) {
            eprintln!("    {n}: {l}");
        }
        if code == 0 {
            code = 1;
        }
    }
    Ok((code, r.output))
}
