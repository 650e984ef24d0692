//! `hmm-robust fuzz`: seeded random and edge-case requests against every device, with the
//! process's memory checked against its shadow copy afterwards.
//!
//! Only the kernel ever touches bad memory: the CPU reads a page only when the arena knows
//! it is readable, so no request can make the fuzzer itself fault.
use crate::arena::{Arena, Kind};
use crate::stats::Stats;
use crate::sys::{self, page_size};
use anyhow::{bail, Result};
use hmm_dmirror::sys::{hmm_dmirror_cmd, ioc};
use hmm_dmirror::{Abi, Device, PageState, Request};
use std::os::fd::{AsRawFd, RawFd};

/// Requests whose success means the driver wrote `npages` pages of data to `ptr`.
const PTR_DATA: &[Request] = &[
    Request::Read,
    Request::ReadUnlocked,
    Request::MigrateToDev,
    Request::MigrateOnFaultToDev,
    Request::Exclusive,
];

/// Pages of each mirror buffer (the most a normal request asks for).
const MIRROR_PAGES: usize = 64;

/// Where the ioctl's argument (the cmd) lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CmdLoc {
    Normal,
    Null,
    Low,
    Guard,
    Straddle,
    ReadOnly,
    Kernel,
}

/// A prepared request.
struct Req {
    kind: String,
    code: u32,
    /// What the code means in the device's ABI (None: unknown number).
    req: Option<Request>,
    cmd: hmm_dmirror_cmd,
    loc: CmdLoc,
    /// The entry checks must refuse it.
    must_fail: bool,
    /// The range lies outside user space without wrapping: a SNAPSHOT that succeeds (the C
    /// driver's answer) must report every page as `HMM_DMIRROR_PROT_ERROR`.
    outside_user: bool,
    /// A fresh WRITE source for the mirror at `ptr`.
    fill: Option<Vec<u8>>,
}

/// The fuzzer's state.
struct Fuzz {
    rng: fastrand::Rng,
    abi: Abi,
    devs: Vec<Device>,
    arena: Arena,
    /// Pages for cmd structs: [normal rw page][ro page][guard page].
    cmd_page: usize,
    stats: Stats,
    /// Index of the first mirror region.
    mirrors: Vec<usize>,
    sink: usize,
}

/// Every request of the ABI with its number.
fn requests(abi: Abi) -> Vec<(Request, u32)> {
    Request::ALL
        .iter()
        .filter_map(|&r| abi.request_code(r).map(|c| (r, c)))
        .collect()
}

fn abi_of(code: u32, abi: Abi) -> Option<Request> {
    requests(abi)
        .into_iter()
        .find(|&(_, c)| c == code)
        .map(|(r, _)| r)
}

impl Fuzz {
    fn pick_req(&mut self, allow_release: bool) -> (Request, u32) {
        let all = requests(self.abi);
        loop {
            let (r, c) = all[self.rng.usize(..all.len())];
            match r {
                Request::Release if !allow_release || self.rng.u32(..100) != 0 => continue,
                Request::Flags if self.rng.u32(..4) != 0 => continue,
                _ => return (r, c),
            }
        }
    }

    /// A target address for `addr`: (address, pages up to the end of its region buffer).
    fn pick_addr(&mut self) -> (usize, usize) {
        let ps = page_size();
        match self.rng.u32(..100) {
            0..=84 => {
                let cands: Vec<usize> = (0..self.arena.regions.len())
                    .filter(|&i| {
                        !matches!(self.arena.regions[i].kind, Kind::Mirror | Kind::Bystander)
                    })
                    .collect();
                let r = &self.arena.regions[cands[self.rng.usize(..cands.len())]];
                let p = self.rng.usize(..r.npages);
                (r.buf + p * ps, r.npages - p)
            }
            85..=89 => {
                let (a, n) = self.arena.holes[self.rng.usize(..self.arena.holes.len())];
                (a + self.rng.usize(..n) * ps, n)
            }
            90..=94 => {
                let r = &self.arena.regions[self.rng.usize(..self.arena.regions.len())];
                (
                    if self.rng.bool() {
                        r.guard_lo()
                    } else {
                        r.guard_hi()
                    },
                    1,
                )
            }
            _ => (ps * self.rng.usize(0..8), 1), // below mmap_min_addr: never mapped
        }
    }

    fn npages_small(&mut self, room: usize) -> u64 {
        let n = if self.rng.u32(..10) == 0 {
            self.rng.usize(1..=MIRROR_PAGES)
        } else {
            self.rng.usize(1..=8)
        };
        // Mostly inside the region; sometimes across its end (canary, guard).
        if self.rng.u32(..8) == 0 {
            n as u64
        } else {
            n.min(room.max(1)) as u64
        }
    }

    fn mirror(&mut self) -> usize {
        let i = self.mirrors[self.rng.usize(..self.mirrors.len())];
        self.arena.regions[i].buf
    }

    /// A `ptr` that the kernel cannot use, or that overlaps `addr`.
    fn bad_ptr(&mut self, addr: usize) -> (u64, &'static str) {
        let ps = page_size();
        let ro = self
            .arena
            .regions
            .iter()
            .find(|r| r.kind == Kind::ReadOnly)
            .map(|r| r.buf)
            .unwrap_or(0);
        let none = self
            .arena
            .regions
            .iter()
            .find(|r| r.kind == Kind::ProtNone)
            .map(|r| r.buf)
            .unwrap_or(0);
        let guard = self.arena.regions[0].guard_hi();
        match self.rng.u32(..9) {
            0 => (0, "null"),
            1 => (ps as u64 * 3, "low"),
            2 => (guard as u64, "guard"),
            3 => (ro as u64, "ro"),
            4 => (none as u64, "none"),
            5 => (0xffff_8880_0000_0000, "kernel"),
            6 => (0x8000_0000_0000_0000, "noncanonical"),
            7 => (addr as u64, "overlap"),
            _ => ((self.arena.holes[0].0) as u64, "hole"),
        }
    }

    /// `(addr, npages, name)` of a page-aligned range whose end does not wrap around 2^64 but
    /// that does not lie in user space (below `TASK_SIZE`: 2^47 - PAGE_SIZE with 4-level
    /// paging, 2^56 - PAGE_SIZE with 5-level), at most [`MIRROR_PAGES`] pages.
    fn outside_user_range(&mut self) -> (u64, u64, &'static str) {
        let ps = page_size() as u64;
        let n = self.rng.u64(1..=MIRROR_PAGES as u64);
        // The canonical boundary of 4-level paging, or the end of user space of 5-level.
        let boundary = if self.rng.u32(..4) == 0 {
            1u64 << 56
        } else {
            1u64 << 47
        };
        let task_size = boundary - ps;
        match self.rng.u32(..7) {
            0 => {
                // Ending at most at 2^64 - PAGE_SIZE (the last page's end would wrap).
                let last = 0u64.wrapping_sub(2 * ps);
                let k = self.rng.u64(0..MIRROR_PAGES as u64);
                (last - (n - 1 + k) * ps, n, "near-top")
            }
            1 => (
                0xffff_8000_0000_0000 + self.rng.u64(0..1024) * ps,
                n,
                "kernel-half",
            ),
            2 => (boundary + self.rng.u64(0..4) * ps, n, "boundary"),
            3 => {
                // Starting below TASK_SIZE, ending past it.
                let n = n.max(2);
                (task_size - self.rng.u64(1..n) * ps, n, "straddle")
            }
            // The page between TASK_SIZE and the boundary, and beyond.
            4 => (task_size, self.rng.u64(1..=4), "guard"),
            5 => (
                0x8000_0000_0000_0000 + self.rng.u64(0..1024) * ps,
                n,
                "noncanonical",
            ),
            _ => (0xffff_ffff_ff60_0000, 1, "vsyscall"),
        }
    }

    fn gen(&mut self) -> Req {
        let ps = page_size();
        let mirror = self.mirror() as u64;
        let class = self.rng.u32(..100);
        let (req, code) = self.pick_req(true);
        let (addr, room) = self.pick_addr();
        let mut npages = self.npages_small(room);
        if matches!(req, Request::Write) {
            // A WRITE stays inside a verified buffer (it may legitimately change it) unless
            // it starts somewhere the kernel cannot write.
            npages = npages.min(room as u64);
        }
        let mut r = Req {
            kind: String::new(),
            code,
            req: Some(req),
            cmd: hmm_dmirror_cmd {
                addr: addr as u64,
                ptr: mirror,
                npages,
                cpages: 0,
                faults: 0,
            },
            loc: CmdLoc::Normal,
            must_fail: false,
            outside_user: false,
            fill: None,
        };
        let short = |q: Request| q.name().trim_start_matches("HMM_DMIRROR_").to_string();
        match class {
            0..=39 => {
                r.kind = format!("valid:{}", short(req));
                if req == Request::Flags {
                    r.cmd.npages = if self.rng.bool() {
                        1
                    } else {
                        self.rng.u64(..) | 1
                    };
                    r.kind = "valid:FLAGS".into();
                }
            }
            40..=51 => {
                let (p, why) = self.bad_ptr(addr);
                r.cmd.ptr = p;
                r.kind = format!("ptr-{why}:{}", short(req));
            }
            52..=59 => {
                // Unknown numbers in and around the 'H' range.
                let maxnr = requests(self.abi)
                    .iter()
                    .map(|&(_, c)| c & 0xff)
                    .max()
                    .unwrap_or(0);
                r.code = match self.rng.u32(..6) {
                    0 => ioc(3, 0x48, self.rng.u32(maxnr + 1..=0xff), 40),
                    1 => ioc(
                        3,
                        if self.rng.bool() { 0x47 } else { 0x49 },
                        self.rng.u32(..=maxnr),
                        40,
                    ),
                    2 => ioc(3, 0x48, maxnr + 1, 40),
                    3 => ioc(
                        self.rng.u32(..4),
                        0x48,
                        self.rng.u32(..=0xff),
                        self.rng.usize(..0x4000),
                    ),
                    4 => 0x4800 | self.rng.u32(..=0xff),
                    _ => 0xffff_ff00 | self.rng.u32(..=0xff),
                };
                r.req = abi_of(r.code, self.abi);
                r.must_fail = r.req.is_none();
                r.kind = "unknown-nr".into();
            }
            60..=63 => {
                let size = [0u32, 8, 32, 39, 41, 48, 0x3fff][self.rng.usize(..7)];
                r.code = (code & !(0x3fff << 16)) | (size << 16);
                r.req = None;
                r.must_fail = true;
                r.kind = "wrong-size".into();
            }
            64..=67 => {
                let dir = [0u32, 1, 2][self.rng.usize(..3)];
                r.code = (code & !(3 << 30)) | (dir << 30);
                r.req = None;
                r.must_fail = true;
                r.kind = "wrong-dir".into();
            }
            68..=73 => {
                r.cmd.addr += self.rng.u64(1..ps as u64);
                r.must_fail = true;
                r.kind = format!("unaligned:{}", short(req));
            }
            77..=78 => {
                // A range that does not wrap but does not lie in user space either.
                let (a, n, why) = self.outside_user_range();
                r.cmd.addr = a;
                r.cmd.npages = n;
                r.kind = format!("outside-user-{why}:{}", short(req));
                r.outside_user = true;
                // The C driver answers SNAPSHOT (all PROT_ERROR) and CHECK_EXCLUSIVE (nothing
                // exclusive) with success; FLAGS and RELEASE ignore the range.
                r.must_fail = !matches!(
                    req,
                    Request::Snapshot | Request::CheckExclusive | Request::Flags | Request::Release
                );
                if req == Request::Flags {
                    r.cmd.npages = 0; // the flag word: nothing set
                }
            }
            74..=76 => {
                if self.rng.bool() {
                    // addr + npages*PAGE_SIZE wraps around.
                    let top = self.rng.u64(1..64);
                    r.cmd.addr = 0u64.wrapping_sub(top * ps as u64);
                    r.cmd.npages = top + self.rng.u64(0..64);
                    r.kind = format!("overflow-wrap:{}", short(req));
                } else {
                    // npages << PAGE_SHIFT itself overflows.
                    r.cmd.npages = (1u64 << 52) * self.rng.u64(1..4) + self.rng.u64(0..3);
                    r.kind = format!("overflow-shift:{}", short(req));
                }
                r.must_fail = true;
                if req == Request::Flags || req == Request::Release {
                    r.must_fail = false; // npages is the flag word / ignored
                }
            }
            79..=83 => {
                r.cmd.npages = 0;
                r.must_fail = !matches!(req, Request::Release);
                r.kind = format!("npages0:{}", short(req));
            }
            84..=87 => {
                // Huge npages from a place where the kernel stops at the first page.
                let holes = self.arena.holes.clone();
                let bad: Vec<usize> = self
                    .arena
                    .regions
                    .iter()
                    .filter(|r| matches!(r.kind, Kind::ProtNone | Kind::ReadOnly))
                    .map(|r| r.buf)
                    .chain(holes.iter().map(|h| h.0))
                    .collect();
                let a = if req == Request::Write || self.rng.bool() {
                    bad[self.rng.usize(..bad.len())]
                } else {
                    addr
                };
                r.cmd.addr = a as u64;
                r.cmd.npages =
                    [1u64 << 24, 1 << 28, 1 << 31, 1 << 34, 1 << 35][self.rng.usize(..5)];
                r.cmd.ptr = self.arena.regions[self.sink].buf as u64;
                r.kind = format!("huge-npages:{}", short(req));
                if matches!(req, Request::Release | Request::Flags) {
                    r.cmd.npages = 1;
                }
            }
            88..=93 => {
                r.loc = [
                    CmdLoc::Null,
                    CmdLoc::Low,
                    CmdLoc::Guard,
                    CmdLoc::Straddle,
                    CmdLoc::ReadOnly,
                    CmdLoc::Kernel,
                ][self.rng.usize(..6)];
                r.must_fail = true;
                if r.loc == CmdLoc::ReadOnly && matches!(req, Request::Release) {
                    r.must_fail = false; // may not copy back
                }
                r.kind = format!("cmd-{:?}", r.loc).to_lowercase();
            }
            _ => {
                // addr and ptr overlapping inside the scratch sink.
                let s = &self.arena.regions[self.sink];
                let a = s.buf + self.rng.usize(..s.npages / 2) * ps;
                r.cmd.addr = a as u64;
                r.cmd.npages = self.rng.u64(1..=16);
                r.cmd.ptr = (a
                    + self.rng.usize(..8) * ps
                    + if self.rng.bool() {
                        0
                    } else {
                        self.rng.usize(..ps) & !7
                    }) as u64;
                r.kind = format!("overlap:{}", short(req));
            }
        }
        if r.req == Some(Request::Write) && r.cmd.ptr == self.mirror_of(r.cmd.ptr) {
            // A fresh source: random bytes in the mirror.
            let n = (r.cmd.npages as usize).min(MIRROR_PAGES);
            let mut v = vec![0u8; n * ps];
            self.rng.fill(&mut v);
            r.fill = Some(v);
        }
        r
    }

    /// The WRITE post-check: each page of the verified buffer it may have changed holds
    /// either its old contents or the source's; the shadow follows what is there.
    fn write_check(
        &mut self,
        r: &Req,
        before: &[(usize, Vec<u8>)],
        sources: &[Option<Vec<u8>>],
        ok: bool,
    ) {
        let ps = page_size();
        for (i, (addr, old)) in before.iter().enumerate() {
            let Some(now) = self.arena.read_page(*addr) else {
                continue;
            };
            self.stats.pages_verified += 1;
            let new = sources.get(i).cloned().flatten();
            let fits = now == *old || new.as_ref().is_some_and(|n| *n == now);
            if !fits {
                let region = self
                    .arena
                    .find(*addr)
                    .map(|g| format!("{} region {:#x}", g.kind.name(), g.buf))
                    .unwrap_or_default();
                self.stats.mismatch(format!(
                    "{} addr={:#x} ptr={:#x} npages={} ({}): page {addr:#x} ({region}) holds neither its old contents nor the source's",
                    r.kind, r.cmd.addr, r.cmd.ptr, r.cmd.npages, if ok { "ok" } else { "failed" }
                ));
            }
            if let Some(ri) = self.arena.find_buf(*addr) {
                let reg = &mut self.arena.regions[ri];
                let off = addr - reg.buf;
                if let Some(s) = reg.shadow.as_mut() {
                    s[off..off + ps].copy_from_slice(&now);
                }
            }
        }
    }

    fn issue(&mut self, fd: RawFd, mut r: Req) {
        let ps = page_size();
        // WRITE (whatever number the driver may take for it): remember the pages it may
        // change and what the source holds.
        let writes = r.req == Some(Request::Write) || r.req.is_none();
        let mut before: Vec<(usize, Vec<u8>)> = Vec::new();
        let mut sources: Vec<Option<Vec<u8>>> = Vec::new();
        if writes && r.cmd.addr % ps as u64 == 0 {
            if let Some(v) = r.fill.take() {
                // SAFETY: the mirror is arena memory, mapped read-write, MIRROR_PAGES long.
                unsafe { sys::write_mem(r.cmd.ptr as usize, &v) };
            }
            if let Some(ri) = self.arena.find_buf(r.cmd.addr as usize) {
                let reg = &self.arena.regions[ri];
                if reg.dev_writable() {
                    let first = (r.cmd.addr as usize - reg.buf) / ps;
                    let n =
                        (reg.npages - first).min(r.cmd.npages.min(MIRROR_PAGES as u64) as usize);
                    for i in 0..n {
                        let a = r.cmd.addr as usize + i * ps;
                        before.push((a, self.arena.expected_page(a).unwrap_or_default()));
                        let src = (r.cmd.ptr as usize).checked_add(i * ps);
                        sources.push(src.and_then(|s| {
                            if s % 8 == 0 {
                                self.arena.read_page(s)
                            } else {
                                None
                            }
                        }));
                    }
                }
            }
        }
        // Where the cmd goes.
        let cmd_rw = self.cmd_page;
        let cmd_ro = self.cmd_page + ps;
        let guard = self.cmd_page + 2 * ps;
        let arg: usize = match r.loc {
            CmdLoc::Normal => {
                // SAFETY: the cmd page is arena memory, mapped read-write.
                unsafe { sys::write_mem(cmd_rw, as_bytes(&r.cmd)) };
                cmd_rw
            }
            CmdLoc::Null => 0,
            CmdLoc::Low => ps * 2,
            CmdLoc::Guard => guard,
            CmdLoc::Straddle => {
                // The cmd's first 24 bytes at the end of the read-only page, the rest in the guard.
                guard - 24
            }
            CmdLoc::ReadOnly => {
                // SAFETY: the read-only cmd page is a page `run` mapped for raw access: no
                // Rust object lives there; it is written only through write_mem.
                let _ = unsafe { sys::mprotect(cmd_ro, ps, libc::PROT_READ | libc::PROT_WRITE) };
                // SAFETY: the page was just made writable; arena memory.
                unsafe { sys::write_mem(cmd_ro, as_bytes(&r.cmd)) };
                // SAFETY: as above; nothing reads it but the kernel and read_mem.
                let _ = unsafe { sys::mprotect(cmd_ro, ps, libc::PROT_READ) };
                cmd_ro
            }
            CmdLoc::Kernel => 0xffff_8880_0000_1000,
        };
        // Every address in the request points at arena memory (buffers, canaries, mirrors,
        // the sink, guard pages, holes) or at nothing the process maps (NULL, low, kernel,
        // non-canonical addresses).
        // SAFETY: see above; no Rust reference points into the arena (volatile copies only).
        let res = unsafe { sys::ioctl(fd, r.code, arg) };
        self.stats.record(&r.kind, res);
        if res.is_ok() && r.must_fail {
            self.stats.violation(format!(
                "{} code={:#x} addr={:#x} ptr={:#x} npages={:#x} loc={:?}: succeeded",
                r.kind, r.code, r.cmd.addr, r.cmd.ptr, r.cmd.npages, r.loc
            ));
        }
        if r.loc == CmdLoc::Normal {
            let mut out = [0u8; 40];
            // SAFETY: the cmd page is mapped read-write.
            unsafe { sys::read_mem(cmd_rw, &mut out) };
            r.cmd.cpages = u64::from_ne_bytes(out[24..32].try_into().unwrap_or_default());
        }
        if !before.is_empty() {
            self.write_check(&r, &before, &sources, res.is_ok());
        }
        if r.req == Some(Request::Snapshot)
            && r.cmd.ptr == r.cmd.addr
            && r.cmd.addr % ps as u64 == 0
        {
            // A snapshot into its own range legitimately overwrites its first npages bytes
            // (unknowable in advance): the shadow takes what is there now.
            if let Some(ri) = self.arena.find_buf(r.cmd.addr as usize) {
                if self.arena.regions[ri].dev_writable() {
                    let a = r.cmd.addr as usize;
                    if let Some(now) = self.arena.read_page(a) {
                        let reg = &mut self.arena.regions[ri];
                        let off = a - reg.buf;
                        if let Some(sh) = reg.shadow.as_mut() {
                            sh[off..off + ps].copy_from_slice(&now);
                        }
                    }
                }
            }
        }
        if res.is_err() || r.loc != CmdLoc::Normal {
            return;
        }
        let Some(req) = r.req else { return };
        let data_req = PTR_DATA.contains(&req)
            || matches!(
                req,
                Request::Write | Request::Snapshot | Request::MigrateToSys
            );
        if data_req && r.cmd.npages <= MIRROR_PAGES as u64 && r.cmd.cpages > r.cmd.npages {
            self.stats.violation(format!(
                "{} npages={} returned cpages={}",
                r.kind, r.cmd.npages, r.cmd.cpages
            ));
        }
        let is_mirror = r.cmd.ptr == self.mirror_of(r.cmd.ptr) && r.cmd.ptr != 0;
        if PTR_DATA.contains(&req) && is_mirror && r.cmd.npages <= MIRROR_PAGES as u64 {
            // The device's copy of the range must be what the process holds.
            for i in 0..r.cmd.npages as usize {
                let a = r.cmd.addr as usize + i * ps;
                let Some(exp) = self.arena.expected_page(a) else {
                    continue;
                };
                let mut got = vec![0u8; ps];
                // SAFETY: the mirror is mapped read-write, MIRROR_PAGES long.
                unsafe { sys::read_mem(r.cmd.ptr as usize + i * ps, &mut got) };
                self.stats.pages_verified += 1;
                if got != exp {
                    let region = self
                        .arena
                        .find(a)
                        .map(|g| format!("{} region {:#x}", g.kind.name(), g.buf))
                        .unwrap_or_default();
                    self.stats.mismatch(format!(
                        "{} addr={:#x} npages={}: the device returned wrong data for page {i} ({a:#x}, {region})",
                        r.kind, r.cmd.addr, r.cmd.npages
                    ));
                    break;
                }
            }
        }
        if req == Request::Snapshot && is_mirror && r.cmd.npages <= MIRROR_PAGES as u64 {
            let mut got = vec![0u8; r.cmd.npages as usize];
            // SAFETY: the mirror is mapped read-write, MIRROR_PAGES pages long.
            unsafe { sys::read_mem_bytes(r.cmd.ptr as usize, &mut got) };
            for (i, b) in got.iter().enumerate() {
                if PageState::from_byte(*b).is_err() {
                    self.stats.violation(format!(
                        "{} addr={:#x}: snapshot byte {i} = {b:#x} is no defined state",
                        r.kind, r.cmd.addr
                    ));
                    break;
                }
                if r.outside_user && *b != hmm_dmirror::sys::HMM_DMIRROR_PROT_ERROR {
                    self.stats.violation(format!(
                        "{} addr={:#x}: snapshot byte {i} = {b:#x} for a page outside user space (want HMM_DMIRROR_PROT_ERROR)",
                        r.kind, r.cmd.addr
                    ));
                    break;
                }
            }
        }
    }

    /// `ptr` itself when it is the start of a mirror buffer, else 1 (never equal).
    fn mirror_of(&self, ptr: u64) -> u64 {
        if self
            .mirrors
            .iter()
            .any(|&i| self.arena.regions[i].buf as u64 == ptr)
        {
            ptr
        } else {
            1
        }
    }
}

fn as_bytes(c: &hmm_dmirror_cmd) -> &[u8] {
    // SAFETY: hmm_dmirror_cmd is repr(C), 40 bytes of u64 fields, no padding.
    unsafe { std::slice::from_raw_parts(std::ptr::from_ref(c).cast::<u8>(), 40) }
}

/// Fuzz options.
pub struct Opts {
    /// PRNG seed.
    pub seed: u64,
    /// Requests to issue.
    pub requests: u64,
    /// ABI the driver speaks.
    pub abi: Abi,
    /// Device numbers to use (the ones that open).
    pub devices: Vec<u32>,
    /// Device path override (host tests: /dev/null).
    pub path: Option<String>,
    /// Print every request before issuing it (to find the one that hangs or crashes).
    pub trace: bool,
    /// Skip the first requests (generated, not issued) when tracing a late one.
    pub skip: u64,
    /// File that always holds the request in flight.
    pub progress: Option<std::path::PathBuf>,
    /// Request kinds (prefixes) generated but not sent (known to hang a driver).
    pub exclude: Vec<String>,
    /// Check the whole arena every N requests (0: only at the end); stops at the first
    /// difference, naming the request after which it was seen.
    pub check_every: u64,
    /// Stop issuing requests after this many seconds (0: no limit); the summary says so.
    pub max_seconds: u64,
}

/// Run the fuzzer; returns whether it passed.
pub fn run(o: &Opts) -> Result<bool> {
    let t0 = std::time::Instant::now();
    let mut rng = fastrand::Rng::with_seed(o.seed);
    let mut devs = Vec::new();
    if let Some(p) = &o.path {
        devs.push(Device::open_path(p, o.abi)?);
    } else {
        for &n in &o.devices {
            match Device::open_with_abi(n, o.abi) {
                Ok(d) => devs.push(d),
                Err(e) if e.is_no_device() && n >= 2 => eprintln!("hmm-robust: {e} (skipped)"),
                Err(e) => bail!("{e}"),
            }
        }
        // Two files on one device.
        devs.push(Device::open_with_abi(o.devices[0], o.abi)?);
    }
    let mut arena = Arena::new();
    let dev0 = devs[0].as_raw_fd();
    // One PMD (THP) and one default huge page (hugetlb): 512 pages each on x86-64.
    let thp_pages = hmm_dmirror::pmd_size()? / page_size();
    let hugetlb_pages =
        hmm_dmirror::default_huge_page_size()?.map_or(thp_pages, |size| size / page_size());
    for (k, n) in [
        (Kind::AnonPrivate, 32),
        (Kind::AnonPrivate, 16),
        (Kind::AnonShared, 16),
        (Kind::Thp, thp_pages),
        (Kind::ReadOnly, 16),
        (Kind::ProtNone, 16),
        (Kind::File, 16),
        (Kind::DeviceFd, 8),
        (Kind::Hugetlb, hugetlb_pages),
        (Kind::Sink, 128),
        (Kind::Bystander, 32),
        (Kind::Mirror, MIRROR_PAGES),
        (Kind::Mirror, MIRROR_PAGES),
    ] {
        if o.path.is_some() && k == Kind::DeviceFd {
            continue;
        }
        arena.add(k, n, &mut rng, dev0)?;
    }
    let mirrors: Vec<usize> = (0..arena.regions.len())
        .filter(|&i| arena.regions[i].kind == Kind::Mirror)
        .collect();
    let sink = arena
        .regions
        .iter()
        .position(|r| r.kind == Kind::Sink)
        .unwrap_or(0);
    // cmd pages: [rw][ro][guard]
    let ps = page_size();
    let cmd_page = sys::mmap(
        3 * ps,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
        -1,
    )?;
    // SAFETY: the second and third pages of the mapping just made for raw access (the
    // read-only cmd page and the guard): no Rust object lives there.
    unsafe { sys::mprotect(cmd_page + ps, ps, libc::PROT_READ) }
        .map_err(|e| anyhow::anyhow!("mprotect {e}"))?;
    // SAFETY: as above.
    unsafe { sys::mprotect(cmd_page + 2 * ps, ps, libc::PROT_NONE) }
        .map_err(|e| anyhow::anyhow!("mprotect {e}"))?;
    // Holes last, so that nothing else is mapped into them.
    arena.add_hole(4)?;
    arena.add_hole(16)?;
    let mut f = Fuzz {
        rng,
        abi: o.abi,
        devs,
        arena,
        cmd_page,
        stats: Stats::default(),
        mirrors,
        sink,
    };
    println!(
        "hmm-robust fuzz: seed={} requests={} abi={} devices={} regions={}",
        o.seed,
        o.requests,
        o.abi.name(),
        f.devs
            .iter()
            .map(|d| d.path().display().to_string())
            .collect::<Vec<_>>()
            .join(","),
        f.arena
            .regions
            .iter()
            .map(|r| format!("{}:{}", r.kind.name(), r.npages))
            .collect::<Vec<_>>()
            .join(",")
    );
    let fds: Vec<RawFd> = f.devs.iter().map(|d| d.as_raw_fd()).collect();
    // The request in flight, for whoever finds the fuzzer hung.
    let progress = match &o.progress {
        Some(p) => Some(std::fs::File::create(p)?),
        None => None,
    };
    let mut excluded = 0u64;
    let mut stopped_early = false;
    for i in 0..o.requests {
        if o.max_seconds > 0 && t0.elapsed().as_secs() >= o.max_seconds {
            eprintln!(
                "  time limit ({} s) reached after {i} requests: stopping here",
                o.max_seconds
            );
            stopped_early = true;
            break;
        }
        let fdi = f.rng.usize(..fds.len());
        let r = f.gen();
        if i < o.skip {
            continue;
        }
        if o.exclude.iter().any(|x| r.kind.starts_with(x.as_str())) {
            // Generated (the sequence stays that of the seed) but not sent.
            *f.stats
                .hist
                .entry(r.kind.clone())
                .or_default()
                .entry("excluded".into())
                .or_default() += 1;
            excluded += 1;
            continue;
        }
        if o.trace {
            eprintln!(
                "#{i} fd{fdi} {} code={:#x} addr={:#x} ptr={:#x} npages={:#x} loc={:?}",
                r.kind, r.code, r.cmd.addr, r.cmd.ptr, r.cmd.npages, r.loc
            );
        }
        let desc = format!(
            "#{i} fd{fdi} {} code={:#x} addr={:#x} ptr={:#x} npages={:#x} loc={:?}",
            r.kind, r.code, r.cmd.addr, r.cmd.ptr, r.cmd.npages, r.loc
        );
        if let Some(pf) = &progress {
            use std::os::unix::fs::FileExt;
            let mut line = desc.clone().into_bytes();
            line.resize(240, b' ');
            line.push(b'\n');
            let _ = pf.write_at(&line, 0);
        }
        let t = std::time::Instant::now();
        f.issue(fds[fdi], r);
        let dt = t.elapsed().as_secs_f64();
        if o.check_every > 0 && (i + 1) % o.check_every == 0 {
            let (_, bad) = f.arena.verify(true)?;
            if !bad.is_empty() {
                println!(
                    "check after request #{i} ({desc}): {} page(s) differ, first: {}",
                    bad.len(),
                    bad[0]
                );
                f.stats
                    .mismatch(format!("first seen after request #{i}: {desc}: {}", bad[0]));
                break;
            }
        }
        if dt > 1.0 {
            eprintln!("  slow request ({dt:.1}s): {desc}");
        }
        if (i + 1) % 5_000 == 0 {
            eprintln!("  {} requests, {:.0}s", i + 1, t0.elapsed().as_secs_f64());
        }
    }
    let (n, bad) = f.arena.verify_all()?;
    f.stats.pages_verified += n;
    for b in bad {
        f.stats.mismatch(b);
    }
    // A file that answers nothing (not an HMM device, a driver that refuses everything) is
    // no pass: at least one well-formed request must have worked.
    let valid_ok: u64 = f
        .stats
        .hist
        .iter()
        .filter(|(k, _)| k.starts_with("valid:"))
        .filter_map(|(_, m)| m.get("ok"))
        .sum();
    if o.requests >= 100 && valid_ok == 0 {
        f.stats.violation(
            "no well-formed request succeeded: is this an HMM mirror device speaking this ABI?"
                .into(),
        );
    }
    println!("errno histogram per request kind:");
    f.stats.print_hist();
    for p in &f.stats.problems {
        println!("problem: {p}");
    }
    let s = &f.stats;
    println!(
        "hmm-robust fuzz: seed={} requests={} excluded={} planned={} time_limited={} ok={} errors={} undeclared={} violations={} pages_verified={} mismatches={} errnos={} secs={:.1} result={}",
        o.seed,
        s.requests,
        excluded,
        o.requests,
        stopped_early,
        s.ok,
        s.errors,
        s.undeclared,
        s.violations,
        s.pages_verified,
        s.mismatches,
        s.errno_totals(),
        t0.elapsed().as_secs_f64(),
        if s.failed() { "FAIL" } else { "PASS" }
    );
    Ok(!s.failed())
}
