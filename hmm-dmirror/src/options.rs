//! Small option types for mappings: protection, sharing, THP mode, madvise advice.

use core::ops::BitOr;

use rustix::mm::{Advice as RxAdvice, MprotectFlags, ProtFlags};

/// Page protection (`PROT_*`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prot(u8);

impl core::fmt::Debug for Prot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let name = match self.0 & 3 {
            0 => "NONE",
            1 => "READ",
            2 => "WRITE",
            _ => "READ|WRITE",
        };
        write!(f, "Prot({name})")
    }
}

impl Prot {
    /// `PROT_NONE`.
    pub const NONE: Prot = Prot(0);
    /// `PROT_READ`.
    pub const READ: Prot = Prot(1);
    /// `PROT_WRITE`.
    pub const WRITE: Prot = Prot(2);
    /// `PROT_READ | PROT_WRITE`.
    pub const RW: Prot = Prot(3);

    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: Prot) -> bool {
        self.0 & other.0 == other.0
    }

    pub(crate) const fn bits(self) -> u8 {
        self.0
    }

    pub(crate) const fn from_bits(bits: u8) -> Prot {
        Prot(bits & 3)
    }

    pub(crate) fn to_prot_flags(self) -> ProtFlags {
        let mut f = ProtFlags::empty();
        if self.contains(Prot::READ) {
            f |= ProtFlags::READ;
        }
        if self.contains(Prot::WRITE) {
            f |= ProtFlags::WRITE;
        }
        f
    }

    pub(crate) fn to_mprotect_flags(self) -> MprotectFlags {
        let mut f = MprotectFlags::empty();
        if self.contains(Prot::READ) {
            f |= MprotectFlags::READ;
        }
        if self.contains(Prot::WRITE) {
            f |= MprotectFlags::WRITE;
        }
        f
    }
}

impl BitOr for Prot {
    type Output = Prot;
    fn bitor(self, rhs: Prot) -> Prot {
        Prot(self.0 | rhs.0)
    }
}

/// `MAP_PRIVATE` or `MAP_SHARED`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Sharing {
    /// `MAP_PRIVATE`: copy-on-write.
    #[default]
    Private,
    /// `MAP_SHARED`.
    Shared,
}

/// Transparent huge page policy applied by [`crate::Mapping::thp_aligned`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Thp {
    /// `madvise(MADV_HUGEPAGE)`.
    Huge,
    /// `madvise(MADV_NOHUGEPAGE)`.
    NoHuge,
    /// No madvise: the system default.
    #[default]
    Unset,
}

/// `madvise` advice used by the HMM tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Advice {
    /// `MADV_HUGEPAGE`.
    Hugepage,
    /// `MADV_NOHUGEPAGE`.
    NoHugepage,
    /// `MADV_FREE` (private anonymous memory may read back as zero later).
    Free,
    /// `MADV_COLLAPSE` (Linux 6.1+): collapse the range into huge pages now.
    Collapse,
    /// `MADV_DONTNEED` (private anonymous memory reads back as zero).
    DontNeed,
    /// `MADV_WILLNEED`.
    WillNeed,
}

/// `MADV_COLLAPSE` from `<asm-generic/mman-common.h>` (not in rustix).
pub(crate) const MADV_COLLAPSE: i32 = 25;

impl Advice {
    /// The rustix advice, or `None` for the ones rustix lacks (raw number instead).
    pub(crate) fn to_rustix(self) -> Option<RxAdvice> {
        match self {
            Advice::Hugepage => Some(RxAdvice::LinuxHugepage),
            Advice::NoHugepage => Some(RxAdvice::LinuxNoHugepage),
            Advice::Free => Some(RxAdvice::LinuxFree),
            Advice::DontNeed => Some(RxAdvice::LinuxDontNeed),
            Advice::WillNeed => Some(RxAdvice::WillNeed),
            Advice::Collapse => None,
        }
    }

    /// The raw `MADV_*` number.
    pub(crate) fn raw(self) -> i32 {
        match self {
            Advice::Collapse => MADV_COLLAPSE,
            other => other.to_rustix().map_or(0, |a| a as i32),
        }
    }
}
