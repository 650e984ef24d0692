// SPDX-License-Identifier: GPL-2.0

//! HMM_DMIRROR_WRITE: the device writes `ptr` into the range through its page table,
//! faulting pages in writable (C: `dmirror_write`).

use super::Cmd;
use crate::dmirror::{do_write, Bounce, Dmirror};
use crate::hmm::page::PAGE_SHIFT;
use kernel::prelude::*;

/// HMM_DMIRROR_WRITE.
pub(crate) fn write(d: &Dmirror, cmd: &mut Cmd) -> Result {
    let mut bounce = Bounce::new(cmd.start, cmd.size())?;
    bounce.fill_from_user(cmd.user_buf(cmd.size()))?;
    let mut start = cmd.start;
    let ret = loop {
        let r = do_write(&d.pt().lock(), start, cmd.end, &mut bounce);
        if r != Err(ENOENT) {
            break r;
        }
        start = cmd.start + (bounce.cpages << PAGE_SHIFT);
        if let Err(e) = d.fault(start, cmd.end, true, None) {
            break Err(e);
        }
        cmd.raw.faults += 1;
    };
    cmd.raw.cpages = bounce.cpages as u64;
    ret
}
