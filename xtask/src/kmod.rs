//! The Rust module (`kmod/`), built out of tree against the lab kernel with Kbuild
//! (`make M=… MO=…`, so no object file lands in the checkout).
use crate::cache;
use crate::chroot::{self, Chroot};
use crate::kernel::Kernel;
use crate::progress::Stage;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// The module's file name.
pub const MODULE: &str = "test_hmm_rs";

/// Build the module; returns the path of the `.ko`. Kbuild's own dependency tracking makes
/// a warm build cheap, so this always runs make.
pub fn build(ch: &Chroot, k: &Kernel) -> Result<PathBuf> {
    let ws = cache::workspace();
    // One output directory per checkout: two checkouts (worktrees) building at once must not
    // share Kbuild's objects.
    let out = k.dir.join(format!(
        "kmod-out-{}",
        cache::key([ws.to_string_lossy().as_bytes()])
    ));
    std::fs::create_dir_all(&out)?;
    let log = out.with_extension("log");
    let _ = std::fs::remove_file(&log);
    let stage = Stage::start(format!(
        "kmod: make M=kmod ({MODULE}.ko), log: {}",
        log.display()
    ));
    let mo = format!(
        "MO=/build/{}",
        out.file_name().expect("named").to_string_lossy()
    );
    let jobs = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .to_string();
    let clippy = if std::env::var_os("HMM_LAB_NO_CLIPPY").is_some() {
        ""
    } else {
        "CLIPPY=1"
    };
    let mut argv = vec![
        "make",
        "-C",
        "/build/src",
        "ARCH=x86_64",
        "LLVM=1",
        "-j",
        &jobs,
        "M=/ws/kmod",
        &mo,
    ];
    if !clippy.is_empty() && ch.dir.join("usr/bin/clippy-driver").exists() {
        argv.push(clippy);
    }
    argv.push("modules");
    let env_argv: Vec<&str> = ["env", "LIBCLANG_PATH=/usr/lib/llvm-19/lib"]
        .into_iter()
        .chain(argv)
        .collect();
    chroot::run(ch, &[(&k.dir, "/build"), (&ws, "/ws")], &env_argv, &log)?;
    let ko = out.join(format!("{MODULE}.ko"));
    if !ko.exists() {
        bail!("kmod build produced no {}", ko.display());
    }
    stage.done();
    Ok(ko)
}

/// Whether the workspace has a module to build yet.
pub fn present() -> bool {
    Path::new(&cache::workspace()).join("kmod/Kbuild").exists()
}
