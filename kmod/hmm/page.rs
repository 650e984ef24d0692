// SPDX-License-Identifier: GPL-2.0

//! `struct page` without ownership ([`PageRef`]), owned backing pages ([`SysPage`], and
//! [`SysRun`] for a PMD-sized device folio) and the per-chunk table of backing pages of a fake
//! DEVICE_PRIVATE device ([`BackingStore`]).

use super::{memmap, Owner};
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::{bindings, new_spinlock, prelude::*, sync::SpinLock};

pub(crate) use kernel::page::{PAGE_SHIFT, PAGE_SIZE};

/// `HPAGE_PMD_ORDER`: the order of a PMD-mapped folio.
pub(crate) const PMD_ORDER: u32 = bindings::HPAGE_PMD_ORDER;
/// `HPAGE_PMD_NR`: the pages of a PMD-mapped folio.
pub(crate) const PMD_NR: usize = 1 << PMD_ORDER;

/// What a page is, as `dmirror_mkentry()` distinguishes it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum PageKind {
    /// Ordinary system memory.
    System,
    /// The shared zero page.
    Zero,
    /// DEVICE_PRIVATE memory of the device with this owner cookie.
    DevicePrivate(Owner),
    /// DEVICE_COHERENT memory of the device with this owner cookie.
    DeviceCoherent(Owner),
    /// Some other ZONE_DEVICE memory (fsdax, p2pdma, generic).
    OtherDevice,
}

/// A `struct page` that stays allocated for `'a`; it holds no reference of its own.
///
/// # Invariants
///
/// `ptr` points to a `struct page` that is not freed during `'a`.
#[derive(Clone, Copy)]
pub(crate) struct PageRef<'a> {
    ptr: NonNull<bindings::page>,
    _p: PhantomData<&'a bindings::page>,
}

impl<'a> PageRef<'a> {
    /// # Safety
    ///
    /// `ptr` must be null or point to a `struct page` that stays allocated for `'a`.
    pub(super) unsafe fn from_raw(ptr: *mut bindings::page) -> Option<Self> {
        // INVARIANT: By the safety requirements.
        NonNull::new(ptr).map(|ptr| PageRef {
            ptr,
            _p: PhantomData,
        })
    }

    /// # Safety
    ///
    /// `ptr` must point to a `struct page` that stays allocated for `'a`.
    pub(super) unsafe fn from_non_null(ptr: NonNull<bindings::page>) -> Self {
        // INVARIANT: By the safety requirements.
        PageRef {
            ptr,
            _p: PhantomData,
        }
    }

    /// # Safety
    ///
    /// `pfn` must be the pfn of a `struct page` that stays allocated for `'a`.
    pub(super) unsafe fn from_pfn(pfn: usize) -> Self {
        // SAFETY: `pfn_to_page` is arithmetic on the memory map; the caller guarantees the
        // pfn has a `struct page`.
        let ptr = unsafe { memmap::pfn_to_page(pfn) };
        // SAFETY: A valid pfn maps to a non-null `struct page` that, by the caller's
        // guarantee, stays allocated for `'a`.
        unsafe { Self::from_raw(ptr) }.expect("pfn_to_page() returned NULL")
    }

    /// The raw pointer, for the C calls of this directory.
    pub(super) fn as_ptr(&self) -> *mut bindings::page {
        self.ptr.as_ptr()
    }

    /// `page_to_pfn()`.
    pub(crate) fn pfn(&self) -> usize {
        // SAFETY: By the type invariant the page is valid.
        unsafe { memmap::page_to_pfn(self.as_ptr()) }
    }

    /// `folio_order(page_folio(page))`.
    pub(crate) fn folio_order(&self) -> u32 {
        // SAFETY: By the type invariant the page, and so its folio, is valid.
        unsafe { bindings::folio_order(bindings::page_folio(self.as_ptr())) }
    }

    /// The first page of this page's folio (`&page_folio(page)->page`), which lives as
    /// long as the page.
    pub(crate) fn folio_head(&self) -> PageRef<'a> {
        // SAFETY: By the type invariant the page is valid; `page_folio` reads its compound
        // head, a non-null `struct page` of the same allocation.
        let head = unsafe { bindings::page_folio(self.as_ptr()) }.cast::<bindings::page>();
        // INVARIANT: The folio's first page lives as long as any page of the folio.
        PageRef {
            // SAFETY: `page_folio()` never returns NULL for a valid page.
            ptr: unsafe { NonNull::new_unchecked(head) },
            _p: PhantomData,
        }
    }

    /// The first `nr` pages of the folio this page heads (`folio_page(folio, k)`, `k <
    /// nr`), fewer if the folio is smaller; with `nr <= 1` the page itself, head or not (a
    /// PTE-mapped page of a large folio moves alone), and for a tail page nothing more. One
    /// `page_folio()`/`folio_order()` for the whole folio, then pointer arithmetic per page,
    /// as C's `folio_page()` macro.
    pub(crate) fn folio_pages(&self, nr: usize) -> impl Iterator<Item = PageRef<'a>> {
        let n = if nr <= 1 {
            nr
        } else {
            // SAFETY: The page is valid; `page_folio` reads its compound head.
            let head = unsafe { bindings::page_folio(self.as_ptr()) }.cast::<bindings::page>();
            if head == self.as_ptr() {
                core::cmp::min(nr, 1usize << self.folio_order())
            } else {
                1
            }
        };
        let first = self.ptr;
        (0..n).map(move |k| {
            // SAFETY: `k` < the folio's page count (or 0): the `struct page`s of a folio are
            // consecutive (`folio_page()` is `&folio->page + n`).
            let ptr = unsafe { first.add(k) };
            // INVARIANT: A page of the folio lives as long as the folio, which lives for
            // `'a` like its head page.
            PageRef {
                ptr,
                _p: PhantomData,
            }
        })
    }

    /// `is_zone_device_page()`: device memory (the zero page and system memory are not).
    pub(crate) fn is_zone_device(&self) -> bool {
        // SAFETY: By the type invariant the page is valid.
        unsafe { bindings::is_zone_device_page(self.as_ptr()) }
    }

    /// The owner cookie of the device if this is a DEVICE_PRIVATE page (one call for any
    /// other page, where [`Self::kind`] makes two).
    pub(crate) fn device_private_owner(&self) -> Option<Owner> {
        let page = self.as_ptr();
        // SAFETY: By the type invariant the page is valid.
        if !unsafe { bindings::is_device_private_page(page) } {
            return None;
        }
        // SAFETY: The page is a valid ZONE_DEVICE page, so its folio has a `dev_pagemap`
        // that lives at least as long as the page is allocated.
        Some(Owner(unsafe { (*bindings::page_pgmap(page)).owner }))
    }

    /// The kind of memory the page is.
    pub(crate) fn kind(&self) -> PageKind {
        let page = self.as_ptr();
        // SAFETY: By the type invariant the page is valid.
        if unsafe { bindings::is_zero_page(page) } {
            return PageKind::Zero;
        }
        // SAFETY: By the type invariant the page is valid.
        if !unsafe { bindings::is_zone_device_page(page) } {
            return PageKind::System;
        }
        // SAFETY: The page is a valid ZONE_DEVICE page, so its folio has a `dev_pagemap`
        // that lives at least as long as the page is allocated.
        let owner = Owner(unsafe { (*bindings::page_pgmap(page)).owner });
        // SAFETY: By the type invariant the page is valid.
        if unsafe { bindings::is_device_private_page(page) } {
            PageKind::DevicePrivate(owner)
        // SAFETY: By the type invariant the page is valid.
        } else if unsafe { bindings::is_device_coherent_page(page) } {
            PageKind::DeviceCoherent(owner)
        } else {
            PageKind::OtherDevice
        }
    }

    /// `memcpy_from_page(dst, page, 0, PAGE_SIZE)`.
    pub(crate) fn read_into(&self, dst: &mut [MaybeUninit<u8>; PAGE_SIZE]) {
        // SAFETY: By the type invariant the page is valid; the mapping lives until the
        // matching `kunmap_local()` below.
        let src = unsafe { memmap::kmap_local_page(self.as_ptr()) };
        // `MaybeUninit<u8>` has the layout of `u8`.
        let to = dst.as_mut_ptr().cast::<u8>();
        // SAFETY: `src` maps one whole page and `to` is a distinct buffer of `PAGE_SIZE` bytes.
        unsafe { copy_page_bytes(to, src.cast::<u8>()) };
        // SAFETY: `src` was returned by `kmap_local_page()` above, unmapped once.
        unsafe { memmap::kunmap_local(src) };
    }

    /// Appends the page's `PAGE_SIZE` bytes to `buf` (`memcpy_from_page()` into its spare
    /// capacity); `EINVAL`, and nothing appended, when `buf` has less room than a page left
    /// (it never reallocates).
    pub(crate) fn append_to<A: kernel::alloc::Allocator>(&self, buf: &mut Vec<u8, A>) -> Result {
        let Some(spare) = buf.spare_capacity_mut().first_chunk_mut::<PAGE_SIZE>() else {
            return Err(EINVAL);
        };
        self.read_into(spare);
        // SAFETY: `read_into` initialized the first `PAGE_SIZE` bytes of the spare capacity,
        // which holds at least that many (checked above).
        unsafe { buf.inc_len(PAGE_SIZE) };
        Ok(())
    }

    /// `memcpy_to_page(page, 0, src, PAGE_SIZE)`.
    pub(crate) fn write_from(&self, src: &[u8; PAGE_SIZE]) {
        // SAFETY: By the type invariant the page is valid.
        let dst = unsafe { memmap::kmap_local_page(self.as_ptr()) };
        // Concurrent CPU accesses to the page through user mappings are racy by nature (the
        // device writes "behind the CPU's back"), as in the C driver: plain byte copies.
        // SAFETY: `dst` maps one whole page; `src` is a distinct `PAGE_SIZE`-byte buffer.
        unsafe { copy_page_bytes(dst.cast::<u8>(), src.as_ptr()) };
        // SAFETY: `dst` was returned by `kmap_local_page()` above, unmapped once.
        unsafe { memmap::kunmap_local(dst) };
    }

    /// `copy_highpage(self, src)`.
    pub(crate) fn copy_from(&self, src: &PageRef<'_>) {
        if self.ptr == src.ptr {
            return;
        }
        // SAFETY: Both pages are valid by the type invariant.
        let s = unsafe { memmap::kmap_local_page(src.as_ptr()) };
        // SAFETY: As above.
        let d = unsafe { memmap::kmap_local_page(self.as_ptr()) };
        // The architecture's page copy where it has one (x86-64: `copy_page`, what
        // `copy_highpage()` uses; a plain memcpy is measurably slower under TCG).
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `s` and `d` map two distinct whole pages.
        unsafe {
            bindings::copy_page(d, s)
        };
        #[cfg(not(target_arch = "x86_64"))]
        // SAFETY: `s` and `d` map two distinct whole pages.
        unsafe {
            core::ptr::copy_nonoverlapping(s.cast::<u8>(), d.cast::<u8>(), PAGE_SIZE)
        };
        // SAFETY: Local mappings are released in reverse order, each once.
        unsafe { memmap::kunmap_local(d) };
        // SAFETY: As above.
        unsafe { memmap::kunmap_local(s) };
    }

    /// `clear_highpage(self)`.
    pub(crate) fn clear(&self) {
        // SAFETY: By the type invariant the page is valid.
        let d = unsafe { memmap::kmap_local_page(self.as_ptr()) };
        // SAFETY: `d` maps one whole page.
        unsafe { core::ptr::write_bytes(d.cast::<u8>(), 0, PAGE_SIZE) };
        // SAFETY: `d` was returned by `kmap_local_page()` above.
        unsafe { memmap::kunmap_local(d) };
    }
}

/// Copies `PAGE_SIZE` bytes from `src` to `dst`: with the architecture's page copy when both
/// are page aligned (x86-64: `copy_page`; a page of a vmalloc'ed bounce buffer is), else
/// `memcpy`. READ and WRITE copy each page between the bounce buffer and the device's page
/// (C: `memcpy()`); under TCG `memcpy` (`memcpy_orig`: no `FSRM`) executes several times the
/// instructions of `copy_page` for a page.
///
/// # Safety
///
/// `src` must be valid for reads and `dst` for writes of `PAGE_SIZE` bytes, and they must not
/// overlap.
unsafe fn copy_page_bytes(dst: *mut u8, src: *const u8) {
    #[cfg(target_arch = "x86_64")]
    if (dst.addr() | src.addr()) % PAGE_SIZE == 0 {
        // SAFETY: Two distinct, page-aligned buffers of a whole page each (the caller's
        // guarantee): what `copy_page()` copies.
        unsafe { bindings::copy_page(dst.cast(), src.cast_mut().cast()) };
        return;
    }
    // SAFETY: By the caller's guarantee.
    unsafe { core::ptr::copy_nonoverlapping(src, dst, PAGE_SIZE) };
}

/// An order-0 system page this module allocated and owns (the fake device's memory).
///
/// # Invariants
///
/// `ptr` is an order-0 page allocated by `alloc_pages()` that this value owns.
pub(crate) struct SysPage {
    ptr: NonNull<bindings::page>,
}

// SAFETY: The page is owned; freeing it from another thread is allowed.
unsafe impl Send for SysPage {}

impl SysPage {
    /// `alloc_page(GFP_HIGHUSER)`: a backing page of a fake DEVICE_PRIVATE page.
    pub(crate) fn alloc_backing() -> Result<Self> {
        // SAFETY: `alloc_pages` may be called with any flags and order 0.
        let ptr = unsafe { bindings::alloc_pages(bindings::GFP_HIGHUSER, 0) };
        // INVARIANT: A non-null return is an order-0 page owned by the caller.
        NonNull::new(ptr).map(|ptr| SysPage { ptr }).ok_or(ENOMEM)
    }

    fn into_raw(self) -> *mut bindings::page {
        let p = self.ptr.as_ptr();
        core::mem::forget(self);
        p
    }
}

impl Drop for SysPage {
    fn drop(&mut self) {
        // SAFETY: By the type invariant, this is an owned order-0 page.
        unsafe { bindings::__free_pages(self.ptr.as_ptr(), 0) };
    }
}

/// The backing memory of a PMD-sized fake DEVICE_PRIVATE folio: one `alloc_pages(GFP_HIGHUSER
/// | __GFP_NOWARN, PMD_ORDER)`, physically contiguous like C's `folio_alloc(GFP_HIGHUSER,
/// order)` and, unlike it, not compound (so it can be split with `split_page()` when the core
/// splits the device folio; C has its `folio_split` callback turn its compound folio into
/// order-0 pages instead).
///
/// # Invariants
///
/// `head` is the first page of an order-[`PMD_ORDER`], non-compound allocation by
/// `alloc_pages()`, not split, which this value owns.
pub(crate) struct SysRun {
    head: NonNull<bindings::page>,
}

// SAFETY: The run is owned; freeing it from another thread is allowed.
unsafe impl Send for SysRun {}

impl SysRun {
    /// Allocates a run; `ENOMEM` (no warning) when no contiguous run is free.
    pub(crate) fn alloc_backing() -> Result<Self> {
        let gfp = bindings::GFP_HIGHUSER | bindings::__GFP_NOWARN;
        // SAFETY: `alloc_pages` may be called with any flags and order.
        let head = NonNull::new(unsafe { bindings::alloc_pages(gfp, PMD_ORDER) }).ok_or(ENOMEM)?;
        // INVARIANT: Without `__GFP_COMP` the allocation is not compound; it is ours.
        Ok(SysRun { head })
    }

    fn into_raw(self) -> *mut bindings::page {
        let p = self.head.as_ptr();
        core::mem::forget(self);
        p
    }
}

impl Drop for SysRun {
    fn drop(&mut self) {
        // SAFETY: By the type invariant this is an owned, unsplit run of `PMD_ORDER`.
        unsafe { bindings::__free_pages(self.head.as_ptr(), PMD_ORDER) };
    }
}

/// The tag of a slot of [`BackingStore`] whose page belongs to an unsplit [`SysRun`]
/// (`struct page` pointers are at least 8-byte aligned, so the low bit is free).
const RUN: usize = 1;

fn is_run(p: *mut bindings::page) -> bool {
    p.addr() & RUN != 0
}

fn untag(p: *mut bindings::page) -> *mut bindings::page {
    p.map_addr(|a| a & !RUN)
}

/// The backing pages of one chunk of fake DEVICE_PRIVATE memory, one slot per device page.
///
/// The C driver keeps this pointer in `page->zone_device_data`; a side table keeps the
/// module off the `struct page` union. A PMD-sized device folio is backed by one unsplit
/// run ([`SysRun`]) that is freed whole when the folio is freed whole (one `__free_pages()`
/// of order 9, as C's); when the core mm splits the device folio (a partial unmap, a
/// migration back to single system pages), the first of its pages to be freed splits the
/// run into order-0 pages (`split_page()`), which are then freed one by one, so the module
/// needs no `folio_split` callback.
///
/// # Invariants
///
/// - A slot holding an untagged non-null pointer owns that order-0 page, allocated with
///   `alloc_pages()` (a [`SysPage`]).
/// - Slots holding pointers tagged [`RUN`] come in aligned groups: slots `g..g + PMD_NR`
///   with `g % PMD_NR == 0`, slot `g + k` holding `(head + k) | RUN`, together owning the
///   unsplit run at `head` (a [`SysRun`]). A group is made untagged (split) or emptied only
///   as a whole, under `split`; it is created (by [`Self::install_run`]) only in empty
///   slots of a device folio that is being allocated, which no other thread looks at.
pub(crate) struct BackingStore {
    slots: KVVec<AtomicPtr<bindings::page>>,
    /// Serialises splitting and freeing runs: the pages of a split device folio may be
    /// freed on several CPUs at once. Innermost (a spinlock: `folio_free` runs wherever a
    /// page's last reference is put).
    split: Pin<KBox<SpinLock<()>>>,
}

impl BackingStore {
    /// A table of `n` empty slots.
    pub(crate) fn new(n: usize) -> Result<Self> {
        let mut slots = KVVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            slots.push(AtomicPtr::new(core::ptr::null_mut()), GFP_KERNEL)?;
        }
        let split = KBox::pin_init(new_spinlock!(()), GFP_KERNEL)?;
        Ok(Self { slots, split })
    }

    /// Gives `page` to slot `idx`, which must be empty (its device page is being allocated);
    /// a page the slot held before is freed, a run is left alone (with a warning: neither is
    /// expected).
    pub(crate) fn install(&self, idx: usize, page: SysPage) {
        // INVARIANT: The slot takes ownership of the page.
        let old = self.slots[idx].swap(page.into_raw(), Ordering::AcqRel);
        self.drop_stale(old);
    }

    /// What [`Self::install`] and [`Self::install_run`] found in a slot that should have
    /// been empty.
    fn drop_stale(&self, old: *mut bindings::page) {
        if old.is_null() {
            return;
        }
        if is_run(old) {
            // Freeing one page of a run would break it; leaking it keeps memory safe.
            pr_warn!("backing store: a run page in a slot being installed, leaked\n");
            return;
        }
        // By the type invariant an untagged non-null value is an owned order-0 page.
        drop(NonNull::new(old).map(|ptr| SysPage { ptr }));
    }

    /// Gives `run` to slots `first..first + PMD_NR`, the (empty) slots of a PMD-sized device
    /// folio being allocated. If `first` is not `PMD_NR`-aligned the run is split at once and
    /// its pages installed one by one.
    pub(crate) fn install_run(&self, first: usize, run: SysRun) {
        if first % PMD_NR != 0 {
            let head = run.into_raw();
            // SAFETY: `head` is an owned, unsplit, non-compound run of `PMD_ORDER` (the
            // invariant of `SysRun`, whose ownership `into_raw` gave up).
            unsafe { bindings::split_page(head, PMD_ORDER) };
            for k in 0..PMD_NR {
                // SAFETY: The `struct page`s of one allocation are consecutive; `k` < its
                // size.
                let ptr = unsafe { NonNull::new_unchecked(head.add(k)) };
                // INVARIANT: After `split_page()` each page is an order-0 page with its own
                // reference, owned by the slot it goes to.
                self.install(first + k, SysPage { ptr });
            }
            return;
        }
        let head = run.into_raw();
        for k in 0..PMD_NR {
            // SAFETY: As above, `k` < the run's size.
            let page = unsafe { head.add(k) };
            // INVARIANT: The aligned group of slots owns the run from here on.
            let old = self.slots[first + k].swap(page.map_addr(|a| a | RUN), Ordering::AcqRel);
            self.drop_stale(old);
        }
    }

    /// Empties the slots of a device folio of `n` pages at `first` that was freed, freeing
    /// its backing memory: a run whole when the folio is the run's whole group, else page
    /// by page (splitting the run first, see the type documentation).
    pub(crate) fn release(&self, first: usize, n: usize) {
        if n == PMD_NR && first % PMD_NR == 0 {
            let run = {
                let _guard = self.split.lock();
                let head = self.slots[first].load(Ordering::Acquire);
                if is_run(head) {
                    for k in 0..PMD_NR {
                        self.slots[first + k].store(core::ptr::null_mut(), Ordering::Release);
                    }
                    // INVARIANT: The group's slots are emptied; the run moves to the value.
                    // `untag(head)` is the head of the run (slot `first + 0`), non-null.
                    NonNull::new(untag(head)).map(|head| SysRun { head })
                } else {
                    None
                }
            };
            if run.is_some() {
                // Freed outside the spinlock.
                drop(run);
                return;
            }
        }
        for idx in first..first + n {
            drop(self.take(idx));
        }
    }

    /// Takes the page out of slot `idx`; if it belongs to a run, the run is split first.
    fn take(&self, idx: usize) -> Option<SysPage> {
        let slot = &self.slots[idx];
        loop {
            let cur = slot.load(Ordering::Acquire);
            if cur.is_null() {
                return None;
            }
            if is_run(cur) {
                self.split_run(idx - idx % PMD_NR);
                continue;
            }
            // Only untagged values are taken (a group is untagged only as a whole, under
            // `split`, and the slot of a page being freed is not tagged again meanwhile).
            if slot
                .compare_exchange(
                    cur,
                    core::ptr::null_mut(),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
            {
                // INVARIANT: Ownership of the order-0 page moves from the slot to the value.
                return NonNull::new(cur).map(|ptr| SysPage { ptr });
            }
        }
    }

    /// Splits the run of the group of slots at `g` into order-0 pages, if it still is one.
    fn split_run(&self, g: usize) {
        let _guard = self.split.lock();
        let head = self.slots[g].load(Ordering::Acquire);
        if !is_run(head) {
            // Split (or emptied) by another CPU meanwhile.
            return;
        }
        let head = untag(head);
        // SAFETY: By the type invariant the tagged group at `g` owns the unsplit,
        // non-compound run at `head` (slot `g` holds `head + 0`); `split` is held, so no
        // other CPU splits or frees it.
        unsafe { bindings::split_page(head, PMD_ORDER) };
        for k in 0..PMD_NR {
            // SAFETY: The `struct page`s of one allocation are consecutive; `k` < its size.
            let page = unsafe { head.add(k) };
            // INVARIANT: After `split_page()` every page of the run is an order-0 page with
            // its own reference, owned by its slot from here on (untagged).
            self.slots[g + k].store(page, Ordering::Release);
        }
    }

    /// The backing page of slot `idx`, for as long as the caller holds `_dpage`, a
    /// reference on the device page that owns the slot: slots are emptied only by
    /// `folio_free`, i.e. after the last reference is gone.
    pub(crate) fn get<'a>(&self, idx: usize, _dpage: &PageRef<'a>) -> Option<PageRef<'a>> {
        let p = untag(self.slots[idx].load(Ordering::Acquire));
        // SAFETY: A non-null slot owns its page (alone, or with its run), and the slot is
        // only emptied when the device page is freed, which cannot happen during `'a`;
        // splitting the run keeps the page where it is.
        unsafe { PageRef::from_raw(p) }
    }
}

impl Drop for BackingStore {
    fn drop(&mut self) {
        for i in 0..self.slots.len() {
            let p = core::mem::replace(self.slots[i].get_mut(), core::ptr::null_mut());
            if p.is_null() {
                continue;
            }
            if is_run(p) {
                if i % PMD_NR == 0 {
                    // By the type invariant the group at `i` owns the run at `untag(p)`.
                    drop(NonNull::new(untag(p)).map(|head| SysRun { head }));
                }
                // Other slots of a group: freed with the run at its first slot.
                continue;
            }
            // By the type invariant an untagged non-null slot owns an order-0 page.
            drop(NonNull::new(p).map(|ptr| SysPage { ptr }));
        }
    }
}
