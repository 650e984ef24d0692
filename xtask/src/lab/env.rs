//! The lab's environment, shared by every command: the cache root, the host packages and
//! virtme-ng, the chroot, the kernel of a profile, and the drivers and suites built for it.
use crate::kernel::{self, Kernel, Profile};
use crate::{cache, chroot, host, kmod, selftest};
use anyhow::{bail, Result};
use std::path::PathBuf;

/// The lab's base: what every boot stands on.
pub struct Base {
    /// The cache root (`~/.cache/hmm-rs`).
    pub root: PathBuf,
    /// virtme-ng.
    pub vng: PathBuf,
    /// The build chroot.
    pub ch: chroot::Chroot,
    /// The kernel.
    pub kernel: Kernel,
}

/// Makes sure the host, the chroot and the kernel of `profile` are ready (all cached).
pub fn prepare(profile: Profile) -> Result<Base> {
    let root = cache::root();
    std::fs::create_dir_all(&root)?;
    let hlog = root.join("host.log");
    host::ensure_packages(&hlog)?;
    let vng = host::vng(&root, &hlog)?;
    let ch = chroot::ensure(&root)?;
    let kernel = kernel::ensure(&root, &ch, profile)?;
    Ok(Base {
        root,
        vng,
        ch,
        kernel,
    })
}

/// What a boot of `lab run`, `test` or `compare` needs.
pub struct Built {
    /// The kernel.
    pub kernel: Kernel,
    /// Our module, when built.
    pub kmod: Option<PathBuf>,
    /// The upstream C suite.
    pub c_suite: PathBuf,
    /// virtme-ng.
    pub vng: PathBuf,
}

/// The base of `profile`, the Rust module (whenever it exists; its failure to build stops
/// only the runs that load it, `need_kmod`) and the upstream C suite.
pub fn build(profile: Profile, need_kmod: bool) -> Result<Built> {
    let Base {
        vng, ch, kernel, ..
    } = prepare(profile)?;
    let kmod = if kmod::present() {
        match kmod::build(&ch, &kernel) {
            Ok(ko) => Some(ko),
            Err(e) if !need_kmod => {
                eprintln!(
                    "    warning: the Rust module did not build ({e:#}); continuing without it"
                );
                None
            }
            Err(e) => return Err(e),
        }
    } else if need_kmod {
        bail!("kmod/ has no Kbuild: the Rust module does not exist yet");
    } else {
        None
    };
    let c_suite = selftest::build(&ch, &kernel)?;
    Ok(Built {
        kernel,
        kmod,
        c_suite,
        vng,
    })
}

/// The drivers of a one-boot comparison (`bench`, `robust`): the C driver, which must exist,
/// and the Rust module unless `c_only`, or why it is not available.
pub fn both_drivers(b: &Base, c_only: bool) -> Result<(PathBuf, Option<PathBuf>, String)> {
    let c_ko = b.kernel.test_hmm_ko();
    if !c_ko.exists() {
        bail!(
            "the C driver {} is missing: run `cargo xtask lab build`",
            c_ko.display()
        );
    }
    let (rust_ko, why) = if c_only {
        (None, "not requested (--c-only)".to_string())
    } else if !kmod::present() {
        (None, "kmod/ has no Kbuild yet".to_string())
    } else {
        match kmod::build(&b.ch, &b.kernel) {
            Ok(ko) => (Some(ko), String::new()),
            Err(e) => (None, format!("build failed: {e:#}")),
        }
    };
    Ok((c_ko, rust_ko, why))
}
