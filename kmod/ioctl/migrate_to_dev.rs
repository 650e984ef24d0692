// SPDX-License-Identifier: GPL-2.0

//! HMM_DMIRROR_MIGRATE_TO_DEV: migrate the range to device memory, then read it back
//! through the device page table into `ptr` (C: `dmirror_migrate_to_device`).

use super::Cmd;
use crate::dmirror::{do_read, Bounce, Dmirror};
use crate::hmm::migrate_vma::MigrateArrays;
use crate::hmm::mmap::MmapRead;
use crate::migrate::{for_each_vma_window, migrate_window_to_dev};
use kernel::prelude::*;

/// HMM_DMIRROR_MIGRATE_TO_DEV.
pub(crate) fn migrate_to_dev(d: &Dmirror, cmd: &mut Cmd) -> Result {
    let mm = d.mmget().ok_or(EINVAL)?;
    let mut bounce = Bounce::new(cmd.start, cmd.size())?;
    let ret = {
        let lock = MmapRead::lock(&mm);
        let mut room = MigrateArrays::new();
        for_each_vma_window(&lock, cmd.start, cmd.end, |vma, start, end| {
            migrate_window_to_dev(d, &mut room, &lock, vma, start, end)
        })?;
        // Return the migrated data for verification: only pages in the device page table.
        // Read it back before dropping the mmap lock (C drops it first): khugepaged
        // takes the mmap write lock to collapse a PMD range of PTE-mapped pages, and its
        // invalidation (before it finds the device pages it cannot collapse) would empty
        // the mirror of a window this request just migrated; the read-back then failed
        // with ENOENT (the 256 MiB step of the coherent benchmark_thp_migration).
        do_read(&d.pt().lock(), cmd.start, cmd.end, &mut bounce)
    };
    drop(mm);
    // Copied out without the mmap lock: the copy may fault on `ptr`.
    cmd.finish_read(ret, &bounce)
}
