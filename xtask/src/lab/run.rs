//! `cargo xtask lab run -- CMD ARGS…`: one boot with the driver loaded, CMD run in the guest;
//! the exit code is CMD's, or 1 when the kernel reported a problem.
use super::boot::boot;
use super::env;
use super::options::{Driver, VmOpts};
use crate::known::Known;
use anyhow::Result;
use clap::Args;

/// Options of `lab run`.
#[derive(Args, Clone)]
pub struct RunOpts {
    #[command(flatten)]
    vm: VmOpts,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true)]
    cmd: Vec<String>,
}

/// Run `lab run`; returns the exit code.
pub fn run(o: RunOpts) -> Result<i32> {
    let b = env::build(o.vm.profile, o.vm.driver == Driver::Rust)?;
    let boot = boot(&b, &o.vm, o.cmd, false, true)?;
    Ok(boot.judged(&Known::default()))
}
