//! Thin syscall wrappers (libc): mmap family, the raw ioctl, and volatile copies to and from
//! addresses the battery owns. Everything here reports errno as a plain `i32`.
//!
//! Host buffers (`hmm_dmirror::Mirror`), temporary files (`hmm_dmirror::TempFile`) and huge
//! page sizes (`hmm_dmirror::pmd_size`, `default_huge_page_size`) come from the library. The
//! raw mappings stay here: the fuzzer's guarded regions and the stress arena are
//! reservations the battery maps into with `MAP_FIXED`, protects, unmaps and moves behind
//! any owner's back, and sends malformed requests at, which a `hmm_dmirror::Mapping` (it
//! owns its pages and tracks their state) exists to rule out.
use anyhow::{bail, Result};
use std::os::fd::RawFd;

/// The system page size.
pub fn page_size() -> usize {
    hmm_dmirror::page_size()
}

/// Last errno.
pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `mmap(NULL, len, prot, flags, fd, 0)`; returns the address.
pub fn mmap(len: usize, prot: i32, flags: i32, fd: RawFd) -> Result<usize> {
    // SAFETY: a fresh mapping chosen by the kernel (no MAP_FIXED) cannot clobber memory
    // that Rust owns.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, fd, 0) };
    if p == libc::MAP_FAILED {
        bail!(
            "mmap(len {len:#x}, prot {prot}, flags {flags:#x}): errno {}",
            errno()
        );
    }
    Ok(p as usize)
}

/// `mmap(addr, len, prot, flags | MAP_FIXED, fd, off)` over a range this program reserved.
///
/// # Safety
/// `[addr, addr+len)` must be a range of this program's own reservations (arena pages), not
/// memory that Rust objects live in.
pub unsafe fn mmap_fixed(
    addr: usize,
    len: usize,
    prot: i32,
    flags: i32,
    fd: RawFd,
    off: i64,
) -> Result<()> {
    // SAFETY: the caller guarantees the range belongs to the battery's arenas.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len,
            prot,
            flags | libc::MAP_FIXED,
            fd,
            off,
        )
    };
    if p == libc::MAP_FAILED {
        bail!(
            "mmap(MAP_FIXED {addr:#x}, len {len:#x}, flags {flags:#x}): errno {}",
            errno()
        );
    }
    Ok(())
}

/// `mprotect`; returns the errno on failure.
///
/// # Safety
/// `[addr, addr+len)` must hold no Rust object and nothing a Rust reference points into
/// (arena pages, touched only through [`read_mem`]/[`write_mem`] and requests): taking
/// away read or write access from memory Rust uses makes its next access fault.
pub unsafe fn mprotect(addr: usize, len: usize, prot: i32) -> Result<(), i32> {
    // SAFETY: the caller guarantees that no Rust object lives in the range, so no access
    // that Rust makes depends on its protection.
    let r = unsafe { libc::mprotect(addr as *mut libc::c_void, len, prot) };
    if r == 0 {
        Ok(())
    } else {
        Err(errno())
    }
}

/// `munmap` of an arena range.
///
/// # Safety
/// `[addr, addr+len)` must hold no Rust object and nothing a Rust reference points into:
/// the pages are gone after the call (and the range may be handed to the next `mmap`).
pub unsafe fn munmap(addr: usize, len: usize) -> Result<(), i32> {
    // SAFETY: the caller guarantees that no Rust object lives in the range.
    let r = unsafe { libc::munmap(addr as *mut libc::c_void, len) };
    if r == 0 {
        Ok(())
    } else {
        Err(errno())
    }
}

/// `mremap(old, len, len, MREMAP_MAYMOVE|MREMAP_FIXED|MREMAP_DONTUNMAP, new)` between arena
/// ranges: the pages move to `new` (replacing what was mapped there) and `old` stays mapped,
/// empty. No hole is left that another thread's mmap (a thread's signal stack, say) could
/// take and a later MAP_FIXED / MREMAP_FIXED would then clobber.
///
/// # Safety
/// Neither `[old, old+len)` nor `[new, new+len)` may hold a Rust object or anything a Rust
/// reference points into: what was mapped at `new` is replaced, and `old` reads as zeros
/// (anonymous memory) or refaults the file afterwards.
pub unsafe fn mremap_fixed(old: usize, len: usize, new: usize) -> Result<(), i32> {
    // SAFETY: the caller guarantees that neither range holds a Rust object.
    let r = unsafe {
        libc::mremap(
            old as *mut libc::c_void,
            len,
            len,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED | libc::MREMAP_DONTUNMAP,
            new as *mut libc::c_void,
        )
    };
    if r == libc::MAP_FAILED {
        Err(errno())
    } else {
        Ok(())
    }
}

/// `madvise`.
///
/// # Safety
/// Unless `advice` leaves the contents as they are (`MADV_HUGEPAGE`, `MADV_NOHUGEPAGE`,
/// `MADV_WILLNEED`, …), `[addr, addr+len)` must hold no Rust object and nothing a Rust
/// reference points into: `MADV_DONTNEED`, `MADV_FREE`, `MADV_REMOVE` and the like drop
/// the pages, which then read as zeros.
pub unsafe fn madvise(addr: usize, len: usize, advice: i32) -> Result<(), i32> {
    // SAFETY: the caller guarantees that the advice keeps the contents or that no Rust
    // object lives in the range.
    let r = unsafe { libc::madvise(addr as *mut libc::c_void, len, advice) };
    if r == 0 {
        Ok(())
    } else {
        Err(errno())
    }
}

/// `ioctl(fd, code, arg)`, EINTR retried; `Err(errno)` on failure.
///
/// # Safety
/// The kernel may write to any user memory the request (arg and the cmd it points at)
/// describes; the caller guarantees that all such memory is arena memory that no Rust
/// reference points into, or is not writable at all.
pub unsafe fn ioctl(fd: RawFd, code: u32, arg: usize) -> Result<(), i32> {
    loop {
        // SAFETY: forwarded from this function's contract.
        let r = unsafe { libc::ioctl(fd, code as libc::c_ulong, arg as *mut libc::c_void) };
        if r >= 0 {
            return Ok(());
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

/// Copy `dst.len()` bytes from user address `src` (volatile, the device may have changed it).
///
/// # Safety
/// `[src, src+dst.len())` must be mapped and readable.
pub unsafe fn read_mem(src: usize, dst: &mut [u8]) {
    let p = src as *const u64;
    let words = dst.len() / 8;
    for (i, chunk) in dst.chunks_exact_mut(8).enumerate().take(words) {
        // SAFETY: in bounds of the readable range the caller guarantees; 8-byte aligned
        // because arena pages are page aligned and the length is a multiple of 8.
        let v = unsafe { std::ptr::read_volatile(p.add(i)) };
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
}

/// Copy `src` to user address `dst` (volatile).
///
/// # Safety
/// `[dst, dst+src.len())` must be mapped and writable and no Rust reference points into it.
pub unsafe fn write_mem(dst: usize, src: &[u8]) {
    let p = dst as *mut u64;
    for (i, chunk) in src.chunks_exact(8).enumerate() {
        let v = u64::from_ne_bytes(chunk.try_into().unwrap_or([0; 8]));
        // SAFETY: in bounds of the writable range the caller guarantees, 8-byte aligned.
        unsafe { std::ptr::write_volatile(p.add(i), v) };
    }
}

/// The errno's symbolic name ("EINVAL"), or its number.
pub fn errno_name(e: i32) -> String {
    if e == 0 {
        return "ok".into();
    }
    hmm_dmirror::errno_name(hmm_dmirror::Errno::from_raw_os_error(e))
        .map(str::to_string)
        .unwrap_or_else(|| format!("errno{e}"))
}

/// The errnos a request may return: anything else is a failure of the battery.
pub const DECLARED: &[i32] = &[
    libc::EINVAL,
    libc::EFAULT,
    libc::ENOMEM,
    libc::EBUSY,
    libc::EPERM,
    libc::ENOTTY,
    libc::ENOENT,
    libc::EACCES,
    libc::E2BIG,
    libc::EAGAIN,
    libc::EOVERFLOW,
    libc::ERANGE,
    libc::ENODEV,
    libc::EOPNOTSUPP,
];

/// Whether `e` is a declared errno.
pub fn declared(e: i32) -> bool {
    DECLARED.contains(&e)
}

/// Copy `dst.len()` bytes (any length) from user address `src` (volatile).
///
/// # Safety
/// `[src, src+dst.len())` must be mapped and readable.
pub unsafe fn read_mem_bytes(src: usize, dst: &mut [u8]) {
    for (i, b) in dst.iter_mut().enumerate() {
        // SAFETY: in bounds of the readable range the caller guarantees.
        *b = unsafe { std::ptr::read_volatile((src + i) as *const u8) };
    }
}
