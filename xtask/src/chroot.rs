//! The kernel build environment: a debootstrapped Debian trixie chroot.
//!
//! Why a chroot: the kernel's Rust support needs rustc + rust-src 1.96 and bindgen 0.71
//! with libclang 19; trixie(-backports) ships exactly that as distribution packages, and a
//! chroot brings it to any Linux host with debootstrap (Debian, Ubuntu, Fedora, Arch all
//! package it) without touching the host's libc or toolchains. The bookworm-only route
//! (rustc-web + cargo-installed bindgen) works on Debian 12 alone.
//!
//! Keyed by the hash of `scripts/chroot.sh` (which lists every package).
use crate::cache;
use crate::progress::{run_logged, Stage};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A ready build chroot.
pub struct Chroot {
    /// Its root directory.
    pub dir: PathBuf,
}

/// Find or create the chroot.
pub fn ensure(root: &Path) -> Result<Chroot> {
    let script = cache::xtask_dir().join("scripts/chroot.sh");
    let text = cache::read(&script)?;
    let key = cache::key([&text]);
    let dir = root.join(format!("chroot-{key}"));
    if dir.join(".hmm-lab-versions").exists() {
        return Ok(Chroot { dir });
    }
    let log = root.join(format!("chroot-{key}.log"));
    let stage = Stage::start(format!(
        "build chroot (debootstrap trixie + toolchain), log: {}",
        log.display()
    ));
    let tmp = root.join(format!("chroot-{key}.tmp"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).context("remove stale chroot")?;
    }
    let _ = std::fs::remove_file(&log);
    run_logged(Command::new("bash").arg(&script).arg(&tmp), &log)?;
    std::fs::rename(&tmp, &dir).context("rename chroot into place")?;
    stage.done();
    Ok(Chroot { dir })
}

impl Chroot {
    /// A command that runs `argv` inside the chroot, in a private mount namespace with the
    /// given (host dir, chroot path) bind mounts, so nothing stays mounted afterwards.
    pub fn command(&self, binds: &[(&Path, &str)], argv: &[&str]) -> Command {
        let mut script = String::from("set -e; ");
        for (host, inside) in binds {
            script.push_str(&format!(
                "mkdir -p '{root}{inside}' && mount --bind '{host}' '{root}{inside}'; ",
                root = self.dir.display(),
                host = host.display()
            ));
        }
        script.push_str(&format!(
            "mount -t proc proc '{root}/proc'; exec chroot '{root}' /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \"$@\"",
            root = self.dir.display()
        ));
        let mut cmd = Command::new("unshare");
        cmd.args([
            "--mount",
            "--propagation",
            "private",
            "bash",
            "-c",
            &script,
            "chroot-run",
        ]);
        cmd.args(argv);
        cmd
    }

    /// `version` of a package inside the chroot (from the list made at creation).
    pub fn version(&self, pkg: &str) -> Result<String> {
        let text = std::fs::read_to_string(self.dir.join(".hmm-lab-versions"))?;
        text.lines()
            .find_map(|l| {
                l.strip_prefix(pkg)
                    .and_then(|r| r.strip_prefix('\t'))
                    .map(str::to_string)
            })
            .with_context(|| format!("{pkg} not in the chroot's version list"))
    }
}

/// Run a command in the chroot with its output to `log`.
pub fn run(ch: &Chroot, binds: &[(&Path, &str)], argv: &[&str], log: &Path) -> Result<()> {
    run_logged(&mut ch.command(binds, argv), log)
}
