// SPDX-License-Identifier: GPL-2.0

//! HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV (patched ABI): fault the range in for the device
//! and migrate it to device memory, 64 pages at a time, each window under one mmap read
//! lock; then read the whole range back through the device page table into `ptr`,
//! `cpages` = pages read (the migrate-on-fault series, RFC 4/4; `hmm-dmirror/ABI.md`).

use super::Cmd;
use crate::dmirror::Dmirror;
use crate::hmm::migrate_vma::MigrateArrays;
use crate::hmm::mmap::MmapRead;
use crate::hmm::page::PAGE_SHIFT;
use crate::hmm::range_fault::{range_fault, Locking, Request};
use crate::migrate::{for_each_vma_window, migrate_window_to_dev};
use crate::range::windows;
use kernel::prelude::*;

/// Pages per window (the series' `64`).
const WINDOW: usize = 64;

/// Faults `[start, end)` in for the device and migrates it to device memory, under the
/// caller's mmap read lock.
///
/// This is the one place a kernel with the series' unified API would change: there one
/// `hmm_range_fault()` with `HMM_PFN_REQ_MIGRATE` and `range.migrate` set, followed by
/// `migrate_hmm_range_setup()`, replaces the two steps below.
fn fault_and_migrate_window(d: &Dmirror, lock: &MmapRead<'_>, start: usize, end: usize) -> Result {
    // Step 1: populate the window and mirror it (as READ's fault path does).
    range_fault(
        &d.notifier,
        Locking::Held(lock),
        d.pt(),
        start,
        end,
        Request::Fault { write: false },
        d.owner(),
        |pt, f| d.store_faulted(pt, f, false),
    )?;
    // Step 2: migrate the window's pages to device memory.
    let mut room = MigrateArrays::new();
    for_each_vma_window(lock, start, end, |vma, s, e| {
        migrate_window_to_dev(d, &mut room, lock, vma, s, e)
    })
}

/// HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV.
pub(crate) fn migrate_on_fault_to_dev(d: &Dmirror, cmd: &mut Cmd) -> Result {
    let mm = d.mmget().ok_or(EINVAL)?;
    for (addr, next) in windows(cmd.start, cmd.end, WINDOW << PAGE_SHIFT) {
        let lock = MmapRead::lock(&mm);
        fault_and_migrate_window(d, &lock, addr, next)?;
        drop(lock);
    }
    drop(mm);
    // Read the range back through the device page table, as READ does.
    super::read::read_with(d, cmd, None)
}
