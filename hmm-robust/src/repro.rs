//! `hmm-robust repro NAME`: minimal reproducers of what the battery found, one request each.
//! Exit status 1 when the driver shows the problem, 0 when it does not.
use anyhow::Result;
use hmm_dmirror::sys::hmm_dmirror_cmd;
use hmm_dmirror::{Abi, Device, Mapping, Request};
use std::os::fd::AsRawFd;
use std::time::Instant;

/// The reproducers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Name {
    /// WRITE with npages = 2^52 + 2: `npages << PAGE_SHIFT` wraps to 2 pages. The contract
    /// says EINVAL; the C driver (7.3.4) checks only `addr + (npages << PAGE_SHIFT)` and writes
    /// 2 pages.
    ShiftOverflow,
    /// CHECK_EXCLUSIVE with npages = 2^31 (or --npages): the C driver's dmirror_check_atomic()
    /// does one xa_load per page without rescheduling or checking signals — the process
    /// spins unkillably in the kernel (minutes under TCG; with 2^35 for ever).
    CheckExclusiveHuge,
}

/// Run one reproducer.
pub fn run(name: Name, abi: Abi, npages: Option<u64>) -> Result<bool> {
    let dev = Device::open_with_abi(0, abi)?;
    let ps = hmm_dmirror::page_size();
    match name {
        Name::ShiftOverflow => {
            let m = Mapping::anon_private(4 * ps)?;
            m.fill_i32(|_| 0x1111_1111);
            let src = Mapping::anon_private(4 * ps)?;
            src.fill_i32(|_| 0x2222_2222);
            let n = npages.unwrap_or((1 << 52) + 2);
            let code = dev.request_code(Request::Write)?;
            let mut cmd = hmm_dmirror_cmd {
                addr: m.addr() as u64,
                ptr: src.addr() as u64,
                npages: n,
                cpages: 0,
                faults: 0,
            };
            // SAFETY: if the driver takes npages modulo 2^52, it reads 2 pages of `src` and writes
            // 2 pages of `m`, both live 4-page mappings accessed only through volatile copies.
            let r = unsafe {
                crate::sys::ioctl(dev.as_raw_fd(), code, std::ptr::from_mut(&mut cmd) as usize)
            };
            let changed = (0..m.words())
                .filter(|&i| m.read_i32(i) != 0x1111_1111)
                .count()
                * 4
                / ps;
            println!(
                "WRITE addr={:#x} npages={n:#x}: {} cpages={}, {changed} page(s) of the target changed",
                m.addr(),
                crate::sys::errno_name(r.err().unwrap_or(0)),
                cmd.cpages
            );
            let bad = r.is_ok();
            println!(
                "{}",
                if bad {
                    "REPRODUCED: accepted a range whose size overflows (contract: EINVAL)"
                } else {
                    "not reproduced: refused"
                }
            );
            Ok(!bad)
        }
        Name::CheckExclusiveHuge => {
            let m = Mapping::anon_private(ps)?;
            m.write_i32(0, 1);
            let n = npages.unwrap_or(1 << 31);
            println!("CHECK_EXCLUSIVE addr={:#x} npages={n:#x} (may not return: the C driver loops per page)", m.addr());
            let t = Instant::now();
            // SAFETY: CHECK_EXCLUSIVE reads the device page table only; no user memory is written.
            let r = unsafe { dev.raw_cmd(Request::CheckExclusive, m.addr() as u64, 0, n) };
            let dt = t.elapsed().as_secs_f64();
            println!(
                "returned {:?} after {dt:.1}s",
                r.as_ref().map(|c| c.cpages).map_err(|e| e.to_string())
            );
            let bad = dt > 5.0;
            println!(
                "{}",
                if bad {
                    "REPRODUCED: one request took more than 5 s"
                } else {
                    "not reproduced"
                }
            );
            Ok(!bad)
        }
    }
}
