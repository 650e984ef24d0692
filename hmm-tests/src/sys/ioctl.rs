//! `_IOWR()` (asm-generic/ioctl.h) for the ioctls the tests define locally (gup_test,
//! userfaultfd), on hmm-sys's `_IOC` encoding.

use hmm_sys::{ioc, IOC_READ, IOC_WRITE};

/// `_IOWR(type, nr, size)`.
pub const fn iowr(ty: u8, nr: u8, size: usize) -> u32 {
    ioc(IOC_READ | IOC_WRITE, ty as u32, nr as u32, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_hmm_sys_encoding() {
        assert_eq!(iowr(b'H', 0, 40), hmm_sys::mainline::HMM_DMIRROR_READ);
    }
}
