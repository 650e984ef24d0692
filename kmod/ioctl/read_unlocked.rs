// SPDX-License-Identifier: GPL-2.0

//! HMM_DMIRROR_READ_UNLOCKED: READ whose faults go through
//! `hmm_range_fault_unlocked_timeout()` (C: `dmirror_read_unlocked`, timeout 0).

use super::Cmd;
use crate::dmirror::Dmirror;
use kernel::prelude::*;

/// HMM_DMIRROR_READ_UNLOCKED.
pub(crate) fn read_unlocked(d: &Dmirror, cmd: &mut Cmd) -> Result {
    super::read::read_with(d, cmd, Some(0))
}
