//! Host prerequisites: Debian packages (debootstrap, QEMU, udev) and virtme-ng from PyPI.
//!
//! Missing packages are installed with apt-get (as root; otherwise we say what to run).
use crate::progress::{run_logged, Stage};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The virtme-ng release the lab is tested with.
pub const VNG_VERSION: &str = "1.42";

/// (program that must be on PATH, Debian package that provides it)
const HOST_TOOLS: &[(&str, &str)] = &[
    ("debootstrap", "debootstrap"),
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("udevadm", "udev"),
    ("depmod", "kmod"),
    ("busybox", "busybox"),
    // The kselftest framework's `install` (lib.mk) copies with rsync.
    ("rsync", "rsync"),
];

fn on_path(prog: &str) -> bool {
    let extra = ["/usr/sbin", "/sbin", "/usr/libexec", "/usr/lib/qemu"];
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(prog).exists()))
        .unwrap_or(false)
        || extra.iter().any(|d| Path::new(d).join(prog).exists())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

/// Install whatever host package is missing.
pub fn ensure_packages(log: &Path) -> Result<()> {
    let missing: Vec<&str> = HOST_TOOLS
        .iter()
        .filter(|(p, _)| !on_path(p))
        .map(|(_, pkg)| *pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let stage = Stage::start(format!("host packages: installing {}", missing.join(" ")));
    if !is_root() {
        bail!(
            "missing host packages; run as root: apt-get install -y {}",
            missing.join(" ")
        );
    }
    run_logged(Command::new("apt-get").arg("update"), log)?;
    run_logged(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
        log,
    )?;
    stage.done();
    Ok(())
}

/// The `vng` executable, from a virtualenv in the cache (created on first use; a
/// `.complete` stamp marks a finished install, since venv scripts carry absolute paths and
/// cannot be built elsewhere and renamed into place).
pub fn vng(cache: &Path, log: &Path) -> Result<PathBuf> {
    let venv = cache.join(format!("venv-vng-{VNG_VERSION}"));
    let exe = venv.join("bin/vng");
    let stamp = venv.join(".complete");
    if stamp.exists() {
        return Ok(exe);
    }
    let stage = Stage::start(format!(
        "virtme-ng {VNG_VERSION} (PyPI) into {}",
        venv.display()
    ));
    let _ = std::fs::remove_dir_all(&venv);
    let mk = || {
        Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
    };
    if !mk().map(|s| s.success()).unwrap_or(false) {
        // Debian's python3 needs python3-venv for `-m venv`.
        run_logged(
            Command::new("apt-get")
                .args(["install", "-y", "python3-venv", "python3-pip"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
            log,
        )?;
        let _ = std::fs::remove_dir_all(&venv);
        if !mk().map(|s| s.success()).unwrap_or(false) {
            bail!("python3 -m venv failed; install python3-venv");
        }
    }
    run_logged(
        Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            &format!("virtme-ng=={VNG_VERSION}"),
        ]),
        log,
    )?;
    std::fs::write(&stamp, VNG_VERSION).context("write venv stamp")?;
    stage.done();
    Ok(exe)
}
