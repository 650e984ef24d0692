// SPDX-License-Identifier: GPL-2.0

//! HMM_DMIRROR_SNAPSHOT: one `HMM_DMIRROR_PROT_*` byte per page describing how the CPU
//! maps it, without faulting (C: `dmirror_snapshot`, `dmirror_range_snapshot`,
//! `dmirror_mkentry`).

use super::Cmd;
use crate::dmirror::{Dmirror, FAULT_WINDOW};
use crate::hmm::interval_notifier::{IntervalNotifier, Invalidate, NotifierRange};
use crate::hmm::page::{PageKind, PAGE_SHIFT};
use crate::hmm::range_fault::{range_fault, Faulted, HmmPfn, Locking, Request};
use crate::hmm::Owner;
use crate::pt::DevicePageTable;
use crate::range::windows;
use crate::uapi::*;
use kernel::{bindings, prelude::*, sync::Mutex};

/// A temporary notifier over the snapshot window, so that any invalidation of it, even
/// one the mirror's own notifier skips, restarts the snapshot (C: `dmirror_interval`).
#[pin_data]
struct SnapshotSub<'a> {
    lock: &'a Mutex<DevicePageTable>,
}

/// C: `dmirror_snapshot_invalidate`: only the sequence number matters (advanced under the
/// mirror mutex by the notifier abstraction); nothing is skipped or erased.
impl Invalidate for SnapshotSub<'_> {
    type Table = DevicePageTable;

    fn table(&self) -> &Mutex<DevicePageTable> {
        self.lock
    }

    fn skip(&self, _range: &NotifierRange<'_>) -> bool {
        false
    }

    fn invalidate(_pt: &mut DevicePageTable, _range: &NotifierRange<'_>) {}
}

/// C: `dmirror_mkentry`.
fn mkentry(owner: Owner, f: &Faulted<'_>, i: usize, e: HmmPfn) -> u8 {
    if e.error() {
        return HMM_DMIRROR_PROT_ERROR;
    }
    let Some(page) = f.page(i, e) else {
        return HMM_DMIRROR_PROT_NONE;
    };
    let mut perm = match page.kind() {
        PageKind::DevicePrivate(o) if o == owner => HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
        PageKind::DevicePrivate(_) => HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE,
        PageKind::DeviceCoherent(o) if o == owner => HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL,
        PageKind::DeviceCoherent(_) => HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE,
        PageKind::Zero => HMM_DMIRROR_PROT_ZERO,
        PageKind::System | PageKind::OtherDevice => HMM_DMIRROR_PROT_NONE,
    };
    perm |= if e.write() {
        HMM_DMIRROR_PROT_WRITE
    } else {
        HMM_DMIRROR_PROT_READ
    };
    if e.map_shift() == bindings::PMD_SHIFT {
        perm |= HMM_DMIRROR_PROT_PMD;
    } else if e.map_shift() == bindings::PUD_SHIFT {
        perm |= HMM_DMIRROR_PROT_PUD;
    }
    perm
}

/// HMM_DMIRROR_SNAPSHOT.
pub(crate) fn snapshot(d: &Dmirror, cmd: &mut Cmd) -> Result {
    let mm = d.mmget().ok_or(EINVAL)?;
    let owner = d.owner();
    let mut uptr = cmd.raw.ptr as usize;
    for (addr, next) in windows(cmd.start, cmd.end, FAULT_WINDOW << PAGE_SHIFT) {
        let n = (next - addr) >> PAGE_SHIFT;
        let mut perm = [0u8; FAULT_WINDOW];
        {
            let sub = KBox::pin_init(
                IntervalNotifier::new(
                    try_pin_init!(SnapshotSub { lock: d.pt() }),
                    &mm,
                    addr,
                    next - addr,
                ),
                GFP_KERNEL,
            )?;
            range_fault(
                &*sub,
                Locking::PerAttempt(&mm),
                d.pt(),
                addr,
                next,
                Request::Snapshot,
                owner,
                |_pt, f| {
                    for (i, (p, e)) in perm.iter_mut().zip(f.entries()).enumerate() {
                        *p = mkentry(owner, f, i, e);
                    }
                    Ok(())
                },
            )?;
        }
        let ubuf = kernel::uaccess::UserSlice::new(kernel::uaccess::UserPtr::from_addr(uptr), n);
        ubuf.writer().write_slice(&perm[..n]).map_err(|_| EFAULT)?;
        cmd.raw.cpages += n as u64;
        // `[uptr, uptr + n)` was just written, so the sum does not overflow; checked anyway.
        uptr = uptr.checked_add(n).ok_or(EFAULT)?;
    }
    Ok(())
}
