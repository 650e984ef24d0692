//! Safe userspace access to the Linux HMM test device (`/dev/hmm_dmirrorN`, `lib/test_hmm.c`,
//! or the hmm-rs kernel module), built on `rustix`.
//!
//! HMM (heterogeneous memory management) lets a device mirror a process's address space
//! and migrate its pages to device memory: the kernel's [`Documentation/mm/hmm.rst`][hmm]
//! ([source][hmm-rst]). The test device is a driver that plays such a device in software:
//! [`lib/test_hmm.c`][test_hmm], its ABI [`lib/test_hmm_uapi.h`][uapi], and the selftest
//! that drives it, [`tools/testing/selftests/mm/hmm-tests.c`][hmm-tests]. Each request
//! method of [`Device`] documents its errors, per driver where the C driver and the hmm-rs
//! module differ, and has an example.
//!
//! [hmm]: https://docs.kernel.org/mm/hmm.html
//! [hmm-rst]: https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/tree/Documentation/mm/hmm.rst
//! [test_hmm]: https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/tree/lib/test_hmm.c
//! [uapi]: https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/tree/lib/test_hmm_uapi.h
//! [hmm-tests]: https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/tree/tools/testing/selftests/mm/hmm-tests.c
//!
//! - [`Device`]: an open device and the [`Abi`] (request numbering) its driver speaks, found
//!   out when it is opened, never assumed (`ABI.md`): one method per request
//!   (`commands.rs`): [`Device::read`], [`Device::write`], [`Device::write_slice`],
//!   [`Device::migrate_to_dev`], [`Device::migrate_on_fault_to_dev`],
//!   [`Device::migrate_to_sys`], [`Device::snapshot`], [`Device::exclusive`],
//!   [`Device::check_exclusive`], [`Device::release`], [`Device::set_flags`],
//!   [`Device::read_unlocked`], and the unsafe [`Device::raw`].
//! - [`Mapping`]: owned mmap'd memory of every kind the selftests use, with mm operations and
//!   volatile content access; [`PageRange`]: the pages a request targets, of a mapping or of
//!   memory the caller borrows ([`PageRange::from_slice`]); [`Racing`]: a mapping borrowed
//!   exclusively for requests racing each other from several threads (WRITE against WRITE
//!   or a migration), with no lock between them.
//! - Host buffers are byte slices; [`Mirror`] is an aligned one with `i32` views;
//!   [`Snapshot`]/[`PageState`]: a decoded SNAPSHOT.
//! - [`Error`]: typed argument errors (raised before any syscall) and syscall errors with
//!   their errno and request name.
//!
//! Feature `memmap2`: `Mapping: TryFrom<memmap2::MmapMut>`.
//!
//! ```no_run
//! use hmm_dmirror::{Device, Mapping, Mirror};
//! # fn main() -> hmm_dmirror::Result<()> {
//! let dev = Device::open(0)?;
//! let buf = Mapping::anon_private(16 * hmm_dmirror::page_size())?;
//! buf.fill_i32(|i| i as i32);
//! let mut mirror = Mirror::for_pages(buf.npages());
//! let counts = dev.migrate_to_dev(buf.all(), &mut mirror)?;
//! assert_eq!(counts.cpages, 16);
//! # Ok(()) }
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod abi;
mod adopt;
mod commands;
mod contents;
mod device;
mod error;
#[cfg(test)]
mod fake;
#[cfg(feature = "memmap2")]
mod foreign;
pub mod hugepage;
mod ioctl;
mod listing;
mod mapping;
mod mirror;
mod options;
mod racing;
mod range;
mod request;
mod snapshot;
mod tempfile;

pub use hmm_sys as sys;
pub use rustix::io::Errno;

pub use abi::{Abi, AbiEvidence};
pub use device::Device;
pub use error::{errno_name, Error, Result};
#[cfg(feature = "memmap2")]
pub use foreign::MmapRejected;
pub use hugepage::{
    default_huge_page_size, free_huge_pages, huge_pages_total, pmd_size, set_huge_pages_total,
};
pub use listing::{devices, DeviceNode, MemoryType};
pub use mapping::Mapping;
pub use mirror::Mirror;
pub use options::{Advice, Prot, Sharing, Thp};
pub use racing::Racing;
pub use range::PageRange;
pub use request::{Counts, Flags, Request};
pub use snapshot::{DeviceMemory, Huge, InvalidPageState, Kind, PageState, Snapshot};
pub use tempfile::TempFile;

/// The base page size (`sysconf(_SC_PAGESIZE)`).
pub fn page_size() -> usize {
    rustix::param::page_size()
}
