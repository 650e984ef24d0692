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
    build_release_bin("hmm-tests", BIN, log)
}

/// `cargo build --release -p PACKAGE --bin BIN` in the workspace (output to `log`); returns
/// the binary, which the guest runs from the host's filesystem.
pub fn build_release_bin(package: &str, bin: &str, log: &Path) -> Result<PathBuf> {
    let ws = cache::workspace();
    let stage = Stage::start(format!("{package}: cargo build --release"));
    let _ = std::fs::remove_file(log);
    run_logged(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&ws)
            .args(["build", "--release", "-p", package, "--bin", bin]),
        log,
    )?;
    let path = ws.join("target/release").join(bin);
    if !path.exists() {
        bail!("{} not built", path.display());
    }
    stage.done();
    Ok(path)
}

/// The full names of the cases the suite binary `bin` selects with `args`, asked of it on the
/// host (`--list`) before the boot.
pub fn list(bin: &Path, args: &[String]) -> Result<Vec<String>> {
    let out = Command::new(bin).arg("--list").args(args).output()?;
    if !out.status.success() {
        bail!(
            "{} --list failed: {}",
            bin.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    if names.is_empty() {
        bail!("the suite options {args:?} select no case");
    }
    Ok(names)
}

/// Build hmm-dmirror's test executables (their device tests are `#[ignore]`d on a host
/// without the device); returns the executables.
pub fn build_lib_tests(log: &Path) -> Result<Vec<PathBuf>> {
    let ws = cache::workspace();
    let stage = Stage::start("hmm-dmirror tests: cargo test --no-run");
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&ws)
        .args([
            "test",
            "--quiet",
            "-p",
            "hmm-dmirror",
            "--tests",
            "--no-run",
            "--message-format=json",
        ])
        .stderr(std::fs::File::create(log)?)
        .output()?;
    if !out.status.success() {
        bail!("cargo test --no-run failed; log: {}", log.display());
    }
    // One JSON object per line; test artefacts carry "executable":"…".
    let text = String::from_utf8_lossy(&out.stdout);
    let exes: Vec<PathBuf> = text
        .lines()
        .filter(|l| l.contains("\"test\":true"))
        .filter_map(|l| l.split("\"executable\":\"").nth(1))
        .filter_map(|r| r.split('"').next())
        .map(PathBuf::from)
        .collect();
    if exes.is_empty() {
        bail!("no hmm-dmirror test executables found");
    }
    stage.done();
    Ok(exes)
}
