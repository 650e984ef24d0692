//! The upstream C `hmm-tests`, built statically from the lab kernel's own tree, so the Rust
//! port can be compared with it case by case in the same kind of boot.
use crate::chroot::{self, Chroot};
use crate::kernel::Kernel;
use crate::progress::Stage;
use anyhow::Result;
use std::path::PathBuf;

/// Build (once per kernel tree) and return the binary's path.
pub fn build(ch: &Chroot, k: &Kernel) -> Result<PathBuf> {
    let bin = k.dir.join("hmm-tests-c");
    if bin.exists() {
        return Ok(bin);
    }
    let log = k.dir.join("selftest.log");
    let stage = Stage::start(format!(
        "upstream C hmm-tests (static), log: {}",
        log.display()
    ));
    let scripts = crate::cache::xtask_dir().join("scripts");
    chroot::run(
        ch,
        &[(&k.dir, "/build"), (&scripts, "/scripts")],
        &["bash", "/scripts/selftest.sh", "/build/hmm-tests-c"],
        &log,
    )?;
    stage.done();
    Ok(bin)
}
