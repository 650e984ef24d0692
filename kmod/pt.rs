// SPDX-License-Identifier: GPL-2.0

//! The device page table: which CPU page the device sees at each virtual page, and with
//! which access (C: `dmirror->pt`, an xarray of `xa_tag_pointer()`s).
//!
//! The table does not hold references on its pages. It stays coherent because every entry
//! is erased before its page can be freed:
//! - entries from `hmm_range_fault()` are stored only after `mmu_interval_read_retry()`
//!   succeeded under the mirror mutex, and the interval notifier erases them (under the
//!   same mutex) before the core mm unmaps the page;
//! - entries for migrated pages are stored before `migrate_vma_finalize()` frees the
//!   source pages, and erased by the CPU fault path and MIGRATE_TO_SYS before the device
//!   page is freed (the notifier skips the device's own migrations, like the C driver);
//! - device-exclusive entries are erased by the `MMU_NOTIFY_EXCLUSIVE` invalidation that
//!   ends the exclusive access.

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

    /// Maps `page` at `vpfn` with `tag`.
    pub(crate) fn map(&mut self, vpfn: usize, page: PageRef<'_>, tag: Tag) -> Result {
        self.xa.as_mut().store(vpfn, page, tag)
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
