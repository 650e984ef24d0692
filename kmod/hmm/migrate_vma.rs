// SPDX-License-Identifier: GPL-2.0

//! Page migration between system and device memory: `migrate_vma_setup/pages/finalize()`
//! ([`MigrateVma`], then [`MigratedVma`]), `migrate_device_range/pages/finalize()`
//! ([`DeviceMigration`], then [`DeviceMigrated`]) and the locked, referenced destination
//! pages they take ([`NewPage`]).
//!
//! The types enforce the kernel's rules for a migration:
//! - it goes setup → (pages) → finalize, each once: `pages()` consumes the collected
//!   migration and returns the migrated one, and both finalize when dropped;
//! - a migration finalized without `pages()` first releases every destination the driver
//!   gave it (unlock and put, entry cleared): `migrate_vma_finalize()` would otherwise
//!   restore the CPU mapping of neither page and put the source's last reference while its
//!   migration entries remain (issue #16, the out-of-memory paths);
//! - destinations are given per source *group*: a compound source entry (a large folio, or
//!   a PMD-sized hole) gets either one folio of the same size or one single page for each
//!   of its pages, all or none ([`DstView::set`], [`DstView::set_split`]):
//!   `migrate_vma_pages()` inserts every page of a split hole and dereferences an empty
//!   destination (issue #16, the compound hole).

use super::mmap::MmapRead;
use super::page::{PageRef, PAGE_SHIFT, PAGE_SIZE, PMD_NR};
use super::pagemap::CpuFault;
use super::Owner;
use core::mem::MaybeUninit;
use core::ptr::NonNull;
use kernel::{bindings, ffi::c_ulong, mm::virt::VmaRef, prelude::*};

/// `MIGRATE_VMA_SELECT_*` flags.
#[derive(Clone, Copy)]
pub(crate) struct Select(c_ulong);

impl Select {
    /// `MIGRATE_VMA_SELECT_SYSTEM`.
    pub(crate) const SYSTEM: Select =
        Select(bindings::migrate_vma_direction_MIGRATE_VMA_SELECT_SYSTEM as c_ulong);
    /// `MIGRATE_VMA_SELECT_DEVICE_PRIVATE`.
    pub(crate) const DEVICE_PRIVATE: Select =
        Select(bindings::migrate_vma_direction_MIGRATE_VMA_SELECT_DEVICE_PRIVATE as c_ulong);
    /// `MIGRATE_VMA_SELECT_DEVICE_COHERENT`.
    pub(crate) const DEVICE_COHERENT: Select =
        Select(bindings::migrate_vma_direction_MIGRATE_VMA_SELECT_DEVICE_COHERENT as c_ulong);
    /// `MIGRATE_VMA_SELECT_COMPOUND`.
    pub(crate) const COMPOUND: Select =
        Select(bindings::migrate_vma_direction_MIGRATE_VMA_SELECT_COMPOUND as c_ulong);

    /// Both sets of flags.
    pub(crate) const fn with(self, other: Select) -> Select {
        Select(self.0 | other.0)
    }
}

/// One `src`/`dst` entry (`MIGRATE_PFN_*` bits and a pfn).
#[derive(Clone, Copy)]
pub(crate) struct MigratePfn(c_ulong);

impl MigratePfn {
    /// `MIGRATE_PFN_VALID`.
    pub(crate) fn valid(self) -> bool {
        self.0 & bindings::MIGRATE_PFN_VALID as c_ulong != 0
    }
    /// `MIGRATE_PFN_MIGRATE`.
    pub(crate) fn migrate(self) -> bool {
        self.0 & bindings::MIGRATE_PFN_MIGRATE as c_ulong != 0
    }
    /// `MIGRATE_PFN_WRITE`.
    pub(crate) fn write(self) -> bool {
        self.0 & bindings::MIGRATE_PFN_WRITE as c_ulong != 0
    }
    /// `MIGRATE_PFN_COMPOUND`.
    pub(crate) fn compound(self) -> bool {
        self.0 & bindings::MIGRATE_PFN_COMPOUND as c_ulong != 0
    }
    fn pfn(self) -> usize {
        self.0 >> bindings::MIGRATE_PFN_SHIFT
    }
}

/// A page (or folio head) that is locked and whose one reference this value owns: a
/// destination of a migration. Dropping it unlocks and puts it.
///
/// # Invariants
///
/// `ptr` is the head page of a locked folio of order `order` on which `self` owns one
/// reference.
pub(crate) struct NewPage {
    ptr: NonNull<bindings::page>,
    order: u32,
}

// SAFETY: The reference and the lock may be released from another thread.
unsafe impl Send for NewPage {}

impl NewPage {
    /// # Safety
    ///
    /// `ptr` must be the head page of a locked folio of order `order` whose one reference
    /// the caller gives.
    pub(super) unsafe fn from_raw(ptr: NonNull<bindings::page>, order: u32) -> Self {
        // INVARIANT: By the safety requirements.
        NewPage { ptr, order }
    }

    /// The folio's order (known since its allocation: no `folio_order()` call).
    pub(crate) fn order(&self) -> u32 {
        self.order
    }

    /// `vma_alloc_folio(GFP_HIGHUSER_MOVABLE, order, vma, addr)` (or `folio_alloc()`
    /// without a vma), locked: a system page to migrate device memory back into.
    pub(crate) fn alloc_system(order: u32, vma: Option<(&VmaRef, usize)>) -> Result<Self> {
        let folio = match vma {
            // SAFETY: `vma` is a valid vma (its mm is locked by the caller's borrow) and
            // any address and order may be passed.
            Some((vma, addr)) => unsafe {
                bindings::vma_alloc_folio(
                    bindings::GFP_HIGHUSER_MOVABLE,
                    order as i32,
                    vma.as_ptr(),
                    addr as c_ulong,
                )
            },
            // SAFETY: Any flags and order may be passed.
            None => unsafe { bindings::folio_alloc(bindings::GFP_HIGHUSER_MOVABLE, order) },
        };
        let ptr = NonNull::new(folio.cast::<bindings::page>()).ok_or(ENOMEM)?;
        // SAFETY: A freshly allocated folio, which we own; `struct folio` starts with its
        // head page.
        unsafe { bindings::lock_page(ptr.as_ptr()) };
        // SAFETY: The folio, of `order`, is locked and its one reference is ours.
        Ok(unsafe { Self::from_raw(ptr, order) })
    }

    /// The head page.
    pub(crate) fn page(&self) -> PageRef<'_> {
        // SAFETY: We hold a reference, so the page stays allocated while borrowed.
        unsafe { PageRef::from_non_null(self.ptr) }
    }

    fn into_mpfn(self, write: bool, compound: bool) -> c_ulong {
        let mut v = ((self.page().pfn() as c_ulong) << bindings::MIGRATE_PFN_SHIFT)
            | bindings::MIGRATE_PFN_VALID as c_ulong;
        if write {
            v |= bindings::MIGRATE_PFN_WRITE as c_ulong;
        }
        if compound {
            v |= bindings::MIGRATE_PFN_COMPOUND as c_ulong;
        }
        core::mem::forget(self);
        v
    }
}

impl Drop for NewPage {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the folio is locked and we own a reference.
        unsafe {
            let folio = bindings::page_folio(self.ptr.as_ptr());
            bindings::folio_unlock(folio);
            bindings::folio_put(folio);
        }
    }
}

/// The source side of a migration: what the core collected.
pub(crate) struct SrcView<'a> {
    src: &'a [c_ulong],
}

impl<'a> SrcView<'a> {
    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.src.len()
    }

    /// `src[i]` (an empty entry past the end).
    pub(crate) fn get(&self, i: usize) -> MigratePfn {
        MigratePfn(self.src.get(i).copied().unwrap_or(0))
    }

    /// `migrate_pfn_to_page(src[i])`.
    pub(crate) fn page(&self, i: usize) -> Option<PageRef<'a>> {
        let e = self.get(i);
        if !e.valid() {
            return None;
        }
        // SAFETY: A valid source entry names a page that the migration core collected: it
        // holds a reference until finalize, which needs the migration borrowed mutably,
        // i.e. after `'a`.
        Some(unsafe { PageRef::from_pfn(e.pfn()) })
    }
}

/// The destination side of a migration: one destination per source group, all or none.
pub(crate) struct DstView<'a> {
    src: &'a [c_ulong],
    dst: &'a mut [c_ulong],
}

impl DstView<'_> {
    /// The number of entries that the source entry `i` heads: the pages of its folio for a
    /// compound entry (`HPAGE_PMD_NR` for a hole, `migrate_vma_nr_pages()`), else 1; 0 if
    /// the group does not fit in the arrays.
    pub(crate) fn group_len(&self, i: usize) -> usize {
        let Some(&e) = self.src.get(i) else { return 0 };
        let e = MigratePfn(e);
        let nr = if !e.compound() {
            1
        } else if e.valid() {
            // SAFETY: A valid source entry names a page that the migration core collected
            // and holds a reference on until finalize, which needs the migration borrowed
            // mutably, i.e. after this view.
            let page = unsafe { PageRef::from_pfn(e.pfn()) };
            1usize << page.folio_order()
        } else {
            PMD_NR
        };
        if i.checked_add(nr).is_some_and(|end| end <= self.dst.len()) {
            nr
        } else {
            0
        }
    }

    /// Whether every destination of the group headed by `i` is still empty.
    fn group_empty(&self, i: usize, nr: usize) -> bool {
        self.dst[i..i + nr].iter().all(|&d| d == 0)
    }

    /// `dst[i] = migrate_pfn(page_to_pfn(page)) | flags` (`MIGRATE_PFN_COMPOUND` when the
    /// source entry is compound): the migration takes `page`, which must be exactly as large
    /// as the source group (see [`Self::group_len`]), for an entry being migrated whose group
    /// has no destination yet. Otherwise `EINVAL` and the page is released.
    pub(crate) fn set(&mut self, i: usize, page: NewPage, write: bool) -> Result {
        let nr = self.group_len(i);
        let src = MigratePfn(self.src.get(i).copied().unwrap_or(0));
        if nr == 0
            || !src.migrate()
            || (1usize << page.order()) != nr
            || !self.group_empty(i, nr)
        {
            pr_warn!("migration destination {} does not match its source\n", i);
            return Err(EINVAL);
        }
        self.dst[i] = page.into_mpfn(write, src.compound());
        Ok(())
    }

    /// Gives each page of the group headed by `i` its own single page, `alloc(k)` for page
    /// `k` (C's split fallback): all of them, or, when `alloc` fails or returns a page that
    /// is not single, none (the pages already given are released and the group's
    /// destinations stay empty), with that error.
    pub(crate) fn set_split(
        &mut self,
        i: usize,
        write: bool,
        mut alloc: impl FnMut(usize) -> Result<NewPage>,
    ) -> Result {
        let nr = self.group_len(i);
        if nr == 0 || !MigratePfn(self.src.get(i).copied().unwrap_or(0)).migrate() || !self.group_empty(i, nr) {
            return Err(EINVAL);
        }
        for k in 0..nr {
            let page = alloc(k).and_then(|p| {
                if p.order() == 0 {
                    Ok(p)
                } else {
                    Err(EINVAL)
                }
            });
            match page {
                Ok(p) => self.dst[i + k] = p.into_mpfn(write, false),
                Err(e) => {
                    release_dst(&mut self.dst[i..i + k]);
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

/// Releases every destination page in `dst` (unlock, put) and clears the entries: the
/// migration no longer takes them.
fn release_dst(dst: &mut [c_ulong]) {
    for d in dst.iter_mut() {
        let e = MigratePfn(core::mem::replace(d, 0));
        if !e.valid() {
            continue;
        }
        // SAFETY: A valid destination entry was set by `DstView` from a `NewPage` (the head
        // page of a locked folio with one reference), whose ownership the entry took over;
        // the entry is cleared above, so ownership moves back to this `NewPage` once.
        let page = unsafe { PageRef::from_pfn(e.pfn()) };
        if let Some(ptr) = NonNull::new(page.as_ptr()) {
            let order = page.folio_order();
            // SAFETY: See above; `order` is the folio's.
            drop(unsafe { NewPage::from_raw(ptr, order) });
        }
    }
}

/// Entries a migration keeps inline, without allocating: a CPU fault on a 4 KiB page
/// migrates one (measured with `lab bench --ftrace FAULT_BACK`: two heap arrays per fault
/// cost four allocator calls, where C's two `kcalloc`s cost two plus two `kfree`s).
const INLINE: usize = 16;

/// The `src`/`dst` arrays shared by both kinds of migration: inline for up to [`INLINE`]
/// entries, on the heap beyond.
///
/// Inline arrays move with their owner, so the core gets their addresses from
/// [`Pfns::ptrs`] right before each call, never earlier. They start uninitialized: only the
/// `n` entries in use are zeroed, by [`Pfns::reset`] (zeroing all of them, and the rest of a
/// [`MigrateArrays`], cost a `memset` of 392 bytes per CPU fault).
///
/// # Invariants
///
/// When `n <= INLINE`, `inline[0][..n]` and `inline[1][..n]` are initialized; otherwise
/// `heap` holds two arrays of at least `n` entries.
struct Pfns {
    n: usize,
    inline: [[MaybeUninit<c_ulong>; INLINE]; 2],
    heap: Option<[KVVec<c_ulong>; 2]>,
}

impl Pfns {
    /// No entries (yet).
    const fn empty() -> Self {
        // INVARIANT: `n == 0`: no inline entry needs to be initialized.
        Pfns {
            n: 0,
            inline: [[MaybeUninit::uninit(); INLINE]; 2],
            heap: None,
        }
    }

    fn new(n: usize) -> Result<Self> {
        let mut p = Self::empty();
        p.reset(n)?;
        Ok(p)
    }

    /// `n` zeroed entries each (C: `kcalloc`/`kvcalloc`), reusing the heap arrays of an
    /// earlier migration when they are large enough.
    fn reset(&mut self, n: usize) -> Result {
        // INVARIANT: 0 entries until both arrays have `n` zeroed ones.
        self.n = 0;
        if n > INLINE {
            match &mut self.heap {
                Some([s, d]) if s.len() >= n && d.len() >= n => {
                    s[..n].fill(0);
                    d[..n].fill(0);
                }
                heap => {
                    // The old arrays (if any) are freed first.
                    *heap = None;
                    *heap = Some([
                        KVVec::from_elem(0, n, GFP_KERNEL)?,
                        KVVec::from_elem(0, n, GFP_KERNEL)?,
                    ]);
                }
            }
        } else if n == 1 {
            // A CPU fault on a 4 KiB page: two stores (the loop below is a `memset` call
            // per array).
            for a in &mut self.inline {
                a[0].write(0);
            }
        } else {
            for a in &mut self.inline {
                for e in &mut a[..n] {
                    e.write(0);
                }
            }
        }
        // INVARIANT: Both arrays have `n` entries, zeroed just above.
        self.n = n;
        Ok(())
    }

    /// `(src, dst)`, `n` entries each, wherever they live.
    fn arrays(&self) -> (&[c_ulong], &[c_ulong]) {
        match &self.heap {
            Some([s, d]) if self.n > INLINE => (&s[..self.n], &d[..self.n]),
            _ => {
                let n = self.n.min(INLINE);
                let [s, d] = &self.inline;
                // SAFETY: By the type invariant the first `n` entries of both inline arrays
                // are initialized; `MaybeUninit<c_ulong>` has the layout of `c_ulong`.
                unsafe {
                    (
                        core::slice::from_raw_parts(s.as_ptr().cast::<c_ulong>(), n),
                        core::slice::from_raw_parts(d.as_ptr().cast::<c_ulong>(), n),
                    )
                }
            }
        }
    }

    /// `(src, dst)`, mutable.
    fn arrays_mut(&mut self) -> (&mut [c_ulong], &mut [c_ulong]) {
        match &mut self.heap {
            Some([s, d]) if self.n > INLINE => (&mut s[..self.n], &mut d[..self.n]),
            _ => {
                let n = self.n.min(INLINE);
                let [s, d] = &mut self.inline;
                // SAFETY: As in `arrays`; the two arrays are distinct, and writing an
                // initialized `c_ulong` keeps them initialized.
                unsafe {
                    (
                        core::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<c_ulong>(), n),
                        core::slice::from_raw_parts_mut(d.as_mut_ptr().cast::<c_ulong>(), n),
                    )
                }
            }
        }
    }

    fn src(&self) -> &[c_ulong] {
        self.arrays().0
    }

    fn split(&mut self) -> (SrcView<'_>, DstView<'_>) {
        let (src, dst) = self.arrays_mut();
        let src = &*src;
        (SrcView { src }, DstView { src, dst })
    }

    /// Releases every destination (see [`release_dst`]).
    fn release_dst(&mut self) {
        release_dst(self.arrays_mut().1);
    }

    /// `(src, dst)` for the core: valid until `self` moves or is borrowed again.
    fn ptrs(&mut self) -> (*mut c_ulong, *mut c_ulong) {
        let (src, dst) = self.arrays_mut();
        (src.as_mut_ptr(), dst.as_mut_ptr())
    }

    fn src_view(&self) -> SrcView<'_> {
        SrcView { src: self.src() }
    }

}

/// Room for one migration by `migrate_vma_*()`, `struct migrate_vma` and its `src`/`dst`
/// arrays, in the caller's stack frame: [`MigrateVma`] and [`MigratedVma`] borrow it, so
/// nothing large moves between setup, pages and finalize (each move of the inline arrays
/// was a `memcpy`: seven of them per CPU fault), and a request that migrates window after
/// window reuses its heap arrays (C allocates them once per request too).
///
/// # Invariants
///
/// While a [`MigrateVma`] or [`MigratedVma`] borrows it, `args` was set up successfully by
/// `migrate_vma_setup()` with the arrays of `pfns` and is not finalized yet.
/// `args.src`/`args.dst` are pointed at `pfns` again before every call that uses them.
pub(crate) struct MigrateArrays {
    args: bindings::migrate_vma,
    pfns: Pfns,
}

impl MigrateArrays {
    /// Empty room.
    #[inline]
    pub(crate) fn new() -> Self {
        MigrateArrays {
            args: bindings::migrate_vma::default(),
            pfns: Pfns::empty(),
        }
    }

    /// `migrate_vma_finalize()`.
    ///
    /// # Safety
    ///
    /// `self` must be set up and not finalized: called once, by the [`MigrateVma`] or
    /// [`MigratedVma`] that borrows it, as it ends.
    unsafe fn finalize(&mut self) {
        (self.args.src, self.args.dst) = self.pfns.ptrs();
        // SAFETY: By the type invariant `args` is set up and not finalized (the caller
        // calls this once). Its arrays were just pointed at `pfns`.
        unsafe { bindings::migrate_vma_finalize(&mut self.args) };
    }

}

/// One `migrate_vma_setup()` .. `migrate_vma_finalize()` sequence over part of one vma,
/// before `migrate_vma_pages()`: the driver gives destinations ([`Self::split`]), then
/// either migrates ([`Self::pages`]) or gives up ([`Self::finalize`], or drop), which
/// releases every destination before `migrate_vma_finalize()`, so the CPU mappings of the
/// sources are restored.
///
/// # Invariants
///
/// `inner` is set up and not finalized (see [`MigrateArrays`]).
pub(crate) struct MigrateVma<'a> {
    inner: &'a mut MigrateArrays,
}

impl<'a> MigrateVma<'a> {
    /// `migrate_vma_setup()` for `[start, end)` of `vma`, under the mmap read lock `lock`,
    /// in `room`.
    pub(crate) fn setup(
        room: &'a mut MigrateArrays,
        lock: &'a MmapRead<'_>,
        vma: &'a VmaRef,
        start: usize,
        end: usize,
        owner: Owner,
        select: Select,
    ) -> Result<Self> {
        if vma.mm().as_raw() != lock.mm().as_raw() {
            return Err(EINVAL);
        }
        // SAFETY: The mmap read lock of the vma's mm is held for `'a`.
        unsafe {
            Self::setup_raw(
                room,
                vma.as_ptr(),
                start,
                end,
                owner,
                select,
                core::ptr::null_mut(),
            )
        }
    }

    /// `migrate_vma_setup()` for the CPU fault path, with `fault_page = vmf->page`, in
    /// `room`.
    pub(crate) fn setup_fault(
        room: &'a mut MigrateArrays,
        fault: &'a CpuFault<'_>,
        start: usize,
        end: usize,
        owner: Owner,
        select: Select,
    ) -> Result<Self> {
        let vmf = fault.raw();
        // SAFETY: The core mm holds the vma (mmap or per-vma lock) for the duration of the
        // fault, which outlives `'a`; `vmf->page` is the locked faulting page.
        unsafe {
            Self::setup_raw(
                room,
                vmf.__bindgen_anon_1.vma,
                start,
                end,
                owner,
                select,
                vmf.page,
            )
        }
    }

    /// # Safety
    ///
    /// `vma` must be valid and its mm locked (mmap read lock or the fault's lock) for `'a`.
    unsafe fn setup_raw(
        room: &'a mut MigrateArrays,
        vma: *mut bindings::vm_area_struct,
        start: usize,
        end: usize,
        owner: Owner,
        select: Select,
        fault_page: *mut bindings::page,
    ) -> Result<Self> {
        if start % PAGE_SIZE != 0 || end % PAGE_SIZE != 0 || start >= end {
            return Err(EINVAL);
        }
        let n = (end - start) >> PAGE_SHIFT;
        room.pfns.reset(n)?;
        let (src, dst) = room.pfns.ptrs();
        // Field by field: the structure is built where it stays.
        let args = &mut room.args;
        args.vma = vma;
        args.dst = dst;
        args.src = src;
        args.cpages = 0;
        args.npages = 0;
        args.start = start as c_ulong;
        args.end = end as c_ulong;
        args.pgmap_owner = owner.as_ptr();
        args.flags = select.0;
        args.fault_page = fault_page;
        // SAFETY: `args` is fully initialised, the arrays hold `n` entries, and the caller
        // guarantees the vma and its lock.
        kernel::error::to_result(unsafe { bindings::migrate_vma_setup(args) })?;
        // INVARIANT: Setup succeeded with the arrays of `room.pfns`, which the core does not
        // keep between calls; `room` stays borrowed until finalize.
        Ok(MigrateVma { inner: room })
    }

    /// First address.
    pub(crate) fn start(&self) -> usize {
        self.inner.args.start
    }

    /// The source and destination sides, to fill the destinations.
    pub(crate) fn split(&mut self) -> (SrcView<'_>, DstView<'_>) {
        self.inner.pfns.split()
    }

    /// `migrate_vma_pages()`: the destinations given take over their sources.
    pub(crate) fn pages(self) -> MigratedVma<'a> {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so the borrow is moved out of it exactly once and
        // its drop (which would finalize) does not run.
        let inner: &'a mut MigrateArrays = unsafe { core::ptr::read(&this.inner) };
        (inner.args.src, inner.args.dst) = inner.pfns.ptrs();
        // SAFETY: By the invariant of `MigrateArrays`, `args` is set up and not finalized; its
        // arrays were just pointed at `pfns`; every non-zero `dst` entry is a locked,
        // referenced page handed over by `DstView`, one per source group.
        unsafe { bindings::migrate_vma_pages(&mut inner.args) };
        MigratedVma { inner }
    }

    /// Gives up: releases every destination, then `migrate_vma_finalize()` restores the
    /// sources (also done on drop).
    pub(crate) fn finalize(self) {}
}

impl Drop for MigrateVma<'_> {
    fn drop(&mut self) {
        self.inner.pfns.release_dst();
        // SAFETY: By the type invariant `inner` is set up and not finalized; finalized only
        // here, in drop (`pages()` skips this drop).
        unsafe { self.inner.finalize() };
    }
}

/// A migration after `migrate_vma_pages()`: the driver maps what migrated, then
/// `migrate_vma_finalize()` (on [`Self::finalize`] or drop).
///
/// # Invariants
///
/// `inner` is set up, its pages migrated, and not finalized (see [`MigrateArrays`]).
pub(crate) struct MigratedVma<'a> {
    inner: &'a mut MigrateArrays,
}

impl MigratedVma<'_> {
    /// First address.
    pub(crate) fn start(&self) -> usize {
        self.inner.args.start
    }

    /// One past the last address.
    pub(crate) fn end(&self) -> usize {
        self.inner.args.end
    }

    /// Number of entries.
    pub(crate) fn npages(&self) -> usize {
        self.inner.pfns.n
    }

    /// `(i, src[i], dst[i], migrate_pfn_to_page(dst[i]))` for every entry that migrated
    /// (`MIGRATE_PFN_MIGRATE` in `src`) to a destination page: one pass over the arrays.
    pub(crate) fn migrated_entries(
        &self,
    ) -> impl Iterator<Item = (usize, MigratePfn, MigratePfn, PageRef<'_>)> + '_ {
        let (src, dst) = self.inner.pfns.arrays();
        src.iter()
            .zip(dst)
            .enumerate()
            .filter_map(|(i, (&s, &d))| {
                let (s, d) = (MigratePfn(s), MigratePfn(d));
                if !s.migrate() || !d.valid() {
                    return None;
                }
                // SAFETY: A valid destination entry was set from a `NewPage` whose reference
                // the migration holds until finalize, which needs `&mut self`.
                let page = unsafe { PageRef::from_pfn(d.pfn()) };
                Some((i, s, d, page))
            })
    }

    /// Number of pages migrated: those of the entries with both `MIGRATE_PFN_VALID` and
    /// `MIGRATE_PFN_MIGRATE` in `src`, a `MIGRATE_PFN_COMPOUND` entry counting for all the
    /// pages of its folio (C's `dmirror_successful_migrated_pages()` counts entries, so a
    /// THP counts 1 there).
    pub(crate) fn migrated(&self) -> usize {
        let src = self.inner.pfns.src_view();
        (0..src.len())
            .filter(|&i| src.get(i).valid() && src.get(i).migrate())
            .map(|i| match src.page(i) {
                Some(p) if src.get(i).compound() => 1usize << p.folio_order(),
                _ => 1,
            })
            .sum()
    }

    /// `migrate_vma_finalize()` (also done on drop).
    pub(crate) fn finalize(self) {}
}

impl Drop for MigratedVma<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant `inner` is set up and not finalized; finalized only
        // here, in drop.
        unsafe { self.inner.finalize() };
    }
}

/// `migrate_device_range()` .. `migrate_device_finalize()`: evicting device pages that
/// may be mapped anywhere (C: `dmirror_device_evict_chunk()`), before
/// `migrate_device_pages()`; dropped without [`Self::pages`], it releases every destination
/// before `migrate_device_finalize()`.
///
/// # Invariants
///
/// `pfns.src` was filled by `migrate_device_range()`, and `pfns` is finalized exactly once:
/// on drop, unless `pages()` moved it out.
pub(crate) struct DeviceMigration {
    pfns: Pfns,
}

impl DeviceMigration {
    /// `migrate_device_range(src, start_pfn, npages)`; the pfns must be device pages of a
    /// pagemap that stays mapped while `Self` lives (guaranteed by the caller holding the
    /// chunk: `_chunk` borrows it).
    pub(crate) fn range<T>(_chunk: &T, start_pfn: usize, npages: usize) -> Result<Self> {
        let mut pfns = Pfns::new(npages)?;
        let (src, _) = pfns.ptrs();
        // SAFETY: The arrays hold `npages` entries and the pfns are device pages of a
        // mapped pagemap (the caller borrows the chunk).
        kernel::error::to_result(unsafe {
            bindings::migrate_device_range(
                src,
                start_pfn as c_ulong,
                npages as c_ulong,
            )
        })?;
        // INVARIANT: The range was collected.
        Ok(DeviceMigration { pfns })
    }

    /// The source and destination sides, to fill the destinations.
    pub(crate) fn split(&mut self) -> (SrcView<'_>, DstView<'_>) {
        self.pfns.split()
    }

    /// `migrate_device_pages()`; `migrate_device_finalize()` follows when the result is
    /// dropped.
    pub(crate) fn pages(self) -> DeviceMigrated {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so `pfns` is moved out of it exactly once and
        // its drop (which would finalize) does not run.
        let mut pfns = unsafe { core::ptr::read(&this.pfns) };
        let n = pfns.n as c_ulong;
        let (src, dst) = pfns.ptrs();
        // SAFETY: `src` and `dst` were just taken from `pfns`, which holds `n` entries each
        // and is not touched during the call; by the type invariant `src` was collected by
        // `migrate_device_range()`, and every non-zero `dst` entry is a locked, referenced
        // page handed over by `DstView`.
        unsafe { bindings::migrate_device_pages(src, dst, n) };
        DeviceMigrated { pfns }
    }
}

/// `migrate_device_finalize()` of the arrays `pfns`.
///
/// # Safety
///
/// `pfns.src` must have been collected by `migrate_device_range()` and not finalized yet.
unsafe fn device_finalize(pfns: &mut Pfns) {
    let n = pfns.n as c_ulong;
    let (src, dst) = pfns.ptrs();
    // SAFETY: `src` and `dst` were just taken from `pfns`, which holds `n` entries each and
    // is not touched during the call; the caller guarantees `src` was collected and is
    // finalized only now.
    unsafe { bindings::migrate_device_finalize(src, dst, n) };
}

impl Drop for DeviceMigration {
    fn drop(&mut self) {
        self.pfns.release_dst();
        // SAFETY: By the type invariant `pfns` was collected, and it is finalized only here
        // (`pages()` skips this drop).
        unsafe { device_finalize(&mut self.pfns) };
    }
}

/// A device migration after `migrate_device_pages()`; finalized on drop.
///
/// # Invariants
///
/// `pfns.src` was collected by `migrate_device_range()` and is finalized only on drop.
pub(crate) struct DeviceMigrated {
    pfns: Pfns,
}

impl Drop for DeviceMigrated {
    fn drop(&mut self) {
        // SAFETY: By the type invariant `pfns` was collected and is finalized only here.
        unsafe { device_finalize(&mut self.pfns) };
    }
}
