// SPDX-License-Identifier: GPL-2.0

//! Safe abstractions over the kernel's HMM, ZONE_DEVICE and migration APIs.
//!
//! Every `unsafe` block of the module lives below this directory. The rest of the module
//! (devices, per-open state, the ioctl handlers) is written against these types only.
//!
//! | file                  | C API                                                        |
//! |-----------------------|--------------------------------------------------------------|
//! | `memmap.rs`           | `page_to_pfn()`, `pfn_to_page()`, `kmap_local_page()` inline  |
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
//! The one table of the module (`dmirror.rs` and `devmem.rs` refer here). A lock may be
//! taken while holding only locks above it; two entries marked *never nested* are never
//! held together.
//!
//! 1. `Dmirror::requests` (mutex): one request of an open file at a time, held for the
//!    whole request. Neither the notifier callback nor the CPU fault path takes it.
//! 2. the mm's `mmap_lock` (read), taken by requests (READ/WRITE/SNAPSHOT per attempt
//!    inside `range_fault`, the migration loops and EXCLUSIVE across the request); the CPU
//!    fault path runs under it or under the per-vma lock.
//! 3. folio locks: of the pages under migration (taken by `migrate_vma_setup()` and
//!    `migrate_device_range()`, and of the new pages, [`migrate_vma::NewPage`]), of the
//!    faulting page (`migrate_to_ram`), of a device-exclusive page
//!    ([`exclusive::ExclusivePage`]).
//! 4. an invalidation of the mm (`invalidate_range_start` .. `_end`, which the core mm
//!    runs under 2 and often under 3). `mmu_interval_read_begin()` waits for running ones,
//!    so it is called holding nothing below 2 (before the migration or the fault it
//!    protects); so does the removal of an interval notifier (dropping a `Dmirror`), hence
//!    a file is never freed inside the CPU fault handler (`DeviceMem::remove_mirror` waits
//!    for the faults that hold it).
//! 5. the mirror mutex `Mirror::pt` (C: `dmirror->mutex`): taken by the interval notifier
//!    callback (under 4), by requests (under 2), by the CPU fault path (under 3).
//!    The xarray's internal spinlock nests inside it.
//! 6. `DeviceMem::chunks` (mutex; C: `devmem_lock`): allocation (under 3, from
//!    `alloc_and_copy_to_dev`), mapping a chunk; RELEASE and close only detach chunks or
//!    take references under it; eviction and unmapping run without it (they take 3, and 5
//!    through the notifier). *Never nested* with 5.
//! 7. `DeviceMem::free` (spinlock; C: `mdevice->lock`): under 6, and from `folio_free`
//!    (wherever a device page's last reference is put).
//! 8. `DeviceMem::mirrors` (spinlock), the registry of open files: innermost; nothing is
//!    taken and no reference to a file is dropped under it.
//! 9. `BackingStore::split` (spinlock, [`page::BackingStore`]): splitting or freeing the
//!    backing run of a PMD-sized device folio, from `folio_free`; *never nested* with 7 or
//!    8, and nothing is taken under it.
//!
//! Sleeping waits outside the table: `memunmap_pages()` (dropping a chunk) waits for every
//! page of the chunk to be freed, and `DeviceMem::remove_mirror` for the faults that hold the
//! file; both run from RELEASE, close or unload holding at most 1.

pub(crate) mod exclusive;
pub(crate) mod interval_notifier;
mod memmap;
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
