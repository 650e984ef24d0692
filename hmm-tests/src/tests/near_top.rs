//! hmm-rs regression cases, not in upstream hmm-tests.c: requests whose range does not wrap
//! around 2^64 but does not lie in user space either (it ends past the process's
//! `TASK_SIZE`). Every one must fail with an errno.
//!
//! | test | requests | what broke |
//! |---|---|---|
//! | near_top_requests | READ, READ_UNLOCKED, WRITE, MIGRATE_TO_DEV, MIGRATE_TO_SYS, EXCLUSIVE, MIGRATE_ON_FAULT_TO_DEV (patched ABI) | the module's entry check let a near-top range through (it does not wrap) and its window loops overflowed `addr + window`: a Rust panic, i.e. a kernel Oops, from one READ at `0xffff_ffff_ffff_e000` |
//! | near_top_snapshot | SNAPSHOT | the same unchecked sum in the snapshot window loop |
//! | near_top_check_exclusive | CHECK_EXCLUSIVE | a range outside user space answered like one with nothing exclusive in it |
//!
//! The ranges: the last page whose end does not wrap (`2^64 - 2 pages`, 1 page), the 16
//! pages below it, the first page of the kernel half (`0xffff_8000_0000_0000`), the first
//! page past user space (the canonical boundary `0x0000_8000_0000_0000` with 4-level paging,
//! 2^56 with 5-level paging, which the lab's guest has), and 4 pages straddling the end of
//! user space. With 5-level paging 2^47 is user space without a vma: the requests that need
//! a vma get it too (they fail there as well); SNAPSHOT and CHECK_EXCLUSIVE legitimately
//! succeed on it, so they do not.
//!
//! The requests go through `unsafe` [`hmm_dmirror::Device::raw_cmd`] on purpose: the safe
//! API only names ranges of memory this process owns (a `Mapping`'s pages, or a
//! `PageRange::from_slice` of a live slice), so it cannot express a range outside user
//! space, which is exactly what the driver's range check must be shown to refuse.

use hmm_dmirror::{Mirror, Request};

use super::prelude::*;

/// Pages of the largest range below.
const MAX_PAGES: u64 = 16;

/// The end of this process's user address space as the kernel bounds it (`TASK_SIZE` of a
/// 64-bit x86-64 process): `2^56 - PAGE_SIZE` if an address above 2^47 can be mapped
/// (5-level paging), else `2^47 - PAGE_SIZE`.
fn task_size(page_size: u64) -> u64 {
    let probe = 1usize << 50;
    // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping: the call either maps
    // a fresh page at `probe` (unmapped right below) or fails.
    let p = unsafe {
        libc::mmap(
            probe as *mut libc::c_void,
            page_size as usize,
            PROT_READ,
            MAP_PRIVATE | MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    let five_level = p as usize == probe;
    if p != libc::MAP_FAILED {
        // SAFETY: unmaps the page mapped just above, which nothing else uses.
        unsafe { libc::munmap(p, page_size as usize) };
    }
    let bits = if five_level { 56 } else { 47 };
    (1u64 << bits) - page_size
}

/// The ranges `(addr, npages, what)`: none wraps, none lies in user space; with
/// `unmapped_user`, also the canonical boundary of 4-level paging when it lies in user space
/// (5-level paging), where no vma is either.
fn ranges(page_size: u64, unmapped_user: bool) -> Vec<(u64, u64, &'static str)> {
    let last = 0u64.wrapping_sub(2 * page_size);
    let user_end = task_size(page_size);
    let mut v = vec![
        (last, 1, "last page whose end does not wrap"),
        (
            last - (MAX_PAGES - 1) * page_size,
            MAX_PAGES,
            "the 16 pages ending there",
        ),
        (0xffff_8000_0000_0000, 1, "first page of the kernel half"),
        (
            user_end + page_size,
            1,
            "first page past user space (2^47 or 2^56)",
        ),
        (
            user_end - 2 * page_size,
            4,
            "4 pages straddling the end of user space",
        ),
    ];
    let boundary = 1u64 << 47;
    if unmapped_user && boundary < user_end {
        v.push((boundary, 1, "2^47, unmapped user space with 5-level paging"));
    }
    v
}

/// Sends `req` over every range (with `unmapped_user`, also over the unmapped user range
/// above) and asserts that each fails with an errno and leaves the request's buffer (`ptr`)
/// as it was.
fn expect_errno_everywhere(
    dev: &hmm_dmirror::Device,
    req: Request,
    page_size: usize,
    unmapped_user: bool,
) {
    let size = MAX_PAGES as usize * page_size;
    let mut mirror = Mirror::new(size);
    for (addr, npages, what) in ranges(page_size as u64, unmapped_user) {
        mirror.fill(0xA5);
        // SAFETY: the kernel writes at most `npages` (<= 16) pages, or `npages` bytes for
        // SNAPSHOT, to `ptr`, the 16-page mirror owned here and not borrowed meanwhile; WRITE
        // reads it. WRITE also stores into `[addr, addr + npages pages)`, which lies outside
        // this process's user address space: no mapping of ours is there to be changed.
        let res = unsafe { dev.raw_cmd(req, addr, mirror.as_mut_ptr() as u64, npages) };
        let ret = match &res {
            Ok(_) => 0,
            Err(e) => neg_errno(e),
        };
        if ret >= 0 || ret == LIBRARY_REFUSED {
            TH_LOG!("{req} addr={addr:#x} npages={npages} ({what}): returned {ret}, want an errno");
        }
        ASSERT_TRUE!(ret < 0 && ret != LIBRARY_REFUSED);
        let untouched = mirror.as_bytes().iter().all(|&b| b == 0xA5);
        if !untouched {
            TH_LOG!(
                "{req} addr={addr:#x} npages={npages} ({what}): failed with {ret} but wrote to ptr"
            );
        }
        ASSERT_TRUE!(untouched);
    }
}

impl Hmm {
    /// Every request that names a range, but SNAPSHOT and CHECK_EXCLUSIVE (their own cases),
    /// fails with an errno on ranges outside user space.
    pub(crate) fn near_top_requests(&mut self, _variant: &HmmVariant) {
        for req in [
            HMM_DMIRROR_READ,
            HMM_DMIRROR_READ_UNLOCKED,
            HMM_DMIRROR_WRITE,
            HMM_DMIRROR_MIGRATE_TO_DEV,
            HMM_DMIRROR_MIGRATE_TO_SYS,
            HMM_DMIRROR_EXCLUSIVE,
            HMM_DMIRROR_MIGRATE_ON_FAULT_TO_DEV,
        ] {
            if !self.fd.abi().supports(req) {
                // MIGRATE_ON_FAULT_TO_DEV: patched ABI only.
                continue;
            }
            // These fail on an unmapped user range too (no vma), so 2^47 is sent either way.
            expect_errno_everywhere(&self.fd, req, self.page_size, true);
        }
    }

    /// SNAPSHOT fails with an errno on ranges outside user space (the C driver answers the
    /// ranges its own window loop does not wrap with success, every byte
    /// `HMM_DMIRROR_PROT_ERROR`).
    pub(crate) fn near_top_snapshot(&mut self, _variant: &HmmVariant) {
        expect_errno_everywhere(&self.fd, HMM_DMIRROR_SNAPSHOT, self.page_size, false);
    }

    /// CHECK_EXCLUSIVE fails with an errno on ranges outside user space (the C driver
    /// answers 0: nothing there is exclusive).
    pub(crate) fn near_top_check_exclusive(&mut self, _variant: &HmmVariant) {
        expect_errno_everywhere(&self.fd, HMM_DMIRROR_CHECK_EXCLUSIVE, self.page_size, false);
    }
}
