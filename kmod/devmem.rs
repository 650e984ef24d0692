// SPDX-License-Identifier: GPL-2.0

//! Device memory of one `/dev/hmm_dmirrorN`: 256 MiB chunks mapped with
//! `memremap_pages()`, the free page lists, allocation, and eviction
//! (C: `dmirror_allocate_chunk`, `dmirror_devmem_alloc_page`, `dmirror_devmem_free`,
//! `dmirror_device_evict_chunk`, `dmirror_device_remove_chunks`).
//!
//! Lock order: the one table in `hmm/mod.rs`.

use crate::dmirror::Dmirror;
use crate::hmm::migrate_vma::{DeviceMigration, NewPage};
use crate::hmm::page::{BackingStore, PageRef, SysPage, SysRun, PAGE_SHIFT, PMD_ORDER};
use crate::hmm::pagemap::{CpuFault, DevPagemap, FreeLists, FreedFolio, MemoryKind, PagemapOps};
use crate::hmm::Owner;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use kernel::{
    new_mutex, new_spinlock,
    prelude::*,
    sync::{Arc, Mutex, SpinLock},
};

/// `DEVMEM_CHUNK_SIZE`.
pub(crate) const CHUNK_SIZE: usize = 256 * 1024 * 1024;

/// The memory type of a device (C: `zone_device_type`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ZoneType {
    /// `HMM_DMIRROR_MEMORY_DEVICE_PRIVATE`.
    Private,
    /// `HMM_DMIRROR_MEMORY_DEVICE_COHERENT`, at this physical address.
    Coherent(u64),
}

/// A chunk: the pagemap plus the per-page side tables.
pub(crate) type Chunk = DevPagemap<ChunkData>;

/// Per-chunk driver data (C: `struct dmirror_chunk` minus the pagemap).
pub(crate) struct ChunkData {
    dev: Arc<DeviceMem>,
    /// Set while the chunk is being removed: freed pages are not recycled (C: `remove`).
    remove: AtomicBool,
    /// Backing system pages of DEVICE_PRIVATE pages (C: `zone_device_data`).
    backing: Option<BackingStore>,
    /// Cookie of the open file that allocated each page (C: `rpage->zone_device_data`),
    /// 0 if none. Used only to look the file up in [`DeviceMem::mirror_by_token`].
    owners: KVVec<AtomicUsize>,
    /// Pages of this chunk allocated and not yet freed.
    in_use: AtomicUsize,
}

impl ChunkData {
    /// Pages of this chunk allocated and not yet freed.
    fn pages_in_use(&self) -> usize {
        self.in_use.load(Ordering::Acquire)
    }

    /// The device.
    pub(crate) fn dev(&self) -> &Arc<DeviceMem> {
        &self.dev
    }

    /// The open file that allocated the page at index `idx`, if it is still open.
    pub(crate) fn owner_of(&self, idx: usize) -> Option<MirrorRef> {
        self.dev
            .mirror_by_token(self.owners[idx].load(Ordering::Relaxed))
    }
}

impl Drop for ChunkData {
    fn drop(&mut self) {
        // A chunk's data is dropped after its pagemap was unmapped (`DevPagemap`'s drop
        // runs `memunmap_pages()` before its fields are dropped): its range may be mapped
        // again from now on.
        self.dev.mapped.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An open file found in the device's registry by the CPU fault path: the file stays alive
/// while this lives, and its `release` waits for this to be dropped, so the last reference
/// to the file is never dropped here (inside the fault handler, where tearing down its
/// interval notifier may wait for an invalidation that waits for the faulting folio's
/// lock).
pub(crate) struct MirrorRef {
    // Dropped in declaration order: first the reference, then the count that `release`
    // waits for; while the count is non-zero `release` holds references of its own, so this
    // one is not the last.
    d: Arc<Dmirror>,
    _count: LookupCount,
}

impl core::ops::Deref for MirrorRef {
    type Target = Dmirror;
    fn deref(&self) -> &Dmirror {
        &self.d
    }
}

/// One [`MirrorRef`] in its file's count.
struct LookupCount(Arc<AtomicUsize>);

impl Drop for LookupCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Release);
    }
}

/// A registered open file and the count of its [`MirrorRef`]s.
struct Registered {
    d: Arc<Dmirror>,
    lookups: Arc<AtomicUsize>,
}

/// The memory the CPU and the device access for a device page: the backing system page of
/// a DEVICE_PRIVATE page, the page itself for DEVICE_COHERENT (C: `BACKING_PAGE()`).
pub(crate) fn backing_page<'a>(chunk: &Chunk, dpage: &PageRef<'a>) -> Option<PageRef<'a>> {
    let idx = dpage.pfn().checked_sub(chunk.first_pfn())?;
    match &chunk.data().backing {
        Some(b) if idx < chunk.npages() => b.get(idx, dpage),
        Some(_) => None,
        None => Some(*dpage),
    }
}

impl PagemapOps for ChunkData {
    fn folio_free(chunk: &Chunk, folio: FreedFolio) {
        let data = chunk.data();
        let first = folio.pfn() - chunk.first_pfn();
        let n = 1usize << folio.order();
        if let Some(b) = &data.backing {
            b.release(first, n);
        }
        for idx in first..first + n {
            data.owners[idx].store(0, Ordering::Relaxed);
        }
        data.in_use.fetch_sub(n, Ordering::AcqRel);
        // Return the pages to the allocator unless the chunk is going away.
        let mut free = data.dev.free.lock();
        if !data.remove.load(Ordering::Acquire) {
            data.dev.cfree.fetch_add(n, Ordering::Relaxed);
            folio.release(&mut free);
        }
    }

    fn migrate_to_ram(chunk: &Chunk, fault: &CpuFault<'_>) -> u32 {
        crate::fault::migrate_to_ram(chunk, fault)
    }
}

/// The backing memory allocated for a new device folio (DEVICE_PRIVATE only).
enum Backing {
    /// A coherent device: the device page is its own memory.
    None,
    /// One page for a single device page (no vector: this runs once per page migrated).
    One(SysPage),
    /// One contiguous unsplit run for a PMD-sized folio, as in C.
    Run(SysRun),
    /// Single pages for a PMD-sized folio when no run is free.
    Pages(KVec<SysPage>),
}

/// A device page just allocated: locked, one reference, backed, owned by an open file.
pub(crate) struct DevPage {
    /// The device page (head of an order-0 or PMD-order folio).
    pub(crate) page: NewPage,
    /// Its order.
    pub(crate) order: u32,
}

/// The memory of one device (C: the memory half of `struct dmirror_device`).
#[pin_data]
pub(crate) struct DeviceMem {
    /// Device number: `/dev/hmm_dmirror<id>`.
    pub(crate) id: usize,
    /// Memory type.
    pub(crate) zone: ZoneType,
    /// The chunks (C: `devmem_chunks`, under `devmem_lock`).
    #[pin]
    chunks: Mutex<KVec<Arc<Chunk>>>,
    /// Free pages (C: `free_pages`, `free_folios`, under `lock`).
    #[pin]
    free: SpinLock<FreeLists>,
    /// Open files, so that a device page can name the file that owns it without keeping
    /// it alive.
    #[pin]
    mirrors: SpinLock<KVec<Registered>>,
    /// Chunks whose data is alive, i.e. mapped or not yet unmapped (a chunk leaves
    /// `chunks` before it is unmapped): a coherent device maps its one SPM range again only
    /// when this is 0.
    mapped: AtomicUsize,
    /// Pages allocated (C: `calloc`).
    calloc: AtomicUsize,
    /// Pages freed (C: `cfree`).
    cfree: AtomicUsize,
}

impl DeviceMem {
    /// Device state with no chunk yet.
    pub(crate) fn new(id: usize, zone: ZoneType) -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(DeviceMem {
                id,
                zone,
                chunks <- new_mutex!(KVec::new()),
                free <- new_spinlock!(FreeLists::new()),
                mirrors <- new_spinlock!(KVec::new()),
                mapped: AtomicUsize::new(0),
                calloc: AtomicUsize::new(0),
                cfree: AtomicUsize::new(0),
            }),
            GFP_KERNEL,
        )
    }

    /// The owner cookie of the device (`pgmap->owner`, `dev_private_owner`, ...).
    pub(crate) fn owner(&self) -> Owner {
        Owner::of(self)
    }

    /// Whether the device memory is DEVICE_PRIVATE.
    pub(crate) fn is_private(&self) -> bool {
        self.zone == ZoneType::Private
    }

    /// Whether this device may allocate PMD-sized device folios: a private device always; a
    /// coherent one only with the module parameter `coherent_thp` (7.3.4 cannot split a
    /// device-coherent large folio: see `kmod/README.md`).
    fn coherent_thp(&self) -> bool {
        !self.is_private() && crate::hmm::param::coherent_thp()
    }

    fn may_allocate_thp(&self) -> bool {
        self.is_private() || self.coherent_thp()
    }

    /// Registers an open file.
    pub(crate) fn add_mirror(&self, d: Arc<Dmirror>) -> Result {
        let lookups = Arc::new(AtomicUsize::new(0), GFP_KERNEL)?;
        // A handful of entries: growing the vector under the spinlock is cheap.
        self.mirrors
            .lock()
            .push(Registered { d, lookups }, GFP_ATOMIC)?;
        Ok(())
    }

    /// Unregisters an open file, then waits until no [`MirrorRef`] to it is left (they are
    /// held for one CPU fault each). The caller holds a reference of its own, which is then
    /// the last one outside a fault handler.
    pub(crate) fn remove_mirror(&self, d: &Arc<Dmirror>) {
        let removed = {
            let mut m = self.mirrors.lock();
            m.iter()
                .position(|x| Arc::ptr_eq(&x.d, d))
                .and_then(|i| m.remove(i).ok())
        };
        let Some(removed) = removed else {
            return;
        };
        // No new lookup finds the file now.
        while removed.lookups.load(Ordering::Acquire) != 0 {
            kernel::time::delay::fsleep(kernel::time::Delta::from_micros(100));
        }
        // Dropped outside the spinlock; not the last reference (the caller's is).
        drop(removed);
    }

    /// The open file with cookie `token` (see [`Dmirror::token`]), if still open.
    pub(crate) fn mirror_by_token(&self, token: usize) -> Option<MirrorRef> {
        if token == 0 {
            return None;
        }
        let m = self.mirrors.lock();
        let r = m.iter().find(|x| x.d.token() == token)?;
        // Counted under the spinlock, so `remove_mirror` either finds it counted or removed
        // the entry first.
        r.lookups.fetch_add(1, Ordering::AcqRel);
        Some(MirrorRef {
            d: r.d.clone(),
            _count: LookupCount(r.lookups.clone()),
        })
    }

    /// Maps a new chunk and adds its pages to the free lists (C: `dmirror_allocate_chunk`
    /// without the allocation at its end).
    fn add_chunk(self: &Arc<Self>, chunks: &mut KVec<Arc<Chunk>>, large: bool) -> Result {
        let npages = CHUNK_SIZE >> PAGE_SHIFT;
        // A coherent device has exactly its one SPM range, which must be unmapped before it
        // is mapped again: RELEASE takes a chunk off the list before it unmaps it (without
        // the chunk list lock, see `remove_chunks`), and an allocation meanwhile mapped a
        // new chunk over the same range (`memremap_pages()`: "Conflicting mapping in same
        // section"; regression case `hmm-tests` `release_during_migrate`).
        if !self.is_private() && self.mapped.load(Ordering::Acquire) != 0 {
            return Err(ENOMEM);
        }
        let kind = match self.zone {
            ZoneType::Private => MemoryKind::Private,
            ZoneType::Coherent(addr) => MemoryKind::Coherent(addr),
        };
        let mut owners = KVVec::with_capacity(npages, GFP_KERNEL)?;
        for _ in 0..npages {
            owners.push(AtomicUsize::new(0), GFP_KERNEL)?;
        }
        let backing = if self.is_private() {
            Some(BackingStore::new(npages)?)
        } else {
            None
        };
        // Counted from here until `ChunkData` is dropped, after the unmap.
        self.mapped.fetch_add(1, Ordering::AcqRel);
        let data = ChunkData {
            dev: self.clone(),
            remove: AtomicBool::new(false),
            backing,
            owners,
            in_use: AtomicUsize::new(0),
        };
        chunks.reserve(1, GFP_KERNEL)?;
        // Room in the free lists for every page of every chunk, so that `folio_free` never
        // allocates.
        {
            let mut bigger = FreeLists::with_capacity((chunks.len() + 1) * npages)?;
            let old = {
                let mut free = self.free.lock();
                free.move_into(&mut bigger);
                core::mem::replace(&mut *free, bigger)
            };
            // The old, now empty, lists are freed outside the spinlock.
            drop(old);
        }
        let chunk = Chunk::new(data, kind, CHUNK_SIZE, self.owner())?;
        pr_info!(
            "added new {} MB chunk (total {} chunks, {} MB) PFNs [{:#x} {:#x})\n",
            CHUNK_SIZE >> 20,
            chunks.len() + 1,
            (chunks.len() + 1) * (CHUNK_SIZE >> 20),
            chunk.first_pfn(),
            chunk.first_pfn() + chunk.npages()
        );
        // C: a chunk mapped for a large allocation is made of PMD-sized runs, any other of
        // single pages. A coherent device has just one chunk: single pages only, as in C,
        // unless `coherent_thp` is set; then half of each.
        let small = match (self.zone, large) {
            (ZoneType::Coherent(_), _) if self.coherent_thp() => npages / 2,
            (ZoneType::Coherent(_), _) => npages,
            (ZoneType::Private, true) => 0,
            (ZoneType::Private, false) => npages,
        };
        {
            let mut free = self.free.lock();
            chunk.populate(&mut free, small);
        }
        chunks.push(chunk, GFP_KERNEL)?;
        Ok(())
    }

    /// Maps the first chunk (C: `dmirror_device_init` builds the free list at load).
    ///
    /// A DEVICE_PRIVATE device starts with single pages and maps a chunk of PMD-sized runs
    /// on the first large allocation, as the C driver does. A DEVICE_COHERENT device has
    /// only its one SPM range: single pages, as in C (which therefore never allocates a
    /// coherent THP); with `coherent_thp`, half single pages and half PMD-sized runs, and
    /// single pages are split off runs when none is left.
    pub(crate) fn init_memory(self: &Arc<Self>) -> Result {
        let mut chunks = self.chunks.lock();
        self.add_chunk(&mut chunks, false)
    }

    /// Allocates a device page (order 0) or a PMD-sized device folio for the open file with
    /// cookie `token` (C: `dmirror_devmem_alloc_page`).
    pub(crate) fn alloc_page(self: &Arc<Self>, token: usize, large: bool) -> Result<DevPage> {
        if large && !self.may_allocate_thp() {
            // The caller falls back to single pages (C's split path).
            return Err(ENOMEM);
        }
        let order = if large { PMD_ORDER } else { 0 };
        let n = 1usize << order;
        // A fake DEVICE_PRIVATE device keeps its data in system memory: one page for a
        // single device page, one contiguous run for a large one, as in C (kept whole, so
        // that freeing the folio frees it in one call), or single pages when no such run is
        // free. (No vector but for the last: even an empty KVec calls the allocator when
        // dropped, `krealloc(NULL, 0)`.)
        let backing = if !self.is_private() {
            Backing::None
        } else if order == 0 {
            Backing::One(SysPage::alloc_backing()?)
        } else if let Ok(run) = SysRun::alloc_backing() {
            Backing::Run(run)
        } else {
            let mut pages = KVec::with_capacity(n, GFP_KERNEL)?;
            for _ in 0..n {
                pages.push(SysPage::alloc_backing()?, GFP_KERNEL)?;
            }
            Backing::Pages(pages)
        };
        let mut chunks = self.chunks.lock();
        let mut tok = self.free.lock().pop(large);
        if tok.is_none() {
            self.add_chunk(&mut chunks, large)?;
            tok = self.free.lock().pop(large);
        }
        let tok = tok.ok_or(ENOMEM)?;
        let pfn = tok.pfn();
        let chunk = chunks.iter().find(|c| c.contains(pfn)).ok_or(EINVAL)?;
        let page = chunk.alloc_folio(tok, order)?;
        let idx = pfn - chunk.first_pfn();
        let data = chunk.data();
        if let Some(store) = &data.backing {
            match backing {
                Backing::None => {}
                Backing::One(p) => store.install(idx, p),
                // Allocated for a PMD-sized folio only (`order == PMD_ORDER`).
                Backing::Run(run) => store.install_run(idx, run),
                Backing::Pages(pages) => {
                    for (i, p) in pages.into_iter().enumerate() {
                        store.install(idx + i, p);
                    }
                }
            }
        }
        for i in 0..n {
            data.owners[idx + i].store(token, Ordering::Relaxed);
        }
        data.in_use.fetch_add(n, Ordering::AcqRel);
        self.calloc.fetch_add(n, Ordering::Relaxed);
        Ok(DevPage { page, order })
    }

    /// The chunk a page of this device belongs to.
    pub(crate) fn chunk_of<'a>(&self, page: &PageRef<'a>) -> Option<&'a Chunk> {
        Chunk::of_page(page, self.owner())
    }

    /// [`Self::chunk_of`], trying `last` first (and updating it): the pages of one migration
    /// mostly come from one chunk, and a pfn in that chunk's range is a page of it (checked
    /// by arithmetic, where `chunk_of` reads the page's pagemap through two calls).
    pub(crate) fn chunk_of_cached<'a>(
        &self,
        page: &PageRef<'a>,
        last: &mut Option<&'a Chunk>,
    ) -> Option<&'a Chunk> {
        match *last {
            Some(c) if c.contains(page.pfn()) => Some(c),
            _ => {
                let c = self.chunk_of(page)?;
                *last = Some(c);
                Some(c)
            }
        }
    }

    /// Migrates every page of every chunk back to system memory (C: the loop of
    /// `dmirror_fops_release` over `dmirror_device_evict_chunk`).
    ///
    /// The chunk list lock is held only to take references: eviction allocates memory and
    /// locks device folios, while a MIGRATE_TO_DEV holding folio locks of its own (from
    /// `migrate_vma_setup()`) may be waiting for that lock in [`Self::alloc_page`]. Evicting
    /// under it deadlocked close and RELEASE under load (hmm-robust stress).
    pub(crate) fn evict_all(&self) {
        for c in self.chunk_refs() {
            evict_chunk(&c);
        }
    }

    /// References to the current chunks, taken under the chunk list lock.
    fn chunk_refs(&self) -> KVec<Arc<Chunk>> {
        let chunks = self.chunks.lock();
        let mut refs = KVec::new();
        if refs.reserve(chunks.len(), GFP_KERNEL).is_ok() {
            for c in chunks.iter() {
                let _ = refs.push_within_capacity(c.clone());
            }
        }
        refs
    }

    /// Evicts and unmaps all chunks (C: `dmirror_device_remove_chunks`): RELEASE, and
    /// module unload.
    ///
    /// The chunks leave the list (and their pages the free lists) under the locks; eviction
    /// and unmapping happen after, without them (see [`Self::evict_all`]). A request that
    /// allocated from a chunk before it left may still map its page afterwards, so the
    /// chunk is evicted until none of its pages is in use (bounded), and the unmap then
    /// waits only for pages that are still mapped somewhere.
    pub(crate) fn remove_chunks(&self) {
        let detached = {
            let mut chunks = self.chunks.lock();
            let mut free = self.free.lock();
            for c in chunks.iter() {
                c.data().remove.store(true, Ordering::Release);
            }
            free.clear();
            core::mem::take(&mut *chunks)
        };
        for c in detached {
            for _ in 0..EVICT_ROUNDS {
                evict_chunk(&c);
                if c.data().pages_in_use() == 0 {
                    break;
                }
                kernel::time::delay::fsleep(kernel::time::Delta::from_millis(10));
            }
            // Dropping the last reference unmaps the chunk (waiting for its last pages to
            // be freed) and releases its physical range.
            drop(c);
        }
    }
}

/// How many times [`DeviceMem::remove_chunks`] evicts a chunk whose pages are still in use.
const EVICT_ROUNDS: usize = 50;

/// Copies every device page of `chunk` that is in use back to system memory and remaps it
/// there (C: `dmirror_device_evict_chunk`).
fn evict_chunk(chunk: &Chunk) {
    let Ok(mut m) = DeviceMigration::range(chunk, chunk.first_pfn(), chunk.npages()) else {
        pr_err!("cannot evict a chunk: out of memory\n");
        return;
    };
    let (src, mut dst) = m.split();
    for i in 0..src.len() {
        let e = src.get(i);
        if !e.migrate() {
            continue;
        }
        let Some(spage) = src.page(i) else {
            continue;
        };
        let order = if e.compound() { spage.folio_order() } else { 0 };
        let Ok(new) = NewPage::alloc_system(order, None) else {
            pr_warn!("cannot evict pfn {:#x}: out of memory\n", spage.pfn());
            continue;
        };
        let dpage = new.page();
        let nr = 1usize << order;
        for (sp, dp) in spage.folio_pages(nr).zip(dpage.folio_pages(nr)) {
            if let Some(from) = backing_page(chunk, &sp) {
                dp.copy_from(&from);
            }
        }
        // A mismatch (not expected: the order is the source's) releases the page.
        let _ = dst.set(i, new, e.write());
    }
    drop(m.pages());
}
