//! Which `/dev/hmm_dmirrorN` exist, and what memory each one's device has.

use std::path::PathBuf;

use crate::{Device, Error, Result};

/// The kind of device memory a unit migrates to. Both drivers give units 0 and 1 device
/// private memory and units 2 and 3 (present only when loaded with `spm_addr_dev0/1`) device
/// coherent memory (`HMM_DMIRROR_MEMORY_DEVICE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MemoryType {
    /// `MEMORY_DEVICE_PRIVATE`: the CPU cannot access it; CPU faults migrate pages back.
    Private,
    /// `MEMORY_DEVICE_COHERENT`: the CPU can access it in place.
    Coherent,
}

impl MemoryType {
    /// The memory of unit `n`.
    pub const fn of_unit(n: u32) -> MemoryType {
        if n < 2 {
            MemoryType::Private
        } else {
            MemoryType::Coherent
        }
    }

    /// `HMM_DMIRROR_MEMORY_DEVICE_PRIVATE` or `_COHERENT`.
    pub const fn raw(self) -> u32 {
        match self {
            MemoryType::Private => hmm_sys::HMM_DMIRROR_MEMORY_DEVICE_PRIVATE,
            MemoryType::Coherent => hmm_sys::HMM_DMIRROR_MEMORY_DEVICE_COHERENT,
        }
    }
}

impl core::fmt::Display for MemoryType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            MemoryType::Private => "private",
            MemoryType::Coherent => "coherent",
        })
    }
}

/// One device node found in `/dev`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceNode {
    /// `N` of `/dev/hmm_dmirrorN`.
    pub unit: u32,
    /// Its path.
    pub path: PathBuf,
    /// Its device memory.
    pub memory: MemoryType,
}

/// The `/dev/hmm_dmirrorN` nodes that exist, by unit (none when no driver is loaded).
pub fn devices() -> Result<Vec<DeviceNode>> {
    let dir = std::fs::read_dir("/dev").map_err(|source| Error::Io {
        what: "read /dev".into(),
        source,
    })?;
    let mut found: Vec<DeviceNode> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name();
            let unit = name.to_str()?.strip_prefix("hmm_dmirror")?;
            if unit.is_empty() || !unit.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let unit: u32 = unit.parse().ok()?;
            Some(DeviceNode {
                unit,
                path: Device::path_of(unit),
                memory: MemoryType::of_unit(unit),
            })
        })
        .collect();
    found.sort_by_key(|d| d.unit);
    Ok(found)
}

impl Device {
    /// [`Device::open`], with a missing node as `Ok(None)` (for tools and tests that skip
    /// when the driver is not loaded; the kselftest skip code is 4).
    pub fn open_if_present(n: u32) -> Result<Option<Device>> {
        match Device::open(n) {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.is_no_device() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The device memory of this unit, when it was opened by number or at its `/dev` path.
    pub fn memory_type(&self) -> Option<MemoryType> {
        let name = self.path().file_name()?.to_str()?;
        let unit: u32 = name.strip_prefix("hmm_dmirror")?.parse().ok()?;
        Some(MemoryType::of_unit(unit))
    }
}
