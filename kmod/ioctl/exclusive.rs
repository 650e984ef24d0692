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
use kernel::prelude::*;

/// HMM_DMIRROR_EXCLUSIVE.
pub(crate) fn exclusive(d: &Dmirror, cmd: &mut Cmd) -> Result {
    let mm = d.mmget().ok_or(EINVAL)?;
    {
        let lock = MmapRead::lock(&mm);
        for (addr, _) in windows(cmd.start, cmd.end, PAGE_SIZE) {
            let page = ExclusivePage::make(&lock, addr)?;
            // Map the page into the device's page table (C: `dmirror_atomic_map`).
            d.pt()
                .lock()
                .map(addr >> PAGE_SHIFT, page.page(), TAG_ATOMIC)?;
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
