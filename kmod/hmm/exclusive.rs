// SPDX-License-Identifier: GPL-2.0

//! `make_device_exclusive()`: take a page away from the CPU for a device atomic.

use super::mmap::MmapRead;
use super::page::PageRef;
use super::Owner;
use kernel::{bindings, ffi::c_ulong, prelude::*};

/// A page made device-exclusive; holds its folio locked and referenced until drop
/// (C: `folio_unlock(folio); folio_put(folio);`).
///
/// # Invariants
///
/// `folio` is locked and referenced by `self`; `page` is a page of it.
pub(crate) struct ExclusivePage {
    page: core::ptr::NonNull<bindings::page>,
    folio: *mut bindings::folio,
}

impl ExclusivePage {
    /// `make_device_exclusive(mm, addr, owner, &folio)` under the mmap read lock; the
    /// `MMU_NOTIFY_EXCLUSIVE` invalidation it makes carries `owner`, for the caller's
    /// notifier to filter out.
    pub(crate) fn make(lock: &MmapRead<'_>, addr: usize, owner: Owner) -> Result<Self> {
        let mut folio: *mut bindings::folio = core::ptr::null_mut();
        // SAFETY: The mmap read lock of `mm` is held and the mm has users; `folio` is a
        // valid out pointer.
        let page = unsafe {
            bindings::make_device_exclusive(
                lock.mm().as_raw(),
                addr as c_ulong,
                owner.as_ptr(),
                &mut folio,
            )
        };
        let v = page as isize;
        if v < 0 && v >= -(bindings::MAX_ERRNO as isize) {
            return Err(Error::from_errno(v as i32));
        }
        let Some(page) = core::ptr::NonNull::new(page) else {
            return Err(EFAULT);
        };
        if folio.is_null() {
            return Err(EFAULT);
        }
        // INVARIANT: On success the folio is returned locked with a reference.
        Ok(ExclusivePage { page, folio })
    }

    /// The page.
    pub(crate) fn page(&self) -> PageRef<'_> {
        // SAFETY: We hold a reference on the folio, so the page stays allocated.
        unsafe { PageRef::from_non_null(self.page) }
    }
}

impl Drop for ExclusivePage {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the folio is locked and referenced by us.
        unsafe {
            bindings::folio_unlock(self.folio);
            bindings::folio_put(self.folio);
        }
    }
}
