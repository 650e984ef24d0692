// SPDX-License-Identifier: GPL-2.0

//! The mmap read lock of an mm, remembering which mm it locks.

use kernel::mm::{virt::VmaRef, MmWithUser, MmapReadGuard};

/// `mmap_read_lock(mm)` held until drop; unlike the kernel crate's `MmapReadGuard`, it
/// knows its mm, so that the abstractions here can check that the lock they are handed
/// is the lock of the mm they work on.
pub(crate) struct MmapRead<'a> {
    mm: &'a MmWithUser,
    guard: MmapReadGuard<'a>,
}

impl<'a> MmapRead<'a> {
    /// `mmap_read_lock(mm)`.
    pub(crate) fn lock(mm: &'a MmWithUser) -> Self {
        MmapRead {
            mm,
            guard: mm.mmap_read_lock(),
        }
    }

    /// The locked mm.
    pub(crate) fn mm(&self) -> &'a MmWithUser {
        self.mm
    }

    /// `vma_lookup()`.
    pub(crate) fn vma_lookup(&self, addr: usize) -> Option<&VmaRef> {
        self.guard.vma_lookup(addr)
    }
}
