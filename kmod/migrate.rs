// SPDX-License-Identifier: GPL-2.0

//! The device's side of migrations, shared by the requests and the CPU fault path:
//! allocating and filling destination pages and mapping the result in the device page
//! table (C: `dmirror_migrate_alloc_and_copy`, `dmirror_migrate_finalize_and_map`,
//! `dmirror_devmem_fault_alloc_and_copy`).

use crate::devmem::{backing_page, DeviceMem};
use crate::dmirror::Dmirror;
use crate::hmm::migrate_vma::{MigrateVma, NewPage, Select};
use crate::hmm::mmap::MmapRead;
use crate::hmm::page::{PageKind, PageRef, PAGE_SHIFT, PAGE_SIZE, PMD_NR};
use crate::pt::{TAG_READ, TAG_WRITE};
use crate::range::window_end;
use kernel::{mm::virt::VmaRef, prelude::*};

/// The `MIGRATE_VMA_SELECT_*` flag for a device's memory (C: `dmirror_select_device`).
pub(crate) fn select_device(dev: &DeviceMem) -> Select {
    if dev.is_private() {
        Select::DEVICE_PRIVATE
    } else {
        Select::DEVICE_COHERENT
    }
}

/// The `MIGRATE_VMA_SELECT_*` flags for MIGRATE_TO_SYS from `dev`.
///
/// 7.3's `migrate_vma_collect_huge_pmd()` collects a present (trans-huge) PMD only under
/// `MIGRATE_VMA_SELECT_SYSTEM`, even when it maps a device-coherent THP: with
/// `DEVICE_COHERENT` alone such a folio is skipped and stays in device memory (coherent
/// `migrate_multiple` with THP `always`: cpages 0; the coherent benchmark's 256 MiB step
/// finding the device still full). So a coherent device selects system pages too;
/// [`alloc_and_copy_to_sys`] gives them no destination, so `migrate_vma_pages()` leaves them
/// where they are.
pub(crate) fn select_to_sys(dev: &DeviceMem) -> Select {
    let sel = select_device(dev).with(Select::COMPOUND);
    if dev.is_private() {
        sel
    } else {
        sel.with(Select::SYSTEM)
    }
}

/// Fills device page `dst` (its backing memory) from `src`, or zeroes it.
fn fill(dev: &DeviceMem, dst: &PageRef<'_>, src: Option<PageRef<'_>>) -> Result {
    let chunk = dev.chunk_of(dst).ok_or(EINVAL)?;
    let back = backing_page(chunk, dst).ok_or(EINVAL)?;
    match src {
        Some(s) => back.copy_from(&s),
        None => back.clear(),
    }
    Ok(())
}

/// Allocates device pages for the collected system pages of `m` and copies them
/// (C: `dmirror_migrate_alloc_and_copy`). A PMD-sized source gets a PMD-sized device
/// folio; if that allocation fails (or FAIL_ALLOC asked it to), the range is split into
/// single device pages.
pub(crate) fn alloc_and_copy_to_dev(d: &Dmirror, m: &mut MigrateVma<'_>) {
    let dev = &d.dev;
    let (src, mut dst) = m.split();
    let n = src.len();
    let mut i = 0;
    while i < n {
        let e = src.get(i);
        if !e.migrate() {
            i += 1;
            continue;
        }
        let large = e.compound();
        let write = e.write();
        // `spage` is None for an unpopulated pte (or the zero page): the device page is
        // zeroed.
        let spage = src.page(i);
        if let Some(sp) = &spage {
            if !matches!(sp.kind(), PageKind::System | PageKind::Zero) {
                pr_debug!("page already in device, spage pfn: {:#x}\n", sp.pfn());
                i += 1;
                continue;
            }
        }
        let dpage = if d.take_fail_alloc() {
            None
        } else {
            dev.alloc_page(d.token(), large).ok()
        };

        let Some(dp) = dpage else {
            if !large {
                i += 1;
                continue;
            }
            // Split: one device page per source page.
            let nr = match &spage {
                Some(sp) => 1usize << sp.folio_order(),
                None => PMD_NR,
            };
            let mut from_pages = spage.as_ref().map(|sp| sp.folio_pages(nr));
            for k in 0..nr {
                if i + k >= n {
                    break;
                }
                let Ok(small) = dev.alloc_page(d.token(), false) else {
                    // Out of device memory: the rest of the folio stays in system memory.
                    break;
                };
                let from = from_pages.as_mut().and_then(|f| f.next());
                if fill(dev, &small.page.page(), from).is_err() {
                    break;
                }
                dst.set(i + k, small.page, write, false);
            }
            i += nr;
            continue;
        };

        if large && dp.order > 0 {
            let nr = 1usize << dp.order;
            let head = dp.page.page();
            let mut from_pages = spage.as_ref().map(|sp| sp.folio_pages(nr));
            let mut filled = 0;
            for dk in head.folio_pages(nr) {
                let from = from_pages.as_mut().and_then(|f| f.next());
                if fill(dev, &dk, from).is_err() {
                    break;
                }
                filled += 1;
            }
            if filled == nr {
                dst.set(i, dp.page, write, true);
            }
            i += nr;
            continue;
        }

        if fill(dev, &dp.page.page(), spage).is_ok() {
            dst.set(i, dp.page, write, false);
        }
        i += 1;
    }
}

/// Maps the device pages that `m` migrated into the device page table
/// (C: `dmirror_migrate_finalize_and_map`); call after `pages()`, before finalize.
pub(crate) fn finalize_and_map(d: &Dmirror, m: &MigrateVma<'_>) -> Result {
    let first = m.start() >> PAGE_SHIFT;
    let mut pt = d.pt().lock();
    for i in 0..m.npages() {
        if !m.src(i).migrate() {
            continue;
        }
        let Some(dpage) = m.dst_page(i) else {
            continue;
        };
        let dst = m.dst(i);
        let nr = if dst.compound() {
            1usize << dpage.folio_order()
        } else {
            1
        };
        if first + i + nr > first + m.npages() {
            pr_warn!("device folio beyond the migrated range\n");
        }
        let chunk = d.dev.chunk_of(&dpage).ok_or(EINVAL)?;
        for (k, dk) in dpage.folio_pages(nr).enumerate() {
            let back = backing_page(chunk, &dk).ok_or(EINVAL)?;
            let tag = if dst.write() { TAG_WRITE } else { TAG_READ };
            pt.map(first + i + k, back, tag)?;
        }
    }
    Ok(())
}

/// Migrates `[start, end)` of `vma` from system to device memory and maps it in the
/// device page table: one iteration of C's `dmirror_migrate_to_device` loop.
pub(crate) fn migrate_window_to_dev(
    d: &Dmirror,
    lock: &MmapRead<'_>,
    vma: &VmaRef,
    start: usize,
    end: usize,
) -> Result {
    // The file's own cookie as `pgmap_owner`: its mirror skips this migration's
    // invalidations, every other mirror erases (see `Mirror::file_owner`).
    let mut m = MigrateVma::setup(
        lock,
        vma,
        start,
        end,
        d.file_owner(),
        Select::SYSTEM.with(Select::COMPOUND),
    )?;
    alloc_and_copy_to_dev(d, &mut m);
    m.pages();
    // As in C, a failure to map some pages in the device page table is not fatal: the
    // read-back faults them in.
    let _ = finalize_and_map(d, &m);
    m.finalize();
    Ok(())
}

/// Walks `[start, end)` vma by vma, in windows of at most `PTRS_PER_PTE` pages, under the
/// mmap read lock `lock`; `EINVAL` at an address without a readable vma (C: the loops of
/// `dmirror_migrate_to_device` and `dmirror_migrate_to_system`).
pub(crate) fn for_each_vma_window(
    lock: &MmapRead<'_>,
    start: usize,
    end: usize,
    mut f: impl FnMut(&VmaRef, usize, usize) -> Result,
) -> Result {
    let window = (kernel::bindings::PTRS_PER_PTE as usize) << PAGE_SHIFT;
    let mut addr = start;
    while addr < end {
        let vma = lock.vma_lookup(addr).ok_or(EINVAL)?;
        if vma.flags() & kernel::bindings::VM_READ == 0 {
            return Err(EINVAL);
        }
        let next = window_end(addr, window, core::cmp::min(end, vma.end()));
        f(vma, addr, next)?;
        addr = next;
    }
    Ok(())
}

/// Allocates system pages for the collected device pages of `m` and copies them back;
/// erases the device page table entries of `d` (the requester, or the file that owns the
/// pages for a CPU fault) (C: `dmirror_devmem_fault_alloc_and_copy`). `ENOMEM` means
/// `VM_FAULT_OOM`; the caller then finalizes without migrating.
pub(crate) fn alloc_and_copy_to_sys(
    dev: &DeviceMem,
    d: Option<&Dmirror>,
    m: &mut MigrateVma<'_>,
    vma: &VmaRef,
) -> Result {
    let start = m.start();
    let (src, mut dst) = m.split();
    let n = src.len();
    let mut i = 0;
    while i < n {
        let e = src.get(i);
        let Some(spage) = src.page(i) else {
            i += 1;
            continue;
        };
        if !e.migrate() {
            i += 1;
            continue;
        }
        let chunk = match spage.kind() {
            PageKind::DevicePrivate(_) | PageKind::DeviceCoherent(_) => dev.chunk_of(&spage),
            // Collected by `select_to_sys()`'s SYSTEM bit: not ours to migrate.
            _ => {
                i += 1;
                continue;
            }
        };
        let Some(chunk) = chunk else {
            // Another device's page: a trans-huge PMD is collected without an owner check.
            pr_debug!("not a page of this device: pfn {:#x}\n", spage.pfn());
            i += 1;
            continue;
        };
        // Only a compound entry migrates the whole folio; a PTE-mapped page of a large
        // device folio (not split yet) migrates alone.
        let order = if e.compound() { spage.folio_order() } else { 0 };
        let nr = 1usize << order;
        let write = e.write();
        let addr = start + (i << PAGE_SHIFT);
        let fail = d.is_some_and(|d| d.take_fail_alloc());
        let new = if fail {
            None
        } else {
            NewPage::alloc_system(order, Some((vma, addr))).ok()
        };
        let coherent = matches!(spage.kind(), PageKind::DeviceCoherent(_));
        if new.is_none() && order == 0 {
            if coherent {
                // No system page for it (or FAIL_ALLOC): coherent memory is CPU-addressable,
                // so the page stays where it is and stays mirrored, as a coherent THP does
                // below. (C fails the request with ENOMEM: with coherent THPs off, as in C,
                // that made coherent migrate_anon_huge_err fail, whose FAIL_ALLOC then meets
                // a single page where it expects a THP.)
                pr_debug!(
                    "coherent page pfn {:#x} left in device memory\n",
                    spage.pfn()
                );
                i += 1;
                continue;
            }
            return Err(ENOMEM);
        }
        let erase = |k: usize| {
            if let Some(d) = d {
                d.pt().lock().unmap((addr >> PAGE_SHIFT) + k);
            }
        };
        match new {
            Some(dp) => {
                // The device page table entries of the whole folio in one go (C erases
                // them page by page, each under the xarray lock).
                if let Some(d) = d {
                    d.pt().lock().invalidate(addr, addr + (nr << PAGE_SHIFT));
                }
                let head = dp.page();
                for (sk, dk) in spage.folio_pages(nr).zip(head.folio_pages(nr)) {
                    let from = backing_page(chunk, &sk).ok_or(EINVAL)?;
                    dk.copy_from(&from);
                }
                dst.set(i, dp, write, order > 0);
            }
            None if order > 0 && coherent => {
                // No system THP (or FAIL_ALLOC): C gives each page its own system page,
                // and migrate_vma_pages() splits the device folio. For a device-coherent
                // THP, 7.3.4 then never frees the 511 tail pages (measured here: the
                // device's allocated-minus-freed count stays at 511 after coherent
                // migrate_anon_huge_err, and memunmap_pages() waits for them forever at
                // RELEASE or unload); a device-private THP takes the same path without
                // a leak. Coherent memory is CPU-addressable, so the folio stays where
                // it is and its pages stay mirrored.
                pr_debug!("coherent THP pfn {:#x} left in device memory\n", spage.pfn());
            }
            None => {
                // Try with smaller pages if the large allocation fails.
                for (k, sk) in spage.folio_pages(nr).enumerate() {
                    let small = NewPage::alloc_system(0, Some((vma, addr + k * PAGE_SIZE)))?;
                    let from = backing_page(chunk, &sk).ok_or(EINVAL)?;
                    erase(k);
                    small.page().copy_from(&from);
                    dst.set(i + k, small, write, false);
                }
            }
        }
        i += nr;
    }
    Ok(())
}
