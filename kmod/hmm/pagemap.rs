// SPDX-License-Identifier: GPL-2.0

//! ZONE_DEVICE memory: `memremap_pages()` of one chunk ([`DevPagemap`]), its
//! `dev_pagemap_ops` ([`PagemapOps`]), the free lists of device pages ([`FreeLists`]) and
//! the CPU fault on a device page ([`CpuFault`]).

use kernel::sync::Arc;
use super::migrate_vma::NewPage;
use super::page::{PageRef, PAGE_SHIFT, PMD_NR};
use super::Owner;
use kernel::{
    bindings,
    ffi::{c_ulong, c_void},
    mm::virt::VmaRef,
    prelude::*,
    types::Opaque,
};

/// The memory type of a chunk.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum MemoryKind {
    /// `MEMORY_DEVICE_PRIVATE` in a free physical range found by `request_free_mem_region`.
    Private,
    /// `MEMORY_DEVICE_COHERENT` at this physical address (memory the kernel does not use).
    Coherent(u64),
}

/// The driver side of a chunk (C: `struct dev_pagemap_ops`).
pub(crate) trait PagemapOps: Send + Sync + Sized {
    /// A folio of the chunk was freed (its refcount dropped to zero): `folio_free`.
    /// The pages are free again; hand them back to the allocator with
    /// [`FreedFolio::release`], or drop the token to keep them out of circulation.
    fn folio_free(chunk: &DevPagemap<Self>, folio: FreedFolio);

    /// The CPU touched a device page that is not CPU accessible: `migrate_to_ram`.
    /// Returns a `vm_fault_t`.
    fn migrate_to_ram(chunk: &DevPagemap<Self>, fault: &CpuFault<'_>) -> u32;
}

/// A token for free pages of some chunk: each free page (or free PMD-sized run) has exactly
/// one token, so handing one to [`DevPagemap::alloc_folio`] cannot re-initialise a page in use.
pub(crate) struct FreePfn {
    pfn: usize,
}

impl FreePfn {
    /// The first pfn.
    pub(crate) fn pfn(&self) -> usize {
        self.pfn
    }
}

/// The free device pages of a device: a stack of free single pages and one of free
/// PMD-aligned runs (C: `free_pages` and `free_folios`).
pub(crate) struct FreeLists {
    pages: KVVec<FreePfn>,
    folios: KVVec<FreePfn>,
}

impl FreeLists {
    /// Empty lists.
    pub(crate) const fn new() -> Self {
        FreeLists {
            pages: KVVec::new(),
            folios: KVVec::new(),
        }
    }

    /// Empty lists with room for `pages` pages, so that pushes (from `folio_free`, in any
    /// context) never allocate.
    pub(crate) fn with_capacity(pages: usize) -> Result<Self> {
        Ok(FreeLists {
            pages: KVVec::with_capacity(pages, GFP_KERNEL)?,
            folios: KVVec::with_capacity(pages / PMD_NR + 1, GFP_KERNEL)?,
        })
    }

    /// Moves every token into `other`, which must have room for them (no allocation).
    pub(crate) fn move_into(&mut self, other: &mut FreeLists) {
        while let Some(f) = self.pages.pop() {
            other.push(f, false);
        }
        while let Some(f) = self.folios.pop() {
            other.push(f, true);
        }
    }

    /// Pops a free page (`large == false`) or a free PMD-sized run. When no single page is
    /// left, a free run is split into pages.
    pub(crate) fn pop(&mut self, large: bool) -> Option<FreePfn> {
        if large {
            return self.folios.pop();
        }
        if let Some(f) = self.pages.pop() {
            return Some(f);
        }
        let run = self.folios.pop()?;
        for k in (1..PMD_NR).rev() {
            self.push(FreePfn { pfn: run.pfn + k }, false);
        }
        Some(run)
    }

    fn push(&mut self, f: FreePfn, large: bool) {
        // The lists are reserved for every page of every chunk, so this does not fail;
        // if it did, the page would only be lost to the allocator.
        let _ = if large {
            self.folios.push_within_capacity(f)
        } else {
            self.pages.push_within_capacity(f)
        };
    }

    /// Drops every token.
    pub(crate) fn clear(&mut self) {
        self.pages.clear();
        self.folios.clear();
    }
}

/// A folio of a chunk whose last reference is gone (argument of `folio_free`).
pub(crate) struct FreedFolio {
    pfn: usize,
    order: u32,
}

impl FreedFolio {
    /// First pfn.
    pub(crate) fn pfn(&self) -> usize {
        self.pfn
    }

    /// Folio order.
    pub(crate) fn order(&self) -> u32 {
        self.order
    }

    /// Returns the pages to `lists` (as one run when the folio is PMD sized).
    pub(crate) fn release(self, lists: &mut FreeLists) {
        if self.order > 0 && (1usize << self.order) == PMD_NR {
            lists.push(FreePfn { pfn: self.pfn }, true);
        } else {
            for i in 0..(1usize << self.order) {
                lists.push(FreePfn { pfn: self.pfn + i }, false);
            }
        }
    }
}

/// A CPU fault on a device page (`struct vm_fault` of `migrate_to_ram`).
pub(crate) struct CpuFault<'a> {
    vmf: &'a bindings::vm_fault,
}

impl<'a> CpuFault<'a> {
    /// The faulting device page (`vmf->page`); the core mm holds a reference and its lock.
    /// (Always set for `migrate_to_ram`; `None` would be a core mm bug.)
    pub(crate) fn page(&self) -> Option<PageRef<'a>> {
        // SAFETY: For `migrate_to_ram` the core mm passes a referenced, locked page (or, were
        // it not to, NULL, which `from_raw` maps to `None`).
        unsafe { PageRef::from_raw(self.vmf.page) }
    }

    /// The faulting address (`vmf->address`).
    pub(crate) fn address(&self) -> usize {
        self.vmf.__bindgen_anon_1.address
    }

    /// The faulting vma (`vmf->vma`), locked by the core mm for the fault.
    pub(crate) fn vma(&self) -> &'a VmaRef {
        // SAFETY: The core mm holds the mmap or per-vma lock for the duration of the fault,
        // which outlives `'a`.
        unsafe { VmaRef::from_raw(self.vmf.__bindgen_anon_1.vma) }
    }

    /// Whether the fault came through a PTE (`vmf->pte`); if so, the folio may be only
    /// partially mapped and must be migrated one page at a time.
    pub(crate) fn has_pte(&self) -> bool {
        !self.vmf.pte.is_null()
    }

    /// The raw fault, for `migrate_vma.rs`.
    pub(super) fn raw(&self) -> &'a bindings::vm_fault {
        self.vmf
    }
}

/// One chunk of device memory mapped with `memremap_pages()` (C: `struct dmirror_chunk`).
///
/// # Invariants
///
/// - `pgmap` is mapped by `memremap_pages()` with `ops == Self::OPS` and is unmapped (and,
///   for [`MemoryKind::Private`], its region released) exactly once, on drop.
/// - Every pfn in `[first_pfn, first_pfn + npages)` has a `struct page` while `self` lives.
#[pin_data(PinnedDrop)]
pub(crate) struct DevPagemap<T: PagemapOps> {
    data: T,
    kind: MemoryKind,
    first_pfn: usize,
    npages: usize,
    #[pin]
    pgmap: Opaque<bindings::dev_pagemap>,
}

// SAFETY: The C structure is only used through thread-safe memremap/page APIs.
unsafe impl<T: PagemapOps> Send for DevPagemap<T> {}
// SAFETY: `&self` methods only read immutable fields or call thread-safe C functions.
unsafe impl<T: PagemapOps> Sync for DevPagemap<T> {}

#[pinned_drop]
impl<T: PagemapOps> PinnedDrop for DevPagemap<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: By the type invariant the pagemap is mapped and unmapped only here.
        // `memunmap_pages` waits until every page of the chunk is freed.
        unsafe { bindings::memunmap_pages(self.pgmap.get()) };
        if self.kind == MemoryKind::Private {
            // SAFETY: The region was requested by `request_free_mem_region()` in `new`.
            unsafe {
                bindings::release_mem_region(
                    (self.first_pfn << PAGE_SHIFT) as bindings::resource_size_t,
                    (self.npages << PAGE_SHIFT) as bindings::resource_size_t,
                )
            };
        }
    }
}

/// `IS_ERR_OR_NULL()` and `PTR_ERR()`.
fn err_or_null(p: *const c_void) -> Option<Error> {
    let v = p as isize;
    if p.is_null() {
        Some(EFAULT)
    } else if v < 0 && v >= -(bindings::MAX_ERRNO as isize) {
        Some(Error::from_errno(v as i32))
    } else {
        None
    }
}

impl<T: PagemapOps> DevPagemap<T> {
    const OPS: bindings::dev_pagemap_ops = bindings::dev_pagemap_ops {
        folio_free: Some(Self::folio_free_callback),
        migrate_to_ram: Some(Self::migrate_to_ram_callback),
        memory_failure: None,
        folio_split: None,
    };

    const fn ops() -> &'static bindings::dev_pagemap_ops {
        &Self::OPS
    }

    /// Maps `size` bytes of device memory of `kind` owned by `owner`.
    ///
    /// `owner` must identify one device, all of whose pagemaps are `DevPagemap<T>` with
    /// this same `T` (the address of the device's state serves).
    pub(crate) fn new(
        data: T,
        kind: MemoryKind,
        size: usize,
        owner: Owner,
    ) -> Result<Arc<Self>> {
        let (start, region) = match kind {
            MemoryKind::Private => {
                // SAFETY: `iomem_resource` is the static root of the iomem tree; the name
                // is a static string.
                let res = unsafe {
                    bindings::request_free_mem_region(
                        &raw mut bindings::iomem_resource,
                        size as c_ulong,
                        c"hmm_dmirror".as_char_ptr(),
                    )
                };
                if let Some(e) = err_or_null(res.cast()) {
                    return Err(if e == EFAULT { ENOMEM } else { e });
                }
                // SAFETY: `res` is a valid resource just inserted in the iomem tree.
                (unsafe { (*res).start } as u64, true)
            }
            MemoryKind::Coherent(start) => (start, false),
        };
        let release = |()| {
            if region {
                // SAFETY: The region was requested just above and is not used any more.
                unsafe {
                    bindings::release_mem_region(
                        start as bindings::resource_size_t,
                        size as bindings::resource_size_t,
                    )
                };
            }
        };
        let first_pfn = (start >> PAGE_SHIFT) as usize;
        let npages = size >> PAGE_SHIFT;
        let init = try_pin_init!(Self {
            data,
            kind,
            first_pfn,
            npages,
            pgmap <- Opaque::try_ffi_init(move |slot: *mut bindings::dev_pagemap| {
                // SAFETY: `slot` is valid for writes; an all-zero pagemap is the C default.
                unsafe { core::ptr::write_bytes(slot, 0, 1) };
                // SAFETY: `slot` is valid and zeroed; the union member `range` is the first
                // (and only) range since `nr_range == 1`.
                unsafe {
                    let range = (&raw mut (*slot).__bindgen_anon_1.range).cast::<bindings::range>();
                    (*range).start = start;
                    (*range).end = start + size as u64 - 1;
                    (*slot).nr_range = 1;
                    (*slot).type_ = match kind {
                        MemoryKind::Private => bindings::memory_type_MEMORY_DEVICE_PRIVATE,
                        MemoryKind::Coherent(_) => bindings::memory_type_MEMORY_DEVICE_COHERENT,
                    };
                    (*slot).ops = Self::ops();
                    (*slot).owner = owner.as_ptr();
                }
                // SAFETY: `slot` is a fully set up pagemap at its final (pinned) address.
                // INVARIANT: On success the pagemap is mapped; `PinnedDrop` unmaps it.
                let p = unsafe { bindings::memremap_pages(slot, bindings::numa_node_id()) };
                match err_or_null(p) {
                    Some(e) => Err(e),
                    None => Ok(()),
                }
            }),
        });
        // An `Arc`: eviction works on a chunk without holding the device's chunk list lock.
        Arc::pin_init(init, GFP_KERNEL).inspect_err(|_| release(()))
    }

    /// The driver data.
    pub(crate) fn data(&self) -> &T {
        &self.data
    }

    /// First pfn of the chunk.
    pub(crate) fn first_pfn(&self) -> usize {
        self.first_pfn
    }

    /// Number of pages of the chunk.
    pub(crate) fn npages(&self) -> usize {
        self.npages
    }

    /// Whether `pfn` belongs to the chunk.
    pub(crate) fn contains(&self, pfn: usize) -> bool {
        pfn >= self.first_pfn && pfn < self.first_pfn + self.npages
    }

    /// Creates the tokens of all pages of a newly mapped chunk (C: the loop at the end of
    /// `dmirror_allocate_chunk`): the first `small` pages as single pages, then PMD-aligned
    /// runs (and single pages where a run does not fit).
    /// Call once per chunk, right after [`Self::new`].
    ///
    /// Split runs are never merged again (as in C): a freed single page stays single.
    pub(crate) fn populate(&self, lists: &mut FreeLists, small: usize) {
        let last = self.first_pfn + self.npages;
        let mut pfn = self.first_pfn;
        while pfn < last {
            let large = pfn >= self.first_pfn + small;
            if large && pfn % PMD_NR == 0 && pfn + PMD_NR <= last {
                lists.push(FreePfn { pfn }, true);
                pfn += PMD_NR;
            } else {
                lists.push(FreePfn { pfn }, false);
                pfn += 1;
            }
        }
    }

    /// Takes a free page (order 0) or run (`PMD_ORDER`) of this chunk into use:
    /// `zone_device_folio_init()`, which gives the caller the folio's one reference.
    /// Fails with `EINVAL` if `free` is not a page of this chunk.
    pub(crate) fn alloc_folio(&self, free: FreePfn, order: u32) -> Result<NewPage> {
        if !self.contains(free.pfn) || !self.contains(free.pfn + (1 << order) - 1) {
            return Err(EINVAL);
        }
        // SAFETY: By the type invariant the pfn has a `struct page` while `self` lives.
        let page = unsafe { PageRef::from_pfn(free.pfn) };
        // The page itself becomes the head of the new folio. Not `page_folio(page)`: a free
        // page split off a free PMD-sized run (see `FreeLists::pop`) still carries the
        // stale compound head of the earlier large folio, so `page_folio` would name that
        // folio's head (maybe in use) and re-initialise it instead of this page, once per
        // page allocated from the run (a refcount underflow, and the chunk can never be
        // unmapped). `zone_device_page_init` clears the stale compound metadata itself.
        let folio = page.as_ptr().cast::<bindings::folio>();
        // SAFETY: The token proves that the pages are free (refcount zero, not mapped), so
        // they may be (re)initialised as a folio of this pagemap headed by `page`
        // (`struct folio` starts with its head `struct page`).
        unsafe { bindings::zone_device_folio_init(folio, self.pgmap.get(), order) };
        // SAFETY: `zone_device_folio_init` returns the folio, of `order`, locked with one
        // reference, which we hand to the caller.
        Ok(unsafe {
            NewPage::from_raw(core::ptr::NonNull::new(page.as_ptr()).ok_or(EINVAL)?, order)
        })
    }

    /// The chunk `page` belongs to, if it is a ZONE_DEVICE page whose pagemap has the
    /// owner cookie `owner`.
    ///
    /// Owner cookies name one device (see [`Self::new`]); all of that device's pagemaps are
    /// `DevPagemap<T>` for the same `T`.
    pub(crate) fn of_page<'a>(page: &PageRef<'a>, owner: Owner) -> Option<&'a Self> {
        // SAFETY: The page is valid for `'a`.
        if !unsafe { bindings::is_zone_device_page(page.as_ptr()) } {
            return None;
        }
        // SAFETY: A ZONE_DEVICE page has a pagemap that outlives it.
        let pgmap = unsafe { bindings::page_pgmap(page.as_ptr()) };
        // SAFETY: As above, `pgmap` is valid while the page is.
        if unsafe { (*pgmap).owner } != owner.as_ptr() {
            return None;
        }
        // SAFETY: The pagemap carries `owner`, so it was created by `Self::new` (see above)
        // and outlives the page, which is valid for `'a`.
        Some(unsafe { Self::from_pgmap(pgmap) })
    }

    /// # Safety
    ///
    /// `page` must be a page of a pagemap that uses `Self::OPS`.
    unsafe fn from_page<'a>(page: *const bindings::page) -> &'a Self {
        // SAFETY: The caller guarantees a ZONE_DEVICE page of one of our pagemaps.
        let pgmap = unsafe { bindings::page_pgmap(page) };
        // SAFETY: That pagemap uses `Self::OPS` and outlives the page.
        unsafe { Self::from_pgmap(pgmap) }
    }

    /// # Safety
    ///
    /// `pgmap` must be a pagemap that uses `Self::OPS`, and must outlive `'a`.
    unsafe fn from_pgmap<'a>(pgmap: *const bindings::dev_pagemap) -> &'a Self {
        let field = pgmap.cast::<Opaque<bindings::dev_pagemap>>();
        // SAFETY: Pagemaps with `Self::OPS` are only created by `Self::new`, embedded in
        // `Self` at field `pgmap`, and they outlive their pages' callbacks (drop unmaps
        // first, which waits for every page to be freed); the caller guarantees `'a`.
        unsafe { &*kernel::container_of!(field, Self, pgmap) }
    }

    /// # Safety
    ///
    /// Called by the core mm with a freed folio of a pagemap using [`Self::OPS`].
    unsafe extern "C" fn folio_free_callback(folio: *mut bindings::folio) {
        let page = folio.cast::<bindings::page>();
        // SAFETY: The core mm calls `folio_free` on a folio of a pagemap with these ops;
        // `struct folio` starts with its head `struct page`.
        let this = unsafe { Self::from_page(page) };
        // SAFETY: The folio is valid for the duration of the callback.
        let order = unsafe { bindings::folio_order(folio) };
        // SAFETY: As above.
        let pfn = unsafe { super::memmap::page_to_pfn(page) };
        T::folio_free(this, FreedFolio { pfn, order });
    }

    /// # Safety
    ///
    /// Called by the core mm with a valid fault on a page of a pagemap using [`Self::OPS`].
    unsafe extern "C" fn migrate_to_ram_callback(
        vmf: *mut bindings::vm_fault,
    ) -> bindings::vm_fault_t {
        // SAFETY: The core mm passes a valid fault for the duration of the callback.
        let vmf = unsafe { &*vmf };
        // SAFETY: `vmf->page` is a device page of a pagemap with these ops.
        let this = unsafe { Self::from_page(vmf.page) };
        T::migrate_to_ram(this, &CpuFault { vmf })
    }
}
