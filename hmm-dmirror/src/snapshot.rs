//! SNAPSHOT results: one `HMM_DMIRROR_PROT_*` byte per page, decoded into [`PageState`].

use core::fmt;
use core::ops::Deref;
use std::collections::BTreeMap;

use hmm_sys::{
    HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL as COH_LOCAL,
    HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE as COH_REMOTE,
    HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL as PRIV_LOCAL,
    HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE as PRIV_REMOTE, HMM_DMIRROR_PROT_ERROR as ERROR,
    HMM_DMIRROR_PROT_NONE as NONE, HMM_DMIRROR_PROT_PMD as PMD, HMM_DMIRROR_PROT_PUD as PUD,
    HMM_DMIRROR_PROT_READ as READ, HMM_DMIRROR_PROT_WRITE as WRITE, HMM_DMIRROR_PROT_ZERO as ZERO,
};

use crate::{Counts, Error, Result};

/// What the device page table holds for a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `HMM_DMIRROR_PROT_NONE`: not populated, or no access.
    None,
    /// `HMM_DMIRROR_PROT_ERROR`: no valid mirror entry (e.g. unmapped or PROT_NONE).
    Error,
    /// `HMM_DMIRROR_PROT_ZERO | HMM_DMIRROR_PROT_READ`: the shared zero page.
    Zero,
    /// `HMM_DMIRROR_PROT_READ`: mapped read-only.
    Read,
    /// `HMM_DMIRROR_PROT_WRITE`: mapped writable.
    Write,
}

/// The size of the CPU mapping the entry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Huge {
    /// A base page.
    None,
    /// `HMM_DMIRROR_PROT_PMD`: part of a PMD-mapped huge page.
    Pmd,
    /// `HMM_DMIRROR_PROT_PUD`: part of a PUD-mapped huge page.
    Pud,
}

/// Where the page lives when it is device memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeviceMemory {
    /// System memory (or the zero page).
    None,
    /// `HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL`: device-private page of this device.
    PrivateLocal,
    /// `HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE`: device-private page of another device.
    PrivateRemote,
    /// `HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL`: device-coherent page of this device.
    CoherentLocal,
    /// `HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE`: device-coherent page of another device.
    CoherentRemote,
}

impl Kind {
    /// The C name's suffix: `NONE`, `ERROR`, `ZERO`, `READ`, `WRITE`.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::None => "NONE",
            Kind::Error => "ERROR",
            Kind::Zero => "ZERO",
            Kind::Read => "READ",
            Kind::Write => "WRITE",
        }
    }
}

impl Huge {
    /// `-` for a base page, else the C name's suffix: `PMD`, `PUD`.
    pub const fn name(self) -> &'static str {
        match self {
            Huge::None => "-",
            Huge::Pmd => "PMD",
            Huge::Pud => "PUD",
        }
    }
}

impl DeviceMemory {
    /// `-` for system memory, else the C name's suffix, e.g. `DEV_PRIVATE_LOCAL`.
    pub const fn name(self) -> &'static str {
        match self {
            DeviceMemory::None => "-",
            DeviceMemory::PrivateLocal => "DEV_PRIVATE_LOCAL",
            DeviceMemory::PrivateRemote => "DEV_PRIVATE_REMOTE",
            DeviceMemory::CoherentLocal => "DEV_COHERENT_LOCAL",
            DeviceMemory::CoherentRemote => "DEV_COHERENT_REMOTE",
        }
    }
}

macro_rules! display_by_name {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    )*};
}
display_by_name!(Kind, Huge, DeviceMemory);

/// A SNAPSHOT byte that is not a defined encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("undefined HMM_DMIRROR_PROT byte {byte:#04x}")]
pub struct InvalidPageState {
    /// The rejected byte.
    pub byte: u8,
}

/// One decoded SNAPSHOT byte (ordered by that byte). Always a defined encoding: `ERROR`, `NONE`, or exactly one of
/// `READ`/`WRITE`, at most one of `PMD`/`PUD`, and at most one of `ZERO` (with `READ` only) or
/// a `DEV_*` value, as `dmirror_mkentry()` builds them. Compares with the raw byte too:
/// `snap[i] == HMM_DMIRROR_PROT_WRITE`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PageState(u8);

impl PageState {
    /// `HMM_DMIRROR_PROT_NONE`.
    pub const NONE: PageState = PageState(NONE);
    /// `HMM_DMIRROR_PROT_ERROR`.
    pub const ERROR: PageState = PageState(ERROR);
    /// `HMM_DMIRROR_PROT_READ`.
    pub const READ: PageState = PageState(READ);
    /// `HMM_DMIRROR_PROT_WRITE`.
    pub const WRITE: PageState = PageState(WRITE);
    /// `HMM_DMIRROR_PROT_ZERO | HMM_DMIRROR_PROT_READ`.
    pub const ZERO: PageState = PageState(ZERO | READ);
    /// `HMM_DMIRROR_PROT_READ | HMM_DMIRROR_PROT_PMD`.
    pub const READ_PMD: PageState = PageState(READ | PMD);
    /// `HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PMD`.
    pub const WRITE_PMD: PageState = PageState(WRITE | PMD);
    /// `HMM_DMIRROR_PROT_READ | HMM_DMIRROR_PROT_PUD`.
    pub const READ_PUD: PageState = PageState(READ | PUD);
    /// `HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PUD`.
    pub const WRITE_PUD: PageState = PageState(WRITE | PUD);

    /// Decodes a SNAPSHOT byte, rejecting undefined encodings.
    pub const fn from_byte(byte: u8) -> core::result::Result<PageState, InvalidPageState> {
        if byte == ERROR || byte == NONE {
            return Ok(PageState(byte));
        }
        let access = byte & (READ | WRITE);
        let size = byte & (PMD | PUD);
        let class = byte & 0xF0;
        let ok_access = access == READ || access == WRITE;
        let ok_size = size != (PMD | PUD);
        let ok_class = match class {
            0 | PRIV_LOCAL | PRIV_REMOTE | COH_LOCAL | COH_REMOTE => true,
            ZERO => access == READ,
            _ => false,
        };
        if ok_access && ok_size && ok_class {
            Ok(PageState(byte))
        } else {
            Err(InvalidPageState { byte })
        }
    }

    /// [`PageState::from_byte`] for constants: panics (a compile error in a `const`) on an
    /// undefined encoding. `PageState::from_prot(HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PMD)`.
    pub const fn from_prot(byte: u8) -> PageState {
        match Self::from_byte(byte) {
            Ok(s) => s,
            Err(_) => panic!("undefined HMM_DMIRROR_PROT encoding"),
        }
    }

    /// The byte the driver wrote.
    pub const fn raw(self) -> u8 {
        self.0
    }

    /// What kind of entry this is.
    pub const fn kind(self) -> Kind {
        match self.0 {
            ERROR => Kind::Error,
            NONE => Kind::None,
            b if b & 0xF0 == ZERO => Kind::Zero,
            b if b & WRITE != 0 => Kind::Write,
            _ => Kind::Read,
        }
    }

    /// The CPU mapping size.
    pub const fn huge(self) -> Huge {
        if self.0 == ERROR {
            Huge::None
        } else if self.0 & PMD != 0 {
            Huge::Pmd
        } else if self.0 & PUD != 0 {
            Huge::Pud
        } else {
            Huge::None
        }
    }

    /// The device memory class.
    pub const fn device(self) -> DeviceMemory {
        if self.0 == ERROR {
            return DeviceMemory::None;
        }
        match self.0 & 0xF0 {
            PRIV_LOCAL => DeviceMemory::PrivateLocal,
            PRIV_REMOTE => DeviceMemory::PrivateRemote,
            COH_LOCAL => DeviceMemory::CoherentLocal,
            COH_REMOTE => DeviceMemory::CoherentRemote,
            _ => DeviceMemory::None,
        }
    }

    /// Whether the device may write the page.
    pub const fn is_writable(self) -> bool {
        matches!(self.kind(), Kind::Write)
    }

    /// The same entry with mapping size `huge`.
    ///
    /// # Panics
    /// For `NONE` and `ERROR`, which carry no size.
    pub const fn with_huge(self, huge: Huge) -> PageState {
        assert!(
            self.0 != ERROR && self.0 != NONE,
            "NONE/ERROR carry no mapping size"
        );
        let bits = match huge {
            Huge::None => 0,
            Huge::Pmd => PMD,
            Huge::Pud => PUD,
        };
        PageState((self.0 & !(PMD | PUD)) | bits)
    }

    /// The same `READ`/`WRITE` entry in device memory `device`.
    ///
    /// # Panics
    /// For `NONE`, `ERROR` and the zero page, which cannot be device memory.
    pub const fn with_device(self, device: DeviceMemory) -> PageState {
        assert!(
            matches!(self.kind(), Kind::Read | Kind::Write),
            "only READ/WRITE entries can be device memory"
        );
        let class = match device {
            DeviceMemory::None => 0,
            DeviceMemory::PrivateLocal => PRIV_LOCAL,
            DeviceMemory::PrivateRemote => PRIV_REMOTE,
            DeviceMemory::CoherentLocal => COH_LOCAL,
            DeviceMemory::CoherentRemote => COH_REMOTE,
        };
        PageState((self.0 & 0x0F) | class)
    }
}

impl TryFrom<u8> for PageState {
    type Error = InvalidPageState;
    fn try_from(byte: u8) -> core::result::Result<PageState, InvalidPageState> {
        PageState::from_byte(byte)
    }
}

impl PartialEq<u8> for PageState {
    fn eq(&self, other: &u8) -> bool {
        self.0 == *other
    }
}

impl PartialEq<PageState> for u8 {
    fn eq(&self, other: &PageState) -> bool {
        *self == other.0
    }
}

impl fmt::Display for PageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#04x} (", self.0)?;
        let mut parts: Vec<&str> = Vec::new();
        match self.kind() {
            Kind::Error => parts.push("ERROR"),
            Kind::None => parts.push("NONE"),
            Kind::Zero => parts.extend(["ZERO", "READ"]),
            Kind::Read => parts.push("READ"),
            Kind::Write => parts.push("WRITE"),
        }
        match self.huge() {
            Huge::None => {}
            Huge::Pmd => parts.push("PMD"),
            Huge::Pud => parts.push("PUD"),
        }
        match self.device() {
            DeviceMemory::None => {}
            DeviceMemory::PrivateLocal => parts.push("DEV_PRIVATE_LOCAL"),
            DeviceMemory::PrivateRemote => parts.push("DEV_PRIVATE_REMOTE"),
            DeviceMemory::CoherentLocal => parts.push("DEV_COHERENT_LOCAL"),
            DeviceMemory::CoherentRemote => parts.push("DEV_COHERENT_REMOTE"),
        }
        write!(f, "{})", parts.join("|"))
    }
}

impl fmt::Debug for PageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PageState({self})")
    }
}

/// A decoded SNAPSHOT of a range: one [`PageState`] per page, and the request's counters.
/// Derefs to `[PageState]`: `snap[i]`, `snap.len()`, `snap.iter()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    counts: Counts,
    pages: Vec<PageState>,
}

impl Snapshot {
    /// Decodes raw SNAPSHOT bytes; [`Error::InvalidSnapshot`] names the first bad page.
    pub fn decode(bytes: &[u8], counts: Counts) -> Result<Snapshot> {
        let pages = bytes
            .iter()
            .enumerate()
            .map(|(page, &byte)| {
                PageState::from_byte(byte).map_err(|_| Error::InvalidSnapshot { page, byte })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Snapshot { counts, pages })
    }

    /// The request's counters.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Pages the driver reported (`cmd.cpages`).
    pub fn cpages(&self) -> u64 {
        self.counts.cpages
    }

    /// Device faults (`cmd.faults`).
    pub fn faults(&self) -> u64 {
        self.counts.faults
    }

    /// The page states.
    pub fn pages(&self) -> &[PageState] {
        &self.pages
    }

    /// The raw bytes again.
    pub fn raw_bytes(&self) -> Vec<u8> {
        self.pages.iter().map(|p| p.raw()).collect()
    }

    /// How many pages are in each state, in state order.
    pub fn histogram(&self) -> BTreeMap<PageState, usize> {
        let mut h = BTreeMap::new();
        for &p in &self.pages {
            *h.entry(p).or_default() += 1;
        }
        h
    }
}

impl<'a> IntoIterator for &'a Snapshot {
    type Item = &'a PageState;
    type IntoIter = core::slice::Iter<'a, PageState>;
    fn into_iter(self) -> Self::IntoIter {
        self.pages.iter()
    }
}

impl Deref for Snapshot {
    type Target = [PageState];
    fn deref(&self) -> &[PageState] {
        &self.pages
    }
}
