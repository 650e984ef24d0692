//! The options every boot of the lab shares (`--driver`, `--abi`, `--profile`, `--thp` …)
//! and the types they are made of.
use crate::kernel::Profile;
use anyhow::{bail, Result};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, ValueEnum};

/// The driver loaded in the guest.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Driver {
    /// The C reference, lib/test_hmm.ko of the lab kernel.
    C,
    /// Our module, kmod/ (test_hmm_rs.ko).
    Rust,
    /// No driver.
    None,
}

/// The request numbering the driver and the suite speak: hmm-sys's, the one ABI type of the
/// workspace (`patched`, the Rust module's default; `mainline`, the only one the C driver
/// speaks).
pub use hmm_sys::Numbering as Abi;

/// Which suite `lab test` runs.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Suite {
    /// hmm-tests, the Rust port (TAP mode).
    Rust,
    /// The upstream C hmm-tests built from the lab kernel tree.
    C,
    /// hmm-dmirror's device tests (`cargo test -p hmm-dmirror -- --ignored`).
    Lib,
    /// The Rust port as a kselftest drop-in (`hmm-tests/kselftest/`), run by the kernel's
    /// `run_kselftest.sh -t mm:test_hmm_rs.sh`, which loads the driver itself.
    Kselftest,
}

/// THP mode in the guest.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Thp {
    /// `madvise` (default).
    Madvise,
    /// `always` (the C reference driver fails and oopses on device-coherent cases).
    Always,
}

/// Options of every boot.
#[derive(Args, Clone)]
pub struct VmOpts {
    /// Driver to load.
    #[arg(long, value_enum, default_value = "c")]
    pub driver: Driver,
    /// ABI (default: mainline for the C driver, patched for ours).
    #[arg(long, value_parser = PossibleValuesParser::new(Abi::ALL.map(Abi::name))
        .try_map(|s| s.parse::<Abi>()))]
    pub abi: Option<Abi>,
    /// Kernel profile.
    #[arg(long, value_enum, default_value = "fast")]
    pub profile: Profile,
    /// Transparent hugepages mode.
    #[arg(long, value_enum, default_value = "madvise")]
    pub thp: Thp,
    /// Hugetlb pages (default size) to reserve in the guest.
    #[arg(long, default_value_t = 128)]
    pub hugepages: u32,
    /// Limit for the whole boot, in seconds.
    #[arg(long, default_value_t = 1800)]
    pub timeout: u64,
    /// Instruction time: TCG with QEMU's `-icount shift=0,sleep=off`, one vCPU (the guest
    /// clock counts executed instructions).
    #[arg(long)]
    pub icount: bool,
}

impl VmOpts {
    /// The ABI of this boot: `--abi`, else the driver's own.
    pub fn abi(&self) -> Result<Abi> {
        Ok(match (self.driver, self.abi) {
            (Driver::C, Some(Abi::Patched)) => {
                bail!("the C driver (test_hmm.ko, 7.3.4) speaks the mainline ABI only")
            }
            (Driver::C, _) => Abi::Mainline,
            (_, Some(a)) => a,
            (_, None) => Abi::Patched,
        })
    }
    /// The THP mode as the guest's sysfs spells it.
    pub fn thp(&self) -> &'static str {
        match self.thp {
            Thp::Madvise => "madvise",
            Thp::Always => "always",
        }
    }
}
