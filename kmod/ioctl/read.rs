// SPDX-License-Identifier: GPL-2.0

//! HMM_DMIRROR_READ: the device reads the range through its page table into `ptr`,
//! faulting missing pages in (C: `dmirror_read`).

use super::Cmd;
use crate::dmirror::{do_read, Bounce, Dmirror};
use crate::hmm::page::PAGE_SHIFT;
use kernel::prelude::*;

/// HMM_DMIRROR_READ.
pub(crate) fn read(d: &Dmirror, cmd: &mut Cmd) -> Result {
    read_with(d, cmd, None)
}

/// READ and, with `unlocked = Some(timeout)`, READ_UNLOCKED.
pub(super) fn read_with(d: &Dmirror, cmd: &mut Cmd, unlocked: Option<usize>) -> Result {
    let mut bounce = Bounce::new(cmd.start, cmd.size())?;
    let mut start = cmd.start;
    let ret = loop {
        let r = do_read(&d.pt().lock(), start, cmd.end, &mut bounce);
        if r != Err(ENOENT) {
            break r;
        }
        start = cmd.start + (bounce.cpages << PAGE_SHIFT);
        if let Err(e) = d.fault(start, cmd.end, false, unlocked) {
            break Err(e);
        }
        cmd.raw.faults += 1;
    };
    cmd.finish_read(ret, &bounce)
}
