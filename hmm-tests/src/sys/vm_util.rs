//! What hmm-tests.c uses from vm_util.c/vm_util.h: `read_pmd_pagesize()`,
//! `pagemap_get_entry()`, `PM_SWAP`, `PAGEMAP_PRESENT()`, plus `ALIGN()`.

use std::os::fd::RawFd;

/// `/sys/kernel/mm/transparent_hugepage/hpage_pmd_size`.
pub const PMD_SIZE_FILE_PATH: &str = "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size";

/// Pagemap entry bit 62: the page is swapped (or a non-present swap-like entry, e.g. a
/// device-private entry).
pub const PM_SWAP: u64 = 1 << 62;

/// `PAGEMAP_PRESENT(ent)`: pagemap entry bit 63.
pub const fn pagemap_present(entry: u64) -> bool {
    entry & (1 << 63) != 0
}

/// `ALIGN(x, a)`: round `x` up to a multiple of the power of two `a`.
pub const fn align(x: usize, a: usize) -> usize {
    (x + (a - 1)) & !(a - 1)
}

/// `(void *)ALIGN((uintptr_t)p, a)`: [`align`] for an address.
pub fn align_ptr(p: *mut u8, a: usize) -> *mut u8 {
    align(p as usize, a) as *mut u8
}

/// `read_pmd_pagesize()`: the THP (PMD) size from sysfs, 0 when it cannot be read
/// (the C tests then fall back to `TWOMEG` or fail exactly as C does).
pub fn read_pmd_pagesize() -> usize {
    match std::fs::read(PMD_SIZE_FILE_PATH) {
        Ok(buf) if !buf.is_empty() => strtoul(&buf[..buf.len().min(19)]),
        _ => 0,
    }
}

/// `strtoul(buf, NULL, 10)` on the leading digits (after leading whitespace).
fn strtoul(buf: &[u8]) -> usize {
    buf.iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take_while(|b| b.is_ascii_digit())
        .fold(0usize, |acc, b| {
            acc.saturating_mul(10).saturating_add(usize::from(b - b'0'))
        })
}

/// `pagemap_get_entry(fd, start)`: the `/proc/self/pagemap` entry of the page at `addr`;
/// `None` when the read fails (C then bails out of the whole run; the port fails the case).
pub fn pagemap_get_entry(fd: RawFd, addr: usize) -> Option<u64> {
    let page = hmm_dmirror::page_size();
    let pfn = addr / page;
    let mut entry = 0u64;
    let off = libc::off_t::try_from(pfn * 8).ok()?;
    // SAFETY: reads 8 bytes into a local u64.
    let ret = unsafe { libc::pread(fd, std::ptr::from_mut(&mut entry).cast(), 8, off) };
    (ret == 8).then_some(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtoul_like_c() {
        assert_eq!(strtoul(b"2097152\n"), 2_097_152);
        assert_eq!(strtoul(b"abc"), 0);
    }

    #[test]
    fn align_like_c() {
        assert_eq!(align(4097, 4096), 8192);
        assert_eq!(align(4096, 4096), 4096);
        assert_eq!(align(0, 4096), 0);
    }
}
