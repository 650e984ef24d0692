//! `hmm-robust stress`: threads (and a forked child) for a bounded time doing migrations,
//! migrate-on-fault, device reads and writes, snapshots, exclusive access, munmap / mremap /
//! mprotect and CPU touches on overlapping ranges of one arena, two files on one device, a
//! file closed while a request on it is in flight, and RELEASE under load.
//!
//! Contents: the arena is cut into blocks; each block has one owner thread, the only one that
//! changes its contents (CPU writes, device WRITE, munmap) or its mapping; every thread runs
//! contents-preserving requests (migrations, reads, snapshots, exclusive) over any range. Each
//! owner keeps the generation of every page it owns, so the expected contents of its pages
//! are exact; they are checked during the run (device READ, CPU) and at the end.
use crate::stats::Stats;
use crate::sys::{self, page_size};
use crate::verdict::{self, Run};
use anyhow::{bail, Result};
use hmm_dmirror::sys::hmm_dmirror_cmd;
use hmm_dmirror::{Abi, Mirror, PageState, Request};
use std::collections::BTreeMap;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Pages per block.
const BP: usize = 8;
/// Pages of each thread's mirror.
const MIRROR: usize = 64;

/// Where [`Worker::check_owned`] reads the pages it checks.
#[derive(Clone, Copy)]
enum Data {
    /// The thread's mirror (what the device copied out).
    Mirror,
    /// The arena pages themselves (what the CPU sees).
    Arena,
}

/// Options.
pub struct Opts {
    /// PRNG seed.
    pub seed: u64,
    /// Duration.
    pub seconds: u64,
    /// Worker threads in the parent.
    pub threads: usize,
    /// ABI.
    pub abi: Abi,
    /// Also fork a child that stresses its own copy.
    pub fork: bool,
    /// A thread that issues RELEASE every few hundred ms.
    pub release: bool,
}

/// The expected value of word `w` of page `p` at generation `g` (0: a fresh zero page).
fn word(g: u32, p: usize, w: usize) -> u64 {
    if g == 0 {
        0
    } else {
        (u64::from(g) << 40) | ((p as u64) << 16) | w as u64 | 1 << 63
    }
}

fn page_bytes(g: u32, p: usize) -> Vec<u8> {
    let ps = page_size();
    let mut v = Vec::with_capacity(ps);
    for w in 0..ps / 8 {
        v.extend_from_slice(&word(g, p, w).to_ne_bytes());
    }
    v
}

/// What all threads share.
struct Shared {
    base: usize,
    nblocks: usize,
    /// Per-thread spare ranges for mremap (BP pages each).
    spare: usize,
    devs: Vec<(RawFd, u32)>,
    abi: Abi,
    deadline: Instant,
    threads: usize,
    nullfd: RawFd,
    ops: AtomicU64,
    releases: AtomicU64,
    busy_closes: AtomicU64,
    stop: AtomicBool,
}

struct Worker<'a> {
    sh: &'a Shared,
    id: usize,
    rng: fastrand::Rng,
    /// Generation of each page (only the owned ones matter).
    gen: Vec<u32>,
    next_gen: u32,
    mirror: usize,
    mirror2: usize,
    st: Stats,
    ops: BTreeMap<&'static str, u64>,
    /// An own block whose mapping could not be restored, and why (the run stops, which
    /// fails it; the block's pages are not checked).
    lost: Option<(usize, String)>,
    /// Helper threads of this worker that panicked, with the message.
    panics: Vec<String>,
}

fn code(abi: Abi, r: Request) -> Option<u32> {
    abi.request_code(r)
}

impl Worker<'_> {
    fn page_addr(&self, p: usize) -> usize {
        self.sh.base + p * page_size()
    }
    fn owns_block(&self, b: usize) -> bool {
        b % self.sh.threads == self.id
    }
    fn own_blocks(&self) -> Vec<usize> {
        (0..self.sh.nblocks)
            .filter(|&b| self.owns_block(b))
            .collect()
    }
    fn rand_own_block(&mut self) -> usize {
        let v = self.own_blocks();
        v[self.rng.usize(..v.len())]
    }
    fn owns_page(&self, p: usize) -> bool {
        self.owns_block(p / BP)
    }

    /// A request on pages `[first, first + npages)` of the arena with this thread's mirror
    /// as `ptr`; records its result under `kind`. The range and the mirror are fixed here,
    /// not passed in, so no caller can point the kernel at memory Rust uses.
    fn req(
        &mut self,
        kind: &'static str,
        fd: RawFd,
        r: Request,
        first: usize,
        npages: u64,
    ) -> (Result<(), i32>, hmm_dmirror_cmd) {
        let n = usize::try_from(npages).unwrap_or(usize::MAX);
        assert!(
            n <= MIRROR && first.saturating_add(n) <= self.sh.nblocks * BP,
            "stress request outside the arena or the mirror: pages {first}+{n}"
        );
        let mut cmd = hmm_dmirror_cmd {
            addr: self.page_addr(first) as u64,
            ptr: self.mirror as u64,
            npages,
            cpages: 0,
            faults: 0,
        };
        let Some(c) = code(self.sh.abi, r) else {
            return (Err(libc::ENOTTY), cmd);
        };
        // SAFETY: the range lies in the stress arena and the kernel writes at most `npages`
        // pages into this thread's mirror, which holds MIRROR pages (both checked above);
        // neither holds a Rust object: both are only accessed through volatile copies and
        // requests (WRITE, the one request that changes the range, is sent on this thread's
        // own blocks only); the cmd is a live local.
        let res = unsafe { sys::ioctl(fd, c, std::ptr::from_mut(&mut cmd) as usize) };
        self.st.record(kind, res);
        (res, cmd)
    }

    fn rand_dev(&mut self) -> RawFd {
        self.sh.devs[self.rng.usize(..self.sh.devs.len())].0
    }

    /// Any range of the arena: (first page, pages).
    fn any_range(&mut self) -> (usize, usize) {
        let total = self.sh.nblocks * BP;
        let n = self.rng.usize(1..=32.min(total));
        let first = self.rng.usize(..=total - n);
        (first, n)
    }

    /// Check the owned pages of [first, first+n) in `data`: this thread's mirror (the
    /// device's copy, n <= MIRROR pages) or the arena itself (the CPU's).
    fn check_owned(&mut self, what: &str, first: usize, n: usize, data: Data) {
        let ps = page_size();
        assert!(n <= MIRROR && first.saturating_add(n) <= self.sh.nblocks * BP);
        for i in 0..n {
            let p = first + i;
            if !self.owns_page(p) {
                continue;
            }
            let at = match data {
                Data::Mirror => self.mirror + i * ps,
                Data::Arena => self.page_addr(p),
            };
            let mut got = vec![0u8; ps];
            // SAFETY: `at` is a page of this thread's mirror (MIRROR pages, n checked) or one
            // of its own arena blocks, which stay mapped readable between this thread's ops
            // (an op that cannot restore a block loses it and stops the stress).
            unsafe { sys::read_mem(at, &mut got) };
            self.st.pages_verified += 1;
            if got != page_bytes(self.gen[p], p) {
                self.st.mismatch(format!(
                    "stress thread {}: {what}: page {p} (gen {}) differs",
                    self.id, self.gen[p]
                ));
                return;
            }
        }
    }

    fn op(&mut self) {
        let ps = page_size();
        let abi = self.sh.abi;
        let choice = self.rng.u32(..100);
        let name: &'static str = match choice {
            0..=9 => {
                // CPU write of (part of) an own block.
                let b = self.rand_own_block();
                let g = self.next_gen();
                for i in 0..self.rng.usize(1..=BP) {
                    let p = b * BP + i;
                    // SAFETY: an own block, mapped read-write between this thread's own ops.
                    unsafe { sys::write_mem(self.page_addr(p), &page_bytes(g, p)) };
                    self.gen[p] = g;
                }
                "cpu-write"
            }
            10..=19 => {
                let b = self.rand_own_block();
                self.check_owned("cpu read", b * BP, BP, Data::Arena);
                "cpu-read"
            }
            20..=27 => {
                // Device WRITE of an own block range.
                let b = self.rand_own_block();
                let n = self.rng.usize(1..=BP);
                let g = self.next_gen();
                for i in 0..n {
                    // SAFETY: this thread's mirror, read-write, MIRROR pages.
                    unsafe { sys::write_mem(self.mirror + i * ps, &page_bytes(g, b * BP + i)) };
                }
                let fd = self.rand_dev();
                let (r, _) = self.req("WRITE", fd, Request::Write, b * BP, n as u64);
                for i in 0..n {
                    let p = b * BP + i;
                    let mut got = vec![0u8; ps];
                    // SAFETY: own block, read-write.
                    unsafe { sys::read_mem(self.page_addr(p), &mut got) };
                    self.st.pages_verified += 1;
                    if got == page_bytes(g, p) {
                        self.gen[p] = g;
                    } else if got != page_bytes(self.gen[p], p) || r.is_ok() {
                        self.st.mismatch(format!("stress thread {}: WRITE {:?}: page {p} holds neither old nor new contents", self.id, r));
                    }
                }
                "dev-write"
            }
            28..=37 => {
                let (f, n) = self.any_range();
                let fd = self.rand_dev();
                let r = if self.rng.bool() {
                    Request::Read
                } else {
                    Request::ReadUnlocked
                };
                if let (Ok(()), _) = self.req(
                    if r == Request::Read {
                        "READ"
                    } else {
                        "READ_UNLOCKED"
                    },
                    fd,
                    r,
                    f,
                    n as u64,
                ) {
                    self.check_owned("device read", f, n, Data::Mirror);
                }
                "dev-read"
            }
            38..=49 => {
                let (f, n) = self.any_range();
                let fd = self.rand_dev();
                if let (Ok(()), _) =
                    self.req("MIGRATE_TO_DEV", fd, Request::MigrateToDev, f, n as u64)
                {
                    self.check_owned("migrate to device", f, n, Data::Mirror);
                }
                "migrate-to-dev"
            }
            50..=54 if abi.supports(Request::MigrateOnFaultToDev) => {
                let (f, n) = self.any_range();
                let fd = self.rand_dev();
                if let (Ok(()), _) = self.req(
                    "MIGRATE_ON_FAULT",
                    fd,
                    Request::MigrateOnFaultToDev,
                    f,
                    n as u64,
                ) {
                    self.check_owned("migrate on fault", f, n, Data::Mirror);
                }
                "migrate-on-fault"
            }
            50..=62 => {
                let (f, n) = self.any_range();
                let fd = self.rand_dev();
                let _ = self.req("MIGRATE_TO_SYS", fd, Request::MigrateToSys, f, n as u64);
                "migrate-to-sys"
            }
            63..=68 => {
                let (f, n) = self.any_range();
                let fd = self.rand_dev();
                if let (Ok(()), _) = self.req("SNAPSHOT", fd, Request::Snapshot, f, n as u64) {
                    let mut b = vec![0u8; n];
                    // SAFETY: own mirror.
                    unsafe { sys::read_mem_bytes(self.mirror, &mut b) };
                    if let Some(x) = b.iter().find(|x| PageState::from_byte(**x).is_err()) {
                        self.st
                            .violation(format!("stress: snapshot byte {x:#x} is no defined state"));
                    }
                }
                "snapshot"
            }
            69..=74 => {
                let (f, n) = self.any_range();
                let fd = self.rand_dev();
                if let (Ok(()), _) = self.req("EXCLUSIVE", fd, Request::Exclusive, f, n as u64) {
                    self.check_owned("exclusive", f, n, Data::Mirror);
                    let _ = self.req("CHECK_EXCLUSIVE", fd, Request::CheckExclusive, f, n as u64);
                }
                "exclusive"
            }
            75..=80 => {
                // mprotect an own block read-only / none and back, with requests in between.
                let b = self.rand_own_block();
                let a = self.page_addr(b * BP);
                let prot = if self.rng.bool() {
                    libc::PROT_READ
                } else {
                    libc::PROT_NONE
                };
                // SAFETY: an own block of the arena `run` mapped for raw access: no Rust
                // object lives there, and only this thread touches it with the CPU (through
                // read_mem/write_mem, after the protection is back to read-write below).
                let _ = unsafe { sys::mprotect(a, BP * ps, prot) };
                let fd = self.rand_dev();
                let _ = self.req(
                    "MIGRATE_TO_DEV",
                    fd,
                    Request::MigrateToDev,
                    b * BP,
                    BP as u64,
                );
                std::thread::yield_now();
                // SAFETY: as above; making the block read-write again takes nothing away.
                let back = unsafe { sys::mprotect(a, BP * ps, libc::PROT_READ | libc::PROT_WRITE) };
                if let Err(e) = back {
                    self.lose(b, format!("mprotect of block {b} back to RW: errno {e}"));
                    return;
                }
                self.check_owned("after mprotect", b * BP, BP, Data::Arena);
                "mprotect"
            }
            81..=84 => {
                // Unmap an own block's pages and map fresh zero pages there. The old mapping
                // is replaced by MAP_FIXED (PROT_NONE: the kernel unmaps it like munmap, the
                // device sees the same MMU_NOTIFY_UNMAP invalidation) and only then by a
                // read-write one: a real hole could be taken meanwhile by another thread's
                // mmap (a new thread's signal stack), which the re-map would then clobber.
                let b = self.rand_own_block();
                let a = self.page_addr(b * BP);
                let anon = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
                // SAFETY: this thread's own block; only this thread touches it with the CPU.
                let r = unsafe { sys::mmap_fixed(a, BP * ps, libc::PROT_NONE, anon, -1, 0) };
                if r.is_ok() {
                    let fd = self.rand_dev();
                    let _ = self.req("READ(unmapped)", fd, Request::Read, b * BP, BP as u64);
                }
                // SAFETY: as above.
                let r = r.and_then(|()| unsafe {
                    sys::mmap_fixed(a, BP * ps, libc::PROT_READ | libc::PROT_WRITE, anon, -1, 0)
                });
                if let Err(e) = r {
                    self.lose(b, format!("re-map of block {b}: {e:#}"));
                    return;
                }
                for p in b * BP..(b + 1) * BP {
                    self.gen[p] = 0;
                }
                "munmap"
            }
            85..=91 => {
                // mremap an own block to this thread's spare range and back (MREMAP_DONTUNMAP:
                // the block's range stays mapped, empty, while its pages are away).
                let b = self.rand_own_block();
                let a = self.page_addr(b * BP);
                let s = self.sh.spare + self.id * BP * ps;
                // SAFETY: `a` is an own block of the arena and `s` this thread's own spare
                // range (PROT_NONE until now): no Rust object lives in either, and no other
                // thread touches them with the CPU or remaps them.
                if unsafe { sys::mremap_fixed(a, BP * ps, s) }.is_ok() {
                    let fd = self.rand_dev();
                    let _ = self.req(
                        "MIGRATE_TO_DEV(moved)",
                        fd,
                        Request::MigrateToDev,
                        b * BP,
                        BP as u64,
                    );
                    // SAFETY: the same two ranges, the pages moved back.
                    if unsafe { sys::mremap_fixed(s, BP * ps, a) }.is_err() {
                        self.lose(b, format!("mremap back of block {b} failed"));
                        return;
                    }
                }
                self.check_owned("after mremap", b * BP, BP, Data::Arena);
                "mremap"
            }
            92 => {
                self.busy_close();
                "close-while-busy"
            }
            _ => {
                // CPU touch of every own page (faults device pages back).
                let own = self.own_blocks();
                let b = own[self.rng.usize(..own.len())];
                self.check_owned("cpu touch", b * BP, BP, Data::Arena);
                "cpu-touch"
            }
        };
        *self.ops.entry(name).or_default() += 1;
        self.sh.ops.fetch_add(1, Ordering::Relaxed);
    }

    /// Own block `b` could not be restored: the stress stops (a FAIL, with `why`).
    fn lose(&mut self, b: usize, why: String) {
        let why = format!("stress thread {}: {why}", self.id);
        self.st.problem(why.clone());
        self.lost = Some((b, why));
        self.sh.stop.store(true, Ordering::Relaxed);
    }

    fn next_gen(&mut self) -> u32 {
        self.next_gen += 1;
        self.next_gen
    }

    /// A new file on a device, a helper thread keeps migrating and reading through it, and
    /// the file is replaced (dup2 of /dev/null: no fd number reuse) while a request runs.
    fn busy_close(&mut self) {
        let (_, n) = self.sh.devs[self.rng.usize(..self.sh.devs.len())];
        let path = format!("/dev/hmm_dmirror{n}\0");
        // SAFETY: open(2) with a NUL-terminated path.
        let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDWR | libc::O_CLOEXEC) };
        if fd < 0 {
            // The device opened at the start: a failure now is a failed operation.
            self.st.violation(format!(
                "stress thread {}: close-while-busy: open {}: errno {}",
                self.id,
                path.trim_end_matches('\0'),
                sys::errno()
            ));
            return;
        }
        let (f, cnt) = self.any_range();
        let addr = self.page_addr(f);
        let mirror2 = self.mirror2;
        let abi = self.sh.abi;
        let delay = self.rng.u64(0..3000);
        let helper_stats = std::thread::scope(|s| {
            let h = s.spawn(move || {
                let mut st = Stats::default();
                for i in 0..16 {
                    let r = if i % 2 == 0 {
                        Request::MigrateToDev
                    } else {
                        Request::Read
                    };
                    let Some(c) = abi.request_code(r) else { break };
                    let mut cmd = hmm_dmirror_cmd {
                        addr: addr as u64,
                        ptr: mirror2 as u64,
                        npages: cnt as u64,
                        cpages: 0,
                        faults: 0,
                    };
                    // SAFETY: the range is in the stress arena (contents-preserving requests),
                    // ptr is this thread's second mirror.
                    let res = unsafe { sys::ioctl(fd, c, std::ptr::from_mut(&mut cmd) as usize) };
                    let kind = if r == Request::MigrateToDev {
                        "busy-close:MIGRATE_TO_DEV"
                    } else {
                        "busy-close:READ"
                    };
                    st.record(kind, res);
                    if res == Err(libc::ENOTTY) || res == Err(libc::EBADF) {
                        break;
                    }
                }
                st
            });
            std::thread::sleep(Duration::from_micros(delay));
            // SAFETY: fd is ours; dup2 atomically replaces the device file by /dev/null.
            unsafe { libc::dup2(self.sh.nullfd, fd) };
            h.join()
        });
        let helper_stats = match helper_stats {
            Ok(st) => st,
            Err(p) => {
                let why = format!(
                    "stress thread {}: the close-while-busy helper panicked: {}",
                    self.id,
                    verdict::panic_message(p.as_ref())
                );
                self.st.problem(why.clone());
                self.panics.push(why);
                Stats::default()
            }
        };
        // SAFETY: closing the fd this function opened.
        unsafe { libc::close(fd) };
        self.st.merge(helper_stats);
        self.sh.busy_closes.fetch_add(1, Ordering::Relaxed);
        // The pages that file migrated must still read back right.
        let b = f / BP;
        for blk in b..=((f + cnt - 1) / BP).min(self.sh.nblocks - 1) {
            if self.owns_block(blk) {
                self.check_owned("after close-while-busy", blk * BP, BP, Data::Arena);
            }
        }
    }
}

fn open_devs(abi: Abi) -> Result<Vec<(RawFd, u32)>> {
    let mut v = Vec::new();
    for n in 0..4u32 {
        let path = format!("/dev/hmm_dmirror{n}\0");
        // SAFETY: open(2) with a NUL-terminated path.
        let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDWR | libc::O_CLOEXEC) };
        if fd < 0 {
            if n < 2 {
                bail!(
                    "{}: errno {} (load the driver first)",
                    path.trim_end_matches('\0'),
                    sys::errno()
                );
            }
            continue;
        }
        v.push((fd, n));
        if n == 0 {
            // Two files on one device.
            // SAFETY: as above.
            let fd2 = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDWR | libc::O_CLOEXEC) };
            if fd2 >= 0 {
                v.push((fd2, 0));
            }
        }
    }
    let _ = abi;
    Ok(v)
}

/// One process's part of the stress.
struct Part {
    st: Stats,
    ops: BTreeMap<&'static str, u64>,
    releases: u64,
    busy_closes: u64,
    run: Run,
}

/// One process's part: `threads` workers over the arena from `start` to `deadline`.
#[allow(clippy::too_many_arguments)]
fn stress_here(
    o: &Opts,
    base: usize,
    nblocks: usize,
    spare: usize,
    gen: &[u32],
    threads: usize,
    seed: u64,
    start: Instant,
    deadline: Instant,
) -> Result<Part> {
    let devs = open_devs(o.abi)?;
    // SAFETY: open(2) with a NUL-terminated path.
    let nullfd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    let sh = Shared {
        base,
        nblocks,
        spare,
        devs,
        abi: o.abi,
        deadline,
        threads,
        nullfd,
        ops: AtomicU64::new(0),
        releases: AtomicU64::new(0),
        busy_closes: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    };
    // Two mirrors per thread, owned here until every worker has joined (the scope below);
    // the workers reach them only through these addresses (volatile copies and requests).
    let mut mirror_bufs = (0..threads * 2)
        .map(|_| Mirror::try_for_pages(MIRROR))
        .collect::<hmm_dmirror::Result<Vec<Mirror>>>()?;
    let mirrors: Vec<usize> = mirror_bufs
        .iter_mut()
        .map(|m| m.as_mut_ptr() as usize)
        .collect();
    let mut total = Stats::default();
    let mut ops: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut run = Run::default();
    let mut last_stop = start;
    std::thread::scope(|s| {
        let sh = &sh;
        let mut hs = Vec::new();
        for id in 0..threads {
            let gen = gen.to_vec();
            let (m1, m2) = (mirrors[2 * id], mirrors[2 * id + 1]);
            hs.push(s.spawn(move || {
                let mut w = Worker {
                    sh,
                    id,
                    rng: fastrand::Rng::with_seed(seed.wrapping_mul(1000).wrapping_add(id as u64)),
                    gen,
                    next_gen: 1 + (id as u32) * 0x10_0000 + ((seed as u32) & 0xff) * 0x100_0000,
                    mirror: m1,
                    mirror2: m2,
                    st: Stats::default(),
                    ops: BTreeMap::new(),
                    lost: None,
                    panics: Vec::new(),
                };
                // A panic ends this worker only: what it counted so far (mismatches included)
                // is kept, and the panic fails the run.
                let looped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    while Instant::now() < sh.deadline && !sh.stop.load(Ordering::Relaxed) {
                        w.op();
                    }
                }));
                let stopped = Instant::now();
                match looped {
                    Ok(()) => {
                        // Final check of every own page.
                        for b in w.own_blocks() {
                            if w.lost.as_ref().is_some_and(|(l, _)| *l == b) {
                                continue;
                            }
                            w.check_owned("final", b * BP, BP, Data::Arena);
                        }
                    }
                    Err(p) => {
                        // Its pages' generations may be mid-update: no final check.
                        let why = format!(
                            "stress thread {id} panicked: {}",
                            verdict::panic_message(p.as_ref())
                        );
                        w.st.problem(why.clone());
                        w.panics.push(why);
                    }
                }
                (w.st, w.ops, stopped, w.lost.map(|(_, why)| why), w.panics)
            }));
        }
        let releaser = o.release.then(|| {
            let sh2 = sh;
            s.spawn(move || {
                let mut st = Stats::default();
                let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed);
                while Instant::now() < sh2.deadline && !sh2.stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(rng.u64(200..800)));
                    let (fd, _) = sh2.devs[rng.usize(..sh2.devs.len())];
                    if let Some(c) = sh2.abi.request_code(Request::Release) {
                        let mut cmd = hmm_dmirror_cmd {
                            addr: 0,
                            ptr: 0,
                            npages: 1,
                            cpages: 0,
                            faults: 0,
                        };
                        // SAFETY: RELEASE touches no user memory besides the local cmd.
                        let r = unsafe { sys::ioctl(fd, c, std::ptr::from_mut(&mut cmd) as usize) };
                        st.record("RELEASE", r);
                        sh2.releases.fetch_add(1, Ordering::Relaxed);
                    }
                }
                st
            })
        });
        for (id, h) in hs.into_iter().enumerate() {
            match h.join() {
                Ok((st, op, stopped, lost, panics)) => {
                    total.merge(st);
                    for (k, v) in op {
                        *ops.entry(k).or_default() += v;
                    }
                    last_stop = last_stop.max(stopped);
                    run.lost.extend(lost);
                    run.panics.extend(panics);
                }
                Err(p) => {
                    let why = format!(
                        "stress thread {id} panicked after its operations: {}",
                        verdict::panic_message(p.as_ref())
                    );
                    total.problem(why.clone());
                    run.panics.push(why);
                }
            }
        }
        match releaser.map(|h| h.join()) {
            Some(Ok(st)) => total.merge(st),
            Some(Err(p)) => {
                let why = format!(
                    "the RELEASE thread panicked: {}",
                    verdict::panic_message(p.as_ref())
                );
                total.problem(why.clone());
                run.panics.push(why);
            }
            None => {}
        }
    });
    run.ran = last_stop.saturating_duration_since(start);
    // Every worker has joined: nothing uses the mirrors' addresses any more.
    drop(mirror_bufs);
    for &(fd, _) in &sh.devs {
        // SAFETY: closing fds opened above.
        unsafe { libc::close(fd) };
    }
    Ok(Part {
        st: total,
        ops,
        releases: sh.releases.load(Ordering::Relaxed),
        busy_closes: sh.busy_closes.load(Ordering::Relaxed),
        run,
    })
}

/// Run the stress; returns whether it passed.
pub fn run(o: &Opts) -> Result<bool> {
    let ps = page_size();
    let t0 = Instant::now();
    let threads = o.threads.max(1);
    let nblocks = 16 * threads;
    let len = nblocks * BP * ps;
    let base = sys::mmap(
        len,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
        -1,
    )?;
    let spare = sys::mmap(
        threads.max(4) * BP * ps,
        libc::PROT_NONE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
        -1,
    )?;
    // Initial contents: generation 1 everywhere.
    let gen = vec![1u32; nblocks * BP];
    for p in 0..nblocks * BP {
        // SAFETY: the arena was just mapped read-write.
        unsafe { sys::write_mem(base + p * ps, &page_bytes(1, p)) };
    }
    println!(
        "hmm-robust stress: seed={} seconds={} threads={} abi={} arena={} pages at {base:#x}, spare at {spare:#x}",
        o.seed,
        o.seconds,
        threads,
        o.abi.name(),
        nblocks * BP
    );
    // Before forking: half of the arena on device 0, so the child inherits device pages.
    let mut pre = Stats::default();
    let mut child: Option<(libc::pid_t, RawFd)> = None;
    if o.fork {
        let devs = open_devs(o.abi)?;
        if let Some(c) = o.abi.request_code(Request::MigrateToDev) {
            let mut mirror = Mirror::try_for_pages(nblocks * BP / 2)?;
            let mut cmd = hmm_dmirror_cmd {
                addr: base as u64,
                ptr: mirror.as_mut_ptr() as u64,
                npages: (nblocks * BP / 2) as u64,
                cpages: 0,
                faults: 0,
            };
            // SAFETY: MIGRATE_TO_DEV keeps the contents of the arena's first half and writes
            // as many bytes into `mirror`, a fresh buffer of that size that no reference
            // observes until the call returns.
            let r = unsafe { sys::ioctl(devs[0].0, c, std::ptr::from_mut(&mut cmd) as usize) };
            pre.record("MIGRATE_TO_DEV(before fork)", r);
            println!(
                "  before fork: MIGRATE_TO_DEV of {} pages: {}",
                cmd.npages,
                sys::errno_name(r.err().unwrap_or(0))
            );
        }
        for (fd, _) in devs {
            // SAFETY: closing fds opened above (this also tells the driver the file is gone).
            unsafe { libc::close(fd) };
        }
    }
    // The stress's seconds count from here, after the set-up.
    let start = Instant::now();
    let deadline = start + Duration::from_secs(o.seconds);
    if o.fork {
        let mut p = [0i32; 2];
        // SAFETY: pipe(2) into a local array.
        if unsafe { libc::pipe(p.as_mut_ptr()) } != 0 {
            bail!("pipe: errno {}", sys::errno());
        }
        // SAFETY: no other thread exists yet in this process (threads start after the fork).
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // The child: its own devices, its own copy of the arena.
            // SAFETY: closing the read end in the child.
            unsafe { libc::close(p[0]) };
            let ct = (threads / 2).max(2);
            let res = stress_here(
                o,
                base,
                nblocks,
                spare,
                &gen,
                ct,
                o.seed ^ 0xc41d,
                start,
                deadline,
            );
            let (s, code) = match res {
                Ok(mut part) => {
                    part.st
                        .hist
                        .entry("child-ops".into())
                        .or_default()
                        .insert("ops".into(), part.ops.values().sum());
                    let f = part.st.failed();
                    (
                        format!("{}{}", part.st.encode(), part.run.encode()),
                        i32::from(f),
                    )
                }
                Err(e) => {
                    let mut st = Stats::default();
                    st.problem(format!("child: {e:#}"));
                    st.violations += 1;
                    (st.encode(), 1)
                }
            };
            // SAFETY: writing a local buffer to the pipe.
            unsafe { libc::write(p[1], s.as_ptr().cast(), s.len()) };
            // SAFETY: leave without running the parent's destructors.
            unsafe { libc::_exit(code) };
        }
        if pid < 0 {
            bail!("fork: errno {}", sys::errno());
        }
        // SAFETY: closing the write end in the parent.
        unsafe { libc::close(p[1]) };
        child = Some((pid, p[0]));
    }
    let Part {
        mut st,
        ops,
        releases,
        busy_closes: busy,
        run: parent_run,
    } = stress_here(
        o, base, nblocks, spare, &gen, threads, o.seed, start, deadline,
    )?;
    st.merge(pre);
    let mut child_note = "none".to_string();
    let mut child_ops = 0;
    let mut child_run = None;
    if let Some((pid, rfd)) = child {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            // SAFETY: reading into a local buffer.
            let n = unsafe { libc::read(rfd, chunk.as_mut_ptr().cast(), chunk.len()) };
            if n <= 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n as usize]);
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        let text = String::from_utf8_lossy(&buf);
        let mut cs = Stats::decode(&text);
        child_run = Run::decode(&text);
        child_ops = cs
            .hist
            .remove("child-ops")
            .and_then(|m| m.get("ops").copied())
            .unwrap_or(0);
        let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        child_note = if ok {
            "ok".into()
        } else {
            format!("FAILED(status {status:#x})")
        };
        if !ok && !cs.failed() {
            cs.violations += 1;
            cs.problems
                .push(format!("forked child ended with status {status:#x}"));
        }
        st.merge(cs);
    }
    let mut runs = vec![("parent", Some(&parent_run))];
    if o.fork {
        runs.push(("forked child", child_run.as_ref()));
    }
    let fails = verdict::failures(&st, o.seconds, &runs);
    let total_ops: u64 = ops.values().sum::<u64>() + child_ops;
    println!(
        "operations: {}",
        ops.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("errno histogram per request:");
    st.print_hist();
    println!(
        "successes per request kind: {}",
        verdict::per_kind(&st.hist)
            .iter()
            .map(|(k, (n, ok))| format!("{k}={ok}/{n}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    for p in &st.problems {
        println!("problem: {p}");
    }
    for f in &fails {
        println!("problem: FAIL: {f}");
    }
    println!(
        "hmm-robust stress: seed={} seconds={:.1} ran={:.1} threads={} ops={} child_ops={} requests={} ok={} errors={} undeclared={} violations={} pages_verified={} mismatches={} releases={} busy_closes={} child={} errnos={} fails={} result={}",
        o.seed,
        t0.elapsed().as_secs_f64(),
        parent_run.ran.as_secs_f64(),
        threads,
        total_ops,
        child_ops,
        st.requests,
        st.ok,
        st.errors,
        st.undeclared,
        st.violations,
        st.pages_verified,
        st.mismatches,
        releases,
        busy,
        child_note,
        st.errno_totals(),
        fails.len(),
        if fails.is_empty() { "PASS" } else { "FAIL" }
    );
    Ok(fails.is_empty())
}
