//! Raw definitions of the Linux HMM test device ABI (`lib/test_hmm_uapi.h`).
//!
//! `no_std`, no dependencies, names exactly as in C, like `kvm-bindings`.
//!
//! Two request numberings exist and collide (see `shared/spec/uapi.md`):
//! - the crate root holds the **patched** ABI, with the migrate-on-fault series applied
//!   (`HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV` = 0x03, everything after it shifted by one);
//!   this is the project's default;
//! - [`mainline`] holds the stock Linux 7.3 numbering, which has no migrate-on-fault.
//!
//! The definitions live in [`uapi`] (a plain Rust file with no `std` and no crate
//! dependencies), so the Rust kernel module includes the very same file.
#![no_std]

#[path = "uapi.rs"]
mod uapi_file;

/// The ABI definitions (re-exported at the crate root for the patched ABI).
pub mod uapi {
    pub use super::uapi_file::*;
}

pub use uapi_file::patched::*;
pub use uapi_file::{
    hmm_dmirror_cmd, ioc, Numbering, Request, HMM_DMIRROR_FLAG_FAIL_ALLOC, HMM_DMIRROR_IOC_MAGIC,
    HMM_DMIRROR_MEMORY_DEVICE_COHERENT, HMM_DMIRROR_MEMORY_DEVICE_PRIVATE,
    HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL, HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE,
    HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL, HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE,
    HMM_DMIRROR_PROT_ERROR, HMM_DMIRROR_PROT_NONE, HMM_DMIRROR_PROT_PMD, HMM_DMIRROR_PROT_PUD,
    HMM_DMIRROR_PROT_READ, HMM_DMIRROR_PROT_WRITE, HMM_DMIRROR_PROT_ZERO, IOC_READ, IOC_WRITE,
};

/// The stock Linux 7.3 request numbering (`lib/test_hmm_uapi.h` as shipped), which has no
/// `HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV`.
pub mod mainline {
    pub use super::uapi_file::mainline::*;
}
