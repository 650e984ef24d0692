//! hmm-rs regression cases, not in upstream hmm-tests.c: a request that maps pages in the
//! device page table racing `madvise(MADV_DONTNEED)` of the same range from another thread.
//!
//! | test | requests | what broke |
//! |---|---|---|
//! | migrate_dontneed_race | MIGRATE_TO_DEV racing MADV_DONTNEED, then READ | the migration mapped its new device pages after the zap had dropped their only mapping: the device page table kept pointing at freed pages, READ returned the old contents |
//! | exclusive_dontneed_race | EXCLUSIVE racing MADV_DONTNEED, then READ | the same window between `make_device_exclusive()` and the store of the atomic entry |
//!
//! After both threads are done the range is zapped whatever the order, so the CPU and the
//! device must both see zeros; a stale entry shows the pattern written before the round.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use hmm_dmirror::{Advice, Counts, Device, Mapping, Mirror, Racing, Request};

use super::prelude::*;

/// Pages per round.
const NPAGES: usize = 256;
/// At most this many rounds, and after [`MIN_ROUNDS`] no more than [`BUDGET`] of them.
const ROUNDS: usize = 96;
const BUDGET: Duration = Duration::from_secs(15);
/// Rounds run whatever they take: on a loaded TCG host a racing request can take seconds
/// (17 s measured at load 12 on 2 cores, against 0.2 s alone), and the budget alone then
/// fit 2 rounds. Within the case's timeout (60 s, scaled by 3 under TCG).
const MIN_ROUNDS: usize = 4;
/// Delays per sweep: round `r` waits `(r % STEPS) / STEPS` of the request's measured duration
/// before the zap.
const STEPS: u32 = 12;

/// `madvise(MADV_DONTNEED)` of the whole buffer from the racing thread; 0 or `-errno`.
fn dontneed(race: &Racing<'_>) -> i32 {
    match race.advise(Advice::DontNeed) {
        Ok(()) => 0,
        Err(e) => neg_errno(&e),
    }
}

/// Spins (a sleep would be far coarser than the window under TCG).
fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// Runs `req` (MIGRATE_TO_DEV or EXCLUSIVE) on the whole buffer through the handle, the
/// kernel copying into `mirror`; `-errno` or 0.
fn dontneed_request(dev: &Device, race: &Racing<'_>, req: Request, mirror: &mut Mirror) -> i32 {
    let res = match req {
        Request::MigrateToDev => race.migrate_to_dev(dev, 0, NPAGES, mirror),
        Request::Exclusive => race.exclusive(dev, 0, NPAGES, mirror),
        other => panic!("{other} is not a request this case races"),
    };
    ret_of(res, &mut Counts::default())
}

impl Hmm {
    /// Fills the buffer with `value` from the CPU and mirrors it (READ), so the file's page
    /// table holds entries on the system pages the next request replaces.
    fn dontneed_prepare(&self, buffer: &Mapping, mirror: &mut Mirror, value: i32) {
        buffer.fill_i32(|_| value);
        let mut counts = Counts::default();
        let ret = ret_of(self.fd.read(buffer.all(), mirror), &mut counts);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(counts.cpages, NPAGES as u64);
    }

    /// The common body: rounds of `req` racing a zap, each checked with READ and the CPU.
    fn dontneed_race(&mut self, req: Request) {
        let size = NPAGES * self.page_size;
        let (mut buffer, mut mirror) = ASSERT_NOT_NULL!(anon_buffer(size));
        let mut counts = Counts::default();

        // How long the request takes alone, to spread the zap over it.
        self.dontneed_prepare(&buffer, &mut mirror, 1);
        let t = Instant::now();
        let ret = dontneed_request(&self.fd, &buffer.racing(), req, &mut mirror);
        let took = t.elapsed();
        ASSERT_EQ!(ret, 0);
        let ret = ret_of(self.fd.migrate_to_sys(buffer.all()), &mut counts);
        ASSERT_EQ!(ret, 0);

        let t0 = Instant::now();
        let mut round = 0;
        let (mut lost, mut slowest) = (0, Duration::ZERO);
        while round < ROUNDS && (round < MIN_ROUNDS || t0.elapsed() < BUDGET) {
            let value = 1000 + round as i32;
            self.dontneed_prepare(&buffer, &mut mirror, value);
            let delay = took * (round as u32 % STEPS) / STEPS;
            let start = Barrier::new(2);
            let fd = &self.fd;
            // The handle lives for the race only: the checks below read the buffer again.
            let race = buffer.racing();
            let (got, zapped) = std::thread::scope(|s| {
                let zapper = s.spawn(|| {
                    start.wait();
                    spin(delay);
                    dontneed(&race)
                });
                start.wait();
                let t = Instant::now();
                let got = dontneed_request(fd, &race, req, &mut mirror);
                slowest = slowest.max(t.elapsed());
                (got, zapper.join())
            });
            ASSERT_EQ!(zapped.unwrap_or(-1), 0);
            // The request may have lost pages to the zap (ENOENT from its read-back); what
            // it read back is the pattern or zeros, page by page.
            if got == -libc::ENOENT {
                lost += 1;
            }
            if got != 0 && got != -libc::ENOENT {
                TH_LOG!("round {round}: {req} returned {got}");
                ASSERT_EQ!(got, 0);
            }
            if got == 0 {
                for i in 0..size / 4 {
                    let v = mirror.get_i32(i);
                    if v != value && v != 0 {
                        TH_LOG!("round {round}: {req} read {v} at int {i}");
                    }
                    ASSERT_TRUE!(v == value || v == 0);
                }
            }

            // Whatever the order, the range is zapped now: the device must read zeros.
            mirror.fill(0xAB);
            let ret = ret_of(self.fd.read(buffer.all(), &mut mirror), &mut counts);
            ASSERT_EQ!(ret, 0);
            ASSERT_EQ!(counts.cpages, NPAGES as u64);
            for i in 0..size / 4 {
                let v = mirror.get_i32(i);
                if v != 0 {
                    TH_LOG!("round {round} (zap after {delay:?} of {took:?}): READ after the race: int {i} holds {v}, expected 0");
                }
                ASSERT_EQ!(v, 0);
            }
            // And so must the CPU.
            for i in 0..size / 4 {
                ASSERT_EQ!(buffer.read_i32(i), 0);
            }
            // Back to system memory for the next round (coherent pages stay put otherwise).
            let ret = ret_of(self.fd.migrate_to_sys(buffer.all()), &mut counts);
            ASSERT_EQ!(ret, 0);
            round += 1;
        }
        TH_LOG!("{round} rounds, request alone {took:?}, racing at most {slowest:?}, {lost} read back ENOENT");
        ASSERT_GE!(round, MIN_ROUNDS);
    }

    /// MIGRATE_TO_DEV racing `MADV_DONTNEED` of its range from another thread. A zap during
    /// the migration's copy removes the migration entries; the new device pages then lose
    /// their last reference at `migrate_vma_finalize()`. The module stores its device page
    /// table entries only if no invalidation ran since the migration started (checked under
    /// the table's lock), and otherwise faults the window in again.
    pub(crate) fn migrate_dontneed_race(&mut self, _variant: &HmmVariant) {
        self.dontneed_race(Request::MigrateToDev);
    }

    /// EXCLUSIVE racing `MADV_DONTNEED` of its range: a zap between `make_device_exclusive()`
    /// and the store of the atomic entry frees the page once the request drops its
    /// reference, while the device page table points at it.
    pub(crate) fn exclusive_dontneed_race(&mut self, _variant: &HmmVariant) {
        self.dontneed_race(Request::Exclusive);
    }
}
