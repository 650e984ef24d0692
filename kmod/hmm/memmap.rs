// SPDX-License-Identifier: GPL-2.0

//! `page_to_pfn()`, `pfn_to_page()` and `kmap_local_page()`/`kunmap_local()`.
//!
//! On x86-64 (`SPARSEMEM_VMEMMAP`, no highmem) they are the C macros' arithmetic, computed
//! in place: the memory map is the array of `struct page` at `vmemmap_base`, indexed by
//! pfn, and every page is in the direct map at `page_offset_base` (`page_address()`;
//! `kmap_local_page()` is that and `kunmap_local()` nothing). Through `rust/helpers` each
//! was a call, several per page migrated or copied, where the C driver has them inlined
//! (measured in instruction time, `lab bench --icount`). Elsewhere, the helpers. With
//! `DEBUG_VM` (the lab's debug profile) the inline results are checked against the helpers.

use kernel::{bindings, ffi::c_void};

#[cfg(all(CONFIG_X86_64, CONFIG_SPARSEMEM_VMEMMAP, not(CONFIG_HIGHMEM)))]
mod imp {
    use super::{bindings, c_void};
    use core::mem::size_of;
    use core::ptr::with_exposed_provenance_mut;

    /// `VMEMMAP_START`.
    fn vmemmap() -> usize {
        // SAFETY: `vmemmap_base` is set during early boot and read-only afterwards
        // (`__ro_after_init`); this is the load the C macro `vmemmap` makes.
        unsafe { bindings::vmemmap_base }
    }

    /// `PAGE_OFFSET`.
    fn page_offset() -> usize {
        // SAFETY: As above for `page_offset_base` (the C macro `__PAGE_OFFSET`).
        unsafe { bindings::page_offset_base }
    }

    pub(super) fn page_to_pfn(page: *const bindings::page) -> usize {
        // `__page_to_pfn()`: `page - vmemmap`.
        let pfn = page.addr().wrapping_sub(vmemmap()) / size_of::<bindings::page>();
        // With DEBUG_VM (the lab's debug profile) every result is checked against the
        // kernel's own function: a wrong formula panics (a kernel report) instead of
        // naming another page.
        #[cfg(CONFIG_DEBUG_VM)]
        {
            // SAFETY: The callers pass a valid page (see `super::page_to_pfn`).
            let kernel = unsafe { bindings::page_to_pfn(page) };
            assert_eq!(pfn, kernel, "inline page_to_pfn");
        }
        pfn
    }

    pub(super) fn pfn_to_page(pfn: usize) -> *mut bindings::page {
        // `__pfn_to_page()`: `vmemmap + pfn`.
        let page: *mut bindings::page = with_exposed_provenance_mut(
            vmemmap().wrapping_add(pfn.wrapping_mul(size_of::<bindings::page>())),
        );
        #[cfg(CONFIG_DEBUG_VM)]
        {
            // SAFETY: The callers pass a pfn with a `struct page` (see `super::pfn_to_page`).
            let kernel = unsafe { bindings::pfn_to_page(pfn) };
            assert_eq!(page, kernel, "inline pfn_to_page");
        }
        page
    }

    pub(super) fn kmap_local_page(page: *const bindings::page) -> *mut c_void {
        // `lowmem_page_address()`: `__va(PFN_PHYS(page_to_pfn(page)))`.
        let addr: *mut c_void = with_exposed_provenance_mut(
            page_offset().wrapping_add(page_to_pfn(page) << bindings::PAGE_SHIFT),
        );
        #[cfg(CONFIG_DEBUG_VM)]
        {
            // SAFETY: The callers pass a valid page (see `super::kmap_local_page`); the
            // kernel's mapping is undone right away, in order.
            let kernel = unsafe { bindings::kmap_local_page(page.cast_mut()) };
            // SAFETY: `kernel` was returned by `kmap_local_page()` just above.
            unsafe { bindings::kunmap_local(kernel) };
            assert_eq!(addr, kernel, "inline kmap_local_page");
        }
        addr
    }

    pub(super) fn kunmap_local(_addr: *const c_void) {
        // Without highmem there is no local mapping to undo (and x86 has no
        // `ARCH_HAS_FLUSH_ON_KUNMAP`).
    }
}

#[cfg(not(all(CONFIG_X86_64, CONFIG_SPARSEMEM_VMEMMAP, not(CONFIG_HIGHMEM))))]
mod imp {
    use super::{bindings, c_void};

    pub(super) fn page_to_pfn(page: *const bindings::page) -> usize {
        // SAFETY: The callers pass a valid page (see `super::page_to_pfn`).
        unsafe { bindings::page_to_pfn(page) }
    }

    pub(super) fn pfn_to_page(pfn: usize) -> *mut bindings::page {
        // SAFETY: The callers pass a pfn with a `struct page` (see `super::pfn_to_page`).
        unsafe { bindings::pfn_to_page(pfn) }
    }

    pub(super) fn kmap_local_page(page: *const bindings::page) -> *mut c_void {
        // SAFETY: The callers pass a valid page and unmap it with `kunmap_local()` (see
        // `super::kmap_local_page`).
        unsafe { bindings::kmap_local_page(page.cast_mut()) }
    }

    pub(super) fn kunmap_local(addr: *const c_void) {
        // SAFETY: The callers pass what `kmap_local_page()` returned, once, in reverse
        // order (see `super::kunmap_local`).
        unsafe { bindings::kunmap_local(addr) }
    }
}

/// `page_to_pfn(page)`.
///
/// # Safety
///
/// `page` must point to a `struct page`.
#[inline]
pub(super) unsafe fn page_to_pfn(page: *const bindings::page) -> usize {
    imp::page_to_pfn(page)
}

/// `pfn_to_page(pfn)`.
///
/// # Safety
///
/// `pfn` must have a `struct page`.
#[inline]
pub(super) unsafe fn pfn_to_page(pfn: usize) -> *mut bindings::page {
    imp::pfn_to_page(pfn)
}

/// `kmap_local_page(page)`: the page's contents, until the matching [`kunmap_local`].
///
/// # Safety
///
/// `page` must point to a `struct page` that stays allocated until [`kunmap_local`] of the
/// returned address, which must be called once, in reverse order of the mappings.
#[inline]
pub(super) unsafe fn kmap_local_page(page: *const bindings::page) -> *mut c_void {
    imp::kmap_local_page(page)
}

/// `kunmap_local(addr)`.
///
/// # Safety
///
/// `addr` must have been returned by [`kmap_local_page`] and not unmapped yet.
#[inline]
pub(super) unsafe fn kunmap_local(addr: *const c_void) {
    imp::kunmap_local(addr)
}
