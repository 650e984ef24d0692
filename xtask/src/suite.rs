//! The Rust suite (`hmm-tests`), built on the host: the guest sees the host's root
//! filesystem, so a host binary runs there as it is.
use crate::cache;
use crate::progress::{run_logged, Stage};
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The suite's kselftest (TAP) binary.
pub const BIN: &str = "hmm-tests";

/// Build the suite in release mode; returns the binary.
pub fn build(log: &Path) -> Result<PathBuf> {
    let ws = cache::workspace();
    let stage = Stage::start("hmm-tests: cargo build --release");
    let _ = std::fs::remove_file(log);
    run_logged(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&ws)
            .args(["build", "--release", "--quiet", "-p", "hmm-tests", "--bin", BIN]),
        log,
    )?;
    let bin = ws.join("target/release").join(BIN);
    if !bin.exists() {
        bail!("{} not built", bin.display());
    }
    stage.done();
    Ok(bin)
}
