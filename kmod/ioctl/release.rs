// SPDX-License-Identifier: GPL-2.0

//! HMM_DMIRROR_RELEASE: evict every chunk of the device's memory back to system memory
//! and unmap it (C: `dmirror_device_remove_chunks`).

use super::Cmd;
use crate::dmirror::Dmirror;
use kernel::prelude::*;

/// HMM_DMIRROR_RELEASE.
pub(crate) fn release(d: &Dmirror, _cmd: &mut Cmd) -> Result {
    d.dev.remove_chunks();
    Ok(())
}
