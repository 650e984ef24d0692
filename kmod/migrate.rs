// SPDX-License-Identifier: GPL-2.0

//! The device's side of migrations, shared by the requests and the CPU fault path:
//! allocating and filling destination pages and mapping the result in the device page
//! table (C: `dmirror_migrate_alloc_and_copy`, `dmirror_migrate_finalize_and_map`,
//! `dmirror_devmem_fault_alloc_and_copy`).

use crate::devmem::{backing_page, DeviceMem};
use crate::dmirror::Dmirror;
use crate::hmm::interval_notifier::{ReadSeq, Validated};
use crate::hmm::migrate_vma::{MigrateArrays, MigrateVma, MigratedVma, NewPage, Select};
use crate::hmm::mmap::MmapRead;
use crate::hmm::page::{PageKind, PageRef, PAGE_SHIFT, PAGE_SIZE};
use crate::hmm::range_fault::{range_fault, Locking, Request, MAX_PAGES};
use crate::pt::{DevicePageTable, TAG_READ, TAG_WRITE};
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
/// folio; if that allocation fails (or FAIL_ALLOC asked it to), each of its pages gets a
/// single device page, all of them or none ([`DstView::set_split`]: a hole collected as one
/// compound entry is inserted whole by `migrate_vma_pages()`); a group without
/// destinations stays in system memory.
pub(crate) fn alloc_and_copy_to_dev(d: &Dmirror, m: &mut MigrateVma<'_>) {
    let dev = &d.dev;
    let (src, mut dst) = m.split();
    let n = src.len();
    let mut i = 0;
    while i < n {
        let e = src.get(i);
        // The entries of the source group `i` heads (0: a malformed group, skipped alone).
        let nr = dst.group_len(i).max(1);
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
            // Neither system memory nor the zero page (which is not a ZONE_DEVICE page).
            if sp.is_zone_device() {
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
            if large {
                // Split: one device page per source page, all or none.
                let mut from_pages = spage.as_ref().map(|sp| sp.folio_pages(nr));
                let split = dst.set_split(i, write, |_| {
                    let small = dev.alloc_page(d.token(), false)?;
                    let from = from_pages.as_mut().and_then(|f| f.next());
                    fill(dev, &small.page.page(), from)?;
                    Ok(small.page)
                });
                if split.is_err() {
                    pr_debug!("no device memory for a {}-page group: left in place\n", nr);
                }
            }
            i += nr;
            continue;
        };

        // Fill every page of the device folio; `set` checks that it covers the group.
        let pages = 1usize << dp.order;
        let head = dp.page.page();
        let mut from_pages = spage.as_ref().map(|sp| sp.folio_pages(pages));
        let filled = head.folio_pages(pages).all(|dk| {
            let from = from_pages.as_mut().and_then(|f| f.next());
            fill(dev, &dk, from).is_ok()
        });
        if filled {
            // On a mismatch the page is released and the group stays in system memory.
            let _ = dst.set(i, dp.page, write);
        }
        i += nr;
    }
}

/// Maps the device pages that `m` migrated into the device page table
/// (C: `dmirror_migrate_finalize_and_map`); call after `pages()`, before finalize, with
/// the sequence taken before `m` was set up.
///
/// Stores only if no invalidation ran since `seq` (checked under the mirror mutex): a
/// `MADV_DONTNEED` from another thread during the copy, say, zapped migration entries, so
/// some new pages lose their only mapping at finalize and are freed. Then, or when a store
/// fails, the whole window is erased (its old entries name the source pages, which finalize
/// frees) and the error returned: `EAGAIN` for the sequence.
pub(crate) fn finalize_and_map(d: &Dmirror, seq: ReadSeq, m: &MigratedVma<'_>) -> Result {
    let mut pt = match d.notifier.lock_checked(seq) {
        Ok(pt) => pt,
        Err(mut pt) => {
            pt.invalidate(m.start(), m.end());
            return Err(EAGAIN);
        }
    };
    let ret = map_migrated(d, &mut pt, m);
    if ret.is_err() {
        pt.invalidate(m.start(), m.end());
    }
    ret
}

/// The stores of [`finalize_and_map`].
fn map_migrated(
    d: &Dmirror,
    pt: &mut Validated<'_, DevicePageTable>,
    m: &MigratedVma<'_>,
) -> Result {
    let first = m.start() >> PAGE_SHIFT;
    let n = m.npages();
    let mut chunk = None;
    for (i, _, dst, dpage) in m.migrated_entries() {
        let nr = if dst.compound() {
            1usize << dpage.folio_order()
        } else {
            1
        };
        if i + nr > n {
            pr_warn!("device folio beyond the migrated range\n");
            return Err(EINVAL);
        }
        let chunk = d.dev.chunk_of_cached(&dpage, &mut chunk).ok_or(EINVAL)?;
        let tag = if dst.write() { TAG_WRITE } else { TAG_READ };
        for (k, dk) in dpage.folio_pages(nr).enumerate() {
            let back = backing_page(chunk, &dk).ok_or(EINVAL)?;
            pt.map(first + i + k, back, tag)?;
        }
    }
    Ok(())
}

/// Faults `[start, end)` in for the device (read access), as READ does: the retry of a
/// migration window whose new entries could not be stored. Stops at the first error, which
/// leaves the rest of the window unmapped (a read-back then reports `ENOENT`).
fn fault_in_window(d: &Dmirror, lock: &MmapRead<'_>, start: usize, end: usize) {
    let step = MAX_PAGES << PAGE_SHIFT;
    let mut addr = start;
    while addr < end {
        let next = end.min(addr.saturating_add(step));
        let ret = range_fault(
            &d.notifier,
            Locking::Held(lock),
            d.pt(),
            addr,
            next,
            Request::Fault { write: false },
            d.owner(),
            |pt, f| d.store_faulted(pt, f, false),
        );
        if ret.is_err() {
            return;
        }
        addr = next;
    }
}

/// Migrates `[start, end)` of `vma` from system to device memory and maps it in the
/// device page table: one iteration of C's `dmirror_migrate_to_device` loop. `room` holds
/// the migration's arrays (reused from window to window).
pub(crate) fn migrate_window_to_dev(
    d: &Dmirror,
    room: &mut MigrateArrays,
    lock: &MmapRead<'_>,
    vma: &VmaRef,
    start: usize,
    end: usize,
) -> Result {
    // Before setup: the stores below are valid only if no invalidation runs from here on.
    let seq = d.notifier.read_begin();
    // The file's own cookie as `pgmap_owner`: its mirror skips this migration's
    // invalidations, every other mirror erases (see `Mirror::file_owner`).
    let mut m = MigrateVma::setup(
        room,
        lock,
        vma,
        start,
        end,
        d.file_owner(),
        Select::SYSTEM.with(Select::COMPOUND),
    )?;
    alloc_and_copy_to_dev(d, &mut m);
    let m = m.pages();
    let mapped = finalize_and_map(d, seq, &m);
    m.finalize();
    if let Err(e) = mapped {
        // The window's entries were erased: map what it holds now through the device's
        // fault path (C ignores a failed store, and has no sequence check).
        pr_debug!("migration window {:#x}: {:?}, faulting it in\n", start, e);
        fault_in_window(d, lock, start, end);
    }
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
/// makes sure the device page table of `d` (the requester, or the file that owns the pages
/// for a CPU fault) has no entry left for them (C: `dmirror_devmem_fault_alloc_and_copy`).
/// `ENOMEM` means `VM_FAULT_OOM`; the caller then finalizes without migrating (dropping `m`,
/// which releases the destinations given so far).
pub(crate) fn alloc_and_copy_to_sys(
    dev: &DeviceMem,
    d: Option<&Dmirror>,
    m: &mut MigrateVma<'_>,
    vma: &VmaRef,
) -> Result {
    // The entries are erased here only where the interval notifier of `d` did not erase
    // them already: it did, under the mirror mutex, when `migrate_vma_setup()` invalidated
    // the window (a migration back to system memory is never skipped, see `Mirror::skip`),
    // unless the window is not in `d`'s mm (a forked child's fault on a page it shares with
    // `d`'s process) or the notifier skipped it as the page `d`'s EXCLUSIVE is making
    // device-exclusive. C skips all of the device's migrations in its notifier and erases
    // every page here, each under the xarray lock; erasing twice cost a mutex round trip
    // and a tree walk per folio (`lab bench --icount`, MIGRATE_TO_SYS and FAULT_BACK).
    let d_erase = d.filter(|d| !d.notifier_erased(vma));
    let start = m.start();
    let (src, mut dst) = m.split();
    let n = src.len();
    let mut last_chunk = None;
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
        let Some(chunk) = dev.chunk_of_cached(&spage, &mut last_chunk) else {
            // A system page (collected by `select_to_sys()`'s SYSTEM bit) is not ours to
            // migrate; nor is another device's page (a trans-huge PMD is collected without an
            // owner check).
            if !matches!(spage.kind(), PageKind::System | PageKind::Zero) {
                pr_debug!("not a page of this device: pfn {:#x}\n", spage.pfn());
            }
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
        // A page of one of this device's chunks: coherent memory if the device's is.
        let coherent = !dev.is_private();
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
            if let Some(d) = d_erase {
                d.pt().lock().unmap((addr >> PAGE_SHIFT) + k);
            }
        };
        // On an error below the caller drops `m` without `pages()`, which releases every
        // destination given so far and restores the sources (see `MigrateVma`).
        match new {
            Some(dp) => {
                // The device page table entries of the whole folio in one go (C erases
                // them page by page, each under the xarray lock).
                if let Some(d) = d_erase {
                    d.pt().lock().invalidate(addr, addr + (nr << PAGE_SHIFT));
                }
                let head = dp.page();
                for (sk, dk) in spage.folio_pages(nr).zip(head.folio_pages(nr)) {
                    let from = backing_page(chunk, &sk).ok_or(EINVAL)?;
                    dk.copy_from(&from);
                }
                dst.set(i, dp, write)?;
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
                // Try with smaller pages if the large allocation fails: all of the folio's
                // pages or none (C frees those it got and returns VM_FAULT_OOM).
                let mut from_pages = spage.folio_pages(nr);
                dst.set_split(i, write, |k| {
                    let sk = from_pages.next().ok_or(EINVAL)?;
                    let from = backing_page(chunk, &sk).ok_or(EINVAL)?;
                    let small = NewPage::alloc_system(0, Some((vma, addr + k * PAGE_SIZE)))?;
                    erase(k);
                    small.page().copy_from(&from);
                    Ok(small)
                })?;
            }
        }
        i += nr;
    }
    Ok(())
}
