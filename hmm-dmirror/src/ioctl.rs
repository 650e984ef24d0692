//! The one ioctl this device has: `ioctl(fd, code, &mut struct hmm_dmirror_cmd)`, EINTR retried.

use core::ffi::c_void;
use std::os::fd::BorrowedFd;

use hmm_sys::hmm_dmirror_cmd;
use rustix::io::Errno;
use rustix::ioctl::{Ioctl, IoctlOutput, Opcode};

/// Calls `f` again as long as it fails with EINTR, like `hmm_dmirror_cmd()` in hmm-tests.c.
pub(crate) fn retry_eintr<T>(
    mut f: impl FnMut() -> rustix::io::Result<T>,
) -> rustix::io::Result<T> {
    loop {
        match f() {
            Err(Errno::INTR) => continue,
            other => return other,
        }
    }
}

/// `_IOWR(code)` with a `struct hmm_dmirror_cmd` argument, in and out.
struct CmdIoctl<'a> {
    code: u32,
    cmd: &'a mut hmm_dmirror_cmd,
}

// SAFETY: `as_ptr` points at a live, exclusively borrowed `hmm_dmirror_cmd` of the size the
// opcode encodes (40 bytes, checked at compile time in hmm-sys); the kernel may write it back
// (IS_MUTATING); the output is read from that same struct by the caller, not from the pointer.
// Whatever else the request does to user memory (cmd.addr / cmd.ptr) is the responsibility of
// the caller of `cmd_ioctl`, which is `unsafe` for that reason.
unsafe impl Ioctl for CmdIoctl<'_> {
    type Output = ();
    const IS_MUTATING: bool = true;

    #[allow(clippy::unnecessary_cast)] // Opcode is c_uint on Linux, c_ulong elsewhere
    fn opcode(&self) -> Opcode {
        self.code as Opcode
    }

    fn as_ptr(&mut self) -> *mut c_void {
        core::ptr::from_mut(self.cmd).cast()
    }

    unsafe fn output_from_ptr(_out: IoctlOutput, _ptr: *mut c_void) -> rustix::io::Result<()> {
        Ok(())
    }
}

/// Issues request `code` with `cmd`, retrying EINTR; on success the kernel has written
/// `cmd.cpages` / `cmd.faults` back.
///
/// # Safety
///
/// The request may make the kernel write to user memory: to `npages` pages at `cmd.addr`
/// (HMM_DMIRROR_WRITE) and to the buffer at `cmd.ptr` (READ, MIGRATE_*, EXCLUSIVE: `npages`
/// pages; SNAPSHOT: `npages` bytes), and to read those. The caller guarantees that every such
/// region is valid for those accesses and that no Rust reference to it is alive, or that `fd`
/// is not an HMM device at all (then the request number means nothing to the kernel).
pub(crate) unsafe fn cmd_ioctl(
    fd: BorrowedFd<'_>,
    code: u32,
    cmd: &mut hmm_dmirror_cmd,
) -> rustix::io::Result<()> {
    retry_eintr(|| {
        // SAFETY: the `CmdIoctl` contract holds (see its impl); the memory effects of the
        // request are covered by this function's own safety contract, passed to our caller.
        unsafe {
            rustix::ioctl::ioctl(
                fd,
                CmdIoctl {
                    code,
                    cmd: &mut *cmd,
                },
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_eintr_retries_only_eintr() {
        let mut calls = 0;
        let r = retry_eintr(|| {
            calls += 1;
            if calls < 4 {
                Err(Errno::INTR)
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r, Ok(4));
        assert_eq!(calls, 4);

        let mut calls = 0;
        let r: rustix::io::Result<()> = retry_eintr(|| {
            calls += 1;
            if calls == 1 {
                Err(Errno::INTR)
            } else {
                Err(Errno::INVAL)
            }
        });
        assert_eq!(r, Err(Errno::INVAL));
        assert_eq!(calls, 2);
    }
}
