// SPDX-License-Identifier: GPL-2.0

//! `hmm_range_fault()`: snapshot or fault in a range of an mm, validated against an
//! interval notifier under the driver's lock (C: `dmirror_range_fault()` and friends).

use super::interval_notifier::{IntervalNotifier, Invalidate, ReadSeq, Validated};
use super::mmap::MmapRead;
use super::page::{PageRef, PAGE_SHIFT, PAGE_SIZE};
use super::Owner;
use kernel::{
    bindings,
    ffi::c_ulong,
    mm::MmWithUser,
    prelude::*,
    sync::Mutex,
    time::{Instant, Monotonic},
};

/// The most pages one call handles (the C driver walks in windows of 32 pages; the
/// migrate-on-fault request uses windows of 64).
pub(crate) const MAX_PAGES: usize = 64;

/// `HMM_RANGE_DEFAULT_TIMEOUT`, in milliseconds.
const DEFAULT_TIMEOUT_MS: i64 = 1000;

/// What to ask of `hmm_range_fault()` (`hmm_range::default_flags`).
#[derive(Clone, Copy)]
pub(crate) enum Request {
    /// `HMM_PFN_REQ_FAULT` (+ `HMM_PFN_REQ_WRITE`): populate the pages.
    Fault {
        /// Also make them writable.
        write: bool,
    },
    /// No flags: report what is mapped, without faulting.
    Snapshot,
}

/// Who holds the mmap lock.
pub(crate) enum Locking<'a, 'b> {
    /// Take the mmap read lock around each attempt (`dmirror_range_fault()`), retrying
    /// `-EBUSY` for up to `HMM_RANGE_DEFAULT_TIMEOUT`.
    PerAttempt(&'a MmWithUser),
    /// The caller holds the mmap read lock across the call.
    Held(&'a MmapRead<'b>),
    /// `hmm_range_fault_unlocked_timeout(range, timeout)` takes it (`READ_UNLOCKED`);
    /// `timeout` is in jiffies, 0 retries forever.
    Unlocked(&'a MmWithUser, usize),
}

/// One output entry of `hmm_range_fault()`.
#[derive(Clone, Copy)]
pub(crate) struct HmmPfn(usize);

impl HmmPfn {
    /// `HMM_PFN_VALID`.
    pub(crate) fn valid(self) -> bool {
        self.0 as u64 & bindings::hmm_pfn_flags_HMM_PFN_VALID as u64 != 0
    }
    /// `HMM_PFN_WRITE`.
    pub(crate) fn write(self) -> bool {
        self.0 as u64 & bindings::hmm_pfn_flags_HMM_PFN_WRITE as u64 != 0
    }
    /// `HMM_PFN_ERROR`.
    pub(crate) fn error(self) -> bool {
        self.0 as u64 & bindings::hmm_pfn_flags_HMM_PFN_ERROR as u64 != 0
    }
    /// `hmm_pfn_to_map_order() + PAGE_SHIFT`: the shift of the CPU mapping.
    pub(crate) fn map_shift(self) -> u32 {
        ((self.0 >> bindings::hmm_pfn_flags_HMM_PFN_ORDER_SHIFT) & 0x1f) as u32 + PAGE_SHIFT as u32
    }
    fn pfn(self) -> usize {
        self.0 & !bindings::hmm_pfn_flags_HMM_PFN_FLAGS
    }
}

/// The validated result of a fault: valid while the driver lock is held.
pub(crate) struct Faulted<'a> {
    start: usize,
    pfns: &'a [c_ulong],
}

impl<'a> Faulted<'a> {
    /// First address of the range.
    pub(crate) fn start(&self) -> usize {
        self.start
    }

    /// The entries, one per page.
    pub(crate) fn entries(&self) -> impl Iterator<Item = HmmPfn> + '_ {
        self.pfns.iter().map(|p| HmmPfn(*p))
    }

    /// The page of entry `i`, a valid one (`hmm_pfn_to_page()`, see below for large
    /// mappings).
    ///
    /// An entry with a map order (a PMD or PUD mapping of a folio) names the page of the
    /// folio at the entry's address: the folio's first page is mapped at the address
    /// aligned down to the mapping's size, so the page is the folio's page at the address's
    /// offset in that block. Linux 7.3.4's `hmm_vma_handle_absent_pmd()` (a device-private
    /// PMD) numbers the pages from the folio's first page whatever the range's start, so a
    /// window starting inside the PMD got the wrong pages (regression case hmm-tests
    /// `device_thp_read`); `hmm_vma_handle_pmd()` and the PUD and hugetlb walkers add the
    /// offset, and for them this gives the same page.
    pub(crate) fn page(&self, i: usize, e: HmmPfn) -> Option<PageRef<'a>> {
        if !e.valid() {
            return None;
        }
        // An invalidation must take the driver lock (see `Invalidate`) before the page can
        // be unmapped, and `'a` is the time that lock is held.
        // SAFETY: A valid entry names a page mapped when the sequence was checked under the
        // driver lock, so it stays allocated for `'a` (see above).
        let page = unsafe { PageRef::from_pfn(e.pfn()) };
        let order = e.map_shift().saturating_sub(PAGE_SHIFT as u32);
        if order == 0 {
            return Some(page);
        }
        let index = ((self.start >> PAGE_SHIFT) + i) & ((1usize << order) - 1);
        let head = page.folio_head();
        if head.pfn() + index == page.pfn() {
            return Some(page);
        }
        // The folio's page `index` (a folio mapped whole by this entry has at least
        // `1 << order` pages; if it had fewer, the kernel's page is kept).
        Some(head.folio_pages(index + 1).nth(index).unwrap_or(page))
    }
}

/// Runs `hmm_range_fault()` on `[start, end)` of `notifier`'s mm until it succeeds without
/// an intervening invalidation, then calls `f` with the result and `lock`, the notifier's
/// table lock (C: `dmirror->mutex`), held and validated.
#[allow(clippy::too_many_arguments)]
pub(crate) fn range_fault<N: Invalidate, R>(
    notifier: &IntervalNotifier<N>,
    locking: Locking<'_, '_>,
    lock: &Mutex<N::Table>,
    start: usize,
    end: usize,
    req: Request,
    owner: Owner,
    f: impl FnOnce(&mut Validated<'_, N::Table>, &Faulted<'_>) -> Result<R>,
) -> Result<R> {
    if start % PAGE_SIZE != 0 || end % PAGE_SIZE != 0 || start >= end {
        return Err(EINVAL);
    }
    if !core::ptr::eq(lock, notifier.data().table()) {
        return Err(EINVAL);
    }
    let npages = (end - start) >> PAGE_SHIFT;
    if npages > MAX_PAGES {
        return Err(EINVAL);
    }
    let mm_raw = notifier.mm().as_raw();
    let same_mm = match &locking {
        Locking::PerAttempt(mm) | Locking::Unlocked(mm, _) => mm.as_raw() == mm_raw,
        Locking::Held(g) => g.mm().as_raw() == mm_raw,
    };
    if !same_mm {
        return Err(EINVAL);
    }

    let default_flags = match req {
        Request::Fault { write: false } => bindings::hmm_pfn_flags_HMM_PFN_REQ_FAULT,
        Request::Fault { write: true } => {
            bindings::hmm_pfn_flags_HMM_PFN_REQ_FAULT | bindings::hmm_pfn_flags_HMM_PFN_REQ_WRITE
        }
        Request::Snapshot => 0,
    };
    let mut pfns: [c_ulong; MAX_PAGES] = [0; MAX_PAGES];
    let mut range = bindings::hmm_range {
        notifier: notifier.as_raw(),
        notifier_seq: 0,
        start: start as c_ulong,
        end: end as c_ulong,
        hmm_pfns: core::ptr::null_mut(),
        default_flags: default_flags as c_ulong,
        pfn_flags_mask: 0,
        dev_private_owner: owner.as_ptr(),
    };
    let t0 = Instant::<Monotonic>::now();
    // `hmm_range_fault_unlocked_timeout()` takes its own (in `range.notifier_seq`).
    let mut seq = ReadSeq::from_raw(0);

    loop {
        range.hmm_pfns = pfns.as_mut_ptr();
        let ret = match &locking {
            Locking::PerAttempt(mm) => {
                if t0.elapsed().as_millis() > DEFAULT_TIMEOUT_MS {
                    return Err(EBUSY);
                }
                seq = notifier.read_begin();
                range.notifier_seq = seq.raw();
                let _guard = mm.mmap_read_lock();
                // SAFETY: The mmap read lock of the notifier's mm is held and the mm has
                // users; `range` is initialised, its notifier is inserted, and `pfns` has
                // room for the `npages <= MAX_PAGES` entries of the page-aligned range.
                unsafe { bindings::hmm_range_fault(&mut range) }
            }
            Locking::Held(_) => {
                if t0.elapsed().as_millis() > DEFAULT_TIMEOUT_MS {
                    return Err(EBUSY);
                }
                seq = notifier.read_begin();
                range.notifier_seq = seq.raw();
                // SAFETY: As above; the caller holds the mmap read lock of this mm
                // (checked above).
                unsafe { bindings::hmm_range_fault(&mut range) }
            }
            Locking::Unlocked(_, timeout) => {
                // SAFETY: The mm has users and the mmap lock is not held by this thread
                // (`Locking::Unlocked` is built only without it); the function takes it.
                // `range` is as above.
                unsafe {
                    bindings::hmm_range_fault_unlocked_timeout(&mut range, *timeout as c_ulong)
                }
            }
        };
        if ret != 0 {
            let err = Error::from_errno(ret);
            if err == EBUSY && !matches!(locking, Locking::Unlocked(..)) {
                continue;
            }
            return Err(err);
        }
        if let Locking::Unlocked(..) = locking {
            seq = ReadSeq::from_raw(range.notifier_seq);
        }
        let Ok(mut guard) = notifier.lock_checked(seq) else {
            continue;
        };
        let faulted = Faulted {
            start,
            pfns: &pfns[..npages],
        };
        return f(&mut guard, &faulted);
    }
}
