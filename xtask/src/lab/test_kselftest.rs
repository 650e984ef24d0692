//! `cargo xtask lab test --suite kselftest`: the Rust port as a kselftest drop-in, run by the
//! kernel's own `run_kselftest.sh` (which loads the driver through `test_hmm_rs.sh`); the
//! verdict reads the suite's TAP inside the runner's.
use super::boot::boot;
use super::env::Built;
use super::options::{Driver, VmOpts};
use crate::kernel::Profile;
use crate::{cache, known, kselftest, suite, tap, verdict, vm};
use anyhow::{bail, Result};

/// Run the kselftest drop-in in one boot; returns the exit code as the verdict sees it.
pub fn run(b: &Built, vm: &VmOpts, known_failures: bool, args: &[String]) -> Result<i32> {
    let abi = vm.abi()?;
    let install = kselftest::install(&b.kernel, &cache::root().join("kselftest.log"))?;
    let ko = match vm.driver {
        Driver::C => b.kernel.test_hmm_ko(),
        Driver::Rust => b
            .kmod
            .clone()
            .ok_or_else(|| anyhow::anyhow!("no Rust module"))?,
        Driver::None => {
            bail!("--suite kselftest loads the driver through test_hmm_rs.sh: choose --driver")
        }
    };
    let (dev0, dev1) = vm::SPM_PAIR;
    let scale = if vm.profile == Profile::Debug {
        "10"
    } else {
        "3"
    };
    // The runner writes a test's output to /dev/stdout, which in a virtme guest is the
    // console's port, not the command's output: -p puts it in a file per test, shown when
    // the runner is done.
    let cmd = vec![
        "bash".into(),
        "-c".into(),
        "d=/tmp/kselftest-logs; rm -rf $d; \"$@\" -p $d; rc=$?; cat $d/*; exit $rc".into(),
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
        kselftest::TEST.into(),
    ];
    if !args.is_empty() {
        bail!("--suite kselftest runs the whole suite as the kernel's runner does: no suite arguments");
    }
    let known = known::expected(vm.driver, abi, vm.thp(), known_failures)?;
    let planned = suite::list(&install.join("mm/hmm-tests-rs"), &[])?;
    let boot = boot(b, vm, cmd, true, false)?;
    let text = std::fs::read_to_string(&boot.output).unwrap_or_default();
    let inner = kselftest::inner_tap(&text);
    let results = tap::parse(&inner);
    let outer = tap::parse(&text);
    let unexcused = verdict::reports(&boot.reports, &known, &boot.console);
    let outer_ok = outer.len() == 1 && outer[0].1 == tap::Outcome::Pass;
    if !outer_ok {
        println!(
            "lab: the kernel's runner did not report {} as ok: {outer:?}",
            kselftest::TEST
        );
    }
    let run = verdict::SuiteRun {
        results: &results,
        planned: Some(&planned),
        tap_plan: tap::plan(&inner),
        rc: if outer_ok || boot.rc != 0 { boot.rc } else { 1 },
        output: &inner,
    };
    Ok(verdict::suite(&run, &known, unexcused))
}
