// SPDX-License-Identifier: GPL-2.0

//! The ioctl entry point (C: `dmirror_fops_unlocked_ioctl`): copies the command in, runs
//! the entry checks of `lib/test_hmm.c` in its order, dispatches to one handler per
//! request (one file each, named after the request) and copies the command back.

mod exclusive;
mod flags;
mod migrate_on_fault;
mod migrate_to_dev;
mod migrate_to_sys;
mod read;
mod read_unlocked;
mod release;
mod snapshot;
mod write;

use crate::dmirror::{Bounce, Dmirror};
use crate::hmm::page::PAGE_SIZE;
use crate::uapi::{hmm_dmirror_cmd, Numbering as Abi, Request};
use kernel::{
    prelude::*,
    uaccess::{UserPtr, UserSlice},
};

/// A command whose range passed the entry checks.
pub(crate) struct Cmd {
    /// The command as copied in; `cpages` and `faults` are outputs.
    pub(crate) raw: hmm_dmirror_cmd,
    /// `addr`, page aligned.
    pub(crate) start: usize,
    /// `addr + npages * PAGE_SIZE`, without overflow.
    pub(crate) end: usize,
}

impl Cmd {
    /// The end of a request that reads pages for the caller (READ, MIGRATE_TO_DEV,
    /// EXCLUSIVE): if `ret` is `Ok`, copies `bounce` out to `ptr` (`EFAULT` if it cannot);
    /// `cpages` = pages read in either case (C: the tail of `dmirror_read`).
    pub(crate) fn finish_read(&mut self, ret: Result, bounce: &Bounce) -> Result {
        let ret = ret.and_then(|()| {
            self.user_buf(bounce.buf.len())
                .writer()
                .write_slice(&bounce.buf)
                .map_err(|_| EFAULT)
        });
        self.raw.cpages = bounce.cpages as u64;
        ret
    }

    /// `npages * PAGE_SIZE`.
    pub(crate) fn size(&self) -> usize {
        self.end - self.start
    }

    /// The user buffer `ptr`, `len` bytes.
    pub(crate) fn user_buf(&self, len: usize) -> UserSlice {
        UserSlice::new(UserPtr::from_addr(self.raw.ptr as usize), len)
    }
}

const CMD_SIZE: usize = core::mem::size_of::<hmm_dmirror_cmd>();

fn decode_cmd(b: &[u8; CMD_SIZE]) -> hmm_dmirror_cmd {
    let f = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i * 8..i * 8 + 8]);
        u64::from_ne_bytes(w)
    };
    hmm_dmirror_cmd {
        addr: f(0),
        ptr: f(1),
        npages: f(2),
        cpages: f(3),
        faults: f(4),
    }
}

fn encode_cmd(c: &hmm_dmirror_cmd) -> [u8; CMD_SIZE] {
    let mut b = [0u8; CMD_SIZE];
    for (i, v) in [c.addr, c.ptr, c.npages, c.cpages, c.faults]
        .iter()
        .enumerate()
    {
        b[i * 8..i * 8 + 8].copy_from_slice(&v.to_ne_bytes());
    }
    b
}

/// Whether `req` works on the pages of `[addr, addr + npages * PAGE_SIZE)` (RELEASE ignores
/// the range; FLAGS passes its flag word in `npages`).
fn names_range(req: Request) -> bool {
    !matches!(req, Request::Release | Request::Flags)
}

/// The errno for a range that does not lie below the mirrored process's `task_size`.
///
/// No page there can be mirrored, migrated or made exclusive, and without this check such
/// a range reached the window loops, where `addr + window` overflowed for a range ending
/// near 2^64 (a panic, i.e. a kernel `BUG()`, from one READ). The errno is the one the C
/// driver returns for such a range that does not wrap in its own loops: EINVAL where its
/// migration loop finds no vma (MIGRATE_TO_DEV, MIGRATE_TO_SYS), EFAULT where
/// `hmm_range_fault()` or `make_device_exclusive()` find none (READ, READ_UNLOCKED, WRITE,
/// EXCLUSIVE; MIGRATE_ON_FAULT_TO_DEV faults first). C answers SNAPSHOT (every byte
/// `HMM_DMIRROR_PROT_ERROR`) and CHECK_EXCLUSIVE (nothing exclusive) with success; here
/// they are refused with EFAULT like the other requests: a range no process can map is the
/// caller's mistake.
fn outside_user_space(req: Request) -> Error {
    match req {
        Request::MigrateToDev | Request::MigrateToSys => EINVAL,
        _ => EFAULT,
    }
}

/// Handles one ioctl on an open file.
pub(crate) fn dispatch(d: &Dmirror, abi: Abi, command: u32, arg: usize) -> Result<isize> {
    let (mut reader, mut writer) =
        UserSlice::new(UserPtr::from_addr(arg), CMD_SIZE).reader_writer();
    let mut bytes = [0u8; CMD_SIZE];
    reader.read_slice(&mut bytes).map_err(|_| EFAULT)?;
    let mut raw = decode_cmd(&bytes);

    // `addr` not page aligned.
    if raw.addr % PAGE_SIZE as u64 != 0 {
        return Err(EINVAL);
    }
    // `addr + npages * PAGE_SIZE` overflows, or `npages == 0`.
    let end = raw
        .npages
        .checked_mul(PAGE_SIZE as u64)
        .and_then(|size| raw.addr.checked_add(size))
        .filter(|&end| end > raw.addr)
        .ok_or(EINVAL)?;
    let end = usize::try_from(end).map_err(|_| EINVAL)?;
    raw.cpages = 0;
    raw.faults = 0;
    let req = abi.decode(command).ok_or(EINVAL)?;
    // The range must lie in the mirrored process's user address space (C does not check;
    // see `outside_user_space`).
    if names_range(req) && end > d.task_size() {
        return Err(outside_user_space(req));
    }
    // One request of this file at a time (see `Dmirror::requests`).
    let _serial = d.requests.lock();
    let mut cmd = Cmd {
        start: raw.addr as usize,
        end,
        raw,
    };

    match req {
        Request::Read => read::read(d, &mut cmd),
        Request::Write => write::write(d, &mut cmd),
        Request::MigrateToDev => migrate_to_dev::migrate_to_dev(d, &mut cmd),
        Request::MigrateOnFaultToDev => migrate_on_fault::migrate_on_fault_to_dev(d, &mut cmd),
        Request::MigrateToSys => migrate_to_sys::migrate_to_sys(d, &mut cmd),
        Request::Snapshot => snapshot::snapshot(d, &mut cmd),
        Request::Exclusive => exclusive::exclusive(d, &mut cmd),
        Request::CheckExclusive => exclusive::check_exclusive(d, &mut cmd),
        Request::Release => release::release(d, &mut cmd),
        Request::Flags => flags::flags(d, &mut cmd),
        Request::ReadUnlocked => read_unlocked::read_unlocked(d, &mut cmd),
    }?;

    writer
        .write_slice(&encode_cmd(&cmd.raw))
        .map_err(|_| EFAULT)?;
    Ok(0)
}
