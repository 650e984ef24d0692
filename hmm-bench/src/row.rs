//! One measured configuration (a CSV row) and the labels it is keyed by.

use crate::stats::{rate, Spread};
use std::fmt;
use std::str::FromStr;

/// Bytes in a GiB.
pub const GIB: f64 = (1u64 << 30) as f64;

/// What was timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// HMM_DMIRROR_READ of populated system pages, device page table cold.
    Read,
    /// HMM_DMIRROR_WRITE to populated system pages, device page table cold.
    Write,
    /// HMM_DMIRROR_MIGRATE_TO_DEV of populated system pages.
    MigrateToDev,
    /// HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV (patched ABI only).
    MigrateOnFaultToDev,
    /// HMM_DMIRROR_MIGRATE_TO_SYS of pages in device memory.
    MigrateToSys,
    /// CPU reads one byte of every page after MIGRATE_TO_DEV (device-private page faults).
    FaultBack,
    /// The guest's memcpy of a buffer of the same size (the physical reference).
    Memcpy,
}

impl Kind {
    /// Every kind, in table order.
    pub const ALL: [Kind; 7] = [
        Kind::Read,
        Kind::Write,
        Kind::MigrateToDev,
        Kind::MigrateOnFaultToDev,
        Kind::MigrateToSys,
        Kind::FaultBack,
        Kind::Memcpy,
    ];
    /// CSV name.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Read => "READ",
            Kind::Write => "WRITE",
            Kind::MigrateToDev => "MIGRATE_TO_DEV",
            Kind::MigrateOnFaultToDev => "MIGRATE_ON_FAULT_TO_DEV",
            Kind::MigrateToSys => "MIGRATE_TO_SYS",
            Kind::FaultBack => "FAULT_BACK",
            Kind::Memcpy => "MEMCPY",
        }
    }
}

/// Which memory the device has (or the host, for memcpy).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Memory {
    /// DEVICE_PRIVATE (devices 0 and 1).
    Private,
    /// DEVICE_COHERENT (devices 2 and 3).
    Coherent,
    /// System memory only (memcpy).
    Host,
}

impl Memory {
    /// The memory of device `n` (uapi: 0/1 private, 2/3 coherent).
    pub const fn of_device(n: u32) -> Memory {
        if n >= 2 {
            Memory::Coherent
        } else {
            Memory::Private
        }
    }
    /// CSV name.
    pub const fn name(self) -> &'static str {
        match self {
            Memory::Private => "private",
            Memory::Coherent => "coherent",
            Memory::Host => "host",
        }
    }
}

/// The page size the buffer asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pages {
    /// MADV_NOHUGEPAGE: 4 KiB pages.
    Small,
    /// MADV_HUGEPAGE (PMD-aligned): transparent huge pages where the size allows.
    Thp,
}

impl Pages {
    /// CSV name.
    pub const fn name(self) -> &'static str {
        match self {
            Pages::Small => "4k",
            Pages::Thp => "thp",
        }
    }
}

/// How a configuration ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Measured.
    Ok,
    /// The request does not exist for this driver/ABI/memory.
    Na(String),
    /// Not run (does not fit device memory, ...).
    Skipped(String),
    /// A request failed or returned short counts.
    Error(String),
}

impl Status {
    /// Whether there are numbers.
    pub fn is_ok(&self) -> bool {
        matches!(self, Status::Ok)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Ok => f.write_str("ok"),
            Status::Na(r) => write!(f, "n/a: {r}"),
            Status::Skipped(r) => write!(f, "skipped: {r}"),
            Status::Error(r) => write!(f, "error: {r}"),
        }
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Status, String> {
        if s == "ok" {
            return Ok(Status::Ok);
        }
        let (tag, rest) = s
            .split_once(": ")
            .ok_or_else(|| format!("bad status {s:?}"))?;
        let rest = rest.to_string();
        match tag {
            "n/a" => Ok(Status::Na(rest)),
            "skipped" => Ok(Status::Skipped(rest)),
            "error" => Ok(Status::Error(rest)),
            _ => Err(format!("bad status {s:?}")),
        }
    }
}

/// One measured configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Driver label: "c" or "rust".
    pub driver: String,
    /// ABI spoken: "mainline" or "patched".
    pub abi: String,
    /// Guest accelerator: "tcg", "kvm" or "unknown".
    pub accel: String,
    /// Device number (None for memcpy).
    pub device: Option<u32>,
    /// Device memory type.
    pub memory: Memory,
    /// What was timed.
    pub kind: Kind,
    /// Page size asked for.
    pub pages: Pages,
    /// Buffer size in bytes.
    pub size: u64,
    /// Buffer size in base pages.
    pub npages: u64,
    /// Timed repetitions (after one untimed warm-up).
    pub reps: u32,
    /// Outcome.
    pub status: Status,
    /// Seconds per operation (None unless ok).
    pub time: Option<Spread>,
    /// Pages the device reported (cpages of the last repetition), when the request reports it.
    pub cpages: Option<u64>,
    /// Fraction of the buffer's pages that were PMD-mapped before the workloads (snapshot).
    pub huge_frac: Option<f64>,
    /// Median throughput as a fraction of the memcpy median of the same size and pages.
    pub memcpy_frac: Option<f64>,
}

impl Row {
    /// For tests: a READ row of device 0 (private, 4 KiB pages), mainline ABI, TCG, 3
    /// repetitions, ok with `time`; a test changes what it is about with `Row { .., ..row }`.
    #[cfg(test)]
    pub(crate) fn read_for_test(driver: &str, size: u64, time: Option<Spread>) -> Row {
        Row {
            driver: driver.into(),
            abi: "mainline".into(),
            accel: "tcg".into(),
            device: Some(0),
            memory: Memory::Private,
            kind: Kind::Read,
            pages: Pages::Small,
            size,
            npages: size / 4096,
            reps: 3,
            status: Status::Ok,
            time,
            cpages: None,
            huge_frac: None,
            memcpy_frac: None,
        }
    }

    /// Whether the row was measured in instruction time (`tcg-icount`): the guest clock
    /// counts executed instructions, so other work can only add to a sample, never take
    /// from it, and the least disturbed sample is the smallest.
    pub fn instruction_time(&self) -> bool {
        self.accel.ends_with("icount")
    }
    /// The row's figure in seconds per operation: the minimum in instruction time, the
    /// median otherwise (wall-clock samples also vary downward: caches, host load).
    pub fn secs(&self) -> Option<f64> {
        self.time.map(|t| {
            if self.instruction_time() {
                t.min
            } else {
                t.median
            }
        })
    }
    /// What [`Row::secs`] is: "min" or "median".
    pub fn statistic(&self) -> &'static str {
        if self.instruction_time() {
            "min"
        } else {
            "median"
        }
    }
    /// How far the samples around the figure lie from it, as a fraction of it: in
    /// instruction time the first quartile over the minimum (0: a quarter of the samples
    /// executed the same instructions as the least disturbed one), otherwise the
    /// interquartile range over the median.
    pub fn spread(&self) -> Option<f64> {
        let t = self.time?;
        let s = self.secs()?;
        (s > 0.0).then(|| {
            if self.instruction_time() {
                (t.q1 - t.min) / s
            } else {
                t.iqr() / s
            }
        })
    }
    /// Throughput in GiB/s (of [`Row::secs`]).
    pub fn gib_per_s(&self) -> Option<f64> {
        self.secs().map(|s| rate(self.size as f64 / GIB, s))
    }
    /// Throughput spread in GiB/s: (min, q1, q3, max) — from the max, q3, q1, min times.
    pub fn gib_spread(&self) -> Option<(f64, f64, f64, f64)> {
        let g = self.size as f64 / GIB;
        self.time
            .map(|t| (rate(g, t.max), rate(g, t.q3), rate(g, t.q1), rate(g, t.min)))
    }
    /// Throughput in base pages per second (of [`Row::secs`]).
    pub fn pages_per_s(&self) -> Option<f64> {
        self.secs().map(|s| rate(self.npages as f64, s))
    }
    /// The key rows of different drivers are compared by.
    pub fn key(&self) -> Key {
        Key {
            memory: self.memory,
            kind: self.kind,
            pages: self.pages,
            size: self.size,
        }
    }
}

/// What makes two rows comparable across drivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// Device memory type.
    pub memory: Memory,
    /// What was timed.
    pub kind: Kind,
    /// Page size asked for.
    pub pages: Pages,
    /// Buffer size in bytes.
    pub size: u64,
}

macro_rules! from_name {
    ($t:ty) => {
        impl FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<$t, String> {
                <$t>::VALUES
                    .iter()
                    .copied()
                    .find(|v| v.name() == s)
                    .ok_or_else(|| format!("unknown {} {s:?}", stringify!($t)))
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

impl Kind {
    const VALUES: [Kind; 7] = Kind::ALL;
}
impl Memory {
    const VALUES: [Memory; 3] = [Memory::Private, Memory::Coherent, Memory::Host];
}
impl Pages {
    const VALUES: [Pages; 2] = [Pages::Small, Pages::Thp];
}
from_name!(Kind);
from_name!(Memory);
from_name!(Pages);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in Kind::ALL {
            assert_eq!(k.name().parse::<Kind>().unwrap(), k);
        }
        for m in Memory::VALUES {
            assert_eq!(m.to_string().parse::<Memory>().unwrap(), m);
        }
        for p in Pages::VALUES {
            assert_eq!(p.to_string().parse::<Pages>().unwrap(), p);
        }
        assert!("nope".parse::<Kind>().is_err());
    }

    #[test]
    fn status_round_trip() {
        for s in [
            Status::Ok,
            Status::Na("not in the mainline ABI".into()),
            Status::Skipped("256M > 128M".into()),
            Status::Error("EFAULT: x".into()),
        ] {
            assert_eq!(s.to_string().parse::<Status>().unwrap(), s);
        }
    }

    #[test]
    fn throughput_from_median_and_spread_from_extremes() {
        let r = Row::read_for_test("c", 1 << 30, Spread::of(&[1.0, 2.0, 4.0]));
        assert_eq!(r.gib_per_s(), Some(0.5));
        assert_eq!(r.pages_per_s(), Some((1u64 << 18) as f64 / 2.0));
        let (min, _, _, max) = r.gib_spread().unwrap();
        assert_eq!((min, max), (0.25, 1.0));
        assert_eq!(Memory::of_device(2), Memory::Coherent);
        assert_eq!(Memory::of_device(1), Memory::Private);
        // Wall clock: the spread is the interquartile range over the median.
        assert_eq!((r.statistic(), r.spread()), ("median", Some(0.75)));
        // Instruction time: the minimum, and the first quartile's distance from it.
        let ic = Row {
            accel: "tcg-icount".into(),
            ..r
        };
        assert_eq!(ic.statistic(), "min");
        assert_eq!(ic.gib_per_s(), Some(1.0));
        assert_eq!(ic.pages_per_s(), Some((1u64 << 18) as f64));
        assert_eq!(ic.spread(), Some(0.5));
    }
}
