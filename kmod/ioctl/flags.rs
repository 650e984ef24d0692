// SPDX-License-Identifier: GPL-2.0

//! HMM_DMIRROR_FLAGS: set the `HMM_DMIRROR_FLAG_*` word, passed in `npages`.

use super::Cmd;
use crate::dmirror::Dmirror;
use core::sync::atomic::Ordering;
use kernel::prelude::*;

/// HMM_DMIRROR_FLAGS.
pub(crate) fn flags(d: &Dmirror, cmd: &mut Cmd) -> Result {
    d.flags.store(cmd.raw.npages, Ordering::Release);
    Ok(())
}
