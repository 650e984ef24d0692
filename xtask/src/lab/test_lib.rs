//! `cargo xtask lab test --suite lib`: hmm-dmirror's device tests (`cargo test -p
//! hmm-dmirror -- --ignored`) in the guest, judged by their exit code and the kernel's
//! reports.
use super::boot::boot;
use super::env::Built;
use super::options::VmOpts;
use crate::{cache, known, suite};
use anyhow::Result;

/// Run the library's device tests in one boot; returns the exit code.
pub fn run(b: &Built, vm: &VmOpts, known_failures: bool, args: &[String]) -> Result<i32> {
    let abi = vm.abi()?;
    let exes = suite::build_lib_tests(&cache::root().join("suite.log"))?;
    let abi_name = abi.name();
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
    let cmd = vec![
        "sh".into(),
        "-c".into(),
        format!(
            "export HMM_DMIRROR_ABI={abi_name}; rc=0; {}; exit $rc",
            runs.join("; ")
        ),
    ];
    let known = known::expected(vm.driver, abi, vm.thp(), known_failures)?;
    let boot = boot(b, vm, cmd, true, true)?;
    Ok(boot.judged(&known))
}
