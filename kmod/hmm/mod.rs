// SPDX-License-Identifier: GPL-2.0

//! Safe abstractions over the kernel's HMM, ZONE_DEVICE and migration APIs.
//!
//! Every `unsafe` block of the module lives below this directory. The rest of the module
//! (devices, per-open state, the ioctl handlers) is written against these types only.
//!
//! | file                  | C API                                                        |
//! |-----------------------|--------------------------------------------------------------|
//! | `page.rs`             | `struct page`: pfn, kind, kmap copies, backing pages          |
//! | `xarray.rs`           | an `xarray` of tagged, non-owning page pointers              |
//! | `interval_notifier.rs`| `mmu_interval_notifier_insert/remove`, `read_begin/retry`    |
//! | `range_fault.rs`      | `hmm_range_fault()`, `hmm_range_fault_unlocked_timeout()`    |
//! | `pagemap.rs`          | `memremap_pages()`, `dev_pagemap_ops`                        |
//! | `migrate_vma.rs`      | `migrate_vma_*()`, `migrate_device_*()`                      |
//! | `exclusive.rs`        | `make_device_exclusive()`                                    |
//! | `misc.rs`             | data attached to a misc device registration                  |
//! | `param.rs`            | the string module parameter `abi=`                           |
//! | `mmap.rs`             | `mmap_read_lock()` that knows its mm                          |
//! | `user_space.rs`       | `mm->task_size`: the end of a process's user address space   |
//!
//! # Lock order (outermost first)
//!
//! 1. the mm's `mmap_lock` (read), taken by [`range_fault`], the migration loops and
//!    EXCLUSIVE; the CPU fault path runs under it (or under the per-vma lock)
//! 2. `DeviceMem::chunks` (mutex; C: `devmem_lock`): allocation of a new chunk (under 1),
//!    RELEASE and close (which evict chunks: `migrate_device_range` takes 3 and, through
//!    the notifier, 4)
//! 3. the folio lock of pages under migration (taken by the core mm)
//! 4. the mirror mutex (`Mirror::pt`; C: `dmirror->mutex`), taken inside the interval
//!    notifier callback, i.e. under whatever the core mm holds when it invalidates
//! 5. `DeviceMem::free` (spinlock; C: `mdevice->lock`), also taken from `folio_free`
//! 6. `DeviceMem::mirrors` (spinlock), the registry of open files
//!
//! The CPU fault path never takes 2, so a RELEASE that holds 2 while it waits for folio
//! locks cannot deadlock against a fault that holds a folio lock.
//!
//! The xarray's internal spinlock nests inside the mirror mutex.

pub(crate) mod exclusive;
pub(crate) mod interval_notifier;
pub(crate) mod migrate_vma;
pub(crate) mod misc;
pub(crate) mod mmap;
pub(crate) mod page;
pub(crate) mod pagemap;
pub(crate) mod param;
pub(crate) mod range_fault;
pub(crate) mod user_space;
pub(crate) mod xarray;

use kernel::ffi::c_void;

/// The `owner` cookie of a device (`dev_pagemap::owner`, `hmm_range::dev_private_owner`,
/// `migrate_vma::pgmap_owner`, `mmu_notifier_range::owner`).
///
/// It is an address used only for comparison; it is never dereferenced.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Owner(*mut c_void);

// SAFETY: `Owner` is an opaque cookie that is only compared, never dereferenced.
unsafe impl Send for Owner {}
// SAFETY: `Owner` is an opaque cookie that is only compared, never dereferenced.
unsafe impl Sync for Owner {}

impl Owner {
    /// The owner cookie identifying `obj`.
    pub(crate) fn of<T>(obj: &T) -> Self {
        Owner(core::ptr::from_ref(obj).cast_mut().cast())
    }

    /// The raw cookie, for the C structures that carry it.
    pub(crate) fn as_ptr(self) -> *mut c_void {
        self.0
    }
}
