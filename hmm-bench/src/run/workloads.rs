//! What is timed, for one device, page mode and buffer size (a "group"), and the memcpy
//! reference. Every group starts and ends with no device memory in use (HMM_DMIRROR_RELEASE),
//! so the device allocates its memory afresh in each group's warm-up, in the group's page mode.
//!
//! Per group, on one PMD-aligned private anonymous buffer (MADV_HUGEPAGE or
//! MADV_NOHUGEPAGE), populated by writing every page:
//! - READ / WRITE: the device reads / writes the whole buffer, device page table cold
//!   (an mprotect RW→R→RW before each repetition invalidates it, outside the timer);
//! - MIGRATE_TO_DEV and MIGRATE_TO_SYS: alternately, each timed (as upstream
//!   `benchmark_thp_migration`);
//! - FAULT_BACK (device-private only): MIGRATE_TO_DEV outside the timer, then the CPU reads
//!   one byte of each page, each first touch of a device page faulting it back;
//! - MIGRATE_ON_FAULT_TO_DEV (patched ABI only): page table cold, timed, then MIGRATE_TO_SYS.
//!
//! After the migrations of the warm-up and of the last repetition, a SNAPSHOT (outside the
//! timer) checks where the pages are: a request that moved nothing is an error row, never a
//! fast one.

use super::measure::{repeat, reps_for, FirstAndLast, Samples};
use super::timer::Timer;
use crate::row::{Kind, Memory, Pages, Row, Status};
use crate::stats::Spread;
use anyhow::{bail, Context, Result};
use hmm_dmirror::{Abi, Counts, Device, DeviceMemory, Huge, Mapping, Mirror, Prot, Request, Thp};

/// Device memory of a DEVICE_COHERENT device (one chunk at its `spm_addr_dev*`).
pub const COHERENT_CAPACITY: u64 = 256 << 20;

/// What every row of a run shares.
#[derive(Clone, Debug)]
pub struct Config {
    /// Driver label ("c", "rust").
    pub driver: String,
    /// ABI the device speaks.
    pub abi: Abi,
    /// Accelerator label ("tcg", "kvm", "unknown").
    pub accel: String,
    /// Timed repetitions for buffers of 1 MiB and more (smaller ones get more, see [`reps_for`]).
    pub reps: u32,
    /// Untimed repetitions first.
    pub warmup: u32,
}

/// The kinds measured on a device, in order.
pub const DEVICE_KINDS: [Kind; 6] = [
    Kind::Read,
    Kind::Write,
    Kind::MigrateToDev,
    Kind::MigrateToSys,
    Kind::FaultBack,
    Kind::MigrateOnFaultToDev,
];

struct Group<'a> {
    cfg: &'a Config,
    device: Option<u32>,
    memory: Memory,
    pages: Pages,
    size: u64,
    npages: u64,
    reps: u32,
    huge_frac: Option<f64>,
}

impl Group<'_> {
    fn row(&self, kind: Kind, status: Status, s: Option<Samples>) -> Row {
        let time = s.as_ref().and_then(|s| Spread::of(&s.secs));
        Row {
            driver: self.cfg.driver.clone(),
            abi: self.cfg.abi.name().into(),
            accel: self.cfg.accel.clone(),
            device: self.device,
            memory: self.memory,
            kind,
            pages: self.pages,
            size: self.size,
            npages: self.npages,
            reps: if status.is_ok() { self.reps } else { 0 },
            time: if status.is_ok() { time } else { None },
            cpages: s.and_then(|s| s.counts.map(|c| c.cpages)),
            huge_frac: self.huge_frac,
            memcpy_frac: None,
            status,
        }
    }
    fn outcome(&self, kind: Kind, r: Result<Samples>) -> Row {
        match r {
            Ok(s) => self.row(kind, Status::Ok, Some(s)),
            Err(e) => self.row(kind, Status::Error(format!("{e:#}")), None),
        }
    }
}

fn thp(p: Pages) -> Thp {
    match p {
        Pages::Small => Thp::NoHuge,
        Pages::Thp => Thp::Huge,
    }
}

/// A PMD-aligned private anonymous buffer in the page mode, every page written.
fn buffer(size: u64, pages: Pages) -> Result<Mapping> {
    let len = usize::try_from(size).context("size")?;
    let mut m = Mapping::thp_aligned(len, Prot::RW, thp(pages))?;
    let words_per_page = m.page_size() / 4;
    for (p, chunk) in m.as_i32_slice_mut().chunks_mut(words_per_page).enumerate() {
        chunk[0] = p as i32;
    }
    Ok(m)
}

/// The CPU reads one byte of every page.
fn touch(m: &Mapping) {
    let mut sum = 0u8;
    for off in (0..m.len()).step_by(m.page_size()) {
        // SAFETY: `off` < len and the whole mapping is owned and readable (mapped RW by
        // `buffer`, never unmapped or protected while a group runs); a volatile read of
        // memory the kernel may also change (migration) is what Mapping's accessors do too.
        sum = sum.wrapping_add(unsafe { m.as_ptr().add(off).read_volatile() });
    }
    std::hint::black_box(sum);
}

fn expect(c: Counts, npages: u64, what: Request) -> Result<Option<Counts>> {
    if c.cpages != npages {
        bail!("{what}: cpages {} of {npages}", c.cpages);
    }
    Ok(Some(c))
}

/// Invalidate the device's mirror of the buffer (mmu notifier on mprotect).
fn cold(m: &Mapping) -> Result<()> {
    m.protect(Prot::READ)?;
    m.protect(Prot::RW)?;
    Ok(())
}

/// Check where the buffer's pages are, per the device's SNAPSHOT (outside the timer): all in
/// device memory after a migration to the device, none after one back. C's MIGRATE_TO_DEV
/// reports the pages it read back, not the pages it moved, and MIGRATE_TO_SYS counts a THP
/// as one page, so the counts alone do not say whether anything moved.
fn check_placement(dev: &Device, m: &Mapping, want_on_device: bool, after: Request) -> Result<()> {
    let snap = dev.snapshot(m.all())?;
    let on_dev = snap
        .iter()
        .filter(|p| p.device() != DeviceMemory::None)
        .count();
    let want = if want_on_device { snap.len() } else { 0 };
    if on_dev != want {
        bail!(
            "after {after}, {on_dev} of {} pages are in device memory (expected {want})",
            snap.len()
        );
    }
    Ok(())
}

/// Fraction of the buffer's pages mapped by a PMD, per the device's SNAPSHOT.
fn huge_fraction(dev: &Device, m: &Mapping) -> Result<f64> {
    let snap = dev.snapshot(m.all())?;
    let huge = snap.iter().filter(|p| p.huge() == Huge::Pmd).count();
    Ok(huge as f64 / snap.len() as f64)
}

/// The memcpy reference for one size and page mode: copy a populated buffer into another,
/// one memcpy call per page, as the drivers copy page by page. (One memcpy of the whole
/// buffer is no steadier a yardstick: glibc switches strategy with the size — vector loops,
/// `rep movsb`, non-temporal stores — and under TCG those differ by up to 100x.)
pub fn memcpy(t: &mut Timer, cfg: &Config, pages: Pages, size: u64) -> Row {
    let reps = reps_for(size, cfg.reps);
    let page = hmm_dmirror::page_size() as u64;
    let g = Group {
        cfg,
        device: None,
        memory: Memory::Host,
        pages,
        size,
        npages: size / page,
        reps,
        huge_frac: None,
    };
    let r = (|| {
        let mut src = buffer(size, pages)?;
        let mut dst = buffer(size, pages)?;
        let words_per_page = src.page_size() / 4;
        let (s, d) = (src.as_i32_slice_mut(), dst.as_i32_slice_mut());
        repeat(
            t,
            Kind::Memcpy,
            cfg.warmup,
            reps,
            || Ok(()),
            || {
                for (dp, sp) in d.chunks_mut(words_per_page).zip(s.chunks(words_per_page)) {
                    dp.copy_from_slice(std::hint::black_box(sp));
                }
                std::hint::black_box(&mut *d);
                Ok(None)
            },
            || Ok(()),
        )
    })();
    let mut row = g.outcome(Kind::Memcpy, r);
    row.memcpy_frac = row.time.map(|_| 1.0);
    row
}

/// Every device kind for one device, page mode and size.
pub fn device_group(
    t: &mut Timer,
    cfg: &Config,
    dev: &Device,
    devno: u32,
    pages: Pages,
    size: u64,
) -> Vec<Row> {
    let memory = Memory::of_device(devno);
    let page = hmm_dmirror::page_size() as u64;
    let mut g = Group {
        cfg,
        device: Some(devno),
        memory,
        pages,
        size,
        npages: size / page,
        reps: reps_for(size, cfg.reps),
        huge_frac: None,
    };
    if memory == Memory::Coherent && size > COHERENT_CAPACITY {
        let why = format!(
            "{} MiB > the coherent device's {} MiB",
            size >> 20,
            COHERENT_CAPACITY >> 20
        );
        return DEVICE_KINDS
            .iter()
            .map(|&k| g.row(k, Status::Skipped(why.clone()), None))
            .collect();
    }
    // Start with no device memory allocated (see the module doc).
    let _ = dev.release();
    let m = match buffer(size, pages) {
        Ok(m) => m,
        Err(e) => {
            let why = format!("buffer: {e:#}");
            return DEVICE_KINDS
                .iter()
                .map(|&k| g.row(k, Status::Error(why.clone()), None))
                .collect();
        }
    };
    g.huge_frac = huge_fraction(dev, &m).ok();
    let rows = run_group(t, &g, dev, &m);
    // Leave no device memory behind: back to system memory, unmap, release.
    let _ = dev.migrate_to_sys(m.all());
    drop(m);
    let _ = dev.release();
    rows
}

fn run_group(t: &mut Timer, g: &Group<'_>, dev: &Device, m: &Mapping) -> Vec<Row> {
    let (w, reps, n) = (g.cfg.warmup, g.reps, g.npages);
    let mut mirror = Mirror::for_pages(m.npages());
    mirror.fill(0x5a);
    let mut rows = Vec::new();

    let read = repeat(
        t,
        Kind::Read,
        w,
        reps,
        || cold(m),
        || expect(dev.read(m.all(), &mut mirror)?, n, Request::Read),
        || Ok(()),
    );
    rows.push(g.outcome(Kind::Read, read));
    let write = repeat(
        t,
        Kind::Write,
        w,
        reps,
        || cold(m),
        || expect(dev.write(m.all(), &mirror)?, n, Request::Write),
        || Ok(()),
    );
    rows.push(g.outcome(Kind::Write, write));

    match migrate_pair(t, w, reps, dev, m, &mut mirror, n) {
        Ok((to_dev, to_sys)) => {
            rows.push(g.outcome(Kind::MigrateToDev, Ok(to_dev)));
            rows.push(g.outcome(Kind::MigrateToSys, Ok(to_sys)));
        }
        Err(e) => {
            // The pair alternates: when one direction fails, the other cannot be repeated.
            let why = format!("MIGRATE_TO_DEV/MIGRATE_TO_SYS pair: {e:#}");
            rows.push(g.row(Kind::MigrateToDev, Status::Error(why.clone()), None));
            rows.push(g.row(Kind::MigrateToSys, Status::Error(why), None));
            // Later workloads need the pages in system memory: bring them back if possible.
            let _ = dev.migrate_to_sys(m.all());
        }
    }

    if g.memory == Memory::Coherent {
        let why = "coherent memory is CPU-accessible: no device page faults".to_string();
        rows.push(g.row(Kind::FaultBack, Status::Na(why), None));
    } else {
        let (mut before, mut after) = (FirstAndLast::new(w + reps), FirstAndLast::new(w + reps));
        let fb = repeat(
            t,
            Kind::FaultBack,
            w,
            reps,
            || {
                expect(
                    dev.migrate_to_dev(m.all(), &mut mirror)?,
                    n,
                    Request::MigrateToDev,
                )?;
                if before.due() {
                    check_placement(dev, m, true, Request::MigrateToDev)?;
                }
                Ok(())
            },
            || {
                touch(m);
                Ok(None)
            },
            || {
                if after.due() {
                    check_placement(dev, m, false, Request::MigrateToSys)?;
                }
                Ok(())
            },
        );
        rows.push(g.outcome(Kind::FaultBack, fb));
    }

    if !g.cfg.abi.supports(Request::MigrateOnFaultToDev) {
        let why = format!("not in the {} ABI", g.cfg.abi.name());
        rows.push(g.row(Kind::MigrateOnFaultToDev, Status::Na(why), None));
    } else {
        let mut checks = FirstAndLast::new(w + reps);
        let mof = repeat(
            t,
            Kind::MigrateOnFaultToDev,
            w,
            reps,
            || cold(m),
            || {
                expect(
                    dev.migrate_on_fault_to_dev(m.all(), &mut mirror)?,
                    n,
                    Request::MigrateOnFaultToDev,
                )
            },
            || {
                let check = checks.due();
                if check {
                    check_placement(dev, m, true, Request::MigrateOnFaultToDev)?;
                }
                dev.migrate_to_sys(m.all())?;
                if check {
                    check_placement(dev, m, false, Request::MigrateToSys)?;
                }
                Ok(())
            },
        );
        rows.push(g.outcome(Kind::MigrateOnFaultToDev, mof));
    }
    rows
}

/// MIGRATE_TO_DEV then MIGRATE_TO_SYS, each timed, `warmup + reps` times.
fn migrate_pair(
    t: &mut Timer,
    warmup: u32,
    reps: u32,
    dev: &Device,
    m: &Mapping,
    mirror: &mut Mirror,
    npages: u64,
) -> Result<(Samples, Samples)> {
    let (mut to_dev, mut to_sys) = (Samples::default(), Samples::default());
    let mut checks = FirstAndLast::new(warmup + reps);
    for i in 0..warmup + reps {
        let check = checks.due();
        let (r, t1) = t.timed(Kind::MigrateToDev, i >= warmup, || {
            dev.migrate_to_dev(m.all(), mirror)
        });
        to_dev.counts = expect(r?, npages, Request::MigrateToDev)?;
        if check {
            check_placement(dev, m, true, Request::MigrateToDev)?;
        }
        let (r, t2) = t.timed(Kind::MigrateToSys, i >= warmup, || {
            dev.migrate_to_sys(m.all())
        });
        to_sys.counts = Some(r?);
        if check {
            check_placement(dev, m, false, Request::MigrateToSys)?;
        }
        if i >= warmup {
            to_dev.secs.push(t1);
            to_sys.secs.push(t2);
        }
    }
    Ok((to_dev, to_sys))
}
