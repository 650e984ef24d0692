// SPDX-License-Identifier: GPL-2.0

//! HMM_DMIRROR_MIGRATE_TO_SYS: migrate the device pages of the range back to system
//! memory; `cpages` = pages migrated (C: `dmirror_migrate_to_system`).

use super::Cmd;
use crate::dmirror::Dmirror;
use crate::hmm::migrate_vma::{MigrateArrays, MigrateVma};
use crate::hmm::mmap::MmapRead;
use crate::migrate::{alloc_and_copy_to_sys, for_each_vma_window, select_to_sys};
use kernel::prelude::*;

/// HMM_DMIRROR_MIGRATE_TO_SYS.
pub(crate) fn migrate_to_sys(d: &Dmirror, cmd: &mut Cmd) -> Result {
    let mm = d.mmget().ok_or(EINVAL)?;
    let lock = MmapRead::lock(&mm);
    let select = select_to_sys(&d.dev);
    cmd.raw.cpages = 0;
    let mut room = MigrateArrays::new();
    for_each_vma_window(&lock, cmd.start, cmd.end, |vma, start, end| {
        let mut m = MigrateVma::setup(&mut room, &lock, vma, start, end, d.owner(), select)?;
        if alloc_and_copy_to_sys(&d.dev, Some(d), &mut m, vma).is_err() {
            // Finalized without `pages()`: the destinations given so far are released
            // first, so the sources stay mapped (see `MigrateVma`).
            m.finalize();
            return Err(ENOMEM);
        }
        let m = m.pages();
        cmd.raw.cpages += m.migrated() as u64;
        m.finalize();
        Ok(())
    })
}
