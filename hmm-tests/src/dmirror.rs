//! The C test's device helpers on top of `hmm-dmirror`: `hmm_open()`, `hmm_dmirror_cmd()`,
//! `hmm_migrate_sys_to_dev()`, `hmm_migrate_dev_to_sys()` and the series'
//! `hmm_migrate_on_fault_sys_to_dev()`.
//!
//! Requests go through [`Device::raw_cmd`] with the buffer's raw addresses, because the tests
//! aim requests at holes, PROT_NONE ranges and moved mappings on purpose; the device's
//! [`hmm_dmirror::Abi`] picks the request number. Like C, a request returns 0 or `-errno`
//! and stores `cpages`/`faults` in the buffer only on success.

use hmm_dmirror::{Device, Request};

use crate::buffer::HmmBuffer;

/// `HMM_DMIRROR_READ`.
pub const HMM_DMIRROR_READ: Request = Request::Read;
/// `HMM_DMIRROR_WRITE`.
pub const HMM_DMIRROR_WRITE: Request = Request::Write;
/// `HMM_DMIRROR_MIGRATE_TO_DEV`.
pub const HMM_DMIRROR_MIGRATE_TO_DEV: Request = Request::MigrateToDev;
/// `HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV` (patched ABI only).
pub const HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV: Request = Request::MigrateOnFaultToDev;
/// `HMM_DMIRROR_MIGRATE_TO_SYS`.
pub const HMM_DMIRROR_MIGRATE_TO_SYS: Request = Request::MigrateToSys;
/// `HMM_DMIRROR_SNAPSHOT`.
pub const HMM_DMIRROR_SNAPSHOT: Request = Request::Snapshot;
/// `HMM_DMIRROR_EXCLUSIVE`.
pub const HMM_DMIRROR_EXCLUSIVE: Request = Request::Exclusive;
/// `HMM_DMIRROR_CHECK_EXCLUSIVE`.
pub const HMM_DMIRROR_CHECK_EXCLUSIVE: Request = Request::CheckExclusive;
/// `HMM_DMIRROR_RELEASE`.
pub const HMM_DMIRROR_RELEASE: Request = Request::Release;
/// `HMM_DMIRROR_FLAGS`.
pub const HMM_DMIRROR_FLAGS: Request = Request::Flags;
/// `HMM_DMIRROR_READ_UNLOCKED`.
pub const HMM_DMIRROR_READ_UNLOCKED: Request = Request::ReadUnlocked;

/// Returned for a request the library refused without asking the kernel (the reason is
/// logged); no errno is that large, so it can never pass an `ASSERT_EQ(ret, -E…)`.
pub const LIBRARY_REFUSED: i32 = i32::MIN;

/// `hmm_open(unit)`: opens `/dev/hmm_dmirror<unit>` with the run's ABI (the driver's own
/// when the run names none); on failure prints
/// `could not open hmm dmirror driver (<path>)` and returns the library's error.
pub fn hmm_open(unit: u32) -> Result<Device, hmm_dmirror::Error> {
    let opened = match crate::config::get().abi {
        Some(abi) => Device::open_with_abi(unit, abi),
        None => Device::open(unit),
    };
    opened.inspect_err(|_| {
        crate::harness::assert::diag(format_args!(
            "could not open hmm dmirror driver ({})",
            Device::path_of(unit).display()
        ));
    })
}

/// Bytes of mirror the kernel accesses for `request` on `npages` pages.
fn mirror_bytes_needed(request: Request, npages: u64) -> usize {
    let npages = usize::try_from(npages).unwrap_or(usize::MAX);
    match request {
        Request::Read
        | Request::ReadUnlocked
        | Request::Write
        | Request::MigrateToDev
        | Request::MigrateOnFaultToDev
        | Request::Exclusive => npages.saturating_mul(hmm_dmirror::page_size()),
        Request::Snapshot => npages,
        // MIGRATE_TO_SYS, CHECK_EXCLUSIVE, RELEASE, FLAGS do not touch the mirror (and FLAGS'
        // "npages" is the flag word).
        _ => 0,
    }
}

/// `hmm_dmirror_cmd(fd, request, buffer, npages)`: `cmd = {buffer->ptr, buffer->mirror,
/// npages}`; 0 on success (counters stored in the buffer), else `-errno`.
pub fn hmm_dmirror_cmd(dev: &Device, request: Request, buffer: &mut HmmBuffer, npages: u64) -> i32 {
    let needed = mirror_bytes_needed(request, npages);
    assert!(
        needed <= buffer.mirror_len(),
        "{request}: {npages} pages need a {needed}-byte mirror, the buffer has {}",
        buffer.mirror_len()
    );
    let (addr, mirror) = (buffer.ptr as u64, buffer.mirror().as_mut_ptr() as u64);
    // SAFETY: the kernel writes at most `needed` bytes of the buffer's mirror (checked above;
    // the mirror is owned by the buffer, which is exclusively borrowed, and no reference into
    // it is alive). HMM_DMIRROR_WRITE writes `npages` pages at `buffer.ptr`: the tests only
    // aim it at their own mappings (`Mapping`s the buffer owns, reached only through volatile
    // views, none alive during this `&mut` call), and a range the test unmapped fails in the
    // kernel with an errno (a case's process maps nothing else meanwhile).
    let res = unsafe { dev.raw_cmd(request, addr, mirror, npages) };
    match res {
        Ok(counts) => {
            buffer.cpages = counts.cpages;
            buffer.faults = counts.faults;
            0
        }
        Err(e) => neg_errno(&e),
    }
}

/// A failed request as C's harness sees it: `-errno`, or [`LIBRARY_REFUSED`] (reason logged)
/// when the library refused it without asking the kernel.
pub fn neg_errno(e: &hmm_dmirror::Error) -> i32 {
    match e.errno() {
        Some(errno) => -errno.raw_os_error(),
        None => {
            crate::TH_LOG!("{e}");
            LIBRARY_REFUSED
        }
    }
}

/// `hmm_migrate_sys_to_dev()`: `HMM_DMIRROR_MIGRATE_TO_DEV`.
pub fn hmm_migrate_sys_to_dev(dev: &Device, buffer: &mut HmmBuffer, npages: u64) -> i32 {
    hmm_dmirror_cmd(dev, Request::MigrateToDev, buffer, npages)
}

/// `hmm_migrate_on_fault_sys_to_dev()` (migrate-on-fault series):
/// `HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV`.
pub fn hmm_migrate_on_fault_sys_to_dev(dev: &Device, buffer: &mut HmmBuffer, npages: u64) -> i32 {
    hmm_dmirror_cmd(dev, Request::MigrateOnFaultToDev, buffer, npages)
}

/// `hmm_migrate_dev_to_sys()`: `HMM_DMIRROR_MIGRATE_TO_SYS`.
pub fn hmm_migrate_dev_to_sys(dev: &Device, buffer: &mut HmmBuffer, npages: u64) -> i32 {
    hmm_dmirror_cmd(dev, Request::MigrateToSys, buffer, npages)
}
