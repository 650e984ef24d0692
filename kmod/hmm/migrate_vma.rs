// SPDX-License-Identifier: GPL-2.0

//! Page migration between system and device memory: `migrate_vma_setup/pages/finalize()`
//! ([`MigrateVma`]), `migrate_device_range/pages/finalize()` ([`DeviceMigration`]) and the
//! locked, referenced destination pages they take ([`NewPage`]).

use super::mmap::MmapRead;
use super::page::{PageRef, PAGE_SHIFT, PAGE_SIZE};
use super::pagemap::CpuFault;
use super::Owner;
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
/// `ptr` is the head page of a locked folio on which `self` owns one reference.
pub(crate) struct NewPage {
    ptr: NonNull<bindings::page>,
}

// SAFETY: The reference and the lock may be released from another thread.
unsafe impl Send for NewPage {}

impl NewPage {
    /// # Safety
    ///
    /// `ptr` must be the head page of a locked folio whose one reference the caller gives.
    pub(super) unsafe fn from_raw(ptr: NonNull<bindings::page>) -> Self {
        // INVARIANT: By the safety requirements.
        NewPage { ptr }
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
        // SAFETY: The folio is locked and its one reference is ours.
        Ok(unsafe { Self::from_raw(ptr) })
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

/// The destination side of a migration.
pub(crate) struct DstView<'a> {
    dst: &'a mut [c_ulong],
}

impl DstView<'_> {
    /// `dst[i] = migrate_pfn(page_to_pfn(page)) | flags`: the migration takes `page`.
    /// Past the end (a caller's bug) the page is released instead, with a warning.
    pub(crate) fn set(&mut self, i: usize, page: NewPage, write: bool, compound: bool) {
        let Some(slot) = self.dst.get_mut(i) else {
            pr_warn!(
                "migration destination {} past the end ({})\n",
                i,
                self.dst.len()
            );
            return;
        };
        let old = core::mem::replace(slot, page.into_mpfn(write, compound));
        if old != 0 {
            pr_warn!("migration destination set twice\n");
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
/// [`Pfns::ptrs`] right before each call, never earlier.
struct Pfns {
    n: usize,
    inline: [[c_ulong; INLINE]; 2],
    heap: Option<[KVVec<c_ulong>; 2]>,
}

impl Pfns {
    fn new(n: usize) -> Result<Self> {
        let heap = if n > INLINE {
            Some([
                KVVec::from_elem(0, n, GFP_KERNEL)?,
                KVVec::from_elem(0, n, GFP_KERNEL)?,
            ])
        } else {
            None
        };
        Ok(Pfns {
            n,
            inline: [[0; INLINE]; 2],
            heap,
        })
    }

    /// `(src, dst)`, `n` entries each, wherever they live.
    fn arrays(&self) -> (&[c_ulong], &[c_ulong]) {
        match &self.heap {
            Some([s, d]) => (s, d),
            None => (&self.inline[0][..self.n], &self.inline[1][..self.n]),
        }
    }

    /// `(src, dst)`, mutable.
    fn arrays_mut(&mut self) -> (&mut [c_ulong], &mut [c_ulong]) {
        match &mut self.heap {
            Some([s, d]) => (s, d),
            None => {
                let [s, d] = &mut self.inline;
                (&mut s[..self.n], &mut d[..self.n])
            }
        }
    }

    fn src(&self) -> &[c_ulong] {
        self.arrays().0
    }

    fn dst(&self) -> &[c_ulong] {
        self.arrays().1
    }

    fn split(&mut self) -> (SrcView<'_>, DstView<'_>) {
        let (src, dst) = self.arrays_mut();
        (SrcView { src }, DstView { dst })
    }

    /// `(src, dst)` for the core: valid until `self` moves or is borrowed again.
    fn ptrs(&mut self) -> (*mut c_ulong, *mut c_ulong) {
        let (src, dst) = self.arrays_mut();
        (src.as_mut_ptr(), dst.as_mut_ptr())
    }

    fn src_view(&self) -> SrcView<'_> {
        SrcView { src: self.src() }
    }

    fn dst_page(&self, i: usize) -> Option<PageRef<'_>> {
        let e = MigratePfn(self.dst().get(i).copied().unwrap_or(0));
        if !e.valid() {
            return None;
        }
        // SAFETY: A valid destination entry was set from a `NewPage` whose reference the
        // migration holds until finalize, which needs `&mut`.
        Some(unsafe { PageRef::from_pfn(e.pfn()) })
    }
}

/// One `migrate_vma_setup()` .. `migrate_vma_finalize()` sequence over part of one vma.
///
/// # Invariants
///
/// `args` was set up successfully by `migrate_vma_setup()` with the arrays of `pfns`, and
/// `migrate_vma_finalize()` runs exactly once, on drop. `args.src`/`args.dst` are pointed
/// at `pfns` again before every call that uses them (inline arrays move with `Self`).
pub(crate) struct MigrateVma<'a> {
    args: bindings::migrate_vma,
    pfns: Pfns,
    _lock: core::marker::PhantomData<&'a ()>,
}

impl<'a> MigrateVma<'a> {
    /// `migrate_vma_setup()` for `[start, end)` of `vma`, under the mmap read lock `lock`.
    pub(crate) fn setup(
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
                vma.as_ptr(),
                start,
                end,
                owner,
                select,
                core::ptr::null_mut(),
            )
        }
    }

    /// `migrate_vma_setup()` for the CPU fault path, with `fault_page = vmf->page`.
    pub(crate) fn setup_fault(
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
        let mut pfns = Pfns::new(n)?;
        let (src, dst) = pfns.ptrs();
        let mut args = bindings::migrate_vma {
            vma,
            dst,
            src,
            cpages: 0,
            npages: 0,
            start: start as c_ulong,
            end: end as c_ulong,
            pgmap_owner: owner.as_ptr(),
            flags: select.0,
            fault_page,
        };
        // SAFETY: `args` is fully initialised, the arrays hold `n` entries, and the caller
        // guarantees the vma and its lock.
        kernel::error::to_result(unsafe { bindings::migrate_vma_setup(&mut args) })?;
        // INVARIANT: Setup succeeded with the arrays of `pfns`, which the core does not keep
        // between calls.
        Ok(MigrateVma {
            args,
            pfns,
            _lock: core::marker::PhantomData,
        })
    }

    /// First address.
    pub(crate) fn start(&self) -> usize {
        self.args.start
    }

    /// Number of entries.
    pub(crate) fn npages(&self) -> usize {
        self.pfns.n
    }

    /// `src[i]` (an empty entry past the end).
    pub(crate) fn src(&self, i: usize) -> MigratePfn {
        MigratePfn(self.pfns.src().get(i).copied().unwrap_or(0))
    }

    /// The source and destination sides, to fill the destinations.
    pub(crate) fn split(&mut self) -> (SrcView<'_>, DstView<'_>) {
        self.pfns.split()
    }

    /// `dst[i]` (an empty entry past the end).
    pub(crate) fn dst(&self, i: usize) -> MigratePfn {
        MigratePfn(self.pfns.dst().get(i).copied().unwrap_or(0))
    }

    /// `migrate_pfn_to_page(dst[i])`.
    pub(crate) fn dst_page(&self, i: usize) -> Option<PageRef<'_>> {
        self.pfns.dst_page(i)
    }

    /// `migrate_vma_pages()`.
    pub(crate) fn pages(&mut self) {
        (self.args.src, self.args.dst) = self.pfns.ptrs();
        // SAFETY: By the type invariant `args` is set up, and its arrays were just pointed at
        // `pfns`; every non-zero `dst` entry is a locked, referenced page handed over by
        // `DstView::set`.
        unsafe { bindings::migrate_vma_pages(&mut self.args) };
    }

    /// Number of pages migrated: those of the entries with both `MIGRATE_PFN_VALID` and
    /// `MIGRATE_PFN_MIGRATE` in `src`, a `MIGRATE_PFN_COMPOUND` entry counting for all the
    /// pages of its folio (C's `dmirror_successful_migrated_pages()` counts entries, so a
    /// THP counts 1 there).
    pub(crate) fn migrated(&self) -> usize {
        let src = self.pfns.src_view();
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

impl Drop for MigrateVma<'_> {
    fn drop(&mut self) {
        (self.args.src, self.args.dst) = self.pfns.ptrs();
        // SAFETY: By the type invariant `args` is set up and finalized only here; its arrays
        // were just pointed at `pfns`.
        unsafe { bindings::migrate_vma_finalize(&mut self.args) };
    }
}

/// `migrate_device_range()` .. `migrate_device_finalize()`: evicting device pages that
/// may be mapped anywhere (C: `dmirror_device_evict_chunk()`).
///
/// # Invariants
///
/// `pfns.src` was filled by `migrate_device_range()`; finalize runs once, on drop.
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

    /// Number of entries.
    pub(crate) fn npages(&self) -> usize {
        self.pfns.n
    }

    /// The source and destination sides, to fill the destinations.
    pub(crate) fn split(&mut self) -> (SrcView<'_>, DstView<'_>) {
        self.pfns.split()
    }

    /// `migrate_device_pages()`.
    pub(crate) fn pages(&mut self) {
        let n = self.npages() as c_ulong;
        let (src, dst) = self.pfns.ptrs();
        // SAFETY: `src` and `dst` were just taken from `pfns`, which holds `n` entries each
        // and is not touched during the call; by the type invariant `src` was collected by
        // `migrate_device_range()`, and every non-zero `dst` entry is a locked, referenced
        // page handed over by `DstView::set`.
        unsafe { bindings::migrate_device_pages(src, dst, n) };
    }
}

impl Drop for DeviceMigration {
    fn drop(&mut self) {
        let n = self.npages() as c_ulong;
        let (src, dst) = self.pfns.ptrs();
        // SAFETY: `src` and `dst` were just taken from `pfns`, which holds `n` entries each
        // and is not touched during the call; by the type invariant `src` was collected by
        // `migrate_device_range()` and is finalized only here, once.
        unsafe { bindings::migrate_device_finalize(src, dst, n) };
    }
}
