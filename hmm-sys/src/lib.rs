//! Raw definitions of the Linux HMM test device ABI (`lib/test_hmm_uapi.h`).
//!
//! `no_std`, no dependencies, names exactly as in C, like `kvm-bindings`.
//!
//! Two request numberings exist and collide:
//! - the crate root holds the **patched** ABI, with the migrate-on-fault series applied
//!   (`HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV` = 0x03, everything after it shifted by one);
//! - [`mainline`] holds the stock Linux 7.3 numbering, which has no migrate-on-fault, and
//!   which every shipped kernel's `test_hmm` speaks.
//!
//! The same number means different requests in the two (mainline 0x05 EXCLUSIVE copies whole
//! pages where patched 0x05 SNAPSHOT writes one byte per page), so a program must know which
//! numbering the driver behind its file speaks before it sends a request whose kernel writes
//! depend on it. [`Numbering`] names the two; `hmm-dmirror` finds out which one a device
//! speaks when it opens it (see its `ABI.md`).
//!
//! The definitions live in [`uapi`] (a plain Rust file with no `std` and no crate
//! dependencies), so the Rust kernel module includes the very same file.
//!
//! Feature `std` (off by default) adds [`Numbering::from_env`] and [`Numbering::from_env_var`].
#![no_std]

#[cfg(feature = "std")]
extern crate std;

#[path = "uapi.rs"]
mod uapi_file;

mod numbering;

/// The ABI definitions (re-exported at the crate root for the patched ABI).
pub mod uapi {
    pub use super::uapi_file::*;
}

#[cfg(feature = "std")]
pub use numbering::EnvNumberingError;
pub use numbering::ParseNumberingError;
pub use uapi_file::patched::*;
pub use uapi_file::{
    hmm_dmirror_cmd, ioc, Numbering, Request, HMM_DMIRROR_FLAG_FAIL_ALLOC, HMM_DMIRROR_IOC_MAGIC,
    HMM_DMIRROR_MEMORY_DEVICE_COHERENT, HMM_DMIRROR_MEMORY_DEVICE_PRIVATE,
    HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL, HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE,
    HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL, HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE,
    HMM_DMIRROR_PROT_ERROR, HMM_DMIRROR_PROT_NONE, HMM_DMIRROR_PROT_PMD, HMM_DMIRROR_PROT_PUD,
    HMM_DMIRROR_PROT_READ, HMM_DMIRROR_PROT_WRITE, HMM_DMIRROR_PROT_ZERO, IOC_READ, IOC_WRITE,
};

/// `_IOWR(ty, nr, size)` (asm-generic/ioctl.h): the number of a read-write ioctl whose
/// argument is `size` bytes, on [`ioc`]; for other devices' requests that users of this
/// device also make (e.g. the selftests' `gup_test` and userfaultfd ioctls).
pub const fn iowr(ty: u8, nr: u8, size: usize) -> u32 {
    ioc(IOC_READ | IOC_WRITE, ty as u32, nr as u32, size)
}

/// The stock Linux 7.3 request numbering (`lib/test_hmm_uapi.h` as shipped), which has no
/// `HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV`.
pub mod mainline {
    pub use super::uapi_file::mainline::*;
}
