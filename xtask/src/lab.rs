//! `cargo xtask lab …`: build, run, test.
use crate::kernel::{self, Kernel, Profile};
use crate::known::{self, Known};
use crate::vm::{self, VmRun};
use crate::{cache, chroot, host, kmod, logscan, selftest, suite, tap, verdict};
use anyhow::{bail, Result};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
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

/// The request numbering the driver and the suite speak: hmm-sys's, the one ABI type of the
/// workspace (`patched`, the Rust module's default; `mainline`, the only one the C driver
/// speaks).
pub use hmm_sys::Numbering as Abi;

/// Which suite `lab test` runs.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Suite {
    /// hmm-tests, the Rust port (TAP mode).
    Rust,
    /// The upstream C hmm-tests built from the lab kernel tree.
    C,
    /// hmm-dmirror's device tests (`cargo test -p hmm-dmirror -- --ignored`).
    Lib,
    /// The Rust port as a kselftest drop-in (`hmm-tests/kselftest/`), run by the kernel's
    /// `run_kselftest.sh -t mm:test_hmm_rs.sh`, which loads the driver itself.
    Kselftest,
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
    #[arg(long, value_parser = PossibleValuesParser::new(Abi::ALL.map(Abi::name))
        .try_map(|s| s.parse::<Abi>()))]
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
    /// Instruction time: TCG with QEMU's `-icount shift=0,sleep=off`, one vCPU (the guest
    /// clock counts executed instructions).
    #[arg(long)]
    icount: bool,
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
            let boot = boot(&b, &vm, cmd, false, true)?;
            Ok(boot.judged(&Known::default()))
        }
        LabCmd::Test {
            vm,
            suite,
            known_failures,
            args,
        } => {
            let b = build(vm.profile, vm.driver == Driver::Rust)?;
            let abi = vm.abi()?;
            let mut cmd = Vec::new();
            match suite {
                Suite::Rust => {
                    let bin = suite::build(&cache::root().join("suite.log"))?;
                    cmd.push("env".to_string());
                    cmd.push(format!("HMM_DMIRROR_ABI={}", abi.name()));
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
                Suite::Kselftest => {
                    let install =
                        crate::kselftest::install(&b.kernel, &cache::root().join("kselftest.log"))?;
                    let ko = match vm.driver {
                        Driver::C => b.kernel.test_hmm_ko(),
                        Driver::Rust => b.kmod.clone().ok_or_else(|| anyhow::anyhow!("no Rust module"))?,
                        Driver::None => bail!("--suite kselftest loads the driver through test_hmm_rs.sh: choose --driver"),
                    };
                    let (dev0, dev1) = vm::SPM_PAIR;
                    let scale = if vm.profile == Profile::Debug {
                        "10"
                    } else {
                        "3"
                    };
                    // The runner writes a test's output to /dev/stdout, which in a virtme
                    // guest is the console's port, not the command's output: -p puts it in
                    // a file per test, shown when the runner is done.
                    cmd = vec![
                        "bash".into(),
                        "-c".into(),
                        "d=/tmp/kselftest-logs; rm -rf $d; \"$@\" -p $d; rc=$?; cat $d/*; exit $rc"
                            .into(),
                        "kselftest".into(),
                        "env".into(),
                        format!("HMM_DRIVER={}", ko.display()),
                        format!("HMM_DMIRROR_ABI={}", abi.name()),
                        format!("HMM_SPM_ADDRS={dev0} {dev1}"),
                        format!("HMM_TESTS_TIMEOUT_SCALE={scale}"),
                        install.join("run_kselftest.sh").display().to_string(),
                        "--override-timeout".into(),
                        vm.timeout.to_string(),
                        "-t".into(),
                        crate::kselftest::TEST.into(),
                    ];
                    if !args.is_empty() {
                        bail!("--suite kselftest runs the whole suite as the kernel's runner does: no suite arguments");
                    }
                    let known = known_for(&vm, known_failures)?;
                    let planned = suite::list(&install.join("mm/hmm-tests-rs"), &[])?;
                    let boot = boot(&b, &vm, cmd, true, false)?;
                    let text = std::fs::read_to_string(&boot.output).unwrap_or_default();
                    let inner = crate::kselftest::inner_tap(&text);
                    let results = tap::parse(&inner);
                    let outer = tap::parse(&text);
                    let unexcused = verdict::reports(&boot.reports, &known, &boot.console);
                    let outer_ok = outer.len() == 1 && outer[0].1 == tap::Outcome::Pass;
                    if !outer_ok {
                        println!(
                            "lab: the kernel's runner did not report {} as ok: {outer:?}",
                            crate::kselftest::TEST
                        );
                    }
                    let run = verdict::SuiteRun {
                        results: &results,
                        planned: Some(&planned),
                        tap_plan: tap::plan(&inner),
                        rc: if outer_ok || boot.rc != 0 { boot.rc } else { 1 },
                    };
                    return Ok(verdict::suite(&run, &known, unexcused));
                }
                Suite::C => {
                    if abi == Abi::Patched {
                        bail!(
                            "the upstream C suite speaks the mainline ABI only: use --abi mainline"
                        );
                    }
                    cmd.push(b.c_suite.display().to_string());
                }
                Suite::Lib => {
                    let exes = suite::build_lib_tests(&cache::root().join("suite.log"))?;
                    let abi = abi.name();
                    let extra: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
                    let runs: Vec<String> = exes
                        .iter()
                        .map(|e| {
                            format!(
                                "{} --ignored --test-threads=1 {} || rc=1",
                                e.display(),
                                extra.join(" ")
                            )
                        })
                        .collect();
                    cmd = vec![
                        "sh".into(),
                        "-c".into(),
                        format!(
                            "export HMM_DMIRROR_ABI={abi}; rc=0; {}; exit $rc",
                            runs.join("; ")
                        ),
                    ];
                    let known = known_for(&vm, known_failures)?;
                    let boot = boot(&b, &vm, cmd, true, true)?;
                    return Ok(boot.judged(&known));
                }
            }
            let known = known_for(&vm, known_failures)?;
            if suite == Suite::Rust {
                for k in &known.not_run {
                    cmd.extend(["--skip".to_string(), k.case.clone()]);
                }
            }
            cmd.extend(args);
            // The cases the suite will run, asked of the same binary with the same options
            // before the boot: a suite that dies part-way cannot hide the rest.
            let planned = match suite {
                Suite::Rust => {
                    let at = cmd
                        .iter()
                        .position(|a| a.ends_with(&format!("/{}", suite::BIN)))
                        .expect("the suite binary");
                    Some(suite::list(Path::new(&cmd[at]), &cmd[at + 1..])?)
                }
                _ => None,
            };
            let boot = boot(&b, &vm, cmd, true, true)?;
            let text = std::fs::read_to_string(&boot.output).unwrap_or_default();
            let results = tap::parse(&text);
            let unexcused = verdict::reports(&boot.reports, &known, &boot.console);
            let run = verdict::SuiteRun {
                results: &results,
                planned: planned.as_deref(),
                tap_plan: tap::plan(&text),
                rc: boot.rc,
            };
            Ok(verdict::suite(&run, &known, unexcused))
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
            let boot = boot(&b, &vm, cmd, true, true)?;
            let code = crate::compare::report(&dir);
            // A kernel report or a crash is a failure whatever the suites said.
            let rc = boot.judged(&Known::default());
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
    Ok(Base {
        root,
        vng,
        ch,
        kernel,
    })
}

/// The drivers of a one-boot comparison (`bench`, `robust`): the C driver, which must exist,
/// and the Rust module unless `c_only`, or why it is not available.
pub fn both_drivers(b: &Base, c_only: bool) -> Result<(PathBuf, Option<PathBuf>, String)> {
    let c_ko = b.kernel.test_hmm_ko();
    if !c_ko.exists() {
        bail!(
            "the C driver {} is missing: run `cargo xtask lab build`",
            c_ko.display()
        );
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
    let Base {
        vng, ch, kernel, ..
    } = prepare(profile)?;
    // The Rust module is built whenever it exists; a failure only stops the runs that load it.
    let kmod = if kmod::present() {
        match kmod::build(&ch, &kernel) {
            Ok(ko) => Some(ko),
            Err(e) if !need_kmod => {
                eprintln!(
                    "    warning: the Rust module did not build ({e:#}); continuing without it"
                );
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
    Ok(Built {
        kernel,
        kmod,
        c_suite,
        vng,
    })
}

/// What the lab expects of this driver, ABI and THP mode (`xtask/known-failures.txt`): its
/// listed skips always, its known failures and reports only with `--known-failures`.
fn known_for(vm: &VmOpts, known_failures: bool) -> Result<Known> {
    let k = known::load(vm.driver, vm.abi()?, vm.thp())?;
    Ok(if known_failures { k } else { k.skips_only() })
}

/// One boot's outcome.
struct Boot {
    /// The command's exit code, or 124 on a timeout, 125 when the guest gave none.
    rc: i32,
    /// The command's output.
    output: PathBuf,
    /// The guest console.
    console: PathBuf,
    /// The kernel reports in the console.
    reports: Vec<logscan::Report>,
}

impl Boot {
    /// The exit code of a boot judged by its command's exit code and its kernel reports
    /// (printed, excused only by `known`'s known reports).
    fn judged(&self, known: &Known) -> i32 {
        let unexcused = verdict::reports(&self.reports, known, &self.console);
        if unexcused > 0 && self.rc == 0 {
            println!("lab: FAIL: {unexcused} kernel report(s)");
            return 1;
        }
        self.rc
    }
}

/// Boot once and run `cmd` in the guest.
/// `load`: the lab loads the driver (else the command does, and the lab only marks where the
/// driver's part of the console starts).
fn boot(
    b: &Built,
    o: &VmOpts,
    mut cmd: Vec<String>,
    private_tmp: bool,
    load: bool,
) -> Result<Boot> {
    let abi = o.abi()?;
    let (ko, modargs) = match o.driver {
        Driver::C => (Some(b.kernel.test_hmm_ko()), vm::spm_modargs()),
        Driver::Rust => (
            b.kmod.clone(),
            format!("{} abi={}", vm::spm_modargs(), abi.name()),
        ),
        Driver::None => (None, String::new()),
    };
    let (ko, modargs) = if load {
        (ko, modargs)
    } else {
        if let Some(k) = &ko {
            let mark = format!(
                "echo '[lab] insmod {} (by the command)' > /dev/kmsg",
                k.display()
            );
            let quoted: Vec<String> = cmd
                .iter()
                .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
                .collect();
            cmd = vec![
                "sh".into(),
                "-c".into(),
                format!("{mark}; exec {}", quoted.join(" ")),
            ];
        }
        (None, String::new())
    };
    let root = cache::root();
    let kvm = !o.icount && vm::accel(&b.vng, &b.kernel.src, &root)?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    let dir = cache::workspace()
        .join("target/lab/runs")
        .join(format!("{stamp}"));
    eprintln!(
        "==> boot 7.3.4 ({}, {}, driver {:?}, abi {:?}, thp {}), run dir {}",
        b.kernel.profile.name(),
        if kvm {
            "KVM"
        } else if o.icount {
            "TCG, icount"
        } else {
            "TCG"
        },
        o.driver,
        abi,
        o.thp(),
        dir.display()
    );
    eprintln!("    {}", b.kernel.config_summary()?);
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
        cpus: if o.icount { 1 } else { crate::vm::CPUS },
        icount: o.icount,
    };
    let r = run.run()?;
    eprintln!(
        "    guest ran {:.1}s; console log: {}",
        r.elapsed.as_secs_f64(),
        r.console.display()
    );
    let rc = match (r.rc, r.timed_out) {
        (_, true) => {
            eprintln!(
                "lab: the guest did not finish within {} s (killed)",
                o.timeout
            );
            124
        }
        (Some(c), false) => c,
        (None, false) => {
            eprintln!(
                "lab: the guest gave no exit code (crash or early exit); see the console log"
            );
            125
        }
    };
    let reports = logscan::scan_file(&r.console);
    Ok(Boot {
        rc,
        output: r.output,
        console: r.console,
        reports,
    })
}
