// SPDX-License-Identifier: GPL-2.0

//! An `xarray` of tagged, non-owning page pointers: the storage of the device page table.
//!
//! The kernel crate's `XArray<T>` owns its entries (`T: ForeignOwnable`); the device page
//! table instead holds pointers to pages it does not own, tagged in their two low bits
//! (`xa_tag_pointer()`), exactly as `lib/test_hmm.c` does.

use super::page::PageRef;
use kernel::{bindings, error::to_result, ffi::c_void, prelude::*, types::Opaque};

/// `XAS_RESTART`: an `xa_state` that has not been walked yet.
const XAS_RESTART: *mut bindings::xa_node = core::ptr::without_provenance_mut(3);

/// The two low bits of an entry (`xa_pointer_tag()`); 2 is reserved by the xarray for
/// internal entries and is rejected.
pub(crate) type Tag = usize;

/// `xa_err()`: the errno an internal error entry encodes (`xa_is_err()`: an internal entry,
/// `entry & 3 == 2`, at or above `xa_mk_internal(-MAX_ERRNO)`), else 0. The bit test of the C
/// inline, here without a call into `rust/helpers` per store.
fn xa_err(entry: *mut c_void) -> i32 {
    let v = entry.addr();
    let lowest = ((-(bindings::MAX_ERRNO as isize)) << 2 | 2) as usize;
    if v & 3 == 2 && v >= lowest {
        // `(long)entry >> 2`: the negative errno.
        ((v as isize) >> 2) as i32
    } else {
        0
    }
}

/// An `xarray` mapping indices to `(page, tag)`.
///
/// # Invariants
///
/// - `xa` is initialised by `xa_init_flags()` and destroyed once, on drop.
/// - Every entry is `page | tag` with `tag` in `{0, 1, 3}` and `page` a `struct page`
///   that stays allocated until the entry is erased or overwritten. Entries are added
///   and removed only through `Pin<&mut Self>`; the owner of the array keeps that promise by
///   erasing entries before their pages can be freed (the mmu interval notifier
///   protocol, see `pt.rs`), so a page loaded through `&self` is valid while the shared
///   borrow lasts.
#[pin_data(PinnedDrop)]
pub(crate) struct PageXArray {
    #[pin]
    xa: Opaque<bindings::xarray>,
}

// SAFETY: The xarray is internally locked; the pages it points to may be used from any
// thread.
unsafe impl Send for PageXArray {}
// SAFETY: Shared access only reads (`xa_load` is RCU-safe); mutation needs `&mut self`.
unsafe impl Sync for PageXArray {}

#[pinned_drop]
impl PinnedDrop for PageXArray {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: By the type invariant the xarray is initialised and is destroyed only
        // here. Entries are not owned, so nothing else is freed.
        unsafe { bindings::xa_destroy(self.xa.get()) };
    }
}

impl PageXArray {
    /// `xa_init(&xa)`.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `xa_init_flags` initialises the xarray in place.
            xa <- Opaque::ffi_init(|xa| unsafe { bindings::xa_init_flags(xa, 0) }),
        })
    }

    fn raw_load(&self, index: usize) -> usize {
        // SAFETY: The xarray is initialised; `xa_load` takes the RCU read lock itself.
        unsafe { bindings::xa_load(self.xa.get(), index) as usize }
    }

    /// `xa_untag_pointer(xa_load())` and `xa_pointer_tag(xa_load())`.
    pub(crate) fn load(&self, index: usize) -> Option<(PageRef<'_>, Tag)> {
        let entry = self.raw_load(index);
        // SAFETY: By the type invariant a non-null entry points to a page that stays
        // allocated while `self` is borrowed shared (erasure needs `&mut self`).
        let page = unsafe { PageRef::from_raw((entry & !3) as *mut bindings::page) }?;
        Some((page, entry & 3))
    }

    /// `xa_store(xa, index, xa_tag_pointer(page, tag), GFP_ATOMIC)`.
    ///
    /// The caller (see the type invariant) erases the entry before `page` can be freed.
    pub(crate) fn store(self: Pin<&mut Self>, index: usize, page: PageRef<'_>, tag: Tag) -> Result {
        if tag == 2 || tag > 3 {
            return Err(EINVAL);
        }
        let entry = (page.as_ptr() as usize | tag) as *mut c_void;
        // SAFETY: The xarray is initialised; the entry is a tagged pointer that is not an
        // internal entry (tag != 2), which `xa_store` accepts.
        let old = unsafe { bindings::xa_store(self.xa.get(), index, entry, bindings::GFP_ATOMIC) };
        to_result(xa_err(old))
    }

    /// `xa_erase()`.
    pub(crate) fn erase(self: Pin<&mut Self>, index: usize) {
        // SAFETY: The xarray is initialised; the old entry is not owned.
        unsafe { bindings::xa_erase(self.xa.get(), index) };
    }

    /// The first index in `[first, last]` whose entry carries `tag`: `xa_for_each_range()`
    /// with `xa_pointer_tag()`. It visits present entries only, so its cost does not grow
    /// with the width of the range (a request may name 2^52 pages).
    pub(crate) fn find_tag(&self, first: usize, last: usize, tag: Tag) -> Option<usize> {
        let mut index = first;
        loop {
            // SAFETY: The xarray is initialised; `index` is a valid in/out cursor;
            // `xa_find` takes the RCU read lock itself.
            let entry =
                unsafe { bindings::xa_find(self.xa.get(), &mut index, last, bindings::XA_PRESENT) };
            if entry.is_null() {
                return None;
            }
            if entry as usize & 3 == tag {
                return Some(index);
            }
            if index >= last {
                return None;
            }
            index += 1;
        }
    }

    /// Erases every entry of `[first, last]` in one walk under one `xa_lock`: C's
    /// `xa_for_each_range() xa_erase()` walks the tree twice per entry (find, then erase)
    /// and takes the lock per entry; this is `xas_for_each() xas_store(&xas, NULL)` (the
    /// pattern of `lib/test_xarray.c`), where `xas_find()` continues from the erased slot.
    /// It visits present entries only, so its cost does not grow with the width of the
    /// range.
    pub(crate) fn erase_range(self: Pin<&mut Self>, first: usize, last: usize) {
        let xa = self.xa.get();
        // `XA_STATE(xas, xa, first)`: no shift, no siblings, not walked yet.
        let mut xas = bindings::xa_state {
            xa,
            xa_index: first,
            xa_node: XAS_RESTART,
            ..Default::default()
        };
        // SAFETY: The xarray is initialised; `xa_lock` is released below on every path.
        unsafe { bindings::xa_lock(xa) };
        loop {
            // SAFETY: `xas` is a valid state of this xarray and its lock is held, as
            // `xas_find()` and `xas_store()` require; storing NULL allocates nothing and
            // leaves `xas` where `xas_find()` continues the walk. Entries are not owned.
            let entry = unsafe { bindings::xas_find(&mut xas, last) };
            if entry.is_null() {
                break;
            }
            // SAFETY: As above.
            unsafe { bindings::xas_store(&mut xas, core::ptr::null_mut()) };
        }
        // SAFETY: Taken above by this function.
        unsafe { bindings::xa_unlock(xa) };
    }
}
