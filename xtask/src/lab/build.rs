//! `cargo xtask lab build`: the chroot, the kernel, the C reference driver, the Rust module
//! and the C suite, built (or found in the cache) and named.
use super::env;
use crate::kernel::Profile;
use anyhow::Result;
use clap::Args;

/// Options of `lab build`.
#[derive(Args, Clone)]
pub struct BuildOpts {
    /// Kernel profile.
    #[arg(long, value_enum, default_value = "fast")]
    profile: Profile,
}

/// Run `lab build`; returns the exit code.
pub fn run(o: BuildOpts) -> Result<i32> {
    let b = env::build(o.profile, true)?;
    eprintln!("kernel:  {}", b.kernel.image().display());
    eprintln!("C driver: {}", b.kernel.test_hmm_ko().display());
    match &b.kmod {
        Some(k) => eprintln!("Rust module: {}", k.display()),
        None => eprintln!("Rust module: kmod/ has no Kbuild yet, not built"),
    }
    eprintln!("C suite: {}", b.c_suite.display());
    Ok(0)
}
