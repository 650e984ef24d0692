// SPDX-License-Identifier: GPL-2.0

//! Per-open state (C: `struct dmirror`): the mirror of the opener's address space, i.e.
//! an mmu interval notifier over the whole mm and the device page table it keeps
//! coherent; plus the device-side fault path used by READ/WRITE (C: `dmirror_fault`,
//! `dmirror_do_fault`, `dmirror_do_read`, `dmirror_do_write`).
//!
//! Lock order: the one table in `hmm/mod.rs`.

use crate::devmem::{backing_page, DeviceMem};
use crate::hmm::interval_notifier::{IntervalNotifier, Invalidate, NotifierRange, Validated};
use crate::hmm::page::{PageRef, PAGE_SHIFT, PAGE_SIZE};
use crate::hmm::range_fault::{range_fault, Faulted, Locking, Request};
use crate::hmm::Owner;
use crate::pt::{DevicePageTable, TAG_READ, TAG_WRITE};
use crate::range::windows;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use kernel::{
    alloc::flags::__GFP_NOWARN,
    mm::MmWithUser,
    new_mutex,
    prelude::*,
    sync::{aref::ARef, Arc, Mutex},
    uaccess::UserSlice,
};

/// The pages one `hmm_range_fault()` call covers in READ/WRITE/SNAPSHOT (C: `pfns[32]`).
pub(crate) const FAULT_WINDOW: usize = 32;

/// The state the interval notifier callback works on.
#[pin_data]
pub(crate) struct Mirror {
    /// The device page table under the mirror mutex (C: `dmirror->mutex`).
    #[pin]
    pub(crate) pt: Mutex<DevicePageTable>,
    /// The task running this file's `make_device_exclusive()` and the page it makes
    /// exclusive (0, 0 when none): see [`Mirror::making_exclusive`].
    making_task: AtomicUsize,
    making_addr: AtomicUsize,
}

impl Mirror {
    /// The cookie of this open file: the `pgmap_owner` of the migrations it runs to device
    /// memory and the `owner` of its `make_device_exclusive()` calls, hence the `owner` of
    /// their invalidations. (Those migrations select system pages only, for which
    /// `pgmap_owner` names nobody: it only tags the notifier events.)
    /// The mirror is pinned inside the file's notifier, so its address is stable and
    /// unique while the file is open; such an invalidation only happens inside a request
    /// of the file, which keeps it open. (Device pages name their file by
    /// [`Dmirror::token`] instead, which is never reused.)
    fn file_owner(&self) -> Owner {
        Owner::of(self)
    }

    /// Whether `range` is the page that this file's EXCLUSIVE is making device-exclusive,
    /// invalidated by the very task doing it (inside `make_device_exclusive()`: its fault
    /// turning the page's earlier device-exclusive entry back into a normal one, a COW
    /// break, a migration back from device memory). Such an invalidation is skipped like
    /// the request's own `MMU_NOTIFY_EXCLUSIVE`: the request overwrites or erases the
    /// page's entry right after, and holds the file's request lock meanwhile, so nothing
    /// reads the entry in between. Counting it would make every retry of a page fail: a
    /// retry first undoes the device-exclusive entry of the failed attempt.
    fn making_exclusive(&self, range: &NotifierRange<'_>) -> bool {
        let task = kernel::task::Task::current_raw() as usize;
        task != 0
            && self.making_task.load(Ordering::Relaxed) == task
            && range.start() == self.making_addr.load(Ordering::Relaxed)
            && range.end().checked_sub(range.start()) == Some(PAGE_SIZE)
    }

    /// Whether the current task is making a page of this file device-exclusive (inside
    /// `make_device_exclusive()`): then this mirror's notifier skips that page's
    /// invalidations (see [`Mirror::making_exclusive`]).
    fn current_making_exclusive(&self) -> bool {
        let task = kernel::task::Task::current_raw() as usize;
        task != 0 && self.making_task.load(Ordering::Relaxed) == task
    }

    /// Marks `addr` as the page the current task makes device-exclusive (`Some`), or none.
    pub(crate) fn set_making_exclusive(&self, addr: Option<usize>) {
        let task = kernel::task::Task::current_raw() as usize;
        match addr {
            Some(a) => {
                self.making_addr.store(a, Ordering::Relaxed);
                self.making_task.store(task, Ordering::Relaxed);
            }
            None => {
                self.making_task.store(0, Ordering::Relaxed);
                self.making_addr.store(0, Ordering::Relaxed);
            }
        }
    }
}

impl Invalidate for Mirror {
    type Table = DevicePageTable;

    fn table(&self) -> &Mutex<DevicePageTable> {
        &self.pt
    }

    /// C: the early return of `dmirror_interval_invalidate`.
    fn skip(&self, range: &NotifierRange<'_>) -> bool {
        // C returns early for every MMU_NOTIFY_MIGRATE event whose owner is this device:
        // the migration updates the table itself. But that cookie names the device, not
        // the file, so another open file of the same device, and the CPU fault path (which
        // migrates for whichever file owns the page), left entries on pages the migration
        // then freed; READ/WRITE went through them (hmm-robust: wrong data, writes into
        // freed pages; regression case migrate_second_file_read). Telling a file's own
        // migration by its range was not enough either: a CPU fault migrating a page back
        // to RAM inside a window that this file was migrating to the device was skipped
        // too (KASAN use-after-free in do_read, debug profile, hmm-robust stress). So a
        // file's migrations to device memory carry the file's own cookie
        // (`Mirror::file_owner`): only they are skipped (their pages that stay put keep
        // their entries, the migrated ones are mapped again after `migrate_vma_pages()`);
        // every other migration, including MIGRATE_TO_SYS, erases.
        // EXCLUSIVE passes the same cookie to `make_device_exclusive()`, whose own
        // MMU_NOTIFY_EXCLUSIVE event it must filter out (or its sequence check would never
        // succeed): the request stores the page's atomic entry itself.
        range.is_migration_by(self.file_owner())
            || range.is_exclusive_by(self.file_owner())
            || self.making_exclusive(range)
    }

    /// C: `dmirror_do_update`.
    fn invalidate(pt: &mut DevicePageTable, range: &NotifierRange<'_>) {
        pt.invalidate(range.start(), range.end());
    }
}

/// The next [`Dmirror::token`] (0 is "no file").
static NEXT_TOKEN: AtomicUsize = AtomicUsize::new(1);

/// One open file of `/dev/hmm_dmirrorN`.
#[pin_data]
pub(crate) struct Dmirror {
    /// The device.
    pub(crate) dev: Arc<DeviceMem>,
    /// `HMM_DMIRROR_FLAG_*` (C: `dmirror->flags`).
    pub(crate) flags: AtomicU64,
    /// This file's number among all files ever opened: see [`Dmirror::token`].
    token: usize,
    /// The mirror of the opener's mm.
    #[pin]
    pub(crate) notifier: IntervalNotifier<Mirror>,
    /// Held by every request on this file for its whole duration: a migration to device
    /// memory skips its own invalidations (see `Mirror::file_owner`), so between its copy
    /// and its new mapping the file's entries still point at the source pages; another
    /// thread's WRITE on the same file went through them and was lost (debug hmm-robust
    /// stress: a successful WRITE whose pages then held the old contents). C has the
    /// same window and no such lock.
    #[pin]
    pub(crate) requests: Mutex<()>,
}

/// The range the mirror covers: the whole address space (C: `0, ULONG_MAX & PAGE_MASK`).
const MIRROR_LEN: usize = usize::MAX & !(PAGE_SIZE - 1);

impl Dmirror {
    /// Mirrors `mm` for device `dev` (C: `dmirror_fops_open`).
    pub(crate) fn new(dev: Arc<DeviceMem>, mm: &kernel::mm::Mm) -> Result<Arc<Self>> {
        let pt = DevicePageTable::new()?;
        Arc::pin_init(
            try_pin_init!(Dmirror {
                dev,
                flags: AtomicU64::new(0),
                token: NEXT_TOKEN.fetch_add(1, Ordering::Relaxed),
                requests <- new_mutex!(()),
                notifier <- IntervalNotifier::new(
                    try_pin_init!(Mirror {
                        pt <- new_mutex!(pt),
                        making_task: AtomicUsize::new(0),
                        making_addr: AtomicUsize::new(0),
                    }),
                    mm,
                    0,
                    MIRROR_LEN,
                ),
            }),
            GFP_KERNEL,
        )
    }

    /// A number naming this open file, stored with the device pages it allocates and
    /// looked up in the device's registry of open files. Never reused (a 64-bit counter):
    /// a file's address is, so a page that outlived its file (its eviction failed, or it was
    /// allocated while the file was closing) named a later file opened at the same address,
    /// which then had its entries erased and its FAIL_ALLOC taken by faults on pages it
    /// never allocated.
    pub(crate) fn token(&self) -> usize {
        self.token
    }

    /// The mirror mutex and page table.
    pub(crate) fn pt(&self) -> &Mutex<DevicePageTable> {
        &self.notifier.data().pt
    }

    /// The owner cookie of the device.
    pub(crate) fn owner(&self) -> Owner {
        self.dev.owner()
    }

    /// The mirror's state the notifier callback works on.
    pub(crate) fn mirror(&self) -> &Mirror {
        self.notifier.data()
    }

    /// Whether this file's interval notifier has erased its entries of a window of `vma`
    /// that a migration back to system memory just collected (`migrate_vma_setup()`
    /// invalidates the window under the mirror mutex before it collects a page): `vma` is in
    /// the mirrored mm and the notifier did not skip the invalidation, which it does for
    /// such a migration only while the current task is making one of this file's pages
    /// device-exclusive (see [`Mirror::skip`]).
    pub(crate) fn notifier_erased(&self, vma: &kernel::mm::virt::VmaRef) -> bool {
        vma.mm().as_raw() == self.notifier.mm().as_raw()
            && !self.mirror().current_making_exclusive()
    }

    /// This file's cookie, the `pgmap_owner` of its migrations to device memory (see
    /// [`Mirror::file_owner`]).
    pub(crate) fn file_owner(&self) -> Owner {
        self.notifier.data().file_owner()
    }

    /// The end of the mirrored process's user address space (`mm->task_size`): no request's
    /// range may go past it.
    pub(crate) fn task_size(&self) -> usize {
        crate::hmm::user_space::task_size(self.notifier.mm())
    }

    /// `mmget_not_zero(dmirror->notifier.mm)`: the mirrored mm, if it still has users.
    pub(crate) fn mmget(&self) -> Option<ARef<MmWithUser>> {
        self.notifier.mm().mmget_not_zero()
    }

    /// Tests and clears `HMM_DMIRROR_FLAG_FAIL_ALLOC` (C: the check in the allocation
    /// loops).
    pub(crate) fn take_fail_alloc(&self) -> bool {
        let bit = crate::uapi::HMM_DMIRROR_FLAG_FAIL_ALLOC;
        self.flags.fetch_and(!bit, Ordering::AcqRel) & bit != 0
    }

    /// Stores a validated fault result in the device page table (C: `dmirror_do_fault`).
    pub(crate) fn store_faulted(
        &self,
        pt: &mut Validated<'_, DevicePageTable>,
        f: &Faulted<'_>,
        write: bool,
    ) -> Result {
        let first = f.start() >> PAGE_SHIFT;
        for (i, e) in f.entries().enumerate() {
            // hmm_range_fault() was asked to populate every page, so it returns no error
            // entry on success.
            if e.error() || !e.valid() {
                pr_warn!("hmm_range_fault() returned an invalid entry\n");
            }
            let Some(mut page) = f.page(i, e) else {
                return Err(EFAULT);
            };
            // A page of this device's private memory: the device accesses its backing.
            if let Some(o) = page.device_private_owner() {
                if o != self.owner() {
                    return Err(EFAULT);
                }
                let chunk = self.dev.chunk_of(&page).ok_or(EFAULT)?;
                page = backing_page(chunk, &page).ok_or(EFAULT)?;
            }
            let tag = if e.write() {
                TAG_WRITE
            } else if write {
                // hmm_range_fault() returns this device's own private pages as they are,
                // without faulting: after a fork() such a page is read-only (COW) in both
                // processes, and a device WRITE to it ends here. C WARNs; a user can cause it
                // at will, so it is an error for the request, not a kernel warning.
                pr_debug!("hmm_range_fault() did not make a page writable\n");
                return Err(EFAULT);
            } else {
                TAG_READ
            };
            pt.map(first + i, page, tag)?;
        }
        Ok(())
    }

    /// Faults `[start, end)` in for the device, 32 pages at a time (C: `dmirror_fault` and,
    /// with `unlocked = Some(timeout)`, `dmirror_fault_unlocked`).
    pub(crate) fn fault(
        &self,
        start: usize,
        end: usize,
        write: bool,
        unlocked: Option<usize>,
    ) -> Result {
        let mm = self.mmget().ok_or(EFAULT)?;
        for (addr, next) in windows(start, end, FAULT_WINDOW << PAGE_SHIFT) {
            let locking = match unlocked {
                None => Locking::PerAttempt(&mm),
                Some(t) => Locking::Unlocked(&mm, t),
            };
            range_fault(
                &self.notifier,
                locking,
                self.pt(),
                addr,
                next,
                Request::Fault { write },
                self.owner(),
                |pt, f| self.store_faulted(pt, f, write),
            )?;
        }
        Ok(())
    }
}

/// The device's staging buffer for one request (C: `struct dmirror_bounce`).
///
/// Allocated without zeroing (C: `vmalloc`) and without the allocator's warning (a huge
/// `npages` is a user error: `ENOMEM`, not a kernel splat). Only initialized bytes are
/// ever visible: reads append page by page ([`Bounce::push_page`]), WRITE fills it from the
/// user buffer at once ([`Bounce::fill_from_user`]).
pub(crate) struct Bounce {
    /// Start of the range it mirrors.
    pub(crate) addr: usize,
    /// The data of the pages copied so far (reads), or of the whole range (WRITE).
    // INVARIANT: `buf.capacity()` >= the range's size, so appending never reallocates.
    pub(crate) buf: VVec<u8>,
    /// Pages copied so far.
    pub(crate) cpages: usize,
}

impl Bounce {
    /// C: `dmirror_bounce_init` (vmalloc of `size` bytes).
    pub(crate) fn new(addr: usize, size: usize) -> Result<Self> {
        Ok(Bounce {
            addr,
            buf: VVec::with_capacity(size, GFP_KERNEL | __GFP_NOWARN)?,
            cpages: 0,
        })
    }

    /// Fills the buffer with the user's `src` (WRITE), all of its capacity.
    pub(crate) fn fill_from_user(&mut self, src: UserSlice) -> Result {
        src.read_all(&mut self.buf, GFP_KERNEL).map_err(|_| EFAULT)
    }

    /// Appends the contents of the page mirroring `addr`, which must be the next page.
    fn push_page(&mut self, addr: usize, page: &PageRef<'_>) -> Result {
        if addr.checked_sub(self.addr) != Some(self.buf.len()) {
            return Err(EINVAL);
        }
        page.append_to(&mut self.buf)
    }

    /// The bytes for the page at `addr`; `EINVAL` if `addr` is outside the buffer's range.
    fn page(&self, addr: usize) -> Result<&[u8; PAGE_SIZE]> {
        let off = addr.checked_sub(self.addr).ok_or(EINVAL)? & !(PAGE_SIZE - 1);
        self.buf
            .get(off..)
            .and_then(|b| b.first_chunk::<PAGE_SIZE>())
            .ok_or(EINVAL)
    }
}

/// Copies `[start, end)` through the device page table into `bounce`; `ENOENT` at the
/// first unmapped page (C: `dmirror_do_read`).
pub(crate) fn do_read(
    pt: &DevicePageTable,
    start: usize,
    end: usize,
    bounce: &mut Bounce,
) -> Result {
    let mut addr = start;
    while addr < end {
        let (page, _) = pt.lookup(addr >> PAGE_SHIFT).ok_or(ENOENT)?;
        bounce.push_page(addr, &page)?;
        bounce.cpages += 1;
        addr += PAGE_SIZE;
    }
    Ok(())
}

/// Copies `bounce` into `[start, end)` through the device page table; `ENOENT` at the first
/// page not mapped writable (C: `dmirror_do_write`).
pub(crate) fn do_write(
    pt: &DevicePageTable,
    start: usize,
    end: usize,
    bounce: &mut Bounce,
) -> Result {
    let mut addr = start;
    while addr < end {
        let (page, tag) = pt.lookup(addr >> PAGE_SHIFT).ok_or(ENOENT)?;
        if tag != TAG_WRITE {
            return Err(ENOENT);
        }
        page.write_from(bounce.page(addr)?);
        bounce.cpages += 1;
        addr += PAGE_SIZE;
    }
    Ok(())
}
