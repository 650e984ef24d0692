//! The `gup_test` debugfs interface (mm/gup_test.h), defined locally as the C test does
//! with `#include <mm/gup_test.h>`.

use std::os::fd::RawFd;

use hmm_sys::iowr;

/// `/sys/kernel/debug/gup_test` (CONFIG_GUP_TEST).
pub const GUP_TEST_PATH: &str = "/sys/kernel/debug/gup_test";

/// `GUP_TEST_MAX_PAGES_TO_DUMP`.
pub const GUP_TEST_MAX_PAGES_TO_DUMP: usize = 8;

/// `struct gup_test`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GupTest {
    /// Out: time spent getting the pages.
    pub get_delta_usec: u64,
    /// Out: time spent putting the pages.
    pub put_delta_usec: u64,
    /// In: start address.
    pub addr: u64,
    /// In: bytes.
    pub size: u64,
    /// In: pages per get/pin call.
    pub nr_pages_per_call: u32,
    /// In: FOLL_* flags.
    pub gup_flags: u32,
    /// In: GUP_TEST_FLAG_*.
    pub test_flags: u32,
    /// In: 1-based page numbers to dump.
    pub which_pages: [u32; GUP_TEST_MAX_PAGES_TO_DUMP],
}

const _: () = assert!(std::mem::size_of::<GupTest>() == 80);

const SZ: usize = std::mem::size_of::<GupTest>();
/// `GUP_FAST_BENCHMARK`.
pub const GUP_FAST_BENCHMARK: u32 = iowr(b'g', 1, SZ);
/// `PIN_FAST_BENCHMARK`.
pub const PIN_FAST_BENCHMARK: u32 = iowr(b'g', 2, SZ);
/// `PIN_LONGTERM_BENCHMARK`.
pub const PIN_LONGTERM_BENCHMARK: u32 = iowr(b'g', 3, SZ);
/// `GUP_BASIC_TEST`.
pub const GUP_BASIC_TEST: u32 = iowr(b'g', 4, SZ);

/// `FOLL_WRITE` (mm.h): check pte is writable.
pub const FOLL_WRITE: u32 = 0x01;
/// `FOLL_LONGTERM` (mm.h): mapping lifetime is indefinite.
pub const FOLL_LONGTERM: u32 = 0x100;

/// `gup_test_exec()`: one gup_test ioctl on `npages` pages per call at `addr`, `size` bytes,
/// with `FOLL_WRITE | flags`; 0 or the errno.
///
/// # Safety
///
/// `gup_fd` is open on [`GUP_TEST_PATH`]: on another file `cmd` may be a request that writes
/// memory. (The gup_test requests only get or pin the pages at `addr` and put them back.)
pub unsafe fn gup_test_exec(
    gup_fd: RawFd,
    addr: usize,
    cmd: u32,
    npages: u32,
    size: usize,
    flags: u32,
) -> i32 {
    let mut gup = GupTest {
        nr_pages_per_call: npages,
        addr: addr as u64,
        gup_flags: FOLL_WRITE | flags,
        size: size as u64,
        ..GupTest::default()
    };
    // SAFETY: `gup_fd` is the gup_test driver (our caller's contract), whose ioctls read and
    // write the local `struct gup_test` and only get/pin and put the pages at `addr`.
    let ret = unsafe { libc::ioctl(gup_fd, cmd as libc::Ioctl, std::ptr::from_mut(&mut gup)) };
    if ret != 0 {
        super::perror("ioctl on error\n");
        return super::errno();
    }
    0
}
