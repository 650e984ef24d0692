//! `cargo xtask lab test`: a suite in the guest, its TAP printed, the lab's verdict on it
//! (`crate::verdict`). The Rust port and the upstream C suite are run here; the library's
//! device tests (`test_lib`) and the kselftest drop-in (`test_kselftest`) have their own files.
use super::boot::boot;
use super::options::{Abi, Driver, Suite, VmOpts};
use super::{env, test_kselftest, test_lib};
use crate::kernel::Profile;
use crate::{accel, cache, known, suite, tap, verdict};
use anyhow::{bail, Result};
use clap::Args;
use std::path::Path;

/// Options of `lab test`.
#[derive(Args, Clone)]
pub struct TestOpts {
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
}

/// Run `lab test`; returns the suite's kselftest exit code as the verdict sees it.
pub fn run(o: TestOpts) -> Result<i32> {
    let TestOpts {
        vm,
        suite,
        known_failures,
        args,
    } = o;
    let b = env::build(vm.profile, vm.driver == Driver::Rust)?;
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
            } else if !accel::kvm(&b.vng, &b.kernel.src, &cache::root())? {
                // Upstream's timeouts are for hardware. Under TCG the 256 MiB step of
                // benchmark_thp_migration alone takes 60-120 s and ran past its 120 s
                // once (same module and kernel that passed an hour before, every step
                // ~1.6x slower that boot); scale TCG's timeouts by 3.
                cmd.push("HMM_TESTS_TIMEOUT_SCALE=3".into());
            }
            cmd.push(bin.display().to_string());
        }
        Suite::Kselftest => return test_kselftest::run(&b, &vm, known_failures, &args),
        Suite::C => {
            if abi == Abi::Patched {
                bail!("the upstream C suite speaks the mainline ABI only: use --abi mainline");
            }
            cmd.push(b.c_suite.display().to_string());
        }
        Suite::Lib => return test_lib::run(&b, &vm, known_failures, &args),
    }
    let known = known::expected(vm.driver, abi, vm.thp(), known_failures)?;
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
        output: &text,
    };
    Ok(verdict::suite(&run, &known, unexcused))
}
