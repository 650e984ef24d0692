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

use hmm_dmirror::{Device, Request};

use super::prelude::*;

/// Pages per round.
const NPAGES: usize = 256;
/// At most this many rounds, and no more than [`BUDGET`] of them.
const ROUNDS: usize = 96;
const BUDGET: Duration = Duration::from_secs(15);
/// Delays per sweep: round `r` waits `(r % STEPS) / STEPS` of the request's measured duration
/// before the zap.
const STEPS: u32 = 12;

/// `madvise(addr, len, MADV_DONTNEED)` from the racing thread.
fn dontneed(addr: usize, len: usize) -> i32 {
    // SAFETY: zaps part of the case's own anonymous mapping, which no Rust reference points
    // into (the buffer is only reached through volatile views, none alive meanwhile).
    unsafe { libc::madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED) }
}

/// Spins (a sleep would be far coarser than the window under TCG).
fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

impl Hmm {
    /// Fills the buffer with `value` from the CPU and mirrors it (READ), so the file's page
    /// table holds entries on the system pages the next request replaces.
    fn dontneed_prepare(&mut self, buffer: &mut HmmBuffer, value: i32) {
        let size = NPAGES * self.page_size;
        let ptr = buffer.ints(size);
        for i in 0..size / 4 {
            ptr.set(i, value);
        }
        let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_READ, buffer, NPAGES as u64);
        ASSERT_EQ!(ret, 0);
        ASSERT_EQ!(buffer.cpages, NPAGES as u64);
    }

    /// Runs `req` on the buffer; `-errno` or 0.
    fn dontneed_request(dev: &Device, req: Request, addr: u64, mirror: u64) -> i32 {
        // SAFETY: the kernel writes at most NPAGES pages into the buffer's mirror (of that
        // size, unused meanwhile); the range is the case's own mapping.
        match unsafe { dev.raw_cmd(req, addr, mirror, NPAGES as u64) } {
            Ok(_) => 0,
            Err(e) => neg_errno(&e),
        }
    }

    /// The common body: rounds of `req` racing a zap, each checked with READ and the CPU.
    fn dontneed_race(&mut self, req: Request) {
        let size = NPAGES * self.page_size;
        let mut buffer = ASSERT_NOT_NULL!(hmm_buffer_alloc(
            size,
            size,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS,
            -1
        ));
        let (addr, mirror) = (buffer.ptr as u64, buffer.mirror_ptr() as u64);

        // How long the request takes alone, to spread the zap over it.
        self.dontneed_prepare(&mut buffer, 1);
        let t = Instant::now();
        let ret = Self::dontneed_request(&self.fd, req, addr, mirror);
        let took = t.elapsed();
        ASSERT_EQ!(ret, 0);
        let ret = hmm_migrate_dev_to_sys(&self.fd, &mut buffer, NPAGES as u64);
        ASSERT_EQ!(ret, 0);

        let t0 = Instant::now();
        let mut round = 0;
        let (mut lost, mut slowest) = (0, Duration::ZERO);
        while round < ROUNDS && t0.elapsed() < BUDGET {
            let value = 1000 + round as i32;
            self.dontneed_prepare(&mut buffer, value);
            let delay = took * (round as u32 % STEPS) / STEPS;
            let start = Barrier::new(2);
            let fd = &self.fd;
            let (got, zapped) = std::thread::scope(|s| {
                let zapper = s.spawn(|| {
                    start.wait();
                    spin(delay);
                    dontneed(addr as usize, size)
                });
                start.wait();
                let t = Instant::now();
                let got = Self::dontneed_request(fd, req, addr, mirror);
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
                let m = buffer.mirror_ints();
                for i in 0..size / 4 {
                    let v = m.get(i);
                    if v != value && v != 0 {
                        TH_LOG!("round {round}: {req} read {v} at int {i}");
                    }
                    ASSERT_TRUE!(v == value || v == 0);
                }
            }

            // Whatever the order, the range is zapped now: the device must read zeros.
            buffer.mirror_fill(0xAB, size);
            let ret = hmm_dmirror_cmd(&self.fd, HMM_DMIRROR_READ, &mut buffer, NPAGES as u64);
            ASSERT_EQ!(ret, 0);
            ASSERT_EQ!(buffer.cpages, NPAGES as u64);
            let m = buffer.mirror_ints();
            for i in 0..size / 4 {
                let v = m.get(i);
                if v != 0 {
                    TH_LOG!("round {round} (zap after {delay:?} of {took:?}): READ after the race: int {i} holds {v}, expected 0");
                }
                ASSERT_EQ!(v, 0);
            }
            // And so must the CPU.
            let ptr = buffer.ints(size);
            for i in 0..size / 4 {
                ASSERT_EQ!(ptr.get(i), 0);
            }
            // Back to system memory for the next round (coherent pages stay put otherwise).
            let ret = hmm_migrate_dev_to_sys(&self.fd, &mut buffer, NPAGES as u64);
            ASSERT_EQ!(ret, 0);
            round += 1;
        }
        TH_LOG!("{round} rounds, request alone {took:?}, racing at most {slowest:?}, {lost} read back ENOENT");
        ASSERT_GE!(round, 4);
        hmm_buffer_free(buffer);
    }

    /// MIGRATE_TO_DEV racing `MADV_DONTNEED` of its range from another thread. A zap during
    /// the migration's copy removes the migration entries; the new device pages then lose
    /// their last reference at `migrate_vma_finalize()`. The module stores its device page
    /// table entries only if no invalidation ran since the migration started (checked under
    /// the table's lock), and otherwise faults the window in again.
    pub(crate) fn migrate_dontneed_race(&mut self, _variant: &HmmVariant) {
        self.dontneed_race(HMM_DMIRROR_MIGRATE_TO_DEV);
    }

    /// EXCLUSIVE racing `MADV_DONTNEED` of its range: a zap between `make_device_exclusive()`
    /// and the store of the atomic entry frees the page once the request drops its
    /// reference, while the device page table points at it.
    pub(crate) fn exclusive_dontneed_race(&mut self, _variant: &HmmVariant) {
        self.dontneed_race(HMM_DMIRROR_EXCLUSIVE);
    }
}
