//! `cargo xtask lab …`: the lab's commands, one file each; this module only names them and
//! dispatches. What they share lives in modules they import: the boot options
//! (`options`), the built environment (`env`) and one boot (`boot`).
use anyhow::Result;
use clap::Subcommand;

mod bench;
mod boot;
mod build;
mod compare;
mod env;
pub mod options;
mod robust;
mod robust_judge;
mod run;
mod test;
mod test_kselftest;
mod test_lib;

/// Lab subcommands.
#[derive(Subcommand)]
pub enum LabCmd {
    /// Build the chroot, the kernel, the C reference driver, the Rust module and the suites.
    Build(build::BuildOpts),
    /// Boot the lab kernel, load a driver, run CMD in the guest; exits with CMD's exit code.
    Run(run::RunOpts),
    /// Run the HMM suite in the guest, print its TAP, exit with its kselftest code.
    Test(test::TestOpts),
    /// Run the upstream C hmm-tests and the Rust port against the C driver in one boot and
    /// print their results side by side; exits 1 when a case differs.
    Compare(compare::CompareOpts),
    /// Benchmark the C driver and the Rust module in one boot (hmm-bench): CSV, plots, Rust/C table.
    Bench(bench::BenchOpts),
    /// Robustness battery (hmm-robust fuzz, stress, lifecycle) against both drivers in one boot.
    Robust(robust::RobustOpts),
}

/// Run a lab subcommand; returns the process exit code.
pub fn run(cmd: LabCmd) -> Result<i32> {
    match cmd {
        LabCmd::Build(o) => build::run(o),
        LabCmd::Run(o) => run::run(o),
        LabCmd::Test(o) => test::run(o),
        LabCmd::Compare(o) => compare::run(o),
        LabCmd::Bench(o) => bench::run(o),
        LabCmd::Robust(o) => robust::run(o),
    }
}
