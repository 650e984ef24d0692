// SPDX-License-Identifier: GPL-2.0

//! HMM_DMIRROR_MIGRATE_TO_DEV: migrate the range to device memory, then read it back
//! through the device page table into `ptr` (C: `dmirror_migrate_to_device`).

use super::Cmd;
use crate::dmirror::{do_read, Bounce, Dmirror};
use crate::hmm::mmap::MmapRead;
use crate::migrate::{for_each_vma_window, migrate_window_to_dev};
use kernel::prelude::*;

/// HMM_DMIRROR_MIGRATE_TO_DEV.
pub(crate) fn migrate_to_dev(d: &Dmirror, cmd: &mut Cmd) -> Result {
    let mm = d.mmget().ok_or(EINVAL)?;
    {
        let lock = MmapRead::lock(&mm);
        for_each_vma_window(&lock, cmd.start, cmd.end, |vma, start, end| {
            migrate_window_to_dev(d, &lock, vma, start, end)
        })?;
    }
    drop(mm);

    // Return the migrated data for verification: only pages in the device page table.
    let mut bounce = Bounce::new(cmd.start, cmd.size())?;
    let ret = do_read(&d.pt().lock(), cmd.start, cmd.end, &mut bounce);
    let ret = ret.and_then(|()| {
        cmd.user_buf(bounce.buf.len())
            .writer()
            .write_slice(&bounce.buf)
            .map_err(|_| EFAULT)
    });
    cmd.raw.cpages = bounce.cpages as u64;
    ret
}
