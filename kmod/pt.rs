// SPDX-License-Identifier: GPL-2.0

//! The device page table: which CPU page the device sees at each virtual page, and with
//! which access (C: `dmirror->pt`, an xarray of `xa_tag_pointer()`s).
//!
//! The table does not hold references on its pages. It stays coherent because every entry
//! is erased before its page can be freed:
//! - an entry is added only through [`Validated`], a guard of the mirror mutex that exists
//!   only after `mmu_interval_read_retry()` found no invalidation since the request looked
//!   the page up (`hmm_range_fault()`), began migrating it or made it device-exclusive
//!   (`hmm/interval_notifier.rs`); the interval notifier erases entries under the same
//!   mutex before the core mm unmaps their pages. So a page that an invalidation (a
//!   concurrent `MADV_DONTNEED`, `munmap`, ...) unmapped meanwhile is never mapped here;
//! - the invalidations the file's own migration to device memory and its own
//!   device-exclusive conversions cause are skipped (the request updates the table
//!   itself): migrated entries replace those of the source pages before
//!   `migrate_vma_finalize()` frees them, and if they cannot (validation or a store
//!   failed), the request erases the whole window first;
//! - entries of device pages are erased by the CPU fault path and MIGRATE_TO_SYS before
//!   the device page is freed.

use crate::hmm::interval_notifier::Validated;
use crate::hmm::page::{PageRef, PAGE_SHIFT};
use crate::hmm::xarray::{PageXArray, Tag};
use kernel::prelude::*;

/// `DPT_XA_TAG_READ`: readable (no tag).
pub(crate) const TAG_READ: Tag = 0;
/// `DPT_XA_TAG_ATOMIC`: device-exclusive (atomic) access.
pub(crate) const TAG_ATOMIC: Tag = 1;
/// `DPT_XA_TAG_WRITE`: writable.
pub(crate) const TAG_WRITE: Tag = 3;

/// The device page table of one open file, indexed by virtual pfn.
pub(crate) struct DevicePageTable {
    xa: Pin<KBox<PageXArray>>,
}

impl DevicePageTable {
    /// An empty table (C: `xa_init(&dmirror->pt)`).
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            xa: KBox::pin_init(PageXArray::new(), GFP_KERNEL)?,
        })
    }

    /// The page mapped at virtual pfn `vpfn` and its tag.
    pub(crate) fn lookup(&self, vpfn: usize) -> Option<(PageRef<'_>, Tag)> {
        self.xa.load(vpfn)
    }

    /// Whether a page of `[first, last]` (virtual pfns) is mapped with `tag`; visits the
    /// mapped entries only.
    pub(crate) fn any_tagged(&self, first: usize, last: usize, tag: Tag) -> bool {
        self.xa.find_tag(first, last, tag).is_some()
    }

    /// Unmaps `vpfn`.
    pub(crate) fn unmap(&mut self, vpfn: usize) {
        self.xa.as_mut().erase(vpfn)
    }

    /// Unmaps the pages of `[start, end)` (C: `dmirror_do_update`, which also erases the
    /// page at `end`: harmless there, where the device's own migrations are never
    /// invalidations, but here a CPU fault on page P would drop the entry of P + 1 while
    /// that page stays in device memory, and a later MIGRATE_TO_DEV could not read it back).
    pub(crate) fn invalidate(&mut self, start: usize, end: usize) {
        if end <= start {
            return;
        }
        self.xa
            .as_mut()
            .erase_range(start >> PAGE_SHIFT, (end - 1) >> PAGE_SHIFT)
    }
}

impl Validated<'_, DevicePageTable> {
    /// Maps `page` at `vpfn` with `tag`: only through a validated guard (see the module
    /// documentation).
    pub(crate) fn map(&mut self, vpfn: usize, page: PageRef<'_>, tag: Tag) -> Result {
        let pt: &mut DevicePageTable = self;
        pt.xa.as_mut().store(vpfn, page, tag)
    }
}
