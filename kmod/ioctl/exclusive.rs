// SPDX-License-Identifier: GPL-2.0

//! HMM_DMIRROR_EXCLUSIVE and HMM_DMIRROR_CHECK_EXCLUSIVE: take device-exclusive
//! (atomic) access to the range and read it back; check that the access is still
//! exclusive (C: `dmirror_exclusive`, `dmirror_atomic_map`, `dmirror_check_atomic`).

use super::Cmd;
use crate::dmirror::{do_read, Bounce, Dmirror};
use crate::hmm::exclusive::ExclusivePage;
use crate::hmm::mmap::MmapRead;
use crate::hmm::page::{PAGE_SHIFT, PAGE_SIZE};
use crate::pt::TAG_ATOMIC;
use crate::range::windows;
use kernel::{
    prelude::*,
    time::{Instant, Monotonic},
};

/// How long EXCLUSIVE retries one page whose atomic entry other invalidations keep
/// invalidating (as `hmm_range_fault()`'s callers do: `HMM_RANGE_DEFAULT_TIMEOUT`).
const RETRY_MS: i64 = 1000;
/// It gives up only after this many attempts as well: on a slow or loaded machine one
/// attempt alone can take longer than [`RETRY_MS`] (seen under TCG with the host at load 10:
/// EBUSY after a single zap), which is not "other invalidations keep invalidating".
const RETRY_MIN_TRIES: u32 = 16;

/// Takes device-exclusive access to the page at `addr` and maps it atomic in the device
/// page table (C: `make_device_exclusive()` + `dmirror_atomic_map`). The entry is stored
/// only if no invalidation ran since before `make_device_exclusive()` (under the mirror
/// mutex): a `MADV_DONTNEED` from another thread in between zaps the device-exclusive
/// entry, and the page is freed once this request drops its reference. Otherwise the page's
/// entry is erased and the whole step retried (the retry's own undoing of the failed
/// attempt's device-exclusive entry does not count, see `Mirror::making_exclusive`); a
/// failed store erases it too.
fn exclusive_page(d: &Dmirror, lock: &MmapRead<'_>, addr: usize) -> Result {
    let vpfn = addr >> PAGE_SHIFT;
    let t0 = Instant::<Monotonic>::now();
    let mut tries = 0u32;
    loop {
        tries += 1;
        let seq = d.notifier.read_begin();
        d.mirror().set_making_exclusive(Some(addr));
        let made = ExclusivePage::make(lock, addr, d.file_owner());
        d.mirror().set_making_exclusive(None);
        let page = match made {
            Ok(page) => page,
            Err(e) => {
                // Invalidations of the page by this task were skipped meanwhile.
                d.pt().lock().unmap(vpfn);
                return Err(e);
            }
        };
        match d.notifier.lock_checked(seq) {
            Ok(mut pt) => {
                let ret = pt.map(vpfn, page.page(), TAG_ATOMIC);
                if ret.is_err() {
                    pt.unmap(vpfn);
                }
                return ret;
            }
            Err(mut pt) => pt.unmap(vpfn),
        }
        // `page` (its lock and reference) is released here, before the retry.
        drop(page);
        if tries >= RETRY_MIN_TRIES && t0.elapsed().as_millis() > RETRY_MS {
            return Err(EBUSY);
        }
    }
}

/// HMM_DMIRROR_EXCLUSIVE.
pub(crate) fn exclusive(d: &Dmirror, cmd: &mut Cmd) -> Result {
    let mm = d.mmget().ok_or(EINVAL)?;
    {
        let lock = MmapRead::lock(&mm);
        for (addr, _) in windows(cmd.start, cmd.end, PAGE_SIZE) {
            exclusive_page(d, &lock, addr)?;
        }
    }
    drop(mm);

    // Return the data for verification.
    let mut bounce = Bounce::new(cmd.start, cmd.size())?;
    let ret = do_read(&d.pt().lock(), cmd.start, cmd.end, &mut bounce);
    cmd.finish_read(ret, &bounce)
}

/// HMM_DMIRROR_CHECK_EXCLUSIVE: `EPERM` if a page of the range is still mapped atomic.
///
/// C loads every page of the range under the mirror mutex, so a huge `npages` keeps the CPU
/// (and the mutex) for minutes; this visits the mapped entries only (found by the
/// robustness fuzzer, `hmm-robust`).
pub(crate) fn check_exclusive(d: &Dmirror, cmd: &mut Cmd) -> Result {
    let pt = d.pt().lock();
    // `cmd.end > cmd.start` (npages > 0 is checked at entry).
    if pt.any_tagged(cmd.start >> PAGE_SHIFT, (cmd.end >> PAGE_SHIFT) - 1, TAG_ATOMIC) {
        return Err(EPERM);
    }
    Ok(())
}
